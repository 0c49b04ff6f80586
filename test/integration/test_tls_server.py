"""TLS toward PostgreSQL and SCRAM-SHA-256-PLUS (issue #6): server_tls_sslmode against a
cluster that takes TLS only (hostnossl rejected), verify-ca/verify-full with the test CA,
a certificate for another host, a server without TLS, and channel binding on both sides."""
import time

import psycopg
import pytest

import harness as h
from harness import SCRAM_PASS, SCRAM_USER, TRUST_USER
from admin_helpers import console, show


@pytest.fixture(scope="module")
def tls_pg(certs):
    """A cluster of this module that accepts only TLS connections over TCP."""
    cluster = h.PgCluster()
    try:
        cluster.init()
        with open(cluster.data / "postgresql.conf", "a") as f:
            f.write(f"ssl = on\nssl_cert_file = '{certs.path('server.crt')}'\n"
                    f"ssl_key_file = '{certs.path('server.key')}'\n")
        h.write_file(cluster.data / "pg_hba.conf",
                     "local all all trust\n"
                     f"hostssl all {SCRAM_USER} 127.0.0.1/32 scram-sha-256\n"
                     f"hostssl all {TRUST_USER} 127.0.0.1/32 trust\n"
                     "hostnossl all all 127.0.0.1/32 reject\n")
        cluster.start()
        cluster.setup_roles()
        yield cluster
    finally:
        cluster.stop()
        cluster.cleanup()


def server_tls_pooler(tls_pg, pgfjord, certs, mode, host="localhost", **settings):
    ini = {"auth_type": "trust", "pool_mode": "transaction", "admin_users": TRUST_USER,
           "server_tls_sslmode": mode, "server_tls_ca_file": certs.path("ca.crt"),
           "server_login_retry": 1}
    ini.update(settings)
    dbs = {"app": f"host={host} port={tls_pg.port} dbname=app"}
    return pgfjord(ini, dbs, {TRUST_USER: "", SCRAM_USER: SCRAM_PASS})


def backend_ssl(tls_pg, user=TRUST_USER):
    return tls_pg.execute("select s.ssl, s.version from pg_stat_ssl s join pg_stat_activity a "
                          "using (pid) where a.usename = %s and a.backend_type = 'client backend'",
                          (user,))


