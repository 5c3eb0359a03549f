/*
 * check_tls.c - in-process TLS: a client and a server struct secho_conn
 * over one non-blocking socketpair, stepped alternately in one thread
 * (the libtls tlstest pattern), so there are no ports and no waits.
 * Certificates come from scripts/mkcerts.py through the shared fixture.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secho/tls.h"
#include "testutil.h"

/* Handshake steps per side; a TLS 1.3 handshake needs 2-3. */
#define HS_STEPS 20
#define MIB (1024 * 1024)

/* "<dir>/<name>" in a rotating static buffer, like tu_cert(). */
static const char *
in_dir(const char *dir, const char *name)
{
	static char buf[8][512];
	static int slot;
	char *b = buf[slot++ % 8];

	snprintf(b, sizeof(buf[0]), "%s/%s", dir, name);
	return b;
}

/* --- extra certificate sets, minted once per run (in the parent) --- */

static char rsa_dir[300], other_dir[300], expired_dir[300];

static void
mint(char *dir, size_t len, const char *const *extra)
{
	const char *args[16];
	const char *tmp = tu_tmpdir();
	int n = 0;

	ck_assert_ptr_nonnull(tmp);
	snprintf(dir, len, "%s", tmp);
	args[n++] = "--out";
	args[n++] = dir;
	for (; *extra != NULL && n < 15; extra++)
		args[n++] = *extra;
	args[n] = NULL;
	ck_assert_msg(tu_mkcerts(args) == 0, "mkcerts into %s failed", dir);
}

static void
copy_file(const char *from, const char *to, mode_t mode)
{
	size_t len;
	char *data = tu_slurp(from, &len);
	FILE *f;

	ck_assert_msg(data != NULL, "cannot read %s", from);
	f = fopen(to, "w");
	ck_assert_msg(f != NULL, "cannot create %s", to);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(to, mode), 0);
	free(data);
}

static void
need_rsa(void)
{
	if (rsa_dir[0] == '\0')
		mint(rsa_dir, sizeof(rsa_dir),
		    (const char *[]){ "--rsa", "2048", NULL });
}

static void
need_other_ca(void)
{
	if (other_dir[0] == '\0')
		mint(other_dir, sizeof(other_dir), (const char *[]){ NULL });
}

/* The shared CA, with a server leaf that expired in 2020. */
static void
need_expired(void)
{
	static const char *const files[] = { "ca.pem", "ca.key",
	    "server.pem", "server.key", "client.pem", "client.key" };
	const char *tmp;

	if (expired_dir[0] != '\0')
		return;
	ck_assert_ptr_nonnull(tmp = tu_tmpdir());
	snprintf(expired_dir, sizeof(expired_dir), "%s", tmp);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		copy_file(tu_cert(files[i]), in_dir(expired_dir, files[i]),
		    strstr(files[i], ".key") ? 0600 : 0644);
	ck_assert(tu_mkcerts((const char *[]){ "--out", expired_dir,
	    "--only", "server", "--not-before", "2020-01-01",
	    "--not-after", "2020-02-01", NULL }) == 0);
}

static void
mint_setup(void)
{
	need_rsa();
	need_other_ca();
	need_expired();
}

/* --- a client and a server over one socketpair --- */

struct side {
	struct secho_tls *tls;
	struct secho_conn c;
	int hs;			/* last handshake result */
};

static struct side srv, cli;

static void
setup(void)
{
	/* A write to a closed socketpair must fail, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	memset(&srv, 0, sizeof(srv));
	memset(&cli, 0, sizeof(cli));
	srv.c.fd = cli.c.fd = -1;
	srv.hs = cli.hs = SECHO_WANT_READ;
}

static void
teardown(void)
{
	secho_conn_close(&srv.c);
	secho_conn_close(&cli.c);
	secho_tls_free(srv.tls);
	secho_tls_free(cli.tls);
	srv.tls = cli.tls = NULL;
}

static struct secho_tls *
server_tls_in(const char *dir)
{
	struct secho_tls_opts o = { 0 };
	struct secho_tls *t;

	o.cert = in_dir(dir, "server.pem");
	o.key = in_dir(dir, "server.key");
	t = secho_tls_new(&o, SECHO_TLS_SERVER, 0);
	ck_assert_msg(t != NULL, "%s", secho_error());
	return t;
}

static struct secho_tls *
client_tls_with(const char *ca, int insecure)
{
	struct secho_tls_opts o = { 0 };
	struct secho_tls *t;

	o.ca = ca;
	o.insecure = insecure;
	t = secho_tls_new(&o, SECHO_TLS_CLIENT, 0);
	ck_assert_msg(t != NULL, "%s", secho_error());
	return t;
}

/* Wraps both ends of a new non-blocking socketpair. */
static void
connect_pair(const char *name)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_msg(secho_tls_conn_init(srv.tls, &srv.c, sv[0], NULL) == 0,
	    "%s", secho_error());
	ck_assert_msg(secho_tls_conn_init(cli.tls, &cli.c, sv[1], name) == 0,
	    "%s", secho_error());
	ck_assert(secho_conn_is_tls(&srv.c) && secho_conn_is_tls(&cli.c));
	ck_assert_uint_eq(srv.c.flags, SECHO_CONN_SERVER);
	ck_assert_uint_eq(cli.c.flags, 0);
}

static int
hs_final(int rc)
{
	return rc != SECHO_WANT_READ && rc != SECHO_WANT_WRITE;
}

/*
 * Steps client and server alternately until both are done or failed
 * (or HS_STEPS rounds passed); results in cli.hs and srv.hs.
 */
