/*
 * fuzz_opts.c - the option value parsers of opts.h with the ranges the
 * programs really use.  The first byte picks the parser and range; the
 * rest is the value.  A value that parses must land inside its range.
 */
#include <limits.h>
#include <stdlib.h>

#include "fuzz.h"
#include "secho/opts.h"
#include "secho/tls.h"

static const struct {
	long min, max;
} ranges[] = {
	{ 1, INT_MAX },			/* --max-conns */
	{ 1024, 1 << 24 },		/* --buffer-size */
	{ 256, 65535 },			/* --mtu */
	{ 1, 64 },			/* --workers */
	{ 1, LONG_MAX },		/* -c, --resume */
	{ LONG_MIN, LONG_MAX },		/* the edges of strtol */
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned sel;
	char *s;
	long v;
	int ms, ver;

	if (size < 1)
		return 0;
	sel = data[0];
	if ((s = fz_strndup(data + 1, size - 1)) == NULL)
		return 0;
	switch (sel % 4) {
	case 0: {
		unsigned r = (sel / 4) % (sizeof(ranges) / sizeof(*ranges));

		if (secho_opt_long("--n", s, ranges[r].min, ranges[r].max,
		    &v) == 0 && (v < ranges[r].min || v > ranges[r].max))
			abort();
		break;
	}
	case 1:
	case 2:
		ms = -1;
		if (secho_opt_secs("--t", s, sel % 4 == 2, &ms) == 0 &&
		    (ms < 0 || ms > SECHO_OPT_SECS_MAX * 1000 ||
		    (ms == 0 && sel % 4 == 1)))
			abort();
		break;
	case 3:
		if (secho_opt_tls_version("--tls-min", s, &ver) == 0 &&
		    ver != SECHO_TLS_1_2 && ver != SECHO_TLS_1_3)
			abort();
		break;
	}
	free(s);
	return 0;
}
