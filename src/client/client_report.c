/*
 * client_report.c - --json: what a run gathers as it goes (the first
 * connection's addresses, times and session, each ping probe, each
 * --resume connection) and the one JSON object it ends with, like
 * iperf3 -J.  The field names are an interface: secho-client(1) lists
 * them, and a change there is a change here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "secho/json.h"

/* Makes room for one more of n items of size sz in *v (capacity *cap). */
static int
grow(void **v, size_t *cap, size_t n, size_t sz)
{
	size_t c = *cap != 0 ? *cap * 2 : 64;
	void *p;

	if (n < *cap)
		return 0;
	if (c > ((size_t)-1) / sz || (p = realloc(*v, c * sz)) == NULL)
		return -1;
	*v = p;
	*cap = c;
	return 0;
}

void
secho_client_report_probe(struct client *cl, long seq, long long rtt_us)
{
	struct secho_client_report *r = cl->report;
	unsigned long long rtt = (unsigned long long)rtt_us;

	if (r == NULL)
		return;
	if (rtt_us >= 0) {
		if (r->rtt_n++ == 0 || rtt < r->rtt_min)
			r->rtt_min = rtt;
		if (rtt > r->rtt_max)
			r->rtt_max = rtt;
		r->rtt_sum += rtt;
		r->rtt_sum2 += (double)rtt * (double)rtt;
	}
	if (grow((void **)&r->probes, &r->probes_cap, r->nprobes,
	    sizeof(*r->probes)) == 0)
		r->probes[r->nprobes++] = (struct report_probe){ cl->nth, seq,
		    rtt_us };
}

void
secho_client_report_conn(struct client *cl, int resumed)
{
	struct secho_client_report *r = cl->report;

	if (r != NULL && grow((void **)&r->conns, &r->conns_cap, r->nconns,
	    sizeof(*r->conns)) == 0)
		r->conns[r->nconns++] = (struct report_conn){ resumed,
		    cl->handshake_us };
}

void
secho_client_report_session(struct client *cl)
{
	struct secho_client_report *r = cl->report;

	if (r == NULL)
		return;
	r->handshaken = 1;
	r->handshake_us = cl->handshake_us;
	r->tls = secho_tls_conn_info(&cl->conn, &r->info) == 0 &&
	    secho_tls_conn_details(&cl->conn, &r->details) == 0;
}

void
secho_client_result_free(struct secho_client_result *res)
{
	if (res->report != NULL) {
		free(res->report->probes);
		free(res->report->conns);
		free(res->report->srv);
		free(res->report);
	}
	res->report = NULL;
}

static void
ms(struct secho_json *j, const char *key, unsigned long long us)
{
	secho_json_double(j, key, us / 1000.0, 3);
}

/* "" as null: ALPN and SNI that were not there. */
static void
str_or_null(struct secho_json *j, const char *key, const char *s)
{
	secho_json_string(j, key, *s != '\0' ? s : NULL);
}

static void
json_chain(struct secho_json *j, const struct secho_tls_details *d)
{
	secho_json_array_begin(j, "chain");
	for (size_t i = 0; i < d->nchain; i++) {
		const struct secho_tls_cert_info *c = &d->chain[i];

		secho_json_object_begin(j, NULL);
		secho_json_int(j, "depth", c->depth);
		secho_json_string(j, "subject", c->subject);
		secho_json_string(j, "issuer", c->issuer);
		secho_json_string(j, "serial", c->serial);
		secho_json_string(j, "signature_algorithm", c->sig_alg);
		secho_json_string(j, "not_before", c->not_before);
		secho_json_string(j, "not_after", c->not_after);
		secho_json_object_end(j);
	}
	secho_json_array_end(j);
}

