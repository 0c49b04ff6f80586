/*
 * tenant_sched.h - which waiting client of a pool gets the next server, tenant by tenant.
 *
 * One pf_tsched per pool. It knows the pool's tenants (their quotas, how many servers each
 * holds, and a FIFO of waiting clients per tenant) and answers "who gets this server?". It
 * is pure data: no sockets, no timers, no libevent, no clock of its own (every time is the
 * caller's `now`, in microseconds of a monotonic clock, and must never go backwards). It
 * does not know how many servers the pool has: the pool asks it only when it has a server
 * to give.
 *
 * Rules (issue #7, doc/config.md "[tenants]"):
 * - A tenant with a cap (its pool_size, > 0) holds at most `cap` servers at once. Once its
 *   oldest waiting client has waited the tenant's reserve timeout (> 0), it may hold
 *   `cap + reserve`. A tenant with cap 0 has no cap of its own.
 * - When a server is free, among the tenants that have waiting clients and room under their
 *   cap, the one with the lowest in_use / weight gets it (compared as in_use_a * weight_b <
 *   in_use_b * weight_a in 64 bits, no floats); ties go to the tenant whose oldest client has
 *   waited longest, then to the earlier enqueue. Within a tenant: FIFO.
 * - Clients of tenants without a [tenants] entry share the implicit group: a tenant with no
 *   cap and weight 1 that exists from pf_tsched_init() on. With tenant_key = none it is the
 *   only tenant, and picks are plain FIFO, as in PgBouncer.
 * - A cap that shrinks below what a tenant holds takes nothing away; the tenant gets no new
 *   server until it is under the new cap again.
 *
 * Cost: with T tenants that have waiting clients, enqueue, remove, pick, take, can_pick,
 * reserve_due, release and set_quota are O(log T), plus O(log T) for each tenant whose
 * reserve timeout ran out since the previous pick/take/can_pick/reserve_due (each crossing
 * is paid once, by whichever call comes first); find is O(1) on average. No operation
 * looks at more than the first waiting client of a tenant, and none allocates except
 * pf_tsched_add() (the tenant, and room for it in the heaps).
 *
 * How it is kept: each tenant with waiting clients is in
 *   - the share heap, ordered by (in_use / weight, oldest wait, enqueue order), when it has
 *     room now; pick() takes its top;
 *   - one of two deadline heaps ordered by (oldest waiter's start + reserve timeout): "not
 *     due" until that moment passes, then "due" while it has room (the answer of
 *     reserve_due()). Crossings are applied lazily, at the start of pick(), take(),
 *     can_pick() and reserve_due(), so they need no timer; next_deadline() says when the
 *     next one is.
 *
 * Typical use by a pool (session/tenant.c and session/link.c do this):
 *   login:    t = pf_tsched_find(s, name), or pf_tsched_add(s, name, &quota) when absent,
 *             for a tenant with a [tenants] entry; else t = pf_tsched_implicit(s).
 *   a client wants a server:
 *             pf_tsched_enqueue(s, t, &client->tsw, client, now); then, while the pool has
 *             an idle server (or may open one) and (w = pf_tsched_pick(s, now)): link w->data.
 *             Every request goes through the queue: with a server at hand, the pick serves
 *             the newcomer at once when its tenant has room, and leaves it behind its
 *             tenant's cap otherwise. Open new servers only while pf_tsched_can_pick():
 *             clients held back by their tenant's cap must not make the pool grow.
 *   client leaves while waiting:   pf_tsched_remove(s, &client->tsw)
 *   a linked client's server is released:  pf_tsched_release(s, t); then pick as above.
 *   janitor / timer at pf_tsched_next_deadline(s): pick again (a capped tenant may now use
 *             its reserve, and an idle server may be waiting for it); and when the pool is
 *             full, r = pf_tsched_reserve_due(s, now) names a tenant whose client waited its
 *             reserve timeout: the pool may open one reserve server (COMPAT.md's rules, with
 *             r's timeout in place of the global one) and give it to pf_tsched_take(s, r, now).
 *   RELOAD:   pf_tsched_set_quota(s, t, &new_quota) per tenant.
 */
#ifndef PF_POOL_TENANT_SCHED_H
#define PF_POOL_TENANT_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "util/htab.h"

struct pf_ts_tenant; /* opaque; read it through the accessors below */

/*
 * A tenant's quota, resolved by the caller from its [tenants] entry and the pool's settings
 * (config.h, struct pf_tenant_conf, says what an unset value falls back to).
 */
struct pf_ts_quota {
	int cap;                /* servers held at once; 0 = no cap of its own */
	int reserve;            /* more servers once the oldest waiter waited reserve_timeout */
	usec_t reserve_timeout; /* 0 = never due: no tenant reserve, no pool reserve for it */
	int weight;             /* >= 1 */
};

/*
 * A waiting client's place in its tenant's queue. The caller embeds one in its client
 * object, so that waiting allocates nothing and leaving is O(1) in the queue. Only `data`
 * is the caller's to read; the rest is private.
 */
struct pf_ts_waiter {
	void *data; /* what pf_tsched_enqueue() was given (the client) */
	usec_t since;
	uint64_t seq;
	struct pf_ts_tenant *tenant; /* NULL when not queued */
	struct pf_ts_waiter *prev, *next;
};

