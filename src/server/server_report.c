/*
 * server_report.c - what the server says of a connection in JSON: the
 * fields its closing record (--log-format json) and its --report share,
 * the report itself, and the report a UDP listener sends a new sender.
 *
 * --report: each connection's first bytes from the server (a stream's
 * first line, a DTLS connection's first record, a UDP sender's first
 * datagram) are one JSON object and a newline, saying what the server saw
 * once the handshake was done: the addresses (after PROXY), the worker
 * and, for TLS and DTLS, the session and the client's fingerprints.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "secho/json.h"
#include "server_int.h"

#define REPORT_MAX	4096
/* A UDP listener remembers this many senders (a direct-mapped table: a
 * sender pushed out by another is reported to again, as a new one). */
#define SEEN_SLOTS	4096
/*
 * UDP senders' addresses are not proved, and a report is bigger than the
 * datagram that asks for it: a flood from spoofed senders would have the
 * server send reports to its victim.  A listener sends at most this many
 * a second (a burst as large); past that a new sender gets its echo only.
 */
#define REPORTS_PER_S	100

void
srv_addf(char *buf, size_t len, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*o + 1 >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *o, len - *o, fmt, ap);
	va_end(ap);
	if (n > 0)
		*o = (size_t)n < len - *o ? *o + (size_t)n : len - 1;
}

void
srv_json_field(char *buf, size_t len, size_t *o, const char *key,
    const char *s)
{
	srv_addf(buf, len, o, ",\"%s\":", key);
	if (*o + 1 < len)
		*o += secho_json_quote(buf + *o, len - *o, s);
}

static void
json_addr(char *buf, size_t len, size_t *o, const char *key,
    const struct sockaddr_storage *ss)
{
	char addr[SECHO_ADDRSTR_MAX];

	srv_json_field(buf, len, o, key, secho_sockaddr_str(
	    (const struct sockaddr *)ss, addr, sizeof(addr)));
}

void
srv_json_where(const struct conn *cn, char *buf, size_t len, size_t *o)
{
	struct secho_sockaddr local;

	srv_addf(buf, len, o, ",\"transport\":\"%s\"",
	    secho_proto_name(cn->proto));
	json_addr(buf, len, o, "peer", &cn->c.peer.ss);
	if (cn->via.ss.ss_family != 0)
		json_addr(buf, len, o, "via", &cn->via.ss);
	local.len = sizeof(local.ss);
	if (getsockname(cn->c.fd, (struct sockaddr *)&local.ss,
	    &local.len) == 0)
		json_addr(buf, len, o, "local", &local.ss);
}

void
srv_json_tls(const struct conn *cn, const struct conn_tls *t, int records,
    char *buf, size_t len, size_t *o)
{
	const char *fpsrc = t != NULL ? t->fp :
	    secho_tls_conn_fingerprint(&cn->c);
	char ja4[64] = "", ja3[64] = "";

	if (sscanf(fpsrc, "JA4 %63s JA3 %63s", ja4, ja3) != 2)
		ja4[0] = ja3[0] = '\0';
	if (records)
		srv_addf(buf, len, o, ",\"records\":\"%s\"",
		    secho_tls_conn_own_records(&cn->c) ? "secho" : "openssl");
	srv_addf(buf, len, o, ",\"tls\":{\"done\":%s", t != NULL ? "true" :
	    "false");
	if (t != NULL) {
		srv_json_field(buf, len, o, "version", t->in.version);
		srv_json_field(buf, len, o, "cipher", t->in.cipher);
		srv_json_field(buf, len, o, "group", t->in.group);
		srv_json_field(buf, len, o, "sni", t->in.sni);
		srv_json_field(buf, len, o, "alpn", t->in.alpn);
		srv_json_field(buf, len, o, "client", t->in.subject);
		srv_addf(buf, len, o, ",\"resumed\":%s", t->in.resumed ?
		    "true" : "false");
	}
	srv_json_field(buf, len, o, "ja4", ja4);
	srv_json_field(buf, len, o, "ja3", ja3);
	srv_addf(buf, len, o, "}");
}

