/* crl.c: loads the client CAs and their CRLs, verifies each CRL, and indexes revoked serials. */
#include "crl.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cert.h"
#include "crypto.h"
#include "err.h"
#include "file.h"
#include "log.h"
#include "text.h"

#define SERIAL_MAX 32      /* octets of a serial the index holds (RFC 5280 allows 20) */
#define DIR_FILES_MAX 4096 /* files read from one CRL directory */
#define CRLS_MAX 1024      /* CRLs read in all, before the newest per issuer is kept */

/* One revoked serial. */
struct entry {
	int64_t when;
	uint8_t reason; /* CRLReason code, or REASON_NONE */
	uint8_t len;
	uint8_t serial[SERIAL_MAX];
};

#define REASON_NONE 0xff

struct crl {
	X509_NAME *issuer;
	unsigned char *issuer_der;
	size_t issuer_len;
	char issuer_text[TB_CRL_NAME_MAX];
	char *file;
	time_t this_update, next_update; /* next_update 0: none (current for ever) */
	ASN1_INTEGER *number;            /* CRL number, or NULL */
	struct entry *entries;
	size_t n;
	/*
	 * Open addressing: each slot is the serial's hash in the high half (so that a probe rarely
	 * has to look at an entry) and its index + 1 into entries in the low half; 0 is empty.
	 */
	uint64_t *table;
	size_t mask;
};

struct tb_crlset {
	struct crl **crls;
	size_t n;
};

/*
 * What tb_cas_signed found for a certificate, by its SHA-256: a signature check (an ECDSA
 * verify with a P-256 CA) costs twice what the rest of a token does, and a client sends the
 * same certificate every time. Made at the first check, emptied whole when full; it goes with
 * the CA set it describes.
 */
#define SIGNED_MEMO_SLOTS 2048 /* a power of two */
#define SIGNED_MEMO_MAX 1024   /* entries before it is emptied: at most half full */
#define SIGNED_KEY_LEN 43      /* unpadded base64 of a SHA-256 */

struct signed_memo {
	size_t n;
	struct {
		char key[SIGNED_KEY_LEN + 1]; /* "" for a free slot */
		unsigned char found;
	} slot[SIGNED_MEMO_SLOTS];
};

struct tb_cas {
	STACK_OF(X509) * certs;
	struct signed_memo *memo; /* NULL until the first tb_cas_signed with a digest */
};

/* ---- serials and the index -------------------------------------------------------------- */

/* A serial's magnitude without leading zero octets, into key; 0, or -1 when too long. */
static int
trim_serial(const unsigned char *p, size_t n, uint8_t key[SERIAL_MAX], uint8_t *len)
{
	while (n > 1 && *p == 0) {
		p++;
		n--;
	}
	if (n > SERIAL_MAX)
		return -1;
	memcpy(key, p, n);
	*len = (uint8_t)n;
	return 0;
}

/* A serial as hex text ("00:c9:77", "C977"), colons optional, into key; 0 or -1. */
static int
serial_key(const char *s, uint8_t key[SERIAL_MAX], uint8_t *len)
{
	unsigned char raw[SERIAL_MAX * 2];
	size_t n = 0;
	int hi = -1, v;

	for (; *s != '\0'; s++) {
		if (*s == ':')
			continue;
		if ((v = tb_hexval((unsigned char)*s)) < 0)
			return -1;
		if (hi < 0)
			hi = v;
		else {
			if (n == sizeof(raw))
				return -1;
			raw[n++] = (unsigned char)(hi << 4 | v);
			hi = -1;
		}
	}
	if (hi >= 0 || n == 0)
		return -1; /* an odd number of digits, or none */
	return trim_serial(raw, n, key, len);
}

static uint64_t
hash(const uint8_t *p, size_t n)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */

	while (n-- > 0) {
		h ^= *p++;
		h *= 1099511628211ULL;
	}
	return h;
}

#define SLOT_INDEX(v) ((size_t)((v)&0xffffffffu))
#define SLOT_TAG(v) ((uint32_t)((v) >> 32))

