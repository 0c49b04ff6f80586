/* iobuf.c - receive buffers from a free list, so the data path does not call malloc per read. */
#include "net/iobuf.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

static uint32_t standard_size = 4096;
static struct pf_iobuf *free_list;
static int free_count;
static struct pf_iobuf *small_free_list; /* PF_IOBUF_SMALL_SIZE buffers */
static int small_free_count;
static int std_used_count; /* standard and larger */
static int small_used_count;
static int peak_used; /* most standard (and larger) buffers in use at once since pf_iobuf_take_peak() */

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
	if (++std_used_count > peak_used)
		peak_used = std_used_count;
	return buf;
}

uint32_t pf_iobuf_standard_size(void)
{
	return standard_size;
}

struct pf_iobuf *pf_iobuf_get_small(void)
{
	struct pf_iobuf *buf = small_free_list;
	if (buf) {
		small_free_list = buf->next_free;
		small_free_count--;
	} else {
		buf = pf_xmalloc(sizeof(*buf) + PF_IOBUF_SMALL_SIZE);
		buf->size = PF_IOBUF_SMALL_SIZE;
	}
	buf->recv_pos = buf->pkt_pos = buf->send_pos = 0;
	buf->next_free = NULL;
	small_used_count++;
	return buf;
}

void pf_iobuf_put(struct pf_iobuf *buf)
{
	if (!buf)
		return;
	if (buf->size == PF_IOBUF_SMALL_SIZE)
		small_used_count--;
	else
		std_used_count--;
	if (buf->size == PF_IOBUF_SMALL_SIZE && small_free_count < PF_IOBUF_MAX_FREE_SMALL) {
		buf->next_free = small_free_list;
		small_free_list = buf;
		small_free_count++;
	} else if (buf->size == standard_size && free_count < PF_IOBUF_MAX_FREE) {
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

static void free_list_free(struct pf_iobuf **list, int *count)
{
	while (*list) {
		struct pf_iobuf *next = (*list)->next_free;
		free(*list);
		*list = next;
	}
	*count = 0;
}

void pf_iobuf_free_all(void)
{
	free_list_free(&free_list, &free_count);
	free_list_free(&small_free_list, &small_free_count);
}

void pf_iobuf_counts(bool small, int *used, int *spare)
{
	*used = small ? small_used_count : std_used_count;
	*spare = small ? small_free_count : free_count;
}

int pf_iobuf_take_peak(void)
{
	int peak = peak_used;
	peak_used = std_used_count;
	return peak;
}
