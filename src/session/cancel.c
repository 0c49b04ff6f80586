/*
 * cancel.c - forward a CancelRequest to the server a client is using at this moment.
 *
 * The client presents the key pgfjord gave it; the server gets its own key, on a new
 * connection to the same address, as PostgreSQL requires.
 */
#include "session/cancel.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/sock.h"
#include "pool/pool.h"
#include "proto/build.h"
#include "session/client.h"
#include "session/server.h"
#include "util/list.h"
#include "util/log.h"

struct pending_cancel {
	struct list_head node;
	int fd;
	struct event ev;
	uint8_t packet[16];
	bool sent;
};

static struct list_head pending = { &pending, &pending };

static void cancel_free(struct pending_cancel *pc)
{
	event_del(&pc->ev);
	close(pc->fd);
	list_del(&pc->node);
	free(pc);
}

/* How long a cancel may take (connect, send, the server closing): cancel_wait_timeout;
 * 0 = no limit once sent (the connect is still bounded by server_connect_timeout). */
static const struct timeval *cancel_limit(struct timeval *tv, bool connecting)
{
	usec_t limit = pf_state.set->cancel_wait_timeout;
	if (limit <= 0 && connecting)
		limit = pf_state.set->server_connect_timeout;
	if (limit <= 0)
		return NULL;
	tv->tv_sec = (time_t)(limit / USEC_PER_SEC);
	tv->tv_usec = (suseconds_t)(limit % USEC_PER_SEC);
	return tv;
}

/* Writable: send the request. Then wait for the server to close (or the timeout). */
static void on_cancel_event(evutil_socket_t fd, short what, void *arg)
{
	struct pending_cancel *pc = arg;
	if (what & EV_TIMEOUT) {
		log_warning("cancel request: closing because: cancel_wait_timeout (%s)",
			    pc->sent ? "the server did not close the cancel connection" : "could not connect in time");
		cancel_free(pc);
		return;
	}
	if (pc->sent) {
		cancel_free(pc);
		return;
	}
	if (pf_sock_connect_error(fd) != 0 || write(fd, pc->packet, sizeof(pc->packet)) != (ssize_t)sizeof(pc->packet)) {
		log_warning("cancel request: could not reach the server");
		cancel_free(pc);
		return;
	}
	pc->sent = true;
	event_del(&pc->ev);
	event_assign(&pc->ev, pf_state.base, fd, EV_READ, on_cancel_event, pc);
	struct timeval tv;
	event_add(&pc->ev, cancel_limit(&tv, false));
}

void pf_cancel_forward(uint32_t pid, uint32_t key)
{
	struct pf_client *client = pf_client_find_by_key(pid, key);
	if (!client || !client->link) {
		log_debug("cancel request for no running query: ignored");
		return;
	}
	pf_cancel_server(client->link);
	pf_client_log(client, LOG_LVL_LOG, "forwarding cancel request to server");
}

void pf_cancel_server(struct pf_server *server)
{
	int fd = pf_sock_connect((const struct sockaddr *)&server->addr, server->addrlen);
	if (fd < 0) {
		log_warning("cancel request: connect failed");
		return;
	}
	struct pending_cancel *pc = pf_xcalloc(1, sizeof(*pc));
	pc->fd = fd;
	struct pf_buf b;
	pf_buf_init(&b);
	pf_build_cancel(&b, server->backend_pid, server->backend_key);
	memcpy(pc->packet, b.data, sizeof(pc->packet));
	pf_buf_free(&b);
	list_add_tail(&pending, &pc->node);
	event_assign(&pc->ev, pf_state.base, fd, EV_WRITE, on_cancel_event, pc);
	struct timeval tv;
	event_add(&pc->ev, cancel_limit(&tv, true));
}

void pf_cancel_shutdown(void)
{
	while (!list_empty(&pending))
		cancel_free(container_of(pending.next, struct pending_cancel, node));
}
