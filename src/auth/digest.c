/* digest.c - hashing with algorithms fetched once (see digest.h). */
#include "auth/digest.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

static EVP_MD *sha256_md;
static EVP_MD *md5_md;
static EVP_MD_CTX *md_ctx;
static EVP_MAC *hmac_mac;
static EVP_MAC_CTX *hmac_ctx;

static bool setup(void)
{
	if (md_ctx)
		return true;
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	md5_md = EVP_MD_fetch(NULL, "MD5", NULL);
	md_ctx = EVP_MD_CTX_new();
	hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	hmac_ctx = hmac_mac ? EVP_MAC_CTX_new(hmac_mac) : NULL;
	if (hmac_ctx) {
		char digest[] = "SHA256";
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
			OSSL_PARAM_construct_end(),
		};
		if (EVP_MAC_CTX_set_params(hmac_ctx, params) != 1) {
			EVP_MAC_CTX_free(hmac_ctx);
			hmac_ctx = NULL;
		}
	}
	if (!sha256_md || !md5_md || !md_ctx || !hmac_ctx) {
		pf_digest_cleanup();
		return false;
	}
	return true;
}

static bool digest2(const EVP_MD *md, const void *a, size_t alen, const void *b, size_t blen, uint8_t *out,
		    unsigned int want)
{
	unsigned int len = 0;
	return EVP_DigestInit_ex(md_ctx, md, NULL) == 1 && EVP_DigestUpdate(md_ctx, a, alen) == 1 &&
	       (!blen || EVP_DigestUpdate(md_ctx, b, blen) == 1) && EVP_DigestFinal_ex(md_ctx, out, &len) == 1 &&
	       len == want;
}

bool pf_sha256(const void *a, size_t alen, uint8_t out[32])
{
	return setup() && digest2(sha256_md, a, alen, NULL, 0, out, 32);
}

bool pf_md5_2(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[16])
{
	return setup() && digest2(md5_md, a, alen, b, blen, out, 16);
}

bool pf_hmac_sha256(const uint8_t *key, size_t keylen, const void *data, size_t n, uint8_t out[32])
{
	size_t len = 0;
	return setup() && EVP_MAC_init(hmac_ctx, key, keylen, NULL) == 1 && EVP_MAC_update(hmac_ctx, data, n) == 1 &&
	       EVP_MAC_final(hmac_ctx, out, &len, 32) == 1 && len == 32;
}

const void *pf_sha256_md(void)
{
	return setup() ? sha256_md : NULL;
}

void pf_digest_cleanup(void)
{
	EVP_MAC_CTX_free(hmac_ctx);
	EVP_MAC_free(hmac_mac);
	EVP_MD_CTX_free(md_ctx);
	EVP_MD_free(md5_md);
	EVP_MD_free(sha256_md);
	hmac_ctx = NULL;
	hmac_mac = NULL;
	md_ctx = NULL;
	md5_md = sha256_md = NULL;
}
