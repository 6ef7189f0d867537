/*
 * test_keys.c: unit tests of keys.c: loading, refusals (key files others may read among them),
 * the JWK Set, kids and JWS signatures.
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b64.h"
#include "err.h"
#include "json.h"
#include "keys.h"
#include "tap.h"

#define PATH_MAX_LEN 4096
#define CLAIMS "{\"iss\":\"https://broker.example.net\",\"sub\":\"client\",\"exp\":1795392300}"

/*
 * The key fixtures, copied into a directory of this test's with mode 0600: a checkout gives
 * them mode 0644 (or 0664), and keys.c refuses a key that others may read.
 */
static const char *const key_fixtures[] = {"rsa2048.pem", "p256.pem", "rsa1024.pem", "p384.pem",
    "ed25519.pem", "rsa2048-encrypted.pem", "not-a-key.pem", "make-fixtures.sh"};
static char keydir[] = "/tmp/tb-keys-XXXXXX";

/* The path of the private copy of tests/fixtures/name, in buf. */
static const char *
fixture_path(const char *name, char buf[PATH_MAX_LEN])
{
	snprintf(buf, PATH_MAX_LEN, "%s/%s", keydir, name);
	return buf;
}

/* Copies src to dst and gives dst mode (chmod: no umask in the way); 0 on success. */
static int
copy_file(const char *src, const char *dst, mode_t mode)
{
	char chunk[4096];
	FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
	size_t n;
	int r = in != NULL && out != NULL ? 0 : -1;

	while (r == 0 && (n = fread(chunk, 1, sizeof(chunk), in)) > 0)
		if (fwrite(chunk, 1, n, out) != n)
			r = -1;
	if (in != NULL)
		fclose(in);
	if (out != NULL && fclose(out) != 0)
		r = -1;
	return r == 0 ? chmod(dst, mode) : r;
}

/* Makes keydir and the 0600 copies of the fixtures from $TB_SRCDIR (or .)/tests/fixtures. */
static int
copy_fixtures(void)
{
	const char *src = getenv("TB_SRCDIR");
	char from[PATH_MAX_LEN], to[PATH_MAX_LEN];
	size_t i;

	if (mkdtemp(keydir) == NULL)
		return -1;
	for (i = 0; i < sizeof(key_fixtures) / sizeof(key_fixtures[0]); i++) {
		snprintf(from, sizeof(from), "%s/tests/fixtures/%s", src != NULL ? src : ".",
		    key_fixtures[i]);
		if (copy_file(from, fixture_path(key_fixtures[i], to), 0600) != 0)
			return -1;
	}
	return 0;
}

static void
remove_fixtures(void)
{
	char path[PATH_MAX_LEN];
	size_t i;

	for (i = 0; i < sizeof(key_fixtures) / sizeof(key_fixtures[0]); i++)
		unlink(fixture_path(key_fixtures[i], path));
	rmdir(keydir);
}

/* ---- RFC 7638 thumbprints ----------------------------------------------------------------------
 */

