/*
 * check_rec.c - secho's own TLS 1.3 record layer (--record-layer secho,
 * src/core/tls_rec.c) against an OpenSSL client this file drives record
 * by record: every suite and record size, KeyUpdate storms both ways,
 * close_notify both ways, and records RFC 8446 says to refuse, each
 * answered with its alert while the server goes on serving others.
 * gnutls-cli (no OpenSSL) drives it in check_gnutls.c; openssl s_client
 * here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "testutil.h"

static struct tu_server srv;

static const char *const suites[] = { "TLS_AES_128_GCM_SHA256",
	"TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256" };

/* One client connection, and the KeyUpdates the server sent it. */
struct peer {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	int ku_in;
};

static void
start(const char *extra)
{
	ck_assert_int_eq(tu_server_start(&srv, (const char *[]){ "--tls",
	    "--port", "0", "-v", "--record-layer", "secho", "--cert",
	    tu_cert("server.pem"), "--key", tu_cert("server.key"), extra,
	    NULL }, 1), 0);
}

/* The server's log once it has stopped cleanly (free it). */
static char *
stop(void)
{
	struct tu_result r;

	tu_assert_exit(tu_server_stop(&srv, &r), &r, 0);
	free(r.out);
	return r.err;
}

static const char *
ossl_error(void)
{
	static char buf[256];

	ERR_error_string_n(ERR_peek_last_error(), buf, sizeof(buf));
	return buf;
}

static void
count_key_updates(int write_p, int version, int type, const void *buf,
    size_t len, SSL *ssl, void *arg)
{
	const unsigned char *p = buf;

	(void)version;
	(void)ssl;
	if (!write_p && type == SSL3_RT_HANDSHAKE && len > 0 &&
	    p[0] == SSL3_MT_KEY_UPDATE)
		((struct peer *)arg)->ku_in++;
}

