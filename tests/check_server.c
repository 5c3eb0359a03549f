/*
 * check_server.c - the real secho-server, driven over loopback by raw
 * sockets and by libsecho's own client transports: echo exactness, many
 * clients at once, limits, timeouts, hostile peers and the drain.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secho/tls.h"
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

/* A client connection over any stream transport, stepped by poll. */
struct client {
	struct secho_conn c;
	unsigned char *out, *in;
	size_t len, sent, got;
	int hs_done, want;
};

static struct secho_tls *
client_tls(void)
{
	struct secho_tls_opts o = { .ca = tu_cert("ca.pem") };
	struct secho_tls *t = secho_tls_new(&o, SECHO_TLS_CLIENT, 0);

	ck_assert_msg(t != NULL, "client tls: %s", secho_error());
	return t;
}

static void
client_open(struct client *cl, struct secho_tls *t, int port, size_t len,
    unsigned seed)
{
	int fd, to;
	struct secho_sockaddr peer;

	memset(cl, 0, sizeof(*cl));
	fd = secho_net_connect("127.0.0.1", port, 0, 10000, &peer, &to);
	ck_assert_msg(fd != -1, "connect: %s", secho_error());
	if (t != NULL)
		ck_assert_int_eq(secho_tls_conn_init(t, &cl->c, fd,
		    "localhost"), 0);
	else
		secho_conn_init_tcp(&cl->c, fd);
	cl->len = len;
	cl->out = malloc(len);
	cl->in = malloc(len);
	tu_pattern(cl->out, len, seed);
	cl->want = SECHO_WANT_WRITE;
}

/* Advances one client; returns 1 when its echo is complete, -1 on error. */
static int
client_step(struct client *cl)
{
	ssize_t n;
	int rc;

	if (!cl->hs_done) {
		rc = secho_conn_handshake(&cl->c);
		if (rc < 0) {
			cl->want = rc;
			return rc == SECHO_WANT_READ ||
			    rc == SECHO_WANT_WRITE ? 0 : -1;
		}
		cl->hs_done = 1;
	}
	for (;;) {
		if (cl->sent < cl->len) {
			n = secho_conn_write(&cl->c, cl->out + cl->sent,
			    cl->len - cl->sent > 65536 ? 65536 :
			    cl->len - cl->sent);
			if (n > 0) {
				cl->sent += (size_t)n;
				continue;
			}
			if (n != SECHO_WANT_WRITE && n != SECHO_WANT_READ)
				return -1;
			cl->want = (int)n;
		}
		n = secho_conn_read(&cl->c, cl->in + cl->got,
		    cl->len - cl->got);
		if (n > 0) {
			cl->got += (size_t)n;
			if (cl->got == cl->len)
				return 1;
			continue;
		}
		if (n != SECHO_WANT_READ && n != SECHO_WANT_WRITE)
			return -1;
		if (cl->sent == cl->len || n == SECHO_WANT_WRITE)
			cl->want = (int)n;
		return 0;
	}
}

/*
 * Runs n clients to completion concurrently and checks every byte.
 * Returns the number of clients whose echo was complete and exact.
 */
static int
run_clients(struct client *cls, int n, int timeout_ms)
{
	struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));
	int *done = calloc((size_t)n, sizeof(int)), ndone = 0, ok = 0;
	unsigned long long deadline = secho_now_us() +
	    (unsigned long long)tu_slow(timeout_ms) * 1000;

	while (ndone < n && secho_now_us() < deadline) {
		for (int i = 0; i < n; i++) {
			pfd[i].fd = done[i] ? -1 : cls[i].c.fd;
			pfd[i].events = cls[i].want == SECHO_WANT_WRITE ?
			    POLLIN | POLLOUT : POLLIN;
			if (cls[i].sent < cls[i].len)
				pfd[i].events |= POLLOUT;
		}
		if (poll(pfd, (nfds_t)n, 1000) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			int rc;

			if (done[i] || pfd[i].revents == 0)
				continue;
			if ((rc = client_step(&cls[i])) != 0) {
				done[i] = 1;
				ndone++;
				ok += rc == 1 && memcmp(cls[i].in, cls[i].out,
				    cls[i].len) == 0;
			}
		}
	}
	free(pfd);
	free(done);
	return ok;
}

