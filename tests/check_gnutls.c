/*
 * check_gnutls.c - the interoperability matrix against GnuTLS, a stack
 * that shares no code with OpenSSL: gnutls-cli drives secho-server and
 * secho-client talks to gnutls-serv --echo, over TLS 1.3, TLS 1.2 and
 * DTLS 1.2 (each forced on the GnuTLS side by a priority string), plus
 * mutual TLS both ways.  gnutls-bin comes from scripts/deps.sh; without it
 * the suite says why and runs nothing.  gnutls-serv has no bind option:
 * it listens on the wildcard address, on a fresh port, for one test.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secho/client.h"
#include "secho/secho.h"
#include "testutil.h"

#define GNUTLS_CLI	"/usr/bin/gnutls-cli"
#define GNUTLS_SERV	"/usr/bin/gnutls-serv"
#define SERVER_CERTS	"--cert", tu_cert("server.pem"), "--key", \
	tu_cert("server.key"), "--ca", tu_cert("ca.pem")

/* One column of the matrix, named the way each side prints it. */
struct version {
	const char *prio;	/* GnuTLS --priority forcing the version */
	const char *gnutls;	/* "- Version: TLS1.3" from gnutls-cli/serv */
	const char *openssl;	/* secho's name, "TLSv1.3" */
};

static const struct version tls13 = { "NORMAL:-VERS-ALL:+VERS-TLS1.3",
	"TLS1.3", "TLSv1.3" };
static const struct version tls12 = { "NORMAL:-VERS-ALL:+VERS-TLS1.2",
	"TLS1.2", "TLSv1.2" };
static const struct version dtls12 = { "NORMAL:-VERS-ALL:+VERS-DTLS1.2",
	"DTLS1.2", "DTLSv1.2" };
static const struct version *const tls_versions[] = { &tls13, &tls12 };

static struct tu_server srv;


/* The end of a long output: Check drops messages over 8 KiB. */
static const char *
tail(const char *s)
{
	size_t len = strlen(s);

	return len > 3000 ? s + len - 3000 : s;
}

static void
assert_has(const char *hay, const char *needle)
{
	ck_assert_msg(strstr(hay, needle) != NULL, "want '%s' in: %s", needle,
	    tail(hay));
}

static void
assert_version_line(const char *out, const struct version *v)
{
	char want[64];

	snprintf(want, sizeof(want), "- Version: %s\n", v->gnutls);
	assert_has(out, want);
}

/* secho-server -v over proto ("--tls", "--dtls"), extra may be NULL. */
static void
start_server(const char *proto, const char *extra)
{
	ck_assert_int_eq(tu_server_start(&srv, (const char *[]){ proto,
	    "--port", "0", "-v", SERVER_CERTS, extra, NULL }, 1), 0);
}

/* Stops secho-server, asserts a clean exit; returns its log (free it). */
static char *
stop_server(void)
{
	struct tu_result r;

	tu_assert_exit(tu_server_stop(&srv, &r), &r, 0);
	free(r.out);
	return r.err;
}

/* Reads fd into buf until it holds want, EOF or the timeout. */
static size_t
read_until(int fd, char *buf, size_t size, const char *want, int ms)
{
	unsigned long long deadline = secho_now_us() + ms * 1000ULL;
	size_t len = 0;

	buf[0] = '\0';
	while (len + 1 < size && strstr(buf, want) == NULL) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		unsigned long long now = secho_now_us();
		ssize_t n;

		if (now >= deadline ||
		    poll(&pfd, 1, (int)((deadline - now) / 1000) + 1) <= 0)
			break;
		if ((n = read(fd, buf + len, size - len - 1)) <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
	}
	return len;
}

/*
 * gnutls-cli -V against secho-server with the priority prio and extra
 * args (NULL-terminated), sending line; *out gets its stdout + stderr.
 * At stdin EOF gnutls-cli says goodbye at once, possibly before the echo
 * is back, so its stdin is a FIFO we keep open until the echo has been
 * printed (or gnutls-cli has exited, or 20 s passed).  Our own read end
 * lets both opens succeed at once and spares us SIGPIPE if gnutls-cli is
 * already gone when we write.  Returns gnutls-cli's exit code.
 */
