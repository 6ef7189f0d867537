/* registry.c: loads CLIENT_REGISTRY (clients and groups) and decides which entry's policy an
 * identity gets. */
#include "registry.h"

#include <ctype.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"
#include "crl.h"
#include "crypto.h"
#include "err.h"
#include "file.h"
#include "json.h"
#include "text.h"
#include "valid.h"

#define LIST_MAX 256         /* entries in one scopes, service_accounts or audiences list */
#define DN_VALUE_MAX 1024    /* an attribute value in a registry subject or issuer */
#define DN_TYPE_MAX 128      /* an attribute type name or dotted OID */
#define DN_AVAS_MAX 64       /* attribute values in one distinguished name */
#define MATCH_VALUE_MAX 2048 /* a match value or pattern (hash, SAN, SPIFFE ID, subject) */
#define CLIENT_ID_MAX 256    /* a registry client_id or group name */
#define REFUSAL_MAX 256      /* the text of one refusal */
#define SUBJECT_CONDS_MAX 32 /* attributes in one group's subject condition */
#define NAME_TEXT_MAX 160    /* an issuer name quoted in a per-request reason */
#define KEY_SHOWN 64         /* bytes of an unknown top-level key quoted in a refusal */

enum match_kind { M_SHA256, M_SHA1, M_SUBJECT, M_SPIFFE, M_DNSSAN, M_URISAN, M_KINDS };

static const char *const kind_names[M_KINDS] = {
    [M_SHA256] = "sha256",
    [M_SHA1] = "sha1",
    [M_SUBJECT] = "subject",
    [M_SPIFFE] = "spiffe",
    [M_DNSSAN] = "dnssan",
    [M_URISAN] = "urisan",
};

/* One subject condition of a group: some value of the attribute matches the pattern. */
struct attr_cond {
	ASN1_OBJECT *type;
	char *pattern; /* '*' any run, "\*" and "\\" literal; compared ASCII case-insensitively */
};

/* A group's match: every condition present must hold. */
struct group_match {
	char *pattern[M_KINDS]; /* M_DNSSAN (lower case), M_URISAN, M_SPIFFE; others NULL */
	struct attr_cond *attrs;
	size_t nattrs;
};

struct tb_client {
	char *client_id;      /* clients: NULL keeps the flow's */
	char *group;          /* groups: the name; NULL for clients */
	enum match_kind kind; /* clients: the one match kind */
	char *value;          /* clients: normalised (sha1 lower hex without colons, sha256 without
	                         '=', dnssan lower case); NULL for a subject */
	unsigned char *subject_der; /* clients matching by subject: the parsed name's DER (an
	                               X509_NAME object takes ten times the memory) */
	size_t subject_der_len;
	uint32_t subject_hash;
	struct group_match *gm; /* groups */
	int has_id_attr;        /* groups: client_id named id_attr */
	enum tb_id_attr id_attr;
	const X509_NAME *issuer; /* the bound issuer (one of the registry's issuers), or NULL */
	char **scopes, **accounts, **audiences;
	size_t nscopes, naccounts, naudiences;
	int validity;
};

/* Open addressing, linear probing: idx is an entry's index + 1, 0 for an empty slot. */
struct slot {
	uint32_t hash;
	uint32_t idx;
};
struct table {
	struct slot *slots;
	size_t cap, used; /* cap is 0 or a power of two, at least twice used */
};

struct tb_registry {
	struct tb_client *clients, *groups;
	size_t n, ngroups, cap, gcap;
	struct table by[M_KINDS]; /* clients by the normalised value of their kind */
	X509_NAME **issuers;      /* each distinct issuer once: the entries point at them */
	size_t nissuers, icap;
	struct table by_issuer;
};

/* State while loading: the entry being read, for messages that name it. */
struct load {
	char *why;
	size_t whylen;
	const char *list; /* "clients" or "groups" */
	size_t index;
	const char *id; /* its client_id or name, once read */
	const struct tb_cas *cas;
	struct tb_registry *reg;
	struct table ids, names; /* client_ids of reg->clients, names of reg->groups */
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
	snprintf(l->why, l->whylen, "CLIENT_REGISTRY: %s[%zu]%s%s%s: %s", l->list, l->index,
	    l->id != NULL ? " (" : "", l->id != NULL ? l->id : "", l->id != NULL ? ")" : "", msg);
	return TB_ERR_CONFIG;
}

static int
ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* ---- hash tables ----------------------------------------------------------------------- */

/* FNV-1a over n bytes, folding ASCII case when fold: registry input, no flooding to fear. */
static uint32_t
hash_bytes(const char *s, size_t n, int fold)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (uint8_t)(fold ? ascii_lower((unsigned char)s[i]) : s[i]);
		h *= 16777619u;
	}
	return h;
}

/*
 * A name's hash that agrees with X509_NAME_cmp: OpenSSL's X509_NAME_hash_ex is SHA-1 over the
 * same canonical encoding (each value UTF-8, ASCII lower case, spaces collapsed) that
 * X509_NAME_cmp compares, so equal names hash alike. 0 and *h, or -1.
 */
static int
hash_name(const X509_NAME *name, uint32_t *h)
{
	int ok = 0;

	*h = (uint32_t)X509_NAME_hash_ex(name, NULL, NULL, &ok);
	ERR_clear_error();
	return ok ? 0 : -1;
}

/*
 * Walks the entries of hash h: start with *pos = SIZE_MAX; each call gives the next index + 1
 * whose slot has that hash, or 0 at the empty slot (*pos) where a new one would go.
 */
static size_t
next_of(const struct table *t, uint32_t h, size_t *pos)
{
	size_t mask = t->cap - 1;

	if (t->cap == 0)
		return 0;
	*pos = *pos == SIZE_MAX ? h & mask : (*pos + 1) & mask;
	for (; t->slots[*pos].idx != 0; *pos = (*pos + 1) & mask)
		if (t->slots[*pos].hash == h)
			return t->slots[*pos].idx;
	return 0;
}

/* Puts index i under hash h in a table with room for it. */
static void
place(struct table *t, uint32_t h, size_t i)
{
	size_t pos = SIZE_MAX;

	while (next_of(t, h, &pos) != 0)
		;
	t->slots[pos].hash = h;
	t->slots[pos].idx = (uint32_t)(i + 1);
	t->used++;
}

/* Puts index i under hash h, first doubling the table when it would be over half full. */
static int
table_put(struct table *t, uint32_t h, size_t i)
{
	struct table g = {NULL, t->cap == 0 ? 16 : 2 * t->cap, 0};
	size_t k;

	if (2 * (t->used + 1) > t->cap) {
		if ((g.slots = calloc(g.cap, sizeof(*g.slots))) == NULL)
			return TB_ERR_ALLOC;
		for (k = 0; k < t->cap; k++)
			if (t->slots[k].idx != 0)
				place(&g, t->slots[k].hash, t->slots[k].idx - 1);
		free(t->slots);
		*t = g;
	}
	place(t, h, i);
	return 0;
}

