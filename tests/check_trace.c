/*
 * check_trace.c - --trace: the client's and the server's traces of real
 * handshakes (TLS 1.3 full, HelloRetryRequest, DTLS with its cookie and
 * epochs, a late failure with its alert and a key log that still holds
 * the handshake secrets, secho's record layer with KeyUpdate), the two
 * sides mirrored, and a trace lined up with what tshark decodes from a
 * capture of the same exchange.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <poll.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "secho/secho.h"
#include "testutil.h"

#define MAXEV 128

/* One parsed trace line: "+1.204 ms < ServerHello 122 B detail". */
struct ev {
	double ms;
	char dir;		/* '>' sent, '<' received */
	char name[64];
	long len;
	char detail[64];
};

struct trace {
	struct ev ev[MAXEV];
	int n;
};

/* Parses "+T ms D NAME... N B[ DETAIL]" at s; 0 or -1. */
static int
parse_line(const char *s, struct ev *e)
{
	char rest[256], *b, *num;
	int off = 0;

	if (sscanf(s, "+%lf ms %c %n", &e->ms, &e->dir, &off) != 2 ||
	    off == 0)
		return -1;
	snprintf(rest, sizeof(rest), "%.*s", (int)strcspn(s + off, "\n"),
	    s + off);
	/* The length is the number before the first " B" that ends a word. */
	for (b = strstr(rest, " B"); b != NULL; b = strstr(b + 1, " B"))
		if (b[2] == '\0' || b[2] == ' ')
			break;
	if (b == NULL)
		return -1;
	*b = '\0';
	if ((num = strrchr(rest, ' ')) == NULL)
		return -1;
	*num++ = '\0';
	e->len = strtol(num, NULL, 10);
	snprintf(e->name, sizeof(e->name), "%.63s", rest);
	snprintf(e->detail, sizeof(e->detail), "%.63s", b[2] == ' ' ? b + 3 :
	    "");
	return 0;
}

/* Every "trace +..." line of text (a client's stderr or a server log). */
static void
parse_trace(const char *text, struct trace *t)
{
	const char *p = text;

	t->n = 0;
	while (p != NULL && (p = strstr(p, "trace +")) != NULL &&
	    t->n < MAXEV) {
		if (parse_line(p + 6, &t->ev[t->n]) == 0)
			t->n++;
		p = strchr(p, '\n');
	}
}

static int
is_message(const struct ev *e)
{
	return strncmp(e->name, "record ", 7) != 0 &&
	    strncmp(e->name, "alert ", 6) != 0 &&
	    strcmp(e->name, "ChangeCipherSpec") != 0;
}

/* "> ClientHello 246, < ServerHello 118, ..." for a message. */
static const char *
trace_str(const struct trace *t)
{
	static char buf[4096];
	size_t o = 0;

	buf[0] = '\0';
	for (int i = 0; i < t->n && o < sizeof(buf) - 100; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%c %s %ld%s%s",
		    i ? ", " : "", t->ev[i].dir, t->ev[i].name, t->ev[i].len,
		    *t->ev[i].detail ? " " : "", t->ev[i].detail);
	return buf;
}

/* Only the handshake messages of t, in order. */
static void
messages_only(const struct trace *t, struct trace *m)
{
	m->n = 0;
	for (int i = 0; i < t->n; i++)
		if (is_message(&t->ev[i]))
			m->ev[m->n++] = t->ev[i];
}

/* Index of the first event from i on with dir and name, or -1. */
static int
find(const struct trace *t, int from, char dir, const char *name)
{
	for (int i = from; i < t->n; i++)
		if (t->ev[i].dir == dir && strcmp(t->ev[i].name, name) == 0)
			return i;
	return -1;
}

static struct tu_server srv;

