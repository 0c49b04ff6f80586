/*
 * prepared_path.c - named prepared statements on the data path: the client's messages are
 * mapped to server-side statements, the server's answers are put back in the client's
 * order (prepared_path.h; doc/prepared-statements.md, "Message by message" and "Keeping both
 * sides consistent").
 */
#include "session/prepared_path.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pool/prepared.h"
#include "pool/prepared_client.h"
#include "pool/prepared_server.h"
#include "proto/build.h"
#include "proto/parse.h"
#include "proto/sqlcmd.h"
#include "session/client.h"
#include "session/server.h"
#include "util/buf.h"
#include "util/hash.h"
#include "util/log.h"

/* Server answers that end an item are read whole when pooler answers may have to follow
 * them (they are small); a larger one is streamed and the pooler's answers wait for its end. */
#define ANSWER_FULL_MAX (64 * 1024)
/* A Query is read whole to look for DEALLOCATE / DISCARD ALL only up to this size: such a
 * command, comments and all, is never longer. */
#define SQLCMD_FULL_MAX 8192
/* A Bind whose statement name does not end within this many bytes is left to the server. */
#define NAME_PREFIX_MAX (64 * 1024)

const uint8_t pf_pp_answer_class[256] = {
	[PF_BE_PARSE_COMPLETE] = PF_PP_END,
	[PF_BE_BIND_COMPLETE] = PF_PP_END,
	[PF_BE_CLOSE_COMPLETE] = PF_PP_END,
	[PF_BE_ROW_DESCRIPTION] = PF_PP_END,
	[PF_BE_NO_DATA] = PF_PP_END,
	[PF_BE_EMPTY_QUERY] = PF_PP_END,
	[PF_BE_PORTAL_SUSPENDED] = PF_PP_END,
	[PF_BE_COMMAND_COMPLETE] = PF_PP_END | PF_PP_SLOW,
	[PF_BE_ERROR] = PF_PP_SLOW,
};

/* What the server owes the client, oldest first. */
enum item_kind {
	IT_UNTIL_Z, /* n ReadyForQuery: batches sent before tracking started, forwarded as they are */
	IT_EXT,     /* n plain extended messages forwarded: each answer ends with a PF_PP_END message */
	IT_SYNC,    /* a Sync: answered by ReadyForQuery, and where a failed batch ends */
	IT_QUERY,   /* a Query or FunctionCall: everything up to ReadyForQuery is its answer */
	IT_DROP,    /* an injected Parse or Close: its answer (want) is not forwarded */
	IT_ERROR,   /* Describe of PF_0 in place of a client's message: its error becomes ours */
	IT_FAKE,    /* ParseComplete / CloseComplete of the pooler's, sent at its turn */
	IT_DEALLOC, /* a DEALLOCATE the pooler answers, at its turn */
};

/* Undo records, applied newest first when the server skips the item (an error came before
 * it in the batch): doc/prepared-statements.md, "Errors in a pipeline", rule 2. */
#define UNDO_CLIENT_CLOSE 1 /* the client's Parse mapped `name` */
#define UNDO_FORGET 2       /* a Parse of st was sent: the server cache records it */
#define UNDO_RESTORE 4      /* st was evicted and its Close sent */
#define UNDO_PUT 8          /* a Close 'S' or DEALLOCATE unmapped `name`, whose reference is st */

/* IT_ERROR kind besides PF_PS_EXISTS and PF_PS_MISSING: a Parse in a failed block. */
#define ERR_FAILED_BLOCK 0xff
#define FAILED_BLOCK_TEXT "current transaction is aborted, commands ignored until end of transaction block"

struct pf_pp_item {
	uint8_t kind;
	uint8_t want; /* IT_DROP: the answer dropped; IT_FAKE: the one sent; IT_ERROR: PF_PS_EXISTS,
		       * PF_PS_MISSING or ERR_FAILED_BLOCK */
	uint8_t undo;
	uint32_t n;
	struct pf_ps_stmt *st; /* a reference, or NULL */
	char name[PF_PS_NAME_SIGNIFICANT + 1];
};

/* A zeroed table is an empty one: only the hash needs setting. */
static struct pf_ps_registry registry = { .hash = pf_hash_bytes };
static struct pf_buf scratch; /* messages being built; one event loop, one at a time */

void pf_pp_registry_usage(size_t *statements, size_t *key_bytes)
{
	*statements = pf_ps_registry_count(&registry);
	*key_bytes = registry.key_bytes;
}

