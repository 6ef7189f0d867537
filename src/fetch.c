/* fetch.c: token-broker --fetch-crls: downloads, verifies and atomically replaces CRL files. */
#include "fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "curlso.h"
#include "crl.h"
#include "crypto.h"
#include "err.h"
#include "text.h"
#include "valid.h"

#ifdef PACKAGE_VERSION
#define USER_AGENT "token-broker/" PACKAGE_VERSION
#else
#define USER_AGENT "token-broker"
#endif

#define FILE_MODE 0644    /* the web server's user reads it; nobody else may change it (file.h) */
#define DESCRIBE_MAX 4096 /* what a report line says of the CRLs of one set */

/* libcurl's calls (curlso.h), opened when the command starts */
static const struct tb_curl_api *cu;

/* One run of the command: what every URL shares. */
struct fetch {
	const struct tb_cas *cas;
	const char *dir; /* the first directory of CRL_FILES */
	long timeout;
	time_t now;
	CURL *curl;
	struct tb_buf body; /* the download, capped at TB_CRL_FILE_MAX */
	int write_err;      /* what stopped the write callback: TB_ERR_LIMIT, TB_ERR_ALLOC */
	char curl_err[CURL_ERROR_SIZE];
};

/* ---- file names ------------------------------------------------------------------------- */

/* The last path segment of a valid URL, as [*seg, *seg + *len). */
static int
last_segment(const char *url, const char **seg, size_t *len)
{
	struct tb_url parts;
	const char *why, *path, *slash;

	if (tb_valid_url(url, TB_URL_PATH | TB_URL_HTTP, &parts, &why) != 0)
		return TB_ERR_INVALID;
	path = url + parts.path;
	slash = strrchr(path, '/');
	*seg = slash != NULL ? slash + 1 : path + strlen(path);
	*len = strlen(*seg);
	return 0;
}

