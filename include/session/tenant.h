/*
 * tenant.h - a client's tenant (issue #7): named at login by tenant_key, admitted under the
 * tenant's max_client_conn, queued behind the tenant's cap while it waits for a server.
 *
 * A client has tenant state (client->tenant) only while its pool has tenants (pool->tenants,
 * pool/pool_tenants.h). With tenant_key = none, or when no client of the pool matches a
 * [tenants] entry, nothing here allocates, and link.c takes PgBouncer's plain FIFO path.
 */
#ifndef PF_SESSION_TENANT_H
#define PF_SESSION_TENANT_H

#include <stdbool.h>
#include <stdint.h>

#include "pool/pool_tenants.h"

struct pf_client;
struct pf_pool;

struct pf_client_tenant {
	struct pf_tenant *tenant;  /* in client->pool; the implicit group when no entry matched */
	struct pf_ts_waiter wait;  /* its place in the tenant's queue while CL_WAITING */
	bool holds;                /* holds a server, counted in the tenant's in_use */
};

/*
 * Login (client->pool set, not yet greeted): join the tenant that tenant_key names
 * (`suffix` is the user_suffix part of the login, or NULL). False when the tenant's
 * max_client_conn refused it: the client is closed then.
 */
bool pf_tenant_join(struct pf_client *client, const char *suffix);
/* The client is closing: out of the queue, and its server (if it still holds one) let go. */
void pf_tenant_leave(struct pf_client *client);

/* The client (CL_WAITING now, in a pool with tenants) queues behind its tenant. */
void pf_tenant_enqueue(struct pf_client *client);
/* Would a waiting client of the pool get a server now (its tenant has room)? */
bool pf_tenant_can_pick(struct pf_pool *pool);
/* A server is free: the waiting client that gets it, dequeued and counted; NULL = nobody. */
struct pf_client *pf_tenant_pick(struct pf_pool *pool);
/* The client's server goes back to the pool (pf_link_unlink). */
void pf_tenant_release(struct pf_client *client);
/*
 * The pool is full: true when a waiting tenant's client waited the tenant's
 * reserve_pool_timeout and the pool may open a reserve server for it (COMPAT.md's rules,
 * the tenant's timeout in place of the global one). The caller opens it; it goes to that
 * tenant first.
 */
bool pf_tenant_take_reserve(struct pf_pool *pool);
/* Arm the pool's timer at its next reserve deadline. */
void pf_tenant_arm_timer(struct pf_pool *pool);

/* query_wait_timeout of a waiting client: its tenant's, else `pool_limit`. */
usec_t pf_tenant_wait_timeout(const struct pf_client *client, usec_t pool_limit);
/* The smallest query_wait_timeout (> 0) among the pool's tenants and `pool_limit`; 0 = none. */
usec_t pf_tenant_min_wait_timeout(const struct pf_pool *pool, usec_t pool_limit);

/* Janitor: drop tenants idle for a while; a pool left with no tenant of its own goes back to FIFO. */
void pf_tenant_janitor(struct pf_pool *pool, uint64_t now);
/* RELOAD or SET: quotas follow the running config, and waiters a bigger cap lets in are served. */
void pf_tenant_apply_settings(void);

#endif
