/*
 * test_ini.c - the ini reader, the [pgbouncer] option table, and pf_conf_load.
 *
 * Files are written under a mkdtemp directory that is removed at the end. The sample
 * config is found through $TOP_SRCDIR (default "."), so run from the source tree or set it.
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
#include "config/ini_reader.h"
#include "config/options.h"
#include "util/buf.h"
#include "util/log.h"

static char logpath[PATH_MAX];
static char sample_ini[PATH_MAX];

/* ---- helpers ---- */

static char *read_whole(const char *path)
{
	FILE *fp = fopen(path, "r");
	struct pf_buf b;
	char chunk[4096];
	size_t n;

	pf_buf_init(&b);
	if (fp) {
		while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
			pf_buf_put(&b, chunk, n);
		fclose(fp);
	}
	pf_buf_put_u8(&b, 0);
	return (char *)b.data;
}

/* Send log lines to a fresh file so tests can check the warnings. */
static int capture_log(void **state)
{
	fclose(fopen(logpath, "w"));
	pf_log_setup(0, 1, logpath, 0, NULL, NULL);
	return 0;
}

static int count_in_log(const char *needle)
{
	char *log = read_whole(logpath);
	int n = 0;
	for (const char *p = log; (p = strstr(p, needle)); p++)
		n++;
	free(log);
	return n;
}

/* Records every handler call as "section|key|value|file:line\n" (key "-" = section start). */
struct record {
	struct pf_buf out;
	const char *fail_on_key; /* make the handler fail on this key */
};

static int record_entry(void *arg, const char *file, int line, const char *section, const char *key,
			const char *value, char *err, size_t errlen)
{
	struct record *r = arg;
	const char *base = strrchr(file, '/');

	if (key && r->fail_on_key && strcmp(key, r->fail_on_key) == 0) {
		snprintf(err, errlen, "handler rejects %s", key);
		return -1;
	}
	pf_buf_printf(&r->out, "%s|%s|%s|%s:%d\n", section, key ? key : "-", value ? value : "-",
		      base ? base + 1 : file, line);
	return 0;
}

/* Parse `path`, returning the recorded text (malloc'ed) or NULL with err set. */
static char *parse_record(const char *path, const char *fail_on_key, char *err, size_t errlen)
{
	struct record r = { .fail_on_key = fail_on_key };
	pf_buf_init(&r.out);
	if (pf_ini_parse(path, record_entry, &r, err, errlen) < 0) {
		pf_buf_free(&r.out);
		return NULL;
	}
	pf_buf_put_u8(&r.out, 0);
	return (char *)r.out.data;
}

/* ---- the reader ---- */

static void test_basic_and_comments(void **state)
{
	char err[512];
	const char *path = write_file("basic.ini",
		"; a comment\n"
		"# another\n"
		"\n"
		"[pgbouncer]   ; comment after a header\n"
		"listen_port = 6432\n"
		"   ; indented comment\n"
		"empty =\n"
		"spaced   =    value with  inner  spaces   \n"
		"[databases]\n"
		"db1=host=x\n");
	char *rec = parse_record(path, NULL, err, sizeof(err));
	assert_non_null(rec);
	assert_string_equal(rec,
		"pgbouncer|-|-|basic.ini:4\n"
		"pgbouncer|listen_port|6432|basic.ini:5\n"
		"pgbouncer|empty||basic.ini:7\n"
		"pgbouncer|spaced|value with  inner  spaces|basic.ini:8\n"
		"databases|-|-|basic.ini:9\n"
		"databases|db1|host=x|basic.ini:10\n");
	free(rec);
}

static void test_indented_lines_are_not_continuations(void **state)
{
	char err[512];
	const char *path = write_file("indent.ini",
		"  [pgbouncer]\n"
		"\tlisten_port = 1\n"
		"        listen_addr = *\n"
		"    \t pool_mode = transaction\r\n");
	char *rec = parse_record(path, NULL, err, sizeof(err));
	assert_non_null(rec);
	assert_string_equal(rec,
		"pgbouncer|-|-|indent.ini:1\n"
		"pgbouncer|listen_port|1|indent.ini:2\n"
		"pgbouncer|listen_addr|*|indent.ini:3\n"
		"pgbouncer|pool_mode|transaction|indent.ini:4\n");
	free(rec);
}

