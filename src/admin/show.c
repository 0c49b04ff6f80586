/*
 * show.c - SHOW commands with PgBouncer's column names, order and types (COMPAT.md), so
 * exporters that read columns by position keep working. New pgfjord data goes into new
 * SHOW commands, never into extra columns here.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "admin/admin.h"
#include "admin/resultset.h"
#include "config/options.h"
#include "config.h"
#include "net/dns.h"
#include "net/iobuf.h"
#include "proto/build.h"
#include "session/auth_query.h"
#include "session/client.h"
#include "session/prepared_path.h"
#include "session/server.h"

static const char *pool_mode_name(int mode)
{
	switch (mode) {
	case POOL_MODE_SESSION:
		return "session";
	case POOL_MODE_TRANSACTION:
		return "transaction";
	case POOL_MODE_STATEMENT:
		return "statement";
	default:
		return NULL;
	}
}

/* A monotonic time as wall-clock text, "2026-11-26 17:11:26 UTC" as PgBouncer prints it. */
static void wall_text(uint64_t mono_usec, char *buf, size_t len)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	time_t t = now.tv_sec - (time_t)((pf_usec_now() - mono_usec) / 1000000ULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

#define for_each_db(db)                                                                                      \
	for (struct list_head *dpos_ = pf_state.databases.next, *dtmp_ = dpos_->next; dpos_ != &pf_state.databases; \
	     dpos_ = dtmp_, dtmp_ = dpos_->next)                                                                   \
		if (((db) = container_of(dpos_, struct pf_database, node)), 1)

static void show_help(struct pf_buf *out)
{
	pf_build_notice(out, "00000", "Console usage", NULL);
	static const char *const lines[] = {
		"SHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION",
		"SHOW PEERS|PEER_POOLS",
		"SHOW SOCKETS|ACTIVE_SOCKETS|LISTS|MEM|STATE",
		"SHOW DNS_HOSTS|DNS_ZONES",
		"SHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS",
		"SHOW TENANTS",
		"SET key = arg",
		"RELOAD",
		"PAUSE [<db>]",
		"RESUME [<db>]",
		"DISABLE <db>",
		"ENABLE <db>",
		"RECONNECT [<db>]",
		"KILL [<db>]",
		"KILL_CLIENT <client_id>",
		"WAIT_CLOSE [<db>]",
		"SHUTDOWN",
		"SHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		pf_build_notice(out, "00000", lines[i], NULL);
	pf_buf_put_u8(out, 'C');
	pf_buf_put_u32(out, 4 + 5);
	pf_buf_put_str(out, "SHOW");
}

static void show_version(struct pf_buf *out)
{
	struct pf_rs rs;
	static const char *const cols[] = { "version" };
	pf_rs_begin(&rs, out, "s", cols);
	pf_rs_row(&rs);
	pf_rs_text(&rs, "pgfjord " PACKAGE_VERSION);
	pf_rs_end(&rs, "SHOW");
}

static void show_config(struct pf_buf *out)
{
	struct pf_rs rs;
	static const char *const cols[] = { "key", "value", "default", "changeable" };
	pf_rs_begin(&rs, out, "ssss", cols);
	size_t n;
	const struct pf_option *opts = pf_options_table(&n);
	for (size_t i = 0; i < n; i++) {
		if (opts[i].flags & OPT_ALIAS)
			continue;
		char *value = pf_option_value_text(pf_state.set, &opts[i]);
		pf_rs_row(&rs);
		pf_rs_text(&rs, opts[i].name);
		pf_rs_text(&rs, value ? value : "");
		pf_rs_text(&rs, opts[i].def ? opts[i].def : "");
		pf_rs_text(&rs, (opts[i].flags & OPT_RELOAD) ? "yes" : "no");
		free(value);
	}
	pf_rs_end(&rs, "SHOW");
}

static const char *load_balance_name(const struct pf_database *db)
{
	return db->load_balance_hosts == LOAD_BALANCE_DISABLE ? "disable" : "round-robin";
}

static void show_databases(struct pf_buf *out)
{
	struct pf_rs rs;
	static const char *const cols[] = { "name", "host", "port", "database", "force_user", "pool_size",
					    "min_pool_size", "reserve_pool_size", "server_lifetime", "pool_mode",
					    "load_balance_hosts", "max_connections", "current_connections",
					    "max_client_connections", "current_client_connections", "paused",
					    "disabled" };
	pf_rs_begin(&rs, out, "ssissiiiissiiiiii", cols);
	const struct pf_settings *set = pf_state.set;
	struct pf_database *db;
	for_each_db(db) {
		pf_rs_row(&rs);
		pf_rs_text(&rs, db->name);
		pf_rs_text(&rs, db->is_admin ? NULL : db->host);
		pf_rs_int(&rs, db->port);
		pf_rs_text(&rs, db->dbname);
		pf_rs_text(&rs, db->is_admin ? "pgbouncer" : db->forced_user ? db->forced_user->name : NULL);
		pf_rs_int(&rs, db->pool_size >= 0 ? db->pool_size : set->default_pool_size);
		pf_rs_int(&rs, db->min_pool_size >= 0 ? db->min_pool_size : set->min_pool_size);
		pf_rs_int(&rs, db->reserve_pool_size >= 0 ? db->reserve_pool_size : set->reserve_pool_size);
		pf_rs_int(&rs, (db->server_lifetime >= 0 ? db->server_lifetime : set->server_lifetime) / USEC_PER_SEC);
		pf_rs_text(&rs, pool_mode_name(db->pool_mode));
		pf_rs_text(&rs, db->is_admin ? NULL : load_balance_name(db));
		pf_rs_int(&rs, pf_db_max_connections(db));
		pf_rs_int(&rs, pf_db_server_count(db));
		pf_rs_int(&rs, pf_db_max_client_connections(db));
		pf_rs_int(&rs, pf_db_client_count(db));
		pf_rs_int(&rs, db->paused || pf_state.paused);
		pf_rs_int(&rs, db->disabled);
	}
	pf_rs_end(&rs, "SHOW");
}

/* When the oldest client (or auth_query lookup) of the pool started waiting; 0 = none waits. */
static uint64_t oldest_wait_start(struct pf_pool *pool)
{
	struct list_head *first = statlist_first(&pool->waiting_clients);
	uint64_t start = first ? container_of(first, struct pf_client, node)->wait_start_usec : 0;
	uint64_t lookup = pf_auth_query_oldest_wait(pool);
	if (lookup && (!start || lookup < start))
		start = lookup;
	return start;
}

/*
 * The auth_query pool of the same (database, user) as a client pool, or the client pool of an
 * auth pool. PgBouncer runs auth_query on the client pool itself, so it shows one row per
 * (database, user); so do we, or exporters that key on those labels see a duplicate.
 */
static struct pf_pool *pool_twin(const struct pf_pool *pool)
{
	struct list_head *pos;
	list_for_each(pos, &pool->db->pools) {
		struct pf_pool *other = container_of(pos, struct pf_pool, db_node);
		if (other != pool && other->user == pool->user && other->is_auth != pool->is_auth)
			return other;
	}
	return NULL;
}

/* The SHOW POOLS counters, summed over a pool and its twin. */
struct pool_counts {
	int cl_active, cl_waiting, sv_active, sv_idle, sv_used, sv_tested, sv_login;
	uint64_t wait_start; /* 0 = nobody waits */
};

static void add_pool_counts(struct pool_counts *c, struct pf_pool *pool)
{
	c->cl_active += statlist_count(&pool->active_clients);
	/* A login waiting for its auth_query lookup waits on the pool, as in PgBouncer. */
	c->cl_waiting += statlist_count(&pool->waiting_clients) + statlist_count(&pool->welcome_clients) +
			 statlist_count(&pool->auth_lookups);
	c->sv_active += statlist_count(&pool->active_servers);
	c->sv_idle += statlist_count(&pool->idle_servers);
	c->sv_used += statlist_count(&pool->used_servers);
	c->sv_tested += statlist_count(&pool->tested_servers);
	c->sv_login += statlist_count(&pool->login_servers);
	uint64_t start = oldest_wait_start(pool);
	if (start && (!c->wait_start || start < c->wait_start))
		c->wait_start = start;
}

static void show_pools(struct pf_buf *out)
{
	struct pf_rs rs;
	static const char *const cols[] = { "database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req",
					    "cl_waiting_cancel_req", "sv_active", "sv_active_cancel", "sv_being_canceled",
					    "sv_idle", "sv_used", "sv_tested", "sv_login", "maxwait", "maxwait_us",
					    "pool_mode", "load_balance_hosts" };
	pf_rs_begin(&rs, out, "ssiiiiiiiiiiiiiss", cols);
	uint64_t now = pf_usec_now();
	struct pf_pool *pool;
	pf_for_each_pool(pool) {
		struct pf_pool *twin = pool_twin(pool);
		if (pool->is_auth && twin)
			continue; /* counted in its client pool's row */
		struct pool_counts c = { 0 };
		add_pool_counts(&c, pool);
		if (twin)
			add_pool_counts(&c, twin);
		uint64_t wait = c.wait_start && now > c.wait_start ? now - c.wait_start : 0;
		pf_rs_row(&rs);
		pf_rs_text(&rs, pool->db->name);
		pf_rs_text(&rs, pool->user->name);
		pf_rs_int(&rs, c.cl_active);
		pf_rs_int(&rs, c.cl_waiting);
		pf_rs_int(&rs, 0);
		pf_rs_int(&rs, 0);
		pf_rs_int(&rs, c.sv_active);
		pf_rs_int(&rs, 0);
		pf_rs_int(&rs, 0);
		pf_rs_int(&rs, c.sv_idle);
		pf_rs_int(&rs, c.sv_used);
		pf_rs_int(&rs, c.sv_tested);
		pf_rs_int(&rs, c.sv_login);
		pf_rs_int(&rs, (int64_t)(wait / 1000000ULL));
		pf_rs_int(&rs, (int64_t)(wait % 1000000ULL));
		pf_rs_text(&rs, pool_mode_name(pf_pool_mode(pool)));
		pf_rs_text(&rs, pool->db->is_admin ? NULL : load_balance_name(pool->db));
	}
	pf_rs_end(&rs, "SHOW");
}

static void show_users(struct pf_buf *out)
{
	struct pf_rs rs;
	static const char *const cols[] = { "name", "pool_size", "reserve_pool_size", "pool_mode", "max_user_connections",
					    "current_connections", "max_user_client_connections",
					    "current_client_connections" };
	pf_rs_begin(&rs, out, "ssssiiii", cols);
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &pf_state.users) {
		struct pf_user *user = container_of(pos, struct pf_user, node);
		const struct pf_user_conf *uc = user->conf;
		pf_rs_row(&rs);
		pf_rs_text(&rs, user->name);
		if (uc && uc->pool_size >= 0)
			pf_rs_int(&rs, uc->pool_size);
		else
			pf_rs_text(&rs, "");
		if (uc && uc->reserve_pool_size >= 0)
			pf_rs_int(&rs, uc->reserve_pool_size);
		else
			pf_rs_text(&rs, "");
		pf_rs_text(&rs, pool_mode_name(uc ? uc->pool_mode : POOL_MODE_UNSET));
		pf_rs_int(&rs, pf_user_max_connections(user));
		pf_rs_int(&rs, pf_user_server_count(user));
		pf_rs_int(&rs, pf_user_max_client_connections(user));
		pf_rs_int(&rs, user->client_count);
	}
	pf_rs_end(&rs, "SHOW");
}

/* The 21 columns of SHOW CLIENTS/SERVERS, and the 7 buffer columns of SHOW SOCKETS. */
static const char *const socket_cols[] = { "type", "user", "database", "replication", "state", "addr", "port",
					   "local_addr", "local_port", "connect_time", "request_time", "wait",
					   "wait_us", "close_needed", "ptr", "link", "remote_pid", "tls",
					   "application_name", "prepared_statements", "id", "recv_pos", "pkt_pos",
					   "pkt_remain", "send_pos", "send_remain", "pkt_avail", "send_avail" };
#define SOCKET_TYPES "ssssssisissiiississiqiiiiiii"

static void local_addr(int fd, char *host, size_t hostlen, int *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	snprintf(host, hostlen, "unix");
	*port = 0;
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	struct pf_addr a;
	pf_addr_from_sockaddr(&a, (struct sockaddr *)&ss);
	if (a.family == AF_INET || a.family == AF_INET6) {
		inet_ntop(a.family, a.ip, host, (socklen_t)hostlen);
		*port = a.port;
	}
}

static void socket_buffer_cols(struct pf_rs *rs, const struct pf_stream *s)
{
	const struct pf_iobuf *b = s->buf;
	pf_rs_int(rs, b ? b->recv_pos : 0);
	pf_rs_int(rs, b ? b->pkt_pos : 0);
	pf_rs_int(rs, s->pkt_remain);
	pf_rs_int(rs, b ? b->send_pos : 0);
	pf_rs_int(rs, b ? b->pkt_pos - b->send_pos : 0);
	pf_rs_int(rs, b ? b->recv_pos - b->pkt_pos : 0);
	pf_rs_int(rs, (int64_t)s->out.len);
}

/* The tls column: empty for plain connections, as PgBouncer. */
static void tls_col(struct pf_rs *rs, const struct pf_stream *s)
{
	char text[160];
	pf_rs_text(rs, s->tls ? pf_tls_describe(s->tls, text, sizeof(text)) : "");
}

static const char *client_state_name(const struct pf_client *client)
{
	switch (client->state) {
	case CL_WAITING:
	case CL_WAITING_LOGIN:
		return "waiting";
	case CL_ACTIVE:
		return client->link ? "active" : "idle";
	case CL_CANCEL:
		return "active_cancel_req";
	default:
		return "login";
	}
}

static void client_row(struct pf_rs *rs, struct pf_client *client, bool sockets)
{
	char addr[64] = "unix", lhost[64], when[64], req[64];
	int lport;
	if (client->addr.family == AF_INET || client->addr.family == AF_INET6)
		inet_ntop(client->addr.family, client->addr.ip, addr, sizeof(addr));
	local_addr(client->stream.fd, lhost, sizeof(lhost), &lport);
	uint64_t wait = client->state == CL_WAITING ? pf_usec_now() - client->wait_start_usec : 0;
	wall_text(client->connect_usec, when, sizeof(when));
	wall_text(client->wait_start_usec ? client->wait_start_usec : client->connect_usec, req, sizeof(req));
	const char *appname = pf_tracked_index("application_name") >= 0
				      ? pf_tracked_get(&client->params, pf_tracked_index("application_name"))
				      : NULL;
	pf_rs_row(rs);
	pf_rs_text(rs, "C");
	pf_rs_text(rs, client->login_user ? client->login_user->name : NULL);
	pf_rs_text(rs, client->db ? client->db->name : NULL);
	pf_rs_text(rs, "none");
	pf_rs_text(rs, client_state_name(client));
	pf_rs_text(rs, addr);
	pf_rs_int(rs, client->addr.port);
	pf_rs_text(rs, lhost);
	pf_rs_int(rs, lport);
	pf_rs_text(rs, when);
	pf_rs_text(rs, req);
	pf_rs_int(rs, (int64_t)(wait / 1000000ULL));
	pf_rs_int(rs, (int64_t)(wait % 1000000ULL));
	pf_rs_int(rs, 0);
	pf_rs_printf(rs, "%p", (void *)client);
	if (client->link)
		pf_rs_printf(rs, "%p", (void *)client->link);
	else
		pf_rs_text(rs, "");
	pf_rs_int(rs, 0);
	tls_col(rs, &client->stream);
	pf_rs_text(rs, appname ? appname : "");
	pf_rs_int(rs, client->ps ? (int64_t)pf_ps_client_count(client->ps) : 0);
	pf_rs_uint(rs, client->id);
	if (sockets)
		socket_buffer_cols(rs, &client->stream);
}

static const char *server_state_name(const struct pf_server *server)
{
	switch (server->state) {
	case SV_ACTIVE:
		return "active";
	case SV_IDLE:
		return "idle";
	case SV_USED:
		return "used";
	case SV_TESTED:
		return "tested";
	default:
		return "new";
	}
}

static void server_row(struct pf_rs *rs, struct pf_server *server, bool sockets)
{
	char addr[64] = "unix", lhost[64], when[64], req[64];
	int lport, port = 0;
	struct pf_addr a;
	pf_addr_from_sockaddr(&a, (const struct sockaddr *)&server->addr);
	if (a.family == AF_INET || a.family == AF_INET6) {
		inet_ntop(a.family, a.ip, addr, sizeof(addr));
		port = a.port;
	} else {
		port = server->pool->db->port;
	}
	local_addr(server->stream.closed ? -1 : server->stream.fd, lhost, sizeof(lhost), &lport);
	wall_text(server->connect_usec, when, sizeof(when));
	wall_text(server->last_used_usec ? server->last_used_usec : server->connect_usec, req, sizeof(req));
	const char *appname = pf_tracked_index("application_name") >= 0
				      ? pf_tracked_get(&server->params, pf_tracked_index("application_name"))
				      : NULL;
	pf_rs_row(rs);
	pf_rs_text(rs, "S");
	pf_rs_text(rs, server->pool->user->name);
	pf_rs_text(rs, server->pool->db->name);
	pf_rs_text(rs, "none");
	pf_rs_text(rs, server_state_name(server));
	pf_rs_text(rs, addr);
	pf_rs_int(rs, port);
	pf_rs_text(rs, lhost);
	pf_rs_int(rs, lport);
	pf_rs_text(rs, when);
	pf_rs_text(rs, req);
	pf_rs_int(rs, 0);
	pf_rs_int(rs, 0);
	pf_rs_int(rs, server->close_needed);
	pf_rs_printf(rs, "%p", (void *)server);
	if (server->link)
		pf_rs_printf(rs, "%p", (void *)server->link);
	else
		pf_rs_text(rs, "");
	pf_rs_int(rs, server->backend_pid);
	tls_col(rs, &server->stream);
	pf_rs_text(rs, appname ? appname : "");
	pf_rs_int(rs, (int64_t)pf_ps_server_count(&server->ps));
	pf_rs_uint(rs, server->id);
	if (sockets)
		socket_buffer_cols(rs, &server->stream);
}

static void each_client_list(struct pf_rs *rs, bool sockets, bool only_active)
{
	struct stat_list *globals[] = { &pf_state.login_clients, &pf_state.cancel_clients };
	struct list_head *pos, *tmp;
	for (int i = 0; i < 2; i++) {
		statlist_for_each_safe(pos, tmp, globals[i]) {
			struct pf_client *client = container_of(pos, struct pf_client, node);
			if (!only_active || client->stream.buf)
				client_row(rs, client, sockets);
		}
	}
	struct pf_pool *pool;
	pf_for_each_pool(pool) {
		struct stat_list *lists[PF_CLIENT_LISTS];
		pf_pool_client_lists(pool, lists);
		for (int i = 0; i < PF_CLIENT_LISTS; i++) {
			statlist_for_each_safe(pos, tmp, lists[i]) {
				struct pf_client *client = container_of(pos, struct pf_client, node);
				if (!only_active || client->stream.buf)
					client_row(rs, client, sockets);
			}
		}
	}
}

static void each_server_list(struct pf_rs *rs, bool sockets, bool only_active)
{
	struct pf_pool *pool;
	struct list_head *pos, *tmp;
	pf_for_each_pool(pool) {
		struct stat_list *lists[PF_SERVER_LISTS];
		pf_pool_server_lists(pool, lists);
		for (int i = 0; i < PF_SERVER_LISTS; i++) {
			statlist_for_each_safe(pos, tmp, lists[i]) {
				struct pf_server *server = container_of(pos, struct pf_server, node);
				if (!only_active || server->stream.buf)
					server_row(rs, server, sockets);
			}
		}
	}
}

static void show_connections(struct pf_buf *out, bool clients, bool servers, bool sockets, bool only_active)
{
	struct pf_rs rs;
	char types[sizeof(SOCKET_TYPES)];
	snprintf(types, sizeof(types), "%s", SOCKET_TYPES);
	types[sockets ? 28 : 21] = 0;
	pf_rs_begin(&rs, out, types, socket_cols);
	if (clients)
		each_client_list(&rs, sockets, only_active);
	if (servers)
		each_server_list(&rs, sockets, only_active);
	pf_rs_end(&rs, "SHOW");
}

static void show_lists(struct pf_buf *out)
{
	int dbs = 0, users = 0, pools = 0, used_clients = 0, used_servers = 0;
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &pf_state.databases) {
		dbs++;
	}
	list_for_each_safe(pos, tmp, &pf_state.users) {
		users++;
	}
	struct pf_pool *pool;
	pf_for_each_pool(pool) {
		pools++;
		used_clients += statlist_count(&pool->active_clients) + statlist_count(&pool->waiting_clients) +
				statlist_count(&pool->welcome_clients);
		used_servers += pf_pool_server_count(pool);
	}
	struct pf_dns_stats dns;
	pf_dns_get_stats(&dns);
	struct pf_rs rs;
	static const char *const cols[] = { "list", "items" };
	pf_rs_begin(&rs, out, "si", cols);
	const struct {
		const char *name;
		int value;
	} rows[] = {
		{ "databases", dbs },
		{ "users", users },
		{ "peers", 0 },
		{ "pools", pools },
		{ "peer_pools", 0 },
		{ "free_clients", 0 },
		{ "used_clients", used_clients },
		{ "login_clients", statlist_count(&pf_state.login_clients) },
		{ "free_servers", 0 },
		{ "used_servers", used_servers },
		{ "dns_names", dns.names },
		{ "dns_zones", dns.zones },
		{ "dns_queries", dns.queries },
		{ "dns_pending", dns.pending },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		pf_rs_row(&rs);
		pf_rs_text(&rs, rows[i].name);
		pf_rs_int(&rs, rows[i].value);
	}
	pf_rs_end(&rs, "SHOW");
}