void pf_pp_shutdown(void)
{
	pf_buf_free(&scratch);
	size_t left = pf_ps_registry_free(&registry);
	if (left)
		log_warning("prepared statements: %zu still referenced at exit", left);
}

void pf_pp_client_closed(struct pf_client *client)
{
	if (!client->ps)
		return;
	pf_ps_client_clear(client->ps);
	free(client->ps);
	client->ps = NULL;
}

/* After a RELOAD to 0, clients that logged in before keep translating their names (they mean
 * nothing to a server otherwise), with the smallest cache. */
static int capacity(void)
{
	int c = pf_state.set->max_prepared_statements;
	return c > 0 ? c : 1;
}

/* A client's names, made when it first names a statement: most clients never do. */
static struct pf_ps_client *view(struct pf_client *client)
{
	if (!client->ps) {
		client->ps = pf_xmalloc(sizeof(*client->ps));
		pf_ps_client_init(client->ps);
	}
	return client->ps;
}

/* --- the queue ---------------------------------------------------------------------------- */

static struct pf_pp_item *at(const struct pf_pp_queue *q, uint32_t i)
{
	return &q->items[(q->head + i) & (q->cap - 1)];
}

static struct pf_pp_item *push(struct pf_pp_queue *q, uint8_t kind)
{
	if (q->count == q->cap) {
		uint32_t cap = q->cap ? q->cap * 2 : 16;
		struct pf_pp_item *items = pf_xmalloc(sizeof(*items) * cap);
		for (uint32_t i = 0; i < q->count; i++)
			items[i] = *at(q, i);
		free(q->items);
		q->items = items;
		q->cap = cap;
		q->head = 0;
	}
	struct pf_pp_item *it = at(q, q->count++);
	it->kind = kind;
	it->want = 0;
	it->undo = 0;
	it->n = 1;
	it->st = NULL;
	it->name[0] = '\0';
	return it;
}

static void release(struct pf_pp_item *it)
{
	if (it->st)
		pf_ps_stmt_unref(it->st);
	it->st = NULL;
}

static void pop(struct pf_pp_queue *q)
{
	release(at(q, 0));
	q->head = (q->head + 1) & (q->cap - 1);
	q->count--;
}

/* A plain extended message: counted into the run at the tail when there is one. */
static void push_ext(struct pf_pp_queue *q)
{
	if (q->count) {
		struct pf_pp_item *tail = at(q, q->count - 1);
		if (tail->kind == IT_EXT && !tail->undo) {
			tail->n++;
			return;
		}
	}
	push(q, IT_EXT);
}

static void set_name(struct pf_pp_item *it, const char *name)
{
	size_t len = strnlen(name, PF_PS_NAME_SIGNIFICANT);
	memcpy(it->name, name, len);
	it->name[len] = '\0';
}

/* Everything sent to the server has been answered (and no error is pending). */
static bool nothing_in_flight(const struct pf_server *server)
{
	return server->expect_rfq == 0 && server->pq.ext_sent <= server->pq.ext_ends;
}

/* An error ended the batch and the client has not sent its Sync yet: the server ignores
 * whatever comes until then, so the pooler passes it as it is and changes nothing. */
static bool batch_failed(const struct pf_server *server)
{
	return !server->pq.count && server->expect_rfq == 0 && server->pq.ext_failed;
}

/*
 * Start tracking answers: what is in flight without items (sent while the queue was empty)
 * becomes the first items, from the counters. Batches up to the last Sync end with their
 * ReadyForQuery; the messages after it were answered ext_ends times so far, unless earlier
 * batches are still being answered (then not at all).
 */
static void engage(struct pf_server *server)
{
	struct pf_pp_queue *q = &server->pq;
	if (q->count)
		return;
	if (server->expect_rfq > 0) {
		push(q, IT_UNTIL_Z)->n = (uint32_t)server->expect_rfq;
		if (q->ext_sent)
			push(q, IT_EXT)->n = q->ext_sent;
	} else if (q->ext_sent > q->ext_ends) {
		push(q, IT_EXT)->n = q->ext_sent - q->ext_ends;
	}
}