static void test_long_lines(void **state)
{
	char err[512];
	struct pf_buf text, expect;
	char password[701];
	char *rec;

	memset(password, 'p', 700);
	password[700] = 0;
	pf_buf_init(&text);
	pf_buf_init(&expect);
	pf_buf_printf(&text, "[databases]\nbig = host=db.example.com dbname=big password=%s pool_size=3\n", password);
	pf_buf_printf(&text, "[pgbouncer]\nadmin_users = %s\n", password);
	pf_buf_put_u8(&text, 0);
	const char *path = write_file("long.ini", (char *)text.data);
	assert_true(text.len > 1400);

	rec = parse_record(path, NULL, err, sizeof(err));
	assert_non_null(rec);
	pf_buf_printf(&expect, "databases|-|-|long.ini:1\n");
	pf_buf_printf(&expect, "databases|big|host=db.example.com dbname=big password=%s pool_size=3|long.ini:2\n", password);
	pf_buf_printf(&expect, "pgbouncer|-|-|long.ini:3\n");
	pf_buf_printf(&expect, "pgbouncer|admin_users|%s|long.ini:4\n", password);
	pf_buf_put_u8(&expect, 0);
	assert_string_equal(rec, (char *)expect.data);
	free(rec);

	/* And through the whole loader. */
	struct pf_conf *conf = pf_conf_load(path, err, sizeof(err));
	assert_non_null(conf);
	const struct pf_db_conf *db = pf_conf_find_db(conf, "big");
	assert_non_null(db);
	assert_string_equal(db->password, password);
	assert_int_equal(db->pool_size, 3);
	assert_string_equal(conf->set.admin_users, password);
	pf_conf_free(conf);
	pf_buf_free(&text);
	pf_buf_free(&expect);
}

static void test_semicolons_and_hashes_in_values(void **state)
{
	char err[512];
	const char *path = write_file("quote.ini",
		"[databases]\n"
		"db = host=h password='a;b#c d' dbname=x\n"
		"[pgbouncer]\n"
		"auth_query = SELECT usename, passwd FROM pg_shadow WHERE usename=$1; -- #1\n"
		"listen_port = 6432 ; not a comment\n");
	char *rec = parse_record(path, NULL, err, sizeof(err));
	assert_non_null(rec);
	assert_contains(rec, "databases|db|host=h password='a;b#c d' dbname=x|quote.ini:2\n");
	assert_contains(rec, "pgbouncer|auth_query|SELECT usename, passwd FROM pg_shadow WHERE usename=$1; -- #1|quote.ini:4\n");
	assert_contains(rec, "pgbouncer|listen_port|6432 ; not a comment|quote.ini:5\n");
	free(rec);

	/* As in PgBouncer, "; ..." after a value is part of it, so this port is invalid. */
	struct pf_conf *conf = pf_conf_load(path, err, sizeof(err));
	assert_null(conf);
	assert_contains(err, "quote.ini:5: invalid value \"6432 ; not a comment\" for parameter listen_port");

	path = write_file("quote2.ini",
		"[databases]\n"
		"db = host=h password='a;b#c d' dbname=x\n"
		"[pgbouncer]\n"
		"auth_query = SELECT 1; -- #1\n");
	conf = pf_conf_load(path, err, sizeof(err));
	assert_non_null(conf);
	assert_string_equal(pf_conf_find_db(conf, "db")->password, "a;b#c d");
	assert_string_equal(conf->set.auth_query, "SELECT 1; -- #1");
	pf_conf_free(conf);
}

static void test_include_nested(void **state)
{
	char err[512], cwd[PATH_MAX];
	char *rec;

	/* %include paths are relative to the current directory, as in PgBouncer. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tmpdir), 0);
	write_file("inc_c.ini", "  c_key = c\n");
	write_file("inc_b.ini", "b_key = b\n%include inc_c.ini\n[databases]\nb_db = dbname=b\n");
	const char *path = write_file("inc_a.ini", "[pgbouncer]\na_key = a\n   %include   inc_b.ini  \nafter = 1\n");

	rec = parse_record(path, NULL, err, sizeof(err));
	assert_int_equal(chdir(cwd), 0);
	assert_non_null(rec);
	/* The section carries into and out of included files. */
	assert_string_equal(rec,
		"pgbouncer|-|-|inc_a.ini:1\n"
		"pgbouncer|a_key|a|inc_a.ini:2\n"
		"pgbouncer|b_key|b|inc_b.ini:1\n"
		"pgbouncer|c_key|c|inc_c.ini:1\n"
		"databases|-|-|inc_b.ini:3\n"
		"databases|b_db|dbname=b|inc_b.ini:4\n"
		"databases|after|1|inc_a.ini:4\n");
	free(rec);
}

