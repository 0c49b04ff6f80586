/*
 * resultset.h - building a query result for the console: RowDescription, DataRows (text
 * format), CommandComplete. Column types follow PgBouncer: text, int4, int8, numeric.
 */
#ifndef PF_ADMIN_RESULTSET_H
#define PF_ADMIN_RESULTSET_H

#include <stdint.h>

#include "util/buf.h"

/* Column type letters: 's' text, 'i' int4, 'q' int8, 'N' numeric. */
struct pf_rs {
	struct pf_buf *out;
	int ncols;
	size_t row_start;
	int rows;
};

/* names: ncols column names; types: one letter per column. */
void pf_rs_begin(struct pf_rs *rs, struct pf_buf *out, const char *types, const char *const *names);
void pf_rs_row(struct pf_rs *rs);
void pf_rs_text(struct pf_rs *rs, const char *value); /* NULL = SQL NULL */
void pf_rs_int(struct pf_rs *rs, int64_t value);
void pf_rs_uint(struct pf_rs *rs, uint64_t value);
void pf_rs_printf(struct pf_rs *rs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ends the last row and appends CommandComplete with tag. */
void pf_rs_end(struct pf_rs *rs, const char *tag);

#endif
