/*
 * fuzz_util.c - input framing and scratch files for the harnesses (see
 * fuzz.h).  Nothing here knows about secho.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

char *
fz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		return NULL;
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

void
fz_chunks_init(struct fz_chunks *c, const uint8_t *data, size_t size)
{
	c->p = data;
	c->left = size;
}

int
fz_chunk_next(struct fz_chunks *c, const uint8_t **out, size_t *len)
{
	size_t n;

	if (c->left < 2)
		return 0;
	n = (size_t)c->p[0] << 8 | c->p[1];
	c->p += 2;
	c->left -= 2;
	if (n > c->left)
		n = c->left;
	*out = c->p;
	*len = n;
	c->p += n;
	c->left -= n;
	return 1;
}

char *
fz_chunk_str(struct fz_chunks *c)
{
	const uint8_t *p;
	size_t n;

	if (!fz_chunk_next(c, &p, &n))
		return NULL;
	return fz_strndup(p, n);
}

int
fz_argv_split(struct fz_argv *a, const char *prog, const uint8_t *data,
    size_t size)
{
	size_t words = 1, plen = strlen(prog);
	char *w;

	for (size_t i = 0; i < size; i++)
		words += data[i] == '\0';
	a->argc = 0;
	a->argv = calloc(words + 2, sizeof(*a->argv));
	a->buf = malloc(plen + 1 + size + 1);
	if (a->argv == NULL || a->buf == NULL) {
		fz_argv_free(a);
		return -1;
	}
	memcpy(a->buf, prog, plen + 1);
	a->argv[a->argc++] = a->buf;
	w = a->buf + plen + 1;
	memcpy(w, data, size);
	w[size] = '\0';
	/* "a\0b" is two words; an empty input is no words at all. */
	if (size > 0) {
		a->argv[a->argc++] = w;
		for (size_t i = 0; i < size; i++)
			if (w[i] == '\0')
				a->argv[a->argc++] = w + i + 1;
	}
	a->argv[a->argc] = NULL;
	return 0;
}

void
fz_argv_free(struct fz_argv *a)
{
	free(a->argv);
	free(a->buf);
	a->argv = NULL;
	a->buf = NULL;
}

static char tmpdir[256];

static void
tmpdir_remove(void)
{
	struct dirent *de;
	DIR *d;

	if (tmpdir[0] == '\0' || (d = opendir(tmpdir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			unlink(fz_path(de->d_name));
	closedir(d);
	rmdir(tmpdir);
}

const char *
fz_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	if (tmpdir[0] != '\0')
		return tmpdir;
	snprintf(tmpdir, sizeof(tmpdir), "%s/secho-fuzz-XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("fuzz: mkdtemp");
		abort();
	}
	atexit(tmpdir_remove);
	return tmpdir;
}

const char *
fz_path(const char *name)
{
	static char buf[8][512];
	static unsigned slot;
	char *p = buf[slot++ % 8];

	snprintf(p, sizeof(buf[0]), "%s/%s", fz_tmpdir(), name);
	return p;
}

int
fz_write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd == -1)
		return -1;
	n = write(fd, buf, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

FILE *
fz_devnull(void)
{
	static FILE *f;

	if (f == NULL && (f = fopen("/dev/null", "w")) == NULL)
		abort();
	return f;
}
