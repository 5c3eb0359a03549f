/*
 * check_haproxy.c - secho behind a real load balancer: Debian's haproxy on
 * loopback in front of two secho backends, with send-proxy-v2 and health
 * checks that send LOCAL headers; TLS passed through, TLS terminated by
 * haproxy (send-proxy-v2-ssl-cn), resumption across backends with a
 * shared ticket key, and a rolling restart of one backend under load.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define HAPROXY "/usr/sbin/haproxy"

struct lb {
	struct tu_proc proc;
	int port;		/* the frontend */
	char sock[100];		/* the stats socket (fits sun_path) */
	char cfg[300];
};

static struct tu_server be[2];

static int
have_haproxy(void)
{
	if (access(HAPROXY, X_OK) == 0)
		return 1;
	tu_skip("%s is not installed (Debian package haproxy; run "
	    "scripts/deps.sh)", HAPROXY);
	return 0;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* haproxy's "show stat" over its admin socket (malloc'd), or NULL. */
static char *
show_stat(const struct lb *lb)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char *out = malloc(65536);
	size_t len = 0;
	ssize_t n;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", lb->sock);
	if (out == NULL || fd < 0 || connect(fd, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1 || write(fd, "show stat\n", 10) != 10) {
		if (fd >= 0)
			close(fd);
		free(out);
		return NULL;
	}
	while (len < 65535 && (n = read(fd, out + len, 65535 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fd);
	return out;
}

/* The status column ("UP", "DOWN", ...) of server name in backend be. */
static int
server_is(const struct lb *lb, const char *name, const char *status)
{
	char *st = show_stat(lb), want[64], *line;
	int ok = 0;

	if (st == NULL)
		return 0;
	snprintf(want, sizeof(want), "\nbe,%s,", name);
	if ((line = strstr(st, want)) != NULL) {
		char *f = line + 1;

		/* status is the 18th comma-separated field */
		for (int i = 0; i < 17 && f != NULL; i++)
			f = (f = strchr(f, ',')) != NULL ? f + 1 : NULL;
		ok = f != NULL && strncmp(f, status, strlen(status)) == 0 &&
		    f[strlen(status)] == ',';
	}
	free(st);
	return ok;
}

/* Polls the stats until name is status, bounded; fails saying why. */
static void
await_status(const struct lb *lb, const char *name, const char *status)
{
	for (int waited = 0; waited < tu_slow(15000); waited += 50) {
		if (server_is(lb, name, status))
			return;
		sleep_ms(50);
	}
	ck_abort_msg("haproxy never reported %s %s; stats: %s", name, status,
	    tu_tail(show_stat(lb), 800));
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(tu_write_all(fd, text, strlen(text)), 0);
	close(fd);
}

/*
 * haproxy in front of the two backends: bind is what follows the
 * frontend's address ("" or " ssl crt ..."), opts what follows each
 * server line's address.  Waits until both servers are UP.
 */
static void
lb_start(struct lb *lb, const char *bind, const char *opts)
{
	char text[4096];
	const char *dir = tu_tmpdir();

	for (int tries = 0; tries < 5; tries++) {
		lb->port = tu_free_port(0);
		ck_assert_msg(strlen(dir) + 12 < sizeof(lb->sock),
		    "tmpdir too long for a unix socket: %s", dir);
		snprintf(lb->sock, sizeof(lb->sock), "%.80s/admin.sock", dir);
		snprintf(lb->cfg, sizeof(lb->cfg), "%s/haproxy.cfg", dir);
		snprintf(text, sizeof(text),
		    "global\n"
		    "    stats socket %s level admin\n"
		    "defaults\n"
		    "    mode tcp\n"
		    "    timeout connect 2s\n"
		    "    timeout client 30s\n"
		    "    timeout server 30s\n"
		    "    retries 3\n"
		    "    option redispatch\n"
		    "frontend fe\n"
		    "    bind 127.0.0.1:%d%s\n"
		    "    default_backend be\n"
		    "backend be\n"
		    "    balance roundrobin\n"
		    "    server s1 127.0.0.1:%d %s check check-send-proxy "
		    "inter 200ms fall 2 rise 2\n"
		    "    server s2 127.0.0.1:%d %s check check-send-proxy "
		    "inter 200ms fall 2 rise 2\n",
		    lb->sock, lb->port, bind, be[0].port[0], opts,
		    be[1].port[0], opts);
		write_file(lb->cfg, text, 0600);
		unlink(lb->sock);
		ck_assert_int_eq(tu_spawn(&lb->proc, (const char *[]){ HAPROXY,
		    "-db", "-f", lb->cfg, NULL }, NULL), 0);
		for (int waited = 0; waited < tu_slow(10000) &&
		    access(lb->sock, F_OK) != 0; waited += 20)
			sleep_ms(20);
		if (access(lb->sock, F_OK) == 0) {
			await_status(lb, "s1", "UP");
			await_status(lb, "s2", "UP");
			return;
		}
		{
			struct tu_result r;

			kill(lb->proc.pid, SIGTERM);
			tu_wait(&lb->proc, 10000, &r);
			ck_assert_msg(strstr(r.err, "cannot bind") != NULL,
			    "haproxy did not start: %s", tu_tail(r.err, 1500));
			tu_result_free(&r);
		}
	}
	ck_abort_msg("haproxy found no free port in 5 tries");
}

static void
lb_stop(struct lb *lb)
{
	struct tu_result r;

	kill(lb->proc.pid, SIGTERM);
	tu_wait(&lb->proc, 10000, &r);
	tu_result_free(&r);
}

/* Two backends with args plus -b 127.0.0.1 -v. */
static void
backends_start(const char *const *args, const char *port1)
{
	for (int i = 0; i < 2; i++) {
		const char *a[24];
		int n = 0;

		for (const char *const *p = args; *p != NULL; p++)
			a[n++] = *p;
		a[n++] = "-b";
		a[n++] = "127.0.0.1";
		a[n++] = "-p";
		a[n++] = i == 0 && port1 != NULL ? port1 : "0";
		a[n++] = "-v";
		a[n] = NULL;
		ck_assert_msg(tu_server_start(&be[i], a, 1) == 0,
		    "backend %d did not start", i + 1);
	}
}

static const char *const tls_backend[] = { "--tls", "--proxy-protocol",
	"--cert", NULL, "--key", NULL, NULL };

static const char *const *
tls_args(void)
{
	static const char *a[8];

	memcpy(a, tls_backend, sizeof(tls_backend));
	a[3] = tu_cert("server.pem");
	a[5] = tu_cert("server.key");
	return a;
}

/* Both backends say needle in their logs (bounded). */
static void
assert_both_logs(const char *needle)
{
	for (int i = 0; i < 2; i++)
		ck_assert_msg(tu_server_await_log(&be[i], needle, 5000),
		    "backend %d never logged '%s': %s", i + 1, needle,
		    tu_server_log_tail(&be[i]));
}

START_TEST(tls_passthrough)
{
	struct lb lb;
	struct tu_result r;
	int sources = 0;

	if (!have_haproxy())
		return;
	backends_start(tls_args(), NULL);
	lb_start(&lb, "", "send-proxy-v2");
	/* Many clients from several sources, every byte verified. */
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-bench"), "rr",
	    "--tls", "--ca", tu_cert("ca.pem"), "-c", "16", "-n", "800",
	    "--src-addrs", "4", "-q", "localhost", tu_num(lb.port), NULL },
	    NULL, 0, 60000, &r), &r, 0);
	ck_assert_msg(strstr(r.out, "mismatches    0") != NULL, "%s", r.out);
	tu_result_free(&r);
	/* The backends name the real clients, not haproxy. */
	for (int src = 2; src <= 4; src++) {
		char needle[64];

		snprintf(needle, sizeof(needle), "tls 127.0.0.%d:", src);
		for (int i = 0; i < 2; i++) {
			char *log = tu_server_log(&be[i]);

			sources += strstr(log, needle) != NULL;
			free(log);
		}
	}
	ck_assert_msg(sources >= 3, "proxied sources seen %d times; logs: %s | "
	    "%s", sources, tu_server_log_tail(&be[0]),
	    tu_server_log_tail(&be[1]));
	/* haproxy's health checks send LOCAL headers, and are served. */
	assert_both_logs("(v2 LOCAL)");
	for (int i = 0; i < 2; i++) {
		char *log = tu_server_log(&be[i]);

		ck_assert_msg(strstr(log, "PROXY header refused") == NULL,
		    "backend %d refused a header: %s", i + 1, tu_tail(log, 800));
		free(log);
	}
	lb_stop(&lb);
	tu_server_stop_clean(&be[0]);
	tu_server_stop_clean(&be[1]);
}
END_TEST

