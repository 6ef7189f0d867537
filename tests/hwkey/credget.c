/* credget.c: one HTTPS POST presenting a tb_credpair (src/credkey.c), for the key-storage tests. */

/*
 * Usage: credget URL CERT KEY_REF CACERT [BODY]
 *
 * Loads the pair once, then POSTs BODY (default grant_type=client_credentials) to URL with it,
 * verifying the server against CACERT, and prints the answer's body on standard output. Exit
 * status: 0 for HTTP 200; 1 when the pair does not load (the reason, one line, on standard
 * error, after "credget: " and the error's name); 2 when the transfer fails; 3 for another
 * status. The test scripts compare the credential helper's behaviour with this, the smallest
 * client of the API.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credkey.h"
#include "err.h"

#define WHY_BYTES 4096
#define REPLY_MAX (64 * 1024)
#define TIMEOUT_S 30L

struct reply {
	char data[REPLY_MAX];
	size_t len;
};

static size_t
take(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;

	if (n != 0 && size > (REPLY_MAX - r->len) / n)
		return 0; /* over the cap: libcurl ends the transfer */
	memcpy(r->data + r->len, p, size * n);
	r->len += size * n;
	return size * n;
}

static int
post(const char *url, const struct tb_credpair *pair, const char *cacert, const char *body)
{
	static struct reply reply;
	char err[CURL_ERROR_SIZE] = "";
	const char *refused = NULL;
	long status = 0;
	CURLcode cc = CURLE_FAILED_INIT;
	CURL *curl;

	if ((curl = curl_easy_init()) == NULL)
		return 2;
	if (tb_credpair_apply(curl, pair, &refused) != 0) {
		fprintf(stderr, "credget: libcurl refused %s\n", refused);
		curl_easy_cleanup(curl);
		return 2;
	}
	if (curl_easy_setopt(curl, CURLOPT_URL, url) == CURLE_OK &&
	    curl_easy_setopt(curl, CURLOPT_CAINFO, cacert) == CURLE_OK &&
	    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body) == CURLE_OK &&
	    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, take) == CURLE_OK &&
	    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply) == CURLE_OK &&
	    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, err) == CURLE_OK &&
	    curl_easy_setopt(curl, CURLOPT_TIMEOUT, TIMEOUT_S) == CURLE_OK)
		cc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	if (cc != CURLE_OK) {
		fprintf(stderr, "credget: %s: %s\n", curl_easy_strerror(cc), err);
		return 2;
	}
	fwrite(reply.data, 1, reply.len, stdout);
	return status == 200 ? 0 : 3;
}

int
main(int argc, char **argv)
{
	struct tb_credpair *pair = NULL;
	char why[WHY_BYTES] = "";
	int r;

	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: credget URL CERT KEY_REF CACERT [BODY]\n");
		return 64;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 2;
	if ((r = tb_credpair_load(argv[2], argv[3], &pair, why, sizeof(why))) != 0) {
		fprintf(stderr, "credget: %s: %s\n", tb_err_str(r), why);
		r = 1;
	} else {
		r = post(
		    argv[1], pair, argv[4], argc == 6 ? argv[5] : "grant_type=client_credentials");
	}
	tb_credpair_free(pair);
	curl_global_cleanup();
	return r;
}
