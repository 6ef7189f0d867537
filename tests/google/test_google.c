/* test_google.c: drives src/google.c against tests/google/standin.py and prints TAP. */
/*
 * Usage: test_google config
 *        test_google ok PORT DIR        (DIR holds signing-rsa.pem, maybe signing-ec.pem)
 *        test_google fail MODE PORT DIR
 *        test_google tls PORT
 * DIR receives jwks.json (the stand-in reads it to verify subject tokens), and the ok scenario
 * leaves signed.jwt and payload.json there for google.sh to check against the stand-in's keys.
 * Requests are checked afterwards from the stand-in's record by tests/google/record.py.
 */
#include <curl/curl.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../unit/tap.h"
#include "b64.h"
#include "buf.h"
#include "err.h"
#include "google.h"
#include "log.h"

#define AUDIENCE                                                                                   \
	"//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/"       \
	"test-pool/providers/test-provider"
#define SCOPE                                                                                      \
	"https://www.googleapis.com/auth/cloud-platform "                                          \
	"https://www.googleapis.com/auth/userinfo.email"
#define SA "sa@test-project.iam.gserviceaccount.com"
#define META_SA "broker@test-project.iam.gserviceaccount.com"
#define TIMEOUT 2 /* UPSTREAM_TIMEOUT for these tests */

static char base[64], meta[64], dir[1024];

static char *
path_in(const char *name)
{
	static char p[1200];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

static int
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int
starts(const char *s, const char *prefix)
{
	return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- test keys: signing subject tokens as the broker would -------------------------------- */

struct key {
	EVP_PKEY *pkey;
	const char *alg, *kid;
};

static EVP_PKEY *
load_key(const char *file)
{
	FILE *f = fopen(file, "r");
	EVP_PKEY *k;

	if (f == NULL)
		return NULL;
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

static char *
b64u(const unsigned char *p, size_t n)
{
	char *out = NULL;

	if (tb_b64_encode(p, n, TB_B64_URL | TB_B64_NOPAD, &out) != 0)
		return NULL;
	return out;
}

static char *
bn_param(EVP_PKEY *k, const char *name, size_t pad)
{
	BIGNUM *bn = NULL;
	unsigned char buf[1024];
	int n;
	char *out;

	if (!EVP_PKEY_get_bn_param(k, name, &bn))
		return NULL;
	n = pad ? BN_bn2binpad(bn, buf, (int)pad) : BN_bn2bin(bn, buf);
	BN_free(bn);
	if (n <= 0)
		return NULL;
	out = b64u(buf, (size_t)n);
	return out;
}

/* The JWK Set of the test keys, for the stand-in (--jwks). */
static int
write_jwks(struct key *keys, size_t n)
{
	struct tb_buf b;
	int r;

	tb_buf_init(&b, 65536);
	tb_buf_addstr(&b, "{\"keys\":[");
	for (size_t i = 0; i < n; i++) {
		char *a, *c;

		if (strcmp(keys[i].alg, "RS256") == 0) {
			a = bn_param(keys[i].pkey, OSSL_PKEY_PARAM_RSA_N, 0);
			c = bn_param(keys[i].pkey, OSSL_PKEY_PARAM_RSA_E, 0);
			tb_buf_addf(&b,
			    "%s{\"kty\":\"RSA\",\"alg\":\"RS256\",\"use\":\"sig\",\"kid\":\"%s\","
			    "\"n\":\"%s\",\"e\":\"%s\"}",
			    i ? "," : "", keys[i].kid, a, c);
		} else {
			a = bn_param(keys[i].pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32);
			c = bn_param(keys[i].pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
			tb_buf_addf(&b,
			    "%s{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ES256\",\"use\":\"sig\","
			    "\"kid\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}",
			    i ? "," : "", keys[i].kid, a, c);
		}
		free(a);
		free(c);
	}
	tb_buf_addstr(&b, "]}");
	r = write_file(path_in("jwks.json"), b.data);
	tb_buf_free(&b);
	return r;
}

/* A compact JWS of claims with key k (ES256 in the raw r||s form). */
static char *
sign_jwt(struct key *k, const char *claims)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char sig[1024], raw[64];
	size_t siglen = sizeof(sig);
	char header[128], *h, *c, *s = NULL, *out = NULL;
	struct tb_buf b;

	snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", k->alg,
	    k->kid);
	h = b64u((const unsigned char *)header, strlen(header));
	c = b64u((const unsigned char *)claims, strlen(claims));
	tb_buf_init(&b, 65536);
	tb_buf_addf(&b, "%s.%s", h, c);
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k->pkey) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (unsigned char *)b.data, b.len) != 1)
		goto out;
	if (strcmp(k->alg, "ES256") == 0) {
		const unsigned char *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);

		if (es == NULL)
			goto out;
		BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
		BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
		ECDSA_SIG_free(es);
		s = b64u(raw, 64);
	} else {
		s = b64u(sig, siglen);
	}
	tb_buf_addf(&b, ".%s", s);
	out = tb_buf_detach(&b);
