/*
 * proxy.h - the PROXY protocol (haproxy's doc/proxy-protocol.txt), v1
 * text and v2 binary: parsing the header a load balancer puts in front of
 * a connection, building one (secho-client --send-proxy), and the
 * --proxy-from CIDR list of peers trusted to send it.
 */
#ifndef SECHO_PROXY_H
#define SECHO_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "secho/net.h"

/* v1: "PROXY ... \r\n" is at most 107 bytes (the spec's bound). */
#define SECHO_PROXY_V1_MAX	107
/* v2: the 16-byte fixed part, then addresses and TLVs.  The spec allows
 * 64 KiB; what balancers send is a few hundred bytes, and a header is
 * held in memory before the first byte of the stream is: 1 KiB total. */
#define SECHO_PROXY_V2_MAX	1024
/* Enough to tell v1 from v2 from neither. */
#define SECHO_PROXY_SNIFF	12
#define SECHO_PROXY_UNIQUE_ID_MAX 128	/* PP2_TYPE_UNIQUE_ID, per the spec */
#define SECHO_PROXY_STR_MAX	256	/* ALPN, authority, SSL strings */

/* What a header said.  Strings are NUL-terminated ("" when absent). */
struct secho_proxy_info {
	int version;		/* 1 or 2 */
	/*
	 * v2 LOCAL (a health check) or v1 UNKNOWN / v2 AF_UNSPEC: the
	 * balancer speaks for itself, so the real endpoints stand.
	 */
	int local;
	int dgram;		/* v2 said SOCK_DGRAM */
	struct secho_sockaddr src, dst;	/* len 0 when local */
	char alpn[SECHO_PROXY_STR_MAX];
	char authority[SECHO_PROXY_STR_MAX];
	unsigned char unique_id[SECHO_PROXY_UNIQUE_ID_MAX];
	size_t unique_id_len;
	int crc_checked;	/* a CRC32C TLV was present and matched */
	/* PP2_TYPE_SSL: the balancer terminated TLS for this client. */
	int ssl;
	unsigned ssl_client;	/* PP2_CLIENT_* bits */
	uint32_t ssl_verify;	/* 0: the client certificate verified */
	char ssl_version[SECHO_PROXY_STR_MAX];
	char ssl_cn[SECHO_PROXY_STR_MAX];
	char ssl_cipher[SECHO_PROXY_STR_MAX];
	char ssl_sig_alg[SECHO_PROXY_STR_MAX];
	char ssl_key_alg[SECHO_PROXY_STR_MAX];
};

#define SECHO_PP2_CLIENT_SSL		0x01
#define SECHO_PP2_CLIENT_CERT_CONN	0x02
#define SECHO_PP2_CLIENT_CERT_SESS	0x04

/*
 * Parses the header at the start of buf[0, len).  Returns its length
 * (> 0) once it is complete, 0 when more bytes are needed to tell, or -1
 * when it is malformed, truncated at max, oversized or fails its CRC
 * (secho_error() says which, in one sentence).  Bytes after the header
 * are not looked at: they are the client's stream.
 */
ssize_t secho_proxy_parse(const void *buf, size_t len,
    struct secho_proxy_info *out);

/* Extras for a built v2 header (NULL / 0: none). */
struct secho_proxy_tlvs {
	const char *alpn;
	const char *authority;
	const unsigned char *unique_id;
	size_t unique_id_len;
	int crc32c;		/* add a CRC32C TLV */
};

/*
 * Writes a header (version 1 or 2) saying the connection came from src
 * to dst into buf; src NULL builds v1 "UNKNOWN" / v2 LOCAL.  Both must be
 * of one family.  Returns its length, or -1 (too small, wrong family,
 * v1 over datagrams).
 */
ssize_t secho_proxy_build(int version, const struct sockaddr *src,
    const struct sockaddr *dst, int dgram, const struct secho_proxy_tlvs *t,
    void *buf, size_t cap);

/* CRC32C (Castagnoli), as PP2_TYPE_CRC32C uses; crc 0 to start. */
uint32_t secho_crc32c(uint32_t crc, const void *buf, size_t len);

/* One --proxy-from entry: an address and a prefix length. */
struct secho_cidr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int bits;
};

/* "10.0.0.0/8", "::1", "fd00::/8" (no /N: the one address). */
int secho_cidr_parse(const char *s, struct secho_cidr *c);
/*
 * True when sa falls in one of the n entries; an IPv4-mapped IPv6
 * address matches IPv4 entries.
 */
int secho_cidr_match(const struct secho_cidr *list, size_t n,
    const struct sockaddr *sa);

/* --- Sending a header (proxy_send.c) --- */

/* A header about to go out, and the addresses it claims. */
struct secho_proxy_header {
	unsigned char buf[SECHO_PROXY_V1_MAX + 1];	/* v1 or v2, no TLVs */
	size_t len;
	struct secho_sockaddr src, dst;
};

/*
 * --send-proxy[=v1|v2]: s NULL (no value) is v1, as haproxy's send-proxy;
 * "v2" (or "2") the binary form.  opt names the option in the message.
 */
int secho_proxy_version_parse(const char *opt, const char *s, int *version);
/* "10.0.0.1:1234" or "[2001:db8::1]:1234": a numeric address and a port. */
int secho_proxy_addr_parse(const char *opt, const char *s,
    struct secho_sockaddr *out);
/*
 * Builds the header for the connected stream socket fd: src and dst are
 * the claimed ends, each NULL or len 0 for the socket's real local
 * address and peer.  Ends of different families are sent as IPv6, the
 * IPv4 one mapped (::ffff:a.b.c.d).  Returns 0 or -1.
 */
int secho_proxy_header_for(int version, int fd,
    const struct secho_sockaddr *src, const struct secho_sockaddr *dst,
    struct secho_proxy_header *h);
/* "10.0.0.1:1234 -> 127.0.0.1:7007", for -v. */
char *secho_proxy_header_str(const struct secho_proxy_header *h, char *buf,
    size_t len);

#endif
