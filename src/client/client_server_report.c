/*
 * client_server_report.c - --report: reads the line a server started with
 * --report sends first (a stream's first line, a DTLS connection's first
 * record, over UDP the answer to an empty datagram sent to ask for it),
 * and prints it beside what this client knows of the same connection,
 * calling out where the two differ: the address a balancer or NAT put in
 * front of ours, an SNI or ALPN that did not arrive as sent, a different
 * protocol version or suite (a TLS-terminating middlebox).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client_int.h"

#define REPORT_MAX	4096
#define FIELDS_MAX	SERVER_REPORT_FIELDS


static const char *
field(const struct server_report *r, const char *key)
{
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->f[i].key, key) == 0)
			return r->f[i].val;
	}
	return NULL;
}

/* --- a JSON reader for the report: objects, strings, scalars --- */

struct jp {
	const char *p;
	struct server_report *r;
};

static void
ws(struct jp *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' ||
	    *j->p == '\n')
		j->p++;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A JSON string into out (cut to len); 0 or -1. */
static int
jstring(struct jp *j, char *out, size_t len)
{
	size_t o = 0;

	if (*j->p++ != '"')
		return -1;
	while (*j->p != '"') {
		unsigned c = (unsigned char)*j->p++;

		if (c == '\0' || c < 0x20)
			return -1;
		if (c == '\\') {
			char e = *j->p++;

			switch (e) {
			case '"': case '\\': case '/': c = (unsigned)e; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'u':
				c = 0;
				for (int k = 0; k < 4; k++) {
					int h = hexval(*j->p++);

					if (h < 0)
						return -1;
					c = c << 4 | (unsigned)h;
				}
				break;
			default:
				return -1;
			}
		}
		/* It goes to a terminal: the server is not to write
		 * escape sequences there, so all but printable ASCII
		 * shows as '?'. */
		if (c < 0x20 || c > 0x7e)
			c = '?';
		if (o + 1 < len)
			out[o++] = (char)c;
	}
	j->p++;
	out[o] = '\0';
	return 0;
}

static int jobject(struct jp *j, const char *prefix);

static int
jvalue(struct jp *j, const char *key)
{
	struct server_report *r = j->r;
	char *val = r->n < FIELDS_MAX ? r->f[r->n].val : NULL;
	char sink[512];
	size_t n;

	ws(j);
	if (*j->p == '{')
		return jobject(j, key);
	if (val == NULL)
		val = sink;
	if (*j->p == '"') {
		if (jstring(j, val, sizeof(sink)) == -1)
			return -1;
	} else {
		/* Numbers, true, false, null: nothing else is let through
		 * to the terminal. */
		n = strspn(j->p, "+-.0123456789abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
		if (n == 0 || n >= sizeof(sink))
			return -1;
		memcpy(val, j->p, n);
		val[n] = '\0';
		j->p += n;
	}
	if (val != sink) {
		size_t k = strlen(key);

		if (k >= sizeof(r->f[0].key))
			k = sizeof(r->f[0].key) - 1;
		memcpy(r->f[r->n].key, key, k);
		r->f[r->n].key[k] = '\0';
		r->n++;
	}
	return 0;
}

static int
jobject(struct jp *j, const char *prefix)
{
	char name[64], key[96];

	ws(j);
	if (*j->p++ != '{')
		return -1;
	ws(j);
	if (*j->p == '}') {
		j->p++;
		return 0;
	}
	for (;;) {
		ws(j);
		if (jstring(j, name, sizeof(name)) == -1)
			return -1;
		ws(j);
		if (*j->p++ != ':')
			return -1;
		snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "",
		    name);
		if (jvalue(j, key) == -1)
			return -1;
		ws(j);
		if (*j->p == '}') {
			j->p++;
			return 0;
		}
		if (*j->p++ != ',')
			return -1;
	}
}

/* --- reading it --- */

struct rread {
	char buf[REPORT_MAX];
	size_t len;
};

