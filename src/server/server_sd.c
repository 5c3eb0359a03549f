/*
 * server_sd.c - running under systemd: listening sockets handed over by
 * socket activation (sd_listen_fds(3): LISTEN_FDS, LISTEN_PID,
 * LISTEN_FDNAMES) and state reported to the service manager
 * (sd_notify(3): READY, RELOADING, STOPPING, STATUS).  libsystemd does
 * the protocol (the PID check, clearing the environment, abstract notify
 * sockets); this file decides what each inherited socket serves.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "server_int.h"

/* What an inherited socket is: its type, whether it listens, where. */
struct inherited {
	int fd;
	int dgram;
	const char *name;
	struct secho_sockaddr addr;
};

static int
describe_fd(int fd, const char *name, struct inherited *in)
{
	int type = 0;
	socklen_t len = sizeof(type);

	in->fd = fd;
	in->name = name;
	in->addr.len = sizeof(in->addr.ss);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    getsockname(fd, (struct sockaddr *)&in->addr.ss,
	    &in->addr.len) == -1 ||
	    (in->addr.ss.ss_family != AF_INET &&
	    in->addr.ss.ss_family != AF_INET6)) {
		secho_error_set("inherited fd %d ('%s') is not an IPv4 or "
		    "IPv6 socket", fd, name);
		return -1;
	}
	if (type != SOCK_STREAM && type != SOCK_DGRAM) {
		secho_error_set("inherited fd %d ('%s') is neither a stream "
		    "nor a datagram socket", fd, name);
		return -1;
	}
	in->dgram = type == SOCK_DGRAM;
	if (!in->dgram && sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
		secho_error_set("inherited fd %d ('%s') is a stream socket "
		    "that does not listen", fd, name);
		return -1;
	}
	return 0;
}

/* A command-line listener this socket stands for: same type and port,
 * and the same address unless the listener binds every address. */
static int
matches(const struct secho_endpoint *ep, const struct inherited *in)
{
	char addr[SECHO_ADDRSTR_MAX], want[SECHO_ADDRSTR_MAX];
	const struct sockaddr *sa = (const struct sockaddr *)&in->addr.ss;

	if (secho_proto_is_dgram(ep->proto) != in->dgram ||
	    ep->port != secho_sockaddr_port(sa))
		return 0;
	if (ep->host[0] == '\0')
		return 1;
	secho_sockaddr_str(sa, addr, sizeof(addr));
	snprintf(want, sizeof(want), strchr(ep->host, ':') != NULL ?
	    "[%s]:%d" : "%s:%d", ep->host, ep->port);
	return strcmp(addr, want) == 0;
}

/*
 * The transport an inherited socket serves: its name when it is one
 * (FileDescriptorName=tcp), else the command-line listener it matches;
 * that listener is then not bound again (*taken).
 */
static int
pick_proto(const struct secho_server_config *cfg, const struct inherited *in,
    int *taken, enum secho_proto *proto, unsigned *flags)
{
	char addr[SECHO_ADDRSTR_MAX];

	*flags = 0;
	if (secho_proto_parse(in->name, proto) == 0) {
		/* --proxy-protocol covers named sockets of its transports. */
		if (cfg->proxy_protocol & (1u << *proto))
			*flags |= SECHO_LISTEN_PROXY;
		if (cfg->report)
			*flags |= SECHO_LISTEN_REPORT;
		if (secho_proto_is_dgram(*proto) == in->dgram)
			return 0;
		secho_error_set("inherited socket '%s' is a %s socket: %s "
		    "needs a %s one", in->name, in->dgram ? "datagram" :
		    "stream", in->name, in->dgram ? "stream" : "datagram");
		return -1;
	}
	for (size_t i = 0; i < cfg->nlisten; i++) {
		if (!taken[i] && matches(&cfg->listen[i], in)) {
			taken[i] = 1;
			*proto = cfg->listen[i].proto;
			*flags = cfg->listen[i].flags;
			return 0;
		}
	}
	secho_error_set("inherited %s socket %s (named '%s') matches no "
	    "listener: name it tcp, tls, udp or dtls (FileDescriptorName=), "
	    "or give a listener for its port", in->dgram ? "datagram" :
	    "stream", secho_sockaddr_str((const struct sockaddr *)
	    &in->addr.ss, addr, sizeof(addr)), in->name);
	return -1;
}

/*
 * DTLS gives each client a socket of its own on the listener's port
 * (SO_REUSEPORT), which the kernel allows only beside a socket with
 * SO_REUSEPORT of the same owner.
 */
static int
check_dtls(const struct inherited *in)
{
	int on = 0;
	socklen_t len = sizeof(on);
	struct stat st;

	if (getsockopt(in->fd, SOL_SOCKET, SO_REUSEPORT, &on, &len) == -1 ||
	    !on) {
		secho_error_set("inherited dtls socket lacks SO_REUSEPORT, "
		    "which DTLS needs for its per-client sockets "
		    "(ReusePort=yes in the socket unit)");
		return -1;
	}
	if (fstat(in->fd, &st) == 0 && st.st_uid != geteuid()) {
		secho_error_set("inherited dtls socket belongs to uid %u, not "
		    "to us (uid %u): the kernel will not let us open the "
		    "per-client sockets DTLS needs on its port; let "
		    "secho-server bind its DTLS port itself",
		    (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	return 0;
}

static int
adopt(struct shared *sh, const struct inherited *in, enum secho_proto proto,
    unsigned flags)
{
	struct sock *k = &sh->socks[sh->nsocks];
	int fl = fcntl(in->fd, F_GETFL);

	if (proto == SECHO_DTLS && check_dtls(in) == -1)
		return -1;
	if (fl == -1 || fcntl(in->fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(in->fd, F_SETFD, FD_CLOEXEC) == -1) {
		secho_error_errno("inherited fd %d", in->fd);
		return -1;
	}
	k->fd = in->fd;
	k->proto = proto;
	k->flags = flags;
	k->addr = in->addr;
	sh->nsocks++;
	return 0;
}

int
srv_sd_sockets(struct shared *sh, int *taken)
{
	const struct secho_server_config *cfg = sh->cfg;
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names), rc = 0;

	if (n < 0) {
		errno = -n;
		secho_error_errno("socket activation (LISTEN_FDS)");
		return -1;
	}
	if (n > SECHO_MAX_LISTENERS) {
		secho_error_set("%d sockets handed over, at most %d are "
		    "served", n, SECHO_MAX_LISTENERS);
		rc = -1;
	}
	for (int i = 0; i < n && rc == 0; i++) {
		struct inherited in;
		enum secho_proto proto;
		unsigned flags;

		if (describe_fd(SD_LISTEN_FDS_START + i, names != NULL &&
		    names[i] != NULL ? names[i] : "unknown", &in) == -1 ||
		    pick_proto(cfg, &in, taken, &proto, &flags) == -1 ||
		    adopt(sh, &in, proto, flags) == -1)
			rc = -1;
	}
	for (int i = 0; names != NULL && names[i] != NULL; i++)
		free(names[i]);
	free(names);
	sh->inherited = rc == 0 ? n : 0;
	return rc;
}

void
srv_sd_notify(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Nothing to tell without a service manager; a lost one is not
	 * worth a failure: the echo goes on. */
	(void)sd_notify(0, msg);
}

int
srv_sd_notifying(void)
{
	const char *s = getenv("NOTIFY_SOCKET");

	return s != NULL && *s != '\0';
}
