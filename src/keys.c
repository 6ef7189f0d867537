/* keys.c: the broker's own signing keys: loading and checks, JWS signing, the JWK Set. */
#include "keys.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "buf.h"
#include "crypto.h"
#include "err.h"
#include "file.h"
#include "text.h"
#include "json.h"

#define KEY_FILE_MAX (64 * 1024) /* a PEM private key file; RSA 16384 is about 13 KiB */
#define RSA_BITS_MIN 2048
#define RSA_BITS_MAX 16384 /* bounds the JWK and the signature */
#define P256_LEN 32        /* bytes of a P-256 coordinate, and of r and s */
#define CURVE_NAME_MAX 64
#define CLAIMS_MAX (64 * 1024)     /* longest claims text tb_keyset_sign takes */
#define SIG_MAX (RSA_BITS_MAX / 8) /* longest signature: RSA at RSA_BITS_MAX */
#define JWT_MAX (2 * CLAIMS_MAX)   /* header, claims and signature in base64url */

struct key {
	EVP_PKEY *pkey;
	const char *alg; /* "RS256" or "ES256" */
	int ec;          /* ES256: the signature needs converting to r||s */
	char *kid;       /* RFC 7638 thumbprint */
};

struct tb_keyset {
	struct key keys[TB_KEYS_MAX];
	size_t n;
	char *jwks;   /* the public JWK Set, rendered once */
	char *header; /* base64url of the first key's JOSE header, so signing does no JSON work */
	/*
	 * The first key's signing context, set up once: EVP_DigestSignInit_ex looks the digest and
	 * the signature algorithm up in the providers by name, which cost a fifth of an ES256
	 * signature; each signature starts from a copy of this instead.
	 */
	EVP_MD_CTX *sign_init;
};

void
tb_keyset_free(struct tb_keyset *ks)
{
	size_t i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->n; i++) {
		EVP_PKEY_free(ks->keys[i].pkey);
		free(ks->keys[i].kid);
	}
	free(ks->jwks);
	free(ks->header);
	EVP_MD_CTX_free(ks->sign_init);
	free(ks);
}

/*
 * The RFC 7638 thumbprint of the members given in lexicographic order: SHA-256 over their JSON
 * object without whitespace (json-c keeps insertion order), in unpadded base64url.
 */
static int
thumbprint(const char *const names[], const char *const values[], size_t n, char **kid)
{
	unsigned char h[TB_SHA256_LEN];
	struct tb_json *o = NULL;
	char *text = NULL;
	size_t i;
	int r = TB_ERR_ALLOC;

	*kid = NULL;
	if ((o = tb_json_object()) == NULL)
		goto out;
	for (i = 0; i < n; i++)
		if ((r = tb_json_set_str(o, names[i], values[i])) != 0)
			goto out;
	if ((r = tb_json_render(o, &text)) != 0 || (r = tb_sha256(text, strlen(text), h)) != 0 ||
	    (r = tb_b64_encode(h, sizeof(h), TB_B64_URL | TB_B64_NOPAD, kid)) != 0)
		goto out;
	r = 0;
out:
	free(text);
	tb_json_free(o);
	return r;
}

int
tb_jwk_thumbprint(const char *jwk_json, char **kid)
{
	/* the required members of each key type, in lexicographic order (RFC 7638 3.2, RFC 8037) */
	static const struct {
		const char *kty;
		const char *members[4];
		size_t n;
	} kinds[] = {
	    {"RSA", {"e", "kty", "n"}, 3},
	    {"EC", {"crv", "kty", "x", "y"}, 4},
	    {"OKP", {"crv", "kty", "x"}, 3},
	    {"oct", {"k", "kty"}, 2},
	};
	const char *values[4];
	struct tb_json *jwk = NULL;
	const char *kty;
	size_t i, k;
	int r;

	*kid = NULL;
	if (jwk_json == NULL)
		return TB_ERR_INVALID;
	if ((r = tb_json_parse(jwk_json, strlen(jwk_json), &jwk)) != 0)
		return r;
	r = TB_ERR_INVALID;
	if (!tb_json_is_object(jwk) || (kty = tb_json_get_str(jwk, "kty")) == NULL)
		goto out;
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (strcmp(kty, kinds[k].kty) == 0)
			break;
	if (k == sizeof(kinds) / sizeof(kinds[0]))
		goto out;
	for (i = 0; i < kinds[k].n; i++)
		if ((values[i] = tb_json_get_str(jwk, kinds[k].members[i])) == NULL)
			goto out;
	r = thumbprint(kinds[k].members, values, kinds[k].n, kid);
out:
	tb_json_free(jwk);
	return r;
}