/* The hash of a client's match value (its kind's normalised form); 0 or TB_ERR_INVALID. */
static uint32_t
client_hash(const struct tb_client *cl)
{
	if (cl->kind == M_SUBJECT)
		return cl->subject_hash;
	return hash_bytes(cl->value, strlen(cl->value), cl->kind == M_DNSSAN);
}

/* Does a subject client's name equal name (X509_NAME_cmp)? Its DER is parsed to compare. */
static int
subject_equal(const struct tb_client *cl, const X509_NAME *name)
{
	const unsigned char *p = cl->subject_der;
	X509_NAME *mine = d2i_X509_NAME(NULL, &p, (long)cl->subject_der_len);
	int eq = mine != NULL && X509_NAME_cmp(mine, name) == 0;

	X509_NAME_free(mine);
	ERR_clear_error();
	return eq;
}

static int
same_match(const struct tb_client *a, const struct tb_client *b)
{
	const unsigned char *p = b->subject_der;
	X509_NAME *name;
	int eq;

	if (a->kind != M_SUBJECT)
		return strcmp(a->value, b->value) == 0;
	if (a->subject_der_len == b->subject_der_len &&
	    memcmp(a->subject_der, b->subject_der, a->subject_der_len) == 0)
		return 1;
	if ((name = d2i_X509_NAME(NULL, &p, (long)b->subject_der_len)) == NULL)
		return 0;
	eq = subject_equal(a, name);
	X509_NAME_free(name);
	return eq;
}

/* ---- distinguished names ----------------------------------------------------------------- */

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
	o = OBJ_txt2obj(type, 0);
	ERR_clear_error(); /* failed name lookups leave entries behind */
	return o;
}

/* One attribute value of an RFC 4514 string (escapes decoded, trailing spaces dropped). */
struct ava {
	ASN1_OBJECT *type;
	char value[DN_VALUE_MAX];
	size_t len;
	int multi; /* continues the RDN before it ('+') */
};

/* Reads "type=value" at *sp into a (a->type is the caller's to free); 0 or TB_ERR_INVALID. */
static int
parse_ava(const char **sp, struct ava *a)
{
	const char *s = *sp;
	char type[DN_TYPE_MAX] = "";
	size_t tl = 0, trail = 0;

	while (*s == ' ')
		s++;
	while (*s != '\0' && *s != '=' && tl < sizeof(type) - 1)
		type[tl++] = *s++;
	while (tl > 0 && type[tl - 1] == ' ')
		tl--;
	type[tl] = '\0';
	if (*s != '=' || tl == 0 || (a->type = attribute_type(type)) == NULL)
		return TB_ERR_INVALID;
	for (s++; *s == ' '; s++)
		;
	if (*s == '#' || *s == '"') /* BER-encoded or RFC 1779 quoted values: not supported */
		return TB_ERR_INVALID;
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
				return TB_ERR_INVALID;
			trail = 0;
		} else
			trail = c == ' ' ? trail + 1 : 0;
		if (a->len == DN_VALUE_MAX)
			return TB_ERR_INVALID;
		a->value[a->len++] = (char)c;
	}
	a->len -= trail; /* unescaped trailing spaces */
	*sp = s;
	return a->len == 0 ? TB_ERR_INVALID : 0;
}

/* The parsed values into a name: RDNs come most specific first in the string, last in DER. */
static int
build_name(const struct ava *avas, size_t n, X509_NAME **out)
{
	X509_NAME *name;
	size_t i, start, k;

	if ((name = X509_NAME_new()) == NULL)
		return TB_ERR_ALLOC;
	/* add RDNs in reverse; the members of one multi-valued RDN keep their order */
	for (i = n; i > 0; i = start) {
		for (start = i - 1; start > 0 && avas[start].multi; start--)
			;
		for (k = start; k < i; k++)
			if (!X509_NAME_add_entry_by_OBJ(name, avas[k].type, MBSTRING_UTF8,
			        (const unsigned char *)avas[k].value, (int)avas[k].len, -1,
			        k == start ? 0 : -1)) {
				X509_NAME_free(name);
				return TB_ERR_INVALID;
			}
	}
	*out = name;
	return 0;
}

/*
 * Parses an RFC 4514 string ("CN=client,OU=production,O=company"; spaces around ',' '=' and
 * '+' tolerated, as people write them) into a name.
 */
static int
parse_dn(const char *s, X509_NAME **out)
{
	struct ava *avas = NULL;
	size_t n = 0, i;
	int r = TB_ERR_ALLOC, next_multi = 0;

	*out = NULL;
	if ((avas = calloc(DN_AVAS_MAX, sizeof(*avas))) == NULL)
		goto out;
	r = TB_ERR_INVALID;
	while (*s != '\0') {
		if (n == DN_AVAS_MAX)
			goto out;
		avas[n].multi = next_multi;
		if (parse_ava(&s, &avas[n++]) != 0)
			goto out;
		next_multi = *s == '+';
		if (*s != '\0')
			s++;
		if (*s == '\0' && (next_multi || s[-1] == ','))
			goto out;
	}
	r = n == 0 ? TB_ERR_INVALID : build_name(avas, n, out);
out:
	for (i = 0; i < n; i++)
		ASN1_OBJECT_free(avas[i].type);
	free(avas);
	ERR_clear_error();
	return r;
}

/* A name as RFC 4514 text for a reason, cut to fit. */
static void
name_text(const X509_NAME *name, char out[NAME_TEXT_MAX])
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long n;

	out[0] = '\0';
	if (bio != NULL && X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0 &&
	    (n = BIO_get_mem_data(bio, &p)) > 0)
		snprintf(out, NAME_TEXT_MAX, "%.*s", (int)n, p);
	BIO_free(bio);
	ERR_clear_error();
}

/* ---- patterns ---------------------------------------------------------------------------- */

/*
 * A dnssan pattern: dot-separated labels, none empty, each '*' (exactly one label) or letters,
 * digits, '-' and '_'. Stored lower-case (DNS names compare case-insensitively).
 */
static int
dns_pattern(char *p)
{
	size_t i, run = 0;

	for (i = 0;; i++) {
		if (p[i] == '.' || p[i] == '\0') {
			if (run == 0 || (run > 1 && memchr(p + i - run, '*', run) != NULL))
				return 0;
			if (p[i] == '\0')
				return 1;
			run = 0;
			continue;
		}
		if (!isalnum((unsigned char)p[i]) && p[i] != '-' && p[i] != '_' && p[i] != '*')
			return 0;
		p[i] = (char)ascii_lower((unsigned char)p[i]);
		run++;
	}
}