static int
gnutls_cli(char **out, const char *prio, const char *line,
    const char *const *extra)
{
	const char *argv[24] = { GNUTLS_CLI, "-V", "--x509cafile",
	    tu_cert("ca.pem"), "--port", tu_num(srv.port[0]), "--priority", prio };
	static char seen[65536];
	char fifo[320];
	struct tu_proc p;
	struct tu_result r;
	size_t len;
	int n = 8, rfd, wfd, rc;

	while (*extra != NULL && n < 22)
		argv[n++] = *extra++;
	argv[n++] = "localhost";
	argv[n] = NULL;
	snprintf(fifo, sizeof(fifo), "%s/stdin", tu_tmpdir());
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	wfd = open(fifo, O_WRONLY | O_CLOEXEC);
	ck_assert(rfd != -1 && wfd != -1);
	ck_assert_int_eq(tu_spawn(&p, argv, fifo), 0);
	ck_assert_int_eq(tu_write_all(wfd, line, strlen(line)), 0);
	close(rfd);
	len = read_until(p.outfd, seen, sizeof(seen), line, tu_slow(20000));
	close(wfd);
	rc = tu_wait(&p, 20000, &r);
	ck_assert(asprintf(out, "%.*s%s%s", (int)len, seen, r.out, r.err) >= 0);
	tu_result_free(&r);
	return rc;
}

/*
 * Starts gnutls-serv --echo on a free port and waits until it serves: a
 * TCP port is polled until a connect succeeds; a UDP port cannot be
 * probed that way, so its "listening ... done" line on stderr is the
 * signal.  Each pause waits on the child's pidfd, so a crash ends it.
 * timeout(1) bounds its life should a failed assertion skip stop_serv.
 */
static int
start_serv(struct tu_proc *p, int dgram, const char *prio,
    const char *const *extra)
{
	const char *argv[24] = { "/usr/bin/timeout", tu_num(tu_slow(120)),
	    GNUTLS_SERV, "--echo", "--priority", prio, "--x509certfile",
	    tu_cert("server.pem"), "--x509keyfile", tu_cert("server.key"),
	    "--port" };
	unsigned long long deadline = secho_now_us() +
	    tu_slow(15000) * 1000ULL;
	int port = tu_free_port(dgram), n = 11, up = 0;
	char ready[64];

	ck_assert_int_gt(port, 0);
	argv[n++] = tu_num(port);
	if (dgram)
		argv[n++] = "--udp";
	while (*extra != NULL && n < 23)
		argv[n++] = *extra++;
	argv[n] = NULL;
	snprintf(ready, sizeof(ready), "IPv4 0.0.0.0 port %d...done", port);
	ck_assert_int_eq(tu_spawn(p, argv, NULL), 0);
	while (!up && secho_now_us() < deadline) {
		struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };
		char *log = tu_slurp(p->errpath, NULL);
		int fd;

		if (dgram)
			up = log != NULL && strstr(log, ready) != NULL;
		else if ((fd = tu_connect(port, 0)) != -1) {
			close(fd);
			up = 1;
		}
		ck_assert_msg(up || poll(&pfd, 1, 20) == 0,
		    "gnutls-serv exited: %s", log != NULL ? tail(log) : "");
		free(log);
	}
	ck_assert_msg(up, "gnutls-serv never listened on port %d", port);
	return port;
}

/* SIGTERM, then reap; r gets what gnutls-serv printed (free it). */
static void
stop_serv(struct tu_proc *p, struct tu_result *r)
{
	kill(p->pid, SIGTERM);
	tu_wait(p, 10000, r);
}

/* secho-client -v proto -m msg with extra args; returns its exit code. */
static int
secho_client(struct tu_result *r, const char *proto, int port,
    const char *msg, const char *const *extra)
{
	const char *argv[24] = { tu_bin("secho-client"), proto, "-v", "-m",
	    msg, "--ca", tu_cert("ca.pem") };
	int n = 7;

	while (*extra != NULL && n < 21)
		argv[n++] = *extra++;
	argv[n++] = "localhost";
	argv[n++] = tu_num(port);
	argv[n] = NULL;
	return tu_run(argv, NULL, 0, 30000, r);
}

#define NO_ARGS		(const char *[]){ NULL }
#define CLI_CERT	(const char *[]){ "--x509certfile", \
	tu_cert("client.pem"), "--x509keyfile", tu_cert("client.key"), NULL }
