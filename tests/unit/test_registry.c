/*
 * test_registry.c: loading CLIENT_REGISTRY, its refusals (a file that group or others may write
 * among them), exact clients, groups and their patterns, first-wins order, client ids, issuer
 * binding against mkpki.py's two CAs, allow-lists, and a registry of 100,000 clients.
 */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "b64.h"
#include "buf.h"
#include "cert.h"
#include "crl.h"
#include "err.h"
#include "registry.h"
#include "pki.h"
#include "tap.h"

#define PATH_BYTES 4096
#define BIG_CLIENTS 100000 /* the size doc/contract.md section 5 asks for */
#define BIG_GROUPS 1000
#define CA_NAME "CN=token-broker test CA,O=token-broker tests"
#define CA2_NAME "CN=token-broker test CA 2,O=token-broker tests"
#define CA2_WRITTEN "CN=token-broker test ca 2,O=token-broker tests" /* as the registry has it */

static char path[] = "/tmp/tb-registry-XXXXXX";
static char pki[PATH_BYTES / 2];

static int
write_file(const char *json)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(json, f);
	return fclose(f);
}

static int
load_cas(
    const char *json, const struct tb_cas *cas, struct tb_registry **reg, char *why, size_t whylen)
{
	why[0] = '\0';
	*reg = NULL;
	if (write_file(json) != 0)
		return -1;
	return tb_registry_load(path, cas, reg, why, whylen);
}

static int
load(const char *json, struct tb_registry **reg, char *why, size_t whylen)
{
	return load_cas(json, NULL, reg, why, whylen);
}

/* A name from (type, value) pairs in DER order, NULL-terminated. */
static X509_NAME *
make_name(const char *const *pairs)
{
	X509_NAME *n = X509_NAME_new();

	for (; pairs[0] != NULL; pairs += 2)
		X509_NAME_add_entry_by_txt(
		    n, pairs[0], MBSTRING_UTF8, (const unsigned char *)pairs[1], -1, -1, 0);
	return n;
}

static void
set_subject(struct tb_identity *id, const char *const *pairs)
{
	X509_NAME *n = make_name(pairs);
	unsigned char *der = NULL;
	int len = i2d_X509_NAME(n, &der);

	X509_NAME_free(n);
	id->subject_der = der;
	id->subject_der_len = (size_t)len;
}

/* An identity whose subject DER is C=US, O=company, OU=production, CN=client (DER order). */
static void
identity(struct tb_identity *id)
{
	static const char *const subject[] = {
	    "C", "US", "O", "company", "OU", "production", "CN", "client", NULL};

	memset(id, 0, sizeof(*id));
	id->sha256 = "m97PuzECBhCm/I0kODCYy5q00uRkxM00DSGQ+Tl8DoM";
	id->sha1 = "61b754c541bbcfc6a45a9e9ec5e47d8702b78c29";
	id->serial = "01";
	id->dns_san = "Client.Example.NET";
	id->uri_san = "spiffe://example.org/batch";
	id->spiffe = "spiffe://example.org/batch";
	id->subject = "CN=client,OU=production,O=company,C=US";
	set_subject(id, subject);
}

/* A fleet member: two DNS SANs (the group's is the second), two URI SANs, two OUs. */
static char *sensor_dns[] = {"device-17.example.com", "Sensor-17.Sensors.Example.NET"};
static char *sensor_uris[] = {
    "https://device-17.example.com/", "spiffe://example.net/ns/prod/sa/sensor-17"};

static void
sensor(struct tb_identity *id)
{
	static const char *const subject[] = {"C", "US", "O", "Example Corp", "OU", "sensors", "OU",
	    "fleet-a", "CN", "sensor-17.sensors.example.net", NULL};

	memset(id, 0, sizeof(*id));
	id->sha256 = "Z6+2AXJDRq0WvK1Et8QpB1mJq1WgWZk5BcHTAyGSbL8";
	id->sha1 = "";
	id->serial = "11:22";
	id->dns_san = sensor_dns[0];
	id->uri_san = sensor_uris[0];
	id->spiffe = sensor_uris[1];
	id->subject = "CN=sensor-17.sensors.example.net,OU=fleet-a,OU=sensors,O=Example Corp,C=US";
	id->dns_sans = sensor_dns;
	id->ndns_sans = 2;
	id->uri_sans = sensor_uris;
	id->nuri_sans = 2;
	set_subject(id, subject);
}

/* Attribute values that RFC 4514 must escape, a literal '*', e-mail and DC attributes. */
static void
escaped(struct tb_identity *id)
{
	static const char *const subject[] = {"DC", "net", "DC", "example", "O", "Example Corp",
	    "OU", "a*b", "emailAddress", "ops@example.com", "CN", "dev,ops+1 \"x\" \\y", NULL};

	memset(id, 0, sizeof(*id));
	id->sha256 = "escaped";
	id->sha1 = "";
	id->serial = "33";
	id->dns_san = id->uri_san = id->spiffe = "";
	id->subject = "CN=dev\\,ops\\+1 \\\"x\\\" \\\\y,...";
	set_subject(id, subject);
}

/*
 * Decides for a copy of id (client_id starting as "flow-id"); gives the entry or NULL and the
 * client_id it left in cid.
 */
static const struct tb_client *
decide(const struct tb_registry *reg, const struct tb_cas *cas, enum tb_id_attr attr,
    const struct tb_identity *id, char *cid, size_t cidlen, char *why, size_t whylen)
{
	struct tb_identity copy = *id;
	const struct tb_client *cl = NULL;
	int r;

	copy.client_id = strdup("flow-id");
	why[0] = '\0';
	r = tb_registry_decide(reg, cas, attr, &copy, &cl, why, whylen);
	snprintf(cid, cidlen, "%s", copy.client_id != NULL ? copy.client_id : "(null)");
	free(copy.client_id);
	if (r != 0 && cl != NULL)
		return (const struct tb_client *)"not NULL on failure"; /* caught by the tests */
	return r == 0 ? cl : NULL;
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
    {"{\"subject\":\"CN=client,OU=production,O=company,C=US\"}", "by-sha256"},
    {"{\"spiffe\":\"spiffe://example.org/batch\"}", "by-sha256"},
    {"{\"dnssan\":\"client.example.net\"}", "by-sha256"},
    {"{\"dnssan\":\"CLIENT.example.net\"}", "by-sha256"},
    {"{\"urisan\":\"spiffe://example.org/batch\"}", "by-sha256"},
    {"{\"subject\":\"C=US,O=company,OU=production,CN=client\"}", NULL}, /* order matters */
    {"{\"subject\":\"CN=client,OU=production,O=company\"}", NULL},
    {"{\"sha1\":\"0000000000000000000000000000000000000000\"}", NULL},
    {"{\"spiffe\":\"spiffe://example.org/other\"}", NULL},
    {"{\"spiffe\":\"SPIFFE://example.org/batch\"}", NULL}, /* URIs as given */
    {"{\"urisan\":\"spiffe://example.org/batc\"}", NULL},
};

