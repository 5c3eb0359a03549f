/*
 * check_opts.c - the command lines of secho-server, secho-client and
 * (for the TLS options they share) secho-bench, parsed from argv tables
 * exactly as users type them, with the exact usage-error messages.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/bench/bench_int.h"
#include "secho/client.h"
#include "secho/server.h"
#include "testutil.h"

#define MAX_ARGS 40

/* What parse_args wrote to its FILE *. */
static char *outbuf;
static size_t outlen;

/* Copies args behind argv[0] into a writable argv (getopt permutes it). */
static int
make_argv(char **argv, const char *prog, const char *const *args)
{
	int argc = 0;

	argv[argc++] = (char *)prog;
	for (; *args != NULL && argc < MAX_ARGS; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	return argc;
}

static void
setup(void)
{
	/* The environment must not leak into the defaults under test. */
	unsetenv("SSLKEYLOGFILE");
	outbuf = NULL;
	outlen = 0;
}

static void
teardown(void)
{
	free(outbuf);
	outbuf = NULL;
}

/* A fresh stream for --help / --version text, caught in outbuf. */
static FILE *
out_open(void)
{
	FILE *out;

	free(outbuf);
	outbuf = NULL;
	out = open_memstream(&outbuf, &outlen);
	ck_assert_ptr_nonnull(out);
	secho_error_set("untouched");
	return out;
}

static int
server_parse(struct secho_server_config *cfg, const char *const *args)
{
	char *argv[MAX_ARGS + 1];
	int argc = make_argv(argv, "secho-server", args), rc;
	FILE *out = out_open();

	secho_server_config_init(cfg);
	rc = secho_server_parse_args(cfg, argc, argv, out);
	ck_assert_int_eq(fclose(out), 0);
	return rc;
}

static int
client_parse(struct secho_client_config *cfg, const char *const *args)
{
	char *argv[MAX_ARGS + 1];
	int argc = make_argv(argv, "secho-client", args), rc;
	FILE *out = out_open();

	secho_client_config_init(cfg);
	rc = secho_client_parse_args(cfg, argc, argv, out);
	ck_assert_int_eq(fclose(out), 0);
	return rc;
}

static int
bench_parse(struct secho_bench_config *cfg, const char *const *args)
{
	char *argv[MAX_ARGS + 1];
	int argc = make_argv(argv, "secho-bench", args), rc;
	FILE *out = out_open();

	secho_bench_config_init(cfg);
	rc = secho_bench_parse_args(cfg, argc, argv, out);
	ck_assert_int_eq(fclose(out), 0);
	return rc;
}

/* --- secho-server --- */

struct lsn {
	enum secho_proto proto;
	const char *host;
	int port;
};

static const struct server_case {
	const char *args[12];
	int rc;
	size_t nlisten;
	struct lsn l[3];
	const char *err;
} server_cases[] = {
	{ { NULL }, 0, 1, { { SECHO_TCP, "", 7007 } }, NULL },
	{ { "--tcp", "--tls", "--udp", NULL }, 0, 3, {
	    { SECHO_TCP, "", 7007 }, { SECHO_TLS, "", 7443 },
	    { SECHO_UDP, "", 7007 } }, NULL },
	{ { "--tls", "--port", "0", NULL }, 0, 1,
	    { { SECHO_TLS, "", 0 } }, NULL },
	{ { "--udp", "--tls", "-p", "9000", NULL }, 0, 2,
	    { { SECHO_TLS, "", 9000 }, { SECHO_UDP, "", 9000 } }, NULL },
	{ { "--dtls", NULL }, 0, 1, { { SECHO_DTLS, "", 7443 } }, NULL },
	{ { "-l", "tls://[::1]:9443", "-l", "udp://:0", NULL }, 0, 2, {
	    { SECHO_TLS, "::1", 9443 }, { SECHO_UDP, "", 0 } }, NULL },
	{ { "--bind", "127.0.0.1", "--tls", NULL }, 0, 1,
	    { { SECHO_TLS, "127.0.0.1", 7443 } }, NULL },
	{ { "-b", "::1", NULL }, 0, 1, { { SECHO_TCP, "::1", 7007 } }, NULL },
	/* -l without a transport is tcp; without a port, --port or the
	 * transport's default; --listen first, then the flags. */
	{ { "--listen", "9000", NULL }, 0, 1,
	    { { SECHO_TCP, "", 9000 } }, NULL },
	{ { "-l", "tls://localhost", "-l", "udp://*", NULL }, 0, 2, {
	    { SECHO_TLS, "localhost", 7443 }, { SECHO_UDP, "", 7007 } },
	    NULL },
	{ { "--tls", "-l", "udp://127.0.0.1", "--port", "1234", NULL }, 0, 2,
	    { { SECHO_UDP, "127.0.0.1", 1234 }, { SECHO_TLS, "", 1234 } },
	    NULL },
	{ { "--listen=tcp://[::]:1", NULL }, 0, 1,
	    { { SECHO_TCP, "::", 1 } }, NULL },
	/* Two of our listeners on one TCP or UDP port: named, not blamed on
	 * another process by bind(); port 0 and tcp+udp do not clash. */
	{ { "--tcp", "--tls", "--port", "9000", NULL }, -1, 0,
	    { { 0, NULL, 0 } }, "tcp and tls cannot share TCP port 9000 on "
	    "[::]: give one of them its own, e.g. -l tls://:PORT" },
	{ { "--udp", "--dtls", "-p", "9001", NULL }, -1, 0,
	    { { 0, NULL, 0 } }, "udp and dtls cannot share UDP port 9001 on "
	    "[::]: give one of them its own, e.g. -l dtls://:PORT" },
	{ { "-l", "tcp://127.0.0.1:9002", "--tls", "-p", "9002", NULL }, -1,
	    0, { { 0, NULL, 0 } }, "tcp and tls cannot share TCP port 9002 on "
	    "127.0.0.1: give one of them its own, e.g. -l tls://:PORT" },
	{ { "-l", "tls://[::1]:9003", "-l", "tcp://[::1]:9003", NULL }, -1,
	    0, { { 0, NULL, 0 } }, "tls and tcp cannot share TCP port 9003 on "
	    "[::1]: give one of them its own, e.g. -l tcp://:PORT" },
	{ { "--tcp", "--tls", "--udp", "-p", "0", NULL }, 0, 3, {
	    { SECHO_TCP, "", 0 }, { SECHO_TLS, "", 0 }, { SECHO_UDP, "", 0 } },
	    NULL },
	{ { "--tcp", "--udp", "-p", "9004", NULL }, 0, 2,
	    { { SECHO_TCP, "", 9004 }, { SECHO_UDP, "", 9004 } }, NULL },
	{ { "-l", "tcp://127.0.0.1:9005", "-l", "tls://127.0.0.2:9005",
	    NULL }, 0, 2, { { SECHO_TCP, "127.0.0.1", 9005 },
	    { SECHO_TLS, "127.0.0.2", 9005 } }, NULL },
	{ { "--max-conns", "0", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "--max-conns: '0' is not a number from 1 to 2147483647" },
	{ { "--max-conns=2147483648", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "--max-conns: '2147483648' is not a number from 1 to "
	    "2147483647" },
	{ { "--max-conns-per-ip", "0", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "--max-conns-per-ip: '0' is not a number from 1 to 2147483647" },
	{ { "--max-lifetime", "-2", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "--max-lifetime: '-2' is not a number of seconds from 0 to 604800" },
	{ { "--user", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "missing value for '--user'" },
	{ { "--buffer-size", "1023", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "--buffer-size: '1023' is not a number from 1024 to 16777216" },
	{ { "--backlog", "x", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "--backlog: 'x' is not a number from 1 to 65535" },
	{ { "--idle-timeout", "-1", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "--idle-timeout: '-1' is not a number of seconds from 0 to "
	    "604800" },
	{ { "--handshake-timeout", "-1", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "--handshake-timeout: '-1' is not a positive number of seconds" },
	{ { "--drain-timeout", "nan", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "--drain-timeout: 'nan' is not a positive number of seconds" },
	{ { "--port", "70000", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "invalid port '70000' (expected 0-65535)" },
	{ { "-l", "bogus://x:1", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "--listen bogus://x:1: unknown transport 'bogus' (expected tcp, "
	    "tls, udp or dtls)" },
	{ { "-l", "[::1", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "--listen [::1: missing ']' in '[::1'" },
	{ { "--bogus", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "unknown option '--bogus'" },
	/* The shared parser checks --alpn for the server too. */
	{ { "--alpn", "echo,", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "--alpn: empty protocol name in 'echo,'" },
	{ { "--mtu", "255", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "--mtu: '255' is not a number from 256 to 65535" },
	{ { "-x", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "unknown option '-x'" },
	{ { "-xv", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "unknown option '-x'" },
	{ { "--tcp", "-vx", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "unknown option '-x'" },
	{ { "--port", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "missing value for '--port'" },
	{ { "--tcp", "-p", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "missing value for '-p'" },
	{ { "-vp", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "missing value for '-p'" },
	{ { "--tcp=1", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "option '--tcp' does not take a value" },
	{ { "--verbose=2", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "option '--verbose' does not take a value" },
	{ { "--t", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "unknown option '--t'" },
	{ { "--tcp", "extra", NULL }, -1, 0, { { 0, NULL, 0 } },
	    "unexpected argument 'extra'" },
};

START_TEST(test_server_args)
{
	const struct server_case *tc = &server_cases[_i];
	struct secho_server_config cfg;
	int rc = server_parse(&cfg, tc->args);

	ck_assert_msg(rc == tc->rc, "case %d: rc %d, want %d (%s)", _i, rc,
	    tc->rc, secho_error());
	ck_assert_uint_eq(outlen, 0);	/* only --help/--version print */
	if (rc == -1) {
		ck_assert_str_eq(secho_error(), tc->err);
		return;
	}
	ck_assert_uint_eq(cfg.nlisten, tc->nlisten);
	for (size_t i = 0; i < tc->nlisten; i++) {
		const struct secho_endpoint *ep = &cfg.listen[i];

		ck_assert_msg(ep->proto == tc->l[i].proto, "case %d listener "
		    "%zu: %s, want %s", _i, i, secho_proto_name(ep->proto),
		    secho_proto_name(tc->l[i].proto));
		ck_assert_str_eq(ep->host, tc->l[i].host);
		ck_assert_int_eq(ep->port, tc->l[i].port);
	}
}
END_TEST

/* An empty file at dir/name. */
static void
touch_file(const char *dir, const char *name)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_msg((f = fopen(path, "w")) != NULL, "%s: %s", path,
	    strerror(errno));
	fclose(f);
}

/* The default places: ./certs, then $CREDENTIALS_DIRECTORY, then the
 * installed SYSCONFDIR/secho; a miss names them all. */
START_TEST(test_server_default_certs)
{
	struct secho_server_config cfg;
	char cred[400], want[1024];

	ck_assert_int_eq(chdir(tu_tmpdir()), 0);
	unsetenv("CREDENTIALS_DIRECTORY");
	/* Found nowhere: parsed, and the server says so when it starts. */
	ck_assert_int_eq(server_parse(&cfg, (const char *[]){ "--tls", NULL }),
	    0);
	ck_assert_ptr_null(cfg.tls.cert);
	ck_assert_int_eq(secho_certs_find("server.pem", cred, sizeof(cred)),
	    -1);
	snprintf(want, sizeof(want), "no server.pem in ./certs, "
	    "$CREDENTIALS_DIRECTORY (unset) or %s: run 'make certs' in a "
	    "checkout, or 'secho-mkcerts --out %s', or name the file",
	    secho_certs_sysdir(), secho_certs_sysdir());
	ck_assert_str_eq(secho_error(), want);
	/* systemd's LoadCredential=: a certificate whose key is in it. */
	snprintf(cred, sizeof(cred), "%s/cred", tu_tmpdir());
	ck_assert_int_eq(mkdir(cred, 0700), 0);
	touch_file(cred, "server.pem");
	setenv("CREDENTIALS_DIRECTORY", cred, 1);
	ck_assert_int_eq(server_parse(&cfg, (const char *[]){ "--tls", NULL }),
	    0);
	snprintf(want, sizeof(want), "%s/server.pem", cred);
	ck_assert_str_eq(cfg.tls.cert, want);
	ck_assert_str_eq(cfg.tls.key, want);
	ck_assert_ptr_null(cfg.tls.ca);
	/* ./certs comes first, and gives key and CA from beside it. */
	ck_assert_int_eq(mkdir("certs", 0700), 0);
	touch_file("certs", "server.pem");
	touch_file("certs", "server.key");
	touch_file("certs", "ca.pem");
	ck_assert_int_eq(server_parse(&cfg, (const char *[]){ "--tls",
	    "--verify-client", NULL }), 0);
	ck_assert_str_eq(cfg.tls.cert, "certs/server.pem");
	ck_assert_str_eq(cfg.tls.key, "certs/server.key");
	ck_assert_str_eq(cfg.tls.ca, "certs/ca.pem");
	/* Given files stand; only what is missing is looked for. */
	ck_assert_int_eq(server_parse(&cfg, (const char *[]){ "--tls",
	    "--cert", "my.pem", NULL }), 0);
	ck_assert_str_eq(cfg.tls.cert, "my.pem");
	ck_assert_str_eq(cfg.tls.key, "my.pem");
	unsetenv("CREDENTIALS_DIRECTORY");
}
END_TEST

START_TEST(test_server_defaults)
{
	struct secho_server_config cfg;

	/* Nowhere to find certificates: a tcp server needs none. */
	ck_assert_int_eq(chdir(tu_tmpdir()), 0);
	unsetenv("CREDENTIALS_DIRECTORY");
	ck_assert_int_eq(server_parse(&cfg, (const char *[]){ NULL }), 0);
	ck_assert_ptr_null(cfg.tls.cert);
	ck_assert_ptr_null(cfg.tls.key);
	ck_assert_ptr_null(cfg.tls.ca);
	ck_assert_ptr_null(cfg.tls.keylog);
	ck_assert_int_eq(cfg.tls.verify_client, 0);
	ck_assert_int_eq(cfg.handshake_timeout_ms, 10000);
	ck_assert_int_eq(cfg.idle_timeout_ms, 300000);
	ck_assert_int_eq(cfg.drain_timeout_ms, 10000);
	ck_assert_int_eq(cfg.max_conns, 20000);
	ck_assert_uint_eq(cfg.bufsize, 16384);
	ck_assert_int_eq(cfg.backlog, 4096);
	ck_assert_int_eq(cfg.verbose, 0);
	/* No per-address limit, no lifetime limit, nobody to become. */
	ck_assert_int_eq(cfg.max_conns_per_ip, 0);
	ck_assert_int_eq(cfg.max_lifetime_ms, 0);
	ck_assert_ptr_null(cfg.priv.user);
	ck_assert_ptr_null(cfg.priv.group);
	ck_assert_ptr_null(cfg.priv.chroot);
}
END_TEST

START_TEST(test_server_values)
{
	struct secho_server_config cfg;

	ck_assert_int_eq(server_parse(&cfg, (const char *[]){
	    "--idle-timeout", "1.5", "--handshake-timeout=0.0001",
	    "--drain-timeout", "2", "--max-conns", "3", "--buffer-size",
	    "1024", "--backlog", "65535", "--cert", "c.pem", "--key", "k.pem",
	    "--ca", "ca.pem", "--keylog", "keys.txt", "-vv", "--verbose",
	    NULL }), 0);
	ck_assert_int_eq(cfg.idle_timeout_ms, 1500);
	ck_assert_int_eq(cfg.handshake_timeout_ms, 1);	/* never 0 */
	ck_assert_int_eq(cfg.drain_timeout_ms, 2000);
	ck_assert_int_eq(cfg.max_conns, 3);
	ck_assert_uint_eq(cfg.bufsize, 1024);
	ck_assert_int_eq(cfg.backlog, 65535);
	ck_assert_str_eq(cfg.tls.cert, "c.pem");
	ck_assert_str_eq(cfg.tls.key, "k.pem");
	ck_assert_str_eq(cfg.tls.ca, "ca.pem");
	ck_assert_str_eq(cfg.tls.keylog, "keys.txt");
	ck_assert_int_eq(cfg.verbose, 3);
	ck_assert_uint_eq(cfg.nlisten, 1);
	ck_assert_int_eq(server_parse(&cfg, (const char *[]){
	    "--max-conns-per-ip", "8", "--max-lifetime", "2.5", "--user",
	    "nobody", "--group", "nogroup", "--chroot", "/var/empty", NULL }),
	    0);
	ck_assert_int_eq(cfg.max_conns_per_ip, 8);
	ck_assert_int_eq(cfg.max_lifetime_ms, 2500);
	ck_assert_str_eq(cfg.priv.user, "nobody");
	ck_assert_str_eq(cfg.priv.group, "nogroup");
	ck_assert_str_eq(cfg.priv.chroot, "/var/empty");
	ck_assert_int_eq(server_parse(&cfg, (const char *[]){
	    "--max-lifetime", "0", NULL }), 0);
	ck_assert_int_eq(cfg.max_lifetime_ms, 0);	/* 0: no limit */
	/* Like --max-lifetime 0 and the client's -t 0: none. */
	ck_assert_int_eq(server_parse(&cfg, (const char *[]){
	    "--idle-timeout", "0", NULL }), 0);
	ck_assert_int_eq(cfg.idle_timeout_ms, 0);
}
END_TEST

START_TEST(test_server_keylog_env)
{
	struct secho_server_config cfg;

	setenv("SSLKEYLOGFILE", "/tmp/env-keys", 1);
	ck_assert_int_eq(server_parse(&cfg, (const char *[]){ NULL }), 0);
	ck_assert_str_eq(cfg.tls.keylog, "/tmp/env-keys");
	/* --keylog wins over the environment. */
	ck_assert_int_eq(server_parse(&cfg, (const char *[]){ "--keylog",
	    "mine", NULL }), 0);
	ck_assert_str_eq(cfg.tls.keylog, "mine");
	setenv("SSLKEYLOGFILE", "", 1);
	ck_assert_int_eq(server_parse(&cfg, (const char *[]){ NULL }), 0);
	ck_assert_ptr_null(cfg.tls.keylog);
}
END_TEST

/* Regression (found by the server_args fuzzer): a 17th --sni-cert was
 * copied past the end of the table before the count was checked. */
START_TEST(test_server_too_many_sni_certs)
{
	const char *args[2 * (SECHO_TLS_SNI_MAX + 1) + 1];
	struct secho_server_config cfg;
	int n = 0;

	for (int i = 0; i <= SECHO_TLS_SNI_MAX; i++) {
		args[n++] = "--sni-cert";
		args[n++] = "a.example:a.pem:a.key";
	}
	args[n] = NULL;
	ck_assert_int_eq(server_parse(&cfg, args), -1);
	ck_assert_str_eq(secho_error(), "--sni-cert: at most 16");
	ck_assert_int_eq(cfg.tls.nsni, SECHO_TLS_SNI_MAX);
}
END_TEST

START_TEST(test_server_too_many_listeners)
{
	const char *args[2 * (SECHO_MAX_LISTENERS + 1) + 1];
	struct secho_server_config cfg;
	int n = 0;

	for (int i = 0; i < SECHO_MAX_LISTENERS; i++) {
		args[n++] = "-l";
		args[n++] = "tcp://:0";
	}
	args[n] = NULL;
	ck_assert_int_eq(server_parse(&cfg, args), 0);
	ck_assert_uint_eq(cfg.nlisten, SECHO_MAX_LISTENERS);
	/* One more through -l, or through a flag on top of 16 -l. */
	args[n++] = "--udp";
	args[n] = NULL;
	ck_assert_int_eq(server_parse(&cfg, args), -1);
	ck_assert_str_eq(secho_error(), "too many listeners (at most 16)");
	args[n - 1] = "-l";
	args[n++] = "udp://:0";
	args[n] = NULL;
	ck_assert_int_eq(server_parse(&cfg, args), -1);
	ck_assert_str_eq(secho_error(), "too many listeners (at most 16)");
}
END_TEST

START_TEST(test_server_help_version)
{
	struct secho_server_config cfg;

	ck_assert_int_eq(server_parse(&cfg, (const char *[]){ "--tls",
	    "--help", "--bogus", NULL }), 1);
	ck_assert_ptr_nonnull(outbuf);
	ck_assert_msg(strncmp(outbuf, "usage: secho-server ", 20) == 0,
	    "%s", outbuf);
	ck_assert_ptr_nonnull(strstr(outbuf, "--idle-timeout"));
	ck_assert_ptr_nonnull(strstr(outbuf, "tls://[::1]:7443"));
	ck_assert_int_eq(outbuf[outlen - 1], '\n');
	ck_assert_int_eq(server_parse(&cfg, (const char *[]){ "-h", NULL }),
	    1);
	ck_assert_msg(strncmp(outbuf, "usage: secho-server ", 20) == 0,
	    "%s", outbuf);

	ck_assert_int_eq(server_parse(&cfg, (const char *[]){ "--version",
	    NULL }), 1);
	ck_assert_str_eq(outbuf, "secho-server " SECHO_VERSION "\n");
	ck_assert_int_eq(server_parse(&cfg, (const char *[]){ "-V", NULL }),
	    1);
	ck_assert_str_eq(outbuf, "secho-server " SECHO_VERSION "\n");
}
END_TEST

START_TEST(test_server_reentrant)
{
	struct secho_server_config cfg;

	/* getopt state from an earlier (failed) parse must not leak. */
	ck_assert_int_eq(server_parse(&cfg, (const char *[]){ "--udp",
	    "--bogus", "--tls", NULL }), -1);
	ck_assert_int_eq(server_parse(&cfg, (const char *[]){ "--udp",
	    "--port", "5", NULL }), 0);
	ck_assert_uint_eq(cfg.nlisten, 1);
	ck_assert_int_eq(cfg.listen[0].proto, SECHO_UDP);
	ck_assert_int_eq(cfg.listen[0].port, 5);
}
END_TEST

/* --- secho-client --- */

/* The base64 SHA-256 of some public key: any 32 bytes do for parsing. */
#define PIN "A8ef5C89vw4pAt7omSSRXjY02z8lm1z10yFJFL0J6jc="

static const struct client_case {
	const char *args[12];
	int rc;
	enum secho_proto proto;
	const char *host;
	int port;
	const char *err;
} client_cases[] = {
	{ { "--tls", "localhost", "7443", NULL }, 0, SECHO_TLS, "localhost",
	    7443, NULL },
	{ { "-m", "hi", "--udp", "127.0.0.1", "9", NULL }, 0, SECHO_UDP,
	    "127.0.0.1", 9, NULL },
	{ { "localhost", NULL }, 0, SECHO_TCP, "localhost", 7007, NULL },
	{ { "--tls", "localhost", NULL }, 0, SECHO_TLS, "localhost", 7443,
	    NULL },
	{ { "--udp", "::1", NULL }, 0, SECHO_UDP, "::1", 7007, NULL },
	{ { "--dtls", "[::1]", NULL }, 0, SECHO_DTLS, "[::1]", 7443, NULL },
	{ { "h", "65535", "--tcp", NULL }, 0, SECHO_TCP, "h", 65535, NULL },
	{ { NULL }, -1, 0, NULL, 0, "missing HOST" },
	{ { "--tls", NULL }, -1, 0, NULL, 0, "missing HOST" },
	{ { "localhost", "70000", NULL }, -1, 0, NULL, 0,
	    "invalid port '70000' (expected 0-65535)" },
	{ { "localhost", "http", NULL }, -1, 0, NULL, 0,
	    "invalid port 'http' (expected 0-65535)" },
	{ { "localhost", "0", NULL }, -1, 0, NULL, 0,
	    "port 0 cannot be connected to" },
	{ { "a", "1", "b", NULL }, -1, 0, NULL, 0,
	    "unexpected argument 'b'" },
	{ { "localhost:7443", NULL }, -1, 0, NULL, 0,
	    "invalid HOST 'localhost:7443' (give the port as a separate "
	    "argument: HOST PORT)" },
	{ { "[::1]:7443", NULL }, -1, 0, NULL, 0,
	    "invalid HOST '[::1]:7443' (give the port as a separate "
	    "argument: HOST PORT)" },
	{ { "", NULL }, -1, 0, NULL, 0, "HOST must be 1 to 253 characters" },
	{ { "--tcp", "--tls", "h", NULL }, -1, 0, NULL, 0,
	    "--tcp and --tls are exclusive" },
	{ { "-m", "x", "-c", "2", "h", NULL }, -1, 0, NULL, 0,
	    "--message and --count are exclusive" },
	{ { "-m", "", "h", NULL }, -1, 0, NULL, 0,
	    "--message needs at least one byte" },
	{ { "-s", "100", "h", NULL }, -1, 0, NULL, 0,
	    "--size only applies to ping mode (--count N)" },
	{ { "-i", "1", "h", NULL }, -1, 0, NULL, 0,
	    "--interval only applies to ping mode (--count N)" },
	{ { "-c", "0", "h", NULL }, -1, 0, NULL, 0,
	    "--count: '0' is not a whole number >= 1" },
	{ { "-c", "1", "-s", "0", "h", NULL }, -1, 0, NULL, 0,
	    "--size: '0' is not a number from 1 to 1048576" },
	{ { "--udp", "-c", "1", "-s", "65508", "h", NULL }, -1, 0, NULL, 0,
	    "--size 65508 is too large for one udp datagram (at most 65507)" },
	{ { "--dtls", "-c", "1", "-s", "16385", "h", NULL }, -1, 0, NULL, 0,
	    "--size 16385 is too large for one dtls datagram (at most "
	    "16384)" },
	/* Datagram probes must carry their number; stream ones need not. */
	{ { "--udp", "-c", "2", "-s", "15", "h", NULL }, -1, 0, NULL, 0,
	    "--size 15 is too small for udp ping: each probe carries "
	    "\"secho seq=N \" (at least 16 bytes)" },
	{ { "--udp", "-c", "1", "-s", "1", "h", NULL }, 0, SECHO_UDP, "h",
	    7007, NULL },
	{ { "--dtls", "-c", "100000", "-s", "16", "h", NULL }, -1, 0, NULL,
	    0, "--size 16 is too small for dtls ping: each probe carries "
	    "\"secho seq=N \" (at least 17 bytes)" },
	{ { "--udp", "-c", "99999", "-s", "16", "h", NULL }, 0, SECHO_UDP,
	    "h", 7007, NULL },
	{ { "--tls", "-c", "1", "-s", "1", "h", NULL }, 0, SECHO_TLS, "h",
	    7443, NULL },
	{ { "-t", "-1", "h", NULL }, -1, 0, NULL, 0,
	    "--timeout: '-1' is not a number of seconds from 0 to 604800" },
	{ { "--insecure", "localhost", NULL }, -1, 0, NULL, 0,
	    "--insecure needs --tls or --dtls" },
	/* Every TLS option needs TLS; the first one given is named. */
	{ { "--udp", "--servername", "n", "--ca", "c", "h", NULL }, -1, 0,
	    NULL, 0, "--servername needs --tls or --dtls" },
	{ { "--capath", "d", "h", NULL }, -1, 0, NULL, 0,
	    "--capath needs --tls or --dtls" },
	{ { "--pin-sha256", PIN, "h", NULL }, -1, 0, NULL, 0,
	    "--pin-sha256 needs --tls or --dtls" },
	{ { "--mtls", "h", NULL }, -1, 0, NULL, 0,
	    "--mtls needs --tls or --dtls" },
	{ { "--tls-min", "1.2", "h", NULL }, -1, 0, NULL, 0,
	    "--tls-min needs --tls or --dtls" },
	{ { "--tls-max", "1.3", "h", NULL }, -1, 0, NULL, 0,
	    "--tls-max needs --tls or --dtls" },
	{ { "--ciphers", "x", "h", NULL }, -1, 0, NULL, 0,
	    "--ciphers needs --tls or --dtls" },
	{ { "--ciphersuites", "x", "h", NULL }, -1, 0, NULL, 0,
	    "--ciphersuites needs --tls or --dtls" },
	{ { "--groups", "x", "h", NULL }, -1, 0, NULL, 0,
	    "--groups needs --tls or --dtls" },
	{ { "--alpn", "x", "h", NULL }, -1, 0, NULL, 0,
	    "--alpn needs --tls or --dtls" },
	{ { "-m", "x", "--resume", "1", "h", NULL }, -1, 0, NULL, 0,
	    "--resume needs --tls or --dtls" },
	/* --servername */
	{ { "--tls", "--servername", "", "h", NULL }, -1, 0, NULL, 0,
	    "--servername: NAME must be 1 to 253 characters" },
	{ { "--tls", "--servername", NULL }, -1, 0, NULL, 0,
	    "option --servername needs a value" },
	/* --pin-sha256 */
	{ { "--tls", "--pin-sha256", "abc", "h", NULL }, -1, 0, NULL, 0,
	    "--pin-sha256: 'abc' is not a base64 SHA-256 digest (44 "
	    "characters ending in '=')" },
	{ { "--tls", "--pin-sha256", "sha256//", "h", NULL }, -1, 0, NULL,
	    0, "--pin-sha256: 'sha256//' is not a base64 SHA-256 digest (44 "
	    "characters ending in '=')" },
	/* One character short, one too many, hex, a non-canonical last digit */
	{ { "--tls", "--pin-sha256",
	    "A8ef5C89vw4pAt7omSSRXjY02z8lm1z10yFJFL0J6c=", "h", NULL }, -1, 0,
	    NULL, 0, "--pin-sha256: 'A8ef5C89vw4pAt7omSSRXjY02z8lm1z10yFJFL0"
	    "J6c=' is not a base64 SHA-256 digest (44 characters ending in "
	    "'=')" },
	{ { "--tls", "--pin-sha256",
	    "A8ef5C89vw4pAt7omSSRXjY02z8lm1z10yFJFL0J6jcc", "h", NULL }, -1, 0,
	    NULL, 0, "--pin-sha256: 'A8ef5C89vw4pAt7omSSRXjY02z8lm1z10yFJFL0"
	    "J6jcc' is not a base64 SHA-256 digest (44 characters ending in "
	    "'=')" },
	{ { "--tls", "--pin-sha256", "sha256//A8ef5C89vw4pAt7omSSRXjY02z8lm1z"
	    "10yFJFL0J6jd=", "h", NULL }, -1, 0, NULL, 0, "--pin-sha256: "
	    "'sha256//A8ef5C89vw4pAt7omSSRXjY02z8lm1z10yFJFL0J6jd=' is not a "
	    "base64 SHA-256 digest (44 characters ending in '=')" },
	{ { "--tls", "--pin-sha256", "03c79fe42f7dbf0e2902dee8a915e356",
	    "h", NULL }, -1, 0, NULL, 0, "--pin-sha256: "
	    "'03c79fe42f7dbf0e2902dee8a915e356' is not a base64 SHA-256 digest "
	    "(44 characters ending in '=')" },
	{ { "--tls", "--pin-sha256", PIN, "--insecure", "h", NULL }, -1, 0,
	    NULL, 0, "--pin-sha256 and --insecure are exclusive" },
	/* --mtls */
	{ { "--tls", "--mtls=yes", "h", NULL }, -1, 0, NULL, 0,
	    "option --mtls does not take a value" },
	/* --tls-min / --tls-max */
	{ { "--tls", "--tls-min", "1.1", "h", NULL }, -1, 0, NULL, 0,
	    "--tls-min: '1.1' is not a TLS version (1.2 or 1.3)" },
	{ { "--tls", "--tls-max", "TLSv1.3", "h", NULL }, -1, 0, NULL, 0,
	    "--tls-max: 'TLSv1.3' is not a TLS version (1.2 or 1.3)" },
	{ { "--tls", "--tls-max", "1.4", "h", NULL }, -1, 0, NULL, 0,
	    "--tls-max: '1.4' is not a TLS version (1.2 or 1.3)" },
	{ { "--tls", "--tls-min", "", "h", NULL }, -1, 0, NULL, 0,
	    "--tls-min: '' is not a TLS version (1.2 or 1.3)" },
	{ { "--tls", "--tls-max", NULL }, -1, 0, NULL, 0,
	    "option --tls-max needs a value" },
	{ { "--tls", "--tls-min", "1.3", "--tls-max", "1.2", "h", NULL }, -1,
	    0, NULL, 0, "--tls-min 1.3 is above --tls-max 1.2" },
	{ { "--tls", "--tls-min", "1.3", "--tls-max", "1.3", "h", NULL }, 0,
	    SECHO_TLS, "h", 7443, NULL },
	{ { "--dtls", "--tls-max", "1.3", "h", NULL }, -1, 0, NULL, 0,
	    "--tls-max 1.3 does not apply to --dtls (DTLS 1.2 is the only "
	    "version)" },
	{ { "--dtls", "--tls-min", "1.3", "h", NULL }, -1, 0, NULL, 0,
	    "--tls-min 1.3 does not apply to --dtls (DTLS 1.2 is the only "
	    "version)" },
	{ { "--dtls", "--tls-min", "1.2", "--tls-max", "1.2", "h", NULL }, 0,
	    SECHO_DTLS, "h", 7443, NULL },
	/* Cipher lists for a version the bounds rule out. */
	{ { "--dtls", "--ciphersuites", "TLS_AES_128_GCM_SHA256", "h",
	    NULL }, -1, 0, NULL, 0, "--ciphersuites only applies to TLS 1.3, "
	    "which --dtls rules out" },
	{ { "--tls", "--tls-max", "1.2", "--ciphersuites", "X", "h", NULL },
	    -1, 0, NULL, 0, "--ciphersuites only applies to TLS 1.3, which "
	    "--tls-max 1.2 rules out" },
	{ { "--tls", "--tls-min", "1.3", "--ciphers", "X", "h", NULL }, -1, 0,
	    NULL, 0, "--ciphers only applies to TLS 1.2, which --tls-min 1.3 "
	    "rules out" },
	{ { "--dtls", "--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256", "h",
	    NULL }, 0, SECHO_DTLS, "h", 7443, NULL },
	/* --alpn */
	{ { "--tls", "--alpn", "", "h", NULL }, -1, 0, NULL, 0,
	    "--alpn: empty protocol name in ''" },
	{ { "--tls", "--alpn", "h2,,echo", "h", NULL }, -1, 0, NULL, 0,
	    "--alpn: empty protocol name in 'h2,,echo'" },
	{ { "--tls", "--alpn", "echo,", "h", NULL }, -1, 0, NULL, 0,
	    "--alpn: empty protocol name in 'echo,'" },
	{ { "--tls", "--alpn", ",echo", "h", NULL }, -1, 0, NULL, 0,
	    "--alpn: empty protocol name in ',echo'" },
	/* --resume */
	{ { "--tls", "--resume", "2", "h", NULL }, -1, 0, NULL, 0,
	    "--resume needs --message or --count (stdin can be sent only "
	    "once)" },
	{ { "--tls", "-m", "x", "--resume", "0", "h", NULL }, -1, 0, NULL, 0,
	    "--resume: '0' is not a whole number >= 1" },
	{ { "--tls", "-m", "x", "--resume", "two", "h", NULL }, -1, 0, NULL,
	    0, "--resume: 'two' is not a whole number >= 1" },
	{ { "--dtls", "-c", "2", "--resume", "3", "h", NULL }, 0, SECHO_DTLS,
	    "h", 7443, NULL },
	{ { "--tls", "--key", "k.pem", "h", NULL }, -1, 0, NULL, 0,
	    "--key needs --cert" },
	{ { "-x", "h", NULL }, -1, 0, NULL, 0, "unknown option '-x'" },
	{ { "--bogus", "h", NULL }, -1, 0, NULL, 0,
	    "unknown or ambiguous option '--bogus'" },
	{ { "h", "-c", NULL }, -1, 0, NULL, 0,
	    "option --count needs a value" },
	{ { "--tcp=1", "h", NULL }, -1, 0, NULL, 0,
	    "option --tcp does not take a value" },
};

START_TEST(test_client_args)
{
	const struct client_case *tc = &client_cases[_i];
	struct secho_client_config cfg;
	int rc = client_parse(&cfg, tc->args);

	ck_assert_msg(rc == tc->rc, "case %d: rc %d, want %d (%s)", _i, rc,
	    tc->rc, secho_error());
	ck_assert_uint_eq(outlen, 0);
	if (rc == -1) {
		ck_assert_str_eq(secho_error(), tc->err);
		return;
	}
	ck_assert_msg(cfg.proto == tc->proto, "case %d: %s, want %s", _i,
	    secho_proto_name(cfg.proto), secho_proto_name(tc->proto));
	ck_assert_str_eq(cfg.host, tc->host);
	ck_assert_int_eq(cfg.port, tc->port);
}
END_TEST

START_TEST(test_client_values)
{
	struct secho_client_config cfg;

	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "localhost",
	    NULL }), 0);
	ck_assert_ptr_null(cfg.message);
	ck_assert_int_eq(cfg.count, 0);
	ck_assert_int_eq(cfg.interval_ms, 1000);
	ck_assert_uint_eq(cfg.size, 64);
	ck_assert_int_eq(cfg.timeout_ms, 10000);
	ck_assert_int_eq(cfg.verbose, 0);
	ck_assert_int_eq(cfg.quiet, 0);
	ck_assert_int_eq(cfg.tls.insecure, 0);

	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "-c", "3",
	    "-i", "0.2", "-s", "100", "localhost", NULL }), 0);
	ck_assert_int_eq(cfg.count, 3);
	ck_assert_int_eq(cfg.interval_ms, 200);
	ck_assert_uint_eq(cfg.size, 100);
	ck_assert_int_eq(cfg.port, 7007);

	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--count=2",
	    "--interval", "0", "--size=1048576", "-t", "0.0001", "-qv",
	    "-m", "x", "h", NULL }), -1);	/* -m with -c */
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--count=2",
	    "--interval", "0", "--size=1048576", "-t", "0.0001", "-qv",
	    "h", NULL }), 0);
	ck_assert_int_eq(cfg.count, 2);
	ck_assert_int_eq(cfg.interval_ms, 0);	/* flood */
	ck_assert_uint_eq(cfg.size, 1048576);
	ck_assert_int_eq(cfg.timeout_ms, 1);	/* never rounds to "none" */
	ck_assert_int_eq(cfg.quiet, 1);
	ck_assert_int_eq(cfg.verbose, 1);

	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "-t", "0",
	    "--message", "hello world", "h", NULL }), 0);
	ck_assert_int_eq(cfg.timeout_ms, 0);
	ck_assert_str_eq(cfg.message, "hello world");
}
END_TEST

START_TEST(test_client_tls_options)
{
	struct secho_client_config cfg;

	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "--insecure", "localhost", NULL }), 0);
	ck_assert_int_eq(cfg.tls.insecure, 1);
	ck_assert_int_eq(cfg.proto, SECHO_TLS);

	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--dtls",
	    "--ca", "my-ca.pem", "--cert", "c.pem", "--key", "k.pem",
	    "--keylog", "keys", "h", NULL }), 0);
	ck_assert_str_eq(cfg.tls.ca, "my-ca.pem");
	ck_assert_str_eq(cfg.tls.cert, "c.pem");
	ck_assert_str_eq(cfg.tls.key, "k.pem");
	ck_assert_str_eq(cfg.tls.keylog, "keys");
	ck_assert_int_eq(cfg.tls.insecure, 0);

	setenv("SSLKEYLOGFILE", "/tmp/env-keys", 1);
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls", "h",
	    NULL }), 0);
	ck_assert_str_eq(cfg.tls.keylog, "/tmp/env-keys");
	/* A plain transport ignores the environment (no TLS, no secrets). */
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "h", NULL }),
	    0);
	ck_assert_ptr_null(cfg.tls.keylog);
}
END_TEST

