/*
 * server_listen.c - a worker's listeners: TCP/TLS accept batches (paused
 * on EMFILE), UDP echo in recvmmsg/sendmmsg batches, the DTLS cookie
 * exchange, and the listening sockets the process binds for all workers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server_int.h"

#define ACCEPT_BATCH	64	/* accepts per readiness, then yield */
#define DGRAM_BUDGET	64
#define DGRAM_MAX	65536	/* > 65507, the largest UDP payload */
#define RETRY_MS	100	/* a paused (EMFILE) or deaf listener tries again */
/* Listening sockets are shared: one worker woken per new client. */
#define LISTEN_EV	(SECHO_EV_READ | SECHO_EV_EXCLUSIVE)

static const char *
ls_addr(const struct listener *ls, char *buf, size_t len)
{
	return secho_sockaddr_str((const struct sockaddr *)&ls->addr.ss, buf,
	    len);
}

/*
 * Sets a listener's interest.  epoll_ctl fails for want of kernel memory
 * or watches (ENOMEM, ENOSPC), or when the fd is not in the set; either
 * way the listener is then in no epoll set (the loop deletes an exclusive
 * interest before adding the new one), so nothing spins on it, but it is
 * deaf.  Closing it would lose a port for good over what is most likely
 * a passing shortage: its resume timer tries again instead, and the
 * failure is logged once per episode, the recovery once.
 */
static void
listener_watch(struct listener *ls, int mask)
{
	struct server *s = ls->srv;
	char addr[SECHO_ADDRSTR_MAX];

	if (secho_loop_watch(s->loop, &ls->ev, mask) == 0) {
		if (ls->deaf)
			srv_log("%s %s: watched again", secho_proto_name(
			    ls->proto), ls_addr(ls, addr, sizeof(addr)));
		ls->deaf = 0;
		return;
	}
	if (!ls->deaf)
		srv_log("%s %s: %s (retrying every %d ms)",
		    secho_proto_name(ls->proto), ls_addr(ls, addr,
		    sizeof(addr)), secho_error(), RETRY_MS);
	ls->deaf = 1;
	secho_loop_timer_set(s->loop, &ls->resume, RETRY_MS);
}

/*
 * The resume timer: accepting again after EMFILE, or another try at an
 * interest epoll refused.  A UDP listener runs its echo again instead,
 * which sets the interest it needs (writable while echoes are held).
 */
static void
listener_resume(struct secho_loop *l, struct secho_timer *t)
{
	struct listener *ls = container_of(t, struct listener, resume);

	if (ls->srv->draining)
		return;
	if (ls->proto == SECHO_UDP)
		secho_loop_defer(l, &ls->ev, SECHO_EV_READ);
	else
		listener_watch(ls, LISTEN_EV);
}

static void
accept_pause(struct listener *ls)
{
	struct server *s = ls->srv;
	char addr[SECHO_ADDRSTR_MAX];

	/* Level-triggered accept would spin on EMFILE: step back a while,
	 * and say so once per episode, not every 100 ms. */
	if (!ls->paused)
		srv_log("%s %s: accepting paused: %s (retrying every %d ms)",
		    secho_proto_name(ls->proto), ls_addr(ls, addr,
		    sizeof(addr)), strerror(errno), RETRY_MS);
	ls->paused = 1;
	listener_watch(ls, 0);
	secho_loop_timer_set(s->loop, &ls->resume, RETRY_MS);
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
			srv_log("%s: accepting again",
			    secho_proto_name(ls->proto));
			ls->paused = 0;
		}
		if (!srv_proxy_admit(ls, &peer)) {
			close(fd);	/* nobody else may say who the client is */
			continue;
		}
		if (!srv_slot_take(s, ls->proto, !(ls->flags &
		    SECHO_LISTEN_PROXY), &peer)) {
			/* Refused before any TLS work is spent on it. */
			close(fd);
			continue;
		}
		srv_conn_new(ls, fd, &peer);
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

void
srv_accept_all(struct listener *ls)
{
	while (accept_batch(ls, ACCEPT_BATCH))
		;
}

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
			mt_inc(&ls->srv->mt.dropped[SECHO_UDP]);
			ls->nsent++;
			continue;
		}
		mt_add(&ls->srv->mt.dgrams[SECHO_UDP], (uint64_t)n);
		for (int i = ls->nsent; i < ls->nsent + n; i++)
			mt_add(&ls->srv->mt.bytes[SECHO_UDP],
			    ls->batch[i].len);
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
			listener_watch(ls, SECHO_EV_WRITE | SECHO_EV_EXCLUSIVE);
			return;
		}
		n = secho_net_recv_batch(ev->fd, ls->batch, SECHO_DGRAM_BATCH);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			listener_watch(ls, LISTEN_EV);
			return;
		}
		if (n == -1) {	/* e.g. ICMP unreachable from an old peer */
			logv(ls->srv, "udp: %s", strerror(errno));
			continue;
		}
		ls->nheld = n;
		/* --report: a new sender's report goes before its echo. */
		for (int i = 0; (ls->flags & SECHO_LISTEN_REPORT) && i < n; i++)
			srv_report_dgram(ls, &ls->batch[i]);
	}
	secho_loop_defer(l, ev, SECHO_EV_READ);
}

