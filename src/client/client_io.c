/*
 * client_io.c - what every client mode shares below the modes: one
 * message and status per failed run (secho_client_error), -v notes,
 * socket reads and writes that keep their errno, poll() that wakes on
 * SIGINT/SIGTERM, the drive loop of one transport step with its
 * deadline and DTLS timer, and the words for a failed read or write.
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

/* "secho-client: MSG" on stderr: a -v note or a warning, not an error. */
static void
say(const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One fprintf: the line is not torn apart by other writers. */
	fprintf(stderr, "%s: %s\n", SECHO_CLIENT_PROG, msg);
}

void
secho_client_warn(const char *fmt, ...)
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
ssize_t
secho_client_io_result(struct client *cl, ssize_t r)
{
	if (r == SECHO_IO_ERR)
		cl->io_errno = errno;
	return r;
}

ssize_t
secho_client_read(struct client *cl, void *buf, size_t len)
{
	return secho_client_io_result(cl, secho_conn_read(&cl->conn, buf, len));
}

ssize_t
secho_client_write(struct client *cl, const void *buf, size_t len)
{
	return secho_client_io_result(cl, secho_conn_write(&cl->conn, buf, len));
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
			return secho_client_io_result(cl, SECHO_IO_ERR);
		}
		if (rc == 0 && timer != 0 &&
		    secho_conn_handle_timeout(&cl->conn) == SECHO_IO_ERR)
			return secho_client_io_result(cl, SECHO_IO_ERR);
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
int
secho_client_is_net_errno(int e)
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
	    !secho_client_is_net_errno(cl->io_errno))
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

