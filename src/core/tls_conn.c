/*
 * tls_conn.c - one TLS or DTLS connection behind the transport interface:
 * wraps an fd, maps every SSL_ERROR_* onto enum secho_io and keeps the
 * session summary for logs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls_int.h"

static int
set_peer_name(struct secho_tls *t, SSL *ssl, const char *name)
{
	if (name == NULL || *name == '\0')
		return 0;
	if (secho_net_is_ip(name)) {
		/* RFC 6066: no SNI for addresses; check the IP SAN instead. */
		if (!t->insecure && !t->has_pin && X509_VERIFY_PARAM_set1_ip_asc(
		    SSL_get0_param(ssl), name) != 1)
			return -1;
		return 0;
	}
	if (SSL_set_tlsext_host_name(ssl, name) != 1)
		return -1;
	/* A pinned key stands for the server whatever its names. */
	if (!t->insecure && !t->has_pin && SSL_set1_host(ssl, name) != 1)
		return -1;
	return 0;
}

/*
 * A fixed MTU: the kernel's answer for loopback (64 KiB) would make
 * records that real paths fragment or drop.
 */
void
secho_tls_set_mtu(SSL *ssl, int mtu)
{
	SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
	DTLS_set_link_mtu(ssl, mtu);
}

int
secho_tls_conn_init(struct secho_tls *t, struct secho_conn *c, int fd,
    const char *name)
{
	SSL *ssl;
	BIO *bio;

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	if ((ssl = SSL_new(t->ctx)) == NULL)
		goto fail;
	bio = t->dgram ? secho_dtls_bio_new(ssl, fd) :
	    BIO_new_socket(fd, BIO_NOCLOSE);
	if (bio == NULL)
		goto fail;
	SSL_set_bio(ssl, bio, bio);
	if (t->dgram)
		secho_tls_set_mtu(ssl, t->mtu);
	if (t->role == SECHO_TLS_SERVER) {
		SSL_set_accept_state(ssl);
		c->flags |= SECHO_CONN_SERVER;
	} else {
		SSL_set_connect_state(ssl);
		if (t->last_session != NULL)
			SSL_set_session(ssl, t->last_session);
		if (set_peer_name(t, ssl, name) == -1)
			goto fail;
	}
	c->tls = ssl;
	c->ops = &secho_tls_ops;
	if (t->rec && secho_rec_prepare(c) == -1)
		goto fail;
	secho_tls_ref(t);
	return 0;
fail:
	secho_error_set("cannot set up a TLS connection: %s",
	    secho_tls_reason("out of memory"));
	ERR_clear_error();
	SSL_free(ssl);
	return -1;
}

int
secho_tls_conn_resumed(const struct secho_conn *c)
{
	if (secho_tls_conn_own_records(c))	/* no SSL object left */
		return secho_rec_resumed(c);
	return secho_conn_is_tls(c) && SSL_session_reused(c->tls);
}

int
secho_tls_conn_cert_unasked(const struct secho_conn *c)
{
	SSL *ssl = c->tls;

	/* A resumed session has no CertificateRequest to look for. */
	return secho_conn_is_tls(c) && !(c->flags & SECHO_CONN_SERVER) &&
	    (c->flags & SECHO_CONN_HS_DONE) && !SSL_session_reused(ssl) &&
	    SSL_get_certificate(ssl) != NULL && !secho_tls_cert_requested(ssl);
}

int
secho_conn_is_tls(const struct secho_conn *c)
{
	return c->ops == &secho_tls_ops || c->ops == &secho_tls_rec_ops;
}