/*
 * While --max-handshakes is reached a ClientHello gets no cookie (the
 * client could only come back to be refused): it is read and dropped
 * unanswered, and the client's retransmission is served once handshakes
 * have finished.  Returns 0 once none is waiting.
 */
static int
dtls_refuse(struct listener *ls)
{
	struct secho_sockaddr peer;
	unsigned char byte;

	peer.len = sizeof(peer.ss);
	if (recvfrom(ls->ev.fd, &byte, 1, MSG_DONTWAIT | MSG_TRUNC,
	    (struct sockaddr *)&peer.ss, &peer.len) == -1)
		return errno != EAGAIN && errno != EWOULDBLOCK;
	srv_refused(ls->srv, SECHO_DTLS, &peer, ML_MAX_HANDSHAKES);
	return 1;
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
		if (!srv_handshake_room(s)) {
			if (!dtls_refuse(ls))
				return;
			continue;
		}
		if ((rc = secho_dtls_listen(ls->dtls, &peer, &local)) == 0)
			return;		/* level-triggered: READ stays set */
		if (rc == 2)
			continue;
		if (rc == -1) {
			mt_inc(&s->mt.dropped[SECHO_DTLS]);
			logv(s, "%s", secho_error());
			continue;
		}
		secho_sockaddr_str((struct sockaddr *)&peer.ss, addr,
		    sizeof(addr));
		/*
		 * A copy of the ClientHello that was already queued here when
		 * its client got a socket of its own: a second socket for the
		 * same client would take its datagrams from the first.
		 */
		if (!srv_dtls_peer_take(s, &peer)) {
			mt_inc(&s->mt.dropped[SECHO_DTLS]);
			logv(s, "dtls %s: dropped a repeated ClientHello (the "
			    "client is served already)", addr);
			continue;
		}
		if (!srv_slot_take(s, SECHO_DTLS, 1, &peer)) {
			srv_dtls_peer_give(s, &peer);
			continue;
		}
		if ((fd = secho_net_dgram_child(&local, &peer)) == -1) {
			srv_log("dtls %s: %s", addr, secho_error());
			srv_slot_give(s, &peer, 1);
			srv_dtls_peer_give(s, &peer);
			continue;
		}
		srv_conn_new(ls, fd, &peer);
	}
	secho_loop_defer(l, ev, SECHO_EV_READ);
}

/* --- listening sockets: bound once, watched by every worker --- */

int
srv_sock_open(struct shared *sh, const struct secho_endpoint *ep)
{
	struct sock *k = &sh->socks[sh->nsocks];

	/* DTLS clients get sockets of their own on the listener's port. */
	k->fd = secho_net_listen(ep->host, ep->port,
	    secho_proto_is_dgram(ep->proto), sh->cfg->backlog,
	    ep->proto == SECHO_DTLS, &k->addr);
	if (k->fd == -1)
		return -1;
	k->proto = ep->proto;
	k->flags = ep->flags;
	sh->nsocks++;
	return 0;
}

void
srv_socks_close(struct shared *sh)
{
	for (size_t i = 0; i < sh->nsocks; i++) {
		if (sh->socks[i].fd != -1)
			close(sh->socks[i].fd);
		sh->socks[i].fd = -1;
	}
}

int
srv_listener_attach(struct server *s, const struct sock *k)
{
	struct listener *ls = &s->ls[s->nls];
	int dgram = secho_proto_is_dgram(k->proto);

	ls->srv = s;
	ls->proto = k->proto;
	ls->flags = k->flags;
	ls->addr = k->addr;
	secho_timer_init(&ls->resume, listener_resume);
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

void
srv_listener_detach(struct server *s, struct listener *ls)
{
	if (ls->ev.fd == -1)
		return;
	secho_loop_forget(s->loop, &ls->ev);
	secho_loop_timer_del(s->loop, &ls->resume);
	ls->ev.fd = -1;		/* the socket itself is the process's */
	free(ls->dgram);
	ls->dgram = NULL;
	free(ls->seen);
	ls->seen = NULL;
	secho_dtls_listener_free(ls->dtls);
	ls->dtls = NULL;
}