static int
index_entries(struct crl *c)
{
	size_t cap = 8, i;

	while (cap < c->n * 2)
		cap *= 2;
	if ((c->table = calloc(cap, sizeof(*c->table))) == NULL)
		return TB_ERR_ALLOC;
	c->mask = cap - 1;
	for (i = 0; i < c->n; i++) {
		const struct entry *e = &c->entries[i];
		uint64_t h = hash(e->serial, e->len);
		size_t slot = (size_t)h & c->mask;

		for (;; slot = (slot + 1) & c->mask) {
			const struct entry *o;

			if (c->table[slot] == 0) {
				c->table[slot] = (h >> 32) << 32 | (uint64_t)(i + 1);
				break;
			}
			if (SLOT_TAG(c->table[slot]) != (uint32_t)(h >> 32))
				continue;
			o = &c->entries[SLOT_INDEX(c->table[slot]) - 1];
			if (o->len == e->len && memcmp(o->serial, e->serial, e->len) == 0)
				break; /* listed twice: the first stands */
		}
	}
	return 0;
}

static const struct entry *
lookup(const struct crl *c, const uint8_t *key, uint8_t len)
{
	uint64_t h = hash(key, len);
	size_t slot = (size_t)h & c->mask;

	for (;; slot = (slot + 1) & c->mask) {
		const struct entry *e;

		if (c->table[slot] == 0)
			return NULL;
		if (SLOT_TAG(c->table[slot]) != (uint32_t)(h >> 32))
			continue;
		e = &c->entries[SLOT_INDEX(c->table[slot]) - 1];
		if (e->len == len && memcmp(e->serial, key, len) == 0)
			return e;
	}
}

/* ---- reading ------------------------------------------------------------------------------ */

static void
name_text(const X509_NAME *name, char out[TB_CRL_NAME_MAX])
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *text = NULL;
	long n;

	out[0] = '\0';
	if (bio == NULL)
		return;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0 &&
	    (n = BIO_get_mem_data(bio, &text)) >= 0)
		snprintf(out, TB_CRL_NAME_MAX, "%.*s", (int)n, text);
	BIO_free(bio);
}

static void
crl_free(struct crl *c)
{
	if (c == NULL)
		return;
	X509_NAME_free(c->issuer);
	OPENSSL_free(c->issuer_der);
	free(c->file);
	ASN1_INTEGER_free(c->number);
	free(c->entries);
	free(c->table);
	free(c);
}

void
tb_cas_free(struct tb_cas *cas)
{
	if (cas == NULL)
		return;
	sk_X509_pop_free(cas->certs, X509_free);
	free(cas->memo);
	free(cas);
}

int
tb_cas_load(const char *path, struct tb_cas **out, char *why, size_t whylen)
{
	struct tb_cas *cas = NULL;
	char *data = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	X509 *x;
	int r;

	*out = NULL;
	if ((r = tb_file_read(path, TB_FILE_TRUSTED, TB_CA_FILE_MAX, &data, &len, why, whylen)) !=
	    0)
		return r;
	r = TB_ERR_ALLOC;
	if ((cas = calloc(1, sizeof(*cas))) == NULL || (cas->certs = sk_X509_new_null()) == NULL ||
	    (bio = BIO_new_mem_buf(data, (int)len)) == NULL)
		goto out;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_push(cas->certs, x) <= 0) {
			X509_free(x);
			goto out;
		}
	}
	/* the loop ends at the end of the data (PEM_R_NO_START_LINE) or at a bad block */
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE ||
	    sk_X509_num(cas->certs) == 0) {
		tb_whyf(why, whylen, "%s: %s", path,
		    sk_X509_num(cas->certs) == 0 ? "holds no PEM certificate"
		                                 : "a certificate cannot be parsed");
		r = TB_ERR_CONFIG;
		goto out;
	}
	*out = cas;
	cas = NULL; /* transferred */
	r = 0;
