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
/* Datagram probes outstanding at most: numbers index a ring this big. */
#define WINDOW		1024

/* A datagram probe sent and not yet answered or given up on. */
struct slot {
	unsigned long long sent_us;
	int open;
};

struct ping {
	struct client *cl;
	struct client_echo e;	/* streams only */
	unsigned char *payload;	/* the probe being sent */
	unsigned char *scratch;	/* the probe a reply claims to be */
	unsigned char *rbuf;	/* datagrams only */
	struct slot *slot;	/* datagrams: WINDOW, by seq % WINDOW */
	size_t size;
	long seq;		/* the last probe sent */
	long oldest;		/* datagrams: the oldest one still open */
	long sent, received;
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
	p->oldest = 1;
	p->payload = malloc(p->size);
	p->scratch = malloc(p->size);
	if (cl->dgram) {
		p->rbuf = malloc(DGRAM_RBUF);
		p->slot = calloc(WINDOW, sizeof(*p->slot));
	}
	if (p->payload == NULL || p->scratch == NULL ||
	    (cl->dgram && (p->rbuf == NULL || p->slot == NULL)))
		return secho_client_error(cl, SECHO_CLIENT_CONNECT,
		    "out of memory");
	if (!cl->dgram)
		return secho_client_echo_init(&p->e, cl, -1, -1);
	return 0;
}

static void
ping_free(struct ping *p)
{
	struct secho_client_report *r = p->cl->report;

	if (r != NULL && p->cl->dgram) {
		/* Streams count in their echo engine. */
		r->bytes_sent += (unsigned long long)p->sent * p->size;
		r->bytes_echoed += (unsigned long long)p->received * p->size;
	}
	if (!p->cl->dgram)
		secho_client_echo_free(&p->e);
	free(p->payload);
	free(p->scratch);
	free(p->rbuf);
	free(p->slot);
}

static struct slot *
slot_of(const struct ping *p, long seq)
{
	return &p->slot[seq % WINDOW];
}

