/*
 * test_crl.c: the CRL index and its rules (src/crl.c) with an injected clock: currency before,
 * at and after nextUpdate, serial forms, the newest CRL of an issuer, the load balancer's
 * serial-only lookup, and every refusal. The CRLs are tests/pki/mkpki.py's (see its docstring),
 * made into $TB_BUILDDIR/tests/pki-out by running it first.
 */
#include <errno.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "b64.h"
#include "crl.h"
#include "crypto.h"
#include "err.h"
#include "pki.h"
#include "tap.h"

#define PATH_BYTES 4096
#define DATA_MAX (64 * 1024) /* the test PKI's CRL files are a few hundred bytes */

/* mkpki.py's fixed dates (REVOKED_AT, OLD_NEXT_UPDATE) as epoch seconds */
#define REVOKED_AT 1714979289      /* 2024-05-06T07:08:09Z */
#define OLD_NEXT_UPDATE 1580515200 /* 2020-02-01T00:00:00Z */
#define FAR_FUTURE 32503680000LL   /* 3000-01-01: no CRL made today is current then */

#define CA_NAME "CN=token-broker test CA,O=token-broker tests"
#define UNT_NAME "CN=token-broker untrusted CA,O=token-broker tests"
#define CLIENT_SERIAL "00:c9:77:71:db:a8:b7:70:e1:b6:a7:3f:4c:91:80:42:72:77:b5:fd"

static char pki[PATH_BYTES / 2];        /* room for a name after it in in_pki */
static struct tb_cas *ca_only, *both;   /* ca.pem; cas.pem (ca.pem and untrusted-ca.pem) */
static unsigned char *ca_der, *unt_der; /* the issuer names of client.pem and untrusted.pem */
static size_t ca_der_len, unt_der_len;
static time_t now;

/* Runs mkpki.py (idempotent, locked) so that the PKI exists: 0, or -1. */
static int
make_pki(void)
{
	return test_make_pki(pki, sizeof(pki));
}

static const char *
in_pki(const char *name)
{
	static char bufs[8][PATH_BYTES];
	static int next;
	char *p = bufs[next++ % 8];

	snprintf(p, PATH_BYTES, "%s/%s", pki, name);
	return p;
}

