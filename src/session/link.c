/*
 * link.c - the pooler's moves: give a server to a client, take it back when the transaction
 * (or session) is over, clean it when the client left it dirty, and greet clients that
 * waited for their pool's first login.
 */
#include "session/link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/options.h"
#include "session/auth_query.h"
#include "session/client.h"
#include "session/janitor.h"
#include "session/server.h"
#include "session/tenant.h"
#include "util/buf.h"
#include "util/log.h"

static struct event reap_event;
static bool reap_event_ready;
static bool reap_scheduled;

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
	reap_scheduled = false;
	pf_client_reap();
	pf_server_reap();
}

void pf_session_schedule_reap(void)
{
	if (reap_scheduled)
		return;
	if (!reap_event_ready) {
		event_assign(&reap_event, pf_state.base, -1, 0, on_reap, NULL);
		reap_event_ready = true;
	}
	reap_scheduled = true;
	event_active(&reap_event, EV_TIMEOUT, 0);
}

void pf_link_unlink(struct pf_client *client, struct pf_server *server)
{
	/* Its tenant may hold one server less (only clients of pools with tenants have one). */
	if (client->tenant)
		pf_tenant_release(client);
	client->idle_since_usec = pf_usec_now();
	client->link = NULL;
	server->link = NULL;
	client->stream.partner = NULL;
	server->stream.partner = NULL;
	client->stream.blocked = false;
	server->stream.blocked = false;
}

/* Append value as a SQL string literal. */
static void append_literal(struct pf_buf *sql, const char *value)
{
	bool backslash = strchr(value, '\\') != NULL;
	pf_buf_printf(sql, "%s'", backslash ? "E" : "");
	for (const char *p = value; *p; p++) {
		if (*p == '\'' || *p == '\\')
			pf_buf_put_u8(sql, (uint8_t)*p);
		pf_buf_put_u8(sql, (uint8_t)*p);
	}
	pf_buf_put_u8(sql, '\'');
}

/*
 * Give a server the client's value of a parameter, as PostgreSQL takes a startup parameter:
 * the text as the setting's value (SET search_path = 'a, b' would make that one schema name),
 * or RESET when the client did not set it (its server's default). pg_catalog is named: the
 * client's search_path must not choose the function.
 */
static void append_set(struct pf_buf *sql, const char *name, const char *value)
{
	if (!value) {
		pf_buf_printf(sql, "RESET \"");
		for (const char *p = name; *p; p++) {
			if (*p == '"')
				pf_buf_put_u8(sql, '"');
			pf_buf_put_u8(sql, (uint8_t)*p);
		}
		pf_buf_printf(sql, "\";");
		return;
	}
	pf_buf_printf(sql, "SELECT pg_catalog.set_config(");
	append_literal(sql, name);
	pf_buf_printf(sql, ", ");
	append_literal(sql, value);
	pf_buf_printf(sql, ", false);");
}

static void link_pair(struct pf_client *client, struct pf_server *server)
{
	struct pf_stats *stats = &server->pool->db->stats;
	uint64_t now = pf_usec_now();
	stats->server_assignment_count++;
	if (client->state == CL_WAITING)
		stats->wait_time += now - client->wait_start_usec;
	server->query_start_usec = server->xact_start_usec = 0;
	client->link = server;
	server->link = client;
	client->stream.partner = &server->stream;
	server->stream.partner = &client->stream;
	server->expect_rfq = 0;
	client->ext_in_flight = false;
	server->last_used_usec = now;
	pf_server_change_state(server, SV_ACTIVE);
	if (client->state != CL_ACTIVE)
		pf_client_change_state(client, CL_ACTIVE);

	/* Bring the server's session parameters to the client's values. */
	struct pf_buf sql;
	pf_buf_init(&sql);
	for (int i = 0; i < pf_tracked_count(); i++) {
		/* Interned: equal values have equal ids (0, unknown: the server's default). */
		if (client->params.v[i] == server->params.v[i])
			continue;
		append_set(&sql, pf_tracked_name(i), pf_tracked_get(&client->params, i));
		pf_tracked_copy_one(&server->params, &client->params, i);
	}
	if (sql.len) {
		pf_buf_put_u8(&sql, 0);
		const char *q = (const char *)sql.data;
		if (!pf_server_send_internal(server, &q, 1, AFTER_RESUME_CLIENT)) {
			pf_buf_free(&sql);
			pf_server_close(server, "server conn crashed?");
			return;
		}
	}
	pf_buf_free(&sql);
	pf_stream_resume_later(&server->stream);
}

