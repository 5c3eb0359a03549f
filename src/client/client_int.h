/*
 * client_int.h - private glue between the client's files: client.c
 * (connect, handshake, -m, resume), client_io.c (errors, notes, polling
 * and the drive loop every mode uses), client_echo.c (the stdin/echo
 * engine), client_ping.c (-c), client_proxy.c (--send-proxy),
 * client_report.c (--json: the run's result as one object),
 * client_server_report.c (--report: the server's view beside ours) and
 * client_opts.c (the command line).
 */
#ifndef SECHO_CLIENT_INT_H
#define SECHO_CLIENT_INT_H

#include <poll.h>
#include <stddef.h>
#include <time.h>

#include "secho/client.h"
#include "secho/transport.h"

#define SECHO_CLIENT_PROG	"secho-client"
/*
 * Largest UDP payload, one datagram per write: 65535 less the IPv4 and
 * UDP headers; IPv6's 65535 payload length leaves out its own header.
 */
#define SECHO_CLIENT_UDP_MAX	65507
#define SECHO_CLIENT_UDP6_MAX	65527
/* One DTLS record carries at most 2^14 bytes of plaintext. */
#define SECHO_CLIENT_DTLS_MAX	16384
/* Stdin is cut into datagrams no larger than a safe path MTU for DTLS. */
#define SECHO_CLIENT_DTLS_CHUNK	1200
/* -s over a stream: a probe is held in memory whole. */
#define SECHO_CLIENT_STREAM_MAX	(1 << 20)
/* -s over udp/dtls: room for "secho seq=N " with N up to 99999. */
#define SECHO_CLIENT_DGRAM_PROBE_MIN	16

/* --json: one ping probe, and one connection of a --resume run. */
struct report_probe {
	long conn;	/* 1, or the --resume connection it went over */
	long seq;
	long long rtt_us;	/* -1: lost */
};
struct report_conn {
	int resumed;
	unsigned long long handshake_us;
};

/* A server's --report line, flattened: "tls.sni" -> "localhost". */
#define SERVER_REPORT_FIELDS 32
struct server_report {
	size_t n;
	struct { char key[32]; char val[512]; } f[SERVER_REPORT_FIELDS];
};

/*
 * What a --json run gathered (client_report.c writes it).  The session
 * and addresses are the first connection's; bytes and ping figures add
 * up every connection of a --resume run.
 */
struct secho_client_report {
	struct timespec start;		/* wall clock, for "start" */
	unsigned long long start_us;	/* secho_now_us(), for durations */
	unsigned long long duration_us;
	int connected;			/* the first connect succeeded */
	char addr[SECHO_ADDRSTR_MAX], local[SECHO_ADDRSTR_MAX];
	unsigned long long connect_us, handshake_us;
	int handshaken;			/* the first handshake is done */
	int tls;			/* info and details are set */
	struct secho_tls_info info;
	struct secho_tls_details details;
	unsigned long long bytes_sent, bytes_echoed;
	int ping;			/* a ping run started */
	size_t ping_size;
	long ping_sent, ping_received;
	unsigned long long ping_us;	/* time spent pinging */
	unsigned long long rtt_min, rtt_max, rtt_sum;	/* us */
	long rtt_n;			/* probes answered */
	double rtt_sum2;
	struct report_probe *probes;
	size_t nprobes, probes_cap;
	struct report_conn *conns;	/* --resume */
	size_t nconns, conns_cap;
	/* --report: the first connection's, and how many fields of it
	 * differ from our own view; NULL when none was read. */
	struct server_report *srv;
	int srv_differences;
};

/* One connection to the server and what is needed to talk about it. */
struct client {
	const struct secho_client_config *cfg;
	char host[SECHO_HOST_MAX];	/* without [brackets] */
	char name[SECHO_HOST_MAX];	/* to verify: --servername or host */
	char addr[SECHO_ADDRSTR_MAX];	/* the peer: "[::1]:7007" */
	int dgram;
	struct secho_tls *tls;
	struct secho_conn conn;
	struct secho_sockaddr peer;
	int io_errno;	/* errno of the last SECHO_IO_ERR from conn */
	enum secho_client_status fail;	/* the first failure, or OK */
	int loss;	/* a ping run (of --resume's) lost probes */
	unsigned long long handshake_us;	/* the last TLS handshake */
	long nth;	/* this connection's number, from 1 */
	struct secho_client_report *report;	/* --json, else NULL */
};

/*
 * One step of a transport exchange for secho_client_drive(): SECHO_WANT_*
 * to wait for the socket, anything else to stop.
 */
typedef ssize_t client_step(struct client *cl, void *arg);

/* What secho_client_drive returns when SIGINT/SIGTERM cut a wait short. */
#define SECHO_CLIENT_INTR	(-64)

/* One queued datagram of the echo engine. */
struct echo_dgram {
	size_t len;
	int echoed;	/* its echo came back, maybe ahead of older ones */
};

#define SECHO_CLIENT_DGRAM_WINDOW 8

/*
 * The echo engine.  Every byte sent stays in buf until its echo has been
 * compared and (with an output fd) written out:
 *
 *	0 <= wpos <= head <= sent <= tail <= cap
 *	[wpos, head)  echoed, not yet written to out_fd
 *	[head, sent)  sent, waiting for the echo
 *	[sent, tail)  read from the input, not yet sent
 */
