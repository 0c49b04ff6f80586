/*
 * dns.c - asynchronous name resolution: c-ares driven by the libevent loop, with a TTL cache.
 *
 * c-ares tells us which sockets it wants watched (sock_state_cb); each gets a libevent
 * event that calls ares_process_fd(). One timer wakes c-ares for its own timeouts.
 * Every name has one cache entry; while a query for it is in flight, lookups queue on
 * the entry as waiters and are all answered from the one result. A name also remembers
 * its last good addresses, to tell the change hook when a new answer differs, and its
 * zone, whose SOA serial is polled when dns_zone_check_period is set.
 */
#include "net/dns.h"

#include "util/buf.h"
#include "util/list.h"
#include "util/log.h"

#include <ares.h>
#include <ares_nameser.h>
#include <arpa/inet.h>
#include <event2/event.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_TRIES 2

/* A zone: the part of cached names after their first label ("db.example.com" -> "example.com"). */
struct dns_zone {
	struct list_head node;      /* in dns.zones */
	char *name;
	uint32_t serial;            /* from the last SOA answer */
	bool has_serial;
	bool querying;
	int nhosts;                 /* cached names in this zone */
};

/*
 * A cached host name. Entries live until shutdown: names come from the configuration,
 * so there are few, and SHOW DNS_HOSTS lists them.
 */
struct dns_host {
	struct list_head node;      /* in dns.hosts */
	char *name;
	struct list_head waiters;   /* pf_dns_req, only while querying */
	bool querying;
	bool answered;              /* res holds an answer, perhaps expired */
	struct pf_dns_result res;   /* addresses with port 0 */
	usec_t answered_at;
	usec_t rec_ttl;             /* smallest record TTL; -1 = none given (hosts file) */
	bool has_ok;                /* last_ok holds the latest successful answer */
	struct pf_dns_result last_ok;
	struct dns_zone *zone;      /* NULL while zone checks are off, or for a one-label name */
	unsigned rr;                /* answers handed out, for round-robin over the addresses */
};

struct pf_dns_req {
	struct list_head node;      /* in host->waiters, or in deliver()'s list */
	int port;
	pf_dns_cb cb;
	void *arg;
};

/* A socket c-ares wants watched. */
struct dns_sock {
	struct list_head node;
	ares_socket_t fd;
	struct event *ev;
};

static struct {
	struct event_base *base;
	ares_channel channel;       /* NULL = not initialised */
	struct event *timer;
	struct event *zone_timer;   /* every dns_zone_check_period, when that is > 0 */
	struct list_head hosts;
	struct list_head zones;
	struct list_head socks;
	usec_t max_ttl;
	usec_t nxdomain_ttl;
	usec_t zone_period;
	pf_dns_change_hook change_hook;
	int nhosts;
	int nzones;
	int nqueries;
	int nreqs;
	int depth;                  /* loop callbacks running c-ares (and so user callbacks) */
	bool closing;               /* shutdown asked for from inside a callback */
} dns;

/* 0 = not set by pf_dns_set_query_timeout() */
static int query_timeout_ms;
static int query_tries;

static usec_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* Computed from the current settings on every use, so a reload applies to cached answers. */
static usec_t host_ttl(const struct dns_host *h)
{
	if (h->res.status != ARES_SUCCESS)
		return dns.nxdomain_ttl;
	if (h->rec_ttl >= 0 && h->rec_ttl < dns.max_ttl)
		return h->rec_ttl;
	return dns.max_ttl;
}

static usec_t ttl_left(const struct dns_host *h, usec_t now)
{
	usec_t left = h->answered_at + host_ttl(h) - now;
	return left > 0 ? left : 0;
}

static void set_error(struct pf_dns_result *res, int status)
{
	res->status = status;
	res->error = ares_strerror(status);
	res->naddrs = 0;
}

