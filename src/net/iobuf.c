/* iobuf.c - receive buffers from a free list, so the data path does not call malloc per read. */
#include "net/iobuf.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* Keep at most this many spare standard buffers; past it they go back to malloc, so a
 * login storm does not leave megabytes of idle buffers behind. */
#define IOBUF_MAX_FREE 128

static uint32_t standard_size = 4096;
static struct pf_iobuf *free_list;
static int free_count;
static int used_count;

void pf_iobuf_setup(uint32_t size)
{
	pf_iobuf_free_all();
	standard_size = size < 1024 ? 1024 : size;
}

struct pf_iobuf *pf_iobuf_get(uint32_t min_size)
{
	struct pf_iobuf *buf;
	if (min_size <= standard_size && free_list) {
		buf = free_list;
		free_list = buf->next_free;
		free_count--;
	} else {
		uint32_t size = min_size > standard_size ? min_size : standard_size;
		buf = pf_xmalloc(sizeof(*buf) + size);
		buf->size = size;
	}
	buf->recv_pos = buf->pkt_pos = buf->send_pos = 0;
	buf->next_free = NULL;
	used_count++;
	return buf;
}

void pf_iobuf_put(struct pf_iobuf *buf)
{
	if (!buf)
		return;
	used_count--;
	if (buf->size == standard_size && free_count < IOBUF_MAX_FREE) {
		buf->next_free = free_list;
		free_list = buf;
		free_count++;
	} else {
		free(buf);
	}
}

void pf_iobuf_compact(struct pf_iobuf *buf)
{
	if (buf->send_pos == 0)
		return;
	uint32_t keep = buf->recv_pos - buf->send_pos;
	memmove(buf->data, buf->data + buf->send_pos, keep);
	buf->recv_pos -= buf->send_pos;
	buf->pkt_pos -= buf->send_pos;
	buf->send_pos = 0;
}

struct pf_iobuf *pf_iobuf_grow(struct pf_iobuf *buf, uint32_t min_size)
{
	struct pf_iobuf *bigger = pf_iobuf_get(min_size);
	uint32_t keep = buf->recv_pos - buf->send_pos;
	memcpy(bigger->data, buf->data + buf->send_pos, keep);
	bigger->recv_pos = keep;
	bigger->pkt_pos = buf->pkt_pos - buf->send_pos;
	bigger->send_pos = 0;
	pf_iobuf_put(buf);
	return bigger;
}

void pf_iobuf_free_all(void)
{
	while (free_list) {
		struct pf_iobuf *next = free_list->next_free;
		free(free_list);
		free_list = next;
	}
	free_count = 0;
}

int pf_iobuf_free_count(void)
{
	return free_count;
}

int pf_iobuf_used_count(void)
{
	return used_count;
}
