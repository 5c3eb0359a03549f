/*
 * check_client.c - the real secho-client against the real secho-server:
 * every transport, stdin streaming, ping mode, -v, and each failure with
 * its message and documented exit code.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/client/client_int.h"
#include "secho/client.h"
#include "secho/proxy.h"
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
		alarm((unsigned)tu_slow(30));	/* should the client never go */
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
	tu_server_stop_clean(&srv);
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
	tu_server_stop_clean(&srv);
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
	tu_server_stop_clean(&srv);
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
	tu_server_stop_clean(&srv);
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
	tu_server_stop_clean(&srv);

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
		tu_server_stop_clean(&srv);
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
		tu_server_stop_clean(&srv);
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
	tu_server_stop_clean(&srv);
}
END_TEST

/*
 * Regression: a plain client that sent fewer bytes than a TLS record
 * header to the TLS port waited out the server's 10 s handshake timeout
 * with no hint.  Its first byte already says it is not TLS.
 */
START_TEST(short_plain_to_tls_port)
{
	struct tu_result r;
	struct pollfd pfd;
	char buf[16];
	int fd, rc;

	start_all();
	ck_assert_int_ne(fd = tu_connect(tu_server_port(&srv, "tls"), 0), -1);
	ck_assert_int_eq(tu_write_all(fd, "hi", 2), 0);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	ck_assert_msg(poll(&pfd, 1, tu_slow(1000)) == 1, "not closed in 1 s");
	rc = (int)read(fd, buf, sizeof(buf));
	ck_assert_msg(rc == 0 || (rc == -1 && errno == ECONNRESET),
	    "read %d", rc);
	close(fd);
	ck_assert_int_eq(tu_run((const char *[]){ tu_bin("secho-client"),
	    "--tcp", "-m", "hi", "localhost", port_of("tls"), NULL }, NULL, 0,
	    tu_slow(2000), &r), SECHO_EXIT_CONNECT);
	ck_assert(!r.timed_out);
	assert_err(&r, "(is this a TLS port? try --tls)");
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
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
	ck_assert_msg(secho_now_us() - t0 < tu_slow(3000) * 1000ULL,
	    "took %.1f s", (secho_now_us() - t0) / 1e6);
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

	if (fd == -1 || tu_read_full(fd, buf, sizeof(buf),
	    tu_slow(20000)) != 5)
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

/* Answers only the even-numbered of 10 probes ("secho seq=N "). */
static void
even_udp_server(int fd)
{
	struct secho_sockaddr peer = { .len = sizeof(peer.ss) };
	char d[256];
	ssize_t n;

	for (int i = 0; i < 10; i++) {
		n = recvfrom(fd, d, sizeof(d) - 1, 0,
		    (struct sockaddr *)&peer.ss, &peer.len);
		if (n <= 0)
			_exit(1);
		d[n] = '\0';
		if (strncmp(d, "secho seq=", 10) != 0)
			_exit(1);
		if (atol(d + 10) % 2 == 0 && sendto(fd, d, (size_t)n, 0,
		    (struct sockaddr *)&peer.ss, peer.len) != n)
			_exit(1);
	}
	_exit(0);
}

/*
 * Like ping(8), probes go on the interval whatever became of the ones
 * before: at 50% loss 10 probes 10 ms apart with -t 2 take the last lost
 * probe's 2 s (seq 9, sent at ~80 ms), not a -t per loss.
 */
START_TEST(ping_keeps_rhythm)
{
	struct tu_result r;
	unsigned long long t0;
	double secs;
	char port[16];
	pid_t pid = fork_server(listen_local(1, port, sizeof(port)),
	    even_udp_server);

	t0 = secho_now_us();
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--udp", "-c",
	    "10", "-i", "0.01", "-t", "2", "127.0.0.1", port, NULL }),
	    SECHO_EXIT_LOSS);
	secs = (secho_now_us() - t0) / 1e6;
	ck_assert_msg(strstr(r.out, "10 probes sent, 5 received, 50% loss") !=
	    NULL, "%s", r.out);
	ck_assert_msg(strstr(r.out, "no answer from 127.0.0.1:") != NULL &&
	    strstr(r.out, "seq=10 time=") != NULL, "%s", r.out);
	ck_assert_msg(secs > 1.9 && secs < tu_slow(4000) / 1000.0,
	    "took %.2f s, want about 2", secs);
	tu_result_free(&r);
	assert_child_exit(pid, 0);
}
END_TEST

/*
 * A UDP datagram to an IPv6 peer carries 65527 bytes, 20 more than over
 * IPv4; one byte more is refused before anything is sent.
 */
START_TEST(udp_max_follows_family)
{
	const char *why = tu_no_ipv6();
	char *msg = malloc(SECHO_CLIENT_UDP6_MAX + 2);
	struct tu_result r;

	if (why != NULL) {
		tu_skip("no IPv6 loopback (%s)", why);
		free(msg);
		return;
	}
	ck_assert_int_eq(tu_server_start(&srv, (const char *[]){ "-l",
	    "udp://[::1]:0", NULL }, 1), 0);
	memset(msg, 'x', SECHO_CLIENT_UDP6_MAX + 1);
	msg[SECHO_CLIENT_UDP6_MAX] = '\0';
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--udp", "-m",
	    msg, "[::1]", port_of("udp"), NULL }), 0);
	ck_assert_uint_eq(r.outlen, SECHO_CLIENT_UDP6_MAX + 1);
	tu_result_free(&r);
	msg[SECHO_CLIENT_UDP6_MAX] = 'x';
	msg[SECHO_CLIENT_UDP6_MAX + 1] = '\0';
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--udp", "-m",
	    msg, "[::1]", port_of("udp"), NULL }), SECHO_EXIT_USAGE);
	assert_err(&r, "--message of 65528 bytes is too large for one udp "
	    "datagram over IPv6 (at most 65527)");
	tu_result_free(&r);
	msg[SECHO_CLIENT_UDP_MAX + 1] = '\0';
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--udp", "-m",
	    msg, "127.0.0.1", "7", NULL }), SECHO_EXIT_USAGE);
	assert_err(&r, "--message of 65508 bytes is too large for one udp "
	    "datagram (at most 65507)");
	tu_result_free(&r);
	free(msg);
	tu_server_stop_clean(&srv);
}
END_TEST

/* Reads the child's stdout until it holds needle (bounded); 1 if so. */
static int
await_out(const struct tu_proc *p, char *buf, size_t len, const char *needle)
{
	size_t n = 0;

	struct pollfd pfd = { .fd = p->outfd, .events = POLLIN };

	buf[0] = '\0';
	while (strstr(buf, needle) == NULL && n + 1 < len) {
		if (poll(&pfd, 1, tu_slow(10000)) != 1 ||
		    read(p->outfd, buf + n, 1) != 1)
			return 0;
		buf[++n] = '\0';
	}
	return strstr(buf, needle) != NULL;
}

