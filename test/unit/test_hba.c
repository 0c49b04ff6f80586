/* test_hba.c - auth_hba_file parsing (every line type, list, address form, method, error) and matching. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_files.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/hba.h"
#include "util/buf.h"


static struct pf_hba *load(const char *text)
{
	char err[512];
	struct pf_hba *hba = pf_hba_load(write_file("hba.conf", text), err, sizeof(err));

	if (!hba)
		fail_msg("load failed: %s", err);
	return hba;
}

/* The error of loading `text`, which must fail. */
static const char *load_error(const char *text)
{
	static char err[512];
	struct pf_hba *hba = pf_hba_load(write_file("hba.conf", text), err, sizeof(err));

	if (hba) {
		pf_hba_free(hba);
		fail_msg("loaded, but should fail: %s", text);
	}
	return err;
}

/* An address as a sockaddr; NULL gives NULL. */
static const struct sockaddr *ip(const char *s)
{
	static struct sockaddr_storage ss[4];
	static int next;
	struct sockaddr_storage *p = &ss[next++ % 4];

	if (!s)
		return NULL;
	memset(p, 0, sizeof(*p));
	if (inet_pton(AF_INET, s, &((struct sockaddr_in *)p)->sin_addr) == 1)
		p->ss_family = AF_INET;
	else if (inet_pton(AF_INET6, s, &((struct sockaddr_in6 *)p)->sin6_addr) == 1)
		p->ss_family = AF_INET6;
	else
		fail_msg("bad test address %s", s);
	return (const struct sockaddr *)p;
}

/* The line of the matching rule, 0 for no match. */
static int tcp(const struct pf_hba *hba, const char *addr, const char *db, const char *user)
{
	const struct pf_hba_rule *r = pf_hba_match(hba, PF_CONN_TCP, false, ip(addr), db, user, false);
	return r ? r->line : 0;
}

static int tls(const struct pf_hba *hba, const char *addr, const char *db, const char *user)
{
	const struct pf_hba_rule *r = pf_hba_match(hba, PF_CONN_TCP, true, ip(addr), db, user, false);
	return r ? r->line : 0;
}

static int unix_(const struct pf_hba *hba, const char *db, const char *user)
{
	const struct pf_hba_rule *r = pf_hba_match(hba, PF_CONN_UNIX, false, NULL, db, user, false);
	return r ? r->line : 0;
}

static int repl(const struct pf_hba *hba, const char *addr, const char *db, const char *user)
{
	const struct pf_hba_rule *r = pf_hba_match(hba, PF_CONN_TCP, false, ip(addr), db, user, true);
	return r ? r->line : 0;
}

static void test_line_types(void **state)
{
	struct pf_hba *hba = load("# type  db   user  address   method\n"
				  "local    dbl  all              trust\n"
				  "host     dbh  all   all        md5\n"
				  "hostssl  dbs  all   all        scram-sha-256\n"
				  "hostnossl dbn all   all        password\n");

	assert_int_equal(pf_hba_rule_count(hba), 4);
	/* local: Unix sockets only. */
	assert_int_equal(unix_(hba, "dbl", "u"), 2);
	assert_int_equal(tcp(hba, "127.0.0.1", "dbl", "u"), 0);
	/* host: TCP with or without TLS. */
	assert_int_equal(tcp(hba, "127.0.0.1", "dbh", "u"), 3);
	assert_int_equal(tls(hba, "127.0.0.1", "dbh", "u"), 3);
	assert_int_equal(unix_(hba, "dbh", "u"), 0);
	/* hostssl: TCP with TLS only. */
	assert_int_equal(tls(hba, "::1", "dbs", "u"), 4);
	assert_int_equal(tcp(hba, "::1", "dbs", "u"), 0);
	assert_int_equal(unix_(hba, "dbs", "u"), 0);
	/* hostnossl: TCP without TLS only. */
	assert_int_equal(tcp(hba, "10.1.2.3", "dbn", "u"), 5);
	assert_int_equal(tls(hba, "10.1.2.3", "dbn", "u"), 0);
	assert_int_equal(unix_(hba, "dbn", "u"), 0);

	const struct pf_hba_rule *r = pf_hba_match(hba, PF_CONN_TCP, true, ip("1.2.3.4"), "dbs", "x", false);
	assert_non_null(r);
	assert_int_equal(r->type, PF_HBA_HOSTSSL);
	assert_int_equal(r->method, PF_HBA_SCRAM);
	assert_null(r->map);
	/* A TCP connection without an address matches only `all`. */
	assert_int_equal(pf_hba_match(hba, PF_CONN_TCP, false, NULL, "dbh", "u", false)->line, 3);
	pf_hba_free(hba);
}

