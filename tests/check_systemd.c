/*
 * check_systemd.c - secho-server as a systemd service without a systemd
 * PID 1: systemd-socket-activate hands it its sockets (LISTEN_FDS,
 * LISTEN_FDNAMES), a NOTIFY_SOCKET datagram socket of the test's own
 * hears READY / RELOADING / STOPPING / STATUS in order, and
 * systemd-analyze verifies the shipped units.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "testutil.h"

#define ACTIVATE "/usr/bin/systemd-socket-activate"
#define ANALYZE "/usr/bin/systemd-analyze"

static int
have(const char *path)
{
	if (access(path, X_OK) == 0)
		return 1;
	tu_skip("%s is not installed (Debian package systemd; run "
	    "scripts/deps.sh)", path);
	return 0;
}

/* The test's end of NOTIFY_SOCKET: a datagram socket at path. */
static int
notify_open(char *path, size_t len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(path, len, "%s/notify", tu_tmpdir());
	ck_assert_msg(strlen(path) < sizeof(sun.sun_path), "path too long");
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ck_assert_msg(fd >= 0 && bind(fd, (struct sockaddr *)&sun,
	    sizeof(sun)) == 0, "notify socket: %s", strerror(errno));
	return fd;
}

/* The next message, within ms (scaled); "" on timeout. */
static const char *
notify_next(int fd, int ms)
{
	static char msg[1024];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	msg[0] = '\0';
	if (poll(&pfd, 1, tu_slow(ms)) == 1 &&
	    (n = recv(fd, msg, sizeof(msg) - 1, 0)) > 0)
		msg[n] = '\0';
	return msg;
}

/* Reads messages until one contains want; fails saying what came. */
static void
notify_expect(int fd, const char *want)
{
	char seen[2048] = "";

	for (int i = 0; i < 20; i++) {
		const char *m = notify_next(fd, 10000);

		if (*m == '\0')
			break;
		if (strstr(m, want) != NULL)
			return;
		strncat(seen, m, sizeof(seen) - strlen(seen) - 2);
		strncat(seen, "|", sizeof(seen) - strlen(seen) - 1);
	}
	ck_abort_msg("no '%s' from sd_notify; got: %s", want, seen);
}

/*
 * systemd-socket-activate with sockets at 127.0.0.1:port[i] (names, or
 * NULL: unnamed), running secho-server with args.  It starts the server
 * at the first connection, as systemd does: this makes one, then waits
 * for nlisten "listening" lines.  Returns 0, or -1 when a port was taken
 * meanwhile (the caller picks others).
 */
static int
activate(struct tu_server *s, const int *port, int nports, int dgram,
    const char *names, const char *notify, const char *const *args,
    int nlisten)
{
	const char *argv[48];
	char listen[8][32], fdname[128], env[300], last[16];
	int n = 0, fd;

	memset(s, 0, sizeof(*s));
	argv[n++] = ACTIVATE;
	for (int i = 0; i < nports; i++) {
		snprintf(listen[i], sizeof(listen[i]), "127.0.0.1:%d", port[i]);
		argv[n++] = "-l";
		argv[n++] = listen[i];
	}
	if (dgram)
		argv[n++] = "--datagram";
	if (names != NULL) {
		snprintf(fdname, sizeof(fdname), "--fdname=%s", names);
		argv[n++] = fdname;
	}
	if (notify != NULL) {
		snprintf(env, sizeof(env), "NOTIFY_SOCKET=%s", notify);
		argv[n++] = "-E";
		argv[n++] = env;
	}
	argv[n++] = tu_bin("secho-server");
	while (*args != NULL)
		argv[n++] = *args++;
	if (geteuid() == 0) {
		argv[n++] = "--user";
		argv[n++] = "root";
	}
	argv[n] = NULL;
	ck_assert_int_eq(tu_spawn(&s->proc, argv, NULL), 0);
	snprintf(last, sizeof(last), "as %d.", 3 + nports - 1);
	if (!tu_server_await_log(s, last, 10000)) {
		char *log = tu_server_log(s);
		struct tu_result r;
		int taken = strstr(log, "in use") != NULL;

		tu_server_stop(s, &r);
		tu_result_free(&r);
		ck_assert_msg(taken, "systemd-socket-activate did not listen: "
		    "%s", log);
		free(log);
		return -1;
	}
	/* The first client starts the service. */
	fd = tu_connect(port[0], dgram);
	ck_assert_msg(fd >= 0, "connect to the activator: %s",
	    strerror(errno));
	if (dgram)
		ck_assert_int_eq(send(fd, "x", 1, 0), 1);
	ck_assert_msg(tu_server_await_listening(s, nlisten) == 0,
	    "secho-server did not start under socket activation");
	close(fd);
	return 0;
}

