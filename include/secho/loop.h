/*
 * loop.h - a small epoll reactor: fd events, timers and a ready list.
 *
 * Callers embed a struct secho_event and a struct secho_timer in their own
 * state (no fd-indexed tables to resize).  Interest is level-triggered and
 * changed only when it differs, so a connection that keeps wanting the
 * same direction costs no epoll_ctl.  One loop per thread; nothing here is
 * shared between loops.
 */
#ifndef SECHO_LOOP_H
#define SECHO_LOOP_H

#include <stddef.h>
#include <stdint.h>

#define SECHO_EV_READ  0x1
#define SECHO_EV_WRITE 0x2
#define SECHO_EV_ERROR 0x4	/* EPOLLERR / EPOLLHUP, delivered with READ */
/*
 * With READ/WRITE when watching an fd that several loops share (a
 * listening socket): the kernel wakes one of them per event
 * (EPOLLEXCLUSIVE) instead of all.
 */
#define SECHO_EV_EXCLUSIVE 0x8

struct secho_loop;
struct secho_event;
struct secho_timer;

typedef void secho_event_cb(struct secho_loop *, struct secho_event *,
    int mask);
typedef void secho_timer_cb(struct secho_loop *, struct secho_timer *);

struct secho_event {
	int fd;
	int mask;			/* current epoll interest */
	int registered;
	secho_event_cb *cb;
	struct secho_event *next_ready;	/* on the ready list */
	int ready_mask;
};

struct secho_timer {
	uint64_t when_ms;		/* loop clock */
	size_t heap_idx;		/* 0 = not armed */
	secho_timer_cb *cb;
};

struct secho_loop *secho_loop_new(void);
void secho_loop_free(struct secho_loop *l);

/* Prepares ev for fd; nothing is registered until secho_loop_watch(). */
void secho_event_init(struct secho_event *ev, int fd, secho_event_cb *cb);

/*
 * Sets the interest of ev to mask (0 removes it from epoll but keeps the
 * event usable).  Returns 0 or -1 with secho_error() set.
 */
int secho_loop_watch(struct secho_loop *l, struct secho_event *ev, int mask);

/* Forgets ev before its fd is closed; also drops it from the ready list. */
void secho_loop_forget(struct secho_loop *l, struct secho_event *ev);

/*
 * Calls ev's callback with mask on the next iteration without waiting
 * for the kernel: used when data is buffered where epoll cannot see it
 * (inside OpenSSL) or when a handler yielded to be fair to others.
 */
void secho_loop_defer(struct secho_loop *l, struct secho_event *ev, int mask);

void secho_timer_init(struct secho_timer *t, secho_timer_cb *cb);
/* Arms (or re-arms) t to fire after ms milliseconds. */
void secho_loop_timer_set(struct secho_loop *l, struct secho_timer *t,
    uint64_t ms);
void secho_loop_timer_del(struct secho_loop *l, struct secho_timer *t);

/* The loop's clock in ms, refreshed once per iteration (cheap). */
uint64_t secho_loop_now(const struct secho_loop *l);

/* Runs until secho_loop_stop(); returns 0, or -1 if epoll failed. */
int secho_loop_run(struct secho_loop *l);
/* One iteration waiting at most timeout_ms (-1: until an event). */
int secho_loop_once(struct secho_loop *l, int timeout_ms);
void secho_loop_stop(struct secho_loop *l);

#endif
