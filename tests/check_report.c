/*
 * check_report.c - --report: the server's first line (first record, first
 * datagram) says what it saw, jq reads it, secho-client --report shows it
 * beside its own view and calls out what differs, and the echo after it
 * is exact, over tcp, tls, udp and dtls.
 */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "secho/secho.h"
#include "testutil.h"

#define TLS_ARGS "--cert", tu_cert("server.pem"), "--key", \
	tu_cert("server.key"), "--ca", tu_cert("ca.pem")

static struct tu_server srv;

static void
start(const char *const *args, int nlisten)
{
	ck_assert_msg(tu_server_start(&srv, args, nlisten) == 0,
	    "secho-server did not start");
}

/* secho-client --report over proto: its exit, echo and report checked. */
static void
client_report(const char *proto, int port, const char *const *want)
{
	struct tu_result r;
	const char *msg = "what did you see?";
	int secure = strcmp(proto, "--tls") == 0 || strcmp(proto, "--dtls") == 0;

	const char *tls_argv[] = { tu_bin("secho-client"), proto, "--report",
	    "-m", msg, "--alpn", "echo", "--ca", tu_cert("ca.pem"), "localhost",
	    tu_num(port), NULL };
	const char *plain_argv[] = { tu_bin("secho-client"), proto,
	    "--report", "-m", msg, "localhost", tu_num(port), NULL };

	tu_assert_exit(tu_run(secure ? tls_argv : plain_argv, NULL, 0, 20000,
	    &r), &r, 0);
	ck_assert_msg(strcmp(r.out, "what did you see?\n") == 0,
	    "%s: the echo after the report: '%s'", proto, r.out);
	for (size_t i = 0; want[i] != NULL; i++)
		ck_assert_msg(strstr(r.err, want[i]) != NULL,
		    "%s: no '%s' in: %s", proto, want[i], r.err);
	tu_result_free(&r);
}

START_TEST(report_every_transport)
{
	start((const char *[]){ "-l", "tcp://127.0.0.1:0", "-l",
	    "tls://127.0.0.1:0", "-l", "udp://127.0.0.1:0", "-l",
	    "dtls://127.0.0.1:0", "--report", "--alpn", "echo", TLS_ARGS,
	    NULL }, 4);
	client_report("--tcp", tu_server_port(&srv, "tcp"),
	    (const char *[]){ "transport    tcp  (= ours)",
	    "client       127.0.0.1:", "the server saw this connection as we "
	    "do", NULL });
	client_report("--tls", tu_server_port(&srv, "tls"),
	    (const char *[]){ "version      TLSv1.3  (= ours)",
	    "SNI          localhost  (= ours)", "ALPN         echo  (= ours)",
	    "JA4          t13d", "handshake    ", "the server saw this "
	    "connection as we do", NULL });
	client_report("--udp", tu_server_port(&srv, "udp"),
	    (const char *[]){ "transport    udp  (= ours)",
	    "the server saw this connection as we do", NULL });
	client_report("--dtls", tu_server_port(&srv, "dtls"),
	    (const char *[]){ "version      DTLSv1.2  (= ours)",
	    "JA4          dd", "the server saw this connection as we do",
	    NULL });
	tu_server_stop_clean(&srv);
}
END_TEST

/* Reads one line from a stream socket (bounded); returns it (static). */
static const char *
read_line(int fd)
{
	static char line[4096];
	size_t n = 0;

	while (n + 1 < sizeof(line) && tu_read_full(fd, line + n, 1,
	    5000) == 1 && line[n] != '\n')
		n++;
	line[n] = '\0';
	return line;
}

/* The raw line is one JSON object jq reads; the echo follows it. */
START_TEST(report_line_is_json)
{
	struct tu_result q;
	const char *line;
	char buf[8];
	int fd;

	start((const char *[]){ "-l", "tcp://127.0.0.1:0,report", "-l",
	    "tcp://127.0.0.1:0", NULL }, 2);
	fd = tu_connect(srv.port[0], 0);
	ck_assert_msg(fd != -1, "connect");
	line = read_line(fd);
	tu_assert_exit(tu_run((const char *[]){ "/usr/bin/jq", "-r",
	    "[.secho, .transport, (.peer | startswith(\"127.0.0.1:\")), "
	    ".local, .worker] | map(tostring) | join(\" \")", NULL }, line,
	    strlen(line), 20000, &q), &q, 0);
	ck_assert_msg(strncmp(q.out, "report tcp true 127.0.0.1:", 26) == 0,
	    "jq: %s (line: %s)", q.out, line);
	tu_result_free(&q);
	ck_assert_msg(tu_write_all(fd, "abc", 3) == 0 &&
	    tu_read_full(fd, buf, 3, 5000) == 3 && memcmp(buf, "abc", 3) == 0,
	    "no echo after the report");
	close(fd);
	/* The listener without ,report echoes at once, no line first. */
	fd = tu_connect(srv.port[1], 0);
	ck_assert_msg(fd != -1 && tu_write_all(fd, "xyz", 3) == 0 &&
	    tu_read_full(fd, buf, 3, 5000) == 3 && memcmp(buf, "xyz", 3) == 0,
	    "the plain listener sent something first");
	close(fd);
	tu_server_stop_clean(&srv);
}
END_TEST

