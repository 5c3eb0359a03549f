/*
 * dtls.c - the DTLS server's front door: stateless HMAC cookies and a
 * listener that reads one datagram per turn, then moves each proved
 * client onto a socket of its own.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "tls_int.h"

/*
 * DTLS cookies: HMAC-SHA256 of the client's address and port under a
 * random per-process key, so the server can check a returning ClientHello
 * without having kept anything from the first one.
 */
static unsigned char cookie_key[32];
static int cookie_key_ok;
static pthread_once_t cookie_once = PTHREAD_ONCE_INIT;

static void
cookie_key_init(void)
{
	cookie_key_ok = RAND_bytes(cookie_key, sizeof(cookie_key)) == 1;
}

static int
cookie_compute(SSL *ssl, unsigned char *out, unsigned int *outlen)
{
	unsigned char msg[sizeof(struct in6_addr) + 2];
	BIO_ADDR *peer = BIO_ADDR_new();
	size_t alen = 0;
	unsigned short port;
	int ok = 0;

	if (peer != NULL && cookie_key_ok &&
	    BIO_dgram_get_peer(SSL_get_rbio(ssl), peer) > 0 &&
	    BIO_ADDR_rawaddress(peer, NULL, &alen) == 1 &&
	    alen <= sizeof(struct in6_addr) &&
	    BIO_ADDR_rawaddress(peer, msg, &alen) == 1) {
		port = BIO_ADDR_rawport(peer);
		memcpy(msg + alen, &port, sizeof(port));
		ok = HMAC(EVP_sha256(), cookie_key, sizeof(cookie_key), msg,
		    alen + sizeof(port), out, outlen) != NULL;
	}
	BIO_ADDR_free(peer);
	return ok;
}

static int
cookie_generate_cb(SSL *ssl, unsigned char *cookie, unsigned int *len)
{
	return cookie_compute(ssl, cookie, len);
}

static int
cookie_verify_cb(SSL *ssl, const unsigned char *cookie, unsigned int len)
{
	unsigned char want[EVP_MAX_MD_SIZE];
	unsigned int wlen;

	return cookie_compute(ssl, want, &wlen) && wlen == len &&
	    CRYPTO_memcmp(want, cookie, len) == 0;
}

int
secho_dtls_cookie_setup(struct secho_tls *t)
{
	pthread_once(&cookie_once, cookie_key_init);
	if (!cookie_key_ok) {
		secho_error_set("cannot make a DTLS cookie key: %s",
		    secho_tls_reason("no randomness"));
		return -1;
	}
	SSL_CTX_set_cookie_generate_cb(t->ctx, cookie_generate_cb);
	SSL_CTX_set_cookie_verify_cb(t->ctx, cookie_verify_cb);
	return 0;
}

/* --- DTLS listeners --- */

/*
 * DTLSv1_listen() reads a socket until it is empty, which under a flood of
 * cookie-less hellos would hold the event loop indefinitely.  So the
 * listener reads one datagram itself (learning where it was sent, too) and
 * hands DTLSv1_listen() a BIO that yields just that datagram.
 */
#define LISTEN_DGRAM_MAX 65536

struct secho_dtls_listener {
	struct secho_tls *t;
	int fd;
	int port;			/* the listener's own */
	int family;
	SSL *ssl;			/* waits for a ClientHello + cookie */
	BIO_ADDR *peer;			/* DTLSv1_listen's out-parameter */
	struct secho_sockaddr from;	/* the current datagram's sender */
	struct secho_dgram_dst dst;	/* ...and where it was sent */
	size_t len;
	int have;			/* not yet read by OpenSSL */
	unsigned char dgram[LISTEN_DGRAM_MAX];
};

static int
lbio_read(BIO *b, char *out, int outl)
{
	struct secho_dtls_listener *l = BIO_get_data(b);
	size_t n;

	BIO_clear_retry_flags(b);
	if (!l->have || outl < 0) {
		BIO_set_retry_read(b);
		return -1;
	}
	n = l->len < (size_t)outl ? l->len : (size_t)outl;
	memcpy(out, l->dgram, n);
	l->have = 0;
	return (int)n;
}

static int
lbio_write(BIO *b, const char *in, int inl)
{
	struct secho_dtls_listener *l = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	/* A HelloVerifyRequest the kernel will not take is just lost: the
	 * client retransmits its hello, and we keep no state either way. */
	secho_net_send_dgram(l->fd, in, (size_t)inl, &l->from, &l->dst);
	return inl;
}

static long
lbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct secho_dtls_listener *l = BIO_get_data(b);

	(void)num;
	switch (cmd) {
	case BIO_CTRL_DGRAM_GET_PEER:	/* ptr is a BIO_ADDR, a sockaddr union */
		memcpy(ptr, &l->from.ss, l->from.len);
		return (long)l->from.len;
	case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
		return l->family == AF_INET6 ? 48 : 28;
	case BIO_CTRL_FLUSH:
	case BIO_CTRL_DGRAM_SET_PEER:
	case BIO_CTRL_DGRAM_SET_CONNECTED:
		return 1;
	}
	return 0;
}

