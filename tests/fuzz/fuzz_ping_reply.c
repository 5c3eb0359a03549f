/*
 * fuzz_ping_reply.c - how secho-client's ping mode judges a datagram that
 * came back: an open probe's, a late reply to a probe answered or lost
 * (by the "secho seq=N " it claims), or a mismatch to report byte by
 * byte.
 *
 * Those functions are static, so this file includes client_ping.c (as
 * h2o's unit tests include the .c under test) and the archive's copy of
 * client_ping.o is never linked.
 *
 * Input: flags (bits 0-3: which of the last four probes sent are still
 * open), u16 probe size - 1, u16 last probe number - 1, then the
 * datagram.  The reply gets a buffer of its
 * own exact length, so a read past it is caught.
 */
#include "../../src/client/client_ping.c"

#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct client cl;
	struct ping p;
	size_t n;
	long s;

	if (size < 5)
		return 0;
	memset(&p, 0, sizeof(p));
	memset(&cl, 0, sizeof(cl));
	p.cl = &cl;
	p.size = ((size_t)data[1] << 8 | data[2]) % 4096 + 1;
	p.seq = ((long)data[3] << 8 | data[4]) + 1;
	p.oldest = p.seq > 4 ? p.seq - 3 : 1;
	n = size - 5;
	p.payload = malloc(p.size);
	p.scratch = malloc(p.size);
	p.rbuf = malloc(n > 0 ? n : 1);
	p.slot = calloc(WINDOW, sizeof(*p.slot));
	if (p.payload == NULL || p.scratch == NULL || p.rbuf == NULL ||
	    p.slot == NULL)
		goto out;
	for (long k = p.oldest; k <= p.seq; k++)
		slot_of(&p, k)->open = data[0] >> (p.seq - k) & 1;
	memcpy(p.rbuf, data + 5, n);
	if (payload_seq(p.rbuf, n) < 0)
		abort();
	switch (classify(&p, n, &s)) {
	case REPLY_NOW:
		if (!is_open(&p, s) || n != p.size)
			abort();
		break;
	case REPLY_LATE:
		if (s > p.seq || is_open(&p, s))
			abort();
		break;
	case REPLY_BAD:
		if (bad_reply(&p, n, s) != -1 ||
		    cl.fail != SECHO_CLIENT_MISMATCH)
			abort();
		break;
	}
out:
	free(p.payload);
	free(p.scratch);
	free(p.rbuf);
	free(p.slot);
	return 0;
}