#define C1 "{\"clients\":[{\"client_id\":\"a\",\"match\":{\"spiffe\":\"spiffe://x/a\"}"
#define G1 "{\"groups\":[{\"name\":\"g\",\"match\":"

static const struct {
	const char *json, *why_has;
} refusals[] = {
    {"[]", "not a JSON object"},
    {"", "not a JSON object"},
    {"{\"clients\":{}}", "'clients' must be a list"},
    {"{\"groups\":\"x\"}", "'groups' must be a list"},
    {"{}", "neither 'clients' nor 'groups'"},
    {"{\"clients\":[],\"extra\":1}", "unknown key 'extra' at the top"},
    {"{\"clients\":[],\"clients\":[]}", "'clients' appears twice"},
    {"{\"clients\":[],}", "not a JSON object"},
    {"{\"clients\":[{\"match\":{\"dnssan\":\"a\"}}],}", "not a JSON object"},
    {"{\"clients\":[{\"match\":{\"dnssan\":\"a\"}},]}", "not a JSON object"},
    {"{\"clients\":[1]}", "clients[0]: is not valid JSON"},
    {"{\"clients\":[\"x\"]}", "clients[0]: must be an object"},
    {"{\"groups\":[[]]}", "groups[0]: must be an object"},
    {"{\"clients\":[]} x", "not a JSON object"},
    {"{\"clients\":[] ", "not a JSON object"},
    {"{\"clients\":[{\"a\":\"\\\"}]}", "not a JSON object"},
    {"{\"clients\":["
     "{\"client_id\":\"a\",\"match\":{\"dnssan\":\"a\"}}, {\"client_id\":}]}",
        "clients[1]: is not valid JSON"},
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
    {"{\"clients\":[{\"client_id\":\"a\",\"match\":{\"subject\":\"XX=a\"}}]}",
        "not a valid subject"},
    {"{\"clients\":[{\"client_id\":\"a\\u0001\",\"match\":{\"dnssan\":\"a\"}}]}",
        "'client_id' must be 1 to 256 printable"},
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
    {"{\"clients\":[{\"client_id\":\"a\",\"match\":{\"dnssan\":\"A.example.net\"}},"
     "{\"match\":{\"dnssan\":\"b.example.net\"}},{\"match\":{\"dnssan\":\"a.EXAMPLE.net\"}}]}",
        "clients[2]: matches the same dnssan as clients[0]"},
    {"{\"clients\":[{\"client_id\":\"a\",\"match\":{\"sha256\":"
     "\"m97PuzECBhCm/I0kODCYy5q00uRkxM00DSGQ+Tl8DoM\"}},{\"client_id\":\"b\",\"match\":{"
     "\"sha256\":\"m97PuzECBhCm/I0kODCYy5q00uRkxM00DSGQ+Tl8DoM=\"}}]}",
        "clients[1] (b): matches the same sha256"},
    {C1 ",\"token_validity\":0}]}", "'token_validity' must be"},
    {C1 ",\"scopes\":\"x\"}]}", "'scopes' must be a list"},
    {C1 ",\"audiences\":[\"sts.amazonaws.com\",\"a b\"]}]}", "'audiences' must be a list of"},
    {C1 ",\"audiences\":[\"\"]}]}", "'audiences' must be a list of"},
    {C1 ",\"audiences\":[1]}]}", "'audiences' must be a list of"},
    {C1 ",\"issuer\":\"not a name\"}]}", "clients[0] (a): 'issuer' is not a distinguished"},
    {C1 ",\"issuer\":7}]}", "'issuer' is not a distinguished"},
    /* groups */
    {"{\"groups\":[{\"match\":{\"dnssan\":\"*.x\"}}]}", "groups[0]: 'name' must be a string"},
    {"{\"groups\":[{\"name\":\"\",\"match\":{\"dnssan\":\"*.x\"}}]}", "'name' must be 1 to"},
    {G1 "{\"dnssan\":\"*.x\"},\"extra\":1}]}", "groups[0] (g): unknown key 'extra'"},
    {G1 "{\"dnssan\":\"*.x\"}},{\"name\":\"g\",\"match\":{\"dnssan\":\"*.y\"}}]}",
        "groups[1] (g): the name 'g' is already used by groups[0]"},
    {G1 "{}}]}", "groups[0] (g): 'match' must hold at least one"},
    {"{\"groups\":[{\"name\":\"g\"}]}", "groups[0] (g): 'match' must be an object"},
    {G1 "{\"sha256\":\"m97PuzECBhCm/I0kODCYy5q00uRkxM00DSGQ+Tl8DoM\"}}]}",
        "unknown key 'sha256' in 'match'"},
    {G1 "{\"dnssan\":\"**.example.net\"}}]}", "'match.dnssan' is not a valid pattern"},
    {G1 "{\"dnssan\":\"a*.example.net\"}}]}", "'match.dnssan' is not a valid pattern"},
    {G1 "{\"dnssan\":\"*a.example.net\"}}]}", "'match.dnssan' is not a valid pattern"},
    {G1 "{\"dnssan\":\"example..net\"}}]}", "'match.dnssan' is not a valid pattern"},
    {G1 "{\"dnssan\":\".example.net\"}}]}", "'match.dnssan' is not a valid pattern"},
    {G1 "{\"dnssan\":\"*.example.net.\"}}]}", "'match.dnssan' is not a valid pattern"},
    {G1 "{\"dnssan\":\"\"}}]}", "'match.dnssan' is not a valid pattern"},
    {G1 "{\"dnssan\":\"a b.example\"}}]}", "'match.dnssan' is not a valid pattern"},
    {G1 "{\"dnssan\":[\"*.x\"]}}]}", "'match.dnssan' must be a pattern string"},
    {G1 "{\"urisan\":\"https://*/y\"}}]}", "'match.urisan' is not a valid pattern"},
    {G1 "{\"urisan\":\"https://*.example.org/y\"}}]}", "'match.urisan' is not a valid"},
    {G1 "{\"urisan\":\"https://x/a*\"}}]}", "'match.urisan' is not a valid pattern"},
    {G1 "{\"urisan\":\"https://x/**\"}}]}", "'match.urisan' is not a valid pattern"},
    {G1 "{\"urisan\":\"https://x//*\"}}]}", "'match.urisan' is not a valid pattern"},
    {G1 "{\"urisan\":\"*://x/y\"}}]}", "'match.urisan' is not a valid pattern"},
    {G1 "{\"urisan\":\"x/*\"}}]}", "'match.urisan' is not a valid pattern"},
    {G1 "{\"urisan\":\"https://x/a b\"}}]}", "'match.urisan' is not a valid pattern"},
    {G1 "{\"spiffe\":\"https://example.org/*\"}}]}", "'match.spiffe' is not a valid pattern"},
    {G1 "{\"spiffe\":\"spiffe://*/ns\"}}]}", "'match.spiffe' is not a valid pattern"},
    {G1 "{\"subject\":{\"XX\":\"*\"}}}]}", "groups[0] (g): unknown attribute 'XX'"},
    {G1 "{\"subject\":{\"O\":\"a\",\"Nonsense\":\"*\"}}}]}", "unknown attribute 'Nonsense'"},
    {G1 "{\"subject\":{\"CN\":\"**\"}}}]}", "'match.subject.CN' must be a pattern"},
    {G1 "{\"subject\":{\"CN\":\"\"}}}]}", "'match.subject.CN' must be a pattern"},
    {G1 "{\"subject\":{\"CN\":\"a\\\\,b\"}}}]}", "'match.subject.CN' must be a pattern"},
    {G1 "{\"subject\":{\"CN\":\"a\\\\\"}}}]}", "'match.subject.CN' must be a pattern"},
    {G1 "{\"subject\":{\"CN\":\"\\\\y\"}}}]}", "'match.subject.CN' must be a pattern"},
    {G1 "{\"subject\":{\"CN\":1}}}]}", "'match.subject.CN' must be a pattern"},
    {G1 "{\"subject\":{}}}]}", "'match.subject' must hold 1 to"},
    {G1 "{\"subject\":\"O=x\"}}]}", "'match.subject' must be an object"},
    {G1 "{\"dnssan\":\"*.x\"},\"client_id\":\"email\"}]}", "'client_id' must name"},
    {G1 "{\"dnssan\":\"*.x\"},\"client_id\":1}]}", "'client_id' must name"},
    {G1 "{\"dnssan\":\"*.x\"},\"token_validity\":721}]}", "groups[0] (g): 'token_validity'"},
    {G1 "{\"dnssan\":\"*.x\"},\"issuer\":\"CN=a,\"}]}", "groups[0] (g): 'issuer' is not"},
    {G1 "{\"dnssan\":\"*.x\"},\"audiences\":\"x\"}]}", "groups[0] (g): 'audiences' must be"},
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

	write_file("{\"clients\":[{\"client_id\":\"x\",\"match\":{\"spiffe\":\"spiffe://x/a\"}}]}");
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		chmod(path, cases[c].mode);
		reg = NULL;
		why[0] = '\0';
		is_int(tb_registry_load(path, NULL, &reg, why, sizeof(why)),
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
	is_int(tb_registry_load("/", NULL, &reg, why, sizeof(why)), TB_ERR_CONFIG, "a directory");
	ok(strstr(why, "CLIENT_REGISTRY: /: not a regular file (a directory)") == why,
	    "a directory: the reason (%s)", why);
}

/* The exact kinds, each as the only entry after another (so the lookup is by hash). */
static void
test_exact(void)
{
	struct tb_registry *reg = NULL;
	struct tb_identity id;
	const struct tb_client *cl;
	char json[2048], why[512], cid[512];
	size_t i;

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
		cl = decide(reg, NULL, TB_ID_SHA256, &id, cid, sizeof(cid), why, sizeof(why));
		if (matches[i].want_id != NULL)
			ok(cl != NULL && strcmp(cid, matches[i].want_id) == 0 &&
			        strcmp(tb_client_id(cl), matches[i].want_id) == 0 &&
			        tb_client_group(cl) == NULL,
			    "%s matches and names the client", matches[i].match);
		else
			ok(cl == NULL && strcmp(cid, "flow-id") == 0 &&
			        strcmp(why,
			            "the certificate matches no entry of CLIENT_REGISTRY") == 0,
			    "%s does not match (%s)", matches[i].match, why);
		tb_registry_free(reg);
		reg = NULL;
	}
	/* several kinds match: the entry first in the file decides, whatever the kinds */
	ok(load("{\"clients\":[{\"client_id\":\"first\",\"match\":{\"urisan\":"
	        "\"spiffe://example.org/batch\"}},{\"client_id\":\"second\",\"match\":{\"sha256\":"
	        "\"m97PuzECBhCm/I0kODCYy5q00uRkxM00DSGQ+Tl8DoM\"}}]}",
	       &reg, why, sizeof(why)) == 0,
	    "two clients of different kinds that both match");
	cl = decide(reg, NULL, TB_ID_SHA256, &id, cid, sizeof(cid), why, sizeof(why));
	ok(cl != NULL && strcmp(cid, "first") == 0, "the one first in the file decides (%s)", cid);
	tb_registry_free(reg);
	OPENSSL_free(id.subject_der);
}

