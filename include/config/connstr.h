/*
 * connstr.h - the libpq-like "key=value key2='quoted value'" strings of [databases],
 * [users] and [tenants] entries.
 *
 * Syntax: pairs separated by white space; spaces around '=' are allowed. A value is
 * either a run of non-space characters taken literally, or single-quoted; inside quotes
 * \' and '' stand for a quote and \\ for a backslash (any other backslash is literal).
 */
#ifndef PF_CONFIG_CONNSTR_H
#define PF_CONFIG_CONNSTR_H

#include <stddef.h>

#include "config/config.h"

/* Called per pair, in order. Return 0 to go on, or -1 after writing the reason into err. */
typedef int (*pf_connstr_cb)(void *arg, const char *key, const char *value, char *err, size_t errlen);

/* Split `connstr` into pairs. Returns 0, or -1 with err set (syntax or callback error). */
int pf_connstr_foreach(const char *connstr, pf_connstr_cb cb, void *arg, char *err, size_t errlen);

/*
 * Fill *db from the [databases] entry `name = connstr`. Unset integers and times are -1,
 * port 5432, pool_mode POOL_MODE_UNSET, strings NULL; file/line are left for the caller.
 * Returns 0, or -1 with err naming the bad key or value (then *db holds nothing to free).
 */
int pf_db_conf_parse(struct pf_db_conf *db, const char *name, const char *connstr, char *err, size_t errlen);
void pf_db_conf_free(struct pf_db_conf *db);

/* Same for a [users] entry `name = settings`. */
int pf_user_conf_parse(struct pf_user_conf *user, const char *name, const char *settings, char *err, size_t errlen);
void pf_user_conf_free(struct pf_user_conf *user);

/*
 * Same for a [tenants] entry `name = settings`: unset numbers -1, weight 1, is_glob set
 * from the name; file/line are left for the caller.
 */
int pf_tenant_conf_parse(struct pf_tenant_conf *tenant, const char *name, const char *settings, char *err,
			 size_t errlen);
void pf_tenant_conf_free(struct pf_tenant_conf *tenant);

#endif
