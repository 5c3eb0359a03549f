/*
 * check_mtls.c - the server's TLS controls, checked with openssl s_client
 * as the independent client: mutual TLS (required, optional, allow-lists,
 * untrusted and expired client certificates), protocol versions, cipher
 * suites, groups, ALPN and session resumption with and without tickets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define SERVER_CERTS "--cert", tu_cert("server.pem"), "--key", \
	tu_cert("server.key"), "--ca", tu_cert("ca.pem")

static struct tu_server srv;
static char connect_to[64];

/* secho-server --tls with extra args (NULL-terminated, at most 12). */
static void
start(const char *const *extra)
{
	const char *args[32] = { "--tls", "--port", "0", "-v",
	    "--idle-timeout", "0.5", SERVER_CERTS };
	int n = 12;

	while (*extra != NULL && n < 31)
		args[n++] = *extra++;
	args[n] = NULL;
	ck_assert_int_eq(tu_server_start(&srv, args, 1), 0);
	snprintf(connect_to, sizeof(connect_to), "127.0.0.1:%d", srv.port[0]);
}

static char *
stop(void)
{
	struct tu_result r;
	char *log;

	tu_assert_exit(tu_server_stop(&srv, &r), &r, 0);
	log = r.err;
	free(r.out);
	return log;
}

/*
 * openssl s_client with args, sending one line; -ign_eof keeps it until
 * the server's idle timeout closes the session, so the echo is complete.
 * Returns its exit code; *out gets stdout + stderr.
 */
static int
s_client(char **out, const char *const *extra)
{
	const char *argv[40] = { "/usr/bin/openssl", "s_client", "-ign_eof",
	    "-connect", connect_to, "-CAfile", tu_cert("ca.pem"),
	    "-verify_return_error" };
	struct tu_result r;
	int n = 8, rc;

	while (*extra != NULL && n < 39)
		argv[n++] = *extra++;
	argv[n] = NULL;
	rc = tu_run(argv, "mtls line\n", 10, 30000, &r);
	if (asprintf(out, "%s%s", r.out, r.err) < 0)
		*out = NULL;
	tu_result_free(&r);
	return rc;
}

#define CLIENT_CERT "-cert", tu_cert("client.pem"), "-key", \
	tu_cert("client.key")

static void
assert_echoed(const char *out)
{
	ck_assert_msg(strstr(out, "mtls line\n") != NULL, "no echo: %s", out);
}

static void
assert_has(const char *hay, const char *needle)
{
	ck_assert_msg(strstr(hay, needle) != NULL, "want '%s' in: %s", needle,
	    hay);
}

/* A client certificate set from another mint (another CA, CN, dates). */
static const char *
mint(const char *const *args)
{
	static char dirs[4][320];
	static int slot;
	char *dir = dirs[slot++ % 4];
	const char *a[16] = { "--out", dir };
	int n = 2;

	snprintf(dir, sizeof(dirs[0]), "%s/certs", tu_tmpdir());
	while (*args != NULL && n < 15)
		a[n++] = *args++;
	a[n] = NULL;
	ck_assert_int_eq(tu_mkcerts(a), 0);
	return dir;
}

static const char *
in_dir(const char *dir, const char *file)
{
	static char buf[8][400];
	static int slot;
	char *b = buf[slot++ % 8];

	snprintf(b, sizeof(buf[0]), "%s/%s", dir, file);
	return b;
}

START_TEST(verify_client_required)
{
	char *out, *log;

	start((const char *[]){ "--verify-client", NULL });
	ck_assert_msg(s_client(&out, (const char *[]){ NULL }) != 0,
	    "s_client got through: %s", tu_tail(out, 1500));
	free(out);
	ck_assert_msg(s_client(&out, (const char *[]){ CLIENT_CERT,
	    NULL }) == 0,
	    "s_client failed: %s", tu_tail(out, 1500));
	assert_echoed(out);
	free(out);
	log = stop();
	assert_has(log, "the client sent no certificate");
	assert_has(log, "client CN=secho client");
	/* The refused client is known by its ClientHello all the same. */
	assert_has(log, "handshake failed: JA4 t13");
	free(log);
}
END_TEST

START_TEST(verify_client_optional)
{
	char *out, *log;

	start((const char *[]){ "--verify-client=optional", NULL });
	ck_assert_msg(s_client(&out, (const char *[]){ NULL }) == 0,
	    "s_client failed: %s", tu_tail(out, 1500));
	assert_echoed(out);
	free(out);
	ck_assert_msg(s_client(&out, (const char *[]){ CLIENT_CERT,
	    NULL }) == 0,
	    "s_client failed: %s", tu_tail(out, 1500));
	assert_echoed(out);
	free(out);
	log = stop();
	assert_has(log, "client CN=secho client");
	free(log);
}
END_TEST

