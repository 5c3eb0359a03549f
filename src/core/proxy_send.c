/*
 * proxy_send.c - the sending side of the PROXY protocol: the header that
 * secho-client --send-proxy and secho-bench --send-proxy put first on a
 * connection, from its real addresses or claimed ones, and the parsing
 * of the option values that choose them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "secho/proxy.h"

int
secho_proxy_version_parse(const char *opt, const char *s, int *version)
{
	/* No value: v1, what haproxy's send-proxy (and nginx) send. */
	if (s == NULL || strcmp(s, "v1") == 0 || strcmp(s, "1") == 0)
		*version = 1;
	else if (strcmp(s, "v2") == 0 || strcmp(s, "2") == 0)
		*version = 2;
	else {
		secho_error_set("%s=%s: the PROXY protocol version is v1 or v2",
		    opt, s);
		return -1;
	}
	return 0;
}

int
secho_proxy_addr_parse(const char *opt, const char *s,
    struct secho_sockaddr *out)
{
	struct sockaddr_in *in = (struct sockaddr_in *)(void *)&out->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&out->ss;
	struct secho_endpoint ep;

	memset(out, 0, sizeof(*out));
	if (strstr(s, "://") != NULL || secho_endpoint_parse(s, &ep) == -1 ||
	    ep.port == -1)
		goto bad;
	if (inet_pton(AF_INET, ep.host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)ep.port);
		out->len = sizeof(*in);
	} else if (inet_pton(AF_INET6, ep.host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)ep.port);
		out->len = sizeof(*in6);
	} else
		goto bad;
	return 0;
bad:
	secho_error_set("%s: '%s' is not an IP address and port (e.g. "
	    "10.0.0.1:1234 or [2001:db8::1]:1234)", opt, s);
	return -1;
}

/* a.b.c.d:port as ::ffff:a.b.c.d:port (in place). */
static void
map_v6(struct secho_sockaddr *a)
{
	struct sockaddr_in in = *(struct sockaddr_in *)(void *)&a->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&a->ss;

	memset(&a->ss, 0, sizeof(a->ss));
	in6->sin6_family = AF_INET6;
	in6->sin6_port = in.sin_port;
	in6->sin6_addr.s6_addr[10] = 0xff;
	in6->sin6_addr.s6_addr[11] = 0xff;
	memcpy(&in6->sin6_addr.s6_addr[12], &in.sin_addr, 4);
	a->len = sizeof(*in6);
}

/* A claimed address, or the socket's own (getsockname / getpeername). */
static int
endpoint(int fd, const struct secho_sockaddr *claimed, int peer,
    struct secho_sockaddr *out)
{
	struct sockaddr *sa = (struct sockaddr *)&out->ss;
	int rc;

	if (claimed != NULL && claimed->len > 0) {
		*out = *claimed;
		return 0;
	}
	out->len = sizeof(out->ss);
	rc = peer ? getpeername(fd, sa, &out->len) : getsockname(fd, sa,
	    &out->len);
	if (rc == -1) {
		secho_error_set("cannot get the connection's %s address for "
		    "the PROXY header: %s", peer ? "peer" : "local",
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
secho_proxy_header_for(int version, int fd, const struct secho_sockaddr *src,
    const struct secho_sockaddr *dst, struct secho_proxy_header *h)
{
	ssize_t n;

	if (endpoint(fd, src, 0, &h->src) == -1 ||
	    endpoint(fd, dst, 1, &h->dst) == -1)
		return -1;
	/*
	 * Both versions carry one family for both ends.  A claimed IPv4
	 * source to an IPv6 server (or an IPv6 one to an IPv4 server) sends
	 * the IPv4 end as its IPv4-mapped IPv6 address, ::ffff:a.b.c.d, which
	 * a receiver on a dual-stack socket would have seen anyway.
	 */
	if (h->src.ss.ss_family == AF_INET && h->dst.ss.ss_family == AF_INET6)
		map_v6(&h->src);
	else if (h->src.ss.ss_family == AF_INET6 &&
	    h->dst.ss.ss_family == AF_INET)
		map_v6(&h->dst);
	n = secho_proxy_build(version, (struct sockaddr *)&h->src.ss,
	    (struct sockaddr *)&h->dst.ss, 0, NULL, h->buf, sizeof(h->buf));
	if (n < 0)
		return -1;
	h->len = (size_t)n;
	return 0;
}

char *
secho_proxy_header_str(const struct secho_proxy_header *h, char *buf,
    size_t len)
{
	char s[SECHO_ADDRSTR_MAX], d[SECHO_ADDRSTR_MAX];

	snprintf(buf, len, "%s -> %s", secho_sockaddr_str((const struct
	    sockaddr *)&h->src.ss, s, sizeof(s)), secho_sockaddr_str(
	    (const struct sockaddr *)&h->dst.ss, d, sizeof(d)));
	return buf;
}
