/* test_valid.c: the shared input rules: hosts, URLs, loopback, e-mail, scopes, numbers. */
#include <limits.h>
#include <string.h>

#include "err.h"
#include "tap.h"
#include "valid.h"

static const struct {
	const char *s;
	int host, authority, loopback;
} hosts[] = {
    {"broker.example.net", 1, 1, 0}, {"broker.example.net:8443", 0, 1, 0}, {"localhost", 1, 1, 1},
    {"LocalHost", 1, 1, 1}, {"localhost:8080", 0, 1, 0}, /* loopback takes a bare host */
    {"127.0.0.1", 1, 1, 1}, {"127.255.3.4", 1, 1, 1}, {"127.0.0.1.evil.example", 1, 1, 0},
    {"127.evil", 1, 1, 0}, {"128.0.0.1", 1, 1, 0},
    {"127.1", 0, 0, 0},     /* numeric, but not a dotted quad */
    {"999.0.0.1", 0, 0, 0}, /* numeric, but no address */
    {"[::1]", 1, 1, 1}, {"[::1]:8443", 0, 1, 0}, {"[0:0:0:0:0:0:0:1]", 1, 1, 1},
    {"[2001:db8::1]", 1, 1, 0}, {"[2001:db8::1", 0, 0, 0}, {"[]", 0, 0, 0}, {"[zz::1]", 0, 0, 0},
    {"::1", 0, 0, 0}, {"under_score.example", 1, 1, 0}, {"", 0, 0, 0}, {"a..b", 0, 0, 0},
    {".a", 0, 0, 0}, {"a.", 0, 0, 0}, {"a b", 0, 0, 0}, {"evil.com/x", 0, 0, 0},
    {"user@host", 0, 0, 0}, {"host\r\nX: y", 0, 0, 0}, {"host:", 0, 0, 0}, {"host:0", 0, 0, 0},
    {"host:65535", 0, 1, 0}, {"host:65536", 0, 0, 0}, {"host:123456", 0, 0, 0},
    {"host:80x", 0, 0, 0}, {"host:-1", 0, 0, 0}, {":80", 0, 0, 0},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example", 1, 1, 0},  /* 63 */
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example", 0, 0, 0}, /* 64 */
};

static const struct {
	const char *url;
	unsigned flags;
	int valid, https, loopback;
} urls[] = {
    {"https://sts.googleapis.com", 0, 1, 1, 0},
    {"https://sts.googleapis.com/", 0, 1, 1, 0},
    {"HTTPS://sts.googleapis.com", 0, 1, 1, 0},
    {"https://broker.example.net/idp", 0, 0, 0, 0}, /* a path without TB_URL_PATH */
    {"https://broker.example.net/idp", TB_URL_PATH, 1, 1, 0},
    {"http://127.0.0.1:8080", TB_URL_PATH, 1, 0, 1},
    {"http://localhost/x", TB_URL_PATH, 1, 0, 1},
    {"http://[::1]:80/", TB_URL_PATH, 1, 0, 1},
    {"http://127.0.0.1.evil.example/", TB_URL_PATH, 0, 0, 0},
    {"http://example.net/", TB_URL_PATH, 0, 0, 0},
    {"http://crl.example.net/ca.crl", TB_URL_PATH | TB_URL_HTTP, 1, 0, 0},
    {"ftp://example.net/", TB_URL_PATH | TB_URL_HTTP, 0, 0, 0},
    {"https://user@example.net/", TB_URL_PATH, 0, 0, 0},
    {"https://example.net/?q=1", TB_URL_PATH, 0, 0, 0},
    {"https://example.net/#f", TB_URL_PATH, 0, 0, 0},
    {"https://example.net/a b", TB_URL_PATH, 0, 0, 0},
    {"https://example.net\\@evil/", TB_URL_PATH, 0, 0, 0},
    {"https://example.net:99999/", TB_URL_PATH, 0, 0, 0},
    {"https://", TB_URL_PATH, 0, 0, 0},
    {"https:///x", TB_URL_PATH, 0, 0, 0},
    {"", TB_URL_PATH, 0, 0, 0},
    {"sts.googleapis.com", TB_URL_PATH, 0, 0, 0},
};

static const struct {
	const char *s;
	int valid;
} emails[] = {
    {"sa@example-project.iam.gserviceaccount.com", 1},
    {"billing.batch+x@example.net", 1},
    {"sa@localhost", 0}, /* one label: not a routable domain */
    {"sa@", 0},
    {"@example.net", 0},
    {"sa@@example.net", 0},
    {"sa@a@example.net", 0},
    {"sa@example..net", 0},
    {"sa@.example.net", 0},
    {"sa@example.net.", 0},
    {"sa@-example.net", 0},
    {"sa@example-.net", 0},
    {"s a@example.net", 0},
    {"sa@exa_mple.net", 0},
    {"sa\"@example.net", 0},
    {"sa@example.net\n", 0},
    {"", 0},
};

