/*
 * client_ping.c - ping mode (-c): numbered probes, round-trip times and a
 * ping-style summary.  Streams reuse the echo engine one probe at a time;
 * datagrams get their own small loop, because there a missing reply is a
 * loss to count and a late one is to be ignored, not a failure.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

#define SEQ_PREFIX	"secho seq="
#define DGRAM_RBUF	65536
/* What dgram_read() returns after a failure: none of the enum secho_io. */
#define FAILED		1

struct ping {
	struct client *cl;
	struct client_echo e;	/* streams only */
	unsigned char *payload;	/* the probe in flight */
	unsigned char *scratch;	/* an older probe: is a late reply intact? */
	unsigned char *rbuf;	/* datagrams only */
	size_t size;
	long seq, sent, received;
	int waiting;		/* datagrams: for the reply to p->seq */
	unsigned long long min_us, max_us, sum_us;
	double sum2;		/* of squared us, for mdev */
};

enum reply { REPLY_NOW, REPLY_LATE, REPLY_BAD };

size_t
secho_client_ping_min_size(enum secho_proto proto, long count)
{
	char n[24];
	size_t need;

	/* A stream's echoes come in order; one probe has none to mix up. */
	if (!secho_proto_is_dgram(proto) || count < 2)
		return 1;
	need = strlen(SEQ_PREFIX) + (size_t)snprintf(n, sizeof(n), "%ld ",
	    count);
	return need > SECHO_CLIENT_DGRAM_PROBE_MIN ? need :
	    SECHO_CLIENT_DGRAM_PROBE_MIN;
}

/*
 * "secho seq=N " and then a repeating printable pattern.  Over a stream
 * a small size may cut the prefix; a datagram probe always holds it
 * (secho_client_ping_min_size).
 */
static void
make_payload(unsigned char *buf, size_t size, long seq)
{
	static const char pattern[] =
	    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
	char head[40];
	size_t n;

	n = (size_t)snprintf(head, sizeof(head), SEQ_PREFIX "%ld ", seq);
	for (size_t i = 0; i < size; i++)
		buf[i] = i < n ? (unsigned char)head[i] :
		    (unsigned char)pattern[i % (sizeof(pattern) - 1)];
}

/* The seq a payload claims, or 0. */
static long
payload_seq(const unsigned char *p, size_t n)
{
	size_t k = strlen(SEQ_PREFIX), i;
	long v = 0;

	if (n <= k || memcmp(p, SEQ_PREFIX, k) != 0)
		return 0;
	for (i = k; i < n && isdigit(p[i]) && v < LONG_MAX / 10 - 9; i++)
		v = v * 10 + (p[i] - '0');
	return v;
}

static int
ping_init(struct ping *p, struct client *cl)
{
	memset(p, 0, sizeof(*p));
	p->cl = cl;
	p->size = cl->cfg->size;
	p->payload = malloc(p->size);
	p->scratch = malloc(p->size);
	if (cl->dgram)
		p->rbuf = malloc(DGRAM_RBUF);
	if (p->payload == NULL || p->scratch == NULL ||
	    (cl->dgram && p->rbuf == NULL))
		return secho_client_error(cl, SECHO_CLIENT_CONNECT,
		    "out of memory");
	if (!cl->dgram)
		return secho_client_echo_init(&p->e, cl, -1, -1);
	return 0;
}

static void
ping_free(struct ping *p)
{
	if (!p->cl->dgram)
		secho_client_echo_free(&p->e);
	free(p->payload);
	free(p->scratch);
	free(p->rbuf);
}

static int
stream_probe(struct ping *p, unsigned long long *rtt)
{
	unsigned long long t0 = secho_now_us();
	int rc;

	secho_client_echo_queue(&p->e, p->payload, p->size);
	rc = secho_client_echo_run(&p->e);
	*rtt = secho_now_us() - t0;
	return rc;
}

