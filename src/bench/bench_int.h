/*
 * bench_int.h - what the secho-bench modules share besides
 * secho/bench.h: the latency histogram, per-thread workers and their
 * connections.
 * bench.c runs the threads, bench_conn.c owns sockets and the epoll loop,
 * bench_stream.c and bench_dgram.c are the modes, bench_report.c prints.
 */
#ifndef SECHO_BENCH_INT_H
#define SECHO_BENCH_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "secho/bench.h"
#include "secho/net.h"
#include "secho/tls.h"
#include "secho/transport.h"

#define SECHO_BENCH_PROG "secho-bench"

/* Limits (also in --help). */
#define SECHO_BENCH_SIZE_MAX	(16L * 1024 * 1024)
#define SECHO_BENCH_UDP_MAX	65507
#define SECHO_BENCH_DTLS_MAX	16384
#define SECHO_BENCH_DGRAM_MIN	16	/* room for the sequence number */
#define SECHO_BENCH_WINDOW_MAX	4096
#define SECHO_BENCH_BULK_RING	256	/* bulk: chunks in flight per conn */
#define SECHO_BENCH_HOLD_OPENING 256	/* hold: opening at once per thread */

/*
 * Latency histogram, log-linear like HdrHistogram: values below 256 ns
 * exactly, above that 128 buckets per power of two (<= 0.8 % relative
 * error), any 64-bit value, fixed memory (58 KiB), merged by adding.
 */
#define SECHO_BENCH_HIST_LEN (256 + 56 * 128)

struct secho_bench_hist {
	uint64_t count;
	uint64_t max;
	uint64_t b[SECHO_BENCH_HIST_LEN];
};

/* Counters of one thread, merged by adding. */
struct secho_bench_stats {
	uint64_t ops;		/* echoes (or handshakes, or held conns) */
	uint64_t bytes;		/* payload bytes echoed */
	uint64_t errors;
	uint64_t mismatches;
	uint64_t lost;		/* datagrams not echoed within --timeout */
	uint64_t late;		/* echoes of datagrams already lost */
	uint64_t resumed;	/* hs: handshakes that resumed */
	struct secho_bench_hist hist;
};

/* The latest counts, published by each thread for the progress line. */
struct secho_bench_live {
	_Atomic uint64_t ops, errors, mismatches, lost;
};

enum bench_state {
	BC_IDLE,	/* no socket; may be (re)opened after retry_ns */
	BC_CONNECTING,
	BC_HANDSHAKE,
	BC_READY,	/* established, no operation in flight */
	BC_BUSY,	/* an operation in flight */
};

struct secho_bench_conn {
	struct secho_conn c;
	enum bench_state state;
	uint32_t idx;		/* in the worker's array */
	uint32_t gen;		/* bumped on close: stale events ignored */
	int in_again;		/* on the worker's again list */
	int bad;		/* the operation in flight saw a mismatch */
	int resumed;		/* hs: its handshake resumed a session */
	uint64_t seed;		/* pattern offset of this connection */
	uint64_t woff, roff;	/* stream bytes written / read */
	uint64_t op_end;	/* rr/hs/hold: stream offset ending the op */
	uint64_t op_t0;		/* op start (intended, with --rate) */
	uint64_t deadline;	/* ns; 0 = none */
	uint64_t retry_ns;	/* BC_IDLE: reconnect not before */
	uint64_t *ring;		/* bulk: start time of chunks in flight */
	uint64_t chunks_out;	/* bulk: chunks started */
	uint64_t chunks_in;	/* bulk: chunks fully echoed */
	uint32_t iter;		/* hs: connections made by this slot */
};

/* One datagram in flight (udp, dtls). */
struct secho_bench_slot {
	uint64_t seq;		/* slot index + k * window */
	uint64_t t0;
	int busy;
};

/* A free place for an operation: a connection, and for datagrams a slot. */
struct secho_bench_token {
	uint32_t conn;
	uint32_t slot;
};

struct secho_bench_run;
struct secho_bench_batch;

struct secho_bench_worker {
	int id;
	const struct secho_bench_config *cfg;
	struct secho_bench_run *run;
	pthread_t thread;
	int epfd;
	struct secho_tls *tls;
	struct secho_bench_conn *conns;
	uint32_t nconns;
	uint32_t first_conn;	/* global index of conns[0] */
	unsigned char *rbuf;
	size_t rbuf_len;
	uint64_t now;		/* ns, refreshed once per loop turn */
	uint64_t t0, t_end;	/* run phase; t_end 0 = until the quota */
	uint64_t t_done;
	uint64_t t_last_op;	/* when the last operation completed */
	int running;		/* in the run phase: operations may start */
	uint64_t quota;		/* operations to start; UINT64_MAX: no limit */
	uint64_t issued, retired;
	uint32_t opening;	/* connects and handshakes under way */
	uint32_t next_open;	/* hold: the next connection to open */
	uint64_t fails_in_row;	/* since the last good operation */
	/* open loop (--rate) */
	double interval_ns;
	uint64_t next_k;
	struct secho_bench_token *free_tok;
	uint32_t nfree;
	/* datagram slots, window per connection */
	struct secho_bench_slot *slots;
	uint64_t next_sweep;
	struct secho_bench_conn **again;
	uint32_t nagain;
	struct secho_bench_batch *batch;	/* udp: bench_dgram.c */
	struct secho_bench_stats st;
	struct secho_bench_live live;
	int fatal;
	/* The last connection's failure, formatted by secho_error_format(). */
	char last_error[SECHO_BENCH_ERR_MAX];
};

