/*
 * server.c - server connections once logged in: watching ReadyForQuery and ParameterStatus
 * while linked, swallowing the answers to our own queries, closing. Login is server_login.c.
 */
#include "session/server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/build.h"
#include "proto/parse.h"
#include "proto/proto.h"
#include "session/auth_query.h"
#include "session/client.h"
#include "session/link.h"
#include "session/param_set.h"
#include "session/tenant.h"
#include "util/buf.h"
#include "util/log.h"

static struct list_head dead_servers = { &dead_servers, &dead_servers };

const char *pf_server_prefix(const struct pf_server *server, char *buf, size_t len)
{
	const struct pf_database *db = server->pool->db;
	snprintf(buf, len, "S-%p: %s/%s@%s:%d", (const void *)server, db->name, server->pool->user->name,
		 server->host ? server->host : "unix", db->port);
	return buf;
}

void pf_server_log(const struct pf_server *server, int level, const char *fmt, ...)
{
	if (!pf_log_enabled(level))
		return;
	char prefix[512];
	pf_server_prefix(server, prefix, sizeof(prefix));
	va_list ap;
	va_start(ap, fmt);
	pf_vlog_prefixed(level, prefix, fmt, ap);
	va_end(ap);
}

static struct stat_list *state_list(struct pf_server *server, enum pf_server_state state)
{
	struct pf_pool *pool = server->pool;
	switch (state) {
	case SV_LOGIN:
		return &pool->login_servers;
	case SV_IDLE:
		return &pool->idle_servers;
	case SV_ACTIVE:
		return &pool->active_servers;
	case SV_USED:
		return &pool->used_servers;
	case SV_TESTED:
		return &pool->tested_servers;
	case SV_DEAD:
		return NULL;
	}
	return NULL;
}

void pf_server_change_state(struct pf_server *server, enum pf_server_state state)
{
	struct stat_list *from = state_list(server, server->state);
	if (from)
		statlist_remove(from, &server->node);
	server->state = state;
	struct stat_list *to = state_list(server, state);
	if (!to)
		return;
	/* LIFO by default: the most recently used idle server is taken first (warm caches). */
	statlist_append(to, &server->node);
}

void pf_server_close(struct pf_server *server, const char *reason)
{
	if (server->state == SV_DEAD)
		return;
	struct pf_pool *pool = server->pool;
	bool was_login = server->state == SV_LOGIN;
	pf_link_fail_client(server, "08006", "server conn crashed?");
	pf_pp_server_closed(server);
	pf_auth_query_server_gone(server);
	if (reason && pf_state.set->log_disconnections) {
		double age = (double)(pf_usec_now() - server->connect_usec) / 1e6;
		pf_server_log(server, LOG_LVL_LOG, "closing because: %s (age=%.0fs)", reason, age);
	}
	if (server->timer_set)
		event_del(&server->timer);
	server->timer_set = false;
	if (!server->stream.closed && server->stream.fd >= 0 && !was_login) {
		/* Say goodbye so the backend ends cleanly rather than logging an EOF. */
		struct pf_buf b;
		pf_buf_init(&b);
		pf_build_terminate(&b);
		pf_stream_write(&server->stream, b.data, b.len);
		pf_buf_free(&b);
	}
	pf_server_login_free(server);
	pf_stream_close(&server->stream);
	pf_server_change_state(server, SV_DEAD);
	list_add_tail(&dead_servers, &server->node);
	pf_session_schedule_reap();
	/* Clients may still be waiting for a server of this pool. */
	if (!pf_state.shutting_down) {
		pf_link_maybe_launch(pool);
		pf_link_limit_room(pool);
	}
}

void pf_server_reap(void)
{
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &dead_servers) {
		struct pf_server *server = container_of(pos, struct pf_server, node);
		list_del(&server->node);
		pf_tracked_clear(&server->params);
		free(server->connect_query_error);
		free(server->host);
		free(server);
	}
}

