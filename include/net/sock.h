/*
 * sock.h - socket helpers: non-blocking connect, TCP options, unix socket addresses.
 */
#ifndef PF_NET_SOCK_H
#define PF_NET_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct pf_sock_opts {
	int keepalive;
	int keepcnt;
	int keepidle;
	int keepintvl;
	int user_timeout;
	int socket_buffer;
};

/* A peer address in 20 bytes (a sockaddr_storage is 128): kept per client connection. */
struct pf_addr {
	uint16_t family;   /* AF_INET, AF_INET6 or AF_UNIX */
	uint16_t port;
	uint8_t ip[16];
};

void pf_addr_from_sockaddr(struct pf_addr *a, const struct sockaddr *sa);
/* "ip:port", or "unix" */
void pf_addr_format(const struct pf_addr *a, char *buf, size_t len);

/* TCP_NODELAY and keepalive settings on a TCP socket (no-op for Unix sockets). */
void pf_sock_tune(int fd, int family, const struct pf_sock_opts *opts);
/* Start a non-blocking connect. Returns the fd (connect in progress or done), or -1 with errno. */
int pf_sock_connect(const struct sockaddr *sa, socklen_t len);
/* The error of a finished non-blocking connect (0 = connected). */
int pf_sock_connect_error(int fd);
/* The OS user id of the process on the other end of a Unix socket; false when unknown. */
bool pf_sock_peer_uid(int fd, uid_t *uid);
/* Fill a sockaddr_un for "<dir>/.s.PGSQL.<port>"; a dir starting with '@' is abstract. false if too long. */
bool pf_sock_unix_addr(const char *dir, int port, struct sockaddr_storage *ss, socklen_t *len);

#endif
