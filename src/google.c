/* google.c: the client of Google's STS, IAM Credentials and metadata server APIs (libcurl). */
#include "google.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "curlso.h"
#include "err.h"
#include "text.h"
#include "json.h"
#include "valid.h"
#include "log.h"

#define META_TOKEN_MARGIN 60 /* seconds before its expiry when the metadata token is renewed */
#define LIFETIME_MAX 43200   /* 12 h: generateAccessToken's ceiling even with the org policy */
#define BODY_MAX (TB_UPSTREAM_MAX * 2) /* a request we send: an ID token or claims, plus fields */
#define ERROR_TEXT_MAX 400             /* a plain-text error body short enough to quote */

#define STS_GRANT "urn:ietf:params:oauth:grant-type:token-exchange"
#define STS_ACCESS_TOKEN "urn:ietf:params:oauth:token-type:access_token"
#define STS_ID_TOKEN "urn:ietf:params:oauth:token-type:id_token"
#define META_PATH "/computeMetadata/v1/instance/service-accounts/default/"

#ifdef PACKAGE_VERSION
#define USER_AGENT "token-broker/" PACKAGE_VERSION
#else
#define USER_AGENT "token-broker"
#endif

/* libcurl's calls, once the first call to Google opened it (curlso.h) */
static const struct tb_curl_api *cu;

struct tb_google {
	CURL *curl;      /* one handle, made at the first call: its connection, DNS and TLS caches
	                    persist */
	char *sts, *iam; /* base URLs, no trailing slash */
	int sts_local;   /* the host is loopback: no proxy */
	int iam_local;
	int sts_plain; /* http:// (loopback only) rather than https:// */
	int iam_plain;
	char *meta;          /* "http://host[:port]" */
	long timeout;        /* seconds for one call */
	char *meta_token;    /* the metadata server's access token (a secret) */
	time_t meta_until;   /* renew meta_token at or after this time */
	char *default_email; /* the metadata server's account, once asked */
	struct tb_buf reply; /* the body of the last reply, capped at TB_UPSTREAM_MAX */
	int over_cap;        /* the write callback refused a reply past the cap */
	char curl_err[CURL_ERROR_SIZE];
};

/* One HTTP exchange. */
struct call {
	const char *event; /* log event: google.sts, google.iam, google.metadata */
	const char *what;  /* the API method, for messages */
	const char *url;
	int local;        /* loopback or metadata: no proxy */
	int plain;        /* http (metadata, loopback test endpoints) instead of https */
	const char *body; /* POST body, or NULL for GET */
	size_t body_len;
	const char *content_type; /* of body */
	const char *bearer;       /* Authorization: Bearer, or NULL */
	int metadata;             /* send Metadata-Flavor: Google */
	long status;              /* out: the HTTP status */
};

/* Writes a NUL-terminated, printable detail (control characters become spaces). */
static void set_detail(char *detail, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
set_detail(char *detail, const char *fmt, ...)
{
	va_list ap;
	int n;
	size_t len;

	va_start(ap, fmt);
	n = vsnprintf(detail, TB_DETAIL_MAX, fmt, ap);
	va_end(ap);
	if (n < 0) {
		detail[0] = '\0';
		return;
	}
	len = strlen(detail);
	if ((size_t)n >= TB_DETAIL_MAX) {
		/* cut: do not leave half a UTF-8 sequence behind */
		while (len > 0 && ((unsigned char)detail[len - 1] & 0xc0) == 0x80)
			len--;
		if (len > 0 && ((unsigned char)detail[len - 1] & 0x80) != 0)
			len--;
		detail[len] = '\0';
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)detail[i] < 0x20 || detail[i] == 0x7f)
			detail[i] = ' ';
	}
}

static int
is_printable(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	}
	return 1;
}

/* Text that may go into a detail as it is: printable ASCII and line breaks. */
static int
is_printable_text(const char *s)
{
	for (; *s != '\0'; s++) {
		if (((unsigned char)*s < 0x20 && *s != '\r' && *s != '\n' && *s != '\t') ||
		    (unsigned char)*s > 0x7e)
			return 0;
	}
	return 1;
}

/* A token Google handed out: printable, no spaces (it goes into a header next). */
static int
valid_token(const char *s)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n > TB_UPSTREAM_MAX)
		return 0;
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	}
	return 1;
}

