/*
 * ini_reader.c - pgbouncer.ini lines fed through inih's ini_parse_stream.
 *
 * inih asks our reader for one line at a time (at most ini_max_line bytes, 200 on
 * Debian). The reader does the lexing itself - whole lines of any length, %include,
 * comments, leading white space, file:line bookkeeping - and gives inih a short token
 * line "e=N" instead of the real text. inih then calls on_inih_pair() for that token
 * before it asks for the next line, so one pending entry is all the side table needs:
 * on_inih_pair() checks N and passes the real section/key/value to the caller's handler.
 * inih never sees a long line, a ';' or '#' inside a value, or an indented line.
 */
#include "config/ini_reader.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "util/buf.h"

struct ini_file {
	FILE *fp;
	char *path; /* as written, for messages */
	char *real; /* canonical path, to detect %include loops */
	int line;
};

struct ini_state {
	/* Files being read: files[0] is the top one, files[depth - 1] the current one. */
	struct ini_file files[PF_INI_MAX_INCLUDE_DEPTH + 1];
	int depth;
	char *buf; /* the current line, from getline() */
	size_t cap;

	/* The entry behind the last token handed to inih. key == NULL: a section starts. */
	unsigned long seq;
	char *section;
	const char *key, *value; /* point into buf */
	const char *file;
	int line;

	pf_ini_handler handler;
	void *arg;
	char *err;
	size_t errlen;
	bool failed;
};

