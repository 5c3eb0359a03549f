/*
 * metrics.c - the server's counters in Prometheus's text exposition
 * format 0.0.4: what each metric means is in its HELP line, and README's
 * "Metrics" section lists them.
 */
#include <inttypes.h>

#include "metrics.h"

/* Bounds in seconds: a handshake on loopback takes about a millisecond,
 * one over a long path or a slow client seconds. */
static const double hs_bounds[MT_HS_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
	2.5,
};
/* A connection lives from a failed handshake's milliseconds to hours. */
static const double life_bounds[MT_LIFE_BUCKETS] = {
	0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600,
};

static const char *const limit_names[ML_COUNT] = {
	[ML_MAX_CONNS] = "max_conns",
	[ML_MAX_PER_IP] = "max_conns_per_ip",
	[ML_MAX_HANDSHAKES] = "max_handshakes",
	[ML_PROXY] = "proxy_header",
};

static const char *const hsfail_names[HF_COUNT] = {
	[HF_TIMEOUT] = "timeout",
	[HF_PEER_CLOSED] = "peer_closed",
	[HF_NOT_TLS] = "not_tls",
	[HF_CERTIFICATE] = "certificate",
	[HF_REJECTED] = "rejected",
	[HF_SHUTDOWN] = "shutdown",
	[HF_ERROR] = "error",
};

const char *
mt_limit_name(enum mt_limit l)
{
	return limit_names[l];
}

const char *
mt_hsfail_name(enum mt_hsfail r)
{
	return hsfail_names[r];
}

static void
observe(struct mt_hist *h, const double *bounds, int n, uint64_t us)
{
	double s = (double)us / 1e6;

	for (int i = 0; i < n; i++) {
		if (s <= bounds[i]) {
			mt_inc(&h->bucket[i]);
			break;
		}
	}
	mt_inc(&h->count);
	mt_add(&h->sum_us, us);
}

void
mt_handshake_time(struct metrics *m, enum secho_proto p, uint64_t us)
{
	observe(&m->hs_time[p], hs_bounds, MT_HS_BUCKETS, us);
}

void
mt_lifetime(struct metrics *m, enum secho_proto p, uint64_t us)
{
	observe(&m->lifetime[p], life_bounds, MT_LIFE_BUCKETS, us);
}

static uint64_t
ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/*
 * The sum over the workers of the counter at byte offset off in struct
 * metrics (every counter is a uint64_t somewhere in it).
 */
static uint64_t
sum(const struct metrics *const *w, int n, size_t off)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v += ld((const uint64_t *)(const void *)((const char *)w[i] +
		    off));
	return v;
}

/* The offset of one counter (w[0] stands for any worker's copy). */
#define OFF(field) ((size_t)((const char *)&w[0]->field - \
	(const char *)w[0]))
#define SUM(field) sum(w, n, OFF(field))

static void
head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Whether transport p is served (has a listener). */
static int
served(const struct mt_process *pr, int p)
{
	return (pr->transports & (1u << p)) != 0;
}

static int
is_conn(int p)
{
	return p != SECHO_UDP;	/* udp has datagrams, not connections */
}

static int
is_secure(int p)
{
	return secho_proto_is_secure((enum secho_proto)p);
}

/* One counter a transport, for those that have it (want(p)). */
static void
per_transport(FILE *f, const struct metrics *const *w, int n,
    const struct mt_process *pr, const char *name, const char *type,
    const char *help, size_t off0, int (*want)(int))
{
	head(f, name, type, help);
	for (int p = 0; p < SECHO_PROTO_COUNT; p++) {
		if (served(pr, p) && (want == NULL || want(p)))
			fprintf(f, "%s{transport=\"%s\"} %" PRIu64 "\n", name,
			    secho_proto_name((enum secho_proto)p), sum(w, n,
			    off0 + (size_t)p * sizeof(uint64_t)));
	}
}

