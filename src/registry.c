/* registry.c: loads CLIENT_REGISTRY and matches identities to registered clients. */
#include "registry.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"
#include "buf.h"
#include "config.h"
#include "crypto.h"
#include "err.h"
#include "file.h"
#include "text.h"
#include "valid.h"
#include "json.h"

#define LIST_MAX 256 /* entries in one scopes or service_accounts list */
#define DN_VALUE_MAX 1024
#define DN_TYPE_MAX 128     /* an attribute type name or dotted OID */
#define DN_AVAS_MAX 64      /* attribute values in one distinguished name */
#define MATCH_VALUE_MAX 2048 /* a match value (hash, SAN, SPIFFE ID, subject) */
#define CLIENT_ID_MAX 256   /* a registry client_id */
#define REFUSAL_MAX 256     /* the text of one refusal */

enum match_kind { M_SHA256, M_SHA1, M_SUBJECT, M_SPIFFE, M_DNSSAN, M_URISAN, M_KINDS };

static const char *const kind_names[M_KINDS] = {
    [M_SHA256] = "sha256",
    [M_SHA1] = "sha1",
    [M_SUBJECT] = "subject",
    [M_SPIFFE] = "spiffe",
    [M_DNSSAN] = "dnssan",
    [M_URISAN] = "urisan",
};

struct tb_client {
	char *client_id; /* NULL: from MTLS_CLIENT_ID */
	enum match_kind kind;
	char *value;        /* normalised: sha1 lower hex without colons, sha256 without '=' */
	X509_NAME *subject; /* M_SUBJECT */
	char **scopes, **accounts;
	size_t nscopes, naccounts;
	int validity;
};

struct tb_registry {
	struct tb_client *clients;
	size_t n;
};

/* State while loading: the entry being read, for messages that name it. */
struct load {
	char *why;
	size_t whylen;
	size_t index;
	const char *id;
};

