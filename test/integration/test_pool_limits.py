"""Pool sizes and connection limits (issue #5): max_db_connections, max_user_connections
(with idle servers of other pools closed to make room), max_db_client_connections,
max_user_client_connections, pool_size 0 = unlimited, [users] settings and RELOAD."""
import threading
import time

import psycopg
import pytest

import harness as h
from harness import MD5_PASS, MD5_USER, TRUST_USER
from admin_helpers import console, show


def trust_pooler(pg, pgfjord, settings=None, databases=None, users=None):
    ini = {"auth_type": "trust", "pool_mode": "transaction", "admin_users": f"{TRUST_USER},{MD5_USER}"}
    ini.update(settings or {})
    dbs = databases or {"app": pg.connstr("app"), "app2": pg.connstr("app2")}
    # md5user's plain secret is what the pooler logs in to PostgreSQL with
    return pgfjord(ini, dbs, {TRUST_USER: "", MD5_USER: MD5_PASS}, users)


def backends(pg, user=None, db=None):
    sql = "select count(*) from pg_stat_activity where backend_type = 'client backend' " \
          "and usename in (%s, %s) and query not like '%%pg_stat_activity%%'"
    args = [TRUST_USER, MD5_USER]
    if user:
        sql += " and usename = %s"
        args.append(user)
    if db:
        sql += " and datname = %s"
        args.append(db)
    return pg.execute(sql, args)[0][0]


class Query(threading.Thread):
    """Runs one statement (on a connection it opens unless given one); .done is set when it
    finished. A new pool's first client also waits: its greeting needs a server login."""

    def __init__(self, conn=None, sql="select 1", connect=None):
        super().__init__(daemon=True)
        self.conn, self.connect, self.sql, self.error = conn, connect, sql, None
        self.done = threading.Event()
        self.start()

    def run(self):
        try:
            if self.conn is None:
                self.conn = self.connect()
            self.conn.execute(self.sql)
        except Exception as e:  # noqa: BLE001 - reported to the test
            self.error = e
        self.done.set()

    def close(self):
        if self.conn is not None:
            self.conn.close()


def hold(p, **kw):
    """A client inside a transaction: it keeps its server until commit."""
    c = p.connect(autocommit=False, **kw)
    c.execute("select 1")
    return c


def test_max_db_connections_waits_then_evicts_an_idle_server_of_another_pool(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, {"max_db_connections": 2, "default_pool_size": 5})
    a1, a2 = hold(p, user=TRUST_USER), hold(p, user=TRUST_USER)
    try:
        q = Query(connect=lambda: p.connect(user=MD5_USER))
        assert not q.done.wait(1.5), "a third server opened past max_db_connections"
        assert backends(pg, db="app") == 2
        a1.commit()  # its server goes idle in trustuser's pool: md5user's pool takes its place
        assert q.done.wait(5), "the waiting client of the other pool was not served"
        assert q.error is None, q.error
        assert backends(pg, db="app") <= 2
        assert "evicted" in p.log()
        q.close()
    finally:
        a1.close()
        a2.close()


def test_max_user_connections_spans_databases(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, {"default_pool_size": 5}, users={TRUST_USER: "max_user_connections=1"})
    holder = hold(p, user=TRUST_USER, dbname="app")
    try:
        q = Query(connect=lambda: p.connect(user=TRUST_USER, dbname="app2"))
        assert not q.done.wait(1.5), "a second server opened past max_user_connections"
        assert backends(pg, user=TRUST_USER) == 1
        holder.commit()
        assert q.done.wait(5) and q.error is None, q.error
        assert backends(pg, user=TRUST_USER) == 1
        q.close()
    finally:
        holder.close()
    if not h.REFERENCE:  # SHOW USERS has the limit columns since PgBouncer 1.24
        with console(p, user=TRUST_USER, password=None) as adm:
            row = show(adm, "USERS").one(name=TRUST_USER)
            assert row["max_user_connections"] == 1


@pytest.mark.pgfjord_only("max_db_client_connections came with PgBouncer 1.24")
def test_max_db_client_connections_refuses_the_next_client(pg, pgfjord):
    dbs = {"app": pg.connstr("app", max_db_client_connections=2), "app2": pg.connstr("app2")}
    p = trust_pooler(pg, pgfjord, databases=dbs)
    c1, c2 = p.connect(user=TRUST_USER), p.connect(user=TRUST_USER)
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(user=MD5_USER)
    assert "max_db_client_connections" in str(ei.value)
    # another database is not affected, and a freed slot is usable again
    with p.connect(user=TRUST_USER, dbname="app2") as c3:
        assert c3.execute("select 1").fetchone()[0] == 1
    c1.close()
    with p.connect(user=MD5_USER) as c4:
        assert c4.execute("select 1").fetchone()[0] == 1
    c2.close()
    with console(p, user=TRUST_USER, password=None) as adm:
        row = show(adm, "DATABASES").one(name="app")
        assert row["max_client_connections"] == 2


@pytest.mark.pgfjord_only("max_user_client_connections came with PgBouncer 1.24")
def test_max_user_client_connections_counts_every_database(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, users={TRUST_USER: "max_user_client_connections=2"})
    c1 = p.connect(user=TRUST_USER, dbname="app")
    c2 = p.connect(user=TRUST_USER, dbname="app2")
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(user=TRUST_USER, dbname="app")
    assert "max_user_client_connections" in str(ei.value)
    with p.connect(user=MD5_USER) as other:  # another user is not limited
        assert other.execute("select 1").fetchone()[0] == 1
    with console(p, user=MD5_USER, password=None) as adm:
        row = show(adm, "USERS").one(name=TRUST_USER)
        assert row["max_user_client_connections"] == 2
        assert row["current_client_connections"] == 2
    c2.close()
    with p.connect(user=TRUST_USER, dbname="app") as c3:
        assert c3.execute("select 1").fetchone()[0] == 1
    c1.close()


@pytest.mark.pgfjord_only("COMPAT.md: pool_size 0 = unlimited; PgBouncer 1.18 opens no server")
def test_pool_size_zero_means_unlimited(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, {"default_pool_size": 0})
    held = [hold(p, user=TRUST_USER) for _ in range(6)]
    try:
        assert backends(pg, user=TRUST_USER) == 6
    finally:
        for c in held:
            c.close()


@pytest.mark.pgfjord_only("[users] pool_size came with PgBouncer 1.23")
def test_users_pool_size_and_mode_follow_reload(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, {"default_pool_size": 5}, users={TRUST_USER: "pool_size=1"})
    holder = hold(p, user=TRUST_USER)
    waiter = p.connect(user=TRUST_USER)
    q = Query(waiter)
    try:
        assert not q.done.wait(1.5), "[users] pool_size=1 was not applied"
        p.users = {TRUST_USER: "pool_size=3 pool_mode=session"}
        p.write_config()
        with console(p, user=TRUST_USER, password=None) as adm:
            adm.execute("RELOAD")
            # a new server may open now: the waiting client is served without a commit
            assert q.done.wait(5) and q.error is None, q.error
            pools = show(adm, "POOLS").where(database="app", user=TRUST_USER)
            assert pools[0]["pool_mode"] == "session"
            assert show(adm, "USERS").one(name=TRUST_USER)["pool_size"] == "3"
    finally:
        holder.close()
        waiter.close()
