/*
 * check_interop.c - secho against independent peers: openssl s_client and
 * socat drive secho-server; secho-client talks to socat's plain and TLS
 * echo servers and to openssl s_server.  The peers come from Debian
 * (scripts/deps.sh installs them), so nothing here is skipped in CI.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secho/client.h"
#include "testutil.h"

#define TLS_ARGS "--cert", tu_cert("server.pem"), "--key", \
	tu_cert("server.key"), "--ca", tu_cert("ca.pem")

static struct tu_server srv;


static int
run(struct tu_result *r, const char *in, const char *const *argv)
{
	return tu_run(argv, in, in != NULL ? strlen(in) : 0, 30000, r);
}

/*
 * openssl s_client against secho-server: TLS 1.3 and 1.2 echo; -ign_eof
 * keeps it reading until the server's idle timeout closes the session
 * with close_notify, so the echo is complete when it exits.
 */
START_TEST(s_client_echo)
{
	static const char *versions[] = { "-tls1_3", "-tls1_2" };
	struct tu_result r;
	char connect[64];

	ck_assert_int_eq(tu_server_start(&srv, (const char *[]){ "--tls",
	    "--port", "0", "--idle-timeout", "0.5", TLS_ARGS, NULL }, 1), 0);
	snprintf(connect, sizeof(connect), "localhost:%d", srv.port[0]);
	for (int i = 0; i < 2; i++) {
		tu_assert_exit(run(&r, "interop line\n", (const char *[]){
		    "/usr/bin/openssl", "s_client", versions[i], "-ign_eof",
		    "-connect", connect, "-CAfile", tu_cert("ca.pem"),
		    "-verify_hostname", "localhost", "-verify_return_error",
		    NULL }), &r, 0);
		ck_assert_msg(strstr(r.out, "interop line\n") != NULL, "%s",
		    r.out);
		ck_assert_msg(strstr(r.out, "Verify return code: 0 (ok)") !=
		    NULL, "%s", r.out);
		ck_assert_msg(strstr(r.out, i == 0 ? "TLSv1.3" : "TLSv1.2") !=
		    NULL, "%s", r.out);
		if (i == 1)	/* TLS 1.2: forward-secret AEAD only */
			ck_assert_msg(strstr(r.out, "Cipher is ECDHE-ECDSA-") &&
			    strstr(r.out, "GCM") != NULL, "%s", r.out);
		tu_result_free(&r);
	}
	tu_server_stop_clean(&srv);
}
END_TEST

/* Old versions and non-AEAD suites are refused; the server lives on. */
START_TEST(s_client_refused)
{
	struct tu_result r;
	char connect[64];

	ck_assert_int_eq(tu_server_start(&srv, (const char *[]){ "--tls",
	    "--port", "0", TLS_ARGS, NULL }, 1), 0);
	snprintf(connect, sizeof(connect), "127.0.0.1:%d", srv.port[0]);
	ck_assert_int_ne(run(&r, "", (const char *[]){ "/usr/bin/openssl",
	    "s_client", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0",
	    "-connect", connect, NULL }), 0);
	tu_result_free(&r);
	ck_assert_int_ne(run(&r, "", (const char *[]){ "/usr/bin/openssl",
	    "s_client", "-tls1_2", "-cipher", "AES128-SHA256", "-connect",
	    connect, NULL }), 0);
	tu_result_free(&r);
	tu_assert_echo("tls", srv.port[0], "after refusals");
	tu_server_stop_clean(&srv);
}
END_TEST