/*
 * Ctrl-C stops a client like ping(8): a clean close (the server sees the
 * close_notify and logs "done", not "peer closed without
 * close_notify"), the statistics of what was sent, and exit 0 (every
 * counted probe answered); echo mode says how far it got and exits 130.
 */
START_TEST(sigint_closes_cleanly)
{
	const char *argv[] = { tu_bin("secho-client"), "--tls", "--ca",
	    tu_cert("ca.pem"), "-c", "1000", "-i", "0.05", "localhost", NULL,
	    NULL };
	char out[4096], fifo[512], *log;
	struct tu_result r;
	struct tu_proc p;
	int wfd;

	ck_assert_int_eq(tu_server_start(&srv, (const char *[]){ "--tls",
	    "--port", "0", "-v", TLS_ARGS, NULL }, 1), 0);
	argv[9] = port_of("tls");
	ck_assert_int_eq(tu_spawn(&p, argv, NULL), 0);
	if (!await_out(&p, out, sizeof(out), "seq=1 time=")) {
		tu_wait(&p, 5000, &r);
		ck_abort_msg("no reply: %s%s", out, r.err);
	}
	kill(p.pid, SIGINT);
	tu_wait(&p, 5000, &r);
	ck_assert_msg(!r.timed_out && r.status == 0, "status %d: %s",
	    r.status, r.err);
	ck_assert_msg(strstr(r.out, "secho ping statistics") != NULL &&
	    strstr(r.out, "received, 0% loss") != NULL, "%s", r.out);
	ck_assert(tu_server_await_log(&srv, "closed (done, ", 5000));
	tu_result_free(&r);
	/* Echo mode: stdin stays open (we hold the fifo's write end). */
	snprintf(fifo, sizeof(fifo), "%s/in", tu_tmpdir());
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	wfd = open(fifo, O_RDWR);
	ck_assert_int_ne(wfd, -1);
	ck_assert_int_eq(tu_write_all(wfd, "hello\n", 6), 0);
	argv[4] = "localhost";
	argv[5] = port_of("tls");
	argv[6] = NULL;
	ck_assert_int_eq(tu_spawn(&p, argv, fifo), 0);
	ck_assert_msg(await_out(&p, out, sizeof(out), "hello\n"), "%s", out);
	kill(p.pid, SIGINT);
	tu_wait(&p, 5000, &r);
	ck_assert_msg(r.status == 130, "status %d: %s", r.status, r.err);
	assert_err(&r, "interrupted: 6 bytes sent, 6 echoed");
	ck_assert(tu_server_await_log(&srv, "closed (done, 6 bytes", 5000));
	tu_result_free(&r);
	close(wfd);
	log = tu_server_log(&srv);
	ck_assert_msg(strstr(log, "without close_notify") == NULL, "%s", log);
	free(log);
	tu_server_stop_clean(&srv);
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
	dup2(open("/dev/null", O_WRONLY), 2);	/* nothing should print */
	rc = secho_client_echo_run(&e);
	dup2(err, 2);
	wall = secho_now_us() - t0;
	cpu = cpu_us() - c0;
	secho_client_echo_free(&e);
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(cl.fail, SECHO_CLIENT_TIMEOUT);
	ck_assert_msg(cpu * 4 < wall, "spun: %llu us of CPU in %llu us", cpu,
	    wall);
	close(sv[0]);
	close(sv[1]);
	close(zero);
}
END_TEST

/* A --tls server with the fixture's certificates, plus extra args. */
static void
start_tls(const char *const *extra)
{
	const char *args[24] = { "--tls", "--port", "0", TLS_ARGS, NULL };
	int n = 9;

	while (extra != NULL && *extra != NULL && n < 23)
		args[n++] = *extra++;
	args[n] = NULL;
	ck_assert_int_eq(tu_server_start(&srv, args, 1), 0);
}

/* "<dir>/name" in one of 8 rotating buffers. */
static const char *
in_dir(const char *dir, const char *name)
{
	static char buf[8][512];
	static int slot;
	char *b = buf[slot++ % 8];

	snprintf(b, sizeof(buf[0]), "%s/%s", dir, name);
	return b;
}

/* secho-client with args against the server fails with code and want. */
static void
assert_client_fails(const char *const *args, int code, const char *want)
{
	const char *argv[24];
	struct tu_result r;
	int n = 0;

	while (*args != NULL && n < 20)
		argv[n++] = *args++;
	argv[n++] = "localhost";
	argv[n++] = port_of("tls");
	argv[n] = NULL;
	ck_assert_int_eq(client(&r, NULL, 0, argv), code);
	assert_err(&r, want);
	tu_result_free(&r);
}

/*
 * Refused handshakes and bad client settings in words, not in OpenSSL's
 * ("sslv3 alert handshake failure", "tlsv1 alert no application
 * protocol", "unsupported", "passed invalid argument").
 */
START_TEST(refusals_in_words)
{
	start_tls((const char *[]){ "--verify-client", "--alpn", "echo",
	    NULL });
	/* TLS 1.2 says "certificate required" with a handshake_failure. */
	assert_client_fails((const char *[]){ "--tls", "--tls-max", "1.2",
	    "-m", "x", "--ca", tu_cert("ca.pem"), NULL }, SECHO_EXIT_TLS,
	    "the server rejected our certificate: it requires a client "
	    "certificate (try --mtls, or --cert and --key)");
	assert_client_fails((const char *[]){ "--tls", "--mtls", "--cert",
	    tu_cert("client.pem"), "--key", tu_cert("client.key"), "--alpn",
	    "h2", "-m", "x", "--ca", tu_cert("ca.pem"), NULL },
	    SECHO_EXIT_TLS, "secho-client: the server accepts none of the "
	    "offered ALPN protocols");
	/* An ECDSA server and a client that offers only RSA. */
	assert_client_fails((const char *[]){ "--tls", "--tls-max", "1.2",
	    "--ciphers", "ECDHE-RSA-AES128-GCM-SHA256", "-m", "x", "--ca",
	    tu_cert("ca.pem"), NULL }, SECHO_EXIT_TLS, "the server refused "
	    "the handshake (handshake_failure alert): no protocol version, "
	    "cipher or group in common");
	assert_client_fails((const char *[]){ "--tls", "--cert",
	    tu_cert("client.pem"), "-m", "x", "--ca", tu_cert("ca.pem"),
	    NULL }, SECHO_EXIT_USAGE, "--cert given without --key");
	assert_client_fails((const char *[]){ "--tls", "--groups", "NOPE",
	    "-m", "x", NULL }, SECHO_EXIT_USAGE, "--groups 'NOPE': unknown "
	    "key exchange group");
	tu_server_stop_clean(&srv);
}
END_TEST

