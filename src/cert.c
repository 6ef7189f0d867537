/* cert.c: a client certificate, or the load balancer's headers about one, into an identity. */
#include "cert.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"
#include "crypto.h"
#include "err.h"
#include "text.h"

#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_END "-----END CERTIFICATE-----"
#define SUBJECT_MAX 4096 /* longest RFC 4514 subject kept; longer certificates are refused */
#define XLB_ECHO_MAX 64  /* how much of a load-balancer header a refusal reason may quote */

static void
free_list(char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void
tb_identity_free(struct tb_identity *id)
{
	struct tb_identity *base;

	if (id == NULL)
		return;
	if ((base = id->base) != NULL) { /* a view: only client_id is its own; then its base */
		free(id->client_id);
		free(id);
		id = base;
	}
	if (id->refs > 0) {
		id->refs--;
		return;
	}
	free(id->sha256);
	free(id->x5t_s256);
	free(id->sha1);
	free(id->serial);
	free(id->dns_san);
	free(id->uri_san);
	free(id->spiffe);
	free(id->subject);
	free(id->subject_der);
	free(id->issuer_der);
	free(id->client_id);
	free_list(id->dns_sans, id->ndns_sans);
	free_list(id->uri_sans, id->nuri_sans);
	X509_free(id->cert);
	free(id); /* flow is static */
}

static int
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* True when the n bytes are all printable ASCII: no NUL, no control character. */
static int
printable(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return 0;
	return 1;
}

/* A new NUL-terminated copy of n bytes. */
static char *
dupn(const void *p, size_t n)
{
	char *s;

	if ((s = malloc(n + 1)) == NULL)
		return NULL;
	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/*
 * Appends a copy of n bytes to a SAN list (*list of *n); a certificate or header with more than
 * TB_CERT_SANS_MAX is refused (TB_ERR_LIMIT), as each request tries every SAN against every
 * registry group.
 */
static int
push_san(char ***list, size_t *n, const void *p, size_t len)
{
	char **grown;

	if (*n == TB_CERT_SANS_MAX)
		return TB_ERR_LIMIT;
	if ((grown = realloc(*list, (*n + 1) * sizeof(**list))) == NULL)
		return TB_ERR_ALLOC;
	*list = grown;
	if ((grown[*n] = dupn(p, len)) == NULL)
		return TB_ERR_ALLOC;
	(*n)++;
	return 0;
}

/*
 * Percent-decodes (nginx $ssl_client_escaped_cert) into out: %XX only, '+' stays a
 * base64 character. A PEM never holds '%', so decoding every value is harmless.
 */
static int
unescape(const char *in, size_t n, char *out, size_t *outlen)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (in[i] != '%') {
			out[o++] = in[i];
			continue;
		}
		if (n - i < 3 || (hi = tb_hexval((unsigned char)in[i + 1])) < 0 ||
		    (lo = tb_hexval((unsigned char)in[i + 2])) < 0)
			return TB_ERR_INVALID;
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	*outlen = o;
	return 0;
}

int
tb_cert_pem_to_der(const char *value, size_t len, unsigned char **der, size_t *der_len)
{
	const size_t blen = sizeof(PEM_BEGIN) - 1, elen = sizeof(PEM_END) - 1;
	char *pem = NULL, *body = NULL;
	size_t n, i, b, e, bn = 0;
	unsigned char *d = NULL;
	size_t dlen = 0;
	int r = TB_ERR_INVALID;

	*der = NULL;
	*der_len = 0;
	if (value == NULL)
		return TB_ERR_INVALID;
	if (len > TB_CERT_PEM_MAX)
		return TB_ERR_LIMIT;
	if ((pem = malloc(len + 1)) == NULL || (body = malloc(len + 1)) == NULL) {
		r = TB_ERR_ALLOC;
		goto out;
	}
	if ((r = unescape(value, len, pem, &n)) != 0)
		goto out;
	r = TB_ERR_INVALID;
	/* nothing but whitespace before the one BEGIN line: a prefix once let a second cert in */
	for (b = 0; b < n && is_space((unsigned char)pem[b]); b++)
		;
	if (n - b < blen + elen || memcmp(pem + b, PEM_BEGIN, blen) != 0)
		goto out;
	b += blen;
	/*
	 * The body runs to the first '-': base64 never holds one, so a second BEGIN, an END of
	 * another type or a PEM header line all end it early and fail the END check below.
	 */
	for (e = b; e < n && pem[e] != '-'; e++) {
		if (is_space((unsigned char)pem[e]))
			continue;
		body[bn++] = pem[e];
	}
	if (n - e < elen || memcmp(pem + e, PEM_END, elen) != 0)
		goto out;
	for (i = e + elen; i < n; i++)
		if (!is_space((unsigned char)pem[i]))
			goto out;
	/* strict base64: padded to a multiple of four, canonical trailing bits */
	if (bn == 0 || bn % 4 != 0)
		goto out;
	if ((r = tb_b64_decode(body, bn, TB_B64_STD, &d, &dlen)) != 0)
		goto out;
	*der = d;
	*der_len = dlen;
	d = NULL; /* transferred */
	r = 0;
out:
	free(d);
	free(body);
	free(pem);
	return r;
}

/* Refuses now outside [nb, na]; a bound the caller does not have is skipped. */
static int
check_validity(int has_nb, time_t nb, int has_na, time_t na, time_t now, char *why, size_t whylen)
{
	char text[TB_TIME_TEXT_LEN];

	if (has_nb && now < nb) {
		tb_time_text(nb, text);
		tb_whyf(why, whylen, "certificate not yet valid until %s", text);
		return TB_ERR_CLIENT;
	}
	if (has_na && now > na) {
		tb_time_text(na, text);
		tb_whyf(why, whylen, "certificate expired at %s", text);
		return TB_ERR_CLIENT;
	}
	return 0;
}

int
tb_identity_check_validity(const struct tb_identity *id, time_t now, char *why, size_t whylen)
{
	return check_validity(1, id->not_before, 1, id->not_after, now, why, whylen);
}

struct tb_identity *
tb_identity_view(struct tb_identity *base)
{
	struct tb_identity *v = malloc(sizeof(*v));

	if (v == NULL)
		return NULL;
	*v = *base;
	v->client_id = NULL;
	v->flow = NULL;
	v->base = base;
	v->refs = 0;
	base->refs++;
	return v;
}

/* The three digests of the DER: sha256 (std base64), x5t#S256 (base64url), sha1 (hex). */
static int
digests(const unsigned char *der, size_t len, struct tb_identity *id)
{
	unsigned char h256[TB_SHA256_LEN], h1[TB_SHA1_LEN];
	int r;

	if ((r = tb_sha256(der, len, h256)) != 0 || (r = tb_sha1(der, len, h1)) != 0)
		return r;
	/* cppcheck-suppress badBitmaskCheck ; TB_B64_STD is 0: named to say which alphabet */
	if ((r = tb_b64_encode(h256, sizeof(h256), TB_B64_STD | TB_B64_NOPAD, &id->sha256)) != 0 ||
	    (r = tb_b64_encode(h256, sizeof(h256), TB_B64_URL | TB_B64_NOPAD, &id->x5t_s256)) !=
	        0 ||
	    (r = tb_hex_encode(h1, sizeof(h1), 0, &id->sha1)) != 0)
		return r;
	return 0;
}

/*
 * The serial as the load balancer writes it: the DER INTEGER's content octets in colon hex, so a
 * leading 00 (a positive serial with the high bit set) is kept.
 */
static int
serial(X509 *x, struct tb_identity *id)
{
	unsigned char *enc = NULL;
	size_t off, clen, k;
	int n, r = TB_ERR_INVALID;

	if ((n = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &enc)) < 2)
		goto out;
	/* tag 02, then a short or long form length */
	if (enc[1] < 0x80) {
		off = 2;
		clen = enc[1];
	} else {
		k = enc[1] & 0x7f;
		if (k == 0 || k > sizeof(size_t) || (size_t)n < 2 + k)
			goto out;
		for (clen = 0, off = 2; off < 2 + k; off++)
			clen = clen << 8 | enc[off];
	}
	if (clen == 0 || clen != (size_t)n - off)
		goto out;
	r = tb_hex_encode(enc + off, clen, ':', &id->serial);
out:
	OPENSSL_free(enc);
	return r;
}

