/*
 * tls_rec.c - secho's own TLS 1.3 record layer for application data on
 * the server side (RFC 8446 section 5), what kTLS does in a kernel that
 * has it: once OpenSSL has finished the handshake and sent its ticket,
 * records are sealed and opened here with one AEAD context per direction,
 * keyed once, instead of by OpenSSL 3.0's record layer, which costs
 * several times the AEAD itself and a few mallocs per small echo.
 * KeyUpdate both ways (4.6.3), alerts and close_notify are handled here;
 * anything unexpected is answered with the alert the RFC names.
 *
 * The hand-over needs the traffic secrets (from the key log callback) and
 * the record sequence numbers, which OpenSSL does not export: the message
 * callback counts the records each side protected under the application
 * keys (after its Finished), and the hand-over waits until OpenSSL holds
 * no unread or unwritten bytes.  A connection whose keys changed inside
 * OpenSSL (a KeyUpdate before the hand-over), or whose version or suite
 * this file does not do, stays on OpenSSL's record layer.
 *
 * Opt-in (--record-layer secho) while it proves itself against peers.
 */
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "tls_int.h"

#define REC_HDR		5
#define REC_TAG		16
#define REC_PLAIN_MAX	16384			/* 2^14 */
#define REC_CIPHER_MAX	(REC_PLAIN_MAX + 256)	/* 5.2 */
#define REC_MAX		(REC_HDR + REC_CIPHER_MAX)
#define REC_WBATCH	4	/* records sealed per write call at most */
/*
 * 5.5: about 2^24.5 full records per AES-GCM key keep the margin; we
 * update our key well before, which costs nothing noticeable.
 */
#define REC_REKEY_AFTER	(1ULL << 24)

/* TLS 1.3 content types and the alerts this file sends. */
enum {
	CT_ALERT = 21, CT_HANDSHAKE = 22, CT_APPDATA = 23,
	AL_CLOSE_NOTIFY = 0, AL_UNEXPECTED_MESSAGE = 10,
	AL_BAD_RECORD_MAC = 20, AL_RECORD_OVERFLOW = 22,
	AL_DECODE_ERROR = 50, AL_ILLEGAL_PARAMETER = 47,
	AL_USER_CANCELED = 90, AL_INTERNAL_ERROR = 80,
};

/* One direction: its AEAD context, secret (for KeyUpdate), IV and seq. */
struct rec_dir {
	EVP_CIPHER_CTX *ctx;
	unsigned char secret[EVP_MAX_MD_SIZE];
	unsigned char iv[12];
	uint64_t seq;
	int app;		/* counting: after this side's Finished */
	int have_secret;
	int gcm;		/* AES-GCM: the nonce goes in as a parameter */
};

/* r->state */
#define RS_ACTIVE	0x01	/* records are ours now */
#define RS_NEVER	0x02	/* stays on OpenSSL's record layer */
#define RS_KU_OWED	0x04	/* we owe the peer a KeyUpdate (4.6.3) */
#define RS_PEER_CLOSED	0x08	/* close_notify received */
#define RS_SENT_CLOSE	0x10	/* close_notify sealed */
#define RS_FAILED	0x20	/* a fatal alert went out or came in */
#define RS_WBLOCKED	0x40	/* OpenSSL holds a record it could not send */

struct secho_rec {
	struct rec_dir rd, wr;	/* client to server, server to client */
	const EVP_CIPHER *cipher;
	const EVP_MD *md;	/* the suite's hash, fetched once */
	size_t keylen, hashlen;
	unsigned state;
	/* Ciphertext read but not yet opened: a partial record, or records
	 * the caller's buffer had no room for.  NULL while empty. */
	unsigned char *in;
	size_t in_len;
	/* Opened plaintext the caller's buffer had no room for. */
	unsigned char *plain;
	size_t plain_off, plain_len;
	/* Sealed bytes the socket did not take yet, and the caller's
	 * plaintext bytes they carry (returned once they are sent). */
	unsigned char *out;
	size_t out_off, out_len, out_plain;
	/* A post-handshake message arriving in pieces: only KeyUpdate (5
	 * bytes) is allowed from a client. */
	unsigned char hs[5];
	size_t hs_len;
	/*
	 * What the connection still needs of its handshake once the SSL
	 * object is gone: the context it holds a reference on, the summary
	 * for logs, and whether it resumed.
	 */
	struct secho_tls *t;
	char desc[320];
	int resumed;
};

