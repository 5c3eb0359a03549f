/*
 * check_proxy.c - the PROXY protocol parser and builder (v1 text, v2
 * binary with TLVs and CRC32C) and the --proxy-from CIDR list: every
 * prefix of a header asks for more, every malformed one is refused with
 * a sentence, and what the builder writes the parser reads back; and a
 * secho-server whose listeners require the header: the client it names
 * is the one logged and limited, and a bad or untrusted header closes
 * that connection only.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secho/proxy.h"
#include "testutil.h"

static struct secho_sockaddr
sa(const char *ip, int port)
{
	struct secho_sockaddr a;
	struct sockaddr_in *in = (struct sockaddr_in *)&a.ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a.ss;

	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		a.len = sizeof(*in);
	} else {
		ck_assert_msg(inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1,
		    "bad test address %s", ip);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		a.len = sizeof(*in6);
	}
	return a;
}

/* "ip:port" or "[ip]:port" of a parsed address. */
static const char *
str(const struct secho_sockaddr *a)
{
	static char buf[4][SECHO_ADDRSTR_MAX];
	static int slot;

	slot = (slot + 1) % 4;
	return secho_sockaddr_str((const struct sockaddr *)&a->ss, buf[slot],
	    sizeof(buf[slot]));
}

/* Every strict prefix of hdr asks for more bytes; the whole parses. */
static void
assert_prefixes_wait(const void *hdr, size_t len)
{
	struct secho_proxy_info pi;

	for (size_t i = 0; i < len; i++) {
		ssize_t rc = secho_proxy_parse(hdr, i, &pi);

		ck_assert_msg(rc == 0, "prefix of %zu/%zu bytes: rc %zd (%s)",
		    i, len, rc, rc == -1 ? secho_error() : "");
	}
}

START_TEST(v1_tcp4)
{
	const char hdr[] = "PROXY TCP4 192.0.2.7 127.0.0.1 56324 7443\r\n";
	char buf[128];
	struct secho_proxy_info pi;

	/* The client's first bytes follow at once: they are not looked at. */
	snprintf(buf, sizeof(buf), "%s\x16\x03\x01", hdr);
	ck_assert_int_eq(secho_proxy_parse(buf, strlen(buf), &pi),
	    (ssize_t)strlen(hdr));
	ck_assert_int_eq(pi.version, 1);
	ck_assert_int_eq(pi.local, 0);
	ck_assert_str_eq(str(&pi.src), "192.0.2.7:56324");
	ck_assert_str_eq(str(&pi.dst), "127.0.0.1:7443");
	assert_prefixes_wait(hdr, strlen(hdr));
}
END_TEST

START_TEST(v1_tcp6_and_unknown)
{
	const char six[] = "PROXY TCP6 2001:db8::1 ::1 65535 0\r\n";
	const char unk[] = "PROXY UNKNOWN ffff::1 whatever 1 2\r\n";
	struct secho_proxy_info pi;

	ck_assert_int_eq(secho_proxy_parse(six, strlen(six), &pi),
	    (ssize_t)strlen(six));
	ck_assert_str_eq(str(&pi.src), "[2001:db8::1]:65535");
	ck_assert_str_eq(str(&pi.dst), "[::1]:0");
	/* UNKNOWN: the rest of the line is ignored, our endpoints stand. */
	ck_assert_int_eq(secho_proxy_parse(unk, strlen(unk), &pi),
	    (ssize_t)strlen(unk));
	ck_assert_int_eq(pi.local, 1);
	ck_assert_int_eq(pi.src.len, 0);
	ck_assert_int_eq(secho_proxy_parse("PROXY UNKNOWN\r\n", 15, &pi), 15);
	ck_assert_int_eq(pi.local, 1);
}
END_TEST