out:
	ERR_clear_error();
	BIO_free(bio);
	tb_file_free(data, len);
	tb_cas_free(cas);
	return r;
}

/* The CA whose subject is the CRL's issuer and whose key verifies its signature, or NULL. */
static X509 *
signer_of(const struct tb_cas *cas, X509_CRL *crl, int *named)
{
	int i;

	*named = 0;
	for (i = 0; i < sk_X509_num(cas->certs); i++) {
		X509 *ca = sk_X509_value(cas->certs, i);
		EVP_PKEY *key;

		if (X509_NAME_cmp(X509_get_subject_name(ca), X509_CRL_get_issuer(crl)) != 0)
			continue;
		*named = 1;
		/* a CA with a keyUsage must allow cRLSign (RFC 5280 section 4.2.1.3) */
		if ((X509_get_extension_flags(ca) & EXFLAG_KUSAGE) != 0 &&
		    (X509_get_key_usage(ca) & KU_CRL_SIGN) == 0)
			continue;
		if ((key = X509_get0_pubkey(ca)) != NULL && X509_CRL_verify(crl, key) == 1)
			return ca;
	}
	return NULL;
}

/* Refuses the kinds of CRL that do not say, alone, whether an end-entity is revoked. */
static const char *
unsupported(X509_CRL *crl)
{
	const STACK_OF(X509_EXTENSION) *exts = X509_CRL_get0_extensions(crl);
	ISSUING_DIST_POINT *idp;
	const char *bad = NULL;
	int i, crit = 0;

	for (i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
		X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);
		int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));

		if (nid == NID_delta_crl)
			return "is a delta CRL";
		if (X509_EXTENSION_get_critical(ext) && nid != NID_issuing_distribution_point)
			return "has a critical extension the broker does not know";
	}
	idp = X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &crit, NULL);
	if (idp == NULL && crit != -1)
		return "has an unreadable issuing distribution point";
	if (idp != NULL) {
		if (idp->indirectCRL)
			bad = "is an indirect CRL";
		else if (idp->onlysomereasons != NULL)
			bad = "covers only some revocation reasons";
		else if (idp->onlyCA || idp->onlyattr)
			bad = "covers only CA or attribute certificates";
		ISSUING_DIST_POINT_free(idp);
	}
	return bad;
}

/* The CRLReason of an entry, or REASON_NONE. */
static uint8_t
reason_of(X509_REVOKED *rev)
{
	ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL);
	long v;

	if (e == NULL)
		return REASON_NONE;
	v = ASN1_ENUMERATED_get(e);
	ASN1_ENUMERATED_free(e);
	return v >= 0 && v < REASON_NONE ? (uint8_t)v : REASON_NONE;
}

static int
read_entries(X509_CRL *x, struct crl *c, const char **bad)
{
	STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(x);
	int i, n = sk_X509_REVOKED_num(revs);
	time_t when;

	if (n > 0 && (c->entries = calloc((size_t)n, sizeof(*c->entries))) == NULL)
		return TB_ERR_ALLOC;
	for (i = 0; i < n; i++) {
		X509_REVOKED *rev = sk_X509_REVOKED_value(revs, i);
		const ASN1_INTEGER *sn = X509_REVOKED_get0_serialNumber(rev);
		struct entry *e = &c->entries[c->n];

		if (X509_REVOKED_get_ext_by_NID(rev, NID_certificate_issuer, -1) >= 0) {
			*bad = "is an indirect CRL (an entry names another issuer)";
			return TB_ERR_CONFIG;
		}
		if (trim_serial(ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn),
		        e->serial, &e->len) != 0 ||
		    e->len == 0) {
			*bad = "lists a serial of more than 32 octets";
			return TB_ERR_CONFIG;
		}
		if (tb_asn1_time(X509_REVOKED_get0_revocationDate(rev), &when) != 0) {
			*bad = "has an unreadable revocation date";
			return TB_ERR_CONFIG;
		}
		e->when = (int64_t)when;
		e->reason = reason_of(rev);
		c->n++;
	}
	return index_entries(c);
}

