/*
 * stream.c - the data path of one socket: read, frame, let the owner decide, forward.
 *
 * Forwarded bytes are written straight from this stream's receive buffer to the partner's
 * socket, one send() per processed batch, never copied into another buffer. When the
 * partner cannot take more, this stream stops reading until the partner's socket drains.
 * send()/recv() rather than write()/read(): they reach the socket without the VFS layer
 * (file position lock, fsnotify), which shows at four calls per transaction.
 *
 * TLS: OpenSSL wants a write that could not finish retried with the same bytes, so a TLS
 * stream has one source of outgoing bytes, its `out` queue; forwarded bytes are copied
 * there (encryption costs far more than the copy). Bytes OpenSSL has decrypted but we
 * have not taken yet do not make the socket readable, so they are asked for explicitly.
 */
#include "net/stream.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/log.h"

/* Packets handled per wake-up before yielding to other connections (cf. sbuf_loopcnt). */
#define STREAM_MAX_ROUNDS 5

static bool stream_run(struct pf_stream *s, bool readable);
static void on_write_ready(evutil_socket_t fd, short what, void *arg);
static bool flush_out(struct pf_stream *s);

/* A paused stream keeps reading into its buffer until the buffer is full. */
static bool buffer_full(const struct pf_stream *s)
{
	return s->buf && s->buf->recv_pos == s->buf->size && s->buf->send_pos == 0;
}

/*
 * Read interest changes cost an epoll_ctl each, so they are kept for real backpressure:
 * a paused stream (a client waiting for a server) stays registered and its bytes are
 * buffered; only a blocked stream, or a paused one with a full buffer, stops reading.
 */
static void update_read_interest(struct pf_stream *s)
{
	if (s->closed)
		return;
	bool want = !s->blocked && !s->handshaking && !(s->paused && buffer_full(s));
	if (want && !s->read_enabled) {
		event_add(&s->ev_read, NULL);
		s->read_enabled = true;
	} else if (!want && s->read_enabled) {
		event_del(&s->ev_read);
		s->read_enabled = false;
	}
}

static void want_write(struct pf_stream *s, bool want)
{
	if (s->closed || want == s->write_enabled)
		return;
	if (want) {
		if (!s->ev_write)
			s->ev_write = event_new(event_get_base(&s->ev_read), s->fd, EV_WRITE | EV_PERSIST, on_write_ready, s);
		event_add(s->ev_write, NULL);
	} else {
		event_del(s->ev_write);
	}
	s->write_enabled = want;
}

/* A socket failed or reached EOF: tell its owner. false when `watch` got closed as a result. */
static bool report_eof(struct pf_stream *failed, struct pf_stream *watch)
{
	if (!failed->closed)
		failed->ops->on_event(failed, STREAM_EOF);
	return !watch->closed;
}

static ssize_t sock_recv(struct pf_stream *s, void *data, size_t len)
{
	return s->tls ? pf_tls_recv(s->tls, data, len) : recv(s->fd, data, len, 0);
}

static ssize_t sock_send(struct pf_stream *s, const void *data, size_t len)
{
	return s->tls ? pf_tls_send(s->tls, data, len) : send(s->fd, data, len, MSG_NOSIGNAL);
}

/* Decrypted bytes waiting inside OpenSSL: no socket event will announce them. */
static bool tls_pending(const struct pf_stream *s)
{
	return s->tls && SSL_pending(s->tls) > 0;
}

static void release_buffer_if_empty(struct pf_stream *s)
{
	struct pf_iobuf *buf = s->buf;
	if (buf && buf->send_pos == buf->recv_pos) {
		pf_iobuf_put(buf);
		s->buf = NULL;
	}
}

/* The owner asked to hear when everything decided has reached the partner's socket. */
static bool notify_if_flushed(struct pf_stream *s)
{
	if (s->notify_flush && !s->pkt_remain && !(s->partner && s->partner->out.len)) {
		s->notify_flush = false;
		if (!s->ops->on_event(s, STREAM_FLUSHED))
			return false;
	}
	return !s->closed;
}

/* Our own queue went out with forwarded bytes behind it: keep a small buffer, since the
 * owner rewrites message starts there (a server gets a renamed Bind per transaction), and
 * free a large one. Elsewhere it is freed, so that idle connections hold none. */
static void out_sent_with_forwarded(struct pf_stream *s)
{
	if (s->out.cap <= 512)
		s->out.len = 0;
	else
		pf_buf_free(&s->out);
}

