/*
 * scram.h - SCRAM-SHA-256 (RFC 5802 / RFC 7677) as PostgreSQL speaks it, both roles.
 *
 * Server role: pgfjord verifies a client against a stored secret (plain password or SCRAM
 * verifier). Client role: pgfjord logs in to PostgreSQL with a password or, for SCRAM
 * pass-through, with the ClientKey/ServerKey recovered from the client's own login.
 *
 * The functions here take and produce the SASL payloads only (the bytes inside
 * SASLInitialResponse / SASLResponse / AuthenticationSASLContinue / AuthenticationSASLFinal);
 * framing them is proto/build.h's job. Output is APPENDED to the given pf_buf.
 *
 * Channel binding: only gs2 flag "n" (and "y", meaning "client could but thinks we cannot")
 * for now; "p=" (SCRAM-SHA-256-PLUS, tls-server-end-point) is refused until TLS channel
 * binding is wired in.
 *
 * Passwords are used as given: SASLprep is not applied (it is the identity for ASCII).
 */
#ifndef PF_AUTH_SCRAM_H
#define PF_AUTH_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define PF_SCRAM_MECH "SCRAM-SHA-256"
#define PF_SCRAM_MECH_PLUS "SCRAM-SHA-256-PLUS"
#define PF_SCRAM_KEY_LEN 32		/* SHA-256 output */
#define PF_SCRAM_MAX_SALT_LEN 64	/* largest salt accepted from a secret or a server */
#define PF_SCRAM_SALT_LEN 16		/* salt length of secrets we make (PostgreSQL's) */
#define PF_SCRAM_DEFAULT_ITERATIONS 4096
#define PF_SCRAM_CBIND_MAX 64		/* tls-server-end-point data: a certificate hash */
#define PF_SCRAM_CBIND_TYPE "tls-server-end-point"

/*
 * Parse "SCRAM-SHA-256$<iter>:<b64salt>$<b64StoredKey>:<b64ServerKey>". salt must have room
 * for PF_SCRAM_MAX_SALT_LEN bytes. Returns false (outputs unspecified) if malformed.
 */
bool pf_scram_parse_secret(const char *secret, int *iterations, uint8_t *salt, int *saltlen,
			   uint8_t stored_key[PF_SCRAM_KEY_LEN], uint8_t server_key[PF_SCRAM_KEY_LEN]);
/* True if s parses as a SCRAM secret. */
bool pf_scram_is_secret(const char *s);
/*
 * Turn a password into a SCRAM secret with a fresh random salt (iterations <= 0: default).
 * Returns a malloc'd string to free(), or NULL if the crypto library failed.
 */
char *pf_scram_build_secret(const char *password, int iterations);
/* Same with a given salt (tests, reproducible verifiers). */
char *pf_scram_build_secret_salt(const char *password, int iterations,
				 const uint8_t *salt, int saltlen);

/* --- server role --- */

struct pf_scram_server {
	/*
	 * Results, valid after pf_scram_server_final() returned 0. has_keys is set only when
	 * the stored secret was a SCRAM verifier: then client_key/server_key can log in to a
	 * PostgreSQL that has the same verifier (pass-through). With a plain stored password
	 * the keys belong to a throw-away salt: log in with the password instead.
	 */
	bool has_keys;
	uint8_t client_key[PF_SCRAM_KEY_LEN];
	uint8_t server_key[PF_SCRAM_KEY_LEN];

	/* private */
	int state;
	bool dummy;			/* unknown user: go through the motions, then fail */
	bool from_plain;
	char cbind_flag;		/* gs2 flag of client-first: 'n', 'y' or 'p' */
	bool plus_offered;		/* we offered SCRAM-SHA-256-PLUS (the client is on TLS) */
	bool plus_chosen;		/* the client chose it */
	size_t cbind_len;
	uint8_t cbind[PF_SCRAM_CBIND_MAX];	/* our certificate's tls-server-end-point hash */
	int iterations;
	int saltlen;
	uint8_t salt[PF_SCRAM_MAX_SALT_LEN];
	uint8_t stored_key[PF_SCRAM_KEY_LEN];
	char *client_first_bare;
	char *server_first;
	char *nonce;			/* client nonce + server nonce */
	const char *test_nonce;		/* see pf_scram_server_test_set_nonce() */
};

