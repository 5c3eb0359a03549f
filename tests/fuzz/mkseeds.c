/*
 * mkseeds.c - records the seed inputs of the TLS and DTLS harnesses: a
 * secho client and a fuzz server variant talk over memory BIOs (with
 * fuzz_tls.c's fixed randomness), and every burst the client sends
 * becomes one chunk.  Replayed by a harness, such a seed completes the
 * handshake and gets its message echoed, so mutations start from deep
 * inside the protocol.  Each seed is replayed here before it is kept.
 *
 * usage: mkseeds DIR   (writes DIR/tls_server, DIR/dtls_conn,
 *                       DIR/dtls_listen)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_tls.h"

static const char *outdir;

struct seed {
	unsigned char buf[65536];
	size_t len;
	size_t first;		/* length of the first chunk's data */
};

static void
add_chunk(struct seed *s, const unsigned char *p, size_t n)
{
	if (s->len + 2 + n > sizeof(s->buf) || n > 0xffff)
		abort();
	s->buf[s->len++] = (unsigned char)(n >> 8);
	s->buf[s->len++] = (unsigned char)n;
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void
save(const char *harness, const char *name, const unsigned char *p,
    size_t n)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", outdir, harness);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, harness, name);
	if (fz_write_file(path, p, n) == -1) {
		perror(path);
		exit(1);
	}
	printf("%s: %zu bytes\n", path, n);
}

/* Moves what one side sent to the other; returns the byte count. */
static size_t
move(BIO *from, BIO *to, struct seed *rec)
{
	unsigned char buf[65536];
	int n = BIO_read(from, buf, sizeof(buf));

	if (n <= 0)
		return 0;
	if (rec != NULL)
		add_chunk(rec, buf, (size_t)n);
	if (BIO_write(to, buf, n) != n)
		abort();
	return (size_t)n;
}

/* One client step: handshake, send msg, read its echo, close. */
static int
client_step(struct secho_conn *c, const char *msg, size_t *got, int *sent,
    int *closed)
{
	unsigned char buf[4096];
	ssize_t n;

	if (!(c->flags & SECHO_CONN_HS_DONE)) {
		int r = secho_conn_handshake(c);

		if (r != 0 && r != SECHO_WANT_READ)
			return -1;
		if (r != 0)
			return 0;
	}
	if (!*sent) {
		if (secho_conn_write(c, msg, strlen(msg)) !=
		    (ssize_t)strlen(msg))
			return -1;
		*sent = 1;
	}
	while ((n = secho_conn_read(c, buf, sizeof(buf))) > 0)
		*got += (size_t)n;
	if (n != SECHO_WANT_READ)
		return -1;
	if (*got >= strlen(msg) && !*closed) {
		(void)secho_conn_shutdown(c);
		*closed = 1;
	}
	return 0;
}

static void
record(int dgram, int variant, const struct secho_tls_opts *co,
    const char *name, const char *file, struct seed *s)
{
	static const char msg[] = "hello secho fuzz\n";
	struct secho_tls *ct;
	struct secho_conn cc, sc;
	BIO *cin, *cout, *sin, *sout;
	size_t got = 0;
	int sent = 0, closed = 0;
	struct fz_progress rec, rep;
	char *first = NULL;

	memset(s, 0, sizeof(*s));
	s->buf[s->len++] = (unsigned char)variant;
	if ((ct = secho_tls_new(co, SECHO_TLS_CLIENT, dgram)) == NULL) {
		fprintf(stderr, "mkseeds: %s\n", secho_error());
		exit(1);
	}
	fz_tls_reset();
	memset(&fz_progress, 0, sizeof(fz_progress));
	if (fz_conn_mem(ct, &cc, name, &cin, &cout) == -1 ||
	    fz_conn_mem(fz_tls_server(dgram, variant), &sc, NULL, &sin,
	    &sout) == -1)
		abort();
	for (int turn = 0; turn < 64; turn++) {
		size_t before = s->len;

		if (client_step(&cc, msg, &got, &sent, &closed) == -1) {
			fprintf(stderr, "mkseeds: %s: client: %s\n", file,
			    secho_conn_error(&cc));
			exit(1);
		}
		if (move(cout, sin, s) > 0) {
			if (first == NULL)
				s->first = s->len - before - 2;
			first = "";
			if (fz_serve(&sc) == -1)
				break;
		}
		if (move(sout, cin, NULL) == 0 && s->len == before)
			break;
	}
	rec = fz_progress;
	secho_conn_close(&cc);
	secho_conn_close(&sc);
	secho_tls_free(ct);
	if (!rec.hs_done || rec.echoed != strlen(msg) || got != strlen(msg)) {
		fprintf(stderr, "mkseeds: %s: no echo while recording\n", file);
		exit(1);
	}
	rep = fz_run_server(dgram, s->buf, s->len);
	if (rep.hs_done != rec.hs_done || rep.echoed != rec.echoed ||
	    rep.eof != rec.eof) {
		fprintf(stderr, "mkseeds: %s does not replay (hs %d echo %zu "
		    "eof %d)\n", file, rep.hs_done, rep.echoed, rep.eof);
		exit(1);
	}
	save(dgram ? "dtls_conn" : "tls_server", file, s->buf, s->len);
}

