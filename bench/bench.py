#!/usr/bin/python3
"""pgfjord against PgBouncer: one run, same PostgreSQL, alternating A B A B, medians and ratios.

Normally started by bench/run.sh (which installs the packages and builds build-bench/). Standard
library only. Everything it starts (PostgreSQL, the two poolers, pgbench, strace, the load
generator) is recorded by PID and stopped on exit, Ctrl-C or error; the temporary directory is
removed unless --keep. Traffic stays on 127.0.0.1 and Unix sockets.

Scenarios (see bench/README.md): steady, syscalls, churn, many, idle, herd, prepared, noisy.
"""

import argparse
import datetime
import json
import math
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PGBIN = "/usr/lib/postgresql/15/bin"
PGBENCH = PGBIN + "/pgbench"
PSQL = PGBIN + "/psql"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PASSWORD = "bench"
POOLERS = ("pgfjord", "pgbouncer")
LABEL = {"pgfjord": "pgfjord", "pgbouncer": "PgBouncer"}
ALL_SCENARIOS = ("steady", "syscalls", "churn", "many", "idle", "herd", "prepared", "noisy")
# noisy: three set-ups on one pool of 10 (the pooler, the config variant it runs with)
NOISY_SETUPS = (("pgbouncer", "pgbouncer", "pool10"), ("pgfjord_none", "pgfjord", "pool10"),
                ("pgfjord_tenants", "pgfjord", "tenants"))
NOISY_LABEL = {"pgbouncer": "PgBouncer", "pgfjord_none": "pgfjord tenant_key=none",
               "pgfjord_tenants": "pgfjord tenants (hot 7, cold 3)"}
DOC_BEGIN = "<!-- bench:begin -->"
DOC_END = "<!-- bench:end -->"
# Raise the open-file limit of a child to 65536, or to the hard limit when that is lower.
ULIMIT = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"'

IS_ROOT = os.geteuid() == 0
AS_PG = ["runuser", "-u", "postgres", "--"] if IS_ROOT else []


# ---------------------------------------------------------------------------------------------
# console log (tee) and process registry

class Console:
    def __init__(self):
        self.lines = []
        self.file = None

    def open(self, path):
        self.file = open(path, "w")
        for line in self.lines:
            self.file.write(line + "\n")
        self.file.flush()

    def log(self, msg=""):
        for line in str(msg).split("\n"):
            stamp = time.strftime("%H:%M:%S")
            out = f"[{stamp}] {line}" if line else ""
            print(out, flush=True)
            self.lines.append(out)
            if self.file:
                self.file.write(out + "\n")
                self.file.flush()


CON = Console()
log = CON.log


class Registry:
    """Every process we start, by PID, with how to stop it."""

    def __init__(self):
        self.procs = {}  # pid -> (desc, popen or None, stop function or None)

    def add(self, pid, desc, popen=None, stop=None):
        self.procs[pid] = (desc, popen, stop)

    def remove(self, pid):
        self.procs.pop(pid, None)

    def stop_all(self):
        for pid in list(reversed(list(self.procs))):
            desc, popen, stop = self.procs.get(pid, (None, None, None))
            if desc is None:
                continue
            try:
                if stop:
                    stop()
                else:
                    kill_pid(pid, popen, group=popen is not None)
            except Exception as e:  # keep going: stop everything else
                print(f"cleanup: stopping {desc} (PID {pid}): {e}", file=sys.stderr)
            self.remove(pid)


REG = Registry()


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def kill_pid(pid, popen=None, group=False, sig=signal.SIGTERM, grace=5.0):
    """Stop one process we started: sig, then SIGKILL after grace seconds."""
    def send(s):
        try:
            if group:
                os.killpg(pid, s)  # the process group this PID leads (start_new_session)
            else:
                os.kill(pid, s)
        except ProcessLookupError:
            pass

    send(sig)
    deadline = time.time() + grace
    while time.time() < deadline:
        if popen is not None and popen.poll() is not None:
            return
        if popen is None and not pid_alive(pid):
            return
        time.sleep(0.05)
    send(signal.SIGKILL)
    if popen is not None:
        try:
            popen.wait(5)
        except subprocess.TimeoutExpired:
            pass


class Result:
    def __init__(self, rc, out, err, elapsed, timed_out):
        self.rc, self.out, self.err, self.elapsed, self.timed_out = rc, out, err, elapsed, timed_out


def run(cmd, timeout, env=None, cwd=None, input=None, desc=None, check=False):
    """Run a command to completion with a timeout; its process group is killed on timeout."""
    t0 = time.time()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         errors="replace", start_new_session=True, env=env, cwd=cwd)
    REG.add(p.pid, desc or os.path.basename(cmd[0]), p)
    timed_out = False
    try:
        out, err = p.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_pid(p.pid, p, group=True, grace=3)
        out, err = p.communicate()
    except BaseException:  # Ctrl-C, SIGTERM: stop it before leaving
        kill_pid(p.pid, p, group=True, grace=3)
        REG.remove(p.pid)
        raise
    REG.remove(p.pid)
    r = Result(p.returncode, out, err, time.time() - t0, timed_out)
    if check and (r.rc != 0 or timed_out):
        raise RuntimeError(f"{desc or cmd[0]} failed (rc={r.rc}{', timed out' if timed_out else ''}):"
                           f" {' '.join(cmd)}\n{(err or '').strip()[-2000:]}")
    return r


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def chown_pg(*paths):
    if IS_ROOT:
        pw = pwd.getpwnam("postgres")
        for p in paths:
            os.chown(p, pw.pw_uid, pw.pw_gid)


def quantile(sorted_vals, q):
    if not sorted_vals:
        return None
    i = max(0, min(len(sorted_vals) - 1, math.ceil(q * len(sorted_vals)) - 1))
    return sorted_vals[i]


def first_sample(x):
    """First error sample of a loadgen result (a dict message -> count, or a list)."""
    if isinstance(x, dict) and x:
        k = next(iter(x))
        return f"{k} (x{x[k]})"
    if isinstance(x, list) and x:
        return str(x[0])
    return None


def median(vals):
    vals = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return statistics.median(vals) if vals else None


def fmt(v, digits=None):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return str(v)
    a = abs(v)
    if digits is None:
        digits = 0 if a >= 1000 else 1 if a >= 100 else 2 if a >= 1 else 3
    return f"{v:.{digits}f}"


# ---------------------------------------------------------------------------------------------
# PostgreSQL

class Postgres:
    def __init__(self, base):
        self.dir = os.path.join(base, "pg")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.pid = None
        self.secrets = {}

    def psql(self, sql, db="postgres", user="postgres", timeout=60):
        r = run([PSQL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.dir,
                 "-p", str(self.port), "-U", user, "-d", db], timeout, input=sql, desc="psql",
                check=True)
        return r.out

    def start(self, scale):
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        chown_pg(self.dir)
        log(f"PostgreSQL 15: initdb in {self.data}, port {self.port}")
        run(AS_PG + [PGBIN + "/initdb", "-D", self.data, "-U", "postgres", "--auth-local=trust",
                     "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"],
            120, desc="initdb", check=True)
        conf = f"""
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.dir}'
max_connections = 100
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
"""
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(conf)
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\n"
                    "host bench benchmd5 127.0.0.1/32 md5\n"
                    "host bench bench 127.0.0.1/32 scram-sha-256\n")
        chown_pg(os.path.join(self.data, "pg_hba.conf"))
        logfile = os.path.join(self.dir, "postgres.log")
        run(AS_PG + [PGBIN + "/pg_ctl", "-D", self.data, "-l", logfile, "-w", "-t", "60", "start"],
            90, desc="pg_ctl start", check=True)
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            self.pid = int(f.readline())
        REG.add(self.pid, "PostgreSQL", None, self.stop)
        self.psql(f"""
CREATE ROLE bench LOGIN PASSWORD '{PASSWORD}';
SET password_encryption = 'md5';
CREATE ROLE benchmd5 LOGIN PASSWORD '{PASSWORD}';
CREATE DATABASE bench OWNER bench;
""")
        log(f"pgbench -i -s {scale} (directly on PostgreSQL)")
        run([PGBENCH, "-i", "-q", "-s", str(scale), "-h", self.dir, "-p", str(self.port),
             "-U", "bench", "bench"], 600, desc="pgbench -i", check=True)
        self.psql("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO benchmd5;",
                  db="bench")
        out = self.psql("SELECT rolname || ' ' || rolpassword FROM pg_authid "
                        "WHERE rolname IN ('bench', 'benchmd5')")
        for line in out.split("\n"):
            if line.strip():
                name, secret = line.strip().split(" ", 1)
                self.secrets[name] = secret
        assert self.secrets.get("bench", "").startswith("SCRAM-SHA-256$"), self.secrets
        assert self.secrets.get("benchmd5", "").startswith("md5"), self.secrets

    def version(self):
        return self.psql("SELECT version()").strip()

    def stop(self):
        if self.pid is None:  # maybe interrupted while starting
            try:
                with open(os.path.join(self.data, "postmaster.pid")) as f:
                    self.pid = int(f.readline())
            except (OSError, ValueError):
                return
        r = run(AS_PG + [PGBIN + "/pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop"],
                45, desc="pg_ctl stop")
        if r.rc != 0 and pid_alive(self.pid):
            kill_pid(self.pid, sig=signal.SIGQUIT, grace=10)
        self.pid = None


