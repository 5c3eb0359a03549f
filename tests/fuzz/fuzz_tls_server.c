/*
 * fuzz_tls_server.c - the TLS server's record and handshake path under
 * hostile client bytes: a connection from a real secho server context,
 * driven through secho's transport ops as the event loop drives it
 * (handshake, read, echo, shutdown), over memory BIOs.
 *
 * Input: a variant byte (fuzz_tls.c: SNI/ALPN/tickets/optional mTLS,
 * TLS 1.2 only, TLS 1.3 with required mTLS), then chunks of client
 * bytes (fuzz.h).  The seeds in corpus/tls_server are whole recorded
 * conversations (tests/fuzz/mkseeds.c) that reach the echo.
 */
#include "fuzz_tls.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_tls_init();
	for (int v = 0; v < FZ_TLS_VARIANTS; v++)
		(void)fz_tls_server(0, v);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)fz_run_server(0, data, size);
	return 0;
}
