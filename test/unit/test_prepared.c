/*
 * test_prepared.c - prepared statements in transaction mode, the core (issue #8): the
 * registry (identity by text and parameter types, collisions, references, ids), a client's
 * view (Parse, redefinition, Close, DEALLOCATE, DISCARD, 63-byte names, undo), a server's
 * LRU (order, capacity 0 and 1, eviction, forget/restore), the message rewriting (exact
 * bytes of hand-built Parse, Bind, Describe and Close) and the SQL command parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pool/prepared.h"
#include "pool/prepared_client.h"
#include "pool/prepared_server.h"
#include "pool/stats.h"
#include "proto/build.h"
#include "proto/parse.h"
#include "proto/sqlcmd.h"
#include "util/buf.h"

#define U8(s) ((const uint8_t *)(s))
/* Compare a buffer with a byte string given as a literal (which may contain NULs). */
#define assert_bytes(b, lit) do { \
		assert_int_equal((b)->len, sizeof(lit) - 1); \
		assert_memory_equal((b)->data, (lit), sizeof(lit) - 1); \
	} while (0)

/* A statement key as a Parse carries it: query, NUL, int16 count, int32 OIDs. */
static void make_key(struct pf_buf *k, const char *query, int n, const uint32_t *oids)
{
	pf_buf_reset(k);
	pf_buf_put_str(k, query);
	pf_buf_put_u16(k, (uint16_t)n);
	for (int i = 0; i < n; i++)
		pf_buf_put_u32(k, oids[i]);
}

static uint64_t same_hash(const void *data, size_t len)
{
	return 42;
}

static struct pf_ps_registry reg;

static int setup(void **state)
{
	pf_ps_registry_init(&reg);
	return 0;
}

/* Every test must leave no statement behind: a leak of references shows here. */
static int teardown(void **state)
{
	assert_int_equal(pf_ps_registry_free(&reg), 0);
	return 0;
}

/* --- registry --- */

static void test_registry_identity(void **state)
{
	static const uint32_t int4[] = { 23 }, text[] = { 25 };
	struct pf_buf k1, k2, k3;
	struct pf_ps_stmt *a, *b, *c, *a2;

	pf_buf_init(&k1);
	pf_buf_init(&k2);
	pf_buf_init(&k3);
	make_key(&k1, "SELECT $1", 1, int4);
	make_key(&k2, "SELECT $1", 1, text);
	make_key(&k3, "SELECT $1", 0, NULL);
	a = pf_ps_registry_get(&reg, k1.data, k1.len);
	b = pf_ps_registry_get(&reg, k2.data, k2.len);
	c = pf_ps_registry_get(&reg, k3.data, k3.len);
	/* Same text, other parameter types (or none given): other statements. */
	assert_ptr_not_equal(a, b);
	assert_ptr_not_equal(a, c);
	assert_ptr_not_equal(b, c);
	assert_string_equal(pf_ps_stmt_name(a), "PF_1");
	assert_string_equal(pf_ps_stmt_name(b), "PF_2");
	assert_string_equal(pf_ps_stmt_name(c), "PF_3");
	assert_int_equal(pf_ps_registry_count(&reg), 3);
	assert_int_equal(reg.key_bytes, k1.len + k2.len + k3.len);

	/* Identical key: shared, one more reference. */
	a2 = pf_ps_registry_get(&reg, k1.data, k1.len);
	assert_ptr_equal(a, a2);
	assert_int_equal(pf_ps_stmt_refs(a), 2);
	assert_ptr_equal(pf_ps_registry_find(&reg, k2.data, k2.len), b);
	assert_int_equal(pf_ps_stmt_refs(b), 1); /* find takes no reference */

	size_t len;
	const uint8_t *key = pf_ps_stmt_key(a, &len);
	assert_int_equal(len, k1.len);
	assert_memory_equal(key, k1.data, len);
	assert_string_equal((const char *)key, "SELECT $1");

	pf_ps_stmt_unref(a2);
	assert_int_equal(pf_ps_stmt_refs(a), 1);
	pf_ps_stmt_unref(a);
	assert_null(pf_ps_registry_find(&reg, k1.data, k1.len));
	pf_ps_stmt_unref(b);
	pf_ps_stmt_unref(c);
	assert_int_equal(pf_ps_registry_count(&reg), 0);
	assert_int_equal(reg.key_bytes, 0);
	assert_null(reg.stmts.buckets); /* an empty registry holds no memory */
	pf_buf_free(&k1);
	pf_buf_free(&k2);
	pf_buf_free(&k3);
}

/* With a hash that makes every key collide, keys are still told apart by their bytes. */
static void test_registry_collision(void **state)
{
	static const char *const texts[] = {
		"SELECT 1", "SELECT 2", "SELECT 1 ", "SELECT", "", "select 1", "SELECT 1\n",
	};
	enum { N = sizeof(texts) / sizeof(texts[0]) };
	static const uint32_t oids[] = { 23, 25 };
	struct pf_ps_stmt *st[N + 2];
	struct pf_buf k;

	assert_int_equal(pf_ps_registry_set_hash(&reg, same_hash), 0);
	pf_buf_init(&k);
	for (int i = 0; i < N; i++) {
		make_key(&k, texts[i], 0, NULL);
		st[i] = pf_ps_registry_get(&reg, k.data, k.len);
	}
	/* Same text and length, types differing only in the last byte. */
	make_key(&k, "SELECT $1", 1, oids);
	st[N] = pf_ps_registry_get(&reg, k.data, k.len);
	make_key(&k, "SELECT $1", 1, oids + 1);
	st[N + 1] = pf_ps_registry_get(&reg, k.data, k.len);
	assert_int_equal(pf_ps_registry_count(&reg), N + 2);
	for (int i = 0; i < N + 2; i++)
		for (int j = i + 1; j < N + 2; j++)
			assert_ptr_not_equal(st[i], st[j]);
	for (int i = 0; i < N; i++) {
		make_key(&k, texts[i], 0, NULL);
		assert_ptr_equal(pf_ps_registry_find(&reg, k.data, k.len), st[i]);
		assert_int_equal(pf_ps_stmt_hash(st[i]), 42);
	}
	/* The hash may not change under existing entries. */
	assert_int_equal(pf_ps_registry_set_hash(&reg, NULL), -1);
	for (int i = 0; i < N + 2; i++)
		pf_ps_stmt_unref(st[i]);
	pf_buf_free(&k);
}

