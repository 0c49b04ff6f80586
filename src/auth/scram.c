/*
 * scram.c - SCRAM-SHA-256 secrets and both sides of the exchange (RFC 5802, RFC 7677),
 * following PostgreSQL's server (auth-scram.c) and libpq (fe-auth-scram.c).
 *
 *   SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations)
 *   ClientKey = HMAC(SaltedPassword, "Client Key")    StoredKey = H(ClientKey)
 *   ServerKey = HMAC(SaltedPassword, "Server Key")
 *   AuthMessage = client-first-bare "," server-first "," client-final-without-proof
 *   ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage)
 *   ServerSignature = HMAC(ServerKey, AuthMessage)
 */
#include "auth/digest.h"
#include "util/random.h"
#include "auth/scram.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "auth/md5.h"

#define SECRET_PREFIX "SCRAM-SHA-256$"
#define NONCE_RAW_LEN 18	/* PostgreSQL's SCRAM_RAW_NONCE_LEN */
#define KEY_LEN PF_SCRAM_KEY_LEN

enum { ST_INIT, ST_FIRST, ST_FINAL, ST_DONE, ST_FAILED };

/* --- base64 (RFC 4648 alphabet, padded) --- */

static void b64_put(struct pf_buf *b, const void *data, size_t n)
{
	/* EVP_EncodeBlock writes no newlines, and a NUL after the output. */
	pf_buf_reserve(b, 4 * ((n + 2) / 3) + 1);
	int r = EVP_EncodeBlock(b->data + b->len, data, (int)n);
	b->len += (size_t)r;
}

static int b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Strict decoder (EVP_DecodeBlock skips white space and counts padding as data): whole
 * 4-character groups, '=' only as the final one or two characters, canonical encoding.
 * Returns the decoded length, or -1 if invalid or longer than cap.
 */
static int b64_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
	size_t olen = 0;

	if (n % 4)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int j = 0; j < 4; j++) {
			if (s[i + j] == '=') {
				if (i + 4 != n || j < 2)
					return -1;
				pad++;
				v[j] = 0;
			} else {
				if (pad)
					return -1;
				v[j] = b64_val(s[i + j]);
				if (v[j] < 0)
					return -1;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		/* Canonical only: the bits under the padding must be zero. */
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			return -1;
		size_t k = 3 - (size_t)pad;
		if (olen + k > cap)
			return -1;
		out[olen++] = (uint8_t)(w >> 16);
		if (k > 1)
			out[olen++] = (uint8_t)(w >> 8);
		if (k > 2)
			out[olen++] = (uint8_t)w;
	}
	return (int)olen;
}

/* --- crypto (all of it OpenSSL) --- */

static bool sha256(const uint8_t *d, size_t n, uint8_t out[KEY_LEN])
{
	return pf_sha256(d, n, out);
}

static bool hmac(const uint8_t *key, size_t keylen, const void *d, size_t n, uint8_t out[KEY_LEN])
{
	return pf_hmac_sha256(key, keylen, d, n, out);
}

static bool derive_keys(const char *password, const uint8_t *salt, int saltlen, int iterations,
			uint8_t client_key[KEY_LEN], uint8_t server_key[KEY_LEN])
{
	uint8_t salted[KEY_LEN];
	size_t pwlen = strlen(password);
	bool ok = pwlen <= INT_MAX &&
		  PKCS5_PBKDF2_HMAC(password, (int)pwlen, salt, saltlen, iterations,
				    pf_sha256_md(), KEY_LEN, salted) == 1 &&
		  hmac(salted, KEY_LEN, "Client Key", 10, client_key) &&
		  hmac(salted, KEY_LEN, "Server Key", 10, server_key);
	OPENSSL_cleanse(salted, sizeof(salted));
	return ok;
}

/* --- message text --- */

/* SCRAM messages are text: copy into a C string, refusing embedded NULs as PostgreSQL does. */
static char *dup_msg(const uint8_t *d, size_t n)
{
	if (!d || n == 0 || memchr(d, 0, n))
		return NULL;
	return pf_xstrndup((const char *)d, n);
}

