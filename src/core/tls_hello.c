/*
 * tls_hello.c - who a client is by its ClientHello: the JA3 and JA4
 * fingerprints (the original JA3 README; FoxIO's JA4 definition), taken
 * by the server's client-hello callback from the hello as received, so a
 * handshake that fails is fingerprinted too.  GREASE values are left out
 * as both definitions say.  The strings ride on the SSL object until the
 * connection describes itself (secho_tls_describe()).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "tls_int.h"

enum {
	EXT_SNI = 0x0000, EXT_GROUPS = 0x000a, EXT_POINT_FORMATS = 0x000b,
	EXT_SIGALGS = 0x000d, EXT_ALPN = 0x0010, EXT_VERSIONS = 0x002b,
};

static pthread_once_t index_once = PTHREAD_ONCE_INIT;
static int fp_index = -1;
static EVP_MD *md5, *sha256;	/* fetched once, not by name per hello */

static void
fp_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

static void
make_index(void)
{
	fp_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, fp_free);
	md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* RFC 8701: 0x0a0a, 0x1a1a, ... 0xfafa. */
static int
grease(unsigned v)
{
	return (v >> 8) == (v & 0xff) && (v & 0x0f) == 0x0a;
}

/* Big-endian 16-bit values of p[0..len) into out, GREASE left out. */
static size_t
u16s(const unsigned char *p, size_t len, uint16_t *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i + 1 < len && n < max; i += 2) {
		unsigned v = (unsigned)p[i] << 8 | p[i + 1];

		if (!grease(v))
			out[n++] = (uint16_t)v;
	}
	return n;
}

/* An extension's list after its length prefix of plen bytes, or none. */
static size_t
ext_list(SSL *ssl, unsigned type, size_t plen, const unsigned char **list)
{
	const unsigned char *p;
	size_t len, n;

	if (SSL_client_hello_get0_ext(ssl, type, &p, &len) != 1 || len < plen)
		return 0;
	n = plen == 1 ? p[0] : (size_t)p[0] << 8 | p[1];
	if (n > len - plen)
		n = len - plen;
	*list = p + plen;
	return n;
}

void
secho_hello_from_ssl(SSL *ssl, struct secho_hello *h)
{
	const unsigned char *p;
	size_t n;
	int *exts;

	memset(h, 0, sizeof(*h));
	h->dtls = SSL_is_dtls(ssl);
	h->legacy_version = SSL_client_hello_get0_legacy_version(ssl);
	n = SSL_client_hello_get0_ciphers(ssl, &p);
	h->nciphers = u16s(p, n, h->ciphers, SECHO_HELLO_MAX);
	if (SSL_client_hello_get1_extensions_present(ssl, &exts, &n) == 1) {
		for (size_t i = 0; i < n && h->nexts < SECHO_HELLO_MAX; i++)
			if (!grease((unsigned)exts[i]))
				h->exts[h->nexts++] = (uint16_t)exts[i];
		OPENSSL_free(exts);
	}
	if ((n = ext_list(ssl, EXT_GROUPS, 2, &p)) > 0)
		h->ngroups = u16s(p, n, h->groups, SECHO_HELLO_MAX);
	if ((n = ext_list(ssl, EXT_POINT_FORMATS, 1, &p)) > 0) {
		h->npoint_formats = n < SECHO_HELLO_MAX ? n : SECHO_HELLO_MAX;
		memcpy(h->point_formats, p, h->npoint_formats);
	}
	if ((n = ext_list(ssl, EXT_SIGALGS, 2, &p)) > 0)
		h->nsigalgs = u16s(p, n, h->sigalgs, SECHO_HELLO_MAX);
	if ((n = ext_list(ssl, EXT_VERSIONS, 1, &p)) > 0)
		h->nversions = u16s(p, n, h->versions, SECHO_HELLO_MAX);
	/* ALPN: a list of length-prefixed names; JA4 wants the first. */
	if ((n = ext_list(ssl, EXT_ALPN, 2, &p)) > 0 && p[0] > 0 &&
	    p[0] < n) {
		h->alpn_len = p[0];
		memcpy(h->alpn, p + 1, h->alpn_len);
	}
	h->sni = SSL_client_hello_get0_ext(ssl, EXT_SNI, &p, &n) == 1;
}

/* Appends to buf (size len, used *o) without overrunning it. */
static void
put(char *buf, size_t len, size_t *o, const char *fmt, unsigned v)
{
	int n = snprintf(buf + *o, len - *o, fmt, v);

	if (n > 0 && (size_t)n < len - *o)
		*o += (size_t)n;
}

/* "a-b-c" of JA3, decimal. */
static void
put_list(char *buf, size_t len, size_t *o, const uint16_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put(buf, len, o, i ? "-%u" : "%u", v[i]);
}

