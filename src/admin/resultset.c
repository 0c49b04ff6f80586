/* resultset.c - RowDescription/DataRow/CommandComplete for the console. */
#include "admin/resultset.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static uint32_t type_oid(char t)
{
	switch (t) {
	case 'i':
		return 23; /* int4 */
	case 'q':
		return 20; /* int8 */
	case 'N':
		return 1700; /* numeric */
	default:
		return 25; /* text */
	}
}

static int16_t type_len(char t)
{
	return t == 'i' ? 4 : t == 'q' ? 8 : -1;
}

void pf_rs_begin(struct pf_rs *rs, struct pf_buf *out, const char *types, const char *const *names)
{
	rs->out = out;
	rs->ncols = (int)strlen(types);
	rs->rows = 0;
	rs->row_start = (size_t)-1;
	size_t start = out->len;
	pf_buf_put_u8(out, 'T');
	pf_buf_put_u32(out, 0);
	pf_buf_put_u16(out, (uint16_t)rs->ncols);
	for (int i = 0; i < rs->ncols; i++) {
		pf_buf_put_str(out, names[i]);
		pf_buf_put_u32(out, 0);                       /* table oid */
		pf_buf_put_u16(out, 0);                       /* column number */
		pf_buf_put_u32(out, type_oid(types[i]));
		pf_buf_put_u16(out, (uint16_t)type_len(types[i]));
		pf_buf_put_u32(out, (uint32_t)-1);            /* type modifier */
		pf_buf_put_u16(out, 0);                       /* text format */
	}
	pf_buf_set_u32(out, start + 1, (uint32_t)(out->len - start - 1));
}

static void end_row(struct pf_rs *rs)
{
	if (rs->row_start == (size_t)-1)
		return;
	pf_buf_set_u32(rs->out, rs->row_start + 1, (uint32_t)(rs->out->len - rs->row_start - 1));
	rs->row_start = (size_t)-1;
}

void pf_rs_row(struct pf_rs *rs)
{
	end_row(rs);
	rs->row_start = rs->out->len;
	pf_buf_put_u8(rs->out, 'D');
	pf_buf_put_u32(rs->out, 0);
	pf_buf_put_u16(rs->out, (uint16_t)rs->ncols);
	rs->rows++;
}

void pf_rs_text(struct pf_rs *rs, const char *value)
{
	if (!value) {
		pf_buf_put_u32(rs->out, (uint32_t)-1);
		return;
	}
	size_t n = strlen(value);
	pf_buf_put_u32(rs->out, (uint32_t)n);
	pf_buf_put(rs->out, value, n);
}

void pf_rs_int(struct pf_rs *rs, int64_t value)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRId64, value);
	pf_rs_text(rs, buf);
}

void pf_rs_uint(struct pf_rs *rs, uint64_t value)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRIu64, value);
	pf_rs_text(rs, buf);
}

void pf_rs_printf(struct pf_rs *rs, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	pf_rs_text(rs, buf);
}

void pf_rs_end(struct pf_rs *rs, const char *tag)
{
	end_row(rs);
	pf_buf_put_u8(rs->out, 'C');
	pf_buf_put_u32(rs->out, (uint32_t)(4 + strlen(tag) + 1));
	pf_buf_put_str(rs->out, tag);
}
