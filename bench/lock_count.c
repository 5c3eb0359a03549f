/*
 * lock_count.c - counts the pthread read-write lock operations a program
 * makes, per lock, for docs/benchmarks.md ("Threads or processes"): an
 * LD_PRELOAD shim that wraps pthread_rwlock_rdlock/wrlock and writes one
 * line per lock at exit ("ADDRESS READS WRITES") to $LOCKDUMP.  Run the
 * server under it for N and for M handshakes and subtract: what is left,
 * divided by M - N, is per handshake (start-up cancels out).
 *
 *   cc -O2 -shared -fPIC bench/lock_count.c -o lock_count.so -ldl
 *   LOCKDUMP=/tmp/locks LD_PRELOAD=./lock_count.so bin/secho-server ...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SLOTS 4096

static struct {
	void *addr;
	unsigned long rd, wr;
} tab[SLOTS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* A mutex of its own: the counting must not add rwlock operations. */
static void
count(void *l, int w)
{
	uintptr_t h = ((uintptr_t)l >> 4) % SLOTS;

	pthread_mutex_lock(&mu);
	while (tab[h].addr != NULL && tab[h].addr != l)
		h = (h + 1) % SLOTS;
	tab[h].addr = l;
	if (w)
		tab[h].wr++;
	else
		tab[h].rd++;
	pthread_mutex_unlock(&mu);
}

int
pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
	static int (*real)(pthread_rwlock_t *);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "pthread_rwlock_rdlock");
	count(l, 0);
	return real(l);
}

int
pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
	static int (*real)(pthread_rwlock_t *);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "pthread_rwlock_wrlock");
	count(l, 1);
	return real(l);
}

__attribute__((destructor)) static void
dump(void)
{
	const char *path = getenv("LOCKDUMP");
	FILE *f = fopen(path != NULL ? path : "locks.txt", "w");

	for (int i = 0; f != NULL && i < SLOTS; i++) {
		if (tab[i].addr != NULL)
			fprintf(f, "%p %lu %lu\n", tab[i].addr, tab[i].rd,
			    tab[i].wr);
	}
	if (f != NULL)
		fclose(f);
}
