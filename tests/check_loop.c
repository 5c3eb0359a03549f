/*
 * check_loop.c - the epoll reactor over socketpairs: readiness, interest
 * changes, deferred events, timer order, and events forgotten (and freed)
 * by another callback of the same batch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "secho/loop.h"
#include "secho/secho.h"
#include "testutil.h"

/* Bounds every "run until" loop below; each step waits at most 1 s. */
#define MAX_STEPS 200

static struct secho_loop *loop;

/* What the callbacks saw. */
static struct {
	int calls;
	int last_mask;
	struct secho_event *last_ev;
	int order[16];
	int nfired;
} seen;

static void
setup(void)
{
	memset(&seen, 0, sizeof(seen));
	loop = secho_loop_new();
	ck_assert_msg(loop != NULL, "%s", secho_error());
}

static void
teardown(void)
{
	secho_loop_free(loop);
	loop = NULL;
}

static void
pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sv), 0);
}

static void
close_pair(int sv[2])
{
	close(sv[0]);
	close(sv[1]);
}

static void
count_cb(struct secho_loop *l, struct secho_event *ev, int mask)
{
	seen.calls++;
	seen.last_mask = mask;
	seen.last_ev = ev;
}

/* Runs one iteration that must not block (timeout 0). */
static void
once_now(void)
{
	ck_assert_int_eq(secho_loop_once(loop, 0), 0);
}

START_TEST(test_read_event)
{
	struct secho_event ev;
	int sv[2];

	pair(sv);
	secho_event_init(&ev, sv[0], count_cb);
	ck_assert_int_eq(secho_loop_watch(loop, &ev, SECHO_EV_READ), 0);
	once_now();
	ck_assert_int_eq(seen.calls, 0);	/* nothing to read yet */

	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	ck_assert_int_eq(secho_loop_once(loop, 1000), 0);
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_ptr_eq(seen.last_ev, &ev);
	ck_assert_int_eq(seen.last_mask, SECHO_EV_READ);

	/* Level-triggered: still readable, so it fires again. */
	once_now();
	ck_assert_int_eq(seen.calls, 2);
	secho_loop_forget(loop, &ev);
	close_pair(sv);
}
END_TEST

START_TEST(test_write_event)
{
	struct secho_event ev;
	int sv[2];

	pair(sv);
	secho_event_init(&ev, sv[0], count_cb);
	ck_assert_int_eq(secho_loop_watch(loop, &ev, SECHO_EV_READ |
	    SECHO_EV_WRITE), 0);
	ck_assert_int_eq(secho_loop_once(loop, 1000), 0);
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_int_eq(seen.last_mask, SECHO_EV_WRITE);
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	once_now();
	ck_assert_int_eq(seen.calls, 2);
	ck_assert_int_eq(seen.last_mask, SECHO_EV_READ | SECHO_EV_WRITE);
	secho_loop_forget(loop, &ev);
	close_pair(sv);
}
END_TEST

START_TEST(test_hangup_event)
{
	struct secho_event ev;
	int sv[2];

	pair(sv);
	secho_event_init(&ev, sv[0], count_cb);
	ck_assert_int_eq(secho_loop_watch(loop, &ev, SECHO_EV_READ), 0);
	close(sv[1]);
	ck_assert_int_eq(secho_loop_once(loop, 1000), 0);
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_int_eq(seen.last_mask, SECHO_EV_READ | SECHO_EV_ERROR);
	secho_loop_forget(loop, &ev);
	close(sv[0]);
}
END_TEST

START_TEST(test_watch_twice)
{
	struct secho_event ev;
	int sv[2];

	pair(sv);
	secho_event_init(&ev, sv[0], count_cb);
	ck_assert_int_eq(secho_loop_watch(loop, &ev, SECHO_EV_READ), 0);
	ck_assert_int_eq(secho_loop_watch(loop, &ev, SECHO_EV_READ), 0);
	ck_assert_int_eq(ev.mask, SECHO_EV_READ);
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	ck_assert_int_eq(secho_loop_once(loop, 1000), 0);
	ck_assert_int_eq(seen.calls, 1);	/* once, not once per watch */
	ck_assert_int_eq(secho_loop_watch(loop, &ev, SECHO_EV_READ), 0);
	once_now();
	ck_assert_int_eq(seen.calls, 2);
	secho_loop_forget(loop, &ev);
	close_pair(sv);
}
END_TEST

