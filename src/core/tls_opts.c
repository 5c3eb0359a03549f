/*
 * tls_opts.c - the one table of TLS options shared by secho-server,
 * secho-client and secho-bench (like OpenBSD nc's process_tls_opt
 * keywords): each row's name, argument, programs, help and effect.
 */
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

/* The last default certificate place, as --help names it (certs.c). */
#ifndef SECHO_SYSCONFDIR
#define SECHO_SYSCONFDIR "/usr/local/etc"
#endif
#define SECHO_SYSCONFDIR_HELP SECHO_SYSCONFDIR "/secho"

#include "secho/net.h"
#include "secho/opts.h"
#include "secho/tls_opts.h"
#include "secho/tls_trace.h"

/* curl's --pinnedpubkey spelling, accepted and stripped. */
#define PIN_PREFIX	"sha256//"
/* base64 of a SHA-256 digest: 43 characters and one '='. */
#define PIN_LEN		44
#define ALPN_NAME_MAX	255
#define HELP_COLUMN	25	/* where help text starts in --help */

#define SRV	SECHO_PROG_SERVER
#define CLI	SECHO_PROG_CLIENT
#define BEN	SECHO_PROG_BENCH
#define AT(f)	offsetof(struct secho_tls_opts, f)

/* What a row does with its value. */
enum effect {
	E_STRING,	/* a const char * field = the value */
	E_FLAG,		/* an int field = 1 */
	E_VERSION,	/* an int field = enum secho_tls_version */
	E_MTU,		/* an int field = 256..65535 */
	E_ALPN,		/* checked, then a string field */
	E_PIN,		/* checked and stripped, then a string field */
	E_SERVERNAME,	/* cl->servername, outside secho_tls_opts */
	E_RESUME_N,	/* cl->resume = N, 1 without a value */
	E_RESUME,	/* cl->resume = 1 */
	E_RECORDS,	/* an int field = 0 for "openssl", 1 for "secho" */
	E_TRACE,	/* an int field = enum secho_trace_level */
};

/*
 * A name may have several rows for disjoint programs: the same option
 * with another help text or, for --resume, another argument.
 */
struct row {
	const char *name;
	int has_arg;		/* getopt's no_, required_, optional_argument */
	unsigned progs;		/* enum secho_prog bits */
	const char *arg;	/* "FILE" in --help; NULL without a value */
	enum effect effect;
	size_t field;		/* offset in struct secho_tls_opts */
	const char *help;	/* lines separated by '\n' */
};

