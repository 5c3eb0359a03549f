/*
 * server_proxy.c - listeners behind a load balancer: the PROXY protocol
 * header (secho/proxy.h parses it) is read before the first TLS byte or
 * echo, from trusted peers only, within the handshake timeout, and the
 * client it names stands for the balancer from then on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server_int.h"

int
srv_proxy_admit(struct listener *ls, const struct secho_sockaddr *peer)
{
	const struct secho_server_config *cfg = ls->srv->cfg;
	char addr[SECHO_ADDRSTR_MAX];

	if (!(ls->flags & SECHO_LISTEN_PROXY) || secho_cidr_match(
	    cfg->proxy_from, cfg->nproxy_from,
	    (const struct sockaddr *)&peer->ss))
		return 1;
	mt_inc(&ls->srv->mt.refused[ls->proto][ML_PROXY]);
	srv_log("%s %s: PROXY header refused: the peer is not in --proxy-from",
	    secho_proto_name(ls->proto), secho_sockaddr_str(
	    (const struct sockaddr *)&peer->ss, addr, sizeof(addr)));
	return 0;
}

/* What a header said beyond the addresses, for the -v log line. */
static void
describe(const struct secho_proxy_info *pi, char *buf, size_t len)
{
	int n = snprintf(buf, len, "v%d%s", pi->version, pi->local ?
	    " LOCAL" : "");

	if (pi->ssl && n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, ", balancer TLS %s %s%s%s",
		    pi->ssl_version, pi->ssl_cipher, pi->ssl_cn[0] != '\0' ?
		    " client CN=" : "", pi->ssl_cn);
	if (pi->alpn[0] != '\0' && n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, ", ALPN %s", pi->alpn);
	if (pi->authority[0] != '\0' && n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, ", authority %s",
		    pi->authority);
	if (pi->unique_id_len > 0 && n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, ", unique id of %zu "
		    "bytes", pi->unique_id_len);
	if (pi->crc_checked && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ", CRC32C ok");
}

/* The header is whole: the client it names replaces the balancer. */
static void
take_client(struct conn *cn, const struct secho_proxy_info *pi)
{
	char addr[SECHO_ADDRSTR_MAX], via[SECHO_ADDRSTR_MAX], what[512];

	cn->via = cn->c.peer;
	/* LOCAL (a health check) and UNKNOWN: the real endpoints stand. */
	if (!pi->local && pi->src.len > 0)
		cn->c.peer = pi->src;
	if (cn->srv->cfg->verbose > 0) {
		describe(pi, what, sizeof(what));
		srv_log("%s %s: PROXY header from %s (%s)",
		    secho_proto_name(cn->proto), secho_sockaddr_str(
		    (const struct sockaddr *)&cn->c.peer.ss, addr,
		    sizeof(addr)), secho_sockaddr_str((const struct sockaddr *)
		    &cn->via.ss, via, sizeof(via)), what);
	}
	free(cn->pp);
	cn->pp = NULL;
	cn->pp_len = 0;
}

/*
 * Peeks at what has arrived and consumes only the bytes that belong to
 * the header, so the client's first TLS record or echo bytes stay in the
 * socket for whoever reads next.  An incomplete header is consumed whole
 * (all of it is header), so a level-triggered wakeup never repeats.
 */
int
srv_proxy_read(struct conn *cn, const char **why)
{
	unsigned char tmp[SECHO_PROXY_V2_MAX];
	struct secho_proxy_info pi;
	size_t room;
	ssize_t n, hdr, take;

	if (cn->pp == NULL && (cn->pp = malloc(SECHO_PROXY_V2_MAX)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	room = SECHO_PROXY_V2_MAX - cn->pp_len;
	n = recv(cn->c.fd, tmp, room, MSG_PEEK);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return SECHO_WANT_READ;
	if (n <= 0) {
		*why = n == 0 ? "the peer closed before a whole header" :
		    strerror(errno);
		return -1;
	}
	memcpy(cn->pp + cn->pp_len, tmp, (size_t)n);
	if ((hdr = secho_proxy_parse(cn->pp, cn->pp_len + (size_t)n, &pi)) ==
	    -1) {
		*why = secho_error();
		return -1;
	}
	take = hdr > 0 ? hdr - (ssize_t)cn->pp_len : n;
	if (recv(cn->c.fd, tmp, (size_t)take, 0) != take) {
		*why = "the socket lost the bytes it had shown";
		return -1;
	}
	cn->pp_len += (size_t)take;
	if (hdr == 0)
		return SECHO_WANT_READ;
	take_client(cn, &pi);
	return 1;
}
