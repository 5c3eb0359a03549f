/*
 * tls_error.c - turns OpenSSL's error queue, alerts and verification
 * results into one sentence a person can act on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls_int.h"

/* The reason of the oldest queued OpenSSL error, or a fallback. */
const char *
secho_tls_reason(const char *fallback)
{
	const char *r = ERR_reason_error_string(ERR_peek_error());

	return r != NULL ? r : fallback;
}

/* True if the first 64 KiB of path contain needle. */
static int
file_has(const char *path, const char *needle)
{
	enum { MAX = 65536 };
	char *buf = malloc(MAX);
	FILE *f = fopen(path, "r");
	size_t n;
	int has = 1;	/* cannot tell: say nothing */

	if (buf != NULL && f != NULL) {
		n = fread(buf, 1, MAX, f);
		has = memmem(buf, n, needle, strlen(needle)) != NULL;
	}
	if (f != NULL)
		fclose(f);
	free(buf);
	return has;
}

/*
 * Why a readable file would not load, in words, or NULL: OpenSSL says
 * "unsupported" for a directory and "no start line" for a text file.
 */
static const char *
pem_problem(const char *what, const char *path)
{
	struct stat st;
	int key = strcmp(what, "private key") == 0;

	if (strcmp(what, "CA directory") == 0)
		return NULL;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return key ? "it is a directory, not a PEM key file" :
		    "it is a directory, not a PEM file";
	if (!file_has(path, "-----BEGIN"))
		return "it is not a PEM file (no '-----BEGIN' line)";
	if (key && !file_has(path, "PRIVATE KEY-----"))
		return "it holds no private key";
	if (!key && !file_has(path, "CERTIFICATE-----"))
		return "it holds no certificate";
	return NULL;
}

int
secho_tls_file_error(const char *what, const char *path)
{
	unsigned long e = ERR_peek_last_error();
	int sys = ERR_SYSTEM_ERROR(e) ? (int)ERR_GET_REASON(e) : 0;
	const char *why;

	if (sys == ENOENT || access(path, R_OK) == -1) {
		secho_error_set("cannot read %s %s: %s%s", what, path,
		    strerror(sys != 0 ? sys : errno),
		    (sys == ENOENT || errno == ENOENT) ?
		    " (run 'make certs' to create it)" : "");
	} else if ((why = pem_problem(what, path)) != NULL)
		secho_error_set("cannot load %s %s: %s", what, path, why);
	else
		secho_error_set("cannot load %s %s: %s", what, path,
		    secho_tls_reason("not a valid PEM file"));
	ERR_clear_error();
	return -1;
}

int
secho_tls_mismatch(const char *cert, const char *key)
{
	secho_error_set("certificate %s does not match private key %s", cert,
	    key);
	ERR_clear_error();
	return -1;
}

int
secho_tls_config_error(const char *what, const char *value)
{
	secho_error_set("%s '%s': %s", what, value,
	    secho_tls_reason("not accepted"));
	ERR_clear_error();
	return -1;
}

/* Alerts a peer sends when it rejects us: say who refused and why. */
static int
is_alert(int reason)
{
	return reason >= SSL_AD_REASON_OFFSET &&
	    reason < SSL_AD_REASON_OFFSET + 256;
}

static int
is_not_tls(int reason)
{
	switch (reason) {
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
	case SSL_R_UNKNOWN_PROTOCOL:
	case SSL_R_RECORD_LENGTH_MISMATCH:
	case SSL_R_UNEXPECTED_MESSAGE:
	case SSL_R_UNEXPECTED_RECORD:
	case SSL_R_LENGTH_MISMATCH:
	case SSL_R_BAD_PACKET_LENGTH:
		return 1;
	}
	return 0;
}

/* Alerts about the client's certificate, in words (mutual TLS). */
static const char *
cert_alert(int reason)
{
	switch (reason) {
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
		return "it requires a client certificate (try --mtls, or "
		    "--cert and --key)";
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
		return "it does not trust the CA that signed it";
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
		return "it has expired";
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
		return "it was refused (not allowed, or not valid here)";
	}
	return NULL;
}

