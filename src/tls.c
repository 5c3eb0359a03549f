/*
 * tls.c - TLS and DTLS over OpenSSL 3 behind the transport interface.
 *
 * The only file that includes OpenSSL.  It builds one SSL_CTX per role
 * with secure defaults, maps every SSL_ERROR_* onto enum secho_io, and
 * turns OpenSSL's error queue into one sentence a person can act on.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "secho/tls.h"

/* TLS 1.2: forward-secret AEAD suites only; TLS 1.3 has nothing else. */
#define TLS12_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
/* X25519 first: the cheapest secure key exchange. */
#define TLS_GROUPS "X25519:P-256:P-384"

struct secho_tls {
	SSL_CTX *ctx;
	enum secho_tls_role role;
	int dgram;
	int insecure;
	int keylog_fd;
	int mtu;		/* DTLS link MTU */
};

#define DTLS_DEFAULT_MTU 1500

static const struct secho_transport_ops tls_ops;

/* The reason of the oldest queued OpenSSL error, or a fallback. */
static const char *
ssl_reason(const char *fallback)
{
	const char *r = ERR_reason_error_string(ERR_peek_error());

	return r != NULL ? r : fallback;
}

static int
file_error(const char *what, const char *path)
{
	unsigned long e = ERR_peek_last_error();
	int sys = ERR_SYSTEM_ERROR(e) ? (int)ERR_GET_REASON(e) : 0;

	if (sys == ENOENT || access(path, R_OK) == -1) {
		secho_error_set("cannot read %s %s: %s%s", what, path,
		    strerror(sys != 0 ? sys : errno),
		    (sys == ENOENT || errno == ENOENT) ?
		    " (run 'make certs' to create it)" : "");
	} else
		secho_error_set("cannot load %s %s: %s", what, path,
		    ssl_reason("not a valid PEM file"));
	ERR_clear_error();
	return -1;
}

static int
mismatch(const char *cert, const char *key)
{
	secho_error_set("certificate %s does not match private key %s", cert,
	    key);
	ERR_clear_error();
	return -1;
}

/*
 * A server cannot stop to ask for a passphrase (nor should it sit at a
 * prompt): refuse, and remember that one was wanted.
 */
static int
no_passphrase_cb(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	*(int *)u = 1;
	return -1;
}

/* Loads a certificate chain and its key, and proves they belong together. */
static int
load_pair(struct secho_tls *t, const char *cert, const char *key)
{
	int wanted_pass = 0;

	if (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1)
		return file_error("certificate", cert);
	SSL_CTX_set_default_passwd_cb(t->ctx, no_passphrase_cb);
	SSL_CTX_set_default_passwd_cb_userdata(t->ctx, &wanted_pass);
	if (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1) {
		SSL_CTX_set_default_passwd_cb_userdata(t->ctx, NULL);
		if (wanted_pass) {
			secho_error_set("private key %s is encrypted: secho "
			    "needs it unencrypted (openssl pkey -in %s -out "
			    "plain.key)", key, key);
			ERR_clear_error();
			return -1;
		}
		if (ERR_GET_REASON(ERR_peek_last_error()) ==
		    X509_R_KEY_VALUES_MISMATCH)
			return mismatch(cert, key);
		return file_error("private key", key);
	}
	SSL_CTX_set_default_passwd_cb_userdata(t->ctx, NULL);
	if (SSL_CTX_check_private_key(t->ctx) != 1)
		return mismatch(cert, key);
	return 0;
}

static void
keylog_cb(const SSL *ssl, const char *line)
{
	struct secho_tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	char buf[512];
	int n;

	if (t == NULL || t->keylog_fd == -1)
		return;
	/* One write per line: O_APPEND keeps lines whole across processes. */
	n = snprintf(buf, sizeof(buf), "%s\n", line);
	if (n > 0 && (size_t)n < sizeof(buf) &&
	    write(t->keylog_fd, buf, (size_t)n) != n)
		return;	/* a lost key line must not break the session */
}

static int
setup_keylog(struct secho_tls *t, const char *path)
{
	struct stat st;

	t->keylog_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600);
	if (t->keylog_fd == -1) {
		secho_error_errno("cannot open key log %s", path);
		return -1;
	}
	/* An older file of ours may be readable by others: it must not be. */
	if (fstat(t->keylog_fd, &st) == 0 && (st.st_mode & 077) != 0 &&
	    st.st_uid == geteuid())
		fchmod(t->keylog_fd, 0600);
	SSL_CTX_set_keylog_callback(t->ctx, keylog_cb);
	return 0;
}

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

