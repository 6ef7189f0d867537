/* fuzz_app.c: libFuzzer target for the whole request handler, tb_app_handle, with local keys. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "flow.h"
#include "json.h"
#include "log.h"
#include "request.h"
#include "app.h"
#include "routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/*
 * The input is a request as the web server hands it over: NAME=VALUE lines (a name may repeat, as
 * FastCGI allows), a line that starts with a space or a tab continuing the value before it after
 * a line break (so a PEM with real newlines stays readable), then an empty line and the body as
 * the web server delivers it. The app is built once, with a P-256 key, both flows, a registry,
 * and the Google APIs on a loopback port where nothing listens (127.0.0.1:9, UPSTREAM_TIMEOUT=1):
 * a request with a scope gets its 503 at once, so the scope paths are fuzzed too.
 */
#define NOW ((time_t)1795392000) /* 2026-11-23T00:00:00Z: inside the fixtures' validity */
#define VARS_MAX (TB_PARAMS_MAX + 8)
#define INPUT_MAX (TB_BODY_MAX + 64 * 1024)

/* tests/fixtures/p256.pem: a test key, never a real one */
static const char key_pem[] = "-----BEGIN EC PRIVATE KEY-----\n"
                              "MHcCAQEEIPeTrfEHnwsY4H296dlrA4V4gYAmuAZALfw03Z6t64choAoGCCqGSM49\n"
                              "AwEHoUQDQgAEGpTEknSP/HxD8is4JaJXxEDKfZ3j1eJntEqCjMXd3qRH6bAIteA9\n"
                              "3DJQoSKWNClABnkwYPcqJIzbRAUNF+Ud+A==\n"
                              "-----END EC PRIVATE KEY-----\n";

/* dns.pem (client.example.net) is a client with allow-lists, uri-spiffe-first.pem another */
static const char registry_json[] =
    "{\"clients\": [{\"client_id\": \"batch\","
    " \"match\": {\"dnssan\": \"client.example.net\"},"
    " \"scopes\": [\"https://www.googleapis.com/auth/cloud-platform\"],"
    " \"service_accounts\": [\"batch@example-project.iam.gserviceaccount.com\"],"
    " \"token_validity\": 10},"
    " {\"client_id\": \"workload\", \"match\": {\"spiffe\": \"spiffe://example.org/workload\"}}]}";

static struct tb_config *cfg;
static struct tb_app *app;
static char dir[] = "/tmp/tb-fuzz-app-XXXXXX";
static char key_file[64], registry_file[64], log_file[64];
static int log_fd = -1;
static char flow_vars[TB_FLOW_VARS_MAX][TB_HEADER_VAR_MAX + 1];
static size_t nflow_vars;
static int show; /* FUZZ_APP_SHOW set: each answer's status and body on stderr, to check a case */
/*
 * FUZZ_APP_LOG_UTF8=lenient: a log line that is not UTF-8 is cleaned before the JSON check instead
 * of stopping the run, so a long run can look past that finding while its fix is pending.
 */
static int lenient_utf8;

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_app: %s\n", what);
	exit(1);
}

static void
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
	size_t n = strlen(text);

	if (fd < 0 || write(fd, text, n) != (ssize_t)n || close(fd) != 0)
		die(path);
}