/* An id is never given twice, even after its statement is gone. */
static void test_registry_ids(void **state)
{
	struct pf_buf k;
	struct pf_ps_stmt *a, *b;

	pf_buf_init(&k);
	make_key(&k, "SELECT 1", 0, NULL);
	a = pf_ps_registry_get(&reg, k.data, k.len);
	assert_int_equal(pf_ps_stmt_id(a), 1);
	/* Ids start at 1: the name the pooler uses to make a server fail on purpose is free. */
	assert_string_equal(PF_PS_ABSENT_NAME, "PF_0");
	pf_ps_stmt_unref(a);
	b = pf_ps_registry_get(&reg, k.data, k.len);
	assert_int_equal(pf_ps_stmt_id(b), 2);
	assert_string_equal(pf_ps_stmt_name(b), "PF_2");
	pf_ps_stmt_unref(b);
	pf_buf_free(&k);
}

/* Many statements: the table grows and shrinks back to nothing. */
static void test_registry_many(void **state)
{
	enum { N = 5000 };
	struct pf_ps_stmt **st = calloc(N, sizeof(*st));
	struct pf_buf k;
	char q[32];

	pf_buf_init(&k);
	for (int i = 0; i < N; i++) {
		snprintf(q, sizeof(q), "SELECT %d", i);
		make_key(&k, q, 0, NULL);
		st[i] = pf_ps_registry_get(&reg, k.data, k.len);
	}
	assert_int_equal(pf_ps_registry_count(&reg), N);
	assert_true(reg.stmts.n_buckets >= N);
	for (int i = 0; i < N; i += 7) {
		snprintf(q, sizeof(q), "SELECT %d", i);
		make_key(&k, q, 0, NULL);
		assert_ptr_equal(pf_ps_registry_find(&reg, k.data, k.len), st[i]);
	}
	for (int i = 0; i < N; i++)
		pf_ps_stmt_unref(st[i]);
	assert_int_equal(pf_ps_registry_count(&reg), 0);
	assert_null(reg.stmts.buckets);
	free(st);
	pf_buf_free(&k);
}

static void test_build_error(void **state)
{
	struct pf_buf b;
	struct pf_buf k;

	pf_buf_init(&b);
	pf_ps_build_error(&b, PF_PS_EXISTS, "s1");
	assert_bytes(&b, "E\0\0\0\x42" "SERROR\0VERROR\0C42P05\0Mprepared statement \"s1\" already exists\0\0");
	pf_buf_reset(&b);
	pf_ps_build_error(&b, PF_PS_MISSING, "%s");
	assert_bytes(&b, "E\0\0\0\x42" "SERROR\0VERROR\0C26000\0Mprepared statement \"%s\" does not exist\0\0");
	pf_buf_reset(&b);

	/* Parse and Close under the server-side name. */
	pf_buf_init(&k);
	make_key(&k, "SELECT 1", 0, NULL);
	struct pf_ps_stmt *st = pf_ps_registry_get(&reg, k.data, k.len);
	pf_ps_build_parse(&b, st);
	assert_bytes(&b, "P\0\0\0\x14PF_1\0SELECT 1\0\0\0");
	pf_buf_reset(&b);
	pf_ps_build_close(&b, st);
	assert_bytes(&b, "C\0\0\0\x0aSPF_1\0");
	pf_ps_stmt_unref(st);
	pf_buf_free(&k);
	pf_buf_free(&b);
}

/* --- a client's view --- */

static void test_client_parse_close(void **state)
{
	struct pf_ps_client c;
	struct pf_stats stats = { 0 };
	struct pf_buf k1, k2;
	struct pf_ps_stmt *st, *st2;

	pf_ps_client_init(&c);
	pf_buf_init(&k1);
	pf_buf_init(&k2);
	make_key(&k1, "SELECT 1", 0, NULL);
	make_key(&k2, "SELECT 2", 0, NULL);
	assert_null(pf_ps_client_get(&c, "s1"));
	assert_int_equal(pf_ps_client_parse(&c, &reg, "s1", k1.data, k1.len, &stats, &st), PF_PS_OK);
	assert_int_equal(pf_ps_client_count(&c), 1);
	assert_int_equal(stats.client_parse_count, 1);
	assert_ptr_equal(pf_ps_client_get(&c, "s1"), st);
	assert_int_equal(pf_ps_stmt_refs(st), 1);

	/* A name must be closed before it is defined again, whatever the text. */
	assert_int_equal(pf_ps_client_parse(&c, &reg, "s1", k1.data, k1.len, &stats, &st2), PF_PS_EXISTS);
	assert_int_equal(pf_ps_client_parse(&c, &reg, "s1", k2.data, k2.len, &stats, &st2), PF_PS_EXISTS);
	assert_int_equal(stats.client_parse_count, 1);
	assert_int_equal(pf_ps_registry_count(&reg), 1); /* the refused text was not registered */

	/* Names are case-sensitive, and "" is never the pooler's. */
	assert_null(pf_ps_client_get(&c, "S1"));
	assert_int_equal(pf_ps_client_parse(&c, &reg, "", k1.data, k1.len, &stats, &st2), PF_PS_UNNAMED);
	assert_null(pf_ps_client_get(&c, ""));
	assert_int_equal(pf_ps_client_count(&c), 1);

	/* Bind counts, Describe does not; an unknown name counts nothing. */
	assert_ptr_equal(pf_ps_client_bind(&c, "s1", &stats), st);
	assert_ptr_equal(pf_ps_client_bind(&c, "s1", NULL), st);
	assert_null(pf_ps_client_bind(&c, "s2", &stats));
	assert_int_equal(stats.bind_count, 1);

	/* Close, then the name is free again. */
	assert_true(pf_ps_client_close(&c, "s1"));
	assert_false(pf_ps_client_close(&c, "s1"));
	assert_int_equal(pf_ps_client_count(&c), 0);
	assert_null(c.names.buckets); /* nothing held once the last name is gone */
	assert_int_equal(pf_ps_registry_count(&reg), 0);
	assert_int_equal(pf_ps_client_parse(&c, &reg, "s1", k2.data, k2.len, &stats, &st), PF_PS_OK);
	assert_int_equal(stats.client_parse_count, 2);
	pf_ps_client_clear(&c);
	pf_buf_free(&k1);
	pf_buf_free(&k2);
}