static void
step_handshake(void)
{
	for (int i = 0; i < HS_STEPS; i++) {
		if (!hs_final(cli.hs))
			cli.hs = secho_conn_handshake(&cli.c);
		if (!hs_final(srv.hs))
			srv.hs = secho_conn_handshake(&srv.c);
		if (hs_final(cli.hs) && hs_final(srv.hs))
			return;
	}
}

static void
handshake_ok(void)
{
	step_handshake();
	ck_assert_msg(cli.hs == 0, "client handshake %d: %s", cli.hs,
	    secho_conn_error(&cli.c));
	ck_assert_msg(srv.hs == 0, "server handshake %d: %s", srv.hs,
	    secho_conn_error(&srv.c));
	ck_assert(cli.c.flags & SECHO_CONN_HS_DONE);
	ck_assert(srv.c.flags & SECHO_CONN_HS_DONE);
}

/* A default pair: the shared certs, client verifying "localhost". */
static void
open_default(void)
{
	srv.tls = server_tls_in(tu_certs());
	cli.tls = client_tls_with(tu_cert("ca.pem"), 0);
	connect_pair("localhost");
}

/* Writes all of buf from one side, reading on the other as needed. */
static void
send_all(struct side *from, const void *buf, size_t len)
{
	size_t off = 0;

	for (int i = 0; off < len && i < 1000; i++) {
		ssize_t n = secho_conn_write(&from->c, (const char *)buf + off,
		    len - off);

		if (n > 0)
			off += (size_t)n;
		else
			ck_assert_msg(n == SECHO_WANT_WRITE ||
			    n == SECHO_WANT_READ, "write %zd: %s", n,
			    secho_conn_error(&from->c));
	}
	ck_assert_uint_eq(off, len);
}

/* Reads exactly len bytes on one side (the peer has already written). */
static void
recv_exact(struct side *to, void *buf, size_t len)
{
	size_t got = 0;

	for (int i = 0; got < len && i < 1000; i++) {
		ssize_t n = secho_conn_read(&to->c, (char *)buf + got,
		    len - got);

		if (n > 0)
			got += (size_t)n;
		else
			ck_assert_msg(n == SECHO_WANT_READ, "read %zd: %s", n,
			    secho_conn_error(&to->c));
	}
	ck_assert_uint_eq(got, len);
}

/* One message each way, byte-exact. */
static void
roundtrip(const char *up, const char *down)
{
	char buf[256];

	send_all(&cli, up, strlen(up));
	recv_exact(&srv, buf, strlen(up));
	ck_assert_int_eq(memcmp(buf, up, strlen(up)), 0);
	send_all(&srv, down, strlen(down));
	recv_exact(&cli, buf, strlen(down));
	ck_assert_int_eq(memcmp(buf, down, strlen(down)), 0);
}

/* A WANT_* from a write means: repeat it later with the same length. */
static void
check_io(ssize_t n, const struct side *s, const char *what)
{
	ck_assert_msg(n > 0 || n == SECHO_WANT_READ || n == SECHO_WANT_WRITE,
	    "%s returned %zd: %s", what, n, secho_conn_error(&s->c));
}

/*
 * Streams total bytes from the client through the server's echo and
 * back, in chunks of varying size, handling every WANT_* like a poll
 * loop would, and compares what came back.
 */
static void
stream_echo(size_t total)
{
	unsigned char *src = malloc(total), *back = malloc(total);
	unsigned char *sbuf = malloc(65536);
	size_t sent = 0, got = 0, slen = 0, soff = 0;
	size_t c_retry = 0, s_retry = 0;
	long steps = 0;

	ck_assert(src != NULL && back != NULL && sbuf != NULL);
	tu_pattern(src, total, 7);
	while (got < total) {
		ssize_t n;

		ck_assert_msg(++steps < 200000, "no progress: sent %zu, "
		    "echoed %zu, got %zu", sent, soff, got);
		if (sent < total) {
			/* 1 .. 40000 bytes: single bytes to several records */
			size_t len = c_retry ? c_retry :
			    1 + (size_t)(steps * 7919 % 40000);

			if (len > total - sent)
				len = total - sent;
			n = secho_conn_write(&cli.c, src + sent, len);
			check_io(n, &cli, "client write");
			c_retry = n > 0 ? 0 : len;
			if (n > 0)
				sent += (size_t)n;
		}
		if (soff == slen) {
			n = secho_conn_read(&srv.c, sbuf, 65536);
			check_io(n, &srv, "server read");
			if (n > 0) {
				slen = (size_t)n;
				soff = 0;
			}
		}
		if (soff < slen) {
			size_t len = s_retry ? s_retry : slen - soff;

			n = secho_conn_write(&srv.c, sbuf + soff, len);
			check_io(n, &srv, "server write");
			s_retry = n > 0 ? 0 : len;
			if (n > 0)
				soff += (size_t)n;
		}
		n = secho_conn_read(&cli.c, back + got, total - got);
		check_io(n, &cli, "client read");
		if (n > 0)
			got += (size_t)n;
	}
	ck_assert_uint_eq(sent, total);
	ck_assert_msg(memcmp(src, back, total) == 0, "the echo differs");
	free(src);
	free(back);
	free(sbuf);
}

/* --- the handshake matrix: {ECDSA, RSA} x {DNS name, IP address} --- */

