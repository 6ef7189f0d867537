/*
 * test_token.c: the ID token's claim set, with an injected clock; every allocation failure while
 * building it is reported (malloc made to fail at each call in turn); the renderer it goes
 * through writes what json-c writes.
 */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "err.h"
#include "json.h"
#include "tap.h"
#include "token.h"

/*
 * ---- allocation failure injection ---------------------------------------------------------
 * The program replaces malloc, calloc, realloc and free with wrappers of glibc's own (glibc
 * supports replacing them; json-c's, OpenSSL's and libc's own calls then come here too). Once
 * armed with N, the Nth allocation fails; live counts the blocks held, to see leaks. The
 * sanitizers and valgrind bring their own allocator: a probe finds that, and the injection
 * tests are then skipped (valgrind checks the same code for leaks in the plain runs).
 */
#if defined(__SANITIZE_ADDRESS__)
#define NO_INJECTION 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define NO_INJECTION 1
#endif
#endif

#define INJECT_TRIES_MAX 10000 /* far more allocations than one claim set makes */

static long countdown; /* 0: nothing fails; else the allocation that fails, counting down */
static long live;      /* blocks allocated and not yet freed */
static long calls;     /* allocations attempted while armed */

#ifndef NO_INJECTION
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static int
fail_now(void)
{
	if (countdown == 0)
		return 0;
	calls++;
	return --countdown == 0;
}

void *
malloc(size_t n)
{
	void *p = fail_now() ? NULL : __libc_malloc(n);

	live += p != NULL;
	return p;
}

void *
calloc(size_t n, size_t size)
{
	void *p = fail_now() ? NULL : __libc_calloc(n, size);

	live += p != NULL;
	return p;
}

void *
realloc(void *old, size_t n)
{
	void *p = fail_now() ? NULL : __libc_realloc(old, n);

	if (old == NULL && p != NULL)
		live++;
	else if (old != NULL && p == NULL && n == 0)
		live--; /* glibc's realloc(p, 0) frees p */
	return p;
}

void
free(void *p)
{
	live -= p != NULL;
	__libc_free(p);
}
#endif

/* 1 when an armed countdown of 1 makes the next malloc fail, that is, the wrappers are used. */
static int
injection_works(void)
{
	void *(*volatile m)(size_t) = malloc; /* a call the compiler cannot drop */
	void *p;

	countdown = 1;
	p = m(16);
	countdown = 0;
	free(p);
	return p == NULL;
}

static const struct tb_identity sample = {
    .sha256 = "m97PuzECBhCm/I0kODCYy5q00uRkxM00DSGQ+Tl8DoM",
    .x5t_s256 = "m97PuzECBhCm_I0kODCYy5q00uRkxM00DSGQ-Tl8DoM",
    .sha1 = "",
    .serial = "00:c9:77:71:db:a8:b7:70:e1:b6:a7:3f:4c:91:80:42:72:77:b5:fd",
    .dns_san = "client.example.net",
    .uri_san = "",
    .spiffe = "",
    .subject = "CN=client.example.net",
    .client_id = "m97PuzECBhCm/I0kODCYy5q00uRkxM00DSGQ+Tl8DoM",
    .flow = "mtls-client-credentials",
};

