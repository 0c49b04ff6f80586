"""TLS toward clients (issue #6): client_tls_sslmode with every libpq sslmode, direct TLS as
PostgreSQL 17 speaks it (ALPN "postgresql"), certificates reloaded without dropping clients,
auth_type = cert, the tls column of SHOW CLIENTS, and bad TLS input."""
import ssl
import struct
import time

import psycopg
import pytest

import harness as h
from harness import TRUST_USER
from admin_helpers import console, edit_config, show, wait_for

SSL_REQUEST = struct.pack("!II", 8, 80877103)


def tls_pooler(pg, pgfjord, certs, mode="require", settings=None, cert="server", **kw):
    ini = {"auth_type": "trust", "pool_mode": "transaction", "admin_users": TRUST_USER,
           "client_tls_sslmode": mode, "client_tls_cert_file": certs.path(f"{cert}.crt"),
           "client_tls_key_file": certs.path(f"{cert}.key"), "client_tls_ca_file": certs.path("ca.crt")}
    ini.update(settings or {})
    return pgfjord(ini, {"app": pg.connstr("app")}, {TRUST_USER: ""}, **kw)


def connect(p, sslmode, host=None, **kw):
    kw.setdefault("sslrootcert", kw.pop("root", None))
    return p.connect(user=TRUST_USER, sslmode=sslmode, host=host or p.host, **kw)


def client_context(certs, alpn=("postgresql",), cert=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.path("ca.crt"))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if cert:
        ctx.load_cert_chain(*cert)
    return ctx


def direct_tls(p, certs, alpn=("postgresql",), cert=None):
    """A Wire whose first bytes are a TLS ClientHello (PostgreSQL 17's sslnegotiation=direct)."""
    w = h.Wire(p.host, p.port)
    w.sock = client_context(certs, alpn, cert).wrap_socket(w.sock, server_hostname="localhost")
    return w


def requested_tls(p, certs):
    """A Wire that asks with SSLRequest, then shakes hands."""
    w = h.Wire(p.host, p.port)
    w.send(SSL_REQUEST)
    assert w.read_byte() == b"S"
    w.sock = client_context(certs, alpn=None).wrap_socket(w.sock, server_hostname="localhost")
    return w


def simple_query(w, sql):
    w.send_msg(b"Q", sql.encode() + b"\0")
    return w.read_until((b"Z",))


def test_require_serves_tls_clients_and_shows_it(pg, pgfjord, certs):
    p = tls_pooler(pg, pgfjord, certs, "require")
    with connect(p, "require") as c:
        assert c.execute("select 1").fetchone()[0] == 1
        assert c.pgconn.ssl_in_use
        with console(p, user=TRUST_USER, password=None, sslmode="require") as a:
            rows = show(a, "CLIENTS").where(database="app")
            assert len(rows) == 1 and rows[0]["tls"].startswith("TLSv1.3/"), rows
    assert "tls=TLSv1.3/" in p.log()


def test_require_refuses_plain_clients_but_not_the_unix_socket(pg, pgfjord, certs):
    p = tls_pooler(pg, pgfjord, certs, "require")
    with pytest.raises(psycopg.OperationalError) as ei:
        connect(p, "disable")
    assert "SSL required" in str(ei.value)
    with p.connect(user=TRUST_USER, host=str(p.unix_socket.parent), sslmode="disable") as c:
        assert c.execute("select 1").fetchone()[0] == 1


def test_prefer_serves_both(pg, pgfjord, certs):
    p = tls_pooler(pg, pgfjord, certs, "prefer")
    with connect(p, "disable") as plain, connect(p, "prefer") as tls:
        assert not plain.pgconn.ssl_in_use and tls.pgconn.ssl_in_use
        assert plain.execute("select 1").fetchone()[0] == tls.execute("select 1").fetchone()[0]