/* One group with the match, against a fleet member, an escaped subject or no subject. */
static const struct {
	const char *match;
	int who; /* 0: sensor, 1: escaped, 2: sensor without subject (a load balancer) */
	int want;
} group_cases[] = {
    /* dnssan: '*' is one whole label, names compare in any case, every SAN is tried */
    {"{\"dnssan\":\"*.sensors.example.net\"}", 0, 1},
    {"{\"dnssan\":\"*.SENSORS.example.NET\"}", 0, 1},
    {"{\"dnssan\":\"*.example.net\"}", 0, 0},
    {"{\"dnssan\":\"*.*.example.net\"}", 0, 1},
    {"{\"dnssan\":\"sensor-17.*.example.net\"}", 0, 1},
    {"{\"dnssan\":\"*.*.*.example.net\"}", 0, 0},
    {"{\"dnssan\":\"*.sensors.example\"}", 0, 0},
    {"{\"dnssan\":\"*.example.com\"}", 0, 1},
    {"{\"dnssan\":\"sensors.example.net\"}", 0, 0},
    {"{\"dnssan\":\"sensor-17.sensors.example.net\"}", 0, 1},
    {"{\"dnssan\":\"*\"}", 0, 0},
    {"{\"dnssan\":\"*.sensors.example.net\"}", 2, 1},
    /* urisan and spiffe: '*' is one whole path segment; URIs compare as given */
    {"{\"urisan\":\"https://device-17.example.com/\"}", 0, 1},
    {"{\"urisan\":\"spiffe://example.net/ns/*/sa/*\"}", 0, 1},
    {"{\"urisan\":\"spiffe://example.net/ns/*\"}", 0, 0},
    {"{\"urisan\":\"spiffe://example.net/*/prod/sa/sensor-17\"}", 0, 1},
    {"{\"urisan\":\"spiffe://EXAMPLE.net/ns/*/sa/*\"}", 0, 0},
    {"{\"urisan\":\"https://device-17.example.com/*\"}", 0, 0},
    {"{\"spiffe\":\"spiffe://example.net/ns/prod/sa/*\"}", 0, 1},
    {"{\"spiffe\":\"spiffe://example.net/ns/*/sa/sensor-17\"}", 0, 1},
    {"{\"spiffe\":\"spiffe://example.net/ns/prod/*\"}", 0, 0},
    {"{\"spiffe\":\"spiffe://example.net/ns/prod/sa/sensor-1\"}", 0, 0},
    {"{\"spiffe\":\"spiffe://example.net/ns/prod/sa/*\"}", 2, 1},
    /* subject: each attribute's pattern matches some value of it ('*' any run, any case) */
    {"{\"subject\":{\"O\":\"Example Corp\",\"OU\":\"sensors\"}}", 0, 1},
    {"{\"subject\":{\"OU\":\"fleet-*\"}}", 0, 1},
    {"{\"subject\":{\"OU\":\"fleet\"}}", 0, 0},
    {"{\"subject\":{\"CN\":\"*.sensors.example.net\"}}", 0, 1},
    {"{\"subject\":{\"CN\":\"*sensor*17*\"}}", 0, 1},
    {"{\"subject\":{\"O\":\"example CORP\"}}", 0, 1},
    {"{\"subject\":{\"O\":\"Example\"}}", 0, 0},
    {"{\"subject\":{\"O\":\"Example*\"}}", 0, 1},
    {"{\"subject\":{\"L\":\"*\"}}", 0, 0},
    {"{\"subject\":{\"organizationName\":\"Example Corp\"}}", 0, 1},
    {"{\"subject\":{\"2.5.4.11\":\"sensors\"}}", 0, 1},
    {"{\"subject\":{\"cn\":\"sensor-17.sensors.example.net\"}}", 0, 1},
    {"{\"subject\":{\"O\":\"*\"}}", 2, 0},
    {"{\"subject\":{\"CN\":\"dev,ops+1 \\\"x\\\" \\\\\\\\y\"}}", 1, 1},
    {"{\"subject\":{\"CN\":\"dev,ops+1 *\"}}", 1, 1},
    {"{\"subject\":{\"CN\":\"dev\"}}", 1, 0},
    {"{\"subject\":{\"OU\":\"a\\\\*b\"}}", 1, 1},
    {"{\"subject\":{\"OU\":\"a\\\\*\"}}", 1, 0},
    {"{\"subject\":{\"OU\":\"*\\\\*b\"}}", 1, 1},
    {"{\"subject\":{\"emailAddress\":\"*@example.com\"}}", 1, 1},
    {"{\"subject\":{\"DC\":\"net\",\"O\":\"Example Corp\"}}", 1, 1},
    {"{\"subject\":{\"DC\":\"org\"}}", 1, 0},
    /* conditions are ANDed */
    {"{\"dnssan\":\"*.sensors.example.net\",\"subject\":{\"OU\":\"sensors\"}}", 0, 1},
    {"{\"dnssan\":\"*.sensors.example.net\",\"subject\":{\"OU\":\"other\"}}", 0, 0},
    {"{\"dnssan\":\"*.sensors.example.net\",\"spiffe\":\"spiffe://example.net/ns/*/sa/*\","
     "\"urisan\":\"https://device-17.example.com/\",\"subject\":{\"C\":\"US\"}}",
        0, 1},
    {"{\"dnssan\":\"*.sensors.example.net\",\"spiffe\":\"spiffe://other/*\"}", 0, 0},
    {"{\"dnssan\":\"*.sensors.example.net\",\"subject\":{\"OU\":\"sensors\"}}", 2, 0},
};

