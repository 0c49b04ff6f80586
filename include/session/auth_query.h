/*
 * auth_query.h - fetching from PostgreSQL the secret of a user that auth_file does not have
 * (auth_user, auth_query, auth_dbname), while the client's login waits.
 */
#ifndef PF_SESSION_AUTH_QUERY_H
#define PF_SESSION_AUTH_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "net/stream.h"

struct pf_auth_lookup;
struct pf_client;
struct pf_database;
struct pf_pool;
struct pf_server;

/* Do logins to this database look unknown users up (an auth_user is set for it)? */
bool pf_auth_query_configured(const struct pf_database *db);

/*
 * Look user_name up for a client logging in to client->db. The outcome always comes later,
 * from the event loop, through pf_client_login_lookup_done() (never from inside this call).
 * NULL when the settings do not allow a lookup: *sqlstate and *error say what the client
 * gets (nothing was queued).
 */
struct pf_auth_lookup *pf_auth_query_start(struct pf_client *client, const char *user_name, const char **sqlstate,
					   const char **error);
/* The client is going away: its lookup will not call it back (and is freed when it can be). */
void pf_auth_query_cancel(struct pf_auth_lookup *lookup);

/* A server of an auth pool is free: it runs the oldest waiting lookup. false = none waits. */
bool pf_auth_query_server_ready(struct pf_server *server);
/* server.c: a message answering a lookup's query. */
enum pf_pkt_action pf_auth_query_packet(struct pf_server *server, const struct pf_pkt *pkt);
/* server.c: the server running a lookup is closing. */
void pf_auth_query_server_gone(struct pf_server *server);
/* link.c: the auth pool cannot log in to its server: its waiting lookups fail. */
void pf_auth_query_pool_failed(struct pf_pool *pool, const char *message);
/* link.c: when the oldest waiting lookup was queued; 0 = none waits. */
uint64_t pf_auth_query_oldest_wait(struct pf_pool *pool);
/* janitor.c, once a second: query_wait_timeout and the time limit of running queries. */
void pf_auth_query_janitor(struct pf_pool *pool, uint64_t now);

#endif