static int
map_error(struct secho_conn *c, int ret, enum secho_conn_op op)
{
	int err = SSL_get_error(c->tls, ret);

	switch (err) {
	case SSL_ERROR_WANT_READ:
		return SECHO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return SECHO_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return SECHO_IO_EOF;
	case SSL_ERROR_SYSCALL:
		if (errno == EAGAIN || errno == EINTR)	/* retry the same call */
			return op == SECHO_OP_WRITE ? SECHO_WANT_WRITE :
			    SECHO_WANT_READ;
		ERR_clear_error();
		/* An empty datagram reads as 0, but UDP has no EOF: anyone
		 * could end a session with one.  Drop it and read on. */
		if (errno == 0 && SSL_is_dtls(c->tls) && op != SECHO_OP_WRITE)
			return SECHO_WANT_READ;
		if (errno == 0 || errno == EPIPE) {
			c->flags |= SECHO_CONN_UNCLEAN;
			return SECHO_IO_EOF;
		}
		/* An ICMP port unreachable for one of our datagrams. */
		if (errno == ECONNREFUSED && SSL_is_dtls(c->tls)) {
			secho_conn_set_error(c, "no DTLS server there (%s: "
			    "nothing listens on that UDP port)",
			    strerror(errno));
			return SECHO_IO_ERR;
		}
		secho_conn_set_error(c, "%s: %s", secho_conn_op_name(op),
		    strerror(errno));
		return SECHO_IO_ERR;
	case SSL_ERROR_SSL:
		return secho_tls_ssl_failure(c, op);
	}
	secho_conn_set_error(c, "TLS %s failed (SSL error %d)",
	    secho_conn_op_name(op), err);
	ERR_clear_error();
	return SECHO_IO_ERR;
}

/*
 * A TLS client starts with a handshake record (content type 22); a plain
 * client that sends "hi" would otherwise keep OpenSSL waiting for the
 * rest of a 5-byte record header until the handshake timeout.  Looked at
 * only until OpenSSL has read a byte: once per connection, not per echo.
 * Longer garbage still goes to OpenSSL, which names what it is.
 */
static int
short_non_tls_start(struct secho_conn *c)
{
	unsigned char head[5];
	ssize_t n;

	if (!(c->flags & SECHO_CONN_SERVER) || SSL_is_dtls(c->tls) ||
	    BIO_number_read(SSL_get_rbio(c->tls)) != 0)
		return 0;
	n = recv(c->fd, head, sizeof(head), MSG_PEEK | MSG_DONTWAIT);
	if (n <= 0 || (size_t)n >= sizeof(head) || head[0] == 22)
		return 0;
	c->flags |= SECHO_CONN_NOT_TLS;
	secho_conn_set_error(c, "the client does not speak TLS: %zd bytes "
	    "that do not start a handshake record", n);
	return 1;
}

static int
tls_handshake(struct secho_conn *c)
{
	int ret;

	if (short_non_tls_start(c))
		return SECHO_IO_ERR;
	ERR_clear_error();
	errno = 0;
	ret = SSL_do_handshake(c->tls);
	if (ret == 1) {
		/* secho's record layer takes over at the first read or
		 * write: until then the session can still be asked about. */
		c->flags |= SECHO_CONN_HS_DONE;
		return 0;
	}
	ret = map_error(c, ret, SECHO_OP_HANDSHAKE);
	if (ret == SECHO_IO_EOF)
		secho_conn_set_error(c, "the %s closed the connection during "
		    "the TLS handshake", (c->flags & SECHO_CONN_SERVER) ?
		    "client" : "server");
	return ret;
}

static ssize_t
tls_read(struct secho_conn *c, void *buf, size_t len)
{
	size_t n;
	int ret;

	/* Records go to tls_rec.c as soon as OpenSSL holds none of them. */
	if (c->rec != NULL && secho_rec_try_start(c))
		return secho_conn_read(c, buf, len);
	ERR_clear_error();
	errno = 0;
	ret = SSL_read_ex(c->tls, buf, len, &n);
	if (ret == 1)
		return (ssize_t)n;
	return map_error(c, ret, SECHO_OP_READ);
}

static ssize_t
tls_write(struct secho_conn *c, const void *buf, size_t len)
{
	size_t n;
	int ret;

	if (c->rec != NULL && secho_rec_try_start(c))
		return secho_conn_write(c, buf, len);
	ERR_clear_error();
	errno = 0;
	ret = SSL_write_ex(c->tls, buf, len, &n);
	if (c->rec != NULL)	/* a record OpenSSL must send before we can */
		secho_rec_write_blocked(c, ret != 1);
	if (ret == 1)
		return (ssize_t)n;
	ret = map_error(c, ret, SECHO_OP_WRITE);
	if (ret != SECHO_IO_EOF)
		return ret;
	/* A vanished peer (EPIPE, or SYSCALL with errno 0) fails a write;
	 * map_error() left no message for an EOF, so say it here. */
	secho_conn_set_error(c, "%s: %s", secho_conn_op_name(SECHO_OP_WRITE),
	    strerror(errno != 0 ? errno : EPIPE));
	return SECHO_IO_ERR;
}

