/*
 * fuzz_dtls_listen.c - the DTLS server's front door: datagrams from the
 * network, through secho_dtls_listen() (one recvmsg, DTLSv1_listen and
 * the HMAC cookie callbacks), and for a client that proves its address,
 * secho_dtls_accept() and the handshake on its own socket.
 *
 * The listener has a real UDP socket on 127.0.0.1 (port from the
 * kernel) and the "client" a socket connected to it; an accepted client
 * gets one end of an AF_UNIX datagram socketpair, which is all the
 * datagram BIO needs.  Loopback only; nothing else is sent anywhere.
 *
 * The cookie is an HMAC of the client's address and port, which the
 * fuzzer cannot know.  So, as a client would, the harness keeps the
 * cookie of the last HelloVerifyRequest and writes it into any later
 * ClientHello whose cookie field is 32 bytes long.
 *
 * Input: chunks (fuzz.h), one datagram each.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_tls.h"

#define REC_HDR 13		/* DTLS record header */
#define HS_HDR 12		/* DTLS handshake header */
#define COOKIE_LEN 32		/* HMAC-SHA256, see dtls.c */

static int lfd = -1, cfd = -1;
static unsigned char cookie[COOKIE_LEN];
static int have_cookie;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct secho_sockaddr bound;

	(void)argc;
	(void)argv;
	fz_tls_init();
	(void)fz_tls_server(1, 0);
	lfd = secho_net_listen("127.0.0.1", 0, 1, 0, 0, &bound);
	if (lfd == -1 || (cfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1 || connect(cfd,
	    (struct sockaddr *)&bound.ss, bound.len) == -1)
		abort();
	return 0;
}

/* Keeps the cookie of a HelloVerifyRequest the listener sent. */
static void
drain_replies(int fd)
{
	unsigned char buf[2048];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), 0)) >= 0 || errno == EINTR) {
		size_t off = REC_HDR + HS_HDR + 2;	/* + server_version */

		if (fd == cfd && n > (ssize_t)off && buf[0] == 22 &&
		    buf[REC_HDR] == 3 && buf[off] == COOKIE_LEN &&
		    (size_t)n >= off + 1 + COOKIE_LEN) {
			memcpy(cookie, buf + off + 1, COOKIE_LEN);
			have_cookie = 1;
		}
	}
}

/* ClientHello: version, random, session id, then the cookie. */
static void
patch_cookie(unsigned char *d, size_t n)
{
	size_t off = REC_HDR + HS_HDR + 2 + 32;

	if (!have_cookie || n <= off || d[0] != 22 || d[REC_HDR] != 1)
		return;
	off += 1 + d[off];	/* session id */
	if (off < n && d[off] == COOKIE_LEN && off + 1 + COOKIE_LEN <= n)
		memcpy(d + off + 1, cookie, COOKIE_LEN);
}

static void
serve_accepted(struct secho_dtls_listener *l, struct fz_chunks *ch)
{
	struct secho_conn c;
	const uint8_t *p;
	size_t n;
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sp) == -1)
		abort();
	if (secho_dtls_accept(l, &c, sp[0]) == -1) {
		close(sp[0]);
		close(sp[1]);
		return;
	}
	/* The hello that proved the address is still to be answered. */
	for (int alive = fz_serve(&c) == 0; alive;) {
		drain_replies(sp[1]);
		if (!fz_chunk_next(ch, &p, &n))
			break;
		if (send(sp[1], p, n, 0) == -1)
			continue;
		alive = fz_serve(&c) == 0;
	}
	secho_conn_close(&c);	/* closes sp[0] */
	close(sp[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct secho_dtls_listener *l;
	struct secho_sockaddr peer, local;
	struct fz_chunks ch;
	unsigned char *d;
	const uint8_t *p;
	size_t n;

	have_cookie = 0;
	drain_replies(cfd);
	drain_replies(lfd);
	if ((l = secho_dtls_listener_new(fz_tls_server(1, 0), lfd)) == NULL)
		abort();
	fz_chunks_init(&ch, data, size);
	while (fz_chunk_next(&ch, &p, &n)) {
		if ((d = malloc(n + 1)) == NULL)
			break;
		memcpy(d, p, n);
		patch_cookie(d, n);
		if (send(cfd, d, n, 0) == -1) {
			free(d);
			continue;	/* e.g. EMSGSIZE */
		}
		free(d);
		switch (secho_dtls_listen(l, &peer, &local)) {
		case 1:
			serve_accepted(l, &ch);
			break;
		case 0:		/* loopback delivers at once */
			abort();
		}
		drain_replies(cfd);
	}
	secho_dtls_listener_free(l);
	return 0;
}
