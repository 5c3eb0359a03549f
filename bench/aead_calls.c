/*
 * aead_calls.c - what OpenSSL 3.0's EVP calls cost around one small TLS
 * 1.3 record: seals and opens N records of 65 bytes with AES-128-GCM, the
 * nonce set per record in one of three ways, so that callgrind can count
 * the instructions of each (docs/benchmarks.md, "Levers").
 *
 *   cc -O2 bench/aead_calls.c -o aead_calls -lcrypto
 *   valgrind --tool=callgrind ./aead_calls 0      (and 1, 2)
 *
 * 0: EVP_CipherInit_ex with the nonce, Update/Final, tag by ctrl
 * 1: the nonce as the provider's whole-IV parameter, tag as a parameter
 *    (what src/core/tls_rec.c does)
 * 2: as 1, with EVP_Cipher() instead of Update/Final
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define N	100000
#define LEN	65

static int
set_nonce(EVP_CIPHER_CTX *c, unsigned char *nonce, int variant, int enc)
{
	OSSL_PARAM p[2] = { OSSL_PARAM_construct_octet_string(
	    OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, nonce, (size_t)-1),
	    OSSL_PARAM_END };

	if (variant == 0)
		return EVP_CipherInit_ex(c, NULL, NULL, NULL, nonce, enc);
	return EVP_CIPHER_CTX_set_params(c, p);
}

static int
tag(EVP_CIPHER_CTX *c, unsigned char *t, int variant, int enc)
{
	OSSL_PARAM p[2] = { OSSL_PARAM_construct_octet_string(
	    OSSL_CIPHER_PARAM_AEAD_TAG, t, 16), OSSL_PARAM_END };

	if (variant == 0)
		return EVP_CIPHER_CTX_ctrl(c, enc ? EVP_CTRL_AEAD_GET_TAG :
		    EVP_CTRL_AEAD_SET_TAG, 16, t);
	return enc ? EVP_CIPHER_CTX_get_params(c, p) :
	    EVP_CIPHER_CTX_set_params(c, p);
}

/* One record through c: the header as AAD, the body, the tag. */
static int
one_record(EVP_CIPHER_CTX *c, int variant, int enc, const unsigned char *hdr,
    const unsigned char *in, unsigned char *out, unsigned char *t)
{
	int l;

	if (variant == 2) {
		if (!enc && !tag(c, t, variant, 0))
			return 0;
		return EVP_Cipher(c, NULL, hdr, 5) >= 0 &&
		    EVP_Cipher(c, out, in, LEN) >= 0 &&
		    EVP_Cipher(c, NULL, NULL, 0) >= 0 &&
		    (!enc || tag(c, t, variant, 1));
	}
	if (!EVP_CipherUpdate(c, NULL, &l, hdr, 5) ||
	    !EVP_CipherUpdate(c, out, &l, in, LEN))
		return 0;
	if (!enc && !tag(c, t, variant, 0))
		return 0;
	return EVP_CipherFinal_ex(c, out + LEN, &l) &&
	    (!enc || tag(c, t, variant, 1));
}

int
main(int argc, char **argv)
{
	static const unsigned char key[16] = { 1 }, hdr[5] = { 23, 3, 3, 0,
	    LEN + 16 };
	unsigned char nonce[12] = { 2 }, plain[LEN], sealed[LEN + 16],
	    opened[LEN + 16], t[16];
	int variant = argc > 1 ? atoi(argv[1]) : 0, ok = 0;
	EVP_CIPHER *gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new(), *d = EVP_CIPHER_CTX_new();

	if (gcm == NULL || e == NULL || d == NULL ||
	    !EVP_EncryptInit_ex(e, gcm, NULL, key, NULL) ||
	    !EVP_DecryptInit_ex(d, gcm, NULL, key, NULL))
		return 1;
	memset(plain, 7, sizeof(plain));
	for (int i = 0; i < N; i++) {
		nonce[11] = (unsigned char)i;
		nonce[10] = (unsigned char)(i >> 8);
		ok += set_nonce(e, nonce, variant, 1) &&
		    one_record(e, variant, 1, hdr, plain, sealed, t) &&
		    set_nonce(d, nonce, variant, 0) &&
		    one_record(d, variant, 0, hdr, sealed, opened, t) &&
		    memcmp(opened, plain, LEN) == 0;
	}
	printf("variant %d: %d of %d records sealed and opened\n", variant,
	    ok, N);
	EVP_CIPHER_CTX_free(e);
	EVP_CIPHER_CTX_free(d);
	EVP_CIPHER_free(gcm);
	return ok == N ? 0 : 1;
}
