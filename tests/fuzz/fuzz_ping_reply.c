/*
 * fuzz_ping_reply.c - how secho-client's ping mode judges a datagram that
 * came back: the probe in flight, a late reply to an older probe (by the
 * "secho seq=N " it claims), or a mismatch to report byte by byte.
 *
 * Those functions are static, so this file includes client_ping.c (as
 * h2o's unit tests include the .c under test) and the archive's copy of
 * client_ping.o is never linked.
 *
 * Input: flags (bit 0: a probe is in flight), u16 probe size - 1, u16
 * probe number - 1, then the datagram.  The reply gets a buffer of its
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

	if (size < 5)
		return 0;
	memset(&p, 0, sizeof(p));
	memset(&cl, 0, sizeof(cl));
	p.cl = &cl;
	p.waiting = data[0] & 1;
	p.size = ((size_t)data[1] << 8 | data[2]) % 4096 + 1;
	p.seq = ((long)data[3] << 8 | data[4]) + 1;
	n = size - 5;
	p.payload = malloc(p.size);
	p.scratch = malloc(p.size);
	p.rbuf = malloc(n > 0 ? n : 1);
	if (p.payload == NULL || p.scratch == NULL || p.rbuf == NULL)
		goto out;
	make_payload(p.payload, p.size, p.seq);
	memcpy(p.rbuf, data + 5, n);
	if (payload_seq(p.rbuf, n) < 0)
		abort();
	switch (classify(&p, n)) {
	case REPLY_NOW:
		if (!p.waiting || n != p.size)
			abort();
		break;
	case REPLY_LATE:
		if (payload_seq(p.rbuf, n) > p.seq)
			abort();
		break;
	case REPLY_BAD:
		if (bad_reply(&p, n) != -1 || cl.fail != SECHO_CLIENT_MISMATCH)
			abort();
		break;
	}
out:
	free(p.payload);
	free(p.scratch);
	free(p.rbuf);
	return 0;
}
