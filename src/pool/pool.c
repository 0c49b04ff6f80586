/* pool.c - databases, users and pools: creation from the config, lookups, limits. */
#include "pool/pool.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "config/hba.h"
#include "config/ident.h"
#include "config/options.h"
#include "config/userlist.h"
#include "net/sock.h"
#include "pool/pool_tenants.h"
#include "util/buf.h"
#include "util/log.h"

struct pf_state pf_state;

static struct pf_user *user_new(const char *name, const char *secret);

uint64_t pf_usec_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

void pf_pool_state_init(struct event_base *base, struct pf_conf *conf, struct pf_userlist *userlist)
{
	memset(&pf_state, 0, sizeof(pf_state));
	pf_state.base = base;
	pf_state.conf = conf;
	pf_state.set = &conf->set;
	pf_state.userlist = userlist;
	list_init(&pf_state.databases);
	list_init(&pf_state.users);
	list_init(&pf_state.pools);
	statlist_init(&pf_state.login_clients);
	statlist_init(&pf_state.cancel_clients);
	pf_state.next_conn_id = 1;
	pf_state.my_uid = getuid();
	pf_state.start_usec = pf_usec_now();
	/* The console's virtual database: no servers, a row in SHOW DATABASES/POOLS. */
	struct pf_database *admin = pf_xcalloc(1, sizeof(*admin));
	admin->name = pf_xstrdup("pgbouncer");
	admin->dbname = pf_xstrdup("pgbouncer");
	admin->port = conf->set.listen_port;
	admin->pool_size = 2;
	admin->min_pool_size = 0;
	admin->pool_mode = POOL_MODE_STATEMENT;
	admin->max_db_connections = admin->max_db_client_connections = -1;
	admin->server_lifetime = admin->query_wait_timeout = -1;
	admin->is_admin = true;
	list_init(&admin->pools);
	list_add_tail(&pf_state.databases, &admin->node);
	pf_state.admin_db = admin;
	pf_pool_create_configured();
}

bool pf_is_admin_dbname(const char *name)
{
	return strcmp(name, "pgbouncer") == 0 || strcmp(name, "pgfjord") == 0;
}

void pf_pool_create_configured(void)
{
	/* Users of auth_file and [users] exist from the start, as in PgBouncer (SHOW USERS). */
	for (size_t i = 0; pf_state.userlist && i < pf_state.userlist->n; i++)
		pf_user_find(pf_state.userlist->entries[i].name);
	for (size_t i = 0; i < pf_state.conf->n_users; i++)
		pf_user_find_or_make(pf_state.conf->users[i].name);
	for (size_t i = 0; i < pf_state.conf->n_dbs; i++) {
		const char *name = pf_state.conf->dbs[i].name;
		if (strcmp(name, "*") != 0)
			pf_database_find(name);
	}
}

struct pf_user *pf_user_find_or_make(const char *name)
{
	struct pf_user *user = pf_user_find(name);
	return user ? user : user_new(name, NULL);
}

static struct pf_user *user_new(const char *name, const char *secret)
{
	struct pf_user *user = pf_xcalloc(1, sizeof(*user));
	user->name = pf_xstrdup(name);
	user->secret = secret ? pf_xstrdup(secret) : NULL;
	user->conf = pf_conf_find_user(pf_state.conf, name);
	list_add_tail(&pf_state.users, &user->node);
	return user;
}

static void user_free(struct pf_user *user)
{
	list_del(&user->node);
	free(user->name);
	free(user->secret);
	free(user->plain_verifier);
	free(user);
}

struct pf_user *pf_user_find(const char *name)
{
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &pf_state.users) {
		struct pf_user *user = container_of(pos, struct pf_user, node);
		if (strcmp(user->name, name) == 0)
			return user;
	}
	const char *secret = pf_state.userlist ? pf_userlist_find(pf_state.userlist, name) : NULL;
	if (!secret)
		return NULL;
	return user_new(name, secret);
}

static void add_startup_param(struct pf_database *db, const char *name, const char *value)
{
	if (!value)
		return;
	db->startup_names[db->n_startup] = pf_xstrdup(name);
	db->startup_values[db->n_startup] = pf_xstrdup(value);
	db->n_startup++;
}

/* Split host=a, b,c into its entries (spaces around commas and empty entries dropped). */
static char **split_hosts(const char *list, int *n_out)
{
	char **hosts = NULL;
	int n = 0;
	for (const char *p = list; p && *p;) {
		size_t len = strcspn(p, ",");
		const char *start = p, *end = p + len;
		while (start < end && *start == ' ')
			start++;
		while (end > start && end[-1] == ' ')
			end--;
		if (end > start) {
			hosts = pf_xrealloc(hosts, sizeof(*hosts) * (size_t)(n + 1));
			hosts[n++] = pf_xstrndup(start, (size_t)(end - start));
		}
		p += len + (p[len] == ',');
	}
	*n_out = n;
	return hosts;
}

