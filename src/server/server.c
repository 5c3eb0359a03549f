/*
 * server.c - the echo server: listeners, the per-connection state machine
 * and the signal-driven drain.
 *
 * A connection is accept -> handshake -> echo -> shutdown -> close.  Echo
 * reads only while nothing is waiting to be written, so a client that
 * never reads stalls only itself and costs one buffer at most; a buffer is
 * held only while bytes are in flight and goes back to a pool when the
 * connection is idle.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "secho/iplimit.h"
#include "secho/loop.h"
#include "secho/priv.h"
#include "secho/server.h"

#define container_of(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

#define ACCEPT_BATCH	64	/* accepts per readiness, then yield */
#define ECHO_BUDGET	16	/* read/write rounds per turn, then yield */
#define DGRAM_BUDGET	64
#define DGRAM_MAX	65536	/* > 65507, the largest UDP payload */
#define POOL_KEEP	256	/* idle buffers kept for reuse */
#define EMFILE_PAUSE_MS	100
#define DISCARD_MAX	65536	/* unread bytes dropped before a close */
/* Listening sockets are shared: one worker woken per new client. */
#define LISTEN_EV	(SECHO_EV_READ | SECHO_EV_EXCLUSIVE)

/*
 * CS_LINGER: our FIN / close_notify is out while the peer may still be
 * sending; reading to its EOF before close() keeps the kernel from
 * answering late bytes with a reset that would destroy echoes in flight.
 */
enum conn_state { CS_HANDSHAKE, CS_ECHO, CS_SHUTDOWN, CS_LINGER };

struct server;
struct shared;

/* A bound socket, shared by every worker's loop. */
struct sock {
	int fd;
	enum secho_proto proto;
	struct secho_sockaddr addr;
};

/* One worker's registration of a shared socket. */
struct listener {
	struct server *srv;
	struct secho_event ev;
	enum secho_proto proto;
	struct secho_sockaddr addr;
	struct secho_timer resume;	/* accept paused by EMFILE */
	struct secho_dtls_listener *dtls;	/* dtls listeners */
	/* udp listeners: one recvmmsg() batch, echoed by sendmmsg() */
	unsigned char *dgram;		/* SECHO_DGRAM_BATCH * DGRAM_MAX */
	struct secho_dgram batch[SECHO_DGRAM_BATCH];
	int nheld, nsent;		/* received, and echoed so far */
	int paused;			/* accept paused since (logged) */
};

struct conn {
	struct secho_conn c;
	struct secho_event ev;
	struct secho_timer timer;
	struct server *srv;
	struct conn *prev, *next;
	unsigned char *buf;
	size_t off, len;
	unsigned long long echoed;
	uint64_t last_ms;
	uint64_t born_ms;	/* for --max-lifetime */
	enum secho_proto proto;
	enum conn_state state;
	int draining;
	/* Its handshake was still running at SIGTERM: the client has not
	 * had a chance to send yet, so wait for its first bytes. */
	int drain_grace;
	int drained;		/* the last read emptied the socket */
};

/*
 * One worker: an event loop in its own thread with its own connections,
 * buffer pool and TLS context references.  Workers share only the
 * listening sockets (each watches them with EPOLLEXCLUSIVE, so the kernel
 * wakes one per new client) and an atomic connection count: nothing on
 * the echo path is shared.
 */
struct server {
	const struct secho_server_config *cfg;
	struct shared *sh;
	int id;
	pthread_t thread;
	struct secho_loop *loop;
	struct listener ls[SECHO_MAX_LISTENERS];
	size_t nls;
	struct secho_tls *tls;		/* this worker's references */
	struct secho_tls *dtls;
	struct conn *conns;
	size_t nconns;
	void *pool;			/* free buffers, linked through word 0 */
	size_t npool;
	struct secho_timer drain_timer;
	int draining;
	uint64_t drain_end_ms;
	/* commands from the signal-handling worker (0) */
	int cmdfd;			/* eventfd */
	struct secho_event cmdev;
	unsigned cmds;			/* CMD_* bits, atomic */
	struct secho_tls *next_tls;	/* handed over with CMD_RELOAD */
	struct secho_tls *next_dtls;
};

#define CMD_DRAIN	0x1
#define CMD_STOP	0x2
#define CMD_RELOAD	0x4
#define CMD_CHECK	0x8	/* another worker finished */

/* What the whole process shares. */
struct shared {
	const struct secho_server_config *cfg;
	struct sock socks[SECHO_MAX_LISTENERS];
	size_t nsocks;
	struct server *workers;
	int nworkers;
	int running;			/* workers whose loop runs, atomic */
	size_t nconns;			/* all workers, atomic */
	struct secho_iplimit *iplimit;	/* --max-conns-per-ip, or NULL */
	struct secho_tls *tls;		/* the process's own references */
	struct secho_tls *dtls;
	int sigfd;
	struct secho_event sigev;	/* on worker 0's loop */
	int draining;
	int drain_acks;			/* workers that let go, atomic */
	sigset_t oldmask;		/* restored on the way out */
};

static void conn_io(struct secho_loop *, struct secho_event *, int);
static void worker_check_done(struct server *);
static void conn_close(struct conn *, const char *);

/* One write per line, so workers' lines never interleave. */
static void
logmsg(const char *fmt, ...)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "secho-server: ");
	va_list ap;

	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;	/* nowhere left to say it */
}

#define logv(srv, ...) do { \
	if ((srv)->cfg->verbose > 0) \
		logmsg(__VA_ARGS__); \
} while (0)

