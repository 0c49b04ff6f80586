"""Recovery from server failure (issue #5): PostgreSQL restarted, backends killed, the server
unreachable (a closed port), a server that stops answering mid-query.

In every case the pooler keeps running (same process, no RELOAD, no restart, no sanitizer
report): a client inside a transaction gets an error saying its server connection was lost,
waiting clients get a server on their next attempt, no dead or half-used server is handed out,
and the pool refills by itself once PostgreSQL is back.

These tests stop and start PostgreSQL, so they run against a cluster of their own (module
scope), never the session's shared one.
"""

import os
import re
import signal
import socket
import subprocess
import threading
import time

import psycopg
import pytest

import harness as h
from admin_helpers import show_rows
from harness import TRUST_USER

PGBENCH = str(h.PG_BINDIR / "pgbench")
ADMIN = "fjadmin"
POOL_SIZE = 3
QUERY_WAIT_TIMEOUT = 4
# When the server cannot be reached, pgfjord hands the failed login to the waiting clients at
# once (COMPAT.md, "Reserve pool rules"); PgBouncer 1.18 lets a client wait out
# query_wait_timeout. Either way no client hangs.
ERROR_WITHIN = QUERY_WAIT_TIMEOUT + 2 if h.REFERENCE else 3


# --------------------------------------------------------------------------------------------
# fixtures and helpers

