"""TCP settings (issue #5): tcp_keepalive/keepcnt/keepidle/keepintvl, tcp_user_timeout,
tcp_socket_buffer on the pooler's client and server sockets, so_reuseport (two poolers on
one port), and server_connect_timeout against a server that never answers.

The socket options are read from the pooler's own sockets: the test duplicates them into
its process with pidfd_getfd(2) (needs ptrace rights over the pooler, which root has)."""
import ctypes
import os
import socket
import time

import psycopg
import pytest

import harness as h
from harness import TRUST_USER
from admin_helpers import local_port

SYS_PIDFD_GETFD = 438
TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_USER_TIMEOUT = 4, 5, 6, 18
_libc = ctypes.CDLL(None, use_errno=True)


def trust_pooler(pg, pgfjord, settings=None, databases=None, **kw):
    ini = {"auth_type": "trust", "pool_mode": "transaction"}
    ini.update(settings or {})
    return pgfjord(ini, databases or {"app": pg.connstr("app")}, {TRUST_USER: ""}, **kw)


def pooler_sockets(pid):
    """(local, peer, socket) for every TCP socket the process has; the caller closes them."""
    out = []
    pidfd = os.pidfd_open(pid)
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                    continue
            except OSError:
                continue
            fd = _libc.syscall(SYS_PIDFD_GETFD, pidfd, int(name), 0)
            if fd < 0:
                err = ctypes.get_errno()
                pytest.skip(f"pidfd_getfd on the pooler failed: {os.strerror(err)}")
            s = socket.socket(fileno=fd)
            if s.type != socket.SOCK_STREAM or s.family not in (socket.AF_INET, socket.AF_INET6):
                s.detach()
                os.close(fd)
                continue
            try:
                out.append((s.getsockname(), s.getpeername(), s))
            except OSError:  # a listening socket has no peer
                out.append((s.getsockname(), None, s))
    finally:
        os.close(pidfd)
    return out


def one_socket(pid, match):
    socks = pooler_sockets(pid)
    found = [s for local, peer, s in socks if peer and match(local, peer)]
    for local, peer, s in socks:
        if s not in found:
            s.close()
    assert len(found) == 1, f"expected one matching socket, found {len(found)}"
    return found[0]


def options(s):
    return {
        "keepalive": s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        "keepidle": s.getsockopt(socket.IPPROTO_TCP, TCP_KEEPIDLE),
        "keepintvl": s.getsockopt(socket.IPPROTO_TCP, TCP_KEEPINTVL),
        "keepcnt": s.getsockopt(socket.IPPROTO_TCP, TCP_KEEPCNT),
        "user_timeout": s.getsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT),
        "rcvbuf": s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
        "sndbuf": s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF),
    }


def test_tcp_options_on_client_and_server_sockets(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, {"tcp_keepalive": 1, "tcp_keepidle": 33, "tcp_keepintvl": 7,
                                   "tcp_keepcnt": 4, "tcp_user_timeout": 12345,
                                   "tcp_socket_buffer": 65536})
    with p.connect(user=TRUST_USER) as c:
        c.execute("select 1")
        client_port = c.execute("select inet_client_port()").fetchone()[0]  # the server socket
        my_port = local_port(c)
        client_side = one_socket(p.pid, lambda local, peer: local[1] == p.port and peer[1] == my_port)
        server_side = one_socket(p.pid, lambda local, peer: peer[1] == pg.port and local[1] == client_port)
        for s in (client_side, server_side):
            o = options(s)
            s.close()
            assert o["keepalive"] == 1
            assert (o["keepidle"], o["keepintvl"], o["keepcnt"]) == (33, 7, 4), o
            assert o["user_timeout"] == 12345, o
            assert o["rcvbuf"] == 2 * 65536 and o["sndbuf"] == 2 * 65536, o  # the kernel doubles it


def test_tcp_keepalive_off(pg, pgfjord):
    p = trust_pooler(pg, pgfjord, {"tcp_keepalive": 0})
    with p.connect(user=TRUST_USER) as c:
        client_port = c.execute("select inet_client_port()").fetchone()[0]
        s = one_socket(p.pid, lambda local, peer: peer[1] == pg.port and local[1] == client_port)
        assert options(s)["keepalive"] == 0
        s.close()


def test_so_reuseport_lets_two_poolers_share_a_port(pg, pgfjord):
    first = trust_pooler(pg, pgfjord, {"so_reuseport": 1})
    second = trust_pooler(pg, pgfjord, {"so_reuseport": 1, "listen_port": first.port})
    assert first.alive() and second.alive()
    # the kernel spreads new connections over both
    for _ in range(40):
        with first.connect(user=TRUST_USER) as c:
            c.execute("select 1")
    logins = [x.log().count("login attempt") for x in (first, second)]
    assert all(n > 0 for n in logins), logins
    # one stops: the port still answers through the other
    second.stop()
    for _ in range(5):
        with first.connect(user=TRUST_USER) as c:
            assert c.execute("select 1").fetchone()[0] == 1
    assert first.alive()


@pytest.mark.pgfjord_only("PgBouncer 1.18 keeps the client waiting and retries the login")
def test_server_connect_timeout_against_a_silent_server(pg, pgfjord):
    # A listener that completes the TCP handshake (the kernel does) but never answers.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    port = silent.getsockname()[1]
    try:
        p = trust_pooler(pg, pgfjord, {"server_connect_timeout": 1, "server_login_retry": 1},
                         {"app": f"host=127.0.0.1 port={port} dbname=app"})
        t0 = time.monotonic()
        with pytest.raises(psycopg.OperationalError) as ei:
            with p.connect(user=TRUST_USER) as c:
                c.execute("select 1")
        assert time.monotonic() - t0 < 5
        assert "timed out" in str(ei.value), str(ei.value)
        assert p.alive()
    finally:
        silent.close()
