/* test_proto.c - message builders (exact bytes) and parsers (valid, malformed, boundaries). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/build.h"
#include "proto/parse.h"
#include "proto/proto.h"
#include "util/buf.h"

/* Compare a buffer with a byte string given as a literal (which may contain NULs). */
#define assert_bytes(b, lit) do { \
		assert_int_equal((b)->len, sizeof(lit) - 1); \
		assert_memory_equal((b)->data, (lit), sizeof(lit) - 1); \
	} while (0)

#define U8(s) ((const uint8_t *)(s))

/* --- builders --- */

static void test_build_error(void **state)
{
	struct pf_buf b;
	pf_buf_init(&b);
	pf_build_error(&b, "ERROR", "42P01", "no such thing", NULL, NULL);
	assert_bytes(&b, "E\0\0\0\x29" "SERROR\0VERROR\0C42P01\0Mno such thing\0\0");
	pf_buf_reset(&b);
	pf_build_error(&b, "FATAL", "28P01", "m", "d", "h");
	assert_bytes(&b, "E\0\0\0\x23" "SFATAL\0VFATAL\0C28P01\0Mm\0Dd\0Hh\0\0");
	pf_buf_reset(&b);
	pf_build_error(&b, "FATAL", "08P01", "m", NULL, "h");
	assert_bytes(&b, "E\0\0\0\x20" "SFATAL\0VFATAL\0C08P01\0Mm\0Hh\0\0");
	pf_buf_free(&b);
}

static void test_build_notice(void **state)
{
	struct pf_buf b;
	pf_buf_init(&b);
	pf_build_notice(&b, "01000", "hello", NULL);
	assert_bytes(&b, "N\0\0\0\x23" "SNOTICE\0VNOTICE\0C01000\0Mhello\0\0");
	pf_buf_reset(&b);
	pf_build_notice(&b, "01000", "hello", "hint");
	assert_bytes(&b, "N\0\0\0\x29" "SNOTICE\0VNOTICE\0C01000\0Mhello\0Hhint\0\0");
	pf_buf_free(&b);
}

static void test_build_auth(void **state)
{
	struct pf_buf b;
	static const uint8_t salt[4] = { 0xde, 0xad, 0xbe, 0xef };
	static const char *const mechs[] = { "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256" };

	pf_buf_init(&b);
	pf_build_auth_ok(&b);
	assert_bytes(&b, "R\0\0\0\x08\0\0\0\0");
	pf_buf_reset(&b);
	pf_build_auth_cleartext(&b);
	assert_bytes(&b, "R\0\0\0\x08\0\0\0\x03");
	pf_buf_reset(&b);
	pf_build_auth_md5(&b, salt);
	assert_bytes(&b, "R\0\0\0\x0c\0\0\0\x05\xde\xad\xbe\xef");
	pf_buf_reset(&b);
	pf_build_auth_sasl(&b, mechs + 1, 1);
	assert_bytes(&b, "R\0\0\0\x17\0\0\0\x0a" "SCRAM-SHA-256\0\0");
	pf_buf_reset(&b);
	pf_build_auth_sasl(&b, mechs, 2);
	assert_bytes(&b, "R\0\0\0\x2a\0\0\0\x0a" "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0");
	pf_buf_reset(&b);
	pf_build_auth_sasl_continue(&b, U8("r=x,s=y,i=1"), 11);
	assert_bytes(&b, "R\0\0\0\x13\0\0\0\x0b" "r=x,s=y,i=1");
	pf_buf_reset(&b);
	pf_build_auth_sasl_final(&b, U8("v=abc"), 5);
	assert_bytes(&b, "R\0\0\0\x0d\0\0\0\x0c" "v=abc");
	pf_buf_reset(&b);
	pf_build_auth_sasl_final(&b, NULL, 0);
	assert_bytes(&b, "R\0\0\0\x08\0\0\0\x0c");
	pf_buf_free(&b);
}