/*
 * --dtls to a port nothing listens on said "handshake: Connection
 * refused"; a client certificate the server never asked for went unused
 * without a word.
 */
START_TEST(dtls_refused_and_unasked_cert)
{
	struct tu_result r;
	char port[16];

	snprintf(port, sizeof(port), "%d", tu_free_port(1));
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--dtls", "-m",
	    "x", "--ca", tu_cert("ca.pem"), "127.0.0.1", port, NULL }),
	    SECHO_EXIT_CONNECT);
	assert_err(&r, "no DTLS server there (connection refused: nothing "
	    "listens on that UDP port)");
	tu_result_free(&r);
	start_tls(NULL);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls",
	    "--cert", tu_cert("client.pem"), "--key", tu_cert("client.key"),
	    "-m", "x", "--ca", tu_cert("ca.pem"), "localhost",
	    port_of("tls"), NULL }), 0);
	ck_assert_str_eq(r.out, "x\n");
	assert_err(&r, "warning: the server did not ask for a client "
	    "certificate");
	tu_result_free(&r);
	/* Without a certificate of its own there is nothing to say. */
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-m",
	    "x", "--ca", tu_cert("ca.pem"), "localhost", port_of("tls"),
	    NULL }), 0);
	ck_assert_str_eq(r.err, "");
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/*
 * --resume's stdout: per connection its line and its echo, then the
 * summary.  kinds[i] is "full handshake" or "resumed".
 */
static void
assert_resume_out(const char *out, const char *echo,
    const char *const *kinds, const char *summary)
{
	const char *p = out, *nl;
	char want[64];

	for (int i = 0; kinds[i] != NULL; i++) {
		snprintf(want, sizeof(want), "connection %d: %s, ", i + 1,
		    kinds[i]);
		ck_assert_msg(strncmp(p, want, strlen(want)) == 0,
		    "want '%s' at '%s' in:\n%s", want, p, out);
		nl = strchr(p, '\n');
		ck_assert_msg(nl != NULL && nl - p > 3 &&
		    strncmp(nl - 3, " ms", 3) == 0, "no time in:\n%s", out);
		p = nl + 1;
		ck_assert_msg(strncmp(p, echo, strlen(echo)) == 0,
		    "want the echo '%s' at '%s'", echo, p);
		p += strlen(echo);
	}
	ck_assert_str_eq(p, summary);
}

static const char *const resumed_twice[] = { "full handshake", "resumed",
    "resumed", NULL };

/*
 * --resume N reconnects with the session of the connection before: TLS
 * 1.3 tickets (which arrive after the handshake) and TLS 1.2 tickets.
 */
START_TEST(resume_sessions)
{
	struct tu_result r;

	start_tls(NULL);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-m",
	    "again", "--resume", "2", "--ca", tu_cert("ca.pem"), "localhost",
	    port_of("tls"), NULL }), 0);
	assert_resume_out(r.out, "again\n", resumed_twice,
	    "resumed 2 of 2 reconnections\n");
	tu_result_free(&r);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-v",
	    "--tls-max", "1.2", "-m", "twelve", "--resume", "2", "--ca",
	    tu_cert("ca.pem"), "localhost", port_of("tls"), NULL }), 0);
	assert_resume_out(r.out, "twelve\n", resumed_twice,
	    "resumed 2 of 2 reconnections\n");
	assert_err(&r, "TLSv1.2");
	assert_err(&r, "resumed       yes");
	tu_result_free(&r);
	/* Ping mode: one ping per connection. */
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-c",
	    "2", "-i", "0", "--resume", "1", "--ca", tu_cert("ca.pem"),
	    "localhost", port_of("tls"), NULL }), 0);
	ck_assert_msg(strstr(r.out, "connection 1: full handshake, ") !=
	    NULL && strstr(r.out, "connection 2: resumed, ") != NULL &&
	    strstr(r.out, "2 probes sent, 2 received") != NULL &&
	    strstr(r.out, "resumed 1 of 1 reconnection\n") != NULL, "%s",
	    r.out);
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/*
 * Without tickets TLS 1.3 cannot resume: that is reported, not a failure.
 * TLS 1.2 still resumes by session id.
 */
START_TEST(resume_without_tickets)
{
	static const char *const full[] = { "full handshake",
	    "full handshake", "full handshake", NULL };
	struct tu_result r;

	start_tls((const char *[]){ "--no-tickets", NULL });
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-m",
	    "x", "--resume", "2", "--ca", tu_cert("ca.pem"), "localhost",
	    port_of("tls"), NULL }), 0);
	assert_resume_out(r.out, "x\n", full,
	    "resumed 0 of 2 reconnections\n");
	tu_result_free(&r);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls",
	    "--tls-max", "1.2", "-m", "x", "--resume", "2", "--ca",
	    tu_cert("ca.pem"), "localhost", port_of("tls"), NULL }), 0);
	assert_resume_out(r.out, "x\n", resumed_twice,
	    "resumed 2 of 2 reconnections\n");
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/*
 * A TLS server for one connection: echoes what it reads until the
 * client's close_notify, stops listening, and only then closes, so the
 * client's reconnection is refused.
 */
static void
one_connection_server(int lfd)
{
	struct secho_tls_opts o = { .cert = tu_cert("server.pem"),
	    .key = tu_cert("server.key") };
	struct secho_tls *t = secho_tls_new(&o, SECHO_TLS_SERVER, 0);
	struct secho_conn c;
	char buf[256];
	ssize_t n;
	int fd = accept(lfd, NULL, NULL);

	if (t == NULL || fd == -1 || secho_tls_conn_init(t, &c, fd, NULL))
		_exit(1);
	while ((n = secho_conn_handshake(&c)) == SECHO_WANT_READ ||
	    n == SECHO_WANT_WRITE)
		;	/* blocking fd: each call makes progress */
	while ((n = secho_conn_read(&c, buf, sizeof(buf))) > 0 ||
	    n == SECHO_WANT_READ)
		if (n > 0 && secho_conn_write(&c, buf, (size_t)n) != n)
			_exit(1);
	close(lfd);
	if (n != SECHO_IO_EOF || secho_conn_shutdown(&c) != 0)
		_exit(1);
	secho_conn_close(&c);
	_exit(0);
}

