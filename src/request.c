/* request.c: request parameters, routing and form decoding; pure, no I/O (fuzzable). */
#include "request.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "err.h"
#include "log.h"
#include "text.h"

/*
 * A parameter: name and value in one allocation ("NAME\0VALUE\0", size bytes), and a hash
 * of the name, so that the lookups (the repeated-name check alone makes one per variable the
 * broker reads, over every parameter) compare a number before they compare a string.
 */
struct field {
	char *name, *value; /* value points into name's allocation */
	size_t size;
	uint32_t hash;
};

struct tb_request {
	/*
	 * Grown as parameters come, up to TB_PARAMS_MAX: a web server passes 30 to 60, and a
	 * fixed array for the most would be 16 KiB to allocate and free per request.
	 */
	struct field *params;
	size_t nparams, cap, param_bytes;
	char *body;
	size_t body_len;
	enum tb_body_fault body_fault;
};

/* parameters room is made for at the first one: most requests need no more */
#define PARAMS_FIRST 64
#define TRACE_ID_LEN 32    /* hex digits of a trace id (Cloud Trace and W3C alike) */
#define TRACEPARENT_ID 3   /* where the trace id starts in traceparent, after "00-" */
#define TRACEPARENT_LEN 55 /* the shortest traceparent: 2 + 1 + 32 + 1 + 16 + 1 + 2 */
_Static_assert(TRACE_ID_LEN <= TB_TRACE_MAX, "a trace id fits the log context");

static size_t occurrences(const struct tb_request *req, const char *name, const char **value);

/* FNV-1a over a parameter's name: not for safety (names are compared after), only speed. */
static uint32_t
name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

struct tb_form {
	struct field fields[TB_FORM_FIELDS_MAX];
	size_t n;
};

int
tb_request_new(struct tb_request **out)
{
	struct tb_request *req;

	if ((req = malloc(sizeof(*req))) == NULL)
		return TB_ERR_ALLOC;
	req->params = NULL;
	req->cap = 0;
	req->nparams = 0;
	req->param_bytes = 0;
	req->body = NULL;
	req->body_len = 0;
	req->body_fault = TB_BODY_OK;
	*out = req;
	return 0;
}

void
tb_request_free(struct tb_request *req)
{
	size_t i;

	if (req == NULL)
		return;
	/* parameters can hold the client's certificate and headers: wipe them */
	for (i = 0; i < req->nparams; i++) {
		OPENSSL_cleanse(req->params[i].name, req->params[i].size);
		free(req->params[i].name);
	}
	free(req->params);
	if (req->body != NULL)
		tb_free_secret(req->body);
	free(req);
}

int
tb_request_add_param(struct tb_request *req, const char *nv)
{
	const char *eq = strchr(nv, '=');
	size_t n = strlen(nv);
	struct field *f;

	if (eq == NULL || eq == nv)
		return TB_ERR_INVALID;
	if (req->nparams == TB_PARAMS_MAX || n > TB_PARAMS_BYTES - req->param_bytes)
		return TB_ERR_LIMIT;
	if (req->nparams == req->cap) {
		size_t cap = req->cap == 0 ? PARAMS_FIRST : 2 * req->cap;

		if (cap > TB_PARAMS_MAX)
			cap = TB_PARAMS_MAX;
		if ((f = realloc(req->params, cap * sizeof(*f))) == NULL)
			return TB_ERR_ALLOC;
		req->params = f;
		req->cap = cap;
	}
	f = &req->params[req->nparams];
	if ((f->name = malloc(n + 1)) == NULL)
		return TB_ERR_ALLOC;
	memcpy(f->name, nv, n + 1);
	f->name[eq - nv] = '\0';
	f->value = f->name + (eq - nv) + 1;
	f->size = n + 1;
	f->hash = name_hash(f->name);
	req->nparams++;
	req->param_bytes += n;
	return 0;
}

int
tb_request_set_body(struct tb_request *req, const char *body, size_t len)
{
	char *p;

	if (len > TB_BODY_MAX)
		return TB_ERR_TOO_LARGE;
	if ((p = malloc(len + 1)) == NULL)
		return TB_ERR_ALLOC;
	if (len > 0)
		memcpy(p, body, len);
	p[len] = '\0';
	if (req->body != NULL)
		tb_free_secret(req->body);
	req->body = p;
	req->body_len = len;
	return 0;
}

