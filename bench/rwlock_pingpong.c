/*
 * rwlock_pingpong.c - what a pthread read lock costs when other cores
 * take the same lock (docs/benchmarks.md, "Threads or processes"): N
 * threads, one per CPU, each taking and releasing one shared read lock
 * 2e7 times.  Uncontended, a pair is two atomic operations on a cache
 * line the core holds; contended, the line moves between cores for each.
 *
 *   cc -O2 bench/rwlock_pingpong.c -o rwlock_pingpong -lpthread
 *   ./rwlock_pingpong 1; ./rwlock_pingpong 2
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ITERS 20000000L

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;

static void *
run(void *arg)
{
	(void)arg;
	for (long i = 0; i < ITERS; i++) {
		pthread_rwlock_rdlock(&lock);
		pthread_rwlock_unlock(&lock);
	}
	return NULL;
}

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1;
	pthread_t t[64];
	double t0, dt;

	if (n < 1 || n > 64) {
		fprintf(stderr, "usage: rwlock_pingpong THREADS (1..64)\n");
		return 1;
	}
	t0 = now();
	for (int i = 0; i < n; i++) {
		cpu_set_t c;

		pthread_create(&t[i], NULL, run, NULL);
		CPU_ZERO(&c);
		CPU_SET(i, &c);
		pthread_setaffinity_np(t[i], sizeof(c), &c);
	}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	dt = now() - t0;
	printf("%d thread%s: %.1f ns per read lock and unlock, per thread; "
	    "%.1f M pairs/s in all\n", n, n == 1 ? "" : "s",
	    dt / (double)ITERS * 1e9, (double)n * (double)ITERS / dt / 1e6);
	return 0;
}