/* Read "<attr>=<value>" at *p; *p is left on the ',' or NUL that ends the value. */
static const char *read_attr(const char **p, char attr, size_t *vlen)
{
	const char *s = *p;
	if (s[0] != attr || s[1] != '=')
		return NULL;
	s += 2;
	*vlen = strcspn(s, ",");
	*p = s + *vlen;
	return s;
}

/* An extension attribute: a letter, '=', a value. */
static const char *read_any_attr(const char **p, char *attr, size_t *vlen)
{
	char c = **p;
	if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
		return NULL;
	*attr = c;
	return read_attr(p, c, vlen);
}

static bool eat_comma(const char **p)
{
	if (**p != ',')
		return false;
	(*p)++;
	return true;
}

/* RFC 5802 "printable" (nonce characters): %x21-7E except ','. */
static bool printable(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x21 || c > 0x7e || c == ',')
			return false;
	}
	return true;
}

/* Positive decimal int (iteration counts). */
static bool parse_int(const char *s, size_t n, int *out)
{
	long long v = 0;
	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > INT_MAX)
		return false;
	*out = (int)v;
	return true;
}

static char *make_nonce(void)
{
	uint8_t raw[NONCE_RAW_LEN];
	struct pf_buf b;

	pf_random_bytes(raw, sizeof(raw)); /* buffered CSPRNG: no RAND_bytes call per login */
	pf_buf_init(&b);
	b64_put(&b, raw, sizeof(raw));
	pf_buf_put_u8(&b, 0);
	return (char *)b.data;
}

/* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
static void auth_message(struct pf_buf *am, const char *bare, const char *server_first,
			 const char *final_wo_proof, size_t final_len)
{
	pf_buf_put(am, bare, strlen(bare));
	pf_buf_put_u8(am, ',');
	pf_buf_put(am, server_first, strlen(server_first));
	pf_buf_put_u8(am, ',');
	pf_buf_put(am, final_wo_proof, final_len);
}

/* --- secrets --- */

bool pf_scram_parse_secret(const char *secret, int *iterations, uint8_t *salt, int *saltlen,
			   uint8_t stored_key[KEY_LEN], uint8_t server_key[KEY_LEN])
{
	const size_t plen = sizeof(SECRET_PREFIX) - 1;
	const char *p, *end;

	if (!secret || strncmp(secret, SECRET_PREFIX, plen) != 0)
		return false;
	p = secret + plen;
	if (!(end = strchr(p, ':')) || !parse_int(p, (size_t)(end - p), iterations))
		return false;
	p = end + 1;
	if (!(end = strchr(p, '$')))
		return false;
	*saltlen = b64_decode(p, (size_t)(end - p), salt, PF_SCRAM_MAX_SALT_LEN);
	if (*saltlen < 1)
		return false;
	p = end + 1;
	if (!(end = strchr(p, ':')) || b64_decode(p, (size_t)(end - p), stored_key, KEY_LEN) != KEY_LEN)
		return false;
	p = end + 1;
	return b64_decode(p, strlen(p), server_key, KEY_LEN) == KEY_LEN;
}

bool pf_scram_is_secret(const char *s)
{
	uint8_t salt[PF_SCRAM_MAX_SALT_LEN], k1[KEY_LEN], k2[KEY_LEN];
	int iter, saltlen;
	return pf_scram_parse_secret(s, &iter, salt, &saltlen, k1, k2);
}