static void
test_groups(void)
{
	struct tb_identity ids[3];
	struct tb_registry *reg = NULL;
	const struct tb_client *cl;
	char json[2048], why[512], cid[512];
	size_t i;

	sensor(&ids[0]);
	escaped(&ids[1]);
	sensor(&ids[2]);
	OPENSSL_free(ids[2].subject_der);
	ids[2].subject_der = NULL;
	ids[2].subject_der_len = 0;
	ids[2].subject = "";
	for (i = 0; i < sizeof(group_cases) / sizeof(group_cases[0]); i++) {
		snprintf(json, sizeof(json),
		    "{\"groups\":[{\"name\":\"g\",\"match\":%s,\"client_id\":\"serial\"}]}",
		    group_cases[i].match);
		if (load(json, &reg, why, sizeof(why)) != 0) {
			ok(0, "group %s loads (%s)", group_cases[i].match, why);
			continue;
		}
		cl = decide(reg, NULL, TB_ID_SHA256, &ids[group_cases[i].who], cid, sizeof(cid),
		    why, sizeof(why));
		if (group_cases[i].want)
			ok(cl != NULL && tb_client_group(cl) != NULL &&
			        strcmp(tb_client_group(cl), "g") == 0 &&
			        strcmp(cid, ids[group_cases[i].who].serial) == 0,
			    "%s matches %s", group_cases[i].match,
			    group_cases[i].who == 1 ? "the escaped subject" : "the sensor");
		else
			ok(cl == NULL && strcmp(why, "the certificate matches no entry of "
			                             "CLIENT_REGISTRY") == 0,
			    "%s does not match %s", group_cases[i].match,
			    group_cases[i].who == 1 ? "the escaped subject" : "the sensor");
		tb_registry_free(reg);
		reg = NULL;
	}
	for (i = 0; i < 2; i++)
		OPENSSL_free(ids[i].subject_der);
}