static const struct row rows[] = {
	{ "cert", required_argument, SRV, "FILE", E_STRING, AT(cert),
	    "certificate chain (default: server.pem from\n"
	    "the first of ./certs, $CREDENTIALS_DIRECTORY\n"
	    "and " SECHO_SYSCONFDIR_HELP " that has one)" },
	{ "key", required_argument, SRV, "FILE", E_STRING, AT(key),
	    "private key (default: server.key beside the\n"
	    "default server.pem; else the --cert file)" },
	{ "ca", required_argument, SRV, "FILE", E_STRING, AT(ca),
	    "CA for client certificates (default: ca.pem\n"
	    "beside server.pem; read with --verify-client)" },
	{ "ca", required_argument, CLI | BEN, "FILE", E_STRING, AT(ca),
	    "CA certificates to verify the server with\n"
	    "(default: ca.pem from ./certs,\n"
	    "$CREDENTIALS_DIRECTORY or " SECHO_SYSCONFDIR_HELP ",\n"
	    "else the system store; -v says which)" },
	{ "capath", required_argument, CLI, "DIR", E_STRING, AT(capath),
	    "directory of CA certificates in c_rehash\n"
	    "layout; may be combined with --ca (no\n"
	    "default ca.pem beside it)" },
	{ "servername", required_argument, CLI | BEN, "NAME", E_SERVERNAME, 0,
	    "send NAME as SNI and verify the certificate\n"
	    "for NAME instead of HOST (to connect by\n"
	    "address to a server known by name)" },
	{ "pin-sha256", required_argument, CLI, "BASE64", E_PIN,
	    AT(pin_sha256),
	    "trust the server by its public key instead of\n"
	    "a CA and host name: the base64 SHA-256 of its\n"
	    "SubjectPublicKeyInfo (curl's \"sha256//\"\n"
	    "prefix is accepted)" },
	{ "cert", required_argument, CLI, "FILE", E_STRING, AT(cert),
	    "client certificate chain (PEM)" },
	{ "key", required_argument, CLI, "FILE", E_STRING, AT(key),
	    "its private key (default: read from --cert)" },
	{ "insecure", no_argument, CLI | BEN, NULL, E_FLAG, AT(insecure),
	    "do not verify the server's certificate" },
	{ "tls-min", required_argument, SRV | CLI, "VERSION", E_VERSION,
	    AT(min_version),
	    "lowest protocol version: 1.2 or 1.3 (default\n"
	    "1.2; DTLS is always 1.2)" },
	{ "tls-max", required_argument, SRV | CLI, "VERSION", E_VERSION,
	    AT(max_version),
	    "highest protocol version: 1.2 or 1.3 (default\n"
	    "1.3)" },
	{ "ciphers", required_argument, SRV | CLI, "LIST", E_STRING,
	    AT(ciphers),
	    "TLS 1.2 ciphers, OpenSSL syntax (default: ECDHE\n"
	    "with AES-GCM or ChaCha20-Poly1305 only)" },
	{ "ciphersuites", required_argument, SRV | CLI, "LIST", E_STRING,
	    AT(ciphersuites),
	    "TLS 1.3 suites (default: all three AEAD ones,\n"
	    "AES-128-GCM first)" },
	{ "groups", required_argument, SRV | CLI, "LIST", E_STRING,
	    AT(groups), "key exchange groups (default X25519:P-256:P-384)" },
	{ "alpn", required_argument, SRV, "LIST", E_ALPN, AT(alpn),
	    "protocols to accept, comma-separated, e.g.\n"
	    "echo,h2 (default: no ALPN)" },
	{ "alpn", required_argument, CLI, "LIST", E_ALPN, AT(alpn),
	    "application protocols to offer, comma-separated\n"
	    "(\"h2,http/1.1\"); -v shows the server's choice" },
	{ "no-tickets", no_argument, SRV, NULL, E_FLAG, AT(no_tickets),
	    "no session tickets (resumption by session id)" },
	{ "ticket-key-file", required_argument, SRV, "FILE", E_STRING,
	    AT(ticket_key_file),
	    "80 bytes of ticket keys shared by several\n"
	    "servers; re-read on SIGHUP, old key still valid" },
	{ "resume", optional_argument, CLI, "N", E_RESUME_N, 0,
	    "after the echo (-m or -c), reconnect N times\n"
	    "(default 1) offering the previous session,\n"
	    "repeat the echo, and print whether each\n"
	    "handshake was resumed (\"--resume N\" works too)" },
	{ "resume", no_argument, BEN, NULL, E_RESUME, 0,
	    "hs: each handshake after a thread's first\n"
	    "offers the newest session that thread got\n"
	    "(no N: hs reconnects all the time)" },
	{ "record-layer", required_argument, SRV, "NAME", E_RECORDS,
	    AT(record_layer),
	    "who seals TLS 1.3 application data once the\n"
	    "handshake is done: openssl (default) or secho\n"
	    "(its own, faster; TLS 1.2 stays on OpenSSL)" },
	{ "keylog", required_argument, SRV | CLI, "FILE", E_STRING, AT(keylog),
	    "append TLS secrets for Wireshark (NSS format;\n"
	    "default $SSLKEYLOGFILE)" },
	{ "mtu", required_argument, SRV | CLI, "BYTES", E_MTU, AT(mtu),
	    "DTLS: link MTU handshake datagrams must fit\n"
	    "(default 1500)" },
	{ "trace", optional_argument, SRV | CLI, "records", E_TRACE, AT(trace),
	    "tls/dtls: log each handshake message and alert\n"
	    "sent (>) or received (<), its length and the\n"
	    "time since the connection began; =records adds\n"
	    "each record header" },
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

void
secho_tls_cmdline_init(struct secho_tls_cmdline *cl, enum secho_prog prog,
    struct secho_tls_opts *tls)
{
	memset(cl, 0, sizeof(*cl));
	cl->prog = prog;
	cl->tls = tls;
}

int
secho_tls_opt_longopts(enum secho_prog prog, const struct option *own,
    struct option *out, size_t n)
{
	size_t k = 0;

	for (; own->name != NULL; own++) {
		if (k + 1 >= n)
			goto full;
		out[k++] = *own;
	}
	for (size_t i = 0; i < NROWS; i++) {
		if (!(rows[i].progs & prog))
			continue;
		if (k + 1 >= n)
			goto full;
		out[k++] = (struct option){ rows[i].name, rows[i].has_arg,
		    NULL, SECHO_TLS_OPT_BASE + (int)i };
	}
	out[k] = (struct option){ NULL, 0, NULL, 0 };
	return 0;
full:
	secho_error_set("option table full (%zu entries)", n);
	return -1;
}

/*
 * The base64 of 32 bytes, canonical (the last digit's two spare bits are
 * 0), so that a typo is a usage error rather than a failed handshake.
 */
static int
parse_pin(const char *name, const char *s, const char **out)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = s;
	size_t i;

	if (strncmp(p, PIN_PREFIX, strlen(PIN_PREFIX)) == 0)
		p += strlen(PIN_PREFIX);
	for (i = 0; i < PIN_LEN - 1 && p[i] != '\0' &&
	    strchr(b64, p[i]) != NULL; i++)
		;
	if (i != PIN_LEN - 1 || strcmp(p + i, "=") != 0 ||
	    (strchr(b64, p[i - 1]) - b64) % 4 != 0) {
		secho_error_set("%s: '%s' is not a base64 SHA-256 digest (%d "
		    "characters ending in '=')", name, s, PIN_LEN);
		return -1;
	}
	*out = p;
	return 0;
}

