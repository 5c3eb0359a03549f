/*
 * bench.h - secho-bench, the load generator: rr, bulk, hs, udp, dtls and
 * hold modes over many connections and threads, measured into a latency
 * histogram and a report (a table or one JSON object) on stdout.
 */
#ifndef SECHO_BENCH_H
#define SECHO_BENCH_H

#include <stdint.h>
#include <stdio.h>

#include "secho/certs.h"
#include "secho/net.h"
#include "secho/tls.h"

/* Exit codes of secho-bench (documented in --help). */
enum secho_bench_exit {
	SECHO_BENCH_EXIT_OK = 0,
	SECHO_BENCH_EXIT_USAGE = 1,
	SECHO_BENCH_EXIT_IO = 2,	/* cannot connect, or > 1 % failed */
	SECHO_BENCH_EXIT_MISMATCH = 6,	/* an echo differed */
};

enum secho_bench_mode {
	SECHO_BENCH_RR,		/* request/response */
	SECHO_BENCH_BULK,	/* streaming both ways */
	SECHO_BENCH_HS,		/* connect + handshake + echo + close */
	SECHO_BENCH_UDP,
	SECHO_BENCH_DTLS,
	SECHO_BENCH_HOLD,	/* many idle connections, server RSS */
};

struct secho_bench_config {
	enum secho_bench_mode mode;
	enum secho_proto proto;
	char host[SECHO_HOST_MAX];	/* brackets removed */
	int port;
	long conns;
	size_t size;
	int duration_ms;
	long count;			/* 0: run for duration_ms */
	int threads;
	double rate;			/* ops/s in total; 0: closed loop */
	int window;
	int timeout_ms;
	const char *servername;
	int resume;
	long pid;			/* 0: no server to measure */
	int json;
	int quiet;
	int src_addrs;
	int send_proxy;			/* 0, or the PROXY version (1, 2) */
	struct secho_tls_opts tls;
	char ca_found[SECHO_CERTS_PATH_MAX];	/* the default CA (certs.h) */
};

/* Fills cfg with the documented defaults. */
void secho_bench_config_init(struct secho_bench_config *cfg);

/* Same contract as secho_server_parse_args(). */
int secho_bench_parse_args(struct secho_bench_config *cfg, int argc,
    char **argv, FILE *out);

/* "rr", "bulk", "hs", "udp", "dtls", "hold". */
const char *secho_bench_mode_name(enum secho_bench_mode m);

/* Why secho_bench_run() returned -1. */
enum secho_bench_failure {
	SECHO_BENCH_FAIL_NONE,
	SECHO_BENCH_FAIL_SETUP,	/* the TLS files cannot be used */
	SECHO_BENCH_FAIL_IO,	/* no connection, no memory, no thread */
};

#define SECHO_BENCH_ERR_MAX 200

/* What a run that reported counted, for the verdict on it. */
struct secho_bench_outcome {
	enum secho_bench_failure failure;
	uint64_t ops, errors, mismatches;
	uint64_t late;		/* datagrams echoed after --timeout */
	int gave_up;		/* a worker stopped the run early */
	/* The last connection's failure ("" if none), kept by its worker. */
	char last_error[SECHO_BENCH_ERR_MAX];
};

/*
 * Runs the benchmark: warnings and progress lines on stderr (unless
 * cfg->quiet), the report on stdout; SIGINT / SIGTERM end it early.
 * Returns 0 once the report is out (out says how the run went), or -1
 * when it could not run at all (out->failure, secho_error()).
 */
int secho_bench_run(const struct secho_bench_config *cfg,
    struct secho_bench_outcome *out);

#endif