static int
setup_server(struct secho_tls *t, const struct secho_tls_opts *o)
{
	static const unsigned char sid_ctx[] = "secho";

	if (o->cert == NULL || o->key == NULL) {
		secho_error_set("a TLS server needs a certificate and a key");
		return -1;
	}
	if (load_pair(t, o->cert, o->key) == -1)
		return -1;
	if (t->dgram) {
		pthread_once(&cookie_once, cookie_key_init);
		if (!cookie_key_ok) {
			secho_error_set("cannot make a DTLS cookie key: %s",
			    ssl_reason("no randomness"));
			return -1;
		}
		SSL_CTX_set_cookie_generate_cb(t->ctx, cookie_generate_cb);
		SSL_CTX_set_cookie_verify_cb(t->ctx, cookie_verify_cb);
	}
	/* Resumption with client certificates needs a session id context. */
	SSL_CTX_set_session_id_context(t->ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_options(t->ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (o->verify_client == 0)
		return 0;	/* and never load a CA store nobody uses */
	if (o->ca == NULL || SSL_CTX_load_verify_locations(t->ctx, o->ca,
	    NULL) != 1)
		return file_error("CA file", o->ca != NULL ? o->ca : "(none)");
	SSL_CTX_set_client_CA_list(t->ctx, SSL_load_client_CA_file(o->ca));
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | (o->verify_client > 1 ?
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
	return 0;
}

static int
setup_client(struct secho_tls *t, const struct secho_tls_opts *o)
{
	if (o->cert != NULL && load_pair(t, o->cert,
	    o->key != NULL ? o->key : o->cert) == -1)
		return -1;
	t->insecure = o->insecure;
	if (o->insecure) {
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
		return 0;
	}
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	if (o->ca != NULL) {
		if (SSL_CTX_load_verify_locations(t->ctx, o->ca, NULL) != 1)
			return file_error("CA file", o->ca);
	} else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
		secho_error_set("cannot load the system CA store: %s",
		    ssl_reason("unknown error"));
		ERR_clear_error();
		return -1;
	}
	return 0;
}

static int
setup_common(struct secho_tls *t)
{
	SSL_CTX *ctx = t->ctx;

	if (!SSL_CTX_set_min_proto_version(ctx, t->dgram ? DTLS1_2_VERSION :
	    TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) ||
	    !SSL_CTX_set1_groups_list(ctx, TLS_GROUPS)) {
		secho_error_set("cannot configure TLS: %s",
		    ssl_reason("unknown error"));
		ERR_clear_error();
		return -1;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	/*
	 * Partial writes keep a slow reader from pinning a whole buffer in
	 * the record layer; released buffers make idle connections cheap.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_app_data(ctx, t);
	return 0;
}

struct secho_tls *
secho_tls_new(const struct secho_tls_opts *opts, enum secho_tls_role role,
    int dgram)
{
	const SSL_METHOD *m;
	struct secho_tls *t;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		secho_error_errno("calloc");
		return NULL;
	}
	t->role = role;
	t->dgram = dgram;
	t->keylog_fd = -1;
	t->mtu = opts->mtu > 0 ? opts->mtu : DTLS_DEFAULT_MTU;
	if (role == SECHO_TLS_SERVER)
		m = dgram ? DTLS_server_method() : TLS_server_method();
	else
		m = dgram ? DTLS_client_method() : TLS_client_method();
	if ((t->ctx = SSL_CTX_new(m)) == NULL) {
		secho_error_set("cannot create TLS context: %s",
		    ssl_reason("out of memory"));
		free(t);
		return NULL;
	}
	if (setup_common(t) == -1 ||
	    (role == SECHO_TLS_SERVER ? setup_server(t, opts) :
	    setup_client(t, opts)) == -1 ||
	    (opts->keylog != NULL && setup_keylog(t, opts->keylog) == -1)) {
		secho_tls_free(t);
		return NULL;
	}
	return t;
}

void
secho_tls_free(struct secho_tls *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	if (t->keylog_fd != -1)
		close(t->keylog_fd);
	free(t);
}

static int
set_peer_name(struct secho_tls *t, SSL *ssl, const char *name)
{
	if (name == NULL || *name == '\0')
		return 0;
	if (secho_net_is_ip(name)) {
		/* RFC 6066: no SNI for addresses; check the IP SAN instead. */
		if (!t->insecure && X509_VERIFY_PARAM_set1_ip_asc(
		    SSL_get0_param(ssl), name) != 1)
			return -1;
		return 0;
	}
	if (SSL_set_tlsext_host_name(ssl, name) != 1)
		return -1;
	if (!t->insecure && SSL_set1_host(ssl, name) != 1)
		return -1;
	return 0;
}

/*
 * A dgram BIO sends with sendto() to its own record of the peer, which
 * stays empty (port 0: EINVAL on the first write) unless the BIO is told
 * that the socket is connected.
 */
static void
dgram_set_connected(BIO *bio, int fd)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);

	/* BIO_ADDR_make() reads a struct sockaddr by its family. */
	if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0)
		BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &peer);
}

