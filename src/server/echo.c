/*
 * echo.c - the echo of one connection over its transport, and the pool of
 * buffers the echoes of one worker share (see echo.h).
 */
#include <stdlib.h>
#include <string.h>

#include "echo.h"

#define POOL_KEEP	256	/* idle buffers kept for reuse */

/* --- buffer pool: echo buffers exist only while bytes are in flight --- */

void *
echo_pool_get(struct echo_pool *p)
{
	void *b = p->free;

	if (b != NULL) {
		memcpy(&p->free, b, sizeof(void *));
		p->nfree--;
		return b;
	}
	return malloc(p->bufsize);
}

void
echo_pool_put(struct echo_pool *p, void *b)
{
	if (b == NULL)
		return;
	if (p->nfree >= POOL_KEEP) {
		free(b);
		return;
	}
	memcpy(b, &p->free, sizeof(void *));
	p->free = b;
	p->nfree++;
}

void
echo_pool_free(struct echo_pool *p)
{
	while (p->free != NULL) {
		void *b = p->free;

		memcpy(&p->free, b, sizeof(void *));
		free(b);
	}
	p->nfree = 0;
}

/* --- echo --- */

ssize_t
echo_step(struct echo *e, struct secho_conn *c, struct echo_pool *p,
    int draining)
{
	ssize_t n;

	if (e->off < e->len) {
		/* A retried write repeats the same bytes, as TLS requires. */
		n = secho_conn_write(c, e->buf + e->off, e->len - e->off);
		if (n > 0) {
			e->off += (size_t)n;
			e->echoed += (unsigned long long)n;
			if (e->off == e->len)
				e->off = e->len = 0;
			/*
			 * The read that filled this echo came up short and
			 * nothing waits inside TLS: the socket is empty, so
			 * the next read would only say EAGAIN.  Let epoll say it
			 * instead (level-triggered: new bytes still wake us).  A
			 * draining connection asks the socket itself: it closes
			 * once a read says there is nothing more.
			 */
			if (e->len == 0 && e->sock_empty && !draining)
				return SECHO_WANT_READ;
		}
		return n;
	}
	if (e->buf == NULL && (e->buf = echo_pool_get(p)) == NULL) {
		secho_conn_set_error(c, "no memory for an echo buffer");
		return SECHO_IO_ERR;
	}
	n = secho_conn_read(c, e->buf, p->bufsize);
	if (n > 0) {
		e->len = (size_t)n;
		e->received += (unsigned long long)n;
		e->sock_empty = (size_t)n < p->bufsize &&
		    secho_conn_pending(c) == 0;
	}
	return n;
}

ssize_t
echo_run(struct echo *e, struct secho_conn *c, struct echo_pool *p,
    int draining, int *moved)
{
	ssize_t rc = 0;

	*moved = 0;
	for (int round = 0; round < ECHO_BUDGET; round++) {
		if ((rc = echo_step(e, c, p, draining)) < 0)
			break;
		*moved = 1;
	}
	if (rc == SECHO_WANT_READ && e->len == 0) {
		echo_pool_put(p, e->buf);	/* idle: no buffer held */
		e->buf = NULL;
	}
	return rc;
}
