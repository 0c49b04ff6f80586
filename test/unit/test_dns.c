/*
 * test_dns.c - net/dns: numeric and cached answers, the hosts file, failures, shared
 * queries, TTLs, cancellation, round-robin over addresses, address changes, refreshes,
 * zone serial checks and the resolv.conf timeout options.
 *
 * No traffic leaves the machine: the resolver reads a resolv.conf of our own that names
 * 127.0.0.1, and its servers are then replaced by a fake DNS server on 127.0.0.1 run on
 * the test's event loop (or by a 127.0.0.1 port where nothing listens).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net/dns.h"
#include "util/log.h"

#include <ares.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SEC USEC_PER_SEC
#define MSEC 1000LL

static char tmpdir[64];
static char resolv_path[128];

/* --- a fake DNS server on 127.0.0.1 ---
 * "*.test": A 127.0.0.2 (and 127.0.0.3 for "multi.test") with fake_ttl, AAAA no data;
 * "flip.test": A fake.flip_ip, NXDOMAIN while that is NULL; SOA of any "*.test" name:
 * serial fake.serial; "slow*": never answered; anything else: NXDOMAIN. */

struct qcount {
	char name[128];
	int a, aaaa;
};

static struct {
	int fd;
	int port;
	struct event *ev;
	uint32_t ttl;
	const char *flip_ip;
	uint32_t serial;
	int soa_queries;
	struct qcount counts[64];
	int ncounts;
} fake;

static struct qcount *count_for(const char *name)
{
	for (int i = 0; i < fake.ncounts; i++)
		if (strcmp(fake.counts[i].name, name) == 0)
			return &fake.counts[i];
	if (fake.ncounts == 64)
		return NULL;
	struct qcount *c = &fake.counts[fake.ncounts++];
	memset(c, 0, sizeof *c);
	snprintf(c->name, sizeof c->name, "%s", name);
	return c;
}

static int queries_a(const char *name)
{
	struct qcount *c = count_for(name);
	return c ? c->a : 0;
}

static int queries_all(const char *name)
{
	struct qcount *c = count_for(name);
	return c ? c->a + c->aaaa : 0;
}

static size_t put_a(uint8_t *r, size_t len, const char *ip)
{
	static const uint8_t head[] = { 0xc0, 12, 0, 1, 0, 1 }; /* name -> question, A, IN */
	memcpy(r + len, head, sizeof head);
	len += sizeof head;
	r[len++] = fake.ttl >> 24;
	r[len++] = fake.ttl >> 16;
	r[len++] = fake.ttl >> 8;
	r[len++] = fake.ttl;
	r[len++] = 0;
	r[len++] = 4;
	inet_pton(AF_INET, ip, r + len);
	return len + 4;
}

/* SOA with both names pointing at the question's name (the fake does not care). */
static size_t put_soa(uint8_t *r, size_t len)
{
	static const uint8_t head[] = { 0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 60, 0, 24, 0xc0, 12, 0xc0, 12 };
	memcpy(r + len, head, sizeof head);
	len += sizeof head;
	r[len++] = fake.serial >> 24;
	r[len++] = fake.serial >> 16;
	r[len++] = fake.serial >> 8;
	r[len++] = fake.serial;
	memset(r + len, 0, 16); /* refresh, retry, expire, minimum */
	return len + 16;
}

static void fake_dns_cb(evutil_socket_t fd, short what, void *arg)
{
	uint8_t q[512], r[600];
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof from;
	char name[128];
	size_t pos = 12, nlen = 0, len;
	ssize_t n = recvfrom(fd, q, sizeof q, 0, (struct sockaddr *)&from, &fromlen);
	int qtype, ancount = 0;

	if (n < 17)
		return;
	while (pos < (size_t)n && q[pos]) {
		size_t l = q[pos++];
		if (pos + l > (size_t)n || nlen + l + 2 > sizeof name)
			return;
		if (nlen)
			name[nlen++] = '.';
		for (size_t i = 0; i < l; i++)
			name[nlen++] = (char)tolower(q[pos + i]);
		pos += l;
	}
	name[nlen] = 0;
	if (pos + 5 > (size_t)n)
		return;
	qtype = (q[pos + 1] << 8) | q[pos + 2];
	len = pos + 5;

	struct qcount *c = count_for(name);
	if (c && qtype == 1)
		c->a++;
	else if (c && qtype == 28)
		c->aaaa++;
	if (strncmp(name, "slow", 4) == 0)
		return;

	memcpy(r, q, len);
	r[2] = 0x80 | (q[2] & 0x01); /* response, recursion desired as asked */
	r[3] = 0x80;                 /* recursion available, NOERROR */
	memset(r + 4, 0, 8);
	r[5] = 1;
	if (qtype == 6)
		fake.soa_queries++;
	if (strcmp(name, "flip.test") == 0 && !fake.flip_ip) {
		r[3] |= 3;
	} else if (strcmp(name, "flip.test") == 0) {
		if (qtype == 1) {
			len = put_a(r, len, fake.flip_ip);
			ancount++;
		}
	} else if (nlen > 5 && strcmp(name + nlen - 5, ".test") == 0) {
		if (qtype == 6) {
			len = put_soa(r, len);
			ancount++;
		}
		if (qtype == 1) {
			len = put_a(r, len, "127.0.0.2");
			ancount++;
			if (strcmp(name, "multi.test") == 0) {
				len = put_a(r, len, "127.0.0.3");
				ancount++;
			}
		}
	} else {
		r[3] |= 3; /* NXDOMAIN */
	}
	r[7] = (uint8_t)ancount;
	sendto(fd, r, len, 0, (struct sockaddr *)&from, fromlen);
}

