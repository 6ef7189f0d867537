/* credserve.c: token-broker-credential serve, the GCE metadata server's paths from the broker. */
/*
 * Every Google client library, gcloud and Terraform look for the metadata server at
 * GCE_METADATA_HOST; pointed here, they get the broker's service-account access token and ID
 * tokens with no credential configuration file. libmicrohttpd parses HTTP (the only user of it:
 * this file); one thread a connection, so a request that waits on the broker holds no other.
 *
 * Tokens are cached. A request finds its token fresh (more than the refresh margin left) and is
 * answered at once, or it asks the broker, one exchange at a time (the fetch lock), and answers
 * with the new token, or, when the broker fails, with the old one while it is still valid; never
 * with an expired or empty one (503). The client certificate and key are loaded once
 * (credkey.c); a renewed pair on disk is loaded before the next exchange, and a pair that does
 * not load (a key that does not match) is refused with a log line while the old one stays.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "b64.h"
#include "buf.h"
#include "credclient.h"
#include "credkey.h"
#include "credserve.h"
#include "err.h"
#include "json.h"
#include "listen.h"
#include "log.h"
#include "text.h"
#include "valid.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define LISTEN_DEFAULT "127.0.0.1:8955"
#define MARGIN_DEFAULT 300     /* seconds: refresh at least this long before expiry */
#define MARGIN_MAX 3600        /* the longest --refresh-margin */
#define MIN_LEFT 10            /* seconds: a token with less left is not handed out */
#define FETCH_BUDGET_MS 10000  /* a request with no token to fall back on waits this long */
#define REFRESH_BUDGET_MS 2000 /* a refresh while the old token still serves: no long waits */
#define FAIL_BACKOFF_MS 5000   /* after a failed refresh, the old token serves this long alone */
#define PAIR_CHECK_MS 1000     /* the certificate and key files are looked at this often */
#define AUDIENCES_MAX 16       /* ID tokens cached: least recently used goes first */
#define CONNECTIONS_MAX 64     /* libmicrohttpd's connection limit */
#define CONNECTION_TIMEOUT 30  /* seconds a connection may idle */
#define EXPIRES_IN_MAX 86400   /* seconds: an access token said to live longer is a bad reply */
#define WHY_MAX 512
#define PROJECT_MAX (TB_PROJECT_ID_MAX + 1) /* room for a project id and its NUL */
#define SA_DOMAIN ".iam.gserviceaccount.com"

#define FLAVOR "Metadata-Flavor"
#define GOOGLE "Google"
#define BASE "/computeMetadata/v1/"
#define ACCOUNTS BASE "instance/service-accounts/"
#define CT_JSON "application/json" /* exactly: python google-auth 1.x compares the whole value */
#define CT_TEXT "application/text" /* what the metadata server sends for plain values */

struct settings {
	const char *listen, *url, *cert, *key, *cacert, *scope, *account, *project_id, *project_num;
	long margin;
	int allow_remote;
};

/* One cached token: the access token (audience NULL), or an ID token for one audience. */
struct entry {
	char *audience;       /* ID tokens: the key; NULL for the access token and free slots */
	char *token;          /* wiped when freed */
	time_t obtained;      /* wall clock, as the broker's expiry is */
	time_t expiry;        /* absolute */
	long attempt_ms;      /* monotonic end of the last exchange for it, 0 before the first */
	long failed_ms;       /* monotonic end of the last failed one, 0 when the last succeeded */
	unsigned fail_status; /* what to answer with no token: 503, or 403 when refused */
	char fail_text[256];  /* the broker's error, for the client (no secret) */
	long used_ms;         /* last use, for eviction */
	int in_use;           /* a slot of ids[] that holds an audience */
};

struct server {
	struct settings set;
	struct tb_credclient client;
	char *access_form;     /* grant_type=client_credentials&scope=...[&service_account=...] */
	pthread_mutex_t lock;  /* the cache: access, ids */
	pthread_mutex_t fetch; /* one exchange at a time: curl, pair, pair_*; taken before lock */
	CURL *curl;
	struct tb_credpair *pair;
	long pair_checked_ms;
	struct entry access;
	struct entry ids[AUDIENCES_MAX];
	char project_id[PROJECT_MAX];
};

/* What a request is answered with. */
struct answer {
	unsigned status;
	const char *ctype;
	char *body; /* malloc'd; wiped when it holds a token */
	int secret;
	long retry_after; /* seconds, 0 for none */
};

static long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
usage(void)
{
	printf("Usage: token-broker-credential serve [--listen ADDRESS:PORT] [--allow-remote]\n"
	       "         --url URL --cert FILE --key KEY [--cacert FILE] --scope SCOPE\n"
	       "         [--service-account EMAIL] [--project-id ID] [--project-number N]\n"
	       "         [--refresh-margin SECONDS]\n"
	       "\n"
	       "Serves the GCE metadata server's service-account paths on ADDRESS:PORT (default\n"
	       "%s) with tokens from token-broker, for Google's client libraries with\n"
	       "GCE_METADATA_HOST=ADDRESS:PORT. Every option also comes from the environment:\n"
	       "TOKEN_BROKER_LISTEN, _URL, _CERT, _KEY, _CACERT, _SCOPE, _SERVICE_ACCOUNT,\n"
	       "_PROJECT_ID, _PROJECT_NUMBER, _REFRESH_MARGIN (TOKEN_BROKER_ before each).\n"
	       "\n"
	       "  --listen ADDRESS:PORT  an IPv4 address or [IPv6]; a non-loopback one only with\n"
	       "                         --allow-remote (anyone who connects gets the tokens)\n"
	       "  --refresh-margin S     refresh a token when less than max(S, a quarter of its\n"
	       "                         lifetime) is left, but no sooner than a quarter of its\n"
	       "                         lifetime after it came (default %d)\n"
	       "\n"
	       "Logs JSON lines to standard error; stops on SIGTERM or SIGINT.\n",
	    LISTEN_DEFAULT, MARGIN_DEFAULT);
}