START_TEST(test_client_new_tls_options)
{
	struct secho_client_config cfg;
	char alpn[300];

	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "-m", "x", NULL }), -1);	/* no HOST: nothing else checked */
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "--servername", "only.example", "--capath", "/etc/ssl/certs",
	    "--ca", "a.pem", "--pin-sha256", PIN, "--tls-min", "1.2",
	    "--tls-max", "1.3", "--ciphers", "ECDHE-RSA-AES128-GCM-SHA256",
	    "--ciphersuites", "TLS_AES_128_GCM_SHA256", "--groups", "P-256",
	    "--alpn", "echo,h2", "-m", "x", "--resume", "3", "127.0.0.1",
	    NULL }), 0);
	ck_assert_str_eq(cfg.servername, "only.example");
	ck_assert_str_eq(cfg.host, "127.0.0.1");
	ck_assert_str_eq(cfg.tls.capath, "/etc/ssl/certs");
	ck_assert_str_eq(cfg.tls.ca, "a.pem");
	ck_assert_str_eq(cfg.tls.pin_sha256, PIN);
	ck_assert_int_eq(cfg.tls.min_version, SECHO_TLS_1_2);
	ck_assert_int_eq(cfg.tls.max_version, SECHO_TLS_1_3);
	ck_assert_str_eq(cfg.tls.ciphers, "ECDHE-RSA-AES128-GCM-SHA256");
	ck_assert_str_eq(cfg.tls.ciphersuites, "TLS_AES_128_GCM_SHA256");
	ck_assert_str_eq(cfg.tls.groups, "P-256");
	ck_assert_str_eq(cfg.tls.alpn, "echo,h2");
	ck_assert_int_eq(cfg.resume, 3);
	ck_assert_ptr_null(cfg.tls.cert);

	/* Defaults: none of it set. */
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls", "h",
	    NULL }), 0);
	ck_assert_ptr_null(cfg.servername);
	ck_assert_ptr_null(cfg.tls.capath);
	ck_assert_ptr_null(cfg.tls.pin_sha256);
	ck_assert_int_eq(cfg.tls.min_version, 0);
	ck_assert_int_eq(cfg.tls.max_version, 0);
	ck_assert_ptr_null(cfg.tls.ciphers);
	ck_assert_ptr_null(cfg.tls.ciphersuites);
	ck_assert_ptr_null(cfg.tls.groups);
	ck_assert_ptr_null(cfg.tls.alpn);
	ck_assert_int_eq(cfg.resume, 0);

	/* curl's "sha256//" prefix is stripped; --opt=value works too. */
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--dtls",
	    "--pin-sha256=sha256//" PIN, "--tls-max=1.2", "-c", "1",
	    "--resume=1", "h", NULL }), 0);
	ck_assert_str_eq(cfg.tls.pin_sha256, PIN);
	ck_assert_int_eq(cfg.tls.max_version, SECHO_TLS_1_2);
	ck_assert_int_eq(cfg.tls.min_version, 0);
	ck_assert_int_eq(cfg.resume, 1);
	ck_assert_int_eq(cfg.proto, SECHO_DTLS);

	/* A bracketed IPv6 --servername is kept as given (client.c strips). */
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "--servername", "[::1]", "localhost", NULL }), 0);
	ck_assert_str_eq(cfg.servername, "[::1]");

	/* ALPN names are 1 to 255 bytes. */
	memset(alpn, 'a', 255);
	strcpy(alpn + 255, ",b");
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "--alpn", alpn, "h", NULL }), 0);
	ck_assert_str_eq(cfg.tls.alpn, alpn);
	memmove(alpn + 1, alpn, strlen(alpn) + 1);
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "--alpn", alpn, "h", NULL }), -1);
	ck_assert_str_eq(secho_error(),
	    "--alpn: a protocol name is longer than 255 bytes");
}
END_TEST

