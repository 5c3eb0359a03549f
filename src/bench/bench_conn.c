/*
 * bench_conn.c - secho-bench's sockets and per-thread epoll loop.
 *
 * Each worker thread owns an epoll set with its connections registered
 * once, edge-triggered for both directions, so a connection never costs
 * an epoll_ctl after its connect.  The price of edge triggering is that
 * every pump must run until the transport wants to wait (or put itself
 * on the "again" list), which the modes do.  Events carry the
 * connection's index and generation, so an event for a socket closed
 * earlier in the same batch is ignored rather than applied to its
 * successor.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_int.h"
#include "secho/proxy.h"

#define SWEEP_NS	(100ULL * 1000 * 1000)	/* timeouts, retries */
#define RETRY_NS	(10ULL * 1000 * 1000)	/* reconnect backoff */
#define MAX_EVENTS	512

uint64_t
secho_bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

const unsigned char *
secho_bench_expect(const struct secho_bench_worker *w, uint64_t seed,
    uint64_t off)
{
	return w->run->pattern + (seed + off) % SECHO_BENCH_PATTERN_P;
}

static int
is_dgram(const struct secho_bench_worker *w)
{
	return secho_proto_is_dgram(w->cfg->proto);
}

static uint64_t
timeout_ns(const struct secho_bench_worker *w)
{
	return (uint64_t)w->cfg->timeout_ms * 1000000ULL;
}

/* bulk: each connection's ring of chunk start times, one allocation. */
static int
bulk_rings(struct secho_bench_worker *w)
{
	uint64_t *ring = calloc((size_t)w->nconns * SECHO_BENCH_BULK_RING,
	    sizeof(*ring));

	if (ring == NULL)
		return -1;
	for (uint32_t i = 0; i < w->nconns; i++)
		w->conns[i].ring = ring + (size_t)i * SECHO_BENCH_BULK_RING;
	return 0;
}

int
secho_bench_worker_init(struct secho_bench_worker *w)
{
	const struct secho_bench_config *cfg = w->cfg;
	size_t n = w->nconns, win = (size_t)cfg->window;

	if ((w->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return -1;
	w->conns = calloc(n, sizeof(*w->conns));
	/* A conn may re-add itself while the list is run: room for two. */
	w->again = calloc(2 * n, sizeof(*w->again));
	w->rbuf_len = 65536;
	/* Datagram modes build what they send right after the buffer. */
	w->rbuf = malloc(w->rbuf_len + (is_dgram(w) ? cfg->size : 0));
	if (w->conns == NULL || w->again == NULL || w->rbuf == NULL)
		return -1;
	if (is_dgram(w) && ((w->slots = calloc(n * win,
	    sizeof(*w->slots))) == NULL || secho_bench_dgram_init(w) == -1))
		return -1;
	if (cfg->rate > 0 && (w->free_tok = calloc(n * (is_dgram(w) ? win :
	    1), sizeof(*w->free_tok))) == NULL)
		return -1;
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct secho_bench_conn *c = &w->conns[i];

		c->idx = i;
		c->c.fd = -1;
		c->seed = ((uint64_t)(w->first_conn + i) * 2654435761ULL) %
		    SECHO_BENCH_PATTERN_P;
		for (size_t s = 0; is_dgram(w) && s < win; s++)
			w->slots[i * win + s].seq = s;
	}
	if (cfg->mode == SECHO_BENCH_BULK && bulk_rings(w) == -1)
		return -1;
	w->next_sweep = secho_bench_now_ns() + SWEEP_NS;
	return 0;
}

void
secho_bench_worker_free(struct secho_bench_worker *w)
{
	for (uint32_t i = 0; w->conns != NULL && i < w->nconns; i++)
		if (w->conns[i].state != BC_IDLE)
			secho_bench_conn_close(w, &w->conns[i]);
	if (w->conns != NULL && w->nconns > 0)
		free(w->conns[0].ring);
	free(w->conns);
	free(w->again);
	free(w->rbuf);
	free(w->slots);
	free(w->batch);
	free(w->free_tok);
	if (w->epfd > 0)
		close(w->epfd);
	secho_tls_free(w->tls);
	w->conns = NULL;
	w->tls = NULL;
}

/* The source address for connection g: 127.0.0.1 + g % src_addrs. */
static int
bind_source(const struct secho_bench_worker *w, int fd, uint32_t g)
{
	const struct sockaddr_in *peer = (const void *)&w->run->peer.ss;
	struct sockaddr_in src;
	int one = 1;

	if (w->cfg->src_addrs <= 1 || peer->sin_family != AF_INET ||
	    peer->sin_addr.s_addr != htonl(INADDR_LOOPBACK))
		return 0;
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_addr.s_addr = htonl(INADDR_LOOPBACK +
	    g % (uint32_t)w->cfg->src_addrs);
	/* The port comes at connect(), so each address has every port
	 * for each destination instead of one shared pool. */
	(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
	    sizeof(one));
	return bind(fd, (struct sockaddr *)&src, sizeof(src));
}

/*
 * Room for a whole window of datagrams both ways, so that a loss is the
 * server's and not our own socket's (FORCE passes rmem_max when allowed).
 */
static void
dgram_buffers(const struct secho_bench_worker *w, int fd)
{
	long want = 2L * w->cfg->window * ((long)w->cfg->size + 128);
	int v = want > INT_MAX ? INT_MAX : (int)want;

	if (v <= 212992)	/* the usual default already */
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) == -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) == -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

