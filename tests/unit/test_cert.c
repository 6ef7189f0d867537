/* test_cert.c: unit tests of cert.c: PEM forms, attributes, refusals, load-balancer headers. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "buf.h"
#include "cert.h"
#include "err.h"
#include "fixture.h"
#include "tap.h"

#define NOW ((time_t)1795392000)        /* 2026-11-23T00:00:00Z, the tests' fixed clock */
#define VALID_FROM ((time_t)1704067200) /* 2024-01-01T00:00:00Z, the fixtures' notBefore */
#define VALID_TO ((time_t)4859740800)   /* 2124-01-01T00:00:00Z, the fixtures' notAfter */
#define SEED_SERIAL "00:c9:77:71:db:a8:b7:70:e1:b6:a7:3f:4c:91:80:42:72:77:b5:fd"

/* The DER of a fixture certificate as OpenSSL's own PEM reader sees it: the reference. */
static int
reference_der(const char *pem, unsigned char **der, size_t *len)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x = bio == NULL ? NULL : PEM_read_bio_X509(bio, NULL, NULL, NULL);
	int n;

	*der = NULL;
	*len = 0;
	n = x == NULL ? -1 : i2d_X509(x, der);
	X509_free(x);
	BIO_free(bio);
	if (n <= 0)
		return -1;
	*len = (size_t)n;
	return 0;
}

/* ---- PEM forms ------------------------------------------------------------------------------ */

enum form {
	FORM_AS_IS,     /* real newlines (Apache, lighttpd) */
	FORM_CRLF,      /* CR LF line ends */
	FORM_SPACES,    /* newlines turned into spaces (a proxy header) */
	FORM_TABS,      /* newlines turned into tabs */
	FORM_NGINX_TAB, /* nginx $ssl_client_cert: a tab before every line but the first */
	FORM_PCT_ALL,   /* nginx $ssl_client_escaped_cert: all but unreserved characters escaped */
	FORM_PCT_SOME,  /* only spaces and newlines escaped; '+', '/' and '=' left as they are */
	FORM_PADDED,    /* whitespace before and after the block */
};

/* The fixture in another form, into b. */
static int
transform(const char *pem, enum form form, struct tb_buf *b)
{
	const char *p;
	int r = 0;

	for (p = pem; *p != '\0' && r == 0; p++) {
		unsigned char c = (unsigned char)*p;
		int last = p[1] == '\0';

		switch (form) {
		case FORM_CRLF:
			r = c == '\n' ? tb_buf_addstr(b, "\r\n") : tb_buf_add(b, p, 1);
			break;
		case FORM_SPACES:
			r = tb_buf_addstr(b, c == '\n' ? " " : (char[]){(char)c, 0});
			break;
		case FORM_TABS:
			r = tb_buf_addstr(b, c == '\n' ? "\t" : (char[]){(char)c, 0});
			break;
		case FORM_NGINX_TAB:
			r = tb_buf_add(b, p, 1);
			if (r == 0 && c == '\n' && !last)
				r = tb_buf_addstr(b, "\t");
			break;
		case FORM_PCT_ALL:
			if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~')
				r = tb_buf_add(b, p, 1);
			else
				r = tb_buf_addf(b, "%%%02X", c);
			break;
		case FORM_PCT_SOME:
			if (c == ' ' || c == '\n')
				r = tb_buf_addf(b, "%%%02x", c);
			else
				r = tb_buf_add(b, p, 1);
			break;
		default: r = tb_buf_add(b, p, 1); break;
		}
	}
	if (r == 0 && form == FORM_PADDED) {
		tb_buf_reset(b);
		r = tb_buf_addf(b, " \n\t\r\n%s\n\n \t", pem);
	}
	return r;
}

static void
test_pem_forms(void)
{
	static const struct {
		enum form form;
		const char *name;
	} forms[] = {
	    {FORM_AS_IS, "real newlines"},
	    {FORM_CRLF, "CRLF"},
	    {FORM_SPACES, "newlines as spaces"},
	    {FORM_TABS, "newlines as tabs"},
	    {FORM_NGINX_TAB, "nginx tab-continued"},
	    {FORM_PCT_ALL, "percent-encoded (nginx escaped)"},
	    {FORM_PCT_SOME, "percent-encoded, '+' left raw"},
	    {FORM_PADDED, "whitespace around the block"},
	};
	const char *files[] = {"dns.pem", "uri-https-first.pem", "rfc8705-appendix-a.pem"};
	unsigned char *ref = NULL, *der = NULL;
	size_t reflen = 0, len = 0, f, i;
	struct tb_buf b;
	char *pem;

	tb_buf_init(&b, 4 * FIXTURE_MAX);
	for (f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		if ((pem = fixture(files[f], NULL)) == NULL ||
		    reference_der(pem, &ref, &reflen) != 0) {
			ok(0, "%s: fixture readable", files[f]);
			free(pem);
			continue;
		}
		for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
			tb_buf_reset(&b);
			if (transform(pem, forms[i].form, &b) != 0) {
				ok(0, "%s: %s: transform", files[f], forms[i].name);
				continue;
			}
			is_int(tb_cert_pem_to_der(b.data, b.len, &der, &len), 0, "%s: %s: accepted",
			    files[f], forms[i].name);
			ok(der != NULL && len == reflen && memcmp(der, ref, len) == 0,
			    "%s: %s: same DER as OpenSSL's reader", files[f], forms[i].name);
			free(der);
			der = NULL;
		}
		OPENSSL_free(ref);
		ref = NULL;
		free(pem);
	}
	tb_buf_free(&b);
}

