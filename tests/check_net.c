/*
 * check_net.c - the plain socket layer: endpoint and port parsing,
 * address formatting, and listen/accept/connect on loopback for IPv4 and
 * IPv6, with the exact one-line messages users see.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "secho/net.h"
#include "testutil.h"

/* --- secho_endpoint_parse --- */

#define KEEP SECHO_DTLS	/* a proto the spec must leave untouched */

static const struct ep_case {
	const char *spec;
	int rc;
	enum secho_proto proto;
	const char *host;
	int port;
	const char *err;	/* exact secho_error() when rc == -1 */
} ep_cases[] = {
	{ "tls://[::]:7443", 0, SECHO_TLS, "::", 7443, NULL },
	{ "udp://127.0.0.1:9", 0, SECHO_UDP, "127.0.0.1", 9, NULL },
	{ "tcp://:0", 0, SECHO_TCP, "", 0, NULL },
	{ "dtls://localhost", 0, SECHO_DTLS, "localhost", -1, NULL },
	{ "7007", 0, KEEP, "", 7007, NULL },
	{ "localhost:7443", 0, KEEP, "localhost", 7443, NULL },
	{ "[::1]:80", 0, KEEP, "::1", 80, NULL },
	{ "[::1]", 0, KEEP, "::1", -1, NULL },
	{ "::1", 0, KEEP, "::1", -1, NULL },
	{ "fe80::1:2", 0, KEEP, "fe80::1:2", -1, NULL },
	{ "*:7007", 0, KEEP, "", 7007, NULL },
	{ "example.org", 0, KEEP, "example.org", -1, NULL },
	{ "[::1", -1, KEEP, NULL, 0, "missing ']' in '[::1'" },
	{ "[::1]x", -1, KEEP, NULL, 0,
	    "expected ':PORT' after ']' in '[::1]x'" },
	{ "[1.2.3.4]:5", -1, KEEP, NULL, 0,
	    "'1.2.3.4' in brackets is not an IPv6 address" },
	{ "[::1]:", -1, KEEP, NULL, 0, "invalid port '' (expected 0-65535)" },
	{ "host:99999", -1, KEEP, NULL, 0,
	    "invalid port '99999' (expected 0-65535)" },
	{ "host:abc", -1, KEEP, NULL, 0,
	    "invalid port 'abc' (expected 0-65535)" },
	{ "99999", -1, KEEP, NULL, 0,
	    "invalid port '99999' (expected 0-65535)" },
	{ "bogus://x:1", -1, KEEP, NULL, 0,
	    "unknown transport 'bogus' (expected tcp, tls, udp or dtls)" },
	{ "toolongproto://x:1", -1, KEEP, NULL, 0,
	    "unknown transport in 'toolongproto://x:1'" },
};

START_TEST(test_endpoint_parse)
{
	const struct ep_case *tc = &ep_cases[_i];
	struct secho_endpoint ep;
	int rc;

	memset(&ep, 0x5a, sizeof(ep));
	ep.proto = KEEP;
	secho_error_set("untouched");
	rc = secho_endpoint_parse(tc->spec, &ep);
	ck_assert_msg(rc == tc->rc, "'%s': rc %d, want %d (%s)", tc->spec, rc,
	    tc->rc, secho_error());
	if (rc == -1) {
		ck_assert_str_eq(secho_error(), tc->err);
		return;
	}
	ck_assert_msg(ep.proto == tc->proto, "'%s': proto %s, want %s",
	    tc->spec, secho_proto_name(ep.proto), secho_proto_name(tc->proto));
	ck_assert_str_eq(ep.host, tc->host);
	ck_assert_int_eq(ep.port, tc->port);
}
END_TEST

START_TEST(test_endpoint_host_too_long)
{
	struct secho_endpoint ep;
	char spec[SECHO_HOST_MAX + 16];

	memset(spec, 'a', SECHO_HOST_MAX);
	snprintf(spec + SECHO_HOST_MAX, sizeof(spec) - SECHO_HOST_MAX, ":80");
	ck_assert_int_eq(secho_endpoint_parse(spec, &ep), -1);
	ck_assert_str_eq(secho_error(), "host name too long");
	/* One byte shorter fits, NUL included. */
	memmove(spec + SECHO_HOST_MAX - 1, spec + SECHO_HOST_MAX, 4);
	ck_assert_int_eq(secho_endpoint_parse(spec, &ep), 0);
	ck_assert_uint_eq(strlen(ep.host), SECHO_HOST_MAX - 1);
	ck_assert_int_eq(ep.port, 80);
}
END_TEST

