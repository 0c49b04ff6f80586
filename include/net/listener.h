/*
 * listener.h - the listening sockets: TCP on listen_addr:listen_port and the Unix socket.
 */
#ifndef PF_NET_LISTENER_H
#define PF_NET_LISTENER_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

typedef void (*pf_accept_cb)(int fd, const struct sockaddr *addr, socklen_t addrlen, bool is_unix);
/* How many connections to accept at one wake-up (NULL = one). */
typedef int (*pf_accept_budget_cb)(void);

struct pf_listen_opts {
	const char *listen_addr;   /* comma list; "*" = all IPv4 and IPv6; "" = TCP off */
	int port;
	int backlog;
	const char *unix_dir;      /* "" = no Unix socket */
	int unix_mode;
	const char *unix_group;
	bool reuseport;
	bool defer_accept;
};

/* Open every listener. Returns 0, or -1 with a reason in err. */
int pf_listen_open(struct event_base *base, const struct pf_listen_opts *opts, pf_accept_cb cb,
		   pf_accept_budget_cb budget, char *err, size_t errlen);
/* Stop accepting: close the sockets and remove the Unix socket file. */
void pf_listen_close(void);
int pf_listen_count(void);

#endif
