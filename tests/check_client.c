/*
 * check_client.c - the real secho-client against the real secho-server:
 * every transport, stdin streaming, ping mode, -v, and each failure with
 * its message and documented exit code.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secho/client.h"
#include "secho/tls.h"
#include "testutil.h"

#define TLS_ARGS "--cert", tu_cert("server.pem"), "--key", \
	tu_cert("server.key"), "--ca", tu_cert("ca.pem")

static struct tu_server srv;

static void
start_all(void)
{
	ck_assert_int_eq(tu_server_start(&srv, (const char *[]){ "--tcp",
	    "--tls", "--udp", "--port", "0", TLS_ARGS, NULL }, 3), 0);
}

static void
stop_clean(void)
{
	struct tu_result r;

	ck_assert_int_eq(tu_server_stop(&srv, &r), 0);
	tu_result_free(&r);
}

/*
 * Runs secho-client with args (no argv[0]) and stdin; returns its exit
 * code with the output in *r.
 */
static int
client(struct tu_result *r, const void *in, size_t len, const char **args)
{
	const char *argv[32];
	int n = 0;

	argv[n++] = tu_bin("secho-client");
	while (*args != NULL && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;
	return tu_run(argv, in, len, 60000, r);
}

static const char *
port_of(const char *proto)
{
	static char buf[4][16];
	static int slot;
	char *b = buf[slot++ % 4];

	snprintf(b, sizeof(buf[0]), "%d", tu_server_port(&srv, proto));
	return b;
}

static void
assert_err(const struct tu_result *r, const char *want)
{
	ck_assert_msg(strcasestr(r->err, want) != NULL,
	    "want '%s' in stderr: %s", want, r->err);
}

START_TEST(message_each_transport)
{
	start_all();
	tu_assert_echo("tcp", tu_server_port(&srv, "tcp"), "hello tcp");
	tu_assert_echo("tls", tu_server_port(&srv, "tls"), "hello tls");
	tu_assert_echo("udp", tu_server_port(&srv, "udp"), "hello udp");
	stop_clean();
}
END_TEST

/* stdin to stdout, binary-safe, for each transport. */
START_TEST(stdin_stream)
{
	static const char *protos[] = { "--tcp", "--tls", "--udp" };
	static const char *names[] = { "tcp", "tls", "udp" };
	size_t len = 12 * 1024 * 1024 + 3;
	unsigned char *data = malloc(len);
	struct tu_result r;

	tu_pattern(data, len, 42);
	start_all();
	for (int i = 0; i < 3; i++) {
		size_t n = i == 2 ? 2 * 1024 * 1024 : len;

		const char *args[] = { protos[i], "localhost",
		    port_of(names[i]), NULL, NULL, NULL };

		if (i == 1) {
			args[3] = "--ca";
			args[4] = tu_cert("ca.pem");
		}
		ck_assert_int_eq(client(&r, data, n, args), 0);
		ck_assert_uint_eq(r.outlen, n);
		ck_assert_msg(memcmp(r.out, data, n) == 0, "%s differs",
		    names[i]);
		tu_result_free(&r);
	}
	stop_clean();
	free(data);
}
END_TEST

START_TEST(ping_mode)
{
	struct tu_result r;

	start_all();
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--udp", "-c",
	    "3", "-i", "0.05", "-s", "100", "127.0.0.1", port_of("udp"),
	    NULL }), 0);
	ck_assert_msg(strstr(r.out, "3 probes sent, 3 received, 0% loss") !=
	    NULL, "%s", r.out);
	ck_assert_msg(strstr(r.out, "rtt min/avg/max/mdev = ") != NULL, "%s",
	    r.out);
	ck_assert_msg(strstr(r.out, "100 bytes from 127.0.0.1:") != NULL,
	    "%s", r.out);
	tu_result_free(&r);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-c",
	    "2", "-i", "0", "--ca", tu_cert("ca.pem"), "localhost",
	    port_of("tls"), NULL }), 0);
	ck_assert_msg(strstr(r.out, "2 probes sent, 2 received") != NULL,
	    "%s", r.out);
	tu_result_free(&r);
	stop_clean();
}
END_TEST

START_TEST(verbose_summary)
{
	struct tu_result r;

	start_all();
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-v",
	    "-m", "x", "--ca", tu_cert("ca.pem"), "localhost",
	    port_of("tls"), NULL }), 0);
	assert_err(&r, "TLSv1.3");
	assert_err(&r, "TLS_AES_");
	assert_err(&r, "X25519");
	assert_err(&r, "CN=localhost");
	assert_err(&r, "secho local CA");
	assert_err(&r, "ok");
	tu_result_free(&r);
	stop_clean();
}
END_TEST

