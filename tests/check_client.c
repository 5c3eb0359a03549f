/*
 * check_client.c - the real secho-client against the real secho-server:
 * every transport, stdin streaming, ping mode, -v, and each failure with
 * its message and documented exit code.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/client_int.h"
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

/* A socket on 127.0.0.1 with a kernel-chosen port, as a string. */
static int
listen_local(int dgram, char *port, size_t len)
{
	struct secho_sockaddr bound;
	int lfd = secho_net_listen("127.0.0.1", 0, dgram, 16, 0, &bound);

	ck_assert_int_ne(lfd, -1);
	snprintf(port, len, "%d",
	    ntohs(((struct sockaddr_in *)&bound.ss)->sin_port));
	return lfd;
}

/* Forks a fake server: fn(lfd) in the child, which must _exit(). */
static pid_t
fork_server(int lfd, void (*fn)(int))
{
	pid_t pid = fork();

	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		alarm(30);	/* a backstop should the client never go */
		secho_net_set_nonblock(lfd, 0);
		fn(lfd);
	}
	close(lfd);
	return pid;
}

static void
assert_child_exit(pid_t pid, int code)
{
	int st;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == code,
	    "fake server: status 0x%x, want exit %d", st, code);
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
	/* An alert is a mismatch; a close (FIN or RST) is an I/O error. */
	ck_assert_msg(rc == SECHO_EXIT_MISMATCH ? strstr(r.err, "answered "
	    "with a TLS alert: is this a TLS port? try --tls") != NULL :
	    rc == SECHO_EXIT_CONNECT && strstr(r.err, "(is this a TLS port? "
	    "try --tls)") != NULL, "exit %d: %s", rc, r.err);
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
	struct tu_result r;
	char port[16];
	int lfd = listen_local(0, port, sizeof(port));

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
	struct secho_conn c;
	char buf[16];
	int fd, rc;

	fd = accept(lfd, NULL, NULL);
	if (t == NULL || fd == -1 || secho_tls_conn_init(t, &c, fd, NULL))
		_exit(1);
	while ((rc = secho_conn_handshake(&c)) == SECHO_WANT_READ ||
	    rc == SECHO_WANT_WRITE)
		;	/* blocking fd: each call makes progress */
	while (secho_conn_read(&c, buf, sizeof(buf)) == SECHO_WANT_READ)
		;
	_exit(0);	/* no close_notify */
}

START_TEST(peer_vanishes)
{
	struct tu_result r;
	char port[16];
	pid_t pid = fork_server(listen_local(0, port, sizeof(port)),
	    vanishing_server);

	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-m",
	    "hello", "--ca", tu_cert("ca.pem"), "localhost", port, NULL }),
	    SECHO_EXIT_CONNECT);
	assert_err(&r, "without a TLS close_notify");
	tu_result_free(&r);
	assert_child_exit(pid, 0);
}
END_TEST

/*
 * socat's EXEC:'sh -c "cat; cat /dev/zero"': echoes until the client's
 * FIN, then streams zeros until the client is gone.
 */
static void
streaming_server(int lfd)
{
	static char zeros[65536];
	char buf[4096];
	ssize_t n;
	int fd = accept(lfd, NULL, NULL);

	while (fd != -1 && (n = read(fd, buf, sizeof(buf))) > 0)
		if (tu_write_all(fd, buf, (size_t)n) == -1)
			_exit(1);
	while (send(fd, zeros, sizeof(zeros), MSG_NOSIGNAL) > 0)
		;
	_exit(errno == EPIPE || errno == ECONNRESET ? 0 : 1);
}

/* After a good -m echo the wait for the server's close is bounded. */
START_TEST(server_streams_after_echo)
{
	struct tu_result r;
	char port[16];
	pid_t pid = fork_server(listen_local(0, port, sizeof(port)),
	    streaming_server);
	unsigned long long t0 = secho_now_us();

	tu_run((const char *[]){ tu_bin("secho-client"), "-m", "hello",
	    "127.0.0.1", port, NULL }, NULL, 0, 8000, &r);
	ck_assert_msg(!r.timed_out, "the client still ran after 8 s");
	ck_assert_msg(secho_now_us() - t0 < 3000000, "took %.1f s",
	    (secho_now_us() - t0) / 1e6);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	ck_assert_str_eq(r.out, "hello\n");
	tu_result_free(&r);
	assert_child_exit(pid, 0);
}
END_TEST

/* A TLS server's answer to plain bytes: read them, then FIN or RST. */
static void
closing_server(int lfd, int reset)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	char buf[5];
	int fd = accept(lfd, NULL, NULL);

	if (fd == -1 || tu_read_full(fd, buf, sizeof(buf), 20000) != 5)
		_exit(1);
	if (reset)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	_exit(0);
}

static void
fin_server(int lfd)
{
	closing_server(lfd, 0);
}

static void
rst_server(int lfd)
{
	closing_server(lfd, 1);
}

