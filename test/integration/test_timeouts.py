"""Client timeouts enforced by the pooler (issue #5, first part): client_login_timeout and
query_wait_timeout. Each ends the client with PgBouncer's text; the pooler keeps serving."""
import re
import socket
import threading
import time

import psycopg
import pytest

import harness as h
from harness import TRUST_USER


def trust_pooler(pg, pgfjord, **settings):
    ini = {"auth_type": "trust", "pool_mode": "transaction"}
    ini.update(settings)
    return pgfjord(ini, {"app": pg.connstr("app")}, {TRUST_USER: ""})


def test_client_login_timeout_drops_a_silent_connection(pg, pgfjord):
    # With TCP_DEFER_ACCEPT the kernel itself holds a silent connection (45 s) before the
    # pooler ever sees it; without it, the pooler's own timeout is what ends it.
    p = trust_pooler(pg, pgfjord, client_login_timeout=1, tcp_defer_accept=0)
    s = socket.create_connection((p.host, p.port), timeout=10)
    try:
        t0 = time.monotonic()
        s.settimeout(8)
        data = b""
        while True:  # the pooler may say why before it closes; then EOF
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        waited = time.monotonic() - t0
    finally:
        s.close()
    assert 0.8 <= waited < 6, waited
    if data:  # an ErrorResponse naming the timeout
        assert data[:1] == b"E" and b"client_login_timeout" in data, data
    # everybody else is still served
    with p.connect(user=TRUST_USER) as c:
        assert c.execute("select 1").fetchone()[0] == 1


def test_query_wait_timeout_ends_a_client_waiting_for_a_server(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, default_pool_size=1, query_wait_timeout=1)
    with p.connect(user=TRUST_USER, autocommit=False) as holder:
        holder.execute("select 1")  # holds the only server inside a transaction
        with p.connect(user=TRUST_USER) as waiter:
            t0 = time.monotonic()
            with pytest.raises(psycopg.OperationalError) as ei:
                waiter.execute("select 1")
            waited = time.monotonic() - t0
        assert "query_wait_timeout" in str(ei.value)
        assert 0.8 <= waited < 6, waited
        holder.commit()
    # the pool is fine afterwards
    with p.connect(user=TRUST_USER) as c:
        assert c.execute("select 2").fetchone()[0] == 2


def expect_closed_with(conn, sql, text, within):
    t0 = time.monotonic()
    with pytest.raises(psycopg.OperationalError) as ei:
        conn.execute(sql)
        conn.execute("select 1")  # the error may only surface on the next round trip
    assert re.search(text, str(ei.value)), str(ei.value)
    return time.monotonic() - t0


@pytest.mark.pgfjord_only("client_idle_timeout came with PgBouncer 1.24")
def test_client_idle_timeout_drops_an_idle_client(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, client_idle_timeout=1)
    with p.connect(user=TRUST_USER) as idle, p.connect(user=TRUST_USER) as busy:
        idle.execute("select 1")
        for _ in range(8):  # the busy client keeps working meanwhile and is never dropped
            busy.execute("select 1")
            time.sleep(0.3)
        expect_closed_with(idle, "select 1", "client_idle_timeout", 5)
        assert busy.execute("select 2").fetchone()[0] == 2


def test_idle_transaction_timeout_ends_the_transaction(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, idle_transaction_timeout=1, default_pool_size=1)
    with p.connect(user=TRUST_USER, autocommit=False) as c:
        c.execute("select 1")  # a transaction is open and idle now
        time.sleep(2.5)
        expect_closed_with(c, "select 1", "idle transaction timeout", 5)
    # the only server was closed, not handed on inside the transaction: a new one serves
    with p.connect(user=TRUST_USER) as c2:
        assert c2.execute("select txid_current_if_assigned() is null").fetchone()[0]


def test_query_timeout_stops_a_long_query(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, query_timeout=1)
    with p.connect(user=TRUST_USER) as c:
        # COMPAT.md's text is query_timeout; PgBouncer 1.18 says "query timeout"
        waited = expect_closed_with(c, "select pg_sleep(10)", "query[_ ]timeout", 8)
        assert waited < 6, waited
    if not h.REFERENCE:  # pgfjord also cancels the query on PostgreSQL
        deadline = time.monotonic() + 3
        while pg.execute("select count(*) from pg_stat_activity where query = 'select pg_sleep(10)' "
                         "and state = 'active'")[0][0] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pg.execute("select count(*) from pg_stat_activity where query = 'select pg_sleep(10)' "
                          "and state = 'active'")[0][0] == 0
    with p.connect(user=TRUST_USER) as c2:
        assert c2.execute("select 1").fetchone()[0] == 1


def backends(pg):
    # a pg_sleep left over from the query_timeout test (PgBouncer does not cancel it) is not ours
    return pg.execute("select count(*) from pg_stat_activity where usename = %s "
                      "and query not like '%%pg_sleep%%'", (TRUST_USER,))[0][0]


def test_reserve_pool_opens_after_reserve_pool_timeout_and_not_beyond(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, default_pool_size=1, reserve_pool_size=1, reserve_pool_timeout=1)
    with p.connect(user=TRUST_USER, autocommit=False) as holder:
        holder.execute("select 1")  # the pool's only regular server, held in a transaction
        with p.connect(user=TRUST_USER, autocommit=False) as second, \
                p.connect(user=TRUST_USER, autocommit=False) as third:
            t0 = time.monotonic()
            second.execute("select 1")  # waits until the reserve opens
            waited = time.monotonic() - t0
            assert 0.8 <= waited < 5, waited
            assert "taking connection from reserve_pool" in p.log()
            # the second now holds the reserve server too: a third client has to wait,
            # the pool never goes past pool_size + reserve_pool_size
            done = threading.Event()
            threading.Thread(target=lambda: (third.execute("select 1"), done.set()), daemon=True).start()
            assert not done.wait(2.5), "a third server was opened past pool_size + reserve_pool_size"
            assert backends(pg) <= 2
            second.commit()
            assert done.wait(5), "the third client did not get the released server"
            third.commit()
        holder.commit()


