/* credential.c: token-broker-credential, the executable that Google's client libraries run. */
/*
 * It fetches an ID token from the broker with the machine's client certificate and prints the
 * broker's executable-sourced credential response (AIP-4117) on standard output. The libraries
 * read standard output and standard error together and parse the lot as JSON, so this program
 * writes nothing to standard error, ever: every failure is a {"success":false,...} response.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "credclient.h"
#include "credkey.h"
#include "credserve.h"
#include "err.h"
#include "json.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define PROGRAM "token-broker-credential"
#define RESPONSE_MAX (64 * 1024) /* bytes read from the output file (the broker: credclient.h) */
#define BUDGET_DEFAULT 25        /* seconds: under google-auth-library's 30 s executable timeout */
#define BUDGET_MAX 120           /* the most timeout_millis the libraries accept */
#define CACHE_MARGIN 60          /* a cached response must stay valid this many more seconds */
#define FORM "grant_type=client_credentials&format=external_credential"

#define TT_ID_TOKEN "urn:ietf:params:oauth:token-type:id_token"
#define TT_JWT "urn:ietf:params:oauth:token-type:jwt"
#define TT_SAML2 "urn:ietf:params:oauth:token-type:saml2"

/* failure codes of our own (the broker's come through as it sends them) */
#define CODE_CONFIG "invalid_configuration"
#define CODE_UNAVAILABLE "temporarily_unavailable"
#define CODE_RESPONSE "invalid_response"

struct options {
	const char *url, *cert, *key, *cacert;
	long budget; /* seconds for everything, retries included */
};

static void
usage(void)
{
	printf(
	    "Usage: %s --url URL --cert FILE --key KEY [--cacert FILE] [--timeout SECONDS]\n"
	    "       %s serve --url URL --cert FILE --key KEY --scope SCOPE ... (serve --help)\n"
	    "\n"
	    "Fetches an ID token from token-broker with a client certificate and prints it in the\n"
	    "executable-sourced credential form that Google's client libraries read.\n"
	    "\n"
	    "  --url URL          the broker's token endpoint (https://...)      TOKEN_BROKER_URL\n"
	    "  --cert FILE        the client certificate (PEM)                   "
	    "TOKEN_BROKER_CERT\n"
	    "  --key KEY          its private key: a PEM file (default: in --cert), a TPM 2.0\n"
	    "                     key (handle:0x81000001, TSS2 key file), a pkcs11: URI\n"
	    "                                                                    TOKEN_BROKER_KEY\n"
	    "  --cacert FILE      CA certificates for the broker (PEM)           "
	    "TOKEN_BROKER_CACERT\n"
	    "  --timeout SECONDS  total time for all attempts (default %d, at most %d)\n"
	    "  --help, --version\n"
	    "\n"
	    "With GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE set, a response there that stays valid for\n"
	    "more than %d seconds is printed without asking the broker, and a new one is saved\n"
	    "there. Exit status 0 on success, 1 with a {\"success\":false,...} response "
	    "otherwise.\n",
	    PROGRAM, PROGRAM, BUDGET_DEFAULT, BUDGET_MAX, CACHE_MARGIN);
}

