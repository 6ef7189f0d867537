/* signer.c: local-key and IAM signJwt signers behind one table of operations (cjose's shape). */
#include "signer.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"

#define JWKS_PATH "/.well-known/jwks.json"
#define GOOGLE_JWKS "https://www.googleapis.com/service_accounts/v1/metadata/jwk/"

struct ops {
	int (*sign)(struct tb_signer *s, const char *claims, time_t now, char **jwt, char *detail);
	int (*jwks_uri)(struct tb_signer *s, const char *issuer, char **uri, char *detail);
	void (*free)(struct tb_signer *s);
};

struct tb_signer {
	const struct ops *ops;
	struct tb_keyset *keys;   /* local */
	struct tb_google *google; /* IAM, borrowed */
	char *account;            /* IAM: as configured */
	char *email;              /* IAM: resolved ("default" looked up once) */
};

static int
local_sign(struct tb_signer *s, const char *claims, time_t now, char **jwt, char *detail)
{
	(void)now;
	detail[0] = '\0';
	return tb_keyset_sign(s->keys, claims, jwt);
}

static int
concat(const char *a, const char *b, char **out)
{
	struct tb_buf buf;
	int r;

	tb_buf_init(&buf, strlen(a) + strlen(b));
	if ((r = tb_buf_addstr(&buf, a)) == 0 && (r = tb_buf_addstr(&buf, b)) == 0 &&
	    (*out = tb_buf_detach(&buf)) == NULL)
		r = TB_ERR_ALLOC;
	tb_buf_free(&buf);
	return r;
}

static int
local_jwks_uri(struct tb_signer *s, const char *issuer, char **uri, char *detail)
{
	(void)s;
	detail[0] = '\0';
	return concat(issuer, JWKS_PATH, uri);
}

static void
local_free(struct tb_signer *s)
{
	tb_keyset_free(s->keys);
}

/* The account's email, looking "default" up at the metadata server once. */
static int
iam_email(struct tb_signer *s, char *detail)
{
	int r;

	if (s->email != NULL)
		return 0;
	if (strcmp(s->account, "default") != 0)
		return (s->email = strdup(s->account)) == NULL ? TB_ERR_ALLOC : 0;
	if ((r = tb_google_default_account(s->google, &s->email, detail)) != 0)
		s->email = NULL;
	return r;
}

static int
iam_sign(struct tb_signer *s, const char *claims, time_t now, char **jwt, char *detail)
{
	int r;

	detail[0] = '\0';
	if ((r = iam_email(s, detail)) != 0)
		return r;
	return tb_google_sign_jwt(s->google, s->email, claims, now, jwt, detail);
}

static int
iam_jwks_uri(struct tb_signer *s, const char *issuer, char **uri, char *detail)
{
	int r;

	(void)issuer;
	detail[0] = '\0';
	if ((r = iam_email(s, detail)) != 0)
		return r;
	return concat(GOOGLE_JWKS, s->email, uri);
}

static void
iam_free(struct tb_signer *s)
{
	free(s->account);
	free(s->email);
}

static const struct ops local_ops = {local_sign, local_jwks_uri, local_free};
static const struct ops iam_ops = {iam_sign, iam_jwks_uri, iam_free};

int
tb_signer_new_local(struct tb_keyset *ks, struct tb_signer **out)
{
	struct tb_signer *s;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		tb_keyset_free(ks);
		return TB_ERR_ALLOC;
	}
	s->ops = &local_ops;
	s->keys = ks;
	*out = s;
	return 0;
}

int
tb_signer_new_iam(struct tb_google *g, const char *account, struct tb_signer **out)
{
	struct tb_signer *s;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return TB_ERR_ALLOC;
	s->ops = &iam_ops;
	s->google = g;
	if ((s->account = strdup(account)) == NULL) {
		free(s);
		return TB_ERR_ALLOC;
	}
	*out = s;
	return 0;
}

void
tb_signer_free(struct tb_signer *s)
{
	if (s == NULL)
		return;
	s->ops->free(s);
	free(s);
}

int
tb_signer_sign(struct tb_signer *s, const char *claims, time_t now, char **jwt, char *detail)
{
	*jwt = NULL;
	return s->ops->sign(s, claims, now, jwt, detail);
}

const char *
tb_signer_jwks(const struct tb_signer *s)
{
	return s->keys != NULL ? tb_keyset_jwks(s->keys) : NULL;
}

int
tb_signer_jwks_uri(struct tb_signer *s, const char *issuer, char **uri, char *detail)
{
	*uri = NULL;
	return s->ops->jwks_uri(s, issuer, uri, detail);
}

size_t
tb_signer_algs(const struct tb_signer *s, const char **algs, size_t max)
{
	size_t i, k, n = 0;

	if (s->keys == NULL) {
		if (max > 0)
			algs[n++] = "RS256"; /* what signJwt produces */
		return n;
	}
	for (i = 0; i < tb_keyset_count(s->keys); i++) {
		const char *a = tb_keyset_alg(s->keys, i);

		for (k = 0; k < n; k++)
			if (strcmp(algs[k], a) == 0)
				break;
		if (k == n && n < max)
			algs[n++] = a;
	}
	return n;
}