/* --mtls: certs/client.pem and certs/client.key from the working dir. */
START_TEST(test_client_mtls)
{
	struct secho_client_config cfg;
	const char *dir = tu_tmpdir();
	char path[512];
	FILE *f;

	ck_assert_ptr_nonnull(dir);
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "--mtls", "h", NULL }), -1);
	unsetenv("CREDENTIALS_DIRECTORY");
	ck_assert_msg(strstr(secho_error(), "--mtls: no client.pem in ./certs, "
	    "$CREDENTIALS_DIRECTORY (unset) or ") == secho_error(), "%s",
	    secho_error());
	snprintf(path, sizeof(path), "%s/certs", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/certs/client.pem", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fclose(f);
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "--mtls", "h", NULL }), -1);
	ck_assert_str_eq(secho_error(), "--mtls: certs/client.pem has no "
	    "client.key beside it: give --key FILE");
	/* A --key of one's own needs only the certificate. */
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--dtls",
	    "--mtls", "--key", "my.key", "h", NULL }), 0);
	ck_assert_str_eq(cfg.tls.cert, "certs/client.pem");
	ck_assert_str_eq(cfg.tls.key, "my.key");

	snprintf(path, sizeof(path), "%s/certs/client.key", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fclose(f);
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "--mtls", "h", NULL }), 0);
	ck_assert_str_eq(cfg.tls.cert, "certs/client.pem");
	ck_assert_str_eq(cfg.tls.key, "certs/client.key");
	/* --cert wins, with its key in it or in --key. */
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "--mtls", "--cert", "me.pem", "h", NULL }), 0);
	ck_assert_str_eq(cfg.tls.cert, "me.pem");
	ck_assert_ptr_null(cfg.tls.key);
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "--cert", "me.pem", "--key", "me.key", "--mtls", "h", NULL }), 0);
	ck_assert_str_eq(cfg.tls.cert, "me.pem");
	ck_assert_str_eq(cfg.tls.key, "me.key");
	/* Without --mtls nothing is picked up. */
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls", "h",
	    NULL }), 0);
	ck_assert_ptr_null(cfg.tls.cert);
	ck_assert_ptr_null(cfg.tls.key);
}
END_TEST