/* ---- settings ------------------------------------------------------------------------------ */

static int
parse_args(int argc, char **argv, struct settings *s, int *done)
{
	const struct tb_credopts conn = {&s->url, &s->cert, &s->key, &s->cacert};

	*done = 1;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = NULL;
		size_t nlen;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage();
			return 0;
		}
		if (strcmp(arg, "--version") == 0) {
			printf("token-broker-credential %s\n", PACKAGE_VERSION);
			return 0;
		}
		if (strcmp(arg, "--allow-remote") == 0) {
			s->allow_remote = 1;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0) {
			tb_log(TB_LOG_ERROR, "serve.config", NULL, "unexpected argument %s", arg);
			return 1;
		}
		if (tb_credopt_split(argc, argv, &i, &nlen, &val) != 0) {
			tb_log(TB_LOG_ERROR, "serve.config", NULL, "%s needs a value", arg);
			return 1;
		}
#define IS(name) (nlen == strlen(name) && strncmp(arg, name, nlen) == 0)
		if (tb_credopts_take(&conn, arg, nlen, val))
			continue;
		if (IS("--listen"))
			s->listen = val;
		else if (IS("--scope"))
			s->scope = val;
		else if (IS("--service-account"))
			s->account = val;
		else if (IS("--project-id"))
			s->project_id = val;
		else if (IS("--project-number"))
			s->project_num = val;
		else if (IS("--refresh-margin")) {
			if (tb_valid_decimal(val, 1, MARGIN_MAX, &s->margin) != 0) {
				tb_log(TB_LOG_ERROR, "serve.config", NULL,
				    "--refresh-margin must be whole seconds from 1 to %d",
				    MARGIN_MAX);
				return 1;
			}
		} else {
			tb_log(TB_LOG_ERROR, "serve.config", NULL,
			    "unknown option %.*s (see --help)", (int)nlen, arg);
			return 1;
		}
#undef IS
	}
	*done = 0;
	return 0;
}

/* An option's value from the environment when the command line did not give one. */
static const char *
from_env(const char *given, const char *name)
{
	const char *v;

	if (given != NULL)
		return given;
	v = getenv(name);
	return v != NULL && *v != '\0' ? v : NULL;
}

/* Fills the rest from the environment and checks every setting: 0, or 1 after a log line. */
static int
settle(struct settings *s, char project_id[PROJECT_MAX])
{
	const char *margin = getenv("TOKEN_BROKER_REFRESH_MARGIN"), *at, *why = NULL;
	long n;

	const struct tb_credopts conn = {&s->url, &s->cert, &s->key, &s->cacert};

	s->listen = from_env(s->listen, "TOKEN_BROKER_LISTEN");
	s->scope = from_env(s->scope, "TOKEN_BROKER_SCOPE");
	s->account = from_env(s->account, "TOKEN_BROKER_SERVICE_ACCOUNT");
	s->project_id = from_env(s->project_id, "TOKEN_BROKER_PROJECT_ID");
	s->project_num = from_env(s->project_num, "TOKEN_BROKER_PROJECT_NUMBER");
	if (s->listen == NULL)
		s->listen = LISTEN_DEFAULT;
	if (tb_credopts_settle(&conn, &why) == 0) { /* else why says what is wrong */
		if (s->margin == 0 && margin != NULL && *margin != '\0' &&
		    tb_valid_decimal(margin, 1, MARGIN_MAX, &s->margin) != 0)
			why = "TOKEN_BROKER_REFRESH_MARGIN must be whole seconds from 1 to 3600";
		else if (s->scope == NULL || !tb_valid_scope(s->scope))
			why =
			    "--scope (TOKEN_BROKER_SCOPE) must be a space-separated list of scopes";
		else if (s->account != NULL && !tb_valid_email(s->account))
			why = "--service-account (TOKEN_BROKER_SERVICE_ACCOUNT) is not an e-mail "
			      "address";
		else if (s->project_id != NULL && !tb_valid_project_id(s->project_id))
			why = "--project-id (TOKEN_BROKER_PROJECT_ID) is not a project id";
		else if (s->project_num != NULL &&
		         tb_valid_decimal(s->project_num, 1, LONG_MAX, &n) != 0)
			why = "--project-number (TOKEN_BROKER_PROJECT_NUMBER) is not a number";
	}
	if (why != NULL) {
		tb_log(TB_LOG_ERROR, "serve.config", NULL, "%s", why);
		return 1;
	}
	if (s->margin == 0)
		s->margin = MARGIN_DEFAULT;
	project_id[0] = '\0';
	if (s->project_id != NULL)
		snprintf(project_id, PROJECT_MAX, "%s", s->project_id);
	else if (s->account != NULL && (at = strchr(s->account, '@')) != NULL &&
	         strlen(at + 1) > strlen(SA_DOMAIN) &&
	         strcmp(at + 1 + strlen(at + 1) - strlen(SA_DOMAIN), SA_DOMAIN) == 0)
		/* NAME@PROJECT.iam.gserviceaccount.com: the account's project */
		snprintf(project_id, PROJECT_MAX, "%.*s", (int)(strlen(at + 1) - strlen(SA_DOMAIN)),
		    at + 1);
	return 0;
}

