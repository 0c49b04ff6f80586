/* prepared_server.c - one server's prepared statements, an LRU (see prepared_server.h). */
#include "pool/prepared_server.h"

#include <stdlib.h>

#include "util/buf.h"

struct sentry {
	struct pf_hnode node;  /* by the statement's key hash, which is already computed */
	struct list_head lru;
	struct pf_ps_stmt *stmt; /* one reference */
};

void pf_ps_server_init(struct pf_ps_server *sv)
{
	pf_htab_init(&sv->stmts);
	list_init(&sv->lru);
}

static void free_sentry(struct pf_hnode *n, void *arg)
{
	struct sentry *e = container_of(n, struct sentry, node);

	pf_ps_stmt_unref(e->stmt);
	free(e);
}

void pf_ps_server_clear(struct pf_ps_server *sv)
{
	pf_htab_drain(&sv->stmts, free_sentry, NULL);
	list_init(&sv->lru);
}

static struct sentry *find(const struct pf_ps_server *sv, const struct pf_ps_stmt *st)
{
	for (struct pf_hnode *n = pf_htab_first(&sv->stmts, pf_ps_stmt_hash(st)); n; n = pf_htab_next(n)) {
		struct sentry *e = container_of(n, struct sentry, node);
		if (e->stmt == st) /* one registry entry per key: the pointer is the identity */
			return e;
	}
	return NULL;
}

bool pf_ps_server_has(const struct pf_ps_server *sv, const struct pf_ps_stmt *st)
{
	return find(sv, st) != NULL;
}

static void add(struct pf_ps_server *sv, struct pf_ps_stmt *st, bool most_recent)
{
	struct sentry *e = pf_xmalloc(sizeof(*e));

	pf_ps_stmt_ref(st);
	e->stmt = st;
	pf_htab_insert(&sv->stmts, &e->node, pf_ps_stmt_hash(st));
	if (most_recent)
		list_add_head(&sv->lru, &e->lru);
	else
		list_add_tail(&sv->lru, &e->lru);
}

/* Take e out and return its reference. */
static struct pf_ps_stmt *take(struct pf_ps_server *sv, struct sentry *e)
{
	struct pf_ps_stmt *st = e->stmt;

	pf_htab_remove(&sv->stmts, &e->node);
	list_del(&e->lru);
	free(e);
	return st;
}

enum pf_ps_ensure pf_ps_server_ensure(struct pf_ps_server *sv, struct pf_ps_stmt *st, int capacity,
				      struct pf_stats *stats)
{
	struct sentry *e;

	if (capacity <= 0)
		return PF_PS_OFF;
	e = find(sv, st);
	if (e) {
		list_del(&e->lru);
		list_add_head(&sv->lru, &e->lru);
		return PF_PS_HIT;
	}
	add(sv, st, true);
	if (stats)
		stats->server_parse_count++;
	return PF_PS_MISS;
}

struct pf_ps_stmt *pf_ps_server_evict(struct pf_ps_server *sv, int capacity)
{
	size_t keep = capacity > 0 ? (size_t)capacity : 0;

	if (pf_htab_count(&sv->stmts) <= keep)
		return NULL;
	return take(sv, container_of(list_last(&sv->lru), struct sentry, lru));
}

bool pf_ps_server_forget(struct pf_ps_server *sv, struct pf_ps_stmt *st)
{
	struct sentry *e = find(sv, st);

	if (!e)
		return false;
	pf_ps_stmt_unref(take(sv, e));
	return true;
}

void pf_ps_server_restore(struct pf_ps_server *sv, struct pf_ps_stmt *st)
{
	/* Already there (prepared again later in the same batch)? Then it is recorded. */
	if (!find(sv, st))
		add(sv, st, false);
}
