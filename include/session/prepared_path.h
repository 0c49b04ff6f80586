/*
 * prepared_path.h - prepared statements in transaction and statement mode, on the data path
 * (issue #8). doc/prepared-statements.md is the design; this is its wiring.
 *
 * With max_prepared_statements > 0, a client's named statements are the pooler's: each name
 * maps to a registry statement (pool/prepared*.h) that is prepared lazily, under its own
 * server-side name PF_<id>, on whichever server the client gets, before the Bind or
 * Describe that needs it. The pooler therefore injects messages (Parse, Close), drops some
 * (a Close 'S' of the client, a Parse the server has already) and answers those itself. To
 * put every answer in its place, each server keeps a FIFO of what it owes the client
 * (struct pf_pp_queue) while pooler messages are in flight. With none in flight the queue is
 * empty and the data path is the plain one: client.c and server.c only keep two counters
 * (messages sent and answers ended since the last Sync), so that tracking can start in the
 * middle of a batch.
 *
 * Hot-path cost for clients that never name a statement: one look at the first body bytes of
 * Parse/Bind/Describe/Close/Query (pf_pp_client_wants) and a table lookup per server answer.
 * A named Bind of a statement the server has: a name lookup in the client's table, one in
 * the server's, a new message start injected in front of the rest of the original bytes.
 */
#ifndef PF_SESSION_PREPARED_PATH_H
#define PF_SESSION_PREPARED_PATH_H

#include <stdbool.h>
#include <stdint.h>

#include "net/stream.h"
#include "proto/proto.h"

struct pf_client;
struct pf_server;
struct pf_pp_item;

/* Per server connection (embedded; zero = empty). */
struct pf_pp_queue {
	struct pf_pp_item *items; /* a ring of cap (a power of two) items; NULL until first used */
	uint32_t head, count, cap;
	/* Client side: extended messages (Parse, Bind, Describe, Execute, Close) sent since the
	 * last Sync, Query or FunctionCall. Server side: answers to such messages that ended, and
	 * whether an ErrorResponse came, since the last ReadyForQuery. */
	uint32_t ext_sent;
	uint32_t ext_ends;
	bool ext_failed;
	bool resume_client; /* the client stopped after DEALLOCATE ALL / DISCARD ALL */
};

/* What a server message means for the counters (pf_pp_answer_class). */
#define PF_PP_END 1   /* ends the answer to one extended message: 1 2 3 T n C I s */
#define PF_PP_SLOW 2  /* ErrorResponse, CommandComplete: see pf_pp_server_note() */
extern const uint8_t pf_pp_answer_class[256];

/* Might this Query be DEALLOCATE or DISCARD (first byte of the text, before any lexing)? */
static inline bool pf_pp_may_be_sqlcmd(uint8_t c)
{
	return c == 'd' || c == 'D' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '-' ||
	       c == '/' || c == ';';
}

/*
 * Does a linked client's message need prepared_path at all? Named statements only; unnamed
 * ones, portals and every other message pass as they are (while the queue is empty).
 */
static inline bool pf_pp_client_wants(const struct pf_pp_queue *q, const struct pf_pkt *pkt)
{
	const uint8_t *b = pkt->prefix;
	if (q->count)
		return true; /* pooler messages in flight: every message takes its place in the queue */
	switch (pkt->type) {
	case PF_FE_PARSE:
		return pkt->avail < 1 || b[0];
	case PF_FE_BIND:
		return pkt->avail < 2 || b[0] || b[1];
	case PF_FE_DESCRIBE:
	case PF_FE_CLOSE:
		return pkt->avail < 2 || (b[0] == 'S' && b[1]);
	case PF_FE_QUERY:
		return pkt->avail < 1 || pf_pp_may_be_sqlcmd(b[0]);
	default:
		return false;
	}
}

/* A message of a linked client (feature on). PKT_FORWARD / PKT_FORWARD_STOP: the caller
 * forwards it as usual (counting it); anything else is the stream action, done. */
enum pf_pkt_action pf_pp_client_packet(struct pf_client *client, struct pf_server *server, const struct pf_pkt *pkt);
/* A Query of a client that is not linked: a DEALLOCATE of one of its statements is answered
 * here without a server. PKT_FORWARD: go on as usual. */
enum pf_pkt_action pf_pp_client_unlinked(struct pf_client *client, const struct pf_pkt *pkt);

/* Server answers (linked). For ErrorResponse and CommandComplete while the queue is empty:
 * PKT_FORWARD, or PKT_NEED_FULL for a CommandComplete it must read. */
enum pf_pkt_action pf_pp_server_note(struct pf_server *server, const struct pf_pkt *pkt);
/* Any non-asynchronous answer but ReadyForQuery while the queue is not empty. */
enum pf_pkt_action pf_pp_server_packet(struct pf_server *server, const struct pf_pkt *pkt);
/* ReadyForQuery while the queue is not empty, after server.c's bookkeeping: true when it
 * queued the message itself (with answers of its own behind it): the caller consumes it. */
bool pf_pp_server_rfq(struct pf_server *server, const struct pf_pkt *pkt);
/* The server stream finished a message the queue waited for (STREAM_MSG_END). */
void pf_pp_server_msg_end(struct pf_server *server);
/* An internal query's CommandComplete (server_reset_query, connect_query). */
void pf_pp_server_internal_note(struct pf_server *server, const struct pf_pkt *pkt);
/* The server is closed: drop its queue and its statements. */
void pf_pp_server_closed(struct pf_server *server);
/* The client leaves, or DISCARD ALL / DEALLOCATE ALL: its names go. */
void pf_pp_client_closed(struct pf_client *client);

/* At exit, after every connection is closed: free the statement registry. */
void pf_pp_shutdown(void);
/* SHOW MEM: the distinct statements known (all clients, all servers) and their texts' bytes. */
void pf_pp_registry_usage(size_t *statements, size_t *key_bytes);

#endif
