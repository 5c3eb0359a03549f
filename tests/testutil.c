/*
 * testutil.c - the shared test fixture.  Child processes are waited for
 * through pidfds, so every wait is bounded without sleeping, and every
 * process a test starts is reaped by that test.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define TU_STR_(x) #x
#define TU_STR(x) TU_STR_(x)

static char certdir[320];
static char rundir[256];

static const char *
env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : dflt;
}

const char *
tu_bin(const char *name)
{
	static char buf[4][512];
	static int slot;
	char *b = buf[slot++ % 4];

	snprintf(b, sizeof(buf[0]), "%s/%s", env_or("SECHO_BIN", "bin"), name);
	return b;
}

const char *
tu_root(void)
{
	return env_or("SECHO_ROOT", ".");
}

const char *
tu_certs(void)
{
	return certdir;
}

const char *
tu_cert(const char *name)
{
	static char buf[8][512];
	static int slot;
	char *b = buf[slot++ % 8];

	snprintf(b, sizeof(buf[0]), "%s/%s", certdir, name);
	return b;
}

const char *
tu_tmpdir(void)
{
	static char buf[300];
	static int n;

	snprintf(buf, sizeof(buf), "%s/t%d-%d", rundir, (int)getpid(), n++);
	if (mkdir(buf, 0700) == -1 && errno != EEXIST)
		return NULL;
	return buf;
}

int
tu_mkcerts(const char *const *args)
{
	const char *argv[32];
	char script[512];
	struct tu_result r;
	int n = 0, rc;

	snprintf(script, sizeof(script), "%s/scripts/mkcerts.py", tu_root());
	argv[n++] = env_or("SECHO_PYTHON", "python3");
	argv[n++] = script;
	for (; *args != NULL && n < 31; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	rc = tu_run(argv, NULL, 0, 60000, &r);
	if (rc != 0)
		fprintf(stderr, "mkcerts failed (%d): %s%s\n", rc, r.out, r.err);
	tu_result_free(&r);
	return rc;
}

void
tu_global_setup(void)
{
	snprintf(rundir, sizeof(rundir), "%s/secho-test-XXXXXX",
	    env_or("TMPDIR", "/tmp"));
	if (mkdtemp(rundir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(certdir, sizeof(certdir), "%s/certs", rundir);
	if (tu_mkcerts((const char *[]){ "--out", certdir, NULL }) != 0)
		exit(1);
}

/* --- skipped tests: counted, listed, and fatal in CI --- */

static void
skiplog_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/skipped", rundir);
}

void
tu_skip(const char *fmt, ...)
{
	char line[512], path[300];
	va_list ap;
	int n, fd;

	n = snprintf(line, sizeof(line), "%s: ", tcase_name());
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	fprintf(stderr, "SKIPPED %.*s", n, line);
	/* Each test runs in a child (CK_FORK): the runner reads this file.
	 * One O_APPEND write per line, so concurrent children never mix. */
	skiplog_path(path, sizeof(path));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600)) == -1)
		return;
	if (write(fd, line, (size_t)n) != n)
		perror("tu_skip");
	close(fd);
}

int
tu_skipped_report(void)
{
	char path[300], *log;
	size_t len;
	int n = 0;

	skiplog_path(path, sizeof(path));
	if ((log = tu_slurp(path, &len)) != NULL) {
		for (size_t i = 0; i < len; i++)
			n += log[i] == '\n';
		printf("Skipped: %d test%s (each counted as passed by Check "
		    "above):\n%s", n, n == 1 ? "" : "s", log);
		free(log);
	} else
		printf("Skipped: 0 tests\n");
	fflush(stdout);
	return n;
}

void
tu_global_teardown(void)
{
	const char *argv[] = { "/bin/rm", "-rf", rundir, NULL };
	struct tu_result r;

	if (rundir[0] != '\0' && getenv("SECHO_KEEP_TMP") == NULL) {
		tu_run(argv, NULL, 0, 30000, &r);
		tu_result_free(&r);
	}
}

