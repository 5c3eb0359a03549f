/*
 * util.c - transport names and the clock: the few things every module
 * needs (the error messages are in error.c).
 */
#include <string.h>
#include <time.h>

#include "secho/secho.h"

static const struct {
	const char *name;
	unsigned port;
	int dgram;
	int secure;
} protos[SECHO_PROTO_COUNT] = {
	[SECHO_TCP] = { "tcp", SECHO_PORT_PLAIN, 0, 0 },
	[SECHO_TLS] = { "tls", SECHO_PORT_TLS, 0, 1 },
	[SECHO_UDP] = { "udp", SECHO_PORT_PLAIN, 1, 0 },
	[SECHO_DTLS] = { "dtls", SECHO_PORT_TLS, 1, 1 },
};

const char *
secho_proto_name(enum secho_proto p)
{
	return (unsigned)p < SECHO_PROTO_COUNT ? protos[p].name : "?";
}

int
secho_proto_parse(const char *name, enum secho_proto *p)
{
	for (int i = 0; i < SECHO_PROTO_COUNT; i++) {
		if (strcmp(name, protos[i].name) == 0) {
			*p = (enum secho_proto)i;
			return 0;
		}
	}
	secho_error_set("unknown transport '%s' (expected tcp, tls, udp or "
	    "dtls)", name);
	return -1;
}

int
secho_proto_is_dgram(enum secho_proto p)
{
	return protos[p].dgram;
}

int
secho_proto_is_secure(enum secho_proto p)
{
	return protos[p].secure;
}

unsigned
secho_proto_default_port(enum secho_proto p)
{
	return protos[p].port;
}

unsigned long long
secho_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL;
}