/*
 * A fixed MTU: the kernel's answer for loopback (64 KiB) would make
 * records that real paths fragment or drop.
 */
static void
set_mtu(SSL *ssl, int mtu)
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
	bio = t->dgram ? BIO_new_dgram(fd, BIO_NOCLOSE) :
	    BIO_new_socket(fd, BIO_NOCLOSE);
	if (bio == NULL)
		goto fail;
	if (t->dgram)
		dgram_set_connected(bio, fd);
	SSL_set_bio(ssl, bio, bio);
	if (t->dgram)
		set_mtu(ssl, t->mtu);
	if (t->role == SECHO_TLS_SERVER) {
		SSL_set_accept_state(ssl);
		c->flags |= SECHO_CONN_SERVER;
	} else {
		SSL_set_connect_state(ssl);
		if (set_peer_name(t, ssl, name) == -1)
			goto fail;
	}
	c->tls = ssl;
	c->ops = &tls_ops;
	return 0;
fail:
	secho_error_set("cannot set up a TLS connection: %s",
	    ssl_reason("out of memory"));
	ERR_clear_error();
	SSL_free(ssl);
	return -1;
}

int
secho_conn_is_tls(const struct secho_conn *c)
{
	return c->ops == &tls_ops;
}

/* Alerts a peer sends when it rejects us: say who refused and why. */
static int
is_alert(int reason)
{
	return reason >= SSL_AD_REASON_OFFSET &&
	    reason < SSL_AD_REASON_OFFSET + 256;
}

static int
is_not_tls(int reason)
{
	switch (reason) {
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
	case SSL_R_UNKNOWN_PROTOCOL:
	case SSL_R_RECORD_LENGTH_MISMATCH:
	case SSL_R_UNEXPECTED_MESSAGE:
	case SSL_R_UNEXPECTED_RECORD:
	case SSL_R_LENGTH_MISMATCH:
	case SSL_R_BAD_PACKET_LENGTH:
		return 1;
	}
	return 0;
}

static void
verify_error(struct secho_conn *c)
{
	long v = SSL_get_verify_result(c->tls);

	c->flags |= SECHO_CONN_VERIFY;
	secho_conn_set_error(c, "certificate verify failed: %s",
	    X509_verify_cert_error_string(v));
}

/* Explains a SSL_ERROR_SSL from the reason code at the queue's head. */
static int
ssl_failure(struct secho_conn *c, const char *what)
{
	unsigned long e = ERR_peek_error();
	int reason = ERR_GET_REASON(e);
	const char *peer = (c->flags & SECHO_CONN_SERVER) ? "client" :
	    "server";

	if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		c->flags |= SECHO_CONN_UNCLEAN;
		ERR_clear_error();
		return SECHO_IO_EOF;
	}
	if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED)
		verify_error(c);
	else if (is_alert(reason) && strcmp(what, "handshake") == 0)
		secho_conn_set_error(c, "the %s rejected the handshake: %s",
		    peer, ssl_reason("alert"));
	else if (is_alert(reason))
		secho_conn_set_error(c, "the %s sent a fatal alert: %s", peer,
		    ssl_reason("alert"));
	else if (is_not_tls(reason) && !(c->flags & SECHO_CONN_HS_DONE)) {
		c->flags |= SECHO_CONN_NOT_TLS;
		secho_conn_set_error(c, "the %s does not speak TLS (%s)",
		    peer, ssl_reason("bad record"));
	} else
		secho_conn_set_error(c, "TLS %s failed: %s", what,
		    ssl_reason("unknown error"));
	ERR_clear_error();
	return SECHO_IO_ERR;
}

