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
	/* Sent at startup by drivers (pgJDBC: extra_float_digits; others: search_path), so they
	 * are applied on each server the client gets rather than refused. PostgreSQL does not
	 * report them (ParameterStatus): the pooler knows a server's value only from what it set,
	 * and a DISCARD ALL puts them back to the default (pf_tracked_forget_unreported). */
	"extra_float_digits", "search_path",
};

/* Of those, the ones PostgreSQL (up to 17) never reports. */
static const char *const unreported_params[] = { "extra_float_digits", "search_path" };

/*
 * The intern table: ids index `values`; a chained hash finds a string's id. An entry lives
 * while some connection refers to it, so distinct application_names do not pile up.
 */
struct interned {
	char *str;
	uint32_t refs;
	uint32_t hash;
	uint32_t next;      /* next id in the hash chain, or next free id */
};

#define INTERN_BUCKETS 4096

static struct interned *values;  /* values[0] is unused: id 0 means "unknown" */
static uint32_t values_used;      /* ids handed out so far, plus the unused 0 */
static uint32_t values_alloc;
static uint32_t free_ids;         /* head of the free list, 0 = none */
static uint32_t buckets[INTERN_BUCKETS];
static int live_count;

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
	if (live_count == 0) {
		free(values);
		values = NULL;
		values_used = values_alloc = 0;
		free_ids = 0;
		memset(buckets, 0, sizeof(buckets));
	}
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

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static uint32_t intern(const char *value)
{
	uint32_t h = hash_str(value);
	for (uint32_t id = buckets[h % INTERN_BUCKETS]; id; id = values[id].next) {
		if (values[id].hash == h && strcmp(values[id].str, value) == 0) {
			values[id].refs++;
			return id;
		}
	}
	uint32_t id = free_ids;
	if (id) {
		free_ids = values[id].next;
	} else {
		if (values_used == 0)
			values_used = 1; /* id 0 stays unused */
		if (values_used >= values_alloc) {
			values_alloc = values_alloc ? values_alloc * 2 : 64;
			values = pf_xrealloc(values, sizeof(*values) * values_alloc);
		}
		id = values_used++;
	}
	values[id].str = pf_xstrdup(value);
	values[id].refs = 1;
	values[id].hash = h;
	values[id].next = buckets[h % INTERN_BUCKETS];
	buckets[h % INTERN_BUCKETS] = id;
	live_count++;
	return id;
}

static void release(uint32_t id)
{
	if (!id || --values[id].refs > 0)
		return;
	uint32_t *pp = &buckets[values[id].hash % INTERN_BUCKETS];
	while (*pp != id)
		pp = &values[*pp].next;
	*pp = values[id].next;
	free(values[id].str);
	values[id].str = NULL;
	values[id].next = free_ids;
	free_ids = id;
	live_count--;
}

void pf_tracked_set(struct pf_tracked_values *vals, int idx, const char *value)
{
	uint32_t id = value ? intern(value) : 0;
	release(vals->v[idx]);
	vals->v[idx] = id;
}

const char *pf_tracked_get(const struct pf_tracked_values *vals, int idx)
{
	return vals->v[idx] ? values[vals->v[idx]].str : NULL;
}

void pf_tracked_copy_one(struct pf_tracked_values *dst, const struct pf_tracked_values *src, int idx)
{
	if (src->v[idx])
		values[src->v[idx]].refs++;
	release(dst->v[idx]);
	dst->v[idx] = src->v[idx];
}

void pf_tracked_clear(struct pf_tracked_values *vals)
{
	for (int i = 0; i < PF_MAX_TRACKED; i++) {
		release(vals->v[i]);
		vals->v[i] = 0;
	}
}

bool pf_tracked_unreported(int idx)
{
	for (size_t i = 0; i < sizeof(unreported_params) / sizeof(unreported_params[0]); i++)
		if (strcasecmp(tracked_names[idx], unreported_params[i]) == 0)
			return true;
	return false;
}

void pf_tracked_forget_unreported(struct pf_tracked_values *vals)
{
	for (int i = 0; i < tracked_count; i++) {
		if (vals->v[i] && pf_tracked_unreported(i)) {
			release(vals->v[i]);
			vals->v[i] = 0;
		}
	}
}

int pf_interned_count(void)
{
	return live_count;
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
