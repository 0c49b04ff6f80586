/*
 * ini_reader.h - read a pgbouncer.ini-style file (with %include) line by line.
 *
 * Syntax, as PgBouncer reads it:
 *   [section]                 a section header (a ';' or '#' comment may follow the ']')
 *   key = value               value is the rest of the line, trimmed; ';' and '#' inside
 *                             it are data, not comments; any length
 *   %include filename         read another file here (path relative to the CWD)
 *   ; comment / # comment     whole-line comments; blank lines are skipped
 * Leading white space is ignored on every line, so indentation never continues a value.
 *
 * Lines go through inih's ini_parse_stream, but inih only ever sees a short token line;
 * the real section, key and value reach the handler from our side, because Debian's
 * libinih cuts lines at 200 characters and treats ';' in values as a comment.
 */
#ifndef PF_CONFIG_INI_READER_H
#define PF_CONFIG_INI_READER_H

#include <stddef.h>

/* Deepest %include nesting allowed (the top file is depth 0), as in PgBouncer. */
#define PF_INI_MAX_INCLUDE_DEPTH 10

/*
 * Called once at the start of each section with key == NULL and value == NULL, then once
 * per "key = value" line. `file` and `line` say where the line is. Return 0 to go on, or
 * -1 after writing the reason (without file:line) into err; parsing then stops.
 */
typedef int (*pf_ini_handler)(void *arg, const char *file, int line, const char *section,
			      const char *key, const char *value, char *err, size_t errlen);

/*
 * Parse `path`. Returns 0, or -1 with err set to "file:line: reason" (or "file: reason"
 * when the top-level file cannot be opened).
 */
int pf_ini_parse(const char *path, pf_ini_handler handler, void *arg, char *err, size_t errlen);

#endif
