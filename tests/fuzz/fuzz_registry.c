/* fuzz_registry.c: the client registry's JSON, as an operator could write it, and its lookups. */
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "config.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *dns_sans[] = {"device-1.example.com", "a.sensors.example.net", "X"};
static char *uri_sans[] = {"https://h/y", "spiffe://example.org/a/x", "spiffe://x/y"};

/*
 * Identities as the load-balancer flow gives them (no subject DER), the values the corpus uses,
 * so the fuzzer reaches a match, and ones that match nothing; the last gets a subject DER.
 */
static struct tb_identity ids[] = {
    {.sha256 = "m97PuzECBhCm/I0kODCYy5q00uRkxM00DSGQ+Tl8DoM",
        .x5t_s256 = "m97PuzECBhCm_I0kODCYy5q00uRkxM00DSGQ-Tl8DoM",
        .sha1 = "61b754c541bbcfc6a45a9e9ec5e47d8702b78c29",
        .serial = "00:c9:77",
        .dns_san = "x",
        .uri_san = "spiffe://x/y",
        .spiffe = "spiffe://x/y",
        .subject = "CN=x"},
    {.sha256 = "",
        .x5t_s256 = "",
        .sha1 = "",
        .serial = "",
        .dns_san = "",
        .uri_san = "",
        .spiffe = "",
        .subject = ""},
    {.sha256 = "Z6+2AXJDRq0WvK1Et8QpB1mJq1WgWZk5BcHTAyGSbL8",
        .x5t_s256 = "Z6-2AXJDRq0WvK1Et8QpB1mJq1WgWZk5BcHTAyGSbL8",
        .sha1 = "",
        .serial = "11",
        .dns_san = "device-1.example.com",
        .uri_san = "https://h/y",
        .spiffe = "spiffe://example.org/a/x",
        .subject = "CN=dev-1,OU=sensors,O=Example Corp",
        .dns_sans = dns_sans,
        .ndns_sans = 3,
        .uri_sans = uri_sans,
        .nuri_sans = 3},
};

/* The last identity's subject: O=Example Corp, OU=sensors, CN=dev-1, emailAddress=a@b.c */
static void
subject_once(void)
{
	static const char *const pairs[] = {
	    "O", "Example Corp", "OU", "sensors", "CN", "dev-1", "emailAddress", "a@b.c", NULL};
	struct tb_identity *id = &ids[sizeof(ids) / sizeof(ids[0]) - 1];
	X509_NAME *n;
	unsigned char *der = NULL;
	int len;

	if (id->subject_der != NULL || (n = X509_NAME_new()) == NULL)
		return;
	for (size_t i = 0; pairs[i] != NULL; i += 2)
		X509_NAME_add_entry_by_txt(
		    n, pairs[i], MBSTRING_UTF8, (const unsigned char *)pairs[i + 1], -1, -1, 0);
	if ((len = i2d_X509_NAME(n, &der)) > 0) {
		id->subject_der = der; /* kept for the process's life */
		id->subject_der_len = (size_t)len;
	}
	X509_NAME_free(n);
}

static const char *const scopes[] = {"https://www.googleapis.com/auth/cloud-platform", "a b", "a",
    "", "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/drive"};
static const char *const accounts[] = {"billing@example-project.iam.gserviceaccount.com", "", "a"};
static const char *const audiences[] = {"sts.amazonaws.com", "", "api://AzureADTokenExchange"};

static void
lookups(const struct tb_registry *reg)
{
	const struct tb_client *cl;
	char why[TB_WHY_MAX];
	int v, r;

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		struct tb_identity id = ids[i];

		id.client_id = NULL;
		memset(why, 'x', sizeof(why));
		r = tb_registry_decide(
		    reg, NULL, (enum tb_id_attr)(i % 6), &id, &cl, why, sizeof(why));
		/* a decision gives an entry and a client id, a refusal says why */
		if (r == 0 && (cl == NULL || (tb_client_group(cl) != NULL && id.client_id == NULL)))
			abort();
		if (r != 0 && (cl != NULL || strnlen(why, sizeof(why)) == sizeof(why)))
			abort();
		free(id.client_id);
		if (r != 0)
			continue;
		tb_client_id(cl);
		/* a validity the registry let through is one the token code can use */
		v = tb_client_validity(cl);
		if (v != 0 && (v < TB_VALIDITY_MIN || v > TB_VALIDITY_MAX))
			abort();
		for (size_t k = 0; k < sizeof(scopes) / sizeof(scopes[0]); k++)
			tb_client_allows_scope(cl, scopes[k]);
		for (size_t k = 0; k < sizeof(accounts) / sizeof(accounts[0]); k++)
			tb_client_allows_account(cl, accounts[k]);
		for (size_t k = 0; k < sizeof(audiences) / sizeof(audiences[0]); k++)
			tb_client_allows_audience(cl, audiences[k]);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tb_registry *reg = NULL;
	char why[256];

	subject_once();
	memset(why, 'x', sizeof(why));
	if (tb_registry_parse((const char *)data, size, "fuzz", NULL, &reg, why, sizeof(why)) ==
	    0) {
		if (reg == NULL)
			abort();
		lookups(reg);
		tb_registry_free(reg);
	} else if (reg != NULL || strnlen(why, sizeof(why)) == sizeof(why) || why[0] == '\0') {
		abort(); /* a refusal names its reason, within the buffer */
	}
	return 0;
}
