/*
 * client_login.c - a client's startup packet and authentication, up to "logged in".
 *
 * Handles SSLRequest (TLS: client_tls.c), GSSENCRequest (answered N), CancelRequest,
 * protocol negotiation, startup parameters, and the auth methods of PgBouncer:
 * trust, any, plain, md5 and scram-sha-256, choosing per stored secret as PgBouncer does.
 * A user that auth_file does not have is looked up with auth_query (auth_query.c) when an
 * auth_user is set; the login waits for the secret. Failures never tell whether the user or
 * the password was wrong.
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "auth/md5.h"
#include "auth/scram.h"
#include "config/tenants.h"
#include "config/userlist.h"
#include "proto/build.h"
#include "proto/parse.h"
#include "proto/proto.h"
#include "session/auth_query.h"
#include "session/cancel.h"
#include "session/client.h"
#include "session/client_hba.h"
#include "session/client_tls.h"
#include "session/link.h"
#include "session/server.h"
#include "session/tenant.h"
#include "util/log.h"
#include "util/random.h"
#include "util/strlist.h"

enum login_method { METHOD_NONE, METHOD_PLAIN, METHOD_MD5, METHOD_SCRAM };

struct pf_client_login {
	enum login_method method;
	bool fake;                  /* unknown user: go through the motions, then fail */
	bool scram_started;
	uint8_t md5_salt[4];
	struct pf_user *user;       /* the authenticating user (NULL when fake) */
	/* Its secret when the method was chosen: RELOAD or another login's auth_query may replace
	 * the user's while this login goes on. */
	char *secret;
	char *user_name;            /* as the client sent them, for auth and log lines */
	char *db_name;
	/* tenant_key = user_suffix: login "app.checkout" is role "app" (auth_name) of tenant
	 * "checkout" (tenant_name); both NULL for a login without a suffix. */
	char *auth_name;
	char *tenant_name;
	struct pf_scram_server scram;
	struct pf_client_tls tls;
	bool startup_seen;          /* a first packet came: a ClientHello now is not direct TLS */
	struct pf_auth_lookup *lookup; /* auth_query running for this login */
	int lookup_auth_type;       /* the method to ask for once it answers */
};

void pf_client_login_free(struct pf_client *client)
{
	if (!client->login)
		return;
	if (client->login->lookup)
		pf_auth_query_cancel(client->login->lookup);
	pf_scram_server_free(&client->login->scram);
	pf_client_tls_free(&client->login->tls);
	free(client->login->secret);
	free(client->login->user_name);
	free(client->login->db_name);
	free(client->login->auth_name);
	free(client->login->tenant_name);
	free(client->login);
	client->login = NULL;
}

const char *pf_client_login_db(const struct pf_client *client)
{
	return client->login ? client->login->db_name : NULL;
}

const char *pf_client_login_user(const struct pf_client *client)
{
	return client->login ? client->login->user_name : NULL;
}

static struct pf_client_login *login_state(struct pf_client *client)
{
	if (!client->login)
		client->login = pf_xcalloc(1, sizeof(*client->login));
	return client->login;
}

struct pf_client_tls *pf_client_login_tls(struct pf_client *client)
{
	return &login_state(client)->tls;
}

static bool send_buf(struct pf_client *client, struct pf_buf *b)
{
	bool ok = pf_stream_write(&client->stream, b->data, b->len);
	pf_buf_free(b);
	if (!ok)
		pf_client_close(client, NULL);
	return ok;
}