static void test_include_errors(void **state)
{
	char err[512], cwd[PATH_MAX], name[64], text[128], top[PATH_MAX];

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tmpdir), 0);

	/* Missing file: reported at the %include line. */
	const char *path = write_file("miss.ini", "[pgbouncer]\n\n%include nowhere.ini\n");
	assert_null(parse_record(path, NULL, err, sizeof(err)));
	assert_contains(err, "miss.ini:3: could not open include file \"nowhere.ini\": No such file or directory");

	/* A file that includes itself (through another). */
	write_file("loop_b.ini", "x = 1\n%include loop_a.ini\n");
	path = write_file("loop_a.ini", "[pgbouncer]\n%include loop_b.ini\n");
	assert_null(parse_record(path, NULL, err, sizeof(err)));
	assert_contains(err, "loop_b.ini:2: %include loop: \"loop_a.ini\" is already being read");

	/* A chain deeper than PF_INI_MAX_INCLUDE_DEPTH. */
	for (int i = 0; i <= PF_INI_MAX_INCLUDE_DEPTH + 1; i++) {
		snprintf(name, sizeof(name), "deep%d.ini", i);
		snprintf(text, sizeof(text), "%s%%include deep%d.ini\n", i == 0 ? "[pgbouncer]\n" : "", i + 1);
		write_file(name, text);
	}
	write_file("deep12.ini", "k = v\n");
	snprintf(top, sizeof(top), "%s/deep0.ini", tmpdir);
	assert_null(parse_record(top, NULL, err, sizeof(err)));
	assert_contains(err, "deep10.ini:1: %include nested too deeply");

	/* Exactly the limit is fine: deep2 -> ... -> deep12 is 10 levels below the top. */
	snprintf(top, sizeof(top), "%s/deep2.ini", tmpdir);
	write_file("deep2.ini", "[pgbouncer]\n%include deep3.ini\n");
	char *rec = parse_record(top, NULL, err, sizeof(err));
	assert_non_null(rec);
	assert_contains(rec, "pgbouncer|k|v|deep12.ini:1\n");
	free(rec);

	/* %include without a name. */
	path = write_file("noname.ini", "[pgbouncer]\n%include\n");
	assert_null(parse_record(path, NULL, err, sizeof(err)));
	assert_contains(err, "noname.ini:2: %include needs a file name");

	assert_int_equal(chdir(cwd), 0);
}

static void test_syntax_errors(void **state)
{
	char err[512];
	const char *path;

	path = write_file("e1.ini", "; top\nlisten_port = 1\n[pgbouncer]\n");
	assert_null(parse_record(path, NULL, err, sizeof(err)));
	assert_contains(err, "e1.ini:2: key \"listen_port\" is outside of any [section]");

	path = write_file("e2.ini", "[pgbouncer]\njust some words\n");
	assert_null(parse_record(path, NULL, err, sizeof(err)));
	assert_contains(err, "e2.ini:2: syntax error: expected \"key = value\"");

	path = write_file("e3.ini", "[pgbouncer\n");
	assert_null(parse_record(path, NULL, err, sizeof(err)));
	assert_contains(err, "e3.ini:1: syntax error: missing ']'");

	path = write_file("e4.ini", "[pgbouncer]\n= value\n");
	assert_null(parse_record(path, NULL, err, sizeof(err)));
	assert_contains(err, "e4.ini:2: syntax error: missing key");

	path = write_file("e5.ini", "[]\n");
	assert_null(parse_record(path, NULL, err, sizeof(err)));
	assert_contains(err, "e5.ini:1: syntax error: empty section name");

	path = write_file("e6.ini", "[pgbouncer] extra\n");
	assert_null(parse_record(path, NULL, err, sizeof(err)));
	assert_contains(err, "e6.ini:1: syntax error: unexpected text after section header");

	path = write_file("e7.ini", "[pgbouncer]\nlisten port = 1\n");
	assert_null(parse_record(path, NULL, err, sizeof(err)));
	assert_contains(err, "e7.ini:2: syntax error: key \"listen port\" contains white space");

	/* The handler's own errors get file:line too, and stop the parse. */
	path = write_file("e8.ini", "[pgbouncer]\na = 1\nb = 2\nc = 3\n");
	assert_null(parse_record(path, "b", err, sizeof(err)));
	assert_string_equal(strrchr(err, '/') + 1, "e8.ini:3: handler rejects b");

	char missing[PATH_MAX];
	snprintf(missing, sizeof(missing), "%s/does-not-exist.ini", tmpdir);
	assert_null(parse_record(missing, NULL, err, sizeof(err)));
	assert_contains(err, "does-not-exist.ini: could not open config file: No such file or directory");

	/* A directory opens but cannot be read. */
	assert_null(parse_record(tmpdir, NULL, err, sizeof(err)));
	assert_contains(err, ":1: read error: Is a directory");
}

