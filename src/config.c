/* config.c: reads the environment once at start and refuses what it cannot use. */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "err.h"
#include "request.h"
#include "valid.h"

#define VALUE_MAX 4096        /* longest setting value accepted */
#define PROJECT_NUMBER_MAX 20 /* digits of a Google Cloud project number */
#define POOL_ID_MAX 63        /* a workload identity pool or provider id */
#define VALIDITY_DEFAULT 5    /* TOKEN_VALIDITY, minutes, as the original */
#define TIMEOUT_DEFAULT 10    /* UPSTREAM_TIMEOUT, seconds */

struct loader {
	tb_config_report_fn report;
	void *arg;
	int errors;
};

static const char *const flow_names[] = {
    [TB_FLOW_MTLS] = "mtls-client-credentials",
    [TB_FLOW_XLB] = "xlb-mtls-client-credentials",
};

static const char *const id_attr_names[] = {
    [TB_ID_SHA256] = "sha256",
    [TB_ID_SPIFFE] = "spiffe",
    [TB_ID_DNSSAN] = "dnssan",
    [TB_ID_URISAN] = "urisan",
    [TB_ID_SERIAL] = "serial",
    [TB_ID_SUBJECT] = "subject",
};

/* Setting names and defaults of the load balancer's headers, as the original has them. */
static const struct {
	const char *setting, *def;
} xlb_settings[TB_XLB_HEADERS] = {
    [TB_XLB_PRESENT] = {"MTLS_HEADER_CLIENT_CERT_PRESENT", "X-Client-Cert-Present"},
    [TB_XLB_CHAIN_VERIFIED] = {"MTLS_HEADER_CLIENT_CERT_CHAIN_VERIFIED",
        "X-Client-Cert-Chain-Verified"},
    [TB_XLB_ERROR] = {"MTLS_HEADER_CLIENT_CERT_ERROR", "X-Client-Cert-Error"},
    [TB_XLB_SHA256] = {"MTLS_HEADER_CLIENT_CERT_SHA256_FINGERPRINT", "X-Client-Cert-Hash"},
    [TB_XLB_SPIFFE] = {"MTLS_HEADER_CLIENT_CERT_SPIFFE_ID", "X-Client-Cert-Spiffe"},
    [TB_XLB_URI_SANS] = {"MTLS_HEADER_CLIENT_CERT_URI_SANS", "X-Client-Cert-URI-SANs"},
    [TB_XLB_DNS_SANS] = {"MTLS_HEADER_CLIENT_CERT_DNSNAME_SANS", "X-Client-Cert-DNSName-SANs"},
    [TB_XLB_SERIAL] = {"MTLS_HEADER_CLIENT_CERT_SERIAL_NUMBER", "X-Client-Cert-Serial-Number"},
    [TB_XLB_NOT_BEFORE] = {"MTLS_HEADER_CLIENT_CERT_VALID_NOT_BEFORE",
        "X-Client-Cert-Valid-Not-Before"},
    [TB_XLB_NOT_AFTER] = {"MTLS_HEADER_CLIENT_CERT_VALID_NOT_AFTER",
        "X-Client-Cert-Valid-Not-After"},
};

int
tb_id_attr_parse(const char *name, enum tb_id_attr *out)
{
	size_t i;

	for (i = 0; i < sizeof(id_attr_names) / sizeof(id_attr_names[0]); i++) {
		if (strcmp(name, id_attr_names[i]) == 0) {
			*out = (enum tb_id_attr)i;
			return 0;
		}
	}
	return TB_ERR_INVALID;
}

const char *
tb_id_attr_name(enum tb_id_attr a)
{
	return (size_t)a < sizeof(id_attr_names) / sizeof(id_attr_names[0]) ? id_attr_names[a]
	                                                                    : "such attribute";
}

const char *
tb_flow_name(enum tb_flow_kind f)
{
	return flow_names[f];
}

static void problem(struct loader *l, int warning, const char *setting, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
problem(struct loader *l, int warning, const char *setting, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!warning)
		l->errors++;
	if (l->report != NULL)
		l->report(l->arg, warning, setting, msg);
}

