/*
 * json.h - a small JSON writer (RFC 8259) shared by the programs: the
 * server's --log-format json records and the client's --json report.
 * Strings are escaped so the text is valid JSON whatever the bytes were;
 * numbers are finite or null; objects and arrays nest with their commas
 * placed by the writer.
 */
#ifndef SECHO_JSON_H
#define SECHO_JSON_H

#include <stddef.h>

/* Nesting the writer follows; deeper is a mistake (the text fails). */
#define SECHO_JSON_DEPTH 16

/*
 * Writes s as a JSON string (quoted, escaped: '"' and '\\' with a
 * backslash, control bytes and DEL as \u00XX; valid UTF-8 as it is, and
 * any other byte >= 0x80 as \u00XX, its Latin-1 reading) into out,
 * NUL-terminated, and returns its length.  A string that does not fit is
 * cut, still closed by its quote; len < 3 writes nothing and returns 0.
 * Room for the worst case: 6 bytes per byte of s, and 3.
 */
size_t secho_json_quote(char *out, size_t len, const char *s);

/*
 * The writer: a growing buffer of one JSON text.  Every call that adds a
 * value takes key, the member's name inside an object, or NULL inside an
 * array and at the top.  A failure (out of memory, nesting deeper than
 * SECHO_JSON_DEPTH, or ends that do not match) is kept and reported once,
 * by secho_json_text().
 */
struct secho_json {
	char *buf;
	size_t len, cap;
	int depth;
	/* A value was written at this depth: the next one needs a comma. */
	unsigned char more[SECHO_JSON_DEPTH + 1];
	int failed;
};

void secho_json_init(struct secho_json *j);
void secho_json_free(struct secho_json *j);

void secho_json_object_begin(struct secho_json *j, const char *key);
void secho_json_object_end(struct secho_json *j);
void secho_json_array_begin(struct secho_json *j, const char *key);
void secho_json_array_end(struct secho_json *j);

/* A string, or null when s is NULL. */
void secho_json_string(struct secho_json *j, const char *key, const char *s);
void secho_json_int(struct secho_json *j, const char *key, long long v);
void secho_json_uint(struct secho_json *j, const char *key,
    unsigned long long v);
/* With at most `decimals` digits after the point; NaN and inf are null. */
void secho_json_double(struct secho_json *j, const char *key, double v,
    int decimals);
void secho_json_bool(struct secho_json *j, const char *key, int v);
void secho_json_null(struct secho_json *j, const char *key);

/*
 * The finished text (NUL-terminated, no newline), valid until the next
 * call on j; or NULL with secho_error() set when writing failed or an
 * object or array is still open.
 */
const char *secho_json_text(struct secho_json *j);

#endif