/* Each verification failure: message, exit 4, and the server lives on. */
static void
assert_verify_fails(const char *ca, const char *host, const char *want)
{
	struct tu_result r;

	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-m",
	    "x", "--ca", ca, host, port_of("tls"), NULL }), SECHO_EXIT_VERIFY);
	assert_err(&r, want);
	ck_assert_uint_eq(r.outlen, 0);
	tu_result_free(&r);
	ck_assert(tu_server_alive(&srv));
}

/* A second CA, and server certificates that must not verify. */
static const char *
mint_dir(const char *const *extra)
{
	static char dirs[4][300];
	static int slot;
	char *dir = dirs[slot++ % 4];
	const char *args[16] = { "--out", dir, NULL };
	int n = 2;

	snprintf(dir, sizeof(dirs[0]), "%s/certs", tu_tmpdir());
	while (extra != NULL && *extra != NULL && n < 15)
		args[n++] = *extra++;
	args[n] = NULL;
	ck_assert_int_eq(tu_mkcerts(args), 0);
	return dir;
}

START_TEST(verify_failures)
{
	char ca2[512];
	const char *dir;
	struct tu_result r;

	start_all();
	snprintf(ca2, sizeof(ca2), "%s/ca.pem", mint_dir(NULL));
	assert_verify_fails(ca2, "localhost", "secho-client: certificate "
	    "verify failed: unable to get local issuer certificate");
	/* --insecure skips it, loudly. */
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls",
	    "--insecure", "-m", "y", "--ca", ca2, "localhost",
	    port_of("tls"), NULL }), 0);
	assert_err(&r, "warning");
	ck_assert_str_eq(r.out, "y\n");
	tu_result_free(&r);
	stop_clean();

	/* A certificate for another name, then an expired one. */
	dir = mint_dir((const char *[]){ "--no-default-san", "--host",
	    "wrong.example", NULL });
	{
		char cert[400], key[400], ca[400];

		snprintf(cert, sizeof(cert), "%s/server.pem", dir);
		snprintf(key, sizeof(key), "%s/server.key", dir);
		snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
		ck_assert_int_eq(tu_server_start(&srv, (const char *[]){
		    "--tls", "--port", "0", "--cert", cert, "--key", key,
		    NULL }, 1), 0);
		assert_verify_fails(ca, "localhost",
		    "certificate verify failed: hostname mismatch");
		assert_verify_fails(ca, "127.0.0.1",
		    "certificate verify failed: IP address mismatch");
		stop_clean();
	}
	dir = mint_dir((const char *[]){ "--not-before", "2020-01-01",
	    "--not-after", "2020-02-01", NULL });
	{
		char cert[400], key[400], ca[400];

		snprintf(cert, sizeof(cert), "%s/server.pem", dir);
		snprintf(key, sizeof(key), "%s/server.key", dir);
		snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
		ck_assert_int_eq(tu_server_start(&srv, (const char *[]){
		    "--tls", "--port", "0", "--cert", cert, "--key", key,
		    NULL }, 1), 0);
		assert_verify_fails(ca, "localhost",
		    "certificate verify failed: certificate has expired");
		stop_clean();
	}
}
END_TEST

/* Talking the wrong protocol to a port: a clear word, not a dump. */
START_TEST(wrong_protocol)
{
	struct tu_result r;
	int rc;

	start_all();
	rc = client(&r, NULL, 0, (const char *[]){ "--tls", "-m", "x",
	    "--ca", tu_cert("ca.pem"), "localhost", port_of("tcp"), NULL });
	ck_assert_int_eq(rc, SECHO_EXIT_TLS);
	assert_err(&r, "does not speak TLS");
	tu_result_free(&r);
	rc = client(&r, NULL, 0, (const char *[]){ "--tcp", "-m", "hello",
	    "localhost", port_of("tls"), NULL });
	ck_assert_msg(rc == SECHO_EXIT_MISMATCH || rc == SECHO_EXIT_CONNECT,
	    "exit %d: %s", rc, r.err);
	ck_assert_msg(strstr(r.err, "TLS") != NULL || strstr(r.err,
	    "closed by the server") != NULL, "stderr: %s", r.err);
	tu_result_free(&r);
	tu_assert_echo("tls", tu_server_port(&srv, "tls"), "still here");
	stop_clean();
}
END_TEST

