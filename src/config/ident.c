/* ident.c - parse auth_ident_file and decide whether a map lets a system user in as a PG user. */
#include "config/ident.h"

#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/pgconf_lex.h"
#include "util/buf.h"

enum pg_kind {
	PG_NAME,  /* the user name itself */
	PG_SUBST, /* a name with \1, filled from the system name's regex */
	PG_ALL,   /* any user */
	PG_REGEX, /* users matching a regex */
};

struct ident_entry {
	char *map;
	char *system; /* the name, or the regex without its '/' */
	bool system_is_re;
	regex_t system_re;
	enum pg_kind pg_kind;
	char *pg;
	regex_t pg_re;
};

struct pf_ident {
	struct ident_entry *entries;
	size_t n;
};

static bool fail(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* "file:line: reason"; always false. */
static bool fail(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s:%d: %s", path, line, reason);
	return false;
}

static void entry_free(struct ident_entry *e)
{
	if (e->system_is_re)
		regfree(&e->system_re);
	if (e->pg_kind == PG_REGEX)
		regfree(&e->pg_re);
	free(e->map);
	free(e->system);
	free(e->pg);
}

/* Compile `src`; on error write the reason and return false. */
static bool compile(regex_t *re, const char *src, int flags, char *reason, size_t len)
{
	int rc = regcomp(re, src, REG_EXTENDED | flags);
	char msg[200];

	if (rc == 0)
		return true;
	regerror(rc, re, msg, sizeof(msg));
	snprintf(reason, len, "invalid regular expression \"%s\": %s", src, msg);
	return false;
}

static bool parse_entry(struct ident_entry *e, const struct pf_conf_line *l, const char *path, char *err,
			size_t errlen)
{
	static const char *const what[] = { "map name", "system user name", "PostgreSQL user name" };
	const struct pf_conf_token *t[3];
	char reason[300];

	const struct pf_conf_token *first = &l->fields[0].tok[0];
	if (pf_conf_is_kw(first, "include") || pf_conf_is_kw(first, "include_if_exists") ||
	    pf_conf_is_kw(first, "include_dir"))
		return fail(
		    err, errlen, path, l->lineno,
		    "\"%s\" is not supported (PgBouncer has no include directives): put the maps in this file",
		    first->text);
	for (size_t i = 0; i < 3; i++) {
		if (i >= l->n)
			return fail(err, errlen, path, l->lineno, "missing %s", what[i]);
		if (l->fields[i].n != 1)
			return fail(err, errlen, path, l->lineno,
				    "the %s must be a single value, not a comma list", what[i]);
		t[i] = &l->fields[i].tok[0];
		if (!t[i]->lead_quote && t[i]->text[0] == '@')
			return fail(
			    err, errlen, path, l->lineno,
			    "@file is not supported in auth_ident_file (\"%s\"); quote a name that starts with @",
			    t[i]->text);
	}
	if (l->n > 3)
		return fail(err, errlen, path, l->lineno, "unexpected field \"%s\" after the PostgreSQL user name",
			    l->fields[3].tok[0].text);

	e->map = pf_xstrdup(t[0]->text);
	/* The regex is the field after its '/', quoted or not (PostgreSQL does the same). */
	e->system_is_re = t[1]->text[0] == '/';
	e->system = pf_xstrdup(t[1]->text + (e->system_is_re ? 1 : 0));
	if (e->system_is_re && !compile(&e->system_re, e->system, 0, reason, sizeof(reason))) {
		e->system_is_re = false;
		return fail(err, errlen, path, l->lineno, "%s", reason);
	}

	const struct pf_conf_token *pg = t[2];
	if (pf_conf_is_kw(pg, "all")) {
		e->pg_kind = PG_ALL;
	} else if (!pg->quoted && pg->text[0] == '+') {
		return fail(err, errlen, path, l->lineno,
			    "group membership (\"%s\") is not supported (PgBouncer does not know role membership)",
			    pg->text);
	} else if (pg->text[0] == '/') {
		if (!compile(&e->pg_re, pg->text + 1, REG_NOSUB, reason, sizeof(reason)))
			return fail(err, errlen, path, l->lineno, "%s", reason);
		e->pg_kind = PG_REGEX;
	} else if (e->system_is_re && strstr(pg->text, "\\1")) {
		if (e->system_re.re_nsub < 1)
			return fail(err, errlen, path, l->lineno,
				    "\"%s\" uses \\1, but the regular expression \"%s\" has no ( ) group",
				    pg->text, e->system);
		e->pg_kind = PG_SUBST;
	} else {
		e->pg_kind = PG_NAME;
	}
	e->pg = pf_xstrdup(pg->text);
	return true;
}

struct pf_ident *pf_ident_load(const char *path, char *err, size_t errlen)
{
	struct pf_conf_reader r;
	struct pf_conf_line line;
	struct pf_ident *ident;
	char reason[256];
	int rc;

	if (pf_conf_open(&r, path) < 0) {
		snprintf(err, errlen, "%s: could not open auth_ident_file: %s", path, strerror(errno));
		return NULL;
	}
	ident = pf_xcalloc(1, sizeof(*ident));
	while ((rc = pf_conf_next(&r, &line, reason, sizeof(reason))) != 0) {
		struct ident_entry e = { 0 };
		bool ok;

		if (rc < 0) {
			fail(err, errlen, path, line.lineno, "%s", reason);
			goto bad;
		}
		ok = parse_entry(&e, &line, path, err, errlen);
		pf_conf_line_free(&line);
		if (!ok) {
			entry_free(&e);
			goto bad;
		}
		ident->entries = pf_xrealloc(ident->entries, (ident->n + 1) * sizeof(*ident->entries));
		ident->entries[ident->n++] = e;
	}
	pf_conf_close(&r);
	return ident;

bad:
	pf_conf_close(&r);
	pf_ident_free(ident);
	return NULL;
}

void pf_ident_free(struct pf_ident *ident)
{
	if (!ident)
		return;
	for (size_t i = 0; i < ident->n; i++)
		entry_free(&ident->entries[i]);
	free(ident->entries);
	free(ident);
}

/* PostgreSQL replaces only the first \1; an unmatched group gives the empty string. */
static bool subst_equals(const struct ident_entry *e, const regmatch_t *group, const char *system_user,
			 const char *pg_user)
{
	const char *at = strstr(e->pg, "\\1");
	struct pf_buf b;
	bool eq;

	pf_buf_init(&b);
	pf_buf_put(&b, e->pg, (size_t)(at - e->pg));
	if (group->rm_so >= 0)
		pf_buf_put(&b, system_user + group->rm_so, (size_t)(group->rm_eo - group->rm_so));
	pf_buf_put_str(&b, at + 2);
	eq = strcmp((const char *)b.data, pg_user) == 0;
	pf_buf_free(&b);
	return eq;
}

static bool entry_allows(const struct ident_entry *e, const char *system_user, const char *pg_user)
{
	regmatch_t m[2];

	if (e->system_is_re) {
		if (regexec(&e->system_re, system_user, 2, m, 0) != 0)
			return false;
	} else if (strcmp(e->system, system_user) != 0) {
		return false;
	}
	switch (e->pg_kind) {
	case PG_ALL:
		return true;
	case PG_REGEX:
		return regexec(&e->pg_re, pg_user, 0, NULL, 0) == 0;
	case PG_SUBST:
		return subst_equals(e, &m[1], system_user, pg_user);
	case PG_NAME:
		break;
	}
	return strcmp(e->pg, pg_user) == 0;
}

bool pf_ident_map_allows(const struct pf_ident *ident, const char *mapname, const char *system_user,
			 const char *pg_user)
{
	if (!ident)
		return false;
	for (size_t i = 0; i < ident->n; i++) {
		const struct ident_entry *e = &ident->entries[i];

		if (strcmp(e->map, mapname) == 0 && entry_allows(e, system_user, pg_user))
			return true;
	}
	return false;
}

bool pf_ident_has_map(const struct pf_ident *ident, const char *mapname)
{
	for (size_t i = 0; ident && i < ident->n; i++)
		if (strcmp(ident->entries[i].map, mapname) == 0)
			return true;
	return false;
}
