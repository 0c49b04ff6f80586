"""Bad input, limits and shutdown: the pooler answers with an ErrorResponse (SQLSTATE 08P01
for protocol violations) and keeps serving everyone else."""

import signal
import socket
import struct
import threading
import time

import psycopg
import pytest

import harness as h
from harness import MD5_PASS, MD5_USER, TRUST_USER


def trust_pooler(pg, pgfjord, **settings):
    ini = {"auth_type": "trust", "pool_mode": "transaction"}
    ini.update(settings)
    return pgfjord(ini, {"app": pg.connstr("app")}, {TRUST_USER: "", MD5_USER: MD5_PASS})


def assert_serving(p):
    assert p.alive(), "pooler died"
    with p.connect(user=TRUST_USER) as c:
        assert c.execute("select 1").fetchone()[0] == 1


def tls_client_hello():
    """The start of a real TLS 1.2+ ClientHello record, as a TLS client sends it first."""
    body = (b"\x03\x03" + bytes(range(32)) + b"\x00" + b"\x00\x04\x13\x01\x00\xff"
            + b"\x01\x00" + b"\x00\x00")
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(hs).to_bytes(2, "big") + hs


def big_startup(total):
    params = b"user\0" + TRUST_USER.encode() + b"\0database\0app\0application_name\0"
    pad = total - 4 - 4 - len(params) - 2
    body = struct.pack("!I", h.PROTO_3_0) + params + b"a" * pad + b"\0\0"
    return struct.pack("!I", len(body) + 4) + body


BAD_STARTUPS = {
    "length_below_4": struct.pack("!I", 2) + struct.pack("!I", h.PROTO_3_0),
    "length_below_8": struct.pack("!I", 6) + struct.pack("!I", h.PROTO_3_0),
    "length_zero": struct.pack("!I", 0) + struct.pack("!I", h.PROTO_3_0),
    "length_above_10000": big_startup(20000),
    "length_huge": struct.pack("!I", 0x7FFFFFF0) + struct.pack("!I", h.PROTO_3_0),
    "garbage_http": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "tls_client_hello": tls_client_hello(),
    "bad_protocol_version": struct.pack("!II", 8, 0x12345678),
}


@pytest.mark.parametrize("name", list(BAD_STARTUPS))
def test_bad_startup_packet(pg, pgfjord, name):
    p = trust_pooler(pg, pgfjord)
    with p.wire(timeout=10) as w:
        w.send(BAD_STARTUPS[name])
        fields = w.error_or_close()
        assert fields is not None, "connection closed without an ErrorResponse"
        assert fields["C"] == "08P01", fields
        assert w.closed(5), "connection left open after a protocol violation"
    assert_serving(p)


def test_oversized_message_after_login(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, max_packet_size=65536)
    with p.wire() as w:
        w.login(TRUST_USER, "app")
        # just below the limit is fine
        rows, err, _ = w.query("select '" + "x" * 60000 + "'::text = ''")
        assert err is None and rows == [["f"]], err
        # above the limit: 08P01 and the connection is closed
        w.send_msg(b"Q", b"select '" + b"x" * 100000 + b"'\0")
        fields = w.error_or_close()
        assert fields is not None, "connection closed without an ErrorResponse"
        assert fields["C"] == "08P01", fields
        assert w.closed(5)
    assert_serving(p)


def test_max_client_conn(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, max_client_conn=3)
    conns = [p.connect(user=TRUST_USER) for _ in range(3)]
    try:
        with p.wire() as w:
            status, fields = w.try_login(TRUST_USER, "app")
        assert status == "error", fields
        assert "no more connections allowed (max_client_conn)" in fields["M"], fields
        with pytest.raises(psycopg.OperationalError) as ei:
            p.connect(user=TRUST_USER)
        assert "no more connections allowed (max_client_conn)" in str(ei.value)
        for c in conns:
            assert c.execute("select 1").fetchone()[0] == 1
    finally:
        conns.pop().close()
    # a slot is free again
    with p.connect(user=TRUST_USER) as c:
        assert c.execute("select 2").fetchone()[0] == 2
    for c in conns:
        c.close()


