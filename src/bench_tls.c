/*
 * bench_tls.c - the two things secho-bench needs from OpenSSL that the
 * transport API does not offer, kept here so that no other bench file
 * includes it: a client context that never offers a session (hs measures
 * full handshakes unless --resume), and whether a handshake resumed,
 * without the certificate formatting of secho_tls_conn_info().
 */
#include "bench_int.h"
#include "tls_int.h"

void
secho_bench_tls_no_resume(struct secho_tls *t)
{
	/* With the client cache off OpenSSL never hands a session to
	 * tls.c's new-session callback, so none is offered later. */
	SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
}

int
secho_bench_tls_resumed(const struct secho_conn *c)
{
	return secho_conn_is_tls(c) && SSL_session_reused(c->tls);
}
