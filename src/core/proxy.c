/*
 * proxy.c - the PROXY protocol header, v1 and v2, as haproxy's
 * doc/proxy-protocol.txt defines it.  The bytes come from the network
 * before anything else the client sends, so every length is checked
 * before it is used and each step is one small function (the shape of
 * nginx's ngx_proxy_protocol.c).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secho/proxy.h"

static const unsigned char v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

#define V2_FIXED	16	/* signature, ver_cmd, fam, len */
#define V2_LOCAL	0x20
#define V2_PROXY	0x21
#define AF_V2_INET	1
#define AF_V2_INET6	2
#define AF_V2_UNIX	3

enum {
	PP2_TYPE_ALPN = 0x01, PP2_TYPE_AUTHORITY = 0x02, PP2_TYPE_CRC32C = 0x03,
	PP2_TYPE_NOOP = 0x04, PP2_TYPE_UNIQUE_ID = 0x05, PP2_TYPE_SSL = 0x20,
	PP2_SUBTYPE_SSL_VERSION = 0x21, PP2_SUBTYPE_SSL_CN = 0x22,
	PP2_SUBTYPE_SSL_CIPHER = 0x23, PP2_SUBTYPE_SSL_SIG_ALG = 0x24,
	PP2_SUBTYPE_SSL_KEY_ALG = 0x25,
};

/* --- CRC32C (Castagnoli, reflected 0x82f63b78), bitwise per byte --- */

uint32_t
secho_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	/* A header is checked once per connection: no table needed. */
	crc = ~crc;
	while (len-- > 0) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78U & (0U - (crc & 1)));
	}
	return ~crc;
}

static unsigned
be16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static void
set_addr(struct secho_sockaddr *a, int family, const void *ip,
    unsigned port)
{
	memset(a, 0, sizeof(*a));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;

		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, ip, 4);
		in->sin_port = htons((uint16_t)port);
		a->len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;

		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, ip, 16);
		in6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*in6);
	}
}

/* --- v1: "PROXY TCP4 1.2.3.4 5.6.7.8 1234 80\r\n" --- */

