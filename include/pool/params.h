/*
 * params.h - the startup parameters pgfjord tracks per connection (client_encoding,
 * DateStyle, TimeZone, IntervalStyle, standard_conforming_strings, application_name,
 * extra_float_digits, search_path and track_extra_parameters). A client's values are set on
 * a server when they are linked and the server's values differ; a value the client did not
 * set (unknown, id 0) means the server's default, and a server that has another one is
 * RESET.
 */
#ifndef PF_POOL_PARAMS_H
#define PF_POOL_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

#define PF_MAX_TRACKED 16

/* Build the list from the fixed set plus a comma list of extra names. */
void pf_tracked_setup(const char *extra);
void pf_tracked_free(void);
int pf_tracked_count(void);
const char *pf_tracked_name(int idx);
/* Index of a parameter name (case-insensitive), or -1 when not tracked. */
int pf_tracked_index(const char *name);

/*
 * A value per tracked parameter, as an id of an interned string (0 = unknown). Thousands of
 * clients mostly share the same few values, so each client holds ids, not strings, and two
 * connections agree on a parameter exactly when their ids are equal.
 */
struct pf_tracked_values {
	uint32_t v[PF_MAX_TRACKED];
};

void pf_tracked_set(struct pf_tracked_values *vals, int idx, const char *value);
/* The value, or NULL when unknown. */
const char *pf_tracked_get(const struct pf_tracked_values *vals, int idx);
void pf_tracked_copy_one(struct pf_tracked_values *dst, const struct pf_tracked_values *src, int idx);
void pf_tracked_clear(struct pf_tracked_values *vals);
/* Parameters PostgreSQL does not report with ParameterStatus (a client gets no greeting for
 * them); their server values are what the pooler set. */
bool pf_tracked_unreported(int idx);
/* The server ran DISCARD ALL: those are back to their defaults. */
void pf_tracked_forget_unreported(struct pf_tracked_values *vals);
/* Interned strings alive (for SHOW MEM later). */
int pf_interned_count(void);

/* Every ParameterStatus a server sent at login, to greet clients of the same pool. */
struct pf_welcome {
	int n;
	char **names;
	char **values;
};

void pf_welcome_set(struct pf_welcome *w, const char *name, const char *value);
const char *pf_welcome_get(const struct pf_welcome *w, const char *name);
void pf_welcome_clear(struct pf_welcome *w);

#endif
