/* registry.h: the client registry (CLIENT_REGISTRY): which certificates are which clients, and
 * what each may ask for. */
#ifndef TB_REGISTRY_H
#define TB_REGISTRY_H

#include <stddef.h>

#include "cert.h"

#define TB_REGISTRY_FILE_MAX (1024 * 1024) /* bytes of registry JSON */
#define TB_REGISTRY_CLIENTS_MAX 10000
#define TB_REGISTRY_WHY_MAX 1024 /* a reason for refusing a registry: the file, the entry, why */

struct tb_registry;
struct tb_client; /* one entry, borrowed from its registry */

/*
 * Reads and checks the registry file (SPEC.md section 5) once, at start. Refuses unknown keys,
 * a match with other than exactly one of sha256, sha1, subject, spiffe, dnssan, urisan, a
 * duplicate client_id, and two entries matching the same attribute value (after normalising:
 * sha1 case and colons, subject as a parsed name); why names the entry.
 */
int tb_registry_load(const char *file, struct tb_registry **out, char *why, size_t whylen);
/* The same from the file's text (file only names it in messages). */
int tb_registry_parse(const char *text, size_t len, const char *file, struct tb_registry **out,
    char *why, size_t whylen);
void tb_registry_free(struct tb_registry *reg);
/* How many clients (and groups) the registry holds, for logs. */
size_t tb_registry_count(const struct tb_registry *reg);

/* The entry whose match the identity satisfies, or NULL (an unregistered client). */
const struct tb_client *tb_registry_match(
    const struct tb_registry *reg, const struct tb_identity *id);
/* The entry's client_id (borrowed), or NULL when it names none. */
const char *tb_client_id(const struct tb_client *cl);
/* The entry's token_validity in minutes, or 0 when it sets none. */
int tb_client_validity(const struct tb_client *cl);
/* 1 when every space-separated scope in scope is on the entry's allow-list. */
int tb_client_allows_scope(const struct tb_client *cl, const char *scope);
/* 1 when the audience is on the entry's audiences allow-list. */
int tb_client_allows_audience(const struct tb_client *cl, const char *audience);
/* 1 when the service account is on the entry's allow-list. */
int tb_client_allows_account(const struct tb_client *cl, const char *account);

#endif
