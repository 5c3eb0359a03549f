/*
 * server_worker.c - one worker thread and what reaches it: the eventfd
 * commands from worker 0 (drain, stop, reload), the signal-driven drain,
 * and the signals themselves, which worker 0 reads from a signalfd
 * (SIGHUP is a reload, or the terminal's hangup: then a drain).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "server_int.h"

void
srv_worker_post(struct server *s, unsigned cmd)
{
	uint64_t one = 1;

	__atomic_or_fetch(&s->cmds, cmd, __ATOMIC_ACQ_REL);
	if (write(s->cmdfd, &one, sizeof(one)) < 0)
		srv_log("worker %d: cannot post a command: %s", s->id,
		    strerror(errno));
}

/*
 * A draining worker is done once its connections are; worker 0, which
 * reads the signals, also waits for every other worker to finish.
 */
void
srv_worker_check_done(struct server *s)
{
	if (!s->draining || s->nconns > 0)
		return;
	if (s->id == 0 && __atomic_load_n(&s->sh->running, __ATOMIC_ACQUIRE) > 1)
		return;
	secho_loop_stop(s->loop);
}

/*
 * First SIGINT/SIGTERM, in every worker: stop accepting and let every
 * connection finish what it has read, then close with close_notify.  A
 * second signal, or the drain deadline, ends the loop at once.
 */
static void
drain_start(struct server *s)
{
	struct conn *cn, *next;

	/*
	 * Connections the kernel has completed are clients that already
	 * sent bytes: take them in and serve them rather than reset them.
	 */
	for (size_t i = 0; i < s->nls; i++) {
		if (!secho_proto_is_dgram(s->ls[i].proto))
			srv_accept_all(&s->ls[i]);
	}
	s->draining = 1;
	for (size_t i = 0; i < s->nls; i++)
		srv_listener_detach(s, &s->ls[i]);
	/* The last worker to let go of the sockets closes them. */
	if (__atomic_add_fetch(&s->sh->drain_acks, 1, __ATOMIC_ACQ_REL) ==
	    s->sh->nworkers)
		srv_socks_close(s->sh);
	secho_loop_timer_set(s->loop, &s->drain_timer,
	    (uint64_t)s->cfg->drain_timeout_ms);
	/* Handshakes in flight may finish too: their clients are waiting. */
	s->drain_end_ms = secho_loop_now(s->loop) +
	    (uint64_t)s->cfg->drain_timeout_ms;
	for (cn = s->conns; cn != NULL; cn = next) {
		next = cn->next;
		if (cn->state == CS_HANDSHAKE || cn->state == CS_PROXY)
			cn->drain = CD_AWAIT_FIRST;
		else {
			cn->drain = CD_DRAINING;
			secho_loop_defer(s->loop, &cn->ev, SECHO_EV_READ);
		}
	}
	srv_worker_check_done(s);
}

static void
drain_expired(struct secho_loop *l, struct secho_timer *t)
{
	struct server *s = container_of(t, struct server, drain_timer);
	size_t n = s->nconns, unclean = 0;

	while (s->conns != NULL)
		unclean += (size_t)srv_conn_cut(s->conns);
	if (n > 0)
		srv_log("drain deadline passed: closing %zu connection%s (%zu "
		    "without close_notify: their clients did not read their "
		    "echoes)", n, n == 1 ? "" : "s", unclean);
	secho_loop_stop(l);
}

/* Takes the contexts worker 0 handed over with CMD_RELOAD. */
static void
worker_reload(struct server *s)
{
	struct secho_tls *t = __atomic_exchange_n(&s->next_tls, NULL,
	    __ATOMIC_ACQ_REL);
	struct secho_tls *d = __atomic_exchange_n(&s->next_dtls, NULL,
	    __ATOMIC_ACQ_REL);

	if (t != NULL) {
		secho_tls_free(s->tls);
		s->tls = t;
	}
	if (d == NULL)
		return;
	secho_tls_free(s->dtls);
	s->dtls = d;
	for (size_t i = 0; i < s->nls; i++) {
		if (s->ls[i].dtls != NULL)
			secho_dtls_listener_set_tls(s->ls[i].dtls, d);
	}
}