static void test_build_backend_misc(void **state)
{
	struct pf_buf b;
	static const char *const unrec[] = { "_pq_.foo", "_pq_.b" };

	pf_buf_init(&b);
	pf_build_param_status(&b, "client_encoding", "UTF8");
	assert_bytes(&b, "S\0\0\0\x19" "client_encoding\0UTF8\0");
	pf_buf_reset(&b);
	pf_build_param_status(&b, "application_name", "");
	assert_bytes(&b, "S\0\0\0\x16" "application_name\0\0");
	pf_buf_reset(&b);
	pf_build_backend_key(&b, 0x01020304, 0xa0b0c0d0);
	assert_bytes(&b, "K\0\0\0\x0c\x01\x02\x03\x04\xa0\xb0\xc0\xd0");
	pf_buf_reset(&b);
	pf_build_rfq(&b, 'I');
	assert_bytes(&b, "Z\0\0\0\x05I");
	pf_buf_reset(&b);
	pf_build_rfq(&b, 'E');
	assert_bytes(&b, "Z\0\0\0\x05" "E");
	pf_buf_reset(&b);
	pf_build_negotiate_protocol(&b, 0, unrec, 2);
	assert_bytes(&b, "v\0\0\0\x1c\0\0\0\0\0\0\0\x02_pq_.foo\0_pq_.b\0");
	pf_buf_reset(&b);
	pf_build_negotiate_protocol(&b, 0, NULL, 0);
	assert_bytes(&b, "v\0\0\0\x0c\0\0\0\0\0\0\0\0");
	pf_buf_free(&b);
}

static void test_build_frontend(void **state)
{
	struct pf_buf b;
	static const char *const names[] = { "user", "database" };
	static const char *const values[] = { "u", "d" };

	pf_buf_init(&b);
	pf_build_startup(&b, names, values, 2);
	assert_bytes(&b, "\0\0\0\x1b\0\x03\0\0user\0u\0database\0d\0\0");
	pf_buf_reset(&b);
	pf_build_startup(&b, NULL, NULL, 0);
	assert_bytes(&b, "\0\0\0\x09\0\x03\0\0\0");
	pf_buf_reset(&b);
	pf_build_query(&b, "SELECT 1");
	assert_bytes(&b, "Q\0\0\0\x0dSELECT 1\0");
	pf_buf_reset(&b);
	pf_build_query(&b, "");
	assert_bytes(&b, "Q\0\0\0\x05\0");
	pf_buf_reset(&b);
	pf_build_password(&b, "md5abc");
	assert_bytes(&b, "p\0\0\0\x0bmd5abc\0");
	pf_buf_reset(&b);
	pf_build_sasl_initial(&b, "SCRAM-SHA-256", U8("n,,n=,r=x"), 9);
	assert_bytes(&b, "p\0\0\0\x1f" "SCRAM-SHA-256\0\0\0\0\x09n,,n=,r=x");
	pf_buf_reset(&b);
	pf_build_sasl_initial(&b, "SCRAM-SHA-256", NULL, -1);
	assert_bytes(&b, "p\0\0\0\x16" "SCRAM-SHA-256\0\xff\xff\xff\xff");
	pf_buf_reset(&b);
	pf_build_sasl_response(&b, U8("c=biws"), 6);
	assert_bytes(&b, "p\0\0\0\x0a" "c=biws");
	pf_buf_reset(&b);
	pf_build_cancel(&b, 1, 0xfffffffe);
	assert_bytes(&b, "\0\0\0\x10\x04\xd2\x16\x2e\0\0\0\x01\xff\xff\xff\xfe");
	pf_buf_reset(&b);
	pf_build_terminate(&b);
	assert_bytes(&b, "X\0\0\0\x04");
	pf_buf_reset(&b);
	pf_build_ssl_request(&b);
	assert_bytes(&b, "\0\0\0\x08\x04\xd2\x16\x2f");
	pf_buf_free(&b);
}

