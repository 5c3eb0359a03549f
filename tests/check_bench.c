/*
 * check_bench.c - secho-bench: the histogram and option defaults in
 * process, then every mode and transport briefly against the real
 * secho-server (exit 0, operations counted, no mismatch), the open loop
 * and threads, and the failures: a server that flips one byte (exit 6),
 * one that hangs up (exit 2), nothing listening (exit 2), usage (exit 1);
 * --send-proxy against a server that parses each connection's header.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/bench/bench_int.h"
#include "secho/proxy.h"
#include "testutil.h"

#define TLS_ARGS "--cert", tu_cert("server.pem"), "--key", \
	tu_cert("server.key")

static struct tu_server srv;

static void
start(void)
{
	ck_assert_int_eq(tu_server_start(&srv, (const char *[]){ "--tcp",
	    "--tls", "--udp", "--dtls", "--port", "0", TLS_ARGS, NULL }, 4), 0);
}


/* Runs secho-bench MODE args... HOST PORT; returns its exit code. */
static int
bench(struct tu_result *r, const char *mode, const char *const *args,
    const char *host, int port)
{
	const char *argv[40];
	int n = 0;

	argv[n++] = tu_bin("secho-bench");
	argv[n++] = mode;
	while (args != NULL && *args != NULL && n < 36)
		argv[n++] = *args++;
	argv[n++] = host;
	argv[n++] = tu_num(port);
	argv[n] = NULL;
	return tu_run(argv, NULL, 0, 60000, r);
}

/* The number under "key" in the JSON object js; -1 for null. */
static double
jget(const char *js, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(js, pat);
	ck_assert_msg(p != NULL, "no %s in %s", key, js);
	p += strlen(pat);
	if (strncmp(p, "null", 4) == 0)
		return -1;
	return strtod(p, NULL);
}

/* --- in process --- */

START_TEST(hist_percentiles)
{
	static struct secho_bench_hist a, b, all;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&all, 0, sizeof(all));
	ck_assert_uint_eq(secho_bench_hist_pct(&a, 50), 0);
	for (uint64_t v = 1; v <= 1000000; v++) {
		secho_bench_hist_add(v % 2 ? &a : &b, v * 1000);
		secho_bench_hist_add(&all, v * 1000);
	}
	secho_bench_hist_merge(&a, &b);
	ck_assert_uint_eq(a.count, 1000000);
	ck_assert_uint_eq(a.max, 1000000000ULL);
	for (double p = 10; p < 100; p += 9.9) {
		double want = p / 100 * 1e9, got = (double)
		    secho_bench_hist_pct(&a, p);

		ck_assert_msg(got >= want && got <= want * 1.008,
		    "p%.1f: %.0f for %.0f", p, got, want);
		ck_assert_uint_eq(secho_bench_hist_pct(&a, p),
		    secho_bench_hist_pct(&all, p));
	}
	ck_assert_uint_eq(secho_bench_hist_pct(&a, 100), 1000000000ULL);
	/* Small values are exact; huge ones do not overflow. */
	memset(&b, 0, sizeof(b));
	secho_bench_hist_add(&b, 7);
	ck_assert_uint_eq(secho_bench_hist_pct(&b, 50), 7);
	secho_bench_hist_add(&b, UINT64_MAX);
	ck_assert_uint_eq(secho_bench_hist_pct(&b, 99.9), UINT64_MAX);
}
END_TEST

static int
parse(struct secho_bench_config *cfg, const char *const *argv)
{
	int argc = 0;

	while (argv[argc] != NULL)
		argc++;
	secho_bench_config_init(cfg);
	return secho_bench_parse_args(cfg, argc, (char **)argv, stdout);
}

