/* params.c - which parameters are tracked, and the per-pool welcome set. */
#include "pool/params.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/strlist.h"

static const char *const fixed_params[] = {
	"client_encoding", "DateStyle", "TimeZone", "IntervalStyle", "standard_conforming_strings", "application_name",
};

static char *tracked_names[PF_MAX_TRACKED];
static int tracked_count;

void pf_tracked_setup(const char *extra)
{
	for (int i = 0; i < tracked_count; i++)
		free(tracked_names[i]);
	tracked_count = 0;
	for (size_t i = 0; i < sizeof(fixed_params) / sizeof(fixed_params[0]); i++)
		tracked_names[tracked_count++] = pf_xstrdup(fixed_params[i]);
	if (!extra)
		return;
	const char *pos = extra, *item;
	size_t len;
	while ((item = pf_strlist_next(&pos, &len))) {
		char *name = pf_xstrndup(item, len);
		if (pf_tracked_index(name) >= 0) {
			free(name);
		} else if (tracked_count == PF_MAX_TRACKED) {
			log_warning("track_extra_parameters: too many parameters, ignoring %s", name);
			free(name);
		} else {
			tracked_names[tracked_count++] = name;
		}
	}
}

void pf_tracked_free(void)
{
	for (int i = 0; i < tracked_count; i++)
		free(tracked_names[i]);
	tracked_count = 0;
}

int pf_tracked_count(void)
{
	return tracked_count;
}

const char *pf_tracked_name(int idx)
{
	return tracked_names[idx];
}

int pf_tracked_index(const char *name)
{
	for (int i = 0; i < tracked_count; i++)
		if (strcasecmp(tracked_names[i], name) == 0)
			return i;
	return -1;
}

void pf_tracked_set(struct pf_tracked_values *vals, int idx, const char *value)
{
	if (vals->v[idx] && value && strcmp(vals->v[idx], value) == 0)
		return;
	free(vals->v[idx]);
	vals->v[idx] = value ? pf_xstrdup(value) : NULL;
}

void pf_tracked_copy(struct pf_tracked_values *dst, const struct pf_tracked_values *src)
{
	for (int i = 0; i < tracked_count; i++)
		pf_tracked_set(dst, i, src->v[i]);
}

void pf_tracked_clear(struct pf_tracked_values *vals)
{
	for (int i = 0; i < PF_MAX_TRACKED; i++) {
		free(vals->v[i]);
		vals->v[i] = NULL;
	}
}

bool pf_tracked_equal(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

void pf_welcome_set(struct pf_welcome *w, const char *name, const char *value)
{
	for (int i = 0; i < w->n; i++) {
		if (strcasecmp(w->names[i], name) == 0) {
			free(w->values[i]);
			w->values[i] = pf_xstrdup(value);
			return;
		}
	}
	w->names = pf_xrealloc(w->names, sizeof(char *) * (size_t)(w->n + 1));
	w->values = pf_xrealloc(w->values, sizeof(char *) * (size_t)(w->n + 1));
	w->names[w->n] = pf_xstrdup(name);
	w->values[w->n] = pf_xstrdup(value);
	w->n++;
}

const char *pf_welcome_get(const struct pf_welcome *w, const char *name)
{
	for (int i = 0; i < w->n; i++)
		if (strcasecmp(w->names[i], name) == 0)
			return w->values[i];
	return NULL;
}

void pf_welcome_clear(struct pf_welcome *w)
{
	for (int i = 0; i < w->n; i++) {
		free(w->names[i]);
		free(w->values[i]);
	}
	free(w->names);
	free(w->values);
	w->n = 0;
	w->names = w->values = NULL;
}
