/*
 * server_login.c - opening a server connection: resolve (c-ares), connect (non-blocking),
 * StartupMessage, authentication (cleartext, md5, SCRAM-SHA-256 with the password or with
 * the keys of a client that logged in by SCRAM), ParameterStatus and BackendKeyData.
 */
#include <errno.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/md5.h"
#include "auth/scram.h"
#include "config/userlist.h"
#include "net/dns.h"
#include "net/sock.h"
#include "net/tls.h"
#include "proto/build.h"
#include "proto/parse.h"
#include "proto/proto.h"
#include "session/link.h"
#include "session/server.h"
#include "util/log.h"

/* Debian's PostgreSQL socket directory, used when a database names no host. */
#define DEFAULT_UNIX_DIR "/var/run/postgresql"

struct pf_server_login {
	struct pf_dns_req *dns;
	struct pf_dns_result addrs;  /* every address of the current host, tried in order */
	int next_addr;
	int host;                    /* index of the current entry of the database's host list */
	int hosts_left;              /* entries not tried yet, the current one included */
	struct event connect_ev;
	bool connect_ev_set;
	bool scram_started;
	struct pf_scram_client scram;
	/* TLS: the SSLRequest's one-byte answer, then the handshake */
	struct event tls_answer_ev;
	bool tls_answer_ev_set;
	struct pf_tls_hs tls_hs;
};

static bool try_next_address(struct pf_server *server);
static void start_host(struct pf_server *server);

void pf_server_login_free(struct pf_server *server)
{
	struct pf_server_login *login = server->login;
	if (!login)
		return;
	if (login->dns)
		pf_dns_cancel(login->dns);
	if (login->connect_ev_set)
		event_del(&login->connect_ev);
	if (login->scram_started)
		pf_scram_client_free(&login->scram);
	if (login->tls_answer_ev_set)
		event_del(&login->tls_answer_ev);
	pf_tls_hs_cancel(&login->tls_hs);
	free(login);
	server->login = NULL;
}

/* Give up on this login: tell the pool's waiting clients, close. */
static void login_failed(struct pf_server *server, const char *sqlstate, const char *message, const char *reason)
{
	pf_link_login_failed(server->pool, sqlstate, message);
	pf_server_close(server, reason);
}

/*
 * The current host gave nothing to log in to: go on with the next entry of the host list,
 * or fail the login when every entry has been tried (or RELOAD changed the list).
 */
static void next_host_or_fail(struct pf_server *server, const char *sqlstate, const char *message, const char *reason)
{
	struct pf_server_login *login = server->login;
	struct pf_database *db = server->pool->db;
	bool same_list = server->db_generation == db->generation;
	if (same_list)
		pf_database_host_failed(db, login->host);
	if (!same_list || --login->hosts_left <= 0) {
		login_failed(server, sqlstate, message, reason);
		return;
	}
	pf_server_log(server, LOG_LVL_WARNING, "%s, trying the next host", reason);
	login->host = (login->host + 1) % db->n_hosts;
	start_host(server);
}

/* server_connect_timeout counts for each address tried, so that one dead host does not use up the others' time. */
static void arm_connect_timer(struct pf_server *server)
{
	if (server->timer_set)
		event_del(&server->timer);
	server->timer_set = false;
	if (pf_state.set->server_connect_timeout <= 0)
		return;
	struct timeval tv = { (time_t)(pf_state.set->server_connect_timeout / USEC_PER_SEC),
			      (suseconds_t)(pf_state.set->server_connect_timeout % USEC_PER_SEC) };
	event_add(&server->timer, &tv);
	server->timer_set = true;
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct pf_server *server = arg;
	struct pf_server_login *login = server->login;
	server->timer_set = false;
	/* Still resolving or connecting: this host does not answer, another one may. */
	if (login->dns) {
		pf_dns_cancel(login->dns);
		login->dns = NULL;
		next_host_or_fail(server, "08006", "server login timed out", "connect timeout");
		return;
	}
	if (login->connect_ev_set) {
		event_del(&login->connect_ev);
		login->connect_ev_set = false;
		pf_server_log(server, LOG_LVL_WARNING, "connect timed out");
		if (!try_next_address(server))
			next_host_or_fail(server, "08006", "server login timed out", "connect timeout");
		return;
	}
	/* A host that takes TCP but not TLS may be followed by one that does, as in libpq. */
	if (login->tls_answer_ev_set || login->tls_hs.ssl)
		next_host_or_fail(server, "08006", "server login timed out", "TLS timeout");
	else
		login_failed(server, "08006", "server login timed out", "connect timeout");
}

