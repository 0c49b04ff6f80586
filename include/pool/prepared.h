/*
 * prepared.h - prepared statements in transaction mode (issue #8): the process-wide registry
 * of statements. session/prepared_path.c wires it into the data path.
 *
 * A client's named statements live on whichever server it gets, so the pooler keeps them:
 *   - the registry (here) holds each distinct statement once, identified by its key: the
 *     bytes of its Parse after the name (query text, NUL, parameter type OIDs;
 *     pf_parse_parse). Equal keys are the same statement, for every client; a hash only
 *     picks the bucket, and the whole key is compared, so two different statements never
 *     share an entry whatever their hashes. Each statement has a server-side name
 *     "PF_<id>", its id never reused in the process;
 *   - each client maps its own statement names to registry entries (prepared_client.h);
 *   - each server keeps an LRU of the entries it has prepared, at most
 *     max_prepared_statements (prepared_server.h), and is sent Close for what it evicts.
 * Entries are counted references: a client mapping holds one, so does a server that has the
 * statement prepared, so a statement outlives the client that made it while a server can
 * still use it (the next client, often the next invocation of the same function, re-Parses
 * the same text and finds it prepared). The last reference frees it.
 *
 * How the wiring goes (session/prepared_path.c does it; doc/prepared-statements.md gives the
 * reasons, and the rules that keep both sides consistent when a pipeline fails half-way):
 *   - max_prepared_statements = 0: no client or server object is used; everything passes
 *     through as today.
 *   - Parse "" (unnamed), Bind to "", Describe/Close of "" or of a portal: pass through.
 *   - Parse, named: answer PKT_NEED_FULL (the client stream's max_full must be raised to
 *     max_packet_size: a Parse can be larger than pkt_buf), pf_parse_parse(), then
 *     pf_ps_client_parse(). PF_PS_EXISTS: error 42P05 (pf_ps_build_error). PF_PS_OK:
 *     pf_ps_server_ensure() on the linked server. MISS: a Close (pf_ps_build_close) for each
 *     statement pf_ps_server_evict() returns, then pf_ps_build_parse() in place of the
 *     client's Parse (its ParseComplete goes to the client). HIT: nothing goes to the
 *     server; the client gets a ParseComplete of the pooler's at that message's turn.
 *   - The errors the pooler finds itself go through the server: see PF_PS_ABSENT_NAME (a
 *     refused Parse's text is first sent as Parse PF_0 and Close PF_0, since PostgreSQL
 *     reports an error in the text before the name's).
 *   - Bind or Describe 'S', named: pf_parse_stmt_ref() (a Bind needs only its first bytes),
 *     pf_ps_client_bind() / pf_ps_client_get(). NULL: error 26000. Else ensure on the server
 *     as above (a MISS injects Closes and pf_ps_build_parse() before the message, and the
 *     injected Parse's ParseComplete is not forwarded), then the message with the name
 *     replaced: pf_build_renamed_head() and the rest of the original body as it is.
 *   - Close 'S', named: pf_ps_client_take(); nothing goes to the server (other clients may
 *     use the statement there); a CloseComplete of the pooler's at that message's turn.
 *   - Query: pf_sqlcmd_parse() (proto/sqlcmd.h). DEALLOCATE name of a mapped statement:
 *     answered by the pooler. DEALLOCATE ALL, DISCARD ALL: forwarded with PKT_FORWARD_STOP
 *     (nothing after it is read until it is answered); pf_ps_client_clear() and
 *     pf_ps_server_clear() when the server's CommandComplete for it comes.
 *   - From a server, any CommandComplete "DISCARD ALL" or "DEALLOCATE ALL" (server_reset_query,
 *     a multi-statement query the parser does not claim): pf_ps_server_clear().
 *   - Client gone: pf_ps_client_clear(). Server closed: pf_ps_server_clear().
 *   - SHOW CLIENTS/SERVERS prepared_statements: pf_ps_client_count(), pf_ps_server_count().
 *     SHOW STATS: client_parse_count, server_parse_count and bind_count are counted by
 *     pf_ps_client_parse(), pf_ps_server_ensure() and pf_ps_client_bind() in the stats
 *     they are given (the pool's database); unnamed statements are not counted, as in
 *     PgBouncer.
 */