/* A failed reconnection ends the run with its own exit code. */
START_TEST(resume_reconnect_fails)
{
	struct tu_result r;
	char port[16];
	pid_t pid = fork_server(listen_local(0, port, sizeof(port)),
	    one_connection_server);

	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-m",
	    "hello", "--resume", "3", "--ca", tu_cert("ca.pem"), "127.0.0.1",
	    port, NULL }), SECHO_EXIT_CONNECT);
	ck_assert_msg(strncmp(r.out, "connection 1: full handshake, ", 30) ==
	    0 && strstr(r.out, "\nhello\n") != NULL &&
	    strstr(r.out, "connection 2") == NULL &&
	    strstr(r.out, "reconnection") == NULL, "%s", r.out);
	assert_err(&r, "Connection refused");
	tu_result_free(&r);
	assert_child_exit(pid, 0);
}
END_TEST

/* The base64 SHA-256 of cert's SubjectPublicKeyInfo, as openssl says. */
static void
pin_of(const char *cert, char *pin, size_t len)
{
	char cmd[1024];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -pubkey -noout | "
	    "openssl pkey -pubin -outform der | openssl dgst -sha256 -binary "
	    "| base64", cert);
	ck_assert_ptr_nonnull(f = popen(cmd, "r"));
	ck_assert_ptr_nonnull(fgets(pin, (int)len, f));
	ck_assert_int_eq(pclose(f), 0);
	pin[strcspn(pin, "\n")] = '\0';
	ck_assert_uint_eq(strlen(pin), 44);
}

/*
 * A pinned key is trusted instead of a CA and a name: a wrong --ca does
 * not matter, a wrong pin fails verification (exit 4).
 */
START_TEST(pin_sha256)
{
	char pin[64], curl_pin[80], wrong[64], ca2[512];
	struct tu_result r;

	pin_of(tu_cert("server.pem"), pin, sizeof(pin));
	pin_of(tu_cert("ca.pem"), wrong, sizeof(wrong));
	snprintf(curl_pin, sizeof(curl_pin), "sha256//%s", pin);
	snprintf(ca2, sizeof(ca2), "%s/ca.pem", mint_dir(NULL));
	start_tls(NULL);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-v",
	    "-m", "pinned", "--pin-sha256", pin, "--ca", ca2, "localhost",
	    port_of("tls"), NULL }), 0);
	ck_assert_str_eq(r.out, "pinned\n");
	assert_err(&r, "verification  ok (pinned public key)");
	tu_result_free(&r);
	/* curl's spelling; by address, under a name the cert lacks. */
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-m",
	    "curl", "--pin-sha256", curl_pin, "--servername", "not.example",
	    "127.0.0.1", port_of("tls"), NULL }), 0);
	ck_assert_str_eq(r.out, "curl\n");
	tu_result_free(&r);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-m",
	    "x", "--pin-sha256", wrong, "--ca", tu_cert("ca.pem"), "localhost",
	    port_of("tls"), NULL }), SECHO_EXIT_VERIFY);
	assert_err(&r, "pin");
	ck_assert_uint_eq(r.outlen, 0);
	tu_result_free(&r);
	ck_assert(tu_server_alive(&srv));
	tu_server_stop_clean(&srv);
}
END_TEST

/* Connecting by address to a server known only by name. */
START_TEST(servername)
{
	const char *dir = mint_dir((const char *[]){ "--no-default-san",
	    "--host", "only.example", NULL });
	struct tu_result r;

	ck_assert_int_eq(tu_server_start(&srv, (const char *[]){ "--tls",
	    "--port", "0", "--cert", in_dir(dir, "server.pem"), "--key",
	    in_dir(dir, "server.key"), NULL }, 1), 0);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-m",
	    "x", "--ca", in_dir(dir, "ca.pem"), "--servername", "localhost",
	    "127.0.0.1", port_of("tls"), NULL }), SECHO_EXIT_VERIFY);
	assert_err(&r, "hostname mismatch");
	tu_result_free(&r);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-v",
	    "-m", "by name", "--ca", in_dir(dir, "ca.pem"), "--servername",
	    "only.example", "127.0.0.1", port_of("tls"), NULL }), 0);
	ck_assert_str_eq(r.out, "by name\n");
	assert_err(&r, "SNI           only.example");
	assert_err(&r, "connected to 127.0.0.1 (127.0.0.1:");
	tu_result_free(&r);
	/* No SNI for an address. */
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-v",
	    "--insecure", "-m", "x", "127.0.0.1", port_of("tls"), NULL }), 0);
	assert_err(&r, "SNI           none");
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/* Version bounds: -v shows what was negotiated; disjoint bounds fail. */
START_TEST(tls_versions)
{
	struct tu_result r;

	start_tls((const char *[]){ "--tls-max", "1.2", NULL });
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-v",
	    "-m", "x", "--ca", tu_cert("ca.pem"), "localhost",
	    port_of("tls"), NULL }), 0);
	assert_err(&r, "protocol      TLSv1.2");
	tu_result_free(&r);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls",
	    "--tls-min", "1.3", "-m", "x", "--ca", tu_cert("ca.pem"),
	    "localhost", port_of("tls"), NULL }), SECHO_EXIT_TLS);
	tu_result_free(&r);
	tu_server_stop_clean(&srv);

	start_tls(NULL);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-v",
	    "--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256",
	    "--groups", "P-256", "-m", "x", "--ca", tu_cert("ca.pem"),
	    "localhost", port_of("tls"), NULL }), 0);
	assert_err(&r, "protocol      TLSv1.2");
	assert_err(&r, "cipher        ECDHE-ECDSA-AES128-GCM-SHA256");
	/* OpenSSL names P-256 "secp256r1" in TLS 1.2. */
	ck_assert_msg(strstr(r.err, "group         P-256") != NULL ||
	    strstr(r.err, "group         secp256r1") != NULL, "%s", r.err);
	tu_result_free(&r);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-v",
	    "--tls-min", "1.3", "--ciphersuites",
	    "TLS_CHACHA20_POLY1305_SHA256",
	    "-m", "x", "--ca", tu_cert("ca.pem"), "localhost", port_of("tls"),
	    NULL }), 0);
	assert_err(&r, "protocol      TLSv1.3");
	assert_err(&r, "cipher        TLS_CHACHA20_POLY1305_SHA256");
	tu_result_free(&r);
	/* tls.c judges the lists; a bad one is a usage error. */
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls",
	    "--ciphers", "NO-SUCH-CIPHER", "-m", "x", "localhost",
	    port_of("tls"), NULL }), SECHO_EXIT_USAGE);
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/* The server picks from the client's ALPN offer; -v names the choice. */
START_TEST(alpn)
{
	struct tu_result r;

	start_tls((const char *[]){ "--alpn", "echo,x", NULL });
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-v",
	    "--alpn", "h2,echo", "-m", "x", "--ca", tu_cert("ca.pem"),
	    "localhost", port_of("tls"), NULL }), 0);
	assert_err(&r, "ALPN          echo");
	tu_result_free(&r);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-v",
	    "-m", "x", "--ca", tu_cert("ca.pem"), "localhost",
	    port_of("tls"), NULL }), 0);
	assert_err(&r, "ALPN          none");
	tu_result_free(&r);
	/* An offer without a common protocol fails the handshake. */
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls",
	    "--alpn", "h2", "-m", "x", "--ca", tu_cert("ca.pem"), "localhost",
	    port_of("tls"), NULL }), SECHO_EXIT_TLS);
	assert_err(&r, "application protocol");
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/* A c_rehash directory of the fixture's CA, or an empty one. */
static const char *
ca_dir(int with_ca)
{
	const char *dir = tu_tmpdir();
	char cmd[1024];

	ck_assert_ptr_nonnull(dir);
	if (with_ca) {
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s/' && openssl rehash "
		    "'%s'", tu_cert("ca.pem"), dir, dir);
		ck_assert_int_eq(system(cmd), 0);
	}
	return dir;
}