/* Free ports for n sockets, then activate; a port taken in between is
 * tried again with others, so a busy machine cannot fail the test. */
static void
activate_free(struct tu_server *s, int *port, int nports, int dgram,
    const char *names, const char *notify, const char *const *args,
    int nlisten)
{
	for (int tries = 0; tries < 5; tries++) {
		for (int i = 0; i < nports; i++)
			port[i] = tu_free_port(dgram);
		if (activate(s, port, nports, dgram, names, notify, args,
		    nlisten) == 0)
			return;
	}
	ck_abort_msg("no free ports for systemd-socket-activate in 5 tries");
}

START_TEST(named_sockets_and_notify)
{
	struct tu_server s;
	struct tu_result r;
	char path[300];
	int port[2], nfd;

	if (!have(ACTIVATE))
		return;
	nfd = notify_open(path, sizeof(path));
	activate_free(&s, port, 2, 0, "tcp:tls", path,
	    (const char *[]){ "--cert", tu_cert("server.pem"), "--key",
	    tu_cert("server.key"), "-v", NULL }, 2);
	ck_assert_str_eq(s.proto[0], "tcp");
	ck_assert_str_eq(s.proto[1], "tls");
	ck_assert_int_eq(s.port[0], port[0]);
	ck_assert_int_eq(s.port[1], port[1]);
	notify_expect(nfd, "READY=1");
	tu_assert_echo("tcp", port[0], "activated tcp");
	tu_assert_echo("tls", port[1], "activated tls");
	/* The count moves (STATUS= at most once a second). */
	kill(s.proc.pid, SIGHUP);
	notify_expect(nfd, "RELOADING=1");
	notify_expect(nfd, "READY=1");
	kill(s.proc.pid, SIGTERM);
	notify_expect(nfd, "STOPPING=1");
	ck_assert_int_eq(tu_wait(&s.proc, 20000, &r), 0);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	tu_result_free(&r);
	close(nfd);
}
END_TEST

/* Unnamed sockets stand for the listener of the same type and port; a
 * listener no socket stands for is bound as usual. */
START_TEST(unnamed_socket_matches_listener)
{
	struct tu_server s;
	char spec[64];
	int port[1];

	if (!have(ACTIVATE))
		return;
	for (int tries = 0; tries < 5; tries++) {
		port[0] = tu_free_port(0);
		snprintf(spec, sizeof(spec), "tls://127.0.0.1:%d", port[0]);
		if (activate(&s, port, 1, 0, NULL, NULL, (const char *[]){
		    "-l", spec, "-l", "tcp://127.0.0.1:0", "--cert",
		    tu_cert("server.pem"), "--key", tu_cert("server.key"),
		    NULL }, 2) == 0)
			break;
		ck_assert_msg(tries < 4, "no free port in 5 tries");
	}
	ck_assert_str_eq(s.proto[0], "tls");
	ck_assert_int_eq(s.port[0], port[0]);
	ck_assert_str_eq(s.proto[1], "tcp");
	tu_assert_echo("tls", port[0], "matched by port");
	tu_assert_echo("tcp", s.port[1], "bound by secho");
	tu_server_stop_clean(&s);
}
END_TEST

START_TEST(udp_socket)
{
	struct tu_server s;
	int port[1];

	if (!have(ACTIVATE))
		return;
	activate_free(&s, port, 1, 1, "udp", NULL, (const char *[]){ NULL },
	    1);
	ck_assert_str_eq(s.proto[0], "udp");
	tu_assert_echo("udp", port[0], "activated udp");
	tu_server_stop_clean(&s);
}
END_TEST

