/*
 * check_dtls.c - DTLS 1.2 through the real secho-server: echo, many
 * clients at once, records up to the largest size, lost handshake
 * datagrams (retransmission), cookie-less ClientHello floods and garbage,
 * and openssl s_client as an independent DTLS client.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secho/tls.h"
#include "testutil.h"

#define TLS_ARGS "--cert", tu_cert("server.pem"), "--key", \
	tu_cert("server.key")

static struct tu_server srv;

/* The default 10 s handshake timeout, scaled: under valgrind a hundred
 * handshakes at once take longer than that. */
static void
start(void)
{
	ck_assert_int_eq(tu_server_start(&srv, (const char *[]){ "--dtls",
	    "--port", "0", "-v", "--handshake-timeout",
	    tu_num(tu_slow(10000) / 1000), TLS_ARGS, NULL }, 1), 0);
}


/* secho-client --dtls with stdin; asserts exit 0 and an exact echo. */
static void
assert_client_echo(int port, const void *in, size_t len, const char *size)
{
	struct tu_result r;
	const char *argv[] = { tu_bin("secho-client"), "--dtls", "--ca",
	    tu_cert("ca.pem"), "localhost", tu_num(port), NULL, NULL, NULL,
	    NULL, NULL };

	if (size != NULL) {	/* ping mode: one probe of that size */
		argv[6] = "-c";
		argv[7] = "1";
		argv[8] = "-s";
		argv[9] = size;
	}
	tu_assert_exit(tu_run(argv, in, len, 60000, &r), &r, 0);
	if (size == NULL) {
		ck_assert_uint_eq(r.outlen, len);
		ck_assert(memcmp(r.out, in, len) == 0);
	}
	tu_result_free(&r);
}

START_TEST(echo_and_stream)
{
	size_t len = 2 * 1024 * 1024;
	char *data = malloc(len);

	start();
	tu_pattern(data, len, 5);
	assert_client_echo(srv.port[0], "hello dtls\n", 11, NULL);
	/* Answered from the address it was sent to, whichever that is. */
	{
		struct tu_result r;

		tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"),
		    "--dtls", "--insecure", "-m", "via 127.0.0.2", "127.0.0.2",
		    tu_num(srv.port[0]), NULL }, NULL, 0, 30000, &r), &r, 0);
		ck_assert_str_eq(r.out, "via 127.0.0.2\n");
		tu_result_free(&r);
	}
	assert_client_echo(srv.port[0], data, len, NULL);
	/* Records from tiny to the largest DTLS plaintext. */
	assert_client_echo(srv.port[0], NULL, 0, "1");
	assert_client_echo(srv.port[0], NULL, 0, "1400");
	assert_client_echo(srv.port[0], NULL, 0, "16384");
	free(data);
	tu_server_stop_clean(&srv);
}
END_TEST

/* In-process DTLS clients stepped together: many handshakes at once. */
struct dclient {
	struct secho_conn c;
	char msg[64], got[64];
	int hs, sent, done, want;
};

static int
dclient_step(struct dclient *d)
{
	ssize_t n;
	int rc;

	if (!d->hs) {
		rc = secho_conn_handshake(&d->c);
		if (rc == SECHO_WANT_READ || rc == SECHO_WANT_WRITE)
			return (d->want = rc), 0;
		if (rc == SECHO_IO_EOF && secho_conn_error(&d->c)[0] == '\0')
			secho_conn_set_error(&d->c, "EOF in the handshake");
		if (rc != 0)
			return -1;
		d->hs = 1;
	}
	if (!d->sent) {
		n = secho_conn_write(&d->c, d->msg, strlen(d->msg));
		if (n == SECHO_WANT_READ || n == SECHO_WANT_WRITE)
			return (d->want = (int)n), 0;
		if (n >= 0 && n != (ssize_t)strlen(d->msg))
			secho_conn_set_error(&d->c, "short write: %zd of %zu "
			    "bytes", n, strlen(d->msg));
		if (n != (ssize_t)strlen(d->msg))
			return -1;
		d->sent = 1;
	}
	n = secho_conn_read(&d->c, d->got, sizeof(d->got) - 1);
	if (n == SECHO_WANT_READ || n == SECHO_WANT_WRITE)
		return (d->want = (int)n), 0;
	/* Every failure says what it was: a bare EOF or a wrong echo
	 * leaves no transport message of its own. */
	if (n == SECHO_IO_EOF)
		secho_conn_set_error(&d->c, "the server ended the session "
		    "(close_notify) before its echo came");
	if (n <= 0)
		return -1;
	d->got[n] = '\0';
	if (strcmp(d->got, d->msg) == 0)
		return 1;
	secho_conn_set_error(&d->c, "the echo was '%s'", d->got);
	return -1;
}