/* --- secho_port_parse --- */

START_TEST(test_port_parse)
{
	static const struct {
		const char *s;
		int port;	/* -1: must be rejected */
	} cases[] = {
		{ "0", 0 }, { "1", 1 }, { "7007", 7007 }, { "65535", 65535 },
		{ "007", 7 }, { "65536", -1 }, { "-1", -1 }, { "", -1 },
		{ "+1", -1 }, { " 1", -1 }, { "1 ", -1 }, { "0x10", -1 },
		{ "1e3", -1 }, { "99999999999999999999999", -1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[64];
		int port = 4242, rc = secho_port_parse(cases[i].s, &port);

		if (cases[i].port >= 0) {
			ck_assert_msg(rc == 0, "'%s' rejected: %s", cases[i].s,
			    secho_error());
			ck_assert_int_eq(port, cases[i].port);
			continue;
		}
		ck_assert_msg(rc == -1, "'%s' accepted as %d", cases[i].s,
		    port);
		ck_assert_int_eq(port, 4242);
		snprintf(want, sizeof(want), "invalid port '%s' (expected "
		    "0-65535)", cases[i].s);
		ck_assert_str_eq(secho_error(), want);
	}
}
END_TEST

/* --- secho_sockaddr_str and secho_net_is_ip --- */

START_TEST(test_sockaddr_str)
{
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	char buf[SECHO_ADDRSTR_MAX], small[8];
	char *r;

	s4.sin_port = htons(7007);
	ck_assert_int_eq(inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr), 1);
	r = secho_sockaddr_str((struct sockaddr *)&s4, buf, sizeof(buf));
	ck_assert_ptr_eq(r, buf);
	ck_assert_str_eq(buf, "127.0.0.1:7007");

	s6.sin6_port = htons(7443);
	s6.sin6_addr = in6addr_loopback;
	secho_sockaddr_str((struct sockaddr *)&s6, buf, sizeof(buf));
	ck_assert_str_eq(buf, "[::1]:7443");

	s6.sin6_port = htons(0);
	s6.sin6_addr = in6addr_any;
	secho_sockaddr_str((struct sockaddr *)&s6, buf, sizeof(buf));
	ck_assert_str_eq(buf, "[::]:0");

	/* What a dual-stack listener sees when an IPv4 client connects. */
	s6.sin6_port = htons(80);
	ck_assert_int_eq(inet_pton(AF_INET6, "::ffff:10.1.2.3",
	    &s6.sin6_addr), 1);
	secho_sockaddr_str((struct sockaddr *)&s6, buf, sizeof(buf));
	ck_assert_str_eq(buf, "10.1.2.3:80");

	/* A link-local address keeps its zone inside the brackets. */
	ck_assert_int_eq(inet_pton(AF_INET6, "fe80::1", &s6.sin6_addr), 1);
	s6.sin6_scope_id = if_nametoindex("lo");
	ck_assert_uint_ne(s6.sin6_scope_id, 0);
	secho_sockaddr_str((struct sockaddr *)&s6, buf, sizeof(buf));
	ck_assert_str_eq(buf, "[fe80::1%lo]:80");

	/* Truncates, always terminated. */
	secho_sockaddr_str((struct sockaddr *)&s4, small, sizeof(small));
	ck_assert_str_eq(small, "127.0.0");
}
END_TEST

START_TEST(test_is_ip)
{
	static const char *const yes[] = { "127.0.0.1", "0.0.0.0", "::1",
	    "::", "fe80::1", "::ffff:1.2.3.4", "2001:db8::ff00:42:8329" };
	static const char *const no[] = { "", "localhost", "[::1]",
	    "1.2.3", "1.2.3.256", "127.0.0.1:80", "fe80::1%lo", " ::1",
	    "::1 ", "nonexistent.invalid" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(secho_net_is_ip(yes[i]), "'%s' not an IP",
		    yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(!secho_net_is_ip(no[i]), "'%s' is an IP", no[i]);
}
END_TEST

/* --- sockets --- */

static int
sa_port(const struct secho_sockaddr *sa)
{
	const struct sockaddr *s = (const struct sockaddr *)&sa->ss;

	if (s->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&sa->ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&sa->ss)->sin6_port);
}

static int
sa_family(const struct secho_sockaddr *sa)
{
	return ((const struct sockaddr *)&sa->ss)->sa_family;
}

static void
assert_nonblock_cloexec(int fd, const char *what)
{
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);

	ck_assert_msg(fl != -1 && (fl & O_NONBLOCK), "%s: not non-blocking",
	    what);
	ck_assert_msg(fdfl != -1 && (fdfl & FD_CLOEXEC), "%s: not "
	    "close-on-exec", what);
}