#define CLIENT_CERT	(const char *[]){ "--cert", tu_cert("client.pem"), \
	"--key", tu_cert("client.key"), NULL }

/*
 * gnutls-cli with v's priority and extra args must exit 0 having verified
 * secho-server's chain, negotiated v and printed the echo of line.
 * Returns its output (free it).
 */
static char *
cli_echo(const struct version *v, const char *line,
    const char *const *extra)
{
	char *out;
	int rc = gnutls_cli(&out, v->prio, line, extra);

	ck_assert_msg(rc == 0, "gnutls-cli exited %d: %s", rc, tail(out));
	assert_has(out, "- Status: The certificate is trusted.");
	assert_version_line(out, v);
	assert_has(out, line);
	return out;
}

/* gnutls-cli → secho-server --tls, TLS 1.3 then TLS 1.2. */
START_TEST(gnutls_cli_to_server_tls)
{
	char *log;

	start_server("--tls", NULL);
	for (int i = 0; i < 2; i++)
		free(cli_echo(tls_versions[i], "gnutls-cli over tls\n",
		    NO_ARGS));
	log = stop_server();
	assert_has(log, "handshake done: TLSv1.3");
	assert_has(log, "handshake done: TLSv1.2");
	free(log);
}
END_TEST

/*
 * gnutls-cli → secho-server --record-layer secho: each TLS 1.3 suite
 * sealed and opened by secho's own record layer, with an implementation
 * that shares no code with OpenSSL on the other end.
 */
START_TEST(gnutls_cli_to_secho_records)
{
	static const struct version suites[] = {
		{ "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM",
		    "TLS1.3", "TLSv1.3" },
		{ "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-256-GCM",
		    "TLS1.3", "TLSv1.3" },
		{ "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:"
		    "+CHACHA20-POLY1305", "TLS1.3", "TLSv1.3" },
	};
	const char *name[] = { "TLS_AES_128_GCM_SHA256",
	    "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256" };
	const char *p;
	char *log;
	int n = 0;

	start_server("--tls", "--record-layer=secho");
	for (int i = 0; i < 3; i++)
		free(cli_echo(&suites[i], "gnutls-cli over secho's records\n",
		    NO_ARGS));
	log = stop_server();
	for (int i = 0; i < 3; i++)
		assert_has(log, name[i]);
	for (p = log; (p = strstr(p, "secho record layer")) != NULL; p++)
		n++;
	ck_assert_msg(n == 3, "%d of 3 sessions had secho's records: %s", n,
	    tail(log));
	free(log);
}
END_TEST

/* gnutls-cli --udp → secho-server --dtls (cookie exchange included). */
START_TEST(gnutls_cli_to_server_dtls)
{
	char *log;

	start_server("--dtls", NULL);
	free(cli_echo(&dtls12, "gnutls-cli over dtls\n",
	    (const char *[]){ "--udp", NULL }));
	log = stop_server();
	assert_has(log, "handshake done: DTLSv1.2");
	free(log);
}
END_TEST

/*
 * secho-client --tls → gnutls-serv --echo, each version forced there.
 * gnutls-serv echoes whole lines only (it closes the connection without
 * echoing a message that has no newline), so every message ends in one.
 */
START_TEST(client_to_gnutls_serv_tls)
{
	const char *msg = "secho-client to gnutls-serv\n";
	struct tu_proc peer;
	struct tu_result r, s;

	for (int i = 0; i < 2; i++) {
		int port = start_serv(&peer, 0, tls_versions[i]->prio, NO_ARGS);

		ck_assert_msg(secho_client(&r, "--tls", port, msg, NO_ARGS) ==
		    0, "secho-client: %s", tail(r.err));
		ck_assert_str_eq(r.out, msg);
		assert_has(r.err, tls_versions[i]->openssl);
		tu_result_free(&r);
		stop_serv(&peer, &s);
		assert_version_line(s.out, tls_versions[i]);
		tu_result_free(&s);
	}
}
END_TEST

/* secho-client --dtls → gnutls-serv --udp --echo. */
START_TEST(client_to_gnutls_serv_dtls)
{
	const char *msg = "secho-client to gnutls-serv over dtls\n";
	struct tu_proc peer;
	struct tu_result r, s;
	int port = start_serv(&peer, 1, dtls12.prio, NO_ARGS);

	ck_assert_msg(secho_client(&r, "--dtls", port, msg, NO_ARGS) == 0,
	    "secho-client: %s", tail(r.err));
	ck_assert_str_eq(r.out, msg);
	assert_has(r.err, dtls12.openssl);
	tu_result_free(&r);
	stop_serv(&peer, &s);
	tu_result_free(&s);
}
END_TEST