static void set_port(struct pf_dns_result *res, int port)
{
	for (int i = 0; i < res->naddrs; i++) {
		struct sockaddr *sa = (struct sockaddr *)&res->addrs[i];
		if (sa->sa_family == AF_INET)
			((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
		else if (sa->sa_family == AF_INET6)
			((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
	}
}

/* inet_pton rather than getaddrinfo(AI_NUMERICHOST): nothing here may ever block. */
static bool parse_numeric(const char *host, struct pf_dns_result *res)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&res->addrs[0];
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&res->addrs[0];
	char buf[INET6_ADDRSTRLEN];
	const char *zone;
	size_t len;

	memset(&res->addrs[0], 0, sizeof res->addrs[0]);
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		res->addrlens[0] = sizeof *sin;
	} else {
		zone = strchr(host, '%');
		len = zone ? (size_t)(zone - host) : strlen(host);
		if (len >= sizeof buf)
			return false;
		memcpy(buf, host, len);
		buf[len] = 0;
		if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) != 1)
			return false;
		if (zone) {
			/* link-local zone: an interface index or name */
			char *end;
			unsigned long idx = strtoul(zone + 1, &end, 10);
			if (end == zone + 1 || *end)
				idx = if_nametoindex(zone + 1);
			if (!idx || idx > UINT32_MAX)
				return false;
			sin6->sin6_scope_id = (uint32_t)idx;
		}
		sin6->sin6_family = AF_INET6;
		res->addrlens[0] = sizeof *sin6;
	}
	res->naddrs = 1;
	res->status = ARES_SUCCESS;
	res->error = ares_strerror(ARES_SUCCESS);
	return true;
}

static struct dns_host *find_host(const char *name)
{
	struct list_head *pos, *tmp;

	/* a list is enough for the handful of names a configuration has */
	list_for_each_safe(pos, tmp, &dns.hosts) {
		struct dns_host *h = container_of(pos, struct dns_host, node);
		if (strcasecmp(h->name, name) == 0)
			return h;
	}
	return NULL;
}

/* c-ares keeps its own timeouts; wake it when the next one is due. */
static void arm_timer(void)
{
	struct timeval tv;

	if (dns.nqueries == 0) {
		evtimer_del(dns.timer);
		return;
	}
	if (!ares_timeout(dns.channel, NULL, &tv)) {
		tv.tv_sec = 1;
		tv.tv_usec = 0;
	}
	evtimer_add(dns.timer, &tv);
}

static void free_all(void);

static void after_process(void)
{
	if (--dns.depth == 0 && dns.closing)
		free_all();
	else if (!dns.closing)
		arm_timer();
}

