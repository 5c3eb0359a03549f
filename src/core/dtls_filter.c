/*
 * dtls_filter.c - a BIO between a DTLS connection and its socket that
 * drops encrypted records too short to hold their cipher's nonce and tag,
 * which OpenSSL 3.0 answers with a fatal internal_error alert instead of
 * discarding them: one spoofed datagram would end the session.
 */
#include <pthread.h>
#include <sys/socket.h>
#include <string.h>

#include "tls_int.h"

/* type(1) version(2) epoch(2) sequence(6) length(2), RFC 6347 4.1 */
#define DTLS_HEADER 13

/*
 * The shortest record of epoch >= 1 the negotiated cipher can make: an
 * 8-byte explicit nonce and a 16-byte tag for AES-GCM and AES-CCM, only
 * the tag for ChaCha20-Poly1305 (RFC 7905) and CCM_8.  0 for anything
 * else: OpenSSL's own checks stand.
 */
static size_t
min_record(SSL *ssl)
{
	const SSL_CIPHER *ci = SSL_get_current_cipher(ssl);
	const char *name = ci != NULL ? SSL_CIPHER_get_name(ci) : "";

	if (strstr(name, "CHACHA20") != NULL || strstr(name, "CCM8") != NULL)
		return 16;
	if (strstr(name, "GCM") != NULL || strstr(name, "CCM") != NULL)
		return 24;
	return 0;
}

/*
 * Removes the short encrypted records from the datagram in buf; returns
 * its new length.  A truncated record ends the walk: OpenSSL drops those
 * itself.
 */
static size_t
drop_short_records(SSL *ssl, unsigned char *buf, size_t len)
{
	size_t off = 0, min = 0;
	int looked = 0;

	while (len - off >= DTLS_HEADER) {
		unsigned char *r = buf + off;
		size_t rlen = (size_t)r[11] << 8 | r[12];
		int epoch = r[3] << 8 | r[4];

		if (rlen > len - off - DTLS_HEADER)
			break;
		if (epoch != 0 && !looked) {
			min = min_record(ssl);
			looked = 1;
		}
		if (epoch != 0 && rlen < min) {
			memmove(r, r + DTLS_HEADER + rlen,
			    len - off - DTLS_HEADER - rlen);
			len -= DTLS_HEADER + rlen;
			continue;
		}
		off += DTLS_HEADER + rlen;
	}
	return len;
}

static int
filter_read(BIO *b, char *out, int outl)
{
	int n = BIO_read(BIO_next(b), out, outl);

	BIO_clear_retry_flags(b);
	BIO_copy_next_retry(b);
	if (n <= 0)
		return n;
	n = (int)drop_short_records(BIO_get_data(b), (unsigned char *)out,
	    (size_t)n);
	if (n == 0)	/* nothing left: as if no datagram had come */
		BIO_set_retry_read(b);
	return n > 0 ? n : -1;
}

static int
filter_write(BIO *b, const char *in, int inl)
{
	int n = BIO_write(BIO_next(b), in, inl);

	BIO_clear_retry_flags(b);
	BIO_copy_next_retry(b);
	return n;
}

static long
filter_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	return BIO_next(b) != NULL ? BIO_ctrl(BIO_next(b), cmd, num, ptr) : 0;
}

static int
filter_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *filter_method;
static pthread_once_t filter_once = PTHREAD_ONCE_INIT;

static void
filter_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_FILTER,
	    "secho DTLS record filter");

	if (m == NULL || !BIO_meth_set_read(m, filter_read) ||
	    !BIO_meth_set_write(m, filter_write) ||
	    !BIO_meth_set_ctrl(m, filter_ctrl) ||
	    !BIO_meth_set_create(m, filter_create)) {
		BIO_meth_free(m);
		return;
	}
	filter_method = m;
}

/*
 * A dgram BIO sends with sendto() to its own record of the peer, which
 * stays empty (port 0: EINVAL on the first write) unless the BIO is told
 * that the socket is connected.
 */
static void
dgram_connected(BIO *bio, int fd)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);

	/* BIO_ADDR_make() reads a struct sockaddr by its family. */
	if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0)
		BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &peer);
}

BIO *
secho_dtls_bio_new(SSL *ssl, int fd)
{
	BIO *sock = BIO_new_dgram(fd, BIO_NOCLOSE), *f = NULL;

	pthread_once(&filter_once, filter_init);
	if (sock == NULL || filter_method == NULL ||
	    (f = BIO_new(filter_method)) == NULL) {
		BIO_free(sock);
		return NULL;
	}
	dgram_connected(sock, fd);
	BIO_set_data(f, ssl);
	return BIO_push(f, sock);
}