/* Runs secho-server under the activator and expects it to refuse. */
static void
assert_refused(int dgram, const char *names, const char *const *args,
    const char *want)
{
	struct tu_server s;
	struct tu_result r;
	int port[1], ok = 0;

	for (int tries = 0; tries < 5 && !ok; tries++) {
		const char *argv[24];
		char listen[32], fdname[64];
		int n = 0, fd;

		port[0] = tu_free_port(dgram);
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", port[0]);
		argv[n++] = ACTIVATE;
		argv[n++] = "-l";
		argv[n++] = listen;
		if (dgram)
			argv[n++] = "--datagram";
		if (names != NULL) {
			snprintf(fdname, sizeof(fdname), "--fdname=%s", names);
			argv[n++] = fdname;
		}
		argv[n++] = tu_bin("secho-server");
		for (const char *const *a = args; *a != NULL; a++)
			argv[n++] = *a;
		argv[n++] = "--user";
		argv[n++] = "root";
		argv[n] = NULL;
		memset(&s, 0, sizeof(s));
		ck_assert_int_eq(tu_spawn(&s.proc, argv, NULL), 0);
		if (!tu_server_await_log(&s, "as 3.", 10000)) {
			tu_server_stop(&s, &r);
			tu_result_free(&r);
			continue;	/* the port was taken meanwhile */
		}
		fd = tu_connect(port[0], dgram);
		if (dgram && fd >= 0)
			ck_assert_int_eq(send(fd, "x", 1, 0), 1);
		tu_wait(&s.proc, 10000, &r);
		close(fd);
		ck_assert_msg(r.status == 2, "exit %d, not 2: %s", r.status,
		    r.err);
		ck_assert_msg(strstr(r.err, want) != NULL, "wanted '%s' in: %s",
		    want, r.err);
		tu_result_free(&r);
		ok = 1;
	}
	ck_assert_msg(ok, "no free port in 5 tries");
}

START_TEST(refusals)
{
	if (!have(ACTIVATE))
		return;
	/* An unnamed socket no listener stands for. */
	assert_refused(0, NULL, (const char *[]){ "--tcp", "-p", "1", NULL },
	    "matches no listener: name it tcp, tls, udp or dtls");
	/* A name that does not fit the socket's type. */
	assert_refused(1, "tls", (const char *[]){ NULL },
	    "inherited socket 'tls' is a datagram socket: tls needs a "
	    "stream one");
}
END_TEST

/* The shipped units, as make install writes them, pass systemd-analyze. */
/*
 * systemd-analyze verify runs `man secho-server(1)` for Documentation=:
 * a man tree of the checkout's pages on MANPATH lets it find them without
 * an installed secho (Check forks each test, so setenv stays in this one).
 */
static void
man_path_to_checkout(void)
{
	const char *pages[] = { "secho-server.1", "secho-client.1",
	    "secho-bench.1" };
	char dir[400], src[600], dst[600];

	snprintf(dir, sizeof(dir), "%s/man", tu_tmpdir());
	snprintf(dst, sizeof(dst), "%s/man1", dir);
	ck_assert_msg(mkdir(dir, 0700) == 0 && mkdir(dst, 0700) == 0,
	    "%s: %s", dst, strerror(errno));
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		snprintf(src, sizeof(src), "%s/docs/man/%s", tu_root(),
		    pages[i]);
		snprintf(dst, sizeof(dst), "%s/man1/%s", dir, pages[i]);
		ck_assert_msg(symlink(src, dst) == 0, "symlink %s: %s", dst,
		    strerror(errno));
	}
	ck_assert_int_eq(setenv("MANPATH", dir, 1), 0);
}

START_TEST(units_verify)
{
	const char *units[] = { "secho.service", "secho.socket" };
	char cmd[2048], out[2][400];
	struct tu_result r;

	if (!have(ANALYZE))
		return;
	man_path_to_checkout();
	for (int i = 0; i < 2; i++) {
		snprintf(out[i], sizeof(out[i]), "%s/%s", tu_tmpdir(), units[i]);
		snprintf(cmd, sizeof(cmd), "sed -e 's|@BINDIR@|%s|g' -e "
		    "'s|@SYSCONFDIR@|%s|g' %s/scripts/systemd/%s.in > %s",
		    getenv("SECHO_BIN"), tu_tmpdir(), tu_root(), units[i],
		    out[i]);
		ck_assert_int_eq(tu_run((const char *[]){ "/bin/sh", "-c", cmd,
		    NULL }, NULL, 0, 10000, &r), 0);
		ck_assert_int_eq(r.status, 0);
		tu_result_free(&r);
	}
	tu_run((const char *[]){ ANALYZE, "verify", out[0], out[1], NULL },
	    NULL, 0, 60000, &r);
	ck_assert_msg(r.status == 0 && r.err[0] == '\0', "systemd-analyze "
	    "verify: exit %d: %s%s", r.status, r.out, r.err);
	tu_result_free(&r);
}
END_TEST

Suite *
systemd_suite(void)
{
	Suite *s = suite_create("systemd");
	TCase *tc = tcase_create("activation");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, named_sockets_and_notify);
	tcase_add_test(tc, unnamed_socket_matches_listener);
	tcase_add_test(tc, udp_socket);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, units_verify);
	suite_add_tcase(s, tc);
	return s;
}
