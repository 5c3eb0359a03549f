/*
 * net.h - the plain socket layer: address parsing, resolve, listen,
 * accept and connect for IPv4 and IPv6, always non-blocking and
 * close-on-exec.  Nothing here knows about TLS.
 */
#ifndef SECHO_NET_H
#define SECHO_NET_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "secho/secho.h"

#define SECHO_HOST_MAX 256
/* Room for "[ffff:...:ffff%ifname]:65535". */
#define SECHO_ADDRSTR_MAX 80

struct secho_sockaddr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/*
 * The address a datagram was sent to (from IP_PKTINFO / IPV6_PKTINFO).  A
 * server bound to every address must answer from this one, or a client
 * that sent to 127.0.0.2 (or to one of a host's several IPv6 addresses)
 * drops the reply as coming from a stranger.
 */
struct secho_dgram_dst {
	int family;		/* 0 when unknown */
	int ifindex;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
};

/* A listen or connect target: "tls://[::]:7443", "127.0.0.1:7007", ... */
struct secho_endpoint {
	enum secho_proto proto;
	char host[SECHO_HOST_MAX];	/* "" means every address */
	int port;			/* -1 when the spec gave none */
	unsigned flags;			/* a server's listener options */
};

/*
 * Parses "[PROTO://]HOST[:PORT]", "[PROTO://][V6]:PORT", "[PROTO://]:PORT"
 * or "[PROTO://]PORT".  A missing proto leaves ep->proto untouched, a
 * missing port sets ep->port to -1.  Returns 0, or -1 with the reason.
 */
int secho_endpoint_parse(const char *spec, struct secho_endpoint *ep);

/* Parses a port number 0..65535; returns -1 with a message otherwise. */
int secho_port_parse(const char *s, int *port);

/*
 * Formats an address as "127.0.0.1:7007" or "[::1]:7443" into buf
 * (SECHO_ADDRSTR_MAX bytes) and returns buf.
 */
char *secho_sockaddr_str(const struct sockaddr *sa, char *buf, size_t len);
/* The port of an IPv4 or IPv6 address (0 for other families). */
int secho_sockaddr_port(const struct sockaddr *sa);

/*
 * Creates a bound, non-blocking socket.  An empty host or "::" binds the
 * IPv6 wildcard with IPV6_V6ONLY off, so one socket takes IPv4 too (falls
 * back to 0.0.0.0 where IPv6 is disabled).  Streams listen with backlog;
 * reuseport sets SO_REUSEPORT after the bind, so this process's own
 * per-client sockets (secho_net_dgram_child) can share the port while a
 * second server is still refused.
 * Returns the fd and fills *bound with the actual address (port 0 asks the
 * kernel for one), or -1 with "cannot bind [::]:7443: Address already in
 * use".
 */
int secho_net_listen(const char *host, int port, int dgram, int backlog,
    int reuseport, struct secho_sockaddr *bound);

/*
 * Accepts one connection: non-blocking, close-on-exec, TCP_NODELAY.
 * Returns the fd, or -1 with errno set (EAGAIN when nothing is waiting).
 */
int secho_net_accept(int lfd, struct secho_sockaddr *peer);

/*
 * Resolves host and connects, trying each address in turn until one
 * succeeds or timeout_ms runs out (<= 0: no limit).  Datagram sockets are
 * connect()ed so send/recv reach only that peer.  Returns a non-blocking
 * fd and the peer address, or -1 with e.g. "cannot connect to
 * localhost:7443: Connection refused"; *timed_out tells a timeout apart.
 */
int secho_net_connect(const char *host, int port, int dgram, int timeout_ms,
    struct secho_sockaddr *peer, int *timed_out);

/*
 * recvfrom() that also reports where the datagram was addressed (dst may
 * be NULL).  Returns the datagram's full length (MSG_TRUNC), or -1.
 */
ssize_t secho_net_recv_dgram(int fd, void *buf, size_t len,
    struct secho_sockaddr *from, struct secho_dgram_dst *dst);

/* sendto() from dst's address when it is known; returns bytes or -1. */
ssize_t secho_net_send_dgram(int fd, const void *buf, size_t len,
    const struct secho_sockaddr *to, const struct secho_dgram_dst *dst);

/* One datagram of a batch: its buffer, and who sent it to where. */
struct secho_dgram {
	unsigned char *buf;
	size_t cap;
	size_t len;
	struct secho_sockaddr peer;
	struct secho_dgram_dst dst;
};

#define SECHO_DGRAM_BATCH 16

/*
 * recvmmsg(): up to n (<= SECHO_DGRAM_BATCH) datagrams in one call.
 * Returns how many, or -1 with errno (EAGAIN when none was waiting).
 */
int secho_net_recv_batch(int fd, struct secho_dgram *d, int n);

/*
 * sendmmsg(): d[i].len bytes of each to its peer, from its dst.  Returns
 * how many went out (maybe fewer than n), or -1 with errno.
 */
int secho_net_send_batch(int fd, const struct secho_dgram *d, int n);

/* dst with port, in the family of like (v4-mapped for an IPv6 socket). */
void secho_dgram_dst_sockaddr(const struct secho_dgram_dst *dst, int port,
    int like_family, struct secho_sockaddr *out);

/*
 * A UDP socket that shares the port of local (SO_REUSEPORT, as the
 * listener must too) and is connected to peer, so the kernel hands it that
 * peer's datagrams and the listener everyone else's.  Returns the fd or -1.
 */
int secho_net_dgram_child(const struct secho_sockaddr *local,
    const struct secho_sockaddr *peer);

/*
 * Reads and drops up to max bytes already waiting on a non-blocking
 * socket, so a close() that follows sends FIN rather than RST.
 */
void secho_net_discard(int fd, size_t max);

/* Sets O_NONBLOCK on or off; returns 0 or -1. */
int secho_net_set_nonblock(int fd, int on);

/* True if s is a numeric IPv4 or IPv6 address (no brackets). */
int secho_net_is_ip(const char *s);

#endif