static const struct bad_case {
	const char *hdr;
	const char *err;	/* a part of secho_error() */
} v1_bad[] = {
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "no CRLF" },
	{ "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "names no protocol" },
	{ "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "names no protocol" },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "needs exactly" },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "needs exactly" },
	{ "PROXY TCP4 1.2.3.4 ::1 1 2\r\n", "'::1' is not an IPv4 address" },
	{ "PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "is not an IPv6 address" },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "'65536' is not a port" },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", "'01' is not a port" },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "'-1' is not a port" },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n", "'2x' is not a port" },
	{ "GET / HTTP/1.1\r\n", "does not start with a PROXY" },
	{ "\x16\x03\x01\x02\x00", "does not start with a PROXY" },
};

START_TEST(v1_malformed)
{
	const struct bad_case *c = &v1_bad[_i];
	struct secho_proxy_info pi;

	ck_assert_msg(secho_proxy_parse(c->hdr, strlen(c->hdr), &pi) == -1,
	    "accepted: %s", c->hdr);
	ck_assert_msg(strstr(secho_error(), c->err) != NULL,
	    "'%s': said '%s', wanted '%s'", c->hdr, secho_error(), c->err);
}
END_TEST

START_TEST(v1_limits)
{
	char buf[256];
	struct secho_proxy_info pi;

	/* 107 bytes without a CRLF: not a v1 header, whatever follows. */
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "PROXY TCP4 ", 11);
	ck_assert_int_eq(secho_proxy_parse(buf, 106, &pi), 0);
	ck_assert_int_eq(secho_proxy_parse(buf, 107, &pi), -1);
	ck_assert_msg(strstr(secho_error(), "107") != NULL, "%s",
	    secho_error());
	/* A NUL inside the line is refused, not cut short. */
	memcpy(buf, "PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", 33);
	ck_assert_int_eq(secho_proxy_parse(buf, 33, &pi), -1);
	/* "PRO" could still become one. */
	ck_assert_int_eq(secho_proxy_parse("PRO", 3, &pi), 0);
	ck_assert_int_eq(secho_proxy_parse("", 0, &pi), 0);
}
END_TEST

START_TEST(v2_roundtrip_v4_tlvs)
{
	struct secho_sockaddr src = sa("198.51.100.9", 40000),
	    dst = sa("127.0.0.2", 7007);
	const unsigned char id[] = { 1, 2, 3, 4, 5 };
	struct secho_proxy_tlvs t = { .alpn = "h2", .authority = "echo.test",
	    .unique_id = id, .unique_id_len = sizeof(id), .crc32c = 1 };
	unsigned char buf[512];
	struct secho_proxy_info pi;
	ssize_t n;

	n = secho_proxy_build(2, (struct sockaddr *)&src.ss,
	    (struct sockaddr *)&dst.ss, 0, &t, buf, sizeof(buf));
	ck_assert_msg(n > 16, "%s", secho_error());
	buf[n] = 'x';	/* the stream after it */
	ck_assert_int_eq(secho_proxy_parse(buf, (size_t)n + 1, &pi), n);
	ck_assert_int_eq(pi.version, 2);
	ck_assert_int_eq(pi.local, 0);
	ck_assert_int_eq(pi.dgram, 0);
	ck_assert_str_eq(str(&pi.src), "198.51.100.9:40000");
	ck_assert_str_eq(str(&pi.dst), "127.0.0.2:7007");
	ck_assert_str_eq(pi.alpn, "h2");
	ck_assert_str_eq(pi.authority, "echo.test");
	ck_assert_uint_eq(pi.unique_id_len, sizeof(id));
	ck_assert_mem_eq(pi.unique_id, id, sizeof(id));
	ck_assert_int_eq(pi.crc_checked, 1);
	assert_prefixes_wait(buf, (size_t)n);
	/* One bit off anywhere, and the checksum says so. */
	buf[20] ^= 0x01;
	ck_assert_int_eq(secho_proxy_parse(buf, (size_t)n, &pi), -1);
	ck_assert_msg(strstr(secho_error(), "CRC32C") != NULL, "%s",
	    secho_error());
}
END_TEST

