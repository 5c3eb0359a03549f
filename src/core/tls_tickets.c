/*
 * tls_tickets.c - session ticket keys a server can share and rotate.
 *
 * With --ticket-key-file, every server reading the same 80 bytes (name,
 * HMAC key, AES key, as nginx's ssl_session_ticket_key) encrypts tickets
 * alike, so a client resumes on whichever server a load balancer picks.
 * After a reload the previous key still opens tickets (and they are
 * renewed), so rotating the file costs no full handshakes.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "tls_int.h"

#define TKEY_LEN 80	/* 16 name + 32 HMAC + 32 AES-256 */

static int
read_key_file(const char *path, unsigned char key[TKEY_LEN])
{
	unsigned char extra;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1) {
		secho_error_errno("cannot read ticket key file %s", path);
		return -1;
	}
	n = read(fd, key, TKEY_LEN);
	if (n == TKEY_LEN && read(fd, &extra, 1) == 0) {
		close(fd);
		return 0;
	}
	close(fd);
	secho_error_set("ticket key file %s must hold exactly %d bytes (e.g. "
	    "head -c %d /dev/urandom > %s)", path, TKEY_LEN, TKEY_LEN, path);
	return -1;
}

static int
set_mac_key(EVP_MAC_CTX *hctx, unsigned char *key)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
		    (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};

	return EVP_MAC_CTX_set_params(hctx, params);
}

static int
ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct secho_tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	unsigned char *k;

	if (enc) {	/* a new ticket: always the current key */
		k = t->tkeys[0];
		memcpy(name, k, 16);
		if (RAND_bytes(iv, 16) != 1 ||
		    !EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k + 48,
		    iv) || !set_mac_key(hctx, k + 16))
			return -1;
		return 1;
	}
	for (int i = 0; i < t->ntkeys; i++) {
		k = t->tkeys[i];
		if (memcmp(name, k, 16) != 0)
			continue;
		if (!EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k + 48,
		    iv) || !set_mac_key(hctx, k + 16))
			return -1;
		/*
		 * 2: valid, and issue a new one.  Always under TLS 1.3,
		 * where OpenSSL sends no ticket on a resumed handshake
		 * unless told to, and a client holding a used session
		 * (RFC 8446 C.4: tickets are single-use) then makes a full
		 * handshake on its next connection; for TLS 1.2 only when
		 * the ticket is under the previous key.
		 */
		return i == 0 && SSL_version(ssl) != TLS1_3_VERSION ? 1 : 2;
	}
	return 0;	/* unknown key: a full handshake */
}

int
secho_tls_tickets_setup(struct secho_tls *t, const struct secho_tls *old)
{
	unsigned char keys[TKEY_LEN];

	if (t->opts->no_tickets)
		return 0;
	if (t->opts->ticket_key_file == NULL) {
		/* OpenSSL's own random keys: carry them over a reload. */
		if (old != NULL && SSL_CTX_get_tlsext_ticket_keys(old->ctx, keys,
		    sizeof(keys)) == 1)
			SSL_CTX_set_tlsext_ticket_keys(t->ctx, keys,
			    sizeof(keys));
		return 0;
	}
	if (read_key_file(t->opts->ticket_key_file, t->tkeys[0]) == -1)
		return -1;
	t->ntkeys = 1;
	if (old != NULL && old->ntkeys > 0 &&
	    memcmp(old->tkeys[0], t->tkeys[0], TKEY_LEN) != 0) {
		memcpy(t->tkeys[1], old->tkeys[0], TKEY_LEN);
		t->ntkeys = 2;
	}
	if (SSL_CTX_set_tlsext_ticket_key_evp_cb(t->ctx, ticket_cb) != 1) {
		secho_error_set("cannot install the ticket key callback");
		return -1;
	}
	return 0;
}
