/*
 * echo.h - the server's echo over any struct secho_conn, apart from the
 * connection state machine (server_conn.c) so tests/check_echo.c can drive
 * it through a scripted transport, without a socket or a worker.
 *
 * Echo reads only while nothing is waiting to be written, so a client that
 * never reads stalls only itself and costs one buffer at most; a buffer is
 * held only while bytes are in flight and goes back to a pool when the
 * connection is idle.
 */
#ifndef SECHO_SERVER_ECHO_H
#define SECHO_SERVER_ECHO_H

#include <stddef.h>
#include <sys/types.h>

#include "secho/transport.h"

#define ECHO_BUDGET	16	/* read/write rounds per turn, then yield */

/* One worker's idle echo buffers, all bufsize bytes. */
struct echo_pool {
	void *free;		/* free buffers, linked through word 0 */
	size_t nfree;
	size_t bufsize;
};

/* One connection's echo. */
struct echo {
	unsigned char *buf;	/* NULL while idle */
	size_t off, len;	/* written back so far, of len read */
	unsigned long long echoed;
	unsigned long long received;	/* read, echoed or not yet */
	int sock_empty;		/* the last read emptied the socket */
};

/* A buffer of p->bufsize bytes, or NULL when out of memory. */
void *echo_pool_get(struct echo_pool *p);
/* Takes b (NULL is fine) back for reuse, or frees it. */
void echo_pool_put(struct echo_pool *p, void *b);
void echo_pool_free(struct echo_pool *p);

/*
 * One write of the pending bytes or, when none are pending, one read into
 * the buffer.  Returns the bytes moved or an enum secho_io value; an EOF
 * is seen only once everything read before it has been written back.
 * draining: go on reading until the socket itself says it is empty.
 */
ssize_t echo_step(struct echo *e, struct secho_conn *c, struct echo_pool *p,
    int draining);

/*
 * Up to ECHO_BUDGET steps.  Returns >= 0 when the budget ran out (yield,
 * come back), else the enum secho_io that stopped it; an echo left idle
 * (SECHO_WANT_READ, nothing to write) gives its buffer back.  *moved says
 * whether any step moved bytes.
 */
ssize_t echo_run(struct echo *e, struct secho_conn *c, struct echo_pool *p,
    int draining, int *moved);

#endif