/* --- processes --- */

int
tu_valgrind(void)
{
	const char *v = getenv("SECHO_VALGRIND");

	return v != NULL && strcmp(v, "1") == 0;
}

int
tu_load(void)
{
	const char *v = getenv("SECHO_TEST_SLOW");
	char *end;
	long f = v != NULL ? strtol(v, &end, 10) : 1;

	/* Nonsense (0, "x", 1e9) means no extra room, not a silent hang. */
	return v != NULL && (*end != '\0' || f < 1 || f > 100) ? 1 : (int)f;
}

int
tu_slow(int ms)
{
	return ms * tu_load() * (tu_valgrind() ? TU_VG_SLOW : 1);
}

/* Is path one of the programs under test, $SECHO_BIN/secho-*? */
static int
under_test(const char *path)
{
	const char *bin = env_or("SECHO_BIN", "bin");
	size_t n = strlen(bin);

	return strncmp(path, bin, n) == 0 &&
	    strncmp(path + n, "/secho-", 7) == 0;
}

/*
 * Fills vg (cap entries) with the valgrind command line that runs argv
 * and logs to p->vglog; returns vg, or NULL when there is no room.  Only
 * definite and indirect leaks count as errors: "possibly lost" is what
 * interior pointers look like, "still reachable" is memory a program
 * may rightly leave to exit.
 */
static const char *const *
vg_argv(struct tu_proc *p, const char *const *argv, const char **vg,
    size_t cap, char *logopt, size_t loglen, char *suppopt, size_t supplen)
{
	static const char *const opts[] = { "valgrind", "--tool=memcheck",
	    "--error-exitcode=" TU_STR(TU_VG_EXIT), "--leak-check=full",
	    "--show-leak-kinds=definite,indirect",
	    "--errors-for-leak-kinds=definite,indirect", "--track-fds=no",
	    "--num-callers=30", "--vgdb=no", "--child-silent-after-fork=yes",
	    "--fair-sched=try" };
	size_t n = 0;

	snprintf(logopt, loglen, "--log-file=%s", p->vglog);
	snprintf(suppopt, supplen, "--suppressions=%s/tests/valgrind.supp",
	    tu_root());
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		vg[n++] = opts[i];
	vg[n++] = logopt;
	vg[n++] = suppopt;
	for (; *argv != NULL && n < cap - 1; argv++)
		vg[n++] = *argv;
	if (*argv != NULL)
		return NULL;
	vg[n] = NULL;
	return vg;
}

/* A wrapped program exited TU_VG_EXIT: show its log, fail the test. */
static void
vg_fail(const struct tu_proc *p)
{
	char *log = tu_slurp(p->vglog, NULL), prog[64] = "?";
	const char *cmd = log != NULL ? strstr(log, "Command: ") : NULL;

	if (cmd != NULL && (cmd = strstr(cmd, "/secho-")) != NULL)
		sscanf(cmd + 1, "%63s", prog);
	fprintf(stderr, "==== valgrind log %s ====\n%s==== end of %s ====\n",
	    p->vglog, log != NULL ? log : "(unreadable)\n", p->vglog);
	fflush(stderr);
	free(log);
	ck_abort_msg("valgrind: memcheck errors or leaks in %s (exit %d), "
	    "log %s printed on stderr", prog, TU_VG_EXIT, p->vglog);
}

