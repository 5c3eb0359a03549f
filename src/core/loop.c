/*
 * loop.c - the epoll reactor behind every server worker.
 *
 * Level-triggered epoll, a binary min-heap of timers and a ready list for
 * events whose data epoll cannot see.  Nothing is indexed by fd, so the
 * loop needs no resizing however many connections it holds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "secho/loop.h"
#include "secho/secho.h"

#define MAX_EVENTS 256

struct secho_loop {
	int epfd;
	int stop;
	uint64_t now_ms;
	struct secho_timer **heap;	/* 1-based; heap[0] unused */
	size_t nheap, capheap;
	struct secho_event *ready;	/* deferred events, LIFO */
	struct secho_event *running;	/* the batch being dispatched */
	struct epoll_event events[MAX_EVENTS];
};

static uint64_t
clock_ms(void)
{
	return secho_now_us() / 1000;
}

struct secho_loop *
secho_loop_new(void)
{
	struct secho_loop *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		secho_error_errno("calloc");
		return NULL;
	}
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		secho_error_errno("epoll_create1");
		free(l);
		return NULL;
	}
	l->now_ms = clock_ms();
	return l;
}

void
secho_loop_free(struct secho_loop *l)
{
	if (l == NULL)
		return;
	close(l->epfd);
	free(l->heap);
	free(l);
}

void
secho_event_init(struct secho_event *ev, int fd, secho_event_cb *cb)
{
	memset(ev, 0, sizeof(*ev));
	ev->fd = fd;
	ev->cb = cb;
}

int
secho_loop_watch(struct secho_loop *l, struct secho_event *ev, int mask)
{
	struct epoll_event ee = { 0 };
	int op;

	if (mask == ev->mask && (mask == 0 || ev->registered))
		return 0;
	if (mask == 0) {
		/*
		 * Deleted, not modified to an empty mask: epoll reports
		 * EPOLLHUP and EPOLLERR whatever the interest, so a silenced
		 * fd whose peer hung up would still call back (and spin).
		 */
		if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, ev->fd, NULL) == -1) {
			secho_error_errno("epoll_ctl(fd %d)", ev->fd);
			return -1;
		}
		ev->registered = 0;
		ev->mask = 0;
		return 0;
	}
	ee.events = ((mask & SECHO_EV_READ) ? EPOLLIN : 0) |
	    ((mask & SECHO_EV_WRITE) ? EPOLLOUT : 0) |
	    ((mask & SECHO_EV_EXCLUSIVE) ? EPOLLEXCLUSIVE : 0);
	ee.data.ptr = ev;
	/* EPOLLEXCLUSIVE cannot be modified, only added afresh. */
	if (ev->registered && ((mask | ev->mask) & SECHO_EV_EXCLUSIVE)) {
		if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, ev->fd, NULL) == -1) {
			secho_error_errno("epoll_ctl(fd %d)", ev->fd);
			return -1;
		}
		ev->registered = 0;
	}
	op = ev->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(l->epfd, op, ev->fd, &ee) == -1) {
		secho_error_errno("epoll_ctl(fd %d)", ev->fd);
		return -1;
	}
	ev->registered = 1;
	ev->mask = mask;
	return 0;
}

void
secho_loop_forget(struct secho_loop *l, struct secho_event *ev)
{
	struct secho_event **p;

	if (ev->registered)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, ev->fd, NULL);
	ev->registered = 0;
	ev->mask = 0;
	if (ev->ready_mask == 0)
		return;
	ev->ready_mask = 0;
	for (p = &l->ready; *p != NULL; p = &(*p)->next_ready) {
		if (*p == ev) {
			*p = ev->next_ready;
			return;
		}
	}
	for (p = &l->running; *p != NULL; p = &(*p)->next_ready) {
		if (*p == ev) {
			*p = ev->next_ready;
			return;
		}
	}
}

void
secho_loop_defer(struct secho_loop *l, struct secho_event *ev, int mask)
{
	if (ev->ready_mask == 0) {
		ev->next_ready = l->ready;
		l->ready = ev;
	}
	ev->ready_mask |= mask;
}

/* --- timers: a binary min-heap keyed on when_ms --- */

static void
heap_place(struct secho_loop *l, size_t i, struct secho_timer *t)
{
	l->heap[i] = t;
	t->heap_idx = i;
}

static void
heap_up(struct secho_loop *l, size_t i)
{
	struct secho_timer *t = l->heap[i];

	while (i > 1 && l->heap[i / 2]->when_ms > t->when_ms) {
		heap_place(l, i, l->heap[i / 2]);
		i /= 2;
	}
	heap_place(l, i, t);
}