/* The DER issuer name of a certificate of the PKI (the caller frees it with OPENSSL_free). */
static unsigned char *
issuer_der(const char *cert, size_t *len)
{
	FILE *f = fopen(in_pki(cert), "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	unsigned char *der = NULL;
	int n = x ? i2d_X509_NAME(X509_get_issuer_name(x), &der) : -1;

	if (f != NULL)
		fclose(f);
	X509_free(x);
	*len = n > 0 ? (size_t)n : 0;
	return n > 0 ? der : NULL;
}

/* Loads the CRLs named (relative to the PKI, NULL-terminated) against cas. */
static int
load_list(const struct tb_cas *cas, const char *const *names, struct tb_crlset **set, char *why)
{
	char *paths[8] = {NULL};
	size_t n;
	int r;

	for (n = 0; n < 8 && names[n] != NULL; n++)
		paths[n] = strdup(in_pki(names[n]));
	why[0] = '\0';
	r = tb_crlset_load(cas, paths, n, set, why, TB_CRL_WHY_MAX);
	while (n-- > 0)
		free(paths[n]);
	return r;
}

/* tb_crlset_check on client.pem's issuer; the status, with *res filled. */
static enum tb_revocation
check(const struct tb_crlset *set, const char *serial, time_t at, struct tb_rev_result *res)
{
	int r = tb_crlset_check(set, ca_der, ca_der_len, serial, at, res);

	return r == 0 ? res->status : (enum tb_revocation) - 1;
}

static void
test_currency(void)
{
	const char *expired[] = {"crl/ca-expired.pem", NULL};
	const char *nonext[] = {"crl/ca-no-next-update.pem", NULL};
	const char *current[] = {"crl/ca-empty.pem", NULL};
	struct tb_crlset *set = NULL;
	struct tb_rev_result res;
	char why[TB_CRL_WHY_MAX];

	ok(load_list(ca_only, expired, &set, why) == 0, "an out-of-date CRL loads (%s)", why);
	is_int(check(set, CLIENT_SERIAL, OLD_NEXT_UPDATE - 1, &res), TB_REV_GOOD,
	    "a second before nextUpdate: current, the serial is good");
	ok(tb_crlset_current(set, OLD_NEXT_UPDATE - 1), "tb_crlset_current a second before");
	is_int(check(set, CLIENT_SERIAL, OLD_NEXT_UPDATE, &res), TB_REV_STALE,
	    "at nextUpdate: out of date");
	is_int(res.since, OLD_NEXT_UPDATE, "since = nextUpdate");
	is_str(res.issuer, CA_NAME, "the issuer is named");
	ok(!tb_crlset_current(set, OLD_NEXT_UPDATE), "tb_crlset_current at nextUpdate: 0");
	is_int(check(set, CLIENT_SERIAL, now, &res), TB_REV_STALE, "today: out of date");
	is_int(res.since, OLD_NEXT_UPDATE, "since is still nextUpdate");
	tb_crlset_free(set);

	ok(load_list(ca_only, nonext, &set, why) == 0, "a CRL without nextUpdate loads (%s)", why);
	is_int(check(set, CLIENT_SERIAL, (time_t)FAR_FUTURE, &res), TB_REV_GOOD,
	    "a CRL without nextUpdate is current in the year 3000");
	ok(tb_crlset_current(set, (time_t)FAR_FUTURE), "tb_crlset_current agrees");
	tb_crlset_free(set);

	ok(load_list(ca_only, current, &set, why) == 0, "a current CRL loads");
	ok(tb_crlset_current(set, now), "current now");
	ok(!tb_crlset_current(set, (time_t)FAR_FUTURE), "not current in the year 3000");
	is_int(check(set, CLIENT_SERIAL, (time_t)FAR_FUTURE, &res), TB_REV_STALE,
	    "the check in the year 3000: out of date");
	tb_crlset_free(set);

	ok(load_list(ca_only, (const char *[]){NULL}, &set, why) == 0 && set != NULL,
	    "no paths: an empty set");
	ok(set != NULL && !tb_crlset_current(set, now), "an empty set is not current");
	tb_crlset_free(set);
}

static void
test_serials(void)
{
	static const struct {
		const char *serial;
		enum tb_revocation want;
		const char *reason;
	} cases[] = {
	    {CLIENT_SERIAL, TB_REV_REVOKED, "keyCompromise"},
	    {"c9:77:71:db:a8:b7:70:e1:b6:a7:3f:4c:91:80:42:72:77:b5:fd", TB_REV_REVOKED,
	        "keyCompromise"},
	    {"00C97771DBA8B770E1B6A73F4C9180427277B5FD", TB_REV_REVOKED, "keyCompromise"},
	    {"C97771dba8b770e1b6a73f4c9180427277b5fd", TB_REV_REVOKED, "keyCompromise"},
	    {"00:00:C9:77:71:DB:A8:B7:70:E1:B6:A7:3F:4C:91:80:42:72:77:B5:FD", TB_REV_REVOKED,
	        "keyCompromise"},
	    {"12:34", TB_REV_REVOKED, "none given"},
	    {"00:12:34", TB_REV_REVOKED, "none given"},
	    {"ab:cd:ef:01:23:45:67:89", TB_REV_REVOKED, "superseded"},
	    {"c9:77:71:db", TB_REV_GOOD, NULL}, /* a prefix is not the serial */
	    {"12:35", TB_REV_GOOD, NULL},
	    {"34:12", TB_REV_GOOD, NULL},
	};
	const char *files[] = {"crl/ca-client.pem", NULL};
	static const char *const bad[] = {"", "abc", "zz", "12:3", ":",
	    "010203040506070809101112131415161718192021222324252627282930313233"};
	struct tb_crlset *set = NULL;
	struct tb_rev_result res;
	char why[TB_CRL_WHY_MAX];
	size_t i, entries;

	ok(load_list(ca_only, files, &set, why) == 0, "ca-client.pem loads (%s)", why);
	is_int(tb_crlset_count(set, &entries), 1, "one CRL in force");
	is_int(entries, 3, "three revoked serials");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		is_int(check(set, cases[i].serial, now, &res), cases[i].want, "serial '%s'",
		    cases[i].serial);
		if (cases[i].want == TB_REV_REVOKED) {
			is_str(res.reason, cases[i].reason, "its reason");
			is_int(res.revoked_at, REVOKED_AT, "its revocation time");
			is_str(res.issuer, CA_NAME, "the CRL that decided");
		}
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(tb_crlset_check(set, ca_der, ca_der_len, bad[i], now, &res), TB_ERR_INVALID,
		    "serial '%.20s' is refused as unreadable", bad[i]);
	is_int(tb_crlset_check_serial(set, "zz", now, &res), TB_ERR_INVALID,
	    "serial-only: an unreadable serial is refused too");
	tb_crlset_free(set);
}

/* The certificate's issuer compared as a name: another encoding of the same name decides too. */
static void
test_issuers(void)
{
	const char *files[] = {"crl/ca-client.pem", NULL};
	struct tb_crlset *set = NULL;
	struct tb_rev_result res;
	char why[TB_CRL_WHY_MAX];
	X509_NAME *n = X509_NAME_new();
	unsigned char *der = NULL;
	int len;

	X509_NAME_add_entry_by_txt(
	    n, "O", MBSTRING_ASC, (const unsigned char *)"token-broker tests", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", V_ASN1_PRINTABLESTRING,
	    (const unsigned char *)"Token-Broker  TEST CA", -1, -1, 0);
	len = i2d_X509_NAME(n, &der);
	ok(load_list(ca_only, files, &set, why) == 0, "ca-client.pem loads");
	ok(len > 0 && tb_crlset_check(set, der, (size_t)len, CLIENT_SERIAL, now, &res) == 0 &&
	        res.status == TB_REV_REVOKED,
	    "an issuer name in another case, spacing and string type is the same CA");
	ok(tb_crlset_check(set, unt_der, unt_der_len, CLIENT_SERIAL, now, &res) == 0 &&
	        res.status == TB_REV_NO_CRL,
	    "a certificate of another CA: no CRL of its issuer (though its serial is listed)");
	is_str(res.issuer, UNT_NAME, "the issuer without a CRL is named");
	ok(tb_crlset_check(set, (const unsigned char *)"\x30\x03junk", 5, CLIENT_SERIAL, now,
	       &res) == TB_ERR_INVALID,
	    "an issuer that is not a DER name is refused");
	OPENSSL_free(der);
	X509_NAME_free(n);
	tb_crlset_free(set);
}

/* The load balancer passes no issuer: the serial is looked up in every CRL in force. */
static void
test_serial_only(void)
{
	const char *two[] = {"crl/untrusted-client.pem", "crl/ca-empty.pem", NULL};
	const char *stale[] = {"crl/ca-expired.pem", "crl/untrusted-client.pem", NULL};
	const char *stale_only[] = {"crl/ca-expired.pem", NULL};
	struct tb_crlset *set = NULL;
	struct tb_rev_result res;
	char why[TB_CRL_WHY_MAX];

	ok(load_list(both, two, &set, why) == 0, "two CAs' CRLs load (%s)", why);
	ok(tb_crlset_check(set, ca_der, ca_der_len, CLIENT_SERIAL, now, &res) == 0 &&
	        res.status == TB_REV_GOOD,
	    "with its issuer: client.pem is good (another CA's CRL lists its serial)");
	ok(tb_crlset_check_serial(set, CLIENT_SERIAL, now, &res) == 0 &&
	        res.status == TB_REV_REVOKED,
	    "serial only: listed in any CRL is revoked");
	is_str(res.issuer, UNT_NAME, "by the CRL that lists it");
	is_int(res.revoked_at, REVOKED_AT, "its revocation time");
	ok(tb_crlset_check_serial(set, "12:34:56", now, &res) == 0 && res.status == TB_REV_GOOD,
	    "serial only: listed nowhere is good");
	tb_crlset_free(set);

	ok(load_list(both, stale, &set, why) == 0, "an out-of-date CRL beside a current one");
	ok(tb_crlset_check_serial(set, "12:34:56", now, &res) == 0 && res.status == TB_REV_STALE &&
	        res.since == OLD_NEXT_UPDATE,
	    "serial only: one CRL out of date makes the answer out of date");
	ok(tb_crlset_check_serial(set, CLIENT_SERIAL, now, &res) == 0 &&
	        res.status == TB_REV_REVOKED,
	    "serial only: revoked wins over out of date");
	tb_crlset_free(set);

	ok(load_list(ca_only, stale_only, &set, why) == 0, "ca-expired.pem alone");
	ok(tb_crlset_check_serial(set, "12:34:56", OLD_NEXT_UPDATE - 1, &res) == 0 &&
	        res.status == TB_REV_GOOD,
	    "serial only, before nextUpdate: good");
	ok(tb_crlset_check_serial(set, "12:34:56", OLD_NEXT_UPDATE, &res) == 0 &&
	        res.status == TB_REV_STALE,
	    "serial only, at nextUpdate: out of date");
	tb_crlset_free(set);

	ok(load_list(ca_only, (const char *[]){NULL}, &set, why) == 0, "an empty set");
	ok(tb_crlset_check_serial(set, CLIENT_SERIAL, now, &res) == 0 &&
	        res.status == TB_REV_NO_CRL,
	    "serial only, no CRL loaded: no CRL");
	tb_crlset_free(set);
}

/* Of several CRLs of one issuer the newest (thisUpdate, then CRL number) is kept. */
static void
test_newest(void)
{
	static const struct {
		const char *a, *b;
		size_t entries;
		const char *what;
	} cases[] = {
	    {"crl/newest-b-new-empty.pem", "crl/newest-a-old-revokes.pem", 0,
	        "later thisUpdate wins over a higher number (newer first)"},
	    {"crl/newest-a-old-revokes.pem", "crl/newest-b-new-empty.pem", 0,
	        "later thisUpdate wins over a higher number (newer last)"},
	    {"crl/newest-b-new-empty.pem", "crl/newest-c-new-revokes.pem", 1,
	        "same thisUpdate: the higher number wins (newer last)"},
	    {"crl/newest-c-new-revokes.pem", "crl/newest-b-new-empty.pem", 1,
	        "same thisUpdate: the higher number wins (newer first)"},
	};
	struct tb_crlset *set = NULL, *a = NULL, *b = NULL, *c = NULL, *u = NULL;
	struct tb_rev_result res;
	char why[TB_CRL_WHY_MAX];
	size_t i, entries = 99;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *files[] = {cases[i].a, cases[i].b, NULL};

		ok(load_list(ca_only, files, &set, why) == 0 &&
		        tb_crlset_count(set, &entries) == 1 && entries == cases[i].entries,
		    "%s", cases[i].what);
		is_int(check(set, CLIENT_SERIAL, now, &res),
		    cases[i].entries ? TB_REV_REVOKED : TB_REV_GOOD, "and decides client.pem");
		tb_crlset_free(set);
		set = NULL;
	}
	ok(load_list(both, (const char *[]){"crl/multi.pem", NULL}, &set, why) == 0 &&
	        tb_crlset_count(set, &entries) == 2 && entries == 0,
	    "multi.pem (a, b and untrusted-ca's): two CRLs in force, b for the CA");
	tb_crlset_free(set);

	load_list(ca_only, (const char *[]){"crl/newest-a-old-revokes.pem", NULL}, &a, why);
	load_list(ca_only, (const char *[]){"crl/newest-b-new-empty.pem", NULL}, &b, why);
	load_list(ca_only, (const char *[]){"crl/newest-c-new-revokes.pem", NULL}, &c, why);
	load_list(both, (const char *[]){"crl/untrusted-empty.pem", NULL}, &u, why);
	ok(a && b && c && u, "a, b, c and untrusted-empty load");
	if (a && b && c && u) {
		ok(tb_crlset_newer(b, a) && !tb_crlset_newer(a, b), "newer: b over a (thisUpdate)");
		ok(tb_crlset_newer(c, b) && !tb_crlset_newer(b, c), "newer: c over b (number)");
		ok(!tb_crlset_newer(b, b), "newer: not over itself");
		ok(tb_crlset_newer(u, b), "newer: a CRL of an issuer the other set lacks");
	}
	tb_crlset_free(a);
	tb_crlset_free(b);
	tb_crlset_free(c);
	tb_crlset_free(u);
}

