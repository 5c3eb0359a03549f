/*
 * tls.c - TLS and DTLS contexts over OpenSSL 3: one SSL_CTX per role with
 * secure defaults (versions, AEAD ciphers, groups, ALPN, SNI, tickets,
 * verification).  Connections live in tls_conn.c, messages in tls_error.c;
 * with dtls.c, dtls_filter.c, tls_verify.c, tls_info.c and tls_tickets.c
 * they are the only code that includes OpenSSL (through tls_int.h).
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

/* No key of its own: the key must be in the certificate's file. */
static int
key_missing(const char *cert)
{
	secho_error_set("--cert given without --key, and %s holds no private "
	    "key: add --key FILE", cert);
	ERR_clear_error();
	return -1;
}

/*
 * Loads a certificate chain and its key (NULL: from the certificate's
 * file), and proves they belong together.
 */
static int
load_pair(struct secho_tls *t, const char *cert, const char *key)
{
	int wanted_pass = 0, own_key = key != NULL;

	if (key == NULL)
		key = cert;
	if (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1)
		return secho_tls_file_error("certificate", cert);
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
			return secho_tls_mismatch(cert, key);
		return own_key ? secho_tls_file_error("private key", key) :
		    key_missing(cert);
	}
	SSL_CTX_set_default_passwd_cb_userdata(t->ctx, NULL);
	if (SSL_CTX_check_private_key(t->ctx) != 1)
		return secho_tls_mismatch(cert, key);
	return 0;
}

static void
keylog_cb(const SSL *ssl, const char *line)
{
	struct secho_tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	char buf[512];
	int n;

	if (t == NULL)
		return;
	if (t->rec)
		secho_rec_keylog(ssl, line);
	if (t->keylog_fd == -1)
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
	if (o->fingerprint)	/* JA3 and JA4, for the logs only */
		secho_tls_hello_setup(t->ctx);
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
		return secho_tls_file_error("CA file", o->ca != NULL ? o->ca : "(none)");
	/* Tell clients which CA we trust, so they pick the right cert. */
	SSL_CTX_set_client_CA_list(t->ctx, SSL_load_client_CA_file(o->ca));
	return secho_tls_verify_setup(t, o, SSL_VERIFY_PEER |
	    (o->verify_client > 1 ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0));
}

/* Called on a client when a CertificateRequest arrives. */
static int
cert_requested_cb(SSL *ssl, void *arg)
{
	static int requested;

	(void)arg;
	SSL_set_app_data(ssl, &requested);
	return 1;
}

int
secho_tls_cert_requested(SSL *ssl)
{
	return SSL_get_app_data(ssl) != NULL;
}

static int
setup_client(struct secho_tls *t, const struct secho_tls_opts *o)
{
	if (o->cert != NULL && load_pair(t, o->cert, o->key) == -1)
		return -1;
	/* Learn whether the server asked for our certificate. */
	SSL_CTX_set_cert_cb(t->ctx, cert_requested_cb, NULL);
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
			return secho_tls_file_error(o->ca != NULL ? "CA file" :
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
		return secho_tls_config_error("--ciphers", ciphers);
	if (!SSL_CTX_set_ciphersuites(ctx, suites))
		return secho_tls_config_error("--ciphersuites", suites);
	if (!SSL_CTX_set1_groups_list(ctx, groups)) {
		secho_error_set("--groups '%s': unknown key exchange group "
		    "(try X25519, P-256, P-384)", groups);
		ERR_clear_error();
		return -1;
	}
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
	/* secho's record layer learns the traffic secrets from the key log. */
	if ((t->rec = role == SECHO_TLS_SERVER && !dgram && opts->record_layer))
		SSL_CTX_set_keylog_callback(t->ctx, keylog_cb);
	if (setup_common(t, opts) == -1 ||
	    (role == SECHO_TLS_SERVER ? setup_server(t, opts) :
	    setup_client(t, opts)) == -1 ||
	    (opts->keylog != NULL && setup_keylog(t, opts->keylog) == -1)) {
		secho_tls_free(t);
		return NULL;
	}
	return t;
}

int
secho_tls_cert_expiry(const struct secho_tls *t, long *secs_left,
    char *when, size_t len)
{
	X509 *x = SSL_CTX_get0_certificate(t->ctx);
	int days, secs;

	if (x == NULL || !ASN1_TIME_diff(&days, &secs, NULL,
	    X509_get0_notAfter(x)))
		return -1;
	*secs_left = (long)days * 86400 + secs;
	secho_tls_time_str(X509_get0_notAfter(x), when, len);
	return 0;
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
