/*
 * fuzz_server_args.c - secho-server's whole command line.  The input is
 * argv after the program name, words separated by NUL bytes.  The parser
 * only records paths (files are read later, by secho_tls_new), keeps
 * pointers into argv and allocates nothing, so there is nothing to free.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "secho/server.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* The environment would add a keylog. */
	unsetenv("SSLKEYLOGFILE");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct secho_server_config cfg;
	struct fz_argv a;

	if (fz_argv_split(&a, "secho-server", data, size) == -1)
		return 0;
	secho_server_config_init(&cfg);
	if (secho_server_parse_args(&cfg, a.argc, a.argv, fz_devnull()) == 0) {
		/* finish() promises a port for every listener. */
		if (cfg.nlisten == 0 || cfg.nlisten > SECHO_MAX_LISTENERS ||
		    cfg.tls.nsni > SECHO_TLS_SNI_MAX ||
		    cfg.tls.nallow_cn > SECHO_TLS_ALLOW_MAX ||
		    cfg.tls.nallow_san > SECHO_TLS_ALLOW_MAX)
			abort();
		for (size_t i = 0; i < cfg.nlisten; i++)
			if (cfg.listen[i].port < 0 ||
			    cfg.listen[i].port > 65535)
				abort();
		for (size_t i = 0; i < cfg.tls.nsni; i++)
			if (strchr(cfg.tls.sni[i].name, ':') != NULL ||
			    *cfg.tls.sni[i].cert == '\0' ||
			    *cfg.tls.sni[i].key == '\0')
				abort();
	}
	fz_argv_free(&a);
	return 0;
}