/* Waits (bounded) until fd is readable; the kernel, not a sleep. */
static void
wait_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
}

START_TEST(test_listen_port0)
{
	struct secho_sockaddr bound;
	char addr[SECHO_ADDRSTR_MAX], want[SECHO_ADDRSTR_MAX];
	int fd, type;
	socklen_t len = sizeof(type);

	for (int dgram = 0; dgram <= 1; dgram++) {
		fd = secho_net_listen("127.0.0.1", 0, dgram, 16, 0, &bound);
		ck_assert_msg(fd >= 0, "%s", secho_error());
		ck_assert_int_eq(sa_family(&bound), AF_INET);
		ck_assert_int_ne(sa_port(&bound), 0);
		snprintf(want, sizeof(want), "127.0.0.1:%d", sa_port(&bound));
		ck_assert_str_eq(secho_sockaddr_str(
		    (struct sockaddr *)&bound.ss, addr, sizeof(addr)), want);
		ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type,
		    &len), 0);
		ck_assert_int_eq(type, dgram ? SOCK_DGRAM : SOCK_STREAM);
		assert_nonblock_cloexec(fd, dgram ? "udp listener" :
		    "tcp listener");
		close(fd);

		/* The wildcard: one IPv6 socket that takes IPv4 too. */
		fd = secho_net_listen("", 0, dgram, 16, 0, &bound);
		ck_assert_msg(fd >= 0, "%s", secho_error());
		ck_assert_int_ne(sa_port(&bound), 0);
		if (sa_family(&bound) == AF_INET6) {
			int v6only = -1;

			len = sizeof(v6only);
			ck_assert_int_eq(getsockopt(fd, IPPROTO_IPV6,
			    IPV6_V6ONLY, &v6only, &len), 0);
			ck_assert_int_eq(v6only, 0);
		}
		close(fd);
	}
}
END_TEST

START_TEST(test_listen_v6_literal)
{
	struct secho_sockaddr bound;
	char addr[SECHO_ADDRSTR_MAX], want[SECHO_ADDRSTR_MAX];
	const char *why = tu_no_ipv6();
	int fd;

	if (why != NULL) {
		tu_skip("no IPv6 loopback (%s)", why);
		return;
	}
	fd = secho_net_listen("::1", 0, 0, 16, 0, &bound);
	ck_assert_msg(fd >= 0, "%s", secho_error());
	ck_assert_int_eq(sa_family(&bound), AF_INET6);
	snprintf(want, sizeof(want), "[::1]:%d", sa_port(&bound));
	ck_assert_str_eq(secho_sockaddr_str((struct sockaddr *)&bound.ss,
	    addr, sizeof(addr)), want);
	close(fd);
}
END_TEST