/* One refusal: the set does not load, nothing is handed out, and why says what. */
static void
refused(const struct tb_cas *cas, const char *const *files, const char *want, const char *what)
{
	static char sentinel;
	struct tb_crlset *set = (struct tb_crlset *)(void *)&sentinel; /* the call must clear it */
	char why[TB_CRL_WHY_MAX];
	int r = load_list(cas, files, &set, why);

	ok(r != 0 && set == NULL, "refused: %s (%s)", what, tb_err_str(r));
	ok(strstr(why, want) != NULL, "  and says '%s'", want);
	if (strstr(why, want) == NULL)
		printf("#   why: %s\n", why);
}

static void
test_refusals(void)
{
	refused(ca_only, (const char *[]){"crl/ca-badsig.pem", NULL},
	    "crl/ca-badsig.pem: the CRL of '" CA_NAME "' is not signed by the key of its issuer",
	    "bad signature");
	refused(ca_only, (const char *[]){"crl/untrusted-empty.pem", NULL},
	    "crl/untrusted-empty.pem: the CRL of '" UNT_NAME "' is issued by a CA that is not in "
	    "CLIENT_CA_FILE (unknown issuer)",
	    "unknown issuer");
	refused(ca_only, (const char *[]){"crl/ca-delta.pem", NULL},
	    "crl/ca-delta.pem: the CRL of '" CA_NAME "' is a delta CRL", "delta CRL");
	refused(ca_only, (const char *[]){"crl/ca-indirect.pem", NULL},
	    "crl/ca-indirect.pem: the CRL of '" CA_NAME "' is an indirect CRL", "indirect CRL");
	refused(ca_only, (const char *[]){"crl/garbage.pem", NULL},
	    "crl/garbage.pem: ", "an unparsable PEM CRL");
	refused(ca_only, (const char *[]){"crl/ca-empty-0664.pem", NULL},
	    "crl/ca-empty-0664.pem: writable by group", "a CRL file writable by its group");
	refused(ca_only, (const char *[]){"crl/no-such.pem", NULL}, "crl/no-such.pem",
	    "a missing file");
	refused(ca_only, (const char *[]){"crl/ca-empty.pem", "crl/ca-badsig.pem", NULL},
	    "ca-badsig.pem", "all or nothing: a good CRL, then a bad one");
	refused(ca_only, (const char *[]){"crl-dir", NULL}, "20-untrusted.der",
	    "a directory whose DER file is of a CA not in CLIENT_CA_FILE (so it was read)");
	refused(ca_only, (const char *[]){"crl/multi.pem", NULL}, UNT_NAME,
	    "a PEM file whose third CRL is of an unknown CA");
}