/* ---- the option table ---- */

static void test_option_table(void **state)
{
	size_t n, acted = 0;
	const struct pf_option *t = pf_options_table(&n);

	assert_true(n >= 100);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(t[i - 1].name, t[i].name) >= 0)
			fail_msg("table not sorted at %s", t[i].name);
		if (t[i].flags & OPT_ACTED)
			acted++;
		if (t[i].flags & OPT_ALIAS) {
			const struct pf_option *target = pf_option_find(t[i].alias_of);
			assert_non_null(target);
			assert_int_equal(target->offset, t[i].offset);
			continue;
		}
		/* Each real key owns its own field. */
		for (size_t j = 0; j < i; j++)
			if (!(t[j].flags & OPT_ALIAS) && t[j].offset == t[i].offset)
				fail_msg("%s and %s share a field", t[j].name, t[i].name);
	}
	assert_int_equal(acted, 96);

	assert_ptr_equal(pf_option_find("MAX_CLIENT_CONN"), pf_option_find("max_client_conn"));
	assert_null(pf_option_find("no_such_key"));
	assert_true(pf_option_find("pool_mode")->flags & OPT_RELOAD);
	assert_true(pf_option_find("pool_mode")->flags & OPT_ACTED);
	assert_false(pf_option_find("listen_port")->flags & OPT_RELOAD);
	assert_false(pf_option_find("unix_socket_mode")->flags & OPT_RELOAD);
	assert_false(pf_option_find("service_name")->flags & OPT_RELOAD);
	assert_true(pf_option_find("stats_period")->flags & OPT_ACTED);
	assert_true(pf_option_find("query_wait_timeout")->flags & OPT_ACTED);
	assert_true(pf_option_find("transaction_timeout")->flags & OPT_ACTED);
	assert_true(pf_option_find("max_prepared_statements")->flags & OPT_ACTED);
	assert_false(pf_option_find("sbuf_loopcnt")->flags & OPT_ACTED);
	assert_true(pf_option_find("client_tls_sslmode")->flags & OPT_ACTED);
	assert_true(pf_option_find("tenant_key")->flags & OPT_ACTED);
	assert_true(pf_option_find("tenant_separator")->flags & OPT_ACTED);
	assert_non_null(pf_option_find("pool_idle_timeout"));
}

static void test_defaults(void **state)
{
	struct pf_settings s;
	size_t n;
	const struct pf_option *t = pf_options_table(&n);

	pf_settings_defaults(&s);
	assert_int_equal(s.listen_port, 6432);
	assert_int_equal(s.max_client_conn, 100);
	assert_int_equal(s.default_pool_size, 20);
	assert_int_equal(s.max_packet_size, 2147483647);
	assert_int_equal(s.pool_mode, POOL_MODE_SESSION);
	assert_int_equal(s.auth_type, AUTH_TYPE_MD5);
	assert_int_equal(s.unix_socket_mode, 0777);
	assert_int_equal(s.log_connections, 1);
	assert_int_equal(s.max_prepared_statements, 200);
	assert_true(s.server_idle_timeout == 600 * USEC_PER_SEC);
	assert_true(s.query_wait_timeout == 120 * USEC_PER_SEC);
	assert_true(s.client_idle_timeout == 0);
	assert_string_equal(s.server_reset_query, "DISCARD ALL");
	assert_string_equal(s.unix_socket_dir, "/tmp");
	assert_string_equal(s.job_name, "pgbouncer");
	assert_string_equal(s.server_check_query, "<empty>");
	assert_string_equal(s.track_extra_parameters, "IntervalStyle");
	assert_string_equal(s.listen_addr, "");
	assert_null(s.auth_file);
	assert_null(s.user);
	assert_contains(s.auth_query, "FROM pg_authid WHERE rolname=$1 AND rolcanlogin");

	/* Every default shows in SHOW CONFIG exactly as the table writes it. */
	for (size_t i = 0; i < n; i++) {
		char *text = pf_option_value_text(&s, &t[i]);
		const char *want = t[i].def ? t[i].def : "";
		if (t[i].flags & OPT_ALIAS)
			want = "pgbouncer";
		if (strcmp(text, want) != 0)
			fail_msg("%s shows \"%s\", default is \"%s\"", t[i].name, text, want);
		free(text);
	}
	pf_settings_free(&s);
}

