/*
 * client.h - the echo client: connect, handshake and verify, then echo
 * stdin, one message (-m) or ping probes (-c), checking every byte.
 */
#ifndef SECHO_CLIENT_H
#define SECHO_CLIENT_H

#include <stdio.h>

#include "secho/certs.h"
#include "secho/net.h"
#include "secho/tls.h"

/*
 * Exit codes of secho-client (documented in --help and the README);
 * src/cmd/secho-client.c chooses one from a secho_client_status.
 */
enum secho_exit {
	SECHO_EXIT_OK = 0,
	SECHO_EXIT_USAGE = 1,
	SECHO_EXIT_CONNECT = 2,		/* resolve, connect or I/O failure */
	SECHO_EXIT_TLS = 3,		/* TLS handshake failure */
	SECHO_EXIT_VERIFY = 4,		/* certificate verification failure */
	SECHO_EXIT_TIMEOUT = 5,		/* --timeout expired */
	SECHO_EXIT_MISMATCH = 6,	/* echo differs from what was sent */
	SECHO_EXIT_LOSS = 7,		/* ping: some probes got no answer */
	/* Echo mode stopped by a signal: 128 + its number (130: SIGINT). */
	SECHO_EXIT_SIGNAL = 128,
};

/* How a run ended. */
enum secho_client_status {
	SECHO_CLIENT_OK,
	SECHO_CLIENT_LOSS,	/* ping: some probes got no answer */
	/* Failures (secho_client_run() returned -1): */
	SECHO_CLIENT_SETUP,	/* the TLS configuration cannot be used */
	SECHO_CLIENT_CONNECT,	/* resolve, connect or I/O failure */
	SECHO_CLIENT_TLS,	/* TLS handshake failure */
	SECHO_CLIENT_VERIFY,	/* certificate verification failure */
	SECHO_CLIENT_TIMEOUT,	/* --timeout expired */
	SECHO_CLIENT_MISMATCH,	/* echo differs from what was sent */
	SECHO_CLIENT_INTERRUPTED,	/* echo stopped by secho_client_interrupt */
};

/* What a --json run gathered (client_report.c). */
struct secho_client_report;

struct secho_client_result {
	enum secho_client_status status;
	/* cfg->json: the run's figures, for secho_client_report_write() */
	struct secho_client_report *report;
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
	/* --report: read and show the report of a server with --report. */
	int ask_report;
	/* TLS/DTLS: the name for SNI and verification instead of host. */
	const char *servername;
	/* --resume: reconnections after the first, 0 = none. */
	long resume;
	/* --json: one JSON object on stdout at the end, nothing else */
	int json;
	/* --send-proxy: 0 none, else the PROXY protocol version (1, 2). */
	int send_proxy;
	/* --proxy-source / --proxy-dest; len 0: the connection's own. */
	struct secho_sockaddr proxy_src, proxy_dst;
	struct secho_tls_opts tls;
	/* Default CA, --mtls certificate and key found (secho/certs.h). */
	char certs[3][SECHO_CERTS_PATH_MAX];
};

void secho_client_config_init(struct secho_client_config *cfg);

/* Same contract as secho_server_parse_args(). */
int secho_client_parse_args(struct secho_client_config *cfg, int argc,
    char **argv, FILE *out);

/*
 * Runs the client: the echo goes to stdout, ping lines and statistics and
 * --resume lines too, -v notes and warnings to stderr.  Returns 0 when
 * the run completed (res->status OK, or LOSS: not every probe was
 * answered), or -1 when it failed: res->status says how, secho_error()
 * the message.
 */
int secho_client_run(const struct secho_client_config *cfg,
    struct secho_client_result *res);

/*
 * --json: writes the run res describes as one JSON object and a newline
 * to out, with the exit code the program chose and error, the message it
 * printed (NULL: none).  The fields are listed in secho-client(1).
 * Returns 0, or -1 (out of memory, or out failed: secho_error()).
 */
int secho_client_report_write(const struct secho_client_config *cfg,
    const struct secho_client_result *res, int exit_code, const char *error,
    FILE *out);
/* Frees what secho_client_run() left in res. */
void secho_client_result_free(struct secho_client_result *res);

/*
 * Async-signal-safe, for a SIGINT/SIGTERM handler: a running client stops
 * sending and closes cleanly (close_notify, FIN).  Ping then ends with
 * its summary as if the probes sent so far were all (those still waiting
 * for their reply not counted); an echo run fails as INTERRUPTED, saying
 * how much was sent and echoed.  The handler should not use SA_RESTART,
 * and the signals should stay blocked outside the client's polls, which
 * let them in (ppoll), so that one arriving at any moment is noticed.
 */
void secho_client_interrupt(void);

#endif