/* The first hex digits of a digest of s into out (2 * bytes + 1). */
static void
digest_hex(int use_md5, const char *s, char *out, size_t bytes)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;

	pthread_once(&index_once, make_index);
	if (EVP_Digest(s, strlen(s), d, &dl, use_md5 ? md5 : sha256,
	    NULL) != 1 || dl < bytes) {
		snprintf(out, 2 * bytes + 1, "%s", "");
		return;
	}
	for (size_t i = 0; i < bytes; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

void
secho_ja3(const struct secho_hello *h, char *str, size_t len,
    char hash[33])
{
	size_t o = 0;

	str[0] = '\0';
	put(str, len, &o, "%u,", h->legacy_version);
	put_list(str, len, &o, h->ciphers, h->nciphers);
	put(str, len, &o, ",", 0);
	put_list(str, len, &o, h->exts, h->nexts);
	put(str, len, &o, ",", 0);
	put_list(str, len, &o, h->groups, h->ngroups);
	put(str, len, &o, ",", 0);
	for (size_t i = 0; i < h->npoint_formats; i++)
		put(str, len, &o, i ? "-%u" : "%u", h->point_formats[i]);
	digest_hex(1, str, hash, 16);
}

static int
cmp16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* JA4's two-character version: the highest supported_versions entry. */
static const char *
ja4_version(const struct secho_hello *h)
{
	unsigned v = h->legacy_version;

	for (size_t i = 0; i < h->nversions; i++)
		if (h->versions[i] > v || (h->dtls && h->versions[i] < v))
			v = h->versions[i];	/* DTLS counts downwards */
	switch (v) {
	case 0x0304: return "13";
	case 0x0303: return "12";
	case 0x0302: return "11";
	case 0x0301: return "10";
	case 0x0300: return "s3";
	case 0x0002: return "s2";
	case 0xfeff: return "d1";
	case 0xfefd: return "d2";
	case 0xfefc: return "d3";
	}
	return "00";
}

static int
alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	    (c >= 'a' && c <= 'z');
}

void
secho_ja4(const struct secho_hello *h, char *raw, size_t len, char ja4[48])
{
	uint16_t v[SECHO_HELLO_MAX];
	char a[16], alpn[3] = "00", b[13], c[13];
	size_t o, n = 0, ob, oc;

	if (h->alpn_len > 0) {
		unsigned char f = (unsigned char)h->alpn[0],
		    l = (unsigned char)h->alpn[h->alpn_len - 1];

		if (alnum(f) && alnum(l))
			snprintf(alpn, sizeof(alpn), "%c%c", f, l);
		else	/* the first and last hex digits instead */
			snprintf(alpn, sizeof(alpn), "%x%x", f >> 4, l & 0xf);
	}
	snprintf(a, sizeof(a), "%c%s%c%02u%02u%s", h->dtls ? 'd' : 't',
	    ja4_version(h), h->sni ? 'd' : 'i', (unsigned)(h->nciphers > 99 ?
	    99 : h->nciphers), (unsigned)(h->nexts > 99 ? 99 : h->nexts), alpn);
	/* b: the ciphers sorted; c: the extensions sorted without SNI and
	 * ALPN, "_", the signature algorithms in their order. */
	snprintf(raw, len, "%s_", a);
	o = strlen(raw);
	memcpy(v, h->ciphers, h->nciphers * sizeof(v[0]));
	qsort(v, h->nciphers, sizeof(v[0]), cmp16);
	ob = o;
	for (size_t i = 0; i < h->nciphers; i++)
		put(raw, len, &o, i ? ",%04x" : "%04x", v[i]);
	put(raw, len, &o, "_", 0);
	oc = o;
	for (size_t i = 0; i < h->nexts; i++)
		if (h->exts[i] != EXT_SNI && h->exts[i] != EXT_ALPN)
			v[n++] = h->exts[i];
	qsort(v, n, sizeof(v[0]), cmp16);
	for (size_t i = 0; i < n; i++)
		put(raw, len, &o, i ? ",%04x" : "%04x", v[i]);
	if (h->nsigalgs > 0)
		put(raw, len, &o, "_", 0);
	for (size_t i = 0; i < h->nsigalgs; i++)
		put(raw, len, &o, i ? ",%04x" : "%04x", h->sigalgs[i]);
	/* Hash each part: b is raw[ob..oc-1), c is raw[oc..o). */
	{
		char part[sizeof(v) * 5 + 8];

		snprintf(part, sizeof(part), "%.*s", (int)(oc - 1 - ob),
		    raw + ob);
		if (h->nciphers == 0)
			snprintf(b, sizeof(b), "000000000000");
		else
			digest_hex(0, part, b, 6);
		snprintf(part, sizeof(part), "%s", raw + oc);
		if (n == 0)
			snprintf(c, sizeof(c), "000000000000");
		else
			digest_hex(0, part, c, 6);
	}
	snprintf(ja4, 48, "%s_%s_%s", a, b, c);
}

/* The server's client-hello callback: fingerprint, then carry on. */
static int
hello_cb(SSL *ssl, int *alert, void *arg)
{
	struct secho_hello h;
	char raw[2048], *fp;

	(void)alert;
	(void)arg;
	if (fp_index < 0 || SSL_get_ex_data(ssl, fp_index) != NULL ||
	    (fp = malloc(SECHO_FP_MAX)) == NULL)
		return SSL_CLIENT_HELLO_SUCCESS;
	secho_hello_from_ssl(ssl, &h);
	{
		char ja3[33], ja4[48];

		secho_ja3(&h, raw, sizeof(raw), ja3);
		secho_ja4(&h, raw, sizeof(raw), ja4);
		snprintf(fp, SECHO_FP_MAX, "JA4 %s JA3 %s", ja4, ja3);
	}
	if (!SSL_set_ex_data(ssl, fp_index, fp))
		free(fp);
	return SSL_CLIENT_HELLO_SUCCESS;
}

void
secho_tls_hello_setup(SSL_CTX *ctx)
{
	pthread_once(&index_once, make_index);
	SSL_CTX_set_client_hello_cb(ctx, hello_cb, NULL);
}

const char *
secho_tls_fingerprint(const SSL *ssl)
{
	const char *fp = fp_index < 0 ? NULL : SSL_get_ex_data(ssl, fp_index);

	return fp != NULL ? fp : "";
}

const char *
secho_tls_conn_fingerprint(const struct secho_conn *c)
{
	if (c->ops != &secho_tls_ops || c->tls == NULL)
		return "";
	return secho_tls_fingerprint(c->tls);
}
