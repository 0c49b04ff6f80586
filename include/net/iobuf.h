/*
 * iobuf.h - receive buffers shared through a free list.
 *
 * A connection holds a buffer only while it has bytes that are not yet forwarded or
 * consumed, so thousands of idle clients hold none. The standard size is pkt_buf;
 * a message that must be inspected whole and does not fit gets a larger one for a while.
 *
 *   data: [ sent | to send (decided) | unprocessed | free ]
 *         0      send_pos            pkt_pos       recv_pos  size
 */
#ifndef PF_NET_IOBUF_H
#define PF_NET_IOBUF_H

#include <stdint.h>

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
void pf_iobuf_put(struct pf_iobuf *buf);
/* Move the unsent bytes to the front so more can be read. */
void pf_iobuf_compact(struct pf_iobuf *buf);
/* Return a buffer of at least min_size holding the same unsent bytes (frees the old one). */
struct pf_iobuf *pf_iobuf_grow(struct pf_iobuf *buf, uint32_t min_size);
void pf_iobuf_free_all(void);
/* For SHOW MEM / LISTS later. */
int pf_iobuf_free_count(void);
int pf_iobuf_used_count(void);

#endif
