"""Admin console (issue #4): access, SHOW commands, statistics, control commands, RELOAD,
signals.

Every test starts its own pooler (admin_helpers.admin_pooler: auth_type=md5,
admin_users=fjadmin, stats_users=fjstats, databases app and app2 for md5user, transaction
mode unless stated).  Console connections use psycopg's ClientCursor without parameters, so
every command travels as a simple Query message.

Column names and order are compared with COMPAT.md (PgBouncer 1.25); where PgBouncer 1.18 (the
reference binary) has other columns the name test is pgfjord_only.  Type OIDs are compared with
what PgBouncer 1.18 sends (admin_helpers.REF118) for every column both have.
"""

import re
import signal
import struct
import time

import psycopg
import pytest

import harness as h
from harness import MD5_PASS, MD5_USER, SCRAM_PASS, SCRAM_USER
from admin_helpers import (ADMIN, ADMIN_PASS, CLIENT_STATES, COLUMNS, CONFIG_KEYS,
                           CONFIG_KEYS_NOT_IN_118, CONTROL_COMMANDS, DIFFERS_IN_118,
                           HELP_WORDS_118, LISTS_ROWS, NOT_RELOADABLE, REF118, SERVER_STATES,
                           STATE_ROWS, STATS, STATS_PASS, TEXT, Background, admin_pooler,
                           client, console, console_as_service_user, console_error,
                           edit_config, err_text, local_port, pid_of, ref118_oids, run, show,
                           wait_for, wait_show, wire_command, wire_console)

# a console command that gets no answer must not cost the default 120 s
pytestmark = pytest.mark.timeout(45)

PERMISSION_WORDS = ("admin access needed", "not allowed", "permission denied")
BLOCK = 1.0  # how long something that must block is watched (s)


def assert_permission_error(text):
    assert any(w in text.lower() for w in PERMISSION_WORDS), text


def assert_blocked(bg, what):
    assert not bg.done(BLOCK), f"{what} did not block: result={bg.result!r} error={bg.error!r}"


def app_query(p, dbname="app", sql="select current_database()", **kw):
    """Connect as md5user and run one query; returns the first value."""
    with client(p, dbname=dbname, **kw) as c:
        return c.execute(sql).fetchone()[0]


def wait_connectable(p, dbname, timeout=10):
    def ok():
        try:
            return app_query(p, dbname)
        except psycopg.OperationalError:
            return None
    return wait_for(ok, timeout, what=f"connection to {dbname}")


# ============================================================================ access