int
tu_spawn(struct tu_proc *p, const char *const *argv, const char *infile)
{
	int out[2], errfd, infd;
	const char *dir = tu_tmpdir();
	const char *vg[96];
	char logopt[300], suppopt[600];
	static int seq;

	memset(p, 0, sizeof(*p));
	snprintf(p->errpath, sizeof(p->errpath), "%s/stderr-%d", dir, seq);
	if (tu_valgrind() && under_test(argv[0])) {
		snprintf(p->vglog, sizeof(p->vglog), "%s/valgrind-%d.log", dir,
		    seq);
		argv = vg_argv(p, argv, vg, sizeof(vg) / sizeof(vg[0]), logopt,
		    sizeof(logopt), suppopt, sizeof(suppopt));
		if (argv == NULL)
			return -1;
	}
	seq++;
	if (pipe2(out, O_CLOEXEC) == -1)
		return -1;
	errfd = open(p->errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	infd = open(infile != NULL ? infile : "/dev/null",
	    O_RDONLY | O_CLOEXEC);
	if (errfd == -1 || infd == -1)
		return -1;
	p->pid = fork();
	if (p->pid == 0) {
		/* A failed assertion ends the test at once: take its programs
		 * along instead of leaving servers behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* On a terminal, as a login's foreground job: a session of
		 * its own with that terminal as its controlling one. */
		if (isatty(infd) && (setsid() == -1 ||
		    ioctl(infd, TIOCSCTTY, 0) == -1))
			_exit(126);
		dup2(infd, 0);
		dup2(out[1], 1);
		dup2(errfd, 2);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(out[1]);
	close(errfd);
	close(infd);
	if (p->pid == -1)
		return -1;
	p->outfd = out[0];
	p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	return p->pidfd == -1 ? -1 : 0;
}

static void
append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		*buf = realloc(*buf, *cap);
	}
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
tu_wait(struct tu_proc *p, int timeout_ms, struct tu_result *r)
{
	/* A bound for a wrapped program grows with its slowness; any
	 * program's with the machine's load. */
	long long deadline = now_ms() + (p->vglog[0] != '\0' ?
	    tu_slow(timeout_ms) : (long long)timeout_ms * tu_load());
	size_t cap = 0;
	int status = 0, exited = 0;
	char buf[65536];

	memset(r, 0, sizeof(*r));
	append(&r->out, &r->outlen, &cap, "", 0);
	/* Drain stdout until EOF and the process is gone, or the deadline. */
	while (!exited || p->outfd != -1) {
		struct pollfd pfd[2] = {
			{ .fd = p->pidfd, .events = POLLIN },
			{ .fd = p->outfd, .events = POLLIN },
		};
		long long left = deadline - now_ms();

		if (left <= 0 && !r->timed_out) {
			r->timed_out = 1;
			kill(p->pid, SIGKILL);
			deadline = now_ms() + 10000;
			continue;
		}
		if (left <= 0)
			break;
		if (poll(pfd, p->outfd != -1 ? 2 : 1, (int)left) <= 0)
			continue;
		if (p->outfd != -1 && (pfd[1].revents & (POLLIN | POLLHUP))) {
			ssize_t n = read(p->outfd, buf, sizeof(buf));

			if (n > 0)
				append(&r->out, &r->outlen, &cap, buf, (size_t)n);
			else {
				close(p->outfd);
				p->outfd = -1;
			}
		}
		if (!exited && (pfd[0].revents & POLLIN) &&
		    waitpid(p->pid, &status, WNOHANG) == p->pid)
			exited = 1;
	}
	if (!exited)
		waitpid(p->pid, &status, 0);
	if (p->outfd != -1)
		close(p->outfd);
	close(p->pidfd);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) :
	    128 + WTERMSIG(status);
	r->err = tu_slurp(p->errpath, NULL);
	if (r->err == NULL)
		r->err = strdup("");
	if (p->vglog[0] != '\0' && r->status == TU_VG_EXIT)
		vg_fail(p);
	return r->status;
}