static void fake_start(struct event_base *base)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof sin;

	memset(&fake, 0, sizeof fake);
	fake.ttl = 3600;
	fake.flip_ip = "127.0.0.2";
	fake.serial = 100;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fake.fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fake.fd >= 0);
	assert_int_equal(bind(fake.fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(getsockname(fake.fd, (struct sockaddr *)&sin, &sl), 0);
	fake.port = ntohs(sin.sin_port);
	fake.ev = event_new(base, fake.fd, EV_READ | EV_PERSIST, fake_dns_cb, NULL);
	event_add(fake.ev, NULL);
}

static void fake_stop(void)
{
	event_free(fake.ev);
	close(fake.fd);
}

/* A 127.0.0.1 UDP port with nothing on it (bound once, then closed). */
static int dead_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof sin;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* --- fixture --- */

struct fixture {
	struct event_base *base;
	struct event *tick; /* keeps EVLOOP_ONCE from returning at once when nothing is pending */
};

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

static void use_servers(int port)
{
	char csv[64];
	snprintf(csv, sizeof csv, "127.0.0.1:%d", port);
	assert_int_equal(pf_dns_set_servers(csv), ARES_SUCCESS);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct timeval tv = { 0, 20000 };

	f->base = event_base_new();
	f->tick = event_new(f->base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(f->tick, &tv);
	fake_start(f->base);
	pf_dns_set_query_timeout(300, 1);
	if (pf_dns_init(f->base, resolv_path, 60 * SEC, 10 * SEC) != 0)
		return -1;
	use_servers(fake.port);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pf_dns_shutdown();
	fake_stop();
	event_free(f->tick);
	event_base_free(f->base);
	free(f);
	return 0;
}

static usec_t mono_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (usec_t)ts.tv_sec * SEC + ts.tv_nsec / 1000;
}

/* Run the loop until *counter reaches want or max_ms pass. */
static void run_until(struct fixture *f, const int *counter, int want, int max_ms)
{
	usec_t end = mono_usec() + max_ms * MSEC;
	while (*counter < want && mono_usec() < end)
		event_base_loop(f->base, EVLOOP_ONCE);
}

/* Run the loop until c-ares has no query in flight. */
static void run_idle(struct fixture *f, int max_ms)
{
	usec_t end = mono_usec() + max_ms * MSEC;
	struct pf_dns_stats st;
	for (;;) {
		pf_dns_get_stats(&st);
		if (st.queries == 0 || mono_usec() >= end)
			break;
		event_base_loop(f->base, EVLOOP_ONCE);
	}
	assert_int_equal(st.queries, 0);
}

struct got {
	int calls;
	struct pf_dns_result res;
	struct pf_dns_req *cancel; /* cancel this request from the callback */
	int shutdown;              /* call pf_dns_shutdown() from the callback */
	int *total;
};

static void got_cb(void *arg, const struct pf_dns_result *res)
{
	struct got *g = arg;
	g->calls++;
	g->res = *res;
	if (g->total)
		(*g->total)++;
	if (g->cancel)
		pf_dns_cancel(g->cancel);
	if (g->shutdown)
		pf_dns_shutdown();
}

static int port_of(const struct pf_dns_result *res, int i)
{
	const struct sockaddr *sa = (const struct sockaddr *)&res->addrs[i];
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
}

static const char *ip_of(const struct pf_dns_result *res, int i, char *buf, size_t len)
{
	const struct sockaddr *sa = (const struct sockaddr *)&res->addrs[i];
	const void *a = sa->sa_family == AF_INET ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
						 : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	return inet_ntop(sa->sa_family, a, buf, (socklen_t)len);
}

/* Look up a name that must go to the network; run the loop until answered. */
static void resolve(struct fixture *f, const char *host, int port, struct got *g)
{
	struct pf_dns_result now;
	struct pf_dns_req *req;

	memset(g, 0, sizeof *g);
	assert_int_equal(pf_dns_lookup(host, port, got_cb, g, &now, &req), 0);
	assert_non_null(req);
	run_until(f, &g->calls, 1, 3000);
	assert_int_equal(g->calls, 1);
}

struct visit {
	char host[64];
	usec_t ttl_left;
	char addrs[256];
	int found;
};

static void visit_cb(void *arg, const char *host, usec_t ttl_left, const char *addrs_text)
{
	struct visit *v = arg;
	if (strcmp(host, v->host) != 0)
		return;
	v->found++;
	v->ttl_left = ttl_left;
	snprintf(v->addrs, sizeof v->addrs, "%s", addrs_text);
}

static struct visit find_host(const char *host)
{
	struct visit v;
	memset(&v, 0, sizeof v);
	snprintf(v.host, sizeof v.host, "%s", host);
	pf_dns_foreach_host(visit_cb, &v);
	return v;
}

/* --- tests --- */

static void test_numeric_ipv4(void **state)
{
	struct pf_dns_result res;
	struct pf_dns_req *req = (struct pf_dns_req *)&res;
	char ip[64];

	assert_int_equal(pf_dns_lookup("192.0.2.10", 6432, got_cb, NULL, &res, &req), 1);
	assert_null(req);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.naddrs, 1);
	assert_int_equal(res.addrs[0].ss_family, AF_INET);
	assert_int_equal(res.addrlens[0], sizeof(struct sockaddr_in));
	assert_string_equal(ip_of(&res, 0, ip, sizeof ip), "192.0.2.10");
	assert_int_equal(port_of(&res, 0), 6432);
	assert_int_equal(pf_dns_pending_count(), 0);
}

