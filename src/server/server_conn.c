/*
 * server_conn.c - one connection: accept -> handshake -> echo -> shutdown
 * -> close, with the one timer that serves all its limits and the slots
 * (--max-conns, --max-conns-per-ip) it holds.  The echo itself, and the
 * buffer pool it draws on, are echo.c's.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "secho/iplimit.h"
#include "secho/tls_trace.h"
#include "server_int.h"

#define DISCARD_MAX	65536	/* unread bytes dropped before a close */
#define TRIM_PEAK	256	/* connections a worker had before a trim */
#define TRIM_MS		1000	/* at most one trim per worker a second */

static const char *
peer_str(const struct conn *cn, char *buf, size_t len)
{
	return secho_sockaddr_str((const struct sockaddr *)&cn->c.peer.ss,
	    buf, len);
}

/* --- connections --- */

static void
touch(struct conn *cn)
{
	cn->last_ms = secho_loop_now(cn->srv->loop);
}

/* Takes one of max places in *count (shared by all workers); 0: full. */
static int
count_take(size_t *count, int max)
{
	size_t n = __atomic_load_n(count, __ATOMIC_RELAXED);

	do {
		if (n >= (size_t)max)
			return 0;
	} while (!__atomic_compare_exchange_n(count, &n, n + 1, 1,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return 1;
}

void
srv_refused(struct server *s, enum secho_proto proto,
    const struct secho_sockaddr *peer, enum mt_limit limit)
{
	const struct secho_server_config *cfg = s->cfg;
	char addr[SECHO_ADDRSTR_MAX];
	int max = limit == ML_MAX_CONNS ? cfg->max_conns :
	    limit == ML_MAX_PER_IP ? cfg->max_conns_per_ip :
	    cfg->max_handshakes;

	mt_inc(&s->mt.refused[proto][limit]);
	logv(s, "%s %s: refused: --%s %d reached", secho_proto_name(proto),
	    secho_sockaddr_str((const struct sockaddr *)&peer->ss, addr,
	    sizeof(addr)), limit == ML_MAX_CONNS ? "max-conns" :
	    limit == ML_MAX_PER_IP ? "max-conns-per-ip" : "max-handshakes",
	    max);
}

int
srv_slot_take_ip(struct server *s, enum secho_proto proto,
    const struct secho_sockaddr *peer)
{
	if (s->sh->iplimit == NULL || secho_iplimit_take(s->sh->iplimit,
	    (const struct sockaddr *)&peer->ss))
		return 1;
	srv_refused(s, proto, peer, ML_MAX_PER_IP);
	return 0;
}

/*
 * --max-conns across all workers, --max-conns-per-ip (per_ip: a PROXY
 * listener takes it only once the header has named the client), and for
 * tls and dtls --max-handshakes: the slots are taken before any work is
 * spent on a new client; the handshake's is given back when its
 * handshake ends, the others when its connection closes.  Returns 1, or
 * 0 after logging why it was refused.
 */
int
srv_slot_take(struct server *s, enum secho_proto proto, int per_ip,
    const struct secho_sockaddr *peer)
{
	const struct secho_server_config *cfg = s->cfg;

	if (!count_take(&s->sh->nconns, cfg->max_conns)) {
		srv_refused(s, proto, peer, ML_MAX_CONNS);
		return 0;
	}
	if (per_ip && !srv_slot_take_ip(s, proto, peer)) {
		__atomic_sub_fetch(&s->sh->nconns, 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (proto == SECHO_TCP || count_take(&s->sh->nhandshakes,
	    cfg->max_handshakes))
		return 1;
	srv_slot_give(s, per_ip ? peer : NULL, 0);
	srv_refused(s, proto, peer, ML_MAX_HANDSHAKES);
	return 0;
}

/* peer NULL: no per-address slot is held; handshaking: its handshake
 * slot goes back too. */
void
srv_slot_give(struct server *s, const struct secho_sockaddr *peer,
    int handshaking)
{
	if (handshaking)
		__atomic_sub_fetch(&s->sh->nhandshakes, 1, __ATOMIC_RELAXED);
	if (s->sh->iplimit != NULL && peer != NULL)
		secho_iplimit_give(s->sh->iplimit,
		    (const struct sockaddr *)&peer->ss);
	__atomic_sub_fetch(&s->sh->nconns, 1, __ATOMIC_RELAXED);
}

int
srv_dtls_peer_take(struct server *s, const struct secho_sockaddr *peer)
{
	return secho_iplimit_take(s->sh->dtls_peers,
	    (const struct sockaddr *)&peer->ss);
}

void
srv_dtls_peer_give(struct server *s, const struct secho_sockaddr *peer)
{
	secho_iplimit_give(s->sh->dtls_peers,
	    (const struct sockaddr *)&peer->ss);
}

/* 1 while --max-handshakes has room (a hint: srv_slot_take decides). */
int
srv_handshake_room(struct server *s)
{
	return __atomic_load_n(&s->sh->nhandshakes, __ATOMIC_RELAXED) <
	    (size_t)s->cfg->max_handshakes;
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

/* --idle-timeout in ms; UINT64_MAX for 0, which means none. */
static uint64_t
idle_ms(const struct conn *cn)
{
	int ms = cn->srv->cfg->idle_timeout_ms;

	return ms > 0 ? (uint64_t)ms : UINT64_MAX;
}

/*
 * Arms cn's timer for `wait` ms from now, or for the end of its life if
 * sooner; when neither ever comes (UINT64_MAX), there is nothing to arm.
 */
static void
arm(struct conn *cn, uint64_t now, uint64_t wait)
{
	uint64_t ms = bounded_wait(cn, now, wait);

	if (ms == UINT64_MAX)
		secho_loop_timer_del(cn->srv->loop, &cn->timer);
	else
		secho_loop_timer_set(cn->srv->loop, &cn->timer, ms);
}

/*
 * After a burst of connections the heap keeps the burst's pages: freed,
 * but among chunks still in use, so free() cannot return them and RSS
 * stays at the peak for good.  Once a worker is down to a quarter of a
 * large peak, malloc_trim() (every arena, glibc >= 2.8) gives them back,
 * from a timer a second later: neither a wave of closes nor the echo path
 * pays for it, and it runs at most once a second.
 */
void
srv_trim_run(struct secho_loop *l, struct secho_timer *t)
{
	struct server *s = container_of(t, struct server, trim);

	(void)l;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
	logv(s, "worker %d: heap trimmed (%zu connections, %zu at the peak)",
	    s->id, s->nconns, s->peak);
	s->peak = s->nconns;
	s->trimming = 0;
}

static void
trim_check(struct server *s)
{
	if (s->trimming || s->peak < TRIM_PEAK || s->nconns >= s->peak / 4)
		return;
	s->trimming = 1;
	secho_loop_timer_set(s->loop, &s->trim, TRIM_MS);
}

/* The connection's record as JSON fields (--log-format json) into rec. */
static void
conn_record_json(const struct conn *cn, const char *why, char *rec,
    size_t len)
{
	size_t o = 0;

	srv_addf(rec, len, &o, "\"event\":\"close\"");
	srv_json_where(cn, rec, len, &o);
	srv_json_field(rec, len, &o, "reason", why);
	srv_addf(rec, len, &o, ",\"worker\":%d,\"bytes_echoed\":%llu,"
	    "\"bytes_read\":%llu,\"duration_s\":%.6f", cn->srv->id,
	    cn->echo.echoed, cn->echo.received,
	    (double)(secho_now_us() - cn->born_us) / 1e6);
	if (cn->hs_us > 0)
		srv_addf(rec, len, &o, ",\"handshake_ms\":%.3f",
		    (double)cn->hs_us / 1000.0);
	if (secho_conn_is_tls(&cn->c))
		srv_json_tls(cn, cn->tls_rec, 1, rec, len, &o);
}

/*
 * The rest of a connection's record for its closing line: what it read,
 * how long it lived and took to shake hands, which worker and local
 * address served it, and for TLS the session (version, suite, client
 * certificate, JA4 and JA3).
 */
static void
conn_summary(const struct conn *cn, char *buf, size_t len)
{
	struct secho_sockaddr local;
	char laddr[SECHO_ADDRSTR_MAX], hs[40] = "", desc[512] = "";

	local.len = sizeof(local.ss);
	if (getsockname(cn->c.fd, (struct sockaddr *)&local.ss,
	    &local.len) == -1)
		snprintf(laddr, sizeof(laddr), "?");
	else
		secho_sockaddr_str((struct sockaddr *)&local.ss, laddr,
		    sizeof(laddr));
	if (cn->hs_us > 0)
		snprintf(hs, sizeof(hs), ", handshake %.2f ms",
		    (double)cn->hs_us / 1000.0);
	if (secho_conn_is_tls(&cn->c))
		secho_conn_describe(&cn->c, desc, sizeof(desc));
	snprintf(buf, len, "%llu bytes read, %.3f s%s, worker %d, local "
	    "%s%s%s", cn->echo.received, (double)(secho_now_us() -
	    cn->born_us) / 1e6, hs, cn->srv->id, laddr, *desc ? ", " : "",
	    desc);
}

/* Why a handshake that ended with why failed, as --metrics labels it. */
static enum mt_hsfail
hs_failure(const struct conn *cn, const char *why)
{
	if (cn->c.flags & SECHO_CONN_NOT_TLS)
		return HF_NOT_TLS;
	/* The client refusing our certificate is a rejection, whatever
	 * its alert says about certificates. */
	if (strstr(why, "rejected") != NULL || strstr(why, "alert") != NULL)
		return HF_REJECTED;
	if ((cn->c.flags & SECHO_CONN_VERIFY) ||
	    strstr(why, "sent no certificate") != NULL)
		return HF_CERTIFICATE;
	if (strcmp(why, "handshake timeout") == 0)
		return HF_TIMEOUT;
	if (strncmp(why, "peer closed", 11) == 0 ||
	    strstr(why, "reset") != NULL)
		return HF_PEER_CLOSED;
	if (strncmp(why, "drain", 5) == 0 || strncmp(why, "server", 6) == 0 ||
	    strncmp(why, "--max-lifetime", 14) == 0)
		return HF_SHUTDOWN;
	return HF_ERROR;
}

/* What --metrics counts of a connection as it closes. */
static void
count_close(struct conn *cn, const char *why)
{
	struct metrics *m = &cn->srv->mt;

	mt_inc(&m->closed[cn->proto]);
	mt_lifetime(m, cn->proto, secho_now_us() - cn->born_us);
	if (cn->state == CS_HANDSHAKE && why != NULL)
		mt_inc(&m->hs_failed[cn->proto][hs_failure(cn, why)]);
}

void
srv_conn_close(struct conn *cn, const char *why)
{
	struct server *s = cn->srv;
	char addr[SECHO_ADDRSTR_MAX], more[768];
	/* The record is written once the connection's slots are free (so
	 * whoever reads "closed" may take its place at once) and before its
	 * socket closes (so whoever sees the close finds the record); it is
	 * made now, while there is a connection to ask. */
	char rec[6144] = "";	/* room for the worst JSON escaping */

	if (why != NULL && s->cfg->verbose > 0 && srv_log_is_json())
		conn_record_json(cn, why, rec, sizeof(rec));
	else if (why != NULL && s->cfg->verbose > 0) {
		conn_summary(cn, more, sizeof(more));
		snprintf(rec, sizeof(rec), "%s %s: closed (%s, %llu bytes "
		    "echoed%s), %s", secho_proto_name(cn->proto),
		    peer_str(cn, addr, sizeof(addr)), why, cn->echo.echoed,
		    secho_tls_conn_own_records(&cn->c) ?
		    ", secho record layer" : "", more);
	}
	count_close(cn, why);
	secho_loop_forget(s->loop, &cn->ev);
	secho_loop_timer_del(s->loop, &cn->timer);
	/* A PROXY tls connection still reading its header holds a
	 * handshake slot too. */
	srv_slot_give(s, cn->ip_slot ? &cn->c.peer : NULL,
	    cn->state == CS_HANDSHAKE || (cn->state == CS_PROXY &&
	    cn->proto != SECHO_TCP));
	if (cn->dtls_peer)
		srv_dtls_peer_give(s, &cn->c.peer);
	/* Then the record, before the client can see the close. */
	if (*rec != '\0' && srv_log_is_json())
		srv_log_record(rec);
	else if (*rec != '\0')
		srv_log("%s", rec);
	/*
	 * A client that spoke the wrong protocol left bytes unread; closing
	 * over them would send a reset, and the client would see "reset"
	 * instead of a clean close it can explain.
	 */
	if ((cn->state == CS_HANDSHAKE || cn->state == CS_PROXY) &&
	    !secho_proto_is_dgram(cn->proto))
		secho_net_discard(cn->c.fd, DISCARD_MAX);
	secho_conn_close(&cn->c);
	echo_pool_put(&s->pool, cn->echo.buf);
	free(cn->pp);
	free(cn->rpt);
	free(cn->tls_rec);
	if (cn->prev != NULL)
		cn->prev->next = cn->next;
	else
		s->conns = cn->next;
	if (cn->next != NULL)
		cn->next->prev = cn->prev;
	s->nconns--;
	free(cn);
	trim_check(s);
	if (s->draining)
		srv_worker_check_done(s);
}

/*
 * The drain deadline: a last try at close_notify, then a close that sends
 * no reset.  The alert is a record of its own (24-31 bytes) queued behind
 * the echoes, and records cannot be cut to make room: a client that has
 * not read its echoes for the whole drain keeps the socket's send buffer
 * full, and is closed without it (README says so).  Its unread input is
 * dropped first (up to its receive buffer), since close() over unread
 * bytes sends a reset, which destroys the echoes still queued for it; a
 * client still sending after that gets the reset all the same.
 * Returns 1 when the close_notify could not go.
 */
int
srv_conn_cut(struct conn *cn)
{
	int rc = 0, rcvbuf = DISCARD_MAX;
	socklen_t len = sizeof(rcvbuf);

	if (cn->state == CS_ECHO || cn->state == CS_SHUTDOWN)
		rc = secho_conn_shutdown(&cn->c);
	rc = rc == SECHO_WANT_WRITE || rc == SECHO_WANT_READ;
	if (!secho_proto_is_dgram(cn->proto)) {
		getsockopt(cn->c.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len);
		secho_net_discard(cn->c.fd, (size_t)rcvbuf);
	}
	srv_conn_close(cn, rc ? "drain deadline; without close_notify: the "
	    "client did not read its echoes" : "drain deadline");
	return rc;
}

static void
conn_fail(struct conn *cn, int rc)
{
	if (rc == SECHO_IO_EOF)
		srv_conn_close(cn, (cn->c.flags & SECHO_CONN_UNCLEAN) &&
		    secho_conn_is_tls(&cn->c) ?
		    "peer closed without close_notify" : "peer closed");
	else
		srv_conn_close(cn, secho_conn_error(&cn->c));
}

static void
conn_watch(struct conn *cn, int want)
{
	int mask = want == SECHO_WANT_WRITE ? SECHO_EV_WRITE : SECHO_EV_READ;

	if (secho_loop_watch(cn->srv->loop, &cn->ev, mask) == -1)
		srv_conn_close(cn, secho_error());
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
	srv_conn_close(cn, "server shutting down");
}

static void
conn_shutdown(struct conn *cn)
{
	int rc;

	cn->state = CS_SHUTDOWN;
	rc = secho_conn_shutdown(&cn->c);
	if (rc == SECHO_WANT_READ || rc == SECHO_WANT_WRITE)
		conn_watch(cn, rc);
	else if (cn->drain != CD_NONE && rc == 0 && !secho_proto_is_dgram(cn->proto)) {
		/* The peer has not closed yet: wait for it (bounded). */
		cn->state = CS_LINGER;
		conn_linger(cn);
	} else
		srv_conn_close(cn, "done");
}

/*
 * --report: the line goes out before any echo.  Returns 0 once it is out
 * (or there is none), 1 while waiting for the socket or after a close.
 */
static int
conn_send_report(struct conn *cn)
{
	while (cn->rpt_off < cn->rpt_len) {
		ssize_t n = secho_conn_write(&cn->c, cn->rpt + cn->rpt_off,
		    cn->rpt_len - cn->rpt_off);

		if (n == SECHO_WANT_READ || n == SECHO_WANT_WRITE) {
			conn_watch(cn, (int)n);
			return 1;
		}
		if (n < 0) {
			conn_fail(cn, (int)n);
			return 1;
		}
		cn->rpt_off += (size_t)n;
		touch(cn);
	}
	free(cn->rpt);
	cn->rpt = NULL;
	return 0;
}

static void
conn_run_echo(struct conn *cn)
{
	struct server *s = cn->srv;
	unsigned long long before = cn->echo.echoed;
	int moved;
	ssize_t rc;

	if (cn->rpt != NULL && conn_send_report(cn))
		return;
	rc = echo_run(&cn->echo, &cn->c, &s->pool, cn->drain != CD_NONE,
	    &moved);

	if (moved)
		touch(cn);
	/* Even when no step says it moved bytes: a step can finish a
	 * write and then find nothing to read. */
	mt_add(&s->mt.bytes[cn->proto], cn->echo.echoed - before);
	/* Its first bytes came (held or echoed): the drain may end it idle. */
	if (cn->drain == CD_AWAIT_FIRST && (cn->echo.len > 0 ||
	    cn->echo.echoed > 0))
		cn->drain = CD_DRAINING;
	if (rc >= 0) {
		/* Out of budget: let the others run, come back next round. */
		secho_loop_defer(s->loop, &cn->ev, SECHO_EV_READ);
		return;
	}
	if (rc == SECHO_WANT_READ && cn->echo.len == 0 &&
	    cn->drain == CD_DRAINING) {
		conn_shutdown(cn);
		return;
	}
	if (rc == SECHO_WANT_READ || rc == SECHO_WANT_WRITE)
		conn_watch(cn, (int)rc);
	else if (rc == SECHO_IO_EOF && !(cn->c.flags & SECHO_CONN_UNCLEAN))
		conn_shutdown(cn);	/* all echoed: reads stop at EOF */
	else
		conn_fail(cn, (int)rc);
}

/* Handshake (and PROXY header) done: the report, if asked, then echo. */
static void
conn_start_echo(struct conn *cn)
{
	cn->state = CS_ECHO;
	touch(cn);
	arm(cn, cn->last_ms, idle_ms(cn));
	if (cn->report && srv_report_make(cn) == -1) {
		srv_conn_close(cn, secho_error());
		return;
	}
	conn_run_echo(cn);
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
	char addr[SECHO_ADDRSTR_MAX], desc[512];
	int rc;

	rc = secho_conn_handshake(&cn->c);
	if (rc == SECHO_WANT_READ || rc == SECHO_WANT_WRITE) {
		if (cn->proto == SECHO_DTLS)
			conn_arm_handshake(cn);
		conn_watch(cn, rc);
		return;
	}
	if (rc != 0) {
		/* Who it was, when its ClientHello got that far. */
		if (*secho_tls_conn_fingerprint(&cn->c) != '\0')
			logv(s, "%s %s: handshake failed: %s",
			    secho_proto_name(cn->proto), peer_str(cn, addr,
			    sizeof(addr)), secho_tls_conn_fingerprint(&cn->c));
		conn_fail(cn, rc);
		return;
	}
	/* Its handshake slot frees up for the next client. */
	__atomic_sub_fetch(&s->sh->nhandshakes, 1, __ATOMIC_RELAXED);
	cn->hs_us = secho_now_us() - cn->born_us;
	mt_inc(&s->mt.hs_done[cn->proto]);
	if (secho_tls_conn_resumed(&cn->c))
		mt_inc(&s->mt.hs_resumed[cn->proto]);
	mt_handshake_time(&s->mt, cn->proto, cn->hs_us);
	/* Kept for the JSON record: secho's record layer may free the SSL
	 * object before the connection closes. */
	if (s->cfg->verbose > 0 && srv_log_is_json() &&
	    (cn->tls_rec = calloc(1, sizeof(*cn->tls_rec))) != NULL) {
		secho_tls_conn_info(&cn->c, &cn->tls_rec->in);
		snprintf(cn->tls_rec->fp, sizeof(cn->tls_rec->fp), "%s",
		    secho_tls_conn_fingerprint(&cn->c));
	}
	if (secho_conn_is_tls(&cn->c))
		logv(s, "%s %s: handshake done: %s",
		    secho_proto_name(cn->proto), peer_str(cn, addr,
		    sizeof(addr)), secho_conn_describe(&cn->c, desc,
		    sizeof(desc)));
	conn_start_echo(cn);
}

/*
 * The PROXY header, then on to what the listener serves: the handshake,
 * or for tcp the echo.  A client the header names is limited by
 * --max-conns-per-ip like any other.
 */
static void
conn_proxy(struct conn *cn)
{
	struct server *s = cn->srv;
	const char *why = NULL;
	char addr[SECHO_ADDRSTR_MAX];
	int rc = srv_proxy_read(cn, &why);

	if (rc == SECHO_WANT_READ) {
		conn_watch(cn, SECHO_WANT_READ);
		return;
	}
	if (rc == -1) {
		mt_inc(&s->mt.refused[cn->proto][ML_PROXY]);
		srv_log("%s %s: PROXY header refused: %s",
		    secho_proto_name(cn->proto), peer_str(cn, addr,
		    sizeof(addr)), why);
		srv_conn_close(cn, NULL);
		return;
	}
	if (!srv_slot_take_ip(s, cn->proto, &cn->c.peer)) {
		srv_conn_close(cn, NULL);
		return;
	}
	cn->ip_slot = 1;
	if (cn->proto == SECHO_TCP)
		conn_start_echo(cn);
	else {
		cn->state = CS_HANDSHAKE;
		conn_handshake(cn);
	}
}

static void
conn_io(struct secho_loop *l, struct secho_event *ev, int mask)
{
	struct conn *cn = container_of(ev, struct conn, ev);

	(void)l;
	(void)mask;
	switch (cn->state) {
	case CS_PROXY:
		conn_proxy(cn);
		break;
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
	uint64_t idle = idle_ms(cn);
	uint64_t now = secho_loop_now(l);

	if (lifetime_left(cn, now) == 0 && cn->drain == CD_NONE) {
		/* A trickle keeps a connection from going idle, not this. */
		if (cn->state != CS_HANDSHAKE && cn->state != CS_PROXY)
			secho_conn_shutdown(&cn->c);
		srv_conn_close(cn, "--max-lifetime reached");
		return;
	}
	if (cn->state == CS_PROXY && now - cn->last_ms >= (uint64_t)cn->srv->
	    cfg->handshake_timeout_ms) {
		srv_log("%s: PROXY header refused: none within the handshake "
		    "timeout", secho_proto_name(cn->proto));
		mt_inc(&cn->srv->mt.refused[cn->proto][ML_PROXY]);
		srv_conn_close(cn, "PROXY header timeout");
		return;
	}
	if (cn->state == CS_HANDSHAKE || cn->state == CS_PROXY) {
		if (now - cn->last_ms >= (uint64_t)cn->srv->cfg->
		    handshake_timeout_ms)
			srv_conn_close(cn, "handshake timeout");
		else if (secho_conn_handle_timeout(&cn->c) < 0)
			conn_fail(cn, SECHO_IO_ERR);	/* DTLS gave up */
		else
			conn_arm_handshake(cn);
		return;
	}
	if (cn->drain != CD_NONE) {
		/* Still moving bytes: the drain deadline, not idleness, ends
		 * it: the server-wide drain timer closes every connection
		 * left then (srv_conn_cut()). */
		if (now < cn->srv->drain_end_ms)
			secho_loop_timer_set(l, t, cn->srv->drain_end_ms - now);
		return;
	}
	if (idle != UINT64_MAX && now - cn->last_ms >= idle) {
		/* Say goodbye properly (one try: it is small), then close. */
		secho_conn_shutdown(&cn->c);
		srv_conn_close(cn, "idle timeout");
		return;
	}
	arm(cn, now, idle == UINT64_MAX ? idle : idle - (now - cn->last_ms));
}

/* --trace: "tls 127.0.0.1:40000: trace +0.412 ms < ClientHello 512 B". */
static void
trace_line(const struct secho_trace_event *ev, void *arg)
{
	const struct conn *cn = arg;
	char addr[SECHO_ADDRSTR_MAX], buf[160];

	srv_log("%s %s: trace %s", secho_proto_name(cn->proto),
	    peer_str(cn, addr, sizeof(addr)), secho_trace_format(ev, buf,
	    sizeof(buf)));
}

/* The transport of a new connection, traced with --trace. */
static int
conn_setup(struct conn *cn, struct listener *ls, int fd)
{
	int rc;

	if (ls->proto == SECHO_TLS || ls->proto == SECHO_DTLS) {
		rc = ls->proto == SECHO_TLS ? secho_tls_conn_init(ls->srv->tls,
		    &cn->c, fd, NULL) : secho_dtls_accept(ls->dtls, &cn->c, fd);
		if (rc == 0 && secho_tls_conn_trace(&cn->c,
		    ls->srv->cfg->tls.trace, trace_line, cn) == -1) {
			cn->c.fd = -1;	/* the caller closes fd */
			secho_conn_close(&cn->c);
			return -1;
		}
		return rc;
	}
	secho_conn_init_tcp(&cn->c, fd);
	cn->c.flags |= SECHO_CONN_SERVER;
	return 0;
}

void
srv_conn_new(struct listener *ls, int fd, const struct secho_sockaddr *peer)
{
	struct server *s = ls->srv;
	char addr[SECHO_ADDRSTR_MAX];
	struct conn *cn;

	if ((cn = calloc(1, sizeof(*cn))) == NULL ||
	    conn_setup(cn, ls, fd) == -1) {
		srv_log("cannot accept %s: %s", secho_sockaddr_str(
		    (const struct sockaddr *)&peer->ss, addr, sizeof(addr)),
		    cn == NULL ? "out of memory" : secho_error());
		free(cn);
		close(fd);
		srv_slot_give(s, ls->flags & SECHO_LISTEN_PROXY ? NULL : peer,
		    ls->proto != SECHO_TCP);
		if (ls->proto == SECHO_DTLS)
			srv_dtls_peer_give(s, peer);
		return;
	}
	cn->c.peer = *peer;
	cn->srv = s;
	cn->proto = ls->proto;
	cn->dtls_peer = ls->proto == SECHO_DTLS;
	cn->state = ls->flags & SECHO_LISTEN_PROXY ? CS_PROXY :
	    ls->proto == SECHO_TCP ? CS_ECHO : CS_HANDSHAKE;
	cn->ip_slot = !(ls->flags & SECHO_LISTEN_PROXY);
	cn->report = (ls->flags & SECHO_LISTEN_REPORT) != 0;
	cn->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = cn;
	s->conns = cn;
	if (++s->nconns > s->peak)
		s->peak = s->nconns;
	mt_inc(&s->mt.accepted[cn->proto]);
	secho_event_init(&cn->ev, fd, conn_io);
	secho_timer_init(&cn->timer, conn_timeout);
	touch(cn);
	cn->born_ms = cn->last_ms;
	cn->born_us = secho_now_us();
	arm(cn, cn->born_ms, cn->state != CS_ECHO ?
	    (uint64_t)s->cfg->handshake_timeout_ms : idle_ms(cn));
	logv(s, "%s %s: accepted (%zu open)", secho_proto_name(ls->proto),
	    peer_str(cn, addr, sizeof(addr)),
	    __atomic_load_n(&s->sh->nconns, __ATOMIC_RELAXED));
	/* TCP and TLS clients speak first (but a tcp --report goes out at
	 * once); a DTLS client awaits our hello. */
	if (ls->proto == SECHO_DTLS)
		conn_handshake(cn);
	else if (cn->state == CS_ECHO && cn->report)
		conn_start_echo(cn);
	else
		conn_watch(cn, SECHO_WANT_READ);
}