out:
	EVP_MD_CTX_free(md);
	free(h);
	free(c);
	free(s);
	tb_buf_free(&b);
	return out;
}

static char *
id_token(struct key *k, const char *aud, time_t exp)
{
	char claims[1024];

	snprintf(claims, sizeof(claims),
	    "{\"iss\":\"https://broker.test\",\"aud\":\"%s\",\"sub\":\"client-1\",\"iat\":%lld,"
	    "\"exp\":%lld}",
	    aud, (long long)time(NULL) - 10, (long long)exp);
	return sign_jwt(k, claims);
}

/* ---- the stand-in's control endpoint ------------------------------------------------------- */

static size_t
discard(char *p, size_t s, size_t n, void *a)
{
	(void)p;
	(void)a;
	return s * n;
}

static int
control(const char *json)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	char url[128];
	long status = 0;
	CURLcode cc;

	snprintf(url, sizeof(url), "%s/_control", base);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return cc == CURLE_OK && status == 200 ? 0 : -1;
}

/* ---- scenarios ----------------------------------------------------------------------------- */

static int
detail_ok(const char *detail)
{
	size_t n = strnlen(detail, TB_DETAIL_MAX);

	return n < TB_DETAIL_MAX && strstr(detail, "sts-") == NULL &&
	       strstr(detail, "meta-") == NULL && strstr(detail, "sa-") == NULL;
}

static int
new_client(struct tb_google **g)
{
	return tb_google_new(base, base, meta, TIMEOUT, g);
}

/* s with control characters shown as \xNN, for test names (static storage). */
static const char *
shown(const char *s)
{
	static char out[256];
	size_t n = 0;

	for (; *s != '\0' && n + 5 < sizeof(out); s++) {
		if ((unsigned char)*s < 0x20)
			n += (size_t)snprintf(
			    out + n, sizeof(out) - n, "\\x%02x", (unsigned char)*s);
		else
			out[n++] = *s;
	}
	out[n] = '\0';
	return out;
}