/* The "options" startup parameter: only "-c name=value" and "--name=value" of tracked names. */
static bool apply_options(struct pf_client *client, const char *options)
{
	char *copy = pf_xstrdup(options);
	char *save = NULL;
	bool ok = true;
	bool expect_c_arg = false;
	for (char *tok = strtok_r(copy, " \t", &save); tok && ok; tok = strtok_r(NULL, " \t", &save)) {
		char *setting;
		if (expect_c_arg) {
			setting = tok;
			expect_c_arg = false;
		} else if (strcmp(tok, "-c") == 0) {
			expect_c_arg = true;
			continue;
		} else if (strncmp(tok, "-c", 2) == 0) {
			setting = tok + 2;
		} else if (strncmp(tok, "--", 2) == 0) {
			setting = tok + 2;
		} else {
			pf_client_disconnect(client, "08P01", "unsupported options startup parameter: only '-c config=val' and '--config=val' are allowed");
			ok = false;
			break;
		}
		char *eq = strchr(setting, '=');
		if (!eq) {
			pf_client_disconnect(client, "08P01", "unsupported options startup parameter: only '-c config=val' and '--config=val' are allowed");
			ok = false;
			break;
		}
		*eq = 0;
		for (char *c = setting; *c; c++)
			if (*c == '-')
				*c = '_';
		int idx = pf_tracked_index(setting);
		if (idx < 0) {
			pf_client_disconnect(client, "08P01", "unsupported startup parameter in options: %s", setting);
			ok = false;
			break;
		}
		pf_tracked_set(&client->params, idx, eq + 1);
	}
	if (ok && expect_c_arg) {
		pf_client_disconnect(client, "08P01", "unsupported options startup parameter: only '-c config=val' and '--config=val' are allowed");
		ok = false;
	}
	free(copy);
	return ok;
}

/* The authenticated client joins its pool. */
void pf_client_logged_in(struct pf_client *client)
{
	struct pf_user *pool_user = client->db->forced_user ? client->db->forced_user : client->login_user;
	int max_db = pf_db_max_client_connections(client->db);
	if (max_db > 0 && pf_db_client_count(client->db) >= max_db) {
		pf_client_disconnect(client, "53300", "no more connections allowed (max_db_client_connections)");
		return;
	}
	int max_user = pf_user_max_client_connections(client->login_user);
	if (max_user > 0 && client->login_user->client_count >= max_user) {
		pf_client_disconnect(client, "53300", "no more connections allowed (max_user_client_connections)");
		return;
	}
	client->pool = pf_pool_get(client->db, pool_user);
	client->login_user->client_count++;
	/* Its tenant, named now for good; refused over the tenant's max_client_conn. */
	if (!client->db->is_admin && !pf_tenant_join(client, client->login ? client->login->tenant_name : NULL))
		return;
	pf_client_change_state(client, CL_WAITING_LOGIN);
	if (client->pool->welcome_ok) {
		pf_client_finish_login(client);
		return;
	}
	/* The pool has never logged in to its server: its first server brings the greeting. */
	pf_link_maybe_launch(client->pool);
}

static void auth_failed(struct pf_client *client, const char *message)
{
	pf_client_disconnect(client, "28P01", "%s", message);
}

static void start_scram(struct pf_client *client, const char *secret)
{
	struct pf_client_login *login = login_state(client);
	/* A plain password is turned into a SCRAM verifier once per user, not per login. */
	if (secret && login->user && pf_secret_type(secret) == SECRET_PLAIN && login->user->secret &&
	    strcmp(login->user->secret, secret) == 0) {
		if (!login->user->plain_verifier)
			login->user->plain_verifier = pf_scram_build_secret(secret, pf_state.set->scram_iterations);
		if (login->user->plain_verifier)
			secret = login->user->plain_verifier;
	}
	int rc = secret ? pf_scram_server_init(&login->scram, secret, pf_state.set->scram_iterations)
			: pf_scram_server_init_dummy(&login->scram, login->user_name);
	if (rc < 0) {
		pf_client_disconnect(client, "28P01", "wrong password type");
		return;
	}
	login->method = METHOD_SCRAM;
	/* Over TLS -PLUS comes first, binding the login to our certificate, as PostgreSQL. */
	uint8_t cbind[PF_SCRAM_CBIND_MAX];
	size_t cbind_len =
		client->stream.tls ? pf_tls_server_end_point(client->stream.tls, true, cbind, sizeof(cbind)) : 0;
	if (cbind_len)
		pf_scram_server_offer_plus(&login->scram, cbind, cbind_len);
	struct pf_buf b;
	pf_buf_init(&b);
	const char *mechs[] = { PF_SCRAM_MECH_PLUS, PF_SCRAM_MECH };
	pf_build_auth_sasl(&b, cbind_len ? mechs : mechs + 1, cbind_len ? 2 : 1);
	send_buf(client, &b);
}

