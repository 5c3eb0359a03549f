/*
 * tls_verify.c - verification beyond the CA chain: a client's public key
 * pin (an alternative to CA trust, like curl's --pinnedpubkey) and a
 * server's allow-list of client certificates by CN or SAN.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "tls_int.h"

static struct secho_tls *
tls_of(X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x,
	    SSL_get_ex_data_X509_STORE_CTX_idx());

	return ssl != NULL ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
}

int
secho_tls_spki_sha256(X509 *cert, unsigned char md[32])
{
	unsigned char *der = NULL, buf[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der), ok;

	ok = len > 0 && EVP_Digest(der, (size_t)len, buf, &mdlen, EVP_sha256(),
	    NULL) == 1 && mdlen == 32;
	OPENSSL_free(der);
	if (ok)
		memcpy(md, buf, 32);
	return ok ? 0 : -1;
}

static int
pin_matches(const struct secho_tls *t, X509 *cert)
{
	unsigned char md[32];

	return secho_tls_spki_sha256(cert, md) == 0 &&
	    CRYPTO_memcmp(md, t->pin, sizeof(t->pin)) == 0;
}

static int
cn_allowed(const struct secho_tls *t, X509 *cert)
{
	X509_NAME *name = X509_get_subject_name(cert);
	int i = -1, ok = 0;

	while (!ok && (i = X509_NAME_get_index_by_NID(name, NID_commonName,
	    i)) >= 0) {
		unsigned char *cn = NULL;
		X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);

		if (ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(e)) < 0)
			continue;
		for (size_t k = 0; k < t->nallow_cn && !ok; k++)
			ok = strcmp((char *)cn, t->allow_cn[k]) == 0;
		OPENSSL_free(cn);
	}
	return ok;
}

/* One SAN as text: "name.example", "user@example", "192.0.2.1". */
static int
san_text(const GENERAL_NAME *g, char *buf, size_t len)
{
	const ASN1_OCTET_STRING *o = g->d.iPAddress;

	if (g->type == GEN_DNS || g->type == GEN_EMAIL) {
		const ASN1_IA5STRING *s = g->type == GEN_DNS ? g->d.dNSName :
		    g->d.rfc822Name;

		snprintf(buf, len, "%.*s", ASN1_STRING_length(s),
		    (const char *)ASN1_STRING_get0_data(s));
		return 1;
	}
	if (g->type == GEN_IPADD && (o->length == 4 || o->length == 16))
		return inet_ntop(o->length == 4 ? AF_INET : AF_INET6, o->data,
		    buf, (socklen_t)len) != NULL;
	return 0;
}

static int
san_allowed(const struct secho_tls *t, X509 *cert)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name,
	    NULL, NULL);
	char name[256];
	int ok = 0;

	for (int i = 0; i < sk_GENERAL_NAME_num(gens) && !ok; i++) {
		if (!san_text(sk_GENERAL_NAME_value(gens, i), name,
		    sizeof(name)))
			continue;
		for (size_t k = 0; k < t->nallow_san && !ok; k++)
			ok = strcasecmp(name, t->allow_san[k]) == 0;
	}
	GENERAL_NAMES_free(gens);
	return ok;
}

/*
 * What the failed check looked at, kept with the SSL for its message
 * (the peer's certificate is gone by then): the names of a certificate
 * for another host, the date of an expired one, an unknown issuer.
 */
struct facts {
	long err;
	char text[320];
};

static int facts_idx = -1;
static pthread_once_t facts_once = PTHREAD_ONCE_INIT;

static void
facts_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	free(ptr);
}

static void
facts_init(void)
{
	facts_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, facts_free);
}

static void
facts_text(long err, X509 *cert, char *buf, size_t len)
{
	char s[256];

	buf[0] = '\0';
	if (err == X509_V_ERR_HOSTNAME_MISMATCH ||
	    err == X509_V_ERR_IP_ADDRESS_MISMATCH) {
		secho_tls_san_str(cert, s, sizeof(s));
		if (s[0] == '\0')
			secho_tls_name_str(X509_get_subject_name(cert), s,
			    sizeof(s));
		snprintf(buf, len, "the certificate is for %s", s);
	} else if (err == X509_V_ERR_CERT_HAS_EXPIRED) {
		secho_tls_time_str(X509_get0_notAfter(cert), s, sizeof(s));
		snprintf(buf, len, "notAfter %s", s);
	} else if (err == X509_V_ERR_CERT_NOT_YET_VALID) {
		secho_tls_time_str(X509_get0_notBefore(cert), s, sizeof(s));
		snprintf(buf, len, "notBefore %s", s);
	} else if (err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT) {
		secho_tls_name_str(X509_get_issuer_name(cert), s, sizeof(s));
		snprintf(buf, len, "issuer %s", s);
	}
}