/* An unsigned big number as unpadded base64url: its minimal big-endian bytes, or exactly len. */
static int
bn_b64url(const BIGNUM *bn, int len, char **out)
{
	unsigned char buf[RSA_BITS_MAX / 8];
	int n = len > 0 ? len : BN_num_bytes(bn);

	*out = NULL;
	if (n <= 0 || n > (int)sizeof(buf))
		return TB_ERR_CRYPTO;
	if ((len > 0 ? BN_bn2binpad(bn, buf, len) : BN_bn2bin(bn, buf)) != n)
		return TB_ERR_CRYPTO;
	return tb_b64_encode(buf, (size_t)n, TB_B64_URL | TB_B64_NOPAD, out);
}

/* Fetches two big-number parameters of a key as base64url (len as for bn_b64url). */
static int
params_b64url(const EVP_PKEY *pkey, const char *p1, const char *p2, int len, char **v1, char **v2)
{
	BIGNUM *a = NULL, *b = NULL;
	int r = TB_ERR_CRYPTO;

	if (EVP_PKEY_get_bn_param(pkey, p1, &a) != 1 || EVP_PKEY_get_bn_param(pkey, p2, &b) != 1)
		goto out;
	if ((r = bn_b64url(a, len, v1)) != 0 || (r = bn_b64url(b, len, v2)) != 0)
		goto out;
	r = 0;
out:
	BN_free(a);
	BN_free(b);
	return r;
}

/*
 * The public JWK of a key, for the JWK Set ({kty, use, alg, kid, n, e} or {kty, use, alg, kid,
 * crv, x, y}), and its kid. *jwk and *kid are the caller's.
 */
static int
public_jwk(const struct key *k, struct tb_json **jwk, char **kid)
{
	static const char *const rsa_names[] = {"e", "kty", "n"};
	static const char *const ec_names[] = {"crv", "kty", "x", "y"};
	const char *values[4];
	struct tb_json *o = NULL;
	char *a = NULL, *b = NULL, *id = NULL;
	int r;

	*jwk = NULL;
	*kid = NULL;
	if (k->ec) {
		if ((r = params_b64url(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, OSSL_PKEY_PARAM_EC_PUB_Y,
		         P256_LEN, &a, &b)) != 0)
			goto out;
		values[0] = "P-256";
		values[1] = "EC";
		values[2] = a;
		values[3] = b;
		if ((r = thumbprint(ec_names, values, 4, &id)) != 0)
			goto out;
	} else {
		if ((r = params_b64url(
		         k->pkey, OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E, 0, &a, &b)) != 0)
			goto out;
		values[0] = b;
		values[1] = "RSA";
		values[2] = a;
		if ((r = thumbprint(rsa_names, values, 3, &id)) != 0)
			goto out;
	}
	r = TB_ERR_ALLOC;
	if ((o = tb_json_object()) == NULL)
		goto out;
	if ((r = tb_json_set_str(o, "kty", k->ec ? "EC" : "RSA")) != 0 ||
	    (r = tb_json_set_str(o, "use", "sig")) != 0 ||
	    (r = tb_json_set_str(o, "alg", k->alg)) != 0 ||
	    (r = tb_json_set_str(o, "kid", id)) != 0)
		goto out;
	if (k->ec) {
		if ((r = tb_json_set_str(o, "crv", "P-256")) != 0 ||
		    (r = tb_json_set_str(o, "x", a)) != 0 || (r = tb_json_set_str(o, "y", b)) != 0)
			goto out;
	} else {
		if ((r = tb_json_set_str(o, "n", a)) != 0 || (r = tb_json_set_str(o, "e", b)) != 0)
			goto out;
	}
	*jwk = o;
	o = NULL; /* transferred */
	*kid = id;
	id = NULL; /* transferred */
	r = 0;
out:
	tb_json_free(o);
	free(id);
	free(a);
	free(b);
	return r;
}