static int
lbio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *lbio_method;
static pthread_once_t lbio_once = PTHREAD_ONCE_INIT;

static void
lbio_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "secho DTLS listener");

	if (m == NULL || !BIO_meth_set_read(m, lbio_read) ||
	    !BIO_meth_set_write(m, lbio_write) ||
	    !BIO_meth_set_ctrl(m, lbio_ctrl) ||
	    !BIO_meth_set_create(m, lbio_create)) {
		BIO_meth_free(m);
		return;
	}
	lbio_method = m;
}

static int
listener_arm(struct secho_dtls_listener *l)
{
	BIO *bio = NULL;

	pthread_once(&lbio_once, lbio_init);
	if (lbio_method == NULL || (l->ssl = SSL_new(l->t->ctx)) == NULL ||
	    (bio = BIO_new(lbio_method)) == NULL) {
		secho_error_set("cannot set up a DTLS listener: %s",
		    secho_tls_reason("out of memory"));
		ERR_clear_error();
		SSL_free(l->ssl);
		l->ssl = NULL;
		return -1;
	}
	BIO_set_data(bio, l);
	SSL_set_bio(l->ssl, bio, bio);
	SSL_set_options(l->ssl, SSL_OP_COOKIE_EXCHANGE);
	secho_tls_set_mtu(l->ssl, l->t->mtu);
	return 0;
}

struct secho_dtls_listener *
secho_dtls_listener_new(struct secho_tls *t, int fd)
{
	struct secho_dtls_listener *l = calloc(1, sizeof(*l));
	struct secho_sockaddr self;

	self.len = sizeof(self.ss);
	if (l == NULL || (l->peer = BIO_ADDR_new()) == NULL ||
	    getsockname(fd, (struct sockaddr *)&self.ss, &self.len) == -1) {
		secho_error_set("cannot set up a DTLS listener: %s",
		    l == NULL || l->peer == NULL ? "out of memory" :
		    strerror(errno));
		secho_dtls_listener_free(l);
		return NULL;
	}
	l->t = t;
	l->fd = fd;
	l->family = self.ss.ss_family;
	l->port = secho_sockaddr_port((struct sockaddr *)&self.ss);
	if (listener_arm(l) == -1) {
		secho_dtls_listener_free(l);
		return NULL;
	}
	return l;
}

void
secho_dtls_listener_free(struct secho_dtls_listener *l)
{
	if (l == NULL)
		return;
	SSL_free(l->ssl);
	BIO_ADDR_free(l->peer);
	free(l);
}

int
secho_dtls_listen(struct secho_dtls_listener *l, struct secho_sockaddr *peer,
    struct secho_sockaddr *local)
{
	ssize_t n;
	int rc;

	if (l->ssl == NULL && listener_arm(l) == -1)
		return -1;
	n = secho_net_recv_dgram(l->fd, l->dgram, sizeof(l->dgram), &l->from,
	    &l->dst);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n == -1 || (size_t)n > sizeof(l->dgram)) {
		secho_error_set("dtls: %s", n == -1 ? strerror(errno) :
		    "oversized datagram dropped");
		return -1;
	}
	l->len = (size_t)n;
	l->have = 1;
	ERR_clear_error();
	rc = DTLSv1_listen(l->ssl, l->peer);
	l->have = 0;
	if (rc > 0) {
		*peer = l->from;
		secho_dgram_dst_sockaddr(&l->dst, l->port, l->family, local);
		return 1;
	}
	if (rc == 0) {
		ERR_clear_error();
		return 2;	/* answered with a cookie, or ignored */
	}
	/* A fatal error spoils this SSL: start over with a fresh one. */
	secho_error_set("dtls: %s", secho_tls_reason("bad datagram"));
	ERR_clear_error();
	SSL_free(l->ssl);
	l->ssl = NULL;
	return -1;
}

int
secho_dtls_accept(struct secho_dtls_listener *l, struct secho_conn *c, int fd)
{
	BIO *bio = secho_dtls_bio_new(l->ssl, fd);

	memset(c, 0, sizeof(*c));
	if (bio == NULL) {	/* the client retransmits; try again then */
		secho_error_set("cannot set up a DTLS connection: out of "
		    "memory");
		SSL_free(l->ssl);
		l->ssl = NULL;
		return -1;
	}
	/* The handshake state moves to the client's own connected socket. */
	SSL_set_bio(l->ssl, bio, bio);
	c->fd = fd;
	c->tls = l->ssl;
	c->ops = &secho_tls_ops;
	c->flags = SECHO_CONN_SERVER;
	secho_tls_ref(l->t);
	l->ssl = NULL;
	listener_arm(l);	/* on failure, secho_dtls_listen() retries */
	return 0;
}


void
secho_dtls_listener_set_tls(struct secho_dtls_listener *l,
    struct secho_tls *t)
{
	SSL_free(l->ssl);
	l->ssl = NULL;
	l->t = t;
	listener_arm(l);	/* on failure, secho_dtls_listen() retries */
}
