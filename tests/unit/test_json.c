/* test_json.c: the json-c gateway renders compactly and parses within its limits. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "json.h"
#include "tap.h"

int
main(void)
{
	struct tb_json *o = tb_json_object(), *a = tb_json_array(), *p = NULL;
	char *s = NULL, deep[200];
	int64_t n;
	size_t i;

	tb_json_set_str(o, "iss", "https://x.example/a/b");
	tb_json_set_int(o, "exp", 1693358537);
	tb_json_set_bool(o, "ok", 1);
	tb_json_set_null(o, "none");
	tb_json_set_str(o, "null_str", NULL);
	tb_json_append_str(a, "x");
	tb_json_set(o, "amr", a);
	ok(tb_json_render(o, &s) == 0, "renders");
	is_str(s,
	    "{\"iss\":\"https://x.example/a/b\",\"exp\":1693358537,\"ok\":true,\"none\":null,"
	    "\"null_str\":null,\"amr\":[\"x\"]}",
	    "compact, in insertion order, slashes not escaped");
	free(s);
	tb_json_free(o);

	ok(tb_json_parse("{\"a\":\"b\",\"n\":5,\"t\":true,\"l\":[1,2]} \n", 35, &p) == 0, "parses");
	is_str(tb_json_get_str(p, "a"), "b", "string member");
	ok(tb_json_get_int(p, "n", &n) == 0 && n == 5, "integer member");
	is_int(tb_json_get_bool(p, "t"), 1, "boolean member");
	is_int(tb_json_get_int(p, "a", &n), TB_ERR_NOT_FOUND, "a string is not an integer");
	ok(tb_json_get_str(p, "n") == NULL, "an integer is not a string");
	is_int((long long)tb_json_len(tb_json_get(p, "l")), 2, "array length");
	ok(tb_json_at(tb_json_get(p, "l"), 2) == NULL, "index past the end is NULL");
	tb_json_free(p);

	is_int(tb_json_parse("{\"a\":1} x", 9, &p), TB_ERR_INVALID, "trailing garbage refused");
	is_int(tb_json_parse("{\"a\":", 5, &p), TB_ERR_INVALID, "truncated text refused");
	is_int(
	    tb_json_parse("{\"a\":1,}", 8, &p), TB_ERR_INVALID, "strict: trailing comma refused");
	is_int(tb_json_parse("{\"a\":\"\0\"}", 9, &p), TB_ERR_INVALID, "NUL byte refused");
	is_int(
	    tb_json_parse("{\"a\":\"\xff\xfe\"}", 10, &p), TB_ERR_INVALID, "invalid UTF-8 refused");
	is_int(tb_json_parse("{\"a\":\"\xc3\"}", 9, &p), TB_ERR_INVALID, "truncated UTF-8 refused");
	ok(tb_json_parse("{\"a\":\"\xc3\xa9\"}", 10, &p) == 0, "valid UTF-8 accepted");
	tb_json_free(p);
	for (i = 0; i < 100; i++)
		deep[i] = '[';
	for (i = 100; i < 200; i++)
		deep[i] = ']';
	is_int(tb_json_parse(deep, 200, &p), TB_ERR_LIMIT, "nesting past the depth limit refused");
	is_int(
	    tb_json_parse("x", TB_JSON_PARSE_MAX + 1, &p), TB_ERR_LIMIT, "oversized text refused");
	ok(p == NULL, "no value after refusals");
	tb_json_free(NULL);
	return done_testing();
}
