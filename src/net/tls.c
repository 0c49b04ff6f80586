/*
 * tls.c - OpenSSL contexts from the client_tls_* and server_tls_* keys, non-blocking
 * handshake steps, and TLS reads/writes with recv()/send() semantics for stream.c.
 *
 * Memory matters with thousands of idle clients: buffers are released while idle
 * (SSL_MODE_RELEASE_BUFFERS), and no session cache or tickets are kept.
 */
#include "net/tls.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/log.h"

/* PgBouncer's cipher list shortcuts, in OpenSSL syntax. */
#define CIPHERS_SECURE "HIGH:!aNULL:!eNULL:!MD5:!3DES:!RC4:!CAMELLIA:!SHA1"
#define CIPHERS_COMPAT "HIGH:MEDIUM:+3DES:!aNULL"

/* Room for "client_tls_cert_file PATH" in messages. */
#define PATH_MAX_TEXT 4200

static const uint8_t alpn_postgresql[] = { 10, 'p', 'o', 's', 't', 'g', 'r', 'e', 's', 'q', 'l' };

static struct {
	SSL_CTX *accept_ctx;   /* clients connect to us: NULL when client_tls_sslmode = disable */
	SSL_CTX *connect_ctx;  /* we connect to servers: NULL when server_tls_sslmode = disable */
	enum pf_sslmode client_mode;
	enum pf_sslmode server_mode;
} tls;

int pf_sslmode_parse(const char *text)
{
	static const char *const names[] = { "disable", "allow", "prefer", "require", "verify-ca", "verify-full" };
	for (int i = 0; i < 6; i++)
		if (text && strcasecmp(text, names[i]) == 0)
			return i;
	return -1;
}

static void openssl_reason(char *err, size_t errlen, const char *what)
{
	unsigned long code = ERR_peek_last_error();
	const char *reason = code ? ERR_reason_error_string(code) : NULL;
	snprintf(err, errlen, "%s%s%s", what, reason ? ": " : "", reason ? reason : "");
	ERR_clear_error();
}

/* "secure", "all", "legacy" or a list of tlsv1.0 .. tlsv1.3: the min and max version. */
static int set_protocols(SSL_CTX *ctx, const char *text, char *err, size_t errlen)
{
	static const struct { const char *name; int version; } names[] = {
		{ "tlsv1.0", TLS1_VERSION }, { "tlsv1.1", TLS1_1_VERSION },
		{ "tlsv1.2", TLS1_2_VERSION }, { "tlsv1.3", TLS1_3_VERSION },
	};
	int min = 0, max = 0;
	char copy[256];
	snprintf(copy, sizeof(copy), "%s", text && *text ? text : "secure");
	for (char *save = NULL, *tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		int lo, hi;
		if (strcasecmp(tok, "secure") == 0) {
			lo = TLS1_2_VERSION, hi = TLS1_3_VERSION;
		} else if (strcasecmp(tok, "all") == 0 || strcasecmp(tok, "legacy") == 0) {
			lo = TLS1_VERSION, hi = TLS1_3_VERSION;
		} else {
			lo = hi = 0;
			for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
				if (strcasecmp(tok, names[i].name) == 0)
					lo = hi = names[i].version;
			if (!lo) {
				snprintf(err, errlen, "unknown TLS protocol '%s'", tok);
				return -1;
			}
		}
		min = !min || lo < min ? lo : min;
		max = hi > max ? hi : max;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, min) || !SSL_CTX_set_max_proto_version(ctx, max)) {
		openssl_reason(err, errlen, "cannot set the TLS protocol versions");
		return -1;
	}
	return 0;
}