static void test_build_extended(void **state)
{
	struct pf_buf b;
	static const char *const params[] = { "bob", NULL };

	pf_buf_init(&b);
	pf_build_parse(&b, "", "SELECT $1");
	assert_bytes(&b, "P\0\0\0\x11\0SELECT $1\0\0\0");
	pf_buf_reset(&b);
	pf_build_bind_text(&b, "", "", params, 2);
	assert_bytes(&b, "B\0\0\0\x17\0\0\0\0\0\x02\0\0\0\x03" "bob\xff\xff\xff\xff\0\0");
	pf_buf_reset(&b);
	pf_build_bind_text(&b, "p", "s", NULL, 0);
	assert_bytes(&b, "B\0\0\0\x0ep\0s\0\0\0\0\0\0\0");
	pf_buf_reset(&b);
	pf_build_execute(&b, "", 0);
	assert_bytes(&b, "E\0\0\0\x09\0\0\0\0\0");
	pf_buf_reset(&b);
	pf_build_sync(&b);
	assert_bytes(&b, "S\0\0\0\x04");
	pf_buf_free(&b);
}

static void test_build_acks(void **state)
{
	struct pf_buf b;

	pf_buf_init(&b);
	pf_build_parse_complete(&b);
	assert_bytes(&b, "1\0\0\0\x04");
	pf_buf_reset(&b);
	pf_build_close_complete(&b);
	assert_bytes(&b, "3\0\0\0\x04");
	pf_buf_reset(&b);
	pf_build_command_complete(&b, "DEALLOCATE");
	assert_bytes(&b, "C\0\0\0\x0f" "DEALLOCATE\0");
	pf_buf_free(&b);
}

static void test_build_appends(void **state)
{
	struct pf_buf b;
	pf_buf_init(&b);
	pf_build_auth_ok(&b);
	pf_build_param_status(&b, "a", "b");
	pf_build_backend_key(&b, 7, 8);
	pf_build_rfq(&b, 'I');
	assert_bytes(&b, "R\0\0\0\x08\0\0\0\0" "S\0\0\0\x08" "a\0b\0"
		     "K\0\0\0\x0c\0\0\0\x07\0\0\0\x08" "Z\0\0\0\x05I");
	/* a big message back-patches its length correctly after the buffer grew */
	char *big = malloc(100000);
	memset(big, 'x', 99999);
	big[99999] = 0;
	pf_buf_reset(&b);
	pf_buf_put(&b, "junk", 4);
	pf_build_query(&b, big);
	assert_int_equal(b.len, 4 + 1 + 4 + 100000);
	assert_int_equal(pf_get_u32(b.data + 5), 4 + 100000);
	assert_int_equal(b.data[4], 'Q');
	free(big);
	pf_buf_free(&b);
}

/* --- startup --- */

static struct pf_buf startup_pkt(const char *body, size_t bodylen, uint32_t code)
{
	struct pf_buf b;
	pf_buf_init(&b);
	pf_buf_put_u32(&b, (uint32_t)(8 + bodylen));
	pf_buf_put_u32(&b, code);
	pf_buf_put(&b, body, bodylen);
	return b;
}

#define STARTUP(lit) startup_pkt((lit), sizeof(lit) - 1, PF_PROTO_V3)

/* Parse a packet; it stays alive (out points into it) until the next call or parse_done(). */
static struct pf_buf last_pkt;

static int parse_lit(struct pf_buf b, struct pf_startup *out)
{
	pf_buf_free(&last_pkt);
	last_pkt = b;
	return pf_parse_startup(b.data, b.len, out);
}

static void parse_done(void)
{
	pf_buf_free(&last_pkt);
}