static void
start(const char *const *extra)
{
	const char *args[24] = { "--port", "0", "--cert",
	    tu_cert("server.pem"), "--key", tu_cert("server.key") };
	int n = 6;

	while (*extra != NULL && n < 23)
		args[n++] = *extra++;
	args[n] = NULL;
	ck_assert_int_eq(tu_server_start(&srv, args, 1), 0);
}

/* secho-client against the server with args; its result in r. */
static void
client(const char *const *args, struct tu_result *r, int want)
{
	const char *argv[24] = { tu_bin("secho-client"), "--ca",
	    tu_cert("ca.pem") };
	int n = 3;

	while (*args != NULL && n < 21)
		argv[n++] = *args++;
	argv[n++] = "localhost";
	argv[n++] = tu_num(srv.port[0]);
	argv[n] = NULL;
	tu_assert_exit(tu_run(argv, NULL, 0, 20000, r), r, want);
}

/* The TLS 1.3 full handshake as the client sees it. */
static const struct {
	char dir;
	const char *name;
	long min, max;
} tls13_full[] = {
	{ '>', "ClientHello", 100, 2000 },
	{ '<', "ServerHello", 80, 200 },
	{ '<', "EncryptedExtensions", 2, 200 },
	{ '<', "Certificate", 300, 8000 },
	{ '<', "CertificateVerify", 60, 600 },
	{ '<', "Finished", 32, 48 },
	{ '>', "Finished", 32, 48 },
	{ '<', "NewSessionTicket", 50, 1000 },
};

