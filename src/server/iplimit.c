/*
 * iplimit.c - a chained hash table of per-address connection counts.
 * Entries exist only while an address has connections, so the table is
 * as large as the set of clients connected now, not of all clients seen.
 * The same table keyed by address and port holds the DTLS clients being
 * served (secho_iplimit_new_endpoints()).
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "secho/iplimit.h"
#include "secho/secho.h"

#define BUCKETS_MIN 1024

struct entry {
	struct entry *next;
	/* an IPv6 address, or an IPv4-mapped one; the port (endpoints) */
	uint64_t key[3];
	int n;
};

struct secho_iplimit {
	pthread_mutex_t mu;
	struct entry **b;
	size_t nb;		/* a power of two */
	size_t n;		/* entries */
	uint64_t seed[2];	/* so clients cannot aim at one bucket */
	int max;
	int endpoints;		/* keyed by whole address and port */
};

struct secho_iplimit *
secho_iplimit_new(int max)
{
	struct secho_iplimit *l = calloc(1, sizeof(*l));

	if (l == NULL || (l->b = calloc(BUCKETS_MIN, sizeof(*l->b))) == NULL) {
		free(l);
		secho_error_set("cannot set up --max-conns-per-ip: out of "
		    "memory");
		return NULL;
	}
	if (getrandom(l->seed, sizeof(l->seed), 0) != sizeof(l->seed)) {
		/* Weaker, still unknown to clients in practice. */
		l->seed[0] = secho_now_us() ^ (uintptr_t)l;
		l->seed[1] = (uintptr_t)&l ^ 0x9e3779b97f4a7c15ULL;
	}
	pthread_mutex_init(&l->mu, NULL);
	l->nb = BUCKETS_MIN;
	l->max = max;
	return l;
}

struct secho_iplimit *
secho_iplimit_new_endpoints(void)
{
	struct secho_iplimit *l = secho_iplimit_new(1);

	if (l != NULL)
		l->endpoints = 1;
	return l;
}

void
secho_iplimit_free(struct secho_iplimit *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->nb; i++) {
		for (struct entry *e = l->b[i], *next; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(l->b);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/* What a client is counted by (see iplimit.h). */
static void
make_key(const struct secho_iplimit *l, const struct sockaddr *sa,
    uint64_t key[3])
{
	unsigned char a[16] = { 0 };
	unsigned port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *v4 = (const void *)sa;

		a[10] = a[11] = 0xff;
		memcpy(a + 12, &v4->sin_addr, 4);
		port = v4->sin_port;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const void *)sa;

		/* The /64 of a native IPv6 address, unless endpoints. */
		memcpy(a, &v6->sin6_addr, IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)
		    || l->endpoints ? 16 : 8);
		port = v6->sin6_port;
	}
	memcpy(key, a, 16);
	key[2] = l->endpoints ? port : 0;
}

static size_t
bucket(const struct secho_iplimit *l, const uint64_t key[3])
{
	uint64_t h = (key[0] ^ l->seed[0]) * 0xff51afd7ed558ccdULL;

	h ^= h >> 33;
	h = (h ^ key[1] ^ l->seed[1]) * 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	h = (h ^ key[2]) * 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)h & (l->nb - 1);
}

static struct entry **
find(struct secho_iplimit *l, const uint64_t key[3])
{
	struct entry **p = &l->b[bucket(l, key)];

	while (*p != NULL && ((*p)->key[0] != key[0] ||
	    (*p)->key[1] != key[1] || (*p)->key[2] != key[2]))
		p = &(*p)->next;
	return p;
}

/* Doubles the buckets when chains grow long; on no memory, keep going. */
static void
grow(struct secho_iplimit *l)
{
	struct entry **old = l->b;
	size_t oldn = l->nb;

	if ((l->b = calloc(oldn * 2, sizeof(*l->b))) == NULL) {
		l->b = old;
		return;
	}
	l->nb = oldn * 2;
	for (size_t i = 0; i < oldn; i++) {
		for (struct entry *e = old[i], *next; e != NULL; e = next) {
			size_t j = bucket(l, e->key);

			next = e->next;
			e->next = l->b[j];
			l->b[j] = e;
		}
	}
	free(old);
}

int
secho_iplimit_take(struct secho_iplimit *l, const struct sockaddr *sa)
{
	uint64_t key[3];
	struct entry **p, *e;
	int ok = 1;

	make_key(l, sa, key);
	pthread_mutex_lock(&l->mu);
	p = find(l, key);
	if ((e = *p) != NULL) {
		if (e->n >= l->max)
			ok = 0;
		else
			e->n++;
	} else if ((e = calloc(1, sizeof(*e))) == NULL)
		ok = 0;
	else {
		memcpy(e->key, key, sizeof(e->key));
		e->n = 1;
		*p = e;
		if (++l->n > 2 * l->nb)
			grow(l);
	}
	pthread_mutex_unlock(&l->mu);
	return ok;
}

void
secho_iplimit_give(struct secho_iplimit *l, const struct sockaddr *sa)
{
	uint64_t key[3];
	struct entry **p, *e;

	make_key(l, sa, key);
	pthread_mutex_lock(&l->mu);
	p = find(l, key);
	if ((e = *p) != NULL && --e->n == 0) {
		*p = e->next;
		free(e);
		l->n--;
	}
	pthread_mutex_unlock(&l->mu);
}

size_t
secho_iplimit_count(struct secho_iplimit *l)
{
	size_t n;

	pthread_mutex_lock(&l->mu);
	n = l->n;
	pthread_mutex_unlock(&l->mu);
	return n;
}