static bool send_startup(struct pf_server *server)
{
	struct pf_database *db = server->pool->db;
	const char *names[8], *values[8];
	int n = 0;
	names[n] = "user";
	values[n++] = server->pool->user->name;
	names[n] = "database";
	values[n++] = db->dbname;
	for (int i = 0; i < db->n_startup; i++) {
		names[n] = db->startup_names[i];
		values[n++] = db->startup_values[i];
	}
	struct pf_buf b;
	pf_buf_init(&b);
	pf_build_startup(&b, names, values, n);
	bool ok = pf_stream_write(&server->stream, b.data, b.len);
	pf_buf_free(&b);
	return ok;
}

/* Connected (in TLS or not): the StartupMessage, then the stream reads the answers. */
static void start_login(struct pf_server *server)
{
	if (!send_startup(server)) {
		login_failed(server, "08006", "server connection failed", "connect failed");
		return;
	}
	pf_stream_resume(&server->stream);
}

static void on_tls_handshake(void *arg, SSL *ssl, const char *error)
{
	struct pf_server *server = arg;
	if (!ssl) {
		char message[320];
		snprintf(message, sizeof(message), "server TLS handshake failed: %s", error);
		pf_server_log(server, LOG_LVL_WARNING, "%s", message);
		next_host_or_fail(server, "08006", message, "TLS handshake failed");
		return;
	}
	pf_stream_set_tls(&server->stream, ssl);
	start_login(server);
}

/* The server's answer to our SSLRequest: 'S' (handshake) or 'N' (plain, if sslmode allows). */
static void on_tls_answer(evutil_socket_t fd, short what, void *arg)
{
	struct pf_server *server = arg;
	struct pf_server_login *login = server->login;
	login->tls_answer_ev_set = false;
	char answer = 0;
	ssize_t n = recv(fd, &answer, 1, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		event_add(&login->tls_answer_ev, NULL);
		login->tls_answer_ev_set = true;
		return;
	}
	if (n == 1 && answer == 'S') {
		SSL *ssl = pf_tls_connect_new(fd, server->host);
		if (!ssl) {
			next_host_or_fail(server, "08006", "server TLS setup failed", "TLS setup failed");
			return;
		}
		pf_stream_begin_handshake(&server->stream, NULL);
		pf_tls_hs_start(&login->tls_hs, pf_state.base, fd, ssl, on_tls_handshake, server);
		return;
	}
	if (n == 1 && answer == 'N' && pf_tls_server_mode() < SSLMODE_REQUIRE) {
		start_login(server);
		return;
	}
	const char *why = n == 1 && answer == 'N' ? "server refused TLS (server_tls_sslmode requires it)"
						  : "bad answer to the TLS request";
	pf_server_log(server, LOG_LVL_WARNING, "%s", why);
	next_host_or_fail(server, "08006", why, why);
}

/* server_tls_sslmode other than disable asks for TLS first over TCP (never over a Unix socket). */
static bool want_tls(const struct pf_server *server)
{
	return pf_tls_server_mode() != SSLMODE_DISABLE && server->addr.ss_family != AF_UNIX;
}

static void on_connected(evutil_socket_t fd, short what, void *arg)
{
	struct pf_server *server = arg;
	server->login->connect_ev_set = false;
	int err = pf_sock_connect_error(fd);
	if (err) {
		pf_server_log(server, LOG_LVL_WARNING, "connect failed: %s", strerror(err));
		if (!try_next_address(server))
			next_host_or_fail(server, "08006", "server connection failed", "connect failed");
		return;
	}
	if (!want_tls(server)) {
		start_login(server);
		return;
	}
	const uint8_t request[8] = { 0, 0, 0, 8, (PF_SSL_REQUEST_CODE >> 24) & 0xff, (PF_SSL_REQUEST_CODE >> 16) & 0xff,
				     (PF_SSL_REQUEST_CODE >> 8) & 0xff, PF_SSL_REQUEST_CODE & 0xff };
	if (send(fd, request, sizeof(request), MSG_NOSIGNAL) != (ssize_t)sizeof(request)) {
		login_failed(server, "08006", "server connection failed", "connect failed");
		return;
	}
	struct pf_server_login *login = server->login;
	event_assign(&login->tls_answer_ev, pf_state.base, fd, EV_READ, on_tls_answer, server);
	event_add(&login->tls_answer_ev, NULL);
	login->tls_answer_ev_set = true;
}