static void
test_pem_refused(void)
{
	static const struct {
		const char *name, *value;
		int want;
	} cases[] = {
	    {"empty", "", TB_ERR_INVALID},
	    {"whitespace only", " \n\t", TB_ERR_INVALID},
	    {"leading junk", "x-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
	        TB_ERR_INVALID},
	    {"leading junk line",
	        "junk\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
	        TB_ERR_INVALID},
	    {"trailing junk", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\nx",
	        TB_ERR_INVALID},
	    {"no END", "-----BEGIN CERTIFICATE-----\nMIIB\n", TB_ERR_INVALID},
	    {"truncated END", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFI",
	        TB_ERR_INVALID},
	    {"empty body", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----",
	        TB_ERR_INVALID},
	    {"second BEGIN inside",
	        "-----BEGIN CERTIFICATE-----\nMIIB\n-----BEGIN CERTIFICATE-----\nMIIB\n"
	        "-----END CERTIFICATE-----\n",
	        TB_ERR_INVALID},
	    {"other block type", "-----BEGIN X509 CRL-----\nMIIB\n-----END X509 CRL-----\n",
	        TB_ERR_INVALID},
	    {"PEM header line",
	        "-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\nMIIB\n-----END "
	        "CERTIFICATE-----",
	        TB_ERR_INVALID},
	    {"body not a multiple of 4",
	        "-----BEGIN CERTIFICATE-----\nMIIBA\n-----END CERTIFICATE-----", TB_ERR_INVALID},
	    {"unpadded body", "-----BEGIN CERTIFICATE-----\nMIIBAA\n-----END CERTIFICATE-----",
	        TB_ERR_INVALID},
	    {"non-canonical padding bits",
	        "-----BEGIN CERTIFICATE-----\nMIB=\n-----END CERTIFICATE-----", TB_ERR_INVALID},
	    {"base64url characters", "-----BEGIN CERTIFICATE-----\nMI-_\n-----END CERTIFICATE-----",
	        TB_ERR_INVALID},
	    {"bad percent escape",
	        "-----BEGIN%20CERTIFICATE-----%0AMIIB%G0-----END%20CERTIFICATE-----",
	        TB_ERR_INVALID},
	    {"percent escape cut short", "-----BEGIN%20CERTIFICATE-----%0AMIIB%0AEND%2",
	        TB_ERR_INVALID},
	    {"escaped NUL", "-----BEGIN CERTIFICATE-----\nMI%00IB\n-----END CERTIFICATE-----",
	        TB_ERR_INVALID},
	    {"vertical tab", "-----BEGIN CERTIFICATE-----\vMIIB\n-----END CERTIFICATE-----",
	        TB_ERR_INVALID},
	};
	unsigned char *der;
	size_t len, i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		der = (unsigned char *)"not touched";
		len = 1;
		is_int(tb_cert_pem_to_der(cases[i].value, strlen(cases[i].value), &der, &len),
		    cases[i].want, "pem_to_der refuses: %s", cases[i].name);
		ok(der == NULL && len == 0, "%s: no output", cases[i].name);
	}
	/* the same block with a NUL inside (the length is what counts, not the terminator) */
	{
		const char v[] = "-----BEGIN CERTIFICATE-----\nMI\0IB\n-----END CERTIFICATE-----";

		is_int(tb_cert_pem_to_der(v, sizeof(v) - 1, &der, &len), TB_ERR_INVALID,
		    "pem_to_der refuses a raw NUL");
	}
	is_int(tb_cert_pem_to_der(NULL, 0, &der, &len), TB_ERR_INVALID, "pem_to_der refuses NULL");
}

static void
test_pem_small(void)
{
	/* '+' is base64, never a space: in the raw form and in a percent-encoded one */
	static const char *plus[] = {
	    "-----BEGIN CERTIFICATE-----\n++++\n-----END CERTIFICATE-----\n",
	    "-----BEGIN%20CERTIFICATE-----%0A++++%0A-----END%20CERTIFICATE-----%0A",
	    "-----BEGIN%20CERTIFICATE-----%0A%2B%2b++%0A-----END%20CERTIFICATE-----%0A",
	};
	unsigned char *der;
	size_t len, i;
	char *big;

	for (i = 0; i < sizeof(plus) / sizeof(plus[0]); i++) {
		is_int(tb_cert_pem_to_der(plus[i], strlen(plus[i]), &der, &len), 0,
		    "'+' stays base64 (form %zu)", i);
		ok(der != NULL && len == 3 && der[0] == 0xfb && der[1] == 0xef && der[2] == 0xbe,
		    "'+' decodes as 62 (form %zu)", i);
		free(der);
	}
	/* over the cap: TB_ERR_LIMIT, before any work */
	if ((big = malloc(TB_CERT_PEM_MAX + 2)) != NULL) {
		memset(big, ' ', TB_CERT_PEM_MAX + 1);
		big[TB_CERT_PEM_MAX + 1] = '\0';
		is_int(tb_cert_pem_to_der(big, TB_CERT_PEM_MAX + 1, &der, &len), TB_ERR_LIMIT,
		    "a value over TB_CERT_PEM_MAX is refused");
		free(big);
	}
}