/* The server did not do what the item stands for: undo its changes. */
static void undo(struct pf_server *server, struct pf_pp_item *it)
{
	struct pf_client *client = server->link;
	if ((it->undo & UNDO_CLIENT_CLOSE) && client && client->ps)
		pf_ps_client_close(client->ps, it->name);
	if (it->undo & UNDO_FORGET)
		pf_ps_server_forget(&server->ps, it->st);
	if (it->undo & UNDO_RESTORE)
		pf_ps_server_restore(&server->ps, it->st);
	if ((it->undo & UNDO_PUT) && client && it->st && pf_ps_client_put(view(client), it->name, it->st) == PF_PS_OK)
		it->st = NULL; /* the reference is the name's again */
	if (it->kind == IT_QUERY && server->expect_rfq > 0)
		server->expect_rfq--; /* a Query inside a failed batch is ignored: no ReadyForQuery */
}

/* An ErrorResponse answered the head item: it and everything up to the next Sync are
 * skipped by the server. Undo them newest first (an eviction and a new Parse of the same
 * statement in one batch must end as the server has it); fakes among them are not sent. */
static void skip_failed(struct pf_server *server)
{
	struct pf_pp_queue *q = &server->pq;
	uint32_t end = 0;
	while (end < q->count && at(q, end)->kind != IT_SYNC)
		end++;
	for (uint32_t i = end; i-- > 0;)
		undo(server, at(q, i));
	for (uint32_t i = 0; i < end; i++)
		pop(q);
}

/* Answers of the pooler's that are due now, queued for the client behind what the server
 * stream has decided so far. */
static void emit_due(struct pf_server *server)
{
	struct pf_pp_queue *q = &server->pq;
	struct pf_client *client = server->link;
	pf_buf_reset(&scratch);
	while (q->count) {
		struct pf_pp_item *it = at(q, 0);
		if (it->kind == IT_FAKE) {
			if (it->want == PF_BE_PARSE_COMPLETE)
				pf_build_parse_complete(&scratch);
			else
				pf_build_close_complete(&scratch);
		} else if (it->kind == IT_DEALLOC) {
			char status = server->tx_status ? server->tx_status : PF_TXN_IDLE;
			if (status == PF_TXN_FAILED) {
				/* PostgreSQL refuses commands in a failed block: the name stays. */
				pf_build_error(&scratch, "ERROR", "25P02", FAILED_BLOCK_TEXT, NULL, NULL);
				if (client && pf_ps_client_put(view(client), it->name, it->st) == PF_PS_OK)
					it->st = NULL;
			} else {
				pf_build_command_complete(&scratch, "DEALLOCATE");
			}
			pf_build_rfq(&scratch, status);
		} else {
			break;
		}
		pop(q);
	}
	if (scratch.len)
		pf_stream_inject(&server->stream, scratch.data, scratch.len);
}

static bool fake_due(const struct pf_pp_queue *q)
{
	return q->count && (at(q, 0)->kind == IT_FAKE || at(q, 0)->kind == IT_DEALLOC);
}

/* The server message ended an item; answers of the pooler's may be next. `act` is what
 * would be done with the message. */
static enum pf_pkt_action then_due(struct pf_server *server, const struct pf_pkt *pkt, enum pf_pkt_action act)
{
	if (!fake_due(&server->pq))
		return act;
	if (act == PKT_FORWARD) {
		if (!pkt->full) {
			server->stream.notify_msg_end = true; /* they go once it is through */
			return PKT_FORWARD;
		}
		pf_stream_inject(&server->stream, pkt->body - pkt->hdr_len, pkt->len);
	}
	emit_due(server);
	return PKT_CONSUMED;
}

/* --- server answers ----------------------------------------------------------------------- */

/* CommandComplete of DISCARD ALL or DEALLOCATE ALL: the server dropped every statement;
 * DISCARD ALL also reset the parameters PostgreSQL does not report (the pooler's idea of
 * them is what it set). */
static bool is_clear_tag(struct pf_server *server, const struct pf_pkt *pkt)
{
	if (pkt->body_len == 12 && memcmp(pkt->body, "DISCARD ALL", 12) == 0) {
		pf_tracked_forget_unreported(&server->params);
		if (server->link) /* the client's own: its session is back to the defaults too */
			pf_tracked_forget_unreported(&server->link->params);
		return true;
	}
	return pkt->body_len == 15 && memcmp(pkt->body, "DEALLOCATE ALL", 15) == 0;
}

