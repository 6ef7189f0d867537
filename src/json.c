/* json.c: json-c behind a small interface, with size and depth limits on parsing. */
#include "json.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"

#define J(x) ((json_object *)(x))
#define T(x) ((struct tb_json *)(x))

struct tb_json *
tb_json_object(void)
{
	return T(json_object_new_object());
}

struct tb_json *
tb_json_array(void)
{
	return T(json_object_new_array());
}

struct tb_json *
tb_json_string(const char *s)
{
	/* json-c would take strlen(NULL); a missing string is no string */
	if (s == NULL)
		return NULL;
	return T(json_object_new_string(s));
}

void
tb_json_free(struct tb_json *j)
{
	if (j != NULL)
		json_object_put(J(j));
}

/* Adds v (NULL: JSON null when is_null, else a failed allocation) under key; takes v. */
static int
set(struct tb_json *o, const char *key, json_object *v, int is_null)
{
	if (o == NULL || (v == NULL && !is_null)) {
		json_object_put(v);
		return TB_ERR_ALLOC;
	}
	if (json_object_object_add(J(o), key, v) != 0) {
		json_object_put(v);
		return TB_ERR_ALLOC;
	}
	return 0;
}

int
tb_json_set_str(struct tb_json *o, const char *key, const char *value)
{
	if (value == NULL)
		return set(o, key, NULL, 1);
	return set(o, key, json_object_new_string(value), 0);
}

int
tb_json_set_int(struct tb_json *o, const char *key, int64_t value)
{
	return set(o, key, json_object_new_int64(value), 0);
}

int
tb_json_set_bool(struct tb_json *o, const char *key, int value)
{
	return set(o, key, json_object_new_boolean(value != 0), 0);
}

int
tb_json_set_null(struct tb_json *o, const char *key)
{
	return set(o, key, NULL, 1);
}

int
tb_json_set(struct tb_json *o, const char *key, struct tb_json *child)
{
	if (child == NULL) {
		return TB_ERR_ALLOC;
	}
	if (o == NULL) {
		json_object_put(J(child));
		return TB_ERR_ALLOC;
	}
	return set(o, key, J(child), 0);
}

int
tb_json_append(struct tb_json *a, struct tb_json *child)
{
	if (child == NULL)
		return TB_ERR_ALLOC;
	if (a == NULL || json_object_array_add(J(a), J(child)) != 0) {
		json_object_put(J(child));
		return TB_ERR_ALLOC;
	}
	return 0;
}

int
tb_json_append_str(struct tb_json *a, const char *s)
{
	if (s == NULL)
		return TB_ERR_INVALID;
	return tb_json_append(a, tb_json_string(s));
}

#define RENDER_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/*
 * The renderer is ours, not json-c's: json-c's serializers ignore most results of their own
 * printbuf appends, so when memory runs short they drop a piece of text and still report
 * success (a token with "amr":[""], or a claim under the key ""). Here every append is
 * checked. The text is the same as json-c's with RENDER_FLAGS.
 */
static int render_value(struct tb_buf *b, json_object *v, int depth);

/* A string as json-c writes it: " \ and control characters escaped, the rest as it is. */
static int
render_string(struct tb_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char u[sizeof("\\u0000")];
	const char *e;
	size_t i, start = 0;
	int r;

	if ((r = tb_buf_add(b, "\"", 1)) != 0)
		return r;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '"': e = "\\\""; break;
		case '\\': e = "\\\\"; break;
		case '\b': e = "\\b"; break;
		case '\f': e = "\\f"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		case '\t': e = "\\t"; break;
		default:
			if (c >= 0x20)
				continue;
			snprintf(u, sizeof(u), "\\u00%c%c", hex[c >> 4], hex[c & 0xf]);
			e = u;
		}
		if ((r = tb_buf_add(b, s + start, i - start)) != 0 ||
		    (r = tb_buf_addstr(b, e)) != 0)
			return r;
		start = i + 1;
	}
	if ((r = tb_buf_add(b, s + start, n - start)) != 0)
		return r;
	return tb_buf_add(b, "\"", 1);
}

/*
 * An integer in decimal, as json-c writes it ("%" PRId64), without json-c's printbuf and
 * snprintf: every token's claims hold several, and formatting them was a tenth of a token.
 */
static int
render_int(struct tb_buf *b, int64_t v)
{
	char text[sizeof("-9223372036854775808")], *p = text + sizeof(text);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u > 0);
	if (v < 0)
		*--p = '-';
	return tb_buf_add(b, p, (size_t)(text + sizeof(text) - p));
}

/* A number, in json-c's own form (a double keeps the text it was parsed from). */
static int
render_number(struct tb_buf *b, json_object *v)
{
	size_t n = 0;
	const char *s;

	if (json_object_get_type(v) == json_type_int && json_object_get_int64(v) != INT64_MAX)
		return render_int(b, json_object_get_int64(v));
	s = json_object_to_json_string_length(v, RENDER_FLAGS, &n);

	/* a number is never empty text: empty is json-c's failed allocation */
	if (s == NULL || n == 0)
		return TB_ERR_ALLOC;
	return tb_buf_add(b, s, n);
}

/* NOLINTBEGIN(misc-no-recursion): JSON nests; render_value stops at TB_JSON_DEPTH_MAX */
static int
render_object(struct tb_buf *b, json_object *o, int depth)
{
	int r, first = 1;

	if ((r = tb_buf_add(b, "{", 1)) != 0)
		return r;
	json_object_object_foreach(o, key, val)
	{
		/* cppcheck-suppress knownConditionTrueFalse ; json-c's loop macro is no call */
		if ((!first && (r = tb_buf_add(b, ",", 1)) != 0) ||
		    (r = render_string(b, key, strlen(key))) != 0 ||
		    (r = tb_buf_add(b, ":", 1)) != 0 || (r = render_value(b, val, depth + 1)) != 0)
			return r;
		first = 0;
	}
	return tb_buf_add(b, "}", 1);
}

