/*
 * tls.h - TLS and DTLS over OpenSSL 3, behind the transport interface.
 *
 * A struct secho_tls is built once per process and role from a
 * struct secho_tls_opts (secure defaults: TLS 1.2 minimum, AEAD ciphers
 * only, peer verification on for clients), then wraps each new fd into a
 * struct secho_conn.  This is the only module that includes OpenSSL.
 */
#ifndef SECHO_TLS_H
#define SECHO_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "secho/transport.h"

struct secho_tls;

#define SECHO_TLS_ALLOW_MAX 16
#define SECHO_TLS_SNI_MAX 16

/* server: a certificate served to clients that ask for name via SNI. */
struct secho_sni_cert {
	const char *name;	/* "www.example" or "*.example" */
	const char *cert;
	const char *key;
	char spec[1024];	/* storage the three point into */
};

/* Protocol versions for min_version / max_version (0: the default). */
enum secho_tls_version { SECHO_TLS_1_2 = 12, SECHO_TLS_1_3 = 13 };

struct secho_tls_opts {
	const char *cert;	/* PEM chain; required for servers */
	const char *key;	/* PEM private key */
	const char *ca;		/* CA file; NULL: client uses system store */
	const char *capath;	/* client: CA directory (c_rehash layout) */
	const char *keylog;	/* NSS key log file, or NULL */
	int insecure;		/* client: skip all verification */
	int verify_client;	/* server: 0 off, 1 optional, 2 required */
	int mtu;		/* DTLS link MTU; 0: 1500 */
	int min_version;	/* enum secho_tls_version, 0: TLS 1.2 */
	int max_version;	/* 0: the newest */
	const char *ciphers;	/* TLS 1.2 cipher list (OpenSSL syntax) */
	const char *ciphersuites; /* TLS 1.3 suites ("TLS_AES_128_GCM_SHA256:...") */
	const char *groups;	/* key exchange groups ("X25519:P-256") */
	const char *alpn;	/* "h2,http/1.1": server accepts, client offers */
	int no_tickets;		/* server: no session tickets */
	int no_resume;		/* client: never offer an earlier session */
	/*
	 * server: 1 to seal and open TLS 1.3 application data with secho's
	 * own record layer once the handshake is done (tls_rec.c), 0 for
	 * OpenSSL's all along.
	 */
	int record_layer;
	/* server: fingerprint every ClientHello (JA3, JA4) for the logs */
	int fingerprint;
	/* --trace: enum secho_trace_level (tls_trace.h); the programs
	 * install it on each connection with secho_tls_conn_trace() */
	int trace;
	/*
	 * server: 80 bytes of ticket keys shared by several servers (so a
	 * client resumes wherever a load balancer sends it); re-read on
	 * secho_tls_renew(), the previous key still accepted.
	 */
	const char *ticket_key_file;
	/*
	 * client: base64 SHA-256 of the server's SubjectPublicKeyInfo (as
	 * in HPKP / curl --pinnedpubkey sha256//...); when set, a matching
	 * key is trusted instead of the CA chain and host name.
	 */
	const char *pin_sha256;
	/* server: accepted client certificates by subject CN or by SAN
	 * (DNS, email or IP); empty lists accept every verified client. */
	const char *allow_cn[SECHO_TLS_ALLOW_MAX];
	size_t nallow_cn;
	const char *allow_san[SECHO_TLS_ALLOW_MAX];
	size_t nallow_san;
	struct secho_sni_cert sni[SECHO_TLS_SNI_MAX];
	size_t nsni;
};

enum secho_tls_role { SECHO_TLS_CLIENT, SECHO_TLS_SERVER };

/*
 * Builds a context for one role over TLS (dgram 0) or DTLS (dgram 1).
 * Fails with a precise message: "cannot read certificate certs/server.pem:
 * No such file or directory (run 'make certs')", "certificate ... does not
 * match private key ...".
 */
struct secho_tls *secho_tls_new(const struct secho_tls_opts *opts,
    enum secho_tls_role role, int dgram);
