/*
 * fuzz_dtls_conn.c - the DTLS server's record and handshake path, as an
 * accepted connection sees it once the listener let its client through:
 * a server context's connection over memory BIOs, one chunk of the input
 * per datagram, driven through secho's transport ops.
 *
 * Input: a variant byte (fuzz_tls.c: optional mTLS with ALPN, or required
 * mTLS at a 256-byte MTU that fragments every flight), then chunks
 * (fuzz.h), one datagram each.  Seeds: recorded conversations.
 */
#include "fuzz_tls.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_tls_init();
	for (int v = 0; v < FZ_DTLS_VARIANTS; v++)
		(void)fz_tls_server(1, v);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)fz_run_server(1, data, size);
	return 0;
}