START_TEST(v2_v6_dgram_and_local)
{
	struct secho_sockaddr src = sa("2001:db8::5", 5353),
	    dst = sa("::1", 7443);
	unsigned char buf[256];
	struct secho_proxy_info pi;
	ssize_t n;

	n = secho_proxy_build(2, (struct sockaddr *)&src.ss,
	    (struct sockaddr *)&dst.ss, 1, NULL, buf, sizeof(buf));
	ck_assert_int_eq(n, 16 + 36);
	ck_assert_int_eq(secho_proxy_parse(buf, (size_t)n, &pi), n);
	ck_assert_int_eq(pi.dgram, 1);
	ck_assert_str_eq(str(&pi.src), "[2001:db8::5]:5353");
	ck_assert_str_eq(str(&pi.dst), "[::1]:7443");
	ck_assert_int_eq(pi.crc_checked, 0);
	/* LOCAL (haproxy's check-send-proxy): no addresses to take. */
	n = secho_proxy_build(2, NULL, NULL, 0, NULL, buf, sizeof(buf));
	ck_assert_int_eq(n, 16);
	ck_assert_int_eq(secho_proxy_parse(buf, (size_t)n, &pi), 16);
	ck_assert_int_eq(pi.local, 1);
	ck_assert_int_eq(pi.src.len, 0);
	/* v1 cannot say "datagram". */
	ck_assert_int_eq(secho_proxy_build(1, (struct sockaddr *)&src.ss,
	    (struct sockaddr *)&dst.ss, 1, NULL, buf, sizeof(buf)), -1);
}
END_TEST

/* A v2 PROXY TCP4 header with the given TLV bytes after the addresses. */
static size_t
v2_with(unsigned char *buf, const void *tlvs, size_t tlen)
{
	static const unsigned char fixed[] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
		0x54, 0x0a, 0x21, 0x11, 0, 0,
		10, 0, 0, 1, 127, 0, 0, 1, 0x30, 0x39, 0x1b, 0x5f,
	};
	size_t len = 12 + tlen;

	memcpy(buf, fixed, sizeof(fixed));
	buf[14] = (unsigned char)(len >> 8);
	buf[15] = (unsigned char)len;
	memcpy(buf + sizeof(fixed), tlvs, tlen);
	return sizeof(fixed) + tlen;
}

START_TEST(v2_ssl_tlv)
{
	/* What haproxy's send-proxy-v2-ssl-cn sends: client bits, verify,
	 * then sub-TLVs; an unknown TLV (0xe0) and a NOOP are skipped. */
	static const unsigned char tlvs[] = {
		0x20, 0, 40, 0x07, 0, 0, 0, 0,
		0x21, 0, 7, 'T', 'L', 'S', 'v', '1', '.', '3',
		0x22, 0, 6, 'c', 'l', 'i', 'e', 'n', 't',
		0x23, 0, 13, 'A', 'E', 'S', '1', '2', '8', '-', 'G', 'C', 'M',
		'-', 'S', 'H',
		0xe0, 0, 2, 0xaa, 0xbb,
		0x04, 0, 0,
	};
	unsigned char buf[256];
	struct secho_proxy_info pi;
	size_t n = v2_with(buf, tlvs, sizeof(tlvs));

	ck_assert_int_eq(secho_proxy_parse(buf, n, &pi), (ssize_t)n);
	ck_assert_str_eq(str(&pi.src), "10.0.0.1:12345");
	ck_assert_str_eq(str(&pi.dst), "127.0.0.1:7007");
	ck_assert_int_eq(pi.ssl, 1);
	ck_assert_uint_eq(pi.ssl_client, SECHO_PP2_CLIENT_SSL |
	    SECHO_PP2_CLIENT_CERT_CONN | SECHO_PP2_CLIENT_CERT_SESS);
	ck_assert_uint_eq(pi.ssl_verify, 0);
	ck_assert_str_eq(pi.ssl_version, "TLSv1.3");
	ck_assert_str_eq(pi.ssl_cn, "client");
	ck_assert_str_eq(pi.ssl_cipher, "AES128-GCM-SH");
}
END_TEST

