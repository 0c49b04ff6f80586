/*
 * test_tenant_sched.c - the per-pool tenant scheduler (pool/tenant_sched.h) as pure code:
 * caps, weights, per-tenant reserve timeouts, FIFO, ties, removal, shrinking caps, the
 * implicit group, and a randomized run against a reference model that scans everything.
 *
 * Times are a fake clock in microseconds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool/tenant_sched.h"

#define MS(x) ((usec_t)(x) * 1000)
#define SEC(x) ((usec_t)(x) * USEC_PER_SEC)

static const struct pf_ts_quota no_quota = { 0, 0, 0, 1 };

/* A client: its id and its place in a queue. */
struct client {
	int id;
	struct pf_ts_waiter w;
};

static struct pf_ts_tenant *add(struct pf_tsched *s, const char *name, int cap, int reserve, usec_t rt, int weight)
{
	struct pf_ts_quota q = { cap, reserve, rt, weight };
	struct pf_ts_tenant *t = pf_tsched_add(s, name, &q);

	assert_non_null(t);
	return t;
}

static void enqueue(struct pf_tsched *s, struct pf_ts_tenant *t, struct client *c, int id, usec_t since)
{
	c->id = id;
	pf_tsched_enqueue(s, t, &c->w, c, since);
}

/* The id of the client that pick() serves, or -1 for none. */
static int pick_id(struct pf_tsched *s, usec_t now)
{
	struct pf_ts_waiter *w = pf_tsched_pick(s, now);

	if (!w)
		return -1;
	assert_false(pf_ts_waiter_queued(w));
	return ((struct client *)w->data)->id;
}

static int take_id(struct pf_tsched *s, struct pf_ts_tenant *t, usec_t now)
{
	struct pf_ts_waiter *w = pf_tsched_take(s, t, now);

	return w ? ((struct client *)w->data)->id : -1;
}

/* ---- the implicit group: plain FIFO, no cap ---- */

static void test_implicit_fifo(void **state)
{
	struct pf_tsched s;
	struct client c[50];
	struct pf_ts_tenant *imp;

	pf_tsched_init(&s, &no_quota);
	imp = pf_tsched_implicit(&s);
	assert_null(pf_ts_tenant_name(imp));
	assert_null(pf_tsched_pick(&s, 0));
	assert_false(pf_tsched_can_pick(&s, 0));
	for (int i = 0; i < 50; i++)
		enqueue(&s, imp, &c[i], i, MS(i));
	assert_int_equal(pf_ts_tenant_waiting(imp), 50);
	assert_true(pf_ts_tenant_oldest_wait(imp) == 0);
	for (int i = 0; i < 50; i++) {
		assert_true(pf_tsched_can_pick(&s, MS(100)));
		assert_int_equal(pick_id(&s, MS(100)), i);
	}
	assert_int_equal(pf_ts_tenant_in_use(imp), 50); /* no cap of its own */
	assert_int_equal(pf_ts_tenant_over_cap(imp), 0);
	assert_int_equal(pick_id(&s, MS(100)), -1);
	assert_true(pf_ts_tenant_oldest_wait(imp) == -1);
	for (int i = 0; i < 50; i++)
		assert_int_equal(pf_tsched_release(&s, imp), 0);
	assert_int_equal(pf_ts_tenant_in_use(imp), 0);
	assert_int_equal(pf_tsched_release(&s, imp), -1); /* held nothing: refused, not negative */
	assert_int_equal(pf_ts_tenant_in_use(imp), 0);
	pf_tsched_free(&s);
}

/* ---- caps ---- */