static void free_hosts(char **hosts, int n)
{
	for (int i = 0; i < n; i++)
		free(hosts[i]);
	free(hosts);
}

/* Do both lists name the same hosts in the same order? */
static bool same_hosts(char **a, int na, char **b, int nb)
{
	if (na != nb)
		return false;
	for (int i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

int pf_database_pick_host(struct pf_database *db)
{
	if (db->n_hosts <= 1)
		return 0;
	int i = (int)(db->next_host % (unsigned)db->n_hosts);
	if (db->load_balance_hosts == LOAD_BALANCE_ROUND_ROBIN)
		db->next_host = (unsigned)(i + 1) % (unsigned)db->n_hosts;
	return i;
}

void pf_database_host_failed(struct pf_database *db, int i)
{
	/* PgBouncer's "disable": stay on a host until a connection to it fails */
	if (db->load_balance_hosts == LOAD_BALANCE_DISABLE && db->n_hosts > 1 &&
	    db->next_host % (unsigned)db->n_hosts == (unsigned)i)
		db->next_host = (unsigned)(i + 1) % (unsigned)db->n_hosts;
}

static struct pf_user *forced_user_new(const struct pf_db_conf *dc)
{
	/* A forced user logs in with the connect string's password, else auth_file's. */
	struct pf_user *forced = pf_xcalloc(1, sizeof(*forced));
	forced->name = pf_xstrdup(dc->user);
	const char *secret = dc->password;
	if (!secret && pf_state.userlist)
		secret = pf_userlist_find(pf_state.userlist, dc->user);
	forced->secret = secret ? pf_xstrdup(secret) : NULL;
	forced->conf = pf_conf_find_user(pf_state.conf, dc->user);
	list_init(&forced->node);
	return forced;
}

static void forced_user_free(struct pf_user *user)
{
	free(user->name);
	free(user->secret);
	free(user->plain_verifier);
	free(user);
}

/* Forced users replaced by RELOAD stay alive while old pools point at them; freed at exit. */
static struct pf_user **retired_users;
static size_t n_retired_users;

/* The settings a [databases] entry gives (all but the name and the object's lists). */
static void database_apply(struct pf_database *db, const char *name, const struct pf_db_conf *dc)
{
	db->dbname = pf_xstrdup(dc->dbname ? dc->dbname : name);
	db->hosts = split_hosts(dc->host, &db->n_hosts);
	db->host = db->n_hosts ? pf_xstrdup(dc->host) : NULL;
	/* PgBouncer's default is round-robin */
	db->load_balance_hosts = dc->load_balance_hosts >= 0 ? dc->load_balance_hosts : LOAD_BALANCE_ROUND_ROBIN;
	db->port = dc->port > 0 ? dc->port : 5432;
	db->password = dc->password ? pf_xstrdup(dc->password) : NULL;
	db->pool_size = dc->pool_size;
	db->min_pool_size = dc->min_pool_size;
	db->reserve_pool_size = dc->reserve_pool_size;
	db->pool_mode = dc->pool_mode;
	db->max_db_connections = dc->max_db_connections;
	db->max_db_client_connections = dc->max_db_client_connections;
	db->server_lifetime = dc->server_lifetime;
	db->query_wait_timeout = dc->query_wait_timeout;
	db->connect_query = dc->connect_query && *dc->connect_query ? pf_xstrdup(dc->connect_query) : NULL;
	db->auth_user = dc->auth_user && *dc->auth_user ? pf_xstrdup(dc->auth_user) : NULL;
	db->auth_query = dc->auth_query && *dc->auth_query ? pf_xstrdup(dc->auth_query) : NULL;
	db->auth_dbname = dc->auth_dbname && *dc->auth_dbname ? pf_xstrdup(dc->auth_dbname) : NULL;
	add_startup_param(db, "client_encoding", dc->client_encoding);
	add_startup_param(db, "datestyle", dc->datestyle);
	add_startup_param(db, "timezone", dc->timezone);
	add_startup_param(db, "application_name", dc->application_name);
}

static void database_clear(struct pf_database *db)
{
	free(db->dbname);
	free(db->host);
	free_hosts(db->hosts, db->n_hosts);
	db->hosts = NULL;
	db->n_hosts = 0;
	free(db->password);
	free(db->connect_query);
	db->connect_query = NULL;
	free(db->auth_user);
	free(db->auth_query);
	free(db->auth_dbname);
	db->auth_user = db->auth_query = db->auth_dbname = NULL;
	for (int i = 0; i < db->n_startup; i++) {
		free(db->startup_names[i]);
		free(db->startup_values[i]);
	}
	db->n_startup = 0;
	db->dbname = db->host = db->password = NULL;
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static struct pf_database *database_new(const char *name, const struct pf_db_conf *dc, bool is_auto)
{
	struct pf_database *db = pf_xcalloc(1, sizeof(*db));
	db->name = pf_xstrdup(name);
	db->is_auto = is_auto;
	db->last_used_usec = pf_usec_now();
	database_apply(db, name, dc);
	list_init(&db->pools);
	list_add_tail(&pf_state.databases, &db->node);
	/* A forced user's database has its one pool from the start (min_pool_size fills it). */
	if (dc->user) {
		db->forced_user = forced_user_new(dc);
		pf_pool_get(db, db->forced_user);
	}
	if (is_auto)
		log_info("registered new auto-database: db=%s", name);
	return db;
}

/*
 * RELOAD for one database: new settings apply to what is decided from now on. When the
 * server it points at changed, the generation moves on and servers of the old one are
 * closed as they come free, never in the middle of a transaction.
 */
static void database_reload(struct pf_database *db, const struct pf_db_conf *dc)
{
	const char *new_dbname = dc->dbname ? dc->dbname : db->name;
	int n_new_hosts;
	char **new_hosts = split_hosts(dc->host, &n_new_hosts);
	int new_port = dc->port > 0 ? dc->port : 5432;
	bool moved = !same_str(db->dbname, new_dbname) || !same_hosts(db->hosts, db->n_hosts, new_hosts, n_new_hosts) ||
		     db->port != new_port || !same_str(db->password, dc->password) ||
		     !same_str(db->forced_user ? db->forced_user->name : NULL, dc->user);
	free_hosts(new_hosts, n_new_hosts);
	database_clear(db);
	database_apply(db, db->name, dc);
	if (!moved)
		return;
	db->generation++;
	db->next_host = 0;
	log_info("RELOAD: database %s changed: its servers are replaced as they come free", db->name);
	if (db->forced_user) {
		retired_users = pf_xrealloc(retired_users, sizeof(*retired_users) * (n_retired_users + 1));
		retired_users[n_retired_users++] = db->forced_user;
		db->forced_user = NULL;
	}
	if (dc->user) {
		db->forced_user = forced_user_new(dc);
		pf_pool_get(db, db->forced_user);
	}
}

static void pool_free(struct pf_pool *pool);

static void database_free(struct pf_database *db)
{
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &db->pools) {
		pool_free(container_of(pos, struct pf_pool, db_node));
	}
	list_del(&db->node);
	free(db->name);
	database_clear(db);
	if (db->forced_user)
		forced_user_free(db->forced_user);
	free(db);
}

struct pf_database *pf_database_find(const char *name)
{
	if (pf_is_admin_dbname(name))
		return pf_state.admin_db;
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &pf_state.databases) {
		struct pf_database *db = container_of(pos, struct pf_database, node);
		if (!db->removed && strcmp(db->name, name) == 0)
			return db;
	}
	const struct pf_db_conf *dc = pf_conf_find_db(pf_state.conf, name);
	if (dc)
		return database_new(name, dc, false);
	return NULL;
}

struct pf_database *pf_database_find_or_auto(const char *name)
{
	struct pf_database *db = pf_database_find(name);
	if (db)
		return db;
	const struct pf_db_conf *fallback = pf_conf_find_db(pf_state.conf, "*");
	if (!fallback)
		return NULL;
	return database_new(name, fallback, true);
}

static struct pf_pool *pool_find_or_new(struct pf_database *db, struct pf_user *user, bool is_auth)
{
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &db->pools) {
		struct pf_pool *pool = container_of(pos, struct pf_pool, db_node);
		if (pool->user == user && pool->is_auth == is_auth)
			return pool;
	}
	struct pf_pool *pool = pf_xcalloc(1, sizeof(*pool));
	pool->db = db;
	pool->user = user;
	pool->is_auth = is_auth;
	statlist_init(&pool->auth_lookups);
	statlist_init(&pool->active_clients);
	statlist_init(&pool->waiting_clients);
	statlist_init(&pool->welcome_clients);
	statlist_init(&pool->active_servers);
	statlist_init(&pool->idle_servers);
	statlist_init(&pool->used_servers);
	statlist_init(&pool->tested_servers);
	statlist_init(&pool->login_servers);
	pool->last_used_usec = pf_usec_now();
	if (db->is_admin) {
		/* The console greets clients itself: these are the parameters it reports. */
		pf_welcome_set(&pool->welcome, "server_version", "0.1.0/pgfjord");
		pf_welcome_set(&pool->welcome, "server_encoding", "UTF8");
		pf_welcome_set(&pool->welcome, "client_encoding", "UTF8");
		pf_welcome_set(&pool->welcome, "DateStyle", "ISO, MDY");
		pf_welcome_set(&pool->welcome, "TimeZone", "UTC");
		pf_welcome_set(&pool->welcome, "standard_conforming_strings", "on");
		pf_welcome_set(&pool->welcome, "application_name", "");
		pool->welcome_ok = true;
	}
	list_add_tail(&pf_state.pools, &pool->node);
	list_add_tail(&db->pools, &pool->db_node);
	return pool;
}

