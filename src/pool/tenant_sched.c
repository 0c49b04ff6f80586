/*
 * tenant_sched.c - per-pool tenant scheduler: caps, weighted shares, reserve timeouts.
 *
 * The invariants, kept by update() after every change of a tenant:
 *   - t is in the share heap  <=>  t has a waiter and has_room(t);
 *   - t->time_heap == &s->notdue  <=>  t has a waiter, a reserve timeout, and !t->due;
 *   - t->time_heap == &s->due     <=>  t has a waiter, a reserve timeout, t->due, and room.
 * t->due means "the current first waiter had waited the reserve timeout at the last
 * promote()"; it is cleared whenever the first waiter or the timeout changes, and set again
 * by promote() once the (new) deadline has passed. Every call whose answer depends on time
 * promotes first, so it sees exactly the tenants whose first waiter waited long enough.
 */
#include "pool/tenant_sched.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/hash.h"
#include "util/list.h"

#define NOT_IN_HEAP SIZE_MAX

struct pf_ts_tenant {
	char *name; /* NULL for the implicit group */
	struct pf_ts_quota q;
	int in_use;
	size_t n_waiting;
	struct pf_ts_waiter *head, *tail;
	bool due;
	struct pf_ts_heap *time_heap; /* &s->notdue, &s->due, or NULL */
	size_t share_pos, time_pos;   /* NOT_IN_HEAP when not in that kind of heap */
	struct pf_hnode hnode;        /* in by_name */
	void *data;                   /* the caller's */
};

/* ---- ordering ---- */

static usec_t deadline(const struct pf_ts_tenant *t)
{
	return t->head->since + t->q.reserve_timeout;
}

/*
 * Share heap: lowest in_use / weight first, as cross products (weights are ints >= 1 and
 * in_use an int, so each product fits in 64 bits); then the longest-waiting first client;
 * then enqueue order, so that equal times still give one answer.
 */
static bool share_before(const struct pf_ts_tenant *a, const struct pf_ts_tenant *b)
{
	int64_t l = (int64_t)a->in_use * b->q.weight, r = (int64_t)b->in_use * a->q.weight;

	if (l != r)
		return l < r;
	if (a->head->since != b->head->since)
		return a->head->since < b->head->since;
	return a->head->seq < b->head->seq;
}

/* Deadline heaps: the earliest reserve deadline first. */
static bool time_before(const struct pf_ts_tenant *a, const struct pf_ts_tenant *b)
{
	usec_t da = deadline(a), db = deadline(b);

	if (da != db)
		return da < db;
	return a->head->seq < b->head->seq;
}

/* ---- binary heaps of tenants, each tenant knowing its index (so any entry can move) ---- */

static bool is_share(const struct pf_tsched *s, const struct pf_ts_heap *h)
{
	return h == &s->share;
}

static size_t *pos_in(const struct pf_tsched *s, const struct pf_ts_heap *h, struct pf_ts_tenant *t)
{
	return is_share(s, h) ? &t->share_pos : &t->time_pos;
}

static bool before(const struct pf_tsched *s, const struct pf_ts_heap *h, size_t i, size_t j)
{
	return is_share(s, h) ? share_before(h->item[i], h->item[j]) : time_before(h->item[i], h->item[j]);
}

static void heap_place(const struct pf_tsched *s, struct pf_ts_heap *h, size_t i, struct pf_ts_tenant *t)
{
	h->item[i] = t;
	*pos_in(s, h, t) = i;
}

static void heap_swap(const struct pf_tsched *s, struct pf_ts_heap *h, size_t i, size_t j)
{
	struct pf_ts_tenant *t = h->item[i];

	heap_place(s, h, i, h->item[j]);
	heap_place(s, h, j, t);
}

/* Restore the order around index i after its key changed either way. */
static void heap_fix(const struct pf_tsched *s, struct pf_ts_heap *h, size_t i)
{
	while (i > 0 && before(s, h, i, (i - 1) / 2)) {
		heap_swap(s, h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < h->n && before(s, h, l, m))
			m = l;
		if (r < h->n && before(s, h, r, m))
			m = r;
		if (m == i)
			return;
		heap_swap(s, h, i, m);
		i = m;
	}
}

static void heap_push(const struct pf_tsched *s, struct pf_ts_heap *h, struct pf_ts_tenant *t)
{
	/* Room is reserved by pf_tsched_add(): a tenant is at most once in a heap. */
	heap_place(s, h, h->n++, t);
	heap_fix(s, h, h->n - 1);
}

static void heap_del(const struct pf_tsched *s, struct pf_ts_heap *h, struct pf_ts_tenant *t)
{
	size_t i = *pos_in(s, h, t);

	h->n--;
	if (i < h->n) {
		heap_place(s, h, i, h->item[h->n]);
		heap_fix(s, h, i);
	}
	*pos_in(s, h, t) = NOT_IN_HEAP;
}

