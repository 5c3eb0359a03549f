/*
 * tls.c - TLS and DTLS contexts and connections over OpenSSL 3.
 *
 * Builds one SSL_CTX per role with secure defaults, maps every SSL_ERROR_*
 * onto enum secho_io, and turns OpenSSL's error queue into one sentence a
 * person can act on.  With dtls.c, tls_verify.c, tls_info.c and
 * tls_tickets.c it is the only code that includes OpenSSL (through
 * tls_int.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tls_int.h"



/* The reason of the oldest queued OpenSSL error, or a fallback. */
const char *
secho_tls_reason(const char *fallback)
{
	const char *r = ERR_reason_error_string(ERR_peek_error());

	return r != NULL ? r : fallback;
}

static int
file_error(const char *what, const char *path)
{
	unsigned long e = ERR_peek_last_error();
	int sys = ERR_SYSTEM_ERROR(e) ? (int)ERR_GET_REASON(e) : 0;

	if (sys == ENOENT || access(path, R_OK) == -1) {
		secho_error_set("cannot read %s %s: %s%s", what, path,
		    strerror(sys != 0 ? sys : errno),
		    (sys == ENOENT || errno == ENOENT) ?
		    " (run 'make certs' to create it)" : "");
	} else
		secho_error_set("cannot load %s %s: %s", what, path,
		    secho_tls_reason("not a valid PEM file"));
	ERR_clear_error();
	return -1;
}

static int
mismatch(const char *cert, const char *key)
{
	secho_error_set("certificate %s does not match private key %s", cert,
	    key);
	ERR_clear_error();
	return -1;
}

/*
 * A server cannot stop to ask for a passphrase (nor should it sit at a
 * prompt): refuse, and remember that one was wanted.
 */
static int
no_passphrase_cb(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	*(int *)u = 1;
	return -1;
}

/* Loads a certificate chain and its key, and proves they belong together. */
static int
load_pair(struct secho_tls *t, const char *cert, const char *key)
{
	int wanted_pass = 0;

	if (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1)
		return file_error("certificate", cert);
	SSL_CTX_set_default_passwd_cb(t->ctx, no_passphrase_cb);
	SSL_CTX_set_default_passwd_cb_userdata(t->ctx, &wanted_pass);
	if (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1) {
		SSL_CTX_set_default_passwd_cb_userdata(t->ctx, NULL);
		if (wanted_pass) {
			secho_error_set("private key %s is encrypted: secho "
			    "needs it unencrypted (openssl pkey -in %s -out "
			    "plain.key)", key, key);
			ERR_clear_error();
			return -1;
		}
		if (ERR_GET_REASON(ERR_peek_last_error()) ==
		    X509_R_KEY_VALUES_MISMATCH)
			return mismatch(cert, key);
		return file_error("private key", key);
	}
	SSL_CTX_set_default_passwd_cb_userdata(t->ctx, NULL);
	if (SSL_CTX_check_private_key(t->ctx) != 1)
		return mismatch(cert, key);
	return 0;
}

static void
keylog_cb(const SSL *ssl, const char *line)
{
	struct secho_tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	char buf[512];
	int n;

	if (t == NULL || t->keylog_fd == -1)
		return;
	/* One write per line: O_APPEND keeps lines whole across processes. */
	n = snprintf(buf, sizeof(buf), "%s\n", line);
	if (n > 0 && (size_t)n < sizeof(buf) &&
	    write(t->keylog_fd, buf, (size_t)n) != n)
		return;	/* a lost key line must not break the session */
}

static int
setup_keylog(struct secho_tls *t, const char *path)
{
	struct stat st;

	t->keylog_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600);
	if (t->keylog_fd == -1) {
		secho_error_errno("cannot open key log %s", path);
		return -1;
	}
	/* An older file of ours may be readable by others: it must not be. */
	if (fstat(t->keylog_fd, &st) == 0 && (st.st_mode & 077) != 0 &&
	    st.st_uid == geteuid())
		fchmod(t->keylog_fd, 0600);
	SSL_CTX_set_keylog_callback(t->ctx, keylog_cb);
	return 0;
}