/* A stream: up to the newline.  A datagram: one that is not empty (the
 * echo of our empty one may come around it). */
static ssize_t
report_step(struct client *cl, void *arg)
{
	struct rread *rr = arg;

	for (;;) {
		ssize_t n = secho_client_read(cl, rr->buf + rr->len,
		    sizeof(rr->buf) - 1 - rr->len);

		if (n < 0)
			return n;
		if (n == 0 && !cl->dgram)
			return SECHO_IO_EOF;
		rr->len += (size_t)n;
		rr->buf[rr->len] = '\0';
		if (cl->dgram && n > 0)
			return 0;
		if (!cl->dgram && memchr(rr->buf, '\n', rr->len) != NULL)
			return 0;
		if (rr->len == sizeof(rr->buf) - 1)
			return 0;	/* too long: judged below */
	}
}

/* The empty datagram's echo, so the echo that follows starts clean. */
static ssize_t
empty_echo_step(struct client *cl, void *arg)
{
	char b[1];

	(void)arg;
	return secho_client_read(cl, b, sizeof(b));
}

static int
read_report(struct client *cl, struct rread *rr)
{
	ssize_t r;

	/* UDP: the server learns of us from a datagram; an empty one is
	 * echoed empty, after the report. */
	if (cl->cfg->proto == SECHO_UDP &&
	    (r = secho_client_write(cl, "", 0)) < 0)
		return secho_client_io_fail(cl, r, 0, 0);
	r = secho_client_drive(cl, report_step, rr, secho_client_deadline(cl));
	if (r == SECHO_CLIENT_INTR)
		return secho_client_error(cl, SECHO_CLIENT_INTERRUPTED,
		    "interrupted waiting for the server's report");
	if (r == SECHO_WANT_READ || r == SECHO_WANT_WRITE)
		return secho_client_error(cl, SECHO_CLIENT_TIMEOUT, "no report "
		    "from %s within %gs (is the server started with "
		    "--report?)", cl->addr, secho_client_timeout_secs(cl));
	if (r < 0)
		return secho_client_io_fail(cl, r, 0, 0);
	if (cl->cfg->proto == SECHO_UDP)
		(void)secho_client_drive(cl, empty_echo_step, NULL,
		    secho_client_deadline(cl));
	return 0;
}

/* --- printing it beside our view --- */

struct row {
	const char *label, *key;
	const char *ours;	/* our side of it, or NULL: nothing to compare */
	const char *note;	/* what a difference means */
};

static void
print_rows(const struct server_report *rep, const struct row *rows, size_t n,
    int *ndiff)
{
	for (size_t i = 0; i < n; i++) {
		const char *v = field(rep, rows[i].key);
		const char *shown = v != NULL && *v != '\0' ? v : "-";
		const char *ours = rows[i].ours;

		if (v == NULL && ours == NULL)
			continue;
		if (ours != NULL && strcmp(shown, *ours ? ours : "-") != 0) {
			fprintf(stderr, "    %-12s %-28s <- differs: we have %s"
			    "%s%s\n", rows[i].label, shown, *ours ? ours : "-",
			    rows[i].note ? "; " : "", rows[i].note ?
			    rows[i].note : "");
			(*ndiff)++;
		} else
			fprintf(stderr, "    %-12s %s%s\n", rows[i].label, shown,
			    ours != NULL ? "  (= ours)" : "");
	}
}

