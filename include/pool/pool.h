/*
 * pool.h - databases, users, pools and the process-wide state they live in.
 *
 * A connection's state is the list it is on; the counts SHOW POOLS needs are list lengths.
 * This layer decides (may a pool open a server now? which client is next?); the session
 * layer carries the decisions out on sockets.
 */
#ifndef PF_POOL_POOL_H
#define PF_POOL_POOL_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "pool/params.h"
#include "pool/stats.h"
#include "util/list.h"

struct pf_userlist;
struct pf_pool_tenants;
struct pf_hba;
struct pf_ident;

struct pf_user {
	struct list_head node;      /* in state.users */
	char *name;
	char *secret;               /* plain, md5 or SCRAM secret; NULL = none known */
	char *plain_verifier;       /* a SCRAM secret made once from a plain one (PBKDF2 is slow) */
	/* The [users] entry of this name in the running config, or NULL; refreshed by RELOAD. */
	const struct pf_user_conf *conf;
	int client_count;           /* logged-in clients that authenticated as this user */
	/* Not in auth_file: the secret came from auth_query and is fetched again at every login
	 * (the role's password may have changed or expired since). */
	bool dynamic;
	/* SCRAM keys learned from a client that logged in against a SCRAM secret,
	 * used to log in to the server on the client's behalf (pass-through). */
	bool has_scram_keys;
	uint8_t scram_client_key[32];
	uint8_t scram_server_key[32];
};

struct pf_database {
	struct list_head node;      /* in state.databases */
	char *name;
	char *dbname;               /* database name on the server */
	char *host;                 /* the host list as written (SHOW DATABASES); NULL = default Unix socket */
	char **hosts;               /* its entries: names, addresses, Unix socket dirs ('/' or '@') */
	int n_hosts;                /* 0 = the default Unix socket dir */
	int load_balance_hosts;     /* enum pf_load_balance: which host a new server tries first */
	unsigned next_host;         /* round-robin: the next one to start at; disable: the one in use */
	int port;
	struct pf_user *forced_user;/* user= in the connect string: one pool for all clients */
	char *password;             /* password= in the connect string */
	int pool_size;              /* -1 = default_pool_size */
	int min_pool_size;          /* -1 = global min_pool_size */
	int reserve_pool_size;      /* -1 = global reserve_pool_size */
	int pool_mode;
	int max_db_connections;     /* -1 = global max_db_connections */
	int max_db_client_connections; /* -1 = global */
	usec_t server_lifetime;     /* -1 = global server_lifetime */
	usec_t query_wait_timeout;  /* -1 = [users] value, else global */
	char *connect_query;        /* run on every new server before its first client; NULL = none */
	char *auth_user;            /* auth_user, auth_query, auth_dbname of the entry; NULL = global */
	char *auth_query;
	char *auth_dbname;
	char *startup_names[4];     /* client_encoding, datestyle, timezone, application_name */
	char *startup_values[4];
	int n_startup;
	bool is_auto;               /* created from the "*" entry */
	bool is_admin;              /* the console: "pgbouncer" (or "pgfjord") */
	bool paused;                /* PAUSE db: no server is handed out */
	bool disabled;              /* DISABLE db: new logins are refused */
	bool removed;               /* gone from the config at RELOAD: kept only for its clients */
	uint32_t generation;        /* bumped when RELOAD points the database elsewhere */
	uint64_t last_used_usec;    /* last time a pool of it had a client or server (autodb_idle_timeout) */
	struct list_head pools;     /* pf_pool.db_node */
	struct pf_stats stats;      /* totals since start */
	struct pf_stats stats_prev; /* totals at the start of the last stats_period */
	struct pf_stats_avg stats_avg;
};

struct pf_pool {
	struct list_head node;      /* in state.pools */
	struct list_head db_node;   /* in database->pools */
	struct pf_database *db;
	struct pf_user *user;       /* the user servers log in as */
	/* Runs auth_query only: its servers are never given to a client, so nothing a client sends
	 * (startup parameters, SET) reaches their sessions (session/auth_query.c). */
	bool is_auth;
	struct stat_list auth_lookups;     /* auth pool: lookups waiting for a server, oldest first */
	/* clients */
	struct stat_list active_clients;   /* logged in: idle or linked */
	struct stat_list waiting_clients;  /* waiting for a server, oldest first */
	struct stat_list welcome_clients;  /* logged in, waiting for the pool's first server login */
	/* servers */
	struct stat_list active_servers;   /* linked to a client */
	struct stat_list idle_servers;
	struct stat_list used_servers;     /* running reset/cleanup queries (or connect_query) */
	struct stat_list tested_servers;   /* running server_check_query before a client gets it */
	struct stat_list login_servers;    /* connecting and logging in */
	/* what servers of this pool reported at login, to greet clients */
	struct pf_welcome welcome;
	bool welcome_ok;
	/* a failed server login: its error goes to waiting clients; retry after server_login_retry */
	bool last_login_failed;
	uint64_t last_login_fail_usec;
	char *last_login_error;
	char last_login_sqlstate[6];
	struct event retry_timer;
	bool retry_timer_set;
	uint64_t last_used_usec;    /* last time it had a client or a server (pool_idle_timeout) */
	/* Tenants with their scheduler (pool_tenants.h); NULL until a client of a tenant with a
	 * [tenants] entry joins, and always with tenant_key = none: then waiting_clients alone is
	 * the queue, first come first served. */
	struct pf_pool_tenants *tenants;
};

