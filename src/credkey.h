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
 *
 * Where the devices are comes from the environment: TPM2OPENSSL_TCTI for the TPM (the tpm2
 * provider's own setting, e.g. "device:/dev/tpmrm0" or "swtpm:host=127.0.0.1,port=2321");
 * for PKCS#11 the URI's module-path, else TOKEN_BROKER_PKCS11_MODULE, else the engine's
 * default module; the PIN from the URI's pin-value or pin-source, else
 * TOKEN_BROKER_PKCS11_PIN. Nothing ever prompts. A key file (PEM or TSS2) must not be readable
 * by others, a certificate file not writable by group or others (src/file.h).
 */
struct tb_credpair;

/*
 * Loads cert_file (the certificate, then any chain certificates) and key_ref (NULL or "": the
 * key is in cert_file). 0, or an error code with why (one line naming the file or reference,
 * a PKCS#11 URI without its PIN, and what is wrong): TB_ERR_INVALID when the key does not
 * match the certificate, or a file holds no certificate or key; TB_ERR_IO when a file cannot
 * be read; TB_ERR_CONFIG for a file's mode, no tpm2 provider or TPM, no pkcs11 engine or
 * module; TB_ERR_CRYPTO when the device refuses (no key at that handle, a wrong PIN or
 * object). For a TPM key it sets TSS2_LOG=all+NONE in the environment unless it is set (the
 * TSS would write its own lines to standard error), so call it before starting threads or
 * while no other thread reads the environment.
 */
int tb_credpair_load(
    const char *cert_file, const char *key_ref, struct tb_credpair **out, char *why, size_t whylen);

/*
 * Sets the options on curl that make its TLS connections present pair (pair, borrowed, must
 * outlive the transfers; applying another pair takes effect from the next new connection).
 * 0, or TB_ERR_IO naming the refused option in *refused (a static string); libcurl must use
 * OpenSSL, as Debian's libcurl4-openssl-dev does.
 */
int tb_credpair_apply(CURL *curl, const struct tb_credpair *pair, const char **refused);

/*
 * 1 when cert_file or key_ref (when it is a file) changed (written, replaced, removed) since
 * pair was loaded or since the last call that gave 1, else 0: one change is reported once. It
 * looks at the files at most once a TB_WATCH_INTERVAL second (src/watch.h); the first call
 * always looks.
 */
int tb_credpair_changed(const struct tb_credpair *pair);

/* The certificate's notAfter. */
time_t tb_credpair_not_after(const struct tb_credpair *pair);

void tb_credpair_free(struct tb_credpair *pair);

#endif
