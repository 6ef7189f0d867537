/* signer.h: one interface over the two ways of signing ID tokens (local keys, IAM signJwt). */
#ifndef TB_SIGNER_H
#define TB_SIGNER_H

#include <stddef.h>
#include <time.h>

#include "google.h"
#include "keys.h"

struct tb_signer;

/* Signs with local keys; takes ownership of ks (freed with the signer, even on failure). */
int tb_signer_new_local(struct tb_keyset *ks, struct tb_signer **out);
/* Signs with IAM Credentials signJwt as account ("default": the metadata server's); g borrowed. */
int tb_signer_new_iam(struct tb_google *g, const char *account, struct tb_signer **out);
void tb_signer_free(struct tb_signer *s);

/*
 * Signs a claim set (JSON object text) into a compact JWS (*jwt, the caller's). Local signing
 * cannot fail but for memory; IAM signing returns the google.h codes and fills detail.
 */
int tb_signer_sign(struct tb_signer *s, const char *claims, time_t now, char **jwt, char *detail);

/* The public JWK Set to serve (borrowed), or NULL when Google publishes the keys. */
const char *tb_signer_jwks(const struct tb_signer *s);
/*
 * The jwks_uri for discovery into *uri (the caller's): <issuer>/.well-known/jwks.json for local
 * keys, Google's key set of the account for IAM (which may need the metadata server: google.h
 * codes).
 */
int tb_signer_jwks_uri(struct tb_signer *s, const char *issuer, char **uri, char *detail);
/* The JWS algorithms the signer uses, for discovery: up to max of them into algs (borrowed). */
size_t tb_signer_algs(const struct tb_signer *s, const char **algs, size_t max);

#endif