/* The event may be freed inside ares_process_fd (socket closed), so it is not touched after. */
static void sock_cb(evutil_socket_t fd, short what, void *arg)
{
	dns.depth++;
	ares_process_fd(dns.channel, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
			(what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	after_process();
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	dns.depth++;
	ares_process_fd(dns.channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	after_process();
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_sock *s = NULL;
	struct list_head *pos, *tmp;
	short what;

	list_for_each_safe(pos, tmp, &dns.socks) {
		struct dns_sock *cur = container_of(pos, struct dns_sock, node);
		if (cur->fd == fd) {
			s = cur;
			break;
		}
	}
	/* A new event rather than changing the old one: this may run inside the old one's callback. */
	if (s && s->ev) {
		event_free(s->ev);
		s->ev = NULL;
	}
	if (!readable && !writable) {
		if (s) {
			list_del(&s->node);
			free(s);
		}
		return;
	}
	if (!s) {
		s = pf_xcalloc(1, sizeof *s);
		s->fd = fd;
		list_add_tail(&dns.socks, &s->node);
	}
	what = EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
	s->ev = event_new(dns.base, fd, what, sock_cb, NULL);
	if (!s->ev || event_add(s->ev, NULL) < 0)
		log_error("dns: cannot watch c-ares socket %d; its queries will time out", (int)fd);
}

static void store_answer(struct dns_host *h, int status, const struct ares_addrinfo *ai)
{
	struct pf_dns_result *res = &h->res;
	usec_t ttl = -1;

	res->naddrs = 0;
	if (status == ARES_SUCCESS && ai) {
		for (const struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next) {
			/* the smallest TTL of all records, also those past PF_DNS_MAX_ADDRS */
			if (n->ai_ttl > 0 && (ttl < 0 || n->ai_ttl * USEC_PER_SEC < ttl))
				ttl = n->ai_ttl * USEC_PER_SEC;
			if (res->naddrs == PF_DNS_MAX_ADDRS || (n->ai_family != AF_INET && n->ai_family != AF_INET6)
			    || n->ai_addrlen > sizeof res->addrs[0])
				continue;
			memset(&res->addrs[res->naddrs], 0, sizeof res->addrs[0]);
			memcpy(&res->addrs[res->naddrs], n->ai_addr, n->ai_addrlen);
			res->addrlens[res->naddrs] = n->ai_addrlen;
			res->naddrs++;
		}
		for (const struct ares_addrinfo_cname *c = ai->cnames; c; c = c->next) {
			if (c->ttl > 0 && (ttl < 0 || c->ttl * USEC_PER_SEC < ttl))
				ttl = c->ttl * USEC_PER_SEC;
		}
		if (res->naddrs == 0)
			status = ARES_ENODATA;
	}
	/* a failure is worth a warning once, not again on every retry that fails alike */
	bool news = status != ARES_SUCCESS && (!h->answered || res->status != status);
	res->status = status;
	res->error = ares_strerror(status);
	set_port(res, 0);
	/* TTL 0 is what c-ares reports for hosts-file answers: no TTL, so dns_max_ttl */
	h->rec_ttl = ttl;
	h->answered = true;
	h->answered_at = now_usec();
	if (status == ARES_SUCCESS)
		log_debug("dns: %s resolved to %d address(es)", h->name, res->naddrs);
	else if (news)
		log_warning("dns: lookup of %s failed: %s; asking again after %g s", h->name, res->error,
			    (double)dns.nxdomain_ttl / USEC_PER_SEC);
	else
		log_debug("dns: %s failed again: %s", h->name, res->error);
}

/* Same address (family, IP, IPv6 scope); ports aside. */
static bool same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a, *y = (const struct sockaddr_in *)b;
		return x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a, *y = (const struct sockaddr_in6 *)b;
		return memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0 &&
		       x->sin6_scope_id == y->sin6_scope_id;
	}
	return false;
}

bool pf_dns_result_has(const struct pf_dns_result *res, const struct sockaddr *sa)
{
	for (int i = 0; i < res->naddrs; i++)
		if (same_addr((const struct sockaddr *)&res->addrs[i], sa))
			return true;
	return false;
}

/* Equal as sets: a reordered answer (round-robin DNS) is no change. */
static bool same_addrs(const struct pf_dns_result *a, const struct pf_dns_result *b)
{
	for (int i = 0; i < a->naddrs; i++)
		if (!pf_dns_result_has(b, (const struct sockaddr *)&a->addrs[i]))
			return false;
	for (int i = 0; i < b->naddrs; i++)
		if (!pf_dns_result_has(a, (const struct sockaddr *)&b->addrs[i]))
			return false;
	return true;
}

static void addrs_text(const struct pf_dns_result *res, char *buf, size_t len);

/* A good answer becomes the one to compare with; the hook hears when the addresses moved. */
static void note_change(struct dns_host *h)
{
	char text[PF_DNS_MAX_ADDRS * (INET6_ADDRSTRLEN + 1) + 1];
	bool changed;

	if (h->res.status != ARES_SUCCESS)
		return;
	changed = h->has_ok && !same_addrs(&h->last_ok, &h->res);
	h->last_ok = h->res;
	h->has_ok = true;
	if (!changed)
		return;
	addrs_text(&h->res, text, sizeof text);
	log_info("dns: %s changed its addresses, now %s", h->name, text);
	if (dns.change_hook)
		dns.change_hook(h->name, &h->res);
}

/*
 * A copy of base for one lookup: with several addresses each lookup starts at the next one
 * (round-robin, as PgBouncer does); the caller tries the rest in order after it.
 */
static void hand_out(struct dns_host *h, const struct pf_dns_result *base, struct pf_dns_result *out, int port)
{
	*out = *base;
	if (base->naddrs > 1) {
		int first = (int)(h->rr++ % (unsigned)base->naddrs);
		for (int i = 0; i < base->naddrs; i++) {
			int from = (first + i) % base->naddrs;
			out->addrs[i] = base->addrs[from];
			out->addrlens[i] = base->addrlens[from];
		}
	}
	set_port(out, port);
}

static void deliver(struct dns_host *h)
{
	struct pf_dns_result base = h->res, res;
	struct list_head todo;

	/*
	 * Detach the waiters first: a callback may cancel any request (also one still on
	 * this list) or look this name up again, which can start a new query on h.
	 */
	list_init(&todo);
	if (!list_empty(&h->waiters)) {
		todo.next = h->waiters.next;
		todo.prev = h->waiters.prev;
		todo.next->prev = &todo;
		todo.prev->next = &todo;
		list_init(&h->waiters);
	}
	while (!list_empty(&todo)) {
		struct pf_dns_req *req = container_of(todo.next, struct pf_dns_req, node);
		pf_dns_cb cb = req->cb;
		void *arg = req->arg;
		int port = req->port;

		list_del(&req->node);
		free(req);
		dns.nreqs--;
		if (dns.closing)
			continue;
		hand_out(h, &base, &res, port);
		cb(arg, &res);
	}
}

static void on_result(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct dns_host *h = arg;

	dns.nqueries--;
	h->querying = false;
	/* during shutdown, answers are neither cached nor delivered */
	if (dns.closing || status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
		if (ai)
			ares_freeaddrinfo(ai);
		return;
	}
	store_answer(h, status, ai);
	if (ai)
		ares_freeaddrinfo(ai);
	note_change(h);
	deliver(h);
}

static void start_query(struct dns_host *h)
{
	struct ares_addrinfo_hints hints;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	h->querying = true;
	dns.nqueries++;
	log_debug("dns: looking up %s", h->name);
	/* may call on_result before returning (hosts file, malformed name) */
	ares_getaddrinfo(dns.channel, h->name, NULL, &hints, on_result, h);
	arm_timer();
}

/* "db.example.com" -> "example.com", as PgBouncer does; NULL for a one-label name. */
static const char *zone_of(const char *name)
{
	const char *dot = strchr(name, '.');
	return dot && dot[1] && strcmp(dot + 1, ".") != 0 ? dot + 1 : NULL;
}

static void zone_attach(struct dns_host *h)
{
	struct list_head *pos, *tmp;
	struct dns_zone *z = NULL;
	const char *zname;

	if (h->zone || dns.zone_period <= 0 || !(zname = zone_of(h->name)))
		return;
	list_for_each_safe(pos, tmp, &dns.zones) {
		struct dns_zone *cur = container_of(pos, struct dns_zone, node);
		if (strcasecmp(cur->name, zname) == 0) {
			z = cur;
			break;
		}
	}
	if (!z) {
		z = pf_xcalloc(1, sizeof *z);
		z->name = pf_xstrdup(zname);
		list_add_tail(&dns.zones, &z->node);
		dns.nzones++;
	}
	z->nhosts++;
	h->zone = z;
}

static void on_soa(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_zone *z = arg;
	struct ares_soa_reply *soa = NULL;
	struct list_head *pos, *tmp;
	uint32_t serial;
	bool first;

	dns.nqueries--;
	z->querying = false;
	if (dns.closing || status == ARES_EDESTRUCTION || status == ARES_ECANCELLED)
		return;
	if (status == ARES_SUCCESS)
		status = ares_parse_soa_reply(abuf, alen, &soa);
	if (status != ARES_SUCCESS) {
		log_debug("dns: no SOA for zone %s: %s", z->name, ares_strerror(status));
		return;
	}
	serial = soa->serial;
	ares_free_data(soa);
	first = !z->has_serial;
	if (!first && serial == z->serial)
		return;
	z->serial = serial;
	z->has_serial = true;
	if (first)
		return;
	/* Expiring alone would wait for the next lookup; ask now, so old servers go now. */
	log_info("dns: zone %s has a new serial %u: looking up its names again", z->name, serial);
	list_for_each_safe(pos, tmp, &dns.hosts) {
		struct dns_host *h = container_of(pos, struct dns_host, node);
		if (h->zone == z && !h->querying && !dns.closing)
			start_query(h);
	}
}

static void zone_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct list_head *pos, *tmp;

	dns.depth++;
	list_for_each_safe(pos, tmp, &dns.zones) {
		struct dns_zone *z = container_of(pos, struct dns_zone, node);
		if (z->querying || dns.closing)
			continue;
		z->querying = true;
		dns.nqueries++;
		/* no search domains: the zone name is already complete */
		ares_query(dns.channel, z->name, ns_c_in, ns_t_soa, on_soa, z);
	}
	after_process();
}

