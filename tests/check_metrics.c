/*
 * check_metrics.c - --metrics: the real server's /metrics, checked by
 * promtool (Debian's prometheus package), counters that move as clients
 * come and go over all four transports, and an HTTP listener that stands
 * up to garbage, slow and too many scrapers like an echo port.
 */
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "secho/secho.h"
#include "testutil.h"

#define TLS_ARGS "--cert", tu_cert("server.pem"), "--key", \
	tu_cert("server.key"), "--ca", tu_cert("ca.pem")
#define PROMTOOL "/usr/bin/promtool"

static struct tu_server srv;

static void
start(const char *const *args, int nlisten)
{
	ck_assert_msg(tu_server_start(&srv, args, nlisten) == 0,
	    "secho-server did not start");
}

/* Reads until EOF (or the deadline); returns the bytes read. */
static size_t
read_to_eof(int fd, char *buf, size_t cap, int timeout_ms)
{
	uint64_t end = secho_now_us() / 1000 + (uint64_t)tu_slow(timeout_ms);
	size_t len = 0;

	while (len + 1 < cap) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = secho_now_us() / 1000;
		ssize_t n;

		if (now >= end || poll(&p, 1, (int)(end - now)) <= 0)
			break;
		if ((n = read(fd, buf + len, cap - 1 - len)) <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return len;
}

/* One HTTP exchange: the whole answer (malloc'd), or NULL. */
static char *
http(int port, const void *req, size_t len)
{
	enum { CAP = 1 << 20 };
	char *buf = malloc(CAP);
	int fd = tu_connect(port, 0);

	ck_assert_msg(fd != -1 && buf != NULL, "cannot connect to metrics");
	if (tu_write_all(fd, req, len) == -1) {
		close(fd);
		free(buf);
		return NULL;
	}
	read_to_eof(fd, buf, CAP, 10000);
	close(fd);
	return buf;
}

static char *
http_str(int port, const char *req)
{
	return http(port, req, strlen(req));
}

/* GET /metrics: its body, after asserting a 200 in the exposition type. */
static char *
scrape(int port)
{
	char *a = http_str(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
	char *body;

	ck_assert_msg(a != NULL && strncmp(a, "HTTP/1.1 200 OK\r\n", 17) == 0 &&
	    strstr(a, "Content-Type: text/plain; version=0.0.4") != NULL &&
	    (body = strstr(a, "\r\n\r\n")) != NULL, "scrape: %s",
	    tu_tail(a, 500));
	memmove(a, body + 4, strlen(body + 4) + 1);
	return a;
}

/* The value of the sample "name{labels}" in text, or -1 if absent. */
static double
sample(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p != NULL && *p != '\0';
	    p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return atof(p + n + 1);
	}
	return -1;
}

/* promtool accepts the exposition (format and naming lint). */
static void
promtool_ok(const char *text)
{
	struct tu_result r;

	if (access(PROMTOOL, X_OK) != 0) {
		tu_skip("promtool not installed (Debian package prometheus)");
		return;
	}
	tu_assert_exit(tu_run((const char *[]){ PROMTOOL, "check", "metrics",
	    NULL }, text, strlen(text), 60000, &r), &r, 0);
	tu_result_free(&r);
}

/*
 * Scrapes until every "series value" pair in want holds (bounded): the
 * server counts a close when it sees it, a moment after the client left.
 */
static char *
await_samples(int port, const char *const *want)
{
	uint64_t end = secho_now_us() / 1000 + (uint64_t)tu_slow(5000);
	char *text;

	for (;;) {
		size_t i;

		text = scrape(port);
		for (i = 0; want[i] != NULL; i += 2) {
			if (sample(text, want[i]) != atof(want[i + 1]))
				break;
		}
		if (want[i] == NULL)
			return text;
		if (secho_now_us() / 1000 >= end)
			ck_abort_msg("%s is %g, want %s; metrics: %s", want[i],
			    sample(text, want[i]), want[i + 1],
			    tu_tail(text, 3000));
		free(text);
		/* Not a sleep for synchronisation: a bounded poll's pace. */
		poll(NULL, 0, 20);
	}
}

static void
echo_with_client(const char *proto, int port, const char *msg)
{
	struct tu_result r;
	int secure = strcmp(proto, "--tls") == 0 || strcmp(proto, "--dtls") == 0;

	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"),
	    proto, "-m", msg, "localhost", tu_num(port), secure ? "--ca" : NULL,
	    tu_cert("ca.pem"), NULL }, NULL, 0, 20000, &r), &r, 0);
	tu_result_free(&r);
}