/* One decimal port, 0..65535, digits only. */
static int
v1_port(const char *s, unsigned *port)
{
	size_t n = strlen(s);
	unsigned long v = 0;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

/* The fields after "PROXY TCP4 " / "PROXY TCP6 ", split on single spaces. */
static int
v1_fields(char *line, int family, struct secho_proxy_info *out)
{
	char *f[5], *save = NULL;
	unsigned char ip[2][16];
	unsigned port[2];
	int n = 0;

	for (char *t = strtok_r(line, " ", &save); t != NULL && n < 5;
	    t = strtok_r(NULL, " ", &save))
		f[n++] = t;
	if (n != 4) {
		secho_error_set("PROXY v1 header needs exactly source and "
		    "destination address and port after the protocol");
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		if (inet_pton(family, f[i], ip[i]) != 1) {
			secho_error_set("PROXY v1 header: '%s' is not an %s "
			    "address", f[i], family == AF_INET ? "IPv4" :
			    "IPv6");
			return -1;
		}
		if (v1_port(f[2 + i], &port[i]) == -1) {
			secho_error_set("PROXY v1 header: '%s' is not a port",
			    f[2 + i]);
			return -1;
		}
	}
	set_addr(&out->src, family, ip[0], port[0]);
	set_addr(&out->dst, family, ip[1], port[1]);
	return 0;
}

static ssize_t
v1_parse(const char *buf, size_t len, struct secho_proxy_info *out)
{
	size_t max = len < SECHO_PROXY_V1_MAX ? len : SECHO_PROXY_V1_MAX;
	char line[SECHO_PROXY_V1_MAX + 1];
	const char *end = NULL;
	size_t n;

	for (size_t i = 0; i + 1 < max && end == NULL; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n')
			end = buf + i;
	if (end == NULL) {
		if (len < SECHO_PROXY_V1_MAX && memchr(buf, '\n', len) == NULL)
			return 0;
		secho_error_set("PROXY v1 header has no CRLF within %d bytes",
		    SECHO_PROXY_V1_MAX);
		return -1;
	}
	n = (size_t)(end - buf);
	if (memchr(buf, '\0', n) != NULL || memchr(buf, '\n', n) != NULL) {
		secho_error_set("PROXY v1 header holds a control byte");
		return -1;
	}
	memcpy(line, buf, n);
	line[n] = '\0';
	out->version = 1;
	if (strncmp(line, "PROXY UNKNOWN", 13) == 0 &&
	    (line[13] == '\0' || line[13] == ' ')) {
		out->local = 1;		/* the rest is to be ignored */
		return (ssize_t)n + 2;
	}
	if (strncmp(line, "PROXY TCP4 ", 11) == 0) {
		if (v1_fields(line + 11, AF_INET, out) == -1)
			return -1;
	} else if (strncmp(line, "PROXY TCP6 ", 11) == 0) {
		if (v1_fields(line + 11, AF_INET6, out) == -1)
			return -1;
	} else {
		secho_error_set("PROXY v1 header names no protocol (TCP4, "
		    "TCP6 or UNKNOWN)");
		return -1;
	}
	return (ssize_t)n + 2;
}

/* --- v2: 12-byte signature, ver_cmd, fam, length, addresses, TLVs --- */

/* A TLV's value as a string into dst (of SECHO_PROXY_STR_MAX). */
static int
tlv_str(char *dst, const unsigned char *v, size_t n, const char *what)
{
	if (n >= SECHO_PROXY_STR_MAX) {
		secho_error_set("PROXY v2 %s TLV is longer than %d bytes", what,
		    SECHO_PROXY_STR_MAX - 1);
		return -1;
	}
	if (memchr(v, '\0', n) != NULL) {
		secho_error_set("PROXY v2 %s TLV holds a NUL byte", what);
		return -1;
	}
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

static int
ssl_sub_tlv(unsigned type, const unsigned char *v, size_t n,
    struct secho_proxy_info *out)
{
	switch (type) {
	case PP2_SUBTYPE_SSL_VERSION:
		return tlv_str(out->ssl_version, v, n, "SSL version");
	case PP2_SUBTYPE_SSL_CN:
		return tlv_str(out->ssl_cn, v, n, "SSL CN");
	case PP2_SUBTYPE_SSL_CIPHER:
		return tlv_str(out->ssl_cipher, v, n, "SSL cipher");
	case PP2_SUBTYPE_SSL_SIG_ALG:
		return tlv_str(out->ssl_sig_alg, v, n, "SSL signature "
		    "algorithm");
	case PP2_SUBTYPE_SSL_KEY_ALG:
		return tlv_str(out->ssl_key_alg, v, n, "SSL key algorithm");
	default:
		return 0;	/* unknown: skipped, as the spec says */
	}
}

typedef int tlv_fn(unsigned type, const unsigned char *v, size_t n,
    struct secho_proxy_info *out, const unsigned char *hdr, size_t hlen);

/* Walks the TLVs in p[0, n), calling fn for each. */
static int
tlv_walk(const unsigned char *p, size_t n, tlv_fn *fn,
    struct secho_proxy_info *out, const unsigned char *hdr, size_t hlen)
{
	size_t off = 0;

	while (off < n) {
		unsigned type;
		size_t tlen;

		if (n - off < 3) {
			secho_error_set("PROXY v2 header ends inside a TLV");
			return -1;
		}
		type = p[off];
		tlen = be16(p + off + 1);
		off += 3;
		if (tlen > n - off) {
			secho_error_set("PROXY v2 TLV 0x%02x claims %zu bytes, "
			    "%zu are left", type, tlen, n - off);
			return -1;
		}
		if (fn(type, p + off, tlen, out, hdr, hlen) == -1)
			return -1;
		off += tlen;
	}
	return 0;
}

static int
ssl_sub_fn(unsigned type, const unsigned char *v, size_t n,
    struct secho_proxy_info *out, const unsigned char *hdr, size_t hlen)
{
	(void)hdr;
	(void)hlen;
	return ssl_sub_tlv(type, v, n, out);
}

/* The checksum over the whole header with its own four bytes zeroed. */
static int
check_crc(const unsigned char *v, size_t n, const unsigned char *hdr,
    size_t hlen, struct secho_proxy_info *out)
{
	unsigned char copy[SECHO_PROXY_V2_MAX];
	uint32_t want, got;

	if (n != 4) {
		secho_error_set("PROXY v2 CRC32C TLV is %zu bytes, not 4", n);
		return -1;
	}
	want = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 |
	    (uint32_t)v[2] << 8 | v[3];
	memcpy(copy, hdr, hlen);
	memset(copy + (v - hdr), 0, 4);
	got = secho_crc32c(0, copy, hlen);
	if (got != want) {
		secho_error_set("PROXY v2 header fails its CRC32C check");
		return -1;
	}
	out->crc_checked = 1;
	return 0;
}

static int
top_tlv(unsigned type, const unsigned char *v, size_t n,
    struct secho_proxy_info *out, const unsigned char *hdr, size_t hlen)
{
	switch (type) {
	case PP2_TYPE_ALPN:
		return tlv_str(out->alpn, v, n, "ALPN");
	case PP2_TYPE_AUTHORITY:
		return tlv_str(out->authority, v, n, "authority");
	case PP2_TYPE_CRC32C:
		return check_crc(v, n, hdr, hlen, out);
	case PP2_TYPE_UNIQUE_ID:
		if (n > SECHO_PROXY_UNIQUE_ID_MAX) {
			secho_error_set("PROXY v2 unique ID TLV is longer "
			    "than %d bytes", SECHO_PROXY_UNIQUE_ID_MAX);
			return -1;
		}
		memcpy(out->unique_id, v, n);
		out->unique_id_len = n;
		return 0;
	case PP2_TYPE_SSL:
		if (n < 5) {
			secho_error_set("PROXY v2 SSL TLV is shorter than 5 "
			    "bytes");
			return -1;
		}
		out->ssl = 1;
		out->ssl_client = v[0];
		out->ssl_verify = (uint32_t)v[1] << 24 | (uint32_t)v[2] << 16 |
		    (uint32_t)v[3] << 8 | v[4];
		return tlv_walk(v + 5, n - 5, ssl_sub_fn, out, hdr, hlen);
	default:
		return 0;	/* NOOP, NETNS and unknown ones: skipped */
	}
}

/* Address block sizes by v2 family: unspec, inet, inet6, unix. */
static const size_t addr_len[] = { 0, 12, 36, 216 };

/* The address block of a PROXY command; returns its length or -1. */
static ssize_t
v2_addrs(const unsigned char *p, size_t n, unsigned af,
    struct secho_proxy_info *out)
{
	if (af > AF_V2_UNIX) {
		secho_error_set("PROXY v2 header names address family %u", af);
		return -1;
	}
	if (n < addr_len[af]) {
		secho_error_set("PROXY v2 header is too short for its "
		    "addresses (%zu of %zu bytes)", n, addr_len[af]);
		return -1;
	}
	if (af == AF_V2_INET) {
		set_addr(&out->src, AF_INET, p, be16(p + 8));
		set_addr(&out->dst, AF_INET, p + 4, be16(p + 10));
	} else if (af == AF_V2_INET6) {
		set_addr(&out->src, AF_INET6, p, be16(p + 32));
		set_addr(&out->dst, AF_INET6, p + 16, be16(p + 34));
	} else
		out->local = 1;	/* unspecified or a unix socket: ours stand */
	return (ssize_t)addr_len[af];
}

/* Checks the fixed part; returns the whole header's length or -1. */
static ssize_t
v2_fixed(const unsigned char *buf)
{
	unsigned cmd = buf[12], tp = buf[13] & 0x0f;
	size_t total = V2_FIXED + be16(buf + 14);

	if (cmd != V2_LOCAL && cmd != V2_PROXY) {
		secho_error_set("PROXY v2 header has version/command 0x%02x "
		    "(2/LOCAL or 2/PROXY expected)", cmd);
		return -1;
	}
	if (tp > 2) {
		secho_error_set("PROXY v2 header names transport %u", tp);
		return -1;
	}
	if (total > SECHO_PROXY_V2_MAX) {
		secho_error_set("PROXY v2 header of %zu bytes is over secho's "
		    "limit of %d", total, SECHO_PROXY_V2_MAX);
		return -1;
	}
	return (ssize_t)total;
}

static ssize_t
v2_parse(const unsigned char *buf, size_t len, struct secho_proxy_info *out)
{
	unsigned af;
	ssize_t total, alen;

	if (len < V2_FIXED)
		return 0;
	if ((total = v2_fixed(buf)) == -1 || len < (size_t)total)
		return total == -1 ? -1 : 0;
	af = buf[13] >> 4;
	out->version = 2;
	out->dgram = (buf[13] & 0x0f) == 2;
	out->local = buf[12] == V2_LOCAL;
	if (out->local) {
		/* A health check: its address block is to be discarded. */
		if (af > AF_V2_UNIX || (size_t)total - V2_FIXED < addr_len[af])
			return total;
		alen = (ssize_t)addr_len[af];
	} else if ((alen = v2_addrs(buf + V2_FIXED, (size_t)total - V2_FIXED,
	    af, out)) == -1)
		return -1;
	if (tlv_walk(buf + V2_FIXED + alen, (size_t)(total - V2_FIXED - alen),
	    top_tlv, out, buf, (size_t)total) == -1)
		return -1;
	return total;
}

ssize_t
secho_proxy_parse(const void *buf, size_t len, struct secho_proxy_info *out)
{
	const unsigned char *p = buf;
	size_t sig = len < sizeof(v2_sig) ? len : sizeof(v2_sig);

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return 0;
	if (memcmp(p, v2_sig, sig) == 0)
		return sig < sizeof(v2_sig) ? 0 : v2_parse(p, len, out);
	if (memcmp(p, "PROXY ", len < 6 ? len : 6) == 0)
		return len < 6 ? 0 : v1_parse(buf, len, out);
	secho_error_set("the connection does not start with a PROXY "
	    "protocol header");
	return -1;
}

/* --- building a header (secho-client --send-proxy, and the tests) --- */

static ssize_t
v1_build(const struct sockaddr *src, const struct sockaddr *dst, char *buf,
    size_t cap)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	int n, v6;

	if (src == NULL)
		n = snprintf(buf, cap, "PROXY UNKNOWN\r\n");
	else {
		v6 = src->sa_family == AF_INET6;
		inet_ntop(src->sa_family, v6 ?
		    (const void *)&((const struct sockaddr_in6 *)src)->sin6_addr :
		    (const void *)&((const struct sockaddr_in *)src)->sin_addr,
		    a, sizeof(a));
		inet_ntop(dst->sa_family, v6 ?
		    (const void *)&((const struct sockaddr_in6 *)dst)->sin6_addr :
		    (const void *)&((const struct sockaddr_in *)dst)->sin_addr,
		    b, sizeof(b));
		n = snprintf(buf, cap, "PROXY %s %s %s %d %d\r\n",
		    v6 ? "TCP6" : "TCP4", a, b, secho_sockaddr_port(src),
		    secho_sockaddr_port(dst));
	}
	if (n < 0 || (size_t)n >= cap) {
		secho_error_set("no room for a PROXY v1 header");
		return -1;
	}
	return n;
}

/* Appends one TLV at *off; 0 or -1 when it does not fit. */
static int
put_tlv(unsigned char *buf, size_t cap, size_t *off, unsigned type,
    const void *v, size_t n)
{
	if (n > 0xffff || cap - *off < 3 + n) {
		secho_error_set("no room for a PROXY v2 TLV");
		return -1;
	}
	buf[*off] = (unsigned char)type;
	buf[*off + 1] = (unsigned char)(n >> 8);
	buf[*off + 2] = (unsigned char)n;
	if (n > 0)
		memcpy(buf + *off + 3, v, n);
	*off += 3 + n;
	return 0;
}

static int
v2_build_tlvs(const struct secho_proxy_tlvs *t, unsigned char *buf,
    size_t cap, size_t *off)
{
	static const unsigned char zero[4];

	if (t->alpn != NULL && put_tlv(buf, cap, off, PP2_TYPE_ALPN, t->alpn,
	    strlen(t->alpn)) == -1)
		return -1;
	if (t->authority != NULL && put_tlv(buf, cap, off, PP2_TYPE_AUTHORITY,
	    t->authority, strlen(t->authority)) == -1)
		return -1;
	if (t->unique_id_len > 0 && put_tlv(buf, cap, off, PP2_TYPE_UNIQUE_ID,
	    t->unique_id, t->unique_id_len) == -1)
		return -1;
	/* Last, so it is found at the end once the length is known. */
	return t->crc32c ? put_tlv(buf, cap, off, PP2_TYPE_CRC32C, zero, 4) : 0;
}

static ssize_t
v2_build(const struct sockaddr *src, const struct sockaddr *dst, int dgram,
    const struct secho_proxy_tlvs *t, unsigned char *buf, size_t cap)
{
	int v6 = src != NULL && src->sa_family == AF_INET6;
	size_t off = V2_FIXED;

	if (cap < V2_FIXED + 36) {
		secho_error_set("no room for a PROXY v2 header");
		return -1;
	}
	memcpy(buf, v2_sig, sizeof(v2_sig));
	buf[12] = src == NULL ? V2_LOCAL : V2_PROXY;
	buf[13] = (unsigned char)((src == NULL ? 0 : v6 ? AF_V2_INET6 :
	    AF_V2_INET) << 4 | (src == NULL ? 0 : dgram ? 2 : 1));
	if (src != NULL && v6) {
		memcpy(buf + off, &((const struct sockaddr_in6 *)src)->sin6_addr,
		    16);
		memcpy(buf + off + 16,
		    &((const struct sockaddr_in6 *)dst)->sin6_addr, 16);
		off += 32;
	} else if (src != NULL) {
		memcpy(buf + off, &((const struct sockaddr_in *)src)->sin_addr, 4);
		memcpy(buf + off + 4, &((const struct sockaddr_in *)dst)->sin_addr,
		    4);
		off += 8;
	}
	if (src != NULL) {
		unsigned sp = secho_sockaddr_port(src), dp =
		    secho_sockaddr_port(dst);

		buf[off++] = (unsigned char)(sp >> 8);
		buf[off++] = (unsigned char)sp;
		buf[off++] = (unsigned char)(dp >> 8);
		buf[off++] = (unsigned char)dp;
	}
	if (t != NULL && v2_build_tlvs(t, buf, cap, &off) == -1)
		return -1;
	buf[14] = (unsigned char)((off - V2_FIXED) >> 8);
	buf[15] = (unsigned char)(off - V2_FIXED);
	if (t != NULL && t->crc32c) {
		uint32_t crc = secho_crc32c(0, buf, off);

		for (int i = 0; i < 4; i++)
			buf[off - 4 + (size_t)i] = (unsigned char)(crc >>
			    (24 - 8 * i));
	}
	return (ssize_t)off;
}

ssize_t
secho_proxy_build(int version, const struct sockaddr *src,
    const struct sockaddr *dst, int dgram, const struct secho_proxy_tlvs *t,
    void *buf, size_t cap)
{
	if (src != NULL && (dst == NULL || src->sa_family != dst->sa_family ||
	    (src->sa_family != AF_INET && src->sa_family != AF_INET6))) {
		secho_error_set("a PROXY header needs two IPv4 or two IPv6 "
		    "addresses");
		return -1;
	}
	if (version == 1) {
		if (dgram) {
			secho_error_set("PROXY v1 is for TCP only: use v2 for "
			    "datagrams");
			return -1;
		}
		return v1_build(src, dst, buf, cap);
	}
	return v2_build(src, dst, dgram, t, buf, cap);
}

/* --- --proxy-from: who may send a header --- */

int
secho_cidr_parse(const char *s, struct secho_cidr *c)
{
	char ip[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	long bits;
	char *end;

	memset(c, 0, sizeof(*c));
	if (n == 0 || n >= sizeof(ip))
		goto bad;
	memcpy(ip, s, n);
	ip[n] = '\0';
	if (inet_pton(AF_INET, ip, c->addr) == 1)
		c->family = AF_INET;
	else if (inet_pton(AF_INET6, ip, c->addr) == 1)
		c->family = AF_INET6;
	else
		goto bad;
	c->bits = c->family == AF_INET ? 32 : 128;
	if (slash == NULL)
		return 0;
	bits = strtol(slash + 1, &end, 10);
	if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || bits < 0 ||
	    bits > c->bits)
		goto bad;
	c->bits = (int)bits;
	return 0;
bad:
	secho_error_set("'%s' is not an address or a network (e.g. "
	    "127.0.0.1, 10.0.0.0/8, ::1, fd00::/8)", s);
	return -1;
}

static int
prefix_eq(const unsigned char *a, const unsigned char *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)whole) != 0)
		return 0;
	return rest == 0 || ((a[whole] ^ b[whole]) & (0xff00 >> rest) & 0xff)
	    == 0;
}

int
secho_cidr_match(const struct secho_cidr *list, size_t n,
    const struct sockaddr *sa)
{
	const unsigned char *a;
	int family = sa->sa_family;

	if (family == AF_INET)
		a = (const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
	else if (family == AF_INET6) {
		const struct in6_addr *in6 =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;

		a = in6->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(in6)) {
			a += 12;	/* the same client as plain IPv4 */
			family = AF_INET;
		}
	} else
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (list[i].family == family &&
		    prefix_eq(list[i].addr, a, list[i].bits))
			return 1;
	}
	return 0;
}
