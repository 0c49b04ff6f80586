/*
 * config.c - load pgbouncer.ini into a struct pf_conf: [pgbouncer] settings through the
 * option table, [databases], [users] and [tenants] through the connect-string parser.
 */
#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/connstr.h"
#include "config/ini_reader.h"
#include "config/options.h"
#include "util/buf.h"
#include "util/log.h"

enum section_kind { SEC_PGBOUNCER, SEC_DATABASES, SEC_USERS, SEC_TENANTS, SEC_IGNORED };

/* State of one pf_conf_load() call. */
struct load_ctx {
	struct pf_conf *conf;
	size_t dbs_cap, users_cap, tenants_cap;
	enum section_kind section;
	/* Each warning is logged once per load: remember what was said. */
	char **warned;
	size_t n_warned, warned_cap;
};

/* True the first time `what` is seen in this load (case-insensitive, like key names). */
static bool first_warning(struct load_ctx *ctx, const char *what)
{
	for (size_t i = 0; i < ctx->n_warned; i++)
		if (strcasecmp(ctx->warned[i], what) == 0)
			return false;
	if (ctx->n_warned == ctx->warned_cap) {
		ctx->warned_cap = ctx->warned_cap ? ctx->warned_cap * 2 : 16;
		ctx->warned = pf_xrealloc(ctx->warned, ctx->warned_cap * sizeof(*ctx->warned));
	}
	ctx->warned[ctx->n_warned++] = pf_xstrdup(what);
	return true;
}

static void start_section(struct load_ctx *ctx, const char *file, int line, const char *name)
{
	char tag[300];

	if (strcmp(name, "pgbouncer") == 0) {
		ctx->section = SEC_PGBOUNCER;
		return;
	}
	if (strcmp(name, "databases") == 0) {
		ctx->section = SEC_DATABASES;
		return;
	}
	if (strcmp(name, "users") == 0) {
		ctx->section = SEC_USERS;
		return;
	}
	if (strcmp(name, "tenants") == 0) {
		ctx->section = SEC_TENANTS;
		return;
	}
	ctx->section = SEC_IGNORED;
	snprintf(tag, sizeof(tag), "[%s]", name);
	if (!first_warning(ctx, tag))
		return;
	if (strcmp(name, "peers") == 0)
		log_warning("%s:%d: section [%s] is not supported yet, ignored", file, line, name);
	else
		log_warning("%s:%d: unknown section [%s], ignored", file, line, name);
}

static int set_setting(struct load_ctx *ctx, const char *file, int line, const char *key, const char *value,
		       char *err, size_t errlen)
{
	const struct pf_option *opt;
	int rc = pf_option_set(&ctx->conf->set, key, value, err, errlen);

	if (rc == -1) {
		if (first_warning(ctx, key))
			log_warning("%s:%d: unknown parameter %s in [pgbouncer], ignored", file, line, key);
		return 0;
	}
	if (rc < 0)
		return -1;

	opt = pf_option_find(key);
	if (!(opt->flags & OPT_ACTED)) {
		if (first_warning(ctx, opt->name))
			log_warning("%s:%d: parameter %s is not supported yet, ignored", file, line, opt->name);
	}
	return 0;
}

static int add_db(struct load_ctx *ctx, const char *file, int line, const char *name, const char *connstr,
		  char *err, size_t errlen)
{
	struct pf_conf *conf = ctx->conf;
	struct pf_db_conf db;

	if (strcmp(name, "pgbouncer") == 0) {
		snprintf(err, errlen, "database name \"pgbouncer\" is reserved for the admin console");
		return -1;
	}
	if (pf_db_conf_parse(&db, name, connstr, err, errlen) < 0)
		return -1;
	db.file = pf_xstrdup(file);
	db.line = line;

	/* A repeated name: the later entry wins, as in PgBouncer. */
	for (size_t i = 0; i < conf->n_dbs; i++) {
		if (strcmp(conf->dbs[i].name, name) == 0) {
			pf_db_conf_free(&conf->dbs[i]);
			conf->dbs[i] = db;
			return 0;
		}
	}
	if (conf->n_dbs == ctx->dbs_cap) {
		ctx->dbs_cap = ctx->dbs_cap ? ctx->dbs_cap * 2 : 16;
		conf->dbs = pf_xrealloc(conf->dbs, ctx->dbs_cap * sizeof(*conf->dbs));
	}
	conf->dbs[conf->n_dbs++] = db;
	return 0;
}