static int
render_array(struct tb_buf *b, json_object *a, int depth)
{
	size_t i, n = json_object_array_length(a);
	int r;

	if ((r = tb_buf_add(b, "[", 1)) != 0)
		return r;
	for (i = 0; i < n; i++) {
		if ((i > 0 && (r = tb_buf_add(b, ",", 1)) != 0) ||
		    (r = render_value(b, json_object_array_get_idx(a, i), depth + 1)) != 0)
			return r;
	}
	return tb_buf_add(b, "]", 1);
}

static int
render_value(struct tb_buf *b, json_object *v, int depth)
{
	if (depth > TB_JSON_DEPTH_MAX)
		return TB_ERR_LIMIT;
	switch (json_object_get_type(v)) {
	case json_type_null: return tb_buf_addstr(b, "null");
	case json_type_boolean:
		return tb_buf_addstr(b, json_object_get_boolean(v) ? "true" : "false");
	case json_type_int:
	case json_type_double: return render_number(b, v);
	case json_type_string:
		return render_string(
		    b, json_object_get_string(v), (size_t)json_object_get_string_len(v));
	case json_type_object: return render_object(b, v, depth);
	case json_type_array: return render_array(b, v, depth);
	}
	return TB_ERR_INTERNAL;
}
/* NOLINTEND(misc-no-recursion) */

int
tb_json_render(const struct tb_json *j, char **out)
{
	struct tb_buf b;
	int r;

	*out = NULL;
	tb_buf_init(&b, TB_JSON_RENDER_MAX);
	if (j == NULL)
		return TB_ERR_INVALID;
	if ((r = render_value(&b, J(j), 0)) != 0)
		goto out;
	r = TB_ERR_ALLOC;
	if ((*out = tb_buf_detach(&b)) == NULL)
		goto out;
	r = 0;
out:
	tb_buf_free(&b);
	return r;
}

int
tb_json_parse(const char *text, size_t n, struct tb_json **out)
{
	struct json_tokener *tok;
	json_object *v;
	int r = TB_ERR_INVALID;

	*out = NULL;
	if (n > TB_JSON_PARSE_MAX)
		return TB_ERR_LIMIT;
	if (memchr(text, '\0', n) != NULL)
		return TB_ERR_INVALID;
	if ((tok = json_tokener_new_ex(TB_JSON_DEPTH_MAX)) == NULL)
		return TB_ERR_ALLOC;
	/* invalid UTF-8 would otherwise pass through into tokens and log lines as it came */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	v = json_tokener_parse_ex(tok, text, (int)n);
	if (v == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		if (json_tokener_get_error(tok) == json_tokener_error_depth)
			r = TB_ERR_LIMIT;
		json_object_put(v);
		goto out;
	}
	/* the value must span the whole text, trailing whitespace aside */
	for (size_t i = json_tokener_get_parse_end(tok); i < n; i++) {
		if (strchr(" \t\r\n", text[i]) == NULL) {
			json_object_put(v);
			goto out;
		}
	}
	*out = T(v);
	r = 0;
out:
	json_tokener_free(tok);
	return r;
}

struct tb_json *
tb_json_get(const struct tb_json *o, const char *key)
{
	json_object *v = NULL;

	if (o == NULL || !json_object_is_type(J(o), json_type_object))
		return NULL;
	if (!json_object_object_get_ex(J(o), key, &v))
		return NULL;
	return T(v);
}

const char *
tb_json_get_str(const struct tb_json *o, const char *key)
{
	return tb_json_str(tb_json_get(o, key));
}

int
tb_json_get_int(const struct tb_json *o, const char *key, int64_t *out)
{
	struct tb_json *v = tb_json_get(o, key);

	if (v == NULL || !json_object_is_type(J(v), json_type_int))
		return TB_ERR_NOT_FOUND;
	*out = json_object_get_int64(J(v));
	return 0;
}

int
tb_json_get_bool(const struct tb_json *o, const char *key)
{
	struct tb_json *v = tb_json_get(o, key);

	if (v == NULL || !json_object_is_type(J(v), json_type_boolean))
		return TB_ERR_NOT_FOUND;
	return json_object_get_boolean(J(v)) ? 1 : 0;
}

int
tb_json_is_object(const struct tb_json *j)
{
	return j != NULL && json_object_is_type(J(j), json_type_object);
}

int
tb_json_is_array(const struct tb_json *j)
{
	return j != NULL && json_object_is_type(J(j), json_type_array);
}

const char *
tb_json_str(const struct tb_json *j)
{
	if (j == NULL || !json_object_is_type(J(j), json_type_string))
		return NULL;
	return json_object_get_string(J(j));
}

size_t
tb_json_len(const struct tb_json *a)
{
	if (!tb_json_is_array(a))
		return 0;
	return json_object_array_length(J(a));
}

struct tb_json *
tb_json_at(const struct tb_json *a, size_t i)
{
	if (i >= tb_json_len(a))
		return NULL;
	return T(json_object_array_get_idx(J(a), i));
}

int
tb_json_each(
    const struct tb_json *o, int (*fn)(void *arg, const char *key, struct tb_json *v), void *arg)
{
	int r;

	if (!tb_json_is_object(o))
		return TB_ERR_INVALID;
	json_object_object_foreach(J(o), key, val)
	{
		if ((r = fn(arg, key, T(val))) != 0)
			return r;
	}
	return 0;
}
