/* parse.c - bounds-checked parsing of PostgreSQL v3 message bodies. */
#include "proto/parse.h"

#include <string.h>

#include "proto/proto.h"
#include "util/buf.h"

/* Take the C string at *pos; fails if no NUL follows it inside the body. */
static int get_cstr(const uint8_t *body, size_t len, size_t *pos, const char **s)
{
	if (*pos >= len)
		return -1;
	const uint8_t *nul = memchr(body + *pos, 0, len - *pos);
	if (!nul)
		return -1;
	*s = (const char *)body + *pos;
	*pos = (size_t)(nul - body) + 1;
	return 0;
}

int pf_parse_startup(const uint8_t *pkt, size_t len, struct pf_startup *out)
{
	memset(out, 0, sizeof(*out));
	if (len < 8 || len > PF_MAX_STARTUP_PACKET || pf_get_u32(pkt) != len)
		return -1;
	uint32_t code = pf_get_u32(pkt + 4);
	out->major = PF_PROTO_MAJOR(code);
	out->minor = PF_PROTO_MINOR(code);
	if (out->major != 3)
		return PF_STARTUP_BAD_VERSION;

	/* Pairs of C strings, then one empty name that must be the very last byte. */
	size_t pos = 8;
	for (;;) {
		if (pos >= len)
			return -1;	/* no terminator */
		if (pkt[pos] == 0)
			break;
		if (out->n >= PF_STARTUP_MAX_PARAMS)
			return -1;
		if (get_cstr(pkt, len, &pos, &out->names[out->n]) < 0)
			return -1;
		if (get_cstr(pkt, len, &pos, &out->values[out->n]) < 0)
			return -1;	/* a name without a value */
		out->n++;
	}
	if (pos != len - 1)
		return -1;
	return 0;
}

const char *pf_startup_get(const struct pf_startup *s, const char *name)
{
	/* The last occurrence wins, as in PostgreSQL. */
	for (int i = s->n - 1; i >= 0; i--)
		if (strcmp(s->names[i], name) == 0)
			return s->values[i];
	return NULL;
}

int pf_parse_param_status(const uint8_t *body, size_t len, const char **name, const char **value)
{
	size_t pos = 0;
	if (get_cstr(body, len, &pos, name) < 0 || get_cstr(body, len, &pos, value) < 0)
		return -1;
	return pos == len ? 0 : -1;
}

int pf_parse_auth_request(const uint8_t *body, size_t len, uint32_t *code,
			  const uint8_t **data, size_t *datalen)
{
	if (len < 4)
		return -1;
	*code = pf_get_u32(body);
	*data = body + 4;
	*datalen = len - 4;
	switch (*code) {
	case PF_AUTH_OK:
	case PF_AUTH_CLEARTEXT:
		return *datalen == 0 ? 0 : -1;
	case PF_AUTH_MD5:
		return *datalen == 4 ? 0 : -1;
	case PF_AUTH_SASL: {
		/* Mechanism names, each NUL-terminated, ended by an empty name as the last byte. */
		size_t pos = 0;
		const char *mech;
		for (;;) {
			if (pos >= *datalen)
				return -1;
			if ((*data)[pos] == 0)
				break;
			if (get_cstr(*data, *datalen, &pos, &mech) < 0)
				return -1;
		}
		return pos == *datalen - 1 ? 0 : -1;
	}
	default:
		return 0;
	}
}

int pf_parse_error_fields(const uint8_t *body, size_t len, struct pf_error_fields *out)
{
	memset(out, 0, sizeof(*out));
	size_t pos = 0;
	for (;;) {
		if (pos >= len)
			return -1;	/* no terminator */
		uint8_t code = body[pos++];
		if (code == 0)
			break;
		const char *value;
		if (get_cstr(body, len, &pos, &value) < 0)
			return -1;
		/* Unknown field types must be ignored (the protocol may add more). */
		switch (code) {
		case 'S': out->severity = value; break;
		case 'V': out->severity_nl = value; break;
		case 'C': out->sqlstate = value; break;
		case 'M': out->message = value; break;
		case 'D': out->detail = value; break;
		case 'H': out->hint = value; break;
		default: break;
		}
	}
	return pos == len ? 0 : -1;
}

