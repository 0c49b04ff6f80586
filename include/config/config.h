/*
 * config.h - the loaded configuration: [pgbouncer] settings, [databases], [users], [tenants].
 *
 * A pf_conf is built whole by pf_conf_load() and owned by its caller, so that RELOAD
 * can load a new one, compare, and swap (or keep the old one when the file is broken).
 * Field names are the pgbouncer.ini key names. Times are microseconds (usec_t),
 * parsed from seconds (fractions allowed) as PgBouncer does.
 */
#ifndef PF_CONFIG_CONFIG_H
#define PF_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef int64_t usec_t;
#define USEC_PER_SEC 1000000LL

enum pf_pool_mode { POOL_MODE_UNSET = -1, POOL_MODE_SESSION = 0, POOL_MODE_TRANSACTION, POOL_MODE_STATEMENT };

enum pf_auth_type {
	AUTH_TYPE_ANY = 0, AUTH_TYPE_TRUST, AUTH_TYPE_PLAIN, AUTH_TYPE_MD5, AUTH_TYPE_SCRAM,
	AUTH_TYPE_CERT, AUTH_TYPE_HBA, AUTH_TYPE_LDAP, AUTH_TYPE_PAM,
	AUTH_TYPE_PEER, AUTH_TYPE_REJECT, /* only as methods of auth_hba_file lines */
};

enum pf_load_balance { LOAD_BALANCE_DISABLE = 0, LOAD_BALANCE_ROUND_ROBIN };

/* tenant_key: what names a client's tenant (config/tenants.h has the details). */
enum pf_tenant_key { TENANT_KEY_NONE = 0, TENANT_KEY_APPLICATION_NAME, TENANT_KEY_USER, TENANT_KEY_USER_SUFFIX };

/* The [pgbouncer] section. Every key of COMPAT.md has a field here. */
struct pf_settings {
	char *admin_users;
	int application_name_add_host;
	char *auth_dbname;
	char *auth_file;
	char *auth_hba_file;
	char *auth_ident_file;
	char *auth_ldap_options;
	char *auth_query;
	int auth_type; /* enum pf_auth_type */
	char *auth_user;
	usec_t autodb_idle_timeout;
	usec_t cancel_wait_timeout;
	usec_t client_idle_timeout;
	usec_t client_login_timeout;
	char *client_tls13_ciphers;
	char *client_tls_ca_file;
	char *client_tls_cert_file;
	char *client_tls_ciphers;
	char *client_tls_dheparams;
	char *client_tls_ecdhcurve;
	char *client_tls_key_file;
	char *client_tls_protocols;
	char *client_tls_sslmode;
	char *conffile;
	int default_pool_size;
	int disable_pqexec;
	usec_t dns_max_ttl;
	usec_t dns_nxdomain_ttl;
	usec_t dns_zone_check_period;
	usec_t idle_transaction_timeout;
	char *ignore_startup_parameters;
	char *job_name; /* alias service_name */
	char *listen_addr;
	int listen_backlog;
	int listen_port;
	int log_connections;
	int log_disconnections;
	int log_pooler_errors;
	int log_stats;
	char *logfile;
	int max_client_conn;
	int max_db_client_connections;
	int max_db_connections;
	int max_packet_size;
	int max_prepared_statements;
	int max_user_client_connections;
	int max_user_connections;
	int min_pool_size;
	int peer_id;
	char *pidfile;
	int pkt_buf;
	usec_t pool_idle_timeout;
	int pool_mode; /* enum pf_pool_mode */
	usec_t query_timeout;
	usec_t query_wait_notify;
	usec_t query_wait_timeout;
	int reserve_pool_size;
	usec_t reserve_pool_timeout;
	char *resolv_conf;
	int sbuf_loopcnt;
	int scram_iterations;
	usec_t server_check_delay;
	char *server_check_query;
	usec_t server_connect_timeout;
	int server_fast_close;
	usec_t server_idle_timeout;
	usec_t server_lifetime;
	usec_t server_login_retry;
	char *server_reset_query;
	int server_reset_query_always;
	int server_round_robin;
	char *server_tls13_ciphers;
	char *server_tls_ca_file;
	char *server_tls_cert_file;
	char *server_tls_ciphers;
	char *server_tls_key_file;
	char *server_tls_protocols;
	char *server_tls_sslmode;
	int so_reuseport;
	usec_t stats_period;
	char *stats_users;
	usec_t suspend_timeout;
	int syslog;
	char *syslog_facility;
	char *syslog_ident;
	int tcp_defer_accept;
	int tcp_keepalive;
	int tcp_keepcnt;
	int tcp_keepidle;
	int tcp_keepintvl;
	int tcp_socket_buffer;
	int tcp_user_timeout;
	int tenant_key;         /* enum pf_tenant_key */
	char *tenant_separator; /* for TENANT_KEY_USER_SUFFIX */
	char *track_extra_parameters;
	usec_t transaction_timeout;
	char *unix_socket_dir;
	char *unix_socket_group;
	int unix_socket_mode;
	char *user;
	int verbose;
};

