/*
 * check_hello.c - the JA3 and JA4 fingerprints (src/core/tls_hello.c)
 * against published vectors: a Chrome ClientHello's JA4, raw and hashed,
 * and its JA3 string and MD5; and JA4's corner cases (no ALPN, an ALPN
 * that is not alphanumeric, no signature algorithms, DTLS).  The
 * fingerprints of real handshakes are checked against tshark in
 * check_capture.c.
 */
#include <stdlib.h>
#include <string.h>

#include "secho/tls.h"
#include "testutil.h"

static void
fill(uint16_t *dst, size_t *n, const uint16_t *src, size_t count)
{
	memcpy(dst, src, count * sizeof(*src));
	*n = count;
}

#define FILL(field, ...) do { \
	static const uint16_t v_[] = { __VA_ARGS__ }; \
	fill(h->field, &h->n##field, v_, sizeof(v_) / sizeof(v_[0])); \
} while (0)

/* A Chrome 143 ClientHello as a fingerprinting service reported it
 * (ja3_text, ja4, ja4_r): extensions in the order sent. */
static void
chrome(struct secho_hello *h)
{
	memset(h, 0, sizeof(*h));
	h->legacy_version = 771;
	FILL(ciphers, 4865, 4866, 4867, 49195, 49199, 49196, 49200, 52393,
	    52392, 49171, 49172, 156, 157, 47, 53);
	FILL(exts, 45, 51, 16, 65037, 23, 17613, 0, 11, 10, 43, 65281, 35,
	    18, 5, 13, 27);
	FILL(groups, 4588, 29, 23, 24);
	FILL(sigalgs, 0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806,
	    0x0601);
	FILL(versions, 0x0304, 0x0303);
	h->point_formats[0] = 0;
	h->npoint_formats = 1;
	h->sni = 1;
	memcpy(h->alpn, "h2", 2);
	h->alpn_len = 2;
}

START_TEST(ja4_vector)
{
	struct secho_hello h;
	char raw[2048], ja4[48];

	chrome(&h);
	secho_ja4(&h, raw, sizeof(raw), ja4);
	ck_assert_str_eq(ja4, "t13d1516h2_8daaf6152771_d8a2da3f94cd");
	ck_assert_str_eq(raw, "t13d1516h2_002f,0035,009c,009d,1301,1302,"
	    "1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,"
	    "000d,0012,0017,001b,0023,002b,002d,0033,44cd,fe0d,ff01_0403,"
	    "0804,0401,0503,0805,0501,0806,0601");
}
END_TEST

START_TEST(ja3_vector)
{
	struct secho_hello h;
	char str[2048], hash[33];

	chrome(&h);
	secho_ja3(&h, str, sizeof(str), hash);
	ck_assert_str_eq(str, "771,4865-4866-4867-49195-49199-49196-49200-"
	    "52393-52392-49171-49172-156-157-47-53,45-51-16-65037-23-17613-0-"
	    "11-10-43-65281-35-18-5-13-27,4588-29-23-24,0");
	ck_assert_str_eq(hash, "98487aa16281980e7d1120d399efb6a4");
}
END_TEST

/* JA4_a's corner cases; the hashes follow from the raw form. */
START_TEST(ja4_corners)
{
	struct secho_hello h;
	char raw[2048], ja4[48];

	chrome(&h);
	h.alpn_len = 0;
	h.sni = 0;
	secho_ja4(&h, raw, sizeof(raw), ja4);
	ck_assert_msg(strncmp(ja4, "t13i151600_", 11) == 0, "%s", ja4);
	/* Not alphanumeric: the first and last hex digits instead. */
	memcpy(h.alpn, "\x01x\xfe", 3);
	h.alpn_len = 3;
	secho_ja4(&h, raw, sizeof(raw), ja4);
	ck_assert_msg(strncmp(ja4, "t13i1516", 8) == 0 &&
	    strncmp(ja4 + 8, "0e", 2) == 0, "%s", ja4);
	/* No signature algorithms: no "_" before them in the raw form. */
	h.nsigalgs = 0;
	secho_ja4(&h, raw, sizeof(raw), ja4);
	ck_assert_msg(raw[strlen(raw) - 1] != '_' &&
	    strstr(raw, "ff01_") == NULL, "%s", raw);
	/* No ciphers: zeros, not the hash of nothing. */
	h.nciphers = 0;
	secho_ja4(&h, raw, sizeof(raw), ja4);
	ck_assert_msg(strstr(ja4, "_000000000000_") != NULL, "%s", ja4);
	/* DTLS 1.2 without supported_versions. */
	memset(&h, 0, sizeof(h));
	h.dtls = 1;
	h.legacy_version = 0xfefd;
	secho_ja4(&h, raw, sizeof(raw), ja4);
	ck_assert_str_eq(ja4, "dd2i000000_000000000000_000000000000");
}
END_TEST

Suite *
hello_suite(void)
{
	Suite *s = suite_create("hello");
	TCase *tc = tcase_create("hello");

	tcase_add_test(tc, ja4_vector);
	tcase_add_test(tc, ja3_vector);
	tcase_add_test(tc, ja4_corners);
	suite_add_tcase(s, tc);
	return s;
}
