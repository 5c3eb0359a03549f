/*
 * iplimit.h - open connections counted per client address, for the
 * server's --max-conns-per-ip.  Shared by every worker: it is touched
 * once when a connection is accepted and once when it closes, never on
 * the echo path, so one mutex is cheap enough.
 *
 * An IPv4 client (or an IPv4-mapped IPv6 one) is counted by its address;
 * an IPv6 client by its /64, because one host usually owns a whole /64
 * and could otherwise take a fresh address for every connection.
 */
#ifndef SECHO_IPLIMIT_H
#define SECHO_IPLIMIT_H

#include <sys/socket.h>

struct secho_iplimit;

/* A limit of max connections per address; NULL with secho_error(). */
struct secho_iplimit *secho_iplimit_new(int max);
/*
 * The same keyed by whole address and port, one each: the set of DTLS
 * clients being served, so that a ClientHello retransmitted before its
 * client got a socket of its own cannot make it a second one.
 */
struct secho_iplimit *secho_iplimit_new_endpoints(void);
void secho_iplimit_free(struct secho_iplimit *l);

/*
 * Takes one slot for sa: returns 1, or 0 when its address already has max
 * connections (or no memory is left to count it).
 */
int secho_iplimit_take(struct secho_iplimit *l, const struct sockaddr *sa);
/* Gives back a slot that secho_iplimit_take() granted. */
void secho_iplimit_give(struct secho_iplimit *l, const struct sockaddr *sa);
/* Addresses with at least one connection now (for tests and logs). */
size_t secho_iplimit_count(struct secho_iplimit *l);

#endif
