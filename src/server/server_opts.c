/*
 * server_opts.c - secho-server's command line, kept apart from main() so
 * the tests can parse exactly what users type.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "secho/opts.h"
#include "secho/server.h"
#include "secho/tls_opts.h"

#define DTLS_RECORD_MAX 16384	/* largest DTLS plaintext record */

/* The TLS options shared with the client and bench are in tls_opts.c. */
enum {
	OPT_TCP = 256, OPT_TLS, OPT_UDP, OPT_DTLS, OPT_HS_TIMEOUT,
	OPT_IDLE_TIMEOUT, OPT_DRAIN_TIMEOUT, OPT_MAX_CONNS, OPT_BUFSIZE,
	OPT_BACKLOG, OPT_VERIFY_CLIENT, OPT_ALLOW_CN, OPT_ALLOW_SAN,
	OPT_SNI_CERT, OPT_WORKERS, OPT_MAX_PER_IP, OPT_LIFETIME, OPT_USER,
	OPT_GROUP, OPT_CHROOT, OPT_PROXY, OPT_PROXY_FROM, OPT_MAX_HANDSHAKES,
	OPT_LOG_FORMAT, OPT_METRICS, OPT_REPORT,
};

static const struct option longopts[] = {
	{ "tcp", no_argument, NULL, OPT_TCP },
	{ "tls", no_argument, NULL, OPT_TLS },
	{ "udp", no_argument, NULL, OPT_UDP },
	{ "dtls", no_argument, NULL, OPT_DTLS },
	{ "listen", required_argument, NULL, 'l' },
	{ "proxy-protocol", optional_argument, NULL, OPT_PROXY },
	{ "proxy-from", required_argument, NULL, OPT_PROXY_FROM },
	{ "port", required_argument, NULL, 'p' },
	{ "bind", required_argument, NULL, 'b' },
	{ "handshake-timeout", required_argument, NULL, OPT_HS_TIMEOUT },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT },
	{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
	{ "max-conns-per-ip", required_argument, NULL, OPT_MAX_PER_IP },
	{ "max-handshakes", required_argument, NULL, OPT_MAX_HANDSHAKES },
	{ "max-lifetime", required_argument, NULL, OPT_LIFETIME },
	{ "user", required_argument, NULL, OPT_USER },
	{ "group", required_argument, NULL, OPT_GROUP },
	{ "chroot", required_argument, NULL, OPT_CHROOT },
	{ "buffer-size", required_argument, NULL, OPT_BUFSIZE },
	{ "backlog", required_argument, NULL, OPT_BACKLOG },
	{ "verify-client", optional_argument, NULL, OPT_VERIFY_CLIENT },
	{ "allow-client-cn", required_argument, NULL, OPT_ALLOW_CN },
	{ "allow-client-san", required_argument, NULL, OPT_ALLOW_SAN },
	{ "sni-cert", required_argument, NULL, OPT_SNI_CERT },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "verbose", no_argument, NULL, 'v' },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "report", no_argument, NULL, OPT_REPORT },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static const char shortopts[] = ":l:p:b:vhV";

static const char usage[] =
"usage: secho-server [--tcp] [--tls] [--udp] [--dtls] [options]\n"
"\n"
"Echoes every byte (tcp, tls) or datagram (udp, dtls) back to its sender.\n"
"With no transport given, serves tcp.  Prints 'listening PROTO ADDR' per\n"
"listener on stdout once it is ready.\n"
"\n"
"Transports and addresses:\n"
"  --tcp                  plain TCP on port 7007\n"
"  --tls                  TLS 1.2/1.3 on port 7443\n"
"  --udp                  plain UDP datagrams on port 7007\n"
"  --dtls                 DTLS 1.2 over UDP on port 7443 (cookie exchange)\n"
"  -p, --port N           port for the transports above (0: ephemeral);\n"
"                         tcp and tls (both TCP), or udp and dtls (both\n"
"                         UDP), cannot share one: give one its own with -l\n"
"  -b, --bind ADDR        address for the transports above (default:\n"
"                         every IPv4 and IPv6 address)\n"
"  -l, --listen SPEC      one more listener, e.g. tls://[::1]:7443,\n"
"                         udp://127.0.0.1:9000, tcp://:0 (repeatable);\n"
"                         SPEC,proxy-protocol requires a PROXY header,\n"
"                         SPEC,report sends the --report line\n"
"  --report               every connection (udp: every new sender) first\n"
"                         gets one JSON line: what the server saw of it\n"
"                         (addresses, TLS, SNI, ALPN, JA4); then echoes\n"
"  --proxy-protocol[=LIST]\n"
"                         every tcp and tls listener (or those of LIST,\n"
"                         e.g. tls) requires a PROXY protocol v1 or v2\n"
"                         header before its first byte, as HAProxy's\n"
"                         send-proxy sends; the client address it names\n"
"                         is the one logged and limited\n"
"  --proxy-from CIDR      peers trusted to send the header (repeatable,\n"
"                         up to 16; default 127.0.0.0/8 and ::1); others\n"
"                         are closed at once\n"
"\n"
"TLS:\n";

