/* certcache.c: parsed client certificates, remembered by a digest of the exact bytes received. */
/*
 * Parsing a certificate is most of what a token costs without this (OpenSSL 3 decodes the
 * public key through its provider decoders on every d2i_X509), and a client sends the same
 * certificate on every request. An entry is keyed by SHA-256 over the SSL_CLIENT_CERT value
 * exactly as received, so two spellings of one certificate are two entries, and nothing about a
 * value is assumed from another. Entries are an LRU list in a chained hash table; the table is
 * sized once for the entry bound, so it never grows under load.
 */
#include "certcache.h"

#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "err.h"
#include "text.h"

/*
 * What an entry is counted as, beyond the lengths of its strings and DER copies: OpenSSL's X509
 * holds the decoded certificate (names, extensions, the public key) in about three times the DER
 * size plus a fixed part; measured with glibc's mallinfo2 over the test PKI's certificates, this
 * estimate is above the real figure for each of them.
 */
#define X509_COST(der_len) (4 * (der_len) + 4096)

struct entry {
	unsigned char key[TB_SHA256_LEN];
	struct tb_identity *id; /* the cache's reference */
	size_t cost;
	struct entry *next_in_bucket;
	struct entry *newer, *older; /* the LRU list */
};

struct tb_certcache {
	struct entry **buckets;
	size_t nbuckets; /* a power of two */
	struct entry *newest, *oldest;
	size_t max_entries, max_bytes;
	struct tb_certcache_stats stats;
	/*
	 * The entry the last call answered with, and the exact bytes it was asked for: a process
	 * behind a web server mostly sees one client's certificate after another of its own, and
	 * comparing the bytes costs far less than hashing them.
	 */
	struct entry *last;
	char *last_value;
	size_t last_len, last_cap;
};

int
tb_certcache_new(size_t max_entries, size_t max_bytes, struct tb_certcache **out)
{
	struct tb_certcache *c;
	size_t n = 16;

	*out = NULL;
	if (max_entries == 0 || max_entries > ((size_t)1 << 20))
		return TB_ERR_INVALID;
	while (n < 2 * max_entries)
		n *= 2;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return TB_ERR_ALLOC;
	if ((c->buckets = calloc(n, sizeof(struct entry *))) == NULL) {
		free(c);
		return TB_ERR_ALLOC;
	}
	c->nbuckets = n;
	c->max_entries = max_entries;
	c->max_bytes = max_bytes;
	*out = c;
	return 0;
}

static size_t
slen(const char *s)
{
	return s != NULL ? strlen(s) + 1 : 0;
}

/* What an identity is counted as (see X509_COST). */
static size_t
cost_of(const struct tb_identity *id)
{
	size_t n = sizeof(struct entry) + sizeof(*id), i;
	int der = id->cert != NULL ? i2d_X509(id->cert, NULL) : 0;

	n += slen(id->sha256) + slen(id->x5t_s256) + slen(id->sha1) + slen(id->serial) +
	     slen(id->dns_san) + slen(id->uri_san) + slen(id->spiffe) + slen(id->subject);
	n += id->subject_der_len + id->issuer_der_len + X509_COST((size_t)(der > 0 ? der : 0));
	for (i = 0; i < id->ndns_sans; i++)
		n += sizeof(char *) + slen(id->dns_sans[i]);
	for (i = 0; i < id->nuri_sans; i++)
		n += sizeof(char *) + slen(id->uri_sans[i]);
	return n;
}

static size_t
bucket_of(const struct tb_certcache *c, const unsigned char key[TB_SHA256_LEN])
{
	size_t h;

	memcpy(&h, key, sizeof(h)); /* a SHA-256 is as good a hash as any */
	return h & (c->nbuckets - 1);
}