enum pf_pkt_action pf_pp_server_note(struct pf_server *server, const struct pf_pkt *pkt)
{
	if (pkt->type == PF_BE_ERROR) {
		server->pq.ext_failed = true;
		return PKT_FORWARD;
	}
	/* CommandComplete "DISCARD ALL" / "DEALLOCATE ALL" (the client's own, or part of a
	 * multi-statement query): the server dropped every statement, and so did the client. */
	if (pkt->len != PF_MSG_HEADER_LEN + 12 && pkt->len != PF_MSG_HEADER_LEN + 15)
		return PKT_FORWARD;
	if (!pkt->full)
		return PKT_NEED_FULL;
	if (is_clear_tag(server, pkt)) {
		pf_ps_server_clear(&server->ps);
		if (server->link)
			pf_pp_client_closed(server->link);
	}
	return PKT_FORWARD;
}

void pf_pp_server_internal_note(struct pf_server *server, const struct pf_pkt *pkt)
{
	if (pkt->type == PF_BE_COMMAND_COMPLETE && pkt->full && is_clear_tag(server, pkt))
		pf_ps_server_clear(&server->ps);
}

/* An answer that fits nothing the queue expects: the two sides no longer agree. */
static enum pf_pkt_action lost(struct pf_server *server, const struct pf_pkt *pkt)
{
	pf_server_log(server, LOG_LVL_WARNING, "unexpected '%c' answering a message of the pooler", pkt->type);
	pf_server_close(server, "prepared statement tracking lost");
	return PKT_CLOSED;
}

enum pf_pkt_action pf_pp_server_packet(struct pf_server *server, const struct pf_pkt *pkt)
{
	struct pf_pp_queue *q = &server->pq;
	uint8_t cls = pf_pp_answer_class[pkt->type];
	if (cls && !pkt->full && pkt->len <= ANSWER_FULL_MAX)
		return PKT_NEED_FULL;
	if (cls & PF_PP_SLOW) {
		enum pf_pkt_action act = pf_pp_server_note(server, pkt);
		if (act != PKT_FORWARD)
			return act;
	}
	q->ext_ends += cls & PF_PP_END;
	emit_due(server);
	if (!q->count)
		return PKT_FORWARD;
	struct pf_pp_item *it = at(q, 0);
	switch (it->kind) {
	case IT_EXT:
		if (pkt->type == PF_BE_ERROR) {
			skip_failed(server);
			return PKT_FORWARD;
		}
		if (!(cls & PF_PP_END))
			return PKT_FORWARD;
		if (--it->n == 0)
			pop(q);
		return then_due(server, pkt, PKT_FORWARD);
	case IT_DROP:
		if (pkt->type == PF_BE_ERROR) {
			/* An injected Parse failed (rule 3): its error answers the message that needed
			 * it; a Close of ours never fails. */
			skip_failed(server);
			return PKT_FORWARD;
		}
		if (pkt->type != it->want)
			return lost(server, pkt);
		pop(q);
		return then_due(server, pkt, PKT_CONSUMED);
	case IT_ERROR: {
		if (pkt->type != PF_BE_ERROR && pkt->type != PF_BE_ROW_DESCRIPTION && pkt->type != PF_BE_NO_DATA)
			return PKT_CONSUMED; /* PF_0 exists there (the client's SQL PREPARE): 't' */
		struct pf_buf err;
		pf_buf_init(&err);
		if (it->want == ERR_FAILED_BLOCK)
			pf_build_error(&err, "ERROR", "25P02", FAILED_BLOCK_TEXT, NULL, NULL);
		else
			pf_ps_build_error(&err, (enum pf_ps_result)it->want, it->name);
		if (pkt->type == PF_BE_ERROR) {
			skip_failed(server);
		} else {
			pop(q); /* the server goes on: the documented limit of a client's own PF_0 */
		}
		pf_stream_inject(&server->stream, err.data, err.len);
		pf_buf_free(&err);
		return then_due(server, pkt, PKT_CONSUMED);
	}
	default: /* IT_UNTIL_Z, IT_SYNC, IT_QUERY: only ReadyForQuery ends them */
		return PKT_FORWARD;
	}
}

bool pf_pp_server_rfq(struct pf_server *server, const struct pf_pkt *pkt)
{
	struct pf_pp_queue *q = &server->pq;
	emit_due(server);
	while (q->count) {
		struct pf_pp_item *it = at(q, 0);
		if (it->kind == IT_UNTIL_Z) {
			if (--it->n == 0)
				pop(q);
			break;
		}
		if (it->kind == IT_SYNC || it->kind == IT_QUERY) {
			pop(q);
			break;
		}
		/* An extended item the ReadyForQuery passed by: skipped, though no error said so. */
		undo(server, it);
		pop(q);
	}
	if (!fake_due(q))
		return false;
	pf_stream_inject(&server->stream, pkt->body - pkt->hdr_len, pkt->len);
	emit_due(server);
	return true;
}