/* True when the URI's scheme is spiffe (RFC 3986 schemes compare case-insensitively). */
static int
is_spiffe(const unsigned char *p, size_t n)
{
	return n >= 7 && strncasecmp((const char *)p, "spiffe:", 7) == 0;
}

/*
 * The first dNSName, first URI and first SPIFFE URI, and the lists of every dNSName and URI;
 * every DNS or URI SAN must be printable.
 */
static int
sans(X509 *x, struct tb_identity *id, char *why, size_t whylen)
{
	GENERAL_NAMES *names;
	const GENERAL_NAME *g;
	const unsigned char *p;
	char **slot, ***list;
	size_t *count;
	int crit = -1, i, n, r = TB_ERR_CLIENT;

	if ((names = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL)) == NULL) {
		if (crit == -1)
			return 0; /* no SAN extension: every SAN attribute stays "" */
		tb_whyf(why, whylen, "certificate has an unreadable or repeated subjectAltName");
		return TB_ERR_CLIENT;
	}
	for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		g = sk_GENERAL_NAME_value(names, i);
		if (g->type == GEN_DNS) {
			p = ASN1_STRING_get0_data(g->d.dNSName);
			n = ASN1_STRING_length(g->d.dNSName);
			slot = &id->dns_san;
			list = &id->dns_sans;
			count = &id->ndns_sans;
		} else if (g->type == GEN_URI) {
			p = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
			n = ASN1_STRING_length(g->d.uniformResourceIdentifier);
			slot = &id->uri_san;
			list = &id->uri_sans;
			count = &id->nuri_sans;
		} else {
			continue;
		}
		if (n < 0 || !printable(p, (size_t)n)) {
			tb_whyf(why, whylen,
			    "certificate has a %s SAN with a NUL or control character",
			    g->type == GEN_DNS ? "DNS" : "URI");
			goto out;
		}
		if ((r = push_san(list, count, p, (size_t)n)) != 0) {
			if (r == TB_ERR_LIMIT) {
				tb_whyf(why, whylen, "certificate has more than %d %s SANs",
				    TB_CERT_SANS_MAX, g->type == GEN_DNS ? "DNS" : "URI");
				r = TB_ERR_CLIENT;
			}
			goto out;
		}
		r = TB_ERR_ALLOC;
		if (*slot == NULL && (*slot = dupn(p, (size_t)n)) == NULL)
			goto out;
		if (g->type == GEN_URI && id->spiffe == NULL && is_spiffe(p, (size_t)n) &&
		    (id->spiffe = dupn(p, (size_t)n)) == NULL)
			goto out;
		r = TB_ERR_CLIENT;
	}
	r = 0;