/* Clients whose pool could not greet them yet, and a failed pool's fast failure. */
static bool fail_fast(struct pf_client *client)
{
	struct pf_pool *pool = client->pool;
	if (!pool->last_login_failed || pf_pool_server_count(pool) > 0 || pf_pool_may_launch(pool))
		return false;
	pf_client_disconnect(client, pool->last_login_sqlstate[0] ? pool->last_login_sqlstate : "08006", "%s",
			     pool->last_login_error ? pool->last_login_error : "pgfjord cannot connect to server");
	return true;
}

/*
 * server_check_query: a server idle longer than server_check_delay (0 = always) runs it
 * before a client gets it. Returns the query to send, or NULL when no check is due.
 * "<empty>" sends an empty query (the cheapest round trip); "" turns checks off.
 */
const char *pf_link_check_query_due(const struct pf_server *server)
{
	const char *query = pf_state.set->server_check_query;
	if (!query || !*query)
		return NULL;
	usec_t delay = pf_state.set->server_check_delay;
	if (delay > 0 && pf_usec_now() - server->last_used_usec < (uint64_t)delay)
		return NULL;
	return strcmp(query, PF_CHECK_QUERY_EMPTY) == 0 ? "" : query;
}

/* Start server_check_query on an idle server before a client gets it (it answers, then is ready). */
static void test_server(struct pf_server *server, const char *check)
{
	pf_server_change_state(server, SV_TESTED);
	if (!pf_server_send_internal(server, &check, 1, AFTER_IDLE))
		pf_server_close(server, "server conn crashed?");
}

/* Resume a client that was given a server while paused waiting (not the one being read now). */
static void wake_linked(struct pf_client *client, struct pf_server *server, struct pf_client *self)
{
	if (client != self && server->state != SV_DEAD && client->state != CL_DEAD && !server->internal_rfq)
		pf_stream_resume_later(&client->stream);
}

/*
 * A pool with tenants: idle servers go to whoever the scheduler picks, while a tenant with
 * waiting clients has room (clients of capped tenants stay queued beside idle servers).
 * Returns true when it started a server_check_query: that server is served once it answers.
 */
static bool dispatch_idle(struct pf_pool *pool, struct pf_client *self)
{
	while (pf_tenant_can_pick(pool)) {
		struct list_head *item = pf_pool_next_idle(pool);
		if (!item)
			return false;
		struct pf_server *server = container_of(item, struct pf_server, node);
		const char *check = pf_link_check_query_due(server);
		if (check) {
			test_server(server, check);
			return true;
		}
		struct pf_client *client = pf_tenant_pick(pool);
		if (!client) /* can_pick said yes: cannot happen, but never link nobody */
			return false;
		link_pair(client, server);
		wake_linked(client, server, self);
	}
	return false;
}

static void maybe_launch(struct pf_pool *pool, struct pf_client *self);

/* Every request of a pool with tenants queues; the scheduler then says who is served. */
static void request_with_tenants(struct pf_client *client)
{
	struct pf_pool *pool = client->pool;
	bool paused = pf_state.paused || pool->db->paused;
	if (!paused && statlist_count(&pool->idle_servers) == 0 && fail_fast(client))
		return;
	pf_client_change_state(client, CL_WAITING);
	pf_tenant_enqueue(client);
	/* Served at once when its tenant has room and a server is idle (read on, not woken). */
	if (!paused)
		maybe_launch(pool, client);
}

