/*
 * check_handshakes.c - --max-handshakes against the real server: stalled
 * TLS and DTLS handshakes fill it, one more client is refused at once
 * (closed, or no DTLS cookie) and costs nothing, and a finished or closed
 * handshake lets the next client in.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "secho/tls.h"
#include "testutil.h"

#define TLS_ARGS "--cert", tu_cert("server.pem"), "--key", \
	tu_cert("server.key")
#define CAP	4
#define REFUSED	"refused: --max-handshakes 4 reached"

/*
 * A TLS record header announcing a 512-byte handshake record and the
 * start of a ClientHello: the server holds its read buffer for the rest.
 */
static const unsigned char half_hello[] = {
	0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
};

static struct tu_server srv;
static struct secho_tls_opts copts;
static char ca_path[512];

static void
start(const char *const *args, int nlisten)
{
	signal(SIGPIPE, SIG_IGN);
	ck_assert_msg(tu_server_start(&srv, args, nlisten) == 0,
	    "secho-server did not start");
}

static int
readable(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, timeout_ms) == 1;
}

/* A TCP connection to the TLS port that sent half a ClientHello. */
static int
stalled_tls(int port)
{
	int fd = tu_connect(port, 0);

	ck_assert_msg(fd != -1, "connect: %s", strerror(errno));
	ck_assert_int_eq(tu_write_all(fd, half_hello, sizeof(half_hello)), 0);
	return fd;
}

/* The server closes fd at once (EOF or reset), sending nothing. */
static void
assert_refused(int fd)
{
	char c;

	ck_assert_msg(readable(fd, tu_slow(2000)), "not closed at once");
	ck_assert_int_le(recv(fd, &c, 1, MSG_DONTWAIT), 0);
}

/* One datagram from `from` to `to` (both connected), within wait_ms. */
static int
relay(int from, int to, int wait_ms)
{
	unsigned char buf[4096];
	ssize_t n;

	if (!readable(from, wait_ms) || (n = recv(from, buf, sizeof(buf),
	    MSG_DONTWAIT)) <= 0)
		return 0;
	ck_assert_int_eq(send(to, buf, (size_t)n, 0), n);
	return 1;
}

/*
 * A DTLS client that proves its address and stalls: its own handshake
 * runs over a socketpair, relayed to the server only for the ClientHello,
 * the HelloVerifyRequest and the ClientHello with the cookie; the
 * server's next flight is awaited (so the server holds a connection) and
 * never answered.  *udp is the client's socket (the caller closes it).
 * Returns 1, or 0 when no HelloVerifyRequest came within wait_ms.
 */