/* Clients before groups, groups in file order; the client ids each gives. */
static void
test_order_and_ids(void)
{
	static const struct {
		const char *json;
		enum tb_id_attr def;
		const char *want_entry, *want_id; /* want_entry NULL: refused, want_id the reason */
	} cases[] = {
	    {"{\"groups\":[{\"name\":\"a\",\"match\":{\"dnssan\":\"*.sensors.example.net\"}},"
	     "{\"name\":\"b\",\"match\":{\"subject\":{\"O\":\"Example Corp\"}}}]}",
	        TB_ID_SERIAL, "a", "11:22"},
	    {"{\"groups\":[{\"name\":\"b\",\"match\":{\"subject\":{\"O\":\"Example Corp\"}}},"
	     "{\"name\":\"a\",\"match\":{\"dnssan\":\"*.sensors.example.net\"}}]}",
	        TB_ID_SERIAL, "b", "11:22"},
	    {"{\"groups\":[{\"name\":\"x\",\"match\":{\"dnssan\":\"*.other.example.net\"}},"
	     "{\"name\":\"a\",\"match\":{\"dnssan\":\"*.sensors.example.net\"}}]}",
	        TB_ID_SERIAL, "a", "11:22"},
	    /* the groups come first in the file, the exact client still wins */
	    {"{\"groups\":[{\"name\":\"a\",\"match\":{\"dnssan\":\"*.sensors.example.net\"}}],"
	     "\"clients\":[{\"client_id\":\"exact\",\"match\":{\"dnssan\":"
	     "\"device-17.example.com\"}}]}",
	        TB_ID_SERIAL, "client", "exact"},
	    /* a client without client_id keeps the flow's */
	    {"{\"clients\":[{\"match\":{\"spiffe\":\"spiffe://example.net/ns/prod/sa/"
	     "sensor-17\"}}]}",
	        TB_ID_SERIAL, "client", "flow-id"},
	    /* a group's client_id: the SAN its pattern matched, else the first of the kind */
	    {"{\"groups\":[{\"name\":\"a\",\"client_id\":\"dnssan\",\"match\":{\"dnssan\":"
	     "\"*.sensors.example.net\"}}]}",
	        TB_ID_SERIAL, "a", "Sensor-17.Sensors.Example.NET"},
	    {"{\"groups\":[{\"name\":\"a\",\"client_id\":\"dnssan\",\"match\":{\"subject\":{"
	     "\"OU\":\"sensors\"}}}]}",
	        TB_ID_SERIAL, "a", "device-17.example.com"},
	    {"{\"groups\":[{\"name\":\"a\",\"client_id\":\"urisan\",\"match\":{\"urisan\":"
	     "\"spiffe://example.net/ns/*/sa/*\"}}]}",
	        TB_ID_SERIAL, "a", "spiffe://example.net/ns/prod/sa/sensor-17"},
	    {"{\"groups\":[{\"name\":\"a\",\"client_id\":\"urisan\",\"match\":{\"spiffe\":"
	     "\"spiffe://example.net/ns/*/sa/*\"}}]}",
	        TB_ID_SERIAL, "a", "https://device-17.example.com/"},
	    {"{\"groups\":[{\"name\":\"a\",\"client_id\":\"spiffe\",\"match\":{\"dnssan\":"
	     "\"*.sensors.example.net\"}}]}",
	        TB_ID_SERIAL, "a", "spiffe://example.net/ns/prod/sa/sensor-17"},
	    {"{\"groups\":[{\"name\":\"a\",\"client_id\":\"subject\",\"match\":{\"dnssan\":"
	     "\"*.sensors.example.net\"}}]}",
	        TB_ID_SERIAL, "a",
	        "CN=sensor-17.sensors.example.net,OU=fleet-a,OU=sensors,O=Example Corp,C=US"},
	    {"{\"groups\":[{\"name\":\"a\",\"client_id\":\"sha256\",\"match\":{\"dnssan\":"
	     "\"*.sensors.example.net\"}}]}",
	        TB_ID_SERIAL, "a", "Z6+2AXJDRq0WvK1Et8QpB1mJq1WgWZk5BcHTAyGSbL8"},
	    /* without client_id: MTLS_CLIENT_ID's attribute, by the same rule */
	    {"{\"groups\":[{\"name\":\"a\",\"match\":{\"dnssan\":\"*.sensors.example.net\"}}]}",
	        TB_ID_SHA256, "a", "Z6+2AXJDRq0WvK1Et8QpB1mJq1WgWZk5BcHTAyGSbL8"},
	    {"{\"groups\":[{\"name\":\"a\",\"match\":{\"dnssan\":\"*.sensors.example.net\"}}]}",
	        TB_ID_DNSSAN, "a", "Sensor-17.Sensors.Example.NET"},
	};
	struct tb_identity id, bare;
	struct tb_registry *reg = NULL;
	const struct tb_client *cl;
	char why[512], cid[512];
	size_t i;

	sensor(&id);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (load(cases[i].json, &reg, why, sizeof(why)) != 0) {
			ok(0, "case %zu loads (%s)", i, why);
			continue;
		}
		cl = decide(reg, NULL, cases[i].def, &id, cid, sizeof(cid), why, sizeof(why));
		ok(cl != NULL &&
		        strcmp(tb_client_group(cl) != NULL ? tb_client_group(cl) : "client",
		            cases[i].want_entry) == 0,
		    "case %zu: decided by %s", i, cases[i].want_entry);
		is_str(cid, cases[i].want_id, "case %zu: client_id", i);
		tb_registry_free(reg);
		reg = NULL;
	}
	/* the attribute a group takes its client_id from is absent: refused */
	bare = id;
	bare.spiffe = "";
	bare.uri_sans = NULL;
	bare.nuri_sans = 0;
	bare.uri_san = "";
	ok(load("{\"groups\":[{\"name\":\"a\",\"client_id\":\"spiffe\",\"match\":{\"subject\":{"
	        "\"OU\":\"sensors\"}}}]}",
	       &reg, why, sizeof(why)) == 0,
	    "a group whose client_id is the SPIFFE ID");
	cl = decide(reg, NULL, TB_ID_SHA256, &bare, cid, sizeof(cid), why, sizeof(why));
	ok(cl == NULL && strcmp(cid, "flow-id") == 0, "a member without one is refused");
	is_str(why, "the certificate has no spiffe, which group 'a' takes its client_id from",
	    "the reason names the attribute and the group");
	tb_registry_free(reg);
	OPENSSL_free(id.subject_der);
}

