/* credkey.h: the credential helper's client certificate and private key, loaded once. */
#ifndef TB_CREDKEY_H
#define TB_CREDKEY_H

#include <curl/curl.h>
#include <stddef.h>
#include <time.h>

/*
 * A certificate (with any chain certificates after it in the file) and the private key that
 * matches it. The key is a PEM file, or an OpenSSL key reference: a TPM 2.0 key through the
 * tpm2 provider ("handle:0x81000001", or a TSS2 PEM key file), or a PKCS#11 URI
 * ("pkcs11:token=...;object=...") through the PKCS#11 engine. Loaded once, then handed to every
 * TLS connection libcurl makes, so the key is never read again and, in hardware, never leaves it.
 */
struct tb_credpair;

/*
 * Loads cert_file and key_ref. 0, or an error code with why (one line naming the file or
 * reference and what is wrong): TB_ERR_INVALID when the key does not match the certificate.
 */
int tb_credpair_load(
    const char *cert_file, const char *key_ref, struct tb_credpair **out, char *why, size_t whylen);

/*
 * Sets the options on curl that make its TLS connections present pair (pair must outlive the
 * transfers). 0, or TB_ERR_IO naming the refused option in *refused.
 */
int tb_credpair_apply(CURL *curl, const struct tb_credpair *pair, const char **refused);

/* Whether cert_file or key_ref (when it is a file) changed since pair was loaded. */
int tb_credpair_changed(const struct tb_credpair *pair);

/* The certificate's notAfter. */
time_t tb_credpair_not_after(const struct tb_credpair *pair);

void tb_credpair_free(struct tb_credpair *pair);

#endif