static void test_lists(void **state)
{
	struct pf_hba *hba = load("host db1,db2, db3 alice,bob 10.0.0.0/8 md5\n"
				  "host sameuser all 10.0.0.0/8 trust\n"
				  "host all carol 10.0.0.0/8 password\n"
				  "host replication repuser 10.0.0.0/8 scram-sha-256\n"
				  "host all all 10.0.0.0/8 reject\n");

	assert_int_equal(tcp(hba, "10.0.0.1", "db1", "alice"), 1);
	assert_int_equal(tcp(hba, "10.0.0.1", "db2", "bob"), 1);
	assert_int_equal(tcp(hba, "10.0.0.1", "db3", "bob"), 1); /* "db2, db3": blank after a comma */
	assert_int_equal(tcp(hba, "10.0.0.1", "db4", "bob"), 5);
	assert_int_equal(tcp(hba, "10.0.0.1", "DB1", "alice"), 5); /* names are case-sensitive */
	assert_int_equal(tcp(hba, "10.0.0.1", "db1", "Alice"), 5);
	/* sameuser: the database named like the user. */
	assert_int_equal(tcp(hba, "10.0.0.1", "dave", "dave"), 2);
	assert_int_equal(tcp(hba, "10.0.0.1", "dave", "erin"), 5);
	assert_int_equal(tcp(hba, "10.0.0.1", "anydb", "carol"), 3);
	/* Physical replication matches only `replication`; `all` and sameuser do not. */
	assert_int_equal(repl(hba, "10.0.0.1", "replication", "repuser"), 4);
	assert_int_equal(repl(hba, "10.0.0.1", "db1", "repuser"), 4);
	assert_int_equal(repl(hba, "10.0.0.1", "db1", "alice"), 0);
	assert_int_equal(repl(hba, "10.0.0.1", "carol", "carol"), 0);
	/* ... and `replication` matches no ordinary connection, not even to a db of that name. */
	assert_int_equal(tcp(hba, "10.0.0.1", "replication", "repuser"), 5);
	pf_hba_free(hba);
}

static void test_keywords_in_user_field(void **state)
{
	/* sameuser and replication are keywords of the database field only. */
	struct pf_hba *hba = load("local all sameuser,replication trust\n");

	assert_int_equal(unix_(hba, "x", "sameuser"), 1);
	assert_int_equal(unix_(hba, "x", "replication"), 1);
	assert_int_equal(unix_(hba, "x", "x"), 0);
	pf_hba_free(hba);
}

static void test_quoting(void **state)
{
	struct pf_hba *hba = load("local \"all\" u1 trust\n"
				  "local \"my db\",\"a,b\" u2 trust\n"
				  "local \"say \"\"hi\"\"\" u3 trust\n"
				  "local \"#notacomment\" u4 trust # a comment\n"
				  "local \"sameuser\",\"replication\" u5 trust\n"
				  "local all \"+plus\",\"@at\",\"\" trust\n"
				  "local x\"y z\" u6 \"md5\"\n"
				  "\"host\" all u7 all trust\n");

	/* Quoted keywords are plain names. */
	assert_int_equal(unix_(hba, "all", "u1"), 1);
	assert_int_equal(unix_(hba, "other", "u1"), 0);
	assert_int_equal(unix_(hba, "my db", "u2"), 2);
	assert_int_equal(unix_(hba, "a,b", "u2"), 2);
	assert_int_equal(unix_(hba, "a", "u2"), 0);
	assert_int_equal(unix_(hba, "say \"hi\"", "u3"), 3);
	assert_int_equal(unix_(hba, "#notacomment", "u4"), 4);
	assert_int_equal(unix_(hba, "sameuser", "u5"), 5);
	assert_int_equal(unix_(hba, "replication", "u5"), 5);
	assert_int_equal(unix_(hba, "u5", "u5"), 0);
	assert_int_equal(repl(hba, "127.0.0.1", "x", "u5"), 0);
	assert_int_equal(unix_(hba, "d", "+plus"), 6);
	assert_int_equal(unix_(hba, "d", "@at"), 6);
	assert_int_equal(unix_(hba, "d", ""), 6);
	/* A quote may start mid-token; method and connection type ignore quotes, as in PostgreSQL. */
	assert_int_equal(unix_(hba, "xy z", "u6"), 7);
	assert_int_equal(pf_hba_match(hba, PF_CONN_UNIX, false, NULL, "xy z", "u6", false)->method, PF_HBA_MD5);
	assert_int_equal(tcp(hba, "1.1.1.1", "d", "u7"), 8);
	pf_hba_free(hba);
}

