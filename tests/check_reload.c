/*
 * check_reload.c - SIGHUP: certificates and keys are read again for new
 * connections while live ones go on; a broken new file leaves the old one
 * serving; ticket keys shared through --ticket-key-file let a client
 * resume on another server, and survive a rotation.  A terminal's hangup
 * is no reload: it drains the server and ends it.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secho/tls.h"
#include "testutil.h"

static char dir[320];

/* A private copy of the certificates, to replace files in. */
static void
copy_certs(void)
{
	struct tu_result r;

	snprintf(dir, sizeof(dir), "%s/certs", tu_tmpdir());
	tu_assert_exit(tu_run((const char *[]){ "/bin/cp", "-r",
	    tu_certs(), dir, NULL }, NULL, 0, 10000, &r), &r, 0);
	tu_result_free(&r);
}

static const char *
in_dir(const char *file)
{
	static char buf[8][400];
	static int slot;
	char *b = buf[slot++ % 8];

	snprintf(b, sizeof(buf[0]), "%s/%s", dir, file);
	return b;
}


/* The SANs the server presents now, through secho-client -v. */
static char *
served_san(int port)
{
	struct tu_result r;
	char *san;

	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"),
	    "--tls", "-v", "-m", "x", "--ca", in_dir("ca.pem"), "localhost",
	    tu_num(port), NULL }, NULL, 0, 30000, &r), &r, 0);
	san = strdup(r.err);
	tu_result_free(&r);
	return san;
}

/* A TLS connection through libsecho, held open across the reload. */
static void
open_conn(struct secho_tls *t, struct secho_conn *c, int port)
{
	struct secho_sockaddr peer;
	int to, rc, fd = secho_net_connect("127.0.0.1", port, 0, 5000, &peer,
	    &to);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(secho_tls_conn_init(t, c, fd, "localhost"), 0);
	while ((rc = secho_conn_handshake(c)) == SECHO_WANT_READ ||
	    rc == SECHO_WANT_WRITE) {
		struct pollfd pfd = { .fd = fd, .events =
		    rc == SECHO_WANT_READ ? POLLIN : POLLOUT };

		ck_assert_msg(poll(&pfd, 1, tu_slow(5000)) == 1,
		    "no handshake answer in %d ms", tu_slow(5000));
	}
	ck_assert_msg(rc == 0, "handshake: %s", secho_conn_error(c));
}

static void
assert_conn_echoes(struct secho_conn *c, const char *msg)
{
	char buf[64];
	size_t got = 0, len = strlen(msg);
	ssize_t n;

	ck_assert_int_eq(secho_conn_write(c, msg, len), (ssize_t)len);
	while (got < len) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

		n = secho_conn_read(c, buf + got, sizeof(buf) - got);
		if (n == SECHO_WANT_READ) {
			ck_assert_msg(poll(&pfd, 1, tu_slow(5000)) == 1,
			    "no echo in %d ms", tu_slow(5000));
			continue;
		}
		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
	ck_assert(memcmp(buf, msg, len) == 0);
}

/* A certificate that has expired or expires within a week is logged. */
START_TEST(expiry_warnings)
{
	struct tu_server srv;
	struct tu_result r;
	char want[600];

	copy_certs();
	ck_assert_int_eq(tu_mkcerts((const char *[]){ "--out", dir, "--only",
	    "server", "--not-before", "2020-01-01", "--not-after",
	    "2020-02-01", NULL }), 0);
	ck_assert_int_eq(tu_server_start(&srv, (const char *[]){ "--tls",
	    "--port", "0", "--cert", in_dir("server.pem"), "--key",
	    in_dir("server.key"), NULL }, 1), 0);
	snprintf(want, sizeof(want), "warning: certificate %s expired on "
	    "2020-02-01 00:00:00 UTC", in_dir("server.pem"));
	ck_assert(tu_server_await_log(&srv, want, 10000));
	ck_assert_int_eq(tu_mkcerts((const char *[]){ "--out", dir, "--only",
	    "server", "--days", "3", NULL }), 0);
	kill(srv.proc.pid, SIGHUP);
	snprintf(want, sizeof(want), "warning: certificate %s expires in ",
	    in_dir("server.pem"));
	ck_assert(tu_server_await_log(&srv, want, 10000));
	ck_assert_int_eq(tu_server_stop(&srv, &r), 0);
	tu_result_free(&r);
}
END_TEST