/* A plain client whose bytes got no echo at all asks about TLS. */
START_TEST(plain_to_tls_port_hint)
{
	void (*servers[])(int) = { fin_server, rst_server };
	struct tu_result r;
	char port[16];

	for (int i = 0; i < 2; i++) {
		pid_t pid = fork_server(listen_local(0, port, sizeof(port)),
		    servers[i]);

		ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "-m",
		    "hello", "127.0.0.1", port, NULL }), SECHO_EXIT_CONNECT);
		assert_err(&r, i == 0 ? "connection closed by the server" :
		    "reset");
		assert_err(&r, "(is this a TLS port? try --tls)");
		tu_result_free(&r);
		assert_child_exit(pid, 0);
	}
}
END_TEST

/*
 * A UDP server that holds back the echo of probe 1 until probe 2 is in:
 * probe 1's echo then comes late, right before probe 2's.
 */
static void
late_udp_server(int fd)
{
	struct secho_sockaddr peer = { .len = sizeof(peer.ss) };
	char d[3][64];
	ssize_t n[3];

	for (int i = 0; i < 3; i++) {
		n[i] = recvfrom(fd, d[i], sizeof(d[i]), 0,
		    (struct sockaddr *)&peer.ss, &peer.len);
		if (n[i] <= 0)
			_exit(1);
		if (i == 0)
			continue;
		for (int k = i == 1 ? 0 : 2; k <= i; k++)
			if (sendto(fd, d[k], (size_t)n[k], 0,
			    (struct sockaddr *)&peer.ss, peer.len) != n[k])
				_exit(1);
	}
	_exit(0);
}

/*
 * Every udp probe carries its number, so a late echo of seq 1 is not
 * taken for seq 2's; sizes too small for that are refused.
 */
START_TEST(ping_late_reply)
{
	struct tu_result r;
	char port[16];
	pid_t pid = fork_server(listen_local(1, port, sizeof(port)),
	    late_udp_server);

	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--udp", "-v",
	    "-c", "3", "-i", "0", "-s", "16", "-t", "0.3", "127.0.0.1", port,
	    NULL }), SECHO_EXIT_LOSS);
	ck_assert_msg(strstr(r.out, "no answer from 127.0.0.1:") != NULL &&
	    strstr(r.out, "16 bytes from 127.0.0.1:") != NULL &&
	    strstr(r.out, "3 probes sent, 2 received") != NULL, "%s", r.out);
	assert_err(&r, "ignoring a late reply for seq=1");
	tu_result_free(&r);
	assert_child_exit(pid, 0);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--udp", "-c",
	    "3", "-s", "11", "127.0.0.1", port, NULL }), SECHO_EXIT_USAGE);
	assert_err(&r, "at least 16");
	tu_result_free(&r);
}
END_TEST

/* CPU time this process has used, in us. */
static unsigned long long
cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ULL +
	    (unsigned long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/*
 * The echo engine with its buffer pinned: a write to repeat (the socket
 * is full) keeps the bytes in place and the tail is at the end, so no
 * input can be taken.  It must sleep in poll until the echo timeout
 * rather than ask poll about a readable stdin it will not read.
 */
START_TEST(echo_pinned_buffer_sleeps)
{
	struct secho_client_config cfg;
	struct client cl = { .cfg = &cfg };
	struct client_echo e;
	unsigned long long t0, c0, wall, cpu;
	int sv[2], zero = open("/dev/zero", O_RDONLY), err = dup(2), rc;
	char junk[4096] = { 0 };

	secho_client_config_init(&cfg);
	cfg.timeout_ms = 400;
	ck_assert_int_ne(zero, -1);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
	while (send(sv[0], junk, sizeof(junk), MSG_NOSIGNAL) > 0)
		;	/* full: the write below must wait */
	secho_conn_init_tcp(&cl.conn, sv[0]);
	ck_assert_int_eq(secho_client_echo_init(&e, &cl, zero, -1), 0);
	e.tail = e.cap;
	/* All echoed; tail - wpos is far below the window. */
	e.wpos = e.head = e.cap - 4096;
	e.sent = e.cap - 1024;
	e.retry = 1024;
	e.wr_block = POLLOUT;
	e.progress_us = t0 = secho_now_us();
	c0 = cpu_us();
	dup2(open("/dev/null", O_WRONLY), 2);	/* the timeout message */
	rc = secho_client_echo_run(&e);
	dup2(err, 2);
	wall = secho_now_us() - t0;
	cpu = cpu_us() - c0;
	secho_client_echo_free(&e);
	ck_assert_int_eq(rc, SECHO_EXIT_TIMEOUT);
	ck_assert_msg(cpu * 4 < wall, "spun: %llu us of CPU in %llu us", cpu,
	    wall);
	close(sv[0]);
	close(sv[1]);
	close(zero);
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
	tcase_add_test(tc, server_streams_after_echo);
	tcase_add_test(tc, plain_to_tls_port_hint);
	tcase_add_test(tc, ping_late_reply);
	tcase_add_test(tc, echo_pinned_buffer_sleeps);
	suite_add_tcase(s, tc);
	return s;
}
