/*
 * client.c - client connections after accept(): the logged-in packet loop, closing,
 * cancel keys and log prefixes. Startup and authentication live in client_login.c.
 */
#include "session/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/build.h"
#include "proto/proto.h"
#include "session/link.h"
#include "session/param_set.h"
#include "session/prepared_path.h"
#include "session/server.h"
#include "session/tenant.h"
#include "util/log.h"
#include "util/random.h"

#define CANCEL_BUCKETS 4096

static struct pf_client *cancel_buckets[CANCEL_BUCKETS];
static struct list_head dead_clients = { &dead_clients, &dead_clients };

static unsigned cancel_bucket(uint32_t pid, uint32_t key)
{
	return (pid * 2654435761U ^ key) % CANCEL_BUCKETS;
}

struct pf_client *pf_client_find_by_key(uint32_t pid, uint32_t key)
{
	for (struct pf_client *c = cancel_buckets[cancel_bucket(pid, key)]; c; c = c->cancel_next)
		if (c->cancel_pid == pid && c->cancel_key == key)
			return c;
	return NULL;
}

/* Our own BackendKeyData: random, unique among live clients. */
static void assign_cancel_key(struct pf_client *client)
{
	do {
		uint32_t rnd[2];
		pf_random_bytes(rnd, sizeof(rnd));
		client->cancel_pid = rnd[0] & 0x7fffffff;
		client->cancel_key = rnd[1];
	} while (client->cancel_pid == 0 || pf_client_find_by_key(client->cancel_pid, client->cancel_key));
	unsigned b = cancel_bucket(client->cancel_pid, client->cancel_key);
	client->cancel_next = cancel_buckets[b];
	cancel_buckets[b] = client;
}

static void remove_cancel_key(struct pf_client *client)
{
	if (!client->cancel_pid)
		return;
	struct pf_client **pp = &cancel_buckets[cancel_bucket(client->cancel_pid, client->cancel_key)];
	for (; *pp; pp = &(*pp)->cancel_next) {
		if (*pp == client) {
			*pp = client->cancel_next;
			break;
		}
	}
	client->cancel_pid = 0;
}

const char *pf_client_prefix(const struct pf_client *client, char *buf, size_t len)
{
	char addr[80];
	pf_addr_format(&client->addr, addr, sizeof(addr));
	const char *db = client->db ? client->db->name : pf_client_login_db(client);
	const char *user = client->login_user ? client->login_user->name : pf_client_login_user(client);
	snprintf(buf, len, "C-%p: %s/%s@%s", (const void *)client, db ? db : "(nodb)", user ? user : "(nouser)", addr);
	return buf;
}

void pf_client_log(const struct pf_client *client, int level, const char *fmt, ...)
{
	if (!pf_log_enabled(level))
		return;
	char prefix[512];
	pf_client_prefix(client, prefix, sizeof(prefix));
	va_list ap;
	va_start(ap, fmt);
	pf_vlog_prefixed(level, prefix, fmt, ap);
	va_end(ap);
}

static struct stat_list *state_list(struct pf_client *client, enum pf_client_state state)
{
	switch (state) {
	case CL_LOGIN:
		return &pf_state.login_clients;
	case CL_CANCEL:
		return &pf_state.cancel_clients;
	case CL_ACTIVE:
		return &client->pool->active_clients;
	case CL_WAITING:
		return &client->pool->waiting_clients;
	case CL_WAITING_LOGIN:
		return &client->pool->welcome_clients;
	case CL_DEAD:
		return NULL;
	}
	return NULL;
}

void pf_client_change_state(struct pf_client *client, enum pf_client_state state)
{
	struct stat_list *from = state_list(client, client->state);
	if (from)
		statlist_remove(from, &client->node);
	client->state = state;
	struct stat_list *to = state_list(client, state);
	if (to)
		statlist_append(to, &client->node);
	if (state == CL_WAITING || state == CL_WAITING_LOGIN) {
		client->wait_start_usec = pf_usec_now();
		client->wait_notified = false;
	}
}