/*
 * The listening address: HOST:PORT by the broker's own --listen rule (listen.c), with a numeric
 * host (or localhost), into *ss. A non-loopback address needs allow_remote: whoever can connect
 * gets the tokens. 0, or TB_ERR_CONFIG with why.
 */
static int
parse_listen(
    const char *listen, int allow_remote, struct sockaddr_storage *ss, char *why, size_t whylen)
{
	struct tb_listen_addr a;
	struct addrinfo hints, *ai = NULL;
	int r = TB_ERR_CONFIG;

	if (tb_listen_parse(listen, 1, &a, why, whylen) != 0 || a.unix_socket) {
		tb_whyf(why, whylen,
		    "--listen must be ADDRESS:PORT with a numeric IPv4 address or a [bracketed] "
		    "IPv6 one");
		goto out;
	}
	if (!a.loopback && !allow_remote) {
		tb_whyf(why, whylen,
		    "--listen names a non-loopback address: every host that reaches it would get "
		    "the tokens; add --allow-remote if that is meant");
		goto out;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(strcmp(a.host, "localhost") == 0 ? "127.0.0.1" : a.host, a.port, &hints,
	        &ai) != 0 ||
	    ai == NULL || ai->ai_addrlen > sizeof(*ss)) {
		tb_whyf(why, whylen,
		    "--listen must be ADDRESS:PORT with a numeric IPv4 address or a [bracketed] "
		    "IPv6 one");
		goto out;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	r = 0;
out:
	if (ai != NULL)
		freeaddrinfo(ai);
	return r;
}

/* ---- the cache ------------------------------------------------------------------------------- */

static void
entry_clear_token(struct entry *e)
{
	tb_free_secret(e->token);
	e->token = NULL;
	e->expiry = e->obtained = 0;
}

static void
entry_free(struct entry *e)
{
	entry_clear_token(e);
	free(e->audience);
	memset(e, 0, sizeof(*e));
}

/*
 * How long before expiry a token is refreshed: max(margin, a quarter of its lifetime), but
 * never more than three quarters of it, so that a token lives a quarter of its life at least.
 */
static long
refresh_margin(const struct entry *e, long margin)
{
	long life = (long)(e->expiry - e->obtained), m = margin;

	if (life / 4 > m)
		m = life / 4;
	if (m > life * 3 / 4)
		m = life * 3 / 4;
	return m;
}

static int
fresh(const struct entry *e, time_t now, long margin)
{
	return e->token != NULL && e->expiry - now > refresh_margin(e, margin);
}

static int
servable(const struct entry *e, time_t now)
{
	return e->token != NULL && e->expiry - now > MIN_LEFT;
}

/* The cached entry for audience (NULL: the access token), or NULL. Under lock. */
static struct entry *
find(struct server *sv, const char *audience)
{
	if (audience == NULL)
		return &sv->access;
	for (size_t i = 0; i < AUDIENCES_MAX; i++)
		if (sv->ids[i].in_use && strcmp(sv->ids[i].audience, audience) == 0)
			return &sv->ids[i];
	return NULL;
}

/* find(), or a new slot for audience (the least recently used one). Under fetch and lock. */
static struct entry *
find_or_add(struct server *sv, const char *audience)
{
	struct entry *e, *old = &sv->ids[0];
	char *copy;

	if (audience == NULL)
		return &sv->access;
	if ((e = find(sv, audience)) != NULL)
		return e;
	for (size_t i = 0; i < AUDIENCES_MAX; i++) {
		if (!sv->ids[i].in_use) {
			old = &sv->ids[i];
			break;
		}
		if (sv->ids[i].used_ms < old->used_ms)
			old = &sv->ids[i];
	}
	if ((copy = tb_strdup(audience)) == NULL)
		return NULL;
	entry_free(old);
	old->audience = copy;
	old->in_use = 1;
	return old;
}

/*
 * Takes the token out of e into *token (a copy) and *expiry when it may be handed out: fresh,
 * or still valid and either refresh_anyway is 0 or a refresh failed moments ago. Under lock.
 */
static int
take(struct entry *e, time_t now, long now_ms, long margin, int refresh_anyway, char **token,
    time_t *expiry)
{
	int backoff = e->failed_ms != 0 && now_ms - e->failed_ms < FAIL_BACKOFF_MS;

	if (!(fresh(e, now, margin) || (servable(e, now) && (!refresh_anyway || backoff))))
		return 0;
	if ((*token = tb_strdup(e->token)) == NULL)
		return 0;
	*expiry = e->expiry;
	e->used_ms = now_ms;
	return 1;
}

/* ---- the broker ------------------------------------------------------------------------------ */

/* The exp claim of a JWT, without checking its signature (the broker just made it). */
static int
jwt_exp(const char *jwt, time_t *exp)
{
	const char *p = strchr(jwt, '.'), *q;
	unsigned char *claims = NULL;
	struct tb_json *j = NULL;
	size_t len;
	int64_t v;
	int r = TB_ERR_INVALID;

	if (p == NULL || (q = strchr(p + 1, '.')) == NULL)
		goto out;
	if (tb_b64_decode(p + 1, (size_t)(q - p - 1), TB_B64_URL, &claims, &len) != 0 ||
	    tb_json_parse((const char *)claims, len, &j) != 0 ||
	    tb_json_get_int(j, "exp", &v) != 0 || v <= 0)
		goto out;
	*exp = (time_t)v;
	r = 0;
out:
	tb_json_free(j);
	free(claims);
	return r;
}

/*
 * Reads the broker's 200 reply into a token and its expiry: the access token with expires_in,
 * or (audience) the ID token with its exp. 0, or TB_ERR_UPSTREAM with why.
 */
static int
read_reply(
    const struct tb_buf *body, int id, time_t now, char **token, time_t *expiry, const char **why)
{
	struct tb_json *j = NULL;
	const char *t;
	int64_t in;
	int r = TB_ERR_UPSTREAM;

	*why = "not a JSON object";
	if (body->len == 0 || tb_json_parse(body->data, body->len, &j) != 0 ||
	    !tb_json_is_object(j))
		goto out;
	*why = id ? "no id_token" : "no access_token";
	if ((t = tb_json_get_str(j, id ? "id_token" : "access_token")) == NULL || *t == '\0')
		goto out;
	if (id) {
		*why = "the id_token has no exp";
		if (jwt_exp(t, expiry) != 0)
			goto out;
	} else {
		*why = "expires_in is not a positive integer";
		if (tb_json_get_int(j, "expires_in", &in) != 0 || in <= 0 || in > EXPIRES_IN_MAX)
			goto out;
		*expiry = now + (time_t)in;
	}
	*why = "already expired";
	if (*expiry <= now)
		goto out;
	r = (*token = tb_strdup(t)) != NULL ? 0 : TB_ERR_ALLOC;
out:
	tb_json_free(j);
	return r;
}

/* The failure to hand on: 403 with the broker's error when it refused, else 503. */
static void
failure(const struct tb_credreply *a, const char *why, struct entry *e)
{
	struct tb_json *j = NULL;
	const char *err = NULL, *desc = NULL;

	e->fail_status = 503;
	if (a->cc != CURLE_OK) {
		snprintf(e->fail_text, sizeof(e->fail_text),
		    "the broker could not be reached: %.200s",
		    a->err[0] != '\0' ? a->err : curl_easy_strerror(a->cc));
		return;
	}
	if (a->body.len > 0 && tb_json_parse(a->body.data, a->body.len, &j) == 0) {
		err = tb_json_get_str(j, "error");
		desc = tb_json_get_str(j, "error_description");
	}
	if (a->status >= 400 && a->status < 500 && a->status != 429)
		e->fail_status = 403; /* a refusal: trying again will not change it */
	if (a->status == 200)
		snprintf(
		    e->fail_text, sizeof(e->fail_text), "the broker's reply is unusable: %s", why);
	else
		snprintf(e->fail_text, sizeof(e->fail_text), "the broker answered %ld%s%s%s%s",
		    a->status, err != NULL ? " " : "", err != NULL ? err : "",
		    desc != NULL ? ": " : "", desc != NULL ? desc : "");
	tb_json_free(j);
}

/*
 * Loads a renewed certificate and key before an exchange (at most once a PAIR_CHECK_MS). The
 * new pair gets a new curl handle: libcurl would reuse a TLS connection made with the old
 * certificate. A pair that does not load is refused with a log line and the old one kept.
 * Under fetch.
 */
static void
reload_pair(struct server *sv)
{
	struct tb_credpair *pair = NULL;
	char why[WHY_MAX], until[TB_TIME_TEXT_LEN];
	CURL *curl;
	long now = mono_ms();

	if (now - sv->pair_checked_ms < PAIR_CHECK_MS)
		return;
	sv->pair_checked_ms = now;
	if (!tb_credpair_changed(sv->pair)) /* a change is reported once: one refusal a change */
		return;
	if (tb_credpair_load(sv->set.cert, sv->set.key, &pair, why, sizeof(why)) != 0) {
		tb_log(TB_LOG_ERROR, "serve.credentials", NULL,
		    "the changed certificate or key is refused, the old pair stays in use: %s",
		    why);
		return;
	}
	if ((curl = curl_easy_init()) == NULL) {
		tb_credpair_free(pair);
		return; /* out of memory: try again later */
	}
	curl_easy_cleanup(sv->curl);
	sv->curl = curl;
	tb_credpair_free(sv->pair);
	sv->pair = pair;
	sv->client.pair = pair;
	tb_time_text(tb_credpair_not_after(pair), until);
	tb_log(TB_LOG_NOTICE, "serve.credentials", NULL,
	    "the renewed certificate and key are in use from this exchange on (valid until %s)",
	    until);
}

/* The form for an ID token for audience, new (caller frees). */
static char *
id_form(CURL *curl, const char *audience)
{
	struct tb_buf b;
	char *esc = curl_easy_escape(curl, audience, 0);

	tb_buf_init(&b, TB_AUDIENCE_MAX * 3 + 64);
	if (esc == NULL || tb_buf_addf(&b, "grant_type=client_credentials&audience=%s", esc) != 0) {
		curl_free(esc);
		tb_buf_free(&b);
		return NULL;
	}
	curl_free(esc);
	return tb_buf_detach(&b);
}

/*
 * One exchange with the broker for e (under fetch), stored in e (under lock). old_ok says the
 * old token still serves, so the exchange is kept short.
 */
static void
exchange(struct server *sv, struct entry *e, const char *audience, int old_ok)
{
	struct tb_credreply a;
	char *form = NULL, *token = NULL;
	const char *why = "out of memory";
	time_t now, expiry = 0;
	int tries = 0, r = TB_ERR_ALLOC;

	reload_pair(sv);
	tb_credreply_init(&a);
	form = audience != NULL ? id_form(sv->curl, audience) : sv->access_form;
	if (form != NULL)
		tries = tb_credclient_post(
		    sv->curl, &sv->client, form, old_ok ? REFRESH_BUDGET_MS : FETCH_BUDGET_MS, &a);
	now = time(NULL);
	if (form != NULL && a.cc == CURLE_OK && a.status == 200)
		r = read_reply(&a.body, audience != NULL, now, &token, &expiry, &why);
	pthread_mutex_lock(&sv->lock);
	e->attempt_ms = mono_ms();
	if (r == 0) {
		entry_clear_token(e);
		e->token = token;
		token = NULL; /* transferred */
		e->obtained = now;
		e->expiry = expiry;
		e->failed_ms = 0;
	} else {
		e->failed_ms = e->attempt_ms;
		failure(&a, why, e);
	}
	pthread_mutex_unlock(&sv->lock);
	if (r == 0)
		tb_log(TB_LOG_INFO, "serve.refresh", NULL, "%s from the broker, valid for %lld s",
		    audience != NULL ? "a new ID token" : "a new access token",
		    (long long)(expiry - now));
	else
		tb_log(old_ok ? TB_LOG_WARNING : TB_LOG_ERROR, "serve.refresh_failed", NULL,
		    "%s%s (%d attempt%s)%s",
		    audience != NULL ? "ID token: " : "access token: ", e->fail_text, tries,
		    tries == 1 ? "" : "s",
		    old_ok ? "; the old token serves while it is valid" : "");
	if (audience != NULL)
		free(form);
	tb_free_secret(token);
	tb_credreply_free(&a);
}

/*
 * The token for audience (NULL: the access token): from the cache, or from the broker. 0 with
 * *token (caller frees, wipes) and *expiry, or the HTTP status to answer and *text (static to
 * the entry: copied into text[256]).
 */
static unsigned
get_token(struct server *sv, const char *audience, char **token, time_t *expiry, char text[256])
{
	long start = mono_ms();
	struct entry *e;
	unsigned st = 503;
	int old_ok;

	*token = NULL;
	pthread_mutex_lock(&sv->lock);
	e = find(sv, audience);
	if (e != NULL && take(e, time(NULL), start, sv->set.margin, 1, token, expiry)) {
		/* fresh, or valid while a refresh failed moments ago */
		pthread_mutex_unlock(&sv->lock);
		return 0;
	}
	pthread_mutex_unlock(&sv->lock);

	pthread_mutex_lock(&sv->fetch);
	pthread_mutex_lock(&sv->lock);
	e = find_or_add(sv, audience);
	old_ok = e != NULL && servable(e, time(NULL));
	/* another request's exchange ended while this one waited: its outcome stands */
	if (e != NULL && e->attempt_ms < start) {
		pthread_mutex_unlock(&sv->lock);
		exchange(sv, e, audience, old_ok);
		pthread_mutex_lock(&sv->lock);
	}
	if (e != NULL && take(e, time(NULL), mono_ms(), sv->set.margin, 0, token, expiry))
		st = 0;
	else if (e != NULL) {
		st = e->fail_status != 0 ? e->fail_status : 503;
		snprintf(text, 256, "%s", e->fail_text[0] != '\0' ? e->fail_text : "no token");
	} else
		snprintf(text, 256, "out of memory");
	pthread_mutex_unlock(&sv->lock);
	pthread_mutex_unlock(&sv->fetch);
	return st;
}

/* ---- the metadata server's paths ------------------------------------------------------------- */

static int
set_answer(struct answer *an, unsigned status, const char *ctype, const char *text)
{
	an->status = status;
	an->ctype = ctype;
	an->secret = 0;
	free(an->body);
	an->body = tb_strdup(text);
	return an->body != NULL ? 0 : TB_ERR_ALLOC;
}

static const char *
email(const struct server *sv)
{
	return sv->set.account != NULL ? sv->set.account : "default";
}

/* {"aliases": ["default"], "email": ..., "scopes": [...]}, as the metadata server describes one */
static struct tb_json *
account_json(const struct server *sv)
{
	struct tb_json *o = tb_json_object(), *aliases = tb_json_array(), *scopes = tb_json_array();
	const char *p = sv->set.scope, *sp;
	char one[TB_SCOPE_MAX + 1];
	int r = TB_ERR_ALLOC;

	if (o == NULL || aliases == NULL || scopes == NULL ||
	    tb_json_append_str(aliases, "default"))
		goto out;
	for (; *p != '\0'; p = *sp != '\0' ? sp + 1 : sp) {
		sp = strchr(p, ' ');
		if (sp == NULL)
			sp = p + strlen(p);
		snprintf(one, sizeof(one), "%.*s", (int)(sp - p), p);
		if (tb_json_append_str(scopes, one) != 0)
			goto out;
	}
	if (tb_json_set(o, "aliases", aliases) != 0)
		goto out;
	aliases = NULL; /* transferred */
	if (tb_json_set_str(o, "email", email(sv)) != 0 || tb_json_set(o, "scopes", scopes) != 0)
		goto out;
	scopes = NULL;
	r = 0;
out:
	tb_json_free(aliases);
	tb_json_free(scopes);
	if (r != 0) {
		tb_json_free(o);
		o = NULL;
	}
	return o;
}

/* .../service-accounts/?recursive=true (all: {"default": {...}, EMAIL: {...}}) or one account */
static int
answer_recursive(const struct server *sv, int all, struct answer *an)
{
	struct tb_json *one = account_json(sv), *two = NULL, *o = NULL;
	char *text = NULL;
	int r = TB_ERR_ALLOC;

	if (one == NULL)
		goto out;
	if (all) {
		if ((o = tb_json_object()) == NULL || (two = account_json(sv)) == NULL ||
		    tb_json_set(o, "default", one) != 0)
			goto out;
		one = NULL; /* transferred */
		if (sv->set.account != NULL && tb_json_set(o, sv->set.account, two) != 0)
			goto out;
		if (sv->set.account != NULL)
			two = NULL;
	} else {
		o = one;
		one = NULL;
	}
	if ((r = tb_json_render(o, &text)) != 0)
		goto out;
	an->status = 200;
	an->ctype = CT_JSON;
	free(an->body);
	an->body = text;
	text = NULL;
out:
	free(text);
	tb_json_free(one);
	tb_json_free(two);
	tb_json_free(o);
	return r;
}

/* The newline-separated scope list. */
static int
answer_scopes(const struct server *sv, struct answer *an)
{
	struct tb_buf b;
	int r;

	tb_buf_init(&b, TB_SCOPE_MAX + 2);
	if ((r = tb_buf_addstr(&b, sv->set.scope)) != 0 || (r = tb_buf_addstr(&b, "\n")) != 0) {
		tb_buf_free(&b);
		return r;
	}
	for (size_t i = 0; i < b.len; i++)
		if (b.data[i] == ' ')
			b.data[i] = '\n';
	an->status = 200;
	an->ctype = CT_TEXT;
	free(an->body);
	an->body = tb_buf_detach(&b);
	return 0;
}

/* The access token in the metadata server's shape, expires_in counting down; or a failure. */
static int
answer_token(struct server *sv, const char *audience, struct answer *an)
{
	char *token = NULL, text[256];
	struct tb_buf b;
	time_t expiry;
	unsigned st;
	int r;

	text[0] = '\0';
	if ((st = get_token(sv, audience, &token, &expiry, text)) != 0) {
		an->retry_after = st == 503 ? FAIL_BACKOFF_MS / 1000 : 0;
		return set_answer(an, st, "text/plain; charset=utf-8", text);
	}
	/* the token sits in b: a buffer of our own, wiped when the answer is freed */
	tb_buf_init(&b, strlen(token) + 128);
	if (audience != NULL)
		r = tb_buf_addstr(&b, token);
	else
		r = tb_buf_addf(&b,
		    "{\"access_token\":\"%s\",\"expires_in\":%lld,\"token_type\":\"Bearer\"}",
		    token, (long long)(expiry - time(NULL)));
	tb_free_secret(token);
	if (r != 0) {
		if (b.data != NULL)
			memset(b.data, 0, b.len);
		tb_buf_free(&b);
		return r;
	}
	an->status = 200;
	an->ctype = audience != NULL ? "text/html; charset=utf-8" : CT_JSON;
	free(an->body);
	an->body = tb_buf_detach(&b);
	an->secret = 1;
	return 0;
}

static const char *
query_arg(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
}

/* One service account's paths: what follows ACCOUNTS + "default" or the e-mail address. */
static int
answer_account(struct server *sv, struct MHD_Connection *conn, const char *rest, int recursive,
    struct answer *an)
{
	const char *aud;

	if (*rest == '\0' || strcmp(rest, "/") == 0)
		return recursive ? answer_recursive(sv, 0, an)
		                 : set_answer(an, 200, CT_TEXT,
		                       "aliases\nemail\nidentity\nscopes\ntoken\n");
	if (strcmp(rest, "/email") == 0)
		return set_answer(an, 200, CT_TEXT, email(sv));
	if (strcmp(rest, "/aliases") == 0)
		return set_answer(an, 200, CT_TEXT, "default\n");
	if (strcmp(rest, "/scopes") == 0)
		return answer_scopes(sv, an);
	if (strcmp(rest, "/token") == 0) /* ?scopes= is taken and ignored: --scope decides */
		return answer_token(sv, NULL, an);
	if (strcmp(rest, "/identity") == 0) {
		/* format=full, licenses=TRUE are taken: the token is the broker's, as it makes it
		 */
		aud = query_arg(conn, "audience");
		if (aud == NULL || *aud == '\0')
			return set_answer(an, 400, "text/plain; charset=utf-8",
			    "non-empty audience parameter required");
		if (!tb_valid_audience(aud))
			return set_answer(an, 400, "text/plain; charset=utf-8", "invalid audience");
		return answer_token(sv, aud, an);
	}
	return set_answer(an, 404, "text/html; charset=utf-8", "Not Found");
}

/* The answer for a GET of path. */
static int
route(struct server *sv, struct MHD_Connection *conn, const char *path, struct answer *an)
{
	const char *rec = query_arg(conn, "recursive"), *acct = NULL;
	int recursive = rec != NULL && strcasecmp(rec, "true") == 0;
	size_t n;

	if (strcmp(path, "/") == 0)
		return set_answer(an, 200, CT_TEXT, "computeMetadata/\n");
	if (strcmp(path, "/computeMetadata/") == 0 || strcmp(path, "/computeMetadata") == 0)
		return set_answer(an, 200, CT_TEXT, "v1/\n");
	if (strcmp(path, BASE) == 0 || strcmp(path, "/computeMetadata/v1") == 0)
		return set_answer(an, 200, CT_TEXT, "instance/\nproject/\n");
	/* google-auth-library's availability probe asks for .../instance */
	if (strcmp(path, BASE "instance") == 0 || strcmp(path, BASE "instance/") == 0)
		return set_answer(an, 200, CT_TEXT, "service-accounts/\n");
	if (strcmp(path, BASE "project") == 0 || strcmp(path, BASE "project/") == 0)
		return set_answer(an, 200, CT_TEXT, "numeric-project-id\nproject-id\n");
	if (strcmp(path, BASE "project/project-id") == 0 && sv->project_id[0] != '\0')
		return set_answer(an, 200, CT_TEXT, sv->project_id);
	if (strcmp(path, BASE "project/numeric-project-id") == 0 && sv->set.project_num != NULL)
		return set_answer(an, 200, CT_TEXT, sv->set.project_num);
	if (strcmp(path, ACCOUNTS) == 0 || strcmp(path, BASE "instance/service-accounts") == 0) {
		if (recursive)
			return answer_recursive(sv, 1, an);
		if (sv->set.account == NULL)
			return set_answer(an, 200, CT_TEXT, "default/\n");
		an->status = 200;
		an->ctype = CT_TEXT;
		free(an->body);
		n = strlen(sv->set.account) + sizeof("default/\n/\n");
		if ((an->body = malloc(n)) == NULL)
			return TB_ERR_ALLOC;
		snprintf(an->body, n, "default/\n%s/\n", sv->set.account);
		return 0;
	}
	if (strncmp(path, ACCOUNTS, strlen(ACCOUNTS)) == 0) {
		path += strlen(ACCOUNTS);
		if (strncmp(path, "default", 7) == 0 && (path[7] == '\0' || path[7] == '/'))
			acct = path + 7;
		else if (sv->set.account != NULL &&
		         strncmp(path, sv->set.account, strlen(sv->set.account)) == 0 &&
		         (path[strlen(sv->set.account)] == '\0' ||
		             path[strlen(sv->set.account)] == '/'))
			acct = path + strlen(sv->set.account);
		if (acct != NULL)
			return answer_account(sv, conn, acct, recursive, an);
	}
	return set_answer(an, 404, "text/html; charset=utf-8", "Not Found");
}

/*
 * 1 when the Host header names this machine without a DNS name that someone else controls: an
 * IP address, localhost, or the metadata server's own names. A web page could otherwise reach
 * us through DNS rebinding (a name of the page's that resolves to 127.0.0.1), and a page of the
 * same origin may send Metadata-Flavor.
 */
static int
host_ok(const char *host)
{
	static const char *const names[] = {"localhost", "metadata.google.internal", "metadata"};
	const char *colon;
	size_t n;

	if (host == NULL || !tb_valid_authority(host, strlen(host)))
		return 0;
	if (host[0] == '[')
		return 1;
	colon = strchr(host, ':');
	n = colon != NULL ? (size_t)(colon - host) : strlen(host);
	if (strspn(host, "0123456789.") >= n)
		return 1; /* dotted IPv4 (tb_valid_authority checked its shape) */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && strncasecmp(host, names[i], n) == 0)
			return 1;
	return 0;
}