/* Whether probe seq still waits for its reply. */
static int
is_open(const struct ping *p, long seq)
{
	return seq >= p->oldest && seq <= p->seq && slot_of(p, seq)->open;
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

/* Probe seq came back after rtt us, or (got 0) its -t ran out. */
static void
report(struct ping *p, long seq, int got, unsigned long long rtt)
{
	if (got)
		record(p, rtt);
	secho_client_report_probe(p->cl, seq, got ? (long long)rtt : -1);
	if (p->cl->cfg->quiet || p->cl->cfg->json)
		return;
	if (got)
		printf("%zu bytes from %s: seq=%ld time=%.3f ms\n", p->size,
		    p->cl->addr, seq, rtt / 1000.0);
	else
		printf("no answer from %s for seq=%ld within %gs\n",
		    p->cl->addr, seq, secho_client_timeout_secs(p->cl));
	fflush(stdout);
}

/* The reply in rbuf is: an open probe's (*seq), a done one's, or garbage. */
static enum reply
classify(struct ping *p, size_t n, long *seq)
{
	long s = payload_seq(p->rbuf, n);

	/*
	 * A probe too small to carry its number is the only one (see
	 * secho_client_ping_min_size); any other is compared as seq 1's.
	 */
	if (s == 0 && p->seq == 1)
		s = 1;
	*seq = s;
	if (s < 1 || s > p->seq || n != p->size)
		return REPLY_BAD;
	make_payload(p->scratch, p->size, s);
	if (memcmp(p->rbuf, p->scratch, n) != 0)
		return REPLY_BAD;
	return is_open(p, s) ? REPLY_NOW : REPLY_LATE;
}

/* The probe a bad reply is held against: the one it names, or the oldest. */
static long
blamed(const struct ping *p, long s)
{
	if (is_open(p, s))
		return s;
	for (s = p->oldest; s <= p->seq; s++)
		if (slot_of(p, s)->open)
			return s;
	return 0;
}

static int
bad_reply(struct ping *p, size_t n, long s)
{
	size_t k = 0;

	if ((s = blamed(p, s)) == 0)
		return secho_client_error(p->cl, SECHO_CLIENT_MISMATCH,
		    "unexpected %zu-byte datagram between probes", n);
	if (n != p->size)
		return secho_client_error(p->cl, SECHO_CLIENT_MISMATCH, "echo "
		    "mismatch in probe seq=%ld: sent %zu bytes, got %zu",
		    s, p->size, n);
	make_payload(p->scratch, p->size, s);
	while (k < n && p->rbuf[k] == p->scratch[k])
		k++;
	return secho_client_error(p->cl, SECHO_CLIENT_MISMATCH, "echo "
	    "mismatch in probe seq=%ld at byte %zu: sent 0x%02x, got 0x%02x",
	    s, k + 1, p->scratch[k], p->rbuf[k]);
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
 * wants to wait (SECHO_WANT_*), ignoring late replies to probes already
 * answered or lost.  Returns 0 once an open probe was answered, or
 * FAILED after a failure it has set (secho_client_error).
 */
static ssize_t
dgram_read(struct client *cl, void *arg)
{
	struct ping *p = arg;
	ssize_t r;
	long s;

	for (;;) {
		r = secho_client_read(cl, p->rbuf, DGRAM_RBUF);
		if (r == SECHO_WANT_READ || r == SECHO_WANT_WRITE)
			return r;
		if (r < 0) {
			dgram_fail(p, r, p->sent);
			return FAILED;
		}
		switch (classify(p, (size_t)r, &s)) {
		case REPLY_NOW:
			slot_of(p, s)->open = 0;
			report(p, s, 1, secho_now_us() - slot_of(p, s)->sent_us);
			return 0;
		case REPLY_LATE:
			secho_client_note(cl, "ignoring a late reply for "
			    "seq=%ld", s);
			break;
		case REPLY_BAD:
			bad_reply(p, (size_t)r, s);
			return FAILED;
		}
	}
}

/* Reads replies until one is answered or until `until` (0: no limit). */
static int
dgram_wait(struct ping *p, unsigned long long until)
{
	ssize_t r = secho_client_drive(p->cl, dgram_read, p, until);

	if (r == SECHO_CLIENT_INTR)
		return 0;	/* dgram_ping notices */
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

/* Sends probe p->seq + 1 and opens its slot. */
static int
dgram_send(struct ping *p)
{
	struct slot *sl = slot_of(p, ++p->seq);
	ssize_t r;

	make_payload(p->payload, p->size, p->seq);
	sl->sent_us = secho_now_us();
	sl->open = 1;
	p->sent++;
	r = secho_client_drive(p->cl, dgram_write, p,
	    secho_client_deadline(p->cl));
	if (r == SECHO_CLIENT_INTR)
		return 0;	/* dgram_ping notices */
	if (r == SECHO_WANT_READ || r == SECHO_WANT_WRITE)
		return secho_client_error(p->cl, SECHO_CLIENT_TIMEOUT, "timed "
		    "out after %gs sending probe seq=%ld",
		    secho_client_timeout_secs(p->cl), p->seq);
	return r < 0 ? dgram_fail(p, r, p->sent - 1) : 0;
}

/* When the oldest open probe counts as lost (0: never, or none open). */
static unsigned long long
expiry(const struct ping *p)
{
	int ms = p->cl->cfg->timeout_ms;

	if (ms <= 0 || p->oldest > p->seq)
		return 0;
	return slot_of(p, p->oldest)->sent_us + (unsigned long long)ms * 1000;
}

/* Closes the books on probes answered or out of time, oldest first. */
static void
expire(struct ping *p)
{
	unsigned long long due;

	while (p->oldest <= p->seq) {
		due = expiry(p);
		if (slot_of(p, p->oldest)->open) {
			if (due == 0 || secho_now_us() < due)
				return;
			slot_of(p, p->oldest)->open = 0;
			report(p, p->oldest, 0, 0);
		}
		p->oldest++;
	}
}

/*
 * Whether the next probe may go now: -i 0 floods one probe at a time (the
 * next once the last is answered or lost); otherwise probes go on the
 * interval, up to WINDOW of them open.
 */
static int
may_send(const struct ping *p)
{
	if (p->seq >= p->cl->cfg->count)
		return 0;
	if (p->cl->cfg->interval_ms == 0)
		return p->oldest > p->seq;
	return p->seq + 1 - p->oldest < WINDOW;
}

static unsigned long long
sooner(unsigned long long a, unsigned long long b)
{
	return a == 0 || (b != 0 && b < a) ? b : a;
}

/* Interrupted: probes still within their -t are neither lost nor counted. */
static void
withdraw(struct ping *p)
{
	for (long s = p->oldest; s <= p->seq; s++) {
		if (slot_of(p, s)->open) {
			slot_of(p, s)->open = 0;
			p->sent--;
		}
	}
}

/*
 * Datagrams, like ping(8): a probe every interval whatever became of the
 * ones before; -t only decides when an open probe counts as lost.  The
 * run ends when every probe was answered or lost.
 */
static int
dgram_ping(struct ping *p)
{
	unsigned long long next = 0, until;
	long ms = p->cl->cfg->interval_ms;

	for (;;) {
		expire(p);
		if (secho_client_interrupted())
			withdraw(p);
		if (p->oldest > p->cl->cfg->count ||
		    secho_client_interrupted())
			return 0;
		if (may_send(p) && secho_now_us() >= next) {
			if (dgram_send(p) == -1)
				return -1;
			next = slot_of(p, p->seq)->sent_us +
			    (unsigned long long)ms * 1000;
			continue;
		}
		until = sooner(expiry(p), may_send(p) ? next : 0);
		if (dgram_wait(p, until) == -1)
			return -1;
	}
}

static int
stream_probe(struct ping *p, unsigned long long *rtt)
{
	unsigned long long t0 = secho_now_us();
	int rc;

	make_payload(p->payload, p->size, ++p->seq);
	p->sent++;
	secho_client_echo_queue(&p->e, p->payload, p->size);
	rc = secho_client_echo_run(&p->e);
	*rtt = secho_now_us() - t0;
	return rc;
}

/*
 * A stream echoes in order and loses nothing: a probe that -t sees
 * unanswered is a failure, not a loss.  So probes go one at a time,
 * still on the interval from one send to the next (a reply slower than
 * the interval sends the next one at once).
 */
static int
stream_ping(struct ping *p)
{
	const struct secho_client_config *cfg = p->cl->cfg;
	unsigned long long next, rtt;
	int rc;

	for (;;) {
		next = secho_now_us() + (unsigned long long)cfg->interval_ms *
		    1000;
		if ((rc = stream_probe(p, &rtt)) == 1)
			p->sent--;	/* interrupted: see withdraw() */
		if (rc != 0)
			return rc == 1 ? 0 : -1;
		report(p, p->seq, 1, rtt);
		if (p->seq == cfg->count)
			return 0;
		/* Sleeps, still reading so a stray byte is noticed. */
		p->e.idle_until_us = next;
		if ((rc = secho_client_echo_run(&p->e)) != 0)
			return rc == 1 ? 0 : -1;
	}
}

/* Integer square root (Newton); spares linking libm for one number. */
unsigned long long
secho_client_isqrt(unsigned long long v)
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

	if (p->cl->cfg->json)
		return;	/* the report has the figures */
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
		    secho_client_isqrt(var > 0 ? (unsigned long long)var :
		    0) / 1000.0);
	}
	fflush(stdout);
}

int
secho_client_ping(struct client *cl)
{
	const struct secho_client_config *cfg = cl->cfg;
	unsigned long long start;
	struct ping p;
	int rc;

	if (ping_init(&p, cl) == -1) {
		ping_free(&p);
		return -1;
	}
	if (!cfg->quiet && !cfg->json)
		printf("PING %s (%s) over %s: %zu bytes per probe\n", cfg->host,
		    cl->addr, secho_proto_name(cfg->proto), p.size);
	start = secho_now_us();
	rc = cl->dgram ? dgram_ping(&p) : stream_ping(&p);
	summary(&p, secho_now_us() - start);
	if (cl->report != NULL) {
		cl->report->ping = 1;
		cl->report->ping_size = p.size;
		cl->report->ping_sent += p.sent;
		cl->report->ping_received += p.received;
		cl->report->ping_us += secho_now_us() - start;
	}
	ping_free(&p);
	if (rc == -1)
		return -1;
	if (p.received < p.sent)
		cl->loss = 1;
	return 0;
}