void
tb_request_set_body_fault(struct tb_request *req, enum tb_body_fault fault)
{
	req->body_fault = fault;
}

enum tb_body_fault
tb_request_body_fault(const struct tb_request *req)
{
	return req->body_fault;
}

int
tb_request_read_body(struct tb_request *req, int (*read_fn)(void *arg, char *p, int n), void *arg)
{
	static char body[TB_BODY_MAX + 1];
	long want;
	size_t got = 0;
	int n, r;

	if (tb_request_content_length(req, &want) != 0)
		return 0;
	if (want > TB_BODY_MAX) {
		tb_request_set_body_fault(req, TB_BODY_TOO_LARGE);
		return 0;
	}
	/* without a length only a POST may have a body (RFC 3875 section 4.2) */
	if (want < 0 && tb_request_method(req) != TB_METHOD_POST)
		want = 0;
	while (want < 0 || got < (size_t)want) {
		int room = (int)(sizeof(body) - got);

		if (room == 0)
			break;
		if (want >= 0 && (size_t)want - got < (size_t)room)
			room = (int)((size_t)want - got);
		if ((n = read_fn(arg, body + got, room)) <= 0)
			break;
		got += (size_t)n;
	}
	if (got > TB_BODY_MAX) {
		tb_request_set_body_fault(req, TB_BODY_TOO_LARGE);
		r = 0;
	} else if (want >= 0 && got < (size_t)want) {
		/* never act on part of a form: the routes refuse it */
		tb_log(TB_LOG_WARNING, "api.request", NULL,
		    "The request body ended after %zu of %ld bytes", got, want);
		tb_request_set_body_fault(req, TB_BODY_SHORT);
		r = 0;
	} else
		r = tb_request_set_body(req, body, got);
	memset(body, 0, got);
	return r;
}

int
tb_request_content_length(const struct tb_request *req, long *len)
{
	const char *v;
	size_t n = occurrences(req, "CONTENT_LENGTH", &v);

	*len = -1;
	if (n == 0 || *v == '\0')
		return n > 1 ? TB_ERR_REQUEST : 0;
	if (n > 1 || tb_valid_decimal(v, 0, LONG_MAX, len) != 0) {
		*len = -1;
		return TB_ERR_REQUEST;
	}
	return 0;
}

const char *const tb_request_vars[TB_REQUEST_NVARS] = {
    "REQUEST_METHOD",
    "CONTENT_LENGTH",
    "CONTENT_TYPE",
    "PATH_INFO",
    "REQUEST_URI",
    "SCRIPT_NAME",
    "HTTP_HOST",
    "HTTP_X_CLOUD_TRACE_CONTEXT",
    "HTTP_TRACEPARENT",
};

/* How many times name occurs; *value (borrowed) is its first value, or NULL. */
static size_t
occurrences(const struct tb_request *req, const char *name, const char **value)
{
	uint32_t h = name_hash(name);
	size_t i, count = 0;

	*value = NULL;
	for (i = 0; i < req->nparams; i++) {
		if (req->params[i].hash != h || strcmp(req->params[i].name, name) != 0)
			continue;
		if (count++ == 0)
			*value = req->params[i].value;
	}
	return count;
}

const char *
tb_request_param(const struct tb_request *req, const char *name)
{
	const char *v;

	return occurrences(req, name, &v) == 1 ? v : NULL;
}

int
tb_request_header_var(const char *header, char out[TB_HEADER_VAR_MAX + 1])
{
	size_t i, n = strlen(header);

	if (n == 0 || n > TB_HEADER_NAME_MAX)
		return TB_ERR_INVALID;
	memcpy(out, "HTTP_", 5);
	for (i = 0; i < n; i++)
		out[5 + i] = (char)(header[i] == '-' ? '_' : toupper((unsigned char)header[i]));
	out[5 + n] = '\0';
	return 0;
}

const char *
tb_request_header(const struct tb_request *req, const char *header)
{
	char name[TB_HEADER_VAR_MAX + 1];

	if (tb_request_header_var(header, name) != 0)
		return NULL;
	return tb_request_param(req, name);
}