static size_t
tls_pending(const struct secho_conn *c)
{
	int n = SSL_pending(c->tls);

	/* With read-ahead, whole records can wait undecrypted too. */
	if (n > 0)
		return (size_t)n;
	return SSL_has_pending(c->tls) ? 1 : 0;
}

static int
tls_shutdown(struct secho_conn *c)
{
	int ret;

	if (!(c->flags & SECHO_CONN_HS_DONE))
		return 0;	/* nothing to protect; just close */
	ERR_clear_error();
	errno = 0;
	ret = SSL_shutdown(c->tls);
	if (ret >= 0)	/* 0: ours is sent; the peer's may never come */
		return 0;
	ret = map_error(c, ret, SECHO_OP_SHUTDOWN);
	return ret == SECHO_IO_EOF ? 0 : ret;
}

static void
tls_close(struct secho_conn *c)
{
	struct secho_tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(c->tls));

	SSL_free(c->tls);
	secho_rec_free(c->rec);	/* one that never took over */
	c->rec = NULL;
	secho_trace_free(c->trace);
	c->trace = NULL;
	secho_tls_free(t);	/* this connection's reference */
	c->tls = NULL;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}

/*
 * What a server saw of its client beyond the suite: the name it asked
 * for, the protocol agreed, who its certificate names, its ClientHello's
 * fingerprints.
 */
static void
server_saw(SSL *ssl, char *buf, size_t len)
{
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	const unsigned char *alpn;
	unsigned int alpn_len;
	char subject[160];
	const char *fp = secho_tls_fingerprint(ssl);

	SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
	secho_tls_peer_subject(ssl, subject, sizeof(subject));
	snprintf(buf, len, "%s%s%s%.*s%s%s%s%s", sni != NULL ? ", SNI " : "",
	    sni != NULL ? sni : "", alpn_len > 0 ? ", ALPN " : "",
	    (int)alpn_len, alpn_len > 0 ? (const char *)alpn : "",
	    *subject != '\0' ? ", client " : "", subject,
	    *fp != '\0' ? ", " : "", fp);
}

char *
secho_tls_describe(const struct secho_conn *c, char *buf, size_t len)
{
	SSL *ssl = c->tls;
	char group[32], saw[512] = "";

	if (!(c->flags & SECHO_CONN_HS_DONE)) {
		snprintf(buf, len, "%s (handshaking)",
		    SSL_is_dtls(ssl) ? "dtls" : "tls");
		return buf;
	}
	secho_tls_group_name(ssl, group, sizeof(group));
	if (c->flags & SECHO_CONN_SERVER)
		server_saw(ssl, saw, sizeof(saw));
	snprintf(buf, len, "%s %s%s%s%s%s", SSL_get_version(ssl),
	    SSL_get_cipher_name(ssl), *group != '\0' ? " " : "", group,
	    SSL_session_reused(ssl) ? " resumed" : "", saw);
	return buf;
}

static long
tls_next_timeout(const struct secho_conn *c)
{
	struct timeval tv;

	if (!SSL_is_dtls(c->tls) || !DTLSv1_get_timeout(c->tls, &tv))
		return -1;
	return (long)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
}

static int
tls_handle_timeout(struct secho_conn *c)
{
	ERR_clear_error();
	if (DTLSv1_handle_timeout(c->tls) >= 0)
		return 0;
	secho_conn_set_error(c, "DTLS retransmission failed: %s",
	    secho_tls_reason("too many retransmissions"));
	ERR_clear_error();
	return SECHO_IO_ERR;
}

const struct secho_transport_ops secho_tls_ops = {
	.name = "tls",
	.handshake = tls_handshake,
	.read = tls_read,
	.write = tls_write,
	.pending = tls_pending,
	.shutdown = tls_shutdown,
	.close = tls_close,
	.next_timeout = tls_next_timeout,
	.handle_timeout = tls_handle_timeout,
	.describe = secho_tls_describe,
};