/* ---- identities from certificates ------------------------------------------------------------ */

/* Checks the digests and subject DER against OpenSSL's own view of the fixture. */
static void
check_digests(const char *file, const char *pem, const struct tb_identity *id)
{
	unsigned char *ref = NULL, *d256 = NULL, *durl = NULL, *name = NULL;
	unsigned char h256[32], h1[20];
	size_t reflen = 0, n256 = 0, nurl = 0;
	unsigned int hl = 0;
	char *hex = NULL;
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x = bio == NULL ? NULL : PEM_read_bio_X509(bio, NULL, NULL, NULL);
	int nl;

	if (x == NULL || reference_der(pem, &ref, &reflen) != 0) {
		ok(0, "%s: reference certificate", file);
		goto out;
	}
	EVP_Digest(ref, reflen, h256, &hl, EVP_sha256(), NULL);
	EVP_Digest(ref, reflen, h1, &hl, EVP_sha1(), NULL);
	tb_hex_encode(h1, sizeof(h1), 0, &hex);
	ok(tb_b64_decode(id->sha256, strlen(id->sha256), TB_B64_STD, &d256, &n256) == 0 &&
	        n256 == 32 && memcmp(d256, h256, 32) == 0 && strchr(id->sha256, '=') == NULL,
	    "%s: sha256 is unpadded standard base64 of SHA-256(DER)", file);
	ok(tb_b64_decode(id->x5t_s256, strlen(id->x5t_s256), TB_B64_URL, &durl, &nurl) == 0 &&
	        nurl == 32 && memcmp(durl, h256, 32) == 0 && strchr(id->x5t_s256, '=') == NULL,
	    "%s: x5t#S256 is unpadded base64url of SHA-256(DER)", file);
	is_str(id->sha1, hex, "%s: sha1 is lower-case hex", file);
	nl = i2d_X509_NAME(X509_get_subject_name(x), &name);
	ok(nl > 0 && id->subject_der != NULL && id->subject_der_len == (size_t)nl &&
	        memcmp(id->subject_der, name, (size_t)nl) == 0,
	    "%s: subject_der is the subject Name's DER", file);
out:
	OPENSSL_free(name);
	free(d256);
	free(durl);
	free(hex);
	OPENSSL_free(ref);
	X509_free(x);
	BIO_free(bio);
}

static void
test_identity(void)
{
	static const struct {
		const char *file, *dns, *uri, *spiffe, *serial, *subject;
	} cases[] = {
	    {"dns.pem", "client.example.net", "", "", SEED_SERIAL,
	        "CN=client.example.net,OU=Batch,O=Example\\, Inc.,C=US"},
	    {"uri-https-first.pem", "batch.example.net", "https://client.example.net/id",
	        "spiffe://example.org/ns/prod/sa/batch", "10:01", "CN=batch,O=Example"},
	    {"uri-spiffe-first.pem", "", "spiffe://example.org/workload",
	        "spiffe://example.org/workload", "10:02", "CN=workload"},
	    {"spiffe-upper.pem", "", "urn:example:first", "SPIFFE://example.org/upper", "10:03",
	        "CN=upper"},
	    {"nosan.pem", "", "", "", "0a:1b:2c", "CN=no-san"},
	    {"no-bc.pem", "", "", "", "10:06", "CN=no-basic-constraints"},
	};
	struct tb_identity *id;
	char why[TB_WHY_MAX];
	size_t i, len;
	char *pem;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if ((pem = fixture(cases[i].file, &len)) == NULL) {
			ok(0, "%s: fixture", cases[i].file);
			continue;
		}
		id = NULL;
		r = tb_cert_identity(pem, len, NOW, &id, why, sizeof(why));
		is_int(r, 0, "%s: accepted (%s)", cases[i].file, r == 0 ? "ok" : why);
		if (id == NULL) {
			free(pem);
			continue;
		}
		is_str(id->dns_san, cases[i].dns, "%s: first DNS SAN", cases[i].file);
		is_str(id->uri_san, cases[i].uri, "%s: first URI SAN", cases[i].file);
		is_str(id->spiffe, cases[i].spiffe, "%s: SPIFFE ID", cases[i].file);
		is_str(id->serial, cases[i].serial, "%s: serial", cases[i].file);
		is_str(id->subject, cases[i].subject, "%s: RFC 4514 subject", cases[i].file);
		is_int(id->not_before, VALID_FROM, "%s: not_before", cases[i].file);
		is_int(id->not_after, VALID_TO, "%s: not_after", cases[i].file);
		ok(id->client_id == NULL && id->flow == NULL,
		    "%s: client_id and flow left to the flow", cases[i].file);
		is_str(why, "", "%s: no reason on success", cases[i].file);
		check_digests(cases[i].file, pem, id);
		tb_identity_free(id);
		free(pem);
	}
}