START_TEST(test_mask_zero)
{
	struct secho_event ev;
	int sv[2];

	pair(sv);
	secho_event_init(&ev, sv[0], count_cb);
	/* 0 before anything was registered is a no-op, not an error. */
	ck_assert_int_eq(secho_loop_watch(loop, &ev, 0), 0);
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	once_now();
	ck_assert_int_eq(seen.calls, 0);

	ck_assert_int_eq(secho_loop_watch(loop, &ev, SECHO_EV_READ), 0);
	once_now();
	ck_assert_int_eq(seen.calls, 1);

	/* Silenced although still readable ... */
	ck_assert_int_eq(secho_loop_watch(loop, &ev, 0), 0);
	once_now();
	once_now();
	ck_assert_int_eq(seen.calls, 1);
	/* ... and usable again afterwards. */
	ck_assert_int_eq(secho_loop_watch(loop, &ev, SECHO_EV_READ), 0);
	once_now();
	ck_assert_int_eq(seen.calls, 2);

	/* A hang-up must not get through a 0 mask either. */
	ck_assert_int_eq(secho_loop_watch(loop, &ev, 0), 0);
	close(sv[1]);
	once_now();
	ck_assert_msg(seen.calls == 2, "callback ran with mask %#x although "
	    "the interest is 0", seen.last_mask);
	ck_assert_int_eq(secho_loop_watch(loop, &ev, SECHO_EV_READ), 0);
	once_now();
	ck_assert_int_eq(seen.calls, 3);
	ck_assert_int_eq(seen.last_mask, SECHO_EV_READ | SECHO_EV_ERROR);
	secho_loop_forget(loop, &ev);
	close(sv[0]);
}
END_TEST

START_TEST(test_forget_then_watch)
{
	struct secho_event ev;
	int sv[2];

	pair(sv);
	secho_event_init(&ev, sv[0], count_cb);
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	ck_assert_int_eq(secho_loop_watch(loop, &ev, SECHO_EV_READ), 0);
	secho_loop_forget(loop, &ev);
	once_now();
	ck_assert_int_eq(seen.calls, 0);
	/* Forgetting twice is harmless; watching again re-registers. */
	secho_loop_forget(loop, &ev);
	ck_assert_int_eq(secho_loop_watch(loop, &ev, SECHO_EV_READ), 0);
	once_now();
	ck_assert_int_eq(seen.calls, 1);
	secho_loop_forget(loop, &ev);
	close_pair(sv);
}
END_TEST

START_TEST(test_watch_bad_fd)
{
	struct secho_event ev;
	char want[64];
	int sv[2];

	pair(sv);
	close_pair(sv);
	secho_event_init(&ev, sv[0], count_cb);
	ck_assert_int_eq(secho_loop_watch(loop, &ev, SECHO_EV_READ), -1);
	snprintf(want, sizeof(want), "epoll_ctl(fd %d): Bad file descriptor",
	    sv[0]);
	ck_assert_str_eq(secho_error(), want);
	ck_assert_int_eq(ev.registered, 0);
	ck_assert_int_eq(ev.mask, 0);
}
END_TEST

START_TEST(test_defer)
{
	struct secho_event ev;
	unsigned long long t0;
	int sv[2];

	pair(sv);
	/* Not watched and nothing readable: only the ready list can call. */
	secho_event_init(&ev, sv[0], count_cb);
	secho_loop_defer(loop, &ev, SECHO_EV_READ);
	secho_loop_defer(loop, &ev, SECHO_EV_WRITE);
	t0 = secho_now_us();
	ck_assert_int_eq(secho_loop_once(loop, 5000), 0);
	ck_assert_msg(secho_now_us() - t0 < 1000000, "the loop waited for "
	    "the kernel although an event was deferred");
	ck_assert_int_eq(seen.calls, 1);	/* merged into one call */
	ck_assert_int_eq(seen.last_mask, SECHO_EV_READ | SECHO_EV_WRITE);
	ck_assert_ptr_eq(seen.last_ev, &ev);
	/* One-shot. */
	once_now();
	ck_assert_int_eq(seen.calls, 1);

	/* Forgetting drops a pending deferral. */
	secho_loop_defer(loop, &ev, SECHO_EV_READ);
	secho_loop_forget(loop, &ev);
	once_now();
	ck_assert_int_eq(seen.calls, 1);
	close_pair(sv);
}
END_TEST