static void test_set_values(void **state)
{
	struct pf_settings s;
	char err[256];
	char *text;

	pf_settings_defaults(&s);

	assert_int_equal(pf_option_set(&s, "max_client_conn", "abc", err, sizeof(err)), -2);
	assert_contains(err, "invalid value \"abc\" for parameter max_client_conn");
	assert_int_equal(s.max_client_conn, 100);
	assert_int_equal(pf_option_set(&s, "max_client_conn", "-1", err, sizeof(err)), -2);
	assert_int_equal(pf_option_set(&s, "max_client_conn", "1.5", err, sizeof(err)), -2);
	assert_int_equal(pf_option_set(&s, "max_client_conn", "99999999999", err, sizeof(err)), -2);
	assert_int_equal(pf_option_set(&s, "max_client_conn", "", err, sizeof(err)), -2);
	assert_int_equal(pf_option_set(&s, "max_client_conn", "5000", err, sizeof(err)), 0);
	assert_int_equal(s.max_client_conn, 5000);
	assert_int_equal(pf_option_set(&s, "listen_port", "65536", err, sizeof(err)), -2);
	assert_contains(err, "from 1 to 65535");
	assert_int_equal(pf_option_set(&s, "peer_id", "16384", err, sizeof(err)), -2);
	assert_int_equal(pf_option_set(&s, "nonsense", "1", err, sizeof(err)), -1);
	assert_contains(err, "unknown parameter nonsense");

	/* Booleans. */
	const char *truthy[] = { "1", "yes", "on", "true", "TRUE", "On" };
	const char *falsy[] = { "0", "no", "off", "false", "NO" };
	for (size_t i = 0; i < sizeof(truthy) / sizeof(*truthy); i++) {
		s.syslog = 0;
		assert_int_equal(pf_option_set(&s, "syslog", truthy[i], err, sizeof(err)), 0);
		assert_int_equal(s.syslog, 1);
	}
	for (size_t i = 0; i < sizeof(falsy) / sizeof(*falsy); i++) {
		s.syslog = 1;
		assert_int_equal(pf_option_set(&s, "syslog", falsy[i], err, sizeof(err)), 0);
		assert_int_equal(s.syslog, 0);
	}
	assert_int_equal(pf_option_set(&s, "syslog", "2", err, sizeof(err)), -2);
	assert_int_equal(pf_option_set(&s, "syslog", "maybe", err, sizeof(err)), -2);

	/* Times: seconds, fractions allowed, shown back in seconds. */
	assert_int_equal(pf_option_set(&s, "query_timeout", "5", err, sizeof(err)), 0);
	assert_true(s.query_timeout == 5 * USEC_PER_SEC);
	assert_int_equal(pf_option_set(&s, "query_timeout", "5.0", err, sizeof(err)), 0);
	assert_true(s.query_timeout == 5 * USEC_PER_SEC);
	text = pf_option_value_text(&s, pf_option_find("query_timeout"));
	assert_string_equal(text, "5");
	free(text);
	assert_int_equal(pf_option_set(&s, "query_timeout", "0.2", err, sizeof(err)), 0);
	assert_true(s.query_timeout == 200000);
	text = pf_option_value_text(&s, pf_option_find("query_timeout"));
	assert_string_equal(text, "0.2");
	free(text);
	assert_int_equal(pf_option_set(&s, "query_timeout", "1.0000019", err, sizeof(err)), 0);
	assert_true(s.query_timeout == 1000001);
	text = pf_option_value_text(&s, pf_option_find("query_timeout"));
	assert_string_equal(text, "1.000001");
	free(text);
	const char *bad_times[] = { "-1", "1e3", "abc", "5s", " 5", "", ".", "inf", "0x10", "99999999999999999" };
	for (size_t i = 0; i < sizeof(bad_times) / sizeof(*bad_times); i++)
		if (pf_option_set(&s, "query_timeout", bad_times[i], err, sizeof(err)) != -2)
			fail_msg("time \"%s\" was accepted", bad_times[i]);

	/* Enums, by name, case-insensitively; shown by name. */
	assert_int_equal(pf_option_set(&s, "pool_mode", "Transaction", err, sizeof(err)), 0);
	assert_int_equal(s.pool_mode, POOL_MODE_TRANSACTION);
	text = pf_option_value_text(&s, pf_option_find("pool_mode"));
	assert_string_equal(text, "transaction");
	free(text);
	assert_int_equal(pf_option_set(&s, "pool_mode", "batch", err, sizeof(err)), -2);
	assert_contains(err, "one of session, transaction, statement");
	assert_int_equal(pf_option_set(&s, "auth_type", "scram-sha-256", err, sizeof(err)), 0);
	assert_int_equal(s.auth_type, AUTH_TYPE_SCRAM);
	assert_int_equal(pf_option_set(&s, "client_tls_sslmode", "require", err, sizeof(err)), 0);
	assert_string_equal(s.client_tls_sslmode, "require");
	assert_int_equal(pf_option_set(&s, "client_tls_sslmode", "sometimes", err, sizeof(err)), -2);

	/* Octal mode. */
	assert_int_equal(pf_option_set(&s, "unix_socket_mode", "0700", err, sizeof(err)), 0);
	assert_int_equal(s.unix_socket_mode, 0700);
	text = pf_option_value_text(&s, pf_option_find("unix_socket_mode"));
	assert_string_equal(text, "0700");
	free(text);
	assert_int_equal(pf_option_set(&s, "unix_socket_mode", "0789", err, sizeof(err)), -2);
	assert_int_equal(pf_option_set(&s, "unix_socket_mode", "rwx", err, sizeof(err)), -2);

	/* Strings, and the service_name alias. */
	assert_int_equal(pf_option_set(&s, "service_name", "svc", err, sizeof(err)), 0);
	assert_string_equal(s.job_name, "svc");
	text = pf_option_value_text(&s, pf_option_find("service_name"));
	assert_string_equal(text, "svc");
	free(text);
	assert_int_equal(pf_option_set(&s, "auth_file", "/etc/x", err, sizeof(err)), 0);
	assert_int_equal(pf_option_set(&s, "auth_file", "/etc/y", err, sizeof(err)), 0);
	assert_string_equal(s.auth_file, "/etc/y");

	pf_settings_free(&s);
	assert_null(s.auth_file);
}

