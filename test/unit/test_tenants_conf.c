/*
 * test_tenants_conf.c - the [tenants] section, tenant_key / tenant_separator, which entry
 * a tenant name matches, and how a user_suffix login splits.
 *
 * Files are written under a mkdtemp directory that is removed at the end.
 */
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

#include "config/config.h"
#include "config/connstr.h"
#include "config/options.h"
#include "config/tenants.h"
#include "util/log.h"


static struct pf_conf *load_text(const char *text)
{
	char err[512];
	struct pf_conf *conf = pf_conf_load(write_file("t.ini", text), err, sizeof(err));

	if (!conf)
		fail_msg("load failed: %s", err);
	return conf;
}

/* Load must fail with `want` in the message. */
static void load_fails(const char *text, const char *want)
{
	char err[512];
	struct pf_conf *conf = pf_conf_load(write_file("bad.ini", text), err, sizeof(err));

	if (conf) {
		pf_conf_free(conf);
		fail_msg("loaded, expected \"%s\"", want);
	}
	assert_contains(err, want);
}

/* ---- parsing ---- */

static void test_parse_entries(void **state)
{
	struct pf_conf *conf = load_text("[pgbouncer]\n"
					 "tenant_key = application_name\n"
					 "[tenants]\n"
					 "checkout = pool_size=3 reserve_pool_size=2 reserve_pool_timeout=0.2 weight=2 "
					 "max_client_conn=50 query_wait_timeout=30\n"
					 "hot* = pool_size = 7\n"
					 "bare =\n"
					 "checkout = pool_size=4\n" /* repeated: the later wins, in the first place */
					 "* = weight=1 pool_size=1\n");
	const struct pf_tenant_conf *t;

	assert_int_equal(conf->set.tenant_key, TENANT_KEY_APPLICATION_NAME);
	assert_string_equal(conf->set.tenant_separator, ".");
	assert_int_equal(conf->n_tenants, 4);

	t = &conf->tenants[0];
	assert_string_equal(t->name, "checkout");
	assert_false(t->is_glob);
	assert_int_equal(t->pool_size, 4);
	assert_int_equal(t->reserve_pool_size, -1);
	assert_true(t->reserve_pool_timeout == -1);
	assert_int_equal(t->weight, 1);
	assert_int_equal(t->line, 7);
	assert_contains(t->file, "t.ini");

	t = &conf->tenants[1];
	assert_string_equal(t->name, "hot*");
	assert_true(t->is_glob);
	assert_int_equal(t->pool_size, 7);

	t = &conf->tenants[2];
	assert_string_equal(t->name, "bare");
	assert_int_equal(t->pool_size, -1);
	assert_int_equal(t->max_client_conn, -1);
	assert_true(t->query_wait_timeout == -1);
	assert_int_equal(t->weight, 1);
	assert_int_equal(t->line, 6);

	assert_string_equal(conf->tenants[3].name, "*");
	assert_true(conf->tenants[3].is_glob);
	pf_conf_free(conf);
}

static void test_parse_all_keys(void **state)
{
	struct pf_tenant_conf t;
	char err[256];

	assert_int_equal(pf_tenant_conf_parse(&t, "fn-[ab]?",
					      "pool_size=3 reserve_pool_size=2 reserve_pool_timeout=0.2 weight=5 "
					      "max_client_conn=0 query_wait_timeout=1.5",
					      err, sizeof(err)),
			 0);
	assert_true(t.is_glob);
	assert_int_equal(t.pool_size, 3);
	assert_int_equal(t.reserve_pool_size, 2);
	assert_true(t.reserve_pool_timeout == 200000);
	assert_int_equal(t.weight, 5);
	assert_int_equal(t.max_client_conn, 0);
	assert_true(t.query_wait_timeout == 1500000);
	assert_null(t.file); /* the loader's to fill */
	pf_tenant_conf_free(&t);
	assert_null(t.name);
}

/* ---- errors name the file and line ---- */

