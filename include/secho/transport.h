/*
 * transport.h - one interface over plain TCP, UDP, TLS and DTLS.
 *
 * The event loop and the echo logic only ever call these dispatchers and
 * react to SECHO_WANT_READ / SECHO_WANT_WRITE by changing poll interest;
 * they never see an OpenSSL type.  A struct secho_conn is small and meant
 * to be embedded in the caller's own per-connection state.
 */
#ifndef SECHO_TRANSPORT_H
#define SECHO_TRANSPORT_H

#include <sys/types.h>

#include "secho/net.h"
#include "secho/secho.h"

struct secho_conn;

struct secho_transport_ops {
	const char *name;
	/* 0 when done, or SECHO_WANT_* / SECHO_IO_ERR / SECHO_IO_EOF. */
	int (*handshake)(struct secho_conn *);
	/* Bytes, or an enum secho_io value.  Datagram transports move one
	 * whole datagram per call. */
	ssize_t (*read)(struct secho_conn *, void *, size_t);
	ssize_t (*write)(struct secho_conn *, const void *, size_t);
	/* Bytes already decrypted and buffered inside the transport. */
	size_t (*pending)(const struct secho_conn *);
	/* Sends close_notify / FIN: 0 done, or SECHO_WANT_* / SECHO_IO_ERR. */
	int (*shutdown)(struct secho_conn *);
	/* Releases transport state and closes the fd. */
	void (*close)(struct secho_conn *);
	/* DTLS retransmission: ms until the transport wants
	 * handle_timeout(), or -1.  NULL for transports without timers. */
	long (*next_timeout)(const struct secho_conn *);
	/* Retransmits what the timer covers: 0, or SECHO_IO_ERR. */
	int (*handle_timeout)(struct secho_conn *);
	/* A short summary of the session for logs ("tcp", "TLSv1.3
	 * TLS_AES_128_GCM_SHA256 X25519") into buf, which it returns. */
	char *(*describe)(const struct secho_conn *, char *, size_t);
};

/* conn->flags */
#define SECHO_CONN_UNCLEAN   0x01	/* EOF without close_notify */
#define SECHO_CONN_HS_DONE   0x02	/* handshake finished */
#define SECHO_CONN_VERIFY    0x04	/* failure was certificate verification */
#define SECHO_CONN_NOT_TLS   0x08	/* peer did not speak (D)TLS */
#define SECHO_CONN_SERVER    0x10	/* accepted side */

#define SECHO_CONN_ERR_MAX 160

struct secho_conn {
	const struct secho_transport_ops *ops;
	int fd;
	unsigned flags;
	void *tls;		/* SSL *, owned by src/tls.c */
	void *rec;		/* secho's TLS 1.3 record layer (tls_rec.c) */
	void *trace;		/* --trace state (tls_trace.c), or NULL */
	/*
	 * Datagram servers on an unconnected socket: the sender of the last
	 * datagram read, and where the next write goes.
	 */
	struct secho_sockaddr peer;
	struct secho_dgram_dst dst;	/* where that datagram was sent */
	/* Last failure, formatted once when it happens. */
	char err[SECHO_CONN_ERR_MAX];
};

/* Plain stream (TCP) over an existing fd. */
void secho_conn_init_tcp(struct secho_conn *c, int fd);
/*
 * UDP datagrams over an existing fd.  On a connected socket reads and
 * writes go to the one peer; on an unconnected one each read records its
 * sender in c->peer and each write goes to c->peer.
 */
void secho_conn_init_udp(struct secho_conn *c, int fd);

static inline int
secho_conn_handshake(struct secho_conn *c)
{
	return c->ops->handshake(c);
}

static inline ssize_t
secho_conn_read(struct secho_conn *c, void *buf, size_t len)
{
	return c->ops->read(c, buf, len);
}

static inline ssize_t
secho_conn_write(struct secho_conn *c, const void *buf, size_t len)
{
	return c->ops->write(c, buf, len);
}

static inline size_t
secho_conn_pending(const struct secho_conn *c)
{
	return c->ops->pending(c);
}

static inline int
secho_conn_shutdown(struct secho_conn *c)
{
	return c->ops->shutdown(c);
}

static inline void
secho_conn_close(struct secho_conn *c)
{
	if (c->ops != NULL)
		c->ops->close(c);
	c->ops = NULL;
	c->fd = -1;
}

static inline const char *
secho_conn_error(const struct secho_conn *c)
{
	return c->err;
}

static inline long
secho_conn_next_timeout(const struct secho_conn *c)
{
	return c->ops->next_timeout != NULL ? c->ops->next_timeout(c) : -1;
}

static inline int
secho_conn_handle_timeout(struct secho_conn *c)
{
	return c->ops->handle_timeout != NULL ? c->ops->handle_timeout(c) : 0;
}

static inline char *
secho_conn_describe(const struct secho_conn *c, char *buf, size_t len)
{
	return c->ops->describe(c, buf, len);
}

/* What a transport call was doing when it failed, for its message. */
enum secho_conn_op {
	SECHO_OP_READ,
	SECHO_OP_WRITE,
	SECHO_OP_HANDSHAKE,
	SECHO_OP_SHUTDOWN,
};

/* "read", "write", "handshake", "shutdown". */
const char *secho_conn_op_name(enum secho_conn_op op);

/* Formats c->err (printf style); used by transport implementations. */
void secho_conn_set_error(struct secho_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
