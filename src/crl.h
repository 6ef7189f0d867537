/* crl.h: the client CAs (CLIENT_CA_FILE) and their CRLs (CRL_FILES), verified and indexed. */
#ifndef TB_CRL_H
#define TB_CRL_H

#include <stddef.h>
#include <time.h>

#define TB_CRL_FILE_MAX (64 * 1024 * 1024) /* bytes of one CRL file, fetched or read */
#define TB_CA_FILE_MAX (4 * 1024 * 1024)   /* bytes of CLIENT_CA_FILE */
#define TB_CRL_WHY_MAX (4096 + 512)        /* a path of PATH_MAX bytes and a reason */
#define TB_CRL_NAME_MAX 512                /* an issuer name as RFC 4514 text, for logs */

struct tb_cas;    /* the CA certificates of CLIENT_CA_FILE */
struct tb_crlset; /* the CRLs in force: for each CA at most one, the newest; immutable */

/*
 * Reads CLIENT_CA_FILE (a PEM bundle of CA certificates; the file rule of TB_FILE_TRUSTED).
 * *out is the caller's (tb_cas_free). TB_ERR_CONFIG etc. with "FILE: reason" in why.
 */
int tb_cas_load(const char *path, struct tb_cas **out, char *why, size_t whylen);
void tb_cas_free(struct tb_cas *cas);

/*
 * Reads every CRL that the n paths name: a file (PEM holding one or more CRLs, or one DER CRL)
 * or a directory (each regular file in it whose name does not start with '.'). Each CRL must be
 * issued by a CA of cas (its issuer name equal to the CA's subject, compared as names) and its
 * signature must verify with that CA's key; a delta CRL, an indirect CRL, or one that covers
 * only some reasons or only CA or attribute certificates is refused, and so is an unparsable
 * file. Where several CRLs have the same issuer the newest (by thisUpdate, then CRL number) is
 * kept. All or nothing: on any problem nothing is returned and why names the file and the
 * reason. *out is the caller's (tb_crlset_free).
 */
int tb_crlset_load(const struct tb_cas *cas, char *const *paths, size_t n, struct tb_crlset **out,
    char *why, size_t whylen);
void tb_crlset_free(struct tb_crlset *set);

/*
 * The CRLs in data (PEM, one or more; or one DER CRL; NUL-terminated after len bytes), verified
 * as tb_crlset_load verifies a
 * file; name stands for the file in reasons (a URL for --fetch-crls). *out is the caller's.
 */
int tb_crlset_parse(const struct tb_cas *cas, const char *data, size_t len, const char *name,
    struct tb_crlset **out, char *why, size_t whylen);

/*
 * 1 when a holds a CRL that is newer (by thisUpdate, then CRL number) than b's CRL of the same
 * issuer, or whose issuer b has no CRL of; else 0 (for --fetch-crls: keep only what is newer).
 */
int tb_crlset_newer(const struct tb_crlset *a, const struct tb_crlset *b);

/* 1 when the set holds at least one CRL and none is past its nextUpdate at now. */
int tb_crlset_current(const struct tb_crlset *set, time_t now);

/* How many CRLs are in force, and how many revoked serials they hold between them. */
size_t tb_crlset_count(const struct tb_crlset *set, size_t *entries);

/*
 * Calls fn once for each CRL in force with a line for --check-config: the issuer,
 * thisUpdate, nextUpdate and the number of entries; and once for each CA without a CRL.
 */
void tb_crlset_describe(const struct tb_crlset *set, const struct tb_cas *cas,
    void (*fn)(void *arg, const char *line), void *arg);

enum tb_revocation {
	TB_REV_GOOD,    /* a current CRL of its issuer does not list it */
	TB_REV_REVOKED, /* listed: revoked_at and reason say when and why */
	TB_REV_NO_CRL,  /* no CRL of its issuer is loaded */
	TB_REV_STALE, /* its issuer's CRL is past nextUpdate (not listed in it): since says when */
};

/* What a revocation check found. */
struct tb_rev_result {
	enum tb_revocation status;
	time_t revoked_at;            /* TB_REV_REVOKED */
	const char *reason;           /* TB_REV_REVOKED: the CRL reason code's name (static) */
	time_t since;                 /* TB_REV_STALE: the CRL's nextUpdate */
	char issuer[TB_CRL_NAME_MAX]; /* the issuer (of the CRL that decided, or the certificate's)
	                               */
};

/*
 * Looks up a certificate by its issuer (the DER of its issuer Name) and serial (colon hex of
 * the DER INTEGER's content octets, as x5_serial; a leading 00 is not significant) at now.
 * The cost does not depend on the number of entries (a hash index).
 * 0 and *res, or TB_ERR_INVALID for an issuer or serial that cannot be read.
 */
int tb_crlset_check(const struct tb_crlset *set, const unsigned char *issuer_der, size_t issuer_len,
    const char *serial, time_t now, struct tb_rev_result *res);

/*
 * The load balancer's flow passes no issuer: the serial (hex, colons optional, any case) is
 * looked up in every CRL in force. TB_REV_REVOKED when any lists it; else TB_REV_NO_CRL when
 * none is loaded, TB_REV_STALE when one is past its nextUpdate, else TB_REV_GOOD.
 */
int tb_crlset_check_serial(
    const struct tb_crlset *set, const char *serial, time_t now, struct tb_rev_result *res);

struct tb_identity;
struct tb_log_ctx;

/*
 * The revocation decision for an authenticated identity (doc/contract.md section 9), with set NULL
 * when CRL_FILES is unset (then always 0): a certificate with its issuer is looked up in its
 * issuer's CRL, the load balancer's serial in every CRL. 0 to go on, or TB_ERR_CLIENT with the
 * reason in why (revoked: serial, time, reason and CRL). A missing or out-of-date CRL logs an
 * ERROR line and refuses, or with lenient logs a WARNING and goes on; log is the request's.
 */
int tb_crlset_decide(const struct tb_crlset *set, const struct tb_identity *id, time_t now,
    int lenient, const struct tb_log_ctx *log, char *why, size_t whylen);

struct X509_name_st; /* OpenSSL's X509_NAME */
struct x509_st;      /* OpenSSL's X509 */

/* How many CA certificates of cas have this subject (compared as names), for issuer bindings. */
size_t tb_cas_count_named(const struct tb_cas *cas, const struct X509_name_st *name);

/*
 * 1 when the signature of x verifies with the key of a CA certificate of cas whose subject is
 * name (and whose keyUsage, if any, allows keyCertSign); else 0. For the registry's issuer
 * binding (doc/contract.md section 5): no other trusted CA can issue a certificate that matches.
 * digest (x's SHA-256 in unpadded base64, or NULL) lets cas remember the answer for x when name
 * is x's own issuer, so the signature of a certificate is checked once per CA set.
 */
int tb_cas_signed(const struct tb_cas *cas, const struct X509_name_st *name, struct x509_st *x,
    const char *digest);

#endif