/* Does a DNS name match a dnssan pattern? '*' is exactly one non-empty label. */
static int
dns_match(const char *pat, const char *name)
{
	for (;;) {
		size_t pl = strcspn(pat, "."), nl = strcspn(name, ".");

		if (nl == 0 ||
		    (!(pl == 1 && *pat == '*') && (pl != nl || strncasecmp(pat, name, pl) != 0)))
			return 0;
		pat += pl;
		name += nl;
		if (*pat == '\0' || *name == '\0')
			return *pat == *name;
		pat++;
		name++;
	}
}

/*
 * A urisan or spiffe pattern: printable ASCII without spaces. Without '*' it is a literal URI.
 * With one it is scheme://authority/path where '*' stands alone for whole path segments; the
 * scheme and authority are literal, no path segment is empty (a trailing '/' aside). spiffe
 * patterns start with "spiffe://".
 */
static int
uri_pattern(const char *p, int spiffe)
{
	const char *path, *seg;
	size_t i;

	for (i = 0; p[i] != '\0'; i++)
		if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 0x7f)
			return 0;
	if (spiffe && strncmp(p, "spiffe://", 9) != 0)
		return 0;
	if (strchr(p, '*') == NULL)
		return 1;
	for (i = 0; isalnum((unsigned char)p[i]) || (i > 0 && strchr("+-.", p[i]) != NULL); i++)
		;
	if (i == 0 || !isalpha((unsigned char)p[0]) || strncmp(p + i, "://", 3) != 0)
		return 0;
	if ((path = strchr(p + i + 3, '/')) == NULL || path == p + i + 3 ||
	    memchr(p, '*', (size_t)(path - p)) != NULL)
		return 0;
	for (seg = path + 1;; seg += strcspn(seg, "/") + 1) {
		size_t n = strcspn(seg, "/");

		if (n == 0 && seg[n] != '\0')
			return 0; /* an empty segment ("//") */
		if (n > 1 && memchr(seg, '*', n) != NULL)
			return 0; /* '*' inside a segment, or "**" */
		if (seg[n] == '\0')
			return 1;
	}
}

/*
 * Does a URI match a urisan or spiffe pattern? Both are cut at every '/'; the pieces must pair
 * up, '*' taking one non-empty piece without '?' or '#' (a path segment, not a query).
 */
static int
uri_match(const char *pat, const char *uri)
{
	if (strchr(pat, '*') == NULL)
		return strcmp(pat, uri) == 0;
	for (;;) {
		size_t pl = strcspn(pat, "/"), ul = strcspn(uri, "/");

		if (pl == 1 && *pat == '*') {
			if (ul == 0 || strcspn(uri, "?#") < ul)
				return 0;
		} else if (pl != ul || memcmp(pat, uri, pl) != 0)
			return 0;
		pat += pl;
		uri += ul;
		if (*pat == '\0' || *uri == '\0')
			return *pat == *uri;
		pat++;
		uri++;
	}
}

/* A subject pattern: not empty, no "**", '\' only before '*' or '\'. */
static int
glob_pattern(const char *p)
{
	size_t i;

	for (i = 0; p[i] != '\0'; i++) {
		if (p[i] == '*' && p[i + 1] == '*')
			return 0;
		if (p[i] == '\\' && p[++i] != '*' && p[i] != '\\')
			return 0;
	}
	return i > 0;
}

/*
 * Does the value (n bytes of UTF-8) match a subject pattern? '*' is any run of characters,
 * compared ASCII case-insensitively as X509_NAME_cmp compares names. One backtrack point: the
 * last '*' seen, so the cost is at most pattern times value.
 */
static int
glob_match(const char *p, const unsigned char *s, size_t n)
{
	const char *star = NULL;
	size_t i = 0, from = 0;

	while (i < n) {
		if (*p == '*') {
			star = ++p;
			from = i;
			continue;
		}
		if (*p != '\0') {
			const char *q = *p == '\\' ? p + 1 : p;

			if (ascii_lower((unsigned char)*q) == ascii_lower(s[i])) {
				p = q + 1;
				i++;
				continue;
			}
		}
		if (star == NULL)
			return 0;
		p = star;
		i = ++from;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

/* Does some value of the attribute in the name match the pattern? */
static int
attr_matches(const struct attr_cond *c, const X509_NAME *name)
{
	int i = -1, found = 0;

	while (!found && (i = X509_NAME_get_index_by_OBJ(name, c->type, i)) >= 0) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
		unsigned char *utf8 = NULL;
		int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));

		found = len >= 0 && glob_match(c->pattern, utf8, (size_t)len);
		OPENSSL_free(utf8);
	}
	ERR_clear_error();
	return found;
}

/* ---- reading entries ---------------------------------------------------------------------- */

/* A subject client's name: parsed, kept as DER with its hash. */
static int
subject_value(const char *v, struct tb_client *cl)
{
	X509_NAME *name = NULL;
	unsigned char *der = NULL;
	int n, r;

	if ((r = parse_dn(v, &name)) != 0)
		return r;
	r = TB_ERR_INVALID;
	if (hash_name(name, &cl->subject_hash) != 0 || (n = i2d_X509_NAME(name, &der)) <= 0)
		goto out;
	r = TB_ERR_ALLOC;
	if ((cl->subject_der = malloc((size_t)n)) == NULL)
		goto out;
	memcpy(cl->subject_der, der, (size_t)n);
	cl->subject_der_len = (size_t)n;
	r = 0;
out:
	OPENSSL_free(der);
	X509_NAME_free(name);
	ERR_clear_error();
	return r;
}

/* Normalises a client's match value of its kind; 0 or TB_ERR_INVALID. */
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
		return subject_value(v, cl);
	if ((s = malloc(n + 1)) == NULL)
		return TB_ERR_ALLOC;
	for (i = 0; i < n; i++) {
		if (kind == M_SHA1 && v[i] == ':')
			continue;
		if (kind == M_SHA1 && tb_hexval((unsigned char)v[i]) < 0)
			goto bad;
		if (kind == M_SHA256 && v[i] == '=')
			continue;
		s[o++] =
		    (char)(kind == M_SHA1 || kind == M_DNSSAN ? ascii_lower((unsigned char)v[i])
		                                              : v[i]);
	}
	s[o] = '\0';
	if (kind == M_SHA1 && o != 2 * TB_SHA1_LEN)
		goto bad;
	if (kind == M_SHA256) {
		if (tb_b64_decode(s, o, TB_B64_STD, &d, &dn) != 0 || dn != TB_SHA256_LEN)
			goto bad;
		free(d);
	}
	cl->value = s;
	return 0;
bad:
	free(d);
	free(s);
	return TB_ERR_INVALID;
}

