/*
 * client.h - the echo client: connect, handshake and verify, then echo
 * stdin, one message (-m) or ping probes (-c), checking every byte.
 */
#ifndef SECHO_CLIENT_H
#define SECHO_CLIENT_H

#include <stdio.h>

#include "secho/net.h"
#include "secho/tls.h"

/* Exit codes of secho-client (documented in --help and the README). */
enum secho_exit {
	SECHO_EXIT_OK = 0,
	SECHO_EXIT_USAGE = 1,
	SECHO_EXIT_CONNECT = 2,		/* resolve, connect or I/O failure */
	SECHO_EXIT_TLS = 3,		/* TLS handshake failure */
	SECHO_EXIT_VERIFY = 4,		/* certificate verification failure */
	SECHO_EXIT_TIMEOUT = 5,		/* --timeout expired */
	SECHO_EXIT_MISMATCH = 6,	/* echo differs from what was sent */
	SECHO_EXIT_LOSS = 7,		/* ping: some probes got no answer */
};

struct secho_client_config {
	enum secho_proto proto;
	const char *host;
	int port;
	const char *message;	/* -m: send this once */
	long count;		/* -c: ping probes, 0 = no ping mode */
	int interval_ms;	/* -i */
	size_t size;		/* -s: ping payload bytes */
	int timeout_ms;		/* connect, handshake, and each echo */
	int verbose;
	int quiet;
	/* TLS/DTLS: the name for SNI and verification instead of host. */
	const char *servername;
	/* --resume: reconnections after the first, 0 = none. */
	long resume;
	struct secho_tls_opts tls;
};

void secho_client_config_init(struct secho_client_config *cfg);

/* Same contract as secho_server_parse_args(). */
int secho_client_parse_args(struct secho_client_config *cfg, int argc,
    char **argv, FILE *out);

/* Runs the client; returns an enum secho_exit value. */
int secho_client_run(const struct secho_client_config *cfg);

#endif