def test_disable_answers_no(pg, pgfjord, certs):
    p = tls_pooler(pg, pgfjord, certs, "disable")
    with pytest.raises(psycopg.OperationalError) as ei:
        connect(p, "require")
    assert "server does not support SSL" in str(ei.value)
    with connect(p, "prefer") as c:
        assert not c.pgconn.ssl_in_use


@pytest.mark.parametrize("sslmode", ["allow", "prefer", "require", "verify-ca", "verify-full"])
def test_every_libpq_sslmode(pg, pgfjord, certs, sslmode):
    p = tls_pooler(pg, pgfjord, certs, "prefer")
    with connect(p, sslmode, root=certs.path("ca.crt"), host="localhost") as c:
        assert c.execute("select 1").fetchone()[0] == 1
        assert c.pgconn.ssl_in_use == (sslmode != "allow")  # allow tries plain first


def test_verify_full_fails_on_a_certificate_for_another_host(pg, pgfjord, certs):
    p = tls_pooler(pg, pgfjord, certs, "require", cert="wronghost")
    with pytest.raises(psycopg.OperationalError) as ei:
        connect(p, "verify-full", root=certs.path("ca.crt"), host="localhost")
    assert "does not match host name" in str(ei.value) or "certificate" in str(ei.value)
    with connect(p, "verify-ca", root=certs.path("ca.crt")) as c:  # the chain itself is fine
        assert c.execute("select 1").fetchone()[0] == 1


@pytest.mark.pgfjord_only("direct TLS (PostgreSQL 17) is newer than PgBouncer 1.18")
def test_direct_tls_with_alpn(pg, pgfjord, certs):
    p = tls_pooler(pg, pgfjord, certs, "require")
    with direct_tls(p, certs) as w:
        assert w.sock.selected_alpn_protocol() == "postgresql"
        w.login(TRUST_USER, "app")
        msgs = simple_query(w, "select 42")
        rows = [m for m in msgs if m[0] == b"D"]
        assert rows and rows[0][1].endswith(b"42")


@pytest.mark.pgfjord_only("direct TLS (PostgreSQL 17) is newer than PgBouncer 1.18")
def test_direct_tls_without_alpn_is_refused(pg, pgfjord, certs):
    p = tls_pooler(pg, pgfjord, certs, "require")
    with direct_tls(p, certs, alpn=None) as w:
        err = w.error_or_close()
        assert err is not None and "ALPN" in err.get("M", ""), err
    # a client offering only some other protocol fails the handshake itself
    with pytest.raises((ssl.SSLError, ConnectionError)):
        direct_tls(p, certs, alpn=("http/1.1",))
    assert p.alive()


def test_plain_bytes_after_ssl_request_are_refused(pg, pgfjord, certs):
    # Bytes sent in the clear right behind the SSLRequest must not be taken as if they had
    # come over TLS (PostgreSQL's CVE-2021-23214): no 'S', an error instead.
    p = tls_pooler(pg, pgfjord, certs, "require")
    with h.Wire(p.host, p.port) as w:
        w.send(SSL_REQUEST + h.startup_packet({"user": TRUST_USER, "database": "app"}))
        err = w.error_or_close()
        assert err is not None and "unencrypted data after SSL request" in err.get("M", ""), err
    assert p.alive()


@pytest.mark.pgfjord_only("PgBouncer 1.18 keeps a broken handshake open until client_login_timeout")
def test_a_broken_handshake_ends_only_that_connection(pg, pgfjord, certs):
    p = tls_pooler(pg, pgfjord, certs, "require")
    with h.Wire(p.host, p.port) as w:
        w.send(SSL_REQUEST)
        assert w.read_byte() == b"S"
        w.send(b"\x16\x03\x01\x00\x05hello-not-tls" * 4)
        assert w.closed(5)
    assert "TLS handshake failed" in p.log()
    with connect(p, "require") as c:
        assert c.execute("select 1").fetchone()[0] == 1


