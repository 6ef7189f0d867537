/*
 * test_registry.c: loading CLIENT_REGISTRY, its refusals (a file that group or others may write
 * among them), matching and allow-lists.
 */
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cert.h"
#include "err.h"
#include "registry.h"
#include "tap.h"

static char path[] = "/tmp/tb-registry-XXXXXX";

static int
load(const char *json, struct tb_registry **reg, char *why, size_t whylen)
{
	FILE *f = fopen(path, "w");

	fputs(json, f);
	fclose(f);
	why[0] = '\0';
	return tb_registry_load(path, reg, why, whylen);
}

/* An identity whose subject DER is C=US, O=company, OU=production, CN=client (DER order). */
static void
identity(struct tb_identity *id)
{
	X509_NAME *n = X509_NAME_new();
	unsigned char *der = NULL;
	int len;

	X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, (unsigned char *)"US", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (unsigned char *)"company", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC, (unsigned char *)"production", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (unsigned char *)"client", -1, -1, 0);
	len = i2d_X509_NAME(n, &der);
	X509_NAME_free(n);
	memset(id, 0, sizeof(*id));
	id->sha256 = "m97PuzECBhCm/I0kODCYy5q00uRkxM00DSGQ+Tl8DoM";
	id->sha1 = "61b754c541bbcfc6a45a9e9ec5e47d8702b78c29";
	id->serial = "01";
	id->dns_san = "Client.Example.NET";
	id->uri_san = "spiffe://example.org/batch";
	id->spiffe = "spiffe://example.org/batch";
	id->subject = "CN=client,OU=production,O=company,C=US";
	id->subject_der = der;
	id->subject_der_len = (size_t)len;
	id->client_id = NULL;
}

static const struct {
	const char *match, *want_id;
} matches[] = {
    {"{\"sha256\":\"m97PuzECBhCm/I0kODCYy5q00uRkxM00DSGQ+Tl8DoM\"}", "by-sha256"},
    {"{\"sha256\":\"m97PuzECBhCm/I0kODCYy5q00uRkxM00DSGQ+Tl8DoM=\"}", "by-sha256"},
    {"{\"sha1\":\"61:B7:54:C5:41:BB:CF:C6:A4:5A:9E:9E:C5:E4:7D:87:02:B7:8C:29\"}", "by-sha256"},
    {"{\"sha1\":\"61B754C541BBCFC6A45A9E9EC5E47D8702B78C29\"}", "by-sha256"},
    {"{\"subject\":\"CN=client, OU=production, O=company, C=US\"}", "by-sha256"},
    {"{\"subject\":\"cn=CLIENT,ou=Production,o=Company,c=us\"}", "by-sha256"},
    {"{\"spiffe\":\"spiffe://example.org/batch\"}", "by-sha256"},
    {"{\"dnssan\":\"client.example.net\"}", "by-sha256"},
    {"{\"urisan\":\"spiffe://example.org/batch\"}", "by-sha256"},
    {"{\"subject\":\"C=US,O=company,OU=production,CN=client\"}", NULL}, /* order matters */
    {"{\"subject\":\"CN=client,OU=production,O=company\"}", NULL},
    {"{\"sha1\":\"0000000000000000000000000000000000000000\"}", NULL},
    {"{\"spiffe\":\"spiffe://example.org/other\"}", NULL},
};