START_TEST(client_tls13_full_handshake)
{
	struct tu_result r;
	struct trace t, m;
	size_t k = sizeof(tls13_full) / sizeof(tls13_full[0]);

	start((const char *[]){ "--tls", NULL });
	client((const char *[]){ "--tls", "--tls-min", "1.3", "--trace", "-m",
	    "hi", NULL }, &r, 0);
	parse_trace(r.err, &t);
	messages_only(&t, &m);
	ck_assert_msg(m.n == (int)k, "%d messages, want %zu: %s", m.n, k,
	    trace_str(&t));
	for (size_t i = 0; i < k; i++) {
		const struct ev *e = &m.ev[i];

		ck_assert_msg(e->dir == tls13_full[i].dir &&
		    strcmp(e->name, tls13_full[i].name) == 0 &&
		    e->len >= tls13_full[i].min && e->len <= tls13_full[i].max,
		    "message %zu is %c %s %ld B, want %c %s of %ld..%ld B: %s",
		    i, e->dir, e->name, e->len, tls13_full[i].dir,
		    tls13_full[i].name, tls13_full[i].min, tls13_full[i].max,
		    trace_str(&t));
		ck_assert_msg(i == 0 || e->ms >= m.ev[i - 1].ms, "time goes "
		    "back: %s", r.err);
	}
	/* Messages mode has no records in it. */
	ck_assert_msg(strstr(r.err, "record ") == NULL, "%s", r.err);
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/* Same messages and lengths, opposite directions, on the two sides. */
START_TEST(server_mirrors_client)
{
	struct tu_result r;
	struct trace c, s, cm, sm;
	char *log;

	start((const char *[]){ "--tls", "--trace", NULL });
	client((const char *[]){ "--tls", "--trace", "-m", "hi", NULL }, &r,
	    0);
	tu_assert_log(&srv, "trace", 10000);
	tu_assert_log(&srv, "> NewSessionTicket", 10000);
	log = tu_server_log(&srv);
	ck_assert_msg(strstr(log, "tls 127.0.0.1:") != NULL &&
	    strstr(log, ": trace +") != NULL, "no prefixed trace: %s", log);
	parse_trace(r.err, &c);
	parse_trace(log, &s);
	/* Alerts at the close may cross; the handshake may not. */
	messages_only(&c, &cm);
	messages_only(&s, &sm);
	ck_assert_msg(cm.n == sm.n && cm.n >= 8, "client: %s", trace_str(&c));
	for (int i = 0; i < cm.n; i++)
		ck_assert_msg(cm.ev[i].dir != sm.ev[i].dir &&
		    strcmp(cm.ev[i].name, sm.ev[i].name) == 0 &&
		    cm.ev[i].len == sm.ev[i].len, "message %d differs: client "
		    "%s; server %s", i, trace_str(&c), trace_str(&s));
	/* The compatibility ChangeCipherSpecs show on both sides too. */
	ck_assert_msg(find(&c, 0, '<', "ChangeCipherSpec") >= 0 &&
	    find(&s, 0, '>', "ChangeCipherSpec") >= 0 &&
	    find(&c, 0, '>', "ChangeCipherSpec") >= 0 &&
	    find(&s, 0, '<', "ChangeCipherSpec") >= 0, "client %s; server %s",
	    trace_str(&c), trace_str(&s));
	free(log);
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/* A key share the server does not take: a HelloRetryRequest. */
START_TEST(hello_retry_request)
{
	struct tu_result r;
	struct trace t;
	int hrr, ch2, sh;

	start((const char *[]){ "--tls", "--groups", "P-256", NULL });
	client((const char *[]){ "--tls", "--groups", "X25519:P-256",
	    "--trace", "-m", "hi", NULL }, &r, 0);
	parse_trace(r.err, &t);
	hrr = find(&t, 0, '<', "HelloRetryRequest");
	ch2 = find(&t, hrr + 1, '>', "ClientHello");
	sh = find(&t, 0, '<', "ServerHello");
	ck_assert_msg(find(&t, 0, '>', "ClientHello") == 0 && hrr > 0 &&
	    ch2 > hrr && sh > ch2, "no ClientHello, HelloRetryRequest, "
	    "ClientHello, ServerHello: %s", trace_str(&t));
	ck_assert_msg(t.ev[ch2].len > t.ev[0].len, "the second ClientHello "
	    "(with a P-256 share) should be longer: %s", trace_str(&t));
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/* DTLS: the cookie exchange, and records in epoch 0, then 1. */
START_TEST(dtls_cookie_and_epochs)
{
	struct tu_result r;
	struct trace t;
	int hvr, fin;

	start((const char *[]){ "--dtls", NULL });
	client((const char *[]){ "--dtls", "--trace=records", "-m", "hi",
	    NULL }, &r, 0);
	parse_trace(r.err, &t);
	hvr = find(&t, 0, '<', "HelloVerifyRequest");
	fin = find(&t, 0, '>', "Finished");
	ck_assert_msg(hvr > 0 && find(&t, hvr, '>', "ClientHello") > hvr &&
	    fin > 0, "%s", trace_str(&t));
	ck_assert_msg(strcmp(t.ev[0].name, "record handshake") == 0 &&
	    strcmp(t.ev[0].detail, "epoch 0 seq 0") == 0, "first record: %s",
	    trace_str(&t));
	/* A record header comes before the message it carries. */
	ck_assert_msg(strncmp(t.ev[fin - 1].name, "record handshake", 16) == 0
	    && strncmp(t.ev[fin - 1].detail, "epoch 1 ", 8) == 0 &&
	    t.ev[fin - 1].len > t.ev[fin].len, "Finished not in an epoch 1 "
	    "record: %s", trace_str(&t));
	ck_assert_msg(find(&t, fin, '>', "record application_data") > fin,
	    "%s", trace_str(&t));
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/*
 * A handshake refused after the server's Finished (mutual TLS required,
 * no client certificate, TLS 1.3): the alert shows on both sides, and
 * the client's key log already has the handshake secrets, so Wireshark
 * can decrypt what went wrong.
 */
START_TEST(late_failure_alert_and_key_log)
{
	struct tu_result r;
	char keylog[300], *kl, *log;
	size_t len;

	snprintf(keylog, sizeof(keylog), "%s/keylog", tu_tmpdir());
	start((const char *[]){ "--tls", "--trace", "--verify-client", "--ca",
	    tu_cert("ca.pem"), NULL });
	client((const char *[]){ "--tls", "--tls-min", "1.3", "--trace",
	    "--keylog", keylog, "-m", "hi", NULL }, &r, 3);
	ck_assert_msg(strstr(r.err, "< Finished") != NULL &&
	    strstr(r.err, "> Finished") != NULL &&
	    strstr(r.err, "< alert fatal certificate_required 2 B") != NULL,
	    "%s", r.err);
	tu_assert_log(&srv, "> alert fatal certificate_required 2 B", 10000);
	kl = tu_slurp(keylog, &len);
	ck_assert_msg(kl != NULL && strstr(kl,
	    "CLIENT_HANDSHAKE_TRAFFIC_SECRET ") != NULL && strstr(kl,
	    "SERVER_HANDSHAKE_TRAFFIC_SECRET ") != NULL, "key log: %s",
	    kl != NULL ? kl : "(none)");
	log = tu_server_log(&srv);
	ck_assert_msg(strstr(log, "< Certificate 4 B") != NULL, "the empty "
	    "client Certificate: %s", log);
	free(log);
	free(kl);
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/* An OpenSSL client, blocking and bounded, TLS 1.3. */
static SSL *
peer_connect(SSL_CTX **ctx, int *fd)
{
	struct timeval tv = { tu_slow(10000) / 1000, 0 };
	SSL *ssl;

	ck_assert((*ctx = SSL_CTX_new(TLS_client_method())) != NULL);
	SSL_CTX_set_min_proto_version(*ctx, TLS1_3_VERSION);
	ck_assert(SSL_CTX_load_verify_locations(*ctx, tu_cert("ca.pem"),
	    NULL) == 1);
	SSL_CTX_set_verify(*ctx, SSL_VERIFY_PEER, NULL);
	ck_assert((*fd = tu_connect(srv.port[0], 0)) != -1);
	setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(*fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	ck_assert((ssl = SSL_new(*ctx)) != NULL);
	SSL_set_fd(ssl, *fd);
	SSL_set_tlsext_host_name(ssl, "localhost");
	ck_assert(SSL_connect(ssl) == 1);
	return ssl;
}

static void
peer_echo(SSL *ssl, const char *msg)
{
	char buf[64];
	size_t n, got = 0, len = strlen(msg);

	ck_assert(SSL_write_ex(ssl, msg, len, &n) == 1 && n == len);
	while (got < len) {
		ck_assert_msg(SSL_read_ex(ssl, buf + got, len - got, &n) == 1,
		    "echo of %s stopped at %zu", msg, got);
		got += n;
	}
	ck_assert(memcmp(buf, msg, len) == 0);
}

/*
 * secho's record layer has the records after the first echo: the
 * client's KeyUpdate, the one it answers with, the records and the
 * close_notify are traced from there (tls_rec.c), not by OpenSSL.
 */
START_TEST(record_layer_key_update)
{
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	char *log, *ku;

	start((const char *[]){ "--tls", "--record-layer", "secho",
	    "--trace=records", NULL });
	ssl = peer_connect(&ctx, &fd);
	peer_echo(ssl, "first");
	ck_assert(SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) == 1);
	peer_echo(ssl, "second");
	SSL_shutdown(ssl);
	tu_assert_log(&srv, "< alert warning close_notify 2 B", 10000);
	tu_assert_log(&srv, "> alert warning close_notify 2 B", 10000);
	log = tu_server_log(&srv);
	ku = strstr(log, "< KeyUpdate 1 B update_requested");
	ck_assert_msg(ku != NULL && strstr(ku,
	    "> KeyUpdate 1 B update_not_requested") != NULL, "%s", log);
	/* Its own records: a header before the KeyUpdate, in each way. */
	ck_assert_msg(strstr(log, "< record application_data 22 B") != NULL &&
	    strstr(log, "> record application_data 22 B") != NULL,
	    "KeyUpdate records (1 + 1 + 4 + 16 bytes) missing: %s", log);
	free(log);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	tu_server_stop_clean(&srv);
}
END_TEST

/* --- the trace against Wireshark's view of the same exchange --- */

static int
have_tshark(void)
{
	return access("/usr/bin/tshark", X_OK) == 0 &&
	    access("/usr/bin/dumpcap", X_OK) == 0;
}

/* A datagram to the discard port, which the capture filter lets in. */
static void
send_marker(const char *text)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_port = htons(9) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd != -1) {
		(void)!sendto(fd, text, strlen(text), 0,
		    (struct sockaddr *)&sin, sizeof(sin));
		close(fd);
	}
}

static int
marker_seen(const char *pcap, const char *text)
{
	char filter[200];
	struct tu_result r;
	int seen;

	snprintf(filter, sizeof(filter), "frame contains \"%s\"", text);
	tu_run((const char *[]){ "/usr/bin/tshark", "-r", pcap, "-Y", filter,
	    "-T", "fields", "-e", "frame.number", NULL }, NULL, 0, 30000, &r);
	seen = r.out != NULL && r.out[0] >= '0' && r.out[0] <= '9';
	tu_result_free(&r);
	return seen;
}

/*
 * dumpcap hands packets over in blocks and does not flush its last one
 * when stopped (see scripts/capture.sh): a marker datagram seen in the
 * file proves everything before it is there too.
 */
static void
await_marker(const char *pcap, const char *text)
{
	/* A deadline, not a count: each look runs tshark, which takes a
	 * while of its own. */
	unsigned long long end = secho_now_us() +
	    (unsigned long long)tu_slow(30000) * 1000;

	while (secho_now_us() < end) {
		send_marker(text);
		if (marker_seen(pcap, text))
			return;
		poll(NULL, 0, 100);	/* resend: the file is checked again */
	}
	ck_abort_msg("marker %s never reached %s", text, pcap);
}

START_TEST(trace_lines_up_with_tshark)
{
	char pcap[300], keylog[300], filter[80], decode[40], opt[340];
	char start_mark[64], end_mark[64];
	struct tu_proc cap;
	struct tu_result r, d;
	struct trace t, m;
	struct trace w = { .n = 0 };
	char *line;

	if (!have_tshark()) {
		tu_skip("tshark/dumpcap not installed (scripts/deps.sh "
		    "installs them)");
		return;
	}
	start((const char *[]){ "--tls", NULL });
	snprintf(pcap, sizeof(pcap), "%s/trace.pcapng", tu_tmpdir());
	snprintf(keylog, sizeof(keylog), "%s/trace.keys", tu_tmpdir());
	snprintf(filter, sizeof(filter), "tcp port %d or udp dst port 9",
	    srv.port[0]);
	snprintf(start_mark, sizeof(start_mark), "secho-trace-%d-start",
	    (int)getpid());
	snprintf(end_mark, sizeof(end_mark), "secho-trace-%d-end",
	    (int)getpid());
	ck_assert_int_eq(tu_spawn(&cap, (const char *[]){ "/usr/bin/dumpcap",
	    "-q", "-i", "lo", "-f", filter, "-w", pcap, NULL }, NULL), 0);
	await_marker(pcap, start_mark);
	client((const char *[]){ "--tls", "--trace", "--keylog", keylog, "-m",
	    "hi", NULL }, &r, 0);
	await_marker(pcap, end_mark);
	kill(cap.pid, SIGINT);
	tu_wait(&cap, 20000, &d);
	tu_result_free(&d);

	snprintf(decode, sizeof(decode), "tcp.port==%d,tls", srv.port[0]);
	snprintf(opt, sizeof(opt), "tls.keylog_file:%s", keylog);
	tu_assert_exit(tu_run((const char *[]){ "/usr/bin/tshark", "-r", pcap,
	    "-o", opt, "-d", decode, "-Y", "tls.handshake.type", "-T",
	    "fields", "-e", "tcp.srcport", "-e", "tls.handshake.type", "-e",
	    "tls.handshake.length", NULL }, NULL, 0, 60000, &d), &d, 0);
	/* "srcport<TAB>2,8,11<TAB>118,2,514": a frame's messages. */
	for (line = d.out; line != NULL && *line != '\0';) {
		int sport = atoi(line);
		char *types = strchr(line, '\t'), *lens, *next;

		next = strchr(line, '\n');
		if (types == NULL || (lens = strchr(types + 1, '\t')) == NULL)
			break;
		types++;
		lens++;
		while (w.n < MAXEV) {
			struct ev *e = &w.ev[w.n++];
			const char *name = NULL;
			int type = atoi(types);

			e->dir = sport == srv.port[0] ? '<' : '>';
			e->len = atol(lens);
			switch (type) {
			case 1: name = "ClientHello"; break;
			case 2: name = "ServerHello"; break;
			case 4: name = "NewSessionTicket"; break;
			case 8: name = "EncryptedExtensions"; break;
			case 11: name = "Certificate"; break;
			case 15: name = "CertificateVerify"; break;
			case 20: name = "Finished"; break;
			}
			snprintf(e->name, sizeof(e->name), "%s", name != NULL ?
			    name : "?");
			types += strcspn(types, ",\t\n");
			lens += strcspn(lens, ",\n");
			if (*types != ',' || *lens != ',')
				break;
			types++;
			lens++;
		}
		line = next != NULL ? next + 1 : NULL;
	}
	parse_trace(r.err, &t);
	messages_only(&t, &m);
	ck_assert_msg(w.n == m.n && m.n >= 8, "tshark saw %d messages, the "
	    "trace has %d: tshark %s; trace %s", w.n, m.n, trace_str(&w),
	    trace_str(&m));
	for (int i = 0; i < m.n; i++)
		ck_assert_msg(w.ev[i].dir == m.ev[i].dir &&
		    strcmp(w.ev[i].name, m.ev[i].name) == 0 &&
		    w.ev[i].len == m.ev[i].len, "message %d differs: tshark %s; "
		    "trace %s", i, trace_str(&w), trace_str(&m));
	tu_result_free(&d);
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

/* Over tcp --trace is no mistake and says nothing; a bad level is. */
START_TEST(trace_option_values)
{
	struct tu_result r;

	start((const char *[]){ "--tcp", "--trace", NULL });
	tu_assert_exit(tu_run((const char *[]){ tu_bin("secho-client"),
	    "--trace", "-m", "hi", "localhost", tu_num(srv.port[0]), NULL },
	    NULL, 0, 20000, &r), &r, 0);
	ck_assert_msg(strstr(r.err, "trace") == NULL, "%s", r.err);
	tu_result_free(&r);
	client((const char *[]){ "--tls", "--trace=bogus", "-m", "hi", NULL },
	    &r, 1);
	ck_assert_msg(strstr(r.err, "--trace: 'bogus' is not a trace level")
	    != NULL, "%s", r.err);
	tu_result_free(&r);
	tu_server_stop_clean(&srv);
}
END_TEST

Suite *
trace_suite(void)
{
	Suite *s = suite_create("trace");
	TCase *tc = tcase_create("trace");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, client_tls13_full_handshake);
	tcase_add_test(tc, server_mirrors_client);
	tcase_add_test(tc, hello_retry_request);
	tcase_add_test(tc, dtls_cookie_and_epochs);
	tcase_add_test(tc, late_failure_alert_and_key_log);
	tcase_add_test(tc, record_layer_key_update);
	tcase_add_test(tc, trace_lines_up_with_tshark);
	tcase_add_test(tc, trace_option_values);
	suite_add_tcase(s, tc);
	return s;
}