/* A verified TLS 1.3 connection with one suite, blocking, bounded. */
static void
peer_connect(struct peer *p, const char *suite)
{
	struct timeval tv = { tu_slow(10000) / 1000, 0 };

	memset(p, 0, sizeof(*p));
	ck_assert((p->ctx = SSL_CTX_new(TLS_client_method())) != NULL);
	SSL_CTX_set_min_proto_version(p->ctx, TLS1_3_VERSION);
	ck_assert(SSL_CTX_set_ciphersuites(p->ctx, suite) == 1);
	ck_assert(SSL_CTX_load_verify_locations(p->ctx, tu_cert("ca.pem"),
	    NULL) == 1);
	SSL_CTX_set_verify(p->ctx, SSL_VERIFY_PEER, NULL);
	ck_assert_msg((p->fd = tu_connect(srv.port[0], 0)) != -1,
	    "connect to port %d failed", srv.port[0]);
	setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(p->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	ck_assert((p->ssl = SSL_new(p->ctx)) != NULL);
	SSL_set_fd(p->ssl, p->fd);
	SSL_set_tlsext_host_name(p->ssl, "localhost");
	SSL_set1_host(p->ssl, "localhost");
	SSL_set_msg_callback(p->ssl, count_key_updates);
	SSL_set_msg_callback_arg(p->ssl, p);
	ck_assert_msg(SSL_connect(p->ssl) == 1, "handshake with %s: %s",
	    suite, ossl_error());
}

static void
peer_free(struct peer *p)
{
	SSL_free(p->ssl);
	SSL_CTX_free(p->ctx);
	close(p->fd);
}

/*
 * len bytes of a pattern, written in chunks of at most 64 KiB, each
 * chunk's echo read back before the next (so neither side blocks on a
 * full socket), and compared.
 */
static void
peer_echo(struct peer *p, size_t len, unsigned seed)
{
	unsigned char *out = malloc(len), *in = malloc(len);
	size_t off = 0, n;

	ck_assert(out != NULL && in != NULL);
	tu_pattern(out, len, seed);
	while (off < len) {
		size_t chunk = len - off < 65536 ? len - off : 65536, got = 0;

		ck_assert_msg(SSL_write_ex(p->ssl, out + off, chunk, &n) == 1 &&
		    n == chunk, "write at %zu of %zu: %s", off, len,
		    ossl_error());
		while (got < chunk) {
			ck_assert_msg(SSL_read_ex(p->ssl, in + off + got,
			    chunk - got, &n) == 1, "echo stopped at %zu of %zu "
			    "bytes: %s", off + got, len, ossl_error());
			got += n;
		}
		off += chunk;
	}
	ck_assert_msg(memcmp(in, out, len) == 0, "the echo of %zu bytes "
	    "differs", len);
	free(in);
	free(out);
}

/* Our close_notify, then the server's: a clean close both ways. */
static void
peer_close_clean(struct peer *p)
{
	unsigned char b;
	size_t n;
	int rc;

	ck_assert(SSL_shutdown(p->ssl) >= 0);
	rc = SSL_read_ex(p->ssl, &b, 1, &n);
	ck_assert_msg(rc == 0 && SSL_get_error(p->ssl, rc) ==
	    SSL_ERROR_ZERO_RETURN, "no close_notify from the server (SSL "
	    "error %d: %s)", SSL_get_error(p->ssl, rc), ossl_error());
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/*
 * Stops the server and asserts that n of its connections had secho's
 * records, and that its log has also (when not NULL).
 */
static void
stop_expecting(int n, const char *also)
{
	char *log = stop();

	ck_assert_msg(count(log, "secho record layer") == n, "%d connections "
	    "had secho's records, want %d: %s", count(log,
	    "secho record layer"), n, tu_tail(log, 2000));
	ck_assert_msg(also == NULL || strstr(log, also) != NULL, "no '%s' in "
	    "%s", also, tu_tail(log, 2000));
	free(log);
}

/* Every suite: records of every size class, byte-exact, both closes. */
START_TEST(suites_and_sizes)
{
	static const size_t sizes[] = { 1, 64, 1000, 16383, 16384, 16385,
	    65536, 1 << 20 };
	struct peer p;
	char want[96];

	start(NULL);
	peer_connect(&p, suites[_i]);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
		peer_echo(&p, sizes[k], (unsigned)k);
	peer_close_clean(&p);
	peer_free(&p);
	snprintf(want, sizeof(want), "handshake done: TLSv1.3 %s",
	    suites[_i]);
	stop_expecting(1, want);
}
END_TEST

/*
 * KeyUpdate storms (RFC 8446 4.6.3): 200 KeyUpdates from the client
 * between echoes, every other one requesting the server's; the server
 * answers each request once, before its next data.  Then 50 requests in
 * a row with no data between: one answer covers them all.
 */
START_TEST(key_update_storm)
{
	struct peer p;

	start(NULL);
	peer_connect(&p, suites[_i]);
	peer_echo(&p, 64, 1);	/* the records are the server's own now */
	for (int i = 0; i < 200; i++) {
		ck_assert(SSL_key_update(p.ssl, i % 2 ?
		    SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED) ==
		    1);
		peer_echo(&p, 64 + (size_t)i * 97, (unsigned)i);
	}
	ck_assert_msg(p.ku_in == 100, "the server answered %d of 100 "
	    "requests", p.ku_in);
	for (int i = 0; i < 50; i++) {
		ck_assert(SSL_key_update(p.ssl, SSL_KEY_UPDATE_REQUESTED) == 1);
		ck_assert_msg(SSL_do_handshake(p.ssl) == 1, "KeyUpdate %d: %s",
		    i, ossl_error());
	}
	peer_echo(&p, 100000, 7);
	ck_assert_msg(p.ku_in == 101, "50 requests in a row got %d answers",
	    p.ku_in - 100);
	peer_close_clean(&p);
	peer_free(&p);
	stop_expecting(1, NULL);
}
END_TEST

/* Records a TLS 1.3 peer must refuse, and the alert each one earns. */
static const struct bad_record {
	const char *what;
	unsigned char bytes[48];
	size_t len;
	const char *alert;	/* in OpenSSL's reason for the alert */
} bad_records[] = {
	{ "a record that does not authenticate", { 23, 3, 3, 0, 40, 0x55,
	    0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
	    0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
	    0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
	    0x55, 0x55, 0x55, 0x55, 0x55, 0x55 }, 45, "bad record mac" },
	{ "a record longer than 2^14 + 256", { 23, 3, 3, 0x41, 0x01 }, 5,
	    "record overflow" },
	{ "an unprotected alert", { 21, 3, 3, 0, 2, 2, 40 }, 7,
	    "unexpected message" },
	{ "a change_cipher_spec after the handshake", { 20, 3, 3, 0, 1, 1 },
	    6, "unexpected message" },
	{ "a record too short for its tag", { 23, 3, 3, 0, 5, 1, 2, 3, 4, 5 },
	    10, "bad record mac" },
};

/*
 * Each bad record, written raw after a good echo, gets the client the
 * alert its kind deserves, is logged, and leaves others served.
 */
START_TEST(bad_records_get_their_alert)
{
	const struct bad_record *b = &bad_records[_i];
	struct peer p;
	unsigned char buf[64];
	size_t n;
	int rc;

	start(NULL);
	peer_connect(&p, suites[0]);
	peer_echo(&p, 64, 1);
	peer_echo(&p, 64, 2);
	ck_assert_int_eq(tu_write_all(p.fd, b->bytes, b->len), 0);
	rc = SSL_read_ex(p.ssl, buf, sizeof(buf), &n);
	ck_assert_msg(rc == 0 && strstr(ossl_error(), b->alert) != NULL,
	    "%s: want the alert '%s', got SSL error %d: %s", b->what,
	    b->alert, SSL_get_error(p.ssl, rc), ossl_error());
	peer_free(&p);
	ck_assert_msg(tu_server_await_log(&srv, "sent the alert", 5000),
	    "%s: not logged: %s", b->what, tu_server_log_tail(&srv));
	tu_assert_echo("tls", srv.port[0], "still serving");
	stop_expecting(2, NULL);
}
END_TEST

/*
 * openssl s_client, as a user runs it: the echo, then the server's idle
 * timeout ends the session with its close_notify, sealed here.
 */
START_TEST(s_client_echo)
{
	struct tu_result r;
	char connect[64];

	start("--idle-timeout=0.5");
	snprintf(connect, sizeof(connect), "localhost:%d", srv.port[0]);
	tu_assert_exit(tu_run((const char *[]){ "/usr/bin/openssl",
	    "s_client", "-tls1_3", "-ign_eof", "-connect", connect, "-CAfile",
	    tu_cert("ca.pem"), "-verify_return_error", NULL },
	    "over secho's records\n", 21, 30000, &r), &r, 0);
	ck_assert_msg(strstr(r.out, "over secho's records\n") != NULL, "%s",
	    tu_tail(r.out, 2000));
	tu_result_free(&r);
	stop_expecting(1, NULL);
}
END_TEST

/* TLS 1.2 stays on OpenSSL's record layer, and works. */
START_TEST(tls12_stays_on_openssl)
{
	struct tu_result r;

	start(NULL);
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"),
	    "--tls", "--tls-max", "1.2", "--ca", tu_cert("ca.pem"), "-m",
	    "twelve", "localhost", tu_num(srv.port[0]), NULL }, NULL, 0,
	    20000, &r), &r, 0);
	ck_assert_str_eq(r.out, "twelve\n");
	tu_result_free(&r);
	stop_expecting(0, "handshake done: TLSv1.2");
}
END_TEST

Suite *
rec_suite(void)
{
	Suite *s = suite_create("rec");
	TCase *tc = tcase_create("rec");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, suites_and_sizes, 0, 3);
	tcase_add_loop_test(tc, key_update_storm, 0, 3);
	tcase_add_loop_test(tc, bad_records_get_their_alert, 0,
	    (int)(sizeof(bad_records) / sizeof(bad_records[0])));
	tcase_add_test(tc, s_client_echo);
	tcase_add_test(tc, tls12_stays_on_openssl);
	suite_add_tcase(s, tc);
	return s;
}
