/* test_userlist.c - the auth_file reader and secret type detection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_files.h"

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/userlist.h"
#include "util/buf.h"


#define MD5_SECRET "md5a3556571e93b0d20722ba62be61e8c2d"
#define SCRAM_SECRET \
	"SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0$kZtbzmm7YvZ2hZeyCfS0NKdOIxIEwm3NPWSl+pmnC3o=:" \
	"vz+BvFBWnkrEb/9Hg9Xe69KCQAp6Ax2Twwt1ch+0D0s="

static void test_load_formats(void **state)
{
	char err[256];
	const char *path = write_file("userlist.txt",
		"; comment\n"
		"# another comment\n"
		"\n"
		"\"plainuser\" \"plain password\"\n"
		"   \"md5user\"   \"" MD5_SECRET "\"\n"
		"\"scramuser\" \"" SCRAM_SECRET "\"\n"
		"\"quo\"\"ted\" \"pa\"\"ss\" \"extra field\" ignored\n"
		"\"empty\" \"\"\r\n"
		"\"dup\" \"first\"\n"
		"\"semi;user\" \"#not a comment\"\n"
		"\"dup\" \"second\"\n"
		"\t; indented comment\n");
	struct pf_userlist *list = pf_userlist_load(path, err, sizeof(err));

	if (!list)
		fail_msg("load failed: %s", err);
	assert_int_equal(list->n, 7);
	assert_string_equal(pf_userlist_find(list, "plainuser"), "plain password");
	assert_string_equal(pf_userlist_find(list, "md5user"), MD5_SECRET);
	assert_string_equal(pf_userlist_find(list, "scramuser"), SCRAM_SECRET);
	assert_string_equal(pf_userlist_find(list, "quo\"ted"), "pa\"ss");
	assert_string_equal(pf_userlist_find(list, "empty"), "");
	assert_string_equal(pf_userlist_find(list, "dup"), "second"); /* the later line wins */
	assert_string_equal(pf_userlist_find(list, "semi;user"), "#not a comment");
	assert_null(pf_userlist_find(list, "nobody"));
	assert_null(pf_userlist_find(list, "PLAINUSER")); /* names are case-sensitive */

	/* Sorted, for bsearch. */
	for (size_t i = 1; i < list->n; i++)
		assert_true(strcmp(list->entries[i - 1].name, list->entries[i].name) < 0);
	pf_userlist_free(list);
}

static void test_empty_file(void **state)
{
	char err[256];
	struct pf_userlist *list = pf_userlist_load(write_file("empty.txt", ";; nobody yet\n"), err, sizeof(err));

	assert_non_null(list);
	assert_int_equal(list->n, 0);
	assert_null(pf_userlist_find(list, "x"));
	pf_userlist_free(list);
	pf_userlist_free(NULL);
}