static void test_client_shared(void **state)
{
	struct pf_ps_client a, b;
	struct pf_buf k;
	struct pf_ps_stmt *sa, *sb;

	pf_ps_client_init(&a);
	pf_ps_client_init(&b);
	pf_buf_init(&k);
	make_key(&k, "SELECT now()", 0, NULL);
	/* Two clients, two names, one text: one statement. */
	assert_int_equal(pf_ps_client_parse(&a, &reg, "P_0", k.data, k.len, NULL, &sa), PF_PS_OK);
	assert_int_equal(pf_ps_client_parse(&b, &reg, "stmt", k.data, k.len, NULL, &sb), PF_PS_OK);
	assert_ptr_equal(sa, sb);
	assert_int_equal(pf_ps_stmt_refs(sa), 2);
	/* And a client may give one text two names. */
	assert_int_equal(pf_ps_client_parse(&a, &reg, "P_1", k.data, k.len, NULL, &sb), PF_PS_OK);
	assert_ptr_equal(sa, sb);
	assert_int_equal(pf_ps_stmt_refs(sa), 3);
	/* Each client sees only its own names. */
	assert_null(pf_ps_client_get(&a, "stmt"));
	assert_null(pf_ps_client_get(&b, "P_0"));
	pf_ps_client_clear(&a);
	assert_int_equal(pf_ps_client_count(&a), 0);
	assert_int_equal(pf_ps_stmt_refs(sb), 1);
	assert_ptr_equal(pf_ps_client_get(&b, "stmt"), sb);
	pf_ps_client_clear(&b);
	assert_int_equal(pf_ps_registry_count(&reg), 0);
	pf_buf_free(&k);
}

/* As in PostgreSQL, names are told apart by their first 63 bytes only. */
static void test_client_long_names(void **state)
{
	struct pf_ps_client c;
	struct pf_buf k;
	struct pf_ps_stmt *st, *st2;
	char n63[64], n64a[65], n64b[65], n62[63], big[1000];

	memset(n63, 'x', 63);
	n63[63] = 0;
	memcpy(n64a, n63, 63);
	memcpy(n64b, n63, 63);
	n64a[63] = 'a';
	n64b[63] = 'b';
	n64a[64] = n64b[64] = 0;
	memcpy(n62, n63, 62);
	n62[62] = 0;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;

	pf_ps_client_init(&c);
	pf_buf_init(&k);
	make_key(&k, "SELECT 1", 0, NULL);
	assert_int_equal(pf_ps_client_parse(&c, &reg, n64a, k.data, k.len, NULL, &st), PF_PS_OK);
	assert_int_equal(pf_ps_client_parse(&c, &reg, n64b, k.data, k.len, NULL, &st2), PF_PS_EXISTS);
	assert_int_equal(pf_ps_client_parse(&c, &reg, n63, k.data, k.len, NULL, &st2), PF_PS_EXISTS);
	assert_ptr_equal(pf_ps_client_get(&c, big), st);
	assert_null(pf_ps_client_get(&c, n62));
	assert_int_equal(pf_ps_client_parse(&c, &reg, n62, k.data, k.len, NULL, &st2), PF_PS_OK);
	assert_int_equal(pf_ps_client_count(&c), 2);
	assert_true(pf_ps_client_close(&c, n64b));
	assert_null(pf_ps_client_get(&c, n64a));
	pf_ps_client_clear(&c);
	pf_buf_free(&k);
}

/* take/put: how the wiring undoes a Close the server skipped, and DEALLOCATE name. */
static void test_client_take_put(void **state)
{
	struct pf_ps_client c;
	struct pf_buf k;
	struct pf_ps_stmt *st, *taken;

	pf_ps_client_init(&c);
	pf_buf_init(&k);
	make_key(&k, "SELECT 1", 0, NULL);
	assert_int_equal(pf_ps_client_parse(&c, &reg, "s", k.data, k.len, NULL, &st), PF_PS_OK);
	assert_null(pf_ps_client_take(&c, "other"));
	taken = pf_ps_client_take(&c, "s");
	assert_ptr_equal(taken, st);
	assert_int_equal(pf_ps_stmt_refs(st), 1); /* now the caller's */
	assert_int_equal(pf_ps_client_count(&c), 0);
	assert_int_equal(pf_ps_registry_count(&reg), 1);

	/* Undo: the reference goes back to the map. */
	assert_int_equal(pf_ps_client_put(&c, "s", taken), PF_PS_OK);
	assert_ptr_equal(pf_ps_client_get(&c, "s"), st);
	assert_int_equal(pf_ps_stmt_refs(st), 1);

	/* put refuses a name in use and "", and leaves the reference with the caller. */
	pf_ps_stmt_ref(st);
	assert_int_equal(pf_ps_client_put(&c, "s", st), PF_PS_EXISTS);
	assert_int_equal(pf_ps_client_put(&c, "", st), PF_PS_UNNAMED);
	assert_int_equal(pf_ps_client_put(&c, "t", st), PF_PS_OK);
	assert_int_equal(pf_ps_stmt_refs(st), 2);
	pf_ps_client_clear(&c);
	pf_buf_free(&k);
}

/* DEALLOCATE ALL / DISCARD ALL: the whole view goes, the memory too. */
static void test_client_clear(void **state)
{
	struct pf_ps_client c;
	struct pf_buf k;
	struct pf_ps_stmt *st;
	char name[16], q[32];

	pf_ps_client_init(&c);
	pf_ps_client_clear(&c); /* an empty view clears fine */
	pf_buf_init(&k);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		snprintf(q, sizeof(q), "SELECT %d", i % 100);
		make_key(&k, q, 0, NULL);
		assert_int_equal(pf_ps_client_parse(&c, &reg, name, k.data, k.len, NULL, &st), PF_PS_OK);
	}
	assert_int_equal(pf_ps_client_count(&c), 300);
	assert_int_equal(pf_ps_registry_count(&reg), 100);
	pf_ps_client_clear(&c);
	assert_int_equal(pf_ps_client_count(&c), 0);
	assert_null(c.names.buckets);
	assert_int_equal(pf_ps_registry_count(&reg), 0);
	/* Usable again. */
	assert_int_equal(pf_ps_client_parse(&c, &reg, "s0", k.data, k.len, NULL, &st), PF_PS_OK);
	pf_ps_client_clear(&c);
	pf_buf_free(&k);
}

/* --- a server's cache --- */

/* Statements named by their query, for the server tests. */
static struct pf_ps_stmt *stmt(const char *query)
{
	struct pf_buf k;
	struct pf_ps_stmt *st;

	pf_buf_init(&k);
	make_key(&k, query, 0, NULL);
	st = pf_ps_registry_get(&reg, k.data, k.len);
	pf_buf_free(&k);
	return st;
}

