/*
 * tls.h - OpenSSL contexts made from the config, and non-blocking handshakes.
 *
 * Two contexts: the one clients connect to (client_tls_*) and the one pgfjord uses to
 * connect to PostgreSQL (server_tls_*). RELOAD builds new ones and swaps them in only when
 * both are good; connections keep the context they started with (OpenSSL counts references).
 * Handshakes run on the event loop: a step returns what the socket must wait for.
 */
#ifndef PF_NET_TLS_H
#define PF_NET_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

struct event_base;

/* sslmode values of client_tls_sslmode / server_tls_sslmode. */
enum pf_sslmode {
	SSLMODE_DISABLE = 0, SSLMODE_ALLOW, SSLMODE_PREFER, SSLMODE_REQUIRE, SSLMODE_VERIFY_CA, SSLMODE_VERIFY_FULL,
};
int pf_sslmode_parse(const char *text); /* -1 when unknown */

/* Build (or rebuild at RELOAD) both contexts; -1 with err keeps the running ones. */
int pf_tls_configure(const struct pf_settings *set, char *err, size_t errlen);
void pf_tls_shutdown(void);

/* The running modes, and whether a client-facing context exists. */
enum pf_sslmode pf_tls_client_mode(void);
enum pf_sslmode pf_tls_server_mode(void);
bool pf_tls_client_available(void);

/* A new TLS connection on fd: accepting a client, or connecting to a server (host for SNI
 * and verify-full; NULL for a Unix socket or a numeric address, where SNI is not sent).
 * `early` are bytes of the client's first flight already read from the socket (direct TLS). */
SSL *pf_tls_accept_new(int fd, const uint8_t *early, size_t early_len);
SSL *pf_tls_connect_new(int fd, const char *host);

enum pf_tls_step { TLS_STEP_DONE, TLS_STEP_WANT_READ, TLS_STEP_WANT_WRITE, TLS_STEP_FAILED };
/* One handshake step; on failure err gets OpenSSL's reason ("certificate verify failed"). */
enum pf_tls_step pf_tls_handshake(SSL *ssl, char *err, size_t errlen);

/* A handshake driven by the event loop. done() gets the connection, or NULL and OpenSSL's
 * reason (the SSL is freed then); it may be called from pf_tls_hs_start itself. */
typedef void (*pf_tls_hs_done)(void *arg, SSL *ssl, const char *error);
struct pf_tls_hs {
	struct event *ev;
	SSL *ssl;
	int fd;
	pf_tls_hs_done done;
	void *arg;
};
void pf_tls_hs_start(struct pf_tls_hs *hs, struct event_base *base, int fd, SSL *ssl, pf_tls_hs_done done, void *arg);
/* Stop a handshake in progress (its connection is closing); frees its SSL. */
void pf_tls_hs_cancel(struct pf_tls_hs *hs);

/* "TLSv1.3/TLS_AES_256_GCM_SHA384/ECDH=X25519" (as PgBouncer) for logs and SHOW CLIENTS. */
const char *pf_tls_describe(const SSL *ssl, char *buf, size_t len);
/* Did the peer negotiate ALPN "postgresql"? (Required for direct TLS.) */
bool pf_tls_alpn_postgresql(const SSL *ssl);
/* The client certificate's common name, or NULL (caller frees). */
char *pf_tls_peer_common_name(const SSL *ssl);
/* tls-server-end-point channel binding data (RFC 5929) of the server certificate of this
 * connection: ours when accepting, the peer's when connecting. Returns its length, 0 = none. */
size_t pf_tls_server_end_point(const SSL *ssl, bool we_are_server, uint8_t *out, size_t outlen);

/* I/O with errno semantics like recv()/send(): -1 + EAGAIN when the socket must wait,
 * 0 from recv at a clean close. */
ssize_t pf_tls_recv(SSL *ssl, void *buf, size_t len);
ssize_t pf_tls_send(SSL *ssl, const void *buf, size_t len);

#endif
