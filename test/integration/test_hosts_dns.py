"""Host lists and DNS (issue #5): host= with several entries, load_balance_hosts, failover to
the next host, and names resolved through c-ares with dns_max_ttl, dns_nxdomain_ttl,
dns_zone_check_period and a resolv_conf of the test's own.

A PostgreSQL cluster of this module listens on 127.0.0.1, ::1 and a Unix socket, so that a
host list or a DNS answer can point at two different addresses of one server. The DNS tests
run a DNS server of their own (dnsserver.py) on 127.0.0.1:53: c-ares 1.18 (Debian 12) takes no
port from resolv.conf. They are skipped when that port is taken.
"""
import os
import shutil
import threading
import time

import psycopg
import pytest

import harness as h
from admin_helpers import console, show, wait_for, wait_show, edit_config
from dnsserver import DnsServer

USER, PASS = "hostuser", "hostpass"
ADMIN, ADMIN_PASS = "fjadmin", "fjadminpass"


class DualStackCluster(h.PgCluster):
    """The harness's cluster, also listening on ::1."""

    def init(self):
        super().init()
        with open(self.data / "postgresql.conf", "a") as f:
            f.write("listen_addresses = '127.0.0.1,::1'\n")
        hba = self.data / "pg_hba.conf"
        h.write_file(hba, h.read_text(hba) + "host all all ::1/128 scram-sha-256\n")


@pytest.fixture(scope="module")
def pg2():
    if not h.has_ipv6_loopback():
        pytest.skip("no IPv6 loopback: the host tests need ::1 beside 127.0.0.1")
    cluster = DualStackCluster()
    try:
        cluster.init()
        cluster.start()
        cluster.execute(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASS}'")
        cluster.execute("CREATE DATABASE app")
        yield cluster
    finally:
        cluster.stop()
        cluster.cleanup()


@pytest.fixture(scope="module")
def dns():
    try:
        server = DnsServer(port=53).start()
    except OSError as e:
        pytest.skip(f"cannot run the test DNS server on 127.0.0.1:53 ({e}); c-ares 1.18 "
                    "reads no port from resolv.conf, so no other port will do")
    yield server
    server.stop()


@pytest.fixture
def resolv_conf():
    d = h.make_dir("pgfj-resolv-")
    os.chmod(d, 0o755)
    # glibc's spelling for pgfjord, c-ares 1.18's (retrans in ms, retry) for PgBouncer
    path = h.write_file(d / "resolv.conf", "nameserver 127.0.0.1\n"
                        "options timeout:1 attempts:1 retrans:1000 retry:1\n", mode=0o644)
    yield str(path)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def dead_dir():
    """A directory with no PostgreSQL socket in it: connecting there fails at once."""
    d = h.make_dir("pgfj-nosock-")
    yield str(d)
    shutil.rmtree(d, ignore_errors=True)


def pooler(pgfjord, pg2, host, db_extra=None, **settings):
    ini = {"auth_type": "md5", "admin_users": ADMIN, "pool_mode": "transaction",
           "server_login_retry": 1}
    ini.update(settings)
    db = {"host": host, "port": pg2.port, "dbname": "app"}
    db.update(db_extra or {})
    return pgfjord(ini, {"app": db}, {USER: PASS, ADMIN: ADMIN_PASS})


def client(p, autocommit=True, **kw):
    return p.connect(user=USER, password=PASS, autocommit=autocommit, **kw)


def admin(p):
    return console(p, user=ADMIN, password=ADMIN_PASS)


def server_addr(conn):
    """The address this connection's current PostgreSQL backend was reached on."""
    return conn.execute("select coalesce(host(inet_server_addr()), 'unix')").fetchone()[0]


def query_addr(p):
    """One transaction through the pooler; its server's address, or the error text."""
    try:
        with client(p, connect_timeout=5) as c:
            return server_addr(c)
    except psycopg.Error as e:
        return f"error: {e}"


def held_transactions(p, n):
    """n clients, each inside a transaction (so each holds a server of its own)."""
    conns = []
    for _ in range(n):
        c = client(p, autocommit=False)
        c.execute("select 1")
        conns.append(c)
    return conns


def close_all(conns):
    for c in conns:
        c.rollback()
        c.close()


