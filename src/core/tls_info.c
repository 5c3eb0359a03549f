/*
 * tls_info.c - what the client's -v prints about a session: version,
 * cipher, group, ALPN, SNI and the peer certificate, as plain strings.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>

#include "tls_int.h"

void
secho_tls_name_str(const X509_NAME *name, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n;

	buf[0] = '\0';
	if (b == NULL)
		return;
	X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
	n = BIO_read(b, buf, (int)len - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
}

void
secho_tls_time_str(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	buf[0] = '\0';
	if (t != NULL && ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

void
secho_tls_san_str(X509 *x, char *buf, size_t len)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL);
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < sk_GENERAL_NAME_num(gens) && off < len; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char ip[64] = "";
		const ASN1_OCTET_STRING *o = g->d.iPAddress;

		if (g->type == GEN_DNS)
			off += (size_t)snprintf(buf + off, len - off, "%sDNS:%s",
			    off ? ", " : "", ASN1_STRING_get0_data(g->d.dNSName));
		else if (g->type == GEN_IPADD && (o->length == 4 ||
		    o->length == 16)) {
			inet_ntop(o->length == 4 ? AF_INET : AF_INET6,
			    o->data, ip, sizeof(ip));
			off += (size_t)snprintf(buf + off, len - off, "%sIP:%s",
			    off ? ", " : "", ip);
		}
	}
	GENERAL_NAMES_free(gens);
}

static void
key_str(X509 *x, char *buf, size_t len)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	char group[24];

	buf[0] = '\0';
	if (pk == NULL)
		return;
	if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, sizeof(group), NULL) == 1)
		snprintf(buf, len, "%s %s", EVP_PKEY_get0_type_name(pk), group);
	else
		snprintf(buf, len, "%s %d", EVP_PKEY_get0_type_name(pk),
		    EVP_PKEY_get_bits(pk));
}

static void
alpn_sni(SSL *ssl, struct secho_tls_info *in)
{
	const unsigned char *alpn;
	unsigned int alen = 0;
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	SSL_get0_alpn_selected(ssl, &alpn, &alen);
	if (alen > 0)
		snprintf(in->alpn, sizeof(in->alpn), "%.*s", (int)alen,
		    (const char *)alpn);
	if (sni != NULL)
		snprintf(in->sni, sizeof(in->sni), "%s", sni);
}

static void
verify_str(SSL *ssl, char *buf, size_t len)
{
	const struct secho_tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	if (SSL_get_verify_mode(ssl) == SSL_VERIFY_NONE)
		snprintf(buf, len, "not verified");
	else if (SSL_get_verify_result(ssl) == X509_V_OK && t != NULL &&
	    t->has_pin)
		snprintf(buf, len, "ok (pinned public key)");
	else
		secho_tls_verify_reason(ssl, buf, len);
}

/* "CN=secho client,O=secho" of the peer's certificate, or "". */
void
secho_tls_peer_subject(SSL *ssl, char *buf, size_t len)
{
	X509 *peer = SSL_get0_peer_certificate(ssl);

	buf[0] = '\0';
	if (peer != NULL)
		secho_tls_name_str(X509_get_subject_name(peer), buf, len);
}

void
secho_tls_group_name(SSL *ssl, char *buf, size_t len)
{
	int nid = SSL_get_negotiated_group(ssl);

	buf[0] = '\0';
	/* OpenSSL 3.0 names the X curves "x25519"/"x448"; RFC 7748 and
	 * OpenSSL's own object names say "X25519"/"X448". */
	if (nid == NID_X25519 || nid == NID_X448)
		snprintf(buf, len, "%s", OBJ_nid2sn(nid));
	else if (nid != 0 && SSL_group_to_name(ssl, nid) != NULL)
		snprintf(buf, len, "%s", SSL_group_to_name(ssl, nid));
}

int
secho_tls_conn_info(const struct secho_conn *c, struct secho_tls_info *in)
{
	SSL *ssl = c->tls;
	X509 *peer;

	memset(in, 0, sizeof(*in));
	/* secho's record layer keeps only a summary (secho_conn_describe). */
	if (!secho_conn_is_tls(c) || ssl == NULL)
		return -1;
	snprintf(in->version, sizeof(in->version), "%s", SSL_get_version(ssl));
	snprintf(in->cipher, sizeof(in->cipher), "%s",
	    SSL_get_cipher_name(ssl));
	secho_tls_group_name(ssl, in->group, sizeof(in->group));
	in->resumed = SSL_session_reused(ssl);
	if ((peer = SSL_get0_peer_certificate(ssl)) != NULL) {
		secho_tls_name_str(X509_get_subject_name(peer), in->subject,
		    sizeof(in->subject));
		secho_tls_name_str(X509_get_issuer_name(peer), in->issuer,
		    sizeof(in->issuer));
		secho_tls_time_str(X509_get0_notBefore(peer), in->not_before,
		    sizeof(in->not_before));
		secho_tls_time_str(X509_get0_notAfter(peer), in->not_after,
		    sizeof(in->not_after));
		secho_tls_san_str(peer, in->san, sizeof(in->san));
		key_str(peer, in->key, sizeof(in->key));
	}
	alpn_sni(ssl, in);
	verify_str(ssl, in->verify, sizeof(in->verify));
	return 0;
}

char *
secho_tls_system_store(char *buf, size_t len)
{
	const char *file = getenv(X509_get_default_cert_file_env());
	const char *dir = getenv(X509_get_default_cert_dir_env());

	snprintf(buf, len, "%s and %s", file != NULL ? file :
	    X509_get_default_cert_file(), dir != NULL ? dir :
	    X509_get_default_cert_dir());
	return buf;
}