/* Prints {"success":false,"version":1,"code","message"} and gives the exit status. */
static int fail(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(const char *code, const char *fmt, ...)
{
	struct tb_json *o = tb_json_object();
	char msg[512], *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (o != NULL && tb_json_set_bool(o, "success", 0) == 0 &&
	    tb_json_set_int(o, "version", 1) == 0 && tb_json_set_str(o, "code", code) == 0 &&
	    tb_json_set_str(o, "message", msg) == 0 && tb_json_render(o, &text) == 0)
		printf("%s\n", text);
	else /* out of memory: still a response the library can read */
		printf("{\"success\":false,\"version\":1,\"code\":\"%s\",\"message\":\"out of "
		       "memory\"}\n",
		    code);
	fflush(stdout);
	free(text);
	tb_json_free(o);
	return 1;
}

/*
 * Checks an executable-sourced credential response as google-auth-library does (version 1, a
 * boolean success; on success a known token_type, a token, and an integer expiration_time later
 * than now + margin). *success says which kind it is. 0, or TB_ERR_INVALID with why.
 */
static int
check_response(
    const char *text, size_t len, time_t now, long margin, int *success, const char **why)
{
	struct tb_json *j = NULL;
	const char *tt, *tok;
	int64_t version, exp;
	int s, r = TB_ERR_INVALID;

	*success = 0;
	if (tb_json_parse(text, len, &j) != 0 || !tb_json_is_object(j)) {
		*why = "not a JSON object";
		goto out;
	}
	if (tb_json_get_int(j, "version", &version) != 0 || version != 1) {
		*why = "version is not 1";
		goto out;
	}
	if ((s = tb_json_get_bool(j, "success")) < 0) {
		*why = "success is not a boolean";
		goto out;
	}
	if (!s) {
		const char *code = tb_json_get_str(j, "code"), *msg = tb_json_get_str(j, "message");

		if (code == NULL || *code == '\0' || msg == NULL || *msg == '\0') {
			*why = "a failure without code and message";
			goto out;
		}
		r = 0;
		goto out;
	}
	tt = tb_json_get_str(j, "token_type");
	if (tt == NULL || (strcmp(tt, TT_ID_TOKEN) != 0 && strcmp(tt, TT_JWT) != 0 &&
	                      strcmp(tt, TT_SAML2) != 0)) {
		*why = "token_type is not an id_token, jwt or saml2 URN";
		goto out;
	}
	tok = tb_json_get_str(j, strcmp(tt, TT_SAML2) == 0 ? "saml_response" : "id_token");
	if (tok == NULL || *tok == '\0') {
		*why = "the token is missing";
		goto out;
	}
	if (tb_json_get_int(j, "expiration_time", &exp) != 0) {
		*why = "expiration_time is not an integer";
		goto out;
	}
	if (exp <= (int64_t)now + margin) {
		*why = "expired";
		goto out;
	}
	*success = 1;
	r = 0;
out:
	tb_json_free(j);
	return r;
}

/*
 * The output file (GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE) is a cache whose name another process
 * may have taken first: a symbolic link to a file that must not be overwritten, a FIFO that
 * would block open(2) until the library's timeout, a directory, or a file that another user
 * (or anyone in our group) can write and so fill with a token of their choosing. So it is
 * opened without following a link and without blocking, and used only when fstat(2) of the
 * open descriptor (not of the name, which could change in between) shows a regular file of
 * ours that nobody else may write. Anything else is left alone: not read, not replaced; the
 * helper then answers from the broker as if there were no output file, and says nothing
 * about it (standard error is closed for good reasons).
 */
#define OUTPUT_OPEN (O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
#define OUTPUT_TEMPLATE ".XXXXXX" /* mkstemp's suffix for the temporary file */

/*
 * Opens the output file for reading, if it may be used. 0 with *fd open (a usable file) or
 * -1 (nothing has that name: a new file may be saved there); TB_ERR_IO when the name is taken
 * by something that must be left alone.
 */
static int
open_output(const char *path, int *fd)
{
	struct stat st;
	int r = TB_ERR_IO;

	if ((*fd = open(path, OUTPUT_OPEN)) < 0) /* a symbolic link fails with ELOOP */
		return errno == ENOENT ? 0 : TB_ERR_IO;
	if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		goto out;
	r = 0;
out:
	if (r != 0) {
		close(*fd);
		*fd = -1;
	}
	return r;
}

/* Reads the output file into b (at most its cap); TB_ERR_IO when there is none to use. */
static int
read_output(const char *path, struct tb_buf *b)
{
	char chunk[4096];
	ssize_t n;
	int fd = -1, r = TB_ERR_IO;

	if (open_output(path, &fd) != 0 || fd < 0)
		goto out;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if ((r = tb_buf_add(b, chunk, (size_t)n)) != 0)
			goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	return r;
}

/*
 * Saves text as the output file atomically: a new file in the same directory (mkstemp opens it
 * with O_CREAT|O_EXCL, mode 0600), then rename(2), so a reader sees the old answer or the new
 * one, never half of one. Nothing is written when open_output refuses what has the name. Should
 * a link or FIFO take the name between that check and the rename, rename replaces it and never
 * writes through it; only someone who may write the directory can do that, and they could
 * replace the file anyway.
 */
static int
save_output(const char *path, const char *text, size_t len)
{
	struct tb_buf tmp;
	size_t done = 0;
	ssize_t n;
	int fd = -1, old, created = 0, closed, r;

	tb_buf_init(&tmp, strlen(path) + sizeof(OUTPUT_TEMPLATE));
	if ((r = open_output(path, &old)) != 0) /* not ours to replace */
		goto out;
	if (old >= 0)
		close(old);
	r = TB_ERR_IO;
	if (tb_buf_addf(&tmp, "%s" OUTPUT_TEMPLATE, path) != 0 || (fd = mkstemp(tmp.data)) < 0)
		goto out;
	created = 1;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fchmod(fd, S_IRUSR | S_IWUSR) != 0)
		goto out;
	while (done < len) {
		if ((n = write(fd, text + done, len - done)) < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		done += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto out;
	closed = close(fd);
	fd = -1;
	if (closed != 0 || rename(tmp.data, path) != 0)
		goto out;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (r != 0 && created)
		unlink(tmp.data);
	tb_buf_free(&tmp);
	return r;
}

static int
parse_seconds(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > BUDGET_MAX)
		return -1;
	*out = v;
	return 0;
}

/* The answer for a broker reply that is not a success: the broker's failure, or ours. */
static int
fail_from_reply(const struct tb_credreply *a, time_t now)
{
	struct tb_json *j = NULL;
	const char *why = NULL, *err, *desc;
	int success, r;

	if (a->body.len > 0 &&
	    check_response(a->body.data, a->body.len, now, 0, &success, &why) == 0 && !success) {
		/* the broker's own failure response: pass it on as it is */
		printf("%s%s", a->body.data, a->body.data[a->body.len - 1] == '\n' ? "" : "\n");
		fflush(stdout);
		return 1;
	}
	if (a->body.len > 0 && tb_json_parse(a->body.data, a->body.len, &j) == 0 &&
	    (err = tb_json_get_str(j, "error")) != NULL && *err != '\0') {
		/* the standard OAuth error form */
		desc = tb_json_get_str(j, "error_description");
		r = fail(err, "%s", desc != NULL && *desc != '\0' ? desc : err);
		tb_json_free(j);
		return r;
	}
	tb_json_free(j);
	if (a->status >= 200 && a->status <= 299)
		return fail(CODE_RESPONSE, "the broker's response is not a valid credential: %s",
		    why != NULL ? why : "not JSON");
	if (a->status == 502 || a->status == 503 || a->status == 504 || a->status == 429)
		return fail(CODE_UNAVAILABLE, "the broker answered HTTP %ld", a->status);
	return fail(CODE_RESPONSE, "the broker answered HTTP %ld without a JSON error", a->status);
}

/* Prints a credential response, with the newline the libraries do not need but people do. */
static void
print_response(const struct tb_buf *b)
{
	printf("%s%s", b->data, b->data[b->len - 1] == '\n' ? "" : "\n");
	fflush(stdout);
}

/*
 * Reads the command line into o. 0 to go on; otherwise *done is set and the result is the exit
 * status (--help, --version, or a bad option, already answered).
 */
static int
parse_args(int argc, char **argv, struct options *o, int *done)
{
	const struct tb_credopts conn = {&o->url, &o->cert, &o->key, &o->cacert};

	*done = 1;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = NULL;
		size_t nlen;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage();
			return 0;
		}
		if (strcmp(arg, "--version") == 0) {
			printf("%s %s\n", PROGRAM, PACKAGE_VERSION);
			return 0;
		}
		if (strncmp(arg, "--", 2) != 0)
			return fail(CODE_CONFIG, "unexpected argument %s (see --help)", arg);
		if (tb_credopt_split(argc, argv, &i, &nlen, &val) != 0)
			return fail(CODE_CONFIG, "%s needs a value (see --help)", arg);
#define IS(name) (nlen == strlen(name) && strncmp(arg, name, nlen) == 0)
		if (tb_credopts_take(&conn, arg, nlen, val))
			continue;
		if (IS("--timeout")) {
			if (parse_seconds(val, &o->budget) != 0)
				return fail(CODE_CONFIG,
				    "--timeout must be whole seconds from 1 to %d", BUDGET_MAX);
		} else
			return fail(
			    CODE_CONFIG, "unknown option %.*s (see --help)", (int)nlen, arg);
#undef IS
	}
	*done = 0;
	return 0;
}