def login_error(p, timeout=15):
    """Log in over the wire protocol; the ErrorResponse fields the pooler answers with."""
    with h.Wire(p.host, p.port, timeout=timeout) as w:
        status, detail = w.try_login(USER, "app", PASS)
    assert status == "error", (status, detail)
    return detail


# --------------------------------------------------------------------------------------------
# host lists


def test_host_list_gets_past_a_dead_host(pg2, pgfjord, dead_dir):
    # The first entry is a socket directory with nothing in it. PgBouncer tries the next host
    # on its next connection attempt (after server_login_retry), pgfjord within the same login.
    p = pooler(pgfjord, pg2, f"{dead_dir},127.0.0.1", server_login_retry=0.5)
    addr = wait_for(lambda: (lambda a: a if not a.startswith("error") else None)(query_addr(p)),
                    timeout=10, what="a query through the second host")
    assert addr == "127.0.0.1"
    assert "connect failed" in p.log()


def test_round_robin_spreads_new_servers_over_the_hosts(pg2, pgfjord):
    p = pooler(pgfjord, pg2, "127.0.0.1,::1")
    conns = held_transactions(p, 4)
    try:
        addrs = sorted(server_addr(c) for c in conns)
    finally:
        close_all(conns)
    assert addrs == ["127.0.0.1", "127.0.0.1", "::1", "::1"]
    with admin(p) as a:
        assert {d["addr"] for d in show(a, "SERVERS").dicts} == {"127.0.0.1", "::1"}
        assert show(a, "DATABASES").one(name="app")["host"] == "127.0.0.1,::1"


@pytest.mark.pgfjord_only("PgBouncer gives the server login up on a dead host and tries the next "
                          "one after server_login_retry; pgfjord tries it in the same login")
def test_failover_within_one_login(pg2, pgfjord, dead_dir):
    # server_login_retry is long: only a failover inside the login can answer in time
    p = pooler(pgfjord, pg2, f"127.0.0.1,{dead_dir},::1", server_login_retry=30)
    t0 = time.monotonic()
    conns = held_transactions(p, 4)
    try:
        addrs = sorted(server_addr(c) for c in conns)
    finally:
        close_all(conns)
    assert time.monotonic() - t0 < 10
    # 1st server: 127.0.0.1; 2nd starts at the dead dir and goes on to ::1; 3rd: ::1; 4th: 127.0.0.1
    assert addrs == ["127.0.0.1", "127.0.0.1", "::1", "::1"]
    assert "trying the next host" in p.log()


@pytest.mark.pgfjord_only("load_balance_hosts is PgBouncer 1.24+; 1.18 rejects the key")
def test_load_balance_disable_stays_on_the_host_that_works(pg2, pgfjord, dead_dir):
    hosts = f"{dead_dir},127.0.0.1,::1"
    p = pooler(pgfjord, pg2, hosts, {"load_balance_hosts": "disable"}, server_login_retry=30)
    conns = held_transactions(p, 3)
    try:
        # the dead first host is given up once; every server then stays on the second
        assert [server_addr(c) for c in conns] == ["127.0.0.1"] * 3
    finally:
        close_all(conns)
    assert p.log().count("trying the next host") == 1
    with admin(p) as a:
        db = show(a, "DATABASES").one(name="app")
        assert db["host"] == hosts
        assert db["load_balance_hosts"] == "disable"
        assert show(a, "POOLS").one(database="app")["load_balance_hosts"] == "disable"

    # RELOAD back to the default: round-robin
    edit_config(p, databases={"app": {"host": "127.0.0.1,::1", "port": pg2.port, "dbname": "app"}})
    with admin(p) as a:
        a.execute("RELOAD")
        assert show(a, "DATABASES").one(name="app")["load_balance_hosts"] == "round-robin"


def test_reload_to_a_host_list_replaces_the_servers(pg2, pgfjord):
    p = pooler(pgfjord, pg2, "127.0.0.1")
    assert query_addr(p) == "127.0.0.1"
    with admin(p) as a:
        # backend pids tell connections apart in both poolers (PgBouncer 1.18 has no id column)
        old = {d["remote_pid"] for d in show(a, "SERVERS").dicts}
        assert len(old) == 1
        edit_config(p, databases={"app": {"host": "::1,127.0.0.1", "port": pg2.port,
                                          "dbname": "app"}})
        a.execute("RELOAD")
        assert show(a, "DATABASES").one(name="app")["host"] == "::1,127.0.0.1"
        # the idle server of the old host list goes
        wait_show(a, "SERVERS", lambda r: not old & {d["remote_pid"] for d in r.dicts})
    conns = held_transactions(p, 2)
    try:
        assert sorted(server_addr(c) for c in conns) == ["127.0.0.1", "::1"]
    finally:
        close_all(conns)


