/*
 * build.h - builders for PostgreSQL v3 messages.
 *
 * Each builder APPENDS one complete message (type byte, length, body) to a struct pf_buf;
 * the buffer is not reset. Strings are C strings and are sent with their NUL. Builders do
 * not allocate beyond the growth of the buffer.
 */
#ifndef PF_PROTO_BUILD_H
#define PF_PROTO_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* --- backend messages (pgfjord acting as the server towards a client) --- */

/* ErrorResponse 'E' with fields S and V (both = severity), C, M and, when not NULL, D and H. */
void pf_build_error(struct pf_buf *b, const char *severity, const char *sqlstate,
		    const char *message, const char *detail, const char *hint);
/* NoticeResponse 'N' with severity NOTICE, fields S, V, C, M and, when not NULL, H. */
void pf_build_notice(struct pf_buf *b, const char *sqlstate, const char *message, const char *hint);

void pf_build_auth_ok(struct pf_buf *b);
void pf_build_auth_cleartext(struct pf_buf *b);
void pf_build_auth_md5(struct pf_buf *b, const uint8_t salt[4]);
/* AuthenticationSASL: the list of n mechanism names. */
void pf_build_auth_sasl(struct pf_buf *b, const char *const *mechs, int n);
void pf_build_auth_sasl_continue(struct pf_buf *b, const uint8_t *data, size_t len);
void pf_build_auth_sasl_final(struct pf_buf *b, const uint8_t *data, size_t len);

void pf_build_param_status(struct pf_buf *b, const char *name, const char *value);
void pf_build_backend_key(struct pf_buf *b, uint32_t pid, uint32_t key);
/* ReadyForQuery with status PF_TXN_IDLE, PF_TXN_IN_BLOCK or PF_TXN_FAILED. */
void pf_build_rfq(struct pf_buf *b, char status);
/* ParseComplete '1', CloseComplete '3' and CommandComplete 'C' with its tag (e.g. "DEALLOCATE"). */
void pf_build_parse_complete(struct pf_buf *b);
void pf_build_close_complete(struct pf_buf *b);
void pf_build_command_complete(struct pf_buf *b, const char *tag);
/* NegotiateProtocolVersion 'v': newest minor version supported + unrecognized options. */
void pf_build_negotiate_protocol(struct pf_buf *b, int newest_minor,
				 const char *const *unrecognized, int n);

/* --- frontend messages (pgfjord acting as the client towards a server) --- */

/* StartupMessage for protocol 3.0 with n name/value pairs (no type byte). */
void pf_build_startup(struct pf_buf *b, const char *const *names, const char *const *values, int n);
void pf_build_query(struct pf_buf *b, const char *sql);
/* PasswordMessage 'p' (cleartext or "md5..." response). */
void pf_build_password(struct pf_buf *b, const char *s);
/* SASLInitialResponse 'p': mechanism, then len bytes of data; len < 0 sends -1 (no data). */
void pf_build_sasl_initial(struct pf_buf *b, const char *mech, const uint8_t *data, int len);
/* SASLResponse 'p': the raw data. */
void pf_build_sasl_response(struct pf_buf *b, const uint8_t *data, size_t len);
/*
 * The extended query protocol. Parse with no parameter types (the server infers them); Bind
 * with n text parameters (NULL = SQL NULL), every parameter and result column in text format;
 * Execute with max_rows 0 = all rows. Values go as parameters, never spliced into the SQL.
 */
void pf_build_parse(struct pf_buf *b, const char *stmt, const char *sql);
void pf_build_bind_text(struct pf_buf *b, const char *portal, const char *stmt, const char *const *params, int n);
void pf_build_execute(struct pf_buf *b, const char *portal, uint32_t max_rows);
void pf_build_sync(struct pf_buf *b);
/* Parse with the key of pf_parse_parse() (query text, NUL, parameter types) under name stmt. */
void pf_build_parse_key(struct pf_buf *b, const char *stmt, const uint8_t *key, size_t key_len);
/* Describe and Close of a statement (kind 'S') or a portal ('P'). */
void pf_build_describe(struct pf_buf *b, char kind, const char *name);
void pf_build_close(struct pf_buf *b, char kind, const char *name);
/*
 * Message `type` with the C string at body + name_off (as found by pf_parse_stmt_ref or
 * pf_parse_parse) replaced by new_name, everything else unchanged and the length adjusted.
 * _head appends only the start: type, length, body[0, name_off), new_name and its NUL; the
 * caller then sends the original body from name_off + old_len + 1 to body_len as it is
 * (streamed if need be), so only the first name_off bytes must be in memory. The whole
 * version needs the whole body. Both return -1, appending nothing, when the name does not
 * fit the body or the new length would exceed the protocol's int32.
 */
int pf_build_renamed_head(struct pf_buf *b, uint8_t type, const uint8_t *body, size_t body_len, size_t name_off,
			  size_t old_len, const char *new_name);
int pf_build_renamed(struct pf_buf *b, uint8_t type, const uint8_t *body, size_t body_len, size_t name_off,
		     const char *new_name);
/* CancelRequest: 16 bytes, no type byte. */
void pf_build_cancel(struct pf_buf *b, uint32_t pid, uint32_t key);
void pf_build_terminate(struct pf_buf *b);
/* SSLRequest: 8 bytes, no type byte. */
void pf_build_ssl_request(struct pf_buf *b);

#endif
