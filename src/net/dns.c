/*
 * dns.c - asynchronous name resolution: c-ares driven by the libevent loop, with a TTL cache.
 *
 * c-ares tells us which sockets it wants watched (sock_state_cb); each gets a libevent
 * event that calls ares_process_fd(). One timer wakes c-ares for its own timeouts.
 * Every name has one cache entry; while a query for it is in flight, lookups queue on
 * the entry as waiters and are all answered from the one result.
 */
#include "net/dns.h"

#include "util/buf.h"
#include "util/list.h"
#include "util/log.h"

#include <ares.h>
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
	struct list_head hosts;
	struct list_head socks;
	usec_t max_ttl;
	usec_t nxdomain_ttl;
	int nhosts;
	int nqueries;
	int nreqs;
	int depth;                  /* loop callbacks running c-ares (and so user callbacks) */
	bool closing;               /* shutdown asked for from inside a callback */
} dns;

static int query_timeout_ms = DEFAULT_TIMEOUT_MS;
static int query_tries = DEFAULT_TRIES;

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
	res->status = status;
	res->error = ares_strerror(status);
	set_port(res, 0);
	/* TTL 0 is what c-ares reports for hosts-file answers: no TTL, so dns_max_ttl */
	h->rec_ttl = ttl;
	h->answered = true;
	h->answered_at = now_usec();
	if (status == ARES_SUCCESS)
		log_debug("dns: %s resolved to %d address(es)", h->name, res->naddrs);
	else
		log_debug("dns: %s failed: %s", h->name, res->error);
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
		res = base;
		set_port(&res, port);
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
	}
	if (h->answered && ttl_left(h, now_usec()) > 0) {
		*now = h->res;
		set_port(now, port);
		return 1;
	}
	if (!h->querying) {
		start_query(h);
		if (!h->querying) {
			/* answered without waiting; there were no waiters to call */
			*now = h->res;
			set_port(now, port);
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

int pf_dns_init(struct event_base *base, const char *resolv_conf, usec_t max_ttl, usec_t nxdomain_ttl)
{
	static char lookups[] = "fb"; /* hosts file, then DNS */
	struct ares_options opts;
	int optmask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
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
	opts.timeout = query_timeout_ms;
	opts.tries = query_tries;
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
	if (!dns.timer) {
		log_error("dns: cannot create timer");
		ares_destroy(dns.channel);
		dns.channel = NULL;
		ares_library_cleanup();
		return -1;
	}
	dns.base = base;
	list_init(&dns.hosts);
	list_init(&dns.socks);
	dns.nhosts = dns.nqueries = dns.nreqs = dns.depth = 0;
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
	event_free(dns.timer);
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
		return;
	}
	free_all();
}

static void addrs_text(const struct dns_host *h, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = 0;
	for (int i = 0; i < h->res.naddrs; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&h->res.addrs[i];
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
		addrs_text(h, text, sizeof text);
		visit(arg, h->name, ttl_left(h, now), text);
	}
}

int pf_dns_pending_count(void)
{
	return dns.nreqs;
}

void pf_dns_get_stats(struct pf_dns_stats *st)
{
	st->names = dns.nhosts;
	st->queries = dns.nqueries;
	st->pending = dns.nreqs;
}

void pf_dns_set_query_timeout(int timeout_ms, int tries)
{
	query_timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
	query_tries = tries > 0 ? tries : DEFAULT_TRIES;
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