/* Fills what the command line left out from the environment and checks it; 0 or exit 1. */
static int
settle_options(struct options *o)
{
	const struct tb_credopts conn = {&o->url, &o->cert, &o->key, &o->cacert};
	const char *why;

	if (tb_credopts_settle(&conn, &why) != 0)
		return fail(CODE_CONFIG, "%s", why);
	if (access(o->cert, R_OK) != 0)
		return fail(CODE_CONFIG, "cannot read the client certificate %s: %s", o->cert,
		    strerror(errno));
	if (o->cacert != NULL && access(o->cacert, R_OK) != 0)
		return fail(CODE_CONFIG, "cannot read the CA certificates %s: %s", o->cacert,
		    strerror(errno));
	return 0;
}

/* Prints the saved response when it is there, usable and good for a while yet: 1 when it did. */
static int
answer_from_output(const char *out_file)
{
	struct tb_buf cached;
	const char *why = NULL;
	int success, done = 0;

	tb_buf_init(&cached, RESPONSE_MAX);
	if (read_output(out_file, &cached) == 0 && cached.len > 0 &&
	    check_response(cached.data, cached.len, time(NULL), CACHE_MARGIN, &success, &why) ==
	        0 &&
	    success) {
		print_response(&cached);
		done = 1;
	}
	tb_buf_free(&cached);
	return done;
}