/* After the shared TLS options: the server's own, and the rest. */
static const char usage_tail[] =
"  --verify-client[=optional]\n"
"                         mutual TLS: require (or just verify, when\n"
"                         sent) a client certificate signed by --ca\n"
"  --allow-client-cn CN   accept only client certificates with this CN\n"
"  --allow-client-san N   ...or this DNS/email/IP SAN (both repeatable,\n"
"                         up to 16; imply --verify-client)\n"
"  --sni-cert NAME:CERT:KEY\n"
"                         serve CERT to clients asking for NAME (SNI;\n"
"                         *.example matches one label; repeatable)\n"
"\n"
"Limits:\n"
"  --handshake-timeout S  seconds to finish the TLS handshake (default 10)\n"
"  --idle-timeout S       seconds without traffic before closing (default\n"
"                         300; 0: no idle timeout)\n"
"  --drain-timeout S      seconds to finish echoes on SIGTERM (10); a\n"
"                         client that reads none of its echoes all that\n"
"                         while is then closed without close_notify\n"
"  --max-lifetime S       seconds a connection may last in all (default:\n"
"                         no limit; 0 as well)\n"
"  --max-conns N          open connections at most (default 20000)\n"
"  --max-conns-per-ip N   open connections per client IPv4 address or\n"
"                         IPv6 /64 (default: no limit)\n"
"  --max-handshakes N     TLS and DTLS handshakes in progress at most;\n"
"                         one more client is closed at once, or gets no\n"
"                         DTLS cookie (default 1280, about 64 MB)\n"
"  --buffer-size BYTES    echo buffer per active connection (16384)\n"
"  --backlog N            listen backlog (default 4096)\n"
"  --workers N            event-loop threads (default: one per CPU)\n"
"\n"
"Privileges (after binding; as root, --user is required):\n"
"  --user USER            run as USER (name or uid; 'root' to stay root)\n"
"  --group GROUP          and as GROUP (default: USER's own group)\n"
"  --chroot DIR           confine the process to DIR first\n"
"\n"
"  -v, --verbose          log connections on stderr\n"
"  --log-format FORMAT    text (default) or json: one JSON object a line,\n"
"                         each connection's record structured\n"
"  --metrics ADDR:PORT    serve Prometheus metrics at GET /metrics over\n"
"                         plain HTTP on a listener of their own (e.g.\n"
"                         127.0.0.1:9107; never an echo port)\n"
"  -h, --help             this text\n"
"  -V, --version          print the version\n"
"\n"
"SIGINT/SIGTERM stop accepting, finish pending echoes and exit 0; a\n"
"second signal exits at once.  SIGHUP reloads certificates and keys for\n"
"new connections (a broken new file is logged; the old one keeps serving;\n"
"after --user/--chroot the files are read as that user, inside DIR).\n"
"The hangup of the server's terminal (closed window or ssh session) is\n"
"no reload: it drains and exits like SIGTERM.\n";