/* Why run_clients() fell short: the first client not fully echoed. */
static const char *
clients_why(struct client *cls, int n)
{
	static char why[2600];
	int i = 0;

	while (i < n - 1 && cls[i].got == cls[i].len)
		i++;
	snprintf(why, sizeof(why), "client %d: %zu of %zu sent, %zu back, "
	    "error '%s'; server log tail: %s", i, cls[i].sent, cls[i].len,
	    cls[i].got, secho_conn_error(&cls[i].c), tu_server_log_tail(&srv));
	return why;
}

static void
client_close(struct client *cl)
{
	secho_conn_close(&cl->c);
	free(cl->out);
	free(cl->in);
}

/* Echoes len bytes over one fresh connection and asserts exactness. */
static void
assert_stream_echo(int port, int tls, size_t len)
{
	struct secho_tls *t = tls ? client_tls() : NULL;
	struct client cl;

	client_open(&cl, t, port, len, (unsigned)len);
	ck_assert_msg(run_clients(&cl, 1, 60000) == 1, "%s",
	    clients_why(&cl, 1));
	client_close(&cl);
	secho_tls_free(t);
}

START_TEST(tcp_small_and_large)
{
	start((const char *[]){ "--tcp", "--port", "0", NULL }, 1);
	assert_stream_echo(srv.port[0], 0, 1);
	assert_stream_echo(srv.port[0], 0, 10 * 1024 * 1024 + 7);
	tu_server_stop_clean(&srv);
}
END_TEST

START_TEST(tls_small_and_large)
{
	start((const char *[]){ "--tls", "--port", "0", TLS_ARGS, NULL }, 1);
	assert_stream_echo(srv.port[0], 1, 5);
	assert_stream_echo(srv.port[0], 1, 10 * 1024 * 1024 + 13);
	tu_server_stop_clean(&srv);
}
END_TEST

/*
 * -v records each connection as it closes: why, bytes echoed and read,
 * its life and handshake time, the worker and local address, and for TLS
 * what the client offered and got (group, SNI, ALPN, JA4, JA3).
 */
START_TEST(closing_line_is_a_record)
{
	static const char *const want[] = { "closed (done, 5 bytes echoed), "
	    "5 bytes read, ", " s, handshake ", " ms, worker ",
	    ", local 127.0.0.1:", ", TLSv1.3 TLS_AES_128_GCM_SHA256 X25519, "
	    "SNI localhost, ALPN echo, JA4 t13d1011eo_", " JA3 ", NULL };
	struct tu_result r;
	char *log;

	start((const char *[]){ "--tls", "--port", "0", "-v", "--alpn",
	    "echo", TLS_ARGS, NULL }, 1);
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"),
	    "--tls", "--ca", tu_cert("ca.pem"), "--alpn", "echo", "-m",
	    "hello", "localhost", tu_num(srv.port[0]), NULL }, NULL, 0, 20000,
	    &r), &r, 0);
	tu_result_free(&r);
	tu_assert_log(&srv, "closed (", 5000);
	log = tu_server_log(&srv);
	for (int i = 0; want[i] != NULL; i++)
		ck_assert_msg(strstr(log, want[i]) != NULL, "no '%s' in: %s",
		    want[i], tu_tail(log, 2000));
	free(log);
	tu_server_stop_clean(&srv);
}
END_TEST

/*
 * --log-format json: every line on stderr is one JSON object (jq reads
 * them all), and each connection's record has its fields by name.
 */
