/*
 * client_echo.c - the client's echo engine: a netcat-style poll loop over
 * an input fd, the connection and an output fd that keeps every byte sent
 * until its echo has been compared, with back-pressure on all three.
 *
 * stdin and stdout stay blocking (they may be shared with a shell), so
 * they are only touched after poll said so, and a write to a pipe, tty or
 * socket never asks for more than PIPE_BUF bytes, which fit once poll
 * reported POLLOUT.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_int.h"

/* Unechoed plus unwritten bytes held at most (streams). */
#define STREAM_WINDOW	((size_t)4 << 20)
#define IO_CHUNK	((size_t)64 << 10)
/* Bytes per transport write on a stream (TLS cuts it into records). */
#define WRITE_MAX	((size_t)256 << 10)
/*
 * Datagram bytes in flight before another is sent (besides at most
 * SECHO_CLIENT_DGRAM_WINDOW datagrams): the kernel charges a 64 KiB
 * datagram up to twice its size, and the server's receive buffer is
 * ~208 KiB by default.
 */
#define DGRAM_BYTES	((size_t)64 << 10)
#define READS_PER_TURN	32
/* How long a failing run still offers echoed bytes to stdout. */
#define FLUSH_US	(1000 * 1000ULL)
#define WRITES_PER_TURN	16

#define MIN(a, b)	((a) < (b) ? (a) : (b))

/* How much one write to fd carries without blocking once POLLOUT is set. */
static size_t
out_chunk(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) ||
	    S_ISBLK(st.st_mode) || (S_ISCHR(st.st_mode) && !isatty(fd))))
		return SIZE_MAX;	/* files and /dev/null never fill up */
	return PIPE_BUF;
}

int
secho_client_echo_init(struct client_echo *e, struct client *cl, int in_fd,
    int out_fd)
{
	memset(e, 0, sizeof(*e));
	e->cl = cl;
	e->in_fd = in_fd;
	e->out_fd = out_fd;
	e->in_eof = in_fd == -1;
	e->dg_seq = 1;
	/* Twice the window: compaction then moves about one byte per byte. */
	e->cap = 2 * STREAM_WINDOW + IO_CHUNK;
	e->rcap = cl->dgram ? 65536 : IO_CHUNK;
	if (!cl->dgram)
		e->in_max = IO_CHUNK;
	else
		e->in_max = cl->cfg->proto == SECHO_DTLS ?
		    SECHO_CLIENT_DTLS_CHUNK :
		    secho_client_udp_max(cl->peer.ss.ss_family);
	e->out_max = out_fd != -1 ? out_chunk(out_fd) : 0;
	e->buf = malloc(e->cap);
	e->rbuf = malloc(e->rcap);
	if (e->buf == NULL || e->rbuf == NULL) {
		secho_client_echo_free(e);
		return secho_client_error(cl, SECHO_CLIENT_CONNECT,
		    "out of memory");
	}
	return 0;
}

void
secho_client_echo_free(struct client_echo *e)
{
	if (e->cl != NULL && e->cl->report != NULL) {
		e->cl->report->bytes_sent += e->nsent;
		e->cl->report->bytes_echoed += e->nechoed;
		e->nsent = e->nechoed = 0;	/* counted once */
	}
	free(e->buf);
	free(e->rbuf);
	e->buf = e->rbuf = NULL;
}

static struct echo_dgram *
dgram_at(struct client_echo *e, size_t i)
{
	return &e->dg[(e->dg_first + i) % SECHO_CLIENT_DGRAM_WINDOW];
}

/* n more bytes at tail came from the input (one datagram on udp/dtls). */
static void
queued(struct client_echo *e, size_t n)
{
	if (e->head == e->tail)	/* the echo clock starts now */
		e->progress_us = secho_now_us();
	e->tail += n;
	if (e->cl->dgram) {
		struct echo_dgram *d = dgram_at(e, e->dg_count++);

		d->len = n;
		d->echoed = 0;
	}
}

/* Moves the live bytes to the front; never under a pending write retry. */
static void
compact(struct client_echo *e)
{
	size_t off = e->wpos;

	if (off == 0 || e->retry != 0)
		return;
	memmove(e->buf, e->buf + off, e->tail - off);
	e->wpos = 0;
	e->head -= off;
	e->sent -= off;
	e->tail -= off;
}

void
secho_client_echo_queue(struct client_echo *e, const void *p, size_t len)
{
	if (e->cap - e->tail < len)
		compact(e);
	memcpy(e->buf + e->tail, p, len);
	queued(e, len);
}