char *pf_scram_build_secret_salt(const char *password, int iterations,
				 const uint8_t *salt, int saltlen)
{
	uint8_t ck[KEY_LEN], sk[KEY_LEN], stored[KEY_LEN];
	struct pf_buf b;
	char *res = NULL;

	if (iterations <= 0)
		iterations = PF_SCRAM_DEFAULT_ITERATIONS;
	if (saltlen < 1 || saltlen > PF_SCRAM_MAX_SALT_LEN)
		return NULL;
	if (derive_keys(password, salt, saltlen, iterations, ck, sk) && sha256(ck, KEY_LEN, stored)) {
		pf_buf_init(&b);
		pf_buf_printf(&b, "%s%d:", SECRET_PREFIX, iterations);
		b64_put(&b, salt, (size_t)saltlen);
		pf_buf_put_u8(&b, '$');
		b64_put(&b, stored, KEY_LEN);
		pf_buf_put_u8(&b, ':');
		b64_put(&b, sk, KEY_LEN);
		pf_buf_put_u8(&b, 0);
		res = (char *)b.data;
	}
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(sk, sizeof(sk));
	return res;
}

char *pf_scram_build_secret(const char *password, int iterations)
{
	uint8_t salt[PF_SCRAM_SALT_LEN];
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return NULL;
	return pf_scram_build_secret_salt(password, iterations, salt, sizeof(salt));
}

/* --- server role --- */

int pf_scram_server_init(struct pf_scram_server *st, const char *stored_secret, int iterations_for_plain)
{
	uint8_t ck[KEY_LEN];

	memset(st, 0, sizeof(*st));
	st->state = ST_FAILED;
	/* An md5 secret cannot produce SCRAM keys; an empty password never matches. */
	if (!stored_secret || !*stored_secret || pf_md5_is_secret(stored_secret))
		return -1;
	if (pf_scram_parse_secret(stored_secret, &st->iterations, st->salt, &st->saltlen,
				  st->stored_key, st->server_key)) {
		st->state = ST_INIT;
		return 0;
	}
	/*
	 * A plain password (including a malformed verifier, as PostgreSQL treats it): make a
	 * verifier on the fly with a fresh salt.
	 */
	st->from_plain = true;
	st->iterations = iterations_for_plain > 0 ? iterations_for_plain : PF_SCRAM_DEFAULT_ITERATIONS;
	st->saltlen = PF_SCRAM_SALT_LEN;
	if (RAND_bytes(st->salt, st->saltlen) == 1 &&
	    derive_keys(stored_secret, st->salt, st->saltlen, st->iterations, ck, st->server_key) &&
	    sha256(ck, KEY_LEN, st->stored_key))
		st->state = ST_INIT;
	OPENSSL_cleanse(ck, sizeof(ck));
	return st->state == ST_INIT ? 0 : -1;
}

/* Per-process secret behind the fake salts of unknown users. */
static uint8_t mock_secret[KEY_LEN];
static bool mock_ok;
static pthread_once_t mock_once = PTHREAD_ONCE_INIT;

static void mock_init(void)
{
	mock_ok = RAND_bytes(mock_secret, sizeof(mock_secret)) == 1;
}

int pf_scram_server_init_dummy(struct pf_scram_server *st, const char *user)
{
	uint8_t d[KEY_LEN];

	memset(st, 0, sizeof(*st));
	st->state = ST_FAILED;
	st->dummy = true;
	st->iterations = PF_SCRAM_DEFAULT_ITERATIONS;
	st->saltlen = PF_SCRAM_SALT_LEN;
	pthread_once(&mock_once, mock_init);
	/* Same user, same salt (a changing salt would give the game away); keys are noise. */
	if (!mock_ok || !hmac(mock_secret, KEY_LEN, user, strlen(user), d) ||
	    RAND_bytes(st->stored_key, KEY_LEN) != 1 || RAND_bytes(st->server_key, KEY_LEN) != 1)
		return -1;
	memcpy(st->salt, d, PF_SCRAM_SALT_LEN);
	OPENSSL_cleanse(d, sizeof(d));
	st->state = ST_INIT;
	return 0;
}

#define GS2_PLUS_HEADER "p=" PF_SCRAM_CBIND_TYPE ",,"
#define CBIND_INPUT_MAX (sizeof(GS2_PLUS_HEADER) + PF_SCRAM_CBIND_MAX)

/*
 * The bytes "c=" carries (base64) in client-final: the gs2 header, and with -PLUS ('p')
 * the channel binding data after it. Returns their length; the header is its first bytes.
 */
