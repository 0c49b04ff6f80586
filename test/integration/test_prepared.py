"""Named prepared statements in transaction mode (issue #8, doc/prepared-statements.md).

Real drivers (pgbench -M prepared, psycopg with prepare_threshold=0, asyncpg) with 30 clients
on a pool of 2, every result checked; then the protocol cases message by message over a raw
socket: redefinition (42P05), unknown names (26000, the connection stays), Close, DEALLOCATE,
DEALLOCATE ALL, DISCARD ALL, an error in the middle of a pipeline, a Parse far larger than
pkt_buf, eviction from a small per-server cache, and the SHOW counters.

PgBouncer 1.18 has no max_prepared_statements: what needs it is pgfjord_only. The protocol
tests whose expectations are PostgreSQL's own behaviour run in reference mode too, with
PgBouncer in session mode (where it passes statements through), which checks the expected
messages against PostgreSQL itself.
"""

import asyncio
import os
import re
import shutil
import struct
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

import harness as h
from admin_helpers import console, show_rows
from harness import MD5_PASS, MD5_USER, TRUST_USER, msg, parse_fields

PGBENCH = str(h.PG_BINDIR / "pgbench")
CLIENTS_DIR = Path(__file__).resolve().parent / "clients"
JDBC_JAR = "/usr/share/java/postgresql.jar"
NEEDS_PS = "PgBouncer 1.18 has no max_prepared_statements"
CLIENTS = 30
QUERIES = 100


def pooler(pg, pgfjord, **settings):
    ini = {"auth_type": "md5", "pool_mode": "transaction", "default_pool_size": 2,
           "max_client_conn": 200, "admin_users": "fjadmin"}
    ini.update(settings)
    if h.REFERENCE:
        # PostgreSQL's own answers, through PgBouncer 1.18 in session mode (see the top)
        ini.update(pool_mode="session", default_pool_size=20)
    return pgfjord(ini, {"app": pg.connstr("app")},
                   {MD5_USER: h.md5_secret(MD5_USER, MD5_PASS), TRUST_USER: "",
                    "fjadmin": h.md5_secret("fjadmin", "fjadminpass")})


def run_threads(target, n, timeout=90):
    errors = []

    def wrap(i):
        try:
            target(i)
        except Exception as e:  # every failure is reported with its client
            errors.append(f"client {i}: {e!r}")

    threads = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "clients hung"
    return errors


# ---------------------------------------------------------------------------- the wire

def m_parse(name, sql, types=()):
    return msg(b"P", name.encode() + b"\0" + sql.encode() + b"\0" + struct.pack("!H", len(types)) +
               b"".join(struct.pack("!I", t) for t in types))


def m_bind(stmt, params=(), portal=""):
    body = portal.encode() + b"\0" + stmt.encode() + b"\0" + struct.pack("!H", 0)
    body += struct.pack("!H", len(params))
    for v in params:
        if v is None:
            body += struct.pack("!i", -1)
        else:
            b = str(v).encode()
            body += struct.pack("!i", len(b)) + b
    return msg(b"B", body + struct.pack("!H", 0))


def m_describe(kind, name):
    return msg(b"D", kind + name.encode() + b"\0")


def m_execute(portal="", max_rows=0):
    return msg(b"E", portal.encode() + b"\0" + struct.pack("!I", max_rows))


def m_close(kind, name):
    return msg(b"C", kind + name.encode() + b"\0")


SYNC = msg(b"S")
FLUSH = msg(b"H")


def m_query(sql):
    return msg(b"Q", sql.encode() + b"\0")


rows_of = h.data_rows


def types_of(msgs):
    return "".join(t.decode() for t, _ in msgs)


def errors_of(msgs):
    return [parse_fields(p) for t, p in msgs if t == b"E"]


class Client:
    """A raw protocol client logged in through the pooler."""

    def __init__(self, p, user=MD5_USER, password=MD5_PASS):
        self.w = p.wire()
        self.w.login(user, "app", password)

    def send(self, *parts):
        self.w.send(b"".join(parts))

    def until_z(self, n=1):
        """Messages up to the n-th ReadyForQuery."""
        out = []
        for _ in range(n):
            got = self.w.read_until((b"Z",))
            assert got and got[-1][0] == b"Z", f"no ReadyForQuery: {types_of(out + got)}"
            out += got
        return out

    def exchange(self, *parts):
        self.send(*parts)
        return self.until_z()

    def simple(self, sql):
        return self.exchange(m_query(sql))

    def prepare(self, name, sql):
        got = self.exchange(m_parse(name, sql), SYNC)
        assert types_of(got) == "1Z", got
        return got

    def run(self, name, *params):
        """Bind + Execute + Sync of statement name; returns (rows, errors, types)."""
        got = self.exchange(m_bind(name, params), m_execute(), SYNC)
        return rows_of(got), errors_of(got), types_of(got)

    def close(self):
        self.w.close()


def backend_pid(c):
    rows, errs, _ = c.run_sql("select pg_backend_pid()")
    return rows[0][0]


# ---------------------------------------------------------------------------- drivers

PGBENCH_SCRIPT = r"""
\set k random(1, 1000000)
SELECT :k::int * 2 AS r, 'x' || :k AS s \gset
\if :r != :k * 2
  \set fail 1 / 0
\endif
SELECT count(*) AS n FROM generate_series(1, :k % 7 + 1) \gset
\if :n != :k % 7 + 1
  \set fail 1 / 0
\endif
"""


