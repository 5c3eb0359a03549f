/*
 * fuzz.h - what the libFuzzer harnesses share: the entry points, a way
 * to cut one input into chunks or into an argv, and a private temp dir.
 *
 * Chunked inputs are "u16 big-endian length, bytes" repeated; a last
 * chunk shorter than its length takes what is left, so every input is
 * valid and the fuzzer never wastes a run on framing.
 */
#ifndef SECHO_FUZZ_H
#define SECHO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A NUL-terminated copy of data (free() it); NULL only out of memory. */
char *fz_strndup(const uint8_t *data, size_t size);

struct fz_chunks {
	const uint8_t *p;
	size_t left;
};

void fz_chunks_init(struct fz_chunks *c, const uint8_t *data, size_t size);
/* The next chunk into *out, *len; 0 when the input is used up. */
int fz_chunk_next(struct fz_chunks *c, const uint8_t **out, size_t *len);
/* The next chunk as a string (free() it), or NULL when there is none. */
char *fz_chunk_str(struct fz_chunks *c);

/*
 * argv for a getopt parser: argv[0] is prog, then one word per
 * NUL-separated piece of data; argv[argc] is NULL.  The words are
 * copies, since GNU getopt permutes argv and parsers keep pointers.
 */
struct fz_argv {
	int argc;
	char **argv;
	char *buf;
};

int fz_argv_split(struct fz_argv *a, const char *prog, const uint8_t *data,
    size_t size);
void fz_argv_free(struct fz_argv *a);

/* /dev/null for writing, opened once: where --help and --version go. */
FILE *fz_devnull(void);

/* A directory of our own under $TMPDIR, removed (one level) at exit. */
const char *fz_tmpdir(void);
/* "<fz_tmpdir()>/name" in a static buffer that rotates over 8 slots. */
const char *fz_path(const char *name);
/* Writes len bytes to path (truncating); 0 or -1. */
int fz_write_file(const char *path, const void *buf, size_t len);

#endif