static void test_startup_valid(void **state)
{
	struct pf_buf b;
	struct pf_startup st;
	static const char *const names[] = { "user", "database", "application_name", "options" };
	static const char *const values[] = { "alice", "db", "", "-c x=1" };

	pf_buf_init(&b);
	pf_build_startup(&b, names, values, 4);
	assert_int_equal(pf_parse_startup(b.data, b.len, &st), 0);
	assert_int_equal(st.major, 3);
	assert_int_equal(st.minor, 0);
	assert_int_equal(st.n, 4);
	for (int i = 0; i < 4; i++) {
		assert_string_equal(st.names[i], names[i]);
		assert_string_equal(st.values[i], values[i]);
	}
	assert_string_equal(pf_startup_get(&st, "user"), "alice");
	assert_string_equal(pf_startup_get(&st, "application_name"), "");
	assert_null(pf_startup_get(&st, "nope"));
	/* pointers into the packet */
	assert_true((const uint8_t *)st.names[0] > b.data && (const uint8_t *)st.values[3] < b.data + b.len);
	pf_buf_free(&b);

	/* no parameters at all */
	assert_int_equal(parse_lit(STARTUP("\0"), &st), 0);
	assert_int_equal(st.n, 0);
	/* the last duplicate wins */
	assert_int_equal(parse_lit(STARTUP("user\0a\0user\0b\0\0"), &st), 0);
	assert_int_equal(st.n, 2);
	assert_string_equal(pf_startup_get(&st, "user"), "b");
	/* an empty value before the terminator */
	assert_int_equal(parse_lit(STARTUP("user\0u\0database\0\0\0"), &st), 0);
	assert_int_equal(st.n, 2);
	assert_string_equal(st.values[1], "");
	/* protocol 3.2: accepted, the caller negotiates */
	assert_int_equal(parse_lit(startup_pkt("user\0u\0\0", 8, (3 << 16) | 2), &st), 0);
	assert_int_equal(st.major, 3);
	assert_int_equal(st.minor, 2);
	parse_done();
}

static void test_startup_malformed(void **state)
{
	struct pf_startup st;
	struct pf_buf b;

	/* too short for the header */
	assert_int_equal(pf_parse_startup(U8("\0\0\0\x04"), 4, &st), -1);
	assert_int_equal(pf_parse_startup(U8("\0\0\0\x07\0\x03\0"), 7, &st), -1);
	assert_int_equal(pf_parse_startup(NULL, 0, &st), -1);
	/* header only: no terminator */
	assert_int_equal(parse_lit(STARTUP(""), &st), -1);
	/* missing final NUL */
	assert_int_equal(parse_lit(STARTUP("user\0u\0"), &st), -1);
	assert_int_equal(parse_lit(STARTUP("user\0u"), &st), -1);
	assert_int_equal(parse_lit(STARTUP("user"), &st), -1);
	/* odd list: a name without a value */
	assert_int_equal(parse_lit(STARTUP("user\0u\0database\0"), &st), -1);
	assert_int_equal(parse_lit(STARTUP("user\0\0"), &st), -1);
	/* bytes after the terminator */
	assert_int_equal(parse_lit(STARTUP("user\0u\0\0x"), &st), -1);
	assert_int_equal(parse_lit(STARTUP("user\0u\0\0\0"), &st), -1);
	assert_int_equal(parse_lit(STARTUP("\0\0"), &st), -1);

	/* length in the header disagrees with the bytes given */
	b = STARTUP("user\0u\0\0");
	assert_int_equal(pf_parse_startup(b.data, b.len - 1, &st), -1);
	pf_buf_put_u8(&b, 0);
	assert_int_equal(pf_parse_startup(b.data, b.len, &st), -1);
	pf_buf_free(&b);

	/* not protocol 3 */
	assert_int_equal(parse_lit(startup_pkt("user\0u\0\0", 8, 2 << 16), &st), PF_STARTUP_BAD_VERSION);
	assert_int_equal(st.major, 2);
	assert_int_equal(parse_lit(startup_pkt("user\0u\0\0", 8, 4 << 16), &st), PF_STARTUP_BAD_VERSION);
	assert_int_equal(parse_lit(startup_pkt("", 0, PF_SSL_REQUEST_CODE), &st), PF_STARTUP_BAD_VERSION);
	assert_int_equal(st.major, 1234);
	assert_int_equal(st.minor, 5679);
	/* ...but framing errors come first */
	assert_int_equal(pf_parse_startup(U8("\0\0\0\x09\0\x02\0\0"), 8, &st), -1);
	parse_done();
}

