/* test_md5.c - MD5 secrets and responses against values computed by PostgreSQL's formula. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/md5.h"
#include "auth/scram.h"

static const uint8_t salt1234[4] = { 1, 2, 3, 4 };
static const uint8_t salt_dead[4] = { 0xde, 0xad, 0xbe, 0xef };

static void test_hex(void **state)
{
	char out[33];
	pf_md5_hex("", 0, out);
	assert_string_equal(out, "d41d8cd98f00b204e9800998ecf8427e");
	pf_md5_hex("abc", 3, out);
	assert_string_equal(out, "900150983cd24fb0d6963f7d28e17f72");
}

static void test_password_secret(void **state)
{
	char out[36];
	pf_md5_password_secret("postgres", "postgres", out);
	assert_string_equal(out, "md53175bce1d3201d16594cebf9d7eb3f9d");
	pf_md5_password_secret("alice", "secret", out);
	assert_string_equal(out, "md54a0a68b43b6cd5cf266fa02f196e2371");
}

static void test_salted(void **state)
{
	char out[36];
	pf_md5_salted("md53175bce1d3201d16594cebf9d7eb3f9d", salt1234, out);
	assert_string_equal(out, "md568be9ed08db75f318087ab337aaea044");
	pf_md5_salted("md54a0a68b43b6cd5cf266fa02f196e2371", salt_dead, out);
	assert_string_equal(out, "md53e1d73ba00a55e8805aa0277d29996c5");
	/* not an md5 secret: empty output */
	pf_md5_salted("postgres", salt1234, out);
	assert_string_equal(out, "");
}

static void test_is_secret(void **state)
{
	assert_true(pf_md5_is_secret("md53175bce1d3201d16594cebf9d7eb3f9d"));
	assert_false(pf_md5_is_secret("md53175BCE1d3201d16594cebf9d7eb3f9d"));	/* upper case */
	assert_false(pf_md5_is_secret("md53175bce1d3201d16594cebf9d7eb3f9"));	/* short */
	assert_false(pf_md5_is_secret("md53175bce1d3201d16594cebf9d7eb3f9d0"));	/* long */
	assert_false(pf_md5_is_secret("md5"));
	assert_false(pf_md5_is_secret(""));
	assert_false(pf_md5_is_secret("xyz3175bce1d3201d16594cebf9d7eb3f9d"));
}

static void test_check_plain(void **state)
{
	/* What libpq sends for user postgres / password postgres / salt 01020304. */
	assert_true(pf_md5_check("postgres", "postgres", salt1234, "md568be9ed08db75f318087ab337aaea044"));
	assert_false(pf_md5_check("postgres", "postgres", salt_dead, "md568be9ed08db75f318087ab337aaea044"));
	assert_false(pf_md5_check("postgres", "other", salt1234, "md568be9ed08db75f318087ab337aaea044"));
	assert_false(pf_md5_check("wrong", "postgres", salt1234, "md568be9ed08db75f318087ab337aaea044"));
}

static void test_check_md5_secret(void **state)
{
	const char *secret = "md53175bce1d3201d16594cebf9d7eb3f9d";
	assert_true(pf_md5_check(secret, "postgres", salt1234, "md568be9ed08db75f318087ab337aaea044"));
	/* With a stored md5 secret the user name is already baked into it. */
	assert_true(pf_md5_check(secret, "ignored", salt1234, "md568be9ed08db75f318087ab337aaea044"));
	assert_false(pf_md5_check(secret, "postgres", salt_dead, "md568be9ed08db75f318087ab337aaea044"));
}

static void test_round_trip(void **state)
{
	char secret[36], resp[36];
	/* Client side as libpq computes it, then the server check. */
	pf_md5_password_secret("alice", "s3cr3t!", secret);
	pf_md5_salted(secret, salt_dead, resp);
	assert_true(pf_md5_check("s3cr3t!", "alice", salt_dead, resp));
	assert_true(pf_md5_check(secret, "alice", salt_dead, resp));
	assert_false(pf_md5_check("s3cr3t", "alice", salt_dead, resp));
	assert_false(pf_md5_check("s3cr3t!", "bob", salt_dead, resp));
}

static void test_bad_responses(void **state)
{
	const char *good = "md568be9ed08db75f318087ab337aaea044";
	char buf[64];

	assert_false(pf_md5_check("postgres", "postgres", salt1234, ""));
	assert_false(pf_md5_check("postgres", "postgres", salt1234, "md5"));
	/* truncated and extended */
	memcpy(buf, good, 34);
	buf[34] = 0;
	assert_false(pf_md5_check("postgres", "postgres", salt1234, buf));
	snprintf(buf, sizeof(buf), "%sx", good);
	assert_false(pf_md5_check("postgres", "postgres", salt1234, buf));
	/* sending the stored secret itself is not the response */
	assert_false(pf_md5_check("postgres", "postgres", salt1234, "md53175bce1d3201d16594cebf9d7eb3f9d"));
	/* the plain password is not the response either */
	assert_false(pf_md5_check("postgres", "postgres", salt1234, "postgres"));
	assert_false(pf_md5_check("postgres", "postgres", salt1234, NULL));
}

static void test_empty_and_scram_secret(void **state)
{
	char secret[36], resp[36];

	/* An empty stored password never matches, even the response computed for it. */
	pf_md5_password_secret("alice", "", secret);
	pf_md5_salted(secret, salt1234, resp);
	assert_false(pf_md5_check("", "alice", salt1234, resp));
	assert_false(pf_md5_check(NULL, "alice", salt1234, resp));

	/* A SCRAM verifier cannot check an md5 response, even one made from its literal text. */
	char *scram = pf_scram_build_secret("pw", 16);
	assert_non_null(scram);
	pf_md5_password_secret("alice", scram, secret);
	pf_md5_salted(secret, salt1234, resp);
	assert_false(pf_md5_check(scram, "alice", salt1234, resp));
	free(scram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_password_secret),
		cmocka_unit_test(test_salted),
		cmocka_unit_test(test_is_secret),
		cmocka_unit_test(test_check_plain),
		cmocka_unit_test(test_check_md5_secret),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_responses),
		cmocka_unit_test(test_empty_and_scram_secret),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
