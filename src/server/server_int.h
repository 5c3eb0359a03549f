/*
 * server_int.h - private glue between the echo server's files.
 *
 * server.c is the process: it binds the sockets (srv_sock_open), drops
 * privileges, opens one worker per core (srv_worker_open) and runs them.
 * server_worker.c is one worker: its thread, the eventfd commands worker 0
 * sends it (drain, stop, reload) and the signals worker 0 reads.
 * server_listen.c is a worker's listeners: accept batches, the UDP echo
 * and the DTLS cookie exchange; each new client becomes a connection
 * through srv_conn_new().  server_conn.c is one connection's life, from
 * handshake to close; its echo, and the worker's buffer pool the echo
 * draws on, are echo.c's (echo.h), which knows no connection or worker.
 */
#ifndef SECHO_SERVER_INT_H
#define SECHO_SERVER_INT_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "secho/loop.h"
#include "secho/server.h"
#include "echo.h"
#include "metrics.h"

#define container_of(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

/*
 * CS_PROXY: a listener that requires the PROXY protocol waits for the
 * header before the TLS handshake or the echo (server_proxy.c).
 * CS_LINGER: our FIN / close_notify is out while the peer may still be
 * sending; reading to its EOF before close() keeps the kernel from
 * answering late bytes with a reset that would destroy echoes in flight.
 */
enum conn_state { CS_HANDSHAKE, CS_ECHO, CS_SHUTDOWN, CS_LINGER, CS_PROXY };

/*
 * Where a connection is in the server's drain (SIGINT/SIGTERM).
 * CD_AWAIT_FIRST: its handshake was still running at the signal, so the
 * client has not had a chance to send yet: wait for its first bytes
 * (bounded by the drain deadline) before it may close as idle.
 * CD_DRAINING: echo what was read, then close with close_notify.
 */
enum conn_drain { CD_NONE, CD_AWAIT_FIRST, CD_DRAINING };

struct server;
struct shared;

/* A bound socket, shared by every worker's loop. */
struct sock {
	int fd;
	enum secho_proto proto;
	unsigned flags;			/* SECHO_LISTEN_* */
	struct secho_sockaddr addr;
};

/* One worker's registration of a shared socket. */
struct listener {
	struct server *srv;
	struct secho_event ev;
	enum secho_proto proto;
	unsigned flags;			/* SECHO_LISTEN_*, from its sock */
	struct secho_sockaddr addr;
	struct secho_timer resume;	/* after EMFILE, or a failed watch */
	struct secho_dtls_listener *dtls;	/* dtls listeners */
	/* udp listeners: one recvmmsg() batch, echoed by sendmmsg() */
	unsigned char *dgram;		/* SECHO_DGRAM_BATCH * DGRAM_MAX */
	struct secho_dgram batch[SECHO_DGRAM_BATCH];
	int nheld, nsent;		/* received, and echoed so far */
	int paused;			/* accept paused since (logged) */
	int deaf;			/* its last watch failed (logged) */
	struct seen *seen;		/* udp --report: senders seen */
	uint64_t rpt_ms;		/* ...and its report budget: */
	int rpt_tokens;			/* reports left, refilled then */
};

struct conn {
	struct secho_conn c;
	struct secho_event ev;
	struct secho_timer timer;
	struct server *srv;
	struct conn *prev, *next;
	struct echo echo;
	uint64_t last_ms;
	uint64_t born_ms;	/* for --max-lifetime */
	uint64_t born_us, hs_us;	/* accepted; its handshake took */
	/* -v with --log-format json: the session as the handshake left it,
	 * for the connection's record (the SSL object may not last). */
	struct conn_tls *tls_rec;
	enum secho_proto proto;
	enum conn_state state;
	enum conn_drain drain;
	int ip_slot;		/* holds a --max-conns-per-ip slot for peer */
	int dtls_peer;		/* holds peer's place in sh->dtls_peers */
	/* PROXY protocol: the header read so far (CS_PROXY only), and the
	 * balancer it came through once c.peer is the client it named. */
	unsigned char *pp;
	size_t pp_len;
	struct secho_sockaddr via;
	/* --report: the listener sends one; the line, until it is out. */
	int report;
	char *rpt;
	size_t rpt_len, rpt_off;
};