/* Connects to host:port through secho_net_connect, accepts on lfd. */
static void
connect_and_accept(int lfd, const char *host, int port, const char *peer_ip)
{
	struct secho_sockaddr peer, accepted;
	char addr[SECHO_ADDRSTR_MAX], want[SECHO_ADDRSTR_MAX];
	int cfd, afd, timed_out = -1, one = 0;
	socklen_t len = sizeof(one);
	unsigned char b = 0;

	cfd = secho_net_connect(host, port, 0, 5000, &peer, &timed_out);
	ck_assert_msg(cfd >= 0, "connect %s: %s", host, secho_error());
	ck_assert_int_eq(timed_out, 0);
	ck_assert_int_eq(sa_port(&peer), port);
	assert_nonblock_cloexec(cfd, "connected socket");

	wait_readable(lfd);
	afd = secho_net_accept(lfd, &accepted);
	ck_assert_msg(afd >= 0, "accept: %s", strerror(errno));
	assert_nonblock_cloexec(afd, "accepted socket");
	ck_assert_int_eq(getsockopt(afd, IPPROTO_TCP, TCP_NODELAY, &one,
	    &len), 0);
	ck_assert_msg(one != 0, "accepted socket lacks TCP_NODELAY");

	/* A v4 peer of the dual-stack socket prints as plain v4.  A name
	 * (peer_ip NULL) may resolve to either loopback. */
	secho_sockaddr_str((struct sockaddr *)&accepted.ss, addr, sizeof(addr));
	if (peer_ip == NULL)
		peer_ip = strncmp(addr, "[::1]:", 6) == 0 ? "::1" : "127.0.0.1";
	snprintf(want, sizeof(want), strchr(peer_ip, ':') ? "[%s]:" : "%s:",
	    peer_ip);
	ck_assert_msg(strncmp(addr, want, strlen(want)) == 0,
	    "peer '%s', want '%s...'", addr, want);

	/* The pair really is connected. */
	ck_assert_int_eq(send(cfd, "x", 1, MSG_NOSIGNAL), 1);
	wait_readable(afd);
	ck_assert_int_eq(recv(afd, &b, 1, 0), 1);
	ck_assert_int_eq(b, 'x');
	close(afd);
	close(cfd);
}

START_TEST(test_dual_stack_tcp)
{
	struct secho_sockaddr bound, peer;
	const char *why = tu_no_ipv6();
	int lfd, port, rc;

	lfd = secho_net_listen("", 0, 0, 16, 0, &bound);
	ck_assert_msg(lfd >= 0, "%s", secho_error());
	port = sa_port(&bound);
	connect_and_accept(lfd, "127.0.0.1", port, "127.0.0.1");
	connect_and_accept(lfd, "localhost", port, NULL);
	if (why == NULL)
		connect_and_accept(lfd, "::1", port, "::1");
	else
		tu_skip("connecting to [::1]: no IPv6 loopback (%s)", why);
	/* Nothing else is waiting: EAGAIN, not a block. */
	errno = 0;
	rc = secho_net_accept(lfd, &peer);
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(errno == EAGAIN || errno == EWOULDBLOCK, "errno %s",
	    strerror(errno));
	close(lfd);
}
END_TEST