/* A scope of an allow-list: one scope token, by the rule requests are held to. */
static int
one_scope(const char *s)
{
	return strchr(s, ' ') == NULL && tb_valid_scope(s);
}

/*
 * A list of strings, each of which valid accepts (what is one is said in what), into *out and
 * *n (the entry's, freed with it).
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

/* An identifier for logs and tokens: 1 to CLIENT_ID_MAX printable ASCII characters. */
static int
valid_id(const char *s)
{
	size_t i, n = strlen(s);

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return n > 0 && n <= CLIENT_ID_MAX;
}

/*
 * The registry's one copy of an issuer name (taking name): thousands of entries bound to one
 * CA share it. A new name must name a CA of CLIENT_CA_FILE, when it is set.
 */
static int
intern_issuer(struct load *l, X509_NAME *name, const X509_NAME **out)
{
	struct tb_registry *reg = l->reg;
	size_t pos = SIZE_MAX, k;
	uint32_t h;
	int r = TB_ERR_CONFIG;

	if (hash_name(name, &h) != 0) {
		r = refuse(l, "'issuer' cannot be encoded");
		goto out;
	}
	while ((k = next_of(&reg->by_issuer, h, &pos)) != 0)
		if (X509_NAME_cmp(reg->issuers[k - 1], name) == 0) {
			*out = reg->issuers[k - 1];
			r = 0;
			goto out;
		}
	if (l->cas != NULL && tb_cas_count_named(l->cas, name) == 0) {
		r = refuse(l, "'issuer' names no CA of CLIENT_CA_FILE");
		goto out;
	}
	if (reg->nissuers == reg->icap) {
		size_t cap = reg->icap == 0 ? 4 : 2 * reg->icap;
		/* an array of pointers: sizeof(X509_NAME *) is meant */
		/* NOLINTNEXTLINE(bugprone-sizeof-expression) */
		X509_NAME **grown = realloc(reg->issuers, cap * sizeof(*grown));

		r = TB_ERR_ALLOC;
		if (grown == NULL)
			goto out;
		reg->issuers = grown;
		reg->icap = cap;
	}
	if ((r = table_put(&reg->by_issuer, h, reg->nissuers)) != 0)
		goto out;
	*out = reg->issuers[reg->nissuers++] = name;
	name = NULL; /* transferred */
out:
	X509_NAME_free(name);
	return r;
}

/* What clients and groups share: allow-lists, token_validity and the issuer binding. */
static int
load_policy(struct load *l, const struct tb_json *e, struct tb_client *cl)
{
	X509_NAME *issuer = NULL;
	struct tb_json *v;
	const char *s;
	int64_t validity;
	int r;

	if ((v = tb_json_get(e, "scopes")) != NULL &&
	    (r = string_list(l, v, "scopes", one_scope, "scopes (RFC 6749 scope tokens)",
	         &cl->scopes, &cl->nscopes)) != 0)
		return r;
	if ((v = tb_json_get(e, "service_accounts")) != NULL &&
	    (r = string_list(l, v, "service_accounts", tb_valid_email,
	         "service account e-mail addresses", &cl->accounts, &cl->naccounts)) != 0)
		return r;
	if ((v = tb_json_get(e, "audiences")) != NULL &&
	    (r = string_list(l, v, "audiences", tb_valid_audience,
	         "audiences (printable, without spaces)", &cl->audiences, &cl->naudiences)) != 0)
		return r;
	if (tb_json_get(e, "token_validity") != NULL) {
		if (tb_json_get_int(e, "token_validity", &validity) != 0 ||
		    validity < TB_VALIDITY_MIN || validity > TB_VALIDITY_MAX)
			return refuse(l, "'token_validity' must be whole minutes from %d to %d",
			    TB_VALIDITY_MIN, TB_VALIDITY_MAX);
		cl->validity = (int)validity;
	}
	if (tb_json_get(e, "issuer") == NULL)
		return 0;
	if ((s = tb_json_get_str(e, "issuer")) == NULL || strlen(s) > MATCH_VALUE_MAX ||
	    (r = parse_dn(s, &issuer)) == TB_ERR_INVALID)
		return refuse(l, "'issuer' is not a distinguished name (RFC 4514)");
	if (r != 0)
		return r;
	return intern_issuer(l, issuer, &cl->issuer);
}

static int
load_client(struct load *l, struct tb_json *e, struct tb_client *cl)
{
	static const char *const entry_keys[] = {"client_id", "match", "scopes", "service_accounts",
	    "audiences", "token_validity", "issuer", NULL};
	static const char *const match_keys[] = {
	    "sha256", "sha1", "subject", "spiffe", "dnssan", "urisan", NULL};
	static const char exactly_one[] =
	    "'match' must have exactly one of sha256, sha1, subject, spiffe, dnssan, urisan";
	struct tb_json *m, *v;
	const char *id;
	int r, found = 0;
	size_t k;

	if (!tb_json_is_object(e))
		return refuse(l, "must be an object");
	if ((id = tb_json_get_str(e, "client_id")) != NULL) {
		l->id = id;
		if (!valid_id(id))
			return refuse(
			    l, "'client_id' must be 1 to %d printable characters", CLIENT_ID_MAX);
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
			return refuse(l, "%s", exactly_one);
		if (tb_json_str(v) == NULL)
			return refuse(l, "'match.%s' must be a string", kind_names[k]);
		cl->kind = (enum match_kind)k;
		if ((r = normalise(cl->kind, tb_json_str(v), cl)) != 0)
			return r == TB_ERR_ALLOC ? r
			                         : refuse(l, "'match.%s' is not a valid %s value",
			                               kind_names[k], kind_names[k]);
	}
	if (!found)
		return refuse(l, "%s", exactly_one);
	return load_policy(l, e, cl);
}

struct subject_load {
	struct load *l;
	struct group_match *gm;
	int r;
};

/* One "ATTRIBUTE": "pattern" of a group's match.subject. */
static int
subject_cond(void *arg, const char *key, struct tb_json *v)
{
	struct subject_load *s = arg;
	struct attr_cond *c = &s->gm->attrs[s->gm->nattrs];
	char type[DN_TYPE_MAX];
	const char *p = tb_json_str(v);

	snprintf(type, sizeof(type), "%s", key);
	if (strlen(key) >= sizeof(type) || (c->type = attribute_type(type)) == NULL)
		s->r =
		    refuse(s->l, "unknown attribute '%.*s' in 'match.subject'", DN_TYPE_MAX, key);
	else if (s->gm->nattrs++, p == NULL || strlen(p) > MATCH_VALUE_MAX || !glob_pattern(p))
		s->r = refuse(s->l,
		    "'match.subject.%.*s' must be a pattern: not empty, '*' for any run of "
		    "characters (not \"**\"), '\\' only before '*' or '\\'",
		    DN_TYPE_MAX, key);
	else if ((c->pattern = strdup(p)) == NULL)
		s->r = TB_ERR_ALLOC;
	return s->r;
}

