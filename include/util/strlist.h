/*
 * strlist.h - comma/space separated lists in config values ("a, b c").
 */
#ifndef PF_UTIL_STRLIST_H
#define PF_UTIL_STRLIST_H

#include <stdbool.h>
#include <stddef.h>

/* Next item of the list at *pos: returns its start and length, advances *pos; NULL at the end. */
const char *pf_strlist_next(const char **pos, size_t *len);
/* Is name (case-insensitively) an item of list? A NULL list holds nothing. */
bool pf_strlist_contains(const char *list, const char *name);

#endif