START_TEST(hundred_clients)
{
	enum { N = 100 };
	struct secho_tls_opts o = { .ca = tu_cert("ca.pem") };
	struct dclient *d = calloc(N, sizeof(*d));
	struct pollfd pfd[N];
	struct secho_tls *t;
	unsigned long long deadline;
	int ok = 0, ndone = 0;
	char first_err[256] = "none";

	start();
	t = secho_tls_new(&o, SECHO_TLS_CLIENT, 1);
	ck_assert_ptr_nonnull(t);
	for (int i = 0; i < N; i++) {
		struct secho_sockaddr peer;
		int to, fd = secho_net_connect("127.0.0.1", srv.port[0], 1,
		    5000, &peer, &to);

		ck_assert_int_ne(fd, -1);
		ck_assert_int_eq(secho_tls_conn_init(t, &d[i].c, fd,
		    "127.0.0.1"), 0);
		snprintf(d[i].msg, sizeof(d[i].msg), "dtls client %d", i);
		d[i].want = SECHO_WANT_WRITE;	/* it speaks first */
	}
	/* 50 s, not 60: under valgrind tu_slow(60000) would be the whole
	 * Check limit (120 s x CK_TIMEOUT_MULTIPLIER 5), and Check's kill
	 * says nothing; this leaves it room to say why. */
	deadline = secho_now_us() + tu_slow(50000) * 1000ULL;
	while (ndone < N && secho_now_us() < deadline) {
		for (int i = 0; i < N; i++) {
			pfd[i].fd = d[i].done ? -1 : d[i].c.fd;
			pfd[i].events = d[i].want == SECHO_WANT_WRITE ?
			    POLLOUT : POLLIN;
			pfd[i].revents = 0;
		}
		if (poll(pfd, N, 200) == 0) {
			/* Quiet: a datagram was lost; DTLS retransmits. */
			for (int i = 0; i < N; i++)
				if (!d[i].done)
					secho_conn_handle_timeout(&d[i].c);
			continue;
		}
		for (int i = 0; i < N; i++) {
			int rc;

			if (d[i].done || pfd[i].revents == 0)
				continue;
			if ((rc = dclient_step(&d[i])) != 0) {
				if (rc < 0 && ndone - ok == 0)
					snprintf(first_err, sizeof(first_err),
					    "client %d: %s", i,
					    secho_conn_error(&d[i].c));
				d[i].done = 1;
				ndone++;
				ok += rc == 1;
			}
		}
	}
	ck_assert_msg(ok == N, "%d of %d clients echoed; %d failed (first: "
	    "%s), %d still unfinished after %d s; server log tail: %s", ok, N,
	    ndone - ok, first_err, N - ndone, tu_slow(50000) / 1000,
	    tu_server_log_tail(&srv));
	for (int i = 0; i < N; i++)
		secho_conn_close(&d[i].c);
	secho_tls_free(t);
	free(d);
	tu_server_stop_clean(&srv);
}
END_TEST

/*
 * A relay between client and server that drops the first datagram of the
 * server's second flight (ServerHello...): the handshake must still
 * complete through retransmission.  Runs in a child process.
 */
static void
lossy_relay(int front, int server_port, int drop_nth, int dup_nth)
{
	struct sockaddr_storage client;
	socklen_t clen = sizeof(client);
	int back = tu_connect(server_port, 1), from_server = 0, from_client = 0;
	char buf[65536];

	for (;;) {
		struct pollfd pfd[2] = { { .fd = front, .events = POLLIN },
		    { .fd = back, .events = POLLIN } };
		ssize_t n;

		if (poll(pfd, 2, 30000) <= 0)
			_exit(0);
		if (pfd[0].revents & POLLIN) {
			n = recvfrom(front, buf, sizeof(buf), 0,
			    (struct sockaddr *)&client, &clen);
			if (n >= 0 && ++from_client == dup_nth) {
				/* Both copies in one call: queued together
				 * before the server can read the first. */
				struct iovec iov = { buf, (size_t)n };
				struct mmsghdr m[2] = { { .msg_hdr = {
				    .msg_iov = &iov, .msg_iovlen = 1 } },
				    { .msg_hdr = { .msg_iov = &iov,
				    .msg_iovlen = 1 } } };

				sendmmsg(back, m, 2, 0);
			} else if (n >= 0)
				send(back, buf, (size_t)n, 0);
		}
		if (pfd[1].revents & POLLIN) {
			n = recv(back, buf, sizeof(buf), 0);
			if (n >= 0 && ++from_server != drop_nth)
				sendto(front, buf, (size_t)n, 0,
				    (struct sockaddr *)&client, clen);
		}
	}
}