/* Can a segment be a file name as it is: no '/', no leading '.', nothing a shell quotes? */
static int
plain_name(const char *seg, size_t len)
{
	size_t i;

	if (len == 0 || len > TB_FETCH_SEGMENT_MAX || seg[0] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		char c = seg[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		        c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static int
hash_name(const char *url, char name[TB_FETCH_NAME_MAX])
{
	unsigned char md[TB_SHA256_LEN];
	size_t i;

	if (tb_sha256(url, strlen(url), md) != 0)
		return TB_ERR_CRYPTO;
	for (i = 0; i < sizeof(md); i++)
		snprintf(name + 2 * i, 3, "%02x", md[i]);
	snprintf(name + 2 * sizeof(md), TB_FETCH_NAME_MAX - 2 * sizeof(md), ".crl");
	return 0;
}

/* Does another URL than urls[k] end in the same segment? (Two CAs' "crl.pem" must not clash.) */
static int
clashes(char *const *urls, size_t n, size_t k, const char *seg, size_t len)
{
	const char *other;
	size_t i, olen;

	for (i = 0; i < n; i++) {
		if (i == k || strcmp(urls[i], urls[k]) == 0 ||
		    last_segment(urls[i], &other, &olen) != 0)
			continue;
		if (olen == len && memcmp(other, seg, len) == 0)
			return 1;
	}
	return 0;
}

int
tb_fetch_names(char *const *urls, size_t n, char (*names)[TB_FETCH_NAME_MAX])
{
	const char *seg;
	size_t i, len;
	int r = 0, one;

	for (i = 0; i < n; i++) {
		names[i][0] = '\0';
		if (last_segment(urls[i], &seg, &len) != 0) {
			r = TB_ERR_INVALID;
			continue;
		}
		if (plain_name(seg, len) && !clashes(urls, n, i, seg, len))
			snprintf(names[i], TB_FETCH_NAME_MAX, "%.*s", (int)len, seg);
		else if ((one = hash_name(urls[i], names[i])) != 0)
			r = one;
	}
	return r;
}

/* ---- the download ------------------------------------------------------------------------ */

static size_t
on_write(char *p, size_t size, size_t n, void *arg)
{
	struct fetch *f = arg;
	int r;

	if ((r = tb_buf_add(&f->body, p, size * n)) != 0) {
		f->write_err = r;
		return 0; /* curl aborts the transfer: CURLE_WRITE_ERROR */
	}
	return size * n;
}

/* Why a transfer that was started did not end in a reply. */
static int
transfer_error(struct fetch *f, CURLcode cc, char *why, size_t whylen)
{
	if (cc == CURLE_OUT_OF_MEMORY ||
	    (cc == CURLE_WRITE_ERROR && f->write_err == TB_ERR_ALLOC)) {
		tb_whyf(why, whylen, "out of memory");
		return TB_ERR_ALLOC;
	}
	if (cc == CURLE_FILESIZE_EXCEEDED || (cc == CURLE_WRITE_ERROR && f->write_err != 0)) {
		tb_whyf(why, whylen,
		    "the body is larger than %d bytes (a CRL file's limit), abandoned",
		    TB_CRL_FILE_MAX);
		return TB_ERR_LIMIT;
	}
	/* refused, reset, timed out, unresolvable, a TLS peer that does not verify, a redirect to
	 * a scheme other than http or https */
	tb_whyf(why, whylen, "%s (%s)", cu->easy_strerror(cc),
	    f->curl_err[0] != '\0' ? f->curl_err : "no detail");
	return TB_ERR_UNAVAILABLE;
}

/* GETs url into f->body: 0 when the answer was 200 with a body, else an error and why. */
static int
download(struct fetch *f, const char *url, char *why, size_t whylen)
{
	struct tb_url parts;
	const char *bad;
	CURLcode cc = CURLE_OK;
	long status = 0;
	int r;

	tb_buf_free(&f->body);
	f->write_err = 0;
	f->curl_err[0] = '\0';
	cu->easy_reset(f->curl);
	if ((r = tb_valid_url(url, TB_URL_PATH | TB_URL_HTTP, &parts, &bad)) != 0) {
		tb_whyf(why, whylen, "%s", bad); /* config.c refused it already: not reached */
		return r;
	}
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if ((cc = cu->easy_setopt(f->curl, opt, val)) != CURLE_OK)                         \
			goto setopt_failed;                                                        \
	} while (0)
	SET(CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SET(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	/* a CRL is signed: a redirect to plain http (common for distribution points) loses nothing
	 */
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, (long)TB_FETCH_REDIRS_MAX);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT, f->timeout);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)TB_CRL_FILE_MAX);
	SET(CURLOPT_WRITEFUNCTION, on_write);
	SET(CURLOPT_WRITEDATA, f);
	SET(CURLOPT_ERRORBUFFER, f->curl_err);
	SET(CURLOPT_USERAGENT, USER_AGENT);
	SET(CURLOPT_HTTPGET, 1L);
	if (parts.loopback)
		SET(CURLOPT_NOPROXY, "*"); /* no proxy can reach this machine's loopback */
#undef SET
	if ((cc = cu->easy_perform(f->curl)) != CURLE_OK)
		return transfer_error(f, cc, why, whylen);
	if ((cc = cu->easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status)) != CURLE_OK)
		goto setopt_failed;
	if (status != 200) {
		tb_whyf(why, whylen, "HTTP status %ld", status);
		return TB_ERR_UPSTREAM;
	}
	if (f->body.len == 0) {
		tb_whyf(why, whylen, "the body is empty");
		return TB_ERR_INVALID;
	}
	return 0;
setopt_failed:
	/* this libcurl lacks something the download needs (https, say) */
	tb_whyf(why, whylen, "libcurl refused an option: %s", cu->easy_strerror(cc));
	return cc == CURLE_OUT_OF_MEMORY ? TB_ERR_ALLOC : TB_ERR_INTERNAL;
}

/* ---- the file in place ------------------------------------------------------------------- */

/*
 * Writes data as dir/name: a temporary file beside it (its name starts with '.', so the broker
 * never reads it half written), synced, then renamed over the old copy in one step.
 */