START_TEST(test_client_default_ca)
{
	struct secho_client_config cfg;
	const char *dir = tu_tmpdir();
	char path[512];
	FILE *f;

	/* certs/ca.pem relative to the working directory, if it exists. */
	ck_assert_ptr_nonnull(dir);
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls", "h",
	    NULL }), 0);
	ck_assert_ptr_null(cfg.tls.ca);

	snprintf(path, sizeof(path), "%s/certs", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/certs/ca.pem", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fclose(f);
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls", "h",
	    NULL }), 0);
	ck_assert_str_eq(cfg.tls.ca, "certs/ca.pem");
	/* --ca wins; and plain tcp never picks it up. */
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls", "--ca",
	    "x.pem", "h", NULL }), 0);
	ck_assert_str_eq(cfg.tls.ca, "x.pem");
	/* A --capath is the trust asked for: no default CA beside it. */
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "--capath", "/etc/ssl/certs", "h", NULL }), 0);
	ck_assert_ptr_null(cfg.tls.ca);
	ck_assert_str_eq(cfg.tls.capath, "/etc/ssl/certs");
	/* With a pin the default CA stays; the pin decides. */
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "--pin-sha256", PIN, "h", NULL }), 0);
	ck_assert_str_eq(cfg.tls.ca, "certs/ca.pem");
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "h", NULL }),
	    0);
	ck_assert_ptr_null(cfg.tls.ca);
}
END_TEST

