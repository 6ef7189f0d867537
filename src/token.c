/* token.c: builds ID token claim sets; signing is the signer's business. */
#include "token.h"

#include "crypto.h"
#include "err.h"
#include "json.h"

/*
 * Sets a claim that must be there. tb_json_set_str would turn a NULL into JSON null, which in a
 * token is a claim silently gone: an identity's strings are never NULL (cert.h), so a NULL here
 * is a caller's bug, refused as one.
 */
static int
set_claim(struct tb_json *o, const char *key, const char *value)
{
	if (value == NULL)
		return TB_ERR_INTERNAL;
	return tb_json_set_str(o, key, value);
}

/* Hands child to o under key (ownership passes even on failure) after building it ok. */
static int
attach(struct tb_json *o, const char *key, struct tb_json **child, int built)
{
	int r;

	if (built != 0) {
		tb_json_free(*child);
		*child = NULL;
		return built;
	}
	r = tb_json_set(o, key, *child);
	*child = NULL; /* transferred, even on failure */
	return r;
}

/* The client object: the certificate attributes, "" for those the certificate lacks. */
static int
client_claims(const struct tb_identity *id, struct tb_json *client)
{
	int r;

	if ((r = set_claim(client, "x5_spiffe", id->spiffe)) != 0 ||
	    (r = set_claim(client, "x5_dnssan", id->dns_san)) != 0 ||
	    (r = set_claim(client, "x5_urisan", id->uri_san)) != 0 ||
	    (r = set_claim(client, "x5_sha256", id->sha256)) != 0 ||
	    (r = set_claim(client, "x5_serial", id->serial)) != 0)
		return r;
	return 0;
}

int
tb_token_claims(const struct tb_identity *id, const char *issuer, const char *audience, time_t now,
    long lifetime, char **claims)
{
	struct tb_json *o = NULL, *amr = NULL, *client = NULL, *cnf = NULL;
	char jti[TB_UUID_LEN + 1];
	int r;

	*claims = NULL;
	r = TB_ERR_INTERNAL;
	if (id->flow == NULL)
		goto out;
	if ((r = tb_uuid4(jti)) != 0)
		goto out;
	r = TB_ERR_ALLOC;
	if ((o = tb_json_object()) == NULL || (amr = tb_json_array()) == NULL ||
	    (client = tb_json_object()) == NULL || (cnf = tb_json_object()) == NULL)
		goto out;
	if ((r = set_claim(o, "iss", issuer)) != 0 ||
	    (r = set_claim(o, "sub", id->client_id)) != 0 ||
	    (r = set_claim(o, "aud", audience)) != 0 || (r = tb_json_set_int(o, "iat", now)) != 0 ||
	    (r = tb_json_set_int(o, "exp", now + lifetime)) != 0 ||
	    (r = tb_json_set_str(o, "jti", jti)) != 0)
		goto out;
	/* every step sets r: a failure never leaves the 0 of an earlier step behind */
	if ((r = attach(o, "amr", &amr, tb_json_append_str(amr, id->flow))) != 0 ||
	    (r = set_claim(o, "client_id", id->client_id)) != 0 ||
	    (r = attach(o, "client", &client, client_claims(id, client))) != 0 ||
	    (r = attach(o, "cnf", &cnf, set_claim(cnf, "x5t#S256", id->x5t_s256))) != 0)
		goto out;
	r = tb_json_render(o, claims);
out:
	tb_json_free(cnf);
	tb_json_free(client);
	tb_json_free(amr);
	tb_json_free(o);
	return r;
}