/* A CRL file that tb_crlset_parse reads from memory (data, len); NULL-terminated copy. */
static char *
slurp(const char *name, size_t *len)
{
	FILE *f = fopen(in_pki(name), "rb");
	char *data = calloc(1, DATA_MAX + 1);

	*len = f && data ? fread(data, 1, DATA_MAX, f) : 0;
	if (f != NULL)
		fclose(f);
	return data;
}

static int
parse(const struct tb_cas *cas, const char *data, size_t len, struct tb_crlset **set, char *why)
{
	why[0] = '\0';
	return tb_crlset_parse(cas, data, len, "test-data", set, why, TB_CRL_WHY_MAX);
}

static void
test_formats(void)
{
	struct tb_crlset *set = NULL;
	struct tb_rev_result res;
	char why[TB_CRL_WHY_MAX], *der, *pem, *buf;
	size_t der_len, pem_len, entries;

	der = slurp("crl/ca-client.der", &der_len);
	pem = slurp("crl/ca-client.pem", &pem_len);
	buf = calloc(1, 2 * DATA_MAX + 256);
	ok(der_len > 0 && pem_len > 0 && buf != NULL, "the DER and PEM files are read");
	ok(parse(ca_only, der, der_len, &set, why) == 0 &&
	        check(set, CLIENT_SERIAL, now, &res) == TB_REV_REVOKED,
	    "DER: parsed, client.pem revoked (%s)", why);
	tb_crlset_free(set);
	set = NULL;
	ok(parse(ca_only, pem, pem_len, &set, why) == 0 &&
	        check(set, CLIENT_SERIAL, now, &res) == TB_REV_REVOKED,
	    "PEM: the same (%s)", why);
	tb_crlset_free(set);
	set = NULL;

	memcpy(buf, der, der_len);
	memcpy(buf + der_len, "\x05\x00", 2);
	ok(parse(ca_only, buf, der_len + 2, &set, why) != 0 && set == NULL &&
	        strstr(why, "trailing data") != NULL,
	    "DER with trailing bytes: refused (%s)", why);
	ok(parse(ca_only, der, der_len - 1, &set, why) != 0 && set == NULL &&
	        strstr(why, "test-data: not a CRL") != NULL,
	    "DER cut short: refused, named (%s)", why);
	ok(parse(ca_only, "", 0, &set, why) != 0 && set == NULL, "an empty file: refused (%s)",
	    why);

	/* two PEM CRLs of two CAs in one text; then a good one followed by a broken block */
	snprintf(buf, 2 * DATA_MAX + 256, "%s", pem);
	free(der);
	der = slurp("crl/untrusted-empty.pem", &der_len);
	memcpy(buf + pem_len, der, der_len + 1);
	ok(parse(both, buf, pem_len + der_len, &set, why) == 0 &&
	        tb_crlset_count(set, &entries) == 2 && entries == 3,
	    "multi-PEM text: both CRLs (%s)", why);
	tb_crlset_free(set);
	set = NULL;
	snprintf(buf + pem_len, 2 * DATA_MAX,
	    "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n");
	ok(parse(ca_only, buf, strlen(buf), &set, why) != 0 && set == NULL &&
	        strstr(why, "a PEM CRL cannot be parsed") != NULL,
	    "a good PEM CRL followed by a broken block: refused (%s)", why);
	free(der);
	der = slurp("ca.pem", &der_len);
	ok(parse(ca_only, der, der_len, &set, why) != 0 && set == NULL &&
	        strstr(why, "holds no PEM CRL") != NULL,
	    "a PEM certificate, no CRL: refused (%s)", why);
	free(der);
	free(pem);
	free(buf);
}