/* Process-wide state: the running config, the objects, the counters. */
struct pf_state {
	struct event_base *base;
	struct pf_conf *conf;
	struct pf_settings *set;    /* = &conf->set */
	struct pf_userlist *userlist;
	struct pf_hba *hba;               /* auth_hba_file, when auth_type = hba */
	struct pf_ident *ident;           /* auth_ident_file, if set */
	struct list_head databases;
	struct list_head users;
	struct list_head pools;
	struct stat_list login_clients;   /* connected, not logged in yet */
	struct stat_list cancel_clients;  /* connections that sent a CancelRequest */
	int client_count;                 /* every client connection, for max_client_conn */
	uint64_t next_conn_id;            /* ids shared by clients and servers */
	bool shutting_down;
	int shutdown_mode;                /* 0 none, 1 wait for servers, 2 wait for clients */
	bool paused;                      /* PAUSE (all databases) */
	uid_t my_uid;
	uint64_t start_usec;
	struct pf_database *admin_db;     /* the console's virtual database */
	/* Hooks the upper layers register, so lower ones can reach them. */
	void (*shutdown_hook)(int mode);  /* main: SHUTDOWN from the console */
	/* main: settings changed by RELOAD or SET: re-apply them; with `tls`, also rebuild the
	 * TLS contexts (certificate files are read again). -1 (reason in err) when TLS failed. */
	int (*settings_hook)(bool tls, char *err, size_t errlen);
	/* admin: a console client's message (struct pf_client *, const struct pf_pkt *) */
	int (*admin_packet)(void *client, const void *pkt);
};

extern struct pf_state pf_state;

/* Every pool; the body may close connections of the pool (not free the pool). */
#define pf_for_each_pool(pool)                                                                        \
	for (struct list_head *pos_ = pf_state.pools.next, *tmp_ = pos_->next; pos_ != &pf_state.pools; \
	     pos_ = tmp_, tmp_ = pos_->next)                                                               \
		if (((pool) = container_of(pos_, struct pf_pool, node)), 1)

/*
 * Every server list of a pool, in SHOW SERVERS order; all but PF_IDLE_LIST hold servers in
 * use. One definition, so that a walk over "all servers" cannot forget a list.
 */
#define PF_SERVER_LISTS 5
#define PF_IDLE_LIST 1
static inline void pf_pool_server_lists(struct pf_pool *pool, struct stat_list *lists[PF_SERVER_LISTS])
{
	lists[0] = &pool->active_servers;
	lists[PF_IDLE_LIST] = &pool->idle_servers;
	lists[2] = &pool->used_servers;
	lists[3] = &pool->tested_servers;
	lists[4] = &pool->login_servers;
}

/* The idle server to hand out next: the oldest with server_round_robin, else the one used
 * last (LIFO keeps the fewest servers busy); NULL when none is idle. */
static inline struct list_head *pf_pool_next_idle(struct pf_pool *pool)
{
	return pf_state.set->server_round_robin ? statlist_first(&pool->idle_servers)
						: statlist_last(&pool->idle_servers);
}

/* A pool's client lists, for walks over every client of it. */
#define PF_CLIENT_LISTS 3
static inline void pf_pool_client_lists(struct pf_pool *pool, struct stat_list *lists[PF_CLIENT_LISTS])
{
	lists[0] = &pool->active_clients;
	lists[1] = &pool->waiting_clients;
	lists[2] = &pool->welcome_clients;
}

void pf_pool_state_init(struct event_base *base, struct pf_conf *conf, struct pf_userlist *userlist);
void pf_pool_state_free(void);
/* auth_hba_file (when auth_type = hba) and auth_ident_file (when set) of these settings;
 * -1 with "file:line: reason" in err. NULL outputs when not used. */
int pf_auth_files_load(const struct pf_settings *set, struct pf_hba **hba, struct pf_ident **ident, char *err,
		       size_t errlen);
void pf_auth_files_free(struct pf_hba *hba, struct pf_ident *ident);
/* RELOAD: read the config file, auth_file, auth_hba_file and auth_ident_file again;
 * -1 (reason in err) keeps the running ones. */
int pf_reload(char *err, size_t errlen);
/* Use a newly loaded config and auth_file (the caller frees the old ones). */
void pf_pool_state_swap_config(struct pf_conf *conf, struct pf_userlist *userlist);

uint64_t pf_usec_now(void);

/* Does this name the console's virtual database? */
bool pf_is_admin_dbname(const char *name);
/* Create the database objects of every [databases] entry (SHOW DATABASES lists them). */
void pf_pool_create_configured(void);
/* The user object of that name, made when auth_file does not have it (console logins). */
struct pf_user *pf_user_find_or_make(const char *name);

/* Lookups. A database named like the request, else one made from "*", else NULL. */
struct pf_database *pf_database_find(const char *name);
struct pf_database *pf_database_find_or_auto(const char *name);
/* load_balance_hosts: the host index a new server connection tries first (0 with no list). */
int pf_database_pick_host(struct pf_database *db);
/* Connecting to host i failed: with load_balance_hosts=disable, later servers start past it. */
void pf_database_host_failed(struct pf_database *db, int i);
/* The user of that name from auth_file (created on first use), or NULL. */
struct pf_user *pf_user_find(const char *name);
struct pf_pool *pf_pool_get(struct pf_database *db, struct pf_user *user);
/* The auth_query pool of (db, user): a pool of its own, never the one clients use. */
struct pf_pool *pf_pool_get_auth(struct pf_database *db, struct pf_user *user);
/* A new secret for a user (NULL = none): what was derived from the old one is dropped. */
void pf_user_set_secret(struct pf_user *user, const char *secret);

struct pf_sock_opts;
/* The TCP options of the running config. */
void pf_state_sock_opts(struct pf_sock_opts *opts);
/* Free a pool that has no clients and no servers left. */
void pf_pool_free_unused(struct pf_pool *pool);
/* Free an auto-database whose pools are all unused (and no login refers to it). */
void pf_database_free_auto(struct pf_database *db);

#include "pool/limits.h"

#endif
