"""Server lifecycle (issue #5): min_pool_size, server_idle_timeout, server_lifetime per
database, server_login_retry, server_check_query/server_check_delay, server_fast_close,
connect_query, pool_idle_timeout and autodb_idle_timeout."""
import time

import psycopg
import pytest

import harness as h
from harness import TRUST_USER
from admin_helpers import console, show, wait_for


def trust_pooler(pg, pgfjord, settings=None, databases=None, users=None):
    ini = {"auth_type": "trust", "pool_mode": "transaction", "admin_users": TRUST_USER}
    ini.update(settings or {})
    return pgfjord(ini, databases or {"app": pg.connstr("app")}, {TRUST_USER: ""}, users)


def backends(pg, db="app"):
    return pg.execute("select count(*) from pg_stat_activity where backend_type = 'client backend' "
                      "and usename = %s and datname = %s", (TRUST_USER, db))[0][0]


def adm(p):
    return console(p, user=TRUST_USER, password=None)


@pytest.mark.pgfjord_only("PgBouncer 1.18 makes a pool, and so warms it, only for a first client")
def test_min_pool_size_opens_servers_before_any_client(pg, pgfjord):
    # A forced-user database is kept warm from the start, as in PgBouncer.
    dbs = {"app": pg.connstr("app", user=TRUST_USER, min_pool_size=3)}
    p = trust_pooler(pg, pgfjord, {"default_pool_size": 5}, dbs)
    wait_for(lambda: backends(pg) == 3, timeout=10, what="3 warm servers")
    time.sleep(1.5)  # and not more than min_pool_size
    assert backends(pg) == 3
    with adm(p) as c:
        pool = show(c, "POOLS").one(database="app")
        assert pool["sv_idle"] == 3 and pool["cl_active"] == 0


def test_server_idle_timeout_closes_idle_servers_beyond_min_pool_size(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, {"server_idle_timeout": 1, "default_pool_size": 5})
    held = [p.connect(user=TRUST_USER, autocommit=False) for _ in range(3)]
    for c in held:
        c.execute("select 1")
    assert backends(pg) == 3
    for c in held:
        c.close()
    wait_for(lambda: backends(pg) == 0, timeout=6, what="idle servers closed")
    assert "server idle timeout" in p.log() or h.REFERENCE


@pytest.mark.pgfjord_only("server_lifetime per database came after PgBouncer 1.18")
def test_server_lifetime_per_database(pg, pgfjord):
    dbs = {"app": pg.connstr("app", server_lifetime=1), "app2": pg.connstr("app2")}
    p = trust_pooler(pg, pgfjord, {"server_lifetime": 3600}, dbs)
    with p.connect(user=TRUST_USER) as c, p.connect(user=TRUST_USER, dbname="app2") as c2:
        first = c.execute("select pg_backend_pid()").fetchone()[0]
        first2 = c2.execute("select pg_backend_pid()").fetchone()[0]
        time.sleep(3)
        # app's server outlived its 1 s and was replaced; app2's (global 3600 s) was kept
        assert c.execute("select pg_backend_pid()").fetchone()[0] != first
        assert c2.execute("select pg_backend_pid()").fetchone()[0] == first2
    with adm(p) as a:
        assert show(a, "DATABASES").one(name="app")["server_lifetime"] == 1


@pytest.mark.pgfjord_only("PgBouncer 1.18 holds new clients until server_login_retry has passed")
def test_server_login_retry_gives_waiting_clients_the_login_error(pg, pgfjord):
    dbs = {"gone": pg.connstr("no_such_db_here")}
    p = trust_pooler(pg, pgfjord, {"server_login_retry": 5}, dbs)
    for _ in range(3):  # the first gets PostgreSQL's error, the next ones the same, at once
        t0 = time.monotonic()
        with pytest.raises(psycopg.OperationalError) as ei:
            p.connect(user=TRUST_USER, dbname="gone")
        assert 'database "no_such_db_here" does not exist' in str(ei.value)
        assert time.monotonic() - t0 < 3
    assert p.alive()


@pytest.fixture
def check_counter(pg):
    with pg.admin("app") as c:
        c.execute("drop sequence if exists public.check_count")
        c.execute("create sequence public.check_count")
        c.execute("grant all on sequence public.check_count to public")
    yield lambda: pg.execute("select last_value, is_called from public.check_count", dbname="app")[0]
    with pg.admin("app") as c:
        c.execute("drop sequence if exists public.check_count")


def checks_run(state):
    value, called = state
    return value if called else 0


def test_server_check_query_runs_after_server_check_delay(pg, pgfjord, check_counter):
    p = trust_pooler(pg, pgfjord, {"server_check_query": "select nextval('public.check_count')",
                                   "server_check_delay": 1, "default_pool_size": 1})
    with p.connect(user=TRUST_USER) as c:
        c.execute("select 1")
        for _ in range(3):  # reused at once: no check
            c.execute("select 1")
        assert checks_run(check_counter()) == 0
        time.sleep(1.5)  # idle longer than server_check_delay: checked before reuse
        assert c.execute("select 2").fetchone()[0] == 2
        assert checks_run(check_counter()) == 1