/* What a JSON record says of a TLS session (see conn_handshake()). */
struct conn_tls {
	struct secho_tls_info in;
	char fp[SECHO_FP_TEXT_MAX];
};

/*
 * One worker: an event loop in its own thread with its own connections,
 * buffer pool and TLS context references.  Workers share only the
 * stream and DTLS listening sockets (each watches them with EPOLLEXCLUSIVE,
 * so the kernel wakes one per new client) and an atomic connection count:
 * nothing on the echo path is shared.  A UDP socket has one owner, so one
 * flow's echoes keep their order (worker_owns() in server_worker.c).
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
	size_t peak;			/* most nconns since the last trim */
	struct secho_timer trim;	/* gives a burst's memory back */
	int trimming;			/* trim armed */
	struct echo_pool pool;
	struct secho_timer drain_timer;
	int draining;
	uint64_t drain_end_ms;
	/* commands from the signal-handling worker (0) */
	int cmdfd;			/* eventfd */
	struct secho_event cmdev;
	unsigned cmds;			/* CMD_* bits, atomic */
	struct secho_tls *next_tls;	/* handed over with CMD_RELOAD */
	struct secho_tls *next_dtls;
	/* --metrics: this worker's counters, written by it alone (on a
	 * cache line of their own, away from its neighbour's). */
	struct metrics mt __attribute__((aligned(64)));
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
	size_t nhandshakes;		/* tls/dtls ones in CS_HANDSHAKE, atomic */
	struct secho_iplimit *iplimit;	/* --max-conns-per-ip, or NULL */
	struct secho_iplimit *dtls_peers; /* DTLS clients being served */
	struct secho_tls *tls;		/* the process's own references */
	struct secho_tls *dtls;
	int sigfd;
	struct secho_event sigev;	/* on worker 0's loop */
	int ttyfd;			/* the controlling terminal, or -1 */
	int inherited;			/* sockets from socket activation */
	struct secho_timer status_timer; /* STATUS= for systemd */
	size_t status_conns;		/* the count it last said */
	int draining;
	int drain_acks;			/* workers that let go, atomic */
	/* --metrics: the listener, and what worker 0 (which handles the
	 * signals and serves the scrapes) knows of the process. */
	struct srv_metrics *metrics;
	double start_time;		/* Unix seconds */
	uint64_t start_us;		/* secho_now_us() then */
	uint64_t reloads_ok, reloads_failed;
	int last_reload_ok;		/* -1: no reload yet */
	double last_reload_time;	/* Unix seconds */
	sigset_t oldmask;		/* restored on the way out */
};

/* server.c: one write per line, so workers' lines never interleave. */
void srv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * --log-format json: srv_log() writes {"time":...,"msg":...}; a record
 * with fields of its own (`"event":"close",...`, already JSON) goes out
 * through srv_log_record(); secho_json_quote() (secho/json.h) writes
 * its strings.
 */
void srv_log_record(const char *fields);
int srv_log_is_json(void);
/* Logs a warning when t's certificate (from path) expires within 7 days. */
/*
 * server_sd.c: takes the sockets systemd handed over (none: 0), marking
 * in taken[] the command-line listeners they stand for.  0 or -1.
 */
int srv_sd_sockets(struct shared *sh, int *taken);
/* sd_notify(3) with a printf message; nothing without NOTIFY_SOCKET. */
void srv_sd_notify(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* True when a service manager listens (NOTIFY_SOCKET is set). */
int srv_sd_notifying(void);
void srv_warn_expiry(const struct secho_tls *t, const char *path);

#define logv(srv, ...) do { \
	if ((srv)->cfg->verbose > 0) \
		srv_log(__VA_ARGS__); \
} while (0)

/*
 * server_conn.c.  A slot of --max-conns, and with per_ip one of
 * --max-conns-per-ip for peer (a PROXY listener takes that one only once
 * the header has named the client); srv_slot_give's peer is NULL when
 * no per-address slot is held.
 */
