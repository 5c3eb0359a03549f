/*
 * bench_opts.c - secho-bench's command line: MODE [options] HOST PORT,
 * per-mode defaults, and the checks that need every option at once
 * (limits depend on the mode, TLS options need a TLS transport).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_int.h"
#include "secho/opts.h"
#include "secho/proxy.h"
#include "secho/tls_opts.h"


/* The TLS options shared with the server and client are in tls_opts.c. */
enum {
	OPT_RATE = 256, OPT_TLS, OPT_TIMEOUT, OPT_PID, OPT_JSON, OPT_SRC_ADDRS,
	OPT_SEND_PROXY,
};

static const struct option longopts[] = {
	{ "conns", required_argument, NULL, 'c' },
	{ "size", required_argument, NULL, 's' },
	{ "duration", required_argument, NULL, 'd' },
	{ "count", required_argument, NULL, 'n' },
	{ "threads", required_argument, NULL, 't' },
	{ "window", required_argument, NULL, 'w' },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "tls", no_argument, NULL, OPT_TLS },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "pid", required_argument, NULL, OPT_PID },
	{ "src-addrs", required_argument, NULL, OPT_SRC_ADDRS },
	{ "send-proxy", optional_argument, NULL, OPT_SEND_PROXY },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static const char usage[] =
"usage: secho-bench MODE [options] HOST PORT\n"
"\n"
"Loads a secho server (or any echo server) and verifies every echoed\n"
"byte.  Prints ops/s, MB/s (payload echoed, counted once) and latency\n"
"percentiles; with --pid also the server's CPU cost per operation.\n"
"\n"
"Modes:\n"
"  rr      request/response: each connection sends --size bytes, waits\n"
"          for the whole echo, repeats (default 100 conns)\n"
"  bulk    each connection streams both ways at once in chunks of --size\n"
"          (default 1 conn, 65536-byte chunks)\n"
"  hs      connections per second: connect, handshake, one echo, close;\n"
"          --conns of them in parallel (default 10)\n"
"  udp     UDP datagram echo, --window datagrams in flight per socket\n"
"  dtls    the same over DTLS 1.2 (default 1 socket each)\n"
"  hold    open --conns connections (default 1000), handshake and echo\n"
"          once each, hold them idle for --duration, report the server's\n"
"          RSS per connection (--pid), close; ops/s is connections\n"
"          opened per second\n"
"\n"
"Options:\n"
"  -c, --conns N          connections (sockets) in total\n"
"  -s, --size BYTES       message size (default 64; bulk: chunk, 65536;\n"
"                         udp 16..65507, dtls 16..16384, else up to 16 MiB)\n"
"  -d, --duration SECS    measured time (default 5; hold: time held)\n"
"  -n, --count N          stop after N operations instead\n"
"  -t, --threads N        threads, connections split between them (1)\n"
"      --rate R           open loop: R operations/s in total at fixed\n"
"                         intended times; latency counts from the\n"
"                         intended time, so queueing shows (rr, udp, dtls)\n"
"  -w, --window N         udp/dtls: datagrams in flight per socket (4)\n"
"      --timeout SECS     per operation (default 5); a datagram not\n"
"                         echoed by then counts as lost\n"
"      --pid PID          the server: its CPU time (utime+stime of every\n"
"                         thread, and of its process group if it leads\n"
"                         one) and, for hold, its RSS per connection\n"
"      --src-addrs N      spread connections over 127.0.0.1..127.0.0.N\n"
"                         when HOST is 127.0.0.1 (hold: 8, else 1)\n"
"      --send-proxy[=v1|v2]  each connection first sends a PROXY protocol\n"
"                         header with its real source and destination,\n"
"                         before any TLS byte: v1 (text) without a value,\n"
"                         as haproxy's send-proxy; =v2 the binary form\n"
"                         (rr, bulk, hs, hold; write the '=')\n"
"      --json             one JSON object on stdout instead of the table\n"
"  -q, --quiet            no progress lines or notes on stderr\n"
"  -h, --help             this text\n"
"  -V, --version          print the version\n"
"\n"
"TLS (rr, bulk, hs, hold with --tls; the dtls mode always):\n"
"  --tls                  TLS over TCP\n";

