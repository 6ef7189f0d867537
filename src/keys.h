/* keys.h: the broker's own signing keys: loading, JWS signing, and the public JWK Set. */
#ifndef TB_KEYS_H
#define TB_KEYS_H

#include <stddef.h>

#define TB_KEYS_MAX 8 /* keys in SIGNING_KEYS */

struct tb_keyset; /* private keys, parsed once at start */

/*
 * Loads PEM private keys from files (RSA of 2048 bits or more: RS256; EC P-256: ES256). The first
 * signs; all are published. On failure writes a one-line reason naming the file into why.
 */
int tb_keyset_load(
    const char *const *files, size_t n, struct tb_keyset **out, char *why, size_t whylen);
void tb_keyset_free(struct tb_keyset *ks);

/* The public JWK Set ({"keys":[...]}, each with kty, use, alg, kid and the key), borrowed. */
const char *tb_keyset_jwks(const struct tb_keyset *ks);
/* How many keys, and the JWS algorithm ("RS256" or "ES256") and kid of key i, borrowed. */
size_t tb_keyset_count(const struct tb_keyset *ks);
const char *tb_keyset_alg(const struct tb_keyset *ks, size_t i);
const char *tb_keyset_kid(const struct tb_keyset *ks, size_t i);

/*
 * Signs claims (a JSON object text) as a compact JWS with the first key: header
 * {"alg":...,"kid":...,"typ":"JWT"}; ES256 signatures in the raw r||s form of RFC 7518.
 * *jwt is the caller's.
 */
int tb_keyset_sign(const struct tb_keyset *ks, const char *claims, char **jwt);

/* The RFC 7638 thumbprint of a public JWK given as a JSON object text, into *kid (caller's). */
int tb_jwk_thumbprint(const char *jwk_json, char **kid);

#endif