/* What the main thread shares with the workers. */
struct secho_bench_run {
	const struct secho_bench_config *cfg;
	struct secho_sockaddr peer;
	const char *name;		/* TLS name to verify */
	const unsigned char *pattern;	/* PATTERN_P + pattern_extra bytes */
	int gate_fd;		/* a byte each to start; EOF to give up */
	pthread_barrier_t phase;	/* setup | run | measure | teardown */
	atomic_int stop;
	atomic_int finished;
	atomic_int ever_connected;
	atomic_int fatal;
};

/* The pattern repeats every SECHO_BENCH_PATTERN_P bytes (a prime). */
#define SECHO_BENCH_PATTERN_P 65521u

/* bench_hist.c */
void secho_bench_hist_add(struct secho_bench_hist *h, uint64_t v);
void secho_bench_hist_merge(struct secho_bench_hist *dst,
    const struct secho_bench_hist *src);
/* The value at percentile p (0..100), at most the maximum; 0 if empty. */
uint64_t secho_bench_hist_pct(const struct secho_bench_hist *h, double p);
void secho_bench_stats_merge(struct secho_bench_stats *dst,
    const struct secho_bench_stats *src);

/* bench_report.c */
struct secho_bench_result {
	struct secho_bench_stats st;
	double duration_s;	/* the measured phase */
	double open_s;		/* hold: time to open every connection */
	int threads;
	double cpu_s;		/* server CPU; < 0 when not measured */
	double rss_kib;		/* hold: server KiB per connection, or < 0 */
};
void secho_bench_report(const struct secho_bench_config *cfg,
    const struct secho_bench_result *r, FILE *out);
/* Server CPU seconds so far (utime+stime, its threads and children). */
double secho_bench_cpu_s(long pid);
/* VmRSS in KiB, or -1. */
long secho_bench_rss_kib(long pid);

/* bench_conn.c: sockets and the per-thread loop. */
int secho_bench_worker_init(struct secho_bench_worker *w);
void secho_bench_worker_free(struct secho_bench_worker *w);
uint64_t secho_bench_now_ns(void);
/* Starts a connect for c; failures go through secho_bench_conn_fail(). */
void secho_bench_conn_open(struct secho_bench_worker *w,
    struct secho_bench_conn *c);
/* Counts an error, closes c and schedules a reconnect. */
void secho_bench_conn_fail(struct secho_bench_worker *w,
    struct secho_bench_conn *c, const char *why);
/* Closes c (close_notify first over TLS) and forgets it. */
void secho_bench_conn_close(struct secho_bench_worker *w,
    struct secho_bench_conn *c);
/* Runs c's pump again after this turn (a capped pump left work). */
void secho_bench_conn_again(struct secho_bench_worker *w,
    struct secho_bench_conn *c);
/* Runs the loop until done(w) is true. */
void secho_bench_loop(struct secho_bench_worker *w,
    int (*done)(struct secho_bench_worker *));
/* One finished operation of latency lat ns and bytes payload. */
void secho_bench_op_done(struct secho_bench_worker *w, uint64_t lat,
    uint64_t bytes, int bad);
/* Whether a new operation may start now (run phase, quota). */
int secho_bench_may_start(const struct secho_bench_worker *w);
/* Expected bytes at stream offset off of a connection with seed. */
const unsigned char *secho_bench_expect(const struct secho_bench_worker *w,
    uint64_t seed, uint64_t off);
/* Open loop: a free token, dispatched when an op is due. */
void secho_bench_token_put(struct secho_bench_worker *w, uint32_t conn,
    uint32_t slot);

/* The operations of a mode (bench_stream.c, bench_dgram.c). */
struct secho_bench_mode_ops {
	/* Handshake done: start work or wait. */
	void (*ready)(struct secho_bench_worker *, struct secho_bench_conn *);
	/* Readiness (or a deferred turn) on an established conn. */
	void (*pump)(struct secho_bench_worker *, struct secho_bench_conn *);
	/* Starts one operation on a free token (intended start t0). */
	void (*start)(struct secho_bench_worker *, struct secho_bench_conn *,
	    uint32_t slot, uint64_t t0);
	/* Periodic check of c's deadlines. */
	void (*sweep)(struct secho_bench_worker *, struct secho_bench_conn *);
	/* The run phase began: start the ready connections. */
	void (*go)(struct secho_bench_worker *);
	/* A closed connection's retry time came (NULL: never reopen). */
	void (*reopen)(struct secho_bench_worker *,
	    struct secho_bench_conn *);
	/* Once per loop turn, after the events (NULL: nothing). */
	void (*refill)(struct secho_bench_worker *);
	/* Operations in flight on c (retired as failed when it fails). */
	uint64_t (*inflight)(const struct secho_bench_worker *,
	    const struct secho_bench_conn *);
};

const struct secho_bench_mode_ops *secho_bench_mode_ops(
    enum secho_bench_mode m);
extern const struct secho_bench_mode_ops secho_bench_rr_ops;
extern const struct secho_bench_mode_ops secho_bench_bulk_ops;
extern const struct secho_bench_mode_ops secho_bench_hs_ops;
extern const struct secho_bench_mode_ops secho_bench_hold_ops;
extern const struct secho_bench_mode_ops secho_bench_dgram_ops;
/* udp/dtls: the batches of a worker (freed with free()). */
int secho_bench_dgram_init(struct secho_bench_worker *w);


#endif
