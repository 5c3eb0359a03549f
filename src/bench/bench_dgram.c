/*
 * bench_dgram.c - the udp and dtls modes: --window datagrams in flight
 * per socket, each carrying its sequence number.
 *
 * Slot i of a socket only ever carries sequence numbers i, i + window,
 * i + 2 * window, ..., so an echo finds its slot by one division and a
 * late echo (of a datagram already counted lost) is told apart from a
 * forged one.  The rest of the datagram is the socket's pattern at
 * offset seq * size: a byte flipped anywhere, the sequence number
 * included, shows up as a mismatch.
 *
 * Plain UDP moves datagrams in batches: one recvmmsg() per readiness
 * and one sendmmsg() for the replacements, each datagram sent from two
 * iovecs (its header and its place in the pattern), so nothing is
 * copied.  DTLS goes through the transport, one record per call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "bench_int.h"

#define HDR 8		/* little-endian sequence number */
#define BATCH 64	/* datagrams per recvmmsg / sendmmsg */

/* Plain UDP datagrams queued for one sendmmsg, and the receive side. */
struct secho_bench_batch {
	struct secho_bench_conn *c;	/* whose datagrams are queued */
	uint32_t gen;			/* c's generation when queued */
	unsigned n;
	uint32_t slot[BATCH];
	unsigned char hdr[BATCH][HDR];
	struct iovec iov[BATCH][2];
	struct mmsghdr m[BATCH];
	unsigned nrecv;			/* receive batch */
	size_t stride;			/* size + 1: a longer one shows */
	struct iovec riov[BATCH];
	struct mmsghdr rm[BATCH];
};

static struct secho_bench_slot *
slot_of(struct secho_bench_worker *w, const struct secho_bench_conn *c,
    uint32_t i)
{
	return &w->slots[(size_t)c->idx * (size_t)w->cfg->window + i];
}

