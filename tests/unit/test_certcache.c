/* test_certcache.c: unit tests of certcache.c: same answers as cert.c, bounds, the clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "certcache.h"
#include "err.h"
#include "fixture.h"
#include "tap.h"

#define NOW ((time_t)1795392000)      /* 2026-11-23T00:00:00Z, the tests' fixed clock */
#define VALID_TO ((time_t)4859740800) /* 2124-01-01T00:00:00Z, the fixtures' notAfter */
#define SPELLINGS 40                  /* distinct byte strings made of one certificate */

/* The certificate pem followed by k spaces (whitespace after the block is allowed): k-th spelling.
 */
static char *
spelling(const char *pem, size_t k)
{
	size_t n = strlen(pem);
	char *s = malloc(n + k + 1);

	if (s == NULL)
		return NULL;
	memcpy(s, pem, n);
	memset(s + n, ' ', k);
	s[n + k] = '\0';
	return s;
}

static int
same_identity(const struct tb_identity *a, const struct tb_identity *b)
{
	return strcmp(a->sha256, b->sha256) == 0 && strcmp(a->x5t_s256, b->x5t_s256) == 0 &&
	       strcmp(a->sha1, b->sha1) == 0 && strcmp(a->serial, b->serial) == 0 &&
	       strcmp(a->dns_san, b->dns_san) == 0 && strcmp(a->uri_san, b->uri_san) == 0 &&
	       strcmp(a->spiffe, b->spiffe) == 0 && strcmp(a->subject, b->subject) == 0 &&
	       a->ndns_sans == b->ndns_sans && a->nuri_sans == b->nuri_sans &&
	       a->not_before == b->not_before && a->not_after == b->not_after &&
	       a->issuer_der_len == b->issuer_der_len &&
	       memcmp(a->issuer_der, b->issuer_der, a->issuer_der_len) == 0 && a->cert != NULL &&
	       b->cert != NULL;
}

/* The cache answers what cert.c answers, and remembers only what it accepted. */
static void
test_same_answers(const char *dns)
{
	struct tb_certcache *c = NULL;
	struct tb_certcache_stats st;
	struct tb_identity *plain = NULL, *first = NULL, *second = NULL;
	char why[TB_WHY_MAX], why2[TB_WHY_MAX];
	const char *refused[] = {"ca.pem", "expired.pem", "future.pem", "two-certs.pem"};
	size_t i;

	ok(tb_certcache_new(8, TB_CERTCACHE_BYTES, &c) == 0, "a cache of 8 entries");
	ok(tb_cert_identity(dns, strlen(dns), NOW, &plain, why, sizeof(why)) == 0 &&
	        tb_certcache_identity(c, dns, strlen(dns), NOW, &first, why, sizeof(why)) == 0 &&
	        tb_certcache_identity(c, dns, strlen(dns), NOW, &second, why, sizeof(why)) == 0,
	    "dns.pem: accepted by cert.c, and twice by the cache");
	ok(plain && first && second && same_identity(plain, first) && same_identity(plain, second),
	    "every attribute is the same as cert.c's, the first time and from the cache");
	ok(first && second && first != second && first->sha256 == second->sha256,
	    "each call has its own identity; the second shares the first's data");
	tb_certcache_stats(c, &st);
	is_int((int)st.misses, 1, "one parse");
	is_int((int)st.hits, 1, "one answer from the cache");
	if (first != NULL && second != NULL) {
		first->client_id = strdup("one");
		second->client_id = strdup("two");
		ok(strcmp(first->client_id, "one") == 0, "client_id is each request's own");
	} else
		ok(0, "client_id is each request's own");
	tb_identity_free(first);
	tb_identity_free(second);
	tb_identity_free(plain);

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char *pem = fixture(refused[i], NULL);
		struct tb_identity *id = NULL;
		int r1, r2, r3;

		if (pem == NULL) {
			ok(0, "%s: fixture", refused[i]);
			continue;
		}
		r1 = tb_cert_identity(pem, strlen(pem), NOW, &id, why, sizeof(why));
		tb_identity_free(id);
		id = NULL;
		r2 = tb_certcache_identity(c, pem, strlen(pem), NOW, &id, why2, sizeof(why2));
		r3 = tb_certcache_identity(c, pem, strlen(pem), NOW, &id, why2, sizeof(why2));
		ok(r1 == TB_ERR_CLIENT && r2 == r1 && r3 == r1 && id == NULL &&
		        strcmp(why, why2) == 0,
		    "%s: refused as cert.c refuses it, with its reason, both times (%s)",
		    refused[i], why2);
		free(pem);
	}
	tb_certcache_stats(c, &st);
	is_int((int)st.entries, 1, "refusals are not remembered: one entry");
	is_int((int)st.misses, 1 + 2 * 4, "each refusal was parsed again");
	tb_certcache_free(c);
}