static int
write_atomic(const char *path, const char *dir, const char *name, const char *data, size_t len,
    char *why, size_t whylen)
{
	char tmp[PATH_MAX];
	size_t off = 0;
	ssize_t w;
	int fd = -1, dfd, r = TB_ERR_IO;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= sizeof(tmp)) {
		tb_whyf(why, whylen, "%s: the path is too long", dir);
		return TB_ERR_CONFIG;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		tb_whyf(
		    why, whylen, "cannot create a temporary file in %s: %s", dir, strerror(errno));
		return TB_ERR_IO;
	}
	if (fchmod(fd, FILE_MODE) != 0)
		goto failed;
	while (off < len) {
		if ((w = write(fd, data + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			goto failed;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto failed;
	w = close(fd);
	fd = -1;
	if (w != 0 || rename(tmp, path) != 0)
		goto failed;
	/* the rename is done; syncing the directory only makes it survive a crash, and a failure
	 * there leaves a good file in place that the next run checks again */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	r = 0;
	goto out;
failed:
	tb_whyf(why, whylen, "cannot write %s: %s", tmp, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	return r;
}

/*
 * The CRLs that the file at path holds now, into *old: NULL when there is no file, or when it
 * does not load (the broker refuses it too: a verified download replaces it; note says why).
 * TB_ERR_CONFIG when something other than a regular file is in the way.
 */
static int
load_in_place(const struct fetch *f, char *path, struct tb_crlset **old, char *note, size_t notelen)
{
	char *paths[1] = {path};
	struct stat st;

	*old = NULL;
	note[0] = '\0';
	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0; /* the first run for this URL */
	} else if (!S_ISREG(st.st_mode)) {
		tb_whyf(note, notelen, "%s is not a regular file", path);
		return TB_ERR_CONFIG;
	}
	if (tb_crlset_load(f->cas, paths, 1, old, note, notelen) != 0)
		*old = NULL; /* note holds the reason */
	return 0;
}

/* ---- reporting --------------------------------------------------------------------------- */

struct describe {
	char *out;
	size_t len, max;
	const char *name; /* the file or URL the set was read from, which crl.c adds to each line */
};

/* Keeps the lines about CRLs (not those about CAs without one), each without " (name)". */
static void
collect(void *arg, const char *line)
{
	struct describe *d = arg;
	size_t n = strlen(line), k = strlen(d->name);

	if (strncmp(line, "CRL of ", 7) != 0 || d->len >= d->max)
		return;
	if (n > k + 3 && line[n - 1] == ')' && memcmp(line + n - k - 1, d->name, k) == 0 &&
	    memcmp(line + n - k - 3, " (", 2) == 0)
		n -= k + 3;
	d->len += (size_t)snprintf(
	    d->out + d->len, d->max - d->len, "%s%.*s", d->len > 0 ? "; " : "", (int)n, line);
	if (d->len >= d->max)
		d->len = d->max;
}

/* What a set's CRLs are: "CRL of 'CN=..': thisUpdate .., nextUpdate .., N entries". */
static void
describe(
    const struct tb_crlset *set, const struct tb_cas *cas, const char *name, char out[DESCRIBE_MAX])
{
	struct describe d = {out, 0, DESCRIBE_MAX, name};

	out[0] = '\0';
	tb_crlset_describe(set, cas, collect, &d);
}

/* A reason from crl.c names the URL first; the report line has said it already. */
static const char *
after_url(const char *why, const char *url)
{
	size_t n = strlen(url);

	return strncmp(why, url, n) == 0 && strncmp(why + n, ": ", 2) == 0 ? why + n + 2 : why;
}

/* ---- one URL ----------------------------------------------------------------------------- */

/* Keeps a verified download when it is newer than the copy in place: the verdict into line. */
static int
replace(struct fetch *f, const char *url, char *path, const char *name,
    const struct tb_crlset *fresh, char *line, size_t linelen)
{
	struct tb_crlset *old = NULL;
	char note[TB_CRL_WHY_MAX], what[DESCRIBE_MAX], why[TB_CRL_WHY_MAX];
	int r, fresh_newer, old_newer;

	if ((r = load_in_place(f, path, &old, note, sizeof(note))) != 0) {
		tb_whyf(line, linelen, "%s: failed: %s", url, note);
		goto out;
	}
	fresh_newer = old == NULL || tb_crlset_newer(fresh, old);
	old_newer = old != NULL && tb_crlset_newer(old, fresh);
	if (fresh_newer && old_newer) {
		tb_whyf(line, linelen,
		    "%s: failed: newer than %s for one CA and older for another; left as it was",
		    url, path);
		r = TB_ERR_INVALID;
		goto out;
	}
	if (!fresh_newer) {
		describe(old, f->cas, path, what);
		r = tb_crlset_current(old, f->now) ? 0 : TB_ERR_INVALID;
		tb_whyf(line, linelen, "%s: %s: the download is %s than %s%s: %s", url,
		    r == 0 ? "already current" : "failed", old_newer ? "older" : "not newer", path,
		    r == 0 ? "" : ", which is out of date", what);
		goto out;
	}
	if ((r = write_atomic(path, f->dir, name, f->body.data, f->body.len, why, sizeof(why))) !=
	    0) {
		tb_whyf(line, linelen, "%s: failed: %s (%s left as it was)", url, why, path);
		goto out;
	}
	describe(fresh, f->cas, url, what);
	r = tb_crlset_current(fresh, f->now) ? 0 : TB_ERR_INVALID;
	/* a stale CRL newer than the copy in place is still written: it is the best there is */
	tb_whyf(line, linelen, "%s: %s %s%s%s%s%s: %s", url, r == 0 ? "updated" : "failed: wrote",
	    path, r == 0 ? "" : ", but it is out of date",
	    note[0] != '\0' ? " (replacing a copy that did not load: " : "", note,
	    note[0] != '\0' ? ")" : "", what);
out:
	tb_crlset_free(old);
	return r;
}

/* Downloads, verifies and keeps one URL's CRL; the verdict into line. */
static int
fetch_one(struct fetch *f, const char *url, const char *name, char *line, size_t linelen)
{
	struct tb_crlset *fresh = NULL;
	char path[PATH_MAX], why[TB_CRL_WHY_MAX];
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", f->dir, name) >= sizeof(path)) {
		tb_whyf(line, linelen, "%s: failed: the path in %s is too long", url, f->dir);
		return TB_ERR_CONFIG;
	}
	if ((r = download(f, url, why, sizeof(why))) != 0 ||
	    (r = tb_crlset_parse(
	         f->cas, f->body.data, f->body.len, url, &fresh, why, sizeof(why))) != 0) {
		tb_whyf(line, linelen, "%s: failed: %s (%s left as it was)", url,
		    after_url(why, url), path);
		goto out;
	}
	r = replace(f, url, path, name, fresh, line, linelen);
out:
	tb_buf_free(&f->body);
	tb_crlset_free(fresh);
	return r;
}

/* ---- the command ------------------------------------------------------------------------- */

/* Only the settings the command reads can stop it; the rest is --check-config's to report. */
static void
report(void *arg, int warning, const char *setting, const char *msg)
{
	static const char *const mine[] = {
	    "CLIENT_CA_FILE", "CRL_FILES", "CRL_URLS", "UPSTREAM_TIMEOUT"};
	int *errors = arg;
	size_t i;

	if (warning)
		return;
	for (i = 0; i < sizeof(mine) / sizeof(mine[0]); i++) {
		if (strcmp(setting, mine[i]) == 0) {
			fprintf(stderr, "token-broker: %s: %s\n", setting, msg);
			(*errors)++;
		}
	}
}

const char *
tb_fetch_dir(const struct tb_config *cfg)
{
	struct stat st;
	size_t i;

	for (i = 0; i < cfg->ncrl_files; i++)
		if (cfg->crl_files[i] != NULL && stat(cfg->crl_files[i], &st) == 0 &&
		    S_ISDIR(st.st_mode))
			return cfg->crl_files[i];
	return NULL;
}

/* The settings that every URL shares, or TB_ERR_CONFIG with the problem printed. */
static int
setup(const struct tb_config *cfg, struct fetch *f, struct tb_cas **cas)
{
	char why[TB_CRL_WHY_MAX];

	if (cfg->ncrl_urls == 0) {
		fprintf(
		    stderr, "token-broker: CRL_URLS: unset: --fetch-crls has nothing to fetch\n");
		return TB_ERR_CONFIG;
	}
	if (cfg->client_ca_file == NULL) { /* config.c requires it with CRL_URLS: not reached */
		fprintf(stderr, "token-broker: CLIENT_CA_FILE: unset\n");
		return TB_ERR_CONFIG;
	}
	if ((f->dir = tb_fetch_dir(cfg)) == NULL) {
		fprintf(stderr, "token-broker: CRL_FILES: names no directory (--fetch-crls writes "
		                "into the first directory it names)\n");
		return TB_ERR_CONFIG;
	}
	if (tb_cas_load(cfg->client_ca_file, cas, why, sizeof(why)) != 0) {
		fprintf(stderr, "token-broker: CLIENT_CA_FILE: %s\n", why);
		return TB_ERR_CONFIG;
	}
	f->cas = *cas;
	f->timeout = cfg->upstream_timeout;
	return 0;
}

/* Each URL in turn, one line each; the first failure's code, or 0. */
static int
fetch_all(const struct tb_config *cfg, struct fetch *f)
{
	char(*names)[TB_FETCH_NAME_MAX] = NULL;
	char *line = NULL;
	size_t i;
	int r = TB_ERR_ALLOC, one;

	if ((names = calloc(cfg->ncrl_urls, sizeof(*names))) == NULL ||
	    (line = malloc(TB_FETCH_LINE_MAX)) == NULL)
		goto out;
	(void)tb_fetch_names(cfg->crl_urls, cfg->ncrl_urls, names); /* the URLs are valid */
	r = 0;
	for (i = 0; i < cfg->ncrl_urls; i++) {
		if (names[i][0] == '\0') {
			one = TB_ERR_INVALID;
			tb_whyf(line, TB_FETCH_LINE_MAX, "%s: failed: not a usable URL",
			    cfg->crl_urls[i]);
		} else
			one = fetch_one(f, cfg->crl_urls[i], names[i], line, TB_FETCH_LINE_MAX);
		fprintf(stderr, "token-broker: CRL_URLS: %s\n", line);
		if (r == 0)
			r = one;
	}
out:
	if (r == TB_ERR_ALLOC && names == NULL)
		fprintf(stderr, "token-broker: out of memory\n");
	free(line);
	free(names);
	return r;
}

int
tb_fetch_crls(time_t now)
{
	struct tb_config *cfg = NULL;
	struct tb_cas *cas = NULL;
	struct fetch f;
	char why[TB_CRL_WHY_MAX];
	int errors = 0, r = TB_ERR_CONFIG;

	memset(&f, 0, sizeof(f));
	f.now = now;
	tb_buf_init(&f.body, TB_CRL_FILE_MAX);
	if (tb_config_load_partial(report, &errors, &cfg) == TB_ERR_ALLOC || cfg == NULL) {
		fprintf(stderr, "token-broker: out of memory\n");
		r = TB_ERR_ALLOC;
		goto out;
	}
	if (errors > 0 || (r = setup(cfg, &f, &cas)) != 0)
		goto out;
	r = TB_ERR_INTERNAL;
	if ((cu = tb_curl_open(why, sizeof(why))) == NULL) {
		fprintf(stderr, "token-broker: %s\n", why);
		goto out;
	}
	if ((f.curl = cu->easy_init()) == NULL) {
		fprintf(stderr, "token-broker: libcurl failed to initialise\n");
		goto out;
	}
	r = fetch_all(cfg, &f);
out:
	if (f.curl != NULL && cu != NULL) /* a handle comes from cu */
		cu->easy_cleanup(f.curl);
	tb_buf_free(&f.body);
	tb_cas_free(cas);
	tb_config_free(cfg);
	return r;
}
