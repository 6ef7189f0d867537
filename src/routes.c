/* routes.c: the endpoints; where errors become HTTP statuses and OAuth bodies. */
#include "routes.h"

#include "app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crl.h"
#include "crypto.h"
#include "err.h"
#include "flow.h"
#include "google.h"
#include "json.h"
#include "log.h"
#include "registry.h"
#include "signer.h"
#include "token.h"
#include "text.h"
#include "valid.h"

#define ISSUER_MAX 1024
_Static_assert(TB_ISSUER_MAX < ISSUER_MAX, "TOKEN_ISSUER must fit the endpoint buffers");

#define SECONDS_PER_MINUTE 60
#define HEADER_VALUE_MAX 64 /* a header value the routes format (max-age, Retry-After) */
#define EXT_TOKEN_TYPE "urn:ietf:params:oauth:token-type:id_token"
#define ACCESS_LIFETIME_MAX 3600 /* generateAccessToken's limit without an org policy */

/* What one request carries through the handlers. */
struct call {
	struct tb_app *app;
	const struct tb_request *req;
	time_t now;
	struct tb_response *resp;
	struct tb_log_ctx log;
	char trace[TB_TRACE_MAX + 1];
	char *mount;        /* where the web server mounted the broker, for a Host-derived issuer */
	const char *issuer; /* this request's issuer: TOKEN_ISSUER, or issuer_buf */
	char issuer_buf[ISSUER_MAX]; /* https://Host/mount when TOKEN_ISSUER is unset */
	int ext;                     /* format=external_credential */
	int head;                    /* HEAD: headers only */
};

const char *
tb_status_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 307: return "Temporary Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	}
	return "Unknown";
}

/* The status and OAuth error code (RFC 6749 section 5.2) of an error code. */
static int
status_of(int err, const char **code)
{
	switch (err) {
	case TB_ERR_CLIENT: *code = "invalid_client"; return 401;
	case TB_ERR_REQUEST: *code = "invalid_request"; return 400;
	case TB_ERR_GRANT: *code = "unsupported_grant_type"; return 400;
	case TB_ERR_SCOPE: *code = "invalid_scope"; return 400;
	case TB_ERR_UNAUTHORIZED: *code = "unauthorized_client"; return 400;
	case TB_ERR_TARGET: *code = "invalid_target"; return 400;
	case TB_ERR_DENIED: *code = "access_denied"; return 403;
	case TB_ERR_UNAVAILABLE:
	case TB_ERR_UPSTREAM: *code = "temporarily_unavailable"; return 503;
	case TB_ERR_MEDIA: *code = "invalid_request"; return 415;
	case TB_ERR_TOO_LARGE: *code = "invalid_request"; return 413;
	case TB_ERR_NOT_FOUND: *code = "invalid_request"; return 404;
	case TB_ERR_METHOD: *code = "invalid_request"; return 405;
	}
	*code = "server_error";
	return 500;
}

static int
header(struct call *c, const char *name, const char *value)
{
	/* a CR or LF would end this header and start another (response splitting) */
	if (strpbrk(value, "\r\n") != NULL)
		return TB_ERR_INTERNAL;
	struct tb_buf *h = &c->resp->head;
	int r;

	/* four appends, not a printf: every answer has several headers */
	if ((r = tb_buf_addstr(h, name)) != 0 || (r = tb_buf_add(h, ": ", 2)) != 0 ||
	    (r = tb_buf_addstr(h, value)) != 0)
		return r;
	return tb_buf_add(h, "\r\n", 2);
}