START_TEST(connection_refused)
{
	struct tu_result r;
	char port[16], want[128];

	snprintf(port, sizeof(port), "%d", tu_free_port(0));
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "-m", "x",
	    "127.0.0.1", port, NULL }), SECHO_EXIT_CONNECT);
	snprintf(want, sizeof(want), "secho-client: cannot connect to "
	    "127.0.0.1:%s: Connection refused", port);
	assert_err(&r, want);
	tu_result_free(&r);
}
END_TEST

/* A peer that accepts (kernel backlog) but never answers: exit 5. */
START_TEST(timeout)
{
	struct secho_sockaddr bound;
	struct tu_result r;
	char port[16];
	int lfd = secho_net_listen("127.0.0.1", 0, 0, 16, 0, &bound);

	ck_assert_int_ne(lfd, -1);
	snprintf(port, sizeof(port), "%d",
	    ntohs(((struct sockaddr_in *)&bound.ss)->sin_port));
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls",
	    "--timeout", "0.5", "-m", "x", "--ca", tu_cert("ca.pem"),
	    "127.0.0.1", port, NULL }), SECHO_EXIT_TIMEOUT);
	assert_err(&r, "timed out");
	tu_result_free(&r);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tcp",
	    "--timeout", "0.5", "-m", "x", "127.0.0.1", port, NULL }),
	    SECHO_EXIT_TIMEOUT);
	tu_result_free(&r);
	close(lfd);
}
END_TEST

/*
 * A TLS server that reads and then vanishes without close_notify: the
 * client says so in plain words and exits 2.
 */
static void
vanishing_server(int lfd)
{
	struct secho_tls_opts o = { .cert = tu_cert("server.pem"),
	    .key = tu_cert("server.key") };
	struct secho_tls *t = secho_tls_new(&o, SECHO_TLS_SERVER, 0);
	struct secho_sockaddr peer;
	struct secho_conn c;
	char buf[16];
	int fd, rc;

	secho_net_set_nonblock(lfd, 0);
	fd = accept(lfd, NULL, NULL);
	if (t == NULL || fd == -1 || secho_tls_conn_init(t, &c, fd, NULL))
		_exit(1);
	(void)peer;
	while ((rc = secho_conn_handshake(&c)) == SECHO_WANT_READ ||
	    rc == SECHO_WANT_WRITE)
		;	/* blocking fd: each call makes progress */
	while (secho_conn_read(&c, buf, sizeof(buf)) == SECHO_WANT_READ)
		;
	_exit(0);	/* no close_notify */
}

START_TEST(peer_vanishes)
{
	struct secho_sockaddr bound;
	struct tu_result r;
	char port[16];
	int lfd = secho_net_listen("127.0.0.1", 0, 0, 16, 0, &bound), st;
	pid_t pid;

	snprintf(port, sizeof(port), "%d",
	    ntohs(((struct sockaddr_in *)&bound.ss)->sin_port));
	if ((pid = fork()) == 0)
		vanishing_server(lfd);
	close(lfd);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-m",
	    "hello", "--ca", tu_cert("ca.pem"), "localhost", port, NULL }),
	    SECHO_EXIT_CONNECT);
	assert_err(&r, "without a TLS close_notify");
	tu_result_free(&r);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(st), 0);
}
END_TEST

START_TEST(usage_errors)
{
	struct tu_result r;

	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--bogus",
	    "localhost", NULL }), SECHO_EXIT_USAGE);
	assert_err(&r, "--bogus");
	tu_result_free(&r);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--help",
	    NULL }), 0);
	ck_assert_msg(strstr(r.out, "exit") != NULL, "%s", r.out);
	tu_result_free(&r);
}
END_TEST

Suite *
client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc = tcase_create("client");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, message_each_transport);
	tcase_add_test(tc, stdin_stream);
	tcase_add_test(tc, ping_mode);
	tcase_add_test(tc, verbose_summary);
	tcase_add_test(tc, verify_failures);
	tcase_add_test(tc, wrong_protocol);
	tcase_add_test(tc, connection_refused);
	tcase_add_test(tc, timeout);
	tcase_add_test(tc, peer_vanishes);
	tcase_add_test(tc, usage_errors);
	suite_add_tcase(s, tc);
	return s;
}
