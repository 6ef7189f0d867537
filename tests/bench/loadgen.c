/*
 * loadgen.c: the load generator of scripts/bench: CONNS kept-alive HTTPS/1.1 connections on
 * libcurl's multi interface, each sending one request after another for a duration (or a
 * count), with a client certificate and key parsed once at start; prints requests/s, latency
 * percentiles and the count of each status.
 *
 *   loadgen [-c CONNS] [-d SECONDS] [-w WARMUP] [-n COUNT] [-t TIMEOUT] [-C CAFILE]
 *           [-E CERT.pem] [-K KEY.pem] [-D BODY] [-r HOST:PORT:ADDR] [-F] URL
 *
 * -c connections (default 8); -d seconds to measure (default 5) after -w seconds of warm-up
 * (default 1, not counted: handshakes, process start); -n stops after COUNT measured requests
 * instead (or when -d runs out first); -t seconds one request may take (default 10); -D sends
 * a POST with BODY (form-encoded), else GET; -r pins a host name to an address (curl's
 * --resolve); -F makes a new connection, with a full TLS handshake (no session resumed),
 * for every request, to show what keep-alive saves. A request is measured when it starts after the
 * warm-up; the rate is measured requests over the time from the end of the warm-up to the last of
 * them finishing.
 *
 * Standard output: one line of key=value pairs (requests, seconds, rps, p50_ms, p99_ms,
 * max_ms, errors, connects, handshakes, status=CODE:COUNT,...) for scripts to read; standard
 * error: a sentence for people.
 * Exit status: 0 every answer was 2xx; 1 some were not (each counts as an error, the figures
 * are still printed); 2 a transfer failed (no server, TLS refused, timeout): the run stops at
 * once with curl's reason, since figures from a broken server mean nothing; 64 bad usage.
 *
 * The client identity: CURLOPT_SSL_CTX_FUNCTION hands the X509 and EVP_PKEY read at start to
 * each new connection's SSL_CTX (SSL_CTX_use_certificate/use_PrivateKey take a reference, no
 * parsing), so the client pays no PEM parsing per connection either; keep-alive makes a
 * connection, and a handshake, per CONNS only (plus whatever the server closes: lighttpd ends
 * a connection after server.max-keep-alive-requests). "handshakes" counts the connections
 * set up. HTTP/1.1 is forced: over HTTP/2 libcurl would multiplex every request on one
 * connection, which is not the load that CONNS means.
 */
#include <curl/curl.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define CONNS_DEFAULT 8
#define CONNS_MAX 1024
#define SECONDS_DEFAULT 5.0
#define WARMUP_DEFAULT 1.0
#define SECONDS_MAX 3600.0   /* bounds every run: a benchmark stops by itself */
#define TIMEOUT_DEFAULT 10.0 /* seconds one request may take */
#define CONNECT_TIMEOUT_MS 5000L
#define POLL_MS 100          /* the longest wait for activity between deadline checks */
#define STATUS_SLOTS 600     /* HTTP statuses 0..599 */
#define ERROR_SAMPLE_MAX 200 /* bytes of the first non-2xx body kept for the message */
#define CHAIN_MAX 8          /* certificates after the leaf in the client's PEM file */

/* Latency histogram: log-linear, HIST_SUB buckets per power of two of microseconds (under 1%
 * error at any size), fixed memory, so a long run costs nothing more than a short one. */
#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_OCTAVES 34 /* up to 2^40 us: far beyond any timeout */
#define HIST_BUCKETS ((size_t)(HIST_OCTAVES + 1) * HIST_SUB)

struct identity {
	X509 *cert;
	STACK_OF(X509) * chain;
	EVP_PKEY *key;
	long handshakes; /* SSL_CTXs handed the identity: one per connection set up */
};

struct conn {
	CURL *easy;
	double started; /* monotonic seconds when this request was added */
	int measured;   /* started after the warm-up */
	char sample[ERROR_SAMPLE_MAX + 1];
	size_t samplelen;
};

