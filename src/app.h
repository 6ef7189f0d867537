/* app.h: what lives for the whole process: settings, signer, Google client, registry, CRLs. */
#ifndef TB_APP_H
#define TB_APP_H

#include <stddef.h>
#include <time.h>

#include "config.h"
#include "flow.h"
#include "log.h"
#include "request.h"

/*
 * Built once at start (tb_app_new) from checked settings; the routes read it (routes.c), and
 * tb_app_refresh swaps in the registry or CRLs when their files change. Its members are the
 * app's: the routes borrow them for one request at a time (a FastCGI process serves one request
 * at a time, so a swap never happens under a request that uses the old version).
 */
struct tb_app {
	const struct tb_config *cfg; /* borrowed: outlives the app */
	struct tb_google *google;
	struct tb_signer *signer;
	struct tb_registry *registry;    /* NULL: every verified certificate is a client */
	struct tb_watch *registry_watch; /* notices a changed CLIENT_REGISTRY */
	struct tb_cas *cas;              /* CLIENT_CA_FILE, or NULL */
	struct tb_crlset *crls;          /* the CRLs in force, or NULL without CRL_FILES */
	struct tb_watch *crl_watch;      /* notices changed CRL files */
	struct tb_certcache *certs;      /* client certificates parsed before */
	char *discovery; /* rendered at the first request when nothing in it depends on it */
	/* every request variable the broker reads: each must occur at most once in a request */
	char flow_vars[TB_FLOW_VARS_MAX][TB_HEADER_VAR_MAX + 1];
	const char *vars[TB_REQUEST_NVARS + TB_FLOW_VARS_MAX];
	size_t nvars;
};

/*
 * Builds the application from checked settings (cfg is borrowed and must outlive the app):
 * loads and parses the signing keys, the registry, the CAs and CRLs once. On failure writes a
 * one-line reason naming the setting into why.
 */
int tb_app_new(const struct tb_config *cfg, struct tb_app **out, char *why, size_t whylen);
void tb_app_free(struct tb_app *app);

/* Logs what the application loaded at start (the CRLs in force), for a serving process. */
void tb_app_log_loaded(const struct tb_app *app);

/*
 * Before a request that needs them: reloads CRL_FILES and CLIENT_REGISTRY when their files
 * changed (looked at at most once a second), each whole; a version that does not load is
 * refused with an ERROR line (log is the request's) and the last good one stays in force.
 */
void tb_app_refresh(struct tb_app *app, time_t now, const struct tb_log_ctx *log);

#endif
