/*
 * test_hash.c - util/hash (SipHash-2-4 against the reference vectors) and util/htab (equal
 * hashes, removal from inside a chain, growth, shrinking back to no memory, drain).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "util/hash.h"
#include "util/htab.h"
#include "util/list.h"

/* Key 00..0f, message 00..len-1: the vectors of the SipHash reference code (as in OpenSSL). */
static void test_siphash_vectors(void **state)
{
	static const struct { size_t len; uint64_t want; } v[] = {
		{ 0, 0x726fdb47dd0e0e31ULL }, { 1, 0x74f839c593dc67fdULL }, { 2, 0x0d6c8009d9a94f5aULL },
		{ 3, 0x85676696d7fb7e2dULL }, { 8, 0x93f5f5799a932462ULL }, { 15, 0xa129ca6149be45e5ULL },
		{ 63, 0x958a324ceb064572ULL },
	};
	uint8_t key[16], msg[64];

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_int_equal(pf_siphash24(key, msg, v[i].len), v[i].want);
	/* The process key is fixed once drawn. */
	assert_int_equal(pf_hash_bytes("abc", 3), pf_hash_bytes("abc", 3));
	assert_int_not_equal(pf_hash_bytes("abc", 3), pf_hash_bytes("abd", 3));
}

struct item {
	struct pf_hnode node;
	int key;
	int drained;
};

static struct item *find(const struct pf_htab *t, int key, uint64_t hash)
{
	for (struct pf_hnode *n = pf_htab_first(t, hash); n; n = pf_htab_next(n)) {
		struct item *it = container_of(n, struct item, node);
		if (it->key == key)
			return it;
	}
	return NULL;
}

/* Many nodes with one hash: all found, removable from any place in the chain. */
static void test_htab_equal_hashes(void **state)
{
	struct pf_htab t;
	struct item it[10];

	pf_htab_init(&t);
	assert_null(pf_htab_first(&t, 7));
	for (int i = 0; i < 10; i++) {
		it[i].key = i;
		/* Half share hash 7; the others differ only in high bits (same bucket). */
		pf_htab_insert(&t, &it[i].node, i % 2 ? 7 : 7 | ((uint64_t)(i + 1) << 40));
	}
	assert_int_equal(pf_htab_count(&t), 10);
	for (int i = 0; i < 10; i++)
		assert_ptr_equal(find(&t, i, it[i].node.hash), &it[i]);
	int n = 0;
	for (struct pf_hnode *p = pf_htab_first(&t, 7); p; p = pf_htab_next(p))
		n++;
	assert_int_equal(n, 5);
	pf_htab_remove(&t, &it[5].node);
	pf_htab_remove(&t, &it[0].node);
	pf_htab_remove(&t, &it[9].node);
	assert_null(find(&t, 5, 7));
	assert_ptr_equal(find(&t, 3, 7), &it[3]);
	assert_ptr_equal(find(&t, 4, it[4].node.hash), &it[4]);
	for (int i = 1; i < 9; i++)
		if (i != 5)
			pf_htab_remove(&t, &it[i].node);
	assert_int_equal(pf_htab_count(&t), 0);
	assert_null(t.buckets);
}

static void mark(struct pf_hnode *n, void *arg)
{
	container_of(n, struct item, node)->drained++;
	(*(int *)arg)++;
}

static void test_htab_grow_shrink_drain(void **state)
{
	enum { N = 10000 };
	struct item *it = calloc(N, sizeof(*it));
	struct pf_htab t;
	int count = 0;

	pf_htab_init(&t);
	for (int i = 0; i < N; i++) {
		it[i].key = i;
		pf_htab_insert(&t, &it[i].node, pf_hash_bytes(&i, sizeof(i)));
	}
	/* The load stays at most 1. */
	assert_true(t.n_buckets >= N);
	for (int i = 0; i < N; i++)
		assert_ptr_equal(find(&t, i, pf_hash_bytes(&i, sizeof(i))), &it[i]);
	for (int i = 0; i < N - 10; i++)
		pf_htab_remove(&t, &it[i].node);
	/* Shrunk with the count, and what is left is still found. */
	assert_true(t.n_buckets <= 128);
	for (int i = N - 10; i < N; i++)
		assert_ptr_equal(find(&t, i, pf_hash_bytes(&i, sizeof(i))), &it[i]);
	pf_htab_drain(&t, mark, &count);
	assert_int_equal(count, 10);
	for (int i = N - 10; i < N; i++)
		assert_int_equal(it[i].drained, 1);
	assert_int_equal(pf_htab_count(&t), 0);
	assert_null(t.buckets);
	pf_htab_drain(&t, mark, &count); /* draining an empty table is fine */
	assert_int_equal(count, 10);
	free(it);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vectors),
		cmocka_unit_test(test_htab_equal_hashes),
		cmocka_unit_test(test_htab_grow_shrink_drain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
