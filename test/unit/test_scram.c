/* test_scram.c - SCRAM-SHA-256 both roles: RFC 7677 vector, round trips, pass-through, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/scram.h"
#include "util/buf.h"

#define assert_buf_equal(b, s) do { \
		assert_int_equal((b)->len, strlen(s)); \
		assert_memory_equal((b)->data, (s), strlen(s)); \
	} while (0)

#define U8(s) ((const uint8_t *)(s))

/* RFC 7677 section 3 */
static const char *rfc_secret = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
	"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
static const uint8_t rfc_salt[16] = {
	0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e, 0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81
};
static const char *rfc_client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
static const char *rfc_server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
static const char *rfc_client_final = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
static const char *rfc_server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

/* A cheap secret for the many tests that do not need 4096 iterations. */
static const uint8_t test_salt[16] = "0123456789abcdef";
#define TEST_ITER 64
static char *test_secret;	/* password "pw" */

/* --- an independent client-final computation, to craft messages our client never sends --- */

static char *hand_final(const char *password, const uint8_t *salt, int saltlen, int iter,
			const char *bare, const char *server_first, const char *without_proof)
{
	uint8_t sp[32], ck[32], stored[32], sig[32], proof[32];
	unsigned int n;
	char am[1024], b64[64];
	static char out[1024];

	assert_int_equal(PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, saltlen, iter,
					   EVP_sha256(), 32, sp), 1);
	assert_non_null(HMAC(EVP_sha256(), sp, 32, U8("Client Key"), 10, ck, &n));
	assert_int_equal(EVP_Digest(ck, 32, stored, &n, EVP_sha256(), NULL), 1);
	snprintf(am, sizeof(am), "%s,%s,%s", bare, server_first, without_proof);
	assert_non_null(HMAC(EVP_sha256(), stored, 32, U8(am), strlen(am), sig, &n));
	for (int i = 0; i < 32; i++)
		proof[i] = ck[i] ^ sig[i];
	EVP_EncodeBlock((unsigned char *)b64, proof, 32);
	snprintf(out, sizeof(out), "%s,p=%s", without_proof, b64);
	return out;
}

/* Run a whole exchange in memory; 0 if the server accepted and the client verified it. */
static int exchange(struct pf_scram_client *c, struct pf_scram_server *s)
{
	struct pf_buf b1, b2, b3, b4;
	int rc = -1;

	pf_buf_init(&b1);
	pf_buf_init(&b2);
	pf_buf_init(&b3);
	pf_buf_init(&b4);
	if (pf_scram_client_first(c, &b1) == 0 &&
	    pf_scram_server_first(s, b1.data, b1.len, &b2) == 0 &&
	    pf_scram_client_final(c, b2.data, b2.len, &b3) == 0 &&
	    pf_scram_server_final(s, b3.data, b3.len, &b4) == 0 &&
	    pf_scram_client_verify(c, b4.data, b4.len) == 0)
		rc = 0;
	pf_buf_free(&b1);
	pf_buf_free(&b2);
	pf_buf_free(&b3);
	pf_buf_free(&b4);
	return rc;
}

/* --- secrets --- */

static void test_build_secret_rfc(void **state)
{
	char *s = pf_scram_build_secret_salt("pencil", 4096, rfc_salt, sizeof(rfc_salt));
	assert_non_null(s);
	assert_string_equal(s, rfc_secret);
	free(s);
}

static void test_parse_secret(void **state)
{
	uint8_t salt[PF_SCRAM_MAX_SALT_LEN], k1[32], k2[32];
	int iter, saltlen;

	assert_true(pf_scram_parse_secret(rfc_secret, &iter, salt, &saltlen, k1, k2));
	assert_int_equal(iter, 4096);
	assert_int_equal(saltlen, 16);
	assert_memory_equal(salt, rfc_salt, 16);

	static const char *bad[] = {
		"",
		"md53175bce1d3201d16594cebf9d7eb3f9d",
		"SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$-1:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$99999999999:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$x:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4q=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU= ",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==",
		"SCRAM-SHA-256$4096",
		"SCRAM-SHA-256$",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (pf_scram_parse_secret(bad[i], &iter, salt, &saltlen, k1, k2))
			fail_msg("accepted bad secret #%zu: %s", i, bad[i]);
		assert_false(pf_scram_is_secret(bad[i]));
	}
	assert_true(pf_scram_is_secret(rfc_secret));
}