static bool connect_to(struct pf_server *server, const struct sockaddr *sa, socklen_t len);

/*
 * Connect to the next address of the current host (a name may have several: IPv6 and
 * IPv4 for "localhost"). false when none is left or none could be started.
 */
static bool try_next_address(struct pf_server *server)
{
	struct pf_server_login *login = server->login;
	while (login->next_addr < login->addrs.naddrs) {
		int i = login->next_addr++;
		if (server->stream.fd >= 0 && !server->stream.closed)
			pf_stream_close(&server->stream);
		if (connect_to(server, (const struct sockaddr *)&login->addrs.addrs[i], login->addrs.addrlens[i]))
			return true;
	}
	return false;
}

static bool connect_to(struct pf_server *server, const struct sockaddr *sa, socklen_t len)
{
	memcpy(&server->addr, sa, len);
	server->addrlen = len;
	int fd = pf_sock_connect(sa, len);
	if (fd < 0) {
		pf_server_log(server, LOG_LVL_WARNING, "connect failed: %s", strerror(errno));
		return false;
	}
	struct pf_sock_opts opts;
	pf_state_sock_opts(&opts);
	pf_sock_tune(fd, sa->sa_family, &opts);
	pf_stream_init(&server->stream, pf_state.base, fd, &pf_server_stream_ops, server);
	server->stream.max_full = 1024 * 1024;
	struct pf_server_login *login = server->login;
	event_assign(&login->connect_ev, pf_state.base, fd, EV_WRITE, on_connected, server);
	event_add(&login->connect_ev, NULL);
	login->connect_ev_set = true;
	arm_connect_timer(server);
	return true;
}

static void on_resolved(void *arg, const struct pf_dns_result *res)
{
	struct pf_server *server = arg;
	server->login->dns = NULL;
	if (res->status != 0 || res->naddrs == 0) {
		pf_server_log(server, LOG_LVL_WARNING, "DNS lookup failed: %s: %s", server->host, res->error);
		next_host_or_fail(server, "08006", "server DNS lookup failed", "server DNS lookup failed");
		return;
	}
	server->login->addrs = *res;
	server->login->next_addr = 0;
	if (!try_next_address(server))
		next_host_or_fail(server, "08006", "server connection failed", "connect failed");
}

/* Resolve the current host entry (or make its Unix socket address), then connect. */
static void start_host(struct pf_server *server)
{
	struct pf_database *db = server->pool->db;
	struct pf_server_login *login = server->login;
	const char *host = db->n_hosts ? db->hosts[login->host] : NULL;
	free(server->host);
	server->host = host ? pf_xstrdup(host) : NULL;
	/* The previous host's failed attempt, TLS negotiation included. */
	if (login->tls_answer_ev_set)
		event_del(&login->tls_answer_ev);
	login->tls_answer_ev_set = false;
	pf_tls_hs_cancel(&login->tls_hs);
	if (!server->stream.closed)
		pf_stream_close(&server->stream);
	server->addrlen = 0;
	login->addrs.naddrs = 0;
	login->next_addr = 0;
	arm_connect_timer(server);
	if (!host || host[0] == '/' || host[0] == '@') {
		if (!pf_sock_unix_addr(host ? host : DEFAULT_UNIX_DIR, db->port, &login->addrs.addrs[0],
				       &login->addrs.addrlens[0])) {
			next_host_or_fail(server, "08006", "server connection failed", "unix socket path too long");
			return;
		}
		login->addrs.naddrs = 1;
		if (!try_next_address(server))
			next_host_or_fail(server, "08006", "server connection failed", "connect failed");
		return;
	}
	struct pf_dns_result now;
	struct pf_dns_req *req = NULL;
	if (pf_dns_lookup(host, db->port, on_resolved, server, &now, &req) == 1)
		on_resolved(server, &now);
	else
		login->dns = req;
}

void pf_server_launch(struct pf_pool *pool)
{
	struct pf_server *server = pf_xcalloc(1, sizeof(*server));
	pf_ps_server_init(&server->ps);
	server->id = pf_state.next_conn_id++;
	server->pool = pool;
	server->db_generation = pool->db->generation;
	server->connect_usec = pf_usec_now();
	server->tx_status = 'I';
	server->stream.fd = -1;
	server->stream.closed = true; /* until connected */
	server->state = SV_LOGIN;
	statlist_append(&pool->login_servers, &server->node);
	server->login = pf_xcalloc(1, sizeof(*server->login));
	event_assign(&server->timer, pf_state.base, -1, 0, on_connect_timeout, server);
	/* A host that fails hands over to the next one within this same login. */
	server->login->host = pf_database_pick_host(pool->db);
	server->login->hosts_left = pool->db->n_hosts ? pool->db->n_hosts : 1;
	start_host(server);
}