static void
cleanup(void)
{
	tb_app_free(app);
	tb_config_free(cfg);
	tb_log_close();
	unlink(key_file);
	unlink(registry_file);
	unlink(log_file);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char why[512] = "";
	const char *utf8;

	(void)argc;
	(void)argv;
	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	snprintf(key_file, sizeof(key_file), "%s/key.pem", dir);
	snprintf(registry_file, sizeof(registry_file), "%s/registry.json", dir);
	snprintf(log_file, sizeof(log_file), "%s/log", dir);
	write_file(key_file, key_pem);
	write_file(registry_file, registry_json);
	atexit(cleanup);
	show = getenv("FUZZ_APP_SHOW") != NULL;
	utf8 = getenv("FUZZ_APP_LOG_UTF8");
	lenient_utf8 = utf8 != NULL && strcmp(utf8, "lenient") == 0;
	clearenv();
	setenv("AUTH_FLOWS", "mtls-client-credentials,xlb-mtls-client-credentials", 1);
	setenv("WORKLOAD_IDENTITY_PROJECT_NUMBER", "123456789012", 1);
	setenv("WORKLOAD_IDENTITY_POOL_ID", "test-pool", 1);
	setenv("WORKLOAD_IDENTITY_PROVIDER_ID", "test-provider", 1);
	setenv("TOKEN_ISSUER", "https://broker.example.net/idp", 1);
	setenv("TOKEN_AUDIENCES", "sts.amazonaws.com,api://AzureADTokenExchange", 1);
	setenv("SIGNING_KEYS", key_file, 1);
	setenv("CLIENT_REGISTRY", registry_file, 1);
	setenv("STS_ENDPOINT", "http://127.0.0.1:9", 1);
	setenv("IAMCREDENTIALS_ENDPOINT", "http://127.0.0.1:9", 1);
	setenv("GCE_METADATA_HOST", "127.0.0.1:9", 1);
	setenv("UPSTREAM_TIMEOUT", "1", 1);
	if (tb_config_load(NULL, NULL, &cfg) != 0)
		die("the settings do not load");
	if (tb_log_open(log_file, NULL) != 0 || (log_fd = open(log_file, O_RDWR)) < 0)
		die("the log file does not open");
	if (tb_app_new(cfg, &app, why, sizeof(why)) != 0)
		die(why);
	nflow_vars = tb_flow_vars(cfg, flow_vars);
	return 0;
}

/* Replaces each byte that does not belong to a well-formed UTF-8 sequence (RFC 3629) with '?'. */
static void
clean_utf8(char *s, size_t n)
{
	size_t i = 0, k, len;
	unsigned char c;

	while (i < n) {
		c = (unsigned char)s[i];
		len = c < 0x80                 ? 1
		      : c >= 0xc2 && c <= 0xdf ? 2
		      : c >= 0xe0 && c <= 0xef ? 3
		      : c >= 0xf0 && c <= 0xf4 ? 4
		                               : 0;
		for (k = 1; len > 1 && k < len; k++)
			if (i + k >= n || ((unsigned char)s[i + k] & 0xc0) != 0x80)
				len = 0;
		/* overlong three- and four-byte forms, surrogates, past U+10FFFF */
		if ((len == 3 && ((c == 0xe0 && (unsigned char)s[i + 1] < 0xa0) ||
		                     (c == 0xed && (unsigned char)s[i + 1] > 0x9f))) ||
		    (len == 4 && ((c == 0xf0 && (unsigned char)s[i + 1] < 0x90) ||
		                     (c == 0xf4 && (unsigned char)s[i + 1] > 0x8f))))
			len = 0;
		if (len == 0) {
			s[i++] = '?';
			continue;
		}
		i += len;
	}
}

/* Each log line is one JSON object and fits in TB_LOG_LINE_MAX bytes; the log then starts over. */
static void
check_log(void)
{
	static char text[1024 * 1024];
	struct tb_json *j;
	ssize_t n = pread(log_fd, text, sizeof(text), 0);
	char *p, *nl;

	if (n < 0 || (size_t)n == sizeof(text))
		abort();
	for (p = text; p < text + n; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(text + n - p))) == NULL)
			nl = text + n; /* a line without its end */
		if (lenient_utf8)
			clean_utf8(p, (size_t)(nl - p));
		if (nl == text + n || (size_t)(nl - p) + 1 > TB_LOG_LINE_MAX ||
		    tb_json_parse(p, (size_t)(nl - p), &j) != 0 || !tb_json_is_object(j)) {
			fprintf(stderr, "fuzz_app: a bad log line (%zu bytes): %.*s\n",
			    (size_t)(nl - p), (int)(nl - p), p);
			abort();
		}
		tb_json_free(j);
	}
	if (ftruncate(log_fd, 0) != 0)
		abort();
}

/* How many times the variable name occurs among the input's variables. */
static size_t
count(char *const *vars, size_t nvars, const char *name)
{
	size_t k = 0, n = strlen(name);

	for (size_t i = 0; i < nvars; i++)
		if (strncmp(vars[i], name, n) == 0 && vars[i][n] == '=')
			k++;
	return k;
}

/* 1 when a variable that the broker reads occurs more than once (doc/contract.md section 7: then
 * never a 200). */