int pf_parse_backend_key(const uint8_t *body, size_t len, uint32_t *pid, uint32_t *key)
{
	if (len != 8)
		return -1;
	*pid = pf_get_u32(body);
	*key = pf_get_u32(body + 4);
	return 0;
}

int pf_parse_rfq(const uint8_t *body, size_t len, char *status)
{
	if (len != 1)
		return -1;
	switch (body[0]) {
	case PF_TXN_IDLE:
	case PF_TXN_IN_BLOCK:
	case PF_TXN_FAILED:
		*status = (char)body[0];
		return 0;
	default:
		return -1;
	}
}

int pf_parse_data_row(const uint8_t *body, size_t len, const uint8_t **values, int32_t *lens, int max, int *ncols)
{
	if (len < 2)
		return -1;
	int n = pf_get_u16(body);
	size_t pos = 2;
	for (int i = 0; i < n; i++) {
		if (len - pos < 4)
			return -1;
		int32_t l = (int32_t)pf_get_u32(body + pos);
		pos += 4;
		if (l < -1 || (l > 0 && (size_t)l > len - pos))
			return -1;
		if (i < max) {
			values[i] = l < 0 ? NULL : body + pos;
			lens[i] = l;
		}
		if (l > 0)
			pos += (size_t)l;
	}
	if (pos != len)
		return -1;
	*ncols = n;
	return 0;
}

int pf_parse_sasl_initial(const uint8_t *body, size_t len, const char **mech,
			  const uint8_t **data, int *datalen)
{
	size_t pos = 0;
	if (get_cstr(body, len, &pos, mech) < 0)
		return -1;
	if (len - pos < 4)
		return -1;
	int32_t n = (int32_t)pf_get_u32(body + pos);
	pos += 4;
	if (n == -1) {
		*data = NULL;
		*datalen = -1;
		return pos == len ? 0 : -1;
	}
	/* Anything but -1 must be the exact number of bytes that remain. */
	if (n < 0 || (size_t)n != len - pos)
		return -1;
	*data = body + pos;
	*datalen = n;
	return 0;
}

int pf_parse_cstring(const uint8_t *body, size_t len, const char **s)
{
	size_t pos = 0;
	if (get_cstr(body, len, &pos, s) < 0)
		return -1;
	return pos == len ? 0 : -1;
}

int pf_parse_parse(const uint8_t *body, size_t len, const char **name, const uint8_t **key, size_t *key_len)
{
	size_t pos = 0;
	const char *query;

	if (get_cstr(body, len, &pos, name) < 0)
		return -1;
	size_t key_start = pos;
	if (get_cstr(body, len, &pos, &query) < 0 || len - pos < 2)
		return -1;
	size_t ntypes = pf_get_u16(body + pos);
	if (len - pos - 2 != 4 * ntypes)
		return -1;
	*key = body + key_start;
	*key_len = len - key_start;
	return 0;
}

/* The end of the C string starting at pos, looking at avail bytes of a body of len bytes. */
static int find_nul(const uint8_t *body, size_t avail, size_t len, size_t pos, size_t *nul)
{
	const uint8_t *p = pos < avail ? memchr(body + pos, 0, avail - pos) : NULL;

	if (!p)
		return avail < len ? PF_STMT_REF_INCOMPLETE : -1;
	*nul = (size_t)(p - body);
	return 0;
}

int pf_parse_stmt_ref(uint8_t type, const uint8_t *body, size_t avail, size_t body_len, size_t *name_off,
		      const char **name)
{
	size_t off, nul;
	int r;

	if (avail > body_len)
		return -1;
	switch (type) {
	case PF_FE_BIND:
		if ((r = find_nul(body, avail, body_len, 0, &nul)) != 0)
			return r;
		off = nul + 1;
		if ((r = find_nul(body, avail, body_len, off, &nul)) != 0)
			return r;
		break;
	case PF_FE_DESCRIBE:
	case PF_FE_CLOSE:
		if (!avail)
			return body_len ? PF_STMT_REF_INCOMPLETE : -1;
		if (body[0] != 'S' && body[0] != 'P')
			return -1;
		off = 1;
		if ((r = find_nul(body, avail, body_len, off, &nul)) != 0)
			return r;
		if (nul + 1 != body_len)
			return -1;
		if (body[0] == 'P')
			return PF_STMT_REF_PORTAL;
		break;
	default:
		return -1;
	}
	*name_off = off;
	*name = (const char *)body + off;
	return 0;
}