/* socat as the client of every secho-server transport. */
START_TEST(socat_clients)
{
	struct tu_result r;
	char addr[256];

	ck_assert_int_eq(tu_server_start(&srv, (const char *[]){ "--tcp",
	    "--tls", "--udp", "--port", "0", TLS_ARGS, NULL }, 3), 0);
	snprintf(addr, sizeof(addr), "TCP:127.0.0.1:%d",
	    tu_server_port(&srv, "tcp"));
	tu_assert_exit(run(&r, "via socat tcp\n", (const char *[]){
	    "/usr/bin/socat", "-t5", "-", addr, NULL }), &r, 0);
	ck_assert_str_eq(r.out, "via socat tcp\n");
	tu_result_free(&r);
	snprintf(addr, sizeof(addr), "UDP:127.0.0.1:%d",
	    tu_server_port(&srv, "udp"));
	tu_assert_exit(run(&r, "via socat udp\n", (const char *[]){
	    "/usr/bin/socat", "-t2", "-", addr, NULL }), &r, 0);
	ck_assert_str_eq(r.out, "via socat udp\n");
	tu_result_free(&r);
	snprintf(addr, sizeof(addr), "OPENSSL:localhost:%d,cafile=%s,"
	    "verify=1", tu_server_port(&srv, "tls"), tu_cert("ca.pem"));
	tu_assert_exit(run(&r, "via socat tls\n", (const char *[]){
	    "/usr/bin/socat", "-t5", "-", addr, NULL }), &r, 0);
	ck_assert_str_eq(r.out, "via socat tls\n");
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/* Starts a peer server and polls its port until it accepts. */
static void
start_peer(struct tu_proc *p, const char *const *argv, int port)
{
	unsigned long long deadline = secho_now_us() +
	    tu_slow(15000) * 1000ULL;
	int fd = -1;

	ck_assert_int_eq(tu_spawn(p, argv, NULL), 0);
	while (fd == -1 && secho_now_us() < deadline) {
		struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };

		if ((fd = tu_connect(port, 0)) != -1)
			break;
		/* Waiting on the child's pidfd: wakes early if it died. */
		ck_assert_msg(poll(&pfd, 1, 20) == 0, "peer %s exited",
		    argv[0]);
	}
	ck_assert_msg(fd != -1, "peer %s never listened", argv[0]);
	close(fd);
}

static void
stop_peer(struct tu_proc *p)
{
	struct tu_result r;

	kill(p->pid, SIGTERM);
	tu_wait(p, 10000, &r);
	tu_result_free(&r);
}

/* secho-client against socat's plain and TLS echo servers. */
START_TEST(client_vs_socat)
{
	struct tu_proc peer;
	struct tu_result r;
	char listen[512];
	int port = tu_free_port(0);

	snprintf(listen, sizeof(listen), "TCP-LISTEN:%d,bind=127.0.0.1,"
	    "reuseaddr,fork", port);
	start_peer(&peer, (const char *[]){ "/usr/bin/socat", listen, "PIPE",
	    NULL }, port);
	tu_assert_exit(run(&r, NULL, (const char *[]){
	    tu_bin("secho-client"), "-m", "to socat", "127.0.0.1", tu_num(port),
	    NULL }), &r, 0);
	ck_assert_str_eq(r.out, "to socat\n");
	tu_result_free(&r);
	stop_peer(&peer);

	port = tu_free_port(0);
	snprintf(listen, sizeof(listen), "OPENSSL-LISTEN:%d,bind=127.0.0.1,"
	    "reuseaddr,fork,cert=%s,key=%s,verify=0", port,
	    tu_cert("server.pem"), tu_cert("server.key"));
	start_peer(&peer, (const char *[]){ "/usr/bin/socat", listen, "PIPE",
	    NULL }, port);
	tu_assert_exit(run(&r, NULL, (const char *[]){
	    tu_bin("secho-client"), "--tls", "-m", "to socat tls", "--ca",
	    tu_cert("ca.pem"), "localhost", tu_num(port), NULL }), &r, 0);
	ck_assert_str_eq(r.out, "to socat tls\n");
	tu_result_free(&r);
	stop_peer(&peer);
}
END_TEST

/* secho-client's verification against openssl s_server. */
START_TEST(client_vs_s_server)
{
	char other[300];
	struct tu_proc peer;
	struct tu_result r;
	int port = tu_free_port(0);

	start_peer(&peer, (const char *[]){ "/usr/bin/openssl", "s_server",
	    "-quiet", "-accept", tu_num(port), "-cert", tu_cert("server.pem"),
	    "-key", tu_cert("server.key"), NULL }, port);
	snprintf(other, sizeof(other), "%s/certs", tu_tmpdir());
	ck_assert_int_eq(tu_mkcerts((const char *[]){ "--out", other, NULL }),
	    0);
	strcat(other, "/ca.pem");
	tu_assert_exit(run(&r, NULL, (const char *[]){
	    tu_bin("secho-client"), "--tls", "-m", "x", "--ca", other,
	    "localhost", tu_num(port), NULL }), &r, SECHO_EXIT_VERIFY);
	ck_assert_msg(strstr(r.err, "unable to get local issuer certificate"),
	    "%s", r.err);
	tu_result_free(&r);
	stop_peer(&peer);
}
END_TEST

Suite *
interop_suite(void)
{
	Suite *s = suite_create("interop");
	TCase *tc = tcase_create("interop");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, s_client_echo);
	tcase_add_test(tc, s_client_refused);
	tcase_add_test(tc, socat_clients);
	tcase_add_test(tc, client_vs_socat);
	tcase_add_test(tc, client_vs_s_server);
	suite_add_tcase(s, tc);
	return s;
}