START_TEST(json_log_records)
{
	struct tu_result r, q;
	char *log;

	start((const char *[]){ "--tls", "--tcp", "-l", "tls://127.0.0.1:0",
	    "-l", "tcp://127.0.0.1:0", "-v", "--log-format", "json", TLS_ARGS,
	    NULL }, 2);
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"),
	    "--tls", "--ca", tu_cert("ca.pem"), "-m", "say \"json\"",
	    "localhost", tu_num(tu_server_port(&srv, "tls")), NULL }, NULL, 0,
	    20000, &r), &r, 0);
	tu_result_free(&r);
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"), "-m",
	    "plain", "127.0.0.1", tu_num(tu_server_port(&srv, "tcp")), NULL },
	    NULL, 0, 20000, &r), &r, 0);
	tu_result_free(&r);
	tu_assert_log(&srv, "\"transport\":\"tcp\"", 5000);
	log = tu_server_log(&srv);
	tu_server_stop_clean(&srv);
	/* Each close record, one line of fields; jq fails on any bad line. */
	tu_assert_exit(tu_run((const char *[]){ "/usr/bin/jq", "-r",
	    "select(.event == \"close\") | [.transport, .reason, "
	    ".bytes_echoed, .bytes_read, (.duration_s >= 0), .worker, "
	    "(.local | startswith(\"127.0.0.1:\")), .tls.version // \"-\", "
	    ".tls.group // \"-\", .tls.sni // \"-\", "
	    "(.tls.ja4 // \"-\")[0:4], ((.tls.ja3 // \"\") | length), "
	    "(.handshake_ms // 0) > 0] | map(tostring) | join(\" \")", NULL },
	    log, strlen(log), 20000, &q), &q, 0);
	ck_assert_msg(strstr(q.out, "tls done 10 10 true 0 true TLSv1.3 "
	    "X25519 localhost t13d 32 true\n") != NULL && strstr(q.out,
	    "tcp done 5 5 true 0 true - - - - 0 false\n") != NULL,
	    "records: %s (log: %s)", q.out, tu_tail(log, 2000));
	tu_result_free(&q);
	free(log);
}
END_TEST

/* 250 clients at once on each stream transport, all byte-exact. */
START_TEST(concurrent_clients)
{
	enum { N = 250 };
	struct client *cls = calloc(N, sizeof(*cls));
	struct secho_tls *t;

	/* The default 10 s handshake timeout, scaled for valgrind. */
	start((const char *[]){ "--tcp", "--tls", "--port", "0", TLS_ARGS,
	    "--handshake-timeout", tu_num(tu_slow(10000) / 1000), NULL }, 2);
	t = client_tls();
	for (int tls = 0; tls <= 1; tls++) {
		int port = tu_server_port(&srv, tls ? "tls" : "tcp");

		for (int i = 0; i < N; i++)
			client_open(&cls[i], tls ? t : NULL, port,
			    1000 + (size_t)i * 97, (unsigned)i);
		int ok = run_clients(cls, N, 60000);

		ck_assert_msg(ok == N, "%d of %d echoed; %s", ok, N,
		    clients_why(cls, N));
		for (int i = 0; i < N; i++)
			client_close(&cls[i]);
	}
	secho_tls_free(t);
	free(cls);
	tu_server_stop_clean(&srv);
}
END_TEST

static void
assert_dgram_echo(int fd, size_t len, unsigned seed)
{
	unsigned char *out = malloc(len + 1), *in = malloc(65536);
	size_t got;

	tu_pattern(out, len, seed);
	ck_assert_int_eq(send(fd, out, len, 0), (ssize_t)len);
	got = (size_t)recv(fd, in, 65536, 0);
	ck_assert_uint_eq(got, len);
	ck_assert(memcmp(in, out, len) == 0);
	free(out);
	free(in);
}

/* A UDP socket connected to host:port (numeric). */
static int
connect_to(const char *host, int port)
{
	struct secho_sockaddr peer;
	int to, fd = secho_net_connect(host, port, 1, 5000, &peer, &to);

	ck_assert_msg(fd != -1, "%s", secho_error());
	secho_net_set_nonblock(fd, 0);
	return fd;
}

START_TEST(udp_datagrams)
{
	struct timeval tv = { .tv_sec = 5 };
	int fd;

	start((const char *[]){ "--udp", "--port", "0", NULL }, 1);
	fd = tu_connect(srv.port[0], 1);
	ck_assert_int_ne(fd, -1);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_dgram_echo(fd, 0, 1);		/* empty datagrams too */
	assert_dgram_echo(fd, 1, 2);
	assert_dgram_echo(fd, 1400, 3);
	assert_dgram_echo(fd, 65507, 4);	/* the largest UDP payload */
	close(fd);
	/*
	 * Bound to every address, the server must answer from the one the
	 * client used: a connected socket drops replies from elsewhere.
	 */
	fd = connect_to("127.0.0.2", srv.port[0]);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_dgram_echo(fd, 100, 5);
	close(fd);
	fd = connect_to("::1", srv.port[0]);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_dgram_echo(fd, 100, 6);
	close(fd);
	tu_server_stop_clean(&srv);
}
END_TEST