static void
test_identity_refused(void)
{
	static const struct {
		const char *file;
		time_t now;
		const char *why; /* expected start of the reason */
	} cases[] = {
	    {"expired.pem", NOW, "certificate expired at 2021-01-01T00:00:00Z"},
	    {"future.pem", NOW, "certificate not yet valid until 2090-01-01T00:00:00Z"},
	    {"dns.pem", VALID_FROM - 1, "certificate not yet valid until 2024-01-01T00:00:00Z"},
	    {"dns.pem", VALID_TO + 1, "certificate expired at 2124-01-01T00:00:00Z"},
	    {"ca.pem", NOW, "certificate is a CA"},
	    {"san-nul.pem", NOW, "certificate has a DNS SAN with a NUL or control character"},
	    {"san-ctrl.pem", NOW, "certificate has a URI SAN with a NUL or control character"},
	    {"two-certs.pem", NOW, "certificate is not one PEM CERTIFICATE block"},
	    {"leaf.key", NOW, "certificate is not one PEM CERTIFICATE block"},
	    {"rfc8705-appendix-a.pem", NOW, "certificate expired at 2022-05-02T12:37:09Z"},
	};
	struct tb_identity *id;
	char why[TB_WHY_MAX];
	size_t i, len;
	char *pem;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if ((pem = fixture(cases[i].file, &len)) == NULL) {
			ok(0, "%s: fixture", cases[i].file);
			continue;
		}
		id = (struct tb_identity *)1;
		is_int(tb_cert_identity(pem, len, cases[i].now, &id, why, sizeof(why)),
		    TB_ERR_CLIENT, "%s at %lld: refused", cases[i].file, (long long)cases[i].now);
		ok(id == NULL, "%s: no identity", cases[i].file);
		ok(ERR_peek_error() == 0, "%s: OpenSSL error queue left clear", cases[i].file);
		ok(strncmp(why, cases[i].why, strlen(cases[i].why)) == 0, "%s: reason '%s'",
		    cases[i].file, why);
		free(pem);
	}
	/* the validity bounds themselves are inside */
	if ((pem = fixture("dns.pem", &len)) != NULL) {
		is_int(tb_cert_identity(pem, len, VALID_FROM, &id, why, sizeof(why)), 0,
		    "valid at notBefore");
		tb_identity_free(id);
		is_int(tb_cert_identity(pem, len, VALID_TO, &id, why, sizeof(why)), 0,
		    "valid at notAfter");
		tb_identity_free(id);
		/* a why of no room is fine */
		is_int(tb_cert_identity(pem, len, VALID_TO + 1, &id, NULL, 0), TB_ERR_CLIENT,
		    "refused without a why buffer");
		free(pem);
	}
}

/* DER that is cut short, or followed by more bytes, wrapped as PEM: parsed and refused. */
static void
test_identity_bad_der(void)
{
	unsigned char *ref = NULL, *der = NULL;
	size_t reflen = 0, i;
	struct tb_identity *id;
	char why[TB_WHY_MAX];
	char *pem, *b64 = NULL;
	struct tb_buf b;
	static const struct {
		const char *name;
		size_t cut;  /* bytes removed from the end */
		size_t keep; /* or only this many bytes kept, when not 0 */
		size_t add;  /* or this many zero bytes appended */
		const char *why;
	} cases[] = {
	    {"truncated DER", 10, 0, 0, "certificate cannot be parsed"},
	    {"DER cut to its first 4 bytes", 0, 4, 0, "certificate cannot be parsed"},
	    {"trailing data after DER", 0, 0, 1, "certificate cannot be parsed: trailing data"},
	};

	tb_buf_init(&b, 4 * FIXTURE_MAX);
	if ((pem = fixture("dns.pem", NULL)) == NULL || reference_der(pem, &ref, &reflen) != 0 ||
	    (der = calloc(1, reflen + 1)) == NULL) {
		ok(0, "dns.pem reference");
		goto out;
	}
	memcpy(der, ref, reflen);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n =
		    cases[i].keep != 0 ? cases[i].keep : reflen - cases[i].cut + cases[i].add;

		tb_b64_encode(der, n, TB_B64_STD, &b64);
		tb_buf_reset(&b);
		tb_buf_addf(
		    &b, "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n", b64);
		free(b64);
		b64 = NULL;
		is_int(tb_cert_identity(b.data, b.len, NOW, &id, why, sizeof(why)), TB_ERR_CLIENT,
		    "%s: refused", cases[i].name);
		ok(strncmp(why, cases[i].why, strlen(cases[i].why)) == 0, "%s: reason '%s'",
		    cases[i].name, why);
	}
	/* the whole certificate, cut in the middle of the PEM body */
	tb_buf_reset(&b);
	tb_buf_add(&b, pem, strlen(pem) / 2);
	tb_buf_addstr(&b, "\n-----END CERTIFICATE-----\n");
	is_int(tb_cert_identity(b.data, b.len, NOW, &id, why, sizeof(why)), TB_ERR_CLIENT,
	    "PEM truncated in the body: refused (%s)", why);