/* Sets status, the JSON body (taken over) and the headers every answer carries. */
static int
answer(struct call *c, int status, char *body, int cacheable)
{
	char age[HEADER_VALUE_MAX];
	int r = 0;

	c->resp->status = status;
	c->resp->body = body;
	c->resp->body_len = body != NULL ? strlen(body) : 0;
	if (body == NULL)
		return TB_ERR_ALLOC;
	if (c->resp->body_len > TB_RESPONSE_MAX) {
		/* no answer the broker builds comes near; one that does is a bug, not for the
		 * client */
		tb_log(TB_LOG_ERROR, "api.request", &c->log,
		    "A response of %zu bytes is over the limit of %d", c->resp->body_len,
		    TB_RESPONSE_MAX);
		return TB_ERR_LIMIT;
	}
	r |= header(c, "Content-Type", "application/json");
	if (cacheable) {
		snprintf(age, sizeof(age), "public, max-age=%d", TB_DISCOVERY_MAX_AGE);
		r |= header(c, "Cache-Control", age);
		if (c->app->cfg->issuer == NULL)
			r |= header(c, "Vary", "Host");
	} else {
		r |= header(c, "Cache-Control", "no-store");
		r |= header(c, "Pragma", "no-cache");
	}
	return r != 0 ? TB_ERR_ALLOC : 0;
}

/* Answers an error in the form the request asked for; err picks status and code. */
static int
fail(struct call *c, int err, const char *description)
{
	struct tb_json *o = tb_json_object();
	const char *code;
	char *body = NULL, retry[HEADER_VALUE_MAX];
	int status = status_of(err, &code), r = TB_ERR_ALLOC;

	if (o == NULL)
		goto out;
	if (c->ext) {
		if (tb_json_set_bool(o, "success", 0) != 0 ||
		    tb_json_set_int(o, "version", 1) != 0 ||
		    tb_json_set_str(o, "code", code) != 0 ||
		    tb_json_set_str(o, "message", description) != 0)
			goto out;
	} else if (tb_json_set_str(o, "error", code) != 0 ||
	           tb_json_set_str(o, "error_description", description) != 0)
		goto out;
	if (tb_json_render(o, &body) != 0)
		goto out;
	if ((r = answer(c, status, body, 0)) != 0)
		goto out;
	if (status == 503) {
		snprintf(retry, sizeof(retry), "%d", TB_RETRY_AFTER);
		r = header(c, "Retry-After", retry);
	}
out:
	tb_json_free(o);
	return r;
}

static int
method_not_allowed(struct call *c, const char *allow)
{
	int r;

	tb_log(TB_LOG_INFO, "api.request", &c->log, "Refused method %s (allowed: %s)",
	    tb_request_method(c->req) == TB_METHOD_OTHER
	        ? "other than GET, HEAD or POST"
	        : tb_request_param(c->req, "REQUEST_METHOD"),
	    allow);
	if ((r = fail(c, TB_ERR_METHOD, "The method is not allowed for this resource")) != 0)
		return r;
	return header(c, "Allow", allow);
}

/* This request's issuer: TOKEN_ISSUER, or https://Host plus the mount point. */
static int
issuer(struct call *c)
{
	const char *host;
	int n;

	if (c->app->cfg->issuer != NULL) {
		c->issuer = c->app->cfg->issuer;
		return 0;
	}
	host = tb_request_param(c->req, "HTTP_HOST");
	if (host == NULL || !tb_valid_authority(host, strlen(host))) {
		tb_log(TB_LOG_WARNING, "api.request", &c->log,
		    "Refused a request whose Host header is %s (TOKEN_ISSUER is unset)",
		    host == NULL ? "missing" : "not a host name or address");
		return TB_ERR_REQUEST;
	}
	n = snprintf(c->issuer_buf, sizeof(c->issuer_buf), "https://%s%s", host, c->mount);
	if (n < 0 || (size_t)n >= sizeof(c->issuer_buf))
		return TB_ERR_REQUEST;
	/* the mount point may end in a slash (SCRIPT_NAME "/"); the issuer never does */
	while (n > 8 && c->issuer_buf[n - 1] == '/')
		c->issuer_buf[--n] = '\0';
	c->issuer = c->issuer_buf;
	return 0;
}

/* Sets key to a list of one string; o takes the list, even on failure. */
static int
set_list1(struct tb_json *o, const char *key, const char *value)
{
	struct tb_json *a = tb_json_array();

	if (a != NULL && tb_json_append_str(a, value) != 0) {
		tb_json_free(a);
		return TB_ERR_ALLOC;
	}
	return tb_json_set(o, key, a);
}