void pf_dns_set_zone_check_period(usec_t period)
{
	struct list_head *pos, *tmp;
	struct timeval tv;

	if (!dns.channel || dns.closing)
		return;
	period = period > 0 ? period : 0;
	if (period == dns.zone_period)
		return;
	dns.zone_period = period;
	evtimer_del(dns.zone_timer);
	if (period == 0)
		return;
	tv.tv_sec = (time_t)(period / USEC_PER_SEC);
	tv.tv_usec = (suseconds_t)(period % USEC_PER_SEC);
	event_add(dns.zone_timer, &tv);
	/* names cached while the checks were off join their zones now */
	list_for_each_safe(pos, tmp, &dns.hosts) {
		zone_attach(container_of(pos, struct dns_host, node));
	}
}

void pf_dns_refresh(const char *host)
{
	struct dns_host *h;

	if (!dns.channel || dns.closing || !host || !(h = find_host(host)))
		return;
	if (h->querying || (h->answered && ttl_left(h, now_usec()) > 0))
		return;
	start_query(h);
}

void pf_dns_set_change_hook(pf_dns_change_hook hook)
{
	dns.change_hook = hook;
}

int pf_dns_lookup(const char *host, int port, pf_dns_cb cb, void *arg, struct pf_dns_result *now,
		  struct pf_dns_req **req_out)
{
	struct dns_host *h;
	struct pf_dns_req *req;

