"""Tenants (issue #7): per-tenant caps inside a shared (database, user) pool, weights,
per-tenant reserve timeouts, max_client_conn per tenant, user_suffix logins, SHOW TENANTS,
RELOAD of quotas under load, and a cold tenant beside a hot one.

Every test is pgfjord_only: PgBouncer has no tenants. Times are only checked loosely (what
must block is watched for a second or more; what must happen gets several seconds)."""
import os
import statistics
import subprocess
import threading
import time

import psycopg
import pytest

import harness as h
from harness import PLAIN_PASS, PLAIN_USER, SCRAM_PASS, SCRAM_USER, TRUST_USER
from admin_helpers import ADMIN, ADMIN_PASS, INT4, INT8, TEXT, console, show, wait_for, wait_show

pytestmark = [pytest.mark.pgfjord_only("tenants are pgfjord's"), pytest.mark.timeout(90)]

BLOCK = 1.5  # how long something that must block is watched (s)
PGBENCH = str(h.PG_BINDIR / "pgbench")

TENANT_COLUMNS = ["database", "user", "tenant", "cl_active", "cl_waiting", "sv_active", "pool_size",
                  "reserve_pool_size", "reserve_in_use", "weight", "maxwait", "maxwait_us",
                  "total_xact_count", "total_wait_time", "rejected"]


def tenants_ini(tenants):
    return "[tenants]\n" + "".join(f"{name} = {value}\n" for name, value in tenants.items())


def tenant_pooler(pg, pgfjord, tenants, settings=None, userlist=None):
    """trustuser's clients in transaction mode on database app, tenants by application_name."""
    ini = {"auth_type": "trust", "pool_mode": "transaction", "admin_users": ADMIN,
           "tenant_key": "application_name", "default_pool_size": 4, "max_client_conn": 200}
    ini.update(settings or {})
    users = {TRUST_USER: "", ADMIN: ADMIN_PASS}
    users.update(userlist or {})
    return pgfjord(ini, {"app": pg.connstr("app")}, users, extra_ini=tenants_ini(tenants))


def connect(p, tenant, **kw):
    kw.setdefault("user", TRUST_USER)
    return p.connect(application_name=tenant, **kw)


def hold(p, tenant, **kw):
    """A client of the tenant inside a transaction: it keeps its server until commit."""
    c = connect(p, tenant, autocommit=False, **kw)
    c.execute("select 1")
    return c


class Query(threading.Thread):
    """Runs one statement on an open connection; .done is set when it finished, .elapsed says
    how long it took."""

    def __init__(self, conn, sql="select 1"):
        super().__init__(daemon=True)
        self.conn, self.sql, self.error, self.elapsed = conn, sql, None, None
        self.done = threading.Event()
        self.t0 = time.monotonic()
        self.start()

    def run(self):
        try:
            self.conn.execute(self.sql)
        except Exception as e:  # noqa: BLE001 - reported to the test
            self.error = e
        self.elapsed = time.monotonic() - self.t0
        self.done.set()


class Loop(threading.Thread):
    """One client of a tenant running `sql` over and over until stopped; counts and times."""

    def __init__(self, p, tenant, sql, stop):
        super().__init__(daemon=True)
        self.p, self.tenant, self.sql, self.stop = p, tenant, sql, stop
        self.count, self.errors, self.latencies = 0, [], []
        self.start()

    def run(self):
        try:
            with connect(self.p, self.tenant) as c:
                while not self.stop.is_set():
                    t0 = time.monotonic()
                    c.execute(self.sql)
                    self.latencies.append(time.monotonic() - t0)
                    self.count += 1
        except Exception as e:  # noqa: BLE001 - reported to the test
            self.errors.append(e)


def run_loops(loops, stop, seconds):
    time.sleep(seconds)
    stop.set()
    for t in loops:
        t.join(20)
    errors = [e for t in loops for e in t.errors]
    assert not errors, errors


def tenant_row(adm, tenant):
    return show(adm, "TENANTS").one(database="app", tenant=tenant)


def backends(pg):
    return pg.execute("select count(*) from pg_stat_activity where backend_type = 'client backend' "
                      "and usename = %s and datname = 'app'", (TRUST_USER,))[0][0]