static void
test_thumbprint(void)
{
	/* RFC 7638 section 3.1: the example RSA key, members in the RFC's order, and its thumbprint
	 */
	static const char rfc7638[] =
	    "{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAt"
	    "VT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-"
	    "5JsGY4Hc5n9yBXArwl93l"
	    "qt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
	    "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn"
	    "1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-"
	    "csF"
	    "Cur-kEgU8awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}";
	static const struct {
		const char *name, *jwk;
		int want;         /* 0, or the error */
		const char *same; /* when set, must give the same thumbprint as this JWK */
	} cases[] = {
	    {"EC members in any order",
	        "{\"y\":\"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM\",\"x\":"
	        "\"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4\",\"use\":\"enc\",\"crv\":\"P-256\","
	        "\"kty\":\"EC\"}",
	        0,
	        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
	        "\"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4\","
	        "\"y\":\"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM\"}"},
	    {"optional members ignored",
	        "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"AQAB\",\"kid\":\"x\"}", 0,
	        "{\"n\":\"AQAB\",\"e\":\"AQAB\",\"kty\":\"RSA\"}"},
	    {"oct", "{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKUg\"}", 0, NULL},
	    {"OKP",
	        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_"
	        "7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
	        0, NULL},
	    {"not JSON", "{\"kty\":", TB_ERR_INVALID, NULL},
	    {"an array", "[1,2]", TB_ERR_INVALID, NULL},
	    {"no kty", "{\"e\":\"AQAB\",\"n\":\"AQAB\"}", TB_ERR_INVALID, NULL},
	    {"unknown kty", "{\"kty\":\"DSA\",\"y\":\"AQAB\"}", TB_ERR_INVALID, NULL},
	    {"RSA without n", "{\"kty\":\"RSA\",\"e\":\"AQAB\"}", TB_ERR_INVALID, NULL},
	    {"EC with a number x", "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":1,\"y\":\"AQAB\"}",
	        TB_ERR_INVALID, NULL},
	};
	char *kid = NULL, *other = NULL;
	size_t i;

	is_int(tb_jwk_thumbprint(rfc7638, &kid), 0, "RFC 7638 3.1: thumbprint computed");
	is_str(kid, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", "RFC 7638 3.1: the RFC's value");
	free(kid);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kid = other = NULL;
		is_int(tb_jwk_thumbprint(cases[i].jwk, &kid), cases[i].want, "thumbprint: %s",
		    cases[i].name);
		if (cases[i].want == 0)
			ok(kid != NULL && strlen(kid) == 43 && strchr(kid, '=') == NULL,
			    "thumbprint: %s: 43 base64url characters", cases[i].name);
		else
			ok(kid == NULL, "thumbprint: %s: no output", cases[i].name);
		if (cases[i].same != NULL) {
			tb_jwk_thumbprint(cases[i].same, &other);
			is_str(
			    kid, other, "thumbprint: %s: same as canonical order", cases[i].name);
		}
		free(kid);
		free(other);
	}
	is_int(tb_jwk_thumbprint(NULL, &kid), TB_ERR_INVALID, "thumbprint: NULL refused");
}

/* ---- verifying with the published key ------------------------------------------------------- */

/* A base64url member of a JWK as a big number. */
static BIGNUM *
member_bn(const struct tb_json *jwk, const char *name)
{
	const char *v = tb_json_get_str(jwk, name);
	unsigned char *bytes = NULL;
	size_t n = 0;
	BIGNUM *bn = NULL;

	if (v != NULL && tb_b64_decode(v, strlen(v), TB_B64_URL, &bytes, &n) == 0)
		bn = BN_bin2bn(bytes, (int)n, NULL);
	free(bytes);
	return bn;
}

/* Rebuilds a public key from a JWK of the JWK Set (n/e or crv/x/y), not from the private key. */
static EVP_PKEY *
jwk_public_key(const struct tb_json *jwk)
{
	const char *kty = tb_json_get_str(jwk, "kty");
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *a = NULL, *b = NULL;
	unsigned char point[65];

	if (bld == NULL || kty == NULL)
		goto out;
	if (strcmp(kty, "RSA") == 0) {
		if ((a = member_bn(jwk, "n")) == NULL || (b = member_bn(jwk, "e")) == NULL ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, a) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, b))
			goto out;
	} else if (strcmp(kty, "EC") == 0) {
		const char *x = tb_json_get_str(jwk, "x"), *y = tb_json_get_str(jwk, "y");
		unsigned char *xb = NULL, *yb = NULL;
		size_t xn = 0, yn = 0;
		int good;

		good = x != NULL && y != NULL &&
		       tb_b64_decode(x, strlen(x), TB_B64_URL, &xb, &xn) == 0 &&
		       tb_b64_decode(y, strlen(y), TB_B64_URL, &yb, &yn) == 0 && xn == 32 &&
		       yn == 32;
		if (good) {
			point[0] = 0x04; /* uncompressed */
			memcpy(point + 1, xb, 32);
			memcpy(point + 33, yb, 32);
		}
		free(xb);
		free(yb);
		if (!good ||
		    !OSSL_PARAM_BLD_push_utf8_string(
		        bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(
		        bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)))
			goto out;
	} else {
		goto out;
	}
	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, kty, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(a);
	BN_free(b);
	return pkey;
}