static void test_server_lru(void **state)
{
	struct pf_ps_server sv;
	struct pf_stats stats = { 0 };
	struct pf_ps_stmt *a = stmt("A"), *b = stmt("B"), *c = stmt("C"), *d = stmt("D"), *old;

	pf_ps_server_init(&sv);
	assert_int_equal(pf_ps_server_ensure(&sv, a, 3, &stats), PF_PS_MISS);
	assert_int_equal(pf_ps_server_ensure(&sv, b, 3, &stats), PF_PS_MISS);
	assert_int_equal(pf_ps_server_ensure(&sv, c, 3, &stats), PF_PS_MISS);
	assert_null(pf_ps_server_evict(&sv, 3));
	assert_int_equal(pf_ps_server_count(&sv), 3);
	assert_int_equal(stats.server_parse_count, 3);
	assert_int_equal(pf_ps_stmt_refs(a), 2); /* ours and the server's */

	/* A is used again: B is now the least recently used. */
	assert_int_equal(pf_ps_server_ensure(&sv, a, 3, &stats), PF_PS_HIT);
	assert_int_equal(stats.server_parse_count, 3);
	assert_int_equal(pf_ps_server_ensure(&sv, d, 3, &stats), PF_PS_MISS);
	old = pf_ps_server_evict(&sv, 3);
	assert_ptr_equal(old, b);
	assert_null(pf_ps_server_evict(&sv, 3));
	assert_false(pf_ps_server_has(&sv, b));
	assert_true(pf_ps_server_has(&sv, a));
	assert_int_equal(pf_ps_stmt_refs(b), 2); /* the caller holds the server's reference until its Close is answered */
	pf_ps_stmt_unref(old);

	/* Evicted, then needed again: prepared again, and C (now oldest) goes. */
	assert_int_equal(pf_ps_server_ensure(&sv, b, 3, &stats), PF_PS_MISS);
	old = pf_ps_server_evict(&sv, 3);
	assert_ptr_equal(old, c);
	pf_ps_stmt_unref(old);
	assert_int_equal(stats.server_parse_count, 5);

	/* Order now, oldest first: A, D, B. */
	assert_int_equal(pf_ps_server_ensure(&sv, c, 3, &stats), PF_PS_MISS);
	old = pf_ps_server_evict(&sv, 3);
	assert_ptr_equal(old, a);
	pf_ps_stmt_unref(old);

	pf_ps_server_clear(&sv);
	assert_int_equal(pf_ps_server_count(&sv), 0);
	assert_null(pf_ps_server_evict(&sv, 1));
	assert_int_equal(pf_ps_stmt_refs(a), 1);
	/* A cleared server prepares everything again. */
	assert_int_equal(pf_ps_server_ensure(&sv, a, 3, NULL), PF_PS_MISS);
	pf_ps_server_clear(&sv);
	pf_ps_stmt_unref(a);
	pf_ps_stmt_unref(b);
	pf_ps_stmt_unref(c);
	pf_ps_stmt_unref(d);
}

/* Capacity 0 is the feature turned off: nothing is recorded, nothing counted. */
static void test_server_capacity_0(void **state)
{
	struct pf_ps_server sv;
	struct pf_stats stats = { 0 };
	struct pf_ps_stmt *a = stmt("A"), *b = stmt("B"), *old;

	pf_ps_server_init(&sv);
	assert_int_equal(pf_ps_server_ensure(&sv, a, 0, &stats), PF_PS_OFF);
	assert_int_equal(pf_ps_server_ensure(&sv, a, -1, &stats), PF_PS_OFF);
	assert_int_equal(pf_ps_server_count(&sv), 0);
	assert_int_equal(stats.server_parse_count, 0);
	assert_null(pf_ps_server_evict(&sv, 0));

	/* A RELOAD to 0 with statements prepared: evict hands them all out for Close. */
	assert_int_equal(pf_ps_server_ensure(&sv, a, 5, &stats), PF_PS_MISS);
	assert_int_equal(pf_ps_server_ensure(&sv, b, 5, &stats), PF_PS_MISS);
	old = pf_ps_server_evict(&sv, 0);
	assert_ptr_equal(old, a);
	pf_ps_stmt_unref(old);
	old = pf_ps_server_evict(&sv, 0);
	assert_ptr_equal(old, b);
	pf_ps_stmt_unref(old);
	assert_null(pf_ps_server_evict(&sv, 0));
	assert_null(sv.stmts.buckets);
	pf_ps_stmt_unref(a);
	pf_ps_stmt_unref(b);
}

static void test_server_capacity_1(void **state)
{
	struct pf_ps_server sv;
	struct pf_ps_stmt *a = stmt("A"), *b = stmt("B"), *old;

	pf_ps_server_init(&sv);
	assert_int_equal(pf_ps_server_ensure(&sv, a, 1, NULL), PF_PS_MISS);
	assert_null(pf_ps_server_evict(&sv, 1));
	assert_int_equal(pf_ps_server_ensure(&sv, a, 1, NULL), PF_PS_HIT);
	/* The statement just ensured is never the one evicted. */
	assert_int_equal(pf_ps_server_ensure(&sv, b, 1, NULL), PF_PS_MISS);
	old = pf_ps_server_evict(&sv, 1);
	assert_ptr_equal(old, a);
	pf_ps_stmt_unref(old);
	assert_null(pf_ps_server_evict(&sv, 1));
	assert_true(pf_ps_server_has(&sv, b));
	assert_int_equal(pf_ps_server_ensure(&sv, a, 1, NULL), PF_PS_MISS);
	old = pf_ps_server_evict(&sv, 1);
	assert_ptr_equal(old, b);
	pf_ps_stmt_unref(old);
	assert_int_equal(pf_ps_server_ensure(&sv, a, 1, NULL), PF_PS_HIT);
	assert_int_equal(pf_ps_server_count(&sv), 1);
	pf_ps_server_clear(&sv);
	pf_ps_stmt_unref(a);
	pf_ps_stmt_unref(b);
}

/* A lowered capacity (RELOAD) is reached by evicting the oldest, as many as needed. */
static void test_server_capacity_lowered(void **state)
{
	struct pf_ps_server sv;
	struct pf_ps_stmt *st[6], *old;
	char q[8];

	pf_ps_server_init(&sv);
	for (int i = 0; i < 5; i++) {
		snprintf(q, sizeof(q), "Q%d", i);
		st[i] = stmt(q);
		assert_int_equal(pf_ps_server_ensure(&sv, st[i], 5, NULL), PF_PS_MISS);
	}
	st[5] = stmt("Q5");
	assert_int_equal(pf_ps_server_ensure(&sv, st[5], 2, NULL), PF_PS_MISS);
	for (int i = 0; i < 4; i++) {
		old = pf_ps_server_evict(&sv, 2);
		assert_ptr_equal(old, st[i]);
		pf_ps_stmt_unref(old);
	}
	assert_null(pf_ps_server_evict(&sv, 2));
	assert_true(pf_ps_server_has(&sv, st[4]));
	assert_true(pf_ps_server_has(&sv, st[5]));
	pf_ps_server_clear(&sv);
	for (int i = 0; i < 6; i++)
		pf_ps_stmt_unref(st[i]);
}

