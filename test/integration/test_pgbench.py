"""pgbench through the pooler in transaction mode: 50 clients on a pool of 10, zero errors."""

import os
import re
import subprocess

import pytest

import harness as h
from harness import MD5_PASS, MD5_USER

PGBENCH = str(h.PG_BINDIR / "pgbench")
DURATION = 10


@pytest.fixture(scope="module")
def bench_db(pg):
    """pgbench -i -s 1 run directly against PostgreSQL (not through the pooler)."""
    db = "bench"
    pg.execute(f"drop database if exists {db}")
    pg.execute(f"create database {db}")
    r = subprocess.run([PGBENCH, "-i", "-s", "1", "-q", "-h", str(pg.sockdir), "-p",
                        str(pg.port), "-U", "postgres", db],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    pg.execute("grant select on all tables in schema public to public", dbname=db)
    yield db
    pg.execute(f"drop database if exists {db} with (force)")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["simple", "extended"])
def test_pgbench_select_only(pg, pgfjord, bench_db, mode):
    p = pgfjord({"auth_type": "md5", "pool_mode": "transaction", "default_pool_size": 10,
                 "max_client_conn": 200},
                {bench_db: pg.connstr(bench_db)},
                {MD5_USER: h.md5_secret(MD5_USER, MD5_PASS)})
    env = dict(os.environ, PGPASSWORD=MD5_PASS, PGCONNECT_TIMEOUT="10")
    r = subprocess.run([PGBENCH, "-n", "-S", "-M", mode, "-c", "50", "-j", "2",
                        "-T", str(DURATION), "-h", p.host, "-p", str(p.port), "-U", MD5_USER,
                        bench_db],
                       capture_output=True, text=True, timeout=DURATION + 60, env=env,
                       stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "error" not in r.stderr.lower(), r.stderr
    m = re.search(r"number of transactions actually processed: (\d+)", r.stdout)
    assert m and int(m.group(1)) > 0, out
    failed = re.search(r"number of failed transactions: (\d+)", r.stdout)
    if failed:
        assert int(failed.group(1)) == 0, out
    assert re.search(r"number of clients: 50", r.stdout), out
    # the pooler never opened more than the pool's 10 server connections
    n = pg.execute("select count(*) from pg_stat_activity where usename = %s "
                   "and datname = %s", (MD5_USER, bench_db))[0][0]
    assert n <= 10, n