void pf_pp_server_msg_end(struct pf_server *server)
{
	if (server->link)
		emit_due(server);
}

void pf_pp_server_closed(struct pf_server *server)
{
	struct pf_pp_queue *q = &server->pq;
	while (q->count)
		pop(q);
	free(q->items);
	memset(q, 0, sizeof(*q));
	pf_ps_server_clear(&server->ps);
}

/* --- client messages ---------------------------------------------------------------------- */

/* Our answer in place of a client's message, at its turn: at once when nothing is in flight,
 * else queued (and `undo` applies if the server skips that turn). Takes over st. */
static enum pf_pkt_action answer_later(struct pf_server *server, uint8_t kind, uint8_t want, uint8_t undo_flags,
				       const char *name, struct pf_ps_stmt *st)
{
	struct pf_pp_queue *q = &server->pq;
	bool now = !q->count && nothing_in_flight(server) && !server->stream.pkt_remain;
	engage(server);
	struct pf_pp_item *it = push(q, kind);
	it->want = want;
	it->undo = undo_flags;
	it->st = st;
	set_name(it, name);
	if (now) {
		emit_due(server);
		pf_stream_flush(server->stream.partner);
	} else if (q->count == 1) {
		/* Nothing in flight but the server is in the middle of a message to the client. */
		server->stream.notify_msg_end = true;
	}
	return PKT_CONSUMED;
}

/* The pooler found the client's error (42P05, 26000): the server must fail at the same point
 * (rule 4), so a Describe of a name no statement has goes in place of the message. */
static enum pf_pkt_action fail_here(struct pf_client *client, struct pf_server *server, int r, const char *name)
{
	struct pf_pp_queue *q = &server->pq;
	engage(server);
	pf_buf_reset(&scratch);
	pf_build_describe(&scratch, 'S', PF_PS_ABSENT_NAME);
	pf_stream_inject(&client->stream, scratch.data, scratch.len);
	struct pf_pp_item *it = push(q, IT_ERROR);
	it->want = (uint8_t)r;
	set_name(it, name);
	q->ext_sent++;
	client->ext_in_flight = true;
	return PKT_CONSUMED;
}

/*
 * A Parse that PostgreSQL refuses for its name (42P05) or for a failed block (25P02) still has
 * its text parsed and analysed first: a syntax error or a missing table is reported instead.
 * So the text goes to the server as Parse PF_0 (a name no statement has) with Close PF_0
 * behind it, and only if both pass does the Describe of fail_here() bring the pooler's error.
 */
static enum pf_pkt_action fail_parse(struct pf_client *client, struct pf_server *server, int r, const char *name,
				     const uint8_t *key, size_t key_len)
{
	struct pf_pp_queue *q = &server->pq;
	engage(server);
	pf_buf_reset(&scratch);
	pf_build_parse_key(&scratch, PF_PS_ABSENT_NAME, key, key_len);
	pf_build_close(&scratch, 'S', PF_PS_ABSENT_NAME);
	pf_stream_inject(&client->stream, scratch.data, scratch.len);
	push(q, IT_DROP)->want = PF_BE_PARSE_COMPLETE; /* its error, if any, is the client's */
	push(q, IT_DROP)->want = PF_BE_CLOSE_COMPLETE;
	q->ext_sent += 2;
	return fail_here(client, server, r, name);
}

/* Make st prepared on the server. On a miss, Closes for what the cache evicts (and, with
 * inject_parse, its Parse) are appended to scratch with their items; *sent counts them. */