static void test_build_secret_random(void **state)
{
	char *a = pf_scram_build_secret("pw", 0), *b = pf_scram_build_secret("pw", 100);
	uint8_t salt[PF_SCRAM_MAX_SALT_LEN], k1[32], k2[32];
	int iter, saltlen;

	assert_non_null(a);
	assert_non_null(b);
	assert_true(pf_scram_parse_secret(a, &iter, salt, &saltlen, k1, k2));
	assert_int_equal(iter, PF_SCRAM_DEFAULT_ITERATIONS);
	assert_int_equal(saltlen, PF_SCRAM_SALT_LEN);
	assert_true(pf_scram_parse_secret(b, &iter, salt, &saltlen, k1, k2));
	assert_int_equal(iter, 100);
	/* fresh salt each time */
	assert_string_not_equal(strchr(a, ':'), strchr(b, ':'));
	free(a);
	free(b);
}

/* --- RFC 7677 vector, each role separately --- */

static void test_rfc_server(void **state)
{
	struct pf_scram_server s;
	struct pf_buf out;

	pf_buf_init(&out);
	assert_int_equal(pf_scram_server_init(&s, rfc_secret, 0), 0);
	pf_scram_server_test_set_nonce(&s, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
	assert_int_equal(pf_scram_server_first(&s, U8(rfc_client_first), strlen(rfc_client_first), &out), 0);
	assert_buf_equal(&out, rfc_server_first);
	pf_buf_reset(&out);
	assert_int_equal(pf_scram_server_final(&s, U8(rfc_client_final), strlen(rfc_client_final), &out), 0);
	assert_buf_equal(&out, rfc_server_final);
	assert_true(s.has_keys);
	/* a second final is out of order */
	pf_buf_reset(&out);
	assert_int_equal(pf_scram_server_final(&s, U8(rfc_client_final), strlen(rfc_client_final), &out), -1);
	assert_int_equal(out.len, 0);
	pf_scram_server_free(&s);
	pf_buf_free(&out);
}

static void test_rfc_client(void **state)
{
	struct pf_scram_client c;
	struct pf_buf out;

	pf_buf_init(&out);
	pf_scram_client_init_password(&c, "pencil");
	pf_scram_client_test_set(&c, "user", "rOprNGfwEbeRWgbNEkqO");
	assert_int_equal(pf_scram_client_first(&c, &out), 0);
	assert_buf_equal(&out, rfc_client_first);
	pf_buf_reset(&out);
	assert_int_equal(pf_scram_client_final(&c, U8(rfc_server_first), strlen(rfc_server_first), &out), 0);
	assert_buf_equal(&out, rfc_client_final);
	assert_int_equal(pf_scram_client_verify(&c, U8(rfc_server_final), strlen(rfc_server_final)), 0);
	pf_scram_client_free(&c);
	pf_buf_free(&out);
}

static void test_rfc_client_keys(void **state)
{
	/* The pass-through path reproduces the vector from the keys alone. */
	struct pf_scram_server s;
	struct pf_scram_client c;
	struct pf_buf out;
	uint8_t ck[32], sk[32];

	pf_buf_init(&out);
	assert_int_equal(pf_scram_server_init(&s, rfc_secret, 0), 0);
	pf_scram_server_test_set_nonce(&s, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
	assert_int_equal(pf_scram_server_first(&s, U8(rfc_client_first), strlen(rfc_client_first), &out), 0);
	pf_buf_reset(&out);
	assert_int_equal(pf_scram_server_final(&s, U8(rfc_client_final), strlen(rfc_client_final), &out), 0);
	assert_true(s.has_keys);
	memcpy(ck, s.client_key, 32);
	memcpy(sk, s.server_key, 32);
	pf_scram_server_free(&s);

	pf_buf_reset(&out);
	pf_scram_client_init_keys(&c, ck, sk);
	pf_scram_client_test_set(&c, "user", "rOprNGfwEbeRWgbNEkqO");
	assert_int_equal(pf_scram_client_first(&c, &out), 0);
	pf_buf_reset(&out);
	assert_int_equal(pf_scram_client_final(&c, U8(rfc_server_first), strlen(rfc_server_first), &out), 0);
	assert_buf_equal(&out, rfc_client_final);
	assert_int_equal(pf_scram_client_verify(&c, U8(rfc_server_final), strlen(rfc_server_final)), 0);
	pf_scram_client_free(&c);
	pf_buf_free(&out);
}

/* --- round trips --- */

static void test_round_trip_plain(void **state)
{
	struct pf_scram_server s;
	struct pf_scram_client c;

	assert_int_equal(pf_scram_server_init(&s, "correct horse", TEST_ITER), 0);
	pf_scram_client_init_password(&c, "correct horse");
	assert_int_equal(exchange(&c, &s), 0);
	/* keys of a throw-away salt are useless for pass-through */
	assert_false(s.has_keys);
	pf_scram_server_free(&s);
	pf_scram_client_free(&c);
}

static void test_round_trip_secret(void **state)
{
	struct pf_scram_server s;
	struct pf_scram_client c;
	uint8_t salt[PF_SCRAM_MAX_SALT_LEN], stored[32], server_key[32], h[32];
	int iter, saltlen;
	unsigned int n;

	assert_int_equal(pf_scram_server_init(&s, test_secret, 0), 0);
	pf_scram_client_init_password(&c, "pw");
	assert_int_equal(exchange(&c, &s), 0);
	assert_true(s.has_keys);
	/* the recovered ClientKey hashes to the StoredKey of the secret */
	assert_true(pf_scram_parse_secret(test_secret, &iter, salt, &saltlen, stored, server_key));
	assert_int_equal(EVP_Digest(s.client_key, 32, h, &n, EVP_sha256(), NULL), 1);
	assert_memory_equal(h, stored, 32);
	assert_memory_equal(s.server_key, server_key, 32);
	pf_scram_server_free(&s);
	pf_scram_client_free(&c);
}

static void test_round_trip_random_secret(void **state)
{
	char *secret = pf_scram_build_secret("ünïcødé pass", 32);
	struct pf_scram_server s;
	struct pf_scram_client c;

	assert_non_null(secret);
	assert_int_equal(pf_scram_server_init(&s, secret, 0), 0);
	pf_scram_client_init_password(&c, "ünïcødé pass");
	assert_int_equal(exchange(&c, &s), 0);
	pf_scram_server_free(&s);
	pf_scram_client_free(&c);
	free(secret);
}

static void test_pass_through(void **state)
{
	struct pf_scram_server front, back;
	struct pf_scram_client user, pooler;
	uint8_t ck[32], sk[32];

	/* The client logs in to pgfjord with its password... */
	assert_int_equal(pf_scram_server_init(&front, test_secret, 0), 0);
	pf_scram_client_init_password(&user, "pw");
	assert_int_equal(exchange(&user, &front), 0);
	assert_true(front.has_keys);
	memcpy(ck, front.client_key, 32);
	memcpy(sk, front.server_key, 32);
	pf_scram_server_free(&front);
	pf_scram_client_free(&user);

	/* ...and pgfjord logs in to the server with the recovered keys, no password known. */
	assert_int_equal(pf_scram_server_init(&back, test_secret, 0), 0);
	pf_scram_client_init_keys(&pooler, ck, sk);
	assert_int_equal(exchange(&pooler, &back), 0);
	pf_scram_server_free(&back);
	pf_scram_client_free(&pooler);

	/* Same password, other salt: the keys do not fit. */
	static const uint8_t other_salt[16] = "fedcba9876543210";
	char *other = pf_scram_build_secret_salt("pw", TEST_ITER, other_salt, 16);
	assert_int_equal(pf_scram_server_init(&back, other, 0), 0);
	pf_scram_client_init_keys(&pooler, ck, sk);
	assert_int_equal(exchange(&pooler, &back), -1);
	pf_scram_server_free(&back);
	pf_scram_client_free(&pooler);
	free(other);
}

static void test_wrong_password(void **state)
{
	struct pf_scram_server s;
	struct pf_scram_client c;
	struct pf_buf b1, b2, b3, b4;

	pf_buf_init(&b1);
	pf_buf_init(&b2);
	pf_buf_init(&b3);
	pf_buf_init(&b4);
	assert_int_equal(pf_scram_server_init(&s, test_secret, 0), 0);
	pf_scram_client_init_password(&c, "pW");
	assert_int_equal(pf_scram_client_first(&c, &b1), 0);
	assert_int_equal(pf_scram_server_first(&s, b1.data, b1.len, &b2), 0);
	assert_int_equal(pf_scram_client_final(&c, b2.data, b2.len, &b3), 0);
	assert_int_equal(pf_scram_server_final(&s, b3.data, b3.len, &b4), -1);
	assert_int_equal(b4.len, 0);
	assert_false(s.has_keys);
	/* a client that is told "e=" or gets nothing valid does not verify */
	assert_int_equal(pf_scram_client_verify(&c, U8("e=invalid-proof"), 15), -1);
	pf_scram_server_free(&s);
	pf_scram_client_free(&c);

	/* plain stored password, wrong guess */
	assert_int_equal(pf_scram_server_init(&s, "pw", TEST_ITER), 0);
	pf_scram_client_init_password(&c, "");
	assert_int_equal(exchange(&c, &s), -1);
	pf_scram_server_free(&s);
	pf_scram_client_free(&c);

	pf_buf_free(&b1);
	pf_buf_free(&b2);
	pf_buf_free(&b3);
	pf_buf_free(&b4);
}

static void test_refused_secrets(void **state)
{
	struct pf_scram_server s;

	assert_int_equal(pf_scram_server_init(&s, "md53175bce1d3201d16594cebf9d7eb3f9d", 0), -1);
	pf_scram_server_free(&s);
	assert_int_equal(pf_scram_server_init(&s, "", 0), -1);
	pf_scram_server_free(&s);
	assert_int_equal(pf_scram_server_init(&s, NULL, 0), -1);
	/* a failed init leaves a state that refuses everything */
	struct pf_buf out;
	pf_buf_init(&out);
	assert_int_equal(pf_scram_server_first(&s, U8("n,,n=,r=abc"), 11, &out), -1);
	assert_int_equal(out.len, 0);
	pf_scram_server_free(&s);
	pf_scram_server_free(&s);	/* twice is harmless */
}

/* --- server role, bad input --- */

static int try_first(const char *msg, size_t len, struct pf_buf *out)
{
	struct pf_scram_server s;
	int rc;

	assert_int_equal(pf_scram_server_init(&s, test_secret, 0), 0);
	pf_scram_server_test_set_nonce(&s, "SN");
	rc = pf_scram_server_first(&s, U8(msg), len, out);
	pf_scram_server_free(&s);
	return rc;
}

static void test_server_first_malformed(void **state)
{
	static const char *bad[] = {
		"",
		"n",
		"n,",
		"n,,",
		"x,,n=,r=CN",
		"p=tls-server-end-point,,n=,r=CN",
		"p,,n=,r=CN",
		"n,a=someone,n=,r=CN",
		"n,n=,r=CN",
		"n,,m=ext,n=,r=CN",
		"n,,r=CN",
		"n,,n=",
		"n,,n=,",
		"n,,n=,r=",
		"n,,n=,r=C N",
		"n,,n=,r=CN\x7f",
		"n,,n=,r=CN\x01",
		"n,,n=,r=CN,",
		"n,,n=,r=CN,x",
		"n,,n=,r=CN,=x",
		"n,,n=,r=CN,1=x",
		"n,,n=,s=CN",
		"n,,n=,r=CN,,x=1",
		"N,,n=,r=CN",
	};
	struct pf_buf out;

	pf_buf_init(&out);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (try_first(bad[i], strlen(bad[i]), &out) != -1)
			fail_msg("accepted bad client-first #%zu: %s", i, bad[i]);
		assert_int_equal(out.len, 0);
	}
	/* embedded NUL */
	assert_int_equal(try_first("n,,n=,r=C\0N", 11, &out), -1);
	/* NULL data */
	struct pf_scram_server s;
	assert_int_equal(pf_scram_server_init(&s, test_secret, 0), 0);
	assert_int_equal(pf_scram_server_first(&s, NULL, 0, &out), -1);
	pf_scram_server_free(&s);
	assert_int_equal(out.len, 0);

	/* accepted: 'y' flag, any user name (ignored), extensions */
	static const char *good[] = {
		"n,,n=,r=CN",
		"y,,n=,r=CN",
		"n,,n=somebody,r=CN",
		"n,,n=a=2Cb,r=CN",
		"n,,n=,r=CN,x=ext,y=",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		pf_buf_reset(&out);
		if (try_first(good[i], strlen(good[i]), &out) != 0)
			fail_msg("refused client-first #%zu: %s", i, good[i]);
		assert_true(out.len > 0);
		assert_memory_equal(out.data, "r=CNSN,s=", 9);
	}
	/* output is appended, not replacing */
	pf_buf_reset(&out);
	pf_buf_put(&out, "XY", 2);
	assert_int_equal(try_first("n,,n=,r=CN", 10, &out), 0);
	assert_buf_equal(&out, "XYr=CNSN,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=64");
	pf_buf_free(&out);
}

/* Server after a client-first "<flag>,,n=,r=CN", with nonce CNSN; returns its server-first. */
static void start_server(struct pf_scram_server *s, const char *client_first, char *server_first, size_t cap)
{
	struct pf_buf out;
	pf_buf_init(&out);
	assert_int_equal(pf_scram_server_init(s, test_secret, 0), 0);
	pf_scram_server_test_set_nonce(s, "SN");
	assert_int_equal(pf_scram_server_first(s, U8(client_first), strlen(client_first), &out), 0);
	assert_true(out.len < cap);
	memcpy(server_first, out.data, out.len);
	server_first[out.len] = 0;
	pf_buf_free(&out);
}

static int try_final(const char *client_first, const char *msg, size_t len)
{
	struct pf_scram_server s;
	struct pf_buf out;
	char sf[256];
	int rc;

	pf_buf_init(&out);
	start_server(&s, client_first, sf, sizeof(sf));
	rc = pf_scram_server_final(&s, U8(msg), len, &out);
	if (rc == 0) {
		assert_true(out.len == 46 && memcmp(out.data, "v=", 2) == 0);
		assert_true(s.has_keys);
	} else {
		assert_int_equal(out.len, 0);
		assert_false(s.has_keys);
	}
	pf_scram_server_free(&s);
	pf_buf_free(&out);
	return rc;
}

static const char *server_first_for_cn(void)
{
	return "r=CNSN,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=64";
}

static void test_server_final_hand_made(void **state)
{
	const char *sf = server_first_for_cn();
	char *m;

	/* our independent computation is accepted */
	m = hand_final("pw", test_salt, 16, TEST_ITER, "n=,r=CN", sf, "c=biws,r=CNSN");
	assert_int_equal(try_final("n,,n=,r=CN", m, strlen(m)), 0);
	/* extensions before the proof are covered by it and accepted */
	m = hand_final("pw", test_salt, 16, TEST_ITER, "n=,r=CN,x=1", sf, "c=biws,r=CNSN,z=2");
	assert_int_equal(try_final("n,,n=,r=CN,x=1", m, strlen(m)), 0);
	/* 'y' flag: the client echoes "y,," (eSws) */
	m = hand_final("pw", test_salt, 16, TEST_ITER, "n=,r=CN", sf, "c=eSws,r=CNSN");
	assert_int_equal(try_final("y,,n=,r=CN", m, strlen(m)), 0);
	/* ...and must not claim "n,," after announcing 'y', nor the reverse */
	m = hand_final("pw", test_salt, 16, TEST_ITER, "n=,r=CN", sf, "c=biws,r=CNSN");
	assert_int_equal(try_final("y,,n=,r=CN", m, strlen(m)), -1);
	m = hand_final("pw", test_salt, 16, TEST_ITER, "n=,r=CN", sf, "c=eSws,r=CNSN");
	assert_int_equal(try_final("n,,n=,r=CN", m, strlen(m)), -1);
	/* channel binding data the client should not have sent: base64("p=tls-server-end-point,,") */
	m = hand_final("pw", test_salt, 16, TEST_ITER, "n=,r=CN", sf, "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws,r=CNSN");
	assert_int_equal(try_final("n,,n=,r=CN", m, strlen(m)), -1);
	/* nonce not ours */
	m = hand_final("pw", test_salt, 16, TEST_ITER, "n=,r=CN", "r=CNSX,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=64", "c=biws,r=CNSX");
	assert_int_equal(try_final("n,,n=,r=CN", m, strlen(m)), -1);
	m = hand_final("pw", test_salt, 16, TEST_ITER, "n=,r=CN", sf, "c=biws,r=CNSNX");
	assert_int_equal(try_final("n,,n=,r=CN", m, strlen(m)), -1);
	m = hand_final("pw", test_salt, 16, TEST_ITER, "n=,r=CN", sf, "c=biws,r=CNS");
	assert_int_equal(try_final("n,,n=,r=CN", m, strlen(m)), -1);
	/* wrong password */
	m = hand_final("pw2", test_salt, 16, TEST_ITER, "n=,r=CN", sf, "c=biws,r=CNSN");
	assert_int_equal(try_final("n,,n=,r=CN", m, strlen(m)), -1);
}

static void test_server_final_malformed(void **state)
{
	const char *sf = server_first_for_cn();
	char good[256], m[300];

	snprintf(good, sizeof(good), "%s", hand_final("pw", test_salt, 16, TEST_ITER, "n=,r=CN", sf, "c=biws,r=CNSN"));
	assert_int_equal(try_final("n,,n=,r=CN", good, strlen(good)), 0);
	const char *proof = strstr(good, ",p=") + 3;

	static const char *bad_fmt[] = {
		"%s,",			/* trailing comma */
		"%s,x=1",		/* something after the proof */
		"%sA",			/* proof too long */
		"c=biws,r=CNSN",	/* no proof */
		"r=CNSN,p=%s",		/* no channel binding */
		"c=biws,p=%s",		/* no nonce */
		"c=biw,r=CNSN,p=%s",	/* bad base64 */
		"c=biws=,r=CNSN,p=%s",
		"c=biws,r=CNSN,p=",
		"c=biws,r=CNSN,p=%.40s",	/* proof too short */
		"c=biws,r=CNSN,,p=%s",
		"c=biws,r=CNSN,p=%s,p=%s",
		"c=biws,r=CNSN,P=%s",
		"",
	};
	for (size_t i = 0; i < sizeof(bad_fmt) / sizeof(bad_fmt[0]); i++) {
		const char *arg = strncmp(bad_fmt[i], "%s", 2) == 0 ? good : proof;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(m, sizeof(m), bad_fmt[i], arg, arg);
#pragma GCC diagnostic pop
		if (try_final("n,,n=,r=CN", m, strlen(m)) != -1)
			fail_msg("accepted bad client-final #%zu: %s", i, m);
	}
	/* one flipped bit in the proof */
	snprintf(m, sizeof(m), "%s", good);
	char *pc = strstr(m, ",p=") + 3;
	pc[0] = pc[0] == 'A' ? 'B' : 'A';
	assert_int_equal(try_final("n,,n=,r=CN", m, strlen(m)), -1);
	/* embedded NUL: the length counts the bytes after it */
	snprintf(m, sizeof(m), "%s", good);
	size_t len = strlen(m);
	m[5] = 0;
	assert_int_equal(try_final("n,,n=,r=CN", m, len), -1);

	/* final before first */
	struct pf_scram_server s;
	struct pf_buf out;
	pf_buf_init(&out);
	assert_int_equal(pf_scram_server_init(&s, test_secret, 0), 0);
	assert_int_equal(pf_scram_server_final(&s, U8(good), strlen(good), &out), -1);
	/* and after a failure, nothing works any more */
	assert_int_equal(pf_scram_server_first(&s, U8("n,,n=,r=CN"), 10, &out), -1);
	pf_scram_server_free(&s);
	pf_buf_free(&out);
}

static void test_dummy(void **state)
{
	struct pf_scram_server s;
	struct pf_buf a, b, c, out;
	const char *cf = "n,,n=,r=CN";

	pf_buf_init(&a);
	pf_buf_init(&b);
	pf_buf_init(&c);
	pf_buf_init(&out);
	assert_int_equal(pf_scram_server_init_dummy(&s, "ghost"), 0);
	pf_scram_server_test_set_nonce(&s, "SN");
	assert_int_equal(pf_scram_server_first(&s, U8(cf), strlen(cf), &a), 0);
	pf_scram_server_free(&s);
	assert_int_equal(pf_scram_server_init_dummy(&s, "ghost"), 0);
	pf_scram_server_test_set_nonce(&s, "SN");
	assert_int_equal(pf_scram_server_first(&s, U8(cf), strlen(cf), &b), 0);
	pf_scram_server_free(&s);
	assert_int_equal(pf_scram_server_init_dummy(&s, "phantom"), 0);
	pf_scram_server_test_set_nonce(&s, "SN");
	assert_int_equal(pf_scram_server_first(&s, U8(cf), strlen(cf), &c), 0);

	/* same user, same salt; other user, other salt; looks like a real one */
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_true(a.len != c.len || memcmp(a.data, c.data, a.len) != 0);
	assert_int_equal(a.len, strlen("r=CNSN,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=4096"));

	/* any proof fails */
	char sf[128], salt_b64[64];
	uint8_t salt[32];
	memcpy(sf, c.data, c.len);
	sf[c.len] = 0;
	const char *s0 = strstr(sf, ",s=") + 3;
	const char *s1 = strstr(sf, ",i=");
	memcpy(salt_b64, s0, (size_t)(s1 - s0));
	salt_b64[s1 - s0] = 0;
	assert_int_equal(EVP_DecodeBlock(salt, U8(salt_b64), (int)strlen(salt_b64)), 18);
	char *m = hand_final("", salt, 16, 4096, "n=,r=CN", sf, "c=biws,r=CNSN");
	assert_int_equal(pf_scram_server_final(&s, U8(m), strlen(m), &out), -1);
	assert_int_equal(out.len, 0);
	assert_false(s.has_keys);
	pf_scram_server_free(&s);

	/* and a real client with any password does not get in */
	struct pf_scram_client cl;
	assert_int_equal(pf_scram_server_init_dummy(&s, "ghost"), 0);
	pf_scram_client_init_password(&cl, "");
	assert_int_equal(exchange(&cl, &s), -1);
	pf_scram_server_free(&s);
	pf_scram_client_free(&cl);

	/* even a proof that matches the keys fails (white box: plant real keys in a dummy) */
	assert_int_equal(pf_scram_server_init_dummy(&s, "ghost"), 0);
	assert_true(pf_scram_parse_secret(test_secret, &s.iterations, s.salt, &s.saltlen,
					  s.stored_key, s.server_key));
	pf_scram_client_init_password(&cl, "pw");
	assert_int_equal(exchange(&cl, &s), -1);
	assert_false(s.has_keys);
	pf_scram_server_free(&s);
	pf_scram_client_free(&cl);

	pf_buf_free(&a);
	pf_buf_free(&b);
	pf_buf_free(&c);
	pf_buf_free(&out);
}

/* --- client role, bad input --- */

static int try_client_final(const char *server_first)
{
	struct pf_scram_client c;
	struct pf_buf out;
	int rc;

	pf_buf_init(&out);
	pf_scram_client_init_password(&c, "pw");
	pf_scram_client_test_set(&c, NULL, "CN");
	assert_int_equal(pf_scram_client_first(&c, &out), 0);
	assert_buf_equal(&out, "n,,n=,r=CN");
	pf_buf_reset(&out);
	rc = pf_scram_client_final(&c, U8(server_first), strlen(server_first), &out);
	if (rc)
		assert_int_equal(out.len, 0);
	pf_scram_client_free(&c);
	pf_buf_free(&out);
	return rc;
}

static void test_client_final_malformed(void **state)
{
	assert_int_equal(try_client_final("r=CNSN,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=64"), 0);
	static const char *bad[] = {
		"",
		"e=other-error",
		"m=ext,r=CNSN,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=64",
		"r=XXSN,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=64",
		"r=CN,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=64",		/* no server nonce */
		"r=C,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=64",
		"r=CNS N,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=64",
		"r=CNSN,s=,i=64",
		"r=CNSN,s=!!!!,i=64",
		"r=CNSN,s=MDEyMzQ1Njc4OWFiY2RlZg=,i=64",
		"r=CNSN,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=0",
		"r=CNSN,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=-1",
		"r=CNSN,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=",
		"r=CNSN,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=x",
		"r=CNSN,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=99999999999",
		"r=CNSN,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=64,",
		"r=CNSN,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=64,x=1",
		"r=CNSN,i=64,s=MDEyMzQ1Njc4OWFiY2RlZg==",
		"r=CNSN,s=MDEyMzQ1Njc4OWFiY2RlZg==",
		"s=MDEyMzQ1Njc4OWFiY2RlZg==,i=64",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (try_client_final(bad[i]) != -1)
			fail_msg("accepted bad server-first #%zu: %s", i, bad[i]);

	/* out of order */
	struct pf_scram_client c;
	struct pf_buf out;
	pf_buf_init(&out);
	pf_scram_client_init_password(&c, "pw");
	assert_int_equal(pf_scram_client_final(&c, U8("r=CNSN,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=64"), 38, &out), -1);
	assert_int_equal(pf_scram_client_verify(&c, U8(rfc_server_final), strlen(rfc_server_final)), -1);
	assert_int_equal(pf_scram_client_first(&c, &out), -1);	/* failed state sticks */
	pf_scram_client_free(&c);
	pf_scram_client_free(&c);
	pf_buf_free(&out);
}

static void test_client_verify_bad(void **state)
{
	static const char *bad[] = {
		"",
		"e=invalid-proof",
		"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",	/* wrong signature */
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5=",	/* non-canonical base64 */
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,x=1",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=AAAA",
		"v=",
		"x=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	};
	for (size_t i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
		struct pf_scram_client c;
		struct pf_buf out;
		pf_buf_init(&out);
		pf_scram_client_init_password(&c, "pencil");
		pf_scram_client_test_set(&c, "user", "rOprNGfwEbeRWgbNEkqO");
		assert_int_equal(pf_scram_client_first(&c, &out), 0);
		assert_int_equal(pf_scram_client_final(&c, U8(rfc_server_first), strlen(rfc_server_first), &out), 0);
		if (i < sizeof(bad) / sizeof(bad[0])) {
			if (pf_scram_client_verify(&c, U8(bad[i]), strlen(bad[i])) != -1)
				fail_msg("accepted bad server-final #%zu: %s", i, bad[i]);
		} else {
			/* embedded NUL after a valid message */
			char m[64];
			size_t n = strlen(rfc_server_final);
			memcpy(m, rfc_server_final, n + 1);
			assert_int_equal(pf_scram_client_verify(&c, U8(m), n + 1), -1);
		}
		pf_scram_client_free(&c);
		pf_buf_free(&out);
	}
}

static void test_client_nonce_random(void **state)
{
	struct pf_scram_client a, b;
	struct pf_buf x, y;

	pf_buf_init(&x);
	pf_buf_init(&y);
	pf_scram_client_init_password(&a, "pw");
	pf_scram_client_init_password(&b, "pw");
	assert_int_equal(pf_scram_client_first(&a, &x), 0);
	assert_int_equal(pf_scram_client_first(&b, &y), 0);
	/* "n,,n=,r=" + 24 base64 characters of 18 random bytes */
	assert_int_equal(x.len, 8 + 24);
	assert_int_equal(y.len, 8 + 24);
	assert_memory_equal(x.data, "n,,n=,r=", 8);
	assert_memory_not_equal(x.data, y.data, x.len);
	pf_scram_client_free(&a);
	pf_scram_client_free(&b);
	pf_buf_free(&x);
	pf_buf_free(&y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_secret_rfc),
		cmocka_unit_test(test_parse_secret),
		cmocka_unit_test(test_build_secret_random),
		cmocka_unit_test(test_rfc_server),
		cmocka_unit_test(test_rfc_client),
		cmocka_unit_test(test_rfc_client_keys),
		cmocka_unit_test(test_round_trip_plain),
		cmocka_unit_test(test_round_trip_secret),
		cmocka_unit_test(test_round_trip_random_secret),
		cmocka_unit_test(test_pass_through),
		cmocka_unit_test(test_wrong_password),
		cmocka_unit_test(test_refused_secrets),
		cmocka_unit_test(test_server_first_malformed),
		cmocka_unit_test(test_server_final_hand_made),
		cmocka_unit_test(test_server_final_malformed),
		cmocka_unit_test(test_dummy),
		cmocka_unit_test(test_client_final_malformed),
		cmocka_unit_test(test_client_verify_bad),
		cmocka_unit_test(test_client_nonce_random),
	};
	int rc;

	test_secret = pf_scram_build_secret_salt("pw", TEST_ITER, test_salt, sizeof(test_salt));
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(test_secret);
	return rc;
}
