/*
 * bench_stream.c - the stream modes of secho-bench over TCP or TLS: rr
 * (request/response), bulk (both directions at once), hs (a connection
 * per operation) and hold (open many, then leave them idle).
 *
 * Nothing is copied to be sent: every connection's byte stream is a
 * window into one shared read-only pattern, so a write is a pointer into
 * it and each read is checked with one memcmp against the same place.
 */
#include <string.h>

#include "bench_int.h"

#define PUMP_TURNS 32	/* write+read rounds before yielding to others */

static uint64_t
timeout_ns(const struct secho_bench_worker *w)
{
	return (uint64_t)w->cfg->timeout_ms * 1000000ULL;
}

/* A read that ended the connection: say how. */
static void
read_failed(struct secho_bench_worker *w, struct secho_bench_conn *c,
    ssize_t n)
{
	if (n != SECHO_IO_EOF)
		secho_bench_conn_fail(w, c, secho_conn_error(&c->c));
	else if (c->c.flags & SECHO_CONN_UNCLEAN)
		secho_bench_conn_fail(w, c, "the server closed the connection "
		    "without a TLS close_notify");
	else
		secho_bench_conn_fail(w, c, "the server closed the connection");
}

/* More bytes came back than were sent: the echo is wrong, not slow. */
static void
extra_bytes(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	w->st.mismatches++;
	secho_bench_conn_fail(w, c, "the server sent more bytes than it was "
	    "sent");
}

/* Writes c's stream up to c->op_end; 0, or -1 when c failed. */
static int
stream_write(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	while (c->state == BC_BUSY && c->woff < c->op_end) {
		ssize_t n = secho_conn_write(&c->c, secho_bench_expect(w,
		    c->seed, c->woff), (size_t)(c->op_end - c->woff));

		if (n == SECHO_WANT_WRITE || n == SECHO_WANT_READ)
			return 0;
		if (n < 0) {
			secho_bench_conn_fail(w, c, secho_conn_error(&c->c));
			return -1;
		}
		c->woff += (uint64_t)n;
	}
	return 0;
}

/*
 * Reads and checks until the transport wants to wait (0) or the
 * operation's last byte came (1); -1 when c failed.
 */
static int
stream_read(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	for (;;) {
		ssize_t n = secho_conn_read(&c->c, w->rbuf, w->rbuf_len);

		if (n == SECHO_WANT_READ || n == SECHO_WANT_WRITE)
			return 0;
		if (n <= 0) {
			read_failed(w, c, n);
			return -1;
		}
		if (c->roff + (uint64_t)n > c->woff) {
			extra_bytes(w, c);
			return -1;
		}
		if (memcmp(w->rbuf, secho_bench_expect(w, c->seed, c->roff),
		    (size_t)n) != 0)
			c->bad = 1;
		c->roff += (uint64_t)n;
		if (c->state == BC_BUSY && c->roff == c->op_end)
			return 1;
	}
}

/* The operation on c echoed completely: count it; c is then ready. */
static void
complete(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	w->now = secho_bench_now_ns();
	secho_bench_op_done(w, w->now - c->op_t0, w->cfg->size, c->bad);
	c->bad = 0;
	c->state = BC_READY;
	c->deadline = 0;
}

static void
busy_sweep(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	if (c->state == BC_BUSY && c->deadline != 0 && c->deadline <= w->now)
		secho_bench_conn_fail(w, c, "no complete echo within "
		    "--timeout");
}

static uint64_t
busy_inflight(const struct secho_bench_worker *w,
    const struct secho_bench_conn *c)
{
	(void)w;
	return c->state == BC_BUSY;
}

static void
reopen(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	if (!atomic_load_explicit(&w->run->stop, memory_order_relaxed))
		secho_bench_conn_open(w, c);
}

/* rr: one message of --size out, its echo back, again. */

static void
rr_begin(struct secho_bench_worker *w, struct secho_bench_conn *c,
    uint64_t t0)
{
	c->op_t0 = t0;
	c->op_end = c->woff + w->cfg->size;
	c->bad = 0;
	c->state = BC_BUSY;
	c->deadline = w->now + timeout_ns(w);
	w->issued++;
}

