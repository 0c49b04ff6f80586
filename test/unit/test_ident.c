/* test_ident.c - auth_ident_file: literal maps, regular expressions with \1, keywords, errors. */
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

#include "config/ident.h"


static struct pf_ident *load(const char *text)
{
	char err[512];
	struct pf_ident *ident = pf_ident_load(write_file("ident.conf", text), err, sizeof(err));

	if (!ident)
		fail_msg("load failed: %s", err);
	return ident;
}

#define allows(map, sys, pg) pf_ident_map_allows(ident, map, sys, pg)

static void test_literal(void **state)
{
	struct pf_ident *ident = load("# MAPNAME  SYSTEM-USERNAME  PG-USERNAME\n"
				      "office     alice            alice\n"
				      "office     alice            reports   # alice may also be reports\n"
				      "office     \"bob smith\"     bob\n"
				      "other      carol            alice\n"
				      "\"my map\"   root             \"all\"\n");

	assert_true(allows("office", "alice", "alice"));
	assert_true(allows("office", "alice", "reports"));
	assert_true(allows("office", "bob smith", "bob"));
	assert_false(allows("office", "alice", "bob"));
	assert_false(allows("office", "bob", "bob"));
	assert_false(allows("office", "Alice", "alice")); /* case-sensitive */
	assert_false(allows("office", "carol", "alice")); /* carol's line is in another map */
	assert_true(allows("other", "carol", "alice"));
	assert_false(allows("Office", "alice", "alice"));
	assert_false(allows("nosuchmap", "alice", "alice"));
	/* A quoted "all" is a user of that name. */
	assert_true(allows("my map", "root", "all"));
	assert_false(allows("my map", "root", "alice"));

	assert_true(pf_ident_has_map(ident, "office"));
	assert_true(pf_ident_has_map(ident, "my map"));
	assert_false(pf_ident_has_map(ident, "nosuchmap"));
	pf_ident_free(ident);

	assert_false(pf_ident_map_allows(NULL, "office", "alice", "alice"));
	assert_false(pf_ident_has_map(NULL, "office"));
	pf_ident_free(NULL);
}

static void test_regex(void **state)
{
	struct pf_ident *ident = load("certs /^(.*)@example\\.com$ \\1\n"
				      "certs /^admin-([a-z]+)$ \\1_admin\n"
				      "certs /^svc-([a-z]+)-([0-9]+)$ pre_\\1_mid_\\1_post\n"
				      "unanchored /ops ops\n"
				      "optional /^x(y)?$ \"z\\1z\"\n"
				      "quoted \"/^[a-z]{2,3}$\" short\n"
				      "anyuser root all\n"
				      "pgre /^app_ /^app_[0-9]+$\n");

	/* \1 is what the first group matched. */
	assert_true(allows("certs", "alice@example.com", "alice"));
	assert_false(allows("certs", "alice@example.com", "alice@example.com"));
	assert_false(allows("certs", "alice@example.org", "alice"));
	assert_false(allows("certs", "alice@exampleXcom", "alice")); /* the escaped dot */
	assert_true(allows("certs", "@example.com", ""));            /* an empty capture */
	assert_true(allows("certs", "admin-bob", "bob_admin"));
	assert_false(allows("certs", "admin-bob", "bob"));
	assert_false(allows("certs", "admin-Bob", "Bob_admin"));
	/* Only the first \1 is replaced, as in PostgreSQL. */
	assert_true(allows("certs", "svc-web-7", "pre_web_mid_\\1_post"));
	assert_false(allows("certs", "svc-web-7", "pre_web_mid_web_post"));
	/* Without ^...$ the expression may match anywhere. */
	assert_true(allows("unanchored", "devops-team", "ops"));
	assert_false(allows("unanchored", "dev", "ops"));
	/* A group that took no part gives the empty string. */
	assert_true(allows("optional", "x", "zz"));
	assert_true(allows("optional", "xy", "zyz"));
	/* Quotes keep the comma of {2,3} in the field; the '/' still makes it a regex. */
	assert_true(allows("quoted", "ab", "short"));
	assert_true(allows("quoted", "abc", "short"));
	assert_false(allows("quoted", "abcd", "short"));
	/* PG-USERNAME all, and a regex for the requested user. */
	assert_true(allows("anyuser", "root", "whoever"));
	assert_false(allows("anyuser", "notroot", "whoever"));
	assert_true(allows("pgre", "app_7", "app_42"));
	assert_false(allows("pgre", "app_7", "app_x"));
	assert_false(allows("pgre", "web_7", "app_42"));
	pf_ident_free(ident);
}

