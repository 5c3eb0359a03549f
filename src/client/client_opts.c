/*
 * client_opts.c - secho-client's command line: defaults, getopt_long and
 * the checks that need every option at once (limits depend on the
 * transport, TLS options need a TLS transport).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client_int.h"
#include "secho/opts.h"
#include "secho/proxy.h"
#include "secho/tls_opts.h"


/*
 * The TLS options shared with the server and bench are in tls_opts.c;
 * they and --mtls need a TLS transport (see finish_tls).
 */
enum {
	OPT_TCP = 256, OPT_TLS, OPT_UDP, OPT_DTLS, OPT_MTLS, OPT_SEND_PROXY,
	OPT_PROXY_SOURCE, OPT_PROXY_DEST, OPT_REPORT, OPT_JSON,
};

static const struct option longopts[] = {
	{ "tcp", no_argument, NULL, OPT_TCP },
	{ "tls", no_argument, NULL, OPT_TLS },
	{ "udp", no_argument, NULL, OPT_UDP },
	{ "dtls", no_argument, NULL, OPT_DTLS },
	{ "message", required_argument, NULL, 'm' },
	{ "count", required_argument, NULL, 'c' },
	{ "interval", required_argument, NULL, 'i' },
	{ "size", required_argument, NULL, 's' },
	{ "timeout", required_argument, NULL, 't' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "mtls", no_argument, NULL, OPT_MTLS },
	{ "send-proxy", optional_argument, NULL, OPT_SEND_PROXY },
	{ "proxy-source", required_argument, NULL, OPT_PROXY_SOURCE },
	{ "proxy-dest", required_argument, NULL, OPT_PROXY_DEST },
	{ "report", no_argument, NULL, OPT_REPORT },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static const char usage[] =
"usage: secho-client [--tcp|--tls|--udp|--dtls] [options] HOST [PORT]\n"
"\n"
"Sends stdin, one message (-m) or ping probes (-c) to a secho server and\n"
"checks that every byte comes back unchanged.  Echoes go to stdout.\n"
"HOST may be a name, an IPv4 address or an IPv6 address ([::1] or ::1);\n"
"PORT defaults to 7007 for tcp/udp and 7443 for tls/dtls.\n"
"\n"
"Transports (default tcp):\n"
"  --tcp                  plain TCP stream\n"
"  --tls                  TLS 1.2/1.3 over TCP\n"
"  --udp                  plain UDP: each stdin read is one datagram\n"
"  --dtls                 DTLS 1.2 over UDP (datagrams of <= 1200 bytes)\n"
"\n"
"Modes (default: echo stdin until EOF):\n"
"  -m, --message MSG      send MSG once, print the echo and exit\n"
"  -c, --count N          ping: send N probes and print round-trip times\n"
"  -i, --interval SECS    ping: time from one probe to the next, answered\n"
"                         or not (default 1; 0 floods: the next probe as\n"
"                         soon as the last is answered or lost)\n"
"  -s, --size BYTES       ping: payload size (default 64; at most 65507\n"
"                         for udp (65527 to an IPv6 address), 16384 for\n"
"                         dtls, 1048576 for tcp/tls;\n"
"                         with -c 2 or more over udp/dtls at least 16,\n"
"                         so that every probe carries its number and a\n"
"                         late reply is not taken for a later probe's)\n"
"\n"
"  -t, --timeout SECS     limit for connecting, for the TLS handshake and\n"
"                         for echo progress; in udp/dtls ping, when a\n"
"                         probe counts as lost (default 10; 0: none)\n"
"  -v, --verbose          connection and TLS details on stderr\n"
"  -q, --quiet            ping: print only the summary\n"
"  --report               the server (started with --report) first says\n"
"                         what it saw of the connection: print it on\n"
"                         stderr beside our view, differences called out\n"
"  --json                 print one JSON object on stdout at the end, and\n"
"                         nothing else there (echoes are still checked):\n"
"                         the connection, TLS session, bytes, ping or\n"
"                         resume figures, exit code and error\n"
"\n"
"PROXY protocol, to test a balancer's or server's handling of it (tcp\n"
"and tls; the header goes out right after the connect, before any TLS):\n"
"  --send-proxy[=v1|v2]   send a PROXY header first: v1 (text) without a\n"
"                         value, as haproxy's send-proxy does; =v2 the\n"
"                         binary form (haproxy's send-proxy-v2).  Write\n"
"                         the '=': a separate word is taken for HOST\n"
"  --proxy-source ADDR:PORT  the client the header claims (default: the\n"
"                         connection's own address and port)\n"
"  --proxy-dest ADDR:PORT the destination it claims (default: the\n"
"                         server's address); IPv4 with IPv6: the IPv4\n"
"                         end is sent as ::ffff:a.b.c.d\n"
"\n"
"TLS and DTLS (each needs --tls or --dtls):\n";

/* After the shared TLS options: --mtls, and the rest. */
static const char usage_tail[] =
"  --mtls                 present a client certificate: --cert if given,\n"
"                         else client.pem and client.key from the\n"
"                         default places (as for --ca)\n"
"\n"
"  -h, --help             this text\n"
"  -V, --version          print the version\n"
"\n"
"Exit codes:\n"
"  0  every echo came back intact\n"
"  1  usage error, or unusable TLS files\n"
"  2  cannot resolve or connect, I/O error, or the server closed early\n"
"  3  TLS handshake failure\n"
"  4  the server's certificate failed verification, or its key\n"
"     did not match --pin-sha256\n"
"  5  timeout (connect, handshake, or no echo progress; a lost\n"
"     datagram shows up this way)\n"
"  6  an echo differed from what was sent\n"
"  7  ping: some probes got no answer\n"
"  130  stdin or -m echo interrupted by SIGINT (143: SIGTERM): closed\n"
"     cleanly, the bytes sent and echoed said on stderr.  Ping stops\n"
"     on SIGINT/SIGTERM with its summary and exits 0 or 7 (probes\n"
"     still awaiting their reply are not counted)\n";

struct parse_state {
	int proto_set;
	int size_set;
	int interval_set;
	int mtls;
	const char *ports;	/* PORT as given */
	struct secho_tls_cmdline tls;	/* the shared TLS options */
	struct option opts[SECHO_OPT_TABLE_MAX];	/* getopt_long's */
};

void
secho_client_config_init(struct secho_client_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->proto = SECHO_TCP;
	cfg->port = -1;
	cfg->interval_ms = 1000;
	cfg->size = 64;
	cfg->timeout_ms = 10 * 1000;
}

/* "--count" for getopt's value c, for messages. */
static const char *
opt_name(const struct option *opts, int c, char *buf, size_t len)
{
	for (const struct option *o = opts; o->name != NULL; o++) {
		if (o->val == c) {
			snprintf(buf, len, "--%s", o->name);
			return buf;
		}
	}
	snprintf(buf, len, "-%c", c > 0 && c < 128 ? c : '?');
	return buf;
}

static int
set_proto(struct secho_client_config *cfg, struct parse_state *ps,
    enum secho_proto p)
{
	if (ps->proto_set && cfg->proto != p) {
		secho_error_set("--%s and --%s are exclusive",
		    secho_proto_name(cfg->proto), secho_proto_name(p));
		return -1;
	}
	ps->proto_set = 1;
	cfg->proto = p;
	return 0;
}

static int
parse_one(struct secho_client_config *cfg, struct parse_state *ps, int c,
    const char *name)
{
	long v;

	switch (c) {
	case OPT_TCP: return set_proto(cfg, ps, SECHO_TCP);
	case OPT_TLS: return set_proto(cfg, ps, SECHO_TLS);
	case OPT_UDP: return set_proto(cfg, ps, SECHO_UDP);
	case OPT_DTLS: return set_proto(cfg, ps, SECHO_DTLS);
	case 'm': cfg->message = optarg; return 0;
	case 'c':
		if (secho_opt_long(name, optarg, 1, LONG_MAX, &v) == -1)
			return -1;
		cfg->count = v;
		return 0;
	case 'i':
		ps->interval_set = 1;
		return secho_opt_secs(name, optarg, 1, &cfg->interval_ms);
	case 's':
		/* The transport's own limit is checked once it is known. */
		if (secho_opt_long(name, optarg, 1, SECHO_CLIENT_STREAM_MAX,
		    &v) == -1)
			return -1;
		ps->size_set = 1;
		cfg->size = (size_t)v;
		return 0;
	case 't': return secho_opt_secs(name, optarg, 1, &cfg->timeout_ms);
	case 'v': cfg->verbose++; return 0;
	case 'q': cfg->quiet = 1; return 0;
	case OPT_REPORT: cfg->ask_report = 1; return 0;
	case OPT_JSON: cfg->json = 1; return 0;
	case OPT_SEND_PROXY:
		return secho_proxy_version_parse(name, optarg,
		    &cfg->send_proxy);
	case OPT_PROXY_SOURCE:
		return secho_proxy_addr_parse(name, optarg, &cfg->proxy_src);
	case OPT_PROXY_DEST:
		return secho_proxy_addr_parse(name, optarg, &cfg->proxy_dst);
	case OPT_MTLS:
		ps->mtls = 1;
		if (ps->tls.first == NULL)
			ps->tls.first = "mtls";
		return 0;
	}
	secho_error_set("unknown option %s", name);
	return -1;
}

/* Explains what getopt_long rejected ('?' or ':'). */
static int
bad_option(const struct parse_state *ps, int c, char **argv)
{
	char name[32];

	if (c == ':')
		secho_error_set("option %s needs a value",
		    opt_name(ps->opts, optopt, name, sizeof(name)));
	else if (optopt >= 256 || (optopt != 0 && strchr("hVvq", optopt)))
		secho_error_set("option %s does not take a value",
		    opt_name(ps->opts, optopt, name, sizeof(name)));
	else if (optopt != 0)
		secho_error_set("unknown option '-%c'", optopt);
	else
		secho_error_set("unknown or ambiguous option '%s'",
		    argv[optind - 1]);
	return -1;
}

/* HOST may be "[v6]"; "[v6]:port" and "name:port" get a pointed hint. */
static int
check_host(const char *h)
{
	size_t n = strlen(h);
	const char *colon = strchr(h, ':');

	if (n == 0 || n >= SECHO_HOST_MAX - 2) {
		secho_error_set("HOST must be 1 to %d characters",
		    SECHO_HOST_MAX - 3);
		return -1;
	}
	if (*h == '[' && (n < 3 || strchr(h, ']') == NULL)) {
		secho_error_set("invalid HOST '%s': %s", h, n < 3 &&
		    h[n - 1] == ']' ? "no address in brackets" : "missing ']'");
		return -1;
	}
	if (*h == '[' ? h[n - 1] != ']' :
	    colon != NULL && strchr(colon + 1, ':') == NULL) {
		secho_error_set("invalid HOST '%s' (give the port as a "
		    "separate argument: HOST PORT)", h);
		return -1;
	}
	return 0;
}

static int
parse_operands(struct secho_client_config *cfg, struct parse_state *ps,
    int argc, char **argv)
{
	int n = argc - optind;

	if (n < 1) {
		secho_error_set("missing HOST");
		return -1;
	}
	if (cfg->send_proxy && (strcmp(argv[optind], "v1") == 0 ||
	    strcmp(argv[optind], "v2") == 0)) {
		secho_error_set("write --send-proxy=%s, with '=' (a separate "
		    "word is taken for HOST)", argv[optind]);
		return -1;
	}
	if (n > 2) {
		secho_error_set("unexpected argument '%s'", argv[optind + 2]);
		return -1;
	}
	cfg->host = argv[optind];
	if (check_host(cfg->host) == -1)
		return -1;
	ps->ports = n == 2 ? argv[optind + 1] : NULL;
	if (ps->ports != NULL) {
		if (secho_port_parse(ps->ports, &cfg->port) == -1)
			return -1;
		if (cfg->port == 0) {
			secho_error_set("port 0 cannot be connected to");
			return -1;
		}
	}
	return 0;
}

/* Mode options that make no sense together or without ping. */
static int
check_modes(const struct secho_client_config *cfg,
    const struct parse_state *ps)
{
	if (cfg->message != NULL && cfg->count > 0) {
		secho_error_set("--message and --count are exclusive");
		return -1;
	}
	if (cfg->message != NULL && *cfg->message == '\0') {
		secho_error_set("--message needs at least one byte");
		return -1;
	}
	if (cfg->count == 0 && (ps->size_set || ps->interval_set)) {
		secho_error_set("%s only applies to ping mode (--count N)",
		    ps->size_set ? "--size" : "--interval");
		return -1;
	}
	if (cfg->resume > 0 && cfg->message == NULL && cfg->count == 0) {
		secho_error_set("--resume needs --message or --count (stdin "
		    "can be sent only once)");
		return -1;
	}
	return 0;
}

/* --send-proxy: stream transports only; the claimed ends need it. */
static int
check_proxy(const struct secho_client_config *cfg)
{
	if (cfg->send_proxy && secho_proto_is_dgram(cfg->proto)) {
		secho_error_set("--send-proxy is for tcp and tls");
		return -1;
	}
	if (!cfg->send_proxy && (cfg->proxy_src.len > 0 ||
	    cfg->proxy_dst.len > 0)) {
		secho_error_set("--proxy-%s needs --send-proxy",
		    cfg->proxy_src.len > 0 ? "source" : "dest");
		return -1;
	}
	return 0;
}

/*
 * The largest datagram to HOST: an IPv6 address takes 20 bytes more than
 * IPv4.  A name is held to IPv4's limit, which every family carries.
 */
static size_t
dgram_max(const struct secho_client_config *cfg, const char **over)
{
	int v6 = strchr(cfg->host, ':') != NULL;	/* see check_host */

	*over = v6 ? " over IPv6" : "";
	if (cfg->proto == SECHO_DTLS)
		return SECHO_CLIENT_DTLS_MAX;
	return secho_client_udp_max(v6 ? AF_INET6 : AF_INET);
}

/*
 * Sizes that one datagram (or one DTLS record) cannot carry, and probes
 * too small to tell apart.
 */
static int
check_sizes(const struct secho_client_config *cfg)
{
	const char *over;
	size_t max = dgram_max(cfg, &over);
	size_t min = secho_client_ping_min_size(cfg->proto, cfg->count);
	const char *p = secho_proto_name(cfg->proto);

	if (!secho_proto_is_dgram(cfg->proto))
		return 0;
	if (cfg->count > 0 && cfg->size < min) {
		secho_error_set("--size %zu is too small for %s ping: each "
		    "probe carries \"secho seq=N \" (at least %zu bytes)",
		    cfg->size, p, min);
		return -1;
	}
	if (cfg->count > 0 && cfg->size > max) {
		secho_error_set("--size %zu is too large for one %s datagram%s "
		    "(at most %zu)", cfg->size, p, over, max);
		return -1;
	}
	if (cfg->message != NULL && strlen(cfg->message) > max) {
		secho_error_set("--message of %zu bytes is too large for one "
		    "%s datagram%s (at most %zu)", strlen(cfg->message), p,
		    over, max);
		return -1;
	}
	return 0;
}

/* "1.3" for messages. */
static const char *
version_name(int v)
{
	return v == SECHO_TLS_1_3 ? "1.3" : "1.2";
}

/*
 * Version bounds that leave nothing to negotiate, and cipher lists for a
 * version that the bounds rule out (a silent no-op would hide the typo).
 */
static int
check_versions(const struct secho_client_config *cfg)
{
	const struct secho_tls_opts *t = &cfg->tls;
	int dtls = cfg->proto == SECHO_DTLS;
	int min = t->min_version, max = t->max_version;

	if (dtls && (min == SECHO_TLS_1_3 || max == SECHO_TLS_1_3)) {
		secho_error_set("--tls-%s 1.3 does not apply to --dtls (DTLS "
		    "1.2 is the only version)", min == SECHO_TLS_1_3 ? "min" :
		    "max");
		return -1;
	}
	if (min != 0 && max != 0 && min > max) {
		secho_error_set("--tls-min %s is above --tls-max %s",
		    version_name(min), version_name(max));
		return -1;
	}
	if (t->ciphersuites != NULL && (dtls || max == SECHO_TLS_1_2)) {
		secho_error_set("--ciphersuites only applies to TLS 1.3, which "
		    "%s rules out", dtls ? "--dtls" : "--tls-max 1.2");
		return -1;
	}
	if (t->ciphers != NULL && min == SECHO_TLS_1_3) {
		secho_error_set("--ciphers only applies to TLS 1.2, which "
		    "--tls-min 1.3 rules out");
		return -1;
	}
	return 0;
}

/* --mtls: the default client certificate unless one was given. */
static int
finish_mtls(struct secho_client_config *cfg)
{
	static const char *const names[] = { "client.pem", "client.key" };
	struct secho_tls_opts *t = &cfg->tls;

	if (t->cert != NULL)
		return 0;
	if (secho_certs_find_set(names, 2, cfg->certs + 1) == -1) {
		char why[512];

		/* The message is rewritten from a copy, not from itself. */
		snprintf(why, sizeof(why), "%s", secho_error());
		secho_error_set("--mtls: %s", why);
		return -1;
	}
	if (t->key == NULL && cfg->certs[2][0] == '\0') {
		secho_error_set("--mtls: %s has no client.key beside it: give "
		    "--key FILE", cfg->certs[1]);
		return -1;
	}
	t->cert = cfg->certs[1];
	if (t->key == NULL)
		t->key = cfg->certs[2];
	return 0;
}

/*
 * TLS options: only with a TLS transport, and consistent with each other;
 * defaults from the working directory and the environment.
 */
static int
finish_tls(struct secho_client_config *cfg, const struct parse_state *ps)
{
	struct secho_tls_opts *t = &cfg->tls;

	if (!secho_proto_is_secure(cfg->proto)) {
		if (ps->tls.first != NULL) {
			secho_error_set("--%s needs --tls or --dtls",
			    ps->tls.first);
			return -1;
		}
		return 0;
	}
	if (t->pin_sha256 != NULL && t->insecure) {
		secho_error_set("--pin-sha256 and --insecure are exclusive");
		return -1;
	}
	if (check_versions(cfg) == -1 || (ps->mtls && finish_mtls(cfg) == -1))
		return -1;
	if (t->key != NULL && t->cert == NULL) {
		secho_error_set("--key needs --cert");
		return -1;
	}
	/* Like the server's: a CA from the default places, else the
	 * system's store (-v says which). */
	if (t->ca == NULL && t->capath == NULL && secho_certs_find("ca.pem",
	    cfg->certs[0], sizeof(cfg->certs[0])) == 0)
		t->ca = cfg->certs[0];
	secho_tls_opt_keylog_env(t);
	return 0;
}

/* getopt_long over our options and the shared TLS ones. */
static int
parse_opts(struct secho_client_config *cfg, struct parse_state *ps,
    int argc, char **argv, FILE *out)
{
	char name[32];
	int c, rc;

	optind = 0;	/* re-entrant for tests: 0 resets GNU getopt */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:c:i:s:t:vqhV", ps->opts,
	    NULL)) != -1) {
		if (c == 'h')
			return secho_tls_opt_help(SECHO_PROG_CLIENT, out,
			    usage, usage_tail);
		if (c == 'V') {
			fprintf(out, "secho-client %s\n", SECHO_VERSION);
			return 1;
		}
		if (c == '?' || c == ':')
			return bad_option(ps, c, argv);
		rc = secho_tls_opt_parse(&ps->tls, c, argc, argv);
		if (rc == 1)
			rc = parse_one(cfg, ps, c, opt_name(ps->opts, c, name,
			    sizeof(name)));
		if (rc == -1)
			return -1;
	}
	cfg->servername = ps->tls.servername;
	cfg->resume = ps->tls.resume;
	return 0;
}

int
secho_client_parse_args(struct secho_client_config *cfg, int argc,
    char **argv, FILE *out)
{
	struct parse_state ps;
	int rc;

	memset(&ps, 0, sizeof(ps));
	secho_tls_cmdline_init(&ps.tls, SECHO_PROG_CLIENT, &cfg->tls);
	if (secho_tls_opt_longopts(SECHO_PROG_CLIENT, longopts, ps.opts,
	    SECHO_OPT_TABLE_MAX) == -1)
		return -1;
	if ((rc = parse_opts(cfg, &ps, argc, argv, out)) != 0)
		return rc;
	if (parse_operands(cfg, &ps, argc, argv) == -1 ||
	    check_modes(cfg, &ps) == -1 || check_sizes(cfg) == -1 ||
	    check_proxy(cfg) == -1 || finish_tls(cfg, &ps) == -1)
		return -1;
	if (cfg->port == -1)
		cfg->port = (int)secho_proto_default_port(cfg->proto);
	return 0;
}