# ---------------------------------------------------------------------------------------------
# poolers

class Pooler:
    def __init__(self, name, binary, base, pg):
        self.name = name
        self.label = LABEL[name]
        self.src_binary = binary
        self.dir = os.path.join(base, name)
        self.pg = pg
        self.pid = None
        self.popen = None
        self.port = None
        self.auth_type = None
        self.variant = None  # None, or a noisy-scenario config: "pool10", "tenants"
        self.starts = 0
        self.crashes = []
        self.log_marks = []  # log issues found so far (lines)
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        chown_pg(self.dir)
        if name == "pgfjord":
            # a copy in a directory postgres can read, so that path permissions never matter
            self.binary = os.path.join(self.dir, "pgfjord")
            shutil.copy2(binary, self.binary)
            os.chmod(self.binary, 0o755)
        else:
            self.binary = binary

    @property
    def logfile(self):
        return os.path.join(self.dir, f"{self.name}.log")

    @property
    def pidfile(self):
        return os.path.join(self.dir, f"{self.name}.pid")

    def write_config(self, auth_type, variant=None):
        self.port = free_port()
        cfg = os.path.join(self.dir, f"{self.name}.ini")
        users = os.path.join(self.dir, "userlist.txt")
        with open(users, "w") as f:
            for role in ("bench", "benchmd5"):
                f.write(f'"{role}" "{self.pg.secrets[role]}"\n')
        os.chmod(users, 0o600)
        # one text for both poolers: pgfjord reads pgbouncer.ini as it is. The noisy scenario's
        # variants: a pool of 10, and (pgfjord only) tenants named by application_name.
        pool = " pool_size=10" if variant in ("pool10", "tenants") else ""
        tenants = "" if variant != "tenants" else (
            "tenant_key = application_name\n\n[tenants]\nhot = pool_size=7\ncold = pool_size=3\n")
        with open(cfg, "w") as f:
            f.write(f"""[databases]
bench = host=127.0.0.1 port={self.pg.port} dbname=bench{pool}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir = {self.dir}
auth_type = {auth_type}
auth_file = {users}
pool_mode = transaction
default_pool_size = 20
max_client_conn = 20000
max_db_connections = 0
logfile = {self.logfile}
log_connections = 0
log_disconnections = 0
pidfile = {self.pidfile}
{tenants}""")
        chown_pg(cfg, users)
        self.config = cfg
        self.auth_type = auth_type
        self.variant = variant

    def start(self, auth_type, variant=None):
        self.write_config(auth_type, variant)
        if os.path.exists(self.pidfile):
            os.unlink(self.pidfile)
        out = open(os.path.join(self.dir, "stdout.txt"), "a")
        self.popen = subprocess.Popen(AS_PG + ["bash", "-c", ULIMIT, self.binary, self.config],
                                      stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                      cwd=self.dir, start_new_session=True)
        out.close()
        REG.add(self.popen.pid, f"{self.label} wrapper", self.popen, None)
        deadline = time.time() + 20
        pid = None
        while time.time() < deadline:
            if self.popen.poll() is not None:
                break
            try:
                with open(self.pidfile) as f:
                    pid = int(f.read().strip() or 0) or None
            except (FileNotFoundError, ValueError):
                pid = None
            if pid and pid_alive(pid) and port_open(self.port):
                break
            time.sleep(0.05)
        if not (pid and pid_alive(pid) and port_open(self.port)):
            tail = self.tail_log(20)
            raise RuntimeError(f"{self.label} did not start (port {self.port}); log:\n{tail}")
        self.pid = pid
        self.starts += 1
        REG.add(self.pid, self.label, None, self.stop)
        # smoke test through the pooler
        user = "bench" if auth_type == "scram-sha-256" else "benchmd5"  # md5 secrets cannot do SCRAM
        r = run([PSQL, "-X", "-A", "-t", "-c", "SELECT 1",
                 f"host=127.0.0.1 port={self.port} dbname=bench user={user} connect_timeout=10"
                 " sslmode=disable"],
                30, env=dict(os.environ, PGPASSWORD=PASSWORD), desc="psql smoke")
        if r.rc != 0 or r.out.strip() != "1":
            raise RuntimeError(f"{self.label}: SELECT 1 through the pooler failed: {r.err.strip()}")

    def nofile(self):
        try:
            with open(f"/proc/{self.pid}/limits") as f:
                for line in f:
                    if line.startswith("Max open files"):
                        return int(line.split()[3])
        except (OSError, ValueError, IndexError):
            return None

    def alive(self):
        return self.pid is not None and pid_alive(self.pid)

    def ensure(self, auth_type, variant=None):
        """The pooler runs with this auth_type and config variant; restart it if it died
        (recorded) or either differs."""
        if self.pid is not None and not self.alive():
            rc = self.popen.poll() if self.popen else None
            msg = f"{self.label} (PID {self.pid}) DIED (wrapper exit status {rc}); log tail:\n" \
                  + self.tail_log(15)
            log("!! " + msg)
            self.crashes.append(msg)
            REG.remove(self.pid)
            self.pid = None
        if self.pid is None:
            self.start(auth_type, variant)
        elif self.auth_type != auth_type or self.variant != variant:
            self.stop()
            self.start(auth_type, variant)

    def restart(self):
        auth, variant = self.auth_type, self.variant
        self.stop()
        self.start(auth, variant)

    def stop(self):
        if self.pid is not None:
            pid = self.pid
            self.pid = None
            REG.remove(pid)
            # pgfjord: SIGTERM waits for clients, a second one is immediate; PgBouncer 1.18:
            # SIGTERM is immediate. Then SIGKILL.
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.time() + 3
            while time.time() < deadline and pid_alive(pid):
                time.sleep(0.05)
            if pid_alive(pid):
                kill_pid(pid, grace=5)
        if self.popen is not None:
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                kill_pid(self.popen.pid, self.popen, group=True, grace=2)
            REG.remove(self.popen.pid)
            self.popen = None

    def cpu_s(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def rss_kb(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def tail_log(self, n):
        lines = []
        for path in (self.logfile, os.path.join(self.dir, "stdout.txt")):
            try:
                with open(path, errors="replace") as f:
                    lines += [f"  {os.path.basename(path)}: {l.rstrip()}" for l in f.readlines()[-n:]]
            except OSError:
                pass
        return "\n".join(lines)

    def log_issues(self):
        """Distinct ERROR/FATAL/WARNING/PANIC/crash lines of the pooler's log: [(count, line)]."""
        counts = {}
        for line in self.log_lines():
            key = re.sub(r"^\d{4}-\d\d-\d\d [\d:.]+ \w+ \[\d+\] ", "", line)
            key = re.sub(r"0x[0-9a-f]+", "0x…", key)
            key = re.sub(r"(127\.0\.0\.1|localhost):\d+", r"\1:…", key)
            key = re.sub(r"/tmp/pgfjord-bench\.[^/]+/", "…/", key)
            counts[key] = counts.get(key, 0) + 1
        return sorted(((c, k) for k, c in counts.items()), key=lambda x: -x[0])

    def log_lines(self):
        """Matching lines of the logfile, plus those of stdout/stderr that are not in the logfile."""
        pat = re.compile(r"\b(ERROR|FATAL|PANIC|WARNING|error|fatal|assert|Assertion|"
                         r"AddressSanitizer|segfault)\b")
        out, seen = [], set()
        for i, path in enumerate((self.logfile, os.path.join(self.dir, "stdout.txt"))):
            try:
                with open(path, errors="replace") as f:
                    for l in f:
                        l = l.rstrip()
                        if i == 0:
                            seen.add(l)
                        elif l in seen:
                            continue
                        if pat.search(l):
                            out.append(l)
            except OSError:
                pass
        return out

    def version(self):
        r = run([self.binary if self.name == "pgfjord" else self.src_binary,
                 "-V" if self.name == "pgfjord" else "--version"], 10, desc="version")
        return (r.out or r.err).strip().split("\n")[0]


# ---------------------------------------------------------------------------------------------
# pgbench, strace, loadgen

PGB_TPS = re.compile(r"^tps = ([\d.]+) \((without initial connection time|including reconnection times)\)",
                     re.M)


def parse_latency_logs(d):
    lat = []
    for name in os.listdir(d):
        with open(os.path.join(d, name), errors="replace") as f:
            for line in f:
                parts = line.split(None, 3)
                if len(parts) >= 3 and parts[2].isdigit():
                    lat.append(int(parts[2]))
    lat.sort()
    return lat


class Bench:
    def __init__(self, args, base):
        self.args = args
        self.base = base
        self.pgb_n = 0
        self.lock = threading.Lock()  # noisy runs two pgbench at once

    def pgbench(self, pooler, extra, clients, duration=None, count=None, user="benchmd5",
                latencies=True, desc="pgbench", env_extra=None):
        """One pgbench run through a pooler, with pooler CPU sampled around it."""
        with self.lock:
            self.pgb_n += 1
            logdir = os.path.join(self.base, "pgbench", f"run{self.pgb_n}")
        os.makedirs(logdir)
        cmd = [PGBENCH, "-n", "-j", str(min(2, clients)), "-c", str(clients)]
        cmd += ["-T", str(duration)] if duration else ["-t", str(count)]
        cmd += list(extra)
        shown = " ".join(cmd)
        if latencies:
            cmd += ["--log", "--log-prefix", os.path.join(logdir, "lat")]
        cmd += ["-h", "127.0.0.1", "-p", str(pooler.port), "-U", user, "bench"]
        timeout = (duration or 60) + 120 + clients / 50
        env = dict(os.environ, PGPASSWORD=PASSWORD, PGCONNECT_TIMEOUT="60", PGSSLMODE="disable",
                   PGGSSENCMODE="disable", **(env_extra or {}))
        cpu0 = pooler.cpu_s()
        r = run(["bash", "-c", ULIMIT] + cmd, timeout, env=env, cwd=logdir, desc=desc)
        cpu1 = pooler.cpu_s() if pooler.alive() else cpu0
        out = r.out or ""
        m = {"cmd": shown + (" --log" if latencies else ""), "rc": r.rc, "timed_out": r.timed_out,
             "wall_s": round(r.elapsed, 2)}

        def grab(rx, conv=float):
            mm = re.search(rx, out, re.M)
            return conv(mm.group(1)) if mm else None

        tps = PGB_TPS.search(out)
        m["tps"] = float(tps.group(1)) if tps else None
        m["tx"] = grab(r"^number of transactions actually processed: (\d+)", int)
        m["failed_tx"] = grab(r"^number of failed transactions: (\d+)", int) or 0
        m["latency_avg_ms"] = grab(r"^latency average = ([\d.]+) ms")
        m["conn_time_ms"] = grab(r"^(?:initial|average) connection time = ([\d.]+) ms")
        errlines = [l for l in (r.err or "").split("\n")
                    if re.search(r"error|fatal", l, re.I) and "Run was aborted" not in l]
        m["error_lines"] = len(errlines)
        m["errors"] = m["failed_tx"] + len(errlines)
        if (r.rc != 0 or r.timed_out) and m["errors"] == 0:
            m["errors"] = 1
        m["error_sample"] = errlines[0][:300] if errlines else (
            f"pgbench exit {r.rc}{' (timed out)' if r.timed_out else ''}" if r.rc != 0 or r.timed_out
            else None)
        if r.rc != 0 or r.timed_out:
            m["stderr_tail"] = (r.err or "").strip()[-600:]
        cpu = cpu1 - cpu0
        m["pooler_cpu_s"] = round(cpu, 3)
        if m["tx"]:
            m["cpu_us_per_tx"] = round(cpu * 1e6 / m["tx"], 2)
        if latencies:
            lat = parse_latency_logs(logdir)
            if lat:
                m["p50_ms"] = round(quantile(lat, 0.50) / 1000, 3)
                m["p99_ms"] = round(quantile(lat, 0.99) / 1000, 3)
                m["max_ms"] = round(lat[-1] / 1000, 3)
        shutil.rmtree(logdir, ignore_errors=True)
        return m

    def strace_run(self, pooler, clients, per_client):
        """Syscalls per transaction: strace -c -f attached to the pooler during a fixed-count run."""
        out = os.path.join(self.base, f"strace-{pooler.name}.txt")
        p = subprocess.Popen(["strace", "-c", "-f", "-p", str(pooler.pid), "-o", out],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
        REG.add(p.pid, "strace", p)
        try:
            time.sleep(0.5)
            if p.poll() is not None:
                return {"error": "strace exited: " + (p.stderr.read() or "").strip()[:300]}
            m = self.pgbench(pooler, ["-S"], clients, count=per_client, latencies=False,
                             desc="pgbench (strace)")
        finally:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    kill_pid(p.pid, p, grace=2)
            REG.remove(p.pid)
        calls = {}
        total = None
        try:
            with open(out) as f:
                for line in f:
                    t = line.split()
                    if len(t) in (5, 6) and re.match(r"^[\d.]+$", t[0]) and t[3].isdigit():
                        if t[-1] == "total":
                            total = int(t[3])
                        else:
                            calls[t[-1]] = int(t[3])
        except OSError as e:
            return {"error": f"no strace output: {e}"}
        if total is None:
            total = sum(calls.values())
        tx = m.get("tx") or 0
        res = {"tx": tx, "errors": m["errors"], "syscalls": total,
               "syscalls_per_tx": round(total / tx, 3) if tx else None,
               "per_tx": {k: round(v / tx, 3) for k, v in sorted(calls.items(), key=lambda kv: -kv[1])}
               if tx else {}}
        return res


class Loadgen:
    def __init__(self, path, base):
        self.path = path
        self.base = base
        self.available = False
        self.reason = "not probed"
        self.n = 0

    def dsn(self, port, user="benchmd5"):
        return (f"host=127.0.0.1 port={port} dbname=bench user={user} password={PASSWORD}"
                " sslmode=disable gssencmode=disable")

    def probe(self, pg):
        if not (self.path and os.access(self.path, os.X_OK)):
            self.reason = f"{self.path} not built"
            return
        r = run(["bash", "-c", ULIMIT, self.path, "herd", "--dsn", self.dsn(pg.port), "-n", "2",
                 "--timeout", "10"], 30, desc="loadgen probe")
        try:
            j = json.loads(r.out)
            if j.get("ok") == 2:
                self.available, self.reason = True, "ok"
                return
            self.reason = f"probe: {r.out.strip()[:200]}"
        except (ValueError, AttributeError):
            self.reason = (f"probe exit {r.rc}: " + ((r.out or "") + (r.err or "")).strip()[:200]
                           ).strip()

    def herd(self, pooler, n, timeout_s):
        cpu0 = pooler.cpu_s()
        r = run(["bash", "-c", ULIMIT, self.path, "herd", "--dsn", self.dsn(pooler.port), "-n", str(n),
                 "--query", "SELECT 1", "--timeout", str(timeout_s)], timeout_s + 60,
                desc="loadgen herd")
        cpu = pooler.cpu_s() - cpu0 if pooler.alive() else None
        try:
            j = json.loads(r.out)
        except ValueError:
            return {"errors": n, "error_sample": f"loadgen exit {r.rc}: {(r.err or r.out).strip()[:300]}"}
        m = {k: j.get(k) for k in ("n", "ok", "errors", "p50_ms", "p90_ms", "p99_ms", "max_ms", "wall_s")}
        m["error_samples"] = j.get("error_samples")
        if cpu is not None and j.get("n"):
            m["cpu_us_per_conn"] = round(cpu * 1e6 / j["n"], 2)
        if r.rc not in (0, None) and not m.get("errors"):
            m["loadgen_rc"] = r.rc
        return m

    def idle(self, pooler, n, timeout_s):
        """RSS of a freshly started pooler before and after n idle logged-in clients."""
        pooler.restart()
        time.sleep(1.0)
        rss0 = pooler.rss_kb()
        self.n += 1
        ready = os.path.join(self.base, f"idle-ready-{self.n}.json")
        errf = open(os.path.join(self.base, f"idle-{self.n}.stderr"), "w+")
        p = subprocess.Popen(["bash", "-c", ULIMIT, self.path, "idle", "--dsn", self.dsn(pooler.port),
                              "-n", str(n), "--hold", "600", "--ready-file", ready,
                              "--timeout", str(timeout_s)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf,
                             start_new_session=True)
        REG.add(p.pid, "loadgen idle", p)
        m = {"n": n, "rss0_kb": rss0}
        try:
            deadline = time.time() + timeout_s + 30
            j = None
            while time.time() < deadline:
                if os.path.exists(ready):
                    try:
                        with open(ready) as f:
                            j = json.load(f)
                        break
                    except ValueError:
                        pass  # being written
                if p.poll() is not None:
                    break
                time.sleep(0.1)
            if j is None:
                errf.seek(0)
                m["errors"] = n
                m["error_sample"] = (f"loadgen idle: no ready file (exit {p.poll()}): "
                                     + errf.read().strip()[:300])
                return m
            time.sleep(1.0)
            rss1 = pooler.rss_kb() if pooler.alive() else None
            m.update({"connected": j.get("connected"), "errors": j.get("errors"),
                      "error_samples": j.get("error_samples"), "connect_wall_s": j.get("connect_wall_s"),
                      "rss1_kb": rss1})
            if rss1 is not None and j.get("connected"):
                m["rss_per_client_b"] = round((rss1 - rss0) * 1024 / j["connected"], 1)
            return m
        finally:
            kill_pid(p.pid, p, grace=10)
            REG.remove(p.pid)
            errf.close()


# ---------------------------------------------------------------------------------------------
# scenarios

class Runner:
    def __init__(self, args, base, pg, poolers, bench, loadgen):
        self.args = args
        self.base = base
        self.pg = pg
        self.poolers = poolers  # dict name -> Pooler, order pgfjord, pgbouncer
        self.bench = bench
        self.loadgen = loadgen
        self.results = {}  # scenario key -> {"params", "runs": {pooler: [..]}, "median": {pooler: {..}}}
        q = args.quick
        self.p = {
            "steady_warm": 2 if q else 5, "steady_T": 5 if q else 15,
            "strace_t": 400 if q else 2000,
            "churn_warm": 2 if q else 3, "churn_T": 4 if q else 10,
            "many_clients": [1000, 5000, 10000], "many_T": 5 if q else 15, "many_warm": 2 if q else 3,
            "idle_n": 2000 if q else 10000,
            "herd_n": [1000, 2000] if q else [1000, 10000],
            "prepared_T": 3 if q else 5,
            "noisy_T": 4 if q else 10,
        }
        self.reps = args.reps if args.reps else (1 if q else 3)
        # steady carries the tightest targets (TPS ratio >= 1.05): more repetitions by default
        self.steady_reps = args.reps if args.reps else (1 if q else 5)

    def each_pooler(self):
        return [self.poolers[n] for n in POOLERS]

    def alternate(self, key, params, fn, auth="md5", reps=None):
        """Repetitions A B A B ...; fn(pooler) -> metrics dict."""
        reps = reps or self.reps
        res = self.results.setdefault(key, {"params": dict(params, reps=reps),
                                            "runs": {n: [] for n in POOLERS}})
        for rep in range(reps):
            for pl in self.each_pooler():
                m = self.measure(pl, auth, fn)
                m["rep"] = rep + 1
                res["runs"][pl.name].append(m)
                log(f"  {key:<22} rep {rep + 1} {pl.label:<9} " + self.brief(m))
        res["median"] = {}
        for n in POOLERS:
            runs = res["runs"][n]
            keys = sorted({k for r in runs for k, v in r.items()
                           if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "rep"})
            med = {k: median([r.get(k) for r in runs]) for k in keys}
            med["errors_total"] = sum((r.get("errors") or 0) for r in runs)
            samples = [r.get("error_sample") or first_sample(r.get("error_samples")) for r in runs]
            samples = [s for s in samples if s]
            if samples:
                med["error_sample"] = samples[0]
            res["median"][n] = med
        return res

    @staticmethod
    def measure(pl, auth, fn, variant=None):
        """One measurement; a failure of the bench itself (a pooler that will not start, a dead
        PID) is recorded as an error of that run and the run goes on."""
        try:
            pl.ensure(auth, variant)
            return fn(pl)
        except Exception as e:  # not KeyboardInterrupt
            msg = f"bench: {type(e).__name__}: {str(e).strip()[:400]}"
            log(f"  !! {pl.label}: {msg}")
            return {"errors": 1, "error_sample": msg}

    @staticmethod
    def brief(m):
        keys = [("tps", "tps"), ("p50_ms", "p50"), ("p99_ms", "p99"), ("max_ms", "max"),
                ("cpu_us_per_tx", "cpu/tx us"), ("cpu_us_per_conn", "cpu/conn us"),
                ("rss_per_client_b", "RSS/client B"), ("connected", "connected"), ("ok", "ok"),
                ("errors", "errors")]
        s = "  ".join(f"{lab}={fmt(m.get(k))}" for k, lab in keys if m.get(k) is not None)
        if m.get("error_sample"):
            s += f"  first error: {m['error_sample'][:160]}"
        elif first_sample(m.get("error_samples")):
            s += f"  first error: {first_sample(m['error_samples'])[:160]}"
        return s

    def warm(self, fn, auth="md5"):
        for pl in self.each_pooler():
            self.measure(pl, auth, fn)

    # -- steady ---------------------------------------------------------------------------------
    def steady(self):
        T, W = self.p["steady_T"], self.p["steady_warm"]
        for mode in ("simple", "extended"):
            log(f"steady {mode}: pgbench -S -M {mode} -c 50 -j 2 -T {T}, {self.steady_reps} reps,"
                f" warm-up {W}s each")
            self.warm(lambda pl: self.bench.pgbench(pl, ["-S", "-M", mode], 50, duration=W,
                                                    latencies=False))
            self.alternate(f"steady_{mode}", {"clients": 50, "T": T, "mode": mode},
                           lambda pl: self.bench.pgbench(pl, ["-S", "-M", mode], 50, duration=T),
                           reps=self.steady_reps)

    def syscalls(self):
        t = self.p["strace_t"]
        log(f"syscalls: strace -c -f on the pooler during pgbench -S -c 50 -t {t} ({50 * t} tx), once each")
        res = {"params": {"clients": 50, "t": t}, "runs": {}, "median": {}}
        for pl in self.each_pooler():
            m = self.measure(pl, "md5", lambda p: self.bench.strace_run(p, 50, t))
            res["runs"][pl.name] = [m]
            res["median"][pl.name] = {"syscalls_per_tx": m.get("syscalls_per_tx"),
                                      "errors_total": m.get("errors", 0)}
            top = ", ".join(f"{k} {v}" for k, v in list(m.get("per_tx", {}).items())[:6])
            log(f"  syscalls {pl.label:<9} {fmt(m.get('syscalls_per_tx'))}/tx  ({top})"
                + (f"  {m['error']}" if m.get("error") else ""))
        self.results["syscalls"] = res

    # -- churn ----------------------------------------------------------------------------------
    def churn(self):
        T, W = self.p["churn_T"], self.p["churn_warm"]
        for auth, user in (("md5", "benchmd5"), ("scram-sha-256", "bench")):
            log(f"churn {auth}: pgbench -S -C -c 50 -j 2 -T {T} as {user} (auth_type {auth}),"
                f" warm-up {W}s each")
            self.warm(lambda pl: self.bench.pgbench(pl, ["-S", "-C"], 50, duration=W, user=user,
                                                    latencies=False), auth=auth)

            def one(pl):
                m = self.bench.pgbench(pl, ["-S", "-C"], 50, duration=T, user=user, latencies=False)
                m["conn_per_s"] = m.get("tps")
                m["cpu_us_per_conn"] = m.pop("cpu_us_per_tx", None)
                return m
            key = "churn_md5" if auth == "md5" else "churn_scram"
            self.alternate(key, {"clients": 50, "T": T, "auth_type": auth, "user": user}, one, auth=auth)
        for pl in self.each_pooler():
            self.measure(pl, "md5", lambda p: {})

    # -- many clients ---------------------------------------------------------------------------
    def many(self):
        T, W = self.p["many_T"], self.p["many_warm"]
        log(f"many clients: pgbench -S -c C -j 2 -T {T}, C in {self.p['many_clients']}, pool 20;"
            f" warm-up -c 1000 -T {W}")
        self.warm(lambda pl: self.bench.pgbench(pl, ["-S"], 1000, duration=W, latencies=False))
        for c in self.p["many_clients"]:
            self.alternate(f"many_{c}", {"clients": c, "T": T},
                           lambda pl: (time.sleep(1), self.bench.pgbench(pl, ["-S"], c, duration=T))[1])

    # -- idle -----------------------------------------------------------------------------------
    def idle(self):
        n = self.p["idle_n"]
        if not self.loadgen.available:
            log(f"idle: loadgen unavailable ({self.loadgen.reason})")
            self.results["idle"] = {"unavailable": f"loadgen unavailable: {self.loadgen.reason}"}
            return
        log(f"idle: fresh pooler, VmRSS before and after {n} idle logged-in clients (loadgen idle)")
        self.alternate("idle", {"n": n}, lambda pl: self.loadgen.idle(pl, n, 120))

    # -- herd -----------------------------------------------------------------------------------
    def herd(self):
        if not self.loadgen.available:
            log(f"herd: loadgen unavailable ({self.loadgen.reason})")
            self.results["herd"] = {"unavailable": f"loadgen unavailable: {self.loadgen.reason}"}
            return
        log(f"herd: loadgen herd -n N (connect, auth, SELECT 1, disconnect), N in {self.p['herd_n']};"
            f" PostgreSQL max_connections=100; warm-up -n 100")
        self.warm(lambda pl: self.loadgen.herd(pl, 100, 30))
        for n in self.p["herd_n"]:
            self.alternate(f"herd_{n}", {"n": n},
                           lambda pl: (time.sleep(2), self.loadgen.herd(pl, n, 120))[1])

    # -- prepared -------------------------------------------------------------------------------
    def prepared(self):
        T = self.p["prepared_T"]
        log(f"prepared: pgbench -M prepared -S -c 50 -j 2 -T {T}")

        def one(pl):
            m = self.bench.pgbench(pl, ["-S", "-M", "prepared"], 50, duration=T)
            err = re.sub(r"^pgbench: error: ", "", m.get("error_sample") or "")
            err = re.sub(r"\s+", " ", err)
            m["status"] = f"fails: {err}" if m["errors"] else f"{fmt(m.get('tps'))} tps"
            return m
        res = self.alternate("prepared", {"clients": 50, "T": T}, one)
        for n in POOLERS:
            runs = res["runs"][n]
            bad = [r for r in runs if r["errors"]]
            res["median"][n]["status"] = bad[0]["status"] if bad else f"{fmt(res['median'][n].get('tps'))} tps"
        # Issue #8's target compares -M prepared through pgfjord with -M extended through
        # PgBouncer (which cannot do -M prepared in transaction mode), in the same run.
        log(f"prepared: the same with -M extended, for the -M prepared / PgBouncer -M extended ratio")
        self.alternate("prepared_extended", {"clients": 50, "T": T},
                       lambda pl: self.bench.pgbench(pl, ["-S", "-M", "extended"], 50, duration=T))


    # -- noisy neighbour (issue #7) ----------------------------------------------------------
    def noisy_once(self, pl, T, cold_sql, hot_sql):
        """The cold function alone, then beside the hot one (which starts 2 s earlier and ends
        2 s later, so that the cold run sees it at full speed throughout)."""
        cold = {"PGAPPNAME": "cold"}
        alone = self.bench.pgbench(pl, ["-f", cold_sql], 5, duration=T, env_extra=cold, desc="cold alone")
        box = {}

        def hot_run():
            box["m"] = self.bench.pgbench(pl, ["-f", hot_sql], 200, duration=T + 4, latencies=False,
                                          env_extra={"PGAPPNAME": "hot"}, desc="hot")
        th = threading.Thread(target=hot_run, daemon=True)
        th.start()
        time.sleep(2)
        beside = self.bench.pgbench(pl, ["-f", cold_sql], 5, duration=T, env_extra=cold, desc="cold beside hot")
        th.join(T + 300)
        hot = box.get("m", {"errors": 1, "error_sample": "hot pgbench did not finish"})
        m = {"cold_alone_p50_ms": alone.get("p50_ms"), "cold_alone_p99_ms": alone.get("p99_ms"),
             "cold_beside_p50_ms": beside.get("p50_ms"), "cold_beside_p99_ms": beside.get("p99_ms"),
             "cold_alone_tps": alone.get("tps"), "cold_beside_tps": beside.get("tps"),
             "hot_tps": hot.get("tps"),
             "errors": (alone.get("errors") or 0) + (beside.get("errors") or 0) + (hot.get("errors") or 0)}
        m["error_sample"] = alone.get("error_sample") or beside.get("error_sample") or hot.get("error_sample")
        if m["cold_alone_p99_ms"] and m["cold_beside_p99_ms"]:
            m["cold_p99_goal_ms"] = round(2 * m["cold_alone_p99_ms"] + 1, 3)
        return m

    def noisy(self):
        T = self.p["noisy_T"]
        log(f"noisy neighbour: pool 10; cold = pgbench -c 5 'SELECT 1' -T {T} alone, then beside hot ="
            f" pgbench -c 200 'SELECT pg_sleep(0.005)'; set-ups: "
            + ", ".join(NOISY_LABEL[k] for k, _, _ in NOISY_SETUPS))
        cold_sql, hot_sql = os.path.join(self.base, "cold.sql"), os.path.join(self.base, "hot.sql")
        with open(cold_sql, "w") as f:
            f.write("SELECT 1;\n")
        with open(hot_sql, "w") as f:
            f.write("SELECT pg_sleep(0.005);\n")
        for path in (cold_sql, hot_sql):
            os.chmod(path, 0o644)
        res = {"params": {"T": T, "pool_size": 10, "hot_clients": 200, "cold_clients": 5,
                          "reps": self.reps, "tenants": "hot = pool_size=7, cold = pool_size=3"},
               "runs": {k: [] for k, _, _ in NOISY_SETUPS}, "median": {}}
        for rep in range(self.reps):
            for key, pname, variant in NOISY_SETUPS:
                pl = self.poolers[pname]
                m = self.measure(pl, "md5", lambda p: self.noisy_once(p, T, cold_sql, hot_sql), variant=variant)
                m["rep"] = rep + 1
                res["runs"][key].append(m)
                log(f"  noisy rep {rep + 1} {NOISY_LABEL[key]:<32} cold p99 alone {fmt(m.get('cold_alone_p99_ms'))}"
                    f" beside {fmt(m.get('cold_beside_p99_ms'))} ms, hot {fmt(m.get('hot_tps'))} tps,"
                    f" errors {m.get('errors')}" + (f"  first error: {m['error_sample'][:160]}"
                                                     if m.get("error_sample") else ""))
        for key, _, _ in NOISY_SETUPS:
            runs = res["runs"][key]
            metrics = sorted({k for r in runs for k, v in r.items()
                              if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "rep"})
            med = {k: median([r.get(k) for r in runs]) for k in metrics}
            med["errors_total"] = sum((r.get("errors") or 0) for r in runs)
            res["median"][key] = med
        self.results["noisy"] = res
        # back to the shared config for whatever runs next
        for pl in self.each_pooler():
            self.measure(pl, "md5", lambda p: {})


# ---------------------------------------------------------------------------------------------
# summary, targets, doc

NOISY_ROWS = [("cold_alone_p50_ms", "cold alone: p50 ms"), ("cold_alone_p99_ms", "cold alone: p99 ms"),
              ("cold_beside_p50_ms", "cold beside hot: p50 ms"), ("cold_beside_p99_ms", "cold beside hot: p99 ms"),
              ("cold_p99_goal_ms", "goal for cold beside hot: 2 x p99 alone + 1 ms"),
              ("cold_beside_tps", "cold beside hot: TPS"), ("hot_tps", "hot: TPS"),
              ("errors_total", "errors")]


def noisy_table(results):
    """Rows (label, value per set-up) of the noisy-neighbour scenario, or [] when it did not run."""
    med = results.get("noisy", {}).get("median")
    if not med:
        return []
    return [(label, [med.get(k, {}).get(metric) for k, _, _ in NOISY_SETUPS]) for metric, label in NOISY_ROWS]


def render_noisy(rows):
    heads = [NOISY_LABEL[k] for k, _, _ in NOISY_SETUPS]
    w = max(len(r[0]) for r in rows)
    cw = max(len(h) for h in heads)
    lines = [f"{'':<{w}}  " + "  ".join(f"{h:>{cw}}" for h in heads),
             f"{'-' * w}  " + "  ".join("-" * cw for _ in heads)]
    for label, vals in rows:
        lines.append(f"{label:<{w}}  " + "  ".join(f"{fmt(v):>{cw}}" for v in vals))
    return "\n".join(lines)

ROWS = [  # (result key, metric, label, better)
    ("steady_simple", "tps", "steady simple: TPS", "high"),
    ("steady_simple", "p50_ms", "steady simple: p50 ms", "low"),
    ("steady_simple", "p99_ms", "steady simple: p99 ms", "low"),
    ("steady_simple", "cpu_us_per_tx", "steady simple: pooler CPU µs/tx", "low"),
    ("steady_extended", "tps", "steady extended: TPS", "high"),
    ("steady_extended", "p50_ms", "steady extended: p50 ms", "low"),
    ("steady_extended", "p99_ms", "steady extended: p99 ms", "low"),
    ("steady_extended", "cpu_us_per_tx", "steady extended: pooler CPU µs/tx", "low"),
    ("syscalls", "syscalls_per_tx", "syscalls per tx (simple)", "low"),
    ("churn_md5", "conn_per_s", "churn md5: connections/s", "high"),
    ("churn_md5", "cpu_us_per_conn", "churn md5: pooler CPU µs/conn", "low"),
    ("churn_scram", "conn_per_s", "churn SCRAM: connections/s", "high"),
    ("churn_scram", "cpu_us_per_conn", "churn SCRAM: pooler CPU µs/conn", "low"),
    ("many_1000", "tps", "1000 clients: TPS", "high"),
    ("many_1000", "p99_ms", "1000 clients: p99 ms", "low"),
    ("many_1000", "errors_total", "1000 clients: errors", "low"),
    ("many_5000", "tps", "5000 clients: TPS", "high"),
    ("many_5000", "p99_ms", "5000 clients: p99 ms", "low"),
    ("many_5000", "errors_total", "5000 clients: errors", "low"),
    ("many_10000", "tps", "10000 clients: TPS", "high"),
    ("many_10000", "p99_ms", "10000 clients: p99 ms", "low"),
    ("many_10000", "errors_total", "10000 clients: errors", "low"),
    ("idle", "rss_per_client_b", "idle: pooler RSS bytes/client", "low"),
    ("idle", "errors_total", "idle: errors", "low"),
]
for _n in (1000, 2000, 10000):
    ROWS += [(f"herd_{_n}", "errors_total", f"herd N={_n}: errors", "low"),
             (f"herd_{_n}", "p50_ms", f"herd N={_n}: p50 ms", "low"),
             (f"herd_{_n}", "p99_ms", f"herd N={_n}: p99 ms", "low"),
             (f"herd_{_n}", "max_ms", f"herd N={_n}: max ms", "low"),
             (f"herd_{_n}", "cpu_us_per_conn", f"herd N={_n}: pooler CPU µs/conn", "low")]
ROWS += [("prepared", "status", "prepared (-M prepared)", None),
         ("prepared_extended", "tps", "prepared scenario, -M extended: TPS", "high")]


def ratio(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        return a / b
    return None


def table_rows(results):
    rows = []
    for key, metric, label, _ in ROWS:
        r = results.get(key)
        if not r:
            continue
        if "unavailable" in r:
            if metric in ("errors_total", "rss_per_client_b") and not any(x[0] == key for x in rows):
                rows.append((key, label.split(":")[0], r["unavailable"], r["unavailable"], None))
            continue
        med = r.get("median", {})
        a = med.get("pgfjord", {}).get(metric)
        b = med.get("pgbouncer", {}).get(metric)
        if a is None and b is None:
            continue
        rt = None if metric == "errors_total" else ratio(a, b)
        rows.append((key, label, a, b, rt))
    return rows


def targets(results):
    """(description, value shown, PASS/MISS/n/a)."""
    out = []

    def med(key, pooler, metric):
        return results.get(key, {}).get("median", {}).get(pooler, {}).get(metric)

    def rt(key, metric):
        return ratio(med(key, "pgfjord", metric), med(key, "pgbouncer", metric))

    def mark(ok):
        return "n/a" if ok is None else ("PASS" if ok else "MISS")

    for mode in ("simple", "extended"):
        r = rt(f"steady_{mode}", "cpu_us_per_tx")
        out.append((f"steady {mode}: pooler CPU/tx ratio <= 0.75", fmt(r, 3), mark(None if r is None else r <= 0.75)))
        r = rt(f"steady_{mode}", "tps")
        out.append((f"steady {mode}: TPS ratio >= 1.05", fmt(r, 3), mark(None if r is None else r >= 1.05)))
    for key, lab in (("churn_md5", "md5"), ("churn_scram", "SCRAM")):
        r = rt(key, "cpu_us_per_conn")
        out.append((f"churn {lab}: pooler CPU/conn ratio <= 0.75", fmt(r, 3), mark(None if r is None else r <= 0.75)))
    for c in (5000, 10000):
        r = rt(f"many_{c}", "p99_ms")
        e = med(f"many_{c}", "pgfjord", "errors_total")
        out.append((f"{c} clients: p99 ratio <= 1.0", fmt(r, 3), mark(None if r is None else r <= 1.0)))
        out.append((f"{c} clients: pgfjord errors == 0", fmt(e), mark(None if e is None else e == 0)))
    r = rt("idle", "rss_per_client_b")
    out.append(("idle: RSS/client ratio <= 0.8", fmt(r, 3) if "unavailable" not in results.get("idle", {})
                else "loadgen unavailable", mark(None if r is None else r <= 0.8)))
    e = med("herd_10000", "pgfjord", "errors_total")
    out.append(("herd N=10000: pgfjord errors == 0",
                fmt(e) if "unavailable" not in results.get("herd", {}) else "loadgen unavailable",
                mark(None if e is None else e == 0)))
    # issue #8: pgfjord -M prepared against PgBouncer -M extended, errors counted as a miss
    e = med("prepared", "pgfjord", "errors_total")
    r = ratio(med("prepared", "pgfjord", "tps"), med("prepared_extended", "pgbouncer", "tps"))
    out.append(("prepared: pgfjord -M prepared / PgBouncer -M extended TPS >= 1.5", fmt(r, 3),
                mark(None if r is None else r >= 1.5 and not e)))
    if results.get("noisy", {}).get("median"):
        t = results["noisy"]["median"].get("pgfjord_tenants", {})
        b = results["noisy"]["median"].get("pgbouncer", {})
        beside, goal = t.get("cold_beside_p99_ms"), t.get("cold_p99_goal_ms")
        out.append(("noisy, tenants: cold p99 beside hot <= 2x alone + 1 ms",
                    f"{fmt(beside)} / {fmt(goal)} ms", mark(None if beside is None or goal is None else beside <= goal)))
        r = ratio(t.get("hot_tps"), b.get("hot_tps"))
        out.append(("noisy, tenants: hot TPS >= 0.6x PgBouncer's", fmt(r, 3), mark(None if r is None else r >= 0.6)))
    return out


def render_table(rows):
    w = max([len(r[1]) for r in rows] + [10])
    lines = [f"{'':<{w}}  {'pgfjord':>14}  {'PgBouncer':>14}  {'ratio':>7}",
             f"{'-' * w}  {'-' * 14}  {'-' * 14}  {'-' * 7}"]
    notes = []
    for _, label, a, b, r in rows:
        sa, sb = fmt(a), fmt(b)
        if len(sa) > 14 or len(sb) > 14:
            notes.append(f"{label}: pgfjord: {sa}")
            notes.append(f"{' ' * len(label)}  PgBouncer: {sb}")
            sa, sb = sa.split(":")[0][:14], sb.split(":")[0][:14]
        lines.append(f"{label:<{w}}  {sa:>14}  {sb:>14}  {fmt(r, 3) if r is not None else '':>7}")
    return "\n".join(lines + notes)


def machine_info():
    info = {"nproc": os.cpu_count(), "kernel": platform.release(), "arch": platform.machine()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            info["ram_gib"] = round(kb / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/etc/debian_version") as f:
            info["debian"] = f.read().strip()
    except OSError:
        pass
    info["loadavg_at_start"] = os.getloadavg()
    return info


def gnuplot_chart(results, png, workdir):
    pts = []
    for c, key in ((50, "steady_simple"), (1000, "many_1000"), (5000, "many_5000"), (10000, "many_10000")):
        med = results.get(key, {}).get("median")
        if not med:
            continue
        a, b = med.get("pgfjord", {}), med.get("pgbouncer", {})
        pts.append((c, a.get("tps"), b.get("tps"), a.get("p99_ms"), b.get("p99_ms")))
    if len(pts) < 2 or not shutil.which("gnuplot"):
        return "no chart: " + ("gnuplot missing" if not shutil.which("gnuplot") else "too few points")
    dat = os.path.join(workdir, "clients.dat")
    with open(dat, "w") as f:
        f.write("# clients tps_pgfjord tps_pgbouncer p99_pgfjord p99_pgbouncer\n")
        for p in pts:
            f.write(" ".join("NaN" if v is None else str(v) for v in p) + "\n")
    term = "pngcairo size 1100,480 font ',10'"
    if run(["gnuplot", "-e", "set terminal pngcairo"], 10).rc != 0:
        term = "png size 1100,480"
    script = f"""
set terminal {term}
set output '{png}'
set multiplot layout 1,2 title 'pgfjord vs PgBouncer, pgbench -S through pool 20 (medians)'
set logscale x
set xtics (50, 1000, 5000, 10000)
set xrange [35:14000]
set xlabel 'concurrent clients'
set grid
set key top right
set ylabel 'TPS'
set yrange [0:*]
plot '{dat}' using 1:2 with linespoints lw 2 pt 7 title 'pgfjord', \\
     '{dat}' using 1:3 with linespoints lw 2 pt 5 title 'PgBouncer'
set ylabel 'p99 latency (ms, log scale)'
set logscale y
set yrange [*:*]
set key top left
plot '{dat}' using 1:4 with linespoints lw 2 pt 7 title 'pgfjord', \\
     '{dat}' using 1:5 with linespoints lw 2 pt 5 title 'PgBouncer'
unset multiplot
"""
    r = run(["gnuplot"], 60, input=script, desc="gnuplot")
    return None if r.rc == 0 else f"gnuplot failed: {r.err.strip()[:300]}"


def doc_section(meta, rows, tg, json_rel, txt_rel, png_name, chart_err, results):
    m = meta["machine"]
    v = meta["versions"]
    L = [DOC_BEGIN,
         "<!-- generated by bench/bench.py; edit outside the bench:begin/end markers -->",
         "",
         f"## Latest run: {meta['started_utc']}",
         "",
         f"Raw numbers: `{json_rel}`, console log: `{txt_rel}`. "
         f"Medians of {meta['reps']} repetition(s) per scenario ({meta.get('steady_reps')} for steady), "
         "run alternately "
         "(pgfjord, PgBouncer, pgfjord, PgBouncer, ...) after a warm-up against each, on the same "
         "PostgreSQL, with the same pgbouncer.ini text for both poolers (transaction pooling, "
         "default_pool_size 20, max_client_conn 20000). Ratio = pgfjord / PgBouncer.",
         "",
         "### Machine",
         "",
         f"- CPU: {m.get('cpu', '?')}, {m.get('nproc')} cores ({m.get('arch')})",
         f"- RAM: {m.get('ram_gib')} GiB",
         f"- kernel: {m.get('kernel')}, Debian {m.get('debian', '?')}",
         f"- load average at start: {', '.join(f'{x:.2f}' for x in m.get('loadavg_at_start', []))}",
         f"- open-file limit of poolers/clients: {meta.get('nofile')}",
         "",
         "### Versions",
         "",
         f"- {v.get('pgfjord')}",
         f"- {v.get('pgbouncer')}",
         f"- {v.get('postgresql')}",
         f"- {v.get('pgbench')}",
         "",
         "### Command",
         "",
         "```sh",
         meta["command"],
         "```",
         "",
         f"Duration: {meta.get('duration_s', 0) / 60:.1f} min.",
         "",
         "### Medians and ratios",
         "",
         "| scenario / metric | pgfjord | PgBouncer | pgfjord/PgBouncer |",
         "| --- | ---: | ---: | ---: |"]
    for _, label, a, b, r in rows:
        L.append(f"| {label} | {fmt(a)} | {fmt(b)} | {fmt(r, 3) if r is not None else ''} |")
    sc = results.get("syscalls", {}).get("runs", {})
    if sc:
        L += ["", "Syscalls per transaction (strace -c, pgbench -S, 50 clients), top calls:", ""]
        for n in POOLERS:
            per = (sc.get(n) or [{}])[0].get("per_tx", {})
            top = ", ".join(f"{k} {v}" for k, v in list(per.items())[:8])
            L.append(f"- {LABEL[n]}: {top or '-'}")
    nrows = noisy_table(results)
    if nrows:
        p = results["noisy"]["params"]
        L += ["", "### Noisy neighbour (tenants, issue #7)", "",
              f"Pool of {p['pool_size']}; hot = pgbench -c {p['hot_clients']} running `SELECT pg_sleep(0.005)`"
              f" (PGAPPNAME=hot), cold = pgbench -c {p['cold_clients']} running `SELECT 1` (PGAPPNAME=cold),"
              f" {p['T']} s alone and then {p['T']} s beside hot; tenants: {p['tenants']}. Medians of"
              f" {p['reps']} repetition(s).", "",
              "| metric | " + " | ".join(NOISY_LABEL[k] for k, _, _ in NOISY_SETUPS) + " |",
              "| --- |" + " ---: |" * len(NOISY_SETUPS)]
        for label, vals in nrows:
            L.append(f"| {label} | " + " | ".join(fmt(v) for v in vals) + " |")
    L += ["", "### Targets", "", "| target | value | status |", "| --- | ---: | --- |"]
    for d, val, st in tg:
        L.append(f"| {d} | {val} | **{st}** |")
    L += ["", "### TPS and p99 against client count", ""]
    if chart_err:
        L.append(f"({chart_err})")
    else:
        L.append(f"![TPS and p99 latency against concurrent clients, pgfjord and PgBouncer]({png_name})")
    crashes = meta.get("crashes") or {}
    if any(crashes.values()):
        L += ["", "### Pooler crashes during the run", ""]
        for n, cs in crashes.items():
            for c in cs:
                L.append(f"- {LABEL[n]}: {c.splitlines()[0]}")
    L += ["", DOC_END]
    return "\n".join(L) + "\n"


def write_doc(path, section):
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    else:
        text = ("# pgfjord performance\n\n"
                "Measured by `bash bench/run.sh` (see bench/README.md): pgfjord and PgBouncer in one run, "
                "on the same PostgreSQL.\n\n"
                f"{DOC_BEGIN}\n{DOC_END}\n\n"
                "## Changes that moved a number\n\n"
                "(Hand-written, kept across runs: which change moved which number, and by how much.)\n")
    if DOC_BEGIN in text and DOC_END in text:
        pre = text[:text.index(DOC_BEGIN)]
        post = text[text.index(DOC_END) + len(DOC_END):]
        if post.startswith("\n"):
            post = post[1:]
        text = pre + section + post
    else:
        text = text.rstrip("\n") + "\n\n" + section
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


# ---------------------------------------------------------------------------------------------

def parse_args():
    ap = argparse.ArgumentParser(
        description="Benchmark pgfjord against PgBouncer on one throwaway PostgreSQL.",
        epilog="Scenarios: " + ", ".join(ALL_SCENARIOS))
    ap.add_argument("--quick", action="store_true",
                    help="1 repetition, short runs, smaller N (a few minutes; for development)")
    ap.add_argument("--only", metavar="SCENARIO[,..]", help="run only these scenarios")
    ap.add_argument("--reps", type=int, help="repetitions per scenario (default 3, --quick 1)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"),
                    help="directory for the JSON and the console log (default bench/results)")
    ap.add_argument("--doc", help="write the performance page here (default: doc/performance.md for "
                                  "a full run; for --quick/--only runs next to the results)")
    ap.add_argument("--no-doc", action="store_true", help="do not write the performance page")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--pgfjord", default=os.path.join(ROOT, "build-bench", "pgfjord"))
    ap.add_argument("--pgbouncer", default="/usr/sbin/pgbouncer")
    ap.add_argument("--loadgen", default=os.path.join(ROOT, "build-bench", "bench", "pgfjord-loadgen"))
    ap.add_argument("--scale", type=int, default=10, help="pgbench scale (default 10)")
    ap.add_argument("--cmdline", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.only:
        a.scenarios = [s.strip() for s in a.only.split(",") if s.strip()]
        bad = [s for s in a.scenarios if s not in ALL_SCENARIOS]
        if bad:
            ap.error(f"unknown scenario(s): {', '.join(bad)}; known: {', '.join(ALL_SCENARIOS)}")
    else:
        a.scenarios = list(ALL_SCENARIOS)
    if a.reps is not None and a.reps < 1:
        ap.error("--reps must be >= 1")
    return a


def main():
    args = parse_args()
    t_start = time.time()
    started = datetime.datetime.now(datetime.timezone.utc)
    stamp = started.strftime("%Y%m%dT%H%M%SZ") + ("-quick" if args.quick else "")
    os.makedirs(args.out, exist_ok=True)
    json_path = os.path.join(args.out, stamp + ".json")
    txt_path = os.path.join(args.out, stamp + ".txt")
    CON.open(txt_path)
    command = args.cmdline or ("/usr/bin/python3 bench/bench.py " + " ".join(sys.argv[1:])).strip()

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_term)

    for path, what in ((args.pgfjord, "pgfjord (build it: bash bench/run.sh)"),
                       (args.pgbouncer, "pgbouncer (apt-get install pgbouncer)"), (PGBENCH, "pgbench")):
        if not os.access(path, os.X_OK):
            log(f"missing {what}: {path}")
            return 2

    base = tempfile.mkdtemp(prefix="pgfjord-bench.")
    os.chmod(base, 0o755)
    chown_pg(base)
    os.makedirs(os.path.join(base, "pgbench"))
    log(f"pgfjord bench: {command}")
    log(f"work dir {base}; results {json_path}")
    mi = machine_info()
    log(f"machine: {mi.get('cpu')}, {mi.get('nproc')} cores, {mi.get('ram_gib')} GiB, kernel {mi.get('kernel')},"
        f" load average {', '.join(f'{x:.2f}' for x in mi['loadavg_at_start'])}")
    if mi["loadavg_at_start"][0] > 0.5 * (mi.get("nproc") or 1):
        log("note: the machine is busy (load average above half the cores): numbers will be noisy")

    meta = {"started_utc": started.strftime("%Y-%m-%d %H:%M:%S UTC"), "command": command,
            "args": {k: v for k, v in vars(args).items() if k != "cmdline"}, "machine": mi}
    results = {}
    rc = 0
    pg = None
    poolers = {}
    runner = None
    try:
        pg = Postgres(base)
        pg.start(args.scale)
        poolers["pgfjord"] = Pooler("pgfjord", args.pgfjord, base, pg)
        poolers["pgbouncer"] = Pooler("pgbouncer", args.pgbouncer, base, pg)
        for pl in poolers.values():
            pl.start("md5")
        meta["nofile"] = poolers["pgfjord"].nofile()
        meta["versions"] = {
            "pgfjord": poolers["pgfjord"].version(),
            "pgbouncer": poolers["pgbouncer"].version(),
            "postgresql": pg.version(),
            "pgbench": run([PGBENCH, "--version"], 10).out.strip(),
        }
        for k, v in meta["versions"].items():
            log(f"version: {v}")
        log(f"open-file limit in the poolers: {meta['nofile']}")
        if (meta["nofile"] or 0) < 10100:
            log("note: open-file limit below 10100: 10000-client scenarios will fail for both poolers")
        loadgen = Loadgen(args.loadgen, base)
        loadgen.probe(pg)
        log(f"loadgen: {'available' if loadgen.available else 'UNAVAILABLE (' + loadgen.reason + ')'}")
        bench = Bench(args, base)
        runner = Runner(args, base, pg, poolers, bench, loadgen)
        meta["reps"] = runner.reps
        meta["steady_reps"] = runner.steady_reps
        meta["params"] = runner.p
        results = runner.results
        for sc in ALL_SCENARIOS:
            if sc in args.scenarios:
                t0 = time.time()
                getattr(runner, sc)()
                log(f"{sc}: {time.time() - t0:.0f}s")
    except KeyboardInterrupt as e:
        log(f"interrupted ({e or 'Ctrl-C'}): stopping everything")
        rc = 130
    except Exception as e:
        import traceback
        log("ERROR: " + "".join(traceback.format_exception(e)).rstrip())
        rc = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        issues = {}
        for n, pl in poolers.items():
            issues[n] = pl.log_issues()
        try:
            for n, pl in poolers.items():
                if pl.pid is not None and not pl.alive():
                    pl.crashes.append(f"{pl.label} (PID {pl.pid}) was dead at the end; log tail:\n"
                                      + pl.tail_log(15))
                pl.stop()
            if pg:
                pg.stop()
        finally:
            REG.stop_all()
        if args.keep:
            log(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)

    meta["duration_s"] = round(time.time() - t_start, 1)
    meta["crashes"] = {n: pl.crashes for n, pl in poolers.items()}
    meta["pooler_log_issues"] = {n: [{"count": c, "line": l} for c, l in v[:50]] for n, v in issues.items()}
    meta["exit"] = rc
    rows = table_rows(results)
    tg = targets(results)
    data = {"meta": meta, "results": results,
            "table": [{"key": k, "metric": l, "pgfjord": a, "pgbouncer": b,
                       "ratio": None if r is None else round(r, 4)} for k, l, a, b, r in rows],
            "targets": [{"target": d, "value": v, "status": s} for d, v, s in tg]}
    with open(json_path, "w") as f:
        json.dump(data, f, indent=1, default=str)

    log("")
    log("=" * 78)
    log(f"SUMMARY ({meta['started_utc']}, {runner.reps if runner else '?'} rep(s), "
        f"{meta['duration_s'] / 60:.1f} min) — medians, ratio = pgfjord/PgBouncer")
    log("=" * 78)
    if rows:
        log(render_table(rows))
    nrows = noisy_table(results)
    if nrows:
        log("")
        log("noisy neighbour (medians):")
        log(render_noisy(nrows))
    sc = results.get("syscalls", {}).get("runs", {})
    for n in POOLERS:
        if sc.get(n):
            per = sc[n][0].get("per_tx", {})
            log(f"syscalls/tx {LABEL[n]:<9} " + ", ".join(f"{k} {v}" for k, v in list(per.items())[:6]))
    log("")
    log("targets (pgfjord/PgBouncer):")
    for d, v, s in tg:
        log(f"  {s:<5} {d:<45} {v}")
    for n, pl in poolers.items():
        if pl.crashes:
            log(f"!! {pl.label} crashed {len(pl.crashes)} time(s) during the run:")
            for c in pl.crashes:
                log("   " + c.replace("\n", "\n   "))
        if issues.get(n):
            log(f"{pl.label} log: {sum(c for c, _ in issues[n])} ERROR/WARNING/FATAL line(s),"
                f" {len(issues[n])} distinct; most frequent:")
            for c, line in issues[n][:6]:
                log(f"   {c:>6} x {line[:200]}")

    # the performance page
    full = not args.quick and not args.only and not args.reps
    doc = None if args.no_doc or rc != 0 else (args.doc or (
        os.path.join(ROOT, "doc", "performance.md") if full else os.path.join(args.out, stamp + "-performance.md")))
    if doc and (rows or nrows):
        png_name = "performance-clients.png" if os.path.basename(doc) == "performance.md" \
            else os.path.splitext(os.path.basename(doc))[0] + "-clients.png"
        png = os.path.join(os.path.dirname(os.path.abspath(doc)), png_name)
        chart_err = gnuplot_chart(results, png, args.out)
        try:
            os.unlink(os.path.join(args.out, "clients.dat"))
        except OSError:
            pass
        def rel(p):
            p = os.path.abspath(p)
            return os.path.relpath(p, ROOT) if p.startswith(ROOT + os.sep) else p
        write_doc(doc, doc_section(meta, rows, tg, rel(json_path), rel(txt_path), png_name, chart_err, results))
        log(f"performance page: {rel(doc)}" + (f" ({chart_err})" if chart_err else f", chart {rel(png)}"))
    show = lambda p: os.path.relpath(p, ROOT) if os.path.abspath(p).startswith(ROOT + os.sep) else p
    log(f"results: {show(json_path)}, console log: {show(txt_path)}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
