/* request.h: one HTTP request as the web server hands it over: parameters, route, form body. */
#ifndef TB_REQUEST_H
#define TB_REQUEST_H

#include <stddef.h>

#include "valid.h"

#define TB_PARAMS_MAX 512            /* CGI/FastCGI parameters kept per request */
#define TB_PARAMS_BYTES (512 * 1024) /* their total size */
#define TB_BODY_MAX (64 * 1024)      /* request body accepted */
#define TB_FORM_FIELDS_MAX 64        /* form fields accepted */
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
/* What went wrong with reading the body, when something did. */
enum tb_body_fault {
	TB_BODY_OK,
	TB_BODY_TOO_LARGE, /* over TB_BODY_MAX: not read, the web server discards it */
	TB_BODY_SHORT,     /* the body ended before CONTENT_LENGTH bytes */
};
/*
 * Reads the body with read_fn (n bytes at most into p; the count, 0 at the end, or < 0):
 * CONTENT_LENGTH bytes, or without a length (chunked through some servers) a POST's body to its
 * end, at most TB_BODY_MAX bytes either way. A body over the cap, or one that ends early, is
 * marked on the request (tb_request_body_fault) and answered by the routes; a malformed
 * CONTENT_LENGTH reads nothing (the routes refuse the request). 0, or TB_ERR_ALLOC.
 */
int tb_request_read_body(
    struct tb_request *req, int (*read_fn)(void *arg, char *p, int n), void *arg);
void tb_request_set_body_fault(struct tb_request *req, enum tb_body_fault fault);
enum tb_body_fault tb_request_body_fault(const struct tb_request *req);
/*
 * The body length the web server announced in CONTENT_LENGTH: 0 and *len (-1 when the variable
 * is absent or empty), or TB_ERR_REQUEST when it is present but not a plain decimal number
 * (RFC 3875 section 4.1.2: "1*digit"; "-5", "1e3", " 7" and overflowing values are not), or
 * repeated.
 */
int tb_request_content_length(const struct tb_request *req, long *len);

/*
 * A parameter's value (borrowed), or NULL when it is absent, and also when it occurs more than
 * once: a repeated name is never read as either of its values (tb_request_repeated refuses it).
 */
const char *tb_request_param(const struct tb_request *req, const char *name);
/* An HTTP request header by its name ("X-Client-Cert-Hash" is HTTP_X_CLIENT_CERT_HASH). */
const char *tb_request_header(const struct tb_request *req, const char *header);
/*
 * The CGI variable a header arrives in ("X-Client-Cert-Hash" is HTTP_X_CLIENT_CERT_HASH), into
 * out (TB_HEADER_VAR_MAX + 1 bytes). TB_ERR_INVALID when the header name is empty or too long.
 */
#define TB_HEADER_NAME_MAX 128
#define TB_HEADER_VAR_MAX (5 + TB_HEADER_NAME_MAX)
int tb_request_header_var(const char *header, char out[TB_HEADER_VAR_MAX + 1]);
/*
 * The CGI variables that request parsing, the routes and the FastCGI front read (the flows add
 * theirs: flow.h), TB_REQUEST_NVARS of them.
 */
#define TB_REQUEST_NVARS 9
extern const char *const tb_request_vars[TB_REQUEST_NVARS];
/*
 * The first of the n names that occurs more than once among the request's parameters (borrowed
 * from names), or NULL. FastCGI allows a name twice, and web servers map several spellings of a
 * header ("X.Client.Cert.Hash", "X-Client-Cert-Hash") onto one variable: a client could add its
 * own copy of a load balancer's header, so a name the broker reads must occur once.
 */
const char *tb_request_repeated(const struct tb_request *req, const char *const *names, size_t n);
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

/* 1 when the content type is application/x-www-form-urlencoded (parameters allowed). */
int tb_content_type_is_form(const char *content_type);
/* The trace id of X-Cloud-Trace-Context or traceparent into out ("" when none or malformed). */
void tb_request_trace(const struct tb_request *req, char out[TB_TRACE_MAX + 1]);

/* Decodes a form body: TB_ERR_REQUEST for bad escapes, NUL bytes or too many fields. */
int tb_form_parse(const char *body, size_t len, struct tb_form **out);
void tb_form_free(struct tb_form *form);
/* How many times name occurs; *value (borrowed) is its first value when it does. */
int tb_form_get(const struct tb_form *form, const char *name, const char **value);

/* The token request's parameters (doc/contract.md section 4), decoded and checked. */
struct tb_token_params {
	struct tb_form *form;                                       /* owns the strings below */
	const char *grant, *scope, *account, *client_id, *audience; /* NULL when absent or "" */
	int ext; /* format=external_credential: answers (errors too) in the executable's form */
};

#define TB_DESC_MAX 512 /* an error_description, for the client */

/*
 * Parses a POST /token request: its body's state, content type and form, then each parameter
 * (at most once; "" counts as absent, RFC 6749 section 3.1). format is read first, so that p->ext
 * is set for every later refusal, even one of a body that does not decode. An executable's
 * request ignores scope and service_account. 0 and *p (tb_token_params_free), or an error with
 * the client's description in desc (TB_DESC_MAX bytes): TB_ERR_TOO_LARGE, TB_ERR_MEDIA,
 * TB_ERR_REQUEST (bad body, repeated or malformed parameter, grant_type missing,
 * service_account without scope, audience with scope), TB_ERR_GRANT, TB_ERR_ALLOC.
 */
int tb_token_params_parse(
    const struct tb_request *req, struct tb_token_params *p, char desc[TB_DESC_MAX]);
void tb_token_params_free(struct tb_token_params *p);

/* Does a raw form body (one that may not decode) hold format=external_credential? */
int tb_form_asks_external(const char *body, size_t len);

#endif
