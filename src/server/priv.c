/*
 * priv.c - chroot and user switch after binding, the way OpenBSD daemons
 * do it: resolve names first (the passwd file is outside the chroot),
 * confine, set every group and user id, then prove root is gone.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "secho/priv.h"
#include "secho/secho.h"

/* A non-negative decimal id, or -1 when s is a name. */
static long
numeric_id(const char *s)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	return errno == 0 && *end == '\0' && v <= INT_MAX ? v : -1;
}

static int
resolve(const struct secho_priv *p, uid_t *uid, gid_t *gid)
{
	const struct passwd *pw;
	const struct group *gr;
	long id;

	if ((id = numeric_id(p->user)) >= 0) {
		*uid = (uid_t)id;
		pw = getpwuid(*uid);
	} else if ((pw = getpwnam(p->user)) != NULL)
		*uid = pw->pw_uid;
	else {
		secho_error_set("--user %s: no such user", p->user);
		return -1;
	}
	if (p->group == NULL) {
		if (pw == NULL) {
			secho_error_set("--user %s has no passwd entry: give "
			    "--group too", p->user);
			return -1;
		}
		*gid = pw->pw_gid;
	} else if ((id = numeric_id(p->group)) >= 0)
		*gid = (gid_t)id;
	else if ((gr = getgrnam(p->group)) != NULL)
		*gid = gr->gr_gid;
	else {
		secho_error_set("--group %s: no such group", p->group);
		return -1;
	}
	return 0;
}

static int
confine(const char *dir)
{
	if (chdir(dir) == -1 || chroot(".") == -1 || chdir("/") == -1) {
		secho_error_errno("cannot chroot to %s", dir);
		return -1;
	}
	return 0;
}

/* Permitted and effective: CAP_NET_BIND_SERVICE alone. */
static int
keep_only_bind(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	data[0].permitted = data[0].effective = 1u << CAP_NET_BIND_SERVICE;
	if (syscall(SYS_capset, &hdr, data) == -1) {
		secho_error_errno("cannot keep CAP_NET_BIND_SERVICE");
		return -1;
	}
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	return 0;
}

static int
switch_ids(const struct secho_priv *p, uid_t uid, gid_t gid)
{
	if (geteuid() == 0 && setgroups(1, &gid) == -1) {
		secho_error_errno("cannot set the groups of --user %s",
		    p->user);
		return -1;
	}
	if (setresgid(gid, gid, gid) == -1) {
		secho_error_errno("cannot switch to group %u", (unsigned)gid);
		return -1;
	}
	if (uid != 0 && p->keep_bind &&
	    prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1) {
		secho_error_errno("cannot keep CAP_NET_BIND_SERVICE");
		return -1;
	}
	if (setresuid(uid, uid, uid) == -1) {
		secho_error_errno("cannot switch to user %s", p->user);
		return -1;
	}
	if (uid != 0 && p->keep_bind && keep_only_bind() == -1)
		return -1;
	return 0;
}

int
secho_priv_drop(const struct secho_priv *p)
{
	uid_t uid;
	gid_t gid;

	if (p->user == NULL) {
		if (geteuid() == 0) {
			secho_error_set("refusing to run as root: give --user "
			    "NAME to drop privileges after binding (--user "
			    "root to keep them)");
			return -1;
		}
		if (p->group != NULL || p->chroot != NULL) {
			secho_error_set("--%s needs --user", p->group != NULL ?
			    "group" : "chroot");
			return -1;
		}
		return 0;
	}
	if (resolve(p, &uid, &gid) == -1)
		return -1;
	for (size_t i = 0; i < p->nfds; i++) {
		if (fchown(p->fds[i], uid, gid) == -1) {
			secho_error_errno("cannot give a socket to --user %s",
			    p->user);
			return -1;
		}
	}
	if (p->chroot != NULL && confine(p->chroot) == -1)
		return -1;
	if (uid == getuid() && uid == geteuid() && gid == getgid() &&
	    gid == getegid())
		return 0;	/* already who we are asked to be */
	if (switch_ids(p, uid, gid) == -1)
		return -1;
	/* Belt and braces: a kernel or libc that failed quietly is caught. */
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		secho_error_set("root could be taken back after --user %s",
		    p->user);
		return -1;
	}
	return 0;
}
