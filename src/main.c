/* main.c: the command line (--check-config, --jwks, --fetch-crls, --listen, ...), serving. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "crl.h"
#include "envfile.h"
#include "err.h"
#include "fcgi.h"
#include "fetch.h"
#include "keys.h"
#include "listen.h"
#include "log.h"
#include "registry.h"
#include "routes.h"
#include "valid.h"

#define WHY_MAX 512 /* one start-up problem, as the modules describe it */

static const char usage[] =
    "Usage: token-broker [--env-file FILE] [--check-config | --jwks | --fetch-crls]\n"
    "       token-broker --listen ADDRESS [--listen-any] [--workers N] [--env-file FILE]\n"
    "                    [--socket-mode MODE] [--socket-owner USER[:GROUP]]\n"
    "       token-broker --version | --help\n"
    "\n"
    "A FastCGI responder (Apache mod_fcgid, lighttpd mod_fastcgi) that issues OIDC ID tokens to\n"
    "clients that authenticate with X.509 certificates (mutual TLS), and exchanges them for\n"
    "Google access tokens. Without options it serves requests: as a FastCGI responder when the\n"
    "web server starts it so, else the one CGI request of its environment and standard input.\n"
    "Settings are environment variables; see token-broker(8).\n"
    "\n"
    "  --listen ADDRESS  serve FastCGI on a socket of its own (nginx, Apache mod_proxy_fcgi):\n"
    "                  unix:/run/token-broker/fcgi.sock or HOST:PORT (a loopback host\n"
    "                  unless --listen-any); a supervisor starts the workers, restarts one\n"
    "                  that dies, re-reads the configuration on SIGHUP (workers replaced one\n"
    "                  at a time) and stops on SIGTERM. A socket passed by systemd\n"
    "                  (LISTEN_FDS) is used in its place\n"
    "  --listen-any    allow a HOST that is not loopback: FastCGI has no authentication,\n"
    "                  whoever connects is believed about the client certificate\n"
    "  --workers N     worker processes sharing the socket (default 1, at most 128)\n"
    "  --socket-mode MODE  permissions of the unix socket, octal (default 0660)\n"
    "  --socket-owner USER[:GROUP]  owner of the unix socket (or :GROUP), e.g. :www-data\n"
    "  --env-file FILE settings as KEY=value lines (systemd's EnvironmentFile syntax); the\n"
    "                  process environment wins; re-read on SIGHUP\n"
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

/* A SIGHUP's configuration with a bad setting is refused, not fatal: an ERROR line each. */
static void
report_reload(void *arg, int warning, const char *setting, const char *msg)
{
	(void)arg;
	tb_log(warning ? TB_LOG_WARNING : TB_LOG_ERROR, "runtime.reload", NULL, "%s: %s", setting,
	    msg);
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

/*
 * Loads the settings, the log and the application, then serves: as today without a socket
 * (fd < 0: the one web servers hand over, or CGI), else on the listening socket fd, telling
 * ready_fd once it serves (a worker of the supervisor).
 */
static int
serve(int fd, int ready_fd)
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
	status = fd < 0 ? tb_fcgi_serve(app) : tb_fcgi_serve_socket(app, fd, ready_fd);
out:
	if (ready_fd >= 0 && status != 0)
		close(
		    ready_fd); /* EOF: the supervisor learns that this configuration did not load */
	tb_app_free(app);
	tb_config_free(cfg);
	tb_log_close();
	return status;
}

/* The command line, as parsed. */
struct options {
	const char *command; /* --check-config, --jwks, --fetch-crls, or NULL: serve */
	const char *listen, *env_file, *mode, *owner;
	const char *workers;
	int listen_any;
};

/* A worker of the supervisor (listen.h's work): what serve does, on the shared socket. */
static int
work(void *arg, int fd, int ready_fd)
{
	(void)arg;
	return serve(fd, ready_fd);
}

/*
 * The supervisor's check of a configuration before its workers start: the settings (the files
 * they name are the workers' to load; a worker that cannot refuses the configuration). At start
 * it opens LOG_FILE for the supervisor's own lines.
 */
static int
check_settings(void *arg, int first)
{
	struct tb_config *cfg = NULL;
	int r = 1;

	(void)arg;
	if (tb_config_load(first ? report_log : report_reload, NULL, &cfg) != 0)
		goto out;
	if (first && tb_log_open(cfg->log_file, cfg->cloud_project) != 0) {
		tb_log(TB_LOG_CRITICAL, "runtime.startup", NULL, "LOG_FILE: cannot open '%s'",
		    cfg->log_file);
		goto out;
	}
	r = 0;
out:
	tb_config_free(cfg);
	return r;
}