START_TEST(reload_keeps_live_connections)
{
	struct secho_tls_opts o = { .ca = NULL };
	struct secho_tls *t;
	struct tu_server srv;
	struct secho_conn c;
	struct tu_result r;
	char *san;

	copy_certs();
	o.ca = in_dir("ca.pem");
	t = secho_tls_new(&o, SECHO_TLS_CLIENT, 0);
	ck_assert_int_eq(tu_server_start(&srv, (const char *[]){ "--tls",
	    "--port", "0", "--cert", in_dir("server.pem"), "--key",
	    in_dir("server.key"), NULL }, 1), 0);
	open_conn(t, &c, srv.port[0]);
	assert_conn_echoes(&c, "before");
	/* A new certificate with one more name, then SIGHUP. */
	ck_assert_int_eq(tu_mkcerts((const char *[]){ "--out", dir, "--only",
	    "server", "--host", "renewed.example", NULL }), 0);
	kill(srv.proc.pid, SIGHUP);
	tu_assert_log(&srv, "reloaded", 10000);
	san = served_san(srv.port[0]);
	ck_assert_msg(strstr(san, "renewed.example") != NULL, "%s", san);
	free(san);
	assert_conn_echoes(&c, "after");	/* the live one goes on */
	secho_conn_close(&c);
	/* A broken file: logged, and the last good one keeps serving. */
	tu_assert_exit(tu_run((const char *[]){ "/bin/cp", "/dev/null",
	    in_dir("server.pem"), NULL }, NULL, 0, 10000, &r), &r, 0);
	tu_result_free(&r);
	kill(srv.proc.pid, SIGHUP);
	tu_assert_log(&srv, "still serving the old", 10000);
	san = served_san(srv.port[0]);
	ck_assert_msg(strstr(san, "renewed.example") != NULL, "%s", san);
	free(san);
	tu_assert_exit(tu_server_stop(&srv, &r), &r, 0);
	tu_result_free(&r);
	secho_tls_free(t);
}
END_TEST

/*
 * A server in the foreground of a terminal: closing the terminal (its
 * window, its ssh session) must not leave it running as an orphan that
 * holds the port.  A kill -HUP still reloads; the hangup drains and exits.
 */
START_TEST(terminal_hangup_drains)
{
	struct tu_server srv;
	struct tu_result r;
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	const char *slave;

	ck_assert_int_ne(master, -1);
	ck_assert_int_eq(grantpt(master), 0);
	ck_assert_int_eq(unlockpt(master), 0);
	ck_assert_ptr_nonnull(slave = ptsname(master));
	ck_assert_int_eq(tu_server_start_in(&srv, (const char *[]){ "--tls",
	    "--port", "0", "-v", "--cert", tu_cert("server.pem"), "--key",
	    tu_cert("server.key"), NULL }, 1, slave), 0);
	kill(srv.proc.pid, SIGHUP);
	ck_assert(tu_server_await_log(&srv, "reloaded", 10000));
	tu_assert_echo("tls", srv.port[0], "still here");
	close(master);		/* the terminal goes away */
	ck_assert_int_eq(tu_wait(&srv.proc, 10000, &r), 0);
	ck_assert_msg(strstr(r.err, "terminal hung up: shutting down: "
	    "draining") != NULL, "%s", r.err);
	tu_result_free(&r);
}
END_TEST

static void
write_key(const char *path, unsigned seed)
{
	unsigned char key[80];
	struct tu_result r;
	char tmp[420];
	FILE *f;

	tu_pattern(key, sizeof(key), seed);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(key, 1, sizeof(key), f), sizeof(key));
	fclose(f);
	tu_assert_exit(tu_run((const char *[]){ "/bin/mv", tmp, path, NULL },
	    NULL, 0, 10000, &r), &r, 0);
	tu_result_free(&r);
}

/* openssl s_client with a session file; returns its output. */
static char *
s_client(int port, const char *flag, const char *sess)
{
	char connect[64], *out;
	struct tu_result r;

	snprintf(connect, sizeof(connect), "127.0.0.1:%d", port);
	tu_assert_exit(tu_run((const char *[]){ "/usr/bin/openssl",
	    "s_client", "-ign_eof", "-connect", connect, "-CAfile",
	    tu_cert("ca.pem"), flag, sess, NULL }, "x\n", 2, 30000, &r), &r, 0);
	out = strdup(r.out);
	tu_result_free(&r);
	return out;
}

