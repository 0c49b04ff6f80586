/*
 * iobuf.h - receive buffers shared through a free list.
 *
 * A connection holds a buffer only while it has bytes that are not yet forwarded or
 * consumed, so thousands of idle clients hold none. The standard size is pkt_buf;
 * a message that must be inspected whole and does not fit gets a larger one for a while,
 * and a waiting connection's few bytes a small one.
 *
 *   data: [ sent | to send (decided) | unprocessed | free ]
 *         0      send_pos            pkt_pos       recv_pos  size
 */
#ifndef PF_NET_IOBUF_H
#define PF_NET_IOBUF_H

#include <stdbool.h>
#include <stdint.h>

/* Spare standard buffers kept on the free list; past it they go back to malloc, so a login
 * storm does not leave megabytes of idle buffers behind. */
#define PF_IOBUF_MAX_FREE 128
/*
 * A stream that waits (a client queued for a server) moves its few bytes, typically one
 * query, into a small buffer and gives the standard one back: thousands of waiting clients
 * then hold 0.5 KiB each instead of pkt_buf, and a burst of them faults in an eighth of
 * the pages.
 */
#define PF_IOBUF_SMALL_SIZE 480
#define PF_IOBUF_MAX_FREE_SMALL 1024

struct pf_iobuf {
	uint32_t size;
	uint32_t recv_pos;
	uint32_t pkt_pos;
	uint32_t send_pos;
	struct pf_iobuf *next_free;
	uint8_t data[];
};

void pf_iobuf_setup(uint32_t standard_size);
struct pf_iobuf *pf_iobuf_get(uint32_t min_size);
/* A buffer of PF_IOBUF_SMALL_SIZE bytes, for a waiting stream's few bytes. */
struct pf_iobuf *pf_iobuf_get_small(void);
void pf_iobuf_put(struct pf_iobuf *buf);
uint32_t pf_iobuf_standard_size(void);
/* Move the unsent bytes to the front so more can be read. */
void pf_iobuf_compact(struct pf_iobuf *buf);
/* Return a buffer of at least min_size holding the same unsent bytes (frees the old one). */
struct pf_iobuf *pf_iobuf_grow(struct pf_iobuf *buf, uint32_t min_size);
void pf_iobuf_free_all(void);
/* For SHOW MEM: buffers in use and spare, of the standard (and larger) or the small size. */
void pf_iobuf_counts(bool small, int *used, int *spare);
/* The most standard (and larger) buffers in use at once since the last call (then restarts
 * from the current count). Small buffers are not counted: they are what the free list keeps. */
int pf_iobuf_take_peak(void);

#endif