static void
scenario_config(void)
{
	static const struct {
		const char *url;
		int ok;
	} urls[] = {
	    {"https://sts.googleapis.com", 1},
	    {"https://sts.googleapis.com/", 1},
	    {"https://private.googleapis.com:8443/base", 1},
	    {"HTTPS://STS.GOOGLEAPIS.COM", 1},
	    {"http://127.0.0.1:8080", 1},
	    {"http://127.5.6.7", 1},
	    {"http://[::1]:9", 1},
	    {"http://localhost:1", 1},
	    {"HTTP://LocalHost", 1},
	    {"http://example.com", 0},
	    {"http://sts.googleapis.com", 0},
	    {"http://10.0.0.1", 0},
	    {"http://[::2]", 0},
	    {"http://[::1", 0},
	    {"http://127.0.0.1.example.com", 0},
	    {"http://localhost.example.com", 0},
	    {"http://127.0.0.1@example.com", 0},
	    {"https://user:pw@sts.googleapis.com", 0},
	    {"ftp://127.0.0.1", 0},
	    {"file:///etc/passwd", 0},
	    {"sts.googleapis.com", 0},
	    {"https://", 0},
	    {"https://:443", 0},
	    {"https://host:99999999", 0},
	    {"https://host:8x", 0},
	    {"https://host?x=1", 0},
	    {"https://host#frag", 0},
	    {"https://ho st", 0},
	    {"https://host\r\nX: y", 0},
	    {"", 0},
	};
	static const struct {
		const char *host;
		int ok;
	} metas[] = {
	    {"metadata.google.internal", 1},
	    {"169.254.169.254", 1},
	    {"127.0.0.1:8080", 1},
	    {"[::1]:80", 1},
	    {"http://metadata", 0},
	    {"meta data", 0},
	    {"host/path", 0},
	    {"", 0},
	    {"host:", 0},
	};
	struct tb_google *g;
	int r;

	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		g = NULL;
		r = tb_google_new(urls[i].url, "https://iamcredentials.googleapis.com",
		    "metadata.google.internal", 10, &g);
		is_int(r, urls[i].ok ? 0 : TB_ERR_CONFIG, "STS_ENDPOINT %s is %s",
		    shown(urls[i].url), urls[i].ok ? "accepted" : "refused");
		ok((r == 0) == (g != NULL), "  and *out is set only on success");
		tb_google_free(g);
		g = NULL;
		r = tb_google_new(
		    "https://sts.googleapis.com", urls[i].url, "metadata.google.internal", 10, &g);
		is_int(r, urls[i].ok ? 0 : TB_ERR_CONFIG, "IAMCREDENTIALS_ENDPOINT %s is %s",
		    shown(urls[i].url), urls[i].ok ? "accepted" : "refused");
		tb_google_free(g);
	}
	for (size_t i = 0; i < sizeof(metas) / sizeof(metas[0]); i++) {
		g = NULL;
		r = tb_google_new("https://sts.googleapis.com",
		    "https://iamcredentials.googleapis.com", metas[i].host, 10, &g);
		is_int(r, metas[i].ok ? 0 : TB_ERR_CONFIG, "GCE_METADATA_HOST '%s' is %s",
		    metas[i].host, metas[i].ok ? "accepted" : "refused");
		tb_google_free(g);
	}
	g = NULL;
	is_int(tb_google_new(NULL, "https://a.b", "m", 10, &g), TB_ERR_CONFIG,
	    "a NULL URL is refused");
	is_int(tb_google_new("https://a.b", "https://a.b", NULL, 10, &g), TB_ERR_CONFIG,
	    "a NULL metadata host is refused");
	is_int(tb_google_new("https://a.b", "https://a.b", "m", 0, &g), TB_ERR_CONFIG,
	    "a zero timeout is refused");
	is_int(tb_google_new("https://a.b", "https://a.b", "m", -5, &g), TB_ERR_CONFIG,
	    "a negative timeout is refused");
	tb_google_free(NULL);
	ok(1, "tb_google_free(NULL) is a no-op");
}

