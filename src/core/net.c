/*
 * net.c - resolve, listen, accept and connect for IPv4 and IPv6.
 *
 * Every socket made here is non-blocking and close-on-exec from birth, so
 * no caller has to remember either, and every failure leaves one line
 * naming the address and the reason in secho_error().
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/uio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secho/net.h"

int
secho_port_parse(const char *s, int *port)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < 0 || v > 65535 ||
	    !isdigit((unsigned char)*s)) {
		secho_error_set("invalid port '%s' (expected 0-65535)", s);
		return -1;
	}
	*port = (int)v;
	return 0;
}

static int
copy_host(struct secho_endpoint *ep, const char *s, size_t len)
{
	if (len >= sizeof(ep->host)) {
		secho_error_set("host name too long");
		return -1;
	}
	memcpy(ep->host, s, len);
	ep->host[len] = '\0';
	if (strcmp(ep->host, "*") == 0)
		ep->host[0] = '\0';
	return 0;
}

/* "[v6]" or "[v6]:port" */
static int
parse_bracketed(const char *s, struct secho_endpoint *ep)
{
	const char *close = strchr(s, ']');

	if (close == NULL) {
		secho_error_set("missing ']' in '%s'", s);
		return -1;
	}
	if (copy_host(ep, s + 1, (size_t)(close - s - 1)) == -1)
		return -1;
	if (!secho_net_is_ip(ep->host) || strchr(ep->host, ':') == NULL) {
		secho_error_set("'%s' in brackets is not an IPv6 address",
		    ep->host);
		return -1;
	}
	if (close[1] == '\0')
		return 0;
	if (close[1] != ':') {
		secho_error_set("expected ':PORT' after ']' in '%s'", s);
		return -1;
	}
	return secho_port_parse(close + 2, &ep->port);
}

int
secho_endpoint_parse(const char *spec, struct secho_endpoint *ep)
{
	const char *s = spec, *sep, *colon;
	char proto[8];

	ep->host[0] = '\0';
	ep->port = -1;
	if ((sep = strstr(s, "://")) != NULL) {
		if ((size_t)(sep - s) >= sizeof(proto)) {
			secho_error_set("unknown transport in '%s'", spec);
			return -1;
		}
		memcpy(proto, s, (size_t)(sep - s));
		proto[sep - s] = '\0';
		if (secho_proto_parse(proto, &ep->proto) == -1)
			return -1;
		s = sep + 3;
	}
	if (*s == '[')
		return parse_bracketed(s, ep);
	if (*s != '\0' && strspn(s, "0123456789") == strlen(s))
		return secho_port_parse(s, &ep->port);
	colon = strchr(s, ':');
	if (colon == NULL || strchr(colon + 1, ':') != NULL)
		return copy_host(ep, s, strlen(s));	/* name or bare v6 */
	if (copy_host(ep, s, (size_t)(colon - s)) == -1)
		return -1;
	return secho_port_parse(colon + 1, &ep->port);
}

int
secho_net_is_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 ||
	    inet_pton(AF_INET6, s, buf) == 1;
}

int
secho_sockaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->
		    sin6_port);
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->
		    sin_port);
	return 0;
}