/* "h2,http/1.1" to ALPN's wire format: length-prefixed names. */
static unsigned char *
alpn_wire(const char *list, size_t *outlen)
{
	size_t n = strlen(list), o = 0;
	unsigned char *w = malloc(n + 1);
	const char *p = list;

	while (w != NULL && *p != '\0') {
		size_t len = strcspn(p, ",");

		if (len == 0 || len > 255) {
			secho_error_set("--alpn '%s': empty or overlong name",
			    list);
			free(w);
			return NULL;
		}
		w[o++] = (unsigned char)len;
		memcpy(w + o, p, len);
		o += len;
		p += len + (p[len] == ',');
	}
	if (w == NULL || o == 0) {
		secho_error_set("--alpn '%s': no protocol names", list);
		free(w);
		return NULL;
	}
	*outlen = o;
	return w;
}

/* The first of the client's offers we also accept, in the client's order. */
static int
alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	const struct secho_tls *t = arg;
	unsigned char *sel;

	(void)ssl;
	if (SSL_select_next_proto(&sel, outlen, in, inlen, t->alpn,
	    (unsigned int)t->alpn_len) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;	/* RFC 7301 3.2 */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int
setup_alpn_server(struct secho_tls *t, const char *list)
{
	if ((t->alpn = alpn_wire(list, &t->alpn_len)) == NULL)
		return -1;
	SSL_CTX_set_alpn_select_cb(t->ctx, alpn_select_cb, t);
	return 0;
}

static int
setup_alpn_client(struct secho_tls *t, const char *list)
{
	unsigned char *w;
	size_t len;
	int rc;

	if ((w = alpn_wire(list, &len)) == NULL)
		return -1;
	rc = SSL_CTX_set_alpn_protos(t->ctx, w, (unsigned int)len);
	free(w);
	if (rc != 0) {	/* this one returns 0 on success */
		secho_error_set("--alpn '%s': not accepted", list);
		return -1;
	}
	return 0;
}

/* "a.example" matches itself; "*.example" matches one label below it. */
static int
sni_matches(const char *pattern, const char *name)
{
	const char *dot;

	if (strcasecmp(pattern, name) == 0)
		return 1;
	return strncmp(pattern, "*.", 2) == 0 &&
	    (dot = strchr(name, '.')) != NULL && dot != name &&
	    strcasecmp(dot + 1, pattern + 2) == 0;
}

static int
sni_cb(SSL *ssl, int *alert, void *arg)
{
	const struct secho_tls *t = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)alert;
	for (size_t i = 0; name != NULL && i < t->nsni; i++) {
		if (sni_matches(t->sni_name[i], name)) {
			SSL_set_SSL_CTX(ssl, t->sni_ctx[i]);
			break;
		}
	}
	return SSL_TLSEXT_ERR_OK;	/* no match: the default certificate */
}

/*
 * One context per --sni-cert, configured like the main one but for its
 * certificate.  Its callbacks must find the main context's state, so its
 * app data points there.
 */
static int
setup_sni(struct secho_tls *t, const struct secho_tls_opts *o)
{
	for (size_t i = 0; i < o->nsni; i++) {
		struct secho_tls_opts so = *o;
		struct secho_tls *sub;

		so.cert = o->sni[i].cert;
		so.key = o->sni[i].key;
		so.keylog = NULL;
		so.nsni = 0;
		if ((sub = secho_tls_new(&so, SECHO_TLS_SERVER, t->dgram)) ==
		    NULL)
			return -1;
		SSL_CTX_up_ref(sub->ctx);
		t->sni_ctx[t->nsni] = sub->ctx;
		t->sni_name[t->nsni++] = o->sni[i].name;
		secho_tls_free(sub);
		SSL_CTX_set_app_data(t->sni_ctx[t->nsni - 1], t);
		if (t->alpn != NULL)
			SSL_CTX_set_alpn_select_cb(t->sni_ctx[t->nsni - 1],
			    alpn_select_cb, t);
	}
	SSL_CTX_set_tlsext_servername_callback(t->ctx, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(t->ctx, t);
	return 0;
}

/* Client: keep the newest session (a TLS 1.3 ticket arrives late). */
static int
new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct secho_tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	SSL_SESSION_free(t->last_session);
	t->last_session = sess;
	return 1;	/* we keep the reference */
}