out:
	tb_buf_free(&b);
	free(der);
	OPENSSL_free(ref);
	free(pem);
}

/* RFC 8705 Appendix A: the example certificate and its x5t#S256. */
static void
test_rfc8705(void)
{
	const char *want = "A4DtL2JmUMhAsvJj5tKyn64SqzmuXbMrJa0n761y5v0";
	unsigned char *der = NULL, h[32];
	unsigned int hl = 0;
	size_t len = 0, dlen = 0;
	struct tb_identity *id = NULL;
	char why[TB_WHY_MAX];
	char *pem, *x5t = NULL;

	if ((pem = fixture("rfc8705-appendix-a.pem", &len)) == NULL) {
		ok(0, "RFC 8705 fixture");
		return;
	}
	is_int(tb_cert_pem_to_der(pem, len, &der, &dlen), 0, "RFC 8705 A: PEM decodes");
	if (der != NULL) {
		EVP_Digest(der, dlen, h, &hl, EVP_sha256(), NULL);
		tb_b64_encode(h, sizeof(h), TB_B64_URL | TB_B64_NOPAD, &x5t);
		is_str(x5t, want, "RFC 8705 A: base64url SHA-256 of the DER is the RFC's x5t#S256");
	}
	/* valid 2018-10-18T12:37:09Z to 2022-05-02T12:37:09Z; ask inside that period */
	is_int(tb_cert_identity(pem, len, (time_t)1577836800, &id, why, sizeof(why)), 0,
	    "RFC 8705 A: identity at 2020-01-01 (%s)", why);
	if (id != NULL) {
		is_str(id->x5t_s256, want, "RFC 8705 A: x5t_s256");
		is_str(id->serial, "02", "RFC 8705 A: serial");
		is_str(id->subject, "CN=mtls", "RFC 8705 A: subject");
		is_str(id->dns_san, "", "RFC 8705 A: no DNS SAN");
		is_int(id->not_before, 1539866229, "RFC 8705 A: notBefore 2018-10-18T12:37:09Z");
		is_int(id->not_after, 1651495029, "RFC 8705 A: notAfter 2022-05-02T12:37:09Z");
	}
	tb_identity_free(id);
	tb_identity_free(NULL);
	ok(1, "tb_identity_free(NULL) is a no-op");
	free(x5t);
	free(der);
	free(pem);
}

/* ---- the load balancer's headers --------------------------------------------------------------
 */

#define XLB_HASH "m97PuzECBhCm/I0kODCYy5q00uRkxM00DSGQ+Tl8DoM"
#define XLB_HASH_URL "m97PuzECBhCm_I0kODCYy5q00uRkxM00DSGQ-Tl8DoM"
#define OMIT "(absent)" /* marks a header the case removes */

