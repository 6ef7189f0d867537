/* curlso.c: libcurl, opened the first time the broker needs it rather than at every start. */
#include "curlso.h"

#include <dlfcn.h>
#include <string.h>

#include "text.h"

/* Debian's libcurl4 (the OpenSSL flavour, whose headers libcurl4-openssl-dev installs). */
#define LIBCURL_SONAME "libcurl.so.4"

static struct tb_curl_api api;
static void *lib;
static int ready;

/* dlsym's object pointer into a function pointer: POSIX guarantees the representation. */
static int
bind_symbol(void *fp, size_t fpsize, const char *name, char *why, size_t whylen)
{
	void *sym = dlsym(lib, name);

	if (sym == NULL || fpsize != sizeof(sym)) {
		tb_whyf(why, whylen, "%s: no %s", LIBCURL_SONAME, name);
		return -1;
	}
	memcpy(fp, &sym, sizeof(sym));
	return 0;
}

#define BIND(field, name) bind_symbol(&api.field, sizeof(api.field), name, why, whylen)

const struct tb_curl_api *
tb_curl_open(char *why, size_t whylen)
{
	const char *err;

	if (ready)
		return &api;
	if (lib == NULL && (lib = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		err = dlerror();
		tb_whyf(why, whylen, "cannot open %s: %s", LIBCURL_SONAME, err ? err : "unknown");
		return NULL;
	}
	if (BIND(global_init, "curl_global_init") != 0 || BIND(easy_init, "curl_easy_init") != 0 ||
	    BIND(easy_cleanup, "curl_easy_cleanup") != 0 ||
	    BIND(easy_reset, "curl_easy_reset") != 0 ||
	    BIND(easy_setopt, "curl_easy_setopt") != 0 ||
	    BIND(easy_perform, "curl_easy_perform") != 0 ||
	    BIND(easy_getinfo, "curl_easy_getinfo") != 0 ||
	    BIND(easy_strerror, "curl_easy_strerror") != 0 ||
	    BIND(slist_append, "curl_slist_append") != 0 ||
	    BIND(slist_free_all, "curl_slist_free_all") != 0)
		return NULL;
	/* once for the process; never cleaned up, as libcurl is never closed */
	if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		tb_whyf(why, whylen, "%s: curl_global_init failed", LIBCURL_SONAME);
		return NULL;
	}
	ready = 1;
	return &api;
}