static void test_at_file(void **state)
{
	char text[PATH_MAX + 100];

	mkdir(strcat(strcpy(text, tmpdir), "/sub"), 0700);
	write_file("dbs.txt", "# databases\n"
			      "sales, hr\n"
			      "\"odd name\" finance\t# trailing comment\n"
			      "  reports,\\\n"
			      "  archive\n");
	write_file("users.txt", "alice bob\n@sub/more.txt\n");
	write_file("sub/more.txt", "carol, @deeper.txt\n"); /* relative to sub/ */
	write_file("sub/deeper.txt", "dave\n");
	write_file("kw.txt", "all\n");
	write_file("empty.txt", "# nobody\n\n");
	snprintf(text, sizeof(text),
		 "local @dbs.txt @users.txt trust\n"
		 "local kwdb @kw.txt md5\n"
		 "local nobody @empty.txt reject\n"
		 "local \"@dbs.txt\" all password\n"
		 "local abs @%s/sub/deeper.txt peer\n"
		 "local @\"dbs.txt\" erin scram-sha-256\n",
		 tmpdir);
	struct pf_hba *hba = load(text);

	assert_int_equal(unix_(hba, "sales", "alice"), 1);
	assert_int_equal(unix_(hba, "hr", "bob"), 1);
	assert_int_equal(unix_(hba, "odd name", "carol"), 1);
	assert_int_equal(unix_(hba, "finance", "dave"), 1); /* two levels deep */
	assert_int_equal(unix_(hba, "reports", "alice"), 1);
	assert_int_equal(unix_(hba, "archive", "alice"), 1); /* continued line inside the @file */
	assert_int_equal(unix_(hba, "sales", "erin"), 6);
	assert_int_equal(unix_(hba, "odd", "alice"), 0);
	assert_int_equal(unix_(hba, "comment", "alice"), 0);
	/* Keywords keep their meaning inside an @file. */
	assert_int_equal(unix_(hba, "kwdb", "anyone"), 2);
	/* An empty @file lists nobody. */
	assert_int_equal(unix_(hba, "nobody", "x"), 0);
	/* A quoted "@name" is a name, not a file. */
	assert_int_equal(unix_(hba, "@dbs.txt", "x"), 4);
	/* An absolute path. */
	assert_int_equal(unix_(hba, "abs", "dave"), 5);
	pf_hba_free(hba);
}

static void test_at_file_many(void **state)
{
	struct pf_buf b;
	enum { N = 5000 };

	/* Written in reverse order, so the lookup does not depend on file order. */
	pf_buf_init(&b);
	for (int i = N - 1; i >= 0; i--)
		pf_buf_printf(&b, "user%05d%s", i, i % 10 ? "," : "\n");
	pf_buf_put_u8(&b, 0);
	write_file("many.txt", (char *)b.data);
	pf_buf_free(&b);

	struct pf_hba *hba = load("local all @many.txt trust\n");
	char name[32];
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "user%05d", i);
		if (unix_(hba, "d", name) != 1)
			fail_msg("%s not matched", name);
	}
	assert_int_equal(unix_(hba, "d", "user05000"), 0);
	assert_int_equal(unix_(hba, "d", "user"), 0);
	pf_hba_free(hba);
}

