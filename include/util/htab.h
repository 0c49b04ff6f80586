/*
 * htab.h - an intrusive hash table with chaining, for objects that embed a struct pf_hnode.
 *
 * The table stores each node's 64-bit hash and knows nothing of keys: a lookup walks the
 * nodes with the same hash (pf_htab_first/pf_htab_next) and the caller compares its keys,
 * so two keys are equal only when their bytes are, whatever the hash function does.
 * The bucket array doubles when there are more nodes than buckets and halves when they fall
 * below an eighth, so lookups stay O(1) on average; an empty table holds no memory at all
 * (a client with no prepared statements costs nothing but the struct).
 */
#ifndef PF_UTIL_HTAB_H
#define PF_UTIL_HTAB_H

#include <stddef.h>
#include <stdint.h>

struct pf_hnode {
	struct pf_hnode *next;
	uint64_t hash;
};

struct pf_htab {
	struct pf_hnode **buckets; /* NULL while empty */
	size_t n_buckets;          /* 0 or a power of two */
	size_t count;
};

/* A zeroed struct is an empty table; so is one after pf_htab_drain(). */
static inline void pf_htab_init(struct pf_htab *t) { t->buckets = NULL; t->n_buckets = 0; t->count = 0; }
static inline size_t pf_htab_count(const struct pf_htab *t) { return t->count; }

/* Add n with the given hash (no check for duplicates: that is the caller's lookup). */
void pf_htab_insert(struct pf_htab *t, struct pf_hnode *n, uint64_t hash);
/* Remove n, which must be in t. */
void pf_htab_remove(struct pf_htab *t, struct pf_hnode *n);
/* The first node whose hash equals `hash`, then the next ones; NULL at the end. */
struct pf_hnode *pf_htab_first(const struct pf_htab *t, uint64_t hash);
struct pf_hnode *pf_htab_next(const struct pf_hnode *n);
/* Take every node out (each is passed to fn, which may free it) and free the buckets. */
void pf_htab_drain(struct pf_htab *t, void (*fn)(struct pf_hnode *n, void *arg), void *arg);

#endif