/* Sets key to a list of n strings; o takes the list, even on failure. */
static int
set_list(struct tb_json *o, const char *key, const char *const *values, size_t n)
{
	struct tb_json *a = tb_json_array();
	size_t i;

	for (i = 0; a != NULL && i < n; i++) {
		if (tb_json_append_str(a, values[i]) != 0) {
			tb_json_free(a);
			return TB_ERR_ALLOC;
		}
	}
	return tb_json_set(o, key, a);
}

static int
render_discovery(struct tb_app *app, const char *iss, char **out, char *detail)
{
	static const char *const claims[] = {
	    "iss", "sub", "aud", "iat", "exp", "jti", "amr", "client_id", "client", "cnf"};
	struct tb_json *o = tb_json_object(), *aliases;
	const char *algs[TB_KEYS_MAX];
	char token_ep[ISSUER_MAX + sizeof("/token")], *jwks_uri = NULL;
	size_t n;
	int r;

	*out = NULL;
	snprintf(token_ep, sizeof(token_ep), "%s/token", iss);
	if ((r = tb_signer_jwks_uri(app->signer, iss, &jwks_uri, detail)) != 0)
		goto out;
	r = TB_ERR_ALLOC;
	if (o == NULL || tb_json_set_str(o, "issuer", iss) != 0 ||
	    tb_json_set_str(o, "token_endpoint", token_ep) != 0 ||
	    tb_json_set_str(o, "jwks_uri", jwks_uri) != 0)
		goto out;
	n = tb_signer_algs(app->signer, algs, TB_KEYS_MAX);
	if (set_list1(o, "grant_types_supported", "client_credentials") != 0 ||
	    set_list1(o, "token_endpoint_auth_methods_supported", "tls_client_auth") != 0 ||
	    set_list(o, "id_token_signing_alg_values_supported", algs, n) != 0 ||
	    set_list1(o, "response_types_supported", "none") != 0 ||
	    set_list1(o, "subject_types_supported", "public") != 0 ||
	    set_list(o, "claims_supported", claims, sizeof(claims) / sizeof(claims[0])) != 0)
		goto out;
	if (tb_json_set_bool(o, "tls_client_certificate_bound_access_tokens", 1) != 0)
		goto out;
	if ((aliases = tb_json_object()) == NULL)
		goto out;
	if (tb_json_set_str(aliases, "token_endpoint", token_ep) != 0) {
		tb_json_free(aliases);
		goto out;
	}
	if (tb_json_set(o, "mtls_endpoint_aliases", aliases) != 0)
		goto out;
	r = tb_json_render(o, out);
out:
	free(jwks_uri);
	tb_json_free(o);
	return r;
}

static int
discovery(struct call *c)
{
	char detail[TB_DETAIL_MAX] = "", *body = NULL;
	int r;

	if ((r = issuer(c)) != 0)
		return fail(c, r, "The Host header is not valid");
	/* with a fixed issuer the document is kept once rendered: at start for local keys, at the
	 * first request for a service account (once its email is known) */
	if (c->app->discovery != NULL)
		body = strdup(c->app->discovery);
	else if ((r = render_discovery(c->app, c->issuer, &body, detail)) != 0) {
		tb_log(TB_LOG_ERROR, "api.discovery", &c->log, "Discovery failed: %s: %s",
		    tb_err_str(r), detail);
		return fail(c, r, "The discovery document is not available");
	} else if (c->app->cfg->issuer != NULL && (c->app->discovery = strdup(body)) == NULL) {
		free(body);
		return TB_ERR_ALLOC;
	}
	tb_log(TB_LOG_INFO, "api.discovery", &c->log, "Served the discovery document");
	return answer(c, 200, body, 1);
}

static int
jwks(struct call *c)
{
	const char *set = tb_signer_jwks(c->app->signer);

	if (set == NULL)
		return fail(c, TB_ERR_NOT_FOUND, "Not found");
	tb_log(TB_LOG_INFO, "api.jwks", &c->log, "Served the JWK Set");
	return answer(c, 200, strdup(set), 1);
}

