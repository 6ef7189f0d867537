/* fuzz_registry.c: the client registry's JSON, as an operator could write it, and its lookups. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "config.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Identities as the load-balancer flow gives them (no subject DER): the values the corpus uses,
 * so the fuzzer reaches a match, and ones that match nothing.
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
};

static const char *const scopes[] = {"https://www.googleapis.com/auth/cloud-platform", "a b", "a",
    "", "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/drive"};
static const char *const accounts[] = {"billing@example-project.iam.gserviceaccount.com", "", "a"};

static void
lookups(const struct tb_registry *reg)
{
	const struct tb_client *cl;
	int v;

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		if ((cl = tb_registry_match(reg, &ids[i])) == NULL)
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
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tb_registry *reg = NULL;
	char why[256];

	memset(why, 'x', sizeof(why));
	if (tb_registry_parse((const char *)data, size, "fuzz", &reg, why, sizeof(why)) == 0) {
		if (reg == NULL)
			abort();
		lookups(reg);
		tb_registry_free(reg);
	} else if (reg != NULL || strnlen(why, sizeof(why)) == sizeof(why) || why[0] == '\0') {
		abort(); /* a refusal names its reason, within the buffer */
	}
	return 0;
}