static void
scenario_ok(struct key *keys, size_t nkeys)
{
	struct tb_google *g = NULL;
	char detail[TB_DETAIL_MAX], *tok = NULL, *tok2 = NULL, *sa = NULL, *jwt = NULL,
	                            *jwt2 = NULL, *email = NULL, *idt;
	int64_t exp = 0;
	time_t now = time(NULL);
	char payload[512];
	int r;

	is_int(new_client(&g), 0, "tb_google_new with the stand-in for all three APIs");
	if (g == NULL)
		return;

	/* STS */
	idt = id_token(&keys[0], "https:" AUDIENCE, now + 300);
	r = tb_google_sts_exchange(g, AUDIENCE, idt, SCOPE, &tok, &exp, detail);
	is_int(r, 0, "STS exchange of an RS256 ID token");
	ok(tok != NULL && starts(tok, "sts-"), "  gives the stand-in's access token");
	is_int(exp, 3599, "  with its expires_in");
	is_str(detail, "", "  and an empty detail");
	free(idt);
	idt = id_token(&keys[0], "https:" AUDIENCE, now + 300);
	r = tb_google_sts_exchange(g, AUDIENCE, idt,
	    "https://www.googleapis.com/auth/cloud-platform", &tok2, &exp, detail);
	is_int(r, 0, "a second STS exchange on the same client");
	ok(tok2 != NULL && tok != NULL && strcmp(tok, tok2) != 0, "  gives another token");
	tb_free_secret(tok2);
	tok2 = NULL;
	free(idt);
	if (nkeys > 1) {
		idt = id_token(&keys[1], "https:" AUDIENCE, now + 300);
		r = tb_google_sts_exchange(g, AUDIENCE, idt, SCOPE, &tok2, &exp, detail);
		is_int(r, 0, "STS exchange of an ES256 ID token");
		tb_free_secret(tok2);
		tok2 = NULL;
		free(idt);
	}
	idt = id_token(&keys[0], "https:" AUDIENCE, now - 60);
	r = tb_google_sts_exchange(g, AUDIENCE, idt, SCOPE, &tok2, &exp, detail);
	is_int(r, TB_ERR_DENIED, "an expired ID token: STS refuses (DENIED)");
	ok(starts(detail, "Token exchange failed with code invalid_grant: "),
	    "  detail is the original's text: %s", detail);
	ok(tok2 == NULL && exp == 0, "  and no token comes back");
	free(idt);
	idt = id_token(&keys[0],
	    "https://iam.googleapis.com/projects/1/locations/global/"
	    "workloadIdentityPools/other-pool/providers/other",
	    now + 300);
	r = tb_google_sts_exchange(g, AUDIENCE, idt, SCOPE, &tok2, &exp, detail);
	is_int(r, TB_ERR_DENIED, "an ID token for another audience: DENIED");
	ok(strstr(detail, "does not match the expected audience") != NULL, "  detail: %s", detail);
	r = tb_google_sts_exchange(
	    g, "//iam.googleapis.com/projects/x", idt, SCOPE, &tok2, &exp, detail);
	is_int(r, TB_ERR_DENIED, "a malformed audience: STS answers invalid_request (DENIED)");
	ok(starts(detail, "Token exchange failed with code invalid_request: "), "  detail: %s",
	    detail);
	r = tb_google_sts_exchange(g, AUDIENCE, idt, "", &tok2, &exp, detail);
	is_int(r, TB_ERR_REQUEST, "an empty scope is refused before any request");
	r = tb_google_sts_exchange(g, AUDIENCE, idt, "a\nb", &tok2, &exp, detail);
	is_int(r, TB_ERR_REQUEST, "a scope with a control character is refused");
	r = tb_google_sts_exchange(g, AUDIENCE, "two words", SCOPE, &tok2, &exp, detail);
	is_int(r, TB_ERR_INVALID, "a subject token with a space is refused");
	ok(detail_ok(detail), "  detail is terminated and carries no token");
	free(idt);

	/* generateAccessToken */
	r = tb_google_generate_access_token(
	    g, tok != NULL ? tok : "x", SA, SCOPE, 300, time(NULL), &sa, &exp, detail);
	is_int(r, 0, "generateAccessToken with the STS token");
	ok(sa != NULL && starts(sa, "sa-"), "  gives the stand-in's service-account token");
	ok(exp >= 298 && exp <= 301, "  expires_in from expireTime - now (%lld)", (long long)exp);
	tb_free_secret(sa);
	sa = NULL;
	r = tb_google_generate_access_token(
	    g, tok != NULL ? tok : "x", SA, SCOPE, 300, time(NULL) - 100, &sa, &exp, detail);
	ok(r == 0 && exp >= 398 && exp <= 401, "  expires_in follows the now argument (%lld)",
	    (long long)exp);
	tb_free_secret(sa);
	sa = NULL;
	r = tb_google_generate_access_token(
	    g, "sts-not-issued", SA, SCOPE, 300, now, &sa, &exp, detail);
	is_int(r, TB_ERR_DENIED, "a bearer Google does not know: DENIED");
	ok(starts(detail, "UNAUTHENTICATED: Request had invalid authentication credentials."),
	    "  detail is \"<status>: <message>\": %s", detail);
	ok(sa == NULL && exp == 0, "  and no token comes back");
	r = tb_google_generate_access_token(
	    g, tok != NULL ? tok : "x", SA, SCOPE, 7200, now, &sa, &exp, detail);
	is_int(r, TB_ERR_DENIED, "a lifetime over 3600 s: IAM refuses (DENIED)");
	ok(starts(detail, "INVALID_ARGUMENT: "), "  detail: %s", detail);
	r = tb_google_generate_access_token(
	    g, tok != NULL ? tok : "x", "not an email", SCOPE, 300, now, &sa, &exp, detail);
	is_int(r, TB_ERR_REQUEST, "an account that is not an email is refused before any request");
	r = tb_google_generate_access_token(
	    g, tok != NULL ? tok : "x", "a/b@c.d", SCOPE, 300, now, &sa, &exp, detail);
	is_int(r, TB_ERR_REQUEST, "an account with a slash is refused");
	r = tb_google_generate_access_token(
	    g, tok != NULL ? tok : "x", "default", SCOPE, 300, now, &sa, &exp, detail);
	is_int(r, TB_ERR_REQUEST, "\"default\" is for signJwt only");
	r = tb_google_generate_access_token(
	    g, tok != NULL ? tok : "x", SA, "   ", 300, now, &sa, &exp, detail);
	is_int(r, TB_ERR_REQUEST, "a scope of spaces is refused");
	r = tb_google_generate_access_token(
	    g, tok != NULL ? tok : "x", SA, SCOPE, 0, now, &sa, &exp, detail);
	is_int(r, TB_ERR_INVALID, "a zero lifetime is refused");
	r = tb_google_generate_access_token(
	    g, "bad\r\nX-Injected: 1", SA, SCOPE, 300, now, &sa, &exp, detail);
	is_int(r, TB_ERR_INVALID, "a bearer with CR LF is refused (no header injection)");

	/* the metadata server and signJwt */
	r = tb_google_default_account(g, &email, detail);
	is_int(r, 0, "the metadata server's default account");
	is_str(email, META_SA, "  is its email");
	free(email);
	email = NULL;
	r = tb_google_default_account(g, &email, detail);
	ok(r == 0 && email != NULL && strcmp(email, META_SA) == 0, "  asked again: cached");
	free(email);
	email = NULL;

	snprintf(payload, sizeof(payload),
	    "{\"iss\":\"https://"
	    "broker.test\",\"aud\":\"https:%s\",\"sub\":\"client-1\",\"iat\":%lld,"
	    "\"exp\":%lld}",
	    AUDIENCE, (long long)now, (long long)now + 300);
	write_file(path_in("payload.json"), payload);
	r = tb_google_sign_jwt(g, "default", payload, now, &jwt, detail);
	is_int(r, 0, "signJwt as \"default\"");
	ok(jwt != NULL && strchr(jwt, '.') != NULL, "  gives a compact JWS");
	if (jwt != NULL)
		write_file(path_in("signed.jwt"), jwt);
	r = tb_google_sign_jwt(g, "default", payload, now + 10, &jwt2, detail);
	is_int(r, 0, "signJwt again (the metadata token is cached)");
	free(jwt2);
	jwt2 = NULL;
	r = tb_google_sign_jwt(g, "default", payload, now + 3599 - 60, &jwt2, detail);
	is_int(r, 0, "signJwt at the token's expiry minus 60 s (asks for a new one)");
	free(jwt2);
	jwt2 = NULL;
	r = tb_google_sign_jwt(g, "other@test-project.iam.gserviceaccount.com", payload,
	    now + 3599 - 60, &jwt2, detail);
	is_int(r, 0, "signJwt as a named account (same token, still cached)");
	free(jwt2);
	jwt2 = NULL;
	ok(control("{\"forget\":true}") == 0, "the stand-in forgets the tokens it issued");
	r = tb_google_sign_jwt(g, "default", payload, now + 3599 - 60, &jwt2, detail);
	is_int(r, 0, "signJwt with a cached token IAM now refuses: renewed once, then signed");
	free(jwt2);
	jwt2 = NULL;
	r = tb_google_sign_jwt(g, "default", "not json", now, &jwt2, detail);
	is_int(r, TB_ERR_INVALID, "a payload that is not JSON is refused");
	r = tb_google_sign_jwt(g, "default", "[1,2]", now, &jwt2, detail);
	is_int(r, TB_ERR_INVALID, "a payload that is not an object is refused");
	r = tb_google_sign_jwt(g, "bad account", payload, now, &jwt2, detail);
	is_int(r, TB_ERR_REQUEST, "an account that is not an email is refused");
	snprintf(payload, sizeof(payload), "{\"sub\":\"x\",\"exp\":%lld}", (long long)now - 600);
	r = tb_google_sign_jwt(g, "default", payload, now + 3599 - 60, &jwt2, detail);
	is_int(r, TB_ERR_DENIED, "claims whose exp is past: IAM refuses (DENIED)");
	is_str(detail, "INVALID_ARGUMENT: JWT has expired.", "  with Google's text");
	ok(jwt2 == NULL, "  and no JWT comes back");

	tb_free_secret(tok);
	free(jwt);
	tb_google_free(g);
}

