"""Integration-test harness for pgfjord.

Starts a real PostgreSQL 15 cluster and real pooler processes (pgfjord, or Debian's PgBouncer in
"reference mode") in temporary directories, on free ports of their own, and talks to them over
127.0.0.1, ::1 or Unix sockets only.  When the tests run as root, PostgreSQL and the pooler run as
Debian's ``postgres`` user through ``runuser -u postgres --``; otherwise they run as the current
user.  Every process is stopped by its PID.

Environment:
  PGFJORD_BIN        binary under test (default: <repo>/pgfjord, or <repo>/build/pgfjord if
                     only that exists).  A path whose basename contains
                     "pgbouncer" selects reference mode (tests marked pgfjord_only are skipped).
  PGFJORD_REFERENCE  "1"/"0" forces reference mode on/off.
  PG_BINDIR          PostgreSQL binaries (default /usr/lib/postgresql/15/bin).
"""

import base64
import hashlib
import hmac
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PG_BINDIR = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))

def _default_binary():
    """<repo>/pgfjord (in-tree build), else <repo>/build/pgfjord (out-of-tree build)."""
    for cand in (REPO / "pgfjord", REPO / "build" / "pgfjord"):
        if cand.exists():
            return str(cand)
    return str(REPO / "pgfjord")


BIN = os.path.abspath(os.environ.get("PGFJORD_BIN") or _default_binary())
IS_ROOT = os.geteuid() == 0
SERVICE_USER = "postgres"

_ref = os.environ.get("PGFJORD_REFERENCE")
if _ref is not None and _ref != "":
    REFERENCE = _ref not in ("0", "no", "false")
else:
    REFERENCE = "pgbouncer" in os.path.basename(BIN).lower()

# Sanitizer reports that fail the test owning the process.
SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "LeakSanitizer", "runtime error:")

# Roles created in the session cluster, with their passwords.
MD5_USER, MD5_PASS = "md5user", "md5pass"
SCRAM_USER, SCRAM_PASS = "scramuser", "scrampass"
PLAIN_USER, PLAIN_PASS = "plainuser", "plainpass"
TRUST_USER = "trustuser"
SPACE_USER, SPACE_PASS = "spaceuser", "a b c"
SCRAM2_USER, SCRAM2_PASS = "scramuser2", "scrampass2"


# --------------------------------------------------------------------------------------------
# small helpers

def service_ids():
    """uid/gid the services run as."""
    if IS_ROOT:
        pw = pwd.getpwnam(SERVICE_USER)
        return pw.pw_uid, pw.pw_gid
    return os.geteuid(), os.getegid()


def as_service(argv):
    """Command line that runs argv as the service user."""
    argv = [str(a) for a in argv]
    if IS_ROOT:
        return ["runuser", "-u", SERVICE_USER, "--"] + argv
    return argv


def make_dir(prefix):
    """A fresh temporary directory owned by the service user (mode 0700)."""
    d = tempfile.mkdtemp(prefix=prefix)
    if IS_ROOT:
        uid, gid = service_ids()
        os.chown(d, uid, gid)
    os.chmod(d, 0o700)
    return Path(d)


def write_file(path, text, mode=0o600):
    path = Path(path)
    path.write_text(text)
    if IS_ROOT:
        uid, gid = service_ids()
        os.chown(path, uid, gid)
    os.chmod(path, mode)
    return path


def read_text(path):
    try:
        return Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return ""


_handed_out = set()