/* Verifies one parsed CRL against cas and indexes it into *out. */
static int
take_crl(const struct tb_cas *cas, X509_CRL *x, const char *file, struct crl **out, char *why,
    size_t whylen)
{
	struct crl *c = NULL;
	const char *bad = NULL;
	int named, len, r = TB_ERR_ALLOC;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->file = strdup(file)) == NULL)
		goto out;
	name_text(X509_CRL_get_issuer(x), c->issuer_text);
	r = TB_ERR_CONFIG;
	if ((bad = unsupported(x)) != NULL)
		goto out;
	if (signer_of(cas, x, &named) == NULL) {
		bad =
		    named
		        ? "is not signed by the key of its issuer in CLIENT_CA_FILE (bad signature)"
		        : "is issued by a CA that is not in CLIENT_CA_FILE (unknown issuer)";
		goto out;
	}
	if (tb_asn1_time(X509_CRL_get0_lastUpdate(x), &c->this_update) != 0 ||
	    (X509_CRL_get0_nextUpdate(x) != NULL &&
	        tb_asn1_time(X509_CRL_get0_nextUpdate(x), &c->next_update) != 0)) {
		bad = "has an unreadable thisUpdate or nextUpdate";
		goto out;
	}
	c->number = X509_CRL_get_ext_d2i(x, NID_crl_number, NULL, NULL);
	r = TB_ERR_ALLOC;
	if ((c->issuer = X509_NAME_dup(X509_CRL_get_issuer(x))) == NULL ||
	    (len = i2d_X509_NAME(c->issuer, &c->issuer_der)) <= 0)
		goto out;
	c->issuer_len = (size_t)len;
	if ((r = read_entries(x, c, &bad)) != 0)
		goto out;
	*out = c;
	c = NULL; /* transferred */
out:
	if (bad != NULL)
		tb_whyf(why, whylen, "%s: the CRL of '%s' %s", file, c->issuer_text, bad);
	else if (r == TB_ERR_ALLOC)
		tb_whyf(why, whylen, "%s: out of memory", file);
	crl_free(c);
	return r;
}

/* Is a newer than b (thisUpdate, then CRL number)? */
static int
newer(const struct crl *a, const struct crl *b)
{
	if (a->this_update != b->this_update)
		return a->this_update > b->this_update;
	if (a->number != NULL && b->number != NULL)
		return ASN1_INTEGER_cmp(a->number, b->number) > 0;
	return a->number != NULL;
}

/* Adds c to set, keeping only the newest CRL of each issuer. */
static int
keep(struct tb_crlset *set, struct crl *c)
{
	struct crl **grown;
	size_t i;

	for (i = 0; i < set->n; i++) {
		if (X509_NAME_cmp(set->crls[i]->issuer, c->issuer) != 0)
			continue;
		if (newer(c, set->crls[i])) {
			crl_free(set->crls[i]);
			set->crls[i] = c;
		} else
			crl_free(c);
		return 0;
	}
	/* an array of pointers: sizeof(struct crl *) is meant */
	/* NOLINTNEXTLINE(bugprone-sizeof-expression) */
	if ((grown = realloc(set->crls, (set->n + 1) * sizeof(*grown))) == NULL) {
		crl_free(c);
		return TB_ERR_ALLOC;
	}
	set->crls = grown;
	set->crls[set->n++] = c;
	return 0;
}

