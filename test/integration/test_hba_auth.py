"""auth_type = hba (issue #6): the first line of auth_hba_file that matches picks the method;
local/host/hostssl/hostnossl lines, database and user lists, @file includes, trust, reject,
password, md5, scram-sha-256, cert and peer (with map= and auth_ident_file); RELOAD re-reads
the file; a broken file stops the start and a broken RELOAD keeps the running rules."""
import os
import pwd
import time

import psycopg
import pytest

import harness as h
from harness import (MD5_PASS, MD5_USER, PLAIN_PASS, PLAIN_USER, SCRAM_PASS, SCRAM_USER,
                     SPACE_USER, TRUST_USER)
from admin_helpers import edit_config

ME = pwd.getpwuid(os.geteuid()).pw_name  # the OS user the tests connect as


HBA = f"""# every line type and method
local   all   all                          peer map=local
hostnossl all {MD5_USER}     127.0.0.1/32   reject
hostssl all   {MD5_USER}     127.0.0.1/32   md5
host    all   {SCRAM_USER}   127.0.0.1/32   scram-sha-256
host    all   {PLAIN_USER}   127.0.0.1/32   password
hostssl app2  {TRUST_USER}   127.0.0.1/32   cert
host    app   @trusted.txt   127.0.0.1  255.255.255.255  trust
host    "app2",app  {TRUST_USER}  127.0.0.0/8  reject
"""

IDENT = f"""# map the OS user of the tests to trustuser
local   {ME}    {TRUST_USER}
local   /^nobody$  {TRUST_USER}
"""


def hba_pooler(pg, pgfjord, certs, hba=HBA, start=True):
    if h.REFERENCE:  # PgBouncer 1.18 has no auth_ident_file and no map=
        hba = hba.replace(" map=local", "")
    ini = {"auth_type": "hba", "pool_mode": "transaction", "admin_users": TRUST_USER,
           "client_tls_sslmode": "prefer", "client_tls_cert_file": certs.path("server.crt"),
           "client_tls_key_file": certs.path("server.key"), "client_tls_ca_file": certs.path("ca.crt")}
    userlist = {MD5_USER: h.md5_secret(MD5_USER, MD5_PASS), SCRAM_USER: pg.authid_secret(SCRAM_USER),
                PLAIN_USER: PLAIN_PASS, TRUST_USER: ""}
    p = pgfjord(ini, {"app": pg.connstr("app"), "app2": pg.connstr("app2")}, userlist, start=False)
    h.write_file(p.dir / "pg_hba.txt", hba)
    h.write_file(p.dir / "trusted.txt", f"{TRUST_USER}\n")
    h.write_file(p.dir / "ident.txt", IDENT)
    for name in ("pg_hba.txt", "trusted.txt", "ident.txt"):
        if h.IS_ROOT:
            uid, gid = h.service_ids()
            os.chown(p.dir / name, uid, gid)
    settings = {"auth_hba_file": str(p.dir / "pg_hba.txt")}
    if not h.REFERENCE:
        settings["auth_ident_file"] = str(p.dir / "ident.txt")
    edit_config(p, settings=settings)
    if start:
        p.start()
    return p


def login_error(p, **kw):
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(**kw)
    return str(ei.value)


def test_md5_only_over_tls(pg, pgfjord, certs):
    p = hba_pooler(pg, pgfjord, certs)
    with p.connect(user=MD5_USER, password=MD5_PASS, sslmode="require") as c:
        assert c.execute("select current_user").fetchone()[0] == MD5_USER
    assert "login rejected" in login_error(p, user=MD5_USER, password=MD5_PASS, sslmode="disable")


def test_scram_and_password_lines(pg, pgfjord, certs):
    p = hba_pooler(pg, pgfjord, certs)
    with p.connect(user=SCRAM_USER, password=SCRAM_PASS, sslmode="disable") as c:
        assert c.execute("select 1").fetchone()[0] == 1
    with p.connect(user=PLAIN_USER, password=PLAIN_PASS, sslmode="disable") as c:
        assert c.execute("select 1").fetchone()[0] == 1
    assert "password authentication failed" in login_error(p, user=PLAIN_USER, password="nope",
                                                           sslmode="disable")


