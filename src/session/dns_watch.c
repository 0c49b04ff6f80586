/*
 * dns_watch.c - server connections follow the addresses of their host names.
 *
 * When a name's answer changes, servers connected to an address it no longer has are
 * closed: idle ones at once, busy ones when they come free (close_needed), never in the
 * middle of a transaction. New servers use the new answer.
 *
 * Names that servers are connected through are looked up again as soon as their cached
 * answer expires, also when no new server is opened: PgBouncer refreshed its cache only
 * on new connections, so a long-lived pool kept the old address (PgBouncer #1583).
 */
#include "session/dns_watch.h"

#include <event2/event.h>
#include <strings.h>

#include "net/dns.h"
#include "session/server.h"

#define REFRESH_PERIOD_USEC 1000000

static struct event *refresh_event;

static void on_refresh(evutil_socket_t fd, short what, void *arg)
{
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &pf_state.databases) {
		struct pf_database *db = container_of(pos, struct pf_database, node);
		if (db->is_admin || !db->n_hosts || pf_db_server_count(db) == 0)
			continue;
		/* numeric addresses and socket dirs are not in the cache: nothing happens for them */
		for (int i = 0; i < db->n_hosts; i++)
			pf_dns_refresh(db->hosts[i]);
	}
}

static void on_addresses_changed(const char *host, const struct pf_dns_result *res)
{
	struct pf_pool *pool;
	pf_for_each_pool(pool) {
		struct stat_list *lists[PF_SERVER_LISTS];
		pf_pool_server_lists(pool, lists);
		for (int i = 0; i < PF_SERVER_LISTS; i++) {
			struct list_head *spos, *stmp;
			statlist_for_each_safe(spos, stmp, lists[i]) {
				struct pf_server *server = container_of(spos, struct pf_server, node);
				if (!server->host || !server->addrlen || strcasecmp(server->host, host) != 0 ||
				    pf_dns_result_has(res, (const struct sockaddr *)&server->addr))
					continue;
				if (server->state == SV_IDLE)
					pf_server_close(server, "DNS address changed");
				else
					server->close_needed = true;
			}
		}
	}
}

void pf_dns_watch_start(void)
{
	struct timeval tv = { REFRESH_PERIOD_USEC / 1000000, REFRESH_PERIOD_USEC % 1000000 };
	pf_dns_set_change_hook(on_addresses_changed);
	refresh_event = event_new(pf_state.base, -1, EV_PERSIST, on_refresh, NULL);
	event_add(refresh_event, &tv);
}

void pf_dns_watch_stop(void)
{
	pf_dns_set_change_hook(NULL);
	if (refresh_event)
		event_free(refresh_event);
	refresh_event = NULL;
}
