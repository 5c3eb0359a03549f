/*
 * server.h - the echo server: listeners for any mix of transports, one
 * epoll loop per worker thread, a per-connection state machine with
 * back-pressure, timeouts and limits.
 */
#ifndef SECHO_SERVER_H
#define SECHO_SERVER_H

#include <stdio.h>

#include "secho/certs.h"
#include "secho/net.h"
#include "secho/priv.h"
#include "secho/proxy.h"
#include "secho/tls.h"

#define SECHO_MAX_LISTENERS 16
#define SECHO_MAX_PROXY_FROM 16

/* struct secho_endpoint flags of a listener (-l SPEC,OPTION). */
#define SECHO_LISTEN_PROXY	0x01	/* requires a PROXY header */
#define SECHO_LISTEN_REPORT	0x02	/* --report: tells each client first */
#define SECHO_MAX_WORKERS 64

struct secho_server_config {
	struct secho_endpoint listen[SECHO_MAX_LISTENERS];
	size_t nlisten;
	/* The listener is the tcp one secho serves when told none: under
	 * socket activation the inherited sockets stand instead. */
	int listen_implicit;
	struct secho_tls_opts tls;
	int handshake_timeout_ms;	/* accept -> handshake done */
	int idle_timeout_ms;		/* no bytes either way */
	int drain_timeout_ms;		/* SIGTERM -> forced exit */
	int max_lifetime_ms;		/* accept -> forced close; 0: none */
	int max_conns;			/* open connections at once */
	int max_conns_per_ip;		/* per client address; 0: no limit */
	int max_handshakes;		/* TLS and DTLS handshakes at once */
	size_t bufsize;			/* per-connection echo buffer */
	int backlog;
	int workers;			/* event-loop threads; 0: one per CPU */
	int verbose;
	int log_json;			/* --log-format json */
	int report;			/* --report: on every listener */
	/* --metrics ADDR:PORT: Prometheus's /metrics over plain HTTP. */
	int metrics_on;
	struct secho_endpoint metrics;
	struct secho_priv priv;		/* --user, --group, --chroot */
	/* --proxy-protocol: bit (1 << proto) per transport that needs it. */
	unsigned proxy_protocol;
	/* --proxy-from: peers trusted to send PROXY headers. */
	struct secho_cidr proxy_from[SECHO_MAX_PROXY_FROM];
	size_t nproxy_from;
	/* The default certificate, key and CA found (secho/certs.h). */
	char certs[3][SECHO_CERTS_PATH_MAX];
};

/* Fills cfg with the documented defaults (no listeners). */
void secho_server_config_init(struct secho_server_config *cfg);

/*
 * Parses secho-server's command line into cfg.  Returns 0 to run, 1 when
 * --help / --version printed to out and the program should exit 0, or -1
 * on a usage error (message in secho_error()).
 */
int secho_server_parse_args(struct secho_server_config *cfg, int argc,
    char **argv, FILE *out);

/*
 * Binds every listener, gives up root (cfg->priv), prints "listening PROTO ADDR" per listener on
 * stdout, and serves until SIGINT/SIGTERM, then drains and returns 0.
 * Returns -1 with secho_error() set if setup fails.
 */
int secho_server_run(const struct secho_server_config *cfg);

#endif
