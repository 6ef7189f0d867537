/* credclient.c: the credential helper's requests to the broker (libcurl), with retries. */
/*
 * Both modes of token-broker-credential use it: the executable mode once a run, serve once a
 * refresh. The client certificate and key come from a tb_credpair (credkey.c), loaded once, so
 * a key in a TPM or HSM is used where it is and a renewed file is only read when serve says so.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "credclient.h"
#include "err.h"
#include "valid.h"

#define BACKOFF_FIRST_MS 500 /* the first wait before a retry; each next one doubles */
#define BACKOFF_MAX_MS 8000
#define RESET_RETRIES 2 /* retries after connections that broke once made */

void
tb_credreply_init(struct tb_credreply *a)
{
	memset(a, 0, sizeof(*a));
	tb_buf_init(&a->body, TB_CREDCLIENT_REPLY_MAX);
}

void
tb_credreply_free(struct tb_credreply *a)
{
	if (a->body.data != NULL)
		memset(a->body.data, 0, a->body.len);
	tb_buf_free(&a->body);
}

static long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static size_t
on_write(char *p, size_t size, size_t n, void *arg)
{
	struct tb_buf *b = arg;

	return tb_buf_add(b, p, size * n) == 0 ? size * n : 0;
}

/*
 * Sets one libcurl option in post_once(). An option libcurl refuses (a libcurl built without
 * https, out of memory) would leave the transfer other than the one this program means to make:
 * no protocol restriction, no timeout, no size cap. So the attempt ends there, naming the option.
 */