#ifndef PF_POOL_PREPARED_H
#define PF_POOL_PREPARED_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/htab.h"

/* Results of the client and server operations. */
enum pf_ps_result {
	PF_PS_OK = 0,
	PF_PS_EXISTS,  /* a client name already in use: 42P05 */
	PF_PS_MISSING, /* a client name not in use: 26000 */
	PF_PS_UNNAMED, /* the unnamed statement: not the pooler's, pass it through */
};

/* "PF_" and up to 20 digits. */
#define PF_PS_SERVER_NAME_SIZE 24
#define PF_PS_SERVER_NAME_PREFIX "PF_"
/* A name no statement of the registry ever has (ids start at 1). When the pooler itself
 * finds a client's error (42P05, 26000), it sends a Describe 'S' of this name in place of the
 * client's message, so that the server fails at the same point of the pipeline as it would
 * have without the pooler, and puts its own error in place of the server's answer. */
#define PF_PS_ABSENT_NAME PF_PS_SERVER_NAME_PREFIX "0"

struct pf_ps_stmt; /* opaque: use the accessors */

/* Hash of a key; tests give one that makes every key collide. */
typedef uint64_t (*pf_ps_hash_fn)(const void *data, size_t len);

struct pf_ps_registry {
	struct pf_htab stmts;
	pf_ps_hash_fn hash; /* pf_hash_bytes (keyed SipHash): keys are client-chosen */
	uint64_t last_id;
	size_t key_bytes;   /* sum of the keys' lengths, for SHOW MEM */
};

void pf_ps_registry_init(struct pf_ps_registry *r);
/* Replace the hash function (for tests); -1 unless the registry is empty. */
int pf_ps_registry_set_hash(struct pf_ps_registry *r, pf_ps_hash_fn fn);
/* Free the statements left and return how many there were: every reference should have
 * been dropped before, so anything but 0 is a leak to report. */
size_t pf_ps_registry_free(struct pf_ps_registry *r);
size_t pf_ps_registry_count(const struct pf_ps_registry *r);

/* The statement with this key, made if new, with a reference for the caller. */
struct pf_ps_stmt *pf_ps_registry_get(struct pf_ps_registry *r, const uint8_t *key, size_t key_len);
/* The statement with this key if there is one, without a reference. */
struct pf_ps_stmt *pf_ps_registry_find(const struct pf_ps_registry *r, const uint8_t *key, size_t key_len);

void pf_ps_stmt_ref(struct pf_ps_stmt *st);
/* Drop a reference; the last one frees the statement and its id is never seen again. */
void pf_ps_stmt_unref(struct pf_ps_stmt *st);
size_t pf_ps_stmt_refs(const struct pf_ps_stmt *st);
uint64_t pf_ps_stmt_id(const struct pf_ps_stmt *st);
/* The server-side name, "PF_<id>". */
const char *pf_ps_stmt_name(const struct pf_ps_stmt *st);
/* Its key; the query text is the key as a C string. */
const uint8_t *pf_ps_stmt_key(const struct pf_ps_stmt *st, size_t *len);
/* The key's hash (what the server caches index by). */
uint64_t pf_ps_stmt_hash(const struct pf_ps_stmt *st);

/* Parse and Close of the statement under its server-side name, appended to b. */
void pf_ps_build_parse(struct pf_buf *b, const struct pf_ps_stmt *st);
void pf_ps_build_close(struct pf_buf *b, const struct pf_ps_stmt *st);
/* ErrorResponse for PF_PS_EXISTS (42P05 prepared statement "X" already exists) or
 * PF_PS_MISSING (26000 prepared statement "X" does not exist), X being the client's name:
 * PostgreSQL's own texts, which drivers match. */
void pf_ps_build_error(struct pf_buf *b, enum pf_ps_result r, const char *client_name);

#endif