/*
 * Server: seconds until its certificate's notAfter (negative once it has
 * expired) and that date as "2026-12-05 10:00:00 UTC" into when; -1 when
 * there is no certificate.  The caller decides what to warn about.
 */
int secho_tls_cert_expiry(const struct secho_tls *t, long *secs_left,
    char *when, size_t len);
/* Takes one more reference (another thread, a connection). */
void secho_tls_ref(struct secho_tls *t);

/*
 * Drops the caller's reference; the context goes once its connections
 * have closed too.
 */
void secho_tls_free(struct secho_tls *t);

/*
 * A fresh context from the same options, files read again (certificate
 * reload on SIGHUP); session tickets made by the old one stay valid.
 * Returns NULL with secho_error() set, old untouched.
 */
struct secho_tls *secho_tls_renew(const struct secho_tls *old);

/*
 * Wraps a connected fd.  For clients, name is the host to verify (a DNS
 * name gets SNI and host name checks, an IP literal an IP SAN check).
 * The handshake starts on the first secho_conn_handshake().  Returns 0, or
 * -1 with secho_error() set (fd is left open then).
 */
int secho_tls_conn_init(struct secho_tls *t, struct secho_conn *c, int fd,
    const char *name);

/*
 * DTLS servers.  A listener answers each ClientHello on the shared UDP
 * socket with a stateless HMAC cookie (HelloVerifyRequest); only a client
 * that echoes a valid cookie, proving its address, gets any state.  It is
 * then moved onto its own socket, connected to it on the same port, so the
 * kernel demultiplexes peers and the event loop treats each like a stream.
 */
struct secho_dtls_listener;

/* A listener on fd, a bound UDP socket; records fit the opts' mtu. */
struct secho_dtls_listener *secho_dtls_listener_new(struct secho_tls *t,
    int fd);
void secho_dtls_listener_free(struct secho_dtls_listener *l);
/* New clients get contexts from t from now on (certificate reload). */
void secho_dtls_listener_set_tls(struct secho_dtls_listener *l,
    struct secho_tls *t);

/*
 * Reads one datagram from the listening socket and answers it.  Returns 1
 * when its sender has proved its address (*peer is set, and *local is the
 * address it sent to, with the listener's port: bind the client's own
 * socket there, then call secho_dtls_accept()), 2 when the datagram was
 * answered with a cookie or dropped, 0 when none was waiting, -1 when it
 * was bad (secho_error()).
 */
int secho_dtls_listen(struct secho_dtls_listener *l,
    struct secho_sockaddr *peer, struct secho_sockaddr *local);

/*
 * Hands the proved client to c (which it initialises) on fd, a socket
 * connected to it; the handshake continues with secho_conn_handshake().
 * Returns 0, or -1 (out of memory; the client will retransmit).
 */
int secho_dtls_accept(struct secho_dtls_listener *l, struct secho_conn *c,
    int fd);

/* What the client's -v prints; every string is "" when unknown. */
struct secho_tls_info {
	char version[16];	/* "TLSv1.3" */
	char cipher[64];	/* "TLS_AES_256_GCM_SHA384" */
	char group[32];		/* "X25519" */
	char subject[256];	/* peer certificate, one-line RFC 2253 */
	char issuer[256];
	char not_before[32];	/* "2026-11-21 19:24:00 UTC" */
	char not_after[32];
	char san[256];		/* "DNS:localhost, IP:127.0.0.1" */
	char key[48];		/* "EC prime256v1", "RSA 2048" */
	char verify[128];	/* "ok" or the verification error */
	char alpn[64];		/* the protocol the server chose, or "" */
	char sni[256];		/* the name sent / received, or "" */
	int resumed;
};

/*
 * Fills info for an established TLS/DTLS connection; -1 if not TLS, or
 * once secho's record layer has its records (the SSL object is gone).
 */
int secho_tls_conn_info(const struct secho_conn *c, struct secho_tls_info *info);

/* One certificate of the chain the server sent, as -v prints it. */
struct secho_tls_cert_info {
	int depth;		/* 0: the server's own */
	char subject[256];	/* one-line RFC 2253 */
	char issuer[256];
	char serial[96];	/* hex, "5F3A..." */
	char sig_alg[64];	/* "ecdsa-with-SHA256" */
	char not_before[32];	/* "2026-11-21 19:24:00 UTC" */
	char not_after[32];
};