START_TEST(test_handshake_echo)
{
	const char *dir = (_i & 2) ? rsa_dir : tu_certs();
	const char *name = (_i & 1) ? "127.0.0.1" : "localhost";
	struct secho_tls_info info;
	char desc[128];

	srv.tls = server_tls_in(dir);
	cli.tls = client_tls_with(in_dir(dir, "ca.pem"), 0);
	connect_pair(name);
	ck_assert_str_eq(secho_conn_describe(&cli.c, desc, sizeof(desc)),
	    "tls (handshaking)");
	handshake_ok();
	ck_assert(srv.c.flags & SECHO_CONN_SERVER);
	ck_assert(!(cli.c.flags & SECHO_CONN_SERVER));
	ck_assert_uint_eq(cli.c.flags & (SECHO_CONN_UNCLEAN |
	    SECHO_CONN_VERIFY | SECHO_CONN_NOT_TLS), 0);

	ck_assert_int_eq(secho_tls_conn_info(&cli.c, &info), 0);
	ck_assert_str_eq(info.version, "TLSv1.3");
	ck_assert_msg(strncmp(info.cipher, "TLS_", 4) == 0, "cipher '%s'",
	    info.cipher);
	ck_assert_str_eq(info.group, "X25519");
	ck_assert_msg(strstr(info.subject, "CN=localhost") != NULL,
	    "subject '%s'", info.subject);
	ck_assert_msg(strstr(info.issuer, "CN=secho local CA") != NULL,
	    "issuer '%s'", info.issuer);
	ck_assert_str_eq(info.verify, "ok");
	ck_assert_msg(strstr(info.not_before, " UTC") != NULL &&
	    strstr(info.not_after, " UTC") != NULL, "validity '%s' '%s'",
	    info.not_before, info.not_after);
	ck_assert_str_eq(info.san, "DNS:localhost, IP:127.0.0.1, IP:::1");
	ck_assert_str_eq(info.key, (_i & 2) ? "RSA 2048" : "EC prime256v1");
	ck_assert_int_eq(info.resumed, 0);
	secho_conn_describe(&cli.c, desc, sizeof(desc));
	ck_assert_msg(strncmp(desc, "TLSv1.3 TLS_", 12) == 0 &&
	    strstr(desc, info.cipher) != NULL, "describe '%s'", desc);

	/* The server asked for no certificate and verified none. */
	ck_assert_int_eq(secho_tls_conn_info(&srv.c, &info), 0);
	ck_assert_str_eq(info.version, "TLSv1.3");
	ck_assert_str_eq(info.subject, "");
	ck_assert_str_eq(info.verify, "not verified");

	roundtrip("hello\n", "world, and \0 binary\xff");
	stream_echo(MIB);
	roundtrip("x", "y");
}
END_TEST

START_TEST(test_handshake_again)
{
	open_default();
	handshake_ok();
	ck_assert_int_eq(secho_conn_handshake(&cli.c), 0);
	ck_assert_int_eq(secho_conn_handshake(&srv.c), 0);
	roundtrip("ping", "pong");
	ck_assert_int_eq(secho_conn_handshake(&srv.c), 0);
	ck_assert_int_eq(secho_conn_handshake(&cli.c), 0);
	roundtrip("ping2", "pong2");
}
END_TEST

START_TEST(test_pending)
{
	char buf[16];
	size_t got = 0;

	open_default();
	handshake_ok();
	ck_assert_uint_eq(secho_conn_pending(&srv.c), 0);
	/* Three records. */
	send_all(&cli, "abc", 3);
	send_all(&cli, "def", 3);
	send_all(&cli, "ghi", 3);
	recv_exact(&srv, buf, 1);
	ck_assert_int_eq(buf[0], 'a');
	/* The rest of the first record sits decrypted inside OpenSSL,
	 * where epoll cannot see it. */
	ck_assert_uint_eq(secho_conn_pending(&srv.c), 2);
	while (got < 8) {
		ssize_t n = secho_conn_read(&srv.c, buf + got, 8 - got);

		ck_assert_msg(n > 0, "read %zd: %s", n,
		    secho_conn_error(&srv.c));
		got += (size_t)n;
	}
	ck_assert_int_eq(memcmp(buf, "bcdefghi", 8), 0);
	ck_assert_uint_eq(secho_conn_pending(&srv.c), 0);
	ck_assert_int_eq(secho_conn_read(&srv.c, buf, sizeof(buf)),
	    SECHO_WANT_READ);
}
END_TEST

START_TEST(test_clean_shutdown)
{
	char buf[8];

	open_default();
	handshake_ok();
	roundtrip("a", "b");
	ck_assert_int_eq(secho_conn_shutdown(&cli.c), 0);
	ck_assert_int_eq(secho_conn_read(&srv.c, buf, sizeof(buf)),
	    SECHO_IO_EOF);
	ck_assert_msg(!(srv.c.flags & SECHO_CONN_UNCLEAN), "close_notify "
	    "was taken for an unclean EOF");
	/* And back: the server's close_notify reaches the client. */
	ck_assert_int_eq(secho_conn_shutdown(&srv.c), 0);
	ck_assert_int_eq(secho_conn_read(&cli.c, buf, sizeof(buf)),
	    SECHO_IO_EOF);
	ck_assert(!(cli.c.flags & SECHO_CONN_UNCLEAN));
}
END_TEST

START_TEST(test_unclean_eof)
{
	char buf[8];

	open_default();
	handshake_ok();
	/* The client has read the session tickets: nothing is unread
	 * when it goes, so the server sees a plain EOF, not a reset. */
	roundtrip("a", "b");
	close(cli.c.fd);
	cli.c.fd = -1;
	ck_assert_int_eq(secho_conn_read(&srv.c, buf, sizeof(buf)),
	    SECHO_IO_EOF);
	ck_assert(srv.c.flags & SECHO_CONN_UNCLEAN);
}
END_TEST

START_TEST(test_write_to_closed_peer)
{
	ssize_t n = 0;

	open_default();
	handshake_ok();
	roundtrip("a", "b");
	close(cli.c.fd);
	cli.c.fd = -1;
	for (int i = 0; i < 10 && n >= 0; i++)
		n = secho_conn_write(&srv.c, "data", 4);
	ck_assert_int_eq(n, SECHO_IO_ERR);
	ck_assert_str_eq(secho_conn_error(&srv.c), "write: Broken pipe");
}
END_TEST

