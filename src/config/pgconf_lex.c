/* pgconf_lex.c - logical lines, fields and quoted tokens of pg_hba.conf / pg_ident.conf. */
#include "config/pgconf_lex.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* PostgreSQL's pg_isblank(): '\r' counts, so CRLF files work. */
static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

int pf_conf_open(struct pf_conf_reader *r, const char *path)
{
	memset(r, 0, sizeof(*r));
	r->fp = fopen(path, "r");
	if (!r->fp)
		return -1;
	pf_buf_init(&r->text);
	return 0;
}

void pf_conf_close(struct pf_conf_reader *r)
{
	if (r->fp)
		fclose(r->fp);
	free(r->buf);
	pf_buf_free(&r->text);
	memset(r, 0, sizeof(*r));
}

void pf_conf_line_free(struct pf_conf_line *line)
{
	for (size_t i = 0; i < line->n; i++) {
		for (size_t j = 0; j < line->fields[i].n; j++)
			free(line->fields[i].tok[j].text);
		free(line->fields[i].tok);
	}
	free(line->fields);
	memset(line, 0, sizeof(*line));
}

bool pf_conf_is_kw(const struct pf_conf_token *t, const char *kw)
{
	return !t->quoted && strcmp(t->text, kw) == 0;
}

/* Join continued physical lines into r->text (NUL-terminated). 1 = a line, 0 = EOF, -1 = error. */
static int read_logical(struct pf_conf_reader *r, int *first, char *err, size_t errlen)
{
	ssize_t len;

	pf_buf_reset(&r->text);
	*first = 0;
	for (;;) {
		errno = 0;
		len = getline(&r->buf, &r->cap, r->fp);
		if (len < 0) {
			if (ferror(r->fp)) {
				*first = r->lineno + 1;
				snprintf(err, errlen, "read error: %s", strerror(errno));
				return -1;
			}
			break; /* a trailing backslash on the last line just ends it */
		}
		r->lineno++;
		if (!*first)
			*first = r->lineno;
		while (len > 0 && (r->buf[len - 1] == '\n' || r->buf[len - 1] == '\r'))
			len--;
		if (len > 0 && r->buf[len - 1] == '\\') {
			pf_buf_put(&r->text, r->buf, (size_t)len - 1);
			continue;
		}
		pf_buf_put(&r->text, r->buf, (size_t)len);
		break;
	}
	if (!*first)
		return 0;
	pf_buf_put_u8(&r->text, 0);
	return 1;
}

/* One token at *pp; stops at a blank, ',' or '#' outside quotes. -1 on an open quote. */
static int read_token(const char **pp, struct pf_conf_token *t, char *err, size_t errlen)
{
	const char *p = *pp;
	bool in_quote = false;
	struct pf_buf b;

	memset(t, 0, sizeof(*t));
	t->lead_quote = *p == '"';
	pf_buf_init(&b);
	while (*p) {
		if (!in_quote && (is_blank(*p) || *p == ',' || *p == '#'))
			break;
		if (*p == '"') {
			if (in_quote && p[1] == '"') {
				pf_buf_put_u8(&b, '"');
				p += 2;
				continue;
			}
			in_quote = !in_quote;
			t->quoted = true;
			p++;
			continue;
		}
		pf_buf_put_u8(&b, (uint8_t)*p++);
	}
	if (in_quote) {
		pf_buf_free(&b);
		snprintf(err, errlen, "missing closing quote");
		return -1;
	}
	t->text = pf_xstrndup(b.len ? (char *)b.data : "", b.len);
	pf_buf_free(&b);
	*pp = p;
	return 0;
}

static void add_token(struct pf_conf_field *f, struct pf_conf_token *t)
{
	f->tok = pf_xrealloc(f->tok, (f->n + 1) * sizeof(*f->tok));
	f->tok[f->n++] = *t;
}

static void add_field(struct pf_conf_line *line, struct pf_conf_field *f)
{
	line->fields = pf_xrealloc(line->fields, (line->n + 1) * sizeof(*line->fields));
	line->fields[line->n++] = *f;
}

/* Split one logical line into fields of comma lists. */
static int split_line(const char *p, struct pf_conf_line *line, char *err, size_t errlen)
{
	for (;;) {
		struct pf_conf_field f = { 0 };

		while (is_blank(*p))
			p++;
		if (!*p || *p == '#')
			return 0;
		for (;;) {
			struct pf_conf_token t;

			if (*p == ',') {
				snprintf(err, errlen, "empty item in a comma list");
				goto fail;
			}
			if (read_token(&p, &t, err, errlen) < 0)
				goto fail;
			add_token(&f, &t);
			if (*p != ',')
				break;
			p++;
			while (is_blank(*p))
				p++;
			if (!*p || *p == '#') {
				snprintf(err, errlen, "comma list ends with a comma");
				goto fail;
			}
		}
		add_field(line, &f);
		continue;
	fail:
		add_field(line, &f); /* so that pf_conf_line_free() frees it */
		return -1;
	}
}

int pf_conf_next(struct pf_conf_reader *r, struct pf_conf_line *line, char *err, size_t errlen)
{
	memset(line, 0, sizeof(*line));
	for (;;) {
		int first, rc = read_logical(r, &first, err, errlen);

		line->lineno = first;
		if (rc <= 0)
			return rc;
		if (split_line((const char *)r->text.data, line, err, errlen) < 0) {
			pf_conf_line_free(line);
			line->lineno = first;
			return -1;
		}
		if (line->n)
			return 1;
	}
}
