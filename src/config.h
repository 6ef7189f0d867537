/* config.h: the settings (environment variables of doc/contract.md section 2), read and checked
 * once. */
#ifndef TB_CONFIG_H
#define TB_CONFIG_H

#include <stddef.h>

#include "cert.h"
#include "keys.h"

#define TB_FLOWS_MAX 2
#define TB_VALIDITY_MIN 1 /* TOKEN_VALIDITY bounds, minutes (signJwt refuses more than 12 h) */
#define TB_VALIDITY_MAX 720
#define TB_ISSUER_MAX                                                                              \
	1000 /* longest TOKEN_ISSUER: routes.c builds <issuer>/token and such in                   \
	      buffers of ISSUER_MAX (1024) plus a little */

#define TB_CRL_PATHS_MAX 64 /* entries of CRL_FILES */
#define TB_CRL_URLS_MAX 64  /* entries of CRL_URLS */
#define TB_AUDIENCES_MAX 64 /* entries of TOKEN_AUDIENCES */

enum tb_flow_kind { TB_FLOW_MTLS, TB_FLOW_XLB };

/* The certificate attribute that becomes client_id (MTLS_CLIENT_ID). */
enum tb_id_attr {
	TB_ID_SHA256,
	TB_ID_SPIFFE,
	TB_ID_DNSSAN,
	TB_ID_URISAN,
	TB_ID_SERIAL,
	TB_ID_SUBJECT
};

/*
 * The attribute an MTLS_CLIENT_ID value (or a registry group's client_id) names: 0, or
 * TB_ERR_INVALID for anything but sha256, spiffe, dnssan, urisan, serial, subject.
 */
int tb_id_attr_parse(const char *name, enum tb_id_attr *out);
/* The setting's name of an attribute ("dnssan"), static. */
const char *tb_id_attr_name(enum tb_id_attr a);

/* Read-only after tb_config_load: every string owned by the config, NULL when unset. */
struct tb_config {
	enum tb_flow_kind flows[TB_FLOWS_MAX]; /* in the order AUTH_FLOWS lists them */
	size_t nflows;
	char *project_number, *pool_id, *provider_id;
	char *audience;     /* aud of ID tokens (TOKEN_AUDIENCE or derived from the pool) */
	char *sts_audience; /* //iam.googleapis.com/... for STS; NULL without pool settings */
	int validity;       /* TOKEN_VALIDITY, minutes */
	char *issuer;       /* TOKEN_ISSUER without trailing slash; NULL: from Host */
	char *issuer_path;  /* the path part of issuer ("" or "/prefix"); NULL with issuer */
	char *signing_keys[TB_KEYS_MAX];
	size_t nsigning_keys;
	char *signing_account; /* SIGNING_SERVICE_ACCOUNT */
	enum tb_id_attr client_id_attr;
	char *client_registry;
	char *xlb_headers[TB_XLB_HEADERS]; /* header names, e.g. "X-Client-Cert-Present" */
	char *xlb_client_id_header;
	char *sts_endpoint, *iam_endpoint, *metadata_host;
	long upstream_timeout;
	char *audiences[TB_AUDIENCES_MAX]; /* TOKEN_AUDIENCES: further audiences clients may ask for
	                                    */
	size_t naudiences;
	char *client_ca_file;              /* CLIENT_CA_FILE */
	char *crl_files[TB_CRL_PATHS_MAX]; /* CRL_FILES: files or directories */
	size_t ncrl_files;
	int revocation_lenient;          /* REVOCATION=lenient (strict is the default) */
	char *crl_urls[TB_CRL_URLS_MAX]; /* CRL_URLS, for --fetch-crls */
	size_t ncrl_urls;
	char *log_file;
	char *cloud_project; /* GOOGLE_CLOUD_PROJECT, for trace labels */
};

/* Called once per problem: setting names the variable; warning is 1 for advice, 0 for errors. */
typedef void (*tb_config_report_fn)(void *arg, int warning, const char *setting, const char *msg);

/*
 * Reads the settings from the environment and checks them, reporting every problem (not just the
 * first). 0 and *out, or TB_ERR_CONFIG when any error was reported (*out NULL), TB_ERR_ALLOC.
 * Key files are not opened here (keys.h does that).
 */
int tb_config_load(tb_config_report_fn report, void *arg, struct tb_config **out);
/*
 * As tb_config_load, but on TB_ERR_CONFIG *out still holds what could be read (a bad setting
 * left at its default or NULL), so that --check-config can go on to check the files that the
 * good settings name and report every problem at once. Never for serving.
 */
int tb_config_load_partial(tb_config_report_fn report, void *arg, struct tb_config **out);
void tb_config_free(struct tb_config *cfg);

/* The flow's name, as in AUTH_FLOWS and the amr claim (static). */
const char *tb_flow_name(enum tb_flow_kind f);

#endif
