"""Client authentication (auth_type trust/any/plain/md5/scram-sha-256) and server-side login."""

import psycopg
import pytest

import harness as h
from harness import (MD5_PASS, MD5_USER, PLAIN_PASS, PLAIN_USER, SCRAM2_PASS, SCRAM2_USER,
                     SCRAM_PASS, SCRAM_USER, TRUST_USER)

AUTH_FAILED = ("password authentication failed", "SASL authentication failed")

# auth request codes of AuthenticationRequest
AUTH_OK, AUTH_CLEARTEXT, AUTH_MD5, AUTH_SASL = 0, 3, 5, 10


def wire_login(p, user, password, dbname="app"):
    with p.wire() as w:
        return w.try_login(user, dbname, password)


def first_auth_code(p, user, dbname="app"):
    with p.wire() as w:
        return w.auth_request_code(user, dbname)


def assert_auth_failed(status, fields):
    assert status == "error", (status, fields)
    assert any(m in fields.get("M", "") for m in AUTH_FAILED), fields
    assert "no such user" not in fields.get("M", ""), fields


def current_user(p, user, password=None, dbname="app"):
    with p.connect(user=user, password=password, dbname=dbname) as c:
        return c.execute("select current_user").fetchone()[0]


# ---------------------------------------------------------------------------- trust / any

def test_trust_user_in_auth_file(pg, pgfjord):
    p = pgfjord({"auth_type": "trust"}, {"app": pg.connstr("app")}, {TRUST_USER: ""})
    assert first_auth_code(p, TRUST_USER) == AUTH_OK
    assert current_user(p, TRUST_USER) == TRUST_USER


def test_trust_user_must_exist_in_auth_file(pg, pgfjord):
    # md5user exists in PostgreSQL but not in the auth_file: trust must not let it in.
    p = pgfjord({"auth_type": "trust"}, {"app": pg.connstr("app")}, {TRUST_USER: ""})
    status, fields = wire_login(p, MD5_USER, None)
    assert status == "error", (status, fields)
    assert "authentication failed" in fields["M"], fields
    with pytest.raises(psycopg.OperationalError):
        current_user(p, MD5_USER)
    assert current_user(p, TRUST_USER) == TRUST_USER


def test_any_with_forced_user(pg, pgfjord):
    dbs = {"app": pg.connstr("app", user=MD5_USER, password=MD5_PASS)}
    p = pgfjord({"auth_type": "any"}, dbs, {})
    assert first_auth_code(p, "whoever") == AUTH_OK
    assert current_user(p, "whoever", "not-checked") == MD5_USER
    assert current_user(p, "someone_else") == MD5_USER


# ---------------------------------------------------------------------------- password methods

# (auth_type, user, password, how the secret is stored in the userlist, expected auth request)
PASSWORD_CASES = [
    ("plain", PLAIN_USER, PLAIN_PASS, "plain", AUTH_CLEARTEXT),
    # Issue #2: "md5 with a SCRAM or plain secret uses SCRAM" (PgBouncer 1.18 asks for md5 here).
    ("md5", MD5_USER, MD5_PASS, "plain", AUTH_MD5 if h.REFERENCE else AUTH_SASL),
    ("md5", MD5_USER, MD5_PASS, "md5", AUTH_MD5),
    ("scram-sha-256", SCRAM_USER, SCRAM_PASS, "plain", AUTH_SASL),
    ("scram-sha-256", SCRAM_USER, SCRAM_PASS, "scram", AUTH_SASL),
    # md5 auth_type with a SCRAM secret in the userlist must use SCRAM
    ("md5", SCRAM_USER, SCRAM_PASS, "scram", AUTH_SASL),
]
PASSWORD_IDS = [f"{a}-{s}secret-{u}" for a, u, _, s, _ in PASSWORD_CASES]


def secret_for(pg, user, password, kind):
    if kind == "plain":
        return password
    if kind == "md5":
        return h.md5_secret(user, password)
    secret = pg.authid_secret(user)
    assert secret.startswith("SCRAM-SHA-256$"), secret
    return secret


def password_pooler(pg, pgfjord, auth_type, user, password, kind):
    return pgfjord({"auth_type": auth_type, "pool_mode": "transaction"},
                   {"app": pg.connstr("app")},
                   {user: secret_for(pg, user, password, kind)})


@pytest.mark.parametrize("auth_type,user,password,kind,code", PASSWORD_CASES, ids=PASSWORD_IDS)
def test_password_right(pg, pgfjord, auth_type, user, password, kind, code):
    p = password_pooler(pg, pgfjord, auth_type, user, password, kind)
    assert first_auth_code(p, user) == code
    status, msgs = wire_login(p, user, password)
    assert status == "ok", msgs
    # a real client library too, twice (second one reuses the pooled server connection)
    assert current_user(p, user, password) == user
    assert current_user(p, user, password) == user


@pytest.mark.parametrize("auth_type,user,password,kind,code", PASSWORD_CASES, ids=PASSWORD_IDS)
def test_password_wrong(pg, pgfjord, auth_type, user, password, kind, code):
    p = password_pooler(pg, pgfjord, auth_type, user, password, kind)
    assert_auth_failed(*wire_login(p, user, password + "x"))
    with pytest.raises(psycopg.OperationalError) as ei:
        current_user(p, user, "wrong-" + password)
    assert any(m in str(ei.value) for m in AUTH_FAILED), str(ei.value)
    # the pooler keeps serving the right password
    assert current_user(p, user, password) == user