/*
 * One flow's datagrams are echoed in the order they came, however many
 * workers the server runs: a tool that measures networks must not invent
 * reordering.  Bursts of 8 large datagrams (numbered) from one client,
 * each burst read back before the next, with 4 workers.
 */
START_TEST(udp_order_with_workers)
{
	enum { BURSTS = 500, PER = 8, MAXLEN = 8192 };
	unsigned char *buf = malloc(MAXLEN);
	struct timeval tv = { .tv_sec = 5 };
	int fd, reordered = 0, first = -1;

	start((const char *[]){ "--udp", "--port", "0", "--workers", "4",
	    NULL }, 1);
	fd = tu_connect(srv.port[0], 1);
	ck_assert_int_ne(fd, -1);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (int b = 0; b < BURSTS; b++) {
		int last = -1, bad = 0;

		for (int i = 0; i < PER; i++) {
			size_t len = 1200 + (size_t)(i * 997 + b * 131) %
			    (MAXLEN - 1200);

			memset(buf, 0, len);
			memcpy(buf, &i, sizeof(i));
			ck_assert_int_eq(send(fd, buf, len, 0), (ssize_t)len);
		}
		for (int i = 0; i < PER; i++) {
			int seq;
			ssize_t n = recv(fd, buf, MAXLEN, 0);

			ck_assert_msg(n >= (ssize_t)sizeof(seq),
			    "burst %d: echo %d of %d lost", b, i + 1, PER);
			memcpy(&seq, buf, sizeof(seq));
			bad |= seq < last;
			last = seq;
		}
		reordered += bad;
		if (bad && first == -1)
			first = b;
	}
	ck_assert_msg(reordered == 0, "%d of %d bursts came back out of "
	    "order (the first: burst %d)", reordered, BURSTS, first);
	close(fd);
	free(buf);
	tu_server_stop_clean(&srv);
}
END_TEST

START_TEST(port_in_use)
{
	struct tu_result r;
	char port[16];
	struct tu_server first;
	const char *argv[] = { tu_bin("secho-server"), "--tcp", "--port",
	    port, NULL };

	ck_assert_int_eq(tu_server_start(&first,
	    (const char *[]){ "--tcp", "--port", "0", NULL }, 1), 0);
	snprintf(port, sizeof(port), "%d", first.port[0]);
	tu_assert_exit(tu_run(argv, NULL, 0, 10000, &r), &r, 2);
	ck_assert_msg(strstr(r.err, "cannot bind [::]:") != NULL &&
	    strstr(r.err, ": Address already in use") != NULL,
	    "stderr: %s", r.err);
	tu_result_free(&r);
	/* The tls listener binds first, then tcp fails: no "listening" line
	 * may claim a readiness the server never reached. */
	{
		const char *argv2[] = { tu_bin("secho-server"), "-l",
		    "tls://127.0.0.1:0", "-l", "tcp://:0", "-l", NULL, NULL };
		char spec[64];

		snprintf(spec, sizeof(spec), "tcp://:%s", port);
		argv2[6] = spec;
		tu_assert_exit(tu_run(argv2, NULL, 0, 10000, &r), &r, 2);
		ck_assert_msg(strstr(r.out, "listening") == NULL, "%s", r.out);
		tu_result_free(&r);
	}
	ck_assert(tu_server_alive(&first));
	tu_assert_exit(tu_server_stop(&first, &r), &r, 0);
	tu_result_free(&r);
}
END_TEST

static void
assert_setup_fails(const char *cert, const char *key, const char *want)
{
	struct tu_result r;
	const char *argv[] = { tu_bin("secho-server"), "--tls", "--port", "0",
	    "--cert", cert, "--key", key, NULL };

	tu_assert_exit(tu_run(argv, NULL, 0, 10000, &r), &r, 2);
	ck_assert_msg(strstr(r.err, want) != NULL, "want '%s' in: %s", want,
	    r.err);
	ck_assert_msg(strstr(r.out, "listening") == NULL, "it listened");
	tu_result_free(&r);
}