static size_t cbind_input(char flag, const uint8_t *cbind, size_t cbind_len, uint8_t out[CBIND_INPUT_MAX])
{
	if (flag != 'p') {
		out[0] = (uint8_t)flag;
		out[1] = out[2] = ',';
		return 3;
	}
	size_t n = strlen(GS2_PLUS_HEADER);
	memcpy(out, GS2_PLUS_HEADER, n);
	if (cbind_len)
		memcpy(out + n, cbind, cbind_len);
	return n + cbind_len;
}

/*
 * client-first = gs2-cbind-flag "," [authzid] "," client-first-bare
 * client-first-bare = "n=" saslname ",r=" c-nonce ["," extensions]
 */
static bool parse_client_first(struct pf_scram_server *st, const char *msg,
			       const char **cnonce, size_t *cnlen)
{
	const char *p = msg;
	size_t n;
	char a;

	switch (*p) {
	case 'n':
		/* No channel binding: only with plain SCRAM-SHA-256. */
		if (st->plus_chosen)
			return false;
		st->cbind_flag = *p++;
		break;
	case 'y':
		/* The client could bind but thinks we cannot: after we offered -PLUS, that is a
		 * downgrade by someone in the middle (RFC 5802), so it is refused. */
		if (st->plus_chosen || st->plus_offered)
			return false;
		st->cbind_flag = *p++;
		break;
	case 'p':
		/* -PLUS with the one binding type PostgreSQL defines. */
		if (!st->plus_chosen || strncmp(p, GS2_PLUS_HEADER, strlen(GS2_PLUS_HEADER) - 2) != 0)
			return false;
		st->cbind_flag = 'p';
		p += strlen(GS2_PLUS_HEADER) - 2; /* up to its first comma */
		break;
	default:
		return false;
	}
	/* An authzid ("a=...") is not supported, as in PostgreSQL: the comma must follow. */
	if (!eat_comma(&p) || !eat_comma(&p))
		return false;
	st->client_first_bare = pf_xstrdup(p);
	/*
	 * The user name is ignored: the user is the one of the startup packet (PostgreSQL
	 * does the same; libpq sends "n="). A mandatory extension "m=" fails here.
	 */
	if (!read_attr(&p, 'n', &n) || !eat_comma(&p))
		return false;
	*cnonce = read_attr(&p, 'r', cnlen);
	if (!*cnonce || !printable(*cnonce, *cnlen))
		return false;
	/* Optional extensions are ignored but must be well formed. */
	while (*p)
		if (!eat_comma(&p) || !read_any_attr(&p, &a, &n))
			return false;
	return true;
}

int pf_scram_server_first(struct pf_scram_server *st, const uint8_t *client_first, size_t len,
			  struct pf_buf *server_first_out)
{
	char *msg = NULL, *snonce = NULL;
	const char *cnonce;
	size_t cnlen;
	struct pf_buf b;
	int rc = -1;

	pf_buf_init(&b);
	if (st->state != ST_INIT || !(msg = dup_msg(client_first, len)) ||
	    !parse_client_first(st, msg, &cnonce, &cnlen))
		goto out;
	snonce = st->test_nonce ? pf_xstrdup(st->test_nonce) : make_nonce();
	if (!snonce)
		goto out;

	/* server-first = "r=" c-nonce s-nonce ",s=" salt ",i=" iterations */
	pf_buf_put(&b, "r=", 2);
	pf_buf_put(&b, cnonce, cnlen);
	pf_buf_put(&b, snonce, strlen(snonce));
	st->nonce = pf_xstrndup((const char *)b.data + 2, b.len - 2);
	pf_buf_put(&b, ",s=", 3);
	b64_put(&b, st->salt, (size_t)st->saltlen);
	pf_buf_printf(&b, ",i=%d", st->iterations);
	pf_buf_put(server_first_out, b.data, b.len);
	pf_buf_put_u8(&b, 0);
	st->server_first = (char *)b.data;
	pf_buf_init(&b);
	st->state = ST_FIRST;
	rc = 0;
out:
	pf_buf_free(&b);
	free(msg);
	free(snonce);
	if (rc)
		st->state = ST_FAILED;
	return rc;
}