out:
	GENERAL_NAMES_free(names);
	return r;
}

/* The subject as RFC 4514 text (bounded) and as DER. */
static int
subject(X509 *x, struct tb_identity *id, char *why, size_t whylen)
{
	const X509_NAME *name = X509_get_subject_name(x);
	unsigned char *der = NULL;
	BIO *bio = NULL;
	char *text;
	long n;
	int dn, r = TB_ERR_ALLOC;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		goto out;
	r = TB_ERR_CLIENT;
	if (name == NULL || X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) < 0) {
		tb_whyf(why, whylen, "certificate subject cannot be printed");
		goto out;
	}
	if ((n = BIO_get_mem_data(bio, &text)) < 0 || n > SUBJECT_MAX) {
		tb_whyf(why, whylen, "certificate subject is longer than %d bytes", SUBJECT_MAX);
		goto out;
	}
	/* RFC 2253 printing escapes control and high bytes; make sure of it */
	if (!printable((const unsigned char *)text, (size_t)n)) {
		tb_whyf(why, whylen, "certificate subject has a control character");
		goto out;
	}
	if ((dn = i2d_X509_NAME(name, &der)) <= 0) {
		tb_whyf(why, whylen, "certificate subject cannot be encoded");
		goto out;
	}
	r = TB_ERR_ALLOC;
	if ((id->subject = dupn(text, (size_t)n)) == NULL ||
	    (id->subject_der = (unsigned char *)dupn(der, (size_t)dn)) == NULL)
		goto out;
	id->subject_der_len = (size_t)dn;
	r = 0;
