/*
 * secho-server - the echo server program: options in, exit code out.
 * Exit codes: 0 clean shutdown, 1 usage error, 2 setup failure.
 */
#include <signal.h>
#include <stdio.h>

#include "secho/server.h"

int
main(int argc, char **argv)
{
	struct secho_server_config cfg;
	int rc;

	/* A peer vanishing mid-write is an error to log, not a kill. */
	signal(SIGPIPE, SIG_IGN);
	secho_server_config_init(&cfg);
	rc = secho_server_parse_args(&cfg, argc, argv, stdout);
	if (rc == 1)
		return 0;
	if (rc == -1) {
		fprintf(stderr, "secho-server: %s\n"
		    "try 'secho-server --help'\n", secho_error());
		return 1;
	}
	if (secho_server_run(&cfg) == -1) {
		fprintf(stderr, "secho-server: %s\n", secho_error());
		return 2;
	}
	return 0;
}