static void
lru_unlink(struct tb_certcache *c, struct entry *e)
{
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void
lru_push(struct tb_certcache *c, struct entry *e)
{
	e->older = c->newest;
	e->newer = NULL;
	if (c->newest != NULL)
		c->newest->newer = e;
	c->newest = e;
	if (c->oldest == NULL)
		c->oldest = e;
}

static void
drop(struct tb_certcache *c, struct entry *e)
{
	struct entry **p = &c->buckets[bucket_of(c, e->key)];

	while (*p != e)
		p = &(*p)->next_in_bucket;
	*p = e->next_in_bucket;
	lru_unlink(c, e);
	if (c->last == e)
		c->last = NULL;
	c->stats.entries--;
	c->stats.bytes -= e->cost;
	tb_identity_free(e->id); /* a request's view may still hold it */
	free(e);
}

static struct entry *
find(struct tb_certcache *c, const unsigned char key[TB_SHA256_LEN])
{
	struct entry *e = c->buckets[bucket_of(c, key)];

	while (e != NULL && memcmp(e->key, key, TB_SHA256_LEN) != 0)
		e = e->next_in_bucket;
	return e;
}

/*
 * Remembers id (taking the caller's reference) under key, evicting the least recently used.
 * The new entry, or NULL when id is not remembered.
 */
static struct entry *
insert(struct tb_certcache *c, const unsigned char key[TB_SHA256_LEN], struct tb_identity *id)
{
	struct entry *e;
	size_t b, cost = cost_of(id);

	if (cost > c->max_bytes || (e = calloc(1, sizeof(*e))) == NULL) {
		tb_identity_free(id); /* not remembered: the request's view keeps what it needs */
		return NULL;
	}
	while (c->oldest != NULL &&
	       (c->stats.entries >= c->max_entries || c->stats.bytes + cost > c->max_bytes)) {
		/* drop unlinks the entry before freeing it: c->oldest is then the next one (the
		 * analyser does not follow the list through lru_unlink; ASan and valgrind do) */
		drop(c, c->oldest); // NOLINT(clang-analyzer-unix.Malloc)
		c->stats.evictions++;
	}
	memcpy(e->key, key, TB_SHA256_LEN);
	e->id = id;
	e->cost = cost;
	b = bucket_of(c, key);
	e->next_in_bucket = c->buckets[b];
	c->buckets[b] = e;
	lru_push(c, e);
	c->stats.entries++;
	c->stats.bytes += cost;
	return e;
}

/* Makes e the last entry answered, for value (len bytes); without memory, none is. */
static void
remember_last(struct tb_certcache *c, struct entry *e, const char *value, size_t len)
{
	char *p;

	c->last = NULL;
	if (len > c->last_cap) {
		if ((p = realloc(c->last_value, len)) == NULL)
			return;
		c->last_value = p;
		c->last_cap = len;
	}
	memcpy(c->last_value, value, len);
	c->last_len = len;
	c->last = e;
}

int
tb_certcache_identity(struct tb_certcache *c, const char *value, size_t len, time_t now,
    struct tb_identity **out, char *why, size_t whylen)
{
	unsigned char key[TB_SHA256_LEN];
	struct tb_identity *id = NULL, *view;
	struct entry *e;
	int r;

	*out = NULL;
	if (c == NULL || len > (size_t)TB_CERT_PEM_MAX)
		return tb_cert_identity(value, len, now, out, why, whylen);
	if (c->last != NULL && len == c->last_len && memcmp(value, c->last_value, len) == 0)
		e = c->last;
	else if (tb_sha256(value, len, key) != 0)
		return tb_cert_identity(value, len, now, out, why, whylen);
	else if ((e = find(c, key)) != NULL)
		remember_last(c, e, value, len);
	if (e != NULL) {
		c->stats.hits++;
		if ((r = tb_identity_check_validity(e->id, now, why, whylen)) != 0) {
			if (now > e->id->not_after)
				drop(c, e); /* expired for good: its memory is better used */
			return r;
		}
		lru_unlink(c, e);
		lru_push(c, e);
		id = e->id;
		if ((*out = tb_identity_view(id)) == NULL) {
			tb_whyf(why, whylen, "out of memory");
			return TB_ERR_ALLOC;
		}
		return 0;
	}
	c->stats.misses++;
	if ((r = tb_cert_identity(value, len, now, &id, why, whylen)) != 0)
		return r;
	if ((view = tb_identity_view(id)) == NULL) {
		tb_identity_free(id);
		tb_whyf(why, whylen, "out of memory");
		return TB_ERR_ALLOC;
	}
	if ((e = insert(c, key, id)) != NULL) /* the cache takes the reference, the view its own */
		remember_last(c, e, value, len);
	*out = view;
	return 0;
}

void
tb_certcache_stats(const struct tb_certcache *c, struct tb_certcache_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (c != NULL)
		*out = c->stats;
}

void
tb_certcache_free(struct tb_certcache *c)
{
	struct entry *e, *newer;

	if (c == NULL)
		return;
	for (e = c->oldest; e != NULL; e = newer) {
		newer = e->newer;
		tb_identity_free(e->id);
		free(e);
	}
	free(c->buckets);
	free(c->last_value);
	free(c);
}
