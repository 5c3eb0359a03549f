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
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "secho/tls_trace.h"
#include "client_int.h"

/* How long a clean close may wait for a full socket or the server. */
#define SHUTDOWN_US	(1000 * 1000ULL)
/* What the server may still send after the echo before we stop reading. */
#define CLOSE_DRAIN_MAX	((size_t)256 << 10)
/* Asked for, not insisted on: the kernel caps it at net.core.rmem_max. */
#define DGRAM_RCVBUF	(1 << 20)

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

/* One certificate of the chain, under the session's rows. */
static void
print_cert(const struct secho_tls_cert_info *ci)
{
	char first[16];
	const struct { const char *k, *v; } rows[] = {
		{ first, ci->subject }, { "  issuer", ci->issuer },
		{ "  serial", ci->serial }, { "  sig alg", ci->sig_alg },
		{ "  not before", ci->not_before },
		{ "  not after", ci->not_after },
	};

	snprintf(first, sizeof(first), "%d subject", ci->depth);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		fprintf(stderr, "    %-13s %s\n", rows[i].k,
		    *rows[i].v != '\0' ? rows[i].v : "-");
}

/*
 * After the session's rows: the key's pin (the value --pin-sha256
 * takes), how the server signed the handshake, the key exchange's size,
 * then the chain the server sent, its own certificate first.
 */
static void
print_tls_details(const struct secho_tls_info *in,
    const struct secho_tls_details *d)
{
	char kx[64];

	if (*in->group == '\0' || (d->group_bits == 0 && in->resumed))
		snprintf(kx, sizeof(kx), "none%s", in->resumed ?
		    " (resumed)" : "");
	else if (d->group_bits > 0)
		snprintf(kx, sizeof(kx), "%s (%d bits)", in->group,
		    d->group_bits);
	else
		snprintf(kx, sizeof(kx), "%s", in->group);
	fprintf(stderr, "    %-13s %s\n", "pin-sha256",
	    *d->pin_sha256 != '\0' ? d->pin_sha256 : "-");
	fprintf(stderr, "    %-13s %s\n", "signature", *d->sig_scheme != '\0' ?
	    d->sig_scheme : in->resumed ? "none (resumed)" : "-");
	fprintf(stderr, "    %-13s %s\n", "key exchange", kx);
	fprintf(stderr, "    %-13s %zu certificate%s sent%s\n", "chain",
	    d->chain_total, d->chain_total == 1 ? "" : "s",
	    d->chain_total > d->nchain ? ", the first shown" : "");
	for (size_t i = 0; i < d->nchain; i++)
		print_cert(&d->chain[i]);
}

static void
print_tls_info(const struct client *cl, unsigned long long us)
{
	struct secho_tls_info in;
	struct secho_tls_details d;

	if (!cl->cfg->verbose || secho_tls_conn_info(&cl->conn, &in) == -1)
		return;
	print_tls_rows(cl, &in, us);
	if (secho_tls_conn_details(&cl->conn, &d) == 0)
		print_tls_details(&in, &d);
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
	if (!(flags & SECHO_CONN_NOT_TLS) && secho_client_is_net_errno(cl->io_errno))
		return secho_client_error(cl, SECHO_CLIENT_CONNECT, "%s: %s",
		    cl->addr, err);
	return secho_client_error(cl, SECHO_CLIENT_TLS, "%s", *err != '\0' ?
	    err : "TLS handshake failed");
}

static ssize_t
handshake_step(struct client *cl, void *arg)
{
	(void)arg;
	return secho_client_io_result(cl, secho_conn_handshake(&cl->conn));
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
	if (cl->nth == 1)
		secho_client_report_session(cl);
	if (secho_tls_conn_cert_unasked(&cl->conn))
		secho_client_warn("warning: the server did not ask for a client "
		    "certificate");
	return 0;
}