/*
 * client-final = "c=" base64(gs2-header [cbind-data]) ",r=" nonce ["," extensions] ",p=" proof
 * Sets *wo_len to the length of client-final-without-proof.
 */
static bool parse_client_final(struct pf_scram_server *st, const char *msg,
			       uint8_t proof[KEY_LEN], size_t *wo_len)
{
	const char *p = msg, *v, *before;
	uint8_t cb[CBIND_INPUT_MAX], expect[CBIND_INPUT_MAX];
	size_t n;
	char a;

	/* The client echoes its gs2 header; with -PLUS followed by our certificate's hash. */
	size_t expect_len = cbind_input(st->cbind_flag, st->cbind, st->cbind_len, expect);
	if (!(v = read_attr(&p, 'c', &n)) || b64_decode(v, n, cb, sizeof(cb)) != (int)expect_len ||
	    CRYPTO_memcmp(cb, expect, expect_len) != 0 || !eat_comma(&p))
		return false;
	if (!(v = read_attr(&p, 'r', &n)) || n != strlen(st->nonce) || memcmp(v, st->nonce, n) != 0)
		return false;
	/* Extensions are ignored; the proof comes last. */
	do {
		before = p;
		if (!eat_comma(&p) || !(v = read_any_attr(&p, &a, &n)))
			return false;
	} while (a != 'p');
	if (*p)
		return false;
	*wo_len = (size_t)(before - msg);
	return b64_decode(v, n, proof, KEY_LEN) == KEY_LEN;
}

int pf_scram_server_final(struct pf_scram_server *st, const uint8_t *client_final, size_t len,
			  struct pf_buf *server_final_out)
{
	uint8_t proof[KEY_LEN], sig[KEY_LEN], ck[KEY_LEN], h[KEY_LEN];
	struct pf_buf am;
	char *msg = NULL;
	size_t wo_len;
	int rc = -1;

	pf_buf_init(&am);
	if (st->state != ST_FIRST || !(msg = dup_msg(client_final, len)) ||
	    !parse_client_final(st, msg, proof, &wo_len))
		goto out;
	auth_message(&am, st->client_first_bare, st->server_first, msg, wo_len);
	/* ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); it must hash to StoredKey. */
	if (!hmac(st->stored_key, KEY_LEN, am.data, am.len, sig))
		goto out;
	for (int i = 0; i < KEY_LEN; i++)
		ck[i] = proof[i] ^ sig[i];
	if (!sha256(ck, KEY_LEN, h))
		goto out;
	/* A dummy exchange fails only now, after the same work as a real one. */
	if (CRYPTO_memcmp(h, st->stored_key, KEY_LEN) != 0 || st->dummy)
		goto out;
	if (!hmac(st->server_key, KEY_LEN, am.data, am.len, sig))
		goto out;
	pf_buf_put(server_final_out, "v=", 2);
	b64_put(server_final_out, sig, KEY_LEN);
	if (!st->from_plain) {
		memcpy(st->client_key, ck, KEY_LEN);
		st->has_keys = true;
	}
	st->state = ST_DONE;
	rc = 0;
out:
	OPENSSL_cleanse(proof, sizeof(proof));
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(h, sizeof(h));
	pf_buf_free(&am);
	free(msg);
	if (rc)
		st->state = ST_FAILED;
	return rc;
}

void pf_scram_server_offer_plus(struct pf_scram_server *st, const uint8_t *cbind, size_t len)
{
	if (len == 0 || len > PF_SCRAM_CBIND_MAX)
		return;
	memcpy(st->cbind, cbind, len);
	st->cbind_len = len;
	st->plus_offered = true;
}

int pf_scram_server_choose(struct pf_scram_server *st, bool plus)
{
	if (plus && !st->plus_offered)
		return -1;
	st->plus_chosen = plus;
	return 0;
}

