/* test_credkey.c: the credential helper's certificate and key pair from PEM files (TAP). */
#include "credkey.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit/pki.h"
#include "../unit/tap.h"
#include "crypto.h"
#include "err.h"

#define WHY_BYTES 4096
#define FILE_BYTES (64 * 1024)

static char pki[TEST_PATH_BYTES], tmp[TEST_PATH_BYTES];

static const char *
pki_file(const char *name)
{
	static char path[4][TEST_PATH_BYTES];
	static int i;

	i = (i + 1) % 4;
	if (snprintf(path[i], sizeof(path[i]), "%s/%s", pki, name) >= (int)sizeof(path[i]))
		abort(); /* a test tree this deep is not ours */
	return path[i];
}

static const char *
tmp_file(const char *name)
{
	static char path[4][TEST_PATH_BYTES];
	static int i;

	i = (i + 1) % 4;
	if (snprintf(path[i], sizeof(path[i]), "%s/%s", tmp, name) >= (int)sizeof(path[i]))
		abort(); /* a test tree this deep is not ours */
	return path[i];
}

/* Writes the concatenation of the files a and b (b may be NULL) to out with mode; 0 or -1. */
static int
concat(const char *out, mode_t mode, const char *a, const char *b)
{
	const char *in[2] = {a, b};
	char data[FILE_BYTES];
	FILE *o;
	int i, r = 0;

	unlink(out);
	if ((o = fopen(out, "w")) == NULL)
		return -1;
	for (i = 0; i < 2 && in[i] != NULL; i++) {
		FILE *f = fopen(in[i], "r");
		size_t n;

		if (f == NULL) {
			r = -1;
			break;
		}
		n = fread(data, 1, sizeof(data), f);
		fclose(f);
		if (fwrite(data, 1, n, o) != n)
			r = -1;
	}
	if (fclose(o) != 0 || chmod(out, mode) != 0)
		r = -1;
	return r;
}

static int
load(const char *cert, const char *key, char *why)
{
	struct tb_credpair *p = NULL;
	int r;

	why[0] = '\0';
	r = tb_credpair_load(cert, key, &p, why, WHY_BYTES);
	tb_credpair_free(p);
	return r;
}

/* client.key in a pass-phrase-protected PKCS#8 file: loading must refuse it, never prompt. */
static int
write_encrypted_key(const char *out)
{
	FILE *in = fopen(pki_file("client.key"), "r"), *o;
	EVP_PKEY *k = in != NULL ? PEM_read_PrivateKey(in, NULL, NULL, NULL) : NULL;
	int r = -1;

	if (in != NULL)
		fclose(in);
	if (k != NULL && (o = fopen(out, "w")) != NULL) {
		if (PEM_write_PKCS8PrivateKey(o, k, EVP_aes_256_cbc(), "secret", 6, NULL, NULL) ==
		    1)
			r = 0;
		if (fclose(o) != 0 || chmod(out, 0600) != 0)
			r = -1;
	}
	EVP_PKEY_free(k);
	return r;
}

static time_t
cert_not_after(const char *file)
{
	FILE *f = fopen(file, "r");
	X509 *x = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	time_t t = 0;

	if (f != NULL)
		fclose(f);
	if (x == NULL || tb_asn1_time(X509_get0_notAfter(x), &t) != 0)
		t = 0;
	X509_free(x);
	return t;
}

static void
test_pem(void)
{
	struct tb_credpair *p = NULL;
	char why[WHY_BYTES];
	const char *refused = NULL;
	CURL *curl;
	int r;

	r = tb_credpair_load(pki_file("client.pem"), pki_file("client.key"), &p, why, sizeof(why));
	is_int(r, 0, "a PEM certificate and its PEM key load");
	if (r != 0)
		printf("#   %s\n", why);
	if (p == NULL)
		return;
	is_int(tb_credpair_not_after(p), cert_not_after(pki_file("client.pem")),
	    "not_after is the certificate's notAfter");
	ok((curl = curl_easy_init()) != NULL, "curl_easy_init");
	if (curl != NULL) {
		is_int(tb_credpair_apply(curl, p, &refused), 0, "applies to a libcurl handle");
		ok(refused == NULL, "nothing refused: %s", refused ? refused : "");
		curl_easy_cleanup(curl);
	}
	tb_credpair_free(p);
	tb_credpair_free(NULL); /* a no-op */
}

static void
test_refusals(void)
{
	char why[WHY_BYTES];

	is_int(load(pki_file("client.pem"), pki_file("client2.key"), why), TB_ERR_INVALID,
	    "a key of another certificate: TB_ERR_INVALID");
	ok(strstr(why, "does not match") != NULL && strstr(why, "client2.key") != NULL,
	    "the reason names the key and says it does not match: %s", why);
	is_int(load(tmp_file("missing.pem"), pki_file("client.key"), why), TB_ERR_IO,
	    "a missing certificate: TB_ERR_IO");
	ok(strstr(why, "missing.pem") != NULL, "the reason names it: %s", why);
	is_int(load(pki_file("client.pem"), tmp_file("missing.key"), why), TB_ERR_IO,
	    "a missing key file: TB_ERR_IO");
	ok(strstr(why, "missing.key") != NULL, "the reason names it: %s", why);
	is_int(load(pki_file("client.key"), pki_file("client.key"), why), TB_ERR_INVALID,
	    "a certificate file without a certificate: TB_ERR_INVALID");
	ok(concat(tmp_file("cert-0600.pem"), 0600, pki_file("client.pem"), NULL) == 0,
	    "cert-0600.pem");
	is_int(load(pki_file("client.pem"), tmp_file("cert-0600.pem"), why), TB_ERR_INVALID,
	    "a key file without a key: TB_ERR_INVALID");
	ok(concat(tmp_file("shared.key"), 0644, pki_file("client.key"), NULL) == 0, "shared.key");
	is_int(load(pki_file("client.pem"), tmp_file("shared.key"), why), TB_ERR_CONFIG,
	    "a key file readable by others: TB_ERR_CONFIG");
	ok(write_encrypted_key(tmp_file("encrypted.key")) == 0, "encrypted.key");
	is_int(load(pki_file("client.pem"), tmp_file("encrypted.key"), why), TB_ERR_INVALID,
	    "an encrypted key is refused (no prompt for a pass phrase)");
}

