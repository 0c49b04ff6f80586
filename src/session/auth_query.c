/*
 * auth_query.c - fetching from PostgreSQL the secret of a user that auth_file does not have
 * (auth_user, auth_query, auth_dbname; [databases] values over [pgbouncer] ones), while the
 * client's login waits.
 *
 * A lookup runs on a server of a pool of its own, (auth database, auth_user) with is_auth set,
 * whose servers are never given to a client. No client's startup parameters or SETs can reach
 * the session the query runs in, so a client that sends search_path cannot change which
 * function an unqualified name in auth_query resolves to (CVE-2025-12819, where PgBouncer ran
 * the query with the connecting client's parameters applied). The user name is the query's
 * $1 in the extended protocol, never spliced into the SQL.
 *
 * The auth pool opens servers like any pool (pool_size, max_db_connections, server_login_retry,
 * server_check_query); waiting lookups are its demand, and a free server takes the oldest one.
 * A lookup ends with a secret, with none (no row, or NULL: an unknown, expired or passwordless
 * role; the login then fails like a wrong password), or with an error the client is told.
 * query_wait_timeout bounds the wait for a server, query_timeout (else client_login_timeout)
 * the query itself; a client that leaves detaches its lookup.
 */
#include "session/auth_query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/build.h"
#include "proto/parse.h"
#include "proto/proto.h"
#include "session/cancel.h"
#include "session/client.h"
#include "session/link.h"
#include "session/server.h"
#include "util/log.h"

enum lookup_state {
	LOOKUP_WAITING, /* on pool->auth_lookups */
	LOOKUP_RUNNING, /* its query is on a server */
	LOOKUP_DONE,    /* the outcome is known; done_ev delivers it */
};

struct pf_auth_lookup {
	struct list_head node;
	enum lookup_state state;
	struct pf_client *client; /* NULL once the client left */
	struct pf_pool *pool;
	struct pf_server *server; /* while running */
	char *user_name;
	char *query;              /* auth_query as it was when the login started (RELOAD) */
	uint64_t queued_usec;
	uint64_t run_usec;
	/* the answer */
	int rows;
	bool bad_row;             /* not two columns, or a secret with a NUL byte */
	bool query_error;
	char *secret;             /* column 2 of the row; NULL = none */
	char *error;              /* failed: what the client is told */
	struct event done_ev;
};

static const char *nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

static const char *auth_user_name(const struct pf_database *db)
{
	return db->auth_user ? db->auth_user : nonempty(pf_state.set->auth_user);
}

bool pf_auth_query_configured(const struct pf_database *db)
{
	/* The console's users must be in auth_file: it has no server to ask. */
	return !db->is_admin && auth_user_name(db) != NULL;
}

/*
 * The user the auth pool's servers log in as: the auth database's forced user of that name
 * (user= and password= in its connect string), else auth_file's entry. A secret auth_query
 * itself learned cannot be what auth_query depends on.
 */
static struct pf_user *auth_user_object(struct pf_database *adb, const char *name)
{
	if (adb->forced_user && strcmp(adb->forced_user->name, name) == 0 && adb->forced_user->secret)
		return adb->forced_user;
	struct pf_user *user = pf_user_find(name);
	return user && user->secret && !user->dynamic ? user : NULL;
}

static void lookup_free(struct pf_auth_lookup *lookup)
{
	event_del(&lookup->done_ev);
	free(lookup->user_name);
	free(lookup->query);
	free(lookup->secret);
	free(lookup->error);
	free(lookup);
}

/* A secret from auth_query: the user object keeps it for this login and its pool's servers. */
static struct pf_user *learn(const char *name, const char *secret)
{
	struct pf_user *user = pf_user_find(name);
	/* RELOAD may have put the user into auth_file meanwhile: that secret wins. */
	if (user && user->secret && !user->dynamic)
		return user;
	if (!user)
		user = pf_user_find_or_make(name);
	user->dynamic = true;
	pf_user_set_secret(user, secret);
	return user;
}

/* No secret now (expired, dropped, password removed): servers must not log in with the old one. */
static void forget(const char *name)
{
	struct pf_user *user = pf_user_find(name);
	if (user && user->dynamic)
		pf_user_set_secret(user, NULL);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct pf_auth_lookup *lookup = arg;
	struct pf_client *client = lookup->client;
	struct pf_user *user = NULL;
	char error[256] = "";
	if (lookup->error)
		snprintf(error, sizeof(error), "%s", lookup->error);
	else if (lookup->secret)
		user = learn(lookup->user_name, lookup->secret);
	else
		forget(lookup->user_name);
	/* Freed first: the client may close (and cancel its lookup) in the callback. */
	lookup_free(lookup);
	if (client)
		pf_client_login_lookup_done(client, user, error[0] ? error : NULL);
}

