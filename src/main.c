/* main.c: the command line (--check-config, --jwks, --fetch-crls, --version, --help), serving. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "crl.h"
#include "err.h"
#include "fcgi.h"
#include "fetch.h"
#include "keys.h"
#include "log.h"
#include "registry.h"
#include "routes.h"

#define WHY_MAX 512 /* one start-up problem, as the modules describe it */

static const char usage[] =
    "Usage: token-broker [--check-config | --jwks | --fetch-crls | --version | --help]\n"
    "\n"
    "A FastCGI responder (Apache mod_fcgid, lighttpd mod_fastcgi) that issues OIDC ID tokens to\n"
    "clients that authenticate with X.509 certificates (mutual TLS), and exchanges them for\n"
    "Google access tokens. Without options it serves requests: as a FastCGI responder when the\n"
    "web server starts it so, else the one CGI request of its environment and standard input.\n"
    "Settings are environment variables; see token-broker(8).\n"
    "\n"
    "  --check-config  check the settings and key files; one line per problem on standard\n"
    "                  error; exit 0 when they are usable, 1 otherwise\n"
    "  --jwks          print the public JWK Set of SIGNING_KEYS (for gcloud's --jwk-json-path)\n"
    "  --fetch-crls    download the CRLs of CRL_URLS, verify them against CLIENT_CA_FILE and\n"
    "                  replace older copies in the first directory of CRL_FILES; one line\n"
    "                  per URL on standard error; exit 0 when every URL gave a current CRL\n"
    "  --version       print the version\n"
    "  --help          print this help\n";

/* --check-config prints plain lines for a person at a terminal. */
static void
report_plain(void *arg, int warning, const char *setting, const char *msg)
{
	int *errors = arg;

	if (!warning)
		(*errors)++;
	fprintf(stderr, "token-broker: %s%s: %s\n", warning ? "warning: " : "", setting, msg);
}

/* --jwks needs only the errors: its output goes to a file, advice would be noise. */
static void
report_errors(void *arg, int warning, const char *setting, const char *msg)
{
	if (!warning)
		report_plain(arg, warning, setting, msg);
}

/* Serving logs the same findings as JSON lines into the web server's error log. */
static void
report_log(void *arg, int warning, const char *setting, const char *msg)
{
	(void)arg;
	tb_log(warning ? TB_LOG_WARNING : TB_LOG_CRITICAL, "runtime.startup", NULL, "%s: %s",
	    setting, msg);
}

/*
 * Can LOG_FILE be appended to (or created)? Checked without creating it: --check-config often
 * runs as root, and a root-owned new file would stop the service user from opening it.
 */
static int
log_file_writable(const char *file)
{
	char dir[PATH_MAX];
	const char *slash;

	if (access(file, W_OK) == 0)
		return 1;
	if (errno != ENOENT)
		return 0;
	if ((slash = strrchr(file, '/')) == NULL)
		return access(".", W_OK | X_OK) == 0;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash == file ? 1 : slash - file), file);
	return access(dir, W_OK | X_OK) == 0;
}

/* Each signing key file on its own, so that every bad one is named. */
static void
check_keys(const struct tb_config *cfg, int *errors)
{
	char why[WHY_MAX];
	size_t i;

	for (i = 0; i < cfg->nsigning_keys; i++) {
		const char *one[1] = {cfg->signing_keys[i]};
		struct tb_keyset *ks = NULL;

		if (tb_keyset_load(one, 1, &ks, why, sizeof(why)) != 0) {
			fprintf(stderr, "token-broker: %s\n", why); /* why names the setting */
			(*errors)++;
		}
		tb_keyset_free(ks);
	}
}

static void
print_line(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "token-broker: CRL_FILES: %s\n", line);
}

/* CLIENT_CA_FILE and CRL_FILES: a problem is an error; each CRL in force gets a line too. */
static void
check_revocation(const struct tb_config *cfg, int *errors)
{
	struct tb_cas *cas = NULL;
	struct tb_crlset *set = NULL;
	char why[TB_CRL_WHY_MAX];

	if (cfg->ncrl_urls > 0 && tb_fetch_dir(cfg) == NULL) {
		fprintf(stderr, "token-broker: CRL_URLS: CRL_FILES names no directory for "
		                "--fetch-crls to write into\n");
		(*errors)++;
	}
	if (cfg->client_ca_file == NULL)
		return;
	if (tb_cas_load(cfg->client_ca_file, &cas, why, sizeof(why)) != 0) {
		fprintf(stderr, "token-broker: CLIENT_CA_FILE: %s\n", why);
		(*errors)++;
		return;
	}
	if (cfg->ncrl_files > 0) {
		if (tb_crlset_load(cas, cfg->crl_files, cfg->ncrl_files, &set, why, sizeof(why)) !=
		    0) {
			fprintf(stderr, "token-broker: CRL_FILES: %s\n", why);
			(*errors)++;
		} else {
			tb_crlset_describe(set, cas, print_line, NULL);
			if (!tb_crlset_current(set, time(NULL)))
				fprintf(stderr,
				    "token-broker: warning: CRL_FILES: a CRL is out of date (or "
				    "none "
				    "is loaded): %s\n",
				    cfg->revocation_lenient
				        ? "REVOCATION=lenient accepts its CA's clients with a "
				          "warning"
				        : "under REVOCATION=strict its CA's clients are refused");
		}
	}
	tb_crlset_free(set);
	tb_cas_free(cas);
}

