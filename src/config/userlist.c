/* userlist.c - load PgBouncer's auth_file format into a sorted, searchable array. */
#include "config/userlist.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "util/buf.h"

/*
 * Read a "quoted" field at *pp (which points at the opening quote) into a new string.
 * Returns NULL when the closing quote is missing; *pp then moves past the field.
 */
static char *read_field(const char **pp)
{
	const char *p = *pp + 1;
	struct pf_buf b;
	char *s;

	pf_buf_init(&b);
	for (;;) {
		if (!*p || *p == '\n') {
			pf_buf_free(&b);
			return NULL;
		}
		if (p[0] == '"' && p[1] == '"') {
			pf_buf_put_u8(&b, '"');
			p += 2;
		} else if (p[0] == '"') {
			p++;
			break;
		} else {
			pf_buf_put_u8(&b, (uint8_t)*p++);
		}
	}
	s = pf_xstrndup(b.len ? (char *)b.data : "", b.len);
	pf_buf_free(&b);
	*pp = p;
	return s;
}

/* Sort by name; ties by file order (`seq`) so that the later duplicate can win. */
struct loaded {
	struct pf_auth_entry e;
	size_t seq;
};

static int cmp_loaded(const void *a, const void *b)
{
	const struct loaded *x = a, *y = b;
	int c = strcmp(x->e.name, y->e.name);
	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void free_loaded(struct loaded *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(items[i].e.name);
		free(items[i].e.secret);
	}
	free(items);
}

/* Parse one line. 1 = an entry, 0 = a comment/blank line, -1 = error (reason in err). */
static int parse_line(const char *line, struct pf_auth_entry *out, char *err, size_t errlen)
{
	const char *p = line;

	while (isspace((unsigned char)*p))
		p++;
	if (!*p || *p == ';' || *p == '#')
		return 0;
	if (*p != '"') {
		snprintf(err, errlen, "expected a quoted user name, like \"user\" \"secret\"");
		return -1;
	}
	out->name = read_field(&p);
	if (!out->name) {
		snprintf(err, errlen, "missing closing quote of the user name");
		return -1;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '"') {
		snprintf(err, errlen, "expected a quoted secret after user \"%s\"", out->name);
		free(out->name);
		return -1;
	}
	out->secret = read_field(&p);
	if (!out->secret) {
		snprintf(err, errlen, "missing closing quote of the secret of user \"%s\"", out->name);
		free(out->name);
		return -1;
	}
	return 1; /* anything after the secret is ignored, as in PgBouncer */
}

struct pf_userlist *pf_userlist_load(const char *path, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	struct loaded *items = NULL;
	size_t n = 0, cap = 0;
	char *line = NULL;
	size_t linecap = 0;
	int lineno = 0;
	struct pf_userlist *list;

	if (!fp) {
		snprintf(err, errlen, "%s: could not open auth_file: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		struct pf_auth_entry e;
		char reason[256];
		int rc;

		errno = 0;
		if (getline(&line, &linecap, fp) < 0) {
			if (ferror(fp)) {
				snprintf(err, errlen, "%s:%d: read error: %s", path, lineno + 1, strerror(errno));
				goto fail;
			}
			break;
		}
		lineno++;
		rc = parse_line(line, &e, reason, sizeof(reason));
		if (rc < 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, reason);
			goto fail;
		}
		if (rc == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			items = pf_xrealloc(items, cap * sizeof(*items));
		}
		items[n].e = e;
		items[n].seq = n;
		n++;
	}
	fclose(fp);
	free(line);

	/* Sort, then keep only the last line of each name. */
	if (n > 1)
		qsort(items, n, sizeof(*items), cmp_loaded);
	list = pf_xcalloc(1, sizeof(*list));
	list->entries = pf_xcalloc(n, sizeof(*list->entries));
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && strcmp(items[i].e.name, items[i + 1].e.name) == 0) {
			free(items[i].e.name);
			free(items[i].e.secret);
			continue;
		}
		list->entries[list->n++] = items[i].e;
	}
	free(items);
	return list;

fail:
	fclose(fp);
	free(line);
	free_loaded(items, n);
	return NULL;
}

void pf_userlist_free(struct pf_userlist *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->n; i++) {
		free(list->entries[i].name);
		free(list->entries[i].secret);
	}
	free(list->entries);
	free(list);
}

static int cmp_name_entry(const void *key, const void *elem)
{
	return strcmp(key, ((const struct pf_auth_entry *)elem)->name);
}

const char *pf_userlist_find(const struct pf_userlist *list, const char *name)
{
	const struct pf_auth_entry *e;

	if (!list || !list->n)
		return NULL;
	e = bsearch(name, list->entries, list->n, sizeof(*e), cmp_name_entry);
	return e ? e->secret : NULL;
}

enum pf_secret_type pf_secret_type(const char *secret)
{
	if (strncmp(secret, "SCRAM-SHA-256$", 14) == 0)
		return SECRET_SCRAM;
	if (strncmp(secret, "md5", 3) == 0 && strlen(secret) == 35) {
		for (const char *p = secret + 3; *p; p++)
			if (!isxdigit((unsigned char)*p))
				return SECRET_PLAIN;
		return SECRET_MD5;
	}
	return SECRET_PLAIN;
}