/* Sends one datagram from a family-af socket to the loopback port. */
static void
udp_roundtrip(int lfd, int af, int port)
{
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr *to = af == AF_INET ? (struct sockaddr *)&s4 :
	    (struct sockaddr *)&s6;
	socklen_t tolen = af == AF_INET ? sizeof(s4) : sizeof(s6);
	char buf[16];
	int fd = socket(af, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s4.sin_port = htons((uint16_t)port);
	s6.sin6_addr = in6addr_loopback;
	s6.sin6_port = htons((uint16_t)port);
	ck_assert_int_eq(sendto(fd, "ping", 4, 0, to, tolen), 4);
	wait_readable(lfd);
	ck_assert_int_eq(recv(lfd, buf, sizeof(buf), 0), 4);
	ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
	close(fd);
}

START_TEST(test_dual_stack_udp)
{
	struct secho_sockaddr bound;
	const char *why = tu_no_ipv6();
	int lfd;

	lfd = secho_net_listen("", 0, 1, 16, 0, &bound);
	ck_assert_msg(lfd >= 0, "%s", secho_error());
	udp_roundtrip(lfd, AF_INET, sa_port(&bound));
	if (why == NULL)
		udp_roundtrip(lfd, AF_INET6, sa_port(&bound));
	else
		tu_skip("udp to [::1]: no IPv6 loopback (%s)", why);
	close(lfd);
}
END_TEST

/* Listening twice on one explicit port fails with the documented text. */
static void
assert_bind_busy(const char *host, const char *shown, int dgram)
{
	struct secho_sockaddr bound, again;
	char want[128];
	int fd, fd2, port;

	fd = secho_net_listen(host, 0, dgram, 16, 0, &bound);
	ck_assert_msg(fd >= 0, "%s", secho_error());
	port = sa_port(&bound);
	fd2 = secho_net_listen(host, port, dgram, 16, 0, &again);
	if (fd2 >= 0)
		close(fd2);
	ck_assert_msg(fd2 == -1, "%s %s:%d bound twice",
	    dgram ? "udp" : "tcp", shown, port);
	ck_assert_int_eq(errno, EADDRINUSE);
	snprintf(want, sizeof(want), "cannot bind %s:%d: Address already in "
	    "use", shown, port);
	ck_assert_str_eq(secho_error(), want);
	close(fd);
}

START_TEST(test_listen_busy_tcp)
{
	assert_bind_busy("", "[::]", 0);
	assert_bind_busy("::", "[::]", 0);
	assert_bind_busy("127.0.0.1", "127.0.0.1", 0);
}
END_TEST

START_TEST(test_listen_busy_udp)
{
	assert_bind_busy("", "[::]", 1);
	assert_bind_busy("127.0.0.1", "127.0.0.1", 1);
}
END_TEST

/*
 * reuseport lets this process's own per-client sockets share a UDP port
 * (DTLS), yet a second server binding the same port is still refused.
 */
START_TEST(test_listen_reuseport)
{
	struct secho_sockaddr bound, again, peer;
	int fd, fd2, child, pfd;

	fd = secho_net_listen("127.0.0.1", 0, 1, 16, 1, &bound);
	ck_assert_msg(fd >= 0, "%s", secho_error());
	fd2 = secho_net_listen("127.0.0.1", sa_port(&bound), 1, 16, 1, &again);
	ck_assert_int_eq(fd2, -1);
	ck_assert_msg(strstr(secho_error(), "Address already in use") != NULL,
	    "%s", secho_error());
	/* A peer, and a child socket on the listener's port connected to it:
	 * the kernel gives the child that peer's datagrams. */
	pfd = secho_net_listen("127.0.0.1", 0, 1, 16, 0, &peer);
	child = secho_net_dgram_child(&bound, &peer);
	ck_assert_msg(child >= 0, "%s", secho_error());
	ck_assert_int_eq(sendto(pfd, "x", 1, 0, (struct sockaddr *)&bound.ss,
	    bound.len), 1);
	{
		char c = 0;

		ck_assert_uint_eq(tu_read_full(child, &c, 1, 5000), 1);
		ck_assert_int_eq(c, 'x');
	}
	close(child);
	close(pfd);
	close(fd);
}
END_TEST

START_TEST(test_listen_unresolvable)
{
	struct secho_sockaddr bound;
	const char *want = "cannot resolve nonexistent.invalid";

	ck_assert_int_eq(secho_net_listen("nonexistent.invalid", 0, 0, 16, 0,
	    &bound), -1);
	ck_assert_msg(strncmp(secho_error(), want, strlen(want)) == 0,
	    "'%s'", secho_error());
}
END_TEST

START_TEST(test_connect_refused)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct secho_sockaddr peer;
	socklen_t len = sizeof(sin);
	char want[128], want6[128];
	int fd, port, timed_out = -1;

	/* Bound but not listening: refused for as long as fd is open. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);

	ck_assert_int_eq(secho_net_connect("127.0.0.1", port, 0, 2000, &peer,
	    &timed_out), -1);
	ck_assert_int_eq(timed_out, 0);
	ck_assert_int_eq(errno, ECONNREFUSED);
	snprintf(want, sizeof(want), "cannot connect to 127.0.0.1:%d: "
	    "Connection refused", port);
	ck_assert_str_eq(secho_error(), want);

	/* A name shows the address it tried last next to it ("localhost"
	 * may also resolve to ::1, where nothing listens on port either). */
	timed_out = -1;
	ck_assert_int_eq(secho_net_connect("localhost", port, 0, 0, &peer,
	    &timed_out), -1);
	ck_assert_int_eq(timed_out, 0);
	snprintf(want, sizeof(want), "cannot connect to localhost "
	    "(127.0.0.1:%d): Connection refused", port);
	snprintf(want6, sizeof(want6), "cannot connect to localhost "
	    "([::1]:%d): Connection refused", port);
	ck_assert_msg(strcmp(secho_error(), want) == 0 ||
	    strcmp(secho_error(), want6) == 0, "'%s'", secho_error());
	close(fd);
}
END_TEST

