/*
 * tls_trace.c - --trace: OpenSSL's message callback turned into trace
 * events (direction, message name and length, time since the connection
 * was set up) for a sink the program provides.  OpenSSL allows one
 * message callback per SSL, so the one installed here serves secho's
 * record layer (tls_rec.c counts records with it) as well as the trace;
 * after the hand-over tls_rec.c reports what it sends and receives
 * through secho_trace_msg() in the same form.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secho/tls_trace.h"
#include "tls_int.h"

#define DTLS_HDR	13	/* a DTLS record header; TLS's is 5 */

struct secho_trace {
	int level;
	secho_trace_sink *sink;
	void *arg;
	unsigned long long t0;	/* secho_now_us() when tracing began */
	/*
	 * A ChangeCipherSpec record came in.  OpenSSL reports the message
	 * for TLS 1.2 and DTLS, but drops TLS 1.3's compatibility one
	 * unreported: that one is reported before the next event, so the
	 * two sides of a trace mirror each other (and Wireshark).
	 */
	int ccs_in;
};

/* SHA-256("HelloRetryRequest"): a ServerHello with it is an HRR (4.1.3). */
static const unsigned char hrr_random[32] = {
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02,
	0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e,
	0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

const char *
secho_trace_hs_name(unsigned type)
{
	switch (type) {
	case 0: return "HelloRequest";
	case 1: return "ClientHello";
	case 2: return "ServerHello";
	case 3: return "HelloVerifyRequest";
	case 4: return "NewSessionTicket";
	case 5: return "EndOfEarlyData";
	case 6: return "HelloRetryRequest";	/* drafts' own type */
	case 8: return "EncryptedExtensions";
	case 11: return "Certificate";
	case 12: return "ServerKeyExchange";
	case 13: return "CertificateRequest";
	case 14: return "ServerHelloDone";
	case 15: return "CertificateVerify";
	case 16: return "ClientKeyExchange";
	case 20: return "Finished";
	case 21: return "CertificateURL";
	case 22: return "CertificateStatus";
	case 23: return "SupplementalData";
	case 24: return "KeyUpdate";
	case 25: return "CompressedCertificate";
	case 67: return "NextProtocol";
	case 254: return "MessageHash";
	}
	return NULL;
}

const char *
secho_trace_alert_name(unsigned desc)
{
	switch (desc) {
	case 0: return "close_notify";
	case 10: return "unexpected_message";
	case 20: return "bad_record_mac";
	case 21: return "decryption_failed";
	case 22: return "record_overflow";
	case 30: return "decompression_failure";
	case 40: return "handshake_failure";
	case 41: return "no_certificate";
	case 42: return "bad_certificate";
	case 43: return "unsupported_certificate";
	case 44: return "certificate_revoked";
	case 45: return "certificate_expired";
	case 46: return "certificate_unknown";
	case 47: return "illegal_parameter";
	case 48: return "unknown_ca";
	case 49: return "access_denied";
	case 50: return "decode_error";
	case 51: return "decrypt_error";
	case 60: return "export_restriction";
	case 70: return "protocol_version";
	case 71: return "insufficient_security";
	case 80: return "internal_error";
	case 86: return "inappropriate_fallback";
	case 90: return "user_canceled";
	case 100: return "no_renegotiation";
	case 109: return "missing_extension";
	case 110: return "unsupported_extension";
	case 111: return "certificate_unobtainable";
	case 112: return "unrecognized_name";
	case 113: return "bad_certificate_status_response";
	case 114: return "bad_certificate_hash_value";
	case 115: return "unknown_psk_identity";
	case 116: return "certificate_required";
	case 120: return "no_application_protocol";
	}
	return NULL;
}

static const char *
content_name(unsigned type)
{
	switch (type) {
	case 20: return "change_cipher_spec";
	case 21: return "alert";
	case 22: return "handshake";
	case 23: return "application_data";
	case 24: return "heartbeat";
	}
	return NULL;
}

static void
emit(struct secho_trace *tr, struct secho_trace_event *ev, int sent)
{
	ev->sent = sent;
	ev->us = secho_now_us() - tr->t0;
	if (ev->detail == NULL)
		ev->detail = "";
	tr->sink(ev, tr->arg);
}

/* A handshake message, its 4-byte (TLS) or 12-byte (DTLS) header first. */
static void
on_handshake(struct secho_trace *tr, int sent, const unsigned char *p,
    size_t len)
{
	struct secho_trace_event ev = { .kind = SECHO_TRACE_HANDSHAKE };
	char unknown[32];

	if (len < 4)
		return;
	ev.len = (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
	ev.name = secho_trace_hs_name(p[0]);
	/* After a TLS header and legacy_version.  (In a DTLS ServerHello
	 * bytes 6 to 8 are its fragment offset, 0, which never match.) */
	if (p[0] == SSL3_MT_SERVER_HELLO && len >= 6 + 32 &&
	    memcmp(p + 6, hrr_random, sizeof(hrr_random)) == 0)
		ev.name = "HelloRetryRequest";
	if (p[0] == SSL3_MT_KEY_UPDATE && len >= 5)
		ev.detail = p[4] == 1 ? "update_requested" :
		    p[4] == 0 ? "update_not_requested" : "invalid request";
	if (ev.name == NULL) {
		snprintf(unknown, sizeof(unknown), "handshake type %u", p[0]);
		ev.name = unknown;
	}
	emit(tr, &ev, sent);
}

static void
on_alert(struct secho_trace *tr, int sent, const unsigned char *p,
    size_t len)
{
	struct secho_trace_event ev = { .kind = SECHO_TRACE_ALERT, .len = len };
	const char *desc;
	char name[80];

	if (len < 2)
		return;
	desc = secho_trace_alert_name(p[1]);
	if (desc != NULL)
		snprintf(name, sizeof(name), "alert %s %s", p[0] == 1 ?
		    "warning" : p[0] == 2 ? "fatal" : "level?", desc);
	else
		snprintf(name, sizeof(name), "alert %s %u", p[0] == 1 ?
		    "warning" : p[0] == 2 ? "fatal" : "level?", p[1]);
	ev.name = name;
	emit(tr, &ev, sent);
}

/* A record header: type, version, [epoch, sequence,] length. */
static void
on_record(struct secho_trace *tr, int sent, const unsigned char *p,
    size_t len)
{
	struct secho_trace_event ev = { .kind = SECHO_TRACE_RECORD };
	const char *type;
	char name[40], detail[64] = "";

	if (len != SSL3_RT_HEADER_LENGTH && len != DTLS_HDR)
		return;
	ev.len = (size_t)p[len - 2] << 8 | p[len - 1];
	type = content_name(p[0]);
	if (type != NULL)
		snprintf(name, sizeof(name), "record %s", type);
	else
		snprintf(name, sizeof(name), "record type %u", p[0]);
	if (len == DTLS_HDR) {
		unsigned long long seq = 0;

		for (int i = 5; i < 11; i++)
			seq = seq << 8 | p[i];
		snprintf(detail, sizeof(detail), "epoch %u seq %llu",
		    (unsigned)p[3] << 8 | p[4], seq);
	}
	ev.name = name;
	ev.detail = detail;
	emit(tr, &ev, sent);
}

static void
on_ccs(struct secho_trace *tr, int sent, size_t len)
{
	struct secho_trace_event ev = { .kind = SECHO_TRACE_CCS,
	    .name = "ChangeCipherSpec", .len = len };

	emit(tr, &ev, sent);
}

void
secho_trace_msg(struct secho_trace *tr, int sent, int content_type,
    const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (!sent && tr->ccs_in) {
		tr->ccs_in = 0;
		if (content_type == SSL3_RT_CHANGE_CIPHER_SPEC)
			content_type = -1;	/* the one reported here */
		on_ccs(tr, 0, 1);
	}
	switch (content_type) {
	case SSL3_RT_HANDSHAKE:
		on_handshake(tr, sent, p, len);
		break;
	case SSL3_RT_ALERT:
		on_alert(tr, sent, p, len);
		break;
	case SSL3_RT_CHANGE_CIPHER_SPEC:
		on_ccs(tr, sent, len);
		break;
	case SSL3_RT_HEADER:
		if (tr->level >= SECHO_TRACE_RECORDS)
			on_record(tr, sent, p, len);
		if (!sent && len > 0 && p[0] == SSL3_RT_CHANGE_CIPHER_SPEC)
			tr->ccs_in = 1;
		break;
	}
}

int
secho_trace_records(const struct secho_trace *tr)
{
	return tr != NULL && tr->level >= SECHO_TRACE_RECORDS;
}

/* The one message callback of a connection's SSL; arg is the conn. */
static void
msg_cb(int write_p, int version, int content_type, const void *buf,
    size_t len, SSL *ssl, void *arg)
{
	struct secho_conn *c = arg;

	(void)version;
	(void)ssl;
	if (c->rec != NULL)
		secho_rec_msg(c->rec, write_p, content_type, buf, len);
	if (c->trace != NULL)
		secho_trace_msg(c->trace, write_p, content_type, buf, len);
}

void
secho_tls_msg_watch(struct secho_conn *c)
{
	SSL_set_msg_callback(c->tls, msg_cb);
	SSL_set_msg_callback_arg(c->tls, c);
}

int
secho_tls_conn_trace(struct secho_conn *c, int level,
    secho_trace_sink *sink, void *arg)
{
	struct secho_trace *tr;

	if (level <= SECHO_TRACE_OFF || c->tls == NULL ||
	    !secho_conn_is_tls(c))
		return 0;
	if ((tr = calloc(1, sizeof(*tr))) == NULL) {
		secho_error_errno("calloc");
		return -1;
	}
	tr->level = level;
	tr->sink = sink;
	tr->arg = arg;
	tr->t0 = secho_now_us();
	secho_trace_free(c->trace);
	c->trace = tr;
	secho_tls_msg_watch(c);
	return 0;
}

void
secho_trace_free(struct secho_trace *tr)
{
	free(tr);
}

char *
secho_trace_format(const struct secho_trace_event *ev, char *buf,
    size_t len)
{
	snprintf(buf, len, "+%.3f ms %c %s %zu B%s%s", (double)ev->us / 1000.0,
	    ev->sent ? '>' : '<', ev->name, ev->len,
	    *ev->detail != '\0' ? " " : "", ev->detail);
	return buf;
}