/* The public half of a fixture key file, read by OpenSSL itself. */
static EVP_PKEY *
file_key(const char *name)
{
	char path[PATH_MAX_LEN];
	EVP_PKEY *pkey = NULL;
	FILE *f = fopen(fixture_path(name, path), "r");

	if (f != NULL) {
		pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	return pkey;
}

/* Verifies a compact JWS with a public key; ES256 signatures come as r||s. */
static int
verify(EVP_PKEY *pub, const char *alg, const char *jwt, size_t *siglen_out)
{
	const char *dot = strrchr(jwt, '.');
	unsigned char *sig = NULL, *der = NULL;
	size_t siglen = 0;
	int derlen, good = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ECDSA_SIG *es = NULL;

	if (md == NULL || dot == NULL ||
	    tb_b64_decode(dot + 1, strlen(dot + 1), TB_B64_URL, &sig, &siglen) != 0)
		goto out;
	*siglen_out = siglen;
	if (strcmp(alg, "ES256") == 0) {
		BIGNUM *r, *s;

		if (siglen != 64 || (es = ECDSA_SIG_new()) == NULL)
			goto out;
		r = BN_bin2bn(sig, 32, NULL);
		s = BN_bin2bn(sig + 32, 32, NULL);
		if (r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
			BN_free(r);
			BN_free(s);
			goto out;
		}
		if ((derlen = i2d_ECDSA_SIG(es, &der)) <= 0)
			goto out;
		free(sig);
		if ((sig = malloc((size_t)derlen)) == NULL)
			goto out;
		memcpy(sig, der, (size_t)derlen);
		siglen = (size_t)derlen;
	}
	good =
	    EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, pub, NULL) == 1 &&
	    EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt, (size_t)(dot - jwt)) == 1;
out:
	ECDSA_SIG_free(es);
	OPENSSL_free(der);
	free(sig);
	EVP_MD_CTX_free(md);
	return good;
}

/* Decodes the n-th (0-based) base64url part of a compact JWS into a new string. */
static char *
jws_part(const char *jwt, int n)
{
	const char *start = jwt, *end;
	unsigned char *out = NULL;
	size_t len = 0;

	while (n-- > 0 && start != NULL)
		if ((start = strchr(start, '.')) != NULL)
			start++;
	if (start == NULL)
		return NULL;
	end = strchr(start, '.');
	if (tb_b64_decode(start, end != NULL ? (size_t)(end - start) : strlen(start), TB_B64_URL,
	        &out, &len) != 0)
		return NULL;
	return (char *)out;
}

/* ---- loading and signing -------------------------------------------------------------------- */