START_TEST(test_shutdown_before_handshake)
{
	open_default();
	/* Nothing to protect yet: done at once, nothing sent. */
	ck_assert_int_eq(secho_conn_shutdown(&cli.c), 0);
	ck_assert_int_eq(secho_conn_handshake(&srv.c), SECHO_WANT_READ);
}
END_TEST

START_TEST(test_keylog)
{
	static const char *const labels[] = {
	    "CLIENT_HANDSHAKE_TRAFFIC_SECRET ",
	    "SERVER_HANDSHAKE_TRAFFIC_SECRET ", "CLIENT_TRAFFIC_SECRET_0 ",
	    "SERVER_TRAFFIC_SECRET_0 ", "EXPORTER_SECRET " };
	struct secho_tls_opts so = { 0 }, co = { 0 };
	const char *dir = tu_tmpdir();
	char cpath[512], spath[512], *clog, *slog, *line;
	struct stat st;
	int seen[5] = { 0 }, nlines = 0;

	snprintf(cpath, sizeof(cpath), "%s/client-keys.log", dir);
	snprintf(spath, sizeof(spath), "%s/server-keys.log", dir);
	so.cert = tu_cert("server.pem");
	so.key = tu_cert("server.key");
	so.keylog = spath;
	co.ca = tu_cert("ca.pem");
	co.keylog = cpath;
	ck_assert_ptr_nonnull(srv.tls = secho_tls_new(&so, SECHO_TLS_SERVER,
	    0));
	ck_assert_ptr_nonnull(cli.tls = secho_tls_new(&co, SECHO_TLS_CLIENT,
	    0));
	connect_pair("localhost");
	handshake_ok();
	roundtrip("k", "l");

	ck_assert_int_eq(stat(cpath, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(spath, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_ptr_nonnull(clog = tu_slurp(cpath, NULL));
	ck_assert_ptr_nonnull(slog = tu_slurp(spath, NULL));
	for (line = strtok(clog, "\n"); line != NULL;
	    line = strtok(NULL, "\n")) {
		char label[64], random[80], secret[160];

		nlines++;
		/* "LABEL <client random, 32 bytes hex> <secret hex>" */
		ck_assert_msg(sscanf(line, "%63s %79s %159s", label, random,
		    secret) == 3, "bad line '%s'", line);
		ck_assert_uint_eq(strlen(random), 64);
		ck_assert_uint_eq(strspn(random, "0123456789abcdef"), 64);
		ck_assert_uint_ge(strlen(secret), 64);
		/* Both ends derived the very same secrets. */
		ck_assert_msg(strstr(slog, line) != NULL, "server log lacks "
		    "'%s'", line);
		for (int i = 0; i < 5; i++)
			if (strncmp(line, labels[i], strlen(labels[i])) == 0)
				seen[i]++;
	}
	for (int i = 0; i < 5; i++)
		ck_assert_msg(seen[i] == 1, "'%s' seen %d times", labels[i],
		    seen[i]);
	ck_assert_int_eq(nlines, 5);
	free(clog);
	free(slog);
}
END_TEST

/* --- verification failures --- */

/* The client failed verification with exactly msg; the server too. */
static void
assert_verify_failed(const char *msg)
{
	step_handshake();
	ck_assert_msg(cli.hs == SECHO_IO_ERR, "client handshake %d",
	    cli.hs);
	ck_assert(cli.c.flags & SECHO_CONN_VERIFY);
	ck_assert(!(cli.c.flags & SECHO_CONN_HS_DONE));
	ck_assert_str_eq(secho_conn_error(&cli.c), msg);
	/* The alert tells the server who refused. */
	ck_assert_msg(srv.hs == SECHO_IO_ERR, "server handshake %d",
	    srv.hs);
	ck_assert(!(srv.c.flags & SECHO_CONN_VERIFY));
	ck_assert_msg(strncmp(secho_conn_error(&srv.c), "the client rejected "
	    "the handshake: ", 35) == 0, "'%s'", secho_conn_error(&srv.c));
}

START_TEST(test_wrong_ca)
{
	srv.tls = server_tls_in(tu_certs());
	cli.tls = client_tls_with(in_dir(other_dir, "ca.pem"), 0);
	connect_pair("localhost");
	assert_verify_failed("certificate verify failed: unable to get "
	    "local issuer certificate (issuer CN=secho local CA,O=secho)");
	ck_assert_str_eq(secho_conn_error(&srv.c), "the client rejected the "
	    "handshake: tlsv1 alert unknown ca");
}
END_TEST

START_TEST(test_hostname_mismatch)
{
	srv.tls = server_tls_in(tu_certs());
	cli.tls = client_tls_with(tu_cert("ca.pem"), 0);
	connect_pair("wrong.example");
	assert_verify_failed("certificate verify failed: hostname mismatch "
	    "(the certificate is for DNS:localhost, IP:127.0.0.1, IP:::1)");
}
END_TEST

START_TEST(test_ip_mismatch)
{
	srv.tls = server_tls_in(tu_certs());
	cli.tls = client_tls_with(tu_cert("ca.pem"), 0);
	connect_pair("10.9.8.7");
	assert_verify_failed("certificate verify failed: IP address "
	    "mismatch (the certificate is for DNS:localhost, IP:127.0.0.1, "
	    "IP:::1)");
}
END_TEST

START_TEST(test_ipv6_name)
{
	struct secho_tls_info info;

	/* The ::1 IP SAN matches; another v6 address does not. */
	srv.tls = server_tls_in(tu_certs());
	cli.tls = client_tls_with(tu_cert("ca.pem"), 0);
	connect_pair("::1");
	handshake_ok();
	ck_assert_int_eq(secho_tls_conn_info(&cli.c, &info), 0);
	ck_assert_str_eq(info.verify, "ok");
	teardown();
	setup();
	srv.tls = server_tls_in(tu_certs());
	cli.tls = client_tls_with(tu_cert("ca.pem"), 0);
	connect_pair("::2");
	assert_verify_failed("certificate verify failed: IP address "
	    "mismatch (the certificate is for DNS:localhost, IP:127.0.0.1, "
	    "IP:::1)");
}
END_TEST

START_TEST(test_expired)
{
	srv.tls = server_tls_in(expired_dir);
	cli.tls = client_tls_with(in_dir(expired_dir, "ca.pem"), 0);
	connect_pair("localhost");
	assert_verify_failed("certificate verify failed: certificate has "
	    "expired (notAfter 2020-02-01 00:00:00 UTC)");
}
END_TEST

START_TEST(test_insecure)
{
	struct secho_tls_info info;

	/* Wrong CA, wrong name: --insecure checks neither. */
	srv.tls = server_tls_in(tu_certs());
	cli.tls = client_tls_with(in_dir(other_dir, "ca.pem"), 1);
	connect_pair(_i ? "10.9.8.7" : "wrong.example");
	handshake_ok();
	ck_assert(!(cli.c.flags & SECHO_CONN_VERIFY));
	ck_assert_int_eq(secho_tls_conn_info(&cli.c, &info), 0);
	ck_assert_str_eq(info.verify, "not verified");
	ck_assert_msg(strstr(info.subject, "CN=localhost") != NULL, "'%s'",
	    info.subject);
	roundtrip("insecure", "but encrypted");
}
END_TEST

START_TEST(test_expired_insecure)
{
	srv.tls = server_tls_in(expired_dir);
	cli.tls = client_tls_with(NULL, 1);
	connect_pair("localhost");
	handshake_ok();
	roundtrip("old", "cert");
}
END_TEST

/* --- peers that are not TLS or go away --- */

START_TEST(test_not_tls)
{
	static const char *const greetings[] = { "hello\n",
	    "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
	    "SSH-2.0-OpenSSH_9.2\r\n" };
	const char *g = greetings[_i];

	open_default();
	ck_assert_int_eq(write(cli.c.fd, g, strlen(g)), (ssize_t)strlen(g));
	srv.hs = secho_conn_handshake(&srv.c);
	ck_assert_int_eq(srv.hs, SECHO_IO_ERR);
	ck_assert(srv.c.flags & SECHO_CONN_NOT_TLS);
	ck_assert(!(srv.c.flags & SECHO_CONN_VERIFY));
	ck_assert_msg(strstr(secho_conn_error(&srv.c), "does not speak TLS"),
	    "'%s'", secho_conn_error(&srv.c));
	ck_assert_msg(strncmp(secho_conn_error(&srv.c), "the client does not "
	    "speak TLS (", 29) == 0, "'%s'", secho_conn_error(&srv.c));
}
END_TEST

START_TEST(test_server_not_tls)
{
	/* A server that greets in clear text, like SMTP. */
	open_default();
	cli.hs = secho_conn_handshake(&cli.c);
	ck_assert_int_eq(cli.hs, SECHO_WANT_READ);
	ck_assert_int_eq(write(srv.c.fd, "220 smtp.example ESMTP\r\n", 24),
	    24);
	cli.hs = secho_conn_handshake(&cli.c);
	ck_assert_int_eq(cli.hs, SECHO_IO_ERR);
	ck_assert(cli.c.flags & SECHO_CONN_NOT_TLS);
	ck_assert_msg(strncmp(secho_conn_error(&cli.c), "the server does not "
	    "speak TLS (", 29) == 0, "'%s'", secho_conn_error(&cli.c));
}
END_TEST

START_TEST(test_client_gone_mid_handshake)
{
	open_default();
	/* _i == 0: after its ClientHello; 1: before saying anything. */
	if (_i == 0) {
		cli.hs = secho_conn_handshake(&cli.c);
		ck_assert_int_eq(cli.hs, SECHO_WANT_READ);
	}
	close(cli.c.fd);
	cli.c.fd = -1;
	srv.hs = secho_conn_handshake(&srv.c);
	ck_assert_msg(srv.hs == SECHO_IO_EOF, "server handshake %d: %s",
	    srv.hs, secho_conn_error(&srv.c));
	ck_assert(!(srv.c.flags & SECHO_CONN_HS_DONE));
	ck_assert_str_eq(secho_conn_error(&srv.c), "the client closed the "
	    "connection during the TLS handshake");
}
END_TEST

START_TEST(test_server_gone_mid_handshake)
{
	open_default();
	close(srv.c.fd);
	srv.c.fd = -1;
	cli.hs = secho_conn_handshake(&cli.c);
	ck_assert_msg(cli.hs == SECHO_IO_EOF, "client handshake %d: %s",
	    cli.hs, secho_conn_error(&cli.c));
	ck_assert_str_eq(secho_conn_error(&cli.c), "the server closed the "
	    "connection during the TLS handshake");
}
END_TEST

/* --- client certificates (mTLS) --- */

static struct secho_tls *
mtls_server(int verify)
{
	struct secho_tls_opts o = { 0 };
	struct secho_tls *t;

	o.cert = tu_cert("server.pem");
	o.key = tu_cert("server.key");
	o.ca = tu_cert("ca.pem");
	o.verify_client = verify;
	t = secho_tls_new(&o, SECHO_TLS_SERVER, 0);
	ck_assert_msg(t != NULL, "%s", secho_error());
	return t;
}

static struct secho_tls *
mtls_client(const char *dir)
{
	struct secho_tls_opts o = { 0 };
	struct secho_tls *t;

	o.ca = tu_cert("ca.pem");
	o.cert = in_dir(dir, "client.pem");
	o.key = in_dir(dir, "client.key");
	t = secho_tls_new(&o, SECHO_TLS_CLIENT, 0);
	ck_assert_msg(t != NULL, "%s", secho_error());
	return t;
}

START_TEST(test_mtls_ok)
{
	struct secho_tls_info info;

	srv.tls = mtls_server(2);
	cli.tls = mtls_client(tu_certs());
	connect_pair("localhost");
	handshake_ok();
	ck_assert_int_eq(secho_tls_conn_info(&srv.c, &info), 0);
	ck_assert_msg(strstr(info.subject, "CN=secho client") != NULL, "'%s'",
	    info.subject);
	ck_assert_str_eq(info.verify, "ok");
	roundtrip("mutual", "trust");
}
END_TEST

START_TEST(test_mtls_optional_without_cert)
{
	struct secho_tls_info info;

	srv.tls = mtls_server(1);
	cli.tls = client_tls_with(tu_cert("ca.pem"), 0);
	connect_pair("localhost");
	handshake_ok();
	roundtrip("no cert", "fine");
	ck_assert_int_eq(secho_tls_conn_info(&srv.c, &info), 0);
	ck_assert_str_eq(info.subject, "");
}
END_TEST

/* The server's verdict on the client reaches the client on its read. */
static void
client_read_fails(void)
{
	char buf[8];
	ssize_t n = 0;

	for (int i = 0; i < 10; i++) {
		n = secho_conn_read(&cli.c, buf, sizeof(buf));
		if (n != SECHO_WANT_READ)
			break;
	}
	ck_assert_msg(n == SECHO_IO_ERR, "client read %zd", n);
	ck_assert_msg(strncmp(secho_conn_error(&cli.c), "the server ", 11) == 0,
	    "'%s'", secho_conn_error(&cli.c));
}

START_TEST(test_mtls_required_without_cert)
{
	srv.tls = mtls_server(2);
	cli.tls = client_tls_with(tu_cert("ca.pem"), 0);
	connect_pair("localhost");
	step_handshake();
	/* TLS 1.3: the client is done before the server has judged it. */
	ck_assert_int_eq(cli.hs, 0);
	ck_assert_int_eq(srv.hs, SECHO_IO_ERR);
	ck_assert_str_eq(secho_conn_error(&srv.c), "the client sent no "
	    "certificate (--verify-client requires one)");
	client_read_fails();
	ck_assert_str_eq(secho_conn_error(&cli.c), "the server rejected our "
	    "certificate: it requires a client certificate (try --mtls, or "
	    "--cert and --key)");
}
END_TEST

START_TEST(test_mtls_untrusted_client)
{
	srv.tls = mtls_server(2);
	cli.tls = mtls_client(other_dir);
	connect_pair("localhost");
	step_handshake();
	ck_assert_int_eq(cli.hs, 0);
	ck_assert_int_eq(srv.hs, SECHO_IO_ERR);
	ck_assert(srv.c.flags & SECHO_CONN_VERIFY);
	ck_assert_str_eq(secho_conn_error(&srv.c), "client certificate verify "
	    "failed: unable to get local issuer certificate (issuer CN=secho "
	    "local CA,O=secho)");
	client_read_fails();
	ck_assert_str_eq(secho_conn_error(&cli.c), "the server rejected our "
	    "certificate: it does not trust the CA that signed it");
}
END_TEST

/* --- DTLS over a connected pair of loopback UDP sockets --- */

static int
sa_port(const struct secho_sockaddr *sa)
{
	return ntohs(((const struct sockaddr_in *)&sa->ss)->sin_port);
}

static void
connect_dtls(const char *name)
{
	struct secho_sockaddr a, b;
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	int sv[2], to;

	srv.tls = secho_tls_new(&(struct secho_tls_opts){
	    .cert = tu_cert("server.pem"), .key = tu_cert("server.key") },
	    SECHO_TLS_SERVER, 1);
	ck_assert_msg(srv.tls != NULL, "%s", secho_error());
	cli.tls = secho_tls_new(&(struct secho_tls_opts){
	    .ca = tu_cert("ca.pem") }, SECHO_TLS_CLIENT, 1);
	ck_assert_msg(cli.tls != NULL, "%s", secho_error());
	sv[0] = secho_net_listen("127.0.0.1", 0, 1, 0, 0, &a);
	ck_assert_msg(sv[0] >= 0, "%s", secho_error());
	sv[1] = secho_net_connect("127.0.0.1", sa_port(&a), 1, 1000, &b, &to);
	ck_assert_msg(sv[1] >= 0, "%s", secho_error());
	ck_assert_int_eq(getsockname(sv[1], (struct sockaddr *)&local, &len),
	    0);
	ck_assert_int_eq(connect(sv[0], (struct sockaddr *)&local, len), 0);
	ck_assert_msg(secho_tls_conn_init(srv.tls, &srv.c, sv[0], NULL) == 0,
	    "%s", secho_error());
	ck_assert_msg(secho_tls_conn_init(cli.tls, &cli.c, sv[1], name) == 0,
	    "%s", secho_error());
}

/* Reads one datagram (waiting for the kernel, bounded). */
static ssize_t
read_dgram(struct side *s, void *buf, size_t len)
{
	ssize_t n = SECHO_WANT_READ;

	for (int i = 0; i < 100 && n == SECHO_WANT_READ; i++) {
		struct pollfd pfd = { .fd = s->c.fd, .events = POLLIN };

		n = secho_conn_read(&s->c, buf, len);
		if (n == SECHO_WANT_READ)
			ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
	}
	return n;
}

START_TEST(test_dtls_echo)
{
	static const size_t sizes[] = { 1, 1200, 9000 };
	unsigned char out[9000], in[9100];
	struct secho_tls_info info;

	connect_dtls(_i ? "127.0.0.1" : "localhost");
	handshake_ok();
	ck_assert_int_eq(secho_tls_conn_info(&cli.c, &info), 0);
	ck_assert_str_eq(info.version, "DTLSv1.2");
	ck_assert_str_eq(info.group, "X25519");
	ck_assert_str_eq(info.verify, "ok");
	ck_assert_msg(strstr(info.subject, "CN=localhost") != NULL, "'%s'",
	    info.subject);
	/* Datagrams keep their boundaries both ways. */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		tu_pattern(out, sizes[i], (unsigned)i);
		ck_assert_int_eq(secho_conn_write(&cli.c, out, sizes[i]),
		    (ssize_t)sizes[i]);
	}
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		ssize_t n = read_dgram(&srv, in, sizeof(in));

		tu_pattern(out, sizes[i], (unsigned)i);
		ck_assert_int_eq(n, (ssize_t)sizes[i]);
		ck_assert_int_eq(memcmp(in, out, sizes[i]), 0);
		ck_assert_int_eq(secho_conn_write(&srv.c, in, (size_t)n), n);
		ck_assert_int_eq(read_dgram(&cli, in, sizeof(in)), n);
		ck_assert_int_eq(memcmp(in, out, sizes[i]), 0);
	}
}
END_TEST

START_TEST(test_dtls_hostname_mismatch)
{
	connect_dtls("wrong.example");
	assert_verify_failed("certificate verify failed: hostname mismatch "
	    "(the certificate is for DNS:localhost, IP:127.0.0.1, IP:::1)");
}
END_TEST

START_TEST(test_dtls_ignores_junk)
{
	/* DTLS drops records it cannot parse instead of failing (RFC 6347
	 * 4.1.2.7): a stray datagram must not kill the handshake. */
	connect_dtls("localhost");
	ck_assert_int_eq(write(cli.c.fd, "hello\n", 6), 6);
	ck_assert_int_eq(secho_conn_handshake(&srv.c), SECHO_WANT_READ);
	handshake_ok();
}
END_TEST

/* --- context setup errors --- */

static const char *
write_tmp(const char *name, const char *content)
{
	const char *path = in_dir(tu_tmpdir(), name);
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(content, f);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

/* secho_tls_new fails for role with exactly msg (or msg as a prefix). */
static void
assert_new_fails(const struct secho_tls_opts *o, enum secho_tls_role role,
    const char *msg, int prefix)
{
	struct secho_tls *t;

	secho_error_set("untouched");
	t = secho_tls_new(o, role, 0);
	if (t != NULL)
		secho_tls_free(t);
	ck_assert_msg(t == NULL, "secho_tls_new succeeded");
	if (prefix)
		ck_assert_msg(strncmp(secho_error(), msg, strlen(msg)) == 0,
		    "'%s' does not start with '%s'", secho_error(), msg);
	else
		ck_assert_str_eq(secho_error(), msg);
}

START_TEST(test_missing_cert)
{
	struct secho_tls_opts o = { 0 };
	char want[1024], path[512];

	snprintf(path, sizeof(path), "%s/nope/server.pem", tu_tmpdir());
	o.cert = path;
	o.key = tu_cert("server.key");
	snprintf(want, sizeof(want), "cannot read certificate %s: No such "
	    "file or directory (run 'make certs' to create it)", path);
	assert_new_fails(&o, SECHO_TLS_SERVER, want, 0);
}
END_TEST

START_TEST(test_missing_key)
{
	struct secho_tls_opts o = { 0 };
	char want[1024], path[512];

	snprintf(path, sizeof(path), "%s/server.key", tu_tmpdir());
	o.cert = tu_cert("server.pem");
	o.key = path;
	snprintf(want, sizeof(want), "cannot read private key %s: No such "
	    "file or directory (run 'make certs' to create it)", path);
	assert_new_fails(&o, SECHO_TLS_SERVER, want, 0);
}
END_TEST

START_TEST(test_missing_ca)
{
	struct secho_tls_opts o = { 0 };
	char want[1024], path[512];

	snprintf(path, sizeof(path), "%s/ca.pem", tu_tmpdir());
	o.ca = path;
	snprintf(want, sizeof(want), "cannot read CA file %s: No such file "
	    "or directory (run 'make certs' to create it)", path);
	assert_new_fails(&o, SECHO_TLS_CLIENT, want, 0);
	/* The server needs the CA only to check client certificates. */
	o.cert = tu_cert("server.pem");
	o.key = tu_cert("server.key");
	o.verify_client = 1;
	assert_new_fails(&o, SECHO_TLS_SERVER, want, 0);
	o.verify_client = 0;
	srv.tls = secho_tls_new(&o, SECHO_TLS_SERVER, 0);
	ck_assert_msg(srv.tls != NULL, "%s", secho_error());
}
END_TEST

START_TEST(test_key_mismatch)
{
	struct secho_tls_opts o = { 0 };
	char want[1024];

	o.cert = tu_cert("server.pem");
	o.key = tu_cert("client.key");
	snprintf(want, sizeof(want), "certificate %s does not match private "
	    "key %s", o.cert, o.key);
	assert_new_fails(&o, SECHO_TLS_SERVER, want, 0);
	/* The same for a client certificate. */
	o.cert = tu_cert("client.pem");
	o.key = tu_cert("server.key");
	o.ca = tu_cert("ca.pem");
	snprintf(want, sizeof(want), "certificate %s does not match private "
	    "key %s", o.cert, o.key);
	assert_new_fails(&o, SECHO_TLS_CLIENT, want, 0);
}
END_TEST

START_TEST(test_key_type_mismatch)
{
	struct secho_tls_opts o = { 0 };
	char want[1024];

	/* An ECDSA certificate with an RSA key. */
	o.cert = tu_cert("server.pem");
	o.key = in_dir(rsa_dir, "server.key");
	snprintf(want, sizeof(want), "certificate %s does not match private "
	    "key %s", o.cert, o.key);
	assert_new_fails(&o, SECHO_TLS_SERVER, want, 0);
}
END_TEST

START_TEST(test_garbage_files)
{
	struct secho_tls_opts o = { 0 };
	const char *junk = write_tmp("junk.pem", "this is not PEM\n");
	char want[1024];

	o.cert = junk;
	o.key = tu_cert("server.key");
	snprintf(want, sizeof(want), "cannot load certificate %s", junk);
	assert_new_fails(&o, SECHO_TLS_SERVER, want, 1);
	snprintf(want, sizeof(want), "cannot load certificate %s: it is not "
	    "a PEM file (no '-----BEGIN' line)", junk);
	assert_new_fails(&o, SECHO_TLS_SERVER, want, 0);

	o.cert = tu_cert("server.pem");
	o.key = junk;
	snprintf(want, sizeof(want), "cannot load private key %s", junk);
	assert_new_fails(&o, SECHO_TLS_SERVER, want, 1);

	memset(&o, 0, sizeof(o));
	o.ca = junk;
	snprintf(want, sizeof(want), "cannot load CA file %s", junk);
	assert_new_fails(&o, SECHO_TLS_CLIENT, want, 1);
}
END_TEST

START_TEST(test_server_needs_cert)
{
	struct secho_tls_opts o = { 0 };

	assert_new_fails(&o, SECHO_TLS_SERVER, "a TLS server needs a "
	    "certificate and a key", 0);
	o.cert = tu_cert("server.pem");
	assert_new_fails(&o, SECHO_TLS_SERVER, "a TLS server needs a "
	    "certificate and a key", 0);
}
END_TEST

START_TEST(test_keylog_unwritable)
{
	struct secho_tls_opts o = { 0 };
	char want[1024], path[512];

	snprintf(path, sizeof(path), "%s/no/such/dir/keys", tu_tmpdir());
	o.ca = tu_cert("ca.pem");
	o.keylog = path;
	snprintf(want, sizeof(want), "cannot open key log %s: No such file "
	    "or directory", path);
	assert_new_fails(&o, SECHO_TLS_CLIENT, want, 0);
}
END_TEST

START_TEST(test_plain_conn_is_not_tls)
{
	struct secho_tls_info info;
	struct secho_conn c;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	secho_conn_init_tcp(&c, sv[0]);
	ck_assert(!secho_conn_is_tls(&c));
	memset(&info, 'x', sizeof(info));
	ck_assert_int_eq(secho_tls_conn_info(&c, &info), -1);
	ck_assert_str_eq(info.version, "");
	ck_assert_uint_eq(secho_conn_pending(&c), 0);
	secho_conn_close(&c);
	close(sv[1]);
}
END_TEST

Suite *
tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("handshake");

	tcase_add_unchecked_fixture(tc, mint_setup, NULL);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_handshake_echo, 0, 4);
	tcase_add_test(tc, test_handshake_again);
	tcase_add_test(tc, test_pending);
	tcase_add_test(tc, test_clean_shutdown);
	tcase_add_test(tc, test_unclean_eof);
	tcase_add_test(tc, test_write_to_closed_peer);
	tcase_add_test(tc, test_shutdown_before_handshake);
	tcase_add_test(tc, test_keylog);
	suite_add_tcase(s, tc);

	tc = tcase_create("verify");
	tcase_add_unchecked_fixture(tc, mint_setup, NULL);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_wrong_ca);
	tcase_add_test(tc, test_hostname_mismatch);
	tcase_add_test(tc, test_ip_mismatch);
	tcase_add_test(tc, test_ipv6_name);
	tcase_add_test(tc, test_expired);
	tcase_add_loop_test(tc, test_insecure, 0, 2);
	tcase_add_test(tc, test_expired_insecure);
	tcase_add_test(tc, test_mtls_ok);
	tcase_add_test(tc, test_mtls_optional_without_cert);
	tcase_add_test(tc, test_mtls_required_without_cert);
	tcase_add_test(tc, test_mtls_untrusted_client);
	suite_add_tcase(s, tc);

	tc = tcase_create("peers");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_loop_test(tc, test_not_tls, 0, 3);
	tcase_add_test(tc, test_server_not_tls);
	tcase_add_loop_test(tc, test_client_gone_mid_handshake, 0, 2);
	tcase_add_test(tc, test_server_gone_mid_handshake);
	suite_add_tcase(s, tc);

	tc = tcase_create("dtls");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_loop_test(tc, test_dtls_echo, 0, 2);
	tcase_add_test(tc, test_dtls_hostname_mismatch);
	tcase_add_test(tc, test_dtls_ignores_junk);
	suite_add_tcase(s, tc);

	tc = tcase_create("setup");
	tcase_add_unchecked_fixture(tc, mint_setup, NULL);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_missing_cert);
	tcase_add_test(tc, test_missing_key);
	tcase_add_test(tc, test_missing_ca);
	tcase_add_test(tc, test_key_mismatch);
	tcase_add_test(tc, test_key_type_mismatch);
	tcase_add_test(tc, test_garbage_files);
	tcase_add_test(tc, test_server_needs_cert);
	tcase_add_test(tc, test_keylog_unwritable);
	tcase_add_test(tc, test_plain_conn_is_not_tls);
	suite_add_tcase(s, tc);
	return s;
}
