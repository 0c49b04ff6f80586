/*
 * client_tls.c - TLS toward clients: the answer to SSLRequest, direct TLS as PostgreSQL 17
 * speaks it (the first bytes are a ClientHello, ALPN "postgresql" required), the handshake
 * on the event loop, and refusing plain logins when client_tls_sslmode requires TLS.
 */
#include "session/client_tls.h"

#include "session/client.h"
#include "util/buf.h"
#include "util/log.h"

static void handshake_done(void *arg, SSL *ssl, const char *error)
{
	struct pf_client *client = arg;
	if (!ssl) {
		pf_client_log(client, LOG_LVL_WARNING, "TLS handshake failed: %s", error);
		pf_client_close(client, "TLS handshake failed");
		return;
	}
	bool direct = pf_client_login_tls(client)->direct;
	pf_stream_set_tls(&client->stream, ssl);
	if (direct && !pf_tls_alpn_postgresql(ssl)) {
		/* As PostgreSQL 17: direct TLS without ALPN could be a confused non-PostgreSQL client. */
		pf_client_disconnect(client, "08P01", "direct TLS connection without ALPN protocol \"postgresql\"");
	}
}

static enum pf_pkt_action start_handshake(struct pf_client *client, const struct pf_buf *early, bool direct)
{
	SSL *ssl = pf_tls_accept_new(client->stream.fd, early ? early->data : NULL, early ? early->len : 0);
	if (!ssl) {
		pf_client_log(client, LOG_LVL_WARNING, "TLS setup failed: cannot make a TLS connection");
		pf_client_close(client, "TLS setup failed");
		return PKT_CLOSED;
	}
	struct pf_client_tls *tls = pf_client_login_tls(client);
	tls->direct = direct;
	pf_tls_hs_start(&tls->hs, pf_state.base, client->stream.fd, ssl, handshake_done, client);
	return client->state == CL_DEAD ? PKT_CLOSED : PKT_CONSUMED;
}

enum pf_pkt_action pf_client_tls_request(struct pf_client *client)
{
	/* TLS over a Unix socket adds nothing; PgBouncer refuses it too. */
	bool offer = pf_tls_client_available() && !client->is_unix && !client->stream.tls;
	if (offer && pf_stream_unprocessed(&client->stream) > 8) {
		/* Bytes after the request were sent in the clear before TLS: refuse them
		 * (CVE-2021-23214 in PostgreSQL was accepting them). */
		pf_client_disconnect(client, "08P01", "received unencrypted data after SSL request");
		return PKT_CLOSED;
	}
	char answer = offer ? 'S' : 'N';
	if (!pf_stream_write(&client->stream, &answer, 1) || client->stream.out.len) {
		pf_client_close(client, NULL);
		return PKT_CLOSED;
	}
	if (!offer)
		return PKT_CONSUMED;
	pf_stream_begin_handshake(&client->stream, NULL);
	return start_handshake(client, NULL, false);
}

bool pf_client_tls_is_direct(const struct pf_client *client, const struct pf_pkt *pkt)
{
	/* A startup length whose first byte is 0x16 is a TLS handshake record. Without TLS
	 * configured it is just an invalid startup packet, answered as such. */
	return !client->stream.tls && (pkt->len >> 24) == 0x16 && pf_tls_client_available() && !client->is_unix;
}

enum pf_pkt_action pf_client_tls_direct(struct pf_client *client)
{
	struct pf_buf early;
	pf_buf_init(&early);
	pf_stream_begin_handshake(&client->stream, &early);
	enum pf_pkt_action act = start_handshake(client, &early, true);
	pf_buf_free(&early);
	/* The stream's buffer went to OpenSSL. The handshake may even be over already (a
	 * fast client's Finished came with our first read): the stream goes on as it is. */
	return act == PKT_CLOSED ? PKT_CLOSED : PKT_DETACHED;
}

bool pf_client_tls_check_required(struct pf_client *client)
{
	if (pf_tls_client_mode() < SSLMODE_REQUIRE || client->stream.tls || client->is_unix)
		return true;
	pf_client_disconnect(client, "28000", "SSL required");
	return false;
}

void pf_client_tls_free(struct pf_client_tls *tls)
{
	pf_tls_hs_cancel(&tls->hs);
}
