/*
 * dns.h - asynchronous host name resolution (c-ares) driven by the libevent loop.
 *
 * Lookups use the hosts file first, then DNS, and never block the loop. Answers are
 * cached per host name (without port): positive ones for min(record TTL, dns_max_ttl),
 * failures for dns_nxdomain_ttl. Concurrent lookups of one name share one query.
 * Numeric addresses are answered at once without c-ares.
 *
 * The cache also watches: when a name's new answer has other addresses than its last
 * good one, the change hook is told (servers on the old addresses must go). With
 * dns_zone_check_period, the SOA serial of every zone (a name minus its first label) is
 * polled, and a changed serial makes its names be looked up again at once.
 *
 * Callbacks run from the event loop, never from inside pf_dns_lookup().
 */
#ifndef PF_NET_DNS_H
#define PF_NET_DNS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"

struct event_base;
struct pf_dns_req;

#define PF_DNS_MAX_ADDRS 8

struct pf_dns_result {
	int status;            /* 0 = ok, else an ARES_* code */
	const char *error;     /* human text, e.g. "Domain name not found"; never NULL */
	int naddrs;
	struct sockaddr_storage addrs[PF_DNS_MAX_ADDRS];
	socklen_t addrlens[PF_DNS_MAX_ADDRS];
};

/* res is only valid during the call; copy what you keep. */
typedef void (*pf_dns_cb)(void *arg, const struct pf_dns_result *res);

/*
 * Create the resolver on base. resolv_conf NULL or "" = the system's /etc/resolv.conf.
 * Returns 0, or -1 (logged) when c-ares cannot be set up or it is already initialised.
 */
int pf_dns_init(struct event_base *base, const char *resolv_conf, usec_t max_ttl, usec_t nxdomain_ttl);
/* On reload; applies to cached answers too (their expiry is computed from these). */
void pf_dns_set_ttls(usec_t max_ttl, usec_t nxdomain_ttl);
/* dns_zone_check_period: poll zone serials this often; 0 = off. */
void pf_dns_set_zone_check_period(usec_t period);
/*
 * Free everything (before event_base_free); pending callbacks are not called and their
 * requests are gone. Called from inside a pf_dns callback, it stops all further
 * callbacks at once and frees when that callback returns. pf_dns_init() may follow.
 */
void pf_dns_shutdown(void);

/*
 * Resolve host for the given port (IPv4 and IPv6; at most PF_DNS_MAX_ADDRS addresses;
 * with several, each lookup's list starts one further: round-robin). Returns 1 and fills
 * *now when the answer is known at once: numeric address, fresh cache entry (positive or
 * negative), or an answer c-ares had without waiting (hosts file). Returns 0 when pending
 * and sets *req_out: cb is then called later from the loop, exactly once, unless cancelled.
 */
int pf_dns_lookup(const char *host, int port, pf_dns_cb cb, void *arg, struct pf_dns_result *now,
		  struct pf_dns_req **req_out);
/*
 * The callback will not be called. Safe at any time, also from inside another callback;
 * req must not be used after its callback ran or after this. NULL is ignored.
 */
void pf_dns_cancel(struct pf_dns_req *req);

/*
 * If host's cached answer has expired and no query for it is running, start one; its
 * result goes to the cache (and the change hook), nobody waits for it. For names in use
 * by open connections, so that an address change is noticed without new lookups.
 */
void pf_dns_refresh(const char *host);

/*
 * Called when a successful answer for host has other addresses (ports 0) than the last
 * successful one; failures in between do not count. From the loop, before the waiters
 * of that answer are called; the hook may look names up, but not shut the resolver down.
 */
typedef void (*pf_dns_change_hook)(const char *host, const struct pf_dns_result *res);
void pf_dns_set_change_hook(pf_dns_change_hook hook);
/* Does res hold sa's address (port ignored)? */
bool pf_dns_result_has(const struct pf_dns_result *res, const struct sockaddr *sa);

/* For SHOW DNS_HOSTS: cached names that have an answer; addrs_text is "a1,a2" ("" for failures). */
typedef void (*pf_dns_host_visit)(void *arg, const char *host, usec_t ttl_left, const char *addrs_text);
void pf_dns_foreach_host(pf_dns_host_visit visit, void *arg);
/* For SHOW DNS_ZONES: zones are collected once dns_zone_check_period is on; serial 0 = not known yet. */
typedef void (*pf_dns_zone_visit)(void *arg, const char *zone, uint32_t serial, int names);
void pf_dns_foreach_zone(pf_dns_zone_visit visit, void *arg);
/* Lookups whose callback is still due. */
int pf_dns_pending_count(void);

/* For SHOW LISTS: dns_names, dns_zones, dns_queries, dns_pending. */
struct pf_dns_stats {
	int names;    /* cached host names */
	int zones;    /* zones collected for serial checks */
	int queries;  /* c-ares queries in flight */
	int pending;  /* = pf_dns_pending_count() */
};
void pf_dns_get_stats(struct pf_dns_stats *st);

/*
 * For tests and tools. Set before pf_dns_init(): per-try timeout and tries. Without it,
 * the resolv.conf in use sets them ("options timeout:S attempts:N", or c-ares's
 * "retrans:MS retry:N"), else 5000 ms and 2 tries.
 * After pf_dns_init(): replace the name servers with "ip[:port],..." (c-ares 1.18 reads
 * no ports from resolv.conf). Returns 0 or an ARES_* code.
 */
void pf_dns_set_query_timeout(int timeout_ms, int tries);
int pf_dns_set_servers(const char *servers_csv);

#endif