static const char usage_tail[] =
"\n"
"Exit codes: 0 ok, 1 usage, 2 cannot connect or more than 1 % of\n"
"operations failed, 6 an echo differed from what was sent.\n";

struct parse_state {
	const char *pos[3];	/* MODE HOST PORT */
	int npos;
	int conns_set, size_set, window_set, src_set, threads_set;
	int tls_flag;
	struct secho_tls_cmdline tls;	/* the shared TLS options */
};

static const char *const mode_names[] = {
	[SECHO_BENCH_RR] = "rr", [SECHO_BENCH_BULK] = "bulk",
	[SECHO_BENCH_HS] = "hs", [SECHO_BENCH_UDP] = "udp",
	[SECHO_BENCH_DTLS] = "dtls", [SECHO_BENCH_HOLD] = "hold",
};

const char *
secho_bench_mode_name(enum secho_bench_mode m)
{
	return mode_names[m];
}

void
secho_bench_config_init(struct secho_bench_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->duration_ms = 5000;
	cfg->threads = 1;
	cfg->window = 4;
	cfg->timeout_ms = 5000;
}

static int
parse_rate(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v) ||
	    v <= 0 || v > 1e9) {
		secho_error_set("--rate: '%s' is not a rate from 0 to 1e9 "
		    "operations/s", s);
		return -1;
	}
	*out = v;
	return 0;
}

static int
parse_pid(const char *s, long *pid)
{
	if (secho_opt_long("--pid", s, 1, INT_MAX, pid) == -1)
		return -1;
	if (kill((pid_t)*pid, 0) == -1 && errno == ESRCH) {
		secho_error_set("--pid %ld: no such process", *pid);
		return -1;
	}
	return 0;
}

static int
parse_number(struct secho_bench_config *cfg, struct parse_state *ps,
    int c, const char *arg)
{
	long v;

	switch (c) {
	case 'c':
		ps->conns_set = 1;
		if (secho_opt_long("--conns", arg, 1, 1000000, &v) == -1)
			return -1;
		cfg->conns = v;
		return 0;
	case 's':
		ps->size_set = 1;
		if (secho_opt_long("--size", arg, 1, SECHO_BENCH_SIZE_MAX,
		    &v) == -1)
			return -1;
		cfg->size = (size_t)v;
		return 0;
	case 'n':
		return secho_opt_long("--count", arg, 1, LONG_MAX, &cfg->count);
	case 't':
		ps->threads_set = 1;
		if (secho_opt_long("--threads", arg, 1, 256, &v) == -1)
			return -1;
		cfg->threads = (int)v;
		return 0;
	case 'w':
		ps->window_set = 1;
		if (secho_opt_long("--window", arg, 1, SECHO_BENCH_WINDOW_MAX,
		    &v) == -1)
			return -1;
		cfg->window = (int)v;
		return 0;
	}
	ps->src_set = 1;
	if (secho_opt_long("--src-addrs", arg, 1, 255, &v) == -1)
		return -1;
	cfg->src_addrs = (int)v;
	return 0;
}

static int
parse_one(struct secho_bench_config *cfg, struct parse_state *ps, int c,
    const char *arg)
{
	switch (c) {
	case 'c': case 's': case 'n': case 't': case 'w': case OPT_SRC_ADDRS:
		return parse_number(cfg, ps, c, arg);
	case 'd':
		return secho_opt_secs("--duration", arg, 1, &cfg->duration_ms);
	case OPT_TIMEOUT:
		return secho_opt_secs("--timeout", arg, 0, &cfg->timeout_ms);
	case OPT_RATE:
		return parse_rate(arg, &cfg->rate);
	case OPT_PID:
		return parse_pid(arg, &cfg->pid);
	case OPT_SEND_PROXY:
		return secho_proxy_version_parse("--send-proxy", arg,
		    &cfg->send_proxy);
	case OPT_TLS:
		ps->tls_flag = 1;
		return 0;
	case OPT_JSON:
		cfg->json = 1;
		return 0;
	case 'q':
		cfg->quiet = 1;
		return 0;
	}
	secho_error_set("unknown option");
	return -1;
}

