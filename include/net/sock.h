/*
 * sock.h - socket helpers: non-blocking connect, TCP options, unix socket addresses.
 */
#ifndef PF_NET_SOCK_H
#define PF_NET_SOCK_H

#include <stdbool.h>
#include <sys/socket.h>

struct pf_sock_opts {
	int keepalive;
	int keepcnt;
	int keepidle;
	int keepintvl;
	int user_timeout;
	int socket_buffer;
};

/* TCP_NODELAY and keepalive settings on a TCP socket (no-op for Unix sockets). */
void pf_sock_tune(int fd, int family, const struct pf_sock_opts *opts);
/* Start a non-blocking connect. Returns the fd (connect in progress or done), or -1 with errno. */
int pf_sock_connect(const struct sockaddr *sa, socklen_t len);
/* The error of a finished non-blocking connect (0 = connected). */
int pf_sock_connect_error(int fd);
/* Fill a sockaddr_un for "<dir>/.s.PGSQL.<port>"; a dir starting with '@' is abstract. false if too long. */
bool pf_sock_unix_addr(const char *dir, int port, struct sockaddr_storage *ss, socklen_t *len);

#endif
