/*
 * testutil.h - helpers shared by the Check suites: the certificate
 * fixture, spawning the real programs with bounded waits, and sockets.
 */
#ifndef SECHO_TESTUTIL_H
#define SECHO_TESTUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include <check.h>

/* Every suite; check_main.c runs them all. */
Suite *net_suite(void);
Suite *loop_suite(void);
Suite *echo_suite(void);
Suite *opts_suite(void);
Suite *json_suite(void);
Suite *tls_suite(void);
Suite *server_suite(void);
Suite *client_suite(void);
Suite *interop_suite(void);
Suite *rec_suite(void);
Suite *hello_suite(void);
Suite *capture_suite(void);
Suite *dtls_suite(void);
Suite *mtls_suite(void);
Suite *gnutls_suite(void);
Suite *reload_suite(void);
Suite *bench_suite(void);
Suite *limits_suite(void);
Suite *hostile_suite(void);
Suite *metrics_suite(void);
Suite *report_suite(void);
Suite *systemd_suite(void);
Suite *haproxy_suite(void);
Suite *proxy_suite(void);
Suite *docs_suite(void);
Suite *handshakes_suite(void);
Suite *trace_suite(void);

/* $SECHO_BIN/name, e.g. the secho-server under test. */
const char *tu_bin(const char *name);
/* The checkout (for scripts/). */
const char *tu_root(void);
/* A directory with ca.pem, server.pem, ... minted once per run. */
const char *tu_certs(void);
/* "<tu_certs()>/name" in a static buffer that rotates over 8 slots. */
const char *tu_cert(const char *name);
/* A fresh private directory for one test; removed at exit of the run. */
const char *tu_tmpdir(void);
/* Runs scripts/mkcerts.py with extra args; returns its exit code. */
int tu_mkcerts(const char *const *args);
/* Creates the run-wide fixture (called once by main). */
void tu_global_setup(void);
void tu_global_teardown(void);
/*
 * Ends nothing by itself: says why the running test cannot run here (a
 * missing tool, no IPv6, not root) and records it, so the runner counts
 * it; the caller then returns.  Check itself would count it as passed.
 */
void tu_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Prints the number of skipped tests and their reasons (after Check's
 * summary); returns the number.
 */
int tu_skipped_report(void);

struct tu_proc {
	pid_t pid;
	int pidfd;
	int outfd;		/* child's stdout (pipe), or -1 */
	char errpath[256];	/* child's stderr, a file */
	char vglog[256];	/* its valgrind log, or "" when not wrapped */
};

/*
 * Under SECHO_VALGRIND=1 tu_spawn() runs the programs under test
 * (secho-server, secho-client, secho-bench from $SECHO_BIN) inside
 * valgrind's memcheck; any memcheck error or definite/indirect leak makes
 * the program exit TU_VG_EXIT, and tu_wait() then prints the log and fails
 * the running test.  Other programs (openssl, python, ...) run as usual.
 */
#define TU_VG_EXIT 99
/* True when the programs under test run under valgrind. */
int tu_valgrind(void);
/*
 * How much room a loaded machine is given: SECHO_TEST_SLOW (an integer
 * 1..100, default 1).  check_main.c also multiplies Check's own limits
 * (CK_TIMEOUT_MULTIPLIER) by it.
 */
int tu_load(void);
/*
 * ms scaled for how much slower the programs under test run here
 * (x tu_load(), and xTU_VG_SLOW more under valgrind): for bounds that
 * only a slow program hits, never for waits a test expects to run out.
 */
#define TU_VG_SLOW 10
int tu_slow(int ms);

/* Output and status of a finished program. */
struct tu_result {
	int status;		/* exit code, or 128+signal */
	int timed_out;
	char *out;		/* NUL-terminated, malloc'd */
	size_t outlen;
	char *err;
};

/*
 * Starts argv (argv[0] a path) with stdin from infile (or /dev/null),
 * stdout to a pipe, stderr to a file.  When infile is a terminal (a pty
 * slave), the program gets a session of its own with it as controlling
 * terminal, as a login's foreground job.  Returns 0 or -1.
 */
int tu_spawn(struct tu_proc *p, const char *const *argv, const char *infile);
/*
 * Waits at most timeout_ms (tu_slow()'d for a program under valgrind,
 * x tu_load() for any other) for exit; kills with SIGKILL after that.
 * A valgrind report (TU_VG_EXIT) fails the running test.
 */
