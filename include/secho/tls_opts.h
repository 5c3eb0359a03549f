/*
 * tls_opts.h - the TLS options that secho-server, secho-client and
 * secho-bench share: one table of names, arguments, help text and what
 * each one sets, so that the three command lines cannot drift apart.
 */
#ifndef SECHO_TLS_OPTS_H
#define SECHO_TLS_OPTS_H

#include <getopt.h>
#include <stdio.h>

#include "secho/tls.h"

/* The programs an option belongs to (a bitmask in the table). */
enum secho_prog {
	SECHO_PROG_SERVER = 1 << 0,
	SECHO_PROG_CLIENT = 1 << 1,
	SECHO_PROG_BENCH = 1 << 2,
};

/*
 * getopt_long values of the shared options start here; a program's own
 * values stay below it.
 */
#define SECHO_TLS_OPT_BASE 4096

/* Room for one program's whole struct option array, terminator included. */
#define SECHO_OPT_TABLE_MAX 80

/* What the shared options of one command line set. */
struct secho_tls_cmdline {
	enum secho_prog prog;
	struct secho_tls_opts *tls;	/* most options land here */
	const char *servername;		/* client, bench: --servername */
	long resume;			/* --resume: 0 not given, else N */
	const char *first;		/* the first option given, without
					 * "--" (for "--ca needs --tls") */
};

/* An empty command line of prog whose options land in tls. */
void secho_tls_cmdline_init(struct secho_tls_cmdline *cl,
    enum secho_prog prog, struct secho_tls_opts *tls);

/*
 * Copies own (ended by a NULL name) and then the shared options of prog
 * into out, which has room for n entries, and ends it.  Returns 0, or -1
 * when out is too small.
 */
int secho_tls_opt_longopts(enum secho_prog prog, const struct option *own,
    struct option *out, size_t n);

/*
 * Handles the option getopt_long returned as c, with optarg; --resume may
 * take the next word of argv as its N (advancing optind).  Returns 0, -1
 * with a message naming the option, or 1 when c is not a shared option
 * of cl->prog.
 */
int secho_tls_opt_parse(struct secho_tls_cmdline *cl, int c, int argc,
    char **argv);

/* Writes the --help lines of prog's shared options.  Returns 0 or -1. */
int secho_tls_opt_usage(enum secho_prog prog, FILE *out);

/*
 * A program's whole --help: before, its shared TLS options, after.
 * Returns 1 (what parse_args returns for --help), or -1.
 */
int secho_tls_opt_help(enum secho_prog prog, FILE *out, const char *before,
    const char *after);

/* --keylog's default: $SSLKEYLOGFILE when set and not empty. */
void secho_tls_opt_keylog_env(struct secho_tls_opts *t);

#endif