struct run {
	int conns;
	double seconds, warmup, timeout;
	long count; /* 0: by duration only */
	int fresh;  /* -F: a new connection and a full TLS handshake for every request */
	const char *url, *cafile, *certfile, *keyfile, *body, *resolve;
	struct identity id;
	/* results */
	uint64_t *hist;
	long status[STATUS_SLOTS];
	long requests, errors, started_measured, connects;
	long done; /* every finished request, warm-up included: the denominator of client_cpu */
	double t0, last_done;
	char error_sample[ERROR_SAMPLE_MAX + 1];
	int error_status;
	char transport[CURL_ERROR_SIZE + 128];
};

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static size_t
hist_index(uint64_t us)
{
	unsigned msb = 0;
	size_t idx;

	if (us < HIST_SUB)
		return (size_t)us;
	for (uint64_t v = us; v > 1; v >>= 1)
		msb++;
	idx = (size_t)(msb - HIST_SUB_BITS + 1) * HIST_SUB +
	      (size_t)((us >> (msb - HIST_SUB_BITS)) - HIST_SUB);
	return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* The middle of bucket IDX, in microseconds. */
static double
hist_value(size_t idx)
{
	unsigned shift;
	uint64_t low;

	if (idx < HIST_SUB)
		return (double)idx + 0.5;
	shift = (unsigned)(idx / HIST_SUB - 1);
	low = ((uint64_t)(idx % HIST_SUB) + HIST_SUB) << shift;
	return (double)low + (double)((uint64_t)1 << shift) / 2.0;
}

/* The latency (ms) below which a fraction P of the measured requests finished. */
static double
percentile_ms(const struct run *r, double p)
{
	uint64_t want, seen = 0;

	if (r->requests == 0)
		return 0.0;
	want = (uint64_t)(p * (double)r->requests + 0.999999);
	if (want < 1)
		want = 1;
	for (size_t i = 0; i < HIST_BUCKETS; i++) {
		seen += r->hist[i];
		if (seen >= want)
			return hist_value(i) / 1000.0;
	}
	return hist_value(HIST_BUCKETS - 1) / 1000.0;
}

static double
max_ms(const struct run *r)
{
	for (size_t i = HIST_BUCKETS; i > 0; i--)
		if (r->hist[i - 1] != 0)
			return hist_value(i - 1) / 1000.0;
	return 0.0;
}

static void
ossl_error(const char *what, const char *file)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	fprintf(stderr, "loadgen: %s %s: %s\n", what, file, e != 0 ? buf : strerror(errno));
}

/* Reads the client certificate (with any chain after it) and key once. 0 or -1. */
static int
identity_load(struct identity *id, const char *certfile, const char *keyfile)
{
	FILE *f = NULL;
	X509 *extra;
	int rc = -1;

	if ((f = fopen(certfile, "r")) == NULL ||
	    (id->cert = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
		ossl_error("cannot read the certificate", certfile);
		goto out;
	}
	if ((id->chain = sk_X509_new_null()) == NULL)
		goto out;
	while (sk_X509_num(id->chain) < CHAIN_MAX &&
	       (extra = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_push(id->chain, extra) <= 0) {
			X509_free(extra);
			goto out;
		}
	}
	ERR_clear_error(); /* the end of the file reads as an error */
	fclose(f);
	if ((f = fopen(keyfile, "r")) == NULL ||
	    (id->key = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL) {
		ossl_error("cannot read the key", keyfile);
		goto out;
	}
	if (X509_check_private_key(id->cert, id->key) != 1) {
		ossl_error("the key does not match the certificate in", certfile);
		goto out;
	}
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	return rc;
}

static void
identity_free(struct identity *id)
{
	X509_free(id->cert);
	sk_X509_pop_free(id->chain, X509_free);
	EVP_PKEY_free(id->key);
}

/* libcurl calls this for every new connection's SSL_CTX: the parsed identity, by reference. */
static CURLcode
ssl_ctx_cb(CURL *easy, void *sslctx, void *arg)
{
	struct identity *id = arg;
	SSL_CTX *ctx = sslctx;

	(void)easy;
	if (SSL_CTX_use_certificate(ctx, id->cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, id->key) != 1)
		return CURLE_SSL_CERTPROBLEM;
	for (int i = 0; i < sk_X509_num(id->chain); i++)
		if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(id->chain, i)) != 1)
			return CURLE_SSL_CERTPROBLEM;
	id->handshakes++;
	return CURLE_OK;
}