/* Validity is the clock's at each call, not at the parse. */
static void
test_clock(const char *dns)
{
	struct tb_certcache *c = NULL;
	struct tb_certcache_stats st;
	struct tb_identity *id = NULL;
	char why[TB_WHY_MAX] = "";

	ok(tb_certcache_new(8, TB_CERTCACHE_BYTES, &c) == 0, "a cache");
	ok(tb_certcache_identity(c, dns, strlen(dns), VALID_TO, &id, why, sizeof(why)) == 0,
	    "accepted at its last second of validity");
	tb_identity_free(id);
	id = NULL;
	is_int(tb_certcache_identity(c, dns, strlen(dns), VALID_TO + 1, &id, why, sizeof(why)),
	    TB_ERR_CLIENT, "from the cache one second later: refused (%s)", why);
	ok(id == NULL && strstr(why, "certificate expired at 2124-01-01T00:00:00Z") != NULL,
	    "with cert.c's reason");
	tb_certcache_stats(c, &st);
	is_int((int)st.entries, 0, "the expired entry is dropped");
	is_int(tb_certcache_identity(c, dns, strlen(dns), VALID_TO + 1, &id, why, sizeof(why)),
	    TB_ERR_CLIENT, "and the next call parses it again and refuses it");
	is_int(tb_certcache_identity(c, dns, strlen(dns), NOW, &id, why, sizeof(why)), 0,
	    "at a time it is valid again (a clock set back): accepted");
	tb_identity_free(id);
	id = NULL;
	is_int(
	    tb_certcache_identity(c, dns, strlen(dns), (time_t)1000000000, &id, why, sizeof(why)),
	    TB_ERR_CLIENT, "before its notBefore: refused from the cache");
	ok(strstr(why, "not yet valid") != NULL, "as not yet valid (%s)", why);
	tb_certcache_stats(c, &st);
	is_int((int)st.entries, 1, "a not-yet-valid entry stays: it will be valid");
	tb_certcache_free(c);
	ok(tb_certcache_identity(NULL, dns, strlen(dns), NOW, &id, why, sizeof(why)) == 0 &&
	        id != NULL,
	    "no cache: cert.c's own answer");
	tb_identity_free(id);
}

/* At most max_entries and about max_bytes; the least recently used goes first. */
static void
test_bounds(const char *dns)
{
	struct tb_certcache *c = NULL;
	struct tb_certcache_stats st;
	struct tb_identity *id = NULL, *kept = NULL;
	char *s[SPELLINGS];
	char why[TB_WHY_MAX] = "";
	size_t i, accepted = 0, one;
	int r;

	for (i = 0; i < SPELLINGS; i++)
		s[i] = spelling(dns, i);
	ok(tb_certcache_new(0, 1024, &c) == TB_ERR_INVALID && c == NULL, "0 entries is refused");
	ok(tb_certcache_new(4, TB_CERTCACHE_BYTES, &c) == 0, "a cache of 4 entries");
	for (i = 0; i < 6; i++) {
		r = tb_certcache_identity(c, s[i], strlen(s[i]), NOW, &id, why, sizeof(why));
		accepted += r == 0;
		if (i == 0)
			kept = id; /* held across the evictions, as a request would */
		else
			tb_identity_free(id);
		id = NULL;
		/* keep spelling 1 recently used: it must outlive older ones */
		if (i >= 2) {
			tb_certcache_identity(c, s[1], strlen(s[1]), NOW, &id, why, sizeof(why));
			tb_identity_free(id);
			id = NULL;
		}
	}
	tb_certcache_stats(c, &st);
	ok(accepted == 6 && st.entries == 4 && st.evictions == 2,
	    "6 spellings into 4 entries: 4 kept, 2 evicted (entries %zu, evictions %lu)",
	    st.entries, st.evictions);
	ok(kept != NULL && strlen(kept->sha256) == 43 && kept->cert != NULL,
	    "an identity a request holds outlives its entry's eviction");
	tb_identity_free(kept);
	one = st.misses;
	tb_certcache_identity(c, s[1], strlen(s[1]), NOW, &id, why, sizeof(why));
	tb_identity_free(id);
	id = NULL;
	tb_certcache_stats(c, &st);
	ok(st.misses == one, "the recently used spelling 1 is still there");
	tb_certcache_identity(c, s[0], strlen(s[0]), NOW, &id, why, sizeof(why));
	tb_identity_free(id);
	id = NULL;
	tb_certcache_stats(c, &st);
	ok(st.misses == one + 1, "the least recently used spelling 0 was evicted");
	tb_certcache_free(c);

	/* the memory bound: room for about two entries */
	ok(tb_certcache_new(1000, 1, &c) == 0, "a cache of 1 byte");
	ok(tb_certcache_identity(c, s[0], strlen(s[0]), NOW, &id, why, sizeof(why)) == 0,
	    "a certificate too big for it is still answered");
	tb_identity_free(id);
	id = NULL;
	tb_certcache_stats(c, &st);
	ok(st.entries == 0 && st.bytes == 0, "and not remembered");
	tb_certcache_free(c);
	ok(tb_certcache_new(1000, 64 * 1024, &c) == 0, "a cache of 64 KiB and 1000 entries");
	for (i = 0; i < SPELLINGS; i++) {
		tb_certcache_identity(c, s[i], strlen(s[i]), NOW, &id, why, sizeof(why));
		tb_identity_free(id);
		id = NULL;
	}
	tb_certcache_stats(c, &st);
	ok(st.bytes <= 64 * 1024 && st.entries > 0 && st.entries < SPELLINGS &&
	        st.evictions == SPELLINGS - st.entries,
	    "%d certificates into 64 KiB: %zu kept in %zu bytes, %lu evicted", SPELLINGS,
	    st.entries, st.bytes, st.evictions);
	tb_certcache_free(c);
	for (i = 0; i < SPELLINGS; i++)
		free(s[i]);
}

int
main(void)
{
	char *dns = fixture("dns.pem", NULL);

	if (dns == NULL) {
		printf("1..1\nnot ok 1 - tests/fixtures/dns.pem\n");
		return 1;
	}
	test_same_answers(dns);
	test_clock(dns);
	test_bounds(dns);
	free(dns);
	return done_testing();
}