static void test_numeric_ipv6(void **state)
{
	struct pf_dns_result res;
	struct pf_dns_req *req;
	char ip[64];

	assert_int_equal(pf_dns_lookup("2001:db8::5", 5432, got_cb, NULL, &res, &req), 1);
	assert_null(req);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.naddrs, 1);
	assert_int_equal(res.addrs[0].ss_family, AF_INET6);
	assert_int_equal(res.addrlens[0], sizeof(struct sockaddr_in6));
	assert_string_equal(ip_of(&res, 0, ip, sizeof ip), "2001:db8::5");
	assert_int_equal(port_of(&res, 0), 5432);

	assert_int_equal(pf_dns_lookup("fe80::1%1", 7, got_cb, NULL, &res, &req), 1);
	assert_int_equal(res.status, 0);
	assert_int_equal(((struct sockaddr_in6 *)&res.addrs[0])->sin6_scope_id, 1);
	assert_int_equal(port_of(&res, 0), 7);

	/* numeric addresses need no resolver at all */
	pf_dns_shutdown();
	assert_int_equal(pf_dns_lookup("::1", 1, got_cb, NULL, &res, &req), 1);
	assert_int_equal(res.status, 0);
	assert_int_equal(pf_dns_lookup("db.test", 1, got_cb, NULL, &res, &req), 1);
	assert_int_not_equal(res.status, 0);
	assert_non_null(res.error);
}

static void check_loopback(const struct pf_dns_result *res, int port)
{
	assert_int_equal(res->status, 0);
	assert_true(res->naddrs >= 1);
	for (int i = 0; i < res->naddrs; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&res->addrs[i];
		if (sa->sa_family == AF_INET)
			assert_int_equal(((const struct sockaddr_in *)sa)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
		else
			assert_true(IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr));
		assert_int_equal(port_of(res, i), port);
	}
}