static void test_startup_limits(void **state)
{
	struct pf_startup st;
	struct pf_buf body, b;
	char name[16];

	/* exactly PF_STARTUP_MAX_PARAMS parameters, then one more */
	pf_buf_init(&body);
	for (int i = 0; i < PF_STARTUP_MAX_PARAMS; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		pf_buf_put_str(&body, name);
		pf_buf_put_str(&body, "v");
	}
	pf_buf_put_u8(&body, 0);
	b = startup_pkt((const char *)body.data, body.len, PF_PROTO_V3);
	assert_int_equal(pf_parse_startup(b.data, b.len, &st), 0);
	assert_int_equal(st.n, PF_STARTUP_MAX_PARAMS);
	assert_string_equal(st.names[PF_STARTUP_MAX_PARAMS - 1], "p63");
	pf_buf_free(&b);
	body.len--;
	pf_buf_put_str(&body, "one");
	pf_buf_put_str(&body, "more");
	pf_buf_put_u8(&body, 0);
	b = startup_pkt((const char *)body.data, body.len, PF_PROTO_V3);
	assert_int_equal(pf_parse_startup(b.data, b.len, &st), -1);
	pf_buf_free(&b);
	pf_buf_free(&body);

	/* exactly PF_MAX_STARTUP_PACKET bytes, then one more */
	for (int extra = 0; extra <= 1; extra++) {
		size_t vlen = PF_MAX_STARTUP_PACKET - 8 - 5 - 1 - 1 + (size_t)extra;
		pf_buf_init(&body);
		pf_buf_put_str(&body, "user");
		char *v = malloc(vlen + 1);
		memset(v, 'a', vlen);
		v[vlen] = 0;
		pf_buf_put_str(&body, v);
		free(v);
		pf_buf_put_u8(&body, 0);
		b = startup_pkt((const char *)body.data, body.len, PF_PROTO_V3);
		assert_int_equal(b.len, PF_MAX_STARTUP_PACKET + (size_t)extra);
		assert_int_equal(pf_parse_startup(b.data, b.len, &st), extra ? -1 : 0);
		pf_buf_free(&b);
		pf_buf_free(&body);
	}
}

/* --- other bodies --- */

static void test_param_status(void **state)
{
	const char *n, *v;
	assert_int_equal(pf_parse_param_status(U8("TimeZone\0UTC\0"), 13, &n, &v), 0);
	assert_string_equal(n, "TimeZone");
	assert_string_equal(v, "UTC");
	assert_int_equal(pf_parse_param_status(U8("a\0\0"), 3, &n, &v), 0);
	assert_string_equal(v, "");
	assert_int_equal(pf_parse_param_status(U8("TimeZone\0UTC"), 12, &n, &v), -1);
	assert_int_equal(pf_parse_param_status(U8("TimeZone\0"), 9, &n, &v), -1);
	assert_int_equal(pf_parse_param_status(U8("TimeZone"), 8, &n, &v), -1);
	assert_int_equal(pf_parse_param_status(U8("a\0b\0c"), 5, &n, &v), -1);
	assert_int_equal(pf_parse_param_status(U8(""), 0, &n, &v), -1);
}

/* Parse the body of a message we built. */
static const uint8_t *body_of(struct pf_buf *b, char type, size_t *len)
{
	assert_true(b->len >= 5);
	assert_int_equal(b->data[0], type);
	assert_int_equal(pf_get_u32(b->data + 1), b->len - 1);
	*len = b->len - 5;
	return b->data + 5;
}