static const struct v2_bad {
	unsigned char tlvs[16];
	size_t len;
	const char *err;
} v2_bad[] = {
	{ { 0x01, 0 }, 2, "ends inside a TLV" },
	{ { 0x01, 0, 5, 'h', '2' }, 5, "claims 5 bytes, 2 are left" },
	{ { 0x03, 0, 2, 0, 0 }, 5, "CRC32C TLV is 2 bytes" },
	{ { 0x20, 0, 2, 1, 0 }, 5, "SSL TLV is shorter" },
	{ { 0x20, 0, 8, 1, 0, 0, 0, 0, 0x22, 0, 9 }, 11, "claims 9 bytes" },
	{ { 0x02, 0, 3, 'a', 0, 'b' }, 6, "holds a NUL byte" },
};

START_TEST(v2_malformed_tlvs)
{
	const struct v2_bad *c = &v2_bad[_i];
	unsigned char buf[128];
	struct secho_proxy_info pi;
	size_t n = v2_with(buf, c->tlvs, c->len);

	ck_assert_msg(secho_proxy_parse(buf, n, &pi) == -1, "case %d "
	    "accepted", _i);
	ck_assert_msg(strstr(secho_error(), c->err) != NULL,
	    "case %d: said '%s', wanted '%s'", _i, secho_error(), c->err);
}
END_TEST

START_TEST(v2_malformed_fixed)
{
	unsigned char buf[2048];
	struct secho_proxy_info pi;
	size_t n = v2_with(buf, "", 0);

	/* Oversized: refused from the fixed part, before the rest is in. */
	buf[14] = 0x07;
	buf[15] = 0xd0;
	ck_assert_int_eq(secho_proxy_parse(buf, 16, &pi), -1);
	ck_assert_msg(strstr(secho_error(), "over secho's limit") != NULL,
	    "%s", secho_error());
	n = v2_with(buf, "", 0);
	buf[12] = 0x11;		/* version 1 in binary */
	ck_assert_int_eq(secho_proxy_parse(buf, n, &pi), -1);
	buf[12] = 0x22;		/* command 2 */
	ck_assert_int_eq(secho_proxy_parse(buf, n, &pi), -1);
	n = v2_with(buf, "", 0);
	buf[13] = 0x13;		/* transport 3 */
	ck_assert_int_eq(secho_proxy_parse(buf, n, &pi), -1);
	buf[13] = 0x41;		/* family 4 */
	ck_assert_int_eq(secho_proxy_parse(buf, n, &pi), -1);
	buf[13] = 0x21;		/* IPv6 but only 12 address bytes */
	ck_assert_int_eq(secho_proxy_parse(buf, n, &pi), -1);
	ck_assert_msg(strstr(secho_error(), "too short for its addresses")
	    != NULL, "%s", secho_error());
	/* A LOCAL header's address block is discarded, whatever it is. */
	buf[12] = 0x20;
	ck_assert_int_eq(secho_proxy_parse(buf, n, &pi), (ssize_t)n);
	ck_assert_int_eq(pi.local, 1);
}
END_TEST

START_TEST(crc32c_vector)
{
	/* The check value of CRC-32C (RFC 3720, iSCSI). */
	ck_assert_uint_eq(secho_crc32c(0, "123456789", 9), 0xe3069283U);
	ck_assert_uint_eq(secho_crc32c(secho_crc32c(0, "1234", 4), "56789",
	    5), 0xe3069283U);
}
END_TEST