/* The body is thrown away; the first bytes of a non-2xx answer are kept to show why. */
static size_t
write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct conn *c = arg;
	size_t len = size * n, room = ERROR_SAMPLE_MAX - c->samplelen;

	if (room > 0) {
		size_t take = len < room ? len : room;

		memcpy(c->sample + c->samplelen, data, take);
		c->samplelen += take;
		c->sample[c->samplelen] = '\0';
	}
	return len;
}

static int
conn_setup(struct run *r, struct conn *c, struct curl_slist *resolve)
{
	CURL *e = curl_easy_init();

	if (e == NULL)
		return -1;
	c->easy = e;
	if (curl_easy_setopt(e, CURLOPT_URL, r->url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PRIVATE, c) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(r->timeout * 1000)) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, c) != CURLE_OK)
		return -1;
	/* -F: no connection kept and no TLS session resumed, so each request pays a full handshake
	 */
	if (r->fresh && (curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK ||
	                    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L) != CURLE_OK ||
	                    curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L) != CURLE_OK))
		return -1;
	if (r->cafile != NULL && curl_easy_setopt(e, CURLOPT_CAINFO, r->cafile) != CURLE_OK)
		return -1;
	if (r->id.cert != NULL &&
	    (curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb) != CURLE_OK ||
	        curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, &r->id) != CURLE_OK)) {
		fprintf(stderr, "loadgen: this libcurl cannot hand a parsed key to its TLS library "
		                "(CURLOPT_SSL_CTX_FUNCTION needs the OpenSSL backend)\n");
		return -1;
	}
	if (r->body != NULL &&
	    (curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body) != CURLE_OK ||
	        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body)) != CURLE_OK))
		return -1;
	if (resolve != NULL && curl_easy_setopt(e, CURLOPT_RESOLVE, resolve) != CURLE_OK)
		return -1;
	return 0;
}

/* Whether another request may start now, and whether it is measured. */
static int
may_start(struct run *r, double now, int *measured)
{
	if (now < r->t0) {
		*measured = 0;
		return 1;
	}
	if (now >= r->t0 + r->seconds || (r->count > 0 && r->started_measured >= r->count))
		return 0;
	*measured = 1;
	r->started_measured++;
	return 1;
}

static int
start(struct run *r, CURLM *multi, struct conn *c, double now)
{
	int measured;

	if (!may_start(r, now, &measured))
		return 0;
	c->started = now;
	c->measured = measured;
	c->samplelen = 0;
	c->sample[0] = '\0';
	return curl_multi_add_handle(multi, c->easy) == CURLM_OK ? 1 : -1;
}

/* One finished transfer: its figures, then the next request on the same handle. Returns the
 * change in the number of active handles (0 or -1), or -2 when the run must stop. */
