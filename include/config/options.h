/*
 * options.h - the table of [pgbouncer] keys: type, default, where the value lives in
 * struct pf_settings, and whether it can change at runtime / is acted on yet.
 *
 * The same table serves the config loader, the admin console's SET and SHOW CONFIG, and
 * the docs. Values are parsed the way PgBouncer parses them: times are seconds with an
 * optional fraction, stored as microseconds; booleans are stored as 0/1 ints.
 */
#ifndef PF_CONFIG_OPTIONS_H
#define PF_CONFIG_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

enum pf_opt_type {
	OPT_T_INT,    /* int, whole number within [min, max] */
	OPT_T_BOOL,   /* int 0/1; accepts 0/1/yes/no/on/off/true/false */
	OPT_T_TIME,   /* usec_t; written in seconds, fractions allowed ("0.2") */
	OPT_T_STRING, /* char *; NULL means unset */
	OPT_T_ENUM,   /* int; one of the names in `choices` */
	OPT_T_MODE,   /* int; file mode written in octal ("0777") */
};

/* Flags of a table entry. */
#define OPT_RELOAD 0x01 /* may change at runtime (RELOAD, SET); otherwise needs a restart */
#define OPT_ACTED 0x02  /* pgfjord acts on it; others are accepted with a warning */
#define OPT_ALIAS 0x04  /* another name for `alias_of` (PgBouncer on Linux has no service_name row in SHOW CONFIG) */

struct pf_opt_choice {
	const char *name;
	int value;
};

struct pf_option {
	const char *name;
	enum pf_opt_type type;
	const char *def;       /* default as text, as COMPAT.md gives it; NULL = unset */
	size_t offset;         /* into struct pf_settings */
	unsigned flags;
	long long min, max;    /* OPT_T_INT range; OPT_T_STRING: min = shortest length (0 or 1) */
	const struct pf_opt_choice *choices; /* OPT_T_ENUM: names; OPT_T_STRING: allowed values or NULL */
	const char *alias_of;  /* OPT_ALIAS only */
};

/*
 * server_check_query's default is this literal text, meaning "send an empty query", as in
 * PgBouncer 1.25; an empty string disables the check.
 */
#define PF_CHECK_QUERY_EMPTY "<empty>"

/* Fill `s` with the defaults (strings malloc'ed). Overwrites `s` without freeing it. */
void pf_settings_defaults(struct pf_settings *s);
/* Free the strings of `s` (not `s` itself); the fields are left NULL. */
void pf_settings_free(struct pf_settings *s);

/*
 * Set option `name` (case-insensitive) from text. Returns 0 on success, -1 for an
 * unknown key, -2 for a bad value; on failure `err` says why.
 */
int pf_option_set(struct pf_settings *s, const char *name, const char *value, char *err, size_t errlen);

/* Table entry for `name` (case-insensitive, aliases included), or NULL. */
const struct pf_option *pf_option_find(const char *name);
/* The whole table, sorted by name; *count gets the number of entries. */
const struct pf_option *pf_options_table(size_t *count);

/* The value as SHOW CONFIG shows it ("" for unset strings); malloc'ed. */
char *pf_option_value_text(const struct pf_settings *s, const struct pf_option *opt);

/*
 * Value parsers shared with the [databases]/[users] connect strings. Each returns 0 on
 * success and -1 when the text is not acceptable; the output is untouched then.
 */
int pf_parse_int(const char *text, long long min, long long max, int *out);
int pf_parse_bool(const char *text, int *out);
int pf_parse_time(const char *text, usec_t *out); /* seconds, >= 0, fractions allowed */
/* Format a time the way SHOW CONFIG does: whole seconds as "5", else "0.2". */
void pf_format_time(usec_t t, char *out, size_t outlen);

#endif