static void test_caps(void **state)
{
	struct pf_tsched s;
	struct client c[6];
	struct pf_ts_tenant *a;

	pf_tsched_init(&s, &no_quota);
	a = add(&s, "a", 2, 0, 0, 1);
	for (int i = 0; i < 4; i++)
		enqueue(&s, a, &c[i], i, MS(i));
	assert_int_equal(pick_id(&s, MS(10)), 0);
	assert_int_equal(pick_id(&s, MS(10)), 1);
	/* At its cap: the pool may have idle servers, the tenant waits anyway. */
	assert_false(pf_tsched_can_pick(&s, MS(10)));
	assert_int_equal(pick_id(&s, MS(10)), -1);
	assert_int_equal(take_id(&s, a, MS(10)), -1);
	assert_int_equal(pf_ts_tenant_in_use(a), 2);
	assert_int_equal(pf_ts_tenant_waiting(a), 2);
	assert_true(pf_ts_tenant_oldest_wait(a) == MS(2));
	/* No reserve (reserve 0): waiting long changes nothing. */
	assert_int_equal(pick_id(&s, SEC(1000)), -1);
	assert_null(pf_tsched_reserve_due(&s, SEC(1000)));

	pf_tsched_release(&s, a);
	assert_int_equal(pick_id(&s, SEC(1000)), 2);
	assert_int_equal(pick_id(&s, SEC(1000)), -1);
	pf_tsched_release(&s, a);
	assert_int_equal(take_id(&s, a, SEC(1000)), 3);
	assert_int_equal(take_id(&s, a, SEC(1000)), -1); /* nobody left */
	pf_tsched_free(&s);
}

/* ---- weights ---- */

static void test_weights(void **state)
{
	struct pf_tsched s;
	static struct client ca[100], cb[100];
	struct pf_ts_tenant *a, *b;

	pf_tsched_init(&s, &no_quota);
	a = add(&s, "heavy", 0, 0, 0, 2);
	b = add(&s, "light", 0, 0, 0, 1);
	for (int i = 0; i < 100; i++) {
		enqueue(&s, b, &cb[i], 1000 + i, MS(i)); /* b's clients came first */
		enqueue(&s, a, &ca[i], i, MS(i));
	}
	/* Under contention, the weight-2 tenant holds twice what the weight-1 one does. */
	for (int n = 1; n <= 30; n++) {
		assert_true(pick_id(&s, SEC(1)) >= 0);
		int ia = pf_ts_tenant_in_use(a), ib = pf_ts_tenant_in_use(b);
		assert_int_equal(ia + ib, n);
		if (ia - 2 * ib > 2 || 2 * ib - ia > 2)
			fail_msg("after %d picks: heavy %d, light %d", n, ia, ib);
	}
	assert_int_equal(pf_ts_tenant_in_use(a), 20);
	assert_int_equal(pf_ts_tenant_in_use(b), 10);

	/* Steady state: whoever releases, the next server keeps the 2:1 split. */
	for (int n = 0; n < 60; n++) {
		pf_tsched_release(&s, n % 3 == 0 ? b : a);
		assert_true(pick_id(&s, SEC(2)) >= 0);
		int ia = pf_ts_tenant_in_use(a), ib = pf_ts_tenant_in_use(b);
		assert_int_equal(ia + ib, 30);
		assert_true(ia >= 19 && ia <= 21);
	}
	pf_tsched_free(&s);
}

/* ---- reserve, per tenant, after the tenant's own timeout ---- */

static void test_reserve_per_tenant_timeout(void **state)
{
	struct pf_tsched s;
	struct client c[8];
	struct pf_ts_tenant *a, *b;

	pf_tsched_init(&s, &no_quota);
	a = add(&s, "a", 1, 1, MS(200), 1);
	b = add(&s, "b", 1, 1, SEC(3), 1);
	enqueue(&s, a, &c[0], 0, 0);
	enqueue(&s, b, &c[1], 1, 0);
	assert_int_equal(pick_id(&s, 0), 0);
	assert_int_equal(pick_id(&s, 0), 1);
	/* Both at their cap of 1, one client each waiting from t = 0. */
	enqueue(&s, a, &c[2], 2, 0);
	enqueue(&s, b, &c[3], 3, 0);
	enqueue(&s, a, &c[4], 4, MS(100));
	assert_true(pf_tsched_next_deadline(&s) == MS(200));
	assert_int_equal(pick_id(&s, MS(199)), -1);
	assert_null(pf_tsched_reserve_due(&s, MS(199)));

	/* a's oldest client has waited 0.2 s: a may take its reserve, b not yet. */
	assert_ptr_equal(pf_tsched_reserve_due(&s, MS(200)), a);
	assert_true(pf_tsched_can_pick(&s, MS(200)));
	assert_int_equal(pick_id(&s, MS(200)), 2);
	assert_int_equal(pf_ts_tenant_in_use(a), 2);
	assert_int_equal(pf_ts_tenant_over_cap(a), 1);
	/* cap + reserve reached: a's next client waits however long it waits. */
	assert_int_equal(pick_id(&s, SEC(2)), -1);
	assert_true(pf_tsched_next_deadline(&s) == SEC(3));
	assert_int_equal(pick_id(&s, SEC(3) - 1), -1);
	assert_null(pf_tsched_reserve_due(&s, SEC(3) - 1));

	/* b after its 3 s, served by a server opened for it. */
	assert_ptr_equal(pf_tsched_reserve_due(&s, SEC(3)), b);
	assert_int_equal(take_id(&s, b, SEC(3)), 3);
	assert_int_equal(pf_ts_tenant_over_cap(b), 1);
	assert_null(pf_tsched_reserve_due(&s, SEC(3)));
	assert_true(pf_tsched_next_deadline(&s) == -1);

	/* a drops back under cap + reserve: its waiter (waiting since 0.1 s) gets the server. */
	pf_tsched_release(&s, a);
	assert_int_equal(pick_id(&s, SEC(4)), 4);
	pf_tsched_free(&s);
}

