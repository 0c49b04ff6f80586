/*
 * hash.h - hashing of bytes that clients choose (statement texts and names), for hash tables.
 *
 * Keyed SipHash-2-4: a client that floods a table with colliding keys could otherwise turn
 * every lookup of every client into a walk down one chain. pf_hash_bytes() uses a key drawn
 * from the CSPRNG on first use, so collisions cannot be computed from outside. A hash only
 * ever chooses a bucket: tables compare the whole key before they call two keys equal.
 */
#ifndef PF_UTIL_HASH_H
#define PF_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of data with a 16-byte key (little-endian output as in the reference code). */
uint64_t pf_siphash24(const uint8_t key[16], const void *data, size_t len);
/* SipHash-2-4 with the process's own random key. */
uint64_t pf_hash_bytes(const void *data, size_t len);

#endif