	*req_out = NULL;
	memset(now, 0, sizeof *now);
	if (!host || !*host) {
		set_error(now, ARES_EBADNAME);
		return 1;
	}
	if (parse_numeric(host, now)) {
		set_port(now, port);
		return 1;
	}
	if (!dns.channel || dns.closing) {
		set_error(now, dns.closing ? ARES_EDESTRUCTION : ARES_ENOTINITIALIZED);
		return 1;
	}

	h = find_host(host);
	if (!h) {
		h = pf_xcalloc(1, sizeof *h);
		h->name = pf_xstrdup(host);
		list_init(&h->waiters);
		list_add_tail(&dns.hosts, &h->node);
		dns.nhosts++;
		zone_attach(h);
	}
	if (h->answered && ttl_left(h, now_usec()) > 0) {
		hand_out(h, &h->res, now, port);
		return 1;
	}
	if (!h->querying) {
		start_query(h);
		if (!h->querying) {
			/* answered without waiting; there were no waiters to call */
			hand_out(h, &h->res, now, port);
			return 1;
		}
	}

	req = pf_xcalloc(1, sizeof *req);
	req->port = port;
	req->cb = cb;
	req->arg = arg;
	list_add_tail(&h->waiters, &req->node);
	dns.nreqs++;
	*req_out = req;
	return 0;
}

void pf_dns_cancel(struct pf_dns_req *req)
{
	if (!req)
		return;
	/* the query goes on: its answer is still cached, and other waiters may share it */
	list_del(&req->node);
	free(req);
	dns.nreqs--;
}

/*
 * The query timeout and tries that resolv.conf sets: glibc's "options timeout:S attempts:N"
 * or c-ares's "retrans:MS retry:N" (c-ares 1.18 knows only the latter). Unset ones stay 0.
 */