static void
free_plain(void *p)
{
	free(p);
}

static void
free_wiped(void *p)
{
	tb_free_secret(p);
}

/* Sends an (with Metadata-Flavor: Google, as every answer of the metadata server carries). */
static enum MHD_Result
send_answer(struct MHD_Connection *conn, struct answer *an)
{
	struct MHD_Response *res;
	char ra[24];
	enum MHD_Result ok = MHD_NO;

	if (an->body == NULL && set_answer(an, 500, "text/plain", "out of memory") != 0)
		return MHD_NO;
	res = MHD_create_response_from_buffer_with_free_callback(
	    strlen(an->body), an->body, an->secret ? free_wiped : free_plain);
	if (res == NULL)
		return MHD_NO; /* an->body is still ours: the caller frees it */
	an->body = NULL;       /* transferred */
	if (MHD_add_response_header(res, FLAVOR, GOOGLE) == MHD_YES &&
	    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, an->ctype) == MHD_YES &&
	    MHD_add_response_header(res, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES &&
	    MHD_add_response_header(res, "X-Content-Type-Options", "nosniff") == MHD_YES) {
		snprintf(ra, sizeof(ra), "%ld", an->retry_after);
		if (an->retry_after <= 0 ||
		    MHD_add_response_header(res, MHD_HTTP_HEADER_RETRY_AFTER, ra) == MHD_YES)
			ok = MHD_queue_response(conn, an->status, res);
	}
	MHD_destroy_response(res);
	return ok;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct server *sv = cls;
	struct answer an = {0, NULL, NULL, 0, 0};
	const char *flavor = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, FLAVOR);
	enum MHD_Result ok;
	int r = 0;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	/* the real server's order: a proxied request, then the header, then the path */
	if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-For") != NULL) {
		tb_log(TB_LOG_NOTICE, "serve.refused", NULL,
		    "a request with X-Forwarded-For for %.200s", url);
		r = set_answer(&an, 403, "text/plain; charset=utf-8",
		    "Request had an X-Forwarded-For header: refused");
	} else if (flavor == NULL || strcmp(flavor, GOOGLE) != 0) {
		tb_log(TB_LOG_NOTICE, "serve.refused", NULL,
		    "a request without Metadata-Flavor: Google for %.200s", url);
		r = set_answer(&an, 403, "text/plain; charset=utf-8",
		    "Missing required header: Metadata-Flavor");
	} else if (!host_ok(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host"))) {
		tb_log(TB_LOG_NOTICE, "serve.refused", NULL,
		    "a request for a Host that is not an address or the metadata server's name");
		r = set_answer(&an, 403, "text/plain; charset=utf-8",
		    "Host must be an IP address, localhost or metadata.google.internal");
	} else if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	           strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		r = set_answer(&an, 405, "text/plain; charset=utf-8", "Method Not Allowed");
	else
		r = route(sv, conn, url, &an);
	if (r != 0)
		r = set_answer(&an, 500, "text/plain; charset=utf-8", "Internal Server Error");
	ok = r == 0 ? send_answer(conn, &an) : MHD_NO;
	if (an.secret)
		tb_free_secret(an.body);
	else
		free(an.body);
	return ok;
}

