"""Configuration file, command-line flags, listeners."""

import os
import re
import signal
import socket
import subprocess
import time

import psycopg
import pytest

import harness as h
from harness import MD5_PASS, MD5_USER, SPACE_PASS, SPACE_USER, TRUST_USER

# The config of the article pgfjord's users start from; only host/port and the harness's own
# paths (auth_file, logfile, pidfile, unix_socket_dir) are filled in.
SEED_INI = """\
[databases]
* = host={pghost} port={pgport}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
auth_type = md5
auth_file = {dir}/userlist.txt
pool_mode = transaction
max_client_conn = 10000
default_pool_size = 20
min_pool_size = 5
reserve_pool_size = 5
reserve_pool_timeout = 5.0
server_idle_timeout = 600
ignore_startup_parameters = extra_float_digits
admin_users = postgres
logfile = {dir}/pgfjord.log
pidfile = {dir}/pgfjord.pid
unix_socket_dir = {dir}
"""


def fill(p, pg, text):
    return text.format(pghost=pg.host, pgport=pg.port, port=p.port, dir=p.dir)


def test_seed_article_config(pg, pgfjord):
    p = pgfjord(start=False, userlist={MD5_USER: h.md5_secret(MD5_USER, MD5_PASS)})
    p.write_config(fill(p, pg, SEED_INI))
    p.start()
    for db in ("app", "app2"):
        with p.connect(user=MD5_USER, password=MD5_PASS, dbname=db) as c:
            assert c.execute("select current_user, current_database()").fetchone() == \
                (MD5_USER, db)
    # min_pool_size: a pool that has had a client is kept at 5 server connections
    with p.connect(user=MD5_USER, password=MD5_PASS, dbname="app") as c:
        c.execute("select 1")
        deadline = time.monotonic() + 15
        n = 0
        while time.monotonic() < deadline:
            n = pg.execute("select count(*) from pg_stat_activity where usename = %s "
                           "and datname = 'app' and client_addr = '127.0.0.1'",
                           (MD5_USER,))[0][0]
            if n >= 5:
                break
            time.sleep(0.2)
        assert n >= 5, n


def test_long_connect_string(pg, pgfjord):
    # ~600 characters: the interesting part (dbname) comes last
    connstr = (f"host={pg.host}     port={pg.port}" + " " * 40
               + " application_name=" + "fjord" * 100 + " " * 20 + " dbname=app2")
    assert len(connstr) >= 600
    p = pgfjord({"auth_type": "trust", "pool_mode": "transaction"},
                {"longdb": connstr}, {TRUST_USER: ""})
    line = [ln for ln in p.ini_path.read_text().splitlines() if ln.startswith("longdb")][0]
    assert len(line) > 600
    with p.connect(user=TRUST_USER, dbname="longdb") as c:
        assert c.execute("select current_database()").fetchone()[0] == "app2"


def test_quoted_password_in_connect_string(pg, pgfjord):
    dbs = {"spacedb": pg.connstr("app", user=SPACE_USER, password="'a b c'")}
    assert SPACE_PASS == "a b c"
    p = pgfjord({"auth_type": "any", "pool_mode": "transaction"}, dbs, {})
    with p.connect(user="anyone", dbname="spacedb") as c:
        assert c.execute("select current_user").fetchone()[0] == SPACE_USER


def test_include_directive(pg, pgfjord):
    p = pgfjord({"auth_type": "trust"}, {"app": pg.connstr("app")}, {TRUST_USER: ""},
                start=False)
    inc = p.dir / "more-databases.ini"
    h.write_file(inc, f"[databases]\nincluded = {pg.connstr('app2')}\n")
    p.extra_ini = f"%include {inc}\n"
    p.write_config()
    p.start()
    with p.connect(user=TRUST_USER, dbname="included") as c:
        assert c.execute("select current_database()").fetchone()[0] == "app2"
    with p.connect(user=TRUST_USER, dbname="app") as c:
        assert c.execute("select current_database()").fetchone()[0] == "app"