static void test_localhost_hosts_file(void **state)
{
	struct fixture *f = *state;
	struct pf_dns_result now;
	struct pf_dns_req *req;
	struct got g;
	int rc;

	/* c-ares may answer from the hosts file at once (rc 1) or from the loop (rc 0) */
	memset(&g, 0, sizeof g);
	rc = pf_dns_lookup("localhost", 5432, got_cb, &g, &now, &req);
	if (rc == 0) {
		assert_non_null(req);
		run_until(f, &g.calls, 1, 3000);
		assert_int_equal(g.calls, 1);
		now = g.res;
	} else {
		assert_int_equal(rc, 1);
		assert_null(req);
		assert_int_equal(g.calls, 0);
	}
	check_loopback(&now, 5432);

	/* second lookup: from the cache, at once, with its own port */
	assert_int_equal(pf_dns_lookup("localhost", 6543, got_cb, &g, &now, &req), 1);
	check_loopback(&now, 6543);
	assert_int_equal(queries_all("localhost"), 0); /* hosts file first: no DNS at all */

	struct visit v = find_host("localhost");
	assert_int_equal(v.found, 1);
	assert_true(v.ttl_left > 59 * SEC && v.ttl_left <= 60 * SEC); /* no record TTL: dns_max_ttl */
	assert_true(strstr(v.addrs, "127.0.0.1") || strstr(v.addrs, "::1"));

	run_idle(f, 1000);
	assert_int_equal(g.calls, rc == 0 ? 1 : 0);
}

static void test_unknown_name_dead_server(void **state)
{
	struct fixture *f = *state;
	struct pf_dns_result now;
	struct pf_dns_req *req;
	struct got g;
	usec_t start = mono_usec();

	use_servers(dead_port());
	memset(&g, 0, sizeof g);
	assert_int_equal(pf_dns_lookup("no-such-host.invalid", 5432, got_cb, &g, &now, &req), 0);
	assert_int_equal(pf_dns_pending_count(), 1);
	run_until(f, &g.calls, 1, 5000);
	assert_int_equal(g.calls, 1);
	assert_int_not_equal(g.res.status, 0);
	assert_non_null(g.res.error);
	assert_int_equal(g.res.naddrs, 0);
	assert_true(mono_usec() - start < 5 * SEC);
	assert_int_equal(pf_dns_pending_count(), 0);

	/* the failure is cached for dns_nxdomain_ttl */
	assert_int_equal(pf_dns_lookup("no-such-host.invalid", 5432, got_cb, &g, &now, &req), 1);
	assert_int_equal(now.status, g.res.status);
	assert_int_equal(g.calls, 1);
	struct visit v = find_host("no-such-host.invalid");
	assert_int_equal(v.found, 1);
	assert_true(v.ttl_left > 9 * SEC && v.ttl_left <= 10 * SEC);
	assert_string_equal(v.addrs, "");
}

static void test_nxdomain_cached_then_retried(void **state)
{
	struct fixture *f = *state;
	struct pf_dns_result now;
	struct pf_dns_req *req;
	struct got g;

	pf_dns_set_ttls(60 * SEC, 200 * MSEC);
	resolve(f, "gone.example", 1, &g);
	assert_int_equal(g.res.status, ARES_ENOTFOUND);
	assert_string_equal(g.res.error, "Domain name not found");
	assert_int_equal(queries_a("gone.example"), 1);

	assert_int_equal(pf_dns_lookup("gone.example", 1, got_cb, &g, &now, &req), 1);
	assert_int_equal(now.status, ARES_ENOTFOUND);
	assert_int_equal(queries_a("gone.example"), 1);

	usleep(250 * 1000);
	resolve(f, "gone.example", 1, &g);
	assert_int_equal(g.res.status, ARES_ENOTFOUND);
	assert_int_equal(queries_a("gone.example"), 2);
}

static void test_positive_ttls(void **state)
{
	struct fixture *f = *state;
	struct pf_dns_result now;
	struct pf_dns_req *req;
	struct got g;
	struct visit v;
	char ip[64];

	/* record TTL 3600 s, dns_max_ttl 60 s: 60 s */
	resolve(f, "db.test", 6432, &g);
	assert_int_equal(g.res.status, 0);
	assert_int_equal(g.res.naddrs, 1);
	assert_string_equal(ip_of(&g.res, 0, ip, sizeof ip), "127.0.0.2");
	assert_int_equal(port_of(&g.res, 0), 6432);
	v = find_host("db.test");
	assert_true(v.ttl_left > 59 * SEC && v.ttl_left <= 60 * SEC);
	assert_string_equal(v.addrs, "127.0.0.2");

	/* record TTL 1 s below dns_max_ttl: 1 s */
	fake.ttl = 1;
	resolve(f, "multi.test", 1, &g);
	assert_int_equal(g.res.naddrs, 2);
	v = find_host("multi.test");
	assert_true(v.ttl_left > 0 && v.ttl_left <= 1 * SEC);
	assert_true(strcmp(v.addrs, "127.0.0.2,127.0.0.3") == 0 || strcmp(v.addrs, "127.0.0.3,127.0.0.2") == 0);

	/* a reload lowering dns_max_ttl shortens cached answers; expired ones are asked again */
	pf_dns_set_ttls(100 * MSEC, 10 * SEC);
	v = find_host("db.test");
	assert_true(v.ttl_left > 0 && v.ttl_left <= 100 * MSEC);
	assert_int_equal(pf_dns_lookup("db.test", 2, got_cb, &g, &now, &req), 1);
	assert_int_equal(port_of(&now, 0), 2);
	usleep(150 * 1000);
	assert_int_equal(queries_a("db.test"), 1);
	resolve(f, "db.test", 3, &g);
	assert_int_equal(g.res.status, 0);
	assert_int_equal(port_of(&g.res, 0), 3);
	assert_int_equal(queries_a("db.test"), 2);

	/* dns_max_ttl 0: nothing is kept */
	pf_dns_set_ttls(0, 0);
	resolve(f, "db.test", 3, &g);
	resolve(f, "db.test", 3, &g);
	assert_int_equal(queries_a("db.test"), 4);
}