void
tu_result_free(struct tu_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

int
tu_run(const char *const *argv, const void *in, size_t len, int timeout_ms,
    struct tu_result *r)
{
	char inpath[300];
	struct tu_proc p;
	int fd;

	snprintf(inpath, sizeof(inpath), "%s/stdin", tu_tmpdir());
	fd = open(inpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || (len > 0 && tu_write_all(fd, in, len) == -1)) {
		memset(r, 0, sizeof(*r));
		return -1;
	}
	close(fd);
	if (tu_spawn(&p, argv, inpath) == -1) {
		memset(r, 0, sizeof(*r));
		return -1;
	}
	return tu_wait(&p, timeout_ms, r);
}

/* --- the server under test --- */

static int
parse_listening(struct tu_server *s, const char *line)
{
	const char *colon;
	char proto[8];

	if (sscanf(line, "listening %7s", proto) != 1 || s->nports == 8)
		return 0;
	colon = strrchr(line, ':');
	if (colon == NULL)
		return 0;
	snprintf(s->proto[s->nports], sizeof(s->proto[0]), "%s", proto);
	s->port[s->nports++] = atoi(colon + 1);
	return 1;
}

int
tu_server_start(struct tu_server *s, const char *const *args, int nlisten)
{
	return tu_server_start_in(s, args, nlisten, NULL);
}

int
tu_server_start_in(struct tu_server *s, const char *const *args,
    int nlisten, const char *infile)
{
	const char *argv[64];
	int n = 0, has_user = 0;

	memset(s, 0, sizeof(*s));
	argv[n++] = tu_bin("secho-server");
	for (; *args != NULL && n < 61; args++) {
		has_user |= strcmp(*args, "--user") == 0;
		argv[n++] = *args;
	}
	/* As root the server refuses to keep root unless told to. */
	if (geteuid() == 0 && !has_user) {
		argv[n++] = "--user";
		argv[n++] = "root";
	}
	argv[n] = NULL;
	if (tu_spawn(&s->proc, argv, infile) == -1)
		return -1;
	return tu_server_await_listening(s, nlisten);
}

int
tu_server_await_listening(struct tu_server *s, int nlisten)
{
	char buf[4096];
	size_t len = 0;
	long long deadline = now_ms() + tu_slow(15000);

	/* The "listening" lines are the readiness signal: no sleeping. */
	while (s->nports < nlisten && now_ms() < deadline) {
		struct pollfd pfd = { .fd = s->proc.outfd, .events = POLLIN };
		char *nl;
		ssize_t r;

		if (poll(&pfd, 1, (int)(deadline - now_ms())) <= 0)
			break;
		r = read(s->proc.outfd, buf + len, sizeof(buf) - len - 1);
		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = '\0';
		while ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			parse_listening(s, buf);
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
		}
	}
	if (s->nports < nlisten) {
		struct tu_result r;

		tu_server_stop(s, &r);
		fprintf(stderr, "secho-server did not start: %s\n", r.err);
		tu_result_free(&r);
		return -1;
	}
	return 0;
}

int
tu_server_port(const struct tu_server *s, const char *proto)
{
	for (int i = 0; i < s->nports; i++)
		if (strcmp(s->proto[i], proto) == 0)
			return s->port[i];
	return -1;
}

void
tu_server_stop_clean(struct tu_server *s)
{
	struct tu_result r;

	ck_assert_msg(tu_server_stop(s, &r) == 0, "secho-server exit %d: %s",
	    r.status, r.err);
	tu_result_free(&r);
}

int
tu_server_alive(struct tu_server *s)
{
	struct pollfd pfd = { .fd = s->proc.pidfd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 0;
}

int
tu_server_stop(struct tu_server *s, struct tu_result *r)
{
	kill(s->proc.pid, SIGTERM);
	return tu_wait(&s->proc, 20000, r);	/* scaled by tu_wait */
}

int
tu_server_await_log(const struct tu_server *s, const char *needle,
    int timeout_ms)
{
	long long deadline = now_ms() + tu_slow(timeout_ms);
	int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK), found = 0;

	if (fd != -1)
		inotify_add_watch(fd, s->proc.errpath, IN_MODIFY);
	for (;;) {
		char *log = tu_server_log(s), buf[4096];
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_ms();

		found = strstr(log, needle) != NULL;
		free(log);
		if (found || left <= 0 || fd == -1)
			break;
		if (poll(&pfd, 1, (int)left) > 0)
			while (read(fd, buf, sizeof(buf)) > 0)
				;
	}
	if (fd != -1)
		close(fd);
	return found;
}