/* One datagram (bounded wait); its length, or -1. */
static ssize_t
recv_dgram(int fd, char *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, tu_slow(5000)) != 1)
		return -1;
	return recv(fd, buf, len, 0);
}

/* A UDP sender gets one report, then only its echoes. */
START_TEST(report_udp_once_per_sender)
{
	char buf[2048];
	ssize_t n;
	int fd;

	start((const char *[]){ "-l", "udp://127.0.0.1:0,report", NULL }, 1);
	fd = tu_connect(srv.port[0], 1);
	ck_assert_msg(fd != -1 && send(fd, "one", 3, 0) == 3, "send");
	n = recv_dgram(fd, buf, sizeof(buf) - 1);
	ck_assert_msg(n > 0, "no report datagram");
	buf[n] = '\0';
	ck_assert_msg(strstr(buf, "{\"secho\":\"report\",\"transport\":"
	    "\"udp\"") == buf, "first datagram: %s", buf);
	n = recv_dgram(fd, buf, sizeof(buf));
	ck_assert_msg(n == 3 && memcmp(buf, "one", 3) == 0, "the echo");
	ck_assert_msg(send(fd, "two", 3, 0) == 3, "send");
	n = recv_dgram(fd, buf, sizeof(buf));
	ck_assert_msg(n == 3 && memcmp(buf, "two", 3) == 0,
	    "a second report, not the echo");
	close(fd);
	tu_server_stop_clean(&srv);
}
END_TEST

/*
 * 150 new UDP senders at once: every one gets its echo, but reports are
 * budgeted (100 a second, as many in a burst), so a flood of spoofed
 * senders cannot turn them into a reflection.
 */
START_TEST(report_udp_budget)
{
	enum { N = 150 };
	int fds[N], reports = 0;
	uint64_t t0, ms;
	char buf[2048];

	start((const char *[]){ "-l", "udp://127.0.0.1:0,report", NULL }, 1);
	t0 = secho_now_us();
	for (int i = 0; i < N; i++) {
		fds[i] = tu_connect(srv.port[0], 1);
		ck_assert_msg(fds[i] != -1 && send(fds[i], "x", 1, 0) == 1,
		    "sender %d", i);
	}
	for (int i = 0; i < N; i++) {
		ssize_t n = recv_dgram(fds[i], buf, sizeof(buf));

		if (n > 1 && buf[0] == '{') {
			reports++;
			n = recv_dgram(fds[i], buf, sizeof(buf));
		}
		ck_assert_msg(n == 1 && buf[0] == 'x', "sender %d: no echo", i);
		close(fds[i]);
	}
	ms = (secho_now_us() - t0) / 1000;
	/* The burst, and what a second refills while the test ran. */
	ck_assert_msg(reports >= 1 && reports <= 100 + (int)(ms / 10) + 1,
	    "%d reports to %d new senders in %llu ms", reports, N,
	    (unsigned long long)ms);
	tu_server_stop_clean(&srv);
}
END_TEST

/* Behind a PROXY header the server sees another client: called out. */
START_TEST(report_calls_out_differences)
{
	struct tu_result r;

	start((const char *[]){ "-l",
	    "tcp://127.0.0.1:0,proxy-protocol,report", NULL }, 1);
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"),
	    "--report", "--send-proxy", "--proxy-source", "192.0.2.7:4444",
	    "-m", "hi", "127.0.0.1", tu_num(srv.port[0]), NULL }, NULL, 0,
	    20000, &r), &r, 0);
	ck_assert_msg(strstr(r.err, "client       192.0.2.7:4444") != NULL &&
	    strstr(r.err, "<- differs: we have 127.0.0.1:") != NULL &&
	    strstr(r.err, "via          127.0.0.1:") != NULL &&
	    strstr(r.err, "1 difference between the server's view and ours") !=
	    NULL, "no difference called out: %s", r.err);
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/*
 * A hostile "server" whose report carries terminal escape sequences, raw
 * and as \u escapes, in strings and as a bare value: none reaches the
 * client's stderr, and the echo after it still works.
 */