/* The trimmed value of a setting, or NULL when unset or empty (as the original treats them). */
static char *
value(struct loader *l, const char *name)
{
	const char *v = getenv(name), *end;
	char *s;

	if (v == NULL)
		return NULL;
	while (isspace((unsigned char)*v))
		v++;
	end = v + strlen(v);
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	if (end == v)
		return NULL;
	if ((size_t)(end - v) > VALUE_MAX) {
		problem(l, 0, name, "longer than %d bytes", VALUE_MAX);
		return NULL;
	}
	if ((s = strndup(v, (size_t)(end - v))) == NULL)
		problem(l, 0, name, "out of memory");
	return s;
}

/* A value that may also come under the original's misspelled name (WORKLOAD_IDENITY_*). */
static char *
value2(struct loader *l, const char *name, const char *old)
{
	char *a = value(l, name), *b = value(l, old);

	if (a != NULL && b != NULL && strcmp(a, b) != 0)
		problem(l, 0, name, "set differently under %s ('%s' and '%s')", old, a, b);
	if (a == NULL)
		return b;
	free(b);
	return a;
}

static int
all_chars(const char *s, const char *allowed)
{
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr(allowed, *s) == NULL)
			return 0;
	return 1;
}

static int
is_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

/* Strips trailing slashes in place. */
static void
strip_slashes(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && s[n - 1] == '/')
		s[--n] = '\0';
}

/*
 * The next item of a comma list, trimmed; empty items are skipped (" a,, b ," is {a, b}, as in
 * the original). Cuts the list in place; *rest moves past the item. NULL at the end.
 */