static int
setup_server(struct secho_tls *t, const struct secho_tls_opts *o)
{
	static const unsigned char sid_ctx[] = "secho";

	if (o->cert == NULL || o->key == NULL) {
		secho_error_set("a TLS server needs a certificate and a key");
		return -1;
	}
	if (load_pair(t, o->cert, o->key) == -1)
		return -1;
	if (t->dgram && secho_dtls_cookie_setup(t) == -1)
		return -1;
	/* Resumption with client certificates needs a session id context. */
	SSL_CTX_set_session_id_context(t->ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_options(t->ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (o->no_tickets) {
		SSL_CTX_set_options(t->ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(t->ctx, 0);
	} else if (secho_tls_tickets_setup(t, NULL) == -1)
		return -1;
	else	/* One is enough for the next connection: 6 % fewer
		 * instructions per full handshake than OpenSSL's two. */
		SSL_CTX_set_num_tickets(t->ctx, 1);
	if (o->alpn != NULL && setup_alpn_server(t, o->alpn) == -1)
		return -1;
	if (o->nsni > 0 && setup_sni(t, o) == -1)
		return -1;
	if (o->verify_client == 0)
		return 0;	/* and never load a CA store nobody uses */
	if (o->ca == NULL || SSL_CTX_load_verify_locations(t->ctx, o->ca,
	    NULL) != 1)
		return file_error("CA file", o->ca != NULL ? o->ca : "(none)");
	/* Tell clients which CA we trust, so they pick the right cert. */
	SSL_CTX_set_client_CA_list(t->ctx, SSL_load_client_CA_file(o->ca));
	return secho_tls_verify_setup(t, o, SSL_VERIFY_PEER |
	    (o->verify_client > 1 ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0));
}

static int
setup_client(struct secho_tls *t, const struct secho_tls_opts *o)
{
	if (o->cert != NULL && load_pair(t, o->cert,
	    o->key != NULL ? o->key : o->cert) == -1)
		return -1;
	t->insecure = o->insecure;
	/* Remember each new session so the next connect can resume it
	 * (with the cache off, the callback never sees one to offer). */
	SSL_CTX_set_session_cache_mode(t->ctx, o->no_resume ?
	    SSL_SESS_CACHE_OFF : SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(t->ctx, new_session_cb);
	if (o->alpn != NULL && setup_alpn_client(t, o->alpn) == -1)
		return -1;
	if (o->insecure) {
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
		return 0;
	}
	if (secho_tls_verify_setup(t, o, SSL_VERIFY_PEER) == -1)
		return -1;
	if (o->ca != NULL || o->capath != NULL) {
		if (SSL_CTX_load_verify_locations(t->ctx, o->ca,
		    o->capath) != 1)
			return file_error(o->ca != NULL ? "CA file" :
			    "CA directory", o->ca != NULL ? o->ca : o->capath);
	} else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
		secho_error_set("cannot load the system CA store: %s",
		    secho_tls_reason("unknown error"));
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* enum secho_tls_version to OpenSSL's, for TLS or DTLS; 0 if none. */
static int
proto_version(const struct secho_tls *t, int v)
{
	if (t->dgram)
		return v == SECHO_TLS_1_2 ? DTLS1_2_VERSION : 0;
	return v == SECHO_TLS_1_2 ? TLS1_2_VERSION :
	    v == SECHO_TLS_1_3 ? TLS1_3_VERSION : 0;
}

static int
config_error(const char *what, const char *value)
{
	secho_error_set("%s '%s': %s", what, value,
	    secho_tls_reason("not accepted"));
	ERR_clear_error();
	return -1;
}

static int
setup_versions(struct secho_tls *t, const struct secho_tls_opts *o)
{
	int min = o->min_version ? proto_version(t, o->min_version) :
	    (t->dgram ? DTLS1_2_VERSION : TLS1_2_VERSION);
	int max = o->max_version ? proto_version(t, o->max_version) : 0;

	if (min == 0 || (o->max_version && max == 0)) {
		secho_error_set("%s has no version %s here", t->dgram ? "DTLS" :
		    "TLS", (min == 0 ? o->min_version : o->max_version) ==
		    SECHO_TLS_1_3 ? "1.3" : "like that");
		return -1;
	}
	if (!SSL_CTX_set_min_proto_version(t->ctx, min) ||
	    !SSL_CTX_set_max_proto_version(t->ctx, max)) {
		secho_error_set("cannot set the protocol versions: %s",
		    secho_tls_reason("bad range"));
		ERR_clear_error();
		return -1;
	}
	return 0;
}

static int
setup_common(struct secho_tls *t, const struct secho_tls_opts *o)
{
	SSL_CTX *ctx = t->ctx;
	const char *ciphers = o->ciphers != NULL ? o->ciphers : TLS12_CIPHERS;
	const char *groups = o->groups != NULL ? o->groups : TLS_GROUPS;
	const char *suites = o->ciphersuites != NULL ? o->ciphersuites :
	    TLS13_SUITES;

	if (setup_versions(t, o) == -1)
		return -1;
	if (!SSL_CTX_set_cipher_list(ctx, ciphers))
		return config_error("--ciphers", ciphers);
	if (!SSL_CTX_set_ciphersuites(ctx, suites))
		return config_error("--ciphersuites", suites);
	if (!SSL_CTX_set1_groups_list(ctx, groups))
		return config_error("--groups", groups);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	/*
	 * Partial writes keep a slow reader from pinning a whole buffer in
	 * the record layer; released buffers make idle connections cheap.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	/* One read() per record instead of header and body apart. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_app_data(ctx, t);
	return 0;
}

struct secho_tls *
secho_tls_new(const struct secho_tls_opts *opts, enum secho_tls_role role,
    int dgram)
{
	const SSL_METHOD *m;
	struct secho_tls *t;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		secho_error_errno("calloc");
		return NULL;
	}
	t->role = role;
	t->dgram = dgram;
	t->keylog_fd = -1;
	t->refs = 1;
	t->opts = opts;
	t->mtu = opts->mtu > 0 ? opts->mtu : DTLS_DEFAULT_MTU;
	if (role == SECHO_TLS_SERVER)
		m = dgram ? DTLS_server_method() : TLS_server_method();
	else
		m = dgram ? DTLS_client_method() : TLS_client_method();
	if ((t->ctx = SSL_CTX_new(m)) == NULL) {
		secho_error_set("cannot create TLS context: %s",
		    secho_tls_reason("out of memory"));
		free(t);
		return NULL;
	}
	if (setup_common(t, opts) == -1 ||
	    (role == SECHO_TLS_SERVER ? setup_server(t, opts) :
	    setup_client(t, opts)) == -1 ||
	    (opts->keylog != NULL && setup_keylog(t, opts->keylog) == -1)) {
		secho_tls_free(t);
		return NULL;
	}
	return t;
}

void
secho_tls_ref(struct secho_tls *t)
{
	__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
}

struct secho_tls *
secho_tls_renew(const struct secho_tls *old)
{
	struct secho_tls *t = secho_tls_new(old->opts, old->role, old->dgram);

	if (t != NULL && old->role == SECHO_TLS_SERVER &&
	    secho_tls_tickets_setup(t, old) == -1) {
		secho_tls_free(t);
		return NULL;
	}
	return t;
}

void
secho_tls_free(struct secho_tls *t)
{
	if (t == NULL ||
	    __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	SSL_CTX_free(t->ctx);
	for (size_t i = 0; i < t->nsni; i++)
		SSL_CTX_free(t->sni_ctx[i]);
	OPENSSL_cleanse(t->tkeys, sizeof(t->tkeys));
	SSL_SESSION_free(t->last_session);
	free(t->alpn);
	if (t->keylog_fd != -1)
		close(t->keylog_fd);
	free(t);
}

static int
set_peer_name(struct secho_tls *t, SSL *ssl, const char *name)
{
	if (name == NULL || *name == '\0')
		return 0;
	if (secho_net_is_ip(name)) {
		/* RFC 6066: no SNI for addresses; check the IP SAN instead. */
		if (!t->insecure && !t->has_pin && X509_VERIFY_PARAM_set1_ip_asc(
		    SSL_get0_param(ssl), name) != 1)
			return -1;
		return 0;
	}
	if (SSL_set_tlsext_host_name(ssl, name) != 1)
		return -1;
	/* A pinned key stands for the server whatever its names. */
	if (!t->insecure && !t->has_pin && SSL_set1_host(ssl, name) != 1)
		return -1;
	return 0;
}

/*
 * A dgram BIO sends with sendto() to its own record of the peer, which
 * stays empty (port 0: EINVAL on the first write) unless the BIO is told
 * that the socket is connected.
 */
void
secho_tls_dgram_connected(BIO *bio, int fd)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);

	/* BIO_ADDR_make() reads a struct sockaddr by its family. */
	if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0)
		BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &peer);
}