static void
test_load_and_sign(void)
{
	static const struct {
		const char *files[2];
		size_t n;
		const char *algs[2];
	} cases[] = {
	    {{"rsa2048.pem"}, 1, {"RS256"}},
	    {{"p256.pem"}, 1, {"ES256"}},
	    {{"rsa2048.pem", "p256.pem"}, 2, {"RS256", "ES256"}},
	    {{"p256.pem", "rsa2048.pem"}, 2, {"ES256", "RS256"}},
	};
	char paths[2][PATH_MAX_LEN], why[256], want[512];
	const char *files[2];
	struct tb_keyset *ks;
	struct tb_json *set, *keys, *jwk;
	EVP_PKEY *pub, *priv;
	char *jwt, *part, *kid, *text;
	size_t c, i, siglen;
	int r;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const char *name = cases[c].files[0];

		for (i = 0; i < cases[c].n; i++)
			files[i] = fixture_path(cases[c].files[i], paths[i]);
		ks = NULL;
		r = tb_keyset_load(files, cases[c].n, &ks, why, sizeof(why));
		is_int(r, 0, "%s (+%zu): loaded (%s)", name, cases[c].n - 1, r == 0 ? "ok" : why);
		if (r != 0)
			continue;
		is_int(tb_keyset_count(ks), cases[c].n, "%s: key count", name);

		/* the JWK Set: one JWK a key, with its members, and each kid its thumbprint */
		set = NULL;
		is_int(tb_json_parse(tb_keyset_jwks(ks), strlen(tb_keyset_jwks(ks)), &set), 0,
		    "%s: JWK Set is JSON", name);
		keys = tb_json_get(set, "keys");
		ok(tb_json_is_array(keys) && tb_json_len(keys) == cases[c].n,
		    "%s: JWK Set holds %zu keys", name, cases[c].n);
		/* a key more than the case expects fails the count above, not strcmp(NULL) */
		for (i = 0; i < tb_json_len(keys) && i < cases[c].n; i++) {
			const char *alg = cases[c].algs[i];
			int ec = strcmp(alg, "ES256") == 0;

			jwk = tb_json_at(keys, i);
			is_str(tb_keyset_alg(ks, i), alg, "%s: key %zu alg", name, i);
			is_str(tb_json_get_str(jwk, "kty"), ec ? "EC" : "RSA", "%s: key %zu kty",
			    name, i);
			is_str(tb_json_get_str(jwk, "use"), "sig", "%s: key %zu use", name, i);
			is_str(tb_json_get_str(jwk, "alg"), alg, "%s: key %zu alg member", name, i);
			is_str(tb_json_get_str(jwk, "kid"), tb_keyset_kid(ks, i), "%s: key %zu kid",
			    name, i);
			if (ec) {
				is_str(tb_json_get_str(jwk, "crv"), "P-256", "%s: key %zu crv",
				    name, i);
				ok(tb_json_get_str(jwk, "x") != NULL &&
				        strlen(tb_json_get_str(jwk, "x")) == 43 &&
				        tb_json_get_str(jwk, "y") != NULL &&
				        strlen(tb_json_get_str(jwk, "y")) == 43,
				    "%s: key %zu x and y are 32 bytes", name, i);
			} else {
				ok(tb_json_get_str(jwk, "n") != NULL &&
				        tb_json_get_str(jwk, "e") != NULL,
				    "%s: key %zu n and e", name, i);
				ok(tb_json_get_str(jwk, "n")[0] != 'A',
				    "%s: key %zu n has no leading zero byte", name, i);
			}
			ok(tb_json_get(jwk, "d") == NULL && tb_json_get(jwk, "p") == NULL,
			    "%s: key %zu has no private member", name, i);
			text = kid = NULL;
			tb_json_render(jwk, &text);
			is_int(tb_jwk_thumbprint(text, &kid), 0, "%s: key %zu thumbprint", name, i);
			is_str(kid, tb_keyset_kid(ks, i),
			    "%s: key %zu kid is its RFC 7638 thumbprint", name, i);
			free(kid);
			free(text);
			/* the published key is the file's key */
			pub = jwk_public_key(jwk);
			priv = file_key(cases[c].files[i]);
			ok(pub != NULL && priv != NULL && EVP_PKEY_eq(pub, priv) == 1,
			    "%s: key %zu JWK is the public half of the file's key", name, i);
			EVP_PKEY_free(priv);
			EVP_PKEY_free(pub);
		}

		/* a JWS with the first key, verified with the key rebuilt from the JWK Set */
		jwt = NULL;
		is_int(tb_keyset_sign(ks, CLAIMS, &jwt), 0, "%s: signed", name);
		if (jwt != NULL) {
			part = jws_part(jwt, 0);
			snprintf(want, sizeof(want),
			    "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", cases[c].algs[0],
			    tb_keyset_kid(ks, 0));
			is_str(part, want, "%s: JOSE header", name);
			free(part);
			part = jws_part(jwt, 1);
			is_str(part, CLAIMS, "%s: payload is the claims", name);
			free(part);
			ok(strchr(jwt, '=') == NULL && strchr(jwt, '+') == NULL &&
			        strchr(jwt, '/') == NULL,
			    "%s: compact form is unpadded base64url", name);
			pub = jwk_public_key(tb_json_at(keys, 0));
			siglen = 0;
			ok(pub != NULL && verify(pub, cases[c].algs[0], jwt, &siglen),
			    "%s: signature verifies with the published key", name);
			if (strcmp(cases[c].algs[0], "ES256") == 0)
				is_int(siglen, 64, "%s: ES256 signature is r||s, 64 bytes", name);
			else
				is_int(siglen, 256, "%s: RS256 signature is 256 bytes", name);
			/* and a changed payload does not */
			jwt[strchr(jwt, '.') - jwt + 1] ^= 1;
			ok(!verify(pub, cases[c].algs[0], jwt, &siglen),
			    "%s: a changed payload fails verification", name);
			EVP_PKEY_free(pub);
			free(jwt);
		}
		tb_json_free(set);
		tb_keyset_free(ks);
	}
}