static int
root(struct call *c)
{
	char *location;
	size_t n;
	int r;

	if ((r = issuer(c)) != 0)
		return fail(c, r, "The Host header is not valid");
	n = strlen(c->issuer) + sizeof("/.well-known/openid-configuration");
	if ((location = malloc(n)) == NULL)
		return TB_ERR_ALLOC;
	snprintf(location, n, "%s/.well-known/openid-configuration", c->issuer);
	tb_log(TB_LOG_INFO, "api.request", &c->log, "Redirected to the discovery document");
	if ((r = answer(c, 307, strdup("{}"), 0)) == 0)
		r = header(c, "Location", location);
	free(location);
	return r;
}

/* Renders a successful token response in the requested form. */
static int
token_answer(struct call *c, const char *id_token, time_t exp, const char *access_token,
    int64_t expires_in, const char *scope)
{
	struct tb_json *o = tb_json_object();
	char *body = NULL;
	int r = TB_ERR_ALLOC;

	if (o == NULL)
		goto out;
	if (c->ext) {
		if (tb_json_set_bool(o, "success", 1) != 0 ||
		    tb_json_set_int(o, "version", 1) != 0 ||
		    tb_json_set_str(o, "token_type", EXT_TOKEN_TYPE) != 0 ||
		    tb_json_set_str(o, "id_token", id_token) != 0 ||
		    tb_json_set_int(o, "expiration_time", exp) != 0)
			goto out;
	} else {
		/* as the original: the four access-token members are null without a scope */
		if (tb_json_set_str(o, "id_token", id_token) != 0 ||
		    tb_json_set_str(o, "access_token", access_token) != 0 ||
		    tb_json_set_str(o, "token_type", access_token != NULL ? "Bearer" : NULL) != 0 ||
		    (access_token != NULL ? tb_json_set_int(o, "expires_in", expires_in)
		                          : tb_json_set_null(o, "expires_in")) != 0 ||
		    tb_json_set_str(o, "scope", access_token != NULL ? scope : NULL) != 0)
			goto out;
	}
	if ((r = tb_json_render(o, &body)) != 0)
		goto out;
	r = answer(c, 200, body, 0);
out:
	tb_json_free(o);
	return r;
}

/* Google's part: STS, then impersonation. Fills the access token and its lifetime. */
static int
access_token(struct call *c, const struct tb_identity *id, const char *id_token, const char *scope,
    const char *account, long lifetime, char **token, int64_t *expires_in, char *desc)
{
	const struct tb_config *cfg = c->app->cfg;
	char detail[TB_DETAIL_MAX] = "", *sts = NULL;
	int64_t sts_expires = 0;
	int r;

	if ((r = tb_google_sts_exchange(c->app->google, cfg->sts_audience, id_token, scope, &sts,
	         &sts_expires, detail)) != 0)
		goto fail;
	if (account == NULL) {
		*token = sts;
		*expires_in = sts_expires;
		tb_log(TB_LOG_INFO, "api.token", &c->log,
		    "Issued ID token and STS access token for client '%s' and scope '%s'",
		    id->client_id, scope);
		return 0;
	}
	if (lifetime > ACCESS_LIFETIME_MAX)
		lifetime = ACCESS_LIFETIME_MAX;
	r = tb_google_generate_access_token(
	    c->app->google, sts, account, scope, lifetime, c->now, token, expires_in, detail);
	tb_free_secret(sts);
	if (r != 0)
		goto fail;
	tb_log(TB_LOG_INFO, "api.token", &c->log,
	    "Issued ID token and service account access token for client '%s', account '%s' and "
	    "scope '%s'",
	    id->client_id, account, scope);
	return 0;
fail:
	tb_log(r == TB_ERR_DENIED ? TB_LOG_WARNING : TB_LOG_ERROR, "api.token", &c->log,
	    "Issuing access token for client '%s' failed: %s: %s", id->client_id, tb_err_str(r),
	    detail);
	if (r == TB_ERR_DENIED)
		snprintf(desc, TB_DESC_MAX, "%s",
		    detail); /* Google's own words, as doc/contract.md asks */
	else if (r == TB_ERR_REQUEST)
		snprintf(desc, TB_DESC_MAX, "The scope or service_account is not valid");
	else if (r == TB_ERR_UNAVAILABLE || r == TB_ERR_UPSTREAM)
		snprintf(
		    desc, TB_DESC_MAX, "Google's token services are unavailable; try again later");
	else
		snprintf(desc, TB_DESC_MAX, "Issuing an access token failed");
	return r;
}

