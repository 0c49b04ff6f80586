/* stats.c - counters and averages for SHOW STATS (PgBouncer's definitions). */
#include "pool/stats.h"

void pf_stats_add(struct pf_stats *total, const struct pf_stats *add)
{
	total->server_assignment_count += add->server_assignment_count;
	total->xact_count += add->xact_count;
	total->query_count += add->query_count;
	total->bytes_received += add->bytes_received;
	total->bytes_sent += add->bytes_sent;
	total->xact_time += add->xact_time;
	total->query_time += add->query_time;
	total->wait_time += add->wait_time;
	total->client_parse_count += add->client_parse_count;
	total->server_parse_count += add->server_parse_count;
	total->bind_count += add->bind_count;
}

static uint64_t per_second(uint64_t delta, uint64_t usec)
{
	return usec ? delta * 1000000ULL / usec : 0;
}

static uint64_t per_item(uint64_t delta_time, uint64_t delta_count)
{
	return delta_count ? delta_time / delta_count : 0;
}

void pf_stats_average(struct pf_stats_avg *avg, const struct pf_stats *cur, const struct pf_stats *prev, uint64_t usec)
{
	uint64_t xacts = cur->xact_count - prev->xact_count;
	uint64_t queries = cur->query_count - prev->query_count;
	uint64_t assignments = cur->server_assignment_count - prev->server_assignment_count;
	avg->server_assignment_count = per_second(assignments, usec);
	avg->xact_count = per_second(xacts, usec);
	avg->query_count = per_second(queries, usec);
	avg->bytes_received = per_second(cur->bytes_received - prev->bytes_received, usec);
	avg->bytes_sent = per_second(cur->bytes_sent - prev->bytes_sent, usec);
	avg->xact_time = per_item(cur->xact_time - prev->xact_time, xacts);
	avg->query_time = per_item(cur->query_time - prev->query_time, queries);
	/* PgBouncer divides the wait time by the number of server assignments. */
	avg->wait_time = per_item(cur->wait_time - prev->wait_time, assignments);
	avg->client_parse_count = per_second(cur->client_parse_count - prev->client_parse_count, usec);
	avg->server_parse_count = per_second(cur->server_parse_count - prev->server_parse_count, usec);
	avg->bind_count = per_second(cur->bind_count - prev->bind_count, usec);
}