static void
test_xlb(void)
{
	/* a complete, valid set of headers; each case changes one */
	static const char *const base[TB_XLB_HEADERS] = {
	    [TB_XLB_PRESENT] = "True",
	    [TB_XLB_CHAIN_VERIFIED] = "TRUE",
	    [TB_XLB_ERROR] = "",
	    [TB_XLB_SHA256] = XLB_HASH,
	    [TB_XLB_SPIFFE] = "spiffe://example.org/lb",
	    [TB_XLB_URI_SANS] =
	        "aHR0cHM6Ly91cmktMSxodHRwczovL3VyaS0y", /* https://uri-1,https://uri-2 */
	    [TB_XLB_DNS_SANS] = "ZG5zLTEsIGRucy0y",     /* "dns-1, dns-2" */
	    [TB_XLB_SERIAL] = "00:C9:77:71:DB:A8:B7:70:E1:B6:A7:3F:4C:91:80:42:72:77:B5:FD",
	    [TB_XLB_NOT_BEFORE] = "2023-08-30T01:13:00+00:00",
	    [TB_XLB_NOT_AFTER] = "2033-08-30T01:13:00Z",
	};
	static const struct {
		const char *name;
		int header; /* the header this case changes, or -1 */
		const char *value;
		const char *client_id;
		int want;
		const char *why; /* start of the reason, on refusal */
	} cases[] = {
	    {"all headers", -1, NULL, XLB_HASH, 0, NULL},
	    {"present missing", TB_XLB_PRESENT, OMIT, XLB_HASH, TB_ERR_CLIENT,
	        "load balancer reports no client certificate"},
	    {"present false", TB_XLB_PRESENT, "false", XLB_HASH, TB_ERR_CLIENT,
	        "load balancer reports no client certificate"},
	    {"chain not verified", TB_XLB_CHAIN_VERIFIED, "false", XLB_HASH, TB_ERR_CLIENT,
	        "load balancer did not verify the certificate chain"},
	    {"chain verified missing", TB_XLB_CHAIN_VERIFIED, OMIT, XLB_HASH, TB_ERR_CLIENT,
	        "load balancer did not verify"},
	    {"chain verified 'yes'", TB_XLB_CHAIN_VERIFIED, "yes", XLB_HASH, TB_ERR_CLIENT,
	        "load balancer did not verify"},
	    {"empty client id", -1, NULL, "", TB_ERR_CLIENT, "the client id header is empty"},
	    {"absent client id", -1, NULL, NULL, TB_ERR_CLIENT, "the client id header is empty"},
	    {"hash not base64", TB_XLB_SHA256, "not*base64", XLB_HASH, TB_ERR_CLIENT,
	        "the certificate hash header"},
	    {"hash of 20 bytes", TB_XLB_SHA256, "qZk+NkcGgWq6PiVxeFDCbJzQ2J0", XLB_HASH,
	        TB_ERR_CLIENT, "the certificate hash header"},
	    {"hash missing", TB_XLB_SHA256, OMIT, XLB_HASH, TB_ERR_CLIENT,
	        "the certificate hash header"},
	    {"padded hash", TB_XLB_SHA256, XLB_HASH "=", XLB_HASH, 0, NULL},
	    {"DNS SANs not base64", TB_XLB_DNS_SANS, "***", XLB_HASH, TB_ERR_CLIENT,
	        "the DNS SAN header is not base64"},
	    {"URI SANs not base64", TB_XLB_URI_SANS, "aHR0cHM6Ly91cmkt MQ==", XLB_HASH,
	        TB_ERR_CLIENT, "the URI SAN header is not base64"},
	    {"DNS SAN with a control character", TB_XLB_DNS_SANS, "YQli" /* "a\tb" */, XLB_HASH,
	        TB_ERR_CLIENT, "the DNS SAN header"},
	    {"SPIFFE with a control character", TB_XLB_SPIFFE, "spiffe://a\tb", XLB_HASH,
	        TB_ERR_CLIENT, "a certificate header has a control character"},
	    {"empty SAN headers", TB_XLB_DNS_SANS, "", XLB_HASH, 0, NULL},
	    {"absent SAN headers", TB_XLB_URI_SANS, OMIT, XLB_HASH, 0, NULL},
	    {"not-before unparsable", TB_XLB_NOT_BEFORE, "yesterday", XLB_HASH, TB_ERR_CLIENT,
	        "the not-before header is not an RFC 3339 time: 'yesterday'"},
	    {"not-before month 13", TB_XLB_NOT_BEFORE, "2023-13-01T00:00:00Z", XLB_HASH,
	        TB_ERR_CLIENT, "the not-before header"},
	    {"not-before Feb 29 of 2023", TB_XLB_NOT_BEFORE, "2023-02-29T00:00:00Z", XLB_HASH,
	        TB_ERR_CLIENT, "the not-before header"},
	    {"not-before with a space", TB_XLB_NOT_BEFORE, "2023-08-30 01:13:00Z", XLB_HASH,
	        TB_ERR_CLIENT, "the not-before header"},
	    {"not-before without offset", TB_XLB_NOT_BEFORE, "2023-08-30T01:13:00", XLB_HASH,
	        TB_ERR_CLIENT, "the not-before header"},
	    {"not-after bad offset", TB_XLB_NOT_AFTER, "2033-08-30T01:13:00+0000", XLB_HASH,
	        TB_ERR_CLIENT, "the not-after header"},
	    {"not-after trailing text", TB_XLB_NOT_AFTER, "2033-08-30T01:13:00Zx", XLB_HASH,
	        TB_ERR_CLIENT, "the not-after header"},
	    {"expired", TB_XLB_NOT_AFTER, "2025-01-01T00:00:00+00:00", XLB_HASH, TB_ERR_CLIENT,
	        "certificate expired at 2025-01-01T00:00:00Z"},
	    {"not yet valid", TB_XLB_NOT_BEFORE, "2027-01-01T00:00:00Z", XLB_HASH, TB_ERR_CLIENT,
	        "certificate not yet valid until 2027-01-01T00:00:00Z"},
	    {"not yet valid through an offset", TB_XLB_NOT_BEFORE, "2026-11-22T20:00:00-05:00",
	        XLB_HASH, TB_ERR_CLIENT, "certificate not yet valid until 2026-11-23T01:00:00Z"},
	    {"valid through an offset", TB_XLB_NOT_BEFORE, "2026-11-23T01:00:00+02:00", XLB_HASH, 0,
	        NULL},
	    {"fraction and lower-case z", TB_XLB_NOT_AFTER, "2033-08-30t01:13:00.123z", XLB_HASH, 0,
	        NULL},
	    {"no dates", TB_XLB_NOT_BEFORE, "", XLB_HASH, 0, NULL},
	};
	const char *values[TB_XLB_HEADERS];
	struct tb_identity *id;
	char why[TB_WHY_MAX];
	size_t i;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(values, base, sizeof(values));
		if (cases[i].header >= 0)
			values[cases[i].header] =
			    strcmp(cases[i].value, OMIT) == 0 ? NULL : cases[i].value;
		id = NULL;
		r = tb_cert_identity_xlb(values, cases[i].client_id, NOW, &id, why, sizeof(why));
		is_int(r, cases[i].want, "xlb: %s (%s)", cases[i].name, r == 0 ? "accepted" : why);
		if (cases[i].want != 0) {
			ok(id == NULL, "xlb: %s: no identity", cases[i].name);
			ok(strncmp(why, cases[i].why, strlen(cases[i].why)) == 0,
			    "xlb: %s: reason starts '%s'", cases[i].name, cases[i].why);
		}
		tb_identity_free(id);
	}

	/* the accepted identity, field by field */
	r = tb_cert_identity_xlb(base, XLB_HASH, NOW, &id, why, sizeof(why));
	is_int(r, 0, "xlb: base headers accepted");
	if (r == 0) {
		is_str(id->sha256, XLB_HASH, "xlb: sha256 is the hash header as sent");
		is_str(id->x5t_s256, XLB_HASH_URL, "xlb: x5t#S256 is the hash in base64url");
		is_str(id->sha1, "", "xlb: no sha1");
		is_str(id->serial, SEED_SERIAL, "xlb: serial lower-cased");
		is_str(id->dns_san, "dns-1", "xlb: first DNS SAN, untrimmed list split on ','");
		is_str(id->uri_san, "https://uri-1", "xlb: first URI SAN");
		is_str(id->spiffe, "spiffe://example.org/lb", "xlb: SPIFFE header as sent");
		is_str(id->subject, "", "xlb: no subject");
		ok(id->subject_der == NULL && id->subject_der_len == 0, "xlb: no subject DER");
		is_int(id->not_before, 1693357980, "xlb: not_before 2023-08-30T01:13:00Z");
		is_int(id->not_after, 2008977180, "xlb: not_after 2033-08-30T01:13:00Z");
		is_str(id->client_id, XLB_HASH, "xlb: client_id copied");
		tb_identity_free(id);
	}

	/* empty and absent headers give "" and no dates */
	memcpy(values, base, sizeof(values));
	values[TB_XLB_SPIFFE] = values[TB_XLB_URI_SANS] = values[TB_XLB_SERIAL] = NULL;
	values[TB_XLB_DNS_SANS] = values[TB_XLB_NOT_BEFORE] = values[TB_XLB_NOT_AFTER] = "";
	r = tb_cert_identity_xlb(values, "spiffe-id", NOW, &id, why, sizeof(why));
	is_int(r, 0, "xlb: sparse headers accepted");
	if (r == 0) {
		ok(strcmp(id->spiffe, "") == 0 && strcmp(id->uri_san, "") == 0 &&
		        strcmp(id->dns_san, "") == 0 && strcmp(id->serial, "") == 0,
		    "xlb: absent or empty attributes are \"\"");
		ok(id->not_before == 0 && id->not_after == 0, "xlb: no dates without the headers");
		is_str(id->client_id, "spiffe-id", "xlb: client_id from the configured header");
		tb_identity_free(id);
	}

	/* a DNS SAN header with a single element, and one with a leading comma */
	memcpy(values, base, sizeof(values));
	values[TB_XLB_DNS_SANS] = "Y2xpZW50LmV4YW1wbGUubmV0"; /* client.example.net */
	values[TB_XLB_URI_SANS] = "LGh0dHBzOi8vc2Vjb25k";     /* ",https://second" */
	r = tb_cert_identity_xlb(values, XLB_HASH, NOW, &id, why, sizeof(why));
	is_int(r, 0, "xlb: single SAN accepted");
	if (r == 0) {
		is_str(id->dns_san, "client.example.net", "xlb: a one-element list");
		is_str(id->uri_san, "", "xlb: an empty first element stays empty");
		tb_identity_free(id);
	}
}