def test_server_round_robin_takes_idle_servers_in_turn(pg2, pgfjord):
    for rr, distinct in ((0, 1), (1, 2)):
        p = pooler(pgfjord, pg2, "127.0.0.1", server_round_robin=rr)
        close_all(held_transactions(p, 2))  # two idle servers
        pids = []
        for _ in range(4):
            with client(p) as c:
                pids.append(c.execute("select pg_backend_pid()").fetchone()[0])
        # LIFO by default: the same warm server every time; round-robin: in turn
        assert len(set(pids)) == distinct, (rr, pids)
        if rr:
            assert pids[0] != pids[1] and pids[0] == pids[2]


# --------------------------------------------------------------------------------------------
# DNS


def test_name_resolves_and_shows_in_dns_hosts(pg2, pgfjord, dns, resolv_conf):
    dns.set("e.pgfjord.test", a=["127.0.0.1"])
    p = pooler(pgfjord, pg2, "e.pgfjord.test", resolv_conf=resolv_conf, dns_max_ttl=30)
    assert query_addr(p) == "127.0.0.1"
    assert dns.count("e.pgfjord.test", "A") >= 1
    with admin(p) as a:
        row = show(a, "DNS_HOSTS").one(hostname="e.pgfjord.test")
        assert "127.0.0.1" in row["addrs"]
        assert 0 < int(row["ttl"]) <= 30
        assert show(a, "LISTS").kv()["dns_names"] >= 1


def test_new_address_for_new_servers_old_ones_close_when_free(pg2, pgfjord, dns, resolv_conf):
    dns.set("f.pgfjord.test", a=["127.0.0.1"])
    p = pooler(pgfjord, pg2, "f.pgfjord.test", resolv_conf=resolv_conf, dns_max_ttl=1)
    busy = client(p, autocommit=False)
    try:
        assert server_addr(busy) == "127.0.0.1"  # a transaction is open on the old address
        pid = busy.execute("select pg_backend_pid()").fetchone()[0]
        dns.set("f.pgfjord.test", aaaa=["::1"])
        time.sleep(1.5)
        # a new server after the TTL: the new address
        assert query_addr(p) == "::1"
        # the open transaction is not cut
        assert busy.execute("select pg_backend_pid()").fetchone()[0] == pid
        assert server_addr(busy) == "127.0.0.1"
        busy.commit()
    finally:
        busy.close()
    with admin(p) as a:
        # the old server is closed once free; the pooler now only has ::1 servers
        wait_show(a, "SERVERS", lambda r: r.dicts and all(d["addr"] == "::1" for d in r.dicts))
        assert "::1" in show(a, "DNS_HOSTS").one(hostname="f.pgfjord.test")["addrs"]
    assert query_addr(p) == "::1"


@pytest.mark.pgfjord_only("PgBouncer looks a name up again only when it opens a new server, "
                          "so idle servers keep the old address (PgBouncer issue #1583)")
def test_address_change_closes_idle_servers_without_new_connections(pg2, pgfjord, dns,
                                                                    resolv_conf):
    dns.set("g.pgfjord.test", a=["127.0.0.1"])
    p = pooler(pgfjord, pg2, "g.pgfjord.test", resolv_conf=resolv_conf, dns_max_ttl=1)
    busy, idle = held_transactions(p, 2)
    try:
        idle.commit()  # its server goes back to the pool, idle
        with admin(p) as a:
            before = show(a, "SERVERS").dicts
            assert len(before) == 2 and {d["addr"] for d in before} == {"127.0.0.1"}
            dns.set("g.pgfjord.test", aaaa=["::1"])
            # nobody opens a server; still the idle one goes, the busy one is marked
            r = wait_show(a, "SERVERS", lambda r: len(r.dicts) == 1, timeout=8)
            assert r.dicts[0]["state"] == "active" and r.dicts[0]["close_needed"] == 1
            assert "DNS address changed" in p.log()
            assert server_addr(busy) == "127.0.0.1"  # the transaction goes on
            busy.commit()
            wait_show(a, "SERVERS", lambda r: all(d["addr"] != "127.0.0.1" for d in r.dicts))
    finally:
        busy.close()
        idle.close()
    assert query_addr(p) == "::1"


