/*
 * tenant.c - clients and their tenants: naming at login, admission, the queue behind the
 * tenant's cap, the reserve timer, and giving a pool back its plain FIFO when its tenants
 * are gone. The decisions themselves are the scheduler's (pool/tenant_sched.c); link.c asks
 * it through the functions here.
 */
#include "session/tenant.h"

#include <stdlib.h>

#include "config/tenants.h"
#include "session/client.h"
#include "session/link.h"
#include "util/buf.h"
#include "util/log.h"

/*
 * A tenant without clients keeps its record (and its SHOW TENANTS totals) this long, so that
 * a function that scales to zero between invocations does not start from nothing each time;
 * then it goes, so that client-chosen names cannot pile up.
 */
#ifndef TENANT_IDLE_USEC /* a build for tests may shorten it */
#define TENANT_IDLE_USEC (60 * USEC_PER_SEC)
#endif

/* The name tenant_key gives the client; NULL or "" = no tenant of its own. */
static const char *tenant_name(const struct pf_client *client, const char *suffix)
{
	int idx;

	switch (pf_state.set->tenant_key) {
	case TENANT_KEY_APPLICATION_NAME:
		/* From the startup packet: a later SET application_name does not move the client. */
		idx = pf_tracked_index("application_name");
		return idx >= 0 ? pf_tracked_get(&client->params, idx) : NULL;
	case TENANT_KEY_USER:
		return client->login_user->name;
	case TENANT_KEY_USER_SUFFIX:
		return suffix;
	default:
		return NULL;
	}
}

static void attach(struct pf_client *client, struct pf_tenant *t)
{
	struct pf_client_tenant *ct = pf_xcalloc(1, sizeof(*ct));

	ct->tenant = t;
	client->tenant = ct;
	t->n_clients++;
}

static void on_timer(evutil_socket_t fd, short what, void *arg);

/*
 * The pool's first client of a tenant with an entry: from now on the scheduler decides for
 * the whole pool, so the clients already there join the implicit group, in their order.
 */
static void start_tenants(struct pf_pool *pool)
{
	struct pf_pool_tenants *pt = pf_pool_tenants_new(pool, on_timer);
	struct pf_tenant *implicit = &pt->implicit;
	usec_t now = (usec_t)pf_usec_now();
	struct list_head *pos, *tmp;

	/* Linked clients first, counted as holding (the queue is still empty: each is its head). */
	statlist_for_each_safe(pos, tmp, &pool->active_clients) {
		struct pf_client *client = container_of(pos, struct pf_client, node);

		attach(client, implicit);
		if (!client->link)
			continue;
		pf_tsched_enqueue(&pt->sched, implicit->ts, &client->tenant->wait, client, now);
		client->tenant->holds = pf_tsched_take(&pt->sched, implicit->ts, now) != NULL;
	}
	statlist_for_each_safe(pos, tmp, &pool->welcome_clients) {
		attach(container_of(pos, struct pf_client, node), implicit);
	}
	statlist_for_each_safe(pos, tmp, &pool->waiting_clients) {
		struct pf_client *client = container_of(pos, struct pf_client, node);

		attach(client, implicit);
		pf_tenant_enqueue(client);
	}
}

/* The last tenant of its own left the pool: back to waiting_clients alone (same order). */
static void stop_tenants(struct pf_pool *pool)
{
	struct stat_list *lists[PF_CLIENT_LISTS];
	struct list_head *pos, *tmp;

	pf_pool_client_lists(pool, lists);

	/* The scheduler first: freeing it walks the waiters still queued, which live in the states. */
	pf_pool_tenants_free(pool);
	for (int i = 0; i < PF_CLIENT_LISTS; i++) {
		statlist_for_each_safe(pos, tmp, lists[i]) {
			struct pf_client *client = container_of(pos, struct pf_client, node);

			free(client->tenant);
			client->tenant = NULL;
		}
	}
}

bool pf_tenant_join(struct pf_client *client, const char *suffix)
{
	struct pf_pool *pool = client->pool;
	const char *name = tenant_name(client, suffix);
	const struct pf_tenant_conf *conf = name && *name ? pf_conf_match_tenant(pf_state.conf, name) : NULL;
	struct pf_tenant *t;
	int max;

	if (!conf && !pool->tenants)
		return true; /* nothing to schedule: the pool stays FIFO, and nothing is allocated */
	if (!pool->tenants)
		start_tenants(pool);
	t = pf_pool_tenant_get(pool, name, conf);
	max = pf_tenant_max_clients(t);
	if (max > 0 && t->n_clients >= max) {
		t->rejected++;
		pf_client_disconnect(client, "53300", "no more connections allowed for tenant %s (max_client_conn)",
				     name);
		return false;
	}
	attach(client, t);
	return true;
}

void pf_tenant_leave(struct pf_client *client)
{
	struct pf_client_tenant *ct = client->tenant;
	struct pf_tenant *t = ct->tenant;
	struct pf_pool_tenants *pt = client->pool->tenants;

	pf_tsched_remove(&pt->sched, &ct->wait);
	pf_tenant_release(client);
	t->n_clients--;
	if (t->n_clients == 0)
		t->idle_since_usec = pf_usec_now();
	free(ct);
	client->tenant = NULL;
}

void pf_tenant_enqueue(struct pf_client *client)
{
	struct pf_pool_tenants *pt = client->pool->tenants;

	if (!client->tenant) /* every client of a pool with tenants has a place; never lose one */
		attach(client, &pt->implicit);
	struct pf_tenant *t = client->tenant->tenant;
	/* A new stretch of waiting, however the last one ended (picked, timed out, left). */
	if (pf_ts_tenant_waiting(t->ts) == 0)
		t->reserve_logged = false;
	pf_tsched_enqueue(&pt->sched, t->ts, &client->tenant->wait, client,
			  (usec_t)client->wait_start_usec);
}

