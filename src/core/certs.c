/*
 * certs.c - the default certificate places, tried in order, so that a
 * checkout, a systemd service and an installed secho all work without
 * --cert; a miss names every place, so the fix is one command away.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secho/certs.h"
#include "secho/secho.h"

#ifndef SECHO_SYSCONFDIR
#define SECHO_SYSCONFDIR "/usr/local/etc"
#endif

#define NPLACES 3

const char *
secho_certs_sysdir(void)
{
	return SECHO_SYSCONFDIR "/secho";
}

/* The places in order; an unset $CREDENTIALS_DIRECTORY is NULL. */
static void
places(const char *dirs[NPLACES])
{
	const char *cred = getenv("CREDENTIALS_DIRECTORY");

	dirs[0] = "certs";
	dirs[1] = cred != NULL && *cred != '\0' ? cred : NULL;
	dirs[2] = secho_certs_sysdir();
}

static int
join(char *path, size_t len, const char *dir, const char *name)
{
	int n = snprintf(path, len, "%s/%s", dir, name);

	return n >= 0 && (size_t)n < len ? 0 : -1;
}

static void
not_found(const char *name, const char *dirs[NPLACES])
{
	secho_error_set("no %s in ./%s, %s%s or %s: run 'make certs' in a "
	    "checkout, or 'secho-mkcerts --out %s', or name the file", name,
	    dirs[0], dirs[1] != NULL ? dirs[1] : "$CREDENTIALS_DIRECTORY",
	    dirs[1] != NULL ? " ($CREDENTIALS_DIRECTORY)" : " (unset)",
	    dirs[2], dirs[2]);
}

int
secho_certs_find(const char *name, char *path, size_t len)
{
	const char *dirs[NPLACES];

	places(dirs);
	for (int i = 0; i < NPLACES; i++) {
		if (dirs[i] != NULL && join(path, len, dirs[i], name) == 0 &&
		    access(path, F_OK) == 0)
			return 0;
	}
	not_found(name, dirs);
	return -1;
}

int
secho_certs_find_set(const char *const *names, size_t n,
    char (*paths)[SECHO_CERTS_PATH_MAX])
{
	const char *dirs[NPLACES];
	const char *dir = NULL;

	places(dirs);
	for (int i = 0; i < NPLACES && dir == NULL; i++) {
		if (dirs[i] != NULL && join(paths[0], SECHO_CERTS_PATH_MAX,
		    dirs[i], names[0]) == 0 && access(paths[0], F_OK) == 0)
			dir = dirs[i];
	}
	if (dir == NULL) {
		not_found(names[0], dirs);
		return -1;
	}
	for (size_t i = 1; i < n; i++) {
		if (join(paths[i], SECHO_CERTS_PATH_MAX, dir, names[i]) == -1 ||
		    access(paths[i], F_OK) != 0)
			paths[i][0] = '\0';
	}
	return 0;
}
