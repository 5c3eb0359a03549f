/*
 * fuzz_endpoint.c - address and transport parsing: "[PROTO://]HOST[:PORT]"
 * specs, port numbers, transport names and IP literals, as users type
 * them into -l, HOST and PORT.  Checks the promises of net.h too: a
 * parsed endpoint has a terminated host and a port of -1 or 0..65535.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "secho/net.h"

static void
check_endpoint(const char *s)
{
	struct secho_endpoint ep;

	memset(&ep, 0xa5, sizeof(ep));
	ep.proto = SECHO_DTLS;	/* a spec without a proto keeps it */
	if (secho_endpoint_parse(s, &ep) == -1)
		return;
	if (memchr(ep.host, '\0', sizeof(ep.host)) == NULL ||
	    ep.port < -1 || ep.port > 65535 ||
	    (unsigned)ep.proto >= SECHO_PROTO_COUNT)
		abort();
	/* What the server binds: it must be an address or a name. */
	(void)secho_net_is_ip(ep.host);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fz_strndup(data, size);
	enum secho_proto p;
	int port = -2;

	if (s == NULL)
		return 0;
	check_endpoint(s);
	if (secho_port_parse(s, &port) == 0 && (port < 0 || port > 65535))
		abort();
	if (secho_proto_parse(s, &p) == 0 &&
	    strcmp(secho_proto_name(p), s) != 0)
		abort();
	(void)secho_net_is_ip(s);
	free(s);
	return 0;
}
