/* prepared.c - the registry of prepared statements, shared by every client and server. */
#include "pool/prepared.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/build.h"
#include "util/hash.h"
#include "util/list.h"

struct pf_ps_stmt {
	struct pf_hnode node; /* in the registry, by the hash of key */
	struct pf_ps_registry *reg;
	uint64_t id;
	size_t refs;
	size_t key_len;
	char name[PF_PS_SERVER_NAME_SIZE];
	uint8_t key[];
};

void pf_ps_registry_init(struct pf_ps_registry *r)
{
	pf_htab_init(&r->stmts);
	r->hash = pf_hash_bytes;
	r->last_id = 0;
	r->key_bytes = 0;
}

int pf_ps_registry_set_hash(struct pf_ps_registry *r, pf_ps_hash_fn fn)
{
	/* The stored hashes of existing entries would no longer match their keys. */
	if (pf_htab_count(&r->stmts))
		return -1;
	r->hash = fn;
	return 0;
}

static void free_stmt(struct pf_hnode *n, void *arg)
{
	free(container_of(n, struct pf_ps_stmt, node));
}

size_t pf_ps_registry_free(struct pf_ps_registry *r)
{
	size_t left = pf_htab_count(&r->stmts);

	pf_htab_drain(&r->stmts, free_stmt, NULL);
	r->key_bytes = 0;
	return left;
}

size_t pf_ps_registry_count(const struct pf_ps_registry *r)
{
	return pf_htab_count(&r->stmts);
}

static struct pf_ps_stmt *lookup(const struct pf_ps_registry *r, const uint8_t *key, size_t key_len, uint64_t hash)
{
	for (struct pf_hnode *n = pf_htab_first(&r->stmts, hash); n; n = pf_htab_next(n)) {
		struct pf_ps_stmt *st = container_of(n, struct pf_ps_stmt, node);
		/* Equal hashes prove nothing: only equal bytes make the same statement. */
		if (st->key_len == key_len && memcmp(st->key, key, key_len) == 0)
			return st;
	}
	return NULL;
}

struct pf_ps_stmt *pf_ps_registry_find(const struct pf_ps_registry *r, const uint8_t *key, size_t key_len)
{
	return lookup(r, key, key_len, r->hash(key, key_len));
}

struct pf_ps_stmt *pf_ps_registry_get(struct pf_ps_registry *r, const uint8_t *key, size_t key_len)
{
	uint64_t hash = r->hash(key, key_len);
	struct pf_ps_stmt *st = lookup(r, key, key_len, hash);

	if (st) {
		st->refs++;
		return st;
	}
	st = pf_xmalloc(sizeof(*st) + key_len);
	st->reg = r;
	/* 64 bits never wrap in a process's life, so an id is never reused, alive or not: a
	 * server can never be asked to Parse a name it still holds for another statement. */
	st->id = ++r->last_id;
	st->refs = 1;
	st->key_len = key_len;
	snprintf(st->name, sizeof(st->name), PF_PS_SERVER_NAME_PREFIX "%llu", (unsigned long long)st->id);
	memcpy(st->key, key, key_len);
	pf_htab_insert(&r->stmts, &st->node, hash);
	r->key_bytes += key_len;
	return st;
}

void pf_ps_stmt_ref(struct pf_ps_stmt *st)
{
	st->refs++;
}

void pf_ps_stmt_unref(struct pf_ps_stmt *st)
{
	if (--st->refs > 0)
		return;
	pf_htab_remove(&st->reg->stmts, &st->node);
	st->reg->key_bytes -= st->key_len;
	free(st);
}

size_t pf_ps_stmt_refs(const struct pf_ps_stmt *st)
{
	return st->refs;
}

uint64_t pf_ps_stmt_id(const struct pf_ps_stmt *st)
{
	return st->id;
}

const char *pf_ps_stmt_name(const struct pf_ps_stmt *st)
{
	return st->name;
}

const uint8_t *pf_ps_stmt_key(const struct pf_ps_stmt *st, size_t *len)
{
	*len = st->key_len;
	return st->key;
}

uint64_t pf_ps_stmt_hash(const struct pf_ps_stmt *st)
{
	return st->node.hash;
}

void pf_ps_build_parse(struct pf_buf *b, const struct pf_ps_stmt *st)
{
	pf_build_parse_key(b, st->name, st->key, st->key_len);
}

void pf_ps_build_close(struct pf_buf *b, const struct pf_ps_stmt *st)
{
	pf_build_close(b, 'S', st->name);
}

void pf_ps_build_error(struct pf_buf *b, enum pf_ps_result r, const char *client_name)
{
	struct pf_buf msg;

	pf_buf_init(&msg);
	pf_buf_printf(&msg, "prepared statement \"%s\" %s", client_name,
		      r == PF_PS_EXISTS ? "already exists" : "does not exist");
	pf_buf_put_u8(&msg, 0);
	pf_build_error(b, "ERROR", r == PF_PS_EXISTS ? "42P05" : "26000", (const char *)msg.data, NULL, NULL);
	pf_buf_free(&msg);
}