struct pf_pool *pf_pool_get(struct pf_database *db, struct pf_user *user)
{
	return pool_find_or_new(db, user, false);
}

struct pf_pool *pf_pool_get_auth(struct pf_database *db, struct pf_user *user)
{
	return pool_find_or_new(db, user, true);
}

static void pool_free(struct pf_pool *pool)
{
	if (pool->retry_timer_set)
		event_del(&pool->retry_timer);
	pf_pool_tenants_free(pool);
	list_del(&pool->node);
	list_del(&pool->db_node);
	pf_welcome_clear(&pool->welcome);
	free(pool->last_login_error);
	free(pool);
}

void pf_pool_free_unused(struct pf_pool *pool)
{
	log_info("%s/%s: cleaning up idle pool", pool->db->name, pool->user->name);
	pool_free(pool);
}

void pf_database_free_auto(struct pf_database *db)
{
	log_info("cleaning up idle auto-database: db=%s", db->name);
	database_free(db);
}

void pf_pool_state_free(void)
{
	pf_auth_files_free(pf_state.hba, pf_state.ident);
	pf_state.hba = NULL;
	pf_state.ident = NULL;
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &pf_state.databases) {
		database_free(container_of(pos, struct pf_database, node));
	}
	list_for_each_safe(pos, tmp, &pf_state.users) {
		user_free(container_of(pos, struct pf_user, node));
	}
	for (size_t i = 0; i < n_retired_users; i++)
		forced_user_free(retired_users[i]);
	free(retired_users);
	retired_users = NULL;
	n_retired_users = 0;
}

