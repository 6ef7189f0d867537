/* curlso.h: libcurl, opened the first time the broker needs it rather than at every start. */
#ifndef TB_CURLSO_H
#define TB_CURLSO_H

#include <curl/curl.h>
#include <stddef.h>

/*
 * The libcurl calls the broker makes (google.c, fetch.c). A broker with local keys that is
 * never asked for a scope never calls Google, and libcurl brings 25 libraries with it (GnuTLS,
 * Kerberos, LDAP, SSH, RTMP and more through Debian's libcurl4): opened at every start they
 * cost each CGI run their relocation and each FastCGI process their private pages. So the
 * broker is not linked with libcurl; it opens it (dlopen) at the first call that needs it.
 */
struct tb_curl_api {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *curl);
	void (*easy_reset)(CURL *curl);
	CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
	CURLcode (*easy_perform)(CURL *curl);
	CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode code);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
};

/*
 * libcurl's calls, with curl_global_init done: opened at the first call, the same table after
 * (the broker has one thread). NULL when libcurl cannot be opened, with why.
 */
const struct tb_curl_api *tb_curl_open(char *why, size_t whylen);

#endif
