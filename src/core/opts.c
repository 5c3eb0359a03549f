/*
 * opts.c - number parsing shared by both programs' command lines, so a
 * bad value reads the same wherever it is given.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include <string.h>

#include "secho/opts.h"
#include "secho/tls.h"

int
secho_opt_long(const char *opt, const char *s, long min, long max,
    long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
		if (max == LONG_MAX)
			secho_error_set("%s: '%s' is not a whole number >= %ld",
			    opt, s, min);
		else
			secho_error_set("%s: '%s' is not a number from %ld to "
			    "%ld", opt, s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int
secho_opt_secs(const char *opt, const char *s, int allow_zero, int *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v) ||
	    v < 0 || (v == 0 && !allow_zero) || v > SECHO_OPT_SECS_MAX) {
		if (allow_zero)
			secho_error_set("%s: '%s' is not a number of seconds "
			    "from 0 to %d", opt, s, SECHO_OPT_SECS_MAX);
		else
			secho_error_set("%s: '%s' is not a positive number of "
			    "seconds", opt, s);
		return -1;
	}
	*ms = (int)(v * 1000 + 0.5);
	if (*ms == 0 && v > 0)	/* a tiny positive value still counts */
		*ms = 1;
	return 0;
}

int
secho_opt_tls_version(const char *opt, const char *s, int *v)
{
	if (strcmp(s, "1.2") == 0)
		*v = SECHO_TLS_1_2;
	else if (strcmp(s, "1.3") == 0)
		*v = SECHO_TLS_1_3;
	else {
		secho_error_set("%s: '%s' is not a TLS version (1.2 or 1.3)",
		    opt, s);
		return -1;
	}
	return 0;
}
