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

/* The signal that interrupted the run, for its exit code. */
static volatile sig_atomic_t stop_signal;

static void
on_stop(int sig)
{
	stop_signal = sig;
	secho_client_interrupt();
}

/*
 * SIGINT/SIGTERM stop the client like ping(8): a clean close and what was
 * echoed.  Blocked but inside the client's polls (see client.h), with no
 * SA_RESTART.
 */
static void
catch_stop_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop };
	sigset_t set;

	sigemptyset(&sa.sa_mask);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

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

	if (st == SECHO_CLIENT_INTERRUPTED)
		return SECHO_EXIT_SIGNAL + (stop_signal != 0 ? stop_signal :
		    SIGINT);
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
	int rc, code;

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
	catch_stop_signals();
	rc = secho_client_run(&cfg, &res);
	code = exit_code(res.status);
	/* --json too: a person watching sees the failure on stderr. */
	if (rc == -1)
		fprintf(stderr, "secho-client: %s\n", secho_error());
	if (cfg.json && secho_client_report_write(&cfg, &res, code,
	    rc == -1 ? secho_error() : NULL, stdout) == -1) {
		fprintf(stderr, "secho-client: %s\n", secho_error());
		if (code == SECHO_EXIT_OK)
			code = SECHO_EXIT_CONNECT;
	}
	secho_client_result_free(&res);
	return code;
}
