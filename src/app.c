/* app.c: builds what lives for the whole process, and swaps in files that changed on disk. */
#include "app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certcache.h"
#include "crl.h"
#include "err.h"
#include "google.h"
#include "keys.h"
#include "registry.h"
#include "signer.h"
#include "watch.h"

/*
 * Swaps in a changed set of CRLs, whole, before the request that noticed the change; a set that
 * does not load is refused and the last good one stays in force.
 */
static void
refresh_crls(struct tb_app *app, time_t now, const struct tb_log_ctx *log)
{
	struct tb_crlset *set = NULL;
	char why[TB_CRL_WHY_MAX];
	size_t crls, entries;
	struct timespec t0, t1;

	if (app->crl_watch == NULL || !tb_watch_changed(app->crl_watch, now))
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (tb_crlset_load(
	        app->cas, app->cfg->crl_files, app->cfg->ncrl_files, &set, why, sizeof(why)) != 0) {
		tb_log(TB_LOG_ERROR, "runtime.reload", log,
		    "CRL_FILES changed but the new set is refused, the last good set stays in "
		    "force: "
		    "%s",
		    why);
		return;
	}
	tb_crlset_free(app->crls);
	app->crls = set;
	crls = tb_crlset_count(set, &entries);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	tb_log(TB_LOG_INFO, "runtime.reload", log,
	    "CRL_FILES reloaded: %zu CRLs with %zu revoked serials in %ld ms", crls, entries,
	    (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
}

/* CLIENT_CA_FILE and CRL_FILES at start; the CRLs are watched for changes from then on. */
static int
load_revocation(struct tb_app *app, char *why, size_t whylen)
{
	const struct tb_config *cfg = app->cfg;
	int r;

	char detail[TB_CRL_WHY_MAX];

	if (cfg->client_ca_file != NULL &&
	    (r = tb_cas_load(cfg->client_ca_file, &app->cas, detail, sizeof(detail))) != 0) {
		snprintf(why, whylen, "CLIENT_CA_FILE: %s", detail);
		return r;
	}
	if (cfg->ncrl_files == 0)
		return 0;
	if ((r = tb_crlset_load(app->cas, cfg->crl_files, cfg->ncrl_files, &app->crls, detail,
	         sizeof(detail))) != 0) {
		snprintf(why, whylen, "CRL_FILES: %s", detail);
		return r;
	}
	return tb_watch_new(cfg->crl_files, cfg->ncrl_files, time(NULL), &app->crl_watch);
}

/* CLIENT_REGISTRY at start (after the CAs: its issuer bindings name them), then watched. */
static int
load_registry(struct tb_app *app, char *why, size_t whylen)
{
	const struct tb_config *cfg = app->cfg;
	int r;

	if (cfg->client_registry == NULL)
		return 0;
	if ((r = tb_registry_load(cfg->client_registry, app->cas, &app->registry, why, whylen)) !=
	    0)
		return r;
	return tb_watch_new(&cfg->client_registry, 1, time(NULL), &app->registry_watch);
}

/* As refresh_crls, for the registry. */
static void
refresh_registry(struct tb_app *app, time_t now, const struct tb_log_ctx *log)
{
	struct tb_registry *reg = NULL;
	char why[TB_REGISTRY_WHY_MAX];

	if (app->registry_watch == NULL || !tb_watch_changed(app->registry_watch, now))
		return;
	if (tb_registry_load(app->cfg->client_registry, app->cas, &reg, why, sizeof(why)) != 0) {
		tb_log(TB_LOG_ERROR, "runtime.reload", log,
		    "CLIENT_REGISTRY changed but the new version is refused, the last good version "
		    "stays in force: %s",
		    why);
		return;
	}
	tb_registry_free(app->registry);
	app->registry = reg;
	tb_log(TB_LOG_INFO, "runtime.reload", log, "CLIENT_REGISTRY reloaded: %zu clients",
	    tb_registry_count(reg));
}

void
tb_app_refresh(struct tb_app *app, time_t now, const struct tb_log_ctx *log)
{
	refresh_crls(app, now, log);
	refresh_registry(app, now, log);
}

void
tb_app_log_loaded(const struct tb_app *app)
{
	size_t crls, entries;

	if (app->crls == NULL)
		return;
	crls = tb_crlset_count(app->crls, &entries);
	tb_log(TB_LOG_INFO, "runtime.startup", NULL,
	    "CRL_FILES: %zu CRLs with %zu revoked serials, REVOCATION=%s", crls, entries,
	    app->cfg->revocation_lenient ? "lenient" : "strict");
}

int
tb_app_new(const struct tb_config *cfg, struct tb_app **out, char *why, size_t whylen)
{
	struct tb_app *app;
	struct tb_keyset *ks = NULL;
	size_t i, nflow;
	int r = TB_ERR_ALLOC;

	*out = NULL;
	if ((app = calloc(1, sizeof(*app))) == NULL)
		return TB_ERR_ALLOC;
	app->cfg = cfg;
	for (i = 0; i < TB_REQUEST_NVARS; i++)
		app->vars[app->nvars++] = tb_request_vars[i];
	nflow = tb_flow_vars(cfg, app->flow_vars);
	for (i = 0; i < nflow; i++)
		app->vars[app->nvars++] = app->flow_vars[i];
	if ((r = tb_google_new(cfg->sts_endpoint, cfg->iam_endpoint, cfg->metadata_host,
	         cfg->upstream_timeout, &app->google)) != 0) {
		snprintf(why, whylen,
		    "STS_ENDPOINT, IAMCREDENTIALS_ENDPOINT or GCE_METADATA_HOST: %s",
		    tb_err_str(r));
		goto fail;
	}
	if (cfg->nsigning_keys > 0) {
		if ((r = tb_keyset_load((const char *const *)cfg->signing_keys, cfg->nsigning_keys,
		         &ks, why, whylen)) != 0)
			goto fail;
		r = tb_signer_new_local(ks, &app->signer);
	} else
		r = tb_signer_new_iam(app->google, cfg->signing_account, &app->signer);
	if (r != 0) {
		snprintf(why, whylen, "%s", tb_err_str(r));
		goto fail;
	}
	if ((r = tb_certcache_new(TB_CERTCACHE_ENTRIES, TB_CERTCACHE_BYTES, &app->certs)) != 0) {
		snprintf(why, whylen, "the certificate cache: %s", tb_err_str(r));
		goto fail;
	}
	if ((r = load_revocation(app, why, whylen)) != 0 ||
	    (r = load_registry(app, why, whylen)) != 0)
		goto fail;
	*out = app;
	return 0;
fail:
	tb_app_free(app);
	return r;
}

void
tb_app_free(struct tb_app *app)
{
	if (app == NULL)
		return;
	tb_certcache_free(app->certs);
	tb_registry_free(app->registry);
	tb_watch_free(app->registry_watch);
	tb_watch_free(app->crl_watch);
	tb_crlset_free(app->crls);
	tb_cas_free(app->cas);
	tb_signer_free(app->signer);
	tb_google_free(app->google);
	free(app->discovery);
	free(app);
}