void pf_link_request_server(struct pf_client *client)
{
	struct pf_pool *pool = client->pool;
	if (pool->tenants) {
		request_with_tenants(client);
		return;
	}
	/* PAUSE: nobody gets a server until RESUME. */
	if (pf_state.paused || pool->db->paused) {
		pf_client_change_state(client, CL_WAITING);
		return;
	}
	struct list_head *item = pf_pool_next_idle(pool);
	if (item) {
		struct pf_server *server = container_of(item, struct pf_server, node);
		const char *check = pf_link_check_query_due(server);
		if (!check) {
			link_pair(client, server);
			return;
		}
		/* The client waits while the server proves it is alive; then it is first in line. */
		pf_client_change_state(client, CL_WAITING);
		test_server(server, check);
		return;
	}
	if (fail_fast(client))
		return;
	pf_client_change_state(client, CL_WAITING);
	pf_link_maybe_launch(pool);
}

/*
 * The other pools under the same limit as `pool`: its database's own list for
 * max_db_connections (no walk over every pool on this path), every pool of the user for
 * max_user_connections. Calls visit(other, arg) for each.
 */
static void for_each_limit_peer(struct pf_pool *pool, bool by_db, bool by_user,
				void (*visit)(struct pf_pool *other, void *arg), void *arg)
{
	struct list_head *pos;
	if (by_db) {
		list_for_each(pos, &pool->db->pools) {
			struct pf_pool *other = container_of(pos, struct pf_pool, db_node);
			if (other != pool)
				visit(other, arg);
		}
	}
	if (by_user) {
		struct pf_pool *other;
		pf_for_each_pool(other) {
			/* a pool of the same database was visited above already */
			if (other != pool && other->user == pool->user && !(by_db && other->db == pool->db))
				visit(other, arg);
		}
	}
}

static void longest_idle(struct pf_pool *other, void *arg)
{
	struct pf_server **victim = arg;
	struct list_head *pos;
	list_for_each(pos, &other->idle_servers.head) {
		struct pf_server *server = container_of(pos, struct pf_server, node);
		if (!*victim || server->last_used_usec < (*victim)->last_used_usec)
			*victim = server;
	}
}

/*
 * max_db_connections / max_user_connections is reached: close the longest-idle server of
 * another pool under the same limit to make room, as PgBouncer does. False if none is idle.
 */
static bool evict_for(struct pf_pool *pool, enum pf_launch_block block)
{
	struct pf_server *victim = NULL;
	for_each_limit_peer(pool, block == LAUNCH_DB_FULL, block == LAUNCH_USER_FULL, longest_idle, &victim);
	if (!victim)
		return false;
	pf_server_close(victim, "evicted");
	return true;
}

static void launch_reserve(struct pf_pool *pool)
{
	log_warning("%s/%s: taking connection from reserve_pool", pool->db->name, pool->user->name);
	pf_server_launch(pool);
}

/* `self`: the client being read now, if any (linked in its own read, not woken again). */
static void maybe_launch(struct pf_pool *pool, struct pf_client *self)
{
	if (pf_state.paused || pool->db->paused)
		return;
	int demand = statlist_count(&pool->welcome_clients) + statlist_count(&pool->auth_lookups);
	if (!pool->tenants) {
		demand += statlist_count(&pool->waiting_clients);
	} else {
		/* Idle servers first (a release or a reserve timeout may have given a tenant room);
		 * then only clients whose tenant has room make the pool grow. */
		bool testing = dispatch_idle(pool, self);
		pf_tenant_arm_timer(pool);
		if (testing)
			return;
		demand += pf_tenant_can_pick(pool);
	}
	if (demand == 0)
		return;
	enum pf_launch_block block = pf_pool_launch_check(pool, false);
	if (block == LAUNCH_DB_FULL || block == LAUNCH_USER_FULL) {
		/* Closing the victim may re-enter here (it wakes pools under the limit). */
		if (evict_for(pool, block) && pf_pool_may_launch(pool))
			pf_server_launch(pool);
		return;
	}
	if (block == LAUNCH_OK) {
		pf_server_launch(pool);
		return;
	}
	/* The pool is full: a tenant whose client waited its own reserve_pool_timeout may get one more. */
	if (pool->tenants) {
		if (pf_tenant_take_reserve(pool)) {
			pf_server_launch(pool);
			return;
		}
	} else {
		struct list_head *oldest = statlist_first(&pool->waiting_clients);
		uint64_t waited =
			oldest ? pf_usec_now() - container_of(oldest, struct pf_client, node)->wait_start_usec : 0;
		if (oldest && pf_pool_may_use_reserve(pool, waited)) {
			launch_reserve(pool);
			return;
		}
	}
	/* Waiting clients (and lookups) of a pool that cannot log in get the error instead of a hang. */
	if (pool->last_login_failed && pf_pool_server_count(pool) == 0) {
		pf_auth_query_pool_failed(pool, pool->last_login_error ? pool->last_login_error : "login failed");
		struct stat_list *lists[] = { &pool->welcome_clients, &pool->waiting_clients };
		for (int i = 0; i < 2; i++) {
			struct list_head *pos, *tmp;
			statlist_for_each_safe(pos, tmp, lists[i]) {
				fail_fast(container_of(pos, struct pf_client, node));
			}
		}
	}
}

