/*
 * ident.h - auth_ident_file: pg_ident.conf user name maps, for hba rules with map=NAME.
 *
 * Line: MAPNAME SYSTEM-USERNAME PG-USERNAME
 *
 * SYSTEM-USERNAME starting with '/' is a POSIX extended regular expression (regex.h, not
 * PostgreSQL's own flavour: no \d or \w), unanchored unless it says ^...$; then a "\1" in
 * PG-USERNAME is replaced by what its first ( ) group matched. PG-USERNAME may also be the
 * keyword all or, starting with '/', a regular expression the requested user must match.
 * Lexical rules as in pg_hba.conf (pgconf_lex.h). Any bad line fails the whole file.
 */
#ifndef PF_CONFIG_IDENT_H
#define PF_CONFIG_IDENT_H

#include <stdbool.h>
#include <stddef.h>

struct pf_ident;

/* Load `path`. NULL on error, with err = "file:line: reason" (or "file: reason"). */
struct pf_ident *pf_ident_load(const char *path, char *err, size_t errlen);
void pf_ident_free(struct pf_ident *ident);

/*
 * May the OS user (peer) or certificate name (cert) `system_user` log in as `pg_user` under
 * map `mapname`? True when any line of that map allows it; false for an unknown map or a
 * NULL ident. Names compare case-sensitively.
 */
bool pf_ident_map_allows(const struct pf_ident *ident, const char *mapname, const char *system_user,
			 const char *pg_user);

/* Does the file define `mapname`? Lets the caller warn about a map= that names no map. */
bool pf_ident_has_map(const struct pf_ident *ident, const char *mapname);

#endif