START_TEST(lost_handshake_datagram)
{
	struct secho_sockaddr bound;
	struct tu_result r;
	unsigned long long t0;
	int front, st;
	pid_t pid;

	start();
	front = secho_net_listen("127.0.0.1", 0, 1, 0, 0, &bound);
	ck_assert_int_ne(front, -1);
	secho_net_set_nonblock(front, 0);
	if ((pid = fork()) == 0)
		lossy_relay(front, srv.port[0], 2, 0);
	t0 = secho_now_us();
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"),
	    "--dtls", "-m", "through loss", "--ca", tu_cert("ca.pem"),
	    "127.0.0.1", tu_num(ntohs(((struct sockaddr_in *)&bound.ss)->
	    sin_port)), NULL }, NULL, 0, 30000, &r), &r, 0);
	ck_assert_str_eq(r.out, "through loss\n");
	tu_result_free(&r);
	/* It took a retransmission timer (1 s) to get through. */
	ck_assert_uint_ge(secho_now_us() - t0, 900000ULL);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	close(front);
	tu_server_stop_clean(&srv);
}
END_TEST

/*
 * A client's ClientHello with its cookie arrives twice before the server
 * has read it once (a retransmission while the server was busy): the
 * client gets one socket and one session, not a second socket for the
 * same address and port that would take its datagrams from the first
 * (seen: 3 to 12 of hundred_clients' 100 under valgrind and load lost
 * their echo that way).
 */
START_TEST(repeated_client_hello)
{
	struct secho_sockaddr bound;
	struct tu_result r;
	int front, st, accepted = 0;
	pid_t pid;
	char *log;

	start();
	front = secho_net_listen("127.0.0.1", 0, 1, 0, 0, &bound);
	ck_assert_int_ne(front, -1);
	secho_net_set_nonblock(front, 0);
	if ((pid = fork()) == 0)
		lossy_relay(front, srv.port[0], 0, 2);
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"),
	    "--dtls", "-m", "said twice", "--ca", tu_cert("ca.pem"),
	    "127.0.0.1", tu_num(ntohs(((struct sockaddr_in *)&bound.ss)->
	    sin_port)), NULL }, NULL, 0, 30000, &r), &r, 0);
	ck_assert_str_eq(r.out, "said twice\n");
	tu_result_free(&r);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	close(front);
	tu_server_stop(&srv, &r);
	log = r.err;
	for (const char *p = log; (p = strstr(p, ": accepted (")) != NULL; p++)
		accepted++;
	/* (The copies almost always both wait at the listener, which then
	 * logs "dropped a repeated ClientHello"; should the second come
	 * after the client has its socket, that socket takes it.) */
	ck_assert_msg(accepted == 1, "%d sockets for one client: %s",
	    accepted, tu_tail(log, 2000));
	ck_assert_int_eq(r.status, 0);
	tu_result_free(&r);
}
END_TEST

static void
flood(const int *fds, int nfds, const void *hello, size_t len, int count)
{
	for (int i = 0; i < count; i++) {
		struct pollfd pfd = { .fd = fds[i % nfds], .events = POLLOUT };

		poll(&pfd, 1, 1000);
		send(fds[i % nfds], hello, len, MSG_DONTWAIT);
	}
}