static void
heap_down(struct secho_loop *l, size_t i)
{
	struct secho_timer *t = l->heap[i];
	size_t c;

	while ((c = 2 * i) <= l->nheap) {
		if (c < l->nheap && l->heap[c + 1]->when_ms < l->heap[c]->when_ms)
			c++;
		if (l->heap[c]->when_ms >= t->when_ms)
			break;
		heap_place(l, i, l->heap[c]);
		i = c;
	}
	heap_place(l, i, t);
}

void
secho_timer_init(struct secho_timer *t, secho_timer_cb *cb)
{
	t->when_ms = 0;
	t->heap_idx = 0;
	t->cb = cb;
}

void
secho_loop_timer_del(struct secho_loop *l, struct secho_timer *t)
{
	size_t i = t->heap_idx;
	struct secho_timer *last;

	if (i == 0)
		return;
	t->heap_idx = 0;
	last = l->heap[l->nheap--];
	if (last == t)
		return;
	heap_place(l, i, last);
	heap_up(l, i);
	heap_down(l, last->heap_idx);
}

void
secho_loop_timer_set(struct secho_loop *l, struct secho_timer *t,
    uint64_t ms)
{
	if (t->heap_idx != 0)
		secho_loop_timer_del(l, t);
	if (l->nheap + 1 >= l->capheap) {
		size_t cap = l->capheap ? l->capheap * 2 : 64;
		struct secho_timer **h = realloc(l->heap, cap * sizeof(*h));

		if (h == NULL)
			abort();	/* cannot keep a promise to time out */
		l->heap = h;
		l->capheap = cap;
	}
	/* At least 1 ms: a timer re-armed "now" from its own callback must
	 * wait for the next pass, or run_timers() would never end. */
	t->when_ms = l->now_ms + (ms > 0 ? ms : 1);
	heap_place(l, ++l->nheap, t);
	heap_up(l, l->nheap);
}

uint64_t
secho_loop_now(const struct secho_loop *l)
{
	return l->now_ms;
}

static void
run_timers(struct secho_loop *l)
{
	while (l->nheap > 0 && l->heap[1]->when_ms <= l->now_ms) {
		struct secho_timer *t = l->heap[1];

		secho_loop_timer_del(l, t);
		t->cb(l, t);
	}
}

static void
run_ready(struct secho_loop *l)
{
	struct secho_event *ev;

	/*
	 * Detach the batch: a callback may defer again (next round) or
	 * forget any event still in this batch (secho_loop_forget unlinks it
	 * from l->running too).
	 */
	l->running = l->ready;
	l->ready = NULL;
	while ((ev = l->running) != NULL) {
		int mask = ev->ready_mask;

		l->running = ev->next_ready;
		ev->ready_mask = 0;
		ev->cb(l, ev, mask);
	}
}

static int
wait_ms(const struct secho_loop *l, int timeout_ms)
{
	uint64_t next;

	if (l->ready != NULL)
		return 0;
	if (l->nheap == 0)
		return timeout_ms;
	next = l->heap[1]->when_ms > l->now_ms ?
	    l->heap[1]->when_ms - l->now_ms : 0;
	if (timeout_ms >= 0 && (uint64_t)timeout_ms < next)
		return timeout_ms;
	return next > 60000 ? 60000 : (int)next;
}

int
secho_loop_once(struct secho_loop *l, int timeout_ms)
{
	int n;

	n = epoll_wait(l->epfd, l->events, MAX_EVENTS, wait_ms(l, timeout_ms));
	if (n == -1 && errno != EINTR) {
		secho_error_errno("epoll_wait");
		return -1;
	}
	l->now_ms = clock_ms();
	for (int i = 0; i < n; i++) {
		struct secho_event *ev = l->events[i].data.ptr;
		uint32_t e = l->events[i].events;
		int mask = 0;

		if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
			mask |= SECHO_EV_READ;
		if (e & EPOLLOUT)
			mask |= SECHO_EV_WRITE;
		if (e & (EPOLLERR | EPOLLHUP))
			mask |= SECHO_EV_ERROR;
		/* Defer so a callback may free any event, even one later in
		 * this batch, through secho_loop_forget(). */
		secho_loop_defer(l, ev, mask);
	}
	run_ready(l);
	run_timers(l);
	return 0;
}

int
secho_loop_run(struct secho_loop *l)
{
	l->stop = 0;
	while (!l->stop) {
		if (secho_loop_once(l, -1) == -1)
			return -1;
	}
	return 0;
}

void
secho_loop_stop(struct secho_loop *l)
{
	l->stop = 1;
}