/* Every CRL in data (named file in reasons): PEM blocks, or one DER CRL. */
static int
read_data(struct tb_crlset *set, const struct tb_cas *cas, const char *data, size_t len,
    const char *file, size_t *count, char *why, size_t whylen)
{
	size_t found = 0;
	BIO *bio = NULL;
	X509_CRL *x = NULL;
	struct crl *c;
	int r = TB_ERR_ALLOC;

	if (strstr(data, "-----BEGIN") == NULL) { /* a DER CRL (its NUL bytes stop the search) */
		const unsigned char *p = (const unsigned char *)data;

		if ((x = d2i_X509_CRL(NULL, &p, (long)len)) == NULL ||
		    p != (const unsigned char *)data + len) {
			tb_whyf(why, whylen, "%s: not a CRL (PEM or DER): %s", file,
			    x == NULL ? tb_crypto_error() : "trailing data");
			r = TB_ERR_CONFIG;
			goto out;
		}
		if (++*count > CRLS_MAX)
			goto too_many;
		if ((r = take_crl(cas, x, file, &c, why, whylen)) != 0 || (r = keep(set, c)) != 0)
			goto out;
		goto done;
	}
	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL)
		goto out;
	while ((x = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
		found++;
		if (++*count > CRLS_MAX)
			goto too_many;
		r = take_crl(cas, x, file, &c, why, whylen);
		X509_CRL_free(x);
		x = NULL;
		if (r != 0 || (r = keep(set, c)) != 0)
			goto out;
	}
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE || found == 0) {
		tb_whyf(why, whylen, "%s: %s", file,
		    ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE
		        ? "a PEM CRL cannot be parsed"
		        : "holds no PEM CRL");
		r = TB_ERR_CONFIG;
		goto out;
	}
done:
	r = 0;
	goto out;
too_many:
	tb_whyf(why, whylen, "%s: more than %d CRLs in CRL_FILES", file, CRLS_MAX);
	r = TB_ERR_CONFIG;
out:
	ERR_clear_error();
	X509_CRL_free(x);
	BIO_free(bio);
	return r;
}

/* Every CRL in one file. */
static int
read_file(struct tb_crlset *set, const struct tb_cas *cas, const char *file, size_t *count,
    char *why, size_t whylen)
{
	char *data = NULL;
	size_t len = 0;
	int r;

	if ((r = tb_file_read(file, TB_FILE_TRUSTED, TB_CRL_FILE_MAX, &data, &len, why, whylen)) !=
	    0)
		return r;
	r = read_data(set, cas, data, len, file, count, why, whylen);
	tb_file_free(data, len);
	return r;
}

int
tb_crlset_parse(const struct tb_cas *cas, const char *data, size_t len, const char *name,
    struct tb_crlset **out, char *why, size_t whylen)
{
	struct tb_crlset *set;
	size_t count = 0;
	int r;

	*out = NULL;
	if ((set = calloc(1, sizeof(*set))) == NULL)
		return TB_ERR_ALLOC;
	if ((r = read_data(set, cas, data, len, name, &count, why, whylen)) != 0) {
		tb_crlset_free(set);
		return r;
	}
	*out = set;
	return 0;
}

int
tb_crlset_newer(const struct tb_crlset *a, const struct tb_crlset *b)
{
	size_t i, k;

	for (i = 0; i < a->n; i++) {
		for (k = 0; k < b->n; k++)
			if (X509_NAME_cmp(a->crls[i]->issuer, b->crls[k]->issuer) == 0)
				break;
		if (k == b->n || newer(a->crls[i], b->crls[k]))
			return 1;
	}
	return 0;
}

int
tb_crlset_current(const struct tb_crlset *set, time_t now)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (set->crls[i]->next_update != 0 && now >= set->crls[i]->next_update)
			return 0;
	return set->n > 0;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of a directory (not those starting with '.'), sorted, into *files. */
static int
list_dir(const char *dir, char ***files, size_t *n, char *why, size_t whylen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **list = NULL;
	int r = TB_ERR_ALLOC;

	*files = NULL;
	*n = 0;
	if (d == NULL) {
		tb_whyf(why, whylen, "%s: %s", dir, strerror(errno));
		return TB_ERR_IO;
	}
	if ((list = calloc(DIR_FILES_MAX, sizeof(*list))) == NULL)
		goto out;
	while ((de = readdir(d)) != NULL) {
		char path[TB_CRL_WHY_MAX];
		struct stat st;

		if (de->d_name[0] == '.')
			continue; /* ., .., and --fetch-crls's temporary files */
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (*n == DIR_FILES_MAX) {
			tb_whyf(why, whylen, "%s: more than %d files", dir, DIR_FILES_MAX);
			r = TB_ERR_CONFIG;
			goto out;
		}
		if ((list[*n] = strdup(path)) == NULL)
			goto out;
		(*n)++;
	}
	qsort(list, *n, sizeof(*list), by_name);
	*files = list;
	list = NULL; /* transferred */
	r = 0;
out:
	if (list != NULL) {
		for (size_t i = 0; i < *n; i++)
			free(list[i]);
		free(list);
		*n = 0;
	}
	closedir(d);
	return r;
}