/* One SHOW MEM row: objects of `size` bytes (0: of varying size), `used` of them in use,
 * `spare` kept for reuse, `total` bytes. */
static void mem_row(struct pf_rs *rs, const char *name, int size, int used, int spare, int64_t total)
{
	pf_rs_row(rs);
	pf_rs_text(rs, name);
	pf_rs_int(rs, size);
	pf_rs_int(rs, used);
	pf_rs_int(rs, spare);
	pf_rs_int(rs, total);
}

static void show_mem(struct pf_buf *out)
{
	struct pf_rs rs;
	static const char *const cols[] = { "name", "size", "used", "free", "memtotal" };
	pf_rs_begin(&rs, out, "siiii", cols);
	int used, spare;
	pf_iobuf_counts(false, &used, &spare);
	int bufsize = (int)pf_iobuf_standard_size();
	mem_row(&rs, "iobuf_cache", bufsize, used, spare, (int64_t)bufsize * (used + spare));
	pf_iobuf_counts(true, &used, &spare); /* the bytes of waiting clients (net/iobuf.h) */
	mem_row(&rs, "iobuf_small", PF_IOBUF_SMALL_SIZE, used, spare, (int64_t)PF_IOBUF_SMALL_SIZE * (used + spare));
	int clients = pf_client_total();
	mem_row(&rs, "client_cache", (int)sizeof(struct pf_client), clients, 0, (int64_t)sizeof(struct pf_client) * clients);
	mem_row(&rs, "param_values", 0, pf_interned_count(), 0, 0); /* size varies: not counted */
	size_t statements, text_bytes;
	pf_pp_registry_usage(&statements, &text_bytes);
	mem_row(&rs, "prepared_statements", 0, (int)statements, 0, (int64_t)text_bytes); /* their query texts */
	pf_rs_end(&rs, "SHOW");
}

