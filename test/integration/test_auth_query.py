"""auth_query, auth_user, auth_dbname (issue #6): users that auth_file does not have get their
secret from PostgreSQL over a pooled connection of the auth_user.

auth_file holds only the auth_user. md5 and SCRAM roles log in with right and wrong passwords
(the SCRAM role reaches PostgreSQL by pass-through: its pg_hba line asks for SCRAM and the
pooler knows no password, only the client's proof); an expired role (rolvaliduntil) is refused;
a client's search_path never reaches the session auth_query runs in (CVE-2025-12819);
[databases] values override the global ones; many logins share an auth pool of one server; a
broken setup gives the client an error, never a hang or a crash."""
import threading
import time

import psycopg
import pytest

import harness as h
from admin_helpers import console, edit_config, show
from harness import MD5_PASS, MD5_USER, SCRAM_PASS, SCRAM_USER

AUTH_USER, AUTH_PASS = "aq_auth", "aq_auth_pass"
EXPIRED_USER, EXPIRED_PASS = "aq_expired", "aq_expired_pass"
CHANGING_USER = "aq_changing"
EVIL_PASS = "evil_pass"

AUTH_FAILED = ("password authentication failed", "SASL authentication failed")
# A query that calls an unqualified function: what search_path would redirect.
FUNC_QUERY = "SELECT $1::text, aq_secret($1::text)"
# 1.18's default reads pg_shadow and does not look at rolvaliduntil; state today's default.
DEFAULT_QUERY = ("SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END "
                 "FROM pg_authid WHERE rolname=$1 AND rolcanlogin")


@pytest.fixture(scope="module")
def roles(pg):
    """The auth_user (a superuser: the default query reads pg_authid), an expired role, and in
    app: public.aq_secret(name) returning the role's secret, and evil.aq_secret returning the
    md5 secret of EVIL_PASS for anybody."""
    with pg.admin() as c:
        c.execute(f"CREATE ROLE {AUTH_USER} LOGIN SUPERUSER PASSWORD '{AUTH_PASS}'")
        c.execute(f"CREATE ROLE {EXPIRED_USER} LOGIN PASSWORD '{EXPIRED_PASS}' VALID UNTIL '2000-01-01'")
        c.execute(f"CREATE ROLE {CHANGING_USER} LOGIN PASSWORD 'first'")
    for db in ("app", "app2"):
        with pg.admin(db) as c:
            c.execute("CREATE FUNCTION public.aq_secret(u text) RETURNS text LANGUAGE sql "
                      "SECURITY DEFINER SET search_path = pg_catalog "
                      "AS $$ SELECT rolpassword FROM pg_authid WHERE rolname = u $$")
    with pg.admin("app") as c:
        c.execute("CREATE SCHEMA evil")
        c.execute("CREATE FUNCTION evil.aq_secret(u text) RETURNS text LANGUAGE sql "
                  f"AS $$ SELECT 'md5' || md5('{EVIL_PASS}' || u) $$")
        c.execute("GRANT USAGE ON SCHEMA evil TO PUBLIC")
    with pg.admin("app2") as c:
        c.execute("CREATE FUNCTION public.aq_only_in_app2(u text) RETURNS text LANGUAGE sql "
                  "SECURITY DEFINER AS $$ SELECT rolpassword FROM pg_authid WHERE rolname = u $$")
    yield
    with pg.admin("app") as c:
        c.execute("DROP SCHEMA evil CASCADE")
        c.execute("DROP FUNCTION public.aq_secret(text)")
    with pg.admin("app2") as c:
        c.execute("DROP FUNCTION public.aq_secret(text)")
        c.execute("DROP FUNCTION public.aq_only_in_app2(text)")
    with pg.admin() as c:
        # the pooler's auth servers may linger for a moment after it stopped
        c.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{AUTH_USER}'")
        for role in (AUTH_USER, EXPIRED_USER, CHANGING_USER):
            for _ in range(50):
                try:
                    c.execute(f"DROP ROLE {role}")
                    break
                except psycopg.errors.ObjectInUse:
                    time.sleep(0.1)