/* A server keeps its statements alive after their clients have gone. */
static void test_server_outlives_client(void **state)
{
	struct pf_ps_client c;
	struct pf_ps_server sv;
	struct pf_buf k;
	struct pf_ps_stmt *st, *st2, *old;

	pf_ps_client_init(&c);
	pf_ps_server_init(&sv);
	pf_buf_init(&k);
	make_key(&k, "SELECT 42", 0, NULL);
	assert_int_equal(pf_ps_client_parse(&c, &reg, "a", k.data, k.len, NULL, &st), PF_PS_OK);
	assert_int_equal(pf_ps_server_ensure(&sv, st, 10, NULL), PF_PS_MISS);
	pf_ps_client_clear(&c);
	assert_int_equal(pf_ps_stmt_refs(st), 1);
	/* The next client with the same text finds it prepared, under the same name. */
	assert_int_equal(pf_ps_client_parse(&c, &reg, "b", k.data, k.len, NULL, &st2), PF_PS_OK);
	assert_ptr_equal(st, st2);
	assert_string_equal(pf_ps_stmt_name(st2), "PF_1");
	assert_int_equal(pf_ps_server_ensure(&sv, st2, 10, NULL), PF_PS_HIT);
	pf_ps_client_clear(&c);
	/* Evicted and unreferenced: gone. */
	old = pf_ps_server_evict(&sv, 0);
	assert_ptr_equal(old, st);
	pf_ps_stmt_unref(old);
	assert_int_equal(pf_ps_registry_count(&reg), 0);
	pf_buf_free(&k);
}

/* Undoing what the server skipped: a failed Parse is forgotten, a skipped Close restored. */
static void test_server_forget_restore(void **state)
{
	struct pf_ps_server sv;
	struct pf_ps_stmt *a = stmt("A"), *b = stmt("B"), *c = stmt("C"), *old;

	pf_ps_server_init(&sv);
	assert_int_equal(pf_ps_server_ensure(&sv, a, 2, NULL), PF_PS_MISS);
	assert_true(pf_ps_server_forget(&sv, a));
	assert_false(pf_ps_server_forget(&sv, a));
	assert_int_equal(pf_ps_server_count(&sv), 0);
	assert_int_equal(pf_ps_stmt_refs(a), 1);
	/* Ensured again after the failure: another Parse is due. */
	assert_int_equal(pf_ps_server_ensure(&sv, a, 2, NULL), PF_PS_MISS);
	assert_int_equal(pf_ps_server_ensure(&sv, b, 2, NULL), PF_PS_MISS);

	/* Batch: C evicts A (Close A, Parse C); the server fails before either: undo newest first. */
	assert_int_equal(pf_ps_server_ensure(&sv, c, 2, NULL), PF_PS_MISS);
	old = pf_ps_server_evict(&sv, 2);
	assert_ptr_equal(old, a);
	assert_true(pf_ps_server_forget(&sv, c));
	pf_ps_server_restore(&sv, old);
	pf_ps_stmt_unref(old);
	assert_true(pf_ps_server_has(&sv, a));
	assert_true(pf_ps_server_has(&sv, b));
	assert_false(pf_ps_server_has(&sv, c));
	assert_int_equal(pf_ps_stmt_refs(a), 2);
	/* Restored as the least recently used: it goes first. */
	pf_ps_server_restore(&sv, a); /* already there: no change */
	assert_int_equal(pf_ps_server_count(&sv), 2);
	assert_int_equal(pf_ps_server_ensure(&sv, c, 2, NULL), PF_PS_MISS);
	old = pf_ps_server_evict(&sv, 2);
	assert_ptr_equal(old, a);
	pf_ps_stmt_unref(old);

	/* A restore past capacity is trimmed by the next evict. */
	pf_ps_server_restore(&sv, a);
	assert_int_equal(pf_ps_server_count(&sv), 3);
	old = pf_ps_server_evict(&sv, 2);
	assert_ptr_equal(old, a);
	pf_ps_stmt_unref(old);
	pf_ps_server_clear(&sv);
	pf_ps_stmt_unref(a);
	pf_ps_stmt_unref(b);
	pf_ps_stmt_unref(c);
}

/* --- messages --- */

static void test_parse_parse(void **state)
{
	static const char body[] = "s1\0SELECT $1\0\0\x01\0\0\0\x17";
	const char *name;
	const uint8_t *key;
	size_t key_len;

	assert_int_equal(pf_parse_parse(U8(body), sizeof(body) - 1, &name, &key, &key_len), 0);
	assert_string_equal(name, "s1");
	assert_ptr_equal(key, U8(body) + 3);
	assert_int_equal(key_len, sizeof(body) - 1 - 3);
	/* Unnamed, no types. */
	assert_int_equal(pf_parse_parse(U8("\0SELECT 1\0\0\0"), 12, &name, &key, &key_len), 0);
	assert_string_equal(name, "");
	assert_int_equal(key_len, 11);
	/* 0xffff types: the count is unsigned. */
	assert_int_equal(pf_parse_parse(U8("\0q\0\xff\xff"), 5, &name, &key, &key_len), -1);
	/* Malformed: no name NUL, no query NUL, no count, short or long type list. */
	assert_int_equal(pf_parse_parse(U8("s1"), 2, &name, &key, &key_len), -1);
	assert_int_equal(pf_parse_parse(U8("s1\0SELECT"), 9, &name, &key, &key_len), -1);
	assert_int_equal(pf_parse_parse(U8("s1\0q\0\0"), 6, &name, &key, &key_len), -1);
	assert_int_equal(pf_parse_parse(U8(body), sizeof(body) - 2, &name, &key, &key_len), -1);
	assert_int_equal(pf_parse_parse(U8("s1\0q\0\0\0\0"), 8, &name, &key, &key_len), -1);
	assert_int_equal(pf_parse_parse(U8(""), 0, &name, &key, &key_len), -1);
}

