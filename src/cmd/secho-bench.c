/*
 * secho-bench - the load generator: everything is in src/bench*.c; this
 * is only the program's entry point.  Exit codes: see secho-bench --help.
 */
#include "../bench/bench_int.h"

int
main(int argc, char **argv)
{
	return secho_bench_main(argc, argv);
}
