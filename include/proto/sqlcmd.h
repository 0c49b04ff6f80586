/*
 * sqlcmd.h - recognize, in the text of a simple Query, the SQL commands that change which
 * prepared statements a session has: DEALLOCATE [PREPARE] name, DEALLOCATE [PREPARE] ALL and
 * DISCARD ALL. With max_prepared_statements the pooler keeps each client's statements itself,
 * so it must act on these (doc/prepared-statements.md says how); anything else passes through.
 *
 * The text is lexed as PostgreSQL does: keywords in any case; white space, -- and nested
 * block comments anywhere between tokens; any number of semicolons before and after the
 * command; the name as an identifier, folded to lower case (ASCII letters only, as in UTF-8
 * databases) unless double-quoted ("" inside quotes is one "), and cut to 63 bytes at a UTF-8
 * character boundary (NAMEDATALEN 64). Text that PostgreSQL would refuse, more than one
 * command ("DEALLOCATE a; SELECT 1"), and forms this lexer does not know (U&"..." names) are
 * PF_SQLCMD_OTHER: the server then answers them itself, errors included. A reserved keyword
 * as a name ("DEALLOCATE select") is taken as a name although PostgreSQL refuses it; the
 * pooler only acts on it if the client has a statement of that name.
 */
#ifndef PF_PROTO_SQLCMD_H
#define PF_PROTO_SQLCMD_H

#include <stddef.h>

enum pf_sqlcmd {
	PF_SQLCMD_OTHER,          /* not one of these: pass it through */
	PF_SQLCMD_DEALLOCATE,     /* DEALLOCATE [PREPARE] name */
	PF_SQLCMD_DEALLOCATE_ALL, /* DEALLOCATE [PREPARE] ALL */
	PF_SQLCMD_DISCARD_ALL,    /* DISCARD ALL */
};

/* Room for a statement name: 63 bytes and a NUL. */
#define PF_SQLCMD_NAME_MAX 64

/*
 * Classify the query text sql[0, len) (it ends earlier at a NUL: a Query body can be passed
 * whole). For PF_SQLCMD_DEALLOCATE, `name` receives the statement name as PostgreSQL would
 * look it up; otherwise it is left unchanged.
 */
enum pf_sqlcmd pf_sqlcmd_parse(const char *sql, size_t len, char name[PF_SQLCMD_NAME_MAX]);

/*
 * SET of a setting to an integer, as drivers send it after login (pgJDBC: "SET
 * extra_float_digits = 3"): the whole text must be `SET [SESSION] name {= | TO} value` with
 * value an integer literal (optionally signed) or DEFAULT, or `RESET name`. PF_SQLCMD_SET
 * fills name (lower case, as PostgreSQL folds it) and value (the literal as written, or ""
 * for DEFAULT); PF_SQLCMD_RESET fills name. Anything else, SET LOCAL and other values
 * included, is PF_SQLCMD_OTHER: the pooler only follows what it can state exactly.
 */
#define PF_SQLCMD_VALUE_MAX 24
enum pf_sqlcmd_set { PF_SQLCMD_SET_OTHER, PF_SQLCMD_SET, PF_SQLCMD_RESET };
enum pf_sqlcmd_set pf_sqlcmd_parse_set(const char *sql, size_t len, char name[PF_SQLCMD_NAME_MAX],
				       char value[PF_SQLCMD_VALUE_MAX]);

#endif