/* Labels the request's log lines with the client (borrowed from id until token() returns). */
static void
log_identity(struct call *c, const struct tb_identity *id)
{
	c->log.client_id = id != NULL ? id->client_id : NULL;
	c->log.x5_sha256 = id != NULL ? id->sha256 : NULL;
	c->log.x5_serial = id != NULL ? id->serial : NULL;
	c->log.subject = id != NULL ? id->subject : NULL;
	c->log.flow = id != NULL ? id->flow : NULL;
}

/*
 * Authenticates the request's client with the flows of AUTH_FLOWS, then checks revocation.
 * 0 and *id (the caller's), or TB_ERR_CLIENT with the reason in why, TB_ERR_ALLOC.
 */
static int
authenticate(struct call *c, struct tb_identity **id, char *why, size_t whylen)
{
	const struct tb_config *cfg = c->app->cfg;
	int r;

	if ((r = tb_flow_authenticate(cfg, c->app->certs, c->req, c->now, id, why, whylen)) != 0)
		return r;
	log_identity(c, *id);
	return tb_crlset_decide(
	    c->app->crls, *id, c->now, cfg->revocation_lenient, &c->log, why, whylen);
}

/* What the policy grants one token request. */
struct grant {
	const struct tb_client *client; /* the registry's entry, or NULL without a registry */
	long validity;                  /* the ID token's lifetime, minutes */
	const char *audience;           /* its aud */
};

/* May the client ask for an ID token for this audience? */
static int
audience_allowed(const struct tb_config *cfg, const struct tb_client *cl, const char *aud)
{
	size_t i;

	if (strcmp(aud, cfg->audience) == 0)
		return 1;
	for (i = 0; i < cfg->naudiences; i++)
		if (strcmp(aud, cfg->audiences[i]) == 0)
			return 1;
	return cl != NULL && tb_client_allows_audience(cl, aud);
}

/*
 * Decides with the registry's policy (doc/contract.md section 5) what the authenticated client
 * gets: its entry, the lifetime, the audience, and whether it may have the scope, account and
 * audience it asked for. 0 and *g; TB_ERR_CLIENT with why (unregistered, client_id mismatch);
 * or a refusal with desc for the client: TB_ERR_SCOPE, TB_ERR_UNAUTHORIZED, TB_ERR_TARGET,
 * TB_ERR_REQUEST; TB_ERR_ALLOC.
 */
static int
decide(struct call *c, const struct tb_token_params *p, struct tb_identity *id, struct grant *g,
    char *why, size_t whylen, char desc[TB_DESC_MAX])
{
	const struct tb_config *cfg = c->app->cfg;
	int r;

	g->validity = cfg->validity;
	g->audience = p->audience != NULL ? p->audience : cfg->audience;
	if (c->app->registry != NULL) {
		/* the registry owns the identity's client id: it may name the client */
		r = tb_registry_decide(c->app->registry, c->app->cas, cfg->client_id_attr, id,
		    &g->client, why, whylen);
		c->log.client_id = id->client_id;
		if (r != 0)
			return r;
	}
	if (g->client != NULL && tb_client_validity(g->client) > 0)
		g->validity = tb_client_validity(g->client);
	if (p->client_id != NULL && strcmp(p->client_id, id->client_id) != 0) {
		tb_whyf(why, whylen, "the client_id parameter does not match the certificate's");
		return TB_ERR_CLIENT;
	}
	if (g->client != NULL && p->scope != NULL && !tb_client_allows_scope(g->client, p->scope)) {
		snprintf(desc, TB_DESC_MAX, "The scope is not allowed for this client");
		return TB_ERR_SCOPE;
	}
	if (g->client != NULL && p->account != NULL &&
	    !tb_client_allows_account(g->client, p->account)) {
		snprintf(desc, TB_DESC_MAX, "The service account is not allowed for this client");
		return TB_ERR_UNAUTHORIZED;
	}
	if (p->audience != NULL && !audience_allowed(cfg, g->client, p->audience)) {
		snprintf(desc, TB_DESC_MAX, "The audience is not allowed for this client");
		return TB_ERR_TARGET; /* RFC 8707 section 2 */
	}
	if (p->scope != NULL && cfg->sts_audience == NULL) {
		snprintf(desc, TB_DESC_MAX,
		    "This broker is not set up for token exchange (no WORKLOAD_IDENTITY_* "
		    "settings)");
		return TB_ERR_REQUEST;
	}
	return 0;
}