/* Percent-encodes everything but RFC 3986 unreserved characters and those in keep. */
static int
add_escaped(struct tb_buf *b, const char *s, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";
	char enc[3];
	int r;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~", c) != NULL || strchr(keep, c) != NULL) {
			r = tb_buf_add(b, s, 1);
		} else {
			enc[0] = '%';
			enc[1] = hex[c >> 4];
			enc[2] = hex[c & 15];
			r = tb_buf_add(b, enc, 3);
		}
		if (r != 0)
			return r;
	}
	return 0;
}

/* name=value& in application/x-www-form-urlencoded (spaces as %20, which it allows). */
static int
add_field(struct tb_buf *b, const char *name, const char *value)
{
	int r;

	if (b->len > 0 && (r = tb_buf_addstr(b, "&")) != 0)
		return r;
	if ((r = tb_buf_addstr(b, name)) != 0 || (r = tb_buf_addstr(b, "=")) != 0)
		return r;
	return add_escaped(b, value, "");
}

/*
 * Checks a base URL (the rule is tb_valid_url's) and copies it without its trailing slashes into
 * *out; *local when its host is loopback (no proxy), *plainp for http://.
 */
static int
check_base(const char *setting, const char *url, char **out, int *local, int *plainp)
{
	struct tb_url u;
	const char *why = "is not set";
	size_t n;

	*out = NULL;
	if (url == NULL || tb_valid_url(url, TB_URL_PATH, &u, &why) != 0) {
		tb_log(TB_LOG_ERROR, "google.config", NULL, "%s %s", setting, why);
		return TB_ERR_CONFIG;
	}
	*local = u.loopback;
	*plainp = !u.https;
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	if ((*out = strndup(url, n)) == NULL)
		return TB_ERR_ALLOC;
	return 0;
}

static size_t
on_write(char *p, size_t size, size_t n, void *arg)
{
	struct tb_google *g = arg;

	if (tb_buf_add(&g->reply, p, size * n) != 0) {
		g->over_cap = 1;
		return 0; /* curl aborts the transfer: CURLE_WRITE_ERROR */
	}
	return size * n;
}