out:
	OPENSSL_free(der);
	BIO_free(bio);
	return r;
}

/* The DER of the issuer Name, for the revocation check (the CRL of that issuer). */
static int
issuer(X509 *x, struct tb_identity *id, char *why, size_t whylen)
{
	unsigned char *der = NULL;
	int n = i2d_X509_NAME(X509_get_issuer_name(x), &der);

	if (n <= 0) {
		tb_whyf(why, whylen, "certificate issuer cannot be encoded");
		return TB_ERR_CLIENT;
	}
	id->issuer_der = (unsigned char *)dupn(der, (size_t)n);
	OPENSSL_free(der);
	if (id->issuer_der == NULL)
		return TB_ERR_ALLOC;
	id->issuer_der_len = (size_t)n;
	return 0;
}

/* Gives every attribute still NULL the value "" (an attribute the certificate lacks). */
static int
fill_empty(struct tb_identity *id)
{
	char **f[] = {&id->sha256, &id->x5t_s256, &id->sha1, &id->serial, &id->dns_san,
	    &id->uri_san, &id->spiffe, &id->subject};
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (*f[i] == NULL && (*f[i] = dupn("", 0)) == NULL)
			return TB_ERR_ALLOC;
	return 0;
}

int
tb_cert_identity(
    const char *value, size_t len, time_t now, struct tb_identity **out, char *why, size_t whylen)
{
	struct tb_identity *id = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t dlen = 0;
	X509 *x = NULL;
	uint32_t flags;
	int r;

	*out = NULL;
	tb_whyf(why, whylen, "%s", "");
	if ((r = tb_cert_pem_to_der(value, len, &der, &dlen)) != 0) {
		if (r == TB_ERR_ALLOC)
			goto out;
		if (r == TB_ERR_LIMIT)
			tb_whyf(why, whylen, "certificate longer than %d bytes", TB_CERT_PEM_MAX);
		else
			tb_whyf(why, whylen,
			    "certificate is not one PEM CERTIFICATE block (%zu bytes)", len);
		r = TB_ERR_CLIENT;
		goto out;
	}
	r = TB_ERR_CLIENT;
	p = der;
	if (dlen > (size_t)TB_CERT_PEM_MAX || (x = d2i_X509(NULL, &p, (long)dlen)) == NULL ||
	    p != der + dlen) {
		tb_whyf(why, whylen, "certificate cannot be parsed: %s",
		    x == NULL ? tb_crypto_error() : "trailing data after the certificate");
		goto out;
	}
	r = TB_ERR_ALLOC;
	if ((id = calloc(1, sizeof(*id))) == NULL)
		goto out;
	r = TB_ERR_CLIENT;
	if (tb_asn1_time(X509_get0_notBefore(x), &id->not_before) != 0 ||
	    tb_asn1_time(X509_get0_notAfter(x), &id->not_after) != 0) {
		tb_whyf(why, whylen, "certificate validity dates cannot be read");
		goto out;
	}
	if ((r = check_validity(1, id->not_before, 1, id->not_after, now, why, whylen)) != 0)
		goto out;
	r = TB_ERR_CLIENT;
	/* the web server's chain verification refuses these too (X509_V_ERR_INVALID_EXTENSION) */
	flags = X509_get_extension_flags(x);
	if (flags & EXFLAG_INVALID) {
		tb_whyf(why, whylen, "certificate has invalid or repeated extensions");
		goto out;
	}
	if (flags & EXFLAG_CA) {
		tb_whyf(why, whylen, "certificate is a CA (basicConstraints CA:TRUE)");
		goto out;
	}
	if ((r = digests(der, dlen, id)) != 0)
		goto out;
	if ((r = serial(x, id)) != 0) {
		if (r != TB_ERR_ALLOC) {
			tb_whyf(why, whylen, "certificate serial cannot be encoded");
			r = TB_ERR_CLIENT;
		}
		goto out;
	}
	if ((r = sans(x, id, why, whylen)) != 0 || (r = subject(x, id, why, whylen)) != 0 ||
	    (r = issuer(x, id, why, whylen)) != 0 || (r = fill_empty(id)) != 0)
		goto out;
	id->cert = x;
	x = NULL; /* transferred */
	*out = id;
	id = NULL; /* transferred */
	r = 0;
out:
	if (r == TB_ERR_ALLOC)
		tb_whyf(why, whylen, "out of memory");
	ERR_clear_error();
	tb_identity_free(id);
	X509_free(x);
	free(der);
	return r;
}

