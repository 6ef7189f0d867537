/* test_request.c: form decoding, routing under every mount, Host and content-type checks. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "request.h"
#include "valid.h"
#include "valid.h"
#include "tap.h"

static struct tb_request *
request(const char *const *params)
{
	struct tb_request *req = NULL;

	tb_request_new(&req);
	for (; *params != NULL; params++)
		tb_request_add_param(req, *params);
	return req;
}

static const struct {
	const char *params[4];
	const char *issuer_path, *mount, *route;
} routes[] = {
    /* Apache ScriptAlias /broker: the path below the script comes in PATH_INFO */
    {{"REQUEST_URI=/broker/token", "SCRIPT_NAME=/broker", "PATH_INFO=/token"}, NULL, "/broker",
        "/token"},
    /* lighttpd "/" with fix-root-scriptname */
    {{"REQUEST_URI=/token", "SCRIPT_NAME=", "PATH_INFO=/token"}, NULL, "", "/token"},
    /* lighttpd "/" without it: everything in SCRIPT_NAME, PATH_INFO empty */
    {{"REQUEST_URI=/token?x=1", "SCRIPT_NAME=/token", "PATH_INFO="}, NULL, "", "/token"},
    /* only REQUEST_URI, below SCRIPT_NAME */
    {{"REQUEST_URI=/idp/.well-known/openid-configuration", "SCRIPT_NAME=/idp"}, NULL, "/idp",
        "/.well-known/openid-configuration"},
    /* a prefix known from TOKEN_ISSUER */
    {{"REQUEST_URI=/idp/token", "SCRIPT_NAME=/idp/token"}, "/idp", "/idp", "/token"},
    {{"REQUEST_URI=/idp", "SCRIPT_NAME=/idp"}, "/idp", "/idp", "/"},
    {{"REQUEST_URI=/idpx/token", "SCRIPT_NAME=/idpx/token"}, "/idp", "", "/idpx/token"},
    {{"REQUEST_URI=/", "SCRIPT_NAME=/"}, NULL, "", "/"},
    {{"REQUEST_METHOD=GET"}, NULL, "", "/"},
};

static const struct {
	const char *host;
	int valid;
} hosts[] = {
    {"broker.example.net", 1},
    {"broker.example.net:8443", 1},
    {"127.0.0.1:80", 1},
    {"[::1]:8443", 1},
    {"[2001:db8::1]", 1},
    {"localhost", 1},
    {"", 0},
    {"evil.com/x", 0},
    {"a b", 0},
    {"a..b", 0},
    {"host:", 0},
    {"host:123456", 0},
    {"host:80x", 0},
    {"[::1", 0},
    {"user@host", 0},
    {"host\r\nX: y", 0},
    {":80", 0},
};

static void
forms(void)
{
	struct tb_form *f = NULL;
	const char *v;
	const char *body = "grant_type=client_credentials&scope=a+b%2Fc&empty=&flag&scope2=%7E&&";

	ok(tb_form_parse(body, strlen(body), &f) == 0, "parses a form");
	is_int(tb_form_get(f, "grant_type", &v), 1, "one grant_type");
	is_str(v, "client_credentials", "its value");
	tb_form_get(f, "scope", &v);
	is_str(v, "a b/c", "'+' is a space and %%2F a slash");
	is_int(tb_form_get(f, "empty", &v), 1, "an empty value is present");
	is_str(v, "", "and empty");
	is_int(tb_form_get(f, "flag", &v), 1, "a name without '=' is present");
	is_int(tb_form_get(f, "missing", &v), 0, "an absent name");
	ok(v == NULL, "gives no value");
	tb_form_free(f);

	body = "a=1&a=2";
	tb_form_parse(body, strlen(body), &f);
	is_int(tb_form_get(f, "a", &v), 2, "counts repeats");
	is_str(v, "1", "first value wins");
	tb_form_free(f);

	static const char *const bad[] = {"a=%", "a=%4", "a=%zz", "a=%00", "%=1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = (struct tb_form *)1;
		is_int(tb_form_parse(bad[i], strlen(bad[i]), &f), TB_ERR_REQUEST, "refuses '%s'",
		    bad[i]);
		ok(f == NULL, "no form for '%s'", bad[i]);
	}
	is_int(tb_form_parse("a=\0b", 4, &f), TB_ERR_REQUEST, "refuses a raw NUL");

	char many[TB_FORM_FIELDS_MAX * 4 + 8];
	size_t o = 0;
	for (int i = 0; i <= TB_FORM_FIELDS_MAX; i++) {
		memcpy(many + o, "a=1&", 4);
		o += 4;
	}
	is_int(tb_form_parse(many, o, &f), TB_ERR_REQUEST, "refuses more than %d fields",
	    TB_FORM_FIELDS_MAX);
}