void
tb_crlset_free(struct tb_crlset *set)
{
	size_t i;

	if (set == NULL)
		return;
	for (i = 0; i < set->n; i++)
		crl_free(set->crls[i]);
	free(set->crls);
	free(set);
}

int
tb_crlset_load(const struct tb_cas *cas, char *const *paths, size_t n, struct tb_crlset **out,
    char *why, size_t whylen)
{
	struct tb_crlset *set;
	size_t i, k, count = 0;
	int r = 0;

	*out = NULL;
	if ((set = calloc(1, sizeof(*set))) == NULL)
		return TB_ERR_ALLOC;
	for (i = 0; r == 0 && i < n; i++) {
		struct stat st;
		char **files = NULL;
		size_t nfiles = 0;

		if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if ((r = list_dir(paths[i], &files, &nfiles, why, whylen)) != 0)
				break;
			for (k = 0; k < nfiles; k++) {
				if (r == 0)
					r = read_file(set, cas, files[k], &count, why, whylen);
				free(files[k]);
			}
			free(files);
		} else
			r = read_file(set, cas, paths[i], &count, why, whylen);
	}
	/*
	 * A large CRL's decoding (a million entries is some 300 MB of OpenSSL objects) is freed by
	 * now; hand those pages back so that a long-lived process keeps only the index.
	 */
	malloc_trim(0);
	if (r != 0) {
		tb_crlset_free(set);
		return r;
	}
	*out = set;
	return 0;
}

size_t
tb_crlset_count(const struct tb_crlset *set, size_t *entries)
{
	size_t i;

	*entries = 0;
	for (i = 0; i < set->n; i++)
		*entries += set->crls[i]->n;
	return set->n;
}

void
tb_crlset_describe(const struct tb_crlset *set, const struct tb_cas *cas,
    void (*fn)(void *arg, const char *line), void *arg)
{
	char line[TB_CRL_WHY_MAX], t1[TB_TIME_TEXT_LEN], t2[TB_TIME_TEXT_LEN];
	size_t i;
	int k;

	for (i = 0; i < set->n; i++) {
		const struct crl *c = set->crls[i];

		tb_time_text(c->this_update, t1);
		if (c->next_update != 0)
			tb_time_text(c->next_update, t2);
		snprintf(line, sizeof(line),
		    "CRL of '%s': thisUpdate %s, nextUpdate %s, %zu entries (%s)", c->issuer_text,
		    t1, c->next_update != 0 ? t2 : "none", c->n, c->file);
		fn(arg, line);
	}
	for (k = 0; k < sk_X509_num(cas->certs); k++) {
		X509_NAME *subject = X509_get_subject_name(sk_X509_value(cas->certs, k));
		char name[TB_CRL_NAME_MAX];

		for (i = 0; i < set->n; i++)
			if (X509_NAME_cmp(set->crls[i]->issuer, subject) == 0)
				break;
		if (i < set->n)
			continue;
		name_text(subject, name);
		snprintf(line, sizeof(line), "no CRL for the CA '%s'", name);
		fn(arg, line);
	}
}

/* The name of a CRLReason code (RFC 5280 section 5.3.1). */
static const char *
reason_name(uint8_t code)
{
	static const char *const names[] = {"unspecified", "keyCompromise", "cACompromise",
	    "affiliationChanged", "superseded", "cessationOfOperation", "certificateHold", "7",
	    "removeFromCRL", "privilegeWithdrawn", "aACompromise"};

	if (code == REASON_NONE)
		return "none given";
	return code < sizeof(names) / sizeof(names[0]) ? names[code] : "unknown";
}

