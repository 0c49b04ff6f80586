/*
 * client_tls.h - TLS toward clients (see client_tls.c).
 */
#ifndef PF_SESSION_CLIENT_TLS_H
#define PF_SESSION_CLIENT_TLS_H

#include <stdbool.h>

#include "net/stream.h"
#include "net/tls.h"

struct pf_client;

/* Per-login TLS state, kept in the client's login state. */
struct pf_client_tls {
	struct pf_tls_hs hs;
	bool direct;        /* the connection began with a ClientHello (PostgreSQL 17 direct TLS) */
};

/* The client's login TLS state (client_login.c owns it). */
struct pf_client_tls *pf_client_login_tls(struct pf_client *client);

/* An SSLRequest: answer 'S' and start the handshake, or 'N'. */
enum pf_pkt_action pf_client_tls_request(struct pf_client *client);
/* Is this first packet really a TLS ClientHello? Then take it over. */
bool pf_client_tls_is_direct(const struct pf_client *client, const struct pf_pkt *pkt);
enum pf_pkt_action pf_client_tls_direct(struct pf_client *client);
/* At startup: false (client refused) when client_tls_sslmode requires TLS and it has none. */
bool pf_client_tls_check_required(struct pf_client *client);
void pf_client_tls_free(struct pf_client_tls *tls);

#endif
