/*
 * check_main.c - runs every suite in one SRunner (CK_FORK, so a crash
 * fails one test, not the run) and prints Check's summary.
 */
#include <stdlib.h>

#include "testutil.h"

int
main(void)
{
	SRunner *sr;
	int failed;

	tu_global_setup();
	sr = srunner_create(net_suite());
	srunner_add_suite(sr, loop_suite());
	srunner_add_suite(sr, echo_suite());
	srunner_add_suite(sr, opts_suite());
	srunner_add_suite(sr, tls_suite());
	srunner_add_suite(sr, server_suite());
	srunner_add_suite(sr, client_suite());
	srunner_add_suite(sr, interop_suite());
	srunner_add_suite(sr, dtls_suite());
	srunner_add_suite(sr, mtls_suite());
	srunner_add_suite(sr, reload_suite());
	srunner_add_suite(sr, gnutls_suite());
	srunner_add_suite(sr, capture_suite());
	srunner_add_suite(sr, limits_suite());
	srunner_add_suite(sr, bench_suite());
	srunner_add_suite(sr, hostile_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	tu_global_teardown();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
