/*
 * fuzz_tls_rec.c - secho's own TLS 1.3 record layer (src/core/tls_rec.c,
 * included here for its statics) as the server runs it after the
 * hand-over, over a socketpair: the fuzzer plays the client, sending raw
 * bytes or records it has sealed with the client's key, so that what the
 * record layer does after opening a record (content types, padding,
 * alerts, KeyUpdate whole or in pieces, zero-length records) is reached,
 * not only what a wrong tag stops.
 *
 * Input: a suite byte (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305), then
 * chunks (fuzz.h), each an operation by its first byte:
 *   0  the rest as raw bytes on the wire
 *   1  a record sealed with the client's key: type, padding, content
 *   2  the client's key moves on (as after a KeyUpdate it sent)
 *   3  the server echoes what it has read so far (rec_write)
 *   4  the server closes (rec_shutdown)
 * After each one the server reads until it would block, fails or ends.
 */
#include <sys/socket.h>

#include "fuzz.h"
#include "core/tls_rec.c"

/* A record layer whose secrets are fixed: rd = client's, wr = server's. */
static struct secho_rec *
fixed_rec(int suite, int client)
{
	struct secho_rec *r = calloc(1, sizeof(*r));
	struct rec_dir *from_client, *from_server;

	if (r == NULL)
		abort();
	r->cipher = suite == 0 ? aes128gcm : suite == 1 ? aes256gcm : chacha;
	r->keylen = suite == 0 ? 16 : 32;
	r->md = suite == 1 ? sha384 : sha256;
	r->hashlen = (size_t)EVP_MD_get_size(r->md);
	from_client = client ? &r->wr : &r->rd;
	from_server = client ? &r->rd : &r->wr;
	memset(from_client->secret, 0xc1, r->hashlen);
	memset(from_server->secret, 0x5e, r->hashlen);
	if (key_dir(r, &r->rd, 0) == -1 || key_dir(r, &r->wr, 1) == -1)
		abort();
	snprintf(r->desc, sizeof(r->desc), "fuzz");
	r->state = RS_ACTIVE;
	return r;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	pthread_once(&fetch_once, fetch_all);
	if (aes128gcm == NULL || aes256gcm == NULL || chacha == NULL ||
	    sha256 == NULL || sha384 == NULL)
		abort();
	return 0;
}

/* Lets the server read until it would block; 0 once it is done for. */
static int
serve(struct secho_conn *c, unsigned char *echo, size_t *have)
{
	for (;;) {
		ssize_t n = rec_read(c, echo + *have, 65536 - *have);

		if (n > 0) {
			*have += (size_t)n;
			if (*have == 65536)
				*have = 0;
			(void)rec_pending(c);
			continue;
		}
		return n == SECHO_WANT_READ;
	}
}

/* Whatever the server sent goes nowhere. */
static void
drain(int fd)
{
	unsigned char sink[4096];

	while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
}

/* One client record: type, padding, content (op 1). */
static void
send_sealed_record(struct secho_rec *cl, int fd, const uint8_t *p,
    size_t len)
{
	static unsigned char in[REC_PLAIN_MAX + 300], out[REC_MAX + 64];
	size_t pad, n;

	if (len < 2)
		return;
	pad = p[1] % 64;
	n = len - 2 > REC_PLAIN_MAX ? REC_PLAIN_MAX : len - 2;
	memcpy(in, p + 2, n);
	/* seal() ends the plaintext with its type byte: with padding, the
	 * type goes in first and the last zero is seal()'s. */
	if (pad > 0) {
		in[n++] = p[0];
		memset(in + n, 0, pad - 1);
		n += pad - 1;
	}
	if ((n = seal(&cl->wr, out, pad > 0 ? 0 : p[0], in, n)) > 0)
		(void)!send(fd, out, n, MSG_DONTWAIT);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char echo[65536];
	struct fz_chunks ch;
	struct secho_conn c;
	struct secho_rec *cl;
	const uint8_t *p;
	size_t len, have = 0;
	int sv[2], big = 1 << 20, alive = 1;

	if (size < 1 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv) == -1)
		return 0;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	memset(&c, 0, sizeof(c));
	c.fd = sv[0];
	c.flags = SECHO_CONN_SERVER | SECHO_CONN_HS_DONE;
	c.ops = &secho_tls_rec_ops;
	c.rec = fixed_rec(data[0] % 3, 0);
	cl = fixed_rec(data[0] % 3, 1);
	fz_chunks_init(&ch, data + 1, size - 1);
	while (alive && fz_chunk_next(&ch, &p, &len)) {
		if (len == 0)
			continue;
		switch (p[0] % 5) {
		case 0: (void)!send(sv[1], p + 1, len - 1, MSG_DONTWAIT); break;
		case 1: send_sealed_record(cl, sv[1], p + 1, len - 1); break;
		case 2: (void)update_dir(cl, &cl->wr, 1); break;
		case 3:
			alive = rec_write(&c, echo, have) >= 0 ||
			    !(((struct secho_rec *)c.rec)->state & RS_FAILED);
			have = 0;
			break;
		case 4: alive = rec_shutdown(&c) != SECHO_IO_ERR; break;
		}
		alive = alive && serve(&c, echo, &have);
		drain(sv[1]);
	}
	rec_close(&c);
	close(sv[1]);
	secho_rec_free(cl);
	return 0;
}
