/*
 * secho-bench - the load generator program: options in, the verdict on
 * the run (its error lines and exit code, see secho-bench --help) out.
 */
#include <signal.h>
#include <stdio.h>

#include "secho/bench.h"

#define PROG "secho-bench"

/* The exit code a run deserves: > 1 % failed operations fail it. */
static int
verdict(const struct secho_bench_outcome *o)
{
	if (o->mismatches > 0)
		return SECHO_BENCH_EXIT_MISMATCH;
	if (o->ops == 0 || o->errors * 100 > o->ops + o->errors)
		return SECHO_BENCH_EXIT_IO;
	return o->gave_up ? SECHO_BENCH_EXIT_IO : SECHO_BENCH_EXIT_OK;
}

/* What went wrong in a run that still reported; returns the exit code. */
static int
judge(const struct secho_bench_config *cfg,
    const struct secho_bench_outcome *o)
{
	int rc = verdict(o);

	if (o->errors > 0 || o->gave_up)
		fprintf(stderr, "%s: %llu error%s; the last: %s\n", PROG,
		    (unsigned long long)o->errors, o->errors == 1 ? "" : "s",
		    o->last_error);
	if (o->mismatches > 0)
		fprintf(stderr, "%s: %llu echo%s differed from what was sent\n",
		    PROG, (unsigned long long)o->mismatches,
		    o->mismatches == 1 ? "" : "es");
	if (o->late > 0 && !cfg->quiet)
		fprintf(stderr, "%s: %llu datagrams came back after --timeout "
		    "(counted lost)\n", PROG, (unsigned long long)o->late);
	if (o->ops == 0 && rc == SECHO_BENCH_EXIT_IO)
		fprintf(stderr, "%s: nothing was echoed\n", PROG);
	return rc;
}

int
main(int argc, char **argv)
{
	struct secho_bench_config cfg;
	struct secho_bench_outcome out;
	int rc;

	secho_bench_config_init(&cfg);
	rc = secho_bench_parse_args(&cfg, argc, argv, stdout);
	if (rc == 1)
		return fflush(stdout) == EOF ? SECHO_BENCH_EXIT_USAGE :
		    SECHO_BENCH_EXIT_OK;
	if (rc == -1) {
		fprintf(stderr, "%s: %s\ntry '%s --help'\n", PROG,
		    secho_error(), PROG);
		return SECHO_BENCH_EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);	/* TLS writes to a closed peer */
	if (secho_bench_run(&cfg, &out) == -1) {
		fprintf(stderr, "%s: %s\n", PROG, secho_error());
		return out.failure == SECHO_BENCH_FAIL_SETUP ?
		    SECHO_BENCH_EXIT_USAGE : SECHO_BENCH_EXIT_IO;
	}
	return judge(&cfg, &out);
}