static uint64_t
get_seq(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = HDR - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void
put_seq(unsigned char *p, uint64_t seq)
{
	for (int i = 0; i < HDR; i++)
		p[i] = (unsigned char)(seq >> (8 * i));
}

/* The payload after the header checks out for seq. */
static int
payload_ok(const struct secho_bench_worker *w,
    const struct secho_bench_conn *c, const unsigned char *buf,
    uint64_t seq, size_t len)
{
	size_t size = w->cfg->size;

	return len == size && memcmp(buf + HDR, secho_bench_expect(w,
	    c->seed, seq * size + HDR), size - HDR) == 0;
}

int
secho_bench_dgram_init(struct secho_bench_worker *w)
{
	struct secho_bench_batch *b = calloc(1, sizeof(*b));
	size_t fit;

	if ((w->batch = b) == NULL)
		return -1;
	b->stride = w->cfg->size + 1;
	fit = w->rbuf_len / b->stride;
	b->nrecv = (unsigned)(fit < BATCH ? fit : BATCH);
	if (b->nrecv > (unsigned)w->cfg->window)
		b->nrecv = (unsigned)w->cfg->window;
	for (unsigned i = 0; i < b->nrecv; i++) {
		b->riov[i].iov_base = w->rbuf + i * b->stride;
		b->riov[i].iov_len = b->stride;
		b->rm[i].msg_hdr.msg_iov = &b->riov[i];
		b->rm[i].msg_hdr.msg_iovlen = 1;
	}
	return 0;
}

/* The queued datagrams from `from` on did not go: free their slots. */
static void
unqueue(struct secho_bench_worker *w, struct secho_bench_batch *b,
    unsigned from)
{
	for (unsigned j = from; j < b->n; j++) {
		slot_of(w, b->c, b->slot[j])->busy = 0;
		w->issued--;
		if (w->cfg->rate > 0)
			secho_bench_token_put(w, b->c->idx, b->slot[j]);
	}
	secho_bench_conn_again(w, b->c);	/* fill() tries again */
}

/* Sends what is queued, in as few sendmmsg() calls as the kernel takes. */
static void
flush(struct secho_bench_worker *w)
{
	struct secho_bench_batch *b = w->batch;
	unsigned done = 0;
	int k = 0;

	if (b == NULL || b->n == 0)
		return;
	/* A connection that failed since took its slots with it. */
	while (b->c->gen == b->gen && done < b->n) {
		k = sendmmsg(b->c->c.fd, b->m + done, b->n - done, 0);
		if (k > 0)
			done += (unsigned)k;
		else if (errno != EINTR)
			break;
	}
	if (b->c->gen == b->gen && done < b->n) {
		if (errno == EAGAIN || errno == ENOBUFS)
			unqueue(w, b, done);
		else {
			b->n = 0;	/* fail() may flush */
			secho_bench_conn_fail(w, b->c, strerror(errno));
		}
	}
	b->n = 0;
}

/* Queues slot i's datagram on c for the next flush(). */
static void
queue(struct secho_bench_worker *w, struct secho_bench_conn *c, uint32_t i)
{
	struct secho_bench_batch *b = w->batch;
	struct secho_bench_slot *s = slot_of(w, c, i);
	size_t size = w->cfg->size;
	unsigned k;

	if (b->n > 0 && (b->c != c || b->gen != c->gen))
		flush(w);
	b->c = c;
	b->gen = c->gen;
	k = b->n++;
	put_seq(b->hdr[k], s->seq);
	b->iov[k][0].iov_base = b->hdr[k];
	b->iov[k][0].iov_len = HDR;
	b->iov[k][1].iov_base = (void *)secho_bench_expect(w, c->seed,
	    s->seq * size + HDR);
	b->iov[k][1].iov_len = size - HDR;
	memset(&b->m[k], 0, sizeof(b->m[k]));
	b->m[k].msg_hdr.msg_iov = b->iov[k];
	b->m[k].msg_hdr.msg_iovlen = 2;
	b->slot[k] = i;
	if (b->n == BATCH)
		flush(w);
}

/* DTLS: one record now; 0, 1 when the socket is full, -1 if c failed. */
static int
dtls_send(struct secho_bench_worker *w, struct secho_bench_conn *c,
    struct secho_bench_slot *s)
{
	size_t size = w->cfg->size;
	unsigned char *buf = w->rbuf + w->rbuf_len;	/* the send area */
	ssize_t n;

	put_seq(buf, s->seq);
	memcpy(buf + HDR, secho_bench_expect(w, c->seed, s->seq * size +
	    HDR), size - HDR);
	n = secho_conn_write(&c->c, buf, size);
	if (n == SECHO_WANT_WRITE || n == SECHO_WANT_READ)
		return 1;
	if (n < 0) {
		secho_bench_conn_fail(w, c, secho_conn_error(&c->c));
		return -1;
	}
	return 0;
}

/*
 * Sends (DTLS) or queues (UDP) slot i's next datagram; 0, 1 when the
 * socket is full (try again next turn), -1 when c failed.
 */
static int
send_slot(struct secho_bench_worker *w, struct secho_bench_conn *c,
    uint32_t i, uint64_t t0)
{
	struct secho_bench_slot *s = slot_of(w, c, i);
	int r;

	/* Busy first: a failure on the way retires it with the rest. */
	s->busy = 1;
	s->t0 = t0;
	c->state = BC_BUSY;
	w->issued++;
	if (w->cfg->proto == SECHO_UDP) {
		queue(w, c, i);
		return c->state == BC_IDLE ? -1 : 0;	/* a full batch */
	}
	if ((r = dtls_send(w, c, s)) == 1) {
		s->busy = 0;
		w->issued--;
	}
	return r;
}

/* Closed loop: a datagram in every free slot of c. */
static void
fill(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	int r;

	if (w->cfg->rate > 0)
		return;
	for (uint32_t i = 0; i < (uint32_t)w->cfg->window; i++) {
		if (slot_of(w, c, i)->busy || !secho_bench_may_start(w))
			continue;
		if ((r = send_slot(w, c, i, secho_bench_now_ns())) == 1)
			secho_bench_conn_again(w, c);	/* socket full */
		if (r != 0)
			return;
	}
}

/* Puts slot i back to work: a datagram now, or a token for --rate. */
static void
refill_slot(struct secho_bench_worker *w, struct secho_bench_conn *c,
    uint32_t i)
{
	if (w->cfg->rate > 0) {
		if (w->running)
			secho_bench_token_put(w, c->idx, i);
		return;
	}
	fill(w, c);
}

/* The slot's datagram is settled (echoed or lost): the next number. */
static void
retire_slot(struct secho_bench_slot *s, int window)
{
	s->busy = 0;
	s->seq += (uint64_t)window;
}

/* One datagram came back: match it to its slot and check it. */
static void
on_echo(struct secho_bench_worker *w, struct secho_bench_conn *c,
    const unsigned char *buf, size_t len)
{
	uint64_t seq;
	struct secho_bench_slot *s;
	uint32_t i;
	int ok;

	if (len < HDR) {
		w->st.mismatches++;
		return;
	}
	seq = get_seq(buf);
	i = (uint32_t)(seq % (uint64_t)w->cfg->window);
	s = slot_of(w, c, i);
	if (seq > s->seq || (seq == s->seq && !s->busy)) {
		w->st.mismatches++;	/* never sent: forged or altered */
		return;
	}
	ok = payload_ok(w, c, buf, seq, len);
	if (seq < s->seq) {	/* already counted lost */
		if (ok)
			w->st.late++;
		else
			w->st.mismatches++;
		return;
	}
	w->now = secho_bench_now_ns();
	secho_bench_op_done(w, w->now - s->t0, w->cfg->size, !ok);
	atomic_store_explicit(&w->run->ever_connected, 1,
	    memory_order_relaxed);
	retire_slot(s, w->cfg->window);
	refill_slot(w, c, i);
}

/* DTLS: a record per read, until the transport wants to wait. */
static void
dtls_pump(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	for (int n = 0; n < 256; n++) {
		ssize_t len = secho_conn_read(&c->c, w->rbuf, w->rbuf_len);

		if (len == SECHO_WANT_READ || len == SECHO_WANT_WRITE) {
			fill(w, c);
			return;
		}
		if (len < 0) {
			secho_bench_conn_fail(w, c, len == SECHO_IO_EOF ?
			    "the server closed the DTLS session" :
			    secho_conn_error(&c->c));
			return;
		}
		on_echo(w, c, w->rbuf, (size_t)len);
		if (c->state == BC_IDLE)
			return;
	}
	secho_bench_conn_again(w, c);
}

/*
 * UDP: a batch per recvmmsg(), until the socket is empty (edge-triggered
 * epoll), then the replacements in one sendmmsg().
 */
static void
udp_pump(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	struct secho_bench_batch *b = w->batch;
	int turn, k = 0;

	for (turn = 0; turn < 16; turn++) {
		k = recvmmsg(c->c.fd, b->rm, b->nrecv, MSG_DONTWAIT, NULL);
		if (k == -1 && (errno == EAGAIN || errno == EINTR))
			break;
		if (k == -1) {
			secho_bench_conn_fail(w, c, strerror(errno));
			return;
		}
		for (int j = 0; j < k && c->state != BC_IDLE; j++)
			on_echo(w, c, b->riov[j].iov_base, b->rm[j].msg_len);
		if (c->state == BC_IDLE)
			return;
	}
	if (turn == 16)
		secho_bench_conn_again(w, c);
	fill(w, c);
	flush(w);
}

static void
dgram_pump(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	if (w->cfg->proto == SECHO_UDP)
		udp_pump(w, c);
	else
		dtls_pump(w, c);
}

/* Fills every free slot of c (closed loop) or offers it (--rate). */
static void
dgram_ready(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	if (!w->running)
		return;
	if (w->cfg->rate <= 0) {
		fill(w, c);
		return;
	}
	for (uint32_t i = 0; i < (uint32_t)w->cfg->window; i++)
		if (!slot_of(w, c, i)->busy)
			secho_bench_token_put(w, c->idx, i);
}

static void
dgram_start(struct secho_bench_worker *w, struct secho_bench_conn *c,
    uint32_t i, uint64_t t0)
{
	if (send_slot(w, c, i, t0) == 1)	/* full: offer it again */
		secho_bench_token_put(w, c->idx, i);
}

static void
dgram_go(struct secho_bench_worker *w)
{
	for (uint32_t i = 0; i < w->nconns && !w->fatal; i++)
		if (w->conns[i].state == BC_READY)
			dgram_ready(w, &w->conns[i]);
}

/* Datagrams older than --timeout are lost, not errors. */
static void
dgram_sweep(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	uint64_t tmo = (uint64_t)w->cfg->timeout_ms * 1000000ULL;

	for (uint32_t i = 0; i < (uint32_t)w->cfg->window; i++) {
		struct secho_bench_slot *s = slot_of(w, c, i);

		if (!s->busy || s->t0 + tmo > w->now)
			continue;
		w->st.lost++;
		w->retired++;
		retire_slot(s, w->cfg->window);
		refill_slot(w, c, i);
		if (c->state == BC_IDLE)
			return;
	}
}

static uint64_t
dgram_inflight(const struct secho_bench_worker *w,
    const struct secho_bench_conn *c)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < (uint32_t)w->cfg->window; i++) {
		struct secho_bench_slot *s = &w->slots[(size_t)c->idx *
		    (size_t)w->cfg->window + i];

		n += s->busy;
		if (s->busy)	/* the new socket starts with none */
			retire_slot(s, w->cfg->window);
	}
	return n;
}

static void
dgram_reopen(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	if (!atomic_load_explicit(&w->run->stop, memory_order_relaxed))
		secho_bench_conn_open(w, c);
}

const struct secho_bench_mode_ops secho_bench_dgram_ops = {
	.ready = dgram_ready,
	.pump = dgram_pump,
	.start = dgram_start,
	.sweep = dgram_sweep,
	.go = dgram_go,
	.reopen = dgram_reopen,
	.refill = flush,	/* what sweeps and the open loop queued */
	.inflight = dgram_inflight,
};