static const struct {
	const char *s;
	int valid;
} scopes[] = {
    {"https://www.googleapis.com/auth/cloud-platform", 1},
    {"a b c", 1},
    {"!#[]~", 1},
    {"", 0},
    {" a", 0},
    {"a ", 0},
    {"a  b", 0},
    {"a\tb", 0},
    {"a\"b", 0},
    {"a\\b", 0},
    {"caf\xc3\xa9", 0},
};

static const struct {
	const char *s;
	long min, max;
	int r;
	long want;
} numbers[] = {
    {"0", 0, 10, 0, 0},
    {"7", 0, 10, 0, 7},
    {"007", 0, 10, 0, 7},
    {"10", 0, 10, 0, 10},
    {"11", 0, 10, TB_ERR_LIMIT, 0},
    {"-5", -10, 10, TB_ERR_INVALID, 0},
    {"+5", 0, 10, TB_ERR_INVALID, 0},
    {"1e3", 0, 10000, TB_ERR_INVALID, 0},
    {" 7", 0, 10, TB_ERR_INVALID, 0},
    {"7 ", 0, 10, TB_ERR_INVALID, 0},
    {"0x10", 0, 100, TB_ERR_INVALID, 0},
    {"", 0, 10, TB_ERR_INVALID, 0},
    {"999999999999999999", 0, LONG_MAX, 0, 999999999999999999L},
    {"9223372036854775807", 0, LONG_MAX, TB_ERR_LIMIT, 0},
    {"99999999999999999999999999", 0, LONG_MAX, TB_ERR_LIMIT, 0},
    {"0000000000000000000000000001", 0, 10, 0, 1},
};

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		const char *s = hosts[i].s;

		is_int(tb_valid_host(s, strlen(s)), hosts[i].host, "host '%s'", s);
		is_int(tb_valid_authority(s, strlen(s)), hosts[i].authority, "authority '%s'", s);
		is_int(tb_valid_loopback(s, strlen(s)), hosts[i].loopback, "loopback '%s'", s);
	}
	ok(tb_valid_host("localhost.", 9), "a length bounds the host, not a NUL");
	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct tb_url u;
		const char *why = NULL;
		int r = tb_valid_url(urls[i].url, urls[i].flags, &u, &why);

		is_int(r == 0, urls[i].valid, "URL '%s' (flags %u)", urls[i].url, urls[i].flags);
		if (r == 0) {
			is_int(u.https, urls[i].https, "its scheme");
			is_int(u.loopback, urls[i].loopback, "its host's loopback");
		} else
			ok(why != NULL && *why != '\0', "with a reason");
	}
	{
		struct tb_url u;
		const char *why, *url = "https://[::1]:8443/v1/x";

		ok(tb_valid_url(url, TB_URL_PATH, &u, &why) == 0, "the parts of %s", url);
		ok(u.hlen == 5 && strncmp(url + u.host, "[::1]", 5) == 0, "host with brackets");
		is_str(url + u.path, "/v1/x", "path");
	}
	for (i = 0; i < sizeof(emails) / sizeof(emails[0]); i++)
		is_int(tb_valid_email(emails[i].s), emails[i].valid, "e-mail '%s'", emails[i].s);
	{
		char long_email[TB_EMAIL_MAX + 2];

		memset(long_email, 'a', sizeof(long_email));
		memcpy(long_email + sizeof(long_email) - 13, "@example.net", 13);
		ok(!tb_valid_email(long_email), "an address over %d bytes", TB_EMAIL_MAX);
	}
	ok(tb_valid_project_id("example-project") && tb_valid_project_id("example.com:proj-1") &&
	        !tb_valid_project_id("") && !tb_valid_project_id("Example") &&
	        !tb_valid_project_id("a b") && !tb_valid_project_id("p/q"),
	    "project ids: lower-case letters, digits, '-', ':' and '.' only");
	for (i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++)
		is_int(tb_valid_scope(scopes[i].s), scopes[i].valid, "scope '%s'", scopes[i].s);
	{
		static char big[TB_SCOPE_MAX + 2];

		memset(big, 'a', TB_SCOPE_MAX);
		ok(tb_valid_scope(big), "a scope of %d bytes", TB_SCOPE_MAX);
		big[TB_SCOPE_MAX] = 'a';
		ok(!tb_valid_scope(big), "one byte more");
	}
	for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		long v = -1;
		int r = tb_valid_decimal(numbers[i].s, numbers[i].min, numbers[i].max, &v);

		is_int(r, numbers[i].r, "decimal '%s' in [%ld, %ld]", numbers[i].s, numbers[i].min,
		    numbers[i].max);
		if (r == 0)
			is_int(v, numbers[i].want, "is %ld", numbers[i].want);
	}
	ok(!tb_valid_timeout(0) && tb_valid_timeout(TB_TIMEOUT_MIN) &&
	        tb_valid_timeout(TB_TIMEOUT_MAX) && !tb_valid_timeout(TB_TIMEOUT_MAX + 1),
	    "timeouts from %d to %d s", TB_TIMEOUT_MIN, TB_TIMEOUT_MAX);
	return done_testing();
}
