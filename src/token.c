/* token.c: builds ID token claim sets; signing is the signer's business. */
#include "token.h"

#include "crypto.h"
#include "err.h"
#include "json.h"

int
tb_token_claims(const struct tb_identity *id, const char *issuer, const char *audience, time_t now,
    long lifetime, char **claims)
{
	struct tb_json *o = tb_json_object(), *amr = tb_json_array(), *client = tb_json_object();
	struct tb_json *cnf = tb_json_object();
	char jti[TB_UUID_LEN + 1];
	int r = TB_ERR_ALLOC;

	*claims = NULL;
	if (o == NULL || amr == NULL || client == NULL || cnf == NULL)
		goto out;
	if ((r = tb_uuid4(jti)) != 0)
		goto out;
	r = TB_ERR_ALLOC;
	if (tb_json_set_str(o, "iss", issuer) != 0 ||
	    tb_json_set_str(o, "sub", id->client_id) != 0 ||
	    tb_json_set_str(o, "aud", audience) != 0 || tb_json_set_int(o, "iat", now) != 0 ||
	    tb_json_set_int(o, "exp", now + lifetime) != 0 || tb_json_set_str(o, "jti", jti) != 0)
		goto out;
	if (tb_json_append_str(amr, id->flow) != 0)
		goto out;
	r = tb_json_set(o, "amr", amr);
	amr = NULL; /* transferred */
	if (r != 0 || tb_json_set_str(o, "client_id", id->client_id) != 0)
		goto out;
	if (tb_json_set_str(client, "x5_spiffe", id->spiffe) != 0 ||
	    tb_json_set_str(client, "x5_dnssan", id->dns_san) != 0 ||
	    tb_json_set_str(client, "x5_urisan", id->uri_san) != 0 ||
	    tb_json_set_str(client, "x5_sha256", id->sha256) != 0 ||
	    tb_json_set_str(client, "x5_serial", id->serial) != 0)
		goto out;
	r = tb_json_set(o, "client", client);
	client = NULL; /* transferred */
	if (r != 0 || tb_json_set_str(cnf, "x5t#S256", id->x5t_s256) != 0)
		goto out;
	r = tb_json_set(o, "cnf", cnf);
	cnf = NULL; /* transferred */
	if (r != 0)
		goto out;
	r = tb_json_render(o, claims);
out:
	tb_json_free(cnf);
	tb_json_free(client);
	tb_json_free(amr);
	tb_json_free(o);
	return r;
}