/* A directory: every regular file but dot files, sub-directories skipped. */
static void
test_directory(void)
{
	struct tb_crlset *set = NULL;
	struct tb_rev_result res;
	char why[TB_CRL_WHY_MAX];
	size_t entries;

	ok(load_list(both, (const char *[]){"crl-dir", NULL}, &set, why) == 0,
	    "crl-dir loads: its dot file and sub-directory (garbage both) are skipped (%s)", why);
	is_int(set ? tb_crlset_count(set, &entries) : 0, 2, "10-ca.pem and 20-untrusted.der");
	is_int(set ? entries : 0, 3, "three revoked serials");
	ok(set && check(set, CLIENT_SERIAL, now, &res) == TB_REV_REVOKED, "client.pem revoked");
	tb_crlset_free(set);
}

struct lines {
	char text[4][TB_CRL_WHY_MAX];
	int n;
};

static void
collect(void *arg, const char *line)
{
	struct lines *l = arg;

	if (l->n < 4)
		snprintf(l->text[l->n], sizeof(l->text[0]), "%s", line);
	l->n++;
}

static void
test_describe(void)
{
	struct tb_crlset *set = NULL;
	struct lines l = {.n = 0};
	char why[TB_CRL_WHY_MAX];

	ok(load_list(both, (const char *[]){"crl/ca-expired.pem", NULL}, &set, why) == 0,
	    "ca-expired.pem against both CAs");
	tb_crlset_describe(set, both, collect, &l);
	is_int(l.n, 2, "two lines: the CRL, and the CA without one");
	ok(strncmp(l.text[0],
	       "CRL of '" CA_NAME
	       "': thisUpdate 2020-01-01T00:00:00Z, nextUpdate 2020-02-01T00:00:00Z, "
	       "0 entries (",
	       strlen("CRL of '" CA_NAME "': thisUpdate 2020-01-01T00:00:00Z, nextUpdate "
	              "2020-02-01T00:00:00Z, 0 entries (")) == 0,
	    "the CRL's line: %s", l.text[0]);
	is_str(l.text[1], "no CRL for the CA '" UNT_NAME "'", "the CA without a CRL");
	tb_crlset_free(set);
}

