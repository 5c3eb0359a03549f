/*
 * check_json.c - the JSON writer (secho/json.h): escaping, commas and
 * nesting, numbers, misuse; and that jq reads what it writes.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "secho/json.h"
#include "secho/secho.h"
#include "testutil.h"

START_TEST(quote_escapes)
{
	char out[128];
	size_t n;

	n = secho_json_quote(out, sizeof(out), "a\"b\\c\n\x01\x7f");
	ck_assert_str_eq(out, "\"a\\\"b\\\\c\\u000a\\u0001\\u007f\"");
	ck_assert_uint_eq(n, strlen(out));
	/* UTF-8 as it is ("é", "€", U+1F600); other high bytes escaped:
	 * a lone continuation, an overlong "/", a surrogate, a cut "é". */
	n = secho_json_quote(out, sizeof(out), "\xc3\xa9\xe2\x82\xac"
	    "\xf0\x9f\x98\x80|\x80\xc0\xaf\xed\xa0\x80\xc3");
	ck_assert_str_eq(out, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|"
	    "\\u0080\\u00c0\\u00af\\u00ed\\u00a0\\u0080\\u00c3\"");
	ck_assert_uint_eq(n, strlen(out));
	ck_assert_uint_eq(secho_json_quote(out, 2, "x"), 0);
	/* Cut to fit, still a closed string. */
	n = secho_json_quote(out, 12, "0123456789abcdef");
	ck_assert_msg(n < 12 && out[0] == '"' && out[n - 1] == '"' &&
	    out[n] == '\0', "cut: %s", out);
}
END_TEST

START_TEST(writer_nesting)
{
	struct secho_json j;
	const char *t;

	secho_json_init(&j);
	secho_json_object_begin(&j, NULL);
	secho_json_string(&j, "s", "x\ty");
	secho_json_string(&j, "none", NULL);
	secho_json_int(&j, "i", -42);
	secho_json_uint(&j, "u", 18446744073709551615ULL);
	secho_json_double(&j, "d", 1.23456, 3);
	secho_json_double(&j, "nan", NAN, 3);
	secho_json_bool(&j, "t", 1);
	secho_json_bool(&j, "f", 0);
	secho_json_null(&j, "n");
	secho_json_array_begin(&j, "a");
	secho_json_int(&j, NULL, 1);
	secho_json_object_begin(&j, NULL);
	secho_json_object_end(&j);
	secho_json_array_begin(&j, NULL);
	secho_json_array_end(&j);
	secho_json_int(&j, NULL, 2);
	secho_json_array_end(&j);
	secho_json_object_end(&j);
	t = secho_json_text(&j);
	ck_assert_msg(t != NULL, "%s", secho_error());
	ck_assert_str_eq(t, "{\"s\":\"x\\u0009y\",\"none\":null,\"i\":-42,"
	    "\"u\":18446744073709551615,\"d\":1.235,\"nan\":null,\"t\":true,"
	    "\"f\":false,\"n\":null,\"a\":[1,{},[],2]}");
	secho_json_free(&j);
}
END_TEST

START_TEST(writer_misuse)
{
	struct secho_json j;

	secho_json_init(&j);
	ck_assert_ptr_null(secho_json_text(&j));
	secho_json_object_begin(&j, NULL);
	ck_assert_ptr_null(secho_json_text(&j));
	ck_assert_msg(strstr(secho_error(), "still open") != NULL, "%s",
	    secho_error());
	secho_json_object_end(&j);
	ck_assert_ptr_nonnull(secho_json_text(&j));
	secho_json_object_end(&j);	/* one end too many */
	ck_assert_ptr_null(secho_json_text(&j));
	secho_json_free(&j);

	secho_json_init(&j);
	for (int i = 0; i <= SECHO_JSON_DEPTH; i++)
		secho_json_array_begin(&j, NULL);
	for (int i = 0; i <= SECHO_JSON_DEPTH; i++)
		secho_json_array_end(&j);
	ck_assert_ptr_null(secho_json_text(&j));
	secho_json_free(&j);
}
END_TEST

/* Every byte value in a string, a long string (the buffer grows): jq agrees. */
START_TEST(writer_jq_reads_it)
{
	struct secho_json j;
	struct tu_result r;
	char all[256], *big = malloc(100000);
	const char *t;

	ck_assert_ptr_nonnull(big);
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	memset(big, '"', 99999);
	big[99999] = '\0';
	secho_json_init(&j);
	secho_json_object_begin(&j, NULL);
	secho_json_string(&j, "all\n", all);
	secho_json_string(&j, "big", big);
	secho_json_object_end(&j);
	t = secho_json_text(&j);
	ck_assert_msg(t != NULL, "%s", secho_error());
	tu_assert_exit(tu_run((const char *[]){ "/usr/bin/jq", "-r",
	    "[(.[\"all\\n\"] | length), (.big | length)] | map(tostring) | "
	    "join(\" \")", NULL }, t, strlen(t), 20000, &r), &r, 0);
	ck_assert_msg(strcmp(r.out, "255 99999\n") == 0, "jq: %s", r.out);
	tu_result_free(&r);
	secho_json_free(&j);
	free(big);
}
END_TEST

Suite *
json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("writer");

	tcase_add_test(tc, quote_escapes);
	tcase_add_test(tc, writer_nesting);
	tcase_add_test(tc, writer_misuse);
	tcase_add_test(tc, writer_jq_reads_it);
	suite_add_tcase(s, tc);
	return s;
}