START_TEST(bad_cert_and_key)
{
	char want[1024], dir[300], none[320];

	snprintf(dir, sizeof(dir), "%s", tu_tmpdir());
	snprintf(none, sizeof(none), "%s/none.pem", dir);
	snprintf(want, sizeof(want), "secho-server: cannot read certificate "
	    "%s: No such file or directory (run 'make certs' to create it)",
	    none);
	assert_setup_fails(none, tu_cert("server.key"), want);
	snprintf(want, sizeof(want), "secho-server: certificate %s does not "
	    "match private key %s", tu_cert("server.pem"),
	    tu_cert("client.key"));
	assert_setup_fails(tu_cert("server.pem"), tu_cert("client.key"),
	    want);
	/* A directory is unreadable as a file, even for root. */
	snprintf(want, sizeof(want), "cannot load certificate %s", dir);
	assert_setup_fails(dir, tu_cert("server.key"), want);
	/* An encrypted key: refused with a reason, never a prompt. */
	{
		char enc[400];
		struct tu_result r;

		snprintf(enc, sizeof(enc), "%s/enc.key", dir);
		tu_assert_exit(tu_run((const char *[]){ "/usr/bin/openssl",
		    "pkey", "-in", tu_cert("server.key"), "-aes256",
		    "-passout", "pass:secret", "-out", enc, NULL }, NULL, 0,
		    10000, &r), &r, 0);
		tu_result_free(&r);
		snprintf(want, sizeof(want), "secho-server: private key %s is "
		    "encrypted", enc);
		assert_setup_fails(tu_cert("server.pem"), enc, want);
	}
}
END_TEST

/* The listener survives a plain client on its TLS port. */
START_TEST(plain_client_on_tls_port)
{
	char buf[64];
	int fd;
	ssize_t n;

	start((const char *[]){ "--tls", "--port", "0", "-v", TLS_ARGS,
	    NULL }, 1);
	fd = tu_connect(srv.port[0], 0);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(tu_write_all(fd, "hello, plain\n", 13), 0);
	/* No echo: at most a TLS alert record, then the server closes. */
	n = (ssize_t)tu_read_full(fd, buf, sizeof(buf), tu_slow(10000));
	ck_assert_msg(n == 0 || (unsigned char)buf[0] == 0x15,
	    "got %zd bytes starting 0x%02x", n, (unsigned char)buf[0]);
	close(fd);
	assert_stream_echo(srv.port[0], 1, 100);
	tu_server_stop_clean(&srv);
	{
		char *log = tu_server_log(&srv);

		ck_assert_msg(strstr(log, "does not speak TLS") != NULL,
		    "log: %s", log);
		free(log);
	}
}
END_TEST

/* A silent client is dropped at the handshake deadline. */
START_TEST(handshake_timeout)
{
	unsigned long long t0;
	char c;
	int fd;

	start((const char *[]){ "--tls", "--port", "0", TLS_ARGS,
	    "--handshake-timeout", "0.3", NULL }, 1);
	fd = tu_connect(srv.port[0], 0);
	t0 = secho_now_us();
	ck_assert_uint_eq(tu_read_full(fd, &c, 1, tu_slow(10000)), 0);
	ck_assert_msg(secho_now_us() - t0 < tu_slow(5000) * 1000ULL,
	    "not closed in time");
	ck_assert_msg(secho_now_us() - t0 >= 250000ULL, "closed too early");
	close(fd);
	assert_stream_echo(srv.port[0], 1, 10);
	tu_server_stop_clean(&srv);
}
END_TEST

START_TEST(idle_timeout)
{
	char c;
	int fd;

	start((const char *[]){ "--tcp", "--port", "0", "--idle-timeout",
	    "0.3", NULL }, 1);
	fd = tu_connect(srv.port[0], 0);
	ck_assert_int_eq(tu_write_all(fd, "x", 1), 0);
	ck_assert_uint_eq(tu_read_full(fd, &c, 1, tu_slow(5000)), 1);
	/* closed */
	ck_assert_uint_eq(tu_read_full(fd, &c, 1, tu_slow(10000)), 0);
	close(fd);
	tu_server_stop_clean(&srv);
}
END_TEST