static void
keep_facts(X509_STORE_CTX *x, X509 *cert)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct facts *f;

	pthread_once(&facts_once, facts_init);
	if (ssl == NULL || cert == NULL || facts_idx < 0)
		return;
	if ((f = SSL_get_ex_data(ssl, facts_idx)) == NULL &&
	    (f = calloc(1, sizeof(*f))) != NULL &&
	    !SSL_set_ex_data(ssl, facts_idx, f)) {
		free(f);
		f = NULL;
	}
	if (f == NULL)
		return;
	f->err = X509_STORE_CTX_get_error(x);
	facts_text(f->err, cert, f->text, sizeof(f->text));
}

static int
verify_cb(int ok, X509_STORE_CTX *x)
{
	struct secho_tls *t = tls_of(x);
	X509 *cert = X509_STORE_CTX_get_current_cert(x);

	if (!ok)
		keep_facts(x, cert);
	if (t == NULL)
		return ok;
	if (t->has_pin) {
		/* The pinned key is the trust anchor: the chain above the
		 * leaf, and who signed it, do not matter. */
		if (X509_STORE_CTX_get_error_depth(x) > 0 ||
		    (cert != NULL && pin_matches(t, cert))) {
			X509_STORE_CTX_set_error(x, X509_V_OK);
			return 1;
		}
		X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	if (ok && X509_STORE_CTX_get_error_depth(x) == 0 && cert != NULL &&
	    (t->nallow_cn > 0 || t->nallow_san > 0) &&
	    !cn_allowed(t, cert) && !san_allowed(t, cert)) {
		X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	return ok;
}

static int
set_pin(struct secho_tls *t, const char *b64)
{
	unsigned char raw[64];
	size_t n = strlen(b64);
	int len;

	if (strncmp(b64, "sha256//", 8) == 0) {
		b64 += 8;
		n -= 8;
	}
	/* 32 bytes are 44 base64 characters, one '=' of padding. */
	len = n == 44 ? EVP_DecodeBlock(raw, (const unsigned char *)b64, 44) :
	    -1;
	if (len != 33 || b64[43] != '=' || b64[42] == '=') {
		secho_error_set("--pin-sha256: '%s' is not a base64 SHA-256 "
		    "(44 characters ending in '=')", b64);
		return -1;
	}
	memcpy(t->pin, raw, sizeof(t->pin));
	t->has_pin = 1;
	return 0;
}

int
secho_tls_verify_setup(struct secho_tls *t, const struct secho_tls_opts *o,
    int mode)
{
	if (o->pin_sha256 != NULL && set_pin(t, o->pin_sha256) == -1)
		return -1;
	memcpy(t->allow_cn, o->allow_cn, sizeof(t->allow_cn));
	t->nallow_cn = o->nallow_cn;
	memcpy(t->allow_san, o->allow_san, sizeof(t->allow_san));
	t->nallow_san = o->nallow_san;
	SSL_CTX_set_verify(t->ctx, mode, verify_cb);
	return 0;
}

void
secho_tls_verify_reason(SSL *ssl, char *buf, size_t len)
{
	const struct secho_tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	long v = SSL_get_verify_result(ssl);
	const struct facts *f = facts_idx >= 0 ?
	    SSL_get_ex_data(ssl, facts_idx) : NULL;

	if (f != NULL && f->err == v && f->text[0] != '\0')
		snprintf(buf, len, "%s (%s)", X509_verify_cert_error_string(v),
		    f->text);
	else if (v != X509_V_ERR_APPLICATION_VERIFICATION || t == NULL)
		snprintf(buf, len, "%s", X509_verify_cert_error_string(v));
	else if (t->has_pin)
		snprintf(buf, len, "the server's public key does not match "
		    "--pin-sha256");
	else
		snprintf(buf, len, "the client certificate is not in the "
		    "allow-list (--allow-client-cn/--allow-client-san)");
}