static void test_cidr_v4(void **state)
{
	struct pf_hba *hba = load("host all u32 192.168.1.10/32 trust\n"
				  "host all u24 192.168.1.77/24 trust\n" /* host bits are ignored */
				  "host all u0 0.0.0.0/0 trust\n"
				  "host all u12 172.16.0.0/12 trust\n");

	assert_int_equal(tcp(hba, "192.168.1.10", "d", "u32"), 1);
	assert_int_equal(tcp(hba, "192.168.1.11", "d", "u32"), 0);
	assert_int_equal(tcp(hba, "192.168.1.0", "d", "u24"), 2);
	assert_int_equal(tcp(hba, "192.168.1.255", "d", "u24"), 2);
	assert_int_equal(tcp(hba, "192.168.2.1", "d", "u24"), 0);
	assert_int_equal(tcp(hba, "8.8.8.8", "d", "u0"), 3);
	assert_int_equal(tcp(hba, "::1", "d", "u0"), 0); /* an IPv4 rule does not match IPv6 */
	assert_int_equal(tcp(hba, "172.31.255.255", "d", "u12"), 4);
	assert_int_equal(tcp(hba, "172.32.0.0", "d", "u12"), 0);
	assert_int_equal(tcp(hba, "172.15.255.255", "d", "u12"), 0);
	/* An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d. */
	assert_int_equal(tcp(hba, "::ffff:192.168.1.10", "d", "u32"), 1);
	assert_int_equal(tcp(hba, "::ffff:192.168.1.11", "d", "u32"), 0);
	assert_int_equal(tcp(hba, "::ffff:1.2.3.4", "d", "u0"), 3);
	pf_hba_free(hba);
}

static void test_cidr_v6(void **state)
{
	struct pf_hba *hba = load("host all u128 ::1/128 trust\n"
				  "host all u32 2001:db8::/32 trust\n"
				  "host all u10 fe80::/10 trust\n"
				  "host all u0 ::/0 trust\n"
				  "host all mapped ::ffff:0:0/96 trust\n");

	assert_int_equal(tcp(hba, "::1", "d", "u128"), 1);
	assert_int_equal(tcp(hba, "::2", "d", "u128"), 0);
	assert_int_equal(tcp(hba, "127.0.0.1", "d", "u128"), 0);
	assert_int_equal(tcp(hba, "2001:db8:ffff::1", "d", "u32"), 2);
	assert_int_equal(tcp(hba, "2001:db9::1", "d", "u32"), 0);
	assert_int_equal(tcp(hba, "febf::1", "d", "u10"), 3);
	assert_int_equal(tcp(hba, "fec0::1", "d", "u10"), 0);
	assert_int_equal(tcp(hba, "2a00::1", "d", "u0"), 4);
	assert_int_equal(tcp(hba, "10.0.0.1", "d", "u0"), 0); /* an IPv6 rule does not match IPv4 */
	/* A v4-mapped client still matches IPv6 rules written for the mapped range. */
	assert_int_equal(tcp(hba, "::ffff:10.0.0.1", "d", "mapped"), 5);
	assert_int_equal(tcp(hba, "10.0.0.1", "d", "mapped"), 0);
	pf_hba_free(hba);
}

static void test_netmask_column(void **state)
{
	struct pf_hba *hba = load("host all u1 10.20.0.0 255.255.0.0 md5\n"
				  "host all u2 2001:db8:: ffff:ffff:: md5\n"
				  "host all u3 192.168.0.1 255.255.255.255 md5 \n");

	assert_int_equal(tcp(hba, "10.20.99.1", "d", "u1"), 1);
	assert_int_equal(tcp(hba, "10.21.0.1", "d", "u1"), 0);
	assert_int_equal(tcp(hba, "2001:db8:1::1", "d", "u2"), 2);
	assert_int_equal(tcp(hba, "2001:db9::1", "d", "u2"), 0);
	assert_int_equal(tcp(hba, "192.168.0.1", "d", "u3"), 3);
	assert_int_equal(tcp(hba, "192.168.0.2", "d", "u3"), 0);
	assert_int_equal(pf_hba_match(hba, PF_CONN_TCP, false, ip("10.20.0.1"), "d", "u1", false)->method,
			 PF_HBA_MD5);
	pf_hba_free(hba);
}

