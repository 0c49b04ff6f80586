/*
 * buf.h - a growable byte buffer for building messages and strings.
 * Allocation failure aborts (out of memory is not a condition the pooler can serve through).
 */
#ifndef PF_UTIL_BUF_H
#define PF_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

struct pf_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

void pf_buf_init(struct pf_buf *b);
void pf_buf_free(struct pf_buf *b);
void pf_buf_reset(struct pf_buf *b);
void pf_buf_reserve(struct pf_buf *b, size_t extra);
void pf_buf_put(struct pf_buf *b, const void *data, size_t len);
void pf_buf_put_u8(struct pf_buf *b, uint8_t v);
void pf_buf_put_u16(struct pf_buf *b, uint16_t v); /* network order */
void pf_buf_put_u32(struct pf_buf *b, uint32_t v); /* network order */
void pf_buf_put_str(struct pf_buf *b, const char *s); /* with the terminating NUL */
void pf_buf_printf(struct pf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3))); /* no NUL counted */
/* Overwrite a u32 at offset (for back-patching message lengths). */
void pf_buf_set_u32(struct pf_buf *b, size_t off, uint32_t v);

/* Small helpers used across layers. */
void *pf_xmalloc(size_t n);
void *pf_xcalloc(size_t n, size_t sz);
void *pf_xrealloc(void *p, size_t n);
char *pf_xstrdup(const char *s);
char *pf_xstrndup(const char *s, size_t n);

static inline uint32_t pf_get_u32(const uint8_t *p) { return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }
static inline uint16_t pf_get_u16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline void pf_set_u32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }

#endif
