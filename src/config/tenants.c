/* tenants.c - match a tenant name to its [tenants] entry; split user_suffix logins. */
#include "config/tenants.h"

#include <fnmatch.h>
#include <string.h>

const struct pf_tenant_conf *pf_conf_match_tenant(const struct pf_conf *conf, const char *name)
{
	const struct pf_tenant_conf *glob = NULL, *star = NULL;

	/* One pass: an exact name returns at once; the first glob and `*` are kept for later. */
	for (size_t i = 0; i < conf->n_tenants; i++) {
		const struct pf_tenant_conf *t = &conf->tenants[i];

		if (!t->is_glob) {
			if (strcmp(t->name, name) == 0)
				return t;
		} else if (strcmp(t->name, "*") == 0) {
			star = t;
		} else if (!glob && fnmatch(t->name, name, 0) == 0) {
			glob = t;
		}
	}
	return glob ? glob : star;
}

bool pf_tenant_split_login(const char *login, const char *sep, size_t *user_len, const char **tenant)
{
	size_t seplen = strlen(sep);
	const char *last = NULL;

	if (seplen == 0)
		return false;
	for (const char *p = strstr(login, sep); p; p = strstr(p + 1, sep))
		last = p;
	if (!last || last == login || last[seplen] == 0)
		return false;
	*user_len = (size_t)(last - login);
	*tenant = last + seplen;
	return true;
}
