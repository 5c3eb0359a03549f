/*
 * plain.c - the clear-text transports: a TCP stream and UDP datagrams.
 *
 * They map errno onto the same done / want / EOF / error results the TLS
 * transport gives, so the echo logic has one code path for all four.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "secho/transport.h"

static ssize_t
io_result(struct secho_conn *c, ssize_t n, enum secho_conn_op op)
{
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return op == SECHO_OP_READ ? SECHO_WANT_READ : SECHO_WANT_WRITE;
	if (errno == EINTR)	/* let the loop come back to it */
		return op == SECHO_OP_READ ? SECHO_WANT_READ : SECHO_WANT_WRITE;
	secho_conn_set_error(c, "%s: %s", secho_conn_op_name(op),
	    strerror(errno));
	return SECHO_IO_ERR;
}

static int
plain_handshake(struct secho_conn *c)
{
	c->flags |= SECHO_CONN_HS_DONE;
	return 0;
}

static ssize_t
tcp_read(struct secho_conn *c, void *buf, size_t len)
{
	ssize_t n = recv(c->fd, buf, len, 0);

	if (n == 0)
		return SECHO_IO_EOF;
	return io_result(c, n, SECHO_OP_READ);
}

static ssize_t
tcp_write(struct secho_conn *c, const void *buf, size_t len)
{
	/* MSG_NOSIGNAL: a vanished peer is an error to report, not a kill. */
	return io_result(c, send(c->fd, buf, len, MSG_NOSIGNAL),
	    SECHO_OP_WRITE);
}

static size_t
plain_pending(const struct secho_conn *c)
{
	(void)c;
	return 0;
}

static int
tcp_shutdown(struct secho_conn *c)
{
	if (shutdown(c->fd, SHUT_WR) == -1 && errno != ENOTCONN) {
		secho_conn_set_error(c, "%s: %s",
		    secho_conn_op_name(SECHO_OP_SHUTDOWN), strerror(errno));
		return SECHO_IO_ERR;
	}
	return 0;
}

static void
plain_close(struct secho_conn *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}

static char *
plain_describe(const struct secho_conn *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s", c->ops->name);
	return buf;
}

static ssize_t
udp_read(struct secho_conn *c, void *buf, size_t len)
{
	ssize_t n;

	n = secho_net_recv_dgram(c->fd, buf, len, &c->peer,
	    (c->flags & SECHO_CONN_SERVER) ? &c->dst : NULL);
	if (n > (ssize_t)len) {
		/* Echoing a cut datagram would be a silent corruption. */
		secho_conn_set_error(c, "datagram of %zd bytes is larger "
		    "than the %zu-byte buffer", n, len);
		return SECHO_IO_ERR;
	}
	return io_result(c, n, SECHO_OP_READ);
}

static ssize_t
udp_write(struct secho_conn *c, const void *buf, size_t len)
{
	if (!(c->flags & SECHO_CONN_SERVER))	/* connected: one peer */
		return io_result(c, send(c->fd, buf, len, MSG_NOSIGNAL),
		    SECHO_OP_WRITE);
	/* Reply from the address the datagram was sent to. */
	return io_result(c, secho_net_send_dgram(c->fd, buf, len, &c->peer,
	    &c->dst), SECHO_OP_WRITE);
}

static int
udp_shutdown(struct secho_conn *c)
{
	(void)c;
	return 0;
}

static const struct secho_transport_ops tcp_ops = {
	.name = "tcp",
	.handshake = plain_handshake,
	.read = tcp_read,
	.write = tcp_write,
	.pending = plain_pending,
	.shutdown = tcp_shutdown,
	.close = plain_close,
	.describe = plain_describe,
};

static const struct secho_transport_ops udp_ops = {
	.name = "udp",
	.handshake = plain_handshake,
	.read = udp_read,
	.write = udp_write,
	.pending = plain_pending,
	.shutdown = udp_shutdown,
	.close = plain_close,
	.describe = plain_describe,
};

static void
conn_init(struct secho_conn *c, const struct secho_transport_ops *ops, int fd)
{
	memset(c, 0, sizeof(*c));
	c->ops = ops;
	c->fd = fd;
}

void
secho_conn_init_tcp(struct secho_conn *c, int fd)
{
	conn_init(c, &tcp_ops, fd);
}

void
secho_conn_init_udp(struct secho_conn *c, int fd)
{
	conn_init(c, &udp_ops, fd);
}
