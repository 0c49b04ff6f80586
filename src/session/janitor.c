/*
 * janitor.c - once a second, keep each pool at min_pool_size, close idle servers that
 * were idle longer than server_idle_timeout or lived longer than server_lifetime, and drop
 * clients past client_login_timeout or query_wait_timeout.
 * It works on the pool's lists, so it lives beside the code that opens and closes servers.
 */
#include "session/janitor.h"

#include <event2/event.h>
#include <malloc.h>

#include "net/iobuf.h"
#include "session/auth_query.h"
#include "session/cancel.h"
#include "session/client.h"
#include "session/link.h"
#include "session/server.h"
#include "session/tenant.h"
#include "util/log.h"

#define JANITOR_PERIOD_USEC 1000000
/* After this many calm periods in a row, give memory freed by a burst back to the system. */
#define TRIM_EVERY_PERIODS 10

static struct event *janitor_event;

void pf_janitor_fill_pool(struct pf_pool *pool)
{
	if (pf_state.shutting_down)
		return;
	int min = pf_pool_min_size(pool);
	if (min <= 0 || pool->is_auth) /* auth pools open servers for lookups only */
		return;
	/* As PgBouncer: only for a forced-user database or a pool with a client. */
	bool in_use = statlist_count(&pool->active_clients) + statlist_count(&pool->waiting_clients) +
			      statlist_count(&pool->welcome_clients) > 0;
	if (!pool->db->forced_user && !in_use)
		return;
	if (pf_pool_server_count(pool) < min && pf_pool_may_launch(pool))
		pf_server_launch(pool);
}

static void close_expired_servers(struct pf_pool *pool, uint64_t now)
{
	const struct pf_settings *set = pf_state.set;
	usec_t lifetime = pf_pool_server_lifetime(pool);
	struct list_head *pos, *tmp;
	statlist_for_each_safe(pos, tmp, &pool->idle_servers) {
		struct pf_server *server = container_of(pos, struct pf_server, node);
		if (server->db_generation != pool->db->generation || server->close_needed) {
			pf_server_close(server, "database configuration changed");
			continue;
		}
		if (lifetime > 0 && now - server->connect_usec > (uint64_t)lifetime) {
			pf_server_close(server, "server lifetime over");
			continue;
		}
		/* Idle servers beyond min_pool_size go after server_idle_timeout. */
		if (set->server_idle_timeout > 0 && now - server->last_used_usec > (uint64_t)set->server_idle_timeout &&
		    pf_pool_server_count(pool) > pf_pool_min_size(pool))
			pf_server_close(server, "server idle timeout");
	}
}

/* Clients that have not finished logging in within client_login_timeout are dropped. */
static void close_slow_logins(uint64_t now)
{
	usec_t limit = pf_state.set->client_login_timeout;
	if (limit <= 0)
		return;
	struct list_head *pos, *tmp;
	statlist_for_each_safe(pos, tmp, &pf_state.login_clients) {
		struct pf_client *client = container_of(pos, struct pf_client, node);
		if (now - client->connect_usec > (uint64_t)limit)
			pf_client_disconnect(client, "08P01", "client_login_timeout");
	}
}

/*
 * Clients waiting for a server longer than query_wait_notify get a NOTICE (once per wait),
 * longer than query_wait_timeout (their tenant's, in a pool with tenants) the error, and go.
 * The queue is oldest first, so the scan stops at the first client that has neither due,
 * whatever its tenant: it waited no longer than the smallest timeout.
 */
