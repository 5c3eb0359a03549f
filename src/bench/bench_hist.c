/*
 * bench_hist.c - secho-bench's latency histogram and counter merging.
 *
 * Log-linear buckets as in HdrHistogram: values below 256 each have a
 * bucket; above, every power of two [2^k, 2^(k+1)) is cut into 128 equal
 * buckets, so a bucket is never wider than 1/128 of its values (0.8 %).
 * Recording is a shift and an add, memory is fixed, and histograms of
 * several threads merge by adding their buckets.
 */
#include "bench_int.h"

#define SUB_BITS 7			/* 128 buckets per power of two */
#define LINEAR (2u << SUB_BITS)		/* 256 exact values */

static unsigned
bucket_of(uint64_t v)
{
	int msb, e;

	if (v < LINEAR)
		return (unsigned)v;
	msb = 63 - __builtin_clzll(v);
	e = msb - SUB_BITS;		/* >= 1: v >> e is in [128, 256) */
	return LINEAR + (unsigned)(e - 1) * (LINEAR / 2) +
	    (unsigned)((v >> e) - LINEAR / 2);
}

/* The largest value that lands in bucket i. */
static uint64_t
bucket_top(unsigned i)
{
	unsigned e, m;

	if (i < LINEAR)
		return i;
	e = (i - LINEAR) / (LINEAR / 2) + 1;
	m = (i - LINEAR) % (LINEAR / 2) + LINEAR / 2;
	if (e + SUB_BITS + 1 >= 64 && m == LINEAR - 1)
		return UINT64_MAX;
	return (((uint64_t)m + 1) << e) - 1;
}

void
secho_bench_hist_add(struct secho_bench_hist *h, uint64_t v)
{
	h->b[bucket_of(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

void
secho_bench_hist_merge(struct secho_bench_hist *dst,
    const struct secho_bench_hist *src)
{
	for (unsigned i = 0; i < SECHO_BENCH_HIST_LEN; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t
secho_bench_hist_pct(const struct secho_bench_hist *h, double p)
{
	uint64_t want, seen = 0;
	double x;

	if (h->count == 0)
		return 0;
	if (p >= 100)
		return h->max;
	/* The smallest value with at least p % of the samples at or
	 * below it (rounded up: p99 of 10 samples is the largest). */
	x = p / 100.0 * (double)h->count;
	want = (uint64_t)x;
	if ((double)want < x || want == 0)
		want++;
	for (unsigned i = 0; i < SECHO_BENCH_HIST_LEN; i++) {
		seen += h->b[i];
		if (seen >= want) {
			uint64_t top = bucket_top(i);

			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}

void
secho_bench_stats_merge(struct secho_bench_stats *dst,
    const struct secho_bench_stats *src)
{
	dst->ops += src->ops;
	dst->bytes += src->bytes;
	dst->errors += src->errors;
	dst->mismatches += src->mismatches;
	dst->lost += src->lost;
	dst->late += src->late;
	dst->resumed += src->resumed;
	secho_bench_hist_merge(&dst->hist, &src->hist);
}