/* The reserve timeout counts from the oldest waiter, and starts over for the next one. */
static void test_reserve_counts_from_oldest_waiter(void **state)
{
	struct pf_tsched s;
	struct client c[4];
	struct pf_ts_tenant *a;

	pf_tsched_init(&s, &no_quota);
	a = add(&s, "a", 1, 3, SEC(1), 1);
	enqueue(&s, a, &c[0], 0, 0);
	assert_int_equal(pick_id(&s, 0), 0);
	enqueue(&s, a, &c[1], 1, MS(500));
	enqueue(&s, a, &c[2], 2, MS(900));
	enqueue(&s, a, &c[3], 3, MS(1800));
	assert_true(pf_tsched_next_deadline(&s) == MS(1500));
	assert_int_equal(pick_id(&s, MS(1499)), -1);
	assert_int_equal(pick_id(&s, MS(1500)), 1);
	/* Client 2 has waited only 0.6 s of its 1 s. */
	assert_int_equal(pick_id(&s, MS(1500)), -1);
	assert_true(pf_tsched_next_deadline(&s) == MS(1900));
	/* It leaves; client 3's clock is its own. */
	pf_tsched_remove(&s, &c[2].w);
	assert_true(pf_tsched_next_deadline(&s) == MS(2800));
	assert_int_equal(pick_id(&s, MS(2000)), -1);
	assert_int_equal(pick_id(&s, MS(2800)), 3);
	pf_tsched_free(&s);
}

/*
 * A tenant under its cap that waits because the pool is full: once it waited its own
 * timeout, reserve_due names it, so that the pool may open a reserve server for it.
 * The implicit group, given the global timeout, behaves like a PgBouncer pool.
 */
static void test_pool_reserve_for_tenant(void **state)
{
	struct pf_tsched s;
	struct client c[4];
	struct pf_ts_quota global = { 0, 0, SEC(5), 1 };
	struct pf_ts_tenant *cold, *imp;

	pf_tsched_init(&s, &global);
	imp = pf_tsched_implicit(&s);
	cold = add(&s, "cold", 3, 0, MS(200), 1);
	enqueue(&s, imp, &c[0], 0, 0);
	enqueue(&s, cold, &c[1], 1, MS(100));
	/* The pool is full: nobody calls pick. */
	assert_null(pf_tsched_reserve_due(&s, MS(299)));
	assert_ptr_equal(pf_tsched_reserve_due(&s, MS(300)), cold);
	assert_int_equal(take_id(&s, cold, MS(300)), 1);
	assert_null(pf_tsched_reserve_due(&s, SEC(5) - 1));
	assert_ptr_equal(pf_tsched_reserve_due(&s, SEC(5)), imp);

	/* Reserve timeout 0: never due (COMPAT.md: reserve needs a timeout > 0). */
	struct pf_ts_quota off = { 0, 0, 0, 1 };
	assert_int_equal(pf_tsched_set_quota(&s, imp, &off), 0);
	assert_null(pf_tsched_reserve_due(&s, SEC(100)));
	assert_true(pf_tsched_next_deadline(&s) == -1);
	assert_int_equal(pick_id(&s, SEC(100)), 0);
	pf_tsched_free(&s);
}

/* ---- FIFO within a tenant, ties between tenants ---- */