def aq_pooler(pg, pgfjord, ini=None, databases=None, userlist=None, start=True):
    settings = {"auth_type": "md5", "auth_user": AUTH_USER, "pool_mode": "transaction"}
    settings.update(ini or {})
    dbs = databases or {"app": pg.connstr("app"), "app2": pg.connstr("app2")}
    return pgfjord(settings, dbs, userlist if userlist is not None else {AUTH_USER: AUTH_PASS},
                   start=start)


def current_user(p, user, password, **kw):
    with p.connect(user=user, password=password, **kw) as c:
        return c.execute("select current_user").fetchone()[0]


def login_error(p, user, password, **kw):
    with pytest.raises(psycopg.OperationalError) as ei:
        current_user(p, user, password, **kw)
    return str(ei.value)


def wire_login(p, user, password, dbname="app", **params):
    with p.wire() as w:
        return w.try_login(user, dbname, password, **params)


def assert_auth_failed(status, fields):
    assert status == "error", (status, fields)
    assert any(m in fields.get("M", "") for m in AUTH_FAILED), fields


def auth_backends(pg):
    rows = pg.execute(f"SELECT count(*) FROM pg_stat_activity WHERE usename = '{AUTH_USER}'")
    return rows[0][0]


# ---------------------------------------------------------------------------- md5 and SCRAM roles

@pytest.mark.parametrize("auth_type", ["md5", "scram-sha-256", "plain", "hba"])
def test_md5_and_scram_roles(pg, pgfjord, roles, auth_type):
    """md5user's secret in pg_authid is md5, scramuser's SCRAM; the pooler learns both from
    auth_query. PostgreSQL asks md5user for md5 (the md5 secret answers it) and scramuser for
    SCRAM, which only the keys of the client's own SCRAM login can answer (pass-through)."""
    p = aq_pooler(pg, pgfjord, {"auth_type": auth_type}, start=auth_type != "hba")
    if auth_type == "hba":
        h.write_file(p.dir / "hba.txt", "host all all 127.0.0.1/32 md5\n")
        edit_config(p, settings={"auth_hba_file": str(p.dir / "hba.txt")})
        p.start()
    # scram-sha-256 cannot use an md5 secret; plain gives no SCRAM keys to log in with
    md5_ok = auth_type != "scram-sha-256"
    scram_ok = auth_type != "plain"
    for _ in range(2):  # the second login fetches the secret again and reuses the server
        if md5_ok:
            assert current_user(p, MD5_USER, MD5_PASS) == MD5_USER
        if scram_ok:
            assert current_user(p, SCRAM_USER, SCRAM_PASS) == SCRAM_USER
    if md5_ok:
        assert_auth_failed(*wire_login(p, MD5_USER, MD5_PASS + "x"))
    if scram_ok:
        assert_auth_failed(*wire_login(p, SCRAM_USER, SCRAM_PASS + "x"))
        assert any(m in login_error(p, SCRAM_USER, "wrong") for m in AUTH_FAILED)
    # the auth_user logs in from auth_file, as before
    assert current_user(p, AUTH_USER, AUTH_PASS) == AUTH_USER


def test_scram_pass_through_opens_new_servers(pg, pgfjord, roles):
    """Two clients of the SCRAM role at once need two servers: the second one also logs in
    to PostgreSQL with the keys the clients proved."""
    p = aq_pooler(pg, pgfjord, {"pool_mode": "session"})
    with p.connect(user=SCRAM_USER, password=SCRAM_PASS) as c1, \
            p.connect(user=SCRAM_USER, password=SCRAM_PASS) as c2:
        pids = {c.execute("select pg_backend_pid()").fetchone()[0] for c in (c1, c2)}
        assert len(pids) == 2


