/* credclient.h: the credential helper's requests to the broker: one POST, and retries. */
#ifndef TB_CREDCLIENT_H
#define TB_CREDCLIENT_H

#include <curl/curl.h>

#include "buf.h"
#include "credkey.h"

#define TB_CREDCLIENT_REPLY_MAX (64 * 1024) /* bytes accepted from the broker */
#define TB_CREDCLIENT_WAIT_MAX 120          /* seconds: the longest Retry-After honoured */

/* Where the broker is and how to reach it; all borrowed. */
struct tb_credclient {
	const char *url;                /* the token endpoint, https:// */
	const char *cacert;             /* CA certificates for the broker, or NULL */
	const struct tb_credpair *pair; /* the client certificate and key */
	const char *user_agent;
};

/* What one exchange with the broker gave. */
struct tb_credreply {
	CURLcode cc;
	long status;
	long retry_after;    /* seconds, at most TB_CREDCLIENT_WAIT_MAX; 0 when not said */
	const char *refused; /* the libcurl option or info that libcurl refused, if any */
	struct tb_buf body;  /* capped at TB_CREDCLIENT_REPLY_MAX */
	char err[CURL_ERROR_SIZE];
};

void tb_credreply_init(struct tb_credreply *a);
/* Frees the body (wiped: it may hold a token). */
void tb_credreply_free(struct tb_credreply *a);

/*
 * POSTs form (application/x-www-form-urlencoded, borrowed) to the broker with curl, again after
 * a 502, 503, 504, 429 or a network failure, with backoff (longer when the broker's Retry-After
 * asks for it), until an answer is final or budget_ms is spent. *a holds the last answer. Gives
 * the number of attempts.
 */
int tb_credclient_post(CURL *curl, const struct tb_credclient *c, const char *form, long budget_ms,
    struct tb_credreply *a);

/* Whether *a failed for a reason that may pass (busy broker, network): worth trying later. */
int tb_credreply_transient(const struct tb_credreply *a);

/* Where both modes' options --url, --cert, --key and --cacert go (borrowed from argv). */
struct tb_credopts {
	const char **url, **cert, **key, **cacert;
};

/*
 * The option at argv[*i], "--name VALUE" or "--name=VALUE" (then *i is past a separate value):
 * the length of its name into *nlen and its value into *val. -1 when the value is missing.
 */
int tb_credopt_split(int argc, char **argv, int *i, size_t *nlen, const char **val);

/* Stores val when arg (its name nlen long) is one of the options of o: 1, else 0. */
int tb_credopts_take(const struct tb_credopts *o, const char *arg, size_t nlen, const char *val);

/*
 * Fills what the command line left unset from TOKEN_BROKER_URL, _CERT, _KEY and _CACERT (an
 * empty variable is unset; the key defaults to the certificate's file) and checks the result:
 * an https:// URL by valid.c's rule and a certificate. 0, or -1 with *why (static, naming the
 * option and its variable).
 */
int tb_credopts_settle(const struct tb_credopts *o, const char **why);

#endif