@pytest.mark.pgfjord_only(NEEDS_PS)
@pytest.mark.timeout(180)
def test_pgbench_prepared(pg, pgfjord, tmp_path):
    p = pooler(pg, pgfjord)
    script = tmp_path / "check.sql"
    script.write_text(PGBENCH_SCRIPT)
    os.chmod(tmp_path, 0o755)
    os.chmod(script, 0o644)
    env = dict(os.environ, PGPASSWORD=MD5_PASS, PGCONNECT_TIMEOUT="10")
    r = subprocess.run([PGBENCH, "-n", "-M", "prepared", "-f", str(script), "-c", str(CLIENTS),
                        "-j", "2", "-t", str(QUERIES), "-h", p.host, "-p", str(p.port),
                        "-U", MD5_USER, "app"],
                       capture_output=True, text=True, timeout=150, env=env,
                       stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "error" not in r.stderr.lower(), r.stderr
    m = re.search(r"number of transactions actually processed: (\d+)/(\d+)", r.stdout)
    assert m and m.group(1) == m.group(2) == str(CLIENTS * QUERIES), out
    failed = re.search(r"number of failed transactions: (\d+)", r.stdout)
    assert not failed or int(failed.group(1)) == 0, out
    # two statements per client, each prepared on at most two servers
    stats = show_rows(p, "STATS")
    app = [s for s in stats if s["database"] == "app"][0]
    assert app["total_client_parse_count"] == 2 * CLIENTS, app
    assert app["total_bind_count"] == 2 * CLIENTS * QUERIES, app
    assert app["total_server_parse_count"] <= 4, app
    n = pg.execute("select count(*) from pg_stat_activity where usename = %s", (MD5_USER,))[0][0]
    assert n <= 2, n


def psycopg_client(p, i):
    with psycopg.connect(p.dsn(user=MD5_USER, password=MD5_PASS), autocommit=True,
                         prepare_threshold=0) as c:
        for k in range(QUERIES):
            v = i * 1000 + k
            assert c.execute("select %s::int + 1, %s::text", (v, f"c{i}")).fetchone() == \
                (v + 1, f"c{i}")
            if k % 10 == 0:
                # a transaction of two statements, on whichever server
                with c.transaction():
                    got = c.execute("select %s::bigint * 3", (v,)).fetchone()[0]
                    assert got == v * 3
                    assert c.execute("select %s::int - 1", (v,)).fetchone()[0] == v - 1


@pytest.mark.pgfjord_only(NEEDS_PS)
@pytest.mark.timeout(180)
def test_psycopg_prepare_threshold_0(pg, pgfjord):
    p = pooler(pg, pgfjord)
    errors = run_threads(lambda i: psycopg_client(p, i), CLIENTS, timeout=150)
    assert errors == [], errors[:5]


@pytest.mark.pgfjord_only(NEEDS_PS)
@pytest.mark.timeout(180)
def test_asyncpg(pg, pgfjord):
    asyncpg = pytest.importorskip("asyncpg", reason="python3-asyncpg (Debian) is not installed")
    p = pooler(pg, pgfjord)

    async def one(i):
        conn = await asyncpg.connect(host=p.host, port=p.port, user=MD5_USER,
                                     password=MD5_PASS, database="app", ssl=False)
        try:
            for k in range(QUERIES):
                v = i * 1000 + k
                assert await conn.fetchval("select $1::int * 2", v) == v * 2
                row = await conn.fetchrow("select $1::text || 'x' as s, $2::int as n", f"c{i}", k)
                assert (row["s"], row["n"]) == (f"c{i}x", k)
                if k % 10 == 0:
                    async with conn.transaction():
                        assert await conn.fetchval("select $1::bigint + 7", v) == v + 7
        finally:
            await conn.close()

    async def main():
        results = await asyncio.gather(*(one(i) for i in range(CLIENTS)), return_exceptions=True)
        return [f"client {i}: {r!r}" for i, r in enumerate(results) if isinstance(r, BaseException)]

    errors = asyncio.run(asyncio.wait_for(main(), 150))
    assert errors == [], errors[:5]


@pytest.mark.pgfjord_only("PgBouncer 1.18 refuses extra_float_digits and has no "
                           "max_prepared_statements")
@pytest.mark.timeout(300)
def test_pgjdbc_prepare_threshold_1(pg, pgfjord, tmp_path):
    """pgJDBC sends extra_float_digits at startup and, with prepareThreshold=1, names every
    statement from its first execution; autocommit off puts BEGIN in the same batch as the
    statement's Parse. No ignore_startup_parameters in the config."""
    javac, java = shutil.which("javac"), shutil.which("java")
    if not javac or not java:
        pytest.skip("javac/java not installed (Debian default-jdk-headless)")
    if not os.path.exists(JDBC_JAR):
        pytest.skip("pgJDBC not installed (Debian libpostgresql-jdbc-java)")
    p = pooler(pg, pgfjord)
    assert "ignore_startup_parameters" not in p.settings
    r = subprocess.run([javac, "-d", str(tmp_path), "-cp", JDBC_JAR,
                        str(CLIENTS_DIR / "PgJdbcCheck.java")],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([java, "-Xss512k", "-cp", f"{JDBC_JAR}:{tmp_path}", "PgJdbcCheck",
                        f"jdbc:postgresql://{p.host}:{p.port}/app", MD5_USER, MD5_PASS,
                        str(CLIENTS), str(QUERIES)],
                       capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and r.stdout.strip() == f"ok {CLIENTS * QUERIES}", \
        r.stdout[-2000:] + r.stderr[-2000:]
    app = [s for s in show_rows(p, "STATS") if s["database"] == "app"][0]
    assert app["total_bind_count"] >= CLIENTS * (QUERIES + QUERIES // 10), app


NODE_DIR = Path(os.environ.get("PGFJORD_NODE_DIR") or CLIENTS_DIR.parent / ".node")
_node_ready = None


def node_modules():
    """node_modules with pg and postgres, installed by scripts/node-deps.sh once per run;
    skips the test with the reason when node, npm or the registry is not there."""
    global _node_ready
    if not shutil.which("node"):
        pytest.skip("node not installed")
    if _node_ready is None:
        try:
            r = subprocess.run(["bash", str(h.REPO / "scripts" / "node-deps.sh")],
                               capture_output=True, text=True, timeout=180,
                               stdin=subprocess.DEVNULL,
                               env=dict(os.environ, PGFJORD_NODE_DIR=str(NODE_DIR)))
            _node_ready = (r.returncode == 0, (r.stdout + r.stderr).strip()[-300:])
        except subprocess.TimeoutExpired:
            _node_ready = (False, "npm install timed out (registry unreachable?)")
    ok, detail = _node_ready
    if not ok:
        pytest.skip(f"npm packages pg/postgres not installable: {detail}")
    return NODE_DIR / "node_modules"


@pytest.mark.pgfjord_only(NEEDS_PS)
@pytest.mark.timeout(240)
@pytest.mark.parametrize("lib", ["pg", "postgres"])
def test_node_clients(pg, pgfjord, lib):
    """node-postgres with named queries ({name, text, values}); postgres.js with prepare:
    true (each distinct query text a named statement)."""
    modules = node_modules()
    p = pooler(pg, pgfjord)
    r = subprocess.run(["node", str(CLIENTS_DIR / "node_check.js"), lib, p.host, str(p.port),
                        MD5_USER, MD5_PASS, str(CLIENTS), str(QUERIES)],
                       capture_output=True, text=True, timeout=200, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, NODE_PATH=str(modules)))
    assert r.returncode == 0 and r.stdout.strip() == f"ok {CLIENTS * QUERIES}", \
        r.stdout[-2000:] + r.stderr[-2000:]
    app = [s for s in show_rows(p, "STATS") if s["database"] == "app"][0]
    assert app["total_bind_count"] >= CLIENTS * (QUERIES + QUERIES // 10), app


# ---------------------------------------------------------------------------- protocol

def two_clients(p):
    """Two raw clients; with pool_size 2 their transactions land on either server."""
    return Client(p), Client(p)


@pytest.mark.pgfjord_only(NEEDS_PS)
def test_named_statement_follows_client_across_servers(pg, pgfjord):
    p = pooler(pg, pgfjord)
    a, b = two_clients(p)
    a.prepare("s1", "select $1::int * 10, pg_backend_pid()")
    pids = set()
    for k in range(20):
        # b holds a server in a transaction now and then, so a moves between the two
        if k % 3 == 0:
            assert types_of(b.simple("begin")) == "CZ"
        rows, errs, _ = a.run("s1", k)
        assert errs == [] and rows[0][0] == str(k * 10), (errs, rows)
        pids.add(rows[0][1])
        if k % 3 == 0:
            assert types_of(b.simple("commit")) == "CZ"
    assert len(pids) == 2, pids
    # Describe and Bind of the name on a server that has not seen it yet
    b.send(m_describe(b"S", "s1"))
    got = b.exchange(SYNC)
    assert errors_of(got)[0]["C"] == "26000", got  # b's names are its own
    a.close()
    b.close()


def test_redefinition_is_42P05_and_connection_stays(pg, pgfjord):
    p = pooler(pg, pgfjord)
    c = Client(p)
    c.prepare("dup", "select 1")
    got = c.exchange(m_parse("dup", "select 2"), SYNC)
    assert types_of(got) == "EZ", got
    e = errors_of(got)[0]
    assert e["C"] == "42P05" and e["M"] == 'prepared statement "dup" already exists', e
    # the same text is refused too, as PostgreSQL does; the old statement still works
    got = c.exchange(m_parse("dup", "select 1"), SYNC)
    assert errors_of(got)[0]["C"] == "42P05"
    rows, errs, _ = c.run("dup")
    assert rows == [["1"]] and errs == []
    c.close()


def test_missing_statement_is_26000_and_connection_stays(pg, pgfjord):
    p = pooler(pg, pgfjord)
    c = Client(p)
    rows, errs, types = c.run("nope", 1)
    assert types == "EZ" and errs[0]["C"] == "26000", (types, errs)
    assert errs[0]["M"] == 'prepared statement "nope" does not exist'
    got = c.exchange(m_describe(b"S", "nope"), SYNC)
    assert types_of(got) == "EZ" and errors_of(got)[0]["C"] == "26000"
    # inside a transaction the block fails as it would on PostgreSQL
    assert types_of(c.simple("begin")) == "CZ"
    got = c.exchange(m_bind("nope"), m_execute(), SYNC)
    assert types_of(got) == "EZ" and got[-1][1] == b"E", got
    assert types_of(c.simple("rollback")) == "CZ"
    c.prepare("yes", "select 42")
    assert c.run("yes")[0] == [["42"]]
    c.close()


def test_close_and_deallocate_act_on_the_client_view(pg, pgfjord):
    p = pooler(pg, pgfjord)
    c, other = two_clients(p)
    c.prepare("a", "select 'a'")
    other.prepare("a", "select 'a'")  # the same statement: one on each server at most
    got = c.exchange(m_close(b"S", "a"), SYNC)
    assert types_of(got) == "3Z", got
    assert c.run("a")[1][0]["C"] == "26000"
    assert other.run("a")[0] == [["a"]]  # another client's name is untouched
    # closing a name that does not exist succeeds, as in PostgreSQL
    assert types_of(c.exchange(m_close(b"S", "never"), SYNC)) == "3Z"
    # a new definition under the old name
    c.prepare("a", "select 'a2'")
    assert c.run("a")[0] == [["a2"]]
    # DEALLOCATE name, outside a transaction (no server needed) and inside one
    got = c.simple("DEALLOCATE a")
    assert types_of(got) == "CZ" and got[0][1] == b"DEALLOCATE\0", got
    assert c.run("a")[1][0]["C"] == "26000"
    c.prepare("b", "select 'b'")
    assert types_of(c.simple("begin")) == "CZ"
    got = c.simple("deallocate prepare \"b\"")
    assert types_of(got) == "CZ" and got[-1][1] == b"T", got
    assert c.run("b")[1][0]["C"] == "26000"
    assert types_of(c.simple("rollback")) == "CZ"
    # DEALLOCATE in a failed block is refused (25P02) and the name stays
    c.prepare("f", "select 'f'")
    assert types_of(c.simple("begin")) == "CZ"
    assert errors_of(c.simple("select 1/0"))[0]["C"] == "22012"
    got = c.simple("DEALLOCATE f")
    assert errors_of(got)[0]["C"] == "25P02" and got[-1][1] == b"E", got
    assert types_of(c.simple("rollback")) == "CZ"
    assert c.run("f")[0] == [["f"]]
    # DEALLOCATE of a name the client never prepared goes to the server
    e = errors_of(c.simple("DEALLOCATE ghost"))[0]
    assert e["C"] == "26000", e
    # SQL-level PREPARE/EXECUTE/DEALLOCATE inside one transaction pass through
    got = c.simple("begin; prepare q(int) as select $1 + 1; execute q(1); deallocate q; commit")
    assert rows_of(got) == [["2"]] and errors_of(got) == [], got
    c.close()
    other.close()


@pytest.mark.parametrize("command", ["DEALLOCATE ALL", "DISCARD ALL", "deallocate prepare all"])
def test_deallocate_all_and_discard_all(pg, pgfjord, command):
    p = pooler(pg, pgfjord)
    c = Client(p)
    for n in ("x", "y"):
        c.prepare(n, f"select '{n}'")
        assert c.run(n)[0] == [[n]]
    got = c.simple(command)
    assert errors_of(got) == [] and types_of(got) == "CZ", got
    for n in ("x", "y"):
        assert c.run(n)[1][0]["C"] == "26000"
    # the names are free again, and the server's cache was dropped with its statements
    for n in ("x", "y"):
        c.prepare(n, f"select '{n}'")
        assert c.run(n)[0] == [[n]]
    # pipelined right behind the command: seen after it took effect
    c.send(m_query(command), m_parse("x", "select 'x3'"), m_bind("x"), m_execute(), SYNC)
    got = c.until_z(2)
    assert errors_of(got) == [] and rows_of(got) == [["x3"]], got
    # DISCARD ALL inside a block fails and changes nothing
    if command == "DISCARD ALL":
        assert types_of(c.simple("begin")) == "CZ"
        assert errors_of(c.simple(command))[0]["C"] == "25001"
        assert types_of(c.simple("rollback")) == "CZ"
        assert c.run("x")[0] == [["x3"]]
    c.close()


def test_error_in_the_middle_of_a_pipeline(pg, pgfjord):
    p = pooler(pg, pgfjord)
    c = Client(p)
    c.prepare("a", "select 'a'")
    # a exists; b fails at Parse; everything after it up to Sync is skipped
    c.send(m_bind("a"), m_execute(),
           m_parse("b", "select * from no_such_table"), m_bind("b"), m_execute(),
           m_close(b"S", "a"), m_parse("c", "select 'c'"),
           SYNC)
    got = c.until_z()
    assert types_of(got) == "2DCEZ", got
    assert errors_of(got)[0]["C"] == "42P01"
    assert c.run("a")[0] == [["a"]]           # the Close was skipped
    assert c.run("b")[1][0]["C"] == "26000"   # the failed Parse defined nothing
    assert c.run("c")[1][0]["C"] == "26000"   # skipped
    # the names are free: defining them now works
    c.prepare("b", "select 'b'")
    c.prepare("c", "select 'c'")
    # an error before a pooler-answered message: its answer is not sent
    c.send(m_bind("a"), m_execute(), m_bind("nope"), m_execute(), m_parse("d", "select 'd'"),
           m_close(b"S", "b"), m_query("DEALLOCATE c"), SYNC)
    got = c.until_z()
    assert types_of(got) == "2DCEZ", got
    assert errors_of(got)[0]["C"] == "26000"
    assert c.run("b")[0] == [["b"]] and c.run("c")[0] == [["c"]]
    assert c.run("d")[1][0]["C"] == "26000"
    # in a transaction block the block fails; names defined before it stay
    assert types_of(c.simple("begin")) == "CZ"
    c.send(m_parse("e", "select 'e'"), m_bind("e"), m_execute(), m_bind("a", portal="p1"),
           m_execute("p1"), m_parse("e", "select 'dup'"), m_bind("e"), m_execute(), SYNC)
    got = c.until_z()
    assert types_of(got) == "12DC2DCEZ", got
    assert errors_of(got)[0]["C"] == "42P05" and got[-1][1] == b"E"
    assert types_of(c.simple("rollback")) == "CZ"
    assert c.run("e")[0] == [["e"]]  # Parse e was answered before the error
    c.close()


@pytest.mark.pgfjord_only(NEEDS_PS)
def test_failed_lazy_parse_answers_the_bind(pg, pgfjord):
    """The table is dropped between the client's Parse and its use on another server: the
    injected Parse fails and its error answers the Bind; the name stays defined."""
    p = pooler(pg, pgfjord)
    pg.execute("create table if not exists lazy_t (i int)", dbname="app")
    pg.execute("grant all on lazy_t to public", dbname="app")
    a, b = two_clients(p)
    a.prepare("q", "select count(*) from lazy_t")
    pid_a = a.run("q")[0]
    assert pid_a == [["0"]]
    # keep a's first server busy so that a's next transaction runs on the other one
    assert types_of(b.simple("begin")) == "CZ"
    pid_b = rows_of(b.simple("select pg_backend_pid()"))[0][0]
    pg.execute("drop table lazy_t", dbname="app")
    for _ in range(3):
        rows, errs, types = a.run("q")
        assert errs and errs[0]["C"] in ("42P01", "0A000"), (rows, errs, types)
    assert types_of(b.simple("commit")) == "CZ"
    pg.execute("create table lazy_t (i int)", dbname="app")
    pg.execute("grant all on lazy_t to public", dbname="app")
    ok = 0
    for _ in range(4):
        rows, errs, _ = a.run("q")
        ok += rows == [["0"]]
    assert ok >= 1
    assert pid_b
    pg.execute("drop table lazy_t", dbname="app")
    a.close()
    b.close()


def test_parse_of_200kb(pg, pgfjord):
    p = pooler(pg, pgfjord, pkt_buf=4096)
    c = Client(p)
    values = ",".join(str(i) for i in range(40000))  # ~230 kB of query text
    sql = f"select count(*), sum(x), $1::int from unnest(array[{values}]) x"
    assert len(sql) > 200 * 1024
    c.prepare("big", sql)
    for k in range(3):
        rows, errs, _ = c.run("big", k)
        assert errs == [] and rows == [["40000", str(sum(range(40000))), str(k)]], errs
    # another client with the same text shares the statement (and its server copy)
    d = Client(p)
    d.prepare("other_name", sql)
    assert d.run("other_name", 9)[0] == [["40000", str(sum(range(40000))), "9"]]
    c.close()
    d.close()


@pytest.mark.pgfjord_only(NEEDS_PS)
def test_eviction_with_two_slots_and_five_statements(pg, pgfjord):
    p = pooler(pg, pgfjord, max_prepared_statements=2, default_pool_size=1)
    c = Client(p)
    for i in range(5):
        c.prepare(f"s{i}", f"select {i} * $1::int")
    for rnd in range(8):
        for i in range(5):
            rows, errs, _ = c.run(f"s{i}", rnd)
            assert errs == [] and rows == [[str(i * rnd)]], (rnd, i, errs)
        # several in one pipeline, each evicting the one before
        c.send(*[m for i in (4, 0, 3, 1, 2) for m in (m_bind(f"s{i}", [rnd]), m_execute())], SYNC)
        got = c.until_z()
        assert errors_of(got) == [] and rows_of(got) == [[str(i * rnd)] for i in (4, 0, 3, 1, 2)]
    servers = [s for s in show_rows(p, "SERVERS") if s["database"] == "app"]
    assert len(servers) == 1 and servers[0]["prepared_statements"] <= 2, servers
    n = pg.execute("select count(*) from pg_prepared_statements", dbname="app")  # own session
    assert n[0][0] == 0
    clients = [x for x in show_rows(p, "CLIENTS") if x["database"] == "app"]
    assert [x["prepared_statements"] for x in clients] == [5], clients
    c.close()


@pytest.mark.pgfjord_only(NEEDS_PS)
def test_server_reset_clears_the_server_cache(pg, pgfjord):
    p = pooler(pg, pgfjord, server_reset_query_always=1, default_pool_size=1)
    c = Client(p)
    c.prepare("r", "select 'r', (select count(*) from pg_prepared_statements)")
    for _ in range(5):
        rows, errs, _ = c.run("r")
        # DISCARD ALL after every transaction: prepared again each time, alone on the server
        assert errs == [] and rows == [["r", "1"]], errs
    stats = [s for s in show_rows(p, "STATS") if s["database"] == "app"][0]
    assert stats["total_server_parse_count"] >= 5, stats
    c.close()


def test_statements_shared_between_clients(pg, pgfjord):
    p = pooler(pg, pgfjord, default_pool_size=1)
    a, b = two_clients(p)
    a.prepare("mine", "select $1::text || '!'")
    # b's Parse of the same text finds it prepared on the server: answered by the pooler
    got = b.exchange(m_parse("theirs", "select $1::text || '!'"), m_bind("theirs", ["b"]),
                     m_execute(), SYNC)
    assert types_of(got) == "12DCZ" and rows_of(got) == [["b!"]], got
    assert a.run("mine", "a")[0] == [["a!"]]
    # the same text with parameter types is another statement
    got = b.exchange(m_parse("typed", "select $1::text || '!'", [25]), m_bind("typed", ["t"]),
                     m_execute(), SYNC)
    assert rows_of(got) == [["t!"]]
    if not h.REFERENCE:
        servers = [s for s in show_rows(p, "SERVERS") if s["database"] == "app"]
        assert servers[0]["prepared_statements"] == 2, servers
    a.close()
    b.close()


@pytest.mark.pgfjord_only(NEEDS_PS)
def test_show_counters(pg, pgfjord):
    p = pooler(pg, pgfjord, default_pool_size=1)
    c = Client(p)
    c.prepare("n1", "select 1")
    c.prepare("n2", "select 2")
    for _ in range(3):
        c.run("n1")
    c.exchange(m_parse("", "select 3"), m_bind(""), m_execute(), SYNC)  # unnamed: not counted
    stats = [s for s in show_rows(p, "STATS") if s["database"] == "app"][0]
    assert (stats["total_client_parse_count"], stats["total_server_parse_count"],
            stats["total_bind_count"]) == (2, 2, 3), stats
    clients = [x for x in show_rows(p, "CLIENTS") if x["database"] == "app"]
    assert [x["prepared_statements"] for x in clients] == [2], clients
    servers = [x for x in show_rows(p, "SERVERS") if x["database"] == "app"]
    assert [x["prepared_statements"] for x in servers] == [2], servers
    c.close()


def test_unnamed_and_session_mode_pass_through(pg, pgfjord):
    """What the pooler must leave alone, also against PgBouncer 1.18."""
    p = pooler(pg, pgfjord)
    c = Client(p)
    got = c.exchange(m_parse("", "select $1::int + 1"), m_bind("", [1]), m_execute(), SYNC)
    assert rows_of(got) == [["2"]]
    got = c.exchange(m_parse("", "select 'u'"), m_describe(b"S", ""), m_bind("", portal="pp"),
                     m_describe(b"P", "pp"), m_execute("pp"), m_close(b"P", "pp"), SYNC)
    assert types_of(got) == "1tT2TDC3Z", got
    c.close()
    s = pooler(pg, pgfjord, pool_mode="session")
    d = Client(s)
    d.prepare("sess", "select 'sess', current_setting('application_name') = ''")
    assert d.run("sess")[0] == [["sess", "t"]]
    n = pg.execute("select count(*) from pg_stat_activity where query = 'select ''sess'', "
                   "current_setting(''application_name'') = '''''")[0][0]
    assert n == 1  # the session's statement went to PostgreSQL under its own name
    d.close()


@pytest.mark.pgfjord_only(NEEDS_PS)
def test_tracking_starts_in_the_middle_of_a_batch(pg, pgfjord):
    """Unnamed messages answered in part (Flush), then named ones that need the pooler's own
    answers, in the same batch."""
    p = pooler(pg, pgfjord, default_pool_size=1)
    a, b = two_clients(p)
    a.prepare("shared", "select 'shared', $1::int")
    for _ in range(5):
        b.send(m_parse("", "select generate_series(1, 3)"), m_bind(""), m_execute(), FLUSH)
        got = b.w.read_until((b"C",))
        assert types_of(got) == "12DDDC", got
        # the server has "shared" (a's): b's Parse is answered by the pooler, after the
        # rest of what b sent before it; then a Close and a Bind on the same batch
        b.send(m_parse("", "select 'more'"), m_bind(""), m_execute(),
               m_parse("mine", "select 'shared', $1::int"), m_bind("mine", [7]), m_execute(),
               m_close(b"S", "mine"), m_bind("", portal=""), m_execute(), SYNC)
        got = b.until_z()
        assert types_of(got) == "12DC12DC32DCZ", got
        assert rows_of(got) == [["more"], ["shared", "7"], ["more"]]
    a.close()
    b.close()


@pytest.mark.pgfjord_only(NEEDS_PS)
def test_big_bind_is_streamed_and_renamed(pg, pgfjord):
    p = pooler(pg, pgfjord, pkt_buf=4096, default_pool_size=1)
    c = Client(p)
    c.prepare("len", "select length($1::text), md5($1::text)")
    import hashlib
    for size in (10, 5000, 3 * 1024 * 1024):
        v = ("abcdefghij" * (size // 10 + 1))[:size]
        rows, errs, _ = c.run("len", v)
        assert errs == [] and rows == [[str(size), hashlib.md5(v.encode()).hexdigest()]]
    # the start of a Bind arrives in pieces: the statement name is read as it comes
    data = m_bind("len", ["piecewise"]) + m_execute() + SYNC
    for cut in (3, 6, 8, 10):
        c.w.send(data[:cut])
        import time
        time.sleep(0.05)
        c.w.send(data[cut:])
        got = c.until_z()
        assert rows_of(got) == [["9", hashlib.md5(b"piecewise").hexdigest()]], got
    c.close()


@pytest.mark.pgfjord_only(NEEDS_PS)
@pytest.mark.timeout(120)
def test_psycopg_pipeline_mode(pg, pgfjord):
    p = pooler(pg, pgfjord)

    def one(i):
        with psycopg.connect(p.dsn(user=MD5_USER, password=MD5_PASS), autocommit=True,
                             prepare_threshold=0) as c:
            # psycopg 3.1 believes a Parse skipped in an aborted pipeline succeeded (also on
            # PostgreSQL itself): the failing pipeline below uses statements prepared here
            assert c.execute("select %s::int", (1,)).fetchone() == (1,)
            assert c.execute("select 1 / %s::int", (1,)).fetchone() == (1,)
            assert c.execute("select %s::int + 2", (1,)).fetchone() == (3,)
            for rnd in range(5):
                with c.pipeline() as pl:
                    curs = [c.execute("select %s::int * %s::int", (i, k)) for k in range(20)]
                    curs.append(c.execute("select %s::text", (f"r{rnd}",)))
                    pl.sync()
                    for k, cur in enumerate(curs[:-1]):
                        assert cur.fetchone() == (i * k,)
                    assert curs[-1].fetchone() == (f"r{rnd}",)
                with pytest.raises(psycopg.errors.DivisionByZero):
                    with c.pipeline() as pl:
                        c.execute("select %s::int", (1,))
                        c.execute("select 1 / %s::int", (0,))
                        c.execute("select %s::int + 2", (1,))
                        pl.sync()
                assert c.execute("select %s::int + 2", (1,)).fetchone() == (3,)

    errors = run_threads(one, 10, timeout=100)
    assert errors == [], errors[:5]


# ---------------------------------------------------------------------------- differential

FUZZ_TEXTS = [
    "select $1::int + 1",
    "select $1::int * 2, 'x'::text",
    "select 10 / ($1::int - $1::int)",            # fails at Execute (22012)
    "select $1::int from fjord_no_such_table",    # fails at Parse (42P01)
    "select $1::int, 'v' || $1::text",
    "select generate_series(1, ($1::int % 3) + 1)",
]
FUZZ_NAMES = ["a", "b", "c", "d"]


def fuzz_batch(rnd):
    """One batch: extended messages and a Sync, or a simple Query."""
    if rnd.random() < 0.2:
        return [m_query(rnd.choice([
            "begin", "commit", "rollback", "select 1/0", "select 5", "DEALLOCATE ALL",
            "DISCARD ALL", "DEALLOCATE " + rnd.choice(FUZZ_NAMES),
            "deallocate prepare " + rnd.choice(FUZZ_NAMES), "begin; select 1/0"]))]
    out = []
    portal_bound = unnamed = False
    for _ in range(rnd.randint(1, 8)):
        op = rnd.random()
        # the unnamed statement lives on one server: used only in the batch that made it,
        # as a client of a transaction pooler must
        name = rnd.choice(FUZZ_NAMES + ([""] if unnamed or op < 0.25 else []))
        if op < 0.25:
            unnamed = unnamed or name == ""
            out.append(m_parse(name, rnd.choice(FUZZ_TEXTS)))
        elif op < 0.55:
            out.append(m_bind(name, [rnd.randint(0, 9)]))
            portal_bound = True
            if rnd.random() < 0.8:
                out.append(m_execute())
        elif op < 0.65:
            out.append(m_describe(b"S", name))
        elif op < 0.7 and portal_bound:
            out.append(m_describe(b"P", ""))
        elif op < 0.85:
            out.append(m_close(b"S", name))
        elif op < 0.9:
            out.append(FLUSH)
        elif portal_bound:
            # only a portal bound in this batch: PostgreSQL 15.20 itself crashes on some
            # Executes of a stale unnamed portal inside a failed block
            out.append(m_execute())
    out.append(SYNC)
    return out


def comparable(msgs):
    """What a client sees, without what differs between two sessions (pids, notices,
    parameter reports)."""
    out = []
    for t, p in msgs:
        if t in (b"N", b"S", b"K"):
            continue
        if t == b"E":
            f = parse_fields(p)
            out.append(("E", f.get("C"), f.get("M")))
        elif t == b"D":
            out.append(("D", tuple(rows_of([(t, p)])[0])))
        else:
            out.append((t.decode(), p))
    return out


@pytest.mark.pgfjord_only(NEEDS_PS)
@pytest.mark.timeout(240)
@pytest.mark.parametrize("seed", [int(x) for x in
                                  os.environ.get("PGFJORD_FUZZ_SEEDS", "1 2 3").split()])
def test_differential_against_postgresql(pg, pgfjord, seed):
    """Random batches of named and unnamed statements, errors included, sent to PostgreSQL
    directly and through pgfjord (transaction mode, 2 servers keeping 1 to 3 statements each,
    and a second client that keeps moving the first between servers and has the same texts
    prepared): the client must see exactly the same messages."""
    import random
    rnd = random.Random(seed)
    p = pooler(pg, pgfjord, max_prepared_statements=1 + seed % 3)
    direct = h.Wire(pg.host, pg.port)
    direct.login(MD5_USER, "app", MD5_PASS)
    pooled = Client(p)
    other = Client(p)
    other.prepare("o", FUZZ_TEXTS[0])
    # the same texts on the servers, under other names: the client's Parses find them there
    for k, text in enumerate(FUZZ_TEXTS):
        if "no_such" not in text:
            other.prepare(f"t{k}", text)
            other.run(f"t{k}", 3)
    holding = False
    for i in range(250):
        batch = fuzz_batch(rnd)
        data = b"".join(batch)
        direct.send(data)
        want = direct.read_until((b"Z",))
        pooled.w.send(data)
        got = pooled.w.read_until((b"Z",))
        assert comparable(got) == comparable(want), \
            (i, [b[:1] + b[5:40] for b in batch], types_of(want), types_of(got))
        # the other client takes a server for a while, or gives it back
        if rnd.random() < 0.3:
            if holding:
                assert types_of(other.simple("commit")) == "CZ"
            else:
                assert types_of(other.simple("begin")) == "CZ"
                assert other.run("o", 1)[0] == [["2"]]
            holding = not holding
    direct.close()
    pooled.close()
    other.close()


# ---------------------------------------------------------------------------- config

@pytest.mark.pgfjord_only(NEEDS_PS)
def test_reload_lowers_and_turns_off_max_prepared_statements(pg, pgfjord):
    p = pooler(pg, pgfjord, max_prepared_statements=5, default_pool_size=1)
    a = Client(p)
    for i in range(5):
        a.prepare(f"s{i}", f"select {i} + $1::int")
        assert a.run(f"s{i}", 1)[0] == [[str(i + 1)]]
    assert [s["prepared_statements"] for s in show_rows(p, "SERVERS") if s["database"] == "app"] == [5]
    # lower it: the server's cache is trimmed at its next eviction, the client goes on
    p.settings["max_prepared_statements"] = 2
    p.write_config()
    with console(p) as c:
        c.execute("RELOAD")
    for rnd in range(2):
        for i in range(5):
            assert a.run(f"s{i}", rnd)[0] == [[str(i + rnd)]]
    assert [s["prepared_statements"] for s in show_rows(p, "SERVERS") if s["database"] == "app"] == [2]
    # off: a client that logged in before keeps its names; a new one passes them through
    p.settings["max_prepared_statements"] = 0
    p.write_config()
    with console(p) as c:
        c.execute("RELOAD")
    for i in range(5):
        assert a.run(f"s{i}", 2)[0] == [[str(i + 2)]]
    b = Client(p)
    got = b.exchange(m_parse("raw", "select 'raw'"), m_bind("raw"), m_execute(), m_close(b"S", "raw"),
                     SYNC)
    assert types_of(got) == "12DC3Z" and rows_of(got) == [["raw"]], got
    clients = sorted(x["prepared_statements"] for x in show_rows(p, "CLIENTS") if x["database"] == "app")
    assert clients == [0, 5], clients
    a.close()
    b.close()


@pytest.mark.pgfjord_only(NEEDS_PS)
def test_statement_mode(pg, pgfjord):
    p = pooler(pg, pgfjord, pool_mode="statement")
    a, b = two_clients(p)
    a.prepare("st", "select $1::int * 3")
    for k in range(10):
        assert a.run("st", k)[0] == [[str(k * 3)]]
        b.prepare(f"b{k}", f"select {k}")
    got = a.simple("DEALLOCATE st")
    assert types_of(got) == "CZ"
    assert a.run("st", 1)[1][0]["C"] == "26000"
    a.close()
    b.close()


@pytest.mark.pgfjord_only(NEEDS_PS)
@pytest.mark.timeout(120)
def test_tls_clients(pg, pgfjord, certs):
    """The pooler's own answers and renamed messages through a TLS client stream."""
    p = pooler(pg, pgfjord, client_tls_sslmode="require",
               client_tls_cert_file=certs.path("server.crt"),
               client_tls_key_file=certs.path("server.key"))

    def one(i):
        with psycopg.connect(p.dsn(user=MD5_USER, password=MD5_PASS, sslmode="require"),
                             autocommit=True, prepare_threshold=0) as c:
            for k in range(30):
                assert c.execute("select %s::int * 5", (k,)).fetchone() == (k * 5,)
                with c.pipeline() as pl:
                    curs = [c.execute("select %s::text || %s::text", (i, j)) for j in range(5)]
                    pl.sync()
                    assert [cur.fetchone()[0] for cur in curs] == [f"{i}{j}" for j in range(5)]
                with c.transaction():
                    assert c.execute("select %s::int - 1", (k,)).fetchone() == (k - 1,)

    errors = run_threads(one, 8, timeout=100)
    assert errors == [], errors[:5]


@pytest.mark.timeout(30)
def test_an_empty_parse_gets_the_servers_error_and_stalls_nobody(pg, pgfjord):
    # A Parse with no body at all: once whole it is the server's to refuse, and the pooler
    # must not wait for more of it (one event loop serves every client).
    p = pooler(pg, pgfjord)
    with p.wire(timeout=10) as w:
        w.login(MD5_USER, "app", MD5_PASS)
        w.send(b"P\x00\x00\x00\x04" + h.msg(b"S"))
        err = w.error_or_close()
        assert err is None or err.get("C", "").startswith("08"), err
    t0 = time.monotonic()
    with p.connect(user=MD5_USER, password=MD5_PASS) as c:
        assert c.execute("select 1").fetchone()[0] == 1
    assert time.monotonic() - t0 < 3
    assert p.alive()


@pytest.mark.pgfjord_only(NEEDS_PS)
def test_show_mem_counts_statements_and_their_texts(pg, pgfjord):
    p = pooler(pg, pgfjord, default_pool_size=1)
    c = Client(p)
    texts = [f"select {i} + $1::int" for i in range(3)]
    for i, sql in enumerate(texts):
        c.prepare(f"m{i}", sql)
        assert c.run(f"m{i}", 1)[0] == [[str(i + 1)]]
    row = {r["name"]: r for r in show_rows(p, "MEM")}["prepared_statements"]
    assert row["used"] == 3, row
    assert row["memtotal"] >= sum(len(t) for t in texts), row
    c.close()