def test_cap_holds_even_with_idle_servers(pg, pgfjord):
    p = tenant_pooler(pg, pgfjord, {"capped": "pool_size=2"}, {"default_pool_size": 5})
    warm = [hold(p, "other") for _ in range(4)]  # no entry: the pool's own FIFO
    for c in warm:
        c.commit()
    a, b = hold(p, "capped"), hold(p, "capped")
    third = connect(p, "capped")
    try:
        q = Query(third)
        assert not q.done.wait(BLOCK), "a third server went to a tenant capped at 2"
        with console(p) as adm:
            pool = show(adm, "POOLS").one(database="app", user=TRUST_USER)
            assert pool["sv_idle"] >= 2, pool  # the isolation: it waits beside idle servers
            row = tenant_row(adm, "capped")
            assert (row["sv_active"], row["cl_waiting"], row["pool_size"]) == (2, 1, 2), row
            assert row["maxwait"] >= 1 or row["maxwait_us"] > 0, row
            # others are not held back by it
            with connect(p, "other") as o:
                assert o.execute("select 1").fetchone()[0] == 1
            a.commit()
            assert q.done.wait(5) and q.error is None, q.error
            assert tenant_row(adm, "capped")["cl_waiting"] == 0
        assert backends(pg) <= 5
    finally:
        for c in warm + [a, b, third]:
            c.close()


def test_tenant_key_user_caps_by_login_user(pg, pgfjord):
    p = tenant_pooler(pg, pgfjord, {TRUST_USER: "pool_size=1"}, {"tenant_key": "user"})
    a = hold(p, "x")
    b = connect(p, "y")
    try:
        q = Query(b)
        assert not q.done.wait(BLOCK), "the user's tenant went past its cap of 1"
        a.commit()
        assert q.done.wait(5) and q.error is None, q.error
        with console(p) as adm:
            assert tenant_row(adm, TRUST_USER)["pool_size"] == 1
    finally:
        a.close()
        b.close()


def test_application_name_is_fixed_at_login(pg, pgfjord):
    p = tenant_pooler(pg, pgfjord, {"one": "pool_size=1"})
    mover = connect(p, "one")
    mover.execute("set application_name = 'elsewhere'")
    holder = hold(p, "one")
    try:
        q = Query(mover)
        assert not q.done.wait(BLOCK), "SET application_name moved the client out of its tenant"
        holder.commit()
        assert q.done.wait(5) and q.error is None, q.error
        with console(p) as adm:
            assert [r["tenant"] for r in show(adm, "TENANTS").dicts] == ["", "one"]
    finally:
        holder.close()
        mover.close()


def test_weights_share_a_busy_pool(pg, pgfjord):
    p = tenant_pooler(pg, pgfjord, {"heavy": "weight=3", "light": "weight=1"})
    stop = threading.Event()
    loops = [Loop(p, t, "select pg_sleep(0.02)", stop) for t in ("heavy", "light") for _ in range(8)]
    run_loops(loops, stop, 3)
    with console(p) as adm:
        heavy, light = tenant_row(adm, "heavy"), tenant_row(adm, "light")
    assert heavy["weight"] == 3 and light["weight"] == 1
    assert light["total_xact_count"] > 0, light
    # 3:1 of four servers while both queue; loosely
    assert heavy["total_xact_count"] > 1.5 * light["total_xact_count"], (heavy, light)
    assert heavy["total_wait_time"] > 0 and light["total_wait_time"] > 0


def test_reserve_timeouts_are_per_tenant(pg, pgfjord):
    p = tenant_pooler(pg, pgfjord, {
        "fast": "pool_size=2 reserve_pool_size=1 reserve_pool_timeout=0.2",
        "slow": "pool_size=2 reserve_pool_size=1 reserve_pool_timeout=3",
    }, {"default_pool_size": 4, "reserve_pool_size": 2, "reserve_pool_timeout": 30})
    holders = [hold(p, t) for t in ("fast", "fast", "slow", "slow")]  # the pool is full
    extra = {t: connect(p, t, autocommit=False) for t in ("fast", "slow")}
    try:
        fast, slow = Query(extra["fast"]), Query(extra["slow"])
        assert fast.done.wait(2.5), "tenant fast did not get its reserve after its 0.2 s"
        assert fast.error is None, fast.error
        assert fast.elapsed >= 0.2, fast.elapsed
        assert not slow.done.is_set(), "tenant slow got a reserve server before its 3 s"
        with console(p) as adm:
            row = tenant_row(adm, "fast")
            assert (row["sv_active"], row["reserve_in_use"], row["reserve_pool_size"]) == (3, 1, 1), row
            assert tenant_row(adm, "slow")["cl_waiting"] == 1
        assert slow.done.wait(8), "tenant slow never got its reserve"
        assert slow.error is None and slow.elapsed >= 3, (slow.error, slow.elapsed)
        assert backends(pg) == 6  # pool_size 4 + reserve_pool_size 2, one reserve each
        log = p.log()
        assert "tenant fast taking connection from reserve_pool" in log, log
        assert "tenant slow taking connection from reserve_pool" in log, log
    finally:
        for c in holders + list(extra.values()):
            c.close()