/* Every API in a failure mode: the code it maps to, and how long it took. */
static void
scenario_fail(const char *mode, struct key *keys)
{
	static const struct {
		const char *mode;
		int r;
	} want[] = {
	    {"refuse", TB_ERR_DENIED},
	    {"error500", TB_ERR_UNAVAILABLE},
	    {"hang", TB_ERR_UNAVAILABLE},
	    {"drop", TB_ERR_UNAVAILABLE},
	    {"garbage", TB_ERR_UPSTREAM},
	    {"huge", TB_ERR_UPSTREAM},
	};
	struct tb_google *g = NULL, *g2 = NULL;
	char detail[TB_DETAIL_MAX], *tok = NULL, *out = NULL, json[128];
	int64_t exp = 0;
	time_t now = time(NULL);
	const char *payload = "{\"sub\":\"x\"}";
	double t0, limit = TIMEOUT + 1.5;
	int expect = TB_ERR_INTERNAL, r;
	char *idt;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (strcmp(want[i].mode, mode) == 0)
			expect = want[i].r;
	}
	if (new_client(&g) != 0 || new_client(&g2) != 0) {
		ok(0, "tb_google_new");
		return;
	}
	idt = id_token(&keys[0], "https:" AUDIENCE, now + 300);

	ok(control("{\"sts\":\"ok\",\"iam\":\"ok\",\"meta\":\"ok\"}") == 0, "%s: modes reset",
	    mode);
	r = tb_google_sts_exchange(g, AUDIENCE, idt, SCOPE, &tok, &exp, detail);
	is_int(r, 0, "%s: an STS token to impersonate with", mode);

	snprintf(json, sizeof(json), "{\"sts\":\"%s\"}", mode);
	control(json);
	t0 = now_mono();
	r = tb_google_sts_exchange(g, AUDIENCE, idt, SCOPE, &out, &exp, detail);
	is_int(r, expect, "%s: STS gives %s", mode, tb_err_str(expect));
	ok(now_mono() - t0 < limit, "  within %.1f s (%.2f s)", limit, now_mono() - t0);
	ok(out == NULL && exp == 0 && detail[0] != '\0' && detail_ok(detail),
	    "  no token; detail: %s", detail);
	if (strcmp(mode, "refuse") == 0)
		is_str(detail,
		    "Token exchange failed with code invalid_target: The target service indicated "
		    "by "
		    "the \"audience\" parameters is invalid.",
		    "  with the original's text and Google's");
	tb_free_secret(out);
	out = NULL;

	snprintf(json, sizeof(json), "{\"sts\":\"ok\",\"iam\":\"%s\"}", mode);
	control(json);
	t0 = now_mono();
	r = tb_google_generate_access_token(
	    g, tok != NULL ? tok : "x", SA, SCOPE, 300, now, &out, &exp, detail);
	is_int(r, expect, "%s: generateAccessToken gives %s", mode, tb_err_str(expect));
	ok(now_mono() - t0 < limit, "  within %.1f s (%.2f s)", limit, now_mono() - t0);
	ok(out == NULL && exp == 0 && detail[0] != '\0' && detail_ok(detail),
	    "  no token; detail: %s", detail);
	if (strcmp(mode, "refuse") == 0)
		is_str(detail,
		    "PERMISSION_DENIED: Permission 'iam.serviceAccounts.getAccessToken' denied on "
		    "resource (or it may not exist).",
		    "  with Google's status and message");
	tb_free_secret(out);
	out = NULL;

	t0 = now_mono();
	r = tb_google_sign_jwt(g, "default", payload, now, &out, detail);
	is_int(r, expect, "%s: signJwt gives %s", mode, tb_err_str(expect));
	ok(now_mono() - t0 < limit, "  within %.1f s (%.2f s)", limit, now_mono() - t0);
	ok(out == NULL && detail[0] != '\0' && detail_ok(detail), "  no JWT; detail: %s", detail);
	free(out);
	out = NULL;

	/* the metadata server, on a client that has nothing cached */
	snprintf(json, sizeof(json), "{\"iam\":\"ok\",\"meta\":\"%s\"}", mode);
	control(json);
	t0 = now_mono();
	r = tb_google_default_account(g2, &out, detail);
	is_int(r, expect, "%s: the metadata email gives %s", mode, tb_err_str(expect));
	ok(now_mono() - t0 < limit, "  within %.1f s (%.2f s)", limit, now_mono() - t0);
	ok(out == NULL && detail[0] != '\0' && detail_ok(detail), "  no email; detail: %s", detail);
	t0 = now_mono();
	r = tb_google_sign_jwt(g2, META_SA, payload, now, &out, detail);
	is_int(
	    r, expect, "%s: signJwt needing a metadata token gives %s", mode, tb_err_str(expect));
	ok(now_mono() - t0 < limit, "  within %.1f s (%.2f s)", limit, now_mono() - t0);
	ok(out == NULL && detail[0] != '\0' && detail_ok(detail), "  no JWT; detail: %s", detail);
	free(out);
	out = NULL;

	/* and the same client recovers once Google does */
	control("{\"sts\":\"ok\",\"iam\":\"ok\",\"meta\":\"ok\"}");
	r = tb_google_sign_jwt(g2, "default", payload, now, &out, detail);
	is_int(r, 0, "%s: the client works again when the stand-in does", mode);
	free(out);

	tb_free_secret(tok);
	free(idt);
	tb_google_free(g);
	tb_google_free(g2);
}

