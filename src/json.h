/* json.h: the gateway to json-c; the only module that includes its headers. */
#ifndef TB_JSON_H
#define TB_JSON_H

#include <stddef.h>
#include <stdint.h>

#define TB_JSON_DEPTH_MAX 16         /* nesting accepted when parsing and rendering */
#define TB_JSON_PARSE_MAX (1 << 20)  /* bytes accepted when parsing */
#define TB_JSON_RENDER_MAX (1 << 20) /* bytes of text tb_json_render gives at most */

struct tb_json; /* a JSON value */

struct tb_json *tb_json_object(void);
struct tb_json *tb_json_array(void);
struct tb_json *tb_json_string(const char *s); /* NULL when s is NULL or memory ran out */
void tb_json_free(struct tb_json *j);

/* Setters copy the strings; a NULL string sets JSON null. They return 0 or TB_ERR_ALLOC. */
int tb_json_set_str(struct tb_json *o, const char *key, const char *value);
int tb_json_set_int(struct tb_json *o, const char *key, int64_t value);
int tb_json_set_bool(struct tb_json *o, const char *key, int value);
int tb_json_set_null(struct tb_json *o, const char *key);
/* Adds child under key; takes ownership of child, even on failure. */
int tb_json_set(struct tb_json *o, const char *key, struct tb_json *child);
/* Appends to an array; takes ownership of child, even on failure. */
int tb_json_append(struct tb_json *a, struct tb_json *child);
/* Appends a copy of s; TB_ERR_INVALID when s is NULL (an array holds no null strings). */
int tb_json_append_str(struct tb_json *a, const char *s);

/*
 * Renders compactly (no escaped slashes, as json-c's JSON_C_TO_STRING_PLAIN) into a new string
 * (*out, caller frees). Every failed allocation is TB_ERR_ALLOC: nothing is silently left out,
 * as json-c's own serializer would. TB_ERR_LIMIT over TB_JSON_RENDER_MAX bytes or nested deeper
 * than TB_JSON_DEPTH_MAX.
 */
int tb_json_render(const struct tb_json *j, char **out);

/*
 * Parses n bytes of JSON text (at most TB_JSON_PARSE_MAX, nesting at most TB_JSON_DEPTH_MAX, valid
 * UTF-8) into a new value; the whole text must be one value. TB_ERR_INVALID or TB_ERR_LIMIT
 * otherwise.
 */
int tb_json_parse(const char *text, size_t n, struct tb_json **out);

/* Lookups: borrowed results, valid while the parent lives; NULL when absent or of another type. */
struct tb_json *tb_json_get(const struct tb_json *o, const char *key);
const char *tb_json_get_str(const struct tb_json *o, const char *key);
/* 0 and *out when key holds an integer (a JSON number with no fraction), else TB_ERR_NOT_FOUND. */
int tb_json_get_int(const struct tb_json *o, const char *key, int64_t *out);
/* 1 when key holds true, 0 when false, TB_ERR_NOT_FOUND otherwise. */
int tb_json_get_bool(const struct tb_json *o, const char *key);
int tb_json_is_object(const struct tb_json *j);
int tb_json_is_array(const struct tb_json *j);
const char *tb_json_str(const struct tb_json *j); /* the string, or NULL if j is not one */
size_t tb_json_len(const struct tb_json *a);      /* array length; 0 if not an array */
struct tb_json *tb_json_at(const struct tb_json *a, size_t i);

/* Iterates an object's members: calls fn for each until it returns non-zero, which is returned. */
int tb_json_each(
    const struct tb_json *o, int (*fn)(void *arg, const char *key, struct tb_json *v), void *arg);

#endif
