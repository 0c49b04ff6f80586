"""Helpers for the admin console tests (test_admin.py).

Column lists are copied from /work/shared/COMPAT.md (PgBouncer 1.25, the target).  The column
names and type OIDs that PgBouncer 1.18 (Debian's reference binary) actually sends were recorded
by running each SHOW command against it (see REF118 below); pgfjord must send the same OID for
every column that exists in both.
"""

import os
import subprocess
import sys
import threading
import time

import psycopg

import harness as h
from harness import MD5_PASS, MD5_USER

# --------------------------------------------------------------------------------------------
# type OIDs
BOOL, INT8, INT4, TEXT, NUMERIC, TIMESTAMPTZ = 16, 20, 23, 25, 1700, 1184

# --------------------------------------------------------------------------------------------
# COMPAT.md: "Admin console: columns, in order" (PgBouncer 1.25)

_CLIENT_SERVER = ["type", "user", "database", "replication", "state", "addr", "port",
                  "local_addr", "local_port", "connect_time", "request_time", "wait", "wait_us",
                  "close_needed", "ptr", "link", "remote_pid", "tls", "application_name",
                  "prepared_statements", "id"]

COLUMNS = {
    "POOLS": ["database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req",
              "cl_waiting_cancel_req", "sv_active", "sv_active_cancel", "sv_being_canceled",
              "sv_idle", "sv_used", "sv_tested", "sv_login", "maxwait", "maxwait_us",
              "pool_mode", "load_balance_hosts"],
    "STATS": ["database", "total_server_assignment_count", "total_xact_count",
              "total_query_count", "total_received", "total_sent", "total_xact_time",
              "total_query_time", "total_wait_time", "total_client_parse_count",
              "total_server_parse_count", "total_bind_count", "avg_server_assignment_count",
              "avg_xact_count", "avg_query_count", "avg_recv", "avg_sent", "avg_xact_time",
              "avg_query_time", "avg_wait_time", "avg_client_parse_count",
              "avg_server_parse_count", "avg_bind_count"],
    "STATS_TOTALS": ["database", "server_assignment_count", "xact_count", "query_count",
                     "bytes_received", "bytes_sent", "xact_time", "query_time", "wait_time",
                     "client_parse_count", "server_parse_count", "bind_count"],
    "STATS_AVERAGES": ["database", "server_assignment_count", "xact_count", "query_count",
                       "bytes_received", "bytes_sent", "xact_time", "query_time", "wait_time",
                       "avg_client_parse_count", "avg_server_parse_count", "avg_bind_count"],
    "TOTALS": ["name", "value"],
    "CLIENTS": list(_CLIENT_SERVER),
    "SERVERS": list(_CLIENT_SERVER),
    "SOCKETS": _CLIENT_SERVER + ["recv_pos", "pkt_pos", "pkt_remain", "send_pos",
                                 "send_remain", "pkt_avail", "send_avail"],
    "ACTIVE_SOCKETS": _CLIENT_SERVER + ["recv_pos", "pkt_pos", "pkt_remain", "send_pos",
                                        "send_remain", "pkt_avail", "send_avail"],
    "DATABASES": ["name", "host", "port", "database", "force_user", "pool_size",
                  "min_pool_size", "reserve_pool_size", "server_lifetime", "pool_mode",
                  "load_balance_hosts", "max_connections", "current_connections",
                  "max_client_connections", "current_client_connections", "paused",
                  "disabled"],
    "USERS": ["name", "pool_size", "reserve_pool_size", "pool_mode", "max_user_connections",
              "current_connections", "max_user_client_connections",
              "current_client_connections"],
    "PEERS": ["peer_id", "host", "port", "pool_size"],
    "PEER_POOLS": ["peer_id", "cl_active_cancel_req", "cl_waiting_cancel_req",
                   "sv_active_cancel", "sv_login"],
    "LISTS": ["list", "items"],
    "MEM": ["name", "size", "used", "free", "memtotal"],
    "STATE": ["key", "value"],
    "DNS_HOSTS": ["hostname", "ttl", "addrs"],
    "DNS_ZONES": ["zonename", "serial", "count"],
    "CONFIG": ["key", "value", "default", "changeable"],
    "VERSION": ["version"],
    "FDS": ["fd", "task", "user", "database", "addr", "port", "cancel", "link",
            "client_encoding", "std_strings", "datestyle", "timezone", "password",
            "scram_client_key", "scram_server_key"],
}