static void test_shared_query(void **state)
{
	struct fixture *f = *state;
	struct pf_dns_result now;
	struct pf_dns_req *r1, *r2;
	struct got g1, g2;
	struct pf_dns_stats st;
	int total = 0;

	memset(&g1, 0, sizeof g1);
	memset(&g2, 0, sizeof g2);
	g1.total = g2.total = &total;
	assert_int_equal(pf_dns_lookup("shared.test", 1111, got_cb, &g1, &now, &r1), 0);
	assert_int_equal(pf_dns_lookup("SHARED.test", 2222, got_cb, &g2, &now, &r2), 0);
	assert_ptr_not_equal(r1, r2);
	pf_dns_get_stats(&st);
	assert_int_equal(st.queries, 1);
	assert_int_equal(st.pending, 2);
	assert_int_equal(pf_dns_pending_count(), 2);

	run_until(f, &total, 2, 3000);
	assert_int_equal(g1.calls, 1);
	assert_int_equal(g2.calls, 1);
	assert_int_equal(g1.res.status, 0);
	assert_int_equal(g2.res.status, 0);
	assert_int_equal(port_of(&g1.res, 0), 1111);
	assert_int_equal(port_of(&g2.res, 0), 2222);
	assert_int_equal(queries_a("shared.test"), 1);
	assert_int_equal(pf_dns_pending_count(), 0);
	pf_dns_get_stats(&st);
	assert_int_equal(st.names, 1);
}

static void test_shared_failure(void **state)
{
	struct fixture *f = *state;
	struct pf_dns_result now;
	struct pf_dns_req *r1, *r2;
	struct got g1, g2;
	int total = 0;

	memset(&g1, 0, sizeof g1);
	memset(&g2, 0, sizeof g2);
	g1.total = g2.total = &total;
	assert_int_equal(pf_dns_lookup("slow.example", 1, got_cb, &g1, &now, &r1), 0);
	assert_int_equal(pf_dns_lookup("slow.example", 2, got_cb, &g2, &now, &r2), 0);
	run_until(f, &total, 2, 5000);
	assert_int_equal(g1.res.status, ARES_ETIMEOUT);
	assert_int_equal(g2.res.status, ARES_ETIMEOUT);
	assert_int_equal(queries_a("slow.example"), 1);
}

static void test_cancel(void **state)
{
	struct fixture *f = *state;
	struct pf_dns_result now;
	struct pf_dns_req *req;
	struct got g;

	memset(&g, 0, sizeof g);
	assert_int_equal(pf_dns_lookup("c1.test", 1, got_cb, &g, &now, &req), 0);
	pf_dns_cancel(req);
	pf_dns_cancel(NULL);
	assert_int_equal(pf_dns_pending_count(), 0);
	run_idle(f, 3000);
	assert_int_equal(g.calls, 0);
	/* the answer was still cached */
	assert_int_equal(pf_dns_lookup("c1.test", 1, got_cb, &g, &now, &req), 1);
	assert_int_equal(now.status, 0);

	/* cancelling one of two waiters leaves the other */
	struct got g2;
	struct pf_dns_req *req2;
	memset(&g2, 0, sizeof g2);
	assert_int_equal(pf_dns_lookup("c2.test", 1, got_cb, &g, &now, &req), 0);
	assert_int_equal(pf_dns_lookup("c2.test", 2, got_cb, &g2, &now, &req2), 0);
	pf_dns_cancel(req);
	run_until(f, &g2.calls, 1, 3000);
	run_idle(f, 3000);
	assert_int_equal(g.calls, 0);
	assert_int_equal(g2.calls, 1);
	assert_int_equal(port_of(&g2.res, 0), 2);
}