/* ---- the load balancer's headers ------------------------------------------------------------ */

/* A header value, NULL as "", copied when printable. */
static int
header_copy(const char *v, char **out)
{
	size_t n = v == NULL ? 0 : strlen(v);

	if (!printable((const unsigned char *)v, n))
		return TB_ERR_INVALID;
	if ((*out = dupn(n > 0 ? v : "", n)) == NULL)
		return TB_ERR_ALLOC;
	return 0;
}

/*
 * A SAN header: base64 (standard) of a comma list. The first element is kept as is in *out (the
 * claim), every non-empty one in the list; each must be printable.
 */
static int
header_san(const char *v, char **out, char ***list, size_t *count)
{
	unsigned char *d = NULL;
	size_t n = 0, first, start, end;
	int r;

	if (v == NULL || *v == '\0')
		return header_copy("", out);
	if ((r = tb_b64_decode(v, strlen(v), TB_B64_STD, &d, &n)) != 0)
		return r;
	for (first = 0; first < n && d[first] != ','; first++)
		;
	r = TB_ERR_INVALID;
	if (!printable(d, n))
		goto out;
	r = TB_ERR_ALLOC;
	if ((*out = dupn(d, first)) == NULL)
		goto out;
	for (start = 0; start < n; start = end + 1) {
		for (end = start; end < n && d[end] != ','; end++)
			;
		if (end > start && (r = push_san(list, count, d + start, end - start)) != 0)
			goto out;
	}
	r = 0;
out:
	free(d);
	return r;
}

/* Quotes at most XLB_ECHO_MAX printable characters of a header for a refusal reason. */
static void
echo(const char *v, char out[XLB_ECHO_MAX + 1])
{
	size_t i;

	for (i = 0; v != NULL && v[i] != '\0' && i < XLB_ECHO_MAX; i++)
		out[i] = (char)(printable((const unsigned char *)v + i, 1) ? v[i] : '?');
	out[i] = '\0';
}

int
tb_cert_identity_xlb(const char *const values[TB_XLB_HEADERS], const char *client_id, time_t now,
    struct tb_identity **out, char *why, size_t whylen)
{
	static const struct {
		enum tb_xlb_header h;
		const char *what;
	} san_headers[] = {{TB_XLB_DNS_SANS, "DNS"}, {TB_XLB_URI_SANS, "URI"}};
	struct tb_identity *id = NULL;
	const char *v;
	unsigned char *hash = NULL;
	size_t hlen = 0, i;
	char text[XLB_ECHO_MAX + 1];
	char **slot;
	int has_nb, has_na, r = TB_ERR_CLIENT;