SHOW_COMMANDS = ["HELP"] + list(COLUMNS)

# COMPAT.md: rows of SHOW LISTS and SHOW STATE
LISTS_ROWS = ["databases", "users", "peers", "pools", "peer_pools", "free_clients",
              "used_clients", "login_clients", "free_servers", "used_servers", "dns_names",
              "dns_zones", "dns_queries", "dns_pending"]
STATE_ROWS = ["active", "paused", "suspended"]

CLIENT_STATES = {"active", "waiting", "active_cancel_req", "waiting_cancel_req", "idle"}
SERVER_STATES = {"active", "idle", "used", "tested", "new", "active_cancel", "being_canceled"}

CONTROL_COMMANDS = ["SET", "RELOAD", "PAUSE", "RESUME", "DISABLE", "ENABLE", "RECONNECT",
                    "KILL", "KILL_CLIENT", "SUSPEND", "SHUTDOWN", "WAIT_FOR_SERVERS",
                    "WAIT_FOR_CLIENTS", "WAIT_CLOSE"]

# COMPAT.md "[pgbouncer] keys and defaults"; service_name is left out: it is an alias of
# job_name (Windows only), not a key of its own.
CONFIG_KEYS = [
    "admin_users", "application_name_add_host", "auth_dbname", "auth_file", "auth_hba_file",
    "auth_ident_file", "auth_ldap_options", "auth_query", "auth_type", "auth_user",
    "autodb_idle_timeout", "cancel_wait_timeout", "client_idle_timeout",
    "client_login_timeout", "client_tls13_ciphers", "client_tls_ca_file",
    "client_tls_cert_file", "client_tls_ciphers", "client_tls_dheparams",
    "client_tls_ecdhcurve", "client_tls_key_file", "client_tls_protocols",
    "client_tls_sslmode", "conffile", "default_pool_size", "disable_pqexec", "dns_max_ttl",
    "dns_nxdomain_ttl", "dns_zone_check_period", "idle_transaction_timeout",
    "ignore_startup_parameters", "job_name", "listen_addr", "listen_backlog", "listen_port",
    "log_connections", "log_disconnections", "log_pooler_errors", "log_stats", "logfile",
    "max_client_conn", "max_db_client_connections", "max_db_connections", "max_packet_size",
    "max_prepared_statements", "max_user_client_connections", "max_user_connections",
    "min_pool_size", "peer_id", "pidfile", "pkt_buf", "pool_mode", "query_timeout",
    "query_wait_notify", "query_wait_timeout", "reserve_pool_size", "reserve_pool_timeout",
    "resolv_conf", "sbuf_loopcnt", "scram_iterations", "server_check_delay",
    "server_check_query", "server_connect_timeout", "server_fast_close",
    "server_idle_timeout", "server_lifetime", "server_login_retry", "server_reset_query",
    "server_reset_query_always", "server_round_robin", "server_tls13_ciphers",
    "server_tls_ca_file", "server_tls_cert_file", "server_tls_ciphers", "server_tls_key_file",
    "server_tls_protocols", "server_tls_sslmode", "so_reuseport", "stats_period",
    "stats_users", "suspend_timeout", "syslog", "syslog_facility", "syslog_ident",
    "tcp_defer_accept", "tcp_keepalive", "tcp_keepcnt", "tcp_keepidle", "tcp_keepintvl",
    "tcp_socket_buffer", "tcp_user_timeout", "track_extra_parameters", "transaction_timeout",
    "unix_socket_dir", "unix_socket_group", "unix_socket_mode", "user", "verbose",
]
# keys marked NR ("needs a restart") in COMPAT.md: SHOW CONFIG says changeable = no
NOT_RELOADABLE = ["disable_pqexec", "job_name", "listen_addr", "listen_backlog", "listen_port",
                  "pidfile", "pkt_buf", "resolv_conf", "so_reuseport", "track_extra_parameters",
                  "unix_socket_dir", "unix_socket_group", "unix_socket_mode", "user"]

