/*
 * fuzz_client_args.c - secho-client's whole command line (argv words
 * separated by NUL bytes).  The parser checks for certs/ in the working
 * directory but reads no file, keeps pointers into argv and allocates
 * nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "secho/client.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	unsetenv("SSLKEYLOGFILE");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct secho_client_config cfg;
	struct fz_argv a;

	if (fz_argv_split(&a, "secho-client", data, size) == -1)
		return 0;
	secho_client_config_init(&cfg);
	if (secho_client_parse_args(&cfg, a.argc, a.argv, fz_devnull()) == 0) {
		if (cfg.host == NULL || *cfg.host == '\0' || cfg.port < 1 ||
		    cfg.port > 65535 || (unsigned)cfg.proto >=
		    SECHO_PROTO_COUNT || cfg.size < 1)
			abort();
		/* client.c copies HOST (brackets stripped) into a buffer. */
		if (strlen(cfg.host) >= SECHO_HOST_MAX)
			abort();
		if (cfg.tls.pin_sha256 != NULL &&
		    strlen(cfg.tls.pin_sha256) != 44)
			abort();
	}
	fz_argv_free(&a);
	return 0;
}