char *
secho_sockaddr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	char serv[8];

	if (getnameinfo(sa, sa->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
	    host, sizeof(host), serv, sizeof(serv),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(buf, len, "?");
		return buf;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		/* Show v4-mapped peers of a dual-stack socket as plain v4. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) &&
		    strncmp(host, "::ffff:", 7) == 0) {
			snprintf(buf, len, "%s:%s", host + 7, serv);
			return buf;
		}
		snprintf(buf, len, "[%s]:%s", host, serv);
	} else
		snprintf(buf, len, "%s:%s", host, serv);
	return buf;
}

int
secho_net_set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK :
	    fl & ~O_NONBLOCK) == -1) {
		secho_error_errno("fcntl");
		return -1;
	}
	return 0;
}

static int
resolve(const char *host, int port, int dgram, int passive,
    struct addrinfo **res)
{
	struct addrinfo hints;
	char serv[8];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = dgram ? SOCK_DGRAM : SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	snprintf(serv, sizeof(serv), "%d", port);
	rc = getaddrinfo(host, serv, &hints, res);
	if (rc != 0) {
		secho_error_set("cannot resolve %s: %s", host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	return 0;
}

static void
close_keep_errno(int fd)
{
	int saved = errno;

	close(fd);
	errno = saved;
}

/* Binds one address; returns the fd or -1 with the reason. */
static int
bind_one(const struct sockaddr *sa, socklen_t salen, int dgram, int backlog,
    int reuseport)
{
	char addr[SECHO_ADDRSTR_MAX];
	int fd, one = 1, zero = 0;

	fd = socket(sa->sa_family, (dgram ? SOCK_DGRAM : SOCK_STREAM) |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		secho_error_errno("cannot bind %s: socket",
		    secho_sockaddr_str(sa, addr, sizeof(addr)));
		return -1;
	}
	/*
	 * A restarted server must rebind at once despite TIME_WAIT.  Not for
	 * UDP: there SO_REUSEADDR lets a second server bind the same port
	 * and silently take part of the datagrams.
	 */
	if (!dgram)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* One socket for IPv4 and IPv6 wherever an IPv6 address is bound. */
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	/* Datagrams report their destination, so replies can leave from it. */
	if (dgram) {
		setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		if (sa->sa_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one,
			    sizeof(one));
	}
	if (bind(fd, sa, salen) == -1 ||
	    (!dgram && listen(fd, backlog) == -1))
		goto fail;
	/*
	 * Only after bind: our own per-client sockets may then share the
	 * port, while another server's bind still fails as it should.
	 */
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
		goto fail;
	return fd;
fail:
	secho_error_errno("cannot bind %s",
	    secho_sockaddr_str(sa, addr, sizeof(addr)));
	close_keep_errno(fd);
	return -1;
}

static int
listen_any(int port, int dgram, int backlog, int reuseport)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	int fd;

	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	s6.sin6_addr = in6addr_any;
	s6.sin6_port = htons((uint16_t)port);
	fd = bind_one((struct sockaddr *)&s6, sizeof(s6), dgram, backlog,
	    reuseport);
	if (fd != -1 || errno != EAFNOSUPPORT)
		return fd;
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_addr.s_addr = htonl(INADDR_ANY);
	s4.sin_port = htons((uint16_t)port);
	return bind_one((struct sockaddr *)&s4, sizeof(s4), dgram, backlog,
	    reuseport);
}

int
secho_net_listen(const char *host, int port, int dgram, int backlog,
    int reuseport, struct secho_sockaddr *bound)
{
	struct addrinfo *res, *ai;
	int fd = -1;

	if (host == NULL || *host == '\0' || strcmp(host, "::") == 0)
		fd = listen_any(port, dgram, backlog, reuseport);
	else {
		if (resolve(host, port, dgram, 1, &res) == -1)
			return -1;
		for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next)
			fd = bind_one(ai->ai_addr, ai->ai_addrlen, dgram,
			    backlog, reuseport);
		freeaddrinfo(res);
	}
	if (fd == -1)
		return -1;
	bound->len = sizeof(bound->ss);
	if (getsockname(fd, (struct sockaddr *)&bound->ss, &bound->len) == -1) {
		secho_error_errno("getsockname");
		close_keep_errno(fd);
		return -1;
	}
	return fd;
}

int
secho_net_accept(int lfd, struct secho_sockaddr *peer)
{
	int fd, one = 1;

	peer->len = sizeof(peer->ss);
	fd = accept4(lfd, (struct sockaddr *)&peer->ss, &peer->len,
	    SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1)
		return -1;
	/* Echoes are small and latency-bound: never wait for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Waits for a non-blocking connect; returns 0, or -1 with errno. */
static int
wait_connect(int fd, int timeout_ms, int *timed_out)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int rc, soerr = 0;

	do
		rc = poll(&pfd, 1, timeout_ms > 0 ? timeout_ms : -1);
	while (rc == -1 && errno == EINTR);
	if (rc == 0) {
		*timed_out = 1;
		errno = ETIMEDOUT;
		return -1;
	}
	if (rc == -1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
		return -1;
	if (soerr != 0) {
		errno = soerr;
		return -1;
	}
	return 0;
}

static int
connect_one(const struct addrinfo *ai, int timeout_ms, int *timed_out)
{
	int fd, one = 1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1)
		return -1;
	if (ai->ai_socktype == SOCK_STREAM)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno == EINPROGRESS && wait_connect(fd, timeout_ms,
	    timed_out) == 0)
		return fd;
	close_keep_errno(fd);
	return -1;
}