static struct pf_hba_ifaddr ifaddr(const char *addr, const char *mask)
{
	struct pf_hba_ifaddr a;

	memset(&a, 0, sizeof(a));
	memcpy(&a.addr, ip(addr), sizeof(struct sockaddr_in6));
	if (mask)
		memcpy(&a.mask, ip(mask), sizeof(struct sockaddr_in6));
	return a;
}

static void test_samehost_samenet(void **state)
{
	struct pf_hba *hba = load("host all hostonly samehost trust\n"
				  "host all netonly samenet trust\n");
	struct pf_hba_ifaddr ifs[] = {
		ifaddr("192.168.1.10", "255.255.255.0"), ifaddr("fd00::5", "ffff:ffff:ffff:ffff::"),
		ifaddr("10.9.9.9", NULL), /* no netmask: the address alone */
	};

	pf_hba_set_local_addrs(hba, ifs, 3);
	assert_int_equal(tcp(hba, "192.168.1.10", "d", "hostonly"), 1);
	assert_int_equal(tcp(hba, "::ffff:192.168.1.10", "d", "hostonly"), 1);
	assert_int_equal(tcp(hba, "fd00::5", "d", "hostonly"), 1);
	assert_int_equal(tcp(hba, "192.168.1.11", "d", "hostonly"), 0);
	assert_int_equal(tcp(hba, "fd00::6", "d", "hostonly"), 0);
	assert_int_equal(tcp(hba, "192.168.1.11", "d", "netonly"), 2);
	assert_int_equal(tcp(hba, "fd00::abcd", "d", "netonly"), 2);
	assert_int_equal(tcp(hba, "10.9.9.9", "d", "netonly"), 2);
	assert_int_equal(tcp(hba, "10.9.9.8", "d", "netonly"), 0);
	assert_int_equal(tcp(hba, "192.168.2.1", "d", "netonly"), 0);
	assert_int_equal(tcp(hba, "fd01::1", "d", "netonly"), 0);

	/* No interfaces: nothing is local. */
	pf_hba_set_local_addrs(hba, NULL, 0);
	assert_int_equal(tcp(hba, "192.168.1.10", "d", "hostonly"), 0);
	assert_int_equal(tcp(hba, "192.168.1.10", "d", "netonly"), 0);
	pf_hba_free(hba);

	/* The load reads the real interfaces: loopback is on every Linux host. */
	hba = load("host all all samehost trust\n");
	assert_int_equal(tcp(hba, "127.0.0.1", "d", "u"), 1);
	assert_int_equal(tcp(hba, "192.0.2.1", "d", "u"), 0); /* TEST-NET-1, never local */
	pf_hba_free(hba);
}

static void test_methods(void **state)
{
	static const struct {
		const char *name;
		enum pf_hba_method method;
	} cases[] = {
		{ "trust", PF_HBA_TRUST }, { "reject", PF_HBA_REJECT },       { "password", PF_HBA_PASSWORD },
		{ "md5", PF_HBA_MD5 },     { "scram-sha-256", PF_HBA_SCRAM }, { "cert", PF_HBA_CERT },
		{ "peer", PF_HBA_PEER },
	};
	char text[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "local all all %s\nhost all all all %s\n", cases[i].name,
			 cases[i].name);
		struct pf_hba *hba = load(text);
		const struct pf_hba_rule *r = pf_hba_match(hba, PF_CONN_UNIX, false, NULL, "d", "u", false);

		assert_non_null(r);
		assert_int_equal(r->method, cases[i].method);
		assert_string_equal(pf_hba_method_name(r->method), cases[i].name);
		/* Accepted on any line type, as PgBouncer does: the login refuses what cannot apply. */
		r = pf_hba_match(hba, PF_CONN_TCP, false, ip("1.2.3.4"), "d", "u", false);
		assert_non_null(r);
		assert_int_equal(r->method, cases[i].method);
		pf_hba_free(hba);
	}
}

