/* request.h: one HTTP request as the web server hands it over: parameters, route, form body. */
#ifndef TB_REQUEST_H
#define TB_REQUEST_H

#include <stddef.h>

#define TB_PARAMS_MAX 512            /* CGI/FastCGI parameters kept per request */
#define TB_PARAMS_BYTES (512 * 1024) /* their total size */
#define TB_BODY_MAX (64 * 1024)      /* request body accepted */
#define TB_FORM_FIELDS_MAX 64        /* form fields accepted */
#define TB_HOST_MAX 255
#define TB_TRACE_MAX 64

enum tb_method { TB_METHOD_GET, TB_METHOD_HEAD, TB_METHOD_POST, TB_METHOD_OTHER };

struct tb_request; /* owns copies of everything: libfcgi frees its own on the next accept */
struct tb_form;    /* a decoded application/x-www-form-urlencoded body */

int tb_request_new(struct tb_request **out);
void tb_request_free(struct tb_request *req);
/* Keeps a copy of one "NAME=value" parameter. TB_ERR_LIMIT past the caps. */
int tb_request_add_param(struct tb_request *req, const char *name_value);
/* Keeps a copy of the body (at most TB_BODY_MAX bytes, else TB_ERR_TOO_LARGE). */
int tb_request_set_body(struct tb_request *req, const char *body, size_t len);
/* Marks the body as over TB_BODY_MAX (it was not read). */
void tb_request_set_too_large(struct tb_request *req);
int tb_request_too_large(const struct tb_request *req);

/* A parameter's value (borrowed), or NULL. */
const char *tb_request_param(const struct tb_request *req, const char *name);
/* An HTTP request header by its name ("X-Client-Cert-Hash" is HTTP_X_CLIENT_CERT_HASH). */
const char *tb_request_header(const struct tb_request *req, const char *header);
const char *tb_request_body(const struct tb_request *req, size_t *len);
enum tb_method tb_request_method(const struct tb_request *req);

/*
 * Splits the request's path into the mount point and the route below it ("/token"), from
 * PATH_INFO, or from REQUEST_URI below SCRIPT_NAME or below issuer_path (TOKEN_ISSUER's path,
 * NULL when the issuer comes from Host). *mount and *route are the caller's. TB_ERR_REQUEST when
 * issuer_path is NULL and the mount, which then goes into the issuer, is not printable ASCII
 * without spaces.
 */
int tb_request_route(
    const struct tb_request *req, const char *issuer_path, char **mount, char **route);

/* 1 when host is a host name or address with an optional port, and nothing else. */
int tb_host_valid(const char *host);
/* 1 when the content type is application/x-www-form-urlencoded (parameters allowed). */
int tb_content_type_is_form(const char *content_type);
/* The trace id of X-Cloud-Trace-Context or traceparent into out ("" when none or malformed). */
void tb_request_trace(const struct tb_request *req, char out[TB_TRACE_MAX + 1]);

/* Decodes a form body: TB_ERR_REQUEST for bad escapes, NUL bytes or too many fields. */
int tb_form_parse(const char *body, size_t len, struct tb_form **out);
void tb_form_free(struct tb_form *form);
/* How many times name occurs; *value (borrowed) is its first value when it does. */
int tb_form_get(const struct tb_form *form, const char *name, const char **value);

#endif