@pytest.mark.pgfjord_only("PgBouncer 1.18 refuses max_client_conn overflow with SQLSTATE 08P01")
def test_max_client_conn_sqlstate_53300(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, max_client_conn=2)
    conns = [p.connect(user=TRUST_USER) for _ in range(2)]
    try:
        with p.wire() as w:
            status, fields = w.try_login(TRUST_USER, "app")
        assert status == "error", fields
        assert fields["C"] == "53300", fields
        assert fields["M"] == "no more connections allowed (max_client_conn)", fields
    finally:
        for c in conns:
            c.close()


@pytest.mark.parametrize("auth_type", ["trust", "md5"])
def test_unknown_database(pg, pgfjord, auth_type):
    p = trust_pooler(pg, pgfjord, auth_type=auth_type)
    password = MD5_PASS if auth_type == "md5" else None
    user = MD5_USER if auth_type == "md5" else TRUST_USER
    with p.wire() as w:
        status, fields = w.try_login(user, "fjord_nodb", password)
    assert status == "error", fields
    assert "no such database" in fields["M"], fields
    assert "fjord_nodb" in fields["M"], fields
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(user=user, password=password, dbname="fjord_nodb")
    assert "no such database" in str(ei.value)
    with p.connect(user=user, password=password) as c:
        assert c.execute("select 1").fetchone()[0] == 1


# ---------------------------------------------------------------------------- shutdown

def setup_shutdown_table(pg):
    pg.execute("drop table if exists shutdowntest", dbname="app")
    pg.execute("create table shutdowntest (v text)", dbname="app")
    pg.execute(f"grant all on shutdowntest to {TRUST_USER}", dbname="app")


def test_sigint_waits_for_inflight_transaction(pg, pgfjord):
    setup_shutdown_table(pg)
    try:
        p = trust_pooler(pg, pgfjord)
        assert p.unix_socket.exists() and p.pidfile.exists()
        assert int(p.pidfile.read_text().strip()) == p.pid
        c = p.connect(user=TRUST_USER, autocommit=False)
        c.execute("insert into shutdowntest values ('in-flight')")
        p.kill(signal.SIGINT)
        time.sleep(0.5)
        assert p.alive(), "pooler exited while a transaction was in flight"
        # the in-flight transaction finishes normally
        c.execute("insert into shutdowntest values ('after-sigint')")
        c.commit()
        assert p.wait_exit(10), "pooler did not exit once the transaction was done"
        p.expected_exit = True
        assert sorted(r[0] for r in pg.execute("select v from shutdowntest", dbname="app")) \
            == ["after-sigint", "in-flight"]
        assert not p.unix_socket.exists(), "unix socket left behind"
        assert not p.pidfile.exists(), "pidfile left behind"
        c.close()
    finally:
        pg.execute("drop table if exists shutdowntest", dbname="app")


@pytest.mark.pgfjord_only("PgBouncer 1.18 still accepts logins while shutting down on SIGINT "
                          "(it pauses them instead)")
def test_sigint_refuses_new_connections(pg, pgfjord):
    setup_shutdown_table(pg)
    try:
        p = trust_pooler(pg, pgfjord)
        c = p.connect(user=TRUST_USER, autocommit=False)
        c.execute("insert into shutdowntest values ('in-flight')")
        p.kill(signal.SIGINT)
        time.sleep(0.5)
        assert p.alive()
        t0 = time.monotonic()
        with pytest.raises(psycopg.OperationalError) as ei:
            p.connect(user=TRUST_USER, connect_timeout=5)
        assert time.monotonic() - t0 < 5
        msg = str(ei.value)
        assert "shutting down" in msg or "refused" in msg, msg
        c.commit()
        assert p.wait_exit(10)
        p.expected_exit = True
        assert not p.unix_socket.exists() and not p.pidfile.exists()
        c.close()
    finally:
        pg.execute("drop table if exists shutdowntest", dbname="app")
