/* valid.h: the one home of each input rule that the settings and the requests share. */
#ifndef TB_VALID_H
#define TB_VALID_H

#include <stddef.h>

#define TB_HOST_MAX 255   /* a host name (RFC 1035) or an address, without the port */
#define TB_URL_MAX 2048   /* a URL in a setting */
#define TB_EMAIL_MAX 254  /* RFC 5321's limit on an address */
#define TB_SCOPE_MAX 4096 /* a space-separated scope list */
#define TB_TIMEOUT_MIN 1  /* UPSTREAM_TIMEOUT bounds, seconds */
#define TB_TIMEOUT_MAX 120

/*
 * Each function below owns one rule; nothing else in the program checks the same thing. They
 * are pure (no I/O, no allocation), so the fuzz targets reach them through their callers.
 */

/* 1 when [s, s + n) is a host: a DNS name, a dotted IPv4 address, or a bracketed IPv6 one. */
int tb_valid_host(const char *s, size_t n);
/* 1 when [s, s + n) is a host with an optional ":port" (1 to 65535), and nothing else. */
int tb_valid_authority(const char *s, size_t n);
/*
 * 1 when the host [s, s + n) (as tb_valid_host accepts it, without a port) is a loopback host:
 * "localhost", 127.0.0.0/8 or [::1]. A name that merely starts with "127." is not.
 */
int tb_valid_loopback(const char *s, size_t n);

#define TB_URL_PATH 1u /* a path may follow the authority */
#define TB_URL_HTTP 2u /* plain http:// for any host (CRLs are signed) */

/* Where the parts of a URL that tb_valid_url accepted are. */
struct tb_url {
	int https;         /* https://, else http:// */
	int loopback;      /* the host is a loopback host */
	size_t host, hlen; /* the host (brackets kept) as an offset into the URL, and its length */
	size_t path;       /* offset of the path ('/' or the end of the URL) */
};

/*
 * Checks an absolute URL: https://authority[/path], or http:// when the host is a loopback host
 * (any host with TB_URL_HTTP); the scheme in either case; no query, fragment, user info,
 * backslash, whitespace or non-ASCII; at most TB_URL_MAX bytes; a path only with TB_URL_PATH
 * (a lone "/" is always allowed). 0 and *parts (may be NULL), or TB_ERR_INVALID with *why (a
 * static phrase that fits "STS_ENDPOINT %s").
 */
int tb_valid_url(const char *url, unsigned flags, struct tb_url *parts, const char **why);

/*
 * 1 when s is an e-mail address as Google writes service accounts
 * (name@project.iam.gserviceaccount.com): letters, digits and ._+- before one @, a domain of two
 * or more dot-separated labels after it, at most TB_EMAIL_MAX bytes. "sa@localhost" is not.
 */
int tb_valid_email(const char *s);

#define TB_PROJECT_ID_MAX 127 /* a project id (Google's are 6 to 30 characters) */

/*
 * 1 when s is a Google Cloud project id: 1 to TB_PROJECT_ID_MAX lower-case letters, digits,
 * '-', ':' (domain-scoped ids, example.com:project) and '.'.
 */
int tb_valid_project_id(const char *s);

#define TB_AUDIENCE_MAX 1024 /* an audience (aud) value */

/*
 * 1 when s is an audience an ID token may carry: 1 to TB_AUDIENCE_MAX bytes of printable ASCII
 * without spaces (a URI such as api://AzureADTokenExchange, or a name such as
 * sts.amazonaws.com). The same rule for TOKEN_AUDIENCE, TOKEN_AUDIENCES, the registry's
 * audiences and the audience parameter.
 */
int tb_valid_audience(const char *s);

/* 1 when s is a scope (RFC 6749 section 3.3): tokens of NQCHAR separated by single spaces. */
int tb_valid_scope(const char *s);

/*
 * Parses a plain decimal number: digits only (no sign, space, exponent or base prefix). 0 and
 * *out; TB_ERR_INVALID when s is not a plain decimal; TB_ERR_LIMIT when it is outside [min, max]
 * (overflowing values included).
 */
int tb_valid_decimal(const char *s, long min, long max, long *out);

/* 1 when seconds is a usable timeout for one call upstream (TB_TIMEOUT_MIN to TB_TIMEOUT_MAX). */
int tb_valid_timeout(long seconds);

#endif