static const char *
peer_str(const struct conn *cn, char *buf, size_t len)
{
	return secho_sockaddr_str((const struct sockaddr *)&cn->c.peer.ss,
	    buf, len);
}

/* --- buffer pool: echo buffers exist only while bytes are in flight --- */

static void *
pool_get(struct server *s)
{
	void *b = s->pool;

	if (b != NULL) {
		memcpy(&s->pool, b, sizeof(void *));
		s->npool--;
		return b;
	}
	return malloc(s->cfg->bufsize);
}

static void
pool_put(struct server *s, void *b)
{
	if (b == NULL)
		return;
	if (s->npool >= POOL_KEEP) {
		free(b);
		return;
	}
	memcpy(b, &s->pool, sizeof(void *));
	s->pool = b;
	s->npool++;
}

static void
pool_free(struct server *s)
{
	while (s->pool != NULL) {
		void *b = s->pool;

		memcpy(&s->pool, b, sizeof(void *));
		free(b);
	}
	s->npool = 0;
}

/* --- connections --- */

static void
touch(struct conn *cn)
{
	cn->last_ms = secho_loop_now(cn->srv->loop);
}

/*
 * --max-conns across all workers, and --max-conns-per-ip: a slot is taken
 * before any work is spent on a new client and given back when its
 * connection closes.  Returns 1, or 0 after logging why it was refused.
 */