static void
verify_error(struct secho_conn *c)
{
	char why[SECHO_CONN_ERR_MAX];

	/* The chain was fine: the handshake's signature was not. */
	if (SSL_get_verify_result(c->tls) == X509_V_OK) {
		secho_conn_set_error(c, "the %s's CertificateVerify signature "
		    "is invalid (it does not hold the key of its certificate)",
		    (c->flags & SECHO_CONN_SERVER) ? "client" : "server");
		return;
	}
	c->flags |= SECHO_CONN_VERIFY;
	secho_tls_verify_reason(c->tls, why, sizeof(why));
	secho_conn_set_error(c, "%scertificate verify failed: %s",
	    (c->flags & SECHO_CONN_SERVER) ? "client " : "", why);
}

/*
 * Alerts a client gets for a refused handshake, in words, or NULL.  A
 * TLS 1.2 server that requires a client certificate answers its absence
 * with a plain handshake_failure (TLS 1.3 has certificate_required).
 */
static const char *
client_alert(struct secho_conn *c, int reason)
{
	SSL *ssl = c->tls;

	if (reason == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE &&
	    secho_tls_cert_requested(ssl) && SSL_get_certificate(ssl) == NULL)
		return cert_alert(SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED);
	if (reason == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE)
		return "the server refused the handshake (handshake_failure "
		    "alert): no protocol version, cipher or group in common";
	if (reason == SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL)
		return "the server accepts none of the offered ALPN "
		    "protocols (no application protocol alert)";
	return NULL;
}

/* An alert from the peer: 0 when reason is none. */
static int
peer_alert(struct secho_conn *c, int reason, enum secho_conn_op op)
{
	int server = c->flags & SECHO_CONN_SERVER;
	const char *peer = server ? "client" : "server";
	const char *why = server ? NULL : client_alert(c, reason);

	if (why != NULL && strncmp(why, "it ", 3) == 0)
		secho_conn_set_error(c, "the server rejected our certificate: "
		    "%s", why);
	else if (why != NULL)
		secho_conn_set_error(c, "%s", why);
	else if (cert_alert(reason) != NULL && !server)
		secho_conn_set_error(c, "the server rejected our certificate: "
		    "%s", cert_alert(reason));
	else if (is_alert(reason) && op == SECHO_OP_HANDSHAKE)
		secho_conn_set_error(c, "the %s rejected the handshake: %s",
		    peer, secho_tls_reason("alert"));
	else if (is_alert(reason))
		secho_conn_set_error(c, "the %s sent a fatal alert: %s", peer,
		    secho_tls_reason("alert"));
	else
		return 0;
	return 1;
}

/* Explains a SSL_ERROR_SSL from the reason code at the queue's head. */
int
secho_tls_ssl_failure(struct secho_conn *c, enum secho_conn_op op)
{
	unsigned long e = ERR_peek_error();
	int reason = ERR_GET_REASON(e);
	const char *peer = (c->flags & SECHO_CONN_SERVER) ? "client" :
	    "server";

	if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		c->flags |= SECHO_CONN_UNCLEAN;
		ERR_clear_error();
		return SECHO_IO_EOF;
	}
	if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED)
		verify_error(c);
	else if (peer_alert(c, reason, op))
		;
	else if (is_not_tls(reason) && !(c->flags & SECHO_CONN_HS_DONE)) {
		c->flags |= SECHO_CONN_NOT_TLS;
		secho_conn_set_error(c, "the %s does not speak TLS (%s)",
		    peer, secho_tls_reason("bad record"));
	} else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
		secho_conn_set_error(c, "the client sent no certificate "
		    "(--verify-client requires one)");
	else
		secho_conn_set_error(c, "TLS %s failed: %s",
		    secho_conn_op_name(op), secho_tls_reason("unknown error"));
	ERR_clear_error();
	return SECHO_IO_ERR;
}