static int
parse_mode(struct secho_bench_config *cfg, const char *s)
{
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(*mode_names); i++)
		if (strcmp(s, mode_names[i]) == 0) {
			cfg->mode = (enum secho_bench_mode)i;
			return 0;
		}
	secho_error_set("unknown mode '%s' (rr, bulk, hs, udp, dtls or hold)",
	    s);
	return -1;
}

/* HOST without IPv6 brackets, and PORT. */
static int
parse_target(struct secho_bench_config *cfg, const char *host,
    const char *port)
{
	size_t len = strlen(host);

	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		host++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(cfg->host)) {
		secho_error_set("'%s' is not a host", host);
		return -1;
	}
	memcpy(cfg->host, host, len);
	cfg->host[len] = '\0';
	if (secho_port_parse(port, &cfg->port) == -1)
		return -1;
	if (cfg->port == 0) {
		secho_error_set("port 0 cannot be connected to");
		return -1;
	}
	return 0;
}

/* The transport follows the mode; TLS options need a TLS transport. */
static int
finish_proto(struct secho_bench_config *cfg, const struct parse_state *ps)
{
	enum secho_bench_mode m = cfg->mode;

	if (m == SECHO_BENCH_UDP && ps->tls_flag) {
		secho_error_set("the udp mode is plain UDP; use the dtls mode "
		    "for DTLS");
		return -1;
	}
	cfg->proto = m == SECHO_BENCH_UDP ? SECHO_UDP : m == SECHO_BENCH_DTLS ?
	    SECHO_DTLS : ps->tls_flag ? SECHO_TLS : SECHO_TCP;
	if (ps->tls.first != NULL && !secho_proto_is_secure(cfg->proto)) {
		secho_error_set("--%s needs --tls (or the dtls mode)",
		    ps->tls.first);
		return -1;
	}
	if (cfg->resume && m != SECHO_BENCH_HS) {
		secho_error_set("--resume is for the hs mode");
		return -1;
	}
	if (secho_proto_is_secure(cfg->proto) && cfg->tls.ca == NULL &&
	    !cfg->tls.insecure && secho_certs_find("ca.pem", cfg->ca_found,
	    sizeof(cfg->ca_found)) == 0)
		cfg->tls.ca = cfg->ca_found;
	/* hs measures full handshakes unless told to resume. */
	cfg->tls.no_resume = !cfg->resume;
	return 0;
}

static int
finish_limits(struct secho_bench_config *cfg, const struct parse_state *ps)
{
	enum secho_bench_mode m = cfg->mode;
	int dgram = m == SECHO_BENCH_UDP || m == SECHO_BENCH_DTLS;
	size_t max = m == SECHO_BENCH_UDP ? SECHO_BENCH_UDP_MAX :
	    m == SECHO_BENCH_DTLS ? SECHO_BENCH_DTLS_MAX : SECHO_BENCH_SIZE_MAX;

	if (!ps->size_set)
		cfg->size = m == SECHO_BENCH_BULK ? 65536 : 64;
	if (dgram && (cfg->size < SECHO_BENCH_DGRAM_MIN || cfg->size > max)) {
		secho_error_set("--size: %s datagrams carry %d to %zu bytes",
		    secho_bench_mode_name(m), SECHO_BENCH_DGRAM_MIN, max);
		return -1;
	}
	if (!ps->conns_set)
		cfg->conns = m == SECHO_BENCH_RR ? 100 : m == SECHO_BENCH_HS ?
		    10 : m == SECHO_BENCH_HOLD ? 1000 : 1;
	if (!ps->src_set)
		cfg->src_addrs = m == SECHO_BENCH_HOLD ? 8 : 1;
	if (cfg->threads > cfg->conns)	/* a thread needs a connection */
		cfg->threads = (int)cfg->conns;
	return 0;
}

