/*
 * tls_int.h - what the TLS modules (tls.c, tls_conn.c, tls_error.c, dtls.c,
 * tls_verify.c, tls_info.c, tls_tickets.c) share; nothing outside them
 * includes OpenSSL.
 */
#ifndef SECHO_TLS_INT_H
#define SECHO_TLS_INT_H

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "secho/tls.h"

/* TLS 1.2: forward-secret AEAD suites only; TLS 1.3 has nothing else. */
#define TLS12_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
/*
 * TLS 1.3: OpenSSL's three AEAD suites with AES-128-GCM first, as for
 * TLS 1.2 above: 10 AES rounds instead of 14 and SHA-256 for the key
 * schedule, with 128-bit security either way.
 */
#define TLS13_SUITES \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
	"TLS_CHACHA20_POLY1305_SHA256"
/* X25519 first: the cheapest secure key exchange. */
#define TLS_GROUPS "X25519:P-256:P-384"

struct secho_tls {
	SSL_CTX *ctx;
	enum secho_tls_role role;
	int dgram;
	int insecure;
	int keylog_fd;
	int mtu;		/* DTLS link MTU */
	int rec;		/* server: hand TLS 1.3 records to tls_rec.c */
	unsigned char *alpn;	/* server: accepted protocols, wire format */
	size_t alpn_len;
	SSL_SESSION *last_session; /* client: offered on the next connect */
	/*
	 * Connections hold a reference, so a context replaced on SIGHUP
	 * lives until its last connection closes (callbacks use it).
	 */
	int refs;
	const struct secho_tls_opts *opts;	/* for secho_tls_renew() */
	/* server: ticket keys, current and the one before (rotation) */
	unsigned char tkeys[2][80];
	int ntkeys;
	/* server: contexts with other certificates, chosen by SNI */
	SSL_CTX *sni_ctx[SECHO_TLS_SNI_MAX];
	const char *sni_name[SECHO_TLS_SNI_MAX];
	size_t nsni;
	/* verification beyond the chain (tls_verify.c) */
	unsigned char pin[32];	/* client: SHA-256 of the server's SPKI */
	int has_pin;
	const char *allow_cn[SECHO_TLS_ALLOW_MAX];
	size_t nallow_cn;
	const char *allow_san[SECHO_TLS_ALLOW_MAX];
	size_t nallow_san;
};

#define DTLS_DEFAULT_MTU 1500

extern const struct secho_transport_ops secho_tls_ops;
extern const struct secho_transport_ops secho_tls_rec_ops;

/* The transport's describe op for TLS, whichever layer has the records. */
char *secho_tls_describe(const struct secho_conn *c, char *buf, size_t len);

/*
 * secho's TLS 1.3 record layer (tls_rec.c).  secho_rec_prepare() makes a
 * new server connection watch its handshake for the secrets and record
 * counts (c->rec; 0, or -1 when out of memory); secho_rec_try_start()
 * hands the records over once the handshake is done and OpenSSL holds
 * nothing unread or unsent: 1 when it did (c->ops changed), else 0, and
 * c->rec is NULL once it never will.  The key log callback passes every
 * line to secho_rec_keylog().  Once it took over, the SSL object is freed
 * (c->tls is NULL).  secho_rec_write_blocked() tells it that
 * OpenSSL keeps a record the socket did not take (1) or not (0).
 */
struct secho_rec;
int secho_rec_prepare(struct secho_conn *c);
int secho_rec_try_start(struct secho_conn *c);
void secho_rec_keylog(const SSL *ssl, const char *line);
void secho_rec_write_blocked(struct secho_conn *c, int blocked);
/* Whether a connection whose records are secho's resumed a session. */
int secho_rec_resumed(const struct secho_conn *c);
void secho_rec_free(struct secho_rec *r);
/* What the message callback passes on to the record layer's counting. */
void secho_rec_msg(struct secho_rec *r, int write_p, int content_type,
    const void *buf, size_t len);