/*
 * Mints the ID token for the request's issuer. 0 and *jwt (the caller's); or answers the failure
 * itself (a refused signJwt, a bad Host), leaves *jwt NULL and returns what answering gave.
 */
static int
mint(struct call *c, const struct tb_identity *id, const struct grant *g, char **jwt)
{
	char *claims = NULL, detail[TB_DETAIL_MAX] = "", desc[TB_DESC_MAX];
	int r;

	*jwt = NULL;
	if ((r = issuer(c)) != 0) /* issuer() logged it */
		return r == TB_ERR_ALLOC ? r : fail(c, r, "The Host header is not valid");
	if ((r = tb_token_claims(id, c->issuer, g->audience, c->now,
	         g->validity * SECONDS_PER_MINUTE, &claims)) != 0)
		return r;
	if ((r = tb_signer_sign(c->app->signer, claims, c->now, jwt, detail)) != 0) {
		tb_log(TB_LOG_ERROR, "api.token", &c->log,
		    "Issuing ID token for client '%s' failed: %s: %s", id->client_id, tb_err_str(r),
		    detail);
		if (r == TB_ERR_DENIED)
			snprintf(desc, sizeof(desc), "%s", detail);
		else
			snprintf(desc, sizeof(desc), "Issuing an ID token failed; try again later");
		r = fail(c, r, desc);
		*jwt = NULL;
	}
	free(claims);
	return r;
}

/*
 * POST /token, in steps: parse the request, authenticate the client, decide with the policy,
 * mint the ID token, and with a scope exchange it at Google; then answer.
 */
static int
token(struct call *c)
{
	struct tb_token_params p;
	struct tb_identity *id = NULL;
	struct grant g = {NULL, 0, NULL};
	char desc[TB_DESC_MAX] = "", why[TB_WHY_MAX] = "";
	char *jwt = NULL, *at = NULL;
	int64_t expires_in = 0;
	time_t exp;
	int r;

	r = tb_token_params_parse(c->req, &p, desc);
	c->ext = p.ext;
	if (r != 0)
		goto refuse;
	tb_app_refresh(c->app, c->now, &c->log);
	if ((r = authenticate(c, &id, why, sizeof(why))) != 0)
		goto refuse_client;
	if ((r = decide(c, &p, id, &g, why, sizeof(why), desc)) != 0)
		goto refuse;
	if ((r = mint(c, id, &g, &jwt)) != 0 || jwt == NULL)
		goto out; /* answered, or out of memory */
	exp = c->now + (time_t)g.validity * SECONDS_PER_MINUTE;
	if (p.scope == NULL) {
		tb_log(TB_LOG_INFO, "api.token", &c->log, "Issued ID token for client '%s'%s%s",
		    id->client_id, p.audience != NULL ? " for the audience " : "",
		    p.audience != NULL ? p.audience : "");
		r = token_answer(c, jwt, exp, NULL, 0, NULL);
	} else if ((r = access_token(c, id, jwt, p.scope, p.account,
	                g.validity * SECONDS_PER_MINUTE, &at, &expires_in, desc)) != 0)
		r = fail(c, r, desc);
	else
		r = token_answer(c, jwt, exp, at, expires_in, p.scope);
	goto out;
refuse:
	if (r == TB_ERR_CLIENT)
		goto refuse_client;
	if (r == TB_ERR_ALLOC)
		goto out;
	tb_log(TB_LOG_WARNING, "api.token", &c->log, "Refused token request: %s", desc);
	r = fail(c, r, desc);
	goto out;
refuse_client:
	if (r == TB_ERR_ALLOC)
		goto out;
	tb_log(TB_LOG_WARNING, "api.token", &c->log, "Client authentication failed: %s", why);
	r = fail(c, TB_ERR_CLIENT, "The client or its credentials are invalid");
out:
	log_identity(c, NULL); /* the labels point into id; tb_app_handle may log after this */
	tb_free_secret(at);
	tb_free_secret(jwt);
	tb_identity_free(id);
	tb_token_params_free(&p);
	return r;
}

