/*
 * stats.c - every stats_period: recompute each database's averages from the totals, and
 * write PgBouncer's stats line to the log when log_stats is on.
 */
#include <event2/event.h>
#include <inttypes.h>

#include "admin/admin.h"
#include "pool/pool.h"
#include "util/log.h"

static struct event *stats_timer;
static uint64_t last_period_usec;

static void on_stats_period(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now = pf_usec_now();
	uint64_t elapsed = now - last_period_usec;
	last_period_usec = now;
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &pf_state.databases) {
		struct pf_database *db = container_of(pos, struct pf_database, node);
		pf_stats_average(&db->stats_avg, &db->stats, &db->stats_prev, elapsed);
		db->stats_prev = db->stats;
		const struct pf_stats_avg *a = &db->stats_avg;
		if (pf_state.set->log_stats && !db->is_admin)
			log_info("stats: %" PRIu64 " xacts/s, %" PRIu64 " queries/s, %" PRIu64 " client parses/s, %" PRIu64
				 " server parses/s, %" PRIu64 " binds/s, in %" PRIu64 " B/s, out %" PRIu64 " B/s, xact %" PRIu64
				 " us, query %" PRIu64 " us, wait %" PRIu64 " us (db %s)",
				 a->xact_count, a->query_count, a->client_parse_count, a->server_parse_count, a->bind_count,
				 a->bytes_received, a->bytes_sent, a->xact_time, a->query_time, a->wait_time, db->name);
	}
}

void pf_admin_stats_start(void)
{
	usec_t period = pf_state.set->stats_period > 0 ? pf_state.set->stats_period : 60 * USEC_PER_SEC;
	struct timeval tv = { (time_t)(period / USEC_PER_SEC), (suseconds_t)(period % USEC_PER_SEC) };
	last_period_usec = pf_usec_now();
	stats_timer = event_new(pf_state.base, -1, EV_PERSIST, on_stats_period, NULL);
	event_add(stats_timer, &tv);
}

void pf_admin_stats_restart(void)
{
	pf_admin_stats_stop();
	pf_admin_stats_start();
}

void pf_admin_stats_stop(void)
{
	if (stats_timer)
		event_free(stats_timer);
	stats_timer = NULL;
}
