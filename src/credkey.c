/* credkey.c: the helper's certificate and key (PEM, TPM 2.0, PKCS#11), loaded once for TLS. */

/*
 * PKCS#11 keys come through libp11's engine: the PKCS#11 provider (pkcs11-provider) is not in
 * Debian 12, and OpenSSL 3 deprecates the ENGINE API. This file is the only ENGINE user, so the
 * deprecation warnings are silenced here and nowhere else. Before any OpenSSL header.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "credkey.h"

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/store.h>
#include <openssl/ui.h>
#include <openssl/x509.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "err.h"
#include "file.h"
#include "text.h"
#include "watch.h"

#define CERT_FILE_MAX (256 * 1024) /* a certificate and its chain, PEM */
#define KEY_FILE_MAX (64 * 1024)   /* a PEM or TSS2 key file; RSA 16384 is about 13 KiB */
#define KEY_REF_MAX 2048           /* a key reference: "handle:0x...", a PKCS#11 URI */
#define ATTR_MAX 1024              /* one decoded PKCS#11 URI attribute (a path, a PIN) */
#define CHAIN_MAX 16               /* chain certificates after the first in the file */
#define ECDSA_DER_MAX 160          /* a DER ECDSA signature: 139 bytes at most, on P-521 */

#define TPM_HANDLE_PREFIX "handle:"
#define PKCS11_PREFIX "pkcs11:"
#define TSS2_PEM "-----BEGIN TSS2 PRIVATE KEY-----"
#define TPM_PROPQ "?provider=tpm2" /* prefer the tpm2 provider's loaders and decoders */
#define TPM_ONLY "provider=tpm2"   /* the operations on a TPM key */
#define PKCS11_ENGINE "pkcs11"
#define PKCS11_MODULE_ENV "TOKEN_BROKER_PKCS11_MODULE"
#define PKCS11_PIN_ENV "TOKEN_BROKER_PKCS11_PIN"

struct tb_credpair {
	X509 *cert;
	STACK_OF(X509) * chain;
	EVP_PKEY *key; /* what libssl gets: for a TPM key, the wrapper around hw */
	EVP_PKEY *hw;  /* TPM: the tpm2 provider's key */
	time_t not_after;
	ENGINE *engine;       /* PKCS#11: a functional reference, held while key lives */
	OSSL_PROVIDER *tpm2;  /* TPM: held while key lives */
	OSSL_PROVIDER *deflt; /* loading tpm2 explicitly stops the default one loading itself */
	char *paths[2];       /* the certificate file, and the key file when the key is one */
	struct tb_watch *watch;
};

/* A pass phrase or PIN is never asked for: there is no one at a terminal to answer. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int
load_cert(struct tb_credpair *p, const char *cert_file, char *why, size_t whylen)
{
	char *data = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	X509 *x;
	int r;

	if ((r = tb_file_read(
	         cert_file, TB_FILE_TRUSTED, CERT_FILE_MAX, &data, &len, why, whylen)) != 0)
		goto out;
	r = TB_ERR_ALLOC;
	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL ||
	    (p->chain = sk_X509_new_null()) == NULL)
		goto out;
	r = TB_ERR_INVALID;
	if ((p->cert = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) == NULL) {
		tb_whyf(why, whylen, "%s: no PEM certificate: %s", cert_file, tb_crypto_error());
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL) {
		if (sk_X509_num(p->chain) >= CHAIN_MAX || sk_X509_push(p->chain, x) <= 0) {
			X509_free(x);
			tb_whyf(why, whylen, "%s: more than %d chain certificates", cert_file,
			    CHAIN_MAX);
			goto out;
		}
	}
	ERR_clear_error(); /* the end of the file */
	if (tb_asn1_time(X509_get0_notAfter(p->cert), &p->not_after) != 0) {
		tb_whyf(why, whylen, "%s: the certificate's notAfter cannot be read", cert_file);
		goto out;
	}
	r = 0;
out:
	BIO_free(bio);
	tb_file_free(data, len);
	return r;
}

