/* htab.c - intrusive chained hash table (see htab.h). */
#include "util/htab.h"

#include <stdlib.h>

#include "util/buf.h"

#define MIN_BUCKETS 8

static size_t bucket_of(size_t n_buckets, uint64_t hash)
{
	return (size_t)(hash & (n_buckets - 1));
}

/* Rehash into n buckets: the stored hashes make this a pointer shuffle. */
static void resize(struct pf_htab *t, size_t n)
{
	struct pf_hnode **b = pf_xcalloc(n, sizeof(*b));

	for (size_t i = 0; i < t->n_buckets; i++) {
		for (struct pf_hnode *node = t->buckets[i], *next; node; node = next) {
			size_t j = bucket_of(n, node->hash);

			next = node->next;
			node->next = b[j];
			b[j] = node;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->n_buckets = n;
}

void pf_htab_insert(struct pf_htab *t, struct pf_hnode *n, uint64_t hash)
{
	if (t->count >= t->n_buckets)
		resize(t, t->n_buckets ? t->n_buckets * 2 : MIN_BUCKETS);
	size_t i = bucket_of(t->n_buckets, hash);

	n->hash = hash;
	n->next = t->buckets[i];
	t->buckets[i] = n;
	t->count++;
}

void pf_htab_remove(struct pf_htab *t, struct pf_hnode *n)
{
	struct pf_hnode **link = &t->buckets[bucket_of(t->n_buckets, n->hash)];

	while (*link != n)
		link = &(*link)->next;
	*link = n->next;
	n->next = NULL;
	if (--t->count == 0) {
		free(t->buckets);
		pf_htab_init(t);
	} else if (t->n_buckets > MIN_BUCKETS && t->count < t->n_buckets / 8) {
		/* Halving at 1/8 (growing at 1/1) leaves room, so a size that goes up and down
		 * around one threshold does not rehash at every step. */
		resize(t, t->n_buckets / 2);
	}
}

struct pf_hnode *pf_htab_first(const struct pf_htab *t, uint64_t hash)
{
	if (!t->count)
		return NULL;
	for (struct pf_hnode *n = t->buckets[bucket_of(t->n_buckets, hash)]; n; n = n->next)
		if (n->hash == hash)
			return n;
	return NULL;
}

struct pf_hnode *pf_htab_next(const struct pf_hnode *n)
{
	for (struct pf_hnode *m = n->next; m; m = m->next)
		if (m->hash == n->hash)
			return m;
	return NULL;
}

void pf_htab_drain(struct pf_htab *t, void (*fn)(struct pf_hnode *n, void *arg), void *arg)
{
	struct pf_hnode **b = t->buckets;
	size_t n_buckets = t->n_buckets;

	/* Empty first: fn sees a consistent (empty) table if it looks. */
	pf_htab_init(t);
	for (size_t i = 0; i < n_buckets; i++) {
		for (struct pf_hnode *node = b[i], *next; node; node = next) {
			next = node->next;
			node->next = NULL;
			fn(node, arg);
		}
	}
	free(b);
}
