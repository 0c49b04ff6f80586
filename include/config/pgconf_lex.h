/*
 * pgconf_lex.h - the lexical rules PostgreSQL shares between pg_hba.conf and pg_ident.conf,
 * used for auth_hba_file, its @files and auth_ident_file.
 *
 * A logical line is a physical line plus the following ones while it ends in a backslash
 * (the backslash is dropped, nothing is inserted). '#' outside quotes starts a comment.
 * Fields are separated by blanks; a field is a comma list of tokens ("a,b" or "a, b"). Double
 * quotes protect blanks, commas and '#', and "" inside quotes is one '"'. A token with any
 * quoted part is never a keyword.
 */
#ifndef PF_CONFIG_PGCONF_LEX_H
#define PF_CONFIG_PGCONF_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util/buf.h"

struct pf_conf_token {
	char *text;
	bool quoted;     /* some part was in quotes: a literal name, never a keyword */
	bool lead_quote; /* began with a quote: "@x" is a name, not an @file */
};

struct pf_conf_field {
	struct pf_conf_token *tok; /* the comma list, at least one */
	size_t n;
};

struct pf_conf_line {
	int lineno; /* first physical line of the logical line */
	struct pf_conf_field *fields;
	size_t n;
};

struct pf_conf_reader {
	FILE *fp;
	int lineno; /* last physical line read */
	char *buf;  /* getline()'s */
	size_t cap;
	struct pf_buf text; /* the logical line being assembled */
};

/* 0, or -1 with errno set. */
int pf_conf_open(struct pf_conf_reader *r, const char *path);
void pf_conf_close(struct pf_conf_reader *r);

/*
 * The next logical line that has a field: 1 = *line filled (free it with pf_conf_line_free),
 * 0 = end of file, -1 = error, with the reason in err and line->lineno set.
 */
int pf_conf_next(struct pf_conf_reader *r, struct pf_conf_line *line, char *err, size_t errlen);
void pf_conf_line_free(struct pf_conf_line *line);

/* Is t the unquoted keyword kw? Keywords are case-sensitive, as in PostgreSQL. */
bool pf_conf_is_kw(const struct pf_conf_token *t, const char *kw);

#endif
