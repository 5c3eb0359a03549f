/*
 * bench_report.c - secho-bench's results: the human table or one JSON
 * object, and what /proc says about the server (CPU time, resident
 * memory).
 */
#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_int.h"

/* Percentiles reported, with their JSON names. */
static const struct {
	double p;
	const char *human, *json;
} pcts[] = {
	{ 50, "p50", "p50" }, { 90, "p90", "p90" }, { 99, "p99", "p99" },
	{ 99.9, "p99.9", "p999" }, { 100, "max", "max" },
};

#define NPCTS (sizeof(pcts) / sizeof(*pcts))

/*
 * CPU nanoseconds of process pid, exact, from its CPU-time clock: every
 * thread it has run, including those that have exited (stunnel runs a
 * thread per connection; summing the live threads' schedstat loses them),
 * -1 if unreadable.  utime+stime would be cut to whole 10 ms ticks.
 */
static long long
process_ns(long pid)
{
	struct timespec ts;
	clockid_t cid;

	if (clock_getcpuclockid((pid_t)pid, &cid) != 0 ||
	    clock_gettime(cid, &ts) != 0)
		return -1;
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * CPU seconds of pid: its own threads, live and exited (exact), plus its
 * reaped children (cutime+cstime, ticks, rounded once for all of them);
 * -1 if unreadable.  *pgrp gets its group.
 */
static double
proc_cpu_s(long pid, long *pgrp)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	long long cut, cst, ns;
	double hz = (double)sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 1, " %*c %*d %ld "
	    "%*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld", pgrp, &ut,
	    &st, &cut, &cst) != 5)
		return -1;
	/* Children count once reaped (cutime); forking servers need it. */
	if ((ns = process_ns(pid)) < 0)
		return (double)(ut + st) / hz + (double)(cut + cst) / hz;
	return (double)ns / 1e9 + (double)(cut + cst) / hz;
}