void pf_client_close(struct pf_client *client, const char *reason)
{
	if (client->state == CL_DEAD)
		return;
	/* Out of its tenant's queue (and books) before its server, if any, goes back to the pool. */
	if (client->tenant)
		pf_tenant_leave(client);
	if (client->link)
		pf_link_client_gone(client);
	pf_pp_client_closed(client);
	if (reason && (client->state != CL_LOGIN && client->state != CL_CANCEL ? pf_state.set->log_disconnections : 0)) {
		double age = (double)(pf_usec_now() - client->connect_usec) / 1e6;
		pf_client_log(client, LOG_LVL_LOG, "closing because: %s (age=%.0fs)", reason, age);
	}
	struct pf_pool *pool = client->pool;
	pf_client_change_state(client, CL_DEAD);
	list_add_tail(&dead_clients, &client->node);
	remove_cancel_key(client);
	pf_stream_close(&client->stream);
	pf_client_login_free(client);
	pf_state.client_count--;
	pf_session_schedule_reap();
	/* Joined a pool: it counted against its user's max_user_client_connections. */
	if (pool)
		client->login_user->client_count--;
}

/* Send one ErrorResponse (severity FATAL or ERROR) or NoticeResponse (severity NULL). */
static bool send_report(struct pf_client *client, const char *severity, const char *sqlstate, const char *message)
{
	struct pf_buf b;
	pf_buf_init(&b);
	if (severity)
		pf_build_error(&b, severity, sqlstate, message, NULL, NULL);
	else
		pf_build_notice(&b, sqlstate, message, NULL);
	bool ok = pf_stream_write(&client->stream, b.data, b.len);
	pf_buf_free(&b);
	return ok;
}

void pf_client_disconnect(struct pf_client *client, const char *sqlstate, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (client->state == CL_DEAD)
		return;
	send_report(client, "FATAL", sqlstate, msg);
	if (pf_state.set->log_pooler_errors)
		pf_client_log(client, LOG_LVL_WARNING, "pooler error: %s", msg);
	if (pf_state.set->log_disconnections && (client->state == CL_LOGIN || client->state == CL_CANCEL)) {
		double age = (double)(pf_usec_now() - client->connect_usec) / 1e6;
		pf_client_log(client, LOG_LVL_LOG, "closing because: %s (age=%.0fs)", msg, age);
		pf_client_close(client, NULL);
	} else {
		pf_client_close(client, msg);
	}
}

bool pf_client_send_error(struct pf_client *client, const char *sqlstate, const char *message)
{
	return send_report(client, "ERROR", sqlstate, message);
}

bool pf_client_send_notice(struct pf_client *client, const char *sqlstate, const char *fmt, ...)
{
	char message[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	return send_report(client, NULL, sqlstate, message);
}

void pf_client_reap(void)
{
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &dead_clients) {
		struct pf_client *client = container_of(pos, struct pf_client, node);
		list_del(&client->node);
		pf_tracked_clear(&client->params);
		free(client);
	}
}

int pf_client_total(void)
{
	return pf_state.client_count;
}