START_TEST(test_connect_timeout)
{
	struct secho_sockaddr bound, peer;
	unsigned long long t0, us = 0;
	char want[128];
	int lfd, fds[4], n = 0, timed_out = 0, port;

	/*
	 * A full accept queue makes the kernel drop further SYNs, so the
	 * next connect hangs: a loopback stand-in for a black-holed host.
	 */
	lfd = secho_net_listen("127.0.0.1", 0, 0, 0, 0, &bound);
	ck_assert_msg(lfd >= 0, "%s", secho_error());
	port = sa_port(&bound);
	while (n < 4) {
		t0 = secho_now_us();
		fds[n] = secho_net_connect("127.0.0.1", port, 0, 200, &peer,
		    &timed_out);
		us = secho_now_us() - t0;
		if (fds[n] == -1)
			break;
		ck_assert_int_eq(timed_out, 0);
		n++;
	}
	ck_assert_msg(n < 4, "the accept queue never filled up");
	ck_assert_int_eq(timed_out, 1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_msg(us >= 190000 && us < 2000000, "waited %llu us", us);
	snprintf(want, sizeof(want), "cannot connect to 127.0.0.1:%d: "
	    "Connection timed out", port);
	ck_assert_str_eq(secho_error(), want);
	while (n > 0)
		close(fds[--n]);
	close(lfd);
}
END_TEST

START_TEST(test_connect_unresolvable)
{
	struct secho_sockaddr peer;
	const char *want = "cannot resolve nonexistent.invalid";
	int timed_out = -1;

	ck_assert_int_eq(secho_net_connect("nonexistent.invalid", 7007, 0,
	    2000, &peer, &timed_out), -1);
	ck_assert_int_eq(timed_out, 0);
	ck_assert_msg(strncmp(secho_error(), want, strlen(want)) == 0,
	    "'%s'", secho_error());
}
END_TEST

START_TEST(test_connect_udp)
{
	struct secho_sockaddr bound, peer;
	char buf[8];
	int lfd, fd, timed_out = -1;

	/* Datagram sockets are connected: plain send() reaches the peer. */
	lfd = secho_net_listen("127.0.0.1", 0, 1, 0, 0, &bound);
	ck_assert_msg(lfd >= 0, "%s", secho_error());
	fd = secho_net_connect("127.0.0.1", sa_port(&bound), 1, 2000, &peer,
	    &timed_out);
	ck_assert_msg(fd >= 0, "%s", secho_error());
	ck_assert_int_eq(timed_out, 0);
	assert_nonblock_cloexec(fd, "udp client");
	ck_assert_int_eq(send(fd, "dg", 2, 0), 2);
	wait_readable(lfd);
	ck_assert_int_eq(recv(lfd, buf, sizeof(buf), 0), 2);
	ck_assert_int_eq(memcmp(buf, "dg", 2), 0);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_set_nonblock)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	ck_assert_int_eq(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_eq(secho_net_set_nonblock(sv[0], 1), 0);
	ck_assert_int_ne(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_eq(secho_net_set_nonblock(sv[0], 0), 0);
	ck_assert_int_eq(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
	close(sv[0]);
	close(sv[1]);
	ck_assert_int_eq(secho_net_set_nonblock(sv[0], 1), -1);
	ck_assert_str_eq(secho_error(), "fcntl: Bad file descriptor");
}
END_TEST

Suite *
net_suite(void)
{
	Suite *s = suite_create("net");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, test_endpoint_parse, 0,
	    (int)(sizeof(ep_cases) / sizeof(ep_cases[0])));
	tcase_add_test(tc, test_endpoint_host_too_long);
	tcase_add_test(tc, test_port_parse);
	tcase_add_test(tc, test_sockaddr_str);
	tcase_add_test(tc, test_is_ip);
	suite_add_tcase(s, tc);

	tc = tcase_create("sockets");
	tcase_set_timeout(tc, 15);
	tcase_add_test(tc, test_listen_port0);
	tcase_add_test(tc, test_listen_v6_literal);
	tcase_add_test(tc, test_dual_stack_tcp);
	tcase_add_test(tc, test_dual_stack_udp);
	tcase_add_test(tc, test_listen_busy_tcp);
	tcase_add_test(tc, test_listen_busy_udp);
	tcase_add_test(tc, test_listen_reuseport);
	tcase_add_test(tc, test_listen_unresolvable);
	tcase_add_test(tc, test_connect_refused);
	tcase_add_test(tc, test_connect_timeout);
	tcase_add_test(tc, test_connect_unresolvable);
	tcase_add_test(tc, test_connect_udp);
	tcase_add_test(tc, test_set_nonblock);
	suite_add_tcase(s, tc);
	return s;
}