/*
 * The lookup is over. The client hears of it from the event loop, so that nobody up the
 * stack (a server's packet loop, the janitor, pf_auth_query_start) sees it change.
 */
static void finish(struct pf_auth_lookup *lookup, const char *error)
{
	if (lookup->state == LOOKUP_WAITING)
		statlist_remove(&lookup->pool->auth_lookups, &lookup->node);
	if (lookup->server)
		lookup->server->auth_lookup = NULL;
	lookup->server = NULL;
	lookup->state = LOOKUP_DONE;
	if (error && !lookup->error)
		lookup->error = pf_xstrdup(error);
	if (!lookup->client) {
		lookup_free(lookup);
		return;
	}
	event_active(&lookup->done_ev, EV_TIMEOUT, 0);
}

/* Parse (unnamed), Bind $1 = the user name, Execute, Sync on a free server of the auth pool. */
static void run(struct pf_auth_lookup *lookup, struct pf_server *server)
{
	statlist_remove(&lookup->pool->auth_lookups, &lookup->node);
	lookup->state = LOOKUP_RUNNING;
	lookup->server = server;
	lookup->run_usec = pf_usec_now();
	server->auth_lookup = lookup;
	server->last_used_usec = lookup->run_usec;
	pf_server_change_state(server, SV_ACTIVE);
	const char *params[] = { lookup->user_name };
	struct pf_buf b;
	pf_buf_init(&b);
	pf_build_parse(&b, "", lookup->query);
	pf_build_bind_text(&b, "", "", params, 1);
	pf_build_execute(&b, "", 0);
	pf_build_sync(&b);
	bool ok = pf_server_send_internal_msgs(server, &b, 1, AFTER_AUTH_QUERY);
	pf_buf_free(&b);
	if (!ok)
		pf_server_close(server, "server conn crashed?");
}

/* Waiting lookups take idle servers (after server_check_query when due), else the pool opens one. */
static void dispatch(struct pf_pool *pool)
{
	if (pf_state.paused || pool->db->paused)
		return; /* as clients do: they wait for RESUME */
	/* A server being checked takes the oldest lookup when the check is done. */
	while (statlist_count(&pool->auth_lookups) > statlist_count(&pool->tested_servers)) {
		struct list_head *item = pf_pool_next_idle(pool);
		if (!item)
			break;
		struct pf_server *server = container_of(item, struct pf_server, node);
		const char *check = pf_link_check_query_due(server);
		if (!check) {
			run(container_of(statlist_first(&pool->auth_lookups), struct pf_auth_lookup, node), server);
			continue;
		}
		pf_server_change_state(server, SV_TESTED);
		if (!pf_server_send_internal(server, &check, 1, AFTER_IDLE))
			pf_server_close(server, "server conn crashed?");
	}
	if (statlist_count(&pool->auth_lookups) > statlist_count(&pool->tested_servers))
		pf_link_maybe_launch(pool);
}

struct pf_auth_lookup *pf_auth_query_start(struct pf_client *client, const char *user_name, const char **sqlstate,
					   const char **error)
{
	struct pf_database *db = client->db;
	const char *au = auth_user_name(db);
	const char *dbname = db->auth_dbname ? db->auth_dbname : nonempty(pf_state.set->auth_dbname);
	const char *query = db->auth_query ? db->auth_query : nonempty(pf_state.set->auth_query);
	/* auth_dbname names a [databases] entry, as in PgBouncer; without it, the client's database. */
	struct pf_database *adb = dbname ? pf_database_find(dbname) : db;
	*sqlstate = "28000";
	*error = "bouncer config error";
	if (!adb || adb->is_admin) {
		pf_client_log(client, LOG_LVL_WARNING, "auth_dbname \"%s\" is not a database of [databases]", dbname);
		return NULL;
	}
	if (!query) {
		pf_client_log(client, LOG_LVL_WARNING, "auth_query is empty");
		return NULL;
	}
	if (adb->disabled) {
		*sqlstate = "08P01";
		*error = "authentication database is disabled";
		return NULL;
	}
	struct pf_user *auth_user = auth_user_object(adb, au);
	if (!auth_user) {
		pf_client_log(client, LOG_LVL_WARNING, "auth_user \"%s\" has no password in auth_file", au);
		return NULL;
	}
	struct pf_auth_lookup *lookup = pf_xcalloc(1, sizeof(*lookup));
	lookup->client = client;
	lookup->pool = pf_pool_get_auth(adb, auth_user);
	lookup->user_name = pf_xstrdup(user_name);
	lookup->query = pf_xstrdup(query);
	lookup->queued_usec = pf_usec_now();
	lookup->state = LOOKUP_WAITING;
	event_assign(&lookup->done_ev, pf_state.base, -1, 0, on_done, lookup);
	statlist_append(&lookup->pool->auth_lookups, &lookup->node);
	dispatch(lookup->pool);
	return lookup;
}

