/*
 * show_tenants.c - SHOW TENANTS: one row per tenant of every pool that has tenants (issue
 * #7). A pgfjord command of its own, so that PgBouncer's SHOW POOLS keeps its columns; the
 * types follow SHOW POOLS (int4 for what is there now) and the totals are int8.
 */
#include "admin/admin.h"
#include "admin/resultset.h"
#include "pool/pool.h"
#include "pool/pool_tenants.h"

static void tenant_row(struct pf_rs *rs, const struct pf_tenant *t, uint64_t now)
{
	const struct pf_pool *pool = t->pool;
	const struct pf_ts_quota *q = pf_ts_tenant_quota(t->ts);
	int waiting = (int)pf_ts_tenant_waiting(t->ts);
	usec_t oldest = pf_ts_tenant_oldest_wait(t->ts);
	uint64_t wait = oldest >= 0 && (uint64_t)oldest < now ? now - (uint64_t)oldest : 0;

	pf_rs_row(rs);
	pf_rs_text(rs, pool->db->name);
	pf_rs_text(rs, pool->user->name);
	pf_rs_text(rs, pf_tenant_name(t)); /* "" = clients whose tenant has no [tenants] entry */
	pf_rs_int(rs, t->n_clients - waiting);
	pf_rs_int(rs, waiting);
	pf_rs_int(rs, pf_ts_tenant_in_use(t->ts));
	pf_rs_int(rs, q->cap);
	pf_rs_int(rs, q->reserve);
	pf_rs_int(rs, pf_ts_tenant_over_cap(t->ts));
	pf_rs_int(rs, q->weight);
	pf_rs_int(rs, (int64_t)(wait / 1000000ULL));
	pf_rs_int(rs, (int64_t)(wait % 1000000ULL));
	pf_rs_uint(rs, t->xact_count);
	pf_rs_uint(rs, t->wait_time);
	pf_rs_uint(rs, t->rejected);
}

void pf_admin_show_tenants(struct pf_buf *out)
{
	static const char *const cols[] = { "database", "user", "tenant", "cl_active", "cl_waiting", "sv_active",
					    "pool_size", "reserve_pool_size", "reserve_in_use", "weight", "maxwait",
					    "maxwait_us", "total_xact_count", "total_wait_time", "rejected" };
	struct pf_rs rs;
	struct pf_pool *pool;
	uint64_t now = pf_usec_now();

	pf_rs_begin(&rs, out, "sssiiiiiiiiiqqq", cols);
	pf_for_each_pool(pool) {
		struct list_head *pos;

		if (!pool->tenants)
			continue;
		list_for_each(pos, &pool->tenants->list) {
			tenant_row(&rs, container_of(pos, struct pf_tenant, node), now);
		}
	}
	pf_rs_end(&rs, "SHOW");
}