static int
conn_slot_take(struct server *s, enum secho_proto proto,
    const struct secho_sockaddr *peer)
{
	size_t n = __atomic_load_n(&s->sh->nconns, __ATOMIC_RELAXED);
	char addr[SECHO_ADDRSTR_MAX];
	const char *limit = "--max-conns";
	int max = s->cfg->max_conns;

	do {
		if (n >= (size_t)max)
			goto refused;
	} while (!__atomic_compare_exchange_n(&s->sh->nconns, &n, n + 1, 1,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	if (s->sh->iplimit == NULL || secho_iplimit_take(s->sh->iplimit,
	    (const struct sockaddr *)&peer->ss))
		return 1;
	__atomic_sub_fetch(&s->sh->nconns, 1, __ATOMIC_RELAXED);
	limit = "--max-conns-per-ip";
	max = s->cfg->max_conns_per_ip;
refused:
	logv(s, "%s %s: refused: %s %d reached", secho_proto_name(proto),
	    secho_sockaddr_str((const struct sockaddr *)&peer->ss, addr,
	    sizeof(addr)), limit, max);
	return 0;
}

static void
conn_slot_give(struct server *s, const struct secho_sockaddr *peer)
{
	if (s->sh->iplimit != NULL)
		secho_iplimit_give(s->sh->iplimit,
		    (const struct sockaddr *)&peer->ss);
	__atomic_sub_fetch(&s->sh->nconns, 1, __ATOMIC_RELAXED);
}

/* Milliseconds until --max-lifetime ends cn (UINT64_MAX: never). */
static uint64_t
lifetime_left(const struct conn *cn, uint64_t now)
{
	uint64_t max = (uint64_t)cn->srv->cfg->max_lifetime_ms;

	if (max == 0)
		return UINT64_MAX;
	return now - cn->born_ms >= max ? 0 : max - (now - cn->born_ms);
}

/* The sooner of a deadline `wait` from now and the end of cn's life. */
static uint64_t
bounded_wait(const struct conn *cn, uint64_t now, uint64_t wait)
{
	uint64_t left = lifetime_left(cn, now);

	return left < wait ? left : wait;
}

static void
conn_close(struct conn *cn, const char *why)
{
	struct server *s = cn->srv;
	char addr[SECHO_ADDRSTR_MAX];

	if (why != NULL)
		logv(s, "%s %s: closed (%s, %llu bytes echoed)",
		    secho_proto_name(cn->proto), peer_str(cn, addr,
		    sizeof(addr)), why, cn->echoed);
	secho_loop_forget(s->loop, &cn->ev);
	secho_loop_timer_del(s->loop, &cn->timer);
	/*
	 * A client that spoke the wrong protocol left bytes unread; closing
	 * over them would send a reset, and the client would see "reset"
	 * instead of a clean close it can explain.
	 */
	if (cn->state == CS_HANDSHAKE && !secho_proto_is_dgram(cn->proto))
		secho_net_discard(cn->c.fd, DISCARD_MAX);
	secho_conn_close(&cn->c);
	pool_put(s, cn->buf);
	if (cn->prev != NULL)
		cn->prev->next = cn->next;
	else
		s->conns = cn->next;
	if (cn->next != NULL)
		cn->next->prev = cn->prev;
	s->nconns--;
	conn_slot_give(s, &cn->c.peer);
	free(cn);
	if (s->draining)
		worker_check_done(s);
}

static void
conn_fail(struct conn *cn, int rc)
{
	if (rc == SECHO_IO_EOF)
		conn_close(cn, (cn->c.flags & SECHO_CONN_UNCLEAN) &&
		    secho_conn_is_tls(&cn->c) ?
		    "peer closed without close_notify" : "peer closed");
	else
		conn_close(cn, secho_conn_error(&cn->c));
}

static void
conn_watch(struct conn *cn, int want)
{
	int mask = want == SECHO_WANT_WRITE ? SECHO_EV_WRITE : SECHO_EV_READ;

	if (secho_loop_watch(cn->srv->loop, &cn->ev, mask) == -1)
		conn_close(cn, secho_error());
}

static void
conn_linger(struct conn *cn)
{
	unsigned char sink[4096];
	ssize_t n;

	for (int round = 0; round < ECHO_BUDGET; round++) {
		n = secho_conn_read(&cn->c, sink, sizeof(sink));
		if (n == SECHO_WANT_READ || n == SECHO_WANT_WRITE) {
			conn_watch(cn, (int)n);
			return;
		}
		if (n < 0)
			break;
	}
	conn_close(cn, "server shutting down");
}

static void
conn_shutdown(struct conn *cn)
{
	int rc;

	cn->state = CS_SHUTDOWN;
	rc = secho_conn_shutdown(&cn->c);
	if (rc == SECHO_WANT_READ || rc == SECHO_WANT_WRITE)
		conn_watch(cn, rc);
	else if (cn->draining && rc == 0 && !secho_proto_is_dgram(cn->proto)) {
		/* The peer has not closed yet: wait for it (bounded). */
		cn->state = CS_LINGER;
		conn_linger(cn);
	} else
		conn_close(cn, "done");
}

/*
 * One write of the pending bytes or, when none are pending, one read into
 * the buffer.  Returns the bytes moved or an enum secho_io value.
 */
static ssize_t
echo_step(struct conn *cn)
{
	struct server *s = cn->srv;
	ssize_t n;

	if (cn->off < cn->len) {
		/* A retried write repeats the same bytes, as TLS requires. */
		n = secho_conn_write(&cn->c, cn->buf + cn->off,
		    cn->len - cn->off);
		if (n > 0) {
			cn->off += (size_t)n;
			cn->echoed += (unsigned long long)n;
			if (cn->off == cn->len)
				cn->off = cn->len = 0;
			/*
			 * The read that filled this echo came up short and
			 * nothing waits inside TLS: the socket is drained, so
			 * the next read would only say EAGAIN.  Let epoll say it
			 * instead (level-triggered: new bytes still wake us).
			 */
			if (cn->len == 0 && cn->drained && !cn->draining)
				return SECHO_WANT_READ;
		}
		return n;
	}
	if (cn->buf == NULL && (cn->buf = pool_get(s)) == NULL) {
		secho_conn_set_error(&cn->c, "no memory for an echo buffer");
		return SECHO_IO_ERR;
	}
	n = secho_conn_read(&cn->c, cn->buf, s->cfg->bufsize);
	if (n > 0) {
		cn->len = (size_t)n;
		cn->drain_grace = 0;
		cn->drained = (size_t)n < s->cfg->bufsize &&
		    secho_conn_pending(&cn->c) == 0;
	}
	return n;
}

static void
conn_run_echo(struct conn *cn)
{
	struct server *s = cn->srv;
	ssize_t rc = 0;

	for (int round = 0; round < ECHO_BUDGET; round++) {
		if ((rc = echo_step(cn)) < 0)
			break;
		touch(cn);
	}
	if (rc >= 0) {
		/* Out of budget: let the others run, come back next round. */
		secho_loop_defer(s->loop, &cn->ev, SECHO_EV_READ);
		return;
	}
	if (rc == SECHO_WANT_READ && cn->len == 0) {
		pool_put(s, cn->buf);	/* idle: no buffer held */
		cn->buf = NULL;
		if (cn->draining && !cn->drain_grace) {
			conn_shutdown(cn);
			return;
		}
	}
	if (rc == SECHO_WANT_READ || rc == SECHO_WANT_WRITE)
		conn_watch(cn, (int)rc);
	else if (rc == SECHO_IO_EOF && !(cn->c.flags & SECHO_CONN_UNCLEAN))
		conn_shutdown(cn);	/* all echoed: reads stop at EOF */
	else
		conn_fail(cn, (int)rc);
}

/*
 * The handshake deadline, or sooner when DTLS must retransmit a flight
 * (UDP loses them; the event loop's timer, not the kernel, notices).
 */
static void
conn_arm_handshake(struct conn *cn)
{
	struct secho_loop *l = cn->srv->loop;
	uint64_t now = secho_loop_now(l), wait = 0;
	uint64_t end = cn->last_ms + (uint64_t)cn->srv->cfg->
	    handshake_timeout_ms;
	long rt = secho_conn_next_timeout(&cn->c);

	if (end > now)
		wait = end - now;
	if (rt >= 0 && (uint64_t)rt < wait)
		wait = (uint64_t)rt;
	secho_loop_timer_set(l, &cn->timer, bounded_wait(cn, now, wait));
}

static void
conn_handshake(struct conn *cn)
{
	struct server *s = cn->srv;
	char addr[SECHO_ADDRSTR_MAX], desc[128];
	int rc;

	rc = secho_conn_handshake(&cn->c);
	if (rc == SECHO_WANT_READ || rc == SECHO_WANT_WRITE) {
		if (cn->proto == SECHO_DTLS)
			conn_arm_handshake(cn);
		conn_watch(cn, rc);
		return;
	}
	if (rc != 0) {
		conn_fail(cn, rc);
		return;
	}
	cn->state = CS_ECHO;
	touch(cn);
	secho_loop_timer_set(s->loop, &cn->timer, bounded_wait(cn,
	    cn->last_ms, (uint64_t)s->cfg->idle_timeout_ms));
	if (secho_conn_is_tls(&cn->c))
		logv(s, "%s %s: handshake done: %s",
		    secho_proto_name(cn->proto), peer_str(cn, addr,
		    sizeof(addr)), secho_conn_describe(&cn->c, desc,
		    sizeof(desc)));
	conn_run_echo(cn);
}

static void
conn_io(struct secho_loop *l, struct secho_event *ev, int mask)
{
	struct conn *cn = container_of(ev, struct conn, ev);

	(void)l;
	(void)mask;
	switch (cn->state) {
	case CS_HANDSHAKE:
		conn_handshake(cn);
		break;
	case CS_ECHO:
		conn_run_echo(cn);
		break;
	case CS_SHUTDOWN:
		conn_shutdown(cn);
		break;
	case CS_LINGER:
		conn_linger(cn);
		break;
	}
}

/*
 * One timer per connection serves every limit.  Activity only stores the
 * loop's clock; the timer notices it when it fires and re-arms for the
 * rest, so the echo path never touches the heap.
 */
static void
conn_timeout(struct secho_loop *l, struct secho_timer *t)
{
	struct conn *cn = container_of(t, struct conn, timer);
	uint64_t idle = (uint64_t)cn->srv->cfg->idle_timeout_ms;
	uint64_t now = secho_loop_now(l);

	if (lifetime_left(cn, now) == 0 && !cn->draining) {
		/* A trickle keeps a connection from going idle, not this. */
		if (cn->state != CS_HANDSHAKE)
			secho_conn_shutdown(&cn->c);
		conn_close(cn, "--max-lifetime reached");
		return;
	}
	if (cn->state == CS_HANDSHAKE) {
		if (now - cn->last_ms >= (uint64_t)cn->srv->cfg->
		    handshake_timeout_ms)
			conn_close(cn, "handshake timeout");
		else if (secho_conn_handle_timeout(&cn->c) < 0)
			conn_fail(cn, SECHO_IO_ERR);	/* DTLS gave up */
		else
			conn_arm_handshake(cn);
		return;
	}
	if (cn->draining) {
		/* Still moving bytes: the drain deadline, not idleness, ends
		 * it (the server-wide drain timer stops the loop then). */
		if (now < cn->srv->drain_end_ms)
			secho_loop_timer_set(l, t, cn->srv->drain_end_ms - now);
		else
			conn_close(cn, "drain deadline");
		return;
	}
	if (now - cn->last_ms >= idle) {
		/* Say goodbye properly (one try: it is small), then close. */
		secho_conn_shutdown(&cn->c);
		conn_close(cn, "idle timeout");
		return;
	}
	secho_loop_timer_set(l, t, bounded_wait(cn, now,
	    idle - (now - cn->last_ms)));
}

static int
conn_setup(struct conn *cn, struct listener *ls, int fd)
{
	if (ls->proto == SECHO_TLS)
		return secho_tls_conn_init(ls->srv->tls, &cn->c, fd, NULL);
	if (ls->proto == SECHO_DTLS)
		return secho_dtls_accept(ls->dtls, &cn->c, fd);
	secho_conn_init_tcp(&cn->c, fd);
	cn->c.flags |= SECHO_CONN_SERVER;
	return 0;
}

static void
conn_new(struct listener *ls, int fd, const struct secho_sockaddr *peer)
{
	struct server *s = ls->srv;
	char addr[SECHO_ADDRSTR_MAX];
	struct conn *cn;

	if ((cn = calloc(1, sizeof(*cn))) == NULL ||
	    conn_setup(cn, ls, fd) == -1) {
		logmsg("cannot accept %s: %s", secho_sockaddr_str(
		    (const struct sockaddr *)&peer->ss, addr, sizeof(addr)),
		    cn == NULL ? "out of memory" : secho_error());
		free(cn);
		close(fd);
		conn_slot_give(s, peer);
		return;
	}
	cn->c.peer = *peer;
	cn->srv = s;
	cn->proto = ls->proto;
	cn->state = ls->proto == SECHO_TCP ? CS_ECHO : CS_HANDSHAKE;
	cn->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = cn;
	s->conns = cn;
	s->nconns++;
	secho_event_init(&cn->ev, fd, conn_io);
	secho_timer_init(&cn->timer, conn_timeout);
	touch(cn);
	cn->born_ms = cn->last_ms;
	secho_loop_timer_set(s->loop, &cn->timer, bounded_wait(cn,
	    cn->born_ms, (uint64_t)(cn->state == CS_HANDSHAKE ?
	    s->cfg->handshake_timeout_ms : s->cfg->idle_timeout_ms)));
	logv(s, "%s %s: accepted (%zu open)", secho_proto_name(ls->proto),
	    peer_str(cn, addr, sizeof(addr)),
	    __atomic_load_n(&s->sh->nconns, __ATOMIC_RELAXED));
	/* TCP and TLS clients speak first; a DTLS client awaits our hello. */
	if (ls->proto == SECHO_DTLS)
		conn_handshake(cn);
	else
		conn_watch(cn, SECHO_WANT_READ);
}

/* --- listeners --- */

static void
accept_resume(struct secho_loop *l, struct secho_timer *t)
{
	struct listener *ls = container_of(t, struct listener, resume);

	if (!ls->srv->draining)
		secho_loop_watch(l, &ls->ev, LISTEN_EV);
}

static void
accept_pause(struct listener *ls)
{
	struct server *s = ls->srv;
	char addr[SECHO_ADDRSTR_MAX];

	/* Level-triggered accept would spin on EMFILE: step back a while,
	 * and say so once per episode, not every 100 ms. */
	if (!ls->paused)
		logmsg("%s %s: accepting paused: %s (retrying every %d ms)",
		    secho_proto_name(ls->proto), secho_sockaddr_str(
		    (struct sockaddr *)&ls->addr.ss, addr, sizeof(addr)),
		    strerror(errno), EMFILE_PAUSE_MS);
	ls->paused = 1;
	secho_loop_watch(s->loop, &ls->ev, 0);
	secho_loop_timer_set(s->loop, &ls->resume, EMFILE_PAUSE_MS);
}

/* Accepts up to max connections; returns 0 once the backlog is empty. */
static int
accept_batch(struct listener *ls, int max)
{
	struct server *s = ls->srv;
	struct secho_sockaddr peer;

	for (int i = 0; i < max; i++) {
		int fd = secho_net_accept(ls->ev.fd, &peer);

		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				accept_pause(ls);
			return 0;	/* EAGAIN, or an aborted connection */
		}
		if (ls->paused) {
			logmsg("%s: accepting again",
			    secho_proto_name(ls->proto));
			ls->paused = 0;
		}
		if (!conn_slot_take(s, ls->proto, &peer)) {
			/* Refused before any TLS work is spent on it. */
			close(fd);
			continue;
		}
		conn_new(ls, fd, &peer);
	}
	return 1;
}

static void
accept_io(struct secho_loop *l, struct secho_event *ev, int mask)
{
	(void)l;
	(void)mask;
	accept_batch(container_of(ev, struct listener, ev), ACCEPT_BATCH);
}

static void
accept_all(struct listener *ls)
{
	while (accept_batch(ls, ACCEPT_BATCH))
		;
}

/*
 * A UDP listener echoes each datagram to its sender.  A datagram the
 * kernel will not take yet is held and sent when the socket is writable,
 * so back-pressure reaches the sender instead of dropping echoes.
 */
/* Echoes what is held; returns 0 when all went out, else SECHO_WANT_*. */
static int
dgram_flush(struct listener *ls)
{
	while (ls->nsent < ls->nheld) {
		int n = secho_net_send_batch(ls->ev.fd, ls->batch + ls->nsent,
		    ls->nheld - ls->nsent);

		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return SECHO_WANT_WRITE;
		if (n == -1) {	/* this one cannot go: drop it, go on */
			logv(ls->srv, "udp: echo dropped: %s", strerror(errno));
			n = 1;
		}
		ls->nsent += n;
	}
	ls->nheld = ls->nsent = 0;
	return 0;
}

/*
 * A UDP listener echoes each datagram to its sender, a batch per system
 * call each way.  Datagrams the kernel will not take yet are held and
 * sent when the socket is writable, so back-pressure reaches the senders
 * instead of dropping their echoes.
 */
static void
dgram_io(struct secho_loop *l, struct secho_event *ev, int mask)
{
	struct listener *ls = container_of(ev, struct listener, ev);
	int n;

	(void)mask;
	for (int round = 0; round < DGRAM_BUDGET / SECHO_DGRAM_BATCH; round++) {
		if (dgram_flush(ls) == SECHO_WANT_WRITE) {
			secho_loop_watch(l, ev, SECHO_EV_WRITE |
			    SECHO_EV_EXCLUSIVE);
			return;
		}
		n = secho_net_recv_batch(ev->fd, ls->batch, SECHO_DGRAM_BATCH);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			secho_loop_watch(l, ev, LISTEN_EV);
			return;
		}
		if (n == -1) {	/* e.g. ICMP unreachable from an old peer */
			logv(ls->srv, "udp: %s", strerror(errno));
			continue;
		}
		ls->nheld = n;
	}
	secho_loop_defer(l, ev, SECHO_EV_READ);
}