START_TEST(counters_move)
{
	int mport, tcp, fd;
	char buf[64], *text;

	start((const char *[]){ "-l", "tcp://127.0.0.1:0", "-l",
	    "tls://127.0.0.1:0", "-l", "udp://127.0.0.1:0", "-l",
	    "dtls://127.0.0.1:0", "--metrics", "127.0.0.1:0", TLS_ARGS, NULL },
	    5);
	mport = tu_server_port(&srv, "metrics");
	tcp = tu_server_port(&srv, "tcp");
	ck_assert_msg(mport > 0, "no 'listening metrics' line");
	text = scrape(mport);
	promtool_ok(text);
	ck_assert_msg(sample(text, "secho_connections_accepted_total"
	    "{transport=\"tcp\"}") == 0 && sample(text,
	    "secho_handshakes_failed_total{transport=\"dtls\",reason="
	    "\"timeout\"}") == 0, "a fresh server: %s", text);
	free(text);

	echo_with_client("--tcp", tcp, "hello");
	echo_with_client("--tls", tu_server_port(&srv, "tls"), "tls!");
	echo_with_client("--udp", tu_server_port(&srv, "udp"), "udp..");
	echo_with_client("--dtls", tu_server_port(&srv, "dtls"), "dtls");
	/* Plain text to the TLS port: a handshake failure, not_tls. */
	free(http_str(tu_server_port(&srv, "tls"),
	    "GET / HTTP/1.0\r\n\r\n"));
	/* One tcp connection stays open. */
	fd = tu_connect(tcp, 0);
	ck_assert_msg(fd != -1 && tu_write_all(fd, "x", 1) == 0 &&
	    tu_read_full(fd, buf, 1, 5000) == 1, "the held connection");

	text = await_samples(mport, (const char *[]){
	    "secho_connections_accepted_total{transport=\"tcp\"}", "2",
	    "secho_connections_open{transport=\"tcp\"}", "1",
	    "secho_connections_closed_total{transport=\"tcp\"}", "1",
	    "secho_echoed_bytes_total{transport=\"tcp\"}", "6",
	    "secho_connections_closed_total{transport=\"tls\"}", "2",
	    "secho_handshakes_completed_total{transport=\"tls\"}", "1",
	    "secho_handshakes_resumed_total{transport=\"tls\"}", "0",
	    "secho_handshakes_failed_total{transport=\"tls\",reason="
	    "\"not_tls\"}", "1",
	    "secho_handshake_duration_seconds_count{transport=\"tls\"}", "1",
	    "secho_echoed_bytes_total{transport=\"tls\"}", "4",
	    "secho_datagrams_echoed_total{transport=\"udp\"}", "1",
	    "secho_echoed_bytes_total{transport=\"udp\"}", "5",
	    "secho_handshakes_completed_total{transport=\"dtls\"}", "1",
	    "secho_connections_closed_total{transport=\"dtls\"}", "1",
	    "secho_echoed_bytes_total{transport=\"dtls\"}", "4",
	    "secho_connection_duration_seconds_count{transport=\"tcp\"}", "1",
	    NULL });
	ck_assert_msg(sample(text, "secho_uptime_seconds") > 0 &&
	    sample(text, "secho_last_reload_success") == -1,
	    "process figures: %s", text);
	promtool_ok(text);
	free(text);

	/* It goes: open falls back, closed catches up. */
	close(fd);
	free(await_samples(mport, (const char *[]){
	    "secho_connections_open{transport=\"tcp\"}", "0",
	    "secho_connections_closed_total{transport=\"tcp\"}", "2", NULL }));

	/* A reload is counted with its result. */
	kill(srv.proc.pid, SIGHUP);
	tu_assert_log(&srv, "reloaded", 5000);
	text = await_samples(mport, (const char *[]){
	    "secho_reloads_total{result=\"ok\"}", "1",
	    "secho_last_reload_success", "1", NULL });
	ck_assert_msg(sample(text, "secho_last_reload_timestamp_seconds") >
	    sample(text, "process_start_time_seconds") - 1, "reload time: %s",
	    text);
	free(text);
	tu_server_stop_clean(&srv);
}
END_TEST

/* A client over --max-conns-per-ip is counted under its limit. */
START_TEST(refusals_by_limit)
{
	int mport, tcp, a, b;
	char buf[8];

	start((const char *[]){ "-l", "tcp://127.0.0.1:0", "--metrics",
	    "127.0.0.1:0", "--max-conns-per-ip", "1", NULL }, 2);
	mport = tu_server_port(&srv, "metrics");
	tcp = tu_server_port(&srv, "tcp");
	a = tu_connect(tcp, 0);
	ck_assert_msg(a != -1 && tu_write_all(a, "a", 1) == 0 &&
	    tu_read_full(a, buf, 1, 5000) == 1, "the first client");
	b = tu_connect(tcp, 0);
	ck_assert_msg(b != -1, "connect");
	/* Refused: closed without an echo. */
	ck_assert_msg(read_to_eof(b, buf, sizeof(buf), 5000) == 0,
	    "the second client was served");
	free(await_samples(mport, (const char *[]){
	    "secho_connections_refused_total{transport=\"tcp\",limit="
	    "\"max_conns_per_ip\"}", "1",
	    "secho_connections_refused_total{transport=\"tcp\",limit="
	    "\"max_conns\"}", "0",
	    "secho_connections_accepted_total{transport=\"tcp\"}", "1",
	    "secho_connections_open{transport=\"tcp\"}", "1", NULL }));
	close(a);
	close(b);
	tu_server_stop_clean(&srv);
}
END_TEST