/* Client certificates the server must refuse, each with its reason. */
START_TEST(client_cert_refusals)
{
	const char *other = mint((const char *[]){ NULL });
	const char *expired;
	char *out, *log;

	/* Same CA as the server trusts, but an expired client cert. */
	expired = mint((const char *[]){ NULL });
	start((const char *[]){ "--verify-client", NULL });
	ck_assert_msg(s_client(&out, (const char *[]){ "-cert",
	    in_dir(other, "client.pem"), "-key", in_dir(other, "client.key"),
	    NULL }) != 0,
	    "s_client got through: %s", tu_tail(out, 1500));
	free(out);
	log = stop();
	assert_has(log, "client certificate verify failed: unable to get "
	    "local issuer certificate");
	free(log);
	/* Re-mint expired.../client.* with the server's CA: copy the CA in. */
	{
		struct tu_result r;

		tu_assert_exit(tu_run((const char *[]){ "/bin/cp",
		    tu_cert("ca.pem"), tu_cert("ca.key"), expired, NULL },
		    NULL, 0, 10000, &r), &r, 0);
		tu_result_free(&r);
		ck_assert_int_eq(tu_mkcerts((const char *[]){ "--out", expired,
		    "--only", "client", "--not-before", "2020-01-01",
		    "--not-after", "2020-02-01", NULL }), 0);
	}
	start((const char *[]){ "--verify-client", NULL });
	ck_assert_msg(s_client(&out, (const char *[]){ "-cert",
	    in_dir(expired, "client.pem"), "-key",
	    in_dir(expired, "client.key"), NULL }) != 0,
	    "s_client got through: %s", tu_tail(out, 1500));
	free(out);
	log = stop();
	assert_has(log, "client certificate verify failed: certificate has "
	    "expired");
	free(log);
}
END_TEST

START_TEST(allow_lists)
{
	const char *intruder = mint((const char *[]){ NULL });
	char *out, *log;
	struct tu_result r;

	/* An "intruder" client cert signed by the trusted CA. */
	tu_assert_exit(tu_run((const char *[]){ "/bin/cp",
	    tu_cert("ca.pem"), tu_cert("ca.key"), intruder, NULL }, NULL, 0,
	    10000, &r), &r, 0);
	tu_result_free(&r);
	ck_assert_int_eq(tu_mkcerts((const char *[]){ "--out", intruder,
	    "--only", "client", "--client-cn", "intruder", NULL }), 0);

	start((const char *[]){ "--allow-client-cn", "secho client", NULL });
	ck_assert_msg(s_client(&out, (const char *[]){ CLIENT_CERT,
	    NULL }) == 0,
	    "s_client failed: %s", tu_tail(out, 1500));
	assert_echoed(out);
	free(out);
	ck_assert_msg(s_client(&out, (const char *[]){ "-cert",
	    in_dir(intruder, "client.pem"), "-key",
	    in_dir(intruder, "client.key"), NULL }) != 0,
	    "s_client got through: %s", tu_tail(out, 1500));
	free(out);
	log = stop();
	assert_has(log, "not in the allow-list");
	free(log);

	/* By SAN: the minted client certificate has DNS:secho-client. */
	start((const char *[]){ "--allow-client-san", "secho-client", NULL });
	ck_assert_msg(s_client(&out, (const char *[]){ CLIENT_CERT,
	    NULL }) == 0,
	    "s_client failed: %s", tu_tail(out, 1500));
	free(out);
	free(stop());
	start((const char *[]){ "--allow-client-san", "other.example", NULL });
	ck_assert_msg(s_client(&out, (const char *[]){ CLIENT_CERT,
	    NULL }) != 0,
	    "s_client got through: %s", tu_tail(out, 1500));
	free(out);
	free(stop());
}
END_TEST