/*
 * A DTLS listener answers ClientHellos statelessly; a client that comes
 * back with a valid cookie gets a connected socket and a connection.
 */
static void
dtls_io(struct secho_loop *l, struct secho_event *ev, int mask)
{
	struct listener *ls = container_of(ev, struct listener, ev);
	struct server *s = ls->srv;
	struct secho_sockaddr peer, local;
	char addr[SECHO_ADDRSTR_MAX];
	int fd, rc;

	(void)mask;
	/* One datagram per round, so a hello flood cannot hog the loop. */
	for (int i = 0; i < DGRAM_BUDGET; i++) {
		if ((rc = secho_dtls_listen(ls->dtls, &peer, &local)) == 0)
			return;		/* level-triggered: READ stays set */
		if (rc == 2)
			continue;
		if (rc == -1) {
			logv(s, "%s", secho_error());
			continue;
		}
		secho_sockaddr_str((struct sockaddr *)&peer.ss, addr,
		    sizeof(addr));
		if (!conn_slot_take(s, SECHO_DTLS, &peer))
			continue;
		if ((fd = secho_net_dgram_child(&local, &peer)) == -1) {
			logmsg("dtls %s: %s", addr, secho_error());
			conn_slot_give(s, &peer);
			continue;
		}
		conn_new(ls, fd, &peer);
	}
	secho_loop_defer(l, ev, SECHO_EV_READ);
}

