/*
 * secho.h - version, I/O result codes and the thread-local error message
 * shared by every secho module.
 *
 * The error contract (as libtls'): a failing library call returns -1 (or
 * NULL, or an enum secho_io value) and leaves exactly one message,
 * formatted once when the failure happens: in the object it acted on when
 * that object outlives the call (a connection: secho_conn_error(c)),
 * otherwise in the calling thread's secho_error().  Library code never
 * prints an error and never chooses an exit code; only the programs in
 * src/cmd/ do.  What a program is for (echoes, ping lines, reports, -v
 * notes, the server's log) is its output, not an error, and may come
 * from the library.
 */
#ifndef SECHO_SECHO_H
#define SECHO_SECHO_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

#define SECHO_VERSION "0.1.0"

#define SECHO_PORT_PLAIN 7007	/* tcp and udp */
#define SECHO_PORT_TLS   7443	/* tls and dtls */

/*
 * Results of transport I/O.  Non-negative values are byte counts; these
 * negative values tell the caller what to do next, like libtls'
 * TLS_WANT_POLLIN / TLS_WANT_POLLOUT.
 */
enum secho_io {
	SECHO_IO_ERR = -1,	/* fatal; secho_conn_error() says why */
	SECHO_WANT_READ = -2,	/* retry when the fd is readable */
	SECHO_WANT_WRITE = -3,	/* retry when the fd is writable */
	SECHO_IO_EOF = -4,	/* peer closed (see SECHO_CONN_UNCLEAN) */
};

/* The transports a listener or a client can use. */
enum secho_proto {
	SECHO_TCP,
	SECHO_TLS,
	SECHO_UDP,
	SECHO_DTLS,
	SECHO_PROTO_COUNT
};

/* "tcp", "tls", "udp", "dtls". */
const char *secho_proto_name(enum secho_proto p);
/* Parses a name as above; returns -1 if unknown. */
int secho_proto_parse(const char *name, enum secho_proto *p);
/* True for udp and dtls. */
int secho_proto_is_dgram(enum secho_proto p);
/* True for tls and dtls. */
int secho_proto_is_secure(enum secho_proto p);
/* The documented default port of a transport. */
unsigned secho_proto_default_port(enum secho_proto p);

/*
 * The calling thread's last error message.  Every function that fails
 * with -1 / NULL sets it; it stays valid until the next failure on the
 * same thread.
 */
const char *secho_error(void);

/* Sets the message (printf format). */
void secho_error_set(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* The same with a va_list, for functions that take a format themselves. */
void secho_error_vset(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

/* Sets the message to "<prefix>: strerror(errno)", keeping errno. */
void secho_error_errno(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/*
 * Formats a message into buf, the error slot of an object that outlives
 * the failing call (like a connection's, see secho_conn_set_error()).
 */
void secho_error_format(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Monotonic clock in microseconds. */
unsigned long long secho_now_us(void);

#endif
