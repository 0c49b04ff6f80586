/* sqlcmd.c - a small SQL lexer for DEALLOCATE and DISCARD ALL (see sqlcmd.h). */
#include "proto/sqlcmd.h"

#include <stdbool.h>
#include <string.h>

#define NAMEDATALEN 64

struct lexer {
	const char *p, *end;
};

/* A token: an identifier or keyword, unquoted (in the text as written) or quoted. */
struct token {
	const char *start;
	size_t len;
	bool quoted;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* PostgreSQL's ident_start and ident_cont: bytes >= 0x80 are letters (parts of multibyte characters). */
static bool ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (unsigned char)c >= 0x80;
}

static bool ident_cont(char c)
{
	return ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

/* Skip white space and comments. false on an unterminated block comment (a syntax error). */
static bool skip_blank(struct lexer *lx)
{
	while (lx->p < lx->end) {
		if (is_space(*lx->p)) {
			lx->p++;
		} else if (lx->end - lx->p >= 2 && lx->p[0] == '-' && lx->p[1] == '-') {
			while (lx->p < lx->end && *lx->p != '\n' && *lx->p != '\r')
				lx->p++;
		} else if (lx->end - lx->p >= 2 && lx->p[0] == '/' && lx->p[1] == '*') {
			/* Block comments nest in PostgreSQL, unlike in C. */
			int depth = 0;
			do {
				if (lx->end - lx->p < 2)
					return false;
				if (lx->p[0] == '/' && lx->p[1] == '*') {
					depth++;
					lx->p += 2;
				} else if (lx->p[0] == '*' && lx->p[1] == '/') {
					depth--;
					lx->p += 2;
				} else {
					lx->p++;
				}
			} while (depth > 0);
		} else {
			return true;
		}
	}
	return true;
}

/*
 * The next identifier or keyword. 0 = none here (another character or the end),
 * 1 = a token, -1 = a syntax error (unterminated comment or quote, empty quoted name).
 */
static int next_token(struct lexer *lx, struct token *t)
{
	if (!skip_blank(lx))
		return -1;
	if (lx->p >= lx->end)
		return 0;
	if (*lx->p == '"') {
		t->start = ++lx->p;
		t->quoted = true;
		for (;;) {
			if (lx->p >= lx->end)
				return -1;
			if (*lx->p == '"') {
				if (lx->end - lx->p >= 2 && lx->p[1] == '"') {
					lx->p += 2; /* "" stands for one " */
					continue;
				}
				break;
			}
			lx->p++;
		}
		t->len = (size_t)(lx->p - t->start);
		lx->p++;
		return t->len ? 1 : -1; /* "zero-length delimited identifier" */
	}
	if (!ident_start(*lx->p))
		return 0;
	t->start = lx->p;
	t->quoted = false;
	while (lx->p < lx->end && ident_cont(*lx->p))
		lx->p++;
	t->len = (size_t)(lx->p - t->start);
	return 1;
}

/* An unquoted token that is keyword kw (given in upper case). */
static bool is_keyword(const struct token *t, const char *kw)
{
	if (t->quoted || t->len != strlen(kw))
		return false;
	for (size_t i = 0; i < t->len; i++) {
		char c = t->start[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c != kw[i])
			return false;
	}
	return true;
}

/* Blanks, comments and semicolons (empty statements). false on an unterminated comment. */
static bool skip_empty(struct lexer *lx)
{
	for (;;) {
		if (!skip_blank(lx))
			return false;
		if (lx->p >= lx->end || *lx->p != ';')
			return true;
		lx->p++;
	}
}

/* Nothing but empty statements may follow the command. */
static bool at_end(struct lexer *lx)
{
	return skip_empty(lx) && lx->p >= lx->end;
}

/* The name as PostgreSQL's scanner makes it: quotes undone or ASCII folded, then cut. */
static void copy_name(const struct token *t, char name[PF_SQLCMD_NAME_MAX])
{
	char tmp[NAMEDATALEN]; /* one byte more than is kept, to see where a cut falls */
	size_t n = 0;

	for (size_t i = 0; i < t->len && n < sizeof(tmp); i++) {
		char c = t->start[i];
		if (t->quoted && c == '"')
			i++; /* "" stands for one " */
		else if (!t->quoted && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		tmp[n++] = c;
	}
	if (n > NAMEDATALEN - 1) {
		/* Too long: 63 bytes, less the start of a UTF-8 character the cut would split. */
		n = NAMEDATALEN - 1;
		while (n > 0 && ((unsigned char)tmp[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(name, tmp, n);
	name[n] = '\0';
}

enum pf_sqlcmd pf_sqlcmd_parse(const char *sql, size_t len, char name[PF_SQLCMD_NAME_MAX])
{
	const char *nul = memchr(sql, 0, len);
	struct lexer lx = { sql, nul ? nul : sql + len };
	struct token t;
	enum pf_sqlcmd cmd;

	/* Empty statements before the command are allowed too: ";;DEALLOCATE x" is one command. */
	if (!skip_empty(&lx) || next_token(&lx, &t) != 1)
		return PF_SQLCMD_OTHER;
	if (is_keyword(&t, "DISCARD")) {
		if (next_token(&lx, &t) != 1 || !is_keyword(&t, "ALL"))
			return PF_SQLCMD_OTHER;
		return at_end(&lx) ? PF_SQLCMD_DISCARD_ALL : PF_SQLCMD_OTHER;
	}
	if (!is_keyword(&t, "DEALLOCATE") || next_token(&lx, &t) != 1)
		return PF_SQLCMD_OTHER;
	if (is_keyword(&t, "PREPARE")) {
		/* PREPARE is an unreserved keyword: alone, it is the name ("DEALLOCATE prepare"). */
		struct lexer after = lx;
		struct token t2;
		int r = next_token(&after, &t2);
		if (r < 0)
			return PF_SQLCMD_OTHER;
		if (r == 1) {
			lx = after;
			t = t2;
		}
	}
	/* ALL is reserved: unquoted it is never a name. */
	cmd = is_keyword(&t, "ALL") ? PF_SQLCMD_DEALLOCATE_ALL : PF_SQLCMD_DEALLOCATE;
	if (!at_end(&lx))
		return PF_SQLCMD_OTHER;
	if (cmd == PF_SQLCMD_DEALLOCATE)
		copy_name(&t, name);
	return cmd;
}

enum pf_sqlcmd_set pf_sqlcmd_parse_set(const char *sql, size_t len, char name[PF_SQLCMD_NAME_MAX],
				       char value[PF_SQLCMD_VALUE_MAX])
{
	const char *nul = memchr(sql, 0, len);
	struct lexer lx = { sql, nul ? nul : sql + len };
	struct token t, n;
	bool reset;

	if (!skip_empty(&lx) || next_token(&lx, &t) != 1)
		return PF_SQLCMD_SET_OTHER;
	reset = is_keyword(&t, "RESET");
	if (!reset && !is_keyword(&t, "SET"))
		return PF_SQLCMD_SET_OTHER;
	if (next_token(&lx, &n) != 1)
		return PF_SQLCMD_SET_OTHER;
	if (!reset && is_keyword(&n, "SESSION")) {
		/* SESSION may also be the setting's name ("SET session = 1" is refused anyway). */
		if (next_token(&lx, &n) != 1)
			return PF_SQLCMD_SET_OTHER;
	}
	if (is_keyword(&n, "LOCAL") || is_keyword(&n, "ALL") || is_keyword(&n, "TIME") ||
	    is_keyword(&n, "ROLE") || is_keyword(&n, "TRANSACTION"))
		return PF_SQLCMD_SET_OTHER;
	copy_name(&n, name);
	if (reset)
		return at_end(&lx) ? PF_SQLCMD_RESET : PF_SQLCMD_SET_OTHER;
	if (!skip_blank(&lx) || lx.p >= lx.end)
		return PF_SQLCMD_SET_OTHER;
	if (*lx.p == '=') {
		lx.p++;
	} else {
		struct token to;
		if (next_token(&lx, &to) != 1 || !is_keyword(&to, "TO"))
			return PF_SQLCMD_SET_OTHER;
	}
	if (!skip_blank(&lx) || lx.p >= lx.end)
		return PF_SQLCMD_SET_OTHER;
	struct lexer save = lx;
	struct token d;
	if (next_token(&lx, &d) == 1) {
		if (!is_keyword(&d, "DEFAULT") || !at_end(&lx))
			return PF_SQLCMD_SET_OTHER;
		value[0] = '\0';
		return PF_SQLCMD_SET;
	}
	lx = save;
	const char *start = lx.p;
	if (*lx.p == '-' || *lx.p == '+')
		lx.p++;
	const char *digits = lx.p;
	while (lx.p < lx.end && *lx.p >= '0' && *lx.p <= '9')
		lx.p++;
	size_t vlen = (size_t)(lx.p - start);
	if (lx.p == digits || vlen >= PF_SQLCMD_VALUE_MAX || (lx.p < lx.end && ident_cont(*lx.p)) ||
	    (lx.p < lx.end && *lx.p == '.') || !at_end(&lx))
		return PF_SQLCMD_SET_OTHER;
	memcpy(value, start, vlen);
	value[vlen] = '\0';
	return PF_SQLCMD_SET;
}