static int
new_socket(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	int dgram = is_dgram(w), one = 1, fd;

	fd = socket(w->run->peer.ss.ss_family, (dgram ? SOCK_DGRAM :
	    SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (dgram)
		dgram_buffers(w, fd);
	else
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	if (bind_source(w, fd, w->first_conn + c->idx) == -1 ||
	    (connect(fd, (const struct sockaddr *)&w->run->peer.ss,
	    w->run->peer.len) == -1 && errno != EINPROGRESS)) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void
handshake(struct secho_bench_worker *w, struct secho_bench_conn *c);

/* The transport on top of a connected socket. */
static int
wrap(struct secho_bench_worker *w, struct secho_bench_conn *c, int fd)
{
	if (w->tls != NULL)
		return secho_tls_conn_init(w->tls, &c->c, fd, w->run->name);
	if (is_dgram(w))
		secho_conn_init_udp(&c->c, fd);
	else
		secho_conn_init_tcp(&c->c, fd);
	return 0;
}

void
secho_bench_conn_open(struct secho_bench_worker *w,
    struct secho_bench_conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET };
	int fd;

	c->woff = c->roff = 0;
	c->bad = 0;
	c->deadline = w->now + timeout_ns(w);
	c->state = BC_CONNECTING;
	w->opening++;
	if ((fd = new_socket(w, c)) == -1) {
		secho_bench_conn_fail(w, c, strerror(errno));
		return;
	}
	ev.data.u64 = c->idx | (uint64_t)c->gen << 32;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) == -1 ||
	    wrap(w, c, fd) == -1) {
		close(fd);
		secho_bench_conn_fail(w, c, strerror(errno));
		return;
	}
	if (is_dgram(w)) {	/* nothing to wait for */
		c->state = BC_HANDSHAKE;
		handshake(w, c);
	}
}

/*
 * --send-proxy: the header on the raw socket, before the transport's
 * first byte, with the connection's real ends (--src-addrs spreads the
 * sources).  A fresh connection's send buffer takes its few bytes whole,
 * so a short write is a failure rather than a state to come back to.
 */
static int
send_proxy(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	struct secho_proxy_header h;
	ssize_t n;

	if (secho_proxy_header_for(w->cfg->send_proxy, c->c.fd, NULL, NULL,
	    &h) == -1) {
		secho_bench_conn_fail(w, c, secho_error());
		return -1;
	}
	n = send(c->c.fd, h.buf, h.len, MSG_NOSIGNAL);
	if (n != (ssize_t)h.len) {
		secho_bench_conn_fail(w, c, n == -1 ? strerror(errno) :
		    "the PROXY header did not fit the send buffer");
		return -1;
	}
	return 0;
}

static void
connected(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(c->c.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		secho_bench_conn_fail(w, c, strerror(err));
		return;
	}
	if (w->cfg->send_proxy && send_proxy(w, c) == -1)
		return;
	c->state = BC_HANDSHAKE;
	handshake(w, c);
}

static void
handshake(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	int r = secho_conn_handshake(&c->c);

	if (r == SECHO_WANT_READ || r == SECHO_WANT_WRITE)
		return;
	if (r != 0) {
		secho_bench_conn_fail(w, c, secho_conn_error(&c->c)[0] !=
		    '\0' ? secho_conn_error(&c->c) : "handshake failed");
		return;
	}
	w->opening--;
	c->state = BC_READY;
	c->deadline = 0;
	/* A UDP "connection" proves nothing until something comes back. */
	if (w->cfg->proto != SECHO_UDP)
		atomic_store_explicit(&w->run->ever_connected, 1,
		    memory_order_relaxed);
	c->resumed = w->tls != NULL && secho_tls_conn_resumed(&c->c);
	secho_bench_mode_ops(w->cfg->mode)->ready(w, c);
}

/* Forgets c's free tokens (open loop) before its socket goes. */
static void
drop_tokens(struct secho_bench_worker *w, uint32_t idx)
{
	uint32_t j = 0;

	for (uint32_t i = 0; i < w->nfree; i++)
		if (w->free_tok[i].conn != idx)
			w->free_tok[j++] = w->free_tok[i];
	w->nfree = j;
}