static void start_md5(struct pf_client *client)
{
	struct pf_client_login *login = login_state(client);
	/* The client salts md5 with the name it sent, the secret was made with the role's. */
	if (login->auth_name)
		pf_client_log(client, LOG_LVL_WARNING,
			      "md5 cannot authenticate user_suffix login %s: the md5 secret of %s is made with the "
			      "role name; store a SCRAM or plain secret for it",
			      login->user_name, login->auth_name);
	login->method = METHOD_MD5;
	pf_random_bytes(login->md5_salt, 4);
	struct pf_buf b;
	pf_buf_init(&b);
	pf_build_auth_md5(&b, login->md5_salt);
	send_buf(client, &b);
}

static void start_plain(struct pf_client *client)
{
	login_state(client)->method = METHOD_PLAIN;
	struct pf_buf b;
	pf_buf_init(&b);
	pf_build_auth_cleartext(&b);
	send_buf(client, &b);
}

/*
 * Methods that need no password (cert, peer): the identity the client proved (certificate
 * common name, OS user) must be the user name, or be mapped to it by auth_ident_file.
 */
static void identity_auth(struct pf_client *client, const char *user_name, int auth_type, const char *map)
{
	char *identity = NULL;
	const char *why = NULL;
	if (auth_type == AUTH_TYPE_CERT) {
		SSL *ssl = client->stream.tls;
		identity = ssl && SSL_get_verify_result(ssl) == X509_V_OK ? pf_tls_peer_common_name(ssl) : NULL;
		why = !ssl ? "no TLS" : !identity ? "no verified client certificate" : NULL;
	} else {
		identity = pf_client_peer_user(client);
		why = !client->is_unix ? "peer authentication needs the Unix socket" : !identity ? "unknown peer" : NULL;
	}
	const char *method = auth_type == AUTH_TYPE_CERT ? "TLS certificate" : "peer";
	if (!why && !pf_client_identity_allowed(map, identity, user_name))
		why = map ? "not allowed by the ident map" : "identity is not the user name";
	free(identity);
	if (why) {
		pf_client_log(client, LOG_LVL_WARNING, "%s authentication failed: %s", method, why);
		pf_client_disconnect(client, "28000", "%s authentication failed", method);
		return;
	}
	client->login_user = pf_user_find_or_make(user_name);
	pf_client_logged_in(client);
}

static void start_auth_as(struct pf_client *client, const char *user_name, int auth_type, const char *map);
static void start_password_auth(struct pf_client *client, struct pf_user *user, int auth_type);

/* Pick the method for this user and secret, as PgBouncer does; then ask the client.
 * auth_type = hba picks the method from the file's first matching line. */
static void start_auth(struct pf_client *client, const char *user_name)
{
	int auth_type = pf_state.set->auth_type;
	const char *map = NULL;
	if (auth_type == AUTH_TYPE_HBA && !pf_client_hba_method(client, user_name, &auth_type, &map))
		return; /* refused */
	start_auth_as(client, user_name, auth_type, map);
}

static void start_auth_as(struct pf_client *client, const char *user_name, int auth_type, const char *map)
{
	if (auth_type == AUTH_TYPE_ANY) {
		if (!client->db->forced_user) {
			pf_client_disconnect(client, "28000", "bouncer config error");
			return;
		}
		client->login_user = client->db->forced_user;
		pf_client_logged_in(client);
		return;
	}
	if (auth_type == AUTH_TYPE_CERT || auth_type == AUTH_TYPE_PEER) {
		identity_auth(client, user_name, auth_type, map);
		return;
	}
	if (auth_type == AUTH_TYPE_REJECT) {
		pf_client_disconnect(client, "28000", "login rejected");
		return;
	}
	struct pf_user *user = pf_user_find(user_name);
	if (auth_type == AUTH_TYPE_TRUST) {
		if (!user) {
			pf_client_disconnect(client, "28000", "\"trust\" authentication failed");
			return;
		}
		client->login_user = user;
		pf_client_logged_in(client);
		return;
	}
	/* Not in auth_file (or known from an earlier lookup: the password may have changed since). */
	bool unknown = !user || !user->secret || user->dynamic;
	if (unknown && pf_auth_query_configured(client->db)) {
		const char *sqlstate, *error;
		struct pf_client_login *login = login_state(client);
		login->lookup_auth_type = auth_type;
		login->lookup = pf_auth_query_start(client, user_name, &sqlstate, &error);
		if (!login->lookup)
			pf_client_disconnect(client, sqlstate, "%s", error);
		return;
	}
	start_password_auth(client, user, auth_type);
}