START_TEST(option_defaults)
{
	struct secho_bench_config cfg;

	ck_assert_int_eq(parse(&cfg, (const char *[]){ "b", "rr", "h", "1",
	    NULL }), 0);
	ck_assert_int_eq(cfg.conns, 100);
	ck_assert_uint_eq(cfg.size, 64);
	ck_assert_int_eq(cfg.proto, SECHO_TCP);
	ck_assert_int_eq(cfg.src_addrs, 1);
	ck_assert_int_eq(parse(&cfg, (const char *[]){ "b", "bulk", "--tls",
	    "[::1]", "2", "-t", "4", NULL }), 0);
	ck_assert_int_eq(cfg.conns, 1);
	ck_assert_int_eq(cfg.threads, 1);	/* no more than conns */
	ck_assert_uint_eq(cfg.size, 65536);
	ck_assert_str_eq(cfg.host, "::1");
	ck_assert_int_eq(cfg.proto, SECHO_TLS);
	ck_assert_int_eq(parse(&cfg, (const char *[]){ "b", "hold", "h", "3",
	    NULL }), 0);
	ck_assert_int_eq(cfg.conns, 1000);
	ck_assert_int_eq(cfg.src_addrs, 8);
	ck_assert_int_eq(parse(&cfg, (const char *[]){ "b", "dtls", "h", "3",
	    "-d", "0.25", NULL }), 0);
	ck_assert_int_eq(cfg.proto, SECHO_DTLS);
	ck_assert_int_eq(cfg.window, 4);
	ck_assert_int_eq(cfg.duration_ms, 250);
	ck_assert_int_eq(parse(&cfg, (const char *[]){ "b", "hs", "h", "3",
	    NULL }), 0);
	ck_assert_int_eq(cfg.conns, 10);
}
END_TEST

/* --- against secho-server --- */

struct mode_case {
	const char *mode, *proto;
	const char *args[8];
	long count;		/* -n given: exactly this many ops */
	long rate_ops;		/* --rate: about this many ops */
};

static const struct mode_case cases[] = {
	{ "rr", "tcp", { "-n", "2000" }, 2000, 0 },
	{ "rr", "tls", { "-n", "2000", "-s", "1000" }, 2000, 0 },
	{ "bulk", "tcp", { "-n", "40" }, 40, 0 },
	{ "bulk", "tls", { "-n", "40", "-s", "100000" }, 40, 0 },
	{ "hs", "tcp", { "-n", "50" }, 50, 0 },
	{ "hs", "tls", { "-n", "20" }, 20, 0 },
	{ "udp", "udp", { "-n", "2000", "-s", "1400" }, 2000, 0 },
	{ "dtls", "dtls", { "-n", "2000" }, 2000, 0 },
	{ "hold", "tcp", { "-c", "300", "-d", "0.2" }, 300, 0 },
	{ "hold", "tls", { "-c", "60", "-d", "0.2" }, 60, 0 },
	/* threads, the open loop, windows, duration */
	{ "rr", "tcp", { "-d", "0.5", "-t", "2", "-c", "8" }, 0, 0 },
	{ "rr", "tls", { "-d", "0.5", "--rate", "2000", "-c", "4" }, 0,
	    1000 },
	{ "udp", "udp", { "-d", "0.5", "--rate", "2000", "-c", "2" }, 0,
	    1000 },
	{ "dtls", "dtls", { "-d", "0.5", "-w", "16", "-t", "2", "-c", "2" },
	    0, 0 },
	{ "bulk", "tls", { "-d", "0.5", "-t", "2", "-c", "2" }, 0, 0 },
};

#define NCASES ((int)(sizeof(cases) / sizeof(*cases)))

/* Asserts the fields every run has, and a clean result. */
static void
assert_clean(const char *js, const char *mode, long count)
{
	static const char *const keys[] = { "duration_s", "ops_per_s",
	    "mb_per_s", "p50", "p90", "p99", "p999", "max", "server_cpu_s",
	    "server_cpu_us_per_op", "server_cpu_s_per_gb",
	    "rss_kib_per_conn", "lost", "conns", "threads", "size", NULL };
	double ops = jget(js, "ops");

	for (const char *const *k = keys; *k != NULL; k++)
		(void)jget(js, *k);
	ck_assert_msg(strstr(js, mode) != NULL, "%s", js);
	ck_assert_msg(ops > 0, "%s", js);
	ck_assert_msg(jget(js, "mismatches") == 0, "%s", js);
	ck_assert_msg(jget(js, "errors") == 0, "%s", js);
	ck_assert_msg(jget(js, "server_cpu_s") >= 0, "%s", js);
	if (count > 0)
		ck_assert_msg(ops + jget(js, "lost") == (double)count, "%s",
		    js);
	if (strcmp(mode, "hold") == 0)
		ck_assert_msg(jget(js, "rss_kib_per_conn") > -1, "%s", js);
}

