/* apploop.c: answers one token request many times in one process, to profile the responder. */
/*
 * Usage: apploop CERT.pem REQUESTS   (the broker's settings come from the environment)
 *
 * The request is the one a web server hands over for `POST /token` with
 * grant_type=client_credentials and the client certificate CERT.pem in SSL_CLIENT_CERT; every
 * iteration builds it afresh and answers it through tb_app_handle, as fcgi.c does, so a profile
 * (perf record, valgrind --tool=callgrind) of this program is the responder's own cost without
 * the web server and the FastCGI transport. Prints the status of the last answer and the mean
 * time per request. Not a test: `make bench` builds it; README.md (Performance) shows its use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "config.h"
#include "err.h"
#include "log.h"
#include "request.h"
#include "routes.h"

#define CERT_MAX (64 * 1024)
#define FORM "grant_type=client_credentials"

struct body {
	const char *p;
	size_t left;
};

static int
read_body(void *arg, char *p, int n)
{
	struct body *b = arg;
	size_t k = b->left < (size_t)n ? b->left : (size_t)n;

	memcpy(p, b->p, k);
	b->p += k;
	b->left -= k;
	return (int)k;
}

static char *
read_cert(const char *path)
{
	static char var[CERT_MAX + 32];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return NULL;
	n = (size_t)snprintf(var, sizeof(var), "SSL_CLIENT_CERT=");
	n += fread(var + n, 1, sizeof(var) - n - 1, f);
	var[n] = '\0';
	fclose(f);
	return var;
}

/* One request, answered; the status, or -1. */
static int
one(struct tb_app *app, const char *cert_var)
{
	static const char *const vars[] = {"REQUEST_METHOD=POST", "REQUEST_URI=/token",
	    "SCRIPT_NAME=", "PATH_INFO=/token", "HTTPS=on", "SSL_CLIENT_VERIFY=SUCCESS",
	    "CONTENT_TYPE=application/x-www-form-urlencoded", "CONTENT_LENGTH=29",
	    "HTTP_HOST=broker"};
	struct tb_request *req = NULL;
	struct tb_response *resp = NULL;
	struct body b = {FORM, sizeof(FORM) - 1};
	size_t i;
	int status = -1;

	if (tb_request_new(&req) != 0)
		goto out;
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if (tb_request_add_param(req, vars[i]) != 0)
			goto out;
	if (tb_request_add_param(req, cert_var) != 0 ||
	    tb_request_read_body(req, read_body, &b) != 0 ||
	    tb_app_handle(app, req, time(NULL), &resp) != 0)
		goto out;
	status = resp->status;
out:
	tb_response_free(resp);
	tb_request_free(req);
	return status;
}

int
main(int argc, char **argv)
{
	struct tb_config *cfg = NULL;
	struct tb_app *app = NULL;
	struct timespec t0, t1;
	char why[512] = "";
	const char *cert_var;
	char *end = NULL;
	long i, n;
	int status = -1, rc = 1;

	if (argc != 3 || (n = strtol(argv[2], &end, 10)) <= 0 || *end != '\0') {
		fprintf(stderr, "usage: apploop CERT.pem REQUESTS\n");
		return 2;
	}
	if ((cert_var = read_cert(argv[1])) == NULL) {
		fprintf(stderr, "apploop: cannot read %s\n", argv[1]);
		return 1;
	}
	if (tb_config_load(NULL, NULL, &cfg) != 0 || tb_log_open(cfg->log_file, NULL) != 0 ||
	    tb_app_new(cfg, &app, why, sizeof(why)) != 0) {
		fprintf(stderr, "apploop: the settings do not load: %s\n", why);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++)
		status = one(app, cert_var);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("status %d, %ld requests, %.1f us per request\n", status, n,
	    ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) /
	        (double)n);
	rc = status == 200 ? 0 : 1;
out:
	tb_app_free(app);
	tb_config_free(cfg);
	tb_log_close();
	return rc;
}
