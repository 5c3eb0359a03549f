/*
 * server.c - the echo server process: it binds the listening sockets,
 * reads the keys, drops root, then runs one worker per core until a
 * signal's drain or a second signal ends them (see server_int.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "secho/iplimit.h"
#include "secho/json.h"
#include "secho/priv.h"
#include "server_int.h"

#define STATUS_MS	1000	/* STATUS= at most this often */

/* --log-format json: set once, before any thread starts. */
static int log_json;

/* The line's start: the prefix, or in JSON the time and its comma. */
static int
line_start(char *line, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	if (!log_json)
		return snprintf(line, len, "secho-server: ");
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	return snprintf(line, len, "{\"time\":\"%s.%03ldZ\",", when,
	    ts.tv_nsec / 1000000);
}

/* One write per line, so workers' lines never interleave. */
static void
emit(char *line, int n, size_t size)
{
	if (n > (int)size - 2)
		n = (int)size - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;	/* nowhere left to say it */
}

void
srv_log(const char *fmt, ...)
{
	char line[2048], msg[1024];
	int n = line_start(line, sizeof(line));
	va_list ap;

	va_start(ap, fmt);
	if (!log_json) {
		n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	} else {
		vsnprintf(msg, sizeof(msg), fmt, ap);
		n += snprintf(line + n, sizeof(line) - (size_t)n, "\"msg\":");
		n += (int)secho_json_quote(line + n,
		    sizeof(line) - (size_t)n - 2, msg);
		line[n++] = '}';
	}
	va_end(ap);
	emit(line, n, sizeof(line));
}

void
srv_log_record(const char *fields)
{
	char line[8192];
	int n = line_start(line, sizeof(line));

	n += snprintf(line + n, sizeof(line) - (size_t)n - 1, "%s}", fields);
	emit(line, n, sizeof(line));
}

int
srv_log_is_json(void)
{
	return log_json;
}

/* Thousands of clients need thousands of fds: take what we may. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
nworkers(const struct secho_server_config *cfg)
{
	long n = cfg->workers > 0 ? cfg->workers :
	    sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > SECHO_MAX_WORKERS ? SECHO_MAX_WORKERS : (int)n;
}

/* The lowest port an ordinary user may bind. */
static int
unprivileged_port_start(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "r");
	int port = 1024;

	if (f != NULL) {
		if (fscanf(f, "%d", &port) != 1)
			port = 1024;
		fclose(f);
	}
	return port;
}

static int
drop_privileges(struct shared *sh)
{
	struct secho_priv p = sh->cfg->priv;
	int low = unprivileged_port_start(), fds[SECHO_MAX_LISTENERS];

	/* DTLS binds a socket per client on its port, after the drop. */
	p.fds = fds;
	for (size_t i = 0; i < sh->nsocks; i++) {
		if (sh->socks[i].proto != SECHO_DTLS)
			continue;
		fds[p.nfds++] = sh->socks[i].fd;
		if (secho_sockaddr_port((struct sockaddr *)
		    &sh->socks[i].addr.ss) < low)
			p.keep_bind = 1;
	}
	if (secho_priv_drop(&p) == -1)
		return -1;
	if (p.user != NULL && sh->cfg->verbose > 0)
		srv_log("running as uid %u gid %u%s%s", (unsigned)geteuid(),
		    (unsigned)getegid(), p.chroot != NULL ? " in chroot " : "",
		    p.chroot != NULL ? p.chroot : "");
	return 0;
}

/* A certificate that has expired, or will within a week, is logged. */
void
srv_warn_expiry(const struct secho_tls *t, const char *path)
{
	char when[32];
	long left;

	if (t == NULL || secho_tls_cert_expiry(t, &left, when,
	    sizeof(when)) == -1 || left >= 7 * 86400L)
		return;
	if (left < 0)
		srv_log("warning: certificate %s expired on %s", path, when);
	else
		srv_log("warning: certificate %s expires in %ld day%s (%s)",
		    path, left / 86400, left / 86400 == 1 ? "" : "s", when);
}