/* Refuses to decrypt: an encrypted key file is a configuration error, not a prompt. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	*(int *)u = 1;
	return -1;
}

/*
 * Reads a key file (bounded, refused when others may read it; the copy is wiped) and parses its
 * PEM private key.
 */
static int
read_key(const char *path, EVP_PKEY **out, char *why, size_t whylen)
{
	char *text = NULL, detail[TB_FILE_WHY_MAX];
	BIO *bio = NULL;
	size_t n = 0;
	int asked = 0, r;

	*out = NULL;
	if ((r = tb_file_read(
	         path, TB_FILE_SECRET, KEY_FILE_MAX, &text, &n, detail, sizeof(detail))) != 0) {
		tb_whyf(why, whylen, "SIGNING_KEYS: %s", detail);
		goto out;
	}
	r = TB_ERR_ALLOC;
	if ((bio = BIO_new_mem_buf(text, (int)n)) == NULL)
		goto out;
	r = TB_ERR_CONFIG;
	if ((*out = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, &asked)) == NULL) {
		if (asked)
			tb_whyf(why, whylen, "SIGNING_KEYS: %s: encrypted keys are not supported",
			    path);
		else
			tb_whyf(why, whylen, "SIGNING_KEYS: %s: not a PEM private key", path);
		goto out;
	}
	r = 0;
out:
	BIO_free(bio);
	tb_file_free(text, n);
	return r;
}

/* Decides the algorithm: RSA of RSA_BITS_MIN bits or more is RS256, EC on P-256 is ES256. */
static int
classify(const char *path, struct key *k, char *why, size_t whylen)
{
	char curve[CURVE_NAME_MAX];
	const char *type;
	size_t len = 0;
	int bits, nid;

	if (EVP_PKEY_is_a(k->pkey, "RSA")) {
		bits = EVP_PKEY_get_bits(k->pkey);
		if (bits < RSA_BITS_MIN) {
			tb_whyf(why, whylen,
			    "SIGNING_KEYS: %s: RSA key of %d bits; need %d or more", path, bits,
			    RSA_BITS_MIN);
			return TB_ERR_CONFIG;
		}
		if (bits > RSA_BITS_MAX) {
			tb_whyf(why, whylen, "SIGNING_KEYS: %s: RSA key of %d bits; at most %d",
			    path, bits, RSA_BITS_MAX);
			return TB_ERR_CONFIG;
		}
		k->alg = "RS256";
		return 0;
	}
	if (EVP_PKEY_is_a(k->pkey, "EC")) {
		if (EVP_PKEY_get_utf8_string_param(
		        k->pkey, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof(curve), &len) != 1) {
			tb_whyf(why, whylen,
			    "SIGNING_KEYS: %s: EC key on an unnamed curve; only P-256", path);
			return TB_ERR_CONFIG;
		}
		if ((nid = OBJ_sn2nid(curve)) == NID_undef)
			nid = EC_curve_nist2nid(curve);
		if (nid != NID_X9_62_prime256v1) {
			tb_whyf(
			    why, whylen, "SIGNING_KEYS: %s: EC key on %s; only P-256", path, curve);
			return TB_ERR_CONFIG;
		}
		k->alg = "ES256";
		k->ec = 1;
		return 0;
	}
	type = EVP_PKEY_get0_type_name(k->pkey);
	tb_whyf(why, whylen, "SIGNING_KEYS: %s: %s key; only RSA (%d bits or more) and EC P-256",
	    path, type != NULL ? type : "unknown", RSA_BITS_MIN);
	return TB_ERR_CONFIG;
}

