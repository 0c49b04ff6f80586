/* build.c - append PostgreSQL v3 messages to a buffer. */
#include "proto/build.h"

#include <string.h>

#include "proto/proto.h"

/*
 * Start a message: type byte (0 for the typeless startup-phase packets) and a length
 * placeholder. Returns the offset of the length field for msg_end().
 */
static size_t msg_begin(struct pf_buf *b, char type, size_t body_hint)
{
	pf_buf_reserve(b, PF_MSG_HEADER_LEN + body_hint);
	if (type)
		pf_buf_put_u8(b, (uint8_t)type);
	size_t off = b->len;
	pf_buf_put_u32(b, 0);
	return off;
}

/* Back-patch the length: it counts itself and the body, never the type byte. */
static void msg_end(struct pf_buf *b, size_t off)
{
	pf_buf_set_u32(b, off, (uint32_t)(b->len - off));
}

static void cstring_msg(struct pf_buf *b, char type, const char *s)
{
	size_t off = msg_begin(b, type, strlen(s) + 1);
	pf_buf_put_str(b, s);
	msg_end(b, off);
}

static void put_field(struct pf_buf *b, char code, const char *value)
{
	pf_buf_put_u8(b, (uint8_t)code);
	pf_buf_put_str(b, value);
}

void pf_build_error(struct pf_buf *b, const char *severity, const char *sqlstate,
		    const char *message, const char *detail, const char *hint)
{
	size_t off = msg_begin(b, PF_BE_ERROR, 64 + strlen(message));
	put_field(b, 'S', severity);
	/* V is the non-localized severity; we never localize, so it equals S. */
	put_field(b, 'V', severity);
	put_field(b, 'C', sqlstate);
	put_field(b, 'M', message);
	if (detail)
		put_field(b, 'D', detail);
	if (hint)
		put_field(b, 'H', hint);
	pf_buf_put_u8(b, 0);
	msg_end(b, off);
}

void pf_build_notice(struct pf_buf *b, const char *sqlstate, const char *message, const char *hint)
{
	size_t off = msg_begin(b, PF_BE_NOTICE, 64 + strlen(message));
	put_field(b, 'S', "NOTICE");
	put_field(b, 'V', "NOTICE");
	put_field(b, 'C', sqlstate);
	put_field(b, 'M', message);
	if (hint)
		put_field(b, 'H', hint);
	pf_buf_put_u8(b, 0);
	msg_end(b, off);
}

static void auth_simple(struct pf_buf *b, uint32_t code)
{
	pf_buf_put_u8(b, PF_BE_AUTH);
	pf_buf_put_u32(b, 8);
	pf_buf_put_u32(b, code);
}

void pf_build_auth_ok(struct pf_buf *b)
{
	auth_simple(b, PF_AUTH_OK);
}

void pf_build_auth_cleartext(struct pf_buf *b)
{
	auth_simple(b, PF_AUTH_CLEARTEXT);
}

void pf_build_auth_md5(struct pf_buf *b, const uint8_t salt[4])
{
	pf_buf_put_u8(b, PF_BE_AUTH);
	pf_buf_put_u32(b, 12);
	pf_buf_put_u32(b, PF_AUTH_MD5);
	pf_buf_put(b, salt, 4);
}

void pf_build_auth_sasl(struct pf_buf *b, const char *const *mechs, int n)
{
	size_t off = msg_begin(b, PF_BE_AUTH, 64);
	pf_buf_put_u32(b, PF_AUTH_SASL);
	for (int i = 0; i < n; i++)
		pf_buf_put_str(b, mechs[i]);
	/* The list ends with an empty name. */
	pf_buf_put_u8(b, 0);
	msg_end(b, off);
}

static void auth_data(struct pf_buf *b, uint32_t code, const uint8_t *data, size_t len)
{
	size_t off = msg_begin(b, PF_BE_AUTH, 4 + len);
	pf_buf_put_u32(b, code);
	pf_buf_put(b, data, len);
	msg_end(b, off);
}

void pf_build_auth_sasl_continue(struct pf_buf *b, const uint8_t *data, size_t len)
{
	auth_data(b, PF_AUTH_SASL_CONTINUE, data, len);
}

void pf_build_auth_sasl_final(struct pf_buf *b, const uint8_t *data, size_t len)
{
	auth_data(b, PF_AUTH_SASL_FINAL, data, len);
}