/* A PEM private key (PKCS#8, or traditional RSA or EC) from memory. */
static int
load_pem_key(
    struct tb_credpair *p, const char *file, const char *data, size_t len, char *why, size_t whylen)
{
	BIO *bio;

	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL)
		return TB_ERR_ALLOC;
	p->key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (p->key == NULL) {
		tb_whyf(
		    why, whylen, "%s: no unencrypted PEM private key: %s", file, tb_crypto_error());
		return TB_ERR_INVALID;
	}
	return 0;
}

/*
 * A TPM key through the tpm2 provider: uri is "handle:0x81000001" (a persistent key) or the
 * path of a TSS2 key file (the key wrapped by the TPM, useless without it). The provider finds
 * the TPM with TPM2OPENSSL_TCTI; it fails to start when there is none.
 */
static int
load_tpm_key(struct tb_credpair *p, const char *uri, char *why, size_t whylen)
{
	OSSL_STORE_CTX *st = NULL;
	OSSL_STORE_INFO *info;
	int r = TB_ERR_CONFIG;

	if ((p->deflt = OSSL_PROVIDER_load(NULL, "default")) == NULL) {
		tb_whyf(why, whylen, "%s: OpenSSL's default provider: %s", uri, tb_crypto_error());
		goto out;
	}
	/*
	 * The TSS (under the provider) writes its own lines to standard error, where our logs are
	 * one JSON object a line; it keeps quiet unless the user asked for its log.
	 */
	setenv("TSS2_LOG", "all+NONE", 0);
	if ((p->tpm2 = OSSL_PROVIDER_load(NULL, "tpm2")) == NULL) {
		tb_whyf(why, whylen,
		    "%s: the tpm2 provider did not start (tpm2-openssl installed? TPM reachable "
		    "through TPM2OPENSSL_TCTI?): %s",
		    uri, tb_crypto_error());
		goto out;
	}
	r = TB_ERR_CRYPTO;
	if ((st = OSSL_STORE_open_ex(uri, NULL, TPM_PROPQ, UI_null(), NULL, NULL, NULL, NULL)) ==
	    NULL) {
		tb_whyf(why, whylen, "%s: the TPM cannot open it: %s", uri, tb_crypto_error());
		goto out;
	}
	while (p->key == NULL && !OSSL_STORE_eof(st)) {
		if ((info = OSSL_STORE_load(st)) == NULL) {
			if (OSSL_STORE_error(st))
				break;
			continue;
		}
		if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
			p->key = OSSL_STORE_INFO_get1_PKEY(info);
		OSSL_STORE_INFO_free(info);
	}
	if (p->key == NULL) {
		tb_whyf(
		    why, whylen, "%s: no private key in the TPM there: %s", uri, tb_crypto_error());
		goto out;
	}
	r = 0;
out:
	OSSL_STORE_close(st);
	return r;
}

/*
 * libssl cannot sign with a tpm2 provider key itself in OpenSSL 3.0 (Debian 12's): it fetches
 * a signature implementation by name before it looks at the key, gets the default provider's
 * ECDSA or RSA, and exports the key to it; the tpm2 provider exports the public half (all a
 * TPM gives out), so the export "succeeds" and the handshake fails with "missing private key".
 * So a TPM key reaches libssl inside a legacy key that hands each signature to the provider
 * key (fetched with "provider=tpm2"): OpenSSL hashes, the TPM signs the digest. An EC key gets
 * an EC_KEY_METHOD; an RSA key an EVP_PKEY_METHOD (through a private engine, the one way to
 * attach one to a key), because a TLS 1.3 RSA-PSS signature must be asked of the TPM as one
 * (the tpm2 provider of Debian 12 has no raw RSA operation to finish OpenSSL's own PSS
 * encoding with). libp11 hands PKCS#11 keys to libssl the same two ways. The public half
 * comes from the certificate, which tb_credpair_load has checked against the TPM key.
 *
 * The methods, the engine and the ex_data slots are made once and live as long as the
 * process, as OpenSSL's own methods do: keys that libssl still holds may use them after the
 * pair is freed.
 */
static CRYPTO_ONCE methods_once = CRYPTO_ONCE_STATIC_INIT;
static EC_KEY_METHOD *hw_ec_method;
static EVP_PKEY_METHOD *hw_rsa_pmeth;
static ENGINE *hw_engine;
static int hw_ec_index = -1, hw_rsa_index = -1; /* ex_data: a reference to the provider key */
static int (*rsa_sign_init)(EVP_PKEY_CTX *);    /* OpenSSL's own */