def pooler_with_levels(pg, pgfjord, settings=None, app2=None, users=None):
    """app with the global values, app2 with its own connect-string values; [users] as given."""
    ini = {"auth_type": "trust", "pool_mode": "transaction", "default_pool_size": 1}
    ini.update(settings or {})
    dbs = {"app": pg.connstr("app"), "app2": pg.connstr("app2", **(app2 or {}))}
    return pgfjord(ini, dbs, {TRUST_USER: "", h.MD5_USER: h.MD5_PASS}, users)


def wait_error(p, dbname, user=TRUST_USER):
    """A client that waits for the only server of its pool, held by another client meanwhile;
    returns (seconds waited, the error or None)."""
    with p.connect(user=user, dbname=dbname, autocommit=False) as holder:
        holder.execute("select 1")
        with p.connect(user=user, dbname=dbname) as waiter:
            t0 = time.monotonic()
            try:
                waiter.execute("select 1")
                err = None
            except psycopg.OperationalError as e:
                err = e
            waited = time.monotonic() - t0
            holder.commit()
    return waited, err


@pytest.mark.pgfjord_only("query_wait_timeout per database and per user came with PgBouncer 1.26")
def test_query_wait_timeout_per_database_and_per_user(pg, pgfjord):
    p = pooler_with_levels(pg, pgfjord, {"query_wait_timeout": 60}, app2={"query_wait_timeout": 1},
                           users={h.MD5_USER: "query_wait_timeout=1"})
    waited, err = wait_error(p, "app2")  # the database's value wins over the global one
    assert err is not None and "query_wait_timeout" in str(err), err
    assert waited < 5, waited
    waited, err = wait_error(p, "app", user=h.MD5_USER)  # the user's value, on app
    assert err is not None and "query_wait_timeout" in str(err), err
    assert waited < 5, waited


@pytest.mark.pgfjord_only("query_wait_notify came with PgBouncer 1.25")
def test_query_wait_notify_tells_a_queued_client(pg, pgfjord):
    p = pooler_with_levels(pg, pgfjord, {"query_wait_notify": 1, "query_wait_timeout": 30})
    notices = []
    with p.connect(user=TRUST_USER, autocommit=False) as holder:
        holder.execute("select 1")
        with p.connect(user=TRUST_USER) as waiter:
            waiter.add_notice_handler(lambda d: notices.append(d.message_primary))
            release = threading.Timer(2.5, holder.commit)
            release.start()
            t0 = time.monotonic()
            assert waiter.execute("select 7").fetchone()[0] == 7  # still served afterwards
            assert time.monotonic() - t0 >= 2
            release.join()
    assert len(notices) == 1, notices
    assert "query_wait_notify" in notices[0] and "queued" in notices[0], notices


@pytest.mark.pgfjord_only("transaction_timeout came with PgBouncer 1.25")
def test_transaction_timeout_ends_a_busy_transaction(pg, pgfjord):
    # Never idle long enough for idle_transaction_timeout, yet too long in all.
    p = trust_pooler(pg, pgfjord, transaction_timeout=1.5, idle_transaction_timeout=10)
    with p.connect(user=TRUST_USER, autocommit=False) as c:
        with pytest.raises(psycopg.OperationalError) as ei:
            for _ in range(30):
                c.execute("select 1")
                time.sleep(0.2)
        assert "transaction timeout" in str(ei.value)
    with p.connect(user=TRUST_USER) as c2:  # short transactions are fine
        for _ in range(5):
            c2.execute("select 1")
        time.sleep(2)
        assert c2.execute("select 2").fetchone()[0] == 2


@pytest.mark.pgfjord_only("[users] query_timeout came with PgBouncer 1.24")
def test_users_query_timeout_and_idle_transaction_timeout(pg, pgfjord):
    p = pooler_with_levels(pg, pgfjord, users={h.MD5_USER: "query_timeout=1 idle_transaction_timeout=1"})
    with p.connect(user=h.MD5_USER) as c:
        assert expect_closed_with(c, "select pg_sleep(10)", "query_timeout", 8) < 6
    with p.connect(user=h.MD5_USER, autocommit=False) as c:
        c.execute("select 1")
        time.sleep(2.5)
        expect_closed_with(c, "select 1", "idle transaction timeout", 5)
    with p.connect(user=TRUST_USER) as other:  # no timeout for the other user
        assert other.execute("select pg_sleep(1.5), 3").fetchone()[1] == 3


@pytest.mark.pgfjord_only("[users] client_idle_timeout came with PgBouncer 1.24")
def test_users_client_idle_timeout(pg, pgfjord):
    p = pooler_with_levels(pg, pgfjord, users={h.MD5_USER: "client_idle_timeout=1"})
    with p.connect(user=h.MD5_USER) as idle, p.connect(user=TRUST_USER) as other:
        idle.execute("select 1")
        other.execute("select 1")
        time.sleep(2.5)
        expect_closed_with(idle, "select 1", "client_idle_timeout", 5)
        assert other.execute("select 1").fetchone()[0] == 1
