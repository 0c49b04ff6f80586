/*
 * digest.h - SHA-256, MD5 and HMAC-SHA-256 through OpenSSL, with the algorithms fetched
 * once. OpenSSL 3 looks an algorithm up in its provider tables on every implicit use
 * (EVP_sha256(), HMAC()), which costs more than the hashing itself for the few bytes of a
 * login; fetched objects and reused contexts skip that. Single-threaded use only.
 */
#ifndef PF_AUTH_DIGEST_H
#define PF_AUTH_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* out receives 32 bytes (SHA-256) or 16 bytes (MD5). a/b are hashed one after the other. */
bool pf_sha256(const void *a, size_t alen, uint8_t out[32]);
bool pf_md5_2(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[16]);
bool pf_hmac_sha256(const uint8_t *key, size_t keylen, const void *data, size_t n, uint8_t out[32]);
/* The fetched SHA-256 (for PBKDF2). */
const void *pf_sha256_md(void);
/* Free the fetched algorithms and contexts (at exit). */
void pf_digest_cleanup(void);

#endif