struct client_echo {
	struct client *cl;
	unsigned char *buf, *rbuf;
	size_t cap, rcap;
	size_t wpos, head, sent, tail;
	size_t retry;		/* length of a write to repeat, or 0 */
	size_t in_max;		/* bytes per input read (one datagram) */
	size_t out_max;		/* bytes per output write (never blocks) */
	int in_fd, out_fd;	/* -1: none */
	int in_eof;
	short rd_block;		/* poll event a socket read waits for */
	short wr_block;		/* ... and a socket write; 0: try now */
	unsigned long long nsent, nechoed;	/* totals, for messages */
	unsigned long long progress_us;	/* last echo progress */
	unsigned long long idle_until_us;	/* see secho_client_echo_run */
	struct echo_dgram dg[SECHO_CLIENT_DGRAM_WINDOW];
	size_t dg_first, dg_count, dg_sent;
	unsigned long long dg_seq;	/* number of dg[dg_first], from 1 */
};

/*
 * Fails the run: formats the message into secho_error() (printf format)
 * and keeps why in cl->fail.  Only the first failure counts: a later one
 * (stdout breaking while what was echoed is flushed) is its consequence.
 * Returns -1.
 */
int secho_client_error(struct client *cl, enum secho_client_status why,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same, with the message a failed library call left in secho_error(). */
int secho_client_status_set(struct client *cl,
    enum secho_client_status why);
/* "secho-client: MSG" on stderr: a warning, not an error. */
void secho_client_warn(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* Keeps the errno of a failed transport call (r) in cl->io_errno. */
ssize_t secho_client_io_result(struct client *cl, ssize_t r);
/* A socket-level failure (refused, reset, unreachable): a connect failure
 * even inside a TLS handshake. */
int secho_client_is_net_errno(int e);
/* Prints "secho-client: MSG" on stderr if cfg->verbose. */
void secho_client_note(const struct client *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * OpenBSD nc's timeout_tls(): calls step until it returns anything but
 * SECHO_WANT_READ / SECHO_WANT_WRITE, polling the socket for what it asked
 * for until deadline_us (0: none), and serving the transport's timer
 * (DTLS retransmission) meanwhile.  Returns step's last result, which is
 * still SECHO_WANT_* once the deadline has passed, SECHO_CLIENT_INTR once
 * interrupted (secho_client_interrupt), or SECHO_IO_ERR when poll or the
 * timer failed (the reason is in the connection's error).
 */
ssize_t secho_client_drive(struct client *cl, client_step *step, void *arg,
    unsigned long long deadline_us);
/*
 * secho_conn_read/write for the client: a SECHO_IO_ERR keeps its errno in
 * cl->io_errno, for secho_client_io_fail.
 */
ssize_t secho_client_read(struct client *cl, void *buf, size_t len);
ssize_t secho_client_write(struct client *cl, const void *buf, size_t len);

/*
 * poll() until deadline_us (0: no deadline), restarting after signals.
 * Returns poll's result: 0 once the deadline has passed, -1 with errno
 * EINTR once for each secho_client_interrupt().
 */
int secho_client_poll(struct pollfd *pfd, nfds_t n,
    unsigned long long deadline_us);
/* now + the configured timeout in us, or 0 when there is none. */
unsigned long long secho_client_deadline(const struct client *cl);
/* The configured timeout in seconds, for messages. */
double secho_client_timeout_secs(const struct client *cl);
/* The target for messages: "localhost:7007", "[::1]:7443". */
char *secho_client_target(const struct client *cl, char *buf, size_t len);

/*
 * Fails the run for a failed transport read or write (r is SECHO_IO_EOF
 * or SECHO_IO_ERR), saying what was echoed so far; returns -1.
 */
int secho_client_io_fail(struct client *cl, ssize_t r,
    unsigned long long echoed, unsigned long long sent);

/* The largest UDP payload to a peer of this address family. */
size_t secho_client_udp_max(int family);

/* Sets e up for cl; in_fd/out_fd -1 for none.  Returns 0 or -1. */
int secho_client_echo_init(struct client_echo *e, struct client *cl,
    int in_fd, int out_fd);
void secho_client_echo_free(struct client_echo *e);
/* Queues bytes to send (one datagram on udp/dtls) as if read from input. */
void secho_client_echo_queue(struct client_echo *e, const void *p,
    size_t len);
/* Whether secho_client_interrupt() was called: stop sending, close. */
int secho_client_interrupted(void);

/*
 * Runs until the input is at EOF, every byte is echoed and written out,
 * and now >= e->idle_until_us.  Returns 0, -1 (see secho_client_error), or
 * 1 once interrupted (what was echoed is written out first).
 */
int secho_client_echo_run(struct client_echo *e);

/*
 * --send-proxy: writes the PROXY header on cl->conn's socket, which no
 * byte of the transport has crossed yet.  Returns 0 or -1 (see
 * secho_client_error).
 */
int secho_client_proxy_send(struct client *cl);
/*
 * client_server_report.c: --report.  Reads the server's report of this
 * connection and prints it beside our view on stderr; 0, or -1 with the
 * failure set (no report in time, or not a report).
 */
int secho_client_server_report(struct client *cl);

/*
 * -c: ping the server.  Returns 0, also when probes were lost (then it
 * sets cl->loss), or -1 (see secho_client_error).
 */
int secho_client_ping(struct client *cl);
/*
 * client_report.c, --json: a probe's outcome (rtt_us -1: lost) and a
 * --resume connection's handshake, kept in cl->report if there is one.
 * Running out of memory drops the entry: the figures stay.
 */
void secho_client_report_probe(struct client *cl, long seq,
    long long rtt_us);
void secho_client_report_conn(struct client *cl, int resumed);
/* The first connection's session (a TLS one: its details too). */
void secho_client_report_session(struct client *cl);

/* Integer square root, for ping's mdev (client_ping.c). */
unsigned long long secho_client_isqrt(unsigned long long v);

/*
 * The smallest -s for ping over proto with count probes: when there are
 * several on udp/dtls, each must carry its own number, or a late reply
 * passes for another's.
 */
size_t secho_client_ping_min_size(enum secho_proto proto, long count);

#endif