/* Defers itself until it has run three times: once per iteration. */
static void
redefer_cb(struct secho_loop *l, struct secho_event *ev, int mask)
{
	if (++seen.calls < 3)
		secho_loop_defer(l, ev, mask);
}

START_TEST(test_defer_from_callback)
{
	struct secho_event ev;
	int sv[2];

	pair(sv);
	secho_event_init(&ev, sv[0], redefer_cb);
	secho_loop_defer(loop, &ev, SECHO_EV_READ);
	once_now();
	ck_assert_int_eq(seen.calls, 1);	/* next round, not now */
	once_now();
	ck_assert_int_eq(seen.calls, 2);
	once_now();
	once_now();
	ck_assert_int_eq(seen.calls, 3);
	close_pair(sv);
}
END_TEST

/*
 * Two events ready in one batch; whichever runs first forgets the other
 * (and with _i == 1 frees it, as a server frees a closed connection).
 */
struct pev {
	struct secho_event ev;
	struct pev *other;
	int calls;
	int free_other;
};

static struct pev *survivor;

static void
forget_other_cb(struct secho_loop *l, struct secho_event *ev, int mask)
{
	struct pev *p = (struct pev *)ev;

	p->calls++;
	seen.calls++;
	if (p->other == NULL)
		return;
	secho_loop_forget(l, &p->other->ev);
	p->other->other = NULL;
	if (p->free_other)
		free(p->other);
	p->other = NULL;
	survivor = p;
}

START_TEST(test_forget_other_in_batch)
{
	struct pev *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct pev *gone;
	int sa[2], sb[2];

	ck_assert(a != NULL && b != NULL);
	pair(sa);
	pair(sb);
	a->other = b;
	b->other = a;
	a->free_other = b->free_other = _i;
	secho_event_init(&a->ev, sa[0], forget_other_cb);
	secho_event_init(&b->ev, sb[0], forget_other_cb);
	ck_assert_int_eq(secho_loop_watch(loop, &a->ev, SECHO_EV_READ), 0);
	ck_assert_int_eq(secho_loop_watch(loop, &b->ev, SECHO_EV_READ), 0);
	ck_assert_int_eq(write(sa[1], "a", 1), 1);
	ck_assert_int_eq(write(sb[1], "b", 1), 1);

	/* Both are readable, but only the first callback may run. */
	ck_assert_int_eq(secho_loop_once(loop, 1000), 0);
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_ptr_nonnull(survivor);
	gone = survivor == a ? b : a;	/* freed when _i == 1 */
	if (!_i)
		ck_assert_int_eq(gone->calls, 0);

	/* The survivor keeps working; the forgotten one stays quiet. */
	once_now();
	ck_assert_int_eq(seen.calls, 2);
	ck_assert_int_eq(survivor->calls, 2);
	if (!_i) {
		ck_assert_int_eq(gone->calls, 0);
		free(gone);
	}
	secho_loop_forget(loop, &survivor->ev);
	free(survivor);
	close_pair(sa);
	close_pair(sb);
}
END_TEST

/* Forgets every event of a batch of three, itself included. */
static struct secho_event *trio[3];

static void
forget_all_cb(struct secho_loop *l, struct secho_event *ev, int mask)
{
	seen.calls++;
	for (int i = 0; i < 3; i++)
		secho_loop_forget(l, trio[i]);
}

START_TEST(test_forget_mixed_batch)
{
	struct secho_event ev[3];
	int sv[3][2];

	/* Two from the kernel, one deferred: all in one batch. */
	for (int i = 0; i < 3; i++) {
		pair(sv[i]);
		secho_event_init(&ev[i], sv[i][0], forget_all_cb);
		trio[i] = &ev[i];
	}
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(secho_loop_watch(loop, &ev[i],
		    SECHO_EV_READ), 0);
		ck_assert_int_eq(write(sv[i][1], "x", 1), 1);
	}
	secho_loop_defer(loop, &ev[2], SECHO_EV_WRITE);
	ck_assert_int_eq(secho_loop_once(loop, 1000), 0);
	ck_assert_int_eq(seen.calls, 1);
	once_now();
	ck_assert_int_eq(seen.calls, 1);
	for (int i = 0; i < 3; i++)
		close_pair(sv[i]);
}
END_TEST