static int
finished(struct run *r, CURLM *multi, CURLMsg *msg)
{
	struct conn *c = NULL;
	double now = now_s();
	long status = 0, connects = 0;
	int s;

	curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
	curl_multi_remove_handle(multi, msg->easy_handle);
	if (msg->data.result != CURLE_OK) {
		snprintf(r->transport, sizeof(r->transport), "%s: %s (curl error %d)", r->url,
		    curl_easy_strerror(msg->data.result), (int)msg->data.result);
		return -2;
	}
	r->done++;
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c->easy, CURLINFO_NUM_CONNECTS, &connects);
	r->connects += connects;
	if (c->measured) {
		uint64_t us = (uint64_t)((now - c->started) * 1e6);

		r->requests++;
		r->hist[hist_index(us)]++;
		r->status[status >= 0 && status < STATUS_SLOTS ? status : 0]++;
		if (status < 200 || status > 299) {
			r->errors++;
			if (r->error_status == 0) {
				r->error_status = (int)status;
				memcpy(r->error_sample, c->sample, c->samplelen + 1);
			}
		}
		if (now > r->last_done)
			r->last_done = now;
	}
	s = start(r, multi, c, now);
	return s < 0 ? -2 : s - 1;
}

/* Drives every connection until the duration or count is reached. 0, or -1 with r->transport. */
static int
drive(struct run *r, struct conn *conns)
{
	CURLM *multi = curl_multi_init();
	int active = 0, running = 0, left, rc = -1;
	CURLMsg *msg;

	if (multi == NULL)
		goto out;
	/* one connection per handle, kept between requests */
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)r->conns);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)r->conns);
	curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
	r->t0 = now_s() + r->warmup;
	for (int i = 0; i < r->conns; i++) {
		int s = start(r, multi, &conns[i], now_s());

		if (s < 0)
			goto out;
		active += s;
	}
	while (active > 0) {
		if (curl_multi_perform(multi, &running) != CURLM_OK)
			goto out;
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			int d;

			if (msg->msg != CURLMSG_DONE)
				continue;
			if ((d = finished(r, multi, msg)) == -2)
				goto out;
			active += d;
		}
		if (active > 0 && curl_multi_poll(multi, NULL, 0, POLL_MS, NULL) != CURLM_OK)
			goto out;
	}
	rc = 0;
out:
	if (multi != NULL) {
		for (int i = 0; i < r->conns; i++)
			if (conns[i].easy != NULL)
				curl_multi_remove_handle(multi, conns[i].easy);
		curl_multi_cleanup(multi);
	}
	if (rc != 0 && r->transport[0] == '\0')
		snprintf(r->transport, sizeof(r->transport), "%s: libcurl's multi interface failed",
		    r->url);
	return rc;
}

/* The generator's own CPU per request (user + system, warm-up included): it shares the
 * machine with the server, so a reader must know what it takes. */
static double
client_cpu_ms(const struct run *r)
{
	struct rusage ru;

	if (r->done == 0 || getrusage(RUSAGE_SELF, &ru) != 0)
		return 0.0;
	return ((double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6) *
	       1000.0 / (double)r->done;
}

static void
report(const struct run *r)
{
	double secs = r->last_done > r->t0 ? r->last_done - r->t0 : 0.0;
	double rps = secs > 0 ? (double)r->requests / secs : 0.0;
	const char *sep = "";

	printf("requests=%ld seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%ld "
	       "connects=%ld handshakes=%ld conns=%d client_cpu_ms=%.3f status=",
	    r->requests, secs, rps, percentile_ms(r, 0.50), percentile_ms(r, 0.99), max_ms(r),
	    r->errors, r->connects, r->id.handshakes, r->conns, client_cpu_ms(r));
	for (int s = 0; s < STATUS_SLOTS; s++) {
		if (r->status[s] != 0) {
			printf("%s%d:%ld", sep, s, r->status[s]);
			sep = ",";
		}
	}
	printf("\n");
	fprintf(stderr,
	    "loadgen: %ld requests in %.2f s over %d connections: %.0f/s, p50 %.2f ms, "
	    "p99 %.2f ms, %ld not 2xx\n",
	    r->requests, secs, r->conns, rps, percentile_ms(r, 0.50), percentile_ms(r, 0.99),
	    r->errors);
	if (r->errors > 0)
		fprintf(stderr, "loadgen: %ld of %ld answers were not 2xx; the first, %d: %s\n",
		    r->errors, r->requests, r->error_status, r->error_sample);
}

static int
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen [-c CONNS] [-d SECONDS] [-w WARMUP] [-n COUNT] [-t TIMEOUT] "
	    "[-C CAFILE] [-E CERT.pem] [-K KEY.pem] [-D BODY] [-r HOST:PORT:ADDR] [-F] URL\n");
	return 64;
}

