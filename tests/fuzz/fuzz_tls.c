/*
 * fuzz_tls.c - deterministic certificates, server contexts and memory-BIO
 * connections for the TLS harnesses (see fuzz_tls.h).
 */
/* RAND_set_rand_method() is the one hook that reaches every generator
 * of OpenSSL 3.0, the providers' key generation included. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/rand.h>

#include "fuzz_tls.h"

static int
fixed_bytes(unsigned char *buf, int num)
{
	/* Starts with 0x01: below every group order, so a key is found at
	 * the first try even though every try gets the same bytes. */
	for (int i = 0; i < num; i++)
		buf[i] = (unsigned char)(i * 7 + 1);
	return 1;
}

static int
fixed_status(void)
{
	return 1;
}

static const RAND_METHOD fixed_rand = {
	.bytes = fixed_bytes,
	.pseudorand = fixed_bytes,
	.status = fixed_status,
};

static EVP_PKEY *key;
static X509 *ca;
static int inited;

static void
die(const char *what)
{
	fprintf(stderr, "fuzz: %s failed\n", what);
	ERR_print_errors_fp(stderr);
	abort();
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL ||
	    !X509_add_ext(x, e, -1))
		die(value);
	X509_EXTENSION_free(e);
}

/* Fixed serial and dates: the same DER in every run, valid until 2099. */
static X509 *
mkcert(const char *cn, const char *san, X509 *issuer, long serial)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	if (x == NULL || n == NULL ||
	    !X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), serial) ||
	    !ASN1_TIME_set_string(X509_getm_notBefore(x), "20200101000000Z") ||
	    !ASN1_TIME_set_string(X509_getm_notAfter(x), "20991231235959Z") ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_subject_name(x, n) ||
	    !X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer) : n) ||
	    !X509_set_pubkey(x, key))
		die("certificate");
	X509_NAME_free(n);
	if (issuer == NULL) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, issuer, NID_subject_alt_name, san);
	}
	if (!X509_sign(x, key, EVP_sha256()))
		die("X509_sign");
	return x;
}

static void
write_cert(const char *name, X509 *x)
{
	FILE *f = fopen(fz_path(name), "w");

	if (f == NULL || !PEM_write_X509(f, x) || fclose(f) != 0)
		die(name);
}

void
fz_tls_init(void)
{
	unsigned char tkeys[80];
	X509 *x;
	FILE *f;

	if (inited++)
		return;
	if (!RAND_set_rand_method(&fixed_rand))
		die("RAND_set_rand_method");
	/* One key for all: with this random source they would be equal. */
	if ((key = EVP_EC_gen("P-256")) == NULL)
		die("EVP_EC_gen");
	ca = mkcert("secho fuzz CA", NULL, NULL, 1);
	write_cert("ca.pem", ca);
	x = mkcert("localhost", "DNS:localhost,IP:127.0.0.1", ca, 2);
	write_cert("server.pem", x);
	X509_free(x);
	x = mkcert("sni.example", "DNS:sni.example,DNS:*.wild.example", ca, 3);
	write_cert("sni.pem", x);
	X509_free(x);
	x = mkcert("client", "DNS:client.example,email:c@client.example", ca,
	    4);
	write_cert("client.pem", x);
	X509_free(x);
	if ((f = fopen(fz_path("server.key"), "w")) == NULL ||
	    !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) ||
	    fclose(f) != 0)
		die("server.key");
	fixed_bytes(tkeys, sizeof(tkeys));
	if (fz_write_file(fz_path("tickets.key"), tkeys, sizeof(tkeys)) == -1)
		die("tickets.key");
}

/* fz_path() rotates its buffers; options keep their strings for good. */
static const char *
keep(const char *name)
{
	char *s = strdup(fz_path(name));

	if (s == NULL)
		die("strdup");
	return s;
}

/*
 * The variants, chosen by an input's first byte.  Between them they turn
 * on every server feature with a parser or callback in secho: SNI
 * certificates (exact and wildcard), ALPN, shared ticket keys, optional
 * and required client certificates with CN/SAN allow-lists, TLS 1.2
 * only, TLS 1.3 only, and for DTLS a small MTU that fragments.
 */
static void
server_opts(struct secho_tls_opts *o, int dgram, int variant)
{
	memset(o, 0, sizeof(*o));
	o->cert = keep("server.pem");
	o->key = keep("server.key");
	o->ca = keep("ca.pem");
	if (dgram) {
		o->alpn = "echo";
		o->verify_client = variant == 0 ? 1 : 2;
		o->mtu = variant == 0 ? 0 : 256;
		o->allow_cn[o->nallow_cn++] = "client";
		return;
	}
	switch (variant) {
	case 0:
		o->alpn = "echo,h2";
		o->ticket_key_file = keep("tickets.key");
		o->sni[0].name = "sni.example";
		o->sni[1].name = "*.wild.example";
		for (int i = 0; i < 2; i++) {
			o->sni[i].cert = keep("sni.pem");
			o->sni[i].key = keep("server.key");
		}
		o->nsni = 2;
		o->verify_client = 1;
		o->allow_cn[o->nallow_cn++] = "client";
		o->allow_san[o->nallow_san++] = "client.example";
		o->allow_san[o->nallow_san++] = "127.0.0.1";
		break;
	case 1:
		o->max_version = SECHO_TLS_1_2;
		o->no_tickets = 1;
		break;
	default:
		o->min_version = SECHO_TLS_1_3;
		o->verify_client = 2;
		o->allow_cn[o->nallow_cn++] = "nobody";
		o->allow_san[o->nallow_san++] = "c@client.example";
		break;
	}
}