/* ---- keeping the invariants ---- */

static bool has_room(const struct pf_ts_tenant *t)
{
	if (!t->head)
		return false;
	if (t->q.cap == 0 || t->in_use < t->q.cap)
		return true;
	return t->due && (int64_t)t->in_use < (int64_t)t->q.cap + t->q.reserve;
}

/* Put t in the heaps its state calls for, at the right place. */
static void update(struct pf_tsched *s, struct pf_ts_tenant *t)
{
	bool room = has_room(t);
	struct pf_ts_heap *want = NULL;

	if (room && t->share_pos == NOT_IN_HEAP)
		heap_push(s, &s->share, t);
	else if (room)
		heap_fix(s, &s->share, t->share_pos);
	else if (t->share_pos != NOT_IN_HEAP)
		heap_del(s, &s->share, t);

	if (t->head && t->q.reserve_timeout > 0) {
		if (!t->due)
			want = &s->notdue;
		else if (room)
			want = &s->due;
	}
	if (t->time_heap == want) {
		if (want)
			heap_fix(s, want, t->time_pos);
		return;
	}
	if (t->time_heap)
		heap_del(s, t->time_heap, t);
	t->time_heap = want;
	if (want)
		heap_push(s, want, t);
}

/* The first waiter or the reserve timeout changed: the deadline starts over. */
static void restart_deadline(struct pf_tsched *s, struct pf_ts_tenant *t)
{
	t->due = false;
	update(s, t);
}

/* Mark the tenants whose deadline has passed as due. */
static void promote(struct pf_tsched *s, usec_t now)
{
	while (s->notdue.n > 0 && deadline(s->notdue.item[0]) <= now) {
		struct pf_ts_tenant *t = s->notdue.item[0];

		t->due = true;
		update(s, t); /* leaves notdue for due, or for no deadline heap when it has no room */
	}
}

/* ---- tenants ---- */

static struct pf_ts_tenant *tenant_new(const char *name, const struct pf_ts_quota *q)
{
	struct pf_ts_tenant *t = pf_xcalloc(1, sizeof(*t));

	t->name = name ? pf_xstrdup(name) : NULL;
	t->q = *q;
	t->share_pos = t->time_pos = NOT_IN_HEAP;
	return t;
}

static uint64_t name_hash(const char *name)
{
	return pf_hash_bytes(name, strlen(name));
}

static void grow_heaps(struct pf_tsched *s, size_t cap)
{
	struct pf_ts_heap *heaps[] = { &s->share, &s->notdue, &s->due };

	for (size_t i = 0; i < 3; i++)
		heaps[i]->item = pf_xrealloc(heaps[i]->item, cap * sizeof(*heaps[i]->item));
	s->heap_cap = cap;
}

bool pf_ts_quota_valid(const struct pf_ts_quota *q)
{
	return q->cap >= 0 && q->reserve >= 0 && q->reserve_timeout >= 0 && q->weight >= 1;
}

void pf_tsched_init(struct pf_tsched *s, const struct pf_ts_quota *implicit)
{
	memset(s, 0, sizeof(*s));
	s->implicit = tenant_new(NULL, implicit);
	s->n_tenants = 1;
	grow_heaps(s, 4);
}

static void tenant_free(struct pf_ts_tenant *t)
{
	for (struct pf_ts_waiter *w = t->head; w; w = w->next)
		w->tenant = NULL; /* so that pf_ts_waiter_queued() stays truthful */
	free(t->name);
	free(t);
}

static void drain_tenant(struct pf_hnode *n, void *arg)
{
	(void)arg;
	tenant_free(container_of(n, struct pf_ts_tenant, hnode));
}

void pf_tsched_free(struct pf_tsched *s)
{
	pf_htab_drain(&s->by_name, drain_tenant, NULL);
	tenant_free(s->implicit);
	free(s->share.item);
	free(s->notdue.item);
	free(s->due.item);
	memset(s, 0, sizeof(*s));
}

struct pf_ts_tenant *pf_tsched_implicit(struct pf_tsched *s)
{
	return s->implicit;
}

struct pf_ts_tenant *pf_tsched_find(const struct pf_tsched *s, const char *name)
{
	for (struct pf_hnode *n = pf_htab_first(&s->by_name, name_hash(name)); n; n = pf_htab_next(n)) {
		struct pf_ts_tenant *t = container_of(n, struct pf_ts_tenant, hnode);
		if (strcmp(t->name, name) == 0)
			return t;
	}
	return NULL;
}

struct pf_ts_tenant *pf_tsched_add(struct pf_tsched *s, const char *name, const struct pf_ts_quota *q)
{
	struct pf_ts_tenant *t;