void pf_link_maybe_launch(struct pf_pool *pool)
{
	maybe_launch(pool, NULL);
}

struct longest_wait {
	struct pf_pool *best;
	uint64_t start;
};

static void longest_waiting(struct pf_pool *other, void *arg)
{
	struct longest_wait *lw = arg;
	struct list_head *first = statlist_first(&other->waiting_clients);
	if (!first) /* a new pool's clients wait for its first login to greet them */
		first = statlist_first(&other->welcome_clients);
	uint64_t start = first ? container_of(first, struct pf_client, node)->wait_start_usec
			       : pf_auth_query_oldest_wait(other);
	if (start && (!lw->best || start < lw->start)) {
		lw->best = other;
		lw->start = start;
	}
}

void pf_link_limit_room(struct pf_pool *pool)
{
	static bool running;
	bool db_limited = pf_db_max_connections(pool->db) > 0;
	bool user_limited = pf_user_max_connections(pool->user) > 0;
	if (running || (!db_limited && !user_limited) || pf_state.shutting_down)
		return;
	/* The pool whose oldest client has waited longest goes first. */
	struct longest_wait lw = { NULL, 0 };
	for_each_limit_peer(pool, db_limited, user_limited, longest_waiting, &lw);
	if (!lw.best)
		return;
	running = true;
	pf_link_maybe_launch(lw.best);
	running = false;
}

/* Nobody wants the server now: back to the pool's idle list. */
static void make_idle(struct pf_server *server)
{
	struct pf_pool *pool = server->pool;
	server->last_used_usec = pf_usec_now();
	pf_server_change_state(server, SV_IDLE);
	/* Keep reading: an idle server may report an error or close. */
	pf_stream_resume_later(&server->stream);
	pf_janitor_fill_pool(pool);
	pf_link_limit_room(pool);
}

/* Give a free server of a clients' pool to the clients that wait for it. */
static void serve_clients(struct pf_server *server)
{
	struct pf_pool *pool = server->pool;
	/* Greet every client that only waited for the pool's first login (usually none). */
	struct list_head *pos, *tmp;
	statlist_for_each_safe(pos, tmp, &pool->welcome_clients) {
		pf_client_finish_login(container_of(pos, struct pf_client, node));
	}
	if (server->state == SV_DEAD)
		return;
	struct pf_client *client;
	if (pool->tenants) {
		/* The scheduler's pick; nobody when every waiting client's tenant is at its cap. */
		client = pf_tenant_pick(pool);
	} else {
		/* Oldest waiting client first (FIFO): O(1), whatever the queue length. */
		struct list_head *first = statlist_first(&pool->waiting_clients);
		client = first ? container_of(first, struct pf_client, node) : NULL;
	}
	if (!client) {
		make_idle(server);
		return;
	}
	link_pair(client, server);
	wake_linked(client, server, NULL);
	pf_link_maybe_launch(pool);
}

