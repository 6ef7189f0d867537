/* curlfault.c: an LD_PRELOAD library that makes chosen libcurl calls fail, for credential.sh. */
/*
 * libcurl refuses an option only when it is built without a feature or runs out of memory,
 * which a test cannot arrange; this library stands between the credential helper and libcurl
 * and refuses what it is told to, so the test sees what the helper does then.
 *
 *   TB_CURLFAULT_LOG=FILE               appends "setopt NAME" or "getinfo NAME" a call to FILE
 *   TB_CURLFAULT_SETOPT=CURLOPT_NAME    curl_easy_setopt of that option fails
 *   TB_CURLFAULT_GETINFO=CURLINFO_NAME  curl_easy_getinfo of that item fails
 *
 * with CURLE_UNKNOWN_OPTION (what a libcurl without the option says); every other call goes
 * to the real libcurl unchanged. NAME is the libcurl name when the table below knows it, else
 * the number, so credential.sh can log the calls the helper makes and then fail each in turn.
 * Built by credential.sh with the system compiler.
 */
#define _GNU_SOURCE            /* RTLD_NEXT */
#define CURL_DISABLE_TYPECHECK /* the type-checking macros would rename our definitions */
#include <curl/curl.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct name {
	const char *name;
	int value;
};

#define N(x)                                                                                       \
	{                                                                                          \
		.name = #x, .value = (int)(x)                                                      \
	}
/* every option and item that src/credential.c uses */
static const struct name setopts[] = {N(CURLOPT_ERRORBUFFER), N(CURLOPT_URL),
#if LIBCURL_VERSION_NUM >= 0x075500
    N(CURLOPT_PROTOCOLS_STR),
#else
    N(CURLOPT_PROTOCOLS),
#endif
    N(CURLOPT_FOLLOWLOCATION), N(CURLOPT_NOSIGNAL), N(CURLOPT_TIMEOUT_MS),
    N(CURLOPT_SSL_VERIFYPEER), N(CURLOPT_SSL_VERIFYHOST), N(CURLOPT_SSLCERT), N(CURLOPT_SSLKEY),
    N(CURLOPT_CAINFO), N(CURLOPT_POSTFIELDS), N(CURLOPT_HTTPHEADER), N(CURLOPT_USERAGENT),
    N(CURLOPT_MAXFILESIZE_LARGE), N(CURLOPT_WRITEFUNCTION), N(CURLOPT_WRITEDATA),
    N(CURLOPT_HTTP_VERSION), N(CURLOPT_SSL_CTX_FUNCTION), N(CURLOPT_SSL_CTX_DATA), {NULL, 0}};
static const struct name infos[] = {N(CURLINFO_RESPONSE_CODE),
#if LIBCURL_VERSION_NUM >= 0x074200
    N(CURLINFO_RETRY_AFTER),
#endif
    {NULL, 0}};
#undef N

/* The name of v in t, or its number (in buf). */
static const char *
name_of(const struct name *t, int v, char *buf, size_t len)
{
	for (; t->name != NULL; t++)
		if (t->value == v)
			return t->name;
	snprintf(buf, len, "%d", v);
	return buf;
}

/* Logs the call (kind, v) when asked to; whether the variable var names v, to make it fail. */
static int
chosen(const char *kind, const char *var, const struct name *t, int v)
{
	const char *log = getenv("TB_CURLFAULT_LOG"), *want = getenv(var), *name;
	char buf[32];
	FILE *f;

	name = name_of(t, v, buf, sizeof(buf));
	if (log != NULL && (f = fopen(log, "a")) != NULL) {
		fprintf(f, "%s %s\n", kind, name);
		fclose(f);
	}
	return want != NULL && strcmp(want, name) == 0;
}

CURLcode
curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
	CURLcode (*real)(CURL *, CURLoption, ...);
	CURLcode cc;
	va_list ap;

	if (chosen("setopt", "TB_CURLFAULT_SETOPT", setopts, (int)option))
		return CURLE_UNKNOWN_OPTION;
	*(void **)&real = dlsym(RTLD_NEXT, "curl_easy_setopt");
	if (real == NULL)
		return CURLE_FAILED_INIT;
	/* the argument's type follows from the option's number, as libcurl itself reads it */
	va_start(ap, option);
	/* NOLINTBEGIN(bugprone-branch-clone): va_arg's types differ (curl_off_t is long on LP64) */
	if (option < CURLOPTTYPE_OBJECTPOINT)
		cc = real(curl, option, va_arg(ap, long));
	else if (option >= CURLOPTTYPE_OFF_T && option < CURLOPTTYPE_BLOB)
		cc = real(curl, option, va_arg(ap, curl_off_t));
	else
		cc = real(curl, option, va_arg(ap, void *));
	/* NOLINTEND(bugprone-branch-clone) */
	va_end(ap);
	return cc;
}

CURLcode
curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
	CURLcode (*real)(CURL *, CURLINFO, ...);
	CURLcode cc;
	va_list ap;

	if (chosen("getinfo", "TB_CURLFAULT_GETINFO", infos, (int)info))
		return CURLE_UNKNOWN_OPTION;
	*(void **)&real = dlsym(RTLD_NEXT, "curl_easy_getinfo");
	if (real == NULL)
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	cc = real(curl, info, va_arg(ap, void *));
	va_end(ap);
	return cc;
}