static void fail(struct ini_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record the first error as "file:line: reason" (the current line) and stop the parse. */
static void fail(struct ini_state *st, const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	if (st->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (st->depth > 0) {
		const struct ini_file *f = &st->files[st->depth - 1];
		snprintf(st->err, st->errlen, "%s:%d: %s", f->path, f->line, reason);
	} else {
		snprintf(st->err, st->errlen, "%s", reason);
	}
	st->failed = true;
}

static char *skip_space(char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

/* Cut trailing white space off the string that ends at `end`. */
static void trim_end(char *start, char *end)
{
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	*end = 0;
}

/* Open `path` and make it the current file. Errors are reported at the %include line. */
static void push_file(struct ini_state *st, const char *path)
{
	char *real;
	FILE *fp;

	if (st->depth > PF_INI_MAX_INCLUDE_DEPTH) {
		fail(st, "%%include nested too deeply (more than %d levels) at \"%s\"", PF_INI_MAX_INCLUDE_DEPTH, path);
		return;
	}
	fp = fopen(path, "r");
	if (!fp) {
		if (st->depth == 0)
			fail(st, "%s: could not open config file: %s", path, strerror(errno));
		else
			fail(st, "could not open include file \"%s\": %s", path, strerror(errno));
		return;
	}
	real = realpath(path, NULL);
	if (!real)
		real = pf_xstrdup(path);
	for (int i = 0; i < st->depth; i++) {
		if (strcmp(st->files[i].real, real) == 0) {
			fail(st, "%%include loop: \"%s\" is already being read", path);
			fclose(fp);
			free(real);
			return;
		}
	}
	st->files[st->depth].fp = fp;
	st->files[st->depth].path = pf_xstrdup(path);
	st->files[st->depth].real = real;
	st->files[st->depth].line = 0;
	st->depth++;
}

static void pop_file(struct ini_state *st)
{
	struct ini_file *f = &st->files[--st->depth];
	fclose(f->fp);
	free(f->path);
	free(f->real);
}

/* "[name]" with an optional comment after it. Returns false (after fail()) when broken. */
static bool parse_section(struct ini_state *st, char *p)
{
	char *name = skip_space(p + 1);
	char *close = strchr(name, ']');
	char *rest;

	if (!close) {
		fail(st, "syntax error: missing ']' in section header");
		return false;
	}
	rest = skip_space(close + 1);
	if (*rest && *rest != ';' && *rest != '#') {
		fail(st, "syntax error: unexpected text after section header: %s", rest);
		return false;
	}
	trim_end(name, close);
	if (!*name) {
		fail(st, "syntax error: empty section name");
		return false;
	}
	free(st->section);
	st->section = pf_xstrdup(name);
	st->key = st->value = NULL;
	return true;
}

/* "key = value". Returns false (after fail()) when broken. */
static bool parse_pair(struct ini_state *st, char *p)
{
	char *eq = strchr(p, '=');
	char *value;

	if (!eq) {
		fail(st, "syntax error: expected \"key = value\", \"[section]\" or \"%%include file\"");
		return false;
	}
	value = skip_space(eq + 1);
	trim_end(value, value + strlen(value));
	trim_end(p, eq);
	if (!*p) {
		fail(st, "syntax error: missing key before '='");
		return false;
	}
	for (char *k = p; *k; k++) {
		if (isspace((unsigned char)*k)) {
			fail(st, "syntax error: key \"%s\" contains white space", p);
			return false;
		}
	}
	if (!st->section) {
		fail(st, "key \"%s\" is outside of any [section]", p);
		return false;
	}
	st->key = p;
	st->value = value;
	return true;
}

/*
 * inih's line source (fgets-like). Skips what inih need not see, and answers each
 * section header or key line with the token "e=N". NULL means end of input or error.
 */
static char *next_line(char *out, int num, void *stream)
{
	struct ini_state *st = stream;

	while (!st->failed && st->depth > 0) {
		struct ini_file *f = &st->files[st->depth - 1];
		ssize_t n = getline(&st->buf, &st->cap, f->fp);
		char *p;

		if (n < 0) {
			if (ferror(f->fp)) {
				f->line++; /* the line that could not be read */
				fail(st, "read error: %s", strerror(errno));
				return NULL;
			}
			pop_file(st); /* back to the including file, if any */
			continue;
		}
		f->line++;
		if ((size_t)n != strlen(st->buf)) {
			fail(st, "line contains a NUL byte");
			return NULL;
		}
		p = st->buf;
		if (f->line == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
			p += 3; /* UTF-8 byte order mark */
		p = skip_space(p);
		trim_end(p, p + strlen(p)); /* also drops "\n" and "\r\n" */

		if (!*p || *p == ';' || *p == '#')
			continue;
		if (strncmp(p, "%include", 8) == 0 && (!p[8] || isspace((unsigned char)p[8]))) {
			char *name = skip_space(p + 8);
			if (!*name)
				fail(st, "%%include needs a file name");
			else
				push_file(st, name);
			continue;
		}
		bool ok = (*p == '[') ? parse_section(st, p) : parse_pair(st, p);
		if (!ok)
			return NULL;

		st->file = f->path;
		st->line = f->line;
		if (snprintf(out, (size_t)num, "e=%lu\n", ++st->seq) >= num) {
			fail(st, "internal error: inih line buffer of %d bytes is too small", num);
			return NULL;
		}
		return out;
	}
	return NULL;
}

/* inih's handler for our token lines: 1 = go on, 0 = error (inih's convention). */
static int on_inih_pair(void *user, const char *section, const char *name, const char *value)
{
	struct ini_state *st = user;
	char reason[512] = "";

	if (strtoul(value, NULL, 10) != st->seq) {
		fail(st, "internal error: inih handed back line \"%s=%s\", expected e=%lu", name, value, st->seq);
		return 0;
	}
	if (st->handler(st->arg, st->file, st->line, st->section, st->key, st->value, reason, sizeof(reason)) != 0) {
		/* The file of this entry is still open, so fail() prints the right file:line. */
		fail(st, "%s", reason[0] ? reason : "invalid entry");
		return 0;
	}
	return 1;
}

int pf_ini_parse(const char *path, pf_ini_handler handler, void *arg, char *err, size_t errlen)
{
	struct ini_state st;
	int rc;

	memset(&st, 0, sizeof(st));
	st.handler = handler;
	st.arg = arg;
	st.err = err;
	st.errlen = errlen;

	push_file(&st, path);
	if (!st.failed) {
		rc = ini_parse_stream(next_line, &st, on_inih_pair, &st);
		if (rc != 0 && !st.failed) /* inih rejected a token line: a bug here, not in the file */
			snprintf(err, errlen, "%s: internal error: inih returned %d", path, rc);
		if (rc != 0)
			st.failed = true;
	}
	while (st.depth > 0)
		pop_file(&st);
	free(st.buf);
	free(st.section);
	return st.failed ? -1 : 0;
}