def test_tenant_reserve_inside_a_pool_with_room(pg, pgfjord):
    p = tenant_pooler(pg, pgfjord, {"t": "pool_size=1 reserve_pool_size=1 reserve_pool_timeout=0.3"},
                      {"default_pool_size": 5})
    first = hold(p, "t")
    second, third = connect(p, "t", autocommit=False), connect(p, "t", autocommit=False)
    try:
        q2 = Query(second)
        assert q2.done.wait(3) and q2.error is None, q2.error
        assert q2.elapsed >= 0.3, q2.elapsed
        q3 = Query(third)
        assert not q3.done.wait(BLOCK), "the tenant went past pool_size + reserve_pool_size"
        first.commit()
        assert q3.done.wait(5) and q3.error is None, q3.error
    finally:
        for c in (first, second, third):
            c.close()


def test_show_tenants_columns_and_help(pg, pgfjord):
    p = tenant_pooler(pg, pgfjord, {"shown": "pool_size=3 reserve_pool_size=2 weight=4 max_client_conn=9"})
    with connect(p, "shown") as c, console(p) as adm:
        c.execute("select 1")
        r = show(adm, "TENANTS")
        assert r.names == TENANT_COLUMNS
        assert r.oids == [TEXT] * 3 + [INT4] * 9 + [INT8] * 3
        row = r.one(tenant="shown")
        assert (row["user"], row["cl_active"], row["cl_waiting"], row["sv_active"]) == (TRUST_USER, 1, 0, 0)
        assert (row["pool_size"], row["reserve_pool_size"], row["weight"], row["rejected"]) == (3, 2, 4, 0)
        assert row["total_xact_count"] == 1
        assert r.one(tenant="")["pool_size"] == 0  # the implicit group: no cap of its own
        notices = []
        adm.add_notice_handler(lambda d: notices.append(d.message_primary))
        adm.execute("SHOW HELP")
        assert any("TENANTS" in n for n in notices), notices


def test_no_tenants_with_tenant_key_none(pg, pgfjord):
    p = tenant_pooler(pg, pgfjord, {"x": "pool_size=1"}, {"tenant_key": "none"})
    a, b = hold(p, "x"), hold(p, "x")  # no cap: tenant_key = none
    try:
        with console(p) as adm:
            assert show(adm, "TENANTS").rows == []
    finally:
        a.close()
        b.close()
    assert "not supported yet" not in p.log()


def test_max_client_conn_per_tenant(pg, pgfjord):
    p = tenant_pooler(pg, pgfjord, {"lim": "max_client_conn=2"})
    c1, c2 = connect(p, "lim"), connect(p, "lim")
    try:
        with p.wire() as w:
            status, fields = w.try_login(TRUST_USER, "app", application_name="lim")
        assert status == "error", fields
        assert fields["C"] == "53300", fields
        assert fields["M"] == "no more connections allowed for tenant lim (max_client_conn)", fields
        with connect(p, "other") as o:  # other tenants are not limited by it
            assert o.execute("select 1").fetchone()[0] == 1
        with console(p) as adm:
            row = tenant_row(adm, "lim")
            assert (row["rejected"], row["cl_active"]) == (1, 2), row
        c1.close()
        with connect(p, "lim") as c3:
            assert c3.execute("select 1").fetchone()[0] == 1
    finally:
        c1.close()
        c2.close()


def test_query_wait_timeout_per_tenant(pg, pgfjord):
    p = tenant_pooler(pg, pgfjord, {"impatient": "pool_size=1 query_wait_timeout=1"})
    holder = hold(p, "impatient")
    waiter = connect(p, "impatient")
    try:
        q = Query(waiter)
        assert q.done.wait(5), "the tenant's query_wait_timeout of 1 s did not apply"
        assert q.error is not None and "query_wait_timeout" in str(q.error), q.error
        with connect(p, "patient") as o:  # the pool's 120 s still applies to others
            assert o.execute("select 1").fetchone()[0] == 1
    finally:
        holder.close()
        waiter.close()


