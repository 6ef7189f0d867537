/* flow.c: the mtls-client-credentials and xlb-mtls-client-credentials flows. */
#include "flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

#define VERIFY_SHOWN 80 /* bytes of an SSL_CLIENT_VERIFY value quoted in the log */

static const char *
attribute(const struct tb_identity *id, enum tb_id_attr a)
{
	switch (a) {
	case TB_ID_SHA256: return id->sha256;
	case TB_ID_SPIFFE: return id->spiffe;
	case TB_ID_DNSSAN: return id->dns_san;
	case TB_ID_URISAN: return id->uri_san;
	case TB_ID_SERIAL: return id->serial;
	case TB_ID_SUBJECT: return id->subject;
	}
	return "";
}

static const char *const attribute_names[] = {
    [TB_ID_SHA256] = "SHA-256",
    [TB_ID_SPIFFE] = "SPIFFE ID",
    [TB_ID_DNSSAN] = "DNS SAN",
    [TB_ID_URISAN] = "URI SAN",
    [TB_ID_SERIAL] = "serial",
    [TB_ID_SUBJECT] = "subject",
};

static int
mtls(const struct tb_config *cfg, struct tb_certcache *cache, const struct tb_request *req,
    time_t now, struct tb_identity **out, char *why, size_t whylen)
{
	const char *verify = tb_request_param(req, "SSL_CLIENT_VERIFY");
	const char *pem = tb_request_param(req, "SSL_CLIENT_CERT");
	struct tb_identity *id = NULL;
	const char *cid;
	int r;

	/* the web server verified the chain; anything but SUCCESS (NONE, GENEROUS, FAILED:...)
	 * fails */
	if (verify == NULL || strcmp(verify, "SUCCESS") != 0) {
		snprintf(why, whylen,
		    "the web server did not verify the certificate (SSL_CLIENT_VERIFY=%.*s)",
		    VERIFY_SHOWN, verify != NULL ? verify : "unset");
		return TB_ERR_CLIENT;
	}
	if ((r = tb_certcache_identity(cache, pem, strlen(pem), now, &id, why, whylen)) != 0)
		return r == TB_ERR_ALLOC ? r : TB_ERR_CLIENT;
	cid = attribute(id, cfg->client_id_attr);
	if (*cid == '\0') {
		snprintf(why, whylen, "the certificate has no %s, which MTLS_CLIENT_ID names",
		    attribute_names[cfg->client_id_attr]);
		tb_identity_free(id);
		return TB_ERR_CLIENT;
	}
	if ((id->client_id = strdup(cid)) == NULL) {
		tb_identity_free(id);
		return TB_ERR_ALLOC;
	}
	id->flow = tb_flow_name(TB_FLOW_MTLS);
	*out = id;
	return 0;
}

static int
xlb(const struct tb_config *cfg, const struct tb_request *req, time_t now, struct tb_identity **out,
    char *why, size_t whylen)
{
	const char *values[TB_XLB_HEADERS];
	struct tb_identity *id = NULL;
	size_t i;
	int r;

	for (i = 0; i < TB_XLB_HEADERS; i++)
		values[i] = tb_request_header(req, cfg->xlb_headers[i]);
	r = tb_cert_identity_xlb(
	    values, tb_request_header(req, cfg->xlb_client_id_header), now, &id, why, whylen);
	if (r != 0)
		return r == TB_ERR_ALLOC ? r : TB_ERR_CLIENT;
	id->flow = tb_flow_name(TB_FLOW_XLB);
	*out = id;
	return 0;
}

int
tb_flow_authenticate(const struct tb_config *cfg, struct tb_certcache *cache,
    const struct tb_request *req, time_t now, struct tb_identity **out, char *why, size_t whylen)
{
	size_t i;

	*out = NULL;
	for (i = 0; i < cfg->nflows; i++) {
		if (cfg->flows[i] == TB_FLOW_MTLS) {
			const char *pem = tb_request_param(req, "SSL_CLIENT_CERT");

			if (pem != NULL && *pem != '\0')
				return mtls(cfg, cache, req, now, out, why, whylen);
		} else {
			const char *present =
			    tb_request_header(req, cfg->xlb_headers[TB_XLB_PRESENT]);

			if (present != NULL && strcasecmp(present, "true") == 0)
				return xlb(cfg, req, now, out, why, whylen);
		}
	}
	snprintf(why, whylen, "no client certificate (SSL_CLIENT_VERIFY=%.*s)", VERIFY_SHOWN,
	    tb_request_param(req, "SSL_CLIENT_VERIFY") != NULL
	        ? tb_request_param(req, "SSL_CLIENT_VERIFY")
	        : "unset");
	return TB_ERR_CLIENT;
}

size_t
tb_flow_vars(const struct tb_config *cfg, char names[][TB_HEADER_VAR_MAX + 1])
{
	size_t i, k, n = 0;

	for (i = 0; i < cfg->nflows; i++) {
		if (cfg->flows[i] == TB_FLOW_MTLS) {
			snprintf(names[n++], TB_HEADER_VAR_MAX + 1, "SSL_CLIENT_CERT");
			snprintf(names[n++], TB_HEADER_VAR_MAX + 1, "SSL_CLIENT_VERIFY");
			continue;
		}
		/* the settings checked the header names: they fit */
		for (k = 0; k < TB_XLB_HEADERS; k++)
			if (tb_request_header_var(cfg->xlb_headers[k], names[n]) == 0)
				n++;
		if (tb_request_header_var(cfg->xlb_client_id_header, names[n]) == 0)
			n++;
	}
	return n;
}