/* Allow-lists and the accessors. */
static void
test_policy(void)
{
	struct tb_registry *reg = NULL;
	struct tb_identity id, s;
	const struct tb_client *cl;
	char why[512], cid[512];

	identity(&id);
	sensor(&s);
	ok(load(
	       "{\"clients\":[{\"match\":{\"sha1\":\"61b754c541bbcfc6a45a9e9ec5e47d8702b78c29\"},"
	       "\"scopes\":[\"https://www.googleapis.com/auth/cloud-platform\",\"openid\"],"
	       "\"service_accounts\":[\"billing@example-project.iam.gserviceaccount.com\"],"
	       "\"audiences\":[\"sts.amazonaws.com\",\"api://AzureADTokenExchange\"],"
	       "\"token_validity\":7}],"
	       "\"groups\":[{\"name\":\"sensors\",\"match\":{\"dnssan\":\"*.sensors.example.net\"},"
	       "\"scopes\":[\"openid\"],\"audiences\":[],\"token_validity\":3}]}",
	       &reg, why, sizeof(why)) == 0,
	    "an entry without client_id, with allow-lists, and a group (%s)", why);
	if (reg == NULL)
		return;
	is_int(tb_registry_count(reg), 1, "one client");
	is_int(tb_registry_group_count(reg), 1, "one group");
	cl = decide(reg, NULL, TB_ID_SHA256, &id, cid, sizeof(cid), why, sizeof(why));
	ok(cl != NULL && tb_client_id(cl) == NULL, "matches, and names no client_id");
	if (cl == NULL)
		return;
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
	ok(tb_client_allows_audience(cl, "sts.amazonaws.com") &&
	        tb_client_allows_audience(cl, "api://AzureADTokenExchange"),
	    "listed audiences");
	ok(!tb_client_allows_audience(cl, "sts.amazonaws.co") &&
	        !tb_client_allows_audience(cl, "STS.amazonaws.com"),
	    "audiences compare exactly");
	cl = decide(reg, NULL, TB_ID_SHA256, &s, cid, sizeof(cid), why, sizeof(why));
	ok(cl != NULL && tb_client_validity(cl) == 3 && tb_client_allows_scope(cl, "openid") &&
	        !tb_client_allows_audience(cl, "sts.amazonaws.com") &&
	        !tb_client_allows_account(cl, "a@b.example"),
	    "the group's own policy");
	tb_registry_free(reg);
	ok(load("{\"clients\":[{\"client_id\":\"x\",\"match\":{\"spiffe\":\"spiffe://x/a\"}}]}",
	       &reg, why, sizeof(why)) == 0,
	    "an entry without allow-lists");
	id.spiffe = "spiffe://x/a";
	cl = decide(reg, NULL, TB_ID_SHA256, &id, cid, sizeof(cid), why, sizeof(why));
	ok(cl != NULL && !tb_client_allows_scope(cl, "openid") &&
	        !tb_client_allows_account(cl, "a@b") && !tb_client_allows_audience(cl, "a"),
	    "allows no scope, no account and no audience");
	tb_registry_free(reg);
	OPENSSL_free(id.subject_der);
	OPENSSL_free(s.subject_der);
}

/* ---- issuer binding, with mkpki.py's PKI ------------------------------------------------- */

/* Runs mkpki.py (idempotent, locked) so that the PKI exists: 0, or -1. */
static int
make_pki(void)
{
	return test_make_pki(pki, sizeof(pki));
}

static const char *
in_pki(const char *name)
{
	static char buf[PATH_BYTES];

	snprintf(buf, sizeof(buf), "%s/%s", pki, name);
	return buf;
}

/* The identity of a certificate of the PKI, as the mtls flow builds it (NULL on failure). */
static struct tb_identity *
pki_identity(const char *name)
{
	struct tb_identity *id = NULL;
	char why[TB_WHY_MAX], *pem = NULL;
	FILE *f = fopen(in_pki(name), "r");
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (pem = calloc(1, (size_t)n + 1)) != NULL && fread(pem, 1, (size_t)n, f) == (size_t)n)
		tb_cert_identity(pem, (size_t)n, time(NULL), &id, why, sizeof(why));
	fclose(f);
	free(pem);
	return id;
}

