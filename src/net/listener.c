/* listener.c - listening sockets and the accept loop. */
#include "net/listener.h"

#include <errno.h>
#include <event2/event_struct.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/sock.h"
#include "util/buf.h"
#include "util/log.h"

#define MAX_LISTENERS 32
/*
 * Accepts per wake-up come from the owner's budget: one in calm times, since the listener is
 * level-triggered and a lone connection (the common case) then costs no accept() that only
 * returns EAGAIN; more during a storm, so the listen queue drains before it overflows.
 */
#define MAX_ACCEPTS_PER_WAKEUP 64

struct listener {
	int fd;
	bool is_unix;
	struct event ev;
};

static struct listener listeners[MAX_LISTENERS];
static int n_listeners;
static pf_accept_cb accept_cb;
static pf_accept_budget_cb accept_budget;
static char unix_path[256];

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	int budget = accept_budget ? accept_budget() : 1;
	if (budget > MAX_ACCEPTS_PER_WAKEUP)
		budget = MAX_ACCEPTS_PER_WAKEUP;
	for (int i = 0; i < budget; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int cfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warning("accept() failed: %s", strerror(errno));
			return;
		}
		accept_cb(cfd, (struct sockaddr *)&ss, len, l->is_unix);
	}
}

static int add_listener(struct event_base *base, int fd, bool is_unix, char *err, size_t errlen)
{
	if (n_listeners == MAX_LISTENERS) {
		snprintf(err, errlen, "too many listen addresses");
		close(fd);
		return -1;
	}
	struct listener *l = &listeners[n_listeners++];
	l->fd = fd;
	l->is_unix = is_unix;
	event_assign(&l->ev, base, fd, EV_READ | EV_PERSIST, on_accept, l);
	event_add(&l->ev, NULL);
	return 0;
}

static int listen_tcp(struct event_base *base, const struct sockaddr *sa, socklen_t len, const struct pf_listen_opts *opts,
		      char *err, size_t errlen)
{
	char host[NI_MAXHOST] = "?";
	getnameinfo(sa, len, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket() for %s failed: %s", host, strerror(errno));
		return -1;
	}
	int on = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (opts->reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, sa, len) < 0 || listen(fd, opts->backlog) < 0) {
		snprintf(err, errlen, "could not listen on %s:%d: %s", host, opts->port, strerror(errno));
		close(fd);
		return -1;
	}
	if (opts->defer_accept) {
		int secs = 45;
		setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs));
	}
	log_info("listening on %s:%d", host, opts->port);
	return add_listener(base, fd, false, err, errlen);
}

static int listen_addr_item(struct event_base *base, const char *addr, const struct pf_listen_opts *opts, char *err,
			    size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	char port[16];
	snprintf(port, sizeof(port), "%d", opts->port);
	bool any = strcmp(addr, "*") == 0;
	int rc = getaddrinfo(any ? NULL : addr, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "listen_addr %s: %s", addr, gai_strerror(rc));
		return -1;
	}
	int ok = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (listen_tcp(base, ai->ai_addr, ai->ai_addrlen, opts, err, errlen) < 0) {
			/* "*" on a machine without IPv6 still listens on IPv4. */
			if (any && ai->ai_family == AF_INET6)
				continue;
			freeaddrinfo(res);
			return -1;
		}
		ok++;
	}
	freeaddrinfo(res);
	if (!ok) {
		snprintf(err, errlen, "listen_addr %s: no usable address", addr);
		return -1;
	}
	return 0;
}

static int listen_unix(struct event_base *base, const struct pf_listen_opts *opts, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (!pf_sock_unix_addr(opts->unix_dir, opts->port, &ss, &len)) {
		snprintf(err, errlen, "unix_socket_dir too long: %s", opts->unix_dir);
		return -1;
	}
	struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
	bool abstract = sun->sun_path[0] == 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket(AF_UNIX) failed: %s", strerror(errno));
		return -1;
	}
	if (!abstract) {
		/* A stale socket file from a crashed run is removed; a live one is an error. */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&ss, len) == 0) {
			close(probe);
			close(fd);
			snprintf(err, errlen, "unix socket %s is in use by another process", sun->sun_path);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		unlink(sun->sun_path);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, opts->backlog) < 0) {
		snprintf(err, errlen, "could not listen on unix socket %s: %s", sun->sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!abstract) {
		snprintf(unix_path, sizeof(unix_path), "%s", sun->sun_path);
		if (chmod(unix_path, (mode_t)opts->unix_mode) < 0)
			log_warning("chmod %s: %s", unix_path, strerror(errno));
		if (opts->unix_group && *opts->unix_group) {
			struct group *gr = getgrnam(opts->unix_group);
			if (!gr) {
				snprintf(err, errlen, "unix_socket_group: no such group: %s", opts->unix_group);
				close(fd);
				unlink(unix_path);
				unix_path[0] = 0;
				return -1;
			}
			if (chown(unix_path, (uid_t)-1, gr->gr_gid) < 0)
				log_warning("chown %s: %s", unix_path, strerror(errno));
		}
		log_info("listening on unix:%s", unix_path);
	}
	return add_listener(base, fd, true, err, errlen);
}

int pf_listen_open(struct event_base *base, const struct pf_listen_opts *opts, pf_accept_cb cb,
		   pf_accept_budget_cb budget, char *err, size_t errlen)
{
	accept_cb = cb;
	accept_budget = budget;
	if (opts->listen_addr && *opts->listen_addr) {
		char *list = pf_xstrdup(opts->listen_addr);
		char *save = NULL;
		for (char *item = strtok_r(list, ", \t", &save); item; item = strtok_r(NULL, ", \t", &save)) {
			if (listen_addr_item(base, item, opts, err, errlen) < 0) {
				free(list);
				pf_listen_close();
				return -1;
			}
		}
		free(list);
	}
	if (opts->unix_dir && *opts->unix_dir && listen_unix(base, opts, err, errlen) < 0) {
		pf_listen_close();
		return -1;
	}
	if (n_listeners == 0) {
		snprintf(err, errlen, "nothing to listen on: set listen_addr or unix_socket_dir");
		return -1;
	}
	return 0;
}

void pf_listen_close(void)
{
	for (int i = 0; i < n_listeners; i++) {
		event_del(&listeners[i].ev);
		close(listeners[i].fd);
	}
	n_listeners = 0;
	if (unix_path[0]) {
		unlink(unix_path);
		unix_path[0] = 0;
	}
}

int pf_listen_count(void)
{
	return n_listeners;
}