START_TEST(hello_flood_keeps_memory_flat)
{
	enum { FLOOD = 20000, SOCKS = 50 };
	unsigned char hello[2048];
	struct secho_sockaddr bound;
	int sink, fds[SOCKS], to;
	ssize_t len;
	long before, after;
	char *log;

	start();
	tu_assert_echo("dtls", srv.port[0], "warm up");
	/* A real ClientHello without a cookie, read off a socket of ours. */
	{
		struct secho_tls_opts o = { .insecure = 1 };
		struct secho_tls *t = secho_tls_new(&o, SECHO_TLS_CLIENT, 1);
		struct secho_sockaddr peer;
		struct secho_conn c;
		int fd;

		sink = secho_net_listen("127.0.0.1", 0, 1, 0, 0, &bound);
		fd = secho_net_connect("127.0.0.1", ntohs(((struct sockaddr_in *)
		    &bound.ss)->sin_port), 1, 5000, &peer, &to);
		ck_assert_int_eq(secho_tls_conn_init(t, &c, fd, "x"), 0);
		ck_assert_int_eq(secho_conn_handshake(&c), SECHO_WANT_READ);
		secho_net_set_nonblock(sink, 0);
		len = recv(sink, hello, sizeof(hello), 0);
		ck_assert_int_gt(len, 50);
		ck_assert_int_eq(hello[0], 22);	/* handshake record */
		secho_conn_close(&c);
		secho_tls_free(t);
		close(sink);
	}
	for (int i = 0; i < SOCKS; i++)
		fds[i] = tu_connect(srv.port[0], 1);
	/*
	 * Two equal floods: the first brings the allocator to its steady
	 * state, the second must not grow memory at all (the server keeps
	 * no state for cookie-less hellos).
	 */
	flood(fds, SOCKS, hello, (size_t)len, FLOOD);
	tu_assert_echo("dtls", srv.port[0], "between floods");
	before = tu_rss_kib(srv.proc.pid);
	flood(fds, SOCKS, hello, (size_t)len, FLOOD);
	after = tu_rss_kib(srv.proc.pid);
	/* ASan's allocator keeps shadow and size-class caches that grow
	 * on their own, and so does memcheck's heap with its freed-blocks
	 * queue; the plain build is the one that measures. */
	if ((getenv("SECHO_SAN") == NULL || strcmp(getenv("SECHO_SAN"), "1"))
	    && !tu_valgrind())
		ck_assert_msg(after - before < 512, "RSS grew %ld KiB",
		    after - before);
	/* Garbage too: the listener shrugs it off. */
	for (int i = 0; i < SOCKS; i++)
		send(fds[i], "garbage\n", 8, 0);
	tu_assert_echo("dtls", srv.port[0], "still serving");
	/* And while a flood is on, a real client is served alongside it. */
	{
		struct tu_proc ping;
		struct tu_result r;

		ck_assert_int_eq(tu_spawn(&ping, (const char *[]){
		    tu_bin("secho-client"), "--dtls", "-c", "20", "-i", "0",
		    "-q", "-t", "5", "--ca", tu_cert("ca.pem"), "127.0.0.1",
		    tu_num(srv.port[0]), NULL }, NULL), 0);
		flood(fds, SOCKS, hello, (size_t)len, FLOOD);
		tu_assert_exit(tu_wait(&ping, 60000, &r), &r, 0);
		ck_assert_msg(strstr(r.out, "20 received") != NULL, "%s",
		    r.out);
		tu_result_free(&r);
	}
	for (int i = 0; i < SOCKS; i++) {
		char buf[512];

		/* Each got stateless HelloVerifyRequests back. */
		ck_assert_int_gt(recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT), 0);
		ck_assert_int_eq((unsigned char)buf[0], 22);
		close(fds[i]);
	}
	tu_server_stop_clean(&srv);
	log = tu_server_log(&srv);
	/* Only the two real clients got a connection. */
	{
		int accepted = 0;

		for (char *p = log; (p = strstr(p, "accepted")) != NULL; p++)
			accepted++;
		ck_assert_int_eq(accepted, 4);
	}
	free(log);
}
END_TEST

/* openssl s_client -dtls1_2 as an independent DTLS client. */
START_TEST(s_client_dtls)
{
	struct tu_result r;
	char connect[64];

	ck_assert_int_eq(tu_server_start(&srv, (const char *[]){ "--dtls",
	    "--port", "0", "--idle-timeout", "1", TLS_ARGS, NULL }, 1), 0);
	snprintf(connect, sizeof(connect), "127.0.0.1:%d", srv.port[0]);
	tu_assert_exit(tu_run((const char *[]){ "/usr/bin/openssl",
	    "s_client", "-dtls1_2", "-ign_eof", "-connect", connect,
	    "-CAfile", tu_cert("ca.pem"), "-verify_return_error", NULL },
	    "dtls interop\n", 13, 30000, &r), &r, 0);
	ck_assert_msg(strstr(r.out, "dtls interop\n") != NULL, "%s", r.out);
	ck_assert_msg(strstr(r.out, "DTLSv1.2") != NULL, "%s", r.out);
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/* A second server on the same DTLS port is refused, not load-shared. */
START_TEST(port_in_use)
{
	struct tu_result r;

	start();
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-server"),
	    "--dtls", "--port", tu_num(srv.port[0]), TLS_ARGS, NULL }, NULL, 0,
	    10000, &r), &r, 2);
	ck_assert_msg(strstr(r.err, "Address already in use") != NULL, "%s",
	    r.err);
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/* Runs one in-process DTLS client's echo to completion (blocking). */
static void
dclient_echo(struct dclient *d, struct secho_tls *t, int port)
{
	struct secho_sockaddr peer;
	int to, rc, fd = secho_net_connect("127.0.0.1", port, 1, 5000, &peer,
	    &to);
	unsigned long long deadline = secho_now_us() + tu_slow(30000) * 1000ULL;

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(secho_tls_conn_init(t, &d->c, fd, "127.0.0.1"), 0);
	snprintf(d->msg, sizeof(d->msg), "held open");
	while ((rc = dclient_step(d)) == 0 && secho_now_us() < deadline) {
		struct pollfd pfd = { .fd = fd, .events = d->want ==
		    SECHO_WANT_WRITE ? POLLOUT : POLLIN };

		if (poll(&pfd, 1, 1000) == 0)
			secho_conn_handle_timeout(&d->c);
	}
	ck_assert_msg(rc == 1, "dtls client %s: %s; server log tail: %s",
	    rc == 0 ? "unfinished at its deadline" : "failed",
	    secho_conn_error(&d->c), tu_server_log_tail(&srv));
}