/* The JOSE header of the signing key, in base64url. */
static int
jose_header(const struct key *k, char **out)
{
	struct tb_json *o;
	char *text = NULL;
	int r = TB_ERR_ALLOC;

	*out = NULL;
	if ((o = tb_json_object()) == NULL)
		goto out;
	if ((r = tb_json_set_str(o, "alg", k->alg)) != 0 ||
	    (r = tb_json_set_str(o, "kid", k->kid)) != 0 ||
	    (r = tb_json_set_str(o, "typ", "JWT")) != 0 || (r = tb_json_render(o, &text)) != 0 ||
	    (r = tb_b64_encode(
	         (const unsigned char *)text, strlen(text), TB_B64_URL | TB_B64_NOPAD, out)) != 0)
		goto out;
	r = 0;
out:
	free(text);
	tb_json_free(o);
	return r;
}

int
tb_keyset_load(const char *const *files, size_t n, struct tb_keyset **out, char *why, size_t whylen)
{
	struct tb_keyset *ks = NULL;
	struct tb_json *set = NULL, *keys = NULL, *jwk = NULL;
	struct key *k;
	size_t i, j;
	int r = TB_ERR_CONFIG;

	*out = NULL;
	tb_whyf(why, whylen, "%s", "");
	if (n == 0 || files == NULL) {
		tb_whyf(why, whylen, "SIGNING_KEYS: no key files");
		goto out;
	}
	if (n > TB_KEYS_MAX) {
		tb_whyf(why, whylen, "SIGNING_KEYS: %zu files; at most %d", n, TB_KEYS_MAX);
		goto out;
	}
	r = TB_ERR_ALLOC;
	if ((ks = calloc(1, sizeof(*ks))) == NULL || (set = tb_json_object()) == NULL ||
	    (keys = tb_json_array()) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		k = &ks->keys[i];
		if (files[i] == NULL || files[i][0] == '\0') {
			tb_whyf(why, whylen, "SIGNING_KEYS: an empty file name");
			r = TB_ERR_CONFIG;
			goto out;
		}
		if ((r = read_key(files[i], &k->pkey, why, whylen)) != 0)
			goto out;
		ks->n = i + 1; /* from here tb_keyset_free frees the key */
		if ((r = classify(files[i], k, why, whylen)) != 0)
			goto out;
		if ((r = public_jwk(k, &jwk, &k->kid)) != 0) {
			tb_whyf(why, whylen, "SIGNING_KEYS: %s: cannot read the public key: %s",
			    files[i], r == TB_ERR_CRYPTO ? tb_crypto_error() : tb_err_str(r));
			goto out;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(ks->keys[j].kid, k->kid) == 0) {
				tb_whyf(why, whylen, "SIGNING_KEYS: %s: the same key as %s",
				    files[i], files[j]);
				r = TB_ERR_CONFIG;
				goto out;
			}
		}
		r = tb_json_append(keys, jwk);
		jwk = NULL; /* transferred, even on failure */
		if (r != 0)
			goto out;
	}
	r = tb_json_set(set, "keys", keys);
	keys = NULL; /* transferred, even on failure */
	if (r != 0 || (r = tb_json_render(set, &ks->jwks)) != 0 ||
	    (r = jose_header(&ks->keys[0], &ks->header)) != 0)
		goto out;
	/* RSA keys default to RSASSA-PKCS1-v1_5, which RS256 is; EC keys give DER ECDSA */
	r = TB_ERR_ALLOC;
	if ((ks->sign_init = EVP_MD_CTX_new()) == NULL)
		goto out;
	r = TB_ERR_CRYPTO;
	if (EVP_DigestSignInit_ex(
	        ks->sign_init, NULL, "SHA256", NULL, NULL, ks->keys[0].pkey, NULL) != 1) {
		tb_whyf(why, whylen, "SIGNING_KEYS: %s: cannot sign with it: %s", files[0],
		    tb_crypto_error());
		goto out;
	}
	*out = ks;
	ks = NULL; /* transferred */
	r = 0;
