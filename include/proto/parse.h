/*
 * parse.h - safe parsers for the few PostgreSQL v3 message bodies the pooler inspects.
 *
 * Unless stated otherwise a parser takes a message BODY (without the type byte and the
 * int32 length), never reads outside [body, body + len), returns 0 on success and -1 on a
 * malformed body (missing NUL terminator, wrong length, trailing bytes). Returned strings
 * point into the body, which must stay alive while they are used.
 */
#ifndef PF_PROTO_PARSE_H
#define PF_PROTO_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define PF_STARTUP_MAX_PARAMS 64

struct pf_startup {
	int major, minor;	/* protocol version requested by the client */
	int n;			/* number of parameters */
	const char *names[PF_STARTUP_MAX_PARAMS];
	const char *values[PF_STARTUP_MAX_PARAMS];
};

/* pf_parse_startup() result when the packet is well framed but not protocol 3.x. */
#define PF_STARTUP_BAD_VERSION (-2)

/*
 * Parse a whole StartupMessage, including its 8-byte header (int32 length, int32 protocol
 * code); len is the number of bytes available and must equal the length in the header.
 * Returns 0, -1 if malformed (length mismatch or > PF_MAX_STARTUP_PACKET, odd list, missing
 * final NUL, bytes after it, more than PF_STARTUP_MAX_PARAMS parameters), or
 * PF_STARTUP_BAD_VERSION with out->major/minor set when the major version is not 3
 * (check for SSLRequest, GSSENCRequest and CancelRequest codes before calling this).
 * Protocol 3.x with x > 0 is accepted: the caller negotiates down.
 */
int pf_parse_startup(const uint8_t *pkt, size_t len, struct pf_startup *out);
/* Value of a startup parameter, or NULL. */
const char *pf_startup_get(const struct pf_startup *s, const char *name);

/* ParameterStatus 'S': name and value. */
int pf_parse_param_status(const uint8_t *body, size_t len, const char **name, const char **value);

/*
 * Authentication request 'R': the code and the data after it. The length is checked for the
 * codes with a fixed layout (OK/cleartext: no data, MD5: 4 bytes of salt, SASL: a list of
 * NUL-terminated names ending with an empty one).
 */
int pf_parse_auth_request(const uint8_t *body, size_t len, uint32_t *code,
			  const uint8_t **data, size_t *datalen);

/* Fields of an ErrorResponse 'E' or NoticeResponse 'N'; NULL when absent. */
struct pf_error_fields {
	const char *severity;		/* S: possibly localized */
	const char *severity_nl;	/* V: never localized (PostgreSQL >= 9.6) */
	const char *sqlstate;		/* C */
	const char *message;		/* M */
	const char *detail;		/* D */
	const char *hint;		/* H */
};
int pf_parse_error_fields(const uint8_t *body, size_t len, struct pf_error_fields *out);

/* BackendKeyData 'K' (protocol 3.0: exactly two int32). */
int pf_parse_backend_key(const uint8_t *body, size_t len, uint32_t *pid, uint32_t *key);

/* ReadyForQuery 'Z': the transaction status byte ('I', 'T' or 'E'). */
int pf_parse_rfq(const uint8_t *body, size_t len, char *status);

/*
 * SASLInitialResponse 'p' from a client: mechanism name, int32 length, data. A length of -1
 * (no initial response) gives *data = NULL and *datalen = -1.
 */
int pf_parse_sasl_initial(const uint8_t *body, size_t len, const char **mech,
			  const uint8_t **data, int *datalen);

/*
 * DataRow 'D': *ncols gets the number of columns; the first `max` of them go to values/lens
 * (values[i] = NULL and lens[i] = -1 for SQL NULL). Every column's length is checked against
 * the body, also those past `max`.
 */
int pf_parse_data_row(const uint8_t *body, size_t len, const uint8_t **values, int32_t *lens, int max, int *ncols);

/*
 * Parse 'P': the statement name, and the key: every byte after the name's NUL (query text,
 * its NUL, int16 number of parameter types, the int32 type OIDs). The key is what makes two
 * Parses define the same statement: equal keys, equal query text and parameter types.
 * The number of types is unsigned (as PostgreSQL reads it) and must match the body exactly.
 */
int pf_parse_parse(const uint8_t *body, size_t len, const char **name, const uint8_t **key, size_t *key_len);

/* pf_parse_stmt_ref() results besides 0 and -1. */
#define PF_STMT_REF_PORTAL 1     /* a Describe or Close of a portal: no statement named */
#define PF_STMT_REF_INCOMPLETE 2 /* the name does not end within the bytes available */
/*
 * The statement name in a Bind 'B' (after the portal name), Describe 'D' or Close 'C' (after
 * the 'S' byte): *name points to it in the body and *name_off is its offset. Works on the
 * first `avail` bytes of a body of body_len bytes, so that a large Bind need not be held in
 * memory to find it (the name is usually within the first bytes); PF_STMT_REF_INCOMPLETE when
 * they do not hold the whole name. The rest of a Bind is not checked (the server does that);
 * a Describe or Close must end with the name's NUL.
 */
int pf_parse_stmt_ref(uint8_t type, const uint8_t *body, size_t avail, size_t body_len, size_t *name_off,
		      const char **name);

/* A body that is exactly one C string, its NUL as the last byte (PasswordMessage). */
int pf_parse_cstring(const uint8_t *body, size_t len, const char **s);

#endif