START_TEST(capath)
{
	char good[300], empty[300];
	struct tu_result r;

	snprintf(good, sizeof(good), "%s", ca_dir(1));
	snprintf(empty, sizeof(empty), "%s", ca_dir(0));
	start_tls(NULL);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-m",
	    "x", "--capath", good, "localhost", port_of("tls"), NULL }), 0);
	tu_result_free(&r);
	/* --ca and --capath together: either may hold the CA. */
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-m",
	    "x", "--capath", empty, "--ca", tu_cert("ca.pem"), "localhost",
	    port_of("tls"), NULL }), 0);
	tu_result_free(&r);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls", "-m",
	    "x", "--capath", empty, "localhost", port_of("tls"), NULL }),
	    SECHO_EXIT_VERIFY);
	assert_err(&r, "unable to get local issuer certificate");
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/* --mtls takes certs/client.pem and .key from the working directory
 * (the first of the default places). */
START_TEST(mtls_default_files)
{
	char bin[PATH_MAX], top[400], *slash;
	struct tu_result r;

	ck_assert_ptr_nonnull(realpath(tu_bin("secho-client"), bin));
	snprintf(top, sizeof(top), "%s", tu_certs());
	ck_assert_ptr_nonnull(slash = strrchr(top, '/'));
	*slash = '\0';
	start_tls((const char *[]){ "--verify-client", NULL });
	/* The fixture's certs/ and its CA become the defaults. */
	ck_assert_int_eq(chdir(top), 0);
	tu_assert_exit(tu_run((const char *[]){ bin, "--tls", "--mtls",
	    "-v", "-m", "mutual", "localhost", port_of("tls"), NULL }, NULL,
	    0, 60000, &r), &r, 0);
	ck_assert_str_eq(r.out, "mutual\n");
	assert_err(&r, "presenting client certificate certs/client.pem");
	tu_result_free(&r);
	ck_assert_int_ne(tu_run((const char *[]){ bin, "--tls", "-m", "x",
	    "localhost", port_of("tls"), NULL }, NULL, 0, 60000, &r), 0);
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
	/* Elsewhere the files are missing: a usage error that says so. */
	ck_assert_int_eq(chdir(tu_tmpdir()), 0);
	tu_assert_exit(tu_run((const char *[]){ bin, "--tls", "--mtls",
	    "-m", "x", "localhost", NULL }, NULL, 0, 60000, &r), &r,
	    SECHO_EXIT_USAGE);
	assert_err(&r, "--mtls: no client.pem in ./certs, ");
	tu_result_free(&r);
}
END_TEST

/* What a fake balancer-side server saw of a --send-proxy connection. */
struct proxy_seen {
	int ok;			/* a whole header parsed */
	struct secho_proxy_info pi;
	int first;		/* the stream's first byte after it, or -1 */
	char err[200];
};

static int proxy_pipe = -1;	/* the fake server reports here */

/*
 * Reads the header of one connection, reports it on proxy_pipe, then
 * echoes the rest of the stream until the client's FIN.
 */
static void
proxy_server(int lfd)
{
	struct proxy_seen s = { .first = -1 };
	unsigned char buf[4096];
	size_t len = 0;
	ssize_t n = 0, r = 0;
	int fd = accept(lfd, NULL, NULL);

	while (fd != -1 && (n = secho_proxy_parse(buf, len, &s.pi)) == 0 &&
	    (r = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)r;
	s.ok = fd != -1 && n > 0;
	snprintf(s.err, sizeof(s.err), "%s", n < 0 ? secho_error() : "");
	if (s.ok && (size_t)n == len && read(fd, buf + len, 1) == 1)
		len++;
	if (s.ok && (size_t)n < len)
		s.first = buf[n];
	if (write(proxy_pipe, &s, sizeof(s)) != sizeof(s) || !s.ok ||
	    write(fd, buf + n, len - (size_t)n) != (ssize_t)(len - (size_t)n))
		_exit(1);
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)r) != r)
			_exit(1);
	_exit(0);
}

static const char *
sa_str(const struct secho_sockaddr *a)
{
	static char buf[2][SECHO_ADDRSTR_MAX];
	static int slot;

	slot = (slot + 1) % 2;
	return secho_sockaddr_str((const struct sockaddr *)&a->ss, buf[slot],
	    sizeof(buf[slot]));
}

/*
 * secho-client opts... 127.0.0.1 PORT against proxy_server: its exit
 * code, what the server saw in *s, the server's port in port.
 */
static int
proxy_client(const char *const *opts, struct proxy_seen *s,
    struct tu_result *r, char *port, size_t plen)
{
	const char *args[24];
	int p[2], n = 0, rc;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	proxy_pipe = p[1];
	pid = fork_server(listen_local(0, port, plen), proxy_server);
	close(p[1]);
	while (*opts != NULL && n < 20)
		args[n++] = *opts++;
	args[n++] = "127.0.0.1";
	args[n++] = port;
	args[n] = NULL;
	rc = client(r, NULL, 0, args);
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(read(p[0], s, sizeof(*s)), sizeof(*s));
	close(p[0]);
	ck_assert_msg(s->ok, "the fake server parsed no header: %s", s->err);
	waitpid(pid, NULL, 0);
	return rc;
}