static int
map_error(struct secho_conn *c, int ret, const char *what)
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
			return strcmp(what, "write") == 0 ? SECHO_WANT_WRITE :
			    SECHO_WANT_READ;
		ERR_clear_error();
		if (errno == 0 || errno == EPIPE) {
			c->flags |= SECHO_CONN_UNCLEAN;
			return SECHO_IO_EOF;
		}
		secho_conn_set_error(c, "%s: %s", what, strerror(errno));
		return SECHO_IO_ERR;
	case SSL_ERROR_SSL:
		return ssl_failure(c, what);
	}
	secho_conn_set_error(c, "TLS %s failed (SSL error %d)", what, err);
	ERR_clear_error();
	return SECHO_IO_ERR;
}

static int
tls_handshake(struct secho_conn *c)
{
	int ret;

	ERR_clear_error();
	errno = 0;
	ret = SSL_do_handshake(c->tls);
	if (ret == 1) {
		c->flags |= SECHO_CONN_HS_DONE;
		return 0;
	}
	ret = map_error(c, ret, "handshake");
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

	ERR_clear_error();
	errno = 0;
	ret = SSL_read_ex(c->tls, buf, len, &n);
	if (ret == 1)
		return (ssize_t)n;
	return map_error(c, ret, "read");
}

static ssize_t
tls_write(struct secho_conn *c, const void *buf, size_t len)
{
	size_t n;
	int ret;

	ERR_clear_error();
	errno = 0;
	ret = SSL_write_ex(c->tls, buf, len, &n);
	if (ret == 1)
		return (ssize_t)n;
	ret = map_error(c, ret, "write");
	if (ret != SECHO_IO_EOF)
		return ret;
	/* A vanished peer (EPIPE, or SYSCALL with errno 0) fails a write;
	 * map_error() left no message for an EOF, so say it here. */
	secho_conn_set_error(c, "write: %s", strerror(errno != 0 ? errno :
	    EPIPE));
	return SECHO_IO_ERR;
}

static size_t
tls_pending(const struct secho_conn *c)
{
	return (size_t)SSL_pending(c->tls);
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
	ret = map_error(c, ret, "shutdown");
	return ret == SECHO_IO_EOF ? 0 : ret;
}

static void
tls_close(struct secho_conn *c)
{
	SSL_free(c->tls);
	c->tls = NULL;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}

static char *
tls_describe(const struct secho_conn *c, char *buf, size_t len)
{
	const SSL *ssl = c->tls;

	if (!(c->flags & SECHO_CONN_HS_DONE))
		snprintf(buf, len, "%s (handshaking)",
		    SSL_is_dtls(ssl) ? "dtls" : "tls");
	else
		snprintf(buf, len, "%s %s%s", SSL_get_version(ssl),
		    SSL_get_cipher_name(ssl),
		    SSL_session_reused((SSL *)ssl) ? " resumed" : "");
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
	    ssl_reason("too many retransmissions"));
	ERR_clear_error();
	return SECHO_IO_ERR;
}

static const struct secho_transport_ops tls_ops = {
	.name = "tls",
	.handshake = tls_handshake,
	.read = tls_read,
	.write = tls_write,
	.pending = tls_pending,
	.shutdown = tls_shutdown,
	.close = tls_close,
	.next_timeout = tls_next_timeout,
	.handle_timeout = tls_handle_timeout,
	.describe = tls_describe,
};

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
		    ssl_reason("out of memory"));
		ERR_clear_error();
		SSL_free(l->ssl);
		l->ssl = NULL;
		return -1;
	}
	BIO_set_data(bio, l);
	SSL_set_bio(l->ssl, bio, bio);
	SSL_set_options(l->ssl, SSL_OP_COOKIE_EXCHANGE);
	set_mtu(l->ssl, l->t->mtu);
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
	l->port = ntohs(self.ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&self.ss)->sin6_port :
	    ((struct sockaddr_in *)&self.ss)->sin_port);
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
	secho_error_set("dtls: %s", ssl_reason("bad datagram"));
	ERR_clear_error();
	SSL_free(l->ssl);
	l->ssl = NULL;
	return -1;
}

