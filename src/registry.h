/* registry.h: the client registry (CLIENT_REGISTRY): which certificates are which clients, alone
 * or as members of a group, and what each may ask for. */
#ifndef TB_REGISTRY_H
#define TB_REGISTRY_H

#include <stddef.h>

#include "cert.h"
#include "config.h"

#define TB_REGISTRY_FILE_MAX (64 * 1024 * 1024) /* bytes of registry JSON */
#define TB_REGISTRY_CLIENTS_MAX 500000          /* entries of 'clients' */
#define TB_REGISTRY_GROUPS_MAX 10000            /* entries of 'groups': each request tries them */
#define TB_REGISTRY_WHY_MAX 1024 /* a reason for refusing a registry: the file, the entry, why */

struct tb_cas;
struct tb_registry;
struct tb_client; /* one entry (a client or a group), borrowed from its registry */

/*
 * Reads and checks the registry file (doc/contract.md section 5), at start and on reload. Refuses
 * unknown keys, a client's match with other than exactly one of sha256, sha1, subject, spiffe,
 * dnssan, urisan, a duplicate client_id or group name, two clients matching the same attribute
 * value (after normalising: sha1 case and colons, subject as a parsed name, dnssan case), a
 * group's bad pattern or unknown subject attribute, and, with cas (CLIENT_CA_FILE; NULL when it
 * is unset), an issuer that names no CA of cas. why names the entry. Linear in the file's size.
 */
int tb_registry_load(
    const char *file, const struct tb_cas *cas, struct tb_registry **out, char *why, size_t whylen);
/* The same from the file's text (file only names it in messages). */
int tb_registry_parse(const char *text, size_t len, const char *file, const struct tb_cas *cas,
    struct tb_registry **out, char *why, size_t whylen);
void tb_registry_free(struct tb_registry *reg);
/* How many clients the registry holds, and how many groups, for logs. */
size_t tb_registry_count(const struct tb_registry *reg);
size_t tb_registry_group_count(const struct tb_registry *reg);

/*
 * Finds the policy for an authenticated identity: exact clients first (hash tables, by each
 * kind's normalised value; of several, the first in the file), then groups in file order;
 * checks the entry's `issuer` binding (name equal, and with cas non-NULL the certificate's
 * signature verifies with a CA of cas whose subject is that name; an identity without a
 * certificate, the load balancer's flow, cannot satisfy an issuer binding and is refused); then
 * sets id->client_id (freeing the old): the client's client_id, or for a group the attribute its
 * client_id names, else default_attr (MTLS_CLIENT_ID's). For dnssan, urisan and spiffe that is
 * the first SAN of the kind that the group's pattern of that kind matches, or the first SAN of
 * the kind when the group has no such pattern. A client without client_id keeps the flow's.
 * 0 and *out (borrowed), or TB_ERR_CLIENT with the reason in why (no entry, issuer mismatch,
 * signature not by the bound CA, the named attribute absent), TB_ERR_ALLOC.
 */
int tb_registry_decide(const struct tb_registry *reg, const struct tb_cas *cas,
    enum tb_id_attr default_attr, struct tb_identity *id, const struct tb_client **out, char *why,
    size_t whylen);

/* The entry's client_id (borrowed), or NULL when it names none (and for groups). */
const char *tb_client_id(const struct tb_client *cl);
/* The group's name (borrowed), or NULL for a client. */
const char *tb_client_group(const struct tb_client *cl);
/* The entry's token_validity in minutes, or 0 when it sets none. */
int tb_client_validity(const struct tb_client *cl);
/* 1 when every space-separated scope in scope is on the entry's allow-list. */
int tb_client_allows_scope(const struct tb_client *cl, const char *scope);
/* 1 when the audience is on the entry's audiences allow-list. */
int tb_client_allows_audience(const struct tb_client *cl, const char *audience);
/* 1 when the service account is on the entry's allow-list. */
int tb_client_allows_account(const struct tb_client *cl, const char *account);

#endif