/* auth_query answered: go on as if the secret had come from auth_file. */
void pf_client_login_lookup_done(struct pf_client *client, struct pf_user *user, const char *error)
{
	struct pf_client_login *login = client->login;
	login->lookup = NULL;
	if (error) {
		pf_client_disconnect(client, "08P01", "%s", error);
		return;
	}
	/* No secret (unknown, expired or passwordless role): asked and failed like a wrong password. */
	start_password_auth(client, user && user->secret ? user : NULL, login->lookup_auth_type);
}

/* Ask for the password in the way this method and the stored secret call for. */
static void start_password_auth(struct pf_client *client, struct pf_user *user, int auth_type)
{
	struct pf_client_login *login = login_state(client);
	login->user = user;
	login->fake = !user || !user->secret;
	login->secret = login->fake ? NULL : pf_xstrdup(user->secret);
	const char *secret = login->secret;
	enum pf_secret_type type = secret ? pf_secret_type(secret) : SECRET_PLAIN;
	switch (auth_type) {
	case AUTH_TYPE_PLAIN:
		start_plain(client);
		break;
	case AUTH_TYPE_MD5:
		/* A SCRAM secret cannot answer md5; a plain one can do SCRAM, the stronger method.
		 * An unknown user gets SCRAM too, like the plain and SCRAM secrets. */
		if (type == SECRET_MD5)
			start_md5(client);
		else
			start_scram(client, secret);
		break;
	case AUTH_TYPE_SCRAM:
		if (secret && type == SECRET_MD5) {
			pf_client_disconnect(client, "28P01", "wrong password type");
			return;
		}
		start_scram(client, secret);
		break;
	default:
		pf_client_disconnect(client, "28000", "bouncer config error");
		break;
	}
}

/* Is the process on the other end of the Unix socket running as pgfjord's own OS user? */
static bool peer_is_me(struct pf_client *client)
{
	uid_t uid;
	return client->is_unix && pf_sock_peer_uid(client->stream.fd, &uid) && uid == pf_state.my_uid;
}

/*
 * The console: admin_users may do everything, stats_users only SHOW; both authenticate like
 * any login. The user "pgbouncer" over the Unix socket from pgfjord's own OS user needs no
 * password, as in PgBouncer (that is how operators and readiness probes get in).
 */
static void start_admin_auth(struct pf_client *client, const char *user_name)
{
	const struct pf_settings *set = pf_state.set;
	if (strcmp(user_name, "pgbouncer") == 0 && peer_is_me(client)) {
		client->admin_level = 2;
		client->login_user = pf_user_find_or_make(user_name);
		pf_client_logged_in(client);
		return;
	}
	if (pf_strlist_contains(set->admin_users, user_name))
		client->admin_level = 2;
	else if (pf_strlist_contains(set->stats_users, user_name))
		client->admin_level = 1;
	if (!client->admin_level) {
		pf_client_disconnect(client, "08P01", "not allowed");
		return;
	}
	if (set->auth_type == AUTH_TYPE_ANY || set->auth_type == AUTH_TYPE_TRUST) {
		/* No password: only the name matters, and it is in admin_users/stats_users. */
		client->login_user = pf_user_find_or_make(user_name);
		pf_client_logged_in(client);
		return;
	}
	start_auth(client, user_name);
}