out:
	if (r == TB_ERR_ALLOC)
		tb_whyf(why, whylen, "SIGNING_KEYS: out of memory");
	ERR_clear_error();
	tb_json_free(jwk);
	tb_json_free(keys);
	tb_json_free(set);
	tb_keyset_free(ks);
	return r;
}

const char *
tb_keyset_jwks(const struct tb_keyset *ks)
{
	return ks == NULL ? NULL : ks->jwks;
}

size_t
tb_keyset_count(const struct tb_keyset *ks)
{
	return ks == NULL ? 0 : ks->n;
}

const char *
tb_keyset_alg(const struct tb_keyset *ks, size_t i)
{
	return ks == NULL || i >= ks->n ? NULL : ks->keys[i].alg;
}

const char *
tb_keyset_kid(const struct tb_keyset *ks, size_t i)
{
	return ks == NULL || i >= ks->n ? NULL : ks->keys[i].kid;
}

/* An ECDSA signature from DER (SEQUENCE of r, s) to the fixed r||s of RFC 7518 section 3.4. */
static int
ecdsa_raw(const unsigned char *der, size_t len, unsigned char raw[2 * P256_LEN])
{
	const unsigned char *p = der;
	const BIGNUM *r = NULL, *s = NULL;
	ECDSA_SIG *sig;
	int rc = TB_ERR_CRYPTO;

	if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)len)) == NULL)
		return TB_ERR_CRYPTO;
	ECDSA_SIG_get0(sig, &r, &s);
	if (p == der + len && BN_bn2binpad(r, raw, P256_LEN) == P256_LEN &&
	    BN_bn2binpad(s, raw + P256_LEN, P256_LEN) == P256_LEN)
		rc = 0;
	ECDSA_SIG_free(sig);
	return rc;
}

int
tb_keyset_sign(const struct tb_keyset *ks, const char *claims, char **jwt)
{
	unsigned char sig[SIG_MAX], raw[2 * P256_LEN];
	const struct key *k;
	EVP_MD_CTX *md = NULL;
	char *payload = NULL, *sig64 = NULL;
	size_t clen, siglen = 0;
	struct tb_buf b;
	int r = TB_ERR_INVALID;

	*jwt = NULL;
	tb_buf_init(&b, JWT_MAX);
	if (ks == NULL || ks->n == 0 || claims == NULL)
		goto out;
	k = &ks->keys[0];
	r = TB_ERR_LIMIT;
	if ((clen = strlen(claims)) > CLAIMS_MAX)
		goto out;
	if ((r = tb_b64_encode(
	         (const unsigned char *)claims, clen, TB_B64_URL | TB_B64_NOPAD, &payload)) != 0 ||
	    (r = tb_buf_addstr(&b, ks->header)) != 0 || (r = tb_buf_add(&b, ".", 1)) != 0 ||
	    (r = tb_buf_addstr(&b, payload)) != 0)
		goto out;
	r = TB_ERR_ALLOC;
	if ((md = EVP_MD_CTX_new()) == NULL)
		goto out;
	r = TB_ERR_CRYPTO;
	siglen = sizeof(sig);
	if (EVP_MD_CTX_copy_ex(md, ks->sign_init) != 1 ||
	    EVP_DigestSignUpdate(md, b.data, b.len) != 1 ||
	    EVP_DigestSignFinal(md, sig, &siglen) != 1)
		goto out;
	if (k->ec) {
		if ((r = ecdsa_raw(sig, siglen, raw)) != 0 ||
		    (r = tb_b64_encode(raw, sizeof(raw), TB_B64_URL | TB_B64_NOPAD, &sig64)) != 0)
			goto out;
	} else if ((r = tb_b64_encode(sig, siglen, TB_B64_URL | TB_B64_NOPAD, &sig64)) != 0) {
		goto out;
	}
	/* appends, not tb_buf_addf: glibc's vsnprintf costs more than the copy of a kilobyte */
	if ((r = tb_buf_add(&b, ".", 1)) != 0 || (r = tb_buf_addstr(&b, sig64)) != 0)
		goto out;
	*jwt = tb_buf_detach(&b);
	r = 0;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	free(payload);
	free(sig64);
	tb_buf_free(&b);
	return r;
}
