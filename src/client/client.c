/*
 * client.c - secho-client's frame: connect, handshake and verify, say
 * what was negotiated, run one mode (stdin, -m or -c) and shut down
 * cleanly.  A failure ends the run with a status and one message in
 * secho_error(), which src/cmd/secho-client.c prints.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client_int.h"

/* How long a clean close may wait for a full socket or the server. */
#define SHUTDOWN_US	(1000 * 1000ULL)
/* What the server may still send after the echo before we stop reading. */
#define CLOSE_DRAIN_MAX	((size_t)256 << 10)
/* Asked for, not insisted on: the kernel caps it at net.core.rmem_max. */
#define DGRAM_RCVBUF	(1 << 20)

/* "secho-client: MSG" on stderr: a -v note or a warning, not an error. */
static void
say(const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One fprintf: the line is not torn apart by other writers. */
	fprintf(stderr, "%s: %s\n", SECHO_CLIENT_PROG, msg);
}

static void
warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
}

int
secho_client_status_set(struct client *cl, enum secho_client_status why)
{
	if (cl->fail == SECHO_CLIENT_OK)
		cl->fail = why;
	return -1;
}

int
secho_client_error(struct client *cl, enum secho_client_status why,
    const char *fmt, ...)
{
	va_list ap;

	if (cl->fail != SECHO_CLIENT_OK)
		return -1;	/* keep the first message */
	va_start(ap, fmt);
	secho_error_vset(fmt, ap);
	va_end(ap);
	return secho_client_status_set(cl, why);
}

void
secho_client_note(const struct client *cl, const char *fmt, ...)
{
	va_list ap;

	if (!cl->cfg->verbose)
		return;
	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
}

/* Keeps the errno of a failed transport call before anything clobbers it. */
static ssize_t
io_result(struct client *cl, ssize_t r)
{
	if (r == SECHO_IO_ERR)
		cl->io_errno = errno;
	return r;
}

ssize_t
secho_client_read(struct client *cl, void *buf, size_t len)
{
	return io_result(cl, secho_conn_read(&cl->conn, buf, len));
}

ssize_t
secho_client_write(struct client *cl, const void *buf, size_t len)
{
	return io_result(cl, secho_conn_write(&cl->conn, buf, len));
}

/* 0: none; 1: one not yet seen by a poll; 2: seen (see secho_client_poll). */
static volatile sig_atomic_t interrupt_state;

void
secho_client_interrupt(void)
{
	interrupt_state = 1;
}

int
secho_client_interrupted(void)
{
	return interrupt_state != 0;
}

/*
 * poll() that lets SIGINT and SIGTERM in while it sleeps: the program
 * keeps them blocked otherwise (see src/cmd/secho-client.c), so one that
 * came before the call still wakes it, and no other call sees EINTR.
 */
static int
poll_signals(struct pollfd *pfd, nfds_t n, int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	sigset_t mask;

	pthread_sigmask(SIG_BLOCK, NULL, &mask);
	sigdelset(&mask, SIGINT);
	sigdelset(&mask, SIGTERM);
	return ppoll(pfd, n, ms < 0 ? NULL : &ts, &mask);
}

/*
 * A new interrupt ends the poll with EINTR once; the clean close after
 * it may then still wait (a second interrupt ends that too).
 */
static int
interrupt_now(void)
{
	if (interrupt_state != 1)
		return 0;
	interrupt_state = 2;
	errno = EINTR;
	return 1;
}