/* ---- pf_conf_load ---- */

static const char realistic_ini[] =
	";; a production-like pgbouncer.ini\n"
	"[databases]\n"
	"appdb = host=10.0.0.5,10.0.0.6 port=5433 dbname=app load_balance_hosts=round-robin pool_size=40\n"
	"reports = host=/var/run/postgresql dbname=reports user=reporter password='s3cr;t pass' pool_mode=session\n"
	"* = host=localhost auth_user=pgb_auth\n"
	"appdb = host=10.0.0.7 dbname=app2\n"
	"\n"
	"[users]\n"
	"batch = pool_mode=session max_user_connections=5 query_timeout=300\n"
	"web = pool_size=50 reserve_pool_size=5\n"
	"\n"
	"[pgbouncer]\n"
	"logfile = %s/pgbouncer.log\n"
	"pidfile = %s/pgbouncer.pid\n"
	"listen_addr = 127.0.0.1\n"
	"listen_port = 6433\n"
	"unix_socket_dir = %s\n"
	"auth_type = scram-sha-256\n"
	"auth_file = %s/userlist.txt\n"
	"admin_users = admin, postgres\n"
	"stats_users = stats\n"
	"pool_mode = transaction\n"
	"sbuf_loopcnt = 10\n"
	"max_client_conn = 1000\n"
	"default_pool_size = 25\n"
	"server_lifetime = 1800\n"
	"server_idle_timeout = 60.5\n"
	"max_prepared_statements = 100\n"
	"ignore_startup_parameters = extra_float_digits, options\n"
	"log_connections = off\n"
	"tcp_keepalive = yes\n"
	"admin_users = admin\n"
	"no_such_option = 1\n"
	"NO_SUCH_OPTION = 2\n"
	"\n"
	"[peers]\n"
	"1 = host=10.0.0.9\n"
	"[peers]\n"
	"[tenants]\n"
	"[whatever]\n"
	"x = 1\n";