/* A plain password typed by the client against any stored secret. */
static bool check_plain(const char *secret, const char *user, const char *password)
{
	switch (pf_secret_type(secret)) {
	case SECRET_PLAIN:
		return strlen(secret) == strlen(password) && CRYPTO_memcmp(secret, password, strlen(secret)) == 0;
	case SECRET_MD5: {
		char md5[36];
		pf_md5_password_secret(user, password, md5);
		return CRYPTO_memcmp(md5, secret, 35) == 0;
	}
	case SECRET_SCRAM: {
		int iter, saltlen;
		uint8_t salt[PF_SCRAM_MAX_SALT_LEN], stored[32], server[32], stored2[32], server2[32];
		if (!pf_scram_parse_secret(secret, &iter, salt, &saltlen, stored, server))
			return false;
		char *again = pf_scram_build_secret_salt(password, iter, salt, saltlen);
		bool ok = again && pf_scram_parse_secret(again, &iter, salt, &saltlen, stored2, server2) &&
			  CRYPTO_memcmp(stored, stored2, 32) == 0;
		free(again);
		return ok;
	}
	}
	return false;
}

static void auth_succeeded(struct pf_client *client)
{
	client->login_user = client->login->user;
	pf_client_logged_in(client);
}

/* A 'p' message: password, md5 response, or a SASL step. */
static enum pf_pkt_action handle_password(struct pf_client *client, const struct pf_pkt *pkt)
{
	struct pf_client_login *login = client->login;
	if (!login || login->method == METHOD_NONE) {
		pf_client_disconnect(client, "08P01", "unexpected password message");
		return PKT_CLOSED;
	}
	const char *user_name = login->user_name;
	if (login->method == METHOD_PLAIN || login->method == METHOD_MD5) {
		const char *response;
		if (pf_parse_cstring(pkt->body, pkt->body_len, &response) < 0) {
			pf_client_disconnect(client, "08P01", "invalid password packet");
			return PKT_CLOSED;
		}
		bool ok = false;
		if (!login->fake) {
			const char *secret = login->secret;
			/* An md5 secret is made with the role name (the login's, but for user_suffix). */
			if (login->method == METHOD_PLAIN)
				ok = check_plain(secret, login->user->name, response);
			else
				ok = pf_md5_check(secret, user_name, login->md5_salt, response);
		}
		if (!ok) {
			auth_failed(client, "password authentication failed");
			return PKT_CLOSED;
		}
		auth_succeeded(client);
		return client->state == CL_DEAD ? PKT_CLOSED : PKT_CONSUMED;
	}

	/* SCRAM-SHA-256 */
	struct pf_buf out;
	pf_buf_init(&out);
	if (!login->scram_started) {
		const char *mech;
		const uint8_t *data;
		int datalen;
		if (pf_parse_sasl_initial(pkt->body, pkt->body_len, &mech, &data, &datalen) < 0 || datalen < 0) {
			pf_client_disconnect(client, "08P01", "malformed SASL message");
			return PKT_CLOSED;
		}
		bool plus = strcmp(mech, PF_SCRAM_MECH_PLUS) == 0;
		if ((!plus && strcmp(mech, PF_SCRAM_MECH) != 0) || pf_scram_server_choose(&login->scram, plus) < 0) {
			pf_client_disconnect(client, "28000", "client selected an invalid SASL authentication mechanism");
			return PKT_CLOSED;
		}
		if (pf_scram_server_first(&login->scram, data, (size_t)datalen, &out) < 0) {
			pf_buf_free(&out);
			auth_failed(client, "SASL authentication failed");
			return PKT_CLOSED;
		}
		login->scram_started = true;
		struct pf_buf b;
		pf_buf_init(&b);
		pf_build_auth_sasl_continue(&b, out.data, out.len);
		pf_buf_free(&out);
		return send_buf(client, &b) ? PKT_CONSUMED : PKT_CLOSED;
	}
	int rc = pf_scram_server_final(&login->scram, pkt->body, pkt->body_len, &out);
	if (rc < 0 || login->fake) {
		pf_buf_free(&out);
		auth_failed(client, "SASL authentication failed");
		return PKT_CLOSED;
	}
	struct pf_buf b;
	pf_buf_init(&b);
	pf_build_auth_sasl_final(&b, out.data, out.len);
	pf_buf_free(&out);
	if (!send_buf(client, &b))
		return PKT_CLOSED;
	/* Remember the client's keys so servers can log in with them (pass-through); keys of a
	 * verifier we made from a plain password are useless to the server, and so are keys of
	 * a secret the user no longer has. */
	struct pf_user *user = login->user;
	if (login->scram.has_keys && pf_secret_type(login->secret) == SECRET_SCRAM && user->secret &&
	    strcmp(user->secret, login->secret) == 0) {
		memcpy(user->scram_client_key, login->scram.client_key, 32);
		memcpy(user->scram_server_key, login->scram.server_key, 32);
		user->has_scram_keys = true;
		if (client->db->forced_user && strcmp(client->db->forced_user->name, user->name) == 0 &&
		    client->db->forced_user->secret && strcmp(client->db->forced_user->secret, user->secret) == 0) {
			memcpy(client->db->forced_user->scram_client_key, user->scram_client_key, 32);
			memcpy(client->db->forced_user->scram_server_key, user->scram_server_key, 32);
			client->db->forced_user->has_scram_keys = true;
		}
	}
	auth_succeeded(client);
	return client->state == CL_DEAD ? PKT_CLOSED : PKT_CONSUMED;
}