static void test_rewrite_parse(void **state)
{
	static const char body[] = "s1\0SELECT $1\0\0\x01\0\0\0\x17";
	const char *name;
	const uint8_t *key;
	size_t key_len;
	struct pf_buf b;

	pf_buf_init(&b);
	assert_int_equal(pf_parse_parse(U8(body), sizeof(body) - 1, &name, &key, &key_len), 0);
	assert_int_equal(pf_build_renamed(&b, 'P', U8(body), sizeof(body) - 1, 0, "PF_1"), 0);
	assert_bytes(&b, "P\0\0\0\x19PF_1\0SELECT $1\0\0\x01\0\0\0\x17");
	/* The same bytes as a Parse built from the registry entry (a lazy prepare). */
	struct pf_ps_stmt *st = pf_ps_registry_get(&reg, key, key_len);
	pf_buf_reset(&b);
	pf_ps_build_parse(&b, st);
	assert_bytes(&b, "P\0\0\0\x19PF_1\0SELECT $1\0\0\x01\0\0\0\x17");
	pf_buf_reset(&b);
	pf_build_parse_key(&b, "", key, key_len);
	assert_bytes(&b, "P\0\0\0\x15\0SELECT $1\0\0\x01\0\0\0\x17");
	pf_ps_stmt_unref(st);

	/* A Parse far larger than pkt_buf (100 kB of query) is rewritten whole. */
	size_t qlen = 100 * 1024;
	struct pf_buf big;
	pf_buf_init(&big);
	pf_buf_put_str(&big, "client_statement_name");
	pf_buf_reserve(&big, qlen + 3);
	memset(big.data + big.len, 'x', qlen);
	big.len += qlen;
	pf_buf_put_u8(&big, 0);
	pf_buf_put_u16(&big, 0);
	assert_int_equal(pf_parse_parse(big.data, big.len, &name, &key, &key_len), 0);
	assert_int_equal(key_len, qlen + 3);
	st = pf_ps_registry_get(&reg, key, key_len);
	pf_buf_reset(&b);
	assert_int_equal(pf_build_renamed(&b, 'P', big.data, big.len, 0, pf_ps_stmt_name(st)), 0);
	assert_int_equal(b.len, 1 + 4 + 5 + qlen + 3);
	assert_int_equal(pf_get_u32(b.data + 1), 4 + 5 + qlen + 3);
	assert_memory_equal(b.data + 5, "PF_2\0xxx", 8);
	assert_memory_equal(b.data + 10, key, key_len);
	pf_ps_stmt_unref(st);
	pf_buf_free(&big);
	pf_buf_free(&b);
}

static void test_rewrite_bind(void **state)
{
	/* portal "por", statement "s1", no formats, one parameter "5", no result formats */
	static const char body[] = "por\0s1\0\0\0\0\x01\0\0\0\x01" "5" "\0\0";
	static const char want[] = "B\0\0\0\x18por\0PF_1\0\0\0\0\x01\0\0\0\x01" "5" "\0\0";
	const size_t len = sizeof(body) - 1;
	size_t off;
	const char *name;
	struct pf_buf b;

	pf_buf_init(&b);
	assert_int_equal(pf_parse_stmt_ref('B', U8(body), len, len, &off, &name), 0);
	assert_int_equal(off, 4);
	assert_string_equal(name, "s1");
	assert_int_equal(pf_build_renamed(&b, 'B', U8(body), len, off, "PF_1"), 0);
	assert_bytes(&b, want);

	/* With only the first 7 bytes in memory: the head, then the rest of the original. */
	assert_int_equal(pf_parse_stmt_ref('B', U8(body), 7, len, &off, &name), 0);
	pf_buf_reset(&b);
	assert_int_equal(pf_build_renamed_head(&b, 'B', U8(body), len, off, strlen(name), "PF_1"), 0);
	assert_int_equal(b.len, 5 + 4 + 5);
	pf_buf_put(&b, body + off + strlen(name) + 1, len - (off + strlen(name) + 1));
	assert_bytes(&b, want);

	/* Not enough bytes to see the name: ask for more; all bytes and no NUL: malformed. */
	assert_int_equal(pf_parse_stmt_ref('B', U8(body), 6, len, &off, &name), PF_STMT_REF_INCOMPLETE);
	assert_int_equal(pf_parse_stmt_ref('B', U8(body), 2, len, &off, &name), PF_STMT_REF_INCOMPLETE);
	assert_int_equal(pf_parse_stmt_ref('B', U8(body), 0, len, &off, &name), PF_STMT_REF_INCOMPLETE);
	assert_int_equal(pf_parse_stmt_ref('B', U8("por\0s1"), 6, 6, &off, &name), -1);
	assert_int_equal(pf_parse_stmt_ref('B', U8("por"), 3, 3, &off, &name), -1);
	assert_int_equal(pf_parse_stmt_ref('B', U8(body), len + 1, len, &off, &name), -1);
	/* The unnamed statement is found like any other (the caller passes it through). */
	assert_int_equal(pf_parse_stmt_ref('B', U8("\0\0\0\0\0\0\0\0"), 8, 8, &off, &name), 0);
	assert_int_equal(off, 1);
	assert_string_equal(name, "");
	/* Messages that name no statement. */
	assert_int_equal(pf_parse_stmt_ref('E', U8("\0\0\0\0\0"), 5, 5, &off, &name), -1);
	assert_int_equal(pf_parse_stmt_ref('P', U8("s\0q\0\0\0"), 6, 6, &off, &name), -1);

	/* Renaming refuses names outside the body, and appends nothing then. */
	pf_buf_reset(&b);
	assert_int_equal(pf_build_renamed(&b, 'B', U8(body), len, len, "PF_1"), -1);
	assert_int_equal(pf_build_renamed(&b, 'B', U8("por\0s1"), 6, 4, "PF_1"), -1);
	assert_int_equal(pf_build_renamed_head(&b, 'B', U8(body), len, 4, len - 4, "PF_1"), -1);
	assert_int_equal(pf_build_renamed_head(&b, 'B', U8(body), len, len + 1, 0, "PF_1"), -1);
	assert_int_equal(b.len, 0);
	pf_buf_free(&b);
}