static int
any_repeated(char *const *vars, size_t nvars)
{
	for (size_t i = 0; i < TB_REQUEST_NVARS; i++)
		if (count(vars, nvars, tb_request_vars[i]) > 1)
			return 1;
	for (size_t i = 0; i < nflow_vars; i++)
		if (count(vars, nvars, flow_vars[i]) > 1)
			return 1;
	return 0;
}

/* What every answer holds: a known status, header lines that cannot split, a JSON body. */
static void
check_response(const struct tb_response *resp, int repeated)
{
	struct tb_json *j = NULL;
	const char *h = resp->head.data != NULL ? resp->head.data : "";

	if (resp->status < 200 || resp->status > 599 ||
	    strcmp(tb_status_reason(resp->status), "Unknown") == 0)
		abort();
	if (repeated && resp->status == 200)
		abort();
	/* every line ends in CRLF; no other CR or LF anywhere (no header injection) */
	for (const char *p = h; *p != '\0'; p++) {
		if ((*p == '\r' && p[1] != '\n') || (*p == '\n' && (p == h || p[-1] != '\r')))
			abort();
		if ((unsigned char)*p < 0x20 && *p != '\r' && *p != '\n')
			abort();
	}
	if (resp->head.len > TB_HEAD_MAX || strstr(h, "Content-Type: application/json\r\n") == NULL)
		abort();
	if (resp->status == 405 && strstr(h, "Allow: ") == NULL)
		abort();
	if (resp->status == 503 && strstr(h, "Retry-After: ") == NULL)
		abort();
	if (resp->body_len > TB_RESPONSE_MAX || (resp->body_len > 0 && resp->body == NULL))
		abort();
	if (resp->body_len > 0) {
		if (tb_json_parse(resp->body, resp->body_len, &j) != 0 || !tb_json_is_object(j))
			abort();
		tb_json_free(j);
	}
}

/* The input's body, read by tb_request_read_body as the FastCGI front reads a stream. */
struct input {
	const char *p;
	size_t left;
};

static int
read_input(void *arg, char *p, int n)
{
	struct input *in = arg;
	size_t k = in->left < (size_t)n ? in->left : (size_t)n;

	memcpy(p, in->p, k);
	in->p += k;
	in->left -= k;
	return (int)k;
}

static int
give_body(struct tb_request *req, const char *body, size_t len)
{
	struct input in = {body, len};

	return tb_request_read_body(req, read_input, &in);
}

/* Splits the input into variables (in place) and the body. How many variables. */
static size_t
split(char *text, size_t size, char **vars, const char **body, size_t *blen)
{
	char *p = text, *end = text + size, *nl, *w = NULL;
	size_t n = 0;

	*body = end;
	*blen = 0;
	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		*nl = '\0';
		if (*p == '\0') { /* the empty line: the body follows */
			*body = nl + 1 <= end ? nl + 1 : end;
			*blen = (size_t)(end - *body);
			break;
		}
		if ((*p == ' ' || *p == '\t') && w != NULL) {
			/* a continuation: the line break stays in the value */
			*w++ = '\n';
			memmove(w, p + 1, (size_t)(nl - p));
			w += nl - p - 1;
		} else if (n < VARS_MAX) {
			vars[n++] = p;
			w = nl;
		} else {
			w = NULL;
		}
		p = nl + 1;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *vars[VARS_MAX];
	struct tb_request *req = NULL;
	struct tb_response *resp = NULL;
	const char *body;
	char *text;
	size_t nvars, blen;
	int r;

	if (size > INPUT_MAX || (text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	nvars = split(text, size, vars, &body, &blen);
	if (tb_request_new(&req) != 0)
		abort();
	for (size_t i = 0; i < nvars; i++)
		if ((r = tb_request_add_param(req, vars[i])) != 0 && r != TB_ERR_INVALID)
			goto out; /* over the caps: fcgi.c answers a bare 500 */
	if (give_body(req, body, blen) != 0)
		goto out;
	if (tb_app_handle(app, req, NOW, &resp) != 0)
		abort(); /* it fails only on memory */
	check_response(resp, any_repeated(vars, nvars));
	if (show)
		fprintf(stderr, "%d %.*s\n", resp->status, (int)resp->body_len,
		    resp->body != NULL ? resp->body : "");
out:
	check_log();
	tb_response_free(resp);
	tb_request_free(req);
	free(text);
	return 0;
}
