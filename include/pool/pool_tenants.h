/*
 * pool_tenants.h - the tenants of one pool: its scheduler (tenant_sched.h), a record per
 * tenant with what SHOW TENANTS counts, and the quotas resolved from [tenants].
 *
 * A pool gets this only when a client of a tenant with a [tenants] entry joins it. Pools
 * that never see one (tenant_key = none, or names that match no entry) never allocate it:
 * their clients queue on pool->waiting_clients alone, first come first served, exactly as
 * before tenants existed. While a pool has it, every logged-in client of the pool has a
 * place in it (session/tenant.c keeps that true), so the scheduler alone decides who gets a
 * server.
 */
#ifndef PF_POOL_POOL_TENANTS_H
#define PF_POOL_POOL_TENANTS_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "pool/tenant_sched.h"
#include "util/list.h"

struct pf_pool;

/* One tenant of one pool (the implicit group included). */
struct pf_tenant {
	struct list_head node;             /* in pf_pool_tenants.list, the implicit group first */
	struct pf_ts_tenant *ts;           /* its place in the scheduler */
	struct pf_pool *pool;
	const struct pf_tenant_conf *conf; /* its [tenants] entry in the running config; NULL = none */
	int n_clients;                     /* logged-in clients (its max_client_conn counts these) */
	uint64_t idle_since_usec;          /* when n_clients last fell to 0 (dropped after a while) */
	uint64_t xact_count;               /* SHOW TENANTS totals, since the record was made */
	uint64_t wait_time;
	uint64_t rejected;                 /* logins refused by its max_client_conn */
	bool reserve_logged;               /* "taking connection from reserve_pool" said for this wait */
};

struct pf_pool_tenants {
	struct pf_tsched sched;
	struct pf_tenant implicit;         /* clients whose tenant has no [tenants] entry */
	struct list_head list;             /* every pf_tenant of the pool */
	/* The server the pool is logging in now was opened as a reserve for this tenant: the
	 * next free server goes to it first (pf_tsched_take). Cleared when it is dropped. */
	struct pf_tenant *reserve_for;
	/* Fires at the next reserve deadline (pf_tsched_next_deadline): a 0.2 s timeout cannot
	 * wait for the janitor's 1 s tick. */
	struct event timer;
	bool timer_set;
	usec_t timer_at;
};

/* Make pool->tenants (the timer calls on_timer with the pool). */
struct pf_pool_tenants *pf_pool_tenants_new(struct pf_pool *pool, event_callback_fn on_timer);
/* Free pool->tenants and its records (its clients must have let go of theirs). */
void pf_pool_tenants_free(struct pf_pool *pool);

/*
 * The record of the tenant `name` has in this pool: found, or added when `conf` (its
 * [tenants] entry) is given; the implicit group when conf is NULL.
 */
struct pf_tenant *pf_pool_tenant_get(struct pf_pool *pool, const char *name, const struct pf_tenant_conf *conf);
/* Drop a named tenant without clients (and so without servers or waiters). */
void pf_pool_tenant_drop(struct pf_tenant *t);
/* RELOAD or SET: entries and global settings may have changed; quotas follow at once. */
void pf_pool_tenants_refresh(struct pf_pool *pool);

/* "" for the implicit group. */
const char *pf_tenant_name(const struct pf_tenant *t);
/* The tenant's query_wait_timeout: its entry's, else the pool's (pool_limit; 0 = off). */
usec_t pf_tenant_wait_limit(const struct pf_tenant *t, usec_t pool_limit);
/* Its max_client_conn; 0 = no limit of its own. */
int pf_tenant_max_clients(const struct pf_tenant *t);

#endif