/*
 * --idle-timeout 0 is none: a silent connection lives until
 * --max-lifetime, not closed at once.
 */
START_TEST(idle_timeout_zero)
{
	unsigned long long t0;
	char c;
	int fd;

	start((const char *[]){ "--tcp", "--port", "0", "--idle-timeout",
	    "0", "--max-lifetime", "1", NULL }, 1);
	fd = tu_connect(srv.port[0], 0);
	t0 = secho_now_us();
	ck_assert_uint_eq(tu_read_full(fd, &c, 1, 10000), 0);	/* closed */
	ck_assert_msg(secho_now_us() - t0 >= 900000ULL, "closed after %.3f s",
	    (secho_now_us() - t0) / 1e6);
	ck_assert_msg(secho_now_us() - t0 < tu_slow(5000) * 1000ULL,
	    "not closed in time");
	close(fd);
	tu_server_stop_clean(&srv);
}
END_TEST

/*
 * A client that sends and never reads fills the kernel buffers; the
 * server then stops reading it, so its memory stays flat, and others are
 * still served.
 */
START_TEST(never_reads_bounded_memory)
{
	enum { CHUNK = 65536 };
	static unsigned char buf[CHUNK];
	size_t pushed = 0;
	long before, after;
	int fd;

	start((const char *[]){ "--tcp", "--port", "0", NULL }, 1);
	assert_stream_echo(srv.port[0], 0, 1000);
	before = tu_rss_kib(srv.proc.pid);
	fd = tu_connect(srv.port[0], 0);
	/* Push until the whole path is full (send would block for 2 s). */
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		ssize_t n;

		if (poll(&pfd, 1, 2000) <= 0)
			break;
		n = send(fd, buf, CHUNK, MSG_DONTWAIT);
		if (n <= 0)
			break;
		pushed += (size_t)n;
		ck_assert_msg(pushed < (size_t)1 << 30, "server reads forever");
	}
	after = tu_rss_kib(srv.proc.pid);
	ck_assert_msg(after - before < 4096, "RSS grew %ld KiB after %zu "
	    "bytes pushed", after - before, pushed);
	assert_stream_echo(srv.port[0], 0, 100000);
	close(fd);
	tu_server_stop_clean(&srv);
}
END_TEST

/* A reset in the middle of an echo harms nobody else. */
START_TEST(reset_mid_echo)
{
	static unsigned char buf[1 << 20];
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	start((const char *[]){ "--tcp", "--tls", "--port", "0", TLS_ARGS,
	    NULL }, 2);
	for (int i = 0; i < srv.nports; i++) {
		int fd = tu_connect(srv.port[i], 0);

		send(fd, buf, sizeof(buf), MSG_DONTWAIT);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);	/* RST */
	}
	assert_stream_echo(tu_server_port(&srv, "tcp"), 0, 200000);
	assert_stream_echo(tu_server_port(&srv, "tls"), 1, 200000);
	tu_server_stop_clean(&srv);
}
END_TEST

START_TEST(max_conns)
{
	int fds[3], extra;
	char c;

	start((const char *[]){ "--tcp", "--port", "0", "--max-conns", "3",
	    "-v", NULL }, 1);
	for (int i = 0; i < 3; i++) {
		fds[i] = tu_connect(srv.port[0], 0);
		/* An echo proves the server holds this one. */
		ck_assert_int_eq(tu_write_all(fds[i], "k", 1), 0);
		ck_assert_uint_eq(tu_read_full(fds[i], &c, 1, tu_slow(5000)),
		    1);
	}
	extra = tu_connect(srv.port[0], 0);
	tu_write_all(extra, "k", 1);
	ck_assert_uint_eq(tu_read_full(extra, &c, 1, 5000), 0);
	close(extra);
	close(fds[0]);
	/*
	 * A freed slot is usable again.  The server learns of the close
	 * asynchronously, so retry (refusals are immediate) for up to 10 s
	 * (scaled for valgrind).
	 */
	for (unsigned long long t0 = secho_now_us();
	    secho_now_us() - t0 < tu_slow(10000) * 1000ULL;) {
		extra = tu_connect(srv.port[0], 0);
		tu_write_all(extra, "k", 1);
		if (tu_read_full(extra, &c, 1, 2000) == 1)
			break;
		close(extra);
		extra = -1;
	}
	{
		char *log = tu_server_log(&srv);

		ck_assert_msg(extra != -1, "no slot freed; log: %s", log);
		free(log);
	}
	close(extra);
	close(fds[1]);
	close(fds[2]);
	tu_server_stop_clean(&srv);
}
END_TEST