# --------------------------------------------------------------------------------------------
# What PgBouncer 1.18.0 sends: (column, type OID) per SHOW command, recorded against Debian's
# /usr/sbin/pgbouncer.  Commands 1.18 lacks (PEERS, PEER_POOLS, STATE) are absent.
BYTEA = 17
REF118 = {
    "POOLS": [("database", TEXT), ("user", TEXT), ("cl_active", INT4), ("cl_waiting", INT4),
              ("cl_active_cancel_req", INT4), ("cl_waiting_cancel_req", INT4),
              ("sv_active", INT4), ("sv_active_cancel", INT4), ("sv_being_canceled", INT4),
              ("sv_idle", INT4), ("sv_used", INT4), ("sv_tested", INT4), ("sv_login", INT4),
              ("maxwait", INT4), ("maxwait_us", INT4), ("pool_mode", TEXT)],
    "STATS": [("database", TEXT), ("total_xact_count", NUMERIC),
              ("total_query_count", NUMERIC), ("total_received", NUMERIC),
              ("total_sent", NUMERIC), ("total_xact_time", NUMERIC),
              ("total_query_time", NUMERIC), ("total_wait_time", NUMERIC),
              ("avg_xact_count", NUMERIC), ("avg_query_count", NUMERIC), ("avg_recv", NUMERIC),
              ("avg_sent", NUMERIC), ("avg_xact_time", NUMERIC), ("avg_query_time", NUMERIC),
              ("avg_wait_time", NUMERIC)],
    "STATS_TOTALS": [("database", TEXT), ("xact_count", NUMERIC), ("query_count", NUMERIC),
                     ("bytes_received", NUMERIC), ("bytes_sent", NUMERIC),
                     ("xact_time", NUMERIC), ("query_time", NUMERIC), ("wait_time", NUMERIC)],
    "STATS_AVERAGES": [("database", TEXT), ("xact_count", NUMERIC), ("query_count", NUMERIC),
                       ("bytes_received", NUMERIC), ("bytes_sent", NUMERIC),
                       ("xact_time", NUMERIC), ("query_time", NUMERIC),
                       ("wait_time", NUMERIC)],
    "TOTALS": [("name", TEXT), ("value", NUMERIC)],
    "CLIENTS": [("type", TEXT), ("user", TEXT), ("database", TEXT), ("state", TEXT),
                ("addr", TEXT), ("port", INT4), ("local_addr", TEXT), ("local_port", INT4),
                ("connect_time", TEXT), ("request_time", TEXT), ("wait", INT4),
                ("wait_us", INT4), ("close_needed", INT4), ("ptr", TEXT), ("link", TEXT),
                ("remote_pid", INT4), ("tls", TEXT), ("application_name", TEXT)],
    "DATABASES": [("name", TEXT), ("host", TEXT), ("port", INT4), ("database", TEXT),
                  ("force_user", TEXT), ("pool_size", INT4), ("min_pool_size", INT4),
                  ("reserve_pool", INT4), ("pool_mode", TEXT), ("max_connections", INT4),
                  ("current_connections", INT4), ("paused", INT4), ("disabled", INT4)],
    "USERS": [("name", TEXT), ("pool_mode", TEXT)],
    "LISTS": [("list", TEXT), ("items", INT4)],
    "MEM": [("name", TEXT), ("size", INT4), ("used", INT4), ("free", INT4),
            ("memtotal", INT4)],
    "DNS_HOSTS": [("hostname", TEXT), ("ttl", INT8), ("addrs", TEXT)],
    "DNS_ZONES": [("zonename", TEXT), ("serial", INT8), ("count", INT4)],
    "CONFIG": [("key", TEXT), ("value", TEXT), ("default", TEXT), ("changeable", TEXT)],
    "VERSION": [("version", TEXT)],
    "FDS": [("fd", INT4), ("task", TEXT), ("user", TEXT), ("database", TEXT), ("addr", TEXT),
            ("port", INT4), ("cancel", INT8), ("link", INT4), ("client_encoding", TEXT),
            ("std_strings", TEXT), ("datestyle", TEXT), ("timezone", TEXT),
            ("password", TEXT), ("scram_client_key", BYTEA), ("scram_server_key", BYTEA)],
}
REF118["SERVERS"] = list(REF118["CLIENTS"])
REF118["SOCKETS"] = REF118["CLIENTS"] + [(c, INT4) for c in (
    "recv_pos", "pkt_pos", "pkt_remain", "send_pos", "send_remain", "pkt_avail", "send_avail")]