/* One [databases] entry. Integers are -1 when not given in the connect string. */
struct pf_db_conf {
	char *name;             /* key; "*" is the fallback database */
	char *dbname;           /* NULL = same as name (or client's dbname for "*") */
	char *host;             /* comma list as written; NULL = Unix socket default dir */
	int port;               /* default 5432 */
	char *user;             /* forced user, or NULL */
	char *password;
	char *auth_user;
	char *auth_query;
	char *auth_dbname;
	int pool_size;
	int min_pool_size;
	int reserve_pool_size;  /* also "reserve_pool" */
	char *connect_query;
	int pool_mode;          /* POOL_MODE_UNSET when not given */
	int load_balance_hosts; /* -1 unset, else enum pf_load_balance */
	int max_db_connections;
	int max_db_client_connections;
	usec_t server_lifetime; /* -1 unset */
	usec_t query_wait_timeout; /* -1 unset */
	char *client_encoding;
	char *datestyle;
	char *timezone;
	char *application_name;
	int line;               /* where it was defined, for messages */
	char *file;
};

/* One [users] entry. Integers are -1 (times -1) when not given. */
struct pf_user_conf {
	char *name;
	int pool_size;
	int reserve_pool_size;
	int pool_mode;
	int max_user_connections;
	int max_user_client_connections;
	usec_t query_timeout;
	usec_t idle_transaction_timeout;
	usec_t transaction_timeout;
	usec_t client_idle_timeout;
	usec_t query_wait_timeout;
};

/*
 * One [tenants] entry: `NAME = pool_size=N reserve_pool_size=N ...`. NAME is a tenant name
 * or an fnmatch(3) glob (config/tenants.h says which wins). Every number is -1 when not
 * given, except weight (default 1). What an unset value falls back to is the wiring's
 * business; the intended meaning, as doc/config.md gives it:
 *   pool_size             servers the tenant may hold at once per pool; unset or 0 = no cap
 *                         of its own (the pool's pool_size still binds)
 *   reserve_pool_size     more servers once its oldest waiter waited reserve_pool_timeout;
 *                         unset = 0
 *   reserve_pool_timeout  unset = the [pgbouncer] reserve_pool_timeout; 0 = no reserve
 *   weight                share under contention, 1.. (in-use / weight is compared)
 *   max_client_conn       client connections of the tenant; unset or 0 = no limit of its own
 *   query_wait_timeout    unset = the pool's query_wait_timeout; 0 = off
 */
struct pf_tenant_conf {
	char *name;
	bool is_glob; /* name contains '*', '?' or '[' */
	int pool_size;
	int reserve_pool_size;
	usec_t reserve_pool_timeout;
	int weight;
	int max_client_conn;
	usec_t query_wait_timeout;
	int line; /* where it was defined, for messages */
	char *file;
};

struct pf_conf {
	struct pf_settings set;
	struct pf_db_conf *dbs;
	size_t n_dbs;
	struct pf_user_conf *users;
	size_t n_users;
	struct pf_tenant_conf *tenants; /* in file order (a repeated name keeps its first place) */
	size_t n_tenants;
};

/*
 * Load `path` (with its %include files) into a new pf_conf. On error returns NULL and
 * writes "file:line: reason" into errbuf. Warnings (unknown keys, keys not acted on
 * yet) are logged through util/log.h, once per load.
 */
struct pf_conf *pf_conf_load(const char *path, char *errbuf, size_t errlen);
void pf_conf_free(struct pf_conf *conf);

/* Lookups; NULL when absent. */
const struct pf_db_conf *pf_conf_find_db(const struct pf_conf *conf, const char *name);
const struct pf_user_conf *pf_conf_find_user(const struct pf_conf *conf, const char *name);

#endif