START_TEST(v1_build_roundtrip)
{
	struct secho_sockaddr src = sa("::ffff:10.1.2.3", 1), dst = sa("::1", 2);
	char buf[SECHO_PROXY_V1_MAX + 1];
	struct secho_proxy_info pi;
	ssize_t n;

	n = secho_proxy_build(1, (struct sockaddr *)&src.ss,
	    (struct sockaddr *)&dst.ss, 0, NULL, buf, sizeof(buf));
	ck_assert_msg(n > 0, "%s", secho_error());
	ck_assert_int_eq(secho_proxy_parse(buf, (size_t)n, &pi), n);
	/* Shown as the IPv4 client it is. */
	ck_assert_str_eq(str(&pi.src), "10.1.2.3:1");
	n = secho_proxy_build(1, NULL, NULL, 0, NULL, buf, sizeof(buf));
	ck_assert_int_eq(n, 15);
	ck_assert_int_eq(memcmp(buf, "PROXY UNKNOWN\r\n", 15), 0);
	/* Mixed families cannot be said. */
	src = sa("10.0.0.1", 1);
	ck_assert_int_eq(secho_proxy_build(1, (struct sockaddr *)&src.ss,
	    (struct sockaddr *)&dst.ss, 0, NULL, buf, sizeof(buf)), -1);
}
END_TEST

START_TEST(cidr)
{
	struct secho_cidr list[3];
	struct secho_sockaddr a;

	ck_assert_int_eq(secho_cidr_parse("127.0.0.0/8", &list[0]), 0);
	ck_assert_int_eq(secho_cidr_parse("::1", &list[1]), 0);
	ck_assert_int_eq(secho_cidr_parse("fd00:ab::/33", &list[2]), 0);
	a = sa("127.9.8.7", 1);
	ck_assert(secho_cidr_match(list, 3, (struct sockaddr *)&a.ss));
	a = sa("128.0.0.1", 1);
	ck_assert(!secho_cidr_match(list, 3, (struct sockaddr *)&a.ss));
	a = sa("::ffff:127.0.0.1", 1);	/* the same client as IPv4 */
	ck_assert(secho_cidr_match(list, 3, (struct sockaddr *)&a.ss));
	a = sa("::2", 1);
	ck_assert(!secho_cidr_match(list, 3, (struct sockaddr *)&a.ss));
	a = sa("fd00:ab:7fff::1", 1);	/* bit 33 clear */
	ck_assert(secho_cidr_match(list, 3, (struct sockaddr *)&a.ss));
	a = sa("fd00:ab:8000::1", 1);	/* bit 33 set */
	ck_assert(!secho_cidr_match(list, 3, (struct sockaddr *)&a.ss));
	ck_assert_int_eq(secho_cidr_parse("0.0.0.0/0", &list[0]), 0);
	a = sa("203.0.113.1", 1);
	ck_assert(secho_cidr_match(list, 1, (struct sockaddr *)&a.ss));
	ck_assert(!secho_cidr_match(list, 0, (struct sockaddr *)&a.ss));
	for (const char *const *b = (const char *const[]){ "10.0.0.0/33",
	    "::1/129", "x", "/8", "10.0.0.0/", "10.0.0.0/+8", "10.0.0.0/8x",
	    "", NULL }; *b != NULL; b++) {
		ck_assert_msg(secho_cidr_parse(*b, &list[0]) == -1,
		    "accepted '%s'", *b);
		ck_assert_msg(strstr(secho_error(), "is not an address or a "
		    "network") != NULL, "'%s': %s", *b, secho_error());
	}
}
END_TEST

/* --- the server side --- */

static struct tu_server srv;

static void
start_proxied(const char *const *extra)
{
	const char *args[24] = { "--tcp", "-b", "127.0.0.1", "-p", "0",
	    "--proxy-protocol", "-v", "--handshake-timeout", "1" };
	int n = 9;

	while (*extra != NULL)
		args[n++] = *extra++;
	args[n] = NULL;
	ck_assert_msg(tu_server_start(&srv, args, 1) == 0,
	    "secho-server did not start");
}

/* Sends hdr then msg on a new connection; returns what came back. */
static size_t
proxied_echo(const void *hdr, size_t hlen, const char *msg, char *got,
    size_t cap)
{
	int fd = tu_connect(srv.port[0], 0);
	size_t n;

	ck_assert_msg(fd >= 0, "connect");
	ck_assert_int_eq(tu_write_all(fd, hdr, hlen), 0);
	ck_assert_int_eq(tu_write_all(fd, msg, strlen(msg)), 0);
	n = tu_read_full(fd, got, cap < strlen(msg) ? cap : strlen(msg),
	    tu_slow(5000));
	close(fd);
	return n;
}

