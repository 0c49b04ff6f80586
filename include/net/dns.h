/*
 * dns.h - asynchronous host name resolution (c-ares) driven by the libevent loop.
 *
 * Lookups use the hosts file first, then DNS, and never block the loop. Answers are
 * cached per host name (without port): positive ones for min(record TTL, dns_max_ttl),
 * failures for dns_nxdomain_ttl. Concurrent lookups of one name share one query.
 * Numeric addresses are answered at once without c-ares.
 *
 * Callbacks run from the event loop, never from inside pf_dns_lookup().
 */
#ifndef PF_NET_DNS_H
#define PF_NET_DNS_H

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
/*
 * Free everything (before event_base_free); pending callbacks are not called and their
 * requests are gone. Called from inside a pf_dns callback, it stops all further
 * callbacks at once and frees when that callback returns. pf_dns_init() may follow.
 */
void pf_dns_shutdown(void);

/*
 * Resolve host for the given port (IPv4 and IPv6, in the resolver's order; at most
 * PF_DNS_MAX_ADDRS addresses). Returns 1 and fills *now when the answer is known at
 * once: numeric address, fresh cache entry (positive or negative), or an answer
 * c-ares had without waiting (hosts file). Returns 0 when pending and sets *req_out:
 * cb is then called later from the loop, exactly once, unless cancelled.
 */
int pf_dns_lookup(const char *host, int port, pf_dns_cb cb, void *arg, struct pf_dns_result *now,
		  struct pf_dns_req **req_out);
/*
 * The callback will not be called. Safe at any time, also from inside another callback;
 * req must not be used after its callback ran or after this. NULL is ignored.
 */
void pf_dns_cancel(struct pf_dns_req *req);

/* For SHOW DNS_HOSTS: cached names that have an answer; addrs_text is "a1,a2" ("" for failures). */
typedef void (*pf_dns_host_visit)(void *arg, const char *host, usec_t ttl_left, const char *addrs_text);
void pf_dns_foreach_host(pf_dns_host_visit visit, void *arg);
/* Lookups whose callback is still due. */
int pf_dns_pending_count(void);

/* For SHOW LISTS: dns_names, dns_queries, dns_pending. */
struct pf_dns_stats {
	int names;    /* cached host names */
	int queries;  /* c-ares queries in flight */
	int pending;  /* = pf_dns_pending_count() */
};
void pf_dns_get_stats(struct pf_dns_stats *st);

/*
 * For tests and tools. Set before pf_dns_init(): per-try timeout and tries (default
 * 5000 ms, 2). After pf_dns_init(): replace the name servers with "ip[:port],..."
 * (c-ares 1.18 reads no ports from resolv.conf). Returns 0 or an ARES_* code.
 */
void pf_dns_set_query_timeout(int timeout_ms, int tries);
int pf_dns_set_servers(const char *servers_csv);

#endif