/* --- listening sockets: bound once, watched by every worker --- */

static int
sock_open(struct shared *sh, const struct secho_endpoint *ep)
{
	struct sock *k = &sh->socks[sh->nsocks];

	/* DTLS clients get sockets of their own on the listener's port. */
	k->fd = secho_net_listen(ep->host, ep->port,
	    secho_proto_is_dgram(ep->proto), sh->cfg->backlog,
	    ep->proto == SECHO_DTLS, &k->addr);
	if (k->fd == -1)
		return -1;
	k->proto = ep->proto;
	sh->nsocks++;
	return 0;
}

static void
socks_close(struct shared *sh)
{
	for (size_t i = 0; i < sh->nsocks; i++) {
		if (sh->socks[i].fd != -1)
			close(sh->socks[i].fd);
		sh->socks[i].fd = -1;
	}
}

static int
listener_attach(struct server *s, const struct sock *k)
{
	struct listener *ls = &s->ls[s->nls];
	int dgram = secho_proto_is_dgram(k->proto);

	ls->srv = s;
	ls->proto = k->proto;
	ls->addr = k->addr;
	secho_timer_init(&ls->resume, accept_resume);
	secho_event_init(&ls->ev, k->fd, k->proto == SECHO_DTLS ? dtls_io :
	    dgram ? dgram_io : accept_io);
	if (k->proto == SECHO_DTLS) {
		if ((ls->dtls = secho_dtls_listener_new(s->dtls, k->fd)) == NULL)
			return -1;
	} else if (dgram) {
		if ((ls->dgram = malloc((size_t)SECHO_DGRAM_BATCH *
		    DGRAM_MAX)) == NULL) {
			secho_error_errno("malloc");
			return -1;
		}
		for (int i = 0; i < SECHO_DGRAM_BATCH; i++) {
			ls->batch[i].buf = ls->dgram + (size_t)i * DGRAM_MAX;
			ls->batch[i].cap = DGRAM_MAX;
		}
	}
	s->nls++;
	return secho_loop_watch(s->loop, &ls->ev, LISTEN_EV);
}