bool pf_server_send_internal_msgs(struct pf_server *server, const struct pf_buf *msgs, int n_rfq,
				  enum pf_server_after after)
{
	server->internal_rfq += n_rfq;
	server->after_internal = after;
	bool ok = pf_stream_write(&server->stream, msgs->data, msgs->len);
	pf_stream_resume_later(&server->stream);
	return ok;
}

bool pf_server_send_internal(struct pf_server *server, const char *const *queries, int n, enum pf_server_after after)
{
	struct pf_buf b;
	pf_buf_init(&b);
	for (int i = 0; i < n; i++)
		pf_build_query(&b, queries[i]);
	bool ok = pf_server_send_internal_msgs(server, &b, n, after);
	pf_buf_free(&b);
	return ok;
}

/* ParameterStatus: remember the server's value; a linked client's view follows it. */
static void note_param(struct pf_server *server, const struct pf_pkt *pkt)
{
	const char *name, *value;
	if (pf_parse_param_status(pkt->body, pkt->body_len, &name, &value) < 0)
		return;
	int idx = pf_tracked_index(name);
	if (idx < 0)
		return;
	pf_tracked_set(&server->params, idx, value);
	if (server->link && server->internal_rfq == 0)
		pf_tracked_copy_one(&server->link->params, &server->params, idx);
}

/* The answers to our own queries (parameter SETs, ROLLBACK, reset query) are not forwarded. */
static enum pf_pkt_action internal_packet(struct pf_server *server, const struct pf_pkt *pkt)
{
	if (server->after_internal == AFTER_AUTH_QUERY)
		return pf_auth_query_packet(server, pkt);
	if (!pkt->full) {
		if (pkt->type == PF_BE_READY_FOR_QUERY || pkt->type == PF_BE_PARAM_STATUS || pkt->type == PF_BE_ERROR ||
		    pkt->type == PF_BE_COMMAND_COMPLETE)
			return PKT_NEED_FULL;
		return PKT_SKIP;
	}
	switch (pkt->type) {
	case PF_BE_COMMAND_COMPLETE:
		/* server_reset_query DISCARD ALL drops the server's prepared statements. */
		pf_pp_server_internal_note(server, pkt);
		return PKT_CONSUMED;
	case PF_BE_PARAM_STATUS:
		note_param(server, pkt);
		return PKT_CONSUMED;
	case PF_BE_ERROR: {
		struct pf_error_fields ef;
		if (pf_parse_error_fields(pkt->body, pkt->body_len, &ef) < 0)
			ef.severity = ef.message = NULL;
		pf_server_log(server, LOG_LVL_WARNING, "query of the pooler failed: %s %s", ef.severity ? ef.severity : "",
			      ef.message ? ef.message : "");
		if (server->after_internal == AFTER_CONNECTED && !server->connect_query_error)
			server->connect_query_error = pf_xstrdup(ef.message ? ef.message : "error");
		return PKT_CONSUMED;
	}
	case PF_BE_READY_FOR_QUERY: {
		char status = 'I';
		pf_parse_rfq(pkt->body, pkt->body_len, &status);
		server->tx_status = status;
		if (--server->internal_rfq > 0)
			return PKT_CONSUMED;
		enum pf_server_after after = server->after_internal;
		server->after_internal = AFTER_NOTHING;
		if (after == AFTER_RESUME_CLIENT && server->link) {
			pf_stream_resume_later(&server->link->stream);
		} else if (after == AFTER_CONNECTED && (server->connect_query_error || status != 'I')) {
			char message[512];
			snprintf(message, sizeof(message), "connect_query failed: %s",
				 server->connect_query_error ? server->connect_query_error : "left a transaction open");
			pf_link_login_failed(server->pool, "08006", message);
			pf_server_close(server, message);
			return PKT_CLOSED;
		} else if (after == AFTER_IDLE || after == AFTER_CONNECTED) {
			if (status != 'I') {
				pf_server_close(server, "server not idle after cleanup");
				return PKT_CLOSED;
			}
			pf_link_server_ready(server);
			if (server->state == SV_DEAD)
				return PKT_CLOSED;
		}
		return PKT_CONSUMED;
	}
	default:
		return PKT_CONSUMED;
	}
}

