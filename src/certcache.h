/* certcache.h: parsed client certificates, remembered by a digest of the exact bytes received. */
#ifndef TB_CERTCACHE_H
#define TB_CERTCACHE_H

#include <stddef.h>
#include <time.h>

#include "cert.h"

/*
 * Bounds of one process's cache (a FastCGI process; each has its own). A client sends the same
 * certificate on every request, so a few hundred entries cover the clients one process serves
 * at a time; the memory bound is what a fleet of distinct clients can cost at most.
 */
#define TB_CERTCACHE_ENTRIES 1024
#define TB_CERTCACHE_BYTES (4 * 1024 * 1024)

struct tb_certcache;

/* Counters, for tests and the start-up log. */
struct tb_certcache_stats {
	unsigned long hits, misses, evictions;
	size_t entries, bytes;
};

/* An empty cache of at most max_entries certificates and about max_bytes of memory. */
int tb_certcache_new(size_t max_entries, size_t max_bytes, struct tb_certcache **out);
void tb_certcache_free(struct tb_certcache *cache);

/*
 * tb_cert_identity, answered from the cache when the same bytes were parsed before: the
 * result is the same as tb_cert_identity's at now, refusals and their reasons included. What
 * depends on the time (the validity period) is checked on every call; what depends only on the
 * bytes (the parse, the digests, the SANs, the CA and extension checks) is remembered. Only
 * certificates that were accepted are remembered. *out is a view (tb_identity_view) that the
 * caller frees. cache NULL: tb_cert_identity itself.
 */
int tb_certcache_identity(struct tb_certcache *cache, const char *value, size_t len, time_t now,
    struct tb_identity **out, char *why, size_t whylen);

void tb_certcache_stats(const struct tb_certcache *cache, struct tb_certcache_stats *out);

#endif