/* Answers from the last attempt (saving a success in out_file, if any); the exit status. */
static int
answer(const struct tb_credreply *a, const struct options *o, int tries, const char *out_file)
{
	const char *why = NULL;
	int success;

	if (a->refused != NULL)
		return fail(a->cc == CURLE_OUT_OF_MEMORY ? CODE_UNAVAILABLE : CODE_CONFIG,
		    "libcurl refused %s: %s", a->refused, curl_easy_strerror(a->cc));
	if (a->cc == CURLE_FILESIZE_EXCEEDED || a->cc == CURLE_WRITE_ERROR)
		return fail(CODE_RESPONSE, "the broker's response is larger than %d bytes",
		    TB_CREDCLIENT_REPLY_MAX);
	if (a->cc == CURLE_SSL_CERTPROBLEM || a->cc == CURLE_SSL_CACERT_BADFILE ||
	    a->cc == CURLE_PEER_FAILED_VERIFICATION || a->cc == CURLE_SSL_ISSUER_ERROR)
		/* a local file, or the broker's certificate: trying later will not help */
		return fail(CODE_CONFIG, "TLS with the broker at %s failed: %s", o->url,
		    a->err[0] != '\0' ? a->err : curl_easy_strerror(a->cc));
	if (a->cc != CURLE_OK)
		return fail(CODE_UNAVAILABLE, "could not reach the broker at %s (%d attempt%s): %s",
		    o->url, tries, tries == 1 ? "" : "s",
		    a->err[0] != '\0' ? a->err : curl_easy_strerror(a->cc));
	if (a->status != 200 || a->body.len == 0 ||
	    check_response(a->body.data, a->body.len, time(NULL), 0, &success, &why) != 0 ||
	    !success)
		return fail_from_reply(a, time(NULL));
	if (out_file != NULL) /* best effort: the answer stands without the cache */
		(void)save_output(out_file, a->body.data, a->body.len);
	print_response(&a->body);
	return 0;
}

int
main(int argc, char **argv)
{
	struct options o = {NULL, NULL, NULL, NULL, BUDGET_DEFAULT};
	struct tb_credclient c = {NULL, NULL, NULL, PROGRAM "/" PACKAGE_VERSION};
	struct tb_credpair *pair = NULL;
	struct tb_credreply a;
	const char *out_file;
	char why[512];
	CURL *curl = NULL;
	int done, r, tries;

	if (argc > 1 && strcmp(argv[1], "serve") == 0) /* the metadata server logs to stderr */
		return tb_credserve_main(argc - 1, argv + 1);
	/* nothing may ever reach standard error: the libraries would fail to parse our JSON */
	if (freopen("/dev/null", "w", stderr) == NULL)
		close(2);
	if ((r = parse_args(argc, argv, &o, &done)) != 0 || done || (r = settle_options(&o)) != 0)
		return r;

	/* a response saved earlier that is still good for a while answers without the broker */
	out_file = getenv("GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE");
	if (out_file != NULL && *out_file == '\0')
		out_file = NULL;
	if (out_file != NULL && answer_from_output(out_file))
		return 0;

	if (tb_credpair_load(o.cert, o.key, &pair, why, sizeof(why)) != 0)
		return fail(CODE_CONFIG, "%s", why);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (curl = curl_easy_init()) == NULL) {
		tb_credpair_free(pair);
		return fail(CODE_UNAVAILABLE, "libcurl could not start");
	}
	c.url = o.url;
	c.cacert = o.cacert;
	c.pair = pair;
	tb_credreply_init(&a);
	tries = tb_credclient_post(curl, &c, FORM, o.budget * 1000, &a);
	r = answer(&a, &o, tries, out_file);
	tb_credreply_free(&a);
	curl_easy_cleanup(curl);
	curl_global_cleanup();
	tb_credpair_free(pair);
	return r;
}