/* --- timers --- */

struct tmr {
	struct secho_timer t;
	int id;
	uint64_t due;		/* loop clock when it was armed + delay */
	int fired;
	int rearm;		/* times to re-arm itself */
};

static void
record_cb(struct secho_loop *l, struct secho_timer *t)
{
	struct tmr *m = (struct tmr *)t;

	ck_assert_msg(secho_loop_now(l) >= m->due, "timer %d fired at %llu, "
	    "due %llu", m->id, (unsigned long long)secho_loop_now(l),
	    (unsigned long long)m->due);
	ck_assert_uint_eq(t->heap_idx, 0);	/* disarmed before the call */
	m->fired++;
	if (seen.nfired < 16)
		seen.order[seen.nfired] = m->id;
	seen.nfired++;
	if (m->rearm > 0) {
		m->rearm--;
		m->due = secho_loop_now(l) + 2;
		secho_loop_timer_set(l, t, 2);
	}
}

static void
arm(struct tmr *m, int id, uint64_t ms)
{
	m->id = id;
	m->due = secho_loop_now(loop) + ms;
	secho_loop_timer_set(loop, &m->t, ms);
}

/* Runs the loop until n timers fired in total (bounded). */
static void
run_until_fired(int n)
{
	for (int i = 0; i < MAX_STEPS && seen.nfired < n; i++)
		ck_assert_int_eq(secho_loop_once(loop, 1000), 0);
	ck_assert_int_eq(seen.nfired, n);
}

START_TEST(test_timer_order)
{
	struct tmr m[3];

	memset(m, 0, sizeof(m));
	for (int i = 0; i < 3; i++)
		secho_timer_init(&m[i].t, record_cb);
	arm(&m[0], 30, 30);
	arm(&m[1], 10, 10);
	arm(&m[2], 20, 20);
	/* Not yet. */
	once_now();
	ck_assert_int_eq(seen.nfired, 0);
	run_until_fired(3);
	ck_assert_int_eq(seen.order[0], 10);
	ck_assert_int_eq(seen.order[1], 20);
	ck_assert_int_eq(seen.order[2], 30);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(m[i].fired, 1);
	/* Nothing left: the loop does not wait for a timer that is gone. */
	once_now();
	ck_assert_int_eq(seen.nfired, 3);
}
END_TEST

START_TEST(test_timer_rearm_delete)
{
	struct tmr a, b, c;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	secho_timer_init(&a.t, record_cb);
	secho_timer_init(&b.t, record_cb);
	secho_timer_init(&c.t, record_cb);
	arm(&a, 1, 5);
	arm(&b, 2, 10);
	arm(&c, 3, 60000);
	secho_loop_timer_del(loop, &a.t);
	ck_assert_uint_eq(a.t.heap_idx, 0);
	secho_loop_timer_del(loop, &a.t);	/* not armed: no-op */
	arm(&b, 2, 20);				/* re-arm replaces */
	arm(&a, 1, 15);			/* armed again after del */
	secho_loop_timer_del(loop, &c.t);
	run_until_fired(2);
	ck_assert_int_eq(seen.order[0], 1);
	ck_assert_int_eq(seen.order[1], 2);
	ck_assert_int_eq(a.fired, 1);
	ck_assert_int_eq(b.fired, 1);
	ck_assert_int_eq(c.fired, 0);

	/* A timer that re-arms itself from its callback: periodic. */
	c.rearm = 3;
	arm(&c, 3, 1);
	run_until_fired(6);
	ck_assert_int_eq(c.fired, 4);
	once_now();
	ck_assert_int_eq(seen.nfired, 6);
}
END_TEST

/* Many timers with deletions: the heap must give them out in order. */
static uint64_t last_when;
static int heap_fired, heap_bad;