/* libmicrohttpd's own complaints, as log lines */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	tb_log(TB_LOG_WARNING, "serve.http", NULL, "%s", line);
}

/* ---- start and stop -------------------------------------------------------------------------- */

static int
make_access_form(struct server *sv)
{
	struct tb_buf b;
	char *scope = curl_easy_escape(sv->curl, sv->set.scope, 0), *sa = NULL;
	int r = TB_ERR_ALLOC;

	tb_buf_init(&b, TB_SCOPE_MAX * 3 + TB_EMAIL_MAX * 3 + 128);
	if (scope == NULL || (sv->set.account != NULL &&
	                         (sa = curl_easy_escape(sv->curl, sv->set.account, 0)) == NULL))
		goto out;
	if ((r = tb_buf_addf(&b, "grant_type=client_credentials&scope=%s", scope)) != 0 ||
	    (sa != NULL && (r = tb_buf_addf(&b, "&service_account=%s", sa)) != 0))
		goto out;
	sv->access_form = tb_buf_detach(&b);
	r = 0;
out:
	tb_buf_free(&b);
	curl_free(scope);
	curl_free(sa);
	return r;
}

static void
server_free(struct server *sv)
{
	entry_free(&sv->access);
	for (size_t i = 0; i < AUDIENCES_MAX; i++)
		entry_free(&sv->ids[i]);
	free(sv->access_form);
	if (sv->curl != NULL)
		curl_easy_cleanup(sv->curl);
	tb_credpair_free(sv->pair);
	pthread_mutex_destroy(&sv->lock);
	pthread_mutex_destroy(&sv->fetch);
}