static bool send_byte(struct pf_client *client, char c)
{
	if (!pf_stream_write(&client->stream, &c, 1)) {
		pf_client_close(client, NULL);
		return false;
	}
	return true;
}

/* The StartupMessage: protocol, parameters, database and user. */
static enum pf_pkt_action handle_startup(struct pf_client *client, const struct pf_pkt *pkt)
{
	struct pf_startup st;
	int rc = pf_parse_startup(pkt->body - pkt->hdr_len, pkt->len, &st);
	if (rc == PF_STARTUP_BAD_VERSION) {
		/* Old protocols get PostgreSQL's answer; any other code is garbage. */
		bool old_protocol = st.major == 1 || st.major == 2;
		pf_client_disconnect(client, old_protocol ? "0A000" : "08P01",
				     "unsupported frontend protocol %d.%d: server supports 3.0", st.major, st.minor);
		return PKT_CLOSED;
	}
	if (client->over_limit) {
		pf_client_disconnect(client, "53300", "no more connections allowed (max_client_conn)");
		return PKT_CLOSED;
	}
	if (rc < 0) {
		pf_client_disconnect(client, "08P01", "invalid startup packet");
		return PKT_CLOSED;
	}
	const char *user = NULL, *dbname = NULL;
	const char *unrecognized[PF_STARTUP_MAX_PARAMS];
	int n_unrecognized = 0;
	const char *ignore = pf_state.set->ignore_startup_parameters;
	for (int i = 0; i < st.n; i++) {
		const char *name = st.names[i], *value = st.values[i];
		if (strcmp(name, "user") == 0) {
			user = value;
		} else if (strcmp(name, "database") == 0) {
			dbname = value;
		} else if (strncmp(name, "_pq_.", 5) == 0) {
			unrecognized[n_unrecognized++] = name;
		} else if (pf_strlist_contains(ignore, name)) {
			continue;
		} else if (strcmp(name, "options") == 0) {
			if (!apply_options(client, value))
				return PKT_CLOSED;
		} else if (pf_tracked_index(name) >= 0) {
			pf_tracked_set(&client->params, pf_tracked_index(name), value);
		} else {
			pf_client_disconnect(client, "08P01", "unsupported startup parameter: %s", name);
			return PKT_CLOSED;
		}
	}
	if (!user || !*user) {
		pf_client_disconnect(client, "28000", "no username supplied");
		return PKT_CLOSED;
	}
	struct pf_client_login *login = login_state(client);
	size_t role_len;
	const char *suffix;
	if (pf_state.set->tenant_key == TENANT_KEY_USER_SUFFIX &&
	    pf_tenant_split_login(user, pf_state.set->tenant_separator, &role_len, &suffix)) {
		login->auth_name = pf_xstrndup(user, role_len);
		login->tenant_name = pf_xstrdup(suffix);
	}
	/* PostgreSQL's default database is the role's: "app" for the login "app.checkout". */
	if (!dbname || !*dbname)
		dbname = login->auth_name ? login->auth_name : user;
	login->user_name = pf_xstrdup(user);
	login->db_name = pf_xstrdup(dbname);
	client->stream.startup_mode = false;

