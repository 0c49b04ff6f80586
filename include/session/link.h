/*
 * link.h - handing servers to clients and taking them back (the pooler's moves).
 */
#ifndef PF_SESSION_LINK_H
#define PF_SESSION_LINK_H

#include <stdbool.h>

struct pf_client;
struct pf_server;
struct pf_pool;

/* A logged-in client sent the first message of a transaction: find it a server. */
void pf_link_request_server(struct pf_client *client);
/* Cut the link between a client and its server (no state changes). */
void pf_link_unlink(struct pf_client *client, struct pf_server *server);
/* A server became free (logged in, released, cleaned): give it to a waiting client or idle it. */
void pf_link_server_ready(struct pf_server *server);
/* The transaction (or session) is over: unlink, clean up if needed, return the server. */
void pf_link_release(struct pf_server *server);
/* The server is lost or overdue: unlink its client and disconnect it with this error, or
 * without it when the client holds part of a message (it would read the error as the rest). */
void pf_link_fail_client(struct pf_server *server, const char *sqlstate, const char *message);
/* The client is leaving while linked: decide whether the server can be reused. */
void pf_link_client_gone(struct pf_client *client);
/* Server login failed: tell clients waiting on the pool. */
void pf_link_login_failed(struct pf_pool *pool, const char *sqlstate, const char *message);
/* server_check_query due on this idle server before it is used: the query, else NULL. */
const char *pf_link_check_query_due(const struct pf_server *server);
/* Launch servers for waiting clients (and auth_query lookups) if the pool allows. */
void pf_link_maybe_launch(struct pf_pool *pool);
/* A server of this pool closed or went idle: a pool held back by max_db_connections or
 * max_user_connections that it shares may now open one (closing an idle one if needed). */
void pf_link_limit_room(struct pf_pool *pool);
/* Shutdown bookkeeping: is anything still in flight? */
int pf_link_active_server_count(void);
/* Free closed connections once the current callback has returned. */
void pf_session_schedule_reap(void);

#endif