static void
test_refused(void)
{
	static const struct {
		const char *files[3];
		size_t n;
		int want;
		const char *why; /* after "SIGNING_KEYS: <path of the last file>: " */
	} cases[] = {
	    {{"rsa1024.pem"}, 1, TB_ERR_CONFIG, "RSA key of 1024 bits; need 2048 or more"},
	    {{"p384.pem"}, 1, TB_ERR_CONFIG, "EC key on secp384r1; only P-256"},
	    {{"ed25519.pem"}, 1, TB_ERR_CONFIG,
	        "ED25519 key; only RSA (2048 bits or more) and EC P-256"},
	    {{"rsa2048-encrypted.pem"}, 1, TB_ERR_CONFIG, "encrypted keys are not supported"},
	    {{"not-a-key.pem"}, 1, TB_ERR_CONFIG, "not a PEM private key"},
	    {{"make-fixtures.sh"}, 1, TB_ERR_CONFIG, "not a PEM private key"},
	    {{"no-such-key.pem"}, 1, TB_ERR_IO, "No such file or directory"},
	    {{"."}, 1, TB_ERR_CONFIG, "not a regular file (a directory)"},
	    {{"rsa2048.pem", "p256.pem", "rsa1024.pem"}, 3, TB_ERR_CONFIG, "RSA key of 1024 bits"},
	    {{"rsa2048.pem", "p256.pem", "rsa2048.pem"}, 3, TB_ERR_CONFIG, "the same key as "},
	};
	char paths[3][PATH_MAX_LEN], why[512], want[PATH_MAX_LEN + 128];
	const char *files[TB_KEYS_MAX + 1];
	struct tb_keyset *ks;
	size_t c, i;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (i = 0; i < cases[c].n; i++)
			files[i] = fixture_path(cases[c].files[i], paths[i]);
		ks = (struct tb_keyset *)1;
		is_int(tb_keyset_load(files, cases[c].n, &ks, why, sizeof(why)), cases[c].want,
		    "refused: %s", cases[c].files[cases[c].n - 1]);
		ok(ks == NULL, "refused: %s: no keyset", cases[c].files[cases[c].n - 1]);
		snprintf(want, sizeof(want), "SIGNING_KEYS: %s: %s", files[cases[c].n - 1],
		    cases[c].why);
		ok(strncmp(why, want, strlen(want)) == 0, "refused: reason '%s'", why);
	}

	/* an empty name in the list */
	files[0] = fixture_path("p256.pem", paths[0]);
	files[1] = "";
	is_int(
	    tb_keyset_load(files, 2, &ks, why, sizeof(why)), TB_ERR_CONFIG, "empty name refused");
	is_str(why, "SIGNING_KEYS: an empty file name", "empty name: reason");

	/* too few and too many files */
	is_int(tb_keyset_load(files, 0, &ks, why, sizeof(why)), TB_ERR_CONFIG, "no files refused");
	is_str(why, "SIGNING_KEYS: no key files", "no files: reason");
	for (i = 0; i < TB_KEYS_MAX + 1; i++)
		files[i] = paths[0];
	is_int(tb_keyset_load(files, TB_KEYS_MAX + 1, &ks, why, sizeof(why)), TB_ERR_CONFIG,
	    "more than TB_KEYS_MAX files refused");
	is_str(why, "SIGNING_KEYS: 9 files; at most 8", "too many: reason");
}