def test_unresolvable_name_recovers_without_reload(pg2, pgfjord, dns, resolv_conf):
    # the fault test: a database whose name does not resolve; no restart, no crash, no leak
    name = "h.pgfjord.test"
    dns.remove(name)
    p = pooler(pgfjord, pg2, name, resolv_conf=resolv_conf, dns_nxdomain_ttl=1)
    with pytest.raises(psycopg.OperationalError):
        with client(p, connect_timeout=3) as c:
            c.execute("select 1")
    dns.set(name, a=["127.0.0.1"])
    assert wait_for(lambda: query_addr(p) == "127.0.0.1", timeout=10, what="recovery")
    assert p.alive()


@pytest.mark.pgfjord_only("PgBouncer keeps the client waiting while the lookup fails; pgfjord "
                          "answers with an 08 error at once")
def test_unresolvable_name_fails_clearly(pg2, pgfjord, dns, resolv_conf):
    name = "h2.pgfjord.test"
    dns.remove(name)
    p = pooler(pgfjord, pg2, name, resolv_conf=resolv_conf, dns_nxdomain_ttl=1)
    t0 = time.monotonic()
    err = login_error(p)
    assert err.get("C") == "08006" and err.get("M") == "server DNS lookup failed", err
    assert time.monotonic() - t0 < 5
    # several clients at once while it fails, past the nxdomain TTL (so lookups are retried)
    errors = []

    def attempt():
        try:
            errors.append(login_error(p).get("C", ""))
        except AssertionError as e:
            errors.append(str(e))

    time.sleep(1.2)
    threads = [threading.Thread(target=attempt) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == ["08006"] * 5, errors
    assert dns.count(name, "A") >= 2  # asked again after dns_nxdomain_ttl, not cached for good
    assert "Domain name not found" in p.log()

    dns.set(name, a=["127.0.0.1"])
    assert wait_for(lambda: query_addr(p) == "127.0.0.1", timeout=10, what="recovery")


@pytest.mark.pgfjord_only("PgBouncer keeps the client waiting while lookups time out; pgfjord "
                          "answers with an 08 error when the DNS timeout is over")
def test_dns_server_that_never_answers_fails_in_bounded_time(pg2, pgfjord, dns, resolv_conf):
    name = "i.pgfjord.test"
    dns.silent(name)
    # the DNS timeout (1 s, 1 try, from resolv.conf) must end it, not server_connect_timeout
    p = pooler(pgfjord, pg2, name, resolv_conf=resolv_conf, server_connect_timeout=30,
               dns_nxdomain_ttl=1)
    t0 = time.monotonic()
    err = login_error(p, timeout=25)
    took = time.monotonic() - t0
    assert err.get("C") == "08006" and err.get("M") == "server DNS lookup failed", err
    assert 0.8 < took < 5, took
    assert dns.count(name, "A") >= 1
    dns.set(name, a=["127.0.0.1"])
    assert wait_for(lambda: query_addr(p) == "127.0.0.1", timeout=10, what="recovery")


def test_zone_serial_change_looks_names_up_again(pg2, pgfjord, dns, resolv_conf):
    zone, name = "zone.pgfjord.test", "j.zone.pgfjord.test"
    dns.set(name, a=["127.0.0.1"])
    dns.set_serial(zone, 10)
    # dns_max_ttl is long: only the zone check can notice the change in time
    p = pooler(pgfjord, pg2, name, resolv_conf=resolv_conf, dns_max_ttl=120,
               dns_zone_check_period=1)
    assert query_addr(p) == "127.0.0.1"
    with admin(p) as a:
        wait_show(a, "DNS_ZONES", lambda r: r.where(zonename=zone, serial=10, count=1))
        assert show(a, "LISTS").kv()["dns_zones"] == 1
        lookups = dns.count(name, "A")
        dns.set(name, aaaa=["::1"])
        dns.set_serial(zone, 11)
        wait_show(a, "DNS_ZONES", lambda r: r.where(zonename=zone, serial=11), timeout=8)
    wait_for(lambda: query_addr(p) == "::1", timeout=8, what="the new address")
    assert dns.count(name, "A") > lookups