/* --send-proxy without a value: v1, the socket's own ends; -v says so. */
START_TEST(send_proxy_default)
{
	struct proxy_seen s;
	struct tu_result r;
	char port[16], want[64];

	ck_assert_int_eq(proxy_client((const char *[]){ "--send-proxy", "-v",
	    "-m", "hello", NULL }, &s, &r, port, sizeof(port)), 0);
	ck_assert_str_eq(r.out, "hello\n");
	ck_assert_int_eq(s.pi.version, 1);
	ck_assert_int_eq(s.pi.local, 0);
	ck_assert_msg(strncmp(sa_str(&s.pi.src), "127.0.0.1:", 10) == 0 &&
	    secho_sockaddr_port((struct sockaddr *)&s.pi.src.ss) != 0,
	    "src %s", sa_str(&s.pi.src));
	snprintf(want, sizeof(want), "127.0.0.1:%s", port);
	ck_assert_str_eq(sa_str(&s.pi.dst), want);
	snprintf(want, sizeof(want), "-> 127.0.0.1:%s\n", port);
	assert_err(&r, "sent a PROXY v1 header: 127.0.0.1:");
	assert_err(&r, want);
	tu_result_free(&r);
}
END_TEST

/* =v2 with claimed ends; over --tls the header comes before the hello. */
START_TEST(send_proxy_claimed)
{
	struct proxy_seen s;
	struct tu_result r;
	char port[16], want[64];

	ck_assert_int_eq(proxy_client((const char *[]){ "--send-proxy=v2",
	    "--proxy-source", "10.1.2.3:4567", "-m", "hi", NULL }, &s, &r,
	    port, sizeof(port)), 0);
	ck_assert_int_eq(s.pi.version, 2);
	ck_assert_str_eq(sa_str(&s.pi.src), "10.1.2.3:4567");
	snprintf(want, sizeof(want), "127.0.0.1:%s", port);
	ck_assert_str_eq(sa_str(&s.pi.dst), want);
	tu_result_free(&r);
	ck_assert_int_ne(proxy_client((const char *[]){ "--tls", "--ca",
	    tu_cert("ca.pem"), "--send-proxy=v2", "--proxy-dest",
	    "192.0.2.7:443", "-m", "hi", NULL }, &s, &r, port, sizeof(port)),
	    0);
	ck_assert_int_eq(s.pi.version, 2);
	ck_assert_str_eq(sa_str(&s.pi.dst), "192.0.2.7:443");
	ck_assert_int_eq(s.first, 0x16);	/* a TLS handshake record */
	tu_result_free(&r);
}
END_TEST

/* One family in a header: the IPv4 end goes as ::ffff:a.b.c.d. */
START_TEST(send_proxy_mixed_families)
{
	struct proxy_seen s;
	struct tu_result r;
	char port[16], want[64];

	ck_assert_int_eq(proxy_client((const char *[]){ "--send-proxy",
	    "--proxy-source", "[2001:db8::1]:4000", "-m", "hi", NULL }, &s,
	    &r, port, sizeof(port)), 0);
	ck_assert_int_eq(s.pi.version, 1);
	ck_assert_str_eq(sa_str(&s.pi.src), "[2001:db8::1]:4000");
	/* secho_sockaddr_str shows a v4-mapped address as plain v4. */
	ck_assert_int_eq(s.pi.dst.ss.ss_family, AF_INET6);
	ck_assert(IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)
	    &s.pi.dst.ss)->sin6_addr));
	snprintf(want, sizeof(want), "127.0.0.1:%s", port);
	ck_assert_str_eq(sa_str(&s.pi.dst), want);
	tu_result_free(&r);
	ck_assert_int_eq(proxy_client((const char *[]){ "--send-proxy=v2",
	    "--proxy-source", "10.0.0.1:1234", "--proxy-dest", "[::1]:7007",
	    "-m", "hi", NULL }, &s, &r, port, sizeof(port)), 0);
	ck_assert_int_eq(s.pi.src.ss.ss_family, AF_INET6);
	ck_assert_str_eq(sa_str(&s.pi.src), "10.0.0.1:1234");
	ck_assert_str_eq(sa_str(&s.pi.dst), "[::1]:7007");
	tu_result_free(&r);
}
END_TEST

/*
 * Two TLS connections, each after a PROXY header: the header is read a
 * byte at a time so that no TLS byte is taken from the handshake.
 */
static void
proxy_tls_server(int lfd)
{
	struct secho_tls_opts o = { .cert = tu_cert("server.pem"),
	    .key = tu_cert("server.key") };
	struct secho_tls *t = secho_tls_new(&o, SECHO_TLS_SERVER, 0);
	unsigned char buf[512];
	struct secho_conn c;
	ssize_t n, r;

	for (int k = 0; k < 2 && t != NULL; k++) {
		struct proxy_seen s = { .first = -1 };
		int fd = accept(lfd, NULL, NULL);
		size_t len = 0;

		while ((n = secho_proxy_parse(buf, len, &s.pi)) == 0 &&
		    read(fd, buf + len, 1) == 1)
			len++;
		s.ok = n > 0;
		if (write(proxy_pipe, &s, sizeof(s)) != sizeof(s) || !s.ok ||
		    secho_tls_conn_init(t, &c, fd, NULL) == -1)
			_exit(1);
		while ((r = secho_conn_handshake(&c)) == SECHO_WANT_READ ||
		    r == SECHO_WANT_WRITE)
			;	/* blocking fd: each call makes progress */
		while (r == 0 && ((n = secho_conn_read(&c, buf, sizeof(buf))) >
		    0 || n == SECHO_WANT_READ))
			if (n > 0 && secho_conn_write(&c, buf, (size_t)n) != n)
				_exit(1);
		(void)secho_conn_shutdown(&c);
		secho_conn_close(&c);
	}
	_exit(0);
}

/* --resume: every reconnection sends its header again. */
START_TEST(send_proxy_resume)
{
	struct proxy_seen s;
	struct tu_result r;
	char port[16];
	int p[2];
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	proxy_pipe = p[1];
	pid = fork_server(listen_local(0, port, sizeof(port)),
	    proxy_tls_server);
	close(p[1]);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls",
	    "--ca", tu_cert("ca.pem"), "--servername", "localhost",
	    "--send-proxy=v2", "--proxy-source", "10.9.8.7:6543",
	    "--resume", "1", "-m", "hi", "127.0.0.1", port, NULL }), 0);
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(read(p[0], &s, sizeof(s)), sizeof(s));
		ck_assert_msg(s.ok, "connection %d: no header", k + 1);
		ck_assert_int_eq(s.pi.version, 2);
		ck_assert_str_eq(sa_str(&s.pi.src), "10.9.8.7:6543");
	}
	ck_assert_msg(strstr(r.out, "resumed 1 of 1") != NULL, "%s", r.out);
	tu_result_free(&r);
	close(p[0]);
	assert_child_exit(pid, 0);
}
END_TEST