def free_port(host="127.0.0.1"):
    """A TCP port that is free on 127.0.0.1 (and on ::1 when available) right now."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host if ":" not in host else "127.0.0.1", 0))
            port = s.getsockname()[1]
        if port in _handed_out:
            continue
        if has_ipv6_loopback():
            try:
                with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s6:
                    s6.bind(("::1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port found")


_ipv6 = None


def has_ipv6_loopback():
    global _ipv6
    if _ipv6 is None:
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                s.bind(("::1", 0))
            _ipv6 = True
        except OSError:
            _ipv6 = False
    return _ipv6


def wait_port(host, port, timeout, proc_alive=lambda: True):
    """Wait until host:port accepts a TCP connection."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc_alive():
            return False
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            try:
                s.connect((host, port))
                return True
            except OSError:
                pass
        time.sleep(0.05)
    return False


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def child_pid(ppid, timeout=10):
    """PID of the (single) child of ppid, e.g. the real process under runuser."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kids = Path(f"/proc/{ppid}/task/{ppid}/children").read_text().split()
        except FileNotFoundError:
            return None
        if kids:
            return int(kids[0])
        try:  # runuser already exited (its child failed at once): a zombie has no children
            if Path(f"/proc/{ppid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return None
        except (FileNotFoundError, IndexError):
            return None
        time.sleep(0.01)
    return None


def md5_secret(user, password):
    return "md5" + hashlib.md5((password + user).encode()).hexdigest()


def userlist_text(userlist):
    lines = []
    for user, secret in userlist.items():
        u = user.replace('"', '""')
        s = ("" if secret is None else secret).replace('"', '""')
        lines.append(f'"{u}" "{s}"')
    return "\n".join(lines) + "\n"


def sanitizer_reports(text):
    return [p for p in SANITIZER_PATTERNS if p in text]


# --------------------------------------------------------------------------------------------
# PostgreSQL

class PgCluster:
    """A throwaway PostgreSQL cluster (initdb in a temp dir, TCP on 127.0.0.1 + a Unix socket)."""

    def __init__(self):
        self.dir = make_dir("pgfj-pg-")
        self.data = self.dir / "data"
        self.sockdir = self.dir
        self.host = "127.0.0.1"
        self.port = free_port()
        self.logpath = self.dir / "postgres.log"
        self.proc = None
        self.pid = None

    # -- lifecycle

    def init(self):
        cmd = [PG_BINDIR / "initdb", "-D", self.data, "-U", "postgres", "--no-sync",
               "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
               "--locale=C"]
        r = subprocess.run(as_service(cmd), cwd=self.dir, capture_output=True, text=True,
                           timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{r.stdout}\n{r.stderr}")
        conf = self.data / "postgresql.conf"
        with open(conf, "a") as f:
            f.write(f"""
# pgfjord test cluster
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.sockdir}'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
max_wal_size = 2GB
synchronize_seqscans = off
password_encryption = 'scram-sha-256'
log_min_messages = warning
log_connections = off
""")
        hba = """# pgfjord test cluster: each role uses its own method over TCP