/* Overwrites the header strings (one carries a bearer) before freeing the list. */
static void
free_headers(struct curl_slist *h)
{
	for (struct curl_slist *p = h; p != NULL; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	cu->slist_free_all(h);
}

static int
add_header(struct curl_slist **list, const char *h)
{
	struct curl_slist *n;

	if ((n = cu->slist_append(*list, h)) == NULL)
		return TB_ERR_ALLOC;
	*list = n;
	return 0;
}

/* What a transfer that ended without a reply means: the cap, or Google out of reach. */
static int
transfer_error(struct tb_google *g, const struct call *c, CURLcode cc, char *detail)
{
	if (cc == CURLE_OUT_OF_MEMORY) {
		set_detail(detail, "out of memory");
		return TB_ERR_ALLOC;
	}
	if ((cc == CURLE_WRITE_ERROR && g->over_cap) || cc == CURLE_FILESIZE_EXCEEDED) {
		set_detail(
		    detail, "%s: the reply is larger than %d bytes", c->what, TB_UPSTREAM_MAX);
		tb_log(TB_LOG_ERROR, c->event, NULL, "%s: %s: reply over %d bytes, abandoned",
		    c->what, c->url, TB_UPSTREAM_MAX);
		return TB_ERR_UPSTREAM;
	}
	/* refused, reset, timed out, unresolvable, TLS that does not verify */
	set_detail(detail, "%s: %s", c->what, cu->easy_strerror(cc));
	tb_log(TB_LOG_ERROR, c->event, NULL, "%s: %s: %s (%s)", c->what, c->url,
	    cu->easy_strerror(cc), g->curl_err[0] != '\0' ? g->curl_err : "no detail");
	return TB_ERR_UNAVAILABLE;
}

/*
 * The handle, made at the first exchange: libcurl is opened then (curlso.h). A broker that
 * cannot open it answers what needs Google with 500 and says why in an ERROR line.
 */
static int
open_handle(struct tb_google *g, const struct call *c, char *detail)
{
	char why[TB_DETAIL_MAX];

	if (g->curl != NULL)
		return 0;
	if ((cu = tb_curl_open(why, sizeof(why))) == NULL) {
		set_detail(detail, "%s: %s", c->what, why);
		tb_log(TB_LOG_ERROR, c->event, NULL, "%s: %s", c->what, why);
		return TB_ERR_INTERNAL;
	}
	if ((g->curl = cu->easy_init()) == NULL) {
		set_detail(detail, "out of memory");
		return TB_ERR_ALLOC;
	}
	return 0;
}

/*
 * Performs one exchange on the shared handle. 0 when an HTTP reply arrived (c->status, body in
 * g->reply); TB_ERR_UNAVAILABLE when none did; TB_ERR_UPSTREAM when it went over the cap.
 */
static int
perform(struct tb_google *g, struct call *c, char *detail)
{
	struct curl_slist *hdrs = NULL;
	struct tb_buf auth;
	CURLcode cc = CURLE_OK;
	int r = TB_ERR_ALLOC;

	if ((r = open_handle(g, c, detail)) != 0)
		return r;
	tb_buf_init(&auth, TB_UPSTREAM_MAX + 64);
	tb_buf_free(&g->reply); /* wipes what the last call left */
	g->over_cap = 0;
	g->curl_err[0] = '\0';
	c->status = 0;
	/* reset clears the options but keeps the connection, DNS and TLS session caches */
	cu->easy_reset(g->curl);

	if ((r = add_header(&hdrs, "Expect:")) != 0 ||
	    (r = add_header(&hdrs, "Accept: application/json")) != 0)
		goto out;
	if (c->content_type != NULL) {
		char ct[128];

		snprintf(ct, sizeof(ct), "Content-Type: %s", c->content_type);
		if ((r = add_header(&hdrs, ct)) != 0)
			goto out;
	}
	if (c->metadata && (r = add_header(&hdrs, "Metadata-Flavor: Google")) != 0)
		goto out;
	if (c->bearer != NULL) {
		if ((r = tb_buf_addf(&auth, "Authorization: Bearer %s", c->bearer)) != 0 ||
		    (r = add_header(&hdrs, auth.data)) != 0)
			goto out;
	}

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if ((cc = cu->easy_setopt(g->curl, opt, val)) != CURLE_OK)                         \
			goto setopt_failed;                                                        \
	} while (0)
	SET(CURLOPT_URL, c->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, c->plain ? "http" : "https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
#else
	SET(CURLOPT_PROTOCOLS, c->plain ? CURLPROTO_HTTP : CURLPROTO_HTTPS);
	SET(CURLOPT_REDIR_PROTOCOLS, CURLPROTO_HTTPS);
#endif
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT, g->timeout);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)TB_UPSTREAM_MAX);
	SET(CURLOPT_WRITEFUNCTION, on_write);
	SET(CURLOPT_WRITEDATA, g);
	SET(CURLOPT_ERRORBUFFER, g->curl_err);
	SET(CURLOPT_USERAGENT, USER_AGENT);
	SET(CURLOPT_HTTPHEADER, hdrs);
	if (c->local)
		SET(CURLOPT_NOPROXY, "*");
	if (c->body != NULL) {
		SET(CURLOPT_POSTFIELDS, c->body);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
	} else {
		SET(CURLOPT_HTTPGET, 1L);
	}
#undef SET

	cc = cu->easy_perform(g->curl);
	if (cc == CURLE_OK) {
		cu->easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &c->status);
		r = 0;
	} else {
		r = transfer_error(g, c, cc, detail);
	}
	goto out;
setopt_failed:
	/* this libcurl lacks something the call needs (https, say): not Google's doing */
	r = cc == CURLE_OUT_OF_MEMORY ? TB_ERR_ALLOC : TB_ERR_INTERNAL;
	set_detail(detail, "%s: libcurl refused an option: %s", c->what, cu->easy_strerror(cc));
	tb_log(TB_LOG_ERROR, c->event, NULL, "%s", detail);
out:
	free_headers(hdrs);
	tb_buf_free(&auth);
	return r;
}

/* How a status that is not 2xx reads: 4xx refused, 5xx (and 408, 429: try later) unavailable. */
static int
status_error(long status)
{
	if (status == 408 || status == 429 || (status >= 500 && status <= 599))
		return TB_ERR_UNAVAILABLE;
	if (status >= 400 && status <= 499)
		return TB_ERR_DENIED;
	return TB_ERR_UPSTREAM; /* 1xx and 3xx: not something these APIs answer */
}