static char *
next_item(char **rest)
{
	while (**rest != '\0') {
		char *p = *rest, *e;
		size_t n = strcspn(p, ",");

		*rest = p[n] == ',' ? p + n + 1 : p + n;
		p[n] = '\0';
		while (isspace((unsigned char)*p))
			p++;
		e = p + strlen(p);
		while (e > p && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (*p != '\0')
			return p;
	}
	return NULL;
}

static void
load_flows(struct loader *l, struct tb_config *c)
{
	char *v = value(l, "AUTH_FLOWS"), *p, *rest;
	const char *list = v != NULL ? v : flow_names[TB_FLOW_MTLS];
	char *copy = strdup(list);

	if (copy == NULL) {
		problem(l, 0, "AUTH_FLOWS", "out of memory");
		goto out;
	}
	for (rest = copy; (p = next_item(&rest)) != NULL;) {
		size_t i, k;

		for (i = 0; i < TB_FLOWS_MAX; i++)
			if (strcmp(p, flow_names[i]) == 0)
				break;
		if (i == TB_FLOWS_MAX) {
			problem(l, 0, "AUTH_FLOWS", "unknown flow '%s' (known: %s, %s)", p,
			    flow_names[TB_FLOW_MTLS], flow_names[TB_FLOW_XLB]);
			continue;
		}
		for (k = 0; k < c->nflows; k++)
			if (c->flows[k] == (enum tb_flow_kind)i)
				break;
		if (k == c->nflows)
			c->flows[c->nflows++] = (enum tb_flow_kind)i;
	}
	if (c->nflows == 0 && l->errors == 0)
		problem(l, 0, "AUTH_FLOWS", "names no flow");
out:
	free(copy);
	free(v);
}

static void
load_audience(struct loader *l, struct tb_config *c)
{
	struct tb_buf b;
	char *aud = value(l, "TOKEN_AUDIENCE");
	int have_pool;

	c->project_number =
	    value2(l, "WORKLOAD_IDENTITY_PROJECT_NUMBER", "WORKLOAD_IDENITY_PROJECT_NUMBER");
	c->pool_id = value2(l, "WORKLOAD_IDENTITY_POOL_ID", "WORKLOAD_IDENITY_POOL_ID");
	c->provider_id = value2(l, "WORKLOAD_IDENTITY_PROVIDER_ID", "WORKLOAD_IDENITY_PROVIDER_ID");
	have_pool = c->project_number != NULL || c->pool_id != NULL || c->provider_id != NULL;
	if (have_pool) {
		if (c->project_number == NULL || !is_digits(c->project_number) ||
		    strlen(c->project_number) > PROJECT_NUMBER_MAX)
			problem(l, 0, "WORKLOAD_IDENTITY_PROJECT_NUMBER",
			    c->project_number == NULL ? "is required with the pool settings"
			                              : "must be a project number (digits)");
		if (c->pool_id == NULL || strlen(c->pool_id) > POOL_ID_MAX ||
		    !all_chars(c->pool_id, "-"))
			problem(l, 0, "WORKLOAD_IDENTITY_POOL_ID",
			    c->pool_id == NULL ? "is required with the pool settings"
			                       : "must be a pool id (letters, digits, hyphens)");
		if (c->provider_id == NULL || strlen(c->provider_id) > POOL_ID_MAX ||
		    !all_chars(c->provider_id, "-"))
			problem(l, 0, "WORKLOAD_IDENTITY_PROVIDER_ID",
			    c->provider_id == NULL
			        ? "is required with the pool settings"
			        : "must be a provider id (letters, digits, hyphens)");
	}
	if (have_pool && l->errors == 0) {
		tb_buf_init(&b, VALUE_MAX);
		if (tb_buf_addf(&b,
		        "//iam.googleapis.com/projects/%s/locations/global/"
		        "workloadIdentityPools/%s/providers/%s",
		        c->project_number, c->pool_id, c->provider_id) != 0 ||
		    (c->sts_audience = tb_buf_detach(&b)) == NULL)
			problem(l, 0, "WORKLOAD_IDENTITY_POOL_ID", "out of memory");
		tb_buf_free(&b);
	}
	if (aud != NULL) {
		if (!tb_valid_audience(aud))
			problem(l, 0, "TOKEN_AUDIENCE",
			    "must be 1 to %d printable characters without spaces", TB_AUDIENCE_MAX);
		c->audience = aud;
	} else if (c->sts_audience != NULL) {
		tb_buf_init(&b, VALUE_MAX);
		if (tb_buf_addf(&b, "https:%s", c->sts_audience) != 0 ||
		    (c->audience = tb_buf_detach(&b)) == NULL)
			problem(l, 0, "TOKEN_AUDIENCE", "out of memory");
		tb_buf_free(&b);
	} else if (!have_pool)
		problem(l, 0, "TOKEN_AUDIENCE",
		    "set it, or WORKLOAD_IDENTITY_PROJECT_NUMBER, WORKLOAD_IDENTITY_POOL_ID and "
		    "WORKLOAD_IDENTITY_PROVIDER_ID");
}

static void
load_issuer(struct loader *l, struct tb_config *c)
{
	const char *why = NULL, *path;

	if ((c->issuer = value(l, "TOKEN_ISSUER")) == NULL) {
		problem(l, 1, "TOKEN_ISSUER",
		    "unset: the issuer is taken from each request's Host header, which any client "
		    "can send; set it in production");
		return;
	}
	strip_slashes(c->issuer);
	if (strlen(c->issuer) > TB_ISSUER_MAX) {
		problem(l, 0, "TOKEN_ISSUER", "longer than %d bytes", TB_ISSUER_MAX);
		return;
	}
	if (tb_valid_url(c->issuer, TB_URL_PATH, NULL, &why) != 0) {
		problem(l, 0, "TOKEN_ISSUER", "%s (got '%s')", why, c->issuer);
		return;
	}
	path = strchr(strstr(c->issuer, "//") + 2, '/');
	if ((c->issuer_path = strdup(path != NULL ? path : "")) == NULL)
		problem(l, 0, "TOKEN_ISSUER", "out of memory");
}

static void
load_signing(struct loader *l, struct tb_config *c)
{
	char *keys = value(l, "SIGNING_KEYS"), *p, *rest;

	c->signing_account = value(l, "SIGNING_SERVICE_ACCOUNT");
	if ((keys == NULL) == (c->signing_account == NULL)) {
		problem(l, 0, "SIGNING_KEYS",
		    keys == NULL ? "set it (PEM key files) or SIGNING_SERVICE_ACCOUNT"
		                 : "set either it or SIGNING_SERVICE_ACCOUNT, not both");
	}
	if (c->signing_account != NULL && strcmp(c->signing_account, "default") != 0 &&
	    !tb_valid_email(c->signing_account))
		problem(l, 0, "SIGNING_SERVICE_ACCOUNT",
		    "must be a service account email or 'default' (got '%s')", c->signing_account);
	if (keys == NULL)
		return;
	for (rest = keys; (p = next_item(&rest)) != NULL;) {
		if (c->nsigning_keys == TB_KEYS_MAX) {
			problem(l, 0, "SIGNING_KEYS", "more than %d keys", TB_KEYS_MAX);
			break;
		}
		if ((c->signing_keys[c->nsigning_keys++] = strdup(p)) == NULL)
			problem(l, 0, "SIGNING_KEYS", "out of memory");
	}
	if (c->nsigning_keys == 0)
		problem(l, 0, "SIGNING_KEYS", "names no key file");
	free(keys);
}

/* A comma list of at most max items into items (each the config's), reporting under name. */
static void
load_list(struct loader *l, const char *name, char **items, size_t max, size_t *n)
{
	char *v = value(l, name), *p, *rest;

	if (v == NULL)
		return;
	for (rest = v; (p = next_item(&rest)) != NULL;) {
		if (*n == max) {
			problem(l, 0, name, "more than %zu entries", max);
			break;
		}
		if ((items[(*n)++] = strdup(p)) == NULL)
			problem(l, 0, name, "out of memory");
	}
	if (*n == 0)
		problem(l, 0, name, "names nothing");
	free(v);
}

/* CLIENT_CA_FILE, CRL_FILES, REVOCATION and CRL_URLS (the files are read by crl.c). */
static void
load_revocation(struct loader *l, struct tb_config *c)
{
	char *mode = value(l, "REVOCATION");
	const char *why = NULL;
	size_t i;

	c->client_ca_file = value(l, "CLIENT_CA_FILE");
	load_list(l, "CRL_FILES", c->crl_files, TB_CRL_PATHS_MAX, &c->ncrl_files);
	load_list(l, "CRL_URLS", c->crl_urls, TB_CRL_URLS_MAX, &c->ncrl_urls);
	if (c->ncrl_files > 0 && c->client_ca_file == NULL)
		problem(
		    l, 0, "CRL_FILES", "needs CLIENT_CA_FILE: every CRL is verified against it");
	if (c->ncrl_urls > 0 && c->ncrl_files == 0)
		problem(l, 0, "CRL_URLS",
		    "needs CRL_FILES: --fetch-crls writes into its first "
		    "directory");
	for (i = 0; i < c->ncrl_urls; i++)
		if (c->crl_urls[i] != NULL &&
		    tb_valid_url(c->crl_urls[i], TB_URL_PATH | TB_URL_HTTP, NULL, &why) != 0)
			problem(l, 0, "CRL_URLS", "%s (got '%s')", why, c->crl_urls[i]);
	if (mode != NULL) {
		if (strcmp(mode, "lenient") == 0)
			c->revocation_lenient = 1;
		else if (strcmp(mode, "strict") != 0)
			problem(l, 0, "REVOCATION", "must be strict or lenient (got '%s')", mode);
		if (c->ncrl_files == 0)
			problem(l, 1, "REVOCATION", "has no effect without CRL_FILES");
		free(mode);
	}
}

static void
load_mtls(struct loader *l, struct tb_config *c)
{
	char *v = value(l, "MTLS_CLIENT_ID");
	size_t i;

	c->client_id_attr = TB_ID_SHA256;
	if (v != NULL) {
		if (tb_id_attr_parse(v, &c->client_id_attr) != 0)
			problem(l, 0, "MTLS_CLIENT_ID",
			    "must be one of sha256, spiffe, dnssan, urisan, serial, subject (got "
			    "'%s')",
			    v);
		free(v);
	}
	for (i = 0; i < TB_XLB_HEADERS; i++) {
		char *h = value(l, xlb_settings[i].setting);

		if (h == NULL && (h = strdup(xlb_settings[i].def)) == NULL) {
			problem(l, 0, xlb_settings[i].setting, "out of memory");
			continue;
		}
		if (strlen(h) > TB_HEADER_NAME_MAX || !all_chars(h, "-_"))
			problem(l, 0, xlb_settings[i].setting,
			    "must be an HTTP header name (got '%s')", h);
		c->xlb_headers[i] = h;
	}
	/* the documented default, and the header that carries the SHA-256 (doc/contract.md section
	 * 7) */
	if ((c->xlb_client_id_header = value(l, "MTLS_HEADER_CLIENT_ID")) == NULL &&
	    c->xlb_headers[TB_XLB_SHA256] != NULL &&
	    (c->xlb_client_id_header = strdup(c->xlb_headers[TB_XLB_SHA256])) == NULL)
		problem(l, 0, "MTLS_HEADER_CLIENT_ID", "out of memory");
	if (c->xlb_client_id_header != NULL) {
		static const int allowed[] = {
		    TB_XLB_SPIFFE, TB_XLB_DNS_SANS, TB_XLB_URI_SANS, TB_XLB_SHA256};
		int found = 0;

		for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
			if (c->xlb_headers[allowed[i]] != NULL &&
			    strcasecmp(c->xlb_client_id_header, c->xlb_headers[allowed[i]]) == 0)
				found = 1;
		if (!found)
			problem(l, 0, "MTLS_HEADER_CLIENT_ID",
			    "the header '%s' cannot be used as client ID header; use the SPIFFE, "
			    "DNS SAN, "
			    "URI SAN or hash header",
			    c->xlb_client_id_header);
	}
}

static char *
endpoint(struct loader *l, const char *name, const char *def)
{
	char *v = value(l, name);
	const char *why = NULL;

	if (v == NULL && (v = strdup(def)) == NULL) {
		problem(l, 0, name, "out of memory");
		return NULL;
	}
	strip_slashes(v);
	if (tb_valid_url(v, TB_URL_PATH, NULL, &why) != 0)
		problem(l, 0, name, "%s (got '%s')", why, v);
	return v;
}

/*
 * GCE_METADATA_HOST as Google's client libraries read it: host[:port], or with an http:// in
 * front (gcp-metadata and google-auth accept both). Kept as host[:port].
 */
static void
load_metadata_host(struct loader *l, struct tb_config *c)
{
	char *v = value(l, "GCE_METADATA_HOST");
	size_t n;

	if (v == NULL && (v = strdup("metadata.google.internal")) == NULL) {
		problem(l, 0, "GCE_METADATA_HOST", "out of memory");
		return;
	}
	c->metadata_host = v;
	if (strncasecmp(v, "http://", 7) == 0)
		memmove(v, v + 7, strlen(v + 7) + 1);
	n = strlen(v);
	if (n > 0 && v[n - 1] == '/')
		v[--n] = '\0';
	if (!tb_valid_authority(v, n))
		problem(l, 0, "GCE_METADATA_HOST",
		    "must be host[:port] or http://host[:port] (got '%s')", v);
}

static void
load_upstream(struct loader *l, struct tb_config *c)
{
	char *v;

	c->sts_endpoint = endpoint(l, "STS_ENDPOINT", "https://sts.googleapis.com");
	c->iam_endpoint =
	    endpoint(l, "IAMCREDENTIALS_ENDPOINT", "https://iamcredentials.googleapis.com");
	load_metadata_host(l, c);
	c->upstream_timeout = TIMEOUT_DEFAULT;
	if ((v = value(l, "UPSTREAM_TIMEOUT")) != NULL) {
		long n;

		if (tb_valid_decimal(v, TB_TIMEOUT_MIN, TB_TIMEOUT_MAX, &n) != 0 ||
		    !tb_valid_timeout(n))
			problem(l, 0, "UPSTREAM_TIMEOUT",
			    "must be whole seconds from %d to %d (got '%s')", TB_TIMEOUT_MIN,
			    TB_TIMEOUT_MAX, v);
		else
			c->upstream_timeout = n;
		free(v);
	}
}

static int
load(tb_config_report_fn report, void *arg, int keep, struct tb_config **out)
{
	struct loader l = {report, arg, 0};
	struct tb_config *c;
	char *v;
	long n;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return TB_ERR_ALLOC;
	load_flows(&l, c);
	load_audience(&l, c);
	c->validity = VALIDITY_DEFAULT;
	if ((v = value(&l, "TOKEN_VALIDITY")) != NULL) {
		if (tb_valid_decimal(v, TB_VALIDITY_MIN, TB_VALIDITY_MAX, &n) != 0)
			problem(&l, 0, "TOKEN_VALIDITY",
			    "must be whole minutes from %d to %d (got '%s')", TB_VALIDITY_MIN,
			    TB_VALIDITY_MAX, v);
		else
			c->validity = (int)n;
		free(v);
	}
	load_issuer(&l, c);
	load_signing(&l, c);
	load_mtls(&l, c);
	c->client_registry = value(&l, "CLIENT_REGISTRY");
	load_revocation(&l, c);
	load_list(&l, "TOKEN_AUDIENCES", c->audiences, TB_AUDIENCES_MAX, &c->naudiences);
	for (size_t i = 0; i < c->naudiences; i++)
		if (c->audiences[i] != NULL && !tb_valid_audience(c->audiences[i]))
			problem(&l, 0, "TOKEN_AUDIENCES",
			    "'%s' is not an audience (printable, no spaces, at most %d bytes)",
			    c->audiences[i], TB_AUDIENCE_MAX);
	load_upstream(&l, c);
	c->log_file = value(&l, "LOG_FILE");
	c->cloud_project = value(&l, "GOOGLE_CLOUD_PROJECT");
	if (c->cloud_project != NULL && !tb_valid_project_id(c->cloud_project))
		problem(&l, 0, "GOOGLE_CLOUD_PROJECT", "must be a project id (got '%s')",
		    c->cloud_project);
	if (l.errors > 0 && !keep) {
		tb_config_free(c);
		return TB_ERR_CONFIG;
	}
	*out = c;
	return l.errors > 0 ? TB_ERR_CONFIG : 0;
}

int
tb_config_load(tb_config_report_fn report, void *arg, struct tb_config **out)
{
	return load(report, arg, 0, out);
}

int
tb_config_load_partial(tb_config_report_fn report, void *arg, struct tb_config **out)
{
	return load(report, arg, 1, out);
}

void
tb_config_free(struct tb_config *c)
{
	size_t i;

	if (c == NULL)
		return;
	free(c->project_number);
	free(c->pool_id);
	free(c->provider_id);
	free(c->audience);
	free(c->sts_audience);
	free(c->issuer);
	free(c->issuer_path);
	for (i = 0; i < c->nsigning_keys; i++)
		free(c->signing_keys[i]);
	free(c->signing_account);
	free(c->client_registry);
	for (i = 0; i < TB_XLB_HEADERS; i++)
		free(c->xlb_headers[i]);
	free(c->xlb_client_id_header);
	free(c->sts_endpoint);
	free(c->iam_endpoint);
	free(c->metadata_host);
	for (i = 0; i < c->naudiences; i++)
		free(c->audiences[i]);
	free(c->client_ca_file);
	for (i = 0; i < c->ncrl_files; i++)
		free(c->crl_files[i]);
	for (i = 0; i < c->ncrl_urls; i++)
		free(c->crl_urls[i]);
	free(c->log_file);
	free(c->cloud_project);
	free(c);
}