static int refuse(struct load *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
refuse(struct load *l, const char *fmt, ...)
{
	char msg[REFUSAL_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(l->why, l->whylen, "CLIENT_REGISTRY: clients[%zu]%s%s%s: %s", l->index,
	    l->id != NULL ? " (" : "", l->id != NULL ? l->id : "", l->id != NULL ? ")" : "", msg);
	return TB_ERR_CONFIG;
}

/* An attribute type by name or dotted OID; names are case-insensitive (RFC 4514 section 3). */
static ASN1_OBJECT *
attribute_type(char *type)
{
	ASN1_OBJECT *o;
	size_t i;

	if ((o = OBJ_txt2obj(type, 0)) != NULL)
		return o;
	for (i = 0; type[i] != '\0'; i++)
		type[i] = (char)toupper((unsigned char)type[i]);
	if ((o = OBJ_txt2obj(type, 0)) != NULL)
		return o;
	for (i = 0; type[i] != '\0'; i++)
		type[i] = (char)tolower((unsigned char)type[i]);
	return OBJ_txt2obj(type, 0);
}

/*
 * Parses an RFC 4514 string ("CN=client,OU=production,O=company"; spaces around ',' '=' and
 * '+' tolerated, as people write them) into a name. RDNs come most specific first in the
 * string, last in the DER sequence.
 */
static int
parse_dn(const char *s, X509_NAME **out)
{
	struct ava {
		ASN1_OBJECT *type;
		char value[DN_VALUE_MAX];
		size_t len;
		int multi; /* continues the RDN before it ('+') */
	} *avas = NULL;
	size_t n = 0, cap = 0, i;
	X509_NAME *name = NULL;
	int r = TB_ERR_INVALID, next_multi = 0;

	*out = NULL;
	while (*s != '\0') {
		char type[DN_TYPE_MAX];
		size_t tl = 0, trail = 0;
		struct ava *a;

		if (n == cap) {
			struct ava *p;

			if (cap == DN_AVAS_MAX)
				goto out;
			cap = cap == 0 ? 8 : cap * 2;
			if ((p = realloc(avas, cap * sizeof(*avas))) == NULL) {
				r = TB_ERR_ALLOC;
				goto out;
			}
			avas = p;
		}
		a = &avas[n];
		a->type = NULL;
		a->len = 0;
		a->multi = next_multi;
		while (*s == ' ')
			s++;
		while (*s != '\0' && *s != '=' && tl < sizeof(type) - 1)
			type[tl++] = *s++;
		while (tl > 0 && type[tl - 1] == ' ')
			tl--;
		type[tl] = '\0';
		if (*s != '=' || tl == 0)
			goto out;
		s++;
		if ((a->type = attribute_type(type)) == NULL)
			goto out;
		n++;
		while (*s == ' ')
			s++;
		if (*s == '#' ||
		    *s == '"') /* BER-encoded or RFC 1779 quoted values: not supported */
			goto out;
		for (; *s != '\0' && *s != ',' && *s != '+'; s++) {
			int c = (unsigned char)*s;

			if (c == '\\') {
				int hi = tb_hexval((unsigned char)s[1]);

				if (hi >= 0 && tb_hexval((unsigned char)s[2]) >= 0) {
					c = hi << 4 | tb_hexval((unsigned char)s[2]);
					s += 2;
				} else if (s[1] != '\0' && strchr(",+\"\\<>;= #", s[1]) != NULL)
					c = (unsigned char)*++s;
				else
					goto out;
				trail = 0;
			} else if (c == ' ')
				trail++;
			else
				trail = 0;
			if (a->len == DN_VALUE_MAX)
				goto out;
			a->value[a->len++] = (char)c;
		}
		a->len -= trail; /* unescaped trailing spaces */
		if (a->len == 0)
			goto out;
		next_multi = *s == '+';
		if (*s != '\0')
			s++;
		if (*s == '\0' && (next_multi || s[-1] == ','))
			goto out;
	}
	if (n == 0 || (name = X509_NAME_new()) == NULL)
		goto out;
	/* add RDNs in reverse; the members of one multi-valued RDN keep their order */
	for (i = n; i > 0;) {
		size_t start = i - 1, k;

		while (start > 0 && avas[start].multi)
			start--;
		for (k = start; k < i; k++)
			if (!X509_NAME_add_entry_by_OBJ(name, avas[k].type, MBSTRING_UTF8,
			        (unsigned char *)avas[k].value, (int)avas[k].len, -1,
			        k == start ? 0 : -1))
				goto out;
		i = start;
	}
	*out = name;
	name = NULL; /* transferred */
	r = 0;
out:
	for (i = 0; i < n; i++)
		ASN1_OBJECT_free(avas[i].type);
	free(avas);
	X509_NAME_free(name);
	ERR_clear_error(); /* failed name lookups leave entries behind */
	return r;
}

/* Normalises a match value of its kind; 0 or TB_ERR_INVALID. */
static int
normalise(enum match_kind kind, const char *v, struct tb_client *cl)
{
	size_t i, o = 0, n = strlen(v);
	unsigned char *d = NULL;
	size_t dn = 0;
	char *s;

	if (n == 0 || n > MATCH_VALUE_MAX)
		return TB_ERR_INVALID;
	if (kind == M_SUBJECT)
		return parse_dn(v, &cl->subject);
	if ((s = malloc(n + 1)) == NULL)
		return TB_ERR_ALLOC;
	for (i = 0; i < n; i++) {
		if (kind == M_SHA1) {
			if (v[i] == ':')
				continue;
			if (tb_hexval((unsigned char)v[i]) < 0)
				goto bad;
			s[o++] = (char)tolower((unsigned char)v[i]);
		} else if (kind == M_SHA256 && v[i] == '=')
			continue;
		else
			s[o++] = v[i];
	}
	s[o] = '\0';
	if (kind == M_SHA1 && o != 2 * TB_SHA1_LEN)
		goto bad;
	if (kind == M_SHA256) {
		if (tb_b64_decode(s, o, TB_B64_STD, &d, &dn) != 0 || dn != TB_SHA256_LEN)
			goto bad;
		free(d);
	}
	if (kind == M_DNSSAN)
		for (i = 0; i < o; i++)
			s[i] = (char)tolower((unsigned char)s[i]);
	cl->value = s;
	return 0;
bad:
	free(d);
	free(s);
	return TB_ERR_INVALID;
}

static int
same_match(const struct tb_client *a, const struct tb_client *b)
{
	if (a->kind != b->kind)
		return 0;
	if (a->kind == M_SUBJECT)
		return X509_NAME_cmp(a->subject, b->subject) == 0;
	/* other kinds have a value (the analyzer misses that refuse() never returns 0) */
	/* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker) */
	return strcmp(a->value, b->value) == 0;
}

/* A scope of an allow-list: one scope token, by the rule requests are held to. */
static int
one_scope(const char *s)
{
	return strchr(s, ' ') == NULL && tb_valid_scope(s);
}

/*
 * A list of strings, each of which valid accepts (what is one is said in what), into *out and
 * *n (the load's to free).
 */
static int
string_list(struct load *l, struct tb_json *arr, const char *key, int (*valid)(const char *),
    const char *what, char ***out, size_t *n)
{
	size_t i, len = tb_json_len(arr);

	if (!tb_json_is_array(arr))
		return refuse(l, "'%s' must be a list of strings", key);
	if (len > LIST_MAX)
		return refuse(l, "'%s' has more than %d entries", key, LIST_MAX);
	if ((*out = calloc(len + 1, sizeof(**out))) == NULL)
		return TB_ERR_ALLOC;
	for (i = 0; i < len; i++) {
		const char *s = tb_json_str(tb_json_at(arr, i));

		if (s == NULL || !valid(s))
			return refuse(l, "'%s' must be a list of %s", key, what);
		if (((*out)[i] = strdup(s)) == NULL)
			return TB_ERR_ALLOC;
		(*n)++;
	}
	return 0;
}

struct keys_check {
	struct load *l;
	const char *const *allowed;
	const char *where;
	int r;
};

static int
check_key(void *arg, const char *key, struct tb_json *v)
{
	struct keys_check *k = arg;
	size_t i;

	(void)v;
	for (i = 0; k->allowed[i] != NULL; i++)
		if (strcmp(key, k->allowed[i]) == 0)
			return 0;
	k->r = refuse(k->l, "unknown key '%s'%s", key, k->where);
	return 1;
}

static int
only_keys(struct load *l, const struct tb_json *o, const char *const *allowed, const char *where)
{
	struct keys_check k = {l, allowed, where, 0};

	tb_json_each(o, check_key, &k);
	return k.r;
}

static int
load_client(struct load *l, struct tb_json *e, struct tb_client *cl)
{
	static const char *const entry_keys[] = {
	    "client_id", "match", "scopes", "service_accounts", "token_validity", NULL};
	static const char *const match_keys[] = {
	    "sha256", "sha1", "subject", "spiffe", "dnssan", "urisan", NULL};
	struct tb_json *m, *v;
	const char *id;
	int64_t validity;
	int r, found = 0;
	size_t k;

	if (!tb_json_is_object(e))
		return refuse(l, "must be an object");
	if ((id = tb_json_get_str(e, "client_id")) != NULL) {
		l->id = id;
		if (*id == '\0' || strlen(id) > CLIENT_ID_MAX)
			return refuse(l, "'client_id' must be a string of 1 to %d characters",
			    CLIENT_ID_MAX);
		if ((cl->client_id = strdup(id)) == NULL)
			return TB_ERR_ALLOC;
	} else if (tb_json_get(e, "client_id") != NULL)
		return refuse(l, "'client_id' must be a string");
	if ((r = only_keys(l, e, entry_keys, "")) != 0)
		return r;
	if (!tb_json_is_object(m = tb_json_get(e, "match")))
		return refuse(l, "'match' must be an object");
	if ((r = only_keys(l, m, match_keys, " in 'match'")) != 0)
		return r;
	for (k = 0; k < M_KINDS; k++) {
		if ((v = tb_json_get(m, kind_names[k])) == NULL)
			continue;
		if (found++)
			return refuse(l,
			    "'match' must have exactly one of sha256, sha1, subject, spiffe, "
			    "dnssan, urisan");
		if (tb_json_str(v) == NULL)
			return refuse(l, "'match.%s' must be a string", kind_names[k]);
		cl->kind = (enum match_kind)k;
		if ((r = normalise(cl->kind, tb_json_str(v), cl)) != 0)
			return r == TB_ERR_ALLOC ? r
			                         : refuse(l, "'match.%s' is not a valid %s value",
			                               kind_names[k], kind_names[k]);
	}
	if (!found)
		return refuse(l,
		    "'match' must have exactly one of sha256, sha1, subject, spiffe, dnssan, "
		    "urisan");
	if ((v = tb_json_get(e, "scopes")) != NULL &&
	    (r = string_list(l, v, "scopes", one_scope, "scopes (RFC 6749 scope tokens)",
	         &cl->scopes, &cl->nscopes)) != 0)
		return r;
	if ((v = tb_json_get(e, "service_accounts")) != NULL &&
	    (r = string_list(l, v, "service_accounts", tb_valid_email,
	         "service account e-mail addresses", &cl->accounts, &cl->naccounts)) != 0)
		return r;
	if (tb_json_get(e, "token_validity") != NULL) {
		if (tb_json_get_int(e, "token_validity", &validity) != 0 ||
		    validity < TB_VALIDITY_MIN || validity > TB_VALIDITY_MAX)
			return refuse(l, "'token_validity' must be whole minutes from %d to %d",
			    TB_VALIDITY_MIN, TB_VALIDITY_MAX);
		cl->validity = (int)validity;
	}
	return 0;
}

int
tb_registry_load(const char *file, struct tb_registry **out, char *why, size_t whylen)
{
	char *text = NULL, detail[TB_FILE_WHY_MAX];
	size_t len = 0;
	int r;

	*out = NULL;
	/* a registry that group or others could write would let them name clients */
	if ((r = tb_file_read(file, TB_FILE_TRUSTED, TB_REGISTRY_FILE_MAX, &text, &len, detail,
	         sizeof(detail))) != 0) {
		tb_whyf(why, whylen, "CLIENT_REGISTRY: %s", detail);
		return r == TB_ERR_ALLOC ? r : TB_ERR_CONFIG;
	}
	r = tb_registry_parse(text, len, file, out, why, whylen);
	tb_file_free(text, len);
	return r;
}

int
tb_registry_parse(const char *text, size_t len, const char *file, struct tb_registry **out,
    char *why, size_t whylen)
{
	struct tb_registry *reg = NULL;
	struct tb_json *doc = NULL, *clients;
	struct load l = {why, whylen, 0, NULL};
	size_t i, k;
	int r;

	*out = NULL;
	if (tb_json_parse(text, len, &doc) != 0 || !tb_json_is_object(doc)) {
		snprintf(why, whylen, "CLIENT_REGISTRY: %s: not a JSON object", file);
		r = TB_ERR_CONFIG;
		goto out;
	}
	clients = tb_json_get(doc, "clients");
	if (!tb_json_is_array(clients) || tb_json_len(clients) > TB_REGISTRY_CLIENTS_MAX) {
		snprintf(why, whylen,
		    "CLIENT_REGISTRY: %s: 'clients' must be a list of at most %d entries", file,
		    TB_REGISTRY_CLIENTS_MAX);
		r = TB_ERR_CONFIG;
		goto out;
	}
	{
		static const char *const top_keys[] = {"clients", NULL};
		struct keys_check kc = {&l, top_keys, "", 0};

		tb_json_each(doc, check_key, &kc);
		if (kc.r != 0) {
			snprintf(why, whylen,
			    "CLIENT_REGISTRY: %s: only 'clients' is allowed at the top", file);
			r = TB_ERR_CONFIG;
			goto out;
		}
	}
	r = TB_ERR_ALLOC;
	if ((reg = calloc(1, sizeof(*reg))) == NULL ||
	    (reg->clients = calloc(tb_json_len(clients) + 1, sizeof(*reg->clients))) == NULL)
		goto out;
	for (i = 0; i < tb_json_len(clients); i++) {
		struct tb_client *cl = &reg->clients[i];

		l.index = i;
		l.id = NULL;
		reg->n = i + 1;
		if ((r = load_client(&l, tb_json_at(clients, i), cl)) != 0)
			goto out;
		for (k = 0; k < i; k++) {
			const struct tb_client *o = &reg->clients[k];

			if (cl->client_id != NULL && o->client_id != NULL &&
			    strcmp(cl->client_id, o->client_id) == 0) {
				r = refuse(&l, "client_id '%s' is already used by clients[%zu]",
				    cl->client_id, k);
				goto out;
			}
			if (same_match(cl, o)) {
				r = refuse(&l, "matches the same %s as clients[%zu]",
				    kind_names[cl->kind], k);
				goto out;
			}
		}
	}
	*out = reg;
	reg = NULL; /* transferred */
	r = 0;
out:
	tb_registry_free(reg);
	tb_json_free(doc);
	return r;
}

static void
free_list(char **list, size_t n)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void
tb_registry_free(struct tb_registry *reg)
{
	size_t i;

	if (reg == NULL)
		return;
	for (i = 0; i < reg->n; i++) {
		struct tb_client *cl = &reg->clients[i];

		free(cl->client_id);
		free(cl->value);
		X509_NAME_free(cl->subject);
		free_list(cl->scopes, cl->nscopes);
		free_list(cl->accounts, cl->naccounts);
	}
	free(reg->clients);
	free(reg);
}

const struct tb_client *
tb_registry_match(const struct tb_registry *reg, const struct tb_identity *id)
{
	X509_NAME *subject = NULL;
	const struct tb_client *found = NULL;
	size_t i;

	if (id->subject_der != NULL) {
		const unsigned char *p = id->subject_der;

		subject = d2i_X509_NAME(NULL, &p, (long)id->subject_der_len);
	}
	for (i = 0; i < reg->n && found == NULL; i++) {
		const struct tb_client *cl = &reg->clients[i];

		switch (cl->kind) {
		case M_SHA256: {
			/* the identity's digest is unpadded already */
			if (tb_streq_const(cl->value, id->sha256))
				found = cl;
			break;
		}
		case M_SHA1:
			if (*id->sha1 != '\0' && tb_streq_const(cl->value, id->sha1))
				found = cl;
			break;
		case M_SUBJECT:
			if (subject != NULL && X509_NAME_cmp(cl->subject, subject) == 0)
				found = cl;
			break;
		case M_SPIFFE:
			if (strcmp(cl->value, id->spiffe) == 0)
				found = cl;
			break;
		case M_DNSSAN:
			if (strcasecmp(cl->value, id->dns_san) == 0)
				found = cl;
			break;
		case M_URISAN:
			if (strcmp(cl->value, id->uri_san) == 0)
				found = cl;
			break;
		case M_KINDS: break;
		}
	}
	X509_NAME_free(subject);
	return found;
}

const char *
tb_client_id(const struct tb_client *cl)
{
	return cl->client_id;
}

int
tb_client_validity(const struct tb_client *cl)
{
	return cl->validity;
}

static int
listed(char *const *list, size_t n, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strlen(list[i]) == len && strncmp(list[i], s, len) == 0)
			return 1;
	return 0;
}

int
tb_client_allows_scope(const struct tb_client *cl, const char *scope)
{
	const char *p = scope;

	while (*p != '\0') {
		size_t len = strcspn(p, " ");

		if (len > 0 && !listed(cl->scopes, cl->nscopes, p, len))
			return 0;
		p += len;
		while (*p == ' ')
			p++;
	}
	return 1;
}

int
tb_client_allows_account(const struct tb_client *cl, const char *account)
{
	return listed(cl->accounts, cl->naccounts, account, strlen(account));
}

size_t
tb_registry_count(const struct tb_registry *reg)
{
	return reg->n;
}

/* The registry does not read per-client audiences yet (issue 9 adds them): none is allowed. */
int
tb_client_allows_audience(const struct tb_client *cl, const char *audience)
{
	(void)cl;
	(void)audience;
	return 0;
}