static void test_rewrite_describe_close(void **state)
{
	size_t off;
	const char *name;
	struct pf_buf b;

	pf_buf_init(&b);
	assert_int_equal(pf_parse_stmt_ref('D', U8("Ss1\0"), 4, 4, &off, &name), 0);
	assert_int_equal(off, 1);
	assert_string_equal(name, "s1");
	assert_int_equal(pf_build_renamed(&b, 'D', U8("Ss1\0"), 4, off, "PF_1"), 0);
	assert_bytes(&b, "D\0\0\0\x0aSPF_1\0");
	pf_buf_reset(&b);
	pf_build_describe(&b, 'S', "PF_1");
	assert_bytes(&b, "D\0\0\0\x0aSPF_1\0");
	pf_buf_reset(&b);
	assert_int_equal(pf_parse_stmt_ref('C', U8("Ss1\0"), 4, 4, &off, &name), 0);
	assert_int_equal(pf_build_renamed(&b, 'C', U8("Ss1\0"), 4, off, "PF_12345"), 0);
	assert_bytes(&b, "C\0\0\0\x0eSPF_12345\0");
	pf_buf_reset(&b);
	pf_build_close(&b, 'P', "");
	assert_bytes(&b, "C\0\0\0\x06P\0");

	/* Portals are not statements. */
	assert_int_equal(pf_parse_stmt_ref('D', U8("Pp\0"), 3, 3, &off, &name), PF_STMT_REF_PORTAL);
	assert_int_equal(pf_parse_stmt_ref('C', U8("P\0"), 2, 2, &off, &name), PF_STMT_REF_PORTAL);
	/* Unnamed statement. */
	assert_int_equal(pf_parse_stmt_ref('D', U8("S\0"), 2, 2, &off, &name), 0);
	assert_string_equal(name, "");
	/* Malformed: other kinds, trailing bytes, no NUL, empty body. */
	assert_int_equal(pf_parse_stmt_ref('D', U8("Xs\0"), 3, 3, &off, &name), -1);
	assert_int_equal(pf_parse_stmt_ref('C', U8("Ss\0x"), 4, 4, &off, &name), -1);
	assert_int_equal(pf_parse_stmt_ref('C', U8("Ss"), 2, 2, &off, &name), -1);
	assert_int_equal(pf_parse_stmt_ref('D', U8(""), 0, 0, &off, &name), -1);
	/* Partial: the kind byte alone, or the name without its NUL yet. */
	assert_int_equal(pf_parse_stmt_ref('D', U8("Ss1\0"), 0, 4, &off, &name), PF_STMT_REF_INCOMPLETE);
	assert_int_equal(pf_parse_stmt_ref('D', U8("Ss1\0"), 2, 4, &off, &name), PF_STMT_REF_INCOMPLETE);
	pf_buf_free(&b);
}

/* --- SQL commands in simple Query messages --- */

struct sql_case {
	const char *sql;
	enum pf_sqlcmd cmd;
	const char *name; /* for PF_SQLCMD_DEALLOCATE */
};

static void test_sqlcmd(void **state)
{
	static const struct sql_case cases[] = {
		{ "DEALLOCATE foo", PF_SQLCMD_DEALLOCATE, "foo" },
		{ "deallocate FOO", PF_SQLCMD_DEALLOCATE, "foo" },
		{ "DeAlLoCaTe PrEpArE Foo;", PF_SQLCMD_DEALLOCATE, "foo" },
		{ "DEALLOCATE \"Foo Bar\"", PF_SQLCMD_DEALLOCATE, "Foo Bar" },
		{ "DEALLOCATE \"a\"\"b\"", PF_SQLCMD_DEALLOCATE, "a\"b" },
		{ "DEALLOCATE\"x\"", PF_SQLCMD_DEALLOCATE, "x" },
		{ "DEALLOCATE _pg3_0", PF_SQLCMD_DEALLOCATE, "_pg3_0" },
		{ "DEALLOCATE s$1", PF_SQLCMD_DEALLOCATE, "s$1" },
		{ "DEALLOCATE \xc3\x89t\xc3\xa9", PF_SQLCMD_DEALLOCATE, "\xc3\x89t\xc3\xa9" }, /* only ASCII folds */
		{ "  /* a /* nested */ comment */ DEALLOCATE -- line\n  x ; ; ", PF_SQLCMD_DEALLOCATE, "x" },
		{ "DEALLOCATE/**/x/**/", PF_SQLCMD_DEALLOCATE, "x" },
		{ ";; DEALLOCATE x", PF_SQLCMD_DEALLOCATE, "x" },
		{ "\t\r\n\f\vDEALLOCATE\tx\n", PF_SQLCMD_DEALLOCATE, "x" },
		{ "DEALLOCATE x -- no newline", PF_SQLCMD_DEALLOCATE, "x" },
		/* PREPARE is optional, and alone it is a name. */
		{ "DEALLOCATE prepare", PF_SQLCMD_DEALLOCATE, "prepare" },
		{ "DEALLOCATE PREPARE;", PF_SQLCMD_DEALLOCATE, "prepare" },
		{ "DEALLOCATE PREPARE prepare", PF_SQLCMD_DEALLOCATE, "prepare" },
		{ "DEALLOCATE \"PREPARE\"", PF_SQLCMD_DEALLOCATE, "PREPARE" },
		/* ALL, unless quoted. */
		{ "DEALLOCATE ALL", PF_SQLCMD_DEALLOCATE_ALL, NULL },
		{ "deallocate prepare all ;", PF_SQLCMD_DEALLOCATE_ALL, NULL },
		{ "DEALLOCATE \"all\"", PF_SQLCMD_DEALLOCATE, "all" },
		{ "DEALLOCATE \"ALL\"", PF_SQLCMD_DEALLOCATE, "ALL" },
		{ "DISCARD ALL", PF_SQLCMD_DISCARD_ALL, NULL },
		{ "discard all;", PF_SQLCMD_DISCARD_ALL, NULL },
		{ "DISCARD /* x */ ALL -- bye", PF_SQLCMD_DISCARD_ALL, NULL },
		/* Not ours: other commands, more than one, bad syntax. */
		{ "SELECT 1", PF_SQLCMD_OTHER, NULL },
		{ "", PF_SQLCMD_OTHER, NULL },
		{ " ; ", PF_SQLCMD_OTHER, NULL },
		{ "DISCARD PLANS", PF_SQLCMD_OTHER, NULL },
		{ "DISCARD", PF_SQLCMD_OTHER, NULL },
		{ "DISCARD ALL x", PF_SQLCMD_OTHER, NULL },
		{ "DISCARD \"ALL\"", PF_SQLCMD_OTHER, NULL },
		{ "DEALLOCATE", PF_SQLCMD_OTHER, NULL },
		{ "DEALLOCATE;", PF_SQLCMD_OTHER, NULL },
		{ "DEALLOCATE a b", PF_SQLCMD_OTHER, NULL },
		{ "DEALLOCATE a; SELECT 1", PF_SQLCMD_OTHER, NULL },
		{ "DEALLOCATE ALL; DISCARD ALL", PF_SQLCMD_OTHER, NULL },
		{ "DEALLOCATE a.b", PF_SQLCMD_OTHER, NULL },
		{ "DEALLOCATE 1x", PF_SQLCMD_OTHER, NULL },
		{ "DEALLOCATEx", PF_SQLCMD_OTHER, NULL },
		{ "DEALLOCATE \"\"", PF_SQLCMD_OTHER, NULL },
		{ "DEALLOCATE \"abc", PF_SQLCMD_OTHER, NULL },
		{ "DEALLOCATE x /* open", PF_SQLCMD_OTHER, NULL },
		{ "DEALLOCATE x /* a /* b */", PF_SQLCMD_OTHER, NULL },
		{ "DEALLOCATE U&\"x\"", PF_SQLCMD_OTHER, NULL },
		{ "DEALLOCATE 'x'", PF_SQLCMD_OTHER, NULL },
		{ "DEALLOCATE \"PREPARE\" x", PF_SQLCMD_OTHER, NULL },
		{ "EXPLAIN DEALLOCATE x", PF_SQLCMD_OTHER, NULL },
	};
	char name[PF_SQLCMD_NAME_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strcpy(name, "unchanged");
		enum pf_sqlcmd got = pf_sqlcmd_parse(cases[i].sql, strlen(cases[i].sql), name);
		if (got != cases[i].cmd)
			fail_msg("\"%s\": got %d, want %d", cases[i].sql, got, cases[i].cmd);
		assert_string_equal(name, cases[i].name ? cases[i].name : "unchanged");
	}
}