def test_server_check_query_off_when_empty(pg, pgfjord, check_counter):
    p = trust_pooler(pg, pgfjord, {"server_check_query": "", "server_check_delay": 0,
                                   "default_pool_size": 1})
    with p.connect(user=TRUST_USER) as c:
        for _ in range(3):
            c.execute("select 1")
            time.sleep(0.2)
    assert checks_run(check_counter()) == 0


def test_server_check_catches_a_dead_idle_server(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, {"server_check_delay": 0, "default_pool_size": 1})
    with p.connect(user=TRUST_USER) as c:
        pid = c.execute("select pg_backend_pid()").fetchone()[0]
        pg.execute("select pg_terminate_backend(%s)", (pid,))
        time.sleep(0.5)
        # the dead server is never handed out: the client gets a fresh one
        assert c.execute("select pg_backend_pid()").fetchone()[0] != pid


def test_server_fast_close_ends_a_session_between_transactions(pg, pgfjord):
    # As PgBouncer: the server goes without waiting for the session's end, and its client
    # with it (a silent new server would lose the session's state); a transaction in
    # progress is not cut.
    p = trust_pooler(pg, pgfjord, {"pool_mode": "session", "server_fast_close": 1})
    with p.connect(user=TRUST_USER, autocommit=False) as c:
        pid = c.execute("select pg_backend_pid()").fetchone()[0]
        with adm(p) as a:
            a.execute("RECONNECT app")
        time.sleep(2)
        assert c.execute("select pg_backend_pid()").fetchone()[0] == pid  # still in its transaction
        c.commit()
        time.sleep(2)
        expect_closed = pytest.raises(psycopg.OperationalError)
        with expect_closed as ei:
            c.execute("select 1")
        assert "database configuration changed" in str(ei.value)
    wait_for(lambda: not pg.execute("select count(*) from pg_stat_activity where pid = %s", (pid,))[0][0],
             timeout=5, what="the old server closed")
    with p.connect(user=TRUST_USER) as c2:
        assert c2.execute("select 1").fetchone()[0] == 1


def test_without_server_fast_close_a_session_keeps_its_server(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, {"pool_mode": "session", "server_fast_close": 0})
    with p.connect(user=TRUST_USER) as c:
        before = c.execute("select pg_backend_pid()").fetchone()[0]
        with adm(p) as a:
            a.execute("RECONNECT app")
        c.execute("select 1")
        assert c.execute("select pg_backend_pid()").fetchone()[0] == before


def test_connect_query_runs_on_every_new_server(pg, pgfjord):
    dbs = {"app": pg.connstr("app", connect_query="'SET statement_timeout = 4321'")}
    p = trust_pooler(pg, pgfjord, {"default_pool_size": 2}, dbs)
    with p.connect(user=TRUST_USER) as c1, p.connect(user=TRUST_USER, autocommit=False) as c2:
        c2.execute("select 1")  # holds one server: c1 gets the second one
        assert c1.execute("show statement_timeout").fetchone()[0] == "4321ms"
        assert c2.execute("show statement_timeout").fetchone()[0] == "4321ms"


@pytest.mark.pgfjord_only("PgBouncer lets clients use a server whose connect_query failed")
def test_a_failing_connect_query_is_a_login_error(pg, pgfjord):
    dbs = {"app": pg.connstr("app", connect_query="'select no_such_function()'")}
    p = trust_pooler(pg, pgfjord, {"server_login_retry": 1}, dbs)
    with pytest.raises(psycopg.OperationalError) as ei:
        with p.connect(user=TRUST_USER) as c:
            c.execute("select 1")
    assert "connect_query failed" in str(ei.value)
    assert p.alive()


@pytest.mark.pgfjord_only("pool_idle_timeout came with PgBouncer 1.26")
def test_pool_idle_timeout_frees_an_unused_pool(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, {"pool_idle_timeout": 1, "server_idle_timeout": 1})
    with p.connect(user=TRUST_USER) as c:
        c.execute("select 1")
    with adm(p) as a:
        wait_for(lambda: not show(a, "POOLS").where(database="app", user=TRUST_USER), timeout=8,
                 what="the idle pool freed")
    assert "cleaning up idle pool" in p.log()
    with p.connect(user=TRUST_USER) as c:  # a new client simply makes it again
        assert c.execute("select 1").fetchone()[0] == 1


def test_autodb_idle_timeout_frees_an_unused_auto_database(pg, pgfjord):
    dbs = {"*": f"host={pg.host} port={pg.port}"}
    p = trust_pooler(pg, pgfjord, {"autodb_idle_timeout": 1, "server_idle_timeout": 1}, dbs)
    with p.connect(user=TRUST_USER, dbname="app2") as c:
        assert c.execute("select current_database()").fetchone()[0] == "app2"
    with adm(p) as a:
        assert show(a, "DATABASES").where(name="app2")
        wait_for(lambda: not show(a, "DATABASES").where(name="app2"), timeout=10,
                 what="the auto-database freed")
    with p.connect(user=TRUST_USER, dbname="app2") as c:
        assert c.execute("select 1").fetchone()[0] == 1