	if (st.minor > 0 || n_unrecognized > 0) {
		struct pf_buf b;
		pf_buf_init(&b);
		pf_build_negotiate_protocol(&b, 0, unrecognized, n_unrecognized);
		if (!send_buf(client, &b))
			return PKT_CLOSED;
	}
	if (pf_state.set->log_connections) {
		char tls[160];
		pf_client_log(client, LOG_LVL_LOG, "login attempt: db=%s user=%s tls=%s", dbname, user,
			      pf_tls_describe(client->stream.tls, tls, sizeof(tls)));
	}
	if (!pf_client_tls_check_required(client))
		return PKT_CLOSED;

	if (pf_state.shutting_down) {
		pf_client_disconnect(client, "57P01", "pooler is shutting down");
		return PKT_CLOSED;
	}
	client->db = pf_database_find_or_auto(dbname);
	if (!client->db) {
		pf_client_disconnect(client, "3D000", "no such database: %s", dbname);
		return PKT_CLOSED;
	}
	if (client->db->disabled) {
		pf_client_disconnect(client, "08P01", "database \"%s\" is disabled", dbname);
		return PKT_CLOSED;
	}
	if (client->db->is_admin) {
		/* The console knows its users by the whole name: no tenants there. */
		free(login->auth_name);
		free(login->tenant_name);
		login->auth_name = login->tenant_name = NULL;
		start_admin_auth(client, user);
	} else {
		start_auth(client, login->auth_name ? login->auth_name : user);
	}
	return client->state == CL_DEAD ? PKT_CLOSED : PKT_CONSUMED;
}

enum pf_pkt_action pf_client_login_packet(struct pf_client *client, const struct pf_pkt *pkt)
{
	if (client->stream.startup_mode) {
		struct pf_client_login *login = login_state(client);
		bool first = !login->startup_seen;
		login->startup_seen = true;
		if (first && pf_client_tls_is_direct(client, pkt))
			return pf_client_tls_direct(client);
		if (pkt->len < 8 || pkt->len > PF_MAX_STARTUP_PACKET) {
			pf_client_disconnect(client, "08P01", "invalid startup packet");
			return PKT_CLOSED;
		}
		if (!pkt->full)
			return PKT_NEED_FULL;
		uint32_t code = pf_get_u32(pkt->body);
		if (code == PF_SSL_REQUEST_CODE && pkt->len == 8)
			return pf_client_tls_request(client);
		if (code == PF_GSSENC_REQUEST_CODE && pkt->len == 8)
			return send_byte(client, 'N') ? PKT_CONSUMED : PKT_CLOSED;
		if (code == PF_CANCEL_REQUEST_CODE && pkt->len == PF_CANCEL_REQUEST_LEN) {
			pf_cancel_forward(pf_get_u32(pkt->body + 4), pf_get_u32(pkt->body + 8));
			pf_client_close(client, NULL);
			return PKT_CLOSED;
		}
		return handle_startup(client, pkt);
	}
	if (pkt->len > 8192) {
		pf_client_disconnect(client, "08P01", "authentication message too long");
		return PKT_CLOSED;
	}
	if (!pkt->full)
		return PKT_NEED_FULL;
	if (pkt->type == PF_FE_TERMINATE) {
		pf_client_close(client, NULL);
		return PKT_CLOSED;
	}
	if (pkt->type != PF_FE_PASSWORD) {
		pf_client_disconnect(client, "08P01", "expected a password message during authentication");
		return PKT_CLOSED;
	}
	return handle_password(client, pkt);
}