START_TEST(haproxy_terminates_tls)
{
	char pem[400], bind[1024], *cert, *key, *both;
	struct lb lb;
	struct tu_result r;
	size_t n1, n2;

	if (!have_haproxy())
		return;
	/* haproxy wants the certificate and its key in one file. */
	snprintf(pem, sizeof(pem), "%s/haproxy.pem", tu_tmpdir());
	ck_assert_ptr_nonnull(cert = tu_slurp(tu_cert("server.pem"), &n1));
	ck_assert_ptr_nonnull(key = tu_slurp(tu_cert("server.key"), &n2));
	ck_assert_ptr_nonnull(both = malloc(n1 + n2 + 1));
	memcpy(both, cert, n1);
	memcpy(both + n1, key, n2 + 1);
	write_file(pem, both, 0600);
	free(cert);
	free(key);
	free(both);
	snprintf(bind, sizeof(bind), " ssl crt %s ca-file %s verify optional",
	    pem, tu_cert("ca.pem"));
	backends_start((const char *[]){ "--tcp", "--proxy-protocol", NULL },
	    NULL);
	lb_start(&lb, bind, "send-proxy-v2-ssl-cn");
	for (int i = 0; i < 2; i++) {
		tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"),
		    "--tls", "--ca", tu_cert("ca.pem"), "--cert",
		    tu_cert("client.pem"), "--key", tu_cert("client.key"), "-m",
		    "through a terminating balancer", "localhost",
		    tu_num(lb.port), NULL }, NULL, 0, 30000, &r), &r, 0);
		ck_assert_str_eq(r.out, "through a terminating balancer\n");
		tu_result_free(&r);
	}
	/* The SSL TLV: the balancer's TLS and the client's certificate. */
	assert_both_logs("balancer TLS TLSv1.3");
	assert_both_logs("client CN=");
	lb_stop(&lb);
	tu_server_stop_clean(&be[0]);
	tu_server_stop_clean(&be[1]);
}
END_TEST