static void check_long_waits(struct pf_pool *pool, uint64_t now)
{
	usec_t pool_limit = pf_pool_query_wait_timeout(pool);
	usec_t min_limit = pool->tenants ? pf_tenant_min_wait_timeout(pool, pool_limit) : pool_limit;
	usec_t notify = pf_state.set->query_wait_notify;
	bool paused = pf_state.paused || pool->db->paused;
	struct list_head *pos, *tmp;
	statlist_for_each_safe(pos, tmp, &pool->waiting_clients) {
		struct pf_client *client = container_of(pos, struct pf_client, node);
		uint64_t waited = now - client->wait_start_usec;
		usec_t limit = client->tenant ? pf_tenant_wait_timeout(client, pool_limit) : pool_limit;
		if (limit > 0 && !paused && waited > (uint64_t)limit) {
			pf_client_disconnect(client, "08P01", "query_wait_timeout");
			continue;
		}
		if (notify <= 0 || waited <= (uint64_t)notify) {
			/* Younger clients of a tenant with a shorter timeout may still be over it. */
			if (!paused && min_limit > 0 && waited > (uint64_t)min_limit)
				continue;
			break;
		}
		if (!client->wait_notified) {
			client->wait_notified = true;
			pf_client_send_notice(client, "01000",
					      "no server connection available in pool %s/%s yet, query is queued "
					      "(waited %d s, query_wait_notify)",
					      pool->db->name, pool->user->name, (int)(waited / USEC_PER_SEC));
		}
	}
}

/* Logged-in clients without a server for longer than client_idle_timeout are dropped. */
static void close_idle_clients(struct pf_pool *pool, uint64_t now)
{
	usec_t limit = pf_pool_client_idle_timeout(pool);
	if (limit <= 0 || pool->db->is_admin)
		return;
	struct list_head *pos, *tmp;
	statlist_for_each_safe(pos, tmp, &pool->active_clients) {
		struct pf_client *client = container_of(pos, struct pf_client, node);
		if (!client->link && now - client->idle_since_usec > (uint64_t)limit)
			pf_client_disconnect(client, "08P01", "client_idle_timeout");
	}
}

/*
 * Servers whose query runs past query_timeout, whose transaction sits idle past
 * idle_transaction_timeout or lasts past transaction_timeout: the client gets the error,
 * the server is closed (its state is unknown mid-query, and an open transaction must not
 * be handed to anybody else).
 */
static void close_overdue_servers(struct pf_pool *pool, uint64_t now)
{
	usec_t query_limit = pf_pool_query_timeout(pool);
	usec_t idle_tx_limit = pf_pool_idle_transaction_timeout(pool);
	usec_t tx_limit = pf_pool_transaction_timeout(pool);
	if (query_limit <= 0 && idle_tx_limit <= 0 && tx_limit <= 0)
		return;
	struct list_head *pos, *tmp;
	statlist_for_each_safe(pos, tmp, &pool->active_servers) {
		struct pf_server *server = container_of(pos, struct pf_server, node);
		const char *why = NULL;
		bool query_running = query_limit > 0 && server->expect_rfq > 0 && server->query_start_usec &&
				     now - server->query_start_usec > (uint64_t)query_limit;
		if (query_running)
			why = "query_timeout";
		else if (idle_tx_limit > 0 && server->idle_in_tx_since_usec &&
			 now - server->idle_in_tx_since_usec > (uint64_t)idle_tx_limit)
			why = "idle transaction timeout";
		else if (tx_limit > 0 && server->xact_start_usec && now - server->xact_start_usec > (uint64_t)tx_limit)
			why = "transaction timeout";
		if (!why)
			continue;
		/* A query past its time is cancelled on PostgreSQL too, not left running there. */
		if (server->expect_rfq > 0)
			pf_cancel_server(server);
		pf_link_fail_client(server, "08P01", why);
		pf_server_close(server, why);
	}
}

/*
 * server_fast_close: a session-mode server due for closing (RECONNECT, a changed database)
 * goes between transactions instead of at the end of the session. Its client goes with it,
 * as in PgBouncer: silently giving it a new server would lose its session state.
 */
static void fast_close_sessions(struct pf_pool *pool)
{
	if (!pf_state.set->server_fast_close || pf_pool_mode(pool) != POOL_MODE_SESSION)
		return;
	struct list_head *pos, *tmp;
	statlist_for_each_safe(pos, tmp, &pool->active_servers) {
		struct pf_server *server = container_of(pos, struct pf_server, node);
		struct pf_client *client = server->link;
		bool stale = server->close_needed || server->db_generation != pool->db->generation;
		bool between_transactions = server->tx_status == 'I' && server->expect_rfq == 0 &&
					    server->internal_rfq == 0 && client && !client->ext_in_flight &&
					    client->stream.pkt_remain == 0 && server->stream.pkt_remain == 0;
		if (!stale || !between_transactions)
			continue;
		pf_link_fail_client(server, "08P01", "database configuration changed");
		pf_server_close(server, "database configuration changed");
	}
}