static int
count_member(void *arg, const char *key, struct tb_json *v)
{
	(void)key;
	(void)v;
	(*(size_t *)arg)++;
	return 0;
}

/* A group's match: dnssan, urisan, spiffe patterns and subject attributes, at least one. */
static int
load_group_match(struct load *l, struct tb_json *m, struct group_match *gm)
{
	static const char *const match_keys[] = {"dnssan", "urisan", "spiffe", "subject", NULL};
	static const enum match_kind kinds[] = {M_DNSSAN, M_URISAN, M_SPIFFE};
	struct subject_load sl = {l, gm, 0};
	struct tb_json *v, *subject;
	size_t k, n;
	int r;

	if (!tb_json_is_object(m))
		return refuse(l, "'match' must be an object");
	if ((r = only_keys(l, m, match_keys,
	         " in 'match' (a group matches by dnssan, urisan, "
	         "spiffe and subject)")) != 0)
		return r;
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		const char *name = kind_names[kinds[k]], *p;
		char **slot = &gm->pattern[kinds[k]];

		if ((v = tb_json_get(m, name)) == NULL)
			continue;
		if ((p = tb_json_str(v)) == NULL || strlen(p) > MATCH_VALUE_MAX)
			return refuse(l, "'match.%s' must be a pattern string", name);
		if ((*slot = strdup(p)) == NULL)
			return TB_ERR_ALLOC;
		if (kinds[k] == M_DNSSAN ? !dns_pattern(*slot)
		                         : !uri_pattern(*slot, kinds[k] == M_SPIFFE))
			return refuse(l, "'match.%s' is not a valid pattern: %s", name,
			    kinds[k] == M_DNSSAN
			        ? "labels of letters, digits, '-' and '_', none empty, '*' for "
			          "exactly one whole label"
			        : "a URI whose '*' stand for whole path segments after a literal "
			          "scheme://authority");
	}
	if ((subject = tb_json_get(m, "subject")) != NULL) {
		if (!tb_json_is_object(subject))
			return refuse(l, "'match.subject' must be an object of attribute patterns");
		n = 0;
		tb_json_each(subject, count_member, &n);
		if (n == 0 || n > SUBJECT_CONDS_MAX)
			return refuse(
			    l, "'match.subject' must hold 1 to %d attributes", SUBJECT_CONDS_MAX);
		if ((gm->attrs = calloc(n, sizeof(*gm->attrs))) == NULL)
			return TB_ERR_ALLOC;
		tb_json_each(subject, subject_cond, &sl);
		if (sl.r != 0)
			return sl.r;
	}
	if (gm->pattern[M_DNSSAN] == NULL && gm->pattern[M_URISAN] == NULL &&
	    gm->pattern[M_SPIFFE] == NULL && gm->nattrs == 0)
		return refuse(
		    l, "'match' must hold at least one of dnssan, urisan, spiffe, subject");
	return 0;
}

static int
load_group(struct load *l, struct tb_json *e, struct tb_client *g)
{
	static const char *const group_keys[] = {"name", "match", "client_id", "scopes",
	    "service_accounts", "audiences", "token_validity", "issuer", NULL};
	struct tb_json *v;
	const char *s;
	int r;

	if (!tb_json_is_object(e))
		return refuse(l, "must be an object");
	if ((s = tb_json_get_str(e, "name")) == NULL)
		return refuse(l, "'name' must be a string");
	l->id = s;
	if (!valid_id(s))
		return refuse(l, "'name' must be 1 to %d printable characters", CLIENT_ID_MAX);
	if ((g->group = strdup(s)) == NULL || (g->gm = calloc(1, sizeof(*g->gm))) == NULL)
		return TB_ERR_ALLOC;
	if ((r = only_keys(l, e, group_keys, "")) != 0 ||
	    (r = load_group_match(l, tb_json_get(e, "match"), g->gm)) != 0)
		return r;
	if ((v = tb_json_get(e, "client_id")) != NULL) {
		if ((s = tb_json_str(v)) == NULL || tb_id_attr_parse(s, &g->id_attr) != 0)
			return refuse(l,
			    "'client_id' must name a certificate attribute as MTLS_CLIENT_ID does: "
			    "sha256, spiffe, dnssan, urisan, serial or subject");
		g->has_id_attr = 1;
	}
	return load_policy(l, e, g);
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

static void
free_entry(struct tb_client *cl)
{
	size_t k;

	free(cl->client_id);
	free(cl->group);
	free(cl->value);
	free(cl->subject_der);
	free_list(cl->scopes, cl->nscopes);
	free_list(cl->accounts, cl->naccounts);
	free_list(cl->audiences, cl->naudiences);
	if (cl->gm == NULL)
		return;
	for (k = 0; k < M_KINDS; k++)
		free(cl->gm->pattern[k]);
	for (k = 0; k < cl->gm->nattrs; k++) {
		ASN1_OBJECT_free(cl->gm->attrs[k].type);
		free(cl->gm->attrs[k].pattern);
	}
	free(cl->gm->attrs);
	free(cl->gm);
}

/* Room for entry n (zeroed) in an array of *cap entries, doubled as needed. */
static int
grow(struct tb_client **arr, size_t *cap, size_t n)
{
	struct tb_client *p;
	size_t c;

	if (n < *cap) {
		memset(&(*arr)[n], 0, sizeof(**arr));
		return 0;
	}
	c = *cap == 0 ? 64 : 2 * *cap;
	if ((p = realloc(*arr, c * sizeof(*p))) == NULL)
		return TB_ERR_ALLOC;
	memset(p + n, 0, (c - n) * sizeof(*p));
	*arr = p;
	*cap = c;
	return 0;
}

/* 0 when no entry under h of t has the name s (the client_ids or group names of arr). */
static size_t
name_taken(
    const struct table *t, uint32_t h, const struct tb_client *arr, int groups, const char *s)
{
	size_t pos = SIZE_MAX, k;

	while ((k = next_of(t, h, &pos)) != 0)
		if (strcmp(groups ? arr[k - 1].group : arr[k - 1].client_id, s) == 0)
			return k;
	return 0;
}

/*
 * Reads clients[n] and files it: refuses a client_id already used and a match value that
 * another client has (the same kind, equal after normalising), each found by hash.
 */
static int
add_client(struct tb_registry *reg, struct load *l, struct tb_json *e)
{
	struct tb_client *cl;
	size_t pos = SIZE_MAX, k;
	uint32_t h;
	int r;

	if (reg->n == TB_REGISTRY_CLIENTS_MAX)
		return refuse(
		    l, "is over the %d clients a registry may hold", TB_REGISTRY_CLIENTS_MAX);
	if ((r = grow(&reg->clients, &reg->cap, reg->n)) != 0)
		return r;
	cl = &reg->clients[reg->n++]; /* freed with the registry from here on */
	if ((r = load_client(l, e, cl)) != 0)
		return r;
	if (cl->client_id != NULL) {
		h = hash_bytes(cl->client_id, strlen(cl->client_id), 0);
		if ((k = name_taken(&l->ids, h, reg->clients, 0, cl->client_id)) != 0)
			return refuse(l, "client_id '%s' is already used by clients[%zu]",
			    cl->client_id, k - 1);
		if ((r = table_put(&l->ids, h, reg->n - 1)) != 0)
			return r;
	}
	h = client_hash(cl);
	while ((k = next_of(&reg->by[cl->kind], h, &pos)) != 0)
		if (same_match(cl, &reg->clients[k - 1]))
			return refuse(
			    l, "matches the same %s as clients[%zu]", kind_names[cl->kind], k - 1);
	return table_put(&reg->by[cl->kind], h, reg->n - 1);
}

/* Reads groups[n] and files it; refuses a name already used. */
static int
add_group(struct tb_registry *reg, struct load *l, struct tb_json *e)
{
	struct tb_client *g;
	uint32_t h;
	size_t k;
	int r;

	if (reg->ngroups == TB_REGISTRY_GROUPS_MAX)
		return refuse(
		    l, "is over the %d groups a registry may hold", TB_REGISTRY_GROUPS_MAX);
	if ((r = grow(&reg->groups, &reg->gcap, reg->ngroups)) != 0)
		return r;
	g = &reg->groups[reg->ngroups++];
	if ((r = load_group(l, e, g)) != 0)
		return r;
	h = hash_bytes(g->group, strlen(g->group), 0);
	if ((k = name_taken(&l->names, h, reg->groups, 1, g->group)) != 0)
		return refuse(l, "the name '%s' is already used by groups[%zu]", g->group, k - 1);
	return table_put(&l->names, h, reg->ngroups - 1);
}

/* ---- the file's top level ---------------------------------------------------------------- */

/*
 * The top level is read here, one list element at a time, and each element is parsed by
 * json.c on its own: json-c's tree of a whole 64 MiB file would take several times the file in
 * memory, an element's tree takes little. The scanner only finds where an element ends (strings
 * and brackets); json-c checks each element in full, and the scanner the JSON between them.
 */
struct scan {
	const char *p, *end;
};

static void
skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n'))
		s->p++;
}