void pf_build_param_status(struct pf_buf *b, const char *name, const char *value)
{
	size_t off = msg_begin(b, PF_BE_PARAM_STATUS, strlen(name) + strlen(value) + 2);
	pf_buf_put_str(b, name);
	pf_buf_put_str(b, value);
	msg_end(b, off);
}

void pf_build_backend_key(struct pf_buf *b, uint32_t pid, uint32_t key)
{
	pf_buf_put_u8(b, PF_BE_BACKEND_KEY);
	pf_buf_put_u32(b, 12);
	pf_buf_put_u32(b, pid);
	pf_buf_put_u32(b, key);
}

void pf_build_rfq(struct pf_buf *b, char status)
{
	pf_buf_put_u8(b, PF_BE_READY_FOR_QUERY);
	pf_buf_put_u32(b, 5);
	pf_buf_put_u8(b, (uint8_t)status);
}

/* The backend's bodiless acknowledgements. */
static void empty_msg(struct pf_buf *b, char type)
{
	pf_buf_put_u8(b, (uint8_t)type);
	pf_buf_put_u32(b, 4);
}

void pf_build_parse_complete(struct pf_buf *b)
{
	empty_msg(b, PF_BE_PARSE_COMPLETE);
}

void pf_build_close_complete(struct pf_buf *b)
{
	empty_msg(b, PF_BE_CLOSE_COMPLETE);
}

void pf_build_command_complete(struct pf_buf *b, const char *tag)
{
	cstring_msg(b, PF_BE_COMMAND_COMPLETE, tag);
}

void pf_build_negotiate_protocol(struct pf_buf *b, int newest_minor,
				 const char *const *unrecognized, int n)
{
	size_t off = msg_begin(b, PF_BE_NEGOTIATE_PROTOCOL, 64);
	pf_buf_put_u32(b, (uint32_t)newest_minor);
	pf_buf_put_u32(b, (uint32_t)(n > 0 ? n : 0));
	for (int i = 0; i < n; i++)
		pf_buf_put_str(b, unrecognized[i]);
	msg_end(b, off);
}

void pf_build_startup(struct pf_buf *b, const char *const *names, const char *const *values, int n)
{
	size_t off = msg_begin(b, 0, 128);
	pf_buf_put_u32(b, PF_PROTO_V3);
	for (int i = 0; i < n; i++) {
		pf_buf_put_str(b, names[i]);
		pf_buf_put_str(b, values[i]);
	}
	pf_buf_put_u8(b, 0);
	msg_end(b, off);
}

void pf_build_query(struct pf_buf *b, const char *sql)
{
	cstring_msg(b, PF_FE_QUERY, sql);
}

void pf_build_password(struct pf_buf *b, const char *s)
{
	cstring_msg(b, PF_FE_PASSWORD, s);
}

void pf_build_sasl_initial(struct pf_buf *b, const char *mech, const uint8_t *data, int len)
{
	size_t off = msg_begin(b, PF_FE_PASSWORD, strlen(mech) + 5 + (len > 0 ? (size_t)len : 0));
	pf_buf_put_str(b, mech);
	if (len < 0) {
		pf_buf_put_u32(b, (uint32_t)-1);
	} else {
		pf_buf_put_u32(b, (uint32_t)len);
		pf_buf_put(b, data, (size_t)len);
	}
	msg_end(b, off);
}

void pf_build_sasl_response(struct pf_buf *b, const uint8_t *data, size_t len)
{
	size_t off = msg_begin(b, PF_FE_PASSWORD, len);
	pf_buf_put(b, data, len);
	msg_end(b, off);
}

void pf_build_parse(struct pf_buf *b, const char *stmt, const char *sql)
{
	size_t off = msg_begin(b, PF_FE_PARSE, strlen(stmt) + strlen(sql) + 4);
	pf_buf_put_str(b, stmt);
	pf_buf_put_str(b, sql);
	pf_buf_put_u16(b, 0); /* no parameter types given */
	msg_end(b, off);
}

void pf_build_parse_key(struct pf_buf *b, const char *stmt, const uint8_t *key, size_t key_len)
{
	size_t off = msg_begin(b, PF_FE_PARSE, strlen(stmt) + 1 + key_len);
	pf_buf_put_str(b, stmt);
	pf_buf_put(b, key, key_len);
	msg_end(b, off);
}