/*
 * Mutual TLS, gnutls-cli → secho-server --verify-client: a client
 * certificate from the CA gets its echo; none gets the alert (TLS 1.3:
 * certificate_required after gnutls-cli's side of the handshake ended;
 * TLS 1.2: handshake_failure) and a non-zero exit.
 */
START_TEST(mtls_gnutls_cli_to_server)
{
	static const char *alert[] = { "Certificate is required",
	    "Handshake failed" };
	const char *line = "gnutls-cli with a client cert\n";
	char *out, *log;
	int rc;

	start_server("--tls", "--verify-client");
	for (int i = 0; i < 2; i++) {
		out = cli_echo(tls_versions[i], line, CLI_CERT);
		assert_has(out, "Successfully sent 1 certificate(s)");
		free(out);

		rc = gnutls_cli(&out, tls_versions[i]->prio, line, NO_ARGS);
		ck_assert_msg(rc != 0, "no cert, yet gnutls-cli exited 0: %s",
		    tail(out));
		ck_assert_msg(strstr(out, line) == NULL, "echoed: %s",
		    tail(out));
		assert_has(out, alert[i]);
		free(out);
	}
	log = stop_server();
	assert_has(log, "client CN=secho client");
	assert_has(log, "the client sent no certificate");
	free(log);
}
END_TEST

/*
 * Mutual TLS, secho-client → gnutls-serv --require-client-cert, which
 * verifies the certificate against our CA; without one secho-client
 * fails the handshake (exit 3).
 */
START_TEST(mtls_client_to_gnutls_serv)
{
	const char *msg = "secho-client with a client cert\n";
	struct tu_proc peer;
	struct tu_result r, s;

	for (int i = 0; i < 2; i++) {
		int port = start_serv(&peer, 0, tls_versions[i]->prio,
		    (const char *[]){ "--require-client-cert",
		    "--verify-client-cert", "--x509cafile", tu_cert("ca.pem"),
		    NULL });

		ck_assert_msg(secho_client(&r, "--tls", port, msg,
		    CLIENT_CERT) == 0, "secho-client: %s", tail(r.err));
		ck_assert_str_eq(r.out, msg);
		tu_result_free(&r);
		ck_assert_int_eq(secho_client(&r, "--tls", port, msg, NO_ARGS),
		    SECHO_EXIT_TLS);
		ck_assert_str_eq(r.out, "");
		if (tls_versions[i] == &tls13)
			assert_has(r.err, "requires a client certificate");
		tu_result_free(&r);
		stop_serv(&peer, &s);
		assert_has(s.out, "- Status: The certificate is trusted.");
		assert_has(s.out, "Subject: CN=secho client");
		assert_has(s.err, "Error in handshake");
		tu_result_free(&s);
	}
}
END_TEST

/* Stands in for the matrix when GnuTLS is missing, and says why. */
START_TEST(gnutls_missing)
{
	tu_skip("%s or %s is not installed (Debian package gnutls-bin; run "
	    "scripts/deps.sh)", GNUTLS_CLI, GNUTLS_SERV);
}
END_TEST

Suite *
gnutls_suite(void)
{
	Suite *s = suite_create("gnutls");
	TCase *tc = tcase_create("gnutls");

	tcase_set_timeout(tc, 120);
	if (access(GNUTLS_CLI, X_OK) != 0 || access(GNUTLS_SERV, X_OK) != 0) {
		tcase_add_test(tc, gnutls_missing);
	} else {
		tcase_add_test(tc, gnutls_cli_to_server_tls);
		tcase_add_test(tc, gnutls_cli_to_secho_records);
		tcase_add_test(tc, gnutls_cli_to_server_dtls);
		tcase_add_test(tc, client_to_gnutls_serv_tls);
		tcase_add_test(tc, client_to_gnutls_serv_dtls);
		tcase_add_test(tc, mtls_gnutls_cli_to_server);
		tcase_add_test(tc, mtls_client_to_gnutls_serv);
	}
	suite_add_tcase(s, tc);
	return s;
}