#define SETOPT(opt, val)                                                                           \
	do {                                                                                       \
		if ((a->cc = curl_easy_setopt(curl, opt, val)) != CURLE_OK) {                      \
			a->refused = #opt;                                                         \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)

/*
 * The broker's Retry-After in seconds, 0 when it did not say (or libcurl cannot tell: it is
 * only advice). libcurl passes on any value up to 2^63-1 s, which in milliseconds overflows a
 * long; no wait can be longer than a budget anyway, so the value is clamped to the longest.
 */
static long
retry_after(CURL *curl)
{
#if LIBCURL_VERSION_NUM >= 0x074200
	curl_off_t ra = 0;

	if (curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
		return ra > TB_CREDCLIENT_WAIT_MAX ? TB_CREDCLIENT_WAIT_MAX : (long)ra;
#else
	(void)curl;
#endif
	return 0;
}

/* One POST to the broker with the client certificate, within timeout_ms. */
static void
post_once(CURL *curl, const struct tb_credclient *c, const char *form, long timeout_ms,
    struct tb_credreply *a)
{
	struct curl_slist *h = NULL, *h2;

	if (a->body.data != NULL)
		memset(a->body.data, 0, a->body.len);
	tb_buf_reset(&a->body);
	a->status = 0;
	a->retry_after = 0;
	a->refused = NULL;
	a->err[0] = '\0';
	curl_easy_reset(curl); /* keeps the connection cache: the next refresh reuses it */
	if ((h2 = curl_slist_append(h, "Accept: application/json")) == NULL) {
		a->cc = CURLE_OUT_OF_MEMORY;
		a->refused = "a request header";
		goto out;
	}
	h = h2;
	SETOPT(CURLOPT_ERRORBUFFER, a->err);
	SETOPT(CURLOPT_URL, c->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(CURLOPT_PROTOCOLS_STR, "https");
#else
	SETOPT(CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
	/*
	 * HTTP/1.1: one request at a time needs no multiplexing, and a refresh minutes later on an
	 * HTTP/2 connection that the server has since dropped fails where HTTP/1.1 reconnects.
	 */
	SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_TIMEOUT_MS, timeout_ms);
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	if (tb_credpair_apply(curl, c->pair, &a->refused) != 0) {
		a->cc = CURLE_UNKNOWN_OPTION;
		if (a->refused == NULL)
			a->refused = "the client certificate";
		goto out;
	}
	if (c->cacert != NULL)
		SETOPT(CURLOPT_CAINFO, c->cacert);
	SETOPT(CURLOPT_POSTFIELDS, form);
	SETOPT(CURLOPT_HTTPHEADER, h);
	SETOPT(CURLOPT_USERAGENT, c->user_agent);
	SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)TB_CREDCLIENT_REPLY_MAX);
	SETOPT(CURLOPT_WRITEFUNCTION, on_write);
	SETOPT(CURLOPT_WRITEDATA, &a->body);
	if ((a->cc = curl_easy_perform(curl)) != CURLE_OK)
		goto out;
	if ((a->cc = curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->status)) != CURLE_OK) {
		a->refused = "CURLINFO_RESPONSE_CODE";
		goto out;
	}
	a->retry_after = retry_after(curl);
out:
	curl_slist_free_all(h);
}
#undef SETOPT

/*
 * How long to wait before the next attempt, in ms, with left ms of the budget to go: our own
 * delay, or the broker's Retry-After (at most TB_CREDCLIENT_WAIT_MAX s, so this cannot
 * overflow) when it is longer and leaves a second for the attempt. -1 when there is no time for
 * a wait and a try.
 */
static long
next_wait(long delay, long retry_after_s, long left)
{
	long wait = delay;

	if (retry_after_s > 0 && retry_after_s * 1000 > wait && retry_after_s * 1000 < left - 1000)
		wait = retry_after_s * 1000;
	return wait < left - 100 ? wait : -1;
}

/*
 * Whether trying again may help: the broker busy, or the network in the way. resets counts the
 * connections that broke after they were made: a server restarting does that once or twice,
 * but so does a TLS server refusing the client certificate, which no retry will change.
 */
static int
retryable(const struct tb_credreply *a, int *resets)
{
	if (a->refused != NULL) /* this libcurl will refuse it again */
		return 0;
	switch (a->cc) {
	case CURLE_OK:
		return a->status == 502 || a->status == 503 || a->status == 504 || a->status == 429;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT: return 1;
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
		/* a TLS alert is the server's refusal (of the certificate, say), not bad luck */
		if (strstr(a->err, "alert") != NULL)
			return 0;
		return ++*resets <= RESET_RETRIES;
	default: return 0;
	}
}

int
tb_credreply_transient(const struct tb_credreply *a)
{
	int resets = 0;

	return retryable(a, &resets);
}

int
tb_credclient_post(CURL *curl, const struct tb_credclient *c, const char *form, long budget_ms,
    struct tb_credreply *a)
{
	long deadline = mono_ms() + budget_ms, delay = BACKOFF_FIRST_MS, left, wait;
	int tries = 0, resets = 0;

	for (;;) {
		tries++;
		left = deadline - mono_ms();
		post_once(curl, c, form, left > 1 ? left : 1, a);
		if (!retryable(a, &resets))
			break;
		/* back off, longer when the broker asks for it and there is time for that */
		if ((wait = next_wait(delay, a->retry_after, deadline - mono_ms())) < 0)
			break;
		sleep_ms(wait);
		delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
	}
	return tries;
}

int
tb_credopt_split(int argc, char **argv, int *i, size_t *nlen, const char **val)
{
	const char *arg = argv[*i], *eq = strchr(arg, '=');

	*nlen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
	if (eq != NULL)
		*val = eq + 1;
	else if (*i + 1 < argc)
		*val = argv[++*i];
	else
		return -1;
	return 0;
}

int
tb_credopts_take(const struct tb_credopts *o, const char *arg, size_t nlen, const char *val)
{
	static const char *const names[] = {"--url", "--cert", "--key", "--cacert"};
	const char **slots[] = {o->url, o->cert, o->key, o->cacert};
	size_t k;

	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		if (nlen == strlen(names[k]) && strncmp(arg, names[k], nlen) == 0) {
			*slots[k] = val;
			return 1;
		}
	}
	return 0;
}

/* An option's value: the command line's, else its variable's; NULL when neither is set. */
static const char *
given_or_env(const char *given, const char *name)
{
	const char *v = given != NULL && *given != '\0' ? given : getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

int
tb_credopts_settle(const struct tb_credopts *o, const char **why)
{
	const char *bad;

	*o->url = given_or_env(*o->url, "TOKEN_BROKER_URL");
	*o->cert = given_or_env(*o->cert, "TOKEN_BROKER_CERT");
	*o->key = given_or_env(*o->key, "TOKEN_BROKER_KEY");
	*o->cacert = given_or_env(*o->cacert, "TOKEN_BROKER_CACERT");
	if (*o->key == NULL)
		*o->key = *o->cert; /* the key may sit in the certificate's file */
	if (*o->url == NULL || tb_valid_url(*o->url, TB_URL_PATH, NULL, &bad) != 0 ||
	    strncasecmp(*o->url, "https://", 8) != 0) {
		*why = "the broker URL (--url or TOKEN_BROKER_URL) must be an https:// URL";
		return -1;
	}
	if (*o->cert == NULL) {
		*why = "no client certificate (--cert or TOKEN_BROKER_CERT)";
		return -1;
	}
	return 0;
}
