/* md5.c - MD5 password secrets and challenge responses, as PostgreSQL computes them. */
#include "auth/digest.h"
#include "auth/md5.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth/scram.h"

static const char hexdigits[] = "0123456789abcdef";

static void to_hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdigits[d[i] >> 4];
		out[2 * i + 1] = hexdigits[d[i] & 15];
	}
	out[2 * n] = 0;
}

/* Hex md5 of a || b; out is "" when the digest cannot be computed. */
static bool md5_hex2(const void *a, size_t alen, const void *b, size_t blen, char out[33])
{
	uint8_t d[16];
	bool ok = pf_md5_2(a, alen, b, blen, d);

	out[0] = 0;
	if (ok)
		to_hex(d, 16, out);
	OPENSSL_cleanse(d, sizeof(d));
	return ok;
}

void pf_md5_hex(const void *data, size_t len, char out[33])
{
	md5_hex2(data, len, "", 0, out);
}

void pf_md5_password_secret(const char *user, const char *password, char out[36])
{
	memcpy(out, "md5", 3);
	if (!md5_hex2(password, strlen(password), user, strlen(user), out + 3))
		out[0] = 0;
}

bool pf_md5_is_secret(const char *s)
{
	return strncmp(s, "md5", 3) == 0 && strlen(s) == PF_MD5_SECRET_LEN &&
	       strspn(s + 3, hexdigits) == PF_MD5_SECRET_LEN - 3;
}

void pf_md5_salted(const char *md5secret, const uint8_t salt[4], char out[36])
{
	out[0] = 0;
	if (!pf_md5_is_secret(md5secret))
		return;
	memcpy(out, "md5", 3);
	if (!md5_hex2(md5secret + 3, 32, salt, 4, out + 3))
		out[0] = 0;
}

bool pf_md5_check(const char *stored_secret, const char *user, const uint8_t salt[4],
		  const char *client_response)
{
	char secret[36], expect[36];
	bool ok = false;

	/* An empty password never matches (PostgreSQL refuses to store one). */
	if (!stored_secret || !*stored_secret || !client_response)
		return false;
	/* A SCRAM verifier holds no md5 of the password: md5 login is impossible with it. */
	if (pf_scram_is_secret(stored_secret))
		return false;
	if (pf_md5_is_secret(stored_secret))
		memcpy(secret, stored_secret, sizeof(secret));
	else
		pf_md5_password_secret(user, stored_secret, secret);
	pf_md5_salted(secret, salt, expect);
	if (expect[0] && strlen(client_response) == PF_MD5_SECRET_LEN)
		ok = CRYPTO_memcmp(expect, client_response, PF_MD5_SECRET_LEN) == 0;
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(expect, sizeof(expect));
	return ok;
}