REF118["ACTIVE_SOCKETS"] = list(REF118["SOCKETS"])

# 1.18 column names that 1.25 renamed: {command: {1.18 name: 1.25 name}}
RENAMED_SINCE_118 = {"DATABASES": {"reserve_pool": "reserve_pool_size"}}


def ref118_oids(cmd):
    """{1.25 column name: OID PgBouncer 1.18 sends} for a SHOW command."""
    ren = RENAMED_SINCE_118.get(cmd, {})
    return {ren.get(n, n): oid for n, oid in REF118.get(cmd, [])}


# SHOW commands whose columns in PgBouncer 1.18 differ from COMPAT.md (1.25): why
DIFFERS_IN_118 = {
    "POOLS": "1.18 lacks load_balance_hosts",
    "STATS": "1.18 lacks the server_assignment, parse and bind counters",
    "STATS_TOTALS": "1.18 lacks the server_assignment, parse and bind counters",
    "STATS_AVERAGES": "1.18 lacks the server_assignment, parse and bind counters",
    "CLIENTS": "1.18 lacks replication, prepared_statements and id",
    "SERVERS": "1.18 lacks replication, prepared_statements and id",
    "SOCKETS": "1.18 lacks replication, prepared_statements and id",
    "ACTIVE_SOCKETS": "1.18 lacks replication, prepared_statements and id",
    "DATABASES": "1.18 has reserve_pool and lacks server_lifetime, load_balance_hosts and the "
                 "client connection limits",
    "USERS": "1.18 has only name and pool_mode",
    "PEERS": "1.18 has no peering (SHOW PEERS came with 1.21)",
    "PEER_POOLS": "1.18 has no peering (SHOW PEER_POOLS came with 1.21)",
    "STATE": "1.18 has no SHOW STATE",
}

# [pgbouncer] keys of COMPAT.md that PgBouncer 1.18's SHOW CONFIG does not list
CONFIG_KEYS_NOT_IN_118 = {
    "auth_dbname", "auth_ident_file", "auth_ldap_options", "cancel_wait_timeout",
    "client_tls13_ciphers", "max_db_client_connections", "max_prepared_statements",
    "max_user_client_connections", "peer_id", "query_wait_notify", "scram_iterations",
    "server_tls13_ciphers", "track_extra_parameters", "transaction_timeout",
}

# what PgBouncer 1.18's SHOW HELP names (its NOTICE detail)
HELP_WORDS_118 = {"HELP", "CONFIG", "DATABASES", "POOLS", "CLIENTS", "SERVERS", "USERS",
                  "VERSION", "FDS", "SOCKETS", "ACTIVE_SOCKETS", "LISTS", "MEM", "DNS_HOSTS",
                  "DNS_ZONES", "STATS", "STATS_TOTALS", "STATS_AVERAGES", "TOTALS", "SET",
                  "RELOAD", "PAUSE", "RESUME", "DISABLE", "ENABLE", "RECONNECT", "KILL",
                  "SUSPEND", "SHUTDOWN", "WAIT_CLOSE"}

