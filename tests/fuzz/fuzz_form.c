/* fuzz_form.c: the request parsers of outside input: form body, route, Host, trace headers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tb_form *form = NULL;
	struct tb_request *req = NULL;
	char *mount = NULL, *route = NULL, trace[TB_TRACE_MAX + 1], *s;
	const char *v;

	if (tb_form_parse((const char *)data, size, &form) == 0) {
		tb_form_get(form, "grant_type", &v);
		tb_form_free(form);
	}
	/* the same bytes as the path and headers a web server could pass */
	if ((s = malloc(size + 64)) == NULL || tb_request_new(&req) != 0)
		goto out;
	memcpy(s, "REQUEST_URI=", 12);
	memcpy(s + 12, data, size);
	s[12 + size] = '\0';
	tb_request_add_param(req, s);
	memcpy(s, "HTTP_TRACEPARENT=", 17);
	memcpy(s + 17, data, size);
	s[17 + size] = '\0';
	tb_request_add_param(req, s);
	memcpy(s, "HTTP_X_CLOUD_TRACE_CONTEXT=", 27);
	memcpy(s + 27, data, size);
	s[27 + size] = '\0';
	tb_request_add_param(req, s);
	if (tb_request_route(req, size % 2 ? "/idp" : NULL, &mount, &route) == 0) {
		free(mount);
		free(route);
	}
	tb_request_trace(req, trace);
	tb_host_valid(s + 27);
	tb_content_type_is_form(s + 27);
out:
	tb_request_free(req);
	free(s);
	return 0;
}