static void test_auth_request(void **state)
{
	struct pf_buf b;
	uint32_t code;
	const uint8_t *data, *body;
	size_t dlen, len;
	static const uint8_t salt[4] = { 1, 2, 3, 4 };
	static const char *const mechs[] = { "SCRAM-SHA-256" };

	pf_buf_init(&b);
	pf_build_auth_ok(&b);
	body = body_of(&b, 'R', &len);
	assert_int_equal(pf_parse_auth_request(body, len, &code, &data, &dlen), 0);
	assert_int_equal(code, PF_AUTH_OK);
	assert_int_equal(dlen, 0);

	pf_buf_reset(&b);
	pf_build_auth_md5(&b, salt);
	body = body_of(&b, 'R', &len);
	assert_int_equal(pf_parse_auth_request(body, len, &code, &data, &dlen), 0);
	assert_int_equal(code, PF_AUTH_MD5);
	assert_int_equal(dlen, 4);
	assert_memory_equal(data, salt, 4);

	pf_buf_reset(&b);
	pf_build_auth_sasl(&b, mechs, 1);
	body = body_of(&b, 'R', &len);
	assert_int_equal(pf_parse_auth_request(body, len, &code, &data, &dlen), 0);
	assert_int_equal(code, PF_AUTH_SASL);
	assert_string_equal((const char *)data, "SCRAM-SHA-256");

	pf_buf_reset(&b);
	pf_build_auth_sasl_continue(&b, U8("r=abc"), 5);
	body = body_of(&b, 'R', &len);
	assert_int_equal(pf_parse_auth_request(body, len, &code, &data, &dlen), 0);
	assert_int_equal(code, PF_AUTH_SASL_CONTINUE);
	assert_int_equal(dlen, 5);
	assert_memory_equal(data, "r=abc", 5);
	pf_buf_free(&b);

	/* malformed */
	assert_int_equal(pf_parse_auth_request(U8("\0\0\0"), 3, &code, &data, &dlen), -1);
	assert_int_equal(pf_parse_auth_request(U8(""), 0, &code, &data, &dlen), -1);
	assert_int_equal(pf_parse_auth_request(U8("\0\0\0\0x"), 5, &code, &data, &dlen), -1);
	assert_int_equal(pf_parse_auth_request(U8("\0\0\0\x03x"), 5, &code, &data, &dlen), -1);
	assert_int_equal(pf_parse_auth_request(U8("\0\0\0\x05\1\2\3"), 7, &code, &data, &dlen), -1);
	assert_int_equal(pf_parse_auth_request(U8("\0\0\0\x05\1\2\3\4\5"), 9, &code, &data, &dlen), -1);
	assert_int_equal(pf_parse_auth_request(U8("\0\0\0\x0a"), 4, &code, &data, &dlen), -1);
	assert_int_equal(pf_parse_auth_request(U8("\0\0\0\x0aSCRAM"), 9, &code, &data, &dlen), -1);
	assert_int_equal(pf_parse_auth_request(U8("\0\0\0\x0aSCRAM\0"), 10, &code, &data, &dlen), -1);
	assert_int_equal(pf_parse_auth_request(U8("\0\0\0\x0aSCRAM\0\0x"), 12, &code, &data, &dlen), -1);
	/* an empty SASL list is well formed (the caller finds no usable mechanism) */
	assert_int_equal(pf_parse_auth_request(U8("\0\0\0\x0a\0"), 5, &code, &data, &dlen), 0);
}

static void test_error_fields(void **state)
{
	struct pf_buf b;
	struct pf_error_fields f;
	const uint8_t *body;
	size_t len;

	pf_buf_init(&b);
	pf_build_error(&b, "FATAL", "28P01", "password authentication failed", "d", "h");
	body = body_of(&b, 'E', &len);
	assert_int_equal(pf_parse_error_fields(body, len, &f), 0);
	assert_string_equal(f.severity, "FATAL");
	assert_string_equal(f.severity_nl, "FATAL");
	assert_string_equal(f.sqlstate, "28P01");
	assert_string_equal(f.message, "password authentication failed");
	assert_string_equal(f.detail, "d");
	assert_string_equal(f.hint, "h");

	pf_buf_reset(&b);
	pf_build_notice(&b, "01000", "n", NULL);
	body = body_of(&b, 'N', &len);
	assert_int_equal(pf_parse_error_fields(body, len, &f), 0);
	assert_string_equal(f.severity, "NOTICE");
	assert_null(f.detail);
	assert_null(f.hint);
	pf_buf_free(&b);

	/* a server's error with fields we do not know, localized S, no V */
	static const char srv[] = "SFEHLER\0C42P01\0Mx\0P15\0Fparse_relation.c\0L1392\0Rfoo\0\0";
	assert_int_equal(pf_parse_error_fields(U8(srv), sizeof(srv) - 1, &f), 0);
	assert_string_equal(f.severity, "FEHLER");
	assert_null(f.severity_nl);
	assert_string_equal(f.sqlstate, "42P01");
	assert_string_equal(f.message, "x");

	/* only the terminator */
	assert_int_equal(pf_parse_error_fields(U8("\0"), 1, &f), 0);
	assert_null(f.message);

	/* malformed */
	assert_int_equal(pf_parse_error_fields(U8(""), 0, &f), -1);
	assert_int_equal(pf_parse_error_fields(U8("SERROR\0"), 7, &f), -1);		/* no terminator */
	assert_int_equal(pf_parse_error_fields(U8("SERROR"), 6, &f), -1);		/* no NUL */
	assert_int_equal(pf_parse_error_fields(U8("SERROR\0M"), 8, &f), -1);
	assert_int_equal(pf_parse_error_fields(U8("SERROR\0\0x"), 9, &f), -1);	/* trailing */
	assert_int_equal(pf_parse_error_fields(U8("S"), 1, &f), -1);
}