/*
 * A fixed MTU: the kernel's answer for loopback (64 KiB) would make
 * records that real paths fragment or drop.
 */
void
secho_tls_set_mtu(SSL *ssl, int mtu)
{
	SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
	DTLS_set_link_mtu(ssl, mtu);
}

int
secho_tls_conn_init(struct secho_tls *t, struct secho_conn *c, int fd,
    const char *name)
{
	SSL *ssl;
	BIO *bio;

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	if ((ssl = SSL_new(t->ctx)) == NULL)
		goto fail;
	bio = t->dgram ? BIO_new_dgram(fd, BIO_NOCLOSE) :
	    BIO_new_socket(fd, BIO_NOCLOSE);
	if (bio == NULL)
		goto fail;
	if (t->dgram)
		secho_tls_dgram_connected(bio, fd);
	SSL_set_bio(ssl, bio, bio);
	if (t->dgram)
		secho_tls_set_mtu(ssl, t->mtu);
	if (t->role == SECHO_TLS_SERVER) {
		SSL_set_accept_state(ssl);
		c->flags |= SECHO_CONN_SERVER;
	} else {
		SSL_set_connect_state(ssl);
		if (t->last_session != NULL)
			SSL_set_session(ssl, t->last_session);
		if (set_peer_name(t, ssl, name) == -1)
			goto fail;
	}
	c->tls = ssl;
	c->ops = &secho_tls_ops;
	secho_tls_ref(t);
	return 0;
fail:
	secho_error_set("cannot set up a TLS connection: %s",
	    secho_tls_reason("out of memory"));
	ERR_clear_error();
	SSL_free(ssl);
	return -1;
}