void pf_scram_server_free(struct pf_scram_server *st)
{
	free(st->client_first_bare);
	free(st->server_first);
	free(st->nonce);
	/* Wipes the keys too, and makes a second free harmless. */
	OPENSSL_cleanse(st, sizeof(*st));
}

void pf_scram_server_test_set_nonce(struct pf_scram_server *st, const char *server_nonce)
{
	st->test_nonce = server_nonce;
}

/* --- client role --- */

void pf_scram_client_init_password(struct pf_scram_client *st, const char *password)
{
	memset(st, 0, sizeof(*st));
	st->state = ST_INIT;
	st->password = pf_xstrdup(password ? password : "");
}

void pf_scram_client_init_keys(struct pf_scram_client *st, const uint8_t client_key[KEY_LEN],
			       const uint8_t server_key[KEY_LEN])
{
	memset(st, 0, sizeof(*st));
	st->state = ST_INIT;
	st->use_keys = true;
	memcpy(st->client_key, client_key, KEY_LEN);
	memcpy(st->server_key, server_key, KEY_LEN);
}

/* saslname: ',' and '=' are escaped as "=2C" and "=3D". */
static void put_saslname(struct pf_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == ',')
			pf_buf_put(b, "=2C", 3);
		else if (*s == '=')
			pf_buf_put(b, "=3D", 3);
		else
			pf_buf_put_u8(b, (uint8_t)*s);
	}
}

int pf_scram_client_first(struct pf_scram_client *st, struct pf_buf *out)
{
	struct pf_buf b;

	if (st->state != ST_INIT)
		goto fail;
	st->nonce = st->test_nonce ? pf_xstrdup(st->test_nonce) : make_nonce();
	if (!st->nonce)
		goto fail;
	/* PostgreSQL takes the user from the startup packet, so libpq sends "n=". */
	pf_buf_init(&b);
	pf_buf_put(&b, "n=", 2);
	put_saslname(&b, st->test_user ? st->test_user : "");
	pf_buf_put(&b, ",r=", 3);
	pf_buf_put(&b, st->nonce, strlen(st->nonce));
	pf_buf_put_u8(&b, 0);
	st->client_first_bare = (char *)b.data;
	/* gs2 header: "n,," without channel binding, "p=tls-server-end-point,," with -PLUS. */
	uint8_t header[CBIND_INPUT_MAX];
	size_t header_len = cbind_input(st->cbind_len ? 'p' : 'n', NULL, 0, header);
	pf_buf_put(out, header, header_len);
	pf_buf_put(out, st->client_first_bare, strlen(st->client_first_bare));
	st->state = ST_FIRST;
	return 0;
fail:
	st->state = ST_FAILED;
	return -1;
}

/* server-first = "r=" c-nonce s-nonce ",s=" salt ",i=" iterations (libpq accepts nothing more) */
static bool parse_server_first(struct pf_scram_client *st, const char *msg, const char **nonce,
			       size_t *nlen, uint8_t *salt, int *saltlen, int *iterations)
{
	const char *p = msg, *v;
	size_t n, cn = strlen(st->nonce);

	/* Our nonce, extended by a non-empty server part. "m=" fails here. */
	*nonce = read_attr(&p, 'r', nlen);
	if (!*nonce || *nlen <= cn || memcmp(*nonce, st->nonce, cn) != 0 || !printable(*nonce, *nlen))
		return false;
	if (!eat_comma(&p) || !(v = read_attr(&p, 's', &n)))
		return false;
	*saltlen = b64_decode(v, n, salt, PF_SCRAM_MAX_SALT_LEN);
	if (*saltlen < 1)
		return false;
	if (!eat_comma(&p) || !(v = read_attr(&p, 'i', &n)) || !parse_int(v, n, iterations))
		return false;
	return *p == 0;
}