/* A reply to the probe in flight, to an older one, or garbage. */
static enum reply
classify(struct ping *p, size_t n)
{
	int waiting = p->waiting;
	long s;

	if (waiting && n == p->size && memcmp(p->rbuf, p->payload, n) == 0)
		return REPLY_NOW;
	s = payload_seq(p->rbuf, n);
	if (s < 1 || s > p->seq || (s == p->seq && waiting))
		return REPLY_BAD;
	make_payload(p->scratch, p->size, s);
	if (n != p->size || memcmp(p->rbuf, p->scratch, n) != 0)
		return REPLY_BAD;
	return REPLY_LATE;
}

static int
bad_reply(const struct ping *p, size_t n)
{
	size_t k = 0;

	if (!p->waiting)
		return secho_client_error(p->cl, SECHO_CLIENT_MISMATCH,
		    "unexpected %zu-byte datagram between probes", n);
	if (n != p->size)
		return secho_client_error(p->cl, SECHO_CLIENT_MISMATCH, "echo "
		    "mismatch in probe seq=%ld: sent %zu bytes, got %zu",
		    p->seq, p->size, n);
	while (k < n && p->rbuf[k] == p->payload[k])
		k++;
	return secho_client_error(p->cl, SECHO_CLIENT_MISMATCH, "echo "
	    "mismatch in probe seq=%ld at byte %zu: sent 0x%02x, got 0x%02x",
	    p->seq, k + 1, p->payload[k], p->rbuf[k]);
}

/* Fails for a failed read or write; `sent` probes had gone out whole. */
static int
dgram_fail(struct ping *p, ssize_t r, long sent)
{
	return secho_client_io_fail(p->cl, r,
	    (unsigned long long)p->received * p->size,
	    (unsigned long long)sent * p->size);
}

/*
 * A step for secho_client_drive: reads datagrams until the transport
 * wants to wait (SECHO_WANT_*), ignoring late replies to older probes.
 * Returns 0 once the reply to the probe in flight is in, or FAILED after
 * a failure it has set (secho_client_error).
 */
static ssize_t
dgram_read(struct client *cl, void *arg)
{
	struct ping *p = arg;
	ssize_t r;

	for (;;) {
		r = secho_client_read(cl, p->rbuf, DGRAM_RBUF);
		if (r == SECHO_WANT_READ || r == SECHO_WANT_WRITE)
			return r;
		if (r < 0) {
			dgram_fail(p, r, p->sent);
			return FAILED;
		}
		switch (classify(p, (size_t)r)) {
		case REPLY_NOW:
			return 0;
		case REPLY_LATE:
			secho_client_note(cl, "ignoring a late reply for "
			    "seq=%ld", payload_seq(p->rbuf, (size_t)r));
			break;
		case REPLY_BAD:
			bad_reply(p, (size_t)r);
			return FAILED;
		}
	}
}

/*
 * Waits until the reply to the probe in flight came (*got, if waiting)
 * or until `until` (0: no limit).
 */
static int
dgram_wait(struct ping *p, unsigned long long until, int waiting, int *got)
{
	ssize_t r;

	p->waiting = waiting;
	r = secho_client_drive(p->cl, dgram_read, p, until);
	*got = r == 0 && waiting;
	if (r == SECHO_IO_ERR)	/* poll or the DTLS timer */
		return dgram_fail(p, r, p->sent);
	return r == FAILED ? -1 : 0;
}

static ssize_t
dgram_write(struct client *cl, void *arg)
{
	struct ping *p = arg;

	return secho_client_write(cl, p->payload, p->size);
}

static int
dgram_send(struct ping *p, unsigned long long deadline)
{
	ssize_t r = secho_client_drive(p->cl, dgram_write, p, deadline);

	if (r == SECHO_WANT_READ || r == SECHO_WANT_WRITE)
		return secho_client_error(p->cl, SECHO_CLIENT_TIMEOUT, "timed "
		    "out after %gs sending probe seq=%ld",
		    secho_client_timeout_secs(p->cl), p->seq);
	return r < 0 ? dgram_fail(p, r, p->sent - 1) : 0;
}

static int
dgram_probe(struct ping *p, unsigned long long *rtt, int *got)
{
	unsigned long long t0 = secho_now_us();
	unsigned long long deadline = secho_client_deadline(p->cl);
	int rc;

	*got = 0;
	if (dgram_send(p, deadline) == -1)
		return -1;
	rc = dgram_wait(p, deadline, 1, got);
	*rtt = secho_now_us() - t0;
	return rc;
}