void
secho_bench_conn_close(struct secho_bench_worker *w,
    struct secho_bench_conn *c)
{
	if (c->state == BC_IDLE)
		return;
	if (c->state == BC_CONNECTING || c->state == BC_HANDSHAKE)
		w->opening--;
	if (c->c.ops != NULL) {
		if (c->state == BC_READY || c->state == BC_BUSY)
			(void)secho_conn_shutdown(&c->c);
		secho_conn_close(&c->c);	/* also leaves the epoll set */
	}
	c->c.fd = -1;
	c->state = BC_IDLE;
	c->gen++;
	c->deadline = 0;
	if (w->free_tok != NULL)
		drop_tokens(w, c->idx);
}

void
secho_bench_conn_fail(struct secho_bench_worker *w,
    struct secho_bench_conn *c, const char *why)
{
	const struct secho_bench_mode_ops *ops =
	    secho_bench_mode_ops(w->cfg->mode);
	char addr[SECHO_ADDRSTR_MAX];
	uint64_t limit = 20 + 2 * (uint64_t)w->nconns;
	int opening = c->state == BC_CONNECTING || c->state == BC_HANDSHAKE;

	w->st.errors++;
	w->fails_in_row++;
	w->retired += ops->inflight(w, c);
	secho_sockaddr_str((const struct sockaddr *)&w->run->peer.ss, addr,
	    sizeof(addr));
	secho_error_format(w->last_error, sizeof(w->last_error), "%s %s: %s",
	    opening ? "cannot connect to" : "connection to", addr, why);
	secho_bench_conn_close(w, c);
	c->retry_ns = w->now + RETRY_NS;
	if (!atomic_load_explicit(&w->run->ever_connected,
	    memory_order_relaxed) || w->fails_in_row > limit) {
		if (w->fails_in_row > limit)
			secho_error_format(w->last_error,
			    sizeof(w->last_error), "giving up after %llu "
			    "failures in a row; the last: %s: %s",
			    (unsigned long long)w->fails_in_row, addr, why);
		w->fatal = 1;
		atomic_store(&w->run->fatal, 1);
		atomic_store(&w->run->stop, 1);
	}
}

void
secho_bench_conn_again(struct secho_bench_worker *w,
    struct secho_bench_conn *c)
{
	if (c->in_again)
		return;
	c->in_again = 1;
	w->again[w->nagain++] = c;
}

int
secho_bench_may_start(const struct secho_bench_worker *w)
{
	return w->running && w->issued < w->quota &&
	    (w->t_end == 0 || w->now < w->t_end) &&
	    !atomic_load_explicit(&w->run->stop, memory_order_relaxed);
}

void
secho_bench_op_done(struct secho_bench_worker *w, uint64_t lat,
    uint64_t bytes, int bad)
{
	w->st.ops++;
	w->st.bytes += bytes;
	w->st.mismatches += bad != 0;
	w->retired++;
	w->fails_in_row = 0;
	w->t_last_op = w->now;
	secho_bench_hist_add(&w->st.hist, lat);
}

void
secho_bench_token_put(struct secho_bench_worker *w, uint32_t conn,
    uint32_t slot)
{
	w->free_tok[w->nfree].conn = conn;
	w->free_tok[w->nfree++].slot = slot;
}

static void
on_event(struct secho_bench_worker *w, struct secho_bench_conn *c)
{
	switch (c->state) {
	case BC_CONNECTING:
		connected(w, c);
		break;
	case BC_HANDSHAKE:
		handshake(w, c);
		break;
	case BC_READY:
	case BC_BUSY:
		secho_bench_mode_ops(w->cfg->mode)->pump(w, c);
		break;
	case BC_IDLE:
		break;
	}
}

/* Pumps the connections that left work for a later turn. */
static void
run_again(struct secho_bench_worker *w)
{
	uint32_t n = w->nagain;

	for (uint32_t i = 0; i < n; i++) {
		w->again[i]->in_again = 0;
		on_event(w, w->again[i]);
	}
	memmove(w->again, w->again + n, (w->nagain - n) * sizeof(*w->again));
	w->nagain -= n;
}

/* Open loop: starts every operation that is due on a free token. */
static void
dispatch(struct secho_bench_worker *w)
{
	const struct secho_bench_mode_ops *ops =
	    secho_bench_mode_ops(w->cfg->mode);

	while (w->nfree > 0 && secho_bench_may_start(w)) {
		uint64_t due = w->t0 + (uint64_t)((double)w->next_k *
		    w->interval_ns);
		struct secho_bench_token t;

		if (due > w->now)
			break;
		t = w->free_tok[--w->nfree];
		w->next_k++;
		ops->start(w, &w->conns[t.conn], t.slot, due);
	}
}