static int set_ciphers(SSL_CTX *ctx, const char *ciphers, const char *tls13, char *err, size_t errlen)
{
	const char *list = ciphers && *ciphers ? ciphers : "default";
	if (strcasecmp(list, "default") == 0 || strcasecmp(list, "secure") == 0 || strcasecmp(list, "fast") == 0)
		list = CIPHERS_SECURE;
	else if (strcasecmp(list, "normal") == 0 || strcasecmp(list, "compat") == 0 ||
		 strcasecmp(list, "legacy") == 0 || strcasecmp(list, "insecure") == 0 || strcasecmp(list, "all") == 0)
		list = CIPHERS_COMPAT;
	if (!SSL_CTX_set_cipher_list(ctx, list)) {
		openssl_reason(err, errlen, "bad TLS cipher list");
		return -1;
	}
	if (tls13 && *tls13 && !SSL_CTX_set_ciphersuites(ctx, tls13)) {
		openssl_reason(err, errlen, "bad TLS 1.3 cipher suites");
		return -1;
	}
	return 0;
}

static int load_cert_key(SSL_CTX *ctx, const char *cert, const char *key, const char *side, char *err, size_t errlen)
{
	if (!cert || !*cert || !key || !*key)
		return 0;
	char what[PATH_MAX_TEXT];
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(what, sizeof(what), "%s_tls_cert_file %s", side, cert);
		openssl_reason(err, errlen, what);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(what, sizeof(what), "%s_tls_key_file %s", side, key);
		openssl_reason(err, errlen, what);
		return -1;
	}
	return 0;
}

static int load_ca(SSL_CTX *ctx, const char *ca, const char *side, char *err, size_t errlen)
{
	if (!ca || !*ca)
		return 0;
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		char what[PATH_MAX_TEXT];
		snprintf(what, sizeof(what), "%s_tls_ca_file %s", side, ca);
		openssl_reason(err, errlen, what);
		return -1;
	}
	return 0;
}

static SSL_CTX *ctx_common(const SSL_METHOD *method)
{
	SSL_CTX *ctx = SSL_CTX_new(method);
	if (!ctx)
		return NULL;
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	return ctx;
}