/*
 * The sockets systemd handed over, then those of the command line that
 * none of them stands for.  Under socket activation the implicit tcp
 * listener (no transport given) is not bound: the unit says what to serve.
 */
static int
open_socks(struct shared *sh)
{
	const struct secho_server_config *cfg = sh->cfg;
	int taken[SECHO_MAX_LISTENERS] = { 0 };

	if (srv_sd_sockets(sh, taken) == -1)
		return -1;
	for (size_t i = 0; i < cfg->nlisten; i++) {
		if (taken[i] || (sh->inherited > 0 && cfg->listen_implicit))
			continue;
		if (sh->nsocks == SECHO_MAX_LISTENERS) {
			secho_error_set("more than %d listeners",
			    SECHO_MAX_LISTENERS);
			return -1;
		}
		if (srv_sock_open(sh, &cfg->listen[i]) == -1)
			return -1;
	}
	return 0;
}

/* One TLS and one DTLS context, for the transports the sockets serve. */
static int
open_tls(struct shared *sh)
{
	char path[SECHO_CERTS_PATH_MAX];

	for (size_t i = 0; i < sh->nsocks; i++) {
		enum secho_proto p = sh->socks[i].proto;
		struct secho_tls **t = p == SECHO_TLS ? &sh->tls :
		    p == SECHO_DTLS ? &sh->dtls : NULL;

		/* None given and none found: say where we looked. */
		if (t != NULL && sh->cfg->tls.cert == NULL) {
			secho_certs_find("server.pem", path, sizeof(path));
			return -1;
		}

		if (t != NULL && *t == NULL && (*t = secho_tls_new(
		    &sh->cfg->tls, SECHO_TLS_SERVER, p == SECHO_DTLS)) == NULL)
			return -1;
	}
	return 0;
}

static int
process_open(struct shared *sh, const struct secho_server_config *cfg)
{
	void *mem;

	sh->cfg = cfg;
	sh->sigfd = -1;
	sh->ttyfd = -1;
	/* Signals first: once "listening" is out, SIGTERM must drain. */
	if (srv_signals_open(sh) == -1 || open_socks(sh) == -1 ||
	    srv_metrics_open(sh) == -1 || open_tls(sh) == -1)
		return -1;
	srv_warn_expiry(sh->tls != NULL ? sh->tls : sh->dtls, cfg->tls.cert);
	if (cfg->max_conns_per_ip > 0 && (sh->iplimit =
	    secho_iplimit_new(cfg->max_conns_per_ip)) == NULL)
		return -1;
	if (sh->dtls != NULL &&
	    (sh->dtls_peers = secho_iplimit_new_endpoints()) == NULL)
		return -1;
	/* Bound, keys read: root is no longer needed (no thread yet). */
	if (drop_privileges(sh) == -1)
		return -1;
	sh->nworkers = nworkers(cfg);
	/* Aligned as struct server asks (its counters start a cache line
	 * of their own), which calloc() does not promise. */
	if ((errno = posix_memalign(&mem, 64, (size_t)sh->nworkers *
	    sizeof(*sh->workers))) != 0) {
		secho_error_errno("cannot allocate the workers");
		return -1;
	}
	sh->workers = memset(mem, 0, (size_t)sh->nworkers *
	    sizeof(*sh->workers));
	for (int i = 0; i < sh->nworkers; i++) {
		if (srv_worker_open(&sh->workers[i], sh, i) == -1)
			return -1;
	}
	if (srv_metrics_start(sh) == -1)
		return -1;
	return secho_loop_watch(sh->workers[0].loop, &sh->sigev, SECHO_EV_READ);
}

static void
print_listening(const struct shared *sh)
{
	/* Only once all are bound: scripts take this as "ready". */
	for (size_t i = 0; i < sh->nsocks; i++) {
		char addr[SECHO_ADDRSTR_MAX];

		printf("listening %s %s\n", secho_proto_name(sh->socks[i].proto),
		    secho_sockaddr_str((struct sockaddr *)&sh->socks[i].addr.ss,
		    addr, sizeof(addr)));
	}
	if (srv_metrics_addr(sh) != NULL) {
		char addr[SECHO_ADDRSTR_MAX];

		printf("listening metrics %s\n", secho_sockaddr_str(
		    (const struct sockaddr *)&srv_metrics_addr(sh)->ss, addr,
		    sizeof(addr)));
	}
	fflush(stdout);
}