@pytest.mark.parametrize("auth_type", ["plain", "md5", "scram-sha-256"])
def test_unknown_user_looks_like_wrong_password(pg, pgfjord, auth_type):
    user, password = {"plain": (PLAIN_USER, PLAIN_PASS), "md5": (MD5_USER, MD5_PASS),
                      "scram-sha-256": (SCRAM_USER, SCRAM_PASS)}[auth_type]
    p = password_pooler(pg, pgfjord, auth_type, user, password, "plain")
    # an unknown user is asked for a password exactly like a known one...
    assert first_auth_code(p, "nosuchuser") == first_auth_code(p, user)
    # ...and fails the same way as a wrong password, without revealing that it does not exist
    s_unknown, f_unknown = wire_login(p, "nosuchuser", "whatever")
    s_wrong, f_wrong = wire_login(p, user, "whatever")
    assert_auth_failed(s_unknown, f_unknown)
    assert_auth_failed(s_wrong, f_wrong)
    assert f_unknown["M"] == f_wrong["M"]
    assert f_unknown["C"] == f_wrong["C"]


@pytest.mark.pgfjord_only("PgBouncer 1.18 reports failed authentication with SQLSTATE 08P01")
@pytest.mark.parametrize("auth_type,user,password,kind,code", PASSWORD_CASES, ids=PASSWORD_IDS)
def test_auth_failure_sqlstate_28P01(pg, pgfjord, auth_type, user, password, kind, code):
    p = password_pooler(pg, pgfjord, auth_type, user, password, kind)
    status, fields = wire_login(p, user, password + "x")
    assert_auth_failed(status, fields)
    assert fields["C"] == "28P01", fields
    status, fields = wire_login(p, "nosuchuser", password)
    assert_auth_failed(status, fields)
    assert fields["C"] == "28P01", fields


# ---------------------------------------------------------------------------- SCRAM pass-through

@pytest.mark.parametrize("auth_type", ["scram-sha-256", "md5"])
def test_userlist_of_scram_secrets_from_pg_authid(pg, pgfjord, auth_type):
    """A userlist holding only SCRAM secrets copied from pg_authid: the pooler has no
    password, so its server login must reuse the client's SCRAM proof (pass-through)."""
    userlist = pg.userlist_from_authid([SCRAM_USER, SCRAM2_USER])
    assert all(s.startswith("SCRAM-SHA-256$") for s in userlist.values())
    p = pgfjord({"auth_type": auth_type, "pool_mode": "transaction", "default_pool_size": 2},
                {"app": pg.connstr("app"), "app2": pg.connstr("app2")}, userlist)
    for user, password in ((SCRAM_USER, SCRAM_PASS), (SCRAM2_USER, SCRAM2_PASS)):
        for db in ("app", "app2"):
            with p.connect(user=user, password=password, dbname=db) as c:
                row = c.execute("select current_user, current_database()").fetchone()
                assert row == (user, db)
                # the pooler's server connection came over TCP, where pg_hba demands SCRAM
                tcp_backends = pg.execute(
                    "select count(*) from pg_stat_activity where usename = %s "
                    "and datname = %s and client_addr = '127.0.0.1'", (user, db))[0][0]
                assert tcp_backends >= 1
    status, fields = wire_login(p, SCRAM_USER, "wrong")
    assert_auth_failed(status, fields)


# ---------------------------------------------------------------------------- server-side login

SERVER_ROLES = [(PLAIN_USER, PLAIN_PASS), (MD5_USER, MD5_PASS), (SCRAM_USER, SCRAM_PASS)]
SERVER_IDS = ["cleartext-server", "md5-server", "scram-server"]


@pytest.mark.parametrize("user,password", SERVER_ROLES, ids=SERVER_IDS)
def test_server_login_with_password_from_connect_string(pg, pgfjord, user, password):
    dbs = {"app": pg.connstr("app", user=user, password=password)}
    p = pgfjord({"auth_type": "trust", "pool_mode": "transaction"}, dbs, {"fnclient": ""})
    with p.connect(user="fnclient") as c:
        assert c.execute("select current_user").fetchone()[0] == user


@pytest.mark.parametrize("user,password", SERVER_ROLES, ids=SERVER_IDS)
def test_server_login_with_password_from_userlist(pg, pgfjord, user, password):
    p = pgfjord({"auth_type": "md5", "pool_mode": "transaction"},
                {"app": pg.connstr("app")}, {user: password})
    assert current_user(p, user, password) == user


def test_server_login_failure_is_reported(pg, pgfjord):
    # the userlist holds a password PostgreSQL does not accept: the client gets an error
    # (not a hang), and the pooler survives.
    dbs = {"app": pg.connstr("app", user=MD5_USER, password="not-the-password")}
    p = pgfjord({"auth_type": "trust", "pool_mode": "transaction"}, dbs, {"fnclient": ""})
    with pytest.raises(psycopg.OperationalError) as ei:
        with p.connect(user="fnclient") as c:
            c.execute("select 1")
    assert "password authentication failed" in str(ei.value), str(ei.value)
    assert p.alive()