@pytest.mark.parametrize("mode", ["prefer", "require", "verify-ca", "verify-full"])
def test_server_tls_modes_against_a_tls_only_server(tls_pg, pgfjord, certs, mode):
    p = server_tls_pooler(tls_pg, pgfjord, certs, mode)
    with p.connect(user=TRUST_USER) as c:
        assert c.execute("select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetchone()[0]
    rows = backend_ssl(tls_pg)
    assert rows and all(r[0] for r in rows), rows
    with console(p, user=TRUST_USER, password=None) as a:
        servers = show(a, "SERVERS").where(database="app")
        assert servers and servers[0]["tls"].startswith("TLSv1."), servers


def test_server_tls_disable_is_refused_by_a_tls_only_server(tls_pg, pgfjord, certs):
    p = server_tls_pooler(tls_pg, pgfjord, certs, "disable")
    with pytest.raises(psycopg.OperationalError) as ei:
        with p.connect(user=TRUST_USER) as c:
            c.execute("select 1")
    assert "no encryption" in str(ei.value) or "pg_hba.conf" in str(ei.value)


def test_verify_full_checks_the_host_name(tls_pg, pgfjord, certs):
    # 127.0.0.1 is in the certificate too (IP SAN): verify-full passes by address
    p = server_tls_pooler(tls_pg, pgfjord, certs, "verify-full", host="127.0.0.1")
    with p.connect(user=TRUST_USER) as c:
        assert c.execute("select 1").fetchone()[0] == 1


def test_verify_ca_refuses_a_server_of_another_ca(tls_pg, pgfjord, certs):
    p = server_tls_pooler(tls_pg, pgfjord, certs, "verify-ca",
                          server_tls_ca_file=certs.path("other-ca.crt"))
    with pytest.raises(psycopg.OperationalError) as ei:
        with p.connect(user=TRUST_USER) as c:
            c.execute("select 1")
    assert "certificate verify failed" in str(ei.value) or "certificate verify failed" in p.log()
    assert p.alive()


@pytest.fixture
def wrong_host_cert(tls_pg, certs):
    """PostgreSQL serves the certificate made for elsewhere.invalid for the test's duration."""
    def use(name):
        with open(tls_pg.data / "postgresql.conf", "a") as f:
            f.write(f"ssl_cert_file = '{certs.path(name + '.crt')}'\n"
                    f"ssl_key_file = '{certs.path(name + '.key')}'\n")
        tls_pg.execute("select pg_reload_conf()")
        time.sleep(0.5)
    use("wronghost")
    yield
    use("server")


def test_verify_full_refuses_a_certificate_for_another_host(tls_pg, pgfjord, certs, wrong_host_cert):
    p = server_tls_pooler(tls_pg, pgfjord, certs, "verify-full")
    with pytest.raises(psycopg.OperationalError):
        with p.connect(user=TRUST_USER) as c:
            c.execute("select 1")
    if not h.REFERENCE:  # COMPAT.md: the log names OpenSSL's reason
        assert "certificate verify failed" in p.log()
    # the chain is fine: verify-ca accepts the same certificate
    p2 = server_tls_pooler(tls_pg, pgfjord, certs, "verify-ca")
    with p2.connect(user=TRUST_USER) as c:
        assert c.execute("select 1").fetchone()[0] == 1


@pytest.mark.pgfjord_only("the pooler's log names the refusal; PgBouncer 1.18 words it differently")
def test_require_refuses_a_server_without_tls(pg, pgfjord, certs):
    ini = {"auth_type": "trust", "pool_mode": "transaction", "server_tls_sslmode": "require",
           "server_login_retry": 1}
    p = pgfjord(ini, {"app": pg.connstr("app")}, {TRUST_USER: ""})
    with pytest.raises(psycopg.OperationalError) as ei:
        with p.connect(user=TRUST_USER) as c:
            c.execute("select 1")
    assert "server refused TLS" in str(ei.value)


@pytest.mark.pgfjord_only("SCRAM-SHA-256-PLUS came with PgBouncer 1.21")
def test_scram_plus_toward_the_server(tls_pg, pgfjord, certs):
    p = server_tls_pooler(tls_pg, pgfjord, certs, "require", auth_type="scram-sha-256", verbose=1)
    with p.connect(user=SCRAM_USER, password=SCRAM_PASS) as c:
        assert c.execute("select current_user").fetchone()[0] == SCRAM_USER
    assert "SCRAM-SHA-256-PLUS" in p.log()


@pytest.mark.pgfjord_only("SCRAM-SHA-256-PLUS came with PgBouncer 1.21")
def test_scram_plus_from_clients_and_pass_through(tls_pg, pgfjord, certs):
    # The auth_file holds PostgreSQL's SCRAM secret: the pooler logs in with the keys of the
    # client's proof, over TLS with channel binding on both sides.
    ini = {"auth_type": "scram-sha-256", "pool_mode": "transaction",
           "client_tls_sslmode": "require", "client_tls_cert_file": certs.path("server.crt"),
           "client_tls_key_file": certs.path("server.key"),
           "server_tls_sslmode": "verify-full", "server_tls_ca_file": certs.path("ca.crt")}
    secret = tls_pg.authid_secret(SCRAM_USER)
    p = pgfjord(ini, {"app": f"host=localhost port={tls_pg.port} dbname=app"}, {SCRAM_USER: secret})
    with p.connect(user=SCRAM_USER, password=SCRAM_PASS, sslmode="require", channel_binding="require") as c:
        assert c.execute("select current_user").fetchone()[0] == SCRAM_USER
    # a wrong password still fails, with binding or without
    with pytest.raises(psycopg.OperationalError):
        p.connect(user=SCRAM_USER, password="wrong", sslmode="require", channel_binding="require")
    with p.connect(user=SCRAM_USER, password=SCRAM_PASS, sslmode="require", channel_binding="disable") as c:
        assert c.execute("select 1").fetchone()[0] == 1


@pytest.mark.pgfjord_only("PgBouncer 1.18 has no max_prepared_statements")
def test_prepared_statements_over_tls_to_the_server(tls_pg, pgfjord, certs):
    """Renamed Binds, injected Parses and Closes, and the pooler's own answers, with a TLS
    stream to PostgreSQL (its only output queue carries the injected bytes in order)."""
    import threading
    p = server_tls_pooler(tls_pg, pgfjord, certs, "require", default_pool_size=1,
                          max_prepared_statements=2)
    errors = []

    def one(i):
        try:
            with psycopg.connect(p.dsn(user=TRUST_USER), autocommit=True,
                                 prepare_threshold=0) as c:
                for k in range(40):
                    # five texts over a cache of two: evictions and lazy Parses all along
                    v = c.execute(f"select %s::int + {k % 5}", (i,)).fetchone()[0]
                    assert v == i + k % 5, (v, i, k)
                    with c.pipeline() as pl:
                        curs = [c.execute("select %s::text", (f"{i}-{j}",)) for j in range(3)]
                        pl.sync()
                        assert [x.fetchone()[0] for x in curs] == [f"{i}-{j}" for j in range(3)]
        except Exception as e:
            errors.append(f"client {i}: {e!r}")

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "clients hung"
    assert errors == [], errors[:5]
    assert backend_ssl(tls_pg) and all(r[0] for r in backend_ssl(tls_pg))


class BadTlsEndpoint:
    """A listener on [::1]:port, the port of tls_pg (which listens on 127.0.0.1 only), that
    answers the SSLRequest with 'S' and then shows a certificate for another host: a host of a
    host list whose TLS handshake fails under verify-full."""

    def __init__(self, port, certs):
        import socket
        import ssl
        import threading
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certs.path("wronghost.crt"), certs.path("wronghost.key"))
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("::1", port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.handshakes = 0
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    if len(conn.recv(8)) == 8:  # SSLRequest
                        conn.sendall(b"S")
                        self.handshakes += 1
                        self.ctx.wrap_socket(conn, server_side=True).close()
                except OSError:
                    pass  # the pooler refuses our certificate: the point of the exercise

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()


@pytest.mark.pgfjord_only("host lists are PgBouncer 1.24+")
def test_failed_tls_handshake_tries_the_next_host(tls_pg, pgfjord, certs):
    """verify-full: the first host's certificate is for another name, so its login fails in the
    TLS handshake and the same login goes on to the next host, which passes."""
    bad = BadTlsEndpoint(tls_pg.port, certs)
    try:
        p = server_tls_pooler(tls_pg, pgfjord, certs, "verify-full", host="::1,127.0.0.1",
                              load_balance_hosts="disable")
        for _ in range(2):
            with p.connect(user=TRUST_USER) as c:
                assert c.execute("select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetchone()[0]
        assert bad.handshakes >= 1
        assert "certificate verify failed" in p.log()
        assert "trying the next host" in p.log()
    finally:
        bad.close()