/* Each bad use is a usage error in one sentence. */
START_TEST(send_proxy_usage)
{
	static const struct {
		const char *args[4];
		const char *want;
	} cases[] = {
		{ { "--send-proxy=v3" }, "--send-proxy=v3: the PROXY protocol "
		    "version is v1 or v2" },
		{ { "--send-proxy", "--proxy-source", "nonsense" },
		    "--proxy-source: 'nonsense' is not an IP address and port" },
		{ { "--udp", "--send-proxy" }, "--send-proxy is for tcp and tls" },
		{ { "--dtls", "--send-proxy=v2" }, "--send-proxy is for tcp "
		    "and tls" },
		{ { "--proxy-dest", "1.2.3.4:5" }, "--proxy-dest needs "
		    "--send-proxy" },
	};
	struct tu_result r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[8];
		int n = 0;

		while (n < 3 && cases[i].args[n] != NULL) {
			args[n] = cases[i].args[n];
			n++;
		}
		args[n++] = "-m";
		args[n++] = "x";
		args[n++] = "localhost";
		args[n] = NULL;
		ck_assert_int_eq(client(&r, NULL, 0, args), SECHO_EXIT_USAGE);
		assert_err(&r, cases[i].want);
		tu_result_free(&r);
	}
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

/* All four transports on port 0: tcp, tls, udp, dtls. */
static void
start_four(void)
{
	ck_assert_int_eq(tu_server_start(&srv, (const char *[]){ "--tcp",
	    "--tls", "--udp", "--dtls", "--port", "0", TLS_ARGS, NULL }, 4),
	    0);
}

/* The value of a -v row ("    pin-sha256    VALUE") into buf. */
static void
verbose_row(const char *err, const char *row, char *buf, size_t len)
{
	char key[40];
	const char *p;
	size_t n;

	snprintf(key, sizeof(key), "\n    %-13s ", row);
	p = strstr(err, key);
	ck_assert_msg(p != NULL, "no '%s' row in: %s", row, err);
	p += strlen(key);
	n = strcspn(p, "\n");
	ck_assert_uint_lt(n, len);
	memcpy(buf, p, n);
	buf[n] = '\0';
}

/*
 * -v over tls (_i 0) and dtls (1): the key's pin, which --pin-sha256 takes
 * back as printed (and refuses with one character changed), how the
 * server signed, the key exchange's size and the chain it sent, the
 * fixture's CA as its certificate's issuer.
 */
START_TEST(verbose_pin_and_chain)
{
	const char *proto = _i == 0 ? "--tls" : "--dtls";
	char pin[64], want[64], v[256];
	struct tu_result r;

	start_four();
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ proto, "-v",
	    "-m", "x", "--ca", tu_cert("ca.pem"), "localhost",
	    port_of(proto + 2), NULL }), 0);
	verbose_row(r.err, "pin-sha256", pin, sizeof(pin));
	pin_of(tu_cert("server.pem"), want, sizeof(want));
	ck_assert_str_eq(pin, want);
	verbose_row(r.err, "signature", v, sizeof(v));
	ck_assert_str_eq(v, "ecdsa_secp256r1_sha256");
	verbose_row(r.err, "key exchange", v, sizeof(v));
	ck_assert_str_eq(v, "X25519 (253 bits)");
	verbose_row(r.err, "chain", v, sizeof(v));
	ck_assert_str_eq(v, "1 certificate sent");
	verbose_row(r.err, "0 subject", v, sizeof(v));
	ck_assert_str_eq(v, "CN=localhost,O=secho");
	verbose_row(r.err, "  issuer", v, sizeof(v));
	ck_assert_str_eq(v, "CN=secho local CA,O=secho");
	verbose_row(r.err, "  sig alg", v, sizeof(v));
	ck_assert_str_eq(v, "ecdsa-with-SHA256");
	verbose_row(r.err, "  serial", v, sizeof(v));
	ck_assert_msg(strlen(v) >= 2 && strspn(v, "0123456789ABCDEF") ==
	    strlen(v), "serial '%s'", v);
	verbose_row(r.err, "  not after", v, sizeof(v));
	ck_assert_msg(strstr(v, " UTC") != NULL, "not after '%s'", v);
	tu_result_free(&r);
	/* Pasted back: trusted by the key alone (no --ca). */
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ proto, "-m",
	    "pinned", "--pin-sha256", pin, "localhost", port_of(proto + 2),
	    NULL }), 0);
	ck_assert_str_eq(r.out, "pinned\n");
	tu_result_free(&r);
	pin[0] = pin[0] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ proto, "-m",
	    "x", "--pin-sha256", pin, "localhost", port_of(proto + 2),
	    NULL }), SECHO_EXIT_VERIFY);
	assert_err(&r, "does not match --pin-sha256");
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/* jq's output (filter -r) over in, which it must parse. */
static char *
jq(const char *in, const char *filter)
{
	struct tu_result r;
	char *out;

	tu_assert_exit(tu_run((const char *[]){ "/usr/bin/jq", "-r", filter,
	    NULL }, in, strlen(in), 20000, &r), &r, 0);
	out = r.out;
	r.out = NULL;
	tu_result_free(&r);
	return out;
}

/* The report is stdout's one line; filter's output on it is want. */
static void
assert_json(const struct tu_result *r, const char *filter, const char *want)
{
	char *got;

	ck_assert_msg(r->outlen > 2 && r->out[0] == '{' &&
	    strchr(r->out, '\n') == r->out + r->outlen - 1,
	    "stdout is not one JSON line: %s (stderr: %s)", r->out,
	    tu_tail(r->err, 1000));
	got = jq(r->out, filter);
	ck_assert_msg(strcmp(got, want) == 0, "jq '%s': got '%s', want '%s' "
	    "(report: %s)", filter, got, want, r->out);
	free(got);
}

#define JSON_ECHO "[.program, .mode, .transport, .server.host, " \
	"(.server.address | startswith(\"127.0.0.1:\")), " \
	"(.local | startswith(\"127.0.0.1:\")), (.start | endswith(\"Z\")), " \
	"(.connect_ms >= 0), .bytes_sent, .bytes_echoed, .ping, .resume, " \
	".exit_code, .error] | map(tostring) | join(\" \")"
#define JSON_TLS "if .tls == null then \"none \\(.handshake_ms)\" else " \
	"[.tls.version[0:4], .tls.group, .tls.group_bits, " \
	".tls.signature_scheme, .tls.sni, .tls.resumed, .tls.verified, " \
	".tls.verification, (.tls.pin_sha256 | length), " \
	"(.tls.chain | length), .tls.chain[0].issuer, " \
	".tls.chain[0].signature_algorithm, (.handshake_ms > 0)] | " \
	"map(tostring) | join(\" \") end"

/*
 * --json for an echo over each transport (stdin for tcp, -m for the
 * others): one object on stdout, the echo itself not there.
 */