static void test_map_option(void **state)
{
	struct pf_hba *hba = load("local all all peer map=localmap\n"
				  "hostssl all all ::/0 cert \"map=cert map\"\n"
				  "hostssl all all 0.0.0.0/0 cert\n");
	const struct pf_hba_rule *r;

	r = pf_hba_match(hba, PF_CONN_UNIX, false, NULL, "d", "u", false);
	assert_int_equal(r->method, PF_HBA_PEER);
	assert_string_equal(r->map, "localmap");
	r = pf_hba_match(hba, PF_CONN_TCP, true, ip("::1"), "d", "u", false);
	assert_int_equal(r->method, PF_HBA_CERT);
	assert_string_equal(r->map, "cert map");
	r = pf_hba_match(hba, PF_CONN_TCP, true, ip("127.0.0.1"), "d", "u", false);
	assert_int_equal(r->method, PF_HBA_CERT);
	assert_null(r->map);
	pf_hba_free(hba);
}

static void test_continuation(void **state)
{
	struct pf_hba *hba = load("host \\\n"
				  "  db1,\\\n"
				  "db2 all \\\n"
				  "  10.0.0.0/8 md5\n"
				  "# a comment that goes on \\\n"
				  "local all all trust\n"
				  "host all all all trust\r\n"
				  "hostssl all all all cert\\");

	assert_int_equal(pf_hba_rule_count(hba), 3);
	assert_int_equal(tcp(hba, "10.1.1.1", "db1", "u"), 1); /* the rule's line is its first line */
	assert_int_equal(tcp(hba, "10.1.1.1", "db2", "u"), 1);
	assert_int_equal(unix_(hba, "x", "u"), 0); /* the comment swallowed the local line */
	assert_int_equal(tcp(hba, "10.1.1.1", "db3", "u"), 7);
	pf_hba_free(hba);

	/* Errors name the first line of a continued line, and count the continued ones. */
	assert_contains(load_error("host all all \\\n 10.0.0.0/8 md5\nlocal all all \\\nfoo\n"),
			"hba.conf:3: unknown authentication method \"foo\"");
}

static void test_first_match_wins(void **state)
{
	struct pf_hba *hba = load("host all mallory 0.0.0.0/0 reject\n"
				  "host secret all 10.0.0.0/8 scram-sha-256\n"
				  "host secret all 0.0.0.0/0 reject\n"
				  "host all all 10.0.0.0/8 md5\n"
				  "host all all 0.0.0.0/0 trust\n");

	assert_int_equal(tcp(hba, "10.0.0.1", "app", "mallory"), 1);
	assert_int_equal(tcp(hba, "10.0.0.1", "secret", "alice"), 2);
	assert_int_equal(tcp(hba, "8.8.8.8", "secret", "alice"), 3);
	assert_int_equal(tcp(hba, "10.0.0.1", "app", "alice"), 4);
	assert_int_equal(tcp(hba, "8.8.8.8", "app", "alice"), 5);
	assert_int_equal(pf_hba_match(hba, PF_CONN_TCP, false, ip("8.8.8.8"), "secret", "a", false)->method,
			 PF_HBA_REJECT);
	/* No local line: Unix sockets match nothing, and the caller refuses them. */
	assert_null(pf_hba_match(hba, PF_CONN_UNIX, false, NULL, "app", "alice", false));
	pf_hba_free(hba);
}

static void test_empty(void **state)
{
	struct pf_hba *hba = load("# nothing allowed yet\n\n   \n\t# indented comment\n");

	assert_int_equal(pf_hba_rule_count(hba), 0);
	assert_int_equal(tcp(hba, "127.0.0.1", "d", "u"), 0);
	assert_int_equal(unix_(hba, "d", "u"), 0);
	pf_hba_free(hba);
	assert_null(pf_hba_match(NULL, PF_CONN_UNIX, false, NULL, "d", "u", false));
	assert_int_equal(pf_hba_rule_count(NULL), 0);
	pf_hba_free(NULL);
}