/* The verdict of one CRL on one serial. */
static void
decide(const struct crl *c, const uint8_t *key, uint8_t len, time_t now, struct tb_rev_result *res)
{
	const struct entry *e = lookup(c, key, len);

	snprintf(res->issuer, sizeof(res->issuer), "%s", c->issuer_text);
	if (e != NULL) {
		res->status = TB_REV_REVOKED;
		res->revoked_at = (time_t)e->when;
		res->reason = reason_name(e->reason);
	} else if (c->next_update != 0 && now >= c->next_update) {
		res->status = TB_REV_STALE;
		res->since = c->next_update;
	} else
		res->status = TB_REV_GOOD;
}

int
tb_crlset_check(const struct tb_crlset *set, const unsigned char *issuer_der, size_t issuer_len,
    const char *serial, time_t now, struct tb_rev_result *res)
{
	X509_NAME *issuer = NULL;
	const unsigned char *p = issuer_der;
	uint8_t key[SERIAL_MAX], len;
	size_t i;

	memset(res, 0, sizeof(*res));
	if (serial_key(serial, key, &len) != 0)
		return TB_ERR_INVALID;
	/* the CA's own encoding of its name is the usual case: compare bytes first */
	for (i = 0; i < set->n; i++) {
		if (set->crls[i]->issuer_len == issuer_len &&
		    memcmp(set->crls[i]->issuer_der, issuer_der, issuer_len) == 0) {
			decide(set->crls[i], key, len, now, res);
			return 0;
		}
	}
	if ((issuer = d2i_X509_NAME(NULL, &p, (long)issuer_len)) == NULL)
		return TB_ERR_INVALID;
	for (i = 0; i < set->n; i++) {
		if (X509_NAME_cmp(set->crls[i]->issuer, issuer) == 0) {
			decide(set->crls[i], key, len, now, res);
			X509_NAME_free(issuer);
			return 0;
		}
	}
	res->status = TB_REV_NO_CRL;
	name_text(issuer, res->issuer);
	X509_NAME_free(issuer);
	return 0;
}

int
tb_crlset_check_serial(
    const struct tb_crlset *set, const char *serial, time_t now, struct tb_rev_result *res)
{
	struct tb_rev_result one;
	uint8_t key[SERIAL_MAX], len;
	size_t i;

	memset(res, 0, sizeof(*res));
	if (serial_key(serial, key, &len) != 0)
		return TB_ERR_INVALID;
	res->status = set->n == 0 ? TB_REV_NO_CRL : TB_REV_GOOD;
	for (i = 0; i < set->n; i++) {
		decide(set->crls[i], key, len, now, &one);
		if (one.status == TB_REV_REVOKED) {
			*res = one;
			return 0;
		}
		if (one.status == TB_REV_STALE && res->status == TB_REV_GOOD)
			*res = one;
	}
	return 0;
}

