/*
 * tenants.h - which [tenants] entry a client belongs to, and how a user_suffix login
 * splits into a user and a tenant.
 *
 * Both run once per login, never per query, and allocate nothing.
 */
#ifndef PF_CONFIG_TENANTS_H
#define PF_CONFIG_TENANTS_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

/*
 * The [tenants] entry for tenant `name`, or NULL when none applies (the tenant then has no
 * quota of its own and competes in its pool's implicit group). Precedence:
 *   1. an entry whose NAME is exactly `name` (entries without glob characters only);
 *   2. else the first glob entry in file order that fnmatch(3)es `name` (no flags: '/' and
 *      a leading '.' are ordinary characters), `*` itself excluded;
 *   3. else the `*` entry, when there is one.
 * Linear in the number of entries.
 */
const struct pf_tenant_conf *pf_conf_match_tenant(const struct pf_conf *conf, const char *name);

/*
 * tenant_key = user_suffix: split login `login` at the LAST occurrence of `sep` (a
 * non-empty string). "app.checkout" -> user "app", tenant "checkout"; "my.app.checkout"
 * -> user "my.app", tenant "checkout". The last one, because PostgreSQL user names often
 * contain dots ("first.last") while function names (DNS labels in OpenFaaS and K8s) do
 * not.
 *
 * Returns true and sets *user_len (the user is login[0 .. *user_len)) and *tenant (points
 * into login) when the login has a suffix. Returns false when it has none: `sep` does not
 * occur, or the user or the tenant part would be empty ("app.", ".checkout"); the whole
 * login is then the user, and the client has no tenant of its own.
 */
bool pf_tenant_split_login(const char *login, const char *sep, size_t *user_len, const char **tenant);

#endif