void
secho_server_config_init(struct secho_server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->handshake_timeout_ms = 10 * 1000;
	cfg->idle_timeout_ms = 300 * 1000;
	cfg->drain_timeout_ms = 10 * 1000;
	cfg->max_conns = 20000;
	/* A stalled handshake holds about 51 KiB (DTLS): 64 MB in all. */
	cfg->max_handshakes = 1280;
	cfg->bufsize = 16384;
	cfg->backlog = 4096;
}

struct parse_state {
	int want[SECHO_PROTO_COUNT];	/* --tcp etc. */
	int proxy[SECHO_PROTO_COUNT];	/* --proxy-protocol[=tcp,tls] */
	int port;			/* --port, -1 if not given */
	const char *bind;		/* --bind */
};

static int
add_listener(struct secho_server_config *cfg, const struct secho_endpoint *ep)
{
	if (cfg->nlisten == SECHO_MAX_LISTENERS) {
		secho_error_set("too many listeners (at most %d)",
		    SECHO_MAX_LISTENERS);
		return -1;
	}
	cfg->listen[cfg->nlisten++] = *ep;
	return 0;
}

/* --metrics ADDR:PORT: a plain HTTP listener, so no scheme but http. */
static int
metrics_spec(struct secho_server_config *cfg, const char *arg)
{
	const char *spec = strncmp(arg, "http://", 7) == 0 ? arg + 7 : arg;
	struct secho_endpoint *ep = &cfg->metrics;

	if (strstr(spec, "://") != NULL || secho_endpoint_parse(spec,
	    ep) == -1 || ep->port == -1) {
		secho_error_set("--metrics '%s': give ADDR:PORT (e.g. "
		    "127.0.0.1:9107, [::1]:9107, or :9107 for every address)",
		    arg);
		return -1;
	}
	cfg->metrics_on = 1;
	return 0;
}

/* A listener option after the address: "tls://:7443,proxy-protocol". */
static int
listen_option(struct secho_endpoint *ep, const char *opt, const char *spec)
{
	if (strcmp(opt, "proxy-protocol") == 0 && !secho_proto_is_dgram(
	    ep->proto)) {
		ep->flags |= SECHO_LISTEN_PROXY;
		return 0;
	}
	if (strcmp(opt, "report") == 0) {
		ep->flags |= SECHO_LISTEN_REPORT;
		return 0;
	}
	if (strcmp(opt, "proxy-protocol") == 0)
		secho_error_set("--listen %s: the PROXY protocol is for tcp and "
		    "tls listeners", spec);
	else
		secho_error_set("--listen %s: unknown listener option '%s' "
		    "(known: proxy-protocol, report)", spec, opt);
	return -1;
}

static int
add_listen_spec(struct secho_server_config *cfg, const char *spec)
{
	struct secho_endpoint ep;
	char addr[SECHO_HOST_MAX + 32], *opt, *save = NULL;

	memset(&ep, 0, sizeof(ep));
	ep.proto = SECHO_TCP;
	snprintf(addr, sizeof(addr), "%s", spec);
	opt = strchr(addr, ',');
	if (opt != NULL)
		*opt++ = '\0';
	if (secho_endpoint_parse(addr, &ep) == -1) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", secho_error());
		secho_error_set("--listen %s: %s", spec, msg);
		return -1;
	}
	for (char *o = opt != NULL ? strtok_r(opt, ",", &save) : NULL;
	    o != NULL; o = strtok_r(NULL, ",", &save)) {
		if (listen_option(&ep, o, spec) == -1)
			return -1;
	}
	return add_listener(cfg, &ep);
}

/* --proxy-protocol[=tcp,tls]: the transports whose listeners need it. */
static int
proxy_transports(struct parse_state *ps, const char *arg)
{
	char list[64], *save = NULL;

	if (arg == NULL) {
		ps->proxy[SECHO_TCP] = ps->proxy[SECHO_TLS] = 1;
		return 0;
	}
	snprintf(list, sizeof(list), "%s", arg);
	for (char *t = strtok_r(list, ",", &save); t != NULL;
	    t = strtok_r(NULL, ",", &save)) {
		enum secho_proto p;

		if (secho_proto_parse(t, &p) == -1 || secho_proto_is_dgram(p)) {
			secho_error_set("--proxy-protocol: '%s' is not tcp or "
			    "tls (the PROXY protocol is for streams)", t);
			return -1;
		}
		ps->proxy[p] = 1;
	}
	return 0;
}