static const struct {
	const char *json, *why_has;
} refusals[] = {
    {"[]", "not a JSON object"},
    {"{\"clients\":{}}", "'clients' must be a list"},
    {"{\"clients\":[],\"extra\":1}", "only 'clients'"},
    {"{\"clients\":[{\"client_id\":\"a\",\"match\":{\"sha1\":"
     "\"61b754c541bbcfc6a45a9e9ec5e47d8702b78c29\"},\"scope\":[]}]}",
        "clients[0] (a): unknown key 'scope'"},
    {"{\"clients\":[{\"client_id\":\"a\",\"match\":{}}]}", "exactly one"},
    {"{\"clients\":[{\"client_id\":\"a\",\"match\":{\"sha1\":"
     "\"61b754c541bbcfc6a45a9e9ec5e47d8702b78c29\",\"spiffe\":\"spiffe://x/y\"}}]}",
        "exactly one"},
    {"{\"clients\":[{\"client_id\":\"a\",\"match\":{\"cn\":\"x\"}}]}",
        "unknown key 'cn' in 'match'"},
    {"{\"clients\":[{\"client_id\":\"a\",\"match\":{\"sha1\":\"xyz\"}}]}", "not a valid sha1"},
    {"{\"clients\":[{\"client_id\":\"a\",\"match\":{\"sha256\":\"abc\"}}]}", "not a valid sha256"},
    {"{\"clients\":[{\"client_id\":\"a\",\"match\":{\"subject\":\"nonsense\"}}]}",
        "not a valid subject"},
    {"{\"clients\":[{\"client_id\":\"a\",\"match\":{\"spiffe\":\"spiffe://x/"
     "a\"}},{\"client_id\":\"a\",\"match\":{\"spiffe\":\"spiffe://x/b\"}}]}",
        "clients[1] (a): client_id 'a' is already used by clients[0]"},
    {"{\"clients\":[{\"client_id\":\"a\",\"match\":{\"sha1\":"
     "\"61B754C541BBCFC6A45A9E9EC5E47D8702B78C29\"}},{\"client_id\":\"b\",\"match\":{\"sha1\":\"61:"
     "b7:54:c5:41:bb:cf:c6:a4:5a:9e:9e:c5:e4:7d:87:02:b7:8c:29\"}}]}",
        "clients[1] (b): matches the same sha1 as clients[0]"},
    {"{\"clients\":[{\"client_id\":\"a\",\"match\":{\"subject\":\"CN=x,O=y\"}},{\"client_id\":"
     "\"b\",\"match\":{\"subject\":\"cn=X, o=Y\"}}]}",
        "matches the same subject"},
    {"{\"clients\":[{\"client_id\":\"a\",\"match\":{\"spiffe\":\"spiffe://x/"
     "a\"},\"token_validity\":0}]}",
        "'token_validity' must be"},
    {"{\"clients\":[{\"client_id\":\"a\",\"match\":{\"spiffe\":\"spiffe://x/"
     "a\"},\"scopes\":\"x\"}]}",
        "'scopes' must be a list"},
};

/* A registry that group or others may write is refused, naming the file and the mode. */
static void
test_modes(void)
{
	static const struct {
		mode_t mode;
		const char *why; /* after "CLIENT_REGISTRY: <path>: "; NULL: accepted */
	} cases[] = {
	    {0644, NULL},
	    {0640, NULL},
	    {0444, NULL},
	    {0664, "writable by group (mode 0664)"},
	    {0646, "writable by others (mode 0646)"},
	    {0666, "writable by group and others (mode 0666)"},
	};
	struct tb_registry *reg;
	char why[512], want[256];
	size_t c;
	FILE *f = fopen(path, "w");

	fputs("{\"clients\":[{\"client_id\":\"x\",\"match\":{\"spiffe\":\"spiffe://x/a\"}}]}", f);
	fclose(f);
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		chmod(path, cases[c].mode);
		reg = NULL;
		why[0] = '\0';
		is_int(tb_registry_load(path, &reg, why, sizeof(why)),
		    cases[c].why == NULL ? 0 : TB_ERR_CONFIG, "a registry of mode %04o: %s",
		    (unsigned)cases[c].mode, cases[c].why == NULL ? "loaded" : "refused");
		if (cases[c].why != NULL) {
			snprintf(want, sizeof(want), "CLIENT_REGISTRY: %s: %s", path, cases[c].why);
			ok(reg == NULL && strncmp(why, want, strlen(want)) == 0,
			    "mode %04o: the reason names the file and the mode (%s)",
			    (unsigned)cases[c].mode, why);
		}
		tb_registry_free(reg);
	}
	chmod(path, 0600);
	reg = NULL;
	is_int(tb_registry_load("/", &reg, why, sizeof(why)), TB_ERR_CONFIG, "a directory");
	ok(strstr(why, "CLIENT_REGISTRY: /: not a regular file (a directory)") == why,
	    "a directory: the reason (%s)", why);
}