static void
hw_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	EVP_PKEY_free(ptr);
}

/* A copy of the wrapper (EC_KEY_dup, RSA copies) holds a reference of its own. */
static int
hw_dup(
    CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx, long argl, void *argp)
{
	(void)to;
	(void)from;
	(void)idx;
	(void)argl;
	(void)argp;
	return *from_d == NULL || EVP_PKEY_up_ref(*from_d) == 1;
}

/* The digest an ECDSA signature of dlen bytes was made with: the TPM needs its name. */
static const EVP_MD *
digest_of_len(size_t dlen)
{
	switch (dlen) {
	case 20: return EVP_sha1();
	case 32: return EVP_sha256();
	case 48: return EVP_sha384();
	case 64: return EVP_sha512();
	}
	return NULL;
}

/*
 * The TPM's signature of the digest in with the provider key hw: ECDSA when pad is 0, else
 * RSA with that padding (and, for PSS, saltlen and the MGF1 digest mgf1). 1 or 0.
 */
static int
hw_sign(EVP_PKEY *hw, const EVP_MD *md, int pad, int saltlen, const EVP_MD *mgf1,
    const unsigned char *in, size_t inlen, unsigned char *out, size_t *outlen)
{
	EVP_PKEY_CTX *c;
	int ok;

	if (hw == NULL || md == NULL ||
	    (c = EVP_PKEY_CTX_new_from_pkey(NULL, hw, TPM_ONLY)) == NULL)
		return 0;
	/*
	 * A TPM signs PSS with the salt as long as the digest and MGF1 over the same digest (TPM
	 * 2.0 part 1, B.7, for keys of 2048 bits and more), which is what TLS asks for; the tpm2
	 * provider takes no other parameters, so any other request is refused here.
	 */
	ok = (pad != RSA_PKCS1_PSS_PADDING ||
	         ((saltlen == RSA_PSS_SALTLEN_DIGEST || saltlen == EVP_MD_get_size(md)) &&
	             (mgf1 == NULL || EVP_MD_is_a(mgf1, EVP_MD_get0_name(md))))) &&
	     EVP_PKEY_sign_init(c) == 1 && EVP_PKEY_CTX_set_signature_md(c, md) == 1 &&
	     (pad == 0 || EVP_PKEY_CTX_set_rsa_padding(c, pad) == 1) &&
	     EVP_PKEY_sign(c, out, outlen, in, inlen) == 1;
	EVP_PKEY_CTX_free(c);
	return ok;
}

static int
hw_ec_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig, unsigned int *siglen,
    const BIGNUM *kinv, const BIGNUM *r, EC_KEY *ec)
{
	size_t len = (size_t)ECDSA_size(ec);

	(void)type; /* the length says which digest: legacy callers pass sha1 for "unknown" */
	(void)kinv;
	(void)r;
	if (dlen < 0 || !hw_sign(EC_KEY_get_ex_data(ec, hw_ec_index), digest_of_len((size_t)dlen),
	                    0, 0, NULL, dgst, (size_t)dlen, sig, &len))
		return 0;
	*siglen = (unsigned int)len;
	return 1;
}

static ECDSA_SIG *
hw_ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *ec)
{
	unsigned char der[ECDSA_DER_MAX];
	const unsigned char *p = der;
	unsigned int len = 0;

	if (ECDSA_size(ec) > (int)sizeof(der) || !hw_ec_sign(0, dgst, dlen, der, &len, kinv, r, ec))
		return NULL;
	return d2i_ECDSA_SIG(NULL, &p, (long)len);
}