START_TEST(each_mode)
{
	const struct mode_case *mc = &cases[_i];
	const char *args[24];
	struct tu_result r;
	int n = 0, rc;

	for (const char *const *a = mc->args; *a != NULL; a++)
		args[n++] = *a;
	if (strcmp(mc->proto, "tls") == 0)
		args[n++] = "--tls";
	if (strcmp(mc->proto, "tls") == 0 || strcmp(mc->proto, "dtls") == 0) {
		args[n++] = "--ca";
		args[n++] = tu_cert("ca.pem");
	}
	args[n++] = "--json";
	args[n++] = "--pid";
	start();
	args[n++] = tu_num(srv.proc.pid);
	args[n] = NULL;
	rc = bench(&r, mc->mode, args, "127.0.0.1", tu_server_port(&srv,
	    mc->proto));
	ck_assert_msg(rc == 0, "%s %s: exit %d: %s%s", mc->mode, mc->proto,
	    rc, r.out, r.err);
	assert_clean(r.out, mc->mode, mc->count);
	if (mc->rate_ops > 0) {	/* at the intended times: never more */
		double ops = jget(r.out, "ops");

		ck_assert_msg(ops > 0.5 * (double)mc->rate_ops &&
		    ops <= (double)mc->rate_ops + 1, "%s", r.out);
	}
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/* hs counts full handshakes, and with --resume resumed ones. */
START_TEST(hs_resume)
{
	struct tu_result r;

	start();
	ck_assert_int_eq(bench(&r, "hs", (const char *[]){ "--tls", "--ca",
	    tu_cert("ca.pem"), "-n", "40", "-c", "4", "--resume", "--json",
	    NULL }, "localhost", tu_server_port(&srv, "tls")), 0);
	/*
	 * Only each slot's first connection has no session to offer; the
	 * margin is the server's (a few parallel handshakes over several
	 * workers have been seen to end up full), not the counting's.
	 */
	ck_assert_msg(jget(r.out, "resumed") >= 30, "%s", r.out);
	tu_result_free(&r);
	ck_assert_int_eq(bench(&r, "hs", (const char *[]){ "--tls", "--ca",
	    tu_cert("ca.pem"), "-n", "10", "--json", NULL }, "127.0.0.1",
	    tu_server_port(&srv, "tls")), 0);
	ck_assert_msg(jget(r.out, "resumed") == 0, "%s", r.out);
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

START_TEST(human_table)
{
	struct tu_result r;

	start();
	ck_assert_int_eq(bench(&r, "udp", (const char *[]){ "-n", "100", "-q",
	    NULL }, "127.0.0.1", tu_server_port(&srv, "udp")), 0);
	ck_assert_msg(strstr(r.out, "mode          udp\n") != NULL &&
	    strstr(r.out, "ops           100\n") != NULL &&
	    strstr(r.out, "mismatches    0\n") != NULL &&
	    strstr(r.out, "lost          0\n") != NULL &&
	    strstr(r.out, "latency us    p50 ") != NULL &&
	    strstr(r.out, " p99.9 ") != NULL, "%s", r.out);
	ck_assert_str_eq(r.err, "");
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/* --- deliberately wrong servers --- */

/*
 * A forked echo server on 127.0.0.1 that flips one bit of the byte at
 * flip_at of each connection's stream (or of each datagram), or with
 * flip_at -1 closes every connection at once; -2 hands each to
 * proxy_conn in a child.  Returns its pid.
 */
static int report_fd = -1;	/* proxy_conn's */
static void proxy_conn(int c, int report);

static void
wrong_stream(int lfd, long flip_at)
{
	char buf[65536];
	ssize_t n;
	long off;
	int c;

	if (flip_at == -2)
		signal(SIGCHLD, SIG_IGN);	/* no zombies */
	while ((c = accept(lfd, NULL, NULL)) != -1) {
		if (flip_at == -2 && fork() == 0) {
			alarm(60);
			proxy_conn(c, report_fd);
		}
		for (off = 0; flip_at >= 0 && (n = read(c, buf,
		    sizeof(buf))) > 0; off += n) {
			if (flip_at >= off && flip_at < off + n)
				buf[flip_at - off] ^= 0x01;
			if (tu_write_all(c, buf, (size_t)n) == -1)
				break;
		}
		close(c);
	}
}

static void
wrong_dgram(int fd, long flip_at)
{
	struct sockaddr_storage from;
	char buf[65536];
	long k = 0;

	for (;;) {
		socklen_t len = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0,
		    (struct sockaddr *)&from, &len);

		if (n <= 0)
			break;
		if (k++ == flip_at)
			buf[n - 1] ^= 0x01;
		(void)sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from,
		    len);
	}
}

static pid_t
wrong_server(int dgram, long flip_at, int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, dgram ? SOCK_DGRAM : SOCK_STREAM, 0);
	pid_t pid;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert(fd != -1);
	ck_assert(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	ck_assert(dgram || listen(fd, 64) == 0);
	ck_assert(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
	*port = ntohs(sin.sin_port);
	if ((pid = fork()) == 0) {
		alarm((unsigned)tu_slow(60));	/* should the test die first */
		if (dgram)
			wrong_dgram(fd, flip_at);
		else
			wrong_stream(fd, flip_at);
		_exit(0);
	}
	close(fd);
	ck_assert(pid > 0);
	return pid;
}

static void
reap(pid_t pid)
{
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}

/* One flipped byte in 6400 is caught: exactly one mismatch, exit 6. */
START_TEST(flipped_byte_exit_6)
{
	struct tu_result r;
	int port;
	pid_t pid = wrong_server(0, 3001, &port);

	ck_assert_int_eq(bench(&r, "rr", (const char *[]){ "-c", "1", "-n",
	    "100", "--json", NULL }, "127.0.0.1", port), 6);
	ck_assert_msg(jget(r.out, "mismatches") == 1, "%s", r.out);
	ck_assert_msg(jget(r.out, "ops") == 100, "%s", r.out);
	ck_assert_msg(strstr(r.err, "1 echo differed") != NULL, "%s", r.err);
	tu_result_free(&r);
	ck_assert_int_eq(bench(&r, "bulk", (const char *[]){ "-n", "20",
	    "-q", NULL }, "127.0.0.1", port), 6);
	tu_result_free(&r);
	reap(pid);
	pid = wrong_server(1, 10, &port);
	ck_assert_int_eq(bench(&r, "udp", (const char *[]){ "-n", "100",
	    "--json", NULL }, "127.0.0.1", port), 6);
	ck_assert_msg(jget(r.out, "mismatches") == 1, "%s", r.out);
	tu_result_free(&r);
	reap(pid);
}
END_TEST

/* "ip:port" of a connection's end, to compare with a header's. */
static const char *
end_str(int fd, int peer, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if ((peer ? getpeername(fd, (struct sockaddr *)&ss, &sl) :
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) == -1)
		return "?";
	return secho_sockaddr_str((struct sockaddr *)&ss, buf, len);
}

/*
 * One connection to proxy_server: its v2 header must name the real ends;
 * reports {1, last octet of the source} (or {0, 0}) on report, then
 * echoes the rest of the stream.
 */
static void
proxy_conn(int c, int report)
{
	static unsigned char buf[65536];
	char a[SECHO_ADDRSTR_MAX], b[SECHO_ADDRSTR_MAX];
	unsigned char rep[2] = { 0, 0 };
	struct secho_proxy_info pi;
	size_t len = 0;
	ssize_t n = 0, r;

	while ((n = secho_proxy_parse(buf, len, &pi)) == 0 &&
	    (r = read(c, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)r;
	if (n > 0 && pi.version == 2 && pi.src.ss.ss_family == AF_INET &&
	    strcmp(secho_sockaddr_str((struct sockaddr *)&pi.src.ss, a,
	    sizeof(a)), end_str(c, 1, b, sizeof(b))) == 0 &&
	    strcmp(secho_sockaddr_str((struct sockaddr *)&pi.dst.ss, a,
	    sizeof(a)), end_str(c, 0, b, sizeof(b))) == 0) {
		rep[0] = 1;
		rep[1] = ((unsigned char *)&((struct sockaddr_in *)
		    &pi.src.ss)->sin_addr)[3];
	}
	if (write(report, rep, 2) != 2 || !rep[0] ||
	    tu_write_all(c, buf + n, len - (size_t)n) == -1)
		_exit(1);
	while ((r = read(c, buf, sizeof(buf))) > 0 &&
	    tu_write_all(c, buf, (size_t)r) == 0)
		;
	_exit(0);
}

/*
 * rr --send-proxy=v2 over four sources: every connection's header names
 * its real source (127.0.0.1..4) and destination, and the bench passes.
 */
START_TEST(send_proxy_v2)
{
	unsigned char rep[64];
	struct tu_result r;
	int port, p[2], seen = 0;
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	report_fd = p[1];
	pid = wrong_server(0, -2, &port);
	close(p[1]);
	ck_assert_int_eq(bench(&r, "rr", (const char *[]){ "--send-proxy=v2",
	    "-c", "4", "-n", "40", "--src-addrs", "4", "--json", NULL },
	    "127.0.0.1", port), 0);
	ck_assert_msg(jget(r.out, "ops") == 40, "%s", r.out);
	tu_result_free(&r);
	ck_assert_int_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	n = read(p[0], rep, sizeof(rep));
	ck_assert_int_eq(n, 8);	/* four connections, no reconnects */
	for (ssize_t i = 0; i < n; i += 2) {
		ck_assert_int_eq(rep[i], 1);
		ck_assert(rep[i + 1] >= 1 && rep[i + 1] <= 4);
		seen |= 1 << rep[i + 1];
	}
	ck_assert_int_eq(seen, 0x1e);	/* each of 127.0.0.1..4 */
	close(p[0]);
	reap(pid);
}
END_TEST

/* A server that hangs up on everyone: many failures, exit 2. */
START_TEST(hangups_exit_2)
{
	struct tu_result r;
	int port;
	pid_t pid = wrong_server(0, -1, &port);

	ck_assert_int_eq(bench(&r, "rr", (const char *[]){ "-c", "4", "-d",
	    "2", NULL }, "127.0.0.1", port), 2);
	/* Closed or reset, as the race goes; either way it gives up. */
	ck_assert_msg(strstr(r.err, "giving up after") != NULL, "%s", r.err);
	ck_assert_str_eq(r.out, "");
	tu_result_free(&r);
	reap(pid);
}
END_TEST

START_TEST(refused_exit_2)
{
	static const char *const modes[] = { "rr", "hs", "udp", "dtls",
	    "hold", NULL };
	struct tu_result r;
	int port = tu_free_port(0);

	for (const char *const *m = modes; *m != NULL; m++) {
		ck_assert_int_eq(bench(&r, *m, (const char *[]){ "-d", "1",
		    NULL }, "127.0.0.1", port), 2);
		ck_assert_msg(strstr(r.err, "Connection refused") != NULL,
		    "%s: %s", *m, r.err);
		ck_assert_str_eq(r.out, "");
		tu_result_free(&r);
	}
}
END_TEST

START_TEST(usage_exit_1)
{
	static const char *const bad[][6] = {
		{ "nosuchmode" },
		{ "rr", "--resume" },
		{ "bulk", "--rate", "10" },
		{ "rr", "--ca", "x.pem" },
		{ "udp", "--tls" },
		{ "udp", "-s", "8" },
		{ "dtls", "-s", "20000" },
		{ "hold", "-n", "5" },
		{ "rr", "-w", "4" },
		{ "rr", "-d", "0" },
		{ "rr", "-c", "0" },
		{ "rr", "--pid", "999999999" },
		{ "udp", "--send-proxy" },
		{ "rr", "--send-proxy=v3" },
	};
	struct tu_result r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		ck_assert_msg(bench(&r, bad[i][0], &bad[i][1], "127.0.0.1",
		    7) == 1, "%s %s", bad[i][0], bad[i][1]);
		ck_assert_msg(strstr(r.err, "try 'secho-bench --help'") !=
		    NULL, "%s", r.err);
		tu_result_free(&r);
	}
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-bench"),
	    "--help", NULL }, NULL, 0, 10000, &r), &r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "usage: secho-bench MODE"));
	tu_result_free(&r);
}
END_TEST

Suite *
bench_suite(void)
{
	Suite *s = suite_create("bench");
	TCase *unit = tcase_create("bench-unit");
	TCase *tc = tcase_create("bench");

	tcase_add_test(unit, hist_percentiles);
	tcase_add_test(unit, option_defaults);
	suite_add_tcase(s, unit);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, each_mode, 0, NCASES);
	tcase_add_test(tc, hs_resume);
	tcase_add_test(tc, human_table);
	tcase_add_test(tc, flipped_byte_exit_6);
	tcase_add_test(tc, hangups_exit_2);
	tcase_add_test(tc, refused_exit_2);
	tcase_add_test(tc, usage_exit_1);
	tcase_add_test(tc, send_proxy_v2);
	suite_add_tcase(s, tc);
	return s;
}