/* Past the string that starts at s->p ('"'); 0, or -1 when it does not end. */
static int
skip_string(struct scan *s)
{
	for (s->p++; s->p < s->end; s->p++) {
		if (*s->p == '\\') {
			if (++s->p == s->end)
				break;
			continue; /* the escaped character, whatever it is */
		}
		if (*s->p == '"') {
			s->p++;
			return 0;
		}
	}
	return -1;
}

/* Past one value: a string, a bracketed value (strings inside skipped), or a bare word. */
static int
skip_value(struct scan *s)
{
	size_t depth = 0;

	do {
		if (s->p == s->end)
			return -1;
		if (*s->p == '"') {
			if (skip_string(s) != 0)
				return -1;
			continue;
		}
		if (*s->p == '{' || *s->p == '[')
			depth++;
		else if (*s->p == '}' || *s->p == ']') {
			if (depth-- == 0)
				return -1;
		} else if (depth == 0) {
			while (s->p < s->end && strchr(",]} \t\r\n", *s->p) == NULL)
				s->p++;
			return 0;
		}
		s->p++;
	} while (depth > 0);
	return 0;
}

/* Reads each element of the list at s->p ('[') into clients or groups. */
static int
read_list(struct tb_registry *reg, struct load *l, struct scan *s, int groups)
{
	struct tb_json *doc = NULL;
	const char *start;
	int r;

	for (s->p++, skip_ws(s); s->p < s->end && *s->p != ']';) {
		start = s->p;
		if (skip_value(s) != 0)
			return TB_ERR_INVALID;
		l->index = groups ? reg->ngroups : reg->n;
		l->id = NULL;
		if (tb_json_parse(start, (size_t)(s->p - start), &doc) != 0)
			return refuse(l,
			    "is not valid JSON, nests deeper than %d or is over %d bytes",
			    TB_JSON_DEPTH_MAX, TB_JSON_PARSE_MAX);
		r = groups ? add_group(reg, l, doc) : add_client(reg, l, doc);
		tb_json_free(doc);
		if (r != 0)
			return r;
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			skip_ws(s);
			if (s->p < s->end && *s->p == ']')
				return TB_ERR_INVALID; /* a trailing comma */
		} else if (s->p == s->end || *s->p != ']')
			return TB_ERR_INVALID;
	}
	if (s->p == s->end)
		return TB_ERR_INVALID;
	s->p++;
	return 0;
}

/* The value of one top-level key: 0, TB_ERR_INVALID (bad JSON) or a refusal written in why. */
static int
read_member(struct tb_registry *reg, struct load *l, struct scan *s, const char *file, int seen[2])
{
	const char *key = s->p + 1;
	size_t klen;
	int which, r;

	if (skip_string(s) != 0)
		return TB_ERR_INVALID;
	klen = (size_t)(s->p - 1 - key);
	if (klen == 7 && memcmp(key, "clients", 7) == 0)
		which = 0;
	else if (klen == 6 && memcmp(key, "groups", 6) == 0)
		which = 1;
	else {
		tb_whyf(l->why, l->whylen,
		    "CLIENT_REGISTRY: %s: unknown key '%.*s' at the top: only 'clients' and "
		    "'groups' "
		    "are allowed",
		    file, (int)(klen < KEY_SHOWN ? klen : KEY_SHOWN), key);
		return TB_ERR_CONFIG;
	}
	if (seen[which]++) {
		tb_whyf(l->why, l->whylen, "CLIENT_REGISTRY: %s: '%s' appears twice", file,
		    which ? "groups" : "clients");
		return TB_ERR_CONFIG;
	}
	l->list = which ? "groups" : "clients";
	skip_ws(s);
	if (s->p == s->end || *s->p++ != ':')
		return TB_ERR_INVALID;
	skip_ws(s);
	if (s->p == s->end || *s->p != '[') {
		tb_whyf(l->why, l->whylen,
		    "CLIENT_REGISTRY: %s: '%s' must be a list of at most %d "
		    "entries",
		    file, l->list, which ? TB_REGISTRY_GROUPS_MAX : TB_REGISTRY_CLIENTS_MAX);
		return TB_ERR_CONFIG;
	}
	r = read_list(reg, l, s, which);
	return r;
}