static int
stalled_dtls(struct secho_tls *t, int port, int wait_ms, int *udp)
{
	int sv[2], proved = 0;
	struct secho_conn c;

	ck_assert_int_ge(*udp = tu_connect(port, 1), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	secho_net_set_nonblock(sv[0], 1);
	ck_assert_int_eq(secho_tls_conn_init(t, &c, sv[0], "localhost"), 0);
	ck_assert_int_eq(secho_conn_handshake(&c), SECHO_WANT_READ);
	ck_assert(relay(sv[1], *udp, 0));
	if (relay(*udp, sv[1], wait_ms)) {
		ck_assert_int_eq(secho_conn_handshake(&c), SECHO_WANT_READ);
		ck_assert(relay(sv[1], *udp, 0));
		ck_assert_msg(readable(*udp, tu_slow(5000)),
		    "no server flight after the cookie");
		proved = 1;
	}
	secho_conn_close(&c);
	close(sv[1]);
	return proved;
}

static struct secho_tls *
client_dtls(void)
{
	struct secho_tls *t;

	snprintf(ca_path, sizeof(ca_path), "%s", tu_cert("ca.pem"));
	memset(&copts, 0, sizeof(copts));
	copts.ca = ca_path;
	t = secho_tls_new(&copts, SECHO_TLS_CLIENT, 1);
	ck_assert_msg(t != NULL, "client dtls: %s", secho_error());
	return t;
}

/* The server logs that it refused the client on fd (still open). */
static void
await_refusal(const char *proto, int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char needle[128];

	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(needle, sizeof(needle), "%s 127.0.0.1:%d: " REFUSED, proto,
	    ntohs(sin.sin_port));
	ck_assert_msg(tu_server_await_log(&srv, needle, 5000),
	    "no '%s' in the log", needle);
}

START_TEST(tls_over_the_cap_closed_at_once)
{
	int fds[CAP], extra;
	char *log;

	/* Long timeouts: a refusal must not be a timeout in disguise. */
	start((const char *[]){ "--tls", "--port", "0", "-b", "127.0.0.1",
	    TLS_ARGS, "--max-handshakes", "4", "--handshake-timeout", "60",
	    "-v", NULL }, 1);
	for (int i = 0; i < CAP; i++)
		fds[i] = stalled_tls(srv.port[0]);
	ck_assert(tu_server_await_log(&srv, "accepted (4 open)", 5000));
	extra = stalled_tls(srv.port[0]);
	assert_refused(extra);
	await_refusal("tls", extra);
	close(extra);
	log = tu_server_log(&srv);
	ck_assert_msg(strstr(log, "accepted (5 open)") == NULL, "%s", log);
	free(log);
	/* A stalled one leaves: its slot serves a normal client. */
	close(fds[0]);
	ck_assert(tu_server_await_log(&srv, "closed", 5000));
	tu_assert_echo("tls", srv.port[0], "after a handshake slot came back");
	/* A finished handshake gave its slot back: so can another. */
	tu_assert_echo("tls", srv.port[0], "and another");
	for (int i = 1; i < CAP; i++)
		close(fds[i]);
	tu_server_stop_clean(&srv);
}
END_TEST

/*
 * DTLS and TLS share the cap.  Over it a ClientHello gets no
 * HelloVerifyRequest, and a TLS client is closed at once.
 */
START_TEST(dtls_over_the_cap_gets_no_cookie)
{
	struct secho_tls *t = client_dtls();
	int fds[CAP], port, tls_port, extra;

	/* A closed DTLS client is not noticed (the server's retransmissions
	 * ignore ICMP errors): its slot comes back at the handshake timeout,
	 * long enough for the refusals to be seen first. */
	start((const char *[]){ "--dtls", "--tls", "--port", "0", "-b",
	    "127.0.0.1", TLS_ARGS, "--max-handshakes", "4",
	    "--handshake-timeout", tu_num(tu_slow(5)), "-v", NULL }, 2);
	port = tu_server_port(&srv, "dtls");
	tls_port = tu_server_port(&srv, "tls");
	for (int i = 0; i < CAP; i++)
		ck_assert_msg(stalled_dtls(t, port, tu_slow(5000), &fds[i]),
		    "no cookie for #%d below the cap", i);
	ck_assert(tu_server_await_log(&srv, "accepted (4 open)", 5000));
	/* Loopback answers in well under a millisecond: 1 s is silence. */
	ck_assert_msg(!stalled_dtls(t, port, 1000, &extra),
	    "a cookie over the cap");
	await_refusal("dtls", extra);
	close(extra);
	extra = stalled_tls(tls_port);
	assert_refused(extra);
	await_refusal("tls", extra);
	close(extra);
	for (int i = 0; i < CAP; i++)
		close(fds[i]);
	ck_assert(tu_server_await_log(&srv, "closed (handshake timeout",
	    10000));
	tu_assert_echo("dtls", port, "after a handshake slot came back");
	tu_assert_echo("tls", tls_port, "over tls too");
	secho_tls_free(t);
	tu_server_stop_clean(&srv);
}
END_TEST

/*
 * Clients above the cap cost nothing: each is closed at once, so 500 of
 * them leave the server's memory where the cap's stalled ones put it.
 * Without the cap each would hold about 46 KiB (23 MB in all).
 */
START_TEST(over_the_cap_costs_nothing)
{
	enum { HELD = 50, MORE = 500 };
	const char *san = getenv("SECHO_SAN");
	int fds[HELD], fd;
	long before, after;

	start((const char *[]){ "--tls", "--port", "0", "-b", "127.0.0.1",
	    TLS_ARGS, "--max-handshakes", tu_num(HELD),
	    "--handshake-timeout", "60", "-v", NULL }, 1);
	for (int i = 0; i < HELD; i++)
		fds[i] = stalled_tls(srv.port[0]);
	ck_assert(tu_server_await_log(&srv, "accepted (50 open)", 5000));
	before = tu_rss_kib(srv.proc.pid);
	for (int i = 0; i < MORE; i++) {
		fd = stalled_tls(srv.port[0]);
		assert_refused(fd);
		close(fd);
	}
	after = tu_rss_kib(srv.proc.pid);
	/* ASan's and valgrind's heaps make RSS meaningless. */
	if ((san == NULL || strcmp(san, "1") != 0) && !tu_valgrind())
		ck_assert_msg(after - before < 2048, "RSS grew %ld KiB for %d "
		    "refused handshakes", after - before, MORE);
	for (int i = 0; i < HELD; i++)
		close(fds[i]);
	tu_server_stop_clean(&srv);
}
END_TEST

Suite *
handshakes_suite(void)
{
	Suite *s = suite_create("handshakes");
	TCase *tc = tcase_create("max-handshakes");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, tls_over_the_cap_closed_at_once);
	tcase_add_test(tc, dtls_over_the_cap_gets_no_cookie);
	tcase_add_test(tc, over_the_cap_costs_nothing);
	suite_add_tcase(s, tc);
	return s;
}