START_TEST(test_client_help_version)
{
	struct secho_client_config cfg;

	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--help",
	    NULL }), 1);
	ck_assert_ptr_nonnull(outbuf);
	ck_assert_msg(strncmp(outbuf, "usage: secho-client ", 20) == 0,
	    "%s", outbuf);
	ck_assert_ptr_nonnull(strstr(outbuf, "Exit codes:"));
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "-V", "h",
	    NULL }), 1);
	ck_assert_str_eq(outbuf, "secho-client " SECHO_VERSION "\n");
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--version",
	    NULL }), 1);
	ck_assert_str_eq(outbuf, "secho-client " SECHO_VERSION "\n");
}
END_TEST

/*
 * The usage line names every transport, and the README's copy of it is
 * the same line.
 */
START_TEST(test_client_usage_line)
{
	struct secho_client_config cfg;
	char path[512], *readme, *nl;

	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--help",
	    NULL }), 1);
	nl = strchr(outbuf, '\n');
	ck_assert_ptr_nonnull(nl);
	*nl = '\0';
	ck_assert_str_eq(outbuf, "usage: secho-client "
	    "[--tcp|--tls|--udp|--dtls] [options] HOST [PORT]");
	snprintf(path, sizeof(path), "%s/README.md", tu_root());
	readme = tu_slurp(path, NULL);
	ck_assert_ptr_nonnull(readme);
	ck_assert_msg(strstr(readme, "`secho-client "
	    "[--tcp|--tls|--udp|--dtls] [options] HOST [PORT]`") != NULL,
	    "README's secho-client usage line lacks a transport");
	free(readme);
}
END_TEST