int
tb_crlset_decide(const struct tb_crlset *set, const struct tb_identity *id, time_t now, int lenient,
    const struct tb_log_ctx *log, char *why, size_t whylen)
{
	struct tb_rev_result res;
	char t[TB_TIME_TEXT_LEN];
	int r;

	if (set == NULL)
		return 0;
	if (id->issuer_der != NULL)
		r = tb_crlset_check(set, id->issuer_der, id->issuer_der_len, id->serial, now, &res);
	else
		r = tb_crlset_check_serial(set, id->serial, now, &res);
	if (r != 0) {
		tb_whyf(why, whylen, "its revocation cannot be checked: the serial '%s' is not hex",
		    id->serial);
		return TB_ERR_CLIENT;
	}
	switch (res.status) {
	case TB_REV_GOOD: return 0;
	case TB_REV_REVOKED:
		tb_time_text(res.revoked_at, t);
		tb_whyf(why, whylen,
		    "the certificate is revoked: serial %s, revoked at %s, reason %s, by the CRL "
		    "of "
		    "'%s'",
		    id->serial, t, res.reason, res.issuer);
		return TB_ERR_CLIENT;
	case TB_REV_NO_CRL:
		tb_whyf(why, whylen, "no CRL of the issuer '%s' is loaded", res.issuer);
		break;
	case TB_REV_STALE:
		tb_time_text(res.since, t);
		tb_whyf(why, whylen, "the CRL of '%s' is out of date since %s (its nextUpdate)",
		    res.issuer, t);
		break;
	}
	if (lenient) {
		tb_log(TB_LOG_WARNING, "api.token", log,
		    "Accepted a certificate whose revocation is not known (REVOCATION=lenient): %s",
		    why);
		return 0;
	}
	tb_log(TB_LOG_ERROR, "api.token", log,
	    "Refused a certificate whose revocation is not known (REVOCATION=strict): %s", why);
	return TB_ERR_CLIENT;
}

/* ---- CA binding for the registry's issuer ----------------------------------------------- */

size_t
tb_cas_count_named(const struct tb_cas *cas, const X509_NAME *name)
{
	size_t n = 0;
	int i;

	for (i = 0; i < sk_X509_num(cas->certs); i++)
		if (X509_NAME_cmp(X509_get_subject_name(sk_X509_value(cas->certs, i)), name) == 0)
			n++;
	return n;
}

/* The slot of key in memo: its own, or the free one where it goes. */
static size_t
memo_slot(const struct signed_memo *m, const char *key)
{
	size_t h = 5381, i;

	for (i = 0; key[i] != '\0'; i++)
		h = h * 33 + (unsigned char)key[i];
	for (i = h & (SIGNED_MEMO_SLOTS - 1);
	     m->slot[i].key[0] != '\0' && strcmp(m->slot[i].key, key) != 0;
	     i = (i + 1) & (SIGNED_MEMO_SLOTS - 1))
		;
	return i;
}

int
tb_cas_signed(const struct tb_cas *cas, const X509_NAME *name, X509 *x, const char *digest)
{
	struct signed_memo *m = cas->memo;
	size_t s = 0;
	int i, found = 0, memo;

	/* what is remembered is the answer for the certificate's own issuer, by its digest */
	memo = digest != NULL && strlen(digest) == SIGNED_KEY_LEN &&
	       X509_NAME_cmp(X509_get_issuer_name(x), name) == 0;
	if (memo && m == NULL)
		m = ((struct tb_cas *)cas)->memo = calloc(1, sizeof(*m)); /* the memo is mutable */
	if (memo && m != NULL) {
		s = memo_slot(m, digest);
		if (m->slot[s].key[0] != '\0')
			return m->slot[s].found;
	}
	for (i = 0; i < sk_X509_num(cas->certs) && !found; i++) {
		X509 *ca = sk_X509_value(cas->certs, i);
		EVP_PKEY *key;

		if (X509_NAME_cmp(X509_get_subject_name(ca), name) != 0)
			continue;
		/* a CA with a keyUsage must allow keyCertSign (RFC 5280 section 4.2.1.3) */
		if ((X509_get_extension_flags(ca) & EXFLAG_KUSAGE) != 0 &&
		    (X509_get_key_usage(ca) & KU_KEY_CERT_SIGN) == 0)
			continue;
		found = (key = X509_get0_pubkey(ca)) != NULL && X509_verify(x, key) == 1;
	}
	ERR_clear_error(); /* a key that does not verify leaves its reason behind */
	if (memo && m != NULL) {
		if (m->n >= SIGNED_MEMO_MAX) {
			memset(m, 0, sizeof(*m));
			s = memo_slot(m, digest);
		}
		memcpy(m->slot[s].key, digest, SIGNED_KEY_LEN + 1);
		m->slot[s].found = (unsigned char)found;
		m->n++;
	}
	return found;
}