/* OpenSSL's RSA key method but for the signature, whose parameters it keeps as always. */
static int
hw_rsa_sign(
    EVP_PKEY_CTX *ctx, unsigned char *sig, size_t *siglen, const unsigned char *tbs, size_t tbslen)
{
	const RSA *rsa = EVP_PKEY_get0_RSA(EVP_PKEY_CTX_get0_pkey(ctx));
	const EVP_MD *md = NULL, *mgf1 = NULL;
	int pad = RSA_PKCS1_PADDING, saltlen = RSA_PSS_SALTLEN_DIGEST;

	if (rsa == NULL)
		return 0;
	if (sig == NULL) {
		*siglen = (size_t)RSA_size(rsa);
		return 1;
	}
	if (EVP_PKEY_CTX_get_signature_md(ctx, &md) != 1 ||
	    EVP_PKEY_CTX_get_rsa_padding(ctx, &pad) != 1)
		return 0;
	if (pad == RSA_PKCS1_PSS_PADDING && (EVP_PKEY_CTX_get_rsa_pss_saltlen(ctx, &saltlen) != 1 ||
	                                        EVP_PKEY_CTX_get_rsa_mgf1_md(ctx, &mgf1) != 1))
		return 0;
	return hw_sign(
	    RSA_get_ex_data(rsa, hw_rsa_index), md, pad, saltlen, mgf1, tbs, tbslen, sig, siglen);
}

static int
hw_pmeths(ENGINE *e, EVP_PKEY_METHOD **pmeth, const int **nids, int nid)
{
	static const int ids[] = {EVP_PKEY_RSA};

	(void)e;
	if (pmeth == NULL) {
		*nids = ids;
		return 1;
	}
	*pmeth = nid == EVP_PKEY_RSA ? hw_rsa_pmeth : NULL;
	return *pmeth != NULL;
}

static void
make_methods(void)
{
	int (*setup)(EC_KEY *, BN_CTX *, BIGNUM **, BIGNUM **) = NULL;
	const EVP_PKEY_METHOD *rsa = EVP_PKEY_meth_find(EVP_PKEY_RSA);

	hw_ec_index = EC_KEY_get_ex_new_index(0, NULL, NULL, hw_dup, hw_free);
	hw_rsa_index = RSA_get_ex_new_index(0, NULL, NULL, hw_dup, hw_free);
	if ((hw_ec_method = EC_KEY_METHOD_new(EC_KEY_OpenSSL())) != NULL) {
		EC_KEY_METHOD_get_sign(EC_KEY_OpenSSL(), NULL, &setup, NULL);
		EC_KEY_METHOD_set_sign(hw_ec_method, hw_ec_sign, setup, hw_ec_sign_sig);
	}
	if (rsa == NULL || (hw_rsa_pmeth = EVP_PKEY_meth_new(EVP_PKEY_RSA, 0)) == NULL)
		return;
	EVP_PKEY_meth_copy(hw_rsa_pmeth, rsa);
	EVP_PKEY_meth_get_sign(rsa, &rsa_sign_init, NULL);
	EVP_PKEY_meth_set_sign(hw_rsa_pmeth, rsa_sign_init, hw_rsa_sign);
	if ((hw_engine = ENGINE_new()) != NULL &&
	    (ENGINE_set_id(hw_engine, "token-broker-tpm") != 1 ||
	        ENGINE_set_name(hw_engine, "token-broker: TPM keys for libssl") != 1 ||
	        ENGINE_set_pkey_meths(hw_engine, hw_pmeths) != 1)) {
		ENGINE_free(hw_engine);
		hw_engine = NULL;
	}
}