/* Serves until a stop signal; 0, or 1 when the daemon could not start. */
static int
run(struct server *sv, const struct sockaddr_storage *ss)
{
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	sigset_t stop;
	int sig = 0;
	unsigned flags =
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;

	/* the stop signals go to sigwait below, not to a thread that libmicrohttpd starts */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (ss->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* the logger first: options before it would log to standard error in their own form */
	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, sv, MHD_OPTION_EXTERNAL_LOGGER,
	    on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)CONNECTION_TIMEOUT, MHD_OPTION_END);
	if (d == NULL) {
		tb_log(TB_LOG_ERROR, "serve.config", NULL, "cannot listen on %s: %s",
		    sv->set.listen, strerror(errno));
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	tb_log(TB_LOG_INFO, "serve.start", NULL,
	    "serving the metadata server's paths on %s (port %u) with tokens from %s",
	    sv->set.listen, info != NULL ? (unsigned)info->port : 0u, sv->set.url);
	while (sigwait(&stop, &sig) != 0)
		;
	MHD_stop_daemon(d);
	tb_log(TB_LOG_INFO, "serve.stop", NULL, "stopped by signal %d", sig);
	return 0;
}

int
tb_credserve_main(int argc, char **argv)
{
	struct server sv;
	struct sockaddr_storage ss;
	char text[WHY_MAX];
	int done, r;

	memset(&sv, 0, sizeof(sv));
	if (tb_log_open(NULL, NULL) != 0)
		return 1;
	if ((r = parse_args(argc, argv, &sv.set, &done)) != 0 || done)
		return r;
	if (settle(&sv.set, sv.project_id) != 0)
		return 1;
	memset(&ss, 0, sizeof(ss));
	if (parse_listen(sv.set.listen, sv.set.allow_remote, &ss, text, sizeof(text)) != 0) {
		tb_log(TB_LOG_ERROR, "serve.config", NULL, "%s", text);
		return 1;
	}
	if (tb_credpair_load(sv.set.cert, sv.set.key, &sv.pair, text, sizeof(text)) != 0) {
		tb_log(TB_LOG_ERROR, "serve.config", NULL, "%s", text);
		return 1;
	}
	pthread_mutex_init(&sv.lock, NULL);
	pthread_mutex_init(&sv.fetch, NULL);
	sv.client.url = sv.set.url;
	sv.client.cacert = sv.set.cacert;
	sv.client.pair = sv.pair;
	sv.client.user_agent = "token-broker-credential/" PACKAGE_VERSION " (serve)";
	r = 1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (sv.curl = curl_easy_init()) == NULL || make_access_form(&sv) != 0) {
		tb_log(TB_LOG_ERROR, "serve.config", NULL, "libcurl could not start");
		goto out;
	}
	r = run(&sv, &ss);
out:
	server_free(&sv);
	curl_global_cleanup();
	tb_log_close();
	return r;
}