static X509 *
read_cert(const char *name)
{
	FILE *f = fopen(in_pki(name), "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f != NULL)
		fclose(f);
	return x;
}

/* The SHA-256 of x's DER in unpadded base64, as the identity's sha256 (into out). */
static void
digest_of(X509 *x, char out[64])
{
	unsigned char *der = NULL, h[TB_SHA256_LEN];
	int n = i2d_X509(x, &der);
	char *b = NULL;

	out[0] = '\0';
	if (n > 0 && tb_sha256(der, (size_t)n, h) == 0 &&
	    tb_b64_encode(h, sizeof(h), TB_B64_NOPAD, &b) == 0)
		snprintf(out, 64, "%s", b);
	free(b);
	OPENSSL_free(der);
}

/* tb_cas_signed remembers its answer per certificate, per CA set, and never mixes them up. */
static void
test_signed_memo(void)
{
	struct tb_cas *fleet = NULL;
	X509 *good = read_cert("client-ca2.pem"), *forged = read_cert("client-impostor.pem");
	char why[TB_CRL_WHY_MAX] = "", dg[64], df[64];
	int i, g[3], f[3];

	ok(tb_cas_load(in_pki("cas-fleet.pem"), &fleet, why, sizeof(why)) == 0 && good && forged,
	    "cas-fleet.pem, client-ca2.pem and client-impostor.pem (%s)", why);
	if (fleet == NULL || good == NULL || forged == NULL)
		goto out;
	digest_of(good, dg);
	digest_of(forged, df);
	for (i = 0; i < 3; i++) {
		g[i] = tb_cas_signed(fleet, X509_get_issuer_name(good), good, i < 2 ? dg : NULL);
		f[i] =
		    tb_cas_signed(fleet, X509_get_issuer_name(forged), forged, i < 2 ? df : NULL);
	}
	ok(g[0] == 1 && g[1] == 1 && g[2] == 1,
	    "CA 2 signed client-ca2.pem: checked, remembered, "
	    "and without the memo (%d %d %d)",
	    g[0], g[1], g[2]);
	ok(f[0] == 0 && f[1] == 0 && f[2] == 0,
	    "the impostor's certificate naming CA 2: refused each time (%d %d %d)", f[0], f[1],
	    f[2]);
	ok(tb_cas_signed(ca_only, X509_get_issuer_name(good), good, dg) == 0,
	    "another CA set does not share the memo: ca.pem alone did not sign it");
	ok(tb_cas_signed(fleet, X509_get_issuer_name(good), good, dg) == 1,
	    "and the fleet's answer stays 1");
	for (i = 0; i < 3000; i++) { /* fills and empties the memo; the answers stay right */
		char k[64];

		snprintf(k, sizeof(k), "%043d", i);
		tb_cas_signed(fleet, X509_get_issuer_name(forged), forged, k);
	}
	ok(tb_cas_signed(fleet, X509_get_issuer_name(good), good, dg) == 1 &&
	        tb_cas_signed(fleet, X509_get_issuer_name(forged), forged, df) == 0,
	    "after 3000 other entries (the memo emptied twice) the answers are the same");
out:
	X509_free(good);
	X509_free(forged);
	tb_cas_free(fleet);
}

int
main(void)
{
	char why[TB_CRL_WHY_MAX] = "";

	if (make_pki() != 0) {
		const char *ci = getenv("CI");

		if (ci != NULL && strcmp(ci, "true") == 0) {
			printf(
			    "not ok 1 - mkpki.py failed (python3-cryptography missing?)\n1..1\n");
			return 1;
		}
		printf("1..0 # SKIP mkpki.py failed (python3-cryptography missing?)\n");
		return 0;
	}
	now = time(NULL);
	ok(tb_cas_load(in_pki("ca.pem"), &ca_only, why, sizeof(why)) == 0, "ca.pem loads (%s)",
	    why);
	ok(tb_cas_load(in_pki("cas.pem"), &both, why, sizeof(why)) == 0, "cas.pem loads (%s)", why);
	ca_der = issuer_der("client.pem", &ca_der_len);
	unt_der = issuer_der("untrusted.pem", &unt_der_len);
	ok(ca_der != NULL && unt_der != NULL, "issuer names of client.pem and untrusted.pem");
	if (ca_only == NULL || both == NULL || ca_der == NULL || unt_der == NULL)
		return done_testing();
	test_currency();
	test_serials();
	test_issuers();
	test_serial_only();
	test_newest();
	test_refusals();
	test_formats();
	test_directory();
	test_describe();
	test_signed_memo();
	OPENSSL_free(ca_der);
	OPENSSL_free(unt_der);
	tb_cas_free(ca_only);
	tb_cas_free(both);
	return done_testing();
}