/* The legacy key around p->hw for libssl (see above), from the certificate's public key. */
static int
wrap_tpm_key(struct tb_credpair *p, const char *shown, char *why, size_t whylen)
{
	EVP_PKEY *pub = X509_get0_pubkey(p->cert), *w = NULL;
	EC_KEY *ec = NULL;
	RSA *rsa = NULL;
	int r = TB_ERR_ALLOC;

	if (CRYPTO_THREAD_run_once(&methods_once, make_methods) != 1 || hw_ec_method == NULL ||
	    hw_engine == NULL || hw_ec_index < 0 || hw_rsa_index < 0 ||
	    (w = EVP_PKEY_new()) == NULL)
		goto out;
	r = TB_ERR_CRYPTO;
	if (pub != NULL && EVP_PKEY_is_a(pub, "EC")) {
		if ((ec = EC_KEY_dup(EVP_PKEY_get0_EC_KEY(pub))) == NULL ||
		    EC_KEY_set_method(ec, hw_ec_method) != 1 || EVP_PKEY_up_ref(p->hw) != 1)
			goto out;
		if (EC_KEY_set_ex_data(ec, hw_ec_index, p->hw) != 1) {
			EVP_PKEY_free(p->hw); /* the reference meant for ec */
			goto out;
		}
		if (EVP_PKEY_assign_EC_KEY(w, ec) != 1)
			goto out;
		ec = NULL; /* transferred */
	} else if (pub != NULL && EVP_PKEY_is_a(pub, "RSA")) {
		if ((rsa = RSAPublicKey_dup(EVP_PKEY_get0_RSA(pub))) == NULL ||
		    EVP_PKEY_up_ref(p->hw) != 1)
			goto out;
		if (RSA_set_ex_data(rsa, hw_rsa_index, p->hw) != 1) {
			EVP_PKEY_free(p->hw);
			goto out;
		}
		if (EVP_PKEY_assign_RSA(w, rsa) != 1)
			goto out;
		rsa = NULL; /* transferred */
		if (EVP_PKEY_set1_engine(w, hw_engine) != 1)
			goto out;
	} else {
		r = TB_ERR_CONFIG;
		tb_whyf(why, whylen, "%s: a TPM key is EC or RSA here", shown);
		goto out;
	}
	p->key = w;
	w = NULL; /* transferred */
	r = 0;
out:
	if (r != 0 && r != TB_ERR_CONFIG)
		tb_whyf(why, whylen, "%s: the TPM key cannot be handed to TLS: %s", shown,
		    tb_crypto_error());
	EC_KEY_free(ec);
	RSA_free(rsa);
	EVP_PKEY_free(w);
	return r;
}

/*
 * Copies the value of attribute name ("module-path") from a PKCS#11 URI (RFC 7512: path
 * attributes split by ';', query attributes by '&' after '?'), percent-decoded, into out.
 * 1 when found, 0 when not, TB_ERR_LIMIT or TB_ERR_INVALID.
 */
static int
uri_attr(const char *uri, const char *name, char out[ATTR_MAX])
{
	size_t nlen = strlen(name), o = 0;
	const char *s = uri + strlen(PKCS11_PREFIX), *e;

	for (; *s != '\0'; s = *e != '\0' ? e + 1 : e) {
		e = s + strcspn(s, ";?&");
		if ((size_t)(e - s) <= nlen || strncmp(s, name, nlen) != 0 || s[nlen] != '=')
			continue;
		for (s += nlen + 1; s < e; s++) {
			int hi, lo;

			if (o + 1 >= ATTR_MAX)
				return TB_ERR_LIMIT;
			if (*s != '%') {
				out[o++] = *s;
				continue;
			}
			if (e - s < 3 || (hi = tb_hexval((unsigned char)s[1])) < 0 ||
			    (lo = tb_hexval((unsigned char)s[2])) < 0)
				return TB_ERR_INVALID;
			out[o++] = (char)(hi * 16 + lo);
			s += 2;
		}
		out[o] = '\0';
		return 1;
	}
	return 0;
}

/*
 * The PKCS#11 module (a shared object) for uri into module: the URI's module-path, else
 * $TOKEN_BROKER_PKCS11_MODULE, else "" (the engine's default). It must be there: the engine
 * loads it only when a key is asked for, and then says little.
 */
static int
find_module(const char *uri, const char *shown, char module[ATTR_MAX], char *why, size_t whylen)
{
	const char *env = getenv(PKCS11_MODULE_ENV);
	int found;

	if ((found = uri_attr(uri, "module-path", module)) < 0) {
		tb_whyf(why, whylen, "%s: a bad module-path", shown);
		return TB_ERR_CONFIG;
	}
	if (!found && snprintf(module, ATTR_MAX, "%s", env != NULL ? env : "") >= ATTR_MAX) {
		tb_whyf(why, whylen, "%s is over %d bytes", PKCS11_MODULE_ENV, ATTR_MAX);
		return TB_ERR_CONFIG;
	}
	if (*module != '\0' && access(module, R_OK) != 0) {
		tb_whyf(
		    why, whylen, "%s: the PKCS#11 module %s: %s", shown, module, strerror(errno));
		return TB_ERR_CONFIG;
	}
	return 0;
}