static void test_fifo_within_tenant(void **state)
{
	struct pf_tsched s;
	struct client c[10];
	struct pf_ts_tenant *a;

	pf_tsched_init(&s, &no_quota);
	a = add(&s, "a", 1, 0, 0, 1);
	for (int i = 0; i < 10; i++)
		enqueue(&s, a, &c[i], i, MS(10)); /* same time: arrival order decides */
	for (int i = 0; i < 10; i++) {
		assert_int_equal(pick_id(&s, MS(20)), i);
		assert_int_equal(pick_id(&s, MS(20)), -1);
		pf_tsched_release(&s, a);
	}
	pf_tsched_free(&s);
}

static void test_ties_by_longest_wait(void **state)
{
	struct pf_tsched s;
	struct client c[6];
	struct pf_ts_tenant *a, *b, *d;

	pf_tsched_init(&s, &no_quota);
	a = add(&s, "a", 0, 0, 0, 1);
	b = add(&s, "b", 0, 0, 0, 1);
	d = add(&s, "d", 0, 0, 0, 2);
	/* Equal shares (0 in use): the tenant whose oldest client waited longest wins. */
	enqueue(&s, a, &c[0], 0, MS(5));
	enqueue(&s, b, &c[1], 1, MS(3));
	enqueue(&s, a, &c[2], 2, MS(1)); /* behind a's first: a's oldest is still 5 ms */
	assert_int_equal(pick_id(&s, MS(10)), 1);
	/* a 0/1 beats b 1/1, whatever the times. */
	enqueue(&s, b, &c[3], 3, MS(0));
	assert_int_equal(pick_id(&s, MS(10)), 0);
	/* a 1/1, b 1/1, d 0/2: d. */
	enqueue(&s, d, &c[4], 4, MS(9));
	assert_int_equal(pick_id(&s, MS(10)), 4);
	/* d has no waiter left; a 1/1 ties b 1/1, and b's oldest (0 ms) waited longer than a's (1 ms). */
	assert_int_equal(pick_id(&s, MS(10)), 3);
	/* a 1/1 < b 2/1. */
	assert_int_equal(pick_id(&s, MS(10)), 2);
	/* Equal in everything but arrival (1/1 each, both since 20 ms): the earlier enqueue. */
	pf_tsched_release(&s, a);
	pf_tsched_release(&s, b);
	enqueue(&s, b, &c[5], 5, MS(20));
	enqueue(&s, a, &c[0], 0, MS(20));
	assert_int_equal(pick_id(&s, MS(30)), 5);
	assert_int_equal(pick_id(&s, MS(30)), 0);
	pf_tsched_free(&s);
}

/* ---- removal of waiters ---- */

static void test_remove_waiters(void **state)
{
	struct pf_tsched s;
	struct client c[5];
	struct pf_ts_tenant *a, *b;

	pf_tsched_init(&s, &no_quota);
	a = add(&s, "a", 0, 0, 0, 1);
	b = add(&s, "b", 0, 0, 0, 1);
	for (int i = 0; i < 5; i++)
		enqueue(&s, a, &c[i], i, MS(10 + i));
	pf_tsched_remove(&s, &c[0].w); /* first */
	pf_tsched_remove(&s, &c[2].w); /* middle */
	pf_tsched_remove(&s, &c[4].w); /* last */
	assert_false(pf_ts_waiter_queued(&c[0].w));
	assert_true(pf_ts_waiter_queued(&c[1].w));
	pf_tsched_remove(&s, &c[4].w); /* not queued: nothing happens */
	assert_int_equal(pf_ts_tenant_waiting(a), 2);
	assert_true(pf_ts_tenant_oldest_wait(a) == MS(11));

	/* a's first waiter is now client 1 (11 ms): it beats b's client (12.5 ms) on wait. */
	struct client cb;
	enqueue(&s, b, &cb, 100, MS(12) + 500);
	assert_int_equal(pick_id(&s, MS(20)), 1);
	assert_int_equal(pick_id(&s, MS(20)), 100);
	assert_int_equal(pick_id(&s, MS(20)), 3);
	assert_int_equal(pick_id(&s, MS(20)), -1);

	/* Everyone leaves: the tenant holds nothing and can go. */
	enqueue(&s, b, &cb, 101, MS(30));
	pf_tsched_remove(&s, &cb.w);
	assert_int_equal(pick_id(&s, MS(40)), -1);
	assert_int_equal(pf_tsched_remove_tenant(&s, b), -1); /* still holds one server */
	pf_tsched_release(&s, b);
	assert_int_equal(pf_tsched_remove_tenant(&s, b), 0);
	assert_null(pf_tsched_find(&s, "b"));
	pf_tsched_free(&s);
}