static void test_cancel_from_callback(void **state)
{
	struct fixture *f = *state;
	struct pf_dns_result now;
	struct pf_dns_req *r1, *r2, *r3, *r4;
	struct got g1, g2, g3, g4;

	memset(&g1, 0, sizeof g1);
	memset(&g2, 0, sizeof g2);
	memset(&g3, 0, sizeof g3);
	memset(&g4, 0, sizeof g4);
	/* same name: the first waiter's callback cancels the second, already detached for delivery */
	assert_int_equal(pf_dns_lookup("cc.test", 1, got_cb, &g1, &now, &r1), 0);
	assert_int_equal(pf_dns_lookup("cc.test", 2, got_cb, &g2, &now, &r2), 0);
	g1.cancel = r2;
	/* other name, still pending (never answered) */
	assert_int_equal(pf_dns_lookup("cc-other.test", 3, got_cb, &g3, &now, &r3), 0);
	assert_int_equal(pf_dns_lookup("slow-cc.test", 4, got_cb, &g4, &now, &r4), 0);
	g3.cancel = r4;

	run_idle(f, 3000);
	assert_int_equal(g1.calls, 1);
	assert_int_equal(g2.calls, 0);
	assert_int_equal(g3.calls, 1);
	assert_int_equal(g4.calls, 0);
	assert_int_equal(pf_dns_pending_count(), 0);
}

static void test_shutdown_with_pending(void **state)
{
	struct fixture *f = *state;
	struct pf_dns_result now;
	struct pf_dns_req *r1, *r2;
	struct got g1, g2;

	memset(&g1, 0, sizeof g1);
	memset(&g2, 0, sizeof g2);
	assert_int_equal(pf_dns_lookup("slow-sd.test", 1, got_cb, &g1, &now, &r1), 0);
	assert_int_equal(pf_dns_lookup("sd.test", 1, got_cb, &g2, &now, &r2), 0);
	pf_dns_shutdown();
	assert_int_equal(pf_dns_pending_count(), 0);
	for (int i = 0; i < 5; i++)
		event_base_loop(f->base, EVLOOP_ONCE);
	assert_int_equal(g1.calls, 0);
	assert_int_equal(g2.calls, 0);

	/* and it can be set up again */
	assert_int_equal(pf_dns_init(f->base, resolv_path, 60 * SEC, 10 * SEC), 0);
	use_servers(fake.port);
	resolve(f, "again.test", 1, &g1);
	assert_int_equal(g1.res.status, 0);
}

static void test_shutdown_from_callback(void **state)
{
	struct fixture *f = *state;
	struct pf_dns_result now;
	struct pf_dns_req *r1, *r2, *r3;
	struct got g1, g2, g3;

	memset(&g1, 0, sizeof g1);
	memset(&g2, 0, sizeof g2);
	memset(&g3, 0, sizeof g3);
	assert_int_equal(pf_dns_lookup("sdcb.test", 1, got_cb, &g1, &now, &r1), 0);
	assert_int_equal(pf_dns_lookup("sdcb.test", 2, got_cb, &g2, &now, &r2), 0);
	assert_int_equal(pf_dns_lookup("slow-sdcb.test", 3, got_cb, &g3, &now, &r3), 0);
	g1.shutdown = 1;
	run_until(f, &g1.calls, 1, 3000);
	assert_int_equal(g1.calls, 1);
	for (int i = 0; i < 5; i++)
		event_base_loop(f->base, EVLOOP_ONCE);
	assert_int_equal(g2.calls, 0);
	assert_int_equal(g3.calls, 0);
	assert_int_equal(pf_dns_pending_count(), 0);
	assert_int_equal(pf_dns_lookup("sdcb.test", 1, got_cb, &g1, &now, &r1), 1);
	assert_int_equal(now.status, ARES_ENOTINITIALIZED);
}

struct relookup {
	struct got g;
	int rc;
	struct pf_dns_result now;
};

static void relookup_cb(void *arg, const struct pf_dns_result *res)
{
	struct relookup *r = arg;
	struct pf_dns_req *req;

	r->g.calls++;
	r->rc = pf_dns_lookup("re.test", 9, got_cb, NULL, &r->now, &req);
}

static void test_lookup_from_callback(void **state)
{
	struct fixture *f = *state;
	struct pf_dns_result now;
	struct pf_dns_req *req;
	struct relookup r;

	memset(&r, 0, sizeof r);
	assert_int_equal(pf_dns_lookup("re.test", 1, relookup_cb, &r, &now, &req), 0);
	run_until(f, &r.g.calls, 1, 3000);
	assert_int_equal(r.g.calls, 1);
	assert_int_equal(r.rc, 1); /* the answer is cached before the callbacks run */
	assert_int_equal(r.now.status, 0);
	assert_int_equal(port_of(&r.now, 0), 9);
}