/* The whole text: an object of at most the two lists, nothing after it. */
static int
read_top(struct tb_registry *reg, struct load *l, const char *text, size_t len, const char *file)
{
	struct scan s = {text, text + len};
	int seen[2] = {0, 0}, r = TB_ERR_INVALID;

	skip_ws(&s);
	if (memchr(text, '\0', len) != NULL || s.p == s.end || *s.p++ != '{')
		goto out;
	for (skip_ws(&s); s.p < s.end && *s.p == '"';) {
		if ((r = read_member(reg, l, &s, file, seen)) != 0)
			goto out;
		r = TB_ERR_INVALID;
		skip_ws(&s);
		if (s.p < s.end && *s.p == ',') {
			s.p++;
			skip_ws(&s);
			if (s.p == s.end || *s.p != '"')
				goto out;
		}
	}
	if (s.p == s.end || *s.p++ != '}')
		goto out;
	skip_ws(&s);
	if (s.p != s.end)
		goto out;
	r = 0;
	if (!seen[0] && !seen[1]) {
		tb_whyf(l->why, l->whylen,
		    "CLIENT_REGISTRY: %s: neither 'clients' nor 'groups' is "
		    "there",
		    file);
		r = TB_ERR_CONFIG;
	}
out:
	if (r == TB_ERR_INVALID) {
		tb_whyf(l->why, l->whylen,
		    "CLIENT_REGISTRY: %s: not a JSON object of 'clients' and 'groups' lists", file);
		r = TB_ERR_CONFIG;
	}
	return r;
}

/* Gives back what grow() doubled beyond the n entries read (half the array at worst). */
static void
shrink(struct tb_client **arr, size_t *cap, size_t n)
{
	struct tb_client *p;

	if (n > 0 && n < *cap && (p = realloc(*arr, n * sizeof(*p))) != NULL) {
		*arr = p;
		*cap = n;
	}
}

int
tb_registry_load(
    const char *file, const struct tb_cas *cas, struct tb_registry **out, char *why, size_t whylen)
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
	r = tb_registry_parse(text, len, file, cas, out, why, whylen);
	tb_file_free(text, len);
	return r;
}

int
tb_registry_parse(const char *text, size_t len, const char *file, const struct tb_cas *cas,
    struct tb_registry **out, char *why, size_t whylen)
{
	struct tb_registry *reg = NULL;
	struct load l = {why, whylen, "clients", 0, NULL, cas, NULL, {NULL, 0, 0}, {NULL, 0, 0}};
	int r = TB_ERR_ALLOC;

	*out = NULL;
	if ((reg = calloc(1, sizeof(*reg))) == NULL)
		goto out;
	l.reg = reg;
	if ((r = read_top(reg, &l, text, len, file)) != 0)
		goto out;
	shrink(&reg->clients, &reg->cap, reg->n);
	shrink(&reg->groups, &reg->gcap, reg->ngroups);
	*out = reg;
	reg = NULL; /* transferred */
out:
	if (r == TB_ERR_ALLOC)
		tb_whyf(why, whylen, "CLIENT_REGISTRY: %s: out of memory", file);
	free(l.ids.slots);
	free(l.names.slots);
	tb_registry_free(reg);
	return r;
}

void
tb_registry_free(struct tb_registry *reg)
{
	size_t i;

	if (reg == NULL)
		return;
	for (i = 0; i < reg->n; i++)
		free_entry(&reg->clients[i]);
	for (i = 0; i < reg->ngroups; i++)
		free_entry(&reg->groups[i]);
	for (i = 0; i < M_KINDS; i++)
		free(reg->by[i].slots);
	for (i = 0; i < reg->nissuers; i++)
		X509_NAME_free(reg->issuers[i]);
	free(reg->issuers);
	free(reg->by_issuer.slots);
	free(reg->clients);
	free(reg->groups);
	free(reg);
}

size_t
tb_registry_count(const struct tb_registry *reg)
{
	return reg->n;
}

size_t
tb_registry_group_count(const struct tb_registry *reg)
{
	return reg->ngroups;
}

/* ---- deciding ------------------------------------------------------------------------------ */

/* The identity's subject: the certificate's, or parsed from its DER (*parsed, to free). */
static const X509_NAME *
identity_subject(const struct tb_identity *id, X509_NAME **parsed)
{
	const unsigned char *p = id->subject_der;

	*parsed = NULL;
	if (id->cert != NULL)
		return X509_get_subject_name(id->cert);
	if (p != NULL && (*parsed = d2i_X509_NAME(NULL, &p, (long)id->subject_der_len)) == NULL)
		ERR_clear_error();
	return *parsed;
}

/* The client of kind k whose value the identity has: index + 1, or 0. */
static size_t
find(const struct tb_registry *reg, enum match_kind k, const struct tb_identity *id,
    const X509_NAME *subject)
{
	const struct table *t = &reg->by[k];
	size_t n, pos = SIZE_MAX, i;
	const char *v;
	int fold = k == M_DNSSAN || k == M_SHA1;
	uint32_t h;

	if (t->used == 0)
		return 0;
	if (k == M_SUBJECT) {
		if (subject == NULL || hash_name(subject, &h) != 0)
			return 0;
		while ((i = next_of(t, h, &pos)) != 0)
			if (subject_equal(&reg->clients[i - 1], subject))
				return i;
		return 0;
	}
	v = k == M_SHA256   ? id->sha256
	    : k == M_SHA1   ? id->sha1
	    : k == M_SPIFFE ? id->spiffe
	    : k == M_DNSSAN ? id->dns_san
	                    : id->uri_san;
	if (v == NULL || *v == '\0')
		return 0;
	n = k == M_SHA256 ? strcspn(v, "=") : strlen(v); /* padding is not significant */
	h = hash_bytes(v, n, fold);
	while ((i = next_of(t, h, &pos)) != 0) {
		const char *c = reg->clients[i - 1].value;

		if (strlen(c) == n && (fold ? strncasecmp(c, v, n) : memcmp(c, v, n)) == 0)
			return i;
	}
	return 0;
}

/* The exact client: of several kinds that match, the entry first in the file. */
static const struct tb_client *
exact(const struct tb_registry *reg, const struct tb_identity *id, const X509_NAME *subject)
{
	size_t best = 0, i;
	int k;

	for (k = 0; k < M_KINDS; k++)
		if ((i = find(reg, (enum match_kind)k, id, subject)) != 0 &&
		    (best == 0 || i < best))
			best = i;
	return best == 0 ? NULL : &reg->clients[best - 1];
}