/* https to a server whose certificate nobody trusts: verification is on. */
static void
scenario_tls(void)
{
	struct tb_google *g = NULL;
	char detail[TB_DETAIL_MAX], *tok = NULL, url[64];
	int64_t exp;
	int r;

	snprintf(url, sizeof(url), "https://127.0.0.1:%s", strrchr(base, ':') + 1);
	is_int(
	    tb_google_new(url, url, meta, TIMEOUT, &g), 0, "tb_google_new with an https stand-in");
	if (g == NULL)
		return;
	r = tb_google_sts_exchange(g, AUDIENCE, "a.b.c", SCOPE, &tok, &exp, detail);
	is_int(r, TB_ERR_UNAVAILABLE, "a certificate that does not verify: UNAVAILABLE");
	ok(strstr(detail, "SSL") != NULL, "  detail: %s", detail);
	tb_google_free(g);
}

int
main(int argc, char **argv)
{
	struct key keys[2] = {{NULL, "RS256", "test-rsa"}, {NULL, "ES256", "test-ec"}};
	size_t nkeys = 0;
	const char *scenario = argc > 1 ? argv[1] : "";
	const char *port;
	int argi = 2;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (strcmp(scenario, "config") == 0) {
		scenario_config();
		goto done;
	}
	if (strcmp(scenario, "fail") == 0)
		argi = 3;
	if (argc <= argi) {
		fprintf(stderr,
		    "usage: test_google config | ok PORT DIR | fail MODE PORT DIR | tls PORT\n");
		return 2;
	}
	port = argv[argi];
	snprintf(base, sizeof(base), "http://127.0.0.1:%s", port);
	snprintf(meta, sizeof(meta), "127.0.0.1:%s", port);
	if (strcmp(scenario, "tls") == 0) {
		scenario_tls();
		goto done;
	}
	if (argc <= argi + 1) {
		fprintf(stderr, "DIR missing\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[argi + 1]);
	if ((keys[0].pkey = load_key(path_in("signing-rsa.pem"))) == NULL) {
		ok(0, "load %s", path_in("signing-rsa.pem"));
		goto done;
	}
	nkeys = 1;
	if ((keys[1].pkey = load_key(path_in("signing-ec.pem"))) != NULL)
		nkeys = 2;
	ok(write_jwks(keys, nkeys) == 0, "the test keys' JWK Set for the stand-in (%zu keys)",
	    nkeys);
	if (strcmp(scenario, "ok") == 0)
		scenario_ok(keys, nkeys);
	else if (strcmp(scenario, "fail") == 0)
		scenario_fail(argv[2], keys);
	else
		ok(0, "unknown scenario %s", scenario);
done:
	for (size_t i = 0; i < 2; i++)
		EVP_PKEY_free(keys[i].pkey);
	curl_global_cleanup();
	return done_testing();
}