	if (!pf_ts_quota_valid(q) || pf_tsched_find(s, name))
		return NULL;
	if (s->n_tenants + 1 > s->heap_cap)
		grow_heaps(s, s->heap_cap * 2);
	t = tenant_new(name, q);
	pf_htab_insert(&s->by_name, &t->hnode, name_hash(name));
	s->n_tenants++;
	return t;
}

int pf_tsched_remove_tenant(struct pf_tsched *s, struct pf_ts_tenant *t)
{
	if (t == s->implicit || t->head || t->in_use > 0)
		return -1;
	pf_htab_remove(&s->by_name, &t->hnode);
	s->n_tenants--;
	tenant_free(t);
	return 0;
}

int pf_tsched_set_quota(struct pf_tsched *s, struct pf_ts_tenant *t, const struct pf_ts_quota *q)
{
	if (!pf_ts_quota_valid(q))
		return -1;
	t->q = *q;
	restart_deadline(s, t); /* the next promote() decides again, with the new timeout */
	return 0;
}

/* ---- waiters ---- */

void pf_tsched_enqueue(struct pf_tsched *s, struct pf_ts_tenant *t, struct pf_ts_waiter *w, void *data,
		       usec_t since)
{
	w->data = data;
	w->since = since;
	w->seq = s->next_seq++;
	w->tenant = t;
	w->next = NULL;
	w->prev = t->tail;
	if (t->tail)
		t->tail->next = w;
	else
		t->head = w;
	t->tail = w;
	t->n_waiting++;
	if (t->head == w) /* a waiter behind others changes no key */
		restart_deadline(s, t);
}

/* Unlink w from its tenant's queue; returns whether it was the first. */
static bool unlink_waiter(struct pf_ts_waiter *w)
{
	struct pf_ts_tenant *t = w->tenant;
	bool was_head = t->head == w;

	if (w->prev)
		w->prev->next = w->next;
	else
		t->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		t->tail = w->prev;
	t->n_waiting--;
	w->tenant = NULL;
	w->prev = w->next = NULL;
	return was_head;
}

void pf_tsched_remove(struct pf_tsched *s, struct pf_ts_waiter *w)
{
	struct pf_ts_tenant *t = w->tenant;

	if (t && unlink_waiter(w))
		restart_deadline(s, t);
}

/* Give a server to t's first waiter (t has room). */
static struct pf_ts_waiter *serve(struct pf_tsched *s, struct pf_ts_tenant *t)
{
	struct pf_ts_waiter *w = t->head;

	unlink_waiter(w);
	t->in_use++;
	restart_deadline(s, t);
	return w;
}

struct pf_ts_waiter *pf_tsched_pick(struct pf_tsched *s, usec_t now)
{
	promote(s, now);
	return s->share.n > 0 ? serve(s, s->share.item[0]) : NULL;
}

struct pf_ts_waiter *pf_tsched_take(struct pf_tsched *s, struct pf_ts_tenant *t, usec_t now)
{
	promote(s, now);
	return has_room(t) ? serve(s, t) : NULL;
}

bool pf_tsched_can_pick(struct pf_tsched *s, usec_t now)
{
	promote(s, now);
	return s->share.n > 0;
}

int pf_tsched_release(struct pf_tsched *s, struct pf_ts_tenant *t)
{
	/* A bug in the caller's books, but not one worth every client's connection: report it. */
	if (t->in_use <= 0)
		return -1;
	t->in_use--;
	if (t->head) /* only a tenant with waiters is in a heap */
		update(s, t);
	return 0;
}

struct pf_ts_tenant *pf_tsched_reserve_due(struct pf_tsched *s, usec_t now)
{
	promote(s, now);
	return s->due.n > 0 ? s->due.item[0] : NULL;
}

usec_t pf_tsched_next_deadline(const struct pf_tsched *s)
{
	return s->notdue.n > 0 ? deadline(s->notdue.item[0]) : -1;
}

/* ---- accessors ---- */

const char *pf_ts_tenant_name(const struct pf_ts_tenant *t)
{
	return t->name;
}

const struct pf_ts_quota *pf_ts_tenant_quota(const struct pf_ts_tenant *t)
{
	return &t->q;
}

int pf_ts_tenant_in_use(const struct pf_ts_tenant *t)
{
	return t->in_use;
}

size_t pf_ts_tenant_waiting(const struct pf_ts_tenant *t)
{
	return t->n_waiting;
}

usec_t pf_ts_tenant_oldest_wait(const struct pf_ts_tenant *t)
{
	return t->head ? t->head->since : -1;
}

int pf_ts_tenant_over_cap(const struct pf_ts_tenant *t)
{
	return t->q.cap > 0 && t->in_use > t->q.cap ? t->in_use - t->q.cap : 0;
}

void pf_ts_tenant_set_data(struct pf_ts_tenant *t, void *data)
{
	t->data = data;
}

void *pf_ts_tenant_data(const struct pf_ts_tenant *t)
{
	return t->data;
}