START_TEST(json_echo_each_transport)
{
	static const char *names[] = { "tcp", "tls", "udp", "dtls" };
	char flag[16], want[256];
	struct tu_result r;

	start_four();
	for (int i = 0; i < 4; i++) {
		int tls = i % 2 == 1;
		const char *args[] = { flag, "--json", "--ca",
		    tu_cert("ca.pem"), "-m", "json!", "localhost",
		    port_of(names[i]), NULL };

		snprintf(flag, sizeof(flag), "--%s", names[i]);
		if (!tls)	/* no TLS options without TLS */
			memmove(&args[2], &args[4], 5 * sizeof(args[0]));
		if (i == 0)	/* stdin instead of -m */
			memmove(&args[2], &args[4], 3 * sizeof(args[0]));
		ck_assert_int_eq(client(&r, "json!", 5, args), 0);
		snprintf(want, sizeof(want), "secho-client %s %s localhost "
		    "true true true true 5 5 null null 0 null\n", i == 0 ?
		    "stdin" : "message", names[i]);
		assert_json(&r, JSON_ECHO, want);
		snprintf(want, sizeof(want), "%s X25519 253 "
		    "ecdsa_secp256r1_sha256 localhost false true ok 44 1 "
		    "CN=secho local CA,O=secho ecdsa-with-SHA256 true\n",
		    i == 1 ? "TLSv" : "DTLS");
		assert_json(&r, JSON_TLS, tls ? want : "none null\n");
		ck_assert_msg(strstr(r.out, "json!") == NULL, "echo on stdout: "
		    "%s", r.out);
		tu_result_free(&r);
	}
	tu_server_stop_clean(&srv);
}
END_TEST

/* --json of ping runs: the summary figures and each probe. */
START_TEST(json_ping)
{
	struct tu_result r;

	start_four();
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--udp",
	    "--json", "-c", "3", "-i", "0", "-s", "100", "127.0.0.1",
	    port_of("udp"), NULL }), 0);
	assert_json(&r, "[.mode, .ping.size, .ping.count, .ping.sent, "
	    ".ping.received, .ping.lost, .ping.loss_percent, "
	    "(.ping.rtt_ms | .min <= .avg and .avg <= .max and .mdev >= 0), "
	    "([.ping.probes[].seq] | map(tostring) | join(\",\")), "
	    "(.ping.probes | all(.rtt_ms >= 0)), .bytes_sent, .bytes_echoed, "
	    ".exit_code] | map(tostring) | join(\" \")",
	    "ping 100 3 3 3 0 0 true 1,2,3 true 300 300 0\n");
	ck_assert_msg(strstr(r.out, "bytes from") == NULL, "%s", r.out);
	tu_result_free(&r);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls",
	    "--json", "-c", "2", "-i", "0", "--ca", tu_cert("ca.pem"),
	    "localhost", port_of("tls"), NULL }), 0);
	assert_json(&r, "[.ping.sent, .ping.received, (.ping.probes | "
	    "length), .bytes_echoed, .tls.version[0:4]] | map(tostring) | "
	    "join(\" \")", "2 2 2 128 TLSv\n");
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/* --json of a --resume run: each connection, resumed or not. */
START_TEST(json_resume)
{
	struct tu_result r;

	start_four();
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls",
	    "--json", "-m", "again", "--resume=2", "--ca", tu_cert("ca.pem"),
	    "localhost", port_of("tls"), NULL }), 0);
	assert_json(&r, "[.resume.reconnections, .resume.resumed, "
	    "([.resume.connections[] | \"\\(.connection):\\(.resumed)\"] | "
	    "join(\",\")), (.resume.connections | all(.handshake_ms > 0)), "
	    ".tls.resumed, .bytes_sent, .bytes_echoed, .exit_code] | "
	    "map(tostring) | join(\" \")",
	    "2 2 1:false,2:true,3:true true false 15 15 0\n");
	ck_assert_msg(strstr(r.out, "connection 2") == NULL, "%s", r.out);
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/*
 * A failing --json run still reports, with the exit code it exits with
 * and the error it also prints on stderr: a name the certificate lacks
 * (4), a port nobody listens on (2).
 */
START_TEST(json_failures)
{
	struct tu_result r;
	char line[512], *err;

	start_four();
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--tls",
	    "--json", "-m", "x", "--ca", tu_cert("ca.pem"), "--servername",
	    "wrong.example", "localhost", port_of("tls"), NULL }),
	    SECHO_EXIT_VERIFY);
	assert_json(&r, "[.exit_code, .tls, (.connect_ms >= 0), .bytes_sent, "
	    "(.error | test(\"hostname mismatch\"))] | map(tostring) | "
	    "join(\" \")", "4 null true 0 true\n");
	err = jq(r.out, ".error");
	snprintf(line, sizeof(line), "secho-client: %s", err);
	assert_err(&r, line);
	free(err);
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
	ck_assert_int_eq(client(&r, NULL, 0, (const char *[]){ "--json",
	    "-m", "x", "127.0.0.1", tu_num(tu_free_port(0)), NULL }),
	    SECHO_EXIT_CONNECT);
	assert_json(&r, "[.exit_code, .server.address, .local, .connect_ms, "
	    "(.error | test(\"refused\"))] | map(tostring) | join(\" \")",
	    "2 null null null true\n");
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
	tcase_add_test(tc, ping_keeps_rhythm);
	tcase_add_test(tc, udp_max_follows_family);
	tcase_add_test(tc, sigint_closes_cleanly);
	tcase_add_test(tc, echo_pinned_buffer_sleeps);
	tcase_add_test(tc, refusals_in_words);
	tcase_add_test(tc, short_plain_to_tls_port);
	tcase_add_test(tc, dtls_refused_and_unasked_cert);
	tcase_add_test(tc, resume_sessions);
	tcase_add_test(tc, resume_without_tickets);
	tcase_add_test(tc, resume_reconnect_fails);
	tcase_add_test(tc, pin_sha256);
	tcase_add_test(tc, servername);
	tcase_add_test(tc, tls_versions);
	tcase_add_test(tc, alpn);
	tcase_add_test(tc, capath);
	tcase_add_test(tc, mtls_default_files);
	tcase_add_test(tc, send_proxy_default);
	tcase_add_test(tc, send_proxy_claimed);
	tcase_add_test(tc, send_proxy_mixed_families);
	tcase_add_test(tc, send_proxy_usage);
	tcase_add_test(tc, send_proxy_resume);
	suite_add_tcase(s, tc);
	/* -v's details and --json (issue 13, item 6). */
	tc = tcase_create("report");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, verbose_pin_and_chain, 0, 2);
	tcase_add_test(tc, json_echo_each_transport);
	tcase_add_test(tc, json_ping);
	tcase_add_test(tc, json_resume);
	tcase_add_test(tc, json_failures);
	suite_add_tcase(s, tc);
	return s;
}