const char *
tb_request_repeated(const struct tb_request *req, const char *const *names, size_t n)
{
	const char *v;
	size_t i;

	for (i = 0; i < n; i++)
		if (occurrences(req, names[i], &v) > 1)
			return names[i];
	return NULL;
}

const char *
tb_request_body(const struct tb_request *req, size_t *len)
{
	*len = req->body_len;
	return req->body != NULL ? req->body : "";
}

enum tb_method
tb_request_method(const struct tb_request *req)
{
	const char *m = tb_request_param(req, "REQUEST_METHOD");

	if (m == NULL)
		return TB_METHOD_OTHER;
	if (strcmp(m, "GET") == 0)
		return TB_METHOD_GET;
	if (strcmp(m, "HEAD") == 0)
		return TB_METHOD_HEAD;
	if (strcmp(m, "POST") == 0)
		return TB_METHOD_POST;
	return TB_METHOD_OTHER;
}

/* When path is prefix followed by '/' or nothing, the rest after prefix; else NULL. */
static const char *
below(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	if (n == 0 || strncmp(path, prefix, n) != 0)
		return NULL;
	if (path[n] != '\0' && path[n] != '/')
		return NULL;
	return path + n;
}

/* 1 when s is printable ASCII without spaces, as a URL path is once escaped. */
static int
path_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

int
tb_request_route(const struct tb_request *req, const char *issuer_path, char **mount, char **route)
{
	const char *pi = tb_request_param(req, "PATH_INFO");
	const char *uri = tb_request_param(req, "REQUEST_URI");
	const char *script = tb_request_param(req, "SCRIPT_NAME");
	const char *rest = NULL, *m = "";
	char *path = NULL;
	int r = TB_ERR_ALLOC;

	*mount = *route = NULL;
	if (script == NULL)
		script = "";
	if (pi != NULL && *pi != '\0') {
		m = script;
		rest = pi;
	} else {
		if (uri == NULL || *uri == '\0')
			uri = script;
		if ((path = strndup(uri, strcspn(uri, "?#"))) == NULL)
			goto out;
		if (issuer_path != NULL && (rest = below(path, issuer_path)) != NULL)
			m = issuer_path;
		else if (issuer_path == NULL && (rest = below(path, script)) != NULL &&
		         *rest != '\0')
			m = script; /* mounted at SCRIPT_NAME, path below it */
		else {
			m = "";
			rest = path;
		}
	}
	if (*rest == '\0')
		rest = "/";
	/*
	 * Without TOKEN_ISSUER the mount point becomes part of the issuer, and so of the Location
	 * header: a SCRIPT_NAME that the web server decoded from the client's URL must not carry
	 * CR, LF or anything else that has no place in a URL path.
	 */
	if (issuer_path == NULL && !path_printable(m)) {
		r = TB_ERR_REQUEST;
		goto out;
	}
	if ((*mount = strdup(m)) == NULL || (*route = strdup(rest)) == NULL) {
		free(*mount);
		*mount = NULL;
		goto out;
	}
	r = 0;
out:
	free(path);
	return r;
}