void pf_auth_query_cancel(struct pf_auth_lookup *lookup)
{
	lookup->client = NULL;
	switch (lookup->state) {
	case LOOKUP_WAITING:
		statlist_remove(&lookup->pool->auth_lookups, &lookup->node);
		lookup_free(lookup);
		break;
	case LOOKUP_RUNNING:
		break; /* the server finishes the query; the answer is dropped then */
	case LOOKUP_DONE:
		lookup_free(lookup);
		break;
	}
}

bool pf_auth_query_server_ready(struct pf_server *server)
{
	struct pf_pool *pool = server->pool;
	struct list_head *first = statlist_first(&pool->auth_lookups);
	if (!first)
		return false;
	run(container_of(first, struct pf_auth_lookup, node), server);
	if (statlist_count(&pool->auth_lookups) > statlist_count(&pool->tested_servers))
		pf_link_maybe_launch(pool);
	return true;
}

/* The first row: column 1 is the role name (not used: the client's name is), column 2 the secret. */
static void take_row(struct pf_server *server, struct pf_auth_lookup *lookup, const struct pf_pkt *pkt)
{
	if (++lookup->rows > 1)
		return;
	const uint8_t *values[2];
	int32_t lens[2];
	int n = 0;
	if (pf_parse_data_row(pkt->body, pkt->body_len, values, lens, 2, &n) < 0 || n != 2) {
		pf_server_log(server, LOG_LVL_WARNING, "auth_query returned %d columns, expected 2 (user name, secret)",
			      n);
		lookup->bad_row = true;
		return;
	}
	if (!values[1])
		return; /* NULL: no password, or expired (rolvaliduntil) */
	if (memchr(values[1], 0, (size_t)lens[1])) {
		lookup->bad_row = true;
		return;
	}
	lookup->secret = pf_xstrndup((const char *)values[1], (size_t)lens[1]);
}

/* ReadyForQuery: the answer is complete. */
static void complete(struct pf_server *server, struct pf_auth_lookup *lookup)
{
	const char *error = NULL;
	if (lookup->query_error) {
		error = "auth_query failed: the query returned an error";
	} else if (lookup->rows > 1) {
		pf_server_log(server, LOG_LVL_WARNING,
			      "auth_query returned %d rows for user \"%s\", expected at most one", lookup->rows,
			      lookup->user_name);
		error = "auth_query failed: more than one row";
	} else if (lookup->bad_row) {
		error = "auth_query failed: unexpected result";
	} else {
		pf_server_log(server, LOG_LVL_DEBUG, "auth_query for user \"%s\": %s", lookup->user_name,
			      lookup->secret ? "secret found" : "no secret");
	}
	finish(lookup, error);
}

