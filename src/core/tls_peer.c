/*
 * tls_peer.c - what the client's -v and --json add about the server: its
 * key's pin (ready for --pin-sha256), the chain it sent, how it signed
 * the handshake and the size of the key exchange.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/evp.h>

#include "tls_int.h"

static void
serial_str(X509 *x, char *buf, size_t len)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;

	snprintf(buf, len, "%s", hex != NULL ? hex : "");
	OPENSSL_free(hex);
	BN_free(bn);
}

static void
cert_info(X509 *x, int depth, struct secho_tls_cert_info *ci)
{
	int nid = X509_get_signature_nid(x);

	ci->depth = depth;
	secho_tls_name_str(X509_get_subject_name(x), ci->subject,
	    sizeof(ci->subject));
	secho_tls_name_str(X509_get_issuer_name(x), ci->issuer,
	    sizeof(ci->issuer));
	serial_str(x, ci->serial, sizeof(ci->serial));
	snprintf(ci->sig_alg, sizeof(ci->sig_alg), "%s", nid != NID_undef ?
	    OBJ_nid2ln(nid) : "");
	secho_tls_time_str(X509_get0_notBefore(x), ci->not_before,
	    sizeof(ci->not_before));
	secho_tls_time_str(X509_get0_notAfter(x), ci->not_after,
	    sizeof(ci->not_after));
}

static const char *
md_name(int md)
{
	switch (md) {
	case NID_sha1: return "sha1";
	case NID_sha224: return "sha224";
	case NID_sha256: return "sha256";
	case NID_sha384: return "sha384";
	case NID_sha512: return "sha512";
	}
	return md != NID_undef ? OBJ_nid2sn(md) : "?";
}

/*
 * The IANA SignatureScheme name of what the server signed with.  OpenSSL
 * 3.0 gives only the key type and digest; the name also says, for PSS,
 * whether the key is a plain RSA key (rsae) or a PSS one, and for ECDSA
 * the curve its code point stands for.
 */
static void
sig_scheme(SSL *ssl, X509 *peer, char *buf, size_t len)
{
	EVP_PKEY *pk = peer != NULL ? X509_get0_pubkey(peer) : NULL;
	int type = NID_undef, md = NID_undef;

	buf[0] = '\0';
	if (!SSL_get_peer_signature_type_nid(ssl, &type) || type == NID_undef)
		return;
	SSL_get_peer_signature_nid(ssl, &md);
	if (type == EVP_PKEY_ED25519 || type == EVP_PKEY_ED448)
		snprintf(buf, len, "%s", type == EVP_PKEY_ED25519 ? "ed25519" :
		    "ed448");
	else if (type == EVP_PKEY_RSA_PSS)
		snprintf(buf, len, "rsa_pss_%s_%s", pk != NULL &&
		    EVP_PKEY_get_id(pk) == EVP_PKEY_RSA_PSS ? "pss" : "rsae",
		    md_name(md));
	else if (type == EVP_PKEY_RSA)
		snprintf(buf, len, "rsa_pkcs1_%s", md_name(md));
	else if (type == EVP_PKEY_EC && md == NID_sha1)
		snprintf(buf, len, "ecdsa_sha1");
	else if (type == EVP_PKEY_EC)
		snprintf(buf, len, "ecdsa_%s_%s", md == NID_sha384 ?
		    "secp384r1" : md == NID_sha512 ? "secp521r1" : "secp256r1",
		    md_name(md));
	else
		snprintf(buf, len, "%s+%s", OBJ_nid2sn(type), md_name(md));
}

static void
pin_str(X509 *peer, char *buf, size_t len)
{
	unsigned char md[32], b64[48];

	buf[0] = '\0';
	/* 32 bytes are 44 base64 characters and a NUL. */
	if (peer != NULL && len >= 45 && secho_tls_spki_sha256(peer, md) == 0 &&
	    EVP_EncodeBlock(b64, md, sizeof(md)) == 44)
		snprintf(buf, len, "%s", (const char *)b64);
}

int
secho_tls_conn_details(const struct secho_conn *c,
    struct secho_tls_details *d)
{
	SSL *ssl = c->tls;
	X509 *peer;
	EVP_PKEY *tmp = NULL;
	STACK_OF(X509) *chain;

	memset(d, 0, sizeof(*d));
	if (!secho_conn_is_tls(c) || ssl == NULL)
		return -1;
	peer = SSL_get0_peer_certificate(ssl);
	pin_str(peer, d->pin_sha256, sizeof(d->pin_sha256));
	sig_scheme(ssl, peer, d->sig_scheme, sizeof(d->sig_scheme));
	if (SSL_get_peer_tmp_key(ssl, &tmp) == 1 && tmp != NULL)
		d->group_bits = EVP_PKEY_get_bits(tmp);
	EVP_PKEY_free(tmp);
	/* A client's view of the chain starts with the server's own. */
	chain = SSL_get_peer_cert_chain(ssl);
	d->chain_total = (size_t)(chain != NULL ? sk_X509_num(chain) : 0);
	for (size_t i = 0; i < d->chain_total && i < SECHO_TLS_CHAIN_MAX; i++)
		cert_info(sk_X509_value(chain, (int)i), (int)i,
		    &d->chain[d->nchain++]);
	return 0;
}