/* ---- caps that change at RELOAD ---- */

static void test_shrinking_cap(void **state)
{
	struct pf_tsched s;
	struct client c[8];
	struct pf_ts_tenant *a, *other;
	struct pf_ts_quota q = { 4, 0, 0, 1 };

	pf_tsched_init(&s, &no_quota);
	a = add(&s, "a", 4, 0, 0, 1);
	other = add(&s, "other", 0, 0, 0, 1);
	for (int i = 0; i < 8; i++)
		enqueue(&s, a, &c[i], i, MS(i));
	for (int i = 0; i < 4; i++)
		assert_int_equal(pick_id(&s, MS(10)), i);

	/* Shrunk to 1: the 4 it holds stay, nothing new until it is under 1. */
	q.cap = 1;
	assert_int_equal(pf_tsched_set_quota(&s, a, &q), 0);
	assert_int_equal(pf_ts_tenant_in_use(a), 4);
	assert_int_equal(pf_ts_tenant_over_cap(a), 3);
	assert_int_equal(pick_id(&s, MS(10)), -1);
	for (int i = 0; i < 3; i++) {
		pf_tsched_release(&s, a);
		assert_int_equal(pick_id(&s, MS(10)), -1);
	}
	/* Others are not held back meanwhile. */
	struct client co;
	enqueue(&s, other, &co, 100, MS(11));
	assert_int_equal(pick_id(&s, MS(12)), 100);
	pf_tsched_release(&s, a);
	assert_int_equal(pick_id(&s, MS(12)), 4);
	assert_int_equal(pick_id(&s, MS(12)), -1);

	/* Grown again: room at once. */
	q.cap = 3;
	assert_int_equal(pf_tsched_set_quota(&s, a, &q), 0);
	assert_int_equal(pick_id(&s, MS(13)), 5);
	assert_int_equal(pick_id(&s, MS(13)), 6);
	assert_int_equal(pick_id(&s, MS(13)), -1);

	/* Invalid quotas change nothing. */
	struct pf_ts_quota bad = { -1, 0, 0, 1 }, bad_weight = { 1, 0, 0, 0 };
	assert_int_equal(pf_tsched_set_quota(&s, a, &bad), -1);
	assert_int_equal(pf_tsched_set_quota(&s, a, &bad_weight), -1);
	assert_int_equal(pf_ts_tenant_quota(a)->cap, 3);
	pf_tsched_free(&s);
}

/* A timeout made shorter at RELOAD takes effect for the client already waiting. */
static void test_reload_reserve_timeout(void **state)
{
	struct pf_tsched s;
	struct client c[2];
	struct pf_ts_tenant *a;
	struct pf_ts_quota q = { 1, 1, SEC(10), 1 };

	pf_tsched_init(&s, &no_quota);
	a = add(&s, "a", 1, 1, SEC(10), 1);
	enqueue(&s, a, &c[0], 0, 0);
	enqueue(&s, a, &c[1], 1, 0);
	assert_int_equal(pick_id(&s, 0), 0);
	assert_int_equal(pick_id(&s, SEC(2)), -1);
	q.reserve_timeout = SEC(1);
	assert_int_equal(pf_tsched_set_quota(&s, a, &q), 0);
	assert_true(pf_tsched_next_deadline(&s) == SEC(1));
	assert_int_equal(pick_id(&s, SEC(2)), 1);
	pf_tsched_free(&s);
}

/* ---- the implicit group beside tenants with quotas ---- */

static void test_implicit_group_beside_quotas(void **state)
{
	struct pf_tsched s;
	static struct client ci[20], ca[20];
	struct pf_ts_tenant *imp, *a;

	pf_tsched_init(&s, &no_quota);
	imp = pf_tsched_implicit(&s);
	a = add(&s, "capped", 2, 0, 0, 1);
	for (int i = 0; i < 20; i++) {
		enqueue(&s, imp, &ci[i], i, MS(i));
		enqueue(&s, a, &ca[i], 100 + i, MS(i));
	}
	/* 10 servers: the capped tenant gets its 2, the unlimited group the other 8, in FIFO order. */
	int next_imp = 0, next_a = 100;
	for (int n = 0; n < 10; n++) {
		int id = pick_id(&s, SEC(1));
		if (id >= 100)
			assert_int_equal(id, next_a++);
		else
			assert_int_equal(id, next_imp++);
	}
	assert_int_equal(pf_ts_tenant_in_use(a), 2);
	assert_int_equal(pf_ts_tenant_in_use(imp), 8);
	/* The capped tenant's next server comes only from its own release. */
	pf_tsched_release(&s, imp);
	assert_int_equal(pick_id(&s, SEC(1)), 8);
	pf_tsched_release(&s, a);
	assert_int_equal(pick_id(&s, SEC(1)), 102);
	pf_tsched_free(&s);
}

