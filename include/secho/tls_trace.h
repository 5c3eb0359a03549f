/*
 * tls_trace.h - a connection's handshake as it happens (--trace): each
 * handshake message, alert and ChangeCipherSpec sent or received, and
 * with records on each record header, handed to a sink the program
 * provides.  The library never prints; the programs format an event
 * with secho_trace_format() and put it where their logs go.
 */
#ifndef SECHO_TLS_TRACE_H
#define SECHO_TLS_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "secho/transport.h"

/* What --trace asks for (secho_tls_opts.trace). */
enum secho_trace_level {
	SECHO_TRACE_OFF = 0,
	SECHO_TRACE_MESSAGES = 1,	/* --trace */
	SECHO_TRACE_RECORDS = 2,	/* --trace=records: and each record */
};

enum secho_trace_kind {
	SECHO_TRACE_HANDSHAKE,	/* a handshake message */
	SECHO_TRACE_ALERT,
	SECHO_TRACE_CCS,	/* ChangeCipherSpec */
	SECHO_TRACE_RECORD,	/* a record header (records level only) */
};

struct secho_trace_event {
	int sent;		/* 1: we sent it, 0: we received it */
	enum secho_trace_kind kind;
	uint64_t us;		/* since the connection was set up */
	/*
	 * "ClientHello", "HelloRetryRequest", "alert fatal bad_certificate",
	 * "ChangeCipherSpec", "record handshake"; a number for a type it
	 * does not know ("handshake type 99").
	 */
	const char *name;
	/*
	 * A handshake message: the length in its header (the body, as
	 * Wireshark's tls.handshake.length); a record: its length field;
	 * an alert 2, a ChangeCipherSpec 1.
	 */
	size_t len;
	/* "update_requested" for a KeyUpdate, "epoch 1 seq 3" for a DTLS
	 * record, else "". */
	const char *detail;
};

typedef void secho_trace_sink(const struct secho_trace_event *ev, void *arg);

/*
 * Traces c, a TLS or DTLS connection just set up (secho_tls_conn_init(),
 * secho_dtls_accept()), at level: from now on each event goes to
 * sink(ev, arg), on the thread that drives c.  Times count from this
 * call.  A connection that is not TLS, or level OFF, is left alone (no
 * callback is installed, so an untraced connection costs nothing).
 * Returns 0, or -1 when out of memory (secho_error()).
 */
int secho_tls_conn_trace(struct secho_conn *c, int level,
    secho_trace_sink *sink, void *arg);

/*
 * ev as one line without a newline: "+1.204 ms < ServerHello 122 B",
 * "+0.000 ms > record handshake 512 B epoch 0 seq 0".  Returns buf.
 */
char *secho_trace_format(const struct secho_trace_event *ev, char *buf,
    size_t len);

/* The name of a handshake message type (RFC 8446 4, RFC 6347 4.3.2),
 * or NULL for one it does not know. */
const char *secho_trace_hs_name(unsigned type);
/* The name of an alert description ("bad_certificate"), or NULL. */
const char *secho_trace_alert_name(unsigned desc);

#endif