/* Compares an identity's SAN list with the expected NULL-terminated list. */
static void
check_list(char *const *got, size_t n, const char *const *want, const char *what)
{
	size_t i, w;
	int same;

	for (w = 0; want[w] != NULL; w++)
		;
	same = n == w && (n > 0 || got == NULL);
	for (i = 0; same && i < n; i++)
		same = strcmp(got[i], want[i]) == 0;
	ok(same, "%s: %zu SANs, in order", what, w);
	for (i = 0; !same && i < n; i++)
		printf("#   got [%zu] '%s'\n", i, got[i]);
}

/* A certificate valid at NOW with ndns DNS SANs (a0.example.net, a1...), signed by itself. */
static char *
many_sans_pem(int ndns)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	BIO *bio = BIO_new(BIO_s_mem());
	char dns[64], *pem = NULL, *p;
	long n;
	int i;

	for (i = 0; i < ndns; i++) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *v = ASN1_IA5STRING_new();

		snprintf(dns, sizeof(dns), "a%d.example.net", i);
		ASN1_STRING_set(v, dns, -1);
		GENERAL_NAME_set0_value(g, GEN_DNS, v);
		sk_GENERAL_NAME_push(names, g);
	}
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_txt(
	    X509_get_subject_name(x), "CN", MBSTRING_ASC, (unsigned char *)"many", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	ASN1_TIME_set(X509_getm_notBefore(x), NOW - 86400);
	ASN1_TIME_set(X509_getm_notAfter(x), NOW + 86400);
	X509_set_pubkey(x, key);
	X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT);
	if (X509_sign(x, key, EVP_sha256()) > 0 && PEM_write_bio_X509(bio, x) == 1 &&
	    (n = BIO_get_mem_data(bio, &p)) > 0 && (pem = malloc((size_t)n + 1)) != NULL) {
		memcpy(pem, p, (size_t)n);
		pem[n] = '\0';
	}
	GENERAL_NAMES_free(names);
	BIO_free(bio);
	X509_free(x);
	EVP_PKEY_free(key);
	return pem;
}

