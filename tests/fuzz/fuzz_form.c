/* fuzz_form.c: the request parsers of outside input: form body, variables, route, Host, trace. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "request.h"
#include "valid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LINES_MAX (TB_PARAMS_MAX + 8)

/* What the form parser gives: a field it reports is there, with a value, as often as it says. */
static void
as_form(const uint8_t *data, size_t size)
{
	static const char *const fields[] = {
	    "grant_type", "scope", "service_account", "format", "client_id", "audience", ""};
	struct tb_form *form = NULL;
	const char *v;
	int n;

	if (tb_form_parse((const char *)data, size, &form) != 0)
		return;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		v = NULL;
		n = tb_form_get(form, fields[i], &v);
		if (n < 0 || n > TB_FORM_FIELDS_MAX || (n > 0 && v == NULL))
			abort();
	}
	tb_form_free(form);
}

/* The same bytes as the path and headers a web server could pass. */
static void
as_values(const uint8_t *data, size_t size)
{
	static const char *const names[] = {
	    "REQUEST_URI=", "HTTP_TRACEPARENT=", "HTTP_X_CLOUD_TRACE_CONTEXT="};
	struct tb_request *req = NULL;
	char *mount = NULL, *route = NULL, trace[TB_TRACE_MAX + 1], *s = NULL, *v = NULL;

	if ((s = malloc(size + 64)) == NULL || tb_request_new(&req) != 0)
		goto out;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i]);

		memcpy(s, names[i], n);
		memcpy(s + n, data, size);
		s[n + size] = '\0';
		tb_request_add_param(req, s);
		v = s + n;
	}
	if (tb_request_route(req, size % 2 ? "/idp" : NULL, &mount, &route) == 0) {
		if (mount == NULL || route == NULL)
			abort();
		free(mount);
		free(route);
	}
	tb_request_trace(req, trace);
	if (strnlen(trace, sizeof(trace)) == sizeof(trace))
		abort();
	tb_valid_authority(v, strlen(v));
	tb_content_type_is_form(v);
out:
	tb_request_free(req);
	free(s);
}

/* How many of the accepted NAME=value lines carry name. */
static size_t
occurs(char *const *lines, size_t n, const char *name)
{
	size_t k = 0, len = strlen(name);

	for (size_t i = 0; i < n; i++)
		if (strncmp(lines[i], name, len) == 0 && lines[i][len] == '=')
			k++;
	return k;
}

/*
 * The bytes as the request's variables, one NAME=value a line, names free to repeat as FastCGI
 * allows. A name that occurs twice must never be read as either value, and tb_request_repeated
 * must name the first such among the variables the broker reads.
 */
static void
as_variables(const uint8_t *data, size_t size)
{
	static char *lines[LINES_MAX];
	struct tb_request *req = NULL;
	char *text, *p, *nl, *mount = NULL, *route = NULL, trace[TB_TRACE_MAX + 1];
	const char *first = NULL, *got;
	size_t n = 0, len;
	long clen;
	int r;

	if ((text = malloc(size + 1)) == NULL)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	if (tb_request_new(&req) != 0)
		goto out;
	for (p = text; p != NULL && n < LINES_MAX; p = nl) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl++ = '\0';
		if ((r = tb_request_add_param(req, p)) == TB_ERR_LIMIT)
			goto out;
		if (r == 0)
			lines[n++] = p;
	}
	for (size_t i = 0; i < TB_REQUEST_NVARS; i++) {
		size_t k = occurs(lines, n, tb_request_vars[i]);

		if (k > 1 && first == NULL)
			first = tb_request_vars[i];
		got = tb_request_param(req, tb_request_vars[i]);
		if ((k == 1) != (got != NULL))
			abort();
	}
	got = tb_request_repeated(req, tb_request_vars, TB_REQUEST_NVARS);
	if (got != first)
		abort();
	got = tb_request_header(req, "X-Client-Cert-Hash");
	if ((occurs(lines, n, "HTTP_X_CLIENT_CERT_HASH") == 1) != (got != NULL))
		abort();
	if (tb_request_content_length(req, &clen) == 0 &&
	    (clen < -1 || (clen == -1 && tb_request_param(req, "CONTENT_LENGTH") != NULL &&
	                      *tb_request_param(req, "CONTENT_LENGTH") != '\0')))
		abort();
	/* without TOKEN_ISSUER the mount goes into the issuer and a Location header */
	if (tb_request_route(req, NULL, &mount, &route) == 0) {
		for (p = mount; *p != '\0'; p++)
			if ((unsigned char)*p <= 0x20 || (unsigned char)*p > 0x7e)
				abort();
		free(mount);
		free(route);
	}
	tb_request_trace(req, trace);
	tb_request_method(req);
	if (size > 0 && tb_request_set_body(req, text, size) == 0 &&
	    (tb_request_body(req, &len) == NULL || len != size))
		abort();
out:
	tb_request_free(req);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	as_form(data, size);
	as_values(data, size);
	as_variables(data, size);
	return 0;
}