def test_user_suffix_logins(pg, pgfjord):
    users = {SCRAM_USER: pg.authid_secret(SCRAM_USER), PLAIN_USER: PLAIN_PASS, ADMIN: ADMIN_PASS}
    p = pgfjord({"auth_type": "md5", "pool_mode": "transaction", "admin_users": ADMIN,
                 "tenant_key": "user_suffix"},
                {"app": pg.connstr("app")}, users,
                extra_ini=tenants_ini({"checkout": "max_client_conn=1", "search": "pool_size=1"}))
    with p.connect(user=f"{SCRAM_USER}.checkout", password=SCRAM_PASS) as c:
        assert c.execute("select current_user").fetchone()[0] == SCRAM_USER
        # the tenant is checkout, whose max_client_conn is 1
        with pytest.raises(psycopg.OperationalError) as ei:
            p.connect(user=f"{SCRAM_USER}.checkout", password=SCRAM_PASS)
        assert "for tenant checkout" in str(ei.value)
        with pytest.raises(psycopg.OperationalError):
            p.connect(user=f"{SCRAM_USER}.checkout", password="wrong")
        with p.connect(user=f"{PLAIN_USER}.search", password=PLAIN_PASS) as s, \
                p.connect(user=SCRAM_USER, password=SCRAM_PASS) as plain:
            assert s.execute("select current_user").fetchone()[0] == PLAIN_USER
            assert plain.execute("select current_user").fetchone()[0] == SCRAM_USER
            with console(p, password=ADMIN_PASS) as adm:
                rows = show(adm, "TENANTS").dicts
                got = {(r["user"], r["tenant"]) for r in rows}
                assert {(SCRAM_USER, "checkout"), (SCRAM_USER, ""), (PLAIN_USER, "search")} <= got, rows
                users_seen = {r["user"] for r in show(adm, "CLIENTS").dicts}
                assert f"{SCRAM_USER}.checkout" not in users_seen


def test_reload_changes_a_cap_under_load(pg, pgfjord):
    p = tenant_pooler(pg, pgfjord, {"hot": "pool_size=2"}, {"default_pool_size": 6})
    stop = threading.Event()
    loops = [Loop(p, "hot", "select pg_sleep(0.05)", stop) for _ in range(6)]

    def active(adm):
        return tenant_row(adm, "hot")["sv_active"]

    def sample(adm, seconds):
        end, seen = time.monotonic() + seconds, []
        while time.monotonic() < end:
            seen.append(active(adm))
            time.sleep(0.05)
        return seen

    try:
        with console(p) as adm:
            wait_show(adm, "TENANTS", lambda r: r.one(tenant="hot")["cl_waiting"] > 0)
            assert max(sample(adm, 1)) <= 2
            p.extra_ini = tenants_ini({"hot": "pool_size=4"})
            p.write_config()
            adm.execute("RELOAD")
            wait_show(adm, "TENANTS", lambda r: r.one(tenant="hot")["sv_active"] >= 3)
            assert tenant_row(adm, "hot")["pool_size"] == 4
            assert max(sample(adm, 1)) <= 4
            # shrinking lets the transactions in flight finish, then the new cap holds
            p.extra_ini = tenants_ini({"hot": "pool_size=1"})
            p.write_config()
            adm.execute("RELOAD")
            wait_show(adm, "TENANTS", lambda r: r.one(tenant="hot")["sv_active"] <= 1)
            assert max(sample(adm, 1)) <= 1
    finally:
        run_loops(loops, stop, 0)
    assert all(t.count > 0 for t in loops)


def test_cold_tenant_beside_a_hot_one_keeps_its_latency(pg, pgfjord, tmp_path):
    p = tenant_pooler(pg, pgfjord, {"hot": "pool_size=7", "cold": "pool_size=3"},
                      {"default_pool_size": 10})

    def cold_latencies(seconds):
        stop = threading.Event()
        loop = Loop(p, "cold", "select 1", stop)
        run_loops([loop], stop, seconds)
        return loop.latencies

    alone = cold_latencies(1)
    script = tmp_path / "hot.sql"
    script.write_text("select pg_sleep(0.005);\n")
    os.chmod(tmp_path, 0o755)
    os.chmod(script, 0o644)
    env = dict(os.environ, PGAPPNAME="hot", PGCONNECT_TIMEOUT="10")
    hot = subprocess.Popen([PGBENCH, "-n", "-c", "40", "-j", "2", "-T", "5", "-f", str(script), "-h", p.host,
                            "-p", str(p.port), "-U", TRUST_USER, "app"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                           stdin=subprocess.DEVNULL)
    try:
        with console(p) as adm:
            wait_show(adm, "TENANTS", lambda r: r.where(tenant="hot") and r.one(tenant="hot")["cl_waiting"] > 10,
                      timeout=10)
            loaded = cold_latencies(2)
            hot_active = tenant_row(adm, "hot")["sv_active"]
    except AssertionError:
        hot.kill()
        raise AssertionError(hot.communicate(timeout=60)[0])
    out, _ = hot.communicate(timeout=60)
    assert hot.returncode == 0, out
    assert hot_active <= 7
    p50_alone, p50_loaded = statistics.median(alone), statistics.median(loaded)
    # Queued behind the hot backlog it would wait ~25 ms a query (30 queued 5 ms
    # transactions on 10 servers); beside it, in its own share, it stays near its own speed.
    assert p50_loaded < 5 * p50_alone + 0.002, (p50_alone, p50_loaded)
