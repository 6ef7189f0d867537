/* valid.c: one function for each rule on hosts, URLs, addresses, scopes and numbers. */
#include "valid.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

#define LABEL_MAX 63 /* one DNS label (RFC 1035) */
#define PORT_MAX 65535
#define DECIMAL_DIGITS_MAX 18 /* more digits than this may not fit a long: out of range */

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* An address literal of family af from [s, s + n) into a (16 bytes); 1 when it is one. */
static int
address(int af, const char *s, size_t n, unsigned char a[16])
{
	char tmp[TB_HOST_MAX + 1];

	if (n == 0 || n > TB_HOST_MAX)
		return 0;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return inet_pton(af, tmp, a) == 1;
}

/* 1 when [s, s + n) holds only digits and dots: it must then be an IPv4 address. */
static int
looks_numeric(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!is_digit(s[i]) && s[i] != '.')
			return 0;
	return 1;
}

int
tb_valid_host(const char *s, size_t n)
{
	unsigned char a[16];
	size_t i, label = 0;

	if (n == 0 || n > TB_HOST_MAX)
		return 0;
	if (s[0] == '[')
		return n > 2 && s[n - 1] == ']' && address(AF_INET6, s + 1, n - 2, a);
	if (looks_numeric(s, n))
		return address(AF_INET, s, n, a);
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (is_alnum(s[i]) || s[i] == '-' || s[i] == '_') {
			if (++label > LABEL_MAX)
				return 0;
		} else
			return 0;
	}
	return label > 0;
}

/* The length of the host at the start of [s, s + n): up to ']' for IPv6, else up to ':'. */
static size_t
host_len(const char *s, size_t n)
{
	const char *stop;

	if (n > 0 && s[0] == '[') {
		stop = memchr(s, ']', n);
		return stop != NULL ? (size_t)(stop - s) + 1 : n;
	}
	stop = memchr(s, ':', n);
	return stop != NULL ? (size_t)(stop - s) : n;
}

int
tb_valid_authority(const char *s, size_t n)
{
	size_t h = host_len(s, n), i;
	long port = 0;

	if (!tb_valid_host(s, h))
		return 0;
	if (h == n)
		return 1;
	if (s[h] != ':' || n - h < 2 || n - h > 6)
		return 0;
	for (i = h + 1; i < n; i++) {
		if (!is_digit(s[i]))
			return 0;
		port = port * 10 + (s[i] - '0');
	}
	return port >= 1 && port <= PORT_MAX;
}

int
tb_valid_loopback(const char *s, size_t n)
{
	unsigned char a[16];

	if (n == 9 && strncasecmp(s, "localhost", 9) == 0)
		return 1;
	if (n > 2 && s[0] == '[' && s[n - 1] == ']')
		return address(AF_INET6, s + 1, n - 2, a) &&
		       IN6_IS_ADDR_LOOPBACK((struct in6_addr *)(void *)a);
	if (looks_numeric(s, n))
		return address(AF_INET, s, n, a) && a[0] == 127;
	return 0;
}

int
tb_valid_url(const char *url, unsigned flags, struct tb_url *parts, const char **why)
{
	struct tb_url u;
	size_t n = strlen(url), alen, i;
	const char *auth, *slash;

	memset(&u, 0, sizeof(u));
	if (n == 0 || n > TB_URL_MAX) {
		*why = "must be a URL of at most 2048 bytes";
		return TB_ERR_INVALID;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)url[i];

		if (c <= ' ' || c >= 0x7f || strchr("?#@\\\"<>", c) != NULL) {
			*why = "must be a URL without spaces, query, fragment or user name";
			return TB_ERR_INVALID;
		}
	}
	if (strncasecmp(url, "https://", 8) == 0)
		u.https = 1;
	else if (strncasecmp(url, "http://", 7) != 0) {
		*why = (flags & TB_URL_HTTP) != 0 ? "must be an http:// or https:// URL"
		                                  : "must be an https:// URL";
		return TB_ERR_INVALID;
	}
	auth = url + (u.https ? 8 : 7);
	slash = strchr(auth, '/');
	alen = slash != NULL ? (size_t)(slash - auth) : strlen(auth);
	u.host = (size_t)(auth - url);
	u.hlen = host_len(auth, alen);
	u.path = u.host + alen;
	if (!tb_valid_authority(auth, alen)) {
		*why = "must have a host name or address and at most a numeric port";
		return TB_ERR_INVALID;
	}
	if ((flags & TB_URL_PATH) == 0 && url[u.path] != '\0' && strcmp(url + u.path, "/") != 0) {
		*why = "must not have a path";
		return TB_ERR_INVALID;
	}
	u.loopback = tb_valid_loopback(auth, u.hlen);
	if (!u.https && !u.loopback && (flags & TB_URL_HTTP) == 0) {
		*why = "must be https:// (plain http:// only for loopback hosts)";
		return TB_ERR_INVALID;
	}
	if (parts != NULL)
		*parts = u;
	return 0;
}

int
tb_valid_project_id(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > TB_PROJECT_ID_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		        s[i] == ':' || s[i] == '.'))
			return 0;
	return 1;
}

int
tb_valid_email(const char *s)
{
	const char *at = strchr(s, '@'), *p;
	size_t label = 0, labels = 0;

	if (at == NULL || at == s || strlen(s) > TB_EMAIL_MAX)
		return 0;
	for (p = s; p < at; p++)
		if (!is_alnum(*p) && strchr("._+-", *p) == NULL)
			return 0;
	for (p = at + 1;; p++) {
		if (*p == '.' || *p == '\0') {
			/* a label neither empty nor starting or ending with a hyphen */
			if (label == 0 || p[-1] == '-' || p[-(long)label] == '-')
				return 0;
			labels++;
			label = 0;
			if (*p == '\0')
				break;
		} else if (is_alnum(*p) || *p == '-') {
			if (++label > LABEL_MAX)
				return 0;
		} else
			return 0; /* a second @ included */
	}
	return labels >= 2;
}

int
tb_valid_audience(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > TB_AUDIENCE_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

int
tb_valid_scope(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > TB_SCOPE_MAX || s[0] == ' ' || s[n - 1] == ' ')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ' ') {
			if (s[i + 1] == ' ')
				return 0; /* an empty token */
		} else if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
			return 0; /* NQCHAR is %x21 / %x23-5B / %x5D-7E */
	}
	return 1;
}

int
tb_valid_decimal(const char *s, long min, long max, long *out)
{
	size_t n = strlen(s), i;
	long v;

	if (n == 0)
		return TB_ERR_INVALID;
	for (i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return TB_ERR_INVALID;
	while (n > 1 && *s == '0') { /* leading zeros do not count towards the length */
		s++;
		n--;
	}
	if (n > DECIMAL_DIGITS_MAX)
		return TB_ERR_LIMIT;
	errno = 0;
	v = strtol(s, NULL, 10);
	if (errno != 0 || v < min || v > max)
		return TB_ERR_LIMIT;
	*out = v;
	return 0;
}

int
tb_valid_timeout(long seconds)
{
	return seconds >= TB_TIMEOUT_MIN && seconds <= TB_TIMEOUT_MAX;
}