static int
add_proxy_from(struct secho_server_config *cfg, const char *arg)
{
	if (cfg->nproxy_from == SECHO_MAX_PROXY_FROM) {
		secho_error_set("--proxy-from: at most %d", SECHO_MAX_PROXY_FROM);
		return -1;
	}
	if (secho_cidr_parse(arg, &cfg->proxy_from[cfg->nproxy_from]) == -1) {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s", secho_error());
		secho_error_set("--proxy-from: %s", msg);
		return -1;
	}
	cfg->nproxy_from++;
	return 0;
}

/*
 * Two of our own listeners on one port of one IP protocol (tcp and tls
 * are both TCP; udp and dtls both UDP) would fail at bind() with "Address
 * already in use", which blames another process.  Refused here instead,
 * naming both.  Port 0 is a fresh port each; "" is every address, so it
 * meets any host; other spellings of one address are left to bind().
 */
static int
check_clash(const struct secho_endpoint *a, const struct secho_endpoint *b)
{
	const char *host = a->host[0] != '\0' ? a->host : b->host;
	int v6 = host[0] == '\0' || strchr(host, ':') != NULL;

	if (a->port == 0 || a->port != b->port ||
	    secho_proto_is_dgram(a->proto) != secho_proto_is_dgram(b->proto) ||
	    (a->host[0] != '\0' && b->host[0] != '\0' &&
	    strcmp(a->host, b->host) != 0))
		return 0;
	secho_error_set("%s and %s cannot share %s port %d on %s%s%s: give "
	    "one of them its own, e.g. -l %s://:PORT",
	    secho_proto_name(a->proto), secho_proto_name(b->proto),
	    secho_proto_is_dgram(a->proto) ? "UDP" : "TCP", a->port,
	    v6 ? "[" : "", host[0] == '\0' ? "::" : host, v6 ? "]" : "",
	    secho_proto_name(b->proto));
	return -1;
}

/*
 * The certificate, key and CA none were given for, from the first of
 * the default places that holds a server.pem (secho/certs.h).  Found
 * nowhere, they stay NULL: a tcp server needs none, and a TLS one says
 * where it looked when it starts (secho_server_run, exit 2, after a
 * port clash is reported, like any other unreadable certificate).
 */
static int
default_certs(struct secho_server_config *cfg)
{
	static const char *const names[] = { "server.pem", "server.key",
	    "ca.pem" };
	struct secho_tls_opts *t = &cfg->tls;

	if (t->cert == NULL) {
		if (secho_certs_find_set(names, 3, cfg->certs) == -1)
			return 0;
		t->cert = cfg->certs[0];
		if (t->key == NULL && cfg->certs[1][0] != '\0')
			t->key = cfg->certs[1];
		if (t->ca == NULL && cfg->certs[2][0] != '\0')
			t->ca = cfg->certs[2];
	}
	/* One PEM file may hold the key beside the certificate. */
	if (t->key == NULL)
		t->key = t->cert;
	if (t->ca == NULL && t->verify_client && secho_certs_find("ca.pem",
	    cfg->certs[2], sizeof(cfg->certs[2])) == 0)
		t->ca = cfg->certs[2];
	if (t->ca == NULL && t->verify_client) {
		char why[512];

		snprintf(why, sizeof(why), "%s", secho_error());
		secho_error_set("--verify-client needs --ca: %s", why);
		return -1;
	}
	return 0;
}

/*
 * --proxy-protocol marks the listeners of its transports (those from -l
 * too); the header is trusted from loopback only unless --proxy-from
 * says otherwise.  Socket activation applies the same marks at start.
 */