int
secho_client_poll(struct pollfd *pfd, nfds_t n, unsigned long long deadline)
{
	unsigned long long now, left;
	int rc, ms;

	for (;;) {
		ms = -1;
		if (deadline != 0) {
			now = secho_now_us();
			left = deadline > now ?
			    (deadline - now + 999) / 1000 : 0;
			ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		if (interrupt_now())
			return -1;
		rc = poll_signals(pfd, n, ms);
		if (rc == -1 && errno == EINTR && interrupt_now())
			return -1;
		if (rc == -1 && errno == EINTR)
			continue;
		/* poll may wake a hair early; 0 must mean "deadline passed". */
		if (rc == 0 && deadline != 0 && secho_now_us() < deadline)
			continue;
		return rc;
	}
}

/* When the transport's timer is due, if before deadline (0: none). */
static unsigned long long
timer_due(const struct client *cl, unsigned long long deadline)
{
	long ms = secho_conn_next_timeout(&cl->conn);
	unsigned long long due;

	if (ms < 0)
		return 0;
	due = secho_now_us() + (unsigned long long)ms * 1000;
	return deadline == 0 || due < deadline ? due : 0;
}

ssize_t
secho_client_drive(struct client *cl, client_step *step, void *arg,
    unsigned long long deadline)
{
	struct pollfd pfd = { .fd = cl->conn.fd };
	unsigned long long timer;
	ssize_t r;
	int rc;

	while ((r = step(cl, arg)) == SECHO_WANT_READ ||
	    r == SECHO_WANT_WRITE) {
		if (deadline != 0 && secho_now_us() >= deadline)
			return r;
		pfd.events = r == SECHO_WANT_READ ? POLLIN : POLLOUT;
		timer = timer_due(cl, deadline);
		rc = secho_client_poll(&pfd, 1, timer != 0 ? timer : deadline);
		if (rc == -1 && errno == EINTR)
			return SECHO_CLIENT_INTR;
		if (rc == -1) {
			secho_conn_set_error(&cl->conn, "poll: %s",
			    strerror(errno));
			return io_result(cl, SECHO_IO_ERR);
		}
		if (rc == 0 && timer != 0 &&
		    secho_conn_handle_timeout(&cl->conn) == SECHO_IO_ERR)
			return io_result(cl, SECHO_IO_ERR);
	}
	return r;
}

size_t
secho_client_udp_max(int family)
{
	return family == AF_INET6 ? SECHO_CLIENT_UDP6_MAX :
	    SECHO_CLIENT_UDP_MAX;
}

unsigned long long
secho_client_deadline(const struct client *cl)
{
	if (cl->cfg->timeout_ms <= 0)
		return 0;
	return secho_now_us() + (unsigned long long)cl->cfg->timeout_ms * 1000;
}

double
secho_client_timeout_secs(const struct client *cl)
{
	return cl->cfg->timeout_ms / 1000.0;
}

char *
secho_client_target(const struct client *cl, char *buf, size_t len)
{
	const char *fmt = strchr(cl->host, ':') != NULL ? "[%s]:%d" : "%s:%d";

	snprintf(buf, len, fmt, cl->host, cl->cfg->port);
	return buf;
}

/* A socket-level failure inside TLS is a connect failure. */
static int
is_net_errno(int e)
{
	return e == ECONNREFUSED || e == ECONNRESET || e == EPIPE ||
	    e == ENETUNREACH || e == EHOSTUNREACH || e == ENETDOWN ||
	    e == EHOSTDOWN;
}

/*
 * A TLS server that gets plain bytes drops the connection (FIN, or RST
 * where bytes were left unread) without echoing any of them.
 */
static const char *
tls_port_hint(const struct client *cl, ssize_t r, unsigned long long echoed)
{
	int e = cl->io_errno;

	if (cl->cfg->proto != SECHO_TCP || echoed != 0 ||
	    (r == SECHO_IO_ERR && e != ECONNRESET && e != EPIPE))
		return "";
	return " (is this a TLS port? try --tls)";
}

int
secho_client_io_fail(struct client *cl, ssize_t r, unsigned long long echoed,
    unsigned long long sent)
{
	const char *err = secho_conn_error(&cl->conn);
	const char *hint = tls_port_hint(cl, r, echoed);
	enum secho_client_status why = SECHO_CLIENT_CONNECT;
	int unclean = cl->conn.flags & SECHO_CONN_UNCLEAN;

	/*
	 * A TLS 1.3 server rejects a client certificate only after the
	 * client's handshake is done: that alert is still a handshake failure.
	 */
	if (r == SECHO_IO_ERR && echoed == 0 && secho_conn_is_tls(&cl->conn) &&
	    !is_net_errno(cl->io_errno))
		why = SECHO_CLIENT_TLS;
	if (r == SECHO_IO_EOF && sent == 0)
		return secho_client_error(cl, why, "connection closed by the "
		    "server before anything was sent%s%s", unclean ?
		    " (without a TLS close_notify)" : "", hint);
	if (r == SECHO_IO_EOF && unclean)
		return secho_client_error(cl, why, "the server closed the "
		    "connection without a TLS close_notify after %llu of %llu "
		    "bytes were echoed", echoed, sent);
	if (r == SECHO_IO_EOF)
		return secho_client_error(cl, why, "connection closed by the "
		    "server after %llu of %llu bytes were echoed%s", echoed,
		    sent, hint);
	if (*err == '\0')
		err = "the connection failed";
	if (sent == 0)
		return secho_client_error(cl, why, "%s: %s%s", cl->addr, err,
		    hint);
	return secho_client_error(cl, why, "%s: %s (after %llu of %llu bytes "
	    "were echoed)%s", cl->addr, err, echoed, sent, hint);
}

/* What -v says about verification. */
static const char *
verify_text(const struct client *cl, const struct secho_tls_info *in)
{
	const struct secho_tls_opts *t = &cl->cfg->tls;

	if (t->insecure)
		return "skipped (--insecure)";
	/* Say how the key was trusted, should tls.c just say "ok". */
	if (t->pin_sha256 != NULL && strcmp(in->verify, "ok") == 0)
		return "ok (pinned public key)";
	return in->verify;
}

/* The -v block: one "name value" row each, "-" for unknown. */
static void
print_tls_rows(const struct client *cl, const struct secho_tls_info *in,
    unsigned long long us)
{
	char hs[32];
	const struct { const char *k, *v; } rows[] = {
		{ "protocol", in->version }, { "cipher", in->cipher },
		{ "group", in->group },
		{ "ALPN", *in->alpn != '\0' ? in->alpn : "none" },
		{ "SNI", *in->sni != '\0' ? in->sni : "none" },
		{ "subject", in->subject }, { "issuer", in->issuer },
		{ "SAN", in->san }, { "key", in->key },
		{ "not before", in->not_before },
		{ "not after", in->not_after },
		{ "verification", verify_text(cl, in) },
		{ "resumed", in->resumed ? "yes" : "no" }, { "handshake", hs },
	};

	snprintf(hs, sizeof(hs), "%.2f ms", us / 1000.0);
	secho_client_note(cl, "%s session established:",
	    cl->dgram ? "DTLS" : "TLS");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		fprintf(stderr, "    %-13s %s\n", rows[i].k,
		    *rows[i].v != '\0' ? rows[i].v : "-");
}

static void
print_tls_info(const struct client *cl, unsigned long long us)
{
	struct secho_tls_info in;

	if (cl->cfg->verbose && secho_tls_conn_info(&cl->conn, &in) == 0)
		print_tls_rows(cl, &in, us);
}

static int
handshake_fail(struct client *cl, int r)
{
	const char *err = secho_conn_error(&cl->conn);
	unsigned flags = cl->conn.flags;

	if (r == SECHO_IO_EOF)
		return secho_client_error(cl, SECHO_CLIENT_TLS, "%s",
		    *err != '\0' ? err : "server closed the connection during "
		    "the TLS handshake");
	if (flags & SECHO_CONN_VERIFY)
		return secho_client_error(cl, SECHO_CLIENT_VERIFY, "%s", err);
	if (!(flags & SECHO_CONN_NOT_TLS) && is_net_errno(cl->io_errno))
		return secho_client_error(cl, SECHO_CLIENT_CONNECT, "%s: %s",
		    cl->addr, err);
	return secho_client_error(cl, SECHO_CLIENT_TLS, "%s", *err != '\0' ?
	    err : "TLS handshake failed");
}

static ssize_t
handshake_step(struct client *cl, void *arg)
{
	(void)arg;
	return io_result(cl, secho_conn_handshake(&cl->conn));
}

static int
handshake(struct client *cl)
{
	unsigned long long t0 = secho_now_us();
	ssize_t r;

	r = secho_client_drive(cl, handshake_step, NULL,
	    secho_client_deadline(cl));
	if (r == SECHO_CLIENT_INTR)
		return secho_client_error(cl, SECHO_CLIENT_INTERRUPTED,
		    "interrupted during the %s handshake with %s",
		    cl->dgram ? "DTLS" : "TLS", cl->addr);
	if (r == SECHO_WANT_READ || r == SECHO_WANT_WRITE)
		return secho_client_error(cl, SECHO_CLIENT_TIMEOUT, "timed out "
		    "after %gs waiting for the %s handshake with %s",
		    secho_client_timeout_secs(cl), cl->dgram ? "DTLS" : "TLS",
		    cl->addr);
	if (r != 0)
		return handshake_fail(cl, (int)r);
	cl->handshake_us = secho_now_us() - t0;
	if (secho_conn_is_tls(&cl->conn))
		print_tls_info(cl, cl->handshake_us);
	if (secho_tls_conn_cert_unasked(&cl->conn))
		warn("warning: the server did not ask for a client "
		    "certificate");
	return 0;
}

/* Wraps the connected fd in the configured transport. */
static int
wrap(struct client *cl, int fd)
{
	if (secho_proto_is_secure(cl->cfg->proto)) {
		if (secho_tls_conn_init(cl->tls, &cl->conn, fd, cl->name) ==
		    -1) {
			close(fd);
			return secho_client_status_set(cl, SECHO_CLIENT_TLS);
		}
	} else if (cl->dgram)
		secho_conn_init_udp(&cl->conn, fd);
	else
		secho_conn_init_tcp(&cl->conn, fd);
	return 0;
}

static int
connect_server(struct client *cl)
{
	const struct secho_client_config *cfg = cl->cfg;
	unsigned long long t0 = secho_now_us();
	int fd, timed_out, rcvbuf = DGRAM_RCVBUF;

	fd = secho_net_connect(cl->host, cfg->port, cl->dgram,
	    cfg->timeout_ms, &cl->peer, &timed_out);
	if (fd == -1)
		return secho_client_status_set(cl, timed_out ?
		    SECHO_CLIENT_TIMEOUT : SECHO_CLIENT_CONNECT);
	secho_sockaddr_str((struct sockaddr *)&cl->peer.ss, cl->addr,
	    sizeof(cl->addr));
	/* Echoes of a window of datagrams may arrive in one burst. */
	if (cl->dgram)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	secho_client_note(cl, "connected to %s (%s) over %s in %.2f ms",
	    cl->host, cl->addr, cl->dgram ? "udp" : "tcp",
	    (secho_now_us() - t0) / 1000.0);
	return wrap(cl, fd);
}

/* "[::1]" -> "::1" */
static void
unbracket(char *dst, size_t len, const char *h)
{
	size_t n = strlen(h);

	if (n >= 2 && h[0] == '[' && h[n - 1] == ']')
		snprintf(dst, len, "%.*s", (int)n - 2, h + 1);
	else
		snprintf(dst, len, "%s", h);
}

/* Notes on how the server will be trusted, for -v. */
static void
note_trust(const struct client *cl)
{
	const struct secho_tls_opts *t = &cl->cfg->tls;

	if (t->insecure)
		return;
	if (t->pin_sha256 != NULL)
		secho_client_note(cl, "trusting the server's public key by "
		    "its pin sha256//%s", t->pin_sha256);
	else {
		if (t->ca != NULL)
			secho_client_note(cl, "verifying with CA file %s",
			    t->ca);
		if (t->capath != NULL)
			secho_client_note(cl, "verifying with CA directory %s",
			    t->capath);
	}
	if (cl->cfg->servername != NULL)
		secho_client_note(cl, "expecting the name %s (--servername)",
		    cl->name);
	if (t->cert != NULL)
		secho_client_note(cl, "presenting client certificate %s",
		    t->cert);
}

/*
 * What every connection shares: the names and the TLS context, which
 * keeps the last session for --resume to offer.
 */
static int
client_setup(struct client *cl, const struct secho_client_config *cfg)
{
	memset(cl, 0, sizeof(*cl));
	cl->cfg = cfg;
	cl->conn.fd = -1;
	cl->dgram = secho_proto_is_dgram(cfg->proto);
	unbracket(cl->host, sizeof(cl->host), cfg->host);
	unbracket(cl->name, sizeof(cl->name), cfg->servername != NULL ?
	    cfg->servername : cfg->host);
	if (!secho_proto_is_secure(cfg->proto))
		return 0;
	if (cfg->tls.insecure)
		warn("warning: --insecure: the server's certificate is not "
		    "verified");
	if (cfg->tls.keylog != NULL)
		warn("warning: writing TLS session secrets to %s; anyone who "
		    "reads it can decrypt the traffic", cfg->tls.keylog);
	cl->tls = secho_tls_new(&cfg->tls, SECHO_TLS_CLIENT, cl->dgram);
	if (cl->tls == NULL)
		return secho_client_status_set(cl, SECHO_CLIENT_SETUP);
	note_trust(cl);
	return 0;
}

/* Everything up to an established, verified session. */
static int
client_open(struct client *cl)
{
	cl->io_errno = 0;
	cl->handshake_us = 0;
	if (connect_server(cl) == -1)
		return -1;
	return handshake(cl);
}

/* What may still be read while waiting for the server's close. */
struct drain {
	unsigned long long deadline;
	size_t left;
};

/*
 * Reads and drops what the server still sends until it wants to wait.  A
 * server that keeps streaming is cut off by time and by volume: 0 stops.
 */
static ssize_t
drain_step(struct client *cl, void *arg)
{
	char sink[16384];	/* one TLS record */
	struct drain *d = arg;
	ssize_t n;

	while (d->left > 0 && secho_now_us() < d->deadline) {
		n = secho_client_read(cl, sink, d->left < sizeof(sink) ?
		    d->left : sizeof(sink));
		if (n < 0)
			return n;
		d->left -= (size_t)n;
	}
	return 0;
}

static ssize_t
shutdown_step(struct client *cl, void *arg)
{
	(void)arg;
	return io_result(cl, secho_conn_shutdown(&cl->conn));
}

/*
 * Sends close_notify (or FIN), then waits (bounded) for the server's own
 * FIN / close_notify: closing first would answer it with a reset, which
 * looks like a failure on the wire.
 */
static void
client_shutdown(struct client *cl)
{
	struct drain d = { secho_now_us() + SHUTDOWN_US, CLOSE_DRAIN_MAX };
	ssize_t r;

	r = secho_client_drive(cl, shutdown_step, NULL, d.deadline);
	if (r == SECHO_IO_ERR)
		secho_client_note(cl, "shutdown: %s",
		    secho_conn_error(&cl->conn));
	else if (r == 0 && !cl->dgram)
		secho_client_drive(cl, drain_step, &d, d.deadline);
}

/* Ends an echo run that SIGINT or SIGTERM stopped, saying how far it got. */
static int
interrupted(struct client *cl, const struct client_echo *e)
{
	return secho_client_error(cl, SECHO_CLIENT_INTERRUPTED, "interrupted: "
	    "%llu bytes sent, %llu echoed", e->nsent, e->nechoed);
}

/* -m: one message, echoed whole, then printed. */
static int
run_message(struct client *cl)
{
	const char *m = cl->cfg->message;
	size_t n = strlen(m);
	struct client_echo e;
	int rc;

	if (secho_client_echo_init(&e, cl, -1, -1) == -1)
		return -1;
	secho_client_echo_queue(&e, m, n);
	rc = secho_client_echo_run(&e);
	if (rc == 1)
		interrupted(cl, &e);
	secho_client_echo_free(&e);
	if (rc != 0)
		return -1;
	/* The echo is byte for byte the message: print that. */
	if (fwrite(m, 1, n, stdout) != n ||
	    (m[n - 1] != '\n' && putchar('\n') == EOF) || fflush(stdout) == EOF)
		return secho_client_error(cl, SECHO_CLIENT_CONNECT, "cannot "
		    "write to stdout: %s", strerror(errno));
	return 0;
}

/* Default mode: stdin to the server, echoes to stdout. */
static int
run_stdin(struct client *cl)
{
	unsigned long long t0 = secho_now_us(), bytes;
	struct client_echo e;
	double secs;
	int rc;

	if (secho_client_echo_init(&e, cl, STDIN_FILENO, STDOUT_FILENO) ==
	    -1)
		return -1;
	rc = secho_client_echo_run(&e);
	if (rc == 1)
		interrupted(cl, &e);
	bytes = e.nechoed;
	secho_client_echo_free(&e);
	if (rc != 0)
		return -1;
	secs = (secho_now_us() - t0) / 1e6;
	secho_client_note(cl, "%llu bytes sent and echoed intact in %.3f s "
	    "(%.1f MB/s)", bytes, secs, secs > 0 ? bytes / secs / 1e6 : 0.0);
	return 0;
}

/* Stdout lines of --resume: flushed at once, a failed write fails. */
static int
print_out(struct client *cl, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vprintf(fmt, ap);
	va_end(ap);
	if (rc < 0 || fflush(stdout) == EOF)
		return secho_client_error(cl, SECHO_CLIENT_CONNECT, "cannot "
		    "write to stdout: %s", strerror(errno));
	return 0;
}

/*
 * One connection: open, the mode, and a clean close.  nth > 0 (--resume)
 * prints how its handshake went and sets *resumed.
 */
static int
run_connection(struct client *cl, long nth, int *resumed)
{
	const struct secho_client_config *cfg = cl->cfg;
	struct secho_tls_info in;
	int rc;

	rc = client_open(cl);
	if (rc == 0 && nth > 0) {
		*resumed = secho_tls_conn_info(&cl->conn, &in) == 0 &&
		    in.resumed;
		rc = print_out(cl, "connection %ld: %s, %.2f ms\n", nth,
		    *resumed ? "resumed" : "full handshake",
		    cl->handshake_us / 1000.0);
	}
	if (rc == 0) {
		if (cfg->count > 0)
			rc = secho_client_ping(cl);
		else if (cfg->message != NULL)
			rc = run_message(cl);
		else
			rc = run_stdin(cl);
		/*
		 * A live session ends with close_notify, even after a loss;
		 * without it OpenSSL would not offer the session again.
		 */
		if (rc == 0 || cl->fail == SECHO_CLIENT_MISMATCH ||
		    cl->fail == SECHO_CLIENT_INTERRUPTED)
			client_shutdown(cl);
	}
	secho_conn_close(&cl->conn);
	return rc;
}

/*
 * --resume N: the same exchange over N + 1 connections in a row, each
 * offering the session of the one before.  Whether the server resumed is
 * information, not a failure; lost ping probes are reported at the end.
 */
static int
run_resumed(struct client *cl)
{
	long n = cl->cfg->resume, hits = 0;
	int resumed = 0;

	for (long i = 0; i <= n && !secho_client_interrupted(); i++) {
		if (run_connection(cl, i + 1, &resumed) == -1)
			return -1;
		hits += i > 0 && resumed;
	}
	return print_out(cl, "resumed %ld of %ld reconnection%s\n", hits, n,
	    n == 1 ? "" : "s");
}

int
secho_client_run(const struct secho_client_config *cfg,
    struct secho_client_result *res)
{
	struct client cl;
	int rc, resumed = 0;

	rc = client_setup(&cl, cfg);
	if (rc == 0)
		rc = cfg->resume > 0 ? run_resumed(&cl) :
		    run_connection(&cl, 0, &resumed);
	secho_tls_free(cl.tls);
	res->status = rc == -1 ? cl.fail : cl.loss ? SECHO_CLIENT_LOSS :
	    SECHO_CLIENT_OK;
	return rc;
}