int
secho_net_connect(const char *host, int port, int dgram, int timeout_ms,
    struct secho_sockaddr *peer, int *timed_out)
{
	unsigned long long deadline;
	struct addrinfo *res, *ai;
	char addr[SECHO_ADDRSTR_MAX];
	int fd = -1, left = timeout_ms;

	*timed_out = 0;
	deadline = secho_now_us() + (unsigned long long)timeout_ms * 1000;
	if (resolve(host, port, dgram, 0, &res) == -1)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (timeout_ms > 0) {
			long long us = (long long)(deadline - secho_now_us());

			left = us > 0 ? (int)((us + 999) / 1000) : 0;
			if (left == 0) {
				*timed_out = 1;
				errno = ETIMEDOUT;
				secho_error_set("cannot connect to %s port %d: "
				    "timed out", host, port);
				break;
			}
		}
		fd = connect_one(ai, left, timed_out);
		if (fd != -1) {
			memcpy(&peer->ss, ai->ai_addr, ai->ai_addrlen);
			peer->len = ai->ai_addrlen;
			break;
		}
		secho_sockaddr_str(ai->ai_addr, addr, sizeof(addr));
		if (secho_net_is_ip(host))
			secho_error_errno("cannot connect to %s", addr);
		else
			secho_error_errno("cannot connect to %s (%s)", host,
			    addr);
		if (*timed_out)
			break;
	}
	freeaddrinfo(res);
	return fd;
}

int
secho_net_dgram_child(const struct secho_sockaddr *local,
    const struct secho_sockaddr *peer)
{
	char addr[SECHO_ADDRSTR_MAX];
	int fd, one = 1, zero = 0;

	fd = socket(local->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		secho_error_errno("socket");
		return -1;
	}
	if (local->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
	    bind(fd, (const struct sockaddr *)&local->ss, local->len) == -1 ||
	    connect(fd, (const struct sockaddr *)&peer->ss, peer->len) == -1) {
		secho_error_errno("cannot give %s its own socket",
		    secho_sockaddr_str((const struct sockaddr *)&peer->ss, addr,
		    sizeof(addr)));
		close_keep_errno(fd);
		return -1;
	}
	return fd;
}

void
secho_net_discard(int fd, size_t max)
{
	char sink[4096];
	ssize_t n;

	while (max > 0 && (n = recv(fd, sink, sizeof(sink),
	    MSG_DONTWAIT)) > 0)
		max -= (size_t)n < max ? (size_t)n : max;
}

#define DST_CMSG_SPACE (CMSG_SPACE(sizeof(struct in6_pktinfo)) + \
	CMSG_SPACE(sizeof(struct in_pktinfo)))

/* The destination a received datagram's control messages name. */
static void
parse_dst(struct msghdr *msg, struct secho_dgram_dst *dst)
{
	struct cmsghdr *cm;

	memset(dst, 0, sizeof(*dst));
	for (cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level == IPPROTO_IPV6 &&
		    cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			dst->family = AF_INET6;
			dst->ifindex = (int)pi.ipi6_ifindex;
			dst->addr.v6 = pi.ipi6_addr;
		} else if (cm->cmsg_level == IPPROTO_IP &&
		    cm->cmsg_type == IP_PKTINFO && dst->family == 0) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			dst->family = AF_INET;
			dst->ifindex = pi.ipi_ifindex;
			dst->addr.v4 = pi.ipi_addr;
		}
	}
}

/* A control message that sends from dst's address (none if unknown). */
static void
build_src(struct msghdr *msg, const struct secho_dgram_dst *dst, char *cbuf,
    size_t cap)
{
	struct cmsghdr *cm;

	msg->msg_control = NULL;
	msg->msg_controllen = 0;
	if (dst == NULL || dst->family == 0)
		return;
	memset(cbuf, 0, cap);
	msg->msg_control = cbuf;
	cm = (struct cmsghdr *)cbuf;
	if (dst->family == AF_INET6) {
		struct in6_pktinfo pi = { .ipi6_addr = dst->addr.v6,
		    .ipi6_ifindex = (unsigned)dst->ifindex };

		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		msg->msg_controllen = CMSG_SPACE(sizeof(pi));
	} else {
		struct in_pktinfo pi = { .ipi_spec_dst = dst->addr.v4 };

		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		msg->msg_controllen = CMSG_SPACE(sizeof(pi));
	}
}