/* --trace: one line per event on stderr, written at once. */
static void
trace_line(const struct secho_trace_event *ev, void *arg)
{
	char buf[160];

	(void)arg;
	fprintf(stderr, "trace %s\n", secho_trace_format(ev, buf,
	    sizeof(buf)));
}

/* --json: where the first connection went, from where, how fast. */
static void
report_connect(struct client *cl, int fd, unsigned long long us)
{
	struct secho_client_report *r = cl->report;
	struct secho_sockaddr local;

	r->connected = 1;
	r->connect_us = us;
	snprintf(r->addr, sizeof(r->addr), "%s", cl->addr);
	local.len = sizeof(local.ss);
	if (getsockname(fd, (struct sockaddr *)&local.ss, &local.len) == 0)
		secho_sockaddr_str((struct sockaddr *)&local.ss, r->local,
		    sizeof(r->local));
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
		if (secho_tls_conn_trace(&cl->conn, cl->cfg->tls.trace,
		    trace_line, NULL) == -1) {
			secho_conn_close(&cl->conn);
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
	if (cl->nth == 1 && cl->report != NULL)
		report_connect(cl, fd, secho_now_us() - t0);
	/* Echoes of a window of datagrams may arrive in one burst. */
	if (cl->dgram)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	secho_client_note(cl, "connected to %s (%s) over %s in %.2f ms",
	    cl->host, cl->addr, cl->dgram ? "udp" : "tcp",
	    (secho_now_us() - t0) / 1000.0);
	if (wrap(cl, fd) == -1)
		return -1;
	/* Wrapping sends nothing: the header still comes first. */
	return cfg->send_proxy ? secho_client_proxy_send(cl) : 0;
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
		if (t->ca == NULL && t->capath == NULL) {
			char store[2 * SECHO_CERTS_PATH_MAX];

			secho_client_note(cl, "verifying with the system's CA "
			    "store: %s", secho_tls_system_store(store,
			    sizeof(store)));
		}
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
		secho_client_warn("warning: --insecure: the server's certificate is not "
		    "verified");
	if (cfg->tls.keylog != NULL)
		secho_client_warn("warning: writing TLS session secrets to %s; anyone who "
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
	if (connect_server(cl) == -1 || handshake(cl) == -1)
		return -1;
	return cl->cfg->ask_report ? secho_client_server_report(cl) : 0;
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
	return secho_client_io_result(cl, secho_conn_shutdown(&cl->conn));
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
	if (rc != 0 || cl->cfg->json)
		return rc != 0 ? -1 : 0;
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

	/* --json: stdout is the report's; the echo is still compared. */
	if (secho_client_echo_init(&e, cl, STDIN_FILENO, cl->cfg->json ? -1 :
	    STDOUT_FILENO) == -1)
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

	if (cl->cfg->json)
		return 0;	/* the report has them */
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

	cl->nth = nth > 0 ? nth : 1;
	rc = client_open(cl);
	if (rc == 0 && nth > 0) {
		*resumed = secho_tls_conn_info(&cl->conn, &in) == 0 &&
		    in.resumed;
		secho_client_report_conn(cl, *resumed);
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
	struct secho_client_report *r = NULL;
	struct client cl;
	int rc, resumed = 0;

	/* Without memory the report only has what the program knows. */
	if (cfg->json && (r = calloc(1, sizeof(*r))) != NULL) {
		clock_gettime(CLOCK_REALTIME, &r->start);
		r->start_us = secho_now_us();
	}
	res->report = r;
	rc = client_setup(&cl, cfg);
	cl.report = r;
	if (rc == 0)
		rc = cfg->resume > 0 ? run_resumed(&cl) :
		    run_connection(&cl, 0, &resumed);
	if (cl.report != NULL)
		cl.report->duration_us = secho_now_us() - cl.report->start_us;
	secho_tls_free(cl.tls);
	res->status = rc == -1 ? cl.fail : cl.loss ? SECHO_CLIENT_LOSS :
	    SECHO_CLIENT_OK;
	return rc;
}
