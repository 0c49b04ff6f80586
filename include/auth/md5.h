/*
 * md5.h - PostgreSQL's MD5 password authentication (AuthenticationMD5Password).
 *
 * A stored md5 secret is "md5" + hex(md5(password || user)); on the wire the client sends
 * "md5" + hex(md5(hex part of the secret || 4-byte salt)). If MD5 is unavailable (an OpenSSL
 * provider without it), the outputs below are empty strings and every check fails.
 */
#ifndef PF_AUTH_MD5_H
#define PF_AUTH_MD5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PF_MD5_SECRET_LEN 35 /* "md5" + 32 hex digits, without the NUL */

/* Lower-case hex of md5(data). */
void pf_md5_hex(const void *data, size_t len, char out[33]);
/* The stored form: "md5" + hex(md5(password || user)). */
void pf_md5_password_secret(const char *user, const char *password, char out[36]);
/* The wire response for a stored md5 secret and a salt. */
void pf_md5_salted(const char *md5secret, const uint8_t salt[4], char out[36]);
/* True if s has the exact form of an md5 secret ("md5" + 32 lower-case hex digits). */
bool pf_md5_is_secret(const char *s);
/*
 * Check a client's md5 response against a stored secret that is either a plain password or
 * an md5 secret. A SCRAM secret cannot verify an md5 response: false. Constant-time compare.
 */
bool pf_md5_check(const char *stored_secret, const char *user, const uint8_t salt[4],
		  const char *client_response);

#endif