def test_trust_from_an_at_file_with_a_netmask_column_then_reject(pg, pgfjord, certs):
    p = hba_pooler(pg, pgfjord, certs)
    with p.connect(user=TRUST_USER, dbname="app", sslmode="disable") as c:
        assert c.execute("select current_database()").fetchone()[0] == "app"
    # app2 without a certificate falls through to the quoted-list reject line
    assert "login rejected" in login_error(p, user=TRUST_USER, dbname="app2", sslmode="disable")


def test_cert_line(pg, pgfjord, certs):
    p = hba_pooler(pg, pgfjord, certs)
    crt, key = certs.client(TRUST_USER)
    with p.connect(user=TRUST_USER, dbname="app2", sslmode="require", sslcert=crt, sslkey=key) as c:
        assert c.execute("select current_database()").fetchone()[0] == "app2"
    assert "certificate authentication failed" in login_error(p, user=TRUST_USER, dbname="app2",
                                                              sslmode="require")


def test_no_matching_line(pg, pgfjord, certs):
    p = hba_pooler(pg, pgfjord, certs)
    assert "login rejected" in login_error(p, user=SPACE_USER, password="x", sslmode="disable")
    if not h.REFERENCE:  # the log says which connection found no line
        assert f'no pg_hba.conf entry for host "127.0.0.1", user "{SPACE_USER}"' in p.log()


@pytest.mark.pgfjord_only("auth_ident_file and map= came after PgBouncer 1.18")
def test_peer_with_an_ident_map_over_the_unix_socket(pg, pgfjord, certs):
    p = hba_pooler(pg, pgfjord, certs)
    with p.connect(user=TRUST_USER, host=str(p.unix_socket.parent)) as c:
        assert c.execute("select current_user").fetchone()[0] == TRUST_USER
    # the map does not let this OS user be md5user
    assert "peer authentication failed" in login_error(p, user=MD5_USER, host=str(p.unix_socket.parent))


def test_reload_rereads_the_hba_file(pg, pgfjord, certs):
    p = hba_pooler(pg, pgfjord, certs)
    assert "login rejected" in login_error(p, user=TRUST_USER, dbname="app2", sslmode="disable")
    h.write_file(p.dir / "pg_hba.txt", f"host app2 {TRUST_USER} 127.0.0.1/32 trust\n" + HBA)
    p.reload()
    deadline = time.monotonic() + 5
    while True:
        try:
            with p.connect(user=TRUST_USER, dbname="app2", sslmode="disable") as c:
                c.execute("select 1")
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                pytest.fail("RELOAD did not apply the new auth_hba_file")
            time.sleep(0.2)
    if h.REFERENCE:
        return  # PgBouncer drops bad lines (here: every rule); pgfjord keeps the running file
    # a broken file at RELOAD keeps the rules in force
    h.write_file(p.dir / "pg_hba.txt", "host all all 127.0.0.1/32 no-such-method\n")
    p.reload()
    time.sleep(1)
    with p.connect(user=TRUST_USER, dbname="app", sslmode="disable") as c:
        assert c.execute("select 1").fetchone()[0] == 1
    assert "pg_hba.txt:1" in p.log()


@pytest.mark.pgfjord_only("PgBouncer skips bad hba lines; pgfjord refuses the file")
def test_a_broken_hba_file_stops_the_start(pg, pgfjord, certs):
    p = hba_pooler(pg, pgfjord, certs, hba="host all all 10.0.0.0/99 trust\n", start=False)
    p.expected_exit = True
    with pytest.raises(RuntimeError):
        p.start(timeout=5)
    assert "pg_hba.txt:1" in p.stderr() + p.log()