static void
json_tls(struct secho_json *j, const struct secho_client_config *cfg,
    const struct secho_client_report *r)
{
	const struct secho_tls_info *in = &r->info;
	int insecure = cfg->tls.insecure;

	if (!r->tls) {
		secho_json_null(j, "tls");
		return;
	}
	secho_json_object_begin(j, "tls");
	secho_json_string(j, "version", in->version);
	secho_json_string(j, "cipher", in->cipher);
	str_or_null(j, "group", in->group);
	if (r->details.group_bits > 0)
		secho_json_int(j, "group_bits", r->details.group_bits);
	else
		secho_json_null(j, "group_bits");
	str_or_null(j, "signature_scheme", r->details.sig_scheme);
	str_or_null(j, "alpn", in->alpn);
	str_or_null(j, "sni", in->sni);
	secho_json_bool(j, "resumed", in->resumed);
	secho_json_bool(j, "verified", !insecure &&
	    strncmp(in->verify, "ok", 2) == 0);
	secho_json_string(j, "verification", insecure ?
	    "skipped (--insecure)" : in->verify);
	str_or_null(j, "pin_sha256", r->details.pin_sha256);
	json_chain(j, &r->details);
	secho_json_object_end(j);
}

static void
json_rtt(struct secho_json *j, const struct secho_client_report *r)
{
	double avg, var;

	if (r->rtt_n <= 0) {
		secho_json_null(j, "rtt_ms");
		return;
	}
	/* The same figures as the text summary (client_ping.c). */
	avg = (double)r->rtt_sum / (double)r->rtt_n;
	var = r->rtt_sum2 / (double)r->rtt_n - avg * avg;
	secho_json_object_begin(j, "rtt_ms");
	ms(j, "min", r->rtt_min);
	secho_json_double(j, "avg", avg / 1000.0, 3);
	ms(j, "max", r->rtt_max);
	ms(j, "mdev", secho_client_isqrt(var > 0 ?
	    (unsigned long long)var : 0));
	secho_json_object_end(j);
}

static void
json_ping(struct secho_json *j, const struct secho_client_config *cfg,
    const struct secho_client_report *r)
{
	long lost = r->ping_sent - r->ping_received;

	if (!r->ping) {
		secho_json_null(j, "ping");
		return;
	}
	secho_json_object_begin(j, "ping");
	secho_json_uint(j, "size", r->ping_size);
	secho_json_int(j, "count", cfg->count);
	secho_json_int(j, "sent", r->ping_sent);
	secho_json_int(j, "received", r->ping_received);
	secho_json_int(j, "lost", lost);
	secho_json_double(j, "loss_percent", r->ping_sent > 0 ?
	    100.0 * (double)lost / (double)r->ping_sent : 0.0, 1);
	ms(j, "time_ms", r->ping_us);
	json_rtt(j, r);
	secho_json_array_begin(j, "probes");
	for (size_t i = 0; i < r->nprobes; i++) {
		const struct report_probe *p = &r->probes[i];

		secho_json_object_begin(j, NULL);
		if (cfg->resume > 0)
			secho_json_int(j, "connection", p->conn);
		secho_json_int(j, "seq", p->seq);
		if (p->rtt_us >= 0)
			ms(j, "rtt_ms", (unsigned long long)p->rtt_us);
		else
			secho_json_null(j, "rtt_ms");
		secho_json_object_end(j);
	}
	secho_json_array_end(j);
	secho_json_object_end(j);
}

static void
json_resume(struct secho_json *j, const struct secho_client_config *cfg,
    const struct secho_client_report *r)
{
	long hits = 0;

	if (cfg->resume <= 0) {
		secho_json_null(j, "resume");
		return;
	}
	for (size_t i = 1; i < r->nconns; i++)
		hits += r->conns[i].resumed;
	secho_json_object_begin(j, "resume");
	secho_json_int(j, "reconnections", cfg->resume);
	secho_json_int(j, "resumed", hits);
	secho_json_array_begin(j, "connections");
	for (size_t i = 0; i < r->nconns; i++) {
		secho_json_object_begin(j, NULL);
		secho_json_uint(j, "connection", i + 1);
		secho_json_bool(j, "resumed", r->conns[i].resumed);
		ms(j, "handshake_ms", r->conns[i].handshake_us);
		secho_json_object_end(j);
	}
	secho_json_array_end(j);
	secho_json_object_end(j);
}