static void
assert_status(int port, const void *req, size_t len, const char *status)
{
	char *a = http(port, req, len);

	ck_assert_msg(a != NULL && strncmp(a, status, strlen(status)) == 0,
	    "want %s, got: %s", status, tu_tail(a, 300));
	free(a);
}

/* Garbage, wrong methods and paths, oversized and slow requests, and
 * more scrapers than allowed: each answered or closed; echoes go on. */
START_TEST(http_listener_robust)
{
	enum { HELD = 17 };
	int mport, tcp, held[HELD];
	char big[9000], *a, buf[16];
	static const char bin[] = "\x16\x03\x01\x00\x05\x00hello\r\n\r\n";

	start((const char *[]){ "-l", "tcp://127.0.0.1:0", "--metrics",
	    "127.0.0.1:0", "--handshake-timeout", "1", NULL }, 2);
	mport = tu_server_port(&srv, "metrics");
	tcp = tu_server_port(&srv, "tcp");
	assert_status(mport, "GET / HTTP/1.1\r\n\r\n", 18,
	    "HTTP/1.1 404 Not Found\r\n");
	a = http_str(mport, "POST /metrics HTTP/1.1\r\nContent-Length: 3"
	    "\r\n\r\nabc");
	ck_assert_msg(strncmp(a, "HTTP/1.1 405 ", 13) == 0 &&
	    strstr(a, "Allow: GET, HEAD\r\n") != NULL, "POST: %s", a);
	free(a);
	a = http_str(mport, "HEAD /metrics HTTP/1.0\r\n\r\n");
	ck_assert_msg(strncmp(a, "HTTP/1.1 200 OK\r\n", 17) == 0 &&
	    strstr(a, "Content-Length: 0") == NULL &&
	    strcmp(strstr(a, "\r\n\r\n"), "\r\n\r\n") == 0, "HEAD: %s", a);
	free(a);
	a = http_str(mport, "GET /metrics?x=1 HTTP/1.1\nHost: y\n\n");
	ck_assert_msg(strncmp(a, "HTTP/1.1 200 OK\r\n", 17) == 0,
	    "bare newlines and a query: %s", a);
	free(a);
	assert_status(mport, bin, sizeof(bin) - 1,
	    "HTTP/1.1 400 Bad Request\r\n");
	assert_status(mport, "\r\n\r\n", 4, "HTTP/1.1 400 Bad Request\r\n");
	memset(big, 'A', sizeof(big));
	assert_status(mport, big, sizeof(big),
	    "HTTP/1.1 431 Request Header Fields Too Large\r\n");

	/* 16 slow scrapers hold every place; the 17th is let go at once. */
	for (int i = 0; i < HELD; i++) {
		held[i] = tu_connect(mport, 0);
		ck_assert_msg(held[i] != -1 && tu_write_all(held[i],
		    "GET /met", 8) == 0, "scraper %d", i);
	}
	/* The echo port is not theirs to block. */
	tu_assert_echo("tcp", tcp, "still echoing");
	/* Every slow one is closed by the timeout (1 s), unanswered. */
	for (int i = 0; i < HELD; i++) {
		ck_assert_msg(read_to_eof(held[i], buf, sizeof(buf), 5000) == 0,
		    "slow scraper %d got an answer: %s", i, buf);
		close(held[i]);
	}
	a = scrape(mport);
	ck_assert_msg(sample(a, "secho_connections_accepted_total"
	    "{transport=\"tcp\"}") == 1, "after the slow ones: %s", a);
	free(a);
	tu_server_stop_clean(&srv);
}
END_TEST

START_TEST(metrics_option_errors)
{
	static const char *const bad[] = { "127.0.0.1", "tcp://:9107",
	    "127.0.0.1:99999", "" };
	struct tu_result r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-server"),
		    "--metrics", bad[i], NULL }, NULL, 0, 10000, &r), &r, 1);
		ck_assert_msg(strstr(r.err, "--metrics") != NULL,
		    "'%s': %s", bad[i], r.err);
		tu_result_free(&r);
	}
}
END_TEST

Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, counters_move);
	tcase_add_test(tc, refusals_by_limit);
	tcase_add_test(tc, http_listener_robust);
	tcase_add_test(tc, metrics_option_errors);
	suite_add_tcase(s, tc);
	return s;
}