static void test_backend_key_rfq(void **state)
{
	struct pf_buf b;
	const uint8_t *body;
	size_t len;
	uint32_t pid, key;
	char st;

	pf_buf_init(&b);
	pf_build_backend_key(&b, 0xdeadbeef, 42);
	body = body_of(&b, 'K', &len);
	assert_int_equal(pf_parse_backend_key(body, len, &pid, &key), 0);
	assert_int_equal(pid, 0xdeadbeef);
	assert_int_equal(key, 42);
	assert_int_equal(pf_parse_backend_key(body, 7, &pid, &key), -1);
	assert_int_equal(pf_parse_backend_key(U8("123456789"), 9, &pid, &key), -1);

	pf_buf_reset(&b);
	pf_build_rfq(&b, 'T');
	body = body_of(&b, 'Z', &len);
	assert_int_equal(pf_parse_rfq(body, len, &st), 0);
	assert_int_equal(st, 'T');
	assert_int_equal(pf_parse_rfq(U8("X"), 1, &st), -1);
	assert_int_equal(pf_parse_rfq(U8("II"), 2, &st), -1);
	assert_int_equal(pf_parse_rfq(U8(""), 0, &st), -1);
	pf_buf_free(&b);
}

static void test_sasl_initial(void **state)
{
	struct pf_buf b;
	const uint8_t *body, *data;
	size_t len;
	const char *mech;
	int dlen;

	pf_buf_init(&b);
	pf_build_sasl_initial(&b, "SCRAM-SHA-256", U8("n,,n=,r=abc"), 11);
	body = body_of(&b, 'p', &len);
	assert_int_equal(pf_parse_sasl_initial(body, len, &mech, &data, &dlen), 0);
	assert_string_equal(mech, "SCRAM-SHA-256");
	assert_int_equal(dlen, 11);
	assert_memory_equal(data, "n,,n=,r=abc", 11);
	/* truncated data, extra data */
	assert_int_equal(pf_parse_sasl_initial(body, len - 1, &mech, &data, &dlen), -1);
	pf_buf_put_u8(&b, 'x');
	assert_int_equal(pf_parse_sasl_initial(b.data + 5, b.len - 5, &mech, &data, &dlen), -1);

	pf_buf_reset(&b);
	pf_build_sasl_initial(&b, "SCRAM-SHA-256", NULL, -1);
	body = body_of(&b, 'p', &len);
	assert_int_equal(pf_parse_sasl_initial(body, len, &mech, &data, &dlen), 0);
	assert_int_equal(dlen, -1);
	assert_null(data);
	pf_buf_put_u8(&b, 'x');
	assert_int_equal(pf_parse_sasl_initial(b.data + 5, b.len - 5, &mech, &data, &dlen), -1);

	pf_buf_reset(&b);
	pf_build_sasl_initial(&b, "M", U8(""), 0);
	body = body_of(&b, 'p', &len);
	assert_int_equal(pf_parse_sasl_initial(body, len, &mech, &data, &dlen), 0);
	assert_int_equal(dlen, 0);
	pf_buf_free(&b);

	assert_int_equal(pf_parse_sasl_initial(U8("M\0\xff\xff\xff\xfe"), 6, &mech, &data, &dlen), -1);
	assert_int_equal(pf_parse_sasl_initial(U8("M\0\x7f\xff\xff\xff" "ab"), 8, &mech, &data, &dlen), -1);
	assert_int_equal(pf_parse_sasl_initial(U8("M\0\0\0\0"), 5, &mech, &data, &dlen), -1);
	assert_int_equal(pf_parse_sasl_initial(U8("M\0"), 2, &mech, &data, &dlen), -1);
	assert_int_equal(pf_parse_sasl_initial(U8("MECH"), 4, &mech, &data, &dlen), -1);
	assert_int_equal(pf_parse_sasl_initial(U8(""), 0, &mech, &data, &dlen), -1);
}

