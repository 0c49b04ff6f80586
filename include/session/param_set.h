/*
 * param_set.h - a client's SET of a tracked parameter that PostgreSQL does not report.
 *
 * Tracked parameters follow the client from server to server (pool/params.h). For the ones
 * PostgreSQL reports, a SET shows up as ParameterStatus; extra_float_digits and search_path
 * send nothing, so a client's `SET extra_float_digits = 3` (pgJDBC runs it after every login)
 * would hold on the server it ran on only. The pooler follows the plain form exactly: a
 * Query, or an unnamed Parse, whose whole text is `SET [SESSION] name = <integer>`, `... TO
 * DEFAULT` or `RESET name` (proto/sqlcmd.h), run outside a transaction block without an
 * error, becomes the client's value (and its server's). Anything else (SET in a block, SET
 * LOCAL, other values, SET search_path) holds on its server only, as in PgBouncer.
 */
#ifndef PF_SESSION_PARAM_SET_H
#define PF_SESSION_PARAM_SET_H

#include <stdbool.h>
#include <stdint.h>

#include "net/stream.h"

struct pf_server;

/* Cheap first look at a text: does it start with SET or RESET and a blank? */
static inline bool pf_param_set_maybe(const uint8_t *t, uint32_t n)
{
	if (n >= 4 && (t[0] | 0x20) == 's' && (t[1] | 0x20) == 'e' && (t[2] | 0x20) == 't')
		return t[3] == ' ' || t[3] == '\t' || t[3] == '\n' || t[3] == '\r';
	return n >= 6 && (t[0] | 0x20) == 'r' && (t[1] | 0x20) == 'e' && (t[2] | 0x20) == 's' &&
	       (t[3] | 0x20) == 'e' && (t[4] | 0x20) == 't' && (t[5] == ' ' || t[5] == '\t' || t[5] == '\n');
}

/* A linked client's Query (after it was counted) or unnamed Parse that passed the first look. */
void pf_param_set_seen(struct pf_server *server, const struct pf_pkt *pkt);
/* The ReadyForQuery that answers it: `before` is the status before it, `failed` whether an
 * error came since the previous one. */
void pf_param_set_answered(struct pf_server *server, char before, char status, bool failed);

#endif