static void test_errors(void **state)
{
	load_fails("[tenants]\nok = pool_size=1\nbad = pool_size=1 colour=blue\n",
		   "bad.ini:3: unsupported parameter in tenant settings: colour");
	load_fails("[tenants]\nx = pool_size=-1\n", "bad.ini:2: invalid value \"-1\" for pool_size");
	load_fails("[tenants]\nx = weight=0\n",
		   "bad.ini:2: invalid value \"0\" for weight: expected a whole number >= 1");
	load_fails("[tenants]\nx = weight=1.5\n", "bad.ini:2: invalid value \"1.5\" for weight");
	load_fails("[tenants]\nx = reserve_pool_timeout=soon\n",
		   "bad.ini:2: invalid value \"soon\" for reserve_pool_timeout: expected a number of seconds");
	load_fails("[tenants]\nx = query_wait_timeout=-3\n",
		   "bad.ini:2: invalid value \"-3\" for query_wait_timeout");
	load_fails("[tenants]\nx = max_client_conn=99999999999\n",
		   "bad.ini:2: invalid value \"99999999999\" for max_client_conn");
	load_fails("[tenants]\nx = pool_size\n",
		   "bad.ini:2: syntax error in connect string: missing '=' after \"pool_size\"");
	load_fails("[tenants]\nx = pool_mode=session\n",
		   "bad.ini:2: unsupported parameter in tenant settings: pool_mode");
	load_fails("[pgbouncer]\ntenant_key = app\n",
		   "bad.ini:2: invalid value \"app\" for parameter tenant_key: expected one of none, application_name, "
		   "user, user_suffix");
	load_fails("[pgbouncer]\ntenant_separator =\n",
		   "bad.ini:2: invalid value \"\" for parameter tenant_separator: expected a non-empty string");
}

/* ---- tenant_key and tenant_separator ---- */

static void test_keys(void **state)
{
	struct pf_settings s;
	char err[256];
	const struct pf_option *key = pf_option_find("tenant_key"), *sep = pf_option_find("tenant_separator");

	assert_non_null(key);
	assert_non_null(sep);
	assert_true(key->flags & OPT_RELOAD);
	/* Acted on since the scheduler is wired into the pools: no warning. */
	assert_true(key->flags & OPT_ACTED);
	assert_true(sep->flags & OPT_ACTED);

	pf_settings_defaults(&s);
	assert_int_equal(s.tenant_key, TENANT_KEY_NONE);
	assert_string_equal(s.tenant_separator, ".");
	assert_int_equal(pf_option_set(&s, "tenant_key", "USER_SUFFIX", err, sizeof(err)), 0);
	assert_int_equal(s.tenant_key, TENANT_KEY_USER_SUFFIX);
	assert_int_equal(pf_option_set(&s, "tenant_key", "user", err, sizeof(err)), 0);
	assert_int_equal(s.tenant_key, TENANT_KEY_USER);
	assert_int_equal(pf_option_set(&s, "tenant_separator", "--", err, sizeof(err)), 0);
	assert_string_equal(s.tenant_separator, "--");
	assert_int_equal(pf_option_set(&s, "tenant_separator", "", err, sizeof(err)), -2);
	assert_string_equal(s.tenant_separator, "--");
	char *text = pf_option_value_text(&s, key);
	assert_string_equal(text, "user");
	free(text);
	pf_settings_free(&s);
}

/* ---- which entry a tenant gets ---- */