/* A number in [lo, hi] from an option's text, or -1 (the caller names the option). */
static double
number(const char *text, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi)
		return -1;
	return v;
}

static int
parse(struct run *r, int argc, char **argv)
{
	int opt;
	double v;

	while ((opt = getopt(argc, argv, "c:d:w:n:t:C:E:K:D:r:F")) != -1) {
		switch (opt) {
		case 'c':
			if ((v = number(optarg, 1, CONNS_MAX)) < 0)
				return usage();
			r->conns = (int)v;
			break;
		case 'd':
			if ((v = number(optarg, 0.001, SECONDS_MAX)) < 0)
				return usage();
			r->seconds = v;
			break;
		case 'w':
			if ((v = number(optarg, 0, SECONDS_MAX)) < 0)
				return usage();
			r->warmup = v;
			break;
		case 'n':
			if ((v = number(optarg, 1, 1e12)) < 0)
				return usage();
			r->count = (long)v;
			break;
		case 't':
			if ((v = number(optarg, 0.001, SECONDS_MAX)) < 0)
				return usage();
			r->timeout = v;
			break;
		case 'C': r->cafile = optarg; break;
		case 'E': r->certfile = optarg; break;
		case 'K': r->keyfile = optarg; break;
		case 'D': r->body = optarg; break;
		case 'r': r->resolve = optarg; break;
		case 'F': r->fresh = 1; break;
		default: return usage();
		}
	}
	if (optind != argc - 1 || (r->certfile == NULL) != (r->keyfile == NULL))
		return usage();
	r->url = argv[optind];
	return 0;
}

int
main(int argc, char **argv)
{
	struct run r = {.conns = CONNS_DEFAULT,
	    .seconds = SECONDS_DEFAULT,
	    .warmup = WARMUP_DEFAULT,
	    .timeout = TIMEOUT_DEFAULT};
	struct conn *conns = NULL;
	struct curl_slist *resolve = NULL;
	int rc, curl_up = 0;

	if ((rc = parse(&r, argc, argv)) != 0)
		goto out;
	rc = 2;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "loadgen: libcurl did not initialise\n");
		goto out;
	}
	curl_up = 1;
	if (r.certfile != NULL && identity_load(&r.id, r.certfile, r.keyfile) != 0)
		goto out;
	if (r.resolve != NULL && (resolve = curl_slist_append(NULL, r.resolve)) == NULL)
		goto out;
	if ((r.hist = calloc(HIST_BUCKETS, sizeof(*r.hist))) == NULL ||
	    (conns = calloc((size_t)r.conns, sizeof(*conns))) == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		goto out;
	}
	for (int i = 0; i < r.conns; i++) {
		if (conn_setup(&r, &conns[i], resolve) != 0) {
			fprintf(stderr, "loadgen: cannot set up a libcurl handle\n");
			goto out;
		}
	}
	if (drive(&r, conns) != 0) {
		fprintf(stderr, "loadgen: stopped: %s\n", r.transport);
		goto out;
	}
	report(&r);
	rc = r.requests == 0 ? 2 : r.errors > 0 ? 1 : 0;
	if (r.requests == 0)
		fprintf(
		    stderr, "loadgen: no request was measured (is -d shorter than a request?)\n");
out:
	if (conns != NULL)
		for (int i = 0; i < r.conns; i++)
			curl_easy_cleanup(conns[i].easy);
	free(conns);
	free(r.hist);
	curl_slist_free_all(resolve);
	identity_free(&r.id);
	if (curl_up)
		curl_global_cleanup();
	return rc;
}