int srv_slot_take(struct server *s, enum secho_proto proto, int per_ip,
    const struct secho_sockaddr *peer);
void srv_slot_give(struct server *s, const struct secho_sockaddr *peer,
    int handshaking);
int srv_handshake_room(struct server *s);
/* Logs (at -v) and counts a client turned away by limit. */
void srv_refused(struct server *s, enum secho_proto proto,
    const struct secho_sockaddr *peer, enum mt_limit limit);
/*
 * A DTLS client's place among those being served (sh->dtls_peers): 1, or
 * 0 when it has one already (or no memory is left).
 */
int srv_dtls_peer_take(struct server *s, const struct secho_sockaddr *peer);
void srv_dtls_peer_give(struct server *s, const struct secho_sockaddr *peer);
/* Takes a --max-conns-per-ip slot for peer alone; 1, or 0 if refused. */
int srv_slot_take_ip(struct server *s, enum secho_proto proto,
    const struct secho_sockaddr *peer);

/*
 * server_proxy.c: whether peer may connect to ls (1), or is refused (0,
 * logged and counted) for a PROXY listener when not in --proxy-from; and
 * one read of cn's header: 1 once it is whole (cn->c.peer is then the
 * client it names, cn->via the balancer), SECHO_WANT_READ, or -1 with
 * the reason in *why (a static string or secho_error()).
 */
int srv_proxy_admit(struct listener *ls, const struct secho_sockaddr *peer);
int srv_proxy_read(struct conn *cn, const char **why);
void srv_conn_new(struct listener *ls, int fd,
    const struct secho_sockaddr *peer);
void srv_conn_close(struct conn *cn, const char *why);
int srv_conn_cut(struct conn *cn);
void srv_trim_run(struct secho_loop *l, struct secho_timer *t);

/* server_listen.c */
int srv_sock_open(struct shared *sh, const struct secho_endpoint *ep);
void srv_socks_close(struct shared *sh);
int srv_listener_attach(struct server *s, const struct sock *k);
void srv_listener_detach(struct server *s, struct listener *ls);
void srv_accept_all(struct listener *ls);

/*
 * server_report.c: JSON of a connection.  srv_addf is printf onto buf at
 * *o (what does not fit is cut, never over); srv_json_field appends
 * `,"key":` and s as a JSON string; srv_json_where the transport and
 * addresses; srv_json_tls `,"tls":{...}` from t (NULL: the handshake did
 * not finish) and the client's fingerprints, after `,"records":..` (whose
 * record layer had the application data) when records is set.
 * srv_report_make puts cn's --report line in cn->rpt (0 or -1);
 * srv_report_dgram sends one to d's sender if it is new to ls.
 */
__attribute__((format(printf, 4, 5)))
void srv_addf(char *buf, size_t len, size_t *o, const char *fmt, ...);
void srv_json_field(char *buf, size_t len, size_t *o, const char *key,
    const char *s);
void srv_json_where(const struct conn *cn, char *buf, size_t len, size_t *o);
void srv_json_tls(const struct conn *cn, const struct conn_tls *t,
    int records, char *buf, size_t len, size_t *o);
int srv_report_make(struct conn *cn);
void srv_report_dgram(struct listener *ls, const struct secho_dgram *d);

/*
 * server_metrics.c: --metrics.  open binds the listener (before
 * privileges go), start serves it on worker 0's loop; addr is where it
 * listens (NULL: no --metrics).
 */
struct srv_metrics;
int srv_metrics_open(struct shared *sh);
int srv_metrics_start(struct shared *sh);
const struct secho_sockaddr *srv_metrics_addr(const struct shared *sh);
void srv_metrics_close(struct shared *sh);

/* server_worker.c */
int srv_worker_open(struct server *s, struct shared *sh, int id);
void srv_worker_close(struct server *s);
void *srv_worker_main(void *arg);
void srv_worker_post(struct server *s, unsigned cmd);
void srv_worker_check_done(struct server *s);
int srv_signals_open(struct shared *sh);

#endif