/* "2026-12-08T00:10:00.123Z" */
/* --report: what the server said it saw (its fields as text, nested
 * keys flattened with dots) and how many differ from our view. */
static void
json_server_report(struct secho_json *j, const struct secho_client_report *r)
{
	if (r->srv == NULL) {
		secho_json_null(j, "server_report");
		return;
	}
	secho_json_object_begin(j, "server_report");
	secho_json_object_begin(j, "fields");
	for (size_t i = 0; i < r->srv->n; i++)
		secho_json_string(j, r->srv->f[i].key, r->srv->f[i].val);
	secho_json_object_end(j);
	secho_json_int(j, "differences", r->srv_differences);
	secho_json_object_end(j);
}

static void
json_start(struct secho_json *j, const struct secho_client_report *r)
{
	char when[32], buf[48];
	struct tm tm;

	gmtime_r(&r->start.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, sizeof(buf), "%s.%03ldZ", when,
	    r->start.tv_nsec / 1000000);
	secho_json_string(j, "start", buf);
}

/* The first connection: where to, from where, how long it took. */
static void
json_conn(struct secho_json *j, const struct secho_client_config *cfg,
    const struct secho_client_report *r)
{
	secho_json_object_begin(j, "server");
	secho_json_string(j, "host", cfg->host);
	secho_json_int(j, "port", cfg->port);
	secho_json_string(j, "address", r->connected ? r->addr : NULL);
	secho_json_object_end(j);
	secho_json_string(j, "local", r->connected && *r->local != '\0' ?
	    r->local : NULL);
	json_start(j, r);
	ms(j, "duration_ms", r->duration_us);
	if (r->connected)
		ms(j, "connect_ms", r->connect_us);
	else
		secho_json_null(j, "connect_ms");
	if (r->handshaken && secho_proto_is_secure(cfg->proto))
		ms(j, "handshake_ms", r->handshake_us);
	else
		secho_json_null(j, "handshake_ms");
}

int
secho_client_report_write(const struct secho_client_config *cfg,
    const struct secho_client_result *res, int exit_code, const char *error,
    FILE *out)
{
	/* Out of memory for the report: the same fields, none of them seen. */
	static const struct secho_client_report none;
	const struct secho_client_report *r = res->report != NULL ?
	    res->report : &none;
	struct secho_json j;
	const char *text;
	int rc = 0;

	secho_json_init(&j);
	secho_json_object_begin(&j, NULL);
	secho_json_string(&j, "program", SECHO_CLIENT_PROG);
	secho_json_string(&j, "version", SECHO_VERSION);
	secho_json_string(&j, "mode", cfg->count > 0 ? "ping" :
	    cfg->message != NULL ? "message" : "stdin");
	secho_json_string(&j, "transport", secho_proto_name(cfg->proto));
	json_conn(&j, cfg, r);
	json_tls(&j, cfg, r);
	secho_json_uint(&j, "bytes_sent", r->bytes_sent);
	secho_json_uint(&j, "bytes_echoed", r->bytes_echoed);
	json_ping(&j, cfg, r);
	json_resume(&j, cfg, r);
	json_server_report(&j, r);
	secho_json_int(&j, "exit_code", exit_code);
	secho_json_string(&j, "error", error);
	secho_json_object_end(&j);
	if ((text = secho_json_text(&j)) == NULL)
		rc = -1;
	else if (fprintf(out, "%s\n", text) < 0 || fflush(out) == EOF) {
		secho_error_set("cannot write the JSON report: %s",
		    strerror(errno));
		rc = -1;
	}
	secho_json_free(&j);
	return rc;
}