/* The secret to log in with: the forced user's password or the user's auth_file entry. */
static const char *server_secret(struct pf_server *server)
{
	return server->pool->user->secret;
}

static bool send_password(struct pf_server *server, const char *text)
{
	struct pf_buf b;
	pf_buf_init(&b);
	pf_build_password(&b, text);
	bool ok = pf_stream_write(&server->stream, b.data, b.len);
	pf_buf_free(&b);
	return ok;
}

static enum pf_pkt_action auth_no_secret(struct pf_server *server, const char *why)
{
	pf_server_log(server, LOG_LVL_WARNING, "cannot log in to server: %s", why);
	login_failed(server, "08P01", "server login failed: no usable password for this user", why);
	return PKT_CLOSED;
}

static enum pf_pkt_action handle_auth(struct pf_server *server, const struct pf_pkt *pkt)
{
	uint32_t code;
	const uint8_t *data;
	size_t datalen;
	if (pf_parse_auth_request(pkt->body, pkt->body_len, &code, &data, &datalen) < 0) {
		login_failed(server, "08P01", "server login failed: bad authentication message", "bad auth packet");
		return PKT_CLOSED;
	}
	const char *secret = server_secret(server);
	enum pf_secret_type type = secret ? pf_secret_type(secret) : SECRET_PLAIN;
	struct pf_server_login *login = server->login;
	struct pf_buf out;
	pf_buf_init(&out);
	bool ok = true;
	switch (code) {
	case PF_AUTH_OK:
		return PKT_CONSUMED;
	case PF_AUTH_CLEARTEXT:
		if (!secret || type != SECRET_PLAIN)
			return auth_no_secret(server, "server asks for a cleartext password and only a hashed secret is known");
		ok = send_password(server, secret);
		break;
	case PF_AUTH_MD5: {
		if (!secret || type == SECRET_SCRAM || datalen < 4)
			return auth_no_secret(server, "server asks for md5 and no plain or md5 secret is known");
		char md5secret[36], response[36];
		if (type == SECRET_PLAIN) {
			pf_md5_password_secret(server->pool->user->name, secret, md5secret);
			pf_md5_salted(md5secret, data, response);
		} else {
			pf_md5_salted(secret, data, response);
		}
		ok = send_password(server, response);
		break;
	}
	case PF_AUTH_SASL: {
		/* The body lists mechanisms as NUL-terminated strings. */
		bool offered = false, plus_offered = false;
		for (size_t i = 0; i < datalen;) {
			const char *mech = (const char *)data + i;
			size_t l = strnlen(mech, datalen - i);
			if (l == 0)
				break;
			if (strcmp(mech, PF_SCRAM_MECH) == 0)
				offered = true;
			if (strcmp(mech, PF_SCRAM_MECH_PLUS) == 0)
				plus_offered = true;
			i += l + 1;
		}
		if (!offered && !plus_offered)
			return auth_no_secret(server, "server offers no SASL mechanism we support");
		if (!secret || type == SECRET_MD5)
			return auth_no_secret(server, "server asks for SCRAM and only an md5 secret is known");
		if (type == SECRET_SCRAM) {
			if (!server->pool->user->has_scram_keys)
				return auth_no_secret(server, "SCRAM secret in auth_file: a client must log in with SCRAM first");
			pf_scram_client_init_keys(&login->scram, server->pool->user->scram_client_key,
						  server->pool->user->scram_server_key);
		} else {
			pf_scram_client_init_password(&login->scram, secret);
		}
		/* Over TLS, bind the login to the server's certificate when it offers -PLUS. */
		uint8_t cbind[PF_SCRAM_CBIND_MAX];
		size_t cbind_len = plus_offered && server->stream.tls
					   ? pf_tls_server_end_point(server->stream.tls, false, cbind, sizeof(cbind))
					   : 0;
		if (!offered && !cbind_len)
			return auth_no_secret(server, "server offers only SCRAM-SHA-256-PLUS and there is no TLS to bind to");
		if (cbind_len) {
			pf_scram_client_use_plus(&login->scram, cbind, cbind_len);
			pf_server_log(server, LOG_LVL_DEBUG, "logging in with SCRAM-SHA-256-PLUS");
		}
		login->scram_started = true;
		pf_scram_client_first(&login->scram, &out);
		struct pf_buf b;
		pf_buf_init(&b);
		pf_build_sasl_initial(&b, cbind_len ? PF_SCRAM_MECH_PLUS : PF_SCRAM_MECH, out.data, (int)out.len);
		ok = pf_stream_write(&server->stream, b.data, b.len);
		pf_buf_free(&b);
		break;
	}
	case PF_AUTH_SASL_CONTINUE: {
		if (!login->scram_started || pf_scram_client_final(&login->scram, data, datalen, &out) < 0) {
			pf_buf_free(&out);
			login_failed(server, "08P01", "server login failed: bad SCRAM message from server", "SCRAM exchange failed");
			return PKT_CLOSED;
		}
		struct pf_buf b;
		pf_buf_init(&b);
		pf_build_sasl_response(&b, out.data, out.len);
		ok = pf_stream_write(&server->stream, b.data, b.len);
		pf_buf_free(&b);
		break;
	}
	case PF_AUTH_SASL_FINAL:
		if (!login->scram_started || pf_scram_client_verify(&login->scram, data, datalen) < 0) {
			login_failed(server, "08P01", "server login failed: server's SCRAM signature is wrong", "SCRAM server signature mismatch");
			return PKT_CLOSED;
		}
		break;
	default: {
		char why[64];
		snprintf(why, sizeof(why), "unsupported authentication method %u", code);
		return auth_no_secret(server, why);
	}
	}
	pf_buf_free(&out);
	if (!ok) {
		login_failed(server, "08006", "server connection failed", "server conn crashed?");
		return PKT_CLOSED;
	}
	return PKT_CONSUMED;
}

