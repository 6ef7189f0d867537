/* test_config.c: each setting is checked at start, with a problem naming it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "tap.h"

static char last_setting[128];
static int problems;

static void
report(void *arg, int warning, const char *setting, const char *msg)
{
	(void)arg;
	(void)msg;
	if (warning)
		return;
	problems++;
	snprintf(last_setting, sizeof(last_setting), "%s", setting);
}

static const char *const all[] = {"AUTH_FLOWS", "WORKLOAD_IDENTITY_PROJECT_NUMBER",
    "WORKLOAD_IDENTITY_POOL_ID", "WORKLOAD_IDENTITY_PROVIDER_ID", "WORKLOAD_IDENITY_PROJECT_NUMBER",
    "WORKLOAD_IDENITY_POOL_ID", "WORKLOAD_IDENITY_PROVIDER_ID", "TOKEN_AUDIENCE", "TOKEN_VALIDITY",
    "TOKEN_ISSUER", "SIGNING_KEYS", "SIGNING_SERVICE_ACCOUNT", "MTLS_CLIENT_ID", "CLIENT_REGISTRY",
    "MTLS_HEADER_CLIENT_ID", "STS_ENDPOINT", "IAMCREDENTIALS_ENDPOINT", "GCE_METADATA_HOST",
    "UPSTREAM_TIMEOUT", "LOG_FILE", "GOOGLE_CLOUD_PROJECT"};

static void
base(void)
{
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		unsetenv(all[i]);
	setenv("WORKLOAD_IDENTITY_PROJECT_NUMBER", "123456789012", 1);
	setenv("WORKLOAD_IDENTITY_POOL_ID", "test-pool", 1);
	setenv("WORKLOAD_IDENTITY_PROVIDER_ID", "test-provider", 1);
	setenv("SIGNING_KEYS", "/k1.pem, /k2.pem ,", 1);
}

/* Loads with one extra setting; returns the result and leaves the config in *out. */
static int
load(const char *name, const char *value, struct tb_config **out)
{
	base();
	if (name != NULL)
		setenv(name, value, 1);
	problems = 0;
	last_setting[0] = '\0';
	return tb_config_load(report, NULL, out);
}

static const struct {
	const char *name, *value, *named;
} refused[] = {
    {"TOKEN_VALIDITY", "0", "TOKEN_VALIDITY"},
    {"TOKEN_VALIDITY", "721", "TOKEN_VALIDITY"},
    {"TOKEN_VALIDITY", "5m", "TOKEN_VALIDITY"},
    {"TOKEN_VALIDITY", "-5", "TOKEN_VALIDITY"},
    {"AUTH_FLOWS", "password", "AUTH_FLOWS"},
    {"AUTH_FLOWS", " , ", "AUTH_FLOWS"},
    {"MTLS_CLIENT_ID", "sha1", "MTLS_CLIENT_ID"},
    {"TOKEN_ISSUER", "ftp://x.example", "TOKEN_ISSUER"},
    {"TOKEN_ISSUER", "http://broker.example.net", "TOKEN_ISSUER"},
    {"TOKEN_ISSUER", "https://x.example/?q", "TOKEN_ISSUER"},
    {"SIGNING_SERVICE_ACCOUNT", "sa@p.iam.gserviceaccount.com", "SIGNING_KEYS"},
    {"WORKLOAD_IDENTITY_PROJECT_NUMBER", "my-project", "WORKLOAD_IDENTITY_PROJECT_NUMBER"},
    {"WORKLOAD_IDENITY_POOL_ID", "other-pool", "WORKLOAD_IDENTITY_POOL_ID"},
    {"STS_ENDPOINT", "http://sts.example.com", "STS_ENDPOINT"},
    {"UPSTREAM_TIMEOUT", "0", "UPSTREAM_TIMEOUT"},
    {"MTLS_HEADER_CLIENT_ID", "X-Client-Cert-Present", "MTLS_HEADER_CLIENT_ID"},
    {"GCE_METADATA_HOST", "meta/evil", "GCE_METADATA_HOST"},
    /* plain http only for a loopback address, not for a name that starts like one */
    {"STS_ENDPOINT", "http://127.evil.example", "STS_ENDPOINT"},
    {"STS_ENDPOINT", "http://127.0.0.1.nip.io:8080", "STS_ENDPOINT"},
    {"IAMCREDENTIALS_ENDPOINT", "http://[::1]evil.example", "IAMCREDENTIALS_ENDPOINT"},
    {"STS_ENDPOINT", "https://sts.example.com:https", "STS_ENDPOINT"},
    {"TOKEN_ISSUER", "https://broker.example.net:/idp", "TOKEN_ISSUER"},
    /* one rule for service accounts, at start as in requests (valid.h) */
    {"SIGNING_SERVICE_ACCOUNT", "sa@localhost", "SIGNING_SERVICE_ACCOUNT"},
    {"GCE_METADATA_HOST", "https://metadata.google.internal", "GCE_METADATA_HOST"},
    {"GCE_METADATA_HOST", "http://127.0.0.1:8080/computeMetadata", "GCE_METADATA_HOST"},
    {"GCE_METADATA_HOST", "http://", "GCE_METADATA_HOST"},
    {"GCE_METADATA_HOST", "127.0.0.1:99999", "GCE_METADATA_HOST"},
    {"UPSTREAM_TIMEOUT", "121", "UPSTREAM_TIMEOUT"},
    {"UPSTREAM_TIMEOUT", "1e1", "UPSTREAM_TIMEOUT"},
    {"UPSTREAM_TIMEOUT", "99999999999999999999", "UPSTREAM_TIMEOUT"},
};