enum pf_pkt_action pf_auth_query_packet(struct pf_server *server, const struct pf_pkt *pkt)
{
	struct pf_auth_lookup *lookup = server->auth_lookup;
	switch (pkt->type) {
	case PF_BE_DATA_ROW:
	case PF_BE_ERROR:
	case PF_BE_READY_FOR_QUERY:
		if (!pkt->full)
			return PKT_NEED_FULL;
		break;
	case PF_BE_PARSE_COMPLETE:
	case PF_BE_BIND_COMPLETE:
	case PF_BE_ROW_DESCRIPTION:
	case PF_BE_COMMAND_COMPLETE:
	case PF_BE_NO_DATA:
	case PF_BE_EMPTY_QUERY:
	case PF_BE_NOTICE:
	case PF_BE_NOTIFICATION:
	case PF_BE_PARAM_STATUS: /* never linked to a client: its parameters do not matter */
		return pkt->full ? PKT_CONSUMED : PKT_SKIP;
	default:
		/* COPY and the like: the session is in a state we do not drive. */
		pf_server_log(server, LOG_LVL_WARNING, "auth_query: unexpected message '%c' from server", pkt->type);
		if (lookup)
			finish(lookup, "auth_query failed: unexpected answer from the server");
		pf_server_close(server, "unexpected message during auth_query");
		return PKT_CLOSED;
	}
	if (pkt->type == PF_BE_DATA_ROW) {
		if (lookup)
			take_row(server, lookup, pkt);
		return PKT_CONSUMED;
	}
	if (pkt->type == PF_BE_ERROR) {
		struct pf_error_fields ef;
		if (pf_parse_error_fields(pkt->body, pkt->body_len, &ef) < 0)
			ef.severity = ef.message = NULL;
		pf_server_log(server, LOG_LVL_WARNING, "auth_query for user \"%s\" failed: %s %s",
			      lookup ? lookup->user_name : "(client gone)", ef.severity ? ef.severity : "",
			      ef.message ? ef.message : "");
		if (lookup)
			lookup->query_error = true;
		return PKT_CONSUMED;
	}
	char status = 'I';
	pf_parse_rfq(pkt->body, pkt->body_len, &status);
	server->tx_status = status;
	server->internal_rfq = 0;
	server->after_internal = AFTER_NOTHING;
	if (lookup)
		complete(server, lookup);
	if (status != 'I') {
		pf_server_close(server, "server not idle after auth_query");
		return PKT_CLOSED;
	}
	pf_link_server_ready(server);
	return server->state == SV_DEAD ? PKT_CLOSED : PKT_CONSUMED;
}

void pf_auth_query_server_gone(struct pf_server *server)
{
	if (server->auth_lookup)
		finish(server->auth_lookup, "auth_query failed: server connection lost");
}

void pf_auth_query_pool_failed(struct pf_pool *pool, const char *message)
{
	if (!statlist_count(&pool->auth_lookups))
		return;
	log_warning("%s/%s: auth_query cannot run, the auth pool cannot log in: %s", pool->db->name, pool->user->name,
		    message);
	struct list_head *pos, *tmp;
	statlist_for_each_safe(pos, tmp, &pool->auth_lookups) {
		finish(container_of(pos, struct pf_auth_lookup, node),
		       "auth_query failed: cannot log in to the auth database");
	}
}

uint64_t pf_auth_query_oldest_wait(struct pf_pool *pool)
{
	struct list_head *first = statlist_first(&pool->auth_lookups);
	return first ? container_of(first, struct pf_auth_lookup, node)->queued_usec : 0;
}

void pf_auth_query_janitor(struct pf_pool *pool, uint64_t now)
{
	/* Paused: lookups wait for RESUME like clients (client_login_timeout still bounds them). */
	usec_t wait_limit = pf_state.paused || pool->db->paused ? 0 : pf_pool_query_wait_timeout(pool);
	struct list_head *pos, *tmp;
	statlist_for_each_safe(pos, tmp, &pool->auth_lookups) {
		struct pf_auth_lookup *lookup = container_of(pos, struct pf_auth_lookup, node);
		if (wait_limit <= 0 || now - lookup->queued_usec <= (uint64_t)wait_limit)
			break; /* oldest first */
		log_warning("%s/%s: auth_query for user \"%s\" waited longer than query_wait_timeout", pool->db->name,
			    pool->user->name, lookup->user_name);
		finish(lookup, "auth_query failed: query_wait_timeout");
	}
	/* The login cannot wait longer than client_login_timeout anyway. */
	usec_t run_limit = pf_pool_query_timeout(pool);
	if (run_limit <= 0)
		run_limit = pf_state.set->client_login_timeout;
	statlist_for_each_safe(pos, tmp, &pool->active_servers) {
		struct pf_server *server = container_of(pos, struct pf_server, node);
		struct pf_auth_lookup *lookup = server->auth_lookup;
		if (!lookup || run_limit <= 0 || now - lookup->run_usec <= (uint64_t)run_limit)
			continue;
		finish(lookup, "auth_query failed: timed out");
		pf_cancel_server(server);
		pf_server_close(server, "auth_query timeout");
	}
	if (statlist_count(&pool->auth_lookups))
		pf_link_maybe_launch(pool);
}