@pytest.mark.pgfjord_only("PgBouncer 1.18 answers 'no such user' when auth_query finds no row")
def test_unknown_role_looks_like_wrong_password(pg, pgfjord, roles):
    p = aq_pooler(pg, pgfjord)
    s_unknown, f_unknown = wire_login(p, "aq_nosuchrole", "whatever")
    s_wrong, f_wrong = wire_login(p, SCRAM_USER, "whatever")
    assert_auth_failed(s_unknown, f_unknown)
    assert_auth_failed(s_wrong, f_wrong)
    assert (f_unknown["M"], f_unknown["C"]) == (f_wrong["M"], f_wrong["C"])


@pytest.mark.pgfjord_only("PgBouncer 1.18's default auth_query ignores rolvaliduntil")
def test_expired_role_refused_by_default_query(pg, pgfjord, roles):
    p = aq_pooler(pg, pgfjord)
    s_expired, f_expired = wire_login(p, EXPIRED_USER, EXPIRED_PASS)
    assert_auth_failed(s_expired, f_expired)
    # no hint that the role exists: the same answer as a wrong password
    s_wrong, f_wrong = wire_login(p, SCRAM_USER, "whatever")
    assert (f_expired["M"], f_expired["C"]) == (f_wrong["M"], f_wrong["C"])
    assert current_user(p, SCRAM_USER, SCRAM_PASS) == SCRAM_USER


def test_expired_role_refused(pg, pgfjord, roles):
    p = aq_pooler(pg, pgfjord, {"auth_query": DEFAULT_QUERY})
    assert_auth_failed(*wire_login(p, EXPIRED_USER, EXPIRED_PASS))
    # once it is valid again it gets in
    pg.execute(f"ALTER ROLE {EXPIRED_USER} VALID UNTIL 'infinity'")
    try:
        assert current_user(p, EXPIRED_USER, EXPIRED_PASS) == EXPIRED_USER
    finally:
        pg.execute(f"ALTER ROLE {EXPIRED_USER} VALID UNTIL '2000-01-01'")
    assert_auth_failed(*wire_login(p, EXPIRED_USER, EXPIRED_PASS))


def test_secret_fetched_at_every_login(pg, pgfjord, roles):
    """A changed password counts from the next login: the secret is not cached."""
    p = aq_pooler(pg, pgfjord)
    pg.execute(f"ALTER ROLE {CHANGING_USER} PASSWORD 'first'")
    assert current_user(p, CHANGING_USER, "first") == CHANGING_USER
    pg.execute(f"ALTER ROLE {CHANGING_USER} PASSWORD 'second'")
    assert_auth_failed(*wire_login(p, CHANGING_USER, "first"))
    assert current_user(p, CHANGING_USER, "second") == CHANGING_USER


# ---------------------------------------------------------------------------- CVE-2025-12819

@pytest.mark.pgfjord_only("PgBouncer 1.18 has no track_extra_parameters")
def test_search_path_cannot_redirect_auth_query(pg, pgfjord, roles):
    """auth_query calls an unqualified aq_secret(); evil.aq_secret would accept EVIL_PASS for
    anybody. A client sending search_path=evil at startup must not reach the auth session."""
    with pg.admin("app") as c:
        c.execute("SET search_path = evil")
        evil = c.execute("SELECT aq_secret(%s)", (MD5_USER,)).fetchone()[0]
    assert evil == h.md5_secret(MD5_USER, EVIL_PASS)  # the trap works when search_path applies
    p = aq_pooler(pg, pgfjord, {"auth_query": FUNC_QUERY, "track_extra_parameters": "search_path"})
    for user in (MD5_USER, SCRAM_USER):
        assert_auth_failed(*wire_login(p, user, EVIL_PASS, search_path="evil"))
        assert_auth_failed(*wire_login(p, user, EVIL_PASS, options="-c search_path=evil"))
    # the right password works, and the client's own session does get its search_path
    with p.connect(user=MD5_USER, password=MD5_PASS, options="-c search_path=evil") as c:
        assert c.execute("show search_path").fetchone()[0] == "evil"
        assert c.execute("select aq_secret(%s)", (MD5_USER,)).fetchone()[0] == evil
    status, msgs = wire_login(p, SCRAM_USER, SCRAM_PASS, search_path="evil")
    assert status == "ok", msgs