/* A server with no client: only asynchronous messages may come. */
static enum pf_pkt_action unlinked_packet(struct pf_server *server, const struct pf_pkt *pkt)
{
	switch (pkt->type) {
	case PF_BE_PARAM_STATUS:
		if (!pkt->full)
			return PKT_NEED_FULL;
		note_param(server, pkt);
		return PKT_CONSUMED;
	case PF_BE_NOTICE:
	case PF_BE_NOTIFICATION:
		return PKT_SKIP;
	case PF_BE_ERROR: {
		if (!pkt->full)
			return PKT_NEED_FULL;
		struct pf_error_fields ef;
		char reason[512] = "server sent an error while idle";
		if (pf_parse_error_fields(pkt->body, pkt->body_len, &ef) == 0 && ef.message)
			snprintf(reason, sizeof(reason), "server conn crashed? %s", ef.message);
		pf_server_close(server, reason);
		return PKT_CLOSED;
	}
	default:
		pf_server_close(server, "unexpected message from idle server");
		return PKT_CLOSED;
	}
}

/* SHOW STATS: a ReadyForQuery ends a query, and with status I a transaction. */
static void count_query(struct pf_server *server, struct pf_stats *stats, char status)
{
	uint64_t now = pf_usec_now();
	if (server->query_start_usec) {
		stats->query_count++;
		stats->query_time += now - server->query_start_usec;
	}
	/* Pipelined queries still to be answered start now. */
	server->query_start_usec = server->expect_rfq > 0 ? now : 0;
	server->idle_in_tx_since_usec = status != 'I' && server->expect_rfq == 0 ? now : 0;
	if (status == 'I' && server->xact_start_usec) {
		stats->xact_count++;
		stats->xact_time += now - server->xact_start_usec;
		server->xact_start_usec = 0;
		if (server->link->tenant) /* SHOW TENANTS; only clients of pools with tenants have one */
			server->link->tenant->tenant->xact_count++;
	}
}

static bool release_due(struct pf_server *server, char status)
{
	struct pf_client *client = server->link;
	int mode = pf_pool_mode(server->pool);
	if (mode == POOL_MODE_SESSION)
		return false;
	return status == 'I' && server->expect_rfq == 0 && !client->ext_in_flight && client->stream.pkt_remain == 0 &&
	       !server->pq.count;
}

/* ReadyForQuery of a linked server: the end of a query, maybe of the transaction. */
static enum pf_pkt_action linked_rfq(struct pf_server *server, const struct pf_pkt *pkt, struct pf_stats *stats)
{
	if (!pkt->full)
		return PKT_NEED_FULL;
	char status = 'I';
	pf_parse_rfq(pkt->body, pkt->body_len, &status);
	char before = server->tx_status;
	server->tx_status = status;
	if (server->expect_rfq > 0)
		server->expect_rfq--;
	if (server->set_z && --server->set_z == 0)
		pf_param_set_answered(server, before, status, server->pq.ext_failed);
	server->pq.ext_ends = 0;
	server->pq.ext_failed = false;
	count_query(server, stats, status);
	stats->bytes_sent += pkt->len;
	if (server->expect_rfq == 0 && status != 'I' && pf_pool_mode(server->pool) == POOL_MODE_STATEMENT) {
		struct pf_client *client = server->link;
		pf_link_unlink(client, server);
		pf_client_disconnect(client, "25001", "transaction blocks not allowed in statement pooling mode");
		pf_server_close(server, "transaction blocks not allowed in statement pooling mode");
		return PKT_CLOSED;
	}
	/* Answers of the pooler's own may follow it (prepared statements). */
	bool queued = server->pq.count && pf_pp_server_rfq(server, pkt);
	if (server->pq.resume_client && server->expect_rfq == 0) {
		/* DEALLOCATE ALL / DISCARD ALL answered: the client's next messages may be read. */
		server->pq.resume_client = false;
		pf_stream_resume_later(&server->link->stream);
	}
	if (release_due(server, status)) {
		server->release_on_flush = true;
		server->stream.notify_flush = true;
		return queued ? PKT_CONSUMED_STOP : PKT_FORWARD_STOP;
	}
	return queued ? PKT_CONSUMED : PKT_FORWARD;
}