static void test_literal_backslash(void **state)
{
	/* Without a regex on the left, \1 is just two characters. */
	struct pf_ident *ident = load("m alice a\\1b\n"
				      "m bob \\\n"
				      "   bobby\n");

	assert_true(allows("m", "alice", "a\\1b"));
	assert_true(allows("m", "bob", "bobby")); /* continuation line */
	pf_ident_free(ident);
}

static void test_errors(void **state)
{
	const struct {
		const char *text, *error;
	} cases[] = {
		{ "m a b\nm\n", "ident.conf:2: missing system user name" },
		{ "m a\n", "ident.conf:1: missing PostgreSQL user name" },
		{ "m a b c\n", "ident.conf:1: unexpected field \"c\" after the PostgreSQL user name" },
		{ "m,n a b\n", "ident.conf:1: the map name must be a single value, not a comma list" },
		{ "m a,b c\n", "ident.conf:1: the system user name must be a single value" },
		{ "m a b,c\n", "ident.conf:1: the PostgreSQL user name must be a single value" },
		{ "m /a(b c\n", "ident.conf:1: invalid regular expression \"a(b\": " },
		{ "m a /x[\n", "ident.conf:1: invalid regular expression \"x[\": " },
		{ "m /^abc$ \\1\n",
		  "ident.conf:1: \"\\1\" uses \\1, but the regular expression \"^abc$\" has no ( ) group" },
		{ "m a +admins\n", "ident.conf:1: group membership (\"+admins\") is not supported" },
		{ "m @users.txt b\n", "ident.conf:1: @file is not supported in auth_ident_file (\"@users.txt\")" },
		{ "include other.conf\n",
		  "ident.conf:1: \"include\" is not supported (PgBouncer has no include directives)" },
		{ "include_if_exists other.conf\n", "ident.conf:1: \"include_if_exists\" is not supported" },
		{ "include_dir conf.d\n", "ident.conf:1: \"include_dir\" is not supported" },
		{ "m \"a b\n", "ident.conf:1: missing closing quote" },
		{ "m a, b\n", "ident.conf:1: the system user name must be a single value" },
		{ "\\\n\\\nm a b,\n", "ident.conf:1: comma list ends with a comma" },
	};
	char err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pf_ident *ident = pf_ident_load(write_file("ident.conf", cases[i].text), err, sizeof(err));
		if (ident) {
			pf_ident_free(ident);
			fail_msg("case %zu loaded", i);
		}
		assert_contains(err, cases[i].error);
	}

	/* Quoted, the same names are fine. */
	struct pf_ident *ident = load("m a \"+admins\"\nm \"@x\" b\nm \"include\" c\n");
	assert_true(allows("m", "a", "+admins"));
	assert_true(allows("m", "@x", "b"));
	assert_true(allows("m", "include", "c"));
	pf_ident_free(ident);

	char missing[PATH_MAX];
	snprintf(missing, sizeof(missing), "%s/missing.conf", tmpdir);
	assert_null(pf_ident_load(missing, err, sizeof(err)));
	assert_contains(err, "missing.conf: could not open auth_ident_file: No such file or directory");
}

static void test_empty(void **state)
{
	struct pf_ident *ident = load("# no maps\n\n");

	assert_false(allows("m", "a", "a"));
	assert_false(pf_ident_has_map(ident, "m"));
	pf_ident_free(ident);
}

static int group_setup(void **state)
{
	return test_files_setup("ident");
}

static int group_teardown(void **state)
{
	return test_files_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal),
		cmocka_unit_test(test_regex),
		cmocka_unit_test(test_literal_backslash),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