static void resolv_conf_timeouts(const char *path, int *timeout_ms, int *tries)
{
	char line[1024];
	FILE *fp = fopen(path, "r");

	if (!fp)
		return;
	while (fgets(line, sizeof line, fp)) {
		char *save, *tok = strtok_r(line, " \t\r\n", &save);
		if (!tok || strcmp(tok, "options") != 0)
			continue;
		while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
			long v = strtol(strchr(tok, ':') ? strchr(tok, ':') + 1 : "0", NULL, 10);
			if (v <= 0)
				continue;
			/* the caps are glibc's */
			if (strncmp(tok, "timeout:", 8) == 0)
				*timeout_ms = (int)(v > 30 ? 30 : v) * 1000;
			else if (strncmp(tok, "retrans:", 8) == 0)
				*timeout_ms = (int)(v > 30000 ? 30000 : v);
			else if (strncmp(tok, "attempts:", 9) == 0 || strncmp(tok, "retry:", 6) == 0)
				*tries = (int)(v > 5 ? 5 : v);
		}
	}
	fclose(fp);
}

int pf_dns_init(struct event_base *base, const char *resolv_conf, usec_t max_ttl, usec_t nxdomain_ttl)
{
	static char lookups[] = "fb"; /* hosts file, then DNS */
	const char *conf_path = resolv_conf && *resolv_conf ? resolv_conf : "/etc/resolv.conf";
	struct ares_options opts;
	int optmask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS;
	int rc;

	if (dns.channel) {
		log_error("dns: resolver is already initialised");
		return -1;
	}
	rc = ares_library_init(ARES_LIB_INIT_ALL);
	if (rc != ARES_SUCCESS) {
		log_error("dns: cannot initialise c-ares: %s", ares_strerror(rc));
		return -1;
	}

	memset(&opts, 0, sizeof opts);
	opts.sock_state_cb = sock_state_cb;
	opts.lookups = lookups;
	/*
	 * Every query ends: c-ares gives up after its tries. Its own defaults (4 tries,
	 * doubling from 5 s) would keep a login waiting over a minute, so ours are shorter
	 * unless resolv.conf says otherwise.
	 */
	opts.timeout = DEFAULT_TIMEOUT_MS;
	opts.tries = DEFAULT_TRIES;
	resolv_conf_timeouts(conf_path, &opts.timeout, &opts.tries);
	if (query_timeout_ms)
		opts.timeout = query_timeout_ms;
	if (query_tries)
		opts.tries = query_tries;
	optmask |= ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
	if (resolv_conf && *resolv_conf) {
		/* c-ares silently falls back to 127.0.0.1 when the file is missing */
		if (access(resolv_conf, R_OK) != 0)
			log_warning("dns: cannot read resolv_conf %s, using c-ares defaults", resolv_conf);
		opts.resolvconf_path = (char *)resolv_conf; /* copied by c-ares */
		optmask |= ARES_OPT_RESOLVCONF;
	}
	rc = ares_init_options(&dns.channel, &opts, optmask);
	if (rc != ARES_SUCCESS) {
		log_error("dns: cannot initialise c-ares: %s", ares_strerror(rc));
		dns.channel = NULL;
		ares_library_cleanup();
		return -1;
	}
	dns.timer = evtimer_new(base, timer_cb, NULL);
	dns.zone_timer = event_new(base, -1, EV_PERSIST, zone_timer_cb, NULL);
	if (!dns.timer || !dns.zone_timer) {
		log_error("dns: cannot create timer");
		if (dns.timer)
			event_free(dns.timer);
		if (dns.zone_timer)
			event_free(dns.zone_timer);
		dns.timer = dns.zone_timer = NULL;
		ares_destroy(dns.channel);
		dns.channel = NULL;
		ares_library_cleanup();
		return -1;
	}
	dns.base = base;
	list_init(&dns.hosts);
	list_init(&dns.zones);
	list_init(&dns.socks);
	dns.nhosts = dns.nzones = dns.nqueries = dns.nreqs = dns.depth = 0;
	dns.zone_period = 0;
	dns.closing = false;
	pf_dns_set_ttls(max_ttl, nxdomain_ttl);
	return 0;
}