START_TEST(resume_across_backends)
{
	char keyfile[400], key[81];
	const char *args[10];
	struct lb lb;
	struct tu_result r;

	if (!have_haproxy())
		return;
	snprintf(keyfile, sizeof(keyfile), "%s/ticket.key", tu_tmpdir());
	tu_pattern(key, 80, 42);
	{
		int fd = open(keyfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		ck_assert_int_eq(tu_write_all(fd, key, 80), 0);
		close(fd);
	}
	memcpy(args, tls_args(), 7 * sizeof(*args));
	args[6] = "--ticket-key-file";
	args[7] = keyfile;
	args[8] = NULL;
	backends_start(args, NULL);
	lb_start(&lb, "", "send-proxy-v2");
	/* Round robin sends each reconnection to the other backend. */
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"),
	    "--tls", "--ca", tu_cert("ca.pem"), "--resume", "3", "-m", "again",
	    "localhost", tu_num(lb.port), NULL }, NULL, 0, 30000, &r), &r, 0);
	ck_assert_msg(strstr(r.out, "resumed 3 of 3 reconnections") != NULL,
	    "not every reconnection resumed: %s%s", r.out, r.err);
	tu_result_free(&r);
	assert_both_logs("handshake done");
	lb_stop(&lb);
	tu_server_stop_clean(&be[0]);
	tu_server_stop_clean(&be[1]);
}
END_TEST