/* ---- tenants: add, find, remove, many ---- */

static void test_tenant_table(void **state)
{
	struct pf_tsched s;
	struct pf_ts_quota bad = { 0, -1, 0, 1 };
	static struct client c[1000];
	char name[32];

	pf_tsched_init(&s, &no_quota);
	assert_null(pf_tsched_find(&s, "x"));
	assert_null(pf_tsched_add(&s, "x", &bad));
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "fn-%d", i);
		add(&s, name, 1, 0, 0, 1 + i % 3);
	}
	assert_null(pf_tsched_add(&s, "fn-7", &no_quota)); /* there already */
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "fn-%d", i);
		struct pf_ts_tenant *t = pf_tsched_find(&s, name);
		assert_non_null(t);
		assert_string_equal(pf_ts_tenant_name(t), name);
		enqueue(&s, t, &c[i], i, MS(1000 - i)); /* the last tenants waited longest */
	}
	assert_int_equal(pf_tsched_remove_tenant(&s, pf_tsched_implicit(&s)), -1);
	assert_int_equal(pf_tsched_remove_tenant(&s, pf_tsched_find(&s, "fn-5")), -1); /* has a waiter */
	/* Everyone at 0 in use: longest wait first. */
	for (int i = 999; i >= 0; i--)
		assert_int_equal(pick_id(&s, SEC(2)), i);
	assert_int_equal(pick_id(&s, SEC(2)), -1);
	for (int i = 0; i < 1000; i += 2) {
		snprintf(name, sizeof(name), "fn-%d", i);
		struct pf_ts_tenant *t = pf_tsched_find(&s, name);
		pf_tsched_release(&s, t);
		assert_int_equal(pf_tsched_remove_tenant(&s, t), 0);
	}
	assert_null(pf_tsched_find(&s, "fn-0"));
	assert_non_null(pf_tsched_find(&s, "fn-1"));
	/* The caller's record rides along with the tenant. */
	assert_null(pf_ts_tenant_data(pf_tsched_find(&s, "fn-1")));
	pf_ts_tenant_set_data(pf_tsched_find(&s, "fn-1"), &c[1]);
	assert_ptr_equal(pf_ts_tenant_data(pf_tsched_find(&s, "fn-1")), &c[1]);
	assert_int_equal(s.n_tenants, 501);

	/* Queued waiters are let go at free. */
	struct client left;
	enqueue(&s, pf_tsched_find(&s, "fn-1"), &left, 1, SEC(3));
	pf_tsched_free(&s);
	assert_false(pf_ts_waiter_queued(&left.w));
}

/* ---- randomized, against a model that scans every tenant and client ---- */

#define R_TENANTS 7 /* model tenant 0 is the implicit group */
#define R_CLIENTS 300

struct model_client {
	struct client c;
	int tenant; /* -1 when not queued */
	usec_t since;
	uint64_t seq;
};

struct model {
	struct pf_tsched s;
	struct pf_ts_tenant *t[R_TENANTS];
	struct pf_ts_quota q[R_TENANTS];
	int in_use[R_TENANTS];
	struct model_client cl[R_CLIENTS];
	uint64_t seq;
	usec_t now;
	uint64_t rng;
};

static uint32_t rnd(struct model *m, uint32_t n)
{
	m->rng ^= m->rng << 13; /* xorshift64: the same sequence on every machine */
	m->rng ^= m->rng >> 7;
	m->rng ^= m->rng << 17;
	return (uint32_t)(m->rng % n);
}

