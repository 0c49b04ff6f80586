/* sock.c - socket helpers shared by listeners, servers and cancel requests. */
#include "net/sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

void pf_sock_tune(int fd, int family, const struct pf_sock_opts *opts)
{
	if (family != AF_INET && family != AF_INET6)
		return;
	int on = 1;
	/* Messages are written whole, in one write per batch: never wait for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (!opts)
		return;
	if (opts->keepalive) {
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
		if (opts->keepcnt > 0)
			setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &opts->keepcnt, sizeof(int));
		if (opts->keepidle > 0)
			setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &opts->keepidle, sizeof(int));
		if (opts->keepintvl > 0)
			setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &opts->keepintvl, sizeof(int));
	}
	if (opts->user_timeout > 0)
		setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &opts->user_timeout, sizeof(int));
	if (opts->socket_buffer > 0) {
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &opts->socket_buffer, sizeof(int));
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &opts->socket_buffer, sizeof(int));
	}
}

int pf_sock_connect(const struct sockaddr *sa, socklen_t len)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, sa, len) < 0 && errno != EINPROGRESS && errno != EINTR) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

bool pf_sock_peer_uid(int fd, uid_t *uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return false;
	*uid = cred.uid;
	return true;
}

int pf_sock_connect_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

bool pf_sock_unix_addr(const char *dir, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)ss;
	memset(ss, 0, sizeof(*ss));
	sun->sun_family = AF_UNIX;
	bool abstract = dir[0] == '@';
	int n = snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/.s.PGSQL.%d", dir, port);
	if (n < 0 || (size_t)n >= sizeof(sun->sun_path))
		return false;
	if (abstract)
		sun->sun_path[0] = 0;
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + (abstract ? 0 : 1));
	return true;
}

void pf_addr_from_sockaddr(struct pf_addr *a, const struct sockaddr *sa)
{
	memset(a, 0, sizeof(*a));
	a->family = sa->sa_family;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		a->port = ntohs(sin->sin_port);
		memcpy(a->ip, &sin->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		a->port = ntohs(sin6->sin6_port);
		memcpy(a->ip, &sin6->sin6_addr, 16);
	}
}

void pf_addr_format(const struct pf_addr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (a->family == AF_INET || a->family == AF_INET6) {
		inet_ntop(a->family, a->ip, host, sizeof(host));
		snprintf(buf, len, "%s:%d", host, a->port);
	} else {
		snprintf(buf, len, "unix");
	}
}