/*
 * SIGTERM with an idle DTLS client still connected: close_notify goes
 * out and, as no FIN will ever come over UDP, the server exits at once
 * rather than at the drain deadline.
 */
START_TEST(sigterm_quick)
{
	struct secho_tls_opts o = { .ca = tu_cert("ca.pem") };
	struct secho_tls *t = secho_tls_new(&o, SECHO_TLS_CLIENT, 1);
	struct dclient d;
	struct tu_result r;
	unsigned long long t0;

	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(tu_server_start(&srv, (const char *[]){ "--dtls",
	    "--port", "0", "--drain-timeout", "30", TLS_ARGS, NULL }, 1), 0);
	dclient_echo(&d, t, srv.port[0]);
	t0 = secho_now_us();
	tu_assert_exit(tu_server_stop(&srv, &r), &r, 0);
	tu_result_free(&r);
	/* Under valgrind too, well below the 30 s drain timeout. */
	ck_assert_msg(secho_now_us() - t0 < (tu_valgrind() ? 15 : 5) *
	    1000000ULL, "drain waited");
	/* The client was told: a close_notify is waiting for it. */
	{
		char buf[16];
		ssize_t n = secho_conn_read(&d.c, buf, sizeof(buf));

		ck_assert_int_eq(n, SECHO_IO_EOF);
		ck_assert(!(d.c.flags & SECHO_CONN_UNCLEAN));
	}
	secho_conn_close(&d.c);
	secho_tls_free(t);
}
END_TEST

/* Mutual TLS over DTLS: the same --verify-client as for TLS. */
START_TEST(mutual_dtls)
{
	struct tu_result r;
	char *log;

	ck_assert_int_eq(tu_server_start(&srv, (const char *[]){ "--dtls",
	    "--port", "0", "-v", "--verify-client", "--ca", tu_cert("ca.pem"),
	    TLS_ARGS, NULL }, 1), 0);
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"),
	    "--dtls", "-m", "with cert", "--ca", tu_cert("ca.pem"), "--cert",
	    tu_cert("client.pem"), "--key", tu_cert("client.key"), "localhost",
	    tu_num(srv.port[0]), NULL }, NULL, 0, 30000, &r), &r, 0);
	ck_assert_str_eq(r.out, "with cert\n");
	tu_result_free(&r);
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"),
	    "--dtls", "-m", "without", "--ca", tu_cert("ca.pem"), "localhost",
	    tu_num(srv.port[0]), NULL }, NULL, 0, 30000, &r), &r, 3);
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
	log = tu_server_log(&srv);
	ck_assert_msg(strstr(log, "client CN=secho client") != NULL, "%s", log);
	ck_assert_msg(strstr(log, "the client sent no certificate") != NULL,
	    "%s", log);
	free(log);
}
END_TEST

Suite *
dtls_suite(void)
{
	Suite *s = suite_create("dtls");
	TCase *tc = tcase_create("dtls");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, echo_and_stream);
	tcase_add_test(tc, hundred_clients);
	tcase_add_test(tc, lost_handshake_datagram);
	tcase_add_test(tc, repeated_client_hello);
	tcase_add_test(tc, hello_flood_keeps_memory_flat);
	tcase_add_test(tc, s_client_dtls);
	tcase_add_test(tc, port_in_use);
	tcase_add_test(tc, sigterm_quick);
	tcase_add_test(tc, mutual_dtls);
	suite_add_tcase(s, tc);
	return s;
}
