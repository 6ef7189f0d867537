/* fetch.h: token-broker --fetch-crls: the CRLs of CRL_URLS downloaded, verified, put in place. */
#ifndef TB_FETCH_H
#define TB_FETCH_H

#include <stddef.h>
#include <time.h>

#define TB_FETCH_SEGMENT_MAX 100 /* a URL's last path segment kept as the file name, in bytes */
#define TB_FETCH_NAME_MAX 128    /* a file name for a URL, with its NUL (a SHA-256 is 68) */
#define TB_FETCH_REDIRS_MAX 3    /* redirects followed (http and https only): CDNs use them */
#define TB_FETCH_LINE_MAX 8192   /* the report line for one URL */

/*
 * The file names under which the n URLs (each as tb_valid_url accepts it with TB_URL_PATH |
 * TB_URL_HTTP) are kept: the URL's last path segment when it is 1 to TB_FETCH_SEGMENT_MAX bytes
 * of [A-Za-z0-9._-] not starting with '.', and no other (different) URL of the n ends in the same
 * segment; else the lower-case hex SHA-256 of the URL followed by ".crl". The same URLs always
 * give the same names. Pure. 0, or TB_ERR_INVALID for a URL that is not valid (its name "").
 */
int tb_fetch_names(char *const *urls, size_t n, char (*names)[TB_FETCH_NAME_MAX]);

/*
 * The --fetch-crls command. Reads the settings it needs (CLIENT_CA_FILE, CRL_FILES, CRL_URLS,
 * UPSTREAM_TIMEOUT; the others are --check-config's business) from the environment; then for
 * each URL of CRL_URLS downloads it (libcurl, UPSTREAM_TIMEOUT, at most TB_CRL_FILE_MAX bytes,
 * HTTP status 200), verifies it against CLIENT_CA_FILE as crl.h verifies a CRL file, and, when it
 * is newer than the copy under its name (tb_fetch_names) in the first directory of CRL_FILES,
 * replaces that copy atomically (temporary dot file, fsync, mode 0644, rename). Writes one line
 * per URL, and one per problem with the settings, to standard error. now is the clock for
 * "current". 0 when every URL gave a current CRL (the copy in place counts when the download was
 * not newer); else the error of the first URL that did not (TB_ERR_CONFIG for the settings).
 */
int tb_fetch_crls(time_t now);

struct tb_config;
/* The directory --fetch-crls writes into: the first directory that CRL_FILES names, or NULL. */
const char *tb_fetch_dir(const struct tb_config *cfg);

#endif
