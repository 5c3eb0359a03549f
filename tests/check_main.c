/*
 * check_main.c - runs every suite in one SRunner (CK_FORK, so a crash
 * fails one test, not the run) and prints Check's summary, then the
 * tests that were skipped.  With SECHO_NO_SKIP=1 (.ci/run, where every
 * dependency is installed and we are root) a skipped test fails the run:
 * otherwise a missing tool would look green.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/*
 * A loaded machine (SECHO_TEST_SLOW=n) gets n times Check's limits too,
 * or Check would kill a test before its own scaled bound could say why:
 * Check reads CK_TIMEOUT_MULTIPLIER when a TCase is made, so this runs
 * before the suites are.
 */
static void
scale_check_timeouts(void)
{
	const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
	double mult = m != NULL ? atof(m) : 1.0;
	char buf[32];

	if (tu_load() == 1)
		return;
	snprintf(buf, sizeof(buf), "%g", (mult > 0 ? mult : 1.0) * tu_load());
	setenv("CK_TIMEOUT_MULTIPLIER", buf, 1);
}

int
main(void)
{
	SRunner *sr;
	int failed, skipped;
	const char *no_skip = getenv("SECHO_NO_SKIP");

	scale_check_timeouts();
	tu_global_setup();
	sr = srunner_create(net_suite());
	srunner_add_suite(sr, loop_suite());
	srunner_add_suite(sr, echo_suite());
	srunner_add_suite(sr, opts_suite());
	srunner_add_suite(sr, json_suite());
	srunner_add_suite(sr, proxy_suite());
	srunner_add_suite(sr, tls_suite());
	srunner_add_suite(sr, server_suite());
	srunner_add_suite(sr, client_suite());
	srunner_add_suite(sr, interop_suite());
	srunner_add_suite(sr, rec_suite());
	srunner_add_suite(sr, hello_suite());
	srunner_add_suite(sr, dtls_suite());
	srunner_add_suite(sr, mtls_suite());
	srunner_add_suite(sr, reload_suite());
	srunner_add_suite(sr, gnutls_suite());
	srunner_add_suite(sr, capture_suite());
	srunner_add_suite(sr, limits_suite());
	srunner_add_suite(sr, handshakes_suite());
	srunner_add_suite(sr, trace_suite());
	srunner_add_suite(sr, bench_suite());
	srunner_add_suite(sr, systemd_suite());
	srunner_add_suite(sr, haproxy_suite());
	srunner_add_suite(sr, docs_suite());
	srunner_add_suite(sr, metrics_suite());
	srunner_add_suite(sr, report_suite());
	srunner_add_suite(sr, hostile_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	skipped = tu_skipped_report();
	tu_global_teardown();
	if (skipped > 0 && no_skip != NULL && strcmp(no_skip, "1") == 0) {
		printf("FAILED: SECHO_NO_SKIP=1 and %d test%s skipped\n",
		    skipped, skipped == 1 ? " was" : "s were");
		return EXIT_FAILURE;
	}
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