void pf_state_sock_opts(struct pf_sock_opts *o)
{
	const struct pf_settings *set = pf_state.set;
	o->keepalive = set->tcp_keepalive;
	o->keepcnt = set->tcp_keepcnt;
	o->keepidle = set->tcp_keepidle;
	o->keepintvl = set->tcp_keepintvl;
	o->user_timeout = set->tcp_user_timeout;
	o->socket_buffer = set->tcp_socket_buffer;
}

/* Keys that need a restart keep their running values; a change in the file is only logged. */
static void keep_restart_only_keys(struct pf_settings *new_set, const struct pf_settings *running)
{
	size_t n;
	const struct pf_option *opts = pf_options_table(&n);
	for (size_t i = 0; i < n; i++) {
		const struct pf_option *opt = &opts[i];
		if ((opt->flags & (OPT_RELOAD | OPT_ALIAS)) || strcmp(opt->name, "conffile") == 0)
			continue;
		char *was = pf_option_value_text(running, opt);
		char *now = pf_option_value_text(new_set, opt);
		if (!same_str(was, now)) {
			char err[256];
			log_warning("RELOAD: %s changed from '%s' to '%s' in the file; it needs a restart, keeping '%s'",
				    opt->name, was ? was : "", now ? now : "", was ? was : "");
			pf_option_set(new_set, opt->name, was ? was : "", err, sizeof(err));
		}
		free(was);
		free(now);
	}
}

int pf_auth_files_load(const struct pf_settings *set, struct pf_hba **hba, struct pf_ident **ident, char *err,
		       size_t errlen)
{
	*hba = NULL;
	*ident = NULL;
	if (set->auth_type == AUTH_TYPE_HBA) {
		if (!set->auth_hba_file || !*set->auth_hba_file) {
			snprintf(err, errlen, "auth_type = hba needs auth_hba_file");
			return -1;
		}
		if (!(*hba = pf_hba_load(set->auth_hba_file, err, errlen)))
			return -1;
	}
	if (set->auth_ident_file && *set->auth_ident_file && !(*ident = pf_ident_load(set->auth_ident_file, err, errlen))) {
		pf_hba_free(*hba);
		*hba = NULL;
		return -1;
	}
	return 0;
}