/* --- the TLS options the three programs share (tls_opts.c) --- */

#define SRV 1
#define CLI 2
#define BEN 4

/* What a shared option sets, to check that it was taken. */
enum sets { S_STRING, S_INT, S_SERVERNAME, S_RESUME };

static const struct shared_case {
	const char *opt;	/* "--ca" */
	const char *value;	/* NULL: a flag */
	unsigned progs;		/* the programs that take it */
	enum sets sets;
	size_t field;		/* in struct secho_tls_opts */
	int want;		/* S_INT: the value it sets */
} shared_cases[] = {
	{ "--ca", "a.pem", SRV | CLI | BEN, S_STRING,
	    offsetof(struct secho_tls_opts, ca), 0 },
	{ "--capath", "/d", CLI, S_STRING,
	    offsetof(struct secho_tls_opts, capath), 0 },
	{ "--cert", "c.pem", SRV | CLI, S_STRING,
	    offsetof(struct secho_tls_opts, cert), 0 },
	{ "--key", "k.pem", SRV | CLI, S_STRING,
	    offsetof(struct secho_tls_opts, key), 0 },
	{ "--keylog", "keys", SRV | CLI, S_STRING,
	    offsetof(struct secho_tls_opts, keylog), 0 },
	{ "--tls-min", "1.3", SRV | CLI, S_INT,
	    offsetof(struct secho_tls_opts, min_version), SECHO_TLS_1_3 },
	{ "--tls-max", "1.2", SRV | CLI, S_INT,
	    offsetof(struct secho_tls_opts, max_version), SECHO_TLS_1_2 },
	{ "--ciphers", "ECDHE-RSA-AES128-GCM-SHA256", SRV | CLI, S_STRING,
	    offsetof(struct secho_tls_opts, ciphers), 0 },
	{ "--ciphersuites", "TLS_AES_128_GCM_SHA256", SRV | CLI, S_STRING,
	    offsetof(struct secho_tls_opts, ciphersuites), 0 },
	{ "--groups", "P-256", SRV | CLI, S_STRING,
	    offsetof(struct secho_tls_opts, groups), 0 },
	{ "--alpn", "echo,h2", SRV | CLI, S_STRING,
	    offsetof(struct secho_tls_opts, alpn), 0 },
	{ "--mtu", "1400", SRV | CLI, S_INT,
	    offsetof(struct secho_tls_opts, mtu), 1400 },
	{ "--insecure", NULL, CLI | BEN, S_INT,
	    offsetof(struct secho_tls_opts, insecure), 1 },
	{ "--pin-sha256", PIN, CLI, S_STRING,
	    offsetof(struct secho_tls_opts, pin_sha256), 0 },
	{ "--no-tickets", NULL, SRV, S_INT,
	    offsetof(struct secho_tls_opts, no_tickets), 1 },
	{ "--ticket-key-file", "t.key", SRV, S_STRING,
	    offsetof(struct secho_tls_opts, ticket_key_file), 0 },
	{ "--servername", "n.example", CLI | BEN, S_SERVERNAME, 0, 0 },
	{ "--resume", NULL, CLI | BEN, S_RESUME, 0, 1 },
};