static int
apply_proxy(struct secho_server_config *cfg, const struct parse_state *ps)
{
	int any = 0;

	for (int p = 0; p < SECHO_PROTO_COUNT; p++)
		cfg->proxy_protocol |= ps->proxy[p] ? 1u << p : 0;
	for (size_t i = 0; i < cfg->nlisten; i++) {
		if (cfg->proxy_protocol & (1u << cfg->listen[i].proto))
			cfg->listen[i].flags |= SECHO_LISTEN_PROXY;
		if (cfg->report)
			cfg->listen[i].flags |= SECHO_LISTEN_REPORT;
		/* A report names the client's JA4 and JA3. */
		if (cfg->listen[i].flags & SECHO_LISTEN_REPORT)
			cfg->tls.fingerprint = 1;
		any |= (cfg->listen[i].flags & SECHO_LISTEN_PROXY) != 0;
	}
	if (cfg->nproxy_from > 0 && !any && cfg->proxy_protocol == 0) {
		secho_error_set("--proxy-from needs --proxy-protocol (or a -l "
		    "listener with ,proxy-protocol)");
		return -1;
	}
	if (cfg->nproxy_from == 0) {
		secho_cidr_parse("127.0.0.0/8", &cfg->proxy_from[0]);
		secho_cidr_parse("::1", &cfg->proxy_from[1]);
		cfg->nproxy_from = 2;
	}
	return 0;
}

/* Turns --tcp/--tls/... with --port/--bind into listeners. */
static int
finish(struct secho_server_config *cfg, struct parse_state *ps)
{
	int any = 0;

	for (int p = 0; p < SECHO_PROTO_COUNT; p++)
		any |= ps->want[p];
	if (!any && cfg->nlisten == 0) {
		ps->want[SECHO_TCP] = 1;
		cfg->listen_implicit = 1;
	}
	for (int p = 0; p < SECHO_PROTO_COUNT; p++) {
		struct secho_endpoint ep;

		if (!ps->want[p])
			continue;
		memset(&ep, 0, sizeof(ep));
		ep.proto = (enum secho_proto)p;
		if (ps->bind != NULL) {
			size_t n = strlen(ps->bind);

			/* "[::1]" as in URLs and -l specs. */
			if (n > 2 && ps->bind[0] == '[' && ps->bind[n - 1] == ']')
				snprintf(ep.host, sizeof(ep.host), "%.*s",
				    (int)(n - 2), ps->bind + 1);
			else
				snprintf(ep.host, sizeof(ep.host), "%s",
				    ps->bind);
		}
		ep.port = ps->port;
		if (add_listener(cfg, &ep) == -1)
			return -1;
	}
	if (apply_proxy(cfg, ps) == -1)
		return -1;
	for (size_t i = 0; i < cfg->nlisten; i++) {
		struct secho_endpoint *ep = &cfg->listen[i];

		if (ep->port == -1)
			ep->port = ps->port != -1 ? ps->port :
			    (int)secho_proto_default_port(ep->proto);
		for (size_t j = 0; j < i; j++) {
			if (check_clash(&cfg->listen[j], ep) == -1)
				return -1;
		}
	}
	/* An allow-list means nothing without a verified certificate. */
	if ((cfg->tls.nallow_cn > 0 || cfg->tls.nallow_san > 0) &&
	    cfg->tls.verify_client == 0)
		cfg->tls.verify_client = 2;
	if (cfg->tls.min_version && cfg->tls.max_version &&
	    cfg->tls.min_version > cfg->tls.max_version) {
		secho_error_set("--tls-min is above --tls-max");
		return -1;
	}
	for (size_t i = 0; i < cfg->nlisten; i++) {
		/* A DTLS record must fit the buffer whole, or it is split. */
		if (cfg->listen[i].proto == SECHO_DTLS &&
		    cfg->bufsize < DTLS_RECORD_MAX) {
			secho_error_set("--buffer-size must be at least %d with "
			    "dtls (one whole record)", DTLS_RECORD_MAX);
			return -1;
		}
	}
	secho_tls_opt_keylog_env(&cfg->tls);
	return default_certs(cfg);
}