/* pool_idle_timeout: a pool with no clients and no servers for that long is freed. */
static void free_if_idle(struct pf_pool *pool, uint64_t now)
{
	if (pf_pool_client_count(pool) + pf_pool_server_count(pool) + statlist_count(&pool->auth_lookups) > 0) {
		pool->last_used_usec = now;
		pool->db->last_used_usec = now;
		return;
	}
	usec_t limit = pf_state.set->pool_idle_timeout;
	if (limit > 0 && !pool->db->is_admin && now - pool->last_used_usec > (uint64_t)limit)
		pf_pool_free_unused(pool);
}

/* Logins that refer to the database: clients logging in to it, lookups waiting in it. */
static bool db_has_logins(const struct pf_database *db)
{
	struct list_head *pos;
	list_for_each(pos, &pf_state.login_clients.head) {
		if (container_of(pos, struct pf_client, node)->db == db)
			return true;
	}
	list_for_each(pos, &db->pools) {
		if (statlist_count(&container_of(pos, struct pf_pool, db_node)->auth_lookups))
			return true;
	}
	return false;
}

/* autodb_idle_timeout: an auto-created database unused for that long is freed. */
static void free_idle_auto_databases(uint64_t now)
{
	usec_t limit = pf_state.set->autodb_idle_timeout;
	if (limit <= 0)
		return;
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &pf_state.databases) {
		struct pf_database *db = container_of(pos, struct pf_database, node);
		/* A paused or disabled one keeps the state an operator gave it. */
		if (!db->is_auto || db->paused || db->disabled || now - db->last_used_usec <= (uint64_t)limit)
			continue;
		if (pf_db_client_count(db) + pf_db_server_count(db) > 0 || db_has_logins(db)) {
			db->last_used_usec = now;
			continue;
		}
		pf_database_free_auto(db);
	}
}

/*
 * malloc_trim gives the memory freed after a burst (client objects, receive buffers) back to
 * the system. Done while a burst goes on, it only makes the buffers fault their pages in again
 * a moment later: 5000 page faults per run and a longer p99 at 5000 clients waiting for a pool
 * of 20. So it waits for calm: periods in which no more pkt_buf buffers were in use at once
 * than the free list keeps anyway.
 */
static void trim_when_calm(void)
{
	static int calm_periods;
	if (pf_iobuf_take_peak() > PF_IOBUF_MAX_FREE) {
		calm_periods = 0;
		return;
	}
	if (++calm_periods % TRIM_EVERY_PERIODS == 0)
		malloc_trim(0);
}

static void on_janitor(evutil_socket_t fd, short what, void *arg)
{
	trim_when_calm();
	uint64_t now = pf_usec_now();
	close_slow_logins(now);
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &pf_state.pools) {
		struct pf_pool *pool = container_of(pos, struct pf_pool, node);
		check_long_waits(pool, now);
		if (pool->is_auth)
			pf_auth_query_janitor(pool, now);
		/* A waiting client may have crossed reserve_pool_timeout since the last event. */
		if (statlist_count(&pool->waiting_clients))
			pf_link_maybe_launch(pool);
		close_idle_clients(pool, now);
		close_overdue_servers(pool, now);
		fast_close_sessions(pool);
		close_expired_servers(pool, now);
		pf_janitor_fill_pool(pool);
		pf_tenant_janitor(pool, now);
		free_if_idle(pool, now);
	}
	free_idle_auto_databases(now);
}

void pf_janitor_start(void)
{
	struct timeval tv = { JANITOR_PERIOD_USEC / 1000000, JANITOR_PERIOD_USEC % 1000000 };
	janitor_event = event_new(pf_state.base, -1, EV_PERSIST, on_janitor, NULL);
	event_add(janitor_event, &tv);
}

void pf_janitor_stop(void)
{
	if (janitor_event)
		event_free(janitor_event);
	janitor_event = NULL;
}
