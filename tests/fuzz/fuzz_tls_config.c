/*
 * fuzz_tls_config.c - what secho_tls_new() parses from the command line:
 * the ALPN list (into wire format), cipher, suite and group lists, the
 * --pin-sha256 base64, the ticket key file, SNI names and allow-lists,
 * and the version bounds, for either role over TLS or DTLS.  A server
 * context that builds is also renewed, as on SIGHUP (ticket keys roll
 * over).
 *
 * Input: chunks (fuzz.h).  Chunk 0 holds flags (role, transport,
 * versions, options); then ALPN, ciphers, ciphersuites, groups, pin,
 * ticket key file bytes, an SNI name, and allow-list entries.  A missing
 * chunk leaves its option unset.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_tls.h"

static const int versions[] = { 0, SECHO_TLS_1_2, SECHO_TLS_1_3, 11 };

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_tls_init();
	return 0;
}

static void
set_flags(struct secho_tls_opts *o, const uint8_t *f, size_t n, int *server,
    int *dgram)
{
	uint8_t a = n > 0 ? f[0] : 0, b = n > 1 ? f[1] : 0;

	*server = a & 1;
	*dgram = a >> 1 & 1;
	o->min_version = versions[a >> 2 & 3];
	o->max_version = versions[a >> 4 & 3];
	o->no_tickets = a >> 6 & 1;
	o->insecure = a >> 7 & 1;
	o->verify_client = b % 3;
	o->no_resume = b >> 2 & 1;
	o->mtu = b >> 3 & 1 ? 256 + (int)(n > 2 ? f[2] : 0) * 4 : 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct secho_tls_opts o;
	struct secho_tls *t, *t2;
	struct fz_chunks ch;
	char *s[8 + 2 * SECHO_TLS_ALLOW_MAX];
	const uint8_t *f = NULL, *tk = NULL;
	size_t nf = 0, ntk = 0, ns = 0;
	int server, dgram;

	memset(&o, 0, sizeof(o));
	fz_chunks_init(&ch, data, size);
	(void)fz_chunk_next(&ch, &f, &nf);
	set_flags(&o, f, nf, &server, &dgram);
	o.cert = server ? fz_path("server.pem") : NULL;
	o.key = fz_path("server.key");
	o.ca = fz_path("ca.pem");
	for (int i = 0; i < 5; i++)
		s[ns++] = fz_chunk_str(&ch);
	o.alpn = s[0];
	o.ciphers = s[1];
	o.ciphersuites = s[2];
	o.groups = s[3];
	o.pin_sha256 = s[4];
	if (fz_chunk_next(&ch, &tk, &ntk) && server && !o.no_tickets) {
		if (fz_write_file(fz_path("fuzz-tickets.key"), tk, ntk) == 0)
			o.ticket_key_file = fz_path("fuzz-tickets.key");
	}
	if ((s[ns++] = fz_chunk_str(&ch)) != NULL && server) {
		o.sni[0].name = s[ns - 1];
		o.sni[0].cert = fz_path("sni.pem");
		o.sni[0].key = fz_path("server.key");
		o.nsni = 1;
	}
	while (ns < sizeof(s) / sizeof(*s) && o.nallow_cn < SECHO_TLS_ALLOW_MAX &&
	    o.nallow_san < SECHO_TLS_ALLOW_MAX &&
	    (s[ns] = fz_chunk_str(&ch)) != NULL) {
		if (ns % 2 == 0)
			o.allow_cn[o.nallow_cn++] = s[ns];
		else
			o.allow_san[o.nallow_san++] = s[ns];
		ns++;
	}
	t = secho_tls_new(&o, server ? SECHO_TLS_SERVER : SECHO_TLS_CLIENT,
	    dgram);
	if (t != NULL && server) {
		/* SIGHUP: the same options read again, tickets carried. */
		if ((t2 = secho_tls_renew(t)) != NULL)
			secho_tls_free(t2);
	}
	secho_tls_free(t);
	for (size_t i = 0; i < ns; i++)
		free(s[i]);
	return 0;
}
