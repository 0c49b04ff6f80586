/*
 * prepared_client.h - one client's view of its prepared statements: its own statement
 * names, each mapped to an entry of the registry (prepared.h); used by session/prepared_path.c.
 *
 * The view is what PostgreSQL would show the client on a connection of its own: a name is
 * defined by Parse until Close, DEALLOCATE, DEALLOCATE ALL or DISCARD ALL; defining it again
 * before that is an error (42P05), using an undefined name too (26000). As in PostgreSQL,
 * only the first 63 bytes of a name count (its prepared-statement table is keyed by
 * NAMEDATALEN - 1 bytes): "a...a1" and "a...a2", 64 bytes each, are one statement.
 * The unnamed statement ("") is never mapped: it passes through to the server.
 *
 * Changes take effect when the client's message is read, so that the next messages of a
 * pipeline see them; when the server skips the message after an error (it ignores
 * everything up to Sync), the wiring undoes them: a Parse with pf_ps_client_close(), a
 * Close with pf_ps_client_put() of the reference pf_ps_client_take() gave
 * (doc/prepared-statements.md, "Errors in a pipeline").
 *
 * Memory: a zeroed struct is an empty view holding nothing; each name costs one small
 * allocation (at most 63 bytes of name), and the table is freed when the last name goes.
 */
#ifndef PF_POOL_PREPARED_CLIENT_H
#define PF_POOL_PREPARED_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pool/prepared.h"
#include "pool/stats.h"
#include "util/htab.h"

/* Bytes of a statement name that count (NAMEDATALEN - 1). */
#define PF_PS_NAME_SIGNIFICANT 63

struct pf_ps_client {
	struct pf_htab names;
};

static inline void pf_ps_client_init(struct pf_ps_client *c) { pf_htab_init(&c->names); }
/* Forget every name (DEALLOCATE ALL, DISCARD ALL, the client leaves); frees everything. */
void pf_ps_client_clear(struct pf_ps_client *c);
/* SHOW CLIENTS prepared_statements. */
static inline size_t pf_ps_client_count(const struct pf_ps_client *c) { return pf_htab_count(&c->names); }

/*
 * A Parse of statement `name` with `key` (pf_parse_parse). PF_PS_OK: the name now maps to the
 * registry's statement for key, returned in *st (the map holds the reference), and
 * stats->client_parse_count is counted (stats may be NULL). PF_PS_EXISTS: the name is in use,
 * nothing changed (the client gets pf_ps_build_error). PF_PS_UNNAMED for "": pass it through.
 */
enum pf_ps_result pf_ps_client_parse(struct pf_ps_client *c, struct pf_ps_registry *r, const char *name,
				     const uint8_t *key, size_t key_len, struct pf_stats *stats, struct pf_ps_stmt **st);
/* The statement `name` stands for (borrowed: valid while mapped), or NULL (26000; for "" too,
 * which the caller passes through instead of asking). For a Describe. */
struct pf_ps_stmt *pf_ps_client_get(const struct pf_ps_client *c, const char *name);
/* The same for a Bind, which counts in stats->bind_count when found (stats may be NULL). */
struct pf_ps_stmt *pf_ps_client_bind(const struct pf_ps_client *c, const char *name, struct pf_stats *stats);
/* Close 'S' or DEALLOCATE name: unmap it and hand its reference to the caller (to unref, or
 * to give back with pf_ps_client_put when undoing); NULL when not mapped (no error: as in
 * PostgreSQL, closing a statement that does not exist succeeds). */
struct pf_ps_stmt *pf_ps_client_take(struct pf_ps_client *c, const char *name);
/* Unmap and drop the reference; false when it was not mapped. */
bool pf_ps_client_close(struct pf_ps_client *c, const char *name);
/* Map `name` to st, taking over the caller's reference. PF_PS_EXISTS (the caller keeps its
 * reference) when mapped already; PF_PS_UNNAMED for "". */
enum pf_ps_result pf_ps_client_put(struct pf_ps_client *c, const char *name, struct pf_ps_stmt *st);

#endif