static void test_round_robin(void **state)
{
	struct fixture *f = *state;
	struct pf_dns_result now;
	struct pf_dns_req *req;
	struct got g;
	char a[64], b[64];

	resolve(f, "multi.test", 7, &g);
	assert_int_equal(g.res.naddrs, 2);
	ip_of(&g.res, 0, a, sizeof a);
	/* each lookup starts at the next address, and still lists them all */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pf_dns_lookup("multi.test", 8, got_cb, &g, &now, &req), 1);
		assert_int_equal(now.naddrs, 2);
		assert_int_equal(port_of(&now, 1), 8);
		ip_of(&now, 0, b, sizeof b);
		assert_string_not_equal(a, b);
		ip_of(&now, 1, b, sizeof b);
		assert_string_equal(a, b);
		ip_of(&now, 0, a, sizeof a);
	}
	/* SHOW DNS_HOSTS keeps the resolver's order */
	struct visit v = find_host("multi.test");
	assert_true(strcmp(v.addrs, "127.0.0.2,127.0.0.3") == 0 || strcmp(v.addrs, "127.0.0.3,127.0.0.2") == 0);
}

struct changes {
	int calls;
	char host[64];
	struct pf_dns_result res;
};

static struct changes changes;

static void change_cb(const char *host, const struct pf_dns_result *res)
{
	changes.calls++;
	snprintf(changes.host, sizeof changes.host, "%s", host);
	changes.res = *res;
}

static struct sockaddr_in ipv4(const char *ip, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, ip, &sin.sin_addr);
	return sin;
}

static void test_change_hook(void **state)
{
	struct fixture *f = *state;
	struct got g;
	char ip[64];

	memset(&changes, 0, sizeof changes);
	pf_dns_set_change_hook(change_cb);
	pf_dns_set_ttls(100 * MSEC, 100 * MSEC);
	resolve(f, "flip.test", 5432, &g);
	assert_int_equal(g.res.status, 0);
	assert_int_equal(changes.calls, 0); /* a first answer is no change */

	usleep(150 * 1000);
	resolve(f, "flip.test", 5432, &g);
	assert_int_equal(changes.calls, 0); /* same address again */

	fake.flip_ip = "127.0.0.9";
	usleep(150 * 1000);
	resolve(f, "flip.test", 5432, &g);
	assert_int_equal(changes.calls, 1);
	assert_string_equal(changes.host, "flip.test");
	assert_string_equal(ip_of(&changes.res, 0, ip, sizeof ip), "127.0.0.9");
	struct sockaddr_in now = ipv4("127.0.0.9", 1), old = ipv4("127.0.0.2", 5432);
	assert_true(pf_dns_result_has(&changes.res, (struct sockaddr *)&now)); /* ports aside */
	assert_false(pf_dns_result_has(&changes.res, (struct sockaddr *)&old));

	/* a failure in between is no change, and the next good answer is compared with the last good one */
	fake.flip_ip = NULL;
	usleep(150 * 1000);
	resolve(f, "flip.test", 5432, &g);
	assert_int_equal(g.res.status, ARES_ENOTFOUND);
	fake.flip_ip = "127.0.0.9";
	usleep(150 * 1000);
	resolve(f, "flip.test", 5432, &g);
	assert_int_equal(g.res.status, 0);
	assert_int_equal(changes.calls, 1);
	pf_dns_set_change_hook(NULL);
}

static void test_refresh(void **state)
{
	struct fixture *f = *state;
	struct got g;

	memset(&changes, 0, sizeof changes);
	pf_dns_set_change_hook(change_cb);
	pf_dns_set_ttls(100 * MSEC, 100 * MSEC);
	resolve(f, "flip.test", 1, &g);
	assert_int_equal(queries_a("flip.test"), 1);

	/* fresh, unknown or numeric: nothing is asked */
	pf_dns_refresh("flip.test");
	pf_dns_refresh("never-looked-up.test");
	pf_dns_refresh("127.0.0.1");
	pf_dns_refresh(NULL);
	run_idle(f, 1000);
	assert_int_equal(queries_a("flip.test"), 1);
	assert_int_equal(queries_all("never-looked-up.test"), 0);

	/* expired: asked again with nobody waiting; a new address reaches the hook */
	fake.flip_ip = "127.0.0.7";
	usleep(150 * 1000);
	pf_dns_refresh("flip.test");
	pf_dns_refresh("flip.test"); /* one query at a time */
	run_idle(f, 3000);
	assert_int_equal(queries_a("flip.test"), 2);
	assert_int_equal(changes.calls, 1);
	assert_int_equal(pf_dns_pending_count(), 0);
	struct visit v = find_host("flip.test");
	assert_string_equal(v.addrs, "127.0.0.7");
	pf_dns_set_change_hook(NULL);
}