/* Every DNS and URI SAN in the lists (for registry groups), and the certificate kept. */
static void
test_san_lists(void)
{
	static const char *const dns_two[] = {"client.example.net", "second.example.net", NULL};
	static const char *const https_first_uris[] = {
	    "https://client.example.net/id", "spiffe://example.org/ns/prod/sa/batch", NULL};
	static const char *const https_first_dns[] = {"batch.example.net", NULL};
	static const char *const none[] = {NULL};
	static const char *const xlb_dns[] = {"dns-1", " dns-2", NULL};
	static const char *const xlb_uris[] = {"https://uri-1", "https://uri-2", NULL};
	static const char *const xlb_second[] = {"https://second", NULL};
	static const struct {
		const char *file;
		const char *const *dns, *const *uris;
	} cases[] = {
	    {"dns.pem", dns_two, none},
	    {"uri-https-first.pem", https_first_dns, https_first_uris},
	    {"nosan.pem", none, none},
	};
	const char *values[TB_XLB_HEADERS] = {NULL};
	struct tb_identity *id;
	char why[TB_WHY_MAX], *pem;
	size_t i, len;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		id = NULL;
		if ((pem = fixture(cases[i].file, &len)) == NULL ||
		    tb_cert_identity(pem, len, NOW, &id, why, sizeof(why)) != 0) {
			ok(0, "lists: %s accepted", cases[i].file);
			free(pem);
			continue;
		}
		check_list(id->dns_sans, id->ndns_sans, cases[i].dns, cases[i].file);
		check_list(id->uri_sans, id->nuri_sans, cases[i].uris, cases[i].file);
		ok(id->cert != NULL && X509_NAME_get_index_by_NID(X509_get_subject_name(id->cert),
		                           NID_commonName, -1) >= 0,
		    "%s: the parsed certificate is kept", cases[i].file);
		tb_identity_free(id);
		free(pem);
	}
	for (i = 0; i < 2; i++) {
		int want = i == 0 ? 0 : TB_ERR_CLIENT;

		id = NULL;
		pem = many_sans_pem(i == 0 ? TB_CERT_SANS_MAX : TB_CERT_SANS_MAX + 1);
		r = pem == NULL ? -1
		                : tb_cert_identity(pem, strlen(pem), NOW, &id, why, sizeof(why));
		is_int(r, want, "a certificate with %d DNS SANs is %s", TB_CERT_SANS_MAX + (int)i,
		    i == 0 ? "accepted" : "refused");
		if (i == 0)
			is_int(
			    id != NULL ? id->ndns_sans : 0, TB_CERT_SANS_MAX, "all of them listed");
		else
			ok(strstr(why, "more than 1024 DNS SANs") != NULL, "the reason: %s", why);
		tb_identity_free(id);
		free(pem);
	}
	values[TB_XLB_PRESENT] = "true";
	values[TB_XLB_CHAIN_VERIFIED] = "true";
	values[TB_XLB_SHA256] = XLB_HASH;
	values[TB_XLB_DNS_SANS] = "ZG5zLTEsIGRucy0y";                     /* "dns-1, dns-2" */
	values[TB_XLB_URI_SANS] = "aHR0cHM6Ly91cmktMSxodHRwczovL3VyaS0y"; /* uri-1,uri-2 */
	id = NULL;
	is_int(tb_cert_identity_xlb(values, XLB_HASH, NOW, &id, why, sizeof(why)), 0,
	    "xlb lists: accepted");
	if (id != NULL) {
		check_list(id->dns_sans, id->ndns_sans, xlb_dns, "xlb DNS header, untrimmed");
		check_list(id->uri_sans, id->nuri_sans, xlb_uris, "xlb URI header");
		ok(id->cert == NULL, "xlb: no certificate");
		tb_identity_free(id);
	}
	values[TB_XLB_URI_SANS] = "LGh0dHBzOi8vc2Vjb25k"; /* ",https://second" */
	values[TB_XLB_DNS_SANS] = NULL;
	id = NULL;
	is_int(tb_cert_identity_xlb(values, XLB_HASH, NOW, &id, why, sizeof(why)), 0,
	    "xlb lists: a leading comma accepted");
	if (id != NULL) {
		check_list(id->uri_sans, id->nuri_sans, xlb_second, "xlb: empty elements left out");
		check_list(id->dns_sans, id->ndns_sans, none, "xlb: no DNS header, no list");
		tb_identity_free(id);
	}
	values[TB_XLB_DNS_SANS] = "YSxiCWM="; /* "a,b\tc": a control character after the first */
	id = NULL;
	is_int(tb_cert_identity_xlb(values, XLB_HASH, NOW, &id, why, sizeof(why)), TB_ERR_CLIENT,
	    "xlb lists: a control character in a later SAN is refused too");
	tb_identity_free(id);
}

int
main(void)
{
	test_pem_forms();
	test_pem_refused();
	test_pem_small();
	test_identity();
	test_identity_refused();
	test_identity_bad_der();
	test_rfc8705();
	test_xlb();
	test_san_lists();
	return done_testing();
}