/* The other members of process group pgrp (forking servers). */
static double
group_cpu_s(long leader)
{
	struct dirent *de;
	double sum = 0, t;
	DIR *d;
	long pg;

	if ((d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		long pid;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = strtol(de->d_name, NULL, 10);
		if (pid != leader && (t = proc_cpu_s(pid, &pg)) >= 0 &&
		    pg == leader)
			sum += t;
	}
	closedir(d);
	return sum;
}

double
secho_bench_cpu_s(long pid)
{
	double cpu;
	long pgrp;

	if (pid <= 0 || (cpu = proc_cpu_s(pid, &pgrp)) < 0)
		return -1;
	/* A group of its own (not ours): count every member. */
	if (pgrp == pid && pgrp != (long)getpgrp())
		cpu += group_cpu_s(pid);
	return cpu;
}

long
secho_bench_rss_kib(long pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if (pid <= 0 || (f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

struct derived {
	double ops_s, mb_s, cpu_us_op, cpu_s_gb;
};

static void
derive(const struct secho_bench_config *cfg,
    const struct secho_bench_result *r, struct derived *d)
{
	double secs = cfg->mode == SECHO_BENCH_HOLD ? r->open_s :
	    r->duration_s;

	memset(d, 0, sizeof(*d));
	if (secs > 0) {
		d->ops_s = (double)r->st.ops / secs;
		d->mb_s = (double)r->st.bytes / 1e6 / secs;
	}
	d->cpu_us_op = r->cpu_s >= 0 && r->st.ops > 0 ? r->cpu_s * 1e6 /
	    (double)r->st.ops : -1;
	d->cpu_s_gb = r->cpu_s >= 0 && r->st.bytes > 0 ? r->cpu_s /
	    ((double)r->st.bytes / 1e9) : -1;
}

static int
is_dgram_mode(const struct secho_bench_config *cfg)
{
	return cfg->mode == SECHO_BENCH_UDP || cfg->mode == SECHO_BENCH_DTLS;
}

static void
human_server(const struct secho_bench_config *cfg,
    const struct secho_bench_result *r, const struct derived *d, FILE *out)
{
	if (r->cpu_s >= 0) {
		fprintf(out, "server cpu    %.3f s\n", r->cpu_s);
		if (d->cpu_us_op >= 0)
			fprintf(out, "cpu/op        %.2f us\n", d->cpu_us_op);
		if (d->cpu_s_gb >= 0)
			fprintf(out, "cpu/GB        %.2f s\n", d->cpu_s_gb);
	}
	if (r->rss_kib >= 0)
		fprintf(out, "rss/conn      %.2f KiB\n", r->rss_kib);
	else if (cfg->mode == SECHO_BENCH_HOLD && cfg->pid > 0)
		fprintf(out, "rss/conn      (not measured)\n");
}

static void
human(const struct secho_bench_config *cfg,
    const struct secho_bench_result *r, const struct derived *d, FILE *out)
{
	const struct secho_bench_stats *s = &r->st;

	fprintf(out, "mode          %s%s\n", secho_bench_mode_name(cfg->mode),
	    cfg->rate > 0 ? " (open loop)" : "");
	fprintf(out, "transport     %s\n", secho_proto_name(cfg->proto));
	fprintf(out, "conns         %ld\nthreads       %d\n", cfg->conns,
	    r->threads);
	fprintf(out, "size          %zu B\n", cfg->size);
	if (cfg->rate > 0)
		fprintf(out, "rate          %.0f ops/s intended\n", cfg->rate);
	fprintf(out, "duration      %.3f s\n", r->duration_s);
	if (cfg->mode == SECHO_BENCH_HOLD)
		fprintf(out, "opened in     %.3f s\n", r->open_s);
	fprintf(out, "ops           %llu\n", (unsigned long long)s->ops);
	fprintf(out, "ops/s         %.1f\nMB/s          %.3f\n", d->ops_s,
	    d->mb_s);
	fprintf(out, "errors        %llu\nmismatches    %llu\n",
	    (unsigned long long)s->errors, (unsigned long long)s->mismatches);
	if (is_dgram_mode(cfg))
		fprintf(out, "lost          %llu\n",
		    (unsigned long long)s->lost);
	if (cfg->mode == SECHO_BENCH_HS && cfg->proto == SECHO_TLS)
		fprintf(out, "resumed       %llu\n",
		    (unsigned long long)s->resumed);
	fprintf(out, "latency us   ");
	for (size_t i = 0; i < NPCTS; i++)
		fprintf(out, " %s %.1f", pcts[i].human, (double)
		    secho_bench_hist_pct(&s->hist, pcts[i].p) / 1e3);
	fputc('\n', out);
	human_server(cfg, r, d, out);
}

/* A JSON number, or null when v < 0 (not measured). */
static void
jnum(FILE *out, const char *key, double v, int comma)
{
	if (v < 0)
		fprintf(out, "\"%s\":null", key);
	else
		fprintf(out, "\"%s\":%.3f", key, v);
	if (comma)
		fputc(',', out);
}

static void
json_lat(FILE *out, const struct secho_bench_hist *h)
{
	fputs("\"lat_us\":{", out);
	for (size_t i = 0; i < NPCTS; i++)
		jnum(out, pcts[i].json, h->count == 0 ? -1 :
		    (double)secho_bench_hist_pct(h, pcts[i].p) / 1e3,
		    i + 1 < NPCTS);
	fputs("},", out);
}

static void
json(const struct secho_bench_config *cfg,
    const struct secho_bench_result *r, const struct derived *d, FILE *out)
{
	const struct secho_bench_stats *s = &r->st;
	int hs_tls = cfg->mode == SECHO_BENCH_HS && cfg->proto == SECHO_TLS;

	fprintf(out, "{\"mode\":\"%s\",\"transport\":\"%s\",\"conns\":%ld,"
	    "\"threads\":%d,\"size\":%zu,", secho_bench_mode_name(cfg->mode),
	    secho_proto_name(cfg->proto), cfg->conns, r->threads, cfg->size);
	jnum(out, "duration_s", r->duration_s, 1);
	fprintf(out, "\"ops\":%llu,", (unsigned long long)s->ops);
	jnum(out, "ops_per_s", d->ops_s, 1);
	jnum(out, "mb_per_s", d->mb_s, 1);
	fprintf(out, "\"errors\":%llu,\"mismatches\":%llu,\"lost\":%llu,",
	    (unsigned long long)s->errors, (unsigned long long)s->mismatches,
	    (unsigned long long)s->lost);
	json_lat(out, &s->hist);
	jnum(out, "server_cpu_s", r->cpu_s, 1);
	jnum(out, "server_cpu_us_per_op", d->cpu_us_op, 1);
	jnum(out, "server_cpu_s_per_gb", d->cpu_s_gb, 1);
	jnum(out, "rss_kib_per_conn", r->rss_kib, 1);
	jnum(out, "rate", cfg->rate > 0 ? cfg->rate : -1, 1);
	jnum(out, "open_s", cfg->mode == SECHO_BENCH_HOLD ? r->open_s : -1, 1);
	jnum(out, "resumed", hs_tls ? (double)s->resumed : -1, 0);
	fputs("}\n", out);
}

void
secho_bench_report(const struct secho_bench_config *cfg,
    const struct secho_bench_result *r, FILE *out)
{
	struct derived d;

	derive(cfg, r, &d);
	if (cfg->json)
		json(cfg, r, &d, out);
	else
		human(cfg, r, &d, out);
	fflush(out);
}