@pytest.mark.pgfjord_only("PgBouncer 1.18 has no track_extra_parameters")
def test_search_path_of_auth_user_clients_does_not_leak(pg, pgfjord, roles):
    """Clients logging in as the auth_user itself with search_path=evil use their own pool:
    the servers that run auth_query never carry their settings."""
    p = aq_pooler(pg, pgfjord, {"auth_query": FUNC_QUERY, "track_extra_parameters": "search_path",
                                "pool_mode": "session"})
    with p.connect(user=AUTH_USER, password=AUTH_PASS, options="-c search_path=evil") as c:
        c.execute("SET search_path = evil")
        assert_auth_failed(*wire_login(p, MD5_USER, EVIL_PASS))
        assert current_user(p, MD5_USER, MD5_PASS) == MD5_USER


# ---------------------------------------------------------------------------- [databases] values

def test_database_auth_user_overrides_global(pg, pgfjord, roles):
    """The global auth_user is not in auth_file (its logins fail); app's own one is."""
    dbs = {"app": pg.connstr("app", auth_user=AUTH_USER), "app2": pg.connstr("app2")}
    p = aq_pooler(pg, pgfjord, {"auth_user": "aq_nobody"}, dbs)
    assert current_user(p, MD5_USER, MD5_PASS, dbname="app") == MD5_USER
    with pytest.raises(psycopg.OperationalError):
        current_user(p, MD5_USER, MD5_PASS, dbname="app2")


@pytest.mark.pgfjord_only("PgBouncer 1.18 has no auth_dbname nor auth_query in [databases]")
def test_database_auth_query_and_dbname_override_global(pg, pgfjord, roles):
    """app's entry runs its own query in the database named by its auth_dbname (a function that
    exists only in app2); the global query is broken and the global auth_dbname wrong."""
    query = "'SELECT $1::text, aq_only_in_app2($1::text)'"
    dbs = {"app": pg.connstr("app", auth_query=query, auth_dbname="authdb"),
           "app2": pg.connstr("app2"),
           "authdb": pg.connstr("app2")}
    p = aq_pooler(pg, pgfjord, {"auth_query": "SELECT broken", "auth_dbname": "nosuchdb"}, dbs)
    assert current_user(p, MD5_USER, MD5_PASS, dbname="app") == MD5_USER
    assert current_user(p, SCRAM_USER, SCRAM_PASS, dbname="app") == SCRAM_USER
    # app2 has no values of its own: the global auth_dbname names no database
    assert "bouncer config error" in login_error(p, MD5_USER, MD5_PASS, dbname="app2")


@pytest.mark.pgfjord_only("PgBouncer 1.18 has no auth_dbname")
def test_global_auth_dbname(pg, pgfjord, roles):
    """A function that exists only in app2 proves where the query ran; clients of app get it."""
    dbs = {"app": pg.connstr("app"), "authdb": pg.connstr("app2")}
    p = aq_pooler(pg, pgfjord, {"auth_dbname": "authdb",
                                "auth_query": "SELECT $1::text, aq_only_in_app2($1::text)"}, dbs)
    assert current_user(p, MD5_USER, MD5_PASS) == MD5_USER
    with p.connect(user=MD5_USER, password=MD5_PASS) as c:
        assert c.execute("select current_database()").fetchone()[0] == "app"


# ---------------------------------------------------------------------------- one auth server

def test_concurrent_logins_share_one_auth_server(pg, pgfjord, roles):
    p = aq_pooler(pg, pgfjord, {"default_pool_size": 1, "max_client_conn": 100})
    results, errors = [], []

    def login(i):
        user, password = (MD5_USER, MD5_PASS) if i % 2 else (SCRAM_USER, SCRAM_PASS)
        try:
            results.append(current_user(p, user, password) == user)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=login, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert results == [True] * 20
    assert auth_backends(pg) <= 1