	*out = NULL;
	tb_whyf(why, whylen, "%s", "");
	v = values[TB_XLB_PRESENT];
	if (v == NULL || strcasecmp(v, "true") != 0) {
		echo(v, text);
		tb_whyf(why, whylen, "load balancer reports no client certificate (present: '%s')",
		    text);
		goto out;
	}
	v = values[TB_XLB_CHAIN_VERIFIED];
	if (v == NULL || strcasecmp(v, "true") != 0) {
		echo(values[TB_XLB_ERROR], text);
		tb_whyf(why, whylen,
		    "load balancer did not verify the certificate chain (error: '%s')", text);
		goto out;
	}
	if (client_id == NULL || *client_id == '\0') {
		tb_whyf(why, whylen, "the client id header is empty");
		goto out;
	}
	r = TB_ERR_ALLOC;
	if ((id = calloc(1, sizeof(*id))) == NULL)
		goto out;
	r = TB_ERR_CLIENT;
	v = values[TB_XLB_SHA256];
	if (v == NULL || tb_b64_decode(v, strlen(v), TB_B64_STD, &hash, &hlen) != 0 ||
	    hlen != TB_SHA256_LEN) {
		tb_whyf(why, whylen, "the certificate hash header is not a base64 SHA-256 digest");
		goto out;
	}
	/* re-encoded (standard alphabet, no padding), not copied: one spelling of the digest */
	if ((r = tb_b64_encode(hash, hlen, TB_B64_NOPAD, &id->sha256)) != 0 ||
	    (r = tb_b64_encode(hash, hlen, TB_B64_URL | TB_B64_NOPAD, &id->x5t_s256)) != 0)
		goto out;
	if ((r = header_copy(values[TB_XLB_SERIAL], &id->serial)) != 0 ||
	    (r = header_copy(values[TB_XLB_SPIFFE], &id->spiffe)) != 0 ||
	    (r = header_copy(client_id, &id->client_id)) != 0) {
		if (r == TB_ERR_ALLOC)
			goto out;
		tb_whyf(why, whylen, "a certificate header has a control character");
		r = TB_ERR_CLIENT;
		goto out;
	}
	/* the load balancer writes upper-case hex; certificates give lower case */
	for (i = 0; id->serial[i] != '\0'; i++)
		if (id->serial[i] >= 'A' && id->serial[i] <= 'Z')
			id->serial[i] = (char)(id->serial[i] - 'A' + 'a');
	for (i = 0; i < sizeof(san_headers) / sizeof(san_headers[0]); i++) {
		int dns = san_headers[i].h == TB_XLB_DNS_SANS;

		slot = dns ? &id->dns_san : &id->uri_san;
		if ((r = header_san(values[san_headers[i].h], slot,
		         dns ? &id->dns_sans : &id->uri_sans,
		         dns ? &id->ndns_sans : &id->nuri_sans)) != 0) {
			if (r == TB_ERR_ALLOC)
				goto out;
			if (r == TB_ERR_LIMIT)
				tb_whyf(why, whylen, "the %s SAN header lists more than %d SANs",
				    san_headers[i].what, TB_CERT_SANS_MAX);
			else
				tb_whyf(why, whylen,
				    "the %s SAN header is not base64 of printable text",
				    san_headers[i].what);
			r = TB_ERR_CLIENT;
			goto out;
		}
	}
	r = TB_ERR_CLIENT;
	v = values[TB_XLB_NOT_BEFORE];
	has_nb = v != NULL && *v != '\0';
	if (has_nb && tb_rfc3339(v, &id->not_before) != 0) {
		echo(v, text);
		tb_whyf(why, whylen, "the not-before header is not an RFC 3339 time: '%s'", text);
		goto out;
	}
	v = values[TB_XLB_NOT_AFTER];
	has_na = v != NULL && *v != '\0';
	if (has_na && tb_rfc3339(v, &id->not_after) != 0) {
		echo(v, text);
		tb_whyf(why, whylen, "the not-after header is not an RFC 3339 time: '%s'", text);
		goto out;
	}
	r = check_validity(has_nb, id->not_before, has_na, id->not_after, now, why, whylen);
	if (r != 0 || (r = fill_empty(id)) != 0)
		goto out;
	*out = id;
	id = NULL; /* transferred */
	r = 0;
out:
	if (r == TB_ERR_ALLOC)
		tb_whyf(why, whylen, "out of memory");
	free(hash);
	tb_identity_free(id);
	return r;
}