# --------------------------------------------------------------------------------------------
# the standard test pooler

ADMIN, ADMIN_PASS = "fjadmin", "fjadminpass"
STATS, STATS_PASS = "fjstats", "fjstatspass"


def admin_pooler(pg, pgfjord, ini=None, databases=None, start=True, **kw):
    """A pooler with auth_type=md5, admin_users=fjadmin, stats_users=fjstats, and databases
    app and app2 reachable as md5user (md5 secrets in the auth_file)."""
    settings = {"auth_type": "md5", "admin_users": ADMIN, "stats_users": STATS,
                "pool_mode": "transaction"}
    settings.update(ini or {})
    dbs = {"app": pg.connstr("app"), "app2": pg.connstr("app2")} if databases is None \
        else databases
    userlist = {MD5_USER: h.md5_secret(MD5_USER, MD5_PASS),
                ADMIN: h.md5_secret(ADMIN, ADMIN_PASS),
                STATS: h.md5_secret(STATS, STATS_PASS)}
    userlist.update(kw.pop("userlist", {}))
    return pgfjord(settings, dbs, userlist, start=start, **kw)


def client(p, dbname="app", autocommit=True, **kw):
    """A normal (pooled) client connection as md5user."""
    kw.setdefault("user", MD5_USER)
    kw.setdefault("password", MD5_PASS)
    return p.connect(dbname=dbname, autocommit=autocommit, **kw)


def console(p, user=ADMIN, password=ADMIN_PASS, dbname="pgbouncer", unix=False, **kw):
    """A console connection.  ClientCursor binds parameters client-side, so every execute()
    is a simple Query message (the console speaks only the simple query protocol)."""
    dsn = (p.unix_dsn if unix else p.dsn)(dbname=dbname, user=user, password=password, **kw)
    return psycopg.connect(dsn, autocommit=True, prepare_threshold=None,
                           cursor_factory=psycopg.ClientCursor)


class Result:
    """Result of one SHOW: column names, type OIDs, rows (tuples) and rows as dicts."""

    def __init__(self, cur):
        desc = cur.description or []
        self.names = [d.name for d in desc]
        self.oids = [d.type_code for d in desc]
        self.rows = cur.fetchall() if desc else []
        self.dicts = [dict(zip(self.names, r)) for r in self.rows]
        self.status = cur.statusmessage

    def where(self, **match):
        return [d for d in self.dicts if all(d.get(k) == v for k, v in match.items())]

    def one(self, **match):
        found = self.where(**match)
        assert len(found) == 1, (match, self.dicts)
        return found[0]

    def kv(self):
        """{first column: second column}, for key/value style commands."""
        return {r[0]: r[1] for r in self.rows}


def show(conn, what):
    return Result(conn.execute(f"SHOW {what}"))


def show_rows(p, what, **console_kw):
    """SHOW what on a console connection of its own; the rows as dicts."""
    with console(p, **console_kw) as c:
        return show(c, what).dicts


def run(conn, sql):
    """Run a console command; returns the command tag."""
    return conn.execute(sql).statusmessage


def console_error(conn, sql):
    """Run sql on the console and return the psycopg error it must raise."""
    try:
        conn.execute(sql)
    except psycopg.Error as e:
        return e
    raise AssertionError(f"{sql!r} succeeded on the console, expected an error")


def err_text(e):
    diag = getattr(e, "diag", None)
    parts = [str(e)]
    if diag is not None and diag.message_primary:
        parts.append(diag.message_primary)
    return " ".join(parts)