/* Options that only some modes have. */
static int
finish_mode(struct secho_bench_config *cfg, const struct parse_state *ps)
{
	enum secho_bench_mode m = cfg->mode;
	int dgram = m == SECHO_BENCH_UDP || m == SECHO_BENCH_DTLS;

	if (cfg->rate > 0 && m != SECHO_BENCH_RR && !dgram) {
		secho_error_set("--rate is for the rr, udp and dtls modes");
		return -1;
	}
	if (cfg->send_proxy && dgram) {
		secho_error_set("--send-proxy is for tcp and tls (the rr, bulk, "
		    "hs and hold modes)");
		return -1;
	}
	if (ps->window_set && !dgram) {
		secho_error_set("--window is for the udp and dtls modes");
		return -1;
	}
	if (m == SECHO_BENCH_HOLD && cfg->count > 0) {
		secho_error_set("hold opens --conns connections; --count does "
		    "not apply");
		return -1;
	}
	if (m != SECHO_BENCH_HOLD && cfg->count == 0 &&
	    cfg->duration_ms == 0) {
		secho_error_set("--duration must be positive (or use "
		    "--count)");
		return -1;
	}
	return 0;
}

static int
finish(struct secho_bench_config *cfg, struct parse_state *ps)
{
	if (ps->npos < 3) {
		secho_error_set("missing %s", ps->npos == 0 ? "MODE, HOST and "
		    "PORT" : ps->npos == 1 ? "HOST and PORT" : "PORT");
		return -1;
	}
	if (parse_mode(cfg, ps->pos[0]) == -1 ||
	    parse_target(cfg, ps->pos[1], ps->pos[2]) == -1)
		return -1;
	if (finish_proto(cfg, ps) == -1 || finish_limits(cfg, ps) == -1)
		return -1;
	return finish_mode(cfg, ps);
}

/* getopt_long over our options and the shared TLS ones. */
static int
parse_opts(struct secho_bench_config *cfg, struct parse_state *ps,
    int argc, char **argv, FILE *out)
{
	struct option opts[SECHO_OPT_TABLE_MAX];
	int c, rc;

	if (secho_tls_opt_longopts(SECHO_PROG_BENCH, longopts, opts,
	    SECHO_OPT_TABLE_MAX) == -1)
		return -1;
	optind = 0;	/* GNU: start afresh (tests parse twice) */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:s:d:n:t:w:qhV", opts,
	    NULL)) != -1) {
		if (c == 'h')
			return secho_tls_opt_help(SECHO_PROG_BENCH, out,
			    usage, usage_tail);
		if (c == 'V')
			return fprintf(out, "%s %s\n", SECHO_BENCH_PROG,
			    SECHO_VERSION) < 0 ? -1 : 1;
		if (c == '?' || c == ':') {
			secho_error_set("%s: unknown option or missing "
			    "value", argv[optind - 1]);
			return -1;
		}
		if ((rc = secho_tls_opt_parse(&ps->tls, c, argc, argv)) == 1)
			rc = parse_one(cfg, ps, c, optarg);
		if (rc == -1)
			return -1;
	}
	cfg->servername = ps->tls.servername;
	cfg->resume = ps->tls.resume != 0;
	return 0;
}

int
secho_bench_parse_args(struct secho_bench_config *cfg, int argc,
    char **argv, FILE *out)
{
	struct parse_state ps;
	int rc;

	memset(&ps, 0, sizeof(ps));
	secho_tls_cmdline_init(&ps.tls, SECHO_PROG_BENCH, &cfg->tls);
	if ((rc = parse_opts(cfg, &ps, argc, argv, out)) != 0)
		return rc;
	for (; optind < argc; optind++) {
		if (ps.npos == 3) {
			secho_error_set("unexpected argument '%s'",
			    argv[optind]);
			return -1;
		}
		ps.pos[ps.npos++] = argv[optind];
	}
	return finish(cfg, &ps);
}