/*
 * Whether to ask poll about the input.  Not while a write retry pins the
 * buffer (compact() must not move it) and the tail is at the end: then
 * read_input() could not take a byte, and a readable input would wake
 * poll at once, again and again, until the socket drains.
 */
static int
input_wanted(const struct client_echo *e)
{
	if (e->in_eof || e->tail - e->wpos >= STREAM_WINDOW)
		return 0;
	if (e->tail == e->cap && e->retry != 0)
		return 0;
	if (e->cl->dgram)
		return e->dg_count < SECHO_CLIENT_DGRAM_WINDOW &&
		    e->tail - e->head < DGRAM_BYTES;
	return 1;
}

static int
read_input(struct client_echo *e)
{
	size_t room;
	ssize_t n;

	if (e->cap - e->tail < e->in_max)
		compact(e);
	if ((room = MIN(e->in_max, e->cap - e->tail)) == 0)
		return 0;	/* pinned by a write retry; see input_wanted */
	n = read(e->in_fd, e->buf + e->tail, room);
	if (n > 0)
		queued(e, (size_t)n);
	else if (n == 0)
		e->in_eof = 1;
	else if (errno != EINTR && errno != EAGAIN)
		return secho_client_error(e->cl, SECHO_CLIENT_CONNECT,
		    "cannot read stdin: %s", strerror(errno));
	return 0;
}

/* The output is gone: say so once and stop offering it bytes. */
static int
output_failed(struct client_echo *e, int err)
{
	e->out_fd = -1;
	return secho_client_error(e->cl, SECHO_CLIENT_CONNECT, "cannot write "
	    "to stdout: %s", strerror(err));
}

/* Writes echoed bytes out, each write small enough not to block. */
static int
write_output(struct client_echo *e)
{
	struct pollfd pfd = { .fd = e->out_fd, .events = POLLOUT };
	ssize_t n;

	for (int i = 0; i < WRITES_PER_TURN && e->wpos < e->head; i++) {
		if (i > 0 && e->out_max != SIZE_MAX &&
		    (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLOUT)))
			break;
		n = write(e->out_fd, e->buf + e->wpos,
		    MIN(e->head - e->wpos, e->out_max));
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			break;
		if (n == -1)
			return output_failed(e, errno);
		e->wpos += (size_t)n;
	}
	return 0;
}

/* Names what a non-echo reply looks like, for the mismatch message. */
static const char *
alert_hint(const struct client_echo *e, const unsigned char *p, size_t n)
{
	if (n < 2 || p[0] != 0x15 || secho_proto_is_secure(e->cl->cfg->proto))
		return "";
	if (p[1] == 0x03)
		return ": the server answered with a TLS alert: is this a "
		    "TLS port? try --tls";
	if (p[1] == 0xfe)
		return ": the server answered with a DTLS alert: is this a "
		    "DTLS port? try --dtls";
	return "";
}

static size_t
first_diff(const unsigned char *a, const unsigned char *b, size_t n)
{
	size_t i = 0;

	while (i < n && a[i] == b[i])
		i++;
	return i;
}

/* Accepts k echoed bytes as intact. */
static void
echoed(struct client_echo *e, size_t k)
{
	e->head += k;
	e->nechoed += k;
	e->progress_us = secho_now_us();
	if (e->out_fd == -1)
		e->wpos = e->head;
}

/*
 * Stream: the n bytes in rbuf must continue what was sent.  The intact
 * part before a mismatch still counts, so it reaches the output.
 */
static int
got_bytes(struct client_echo *e, size_t n)
{
	size_t want = e->sent - e->head, k = MIN(n, want), i;
	const unsigned char *exp = e->buf + e->head;

	i = memcmp(exp, e->rbuf, k) == 0 ? k : first_diff(exp, e->rbuf, k);
	echoed(e, i);
	if (i < k)
		return secho_client_error(e->cl, SECHO_CLIENT_MISMATCH, "echo "
		    "mismatch at byte %llu: sent 0x%02x, got 0x%02x%s",
		    e->nechoed + 1, exp[i], e->rbuf[i],
		    alert_hint(e, e->rbuf + i, n - i));
	if (n > want)
		return secho_client_error(e->cl, SECHO_CLIENT_MISMATCH, "echo "
		    "mismatch at byte %llu: got 0x%02x, but only %llu bytes "
		    "were sent%s", e->nechoed + 1, e->rbuf[k], e->nsent,
		    alert_hint(e, e->rbuf + k, n - k));
	return 0;
}

