/* token.h: the claims of the ID tokens the broker issues. */
#ifndef TB_TOKEN_H
#define TB_TOKEN_H

#include <time.h>

#include "cert.h"

/*
 * Renders the claim set of an ID token for id (doc/contract.md section 4): iss, aud, sub and
 * client_id (the client's id), iat = now, exp = now + lifetime seconds, a random jti, amr [flow],
 * the client object of certificate attributes and cnf.x5t#S256. *claims (JSON text) is the
 * caller's. Every failed allocation, json-c's own included, is TB_ERR_ALLOC and leaves *claims
 * NULL; a NULL string among the inputs (never JSON null in a token) is TB_ERR_INTERNAL.
 */
int tb_token_claims(const struct tb_identity *id, const char *issuer, const char *audience,
    time_t now, long lifetime, char **claims);

#endif
