/* random.c - buffered CSPRNG output (see random.h). */
#include "util/random.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_SIZE 512

static unsigned char pool[POOL_SIZE];
static size_t pool_left;

void pf_random_bytes(void *out, size_t len)
{
	unsigned char *p = out;
	while (len) {
		if (!pool_left) {
			if (RAND_bytes(pool, POOL_SIZE) != 1) {
				/* Without a CSPRNG no key we hand out would be safe: stop. */
				fputs("pgfjord: RAND_bytes failed\n", stderr);
				abort();
			}
			pool_left = POOL_SIZE;
		}
		size_t n = len < pool_left ? len : pool_left;
		memcpy(p, pool + POOL_SIZE - pool_left, n);
		OPENSSL_cleanse(pool + POOL_SIZE - pool_left, n);
		pool_left -= n;
		p += n;
		len -= n;
	}
}

void pf_random_reset(void)
{
	OPENSSL_cleanse(pool, sizeof(pool));
	pool_left = 0;
}