local   all  all                     trust
host    all  md5user     127.0.0.1/32  md5
host    all  scramuser   127.0.0.1/32  scram-sha-256
host    all  plainuser   127.0.0.1/32  password
host    all  trustuser   127.0.0.1/32  trust
host    all  all         127.0.0.1/32  scram-sha-256
"""
        write_file(self.data / "pg_hba.conf", hba)

    def start(self):
        log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(as_service([PG_BINDIR / "postgres", "-D", self.data]),
                                     cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 60
        pidfile = self.data / "postmaster.pid"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited:\n{read_text(self.logpath)}")
            lines = read_text(pidfile).splitlines()
            # line 8 (index 7) is the postmaster status, "ready" once it accepts connections
            if len(lines) >= 8 and lines[7].strip() == "ready":
                self.pid = int(lines[0])
                return
            time.sleep(0.05)
        raise RuntimeError(f"postgres did not start:\n{read_text(self.logpath)}")

    def stop(self):
        if self.proc is None:
            return
        if self.pid and pid_alive(self.pid):
            os.kill(self.pid, signal.SIGINT)  # fast shutdown
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            if self.pid and pid_alive(self.pid):
                os.kill(self.pid, signal.SIGQUIT)  # immediate shutdown
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                if self.pid and pid_alive(self.pid):
                    os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- access

    def admin(self, dbname="postgres", autocommit=True):
        """A superuser psycopg connection over the Unix socket."""
        import psycopg
        return psycopg.connect(host=str(self.sockdir), port=self.port, user="postgres",
                               dbname=dbname, autocommit=autocommit, connect_timeout=10)

    def execute(self, sql, params=None, dbname="postgres"):
        with self.admin(dbname) as c:
            cur = c.execute(sql, params)
            return cur.fetchall() if cur.description else None

    def connstr(self, dbname="app", **kw):
        """A [databases] connect string that points at this cluster over TCP."""
        parts = [f"host={self.host}", f"port={self.port}", f"dbname={dbname}"]
        for k, v in kw.items():
            parts.append(f"{k}={v}")
        return " ".join(parts)

    def authid_secret(self, role):
        """The stored secret (md5... or SCRAM-SHA-256$...) of a role, from pg_authid."""
        rows = self.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))
        return rows[0][0] if rows else None

    def userlist_from_authid(self, roles):
        """A userlist dict {role: secret} made of the secrets stored in pg_authid."""
        return {r: self.authid_secret(r) for r in roles}

    def setup_roles(self):
        with self.admin() as c:
            c.execute("SET password_encryption = 'md5'")
            c.execute(f"CREATE ROLE {MD5_USER} LOGIN PASSWORD '{MD5_PASS}'")
            c.execute("SET password_encryption = 'scram-sha-256'")
            c.execute(f"CREATE ROLE {SCRAM_USER} LOGIN PASSWORD '{SCRAM_PASS}'")
            c.execute(f"CREATE ROLE {SCRAM2_USER} LOGIN PASSWORD '{SCRAM2_PASS}'")
            c.execute(f"CREATE ROLE {PLAIN_USER} LOGIN PASSWORD '{PLAIN_PASS}'")
            c.execute(f"CREATE ROLE {SPACE_USER} LOGIN PASSWORD '{SPACE_PASS}'")
            c.execute(f"CREATE ROLE {TRUST_USER} LOGIN")
            for db in ("app", "app2"):
                c.execute(f"CREATE DATABASE {db}")
        for db in ("app", "app2"):
            with self.admin(db) as c:
                c.execute("GRANT ALL ON SCHEMA public TO PUBLIC")


# --------------------------------------------------------------------------------------------
# the pooler under test

class Pooler:
    """One pgfjord (or PgBouncer) process with its own directory, config and port."""

    def __init__(self, binary, ini_settings=None, databases=None, userlist=None, users=None,
                 extra_ini="", dirprefix="pgfj-"):
        self.dir = make_dir(dirprefix)
        self.binary = self.dir / "pgfjord"
        shutil.copy2(binary, self.binary)
        if IS_ROOT:
            uid, gid = service_ids()
            os.chown(self.binary, uid, gid)
        os.chmod(self.binary, 0o755)
        self.ini_path = self.dir / "pgbouncer.ini"
        self.userlist_path = self.dir / "userlist.txt"
        self.logfile = self.dir / "pgfjord.log"
        self.pidfile = self.dir / "pgfjord.pid"
        self.stdout_path = self.dir / "stdout.txt"
        self.stderr_path = self.dir / "stderr.txt"
        self.proc = None
        self.pid = None
        self.daemon = False
        self.expected_exit = False
        self.killed = False

        settings = {
            "listen_addr": "127.0.0.1",
            "listen_port": None,
            "unix_socket_dir": str(self.dir),
            "logfile": str(self.logfile),
            "pidfile": str(self.pidfile),
            "auth_file": str(self.userlist_path),
        }
        settings.update(ini_settings or {})
        if settings.get("listen_port") is None:
            settings["listen_port"] = free_port()
        self.settings = settings
        self.port = int(settings["listen_port"])
        addr = str(settings.get("listen_addr") or "")
        first = addr.split(",")[0].strip()
        if first in ("", "*", "0.0.0.0"):
            first = "127.0.0.1"
        if first == "::":
            first = "::1"
        self.host = first
        self.unix_socket = Path(str(settings.get("unix_socket_dir") or "/tmp")) / \
            f".s.PGSQL.{self.port}"

        self.databases = dict(databases or {})
        self.userlist = dict(userlist or {})
        self.users = dict(users or {}) if users else None
        self.extra_ini = extra_ini
        self.write_config()

    # -- config

    @staticmethod
    def _value(v):
        if isinstance(v, dict):
            return " ".join(f"{k}={x}" for k, x in v.items())
        if isinstance(v, bool):
            return "1" if v else "0"
        return str(v)

    def ini_text(self):
        out = ["[databases]"]
        out += [f"{k} = {self._value(v)}" for k, v in self.databases.items()]
        if self.users is not None:
            out += ["", "[users]"]
            out += [f"{k} = {self._value(v)}" for k, v in self.users.items()]
        out += ["", "[pgbouncer]"]
        out += [f"{k} = {self._value(v)}" for k, v in self.settings.items() if v is not None]
        text = "\n".join(out) + "\n"
        if self.extra_ini:
            text += self.extra_ini if self.extra_ini.endswith("\n") else self.extra_ini + "\n"
        return text

    def write_config(self, text=None):
        write_file(self.ini_path, text if text is not None else self.ini_text())
        write_file(self.userlist_path, userlist_text(self.userlist))

    # -- lifecycle

    def env(self):
        """Environment of the pooler: sanitizer reports also go to files in its directory, so
        that they are kept even when it runs as a daemon with stderr on /dev/null."""
        env = dict(os.environ)
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            opts = env.get(var, "")
            if "log_path=" not in opts:
                path = self.dir / ("sanitizer" if var == "ASAN_OPTIONS" else "ubsan")
                env[var] = (opts + ":" if opts else "") + f"log_path={path}"
        return env

    def sanitizer_logs(self):
        return "".join(read_text(f) for f in sorted(self.dir.glob("sanitizer.*")) +
                       sorted(self.dir.glob("ubsan.*")))

    def command(self, *args):
        return as_service([self.binary, *args, self.ini_path])

    def start(self, args=(), daemon=False, wait=True, timeout=20, direct=False):
        """Start the pooler (as the service user; direct=True runs it as the current user,
        e.g. root with -u).  Waits until it accepts TCP connections unless wait=False."""
        self.daemon = daemon
        argv = list(args) + (["-d"] if daemon else [])
        out = open(self.stdout_path, "ab")
        err = open(self.stderr_path, "ab")
        cmd = [str(self.binary), *argv, str(self.ini_path)] if direct else self.command(*argv)
        self.proc = subprocess.Popen(cmd, cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=err, start_new_session=True,
                                     env=self.env())
        out.close()
        err.close()
        if daemon:
            try:
                rc = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise RuntimeError("daemon start: foreground process did not exit")
            if rc != 0:
                raise RuntimeError(f"daemon start failed rc={rc}:\n{self.stderr()}\n{self.log()}")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not read_text(self.pidfile).strip():
                time.sleep(0.05)
            txt = read_text(self.pidfile).strip()
            if not txt:
                raise RuntimeError(f"daemon wrote no pidfile:\n{self.stderr()}\n{self.log()}")
            self.pid = int(txt)
        else:
            self.pid = child_pid(self.proc.pid) if IS_ROOT and not direct else self.proc.pid
            if self.pid is None:
                rc = self.proc.wait(timeout=5)
                raise RuntimeError(f"pooler exited at once rc={rc}:\n{self.stderr()}\n{self.log()}")
        if wait and not wait_port(self.host, self.port, timeout, self.alive):
            raise RuntimeError(f"pooler not listening on {self.host}:{self.port}\n"
                               f"stderr:\n{self.stderr()}\nlog:\n{self.log()}")
        if wait and self.settings.get("unix_socket_dir"):
            # the TCP listener may be up a moment before the Unix socket is
            deadline = time.monotonic() + timeout
            while not self.unix_socket.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            if not self.unix_socket.exists():
                raise RuntimeError(f"pooler made no Unix socket {self.unix_socket}\n"
                                   f"stderr:\n{self.stderr()}\nlog:\n{self.log()}")
        return self

    def alive(self):
        return self.pid is not None and pid_alive(self.pid)

    def wait_exit(self, timeout=10):
        """Wait for the process to exit by itself; returns True if it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                self._reap()
                return True
            time.sleep(0.05)
        return False

    def _reap(self):
        if self.proc is not None and not self.daemon:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def returncode(self):
        if self.proc is None or self.daemon:
            return None
        return self.proc.poll()

    def kill(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def reload(self):
        self.kill(signal.SIGHUP)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Send sig and wait for the process to exit.  Returns True if it exited in time."""
        self.expected_exit = True
        if not self.alive():
            self._reap()
            return True
        os.kill(self.pid, sig)
        return self.wait_exit(timeout)

    def terminate(self):
        """Teardown: SIGTERM, a second SIGTERM (immediate shutdown), then SIGKILL."""
        if self.pid is None:
            return
        for sig, wait in ((signal.SIGTERM, 3), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            if not self.alive():
                break
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                break
            if sig == signal.SIGKILL:
                self.killed = True
            self.wait_exit(wait)
        self._reap()

    # -- output

    def log(self):
        return read_text(self.logfile)

    def stderr(self):
        return read_text(self.stderr_path)

    def output(self):
        """Everything the process wrote: stderr, stdout, logfile, sanitizer logs."""
        return (self.stderr() + read_text(self.stdout_path) + self.log()
                + self.sanitizer_logs())

    # -- clients

    def dsn(self, **kw):
        params = {"host": self.host, "port": self.port, "dbname": "app", "connect_timeout": 10}
        params.update(kw)
        parts = []
        for k, v in params.items():
            if v is None:
                continue
            v = str(v)
            if v == "" or any(ch in v for ch in " '\\"):
                v = "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
            parts.append(f"{k}={v}")
        return " ".join(parts)

    def connect(self, autocommit=True, **kw):
        import psycopg
        return psycopg.connect(self.dsn(**kw), autocommit=autocommit, prepare_threshold=None)

    def unix_dsn(self, **kw):
        kw.setdefault("host", str(self.unix_socket.parent))
        return self.dsn(**kw)

    def wire(self, timeout=10):
        return Wire(self.host, self.port, timeout)

    def run(self, *args, timeout=20, direct=False):
        """Run the binary to completion (e.g. -V, or a config it must refuse), as the service
        user unless direct=True.  Returns a CompletedProcess; if it does not exit within
        timeout, it is killed by PID and AssertionError is raised."""
        cmd = [str(self.binary), *args, str(self.ini_path)] if direct else self.command(*args)
        proc = subprocess.Popen(cmd, cwd=self.dir, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True, env=self.env())
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            real = child_pid(proc.pid, timeout=0.1) if IS_ROOT and not direct else proc.pid
            for pid in (real, proc.pid):
                if pid and pid_alive(pid):
                    os.kill(pid, signal.SIGKILL)
            proc.communicate(timeout=10)
            raise AssertionError(f"{cmd} did not exit within {timeout} s")
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


# --------------------------------------------------------------------------------------------
# a raw v3 protocol client

PROTO_3_0 = 3 << 16
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102


def startup_packet(params, version=PROTO_3_0):
    body = struct.pack("!I", version)
    for k, v in params.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def msg(mtype, payload=b""):
    return mtype + struct.pack("!I", len(payload) + 4) + payload


def data_rows(msgs):
    """The DataRow messages among (type, payload) pairs, as lists of text (None for NULL)."""
    rows = []
    for t, p in msgs:
        if t != b"D":
            continue
        (n,) = struct.unpack("!H", p[:2])
        pos, row = 2, []
        for _ in range(n):
            (ln,) = struct.unpack("!i", p[pos:pos + 4])
            pos += 4
            row.append(None if ln < 0 else p[pos:pos + ln].decode())
            pos += max(ln, 0)
        rows.append(row)
    return rows


def parse_fields(payload):
    """Fields of an ErrorResponse/NoticeResponse as {code-char: text}."""
    out = {}
    for part in payload.split(b"\0"):
        if part:
            out[chr(part[0])] = part[1:].decode(errors="replace")
    return out


class Wire:
    """Raw socket speaking the PostgreSQL v3 protocol, for bad-input and negotiation tests."""

    def __init__(self, host, port, timeout=10):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Close abruptly with a TCP RST (SO_LINGER 0), as when the client process is killed."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def send_msg(self, mtype, payload=b""):
        self.send(msg(mtype, payload))

    def _fill(self, n):
        while len(self.buf) < n:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return False
            self.buf += chunk
        return True

    def read_byte(self):
        if not self._fill(1):
            return None
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def read_msg(self):
        """(type, payload) or None at EOF."""
        if not self._fill(5):
            return None
        mtype = self.buf[:1]
        (length,) = struct.unpack("!I", self.buf[1:5])
        if not self._fill(1 + length):
            return None
        payload = self.buf[5:1 + length]
        self.buf = self.buf[1 + length:]
        return mtype, payload

    def read_until(self, types=(b"Z",), limit=10000):
        """Messages up to and including the first one whose type is in types (or EOF/E)."""
        out = []
        for _ in range(limit):
            m = self.read_msg()
            if m is None:
                return out
            out.append(m)
            if m[0] in types:
                return out
        return out

    def error_or_close(self):
        """Read until an ErrorResponse or EOF.  Returns the error fields, or None if the
        connection was closed without one."""
        for _ in range(1000):
            try:
                m = self.read_msg()
            except socket.timeout:
                raise AssertionError("no ErrorResponse and connection not closed in time")
            if m is None:
                return None
            if m[0] == b"E":
                return parse_fields(m[1])
        raise AssertionError("too many messages without an error")

    def closed(self, timeout=5):
        """True if the peer closes the connection (after any pending messages) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                m = self.read_msg()
                if m is None:
                    return True
        except socket.timeout:
            return False

    def startup(self, user, database, version=PROTO_3_0, **params):
        p = {"user": user, "database": database}
        p.update(params)
        self.send(startup_packet(p, version))

    def try_login(self, user, database, password=None, version=PROTO_3_0, **params):
        """Startup + cleartext/md5/SCRAM auth.  Returns ("ok", messages up to ReadyForQuery),
        ("error", ErrorResponse fields) or ("closed", messages received before EOF)."""
        self.startup(user, database, version=version, **params)
        msgs = []
        scram = None
        while True:
            m = self.read_msg()
            if m is None:
                return "closed", msgs
            msgs.append(m)
            t, p = m
            if t == b"E":
                return "error", parse_fields(p)
            if t == b"R":
                (code,) = struct.unpack("!I", p[:4])
                if code == 0:
                    continue
                if code == 3:
                    self.send_msg(b"p", (password or "").encode() + b"\0")
                elif code == 5:
                    salt = p[4:8]
                    inner = hashlib.md5(((password or "") + user).encode()).hexdigest()
                    outer = hashlib.md5(inner.encode() + salt).hexdigest()
                    self.send_msg(b"p", ("md5" + outer).encode() + b"\0")
                elif code == 10:
                    scram = ScramClient(password or "")
                    self.send_msg(b"p", scram.initial_response())
                elif code == 11:
                    self.send_msg(b"p", scram.final_message(p[4:]))
                elif code == 12:
                    scram.verify_server(p[4:])
                else:
                    raise AssertionError(f"unsupported auth request {code}")
            if t == b"Z":
                return "ok", msgs

    def login(self, user, database, password=None, **params):
        """Like try_login, but asserts success and returns the messages."""
        status, detail = self.try_login(user, database, password, **params)
        if status != "ok":
            raise AssertionError(f"login {status}: {detail}")
        return detail

    def query(self, sql):
        """Simple query; returns (rows, error_fields, messages)."""
        self.send_msg(b"Q", sql.encode() + b"\0")
        msgs = self.read_until((b"Z",))
        rows = data_rows(msgs)
        err = next((parse_fields(p) for t, p in msgs if t == b"E"), None)
        return rows, err, msgs

    def auth_request_code(self, user, database):
        """Send a startup packet and return the first AuthenticationRequest code
        (0 ok, 3 cleartext, 5 md5, 10 SASL) or the error fields."""
        self.startup(user, database)
        m = self.read_msg()
        if m is None:
            return None
        if m[0] == b"E":
            return parse_fields(m[1])
        assert m[0] == b"R", m
        return struct.unpack("!I", m[1][:4])[0]


def unix_wire(path, timeout=10):
    w = Wire.__new__(Wire)
    w.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    w.sock.settimeout(timeout)
    w.sock.connect(str(path))
    w.buf = b""
    return w


class ScramClient:
    """Client side of SCRAM-SHA-256 (RFC 5802/7677) as PostgreSQL uses it, no channel binding."""

    def __init__(self, password):
        self.password = password.encode()
        self.cnonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = f"n=,r={self.cnonce}"
        self.server_signature = None

    def initial_response(self):
        data = ("n,," + self.first_bare).encode()
        return b"SCRAM-SHA-256\0" + struct.pack("!i", len(data)) + data

    def final_message(self, server_first):
        sf = server_first.decode()
        attrs = dict(kv.split("=", 1) for kv in sf.split(","))
        nonce, salt, iters = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        assert nonce.startswith(self.cnonce), "server nonce does not extend ours"
        salted = hashlib.pbkdf2_hmac("sha256", self.password, salt, iters)
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={nonce}"
        auth_message = f"{self.first_bare},{sf},{without_proof}".encode()
        client_sig = hmac.new(stored_key, auth_message, "sha256").digest()
        proof = bytes(a ^ b for a, b in zip(client_key, client_sig))
        server_key = hmac.new(salted, b"Server Key", "sha256").digest()
        self.server_signature = hmac.new(server_key, auth_message, "sha256").digest()
        return (without_proof + ",p=" + base64.b64encode(proof).decode()).encode()

    def verify_server(self, server_final):
        attrs = dict(kv.split("=", 1) for kv in server_final.decode().split(","))
        if base64.b64decode(attrs.get("v", "")) != self.server_signature:
            raise AssertionError("SCRAM server signature mismatch")
