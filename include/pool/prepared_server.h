/*
 * prepared_server.h - the statements one server connection has prepared, under their
 * registry names (prepared.h), least recently used first out; used by session/prepared_path.c.
 *
 * Before a client's Parse, Bind or Describe of statement st goes to server S:
 *     switch (pf_ps_server_ensure(&S->ps, st, max_prepared_statements, stats)) {
 *     case PF_PS_MISS:  while ((old = pf_ps_server_evict(&S->ps, max_prepared_statements))) {
 *                           pf_ps_build_close(out, old); (its CloseComplete is not forwarded)
 *                           keep `old` until the batch is answered, then pf_ps_stmt_unref(old);
 *                       }
 *                       pf_ps_build_parse(out, st);   (then the client's message, renamed)
 *                       break;
 *     case PF_PS_HIT:   break;                        (prepared there already)
 *     case PF_PS_OFF:   pass everything through;      (max_prepared_statements = 0)
 *     }
 * The cache changes at once, as if the server had done what it is sent; messages the server
 * then skips (an error earlier in the batch) are undone by the wiring, newest first: an
 * injected Parse with pf_ps_server_forget(), an injected Close with pf_ps_server_restore()
 * (doc/prepared-statements.md, "Errors in a pipeline"). A cache that believed a statement
 * prepared when it is not would make Binds fail; one that forgot a prepared statement would
 * make its next Parse fail (42P05 for our own name): both are bugs, never tolerable drift.
 *
 * The server loses every statement with DISCARD ALL or DEALLOCATE ALL (server_reset_query
 * included): pf_ps_server_clear(). The cache holds a registry reference per statement.
 */
#ifndef PF_POOL_PREPARED_SERVER_H
#define PF_POOL_PREPARED_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "pool/prepared.h"
#include "pool/stats.h"
#include "util/htab.h"
#include "util/list.h"

struct pf_ps_server {
	struct pf_htab stmts;
	struct list_head lru; /* most recently used first */
};

enum pf_ps_ensure {
	PF_PS_HIT,  /* prepared on this server already: now the most recently used */
	PF_PS_MISS, /* not yet: now recorded as prepared; the caller must send the Parse */
	PF_PS_OFF,  /* capacity 0: the feature is off, nothing recorded */
};

void pf_ps_server_init(struct pf_ps_server *sv);
/* Forget everything: the server lost its statements, or is closed. */
void pf_ps_server_clear(struct pf_ps_server *sv);
/* SHOW SERVERS prepared_statements. */
static inline size_t pf_ps_server_count(const struct pf_ps_server *sv) { return pf_htab_count(&sv->stmts); }
bool pf_ps_server_has(const struct pf_ps_server *sv, const struct pf_ps_stmt *st);

/* See above; a MISS counts in stats->server_parse_count (stats may be NULL). */
enum pf_ps_ensure pf_ps_server_ensure(struct pf_ps_server *sv, struct pf_ps_stmt *st, int capacity,
				      struct pf_stats *stats);
/* While the cache holds more than `capacity` statements (0 when capacity < 0), take out the
 * least recently used and return it with its reference: the caller sends its Close. After
 * an ensure with capacity >= 1 this is at most one statement, never the one just ensured;
 * after a RELOAD lowered the capacity, as many as it takes. NULL when within capacity. */
struct pf_ps_stmt *pf_ps_server_evict(struct pf_ps_server *sv, int capacity);
/* The server does not have st after all (its Parse failed or was skipped): false when the
 * cache did not hold it. */
bool pf_ps_server_forget(struct pf_ps_server *sv, struct pf_ps_stmt *st);
/* The server still has st (its eviction's Close was skipped): record it again, as the least
 * recently used, taking a new reference. The next evict() trims the cache if need be. */
void pf_ps_server_restore(struct pf_ps_server *sv, struct pf_ps_stmt *st);

#endif