def test_indented_lines(pg, pgfjord):
    p = pgfjord(start=False, userlist={TRUST_USER: ""})
    text = (f"[databases]\n"
            f"    indented = {pg.connstr('app2')}\n"
            f"\t\ttabbed = {pg.connstr('app')}\n"
            f"[pgbouncer]\n"
            f"  listen_addr = 127.0.0.1\n"
            f"      listen_port = {p.port}\n"
            f"  auth_type = trust\n"
            f"  auth_file = {p.userlist_path}\n"
            f"  logfile = {p.logfile}\n"
            f"  pidfile = {p.pidfile}\n"
            f"  unix_socket_dir = {p.dir}\n")
    p.write_config(text)
    p.start()
    with p.connect(user=TRUST_USER, dbname="indented") as c:
        assert c.execute("select current_database()").fetchone()[0] == "app2"
    with p.connect(user=TRUST_USER, dbname="tabbed") as c:
        assert c.execute("select current_database()").fetchone()[0] == "app"


@pytest.mark.parametrize("bad_line", ["garbage", "default_pool_size = lots"],
                         ids=["garbage", "bad_value"])
def test_broken_config_fails_with_file_and_line(pg, pgfjord, bad_line):
    p = pgfjord({"auth_type": "trust"}, {"app": pg.connstr("app")}, {TRUST_USER: ""},
                extra_ini=bad_line, start=False)
    lines = p.ini_path.read_text().splitlines()
    lineno = lines.index(bad_line) + 1
    r = p.run(timeout=20)
    assert r.returncode != 0, (r.stdout, r.stderr)
    assert f"{p.ini_path}:{lineno}" in r.stderr, r.stderr
    # nothing was left listening
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", p.port)) != 0


@pytest.mark.pgfjord_only("PgBouncer 1.18 refuses to start on an unknown [pgbouncer] key")
def test_unknown_key_only_warns(pg, pgfjord):
    p = pgfjord({"auth_type": "trust", "fjord_no_such_key": "17"},
                {"app": pg.connstr("app")}, {TRUST_USER: ""})
    with p.connect(user=TRUST_USER) as c:
        assert c.execute("select 1").fetchone()[0] == 1
    out = p.output()
    assert "fjord_no_such_key" in out, out
    assert re.search(r"WARNING.*fjord_no_such_key", out), out


