/* pool_tenants.c - a pool's tenant records and their quotas (see pool_tenants.h). */
#include "pool/pool_tenants.h"

#include <stdlib.h>

#include "config/tenants.h"
#include "pool/pool.h"
#include "util/buf.h"
#include "util/log.h"

/*
 * What a [tenants] entry means in this pool (config.h, struct pf_tenant_conf, gives the
 * fallbacks); no entry = the implicit group: no cap, the global reserve timeout, so that it
 * may still use the pool's reserve exactly as a PgBouncer pool would.
 */
static void quota_of(const struct pf_tenant_conf *tc, struct pf_ts_quota *q)
{
	const struct pf_settings *set = pf_state.set;

	q->cap = tc && tc->pool_size > 0 ? tc->pool_size : 0;
	q->reserve = tc && tc->reserve_pool_size > 0 ? tc->reserve_pool_size : 0;
	q->reserve_timeout = tc && tc->reserve_pool_timeout >= 0 ? tc->reserve_pool_timeout : set->reserve_pool_timeout;
	q->weight = tc && tc->weight >= 1 ? tc->weight : 1;
}

static void record_init(struct pf_tenant *t, struct pf_pool *pool, struct pf_ts_tenant *ts,
			const struct pf_tenant_conf *conf)
{
	t->ts = ts;
	t->pool = pool;
	t->conf = conf;
	t->idle_since_usec = pf_usec_now();
	pf_ts_tenant_set_data(ts, t);
}

struct pf_pool_tenants *pf_pool_tenants_new(struct pf_pool *pool, event_callback_fn on_timer)
{
	struct pf_pool_tenants *pt = pf_xcalloc(1, sizeof(*pt));
	struct pf_ts_quota q;

	quota_of(NULL, &q);
	pf_tsched_init(&pt->sched, &q);
	list_init(&pt->list);
	record_init(&pt->implicit, pool, pf_tsched_implicit(&pt->sched), NULL);
	list_add_tail(&pt->list, &pt->implicit.node);
	event_assign(&pt->timer, pf_state.base, -1, 0, on_timer, pool);
	pool->tenants = pt;
	return pt;
}

void pf_pool_tenants_free(struct pf_pool *pool)
{
	struct pf_pool_tenants *pt = pool->tenants;
	struct list_head *pos, *tmp;

	if (!pt)
		return;
	if (pt->timer_set)
		event_del(&pt->timer);
	list_for_each_safe(pos, tmp, &pt->list) {
		struct pf_tenant *t = container_of(pos, struct pf_tenant, node);

		if (t != &pt->implicit)
			free(t);
	}
	pf_tsched_free(&pt->sched);
	free(pt);
	pool->tenants = NULL;
}

struct pf_tenant *pf_pool_tenant_get(struct pf_pool *pool, const char *name, const struct pf_tenant_conf *conf)
{
	struct pf_pool_tenants *pt = pool->tenants;
	struct pf_ts_tenant *ts;
	struct pf_ts_quota q;
	struct pf_tenant *t;

	if (!conf)
		return &pt->implicit;
	ts = pf_tsched_find(&pt->sched, name);
	if (ts)
		return pf_ts_tenant_data(ts);
	quota_of(conf, &q);
	ts = pf_tsched_add(&pt->sched, name, &q);
	if (!ts) /* the loader checked the values: cannot happen, but never lose the client */
		return &pt->implicit;
	t = pf_xcalloc(1, sizeof(*t));
	record_init(t, pool, ts, conf);
	list_add_tail(&pt->list, &t->node);
	return t;
}

void pf_pool_tenant_drop(struct pf_tenant *t)
{
	struct pf_pool_tenants *pt = t->pool->tenants;

	if (t == &pt->implicit || t->n_clients > 0 || pf_tsched_remove_tenant(&pt->sched, t->ts) < 0)
		return;
	if (pt->reserve_for == t)
		pt->reserve_for = NULL;
	list_del(&t->node);
	free(t);
}

void pf_pool_tenants_refresh(struct pf_pool *pool)
{
	struct pf_pool_tenants *pt = pool->tenants;
	struct list_head *pos;
	struct pf_ts_quota q;

	if (!pt)
		return;
	list_for_each(pos, &pt->list) {
		struct pf_tenant *t = container_of(pos, struct pf_tenant, node);

		/*
		 * The old entry is freed with the old config: look the name up again. A tenant
		 * whose entry is gone keeps its record (its clients stay where they are) with no
		 * quota of its own; one that matched nothing at login stays in the implicit group.
		 */
		if (t != &pt->implicit)
			t->conf = pf_conf_match_tenant(pf_state.conf, pf_ts_tenant_name(t->ts));
		quota_of(t->conf, &q);
		const struct pf_ts_quota *old = pf_ts_tenant_quota(t->ts);
		if (old->cap == q.cap && old->reserve == q.reserve && old->reserve_timeout == q.reserve_timeout &&
		    old->weight == q.weight)
			continue; /* set_quota would restart its reserve deadline for nothing */
		if (pf_tsched_set_quota(&pt->sched, t->ts, &q) == 0 && t != &pt->implicit)
			log_info("%s/%s: tenant %s: pool_size=%d reserve_pool_size=%d weight=%d", pool->db->name,
				 pool->user->name, pf_tenant_name(t), q.cap, q.reserve, q.weight);
	}
}

const char *pf_tenant_name(const struct pf_tenant *t)
{
	const char *name = pf_ts_tenant_name(t->ts);

	return name ? name : "";
}

usec_t pf_tenant_wait_limit(const struct pf_tenant *t, usec_t pool_limit)
{
	return t && t->conf && t->conf->query_wait_timeout >= 0 ? t->conf->query_wait_timeout : pool_limit;
}

int pf_tenant_max_clients(const struct pf_tenant *t)
{
	return t->conf && t->conf->max_client_conn > 0 ? t->conf->max_client_conn : 0;
}