void pf_auth_files_free(struct pf_hba *hba, struct pf_ident *ident)
{
	if (hba)
		pf_hba_free(hba);
	if (ident)
		pf_ident_free(ident);
}

int pf_reload(char *err, size_t errlen)
{
	struct pf_conf *conf = pf_conf_load(pf_state.set->conffile, err, errlen);
	if (!conf)
		return -1;
	struct pf_userlist *userlist = NULL;
	if (conf->set.auth_file && *conf->set.auth_file) {
		userlist = pf_userlist_load(conf->set.auth_file, err, errlen);
		if (!userlist) {
			pf_conf_free(conf);
			return -1;
		}
	}
	struct pf_hba *hba;
	struct pf_ident *ident;
	if (pf_auth_files_load(&conf->set, &hba, &ident, err, errlen) < 0) {
		pf_userlist_free(userlist);
		pf_conf_free(conf);
		return -1;
	}
	/* Logins copy what they need from a rule at once: the old files can go now. */
	pf_auth_files_free(pf_state.hba, pf_state.ident);
	pf_state.hba = hba;
	pf_state.ident = ident;
	keep_restart_only_keys(&conf->set, pf_state.set);
	struct pf_conf *old_conf = pf_state.conf;
	struct pf_userlist *old_userlist = pf_state.userlist;
	pf_pool_state_swap_config(conf, userlist);
	pf_userlist_free(old_userlist);
	pf_conf_free(old_conf);
	log_info("RELOAD: configuration reloaded from %s", conf->set.conffile);
	char tls_err[512];
	if (pf_state.settings_hook && pf_state.settings_hook(true, tls_err, sizeof(tls_err)) < 0)
		log_error("TLS setup failed: %s; keeping the running TLS settings", tls_err);
	return 0;
}

/* Users point into the running config's [users]: after a swap, into the new one. */
static void refresh_user_confs(void)
{
	struct list_head *pos;
	list_for_each(pos, &pf_state.users) {
		struct pf_user *user = container_of(pos, struct pf_user, node);
		user->conf = pf_conf_find_user(pf_state.conf, user->name);
	}
	list_for_each(pos, &pf_state.databases) {
		struct pf_database *db = container_of(pos, struct pf_database, node);
		if (db->forced_user)
			db->forced_user->conf = pf_conf_find_user(pf_state.conf, db->forced_user->name);
	}
	for (size_t i = 0; i < n_retired_users; i++)
		retired_users[i]->conf = pf_conf_find_user(pf_state.conf, retired_users[i]->name);
}

void pf_pool_state_swap_config(struct pf_conf *conf, struct pf_userlist *userlist)
{
	pf_state.conf = conf;
	pf_state.set = &conf->set;
	pf_state.userlist = userlist;
	/* Databases already in use follow their entry; a removed entry takes no new logins. */
	struct list_head *dpos, *dtmp;
	list_for_each_safe(dpos, dtmp, &pf_state.databases) {
		struct pf_database *db = container_of(dpos, struct pf_database, node);
		if (db->is_admin || db->removed)
			continue;
		const struct pf_db_conf *dc = pf_conf_find_db(conf, db->is_auto ? "*" : db->name);
		if (!dc) {
			db->removed = true;
			db->generation++;
			log_info("RELOAD: database %s removed", db->name);
			continue;
		}
		database_reload(db, dc);
	}
	refresh_user_confs();
	/* Tenant records point into [tenants] of the old config, freed after this. */
	struct pf_pool *pool;
	pf_for_each_pool(pool) {
		pf_pool_tenants_refresh(pool);
	}
	pf_pool_create_configured();
	/* Users keep their objects (pools point at them); their secrets follow auth_file. Users
	 * of auth_query keep theirs (and the SCRAM keys their servers log in with) unless
	 * auth_file has them now. */
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &pf_state.users) {
		struct pf_user *user = container_of(pos, struct pf_user, node);
		const char *secret = userlist ? pf_userlist_find(userlist, user->name) : NULL;
		if (user->dynamic && !secret)
			continue;
		user->dynamic = false;
		pf_user_set_secret(user, secret);
	}
}

void pf_user_set_secret(struct pf_user *user, const char *secret)
{
	if (secret && user->secret && strcmp(secret, user->secret) == 0)
		return;
	free(user->secret);
	free(user->plain_verifier);
	user->plain_verifier = NULL;
	user->secret = secret ? pf_xstrdup(secret) : NULL;
	/* Keys a client proved against the old secret do not log in with the new one. */
	user->has_scram_keys = false;
}
