/*
 * echo_floor.c - the minimal echo loops secho is measured against.
 *
 *   echo-floor --tcp PORT   one thread, one epoll (level-triggered), one
 *                           read buffer; TCP_NODELAY, non-blocking
 *   echo-floor --udp PORT   one thread, recvmmsg/sendmmsg in batches of 64
 *
 * It binds 127.0.0.1 only (PORT 0: an ephemeral port), prints "listening
 * PORT" once ready and exits 0 on SIGTERM or SIGINT.  It does the least
 * an echo server can do and stay correct, so its CPU per echo is the floor
 * in scripts/bench.sh; it is not a server to deploy.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define TCP_BUF		65536	/* one read, shared by every connection */
#define UDP_BATCH	64
#define UDP_MAX		65536
#define MAX_EVENTS	256

/* What a short write left behind; only then does a connection own memory. */
struct pending {
	char *buf;
	size_t len;
	size_t off;
};

static char tcp_buf[TCP_BUF];
static char udp_buf[UDP_BATCH][UDP_MAX];

/* Nothing to flush or drain: the floor may stop at any instant. */
static void
on_term(int sig)
{
	(void)sig;
	_exit(0);
}

static void
die(const char *what)
{
	fprintf(stderr, "echo-floor: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* A socket bound to 127.0.0.1:port (and listening, for TCP); then the
 * "listening PORT" line, with the port really bound. */
static int
bind_loopback(int stream, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int one = 1;
	int fd = socket(AF_INET, (stream ? SOCK_STREAM | SOCK_NONBLOCK :
	    SOCK_DGRAM) | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((unsigned short)port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("bind");
	if (stream && listen(fd, 4096) < 0)
		die("listen");
	if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		die("getsockname");
	printf("listening %d\n", ntohs(sin.sin_port));
	fflush(stdout);
	return fd;
}

static void
set_events(int ep, int fd, unsigned int events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

static void
tcp_close(int ep, int fd, struct pending *p)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	free(p->buf);
	*p = (struct pending){ 0 };
}

static void
tcp_accept(int ep, int lfd, int max_fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int one = 1;
	int fd;

	while ((fd = accept4(lfd, NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (fd >= max_fd) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		ev.data.fd = fd;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
}

/* Writes what a short write left; back to reading once it is all out. */
static void
tcp_flush(int ep, int fd, struct pending *p)
{
	ssize_t n = send(fd, p->buf + p->off, p->len - p->off, MSG_NOSIGNAL);

	if (n < 0) {
		if (errno != EAGAIN)
			tcp_close(ep, fd, p);
		return;
	}
	p->off += (size_t)n;
	if (p->off == p->len) {
		free(p->buf);
		*p = (struct pending){ 0 };
		set_events(ep, fd, EPOLLIN);
	}
}

/* One read, one write: the whole echo path of the floor. */
static void
tcp_echo(int ep, int fd, struct pending *p)
{
	ssize_t n = recv(fd, tcp_buf, sizeof(tcp_buf), 0);
	ssize_t w;

	if (n <= 0) {
		if (n == 0 || errno != EAGAIN)
			tcp_close(ep, fd, p);
		return;
	}
	w = send(fd, tcp_buf, (size_t)n, MSG_NOSIGNAL);
	if (w < 0 && errno != EAGAIN) {
		tcp_close(ep, fd, p);
		return;
	}
	if (w < 0)
		w = 0;
	if (w == n)
		return;
	p->len = (size_t)(n - w);
	p->off = 0;
	if ((p->buf = malloc(p->len)) == NULL)
		die("malloc");
	memcpy(p->buf, tcp_buf + w, p->len);
	set_events(ep, fd, EPOLLOUT);	/* stop reading until it drains */
}

static void
serve_tcp(int port)
{
	struct epoll_event evs[MAX_EVENTS], ev = { .events = EPOLLIN };
	struct rlimit rl;
	struct pending *pend;
	int lfd = bind_loopback(1, port);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int max_fd, i, n;

	if (ep < 0)
		die("epoll_create1");
	getrlimit(RLIMIT_NOFILE, &rl);
	max_fd = rl.rlim_cur > 1048576 ? 1048576 : (int)rl.rlim_cur;
	if ((pend = calloc((size_t)max_fd, sizeof(*pend))) == NULL)
		die("calloc");
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		n = epoll_wait(ep, evs, MAX_EVENTS, -1);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd)
				tcp_accept(ep, lfd, max_fd);
			else if (pend[fd].buf != NULL)
				tcp_flush(ep, fd, &pend[fd]);
			else
				tcp_echo(ep, fd, &pend[fd]);
		}
	}
}

/* Each datagram goes back whole to its sender, a batch at a time. */
static void
serve_udp(int port)
{
	static struct mmsghdr msgs[UDP_BATCH];
	static struct iovec iov[UDP_BATCH];
	static struct sockaddr_storage peer[UDP_BATCH];
	int fd = bind_loopback(0, port);
	int i, n, sent;

	for (i = 0; i < UDP_BATCH; i++) {
		msgs[i].msg_hdr.msg_name = &peer[i];
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	for (n = UDP_BATCH;;) {
		for (i = 0; i < n; i++) {	/* what the last batch used */
			iov[i] = (struct iovec){ udp_buf[i], UDP_MAX };
			msgs[i].msg_hdr.msg_namelen = sizeof(peer[i]);
		}
		n = recvmmsg(fd, msgs, UDP_BATCH, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno != EINTR)
				die("recvmmsg");
			n = 0;
			continue;
		}
		for (i = 0; i < n; i++)
			iov[i].iov_len = msgs[i].msg_len;
		/* A datagram that cannot go is dropped, as UDP may. */
		for (i = 0; i < n; i += sent > 0 ? sent : 1)
			sent = sendmmsg(fd, msgs + i, (unsigned int)(n - i), 0);
	}
}

int
main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term };
	char *end;
	long port;

	if (argc != 3 || (strcmp(argv[1], "--tcp") != 0 &&
	    strcmp(argv[1], "--udp") != 0)) {
		fprintf(stderr, "usage: echo-floor --tcp PORT | --udp PORT\n");
		return 1;
	}
	port = strtol(argv[2], &end, 10);
	if (*argv[2] == '\0' || *end != '\0' || port < 0 || port > 65535) {
		fprintf(stderr, "echo-floor: bad port '%s'\n", argv[2]);
		return 1;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (argv[1][2] == 't')
		serve_tcp((int)port);
	else
		serve_udp((int)port);
	return 0;
}