/* NAME:CERT:KEY; the name has no ':', the paths may. */
static int
add_sni(struct secho_server_config *cfg, const char *arg)
{
	struct secho_sni_cert *e;
	char *spec, *first, *last;

	/* Before anything is copied: a 17th entry lies past the array. */
	if (cfg->tls.nsni == SECHO_TLS_SNI_MAX) {
		secho_error_set("--sni-cert: at most %d", SECHO_TLS_SNI_MAX);
		return -1;
	}
	e = &cfg->tls.sni[cfg->tls.nsni];
	spec = e->spec;
	if (strlen(arg) >= sizeof(e->spec)) {
		secho_error_set("--sni-cert: too long");
		return -1;
	}
	memcpy(spec, arg, strlen(arg) + 1);
	first = strchr(spec, ':');
	last = strrchr(spec, ':');
	if (first == NULL || first == last || first == spec ||
	    last == first + 1 || last[1] == '\0') {
		secho_error_set("--sni-cert '%s': expected NAME:CERT:KEY", arg);
		return -1;
	}
	cfg->tls.nsni++;
	*first = *last = '\0';
	e->name = spec;
	e->cert = first + 1;
	e->key = last + 1;
	return 0;
}

static int
add_allowed(struct secho_server_config *cfg, int cn, const char *value)
{
	const char **list = cn ? cfg->tls.allow_cn : cfg->tls.allow_san;
	size_t *n = cn ? &cfg->tls.nallow_cn : &cfg->tls.nallow_san;

	if (*n == SECHO_TLS_ALLOW_MAX) {
		secho_error_set("--allow-client-%s: at most %d", cn ? "cn" :
		    "san", SECHO_TLS_ALLOW_MAX);
		return -1;
	}
	list[(*n)++] = value;
	return 0;
}

static int
parse_one(struct secho_server_config *cfg, struct parse_state *ps, int c,
    const char *name)
{
	long v;

	switch (c) {
	case OPT_TCP: ps->want[SECHO_TCP] = 1; return 0;
	case OPT_TLS: ps->want[SECHO_TLS] = 1; return 0;
	case OPT_UDP: ps->want[SECHO_UDP] = 1; return 0;
	case OPT_DTLS: ps->want[SECHO_DTLS] = 1; return 0;
	case 'l': return add_listen_spec(cfg, optarg);
	case OPT_PROXY: return proxy_transports(ps, optarg);
	case OPT_PROXY_FROM: return add_proxy_from(cfg, optarg);
	case 'p': return secho_port_parse(optarg, &ps->port);
	case 'b': ps->bind = optarg; return 0;
	case OPT_VERIFY_CLIENT:
		if (optarg != NULL && strcmp(optarg, "optional") != 0) {
			secho_error_set("--verify-client takes no value or "
			    "'=optional', not '%s'", optarg);
			return -1;
		}
		cfg->tls.verify_client = optarg != NULL ? 1 : 2;
		return 0;
	case OPT_ALLOW_CN:
	case OPT_ALLOW_SAN:
		return add_allowed(cfg, c == OPT_ALLOW_CN, optarg);
	case OPT_SNI_CERT: return add_sni(cfg, optarg);
	case OPT_HS_TIMEOUT:
		return secho_opt_secs(name, optarg, 0,
		    &cfg->handshake_timeout_ms);
	case OPT_IDLE_TIMEOUT:
		return secho_opt_secs(name, optarg, 1, &cfg->idle_timeout_ms);
	case OPT_DRAIN_TIMEOUT:
		return secho_opt_secs(name, optarg, 0, &cfg->drain_timeout_ms);
	case OPT_MAX_CONNS:
		if (secho_opt_long(name, optarg, 1, INT_MAX, &v) == -1)
			return -1;
		cfg->max_conns = (int)v;
		return 0;
	case OPT_MAX_PER_IP:
		if (secho_opt_long(name, optarg, 1, INT_MAX, &v) == -1)
			return -1;
		cfg->max_conns_per_ip = (int)v;
		return 0;
	case OPT_MAX_HANDSHAKES:
		if (secho_opt_long(name, optarg, 1, INT_MAX, &v) == -1)
			return -1;
		cfg->max_handshakes = (int)v;
		return 0;
	case OPT_LIFETIME:
		return secho_opt_secs(name, optarg, 1, &cfg->max_lifetime_ms);
	case OPT_USER: cfg->priv.user = optarg; return 0;
	case OPT_GROUP: cfg->priv.group = optarg; return 0;
	case OPT_CHROOT: cfg->priv.chroot = optarg; return 0;
	case OPT_BUFSIZE:
		if (secho_opt_long(name, optarg, 1024, 1 << 24, &v) == -1)
			return -1;
		cfg->bufsize = (size_t)v;
		return 0;
	case OPT_WORKERS:
		if (secho_opt_long(name, optarg, 1, SECHO_MAX_WORKERS, &v) == -1)
			return -1;
		cfg->workers = (int)v;
		return 0;
	case OPT_BACKLOG:
		if (secho_opt_long(name, optarg, 1, 65535, &v) == -1)
			return -1;
		cfg->backlog = (int)v;
		return 0;
	case 'v':
		cfg->verbose++;
		cfg->tls.fingerprint = 1;	/* JA3 and JA4 go to the log */
		return 0;
	case OPT_LOG_FORMAT:
		if (strcmp(optarg, "text") != 0 && strcmp(optarg, "json") != 0) {
			secho_error_set("%s: '%s' is not a log format (text or "
			    "json)", name, optarg);
			return -1;
		}
		cfg->log_json = strcmp(optarg, "json") == 0;
		return 0;
	case OPT_METRICS:
		return metrics_spec(cfg, optarg);
	case OPT_REPORT:
		cfg->report = 1;
		return 0;
	}
	secho_error_set("unknown option");
	return -1;
}