static void login_done(struct pf_server *server)
{
	struct pf_pool *pool = server->pool;
	if (server->timer_set)
		event_del(&server->timer);
	server->timer_set = false;
	pf_server_login_free(server);
	pool->welcome_ok = true;
	pool->last_login_failed = false;
	if (pf_state.set->log_connections)
		pf_server_log(server, LOG_LVL_LOG, "new connection to server");
	const char *connect_query = pool->db->connect_query;
	if (connect_query) {
		/* Clients get the server once connect_query is done (SV_USED until then). */
		pf_server_change_state(server, SV_USED);
		if (!pf_server_send_internal(server, &connect_query, 1, AFTER_CONNECTED))
			pf_server_close(server, "server conn crashed?");
		return;
	}
	pf_link_server_ready(server);
}

enum pf_pkt_action pf_server_login_packet(struct pf_server *server, const struct pf_pkt *pkt)
{
	if (!pkt->full)
		return PKT_NEED_FULL;
	switch (pkt->type) {
	case PF_BE_AUTH:
		return handle_auth(server, pkt);
	case PF_BE_PARAM_STATUS: {
		const char *name, *value;
		if (pf_parse_param_status(pkt->body, pkt->body_len, &name, &value) == 0) {
			pf_welcome_set(&server->pool->welcome, name, value);
			int idx = pf_tracked_index(name);
			if (idx >= 0)
				pf_tracked_set(&server->params, idx, value);
		}
		return PKT_CONSUMED;
	}
	case PF_BE_BACKEND_KEY:
		pf_parse_backend_key(pkt->body, pkt->body_len, &server->backend_pid, &server->backend_key);
		return PKT_CONSUMED;
	case PF_BE_ERROR: {
		struct pf_error_fields ef;
		memset(&ef, 0, sizeof(ef));
		pf_parse_error_fields(pkt->body, pkt->body_len, &ef);
		const char *msg = ef.message ? ef.message : "unknown error";
		pf_server_log(server, LOG_LVL_WARNING, "server login failed: %s %s", ef.severity ? ef.severity : "FATAL", msg);
		login_failed(server, ef.sqlstate ? ef.sqlstate : "08006", msg, "server login failed");
		return PKT_CLOSED;
	}
	case PF_BE_READY_FOR_QUERY:
		/* Unset tracked parameters the server did not report stay unknown (NULL). */
		login_done(server);
		return server->state == SV_DEAD ? PKT_CLOSED : PKT_CONSUMED;
	case PF_BE_NOTICE:
	case PF_BE_NEGOTIATE_PROTOCOL:
		return PKT_CONSUMED;
	default:
		login_failed(server, "08P01", "server login failed: unexpected message", "unexpected message during login");
		return PKT_CLOSED;
	}
}