int tu_wait(struct tu_proc *p, int timeout_ms, struct tu_result *r);
void tu_result_free(struct tu_result *r);

/*
 * Runs a program to completion with stdin from a buffer (len bytes, may be
 * NULL) and collects its output: the usual way to run secho-client.
 */
int tu_run(const char *const *argv, const void *in, size_t len,
    int timeout_ms, struct tu_result *r);

/* A running secho-server. */
struct tu_server {
	struct tu_proc proc;
	int nports;
	int port[8];		/* in the order of its "listening" lines */
	char proto[8][8];
};

/*
 * Starts secho-server with args (NULL-terminated, no argv[0]) and waits
 * (bounded) until it has printed `nlisten` "listening" lines.
 */
int tu_server_start(struct tu_server *s, const char *const *args,
    int nlisten);
/* The same with stdin from infile (see tu_spawn()). */
int tu_server_start_in(struct tu_server *s, const char *const *args,
    int nlisten, const char *infile);
/*
 * For a server started some other way (s->proc spawned, s zeroed
 * otherwise): waits (bounded) for its `nlisten` "listening" lines; on
 * failure stops it and says why.  0 or -1.
 */
int tu_server_await_listening(struct tu_server *s, int nlisten);
/* The port of the first listener of proto ("tcp", "tls", "udp"). */
int tu_server_port(const struct tu_server *s, const char *proto);
/* SIGTERM, wait; returns the exit status (128+sig when killed). */
int tu_server_stop(struct tu_server *s, struct tu_result *r);
/* Stops the server and asserts a clean exit 0 (its stderr if not). */
void tu_server_stop_clean(struct tu_server *s);
/* True while the server process has not exited. */
int tu_server_alive(struct tu_server *s);
/*
 * Waits (bounded by tu_slow(timeout_ms), woken by inotify, no polling
 * loop) until the server's stderr contains needle; returns 1 when it
 * does, 0 on timeout.
 */
int tu_server_await_log(const struct tu_server *s, const char *needle,
    int timeout_ms);
/* The server's stderr so far (malloc'd). */
char *tu_server_log(const struct tu_server *s);
/* Its last lines (a static buffer): the reason to put in a message. */
const char *tu_server_log_tail(const struct tu_server *s);
/* The last max bytes of text ("(none)" for NULL), for a message. */
const char *tu_tail(const char *text, size_t max);

/*
 * Asserts a program's exit status (rc, as tu_run()/tu_wait() return it),
 * saying on failure what it was, whether it was killed at its deadline,
 * and the end of its stderr: e.g. tu_assert_exit(tu_run(..., &r), &r, 0).
 */
#define tu_assert_exit(rc, r, want) do {				\
	int tu_rc_ = (rc);						\
	ck_assert_msg(tu_rc_ == (want), "exit %d, want %d%s; stderr: %s",\
	    tu_rc_, (want), (r)->timed_out ? " (killed at its deadline)" :\
	    "", tu_tail((r)->err, 1500));				\
} while (0)
/* Asserts that the server logs needle within tu_slow(ms), with its log. */
#define tu_assert_log(s, needle, ms)					\
	ck_assert_msg(tu_server_await_log((s), (needle), (ms)),		\
	    "no \"%s\" in the server's log within %d ms; its tail: %s",	\
	    (needle), tu_slow(ms), tu_server_log_tail(s))

/* Blocking TCP/UDP connect to 127.0.0.1:port; returns fd or -1. */
int tu_connect(int port, int dgram);
/* Writes all of buf; returns 0 or -1. */
int tu_write_all(int fd, const void *buf, size_t len);
/* Reads exactly len bytes within timeout_ms; returns bytes read. */
size_t tu_read_full(int fd, void *buf, size_t len, int timeout_ms);
/* A port that nothing listens on right now (bound then closed). */
int tu_free_port(int dgram);
/* The server's resident set size in KiB, from /proc. */
long tu_rss_kib(pid_t pid);
/* v as decimal text, in one of 8 rotating static buffers (for argv). */
const char *tu_num(long v);
/* Fills buf with a deterministic pattern from seed. */
void tu_pattern(void *buf, size_t len, unsigned seed);
/* Reads a whole file (malloc'd, NUL-terminated) or NULL. */
char *tu_slurp(const char *path, size_t *len);

/* Why IPv6 loopback cannot be used here, or NULL if it can. */
const char *tu_no_ipv6(void);

/* Asserts the echo of secho-client for one transport. */
void tu_assert_echo(const char *proto, int port, const char *msg);

#endif