static enum pf_pkt_action server_packet(struct pf_server *server, const struct pf_pkt *pkt)
{
	if (server->internal_rfq > 0)
		return internal_packet(server, pkt);
	if (!server->link)
		return unlinked_packet(server, pkt);
	struct pf_stats *stats = &server->pool->db->stats;
	switch (pkt->type) {
	case PF_BE_READY_FOR_QUERY:
		return linked_rfq(server, pkt, stats);
	case PF_BE_PARAM_STATUS:
		if (!pkt->full && pkt->len <= 8192)
			return PKT_NEED_FULL;
		stats->bytes_sent += pkt->len;
		if (pkt->full)
			note_param(server, pkt);
		return PKT_FORWARD;
	case PF_BE_NOTICE:
	case PF_BE_NOTIFICATION:
		stats->bytes_sent += pkt->len; /* asynchronous: they go whenever they come */
		return PKT_FORWARD;
	default:
		break;
	}
	if (server->pq.count) {
		/* Messages of the pooler's in flight: the queue places each answer. */
		enum pf_pkt_action act = pf_pp_server_packet(server, pkt);
		if (act != PKT_NEED_FULL && act != PKT_CLOSED)
			stats->bytes_sent += pkt->len;
		return act;
	}
	/* Counted always, so that tracking can start in the middle of a batch; a table lookup. */
	uint8_t cls = pf_pp_answer_class[pkt->type];
	if (cls & PF_PP_SLOW) {
		enum pf_pkt_action act = pf_pp_server_note(server, pkt);
		if (act != PKT_FORWARD)
			return act;
	}
	server->pq.ext_ends += cls & PF_PP_END;
	stats->bytes_sent += pkt->len;
	return PKT_FORWARD;
}

static enum pf_pkt_action server_on_packet(struct pf_stream *s, const struct pf_pkt *pkt)
{
	struct pf_server *server = s->owner;
	if (server->state == SV_LOGIN)
		return pf_server_login_packet(server, pkt);
	return server_packet(server, pkt);
}

static bool server_on_event(struct pf_stream *s, enum pf_stream_event ev)
{
	struct pf_server *server = s->owner;
	switch (ev) {
	case STREAM_EOF:
		if (server->state == SV_LOGIN) {
			pf_link_login_failed(server->pool, "08006", "server closed the connection during login");
			pf_server_close(server, "server closed the connection during login");
		} else {
			pf_server_close(server, "server conn crashed?");
		}
		return false;
	case STREAM_BAD_PACKET:
		pf_server_close(server, "bad packet from server");
		return false;
	case STREAM_FLUSHED:
		if (server->release_on_flush) {
			server->release_on_flush = false;
			/* The client may have sent more while its socket was full: keep the server. */
			if (server->link && !release_due(server, server->tx_status)) {
				pf_stream_resume_later(&server->stream);
				return true;
			}
			pf_link_release(server);
			return server->state != SV_DEAD;
		}
		return true;
	case STREAM_MSG_END:
		pf_pp_server_msg_end(server);
		return !server->stream.closed;
	}
	return true;
}

const struct pf_stream_ops pf_server_stream_ops = {
	.on_packet = server_on_packet,
	.on_event = server_on_event,
};