int
secho_tls_conn_resumed(const struct secho_conn *c)
{
	return secho_conn_is_tls(c) && SSL_session_reused(c->tls);
}

int
secho_conn_is_tls(const struct secho_conn *c)
{
	return c->ops == &secho_tls_ops;
}

/* Alerts a peer sends when it rejects us: say who refused and why. */
static int
is_alert(int reason)
{
	return reason >= SSL_AD_REASON_OFFSET &&
	    reason < SSL_AD_REASON_OFFSET + 256;
}

static int
is_not_tls(int reason)
{
	switch (reason) {
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
	case SSL_R_UNKNOWN_PROTOCOL:
	case SSL_R_RECORD_LENGTH_MISMATCH:
	case SSL_R_UNEXPECTED_MESSAGE:
	case SSL_R_UNEXPECTED_RECORD:
	case SSL_R_LENGTH_MISMATCH:
	case SSL_R_BAD_PACKET_LENGTH:
		return 1;
	}
	return 0;
}

/* Alerts about the client's certificate, in words (mutual TLS). */
static const char *
cert_alert(int reason)
{
	switch (reason) {
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
		return "it requires a client certificate (try --mtls, or "
		    "--cert and --key)";
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
		return "it does not trust the CA that signed it";
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
		return "it has expired";
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
		return "it was refused (not allowed, or not valid here)";
	}
	return NULL;
}

