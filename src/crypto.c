/* crypto.c: digests and randomness from OpenSSL 3. */
#include "crypto.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

/*
 * The digest named name, fetched from the providers once and kept in *md for the process's life:
 * a fetch by name takes the provider store's locks and searches it, which on every request cost
 * more than hashing a certificate does (OpenSSL 3's "explicit fetching" advice).
 */
static int
digest(EVP_MD **md, const char *name, const void *p, size_t n, unsigned char *out, size_t outlen)
{
	unsigned int len = 0;

	if (*md == NULL && (*md = EVP_MD_fetch(NULL, name, NULL)) == NULL)
		return TB_ERR_CRYPTO;
	if (EVP_Digest(p, n, out, &len, *md, NULL) != 1 || len != outlen)
		return TB_ERR_CRYPTO;
	return 0;
}

int
tb_sha256(const void *p, size_t n, unsigned char out[TB_SHA256_LEN])
{
	static EVP_MD *md;

	return digest(&md, "SHA256", p, n, out, TB_SHA256_LEN);
}

int
tb_sha1(const void *p, size_t n, unsigned char out[TB_SHA1_LEN])
{
	static EVP_MD *md;

	return digest(&md, "SHA1", p, n, out, TB_SHA1_LEN);
}

int
tb_random(void *p, size_t n)
{
	if (n > 0x7fffffff || RAND_bytes(p, (int)n) != 1)
		return TB_ERR_CRYPTO;
	return 0;
}

/*
 * Random bytes for UUIDs (a token's jti), drawn from OpenSSL's DRBG a pool at a time: one
 * RAND_bytes call for 16 bytes cost more than the rest of the claims. Each byte is used once.
 */
#define UUID_BYTES 16
#define UUID_POOL (256 * UUID_BYTES)
static unsigned char pool[UUID_POOL];
static size_t pool_left;
static int pool_atfork;

static void
uuid_pool_reset(void)
{
	OPENSSL_cleanse(pool, sizeof(pool));
	pool_left = 0;
}

int
tb_uuid4(char out[TB_UUID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[UUID_BYTES];
	size_t i, k = 0;

	if (pool_left < sizeof(b)) {
		/* a fork would give the child the parent's pool: uuid_pool_reset empties it there
		 */
		if (!pool_atfork && pthread_atfork(NULL, NULL, uuid_pool_reset) == 0)
			pool_atfork = 1;
		if (!pool_atfork || tb_random(pool, sizeof(pool)) != 0)
			return TB_ERR_CRYPTO;
		pool_left = sizeof(pool);
	}
	memcpy(b, pool + sizeof(pool) - pool_left, sizeof(b));
	OPENSSL_cleanse(pool + sizeof(pool) - pool_left, sizeof(b)); /* used once, then gone */
	pool_left -= sizeof(b);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	for (i = 0; i < sizeof(b); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[k++] = '-';
		out[k++] = hex[b[i] >> 4];
		out[k++] = hex[b[i] & 0xf];
	}
	out[k] = '\0';
	return 0;
}

int
tb_asn1_time(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return TB_ERR_INVALID;
	*out = timegm(&tm);
	return 0;
}

const char *
tb_crypto_error(void)
{
	static char msg[256];
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		return "no OpenSSL error queued";
	ERR_error_string_n(e, msg, sizeof(msg));
	ERR_clear_error();
	return msg;
}