static void
histogram(FILE *f, const struct metrics *const *w, int n,
    const struct mt_process *pr, const char *name, const char *help,
    size_t off0, const double *bounds, int nb, int (*want)(int))
{
	head(f, name, "histogram", help);
	for (int p = 0; p < SECHO_PROTO_COUNT; p++) {
		const char *t = secho_proto_name((enum secho_proto)p);
		size_t o = off0 + (size_t)p * sizeof(struct mt_hist);
		uint64_t cum = 0, count = 0;

		if (!served(pr, p) || !want(p))
			continue;
		/* The count first: the buckets, read after it, can only be
		 * ahead of it, and +Inf must not be below the last bound. */
		count = sum(w, n, o + offsetof(struct mt_hist, count));
		for (int b = 0; b < nb; b++) {
			cum += sum(w, n, o + offsetof(struct mt_hist, bucket) +
			    (size_t)b * sizeof(uint64_t));
			fprintf(f, "%s_bucket{transport=\"%s\",le=\"%g\"} %"
			    PRIu64 "\n", name, t, bounds[b], cum);
		}
		if (count < cum)
			count = cum;
		fprintf(f, "%s_bucket{transport=\"%s\",le=\"+Inf\"} %" PRIu64
		    "\n", name, t, count);
		fprintf(f, "%s_sum{transport=\"%s\"} %.6f\n", name, t,
		    (double)sum(w, n, o + offsetof(struct mt_hist, sum_us)) /
		    1e6);
		fprintf(f, "%s_count{transport=\"%s\"} %" PRIu64 "\n", name, t,
		    count);
	}
}

static void
connections(FILE *f, const struct metrics *const *w, int n,
    const struct mt_process *pr)
{
	per_transport(f, w, n, pr, "secho_connections_accepted_total",
	    "counter", "Connections accepted past the limits checked at "
	    "accept (a PROXY listener's client refused once its header "
	    "names it is counted here and as refused).",
	    offsetof(struct metrics, accepted), is_conn);
	head(f, "secho_connections_refused_total", "counter",
	    "Clients turned away, by the limit that refused them (a DTLS "
	    "ClientHello left unanswered counts as one).");
	for (int p = 0; p < SECHO_PROTO_COUNT; p++) {
		for (int l = 0; served(pr, p) && is_conn(p) && l < ML_COUNT;
		    l++) {
			if (l == ML_PROXY && secho_proto_is_dgram(
			    (enum secho_proto)p))
				continue;
			fprintf(f, "secho_connections_refused_total{transport="
			    "\"%s\",limit=\"%s\"} %" PRIu64 "\n",
			    secho_proto_name((enum secho_proto)p),
			    limit_names[l], SUM(refused[p][l]));
		}
	}
	head(f, "secho_connections_open", "gauge",
	    "Connections open now (handshaking, echoing or closing).");
	for (int p = 0; p < SECHO_PROTO_COUNT; p++) {
		/* Closed first: read after it, accepted cannot be behind. */
		uint64_t closed = SUM(closed[p]), acc = SUM(accepted[p]);

		if (served(pr, p) && is_conn(p))
			fprintf(f, "secho_connections_open{transport=\"%s\"} %"
			    PRIu64 "\n", secho_proto_name((enum secho_proto)p),
			    acc > closed ? acc - closed : 0);
	}
	per_transport(f, w, n, pr, "secho_connections_closed_total",
	    "counter", "Connections closed, for any reason.",
	    offsetof(struct metrics, closed), is_conn);
	histogram(f, w, n, pr, "secho_connection_duration_seconds",
	    "Connection lifetimes, accept to close.",
	    offsetof(struct metrics, lifetime), life_bounds, MT_LIFE_BUCKETS,
	    is_conn);
}