/*
 * SIGTERM: bytes that reached the server before the signal still come
 * back, in order, and the server exits 0.  64 KiB fits the loopback
 * receive buffer, so all of it has arrived when send() returns.
 */
START_TEST(sigterm_drains)
{
	enum { LEN = 65536 };
	unsigned char *out = malloc(LEN), *in = malloc(LEN + 1);
	struct tu_result r;
	ssize_t sent;
	int fd;

	start((const char *[]){ "--tcp", "--port", "0", "-v", NULL }, 1);
	fd = tu_connect(srv.port[0], 0);
	tu_pattern(out, LEN, 7);
	sent = send(fd, out, LEN, MSG_DONTWAIT);
	ck_assert_int_gt(sent, 0);
	kill(srv.proc.pid, SIGTERM);
	{
		size_t got = tu_read_full(fd, in, LEN + 1, tu_slow(10000));
		char *log = tu_server_log(&srv);

		ck_assert_msg(got == (size_t)sent, "got %zu of %zd (%s); log: %s",
		    got, sent, strerror(errno), log);
		free(log);
	}
	ck_assert(memcmp(in, out, (size_t)sent) == 0);
	close(fd);
	tu_assert_exit(tu_wait(&srv.proc, 15000, &r), &r, 0);
	ck_assert_msg(strstr(r.err, "shutting down") != NULL, "%s", r.err);
	tu_result_free(&r);
	free(out);
	free(in);
}
END_TEST

/*
 * SIGTERM while a TLS client is mid-handshake (its ClientHello already
 * sent): it is let finish and its echo comes back.
 */
START_TEST(sigterm_mid_handshake)
{
	struct secho_tls *t;
	struct client cl;
	struct tu_result r;

	start((const char *[]){ "--tls", "--port", "0", "-v", TLS_ARGS, NULL },
	    1);
	t = client_tls();
	/* Stopped, the server cannot have accepted anything yet. */
	kill(srv.proc.pid, SIGSTOP);
	client_open(&cl, t, srv.port[0], 1000, 3);
	ck_assert_int_eq(client_step(&cl), 0);	/* ClientHello out */
	kill(srv.proc.pid, SIGTERM);
	kill(srv.proc.pid, SIGCONT);
	if (run_clients(&cl, 1, 20000) != 1) {
		char *log = tu_server_log(&srv);

		ck_abort_msg("no echo (client: '%s', %zu sent, %zu back); "
		    "server log: %s", secho_conn_error(&cl.c), cl.sent, cl.got,
		    log);
	}
	client_close(&cl);
	secho_tls_free(t);
	tu_assert_exit(tu_wait(&srv.proc, 15000, &r), &r, 0);
	tu_result_free(&r);
}
END_TEST

Suite *
server_suite(void)
{
	Suite *s = suite_create("server");
	TCase *tc = tcase_create("server");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, tcp_small_and_large);
	tcase_add_test(tc, tls_small_and_large);
	tcase_add_test(tc, closing_line_is_a_record);
	tcase_add_test(tc, json_log_records);
	tcase_add_test(tc, concurrent_clients);
	tcase_add_test(tc, udp_datagrams);
	tcase_add_test(tc, udp_order_with_workers);
	tcase_add_test(tc, port_in_use);
	tcase_add_test(tc, bad_cert_and_key);
	tcase_add_test(tc, plain_client_on_tls_port);
	tcase_add_test(tc, handshake_timeout);
	tcase_add_test(tc, idle_timeout);
	tcase_add_test(tc, idle_timeout_zero);
	tcase_add_test(tc, never_reads_bounded_memory);
	tcase_add_test(tc, reset_mid_echo);
	tcase_add_test(tc, max_conns);
	tcase_add_test(tc, sigterm_drains);
	tcase_add_test(tc, sigterm_mid_handshake);
	suite_add_tcase(s, tc);
	return s;
}