/* Greet a client whose login is complete: ParameterStatus, BackendKeyData, ReadyForQuery. */
void pf_client_finish_login(struct pf_client *client)
{
	struct pf_pool *pool = client->pool;
	struct pf_buf b;
	pf_buf_init(&b);
	pf_build_auth_ok(&b);
	/* Tracked parameters the client did not set take the server's values; those the server
	 * did not report stay unknown, which means its default (link_pair RESETs them). */
	for (int i = 0; i < pf_tracked_count(); i++) {
		if (!client->params.v[i]) {
			const char *v = pf_welcome_get(&pool->welcome, pf_tracked_name(i));
			if (v)
				pf_tracked_set(&client->params, i, v);
		}
	}
	for (int i = 0; i < pool->welcome.n; i++) {
		int idx = pf_tracked_index(pool->welcome.names[i]);
		const char *value = idx >= 0 ? pf_tracked_get(&client->params, idx) : pool->welcome.values[i];
		pf_build_param_status(&b, pool->welcome.names[i], value);
	}
	/* Tracked parameters the server did not report (e.g. extra ones) the client still set. */
	for (int i = 0; i < pf_tracked_count(); i++) {
		const char *value = pf_tracked_get(&client->params, i);
		if (!pf_welcome_get(&pool->welcome, pf_tracked_name(i)) && value && *value && !pf_tracked_unreported(i))
			pf_build_param_status(&b, pf_tracked_name(i), value);
	}
	assign_cancel_key(client);
	pf_build_backend_key(&b, client->cancel_pid, client->cancel_key);
	if (pool->db->is_admin) {
		/* As PgBouncer: a console login counts as a transaction and a query. */
		pool->db->stats.xact_count++;
		pool->db->stats.query_count++;
	}
	pf_build_rfq(&b, 'I');
	bool ok = pf_stream_write(&client->stream, b.data, b.len);
	pf_buf_free(&b);
	pf_client_login_free(client);
	pf_client_change_state(client, CL_ACTIVE);
	client->idle_since_usec = pf_usec_now();
	client->stream.startup_mode = false;
	client->stream.max_full = 64 * 1024;
	/* Named statements are kept by the pooler in transaction and statement mode, as in
	 * PgBouncer; a named Parse is read whole (its text identifies the statement), so it may
	 * be as large as any message. */
	client->ps_on = pf_state.set->max_prepared_statements > 0 && !pool->db->is_admin &&
			pf_pool_mode(pool) != POOL_MODE_SESSION;
	if (client->ps_on && (uint32_t)pf_state.set->max_packet_size > client->stream.max_full)
		client->stream.max_full = (uint32_t)pf_state.set->max_packet_size;
	if (!ok) {
		pf_client_close(client, "client unexpected eof");
		return;
	}
	/* Often called from inside this client's own packet callback: resume from the loop. */
	pf_stream_resume_later(&client->stream);
}

/* The packet loop of a logged-in client. */
static enum pf_pkt_action client_packet(struct pf_client *client, const struct pf_pkt *pkt)
{
	if ((int64_t)pkt->len - 1 > (int64_t)pf_state.set->max_packet_size) {
		pf_client_disconnect(client, "08P01", "message of %u bytes exceeds max_packet_size (%d)",
				     pkt->len - 1, pf_state.set->max_packet_size);
		return PKT_CLOSED;
	}
	if (pkt->type == PF_FE_TERMINATE) {
		pf_client_close(client, "client close request");
		return PKT_CLOSED;
	}
	if (client->state == CL_WAITING || client->state == CL_WAITING_LOGIN)
		return PKT_PAUSE;
	if (!client->link) {
		if (pf_state.shutdown_mode == 1) {
			pf_client_disconnect(client, "08P01", "pooler is shutting down");
			return PKT_CLOSED;
		}
		if (client->ps_on) {
			/* DEALLOCATE of its own statement needs no server. */
			enum pf_pkt_action act = pf_pp_client_unlinked(client, pkt);
			if (act != PKT_FORWARD)
				return act;
		}
		pf_link_request_server(client);
		if (client->state == CL_DEAD)
			return PKT_CLOSED;
		if (!client->link)
			return PKT_PAUSE;
	}
	struct pf_server *server = client->link;
	if (server->internal_rfq)
		return PKT_PAUSE; /* parameters are being set for us */
	enum pf_pkt_action act = PKT_FORWARD;
	if (client->ps_on && pf_pp_client_wants(&server->pq, pkt)) {
		/* Named statements: mapped to the server's (session/prepared_path.c). */
		act = pf_pp_client_packet(client, server, pkt);
		if (act == PKT_NEED_FULL || act == PKT_NEED_MORE || act == PKT_CLOSED)
			return act;
	}
	struct pf_stats *stats = &client->pool->db->stats;
	stats->bytes_received += pkt->len;
	/* SHOW STATS: a query (and a transaction) starts with the first message sent for it. */
	server->idle_in_tx_since_usec = 0;
	if (!server->query_start_usec) {
		server->query_start_usec = pf_usec_now();
		if (!server->xact_start_usec)
			server->xact_start_usec = server->query_start_usec;
	}
	if (act != PKT_FORWARD && act != PKT_FORWARD_STOP)
		return act; /* prepared_path sent what stands for it */
	switch (pkt->type) {
	case PF_FE_QUERY:
	case PF_FE_FUNCTION_CALL:
	case PF_FE_SYNC:
		server->expect_rfq++;
		server->pq.ext_sent = 0;
		if (pkt->type == PF_FE_SYNC)
			client->ext_in_flight = false;
		else if (pkt->type == PF_FE_QUERY && pf_param_set_maybe(pkt->prefix, pkt->avail))
			pf_param_set_seen(server, pkt); /* SET extra_float_digits = 3 (pgJDBC) */
		break;
	case PF_FE_PARSE:
		if (pkt->avail > 1 && !pkt->prefix[0] && pf_param_set_maybe(pkt->prefix + 1, pkt->avail - 1))
			pf_param_set_seen(server, pkt);
		server->pq.ext_sent++;
		client->ext_in_flight = true;
		break;
	case PF_FE_BIND:
	case PF_FE_DESCRIBE:
	case PF_FE_EXECUTE:
	case PF_FE_CLOSE:
		/* Counted so that prepared_path can start tracking answers mid-batch. */
		server->pq.ext_sent++;
		client->ext_in_flight = true;
		break;
	case PF_FE_FLUSH:
		client->ext_in_flight = true;
		break;
	default:
		break;
	}
	return act;
}