static void test_errors(void **state)
{
	char err[256];
	const struct {
		const char *text, *error;
	} cases[] = {
		{ "\"ok\" \"x\"\nbare words\n", "bad.txt:2: expected a quoted user name" },
		{ "\"ok\" \"x\"\n\n\"unterminated \"x\"\n", "bad.txt:3: expected a quoted secret after user \"unterminated \"" },
		{ "\"never closed\n", "bad.txt:1: missing closing quote of the user name" },
		{ "\"user\"\n", "bad.txt:1: expected a quoted secret after user \"user\"" },
		{ "\"user\" \"secret\n", "bad.txt:1: missing closing quote of the secret of user \"user\"" },
		{ "\"user\" secret\n", "bad.txt:1: expected a quoted secret" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *path = write_file("bad.txt", cases[i].text);
		struct pf_userlist *list = pf_userlist_load(path, err, sizeof(err));
		if (list)
			fail_msg("case %zu loaded", i);
		assert_contains(err, cases[i].error);
	}

	char missing[PATH_MAX];
	snprintf(missing, sizeof(missing), "%s/missing.txt", tmpdir);
	assert_null(pf_userlist_load(missing, err, sizeof(err)));
	assert_contains(err, "missing.txt: could not open auth_file: No such file or directory");
}

static void test_secret_type(void **state)
{
	assert_int_equal(pf_secret_type(MD5_SECRET), SECRET_MD5);
	assert_int_equal(pf_secret_type("md5A3556571E93B0D20722BA62BE61E8C2D"), SECRET_MD5);
	assert_int_equal(pf_secret_type(SCRAM_SECRET), SECRET_SCRAM);
	assert_int_equal(pf_secret_type("plain"), SECRET_PLAIN);
	assert_int_equal(pf_secret_type(""), SECRET_PLAIN);
	/* Near misses are plain passwords. */
	assert_int_equal(pf_secret_type("md5"), SECRET_PLAIN);
	assert_int_equal(pf_secret_type("md5a3556571e93b0d20722ba62be61e8c2"), SECRET_PLAIN);   /* 31 hex */
	assert_int_equal(pf_secret_type("md5a3556571e93b0d20722ba62be61e8c2dd"), SECRET_PLAIN); /* 33 hex */
	assert_int_equal(pf_secret_type("md5g3556571e93b0d20722ba62be61e8c2d"), SECRET_PLAIN);  /* not hex */
	assert_int_equal(pf_secret_type("MD5a3556571e93b0d20722ba62be61e8c2d"), SECRET_PLAIN);
	assert_int_equal(pf_secret_type("SCRAM-SHA-1$x"), SECRET_PLAIN);
	assert_int_equal(pf_secret_type("scram-sha-256$x"), SECRET_PLAIN);
}

static void test_many_users(void **state)
{
	char err[256], name[64], secret[64];
	struct pf_buf text;
	enum { N = 10000 };

	/* Written in reverse order, so the loader must sort. */
	pf_buf_init(&text);
	for (int i = N - 1; i >= 0; i--)
		pf_buf_printf(&text, "\"user%05d\" \"secret%d\"\n", i, i);
	pf_buf_put_u8(&text, 0);
	struct pf_userlist *list = pf_userlist_load(write_file("many.txt", (char *)text.data), err, sizeof(err));
	pf_buf_free(&text);

	assert_non_null(list);
	assert_int_equal(list->n, N);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "user%05d", i);
		snprintf(secret, sizeof(secret), "secret%d", i);
		const char *found = pf_userlist_find(list, name);
		if (!found || strcmp(found, secret) != 0)
			fail_msg("%s -> %s", name, found ? found : "(none)");
	}
	assert_null(pf_userlist_find(list, "user10000"));
	assert_null(pf_userlist_find(list, "user"));
	assert_null(pf_userlist_find(list, ""));
	pf_userlist_free(list);
}

/* The shipped sample, found through $TOP_SRCDIR (default "."). */
static void test_sample_userlist(void **state)
{
	char err[256], path[PATH_MAX];
	const char *top = getenv("TOP_SRCDIR");

	snprintf(path, sizeof(path), "%s/etc/userlist.txt", top && *top ? top : ".");
	struct pf_userlist *list = pf_userlist_load(path, err, sizeof(err));
	if (!list)
		fail_msg("%s", err);
	assert_int_equal(pf_secret_type(pf_userlist_find(list, "alice")), SECRET_PLAIN);
	assert_int_equal(pf_secret_type(pf_userlist_find(list, "bob")), SECRET_MD5);
	assert_int_equal(pf_secret_type(pf_userlist_find(list, "carol")), SECRET_SCRAM);
	assert_string_equal(pf_userlist_find(list, "dave \"the admin\""), "pass;with#specials");
	pf_userlist_free(list);
}

static int group_setup(void **state)
{
	return test_files_setup("userlist");
}

static int group_teardown(void **state)
{
	return test_files_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_formats),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_secret_type),
		cmocka_unit_test(test_many_users),
		cmocka_unit_test(test_sample_userlist),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