static void
test_claims(void)
{
	struct tb_identity id = sample;
	struct tb_json *j = NULL, *client, *cnf, *amr;
	char *claims = NULL, *again = NULL;
	int64_t v;

	ok(tb_token_claims(&id, "https://token-service.example.net", "https://iam.googleapis.com/x",
	       1693358237, 300, &claims) == 0,
	    "renders claims");
	ok(tb_json_parse(claims, strlen(claims), &j) == 0, "they are JSON");
	is_str(tb_json_get_str(j, "iss"), "https://token-service.example.net", "iss");
	is_str(tb_json_get_str(j, "aud"), "https://iam.googleapis.com/x", "aud");
	is_str(tb_json_get_str(j, "sub"), id.client_id, "sub is the client id");
	is_str(tb_json_get_str(j, "client_id"), id.client_id, "client_id");
	ok(tb_json_get_int(j, "iat", &v) == 0 && v == 1693358237, "iat is the injected now");
	ok(tb_json_get_int(j, "exp", &v) == 0 && v == 1693358537, "exp is now + lifetime");
	ok(tb_json_get_str(j, "jti") != NULL && strlen(tb_json_get_str(j, "jti")) == 36,
	    "jti is a UUID");
	ok(tb_json_get_str(j, "jti")[14] == '4', "a version 4 UUID");
	amr = tb_json_get(j, "amr");
	ok(tb_json_len(amr) == 1 && strcmp(tb_json_str(tb_json_at(amr, 0)), id.flow) == 0,
	    "amr is [flow]");
	client = tb_json_get(j, "client");
	is_str(tb_json_get_str(client, "x5_spiffe"), "", "absent SPIFFE ID is \"\"");
	is_str(tb_json_get_str(client, "x5_dnssan"), "client.example.net", "x5_dnssan");
	is_str(tb_json_get_str(client, "x5_urisan"), "", "x5_urisan");
	is_str(tb_json_get_str(client, "x5_sha256"), id.sha256, "x5_sha256");
	is_str(tb_json_get_str(client, "x5_serial"), id.serial, "x5_serial");
	cnf = tb_json_get(j, "cnf");
	is_str(tb_json_get_str(cnf, "x5t#S256"), id.x5t_s256, "cnf.x5t#S256 (RFC 8705)");
	tb_token_claims(&id, "i", "a", 1, 1, &again);
	ok(again != NULL && strcmp(tb_json_get_str(j, "jti"), "") != 0 &&
	        strstr(again, tb_json_get_str(j, "jti")) == NULL,
	    "each token has its own jti");
	free(again);
	free(claims);
	tb_json_free(j);
}

/* A NULL among the inputs is refused: it would otherwise be JSON null, a claim gone. */
static void
test_null_inputs(void)
{
	struct tb_identity id = sample;
	char *claims = NULL;

	id.dns_san = NULL;
	is_int(tb_token_claims(&id, "i", "a", 1, 1, &claims), TB_ERR_INTERNAL,
	    "a NULL certificate attribute is refused, not turned into null");
	ok(claims == NULL, "and gives no claims");
	id = sample;
	id.client_id = NULL;
	is_int(tb_token_claims(&id, "i", "a", 1, 1, &claims), TB_ERR_INTERNAL,
	    "a NULL client_id is refused");
	id = sample;
	id.flow = NULL;
	is_int(tb_token_claims(&id, "i", "a", 1, 1, &claims), TB_ERR_INTERNAL,
	    "a NULL flow is refused");
	is_int(tb_token_claims(&sample, NULL, "a", 1, 1, &claims), TB_ERR_INTERNAL,
	    "a NULL issuer is refused");
	is_int(tb_token_claims(&sample, "i", NULL, 1, 1, &claims), TB_ERR_INTERNAL,
	    "a NULL audience is refused");
	ok(claims == NULL, "none gives claims");
}

/* s with the jti's value blanked, so that two claim sets can be compared. */
static void
blank_jti(char *s)
{
	char *p = strstr(s, "\"jti\":\"");

	if (p != NULL && strlen(p + 7) >= 36)
		memset(p + 7, 'x', 36);
}

/*
 * Fails the 1st, 2nd, ... allocation of tb_token_claims until one run allocates less than N
 * times: each failed run must give TB_ERR_ALLOC, no claims and no leak; the first whole run
 * must give exactly the claims of a run without failures.
 */