START_TEST(versions_suites_groups)
{
	char *out;

	start((const char *[]){ "--tls-max", "1.2", NULL });
	ck_assert_msg(s_client(&out, (const char *[]){ NULL }) == 0,
	    "s_client failed: %s", tu_tail(out, 1500));
	assert_has(out, "Protocol  : TLSv1.2");
	free(out);
	free(stop());

	start((const char *[]){ "--tls-min", "1.3", NULL });
	ck_assert_msg(s_client(&out, (const char *[]){ "-tls1_2", NULL }) != 0,
	    "s_client got through: %s", tu_tail(out, 1500));
	free(out);
	free(stop());

	start((const char *[]){ "--ciphersuites",
	    "TLS_CHACHA20_POLY1305_SHA256", "--groups", "P-256", NULL });
	ck_assert_msg(s_client(&out, (const char *[]){ NULL }) == 0,
	    "s_client failed: %s", tu_tail(out, 1500));
	assert_has(out, "TLS_CHACHA20_POLY1305_SHA256");
	assert_has(out, "prime256v1");
	free(out);
	free(stop());

	start((const char *[]){ "--tls-max", "1.2", "--ciphers",
	    "ECDHE-ECDSA-CHACHA20-POLY1305", NULL });
	ck_assert_msg(s_client(&out, (const char *[]){ NULL }) == 0,
	    "s_client failed: %s", tu_tail(out, 1500));
	assert_has(out, "ECDHE-ECDSA-CHACHA20-POLY1305");
	free(out);
	free(stop());
}
END_TEST

START_TEST(bad_values)
{
	struct tu_result r;

	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-server"),
	    "--tls", "--port", "0", SERVER_CERTS, "--ciphers", "NONSENSE",
	    NULL }, NULL, 0, 10000, &r), &r, 2);
	assert_has(r.err, "--ciphers 'NONSENSE'");
	tu_result_free(&r);
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-server"),
	    "--tls", "--port", "0", SERVER_CERTS, "--tls-min", "1.1",
	    NULL }, NULL, 0, 10000, &r), &r, 1);
	assert_has(r.err, "'1.1' is not a TLS version");
	tu_result_free(&r);
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-server"),
	    "--dtls", "--port", "0", SERVER_CERTS, "--tls-min", "1.3",
	    NULL }, NULL, 0, 10000, &r), &r, 2);
	assert_has(r.err, "DTLS has no version 1.3");
	tu_result_free(&r);
}
END_TEST

