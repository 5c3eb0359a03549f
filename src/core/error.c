/*
 * error.c - where a failure's message is kept: the calling thread's
 * secho_error(), or the object the failing call acted on (a connection's
 * err).  Every message is formatted here, once, when the failure happens.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "secho/secho.h"
#include "secho/transport.h"

static _Thread_local char errbuf[512];

static void
vformat(char *buf, size_t len, const char *fmt, va_list ap)
{
	vsnprintf(buf, len, fmt, ap);
}

const char *
secho_error(void)
{
	return errbuf;
}

void
secho_error_set(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vformat(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
}

void
secho_error_vset(const char *fmt, va_list ap)
{
	vformat(errbuf, sizeof(errbuf), fmt, ap);
}

void
secho_error_errno(const char *fmt, ...)
{
	int saved = errno;
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vformat(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	n = strlen(errbuf);
	snprintf(errbuf + n, sizeof(errbuf) - n, ": %s", strerror(saved));
	errno = saved;
}

void
secho_error_format(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vformat(buf, len, fmt, ap);
	va_end(ap);
}

void
secho_conn_set_error(struct secho_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vformat(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

const char *
secho_conn_op_name(enum secho_conn_op op)
{
	static const char *const names[] = {
		[SECHO_OP_READ] = "read",
		[SECHO_OP_WRITE] = "write",
		[SECHO_OP_HANDSHAKE] = "handshake",
		[SECHO_OP_SHUTDOWN] = "shutdown",
	};

	return (unsigned)op < sizeof(names) / sizeof(names[0]) ? names[op] :
	    "?";
}
