/*
 * random.h - unpredictable bytes for cancel keys and md5 salts, from OpenSSL's CSPRNG,
 * drawn in blocks so a login does not pay a RAND_bytes call (and its getpid) per value.
 */
#ifndef PF_UTIL_RANDOM_H
#define PF_UTIL_RANDOM_H

#include <stddef.h>

void pf_random_bytes(void *out, size_t len);
/* Forget buffered bytes (after fork, so parent and child never share them). */
void pf_random_reset(void);

#endif