static enum pf_ps_ensure ensure(struct pf_client *client, struct pf_server *server, struct pf_ps_stmt *st,
				bool inject_parse, uint32_t *sent)
{
	struct pf_pp_queue *q = &server->pq;
	int cap = capacity();
	enum pf_ps_ensure r = pf_ps_server_ensure(&server->ps, st, cap, &client->pool->db->stats);
	/* A hit evicts too when a RELOAD lowered the capacity, so that caches shrink in use. */
	if (r == PF_PS_OFF || (r == PF_PS_HIT && pf_ps_server_count(&server->ps) <= (size_t)cap))
		return r;
	engage(server);
	struct pf_ps_stmt *old;
	while ((old = pf_ps_server_evict(&server->ps, cap))) {
		pf_ps_build_close(&scratch, old);
		struct pf_pp_item *it = push(q, IT_DROP);
		it->want = PF_BE_CLOSE_COMPLETE;
		it->undo = UNDO_RESTORE;
		it->st = old; /* the cache's reference, kept until the Close is answered */
		(*sent)++;
	}
	if (inject_parse && r == PF_PS_MISS) {
		pf_ps_build_parse(&scratch, st);
		struct pf_pp_item *it = push(q, IT_DROP);
		it->want = PF_BE_PARSE_COMPLETE;
		it->undo = UNDO_FORGET;
		pf_ps_stmt_ref(st);
		it->st = st;
		(*sent)++;
	}
	return r;
}

/*
 * Put the message's head with the server-side name in place of the client's (its body follows
 * from the buffer). Checked by rename_fits() first, so it cannot fail here.
 */
static void inject_renamed(struct pf_client *client, const struct pf_pkt *pkt, const uint8_t *body, size_t off,
			   size_t old_len, const struct pf_ps_stmt *st)
{
	pf_build_renamed_head(&scratch, pkt->type, body, pkt->body_len, off, old_len, pf_ps_stmt_name(st));
	pf_stream_inject(&client->stream, scratch.data, scratch.len);
	client->stream.drop_head = (uint32_t)(PF_MSG_HEADER_LEN + off + old_len + 1);
}

/*
 * Would the renamed message still have a valid length? Only a body near 2 GiB (past
 * PostgreSQL's own 1 GiB limit) does not: such a client is refused before anything of the
 * message is sent, so the server sees whole messages only.
 */
static bool rename_fits(struct pf_client *client, const struct pf_pkt *pkt, size_t old_len,
			const struct pf_ps_stmt *st)
{
	if (pkt->body_len - old_len + strlen(pf_ps_stmt_name(st)) <= 0x7fffffffU - 4)
		return true;
	pf_client_disconnect(client, "08P01", "message too long: %u bytes", (unsigned)pkt->body_len);
	return false;
}

/* Might this query text end a transaction block? PostgreSQL parses only those in a failed
 * block (COMMIT, ROLLBACK, END, ABORT, PREPARE TRANSACTION, ...); text that starts with a
 * comment counts as maybe. */
static bool may_end_block(const char *sql)
{
	static const char *const words[] = { "commit", "rollback", "end", "abort", "prepare" };
	while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r' || *sql == '\f')
		sql++;
	if (*sql == '-' || *sql == '/')
		return true;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t n = strlen(words[i]);
		if (strncasecmp(sql, words[i], n) == 0 && !isalnum((unsigned char)sql[n]) && sql[n] != '_')
			return true;
	}
	return false;
}

static enum pf_pkt_action on_parse(struct pf_client *client, struct pf_server *server, const struct pf_pkt *pkt)
{
	struct pf_pp_queue *q = &server->pq;
	if (!pkt->avail) /* an empty body is malformed once whole: the server says so */
		return pkt->full ? PKT_FORWARD : PKT_NEED_MORE;
	if (!pkt->prefix[0])
		return PKT_FORWARD; /* the unnamed statement is the server's */
	if (!pkt->full)
		return PKT_NEED_FULL; /* its key is hashed, compared and kept */
	const char *name;
	const uint8_t *key;
	size_t key_len;
	if (pf_parse_parse(pkt->body, pkt->body_len, &name, &key, &key_len) < 0)
		return PKT_FORWARD; /* malformed: the server says so */
	/* In a failed block PostgreSQL refuses the Parse before it looks at the name: answer as
	 * it, also for a name in use or a statement the server has (no ParseComplete of ours). */
	if (server->tx_status == PF_TXN_FAILED && !q->count && nothing_in_flight(server) &&
	    !may_end_block((const char *)key))
		return fail_parse(client, server, ERR_FAILED_BLOCK, name, key, key_len);
	struct pf_ps_stmt *st;
	struct pf_stats *stats = &client->pool->db->stats;
	enum pf_ps_result r = pf_ps_client_parse(view(client), &registry, name, key, key_len, stats, &st);
	if (r == PF_PS_EXISTS)
		return fail_parse(client, server, r, name, key, key_len);
	size_t old_len = strlen(name);
	if (!rename_fits(client, pkt, old_len, st))
		return PKT_CLOSED;
	client->ext_in_flight = true;
	pf_buf_reset(&scratch);
	uint32_t sent = 0;
	if (ensure(client, server, st, false, &sent) == PF_PS_HIT) {
		/* The server has it (another client's, or this one's before a Close): no Parse, our
		 * ParseComplete at its turn (after Closes of a cache a RELOAD made smaller). */
		if (sent) {
			pf_stream_inject(&client->stream, scratch.data, scratch.len);
			q->ext_sent += sent;
		}
		return answer_later(server, IT_FAKE, PF_BE_PARSE_COMPLETE, UNDO_CLIENT_CLOSE, name, NULL);
	}
	/* A miss: the client's own Parse, renamed, prepares it; its answer is the client's. */
	inject_renamed(client, pkt, pkt->body, 0, old_len, st);
	struct pf_pp_item *it = push(q, IT_EXT);
	it->undo = UNDO_CLIENT_CLOSE | UNDO_FORGET;
	set_name(it, name);
	pf_ps_stmt_ref(st);
	it->st = st;
	q->ext_sent += sent + 1;
	return PKT_REPLACE_HEAD;
}

