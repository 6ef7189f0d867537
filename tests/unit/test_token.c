/* test_token.c: the ID token's claim set, with an injected clock. */
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "json.h"
#include "tap.h"
#include "token.h"

int
main(void)
{
	struct tb_identity id = {
	    .sha256 = "m97PuzECBhCm/I0kODCYy5q00uRkxM00DSGQ+Tl8DoM",
	    .x5t_s256 = "m97PuzECBhCm_I0kODCYy5q00uRkxM00DSGQ-Tl8DoM",
	    .sha1 = "",
	    .serial = "00:c9:77:71:db:a8:b7:70:e1:b6:a7:3f:4c:91:80:42:72:77:b5:fd",
	    .dns_san = "client.example.net",
	    .uri_san = "",
	    .spiffe = "",
	    .subject = "CN=client.example.net",
	    .client_id = "m97PuzECBhCm/I0kODCYy5q00uRkxM00DSGQ+Tl8DoM",
	    .flow = "mtls-client-credentials",
	};
	struct tb_json *j = NULL, *client, *cnf, *amr;
	char *claims = NULL, *again = NULL;
	int64_t v;

	ok(tb_token_claims(&id, "https://token-service.example.net", "https://iam.googleapis.com/x",
	       1693358237, 300, &claims) == 0,
	    "renders claims");
	ok(tb_json_parse(claims, strlen(claims), &j) == 0, "they are JSON");
	is_str(tb_json_get_str(j, "iss"), "https://token-service.example.net", "iss");
	is_str(tb_json_get_str(j, "aud"), "https://iam.googleapis.com/x", "aud");
	is_str(tb_json_get_str(j, "sub"), id.client_id, "sub is the client id");
	is_str(tb_json_get_str(j, "client_id"), id.client_id, "client_id");
	ok(tb_json_get_int(j, "iat", &v) == 0 && v == 1693358237, "iat is the injected now");
	ok(tb_json_get_int(j, "exp", &v) == 0 && v == 1693358537, "exp is now + lifetime");
	ok(tb_json_get_str(j, "jti") != NULL && strlen(tb_json_get_str(j, "jti")) == 36,
	    "jti is a UUID");
	ok(tb_json_get_str(j, "jti")[14] == '4', "a version 4 UUID");
	amr = tb_json_get(j, "amr");
	ok(tb_json_len(amr) == 1 && strcmp(tb_json_str(tb_json_at(amr, 0)), id.flow) == 0,
	    "amr is [flow]");
	client = tb_json_get(j, "client");
	is_str(tb_json_get_str(client, "x5_spiffe"), "", "absent SPIFFE ID is \"\"");
	is_str(tb_json_get_str(client, "x5_dnssan"), "client.example.net", "x5_dnssan");
	is_str(tb_json_get_str(client, "x5_urisan"), "", "x5_urisan");
	is_str(tb_json_get_str(client, "x5_sha256"), id.sha256, "x5_sha256");
	is_str(tb_json_get_str(client, "x5_serial"), id.serial, "x5_serial");
	cnf = tb_json_get(j, "cnf");
	is_str(tb_json_get_str(cnf, "x5t#S256"), id.x5t_s256, "cnf.x5t#S256 (RFC 8705)");
	tb_token_claims(&id, "i", "a", 1, 1, &again);
	ok(again != NULL && strcmp(tb_json_get_str(j, "jti"), "") != 0 &&
	        strstr(again, tb_json_get_str(j, "jti")) == NULL,
	    "each token has its own jti");
	free(again);
	free(claims);
	tb_json_free(j);
	return done_testing();
}
