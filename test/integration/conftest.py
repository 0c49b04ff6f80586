"""pytest fixtures for the pgfjord integration suite.

Fixtures
  pg        (session)  a running PostgreSQL 15 cluster (harness.PgCluster) with roles md5user,
                       scramuser, scramuser2, plainuser, spaceuser, trustuser and databases app, app2.
  pgfjord   (function) factory: pgfjord(ini_settings, databases, userlist, users=None, *,
                       extra_ini="", start=True, daemon=False, args=(), timeout=20)
                       -> harness.Pooler (.port .host .dsn(**kw) .connect(**kw) .wire()
                       .log() .pid .stop(sig) .reload() .kill(sig) .run(*args) and paths
                       .dir .ini_path .userlist_path .logfile .pidfile .unix_socket).
                       Every pooler is stopped by PID at teardown, and the test fails if the
                       process died on its own or printed a sanitizer report.
Markers
  pgfjord_only(reason)  skipped in reference mode (PGFJORD_BIN points at pgbouncer).
  timeout(seconds)      per-test limit of the test body (default 120 s), enforced with SIGALRM.
"""

import os
import signal
import sys

import pytest

import harness


DEFAULT_TIMEOUT = 120


@pytest.fixture(scope="session")
def certs():
    """A CA with server and client certificates for the TLS tests (tls_certs.Certs),
    made once per run and removed at its end."""
    from tls_certs import Certs
    made = Certs()
    yield made
    made.cleanup()


def pytest_configure(config):
    config.addinivalue_line("markers", "pgfjord_only(reason): behaviour PgBouncer 1.18 lacks; "
                            "skipped in reference mode")
    config.addinivalue_line("markers", "timeout(seconds): limit for the test body")


def pytest_report_header(config):
    mode = "reference (PgBouncer)" if harness.REFERENCE else "pgfjord"
    return [f"pooler binary: {harness.BIN} [{mode}]",
            f"running as root: {harness.IS_ROOT} (services as "
            f"{harness.SERVICE_USER if harness.IS_ROOT else 'current user'})"]


def pytest_collection_modifyitems(config, items):
    if not harness.REFERENCE:
        return
    for item in items:
        m = item.get_closest_marker("pgfjord_only")
        if m is not None:
            reason = m.args[0] if m.args else m.kwargs.get("reason", "pgfjord-only behaviour")
            item.add_marker(pytest.mark.skip(reason=f"pgfjord_only: {reason}"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    m = item.get_closest_marker("timeout")
    seconds = int(m.args[0]) if m and m.args else DEFAULT_TIMEOUT

    def on_alarm(signum, frame):
        raise TimeoutError(f"test body exceeded {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="session")
def pg():
    cluster = harness.PgCluster()
    try:
        cluster.init()
        cluster.start()
        cluster.setup_roles()
        yield cluster
    finally:
        cluster.stop()
        cluster.cleanup()


@pytest.fixture
def pgfjord(request):
    """Factory fixture: start a pooler with the given config; see module docstring."""
    if not os.path.exists(harness.BIN):
        pytest.fail(f"binary under test not found: {harness.BIN} (build it, or set PGFJORD_BIN)")
    made = []

    def factory(ini_settings=None, databases=None, userlist=None, users=None, *,
                extra_ini="", start=True, daemon=False, args=(), timeout=20):
        p = harness.Pooler(harness.BIN, ini_settings, databases, userlist, users,
                           extra_ini=extra_ini)
        made.append(p)
        if start:
            p.start(args=args, daemon=daemon, timeout=timeout)
        return p

    yield factory

    problems = []
    for p in made:
        died = p.pid is not None and not p.expected_exit and not p.alive()
        p.terminate()
        text = p.output()
        reports = harness.sanitizer_reports(text)
        if reports:
            problems.append(f"{p.dir}: sanitizer report ({', '.join(reports)}):\n"
                            f"{tail(text, 200)}")
        if died:
            problems.append(f"{p.dir}: pooler (pid {p.pid}) exited during the test "
                            f"(rc={p.returncode()}):\n{tail(text, 60)}")
    failed = getattr(request.node, "rep_call", None)
    if not problems and (failed is None or not failed.failed):
        for p in made:
            p_cleanup(p)
    else:
        for p in made:
            print(f"kept pooler directory for inspection: {p.dir}", file=sys.stderr)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def p_cleanup(p):
    import shutil
    shutil.rmtree(p.dir, ignore_errors=True)


def tail(text, n):
    lines = text.splitlines()
    return "\n".join(lines[-n:])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