/*
 * The URI the engine gets: uri without module-path (libp11 0.4.12 refuses a URI with an
 * attribute it does not know) and without pin-value (libp11 prints the URI it could not load
 * on standard error, which is our log). Into out; 0 or TB_ERR_LIMIT.
 */
static int
engine_uri(const char *uri, char out[KEY_REF_MAX])
{
	const char *path = uri + strlen(PKCS11_PREFIX), *query = strchr(path, '?');
	const char *part[2] = {path, query != NULL ? query + 1 : NULL};
	const char *end[2] = {query != NULL ? query : path + strlen(path), NULL};
	const char *sep = ";&", *s, *e;
	size_t o = strlen(PKCS11_PREFIX);
	int i, n;

	memcpy(out, PKCS11_PREFIX, o);
	end[1] = part[1] != NULL ? part[1] + strlen(part[1]) : NULL;
	for (i = 0; i < 2 && part[i] != NULL; i++) {
		for (n = 0, s = part[i]; s < end[i]; s = e + 1) {
			if ((e = memchr(s, sep[i], (size_t)(end[i] - s))) == NULL)
				e = end[i];
			if (e == s || starts_with(s, "pin-value=") ||
			    starts_with(s, "module-path="))
				continue;
			if (o + 1 + (size_t)(e - s) + 1 > KEY_REF_MAX)
				return TB_ERR_LIMIT;
			if (n++ > 0 || i == 1)
				out[o++] = (char)(n == 1 ? '?' : sep[i]);
			memcpy(out + o, s, (size_t)(e - s));
			o += (size_t)(e - s);
		}
	}
	out[o] = '\0';
	return 0;
}

/*
 * Hands the engine its PKCS#11 module and the PIN (the URI's pin-value, else, unless the URI
 * names a pin-source for the engine to read, $TOKEN_BROKER_PKCS11_PIN); then starts it.
 */
static int
start_engine(
    ENGINE *e, const char *uri, const char *module, const char *shown, char *why, size_t whylen)
{
	char attr[ATTR_MAX], pin[ATTR_MAX];
	const char *env = getenv(PKCS11_PIN_ENV);
	int r = TB_ERR_CONFIG, found;

	pin[0] = '\0';
	if ((found = uri_attr(uri, "pin-value", pin)) < 0) {
		tb_whyf(why, whylen, "%s: a bad pin-value", shown);
		goto out;
	}
	if (!found && env != NULL && uri_attr(uri, "pin-source", attr) == 0 &&
	    snprintf(pin, sizeof(pin), "%s", env) >= (int)sizeof(pin)) {
		tb_whyf(why, whylen, "%s is over %d bytes", PKCS11_PIN_ENV, ATTR_MAX);
		goto out;
	}
	if (*module != '\0' && ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0) != 1) {
		tb_whyf(why, whylen, "%s: the pkcs11 engine refused the module %s: %s", shown,
		    module, tb_crypto_error());
		goto out;
	}
	if (ENGINE_init(e) != 1) {
		tb_whyf(why, whylen, "%s: the PKCS#11 module %s did not start: %s", shown,
		    *module != '\0' ? module : "(the engine's default)", tb_crypto_error());
		goto out;
	}
	if (pin[0] != '\0' && ENGINE_ctrl_cmd_string(e, "PIN", pin, 0) != 1) {
		ENGINE_finish(e);
		tb_whyf(why, whylen, "%s: the pkcs11 engine refused the PIN: %s", shown,
		    tb_crypto_error());
		goto out;
	}
	r = 0;
out:
	OPENSSL_cleanse(attr, sizeof(attr));
	OPENSSL_cleanse(pin, sizeof(pin));
	return r;
}