/* Datagram: rbuf did not match any datagram in flight; say how. */
static int
dgram_mismatch(struct client_echo *e, size_t n)
{
	const unsigned char *p = e->buf + e->head;
	const char *hint = alert_hint(e, e->rbuf, n);
	size_t i, k;

	for (i = 0; i < e->dg_sent && dgram_at(e, i)->echoed; i++)
		p += dgram_at(e, i)->len;
	if (i == e->dg_sent)
		return secho_client_error(e->cl, SECHO_CLIENT_MISMATCH,
		    "unexpected %zu-byte datagram: no echo was outstanding%s",
		    n, hint);
	k = dgram_at(e, i)->len;
	if (k != n)
		return secho_client_error(e->cl, SECHO_CLIENT_MISMATCH, "echo "
		    "mismatch in datagram %llu: sent %zu bytes, got %zu%s",
		    e->dg_seq + i, k, n, hint);
	k = first_diff(p, e->rbuf, n);
	return secho_client_error(e->cl, SECHO_CLIENT_MISMATCH, "echo "
	    "mismatch in datagram %llu at byte %zu: sent 0x%02x, got 0x%02x%s",
	    e->dg_seq + i, k + 1, p[k], e->rbuf[k], hint);
}

/*
 * Datagram: rbuf must equal one datagram in flight, normally the oldest.
 * A later one is marked and waits for the older ones, so a reordered
 * echo is fine and a lost one ends as a timeout.
 */
static int
got_dgram(struct client_echo *e, size_t n)
{
	const unsigned char *p = e->buf + e->head;
	struct echo_dgram *d;

	for (size_t i = 0; i < e->dg_sent; p += d->len, i++) {
		d = dgram_at(e, i);
		if (d->echoed || d->len != n || memcmp(p, e->rbuf, n) != 0)
			continue;
		d->echoed = 1;
		e->nechoed += n;
		e->progress_us = secho_now_us();
		while (e->dg_count > 0 && (d = dgram_at(e, 0))->echoed) {
			e->head += d->len;
			e->dg_first = (e->dg_first + 1) %
			    SECHO_CLIENT_DGRAM_WINDOW;
			e->dg_count--;
			e->dg_sent--;
			e->dg_seq++;
		}
		if (e->out_fd == -1)
			e->wpos = e->head;
		return 0;
	}
	return dgram_mismatch(e, n);
}

/*
 * An EOF is harmless only once nothing more can be sent or echoed; then
 * rd_block -1 stops reading (and sock_read() reports it if more comes).
 */
static int
sock_closed(struct client_echo *e, ssize_t r)
{
	if (r == SECHO_IO_EOF && e->in_eof && e->head == e->tail &&
	    e->idle_until_us == 0) {
		e->rd_block = -1;
		return 0;
	}
	return secho_client_io_fail(e->cl, r, e->nechoed, e->nsent);
}

/* Reads until the transport wants to wait (bounded, to stay fair). */
static int
sock_read(struct client_echo *e)
{
	ssize_t r;
	int rc;

	if (e->rd_block == -1 && (e->head < e->tail || e->idle_until_us != 0))
		return secho_client_io_fail(e->cl, SECHO_IO_EOF, e->nechoed,
		    e->nsent);
	for (int i = 0; i < READS_PER_TURN && e->rd_block == 0; i++) {
		r = secho_client_read(e->cl, e->rbuf, e->rcap);
		if (r == SECHO_WANT_READ)
			e->rd_block = POLLIN;
		else if (r == SECHO_WANT_WRITE)
			e->rd_block = POLLOUT;
		else if (r < 0)
			return sock_closed(e, r);
		else {
			rc = e->cl->dgram ? got_dgram(e, (size_t)r) :
			    got_bytes(e, (size_t)r);
			if (rc == -1)
				return -1;
			if (e->wr_block == POLLIN)
				e->wr_block = 0;
		}
	}
	return 0;
}

/* The length of the next write: a retry repeats the last one exactly. */
static size_t
next_write(struct client_echo *e)
{
	if (e->retry != 0)
		return e->retry;
	if (e->cl->dgram)
		return dgram_at(e, e->dg_sent)->len;
	return MIN(e->tail - e->sent, WRITE_MAX);
}

static int
sock_write(struct client_echo *e)
{
	size_t len;
	ssize_t r;

	while (e->wr_block == 0 && e->sent < e->tail) {
		len = next_write(e);
		r = secho_client_write(e->cl, e->buf + e->sent, len);
		if (r == SECHO_WANT_WRITE || r == 0) {
			e->retry = len;
			e->wr_block = POLLOUT;
		} else if (r == SECHO_WANT_READ) {
			e->retry = len;
			e->wr_block = POLLIN;
		} else if (r < 0)
			return secho_client_io_fail(e->cl, r, e->nechoed,
			    e->nsent);
		else {
			e->retry = 0;
			e->sent += (size_t)r;
			e->nsent += (size_t)r;
			e->dg_sent += e->cl->dgram;
			if (e->rd_block == POLLOUT)
				e->rd_block = 0;
		}
	}
	return 0;
}