static void test_conf_load_realistic(void **state)
{
	char err[512], text[sizeof(realistic_ini) + 4 * PATH_MAX];

	snprintf(text, sizeof(text), realistic_ini, tmpdir, tmpdir, tmpdir, tmpdir);
	const char *path = write_file("pgbouncer.ini", text);
	char loaded_from[PATH_MAX];
	snprintf(loaded_from, sizeof(loaded_from), "%s", path);

	struct pf_conf *conf = pf_conf_load(loaded_from, err, sizeof(err));
	if (!conf)
		fail_msg("load failed: %s", err);

	const struct pf_settings *s = &conf->set;
	assert_string_equal(s->conffile, loaded_from);
	assert_string_equal(s->listen_addr, "127.0.0.1");
	assert_int_equal(s->listen_port, 6433);
	assert_int_equal(s->auth_type, AUTH_TYPE_SCRAM);
	assert_int_equal(s->pool_mode, POOL_MODE_TRANSACTION);
	assert_int_equal(s->max_client_conn, 1000);
	assert_int_equal(s->default_pool_size, 25);
	assert_true(s->server_lifetime == 1800 * USEC_PER_SEC);
	assert_true(s->server_idle_timeout == 60500000);
	assert_int_equal(s->log_connections, 0);
	assert_int_equal(s->tcp_keepalive, 1);
	assert_string_equal(s->admin_users, "admin");
	assert_string_equal(s->ignore_startup_parameters, "extra_float_digits, options");
	assert_int_equal(s->max_prepared_statements, 100);
	assert_int_equal(s->sbuf_loopcnt, 10);
	assert_true(s->transaction_timeout == 0); /* untouched default */

	assert_int_equal(conf->n_dbs, 3);
	const struct pf_db_conf *app = pf_conf_find_db(conf, "appdb");
	assert_non_null(app);
	assert_string_equal(app->host, "10.0.0.7"); /* the later entry won */
	assert_string_equal(app->dbname, "app2");
	assert_int_equal(app->port, 5432);
	assert_int_equal(app->pool_size, -1);
	assert_int_equal(app->line, 6);
	assert_string_equal(app->file, loaded_from);
	const struct pf_db_conf *rep = pf_conf_find_db(conf, "reports");
	assert_string_equal(rep->password, "s3cr;t pass");
	assert_string_equal(rep->user, "reporter");
	assert_int_equal(rep->pool_mode, POOL_MODE_SESSION);
	assert_non_null(pf_conf_find_db(conf, "*"));
	assert_null(pf_conf_find_db(conf, "nope"));

	assert_int_equal(conf->n_users, 2);
	const struct pf_user_conf *batch = pf_conf_find_user(conf, "batch");
	assert_int_equal(batch->max_user_connections, 5);
	assert_true(batch->query_timeout == 300 * USEC_PER_SEC);
	assert_int_equal(batch->pool_size, -1);
	assert_int_equal(pf_conf_find_user(conf, "web")->reserve_pool_size, 5);
	assert_null(pf_conf_find_user(conf, "nobody"));

	/* Warnings, once each; none for keys pgfjord acts on. */
	assert_int_equal(count_in_log("pgbouncer.ini:33: unknown parameter no_such_option in [pgbouncer], ignored"), 1);
	assert_int_equal(count_in_log("unknown parameter"), 1);
	assert_int_equal(count_in_log("pgbouncer.ini:23: parameter sbuf_loopcnt is not supported yet, ignored"), 1);
	assert_int_equal(count_in_log("parameter sbuf_loopcnt is not supported"), 1);
	assert_int_equal(count_in_log("parameter max_prepared_statements"), 0);
	assert_int_equal(count_in_log("parameter admin_users"), 0);
	assert_int_equal(count_in_log("parameter stats_users"), 0);
	assert_int_equal(count_in_log("parameter server_lifetime"), 0);
	assert_int_equal(count_in_log("parameter listen_port"), 0);
	assert_int_equal(count_in_log("parameter tcp_keepalive"), 0);
	assert_int_equal(count_in_log("pgbouncer.ini:36: section [peers] is not supported yet, ignored"), 1);
	assert_int_equal(count_in_log("section [peers]"), 1);
	assert_int_equal(count_in_log("section [tenants]"), 0); /* acted on since issue #7 */
	assert_int_equal(count_in_log("pgbouncer.ini:40: unknown section [whatever], ignored"), 1);

	pf_conf_free(conf);
}