/* ALPN: a client that offers protocols must offer "postgresql" (PostgreSQL 17 does this). */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
		       unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	unsigned char *chosen;
	if (SSL_select_next_proto(&chosen, outlen, alpn_postgresql, sizeof(alpn_postgresql), in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = chosen;
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *make_accept_ctx(const struct pf_settings *set, enum pf_sslmode mode, char *err, size_t errlen)
{
	if (!set->client_tls_key_file || !*set->client_tls_key_file || !set->client_tls_cert_file ||
	    !*set->client_tls_cert_file) {
		snprintf(err, errlen, "client_tls_sslmode = %s needs client_tls_key_file and client_tls_cert_file",
			 set->client_tls_sslmode);
		return NULL;
	}
	SSL_CTX *ctx = ctx_common(TLS_server_method());
	if (!ctx) {
		openssl_reason(err, errlen, "cannot make a TLS context");
		return NULL;
	}
	if (set_protocols(ctx, set->client_tls_protocols, err, errlen) < 0 ||
	    set_ciphers(ctx, set->client_tls_ciphers, set->client_tls13_ciphers, err, errlen) < 0 ||
	    load_cert_key(ctx, set->client_tls_cert_file, set->client_tls_key_file, "client", err, errlen) < 0 ||
	    load_ca(ctx, set->client_tls_ca_file, "client", err, errlen) < 0)
		goto fail;
	const char *curve = set->client_tls_ecdhcurve;
	if (curve && *curve && strcasecmp(curve, "auto") != 0 && strcasecmp(curve, "none") != 0 &&
	    SSL_CTX_set1_groups_list(ctx, curve) != 1) {
		openssl_reason(err, errlen, "bad client_tls_ecdhcurve");
		goto fail;
	}
	const char *dh = set->client_tls_dheparams;
	if (!dh || strcasecmp(dh, "auto") == 0 || strcasecmp(dh, "legacy") == 0) {
		SSL_CTX_set_dh_auto(ctx, 1);
	} else if (strcasecmp(dh, "none") != 0) {
		snprintf(err, errlen, "client_tls_dheparams must be none, auto or legacy, not '%s'", dh);
		goto fail;
	}
	/* With a CA, client certificates are asked for and checked; verify-ca/full demand one. */
	if (set->client_tls_ca_file && *set->client_tls_ca_file) {
		int verify = SSL_VERIFY_PEER;
		if (mode >= SSLMODE_VERIFY_CA)
			verify |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		SSL_CTX_set_verify(ctx, verify, NULL);
	} else if (mode >= SSLMODE_VERIFY_CA) {
		snprintf(err, errlen, "client_tls_sslmode = %s needs client_tls_ca_file", set->client_tls_sslmode);
		goto fail;
	}
	SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static SSL_CTX *make_connect_ctx(const struct pf_settings *set, enum pf_sslmode mode, char *err, size_t errlen)
{
	SSL_CTX *ctx = ctx_common(TLS_client_method());
	if (!ctx) {
		openssl_reason(err, errlen, "cannot make a TLS context");
		return NULL;
	}
	if (set_protocols(ctx, set->server_tls_protocols, err, errlen) < 0 ||
	    set_ciphers(ctx, set->server_tls_ciphers, set->server_tls13_ciphers, err, errlen) < 0 ||
	    load_cert_key(ctx, set->server_tls_cert_file, set->server_tls_key_file, "server", err, errlen) < 0 ||
	    load_ca(ctx, set->server_tls_ca_file, "server", err, errlen) < 0)
		goto fail;
	if (mode >= SSLMODE_VERIFY_CA) {
		if (!set->server_tls_ca_file || !*set->server_tls_ca_file)
			SSL_CTX_set_default_verify_paths(ctx);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (SSL_CTX_set_alpn_protos(ctx, alpn_postgresql, sizeof(alpn_postgresql)) != 0) {
		openssl_reason(err, errlen, "cannot set ALPN");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int pf_tls_configure(const struct pf_settings *set, char *err, size_t errlen)
{
	int client_mode = pf_sslmode_parse(set->client_tls_sslmode);
	int server_mode = pf_sslmode_parse(set->server_tls_sslmode);
	if (client_mode < 0 || server_mode < 0) {
		snprintf(err, errlen, "unknown sslmode");
		return -1;
	}
	if (set->auth_type == AUTH_TYPE_CERT && client_mode != SSLMODE_VERIFY_FULL) {
		/* As PgBouncer: a certificate that names the user must also have been verified. */
		snprintf(err, errlen, "auth_type=cert requires client_tls_sslmode=verify-full");
		return -1;
	}
	SSL_CTX *accept_ctx = NULL, *connect_ctx = NULL;
	if (client_mode != SSLMODE_DISABLE && !(accept_ctx = make_accept_ctx(set, client_mode, err, errlen)))
		return -1;
	if (server_mode != SSLMODE_DISABLE && !(connect_ctx = make_connect_ctx(set, server_mode, err, errlen))) {
		SSL_CTX_free(accept_ctx);
		return -1;
	}
	/* Connections made with the old contexts hold their own references. */
	SSL_CTX_free(tls.accept_ctx);
	SSL_CTX_free(tls.connect_ctx);
	tls.accept_ctx = accept_ctx;
	tls.connect_ctx = connect_ctx;
	tls.client_mode = client_mode;
	tls.server_mode = server_mode;
	return 0;
}

void pf_tls_shutdown(void)
{
	SSL_CTX_free(tls.accept_ctx);
	SSL_CTX_free(tls.connect_ctx);
	tls.accept_ctx = tls.connect_ctx = NULL;
}

enum pf_sslmode pf_tls_client_mode(void)
{
	return tls.client_mode;
}

enum pf_sslmode pf_tls_server_mode(void)
{
	return tls.server_mode;
}

bool pf_tls_client_available(void)
{
	return tls.accept_ctx != NULL;
}

static SSL *ssl_on(SSL_CTX *ctx, int fd)
{
	if (!ctx)
		return NULL;
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

/*
 * Direct TLS: the stream read the start of the ClientHello before it knew. This BIO gives
 * OpenSSL those bytes first, then reads the socket.
 */
struct early_bio {
	int fd;
	size_t len, pos;
	uint8_t data[];
};

static int early_read(BIO *bio, char *out, int len)
{
	struct early_bio *e = BIO_get_data(bio);
	BIO_clear_retry_flags(bio);
	if (e->pos < e->len) {
		size_t n = e->len - e->pos < (size_t)len ? e->len - e->pos : (size_t)len;
		memcpy(out, e->data + e->pos, n);
		e->pos += n;
		return (int)n;
	}
	ssize_t n = recv(e->fd, out, (size_t)len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_read(bio);
	return (int)n;
}

static long early_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	(void)bio;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int early_destroy(BIO *bio)
{
	free(BIO_get_data(bio));
	BIO_set_data(bio, NULL);
	return 1;
}

static BIO_METHOD *early_method;

static BIO *early_bio_new(int fd, const uint8_t *early, size_t len)
{
	if (!early_method) {
		early_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "pgfjord early bytes");
		BIO_meth_set_read(early_method, early_read);
		BIO_meth_set_ctrl(early_method, early_ctrl);
		BIO_meth_set_destroy(early_method, early_destroy);
	}
	BIO *bio = BIO_new(early_method);
	if (!bio)
		return NULL;
	struct early_bio *e = pf_xmalloc(sizeof(*e) + len);
	e->fd = fd;
	e->len = len;
	e->pos = 0;
	memcpy(e->data, early, len);
	BIO_set_data(bio, e);
	BIO_set_init(bio, 1);
	return bio;
}

SSL *pf_tls_accept_new(int fd, const uint8_t *early, size_t early_len)
{
	SSL *ssl = ssl_on(tls.accept_ctx, fd);
	if (!ssl)
		return NULL;
	SSL_set_accept_state(ssl);
	if (early_len) {
		BIO *rbio = early_bio_new(fd, early, early_len);
		if (!rbio) {
			SSL_free(ssl);
			return NULL;
		}
		SSL_set0_rbio(ssl, rbio); /* the socket BIO stays the write side */
	}
	return ssl;
}

static bool is_numeric_host(const char *host)
{
	unsigned char addr[16];
	return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

SSL *pf_tls_connect_new(int fd, const char *host)
{
	SSL *ssl = ssl_on(tls.connect_ctx, fd);
	if (!ssl)
		return NULL;
	SSL_set_connect_state(ssl);
	if (host && *host) {
		/* SNI names a host, never an address (RFC 6066), as libpq does. */
		if (!is_numeric_host(host))
			SSL_set_tlsext_host_name(ssl, host);
		if (tls.server_mode == SSLMODE_VERIFY_FULL) {
			bool ok = is_numeric_host(host) ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1
							: SSL_set1_host(ssl, host) == 1;
			if (!ok) {
				SSL_free(ssl);
				return NULL;
			}
		}
	}
	return ssl;
}

enum pf_tls_step pf_tls_handshake(SSL *ssl, char *err, size_t errlen)
{
	ERR_clear_error();
	int rc = SSL_do_handshake(ssl);
	if (rc == 1)
		return TLS_STEP_DONE;
	int e = SSL_get_error(ssl, rc);
	if (e == SSL_ERROR_WANT_READ)
		return TLS_STEP_WANT_READ;
	if (e == SSL_ERROR_WANT_WRITE)
		return TLS_STEP_WANT_WRITE;
	long verify = SSL_get_verify_result(ssl);
	if (verify != X509_V_OK && ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
		snprintf(err, errlen, "certificate verify failed: %s", X509_verify_cert_error_string(verify));
		ERR_clear_error();
	} else if (e == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0) {
		snprintf(err, errlen, "connection closed during the TLS handshake");
	} else {
		openssl_reason(err, errlen, "TLS handshake failed");
	}
	return TLS_STEP_FAILED;
}

static void hs_step(struct pf_tls_hs *hs);

static void hs_on_event(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hs_step(arg);
}

static void hs_step(struct pf_tls_hs *hs)
{
	char err[256];
	enum pf_tls_step step = pf_tls_handshake(hs->ssl, err, sizeof(err));
	if (step == TLS_STEP_WANT_READ || step == TLS_STEP_WANT_WRITE) {
		short what = step == TLS_STEP_WANT_READ ? EV_READ : EV_WRITE;
		if (event_get_events(hs->ev) != what) {
			struct event_base *base = event_get_base(hs->ev);
			event_free(hs->ev);
			hs->ev = event_new(base, hs->fd, what, hs_on_event, hs);
		}
		event_add(hs->ev, NULL);
		return;
	}
	SSL *ssl = hs->ssl;
	hs->ssl = NULL;
	event_free(hs->ev);
	hs->ev = NULL;
	if (step == TLS_STEP_DONE) {
		hs->done(hs->arg, ssl, NULL);
	} else {
		SSL_free(ssl);
		hs->done(hs->arg, NULL, err);
	}
}

void pf_tls_hs_start(struct pf_tls_hs *hs, struct event_base *base, int fd, SSL *ssl, pf_tls_hs_done done, void *arg)
{
	hs->ssl = ssl;
	hs->fd = fd;
	hs->done = done;
	hs->arg = arg;
	hs->ev = event_new(base, fd, EV_READ, hs_on_event, hs);
	hs_step(hs);
}

void pf_tls_hs_cancel(struct pf_tls_hs *hs)
{
	if (hs->ev)
		event_free(hs->ev);
	hs->ev = NULL;
	if (hs->ssl)
		SSL_free(hs->ssl);
	hs->ssl = NULL;
}

const char *pf_tls_describe(const SSL *ssl, char *buf, size_t len)
{
	if (!ssl) {
		snprintf(buf, len, "no");
		return buf;
	}
	int n = snprintf(buf, len, "%s/%s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	int group = SSL_get_negotiated_group((SSL *)ssl);
	const char *name = group > 0 ? OBJ_nid2sn(group & ~TLSEXT_nid_unknown) : NULL;
	if (name && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "/ECDH=%s", name);
	return buf;
}

bool pf_tls_alpn_postgresql(const SSL *ssl)
{
	const unsigned char *proto = NULL;
	unsigned int len = 0;
	SSL_get0_alpn_selected(ssl, &proto, &len);
	return len == sizeof(alpn_postgresql) - 1 && memcmp(proto, alpn_postgresql + 1, len) == 0;
}

char *pf_tls_peer_common_name(const SSL *ssl)
{
	X509 *cert = SSL_get1_peer_certificate(ssl);
	if (!cert)
		return NULL;
	char cn[256];
	int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
	X509_free(cert);
	/* A CN with an embedded NUL would name someone else. */
	if (n <= 0 || (size_t)n != strlen(cn))
		return NULL;
	return pf_xstrdup(cn);
}

size_t pf_tls_server_end_point(const SSL *ssl, bool we_are_server, uint8_t *out, size_t outlen)
{
	X509 *cert = we_are_server ? SSL_get_certificate(ssl) : SSL_get0_peer_certificate(ssl);
	if (!cert)
		return 0;
	/* RFC 5929: the certificate's signature hash, MD5 and SHA-1 replaced by SHA-256. */
	int md_nid = NID_undef;
	if (!X509_get_signature_info(cert, &md_nid, NULL, NULL, NULL))
		return 0;
	const EVP_MD *md = (md_nid == NID_md5 || md_nid == NID_sha1) ? EVP_sha256() : EVP_get_digestbynid(md_nid);
	unsigned int len = 0;
	if (!md || (size_t)EVP_MD_get_size(md) > outlen || X509_digest(cert, md, out, &len) != 1)
		return 0;
	return len;
}

static ssize_t io_result(SSL *ssl, int rc, bool reading)
{
	int e = SSL_get_error(ssl, rc);
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		if (reading)
			return 0;
		errno = EPIPE;
		return -1;
	default:
		ERR_clear_error();
		errno = ECONNRESET;
		return -1;
	}
}

ssize_t pf_tls_recv(SSL *ssl, void *buf, size_t len)
{
	ERR_clear_error();
	int n = SSL_read(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	return n > 0 ? n : io_result(ssl, n, true);
}

ssize_t pf_tls_send(SSL *ssl, const void *buf, size_t len)
{
	ERR_clear_error();
	int n = SSL_write(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	return n > 0 ? n : io_result(ssl, n, false);
}