/* "h2,http/1.1": names of 1 to 255 bytes, as the ALPN extension needs. */
static int
check_alpn(const char *name, const char *s)
{
	const char *p = s, *comma;
	size_t n;

	for (;;) {
		comma = strchr(p, ',');
		n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (n == 0) {
			secho_error_set("%s: empty protocol name in '%s'",
			    name, s);
			return -1;
		}
		if (n > ALPN_NAME_MAX) {
			secho_error_set("%s: a protocol name is longer than "
			    "%d bytes", name, ALPN_NAME_MAX);
			return -1;
		}
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}

static int
parse_servername(struct secho_tls_cmdline *cl, const char *name,
    const char *s)
{
	if (*s == '\0' || strlen(s) > SECHO_HOST_MAX - 3) {
		secho_error_set("%s: NAME must be 1 to %d characters", name,
		    SECHO_HOST_MAX - 3);
		return -1;
	}
	cl->servername = s;
	return 0;
}

/*
 * --resume[=N], and "--resume N" as it was spelt when N was required: a
 * next word that is not an option is N (so "--resume two" stays an error
 * rather than a host named "two").
 */
static int
parse_resume(struct secho_tls_cmdline *cl, const char *name, int argc,
    char **argv)
{
	const char *s = optarg;
	long v;

	if (s == NULL && optind < argc && (argv[optind][0] != '-' ||
	    isdigit((unsigned char)argv[optind][1])))
		s = argv[optind++];
	if (s == NULL) {
		cl->resume = 1;
		return 0;
	}
	if (secho_opt_long(name, s, 1, LONG_MAX, &v) == -1)
		return -1;
	cl->resume = v;
	return 0;
}

static int
apply(struct secho_tls_cmdline *cl, const struct row *r, const char *name,
    int argc, char **argv)
{
	char *f = (char *)cl->tls + r->field;
	long v;

	switch (r->effect) {
	case E_STRING: *(const char **)(void *)f = optarg; return 0;
	case E_FLAG: *(int *)(void *)f = 1; return 0;
	case E_VERSION:
		return secho_opt_tls_version(name, optarg, (int *)(void *)f);
	case E_MTU:
		if (secho_opt_long(name, optarg, 256, 65535, &v) == -1)
			return -1;
		*(int *)(void *)f = (int)v;
		return 0;
	case E_ALPN:
		*(const char **)(void *)f = optarg;
		return check_alpn(name, optarg);
	case E_PIN:
		return parse_pin(name, optarg, (const char **)(void *)f);
	case E_SERVERNAME: return parse_servername(cl, name, optarg);
	case E_RESUME_N: return parse_resume(cl, name, argc, argv);
	case E_RESUME: cl->resume = 1; return 0;
	case E_RECORDS:
		if (strcmp(optarg, "openssl") != 0 &&
		    strcmp(optarg, "secho") != 0) {
			secho_error_set("%s: '%s' is not a record layer "
			    "(openssl or secho)", name, optarg);
			return -1;
		}
		*(int *)(void *)f = strcmp(optarg, "secho") == 0;
		return 0;
	case E_TRACE:
		if (optarg != NULL && strcmp(optarg, "records") != 0 &&
		    strcmp(optarg, "messages") != 0) {
			secho_error_set("%s: '%s' is not a trace level "
			    "(--trace or --trace=records)", name, optarg);
			return -1;
		}
		*(int *)(void *)f = optarg != NULL &&
		    strcmp(optarg, "records") == 0 ? SECHO_TRACE_RECORDS :
		    SECHO_TRACE_MESSAGES;
		return 0;
	}
	return 1;
}

int
secho_tls_opt_parse(struct secho_tls_cmdline *cl, int c, int argc,
    char **argv)
{
	const struct row *r;
	char name[40];

	if (c < SECHO_TLS_OPT_BASE || c >= SECHO_TLS_OPT_BASE + (int)NROWS)
		return 1;
	r = &rows[c - SECHO_TLS_OPT_BASE];
	if (!(r->progs & cl->prog))
		return 1;
	/* --trace has nothing to say over tcp/udp, but is no mistake
	 * there: "--ca needs --tls" does not apply to it. */
	if (cl->first == NULL && r->effect != E_TRACE)
		cl->first = r->name;
	snprintf(name, sizeof(name), "--%s", r->name);
	return apply(cl, r, name, argc, argv);
}

/* "  --resume[=N]" padded to the help column, then the help lines. */
static int
usage_row(const struct row *r, FILE *out)
{
	const char *p = r->help;
	int n;

	n = fprintf(out, "  --%s%s%s%s", r->name, r->arg == NULL ? "" :
	    r->has_arg == optional_argument ? "[=" : " ",
	    r->arg != NULL ? r->arg : "",
	    r->has_arg == optional_argument ? "]" : "");
	if (n < 0)
		return -1;
	if (n > HELP_COLUMN - 2) {	/* too long: help on the next line */
		if (fputc('\n', out) == EOF)
			return -1;
		n = 0;
	}
	for (;;) {
		size_t len = strcspn(p, "\n");

		if (fprintf(out, "%*s%.*s\n", HELP_COLUMN - n, "", (int)len,
		    p) < 0)
			return -1;
		if (p[len] == '\0')
			return 0;
		p += len + 1;
		n = 0;
	}
}

int
secho_tls_opt_usage(enum secho_prog prog, FILE *out)
{
	for (size_t i = 0; i < NROWS; i++)
		if ((rows[i].progs & prog) && usage_row(&rows[i], out) == -1)
			return -1;
	return 0;
}

int
secho_tls_opt_help(enum secho_prog prog, FILE *out, const char *before,
    const char *after)
{
	if (fputs(before, out) == EOF || secho_tls_opt_usage(prog, out) == -1 ||
	    fputs(after, out) == EOF) {
		secho_error_errno("writing --help");
		return -1;
	}
	return 1;
}

void
secho_tls_opt_keylog_env(struct secho_tls_opts *t)
{
	const char *env = getenv("SSLKEYLOGFILE");

	if (t->keylog == NULL && env != NULL && *env != '\0')
		t->keylog = env;
}