/* A key that others may read is refused, naming the file and the mode; group read is fine. */
static void
test_modes(void)
{
	static const struct {
		mode_t mode;
		int want;
		const char *why; /* after "SIGNING_KEYS: <path>: " */
	} cases[] = {
	    {0600, 0, NULL},
	    {0640, 0, NULL},
	    {0644, TB_ERR_CONFIG, "readable by others (mode 0644)"},
	    {0664, TB_ERR_CONFIG, "readable by others (mode 0664)"},
	    {0660, TB_ERR_CONFIG, "writable by group (mode 0660)"},
	};
	char path[PATH_MAX_LEN], why[512], want[PATH_MAX_LEN + 128];
	const char *files[1] = {fixture_path("p256.pem", path)};
	struct tb_keyset *ks;
	size_t c;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		chmod(path, cases[c].mode);
		ks = NULL;
		is_int(tb_keyset_load(files, 1, &ks, why, sizeof(why)), cases[c].want,
		    "a key of mode %04o: %s", (unsigned)cases[c].mode,
		    cases[c].want == 0 ? "loaded" : "refused");
		if (cases[c].why != NULL) {
			snprintf(want, sizeof(want), "SIGNING_KEYS: %s: %s", path, cases[c].why);
			ok(ks == NULL && strncmp(why, want, strlen(want)) == 0,
			    "mode %04o: the reason names the file and the mode (%s)",
			    (unsigned)cases[c].mode, why);
		}
		tb_keyset_free(ks);
	}
	chmod(path, 0600);
}

static void
test_edges(void)
{
	char path[PATH_MAX_LEN], why[256];
	const char *files[1] = {fixture_path("p256.pem", path)};
	struct tb_keyset *ks = NULL;
	char *jwt = NULL, *big;

	tb_keyset_free(NULL);
	ok(1, "tb_keyset_free(NULL) is a no-op");
	ok(tb_keyset_count(NULL) == 0 && tb_keyset_jwks(NULL) == NULL &&
	        tb_keyset_alg(NULL, 0) == NULL && tb_keyset_kid(NULL, 0) == NULL,
	    "accessors take NULL");
	is_int(tb_keyset_sign(NULL, CLAIMS, &jwt), TB_ERR_INVALID, "sign without keys refused");
	if (tb_keyset_load(files, 1, &ks, why, sizeof(why)) != 0) {
		ok(0, "p256 loads");
		return;
	}
	ok(tb_keyset_alg(ks, 1) == NULL && tb_keyset_kid(ks, 1) == NULL,
	    "index past the end: NULL");
	is_int(tb_keyset_sign(ks, NULL, &jwt), TB_ERR_INVALID, "sign NULL claims refused");
	ok(jwt == NULL, "no JWT on failure");
	if ((big = malloc(64 * 1024 + 2)) != NULL) {
		memset(big, 'a', 64 * 1024 + 1);
		big[64 * 1024 + 1] = '\0';
		is_int(tb_keyset_sign(ks, big, &jwt), TB_ERR_LIMIT, "claims over the cap refused");
		free(big);
	}
	/* two signatures over the same claims differ (ECDSA is randomised) yet both verify */
	{
		char *a = NULL, *b = NULL;

		tb_keyset_sign(ks, CLAIMS, &a);
		tb_keyset_sign(ks, CLAIMS, &b);
		ok(a != NULL && b != NULL && strcmp(a, b) != 0, "ES256 signatures are fresh");
		free(a);
		free(b);
	}
	tb_keyset_free(ks);
}

int
main(void)
{
	if (copy_fixtures() != 0) {
		ok(0, "copy the key fixtures into %s (is TB_SRCDIR set?)", keydir);
		remove_fixtures();
		return done_testing();
	}
	test_thumbprint();
	test_load_and_sign();
	test_refused();
	test_modes();
	test_edges();
	remove_fixtures();
	return done_testing();
}