@pytest.mark.timeout(90)
def test_half_open_handshakes_do_not_block_other_clients(pg, pgfjord, certs):
    p = tls_pooler(pg, pgfjord, certs, "require", {"max_client_conn": 500})
    stalled = []
    try:
        for _ in range(200):
            w = h.Wire(p.host, p.port)
            w.send(SSL_REQUEST)
            assert w.read_byte() == b"S"
            # send half a ClientHello and stop: the pooler must not wait for the rest
            w.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            stalled.append(w)
        with connect(p, "require") as c:
            worst = 0
            for _ in range(50):
                t0 = time.monotonic()
                c.execute("select 1")
                worst = max(worst, time.monotonic() - t0)
            assert worst < 0.5, worst
    finally:
        for w in stalled:
            w.close()


@pytest.mark.pgfjord_only("reads the new certificate with a direct TLS handshake")
def test_reload_swaps_certificates_without_dropping_clients(pg, pgfjord, certs):
    p = tls_pooler(pg, pgfjord, certs, "require", cert="server")
    with connect(p, "require") as before:
        before.execute("select 1")
        edit_config(p, settings={"client_tls_cert_file": certs.path("wronghost.crt"),
                                 "client_tls_key_file": certs.path("wronghost.key")})
        p.reload()
        time.sleep(1)
        assert before.execute("select 2").fetchone()[0] == 2  # still connected
        w = h.Wire(p.host, p.port)
        ctx = client_context(certs)
        ctx.check_hostname = False
        w.sock = ctx.wrap_socket(w.sock)
        cn = dict(x[0] for x in w.sock.getpeercert()["subject"])["commonName"]
        w.close()
        assert cn == "elsewhere.invalid"


def test_a_broken_certificate_at_reload_keeps_the_running_one(pg, pgfjord, certs):
    p = tls_pooler(pg, pgfjord, certs, "require")
    edit_config(p, settings={"client_tls_cert_file": certs.path("missing.crt")})
    p.reload()
    time.sleep(1)
    with connect(p, "require") as c:
        assert c.execute("select 1").fetchone()[0] == 1
    assert p.alive()


def test_cert_auth_needs_verify_full(pg, pgfjord, certs):
    p = tls_pooler(pg, pgfjord, certs, "verify-ca", {"auth_type": "cert"}, start=False)
    p.expected_exit = True
    with pytest.raises(RuntimeError):
        p.start(timeout=5)
    assert "auth_type=cert requires client_tls_sslmode=verify" in (p.log() + p.stderr()).replace("SSLMODE_VERIFY_FULL", "verify-full")


def test_bad_certificate_stops_the_start(pg, pgfjord, certs):
    p = tls_pooler(pg, pgfjord, certs, "require", {"client_tls_key_file": certs.path("missing.key")},
                   start=False)
    p.expected_exit = True
    with pytest.raises(RuntimeError):
        p.start(timeout=5)


# -- auth_type = cert

def cert_pooler(pg, pgfjord, certs, mode="verify-full"):
    return tls_pooler(pg, pgfjord, certs, mode, {"auth_type": "cert"})


def test_cert_auth_takes_the_user_from_the_common_name(pg, pgfjord, certs):
    p = cert_pooler(pg, pgfjord, certs)
    crt, key = certs.client(TRUST_USER)
    with connect(p, "require", sslcert=crt, sslkey=key) as c:
        assert c.execute("select current_user").fetchone()[0] == TRUST_USER


def test_cert_auth_refuses_another_user(pg, pgfjord, certs):
    p = cert_pooler(pg, pgfjord, certs)
    crt, key = certs.client(TRUST_USER)
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(user=h.MD5_USER, sslmode="require", sslcert=crt, sslkey=key)
    assert "certificate authentication failed" in str(ei.value)


