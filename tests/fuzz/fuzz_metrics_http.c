/*
 * fuzz_metrics_http.c - the --metrics listener's request handling
 * (src/server/server_metrics.c, included for its statics): a scraper's
 * bytes, in as many pieces as the input says, arrive on a socketpair and
 * read_request() takes them as the event loop would; every request is
 * answered with one of the documented statuses or left waiting, and an
 * answer is a whole HTTP/1.1 response.  The counters behind a 200 are a
 * zeroed worker's.
 *
 * Input: chunks (fuzz.h), each written to the socket before one more
 * read_request(), until an answer is queued or the chunks run out.
 */
#include <sys/socket.h>

#include "../../src/server/server_metrics.c"

#include "fuzz.h"

static struct shared sh;
static struct server worker;
static struct secho_server_config cfg;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct srv_metrics m;
	struct mconn *c = calloc(1, sizeof(*c));
	struct fz_chunks ch;
	const uint8_t *piece;
	size_t len;
	int sv[2], rc = 0;

	if (c == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv) == -1)
		abort();
	memset(&m, 0, sizeof(m));
	sh.cfg = &cfg;
	sh.workers = &worker;
	sh.nworkers = 1;
	sh.last_reload_ok = -1;
	m.sh = &sh;
	c->m = &m;
	c->ev.fd = sv[0];
	fz_chunks_init(&ch, data, size);
	while (rc == 0 && fz_chunk_next(&ch, &piece, &len)) {
		if (len > 0 && write(sv[1], piece, len) < 0)
			break;	/* the socket is full: as a stalled scraper */
		rc = read_request(c);
	}
	if (rc == 1 && (c->out == NULL || c->olen < 17 ||
	    memcmp(c->out, "HTTP/1.1 ", 9) != 0))
		abort();
	if (rc != 1 && c->out != NULL)
		abort();
	free(c->out);
	free(c);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