/*
 * Refuses a request in which a variable the broker reads occurs more than once, or whose
 * CONTENT_LENGTH is not a number: 0 once answered, 1 when the request is fine, or an error.
 */
static int
refuse_malformed(struct call *c)
{
	const char *name = tb_request_repeated(c->req, c->app->vars, c->app->nvars), *body;
	size_t len;
	long length;

	if (name == NULL && tb_request_content_length(c->req, &length) == 0)
		return 1;
	body = tb_request_body(c->req, &len);
	c->ext = tb_form_asks_external(body, len);
	if (name != NULL) {
		tb_log(TB_LOG_WARNING, "api.request", &c->log,
		    "Refused a request in which %s occurs more than once", name);
		return fail(c, TB_ERR_REQUEST, "A request header or variable is repeated");
	}
	tb_log(TB_LOG_WARNING, "api.request", &c->log,
	    "Refused a request whose CONTENT_LENGTH is not a number");
	return fail(c, TB_ERR_REQUEST, "The Content-Length is not a number");
}

static int
dispatch(struct call *c, const char *route)
{
	enum tb_method m = tb_request_method(c->req);
	int get = m == TB_METHOD_GET || m == TB_METHOD_HEAD;

	c->head = m == TB_METHOD_HEAD;
	if (strcmp(route, "/token") == 0)
		return m == TB_METHOD_POST ? token(c) : method_not_allowed(c, "POST");
	if (strcmp(route, "/") == 0)
		return get ? root(c) : method_not_allowed(c, "GET, HEAD");
	if (strcmp(route, "/.well-known/openid-configuration") == 0 ||
	    strcmp(route, "/.well-known/openid-metadata") == 0)
		return get ? discovery(c) : method_not_allowed(c, "GET, HEAD");
	if (strcmp(route, "/.well-known/jwks.json") == 0 && tb_signer_jwks(c->app->signer) != NULL)
		return get ? jwks(c) : method_not_allowed(c, "GET, HEAD");
	tb_log(TB_LOG_INFO, "api.request", &c->log, "No such resource");
	return fail(c, TB_ERR_NOT_FOUND, "Not found");
}

int
tb_app_handle(
    struct tb_app *app, const struct tb_request *req, time_t now, struct tb_response **out)
{
	struct call c;
	char *route = NULL;
	int r = TB_ERR_ALLOC;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	c.app = app;
	c.req = req;
	c.now = now;
	tb_request_trace(req, c.trace);
	c.log.trace = c.trace;
	if ((c.resp = calloc(1, sizeof(*c.resp))) == NULL)
		return TB_ERR_ALLOC;
	tb_log_set_request(&c.log); /* cleared before returning: c lives on this stack */
	tb_buf_init(&c.resp->head, TB_HEAD_MAX);
	if ((r = refuse_malformed(&c)) != 1)
		; /* answered (0), or failed */
	else if ((r = tb_request_route(req, app->cfg->issuer_path, &c.mount, &route)) ==
	         TB_ERR_REQUEST) {
		tb_log(TB_LOG_WARNING, "api.request", &c.log,
		    "Refused a request whose SCRIPT_NAME cannot be part of the issuer "
		    "(TOKEN_ISSUER is "
		    "unset)");
		r = fail(&c, r, "The request path is not valid");
	} else if (r == 0)
		r = dispatch(&c, route);
	if (r == 0 && c.head) {
		tb_free_secret(c.resp->body);
		c.resp->body = NULL;
		c.resp->body_len = 0;
	}
	if (r != 0) {
		tb_log(TB_LOG_ERROR, "api.request", &c.log, "Answering the request failed: %s",
		    tb_err_str(r));
		tb_response_free(c.resp);
	} else
		*out = c.resp;
	tb_log_set_request(NULL);
	free(route);
	free(c.mount);
	return r;
}

void
tb_response_free(struct tb_response *resp)
{
	if (resp == NULL)
		return;
	tb_buf_free(&resp->head);
	tb_free_secret(resp->body);
	free(resp);
}
