/*
 * server.h - a server connection: connect and log in, then serve linked clients.
 */
#ifndef PF_SESSION_SERVER_H
#define PF_SESSION_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/stream.h"
#include "pool/params.h"
#include "pool/pool.h"
#include "pool/prepared_server.h"
#include "proto/sqlcmd.h"
#include "session/prepared_path.h"
#include "util/list.h"

enum pf_server_state {
	SV_LOGIN,   /* pool->login_servers: resolving, connecting, authenticating */
	SV_IDLE,    /* pool->idle_servers */
	SV_ACTIVE,  /* pool->active_servers: linked to a client */
	SV_USED,    /* pool->used_servers: running reset/cleanup queries before going idle */
	SV_TESTED,  /* pool->tested_servers: running server_check_query for a waiting client */
	SV_DEAD,
};

/* What to do once the queries pgfjord itself sent have all been answered. */
enum pf_server_after {
	AFTER_NOTHING,
	AFTER_RESUME_CLIENT,  /* parameters were set for the linked client: let it go on */
	AFTER_IDLE,           /* cleanup done: back to the pool */
	AFTER_CONNECTED,      /* connect_query done: ready for clients, or a failed login */
	AFTER_AUTH_QUERY,     /* an auth_query lookup: its answer goes to session/auth_query.c */
};

struct pf_auth_lookup;
struct pf_buf;
struct pf_client;
struct pf_server_login;

struct pf_server {
	struct list_head node;
	enum pf_server_state state;
	struct pf_stream stream;
	uint64_t id;
	struct pf_pool *pool;
	struct pf_client *link;
	struct pf_server_login *login;  /* only during login */
	struct pf_auth_lookup *auth_lookup; /* the lookup it runs (auth pools only) */
	char *host;                     /* the host entry it connects to; NULL = default Unix socket */
	struct sockaddr_storage addr;   /* where it is connected: needed for cancel requests */
	socklen_t addrlen;              /* 0 until it connects */
	uint32_t backend_pid;
	uint32_t backend_key;
	struct pf_tracked_values params;
	/* transaction tracking */
	int expect_rfq;                 /* Query/Sync/FunctionCall sent, ReadyForQuery not yet seen */
	char tx_status;                 /* last ReadyForQuery status: I, T or E */
	int internal_rfq;               /* our own queries not answered yet */
	enum pf_server_after after_internal;
	char *connect_query_error;      /* the ErrorResponse connect_query got, if any */
	bool release_on_flush;          /* ReadyForQuery forwarded: release once the client has it */
	bool close_needed;              /* RECONNECT or a config change: close instead of reuse */
	uint32_t db_generation;         /* the database's generation when this server connected */
	uint64_t query_start_usec;      /* for SHOW STATS query_time / xact_time */
	uint64_t xact_start_usec;
	uint64_t idle_in_tx_since_usec; /* answered everything inside a transaction (idle_transaction_timeout) */
	uint64_t connect_usec;
	uint64_t last_used_usec;
	/* A client's SET of an unreported tracked parameter, applied at its ReadyForQuery, the
	 * set_z-th from now (0: none); session/param_set.c. */
	uint8_t set_z;
	int8_t set_idx;
	char set_value[PF_SQLCMD_VALUE_MAX]; /* "" = the default */
	struct pf_ps_server ps;         /* statements prepared on it, under their PF_ names */
	struct pf_pp_queue pq;          /* answers owed for the pooler's messages, and counters */
	struct event timer;             /* connect timeout */
	bool timer_set;
};

extern const struct pf_stream_ops pf_server_stream_ops;

/* Open a new server connection for the pool (asynchronously). */
void pf_server_launch(struct pf_pool *pool);
void pf_server_close(struct pf_server *server, const char *reason);
void pf_server_change_state(struct pf_server *server, enum pf_server_state state);
/* Send queries of our own; responses are swallowed, then `after` happens. */
bool pf_server_send_internal(struct pf_server *server, const char *const *queries, int n, enum pf_server_after after);
/* The same for messages already built, answered by n_rfq ReadyForQuery messages. */
bool pf_server_send_internal_msgs(struct pf_server *server, const struct pf_buf *msgs, int n_rfq,
				  enum pf_server_after after);
const char *pf_server_prefix(const struct pf_server *server, char *buf, size_t len);
void pf_server_log(const struct pf_server *server, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void pf_server_reap(void);

/* server_login.c */
void pf_server_login_start(struct pf_server *server);
enum pf_pkt_action pf_server_login_packet(struct pf_server *server, const struct pf_pkt *pkt);
void pf_server_login_free(struct pf_server *server);

#endif