/*
 * The statement name a Bind, Describe 'S' or Close 'S' refers to, at body offset *off. false:
 * not one this path maps (a portal, the unnamed statement, malformed: the server says so) or
 * not all here yet; *act says what to do with the message then.
 */
static bool stmt_name_of(const struct pf_pkt *pkt, size_t *off, const char **name, enum pf_pkt_action *act)
{
	int rc = pf_parse_stmt_ref(pkt->type, pkt->prefix, pkt->avail, pkt->body_len, off, name);
	if (rc == PF_STMT_REF_INCOMPLETE) {
		*act = pkt->avail < NAME_PREFIX_MAX ? PKT_NEED_MORE : PKT_FORWARD;
		return false;
	}
	*act = PKT_FORWARD;
	return rc == 0 && (*name)[0];
}

/* Bind and Describe 'S' of a named statement. */
static enum pf_pkt_action on_stmt_ref(struct pf_client *client, struct pf_server *server, const struct pf_pkt *pkt)
{
	struct pf_pp_queue *q = &server->pq;
	size_t off;
	const char *name;
	enum pf_pkt_action act;
	if (!stmt_name_of(pkt, &off, &name, &act))
		return act;
	struct pf_stats *stats = &client->pool->db->stats;
	struct pf_ps_stmt *st = NULL;
	if (client->ps && pkt->type == PF_FE_BIND)
		st = pf_ps_client_bind(client->ps, name, stats);
	else if (client->ps)
		st = pf_ps_client_get(client->ps, name);
	if (!st)
		return fail_here(client, server, PF_PS_MISSING, name);
	size_t old_len = strlen(name);
	if (!rename_fits(client, pkt, old_len, st))
		return PKT_CLOSED;
	client->ext_in_flight = true;
	pf_buf_reset(&scratch);
	uint32_t sent = 0;
	ensure(client, server, st, true, &sent);
	inject_renamed(client, pkt, pkt->prefix, off, old_len, st);
	if (q->count)
		push_ext(q);
	q->ext_sent += sent + 1;
	return PKT_REPLACE_HEAD;
}

/* Close 'S' of a named statement: the server keeps it (other clients may use it there). */
static enum pf_pkt_action on_close(struct pf_client *client, struct pf_server *server, const struct pf_pkt *pkt)
{
	size_t off;
	const char *name;
	enum pf_pkt_action act;
	if (!stmt_name_of(pkt, &off, &name, &act))
		return act;
	client->ext_in_flight = true;
	/* Closing a name that is not defined succeeds, as in PostgreSQL. */
	struct pf_ps_stmt *st = client->ps ? pf_ps_client_take(client->ps, name) : NULL;
	return answer_later(server, IT_FAKE, PF_BE_CLOSE_COMPLETE, st ? UNDO_PUT : 0, name, st);
}

/*
 * Which of DEALLOCATE [ALL] / DISCARD ALL a simple Query is (PF_SQLCMD_OTHER for anything
 * else). *act is PKT_NEED_FULL when the whole text must be read first, else PKT_FORWARD.
 */
