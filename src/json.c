/* json.c: json-c behind a small interface, with size and depth limits on parsing. */
#include "json.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

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
	return T(json_object_new_string(s));
}

void
tb_json_free(struct tb_json *j)
{
	if (j != NULL)
		json_object_put(J(j));
}

static int
set(struct tb_json *o, const char *key, json_object *v, int is_null)
{
	if (o == NULL || (v == NULL && !is_null))
		return TB_ERR_ALLOC;
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
	return tb_json_append(a, tb_json_string(s));
}

int
tb_json_render(const struct tb_json *j, char **out)
{
	const char *s;

	*out = NULL;
	s = json_object_to_json_string_ext(
	    J(j), JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s == NULL || (*out = strdup(s)) == NULL)
		return TB_ERR_ALLOC;
	return 0;
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