#define NSHARED (int)(sizeof(shared_cases) / sizeof(shared_cases[0]))

/* The shared case's option on a command line that is otherwise valid. */
static int
shared_parse(const struct shared_case *sc, unsigned prog, void *cfg)
{
	/* After the option, so that a bare --resume takes no N; the
	 * client's --key needs a --cert (which the --cert case overrides). */
	static const char *const rest[][7] = {
		[SRV] = { NULL },
		[CLI] = { "--tls", "-m", "x", "--cert", "c.pem", "h", NULL },
		[BEN] = { "hs", "--tls", "h", "1", NULL },
	};
	const char *args[12];
	int n = 0;

	args[n++] = sc->opt;
	if (sc->value != NULL)
		args[n++] = sc->value;
	for (int i = 0; rest[prog][i] != NULL; i++)
		args[n++] = rest[prog][i];
	args[n] = NULL;
	if (prog == SRV)
		return server_parse(cfg, args);
	if (prog == CLI)
		return client_parse(cfg, args);
	return bench_parse(cfg, args);
}

static void
assert_shared_set(const struct shared_case *sc, const struct secho_tls_opts
    *tls, const char *servername, long resume)
{
	const char *f = (const char *)tls + sc->field;

	switch (sc->sets) {
	case S_STRING:
		ck_assert_str_eq(*(const char *const *)(const void *)f,
		    sc->value);
		break;
	case S_INT:
		ck_assert_int_eq(*(const int *)(const void *)f, sc->want);
		break;
	case S_SERVERNAME:
		ck_assert_str_eq(servername, sc->value);
		break;
	case S_RESUME:
		ck_assert_int_eq(resume, sc->want);
		break;
	}
}