static void
record(struct ping *p, unsigned long long rtt)
{
	if (p->received == 0 || rtt < p->min_us)
		p->min_us = rtt;
	if (rtt > p->max_us)
		p->max_us = rtt;
	p->received++;
	p->sum_us += rtt;
	p->sum2 += (double)rtt * (double)rtt;
}

/* Sends probe p->seq and waits for it; a lost datagram is not an error. */
static int
probe(struct ping *p)
{
	const struct secho_client_config *cfg = p->cl->cfg;
	unsigned long long rtt;
	int got = 1, rc;

	make_payload(p->payload, p->size, p->seq);
	p->sent++;
	rc = p->cl->dgram ? dgram_probe(p, &rtt, &got) :
	    stream_probe(p, &rtt);
	if (rc == -1)
		return -1;
	if (got)
		record(p, rtt);
	if (cfg->quiet)
		return 0;
	if (got)
		printf("%zu bytes from %s: seq=%ld time=%.3f ms\n", p->size,
		    p->cl->addr, p->seq, rtt / 1000.0);
	else
		printf("no answer from %s for seq=%ld within %gs\n",
		    p->cl->addr, p->seq, secho_client_timeout_secs(p->cl));
	fflush(stdout);
	return 0;
}

/* Sleeps until `until`, still reading so a stray reply is noticed. */
static int
pause_until(struct ping *p, unsigned long long until)
{
	int got;

	if (p->cl->dgram)
		return dgram_wait(p, until, 0, &got);
	p->e.idle_until_us = until;
	return secho_client_echo_run(&p->e);
}

/* Integer square root (Newton); spares linking libm for one number. */
static unsigned long long
isqrt(unsigned long long v)
{
	unsigned long long x = v, y = (v + 1) / 2;

	while (y < x) {
		x = y;
		y = (x + v / x) / 2;
	}
	return x;
}

static void
summary(const struct ping *p, unsigned long long us)
{
	char target[SECHO_HOST_MAX + 16];
	long lost = p->sent - p->received;
	double avg, var;

	printf("--- %s secho ping statistics ---\n",
	    secho_client_target(p->cl, target, sizeof(target)));
	printf("%ld probes sent, %ld received, ", p->sent, p->received);
	if (p->sent == 0 || lost * 100 % p->sent == 0)
		printf("%ld%% loss", p->sent ? lost * 100 / p->sent : 0);
	else
		printf("%.1f%% loss", 100.0 * lost / p->sent);
	printf(", time %llums\n", us / 1000);
	if (p->received > 0) {
		avg = (double)p->sum_us / p->received;
		var = p->sum2 / p->received - avg * avg;
		printf("rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n",
		    p->min_us / 1000.0, avg / 1000.0, p->max_us / 1000.0,
		    isqrt(var > 0 ? (unsigned long long)var : 0) / 1000.0);
	}
	fflush(stdout);
}

int
secho_client_ping(struct client *cl)
{
	const struct secho_client_config *cfg = cl->cfg;
	unsigned long long start, next;
	struct ping p;
	int rc;

	if (ping_init(&p, cl) == -1) {
		ping_free(&p);
		return -1;
	}
	if (!cfg->quiet)
		printf("PING %s (%s) over %s: %zu bytes per probe\n", cfg->host,
		    cl->addr, secho_proto_name(cfg->proto), p.size);
	start = secho_now_us();
	for (p.seq = 1; p.seq <= cfg->count; p.seq++) {
		next = secho_now_us() + (unsigned long long)cfg->interval_ms *
		    1000;
		if ((rc = probe(&p)) != 0 || p.seq == cfg->count)
			break;
		if ((rc = pause_until(&p, next)) != 0)
			break;
	}
	summary(&p, secho_now_us() - start);
	ping_free(&p);
	if (rc == -1)
		return -1;
	if (p.received < p.sent)
		cl->loss = 1;
	return 0;
}
