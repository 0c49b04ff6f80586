/* connstr.c - parse [databases] connect strings and [users] and [tenants] settings. */
#include "config/connstr.h"

#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/options.h"
#include "util/buf.h"

static const char *skip_space(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

/*
 * Read a quoted value starting after the opening quote into `out`. Returns the position
 * after the closing quote, or NULL when the quote is never closed.
 */
static const char *read_quoted(const char *p, struct pf_buf *out)
{
	for (;;) {
		if (!*p)
			return NULL;
		if (p[0] == '\\' && (p[1] == '\'' || p[1] == '\\')) {
			pf_buf_put_u8(out, (uint8_t)p[1]); /* libpq's escapes */
			p += 2;
		} else if (p[0] == '\'' && p[1] == '\'') {
			pf_buf_put_u8(out, '\''); /* PgBouncer's doubled quote */
			p += 2;
		} else if (p[0] == '\'') {
			return p + 1;
		} else {
			pf_buf_put_u8(out, (uint8_t)*p++);
		}
	}
}

int pf_connstr_foreach(const char *connstr, pf_connstr_cb cb, void *arg, char *err, size_t errlen)
{
	const char *p = skip_space(connstr);
	struct pf_buf key, value;
	int rc = 0;

	pf_buf_init(&key);
	pf_buf_init(&value);
	while (*p && rc == 0) {
		const char *start = p;

		pf_buf_reset(&key);
		pf_buf_reset(&value);
		while (*p && *p != '=' && !isspace((unsigned char)*p))
			p++;
		if (p == start) {
			snprintf(err, errlen, "syntax error in connect string: missing key before '='");
			rc = -1;
			break;
		}
		pf_buf_put(&key, start, (size_t)(p - start));
		pf_buf_put_u8(&key, 0);
		p = skip_space(p);
		if (*p != '=') {
			snprintf(err, errlen, "syntax error in connect string: missing '=' after \"%s\"", (char *)key.data);
			rc = -1;
			break;
		}
		p = skip_space(p + 1);
		if (*p == '\'') {
			p = read_quoted(p + 1, &value);
			if (!p) {
				snprintf(err, errlen, "syntax error in connect string: unterminated quoted value for \"%s\"",
					 (char *)key.data);
				rc = -1;
				break;
			}
			if (*p && !isspace((unsigned char)*p)) {
				snprintf(err, errlen, "syntax error in connect string: text right after the quoted value of \"%s\"",
					 (char *)key.data);
				rc = -1;
				break;
			}
		} else {
			/* Unquoted: taken literally up to white space, as PgBouncer does. */
			start = p;
			while (*p && !isspace((unsigned char)*p))
				p++;
			pf_buf_put(&value, start, (size_t)(p - start));
		}
		pf_buf_put_u8(&value, 0);
		rc = cb(arg, (char *)key.data, (char *)value.data, err, errlen);
		p = skip_space(p);
	}
	pf_buf_free(&key);
	pf_buf_free(&value);
	return rc;
}

/* ---- typed fields shared by [databases], [users] and [tenants] ---- */

enum field_kind { F_STR, F_COUNT, F_WEIGHT, F_PORT, F_TIME, F_POOL_MODE, F_LOAD_BALANCE };

struct field {
	const char *key;
	enum field_kind kind;
	size_t offset;
};

#define DB(key, kind, member) { key, kind, offsetof(struct pf_db_conf, member) }
static const struct field db_fields[] = {
	DB("dbname", F_STR, dbname),
	DB("host", F_STR, host),
	DB("port", F_PORT, port),
	DB("user", F_STR, user),
	DB("password", F_STR, password),
	DB("auth_user", F_STR, auth_user),
	DB("auth_query", F_STR, auth_query),
	DB("auth_dbname", F_STR, auth_dbname),
	DB("pool_size", F_COUNT, pool_size),
	DB("min_pool_size", F_COUNT, min_pool_size),
	DB("reserve_pool_size", F_COUNT, reserve_pool_size),
	DB("reserve_pool", F_COUNT, reserve_pool_size), /* older spelling, still accepted */
	DB("connect_query", F_STR, connect_query),
	DB("pool_mode", F_POOL_MODE, pool_mode),
	DB("load_balance_hosts", F_LOAD_BALANCE, load_balance_hosts),
	DB("max_db_connections", F_COUNT, max_db_connections),
	DB("max_db_client_connections", F_COUNT, max_db_client_connections),
	DB("server_lifetime", F_TIME, server_lifetime),
	DB("query_wait_timeout", F_TIME, query_wait_timeout),
	DB("client_encoding", F_STR, client_encoding),
	DB("datestyle", F_STR, datestyle),
	DB("timezone", F_STR, timezone),
	DB("application_name", F_STR, application_name),
	{ NULL, F_STR, 0 },
};

#define USER(key, kind, member) { key, kind, offsetof(struct pf_user_conf, member) }
static const struct field user_fields[] = {
	USER("pool_size", F_COUNT, pool_size),
	USER("reserve_pool_size", F_COUNT, reserve_pool_size),
	USER("pool_mode", F_POOL_MODE, pool_mode),
	USER("max_user_connections", F_COUNT, max_user_connections),
	USER("max_user_client_connections", F_COUNT, max_user_client_connections),
	USER("query_timeout", F_TIME, query_timeout),
	USER("idle_transaction_timeout", F_TIME, idle_transaction_timeout),
	USER("transaction_timeout", F_TIME, transaction_timeout),
	USER("client_idle_timeout", F_TIME, client_idle_timeout),
	USER("query_wait_timeout", F_TIME, query_wait_timeout),
	{ NULL, F_STR, 0 },
};

#define TENANT(key, kind, member) { key, kind, offsetof(struct pf_tenant_conf, member) }
static const struct field tenant_fields[] = {
	TENANT("pool_size", F_COUNT, pool_size),
	TENANT("reserve_pool_size", F_COUNT, reserve_pool_size),
	TENANT("reserve_pool_timeout", F_TIME, reserve_pool_timeout),
	TENANT("weight", F_WEIGHT, weight),
	TENANT("max_client_conn", F_COUNT, max_client_conn),
	TENANT("query_wait_timeout", F_TIME, query_wait_timeout),
	{ NULL, F_STR, 0 },
};

/* What the callback of pf_connstr_foreach needs to fill one struct. */
struct fill_ctx {
	const struct field *fields;
	void *obj;
	const char *what; /* "database", "user" or "tenant", for messages */
};

static int parse_pool_mode(const char *value, int *out)
{
	/* The [pgbouncer] pool_mode key knows the names; reuse them. */
	for (const struct pf_opt_choice *c = pf_option_find("pool_mode")->choices; c->name; c++) {
		if (strcasecmp(c->name, value) == 0) {
			*out = c->value;
			return 0;
		}
	}
	return -1;
}

static int parse_load_balance(const char *value, int *out)
{
	if (strcasecmp(value, "round-robin") == 0)
		*out = LOAD_BALANCE_ROUND_ROBIN;
	else if (strcasecmp(value, "disable") == 0)
		*out = LOAD_BALANCE_DISABLE;
	else
		return -1;
	return 0;
}

static int fill_field(void *arg, const char *key, const char *value, char *err, size_t errlen)
{
	const struct fill_ctx *ctx = arg;
	const struct field *f;
	void *member;
	const char *expected = NULL;

	for (f = ctx->fields; f->key; f++)
		if (strcmp(f->key, key) == 0)
			break;
	if (!f->key) {
		snprintf(err, errlen, "unsupported parameter in %s settings: %s", ctx->what, key);
		return -1;
	}
	member = (char *)ctx->obj + f->offset;
	switch (f->kind) {
	case F_STR:
		free(*(char **)member); /* a repeated key: the later one wins */
		*(char **)member = pf_xstrdup(value);
		return 0;
	case F_COUNT:
		if (pf_parse_int(value, 0, INT_MAX, member) < 0)
			expected = "a whole number >= 0";
		break;
	case F_WEIGHT:
		/* 0 would give the tenant nothing; the scheduler multiplies weights in 64 bits. */
		if (pf_parse_int(value, 1, INT_MAX, member) < 0)
			expected = "a whole number >= 1";
		break;
	case F_PORT:
		if (pf_parse_int(value, 1, 65535, member) < 0)
			expected = "a port number from 1 to 65535";
		break;
	case F_TIME:
		if (pf_parse_time(value, member) < 0)
			expected = "a number of seconds, e.g. 5 or 0.2";
		break;
	case F_POOL_MODE:
		if (parse_pool_mode(value, member) < 0)
			expected = "session, transaction or statement";
		break;
	case F_LOAD_BALANCE:
		if (parse_load_balance(value, member) < 0)
			expected = "round-robin or disable";
		break;
	}
	if (expected) {
		snprintf(err, errlen, "invalid value \"%s\" for %s: expected %s", value, key, expected);
		return -1;
	}
	return 0;
}

/* ---- [databases] ---- */

static void db_conf_init(struct pf_db_conf *db, const char *name)
{
	memset(db, 0, sizeof(*db));
	db->name = pf_xstrdup(name);
	db->port = 5432;
	db->pool_size = db->min_pool_size = db->reserve_pool_size = -1;
	db->pool_mode = POOL_MODE_UNSET;
	db->load_balance_hosts = -1;
	db->max_db_connections = db->max_db_client_connections = -1;
	db->server_lifetime = db->query_wait_timeout = -1;
}

int pf_db_conf_parse(struct pf_db_conf *db, const char *name, const char *connstr, char *err, size_t errlen)
{
	struct fill_ctx ctx = { db_fields, db, "database" };

	db_conf_init(db, name);
	if (pf_connstr_foreach(connstr, fill_field, &ctx, err, errlen) < 0) {
		pf_db_conf_free(db);
		return -1;
	}
	return 0;
}

void pf_db_conf_free(struct pf_db_conf *db)
{
	char **strings[] = {
		&db->name, &db->dbname, &db->host, &db->user, &db->password, &db->auth_user,
		&db->auth_query, &db->auth_dbname, &db->connect_query, &db->client_encoding,
		&db->datestyle, &db->timezone, &db->application_name, &db->file,
	};

	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		free(*strings[i]);
		*strings[i] = NULL;
	}
}

