/*
 * janitor.c - once a second, keep each pool at min_pool_size and close idle servers that
 * were idle longer than server_idle_timeout or lived longer than server_lifetime.
 * It works on the pool's lists, so it lives beside the code that opens and closes servers.
 */
#include "session/janitor.h"

#include <event2/event.h>
#include <malloc.h>

#include "session/client.h"
#include "session/server.h"
#include "util/log.h"

#define JANITOR_PERIOD_USEC 1000000
/* Every this many periods, give memory freed by a login storm back to the system. */
#define TRIM_EVERY_PERIODS 10

static struct event *janitor_event;

static int min_pool_size(const struct pf_pool *pool)
{
	return pool->db->min_pool_size >= 0 ? pool->db->min_pool_size : pf_state.set->min_pool_size;
}

void pf_janitor_fill_pool(struct pf_pool *pool)
{
	if (pf_state.shutting_down)
		return;
	int min = min_pool_size(pool);
	if (min <= 0)
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
	struct list_head *pos, *tmp;
	statlist_for_each_safe(pos, tmp, &pool->idle_servers) {
		struct pf_server *server = container_of(pos, struct pf_server, node);
		if (server->db_generation != pool->db->generation || server->close_needed) {
			pf_server_close(server, "database configuration changed");
			continue;
		}
		if (set->server_lifetime > 0 && now - server->connect_usec > (uint64_t)set->server_lifetime) {
			pf_server_close(server, "server lifetime over");
			continue;
		}
		/* Idle servers beyond min_pool_size go after server_idle_timeout. */
		if (set->server_idle_timeout > 0 && now - server->last_used_usec > (uint64_t)set->server_idle_timeout &&
		    pf_pool_server_count(pool) > min_pool_size(pool))
			pf_server_close(server, "server idle timeout");
	}
}

static void on_janitor(evutil_socket_t fd, short what, void *arg)
{
	static int periods;
	if (++periods % TRIM_EVERY_PERIODS == 0)
		malloc_trim(0);
	uint64_t now = pf_usec_now();
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &pf_state.pools) {
		struct pf_pool *pool = container_of(pos, struct pf_pool, node);
		close_expired_servers(pool, now);
		pf_janitor_fill_pool(pool);
	}
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
