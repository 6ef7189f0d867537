/* test_flow.c: which flow handles a request, in AUTH_FLOWS order, and whose id it gets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "flow.h"
#include "tap.h"

static char *
read_pem(const char *name)
{
	char path[4096];
	const char *src = getenv("TB_SRCDIR");
	FILE *f;
	char *s = calloc(1, 65536);

	snprintf(path, sizeof(path), "%s/tests/fixtures/%s", src != NULL ? src : ".", name);
	if ((f = fopen(path, "r")) != NULL) {
		s[fread(s, 1, 65535, f)] = '\0';
		fclose(f);
	}
	return s;
}

static struct tb_request *
request(const char *verify, const char *pem, const char *present, const char *hash)
{
	struct tb_request *req = NULL;
	char *p;
	size_t n;

	tb_request_new(&req);
	if (verify != NULL) {
		n = strlen(verify) + 32;
		p = malloc(n);
		snprintf(p, n, "SSL_CLIENT_VERIFY=%s", verify);
		tb_request_add_param(req, p);
		free(p);
	}
	if (pem != NULL) {
		n = strlen(pem) + 32;
		p = malloc(n);
		snprintf(p, n, "SSL_CLIENT_CERT=%s", pem);
		tb_request_add_param(req, p);
		free(p);
	}
	if (present != NULL) {
		char buf[256];

		snprintf(buf, sizeof(buf), "HTTP_X_CLIENT_CERT_PRESENT=%s", present);
		tb_request_add_param(req, buf);
		tb_request_add_param(req, "HTTP_X_CLIENT_CERT_CHAIN_VERIFIED=true");
		snprintf(buf, sizeof(buf), "HTTP_X_CLIENT_CERT_HASH=%s", hash);
		tb_request_add_param(req, buf);
	}
	return req;
}

static struct tb_config *
config(const char *flows, const char *id_attr)
{
	struct tb_config *c = NULL;

	setenv("TOKEN_AUDIENCE", "https://aud.example", 1);
	setenv("SIGNING_KEYS", "/k.pem", 1);
	setenv("AUTH_FLOWS", flows, 1);
	if (id_attr != NULL)
		setenv("MTLS_CLIENT_ID", id_attr, 1);
	else
		unsetenv("MTLS_CLIENT_ID");
	tb_config_load(NULL, NULL, &c);
	return c;
}

int
main(void)
{
	const time_t now = 1795392000; /* 2026-11-23T00:00:00Z, inside the fixtures' validity */
	const char *hash = "m97PuzECBhCm/I0kODCYy5q00uRkxM00DSGQ+Tl8DoM";
	char *pem = read_pem("dns.pem"), why[TB_WHY_MAX];
	struct tb_config *mtls = config("mtls-client-credentials", NULL);
	struct tb_config *both =
	    config("xlb-mtls-client-credentials,mtls-client-credentials", NULL);
	struct tb_config *dns = config("mtls-client-credentials", "dnssan");
	struct tb_config *spiffe = config("mtls-client-credentials", "spiffe");
	struct tb_identity *id = NULL;
	struct tb_request *req;

	ok(mtls != NULL && both != NULL && dns != NULL && spiffe != NULL, "settings load");
	ok(strstr(pem, "BEGIN CERTIFICATE") != NULL, "fixture dns.pem read");

	req = request("SUCCESS", pem, NULL, NULL);
	ok(tb_flow_authenticate(mtls, NULL, req, now, &id, why, sizeof(why)) == 0,
	    "a verified certificate: %s", why);
	ok(id != NULL && strcmp(id->flow, "mtls-client-credentials") == 0, "the mtls flow");
	ok(id != NULL && strcmp(id->client_id, id->sha256) == 0,
	    "client id is the SHA-256 by default");
	tb_identity_free(id);
	id = NULL;
	ok(tb_flow_authenticate(dns, NULL, req, now, &id, why, sizeof(why)) == 0 &&
	        strcmp(id->client_id, id->dns_san) == 0,
	    "MTLS_CLIENT_ID=dnssan: the DNS SAN");
	tb_identity_free(id);
	id = NULL;
	is_int(tb_flow_authenticate(spiffe, NULL, req, now, &id, why, sizeof(why)), TB_ERR_CLIENT,
	    "MTLS_CLIENT_ID=spiffe without a SPIFFE ID is refused");
	ok(strstr(why, "SPIFFE") != NULL, "and says why: %s", why);
	tb_request_free(req);

	static const char *const verifies[] = {
	    "NONE", "GENEROUS", "FAILED:unable to get issuer", "success", ""};
	for (size_t i = 0; i < sizeof(verifies) / sizeof(verifies[0]); i++) {
		req = request(verifies[i], pem, NULL, NULL);
		is_int(tb_flow_authenticate(mtls, NULL, req, now, &id, why, sizeof(why)),
		    TB_ERR_CLIENT, "SSL_CLIENT_VERIFY=%s is refused", verifies[i]);
		ok(id == NULL, "no identity");
		tb_request_free(req);
	}
	req = request("NONE", NULL, NULL, NULL);
	is_int(tb_flow_authenticate(mtls, NULL, req, now, &id, why, sizeof(why)), TB_ERR_CLIENT,
	    "no certificate");
	ok(strstr(why, "no client certificate") != NULL, "says so: %s", why);
	tb_request_free(req);

	/* load-balancer headers are honoured only when the flow is enabled, in the listed order */
	req = request(NULL, NULL, "true", hash);
	is_int(tb_flow_authenticate(mtls, NULL, req, now, &id, why, sizeof(why)), TB_ERR_CLIENT,
	    "headers ignored without xlb-mtls-client-credentials");
	ok(tb_flow_authenticate(both, NULL, req, now, &id, why, sizeof(why)) == 0 &&
	        strcmp(id->flow, "xlb-mtls-client-credentials") == 0 &&
	        strcmp(id->client_id, hash) == 0,
	    "with it enabled: the hash header is the client id");
	tb_identity_free(id);
	id = NULL;
	tb_request_free(req);
	req = request("SUCCESS", pem, "TRUE", hash);
	ok(tb_flow_authenticate(both, NULL, req, now, &id, why, sizeof(why)) == 0 &&
	        strcmp(id->flow, "xlb-mtls-client-credentials") == 0,
	    "both credentials: the first flow listed wins");
	tb_identity_free(id);
	id = NULL;
	tb_request_free(req);
	req = request("SUCCESS", pem, "false", hash);
	ok(tb_flow_authenticate(both, NULL, req, now, &id, why, sizeof(why)) == 0 &&
	        strcmp(id->flow, "mtls-client-credentials") == 0,
	    "present=false: the next flow handles it");
	tb_identity_free(id);
	tb_request_free(req);

	tb_config_free(mtls);
	tb_config_free(both);
	tb_config_free(dns);
	tb_config_free(spiffe);
	free(pem);
	return done_testing();
}