static void random_quota(struct model *m, int i)
{
	static const usec_t timeouts[] = { 0, MS(100), MS(500), SEC(2) };

	m->q[i].cap = i == 0 ? 0 : (int)rnd(m, 5);
	m->q[i].reserve = i == 0 ? 0 : (int)rnd(m, 3);
	m->q[i].reserve_timeout = timeouts[rnd(m, 4)];
	m->q[i].weight = i == 0 ? 1 : 1 + (int)rnd(m, 4);
}

/* The model's first waiter of tenant i, or NULL. */
static struct model_client *m_head(struct model *m, int i)
{
	struct model_client *best = NULL;

	for (int k = 0; k < R_CLIENTS; k++)
		if (m->cl[k].tenant == i && (!best || m->cl[k].seq < best->seq))
			best = &m->cl[k];
	return best;
}

static bool m_due(struct model *m, int i)
{
	struct model_client *h = m_head(m, i);

	return h && m->q[i].reserve_timeout > 0 && h->since + m->q[i].reserve_timeout <= m->now;
}

static bool m_room(struct model *m, int i)
{
	const struct pf_ts_quota *q = &m->q[i];

	if (!m_head(m, i))
		return false;
	if (q->cap == 0 || m->in_use[i] < q->cap)
		return true;
	return m_due(m, i) && m->in_use[i] < q->cap + q->reserve;
}

/* The tenant the model gives the next server to, or -1. */
static int m_pick(struct model *m)
{
	int best = -1;

	for (int i = 0; i < R_TENANTS; i++) {
		if (!m_room(m, i))
			continue;
		if (best < 0) {
			best = i;
			continue;
		}
		int64_t l = (int64_t)m->in_use[i] * m->q[best].weight, r = (int64_t)m->in_use[best] * m->q[i].weight;
		struct model_client *hi = m_head(m, i), *hb = m_head(m, best);
		if (l < r || (l == r && (hi->since < hb->since || (hi->since == hb->since && hi->seq < hb->seq))))
			best = i;
	}
	return best;
}

static int m_reserve_due(struct model *m)
{
	int best = -1;

	for (int i = 0; i < R_TENANTS; i++) {
		if (!m_due(m, i) || !m_room(m, i))
			continue;
		struct model_client *hi = m_head(m, i);
		if (best < 0) {
			best = i;
			continue;
		}
		struct model_client *hb = m_head(m, best);
		usec_t di = hi->since + m->q[i].reserve_timeout, dbest = hb->since + m->q[best].reserve_timeout;
		if (di < dbest || (di == dbest && hi->seq < hb->seq))
			best = i;
	}
	return best;
}

static usec_t m_next_deadline(struct model *m)
{
	usec_t best = -1;

	for (int i = 0; i < R_TENANTS; i++) {
		struct model_client *h = m_head(m, i);
		if (!h || m->q[i].reserve_timeout == 0)
			continue;
		usec_t d = h->since + m->q[i].reserve_timeout;
		if (d > m->now && (best < 0 || d < best))
			best = d;
	}
	return best;
}

static int tenant_index(struct model *m, const struct pf_ts_tenant *t)
{
	for (int i = 0; i < R_TENANTS; i++)
		if (m->t[i] == t)
			return i;
	fail_msg("unknown tenant");
	return -1;
}

/* The model serves client `got` (as the scheduler did); check it is the one it would have served. */
static void m_serve(struct model *m, int want_tenant, struct pf_ts_waiter *got, const char *op, int step)
{
	if (want_tenant < 0) {
		if (got)
			fail_msg("step %d %s: scheduler served client %d, model nobody", step, op,
				 ((struct client *)got->data)->id);
		return;
	}
	struct model_client *h = m_head(m, want_tenant);
	if (!got || got->data != &h->c)
		fail_msg("step %d %s: model serves client %d of tenant %d, scheduler %d", step, op, h->c.id,
			 want_tenant, got ? ((struct client *)got->data)->id : -1);
	h->tenant = -1;
	m->in_use[want_tenant]++;
}

static void m_check_counts(struct model *m, int step)
{
	for (int i = 0; i < R_TENANTS; i++) {
		size_t waiting = 0;
		for (int k = 0; k < R_CLIENTS; k++)
			waiting += m->cl[k].tenant == i;
		struct model_client *h = m_head(m, i);
		if (pf_ts_tenant_in_use(m->t[i]) != m->in_use[i] || pf_ts_tenant_waiting(m->t[i]) != waiting ||
		    pf_ts_tenant_oldest_wait(m->t[i]) != (h ? h->since : -1))
			fail_msg("step %d: tenant %d counts differ", step, i);
	}
}