static void
listener_detach(struct server *s, struct listener *ls)
{
	if (ls->ev.fd == -1)
		return;
	secho_loop_forget(s->loop, &ls->ev);
	secho_loop_timer_del(s->loop, &ls->resume);
	ls->ev.fd = -1;		/* the socket itself is the process's */
	free(ls->dgram);
	ls->dgram = NULL;
	secho_dtls_listener_free(ls->dtls);
	ls->dtls = NULL;
}

/* --- workers --- */

static void
worker_post(struct server *s, unsigned cmd)
{
	uint64_t one = 1;

	__atomic_or_fetch(&s->cmds, cmd, __ATOMIC_ACQ_REL);
	if (write(s->cmdfd, &one, sizeof(one)) < 0)
		logmsg("worker %d: cannot post a command: %s", s->id,
		    strerror(errno));
}

/*
 * A draining worker is done once its connections are; worker 0, which
 * reads the signals, also waits for every other worker to finish.
 */
static void
worker_check_done(struct server *s)
{
	if (!s->draining || s->nconns > 0)
		return;
	if (s->id == 0 && __atomic_load_n(&s->sh->running, __ATOMIC_ACQUIRE) > 1)
		return;
	secho_loop_stop(s->loop);
}

/*
 * First SIGINT/SIGTERM, in every worker: stop accepting and let every
 * connection finish what it has read, then close with close_notify.  A
 * second signal, or the drain deadline, ends the loop at once.
 */
static void
drain_start(struct server *s)
{
	struct conn *cn, *next;

	/*
	 * Connections the kernel has completed are clients that already
	 * sent bytes: take them in and serve them rather than reset them.
	 */
	for (size_t i = 0; i < s->nls; i++) {
		if (!secho_proto_is_dgram(s->ls[i].proto))
			accept_all(&s->ls[i]);
	}
	s->draining = 1;
	for (size_t i = 0; i < s->nls; i++)
		listener_detach(s, &s->ls[i]);
	/* The last worker to let go of the sockets closes them. */
	if (__atomic_add_fetch(&s->sh->drain_acks, 1, __ATOMIC_ACQ_REL) ==
	    s->sh->nworkers)
		socks_close(s->sh);
	secho_loop_timer_set(s->loop, &s->drain_timer,
	    (uint64_t)s->cfg->drain_timeout_ms);
	/* Handshakes in flight may finish too: their clients are waiting. */
	s->drain_end_ms = secho_loop_now(s->loop) +
	    (uint64_t)s->cfg->drain_timeout_ms;
	for (cn = s->conns; cn != NULL; cn = next) {
		next = cn->next;
		cn->draining = 1;
		if (cn->state == CS_HANDSHAKE)
			cn->drain_grace = 1;
		else
			secho_loop_defer(s->loop, &cn->ev, SECHO_EV_READ);
	}
	worker_check_done(s);
}

static void
drain_expired(struct secho_loop *l, struct secho_timer *t)
{
	struct server *s = container_of(t, struct server, drain_timer);

	if (s->nconns > 0)
		logmsg("drain deadline passed: closing %zu connection%s",
		    s->nconns, s->nconns == 1 ? "" : "s");
	secho_loop_stop(l);
}

/* Takes the contexts worker 0 handed over with CMD_RELOAD. */
static void
worker_reload(struct server *s)
{
	struct secho_tls *t = __atomic_exchange_n(&s->next_tls, NULL,
	    __ATOMIC_ACQ_REL);
	struct secho_tls *d = __atomic_exchange_n(&s->next_dtls, NULL,
	    __ATOMIC_ACQ_REL);

	if (t != NULL) {
		secho_tls_free(s->tls);
		s->tls = t;
	}
	if (d == NULL)
		return;
	secho_tls_free(s->dtls);
	s->dtls = d;
	for (size_t i = 0; i < s->nls; i++) {
		if (s->ls[i].dtls != NULL)
			secho_dtls_listener_set_tls(s->ls[i].dtls, d);
	}
}