/*
 * Prepare to verify a client against a plain password or a SCRAM secret. A plain password
 * gets a fresh salt and iterations_for_plain (<= 0: default) iterations. Returns -1 for an
 * md5 secret (it cannot do SCRAM), an empty password, or a crypto failure. The struct is
 * always initialized: call pf_scram_server_free() in every case.
 */
int pf_scram_server_init(struct pf_scram_server *st, const char *stored_secret, int iterations_for_plain);
/*
 * Unknown user: a full-looking exchange with a salt derived from the user name and a
 * per-process random secret (stable for a user, unguessable), ending in failure, so that a
 * client cannot tell that the user does not exist.
 */
int pf_scram_server_init_dummy(struct pf_scram_server *st, const char *user);
/* Client-first in, server-first appended to out. -1 if malformed or out of order. */
int pf_scram_server_first(struct pf_scram_server *st, const uint8_t *client_first, size_t len,
			  struct pf_buf *server_first_out);
/*
 * Client-final in. Returns 0 on a valid proof and appends server-final ("v=...") to out;
 * -1 on wrong proof, nonce or channel-binding echo, malformed input or a dummy exchange.
 */
int pf_scram_server_final(struct pf_scram_server *st, const uint8_t *client_final, size_t len,
			  struct pf_buf *server_final_out);
void pf_scram_server_free(struct pf_scram_server *st);
/* Over TLS: offer -PLUS with this channel binding data (before the client's first message). */
void pf_scram_server_offer_plus(struct pf_scram_server *st, const uint8_t *cbind, size_t len);
/* The mechanism the client chose; -1 when it is -PLUS and that was not offered. */
int pf_scram_server_choose(struct pf_scram_server *st, bool plus);

/* --- client role --- */

struct pf_scram_client {
	/* private */
	int state;
	bool use_keys;
	char *password;
	uint8_t client_key[PF_SCRAM_KEY_LEN];
	uint8_t server_key[PF_SCRAM_KEY_LEN];
	uint8_t server_signature[PF_SCRAM_KEY_LEN];
	char *nonce;			/* our client nonce */
	char *client_first_bare;
	size_t cbind_len;		/* > 0: SCRAM-SHA-256-PLUS with this tls-server-end-point data */
	uint8_t cbind[PF_SCRAM_CBIND_MAX];
	const char *test_user, *test_nonce;	/* see pf_scram_client_test_set() */
};

void pf_scram_client_init_password(struct pf_scram_client *st, const char *password);
/* Pass-through: prove with these keys; the server's salt and iterations are then unused. */
void pf_scram_client_init_keys(struct pf_scram_client *st, const uint8_t client_key[PF_SCRAM_KEY_LEN],
			       const uint8_t server_key[PF_SCRAM_KEY_LEN]);
/* Append client-first "n,,n=,r=<nonce>" to out. -1 only if no random nonce could be made. */
int pf_scram_client_first(struct pf_scram_client *st, struct pf_buf *out);
/* Server-first in, client-final ("c=biws,r=...,p=...") appended to out. -1 if malformed. */
int pf_scram_client_final(struct pf_scram_client *st, const uint8_t *server_first, size_t len,
			  struct pf_buf *out);
/* Server-final in: 0 if the server proved it knows the secret; -1 on mismatch or "e=...". */
int pf_scram_client_verify(struct pf_scram_client *st, const uint8_t *server_final, size_t len);
void pf_scram_client_free(struct pf_scram_client *st);
/* Log in with SCRAM-SHA-256-PLUS, binding to the server certificate's hash (before _first). */
void pf_scram_client_use_plus(struct pf_scram_client *st, const uint8_t *cbind, size_t len);

/*
 * Test hooks: replace the random parts so that published vectors can be replayed. The
 * strings are not copied and must outlive the exchange. Call right after init.
 */
void pf_scram_server_test_set_nonce(struct pf_scram_server *st, const char *server_nonce);
void pf_scram_client_test_set(struct pf_scram_client *st, const char *user, const char *client_nonce);

#endif