/*
 * --trace (tls_trace.c).  secho_tls_msg_watch() installs the one message
 * callback a connection's SSL has, which feeds c->rec's counting and
 * c->trace; secho_trace_msg() takes what OpenSSL's callback would be
 * given (a handshake message with its header, an alert, a
 * ChangeCipherSpec, an SSL3_RT_HEADER record header), so tls_rec.c
 * reports its own records the same way.  secho_trace_records() says
 * whether records are wanted at all.
 */
struct secho_trace;
void secho_tls_msg_watch(struct secho_conn *c);
void secho_trace_msg(struct secho_trace *tr, int sent, int content_type,
    const void *buf, size_t len);
int secho_trace_records(const struct secho_trace *tr);
void secho_trace_free(struct secho_trace *tr);

/*
 * ClientHello fingerprints (tls_hello.c): secho_tls_hello_setup() makes a
 * server context fingerprint every ClientHello; secho_tls_fingerprint()
 * is "JA4 ... JA3 ..." for a connection's, or "".
 */
#define SECHO_FP_MAX 96
void secho_tls_hello_setup(SSL_CTX *ctx);
const char *secho_tls_fingerprint(const SSL *ssl);
void secho_hello_from_ssl(SSL *ssl, struct secho_hello *h);

/* The reason of the oldest queued OpenSSL error, or fallback. */
const char *secho_tls_reason(const char *fallback);
/* Messages for failed setup calls (tls_error.c); each returns -1 and
 * clears the error queue. */
int secho_tls_file_error(const char *what, const char *path);
int secho_tls_mismatch(const char *cert, const char *key);
int secho_tls_config_error(const char *what, const char *value);
/* Explains a SSL_ERROR_SSL into c's message; returns an enum secho_io. */
int secho_tls_ssl_failure(struct secho_conn *c, enum secho_conn_op op);
/* Fixes a DTLS SSL's MTU (no kernel query). */
void secho_tls_set_mtu(SSL *ssl, int mtu);
/*
 * The BIO a DTLS connection on fd, a connected socket, reads through: a
 * dgram BIO below a filter that drops records too short for ssl's
 * cipher (dtls_filter.c).  NULL when out of memory.
 */
BIO *secho_dtls_bio_new(SSL *ssl, int fd);
/* Server ticket keys from opts->ticket_key_file (tls_tickets.c). */
int secho_tls_tickets_setup(struct secho_tls *t, const struct secho_tls *old);
/* DTLS servers: installs the HMAC cookie callbacks (dtls.c). */
int secho_dtls_cookie_setup(struct secho_tls *t);
/*
 * Verification beyond the chain (tls_verify.c): reads the pin and
 * allow-lists from o into t and installs the verify callback with mode.
 */
int secho_tls_verify_setup(struct secho_tls *t, const struct secho_tls_opts *o,
    int mode);
/*
 * Client: true once the server has sent a CertificateRequest (tls.c
 * marks the SSL's app data then).
 */
int secho_tls_cert_requested(SSL *ssl);
/* A name as one-line RFC 2253, a time as "2026-12-05 10:00:00 UTC", the
 * SANs as "DNS:localhost, IP:127.0.0.1" (tls_info.c). */
void secho_tls_name_str(const X509_NAME *name, char *buf, size_t len);
void secho_tls_time_str(const ASN1_TIME *t, char *buf, size_t len);
void secho_tls_san_str(X509 *x, char *buf, size_t len);
/* The key exchange group agreed ("X25519", "P-256"), or "" (tls_info.c). */
void secho_tls_group_name(SSL *ssl, char *buf, size_t len);
/* The peer certificate's subject, or "" (tls_info.c). */
void secho_tls_peer_subject(SSL *ssl, char *buf, size_t len);
/* SHA-256 of cert's SubjectPublicKeyInfo, as --pin-sha256 hashes it
 * (tls_verify.c); 0 or -1. */
int secho_tls_spki_sha256(X509 *cert, unsigned char md[32]);
/* A sentence for a failed SSL_get_verify_result(), into buf. */
void secho_tls_verify_reason(SSL *ssl, char *buf, size_t len);

#endif