def test_unix_socket(pg, pgfjord):
    p = pgfjord({"auth_type": "trust", "pool_mode": "transaction"},
                {"app": pg.connstr("app")}, {TRUST_USER: ""})
    sock = p.dir / f".s.PGSQL.{p.port}"
    assert sock.exists() and sock == p.unix_socket
    assert sock.is_socket()
    with psycopg.connect(p.unix_dsn(user=TRUST_USER), autocommit=True) as c:
        assert c.execute("select current_user").fetchone()[0] == TRUST_USER
    r = subprocess.run([str(h.PG_BINDIR / "psql"), "-X", "-h", str(p.dir), "-p", str(p.port),
                        "-U", TRUST_USER, "-d", "app", "-Atc", "select 6*7"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "42"


def test_version_flag(pg, pgfjord):
    p = pgfjord({"auth_type": "trust"}, {"app": pg.connstr("app")}, {TRUST_USER: ""},
                start=False)
    r = p.run("-V")
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    name = "PgBouncer" if h.REFERENCE else "pgfjord"
    assert re.fullmatch(rf"{name} \d+\.\d+\.\d+", first), first


@pytest.mark.skipif(not h.IS_ROOT, reason="only meaningful when the tests run as root")
def test_root_without_u_is_refused(pg, pgfjord):
    p = pgfjord({"auth_type": "trust"}, {"app": pg.connstr("app")}, {TRUST_USER: ""},
                start=False)
    r = p.run(direct=True, timeout=20)
    assert r.returncode != 0
    assert "root" in (r.stderr + r.stdout), (r.stdout, r.stderr)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", p.port)) != 0


@pytest.mark.skipif(not h.IS_ROOT, reason="only meaningful when the tests run as root")
def test_root_with_u_drops_privileges(pg, pgfjord):
    p = pgfjord({"auth_type": "trust"}, {"app": pg.connstr("app")}, {TRUST_USER: ""},
                start=False)
    p.start(args=["-u", h.SERVICE_USER], direct=True)
    uid, _ = h.service_ids()
    status = open(f"/proc/{p.pid}/status").read()
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    assert all(int(u) == uid for u in uids), uids
    with p.connect(user=TRUST_USER) as c:
        assert c.execute("select 1").fetchone()[0] == 1


def test_daemon_mode_with_pidfile(pg, pgfjord):
    p = pgfjord({"auth_type": "trust"}, {"app": pg.connstr("app")}, {TRUST_USER: ""},
                daemon=True)
    pid = int(p.pidfile.read_text().strip())
    assert pid == p.pid and h.pid_alive(pid)
    assert pid != p.proc.pid  # the process we started has gone; the daemon runs on
    with p.connect(user=TRUST_USER) as c:
        assert c.execute("select 1").fetchone()[0] == 1
    assert p.stop(signal.SIGTERM, timeout=10), "daemon did not stop on SIGTERM"
    assert not p.pidfile.exists()


@pytest.mark.skipif(not h.has_ipv6_loopback(), reason="no IPv6 loopback")
@pytest.mark.parametrize("listen_addr,hosts", [("::1", ["::1"]),
                                               ("127.0.0.1,::1", ["127.0.0.1", "::1"])])
def test_listen_ipv6(pg, pgfjord, listen_addr, hosts):
    p = pgfjord({"auth_type": "trust", "listen_addr": listen_addr},
                {"app": pg.connstr("app")}, {TRUST_USER: ""})
    for host in hosts:
        with p.connect(user=TRUST_USER, host=host) as c:
            assert c.execute("select 1").fetchone()[0] == 1


def test_reload_picks_up_new_database(pg, pgfjord):
    p = pgfjord({"auth_type": "trust"}, {"app": pg.connstr("app")}, {TRUST_USER: ""})
    with pytest.raises(psycopg.OperationalError):
        p.connect(user=TRUST_USER, dbname="added")
    p.databases["added"] = pg.connstr("app2")
    p.write_config()
    p.reload()
    deadline = time.monotonic() + 10
    while True:
        try:
            with p.connect(user=TRUST_USER, dbname="added") as c:
                assert c.execute("select current_database()").fetchone()[0] == "app2"
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert p.alive()


def test_host_name_resolved_by_the_pooler(pg, pgfjord):
    # "localhost" goes through the asynchronous resolver; it may answer ::1 first while
    # PostgreSQL listens on 127.0.0.1 only, so the pooler must try every address.
    p = pgfjord({"auth_type": "trust"}, {"app": pg.connstr("app").replace(f"host={pg.host}", "host=localhost")},
                {TRUST_USER: ""})
    with p.connect(user=TRUST_USER) as c:
        assert c.execute("select current_database()").fetchone()[0] == "app"


def test_server_over_unix_socket(pg, pgfjord):
    dbs = {"app": f"host={pg.sockdir} port={pg.port} dbname=app"}
    p = pgfjord({"auth_type": "trust"}, dbs, {TRUST_USER: ""})
    with p.connect(user=TRUST_USER) as c:
        # a Unix-socket backend has no client address
        assert c.execute("select client_addr is null from pg_stat_activity where pid = pg_backend_pid()").fetchone()[0]


@pytest.mark.pgfjord_only("PgBouncer 1.18 reloads without saying that a restart-only key changed")
def test_reload_keeps_restart_only_keys(pg, pgfjord):
    p = pgfjord({"auth_type": "trust", "pkt_buf": 4096}, {"app": pg.connstr("app")}, {TRUST_USER: ""})
    p.settings["pkt_buf"] = 8192  # needs a restart
    p.settings["default_pool_size"] = 7  # reloadable
    p.write_config()
    p.reload()
    deadline = time.monotonic() + 10
    while "pkt_buf changed" not in p.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "pkt_buf changed from '4096' to '8192' in the file; it needs a restart" in p.log()
    with p.connect(user=TRUST_USER) as c:
        assert c.execute("select 1").fetchone()[0] == 1
    assert p.alive()