/* ---- [users] ---- */

int pf_user_conf_parse(struct pf_user_conf *user, const char *name, const char *settings, char *err, size_t errlen)
{
	struct fill_ctx ctx = { user_fields, user, "user" };

	memset(user, 0, sizeof(*user));
	user->name = pf_xstrdup(name);
	user->pool_size = user->reserve_pool_size = -1;
	user->pool_mode = POOL_MODE_UNSET;
	user->max_user_connections = user->max_user_client_connections = -1;
	user->query_timeout = user->idle_transaction_timeout = user->transaction_timeout = -1;
	user->client_idle_timeout = user->query_wait_timeout = -1;

	if (pf_connstr_foreach(settings, fill_field, &ctx, err, errlen) < 0) {
		pf_user_conf_free(user);
		return -1;
	}
	return 0;
}

void pf_user_conf_free(struct pf_user_conf *user)
{
	free(user->name);
	user->name = NULL;
}

/* ---- [tenants] ---- */

int pf_tenant_conf_parse(struct pf_tenant_conf *tenant, const char *name, const char *settings, char *err,
			 size_t errlen)
{
	struct fill_ctx ctx = { tenant_fields, tenant, "tenant" };

	memset(tenant, 0, sizeof(*tenant));
	tenant->name = pf_xstrdup(name);
	tenant->is_glob = strpbrk(name, "*?[") != NULL;
	tenant->pool_size = tenant->reserve_pool_size = tenant->max_client_conn = -1;
	tenant->reserve_pool_timeout = tenant->query_wait_timeout = -1;
	tenant->weight = 1;

	if (pf_connstr_foreach(settings, fill_field, &ctx, err, errlen) < 0) {
		pf_tenant_conf_free(tenant);
		return -1;
	}
	return 0;
}

void pf_tenant_conf_free(struct pf_tenant_conf *tenant)
{
	free(tenant->name);
	free(tenant->file);
	tenant->name = tenant->file = NULL;
}