static void test_data_row(void **state)
{
	const uint8_t *v[2];
	int32_t l[2];
	int n = -1;

	/* ("bob", NULL) */
	assert_int_equal(pf_parse_data_row(U8("\0\x02\0\0\0\x03" "bob\xff\xff\xff\xff"), 13, v, l, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(l[0], 3);
	assert_memory_equal(v[0], "bob", 3);
	assert_null(v[1]);
	assert_int_equal(l[1], -1);
	/* more columns than asked for: counted and checked, not stored */
	assert_int_equal(pf_parse_data_row(U8("\0\x03\0\0\0\0\0\0\0\x01x\0\0\0\x01y"), 16, v, l, 1, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(l[0], 0);
	/* no columns */
	assert_int_equal(pf_parse_data_row(U8("\0\0"), 2, v, l, 2, &n), 0);
	assert_int_equal(n, 0);

	assert_int_equal(pf_parse_data_row(U8("\0"), 1, v, l, 2, &n), -1);
	/* a length past the body, also in a column that is not stored */
	assert_int_equal(pf_parse_data_row(U8("\0\x01\0\0\0\x04" "bob"), 9, v, l, 2, &n), -1);
	assert_int_equal(pf_parse_data_row(U8("\0\x02\0\0\0\x01x\0\0\0\x09x"), 12, v, l, 1, &n), -1);
	/* fewer columns than announced, bytes after the last one, a length below -1 */
	assert_int_equal(pf_parse_data_row(U8("\0\x02\0\0\0\x01x"), 7, v, l, 2, &n), -1);
	assert_int_equal(pf_parse_data_row(U8("\0\x01\0\0\0\x01xy"), 8, v, l, 2, &n), -1);
	assert_int_equal(pf_parse_data_row(U8("\0\x01\xff\xff\xff\xfe"), 6, v, l, 2, &n), -1);
}

static void test_cstring(void **state)
{
	struct pf_buf b;
	const uint8_t *body;
	size_t len;
	const char *s;

	pf_buf_init(&b);
	pf_build_password(&b, "secret");
	body = body_of(&b, 'p', &len);
	assert_int_equal(pf_parse_cstring(body, len, &s), 0);
	assert_string_equal(s, "secret");
	pf_buf_free(&b);

	assert_int_equal(pf_parse_cstring(U8("\0"), 1, &s), 0);
	assert_string_equal(s, "");
	assert_int_equal(pf_parse_cstring(U8("secret"), 6, &s), -1);	/* no NUL */
	assert_int_equal(pf_parse_cstring(U8("sec\0ret\0"), 8, &s), -1);	/* NUL inside */
	assert_int_equal(pf_parse_cstring(U8("secret\0\0"), 8, &s), -1);
	assert_int_equal(pf_parse_cstring(U8(""), 0, &s), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_error),
		cmocka_unit_test(test_build_notice),
		cmocka_unit_test(test_build_auth),
		cmocka_unit_test(test_build_backend_misc),
		cmocka_unit_test(test_build_frontend),
		cmocka_unit_test(test_build_extended),
		cmocka_unit_test(test_build_acks),
		cmocka_unit_test(test_build_appends),
		cmocka_unit_test(test_startup_valid),
		cmocka_unit_test(test_startup_malformed),
		cmocka_unit_test(test_startup_limits),
		cmocka_unit_test(test_param_status),
		cmocka_unit_test(test_auth_request),
		cmocka_unit_test(test_error_fields),
		cmocka_unit_test(test_backend_key_rfq),
		cmocka_unit_test(test_sasl_initial),
		cmocka_unit_test(test_data_row),
		cmocka_unit_test(test_cstring),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
