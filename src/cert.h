/* cert.h: a client certificate, or the load balancer's headers about one, into an identity. */
#ifndef TB_CERT_H
#define TB_CERT_H

#include <stddef.h>
#include <time.h>

#define TB_CERT_PEM_MAX (64 * 1024) /* longest SSL_CLIENT_CERT value accepted */
#define TB_CERT_SANS_MAX 1024       /* DNS or URI SANs of one kind: groups try each of them */
#define TB_WHY_MAX 256              /* room for the logged reason of a refusal */

struct x509_st; /* OpenSSL's X509 */

/*
 * What the broker knows of an authenticated client. Every string is owned by the identity and
 * never NULL once built: an attribute the certificate lacks is "". The SAN lists hold every
 * SAN of the kind in certificate order (or header order), and are NULL when there is none.
 */
struct tb_identity {
	char *sha256;   /* unpadded standard base64 of SHA-256 over the DER: x5_sha256 */
	char *x5t_s256; /* the same digest in unpadded base64url: cnf.x5t#S256 (RFC 8705) */
	char *sha1;     /* lower-case hex SHA-1 over the DER, no separators ("" for headers) */
	char *serial;   /* lower-case colon hex of the DER INTEGER's content octets: x5_serial */
	char *dns_san;  /* first dNSName SAN: x5_dnssan */
	char *uri_san;  /* first URI SAN, even when it is the SPIFFE ID: x5_urisan */
	char *spiffe;   /* first URI SAN with the spiffe scheme: x5_spiffe */
	char *subject;  /* subject DN as RFC 4514 (OpenSSL XN_FLAG_RFC2253) */
	unsigned char
	    *subject_der; /* DER of the subject Name, for registry matching (NULL for headers) */
	size_t subject_der_len;
	unsigned char *issuer_der; /* DER of the issuer Name, for revocation (NULL for headers) */
	size_t issuer_der_len;
	time_t not_before, not_after; /* 0 when unknown (load-balancer headers without them) */
	char **dns_sans; /* every dNSName SAN, for registry groups: ndns_sans of them */
	size_t ndns_sans;
	char **uri_sans; /* every URI SAN, SPIFFE IDs included: nuri_sans of them */
	size_t nuri_sans;
	struct x509_st *cert; /* the parsed certificate, for issuer binding (NULL for headers) */
	char *client_id;      /* set by the flow: the attribute MTLS_CLIENT_ID names, or a header */
	const char *flow;     /* static flow name, for amr */
	/*
	 * A view (tb_identity_view) borrows every member above but client_id and flow from base,
	 * which it holds a reference to; refs counts the holders of an identity beyond its first.
	 */
	struct tb_identity *base;
	unsigned refs;
};

/* Drops a reference: the identity is freed with its last holder. */
void tb_identity_free(struct tb_identity *id);

/*
 * A new identity for one request that shares base's certificate data (and holds a reference to
 * it) but has its own client_id and flow, both unset. NULL when out of memory.
 */
struct tb_identity *tb_identity_view(struct tb_identity *base);

/* Refuses (TB_ERR_CLIENT and why) a certificate identity outside its validity period at now. */
int tb_identity_check_validity(const struct tb_identity *id, time_t now, char *why, size_t whylen);

/*
 * Decodes an SSL_CLIENT_CERT value into DER: PEM with newlines, PEM whose newlines became spaces
 * (or tabs), and percent-encoded PEM (nginx $ssl_client_escaped_cert). Exactly one CERTIFICATE
 * block; anything but whitespace before or after it is refused. *der is the caller's.
 */
int tb_cert_pem_to_der(const char *value, size_t len, unsigned char **der, size_t *der_len);

/*
 * Builds an identity from an SSL_CLIENT_CERT value (any form tb_cert_pem_to_der takes). Refuses
 * (TB_ERR_CLIENT, with the reason written into why) a certificate that cannot be parsed, one
 * outside its validity period at now, one that is a CA (basicConstraints CA:TRUE), and one with
 * more than TB_CERT_SANS_MAX DNS or URI SANs. client_id and flow are left for the caller.
 */
int tb_cert_identity(
    const char *value, size_t len, time_t now, struct tb_identity **out, char *why, size_t whylen);

/* The headers a Google external load balancer adds about the client certificate. */
enum tb_xlb_header {
	TB_XLB_PRESENT,
	TB_XLB_CHAIN_VERIFIED,
	TB_XLB_ERROR,
	TB_XLB_SHA256,
	TB_XLB_SPIFFE,
	TB_XLB_URI_SANS,
	TB_XLB_DNS_SANS,
	TB_XLB_SERIAL,
	TB_XLB_NOT_BEFORE,
	TB_XLB_NOT_AFTER,
	TB_XLB_HEADERS
};

/*
 * Builds an identity from the load balancer's header values (indexed by enum tb_xlb_header, NULL
 * when absent), as the original service did: the chain-verified header must be "true"
 * (case-insensitive); SAN headers are base64 comma lists: the first is dns_san or uri_san, and
 * every non-empty element (each printable, at most TB_CERT_SANS_MAX) goes in the lists; the
 * validity headers (RFC 3339), when present, are checked against now. client_id is the value of
 * the configured client-id header and must not be empty. TB_ERR_CLIENT and why on refusal.
 */
int tb_cert_identity_xlb(const char *const values[TB_XLB_HEADERS], const char *client_id,
    time_t now, struct tb_identity **out, char *why, size_t whylen);

#endif