/* Prints rep beside our view; returns how many fields differ. */
static int
print_report(struct client *cl, const struct server_report *rep)
{
	struct secho_sockaddr local;
	struct secho_tls_info in;
	char laddr[SECHO_ADDRSTR_MAX] = "";
	const char *hs = field(rep, "handshake_ms");
	int tls = secho_conn_is_tls(&cl->conn) &&
	    secho_tls_conn_info(&cl->conn, &in) == 0;
	int ndiff = 0;

	local.len = sizeof(local.ss);
	if (getsockname(cl->conn.fd, (struct sockaddr *)&local.ss,
	    &local.len) == 0)
		secho_sockaddr_str((struct sockaddr *)&local.ss, laddr,
		    sizeof(laddr));
	const struct row conn_rows[] = {
		{ "transport", "transport", secho_proto_name(cl->cfg->proto),
		    NULL },
		{ "client", "peer", laddr, "a balancer's PROXY header or NAT "
		    "stands between us" },
		{ "via", "via", NULL, NULL },
		{ "server", "local", cl->addr, "we reached it through a "
		    "balancer or NAT" },
		{ "worker", "worker", NULL, NULL },
	};
	const struct row tls_rows[] = {
		{ "version", "tls.version", tls ? in.version : NULL,
		    "something in between terminates TLS" },
		{ "cipher", "tls.cipher", tls ? in.cipher : NULL,
		    "something in between terminates TLS" },
		{ "group", "tls.group", tls ? in.group : NULL, NULL },
		{ "SNI", "tls.sni", tls ? in.sni : NULL, "the name was not "
		    "passed on as sent" },
		{ "ALPN", "tls.alpn", tls ? in.alpn : NULL, NULL },
		{ "resumed", "tls.resumed", tls ? (in.resumed ? "true" :
		    "false") : NULL, NULL },
		{ "client cert", "tls.client", NULL, NULL },
		{ "JA4", "tls.ja4", NULL, NULL },
		{ "JA3", "tls.ja3", NULL, NULL },
	};

	secho_client_warn("the server's report on this connection (what it "
	    "saw; '= ours' where we see the same):");
	print_rows(rep, conn_rows, sizeof(conn_rows) / sizeof(conn_rows[0]),
	    &ndiff);
	/* Not compared: each side times its own part of the exchange. */
	if (hs != NULL)
		fprintf(stderr, "    %-12s %s ms  (ours: %.3f ms)\n",
		    "handshake", hs, cl->handshake_us / 1000.0);
	print_rows(rep, tls_rows, sizeof(tls_rows) / sizeof(tls_rows[0]),
	    &ndiff);
	if (ndiff == 0)
		secho_client_warn("the server saw this connection as we do");
	else
		secho_client_warn("%d difference%s between the server's view "
		    "and ours", ndiff, ndiff == 1 ? "" : "s");
	return ndiff;
}

int
secho_client_server_report(struct client *cl)
{
	struct rread *rr = calloc(1, sizeof(*rr));
	struct server_report *rep = calloc(1, sizeof(*rep));
	struct jp j;
	int rc = -1, ndiff;

	if (rr == NULL || rep == NULL) {
		secho_client_error(cl, SECHO_CLIENT_SETUP, "out of memory");
		goto out;
	}
	if (read_report(cl, rr) == -1)
		goto out;
	j.p = rr->buf;
	j.r = rep;
	if (strncmp(rr->buf, "{\"secho\":\"report\"", 17) != 0 ||
	    jobject(&j, "") == -1) {
		char shown[61];
		size_t k;

		for (k = 0; k < sizeof(shown) - 1 && rr->buf[k] != '\0'; k++)
			shown[k] = rr->buf[k] >= 0x20 && rr->buf[k] < 0x7f ?
			    rr->buf[k] : '?';
		shown[k] = '\0';
		secho_client_error(cl, SECHO_CLIENT_MISMATCH, "the server's "
		    "first %s is not a secho report (is it a secho-server "
		    "with --report?): %s", cl->dgram ? "datagram" : "line",
		    shown);
		goto out;
	}
	ndiff = print_report(cl, rep);
	/* --json: the first connection's report goes into the result. */
	if (cl->report != NULL && cl->report->srv == NULL) {
		cl->report->srv = rep;
		cl->report->srv_differences = ndiff;
		rep = NULL;
	}
	rc = 0;
out:
	free(rr);
	free(rep);
	return rc;
}
