/*
 * client.h - a client connection: login, then forwarding to a linked server.
 */
#ifndef PF_SESSION_CLIENT_H
#define PF_SESSION_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/sock.h"
#include "net/stream.h"
#include "pool/params.h"
#include "pool/pool.h"
#include "pool/prepared_client.h"
#include "util/list.h"

enum pf_client_state {
	CL_LOGIN,          /* on pf_state.login_clients: startup and authentication */
	CL_WAITING_LOGIN,  /* authenticated; on pool->welcome_clients until the pool can greet it */
	CL_ACTIVE,         /* on pool->active_clients: logged in, idle or linked */
	CL_WAITING,        /* on pool->waiting_clients: wants a server */
	CL_CANCEL,         /* on pf_state.cancel_clients: sent a CancelRequest */
	CL_DEAD,           /* closed; freed at the end of the loop iteration */
};

struct pf_server;
struct pf_client_login;
struct pf_client_tenant;

struct pf_client {
	struct list_head node;
	enum pf_client_state state;
	/* max_prepared_statements, in transaction/statement mode (decided at login): its
	 * statement names are the pooler's (session/prepared_path.c). In the padding. */
	bool ps_on;
	struct pf_stream stream;
	uint64_t id;
	struct pf_pool *pool;
	struct pf_database *db;
	struct pf_user *login_user;     /* who authenticated (may differ from the pool's forced user) */
	struct pf_server *link;
	struct pf_client_login *login;  /* only during login */
	struct pf_addr addr;
	bool is_unix;
	bool over_limit;                /* accepted past max_client_conn: refused after startup */
	uint8_t admin_level;            /* console rights: 0 none, 1 stats_users (SHOW), 2 admin_users */
	bool admin_skip_to_sync;        /* console: extended-protocol messages refused until Sync */
	/* our BackendKeyData for this client, and the cancel hash chain */
	uint32_t cancel_pid;
	uint32_t cancel_key;
	struct pf_client *cancel_next;
	/* transaction tracking while linked */
	bool ext_in_flight;             /* extended-protocol messages sent since the last Sync */
	bool wait_notified;             /* got the query_wait_notify NOTICE for this wait (beside
					 * ext_in_flight: the padding pays for `tenant`, the size stays) */
	uint64_t connect_usec;
	uint64_t wait_start_usec;
	/* Its tenant and place in the queue (session/tenant.h): only while its pool has tenants. */
	struct pf_client_tenant *tenant;
	uint64_t idle_since_usec;       /* logged in and not linked since then (client_idle_timeout) */
	struct pf_tracked_values params;
	struct pf_ps_client *ps;        /* its named statements; NULL until it names one */
};

/* Take over an accepted socket; data_waiting when the kernel held it until bytes came. */
void pf_client_accept(int fd, const struct sockaddr *addr, socklen_t addrlen, bool is_unix, bool data_waiting);

/* Send an ErrorResponse (FATAL) and close. */
void pf_client_disconnect(struct pf_client *client, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Close without a message (the client went away). */
void pf_client_close(struct pf_client *client, const char *reason);
void pf_client_change_state(struct pf_client *client, enum pf_client_state state);
/* Send an ErrorResponse with severity ERROR and keep the connection. */
bool pf_client_send_error(struct pf_client *client, const char *sqlstate, const char *message);

/* Login is done: greet the client (params, key, ReadyForQuery) and make it active. */
void pf_client_finish_login(struct pf_client *client);

/* Called by client_login.c when the startup packet and auth are done. */
void pf_client_logged_in(struct pf_client *client);

/* Cancel keys. */
struct pf_client *pf_client_find_by_key(uint32_t pid, uint32_t key);

/* "C-0x...: db/user@addr:port" prefix for log lines. */
const char *pf_client_prefix(const struct pf_client *client, char *buf, size_t len);
void pf_client_log(const struct pf_client *client, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Send a NoticeResponse and keep the connection. */
bool pf_client_send_notice(struct pf_client *client, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Free closed clients (deferred so that callers up the stack stay valid). */
void pf_client_reap(void);
int pf_client_total(void);

/* client_login.c */
enum pf_pkt_action pf_client_login_packet(struct pf_client *client, const struct pf_pkt *pkt);
void pf_client_login_free(struct pf_client *client);
/* auth_query's answer for the login: the user with the secret (NULL = none), or an error for
 * the client. Called from the event loop (session/auth_query.c). */
void pf_client_login_lookup_done(struct pf_client *client, struct pf_user *user, const char *error);
/* The names the client asked for, while it logs in (NULL before the startup packet). */
const char *pf_client_login_db(const struct pf_client *client);
const char *pf_client_login_user(const struct pf_client *client);

#endif