ssize_t
secho_net_recv_dgram(int fd, void *buf, size_t len,
    struct secho_sockaddr *from, struct secho_dgram_dst *dst)
{
	char cbuf[DST_CMSG_SPACE];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_name = &from->ss, .msg_namelen = sizeof(from->ss),
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	ssize_t n = recvmsg(fd, &msg, MSG_TRUNC);

	if (n == -1)
		return -1;
	from->len = msg.msg_namelen;
	if (dst == NULL)
		return n;
	parse_dst(&msg, dst);
	return n;
}

ssize_t
secho_net_send_dgram(int fd, const void *buf, size_t len,
    const struct secho_sockaddr *to, const struct secho_dgram_dst *dst)
{
	char cbuf[DST_CMSG_SPACE];
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = {
		.msg_name = (void *)&to->ss, .msg_namelen = to->len,
		.msg_iov = &iov, .msg_iovlen = 1,
	};

	build_src(&msg, dst, cbuf, sizeof(cbuf));
	return sendmsg(fd, &msg, MSG_NOSIGNAL);
}

int
secho_net_recv_batch(int fd, struct secho_dgram *d, int n)
{
	struct mmsghdr mm[SECHO_DGRAM_BATCH];
	struct iovec iov[SECHO_DGRAM_BATCH];
	char cbuf[SECHO_DGRAM_BATCH][DST_CMSG_SPACE];
	int got;

	if (n > SECHO_DGRAM_BATCH)
		n = SECHO_DGRAM_BATCH;
	memset(mm, 0, sizeof(mm[0]) * (size_t)n);
	for (int i = 0; i < n; i++) {
		iov[i].iov_base = d[i].buf;
		iov[i].iov_len = d[i].cap;
		mm[i].msg_hdr.msg_name = &d[i].peer.ss;
		mm[i].msg_hdr.msg_namelen = sizeof(d[i].peer.ss);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_control = cbuf[i];
		mm[i].msg_hdr.msg_controllen = sizeof(cbuf[i]);
	}
	if ((got = recvmmsg(fd, mm, (unsigned)n, MSG_DONTWAIT, NULL)) <= 0)
		return got == 0 ? 0 : -1;
	for (int i = 0; i < got; i++) {
		d[i].len = mm[i].msg_len;
		d[i].peer.len = mm[i].msg_hdr.msg_namelen;
		parse_dst(&mm[i].msg_hdr, &d[i].dst);
	}
	return got;
}

int
secho_net_send_batch(int fd, const struct secho_dgram *d, int n)
{
	struct mmsghdr mm[SECHO_DGRAM_BATCH];
	struct iovec iov[SECHO_DGRAM_BATCH];
	char cbuf[SECHO_DGRAM_BATCH][DST_CMSG_SPACE];

	if (n > SECHO_DGRAM_BATCH)
		n = SECHO_DGRAM_BATCH;
	memset(mm, 0, sizeof(mm[0]) * (size_t)n);
	for (int i = 0; i < n; i++) {
		iov[i].iov_base = d[i].buf;
		iov[i].iov_len = d[i].len;
		mm[i].msg_hdr.msg_name = (void *)&d[i].peer.ss;
		mm[i].msg_hdr.msg_namelen = d[i].peer.len;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		build_src(&mm[i].msg_hdr, &d[i].dst, cbuf[i], sizeof(cbuf[i]));
	}
	return sendmmsg(fd, mm, (unsigned)n, MSG_NOSIGNAL);
}

void
secho_dgram_dst_sockaddr(const struct secho_dgram_dst *dst, int port,
    int like_family, struct secho_sockaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (like_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (dst->family == AF_INET6) {
			s6->sin6_addr = dst->addr.v6;
			if (IN6_IS_ADDR_LINKLOCAL(&dst->addr.v6))
				s6->sin6_scope_id = (uint32_t)dst->ifindex;
		} else if (dst->family == AF_INET) {
			s6->sin6_addr.s6_addr[10] = 0xff;
			s6->sin6_addr.s6_addr[11] = 0xff;
			memcpy(&s6->sin6_addr.s6_addr[12], &dst->addr.v4, 4);
		}
		out->len = sizeof(*s6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		if (dst->family == AF_INET)
			sin->sin_addr = dst->addr.v4;
		out->len = sizeof(*sin);
	}
}