/* secho-server with args fails at start with exit 2 and want on stderr. */
static void
assert_start_fails(const char *const *args, const char *want)
{
	const char *argv[16] = { tu_bin("secho-server"), "--tls", "--port",
	    "0" };
	struct tu_result r;
	int n = 4;

	while (*args != NULL && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	ck_assert_int_eq(tu_run(argv, NULL, 0, 10000, &r), 2);
	assert_has(r.err, want);
	tu_result_free(&r);
}

/*
 * Files and values OpenSSL refuses with its own words ("unsupported",
 * "no start line", "passed invalid argument") get a sentence instead.
 */
START_TEST(bad_files_in_words)
{
	char dir[300], txt[400], want[900];
	FILE *f;

	/* tu_tmpdir()'s buffer is reused by the runs below. */
	snprintf(dir, sizeof(dir), "%s", tu_tmpdir());
	snprintf(txt, sizeof(txt), "%s/notes.pem", dir);
	f = fopen(txt, "w");
	ck_assert_ptr_nonnull(f);
	fputs("not a certificate\n", f);
	fclose(f);
	snprintf(want, sizeof(want), "cannot load private key %s: it is a "
	    "directory, not a PEM key file", dir);
	assert_start_fails((const char *[]){ "--cert", tu_cert("server.pem"),
	    "--key", dir, NULL }, want);
	snprintf(want, sizeof(want), "cannot load certificate %s: it is not "
	    "a PEM file (no '-----BEGIN' line)", txt);
	assert_start_fails((const char *[]){ "--cert", txt, "--key",
	    tu_cert("server.key"), NULL }, want);
	snprintf(want, sizeof(want), "cannot load private key %s: it holds "
	    "no private key", tu_cert("server.pem"));
	assert_start_fails((const char *[]){ "--cert", tu_cert("server.pem"),
	    "--key", tu_cert("server.pem"), NULL }, want);
	assert_start_fails((const char *[]){ SERVER_CERTS, "--groups", "NOPE",
	    NULL }, "--groups 'NOPE': unknown key exchange group (try X25519, "
	    "P-256, P-384)");
}
END_TEST

START_TEST(alpn)
{
	char *out;

	start((const char *[]){ "--alpn", "echo,x-other", NULL });
	ck_assert_msg(s_client(&out, (const char *[]){ "-alpn", "h2,echo",
	    NULL }) == 0,
	    "s_client failed: %s", tu_tail(out, 1500));
	assert_has(out, "ALPN protocol: echo");
	free(out);
	/* Nothing in common: no_application_protocol (RFC 7301). */
	ck_assert_msg(s_client(&out, (const char *[]){ "-alpn", "h2",
	    NULL }) != 0,
	    "s_client got through: %s", tu_tail(out, 1500));
	free(out);
	free(stop());
}
END_TEST

/* Resumption: tickets by default; --no-tickets falls back to TLS 1.2's
 * session cache, and TLS 1.3 then does full handshakes. */
START_TEST(resumption)
{
	char sess[400], *out;

	snprintf(sess, sizeof(sess), "%s/session.pem", tu_tmpdir());
	start((const char *[]){ NULL });
	ck_assert_msg(s_client(&out, (const char *[]){ "-sess_out", sess,
	    NULL }) == 0,
	    "s_client failed: %s", tu_tail(out, 1500));
	free(out);
	ck_assert_msg(s_client(&out, (const char *[]){ "-sess_in", sess,
	    NULL }) == 0,
	    "s_client failed: %s", tu_tail(out, 1500));
	assert_has(out, "Reused, TLSv1.3");
	free(out);
	free(stop());

	start((const char *[]){ "--no-tickets", NULL });
	ck_assert_msg(s_client(&out, (const char *[]){ "-sess_out", sess,
	    NULL }) == 0,
	    "s_client failed: %s", tu_tail(out, 1500));
	free(out);
	ck_assert_msg(s_client(&out, (const char *[]){ "-sess_in", sess,
	    NULL }) == 0,
	    "s_client failed: %s", tu_tail(out, 1500));
	assert_has(out, "New, TLSv1.3");
	free(out);
	ck_assert_msg(s_client(&out, (const char *[]){ "-tls1_2",
	    "-sess_out", sess, NULL }) == 0,
	    "s_client failed: %s", tu_tail(out, 1500));
	free(out);
	ck_assert_msg(s_client(&out, (const char *[]){ "-tls1_2",
	    "-sess_in", sess, NULL }) == 0,
	    "s_client failed: %s", tu_tail(out, 1500));
	assert_has(out, "Reused, TLSv1.2");
	free(out);
	free(stop());
}
END_TEST

/* --sni-cert: the certificate follows the name the client asks for. */
START_TEST(sni_certificates)
{
	const char *other = mint((const char *[]){ NULL });
	char spec[1024], *out;
	struct tu_result r;

	/* A certificate for other.example only, from the trusted CA. */
	tu_assert_exit(tu_run((const char *[]){ "/bin/cp",
	    tu_cert("ca.pem"), tu_cert("ca.key"), other, NULL }, NULL, 0,
	    10000, &r), &r, 0);
	tu_result_free(&r);
	ck_assert_int_eq(tu_mkcerts((const char *[]){ "--out", other, "--only",
	    "server", "--no-default-san", "--host", "other.example", "--host",
	    "*.wild.example", NULL }), 0);
	snprintf(spec, sizeof(spec), "other.example:%s:%s",
	    in_dir(other, "server.pem"), in_dir(other, "server.key"));
	start((const char *[]){ "--sni-cert", spec, NULL });
	ck_assert_msg(s_client(&out, (const char *[]){ "-servername",
	    "other.example", "-verify_hostname", "other.example", NULL }) == 0,
	    "s_client failed: %s", tu_tail(out, 1500));
	assert_echoed(out);
	free(out);
	/* Any other name gets the default certificate. */
	ck_assert_msg(s_client(&out, (const char *[]){ "-servername",
	    "localhost", "-verify_hostname", "localhost", NULL }) == 0,
	    "s_client failed: %s", tu_tail(out, 1500));
	free(out);
	ck_assert_msg(s_client(&out, (const char *[]){ "-servername",
	    "nomatch.example", "-verify_hostname", "other.example",
	    NULL }) != 0,
	    "s_client got through: %s", tu_tail(out, 1500));
	free(out);
	free(stop());
	/* Wildcard patterns match one label. */
	snprintf(spec, sizeof(spec), "*.wild.example:%s:%s",
	    in_dir(other, "server.pem"), in_dir(other, "server.key"));
	start((const char *[]){ "--sni-cert", spec, NULL });
	ck_assert_msg(s_client(&out, (const char *[]){ "-servername",
	    "a.wild.example", "-verify_hostname", "a.wild.example",
	    NULL }) == 0,
	    "s_client failed: %s", tu_tail(out, 1500));
	free(out);
	free(stop());
}
END_TEST

Suite *
mtls_suite(void)
{
	Suite *s = suite_create("mtls");
	TCase *tc = tcase_create("mtls");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, verify_client_required);
	tcase_add_test(tc, verify_client_optional);
	tcase_add_test(tc, client_cert_refusals);
	tcase_add_test(tc, allow_lists);
	tcase_add_test(tc, versions_suites_groups);
	tcase_add_test(tc, bad_values);
	tcase_add_test(tc, bad_files_in_words);
	tcase_add_test(tc, alpn);
	tcase_add_test(tc, resumption);
	tcase_add_test(tc, sni_certificates);
	suite_add_tcase(s, tc);
	return s;
}