/* True when the server closes fd (EOF or reset) within ms, unechoed. */
static int
closed_unechoed(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	return poll(&pfd, 1, tu_slow(ms)) == 1 && read(fd, &c, 1) <= 0;
}

START_TEST(server_v1_v2_local)
{
	struct secho_sockaddr src = sa("198.51.100.20", 40001),
	    dst = sa("127.0.0.1", 7007);
	struct secho_proxy_tlvs t = { .alpn = "echo", .authority = "a.test",
	    .crc32c = 1 };
	unsigned char hdr[256];
	char got[64];
	ssize_t n;

	start_proxied((const char *[]){ NULL });
	/* v1: the client it names is the one the log speaks of. */
	ck_assert_uint_eq(proxied_echo("PROXY TCP4 192.0.2.55 127.0.0.1 "
	    "6000 7007\r\n", 43, "one", got, sizeof(got)), 3);
	ck_assert_int_eq(memcmp(got, "one", 3), 0);
	tu_assert_log(&srv, "tcp 192.0.2.55:6000: PROXY header from "
	    "127.0.0.1:", 5000);
	tu_assert_log(&srv, "tcp 192.0.2.55:6000: closed (done, 3 bytes", 5000);
	/* v2 with TLVs and a checksum. */
	n = secho_proxy_build(2, (struct sockaddr *)&src.ss,
	    (struct sockaddr *)&dst.ss, 0, &t, hdr, sizeof(hdr));
	ck_assert_uint_eq(proxied_echo(hdr, (size_t)n, "two", got,
	    sizeof(got)), 3);
	tu_assert_log(&srv, "tcp 198.51.100.20:40001: PROXY header from", 5000);
	/* LOCAL, as haproxy's health checks send: the real peer stands. */
	n = secho_proxy_build(2, NULL, NULL, 0, NULL, hdr, sizeof(hdr));
	ck_assert_uint_eq(proxied_echo(hdr, (size_t)n, "local", got,
	    sizeof(got)), 5);
	tu_assert_log(&srv, "tcp 127.0.0.1:", 5000);
	tu_server_stop_clean(&srv);
}
END_TEST

START_TEST(server_refuses_bad_headers)
{
	static const char *const bad[] = {
		"GET / HTTP/1.0\r\n\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n",
		"\x16\x03\x01\x00\x05hello",
	};
	char got[16];
	int fd;

	start_proxied((const char *[]){ NULL });
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg((fd = tu_connect(srv.port[0], 0)) >= 0, "connect");
		ck_assert_int_eq(tu_write_all(fd, bad[i], strlen(bad[i])), 0);
		ck_assert_msg(closed_unechoed(fd, 2000), "bad header %zu was "
		    "not closed at once", i);
		close(fd);
	}
	tu_assert_log(&srv, "PROXY header refused: the connection does not "
	    "start with a PROXY protocol header", 5000);
	tu_assert_log(&srv, "PROXY header refused: PROXY v1 header: '99999' "
	    "is not a port", 5000);
	/* Half a header, then silence: the handshake timeout ends it. */
	ck_assert_msg((fd = tu_connect(srv.port[0], 0)) >= 0, "connect");
	ck_assert_int_eq(tu_write_all(fd, "PROXY TCP4 1.2", 14), 0);
	ck_assert_msg(closed_unechoed(fd, 5000), "a stalled header lived on");
	close(fd);
	tu_assert_log(&srv, "PROXY header refused: none within the handshake "
	    "timeout", 5000);
	/* Nobody else noticed. */
	ck_assert_uint_eq(proxied_echo("PROXY UNKNOWN\r\n", 15, "still", got,
	    sizeof(got)), 5);
	tu_server_stop_clean(&srv);
}
END_TEST