static void test_match_order(void **state)
{
	struct pf_conf *conf = load_text("[tenants]\n"
					 "* = pool_size=1\n"              /* last resort, wherever it stands */
					 "checkout* = pool_size=2\n"      /* first glob in file order */
					 "check* = pool_size=3\n"
					 "checkout-5d8f = pool_size=4\n"  /* exact wins over globs before it */
					 "fn-? = pool_size=5\n"
					 "svc-[ab]x = pool_size=6\n"
					 "a/b.c = pool_size=7\n");

#define MATCH(name) pf_conf_match_tenant(conf, name)->pool_size
	assert_int_equal(MATCH("checkout-5d8f"), 4);
	assert_int_equal(MATCH("checkout-5d8f7b9c4-abcde"), 2);
	assert_int_equal(MATCH("checkout"), 2);
	assert_int_equal(MATCH("checker"), 3);
	assert_int_equal(MATCH("fn-1"), 5);
	assert_int_equal(MATCH("fn-12"), 1);
	assert_int_equal(MATCH("svc-bx"), 6);
	assert_int_equal(MATCH("svc-cx"), 1);
	assert_int_equal(MATCH("a/b.c"), 7);
	assert_int_equal(MATCH("other"), 1);
	assert_int_equal(MATCH(""), 1);
#undef MATCH
	pf_conf_free(conf);

	/* Without `*`, a tenant that matches nothing has no entry (no quota of its own). */
	conf = load_text("[tenants]\nchk* = pool_size=2\nexact = pool_size=3\n");
	assert_null(pf_conf_match_tenant(conf, "other"));
	assert_null(pf_conf_match_tenant(conf, "exac"));
	assert_non_null(pf_conf_match_tenant(conf, "chk"));
	/* fnmatch without flags: '/' is an ordinary character. */
	assert_non_null(pf_conf_match_tenant(conf, "chk/x"));
	pf_conf_free(conf);

	conf = load_text("[pgbouncer]\n");
	assert_int_equal(conf->n_tenants, 0);
	assert_null(pf_conf_match_tenant(conf, "x"));
	pf_conf_free(conf);
}

/* ---- user_suffix logins ---- */

static void test_split_login(void **state)
{
	size_t ulen;
	const char *tenant;

#define SPLIT_OK(login, sep, user, ten)                                        \
	do {                                                                   \
		assert_true(pf_tenant_split_login(login, sep, &ulen, &tenant)); \
		assert_int_equal(ulen, strlen(user));                          \
		assert_memory_equal(login, user, ulen);                        \
		assert_string_equal(tenant, ten);                              \
	} while (0)

	SPLIT_OK("app.checkout", ".", "app", "checkout");
	/* The last separator: user names may have dots, function names do not. */
	SPLIT_OK("first.last.checkout", ".", "first.last", "checkout");
	SPLIT_OK("app--checkout", "--", "app", "checkout");
	SPLIT_OK("a--b--c", "--", "a--b", "c");
	SPLIT_OK("app@fn", "@", "app", "fn");
	SPLIT_OK("a.b", ".", "a", "b");
#undef SPLIT_OK

	/* No suffix: the whole login is the user. */
	assert_false(pf_tenant_split_login("app", ".", &ulen, &tenant));
	assert_false(pf_tenant_split_login("app.", ".", &ulen, &tenant));
	assert_false(pf_tenant_split_login(".checkout", ".", &ulen, &tenant));
	assert_false(pf_tenant_split_login("", ".", &ulen, &tenant));
	assert_false(pf_tenant_split_login(".", ".", &ulen, &tenant));
	assert_false(pf_tenant_split_login("app.checkout", "", &ulen, &tenant));
	assert_false(pf_tenant_split_login("app.checkout", "--", &ulen, &tenant));
}

/* ---- setup ---- */

static int group_setup(void **state)
{
	char logpath[PATH_MAX];

	if (test_files_setup("tenants") < 0)
		return -1;
	/* Keep the log lines of the loads off the terminal. */
	snprintf(logpath, sizeof(logpath), "%s/test.log", tmpdir);
	pf_log_setup(0, 1, logpath, 0, NULL, NULL);
	return 0;
}

static int group_teardown(void **state)
{
	pf_log_setup(0, 1, NULL, 0, NULL, NULL);
	return test_files_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_entries),
		cmocka_unit_test(test_parse_all_keys),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_match_order),
		cmocka_unit_test(test_split_login),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
