/* crypto.h: the OpenSSL primitives the rest of the program needs (digests, randomness). */
#ifndef TB_CRYPTO_H
#define TB_CRYPTO_H

#include <openssl/asn1.h>
#include <stddef.h>
#include <time.h>

#define TB_SHA256_LEN 32
#define TB_SHA1_LEN 20
#define TB_UUID_LEN 36 /* "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" without the NUL */

int tb_sha256(const void *p, size_t n, unsigned char out[TB_SHA256_LEN]);
int tb_sha1(const void *p, size_t n, unsigned char out[TB_SHA1_LEN]);
/* Fills p with n bytes from the CSPRNG. */
int tb_random(void *p, size_t n);
/* Writes a random (version 4) UUID and a NUL into out. */
int tb_uuid4(char out[TB_UUID_LEN + 1]);
/* An ASN1_TIME (UTCTime or GeneralizedTime) as time_t; TB_ERR_INVALID when it cannot be read. */
int tb_asn1_time(const ASN1_TIME *t, time_t *out);
/* The most recent OpenSSL error reason as text, for logs (static storage, never NULL). */
const char *tb_crypto_error(void);

#endif