/*
 * SIGTERM one backend while 100 clients stream through haproxy: it
 * drains (every request it read is echoed, then close_notify), haproxy
 * marks it down, new clients reach the other, and the restarted backend
 * comes back.  A drained connection ends: the bench reconnects and counts
 * it as an error, never as a mismatch.
 */
START_TEST(rolling_restart)
{
	struct lb lb;
	struct tu_proc bench;
	struct tu_result r;
	char port1[16];

	if (!have_haproxy())
		return;
	backends_start(tls_args(), NULL);
	snprintf(port1, sizeof(port1), "%d", be[0].port[0]);
	lb_start(&lb, "", "send-proxy-v2");
	ck_assert_int_eq(tu_spawn(&bench, (const char *[]){
	    tu_bin("secho-bench"), "rr", "--tls", "--ca", tu_cert("ca.pem"),
	    "-c", "100", "-d", "6", "-q", "localhost", tu_num(lb.port), NULL },
	    NULL), 0);
	/* Both backends are busy before one goes. */
	assert_both_logs("handshake done");
	ck_assert_int_eq(tu_server_stop(&be[0], &r), 0);
	ck_assert_msg(strstr(r.err, "draining") != NULL, "%s", r.err);
	tu_result_free(&r);
	await_status(&lb, "s1", "DOWN");
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"),
	    "--tls", "--ca", tu_cert("ca.pem"), "-m", "via s2", "localhost",
	    tu_num(lb.port), NULL }, NULL, 0, 30000, &r), &r, 0);
	tu_result_free(&r);
	/* Back on its own port, and haproxy's checks see it again. */
	{
		const char *a[12];

		memcpy(a, tls_args(), 7 * sizeof(*a));
		a[6] = "-b";
		a[7] = "127.0.0.1";
		a[8] = "-p";
		a[9] = port1;
		a[10] = "-v";
		a[11] = NULL;
		ck_assert_msg(tu_server_start(&be[0], a, 1) == 0,
		    "backend 1 did not restart on port %s", port1);
	}
	await_status(&lb, "s1", "UP");
	/* New clients reach it again (round robin: one of two at least). */
	for (int i = 0; i < 2; i++) {
		tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"),
		    "--tls", "--ca", tu_cert("ca.pem"), "-m", "back", "localhost",
		    tu_num(lb.port), NULL }, NULL, 0, 30000, &r), &r, 0);
		tu_result_free(&r);
	}
	tu_assert_exit(tu_wait(&bench, 60000, &r), &r, 0);
	ck_assert_msg(strstr(r.out, "mismatches    0") != NULL, "%s", r.out);
	tu_result_free(&r);
	ck_assert_msg(tu_server_await_log(&be[0], "handshake done", 10000),
	    "the restarted backend got no client: %s",
	    tu_server_log_tail(&be[0]));
	lb_stop(&lb);
	tu_server_stop_clean(&be[0]);
	tu_server_stop_clean(&be[1]);
}
END_TEST

Suite *
haproxy_suite(void)
{
	Suite *s = suite_create("haproxy");
	TCase *tc = tcase_create("haproxy");

	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, tls_passthrough);
	tcase_add_test(tc, haproxy_terminates_tls);
	tcase_add_test(tc, resume_across_backends);
	tcase_add_test(tc, rolling_restart);
	suite_add_tcase(s, tc);
	return s;
}