/* Parses a reply body (len bytes, no NUL needed) as a JSON object; NULL when it is not one. */
static struct tb_json *
reply_json(const char *body, size_t len)
{
	struct tb_json *j = NULL;

	if (len == 0 || tb_json_parse(body, len, &j) != 0)
		return NULL;
	if (!tb_json_is_object(j)) {
		tb_json_free(j);
		return NULL;
	}
	return j;
}

/*
 * Reads Google's error envelope {"error":{"code","message","status"}} into detail as
 * "STATUS: message", or the bare HTTP status when the body holds none.
 */
static void
envelope_detail(long status, const char *body, size_t len, char *detail)
{
	struct tb_json *j = reply_json(body, len), *e;
	const char *st = NULL, *msg = NULL;
	char text[ERROR_TEXT_MAX + 1];

	e = tb_json_get(j, "error");
	if (tb_json_is_object(e)) {
		st = tb_json_get_str(e, "status");
		msg = tb_json_get_str(e, "message");
	}
	text[0] = '\0';
	/* the metadata server answers errors in plain text: keep its first line */
	if (msg == NULL && j == NULL && len > 0 && len <= ERROR_TEXT_MAX &&
	    memchr(body, '\0', len) == NULL) {
		memcpy(text, body, len);
		text[len] = '\0';
		if (!is_printable_text(text))
			text[0] = '\0';
	}
	if (msg != NULL)
		set_detail(detail, "%s: %s", st != NULL ? st : "ERROR", msg);
	else if (text[0] != '\0')
		set_detail(
		    detail, "HTTP status %ld: %.*s", status, (int)strcspn(text, "\r\n"), text);
	else
		set_detail(detail, "HTTP status %ld", status);
	tb_json_free(j);
}

/* The answer to a status other than 2xx, for the IAM and metadata APIs. */
static int
refused(long status, const char *body, size_t len, char *detail)
{
	envelope_detail(status, body, len, detail);
	return status_error(status);
}

/* A 2xx reply that is not as documented; why never quotes the body (it may hold a token). */
static int
bad_reply(const char *what, const char *why, char *detail)
{
	set_detail(detail, "%s: unexpected reply: %s", what, why);
	return TB_ERR_UPSTREAM;
}

/* The JSON object of a 2xx answer into *j (the caller's); the error of any other answer. */
static int
json_answer(
    long status, const char *body, size_t len, const char *what, struct tb_json **j, char *detail)
{
	if (status < 200 || status > 299)
		return refused(status, body, len, detail);
	if ((*j = reply_json(body, len)) == NULL)
		return bad_reply(what, "not a JSON object", detail);
	return 0;
}

/* The {"access_token", "expires_in"} pair that STS and the metadata server answer with. */
static int
token_pair(
    const struct tb_json *j, const char *what, char **token, int64_t *expires_in, char *detail)
{
	const char *tok = tb_json_get_str(j, "access_token");
	int64_t exp;

	if (!valid_token(tok))
		return bad_reply(what, "no usable access_token", detail);
	if (tb_json_get_int(j, "expires_in", &exp) != 0 || exp <= 0)
		return bad_reply(what, "expires_in is not a positive integer", detail);
	if ((*token = strdup(tok)) == NULL)
		return TB_ERR_ALLOC;
	*expires_in = exp;
	return 0;
}

int
tb_google_read_sts(long status, const char *body, size_t len, char **access_token,
    int64_t *expires_in, char *detail)
{
	struct tb_json *j = NULL;
	const char *err, *desc;
	int r;

	*access_token = NULL;
	*expires_in = 0;
	detail[0] = '\0';
	if (status >= 200 && status <= 299) {
		if ((j = reply_json(body, len)) == NULL)
			r = bad_reply("STS", "not a JSON object", detail);
		else
			r = token_pair(j, "STS", access_token, expires_in, detail);
		goto out;
	}
	/* STS answers errors as OAuth does (RFC 6749 5.2); Google's front ends in their envelope */
	r = status_error(status);
	j = reply_json(body, len);
	err = tb_json_get_str(j, "error");
	desc = tb_json_get_str(j, "error_description");
	if (err != NULL)
		set_detail(detail, "Token exchange failed with code %s: %s", err,
		    desc != NULL ? desc : "");
	else if (tb_json_is_object(tb_json_get(j, "error")))
		envelope_detail(status, body, len, detail);
	else
		set_detail(detail, "Token exchange failed with HTTP status %ld", status);
out:
	tb_json_free(j);
	return r;
}