bool pf_tenant_can_pick(struct pf_pool *pool)
{
	return pool->tenants && pf_tsched_can_pick(&pool->tenants->sched, (usec_t)pf_usec_now());
}

struct pf_client *pf_tenant_pick(struct pf_pool *pool)
{
	struct pf_pool_tenants *pt = pool->tenants;
	usec_t now = (usec_t)pf_usec_now();
	struct pf_ts_waiter *w = NULL;
	struct pf_client *client;
	struct pf_tenant *t;

	if (!pt)
		return NULL;
	/* A reserve server was opened for this tenant: it comes first. */
	if (pt->reserve_for) {
		w = pf_tsched_take(&pt->sched, pt->reserve_for->ts, now);
		pt->reserve_for = NULL;
	}
	if (!w)
		w = pf_tsched_pick(&pt->sched, now);
	if (!w)
		return NULL;
	client = w->data;
	client->tenant->holds = true;
	t = client->tenant->tenant;
	t->wait_time += (uint64_t)now - client->wait_start_usec;
	/* Once per stretch of waiting, not once per transaction. */
	if (pf_ts_tenant_over_cap(t->ts) > 0 && !t->reserve_logged) {
		t->reserve_logged = true;
		log_warning("%s/%s: tenant %s taking connection from reserve_pool", pool->db->name, pool->user->name,
			    pf_tenant_name(t));
	}
	return client;
}

void pf_tenant_release(struct pf_client *client)
{
	struct pf_client_tenant *ct = client->tenant;

	if (!ct->holds)
		return;
	ct->holds = false;
	if (pf_tsched_release(&client->pool->tenants->sched, ct->tenant->ts) < 0)
		pf_client_log(client, LOG_LVL_WARNING, "tenant %s released a server it did not hold",
			      pf_tenant_name(ct->tenant));
}

bool pf_tenant_take_reserve(struct pf_pool *pool)
{
	struct pf_pool_tenants *pt = pool->tenants;
	struct pf_ts_tenant *due = pt ? pf_tsched_reserve_due(&pt->sched, (usec_t)pf_usec_now()) : NULL;
	struct pf_tenant *t;

	if (!due || !pf_pool_reserve_room(pool))
		return false;
	t = pf_ts_tenant_data(due);
	if (t == &pt->implicit) {
		/* Clients without a tenant of their own: PgBouncer's rule and line. */
		log_warning("%s/%s: taking connection from reserve_pool", pool->db->name, pool->user->name);
	} else if (!t->reserve_logged) {
		t->reserve_logged = true;
		log_warning("%s/%s: tenant %s taking connection from reserve_pool", pool->db->name, pool->user->name,
			    pf_tenant_name(t));
	}
	pt->reserve_for = t;
	return true;
}

void pf_tenant_arm_timer(struct pf_pool *pool)
{
	struct pf_pool_tenants *pt = pool->tenants;
	usec_t at, now;
	struct timeval tv;

	if (!pt)
		return;
	at = pf_tsched_next_deadline(&pt->sched);
	/* A timer set for later than needed is moved; one set earlier just fires and re-arms. */
	if (at < 0 || (pt->timer_set && pt->timer_at <= at))
		return;
	now = (usec_t)pf_usec_now();
	at = at > now ? at : now;
	tv.tv_sec = (at - now) / USEC_PER_SEC;
	tv.tv_usec = (at - now) % USEC_PER_SEC;
	event_add(&pt->timer, &tv);
	pt->timer_set = true;
	pt->timer_at = at;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct pf_pool *pool = arg;
	struct pf_pool_tenants *pt = pool->tenants;

	pt->timer_set = false;
	/* Apply the crossing now, even when the pool is paused, so the same deadline is not armed again. */
	pf_tsched_can_pick(&pt->sched, (usec_t)pf_usec_now());
	pf_link_maybe_launch(pool);
	pf_tenant_arm_timer(pool);
}

usec_t pf_tenant_wait_timeout(const struct pf_client *client, usec_t pool_limit)
{
	return pf_tenant_wait_limit(client->tenant ? client->tenant->tenant : NULL, pool_limit);
}

usec_t pf_tenant_min_wait_timeout(const struct pf_pool *pool, usec_t pool_limit)
{
	usec_t min = pool_limit;
	struct list_head *pos;

	if (!pool->tenants)
		return min;
	list_for_each(pos, &pool->tenants->list) {
		const struct pf_tenant *t = container_of(pos, struct pf_tenant, node);
		usec_t limit = pf_tenant_wait_limit(t, pool_limit);

		if (limit > 0 && (min <= 0 || limit < min))
			min = limit;
	}
	return min;
}

void pf_tenant_janitor(struct pf_pool *pool, uint64_t now)
{
	struct pf_pool_tenants *pt = pool->tenants;
	struct list_head *pos, *tmp;

	if (!pt)
		return;
	list_for_each_safe(pos, tmp, &pt->list) {
		struct pf_tenant *t = container_of(pos, struct pf_tenant, node);

		if (t != &pt->implicit && t->n_clients == 0 && now - t->idle_since_usec > (uint64_t)TENANT_IDLE_USEC)
			pf_pool_tenant_drop(t);
	}
	if (pf_htab_count(&pt->sched.by_name) == 0) /* only the implicit group is left */
		stop_tenants(pool);
}

void pf_tenant_apply_settings(void)
{
	struct pf_pool *pool;

	pf_for_each_pool(pool) {
		if (!pool->tenants)
			continue;
		pf_pool_tenants_refresh(pool);
		pf_link_maybe_launch(pool);
	}
}