/*
 * Explains what getopt_long rejected in the user's own spelling.  A bad
 * short option is named by optopt: argv[optind - 1] is not the element
 * holding it while getopt is still inside a cluster such as "-xv".
 */
static int
bad_option(int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':') {
		if (strncmp(arg, "--", 2) == 0)
			secho_error_set("missing value for '%s'", arg);
		else
			secho_error_set("missing value for '-%c'", optopt);
	} else if (optopt > 0 && optopt < 256 &&
	    strchr(shortopts + 1, optopt) == NULL)
		secho_error_set("unknown option '-%c'", optopt);
	else if (optopt != 0)	/* "--tcp=1": a flag given a value */
		secho_error_set("option '%.*s' does not take a value",
		    (int)strcspn(arg, "="), arg);
	else
		secho_error_set("unknown option '%s'", arg);
	return -1;
}

/* One option that getopt_long accepted: a shared TLS one or our own. */
static int
parse_opt(struct secho_server_config *cfg, struct parse_state *ps,
    struct secho_tls_cmdline *cl, int c, const char *name)
{
	int rc = secho_tls_opt_parse(cl, c, 0, NULL);

	return rc != 1 ? rc : parse_one(cfg, ps, c, name);
}

int
secho_server_parse_args(struct secho_server_config *cfg, int argc,
    char **argv, FILE *out)
{
	struct parse_state ps = { .port = -1 };
	struct secho_tls_cmdline cl;
	struct option opts[SECHO_OPT_TABLE_MAX];
	int c, idx;

	secho_tls_cmdline_init(&cl, SECHO_PROG_SERVER, &cfg->tls);
	if (secho_tls_opt_longopts(SECHO_PROG_SERVER, longopts, opts,
	    SECHO_OPT_TABLE_MAX) == -1)
		return -1;
	optind = 0;	/* re-entrant for tests: 0 resets GNU getopt */
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, opts, &idx)) != -1) {
		char name[32];

		if (c == 'h')
			return secho_tls_opt_help(SECHO_PROG_SERVER, out,
			    usage, usage_tail);
		if (c == 'V') {
			fprintf(out, "secho-server %s\n", SECHO_VERSION);
			return 1;
		}
		if (c == '?' || c == ':')
			return bad_option(c, argv);
		snprintf(name, sizeof(name), "--%s", c < 256 ? argv[optind - 1] :
		    opts[idx].name);
		if (parse_opt(cfg, &ps, &cl, c, name) == -1)
			return -1;
	}
	if (optind < argc) {
		secho_error_set("unexpected argument '%s'", argv[optind]);
		return -1;
	}
	return finish(cfg, &ps);
}