static void test_conf_load_errors(void **state)
{
	char err[512];
	const char *path;

	path = write_file("bad1.ini", "[pgbouncer]\nlisten_port = 6432\nmax_client_conn = lots\n");
	assert_null(pf_conf_load(path, err, sizeof(err)));
	assert_contains(err, "bad1.ini:3: invalid value \"lots\" for parameter max_client_conn");

	path = write_file("bad2.ini", "[databases]\npgbouncer = host=x\n");
	assert_null(pf_conf_load(path, err, sizeof(err)));
	assert_contains(err, "bad2.ini:2: database name \"pgbouncer\" is reserved");

	path = write_file("bad3.ini", "[databases]\nok = host=x\nbad = host=x colour=blue\n");
	assert_null(pf_conf_load(path, err, sizeof(err)));
	assert_contains(err, "bad3.ini:3: unsupported parameter in database settings: colour");

	path = write_file("bad4.ini", "[users]\nu = pool_size=many\n");
	assert_null(pf_conf_load(path, err, sizeof(err)));
	assert_contains(err, "bad4.ini:2: invalid value \"many\" for pool_size");

	/* Not-acted keys with bad values still fail, as in PgBouncer. */
	path = write_file("bad5.ini", "[pgbouncer]\nstats_period = soon\n");
	assert_null(pf_conf_load(path, err, sizeof(err)));
	assert_contains(err, "bad5.ini:2: invalid value \"soon\" for parameter stats_period");

	/* sslmode values are case-insensitive and stored lower case; the last one wins. */
	path = write_file("tls.ini", "[pgbouncer]\nclient_tls_sslmode = Require\nclient_tls_sslmode = DISABLE\n");
	struct pf_conf *conf = pf_conf_load(path, err, sizeof(err));
	assert_non_null(conf);
	assert_int_equal(count_in_log("client_tls_sslmode"), 0);
	assert_string_equal(conf->set.client_tls_sslmode, "disable");
	pf_conf_free(conf);
}

static void test_sample_config(void **state)
{
	char err[512];
	struct pf_conf *conf = pf_conf_load(sample_ini, err, sizeof(err));

	if (!conf)
		fail_msg("%s does not load: %s", sample_ini, err);
	assert_true(conf->n_dbs > 0);
	assert_true(conf->n_users > 0);
	/* Every [pgbouncer] key in the sample is commented out, so no warnings. */
	char *log = read_whole(logpath);
	if (strstr(log, "WARNING"))
		fail_msg("sample config logged warnings:\n%s", log);
	free(log);
	pf_conf_free(conf);

	/* And it mentions every key of the table. */
	char *text = read_whole(sample_ini);
	size_t n;
	const struct pf_option *t = pf_options_table(&n);
	for (size_t i = 0; i < n; i++) {
		char needle[128];
		snprintf(needle, sizeof(needle), "\n;%s =", t[i].name);
		const char *at = strstr(text, needle);
		if (!at)
			fail_msg("sample config lacks \";%s =\"", t[i].name);
		/* The comment line above says "[not acted on yet]" exactly for keys not acted on. */
		const char *line = at;
		while (line > text && line[-1] != '\n')
			line--;
		bool marked = memmem(line, (size_t)(at - line), "[not acted on yet]", 18) != NULL;
		if (marked != !(t[i].flags & OPT_ACTED))
			fail_msg("sample config: %s is %s but its comment %s \"[not acted on yet]\"", t[i].name,
				 (t[i].flags & OPT_ACTED) ? "acted on" : "not acted on", marked ? "says" : "lacks");
	}
	free(text);
}

/* ---- setup ---- */

static int group_setup(void **state)
{
	const char *top = getenv("TOP_SRCDIR");
	char *abs;

	if (test_files_setup("ini") < 0)
		return -1;
	snprintf(logpath, sizeof(logpath), "%s/test.log", tmpdir);
	/* Absolute, because some tests chdir into tmpdir. */
	abs = realpath(top && *top ? top : ".", NULL);
	if (!abs)
		return -1;
	snprintf(sample_ini, sizeof(sample_ini), "%s/etc/pgfjord.ini", abs);
	free(abs);
	/* Keep expected warnings off the terminal; some tests read this file back. */
	return capture_log(state);
}

static int group_teardown(void **state)
{
	pf_log_setup(0, 1, NULL, 0, NULL, NULL);
	return test_files_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_and_comments),
		cmocka_unit_test(test_indented_lines_are_not_continuations),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_semicolons_and_hashes_in_values),
		cmocka_unit_test(test_include_nested),
		cmocka_unit_test(test_include_errors),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_option_table),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_set_values),
		cmocka_unit_test_setup(test_conf_load_realistic, capture_log),
		cmocka_unit_test_setup(test_conf_load_errors, capture_log),
		cmocka_unit_test_setup(test_sample_config, capture_log),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
