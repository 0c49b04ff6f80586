/*
 * stream.h - one socket's data path: read into an iobuf, frame PostgreSQL messages, ask the
 * owner what to do with each one, and write forwarded bytes to the partner stream.
 *
 * Protocol logic lives in the owner's on_packet callback, which looks at a message header
 * (and the whole body when it asks for it) and answers with a pf_pkt_action; this file
 * carries the decision out and is the only place that calls read()/write() on the data path.
 */
#ifndef PF_NET_STREAM_H
#define PF_NET_STREAM_H

#include <event2/event.h>
#include <event2/event_struct.h> /* events are embedded: no allocation per connection */
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/iobuf.h"
#include "net/tls.h"
#include "util/buf.h"

struct pf_stream;

struct pf_pkt {
	uint8_t type;         /* 0 for startup-phase packets, which have no type byte */
	uint32_t len;         /* whole message length including type byte and length */
	uint32_t hdr_len;     /* 5, or 4 for startup packets */
	const uint8_t *body;  /* set when the whole message is in the buffer */
	uint32_t body_len;
	bool full;
	/* The start of the body as far as it is buffered (avail bytes, at most body_len), so that
	 * an owner can look at the first bytes of a message it does not want held whole. */
	const uint8_t *prefix;
	uint32_t avail;
};

enum pf_pkt_action {
	PKT_FORWARD,     /* send the message to the partner (streamed if larger than the buffer) */
	PKT_SKIP,        /* drop the message (streamed) */
	PKT_CONSUMED,    /* the owner used the whole message; drop it */
	PKT_NEED_FULL,   /* call again once the whole message is buffered */
	PKT_FORWARD_STOP,/* forward, then stop processing until pf_stream_resume() */
	PKT_PAUSE,       /* leave the message unprocessed and stop reading until pf_stream_resume() */
	PKT_CLOSED,      /* the owner closed the stream; touch nothing */
	PKT_DETACHED,    /* the owner took the buffered bytes (pf_stream_begin_handshake); touch nothing */
	/* Drop the first drop_head bytes of the message and forward the rest (streamed). The owner
	 * has queued the new start with pf_stream_inject(), which keeps the order. */
	PKT_REPLACE_HEAD,
	PKT_NEED_MORE,    /* call again once more of the message is buffered (prefix too short) */
	PKT_CONSUMED_STOP,/* like PKT_CONSUMED, then stop processing until pf_stream_resume() */
};

enum pf_stream_event {
	STREAM_EOF,      /* peer closed, or a read/write error */
	STREAM_FLUSHED,  /* everything decided so far was written to the partner */
	STREAM_BAD_PACKET, /* a length below the header size, or a message asked for in full over max_full */
	STREAM_MSG_END,  /* the streamed message that notify_msg_end was set during has been forwarded whole */
};

struct pf_stream_ops {
	enum pf_pkt_action (*on_packet)(struct pf_stream *s, const struct pf_pkt *pkt);
	/* Returns false when it closed the stream. */
	bool (*on_event)(struct pf_stream *s, enum pf_stream_event ev);
};

struct pf_stream {
	int fd;
	bool startup_mode;   /* packets have no type byte (before login) */
	bool paused;         /* owner asked to stop reading */
	bool blocked;        /* partner cannot take more: wait for its write readiness */
	bool read_enabled;   /* ev_read is added */
	bool write_enabled;  /* ev_write is added */
	bool closed;
	bool handshaking;    /* a TLS handshake owns the socket: do not read it */
	bool skip_remain;    /* the rest of the current message is dropped, not forwarded */
	bool notify_flush;   /* call on_event(STREAM_FLUSHED) when the decided bytes are sent */
	bool notify_msg_end; /* call on_event(STREAM_MSG_END) when the message being streamed ends */
	uint32_t drop_head;  /* PKT_REPLACE_HEAD: bytes of the message to drop */
	uint32_t pkt_remain; /* bytes of the current message not yet received */
	uint32_t max_full;   /* largest message the owner may ask for in full */
	struct pf_iobuf *buf;
	struct pf_stream *partner; /* where forwarded bytes go */
	struct pf_buf out;   /* our own messages queued for this socket, sent before forwarded bytes */
	const struct pf_stream_ops *ops;
	void *owner;
	struct event ev_read;
	struct event *ev_write;  /* made on first need: most sockets never wait to write */
	uint64_t bytes_recv;
	uint64_t bytes_sent;
	SSL *tls;            /* set once a TLS handshake finished: all I/O goes through it */
};

void pf_stream_init(struct pf_stream *s, struct event_base *base, int fd, const struct pf_stream_ops *ops, void *owner);
/* Closes the socket, drops buffers and events. Safe to call twice. */
void pf_stream_close(struct pf_stream *s);
/* Start or continue processing buffered input and reading the socket. */
void pf_stream_resume(struct pf_stream *s);
void pf_stream_pause(struct pf_stream *s);
/* Begin serving a new socket; try_read when bytes are known to be waiting (TCP_DEFER_ACCEPT). */
void pf_stream_start(struct pf_stream *s, bool try_read);
/* Like resume, but from the event loop: safe inside this stream's own callbacks. */
void pf_stream_resume_later(struct pf_stream *s);
/* Queue our own bytes for this socket and try to send them now. false = the socket failed. */
bool pf_stream_write(struct pf_stream *s, const void *data, size_t len);
bool pf_stream_write_buf(struct pf_stream *s, struct pf_buf *b); /* and resets b */
/*
 * From inside on_packet: queue our own bytes for the partner, after every byte decided so far
 * and before the message being looked at (those decided bytes move to the partner's queue,
 * a copy only when something is injected). Sent with the stream's next batch.
 */
void pf_stream_inject(struct pf_stream *s, const void *data, size_t len);
/* Try to send what is queued on s now (after an inject from outside its partner's callback). */
void pf_stream_flush(struct pf_stream *s);
/* True when nothing is queued or buffered on this stream. */
bool pf_stream_idle(const struct pf_stream *s);
/* Hand the socket to a TLS handshake: the stream stops reading until pf_stream_set_tls.
 * With `early`, every unprocessed byte moves there (direct TLS: the start of the
 * ClientHello; the owner then answers PKT_DETACHED); without, the buffer is left alone. */
void pf_stream_begin_handshake(struct pf_stream *s, struct pf_buf *early);
/* From now on read and write through this TLS connection (its handshake is done). */
void pf_stream_set_tls(struct pf_stream *s, SSL *tls);
/* Bytes received but not yet processed. */
uint32_t pf_stream_unprocessed(const struct pf_stream *s);
/* The partner may hold part of a message from s: some of it was forwarded, or bytes decided
 * for it are not sent yet (and go if s closes). Nothing of ours may be written to it then. */
bool pf_stream_partner_mid_message(const struct pf_stream *s);

#endif
