/*
 * secho-client - the echo client program: options in, exit code out.
 * The exit codes are enum secho_exit (see secho-client --help).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "secho/client.h"

/* The documented exit code of each way a run can end. */
static int
exit_code(enum secho_client_status st)
{
	static const int codes[] = {
		[SECHO_CLIENT_OK] = SECHO_EXIT_OK,
		[SECHO_CLIENT_LOSS] = SECHO_EXIT_LOSS,
		[SECHO_CLIENT_SETUP] = SECHO_EXIT_USAGE,
		[SECHO_CLIENT_CONNECT] = SECHO_EXIT_CONNECT,
		[SECHO_CLIENT_TLS] = SECHO_EXIT_TLS,
		[SECHO_CLIENT_VERIFY] = SECHO_EXIT_VERIFY,
		[SECHO_CLIENT_TIMEOUT] = SECHO_EXIT_TIMEOUT,
		[SECHO_CLIENT_MISMATCH] = SECHO_EXIT_MISMATCH,
	};

	return (unsigned)st < sizeof(codes) / sizeof(codes[0]) ? codes[st] :
	    SECHO_EXIT_CONNECT;
}

/*
 * A closed stdin or stdout would let the socket take fd 0 or 1, and the
 * client would then feed the connection its own echoes: use /dev/null.
 */
static int
open_std_fds(void)
{
	for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if (open("/dev/null", fd == STDIN_FILENO ? O_RDONLY :
		    O_WRONLY) != fd)
			return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct secho_client_config cfg;
	struct secho_client_result res;
	int rc;

	if (open_std_fds() == -1)
		return SECHO_EXIT_CONNECT;
	secho_client_config_init(&cfg);
	rc = secho_client_parse_args(&cfg, argc, argv, stdout);
	if (rc == 1)
		return fflush(stdout) == EOF ? SECHO_EXIT_USAGE : SECHO_EXIT_OK;
	if (rc == -1) {
		fprintf(stderr, "secho-client: %s\n"
		    "try 'secho-client --help'\n", secho_error());
		return SECHO_EXIT_USAGE;
	}
	/* A vanished server or stdout reader is an error to report. */
	signal(SIGPIPE, SIG_IGN);
	if (secho_client_run(&cfg, &res) == -1)
		fprintf(stderr, "secho-client: %s\n", secho_error());
	return exit_code(res.status);
}