/* --listen, or a socket from systemd: the socket, then the supervisor. */
static int
listen_and_supervise(const struct options *o, int activated_fd)
{
	struct tb_supervisor sup;
	struct tb_listen_addr addr;
	char why[TB_LISTEN_WHY_MAX] = "";
	mode_t mode = TB_SOCKET_MODE_DEFAULT;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	long workers = 1;
	int fd = activated_fd, status;

	memset(&sup, 0, sizeof(sup));
	if (o->workers != NULL && tb_valid_decimal(o->workers, 1, TB_WORKERS_MAX, &workers) != 0) {
		fprintf(stderr, "token-broker: --workers: a number of 1 to %d\n", TB_WORKERS_MAX);
		return 2;
	}
	if (o->mode != NULL && tb_listen_parse_mode(o->mode, &mode) != 0) {
		fprintf(stderr, "token-broker: --socket-mode: octal permissions such as 0660\n");
		return 2;
	}
	if (o->owner != NULL &&
	    tb_listen_parse_owner(o->owner, &uid, &gid, why, sizeof(why)) != 0) {
		fprintf(stderr, "token-broker: %s\n", why);
		return 2;
	}
	if (fd >= 0 && o->listen != NULL)
		tb_log(TB_LOG_NOTICE, "runtime.startup", NULL,
		    "Serving the socket systemd passed (LISTEN_FDS); --listen %s is not used",
		    o->listen);
	if (fd < 0) {
		if (tb_listen_parse(o->listen, o->listen_any, &addr, why, sizeof(why)) != 0) {
			fprintf(stderr, "token-broker: --listen: %s\n", why);
			return 2;
		}
		if (!addr.unix_socket && (o->mode != NULL || o->owner != NULL)) {
			fprintf(stderr, "token-broker: --socket-mode and --socket-owner are for a "
			                "unix: --listen address\n");
			return 2;
		}
		if (tb_listen_open(&addr, mode, uid, gid, &fd, why, sizeof(why)) != 0) {
			tb_log(TB_LOG_CRITICAL, "runtime.startup", NULL, "--listen: %s", why);
			return 1;
		}
		sup.unix_path = addr.unix_socket ? addr.path : NULL;
	}
	sup.fd = fd;
	sup.workers = (unsigned)workers;
	sup.env_file = o->env_file;
	sup.check = check_settings;
	sup.work = work;
	status = tb_supervise(&sup);
	close(fd);
	tb_log_close();
	return status;
}

static int
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {{"check-config", no_argument, NULL, 'c'},
	    {"jwks", no_argument, NULL, 'j'}, {"fetch-crls", no_argument, NULL, 'f'},
	    {"version", no_argument, NULL, 'V'}, {"help", no_argument, NULL, 'h'},
	    {"listen", required_argument, NULL, 'l'}, {"listen-any", no_argument, NULL, 'A'},
	    {"workers", required_argument, NULL, 'w'}, {"env-file", required_argument, NULL, 'e'},
	    {"socket-mode", required_argument, NULL, 'm'},
	    {"socket-owner", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
	int c;

	memset(o, 0, sizeof(*o));
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", longs, NULL)) != -1) {
		switch (c) {
		case 'c':
		case 'j':
		case 'f':
		case 'V':
		case 'h':
			if (o->command != NULL) {
				fprintf(stderr, "token-broker: %s and %s: one at a time\n\n%s",
				    o->command, argv[optind - 1], usage);
				return 2;
			}
			o->command = argv[optind - 1];
			break;
		case 'l': o->listen = optarg; break;
		case 'A': o->listen_any = 1; break;
		case 'w': o->workers = optarg; break;
		case 'e': o->env_file = optarg; break;
		case 'm': o->mode = optarg; break;
		case 'o': o->owner = optarg; break;
		case ':':
			fprintf(stderr, "token-broker: %s needs a value\n\n%s", argv[optind - 1],
			    usage);
			return 2;
		default:
			fprintf(stderr, "token-broker: unknown option '%s'\n\n%s", argv[optind - 1],
			    usage);
			return 2;
		}
	}
	if (optind < argc) {
		fputs(usage, stderr);
		return 2;
	}
	return 0;
}

/* Options that make sense only with --listen (or a socket from systemd). */
static int
listen_only(const struct options *o)
{
	return o->listen_any || o->workers != NULL || o->mode != NULL || o->owner != NULL;
}

int
main(int argc, char **argv)
{
	struct options o;
	struct tb_envfile *ef = NULL;
	char why[TB_ENVFILE_WHY_MAX] = "";
	int status, fd = -1;

	if ((status = parse_options(argc, argv, &o)) != 0)
		return status;
	if (o.command != NULL && strcmp(o.command, "--help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	if (o.command != NULL && strcmp(o.command, "--version") == 0) {
		printf("token-broker %s\n", PACKAGE_VERSION);
		return 0;
	}
	/* systemd's variables are removed at once: no child may take the socket for its own */
	if (tb_listen_activated(&fd, why, sizeof(why)) < 0) {
		tb_log(TB_LOG_CRITICAL, "runtime.startup", NULL, "%s", why);
		return 1;
	}
	if (o.command != NULL && (o.listen != NULL || listen_only(&o))) {
		fprintf(stderr,
		    "token-broker: %s does not serve: --listen and its options do not "
		    "apply\n",
		    o.command);
		return 2;
	}
	if (o.listen == NULL && fd < 0 && listen_only(&o)) {
		fprintf(stderr,
		    "token-broker: --listen-any, --workers, --socket-mode and "
		    "--socket-owner need --listen ADDRESS (or a socket from systemd)\n");
		return 2;
	}
	if (o.command == NULL && (o.listen != NULL || fd >= 0))
		return listen_and_supervise(&o, fd); /* reads --env-file itself, again on SIGHUP */
	if (o.env_file != NULL) {
		if (tb_envfile_load(o.env_file, &ef, why, sizeof(why)) != 0 ||
		    tb_envfile_apply(ef) != 0) {
			fprintf(stderr, "token-broker: --env-file: %s\n", why);
			tb_envfile_free(ef);
			return 1;
		}
		tb_envfile_free(ef);
	}
	if (o.command == NULL)
		status = serve(-1, -1);
	else if (strcmp(o.command, "--check-config") == 0)
		status = check_config();
	else if (strcmp(o.command, "--jwks") == 0)
		status = print_jwks();
	else
		status = tb_fetch_crls(time(NULL)) == 0 ? 0 : 1;
	return status;
}