void pf_link_server_ready(struct pf_server *server)
{
	struct pf_pool *pool = server->pool;
	if (pf_state.shutdown_mode == 1) {
		pf_server_close(server, "server shutting down");
		return;
	}
	/* PAUSE closes servers as they come free; RECONNECT those marked. */
	if (pf_state.paused || pool->db->paused) {
		pf_server_close(server, "pause mode");
		return;
	}
	if (server->close_needed || server->db_generation != pool->db->generation) {
		pf_server_close(server, "database configuration changed");
		return;
	}
	/* An auth pool's servers only ever run lookups, never a client's transaction. */
	if (!pool->is_auth)
		serve_clients(server);
	else if (!pf_auth_query_server_ready(server))
		make_idle(server);
}

/* Queries that make a server reusable: ROLLBACK when in a transaction, and the reset query. */
static int cleanup_queries(struct pf_server *server, bool session_over, const char **queries)
{
	int n = 0;
	if (server->tx_status != 'I')
		queries[n++] = "ROLLBACK";
	const char *reset = pf_state.set->server_reset_query;
	bool want_reset = session_over ? pf_pool_mode(server->pool) == POOL_MODE_SESSION || pf_state.set->server_reset_query_always
				       : pf_state.set->server_reset_query_always;
	if (want_reset && reset && *reset)
		queries[n++] = reset;
	return n;
}

static void clean_or_ready(struct pf_server *server, bool session_over)
{
	const char *queries[2];
	int n = cleanup_queries(server, session_over, queries);
	if (n == 0) {
		pf_link_server_ready(server);
		return;
	}
	pf_server_change_state(server, SV_USED);
	if (!pf_server_send_internal(server, queries, n, AFTER_IDLE))
		pf_server_close(server, "server conn crashed?");
}

void pf_link_release(struct pf_server *server)
{
	struct pf_client *client = server->link;
	if (client)
		pf_link_unlink(client, server);
	clean_or_ready(server, false);
}

void pf_link_fail_client(struct pf_server *server, const char *sqlstate, const char *message)
{
	struct pf_client *client = server->link;
	if (!client)
		return;
	bool mid_message = pf_stream_partner_mid_message(&server->stream);
	pf_link_unlink(client, server);
	if (mid_message)
		pf_client_close(client, message);
	else
		pf_client_disconnect(client, sqlstate, "%s", message);
}

void pf_link_client_gone(struct pf_client *client)
{
	struct pf_server *server = client->link;
	pf_link_unlink(client, server);
	/* Anything half-done on the wire makes the server's state unknown: close it. */
	bool unclean = server->expect_rfq > 0 || server->internal_rfq > 0 || client->ext_in_flight ||
		       client->stream.pkt_remain || server->stream.pkt_remain || pf_stream_unprocessed(&server->stream) ||
		       server->release_on_flush;
	if (unclean) {
		pf_server_close(server, "client disconnect while server was not ready");
		return;
	}
	server->stream.paused = false;
	clean_or_ready(server, true);
}

void pf_link_login_failed(struct pf_pool *pool, const char *sqlstate, const char *message)
{
	pool->last_login_failed = true;
	pool->last_login_fail_usec = pf_usec_now();
	free(pool->last_login_error);
	pool->last_login_error = pf_xstrdup(message);
	snprintf(pool->last_login_sqlstate, sizeof(pool->last_login_sqlstate), "%s", sqlstate);
	pf_auth_query_pool_failed(pool, message);
	struct stat_list *lists[] = { &pool->welcome_clients, &pool->waiting_clients };
	for (int i = 0; i < 2; i++) {
		struct list_head *pos, *tmp;
		statlist_for_each_safe(pos, tmp, lists[i]) {
			pf_client_disconnect(container_of(pos, struct pf_client, node), sqlstate, "%s", message);
		}
	}
}

int pf_link_active_server_count(void)
{
	int n = 0;
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &pf_state.pools) {
		struct pf_pool *pool = container_of(pos, struct pf_pool, node);
		n += statlist_count(&pool->active_servers) + statlist_count(&pool->used_servers) +
		     statlist_count(&pool->tested_servers);
	}
	return n;
}
