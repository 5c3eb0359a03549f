/*
 * json.c - the JSON writer of json.h: one escaper (moved here from the
 * server's log so the client's --json report escapes the same way) and a
 * growing buffer that places commas and checks nesting.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secho/json.h"
#include "secho/secho.h"

/*
 * The length of the valid UTF-8 sequence at s (RFC 3629: shortest form,
 * no surrogates, at most U+10FFFF), or 0 when the byte there starts none.
 */
static size_t
utf8_len(const unsigned char *s)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;	/* overlong */
	else if (c == 0xed)
		hi = 0x9f;	/* surrogates */
	else if (c == 0xf0)
		lo = 0x90;	/* overlong */
	else if (c == 0xf4)
		hi = 0x8f;	/* beyond U+10FFFF */
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

size_t
secho_json_quote(char *out, size_t len, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, n;

	if (len < 3)
		return 0;
	out[o++] = '"';
	/* Room for the longest step (6 bytes) and the closing quote. */
	for (; *p != '\0' && o + 8 < len; p++) {
		if (*p == '"' || *p == '\\') {
			out[o++] = '\\';
			out[o++] = (char)*p;
		} else if (*p >= 0x80 && (n = utf8_len(p)) > 0) {
			memcpy(out + o, p, n);	/* UTF-8 stays itself */
			o += n;
			p += n - 1;
		} else if (*p < 0x20 || *p >= 0x7f)
			/* Valid JSON whatever the bytes were: a byte that is
			 * no UTF-8 becomes the code point of its value. */
			o += (size_t)snprintf(out + o, len - o, "\\u%04x", *p);
		else
			out[o++] = (char)*p;
	}
	out[o++] = '"';
	out[o] = '\0';
	return o;
}

void
secho_json_init(struct secho_json *j)
{
	memset(j, 0, sizeof(*j));
}

void
secho_json_free(struct secho_json *j)
{
	free(j->buf);
	secho_json_init(j);
}

/* Room for n more bytes and a NUL; 0, or -1 (and j fails) without it. */
static int
reserve(struct secho_json *j, size_t n)
{
	size_t cap = j->cap != 0 ? j->cap : 256;
	char *p;

	if (j->failed)
		return -1;
	while (cap - j->len <= n) {
		if (cap > ((size_t)-1) / 2)
			return j->failed = -1;
		cap *= 2;
	}
	if (cap != j->cap) {
		if ((p = realloc(j->buf, cap)) == NULL)
			return j->failed = -1;
		j->buf = p;
		j->cap = cap;
	}
	return 0;
}

static void
put(struct secho_json *j, const char *s, size_t n)
{
	if (reserve(j, n) == -1)
		return;
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = '\0';
}

static void
put_quoted(struct secho_json *j, const char *s)
{
	size_t room = 6 * strlen(s) + 10;	/* see secho_json_quote */

	if (reserve(j, room) == -1)
		return;
	j->len += secho_json_quote(j->buf + j->len, room, s);
}

/* The comma before a value and its `"key":`. */
static void
member(struct secho_json *j, const char *key)
{
	if (j->more[j->depth])
		put(j, ",", 1);
	j->more[j->depth] = 1;
	if (key != NULL) {
		put_quoted(j, key);
		put(j, ":", 1);
	}
}

static void
open_nest(struct secho_json *j, const char *key, const char *brace)
{
	member(j, key);
	if (j->depth == SECHO_JSON_DEPTH) {
		j->failed = -1;
		return;
	}
	put(j, brace, 1);
	j->more[++j->depth] = 0;
}

static void
close_nest(struct secho_json *j, const char *brace)
{
	if (j->depth == 0) {
		j->failed = -1;
		return;
	}
	j->depth--;
	put(j, brace, 1);
}

void
secho_json_object_begin(struct secho_json *j, const char *key)
{
	open_nest(j, key, "{");
}

void
secho_json_object_end(struct secho_json *j)
{
	close_nest(j, "}");
}

void
secho_json_array_begin(struct secho_json *j, const char *key)
{
	open_nest(j, key, "[");
}

void
secho_json_array_end(struct secho_json *j)
{
	close_nest(j, "]");
}

void
secho_json_string(struct secho_json *j, const char *key, const char *s)
{
	member(j, key);
	if (s == NULL)
		put(j, "null", 4);
	else
		put_quoted(j, s);
}

void
secho_json_int(struct secho_json *j, const char *key, long long v)
{
	char num[32];

	member(j, key);
	put(j, num, (size_t)snprintf(num, sizeof(num), "%lld", v));
}

void
secho_json_uint(struct secho_json *j, const char *key, unsigned long long v)
{
	char num[32];

	member(j, key);
	put(j, num, (size_t)snprintf(num, sizeof(num), "%llu", v));
}

void
secho_json_double(struct secho_json *j, const char *key, double v,
    int decimals)
{
	char num[352];	/* DBL_MAX in %f is 309 digits */
	int n;

	member(j, key);
	if (!isfinite(v)) {
		put(j, "null", 4);
		return;
	}
	n = snprintf(num, sizeof(num), "%.*f", decimals < 0 ? 0 :
	    decimals > 17 ? 17 : decimals, v);
	if (n > 0 && (size_t)n < sizeof(num))
		put(j, num, (size_t)n);
	else
		put(j, "null", 4);	/* cannot happen: room for DBL_MAX */
}

void
secho_json_bool(struct secho_json *j, const char *key, int v)
{
	member(j, key);
	put(j, v ? "true" : "false", v ? 4 : 5);
}

void
secho_json_null(struct secho_json *j, const char *key)
{
	member(j, key);
	put(j, "null", 4);
}

const char *
secho_json_text(struct secho_json *j)
{
	if (j->failed) {
		secho_error_set("JSON: out of memory, or nested more than %d "
		    "deep", SECHO_JSON_DEPTH);
		return NULL;
	}
	if (j->depth != 0 || j->len == 0) {
		secho_error_set("JSON: %s", j->len == 0 ? "nothing written" :
		    "an object or array is still open");
		return NULL;
	}
	return j->buf;
}
