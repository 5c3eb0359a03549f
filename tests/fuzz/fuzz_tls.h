/*
 * fuzz_tls.h - the TLS world of the TLS and DTLS harnesses (and of
 * mkseeds, which records their seed inputs): a deterministic random
 * source, throwaway certificates made at start-up, a few real server
 * contexts built with secho_tls_new(), and connections over memory BIOs
 * driven through secho's own transport ops.
 *
 * Randomness is a fixed pattern, the same for every caller in any order.
 * So a server answers a given ClientHello with the same bytes in every
 * run, and a recorded client conversation (keys, Finished, application
 * records) replays all the way into the echo path.  Never use this
 * outside a fuzzer: every key and nonce is the same.
 */
#ifndef SECHO_FUZZ_TLS_H
#define SECHO_FUZZ_TLS_H

#include "fuzz.h"
#include "core/tls_int.h"

/* Server variants: see the table in fuzz_tls.c. */
#define FZ_TLS_VARIANTS 3
#define FZ_DTLS_VARIANTS 2

/* Installs the random source and writes the files; idempotent. */
void fz_tls_init(void);

/* The server context of a variant, built on first use. */
struct secho_tls *fz_tls_server(int dgram, int variant);

/*
 * Forgets sessions the server contexts cached, so that one input cannot
 * change how the next is handled (all session ids are equal here).
 */
void fz_tls_reset(void);

/*
 * Sets c up like secho_tls_conn_init() (server or client by t's role),
 * then swaps the socket BIO for two memory BIOs owned by the SSL: *in
 * for bytes from the peer, *out for what it sends.  c->fd is -1, so
 * secho_conn_close() closes nothing.  Returns 0 or -1.
 */
int fz_conn_mem(struct secho_tls *t, struct secho_conn *c, const char *name,
    BIO **in, BIO **out);

/*
 * Does what the server's event loop does with a readable connection:
 * handshake until done, then read and echo back until the transport
 * wants more input.  Returns 0 while the connection lives, -1 once it
 * failed or the peer closed (it is shut down then).
 */
int fz_serve(struct secho_conn *c);

/* What fz_serve() saw of the current connection (mkseeds checks it). */
struct fz_progress {
	int hs_done;		/* the handshake finished */
	size_t echoed;		/* plaintext bytes read and written back */
	int eof;		/* the peer closed */
};
extern struct fz_progress fz_progress;

/*
 * One harness input against a server: the first byte picks the variant,
 * the rest are chunks (fuzz.h), each written into the connection's input
 * BIO as one datagram or one burst of stream bytes, then served.
 * Returns what fz_serve() saw.
 */
struct fz_progress fz_run_server(int dgram, const uint8_t *data,
    size_t size);

/* Asks every getter that logs and -v use about an established c. */
void fz_conn_inspect(struct secho_conn *c);

#endif