char *
tu_server_log(const struct tu_server *s)
{
	char *log = tu_slurp(s->proc.errpath, NULL);

	return log != NULL ? log : strdup("");
}

const char *
tu_tail(const char *text, size_t max)
{
	size_t len;

	if (text == NULL)
		return "(none)";
	len = strlen(text);
	return len > max ? text + len - max : text;
}

const char *
tu_server_log_tail(const struct tu_server *s)
{
	static char buf[2048];
	char *log = tu_server_log(s);

	snprintf(buf, sizeof(buf), "%s", tu_tail(log, sizeof(buf) - 1));
	free(log);
	return buf;
}

/* --- sockets --- */

int
tu_connect(int port, int dgram)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, (dgram ? SOCK_DGRAM : SOCK_STREAM) |
	    SOCK_CLOEXEC, 0);

	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sin,
	    sizeof(sin)) == -1) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

int
tu_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

size_t
tu_read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	size_t got = 0;

	while (got < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		n = recv(fd, (char *)buf + got, len - got, MSG_DONTWAIT);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

int
tu_free_port(int dgram)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, dgram ? SOCK_DGRAM : SOCK_STREAM, 0), port;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		close(fd);
		return -1;
	}
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

long
tu_rss_kib(pid_t pid)
{
	char path[64], *s, *p;
	long kib = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((s = tu_slurp(path, NULL)) == NULL)
		return -1;
	if ((p = strstr(s, "VmRSS:")) != NULL)
		kib = strtol(p + 6, NULL, 10);
	free(s);
	return kib;
}

const char *
tu_num(long v)
{
	static char buf[8][24];
	static int slot;
	char *b = buf[slot++ % 8];

	snprintf(b, sizeof(buf[0]), "%ld", v);
	return b;
}

void
tu_pattern(void *buf, size_t len, unsigned seed)
{
	unsigned char *b = buf;
	unsigned x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (unsigned char)x;
	}
}

char *
tu_slurp(const char *path, size_t *lenp)
{
	size_t len = 0, cap = 0;
	char buf[65536], *out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd == -1)
		return NULL;
	append(&out, &len, &cap, "", 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		append(&out, &len, &cap, buf, (size_t)n);
	close(fd);
	if (lenp != NULL)
		*lenp = len;
	return out;
}

void
tu_assert_echo(const char *proto, int port, const char *msg)
{
	char pflag[16], portstr[16];
	struct tu_result r;
	const char *argv[] = { tu_bin("secho-client"), pflag, "-m", msg,
	    "localhost", portstr, NULL, NULL, NULL };

	snprintf(pflag, sizeof(pflag), "--%s", proto);
	if (strstr(proto, "tls") != NULL) {	/* tls, dtls */
		argv[4] = "--ca";
		argv[5] = tu_cert("ca.pem");
		argv[6] = "localhost";
		argv[7] = portstr;
	}
	snprintf(portstr, sizeof(portstr), "%d", port);
	ck_assert_int_eq(tu_run(argv, NULL, 0, 20000, &r), 0);
	ck_assert_msg(strncmp(r.out, msg, strlen(msg)) == 0,
	    "echo of '%s' over %s was '%s' (stderr: %s)", msg, proto, r.out,
	    r.err);
	tu_result_free(&r);
}

const char *
tu_no_ipv6(void)
{
	static char why[128];
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	s6.sin6_addr = in6addr_loopback;
	if (fd == -1) {
		snprintf(why, sizeof(why), "socket(AF_INET6): %s",
		    strerror(errno));
		return why;
	}
	if (bind(fd, (struct sockaddr *)&s6, sizeof(s6)) == -1) {
		snprintf(why, sizeof(why), "bind [::1]:0: %s", strerror(errno));
		close(fd);
		return why;
	}
	close(fd);
	return NULL;
}