static void
worker_cmd_io(struct secho_loop *l, struct secho_event *ev, int mask)
{
	struct server *s = container_of(ev, struct server, cmdev);
	uint64_t v;
	unsigned cmds;

	(void)mask;
	if (read(ev->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	cmds = __atomic_exchange_n(&s->cmds, 0, __ATOMIC_ACQ_REL);
	if (cmds & CMD_RELOAD)
		worker_reload(s);
	if (cmds & CMD_STOP) {
		secho_loop_stop(l);
		return;
	}
	if ((cmds & CMD_DRAIN) && !s->draining)
		drain_start(s);
	if (cmds & CMD_CHECK)
		worker_check_done(s);
}

static int
worker_open(struct server *s, struct shared *sh, int id)
{
	s->cfg = sh->cfg;
	s->sh = sh;
	s->id = id;
	for (size_t i = 0; i < SECHO_MAX_LISTENERS; i++)
		s->ls[i].ev.fd = -1;
	secho_timer_init(&s->drain_timer, drain_expired);
	if ((s->cmdfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		secho_error_errno("eventfd");
		return -1;
	}
	if ((s->loop = secho_loop_new()) == NULL)
		return -1;
	secho_event_init(&s->cmdev, s->cmdfd, worker_cmd_io);
	if (secho_loop_watch(s->loop, &s->cmdev, SECHO_EV_READ) == -1)
		return -1;
	if ((s->tls = sh->tls) != NULL)
		secho_tls_ref(s->tls);
	if ((s->dtls = sh->dtls) != NULL)
		secho_tls_ref(s->dtls);
	for (size_t i = 0; i < sh->nsocks; i++) {
		if (listener_attach(s, &sh->socks[i]) == -1)
			return -1;
	}
	return 0;
}

static void
worker_close(struct server *s)
{
	if (s->sh == NULL)
		return;		/* never opened */
	while (s->conns != NULL)
		conn_close(s->conns, s->draining ? "server shutting down" :
		    NULL);
	for (size_t i = 0; i < s->nls; i++)
		listener_detach(s, &s->ls[i]);
	if (s->cmdfd > 0) {
		secho_loop_forget(s->loop, &s->cmdev);
		close(s->cmdfd);
	}
	secho_tls_free(s->tls);
	secho_tls_free(s->dtls);
	secho_tls_free(__atomic_exchange_n(&s->next_tls, NULL,
	    __ATOMIC_ACQ_REL));
	secho_tls_free(__atomic_exchange_n(&s->next_dtls, NULL,
	    __ATOMIC_ACQ_REL));
	pool_free(s);
	secho_loop_free(s->loop);
}

static void *
worker_main(void *arg)
{
	struct server *s = arg;

	secho_loop_run(s->loop);
	__atomic_sub_fetch(&s->sh->running, 1, __ATOMIC_ACQ_REL);
	worker_post(&s->sh->workers[0], CMD_CHECK);
	return NULL;
}

/* --- the process: signals, reload, start and stop --- */

/*
 * SIGHUP: certificates, keys and ticket keys are read again into new
 * contexts, handed to every worker for its new connections; live ones keep
 * theirs.  A broken new file is logged and the old contexts keep serving.
 */
static void
reload(struct shared *sh)
{
	struct secho_tls *t = NULL, *d = NULL;

	if (sh->tls == NULL && sh->dtls == NULL) {
		logmsg("SIGHUP: nothing to reload (no tls or dtls listener)");
		return;
	}
	if ((sh->tls != NULL && (t = secho_tls_renew(sh->tls)) == NULL) ||
	    (sh->dtls != NULL && (d = secho_tls_renew(sh->dtls)) == NULL)) {
		logmsg("reload of %s failed, still serving the old "
		    "certificate: %s", t == NULL && sh->tls != NULL ? "tls" :
		    "dtls", secho_error());
		secho_tls_free(t);
		return;
	}
	for (int i = 0; i < sh->nworkers; i++) {
		struct server *w = &sh->workers[i];

		if (t != NULL) {
			secho_tls_ref(t);
			secho_tls_free(__atomic_exchange_n(&w->next_tls, t,
			    __ATOMIC_ACQ_REL));
		}
		if (d != NULL) {
			secho_tls_ref(d);
			secho_tls_free(__atomic_exchange_n(&w->next_dtls, d,
			    __ATOMIC_ACQ_REL));
		}
		worker_post(w, CMD_RELOAD);
	}
	if (t != NULL) {
		secho_tls_free(sh->tls);
		sh->tls = t;
	}
	if (d != NULL) {
		secho_tls_free(sh->dtls);
		sh->dtls = d;
	}
	logmsg("reloaded %s and %s", sh->cfg->tls.cert, sh->cfg->tls.key);
}

static void
signal_io(struct secho_loop *l, struct secho_event *ev, int mask)
{
	struct shared *sh = container_of(ev, struct shared, sigev);
	struct signalfd_siginfo si;

	(void)l;
	(void)mask;
	if (read(ev->fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		reload(sh);
		return;
	}
	if (sh->draining) {
		logmsg("second signal: exiting now");
		for (int i = 0; i < sh->nworkers; i++)
			worker_post(&sh->workers[i], CMD_STOP);
		return;
	}
	sh->draining = 1;
	logmsg("shutting down: draining %zu connection%s",
	    __atomic_load_n(&sh->nconns, __ATOMIC_RELAXED),
	    __atomic_load_n(&sh->nconns, __ATOMIC_RELAXED) == 1 ? "" : "s");
	for (int i = 0; i < sh->nworkers; i++)
		worker_post(&sh->workers[i], CMD_DRAIN);
}

static int
signals_open(struct shared *sh)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	/*
	 * Blocked before any worker thread exists (they inherit the mask),
	 * then read as events by worker 0: no handler races any loop.
	 */
	if (sigprocmask(SIG_BLOCK, &set, &sh->oldmask) == -1 ||
	    (sh->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1) {
		secho_error_errno("signalfd");
		return -1;
	}
	secho_event_init(&sh->sigev, sh->sigfd, signal_io);
	return 0;
}

/* Thousands of clients need thousands of fds: take what we may. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
nworkers(const struct secho_server_config *cfg)
{
	long n = cfg->workers > 0 ? cfg->workers :
	    sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > SECHO_MAX_WORKERS ? SECHO_MAX_WORKERS : (int)n;
}

/* The lowest port an ordinary user may bind. */
static int
unprivileged_port_start(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "r");
	int port = 1024;

	if (f != NULL) {
		if (fscanf(f, "%d", &port) != 1)
			port = 1024;
		fclose(f);
	}
	return port;
}

static int
drop_privileges(struct shared *sh)
{
	struct secho_priv p = sh->cfg->priv;
	int low = unprivileged_port_start(), fds[SECHO_MAX_LISTENERS];

	/* DTLS binds a socket per client on its port, after the drop. */
	p.fds = fds;
	for (size_t i = 0; i < sh->nsocks; i++) {
		if (sh->socks[i].proto != SECHO_DTLS)
			continue;
		fds[p.nfds++] = sh->socks[i].fd;
		if (secho_sockaddr_port((struct sockaddr *)
		    &sh->socks[i].addr.ss) < low)
			p.keep_bind = 1;
	}
	if (secho_priv_drop(&p) == -1)
		return -1;
	if (p.user != NULL && sh->cfg->verbose > 0)
		logmsg("running as uid %u gid %u%s%s", (unsigned)geteuid(),
		    (unsigned)getegid(), p.chroot != NULL ? " in chroot " : "",
		    p.chroot != NULL ? p.chroot : "");
	return 0;
}

static int
process_open(struct shared *sh, const struct secho_server_config *cfg)
{
	sh->cfg = cfg;
	sh->sigfd = -1;
	for (size_t i = 0; i < cfg->nlisten; i++) {
		enum secho_proto p = cfg->listen[i].proto;
		struct secho_tls **t = p == SECHO_TLS ? &sh->tls :
		    p == SECHO_DTLS ? &sh->dtls : NULL;

		if (t != NULL && *t == NULL && (*t = secho_tls_new(&cfg->tls,
		    SECHO_TLS_SERVER, p == SECHO_DTLS)) == NULL)
			return -1;
	}
	/* Signals first: once "listening" is out, SIGTERM must drain. */
	if (signals_open(sh) == -1)
		return -1;
	for (size_t i = 0; i < cfg->nlisten; i++) {
		if (sock_open(sh, &cfg->listen[i]) == -1)
			return -1;
	}
	if (cfg->max_conns_per_ip > 0 && (sh->iplimit =
	    secho_iplimit_new(cfg->max_conns_per_ip)) == NULL)
		return -1;
	/* Bound, keys read: root is no longer needed (no thread yet). */
	if (drop_privileges(sh) == -1)
		return -1;
	sh->nworkers = nworkers(cfg);
	if ((sh->workers = calloc((size_t)sh->nworkers,
	    sizeof(*sh->workers))) == NULL) {
		secho_error_errno("calloc");
		return -1;
	}
	for (int i = 0; i < sh->nworkers; i++) {
		if (worker_open(&sh->workers[i], sh, i) == -1)
			return -1;
	}
	return secho_loop_watch(sh->workers[0].loop, &sh->sigev, SECHO_EV_READ);
}

static void
print_listening(const struct shared *sh)
{
	/* Only once all are bound: scripts take this as "ready". */
	for (size_t i = 0; i < sh->nsocks; i++) {
		char addr[SECHO_ADDRSTR_MAX];

		printf("listening %s %s\n", secho_proto_name(sh->socks[i].proto),
		    secho_sockaddr_str((struct sockaddr *)&sh->socks[i].addr.ss,
		    addr, sizeof(addr)));
	}
	fflush(stdout);
}

/* Runs worker 0 here and the others in threads until all have stopped. */
static int
process_run(struct shared *sh)
{
	int started = 1, rc;

	sh->running = 1;
	for (int i = 1; i < sh->nworkers; i++) {
		__atomic_add_fetch(&sh->running, 1, __ATOMIC_ACQ_REL);
		if ((errno = pthread_create(&sh->workers[i].thread, NULL,
		    worker_main, &sh->workers[i])) != 0) {
			__atomic_sub_fetch(&sh->running, 1, __ATOMIC_ACQ_REL);
			secho_error_errno("cannot start worker %d", i);
			break;
		}
		started++;
	}
	if (started < sh->nworkers) {
		for (int i = 1; i < started; i++)
			worker_post(&sh->workers[i], CMD_STOP);
		rc = -1;
	} else {
		print_listening(sh);
		rc = secho_loop_run(sh->workers[0].loop);
	}
	/* Worker 0 is done: a deadline or second signal ends the rest. */
	for (int i = 1; i < started; i++) {
		worker_post(&sh->workers[i], CMD_STOP);
		pthread_join(sh->workers[i].thread, NULL);
	}
	return rc;
}

static void
process_close(struct shared *sh)
{
	for (int i = 0; sh->workers != NULL && i < sh->nworkers; i++)
		worker_close(&sh->workers[i]);
	free(sh->workers);
	socks_close(sh);
	if (sh->sigfd != -1) {
		close(sh->sigfd);
		sigprocmask(SIG_SETMASK, &sh->oldmask, NULL);
	}
	secho_tls_free(sh->tls);
	secho_tls_free(sh->dtls);
	secho_iplimit_free(sh->iplimit);
}

int
secho_server_run(const struct secho_server_config *cfg)
{
	struct shared sh;
	int rc = -1;

	memset(&sh, 0, sizeof(sh));
	raise_nofile();
	if (cfg->tls.keylog != NULL)
		logmsg("warning: writing TLS session secrets to %s; anyone "
		    "who reads it can decrypt the traffic", cfg->tls.keylog);
	if (process_open(&sh, cfg) == 0)
		rc = process_run(&sh);
	process_close(&sh);
	return rc;
}