@pytest.mark.parametrize("which", ["none", "expired", "untrusted"])
def test_cert_auth_refuses_missing_expired_and_untrusted_certificates(pg, pgfjord, certs, which):
    p = cert_pooler(pg, pgfjord, certs)
    kw = {}
    if which == "expired":
        kw = {"sslcert": certs.path("expired.crt"), "sslkey": certs.path("expired.key")}
    elif which == "untrusted":
        kw = {"sslcert": certs.path("untrusted.crt"), "sslkey": certs.path("untrusted.key")}
    with pytest.raises(psycopg.OperationalError):
        p.connect(user=TRUST_USER, sslmode="require", **kw)
    if which != "none":  # the pooler logs OpenSSL's reason (the client may hang up first)
        wait_for(lambda: "certificate verify failed" in p.log(), timeout=5, what="the log line")
    assert p.alive()


def tls_column_of_a_client(p):
    """The tls column of SHOW CLIENTS for a TLS client that has run a query."""
    with connect(p, "require") as c, console(p, user=TRUST_USER, password=None, sslmode="require") as a:
        c.execute("select 1")
        return show(a, "CLIENTS").where(database="app")[0]["tls"]


def test_client_tls_protocols_and_ciphers(pg, pgfjord, certs):
    p = tls_pooler(pg, pgfjord, certs, "require", {"client_tls_protocols": "tlsv1.2",
                                                    "client_tls_ciphers": "ECDHE-RSA-AES128-GCM-SHA256"})
    tls = tls_column_of_a_client(p)
    assert tls.startswith("TLSv1.2/ECDHE-RSA-AES128-GCM-SHA256"), tls
    # a client that insists on TLS 1.3 cannot agree with a TLS 1.2-only pooler
    w = h.Wire(p.host, p.port)
    try:
        w.send(SSL_REQUEST)
        assert w.read_byte() == b"S"
        ctx = client_context(certs, alpn=None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        with pytest.raises((ssl.SSLError, ConnectionError)):
            ctx.wrap_socket(w.sock, server_hostname="localhost")
    finally:
        w.close()


@pytest.mark.pgfjord_only("PgBouncer 1.18 names TLS 1.3 ciphers differently in the tls column")
def test_client_tls13_ciphers(pg, pgfjord, certs):
    p = tls_pooler(pg, pgfjord, certs, "require", {"client_tls13_ciphers": "TLS_CHACHA20_POLY1305_SHA256"})
    tls = tls_column_of_a_client(p)
    assert tls.startswith("TLSv1.3/TLS_CHACHA20_POLY1305_SHA256"), tls


@pytest.mark.pgfjord_only("the ECDH group in the tls column is read from OpenSSL 3's negotiated group")
def test_client_tls_ecdhcurve(pg, pgfjord, certs):
    p = tls_pooler(pg, pgfjord, certs, "require", {"client_tls_ecdhcurve": "prime256v1",
                                                    "client_tls_dheparams": "none"})
    tls = tls_column_of_a_client(p)
    assert tls.endswith("/ECDH=prime256v1"), tls


def test_bad_tls_key_values_stop_the_start(pg, pgfjord, certs):
    for bad in ({"client_tls_protocols": "tlsv9"}, {"client_tls_ciphers": "NO-SUCH-CIPHER"},
                {"client_tls_dheparams": "huge"}):
        p = tls_pooler(pg, pgfjord, certs, "require", bad, start=False)
        p.expected_exit = True
        with pytest.raises(RuntimeError):
            p.start(timeout=5)
        assert "TLS setup failed" in p.log() + p.stderr(), bad


@pytest.mark.pgfjord_only("PgBouncer 1.18 takes the SET and leaves its running TLS setup as it was")
def test_set_of_a_broken_tls_key_fails_and_changes_nothing(pg, pgfjord, certs):
    p = tls_pooler(pg, pgfjord, certs, "require")
    with console(p, user=TRUST_USER, password=None, sslmode="require") as a:
        with pytest.raises(psycopg.Error) as ei:
            a.execute(f"SET client_tls_cert_file = '{certs.path('missing.crt')}'")
        assert "SET failed" in str(ei.value)
        value = [r for r in a.execute("SHOW CONFIG").fetchall() if r[0] == "client_tls_cert_file"][0][1]
        assert value == certs.path("server.crt")
    with connect(p, "require") as c:
        assert c.execute("select 1").fetchone()[0] == 1