/* A key in a PKCS#11 token (an HSM, a smart card, SoftHSM) through libp11's engine. */
static int
load_pkcs11_key(struct tb_credpair *p, const char *uri, const char *shown, char *why, size_t whylen)
{
	char module[ATTR_MAX], plain[KEY_REF_MAX];
	UI_METHOD *no_prompts;
	ENGINE *e;
	int r;

	if ((r = find_module(uri, shown, module, why, whylen)) != 0)
		return r;
	if (engine_uri(uri, plain) != 0) {
		tb_whyf(why, whylen, "%s: the URI is over %d bytes", shown, KEY_REF_MAX);
		return TB_ERR_LIMIT;
	}
	if ((e = ENGINE_by_id(PKCS11_ENGINE)) == NULL) {
		tb_whyf(why, whylen,
		    "%s: no pkcs11 engine (libengine-pkcs11-openssl installed?): %s", shown,
		    tb_crypto_error());
		return TB_ERR_CONFIG;
	}
	if ((r = start_engine(e, uri, module, shown, why, whylen)) != 0) {
		ENGINE_free(e);
		return r;
	}
	p->engine = e; /* transferred: tb_credpair_free finishes and frees it */
	/* the engine's prototype predates const; it only reads the method */
	no_prompts = (UI_METHOD *)UI_null();
	if ((p->key = ENGINE_load_private_key(e, plain, no_prompts, NULL)) == NULL) {
		tb_whyf(why, whylen,
		    "%s: the token gave no private key (wrong token, object or PIN?): %s", shown,
		    tb_crypto_error());
		return TB_ERR_CRYPTO;
	}
	return 0;
}

/* A key file: PEM, or a TSS2 key file (a TPM-wrapped key). Its path is then watched. */
static int
load_key_file(struct tb_credpair *p, const char *file, char *why, size_t whylen)
{
	char *data = NULL;
	size_t len = 0;
	int r;

	if ((r = tb_file_read(file, TB_FILE_SECRET, KEY_FILE_MAX, &data, &len, why, whylen)) != 0)
		goto out;
	r = TB_ERR_ALLOC;
	if ((p->paths[1] = strdup(file)) == NULL)
		goto out;
	if (strstr(data, TSS2_PEM) != NULL)
		r = load_tpm_key(p, file, why, whylen);
	else
		r = load_pem_key(p, file, data, len, why, whylen);
out:
	tb_file_free(data, len);
	return r;
}

/* key_ref as logs may show it: shown */
static int
load_key(struct tb_credpair *p, const char *key_ref, const char *shown, char *why, size_t whylen)
{
	if (strlen(key_ref) >= KEY_REF_MAX) {
		tb_whyf(why, whylen, "the key reference is over %d bytes", KEY_REF_MAX);
		return TB_ERR_LIMIT;
	}
	if (starts_with(key_ref, TPM_HANDLE_PREFIX))
		return load_tpm_key(p, key_ref, why, whylen);
	if (starts_with(key_ref, PKCS11_PREFIX))
		return load_pkcs11_key(p, key_ref, shown, why, whylen);
	return load_key_file(p, key_ref, why, whylen);
}

/*
 * How logs name key_ref: a PKCS#11 URI may hold the PIN (pin-value), so of one only the path
 * attributes other than pin-value are shown; the query (module-path, pin-value) is dropped.
 */
static void
shown_ref(const char *key_ref, char *out, size_t outlen)
{
	const char *s, *e;
	size_t o;

	if (!starts_with(key_ref, PKCS11_PREFIX)) {
		snprintf(out, outlen, "%s", key_ref);
		return;
	}
	o = (size_t)snprintf(out, outlen, "%s", PKCS11_PREFIX);
	for (s = key_ref + strlen(PKCS11_PREFIX); *s != '\0' && *s != '?';
	     s = *e == ';' ? e + 1 : e) {
		e = s + strcspn(s, ";?");
		if (starts_with(s, "pin-value=") || o >= outlen)
			continue;
		o += (size_t)snprintf(
		    out + o, outlen - o, "%s%.*s", out[o - 1] == ':' ? "" : ";", (int)(e - s), s);
	}
}