static int add_user(struct load_ctx *ctx, const char *name, const char *settings, char *err, size_t errlen)
{
	struct pf_conf *conf = ctx->conf;
	struct pf_user_conf user;

	if (pf_user_conf_parse(&user, name, settings, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < conf->n_users; i++) {
		if (strcmp(conf->users[i].name, name) == 0) {
			pf_user_conf_free(&conf->users[i]);
			conf->users[i] = user;
			return 0;
		}
	}
	if (conf->n_users == ctx->users_cap) {
		ctx->users_cap = ctx->users_cap ? ctx->users_cap * 2 : 16;
		conf->users = pf_xrealloc(conf->users, ctx->users_cap * sizeof(*conf->users));
	}
	conf->users[conf->n_users++] = user;
	return 0;
}

static int add_tenant(struct load_ctx *ctx, const char *file, int line, const char *name, const char *settings,
		      char *err, size_t errlen)
{
	struct pf_conf *conf = ctx->conf;
	struct pf_tenant_conf tenant;

	if (pf_tenant_conf_parse(&tenant, name, settings, err, errlen) < 0)
		return -1;
	tenant.file = pf_xstrdup(file);
	tenant.line = line;

	/* A repeated name: the later entry wins but keeps the first one's place among the globs. */
	for (size_t i = 0; i < conf->n_tenants; i++) {
		if (strcmp(conf->tenants[i].name, name) == 0) {
			pf_tenant_conf_free(&conf->tenants[i]);
			conf->tenants[i] = tenant;
			return 0;
		}
	}
	if (conf->n_tenants == ctx->tenants_cap) {
		ctx->tenants_cap = ctx->tenants_cap ? ctx->tenants_cap * 2 : 16;
		conf->tenants = pf_xrealloc(conf->tenants, ctx->tenants_cap * sizeof(*conf->tenants));
	}
	conf->tenants[conf->n_tenants++] = tenant;
	return 0;
}

/* pf_ini_handler: one section start (key == NULL) or one key = value line. */
static int on_entry(void *arg, const char *file, int line, const char *section, const char *key,
		    const char *value, char *err, size_t errlen)
{
	struct load_ctx *ctx = arg;

	if (!key) {
		start_section(ctx, file, line, section);
		return 0;
	}
	switch (ctx->section) {
	case SEC_PGBOUNCER:
		return set_setting(ctx, file, line, key, value, err, errlen);
	case SEC_DATABASES:
		return add_db(ctx, file, line, key, value, err, errlen);
	case SEC_USERS:
		return add_user(ctx, key, value, err, errlen);
	case SEC_TENANTS:
		return add_tenant(ctx, file, line, key, value, err, errlen);
	case SEC_IGNORED:
		break;
	}
	return 0;
}

struct pf_conf *pf_conf_load(const char *path, char *errbuf, size_t errlen)
{
	struct load_ctx ctx;
	struct pf_conf *conf = pf_xcalloc(1, sizeof(*conf));
	int rc;

	pf_settings_defaults(&conf->set);
	/* Set before parsing: like PgBouncer, a conffile line in the file overrides it. */
	conf->set.conffile = pf_xstrdup(path);

	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = conf;
	ctx.section = SEC_IGNORED; /* the reader rejects keys before any section anyway */
	rc = pf_ini_parse(path, on_entry, &ctx, errbuf, errlen);

	for (size_t i = 0; i < ctx.n_warned; i++)
		free(ctx.warned[i]);
	free(ctx.warned);
	if (rc < 0) {
		pf_conf_free(conf);
		return NULL;
	}
	return conf;
}

void pf_conf_free(struct pf_conf *conf)
{
	if (!conf)
		return;
	pf_settings_free(&conf->set);
	for (size_t i = 0; i < conf->n_dbs; i++)
		pf_db_conf_free(&conf->dbs[i]);
	free(conf->dbs);
	for (size_t i = 0; i < conf->n_users; i++)
		pf_user_conf_free(&conf->users[i]);
	free(conf->users);
	for (size_t i = 0; i < conf->n_tenants; i++)
		pf_tenant_conf_free(&conf->tenants[i]);
	free(conf->tenants);
	free(conf);
}

const struct pf_db_conf *pf_conf_find_db(const struct pf_conf *conf, const char *name)
{
	for (size_t i = 0; i < conf->n_dbs; i++)
		if (strcmp(conf->dbs[i].name, name) == 0)
			return &conf->dbs[i];
	return NULL;
}

const struct pf_user_conf *pf_conf_find_user(const struct pf_conf *conf, const char *name)
{
	for (size_t i = 0; i < conf->n_users; i++)
		if (strcmp(conf->users[i].name, name) == 0)
			return &conf->users[i];
	return NULL;
}