static void test_errors(void **state)
{
	const struct {
		const char *text, *error;
	} cases[] = {
		/* Connection types. */
		{ "local all all trust\nlocalhost all all trust\n",
		  "hba.conf:2: unknown connection type \"localhost\" (expected local, host, hostssl or "
		  "hostnossl)" },
		{ "hostgssenc all all all trust\n",
		  "hba.conf:1: connection type \"hostgssenc\" is not supported" },
		{ "hostnogssenc all all all trust\n",
		  "hba.conf:1: connection type \"hostnogssenc\" is not supported" },
		{ "include other.conf\n", "hba.conf:1: \"include\" is not supported (PgBouncer has no include" },
		{ "include_if_exists other.conf\n", "hba.conf:1: \"include_if_exists\" is not supported" },
		{ "include_dir conf.d\n", "hba.conf:1: \"include_dir\" is not supported" },
		{ "local,host all all trust\n",
		  "hba.conf:1: the connection type must be a single value, not a comma list" },
		/* Missing fields. */
		{ "local\n", "hba.conf:1: missing database field" },
		{ "local all\n", "hba.conf:1: missing user field" },
		{ "local all all\n", "hba.conf:1: missing authentication method" },
		{ "host all all\n", "hba.conf:1: missing address field" },
		{ "host all all 10.0.0.0/8\n", "hba.conf:1: missing authentication method" },
		/* Database and user fields. */
		{ "local samerole all trust\n",
		  "hba.conf:1: \"samerole\" is not supported (PgBouncer does not know role" },
		{ "local db,samegroup all trust\n", "hba.conf:1: \"samegroup\" is not supported" },
		{ "local all +admins trust\n", "hba.conf:1: group membership (\"+admins\") is not supported" },
		{ "local @ all trust\n", "hba.conf:1: @ needs a file name" },
		{ "local all @nosuch.txt trust\n", "hba.conf:1: could not open @file \"" },
		{ "local all @self.txt trust\n", "self.txt:1: @file nesting deeper than 10 levels (does an @file "
						 "name itself?) (in an @file of " },
		{ "\n\nlocal all @badnames.txt trust\n",
		  "badnames.txt:2: group membership (\"+g\") is not supported (PgBouncer does not know role "
		  "membership): list the users, or name them in an @file (in an @file of " },
		{ "local all @badquote.txt trust\n", "badquote.txt:1: missing closing quote (in an @file of " },
		/* Lexical errors. */
		{ "local \"all all trust\n", "hba.conf:1: missing closing quote" },
		{ "local a,,b all trust\n", "hba.conf:1: empty item in a comma list" },
		{ "local ,b all trust\n", "hba.conf:1: empty item in a comma list" },
		{ "local a ,b all trust\n", "hba.conf:1: empty item in a comma list" },
		{ "local a, all trust\n", "hba.conf:1: missing authentication method" }, /* "a, all" is one list */
		{ "local all all, # comment\n", "hba.conf:1: comma list ends with a comma" },
		{ "local all all,\n", "hba.conf:1: comma list ends with a comma" },
		/* Addresses. */
		{ "host all all 10.0.0.0/8,10.1.0.0/16 md5\n", "hba.conf:1: the address must be a single value" },
		{ "host all all 300.1.1.1/32 md5\n", "hba.conf:1: invalid IP address in \"300.1.1.1/32\"" },
		{ "host all all /32 md5\n", "hba.conf:1: invalid IP address in \"/32\"" },
		{ "host all all 10.0.0.0/33 md5\n",
		  "hba.conf:1: invalid prefix length in \"10.0.0.0/33\" (0 to 32 for IPv4)" },
		{ "host all all 10.0.0.0/ md5\n", "hba.conf:1: invalid prefix length in \"10.0.0.0/\"" },
		{ "host all all 10.0.0.0/-1 md5\n", "hba.conf:1: invalid prefix length" },
		{ "host all all 10.0.0.0/+8 md5\n", "hba.conf:1: invalid prefix length" },
		{ "host all all 10.0.0.0/8x md5\n", "hba.conf:1: invalid prefix length" },
		{ "host all all 10.0.0.0/0008 md5\n", "hba.conf:1: invalid prefix length" },
		{ "host all all ::1/129 md5\n",
		  "hba.conf:1: invalid prefix length in \"::1/129\" (0 to 128 for IPv6)" },
		{ "host all all localhost md5\n", "hba.conf:1: \"localhost\" is not an IP address: host names are "
						  "not supported (PgBouncer does not "
						  "resolve them)" },
		{ "host all all .example.com md5\n", "hba.conf:1: \".example.com\" is not an IP address" },
		{ "host all all \"all\" md5\n", "hba.conf:1: \"all\" is not an IP address" },
		{ "host all all 127.0.0.1 md5\n",
		  "hba.conf:1: IP address \"127.0.0.1\" needs a /prefix length or a netmask column" },
		{ "host all all 127.0.0.1\n", "hba.conf:1: IP address \"127.0.0.1\" needs a /prefix length" },
		{ "host all all 127.0.0.1 255.0.0.0,255.0.0.0 md5\n",
		  "hba.conf:1: IP address \"127.0.0.1\" needs a /prefix" },
		{ "host all all 127.0.0.1 ffff:: md5\n",
		  "hba.conf:1: netmask \"ffff::\" is not of the same IP version as address \"127.0.0.1\"" },
		{ "host all all 10.0.0.0 255.0.0.0\n", "hba.conf:1: missing authentication method" },
		/* Methods. */
		{ "local all all ident\n", "hba.conf:1: authentication method \"ident\" is not supported "
					   "(PgBouncer has none; on local lines use peer)" },
		{ "host all all all gss\n",
		  "hba.conf:1: authentication method \"gss\" is not supported in auth_hba_file" },
		{ "host all all all sspi\n", "hba.conf:1: authentication method \"sspi\" is not supported" },
		{ "host all all all ldap ldapserver=x\n",
		  "hba.conf:1: authentication method \"ldap\" is not supported" },
		{ "host all all all pam\n", "hba.conf:1: authentication method \"pam\" is not supported" },
		{ "host all all all radius\n", "hba.conf:1: authentication method \"radius\" is not supported" },
		{ "host all all all md6\n",
		  "hba.conf:1: unknown authentication method \"md6\" (expected trust, reject," },
		{ "host all all all MD5\n", "hba.conf:1: unknown authentication method \"MD5\"" },
		{ "host all all all md5,trust\n", "hba.conf:1: the authentication method must be a single value" },
		/* Options. */
		{ "local all all peer map\n",
		  "hba.conf:1: authentication option \"map\" is not in name=value form" },
		{ "hostssl all all all md5 clientcert=verify-full\n",
		  "hba.conf:1: unknown authentication option \"clientcert\" (only map= is supported)" },
		{ "local all all md5 map=m\n", "hba.conf:1: map= is only valid with the cert and peer methods" },
		{ "local all all trust map=m\n", "hba.conf:1: map= is only valid with the cert and peer methods" },
		{ "local all all peer map=a map=b\n", "hba.conf:1: map= is given twice" },
		{ "local all all peer map=\n", "hba.conf:1: map= needs a map name from auth_ident_file" },
		{ "local all all peer map=a,b\n",
		  "hba.conf:1: an authentication option must be a single name=value" },
	};
	char path[PATH_MAX];

	write_file("self.txt", "a @self.txt\n");
	write_file("badnames.txt", "ok\n+g\n");
	write_file("badquote.txt", "\"open\n");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_contains(load_error(cases[i].text), cases[i].error);

	/* An @file error also names the hba line that led to it, through nested @files. */
	assert_contains(load_error("\n\nlocal all @badnames.txt trust\n"), "/hba.conf:3)");
	write_file("outer.txt", "x\n\n@badnames.txt\n");
	assert_contains(load_error("local all \\\n  @outer.txt trust\n"), "badnames.txt:2: group membership");
	assert_contains(load_error("local all \\\n  @outer.txt trust\n"), "/hba.conf:1)");

	char err[256];
	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	assert_null(pf_hba_load(path, err, sizeof(err)));
	assert_contains(err, "missing.conf: could not open auth_hba_file: No such file or directory");
}

static int group_setup(void **state)
{
	return test_files_setup("hba");
}

static int group_teardown(void **state)
{
	return test_files_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_types),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_keywords_in_user_field),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_at_file),
		cmocka_unit_test(test_at_file_many),
		cmocka_unit_test(test_cidr_v4),
		cmocka_unit_test(test_cidr_v6),
		cmocka_unit_test(test_netmask_column),
		cmocka_unit_test(test_samehost_samenet),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_map_option),
		cmocka_unit_test(test_continuation),
		cmocka_unit_test(test_first_match_wins),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