@pytest.fixture(scope="module")
def fpg():
    """A PostgreSQL cluster for this module only, with the usual roles, databases app/app2 and
    a pgbench database (scale 1) readable by everybody."""
    cluster = h.PgCluster()
    try:
        cluster.init()
        cluster.start()
        cluster.setup_roles()
        cluster.execute("create database bench")
        r = subprocess.run([PGBENCH, "-i", "-s", "1", "-q", "-h", str(cluster.sockdir), "-p",
                            str(cluster.port), "-U", "postgres", "bench"],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
        cluster.execute("grant select on all tables in schema public to public", dbname="bench")
        yield cluster
    finally:
        cluster.stop()
        cluster.cleanup()


@pytest.fixture(autouse=True)
def pg_running(fpg):
    """Every test starts (and a failed one leaves the next) with PostgreSQL up."""
    if fpg.proc is None:
        fpg.start()
    yield
    if fpg.proc is None:
        fpg.start()


def pg_stop(cluster, mode="fast"):
    """Stop PostgreSQL: fast (SIGINT: sessions are terminated with FATAL 57P01) or immediate
    (SIGQUIT: backends quit at once). The data directory and port stay, so start() brings the
    same server back."""
    if mode == "fast":
        cluster.stop()
        return
    os.kill(cluster.pid, signal.SIGQUIT)
    cluster.proc.wait(timeout=30)
    cluster.proc = None


def fault_pooler(cluster, pgfjord, databases=None, **settings):
    ini = {"auth_type": "trust", "pool_mode": "transaction", "default_pool_size": POOL_SIZE,
           "admin_users": ADMIN, "server_login_retry": 1, "server_connect_timeout": 2,
           "query_wait_timeout": QUERY_WAIT_TIMEOUT, "max_client_conn": 100}
    ini.update(settings)
    dbs = databases if databases is not None else {
        "app": cluster.connstr("app"), "app2": cluster.connstr("app2"),
        "bench": cluster.connstr("bench")}
    return pgfjord(ini, dbs, {TRUST_USER: "", ADMIN: ""})


def connect(p, dbname="app", autocommit=True, **kw):
    kw.setdefault("connect_timeout", 5)
    return p.connect(user=TRUST_USER, dbname=dbname, autocommit=autocommit, **kw)


def show(p, what):
    return show_rows(p, what, user=ADMIN, password=None, connect_timeout=5)


def pool_backends(cluster, dbname="app"):
    """PIDs of the pooler's server connections on PostgreSQL."""
    return {r[0] for r in cluster.execute(
        "select pid from pg_stat_activity where usename = %s and datname = %s "
        "and backend_type = 'client backend'", (TRUST_USER, dbname))}


def server_pids(p, dbname="app"):
    """remote_pid of every server connection SHOW SERVERS lists for dbname."""
    return {int(r["remote_pid"]) for r in show(p, "SERVERS") if r["database"] == dbname}


def wait_for(pred, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last={last!r}")
        time.sleep(interval)


# What PostgreSQL says when it ends a session (57P01 terminated / shutting down, 57P02 crash of
# another process, 57P03 starting up or shutting down), and what the pooler says when the
# server connection is lost or cannot be made. libpq's own "server closed the connection
# unexpectedly" alone does not count: somebody must have said why.
LOST_TEXT = (r"terminating connection|server conn crashed|server connection failed|"
             r"server login|database system is (shutting down|starting up|in recovery)|"
             r"cannot connect to server")
if h.REFERENCE:  # PgBouncer 1.18 lets a client wait for an unreachable server
    LOST_TEXT += "|query_wait_timeout"


def lost_connection_error(e):
    """True if a psycopg error says the server connection was lost."""
    return bool(re.search(LOST_TEXT, str(e), re.I))


def query_ok(p, dbname="app"):
    """One client, one transaction: the server it gets is alive and not inside a transaction
    left over by somebody else."""
    with connect(p, dbname) as c:
        row = c.execute("select 1, txid_current_if_assigned() is null, "
                        "pg_backend_pid()").fetchone()
        assert row[0] == 1 and row[1] is True, row
        return row[2]


def wait_serving(p, timeout, dbname="app"):
    """Seconds until a new client's query succeeds through the pooler (polling, no RELOAD)."""
    t0 = time.monotonic()
    errors = []

    def attempt():
        try:
            query_ok(p, dbname)
            return True
        except psycopg.Error as e:
            errors.append(str(e).strip())
            return False

    wait_for(attempt, timeout, f"the pooler to serve {dbname} again (errors: {errors[-3:]})",
             interval=0.2)
    return time.monotonic() - t0


def assert_healthy(p, pid, pool_size=POOL_SIZE, clients_gone=True):
    """Same process, alive, nothing alarming in its output, SHOW POOLS within bounds."""
    assert p.alive(), f"pooler died:\n{p.log()[-3000:]}"
    assert p.pid == pid
    out = p.output()
    assert not h.sanitizer_reports(out), out[-5000:]
    assert not re.search(r"assert(ion)? fail|Assertion .* failed|\bpanic\b", out, re.I), \
        out[-3000:]
    for row in show(p, "POOLS"):
        if row["database"] == "pgbouncer":
            continue
        counts = {k: int(row[k]) for k in ("cl_active", "cl_waiting", "sv_active", "sv_idle",
                                            "sv_used", "sv_tested", "sv_login")}
        assert all(0 <= v < 1000 for v in counts.values()), row
        servers = sum(v for k, v in counts.items() if k.startswith("sv_"))
        assert servers <= pool_size, row
        assert 0 <= int(row["maxwait"]) < 60, row
        if clients_gone:
            assert counts["cl_waiting"] == 0 and counts["sv_active"] == 0, row


class FreezeProxy:
    """A TCP forwarder 127.0.0.1:port -> target.  Until start() nothing listens on port (a
    closed port).  freeze() stops forwarding, in both directions, on the connections open at
    that moment: a server that stops answering, with its TCP connection still up.  Connections
    made later flow normally, unless freeze_new is set: then they are accepted and left silent
    (a server that takes the TCP connection and never answers the startup packet)."""

    def __init__(self, target_port, target_host="127.0.0.1"):
        self.port = h.free_port()
        self.target = (target_host, target_port)
        self.lsock = None
        self.conns = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = []
        self.freeze_new = False

    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.settimeout(0.1)
        self.lsock = s
        self._thread(self._accept)
        return self

    def _thread(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self.threads.append(t)

    def _accept(self):
        while not self.stopping.is_set():
            try:
                a, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                b = socket.create_connection(self.target, timeout=5)
            except OSError:
                a.close()
                continue
            for s in (a, b):
                s.settimeout(0.1)
            conn = {"socks": (a, b), "frozen": self.freeze_new}
            with self.lock:
                self.conns.append(conn)
            self._thread(self._pump, conn, a, b)
            self._thread(self._pump, conn, b, a)

    def _pump(self, conn, src, dst):
        try:
            while not self.stopping.is_set():
                if conn["frozen"]:
                    time.sleep(0.05)
                    continue
                try:
                    data = src.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in conn["socks"]:
                try:
                    s.close()
                except OSError:
                    pass

    def freeze(self):
        with self.lock:
            for conn in self.conns:
                conn["frozen"] = True
            return len(self.conns)

    def thaw_new(self):
        """New connections flow again (those frozen so far stay frozen)."""
        self.freeze_new = False

    def stop(self):
        self.stopping.set()
        if self.lsock is not None:
            self.lsock.close()
        with self.lock:
            for conn in self.conns:
                for s in conn["socks"]:
                    try:
                        s.close()
                    except OSError:
                        pass
        for t in self.threads:
            t.join(2)


@pytest.fixture
def proxies():
    made = []
    yield made
    for px in made:
        px.stop()


# --------------------------------------------------------------------------------------------
# killed backends

@pytest.mark.timeout(60)
def test_killed_idle_servers_are_dropped_and_replaced(fpg, pgfjord):
    p = fault_pooler(fpg, pgfjord)
    pid = p.pid
    # fill the pool: three clients in a transaction at once, then all three servers go idle
    conns = [connect(p, autocommit=False) for _ in range(POOL_SIZE)]
    used = {c.execute("select pg_backend_pid()").fetchone()[0] for c in conns}
    for c in conns:
        c.commit()
        c.close()
    assert len(used) == POOL_SIZE
    wait_for(lambda: server_pids(p) == used, 5, "three idle servers in SHOW SERVERS")
    assert used <= pool_backends(fpg)

    rows = fpg.execute("select pid, pg_terminate_backend(pid) from unnest(%s::int[]) as pid",
                       (list(used),))
    assert all(ok for _, ok in rows), rows
    killed = {pid for pid, _ in rows}
    wait_for(lambda: not (pool_backends(fpg) & killed), 5, "the killed backends to exit")
    # the pooler notices the closed idle servers by itself and forgets them. (A query that
    # reaches an idle server in the moment between the kill and the pooler reading the
    # backend's FATAL gets that FATAL, 57P01, passed through; PgBouncer alike. Not tested:
    # no pooler can close that window without a round trip before every hand-out.)
    wait_for(lambda: not (server_pids(p) & killed), 3, "SHOW SERVERS to drop the killed servers")

    # every client after that gets a live server, never an error from a dead one
    served = set()
    for _ in range(2 * POOL_SIZE):
        served.add(query_ok(p))
    assert not (served & killed), (served, killed)
    assert server_pids(p) <= pool_backends(fpg)
    assert "server conn crashed?" in p.log() or h.REFERENCE
    assert_healthy(p, pid)


def read_to_eof(w, timeout):
    """Every message until the peer closes; AssertionError if it does not within timeout."""
    msgs = []
    deadline = time.monotonic() + timeout
    w.sock.settimeout(timeout)
    while time.monotonic() < deadline:
        try:
            m = w.read_msg()
        except socket.timeout:
            break
        except OSError:  # reset: closed
            return msgs
        if m is None:
            return msgs
        msgs.append(m)
    raise AssertionError(f"connection not closed within {timeout} s; got {msgs}")


@pytest.mark.timeout(60)
def test_backend_killed_inside_a_transaction(fpg, pgfjord):
    p = fault_pooler(fpg, pgfjord, default_pool_size=1)
    pid = p.pid
    victim = p.wire()
    victim.login(TRUST_USER, "app")
    rows, err, msgs = victim.query("begin; select pg_backend_pid()")  # holds the only server
    assert err is None and msgs[-1] == (b"Z", b"T"), msgs
    backend = int(rows[0][0])

    # a second client waits for the pool's only server meanwhile
    result = {}

    def waiter():
        try:
            result["pid"] = query_ok(p)
        except Exception as e:  # reported by the asserts below
            result["error"] = e

    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    wait_for(lambda: any(int(r["cl_waiting"]) == 1 for r in show(p, "POOLS")
                         if r["database"] == "app"), 5, "the second client to wait")

    assert fpg.execute("select pg_terminate_backend(%s)", (backend,))[0][0] is True
    # the client in the transaction is told, without asking, and disconnected: PostgreSQL's
    # FATAL passes through, and/or the pooler's own error of class 08 follows
    msgs = read_to_eof(victim, 5)
    victim.close()
    errors = [h.parse_fields(body) for typ, body in msgs if typ == b"E"]
    assert errors, msgs
    assert all(e.get("C") == "57P01" or e.get("C", "").startswith("08") for e in errors), errors
    assert any(re.search(r"terminat|server conn", e.get("M", ""), re.I) for e in errors), errors

    # the waiting client gets a (new) server for its attempt; so does a new client
    t.join(10)
    assert "error" not in result, result
    assert result.get("pid") not in (None, backend), result
    assert query_ok(p) != backend
    assert backend not in server_pids(p)
    assert_healthy(p, pid, pool_size=1)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", ["terminate", "query_timeout"])
def test_server_lost_while_streaming_a_large_result(fpg, pgfjord, fault):
    """The server is lost (killed, or closed by query_timeout) in the middle of a message the
    pooler streams to a client that reads slowly: the client's connection ends in bounded
    time, the pooler frees both sides."""
    settings = {"query_timeout": 2} if fault == "query_timeout" else {}
    p = fault_pooler(fpg, pgfjord, default_pool_size=1, **settings)
    pid = p.pid
    w = p.wire()
    w.login(TRUST_USER, "app")
    w.send_msg(b"Q", b"select repeat('x', 64 * 1024 * 1024)\0")  # and do not read
    sql = "select repeat('x', 64 * 1024 * 1024)"
    backend = wait_for(lambda: [r[0] for r in fpg.execute(
        "select pid from pg_stat_activity where query = %s and wait_event = 'ClientWrite'",
        (sql,))], 10, "the backend to block writing the result")[0]
    if fault == "terminate":
        assert fpg.execute("select pg_terminate_backend(%s)", (backend,))[0][0] is True
    wait_for(lambda: not pool_backends(fpg) & {backend}, 8, "the backend to exit")
    # drain: part of the row arrives, then the connection must end
    deadline = time.monotonic() + 10
    w.sock.settimeout(1)
    head, got, stray, closed = b"", 0, 0, False
    while time.monotonic() < deadline and not closed:
        try:
            chunk = w.sock.recv(1 << 20)
        except socket.timeout:
            continue
        except OSError:
            chunk = b""
        closed = not chunk
        got += len(chunk)
        if head is not None:
            head += chunk
            if len(head) < 5 or len(head) < 1 + int.from_bytes(head[1:5], "big") + 11:
                continue
            # RowDescription, then the DataRow's header: 1 column of 64 MiB
            assert head[:1] == b"T", head[:64]
            row = head[1 + int.from_bytes(head[1:5], "big"):]
            assert row[:1] == b"D", row[:16]
            assert int.from_bytes(row[7:11], "big") == 64 * 1024 * 1024, row[:16]
            chunk, head = row[11:], None
        stray += len(chunk) - chunk.count(b"x")
    w.close()
    assert closed, f"client connection still open after the server died ({got} bytes read)"
    assert got < 64 * 1024 * 1024, got
    if not h.REFERENCE:
        # nothing but the row's own bytes: an ErrorResponse cannot follow part of a message
        # (it would be read as the row's data); the client sees the connection close
        assert stray == 0, f"{stray} bytes that are not the row's came inside the DataRow"
    assert query_ok(p) != backend
    assert backend not in server_pids(p)
    assert_healthy(p, pid, pool_size=1)


@pytest.mark.timeout(60)
def test_backend_crash_resets_postgres_and_the_pool_recovers(fpg, pgfjord):
    """A backend killed by SIGKILL makes the postmaster end every session (57P02) and
    reinitialize by itself; the pooler drops all its servers and refills without RELOAD."""
    p = fault_pooler(fpg, pgfjord)
    pid = p.pid
    conns = [connect(p, autocommit=False) for _ in range(POOL_SIZE)]
    backends = [c.execute("select pg_backend_pid()").fetchone()[0] for c in conns]
    conns[0].commit()  # one server idle, two inside transactions
    os.kill(backends[1], signal.SIGKILL)
    # The postmaster ends the other sessions on its own time: wait until it has, or a
    # query could still be answered by a backend about to go (a race of the test).
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{b}") for b in backends) and time.monotonic() < deadline:
        time.sleep(0.05)
    for c in conns[1:]:
        t0 = time.monotonic()
        with pytest.raises(psycopg.OperationalError) as ei:
            c.execute("select 1")
            c.execute("select 1")
        assert time.monotonic() - t0 < ERROR_WITHIN
        assert lost_connection_error(ei.value), ei.value
    for c in conns:
        c.close()
    assert fpg.proc.poll() is None  # the same postmaster, back after its crash recovery
    waited = wait_serving(p, 15)
    assert waited < 10, waited
    served = {query_ok(p) for _ in range(2 * POOL_SIZE)}
    assert not served & set(backends), (served, backends)
    assert server_pids(p) <= pool_backends(fpg)
    assert_healthy(p, pid)


# --------------------------------------------------------------------------------------------
# PostgreSQL stopped and started

def run_pgbench(p, seconds, clients=10, wait=True):
    env = dict(os.environ, PGCONNECT_TIMEOUT="5")
    cmd = [PGBENCH, "-n", "-S", "-c", str(clients), "-j", "2", "-T", str(seconds),
           "-h", p.host, "-p", str(p.port), "-U", TRUST_USER, "bench"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, stdin=subprocess.DEVNULL)
    if not wait:
        return proc
    out, err = proc.communicate(timeout=seconds + 30)
    return proc.returncode, out, err


@pytest.mark.timeout(90)
def test_postgres_restart_under_pgbench(fpg, pgfjord):
    p = fault_pooler(fpg, pgfjord, default_pool_size=5)
    pid = p.pid
    bench = run_pgbench(p, 7, wait=False)
    try:
        time.sleep(2)
        assert bench.poll() is None, bench.communicate()
        pg_stop(fpg, "fast")
        time.sleep(1)
        # while PostgreSQL is down a client gets an error, in bounded time, not a hang
        t0 = time.monotonic()
        with pytest.raises(psycopg.OperationalError) as ei:
            query_ok(p, "bench")
        assert time.monotonic() - t0 < 5
        assert lost_connection_error(ei.value), ei.value
        fpg.start()
        out, err = bench.communicate(timeout=40)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.communicate(timeout=10)
    # pgbench's clients that met the outage abort; pgbench itself ends on time
    assert bench.returncode in (0, 2), (bench.returncode, out, err)

    # no RELOAD, no restart: the pool refills as soon as clients ask again
    waited = wait_serving(p, 8, "bench")
    assert waited < 5, waited
    rc, out, err = run_pgbench(p, 3)
    assert rc == 0, out + err
    failed = re.search(r"number of failed transactions: (\d+)", out)
    assert failed is None or int(failed.group(1)) == 0, out
    assert int(re.search(r"actually processed: (\d+)", out).group(1)) > 0, out
    assert len(pool_backends(fpg, "bench")) <= 5
    assert server_pids(p, "bench") <= pool_backends(fpg, "bench")
    assert_healthy(p, pid, pool_size=5)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_query_in_progress_when_postgres_stops(fpg, pgfjord, mode):
    p = fault_pooler(fpg, pgfjord)
    pid = p.pid
    with connect(p) as c:
        box = {}

        def long_query():
            t0 = time.monotonic()
            try:
                c.execute("select pg_sleep(5)")
                box["done"] = True
            except psycopg.Error as e:
                box["error"] = e
            box["end"] = time.monotonic()
            box["took"] = box["end"] - t0

        t = threading.Thread(target=long_query, daemon=True)
        t.start()
        wait_for(lambda: fpg.execute("select count(*) from pg_stat_activity where "
                                     "query = 'select pg_sleep(5)' and state = 'active'")[0][0],
                 5, "the query to run on PostgreSQL")
        stopped = time.monotonic()
        pg_stop(fpg, mode)
        t.join(10)
        assert not t.is_alive(), "the client still waits for its query"
        assert "error" in box, box
        assert box["end"] - stopped < 3, box
        assert lost_connection_error(box["error"]), box["error"]
    fpg.start()
    waited = wait_serving(p, 8)
    assert waited < 5, waited
    for _ in range(POOL_SIZE + 1):
        query_ok(p)
    assert_healthy(p, pid)


@pytest.mark.timeout(60)
def test_postgres_down_clients_get_errors_then_recover_without_reload(fpg, pgfjord):
    p = fault_pooler(fpg, pgfjord)
    pid = p.pid
    query_ok(p)  # the pool has logged in once and has an idle server
    idle = connect(p)  # a logged-in client that has no server between transactions
    pg_stop(fpg, "fast")

    # clients, old and new, get an error quickly; none hangs
    errors = []
    for attempt in range(3):
        for old in (True, False):
            if old and idle.closed:
                continue
            t0 = time.monotonic()
            try:
                if old:
                    idle.execute("select 1")
                else:
                    query_ok(p)
                raise AssertionError("a query succeeded with PostgreSQL down")
            except psycopg.OperationalError as e:
                errors.append(e)
            assert time.monotonic() - t0 < ERROR_WITHIN
        time.sleep(0.5)
    assert all(lost_connection_error(e) for e in errors), [str(e) for e in errors]
    idle.close()

    fpg.start()
    waited = wait_serving(p, 8)
    assert waited < 5, waited
    # several clients at once: each gets a server of the refilled pool
    results = []

    def worker():
        try:
            for _ in range(5):
                query_ok(p)
            results.append("ok")
        except Exception as e:
            results.append(e)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results == ["ok"] * 6, results
    assert_healthy(p, pid)


# --------------------------------------------------------------------------------------------
# the server unreachable

@pytest.mark.timeout(60)
def test_closed_port_gives_errors_then_recovers_when_it_opens(fpg, pgfjord, proxies):
    px = FreezeProxy(fpg.port)  # nothing listens on px.port yet
    proxies.append(px)
    p = fault_pooler(fpg, pgfjord, databases={
        "app": f"host=127.0.0.1 port={px.port} dbname=app", "app2": fpg.connstr("app2")})
    pid = p.pid

    # several clients at once: every one gets a connection error in bounded time (raw
    # protocol clients, to see the SQLSTATE: libpq keeps it from a failed connect)
    results = []

    def attempt():
        t0 = time.monotonic()
        try:
            with p.wire(timeout=10) as w:
                status, detail = w.try_login(TRUST_USER, "app")
                if status == "ok":
                    rows, err, _ = w.query("select 1")
                    status, detail = ("error", err) if err else ("ok", rows)
        except OSError as e:
            status, detail = "socket", e
        results.append((status, detail, time.monotonic() - t0))

    threads = [threading.Thread(target=attempt, daemon=True) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert len(results) == 5, results
    for status, detail, took in results:
        assert status == "error" and took < ERROR_WITHIN, results
        assert detail.get("C", "").startswith("08"), detail
    # a broken database does not disturb the others
    query_ok(p, "app2")

    # something listens there now (a forwarder to PostgreSQL): no RELOAD, the next attempts
    # after server_login_retry succeed
    px.start()
    waited = wait_serving(p, 8)
    assert waited < 5, waited
    for _ in range(POOL_SIZE + 1):
        query_ok(p)
    assert_healthy(p, pid)


# --------------------------------------------------------------------------------------------
# a server that stops answering

@pytest.mark.timeout(60)
def test_server_that_never_answers_the_login(fpg, pgfjord, proxies):
    """The TCP connection is accepted but the startup packet is never answered: the login
    gives up after server_connect_timeout, the clients get an error, nobody hangs; once the
    server answers again the pool fills without RELOAD."""
    px = FreezeProxy(fpg.port)
    px.freeze_new = True
    px.start()
    proxies.append(px)
    p = fault_pooler(fpg, pgfjord, databases={
        "app": f"host=127.0.0.1 port={px.port} dbname=app", "app2": fpg.connstr("app2")})
    pid = p.pid
    results = []

    def attempt():
        t0 = time.monotonic()
        try:
            with p.wire(timeout=15) as w:
                status, detail = w.try_login(TRUST_USER, "app")
        except OSError as e:
            status, detail = "socket", e
        results.append((status, detail, time.monotonic() - t0))

    threads = [threading.Thread(target=attempt, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(results) == 3, results
    # server_connect_timeout is 2 s (PgBouncer 1.18: the clients wait out query_wait_timeout)
    within = ERROR_WITHIN if h.REFERENCE else 2 + 1.5
    for status, detail, took in results:
        assert status == "error" and took < within, results
        assert detail.get("C", "").startswith("08"), detail
    query_ok(p, "app2")

    px.thaw_new()
    waited = wait_serving(p, 10)
    assert waited < 6, waited
    for _ in range(POOL_SIZE + 1):
        query_ok(p)
    assert_healthy(p, pid)


@pytest.mark.timeout(60)
def test_server_that_stops_answering_mid_query(fpg, pgfjord, proxies):
    px = FreezeProxy(fpg.port).start()
    proxies.append(px)
    p = fault_pooler(fpg, pgfjord, default_pool_size=1, query_timeout=2, databases={
        "app": f"host=127.0.0.1 port={px.port} dbname=app"})
    pid = p.pid
    query_ok(p)
    with connect(p) as c:
        box = {}

        def long_query():
            try:
                c.execute("select pg_sleep(1)")
                box["done"] = True
            except psycopg.Error as e:
                box["error"] = e
            box["end"] = time.monotonic()

        t0 = time.monotonic()
        t = threading.Thread(target=long_query, daemon=True)
        t.start()
        wait_for(lambda: fpg.execute("select count(*) from pg_stat_activity where "
                                     "query = 'select pg_sleep(1)' and state = 'active'")[0][0],
                 5, "the query to run on PostgreSQL")
        assert px.freeze() >= 1  # the answer, due in a second, never comes through
        t.join(10)
        assert not t.is_alive(), "the client still waits for a server that stopped answering"
        assert "error" in box, box
        took = box["end"] - t0
        assert 1.5 < took < 5, took
        assert re.search(r"query[_ ]timeout", str(box["error"])), str(box["error"])

    # the frozen server is gone from the pool; the pool's only slot serves the next client
    # (a new connection through the proxy, which forwards new connections)
    waited = wait_serving(p, 6)
    assert waited < 4, waited
    assert_healthy(p, pid, pool_size=1)


# --------------------------------------------------------------------------------------------
# a cancel request the server never answers

@pytest.mark.pgfjord_only("PgBouncer 1.18 has no cancel_wait_timeout")
def test_cancel_wait_timeout_drops_a_cancel_the_server_never_takes(fpg, pgfjord, proxies):
    """The server's address accepts the cancel connection but nothing answers (frozen proxy):
    the pooler gives up on it after cancel_wait_timeout instead of holding it for good, the
    query runs to its end uncancelled, and everybody else is served."""
    px = FreezeProxy(fpg.port).start()
    proxies.append(px)
    p = fault_pooler(fpg, pgfjord, cancel_wait_timeout=1, databases={
        "app": f"host=127.0.0.1 port={px.port} dbname=app"})
    pid = p.pid
    with connect(p) as c:
        c.execute("select 1")  # its server is connected through the proxy, unfrozen
        px.freeze_new = True   # the cancel connection will be accepted and left silent
        threading.Timer(0.5, c.cancel).start()
        t0 = time.monotonic()
        assert c.execute("select pg_sleep(2.5), 7").fetchone()[1] == 7  # never cancelled
        assert time.monotonic() - t0 >= 2.4
    h_wait = time.monotonic() + 5
    while "cancel_wait_timeout" not in p.log() and time.monotonic() < h_wait:
        time.sleep(0.1)
    assert "closing because: cancel_wait_timeout" in p.log()
    px.freeze_new = False
    query_ok(p)
    assert_healthy(p, pid)
