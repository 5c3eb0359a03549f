/*
 * metrics.h - what the server counts for --metrics, apart from the HTTP
 * listener that serves it (server_metrics.c), so the counting knows no
 * socket and the rendering can be tested on its own.
 *
 * Each worker owns one struct metrics and is its only writer: a counter
 * goes up with a relaxed load and store (no locked instruction, no cache
 * line shared with another worker), and the reader, worker 0 serving a
 * scrape, sums the workers' copies with relaxed loads.  A scrape may see
 * one worker a moment later than another; every counter still only goes
 * up, which is all Prometheus asks.
 */
#ifndef SECHO_SERVER_METRICS_H
#define SECHO_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "secho/secho.h"

/* Why a client was turned away (the label "limit"). */
enum mt_limit {
	ML_MAX_CONNS, ML_MAX_PER_IP, ML_MAX_HANDSHAKES, ML_PROXY, ML_COUNT
};

/* Why a handshake failed (the label "reason"). */
enum mt_hsfail {
	HF_TIMEOUT,		/* --handshake-timeout */
	HF_PEER_CLOSED,		/* the client went away mid-handshake */
	HF_NOT_TLS,		/* it did not speak TLS / DTLS */
	HF_CERTIFICATE,		/* its certificate: missing or refused */
	HF_REJECTED,		/* it refused the handshake (or our
				 * certificate) with an alert */
	HF_SHUTDOWN,		/* the server's drain or --max-lifetime */
	HF_ERROR,		/* anything else: versions, suites, ... */
	HF_COUNT
};

#define MT_HS_BUCKETS	12
#define MT_LIFE_BUCKETS	12

/* Observations at most each bound and above the one before (rendered
 * cumulative); those above every bound are in count only. */
struct mt_hist {
	uint64_t bucket[MT_LIFE_BUCKETS > MT_HS_BUCKETS ? MT_LIFE_BUCKETS :
	    MT_HS_BUCKETS];
	uint64_t count;
	uint64_t sum_us;
};

/* One worker's counters, per transport. */
struct metrics {
	uint64_t accepted[SECHO_PROTO_COUNT];
	uint64_t closed[SECHO_PROTO_COUNT];
	uint64_t refused[SECHO_PROTO_COUNT][ML_COUNT];
	uint64_t hs_done[SECHO_PROTO_COUNT];
	uint64_t hs_resumed[SECHO_PROTO_COUNT];
	uint64_t hs_failed[SECHO_PROTO_COUNT][HF_COUNT];
	uint64_t bytes[SECHO_PROTO_COUNT];	/* echoed */
	uint64_t dgrams[SECHO_PROTO_COUNT];	/* udp: echoed */
	uint64_t dropped[SECHO_PROTO_COUNT];	/* datagrams */
	struct mt_hist hs_time[SECHO_PROTO_COUNT];
	struct mt_hist lifetime[SECHO_PROTO_COUNT];
};

/* The one writer's increment: no lock, a whole store for the reader. */
static inline void
mt_add(uint64_t *p, uint64_t n)
{
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + n,
	    __ATOMIC_RELAXED);
}

static inline void
mt_inc(uint64_t *p)
{
	mt_add(p, 1);
}

void mt_handshake_time(struct metrics *m, enum secho_proto p, uint64_t us);
void mt_lifetime(struct metrics *m, enum secho_proto p, uint64_t us);

/* What the process as a whole reports beside the workers' counters. */
struct mt_process {
	double start_time;		/* Unix seconds */
	double uptime;			/* seconds */
	uint64_t reloads_ok, reloads_failed;
	int last_reload_ok;		/* -1: none yet */
	double last_reload_time;	/* Unix seconds, 0: none yet */
	int workers;
	unsigned transports;		/* bit (1 << proto) per one served */
};

/*
 * Writes the Prometheus text exposition (format 0.0.4) of the n workers'
 * counters and the process's figures to f.  Returns 0, or -1 if f failed.
 */
int mt_render(FILE *f, const struct metrics *const *w, int n,
    const struct mt_process *pr);

/* The label value of a limit, and of a handshake failure reason. */
const char *mt_limit_name(enum mt_limit l);
const char *mt_hsfail_name(enum mt_hsfail r);

#endif
