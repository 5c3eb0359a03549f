/*
 * fuzz_report.c - secho-client --report's reader of the JSON line a
 * server sends first (src/client/client_server_report.c, included for its
 * statics, as fuzz_ping_reply.c does with client_ping.c): the server is
 * the other side, so the line is hostile input.  Whatever it is, the
 * parse ends, stays inside its buffers, and what it keeps is
 * NUL-terminated, no longer than its fields, and printable ASCII (it is
 * printed on the user's terminal).
 *
 * Input: the line as the server sent it (what read_report() would hold,
 * cut at REPORT_MAX - 1 bytes and NUL-terminated).
 */
#include "../../src/client/client_server_report.c"

#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rread *rr = calloc(1, sizeof(*rr));
	struct server_report *rep = calloc(1, sizeof(*rep));
	struct jp j;

	if (rr == NULL || rep == NULL)
		abort();
	rr->len = size < sizeof(rr->buf) - 1 ? size : sizeof(rr->buf) - 1;
	memcpy(rr->buf, data, rr->len);
	rr->buf[rr->len] = '\0';
	j.p = rr->buf;
	j.r = rep;
	(void)jobject(&j, "");
	if (rep->n > FIELDS_MAX)
		abort();
	for (size_t i = 0; i < rep->n; i++) {
		if (memchr(rep->f[i].key, '\0', sizeof(rep->f[i].key)) == NULL ||
		    memchr(rep->f[i].val, '\0', sizeof(rep->f[i].val)) == NULL)
			abort();
		/* What is kept goes to a terminal: printable ASCII only. */
		for (const char *q = rep->f[i].val; *q != '\0'; q++)
			if (*q < 0x20 || *q > 0x7e)
				abort();
		for (const char *q = rep->f[i].key; *q != '\0'; q++)
			if (*q < 0x20 || *q > 0x7e)
				abort();
		(void)field(rep, rep->f[i].key);
	}
	free(rr);
	free(rep);
	return 0;
}