# ---------------------------------------------------------------------------- failures

@pytest.mark.pgfjord_only("PgBouncer 1.18 logs in without the auth_user's password and fails later")
def test_auth_user_not_in_auth_file(pg, pgfjord, roles):
    p = aq_pooler(pg, pgfjord, userlist={MD5_USER: h.md5_secret(MD5_USER, MD5_PASS)})
    status, fields = wire_login(p, SCRAM_USER, SCRAM_PASS)
    assert status == "error", fields
    assert fields["M"] == "bouncer config error", fields
    # users of auth_file are not affected
    assert current_user(p, MD5_USER, MD5_PASS) == MD5_USER


def test_broken_auth_query_then_reload(pg, pgfjord, roles):
    p = aq_pooler(pg, pgfjord, {"auth_query": "SELEC rolname, rolpassword FROM pg_authid WHERE rolname=$1"})
    for _ in range(3):
        status, fields = wire_login(p, MD5_USER, MD5_PASS)
        assert status in ("error", "closed"), fields
        if not h.REFERENCE:
            assert status == "error" and "auth_query failed" in fields["M"], fields
            assert fields["C"] == "08P01", fields
    if not h.REFERENCE:
        assert "syntax error" in p.log()
    edit_config(p, settings={"auth_query": DEFAULT_QUERY})
    p.reload()
    deadline = time.monotonic() + 10
    while True:
        try:
            assert current_user(p, MD5_USER, MD5_PASS) == MD5_USER
            break
        except (psycopg.OperationalError, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.pgfjord_only("pgfjord's messages")
@pytest.mark.parametrize("query,why", [
    ("SELECT $1::text", "1 columns"),
    ("SELECT rolname, rolpassword FROM pg_authid WHERE $1::text IS NOT NULL", "rows"),
])
def test_bad_auth_query_result(pg, pgfjord, roles, query, why):
    p = aq_pooler(pg, pgfjord, {"auth_query": query})
    status, fields = wire_login(p, MD5_USER, MD5_PASS)
    assert status == "error" and "auth_query failed" in fields["M"], fields
    assert why in p.log()


@pytest.mark.pgfjord_only("pgfjord's messages")
def test_auth_database_down_fails_fast(pg, pgfjord, roles):
    """The auth pool cannot connect: the client gets an error, not a wait until a timeout."""
    dead = h.free_port()
    dbs = {"app": pg.connstr("app"), "authdb": f"host=127.0.0.1 port={dead} dbname=app"}
    p = aq_pooler(pg, pgfjord, {"auth_dbname": "authdb", "client_login_timeout": 30}, dbs)
    for _ in range(2):  # the second one meets server_login_retry
        t0 = time.monotonic()
        status, fields = wire_login(p, MD5_USER, MD5_PASS)
        assert status == "error" and "auth_query failed" in fields["M"], fields
        assert time.monotonic() - t0 < 10


@pytest.mark.pgfjord_only("pgfjord's messages")
def test_lookup_waits_at_most_query_wait_timeout(pg, pgfjord, roles):
    """A slow query holds the only auth server; the next lookup gives up after query_wait_timeout."""
    slow = "SELECT rolname, rolpassword FROM pg_authid, pg_sleep(3) WHERE rolname=$1"
    p = aq_pooler(pg, pgfjord, {"auth_query": slow, "default_pool_size": 1, "query_wait_timeout": 1})
    first = threading.Thread(target=wire_login, args=(p, SCRAM_USER, SCRAM_PASS))
    first.start()
    time.sleep(0.5)
    status, fields = wire_login(p, MD5_USER, MD5_PASS)
    first.join(20)
    assert status == "error" and "query_wait_timeout" in fields["M"], fields


def test_client_leaving_during_lookup(pg, pgfjord, roles):
    """Clients that go away while their lookup runs or waits are forgotten; others go on."""
    slow = "SELECT rolname, rolpassword FROM pg_authid, pg_sleep(0.5) WHERE rolname=$1"
    p = aq_pooler(pg, pgfjord, {"auth_query": slow, "default_pool_size": 1})
    for _ in range(2):
        wires = []
        for i in range(4):  # one runs, three wait
            w = p.wire()
            w.startup(MD5_USER if i % 2 else SCRAM_USER, "app")
            wires.append(w)
        time.sleep(0.2)
        for i, w in enumerate(wires):
            w.abort() if i % 2 else w.close()
    assert current_user(p, MD5_USER, MD5_PASS) == MD5_USER
    assert current_user(p, SCRAM_USER, SCRAM_PASS) == SCRAM_USER


@pytest.mark.pgfjord_only("pgfjord's messages")
def test_auth_server_killed_during_lookup(pg, pgfjord, roles):
    slow = "SELECT rolname, rolpassword FROM pg_authid, pg_sleep(5) WHERE rolname=$1"
    p = aq_pooler(pg, pgfjord, {"auth_query": slow})
    out = {}
    t = threading.Thread(target=lambda: out.update(r=wire_login(p, MD5_USER, MD5_PASS)))
    t.start()
    deadline = time.monotonic() + 10
    while not pg.execute("SELECT pid FROM pg_stat_activity WHERE usename = %s AND query LIKE %s",
                         (AUTH_USER, "%pg_sleep%")):
        assert time.monotonic() < deadline, "auth query never started"
        time.sleep(0.05)
    t0 = time.monotonic()
    pg.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (AUTH_USER,))
    t.join(10)
    assert time.monotonic() - t0 < 3
    status, fields = out["r"]
    assert status == "error" and "auth_query failed" in fields["M"], fields
    edit_config(p, settings={"auth_query": DEFAULT_QUERY})
    p.reload()
    time.sleep(0.5)
    assert current_user(p, MD5_USER, MD5_PASS) == MD5_USER