def test_console_login_and_show_version(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    r = p.run("--version")
    assert r.returncode == 0, r.stderr
    first_line = r.stdout.splitlines()[0].strip()
    with console(p) as a:
        res = show(a, "VERSION")
        assert res.names == ["version"]
        assert len(res.rows) == 1, res.rows
        assert res.rows[0][0] == first_line
        assert res.status == "SHOW"


@pytest.mark.pgfjord_only("PgBouncer has no `pgfjord` alias of the console database")
def test_console_reachable_as_pgfjord(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with console(p, dbname="pgfjord") as a:
        assert show(a, "VERSION").names == ["version"]
        assert "pgbouncer" in [r["database"] for r in show(a, "POOLS").dicts]


def test_console_wrong_password_refused(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with pytest.raises(psycopg.OperationalError) as ei:
        console(p, password="not-the-password")
    assert "password authentication failed" in str(ei.value), ei.value
    with pytest.raises(psycopg.OperationalError):
        console(p, user=STATS, password="not-the-password")
    with console(p) as a:  # the right password still works
        show(a, "VERSION")


def test_console_user_neither_admin_nor_stats_gets_error(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    # md5user has a valid password but is in neither admin_users nor stats_users
    with p.wire() as w:
        status, fields = w.try_login(MD5_USER, "pgbouncer", MD5_PASS)
    assert status == "error", (status, fields)  # an ErrorResponse, not a bare disconnect
    assert_permission_error(fields.get("M", ""))
    assert app_query(p) == "app"  # the same user is fine on a normal database


def test_console_over_unix_socket_with_password(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with console(p, unix=True) as a:
        assert show(a, "VERSION").names == ["version"]


def test_console_peer_login_as_pgbouncer_over_unix_socket(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    # "pgbouncer" is in no list and has no password; the OS user that runs the pooler may use it
    out = console_as_service_user(p, "SHOW VERSION")
    assert "error" not in out, out
    assert len(out["rows"]) == 1 and out["rows"][0][0], out
    out = console_as_service_user(p, "SHOW POOLS")
    assert "error" not in out, out
    out = console_as_service_user(p, "RELOAD")  # with admin rights
    assert "error" not in out and out["status"] == "RELOAD", out
    if h.IS_ROOT:
        # this test process (root) is another OS user: no password-less login for it
        with h.unix_wire(p.unix_socket) as w:
            status, fields = w.try_login("pgbouncer", "pgbouncer", "")
        assert status != "ok", fields
    with p.wire() as w:  # nor over TCP
        status, fields = w.try_login("pgbouncer", "pgbouncer", "")
    assert status != "ok", fields


def test_stats_user_may_show_but_not_control(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    commands = ["RELOAD", "PAUSE", "PAUSE app", "RESUME", "DISABLE app", "ENABLE app",
                "RECONNECT app", "KILL app", "SET default_pool_size = 5", "SHUTDOWN",
                "WAIT_CLOSE app"]
    if not h.REFERENCE:
        commands.append("KILL_CLIENT 1")
    with client(p) as c, console(p, user=STATS, password=STATS_PASS) as s:
        c.execute("select 1")
        for what in ("VERSION", "POOLS", "STATS", "CLIENTS", "SERVERS", "DATABASES", "CONFIG"):
            assert show(s, what).names, what
        for sql in commands:
            e = console_error(s, sql)
            assert_permission_error(err_text(e))
            # a permission error, not a disconnect: the console session goes on
            assert show(s, "VERSION").names == ["version"], sql
        assert p.alive()
        assert c.execute("select 2").fetchone()[0] == 2
    with console(p) as a:
        assert show(a, "CONFIG").kv()["default_pool_size"] == "20"
        assert all(r["paused"] == 0 and r["disabled"] == 0 for r in show(a, "DATABASES").dicts)


# ============================================================================ SHOW commands

def help_text(conn):
    notices = []
    conn.add_notice_handler(lambda d: notices.append(
        " ".join(x for x in (d.message_primary, d.message_detail, d.message_hint) if x)))
    cur = conn.execute("SHOW HELP")
    rows = cur.fetchall() if cur.description else []
    return "\n".join(notices + [" ".join(str(v) for v in r) for r in rows])


def test_show_help_lists_commands(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with console(p) as a:
        text = help_text(a)
    words = set(re.findall(r"[A-Z][A-Z_]+", text))
    if h.REFERENCE:
        expected = HELP_WORDS_118
    else:
        # every SHOW command and control command of COMPAT.md; SUSPEND and SHOW FDS may be
        # dropped (PgBouncer 1.26 dropped them)
        expected = (set(COLUMNS) - {"FDS"}) | {"HELP"} | (set(CONTROL_COMMANDS) - {"SUSPEND"})
    assert expected <= words, (sorted(expected - words), text)


def _show_param(cmd):
    if cmd in DIFFERS_IN_118:
        return pytest.param(cmd, marks=pytest.mark.pgfjord_only(DIFFERS_IN_118[cmd]))
    return cmd


def _busy_pooler(pg, pgfjord):
    """A pooler with one client in a session (so a server is linked) and a console."""
    p = admin_pooler(pg, pgfjord, {"pool_mode": "session"})
    c = client(p, application_name="fjbusy")
    c.execute("select 1")
    return p, c


# SHOW FDS: see test_show_fds_kept_or_refused_clearly
@pytest.mark.parametrize("cmd", [_show_param(c) for c in COLUMNS if c != "FDS"])
def test_show_columns_match_compat(pg, pgfjord, cmd):
    p, c = _busy_pooler(pg, pgfjord)
    with c, console(p) as a:
        res = show(a, cmd)
    assert res.names == COLUMNS[cmd]


@pytest.mark.parametrize("cmd", sorted(c for c in REF118 if c != "FDS"))
def test_show_column_types_match_pgbouncer(pg, pgfjord, cmd):
    p, c = _busy_pooler(pg, pgfjord)
    with c, console(p) as a:
        res = show(a, cmd)
    if h.REFERENCE:  # keeps the recorded table honest
        assert list(zip(res.names, res.oids)) == REF118[cmd]
    ref = ref118_oids(cmd)
    got = dict(zip(res.names, res.oids))
    wrong = {n: (got[n], ref[n]) for n in got if n in ref and got[n] != ref[n]}
    assert not wrong, f"SHOW {cmd}: column: (sent OID, PgBouncer's OID): {wrong}"
    assert set(ref) & set(got), (res.names, ref)


def test_show_fds_kept_or_refused_clearly(pg, pgfjord):
    # COMPAT.md: PgBouncer 1.26 drops SHOW FDS; pgfjord may keep or drop it, and says which
    p, c = _busy_pooler(pg, pgfjord)
    with c, console(p) as a:
        try:
            res = show(a, "FDS")
        except psycopg.Error as e:
            assert not h.REFERENCE, e
            assert "not supported" in err_text(e).lower(), err_text(e)
            assert show(a, "VERSION").names == ["version"]  # the session goes on
            return
    assert res.names == COLUMNS["FDS"]
    ref = ref118_oids("FDS")
    assert dict(zip(res.names, res.oids)) == ref


def test_show_stats_counts_transactions(pg, pgfjord):
    n = 7
    p = admin_pooler(pg, pgfjord, {"stats_period": 60})
    with client(p) as c:
        for i in range(n):
            c.execute("select %s::int", (i,))  # autocommit, transaction mode: n transactions
    with console(p) as a:
        res = wait_show(a, "STATS", lambda r: any(d["database"] == "app" and
                                                  d["total_xact_count"] == n for d in r.dicts),
                        timeout=3)
        row = res.one(database="app")
        assert row["total_xact_count"] == n, row
        assert row["total_query_count"] == n, row
        assert row["total_received"] > 0 and row["total_sent"] > 0, row
        assert row["total_xact_time"] > 0 and row["total_query_time"] > 0, row
        assert row["total_wait_time"] >= 0, row
        if not h.REFERENCE:
            assert 1 <= row["total_server_assignment_count"] <= n, row
        # app2 had no traffic: no row (no pool yet) or a row of zeros
        assert all(d["total_xact_count"] == 0 for d in res.where(database="app2"))
        totals = show(a, "STATS_TOTALS").one(database="app")
        assert totals["xact_count"] == n and totals["query_count"] == n, totals
        assert totals["bytes_received"] == row["total_received"], (totals, row)
        assert totals["bytes_sent"] == row["total_sent"], (totals, row)


def test_stats_times_are_microseconds(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with client(p) as c:
        c.execute("select pg_sleep(0.3)")
    with console(p) as a:
        res = wait_show(a, "STATS", lambda r: any(d["database"] == "app" and
                                                  d["total_xact_count"] == 1 for d in r.dicts),
                        timeout=3)
    row = res.one(database="app")
    assert 300_000 <= row["total_xact_time"] < 10_000_000, row
    assert 300_000 <= row["total_query_time"] <= row["total_xact_time"], row


def test_show_totals_sums_all_databases(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    for db in ("app", "app2"):
        with client(p, dbname=db) as c:
            for _ in range(3):
                c.execute("select 1")
    with console(p) as a:
        res = wait_show(a, "TOTALS", lambda r: r.kv().get("total_xact_count", 0) >= 6,
                        timeout=3)
    kv = res.kv()
    assert res.names == ["name", "value"]
    assert all(k.startswith(("total_", "avg_")) for k in kv), kv
    for k in ("total_xact_count", "total_query_count", "total_xact_time", "avg_xact_count",
              "avg_query_count"):
        assert k in kv, kv
    assert kv["total_query_count"] >= 6, kv


def test_admin_logins_and_commands_count_in_stats(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    logins, per_login = 3, 2
    for _ in range(logins):
        with console(p) as a:
            for _ in range(per_login):
                show(a, "VERSION")
    with console(p) as a:
        # PgBouncer 1.18 counts each console login as one transaction and one query, and the
        # commands not at all; COMPAT.md: admin logins and admin commands count in the totals
        def counted(r):
            rows = r.where(database="pgbouncer")
            if not rows or rows[0]["total_xact_count"] < logins:
                return False
            return h.REFERENCE or rows[0]["total_query_count"] >= logins * per_login
        wait_show(a, "STATS", counted, timeout=3, label="the console's logins and commands")
        assert show(a, "TOTALS").kv()["total_xact_count"] >= logins


def test_stats_averages_follow_stats_period(pg, pgfjord):
    n = 20
    p = admin_pooler(pg, pgfjord, {"stats_period": 1})
    with console(p) as a:
        with client(p) as c:
            for _ in range(n):
                c.execute("select 1")
        res = wait_show(a, "STATS_AVERAGES",
                        lambda r: r.one(database="app")["xact_count"] > 0, timeout=4)
        avg = res.one(database="app")
        assert 0 < avg["xact_count"] <= n, avg
        assert avg["bytes_received"] > 0 and avg["bytes_sent"] > 0, avg
        stats = show(a, "STATS").one(database="app")
        assert stats["total_xact_count"] == n
        # no traffic since: the next periods average to 0
        wait_show(a, "STATS_AVERAGES",
                  lambda r: r.one(database="app")["xact_count"] == 0 and
                  r.one(database="app")["query_count"] == 0, timeout=5)
        wait_show(a, "STATS", lambda r: r.one(database="app")["avg_xact_count"] == 0,
                  timeout=3)


STATS_LINE = re.compile(r"stats: (\d+) xacts/s, (\d+) queries/s")


def test_log_stats_writes_a_line_each_period(pg, pgfjord):
    p = admin_pooler(pg, pgfjord, {"stats_period": 1, "log_stats": 1})
    with client(p) as c:
        for _ in range(10):
            c.execute("select 1")

    def busy_lines():
        return [m for m in STATS_LINE.findall(p.log()) if int(m[0]) > 0 and int(m[1]) > 0]

    wait_for(busy_lines, timeout=5, what="a stats line showing the traffic")
    seen = len(STATS_LINE.findall(p.log()))
    wait_for(lambda: len(STATS_LINE.findall(p.log())) > seen, timeout=4,
             what="the next period's stats line")


def test_log_stats_off_writes_no_stats_line(pg, pgfjord):
    p = admin_pooler(pg, pgfjord, {"stats_period": 1, "log_stats": 0})
    with client(p) as c:
        for _ in range(10):
            c.execute("select 1")
    time.sleep(2.5)
    assert not STATS_LINE.search(p.log()), p.log()


def test_show_pools_shows_waiting_client(pg, pgfjord):
    p = admin_pooler(pg, pgfjord, {"default_pool_size": 1})
    a_conn = client(p, autocommit=False, application_name="fjholder")
    a_conn.execute("select 1")  # transaction open: holds the only server
    b = Background(lambda: app_query(p, sql="select 42", application_name="fjwaiter"))
    try:
        with console(p) as a:
            wait_show(a, "POOLS", lambda r: any(
                d["database"] == "app" and d["cl_waiting"] == 1 for d in r.dicts),
                timeout=5, label="a waiting client in SHOW POOLS")
            time.sleep(0.3)
            row = show(a, "POOLS").one(database="app", user=MD5_USER)
            assert row["cl_active"] == 1 and row["cl_waiting"] == 1, row
            assert row["sv_active"] == 1 and row["sv_idle"] == 0, row
            assert row["maxwait"] * 1_000_000 + row["maxwait_us"] > 0, row
            assert row["pool_mode"] == "transaction", row
            clients = show(a, "CLIENTS")
            assert clients.one(application_name="fjwaiter")["state"] == "waiting"
            assert clients.one(application_name="fjholder")["state"] == "active"
            assert not b.done()
            a_conn.commit()
            assert b.get(10) == 42
            wait_show(a, "POOLS", lambda r: r.one(database="app")["cl_waiting"] == 0,
                      timeout=5)
    finally:
        a_conn.close()


def test_show_clients_lists_application_name(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with console(p) as a, client(p, application_name="fj_app_42") as c:
        c.execute("select 1")
        res = show(a, "CLIENTS")
        row = res.one(application_name="fj_app_42")
        assert row["type"] == "C"
        assert row["user"] == MD5_USER and row["database"] == "app", row
        assert row["addr"] == "127.0.0.1" and row["port"] == local_port(c), row
        assert row["local_port"] == p.port, row
        assert row["state"] in CLIENT_STATES, row
        assert row["tls"] in ("", None), row
        assert row["ptr"], row
        # the console session is a client too
        me = res.one(database="pgbouncer", port=local_port(a))
        assert me["user"] == ADMIN, me
        if not h.REFERENCE:
            assert row["id"] != me["id"] and row["id"] > 0, (row, me)


def test_show_servers_shows_backend_pid(pg, pgfjord):
    p = admin_pooler(pg, pgfjord, {"pool_mode": "session"})
    with console(p) as a, client(p, application_name="fj_srv") as c:
        pid = pid_of(c)
        servers = show(a, "SERVERS")
        srv = servers.one(remote_pid=pid)
        assert srv["type"] == "S"
        assert srv["user"] == MD5_USER and srv["database"] == "app", srv
        assert srv["addr"] == "127.0.0.1" and srv["port"] == pg.port, srv
        assert srv["state"] == "active" and srv["state"] in SERVER_STATES, srv
        cl = show(a, "CLIENTS").one(application_name="fj_srv")
        # a linked pair points at each other
        assert srv["link"] == cl["ptr"] and cl["link"] == srv["ptr"], (srv, cl)
        assert pid in [r[0] for r in pg.execute(
            "select pid from pg_stat_activity where datname = 'app'")]


@pytest.mark.pgfjord_only("PgBouncer 1.18 has no id column in SHOW CLIENTS/SERVERS")
def test_client_and_its_server_get_consecutive_ids(pg, pgfjord):
    p = admin_pooler(pg, pgfjord, {"pool_mode": "session"})
    with console(p) as a:
        with client(p, application_name="fj_ids") as c:
            pid = pid_of(c)
            cl = show(a, "CLIENTS").one(application_name="fj_ids")
            srv = show(a, "SERVERS").one(remote_pid=pid)
            assert srv["id"] == cl["id"] + 1, (cl, srv)


def test_show_databases_values(pg, pgfjord):
    dbs = {"app": pg.connstr("app", pool_size=3), "app2": pg.connstr("app2")}
    p = admin_pooler(pg, pgfjord, {"default_pool_size": 11}, databases=dbs)
    with console(p) as a:
        res = show(a, "DATABASES")
    app = res.one(name="app")
    assert app["host"] == "127.0.0.1" and app["port"] == pg.port, app
    assert app["database"] == "app" and app["force_user"] is None, app
    assert app["pool_size"] == 3 and app["paused"] == 0 and app["disabled"] == 0, app
    assert res.one(name="app2")["pool_size"] == 11
    # the virtual console database has a row of its own
    adm = res.one(name="pgbouncer")
    assert adm["database"] == "pgbouncer" and adm["port"] == p.port, adm
    if not h.REFERENCE:
        assert app["reserve_pool_size"] == 0, app


def test_show_pools_and_databases_include_console_row(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with console(p) as a:
        pools = show(a, "POOLS")
        assert pools.where(database="pgbouncer"), pools.dicts
        assert show(a, "DATABASES").where(name="pgbouncer")


def test_show_users_lists_auth_file_users(pg, pgfjord):
    # PgBouncer lists every user it knows (auth_file, [users]), logged in or not
    p = admin_pooler(pg, pgfjord, users={MD5_USER: "pool_mode=session"})
    with console(p) as a:
        names = [r["name"] for r in show(a, "USERS").dicts]
    assert {ADMIN, STATS, MD5_USER} <= set(names), names
    assert len(names) == len(set(names)), names


@pytest.mark.pgfjord_only("PgBouncer 1.18's SHOW USERS has only name and pool_mode")
def test_show_users_pool_size_is_text(pg, pgfjord):
    p = admin_pooler(pg, pgfjord, users={MD5_USER: "pool_size=4 pool_mode=session"})
    with client(p) as c, console(p) as a:
        c.execute("select 1")
        res = show(a, "USERS")
    assert res.oids[res.names.index("pool_size")] == TEXT
    assert res.oids[res.names.index("reserve_pool_size")] == TEXT
    u = res.one(name=MD5_USER)
    assert u["pool_size"] == "4" and u["reserve_pool_size"] == "", u
    assert u["pool_mode"] == "session", u
    admin = res.one(name=ADMIN)
    assert admin["pool_size"] == "" and admin["reserve_pool_size"] == "", admin


def test_show_config_lists_every_key(pg, pgfjord):
    p = admin_pooler(pg, pgfjord, {"default_pool_size": 13})
    with console(p) as a:
        res = show(a, "CONFIG")
    assert res.names == ["key", "value", "default", "changeable"]
    keys = [r["key"] for r in res.dicts]
    assert len(keys) == len(set(keys)), "duplicate keys"
    expected = set(CONFIG_KEYS) - (CONFIG_KEYS_NOT_IN_118 if h.REFERENCE else set())
    assert expected <= set(keys), sorted(expected - set(keys))
    rows = {r["key"]: r for r in res.dicts}
    assert all(r["changeable"] in ("yes", "no") for r in res.dicts)
    assert rows["default_pool_size"]["value"] == "13"
    assert rows["default_pool_size"]["default"] == "20"
    assert rows["default_pool_size"]["changeable"] == "yes"
    assert rows["listen_port"]["value"] == str(p.port)
    assert rows["listen_port"]["default"] == "6432"
    assert rows["pool_mode"]["value"] == "transaction"
    assert rows["pool_mode"]["default"] == "session"
    assert rows["admin_users"]["value"] == ADMIN
    for k in ("max_client_conn", "stats_period", "admin_users", "auth_file", "pool_mode"):
        assert rows[k]["changeable"] == "yes", rows[k]
    for k in NOT_RELOADABLE:
        if k in rows:
            assert rows[k]["changeable"] == "no", rows[k]


@pytest.mark.pgfjord_only("PgBouncer 1.18 has no SHOW STATE")
def test_show_state_follows_pause_and_resume(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with console(p) as a:
        st = show(a, "STATE")
        assert [r[0] for r in st.rows] == STATE_ROWS
        assert st.kv() == {"active": "yes", "paused": "no", "suspended": "no"}
        assert run(a, "PAUSE") == "PAUSE"
        assert show(a, "STATE").kv()["paused"] == "yes"
        assert run(a, "RESUME") == "RESUME"
        assert show(a, "STATE").kv() == {"active": "yes", "paused": "no", "suspended": "no"}


def test_show_lists_rows(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with client(p) as c, console(p) as a:
        c.execute("select 1")
        res = show(a, "LISTS")
    names = [r[0] for r in res.rows]
    expected = [n for n in LISTS_ROWS if not (h.REFERENCE and n in ("peers", "peer_pools"))]
    assert names == expected
    kv = res.kv()
    assert kv["databases"] == 3, kv  # app, app2 and the console database
    assert kv["pools"] >= 2 and kv["used_clients"] >= 2 and kv["used_servers"] >= 1, kv
    assert all(isinstance(v, int) and v >= 0 for v in kv.values()), kv


# ============================================================================ errors, protocol

def test_unknown_command_names_show_help(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with console(p) as a:
        for sql in ("FOO BAR", "SHOW NONSENSE", "select 1"):
            e = console_error(a, sql)
            assert "SHOW HELP" in err_text(e), (sql, err_text(e))
        assert show(a, "VERSION").names == ["version"]


def test_commands_case_insensitive_with_semicolon(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with console(p) as a:
        assert show(a, "pools;").names[:2] == ["database", "user"]
        assert a.execute("show version;").fetchone()[0]
        assert run(a, "reload;") == "RELOAD"


def test_unknown_database_in_command(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with wire_console(p) as w:
        for cmd in ("PAUSE", "RESUME", "DISABLE", "ENABLE", "KILL", "RECONNECT", "WAIT_CLOSE"):
            err, msgs = wire_command(w, f"{cmd} fj_nosuchdb")  # error, then ReadyForQuery
            assert err is not None, (cmd, msgs)
            assert "no such database: fj_nosuchdb" in err.get("M", ""), (cmd, err)
        err, msgs = wire_command(w, "SHOW VERSION")
        assert err is None and [t for t, _ in msgs] == [b"T", b"D", b"C", b"Z"], msgs


def _extended_show_version():
    parse = b"\0" + b"SHOW VERSION\0" + struct.pack("!H", 0)
    bind = b"\0\0" + struct.pack("!HHH", 0, 0, 0)
    execute = b"\0" + struct.pack("!I", 0)
    return (h.msg(b"P", parse) + h.msg(b"B", bind) + h.msg(b"D", b"P\0") +
            h.msg(b"E", execute) + h.msg(b"S"))


def test_extended_protocol_gets_error(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with p.wire() as w:
        w.login(ADMIN, "pgbouncer", ADMIN_PASS)
        w.send(_extended_show_version())
        msgs = w.read_until((b"Z",))
    types = [t for t, _ in msgs]
    errors = [h.parse_fields(pl) for t, pl in msgs if t == b"E"]
    assert errors, msgs
    assert b"D" not in types, msgs  # no rows
    text = errors[0].get("M", "").lower()
    assert "extended" in text or "simple query" in text, errors
    assert p.alive()
    with console(p) as a:
        assert show(a, "VERSION").names == ["version"]


# ============================================================================ SET

def test_set_changes_value(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with console(p) as a:
        run(a, "SET default_pool_size = 3")
        run(a, "SET pool_mode = 'session'")
        cfg = show(a, "CONFIG").kv()
        assert cfg["default_pool_size"] == "3" and cfg["pool_mode"] == "session", cfg
        assert show(a, "DATABASES").one(name="app")["pool_size"] == 3


def test_set_bad_value_is_refused(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with console(p) as a:
        for sql in ("SET default_pool_size = 'lots'", "SET pool_mode = 'sometimes'",
                    "SET fj_no_such_key = 1"):
            e = console_error(a, sql)
            assert "SET failed" in err_text(e), (sql, err_text(e))
        cfg = show(a, "CONFIG").kv()
        assert cfg["default_pool_size"] == "20" and cfg["pool_mode"] == "transaction", cfg
    assert app_query(p) == "app"


@pytest.mark.pgfjord_only("PgBouncer 1.18 answers SET listen_port with success and ignores it")
def test_set_non_reloadable_key_is_refused(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with console(p) as a:
        e = console_error(a, "SET listen_port = 7")
        assert "listen_port" in err_text(e) or "SET failed" in err_text(e), err_text(e)
        assert show(a, "CONFIG").kv()["listen_port"] == str(p.port)
    assert app_query(p) == "app"


# ============================================================================ RELOAD

def test_reload_adds_database(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with pytest.raises(psycopg.OperationalError) as ei:
        app_query(p, "fjadded")
    assert "no such database" in str(ei.value)
    edit_config(p, databases={"fjadded": pg.connstr("app2")})
    with console(p) as a:
        assert run(a, "RELOAD") == "RELOAD"
        assert show(a, "DATABASES").where(name="fjadded")
    assert app_query(p, "fjadded") == "app2"


def test_reload_changes_pool_size(pg, pgfjord):
    p = admin_pooler(pg, pgfjord, databases={"app": pg.connstr("app", pool_size=1)})
    with console(p) as a:
        assert show(a, "DATABASES").one(name="app")["pool_size"] == 1
        edit_config(p, databases={"app": pg.connstr("app", pool_size=2)})
        run(a, "RELOAD")
        assert show(a, "DATABASES").one(name="app")["pool_size"] == 2
    # two transactions at once now fit
    with client(p, autocommit=False) as c1:
        c1.execute("select 1")
        bg = Background(lambda: app_query(p, sql="select 5"))
        assert bg.get(5) == 5
        c1.commit()


def test_reload_keeps_client_in_transaction(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with client(p, autocommit=False) as c:
        assert c.execute("select current_database()").fetchone()[0] == "app"
        pid = pid_of(c)
        # "app" now points at PostgreSQL's app2; app2 removed; fjnew added
        edit_config(p, databases={"app": pg.connstr("app2"), "app2": None,
                                  "fjnew": pg.connstr("app")})
        with console(p) as a:
            run(a, "RELOAD")
        # the transaction goes on, on its server
        assert c.execute("select current_database()").fetchone()[0] == "app"
        assert pid_of(c) == pid
        c.commit()
        # the next transaction uses the changed definition
        assert c.execute("select current_database()").fetchone()[0] == "app2"
        c.commit()
    assert app_query(p, "fjnew") == "app"
    with pytest.raises(psycopg.OperationalError) as ei:
        app_query(p, "app2")
    assert "no such database: app2" in str(ei.value)


def test_reload_rereads_auth_file(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with pytest.raises(psycopg.OperationalError):
        app_query(p, user=SCRAM_USER, password=SCRAM_PASS)
    edit_config(p, userlist={SCRAM_USER: SCRAM_PASS})
    with console(p) as a:
        run(a, "RELOAD")
    assert app_query(p, sql="select current_user", user=SCRAM_USER,
                     password=SCRAM_PASS) == SCRAM_USER


BROKEN_LINES = {"garbage": "this line is not valid", "bad_value": "max_client_conn = lots"}


@pytest.mark.parametrize("kind", sorted(BROKEN_LINES))
def test_reload_broken_file_logs_file_and_line(pg, pgfjord, kind):
    p = admin_pooler(pg, pgfjord)
    bad = BROKEN_LINES[kind]
    p.extra_ini = bad
    p.write_config()
    lineno = p.ini_path.read_text().splitlines().index(bad) + 1
    with console(p) as a:
        try:
            run(a, "RELOAD")  # PgBouncer 1.18 answers RELOAD; COMPAT.md (1.25): an error
        except psycopg.Error:
            pass
        assert show(a, "VERSION").names == ["version"]
    log = wait_for(lambda: f"{p.ini_path}:{lineno}" in p.log() and p.log(), timeout=3,
                   what="file:line in the log")
    line = [ln for ln in log.splitlines() if f"{p.ini_path}:{lineno}" in ln][0]
    if kind == "bad_value":
        assert "lots" in line or "max_client_conn" in line, line
    assert p.alive()
    assert app_query(p) == "app"


@pytest.mark.pgfjord_only("PgBouncer 1.18 applies the lines before the error and answers "
                          "RELOAD with success")
def test_reload_broken_file_keeps_running_config(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    p.settings["default_pool_size"] = 7
    p.databases["fjnew"] = pg.connstr("app")
    p.extra_ini = "this line is not valid"
    p.write_config()
    with console(p) as a:
        e = console_error(a, "RELOAD")
        assert "RELOAD failed, see logs for additional details" in err_text(e), err_text(e)
        assert e.diag.sqlstate == "F0000", e.diag.sqlstate
        assert show(a, "CONFIG").kv()["default_pool_size"] == "20"
        assert not show(a, "DATABASES").where(name="fjnew")
    assert f"{p.ini_path}:" in p.log()
    assert app_query(p) == "app"


# ============================================================================ PAUSE / RESUME

def test_pause_waits_for_transaction_in_flight(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    holder = client(p, autocommit=False)
    try:
        holder.execute("select 1")  # transaction open
        adm = console(p)
        pause = Background(lambda: run(adm, "PAUSE"))
        assert_blocked(pause, "PAUSE with a transaction in flight")
        # the transaction in flight goes on and ends normally
        assert holder.execute("select 2").fetchone()[0] == 2
        holder.commit()
        assert pause.get(10) == "PAUSE"
        # paused: a new query waits
        waiter = Background(lambda: app_query(p, sql="select 3"))
        assert_blocked(waiter, "a query while paused")
        with console(p) as a:
            assert run(a, "RESUME") == "RESUME"
        assert waiter.get(10) == 3
        adm.close()
    finally:
        holder.close()


def test_pause_db_pauses_only_that_db(pg, pgfjord):
    # server_login_retry=1: PgBouncer 1.18 counts the server login it starts (and drops, "pause
    # mode") for a client arriving at a paused db as a failed one, and retries only after it
    p = admin_pooler(pg, pgfjord, {"server_login_retry": 1})
    with console(p) as a:
        assert run(a, "PAUSE app") == "PAUSE"
        dbs = show(a, "DATABASES")
        assert dbs.one(name="app")["paused"] == 1 and dbs.one(name="app2")["paused"] == 0
        assert app_query(p, "app2") == "app2"
        waiter = Background(lambda: app_query(p, "app"))
        assert_blocked(waiter, "a query on the paused db")
        assert run(a, "RESUME app") == "RESUME"
        assert waiter.get(10) == "app"
        assert show(a, "DATABASES").one(name="app")["paused"] == 0


def test_disable_and_enable_db(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with client(p) as old, console(p) as a:
        old.execute("select 1")
        assert run(a, "DISABLE app") == "DISABLE"
        assert show(a, "DATABASES").one(name="app")["disabled"] == 1
        with pytest.raises(psycopg.OperationalError) as ei:
            app_query(p, "app")
        assert 'database "app" is disabled' in str(ei.value), ei.value
        # a client that was already connected goes on
        assert old.execute("select 2").fetchone()[0] == 2
        assert app_query(p, "app2") == "app2"
        assert run(a, "ENABLE app") == "ENABLE"
        assert show(a, "DATABASES").one(name="app")["disabled"] == 0
        assert app_query(p, "app") == "app"


# ============================================================================ RECONNECT, KILL

def test_reconnect_replaces_servers_after_transaction(pg, pgfjord):
    p = admin_pooler(pg, pgfjord, {"default_pool_size": 1})
    with client(p, autocommit=False) as c, console(p) as a:
        pid = pid_of(c)  # transaction open
        assert run(a, "RECONNECT app") == "RECONNECT"
        assert pid_of(c) == pid  # not cut off inside the transaction
        c.commit()
        assert pid_of(c) != pid  # a fresh server connection afterwards
        c.commit()
    # the old server connection is closed
    wait_for(lambda: pid not in [r[0] for r in pg.execute("select pid from pg_stat_activity")],
             timeout=5, what="the old backend to go away")


def test_kill_db_drops_its_clients_only(pg, pgfjord):
    p = admin_pooler(pg, pgfjord, {"server_login_retry": 1})  # see test_pause_db_...
    with client(p, "app") as victim, client(p, "app2") as bystander, console(p) as a:
        victim.execute("select 1")
        bystander.execute("select 1")
        assert run(a, "KILL app") == "KILL"
        with pytest.raises(psycopg.OperationalError):
            victim.execute("select 1")
        assert bystander.execute("select 2").fetchone()[0] == 2
        assert not show(a, "CLIENTS").where(database="app")
        assert not show(a, "SERVERS").where(database="app")
        run(a, "RESUME app")  # PgBouncer pauses a killed database
    assert app_query(p, "app") == "app"


def test_killed_db_waits_for_resume(pg, pgfjord):
    # PgBouncer's docs: "New client connections to a killed database will wait until RESUME
    # is called."
    p = admin_pooler(pg, pgfjord, {"server_login_retry": 1})  # see test_pause_db_...
    assert app_query(p, "app") == "app"
    with console(p) as a:
        run(a, "KILL app")
        newcomer = Background(lambda: app_query(p, "app"))
        assert_blocked(newcomer, "a new client of a killed database")
        assert app_query(p, "app2") == "app2"
        run(a, "RESUME app")
        assert newcomer.get(10) == "app"


@pytest.mark.pgfjord_only("PgBouncer 1.18 requires a database for KILL")
def test_kill_without_db_drops_all_clients(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with client(p, "app") as c1, client(p, "app2") as c2, console(p) as a:
        c1.execute("select 1")
        c2.execute("select 1")
        assert run(a, "KILL") == "KILL"
        for c in (c1, c2):
            with pytest.raises(psycopg.OperationalError):
                c.execute("select 1")
        # the console itself stays
        assert show(a, "VERSION").names == ["version"]
        run(a, "RESUME")
    assert app_query(p, "app") == "app"


@pytest.mark.pgfjord_only("PgBouncer 1.18 has no KILL_CLIENT (and no id column)")
def test_kill_client_kicks_the_right_client(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with client(p, application_name="fj_victim") as victim, \
            client(p, application_name="fj_other") as other, console(p) as a:
        victim.execute("select 1")
        other.execute("select 1")
        cid = show(a, "CLIENTS").one(application_name="fj_victim")["id"]
        assert run(a, f"KILL_CLIENT {cid}") == "KILL_CLIENT"
        with pytest.raises(psycopg.OperationalError):
            victim.execute("select 1")
        assert other.execute("select 2").fetchone()[0] == 2
        names = [r["application_name"] for r in show(a, "CLIENTS").dicts]
        assert "fj_victim" not in names and "fj_other" in names, names
    with wire_console(p) as w:
        err, msgs = wire_command(w, "KILL_CLIENT 987654321")  # error, then ReadyForQuery
        assert err is not None and "client not found" in err.get("M", ""), msgs


@pytest.mark.pgfjord_only("PgBouncer 1.18 still implements SUSPEND; pgfjord follows 1.26")
def test_suspend_is_not_supported(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with console(p) as a:
        e = console_error(a, "SUSPEND")
        assert "not supported" in err_text(e).lower(), err_text(e)
        assert show(a, "VERSION").names == ["version"]
    assert app_query(p) == "app"


def test_wait_close_returns_once_old_servers_closed(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    holder = client(p, autocommit=False)
    try:
        pid = pid_of(holder)  # transaction open on an old server
        with console(p) as a:
            run(a, "RECONNECT app")
        adm = console(p)
        waiting = Background(lambda: run(adm, "WAIT_CLOSE app"))
        assert_blocked(waiting, "WAIT_CLOSE while an old server is in use")
        holder.commit()
        assert waiting.get(10) == "WAIT_CLOSE"
        adm.close()
        with console(p) as a:
            assert not show(a, "SERVERS").where(remote_pid=pid)
    finally:
        holder.close()


# ============================================================================ SHUTDOWN

def _gone(p):
    assert p.wait_exit(10), "pooler did not exit"
    p.expected_exit = True
    assert not p.unix_socket.exists(), "unix socket left behind"
    assert not p.pidfile.exists(), "pidfile left behind"


def test_shutdown_exits(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    p.expected_exit = True
    with console(p) as a:
        try:
            run(a, "SHUTDOWN")
        except psycopg.OperationalError:
            pass  # the console may be closed before the answer
    _gone(p)


@pytest.mark.pgfjord_only("PgBouncer 1.18 has no SHUTDOWN WAIT_FOR_SERVERS (its SIGINT does it)")
def test_shutdown_wait_for_servers(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    holder = client(p, autocommit=False)
    try:
        holder.execute("select 1")
        p.expected_exit = True
        with console(p) as a:
            try:
                run(a, "SHUTDOWN WAIT_FOR_SERVERS")
            except psycopg.OperationalError:
                pass
        time.sleep(BLOCK)
        assert p.alive(), "exited while a server was in use"
        with pytest.raises(psycopg.OperationalError):
            app_query(p, connect_timeout=3)  # no new clients
        assert holder.execute("select 2").fetchone()[0] == 2
        holder.commit()
        _gone(p)
    finally:
        holder.close()


@pytest.mark.pgfjord_only("PgBouncer 1.18 has no SHUTDOWN WAIT_FOR_CLIENTS")
def test_shutdown_wait_for_clients_waits_for_last_client(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    first, last = client(p), client(p)
    try:
        p.expected_exit = True
        with console(p) as a:
            try:
                run(a, "SHUTDOWN WAIT_FOR_CLIENTS")
            except psycopg.OperationalError:
                pass
        time.sleep(BLOCK)
        assert p.alive(), "exited with clients connected"
        with pytest.raises(psycopg.OperationalError):
            app_query(p, connect_timeout=3)  # no new clients
        assert first.execute("select 1").fetchone()[0] == 1  # connected clients go on
        first.close()
        time.sleep(0.5)
        assert p.alive(), "exited before the last client left"
        assert last.execute("select 2").fetchone()[0] == 2
        last.close()
        _gone(p)
    finally:
        first.close()
        last.close()


# ============================================================================ signals

def test_sighup_reloads(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    edit_config(p, databases={"fjsig": pg.connstr("app2")})
    p.reload()
    assert wait_connectable(p, "fjsig") == "app2"


def test_sigusr1_pauses_and_sigusr2_resumes(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    with client(p) as c:
        c.execute("select 1")
        p.kill(signal.SIGUSR1)
        time.sleep(0.3)
        paused = Background(lambda: c.execute("select 7").fetchone()[0])
        assert_blocked(paused, "a query after SIGUSR1")
        p.kill(signal.SIGUSR2)
        assert paused.get(10) == 7
        assert app_query(p) == "app"


def test_sigint_waits_for_servers(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    holder = client(p, autocommit=False)
    try:
        holder.execute("select 1")
        p.expected_exit = True
        p.kill(signal.SIGINT)
        time.sleep(BLOCK)
        assert p.alive(), "SIGINT exited with a transaction in flight"
        assert holder.execute("select 2").fetchone()[0] == 2
        holder.commit()
        _gone(p)
    finally:
        holder.close()


@pytest.mark.pgfjord_only("PgBouncer 1.18 exits at once on SIGTERM (1.23+ waits for clients)")
def test_sigterm_waits_for_clients(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    c = client(p)
    try:
        c.execute("select 1")
        p.expected_exit = True
        p.kill(signal.SIGTERM)
        time.sleep(BLOCK)
        assert p.alive(), "SIGTERM exited with a client connected"
        assert c.execute("select 2").fetchone()[0] == 2
        c.close()
        _gone(p)
    finally:
        c.close()


@pytest.mark.pgfjord_only("PgBouncer 1.18 exits at once on the first SIGTERM")
def test_second_sigterm_exits_immediately(pg, pgfjord):
    p = admin_pooler(pg, pgfjord)
    c = client(p)
    try:
        c.execute("select 1")
        p.expected_exit = True
        p.kill(signal.SIGTERM)
        time.sleep(0.5)
        assert p.alive(), "SIGTERM exited with a client connected"
        p.kill(signal.SIGTERM)
        assert p.wait_exit(5), "second SIGTERM did not exit"
    finally:
        c.close()


@pytest.mark.pgfjord_only("pgfjord's SHOW MEM rows (iobuf_small)")
def test_receive_buffers_only_while_bytes_are_in_flight(pg, pgfjord):
    """Logged-in clients that have sent nothing yet hold no receive buffer, and clients queued
    for a server hold their query in a small buffer, not a pkt_buf one (SHOW MEM): a storm of
    functions that log in and wait costs half a KiB each, not 4 KiB."""
    p = admin_pooler(pg, pgfjord, {"default_pool_size": 1, "max_client_conn": 200})

    def mem(a):
        return {r["name"]: r for r in show(a, "MEM").dicts}

    idle = [client(p) for _ in range(40)]
    holder = client(p, autocommit=False)
    holder.execute("select 1")  # transaction open: holds the only server
    waiters = []
    try:
        with console(p) as a:
            # the console's own query is the one standard buffer in use
            assert mem(a)["iobuf_cache"]["used"] <= 1, mem(a)
            waiters = [Background(lambda i=i: app_query(p, sql=f"select {i}")) for i in range(30)]
            wait_show(a, "POOLS", lambda r: r.one(database="app", user=MD5_USER)["cl_waiting"] == 30,
                      timeout=10, label="30 waiting clients")
            m = mem(a)
            assert m["iobuf_small"]["used"] >= 30, m
            assert m["iobuf_small"]["size"] <= 512, m
            assert m["iobuf_cache"]["used"] <= 1, m
            holder.commit()
            assert sorted(w.get(10) for w in waiters) == list(range(30))
            wait_show(a, "MEM", lambda r: {d["name"]: d for d in r.dicts}["iobuf_small"]["used"] == 0,
                      timeout=5, label="small buffers given back")
    finally:
        holder.close()
        for c in idle:
            c.close()