static void
heap_cb(struct secho_loop *l, struct secho_timer *t)
{
	if (t->when_ms < last_when || (((struct tmr *)t)->id % 3) == 0)
		heap_bad++;
	last_when = t->when_ms;
	heap_fired++;
}

START_TEST(test_timer_heap)
{
	enum { N = 200 };
	struct tmr *m = calloc(N, sizeof(*m));
	int want = 0;

	ck_assert_ptr_nonnull(m);
	for (int i = 0; i < N; i++) {
		secho_timer_init(&m[i].t, heap_cb);
		m[i].id = i;
		/* A scrambled order of delays 0..39 ms, with ties. */
		secho_loop_timer_set(loop, &m[i].t, (uint64_t)(i * 7919 % 40));
	}
	for (int i = 0; i < N; i++) {
		if (i % 3 == 0)
			secho_loop_timer_del(loop, &m[i].t);
		else
			want++;
	}
	for (int i = 0; i < MAX_STEPS && heap_fired < want; i++)
		ck_assert_int_eq(secho_loop_once(loop, 1000), 0);
	ck_assert_int_eq(heap_fired, want);
	ck_assert_int_eq(heap_bad, 0);
	free(m);
}
END_TEST

START_TEST(test_loop_clock)
{
	uint64_t t0 = secho_loop_now(loop), t1;
	struct tmr m;

	memset(&m, 0, sizeof(m));
	secho_timer_init(&m.t, record_cb);
	arm(&m, 1, 20);
	run_until_fired(1);
	t1 = secho_loop_now(loop);
	ck_assert_msg(t1 >= t0 + 20 && t1 < t0 + 5000, "clock %llu -> %llu",
	    (unsigned long long)t0, (unsigned long long)t1);
}
END_TEST

/* --- run / stop --- */

static void
stop_after_3_cb(struct secho_loop *l, struct secho_timer *t)
{
	if (++seen.calls == 3)
		secho_loop_stop(l);
	else
		secho_loop_timer_set(l, t, 1);
}

START_TEST(test_run_stop_timer)
{
	struct secho_timer t;

	secho_timer_init(&t, stop_after_3_cb);
	secho_loop_timer_set(loop, &t, 1);
	ck_assert_int_eq(secho_loop_run(loop), 0);
	ck_assert_int_eq(seen.calls, 3);
}
END_TEST

static void
stop_on_read_cb(struct secho_loop *l, struct secho_event *ev, int mask)
{
	char c;

	seen.calls++;
	if (read(ev->fd, &c, 1) == 1 && c == 'q')
		secho_loop_stop(l);
	secho_loop_forget(l, ev);
}

START_TEST(test_run_stop_event)
{
	struct secho_event ev;
	int sv[2];

	pair(sv);
	secho_event_init(&ev, sv[0], stop_on_read_cb);
	ck_assert_int_eq(secho_loop_watch(loop, &ev, SECHO_EV_READ), 0);
	ck_assert_int_eq(write(sv[1], "q", 1), 1);
	/* A stop before run does not count: run starts afresh. */
	secho_loop_stop(loop);
	ck_assert_int_eq(secho_loop_run(loop), 0);
	ck_assert_int_eq(seen.calls, 1);
	close_pair(sv);
}
END_TEST

Suite *
loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("events");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_read_event);
	tcase_add_test(tc, test_write_event);
	tcase_add_test(tc, test_hangup_event);
	tcase_add_test(tc, test_watch_twice);
	tcase_add_test(tc, test_mask_zero);
	tcase_add_test(tc, test_forget_then_watch);
	tcase_add_test(tc, test_watch_bad_fd);
	tcase_add_test(tc, test_defer);
	tcase_add_test(tc, test_defer_from_callback);
	tcase_add_loop_test(tc, test_forget_other_in_batch, 0, 2);
	tcase_add_test(tc, test_forget_mixed_batch);
	suite_add_tcase(s, tc);

	tc = tcase_create("timers");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_timer_order);
	tcase_add_test(tc, test_timer_rearm_delete);
	tcase_add_test(tc, test_timer_heap);
	tcase_add_test(tc, test_loop_clock);
	tcase_add_test(tc, test_run_stop_timer);
	tcase_add_test(tc, test_run_stop_event);
	suite_add_tcase(s, tc);
	return s;
}