void pf_dns_set_ttls(usec_t max_ttl, usec_t nxdomain_ttl)
{
	dns.max_ttl = max_ttl > 0 ? max_ttl : 0;
	dns.nxdomain_ttl = nxdomain_ttl > 0 ? nxdomain_ttl : 0;
}

static void free_all(void)
{
	struct list_head *pos, *tmp, *rpos, *rtmp;

	/* ares_destroy ends the queries through on_result, which must then do nothing */
	dns.closing = true;
	ares_destroy(dns.channel);
	dns.channel = NULL;
	ares_library_cleanup();

	list_for_each_safe(pos, tmp, &dns.socks) {
		struct dns_sock *s = container_of(pos, struct dns_sock, node);
		if (s->ev)
			event_free(s->ev);
		free(s);
	}
	list_for_each_safe(pos, tmp, &dns.hosts) {
		struct dns_host *h = container_of(pos, struct dns_host, node);
		list_for_each_safe(rpos, rtmp, &h->waiters)
			free(container_of(rpos, struct pf_dns_req, node));
		free(h->name);
		free(h);
	}
	list_for_each_safe(pos, tmp, &dns.zones) {
		struct dns_zone *z = container_of(pos, struct dns_zone, node);
		free(z->name);
		free(z);
	}
	event_free(dns.timer);
	event_free(dns.zone_timer);
	memset(&dns, 0, sizeof dns);
}

void pf_dns_shutdown(void)
{
	if (!dns.channel || dns.closing)
		return;
	if (dns.depth > 0) {
		/* inside a callback: stop all callbacks now, free when c-ares has returned */
		dns.closing = true;
		evtimer_del(dns.timer);
		evtimer_del(dns.zone_timer);
		return;
	}
	free_all();
}

static void addrs_text(const struct pf_dns_result *res, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = 0;
	for (int i = 0; i < res->naddrs; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&res->addrs[i];
		char ip[INET6_ADDRSTRLEN];
		const void *a = sa->sa_family == AF_INET
			? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
			: (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (!inet_ntop(sa->sa_family, a, ip, sizeof ip))
			continue;
		int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "", ip);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
}

void pf_dns_foreach_host(pf_dns_host_visit visit, void *arg)
{
	char text[PF_DNS_MAX_ADDRS * (INET6_ADDRSTRLEN + 1) + 1];
	struct list_head *pos, *tmp;
	usec_t now = now_usec();

	if (!dns.channel)
		return;
	list_for_each_safe(pos, tmp, &dns.hosts) {
		struct dns_host *h = container_of(pos, struct dns_host, node);
		if (!h->answered)
			continue;
		addrs_text(&h->res, text, sizeof text);
		visit(arg, h->name, ttl_left(h, now), text);
	}
}

void pf_dns_foreach_zone(pf_dns_zone_visit visit, void *arg)
{
	struct list_head *pos, *tmp;

	if (!dns.channel)
		return;
	list_for_each_safe(pos, tmp, &dns.zones) {
		struct dns_zone *z = container_of(pos, struct dns_zone, node);
		visit(arg, z->name, z->serial, z->nhosts);
	}
}

int pf_dns_pending_count(void)
{
	return dns.nreqs;
}

void pf_dns_get_stats(struct pf_dns_stats *st)
{
	st->names = dns.nhosts;
	st->zones = dns.nzones;
	st->queries = dns.nqueries;
	st->pending = dns.nreqs;
}

void pf_dns_set_query_timeout(int timeout_ms, int tries)
{
	query_timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
	query_tries = tries > 0 ? tries : 0;
}

int pf_dns_set_servers(const char *servers_csv)
{
	int rc;

	if (!dns.channel)
		return ARES_ENOTINITIALIZED;
	rc = ares_set_servers_ports_csv(dns.channel, servers_csv);
	if (rc != ARES_SUCCESS)
		log_warning("dns: cannot set name servers \"%s\": %s", servers_csv, ares_strerror(rc));
	return rc;
}