START_TEST(report_hostile_server)
{
	static const char line[] = "{\"secho\":\"report\",\"transport\":"
	    "\"tcp\",\"peer\":\"\x1b]0;owned\x07\",\"local\":\"\\u001b[2J\","
	    "\"worker\":\x1b[31m}\n";
	static const char ok[] = "{\"secho\":\"report\",\"transport\":"
	    "\"tcp\",\"peer\":\"\xc3\xa9\\u001b[1m\\u0007\",\"worker\":0}\n";
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	struct tu_proc p;
	struct tu_result r;
	char buf[8];
	int lfd, fd, pass;

	for (pass = 0; pass < 2; pass++) {
		lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = 0;
		ck_assert_msg(lfd != -1 && bind(lfd, (struct sockaddr *)&sin,
		    sizeof(sin)) == 0 && listen(lfd, 1) == 0 &&
		    getsockname(lfd, (struct sockaddr *)&sin, &sl) == 0,
		    "listen");
		ck_assert_int_eq(tu_spawn(&p, (const char *[]){
		    tu_bin("secho-client"), "--report", "-m", "hi", "127.0.0.1",
		    tu_num(ntohs(sin.sin_port)), NULL }, NULL), 0);
		fd = accept(lfd, NULL, NULL);
		close(lfd);
		ck_assert_msg(fd != -1, "accept");
		/* Pass 0: the bare value makes it no report (exit 6);
		 * pass 1: a report whose strings hide escapes. */
		ck_assert_int_eq(tu_write_all(fd, pass == 0 ? line : ok,
		    pass == 0 ? sizeof(line) - 1 : sizeof(ok) - 1), 0);
		if (pass == 1) {
			ck_assert_msg(tu_read_full(fd, buf, 2, 10000) == 2 &&
			    tu_write_all(fd, buf, 2) == 0, "no echo asked");
		}
		shutdown(fd, SHUT_WR);
		tu_wait(&p, 20000, &r);
		close(fd);
		ck_assert_msg(r.status == (pass == 0 ? 6 : 0), "pass %d: exit "
		    "%d; %s", pass, r.status, r.err);
		ck_assert_msg(strchr(r.err, '\x1b') == NULL && strchr(r.err,
		    '\x07') == NULL, "pass %d: an escape reached stderr: %s",
		    pass, r.err);
		tu_result_free(&r);
	}
}
END_TEST

/* With --json the report is in the result: its fields and differences. */
START_TEST(report_in_json)
{
	struct tu_result r, q;

	start((const char *[]){ "-l", "tls://127.0.0.1:0", "--report",
	    "--alpn", "echo", TLS_ARGS, NULL }, 1);
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"),
	    "--tls", "--report", "--json", "--alpn", "echo", "--ca",
	    tu_cert("ca.pem"), "-m", "hi", "localhost", tu_num(srv.port[0]),
	    NULL }, NULL, 0, 20000, &r), &r, 0);
	tu_assert_exit(tu_run((const char *[]){ "/usr/bin/jq", "-r",
	    "[.server_report.fields.transport, .server_report.fields"
	    "[\"tls.sni\"], .server_report.fields[\"tls.alpn\"], "
	    ".server_report.differences, .exit_code] | map(tostring) | "
	    "join(\" \")", NULL }, r.out, strlen(r.out), 20000, &q), &q, 0);
	ck_assert_msg(strcmp(q.out, "tls localhost echo 0 0\n") == 0,
	    "jq: %s (json: %s)", q.out, r.out);
	tu_result_free(&q);
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/* Asking a server without --report: a timeout that says why. */
START_TEST(report_missing)
{
	struct tu_result r;

	start((const char *[]){ "-l", "tcp://127.0.0.1:0", NULL }, 1);
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"),
	    "--report", "-t", "1", "-m", "hi", "127.0.0.1",
	    tu_num(srv.port[0]), NULL }, NULL, 0, 20000, &r), &r, 5);
	ck_assert_msg(strstr(r.err, "(is the server started with --report?)")
	    != NULL, "%s", r.err);
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

Suite *
report_suite(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("report");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, report_every_transport);
	tcase_add_test(tc, report_line_is_json);
	tcase_add_test(tc, report_udp_once_per_sender);
	tcase_add_test(tc, report_udp_budget);
	tcase_add_test(tc, report_calls_out_differences);
	tcase_add_test(tc, report_missing);
	tcase_add_test(tc, report_hostile_server);
	tcase_add_test(tc, report_in_json);
	suite_add_tcase(s, tc);
	return s;
}