int
tb_google_read_access_token(long status, const char *body, size_t len, time_t now,
    char **access_token, int64_t *expires_in, char *detail)
{
	struct tb_json *j = NULL;
	const char *tok, *expire;
	time_t until;
	int r;

	*access_token = NULL;
	*expires_in = 0;
	detail[0] = '\0';
	if ((r = json_answer(status, body, len, "generateAccessToken", &j, detail)) != 0)
		goto out;
	tok = tb_json_get_str(j, "accessToken");
	expire = tb_json_get_str(j, "expireTime");
	if (!valid_token(tok)) {
		r = bad_reply("generateAccessToken", "no usable accessToken", detail);
		goto out;
	}
	if (expire == NULL || tb_rfc3339(expire, &until) != 0 || until <= now) {
		r = bad_reply(
		    "generateAccessToken", "expireTime is not a future RFC 3339 time", detail);
		goto out;
	}
	r = TB_ERR_ALLOC;
	if ((*access_token = strdup(tok)) == NULL)
		goto out;
	*expires_in = (int64_t)(until - now);
	r = 0;
out:
	tb_json_free(j);
	return r;
}

int
tb_google_read_signed_jwt(long status, const char *body, size_t len, char **jwt, char *detail)
{
	struct tb_json *j = NULL;
	const char *s, *dot;
	int r;

	*jwt = NULL;
	detail[0] = '\0';
	if ((r = json_answer(status, body, len, "signJwt", &j, detail)) != 0)
		goto out;
	s = tb_json_get_str(j, "signedJwt");
	/* a compact JWS: printable, without spaces, in three parts */
	if (!valid_token(s) || (dot = strchr(s, '.')) == NULL || strchr(dot + 1, '.') == NULL) {
		r = bad_reply("signJwt", "no usable signedJwt", detail);
		goto out;
	}
	r = TB_ERR_ALLOC;
	if ((*jwt = strdup(s)) == NULL)
		goto out;
	r = 0;
out:
	tb_json_free(j);
	return r;
}

int
tb_google_read_metadata_token(
    long status, const char *body, size_t len, char **token, int64_t *expires_in, char *detail)
{
	struct tb_json *j = NULL;
	int r;

	*token = NULL;
	*expires_in = 0;
	detail[0] = '\0';
	if ((r = json_answer(status, body, len, "metadata token", &j, detail)) == 0)
		r = token_pair(j, "metadata token", token, expires_in, detail);
	tb_json_free(j);
	return r;
}

int
tb_google_read_metadata_email(long status, const char *body, size_t len, char **email, char *detail)
{
	char *e = NULL;
	size_t n = len;
	int r;

	*email = NULL;
	detail[0] = '\0';
	if (status < 200 || status > 299)
		return refused(status, body, len, detail);
	/* the metadata server answers in plain text, perhaps with a line break after it */
	while (n > 0 && memchr(" \t\r\n", body[n - 1], 4) != NULL)
		n--;
	if (n == 0)
		return bad_reply("metadata email", "empty", detail);
	if (memchr(body, '\0', n) != NULL)
		return bad_reply("metadata email", "not an email address", detail);
	if ((e = strndup(body, n)) == NULL)
		return TB_ERR_ALLOC;
	r = 0;
	if (!tb_valid_email(e)) {
		r = bad_reply("metadata email", "not an email address", detail);
		free(e);
		e = NULL;
	}
	*email = e;
	return r;
}

/*
 * Logs what a reader refused: Google's own error, or the shape of a reply that is not as
 * documented (its size, never its text: the body may hold a token).
 */
static void
log_answer(const struct call *c, size_t len, int r, const char *detail)
{
	if (r == 0 || r == TB_ERR_ALLOC)
		return;
	if (c->status < 200 || c->status > 299)
		tb_log(
		    TB_LOG_ERROR, c->event, NULL, "%s: HTTP %ld: %s", c->what, c->status, detail);
	else
		tb_log(TB_LOG_ERROR, c->event, NULL,
		    "%s (HTTP %ld with a %zu-byte reply that is not as documented)", detail,
		    c->status, len);
}