/* GCE_METADATA_HOST as Google's client libraries take it, and what the broker keeps. */
static const struct {
	const char *value, *kept;
} metadata_hosts[] = {
    {"metadata.google.internal", "metadata.google.internal"},
    {"169.254.169.254", "169.254.169.254"},
    {"127.0.0.1:8080", "127.0.0.1:8080"},
    {"http://127.0.0.1:8080", "127.0.0.1:8080"},
    {"HTTP://metadata.google.internal/", "metadata.google.internal"},
    {"http://[::1]:8080", "[::1]:8080"},
};

static const char *const loopback_urls[] = {"http://localhost:8080", "http://[::1]:8080/",
    "http://127.0.0.1", "https://[2001:db8::1]:8443"};

int
main(void)
{
	struct tb_config *c = NULL;
	size_t i;

	is_int(load(NULL, NULL, &c), 0, "the minimal settings load");
	is_str(c->audience,
	    "https://iam.googleapis.com/projects/123456789012/locations/global/"
	    "workloadIdentityPools/"
	    "test-pool/providers/test-provider",
	    "aud derived from the pool");
	is_str(c->sts_audience,
	    "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/"
	    "test-pool/providers/test-provider",
	    "STS audience derived from the pool");
	is_int(c->validity, 5, "TOKEN_VALIDITY defaults to 5 minutes");
	ok(c->issuer == NULL, "TOKEN_ISSUER unset: from Host");
	is_int((long long)c->nflows, 1, "one flow by default");
	is_int(c->flows[0], TB_FLOW_MTLS, "mtls-client-credentials by default");
	is_int((long long)c->nsigning_keys, 2, "two key files, blanks dropped");
	is_str(c->signing_keys[1], "/k2.pem", "trimmed");
	is_int(c->client_id_attr, TB_ID_SHA256, "client id from the SHA-256 by default");
	is_str(c->xlb_client_id_header, "X-Client-Cert-Hash",
	    "load balancer client id header default");
	is_str(c->sts_endpoint, "https://sts.googleapis.com", "STS default");
	is_int(c->upstream_timeout, 10, "upstream timeout default");
	tb_config_free(c);

	is_int(
	    load("TOKEN_ISSUER", "https://broker.example.net/idp/", &c), 0, "issuer with a path");
	is_str(c->issuer, "https://broker.example.net/idp", "trailing slash stripped");
	is_str(c->issuer_path, "/idp", "mount path from the issuer");
	tb_config_free(c);

	is_int(load("AUTH_FLOWS", " xlb-mtls-client-credentials,, mtls-client-credentials ,", &c),
	    0, "two flows");
	ok(c->nflows == 2 && c->flows[0] == TB_FLOW_XLB && c->flows[1] == TB_FLOW_MTLS,
	    "in the listed order");
	tb_config_free(c);

	base();
	unsetenv("WORKLOAD_IDENTITY_PROJECT_NUMBER");
	unsetenv("WORKLOAD_IDENTITY_POOL_ID");
	unsetenv("WORKLOAD_IDENTITY_PROVIDER_ID");
	setenv("WORKLOAD_IDENITY_PROJECT_NUMBER", "42", 1);
	setenv("WORKLOAD_IDENITY_POOL_ID", "old-pool", 1);
	setenv("WORKLOAD_IDENITY_PROVIDER_ID", "old-provider", 1);
	problems = 0;
	is_int(tb_config_load(report, NULL, &c), 0, "the original's misspelled names are accepted");
	ok(c != NULL && strstr(c->audience, "/projects/42/") != NULL, "and used");
	tb_config_free(c);

	base();
	unsetenv("WORKLOAD_IDENTITY_PROJECT_NUMBER");
	unsetenv("WORKLOAD_IDENTITY_POOL_ID");
	unsetenv("WORKLOAD_IDENTITY_PROVIDER_ID");
	problems = 0;
	is_int(tb_config_load(report, NULL, &c), TB_ERR_CONFIG, "no audience at all is refused");
	is_str(last_setting, "TOKEN_AUDIENCE", "naming TOKEN_AUDIENCE");
	setenv("TOKEN_AUDIENCE", "https://example.net/aud", 1);
	is_int(tb_config_load(report, NULL, &c), 0, "TOKEN_AUDIENCE alone is enough");
	ok(c->sts_audience == NULL, "but gives no STS audience");
	tb_config_free(c);

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		c = (struct tb_config *)1;
		is_int(load(refused[i].name, refused[i].value, &c), TB_ERR_CONFIG, "%s=%s refused",
		    refused[i].name, refused[i].value);
		is_str(last_setting, refused[i].named, "the problem names %s", refused[i].named);
		ok(c == NULL, "no config");
	}
	is_int(load("STS_ENDPOINT", "http://127.0.0.1:8080/", &c), 0,
	    "plain http on loopback is fine");
	is_str(c->sts_endpoint, "http://127.0.0.1:8080", "without the slash");
	tb_config_free(c);
	for (i = 0; i < sizeof(loopback_urls) / sizeof(loopback_urls[0]); i++) {
		is_int(load("STS_ENDPOINT", loopback_urls[i], &c), 0, "STS_ENDPOINT=%s is fine",
		    loopback_urls[i]);
		tb_config_free(c);
	}

	/* routes.c builds <issuer>/token in a bounded buffer: a longer issuer would be cut short */
	{
		char issuer[TB_ISSUER_MAX + 2] = "https://broker.example.net/";
		size_t n = strlen(issuer);

		memset(issuer + n, 'p', sizeof(issuer) - 1 - n);
		issuer[sizeof(issuer) - 1] = '\0';
		c = (struct tb_config *)1;
		is_int(load("TOKEN_ISSUER", issuer, &c), TB_ERR_CONFIG,
		    "a %zu-byte TOKEN_ISSUER is refused", strlen(issuer));
		is_str(last_setting, "TOKEN_ISSUER", "naming TOKEN_ISSUER");
		issuer[TB_ISSUER_MAX] = '\0';
		is_int(load("TOKEN_ISSUER", issuer, &c), 0, "a %d-byte one is fine", TB_ISSUER_MAX);
		tb_config_free(c);
	}

	for (i = 0; i < sizeof(metadata_hosts) / sizeof(metadata_hosts[0]); i++) {
		is_int(load("GCE_METADATA_HOST", metadata_hosts[i].value, &c), 0,
		    "GCE_METADATA_HOST=%s is fine", metadata_hosts[i].value);
		is_str(c != NULL ? c->metadata_host : NULL, metadata_hosts[i].kept, "kept as %s",
		    metadata_hosts[i].kept);
		tb_config_free(c);
	}
	is_int(load("SIGNING_SERVICE_ACCOUNT", "default", &c), TB_ERR_CONFIG,
	    "SIGNING_SERVICE_ACCOUNT=default beside SIGNING_KEYS");
	is_str(last_setting, "SIGNING_KEYS", "is refused for the pair, not the account");
	is_int(load("UPSTREAM_TIMEOUT", "120", &c), 0, "UPSTREAM_TIMEOUT=120 (the limit)");
	is_int(c->upstream_timeout, 120, "is kept");
	tb_config_free(c);

	/* --check-config goes on with what could be read */
	c = NULL;
	is_int(load("TOKEN_VALIDITY", "0", &c), TB_ERR_CONFIG, "a bad setting");
	ok(c == NULL, "gives no config to serve with");
	base();
	setenv("TOKEN_VALIDITY", "0", 1);
	is_int(tb_config_load_partial(report, NULL, &c), TB_ERR_CONFIG, "partial load: refused");
	ok(c != NULL && c->nsigning_keys == 2, "but the key files are there to be checked");
	tb_config_free(c);

	c = (struct tb_config *)1;
	is_int(load("TOKEN_AUDIENCE", "a b\tc d", &c), TB_ERR_CONFIG, "TOKEN_AUDIENCE with spaces");
	is_int(problems, 1, "is one problem, not one a character");

	is_int(load("TOKEN_VALIDITY", " 720 ", &c), 0, "720 minutes, trimmed");
	is_int(c->validity, 720, "is kept");
	tb_config_free(c);
	return done_testing();
}