/*
 * --check-config: every problem, one line each: the settings, then the files that the usable
 * settings name (key files, CA and CRL files, registry, log file), then what only building the
 * whole application finds, when nothing else was wrong (it would repeat the file problems).
 */
static int
check_config(void)
{
	struct tb_config *cfg = NULL;
	struct tb_registry *reg = NULL;
	struct tb_app *app = NULL;
	char why[WHY_MAX] = "";
	int errors = 0;

	if (tb_config_load_partial(report_plain, &errors, &cfg) == TB_ERR_ALLOC || cfg == NULL) {
		fprintf(stderr, "token-broker: out of memory\n");
		errors++;
		goto out;
	}
	check_keys(cfg, &errors);
	check_revocation(cfg, &errors);
	if (cfg->client_registry != NULL &&
	    tb_registry_load(cfg->client_registry, NULL, &reg, why, sizeof(why)) != 0) {
		fprintf(stderr, "token-broker: %s\n", why); /* why names the setting */
		errors++;
	}
	if (cfg->log_file != NULL && !log_file_writable(cfg->log_file)) {
		fprintf(stderr,
		    "token-broker: LOG_FILE: '%s' cannot be appended to by this user (%s)\n",
		    cfg->log_file, strerror(errno));
		errors++;
	}
	if (errors == 0 && tb_app_new(cfg, &app, why, sizeof(why)) != 0) {
		fprintf(stderr, "token-broker: %s\n", why);
		errors++;
	}
out:
	if (errors == 0)
		fprintf(stderr, "token-broker: the configuration is usable\n");
	tb_app_free(app);
	tb_registry_free(reg);
	tb_config_free(cfg);
	return errors == 0 ? 0 : 1;
}

static int
print_jwks(void)
{
	struct tb_config *cfg = NULL;
	struct tb_keyset *ks = NULL;
	char why[WHY_MAX] = "";
	int errors = 0, status = 1;

	if (tb_config_load(report_errors, &errors, &cfg) != 0 || errors > 0)
		goto out;
	if (cfg->nsigning_keys == 0) {
		fprintf(stderr,
		    "token-broker: SIGNING_KEYS: unset; with SIGNING_SERVICE_ACCOUNT Google "
		    "publishes the keys\n");
		goto out;
	}
	if (tb_keyset_load((const char *const *)cfg->signing_keys, cfg->nsigning_keys, &ks, why,
	        sizeof(why)) != 0) {
		fprintf(stderr, "token-broker: %s\n", why);
		goto out;
	}
	printf("%s\n", tb_keyset_jwks(ks));
	status = fflush(stdout) == 0 ? 0 : 1;
out:
	tb_keyset_free(ks);
	tb_config_free(cfg);
	return status;
}

static int
serve(void)
{
	struct tb_config *cfg = NULL;
	struct tb_app *app = NULL;
	char why[WHY_MAX] = "";
	int status = 1;

	if (tb_config_load(report_log, NULL, &cfg) != 0)
		goto out;
	if (tb_log_open(cfg->log_file, cfg->cloud_project) != 0) {
		tb_log(TB_LOG_CRITICAL, "runtime.startup", NULL, "LOG_FILE: cannot open '%s'",
		    cfg->log_file);
		goto out;
	}
	if (tb_app_new(cfg, &app, why, sizeof(why)) != 0) {
		tb_log(TB_LOG_CRITICAL, "runtime.startup", NULL, "%s", why);
		goto out;
	}
	tb_app_log_loaded(app);
	status = tb_fcgi_serve(app);
out:
	tb_app_free(app);
	tb_config_free(cfg);
	tb_log_close();
	return status;
}

int
main(int argc, char **argv)
{
	int status;

	if (argc > 2 || (argc == 2 && argv[1][0] != '-')) {
		fputs(usage, stderr);
		return 2;
	}
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("token-broker %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (argc == 1)
		status = serve();
	else if (strcmp(argv[1], "--check-config") == 0)
		status = check_config();
	else if (strcmp(argv[1], "--jwks") == 0)
		status = print_jwks();
	else if (strcmp(argv[1], "--fetch-crls") == 0)
		status = tb_fetch_crls(time(NULL)) == 0 ? 0 : 1;
	else {
		fprintf(stderr, "token-broker: unknown option '%s'\n\n%s", argv[1], usage);
		status = 2;
	}
	return status;
}
