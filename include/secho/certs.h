/*
 * certs.h - where the programs find certificates none were given for:
 * ./certs (a checkout, after make certs), then $CREDENTIALS_DIRECTORY
 * (systemd's LoadCredential=), then SYSCONFDIR/secho (an installed
 * secho, after secho-mkcerts --out SYSCONFDIR/secho).
 */
#ifndef SECHO_CERTS_H
#define SECHO_CERTS_H

#include <stddef.h>

#define SECHO_CERTS_PATH_MAX 4096

/* The compiled-in last place ("/usr/local/etc/secho" by default). */
const char *secho_certs_sysdir(void);

/*
 * The first of the places above that holds name ("server.pem"), into
 * path.  Returns 0, or -1 with a message naming every place it looked
 * (secho_error()).
 */
int secho_certs_find(const char *name, char *path, size_t len);

/*
 * The same for several files that must come from one place (a server's
 * certificate and its key): the first place holding names[0] gives all
 * of them, each into paths[i] (of SECHO_CERTS_PATH_MAX).  A later name
 * missing there is not looked for elsewhere: paths[i] is "" then.
 */
int secho_certs_find_set(const char *const *names, size_t n,
    char (*paths)[SECHO_CERTS_PATH_MAX]);

#endif