static void test_sqlcmd_set(void **state)
{
	char name[PF_SQLCMD_NAME_MAX], value[PF_SQLCMD_VALUE_MAX];
	struct {
		const char *sql;
		enum pf_sqlcmd_set want;
		const char *name, *value;
	} cases[] = {
		{ "SET extra_float_digits = 3", PF_SQLCMD_SET, "extra_float_digits", "3" },
		{ "set Extra_Float_Digits to -2;", PF_SQLCMD_SET, "extra_float_digits", "-2" },
		{ " /* c */ SET SESSION extra_float_digits=+1 ;; ", PF_SQLCMD_SET, "extra_float_digits", "+1" },
		{ "SET extra_float_digits TO DEFAULT", PF_SQLCMD_SET, "extra_float_digits", "" },
		{ "RESET extra_float_digits", PF_SQLCMD_RESET, "extra_float_digits", NULL },
		{ "SET \"Extra\" = 1", PF_SQLCMD_SET, "Extra", "1" },
		{ "SET LOCAL extra_float_digits = 3", PF_SQLCMD_SET_OTHER, NULL, NULL },
		{ "SET extra_float_digits = 3.5", PF_SQLCMD_SET_OTHER, NULL, NULL },
		{ "SET extra_float_digits = '3'", PF_SQLCMD_SET_OTHER, NULL, NULL },
		{ "SET extra_float_digits = 3x", PF_SQLCMD_SET_OTHER, NULL, NULL },
		{ "SET extra_float_digits = 3; SELECT 1", PF_SQLCMD_SET_OTHER, NULL, NULL },
		{ "SET search_path = a, b", PF_SQLCMD_SET_OTHER, NULL, NULL },
		{ "SET TIME ZONE 3", PF_SQLCMD_SET_OTHER, NULL, NULL },
		{ "SET SESSION AUTHORIZATION bob", PF_SQLCMD_SET_OTHER, NULL, NULL },
		{ "RESET ALL", PF_SQLCMD_SET_OTHER, NULL, NULL },
		{ "SET x =", PF_SQLCMD_SET_OTHER, NULL, NULL },
		{ "SET x = -", PF_SQLCMD_SET_OTHER, NULL, NULL },
		{ "SELECT 1", PF_SQLCMD_SET_OTHER, NULL, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum pf_sqlcmd_set got = pf_sqlcmd_parse_set(cases[i].sql, strlen(cases[i].sql), name, value);
		if (got != cases[i].want)
			fail_msg("%s: %d, want %d", cases[i].sql, got, cases[i].want);
		if (cases[i].name)
			assert_string_equal(name, cases[i].name);
		if (cases[i].value)
			assert_string_equal(value, cases[i].value);
	}
}

static void test_sqlcmd_bounds(void **state)
{
	char name[PF_SQLCMD_NAME_MAX];
	char sql[200];

	/* The length bounds the text; a NUL ends it earlier (a whole Query body may be given). */
	assert_int_equal(pf_sqlcmd_parse("DEALLOCATE xyz", 12, name), PF_SQLCMD_DEALLOCATE);
	assert_string_equal(name, "x");
	assert_int_equal(pf_sqlcmd_parse("DEALLOCATE x\0; SELECT 1", 23, name), PF_SQLCMD_DEALLOCATE);
	assert_string_equal(name, "x");
	assert_int_equal(pf_sqlcmd_parse("DISCARD ALL", 9, name), PF_SQLCMD_OTHER);
	assert_int_equal(pf_sqlcmd_parse("DEALLOCATE \"ab\"", 14, name), PF_SQLCMD_OTHER);
	assert_int_equal(pf_sqlcmd_parse("DEALLOCATE x /*", 13, name), PF_SQLCMD_DEALLOCATE);
	assert_int_equal(pf_sqlcmd_parse("DEALLOCATE x /*", 15, name), PF_SQLCMD_OTHER);

	/* Long names are cut to 63 bytes, as PostgreSQL cuts identifiers. */
	strcpy(sql, "DEALLOCATE ");
	memset(sql + 11, 'X', 70);
	sql[81] = 0;
	assert_int_equal(pf_sqlcmd_parse(sql, strlen(sql), name), PF_SQLCMD_DEALLOCATE);
	assert_int_equal(strlen(name), 63);
	assert_int_equal(name[0], 'x');
	/* ... never inside a UTF-8 character: 62 bytes, then a 2-byte é over bytes 63 and 64. */
	strcpy(sql, "DEALLOCATE \"");
	memset(sql + 12, 'a', 62);
	strcpy(sql + 74, "\xc3\xa9zz\"");
	assert_int_equal(pf_sqlcmd_parse(sql, strlen(sql), name), PF_SQLCMD_DEALLOCATE);
	assert_int_equal(strlen(name), 62);
	/* ... and a character that ends at byte 63 is kept. */
	strcpy(sql, "DEALLOCATE \"");
	memset(sql + 12, 'a', 61);
	strcpy(sql + 73, "\xc3\xa9zz\"");
	assert_int_equal(pf_sqlcmd_parse(sql, strlen(sql), name), PF_SQLCMD_DEALLOCATE);
	assert_int_equal(strlen(name), 63);
	assert_memory_equal(name + 61, "\xc3\xa9", 2);
	/* Quote pairs count once towards the 63 bytes. */
	strcpy(sql, "DEALLOCATE \"");
	for (int i = 0; i < 64; i++)
		strcat(sql, "\"\"");
	strcat(sql, "\"");
	assert_int_equal(pf_sqlcmd_parse(sql, strlen(sql), name), PF_SQLCMD_DEALLOCATE);
	assert_int_equal(strlen(name), 63);
	assert_int_equal(name[62], '"');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registry_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry_collision, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_build_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_parse_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_long_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_take_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_lru, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_capacity_0, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_capacity_1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_capacity_lowered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_outlives_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_forget_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewrite_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewrite_bind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewrite_describe_close, setup, teardown),
		cmocka_unit_test(test_sqlcmd),
		cmocka_unit_test(test_sqlcmd_bounds),
		cmocka_unit_test(test_sqlcmd_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