struct pf_tsched {
	struct pf_ts_tenant *implicit;
	struct pf_htab by_name;        /* name -> tenant (keyed hash: clients choose the names) */
	size_t n_tenants;              /* counts the implicit group too */
	struct pf_ts_heap {
		struct pf_ts_tenant **item;
		size_t n;
	} share, notdue, due;
	size_t heap_cap; /* of each heap: n_tenants, so heap operations never allocate */
	uint64_t next_seq;
};

/* Set up `s` with its implicit group (quota: normally { 0, 0, the pool's reserve_pool_timeout, 1 }). */
void pf_tsched_init(struct pf_tsched *s, const struct pf_ts_quota *implicit);
/* Free the tenants. Waiters still queued are just forgotten (they belong to the caller). */
void pf_tsched_free(struct pf_tsched *s);

/* A quota with cap, reserve >= 0, reserve_timeout >= 0, weight >= 1. */
bool pf_ts_quota_valid(const struct pf_ts_quota *q);

/* The implicit group (name NULL). */
struct pf_ts_tenant *pf_tsched_implicit(struct pf_tsched *s);
/* The tenant called `name`, or NULL. */
struct pf_ts_tenant *pf_tsched_find(const struct pf_tsched *s, const char *name);
/* Add tenant `name` (the name is copied). NULL when it exists already or the quota is invalid. */
struct pf_ts_tenant *pf_tsched_add(struct pf_tsched *s, const char *name, const struct pf_ts_quota *q);
/*
 * Drop a tenant that holds no server and has no waiting client (its last client left).
 * Returns 0, or -1 (and keeps it) when it is busy or is the implicit group.
 */
int pf_tsched_remove_tenant(struct pf_tsched *s, struct pf_ts_tenant *t);
/*
 * Change a tenant's quota (RELOAD, SET). What it holds is kept; a shrunk cap only stops
 * new servers. Returns 0, or -1 when the quota is invalid (nothing changes).
 */
int pf_tsched_set_quota(struct pf_tsched *s, struct pf_ts_tenant *t, const struct pf_ts_quota *q);

/*
 * Queue `w` (not queued now) at the end of tenant t's queue, for client `data`, waiting
 * since `since`. Clients should be queued in order of `since`: the FIFO is by arrival, and
 * the reserve timeout counts from the first waiter's `since`.
 */
void pf_tsched_enqueue(struct pf_tsched *s, struct pf_ts_tenant *t, struct pf_ts_waiter *w, void *data,
		       usec_t since);
/* Take `w` out of its queue (the client left, or got a server some other way). No-op when not queued. */
void pf_tsched_remove(struct pf_tsched *s, struct pf_ts_waiter *w);
static inline bool pf_ts_waiter_queued(const struct pf_ts_waiter *w) { return w->tenant != NULL; }

/*
 * A server is free: the waiter who gets it, dequeued, its tenant's in_use counted up; or
 * NULL when no tenant with waiting clients has room.
 */
struct pf_ts_waiter *pf_tsched_pick(struct pf_tsched *s, usec_t now);
/*
 * Like pick, for tenant t only (a server opened on its behalf): its oldest waiter, or NULL
 * when it has no waiter or no room.
 */
struct pf_ts_waiter *pf_tsched_take(struct pf_tsched *s, struct pf_ts_tenant *t, usec_t now);
/* Would pick() give a server to someone now? (A tenant with waiting clients has room.) */
bool pf_tsched_can_pick(struct pf_tsched *s, usec_t now);
/*
 * One of t's servers went back to the pool (or was closed while linked). Returns 0, or -1
 * when t held none (a bookkeeping bug of the caller; nothing changes).
 */
int pf_tsched_release(struct pf_tsched *s, struct pf_ts_tenant *t);

/*
 * The tenant whose oldest waiting client has waited the tenant's reserve timeout and that
 * has room to take a server (under its cap, or under cap + reserve), the one overdue
 * longest; NULL when there is none. The pool may open a reserve server for it when it is
 * full, and should log `tenant NAME taking connection from reserve_pool`.
 */
struct pf_ts_tenant *pf_tsched_reserve_due(struct pf_tsched *s, usec_t now);
/*
 * The next moment a waiting tenant's reserve timeout runs out (so that pick() or
 * reserve_due() may answer differently), or -1 when none is pending. It may be in the past
 * when a queue changed since the last pick/take/reserve_due: call one of those then.
 */
usec_t pf_tsched_next_deadline(const struct pf_tsched *s);

/* Accessors, for the pool and SHOW TENANTS. */
const char *pf_ts_tenant_name(const struct pf_ts_tenant *t); /* NULL for the implicit group */
const struct pf_ts_quota *pf_ts_tenant_quota(const struct pf_ts_tenant *t);
int pf_ts_tenant_in_use(const struct pf_ts_tenant *t);
size_t pf_ts_tenant_waiting(const struct pf_ts_tenant *t);
/* When its oldest waiting client started waiting (maxwait = now - this), or -1 when none waits. */
usec_t pf_ts_tenant_oldest_wait(const struct pf_ts_tenant *t);
/* Servers held past the cap (reserve_in_use of SHOW TENANTS). */
int pf_ts_tenant_over_cap(const struct pf_ts_tenant *t);
/*
 * The caller's own record of a tenant (its counters, its [tenants] entry), so that a name
 * looked up with pf_tsched_find() leads to it without a second table. NULL until set; the
 * scheduler never reads it, and pf_tsched_free() does not free it.
 */
void pf_ts_tenant_set_data(struct pf_ts_tenant *t, void *data);
void *pf_ts_tenant_data(const struct pf_ts_tenant *t);

#endif
