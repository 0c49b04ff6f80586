"""Wire protocol through the pooler: cancel, pipelining, COPY, large rows, dead clients,
SSL/GSS negotiation, protocol version negotiation, startup parameters."""

import hashlib
import socket
import string
import struct
import threading
import time

import psycopg
import pytest

import harness as h
from harness import TRUST_USER


def trust_pooler(pg, pgfjord, dbname="app", **settings):
    ini = {"auth_type": "trust", "pool_mode": "transaction"}
    ini.update(settings)
    return pgfjord(ini, {"app": pg.connstr(dbname)}, {TRUST_USER: ""})


def wait_for(pred, timeout=10, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


# ---------------------------------------------------------------------------- cancel

def test_cancel_stops_pg_sleep(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, default_pool_size=2)
    conn = p.connect(user=TRUST_USER)
    outcome = {}

    def run():
        try:
            conn.execute("select pg_sleep(30)")
            outcome["result"] = "finished"
        except psycopg.errors.QueryCanceled as e:
            outcome["result"] = e
        except Exception as e:  # wrong kind of failure
            outcome["result"] = e
        outcome["at"] = time.monotonic()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert wait_for(lambda: pg.execute(
        "select count(*) from pg_stat_activity where state = 'active' "
        "and query = 'select pg_sleep(30)'")[0][0] == 1, timeout=10), "query never started"
    cancelled_at = time.monotonic()
    conn.cancel()
    t.join(10)
    assert not t.is_alive(), "cancel did not stop pg_sleep(30)"
    assert isinstance(outcome["result"], psycopg.errors.QueryCanceled), outcome
    assert outcome["at"] - cancelled_at < 5
    # the client and its pool keep working after the cancel
    assert conn.execute("select 7").fetchone()[0] == 7
    conn.close()


def test_cancel_with_unknown_key_is_harmless(pg, pgfjord):
    p = trust_pooler(pg, pgfjord)
    with p.connect(user=TRUST_USER) as c:
        with p.wire() as w:
            w.send(struct.pack("!IIII", 16, h.CANCEL_REQUEST, 12345, 67890))
            assert w.closed(5)
        assert c.execute("select 1").fetchone()[0] == 1


# ---------------------------------------------------------------------------- pipelining

def pipeline_client(p, i, n, errors):
    try:
        with p.connect(user=TRUST_USER) as c:
            with c.pipeline() as pl:
                curs = [c.execute("select %s::int, %s::text", (k, f"c{i}-{k}"))
                        for k in range(n)]
                pl.sync()
                for k, cur in enumerate(curs):
                    assert cur.fetchone() == (k, f"c{i}-{k}")
            # a pipelined transaction with writes
            with c.transaction():
                with c.pipeline():
                    c.execute("create temp table if not exists pl (i int)")
                    for k in range(20):
                        c.execute("insert into pl values (%s)", (k,))
                    cur = c.execute("select count(*), sum(i) from pl")
                assert cur.fetchone() == (20, sum(range(20)))
                c.execute("drop table pl")
    except Exception as e:
        errors.append(f"client {i}: {e!r}")


def test_pipelined_extended_protocol_concurrent_clients(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, default_pool_size=1)
    errors = []
    threads = [threading.Thread(target=pipeline_client, args=(p, i, 200, errors), daemon=True)
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "pipelined clients hung"
    assert errors == [], errors


def test_pipeline_error_leaves_pool_usable(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, default_pool_size=1)
    with p.connect(user=TRUST_USER) as c:
        with pytest.raises(psycopg.errors.DivisionByZero):
            with c.pipeline() as pl:
                c.execute("select 1")
                c.execute("select 1/0")
                c.execute("select 3")
                pl.sync()
        assert c.execute("select 4").fetchone()[0] == 4
    with p.connect(user=TRUST_USER) as c2:
        assert c2.execute("select 5").fetchone()[0] == 5
        assert c2.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


# ---------------------------------------------------------------------------- COPY, big rows

COPY_BYTES = 100 * 1024 * 1024
_ALPHA = (string.ascii_letters + string.digits) * 3


def copy_chunks(total):
    """Deterministic COPY text rows of ~100 bytes, in ~1 MB chunks."""
    i, sent = 0, 0
    while sent < total:
        rows = []
        for _ in range(10000):
            off = i % 62
            rows.append(f"{i}\t{_ALPHA[off:off + 90]}\n")
            i += 1
        chunk = "".join(rows).encode()
        sent += len(chunk)
        yield chunk, 10000


@pytest.mark.timeout(300)
def test_copy_100mb_in_and_out(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, default_pool_size=2)
    with p.connect(user=TRUST_USER) as c:
        c.execute("drop table if exists copytest")
        c.execute("create unlogged table copytest (a int, b text)")
        try:
            sent_md5, sent_bytes, sent_rows = hashlib.md5(), 0, 0
            with c.cursor() as cur:
                with cur.copy("copy copytest (a, b) from stdin") as cp:
                    for chunk, nrows in copy_chunks(COPY_BYTES):
                        cp.write(chunk)
                        sent_md5.update(chunk)
                        sent_bytes += len(chunk)
                        sent_rows += nrows
                assert cur.rowcount == sent_rows
            assert sent_bytes >= COPY_BYTES
            assert c.execute("select count(*) from copytest").fetchone()[0] == sent_rows

            got_md5, got_bytes = hashlib.md5(), 0
            with c.cursor() as cur:
                with cur.copy("copy copytest (a, b) to stdout") as cp:
                    for data in cp:
                        got_md5.update(data)
                        got_bytes += len(data)
            assert got_bytes == sent_bytes
            assert got_md5.hexdigest() == sent_md5.hexdigest()
            # the connection is in a clean state afterwards
            assert c.execute("select 1").fetchone()[0] == 1
        finally:
            c.execute("drop table if exists copytest")


@pytest.mark.timeout(120)
def test_20mb_row_out_and_in(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, default_pool_size=1)
    size = 20 * 1024 * 1024
    with p.connect(user=TRUST_USER) as c:
        v = c.execute("select repeat('x', %s)", (size,)).fetchone()[0]
        assert len(v) == size and v == "x" * size
        c.execute("drop table if exists bigrow")
        c.execute("create unlogged table bigrow (id int, v text)")
        try:
            payload = (_ALPHA * (size // len(_ALPHA) + 1))[:size]
            # extended protocol: one 20 MB Bind parameter
            c.execute("insert into bigrow values (1, %s)", (payload,))
            # simple protocol: one 20 MB Query message
            with psycopg.ClientCursor(c) as cc:
                cc.execute("insert into bigrow values (2, %s)", (payload,))
            want = hashlib.md5(payload.encode()).hexdigest()
            rows = c.execute("select id, length(v), md5(v) from bigrow order by id").fetchall()
            assert rows == [(1, size, want), (2, size, want)]
            back = c.execute("select v from bigrow where id = 2").fetchone()[0]
            assert back == payload
        finally:
            c.execute("drop table if exists bigrow")


# ---------------------------------------------------------------------------- dead clients

@pytest.mark.parametrize("how", ["rst", "fin", "terminate"])
def test_client_killed_mid_transaction(pg, pgfjord, how):
    pg.execute("drop table if exists locktest", dbname="app")
    pg.execute("create table locktest (id int primary key, v int)", dbname="app")
    pg.execute("insert into locktest values (1, 0)", dbname="app")
    pg.execute(f"grant all on locktest to {TRUST_USER}", dbname="app")
    try:
        p = trust_pooler(pg, pgfjord, default_pool_size=1)
        w = p.wire()
        w.login(TRUST_USER, "app")
        rows, err, msgs = w.query("BEGIN; SELECT v FROM locktest WHERE id = 1 FOR UPDATE")
        assert err is None and rows == [["0"]], (err, rows)
        assert msgs[-1] == (b"Z", b"T")  # in a transaction, holding the row lock
        if how == "rst":
            w.abort()
        elif how == "terminate":
            w.send_msg(b"X")
            w.close()
        else:
            w.close()
        # another client of the one-server pool can lock the same row right away
        with p.connect(user=TRUST_USER, autocommit=False) as c:
            c.execute("set local lock_timeout = '5s'")
            assert c.execute("select v from locktest where id = 1 for update").fetchone() == (0,)
            c.execute("update locktest set v = v + 1 where id = 1")
            c.commit()
            assert c.execute("select v from locktest where id = 1").fetchone() == (1,)
            c.commit()
        # and nothing is left idle in transaction on the server
        assert wait_for(lambda: pg.execute(
            "select count(*) from pg_stat_activity where datname = 'app' "
            "and state like 'idle in transaction%'")[0][0] == 0, timeout=5)
    finally:
        pg.execute("drop table if exists locktest", dbname="app")


# ---------------------------------------------------------------------------- negotiation

@pytest.mark.parametrize("code,name", [(h.SSL_REQUEST, "SSLRequest"),
                                       (h.GSSENC_REQUEST, "GSSENCRequest")])
def test_encryption_request_answered_n(pg, pgfjord, code, name):
    p = trust_pooler(pg, pgfjord)
    with p.wire() as w:
        w.send(struct.pack("!II", 8, code))
        assert w.read_byte() == b"N", name
        # the client may go on in plain text on the same connection
        w.login(TRUST_USER, "app")
        rows, err, _ = w.query("select 1")
        assert err is None and rows == [["1"]]


def negotiate(p, version=h.PROTO_3_0, **params):
    with p.wire() as w:
        status, msgs = w.try_login(TRUST_USER, "app", version=version, **params)
        assert status == "ok", msgs
        vs = [m for m in msgs if m[0] == b"v"]
        rows, err, _ = w.query("select 1")
        assert err is None and rows == [["1"]]
    assert len(vs) == 1, msgs
    body = vs[0][1]
    newest_minor, n_opts = struct.unpack("!II", body[:8])
    opts = [o.decode() for o in body[8:].split(b"\0")[:n_opts]]
    return newest_minor, opts


@pytest.mark.pgfjord_only("PgBouncer 1.18 refuses protocol 3.2 with 'bad packet header'")
def test_protocol_3_2_gets_negotiate_protocol_version(pg, pgfjord):
    p = trust_pooler(pg, pgfjord)
    newest_minor, opts = negotiate(p, version=(3 << 16) | 2)
    assert newest_minor < 2
    assert opts == []


@pytest.mark.pgfjord_only("PgBouncer 1.18 refuses _pq_ options as unsupported startup parameters")
def test_pq_option_gets_negotiate_protocol_version(pg, pgfjord):
    p = trust_pooler(pg, pgfjord)
    newest_minor, opts = negotiate(p, **{"_pq_.fjord_test": "on"})
    assert newest_minor == 0
    assert opts == ["_pq_.fjord_test"]


def test_application_name_reaches_pg_stat_activity(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, default_pool_size=1)
    q = "select application_name from pg_stat_activity where pid = pg_backend_pid()"
    with p.connect(user=TRUST_USER, application_name="fjord-fn-a") as a, \
            p.connect(user=TRUST_USER, application_name="fjord-fn-b") as b:
        # both clients share one server; each sees its own name while it runs
        for _ in range(3):
            assert a.execute(q).fetchone()[0] == "fjord-fn-a"
            assert b.execute(q).fetchone()[0] == "fjord-fn-b"


@pytest.mark.parametrize("param,value", [("geqo", "off"), ("work_mem", "8MB")])
def test_unsupported_startup_parameter(pg, pgfjord, param, value):
    p = trust_pooler(pg, pgfjord)
    with p.wire() as w:
        status, fields = w.try_login(TRUST_USER, "app", **{param: value})
    assert status == "error", fields
    assert "unsupported startup parameter" in fields["M"], fields
    assert fields["C"] == "08P01", fields
    assert p.alive()

    p2 = trust_pooler(pg, pgfjord, ignore_startup_parameters=param)
    with p2.wire() as w:
        w.login(TRUST_USER, "app", **{param: value})
        rows, err, _ = w.query("select 1")
        assert err is None and rows == [["1"]]


def test_options_startup_parameter(pg, pgfjord):
    p = trust_pooler(pg, pgfjord)
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(user=TRUST_USER, options="-c geqo=off")
    assert "unsupported startup parameter" in str(ei.value), str(ei.value)

    p2 = trust_pooler(pg, pgfjord, ignore_startup_parameters="extra_float_digits, options")
    with p2.connect(user=TRUST_USER, options="-c geqo=off") as c:
        assert c.execute("select 1").fetchone()[0] == 1


SETTINGS_SQL = ("select current_setting('extra_float_digits'), current_setting('search_path'), "
                "current_setting('TimeZone'), current_setting('DateStyle'), pg_backend_pid()")


@pytest.mark.pgfjord_only("PgBouncer 1.18 refuses extra_float_digits, search_path unless ignored")
def test_driver_startup_parameters_are_tracked(pg, pgfjord):
    """extra_float_digits (pgJDBC), search_path, TimeZone and DateStyle from the startup packet
    or from options, without ignore_startup_parameters: each client sees its own values on
    whichever server it gets, and one that set none sees the server's defaults."""
    p = trust_pooler(pg, pgfjord, default_pool_size=1)
    with pg.admin("app") as c:
        c.execute("create schema if not exists fjord_sp")
        c.execute("grant usage on schema fjord_sp to public")
    # startup packet parameters as pgJDBC sends them (libpq only sends them in options)
    a = p.wire()
    a.login(TRUST_USER, "app", extra_float_digits="2", search_path="fjord_sp, public",
            TimeZone="Asia/Tokyo", DateStyle="SQL, DMY")
    b = p.connect(user=TRUST_USER, options="-c extra_float_digits=-3 -c search_path=public")
    plain = p.connect(user=TRUST_USER)
    defaults = tuple(pg.execute(SETTINGS_SQL.replace(", pg_backend_pid()", ""), dbname="app")[0])

    def wire_row(sql):
        rows, err, _ = a.query(sql)
        assert err is None, err
        return tuple(rows[0])

    pids = set()
    for _ in range(3):
        for run, want in ((wire_row, ("2", "fjord_sp, public", "Asia/Tokyo", "SQL, DMY")),
                          (lambda sql: b.execute(sql).fetchone(), ("-3", "public") + defaults[2:]),
                          (lambda sql: plain.execute(sql).fetchone(), defaults)):
            row = run(SETTINGS_SQL)
            pids.add(str(row[4]))
            assert tuple(row[:4]) == want, (row, want)
    assert len(pids) == 1  # all on the pool's one server
    # a list value stays a list: both schemas are on the path
    assert wire_row("select count(*) from pg_namespace where nspname = any(current_schemas(false))"
                    ) == ("2",)
    a.close()
    for conn in (b, plain):
        conn.close()
    pg.execute("drop schema fjord_sp", dbname="app")


@pytest.mark.pgfjord_only("PgBouncer 1.18 refuses extra_float_digits and follows no SET of it")
def test_set_of_an_unreported_parameter_follows_the_client(pg, pgfjord):
    """pgJDBC sends extra_float_digits=2 at startup, then SET extra_float_digits = 3 (as an
    unnamed Parse): the client keeps 3 on every server. A SET inside a block that is rolled
    back, or SET LOCAL, is not followed."""
    p = trust_pooler(pg, pgfjord, default_pool_size=2)
    a = p.wire()
    a.login(TRUST_USER, "app", extra_float_digits="2")
    other = p.connect(user=TRUST_USER)

    def efd():
        rows, err, _ = a.query("select current_setting('extra_float_digits'), pg_backend_pid()")
        assert err is None, err
        return rows[0]

    def moved(want):
        # the other client holds one server or none, so that a runs on both in turn
        pids = set()
        for k in range(6):
            if k % 2:
                other.execute("begin")
            value, pid = efd()
            pids.add(pid)
            assert value == want, (value, want, k)
            if k % 2:
                other.execute("commit")
        return pids

    assert len(moved("2")) == 2
    # the extended form, as pgJDBC sends it
    parse = h.msg(b"P", b"\0SET extra_float_digits = 3\0\0\0")
    bind = h.msg(b"B", b"\0\0\0\0\0\0\0\0")
    execute = h.msg(b"E", b"\0\0\0\0\0")
    a.send(parse + bind + execute + h.msg(b"S"))
    assert [t for t, _ in a.read_until((b"Z",))] == [b"1", b"2", b"C", b"Z"]
    moved("3")
    rows, err, _ = a.query("SET extra_float_digits TO -1")
    assert err is None
    moved("-1")
    # rolled back, local: not the client's
    for sql in ("begin; set extra_float_digits = 0; rollback", "set local extra_float_digits = 0"):
        rows, err, _ = a.query(sql)
        moved("-1")
    rows, err, _ = a.query("RESET extra_float_digits")
    assert err is None
    moved("1")
    a.close()
    other.close()