static void
start_with_key(struct tu_server *srv, const char *key)
{
	ck_assert_int_eq(tu_server_start(srv, (const char *[]){ "--tls",
	    "--port", "0", "--idle-timeout", "0.3", "--cert",
	    tu_cert("server.pem"), "--key", tu_cert("server.key"),
	    "--ticket-key-file", key, NULL }, 1), 0);
}

START_TEST(shared_and_rotated_ticket_keys)
{
	struct tu_server a, b;
	struct tu_result r;
	char key[400], sess[400], *out;

	snprintf(key, sizeof(key), "%s/ticket.key", tu_tmpdir());
	snprintf(sess, sizeof(sess), "%s/session.pem", tu_tmpdir());
	write_key(key, 1);
	start_with_key(&a, key);
	start_with_key(&b, key);
	free(s_client(a.port[0], "-sess_out", sess));
	out = s_client(b.port[0], "-sess_in", sess);	/* other server */
	ck_assert_msg(strstr(out, "Reused, TLSv1.3") != NULL, "%s", out);
	free(out);
	/* Rotate: the ticket made under the old key still resumes. */
	write_key(key, 2);
	kill(a.proc.pid, SIGHUP);
	tu_assert_log(&a, "reloaded", 10000);
	out = s_client(a.port[0], "-sess_in", sess);
	ck_assert_msg(strstr(out, "Reused, TLSv1.3") != NULL, "%s", out);
	free(out);
	/* b never saw the new key; a ticket from a's new key is no use to
	 * it until it reloads too. */
	free(s_client(a.port[0], "-sess_out", sess));
	out = s_client(b.port[0], "-sess_in", sess);
	ck_assert_msg(strstr(out, "New, TLSv1.3") != NULL, "%s", out);
	free(out);
	tu_assert_exit(tu_server_stop(&a, &r), &r, 0);
	tu_result_free(&r);
	tu_assert_exit(tu_server_stop(&b, &r), &r, 0);
	tu_result_free(&r);
}
END_TEST

/*
 * Every reconnection resumes with a key file too: under TLS 1.3 a resumed
 * handshake issues a fresh ticket, since the client's used one is spent
 * (before, OpenSSL sent none, and every other reconnection was full).
 */
START_TEST(ticket_key_file_keeps_resuming)
{
	struct tu_server a;
	struct tu_result r;
	char key[400];

	snprintf(key, sizeof(key), "%s/ticket.key", tu_tmpdir());
	write_key(key, 1);
	start_with_key(&a, key);
	for (int v = 0; v < 2; v++) {
		tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"),
		    "--tls", "--tls-max", v == 0 ? "1.3" : "1.2", "--ca",
		    tu_cert("ca.pem"), "--resume", "4", "-m", "again",
		    "localhost", tu_num(a.port[0]), NULL }, NULL, 0, 30000, &r),
		    &r, 0);
		ck_assert_msg(strstr(r.out, "resumed 4 of 4 reconnections") !=
		    NULL, "TLS 1.%d: %s", v == 0 ? 3 : 2, r.out);
		tu_result_free(&r);
	}
	tu_assert_exit(tu_server_stop(&a, &r), &r, 0);
	tu_result_free(&r);
}
END_TEST

START_TEST(bad_ticket_key_file)
{
	struct tu_result r;
	char key[400];
	FILE *f;

	snprintf(key, sizeof(key), "%s/short.key", tu_tmpdir());
	f = fopen(key, "w");
	fputs("too short", f);
	fclose(f);
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-server"),
	    "--tls", "--port", "0", "--cert", tu_cert("server.pem"), "--key",
	    tu_cert("server.key"), "--ticket-key-file", key, NULL }, NULL, 0,
	    10000, &r), &r, 2);
	ck_assert_msg(strstr(r.err, "must hold exactly 80 bytes") != NULL,
	    "%s", r.err);
	tu_result_free(&r);
}
END_TEST

Suite *
reload_suite(void)
{
	Suite *s = suite_create("reload");
	TCase *tc = tcase_create("reload");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, reload_keeps_live_connections);
	tcase_add_test(tc, expiry_warnings);
	tcase_add_test(tc, shared_and_rotated_ticket_keys);
	tcase_add_test(tc, ticket_key_file_keeps_resuming);
	tcase_add_test(tc, bad_ticket_key_file);
	tcase_add_test(tc, terminal_hangup_drains);
	suite_add_tcase(s, tc);
	return s;
}