static void kind_name_msg(struct pf_buf *b, char type, char kind, const char *name)
{
	size_t off = msg_begin(b, type, strlen(name) + 2);
	pf_buf_put_u8(b, (uint8_t)kind);
	pf_buf_put_str(b, name);
	msg_end(b, off);
}

void pf_build_describe(struct pf_buf *b, char kind, const char *name)
{
	kind_name_msg(b, PF_FE_DESCRIBE, kind, name);
}

void pf_build_close(struct pf_buf *b, char kind, const char *name)
{
	kind_name_msg(b, PF_FE_CLOSE, kind, name);
}

int pf_build_renamed_head(struct pf_buf *b, uint8_t type, const uint8_t *body, size_t body_len, size_t name_off,
			  size_t old_len, const char *new_name)
{
	size_t new_len = strlen(new_name);

	if (name_off > body_len || old_len >= body_len - name_off)
		return -1; /* the old name and its NUL must lie inside the body */
	if (new_len > 0x7fffffffU - 4 || body_len - old_len > 0x7fffffffU - 4 - new_len)
		return -1;
	pf_buf_reserve(b, PF_MSG_HEADER_LEN + name_off + new_len + 1);
	pf_buf_put_u8(b, type);
	pf_buf_put_u32(b, (uint32_t)(4 + body_len - old_len + new_len));
	pf_buf_put(b, body, name_off);
	pf_buf_put_str(b, new_name);
	return 0;
}

int pf_build_renamed(struct pf_buf *b, uint8_t type, const uint8_t *body, size_t body_len, size_t name_off,
		     const char *new_name)
{
	if (name_off >= body_len)
		return -1;
	const uint8_t *nul = memchr(body + name_off, 0, body_len - name_off);
	if (!nul)
		return -1;
	size_t old_len = (size_t)(nul - body) - name_off;
	size_t rest = name_off + old_len + 1;
	if (pf_build_renamed_head(b, type, body, body_len, name_off, old_len, new_name) < 0)
		return -1;
	pf_buf_put(b, body + rest, body_len - rest);
	return 0;
}

void pf_build_bind_text(struct pf_buf *b, const char *portal, const char *stmt, const char *const *params, int n)
{
	size_t off = msg_begin(b, PF_FE_BIND, strlen(portal) + strlen(stmt) + 16);
	pf_buf_put_str(b, portal);
	pf_buf_put_str(b, stmt);
	pf_buf_put_u16(b, 0); /* no format codes: every parameter is text */
	pf_buf_put_u16(b, (uint16_t)n);
	for (int i = 0; i < n; i++) {
		if (!params[i]) {
			pf_buf_put_u32(b, (uint32_t)-1);
			continue;
		}
		size_t len = strlen(params[i]);
		pf_buf_put_u32(b, (uint32_t)len);
		pf_buf_put(b, params[i], len);
	}
	pf_buf_put_u16(b, 0); /* no result format codes: every column is text */
	msg_end(b, off);
}

void pf_build_execute(struct pf_buf *b, const char *portal, uint32_t max_rows)
{
	size_t off = msg_begin(b, PF_FE_EXECUTE, strlen(portal) + 5);
	pf_buf_put_str(b, portal);
	pf_buf_put_u32(b, max_rows);
	msg_end(b, off);
}

void pf_build_sync(struct pf_buf *b)
{
	pf_buf_put_u8(b, PF_FE_SYNC);
	pf_buf_put_u32(b, 4);
}

void pf_build_cancel(struct pf_buf *b, uint32_t pid, uint32_t key)
{
	pf_buf_put_u32(b, PF_CANCEL_REQUEST_LEN);
	pf_buf_put_u32(b, PF_CANCEL_REQUEST_CODE);
	pf_buf_put_u32(b, pid);
	pf_buf_put_u32(b, key);
}

void pf_build_terminate(struct pf_buf *b)
{
	pf_buf_put_u8(b, PF_FE_TERMINATE);
	pf_buf_put_u32(b, 4);
}

void pf_build_ssl_request(struct pf_buf *b)
{
	pf_buf_put_u32(b, 8);
	pf_buf_put_u32(b, PF_SSL_REQUEST_CODE);
}