int
main(void)
{
	struct tb_registry *reg = NULL;
	struct tb_identity id;
	const struct tb_client *cl;
	char json[2048], why[512];
	size_t i;
	int fd = mkstemp(path);

	close(fd);
	identity(&id);
	for (i = 0; i < sizeof(matches) / sizeof(matches[0]); i++) {
		snprintf(json, sizeof(json),
		    "{\"clients\":[{\"client_id\":\"other\",\"match\":{\"spiffe\":\"spiffe://x/"
		    "other\"}},"
		    "{\"client_id\":\"by-sha256\",\"match\":%s}]}",
		    matches[i].match);
		ok(load(json, &reg, why, sizeof(why)) == 0, "loads match %s", matches[i].match);
		if (reg == NULL) {
			printf("# %s\n", why);
			continue;
		}
		cl = tb_registry_match(reg, &id);
		if (matches[i].want_id != NULL)
			ok(cl != NULL && strcmp(tb_client_id(cl), matches[i].want_id) == 0,
			    "%s matches", matches[i].match);
		else
			ok(cl == NULL, "%s does not match", matches[i].match);
		tb_registry_free(reg);
		reg = NULL;
	}
	for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		is_int(load(refusals[i].json, &reg, why, sizeof(why)), TB_ERR_CONFIG, "refuses %s",
		    refusals[i].why_has);
		ok(strstr(why, refusals[i].why_has) != NULL &&
		        strncmp(why, "CLIENT_REGISTRY: ", 17) == 0,
		    "the reason names it: %s", why);
		ok(reg == NULL, "no registry");
	}
	ok(load("{\"clients\":[{\"match\":{\"sha1\":\"61b754c541bbcfc6a45a9e9ec5e47d8702b78c29\"},"
	        "\"scopes\":[\"https://www.googleapis.com/auth/cloud-platform\",\"openid\"],"
	        "\"service_accounts\":[\"billing@example-project.iam.gserviceaccount.com\"],"
	        "\"token_validity\":7}]}",
	       &reg, why, sizeof(why)) == 0,
	    "an entry without client_id, with allow-lists");
	cl = tb_registry_match(reg, &id);
	ok(cl != NULL && tb_client_id(cl) == NULL, "matches, and names no client_id");
	is_int(tb_client_validity(cl), 7, "token_validity");
	ok(tb_client_allows_scope(cl, "https://www.googleapis.com/auth/cloud-platform"),
	    "a listed scope");
	ok(tb_client_allows_scope(cl, "openid  https://www.googleapis.com/auth/cloud-platform"),
	    "two listed scopes");
	ok(!tb_client_allows_scope(cl, "openid email"), "one scope not listed");
	ok(tb_client_allows_account(cl, "billing@example-project.iam.gserviceaccount.com"),
	    "a listed account");
	ok(!tb_client_allows_account(cl, "billing@example-project.iam.gserviceaccount.co"),
	    "a prefix is not listed");
	tb_registry_free(reg);
	ok(load("{\"clients\":[{\"client_id\":\"x\",\"match\":{\"spiffe\":\"spiffe://x/a\"}}]}",
	       &reg, why, sizeof(why)) == 0,
	    "an entry without allow-lists");
	id.spiffe = "spiffe://x/a";
	cl = tb_registry_match(reg, &id);
	ok(cl != NULL && !tb_client_allows_scope(cl, "openid") &&
	        !tb_client_allows_account(cl, "a@b"),
	    "allows no scope and no account");
	tb_registry_free(reg);
	is_int(tb_registry_load("/nonexistent/registry.json", &reg, why, sizeof(why)),
	    TB_ERR_CONFIG, "a missing file");
	ok(strstr(why, "/nonexistent/registry.json") != NULL, "names the file");
	test_modes();
	tb_registry_free(NULL);
	OPENSSL_free(id.subject_der);
	unlink(path);
	return done_testing();
}
