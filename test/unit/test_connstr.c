/* test_connstr.c - [databases] connect strings and [users] settings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/connstr.h"
#include "util/buf.h"

/* Collects pairs as "key=[value]" lines. */
static int collect(void *arg, const char *key, const char *value, char *err, size_t errlen)
{
	pf_buf_printf(arg, "%s=[%s]\n", key, value);
	return 0;
}

static char *split(const char *connstr, char *err, size_t errlen)
{
	struct pf_buf b;
	pf_buf_init(&b);
	if (pf_connstr_foreach(connstr, collect, &b, err, errlen) < 0) {
		pf_buf_free(&b);
		return NULL;
	}
	pf_buf_put_u8(&b, 0);
	return (char *)b.data;
}

static void test_split_quoting(void **state)
{
	char err[256], *s;

	s = split("host=localhost  port = 5433\tdbname= x   user =y", err, sizeof(err));
	assert_string_equal(s, "host=[localhost]\nport=[5433]\ndbname=[x]\nuser=[y]\n");
	free(s);

	s = split("password='a b c' application_name='it\\'s' x='it''s' y='back\\\\slash' z='c:\\dir'", err, sizeof(err));
	assert_string_equal(s, "password=[a b c]\napplication_name=[it's]\nx=[it's]\ny=[back\\slash]\nz=[c:\\dir]\n");
	free(s);

	/* ';' and '#' are data; unquoted values are literal up to white space. */
	s = split("password='a;b#c' p2=x;y#z p3=back\\slash", err, sizeof(err));
	assert_string_equal(s, "password=[a;b#c]\np2=[x;y#z]\np3=[back\\slash]\n");
	free(s);

	s = split("empty='' last=", err, sizeof(err));
	assert_string_equal(s, "empty=[]\nlast=[]\n");
	free(s);

	s = split("   ", err, sizeof(err));
	assert_string_equal(s, "");
	free(s);
}

static void test_split_errors(void **state)
{
	char err[256];

	assert_null(split("host", err, sizeof(err)));
	assert_contains(err, "missing '=' after \"host\"");
	assert_null(split("host=x =y", err, sizeof(err)));
	assert_contains(err, "missing key before '='");
	assert_null(split("password='abc", err, sizeof(err)));
	assert_contains(err, "unterminated quoted value for \"password\"");
	assert_null(split("password='ab\\'", err, sizeof(err)));
	assert_contains(err, "unterminated quoted value");
	assert_null(split("password='ab'cd", err, sizeof(err)));
	assert_contains(err, "text right after the quoted value of \"password\"");
}

static void test_db_all_keys(void **state)
{
	char err[256];
	struct pf_db_conf db;
	const char *cs =
		"dbname=real host=h1,h2 port=5433 user=u password='p w' auth_user=au "
		"auth_query='SELECT usename, passwd FROM pg_shadow WHERE usename=$1' auth_dbname=adb "
		"pool_size=10 min_pool_size=2 reserve_pool_size=3 connect_query='SET x = 1' "
		"pool_mode=transaction load_balance_hosts=round-robin max_db_connections=50 "
		"max_db_client_connections=500 server_lifetime=1800 query_wait_timeout=2.5 "
		"client_encoding=UTF8 datestyle='ISO, MDY' timezone=UTC application_name=app";

	assert_int_equal(pf_db_conf_parse(&db, "mydb", cs, err, sizeof(err)), 0);
	assert_string_equal(db.name, "mydb");
	assert_string_equal(db.dbname, "real");
	assert_string_equal(db.host, "h1,h2");
	assert_int_equal(db.port, 5433);
	assert_string_equal(db.user, "u");
	assert_string_equal(db.password, "p w");
	assert_string_equal(db.auth_user, "au");
	assert_string_equal(db.auth_query, "SELECT usename, passwd FROM pg_shadow WHERE usename=$1");
	assert_string_equal(db.auth_dbname, "adb");
	assert_int_equal(db.pool_size, 10);
	assert_int_equal(db.min_pool_size, 2);
	assert_int_equal(db.reserve_pool_size, 3);
	assert_string_equal(db.connect_query, "SET x = 1");
	assert_int_equal(db.pool_mode, POOL_MODE_TRANSACTION);
	assert_int_equal(db.load_balance_hosts, LOAD_BALANCE_ROUND_ROBIN);
	assert_int_equal(db.max_db_connections, 50);
	assert_int_equal(db.max_db_client_connections, 500);
	assert_true(db.server_lifetime == 1800 * USEC_PER_SEC);
	assert_true(db.query_wait_timeout == 2500000);
	assert_string_equal(db.client_encoding, "UTF8");
	assert_string_equal(db.datestyle, "ISO, MDY");
	assert_string_equal(db.timezone, "UTC");
	assert_string_equal(db.application_name, "app");
	assert_null(db.file);
	pf_db_conf_free(&db);
	assert_null(db.name);
}