static void
verify_error(struct secho_conn *c)
{
	char why[160];

	c->flags |= SECHO_CONN_VERIFY;
	secho_tls_verify_reason(c->tls, why, sizeof(why));
	secho_conn_set_error(c, "%scertificate verify failed: %s",
	    (c->flags & SECHO_CONN_SERVER) ? "client " : "", why);
}

/* Explains a SSL_ERROR_SSL from the reason code at the queue's head. */
static int
ssl_failure(struct secho_conn *c, enum secho_conn_op op)
{
	unsigned long e = ERR_peek_error();
	int reason = ERR_GET_REASON(e);
	const char *peer = (c->flags & SECHO_CONN_SERVER) ? "client" :
	    "server";

	if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		c->flags |= SECHO_CONN_UNCLEAN;
		ERR_clear_error();
		return SECHO_IO_EOF;
	}
	if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED)
		verify_error(c);
	else if (cert_alert(reason) != NULL && !(c->flags & SECHO_CONN_SERVER))
		secho_conn_set_error(c, "the server rejected our certificate: "
		    "%s", cert_alert(reason));
	else if (is_alert(reason) && op == SECHO_OP_HANDSHAKE)
		secho_conn_set_error(c, "the %s rejected the handshake: %s",
		    peer, secho_tls_reason("alert"));
	else if (is_alert(reason))
		secho_conn_set_error(c, "the %s sent a fatal alert: %s", peer,
		    secho_tls_reason("alert"));
	else if (is_not_tls(reason) && !(c->flags & SECHO_CONN_HS_DONE)) {
		c->flags |= SECHO_CONN_NOT_TLS;
		secho_conn_set_error(c, "the %s does not speak TLS (%s)",
		    peer, secho_tls_reason("bad record"));
	} else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
		secho_conn_set_error(c, "the client sent no certificate "
		    "(--verify-client requires one)");
	else
		secho_conn_set_error(c, "TLS %s failed: %s",
		    secho_conn_op_name(op), secho_tls_reason("unknown error"));
	ERR_clear_error();
	return SECHO_IO_ERR;
}

static int
map_error(struct secho_conn *c, int ret, enum secho_conn_op op)
{
	int err = SSL_get_error(c->tls, ret);

	switch (err) {
	case SSL_ERROR_WANT_READ:
		return SECHO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return SECHO_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return SECHO_IO_EOF;
	case SSL_ERROR_SYSCALL:
		if (errno == EAGAIN || errno == EINTR)	/* retry the same call */
			return op == SECHO_OP_WRITE ? SECHO_WANT_WRITE :
			    SECHO_WANT_READ;
		ERR_clear_error();
		/* An empty datagram reads as 0, but UDP has no EOF: anyone
		 * could end a session with one.  Drop it and read on. */
		if (errno == 0 && SSL_is_dtls(c->tls) && op != SECHO_OP_WRITE)
			return SECHO_WANT_READ;
		if (errno == 0 || errno == EPIPE) {
			c->flags |= SECHO_CONN_UNCLEAN;
			return SECHO_IO_EOF;
		}
		secho_conn_set_error(c, "%s: %s", secho_conn_op_name(op),
		    strerror(errno));
		return SECHO_IO_ERR;
	case SSL_ERROR_SSL:
		return ssl_failure(c, op);
	}
	secho_conn_set_error(c, "TLS %s failed (SSL error %d)",
	    secho_conn_op_name(op), err);
	ERR_clear_error();
	return SECHO_IO_ERR;
}

static int
tls_handshake(struct secho_conn *c)
{
	int ret;

	ERR_clear_error();
	errno = 0;
	ret = SSL_do_handshake(c->tls);
	if (ret == 1) {
		c->flags |= SECHO_CONN_HS_DONE;
		return 0;
	}
	ret = map_error(c, ret, SECHO_OP_HANDSHAKE);
	if (ret == SECHO_IO_EOF)
		secho_conn_set_error(c, "the %s closed the connection during "
		    "the TLS handshake", (c->flags & SECHO_CONN_SERVER) ?
		    "client" : "server");
	return ret;
}