/* Our queued bytes, then the decided ones, in one sendmsg(): a renamed message start and the
 * rest of the message cost one system call, as a plain forward does. */
static ssize_t send_two(struct pf_stream *dst, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	struct iovec iov[2] = { { (void *)a, alen }, { (void *)b, blen } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	for (;;) {
		ssize_t n = sendmsg(dst->fd, &msg, MSG_NOSIGNAL);
		if (n >= 0 || errno != EINTR)
			return n;
	}
}

/* Write the decided bytes to the partner. false when s got closed. */
static bool send_decided(struct pf_stream *s)
{
	struct pf_iobuf *buf = s->buf;
	struct pf_stream *dst = s->partner;
	if (!buf || buf->send_pos == buf->pkt_pos) {
		/* Bytes injected by the owner with nothing decided after them (a message replaced
		 * by ours): send them now. A TLS partner may also just have drained its queue. */
		if (dst && !dst->closed && dst->out.len && !dst->write_enabled) {
			if (!flush_out(dst))
				return report_eof(dst, s);
			if (dst->out.len) {
				s->blocked = true;
				return true;
			}
		}
		/* Every byte was consumed here (a login message): an idle client keeps no buffer. */
		release_buffer_if_empty(s);
		return notify_if_flushed(s);
	}
	if (!dst || dst->closed) {
		/* Nobody to forward to (the partner left): drop the bytes. */
		buf->send_pos = buf->pkt_pos;
		release_buffer_if_empty(s);
		return true;
	}
	if (dst->tls) {
		/* Copied into the TLS stream's only output queue (see the top of this file). */
		pf_buf_put(&dst->out, buf->data + buf->send_pos, buf->pkt_pos - buf->send_pos);
		buf->send_pos = buf->pkt_pos;
	}
	if (dst->out.len && !dst->tls && !dst->write_enabled) {
		size_t queued = dst->out.len;
		uint32_t pending = buf->pkt_pos - buf->send_pos;
		ssize_t n = send_two(dst, dst->out.data, queued, buf->data + buf->send_pos, pending);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return report_eof(dst, s);
		if (n < 0)
			n = 0;
		dst->bytes_sent += (uint64_t)n;
		if ((size_t)n < queued) {
			memmove(dst->out.data, dst->out.data + n, queued - (size_t)n);
			dst->out.len -= (size_t)n;
			want_write(dst, true);
			s->blocked = true;
			return true;
		}
		out_sent_with_forwarded(dst);
		buf->send_pos += (uint32_t)((size_t)n - queued);
	} else if (dst->out.len) {
		if (!flush_out(dst))
			return report_eof(dst, s);
		if (dst->out.len) {
			s->blocked = true;
			return true;
		}
	}
	while (buf->send_pos < buf->pkt_pos) {
		ssize_t n = sock_send(dst, buf->data + buf->send_pos, buf->pkt_pos - buf->send_pos);
		if (n > 0) {
			buf->send_pos += (uint32_t)n;
			dst->bytes_sent += (uint64_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			s->blocked = true;
			want_write(dst, true);
			return true;
		}
		return report_eof(dst, s);
	}
	release_buffer_if_empty(s);
	return notify_if_flushed(s);
}

/* Drop `take` bytes at pkt_pos, keeping any decided-but-unsent bytes in front of them. */
static void drop_bytes(struct pf_iobuf *buf, uint32_t take)
{
	uint32_t pending = buf->pkt_pos - buf->send_pos;
	if (pending)
		memmove(buf->data + buf->send_pos + take, buf->data + buf->send_pos, pending);
	buf->send_pos += take;
	buf->pkt_pos += take;
}

/* Make room for a whole message of len bytes starting at pkt_pos. false = must wait. */
static bool make_room_for(struct pf_stream *s, uint32_t len)
{
	struct pf_iobuf *buf = s->buf;
	if (buf->send_pos < buf->pkt_pos)
		return false; /* flush decided bytes first; we come back after */
	if (len > buf->size)
		s->buf = buf = pf_iobuf_grow(buf, len);
	else if (buf->pkt_pos + len > buf->size)
		pf_iobuf_compact(buf);
	return true;
}

enum process_result { PROC_MORE, PROC_WAIT, PROC_CLOSED };

/* A paused stream waits, maybe long, with few bytes: keep them in a small buffer. */
static void shrink_paused_buffer(struct pf_stream *s)
{
	struct pf_iobuf *buf = s->buf;
	uint32_t keep = buf ? buf->recv_pos - buf->send_pos : 0;
	if (!buf || buf->size <= PF_IOBUF_SMALL_SIZE || keep > PF_IOBUF_SMALL_SIZE || buf->send_pos != buf->pkt_pos)
		return;
	struct pf_iobuf *small = pf_iobuf_get_small();
	memcpy(small->data, buf->data + buf->send_pos, keep);
	small->recv_pos = keep;
	pf_iobuf_put(buf);
	s->buf = small;
}

/* Handle every complete header in the buffer. */
static enum process_result process_buffer(struct pf_stream *s)
{
	while (!s->paused && !s->blocked && !s->handshaking && s->buf) {
		struct pf_iobuf *buf = s->buf;
		uint32_t avail = buf->recv_pos - buf->pkt_pos;
		if (!avail)
			return PROC_MORE;
		if (s->pkt_remain) {
			uint32_t take = avail < s->pkt_remain ? avail : s->pkt_remain;
			if (s->skip_remain)
				drop_bytes(buf, take);
			else
				buf->pkt_pos += take;
			s->pkt_remain -= take;
			if (!s->pkt_remain && s->notify_msg_end) {
				s->notify_msg_end = false;
				s->ops->on_event(s, STREAM_MSG_END);
				if (s->closed)
					return PROC_CLOSED;
			}
			continue;
		}
		uint32_t hdr = s->startup_mode ? 4 : 5;
		if (avail < hdr)
			return PROC_MORE;
		const uint8_t *p = buf->data + buf->pkt_pos;
		struct pf_pkt pkt;
		pkt.hdr_len = hdr;
		if (s->startup_mode) {
			pkt.type = 0;
			pkt.len = pf_get_u32(p);
		} else {
			pkt.type = p[0];
			uint32_t l = pf_get_u32(p + 1);
			pkt.len = l + 1;
			if (l > 0x7fffffffU)
				pkt.len = 0; /* force the bad-length path below */
		}
		if (pkt.len < hdr) {
			s->ops->on_event(s, STREAM_BAD_PACKET);
			return PROC_CLOSED;
		}
		pkt.full = avail >= pkt.len;
		pkt.body = pkt.full ? p + hdr : NULL;
		pkt.body_len = pkt.len - hdr;
		pkt.prefix = p + hdr;
		pkt.avail = (pkt.full ? pkt.len : avail) - hdr;

		enum pf_pkt_action act = s->ops->on_packet(s, &pkt);
		if (s->closed)
			return PROC_CLOSED;
		uint32_t take = avail < pkt.len ? avail : pkt.len;
		switch (act) {
		case PKT_FORWARD:
		case PKT_FORWARD_STOP:
			buf->pkt_pos += take;
			s->pkt_remain = pkt.len - take;
			s->skip_remain = false;
			if (act == PKT_FORWARD_STOP)
				s->paused = true;
			break;
		case PKT_SKIP:
		case PKT_CONSUMED:
		case PKT_CONSUMED_STOP:
			drop_bytes(buf, take);
			s->pkt_remain = pkt.len - take;
			s->skip_remain = true;
			if (act == PKT_CONSUMED_STOP)
				s->paused = true;
			break;
		case PKT_REPLACE_HEAD:
			/* The owner saw at least drop_head bytes (it looked at them), and its inject
			 * moved every decided byte to the partner's queue, so nothing is in front. */
			drop_bytes(buf, s->drop_head);
			take -= s->drop_head;
			buf->pkt_pos += take;
			s->pkt_remain = pkt.len - s->drop_head - take;
			s->skip_remain = false;
			break;
		case PKT_NEED_MORE:
			if (pkt.full) {
				/* Nothing more will come: asking again would spin the event loop. */
				s->ops->on_event(s, STREAM_BAD_PACKET);
				return PROC_CLOSED;
			}
			if (buf->pkt_pos + avail < buf->size)
				return PROC_MORE; /* room to read more behind it */
			/* The buffer ends inside the message: make room for a few more bytes of it. */
			if (!make_room_for(s, pkt.len < avail + 4096 ? pkt.len : avail + 4096))
				return PROC_WAIT;
			return PROC_MORE;
		case PKT_NEED_FULL:
			if (pkt.full)
				break; /* owner changed its mind; ask again */
			if (pkt.len > s->max_full) {
				s->ops->on_event(s, STREAM_BAD_PACKET);
				return PROC_CLOSED;
			}
			return make_room_for(s, pkt.len) ? PROC_MORE : PROC_WAIT;
		case PKT_PAUSE:
			s->paused = true;
			break;
		case PKT_CLOSED:
			return PROC_CLOSED;
		case PKT_DETACHED:
			return PROC_WAIT;
		}
	}
	return PROC_WAIT;
}

/*
 * Read once. Returns -1 when s got closed, 0 when nothing came, 1 when bytes came and the
 * socket is probably drained (a short read), 2 when they filled the buffer (maybe more).
 * A short read is not followed by another: the level-triggered event tells us of more,
 * which saves the read() that would only return EAGAIN.
 */
static int read_some(struct pf_stream *s)
{
	if (!s->buf)
		s->buf = pf_iobuf_get(0);
	else if (!s->paused && s->buf->size == PF_IOBUF_SMALL_SIZE)
		s->buf = pf_iobuf_grow(s->buf, 0); /* the wait is over: read in full-size chunks again */
	struct pf_iobuf *buf = s->buf;
	if (buf->recv_pos == buf->size)
		pf_iobuf_compact(buf);
	uint32_t room = buf->size - buf->recv_pos;
	if (!room)
		return 0; /* full of bytes waiting for a decision or for the partner */
	for (;;) {
		ssize_t n = sock_recv(s, buf->data + buf->recv_pos, room);
		if (n > 0) {
			buf->recv_pos += (uint32_t)n;
			s->bytes_recv += (uint64_t)n;
			return (uint32_t)n == room || tls_pending(s) ? 2 : 1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			release_buffer_if_empty(s);
			return 0;
		}
		release_buffer_if_empty(s);
		s->ops->on_event(s, STREAM_EOF);
		return -1;
	}
}

/* Process, forward and read until there is nothing more to do now. false = closed.
 * Each round ends after processing, so no complete message is left behind unprocessed. */
static bool stream_run(struct pf_stream *s, bool readable)
{
	bool may_read = readable || tls_pending(s);
	for (int reads = 0;;) {
		enum process_result pr = process_buffer(s);
		if (pr == PROC_CLOSED || s->closed)
			return false;
		if (!send_decided(s))
			return false;
		if (s->paused || s->blocked || s->handshaking) {
			if (s->paused)
				shrink_paused_buffer(s);
			break;
		}
		if (pr == PROC_WAIT && s->buf && s->buf->pkt_pos < s->buf->recv_pos)
			continue; /* room was made for a whole message: look at it again */
		if (!may_read || reads++ == STREAM_MAX_ROUNDS)
			break;
		int r = read_some(s);
		if (r < 0 || s->closed)
			return false;
		if (r == 0)
			break;
		may_read = r == 2;
	}
	update_read_interest(s);
	return true;
}

static void on_read_ready(evutil_socket_t fd, short what, void *arg)
{
	struct pf_stream *s = arg;
	if (s->paused) {
		/* Buffer what comes (or notice EOF) without acting on it yet. */
		if (read_some(s) >= 0)
			update_read_interest(s);
		return;
	}
	/* EV_TIMEOUT alone marks our own wake-up for buffered bytes (pf_stream_resume_later). */
	stream_run(s, (what & EV_READ) != 0);
}

/* Send until done or the socket is full. Returns the bytes sent, or -1 on a socket error. */
static ssize_t send_some(struct pf_stream *s, const uint8_t *data, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = sock_send(s, data + done, len - done);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		return -1;
	}
	s->bytes_sent += done;
	return (ssize_t)done;
}

/* Send our own queued messages. false = socket error. */
static bool flush_out(struct pf_stream *s)
{
	ssize_t sent = send_some(s, s->out.data, s->out.len);
	if (sent < 0)
		return false;
	size_t done = (size_t)sent;
	if (done == s->out.len) {
		pf_buf_free(&s->out);
	} else {
		memmove(s->out.data, s->out.data + done, s->out.len - done);
		s->out.len -= done;
		want_write(s, true);
	}
	return true;
}

static void on_write_ready(evutil_socket_t fd, short what, void *arg)
{
	struct pf_stream *s = arg;
	if (!flush_out(s)) {
		report_eof(s, s);
		return;
	}
	if (s->out.len)
		return;
	want_write(s, false);
	struct pf_stream *src = s->partner;
	if (src && src->partner == s && src->blocked && !src->closed) {
		src->blocked = false;
		stream_run(src, false);
	}
}

void pf_stream_init(struct pf_stream *s, struct event_base *base, int fd, const struct pf_stream_ops *ops, void *owner)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->ops = ops;
	s->owner = owner;
	s->max_full = 1024 * 1024;
	pf_buf_init(&s->out);
	event_assign(&s->ev_read, base, fd, EV_READ | EV_PERSIST, on_read_ready, s);
}