/* Per worker thread: records are read into and sealed in these. */
static _Thread_local unsigned char rscratch[REC_MAX];
static _Thread_local unsigned char wscratch[REC_WBATCH * REC_MAX + 64];

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *aes128gcm, *aes256gcm, *chacha;
static EVP_MD *sha256, *sha384;
static int ex_index = -1;

/*
 * Fetched once: an implicit fetch per context would look the algorithm
 * up in OpenSSL's store, under its lock, for every connection.
 */
static void
fetch_all(void)
{
	aes128gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	aes256gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	chacha = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
	ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* --- keys (7.1, 7.3) --- */

/*
 * HMAC(key, msg) with r's hash (RFC 2104), key no longer than the hash,
 * into out (the hash's size).  By hand over the digest fetched once:
 * OpenSSL 3.0's HMAC() looks the MAC and the digest up by name on every
 * call, which cost four times the HMAC itself per connection.
 */
static int
hmac(const struct secho_rec *r, const unsigned char *key,
    const unsigned char *msg, size_t len, unsigned char *out)
{
	unsigned char pad[128], inner[EVP_MAX_MD_SIZE];
	size_t b = (size_t)EVP_MD_get_block_size(r->md);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	int ok = m != NULL && b <= sizeof(pad) && r->hashlen <= b;

	for (int round = 0; ok && round < 2; round++) {
		memset(pad, round == 0 ? 0x36 : 0x5c, b);
		for (size_t i = 0; i < r->hashlen; i++)
			pad[i] ^= key[i];
		ok = EVP_DigestInit_ex(m, r->md, NULL) == 1 &&
		    EVP_DigestUpdate(m, pad, b) == 1 &&
		    EVP_DigestUpdate(m, round == 0 ? msg : inner, round == 0 ?
		    len : r->hashlen) == 1 &&
		    EVP_DigestFinal_ex(m, round == 0 ? inner : out, NULL) == 1;
	}
	EVP_MD_CTX_free(m);
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
	return ok ? 0 : -1;
}

/*
 * HKDF-Expand-Label(secret, label, "", len) for len <= the hash length,
 * which needs only the first HKDF block: HMAC(secret, HkdfLabel || 1).
 */
static int
expand_label(const struct secho_rec *r, const unsigned char *secret,
    const char *label, unsigned char *out, size_t len)
{
	unsigned char info[2 + 1 + 6 + 16 + 1 + 1], mac[EVP_MAX_MD_SIZE];
	size_t ll = strlen(label), n = 0;

	info[n++] = (unsigned char)(len >> 8);
	info[n++] = (unsigned char)len;
	info[n++] = (unsigned char)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, ll);
	n += ll;
	info[n++] = 0;		/* empty context */
	info[n++] = 1;		/* HKDF's block counter */
	if (len > r->hashlen || hmac(r, secret, info, n, mac) == -1)
		return -1;
	memcpy(out, mac, len);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

/* Keys d's context and IV from d->secret (enc: our direction). */
static int
key_dir(struct secho_rec *r, struct rec_dir *d, int enc)
{
	unsigned char key[32];
	int ok;

	if (expand_label(r, d->secret, "key", key, r->keylen) == -1 ||
	    expand_label(r, d->secret, "iv", d->iv, sizeof(d->iv)) == -1)
		return -1;
	if (d->ctx == NULL && (d->ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	ok = EVP_CipherInit_ex(d->ctx, r->cipher, NULL, key, NULL, enc);
	OPENSSL_cleanse(key, sizeof(key));
	d->seq = 0;
	d->gcm = r->cipher != chacha;
	return ok == 1 ? 0 : -1;
}

/* 7.2: the next generation of d's traffic secret, and its keys. */
static int
update_dir(struct secho_rec *r, struct rec_dir *d, int enc)
{
	unsigned char next[EVP_MAX_MD_SIZE];

	if (expand_label(r, d->secret, "traffic upd", next, r->hashlen) == -1)
		return -1;
	memcpy(d->secret, next, r->hashlen);
	OPENSSL_cleanse(next, sizeof(next));
	return key_dir(r, d, enc);
}

/* --- sealing and opening (5.2, 5.3) --- */

/*
 * Starts a record with d's nonce (5.3): the IV XOR the sequence number.
 * For AES-GCM the nonce goes straight to the cipher as a parameter (the
 * provider's "whole IV" form of the TLS fixed IV): a fifth of the cost of
 * a small record less than a re-init, which looks the IV length up anew
 * each time.
 */
static int
start_record(struct rec_dir *d, int enc)
{
	unsigned char nonce[12];

	memcpy(nonce, d->iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (unsigned char)(d->seq >> (8 * i));
	if (d->gcm) {
		OSSL_PARAM p[2] = { OSSL_PARAM_construct_octet_string(
		    OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, nonce, (size_t)-1),
		    OSSL_PARAM_END };

		return EVP_CIPHER_CTX_set_params(d->ctx, p) == 1 ? 0 : -1;
	}
	return EVP_CipherInit_ex(d->ctx, NULL, NULL, NULL, nonce, enc) == 1 ?
	    0 : -1;
}

/* The tag out of (enc) or into the cipher, as a parameter. */
static int
tag_param(struct rec_dir *d, unsigned char *tag, int enc)
{
	OSSL_PARAM p[2] = { OSSL_PARAM_construct_octet_string(
	    OSSL_CIPHER_PARAM_AEAD_TAG, tag, REC_TAG), OSSL_PARAM_END };

	return (enc ? EVP_CIPHER_CTX_get_params(d->ctx, p) :
	    EVP_CIPHER_CTX_set_params(d->ctx, p)) == 1 ? 0 : -1;
}

/*
 * Seals p[0..n) with inner content type into one record at out; returns
 * the record's size, or 0 when the cipher failed.
 */
static size_t
seal(struct rec_dir *d, unsigned char *out, int type,
    const unsigned char *p, size_t n)
{
	size_t clen = n + 1 + REC_TAG;
	unsigned char t = (unsigned char)type;
	int l;

	out[0] = CT_APPDATA;
	out[1] = 3;
	out[2] = 3;
	out[3] = (unsigned char)(clen >> 8);
	out[4] = (unsigned char)clen;
	if (start_record(d, 1) == -1 ||
	    EVP_EncryptUpdate(d->ctx, NULL, &l, out, REC_HDR) != 1 ||
	    (n > 0 && EVP_EncryptUpdate(d->ctx, out + REC_HDR, &l, p,
	    (int)n) != 1) ||
	    EVP_EncryptUpdate(d->ctx, out + REC_HDR + n, &l, &t, 1) != 1 ||
	    EVP_EncryptFinal_ex(d->ctx, out + REC_HDR + n + 1, &l) != 1 ||
	    tag_param(d, out + REC_HDR + n + 1, 1) == -1)
		return 0;
	d->seq++;
	return REC_HDR + clen;
}

/*
 * Opens the record at rec (clen bytes after its header) in place; 0, or
 * -1 when it does not authenticate.
 */
static int
open_in_place(struct rec_dir *d, unsigned char *rec, size_t clen)
{
	unsigned char *body = rec + REC_HDR;
	int l, l2;

	if (start_record(d, 0) == -1 ||
	    EVP_DecryptUpdate(d->ctx, NULL, &l, rec, REC_HDR) != 1 ||
	    EVP_DecryptUpdate(d->ctx, body, &l, body,
	    (int)(clen - REC_TAG)) != 1 ||
	    tag_param(d, body + clen - REC_TAG, 0) == -1 ||
	    EVP_DecryptFinal_ex(d->ctx, body + l, &l2) != 1)
		return -1;
	d->seq++;
	return 0;
}

/* --- the trace (--trace) of what this file sends and receives --- */

/* A record's header at rec, at --trace=records. */
static void
trace_record(struct secho_conn *c, int sent, const unsigned char *rec)
{
	if (secho_trace_records(c->trace))
		secho_trace_msg(c->trace, sent, SSL3_RT_HEADER, rec, REC_HDR);
}

/* The records sealed into out[0..len), each header and what it held. */
static void
trace_sealed(struct secho_conn *c, const unsigned char *out, size_t len,
    int type, const unsigned char *msg, size_t mlen)
{
	for (size_t o = 0; c->trace != NULL && o + REC_HDR <= len;
	    o += REC_HDR + ((size_t)out[o + 3] << 8 | out[o + 4]))
		trace_record(c, 1, out + o);
	if (c->trace != NULL && type != CT_APPDATA)
		secho_trace_msg(c->trace, 1, type, msg, mlen);
}

/* --- the socket --- */

/* Sends what r->out holds: 0 when all of it went, or an enum secho_io. */
static int
flush_out(struct secho_conn *c, struct secho_rec *r)
{
	while (r->out_off < r->out_len) {
		ssize_t n = send(c->fd, r->out + r->out_off,
		    r->out_len - r->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return SECHO_WANT_WRITE;
		if (n < 0) {
			secho_conn_set_error(c, "write: %s", strerror(errno));
			return SECHO_IO_ERR;
		}
		r->out_off += (size_t)n;
	}
	free(r->out);
	r->out = NULL;
	r->out_off = r->out_len = 0;
	return 0;
}

/*
 * Sends len sealed bytes at p; what the socket does not take is kept in
 * r->out.  0 when all went, SECHO_WANT_WRITE when some wait, or
 * SECHO_IO_ERR.
 */
static int
send_sealed(struct secho_conn *c, struct secho_rec *r,
    const unsigned char *p, size_t len)
{
	ssize_t n;

	do
		n = send(c->fd, p, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
		secho_conn_set_error(c, "write: %s", strerror(errno));
		return SECHO_IO_ERR;
	}
	if (n < 0)
		n = 0;
	if ((size_t)n == len)
		return 0;
	if ((r->out = malloc(len - (size_t)n)) == NULL) {
		secho_conn_set_error(c, "write: out of memory");
		return SECHO_IO_ERR;
	}
	memcpy(r->out, p + n, len - (size_t)n);
	r->out_off = 0;
	r->out_len = len - (size_t)n;
	return SECHO_WANT_WRITE;
}

/*
 * A fatal error: the message into c, and the alert to the client when
 * nothing else is waiting to go (best effort, once).
 */
static int
fail(struct secho_conn *c, struct secho_rec *r, int alert, const char *why)
{
	unsigned char a[2] = { 2, (unsigned char)alert }, rec[64];
	size_t n;

	secho_conn_set_error(c, "%s (sent the alert %s)", why,
	    SSL_alert_desc_string_long(alert));
	if (!(r->state & RS_FAILED) && r->out == NULL &&
	    (n = seal(&r->wr, rec, CT_ALERT, a, sizeof(a))) > 0) {
		(void)!send(c->fd, rec, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		trace_sealed(c, rec, n, CT_ALERT, a, sizeof(a));
	}
	r->state |= RS_FAILED;
	return SECHO_IO_ERR;
}

/* --- reading --- */

/* An alert from the client (6): EOF for close_notify, else an error. */
static int
on_alert(struct secho_conn *c, struct secho_rec *r, const unsigned char *p,
    size_t n)
{
	if (n != 2)	/* 5.1: alerts are never fragmented or coalesced */
		return fail(c, r, AL_DECODE_ERROR, "the client sent a "
		    "malformed alert");
	if (c->trace != NULL)
		secho_trace_msg(c->trace, 0, CT_ALERT, p, n);
	if (p[1] == AL_CLOSE_NOTIFY) {
		r->state |= RS_PEER_CLOSED;
		return SECHO_IO_EOF;
	}
	if (p[1] == AL_USER_CANCELED)	/* 6.1: a close_notify follows */
		return 0;
	r->state |= RS_FAILED;
	secho_conn_set_error(c, "the client ended the connection with the "
	    "alert %s", SSL_alert_desc_string_long(p[1]));
	return SECHO_IO_ERR;
}

/*
 * Post-handshake handshake messages (4.6): from a client only KeyUpdate,
 * possibly in pieces, and the record that ends it must end there too (a
 * key change is aligned with a record boundary, 5.1).
 */
static int
on_handshake(struct secho_conn *c, struct secho_rec *r,
    const unsigned char *p, size_t n)
{
	if (n == 0)	/* 5.1: no zero-length handshake fragments */
		return fail(c, r, AL_UNEXPECTED_MESSAGE, "the client sent "
		    "an empty handshake record");
	for (size_t i = 0; i < n; i++) {
		r->hs[r->hs_len++] = p[i];
		if (r->hs_len == 1 && r->hs[0] != SSL3_MT_KEY_UPDATE)
			return fail(c, r, AL_UNEXPECTED_MESSAGE, "the client "
			    "sent a handshake message after the handshake "
			    "other than KeyUpdate");
		if (r->hs_len == 4 && (r->hs[1] | r->hs[2] | (r->hs[3] ^ 1)))
			return fail(c, r, AL_DECODE_ERROR, "the client sent "
			    "a KeyUpdate of the wrong length");
		if (r->hs_len < 5)
			continue;
		if (r->hs[4] > 1)
			return fail(c, r, AL_ILLEGAL_PARAMETER, "the client "
			    "sent a KeyUpdate with an invalid request");
		if (i + 1 != n)
			return fail(c, r, AL_UNEXPECTED_MESSAGE, "the client "
			    "sent more after a KeyUpdate in one record");
		if (c->trace != NULL)
			secho_trace_msg(c->trace, 0, CT_HANDSHAKE, r->hs,
			    sizeof(r->hs));
		if (r->hs[4] == 1)
			r->state |= RS_KU_OWED;
		r->hs_len = 0;
		if (update_dir(r, &r->rd, 0) == -1)
			return fail(c, r, AL_INTERNAL_ERROR, "cannot update "
			    "the read key");
	}
	return 0;
}

/* Keeps p[0..n), plaintext the caller had no room for. */
static int
keep_plain(struct secho_conn *c, struct secho_rec *r, const unsigned char *p,
    size_t n)
{
	if ((r->plain = malloc(n)) == NULL)
		return fail(c, r, AL_INTERNAL_ERROR, "out of memory");
	memcpy(r->plain, p, n);
	r->plain_off = 0;
	r->plain_len = n;
	return 0;
}

/*
 * Opens the whole records in data[*pos..have) into buf while it has room,
 * advancing *pos past each one used and *got by the bytes delivered.
 * Returns 0 (stopped for a partial record or a full buffer), or an enum
 * secho_io for an EOF or a failure.
 */
static int
open_records(struct secho_conn *c, struct secho_rec *r, unsigned char *data,
    size_t have, size_t *pos, unsigned char *buf, size_t len, size_t *got)
{
	while (have - *pos >= REC_HDR && *got < len) {
		unsigned char *rec = data + *pos, *p = rec + REC_HDR;
		size_t clen = (size_t)rec[3] << 8 | rec[4], n;
		int rc = 0;

		if (rec[0] != CT_APPDATA)	/* 5: nothing else is protected */
			return fail(c, r, AL_UNEXPECTED_MESSAGE, "the client "
			    "sent an unprotected record after the handshake");
		if (clen > REC_CIPHER_MAX)
			return fail(c, r, AL_RECORD_OVERFLOW, "the client sent "
			    "an overlong record");
		if (have - *pos < REC_HDR + clen)
			return 0;	/* the rest is still on its way */
		if (*got > 0 && clen - REC_TAG - 1 > len - *got)
			return 0;	/* may not fit: the next call's */
		if (clen < REC_TAG + 1 || open_in_place(&r->rd, rec, clen) == -1)
			return fail(c, r, AL_BAD_RECORD_MAC, "a record from the "
			    "client failed authentication");
		*pos += REC_HDR + clen;
		trace_record(c, 0, rec);
		/* 5.4: the content type is the last non-zero byte. */
		for (n = clen - REC_TAG; n > 0 && p[n - 1] == 0; n--)
			;
		if (n == 0)
			return fail(c, r, AL_UNEXPECTED_MESSAGE, "the client "
			    "sent a record without a content type");
		if (--n > REC_PLAIN_MAX)
			return fail(c, r, AL_RECORD_OVERFLOW, "the client sent "
			    "an overlong record");
		if (r->hs_len > 0 && p[n] != CT_HANDSHAKE)	/* 5.1 */
			return fail(c, r, AL_UNEXPECTED_MESSAGE, "the client "
			    "interleaved a record with a split handshake "
			    "message");
		switch (p[n]) {
		case CT_APPDATA: {
			size_t take = n < len - *got ? n : len - *got;

			memcpy(buf + *got, p, take);
			*got += take;
			if (take < n)
				rc = keep_plain(c, r, p + take, n - take);
			break;
		}
		case CT_ALERT: rc = on_alert(c, r, p, n); break;
		case CT_HANDSHAKE: rc = on_handshake(c, r, p, n); break;
		default:
			rc = fail(c, r, AL_UNEXPECTED_MESSAGE, "the client "
			    "sent a record of an unknown content type");
		}
		if (rc != 0 || r->plain_len > 0)
			return rc;
	}
	return 0;
}

/* Whether in[0..len) starts with a whole record. */
static int
whole_record(const unsigned char *in, size_t len)
{
	return len >= REC_HDR && len >= REC_HDR + ((size_t)in[3] << 8 | in[4]);
}

/* Keeps data[pos..have) as r->in, the start of the next read. */
static int
keep_rest(struct secho_conn *c, struct secho_rec *r, unsigned char *data,
    size_t pos, size_t have)
{
	if (pos == have) {
		free(r->in);
		r->in = NULL;
		r->in_len = 0;
		return 0;
	}
	if (r->in == NULL && (r->in = malloc(REC_MAX)) == NULL)
		return fail(c, r, AL_INTERNAL_ERROR, "out of memory");
	memmove(r->in, data + pos, have - pos);
	r->in_len = have - pos;
	return 0;
}

/* recv() into p: bytes, 0 at EOF, or an enum secho_io. */
static ssize_t
recv_some(struct secho_conn *c, unsigned char *p, size_t len)
{
	ssize_t n;

	do
		n = recv(c->fd, p, len, 0);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return SECHO_WANT_READ;
	secho_conn_set_error(c, "read: %s", strerror(errno));
	return SECHO_IO_ERR;
}

static ssize_t
take_plain(struct secho_rec *r, unsigned char *buf, size_t len)
{
	size_t n = r->plain_len < len ? r->plain_len : len;

	memcpy(buf, r->plain + r->plain_off, n);
	r->plain_off += n;
	if ((r->plain_len -= n) == 0) {
		free(r->plain);
		r->plain = NULL;
	}
	return (ssize_t)n;
}

static ssize_t
rec_read(struct secho_conn *c, void *buf, size_t len)
{
	struct secho_rec *r = c->rec;
	size_t got = 0;

	if (r->plain_len > 0)
		return take_plain(r, buf, len);
	if (r->state & RS_FAILED)
		return SECHO_IO_ERR;
	if (r->state & RS_PEER_CLOSED)
		return SECHO_IO_EOF;
	for (;;) {
		unsigned char *data = r->in;
		size_t have = r->in_len, pos = 0;
		ssize_t n;
		int rc;

		if (!whole_record(r->in, r->in_len)) {
			/* A partial record grows in r->in, else read anew. */
			data = r->in != NULL ? r->in : rscratch;
			n = recv_some(c, data + have, REC_MAX - have);
			if (n == 0) {
				/* EOF without close_notify (or mid-record). */
				c->flags |= SECHO_CONN_UNCLEAN;
				r->state |= RS_PEER_CLOSED;
				return SECHO_IO_EOF;
			}
			if (n < 0)
				return n;
			have += (size_t)n;
		}
		rc = open_records(c, r, data, have, &pos, buf, len, &got);
		if (rc != SECHO_IO_ERR && keep_rest(c, r, data, pos, have) != 0)
			return SECHO_IO_ERR;
		if (got > 0)
			return (ssize_t)got;	/* an EOF shows on the next call */
		if (rc != 0)
			return rc;
	}
}

static size_t
rec_pending(const struct secho_conn *c)
{
	const struct secho_rec *r = c->rec;

	return r->plain_len + (whole_record(r->in, r->in_len) ? 1 : 0);
}

/* --- writing --- */

/* The KeyUpdate we send: not requesting one back (4.6.3). */
static const unsigned char key_update[5] = { SSL3_MT_KEY_UPDATE, 0, 0, 1, 0 };

/* The KeyUpdate we owe or want, then our next key. */
static size_t
seal_key_update(struct secho_rec *r, unsigned char *out)
{
	size_t n = seal(&r->wr, out, CT_HANDSHAKE, key_update,
	    sizeof(key_update));

	r->state &= ~RS_KU_OWED;
	if (n == 0 || update_dir(r, &r->wr, 1) == -1)
		return 0;
	return n;
}

static ssize_t
rec_write(struct secho_conn *c, const void *buf, size_t len)
{
	struct secho_rec *r = c->rec;
	const unsigned char *p = buf;
	size_t o = 0, done = 0, ku_len;
	int rc;

	if (r->state & (RS_FAILED | RS_SENT_CLOSE)) {
		secho_conn_set_error(c, "write: the connection is closed");
		return SECHO_IO_ERR;
	}
	if (r->out != NULL) {
		/* The retried call of a write that did not all go. */
		if ((rc = flush_out(c, r)) != 0)
			return rc;
		if (r->out_plain > 0) {
			done = r->out_plain;
			r->out_plain = 0;
			return (ssize_t)done;
		}
	}
	if (r->wr.seq >= REC_REKEY_AFTER)
		r->state |= RS_KU_OWED;
	if ((r->state & RS_KU_OWED) && (o = seal_key_update(r, wscratch)) == 0)
		return fail(c, r, AL_INTERNAL_ERROR, "cannot update the "
		    "write key");
	if (o > 0)
		trace_sealed(c, wscratch, o, CT_HANDSHAKE, key_update,
		    sizeof(key_update));
	ku_len = o;
	while (done < len && o + REC_MAX <= sizeof(wscratch)) {
		size_t n = len - done < REC_PLAIN_MAX ? len - done :
		    REC_PLAIN_MAX, s = seal(&r->wr, wscratch + o, CT_APPDATA,
		    p + done, n);

		if (s == 0)
			return fail(c, r, AL_INTERNAL_ERROR, "cannot seal a "
			    "record");
		o += s;
		done += n;
	}
	if (c->trace != NULL)
		trace_sealed(c, wscratch + ku_len, o - ku_len, CT_APPDATA,
		    NULL, 0);
	if ((rc = send_sealed(c, r, wscratch, o)) == SECHO_IO_ERR)
		return rc;
	if (rc == SECHO_WANT_WRITE) {
		r->out_plain = done;
		return rc;
	}
	return (ssize_t)done;
}

static int
rec_shutdown(struct secho_conn *c)
{
	static const unsigned char cn[2] = { 1, AL_CLOSE_NOTIFY };
	struct secho_rec *r = c->rec;
	unsigned char rec[64];
	size_t n;
	int rc;

	if (r->state & RS_FAILED)
		return 0;	/* an alert went out already; just close */
	if (r->out != NULL && (rc = flush_out(c, r)) != 0)
		return rc;
	if (r->state & RS_SENT_CLOSE)
		return 0;
	r->state |= RS_SENT_CLOSE;
	if ((n = seal(&r->wr, rec, CT_ALERT, cn, sizeof(cn))) == 0) {
		secho_conn_set_error(c, "shutdown: cannot seal close_notify");
		return SECHO_IO_ERR;
	}
	trace_sealed(c, rec, n, CT_ALERT, cn, sizeof(cn));
	rc = send_sealed(c, r, rec, n);
	return rc == SECHO_IO_ERR ? rc : rc == SECHO_WANT_WRITE ? rc : 0;
}

static void
rec_close(struct secho_conn *c)
{
	struct secho_rec *r = c->rec;
	struct secho_tls *t = r->t;

	secho_rec_free(r);
	c->rec = NULL;
	secho_trace_free(c->trace);
	c->trace = NULL;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	secho_tls_free(t);	/* this connection's reference */
}

static char *
rec_describe(const struct secho_conn *c, char *buf, size_t len)
{
	const struct secho_rec *r = c->rec;

	snprintf(buf, len, "%s", r->desc);
	return buf;
}

/* Called only once the handshake is done, like every op here. */
static int
rec_handshake(struct secho_conn *c)
{
	(void)c;
	return 0;
}

const struct secho_transport_ops secho_tls_rec_ops = {
	.name = "tls",
	.handshake = rec_handshake,
	.describe = rec_describe,
	.read = rec_read,
	.write = rec_write,
	.pending = rec_pending,
	.shutdown = rec_shutdown,
	.close = rec_close,
};

/* --- the hand-over from OpenSSL --- */

/*
 * Counts the records each side protected under its application traffic
 * key: those after its Finished (OpenSSL reports a record's header
 * before the message in it, so Finished's own record is not counted).
 */
void
secho_rec_msg(struct secho_rec *r, int write_p, int content_type,
    const void *buf, size_t len)
{
	struct rec_dir *d = write_p ? &r->wr : &r->rd;
	const unsigned char *p = buf;

	if (content_type == SSL3_RT_HEADER) {
		if (d->app)
			d->seq++;
		return;
	}
	if (content_type != SSL3_RT_HANDSHAKE || len == 0)
		return;
	if (p[0] == SSL3_MT_FINISHED)
		d->app = 1;
	else if (p[0] == SSL3_MT_KEY_UPDATE)
		r->state |= RS_NEVER;	/* the secrets we have are stale */
}

static int
unhex(const char *s, unsigned char *out, size_t max, size_t *len)
{
	size_t n = strlen(s);

	if (n % 2 != 0 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v = 0;

		for (int k = 0; k < 2; k++) {
			char ch = s[2 * i + k];

			v <<= 4;
			if (ch >= '0' && ch <= '9')
				v |= (unsigned)(ch - '0');
			else if (ch >= 'a' && ch <= 'f')
				v |= (unsigned)(ch - 'a' + 10);
			else
				return -1;
		}
		out[i] = (unsigned char)v;
	}
	*len = n / 2;
	return 0;
}

void
secho_rec_keylog(const SSL *ssl, const char *line)
{
	struct secho_rec *r;
	struct rec_dir *d;
	const char *secret;
	size_t n;

	if (ex_index < 0 || (r = SSL_get_ex_data(ssl, ex_index)) == NULL)
		return;
	if (strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0)
		d = &r->rd;
	else if (strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0)
		d = &r->wr;
	else
		return;
	/* "LABEL <client random> <secret>" */
	if ((secret = strrchr(line, ' ')) == NULL ||
	    unhex(secret + 1, d->secret, sizeof(d->secret), &n) == -1) {
		r->state |= RS_NEVER;
		return;
	}
	r->hashlen = n;
	d->have_secret = 1;
}

int
secho_rec_prepare(struct secho_conn *c)
{
	struct secho_rec *r;

	pthread_once(&fetch_once, fetch_all);
	if (ex_index < 0 || aes128gcm == NULL)
		return 0;	/* not available: OpenSSL's layer serves */
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -1;
	if (!SSL_set_ex_data(c->tls, ex_index, r)) {
		free(r);
		return -1;
	}
	c->rec = r;
	secho_tls_msg_watch(c);	/* shared with --trace (tls_trace.c) */
	return 0;
}

/* The suite's cipher and hash, or -1 for one this file does not do. */
static int
pick_suite(struct secho_rec *r, SSL *ssl)
{
	const SSL_CIPHER *sc = SSL_get_current_cipher(ssl);
	uint32_t id = sc != NULL ? SSL_CIPHER_get_id(sc) : 0;

	switch (id) {
	case 0x03001301: r->cipher = aes128gcm; r->keylen = 16; break;
	case 0x03001302: r->cipher = aes256gcm; r->keylen = 32; break;
	case 0x03001303: r->cipher = chacha; r->keylen = 32; break;
	default: return -1;
	}
	r->md = id == 0x03001302 ? sha384 : sha256;
	return r->cipher != NULL && r->md != NULL &&
	    (size_t)EVP_MD_get_size(r->md) == r->hashlen ? 0 : -1;
}

/* Stops watching: this connection stays on OpenSSL's layer. */
static void
give_up(struct secho_conn *c)
{
	if (c->trace == NULL)	/* else the trace still needs it */
		SSL_set_msg_callback(c->tls, NULL);
	SSL_set_ex_data(c->tls, ex_index, NULL);
	secho_rec_free(c->rec);
	c->rec = NULL;
}

void
secho_rec_write_blocked(struct secho_conn *c, int blocked)
{
	struct secho_rec *r = c->rec;

	if (blocked)
		r->state |= RS_WBLOCKED;
	else
		r->state &= ~RS_WBLOCKED;
}

int
secho_rec_try_start(struct secho_conn *c)
{
	struct secho_rec *r = c->rec;
	SSL *ssl = c->tls;

	if (!(c->flags & SECHO_CONN_HS_DONE))
		return 0;
	if ((r->state & RS_NEVER) || SSL_version(ssl) != TLS1_3_VERSION ||
	    !r->rd.have_secret || !r->wr.have_secret || pick_suite(r, ssl) ==
	    -1 || SSL_get_shutdown(ssl) != 0) {
		give_up(c);
		return 0;
	}
	/* Wait until OpenSSL holds nothing of the stream. */
	if (SSL_has_pending(ssl) || (r->state & RS_WBLOCKED) ||
	    SSL_get_key_update_type(ssl) != SSL_KEY_UPDATE_NONE)
		return 0;
	{
		uint64_t rseq = r->rd.seq, wseq = r->wr.seq;

		if (key_dir(r, &r->rd, 0) == -1 || key_dir(r, &r->wr, 1) ==
		    -1) {
			ERR_clear_error();
			give_up(c);
			return 0;
		}
		r->rd.seq = rseq;
		r->wr.seq = wseq;
	}
	/*
	 * The SSL object (about 9 KiB with its own record layer's contexts)
	 * is of no more use: an idle connection keeps only this.  Marked
	 * shut down first, so a session cached for resumption by id stays.
	 */
	secho_tls_describe(c, r->desc, sizeof(r->desc));
	r->resumed = SSL_session_reused(ssl);
	r->t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(ssl);
	c->tls = NULL;
	r->state |= RS_ACTIVE;
	c->ops = &secho_tls_rec_ops;
	return 1;
}

int
secho_rec_resumed(const struct secho_conn *c)
{
	const struct secho_rec *r = c->rec;

	return r->resumed;
}

int
secho_tls_conn_own_records(const struct secho_conn *c)
{
	return c->ops == &secho_tls_rec_ops;
}

void
secho_rec_free(struct secho_rec *r)
{
	if (r == NULL)
		return;
	EVP_CIPHER_CTX_free(r->rd.ctx);
	EVP_CIPHER_CTX_free(r->wr.ctx);
	free(r->in);
	free(r->plain);
	free(r->out);
	OPENSSL_cleanse(r, sizeof(*r));
	free(r);
}