static void
test_files(void)
{
	char why[WHY_BYTES];

	ok(concat(tmp_file("both.pem"), 0600, pki_file("client.pem"), pki_file("client.key")) == 0,
	    "both.pem");
	is_int(load(tmp_file("both.pem"), NULL, why), 0, "no key_ref: the key in the cert's file");
	is_int(load(tmp_file("both.pem"), "", why), 0, "an empty key_ref: the same");
	ok(concat(tmp_file("chain.pem"), 0644, pki_file("client.pem"), pki_file("ca.pem")) == 0,
	    "chain.pem");
	is_int(load(tmp_file("chain.pem"), pki_file("client.key"), why), 0,
	    "a certificate with a chain certificate after it");
	ok(concat(tmp_file("cachain.pem"), 0644, pki_file("ca.pem"), pki_file("client.pem")) == 0,
	    "cachain.pem");
	is_int(load(tmp_file("cachain.pem"), pki_file("client.key"), why), TB_ERR_INVALID,
	    "the first certificate is the one the key must match");
}

static void
test_changed(void)
{
	struct tb_credpair *p = NULL, *q = NULL;
	char why[WHY_BYTES];

	ok(concat(tmp_file("w.pem"), 0644, pki_file("client.pem"), NULL) == 0 &&
	        concat(tmp_file("w.key"), 0600, pki_file("client.key"), NULL) == 0,
	    "w.pem, w.key");
	is_int(tb_credpair_load(tmp_file("w.pem"), tmp_file("w.key"), &p, why, sizeof(why)), 0,
	    "the watched pair loads");
	if (p == NULL)
		return;
	is_int(tb_credpair_changed(p), 0, "unchanged files: not changed");
	tb_credpair_free(p);

	is_int(tb_credpair_load(tmp_file("w.pem"), tmp_file("w.key"), &p, why, sizeof(why)), 0,
	    "loaded again");
	ok(concat(tmp_file("w.pem"), 0644, pki_file("client2.pem"), NULL) == 0,
	    "the certificate file replaced");
	is_int(tb_credpair_changed(p), 1, "a replaced certificate: changed");
	is_int(tb_credpair_changed(p), 0, "a change is reported once");
	tb_credpair_free(p);

	ok(concat(tmp_file("w.pem"), 0644, pki_file("client.pem"), NULL) == 0, "back");
	is_int(tb_credpair_load(tmp_file("w.pem"), tmp_file("w.key"), &q, why, sizeof(why)), 0,
	    "loaded again");
	ok(concat(tmp_file("w.key"), 0600, pki_file("client2.key"), NULL) == 0,
	    "the key file replaced");
	if (q != NULL)
		is_int(tb_credpair_changed(q), 1, "a replaced key file: changed");
	tb_credpair_free(q);
}

/* A PIN in a PKCS#11 URI never reaches the reason (which goes to logs). */
static void
test_pkcs11_reason(void)
{
	char why[WHY_BYTES];
	int r;

	setenv("TOKEN_BROKER_PKCS11_MODULE", tmp_file("no-such-module.so"), 1);
	r = load(pki_file("client.pem"), "pkcs11:token=t;object=k;pin-value=84726155", why);
	is_int(r, TB_ERR_CONFIG, "a PKCS#11 module that is not there: TB_ERR_CONFIG");
	ok(strstr(why, "no-such-module.so") != NULL, "the reason names the module: %s", why);
	ok(strstr(why, "84726155") == NULL, "the PIN is not in the reason: %s", why);
	ok(strstr(why, "pkcs11:token=t;object=k") != NULL, "the reason names the token and object");
	r = load(pki_file("client.pem"),
	    "pkcs11:token=t;pin-value=84726155;object=k?module-path=%2Fno%2Fsuch.so", why);
	is_int(r, TB_ERR_CONFIG, "module-path in the URI, percent-decoded, comes first");
	ok(strstr(why, "/no/such.so") != NULL && strstr(why, "84726155") == NULL,
	    "the reason names that module, not the PIN: %s", why);
	unsetenv("TOKEN_BROKER_PKCS11_MODULE");
}

int
main(void)
{
	const char *t = getenv("TMPDIR");

	if (test_make_pki(pki, sizeof(pki)) != 0) {
		printf("not ok 1 - the test PKI (mkpki.py)\n1..1\n");
		return 1;
	}
	snprintf(tmp, sizeof(tmp), "%s/tb-credkey.XXXXXX", t != NULL && *t != '\0' ? t : "/tmp");
	if (mkdtemp(tmp) == NULL) {
		printf("not ok 1 - mkdtemp\n1..1\n");
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_pem();
	test_refusals();
	test_files();
	test_changed();
	test_pkcs11_reason();
	curl_global_cleanup();
	{
		static const char *names[] = {"shared.key", "encrypted.key", "both.pem",
		    "chain.pem", "cachain.pem", "w.pem", "w.key", "cert-0600.pem"};
		size_t i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			unlink(tmp_file(names[i]));
		rmdir(tmp);
	}
	return done_testing();
}
