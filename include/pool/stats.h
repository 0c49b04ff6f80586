/*
 * stats.h - per-database counters for SHOW STATS, and the averages of the last stats_period.
 * Times are microseconds, as PgBouncer reports them.
 */
#ifndef PF_POOL_STATS_H
#define PF_POOL_STATS_H

#include <stdint.h>

struct pf_stats {
	uint64_t server_assignment_count;
	uint64_t xact_count;
	uint64_t query_count;
	uint64_t bytes_received;   /* from clients */
	uint64_t bytes_sent;       /* to clients */
	uint64_t xact_time;
	uint64_t query_time;
	uint64_t wait_time;
	uint64_t client_parse_count;
	uint64_t server_parse_count;
	uint64_t bind_count;
};

/* Per-second averages over the last period (times: average per transaction/query). */
struct pf_stats_avg {
	uint64_t server_assignment_count, xact_count, query_count, bytes_received, bytes_sent;
	uint64_t xact_time, query_time, wait_time;
	uint64_t client_parse_count, server_parse_count, bind_count;
};

void pf_stats_add(struct pf_stats *total, const struct pf_stats *add);
/* Averages of what happened between prev and cur over `usec` microseconds. */
void pf_stats_average(struct pf_stats_avg *avg, const struct pf_stats *cur, const struct pf_stats *prev, uint64_t usec);

#endif