/* STATUS= says how many connections are open, at most once a second. */
static void
status_tick(struct secho_loop *l, struct secho_timer *t)
{
	struct shared *sh = container_of(t, struct shared, status_timer);
	size_t n = __atomic_load_n(&sh->nconns, __ATOMIC_RELAXED);

	if (n != sh->status_conns && !sh->draining) {
		sh->status_conns = n;
		srv_sd_notify("STATUS=%zu connection%s open", n,
		    n == 1 ? "" : "s");
	}
	secho_loop_timer_set(l, t, STATUS_MS);
}

/* Listening: a Type=notify service is up (and starts its clock). */
static void
notify_ready(struct shared *sh)
{
	if (!srv_sd_notifying())
		return;
	srv_sd_notify("READY=1\nSTATUS=0 connections open\nMAINPID=%ld",
	    (long)getpid());
	secho_timer_init(&sh->status_timer, status_tick);
	secho_loop_timer_set(sh->workers[0].loop, &sh->status_timer,
	    STATUS_MS);
}

/* Runs worker 0 here and the others in threads until all have stopped. */
static int
process_run(struct shared *sh)
{
	int started = 1, rc;

	sh->running = 1;
	for (int i = 1; i < sh->nworkers; i++) {
		__atomic_add_fetch(&sh->running, 1, __ATOMIC_ACQ_REL);
		if ((errno = pthread_create(&sh->workers[i].thread, NULL,
		    srv_worker_main, &sh->workers[i])) != 0) {
			__atomic_sub_fetch(&sh->running, 1, __ATOMIC_ACQ_REL);
			secho_error_errno("cannot start worker %d", i);
			break;
		}
		started++;
	}
	if (started < sh->nworkers) {
		for (int i = 1; i < started; i++)
			srv_worker_post(&sh->workers[i], CMD_STOP);
		rc = -1;
	} else {
		print_listening(sh);
		notify_ready(sh);
		rc = secho_loop_run(sh->workers[0].loop);
	}
	/* Worker 0 is done: a deadline or second signal ends the rest. */
	for (int i = 1; i < started; i++) {
		srv_worker_post(&sh->workers[i], CMD_STOP);
		pthread_join(sh->workers[i].thread, NULL);
	}
	return rc;
}

static void
process_close(struct shared *sh)
{
	srv_metrics_close(sh);	/* on worker 0's loop: before it goes */
	if (sh->workers != NULL && sh->workers[0].loop != NULL)
		secho_loop_timer_del(sh->workers[0].loop, &sh->status_timer);
	for (int i = 0; sh->workers != NULL && i < sh->nworkers; i++)
		srv_worker_close(&sh->workers[i]);
	free(sh->workers);
	srv_socks_close(sh);
	if (sh->ttyfd != -1)
		close(sh->ttyfd);
	if (sh->sigfd != -1) {
		close(sh->sigfd);
		sigprocmask(SIG_SETMASK, &sh->oldmask, NULL);
	}
	secho_tls_free(sh->tls);
	secho_tls_free(sh->dtls);
	secho_iplimit_free(sh->iplimit);
	secho_iplimit_free(sh->dtls_peers);
}

int
secho_server_run(const struct secho_server_config *cfg)
{
	struct shared sh;
	struct timespec now;
	int rc = -1;

	memset(&sh, 0, sizeof(sh));
	clock_gettime(CLOCK_REALTIME, &now);
	sh.start_time = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	sh.start_us = secho_now_us();
	sh.last_reload_ok = -1;
	log_json = cfg->log_json;
	raise_nofile();
	if (cfg->tls.keylog != NULL)
		srv_log("warning: writing TLS session secrets to %s; anyone "
		    "who reads it can decrypt the traffic", cfg->tls.keylog);
	if (process_open(&sh, cfg) == 0)
		rc = process_run(&sh);
	process_close(&sh);
	return rc;
}