def wait_for(pred, timeout=10, interval=0.1, what="condition"):
    """Poll pred() until it returns a truthy value (returned) or timeout (AssertionError with
    the last value)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last={last!r}")
        time.sleep(interval)


def wait_show(conn, what, pred, timeout=10, label=None):
    """Poll SHOW what until pred(Result) is truthy; returns the Result."""
    box = {}

    def check():
        box["r"] = show(conn, what)
        return pred(box["r"])

    try:
        wait_for(check, timeout, what=label or f"SHOW {what}")
    except AssertionError as e:
        last = box["r"].dicts if "r" in box else None
        raise AssertionError(f"{e}\nlast SHOW {what}: {last}")
    return box["r"]


class Background:
    """Run fn() in a daemon thread; .done(timeout) tells whether it finished, .result/.error
    hold the outcome."""

    def __init__(self, fn):
        self.result = None
        self.error = None
        self._ev = threading.Event()

        def body():
            try:
                self.result = fn()
            except BaseException as e:  # reported by the test
                self.error = e
            finally:
                self._ev.set()

        self.thread = threading.Thread(target=body, daemon=True)
        self.thread.start()

    def done(self, timeout=0):
        return self._ev.wait(timeout)

    def get(self, timeout=10):
        assert self._ev.wait(timeout), "background call did not finish in time"
        if self.error is not None:
            raise self.error
        return self.result


def local_port(conn):
    """The client-side TCP port of a psycopg connection."""
    import socket
    s = socket.socket(fileno=os.dup(conn.pgconn.socket))
    try:
        return s.getsockname()[1]
    finally:
        s.close()


def pid_of(conn):
    return conn.execute("select pg_backend_pid()").fetchone()[0]


def edit_config(p, databases=None, settings=None, userlist=None):
    """Rewrite the pooler's ini/auth_file with changed sections (dicts update the current ones;
    a value of None removes the key)."""
    for target, changes in ((p.databases, databases), (p.settings, settings),
                            (p.userlist, userlist)):
        for k, v in (changes or {}).items():
            if v is None:
                target.pop(k, None)
            else:
                target[k] = v
    p.write_config()


_PEER_SCRIPT = r"""
import json, sys, psycopg
sockdir, port, sql = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
try:
    with psycopg.connect(host=sockdir, port=port, user="pgbouncer", dbname="pgbouncer",
                         connect_timeout=10, autocommit=True, prepare_threshold=None,
                         cursor_factory=psycopg.ClientCursor) as c:
        cur = c.execute(sql)
        out["status"] = cur.statusmessage
        out["rows"] = [[str(v) for v in r] for r in cur.fetchall()] if cur.description else []
except Exception as e:
    out["error"] = str(e)
print(json.dumps(out))
"""


def console_as_service_user(p, sql="SHOW VERSION"):
    """Log in to the console over the Unix socket as user pgbouncer without a password, from a
    process running under the pooler's own OS user, and run sql.  Returns {"rows": ...} or
    {"error": ...}."""
    import json
    cmd = h.as_service([sys.executable, "-c", _PEER_SCRIPT, str(p.unix_socket.parent),
                        str(p.port), sql])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL, cwd="/")
    assert r.returncode == 0, (r.stdout, r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def wire_console(p, user=ADMIN, password=ADMIN_PASS, timeout=5):
    """A logged-in console session on a raw harness.Wire (for exact protocol checks)."""
    w = p.wire(timeout)
    w.login(user, "pgbouncer", password)
    return w


def wire_command(w, sql):
    """Send a simple Query; returns (first ErrorResponse's fields or None, messages).  Fails
    clearly if the answer does not end with ReadyForQuery in time."""
    import socket
    w.send_msg(b"Q", sql.encode() + b"\0")
    msgs = []
    try:
        for _ in range(100000):
            m = w.read_msg()
            if m is None:
                raise AssertionError(f"{sql!r}: connection closed; received {msgs}")
            msgs.append(m)
            if m[0] == b"Z":
                break
    except socket.timeout:
        raise AssertionError(f"{sql!r}: no ReadyForQuery within {w.sock.gettimeout()} s; "
                             f"received {msgs}")
    errors = [h.parse_fields(pl) for t, pl in msgs if t == b"E"]
    return (errors[0] if errors else None), msgs