/* Each shared option in each program: taken, or an unknown option. */
START_TEST(test_shared_accepted)
{
	const struct shared_case *sc = &shared_cases[_i / 3];
	unsigned prog = 1u << (_i % 3);
	union {
		struct secho_server_config s;
		struct secho_client_config c;
		struct secho_bench_config b;
	} u;
	char want[64];
	int rc = shared_parse(sc, prog, &u);

	if (!(sc->progs & prog)) {
		ck_assert_int_eq(rc, -1);
		snprintf(want, sizeof(want), prog == SRV ? "unknown option "
		    "'%s'" : prog == CLI ? "unknown or ambiguous option '%s'" :
		    "%s: unknown option or missing value", sc->opt);
		ck_assert_str_eq(secho_error(), want);
		return;
	}
	ck_assert_msg(rc == 0, "%s in %u: %s", sc->opt, prog, secho_error());
	if (prog == SRV)
		assert_shared_set(sc, &u.s.tls, NULL, 0);
	else if (prog == CLI)
		assert_shared_set(sc, &u.c.tls, u.c.servername, u.c.resume);
	else
		assert_shared_set(sc, &u.b.tls, u.b.servername, u.b.resume);
}
END_TEST

/* --resume[=N] in the client: N reconnections, 1 without N. */
START_TEST(test_shared_resume_client)
{
	struct secho_client_config cfg;

	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "--resume", "-m", "x", "h", NULL }), 0);
	ck_assert_int_eq(cfg.resume, 1);
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "-m", "x", "h", "--resume", NULL }), 0);
	ck_assert_int_eq(cfg.resume, 1);
	ck_assert_str_eq(cfg.host, "h");
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "-m", "x", "--resume=3", "h", "9", NULL }), 0);
	ck_assert_int_eq(cfg.resume, 3);
	ck_assert_int_eq(cfg.port, 9);
	/* The old spelling: a next word that is no option is N. */
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "h", "--resume", "4", "-c", "1", "9", NULL }), 0);
	ck_assert_int_eq(cfg.resume, 4);
	ck_assert_str_eq(cfg.host, "h");
	ck_assert_int_eq(cfg.port, 9);
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "-m", "x", "--resume", "h", NULL }), -1);
	ck_assert_str_eq(secho_error(),
	    "--resume: 'h' is not a whole number >= 1");
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "-m", "x", "--resume=0", "h", NULL }), -1);
	ck_assert_str_eq(secho_error(),
	    "--resume: '0' is not a whole number >= 1");
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "-m", "x", "--resume", "-1", "h", NULL }), -1);
	ck_assert_str_eq(secho_error(),
	    "--resume: '-1' is not a whole number >= 1");
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls",
	    "--resume", "h", NULL }), -1);
	ck_assert_str_eq(secho_error(),
	    "--resume: 'h' is not a whole number >= 1");
	ck_assert_int_eq(client_parse(&cfg, (const char *[]){ "--tls", "h",
	    "--resume", NULL }), -1);
	ck_assert_str_eq(secho_error(), "--resume needs --message or --count "
	    "(stdin can be sent only once)");
}
END_TEST

/* --resume in the bench: hs offers sessions; no N. */
START_TEST(test_shared_resume_bench)
{
	struct secho_bench_config cfg;

	ck_assert_int_eq(bench_parse(&cfg, (const char *[]){ "hs", "--tls",
	    "h", "1", NULL }), 0);
	ck_assert_int_eq(cfg.resume, 0);
	ck_assert_int_eq(cfg.tls.no_resume, 1);	/* full handshakes */
	ck_assert_int_eq(bench_parse(&cfg, (const char *[]){ "hs", "--tls",
	    "--resume", "h", "1", NULL }), 0);
	ck_assert_int_eq(cfg.resume, 1);
	ck_assert_int_eq(cfg.tls.no_resume, 0);
	ck_assert_str_eq(cfg.host, "h");	/* not taken as an N */
	ck_assert_int_eq(bench_parse(&cfg, (const char *[]){ "dtls",
	    "--resume", "h", "1", NULL }), -1);
	ck_assert_str_eq(secho_error(), "--resume is for the hs mode");
	ck_assert_int_eq(bench_parse(&cfg, (const char *[]){ "hs",
	    "--resume=2", "--tls", "h", "1", NULL }), -1);
	ck_assert_str_eq(secho_error(),
	    "--resume=2: unknown option or missing value");
	ck_assert_int_eq(bench_parse(&cfg, (const char *[]){ "hs",
	    "--resume", "h", "1", NULL }), -1);
	ck_assert_str_eq(secho_error(),
	    "--resume needs --tls (or the dtls mode)");
	ck_assert_int_eq(bench_parse(&cfg, (const char *[]){ "hs", "--tls",
	    "--servername", "", "h", "1", NULL }), -1);
	ck_assert_str_eq(secho_error(),
	    "--servername: NAME must be 1 to 253 characters");
}
END_TEST

/* True if the --help in outbuf has a line for opt ("  --ca FILE ..."). */
static int
help_lists(const char *opt)
{
	size_t n = strlen(opt);

	for (const char *p = outbuf; (p = strstr(p, opt)) != NULL; p += n)
		if (p - outbuf >= 3 && strncmp(p - 3, "\n  ", 3) == 0 &&
		    strchr(" [\n", p[n]) != NULL)
			return 1;
	return 0;
}

/* Every program's --help lists exactly the shared options it takes. */
START_TEST(test_shared_help)
{
	union {
		struct secho_server_config s;
		struct secho_client_config c;
		struct secho_bench_config b;
	} u;
	unsigned prog = 1u << _i;
	int rc = prog == SRV ? server_parse(&u.s, (const char *[]){ "-h",
	    NULL }) : prog == CLI ? client_parse(&u.c, (const char *[]){ "-h",
	    NULL }) : bench_parse(&u.b, (const char *[]){ "-h", NULL });

	ck_assert_int_eq(rc, 1);
	for (int i = 0; i < NSHARED; i++) {
		const struct shared_case *sc = &shared_cases[i];

		ck_assert_msg(help_lists(sc->opt) == !!(sc->progs & prog),
		    "%s in the --help of %u:\n%s", sc->opt, prog, outbuf);
	}
	ck_assert_ptr_nonnull(strstr(outbuf, prog == CLI ? "--resume[=N]" :
	    prog == BEN ? "  --resume    " : "--no-tickets"));
}
END_TEST

Suite *
opts_suite(void)
{
	Suite *s = suite_create("opts");
	TCase *tc = tcase_create("server");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_server_args, 0,
	    (int)(sizeof(server_cases) / sizeof(server_cases[0])));
	tcase_add_test(tc, test_server_defaults);
	tcase_add_test(tc, test_server_default_certs);
	tcase_add_test(tc, test_server_values);
	tcase_add_test(tc, test_server_keylog_env);
	tcase_add_test(tc, test_server_too_many_listeners);
	tcase_add_test(tc, test_server_too_many_sni_certs);
	tcase_add_test(tc, test_server_help_version);
	tcase_add_test(tc, test_server_reentrant);
	suite_add_tcase(s, tc);

	tc = tcase_create("client");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_client_args, 0,
	    (int)(sizeof(client_cases) / sizeof(client_cases[0])));
	tcase_add_test(tc, test_client_values);
	tcase_add_test(tc, test_client_tls_options);
	tcase_add_test(tc, test_client_new_tls_options);
	tcase_add_test(tc, test_client_mtls);
	tcase_add_test(tc, test_client_default_ca);
	tcase_add_test(tc, test_client_help_version);
	tcase_add_test(tc, test_client_usage_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("shared");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_shared_accepted, 0, NSHARED * 3);
	tcase_add_test(tc, test_shared_resume_client);
	tcase_add_test(tc, test_shared_resume_bench);
	tcase_add_loop_test(tc, test_shared_help, 0, 3);
	suite_add_tcase(s, tc);
	return s;
}