int
main(void)
{
	struct tb_request *req;
	char *mount, *route, trace[TB_TRACE_MAX + 1];
	size_t i;

	forms();
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		req = request(routes[i].params);
		ok(tb_request_route(req, routes[i].issuer_path, &mount, &route) == 0, "route %zu",
		    i);
		is_str(mount, routes[i].mount, "mount of %s", routes[i].params[0]);
		is_str(route, routes[i].route, "route of %s", routes[i].params[0]);
		free(mount);
		free(route);
		tb_request_free(req);
	}
	{
		/* the mount goes into a Host-derived issuer and from there into Location */
		const char *p[] = {
		    "REQUEST_URI=/x", "SCRIPT_NAME=/x\r\nSet-Cookie: a=b", "PATH_INFO=/", NULL};

		req = request(p);
		mount = route = (char *)1;
		is_int(tb_request_route(req, NULL, &mount, &route), TB_ERR_REQUEST,
		    "a mount with CR LF is refused when it would go into the issuer");
		ok(mount == NULL && route == NULL, "and gives nothing");
		is_int(tb_request_route(req, "/idp", &mount, &route), 0,
		    "but not when TOKEN_ISSUER fixes the issuer");
		is_str(route, "/", "the route is still found");
		free(mount);
		free(route);
		tb_request_free(req);
	}
	for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
		is_int(tb_valid_authority(hosts[i].host, strlen(hosts[i].host)), hosts[i].valid,
		    "Host '%s'", hosts[i].host);

	ok(tb_content_type_is_form("application/x-www-form-urlencoded"), "form content type");
	ok(tb_content_type_is_form("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
	    "with parameters, any case");
	ok(!tb_content_type_is_form("application/json"), "JSON is not a form");
	ok(!tb_content_type_is_form("application/x-www-form-urlencodedx"), "no prefix match");
	ok(!tb_content_type_is_form(NULL), "absent content type");

	{
		const char *p[] = {
		    "HTTP_X_CLOUD_TRACE_CONTEXT=105445aa7843bc8bf206b12000100000/1;o=1",
		    "HTTP_X_CLIENT_CERT_HASH=abc", "REQUEST_METHOD=POST", NULL};
		req = request(p);
		tb_request_trace(req, trace);
		is_str(
		    trace, "105445aa7843bc8bf206b12000100000", "trace id of X-Cloud-Trace-Context");
		is_str(
		    tb_request_header(req, "X-Client-Cert-Hash"), "abc", "header by its HTTP name");
		is_int(tb_request_method(req), TB_METHOD_POST, "method");
		tb_request_free(req);
	}
	{
		const char *p[] = {
		    "HTTP_TRACEPARENT=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		    NULL};
		req = request(p);
		tb_request_trace(req, trace);
		is_str(trace, "4bf92f3577b34da6a3ce929d0e0e4736", "trace id of traceparent");
		tb_request_free(req);
	}
	{
		const char *p[] = {"HTTP_X_CLOUD_TRACE_CONTEXT=\"><script>", NULL};
		req = request(p);
		tb_request_trace(req, trace);
		is_str(trace, "", "a malformed trace header gives no trace id");
		tb_request_free(req);
	}
	{
		char body[TB_BODY_MAX + 1];

		tb_request_new(&req);
		memset(body, 'a', sizeof(body));
		is_int(tb_request_set_body(req, body, sizeof(body)), TB_ERR_TOO_LARGE,
		    "body over the cap refused");
		is_int(tb_request_set_body(req, body, TB_BODY_MAX), 0, "body at the cap accepted");
		is_int(tb_request_add_param(req, "NOEQUALS"), TB_ERR_INVALID,
		    "a parameter without '='");
		tb_request_free(req);
	}
	return done_testing();
}