int
tb_content_type_is_form(const char *ct)
{
	static const char form[] = "application/x-www-form-urlencoded";
	size_t n = sizeof(form) - 1;

	if (ct == NULL)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, form, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* Copies the leading run of hex digits of s, if it is exactly want long (0: any up to max). */
static int
hex_run(const char *s, size_t want, char *out, size_t max)
{
	size_t n = 0;

	while (n < max && isxdigit((unsigned char)s[n]))
		n++;
	if (n == 0 || (want != 0 && n != want) || isxdigit((unsigned char)s[n]))
		return 0;
	memcpy(out, s, n);
	out[n] = '\0';
	return 1;
}

void
tb_request_trace(const struct tb_request *req, char out[TB_TRACE_MAX + 1])
{
	const char *v;

	out[0] = '\0';
	/* X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=OPTIONS */
	if ((v = tb_request_header(req, "X-Cloud-Trace-Context")) != NULL &&
	    hex_run(v, 0, out, TRACE_ID_LEN) && (v[strlen(out)] == '/' || v[strlen(out)] == '\0'))
		return;
	out[0] = '\0';
	/* traceparent: VERSION(2)-TRACE_ID(32)-PARENT_ID(16)-FLAGS(2) (W3C Trace Context) */
	if ((v = tb_request_header(req, "traceparent")) != NULL && strlen(v) >= TRACEPARENT_LEN &&
	    v[TRACEPARENT_ID - 1] == '-' &&
	    hex_run(v + TRACEPARENT_ID, TRACE_ID_LEN, out, TRACE_ID_LEN) &&
	    v[TRACEPARENT_ID + TRACE_ID_LEN] == '-')
		return;
	out[0] = '\0';
}

/* Decodes n bytes of a form component into a new string: '+' is a space, %XX a byte. */
static int
decode(const char *s, size_t n, char **out)
{
	char *d, *o;
	size_t i;

	*out = NULL;
	if ((d = malloc(n + 1)) == NULL)
		return TB_ERR_ALLOC;
	for (i = 0, o = d; i < n; i++) {
		if (s[i] == '+')
			*o++ = ' ';
		else if (s[i] == '%') {
			int hi, lo;

			/* a truncated or non-hex escape is an error, and so is an encoded NUL */
			if (i + 2 >= n || (hi = tb_hexval(s[i + 1])) < 0 ||
			    (lo = tb_hexval(s[i + 2])) < 0 || (hi == 0 && lo == 0)) {
				free(d);
				return TB_ERR_REQUEST;
			}
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '\0') {
			free(d);
			return TB_ERR_REQUEST;
		} else
			*o++ = s[i];
	}
	*o = '\0';
	*out = d;
	return 0;
}

int
tb_form_parse(const char *body, size_t len, struct tb_form **out)
{
	struct tb_form *f;
	size_t pos = 0;
	int r;

	*out = NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return TB_ERR_ALLOC;
	while (pos < len) {
		const char *seg = body + pos, *amp = memchr(seg, '&', len - pos);
		size_t seglen = amp != NULL ? (size_t)(amp - seg) : len - pos;
		const char *eq = memchr(seg, '=', seglen);
		size_t nlen = eq != NULL ? (size_t)(eq - seg) : seglen;

		pos += seglen + 1;
		if (seglen == 0)
			continue;
		if (f->n == TB_FORM_FIELDS_MAX) {
			r = TB_ERR_REQUEST;
			goto fail;
		}
		if ((r = decode(seg, nlen, &f->fields[f->n].name)) != 0)
			goto fail;
		if ((r = decode(eq != NULL ? eq + 1 : seg + seglen,
		         eq != NULL ? seglen - nlen - 1 : 0, &f->fields[f->n].value)) != 0) {
			free(f->fields[f->n].name);
			f->fields[f->n].name = NULL;
			goto fail;
		}
		f->n++;
	}
	*out = f;
	return 0;
fail:
	tb_form_free(f);
	return r;
}

void
tb_form_free(struct tb_form *form)
{
	size_t i;

	if (form == NULL)
		return;
	for (i = 0; i < form->n; i++) {
		tb_free_secret(form->fields[i].name);
		tb_free_secret(form->fields[i].value);
	}
	free(form);
}

int
tb_form_get(const struct tb_form *form, const char *name, const char **value)
{
	size_t i;
	int count = 0;

	*value = NULL;
	for (i = 0; i < form->n; i++) {
		if (strcmp(form->fields[i].name, name) != 0)
			continue;
		if (count++ == 0)
			*value = form->fields[i].value;
	}
	return count;
}

int
tb_form_asks_external(const char *body, size_t len)
{
	static const char field[] = "format=external_credential";
	size_t n = sizeof(field) - 1, pos = 0;

	while (pos < len) {
		const char *amp = memchr(body + pos, '&', len - pos);
		size_t seg = amp != NULL ? (size_t)(amp - (body + pos)) : len - pos;

		if (seg == n && memcmp(body + pos, field, n) == 0)
			return 1;
		pos += seg + 1;
	}
	return 0;
}

/* One parameter: at most once, and "" counts as absent. */
static int
param(const struct tb_form *form, const char *name, const char **value, char desc[TB_DESC_MAX])
{
	if (tb_form_get(form, name, value) > 1) {
		snprintf(desc, TB_DESC_MAX, "The parameter '%s' is repeated", name);
		return TB_ERR_REQUEST;
	}
	if (*value != NULL && **value == '\0')
		*value = NULL;
	return 0;
}

/* The body as a form: its state, its content type, its decoding. */
static int
token_form(const struct tb_request *req, struct tb_token_params *p, char desc[TB_DESC_MAX])
{
	const char *body;
	size_t len;
	int r;

	if (tb_request_body_fault(req) == TB_BODY_TOO_LARGE) {
		snprintf(
		    desc, TB_DESC_MAX, "The request body is larger than %d bytes", TB_BODY_MAX);
		return TB_ERR_TOO_LARGE;
	}
	if (tb_request_body_fault(req) == TB_BODY_SHORT) {
		snprintf(desc, TB_DESC_MAX, "The request body is shorter than its Content-Length");
		return TB_ERR_REQUEST;
	}
	if (!tb_content_type_is_form(tb_request_param(req, "CONTENT_TYPE"))) {
		snprintf(desc, TB_DESC_MAX,
		    "The request body must be application/x-www-form-urlencoded");
		return TB_ERR_MEDIA;
	}
	body = tb_request_body(req, &len);
	if ((r = tb_form_parse(body, len, &p->form)) != 0) {
		/* still answer an executable in its own form when it asked for it */
		p->ext = tb_form_asks_external(body, len);
		snprintf(desc, TB_DESC_MAX, "The request body is not a valid form");
	}
	return r;
}

/* Each parameter's own rule, and the rules between them. */
static int
token_rules(struct tb_token_params *p, char desc[TB_DESC_MAX])
{
	if (p->grant == NULL) {
		snprintf(desc, TB_DESC_MAX, "A grant type is required");
		return TB_ERR_REQUEST;
	}
	if (strcmp(p->grant, "client_credentials") != 0) {
		snprintf(desc, TB_DESC_MAX, "The grant type must be client_credentials");
		return TB_ERR_GRANT;
	}
	if (p->scope != NULL && !tb_valid_scope(p->scope)) {
		snprintf(desc, TB_DESC_MAX, "The scope is not a list of scope tokens");
		return TB_ERR_REQUEST;
	}
	if (p->account != NULL && (p->scope == NULL || !tb_valid_email(p->account))) {
		snprintf(desc, TB_DESC_MAX,
		    p->scope == NULL ? "A service_account needs a scope"
		                     : "The service_account is not an email address");
		return TB_ERR_REQUEST;
	}
	if (p->audience != NULL && p->scope != NULL) {
		/* STS takes only the pool's audience (doc/contract.md section 4) */
		snprintf(desc, TB_DESC_MAX, "An audience cannot be combined with a scope");
		return TB_ERR_REQUEST;
	}
	if (p->audience != NULL && !tb_valid_audience(p->audience)) {
		snprintf(desc, TB_DESC_MAX, "The audience is not valid");
		return TB_ERR_REQUEST;
	}
	return 0;
}

int
tb_token_params_parse(
    const struct tb_request *req, struct tb_token_params *p, char desc[TB_DESC_MAX])
{
	const char *format;
	int r;

	memset(p, 0, sizeof(*p));
	if ((r = token_form(req, p, desc)) != 0)
		return r;
	/* the format first, so that every later error is told in the form asked for */
	if ((r = param(p->form, "format", &format, desc)) != 0)
		return r;
	p->ext = format != NULL && strcmp(format, "external_credential") == 0;
	if ((r = param(p->form, "grant_type", &p->grant, desc)) != 0 ||
	    (r = param(p->form, "client_id", &p->client_id, desc)) != 0 ||
	    (r = param(p->form, "audience", &p->audience, desc)) != 0)
		return r;
	/* an executable's request ignores scope and service_account altogether (doc/contract.md
	 * section 4) */
	if (!p->ext && ((r = param(p->form, "scope", &p->scope, desc)) != 0 ||
	                   (r = param(p->form, "service_account", &p->account, desc)) != 0))
		return r;
	return token_rules(p, desc);
}

void
tb_token_params_free(struct tb_token_params *p)
{
	tb_form_free(p->form);
	memset(p, 0, sizeof(*p));
}