static void
test_binding(void)
{
	static const char registry[] =
	    "{\"clients\":[{\"client_id\":\"bound\",\"match\":{\"dnssan\":\"client.example.net\"},"
	    "\"issuer\":\"cn=token-broker test ca 2, o=token-broker tests\"}],"
	    "\"groups\":[{\"name\":\"sensors\",\"issuer\":\"" CA_NAME "\",\"match\":{\"dnssan\":"
	    "\"*.sensors.example.net\"},\"client_id\":\"dnssan\"}]}";
	static const struct {
		const char *cert;
		int with_cas;
		const char *want_id; /* NULL: refused */
		const char *why;     /* the start of the reason */
	} cases[] = {
	    {"client-ca2.pem", 1, "bound", NULL},
	    {"client-ca2.pem", 0, "bound", NULL},
	    {"client.pem", 1, NULL,
	        "the certificate's issuer '" CA_NAME "' is not '" CA2_WRITTEN
	        "', which client 'bound' is bound to"},
	    {"client.pem", 0, NULL, "the certificate's issuer '" CA_NAME "' is not"},
	    {"client-impostor.pem", 1, NULL,
	        "the certificate names the issuer '" CA2_WRITTEN
	        "' of client 'bound', but no CA of "
	        "that name in CLIENT_CA_FILE signed it"},
	    /* without CLIENT_CA_FILE the binding is by name alone */
	    {"client-impostor.pem", 0, "bound", NULL},
	    {"sensor.pem", 1, "sensor-17.sensors.example.net", NULL},
	    {"sensor-ca2.pem", 1, NULL,
	        "the certificate's issuer '" CA2_NAME "' is not '" CA_NAME
	        "', which group 'sensors' is bound to"},
	};
	struct tb_cas *fleet = NULL, *ca_only = NULL;
	struct tb_registry *reg = NULL;
	struct tb_identity *id, headers;
	const struct tb_client *cl;
	char why[TB_REGISTRY_WHY_MAX], cid[512];
	size_t i;

	ok(tb_cas_load(in_pki("cas-fleet.pem"), &fleet, why, sizeof(why)) == 0 &&
	        tb_cas_load(in_pki("ca.pem"), &ca_only, why, sizeof(why)) == 0,
	    "cas-fleet.pem and ca.pem load (%s)", why);
	ok(load_cas(registry, fleet, &reg, why, sizeof(why)) == 0,
	    "issuer bindings to both CAs of CLIENT_CA_FILE load (%s)", why);
	for (i = 0; reg != NULL && i < sizeof(cases) / sizeof(cases[0]); i++) {
		if ((id = pki_identity(cases[i].cert)) == NULL) {
			ok(0, "%s: identity", cases[i].cert);
			continue;
		}
		cl = decide(reg, cases[i].with_cas ? fleet : NULL, TB_ID_SHA256, id, cid,
		    sizeof(cid), why, sizeof(why));
		if (cases[i].want_id != NULL)
			ok(cl != NULL && strcmp(cid, cases[i].want_id) == 0,
			    "%s %s CLIENT_CA_FILE: accepted as %s (%s)", cases[i].cert,
			    cases[i].with_cas ? "with" : "without", cases[i].want_id, why);
		else
			ok(cl == NULL && strcmp(cid, "flow-id") == 0 &&
			        strncmp(why, cases[i].why, strlen(cases[i].why)) == 0,
			    "%s %s CLIENT_CA_FILE: refused: %s", cases[i].cert,
			    cases[i].with_cas ? "with" : "without", why);
		tb_identity_free(id);
	}
	/* the load balancer's headers carry no certificate: a binding cannot hold */
	if (reg != NULL && (id = pki_identity("client-ca2.pem")) != NULL) {
		headers = *id;
		headers.cert = NULL;
		cl = decide(reg, fleet, TB_ID_SHA256, &headers, cid, sizeof(cid), why, sizeof(why));
		ok(cl == NULL &&
		        strstr(why, "client 'bound' is bound to the issuer '" CA2_WRITTEN
		                    "', which the load balancer's headers cannot show") != NULL,
		    "an identity without a certificate is refused: %s", why);
		tb_identity_free(id);
	}
	tb_registry_free(reg);
	/* one issuer in three spellings: the registry keeps it once, each entry binds to it */
	ok(load_cas("{\"clients\":[{\"client_id\":\"a\",\"match\":{\"dnssan\":"
	            "\"client.example.net\"},\"issuer\":\"" CA2_NAME "\"},{\"client_id\":\"b\","
	            "\"match\":{\"dnssan\":\"other.example.net\"},\"issuer\":\"" CA2_WRITTEN "\"}],"
	            "\"groups\":[{\"name\":\"s\",\"issuer\":\"CN = token-broker test CA 2 , "
	            "O = token-broker tests\",\"match\":{\"dnssan\":\"*.sensors.example.net\"}}]}",
	       fleet, &reg, why, sizeof(why)) == 0,
	    "three entries bound to one issuer, spelled three ways (%s)", why);
	if (reg != NULL && (id = pki_identity("client-ca2.pem")) != NULL) {
		cl = decide(reg, fleet, TB_ID_SHA256, id, cid, sizeof(cid), why, sizeof(why));
		ok(cl != NULL && strcmp(cid, "a") == 0, "the client bound to it decides (%s)", why);
		tb_identity_free(id);
	}
	if (reg != NULL && (id = pki_identity("sensor-ca2.pem")) != NULL) {
		cl = decide(reg, fleet, TB_ID_SHA256, id, cid, sizeof(cid), why, sizeof(why));
		ok(cl != NULL && tb_client_group(cl) != NULL, "and the group bound to it (%s)",
		    why);
		tb_identity_free(id);
	}
	tb_registry_free(reg);
	is_int(load_cas(registry, ca_only, &reg, why, sizeof(why)), TB_ERR_CONFIG,
	    "an issuer that names no CA of CLIENT_CA_FILE is refused");
	is_str(why, "CLIENT_REGISTRY: clients[0] (bound): 'issuer' names no CA of CLIENT_CA_FILE",
	    "the reason names the entry");
	tb_registry_free(reg);
	is_int(load_cas("{\"groups\":[{\"name\":\"g\",\"issuer\":\"CN=Device CA\",\"match\":{"
	                "\"dnssan\":\"*.x\"}}]}",
	           fleet, &reg, why, sizeof(why)),
	    TB_ERR_CONFIG, "a group's issuer naming no CA");
	is_str(why, "CLIENT_REGISTRY: groups[0] (g): 'issuer' names no CA of CLIENT_CA_FILE",
	    "the reason names the group");
	tb_registry_free(reg);
	tb_cas_free(fleet);
	tb_cas_free(ca_only);
}

/* ---- scale --------------------------------------------------------------------------------- */

/* Client i of the big registry: a different kind by i % 5, the client_id "c<i>". */
static int
big_client(struct tb_buf *b, size_t i)
{
	unsigned char digest[32] = {0};
	char *b64 = NULL;
	int r;

	switch (i % 5) {
	case 0:
		memcpy(digest, &i, sizeof(i));
		if (tb_b64_encode(digest, sizeof(digest), TB_B64_STD, &b64) != 0)
			return -1;
		r = tb_buf_addf(
		    b, "{\"client_id\":\"c%zu\",\"match\":{\"sha256\":\"%s\"}}", i, b64);
		free(b64);
		return r;
	case 1:
		return tb_buf_addf(b,
		    "{\"client_id\":\"c%zu\",\"match\":{\"dnssan\":\"c%zu.fleet.example.net\"},"
		    "\"scopes\":[\"openid\"]}",
		    i, i);
	case 2:
		return tb_buf_addf(b,
		    "{\"client_id\":\"c%zu\",\"match\":{\"spiffe\":\"spiffe://example.org/c%zu\"}}",
		    i, i);
	case 3:
		return tb_buf_addf(b,
		    "{\"client_id\":\"c%zu\",\"match\":{\"subject\":\"CN=c%zu,O=Fleet\"}}", i, i);
	default:
		return tb_buf_addf(
		    b, "{\"client_id\":\"c%zu\",\"match\":{\"sha1\":\"%040zx\"}}", i, i);
	}
}