int pf_scram_client_final(struct pf_scram_client *st, const uint8_t *server_first, size_t len,
			  struct pf_buf *out)
{
	uint8_t salt[PF_SCRAM_MAX_SALT_LEN], stored[KEY_LEN], sig[KEY_LEN], proof[KEY_LEN];
	struct pf_buf am, fin;
	const char *nonce;
	size_t nlen;
	int saltlen, iterations, rc = -1;
	char *msg = NULL;

	pf_buf_init(&am);
	pf_buf_init(&fin);
	if (st->state != ST_FIRST || !(msg = dup_msg(server_first, len)) ||
	    !parse_server_first(st, msg, &nonce, &nlen, salt, &saltlen, &iterations))
		goto out;
	/* Pass-through already has the keys; salt and iterations only matter for a password. */
	if (!st->use_keys &&
	    !derive_keys(st->password, salt, saltlen, iterations, st->client_key, st->server_key))
		goto out;
	if (!sha256(st->client_key, KEY_LEN, stored))
		goto out;

	/* client-final-without-proof: c = base64(gs2 header [+ channel binding data]);
	 * "c=biws" is base64("n,,"). */
	pf_buf_put(&fin, "c=", 2);
	uint8_t cb[CBIND_INPUT_MAX];
	b64_put(&fin, cb, cbind_input(st->cbind_len ? 'p' : 'n', st->cbind, st->cbind_len, cb));
	pf_buf_put(&fin, ",r=", 3);
	pf_buf_put(&fin, nonce, nlen);
	auth_message(&am, st->client_first_bare, msg, (const char *)fin.data, fin.len);
	if (!hmac(stored, KEY_LEN, am.data, am.len, sig))
		goto out;
	for (int i = 0; i < KEY_LEN; i++)
		proof[i] = st->client_key[i] ^ sig[i];
	/* What the server must send back to prove it knows the secret too. */
	if (!hmac(st->server_key, KEY_LEN, am.data, am.len, st->server_signature))
		goto out;
	pf_buf_put(&fin, ",p=", 3);
	b64_put(&fin, proof, KEY_LEN);
	pf_buf_put(out, fin.data, fin.len);
	st->state = ST_FINAL;
	rc = 0;
out:
	OPENSSL_cleanse(proof, sizeof(proof));
	OPENSSL_cleanse(sig, sizeof(sig));
	pf_buf_free(&am);
	pf_buf_free(&fin);
	free(msg);
	if (rc)
		st->state = ST_FAILED;
	return rc;
}

int pf_scram_client_verify(struct pf_scram_client *st, const uint8_t *server_final, size_t len)
{
	uint8_t sig[KEY_LEN];
	const char *p, *v;
	char *msg = NULL;
	size_t n;
	int rc = -1;

	if (st->state != ST_FINAL || !(msg = dup_msg(server_final, len)))
		goto out;
	/* "e=<reason>" (the server refused us) fails here: only "v=" is success. */
	p = msg;
	if (!(v = read_attr(&p, 'v', &n)) || *p || b64_decode(v, n, sig, KEY_LEN) != KEY_LEN)
		goto out;
	if (CRYPTO_memcmp(sig, st->server_signature, KEY_LEN) != 0)
		goto out;
	st->state = ST_DONE;
	rc = 0;
out:
	free(msg);
	if (rc)
		st->state = ST_FAILED;
	return rc;
}

void pf_scram_client_use_plus(struct pf_scram_client *st, const uint8_t *cbind, size_t len)
{
	if (len == 0 || len > PF_SCRAM_CBIND_MAX)
		return;
	memcpy(st->cbind, cbind, len);
	st->cbind_len = len;
}

void pf_scram_client_free(struct pf_scram_client *st)
{
	if (st->password) {
		OPENSSL_cleanse(st->password, strlen(st->password));
		free(st->password);
	}
	free(st->nonce);
	free(st->client_first_bare);
	OPENSSL_cleanse(st, sizeof(*st));
}

void pf_scram_client_test_set(struct pf_scram_client *st, const char *user, const char *client_nonce)
{
	st->test_user = user;
	st->test_nonce = client_nonce;
}
