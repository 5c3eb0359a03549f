/*
 * priv.h - giving up root once the listening sockets are bound, so that
 * `sudo secho-server --port 7` serves as an ordinary user.
 */
#ifndef SECHO_PRIV_H
#define SECHO_PRIV_H

#include <stddef.h>

struct secho_priv {
	const char *user;	/* name or uid; NULL: stay who we are */
	const char *group;	/* name or gid; NULL: the user's own group */
	const char *chroot;	/* directory to confine the process to */
	/*
	 * Keep CAP_NET_BIND_SERVICE and nothing else: a DTLS server opens a
	 * socket per client on its (maybe privileged) port after the drop.
	 */
	int keep_bind;
	/*
	 * Sockets to give to the user: SO_REUSEPORT lets a socket share a
	 * port only with sockets of the same owner, and the DTLS server's
	 * per-client sockets are made after the drop.
	 */
	const int *fds;
	size_t nfds;
};

/*
 * Applies p: chroot, then the group, then the user, and checks that root
 * cannot be taken back.  As root with no user given it refuses (-1): a
 * server that faces the network should not keep root by accident;
 * "--user root" says it is meant.  Returns 0, or -1 with secho_error().
 * Call it before any thread starts.
 */
int secho_priv_drop(const struct secho_priv *p);

#endif