static struct secho_tls_opts sopts[2][FZ_TLS_VARIANTS];
static struct secho_tls *servers[2][FZ_TLS_VARIANTS];
struct fz_progress fz_progress;

struct secho_tls *
fz_tls_server(int dgram, int variant)
{
	int n = dgram ? FZ_DTLS_VARIANTS : FZ_TLS_VARIANTS;

	dgram = dgram != 0;
	variant %= n;
	if (servers[dgram][variant] != NULL)
		return servers[dgram][variant];
	fz_tls_init();
	server_opts(&sopts[dgram][variant], dgram, variant);
	servers[dgram][variant] = secho_tls_new(&sopts[dgram][variant],
	    SECHO_TLS_SERVER, dgram);
	if (servers[dgram][variant] == NULL) {
		fprintf(stderr, "fuzz: server context: %s\n", secho_error());
		abort();
	}
	return servers[dgram][variant];
}

void
fz_tls_reset(void)
{
	for (int d = 0; d < 2; d++)
		for (int v = 0; v < FZ_TLS_VARIANTS; v++)
			if (servers[d][v] != NULL)
				SSL_CTX_flush_sessions(servers[d][v]->ctx,
				    0x7fffffffL);
}

int
fz_conn_mem(struct secho_tls *t, struct secho_conn *c, const char *name,
    BIO **in, BIO **out)
{
	/* fd -1: the socket BIO made here is replaced before any use. */
	if (secho_tls_conn_init(t, c, -1, name) == -1)
		return -1;
	c->fd = -1;
	*in = BIO_new(BIO_s_mem());
	*out = BIO_new(BIO_s_mem());
	if (*in == NULL || *out == NULL) {
		BIO_free(*in);
		BIO_free(*out);
		secho_conn_close(c);
		return -1;
	}
	/* An empty memory BIO says "retry", as a drained socket would. */
	BIO_set_mem_eof_return(*in, -1);
	SSL_set_bio(c->tls, *in, *out);
	return 0;
}

void
fz_conn_inspect(struct secho_conn *c)
{
	struct secho_tls_info info;
	char buf[512];

	(void)secho_conn_describe(c, buf, sizeof(buf));
	(void)secho_conn_pending(c);
	(void)secho_conn_next_timeout(c);
	(void)secho_tls_conn_resumed(c);
	if (secho_tls_conn_info(c, &info) == -1)
		abort();	/* it is a TLS connection */
}

/* Writes all of buf as the server's echo would, retrying short writes. */
static int
echo_back(struct secho_conn *c, const unsigned char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = secho_conn_write(c, buf + off, len - off);

		if (n <= 0)
			return -1;	/* memory BIOs never ask to wait */
		off += (size_t)n;
	}
	return 0;
}

int
fz_serve(struct secho_conn *c)
{
	static unsigned char buf[16384 + 256];
	char desc[256];
	ssize_t n;

	for (int turn = 0; turn < 256; turn++) {
		if (!(c->flags & SECHO_CONN_HS_DONE)) {
			int r = secho_conn_handshake(c);

			(void)secho_conn_describe(c, desc, sizeof(desc));
			if (r == SECHO_WANT_READ || r == SECHO_WANT_WRITE)
				return 0;
			if (r != 0)
				return -1;
			fz_conn_inspect(c);
			fz_progress.hs_done = 1;
			continue;
		}
		n = secho_conn_read(c, buf, sizeof(buf));
		if (n == SECHO_WANT_READ || n == SECHO_WANT_WRITE)
			return 0;
		if (n == SECHO_IO_EOF) {
			fz_progress.eof = 1;
			(void)secho_conn_shutdown(c);
			return -1;
		}
		if (n < 0 || echo_back(c, buf, (size_t)n) == -1)
			return -1;
		fz_progress.echoed += (size_t)n;
	}
	return 0;	/* a peer that keeps us busy; the loop moves on too */
}

struct fz_progress
fz_run_server(int dgram, const uint8_t *data, size_t size)
{
	struct secho_conn c;
	struct fz_chunks ch;
	const uint8_t *p;
	BIO *in, *out;
	size_t n;

	memset(&fz_progress, 0, sizeof(fz_progress));
	if (size < 1)
		return fz_progress;
	fz_tls_reset();
	if (fz_conn_mem(fz_tls_server(dgram, data[0]), &c, NULL, &in,
	    &out) == -1)
		return fz_progress;
	fz_chunks_init(&ch, data + 1, size - 1);
	while (fz_chunk_next(&ch, &p, &n)) {
		int alive;

		if (n > 0 && BIO_write(in, p, (int)n) != (int)n)
			break;
		alive = fz_serve(&c) == 0;
		/* The event loop's timer: a no-op unless one expired. */
		if (alive && dgram)
			alive = secho_conn_handle_timeout(&c) == 0;
		(void)BIO_reset(out);	/* what the server sent, unread */
		if (!alive)
			break;
	}
	secho_conn_close(&c);
	return fz_progress;
}
