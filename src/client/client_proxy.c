/*
 * client_proxy.c - secho-client --send-proxy: the PROXY protocol header
 * written on the raw socket right after the TCP connect, before the
 * first TLS byte, as a load balancer would put it.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "client_int.h"
#include "secho/proxy.h"

/* What is left of the header to write. */
struct pending {
	const unsigned char *p;
	size_t left;
};

/* Plain send() on the fd: the transport (TLS) must not see these bytes. */
static ssize_t
send_step(struct client *cl, void *arg)
{
	struct pending *w = arg;
	ssize_t n;

	while (w->left > 0) {
		n = send(cl->conn.fd, w->p, w->left, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return SECHO_WANT_WRITE;
		if (n == -1) {
			secho_conn_set_error(&cl->conn, "%s", strerror(errno));
			return secho_client_io_result(cl, SECHO_IO_ERR);
		}
		w->p += n;
		w->left -= (size_t)n;
	}
	return 0;
}

int
secho_client_proxy_send(struct client *cl)
{
	const struct secho_client_config *cfg = cl->cfg;
	struct secho_proxy_header h;
	struct pending w;
	char ends[2 * SECHO_ADDRSTR_MAX + 8];
	ssize_t r;

	if (secho_proxy_header_for(cfg->send_proxy, cl->conn.fd,
	    &cfg->proxy_src, &cfg->proxy_dst, &h) == -1)
		return secho_client_status_set(cl, SECHO_CLIENT_CONNECT);
	w.p = h.buf;
	w.left = h.len;
	r = secho_client_drive(cl, send_step, &w, secho_client_deadline(cl));
	if (r == SECHO_CLIENT_INTR)
		return secho_client_error(cl, SECHO_CLIENT_INTERRUPTED,
		    "interrupted while sending the PROXY header to %s",
		    cl->addr);
	if (r == SECHO_WANT_WRITE)
		return secho_client_error(cl, SECHO_CLIENT_TIMEOUT, "timed out "
		    "after %gs sending the PROXY header to %s",
		    secho_client_timeout_secs(cl), cl->addr);
	if (r != 0)
		return secho_client_error(cl, SECHO_CLIENT_CONNECT, "cannot "
		    "send the PROXY header to %s: %s", cl->addr,
		    secho_conn_error(&cl->conn));
	secho_client_note(cl, "sent a PROXY v%d header: %s", cfg->send_proxy,
	    secho_proxy_header_str(&h, ends, sizeof(ends)));
	return 0;
}