static int
echo_done(const struct client_echo *e)
{
	return e->in_eof && e->head == e->tail && e->wpos == e->head &&
	    (e->idle_until_us == 0 || secho_now_us() >= e->idle_until_us);
}

/* When the echo is overdue (or the idle wait over); 0: no limit. */
static unsigned long long
echo_deadline(const struct client_echo *e)
{
	int ms = e->cl->cfg->timeout_ms;

	if (e->head < e->tail)
		return ms > 0 ? e->progress_us + (unsigned long long)ms * 1000 :
		    0;
	return e->idle_until_us;
}

static int
echo_timeout(struct client_echo *e)
{
	return secho_client_error(e->cl, SECHO_CLIENT_TIMEOUT, "timed out "
	    "after %gs waiting for the echo (%llu of %llu bytes back)",
	    secho_client_timeout_secs(e->cl), e->nechoed, e->nsent);
}

/* Socket readiness unblocks the operation that waited for it. */
static void
sock_ready(struct client_echo *e, short rev)
{
	if (rev & (POLLERR | POLLHUP | POLLNVAL)) {
		/* Let the next read or write report what happened. */
		if (e->rd_block > 0)
			e->rd_block = 0;
		e->wr_block = 0;
		return;
	}
	if (e->rd_block > 0 && (rev & e->rd_block))
		e->rd_block = 0;
	if (rev & e->wr_block)
		e->wr_block = 0;
}

/* One poll over the socket, the input and the output, then their I/O. */
static int
echo_wait(struct client_echo *e)
{
	struct pollfd pfd[3];
	nfds_t n = 1;
	int in = -1, out = -1, rc;
	unsigned long long deadline = echo_deadline(e);

	pfd[0].fd = e->cl->conn.fd;
	pfd[0].events = (e->rd_block > 0 ? e->rd_block : 0) |
	    (e->sent < e->tail ? e->wr_block : 0);
	if (pfd[0].events == 0)	/* after EOF: no endless POLLHUP */
		pfd[0].fd = -1;
	if (input_wanted(e)) {
		in = (int)n;
		pfd[n++] = (struct pollfd){ .fd = e->in_fd, .events = POLLIN };
	}
	if (e->out_fd != -1 && e->wpos < e->head) {
		out = (int)n;
		pfd[n++] = (struct pollfd){ .fd = e->out_fd,
		    .events = POLLOUT };
	}
	if (e->rd_block == 0 || (e->sent < e->tail && e->wr_block == 0))
		rc = poll(pfd, n, 0);	/* more to do right away */
	else
		rc = secho_client_poll(pfd, n, deadline);
	if (rc == -1 && errno != EINTR)
		return secho_client_error(e->cl, SECHO_CLIENT_CONNECT,
		    "poll: %s", strerror(errno));
	if (rc <= 0)
		return 0;
	sock_ready(e, pfd[0].revents);
	if (in != -1 && pfd[in].revents != 0 && read_input(e) == -1)
		return -1;
	if (out != -1 && (pfd[out].revents & (POLLERR | POLLNVAL)))
		return output_failed(e, pfd[out].revents & POLLNVAL ? EBADF :
		    EPIPE);
	if (out != -1 && pfd[out].revents != 0)
		return write_output(e);
	return 0;
}

/*
 * After a failure, still hand out what was echoed intact (the user sees
 * how far it got), but give a stalled reader only a moment.
 */
static void
flush_output(struct client_echo *e)
{
	unsigned long long deadline = secho_now_us() + FLUSH_US;
	struct pollfd pfd = { .fd = e->out_fd, .events = POLLOUT };

	while (e->out_fd != -1 && e->wpos < e->head &&
	    secho_client_poll(&pfd, 1, deadline) == 1 &&
	    (pfd.revents & POLLOUT) && write_output(e) == 0)
		;
}

int
secho_client_echo_run(struct client_echo *e)
{
	unsigned long long deadline;

	for (;;) {
		if (secho_client_interrupted()) {
			flush_output(e);
			return 1;
		}
		if (sock_read(e) == -1 || sock_write(e) == -1) {
			flush_output(e);
			return -1;
		}
		if (echo_done(e)) {
			e->idle_until_us = 0;
			return 0;
		}
		deadline = echo_deadline(e);
		if (e->head < e->tail && deadline != 0 &&
		    secho_now_us() >= deadline) {
			flush_output(e);
			return echo_timeout(e);
		}
		if (echo_wait(e) == -1) {
			flush_output(e);
			return -1;
		}
	}
}