static void
sweep_one(struct secho_bench_worker *w, struct secho_bench_conn *c,
    const struct secho_bench_mode_ops *ops)
{
	switch (c->state) {
	case BC_CONNECTING:
	case BC_HANDSHAKE:
		if (c->deadline != 0 && c->deadline <= w->now)
			secho_bench_conn_fail(w, c, c->state == BC_CONNECTING ?
			    "timed out" : "handshake timed out");
		else if (c->state == BC_HANDSHAKE && c->c.ops != NULL &&
		    secho_conn_next_timeout(&c->c) == 0) {
			if (secho_conn_handle_timeout(&c->c) != 0)
				secho_bench_conn_fail(w, c,
				    secho_conn_error(&c->c));
		}
		break;
	case BC_IDLE:
		if (c->retry_ns <= w->now && ops->reopen != NULL)
			ops->reopen(w, c);
		break;
	default:
		ops->sweep(w, c);
	}
}

static void
sweep(struct secho_bench_worker *w)
{
	const struct secho_bench_mode_ops *ops =
	    secho_bench_mode_ops(w->cfg->mode);

	for (uint32_t i = 0; i < w->nconns && !w->fatal; i++)
		sweep_one(w, &w->conns[i], ops);
	w->next_sweep = w->now + SWEEP_NS;
}

/* How long epoll may sleep, in ns. */
static uint64_t
sleep_ns(const struct secho_bench_worker *w)
{
	uint64_t until = w->next_sweep;

	if (w->nagain > 0)
		return 0;
	if (w->t_end != 0 && w->running && w->t_end < until)
		until = w->t_end;
	if (w->nfree > 0 && secho_bench_may_start(w)) {
		uint64_t due = w->t0 + (uint64_t)((double)w->next_k *
		    w->interval_ns);

		if (due < until)
			until = due;
	}
	return until > w->now ? until - w->now : 0;
}

static int
wait_events(struct secho_bench_worker *w, struct epoll_event *ev)
{
	uint64_t ns = sleep_ns(w);
	struct timespec ts = { (time_t)(ns / 1000000000ULL),
	    (long)(ns % 1000000000ULL) };
	int n;

	n = epoll_pwait2(w->epfd, ev, MAX_EVENTS, &ts, NULL);
	if (n == -1 && errno == ENOSYS)	/* kernels before 5.11 */
		n = epoll_wait(w->epfd, ev, MAX_EVENTS,
		    (int)((ns + 999999) / 1000000));
	return n;
}

/* The counts for the main thread's progress line (plain stores). */
static void
publish(struct secho_bench_worker *w)
{
	atomic_store_explicit(&w->live.ops, w->st.ops, memory_order_relaxed);
	atomic_store_explicit(&w->live.errors, w->st.errors,
	    memory_order_relaxed);
	atomic_store_explicit(&w->live.mismatches, w->st.mismatches,
	    memory_order_relaxed);
	atomic_store_explicit(&w->live.lost, w->st.lost,
	    memory_order_relaxed);
}

void
secho_bench_loop(struct secho_bench_worker *w,
    int (*done)(struct secho_bench_worker *))
{
	const struct secho_bench_mode_ops *ops =
	    secho_bench_mode_ops(w->cfg->mode);
	struct epoll_event ev[MAX_EVENTS];

	w->now = secho_bench_now_ns();
	while (!w->fatal && !done(w)) {
		int n = wait_events(w, ev);

		if (n == -1 && errno != EINTR) {
			secho_error_format(w->last_error,
			    sizeof(w->last_error), "epoll: %s",
			    strerror(errno));
			w->fatal = 1;
			atomic_store(&w->run->fatal, 1);
			atomic_store(&w->run->stop, 1);
			break;
		}
		w->now = secho_bench_now_ns();
		for (int i = 0; i < n && !w->fatal; i++) {
			struct secho_bench_conn *c =
			    &w->conns[(uint32_t)ev[i].data.u64];

			if ((uint32_t)(ev[i].data.u64 >> 32) == c->gen)
				on_event(w, c);
		}
		run_again(w);
		if (w->free_tok != NULL)
			dispatch(w);
		if (w->now >= w->next_sweep)
			sweep(w);
		if (ops->refill != NULL)
			ops->refill(w);
		publish(w);
	}
}

const struct secho_bench_mode_ops *
secho_bench_mode_ops(enum secho_bench_mode m)
{
	switch (m) {
	case SECHO_BENCH_RR:
		return &secho_bench_rr_ops;
	case SECHO_BENCH_BULK:
		return &secho_bench_bulk_ops;
	case SECHO_BENCH_HS:
		return &secho_bench_hs_ops;
	case SECHO_BENCH_HOLD:
		return &secho_bench_hold_ops;
	default:
		return &secho_bench_dgram_ops;
	}
}