static void random_run(uint64_t seed, int steps)
{
	struct model *m = calloc(1, sizeof(*m));
	char name[16];

	m->rng = seed;
	random_quota(m, 0);
	pf_tsched_init(&m->s, &m->q[0]);
	m->t[0] = pf_tsched_implicit(&m->s);
	for (int i = 1; i < R_TENANTS; i++) {
		random_quota(m, i);
		snprintf(name, sizeof(name), "t%d", i);
		m->t[i] = pf_tsched_add(&m->s, name, &m->q[i]);
		assert_non_null(m->t[i]);
	}
	for (int k = 0; k < R_CLIENTS; k++) {
		m->cl[k].tenant = -1;
		m->cl[k].c.id = k;
	}

	for (int step = 0; step < steps; step++) {
		uint32_t op = rnd(m, 100);
		int i = (int)rnd(m, R_TENANTS), k = (int)rnd(m, R_CLIENTS);

		if (rnd(m, 3) == 0)
			m->now += rnd(m, 4) == 0 ? 0 : rnd(m, 300) * 1000; /* ties happen */

		if (op < 35) { /* a client asks for a server */
			if (m->cl[k].tenant >= 0)
				continue;
			m->cl[k].tenant = i;
			m->cl[k].since = m->now;
			m->cl[k].seq = m->seq++;
			pf_tsched_enqueue(&m->s, m->t[i], &m->cl[k].c.w, &m->cl[k].c, m->now);
		} else if (op < 45) { /* a waiting client leaves */
			if (m->cl[k].tenant < 0)
				continue;
			m->cl[k].tenant = -1;
			pf_tsched_remove(&m->s, &m->cl[k].c.w);
		} else if (op < 70) { /* a server is free */
			int want = m_pick(m);
			if (pf_tsched_can_pick(&m->s, m->now) != (want >= 0))
				fail_msg("step %d: can_pick differs", step);
			m_serve(m, want, pf_tsched_pick(&m->s, m->now), "pick", step);
		} else if (op < 75) { /* a server opened for tenant i */
			m_serve(m, m_room(m, i) ? i : -1, pf_tsched_take(&m->s, m->t[i], m->now), "take", step);
		} else if (op < 93) { /* a server comes back */
			if (m->in_use[i] == 0)
				continue;
			m->in_use[i]--;
			pf_tsched_release(&m->s, m->t[i]);
		} else if (op < 96) { /* RELOAD */
			random_quota(m, i);
			assert_int_equal(pf_tsched_set_quota(&m->s, m->t[i], &m->q[i]), 0);
		} else { /* the janitor */
			int want = m_reserve_due(m);
			struct pf_ts_tenant *got = pf_tsched_reserve_due(&m->s, m->now);
			if ((got ? tenant_index(m, got) : -1) != want)
				fail_msg("step %d: reserve_due: model %d, scheduler %d", step, want,
					 got ? tenant_index(m, got) : -1);
			/* Right after a promote, the next deadline is exactly the model's. */
			if (pf_tsched_next_deadline(&m->s) != m_next_deadline(m))
				fail_msg("step %d: next deadline: model %lld, scheduler %lld", step,
					 (long long)m_next_deadline(m), (long long)pf_tsched_next_deadline(&m->s));
		}
		m_check_counts(m, step);
	}
	pf_tsched_free(&m->s);
	free(m);
}

static void test_randomized_against_model(void **state)
{
	static const uint64_t seeds[] = { 0x9e3779b97f4a7c15ULL, 42, 7, 0xdeadbeefULL, 123456789 };

	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		random_run(seeds[i], 5000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_implicit_fifo),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_reserve_per_tenant_timeout),
		cmocka_unit_test(test_reserve_counts_from_oldest_waiter),
		cmocka_unit_test(test_pool_reserve_for_tenant),
		cmocka_unit_test(test_fifo_within_tenant),
		cmocka_unit_test(test_ties_by_longest_wait),
		cmocka_unit_test(test_remove_waiters),
		cmocka_unit_test(test_shrinking_cap),
		cmocka_unit_test(test_reload_reserve_timeout),
		cmocka_unit_test(test_implicit_group_beside_quotas),
		cmocka_unit_test(test_tenant_table),
		cmocka_unit_test(test_randomized_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