int
tb_credpair_load(
    const char *cert_file, const char *key_ref, struct tb_credpair **out, char *why, size_t whylen)
{
	struct tb_credpair *p = NULL;
	char shown[KEY_REF_MAX];
	int r = TB_ERR_ALLOC;

	*out = NULL;
	if (key_ref == NULL || *key_ref == '\0')
		key_ref = cert_file; /* the key may sit in the certificate's file */
	if ((p = calloc(1, sizeof(*p))) == NULL || (p->paths[0] = strdup(cert_file)) == NULL)
		goto out;
	shown_ref(key_ref, shown, sizeof(shown));
	if ((r = load_cert(p, cert_file, why, whylen)) != 0 ||
	    (r = load_key(p, key_ref, shown, why, whylen)) != 0)
		goto out;
	if (X509_check_private_key(p->cert, p->key) != 1) {
		tb_whyf(why, whylen, "the key %s does not match the certificate %s: %s", shown,
		    cert_file, tb_crypto_error());
		r = TB_ERR_INVALID;
		goto out;
	}
	if (p->tpm2 != NULL) {
		p->hw = p->key;
		p->key = NULL;
		if ((r = wrap_tpm_key(p, shown, why, whylen)) != 0)
			goto out;
	}
	/*
	 * The watch starts one interval back, so the first look is made whenever it comes.
	 */
	if ((r = tb_watch_new(p->paths, p->paths[1] != NULL ? 2 : 1, time(NULL) - TB_WATCH_INTERVAL,
	         &p->watch)) != 0)
		goto out;
	*out = p;
	p = NULL; /* transferred */
	r = 0;
out:
	tb_credpair_free(p);
	ERR_clear_error();
	return r;
}

/* libcurl's hook into each new SSL_CTX: the pair goes in before the handshake. */
static CURLcode
ssl_ctx_hook(CURL *curl, void *ssl_ctx, void *arg)
{
	const struct tb_credpair *p = arg;
	SSL_CTX *ctx = ssl_ctx;
	int i;

	(void)curl;
	if (SSL_CTX_use_certificate(ctx, p->cert) != 1)
		return CURLE_SSL_CERTPROBLEM;
	for (i = 0; i < sk_X509_num(p->chain); i++)
		if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(p->chain, i)) != 1)
			return CURLE_SSL_CERTPROBLEM;
	if (SSL_CTX_use_PrivateKey(ctx, p->key) != 1 || SSL_CTX_check_private_key(ctx) != 1)
		return CURLE_SSL_CERTPROBLEM;
	return CURLE_OK;
}

int
tb_credpair_apply(CURL *curl, const struct tb_credpair *pair, const char **refused)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

	/*
	 * The hook hands over OpenSSL objects: any other TLS library would take them for its own.
	 * A MultiSSL build lists the inactive backends in parentheses, so the active one is first.
	 */
	if (v == NULL || v->ssl_version == NULL || !starts_with(v->ssl_version, "OpenSSL/")) {
		*refused = "CURLOPT_SSL_CTX_FUNCTION (libcurl's TLS library is not OpenSSL)";
		return TB_ERR_IO;
	}
	if (curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_hook) != CURLE_OK) {
		*refused = "CURLOPT_SSL_CTX_FUNCTION";
		return TB_ERR_IO;
	}
	/* libcurl's prototype takes void *; the hook only reads the pair */
	if (curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, (void *)pair) != CURLE_OK) {
		*refused = "CURLOPT_SSL_CTX_DATA";
		return TB_ERR_IO;
	}
	return 0;
}

int
tb_credpair_changed(const struct tb_credpair *pair)
{
	return tb_watch_changed(pair->watch, time(NULL));
}

time_t
tb_credpair_not_after(const struct tb_credpair *pair)
{
	return pair->not_after;
}

void
tb_credpair_free(struct tb_credpair *pair)
{
	if (pair == NULL)
		return;
	tb_watch_free(pair->watch);
	X509_free(pair->cert);
	sk_X509_pop_free(pair->chain, X509_free);
	EVP_PKEY_free(pair->key); /* before what it runs on: the engine, the provider */
	EVP_PKEY_free(pair->hw);
	if (pair->engine != NULL) {
		ENGINE_finish(pair->engine);
		ENGINE_free(pair->engine);
	}
	if (pair->tpm2 != NULL)
		OSSL_PROVIDER_unload(pair->tpm2);
	if (pair->deflt != NULL)
		OSSL_PROVIDER_unload(pair->deflt);
	free(pair->paths[0]);
	free(pair->paths[1]);
	free(pair);
}