static void
handshakes(FILE *f, const struct metrics *const *w, int n,
    const struct mt_process *pr)
{
	per_transport(f, w, n, pr, "secho_handshakes_completed_total",
	    "counter", "TLS and DTLS handshakes completed (resumed or full).",
	    offsetof(struct metrics, hs_done), is_secure);
	per_transport(f, w, n, pr, "secho_handshakes_resumed_total",
	    "counter", "Completed handshakes that resumed a session.",
	    offsetof(struct metrics, hs_resumed), is_secure);
	head(f, "secho_handshakes_failed_total", "counter",
	    "TLS and DTLS handshakes that failed, by reason.");
	for (int p = 0; p < SECHO_PROTO_COUNT; p++) {
		for (int r = 0; served(pr, p) && is_secure(p) && r < HF_COUNT;
		    r++)
			fprintf(f, "secho_handshakes_failed_total{transport="
			    "\"%s\",reason=\"%s\"} %" PRIu64 "\n",
			    secho_proto_name((enum secho_proto)p),
			    hsfail_names[r], SUM(hs_failed[p][r]));
	}
	histogram(f, w, n, pr, "secho_handshake_duration_seconds",
	    "Completed handshakes, accept to done.",
	    offsetof(struct metrics, hs_time), hs_bounds, MT_HS_BUCKETS,
	    is_secure);
}

static int
is_dgram(int p)
{
	return secho_proto_is_dgram((enum secho_proto)p);
}

static int
is_udp(int p)
{
	return p == SECHO_UDP;
}

int
mt_render(FILE *f, const struct metrics *const *w, int n,
    const struct mt_process *pr)
{
	connections(f, w, n, pr);
	handshakes(f, w, n, pr);
	per_transport(f, w, n, pr, "secho_echoed_bytes_total", "counter",
	    "Bytes echoed back (payload, before any TLS).",
	    offsetof(struct metrics, bytes), NULL);
	per_transport(f, w, n, pr, "secho_datagrams_echoed_total", "counter",
	    "UDP datagrams echoed.", offsetof(struct metrics, dgrams), is_udp);
	per_transport(f, w, n, pr, "secho_datagrams_dropped_total", "counter",
	    "Datagrams dropped: udp echoes the kernel refused; dtls "
	    "datagrams the listener could not use (malformed, oversized, "
	    "or a repeated ClientHello).",
	    offsetof(struct metrics, dropped), is_dgram);
	head(f, "secho_reloads_total", "counter",
	    "SIGHUP reloads of certificates and keys, by result.");
	fprintf(f, "secho_reloads_total{result=\"ok\"} %" PRIu64 "\n"
	    "secho_reloads_total{result=\"failed\"} %" PRIu64 "\n",
	    pr->reloads_ok, pr->reloads_failed);
	head(f, "secho_last_reload_success", "gauge",
	    "1 if the last reload succeeded, 0 if it failed (the old "
	    "certificate still serves), -1 before any reload.");
	fprintf(f, "secho_last_reload_success %d\n", pr->last_reload_ok);
	head(f, "secho_last_reload_timestamp_seconds", "gauge",
	    "When the last reload happened (Unix time; 0: none yet).");
	fprintf(f, "secho_last_reload_timestamp_seconds %.3f\n",
	    pr->last_reload_time);
	head(f, "secho_workers", "gauge", "Event-loop threads serving.");
	fprintf(f, "secho_workers %d\n", pr->workers);
	head(f, "secho_uptime_seconds", "gauge",
	    "Seconds since the server started.");
	fprintf(f, "secho_uptime_seconds %.3f\n", pr->uptime);
	head(f, "process_start_time_seconds", "gauge",
	    "Start time of the process since the Unix epoch in seconds.");
	fprintf(f, "process_start_time_seconds %.3f\n", pr->start_time);
	head(f, "secho_build_info", "gauge",
	    "Always 1; the labels say which secho this is.");
	fprintf(f, "secho_build_info{version=\"%s\"} 1\n", SECHO_VERSION);
	return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}