static enum pf_pkt_action client_on_packet(struct pf_stream *s, const struct pf_pkt *pkt)
{
	struct pf_client *client = s->owner;
	if (client->state == CL_LOGIN || client->state == CL_CANCEL)
		return pf_client_login_packet(client, pkt);
	if (client->db->is_admin && pf_state.admin_packet)
		return (enum pf_pkt_action)pf_state.admin_packet(client, pkt);
	return client_packet(client, pkt);
}

static bool client_on_event(struct pf_stream *s, enum pf_stream_event ev)
{
	struct pf_client *client = s->owner;
	switch (ev) {
	case STREAM_EOF:
		/* Quietly for connections that never logged in (probes, cancel requests). */
		pf_client_close(client, client->state == CL_LOGIN || client->state == CL_CANCEL ? NULL : "client unexpected eof");
		return false;
	case STREAM_BAD_PACKET:
		pf_client_disconnect(client, "08P01", client->state == CL_LOGIN ? "invalid startup packet" : "invalid packet length");
		return false;
	case STREAM_FLUSHED:
	case STREAM_MSG_END:
		return true;
	}
	return true;
}

static const struct pf_stream_ops client_ops = {
	.on_packet = client_on_packet,
	.on_event = client_on_event,
};

void pf_client_accept(int fd, const struct sockaddr *addr, socklen_t addrlen, bool is_unix, bool data_waiting)
{
	struct pf_client *client = pf_xcalloc(1, sizeof(*client));
	client->id = pf_state.next_conn_id++;
	client->connect_usec = pf_usec_now();
	client->is_unix = is_unix;
	pf_addr_from_sockaddr(&client->addr, addr);
	pf_stream_init(&client->stream, pf_state.base, fd, &client_ops, client);
	client->stream.startup_mode = true;
	client->stream.max_full = PF_MAX_STARTUP_PACKET;
	client->state = CL_LOGIN;
	/* Over max_client_conn the client still gets its SSLRequest answered, so that libpq
	 * shows our error rather than a failed TLS negotiation; it is refused at startup. */
	client->over_limit = pf_state.client_count >= pf_state.set->max_client_conn;
	statlist_append(&pf_state.login_clients, &client->node);
	pf_state.client_count++;
	pf_stream_start(&client->stream, data_waiting);
}