def test_console_users_need_auth_file(pg, pgfjord, roles):
    """auth_query serves databases, not the admin console: an admin_users member unknown to
    auth_file does not get in with its PostgreSQL password."""
    p = aq_pooler(pg, pgfjord, {"admin_users": MD5_USER})
    with pytest.raises(psycopg.OperationalError):
        current_user(p, MD5_USER, MD5_PASS, dbname="pgbouncer")


# ---------------------------------------------------------------------------- SHOW POOLS

def test_show_pools_one_row_per_database_and_user(pg, pgfjord, roles):
    """The auth pool and the pool of clients logging in as the auth_user are one row of SHOW
    POOLS, as in PgBouncer (which runs auth_query on that pool): an exporter keyed on
    (database, user) must not see the pair twice. Logins waiting for their lookup are its
    cl_waiting, and the oldest one's wait is its maxwait."""
    slow = "SELECT rolname, rolpassword FROM pg_authid, pg_sleep(1) WHERE rolname=$1"
    p = aq_pooler(pg, pgfjord, {"auth_query": slow, "default_pool_size": 2, "pool_mode": "session",
                                "admin_users": AUTH_USER})
    with p.connect(user=AUTH_USER, password=AUTH_PASS) as held:  # holds one server of (app, aq_auth)
        held.execute("select 1")
        wires = []
        try:
            for i in range(4):  # the auth pool runs two lookups, two wait
                w = p.wire()
                w.startup(MD5_USER, "app")
                wires.append(w)
            time.sleep(0.4)
            with console(p, user=AUTH_USER, password=AUTH_PASS) as con:
                rows = show(con, "POOLS").where(database="app", user=AUTH_USER)
        finally:
            for w in wires:
                w.close()
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["cl_active"] == 1, row
    assert row["cl_waiting"] >= 2, row
    if not h.REFERENCE:  # PgBouncer 1.18 leaves maxwait at 0 for logins waiting for auth_query
        assert row["maxwait"] * 1_000_000 + row["maxwait_us"] >= 300_000, row