int
tb_google_new(
    const char *sts, const char *iam, const char *meta, long timeout, struct tb_google **out)
{
	struct tb_google *g = NULL;
	int r = TB_ERR_ALLOC;

	*out = NULL;
	if (!tb_valid_timeout(timeout)) {
		tb_log(TB_LOG_ERROR, "google.config", NULL,
		    "UPSTREAM_TIMEOUT: %ld is not a number of seconds from %d to %d", timeout,
		    TB_TIMEOUT_MIN, TB_TIMEOUT_MAX);
		return TB_ERR_CONFIG;
	}
	if (meta == NULL || !tb_valid_authority(meta, strlen(meta))) {
		tb_log(TB_LOG_ERROR, "google.config", NULL,
		    "GCE_METADATA_HOST: not a host[:port]: %s", meta != NULL ? meta : "(unset)");
		return TB_ERR_CONFIG;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return TB_ERR_ALLOC;
	tb_buf_init(&g->reply, TB_UPSTREAM_MAX);
	g->timeout = timeout;
	if ((r = check_base("STS_ENDPOINT", sts, &g->sts, &g->sts_local, &g->sts_plain)) != 0 ||
	    (r = check_base(
	         "IAMCREDENTIALS_ENDPOINT", iam, &g->iam, &g->iam_local, &g->iam_plain)) != 0)
		goto out;
	r = TB_ERR_ALLOC;
	if ((g->meta = malloc(strlen(meta) + 8)) == NULL)
		goto out;
	memcpy(g->meta, "http://", 7);
	memcpy(g->meta + 7, meta, strlen(meta) + 1);
	*out = g;
	g = NULL; /* transferred */
	r = 0;
out:
	tb_google_free(g);
	return r;
}

void
tb_google_free(struct tb_google *g)
{
	if (g == NULL)
		return;
	if (g->curl != NULL)
		cu->easy_cleanup(g->curl);
	free(g->sts);
	free(g->iam);
	free(g->meta);
	tb_free_secret(g->meta_token);
	free(g->default_email);
	tb_buf_free(&g->reply);
	free(g);
}

int
tb_google_sts_exchange(struct tb_google *g, const char *audience, const char *id_token,
    const char *scope, char **access_token, int64_t *expires_in, char *detail)
{
	struct call c = {.event = "google.sts",
	    .what = "STS",
	    .content_type = "application/x-www-form-urlencoded"};
	struct tb_buf url, form;
	int r = TB_ERR_ALLOC;

	*access_token = NULL;
	*expires_in = 0;
	detail[0] = '\0';
	tb_buf_init(&url, TB_URL_MAX + 64);
	tb_buf_init(&form, BODY_MAX);
	if (audience == NULL || *audience == '\0' || !is_printable(audience) ||
	    !valid_token(id_token)) {
		set_detail(detail, "STS: bad audience or subject token");
		tb_log(TB_LOG_ERROR, c.event, NULL, "%s", detail);
		r = TB_ERR_INVALID;
		goto out;
	}
	if (scope == NULL || !tb_valid_scope(scope)) {
		set_detail(detail, "STS: the scope is empty or not printable ASCII");
		tb_log(TB_LOG_ERROR, c.event, NULL, "%s", detail);
		r = TB_ERR_REQUEST;
		goto out;
	}
	if (tb_buf_addf(&url, "%s/v1/token", g->sts) != 0 ||
	    add_field(&form, "grant_type", STS_GRANT) != 0 ||
	    add_field(&form, "audience", audience) != 0 || add_field(&form, "scope", scope) != 0 ||
	    add_field(&form, "requested_token_type", STS_ACCESS_TOKEN) != 0 ||
	    add_field(&form, "subject_token", id_token) != 0 ||
	    add_field(&form, "subject_token_type", STS_ID_TOKEN) != 0)
		goto out;
	c.url = url.data;
	c.plain = g->sts_plain;
	c.local = g->sts_local;
	c.body = form.data;
	c.body_len = form.len;
	if ((r = perform(g, &c, detail)) != 0)
		goto out;
	r = tb_google_read_sts(
	    c.status, g->reply.data, g->reply.len, access_token, expires_in, detail);
	log_answer(&c, g->reply.len, r, detail);
out:
	tb_buf_free(&g->reply);
	tb_buf_free(&form);
	tb_buf_free(&url);
	return r;
}

/* .../v1/projects/-/serviceAccounts/ACCOUNT:method into b. */
static int
iam_url(struct tb_google *g, struct tb_buf *b, const char *account, const char *method)
{
	int r;

	if ((r = tb_buf_addf(b, "%s/v1/projects/-/serviceAccounts/", g->iam)) != 0 ||
	    (r = add_escaped(b, account, "@")) != 0 || (r = tb_buf_addf(b, ":%s", method)) != 0)
		return r;
	return 0;
}

int
tb_google_generate_access_token(struct tb_google *g, const char *bearer, const char *account,
    const char *scope, int64_t lifetime, time_t now, char **access_token, int64_t *expires_in,
    char *detail)
{
	struct call c = {.event = "google.iam",
	    .what = "generateAccessToken",
	    .content_type = "application/json"};
	struct tb_buf url;
	struct tb_json *req = NULL, *scopes = NULL;
	char *body = NULL, *copy = NULL, *p, *sp, life[32];
	int r = TB_ERR_ALLOC;

	*access_token = NULL;
	*expires_in = 0;
	detail[0] = '\0';
	tb_buf_init(&url, TB_URL_MAX + 64);
	if (!valid_token(bearer) || lifetime <= 0 || lifetime > LIFETIME_MAX) {
		set_detail(detail, "generateAccessToken: bad bearer or lifetime");
		tb_log(TB_LOG_ERROR, c.event, NULL, "%s", detail);
		r = TB_ERR_INVALID;
		goto out;
	}
	if (account == NULL || !tb_valid_email(account) || scope == NULL ||
	    !tb_valid_scope(scope)) {
		set_detail(detail,
		    "generateAccessToken: the service account is not an email, or the "
		    "scope is empty or not printable ASCII");
		tb_log(TB_LOG_ERROR, c.event, NULL, "%s", detail);
		r = TB_ERR_REQUEST;
		goto out;
	}
	if ((req = tb_json_object()) == NULL || (scopes = tb_json_array()) == NULL ||
	    (copy = strdup(scope)) == NULL)
		goto out;
	/* doc/contract.md section 7: the scope value is split on spaces into the list
	 * generateAccessToken takes */
	for (p = copy; p != NULL; p = sp) {
		if ((sp = strchr(p, ' ')) != NULL)
			*sp++ = '\0';
		if (*p != '\0' && tb_json_append_str(scopes, p) != 0)
			goto out;
	}
	snprintf(life, sizeof(life), "%llds", (long long)lifetime);
	r = tb_json_set(req, "scope", scopes);
	scopes = NULL; /* transferred */
	if (r != 0 || (r = tb_json_set_str(req, "lifetime", life)) != 0 ||
	    (r = tb_json_render(req, &body)) != 0)
		goto out;
	if ((r = iam_url(g, &url, account, "generateAccessToken")) != 0)
		goto out;
	c.url = url.data;
	c.plain = g->iam_plain;
	c.local = g->iam_local;
	c.body = body;
	c.body_len = strlen(body);
	c.bearer = bearer;
	if ((r = perform(g, &c, detail)) != 0)
		goto out;

	r = tb_google_read_access_token(
	    c.status, g->reply.data, g->reply.len, now, access_token, expires_in, detail);
	log_answer(&c, g->reply.len, r, detail);
out:
	tb_json_free(scopes);
	tb_json_free(req);
	free(body);
	free(copy);
	tb_buf_free(&g->reply);
	tb_buf_free(&url);
	return r;
}

/* A GET to the metadata server's default service account: path under META_PATH. */
static int
metadata_get(struct tb_google *g, struct call *c, const char *what, char *detail)
{
	struct tb_buf url;
	int r;

	tb_buf_init(&url, TB_URL_MAX + 64);
	c->event = "google.metadata";
	c->what = what[0] == 'e' ? "metadata email" : "metadata token";
	c->local = 1;
	c->plain = 1; /* the metadata server speaks plain http, on a link-local address */
	c->metadata = 1;
	if ((r = tb_buf_addf(&url, "%s" META_PATH "%s", g->meta, what)) == 0) {
		c->url = url.data;
		r = perform(g, c, detail);
		c->url = NULL;
	}
	tb_buf_free(&url);
	return r;
}

/* Fills g->default_email from the metadata server, once. */
static int
resolve_default(struct tb_google *g, char *detail)
{
	struct call c = {0};
	int r;

	if (g->default_email != NULL)
		return 0;
	if ((r = metadata_get(g, &c, "email", detail)) != 0)
		goto out;
	r = tb_google_read_metadata_email(
	    c.status, g->reply.data, g->reply.len, &g->default_email, detail);
	log_answer(&c, g->reply.len, r, detail);
	if (r == 0)
		tb_log(TB_LOG_INFO, "google.metadata", NULL, "the metadata server's account is %s",
		    g->default_email);
out:
	tb_buf_free(&g->reply);
	return r;
}

int
tb_google_default_account(struct tb_google *g, char **email, char *detail)
{
	int r;

	*email = NULL;
	detail[0] = '\0';
	if ((r = resolve_default(g, detail)) != 0)
		return r;
	if ((*email = strdup(g->default_email)) == NULL)
		return TB_ERR_ALLOC;
	return 0;
}

/* Fills g->meta_token from the metadata server unless the cached one is still good at now. */
static int
metadata_token(struct tb_google *g, time_t now, int *fresh, char *detail)
{
	struct call c = {0};
	int64_t exp;
	int r;

	*fresh = 0;
	if (g->meta_token != NULL && now < g->meta_until)
		return 0;
	tb_free_secret(g->meta_token);
	g->meta_token = NULL;
	if ((r = metadata_get(g, &c, "token", detail)) != 0)
		goto out;
	r = tb_google_read_metadata_token(
	    c.status, g->reply.data, g->reply.len, &g->meta_token, &exp, detail);
	log_answer(&c, g->reply.len, r, detail);
	if (r != 0)
		goto out;
	/* a token good for less than the margin is used for this call and asked for again next time
	 */
	g->meta_until = now + (time_t)(exp > META_TOKEN_MARGIN ? exp - META_TOKEN_MARGIN : 0);
	*fresh = 1;
out:
	tb_buf_free(&g->reply);
	return r;
}

int
tb_google_sign_jwt(struct tb_google *g, const char *account, const char *payload, time_t now,
    char **jwt, char *detail)
{
	struct call c = {0};
	struct tb_buf url;
	struct tb_json *req = NULL, *claims = NULL;
	char *body = NULL;
	int r = TB_ERR_ALLOC, fresh;

	*jwt = NULL;
	detail[0] = '\0';
	tb_buf_init(&url, TB_URL_MAX + 64);
	if (payload == NULL || tb_json_parse(payload, strlen(payload), &claims) != 0 ||
	    !tb_json_is_object(claims)) {
		set_detail(detail, "signJwt: the payload is not a JSON object");
		tb_log(TB_LOG_ERROR, "google.iam", NULL, "%s", detail);
		r = TB_ERR_INVALID;
		goto out;
	}
	if (account == NULL || (strcmp(account, "default") != 0 && !tb_valid_email(account))) {
		set_detail(detail, "signJwt: the service account is not an email or \"default\"");
		tb_log(TB_LOG_ERROR, "google.iam", NULL, "%s", detail);
		r = TB_ERR_REQUEST;
		goto out;
	}
	if (strcmp(account, "default") == 0) {
		if ((r = resolve_default(g, detail)) != 0)
			goto out;
		account = g->default_email;
	}
	if ((req = tb_json_object()) == NULL)
		goto out;
	if ((r = tb_json_set_str(req, "payload", payload)) != 0 ||
	    (r = tb_json_render(req, &body)) != 0 ||
	    (r = iam_url(g, &url, account, "signJwt")) != 0)
		goto out;

	/* a cached token that IAM no longer takes (401) is dropped and fetched once more */
	for (int attempt = 0; attempt < 2; attempt++) {
		if ((r = metadata_token(g, now, &fresh, detail)) != 0)
			goto out;
		memset(&c, 0, sizeof(c));
		c.event = "google.iam";
		c.what = "signJwt";
		c.content_type = "application/json";
		c.url = url.data;
		c.plain = g->iam_plain;
		c.local = g->iam_local;
		c.body = body;
		c.body_len = strlen(body);
		c.bearer = g->meta_token;
		if ((r = perform(g, &c, detail)) != 0)
			goto out;
		if (c.status != 401 || fresh)
			break;
		tb_log(TB_LOG_WARNING, c.event, NULL,
		    "signJwt: IAM refused the cached metadata token (401); asking for a new one");
		tb_free_secret(g->meta_token);
		g->meta_token = NULL;
	}
	r = tb_google_read_signed_jwt(c.status, g->reply.data, g->reply.len, jwt, detail);
	log_answer(&c, g->reply.len, r, detail);
out:
	tb_json_free(claims);
	tb_json_free(req);
	free(body);
	tb_buf_free(&g->reply);
	tb_buf_free(&url);
	return r;
}