/*
 * For the listener: the first hello as it came, then the same hello
 * with a 32-byte cookie (the harness fills in the real one), then the
 * rest of the conversation.
 */
static void
listen_seed(const struct seed *conv, const char *file)
{
	static struct seed out;
	const unsigned char *ch = conv->buf + 3;	/* variant, length */
	unsigned char hello[4096];
	size_t n = conv->first, off = 13 + 12 + 2 + 32;
	size_t rest = 3 + n;

	if (n + 32 > sizeof(hello) || n <= off + 1)
		abort();
	memset(&out, 0, sizeof(out));
	add_chunk(&out, ch, n);
	off += 1 + ch[off];		/* session id */
	if (ch[off] != 0)
		abort();		/* a first hello has no cookie */
	memcpy(hello, ch, off);
	hello[off] = 32;
	memset(hello + off + 1, 0, 32);
	memcpy(hello + off + 33, ch + off + 1, n - off - 1);
	/* Record, handshake and fragment lengths grow by 32. */
	for (size_t at = 11; at <= 11; at++) {
		unsigned v = (unsigned)hello[at] << 8 | hello[at + 1];

		hello[at] = (unsigned char)((v + 32) >> 8);
		hello[at + 1] = (unsigned char)(v + 32);
	}
	for (size_t at = 13 + 1; at <= 13 + 9; at += 8) {
		unsigned long v = (unsigned long)hello[at] << 16 |
		    (unsigned long)hello[at + 1] << 8 | hello[at + 2];

		v += 32;
		hello[at] = (unsigned char)(v >> 16);
		hello[at + 1] = (unsigned char)(v >> 8);
		hello[at + 2] = (unsigned char)v;
	}
	hello[13 + 5] = 1;	/* message_seq of the second hello */
	hello[10] = 1;		/* and its record's sequence number */
	add_chunk(&out, hello, n + 32);
	memcpy(out.buf + out.len, conv->buf + rest, conv->len - rest);
	out.len += conv->len - rest;
	save("dtls_listen", file, out.buf, out.len);
	/* The hello alone, the commonest datagram of all. */
	save("dtls_listen", "client-hello", out.buf, 2 + n);
}

/* fz_path() rotates its buffers; options keep their strings. */
static const char *
keep(const char *name)
{
	char *p = strdup(fz_path(name));

	if (p == NULL)
		abort();
	return p;
}

int
main(int argc, char **argv)
{
	static struct seed s;
	struct secho_tls_opts co;

	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds DIR\n");
		return 1;
	}
	outdir = argv[1];
	mkdir(outdir, 0755);
	fz_tls_init();

	memset(&co, 0, sizeof(co));
	co.ca = keep("ca.pem");
	co.no_resume = 1;
	co.cert = keep("client.pem");
	co.key = keep("server.key");
	co.alpn = "h2,echo";
	record(0, 0, &co, "localhost", "v0-tls13-mtls-alpn", &s);
	record(0, 0, &co, "sni.example", "v0-tls13-sni", &s);
	record(0, 0, &co, "a.wild.example", "v0-tls13-sni-wildcard", &s);
	co.max_version = SECHO_TLS_1_2;
	record(0, 0, &co, "localhost", "v0-tls12-mtls-alpn", &s);
	record(0, 2, &(struct secho_tls_opts){ .ca = co.ca, .no_resume = 1,
	    .cert = co.cert, .key = co.key }, "localhost", "v2-tls13-mtls", &s);
	co.cert = co.key = NULL;
	co.alpn = NULL;
	record(0, 1, &co, "localhost", "v1-tls12", &s);
	co.ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305";
	record(0, 1, &co, "127.0.0.1", "v1-tls12-chacha", &s);

	memset(&co, 0, sizeof(co));
	co.ca = keep("ca.pem");
	co.no_resume = 1;
	co.cert = keep("client.pem");
	co.key = keep("server.key");
	co.alpn = "echo";
	record(1, 0, &co, "localhost", "v0-dtls12-mtls-alpn", &s);
	listen_seed(&s, "hello-cookie-handshake");
	co.alpn = NULL;
	record(1, 1, &co, "localhost", "v1-dtls12-mtu256", &s);
	return 0;
}