#define SECHO_TLS_CHAIN_MAX 8

/*
 * The client's -v and --json details beyond secho_tls_info (kept apart so
 * a server connection does not carry them); strings "" when unknown.
 */
struct secho_tls_details {
	/* base64 SHA-256 of the server's SubjectPublicKeyInfo, as
	 * --pin-sha256 takes it */
	char pin_sha256[48];
	/* how the server signed the handshake, its TLS SignatureScheme name:
	 * "ecdsa_secp256r1_sha256", "rsa_pss_rsae_sha256"; "" when it did
	 * not sign (a resumed session) */
	char sig_scheme[48];
	int group_bits;		/* key exchange size ("X25519": 253), or 0 */
	size_t nchain;		/* certificates in chain[] */
	size_t chain_total;	/* as sent, may be more than nchain */
	struct secho_tls_cert_info chain[SECHO_TLS_CHAIN_MAX];
};

/*
 * Fills d for an established TLS/DTLS client connection; -1 if not TLS,
 * as secho_tls_conn_info().
 */
int secho_tls_conn_details(const struct secho_conn *c,
    struct secho_tls_details *d);

/*
 * A ClientHello as JA3 and JA4 see it (GREASE values left out, lists in
 * the order received).  The server fills one for every ClientHello and
 * logs both fingerprints at -v (tls_hello.c).
 */
#define SECHO_HELLO_MAX 128
struct secho_hello {
	int dtls;
	unsigned legacy_version;	/* 0x0303 for TLS 1.2 and 1.3 */
	uint16_t ciphers[SECHO_HELLO_MAX];
	size_t nciphers;
	uint16_t exts[SECHO_HELLO_MAX];	/* extension types */
	size_t nexts;
	uint16_t groups[SECHO_HELLO_MAX];
	size_t ngroups;
	unsigned char point_formats[SECHO_HELLO_MAX];
	size_t npoint_formats;
	uint16_t sigalgs[SECHO_HELLO_MAX];
	size_t nsigalgs;
	uint16_t versions[SECHO_HELLO_MAX];	/* supported_versions */
	size_t nversions;
	int sni;			/* a server_name extension came */
	char alpn[256];			/* the first ALPN name */
	size_t alpn_len;
};

/*
 * Server: "JA4 t13d... JA3 <md5>" of the ClientHello c received, or ""
 * (none yet, not TLS, or once secho's record layer has the records).
 */
const char *secho_tls_conn_fingerprint(const struct secho_conn *c);
#define SECHO_FP_TEXT_MAX 96	/* room for that text */

/* JA3: its string into str (len bytes) and its MD5 as hex into hash. */
void secho_ja3(const struct secho_hello *h, char *str, size_t len,
    char hash[33]);
/* JA4 ("t13d1516h2_8daaf6152771_e5627efa2ab1") and its raw form (ja4_r). */
void secho_ja4(const struct secho_hello *h, char *raw, size_t len,
    char ja4[48]);

/* True if the handshake resumed an earlier session. */
int secho_tls_conn_resumed(const struct secho_conn *c);

/*
 * True once secho's own record layer seals and opens c's records
 * (--record-layer secho), not OpenSSL's.
 */
int secho_tls_conn_own_records(const struct secho_conn *c);

/*
 * Client: true if it had a certificate to present but the server, in a
 * full handshake now done, never asked for one (so it went unused).
 */
int secho_tls_conn_cert_unasked(const struct secho_conn *c);

/*
 * The system CA store a client without --ca/--capath verifies with:
 * "FILE and DIR" as OpenSSL resolves them ($SSL_CERT_FILE, $SSL_CERT_DIR
 * or the build's defaults), in buf, which it returns.
 */
char *secho_tls_system_store(char *buf, size_t len);

/* True if the conn runs over TLS or DTLS. */
int secho_conn_is_tls(const struct secho_conn *c);

#endif
