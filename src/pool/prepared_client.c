/* prepared_client.c - a client's statement names -> registry entries (see prepared_client.h). */
#include "pool/prepared_client.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/hash.h"
#include "util/list.h"

struct cname {
	struct pf_hnode node;
	struct pf_ps_stmt *stmt; /* one reference */
	uint8_t len;
	char name[]; /* the significant bytes, NUL-terminated */
};

/* Only the first 63 bytes count, so a long name costs no more to look up than a short one. */
static size_t significant(const char *name)
{
	return strnlen(name, PF_PS_NAME_SIGNIFICANT);
}

static struct cname *lookup(const struct pf_ps_client *c, const char *name, size_t len, uint64_t hash)
{
	for (struct pf_hnode *n = pf_htab_first(&c->names, hash); n; n = pf_htab_next(n)) {
		struct cname *cn = container_of(n, struct cname, node);
		if (cn->len == len && memcmp(cn->name, name, len) == 0)
			return cn;
	}
	return NULL;
}

static struct cname *find(const struct pf_ps_client *c, const char *name)
{
	size_t len = significant(name);

	if (!len || !pf_htab_count(&c->names))
		return NULL; /* an idle client's lookup costs no hashing */
	return lookup(c, name, len, pf_hash_bytes(name, len));
}

/* May `name` be defined? Gives its significant length and hash for add(). */
static enum pf_ps_result free_slot(const struct pf_ps_client *c, const char *name, size_t *len, uint64_t *hash)
{
	*len = significant(name);
	if (!*len)
		return PF_PS_UNNAMED;
	*hash = pf_hash_bytes(name, *len);
	return lookup(c, name, *len, *hash) ? PF_PS_EXISTS : PF_PS_OK;
}

static void add(struct pf_ps_client *c, const char *name, size_t len, uint64_t hash, struct pf_ps_stmt *st)
{
	struct cname *cn = pf_xmalloc(sizeof(*cn) + len + 1);

	cn->stmt = st;
	cn->len = (uint8_t)len;
	memcpy(cn->name, name, len);
	cn->name[len] = '\0';
	pf_htab_insert(&c->names, &cn->node, hash);
}

static void free_cname(struct pf_hnode *n, void *arg)
{
	struct cname *cn = container_of(n, struct cname, node);

	pf_ps_stmt_unref(cn->stmt);
	free(cn);
}

void pf_ps_client_clear(struct pf_ps_client *c)
{
	pf_htab_drain(&c->names, free_cname, NULL);
}

enum pf_ps_result pf_ps_client_parse(struct pf_ps_client *c, struct pf_ps_registry *r, const char *name,
				     const uint8_t *key, size_t key_len, struct pf_stats *stats, struct pf_ps_stmt **st)
{
	size_t len;
	uint64_t hash;
	enum pf_ps_result res = free_slot(c, name, &len, &hash);

	/* Taken even by the same text: PostgreSQL refuses any redefinition. */
	if (res != PF_PS_OK)
		return res;
	*st = pf_ps_registry_get(r, key, key_len);
	add(c, name, len, hash, *st);
	if (stats)
		stats->client_parse_count++;
	return PF_PS_OK;
}

struct pf_ps_stmt *pf_ps_client_get(const struct pf_ps_client *c, const char *name)
{
	struct cname *cn = find(c, name);

	return cn ? cn->stmt : NULL;
}

struct pf_ps_stmt *pf_ps_client_bind(const struct pf_ps_client *c, const char *name, struct pf_stats *stats)
{
	struct pf_ps_stmt *st = pf_ps_client_get(c, name);

	if (st && stats)
		stats->bind_count++;
	return st;
}

struct pf_ps_stmt *pf_ps_client_take(struct pf_ps_client *c, const char *name)
{
	struct cname *cn = find(c, name);
	struct pf_ps_stmt *st;

	if (!cn)
		return NULL;
	st = cn->stmt;
	pf_htab_remove(&c->names, &cn->node);
	free(cn);
	return st;
}

bool pf_ps_client_close(struct pf_ps_client *c, const char *name)
{
	struct pf_ps_stmt *st = pf_ps_client_take(c, name);

	if (!st)
		return false;
	pf_ps_stmt_unref(st);
	return true;
}

enum pf_ps_result pf_ps_client_put(struct pf_ps_client *c, const char *name, struct pf_ps_stmt *st)
{
	size_t len;
	uint64_t hash;
	enum pf_ps_result res = free_slot(c, name, &len, &hash);

	if (res == PF_PS_OK)
		add(c, name, len, hash, st);
	return res;
}