void pf_stream_close(struct pf_stream *s)
{
	if (s->closed)
		return;
	s->closed = true;
	if (s->read_enabled)
		event_del(&s->ev_read);
	if (s->ev_write)
		event_free(s->ev_write);
	s->ev_write = NULL;
	s->read_enabled = s->write_enabled = false;
	if (s->tls) {
		/* close_notify if the socket takes it now; a TLS peer may log a missing one. */
		SSL_shutdown(s->tls);
		SSL_free(s->tls);
		s->tls = NULL;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	pf_iobuf_put(s->buf);
	s->buf = NULL;
	pf_buf_free(&s->out);
	/* A partner blocked on us has nowhere to send: let it drop its bytes and go on. */
	if (s->partner && s->partner->partner == s)
		s->partner->blocked = false;
}

void pf_stream_resume(struct pf_stream *s)
{
	if (s->closed)
		return;
	s->paused = false;
	stream_run(s, false);
}

void pf_stream_resume_later(struct pf_stream *s)
{
	if (s->closed)
		return;
	s->paused = false;
	update_read_interest(s);
	/* Buffered bytes do not make the socket readable: wake ourselves for them. */
	if (s->buf && s->buf->pkt_pos < s->buf->recv_pos && !s->blocked)
		event_active(&s->ev_read, EV_TIMEOUT, 0);
}

void pf_stream_start(struct pf_stream *s, bool try_read)
{
	s->paused = false;
	stream_run(s, try_read);
}

void pf_stream_pause(struct pf_stream *s)
{
	s->paused = true;
	update_read_interest(s);
}

bool pf_stream_write(struct pf_stream *s, const void *data, size_t len)
{
	if (s->closed)
		return false;
	/* Nothing queued: write straight from the caller's bytes, and queue only what is left,
	 * so that most connections never allocate an output buffer. */
	if (!s->out.len && !s->write_enabled && !s->tls) {
		ssize_t sent = send_some(s, data, len);
		if (sent < 0)
			return false;
		if ((size_t)sent == len)
			return true;
		data = (const uint8_t *)data + sent;
		len -= (size_t)sent;
	}
	pf_buf_put(&s->out, data, len);
	if (s->write_enabled)
		return true; /* already waiting for the socket */
	return flush_out(s);
}

void pf_stream_begin_handshake(struct pf_stream *s, struct pf_buf *early)
{
	s->handshaking = true;
	if (early && s->buf) {
		pf_buf_put(early, s->buf->data + s->buf->pkt_pos, s->buf->recv_pos - s->buf->pkt_pos);
		s->buf->pkt_pos = s->buf->send_pos = s->buf->recv_pos;
		release_buffer_if_empty(s);
	}
	update_read_interest(s);
}

void pf_stream_set_tls(struct pf_stream *s, SSL *tls)
{
	s->tls = tls;
	s->handshaking = false;
	pf_stream_resume_later(s);
}

bool pf_stream_write_buf(struct pf_stream *s, struct pf_buf *b)
{
	bool ok = pf_stream_write(s, b->data, b->len);
	pf_buf_reset(b);
	return ok;
}

void pf_stream_inject(struct pf_stream *s, const void *data, size_t len)
{
	struct pf_stream *dst = s->partner;
	struct pf_iobuf *buf = s->buf;
	if (!dst || dst->closed)
		return;
	if (buf && buf->send_pos < buf->pkt_pos) {
		pf_buf_put(&dst->out, buf->data + buf->send_pos, buf->pkt_pos - buf->send_pos);
		buf->send_pos = buf->pkt_pos;
	}
	pf_buf_put(&dst->out, data, len);
}

void pf_stream_flush(struct pf_stream *s)
{
	if (s->closed || !s->out.len || s->write_enabled)
		return;
	/* A failed socket shows up as an error on its next read. */
	flush_out(s);
}

bool pf_stream_idle(const struct pf_stream *s)
{
	return !s->buf && !s->out.len && !s->pkt_remain;
}

uint32_t pf_stream_unprocessed(const struct pf_stream *s)
{
	return s->buf ? s->buf->recv_pos - s->buf->pkt_pos : 0;
}

bool pf_stream_partner_mid_message(const struct pf_stream *s)
{
	return (s->pkt_remain && !s->skip_remain) || (s->buf && s->buf->send_pos < s->buf->pkt_pos);
}