START_TEST(server_untrusted_peer)
{
	int fd;

	start_proxied((const char *[]){ "--proxy-from", "10.0.0.0/8", NULL });
	ck_assert_msg((fd = tu_connect(srv.port[0], 0)) >= 0, "connect");
	ck_assert_int_eq(tu_write_all(fd, "PROXY UNKNOWN\r\n", 15), 0);
	ck_assert_msg(closed_unechoed(fd, 2000), "an untrusted peer was served");
	close(fd);
	tu_assert_log(&srv, "tcp 127.0.0.1:", 5000);
	tu_assert_log(&srv, "PROXY header refused: the peer is not in "
	    "--proxy-from", 5000);
	tu_server_stop_clean(&srv);
}
END_TEST

/* --max-conns-per-ip counts the clients the headers name, not the
 * balancer that all of them come through. */
START_TEST(server_limits_proxied_clients)
{
	const char *h1 = "PROXY TCP4 192.0.2.1 127.0.0.1 1000 7007\r\n";
	const char *h2 = "PROXY TCP4 192.0.2.2 127.0.0.1 1000 7007\r\n";
	char got[4];
	int a, b, c;

	start_proxied((const char *[]){ "--max-conns-per-ip", "1", NULL });
	ck_assert((a = tu_connect(srv.port[0], 0)) >= 0);
	ck_assert_int_eq(tu_write_all(a, h1, strlen(h1)), 0);
	ck_assert_int_eq(tu_write_all(a, "a", 1), 0);
	ck_assert_uint_eq(tu_read_full(a, got, 1, tu_slow(5000)), 1);
	/* Another client through the same balancer: served. */
	ck_assert((b = tu_connect(srv.port[0], 0)) >= 0);
	ck_assert_int_eq(tu_write_all(b, h2, strlen(h2)), 0);
	ck_assert_int_eq(tu_write_all(b, "b", 1), 0);
	ck_assert_msg(tu_read_full(b, got, 1, tu_slow(5000)) == 1,
	    "a second client behind the balancer was refused: %s",
	    tu_server_log_tail(&srv));
	/* The first client again: over its limit. */
	ck_assert((c = tu_connect(srv.port[0], 0)) >= 0);
	ck_assert_int_eq(tu_write_all(c, h1, strlen(h1)), 0);
	ck_assert_msg(closed_unechoed(c, 2000), "192.0.2.1 got two");
	tu_assert_log(&srv, "tcp 192.0.2.1:1000: refused: --max-conns-per-ip "
	    "1 reached", 5000);
	close(a);
	close(b);
	close(c);
	tu_server_stop_clean(&srv);
}
END_TEST

Suite *
proxy_suite(void)
{
	Suite *s = suite_create("proxy");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, v1_tcp4);
	tcase_add_test(tc, v1_tcp6_and_unknown);
	tcase_add_loop_test(tc, v1_malformed, 0,
	    (int)(sizeof(v1_bad) / sizeof(v1_bad[0])));
	tcase_add_test(tc, v1_limits);
	tcase_add_test(tc, v2_roundtrip_v4_tlvs);
	tcase_add_test(tc, v2_v6_dgram_and_local);
	tcase_add_test(tc, v2_ssl_tlv);
	tcase_add_loop_test(tc, v2_malformed_tlvs, 0,
	    (int)(sizeof(v2_bad) / sizeof(v2_bad[0])));
	tcase_add_test(tc, v2_malformed_fixed);
	tcase_add_test(tc, crc32c_vector);
	tcase_add_test(tc, v1_build_roundtrip);
	suite_add_tcase(s, tc);
	tc = tcase_create("cidr");
	tcase_add_test(tc, cidr);
	suite_add_tcase(s, tc);
	tc = tcase_create("server");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, server_v1_v2_local);
	tcase_add_test(tc, server_refuses_bad_headers);
	tcase_add_test(tc, server_untrusted_peer);
	tcase_add_test(tc, server_limits_proxied_clients);
	suite_add_tcase(s, tc);
	return s;
}