static enum pf_sqlcmd query_cmd(const struct pf_pkt *pkt, char name[PF_SQLCMD_NAME_MAX], enum pf_pkt_action *act)
{
	*act = PKT_FORWARD;
	if (pkt->avail && !pf_pp_may_be_sqlcmd(pkt->prefix[0]))
		return PF_SQLCMD_OTHER;
	if (pkt->len > SQLCMD_FULL_MAX)
		return PF_SQLCMD_OTHER; /* no DEALLOCATE or DISCARD is that long: not worth a scan */
	if (!pkt->full) {
		*act = PKT_NEED_FULL;
		return PF_SQLCMD_OTHER;
	}
	return pf_sqlcmd_parse((const char *)pkt->body, pkt->body_len, name);
}

static enum pf_pkt_action on_query(struct pf_client *client, struct pf_server *server, const struct pf_pkt *pkt)
{
	char name[PF_SQLCMD_NAME_MAX];
	enum pf_pkt_action act;
	switch (query_cmd(pkt, name, &act)) {
	case PF_SQLCMD_DEALLOCATE: {
		/* Not the client's: maybe an SQL-level PREPARE of this transaction. */
		struct pf_ps_stmt *st = client->ps ? pf_ps_client_take(client->ps, name) : NULL;
		if (!st)
			return PKT_FORWARD;
		return answer_later(server, IT_DEALLOC, 0, UNDO_PUT, name, st);
	}
	case PF_SQLCMD_DEALLOCATE_ALL:
	case PF_SQLCMD_DISCARD_ALL:
		/* Read nothing more until the server has answered: the statements after it must see
		 * the client's and the server's statements gone. (Inside an open extended batch it
		 * may be skipped unanswered, and stopping could wait forever.) */
		if (client->ext_in_flight)
			return PKT_FORWARD;
		server->pq.resume_client = true;
		return PKT_FORWARD_STOP;
	default:
		return act;
	}
}

/* A message forwarded as it is while the queue tracks answers. */
static void record_plain(struct pf_pp_queue *q, uint8_t type)
{
	switch (type) {
	case PF_FE_PARSE:
	case PF_FE_BIND:
	case PF_FE_DESCRIBE:
	case PF_FE_EXECUTE:
	case PF_FE_CLOSE:
		push_ext(q);
		break;
	case PF_FE_SYNC:
		push(q, IT_SYNC);
		break;
	case PF_FE_QUERY:
	case PF_FE_FUNCTION_CALL:
		push(q, IT_QUERY);
		break;
	default: /* Flush, COPY data: no answer of their own */
		break;
	}
}

enum pf_pkt_action pf_pp_client_packet(struct pf_client *client, struct pf_server *server, const struct pf_pkt *pkt)
{
	enum pf_pkt_action act = PKT_FORWARD;
	if (!batch_failed(server)) {
		switch (pkt->type) {
		case PF_FE_PARSE:
			act = on_parse(client, server, pkt);
			break;
		case PF_FE_BIND:
		case PF_FE_DESCRIBE:
			act = on_stmt_ref(client, server, pkt);
			break;
		case PF_FE_CLOSE:
			act = on_close(client, server, pkt);
			break;
		case PF_FE_QUERY:
			act = on_query(client, server, pkt);
			break;
		default:
			break;
		}
	}
	if ((act == PKT_FORWARD || act == PKT_FORWARD_STOP) && server->pq.count)
		record_plain(&server->pq, pkt->type);
	return act;
}

enum pf_pkt_action pf_pp_client_unlinked(struct pf_client *client, const struct pf_pkt *pkt)
{
	if (pkt->type != PF_FE_QUERY || !client->ps || !pf_ps_client_count(client->ps))
		return PKT_FORWARD;
	char name[PF_SQLCMD_NAME_MAX];
	enum pf_pkt_action act;
	if (query_cmd(pkt, name, &act) != PF_SQLCMD_DEALLOCATE)
		return act;
	if (!pf_ps_client_close(client->ps, name))
		return PKT_FORWARD;
	/* Outside a transaction: no server needed to answer it. */
	pf_buf_reset(&scratch);
	pf_build_command_complete(&scratch, "DEALLOCATE");
	pf_build_rfq(&scratch, PF_TXN_IDLE);
	if (!pf_stream_write(&client->stream, scratch.data, scratch.len)) {
		pf_client_close(client, "client unexpected eof");
		return PKT_CLOSED;
	}
	return PKT_CONSUMED;
}
