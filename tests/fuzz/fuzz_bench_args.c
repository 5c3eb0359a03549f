/*
 * fuzz_bench_args.c - secho-bench's command line (argv words separated by
 * NUL bytes).  --pid probes a process with kill(pid, 0), which sends
 * nothing; no file is read and nothing is allocated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_int.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct secho_bench_config cfg;
	struct fz_argv a;

	if (fz_argv_split(&a, "secho-bench", data, size) == -1)
		return 0;
	secho_bench_config_init(&cfg);
	if (secho_bench_parse_args(&cfg, a.argc, a.argv, fz_devnull()) == 0) {
		if (cfg.host[0] == '\0' || cfg.port < 1 || cfg.port > 65535 ||
		    cfg.conns < 1 || cfg.threads < 1 ||
		    cfg.threads > cfg.conns || cfg.size < 1)
			abort();
		(void)secho_bench_mode_name(cfg.mode);
	}
	fz_argv_free(&a);
	return 0;
}
