/* test_fetch.c: the file names --fetch-crls keeps each CRL_URLS URL under (fetch.h). */
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "fetch.h"
#include "tap.h"

/* Expected hashes: printf %s URL | sha256sum (computed outside the program). */
static const struct {
	const char *url, *name;
} one[] = {
    {"http://crl.example.net/ca.crl", "ca.crl"},
    {"https://pki.example.net/crl/Device_CA-2.der", "Device_CA-2.der"},
    {"http://127.0.0.1:8080/a/b/c.pem", "c.pem"},
    /* a lone "/": no segment */
    {"http://crl.example.net/",
        "d79fa00d1cd2c1083f82fa417873eb784c2b9f98006802cbc5ae2a8b1a9bcf7a.crl"},
    /* no path at all */
    {"http://crl.example.net",
        "a6547a45cbf228dea0f75cc397f1e583053bc9f5231565ac3b6df21c4dc88b8c.crl"},
    /* a dot file would be skipped by the broker (and .. is a directory) */
    {"http://crl.example.net/.hidden", "HASH"},
    {"http://crl.example.net/crl/..", "HASH"},
    /* percent-encoding, '+', '~' and such are not file-name safe as they are */
    {"http://crl.example.net/ca%2Fx.crl", "HASH"},
    {"http://crl.example.net/ca+1.crl", "HASH"},
    {"http://crl.example.net/ca~1.crl", "HASH"},
    /* a directory-style URL ends in an empty segment */
    {"http://crl.example.net/crl/", "HASH"},
};

/* Is name 64 lower-case hex digits and ".crl"? */
static int
is_hash_name(const char *name)
{
	size_t i;

	if (strlen(name) != 68 || strcmp(name + 64, ".crl") != 0)
		return 0;
	for (i = 0; i < 64; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return 1;
}

static void
test_single(void)
{
	char names[1][TB_FETCH_NAME_MAX];
	size_t i;

	for (i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
		char *urls[1] = {(char *)one[i].url};

		is_int(tb_fetch_names(urls, 1, names), 0, "%s: valid", one[i].url);
		if (strcmp(one[i].name, "HASH") == 0 || strlen(one[i].name) == 68)
			ok(is_hash_name(names[0]), "%s: a hash name (%s)", one[i].url, names[0]);
		if (strcmp(one[i].name, "HASH") != 0)
			is_str(names[0], one[i].name, "%s: name", one[i].url);
	}
}

/* A URL whose last segment is len bytes of 'a', into url. */
static void
long_url(char *url, size_t size, size_t len)
{
	int n = snprintf(url, size, "http://crl.example.net/");

	memset(url + n, 'a', len);
	url[(size_t)n + len] = '\0';
}

static void
test_lengths(void)
{
	char url[256], names[1][TB_FETCH_NAME_MAX];
	char *urls[1] = {url};

	/* TB_FETCH_SEGMENT_MAX bytes is kept as it is, one more is not */
	long_url(url, sizeof(url), TB_FETCH_SEGMENT_MAX);
	is_int(tb_fetch_names(urls, 1, names), 0, "a segment of %d bytes", TB_FETCH_SEGMENT_MAX);
	is_int(strlen(names[0]), TB_FETCH_SEGMENT_MAX, "kept as the name");
	long_url(url, sizeof(url), TB_FETCH_SEGMENT_MAX + 1);
	is_int(
	    tb_fetch_names(urls, 1, names), 0, "a segment of %d bytes", TB_FETCH_SEGMENT_MAX + 1);
	ok(is_hash_name(names[0]), "hashed");
}

static void
test_clash(void)
{
	char *urls[] = {"http://a.example.net/crl.pem", "http://b.example.net/pki/crl.pem",
	    "http://c.example.net/other.crl", "http://a.example.net/crl.pem"};
	char names[4][TB_FETCH_NAME_MAX], again[4][TB_FETCH_NAME_MAX];
	char *swapped[] = {urls[1], urls[0]};

	is_int(tb_fetch_names(urls, 4, names), 0, "four URLs");
	ok(is_hash_name(names[0]) && is_hash_name(names[1]), "two URLs ending in crl.pem: hashed");
	ok(strcmp(names[0], names[1]) != 0, "and different");
	is_str(names[2], "other.crl", "the third keeps its segment");
	is_str(names[3], names[0], "the same URL twice: the same name");
	is_int(tb_fetch_names(swapped, 2, again), 0, "the clash in the other order");
	ok(strcmp(again[0], names[1]) == 0 && strcmp(again[1], names[0]) == 0,
	    "a URL's name does not depend on the order");
	is_int(tb_fetch_names(urls, 4, again), 0, "again");
	ok(strcmp(names[0], again[0]) == 0 && strcmp(names[1], again[1]) == 0 &&
	        strcmp(names[2], again[2]) == 0 && strcmp(names[3], again[3]) == 0,
	    "stable from run to run");
}

static void
test_invalid(void)
{
	char *urls[] = {"ftp://crl.example.net/ca.crl", "http://crl.example.net/ca.crl"};
	char names[2][TB_FETCH_NAME_MAX];

	is_int(tb_fetch_names(urls, 2, names), TB_ERR_INVALID, "an ftp URL is refused");
	is_str(names[0], "", "with no name");
	is_str(names[1], "ca.crl", "the other still named");
}

int
main(void)
{
	test_single();
	test_lengths();
	test_clash();
	test_invalid();
	return done_testing();
}