static void
rr_pump(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	for (int turn = 0; turn < PUMP_TURNS; turn++) {
		int r;

		if (stream_write(w, c) == -1 || (r = stream_read(w, c)) <= 0)
			return;
		complete(w, c);
		if (w->cfg->rate > 0) {
			secho_bench_token_put(w, c->idx, 0);
			return;
		}
		if (!secho_bench_may_start(w))
			return;
		rr_begin(w, c, w->now);
		/*
		 * The echo cannot be here yet, and its arrival is an
		 * edge of its own: no read just to learn EAGAIN.
		 */
		if (stream_write(w, c) == -1 || secho_conn_pending(&c->c) == 0)
			return;
	}
	secho_bench_conn_again(w, c);
}

static void
rr_start(struct secho_bench_worker *w, struct secho_bench_conn *c,
    uint32_t slot, uint64_t t0)
{
	(void)slot;
	rr_begin(w, c, t0);
	if (stream_write(w, c) == 0 && secho_conn_pending(&c->c) > 0)
		rr_pump(w, c);	/* otherwise the echo's arrival calls it */
}

/* A ready connection starts (closed loop) or offers itself (--rate). */
static void
rr_ready(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	if (!w->running)
		return;
	if (w->cfg->rate > 0)
		secho_bench_token_put(w, c->idx, 0);
	else if (secho_bench_may_start(w))
		rr_start(w, c, 0, secho_bench_now_ns());
}

static void
each_ready(struct secho_bench_worker *w,
    void (*fn)(struct secho_bench_worker *, struct secho_bench_conn *))
{
	for (uint32_t i = 0; i < w->nconns && !w->fatal; i++)
		if (w->conns[i].state == BC_READY)
			fn(w, &w->conns[i]);
}

static void
rr_go(struct secho_bench_worker *w)
{
	each_ready(w, rr_ready);
}

const struct secho_bench_mode_ops secho_bench_rr_ops = {
	.ready = rr_ready,
	.pump = rr_pump,
	.start = rr_start,
	.sweep = busy_sweep,
	.go = rr_go,
	.reopen = reopen,
	.inflight = busy_inflight,
};

/* bulk: chunks of --size written while the echo is read and checked. */

static int
bulk_write(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	uint64_t size = w->cfg->size;
	int progress = 0;

	for (;;) {
		ssize_t n;

		if (c->woff == c->chunks_out * size) {	/* a new chunk? */
			if (c->chunks_out - c->chunks_in >=
			    SECHO_BENCH_BULK_RING || !secho_bench_may_start(w))
				return progress;
			w->now = secho_bench_now_ns();
			if (c->chunks_out == c->chunks_in)
				c->deadline = w->now + timeout_ns(w);
			c->ring[c->chunks_out++ % SECHO_BENCH_BULK_RING] =
			    w->now;
			w->issued++;
		}
		n = secho_conn_write(&c->c, secho_bench_expect(w, c->seed,
		    c->woff), (size_t)(c->chunks_out * size - c->woff));
		if (n == SECHO_WANT_WRITE || n == SECHO_WANT_READ)
			return progress;
		if (n < 0) {
			secho_bench_conn_fail(w, c, secho_conn_error(&c->c));
			return -1;
		}
		c->woff += (uint64_t)n;
		progress = 1;
	}
}

/* Counts the chunks whose last byte has come back. */
static void
bulk_chunks_in(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	uint64_t size = w->cfg->size;

	while (c->chunks_in < c->chunks_out &&
	    c->roff >= (c->chunks_in + 1) * size) {
		secho_bench_op_done(w, w->now - c->ring[c->chunks_in %
		    SECHO_BENCH_BULK_RING], size, c->bad);
		c->bad = 0;
		c->chunks_in++;
	}
}

static int
bulk_read(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	int progress = 0;

	for (;;) {
		ssize_t n = secho_conn_read(&c->c, w->rbuf, w->rbuf_len);

		if (n == SECHO_WANT_READ || n == SECHO_WANT_WRITE)
			return progress;
		if (n <= 0) {
			read_failed(w, c, n);
			return -1;
		}
		if (c->roff + (uint64_t)n > c->woff) {
			extra_bytes(w, c);
			return -1;
		}
		if (memcmp(w->rbuf, secho_bench_expect(w, c->seed, c->roff),
		    (size_t)n) != 0)
			c->bad = 1;
		c->roff += (uint64_t)n;
		w->now = secho_bench_now_ns();
		c->deadline = w->now + timeout_ns(w);
		bulk_chunks_in(w, c);
		progress = 1;
	}
}

static void
bulk_pump(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	for (int turn = 0; turn < PUMP_TURNS / 4; turn++) {
		int wr, rd;

		if ((wr = bulk_write(w, c)) == -1 ||
		    (rd = bulk_read(w, c)) == -1)
			return;
		if (!wr && !rd)
			return;
	}
	secho_bench_conn_again(w, c);
}

