"""Pool modes: session, transaction and statement."""

import threading
import time

import psycopg
import pytest

from harness import MD5_PASS, MD5_USER, TRUST_USER


def trust_pooler(pg, pgfjord, **settings):
    ini = {"auth_type": "trust"}
    ini.update(settings)
    return pgfjord(ini, {"app": pg.connstr("app")}, {TRUST_USER: ""})


def backend_pid(conn):
    return conn.execute("select pg_backend_pid()").fetchone()[0]


def test_session_mode_keeps_server_and_runs_reset_query(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, pool_mode="session", default_pool_size=1)
    with p.connect(user=TRUST_USER, autocommit=False) as a:
        pids = set()
        for i in range(3):
            pids.add(backend_pid(a))
            a.commit()
        assert len(pids) == 1, pids
        a.execute("SET work_mem = '77MB'")
        a.commit()
        assert a.execute("show work_mem").fetchone()[0] == "77MB"
        a_pid = pids.pop()
    with p.connect(user=TRUST_USER) as b:
        # the only server connection is handed on, after server_reset_query (DISCARD ALL)
        assert backend_pid(b) == a_pid
        assert b.execute("show work_mem").fetchone()[0] == "4MB"


def test_session_mode_second_client_waits_for_the_first(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, pool_mode="session", default_pool_size=1)
    a = p.connect(user=TRUST_USER)
    a_pid = backend_pid(a)
    done, result = threading.Event(), {}

    def second():
        try:
            with p.connect(user=TRUST_USER) as b:
                result["pid"] = backend_pid(b)
        except Exception as e:  # pragma: no cover - reported below
            result["error"] = e
        done.set()

    t = threading.Thread(target=second, daemon=True)
    t.start()
    # the session holds the only server: the second client cannot be served meanwhile
    assert not done.wait(1.5), result
    a.close()
    assert done.wait(10), "second client not served after the first left"
    t.join(5)
    assert "error" not in result, result
    assert result["pid"] == a_pid


@pytest.mark.timeout(180)
def test_transaction_mode_50_clients_on_pool_of_2(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, pool_mode="transaction", default_pool_size=2,
                     max_client_conn=200)
    appname = "fjord_poolcheck"
    n_clients, n_xacts = 50, 5
    errors, pids, lock = [], set(), threading.Lock()
    start = threading.Barrier(n_clients + 1, timeout=60)
    stop_monitor = threading.Event()
    seen = []

    def client(i):
        try:
            with p.connect(user=TRUST_USER, application_name=appname, autocommit=False) as c:
                start.wait()
                for j in range(n_xacts):
                    cur = c.execute("select pg_backend_pid(), %s::int, pg_sleep(0.01)", (i,))
                    pid, echo, _ = cur.fetchone()
                    assert echo == i
                    c.execute("select 1")
                    c.commit()
                    with lock:
                        pids.add(pid)
        except Exception as e:
            start.abort()  # do not leave the others waiting at the barrier
            with lock:
                errors.append(f"client {i}: {e!r}")

    def monitor():
        with pg.admin("app") as adm:
            while not stop_monitor.is_set():
                n = adm.execute("select count(*) from pg_stat_activity "
                                "where application_name = %s", (appname,)).fetchone()[0]
                seen.append(n)
                time.sleep(0.02)

    mon = threading.Thread(target=monitor, daemon=True)
    mon.start()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n_clients)]
    for t in threads:
        t.start()
    try:
        start.wait()
    except threading.BrokenBarrierError:
        pass
    for t in threads:
        t.join(120)
    stop_monitor.set()
    mon.join(10)
    assert not any(t.is_alive() for t in threads), "some clients hung"
    assert errors == [], errors[:5]
    # every transaction ran on one of at most 2 server connections
    assert 1 <= len(pids) <= 2, pids
    assert seen and max(seen) <= 2, max(seen)
    assert max(seen) >= 1


@pytest.mark.parametrize("always,expected", [(1, "4MB"), (0, "77MB")],
                         ids=["reset_query_always", "no_reset"])
def test_transaction_mode_server_reset_query_always(pg, pgfjord, always, expected):
    """A plain SET inside a transaction persists on that server connection; with
    server_reset_query_always=1 the next client on the same server does not see it."""
    p = trust_pooler(pg, pgfjord, pool_mode="transaction", default_pool_size=1,
                     server_reset_query_always=always)
    with p.connect(user=TRUST_USER, autocommit=False) as a, \
            p.connect(user=TRUST_USER, autocommit=False) as b:
        a.execute("SET work_mem = '77MB'")
        a_pid = backend_pid(a)
        assert a.execute("show work_mem").fetchone()[0] == "77MB"
        a.commit()
        b_pid = backend_pid(b)
        value = b.execute("show work_mem").fetchone()[0]
        b.commit()
    assert a_pid == b_pid  # pool of one: the same server connection
    assert value == expected


def test_transaction_mode_shares_one_server_between_open_clients(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, pool_mode="transaction", default_pool_size=1)
    with p.connect(user=TRUST_USER, autocommit=False) as a, \
            p.connect(user=TRUST_USER, autocommit=False) as b:
        pids = set()
        for _ in range(5):
            for c in (a, b):
                pids.add(backend_pid(c))
                c.commit()
        assert len(pids) == 1, pids


def test_statement_mode_rejects_transaction_block(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, pool_mode="statement", default_pool_size=1)
    # single statements work, and two open clients share the one server
    with p.connect(user=TRUST_USER) as a, p.connect(user=TRUST_USER) as b:
        for _ in range(3):
            assert backend_pid(a) == backend_pid(b)
    # an explicit transaction block is refused with an error
    with p.wire() as w:
        w.login(TRUST_USER, "app")
        rows, err, _ = w.query("BEGIN")
        assert err is not None, rows
        assert "transaction blocks not allowed" in err["M"], err
    # the same through a driver that opens transactions implicitly
    with p.connect(user=TRUST_USER, autocommit=False) as c:
        with pytest.raises(psycopg.Error) as ei:
            c.execute("select 1")
            c.execute("select 2")
            c.commit()
    assert "transaction blocks not allowed" in str(ei.value)
    # the pooler still serves
    with p.connect(user=TRUST_USER) as c:
        assert c.execute("select 42").fetchone()[0] == 42


def test_users_section_overrides_pool_mode(pg, pgfjord):
    """[users] pool_mode applies to that user only."""
    p = pgfjord({"auth_type": "trust", "pool_mode": "transaction", "default_pool_size": 1},
                {"app": pg.connstr("app")}, {TRUST_USER: "", MD5_USER: MD5_PASS},
                users={TRUST_USER: "pool_mode=statement"})
    with p.wire() as w:
        w.login(TRUST_USER, "app")
        rows, err, _ = w.query("BEGIN")
        assert err is not None and "transaction blocks not allowed" in err["M"], (rows, err)
    # another user of the same database keeps transaction pooling
    with p.connect(user=MD5_USER, autocommit=False) as c:
        pid = backend_pid(c)
        assert backend_pid(c) == pid
        c.commit()