static void show_state(struct pf_buf *out)
{
	struct pf_rs rs;
	static const char *const cols[] = { "key", "value" };
	pf_rs_begin(&rs, out, "ss", cols);
	const char *rows[][2] = {
		{ "active", pf_state.shutting_down ? "no" : "yes" },
		{ "paused", pf_state.paused ? "yes" : "no" },
		{ "suspended", "no" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		pf_rs_row(&rs);
		pf_rs_text(&rs, rows[i][0]);
		pf_rs_text(&rs, rows[i][1]);
	}
	pf_rs_end(&rs, "SHOW");
}

static void dns_host_row(void *arg, const char *host, usec_t ttl_left, const char *addrs)
{
	struct pf_rs *rs = arg;
	pf_rs_row(rs);
	pf_rs_text(rs, host);
	pf_rs_int(rs, ttl_left / USEC_PER_SEC);
	pf_rs_text(rs, addrs);
}

static void show_dns_hosts(struct pf_buf *out)
{
	struct pf_rs rs;
	static const char *const cols[] = { "hostname", "ttl", "addrs" };
	pf_rs_begin(&rs, out, "sqs", cols);
	pf_dns_foreach_host(dns_host_row, &rs);
	pf_rs_end(&rs, "SHOW");
}

static void dns_zone_row(void *arg, const char *zone, uint32_t serial, int names)
{
	struct pf_rs *rs = arg;
	pf_rs_row(rs);
	pf_rs_text(rs, zone);
	pf_rs_int(rs, serial);
	pf_rs_int(rs, names);
}

static void show_dns_zones(struct pf_buf *out)
{
	struct pf_rs rs;
	static const char *const cols[] = { "zonename", "serial", "count" };
	pf_rs_begin(&rs, out, "sqi", cols);
	pf_dns_foreach_zone(dns_zone_row, &rs);
	pf_rs_end(&rs, "SHOW");
}

static void show_empty(struct pf_buf *out, const char *types, const char *const *cols)
{
	struct pf_rs rs;
	pf_rs_begin(&rs, out, types, cols);
	pf_rs_end(&rs, "SHOW");
}

/* The eleven figures, in SHOW STATS order. */
static void stats_values(uint64_t v[11], const struct pf_stats *s)
{
	uint64_t src[11] = { s->server_assignment_count, s->xact_count, s->query_count, s->bytes_received,
			     s->bytes_sent, s->xact_time, s->query_time, s->wait_time, s->client_parse_count,
			     s->server_parse_count, s->bind_count };
	memcpy(v, src, sizeof(src));
}

static void avg_values(uint64_t v[11], const struct pf_stats_avg *a)
{
	uint64_t src[11] = { a->server_assignment_count, a->xact_count, a->query_count, a->bytes_received,
			     a->bytes_sent, a->xact_time, a->query_time, a->wait_time, a->client_parse_count,
			     a->server_parse_count, a->bind_count };
	memcpy(v, src, sizeof(src));
}

static const char *const stat_names[] = { "server_assignment_count", "xact_count", "query_count", "bytes_received",
					  "bytes_sent", "xact_time", "query_time", "wait_time",
					  "client_parse_count", "server_parse_count", "bind_count" };

static void show_stats(struct pf_buf *out, bool totals, bool averages)
{
	static const char *const stats_cols[] = {
		"database", "total_server_assignment_count", "total_xact_count", "total_query_count", "total_received",
		"total_sent", "total_xact_time", "total_query_time", "total_wait_time", "total_client_parse_count",
		"total_server_parse_count", "total_bind_count", "avg_server_assignment_count", "avg_xact_count",
		"avg_query_count", "avg_recv", "avg_sent", "avg_xact_time", "avg_query_time", "avg_wait_time",
		"avg_client_parse_count", "avg_server_parse_count", "avg_bind_count"
	};
	static const char *const totals_cols[] = { "database", "server_assignment_count", "xact_count", "query_count",
						   "bytes_received", "bytes_sent", "xact_time", "query_time",
						   "wait_time", "client_parse_count", "server_parse_count", "bind_count" };
	static const char *const averages_cols[] = { "database", "server_assignment_count", "xact_count",
						     "query_count", "bytes_received", "bytes_sent", "xact_time",
						     "query_time", "wait_time", "avg_client_parse_count",
						     "avg_server_parse_count", "avg_bind_count" };
	struct pf_rs rs;
	if (totals && averages)
		pf_rs_begin(&rs, out, "sNNNNNNNNNNNNNNNNNNNNNN", stats_cols);
	else
		pf_rs_begin(&rs, out, "sNNNNNNNNNNN", totals ? totals_cols : averages_cols);
	struct pf_database *db;
	for_each_db(db) {
		uint64_t t[11], a[11];
		stats_values(t, &db->stats);
		avg_values(a, &db->stats_avg);
		pf_rs_row(&rs);
		pf_rs_text(&rs, db->name);
		for (int i = 0; totals && i < 11; i++)
			pf_rs_uint(&rs, t[i]);
		for (int i = 0; averages && i < 11; i++)
			pf_rs_uint(&rs, a[i]);
	}
	pf_rs_end(&rs, "SHOW");
}

static void show_totals(struct pf_buf *out)
{
	struct pf_stats total = { 0 };
	struct pf_stats_avg avg = { 0 };
	struct pf_database *db;
	for_each_db(db) {
		pf_stats_add(&total, &db->stats);
		uint64_t *dst = (uint64_t *)&avg;
		const uint64_t *src = (const uint64_t *)&db->stats_avg;
		for (size_t i = 0; i < sizeof(avg) / sizeof(uint64_t); i++)
			dst[i] += src[i];
	}
	uint64_t t[11], a[11];
	stats_values(t, &total);
	avg_values(a, &avg);
	struct pf_rs rs;
	static const char *const cols[] = { "name", "value" };
	pf_rs_begin(&rs, out, "sN", cols);
	for (int i = 0; i < 11; i++) {
		pf_rs_row(&rs);
		pf_rs_printf(&rs, "total_%s", stat_names[i]);
		pf_rs_uint(&rs, t[i]);
	}
	for (int i = 0; i < 11; i++) {
		pf_rs_row(&rs);
		pf_rs_printf(&rs, "avg_%s", stat_names[i]);
		pf_rs_uint(&rs, a[i]);
	}
	pf_rs_end(&rs, "SHOW");
}

bool pf_admin_show(struct pf_client *client, const char *what, const char *arg, struct pf_buf *out)
{
	static const char *const peers_cols[] = { "peer_id", "host", "port", "pool_size" };
	static const char *const peer_pools_cols[] = { "peer_id", "cl_active_cancel_req", "cl_waiting_cancel_req",
						       "sv_active_cancel", "sv_login" };
	if (strcasecmp(what, "HELP") == 0)
		show_help(out);
	else if (strcasecmp(what, "VERSION") == 0)
		show_version(out);
	else if (strcasecmp(what, "CONFIG") == 0)
		show_config(out);
	else if (strcasecmp(what, "DATABASES") == 0)
		show_databases(out);
	else if (strcasecmp(what, "POOLS") == 0)
		show_pools(out);
	else if (strcasecmp(what, "USERS") == 0)
		show_users(out);
	else if (strcasecmp(what, "CLIENTS") == 0)
		show_connections(out, true, false, false, false);
	else if (strcasecmp(what, "SERVERS") == 0)
		show_connections(out, false, true, false, false);
	else if (strcasecmp(what, "SOCKETS") == 0)
		show_connections(out, true, true, true, false);
	else if (strcasecmp(what, "ACTIVE_SOCKETS") == 0)
		show_connections(out, true, true, true, true);
	else if (strcasecmp(what, "LISTS") == 0)
		show_lists(out);
	else if (strcasecmp(what, "MEM") == 0)
		show_mem(out);
	else if (strcasecmp(what, "STATE") == 0)
		show_state(out);
	else if (strcasecmp(what, "DNS_HOSTS") == 0)
		show_dns_hosts(out);
	else if (strcasecmp(what, "DNS_ZONES") == 0)
		show_dns_zones(out);
	else if (strcasecmp(what, "PEERS") == 0)
		show_empty(out, "isii", peers_cols);
	else if (strcasecmp(what, "PEER_POOLS") == 0)
		show_empty(out, "iiiii", peer_pools_cols);
	else if (strcasecmp(what, "STATS") == 0)
		show_stats(out, true, true);
	else if (strcasecmp(what, "STATS_TOTALS") == 0)
		show_stats(out, true, false);
	else if (strcasecmp(what, "STATS_AVERAGES") == 0)
		show_stats(out, false, true);
	else if (strcasecmp(what, "TOTALS") == 0)
		show_totals(out);
	else if (strcasecmp(what, "TENANTS") == 0)
		pf_admin_show_tenants(out);
	else if (strcasecmp(what, "FDS") == 0)
		pf_build_error(out, "ERROR", "0A000",
			       "SHOW FDS is not supported: pgfjord follows PgBouncer 1.26, which removed it with online restart",
			       NULL, NULL);
	else
		return false;
	(void)client;
	(void)arg;
	return true;
}