int
srv_report_make(struct conn *cn)
{
	struct conn_tls t, *tp = NULL;
	size_t o = 0;

	if ((cn->rpt = malloc(REPORT_MAX)) == NULL) {
		secho_error_set("out of memory");
		return -1;
	}
	if (secho_conn_is_tls(&cn->c) &&
	    secho_tls_conn_info(&cn->c, &t.in) == 0) {
		snprintf(t.fp, sizeof(t.fp), "%s",
		    secho_tls_conn_fingerprint(&cn->c));
		tp = &t;
	}
	srv_addf(cn->rpt, REPORT_MAX, &o, "{\"secho\":\"report\"");
	srv_json_where(cn, cn->rpt, REPORT_MAX, &o);
	srv_addf(cn->rpt, REPORT_MAX, &o, ",\"worker\":%d", cn->srv->id);
	if (cn->hs_us > 0)
		srv_addf(cn->rpt, REPORT_MAX, &o, ",\"handshake_ms\":%.3f",
		    (double)cn->hs_us / 1000.0);
	/* No "records": at this point secho's record layer (if asked for)
	 * has not taken over yet; the closing record says whose they were. */
	if (secho_conn_is_tls(&cn->c))
		srv_json_tls(cn, tp, 0, cn->rpt, REPORT_MAX, &o);
	srv_addf(cn->rpt, REPORT_MAX, &o, "}\n");
	cn->rpt_len = o;
	cn->rpt_off = 0;
	return 0;
}

/* --- UDP: a report to each new sender --- */

struct seen {
	uint64_t last_ms;	/* 0: empty */
	uint16_t family, port;
	unsigned char addr[16];
};

/* A sender's key in the table: its family, port and address. */
static void
seen_key(const struct secho_sockaddr *a, struct seen *k)
{
	memset(k, 0, sizeof(*k));
	k->family = a->ss.ss_family;
	k->port = (uint16_t)secho_sockaddr_port((const struct sockaddr *)
	    &a->ss);
	if (a->ss.ss_family == AF_INET)
		memcpy(k->addr, &((const struct sockaddr_in *)(const void *)
		    &a->ss)->sin_addr, 4);
	else if (a->ss.ss_family == AF_INET6)
		memcpy(k->addr, &((const struct sockaddr_in6 *)(const void *)
		    &a->ss)->sin6_addr, 16);
}

/*
 * Whether the sender of a datagram is new to ls: unknown, pushed out, or
 * silent for longer than --idle-timeout.  It is remembered as seen now.
 */
static int
sender_is_new(struct listener *ls, const struct secho_sockaddr *from)
{
	uint64_t now = secho_loop_now(ls->srv->loop);
	int idle = ls->srv->cfg->idle_timeout_ms;
	struct seen k, *e;
	uint32_t h = 2166136261u;	/* FNV-1a */
	int known;

	if (ls->seen == NULL && (ls->seen = calloc(SEEN_SLOTS,
	    sizeof(struct seen))) == NULL)
		return 1;
	seen_key(from, &k);
	for (size_t i = 0; i < sizeof(k.addr); i++)
		h = (h ^ k.addr[i]) * 16777619u;
	h = (h ^ k.port) * 16777619u;
	e = &ls->seen[h % SEEN_SLOTS];
	known = e->last_ms != 0 && e->family == k.family &&
	    e->port == k.port && memcmp(e->addr, k.addr, 16) == 0 &&
	    (idle == 0 || now - e->last_ms < (uint64_t)idle);
	k.last_ms = now > 0 ? now : 1;
	*e = k;
	return !known;
}

/* One report from the listener's budget: 1, or 0 when it is spent. */
static int
report_budget(struct listener *ls)
{
	uint64_t now = secho_loop_now(ls->srv->loop);
	uint64_t add;

	if (ls->rpt_ms == 0) {
		ls->rpt_ms = now;
		ls->rpt_tokens = REPORTS_PER_S;
	}
	add = (now - ls->rpt_ms) * REPORTS_PER_S / 1000;
	if (add > 0) {
		add += (uint64_t)ls->rpt_tokens;
		ls->rpt_tokens = add > REPORTS_PER_S ? REPORTS_PER_S : (int)add;
		ls->rpt_ms = now;
	}
	if (ls->rpt_tokens == 0)
		return 0;
	ls->rpt_tokens--;
	return 1;
}

void
srv_report_dgram(struct listener *ls, const struct secho_dgram *d)
{
	char rpt[1024];
	struct secho_sockaddr local;
	size_t o = 0;

	if (!sender_is_new(ls, &d->peer) || !report_budget(ls))
		return;
	secho_dgram_dst_sockaddr(&d->dst, secho_sockaddr_port(
	    (const struct sockaddr *)&ls->addr.ss), ls->addr.ss.ss_family,
	    &local);
	srv_addf(rpt, sizeof(rpt), &o, "{\"secho\":\"report\","
	    "\"transport\":\"udp\"");
	json_addr(rpt, sizeof(rpt), &o, "peer", &d->peer.ss);
	json_addr(rpt, sizeof(rpt), &o, "local", &local.ss);
	srv_addf(rpt, sizeof(rpt), &o, ",\"worker\":%d}\n", ls->srv->id);
	/* Lost like any datagram when the socket is full; the echo that
	 * follows is not held back for it. */
	if (secho_net_send_dgram(ls->ev.fd, rpt, o, &d->peer, &d->dst) == -1)
		mt_inc(&ls->srv->mt.dropped[SECHO_UDP]);
}