int
secho_dtls_accept(struct secho_dtls_listener *l, struct secho_conn *c, int fd)
{
	BIO *bio = BIO_new_dgram(fd, BIO_NOCLOSE);

	memset(c, 0, sizeof(*c));
	if (bio == NULL) {	/* the client retransmits; try again then */
		secho_error_set("cannot set up a DTLS connection: out of "
		    "memory");
		SSL_free(l->ssl);
		l->ssl = NULL;
		return -1;
	}
	/* The handshake state moves to the client's own connected socket. */
	dgram_set_connected(bio, fd);
	SSL_set_bio(l->ssl, bio, bio);
	c->fd = fd;
	c->tls = l->ssl;
	c->ops = &tls_ops;
	c->flags = SECHO_CONN_SERVER;
	l->ssl = NULL;
	listener_arm(l);	/* on failure, secho_dtls_listen() retries */
	return 0;
}

static void
name_str(const X509_NAME *name, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n;

	buf[0] = '\0';
	if (b == NULL)
		return;
	X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
	n = BIO_read(b, buf, (int)len - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
}

static void
time_str(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	buf[0] = '\0';
	if (t != NULL && ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static void
san_str(X509 *x, char *buf, size_t len)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL);
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < sk_GENERAL_NAME_num(gens) && off < len; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char ip[64] = "";
		const ASN1_OCTET_STRING *o = g->d.iPAddress;

		if (g->type == GEN_DNS)
			off += (size_t)snprintf(buf + off, len - off, "%sDNS:%s",
			    off ? ", " : "", ASN1_STRING_get0_data(g->d.dNSName));
		else if (g->type == GEN_IPADD && (o->length == 4 ||
		    o->length == 16)) {
			inet_ntop(o->length == 4 ? AF_INET : AF_INET6,
			    o->data, ip, sizeof(ip));
			off += (size_t)snprintf(buf + off, len - off, "%sIP:%s",
			    off ? ", " : "", ip);
		}
	}
	GENERAL_NAMES_free(gens);
}

static void
key_str(X509 *x, char *buf, size_t len)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	char group[24];

	buf[0] = '\0';
	if (pk == NULL)
		return;
	if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, sizeof(group), NULL) == 1)
		snprintf(buf, len, "%s %s", EVP_PKEY_get0_type_name(pk), group);
	else
		snprintf(buf, len, "%s %d", EVP_PKEY_get0_type_name(pk),
		    EVP_PKEY_get_bits(pk));
}

int
secho_tls_conn_info(const struct secho_conn *c, struct secho_tls_info *in)
{
	SSL *ssl = c->tls;
	X509 *peer;
	int nid;

	memset(in, 0, sizeof(*in));
	if (!secho_conn_is_tls(c))
		return -1;
	snprintf(in->version, sizeof(in->version), "%s", SSL_get_version(ssl));
	snprintf(in->cipher, sizeof(in->cipher), "%s",
	    SSL_get_cipher_name(ssl));
	nid = SSL_get_negotiated_group(ssl);
	/* OpenSSL 3.0 names the X curves "x25519"/"x448"; RFC 7748 and
	 * OpenSSL's own object names say "X25519"/"X448". */
	if (nid == NID_X25519 || nid == NID_X448)
		snprintf(in->group, sizeof(in->group), "%s", OBJ_nid2sn(nid));
	else if (nid != 0 && SSL_group_to_name(ssl, nid) != NULL)
		snprintf(in->group, sizeof(in->group), "%s",
		    SSL_group_to_name(ssl, nid));
	in->resumed = SSL_session_reused(ssl);
	if ((peer = SSL_get0_peer_certificate(ssl)) != NULL) {
		name_str(X509_get_subject_name(peer), in->subject,
		    sizeof(in->subject));
		name_str(X509_get_issuer_name(peer), in->issuer,
		    sizeof(in->issuer));
		time_str(X509_get0_notBefore(peer), in->not_before,
		    sizeof(in->not_before));
		time_str(X509_get0_notAfter(peer), in->not_after,
		    sizeof(in->not_after));
		san_str(peer, in->san, sizeof(in->san));
		key_str(peer, in->key, sizeof(in->key));
	}
	snprintf(in->verify, sizeof(in->verify), "%s",
	    SSL_get_verify_mode(ssl) == SSL_VERIFY_NONE ? "not verified" :
	    X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
	return 0;
}