/* The big registry's text, with a last client that repeats client 1's value when conflict. */
static char *
big_registry(int conflict, size_t *len)
{
	struct tb_buf b;
	size_t i;
	int r = 0;

	tb_buf_init(&b, 64 * 1024 * 1024);
	r |= tb_buf_addf(&b, "{\"clients\":[\n");
	for (i = 0; r == 0 && i < BIG_CLIENTS; i++)
		r |= big_client(&b, i) | tb_buf_addf(&b, ",\n");
	r |= tb_buf_addf(&b,
	    conflict ? "{\"client_id\":\"last\",\"match\":{\"dnssan\":\"C1.fleet.example.net\"}}"
	             : "{\"client_id\":\"last\",\"match\":{\"dnssan\":\"last.example.net\"}}");
	r |= tb_buf_addf(&b, "],\"groups\":[\n");
	for (i = 0; r == 0 && i < BIG_GROUPS; i++)
		r |= tb_buf_addf(&b,
		    "{\"name\":\"g%zu\",\"match\":{\"dnssan\":\"*.g%zu.example.net\","
		    "\"subject\":{\"O\":\"Fleet\"}},\"client_id\":\"dnssan\"}%s\n",
		    i, i, i + 1 < BIG_GROUPS ? "," : "");
	r |= tb_buf_addf(&b, "]}\n");
	if (r != 0) {
		tb_buf_free(&b);
		return NULL;
	}
	*len = b.len;
	return tb_buf_detach(&b);
}

static void
test_big(void)
{
	static const char *const fleet_name[] = {"O", "Fleet", "CN", "c99998", NULL};
	static const char *const member_name[] = {"O", "Fleet", "CN", "member", NULL};
	struct tb_registry *reg = NULL;
	struct tb_identity id;
	const struct tb_client *cl;
	char why[TB_REGISTRY_WHY_MAX], cid[512], dns[64], spiffe[64];
	char *dns_list[1] = {dns};
	size_t len = 0;
	char *text = big_registry(0, &len);

	ok(text != NULL && len > 1024 * 1024, "a registry of %d clients and %d groups: %zu bytes",
	    BIG_CLIENTS + 1, BIG_GROUPS, len);
	if (text == NULL)
		return;
	ok(write_file(text) == 0, "written to a file");
	free(text);
	is_int(tb_registry_load(path, NULL, &reg, why, sizeof(why)), 0, "loads (%s)", why);
	if (reg == NULL)
		return;
	is_int(tb_registry_count(reg), BIG_CLIENTS + 1, "every client");
	is_int(tb_registry_group_count(reg), BIG_GROUPS, "every group");
	memset(&id, 0, sizeof(id));
	id.sha256 = id.sha1 = id.uri_san = id.spiffe = id.serial = "";
	snprintf(dns, sizeof(dns), "C%d.Fleet.example.net", BIG_CLIENTS - 4);
	id.dns_san = dns;
	cl = decide(reg, NULL, TB_ID_SHA256, &id, cid, sizeof(cid), why, sizeof(why));
	ok(cl != NULL && strcmp(cid, "c99996") == 0 && tb_client_allows_scope(cl, "openid"),
	    "the client of a DNS SAN near the end (%s)", cid);
	id.dns_san = "";
	snprintf(spiffe, sizeof(spiffe), "spiffe://example.org/c%d", BIG_CLIENTS - 3);
	id.spiffe = spiffe;
	cl = decide(reg, NULL, TB_ID_SHA256, &id, cid, sizeof(cid), why, sizeof(why));
	ok(cl != NULL && strcmp(cid, "c99997") == 0, "the client of a SPIFFE ID (%s)", cid);
	id.spiffe = "";
	set_subject(&id, fleet_name);
	cl = decide(reg, NULL, TB_ID_SHA256, &id, cid, sizeof(cid), why, sizeof(why));
	ok(cl != NULL && strcmp(cid, "c99998") == 0, "the client of a subject (%s)", cid);
	OPENSSL_free(id.subject_der);
	set_subject(&id, member_name);
	snprintf(dns, sizeof(dns), "d.g999.example.net");
	id.dns_sans = dns_list;
	id.ndns_sans = 1;
	id.dns_san = dns;
	cl = decide(reg, NULL, TB_ID_SHA256, &id, cid, sizeof(cid), why, sizeof(why));
	ok(cl != NULL && tb_client_group(cl) != NULL && strcmp(tb_client_group(cl), "g999") == 0 &&
	        strcmp(cid, dns) == 0,
	    "the last of %d groups", BIG_GROUPS);
	OPENSSL_free(id.subject_der);
	tb_registry_free(reg);
	reg = NULL;
	text = big_registry(1, &len);
	is_int(
	    text != NULL ? tb_registry_parse(text, len, "big", NULL, &reg, why, sizeof(why)) : -1,
	    TB_ERR_CONFIG, "a conflict after %d clients is found", BIG_CLIENTS);
	is_str(why,
	    "CLIENT_REGISTRY: clients[100000] (last): matches the same dnssan as clients[1]",
	    "and named");
	free(text);
	tb_registry_free(reg);
}

int
main(void)
{
	struct tb_registry *reg = NULL;
	char why[TB_REGISTRY_WHY_MAX];
	size_t i;
	int fd = mkstemp(path), pki_ok;

	close(fd);
	test_exact();
	for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		is_int(load(refusals[i].json, &reg, why, sizeof(why)), TB_ERR_CONFIG, "refuses %s",
		    refusals[i].why_has);
		ok(strstr(why, refusals[i].why_has) != NULL &&
		        strncmp(why, "CLIENT_REGISTRY: ", 17) == 0,
		    "the reason names it: %s", why);
		ok(reg == NULL, "no registry");
	}
	test_groups();
	test_order_and_ids();
	test_policy();
	is_int(tb_registry_load("/nonexistent/registry.json", NULL, &reg, why, sizeof(why)),
	    TB_ERR_CONFIG, "a missing file");
	ok(strstr(why, "/nonexistent/registry.json") != NULL, "names the file");
	test_modes();
	tb_registry_free(NULL);
	pki_ok = make_pki() == 0;
	if (!pki_ok) {
		const char *ci = getenv("CI");

		ok(ci == NULL || strcmp(ci, "true") != 0,
		    "mkpki.py ran (python3-cryptography missing?)");
		printf("ok %d # SKIP issuer binding: mkpki.py failed\n", ++tap_n);
	} else
		test_binding();
	test_big();
	unlink(path);
	return done_testing();
}
