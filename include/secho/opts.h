/*
 * opts.h - parsing of option values shared by secho-server and
 * secho-client.  Each returns 0, or -1 with a message naming the option.
 */
#ifndef SECHO_OPTS_H
#define SECHO_OPTS_H

#include "secho/secho.h"

/* A week: longer timeouts are typos, and fit an int of milliseconds. */
#define SECHO_OPT_SECS_MAX 604800

/* A whole number in [min, max]. */
int secho_opt_long(const char *opt, const char *s, long min, long max,
    long *out);

/* Seconds, fractions allowed, into milliseconds (> 0 unless allow_zero). */
int secho_opt_secs(const char *opt, const char *s, int allow_zero, int *ms);

/* "1.2" or "1.3" into enum secho_tls_version. */
int secho_opt_tls_version(const char *opt, const char *s, int *v);

#endif