static void
test_allocation_failures(void)
{
	char *want = NULL, *got = NULL, first_bad[160] = "";
	long n, before, failures = 0, bad = 0, leaks = 0;
	int r = -1;

	if (!injection_works()) {
		ok(1, "# SKIP malloc is not ours to fail here (sanitizers, valgrind)");
		return;
	}
	/* the first call sets up OpenSSL's random generator; that is not the claims' doing */
	ok(tb_token_claims(&sample, "https://i.example", "aud", 1, 300, &want) == 0, "warm-up");
	free(want);
	want = NULL;
	tb_token_claims(&sample, "https://i.example", "aud", 1, 300, &want);
	for (n = 1; n < INJECT_TRIES_MAX; n++) {
		before = live;
		calls = 0;
		countdown = n;
		r = tb_token_claims(&sample, "https://i.example", "aud", 1, 300, &got);
		countdown = 0;
		if (calls < n) /* the Nth allocation never came: a run without failure */
			break;
		failures++;
		if ((r != TB_ERR_ALLOC || got != NULL) && bad++ == 0)
			snprintf(first_bad, sizeof(first_bad), "allocation %ld: %s, claims %s", n,
			    tb_err_str(r), got != NULL ? got : "NULL");
		free(got);
		got = NULL;
		if (live != before)
			leaks++;
	}
	ok(failures > 10, "allocations were made to fail (%ld of them)", failures);
	ok(bad == 0, "each failed allocation gives TB_ERR_ALLOC and no claims (%ld wrong) %s", bad,
	    first_bad);
	ok(leaks == 0, "nothing leaks when an allocation fails (%ld runs leaked)", leaks);
	ok(r == 0 && got != NULL && want != NULL, "with enough memory the claims are made");
	if (got != NULL && want != NULL) {
		blank_jti(got);
		blank_jti(want);
	}
	is_str(got, want, "and they are the same claims as without injection");
	free(got);
	free(want);
}

/* The renderer writes exactly what json-c's serializer writes, for every kind of value. */
static void
test_render_like_json_c(void)
{
	static const char doc[] =
	    "{\"s\":\"q\\\" b\\\\ /s \\b\\f\\n\\r\\t \\u0001\\u001f \\u007f \\u00e9 "
	    "\\ud83d\\ude00\",\"nul\":\"a\\u0000b\",\"i\":-12,\"big\":18446744073709551615,"
	    "\"d\":1.50,\"e\":2e-3,\"t\":true,\"f\":false,\"z\":null,\"o\":{},\"a\":[],"
	    "\"deep\":[[1,[2,{\"k\":[null]}]]],\"\":\"empty key\"}";
	struct tb_json *j = NULL, *o, *a, *inner;
	char *mine = NULL, *big;
	const char *theirs;
	int i;

	ok(tb_json_parse(doc, sizeof(doc) - 1, &j) == 0, "a document with every kind of value");
	ok(tb_json_render(j, &mine) == 0, "renders");
	theirs = json_object_to_json_string_ext(
	    (json_object *)j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	is_str(mine, theirs, "the same text as json-c's serializer");
	free(mine);
	tb_json_free(j);

	/* nesting past TB_JSON_DEPTH_MAX and text past TB_JSON_RENDER_MAX are refused */
	a = tb_json_array();
	for (i = 0; i <= TB_JSON_DEPTH_MAX; i++) {
		inner = tb_json_array();
		tb_json_append(inner, a);
		a = inner;
	}
	is_int(tb_json_render(a, &mine), TB_ERR_LIMIT, "nesting deeper than %d is refused",
	    TB_JSON_DEPTH_MAX);
	ok(mine == NULL, "and gives no text");
	tb_json_free(a);
	o = tb_json_object();
	big = malloc(TB_JSON_RENDER_MAX + 1);
	memset(big, 'a', TB_JSON_RENDER_MAX);
	big[TB_JSON_RENDER_MAX] = '\0';
	tb_json_set_str(o, "big", big);
	is_int(tb_json_render(o, &mine), TB_ERR_LIMIT, "text over %d bytes is refused",
	    TB_JSON_RENDER_MAX);
	free(big);
	tb_json_free(o);
}

int
main(void)
{
	test_claims();
	test_null_inputs();
	test_allocation_failures();
	test_render_like_json_c();
	return done_testing();
}