static void
bulk_ready(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	if (!w->running)
		return;
	c->chunks_out = c->chunks_in = 0;
	c->state = BC_BUSY;
	bulk_pump(w, c);
}

static void
bulk_go(struct secho_bench_worker *w)
{
	each_ready(w, bulk_ready);
}

static void
bulk_sweep(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	if (c->chunks_out > c->chunks_in && c->deadline != 0 &&
	    c->deadline <= w->now)
		secho_bench_conn_fail(w, c, "no echo within --timeout");
}

static uint64_t
bulk_inflight(const struct secho_bench_worker *w,
    const struct secho_bench_conn *c)
{
	(void)w;
	return c->state == BC_BUSY ? c->chunks_out - c->chunks_in : 0;
}

const struct secho_bench_mode_ops secho_bench_bulk_ops = {
	.ready = bulk_ready,
	.pump = bulk_pump,
	.start = NULL,
	.sweep = bulk_sweep,
	.go = bulk_go,
	.reopen = reopen,
	.inflight = bulk_inflight,
};

/* hs: connect, handshake, one echo, close; latency from the connect. */

static void
hs_start(struct secho_bench_worker *w, struct secho_bench_conn *c,
    uint32_t slot, uint64_t t0)
{
	(void)slot;
	(void)t0;
	w->issued++;
	c->iter++;
	/* A fresh stretch of the pattern for each connection of a slot. */
	c->seed = (c->seed + 40503ULL * c->iter) % SECHO_BENCH_PATTERN_P;
	w->now = secho_bench_now_ns();
	c->op_t0 = w->now;
	secho_bench_conn_open(w, c);
}

static void
hs_ready(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	c->op_end = w->cfg->size;
	c->bad = 0;
	c->state = BC_BUSY;
	c->deadline = c->op_t0 + timeout_ns(w);
	secho_bench_mode_ops(w->cfg->mode)->pump(w, c);
}

static void
hs_pump(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	if (c->state != BC_BUSY || stream_write(w, c) == -1 ||
	    stream_read(w, c) <= 0)
		return;
	complete(w, c);
	w->st.resumed += c->resumed;	/* of the operations counted */
	secho_bench_conn_close(w, c);
	if (secho_bench_may_start(w))
		hs_start(w, c, 0, w->now);
}

static void
hs_go(struct secho_bench_worker *w)
{
	for (uint32_t i = 0; i < w->nconns && !w->fatal; i++)
		if (w->conns[i].state == BC_IDLE && secho_bench_may_start(w))
			hs_start(w, &w->conns[i], 0, 0);
}

static void
hs_reopen(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	if (secho_bench_may_start(w))
		hs_start(w, c, 0, 0);
}

static uint64_t
hs_inflight(const struct secho_bench_worker *w,
    const struct secho_bench_conn *c)
{
	(void)w;
	return c->state != BC_IDLE;
}

const struct secho_bench_mode_ops secho_bench_hs_ops = {
	.ready = hs_ready,
	.pump = hs_pump,
	.start = hs_start,
	.sweep = busy_sweep,
	.go = hs_go,
	.reopen = hs_reopen,
	.inflight = hs_inflight,
};

/*
 * hold: like hs without the close, a bounded number opening at once (a
 * burst of thousands of SYNs would overflow the server's backlog and
 * cost a second each in retransmission).
 */

static void
hold_refill(struct secho_bench_worker *w)
{
	while (w->running && w->next_open < w->nconns &&
	    w->issued - w->retired < SECHO_BENCH_HOLD_OPENING &&
	    secho_bench_may_start(w) && !w->fatal)
		hs_start(w, &w->conns[w->next_open++], 0, 0);
}

static void
hold_pump(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	int r;

	if (c->state == BC_BUSY && stream_write(w, c) == -1)
		return;
	/* A held connection must stay silent: data or EOF is a failure. */
	if ((r = stream_read(w, c)) <= 0)
		return;
	complete(w, c);
}

static uint64_t
hold_inflight(const struct secho_bench_worker *w,
    const struct secho_bench_conn *c)
{
	(void)w;
	return c->state != BC_IDLE && c->state != BC_READY;
}

const struct secho_bench_mode_ops secho_bench_hold_ops = {
	.ready = hs_ready,
	.pump = hold_pump,
	.start = NULL,
	.sweep = busy_sweep,
	.go = hold_refill,
	.reopen = NULL,
	.refill = hold_refill,
	.inflight = hold_inflight,
};
