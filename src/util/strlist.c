/* strlist.c - comma/space separated lists in config values. */
#include "util/strlist.h"

#include <string.h>
#include <strings.h>

static bool is_separator(char c)
{
	return c == ',' || c == ' ' || c == '\t';
}

const char *pf_strlist_next(const char **pos, size_t *len)
{
	const char *p = *pos;
	while (*p && is_separator(*p))
		p++;
	if (!*p) {
		*pos = p;
		return NULL;
	}
	const char *start = p;
	while (*p && !is_separator(*p))
		p++;
	*len = (size_t)(p - start);
	*pos = p;
	return start;
}

bool pf_strlist_contains(const char *list, const char *name)
{
	if (!list)
		return false;
	size_t n = strlen(name), len;
	const char *pos = list, *item;
	while ((item = pf_strlist_next(&pos, &len)))
		if (len == n && strncasecmp(item, name, n) == 0)
			return true;
	return false;
}