static void test_db_defaults_and_alias(void **state)
{
	char err[256];
	struct pf_db_conf db;

	assert_int_equal(pf_db_conf_parse(&db, "*", "", err, sizeof(err)), 0);
	assert_string_equal(db.name, "*");
	assert_null(db.dbname);
	assert_null(db.host);
	assert_null(db.user);
	assert_int_equal(db.port, 5432);
	assert_int_equal(db.pool_size, -1);
	assert_int_equal(db.min_pool_size, -1);
	assert_int_equal(db.reserve_pool_size, -1);
	assert_int_equal(db.pool_mode, POOL_MODE_UNSET);
	assert_int_equal(db.load_balance_hosts, -1);
	assert_int_equal(db.max_db_connections, -1);
	assert_int_equal(db.max_db_client_connections, -1);
	assert_true(db.server_lifetime == -1);
	assert_true(db.query_wait_timeout == -1);
	pf_db_conf_free(&db);

	/* reserve_pool is the older name; a repeated key: the later one wins. */
	assert_int_equal(pf_db_conf_parse(&db, "d", "reserve_pool=7 host=a host=b load_balance_hosts=disable pool_size=0",
					  err, sizeof(err)), 0);
	assert_int_equal(db.reserve_pool_size, 7);
	assert_string_equal(db.host, "b");
	assert_int_equal(db.load_balance_hosts, LOAD_BALANCE_DISABLE);
	assert_int_equal(db.pool_size, 0);
	pf_db_conf_free(&db);
}

static void test_db_errors(void **state)
{
	char err[256];
	struct pf_db_conf db;

	assert_int_equal(pf_db_conf_parse(&db, "d", "host=x colour=blue", err, sizeof(err)), -1);
	assert_string_equal(err, "unsupported parameter in database settings: colour");
	assert_null(db.name);
	assert_null(db.host); /* nothing left to free */

	const char *bad[][2] = {
		{ "pool_size=ten", "invalid value \"ten\" for pool_size" },
		{ "pool_size=-1", "invalid value \"-1\" for pool_size" },
		{ "pool_size=1.5", "invalid value \"1.5\" for pool_size" },
		{ "port=0", "invalid value \"0\" for port" },
		{ "port=70000", "invalid value \"70000\" for port" },
		{ "pool_mode=weird", "expected session, transaction or statement" },
		{ "load_balance_hosts=random", "expected round-robin or disable" },
		{ "server_lifetime=forever", "invalid value \"forever\" for server_lifetime" },
		{ "max_db_connections=99999999999", "invalid value \"99999999999\" for max_db_connections" },
		{ "host='unterminated", "unterminated quoted value" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (pf_db_conf_parse(&db, "d", bad[i][0], err, sizeof(err)) != -1)
			fail_msg("\"%s\" was accepted", bad[i][0]);
		assert_contains(err, bad[i][1]);
	}
}

static void test_users(void **state)
{
	char err[256];
	struct pf_user_conf u;

	assert_int_equal(pf_user_conf_parse(&u, "bob",
					    "pool_size=5 reserve_pool_size=1 pool_mode=statement max_user_connections=20 "
					    "max_user_client_connections=100 query_timeout=30 idle_transaction_timeout=0.5 "
					    "transaction_timeout=60 client_idle_timeout=600 query_wait_timeout=10",
					    err, sizeof(err)), 0);
	assert_string_equal(u.name, "bob");
	assert_int_equal(u.pool_size, 5);
	assert_int_equal(u.reserve_pool_size, 1);
	assert_int_equal(u.pool_mode, POOL_MODE_STATEMENT);
	assert_int_equal(u.max_user_connections, 20);
	assert_int_equal(u.max_user_client_connections, 100);
	assert_true(u.query_timeout == 30 * USEC_PER_SEC);
	assert_true(u.idle_transaction_timeout == 500000);
	assert_true(u.transaction_timeout == 60 * USEC_PER_SEC);
	assert_true(u.client_idle_timeout == 600 * USEC_PER_SEC);
	assert_true(u.query_wait_timeout == 10 * USEC_PER_SEC);
	pf_user_conf_free(&u);

	assert_int_equal(pf_user_conf_parse(&u, "alice", "", err, sizeof(err)), 0);
	assert_int_equal(u.pool_size, -1);
	assert_int_equal(u.reserve_pool_size, -1);
	assert_int_equal(u.pool_mode, POOL_MODE_UNSET);
	assert_int_equal(u.max_user_connections, -1);
	assert_int_equal(u.max_user_client_connections, -1);
	assert_true(u.query_timeout == -1);
	assert_true(u.idle_transaction_timeout == -1);
	assert_true(u.transaction_timeout == -1);
	assert_true(u.client_idle_timeout == -1);
	assert_true(u.query_wait_timeout == -1);
	pf_user_conf_free(&u);

	/* Database keys are not user keys. */
	assert_int_equal(pf_user_conf_parse(&u, "carol", "host=x", err, sizeof(err)), -1);
	assert_string_equal(err, "unsupported parameter in user settings: host");
	assert_int_equal(pf_user_conf_parse(&u, "carol", "query_timeout=-5", err, sizeof(err)), -1);
	assert_contains(err, "invalid value \"-5\" for query_timeout");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_quoting),
		cmocka_unit_test(test_split_errors),
		cmocka_unit_test(test_db_all_keys),
		cmocka_unit_test(test_db_defaults_and_alias),
		cmocka_unit_test(test_db_errors),
		cmocka_unit_test(test_users),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