static void
worker_cmd_io(struct secho_loop *l, struct secho_event *ev, int mask)
{
	struct server *s = container_of(ev, struct server, cmdev);
	uint64_t v;
	unsigned cmds;

	(void)mask;
	if (read(ev->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	cmds = __atomic_exchange_n(&s->cmds, 0, __ATOMIC_ACQ_REL);
	if (cmds & CMD_RELOAD)
		worker_reload(s);
	if (cmds & CMD_STOP) {
		secho_loop_stop(l);
		return;
	}
	if ((cmds & CMD_DRAIN) && !s->draining)
		drain_start(s);
	if (cmds & CMD_CHECK)
		srv_worker_check_done(s);
}

/*
 * Whether worker id watches socket k.  Stream and DTLS listeners are
 * shared (EPOLLEXCLUSIVE wakes one worker per new client, and a client's
 * bytes then flow on its own socket).  A UDP socket is one flow for all
 * its clients: two workers each taking part of one client's burst would
 * echo the parts concurrently, out of order, and a tool that measures
 * networks must not invent reordering.  So each UDP socket has one owner,
 * several UDP listeners spread over the workers.  SO_REUSEPORT (a socket
 * per worker, flows hashed to them) would spread one port too, but any
 * process of the same user could join the group and take a share of the
 * traffic, a second server would start instead of failing with "Address
 * already in use", and flows move between sockets as one closes.
 */
static int
worker_owns(const struct shared *sh, size_t k, int id)
{
	size_t nudp = 0;

	if (sh->socks[k].proto != SECHO_UDP)
		return 1;
	for (size_t i = 0; i < k; i++)
		nudp += sh->socks[i].proto == SECHO_UDP;
	return nudp % (size_t)sh->nworkers == (size_t)id;
}

int
srv_worker_open(struct server *s, struct shared *sh, int id)
{
	s->cfg = sh->cfg;
	s->sh = sh;
	s->id = id;
	s->pool.bufsize = sh->cfg->bufsize;
	for (size_t i = 0; i < SECHO_MAX_LISTENERS; i++)
		s->ls[i].ev.fd = -1;
	secho_timer_init(&s->drain_timer, drain_expired);
	secho_timer_init(&s->trim, srv_trim_run);
	if ((s->cmdfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		secho_error_errno("eventfd");
		return -1;
	}
	if ((s->loop = secho_loop_new()) == NULL)
		return -1;
	secho_event_init(&s->cmdev, s->cmdfd, worker_cmd_io);
	if (secho_loop_watch(s->loop, &s->cmdev, SECHO_EV_READ) == -1)
		return -1;
	if ((s->tls = sh->tls) != NULL)
		secho_tls_ref(s->tls);
	if ((s->dtls = sh->dtls) != NULL)
		secho_tls_ref(s->dtls);
	for (size_t i = 0; i < sh->nsocks; i++) {
		if (worker_owns(sh, i, id) &&
		    srv_listener_attach(s, &sh->socks[i]) == -1)
			return -1;
	}
	return 0;
}

void
srv_worker_close(struct server *s)
{
	if (s->sh == NULL)
		return;		/* never opened */
	while (s->conns != NULL)
		srv_conn_close(s->conns, s->draining ? "server shutting down" :
		    NULL);
	for (size_t i = 0; i < s->nls; i++)
		srv_listener_detach(s, &s->ls[i]);
	if (s->cmdfd > 0) {
		secho_loop_forget(s->loop, &s->cmdev);
		close(s->cmdfd);
	}
	secho_tls_free(s->tls);
	secho_tls_free(s->dtls);
	secho_tls_free(__atomic_exchange_n(&s->next_tls, NULL,
	    __ATOMIC_ACQ_REL));
	secho_tls_free(__atomic_exchange_n(&s->next_dtls, NULL,
	    __ATOMIC_ACQ_REL));
	echo_pool_free(&s->pool);
	secho_loop_free(s->loop);
}

void *
srv_worker_main(void *arg)
{
	struct server *s = arg;

	secho_loop_run(s->loop);
	__atomic_sub_fetch(&s->sh->running, 1, __ATOMIC_ACQ_REL);
	srv_worker_post(&s->sh->workers[0], CMD_CHECK);
	return NULL;
}


/*
 * SIGHUP: certificates, keys and ticket keys are read again into new
 * contexts, handed to every worker for its new connections; live ones keep
 * theirs.  A broken new file is logged and the old contexts keep serving.
 */
static int
reload_contexts(struct shared *sh)
{
	struct secho_tls *t = NULL, *d = NULL;

	if (sh->tls == NULL && sh->dtls == NULL) {
		srv_log("SIGHUP: nothing to reload (no tls or dtls listener)");
		return 0;
	}
	if ((sh->tls != NULL && (t = secho_tls_renew(sh->tls)) == NULL) ||
	    (sh->dtls != NULL && (d = secho_tls_renew(sh->dtls)) == NULL)) {
		srv_log("reload of %s failed, still serving the old "
		    "certificate: %s", t == NULL && sh->tls != NULL ? "tls" :
		    "dtls", secho_error());
		secho_tls_free(t);
		return -1;
	}
	srv_warn_expiry(t != NULL ? t : d, sh->cfg->tls.cert);
	for (int i = 0; i < sh->nworkers; i++) {
		struct server *w = &sh->workers[i];

		if (t != NULL) {
			secho_tls_ref(t);
			secho_tls_free(__atomic_exchange_n(&w->next_tls, t,
			    __ATOMIC_ACQ_REL));
		}
		if (d != NULL) {
			secho_tls_ref(d);
			secho_tls_free(__atomic_exchange_n(&w->next_dtls, d,
			    __ATOMIC_ACQ_REL));
		}
		srv_worker_post(w, CMD_RELOAD);
	}
	if (t != NULL) {
		secho_tls_free(sh->tls);
		sh->tls = t;
	}
	if (d != NULL) {
		secho_tls_free(sh->dtls);
		sh->dtls = d;
	}
	srv_log("reloaded %s and %s", sh->cfg->tls.cert, sh->cfg->tls.key);
	return 0;
}

/* The service manager hears of the reload and of how it went. */
static void
reload(struct shared *sh)
{
	struct timespec now;
	int rc;

	srv_sd_notify("RELOADING=1");
	rc = reload_contexts(sh);
	/* For --metrics: worker 0 reloads and serves the scrapes. */
	clock_gettime(CLOCK_REALTIME, &now);
	sh->last_reload_time = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	sh->last_reload_ok = rc == 0;
	if (rc == 0)
		sh->reloads_ok++;
	else
		sh->reloads_failed++;
	if (rc == 0)
		srv_sd_notify("READY=1\nSTATUS=reloaded; %zu connections open",
		    __atomic_load_n(&sh->nconns, __ATOMIC_RELAXED));
	else
		srv_sd_notify("READY=1\nSTATUS=reload failed, serving the old "
		    "certificate: %s", secho_error());
}

/*
 * Whether a SIGHUP is the terminal's hangup rather than a reload request.
 * The kernel's own (the session leader's terminal went away, or its
 * process group was orphaned with jobs stopped) comes with SI_KERNEL; a
 * shell passes its hangup on to its jobs with kill(), SI_USER like any
 * `kill -HUP`, but by then the controlling terminal we opened at start
 * reports POLLHUP.  A server started without a terminal (a service) has
 * none to lose: its every kill -HUP reloads.
 */
static int
is_hangup(const struct shared *sh, const struct signalfd_siginfo *si)
{
	struct pollfd pfd = { .fd = sh->ttyfd, .events = 0 };

	if (si->ssi_code == SI_KERNEL)
		return 1;
	return sh->ttyfd != -1 && poll(&pfd, 1, 0) == 1 &&
	    (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0;
}

static void
drain_all(struct shared *sh, const char *why)
{
	size_t n = __atomic_load_n(&sh->nconns, __ATOMIC_RELAXED);

	sh->draining = 1;
	srv_log("%sshutting down: draining %zu connection%s", why, n,
	    n == 1 ? "" : "s");
	srv_sd_notify("STOPPING=1\nSTATUS=draining %zu connection%s", n,
	    n == 1 ? "" : "s");
	for (int i = 0; i < sh->nworkers; i++)
		srv_worker_post(&sh->workers[i], CMD_DRAIN);
}

static void
signal_io(struct secho_loop *l, struct secho_event *ev, int mask)
{
	struct shared *sh = container_of(ev, struct shared, sigev);
	struct signalfd_siginfo si;
	int hangup;

	(void)l;
	(void)mask;
	if (read(ev->fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	hangup = si.ssi_signo == SIGHUP && is_hangup(sh, &si);
	if (si.ssi_signo == SIGHUP && !hangup) {
		reload(sh);
		return;
	}
	if (sh->draining) {
		/* One hangup often arrives twice (kernel, then the shell). */
		if (hangup)
			return;
		srv_log("second signal: exiting now");
		for (int i = 0; i < sh->nworkers; i++)
			srv_worker_post(&sh->workers[i], CMD_STOP);
		return;
	}
	drain_all(sh, hangup ? "terminal hung up: " : "");
}

int
srv_signals_open(struct shared *sh)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	/*
	 * Blocked before any worker thread exists (they inherit the mask),
	 * then read as events by worker 0: no handler races any loop.
	 */
	if (sigprocmask(SIG_BLOCK, &set, &sh->oldmask) == -1 ||
	    (sh->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1) {
		secho_error_errno("signalfd");
		return -1;
	}
	secho_event_init(&sh->sigev, sh->sigfd, signal_io);
	/* Held to notice its hangup (none: started as a service). */
	sh->ttyfd = open("/dev/tty", O_RDONLY | O_NOCTTY | O_NONBLOCK |
	    O_CLOEXEC);
	return 0;
}
