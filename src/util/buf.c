/* buf.c - growable byte buffer and checked allocation helpers. */
#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(void)
{
	fputs("pgfjord: out of memory\n", stderr);
	abort();
}

void *pf_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		out_of_memory();
	return p;
}

void *pf_xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p)
		out_of_memory();
	return p;
}

void *pf_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		out_of_memory();
	return p;
}

char *pf_xstrdup(const char *s)
{
	return pf_xstrndup(s, strlen(s));
}

char *pf_xstrndup(const char *s, size_t n)
{
	char *p = pf_xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

void pf_buf_init(struct pf_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void pf_buf_free(struct pf_buf *b)
{
	free(b->data);
	pf_buf_init(b);
}

void pf_buf_reset(struct pf_buf *b)
{
	b->len = 0;
}

void pf_buf_reserve(struct pf_buf *b, size_t extra)
{
	size_t need = b->len + extra;
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	b->data = pf_xrealloc(b->data, cap);
	b->cap = cap;
}

void pf_buf_put(struct pf_buf *b, const void *data, size_t len)
{
	if (!len)
		return;
	pf_buf_reserve(b, len);
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

void pf_buf_put_u8(struct pf_buf *b, uint8_t v)
{
	pf_buf_put(b, &v, 1);
}

void pf_buf_put_u16(struct pf_buf *b, uint16_t v)
{
	uint8_t p[2] = { v >> 8, v & 0xff };
	pf_buf_put(b, p, 2);
}

void pf_buf_put_u32(struct pf_buf *b, uint32_t v)
{
	uint8_t p[4];
	pf_set_u32(p, v);
	pf_buf_put(b, p, 4);
}

void pf_buf_put_str(struct pf_buf *b, const char *s)
{
	pf_buf_put(b, s, strlen(s) + 1);
}

void pf_buf_printf(struct pf_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	pf_buf_reserve(b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void pf_buf_set_u32(struct pf_buf *b, size_t off, uint32_t v)
{
	pf_set_u32(b->data + off, v);
}