static ssize_t
tls_read(struct secho_conn *c, void *buf, size_t len)
{
	size_t n;
	int ret;

	ERR_clear_error();
	errno = 0;
	ret = SSL_read_ex(c->tls, buf, len, &n);
	if (ret == 1)
		return (ssize_t)n;
	return map_error(c, ret, SECHO_OP_READ);
}

static ssize_t
tls_write(struct secho_conn *c, const void *buf, size_t len)
{
	size_t n;
	int ret;

	ERR_clear_error();
	errno = 0;
	ret = SSL_write_ex(c->tls, buf, len, &n);
	if (ret == 1)
		return (ssize_t)n;
	ret = map_error(c, ret, SECHO_OP_WRITE);
	if (ret != SECHO_IO_EOF)
		return ret;
	/* A vanished peer (EPIPE, or SYSCALL with errno 0) fails a write;
	 * map_error() left no message for an EOF, so say it here. */
	secho_conn_set_error(c, "%s: %s", secho_conn_op_name(SECHO_OP_WRITE),
	    strerror(errno != 0 ? errno : EPIPE));
	return SECHO_IO_ERR;
}

static size_t
tls_pending(const struct secho_conn *c)
{
	int n = SSL_pending(c->tls);

	/* With read-ahead, whole records can wait undecrypted too. */
	if (n > 0)
		return (size_t)n;
	return SSL_has_pending(c->tls) ? 1 : 0;
}

static int
tls_shutdown(struct secho_conn *c)
{
	int ret;

	if (!(c->flags & SECHO_CONN_HS_DONE))
		return 0;	/* nothing to protect; just close */
	ERR_clear_error();
	errno = 0;
	ret = SSL_shutdown(c->tls);
	if (ret >= 0)	/* 0: ours is sent; the peer's may never come */
		return 0;
	ret = map_error(c, ret, SECHO_OP_SHUTDOWN);
	return ret == SECHO_IO_EOF ? 0 : ret;
}

static void
tls_close(struct secho_conn *c)
{
	struct secho_tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(c->tls));

	SSL_free(c->tls);
	secho_tls_free(t);	/* this connection's reference */
	c->tls = NULL;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}

static char *
tls_describe(const struct secho_conn *c, char *buf, size_t len)
{
	const SSL *ssl = c->tls;

	if (!(c->flags & SECHO_CONN_HS_DONE))
		snprintf(buf, len, "%s (handshaking)",
		    SSL_is_dtls(ssl) ? "dtls" : "tls");
	else {
		char subject[160];

		/* The server logs who a verified client certificate names. */
		secho_tls_peer_subject((SSL *)ssl, subject, sizeof(subject));
		snprintf(buf, len, "%s %s%s%s%s", SSL_get_version(ssl),
		    SSL_get_cipher_name(ssl),
		    SSL_session_reused((SSL *)ssl) ? " resumed" : "",
		    subject[0] != '\0' && (c->flags & SECHO_CONN_SERVER) ?
		    ", client " : "", (c->flags & SECHO_CONN_SERVER) ?
		    subject : "");
	}
	return buf;
}

static long
tls_next_timeout(const struct secho_conn *c)
{
	struct timeval tv;

	if (!SSL_is_dtls(c->tls) || !DTLSv1_get_timeout(c->tls, &tv))
		return -1;
	return (long)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
}

static int
tls_handle_timeout(struct secho_conn *c)
{
	ERR_clear_error();
	if (DTLSv1_handle_timeout(c->tls) >= 0)
		return 0;
	secho_conn_set_error(c, "DTLS retransmission failed: %s",
	    secho_tls_reason("too many retransmissions"));
	ERR_clear_error();
	return SECHO_IO_ERR;
}

const struct secho_transport_ops secho_tls_ops = {
	.name = "tls",
	.handshake = tls_handshake,
	.read = tls_read,
	.write = tls_write,
	.pending = tls_pending,
	.shutdown = tls_shutdown,
	.close = tls_close,
	.next_timeout = tls_next_timeout,
	.handle_timeout = tls_handle_timeout,
	.describe = tls_describe,
};