struct zone_visit {
	char name[64];
	uint32_t serial;
	int names;
	int found;
};

static void zone_cb(void *arg, const char *zone, uint32_t serial, int names)
{
	struct zone_visit *z = arg;
	if (strcmp(zone, z->name) != 0)
		return;
	z->found++;
	z->serial = serial;
	z->names = names;
}

static struct zone_visit find_zone(const char *name)
{
	struct zone_visit z;
	memset(&z, 0, sizeof z);
	snprintf(z.name, sizeof z.name, "%s", name);
	pf_dns_foreach_zone(zone_cb, &z);
	return z;
}

static void test_zone_check(void **state)
{
	struct fixture *f = *state;
	struct pf_dns_stats st;
	struct got g;
	struct zone_visit z;

	/* off: no zones are collected */
	resolve(f, "a.zone.test", 1, &g);
	pf_dns_get_stats(&st);
	assert_int_equal(st.zones, 0);
	assert_int_equal(find_zone("zone.test").found, 0);

	/* on: names cached before join their zones; new ones too */
	pf_dns_set_zone_check_period(100 * MSEC);
	resolve(f, "b.zone.test", 1, &g);
	resolve(f, "c.other.test", 1, &g);
	pf_dns_get_stats(&st);
	assert_int_equal(st.zones, 2);
	z = find_zone("zone.test");
	assert_int_equal(z.found, 1);
	assert_int_equal(z.names, 2);
	assert_int_equal(z.serial, 0);

	run_until(f, &fake.soa_queries, 2, 3000);
	run_idle(f, 1000);
	assert_int_equal(find_zone("zone.test").serial, 100);
	assert_int_equal(find_zone("other.test").serial, 100);
	/* a first serial is only remembered */
	assert_int_equal(queries_a("a.zone.test"), 1);

	/* a new serial: the zone's names are asked again at once, though their TTL is 60 s */
	fake.serial = 101;
	int want = fake.soa_queries + 2;
	run_until(f, &fake.soa_queries, want, 3000);
	run_idle(f, 1000);
	assert_int_equal(find_zone("zone.test").serial, 101);
	assert_int_equal(queries_a("a.zone.test"), 2);
	assert_int_equal(queries_a("b.zone.test"), 2);

	/* off again: no more SOA queries */
	pf_dns_set_zone_check_period(0);
	run_idle(f, 1000);
	int soa = fake.soa_queries;
	usleep(250 * 1000);
	for (int i = 0; i < 5; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(fake.soa_queries, soa);
}

/* "options timeout:1 attempts:1" in resolv.conf bounds a query that gets no answer at one second. */
static void test_resolv_conf_timeouts(void **state)
{
	struct fixture *f = *state;
	char path[160];
	struct got g;
	FILE *fp;

	pf_dns_shutdown();
	snprintf(path, sizeof path, "%s/resolv-timeouts.conf", tmpdir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n", fp);
	fclose(fp);
	pf_dns_set_query_timeout(0, 0);
	assert_int_equal(pf_dns_init(f->base, path, 60 * SEC, 10 * SEC), 0);
	pf_dns_set_query_timeout(300, 1);
	use_servers(fake.port);

	usec_t start = mono_usec();
	resolve(f, "slow-timeout.test", 1, &g);
	usec_t took = mono_usec() - start;
	assert_int_equal(g.res.status, ARES_ETIMEOUT);
	assert_true(took >= 900 * MSEC && took < 2500 * MSEC);
	unlink(path);
}

int main(void)
{
	FILE *fp;
	int rc;

	pf_log_setup(0, 1, NULL, 0, NULL, NULL);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test_dns.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(resolv_path, sizeof resolv_path, "%s/resolv.conf", tmpdir);
	fp = fopen(resolv_path, "w");
	if (!fp) {
		perror(resolv_path);
		return 1;
	}
	/* only 127.0.0.1, and a search domain that cannot exist */
	fputs("nameserver 127.0.0.1\nsearch pgfjord-test.invalid\n", fp);
	fclose(fp);

	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_numeric_ipv4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_numeric_ipv6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_localhost_hosts_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_name_dead_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nxdomain_cached_then_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_positive_ttls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_from_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_with_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_from_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_from_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_robin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zone_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolv_conf_timeouts, setup, teardown),
	};
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(resolv_path);
	rmdir(tmpdir);
	return rc;
}
