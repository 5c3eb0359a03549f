/*
 * fuzz_proxy.c - the PROXY protocol parser on what a hostile peer sends
 * before its stream, and the CIDR parser on --proxy-from values.  Checks
 * the parser's promises: a length never past the input, terminated
 * strings, bounded TLVs, every prefix of an accepted header "needs
 * more", and what it accepted builds back into a header it accepts.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "secho/proxy.h"

static void
check_info(const struct secho_proxy_info *pi)
{
	const char *s[] = { pi->alpn, pi->authority, pi->ssl_version,
	    pi->ssl_cn, pi->ssl_cipher, pi->ssl_sig_alg, pi->ssl_key_alg };

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		if (memchr(s[i], '\0', SECHO_PROXY_STR_MAX) == NULL)
			abort();
	if (pi->unique_id_len > SECHO_PROXY_UNIQUE_ID_MAX ||
	    (pi->version != 1 && pi->version != 2))
		abort();
}

/* An accepted PROXY header of one family rebuilds into the same peer. */
static void
check_rebuild(const struct secho_proxy_info *pi)
{
	unsigned char buf[SECHO_PROXY_V2_MAX];
	struct secho_proxy_info again;
	ssize_t n;

	if (pi->local || pi->src.len == 0)
		return;
	n = secho_proxy_build(pi->version, (const struct sockaddr *)
	    &pi->src.ss, (const struct sockaddr *)&pi->dst.ss, pi->dgram &&
	    pi->version == 2, NULL, buf, sizeof(buf));
	if (n <= 0 || secho_proxy_parse(buf, (size_t)n, &again) != n ||
	    again.src.len != pi->src.len ||
	    memcmp(&again.src.ss, &pi->src.ss, pi->src.len) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct secho_proxy_info pi;
	struct secho_cidr c;
	ssize_t n = secho_proxy_parse(data, size, &pi);
	char *s;

	if (n < -1 || n > (ssize_t)size)
		abort();
	if (n > 0) {
		check_info(&pi);
		/* A shorter view of an accepted header can only wait. */
		if (secho_proxy_parse(data, (size_t)n - 1, &pi) != 0)
			abort();
		secho_proxy_parse(data, (size_t)n, &pi);
		check_rebuild(&pi);
	}
	if ((s = fz_strndup(data, size < 64 ? size : 64)) != NULL) {
		if (secho_cidr_parse(s, &c) == 0 && (c.bits < 0 ||
		    c.bits > (c.family == AF_INET ? 32 : 128)))
			abort();
		free(s);
	}
	return 0;
}