/* The first SAN of kind k (M_DNSSAN, M_URISAN, M_SPIFFE) that the pattern matches, or NULL. */
static const char *
san_matching(enum match_kind k, const char *pat, const struct tb_identity *id)
{
	char *const *list = k == M_DNSSAN ? id->dns_sans : id->uri_sans;
	size_t i, n = k == M_DNSSAN ? id->ndns_sans : id->nuri_sans;
	const char *one = k == M_DNSSAN ? id->dns_san : k == M_URISAN ? id->uri_san : id->spiffe;

	for (i = 0; i < n; i++)
		if (k == M_DNSSAN ? dns_match(pat, list[i]) : uri_match(pat, list[i]))
			return list[i];
	/* the load balancer's SPIFFE header, which its URI SAN list need not hold */
	if (one != NULL && *one != '\0' &&
	    (k == M_DNSSAN ? dns_match(pat, one) : uri_match(pat, one)))
		return one;
	return NULL;
}

static int
group_matches(const struct tb_client *g, const struct tb_identity *id, const X509_NAME *subject)
{
	static const enum match_kind kinds[] = {M_DNSSAN, M_URISAN, M_SPIFFE};
	const struct group_match *m = g->gm;
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (m->pattern[kinds[i]] != NULL &&
		    san_matching(kinds[i], m->pattern[kinds[i]], id) == NULL)
			return 0;
	for (i = 0; i < m->nattrs; i++)
		if (subject == NULL || !attr_matches(&m->attrs[i], subject))
			return 0;
	return 1;
}

/* How reasons name an entry. */
static void
label(const struct tb_registry *reg, const struct tb_client *cl, char out[CLIENT_ID_MAX + 32])
{
	if (cl->group != NULL)
		snprintf(out, CLIENT_ID_MAX + 32, "group '%s'", cl->group);
	else if (cl->client_id != NULL)
		snprintf(out, CLIENT_ID_MAX + 32, "client '%s'", cl->client_id);
	else
		snprintf(out, CLIENT_ID_MAX + 32, "clients[%zu]", (size_t)(cl - reg->clients));
}

/* The entry's issuer binding (doc/contract.md section 5): its name, and with cas its key. */
static int
check_issuer(const struct tb_client *cl, const char *what, const struct tb_cas *cas,
    const struct tb_identity *id, char *why, size_t whylen)
{
	char bound[NAME_TEXT_MAX], got[NAME_TEXT_MAX];

	if (cl->issuer == NULL)
		return 0;
	name_text(cl->issuer, bound);
	if (id->cert == NULL) {
		tb_whyf(why, whylen,
		    "%s is bound to the issuer '%s', which the load balancer's headers cannot show",
		    what, bound);
		return TB_ERR_CLIENT;
	}
	if (X509_NAME_cmp(X509_get_issuer_name(id->cert), cl->issuer) != 0) {
		name_text(X509_get_issuer_name(id->cert), got);
		tb_whyf(why, whylen,
		    "the certificate's issuer '%s' is not '%s', which %s is bound to", got, bound,
		    what);
		return TB_ERR_CLIENT;
	}
	if (cas != NULL && !tb_cas_signed(cas, cl->issuer, id->cert, id->sha256)) {
		tb_whyf(why, whylen,
		    "the certificate names the issuer '%s' of %s, but no CA of that name in "
		    "CLIENT_CA_FILE signed it",
		    bound, what);
		return TB_ERR_CLIENT;
	}
	return 0;
}

/* The value of the attribute a that becomes a group member's client_id ("" or NULL: none). */
static const char *
attribute(const struct tb_client *g, enum tb_id_attr a, const struct tb_identity *id)
{
	enum match_kind k;

	switch (a) {
	case TB_ID_SHA256: return id->sha256;
	case TB_ID_SERIAL: return id->serial;
	case TB_ID_SUBJECT: return id->subject;
	case TB_ID_DNSSAN: k = M_DNSSAN; break;
	case TB_ID_URISAN: k = M_URISAN; break;
	case TB_ID_SPIFFE: k = M_SPIFFE; break;
	default: return NULL;
	}
	/* the SAN that put it in the group: a client id within the group's own name space */
	if (g->gm->pattern[k] != NULL)
		return san_matching(k, g->gm->pattern[k], id);
	return k == M_DNSSAN ? id->dns_san : k == M_URISAN ? id->uri_san : id->spiffe;
}

/* The client_id the entry gives (NULL: the flow's stays), or TB_ERR_CLIENT. */
static int
entry_client_id(const struct tb_client *cl, const char *what, enum tb_id_attr default_attr,
    const struct tb_identity *id, const char **out, char *why, size_t whylen)
{
	enum tb_id_attr a = cl->has_id_attr ? cl->id_attr : default_attr;

	*out = cl->client_id;
	if (cl->group == NULL)
		return 0;
	*out = attribute(cl, a, id);
	if (*out == NULL || **out == '\0') {
		tb_whyf(why, whylen, "the certificate has no %s, which %s takes its client_id from",
		    tb_id_attr_name(a), what);
		return TB_ERR_CLIENT;
	}
	return 0;
}

int
tb_registry_decide(const struct tb_registry *reg, const struct tb_cas *cas,
    enum tb_id_attr default_attr, struct tb_identity *id, const struct tb_client **out, char *why,
    size_t whylen)
{
	X509_NAME *parsed = NULL;
	const X509_NAME *subject = identity_subject(id, &parsed);
	const struct tb_client *cl;
	const char *cid = NULL;
	char what[CLIENT_ID_MAX + 32], *copy;
	size_t i;
	int r = TB_ERR_CLIENT;

	*out = NULL;
	cl = exact(reg, id, subject);
	for (i = 0; cl == NULL && i < reg->ngroups; i++)
		if (group_matches(&reg->groups[i], id, subject))
			cl = &reg->groups[i];
	if (cl == NULL) {
		tb_whyf(why, whylen, "the certificate matches no entry of CLIENT_REGISTRY");
		goto out;
	}
	label(reg, cl, what);
	if ((r = check_issuer(cl, what, cas, id, why, whylen)) != 0 ||
	    (r = entry_client_id(cl, what, default_attr, id, &cid, why, whylen)) != 0)
		goto out;
	if (cid != NULL && (id->client_id == NULL || strcmp(cid, id->client_id) != 0)) {
		r = TB_ERR_ALLOC;
		if ((copy = strdup(cid)) == NULL)
			goto out;
		free(id->client_id);
		id->client_id = copy;
	}
	*out = cl;
	r = 0;
out:
	X509_NAME_free(parsed);
	return r;
}

const char *
tb_client_id(const struct tb_client *cl)
{
	return cl->client_id;
}

const char *
tb_client_group(const struct tb_client *cl)
{
	return cl->group;
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

int
tb_client_allows_audience(const struct tb_client *cl, const char *audience)
{
	return listed(cl->audiences, cl->naudiences, audience, strlen(audience));
}
