/* flow.h: the authentication flows of AUTH_FLOWS: which credential a request carries, and whose. */
#ifndef TB_FLOW_H
#define TB_FLOW_H

#include <time.h>

#include "cert.h"
#include "certcache.h"
#include "config.h"
#include "request.h"

/*
 * Authenticates the client of req with the first flow in cfg's AUTH_FLOWS order whose credential
 * is present (a certificate in SSL_CLIENT_CERT; the load balancer's present header), at now.
 * 0 and *out (the caller's), with client_id and flow set; or TB_ERR_CLIENT with the reason in why
 * (for the log, never for the client). Certificates are parsed through cache (NULL: none).
 */
int tb_flow_authenticate(const struct tb_config *cfg, struct tb_certcache *cache,
    const struct tb_request *req, time_t now, struct tb_identity **out, char *why, size_t whylen);

/* The most request variables the flows read: SSL_CLIENT_CERT and _VERIFY, the load balancer's. */
#define TB_FLOW_VARS_MAX (2 + TB_XLB_HEADERS + 1)

/*
 * The names of the request variables that cfg's flows read (HTTP_X_CLIENT_CERT_HASH for the
 * load balancer's X-Client-Cert-Hash) into names, at most TB_FLOW_VARS_MAX. How many.
 */
size_t tb_flow_vars(const struct tb_config *cfg, char names[][TB_HEADER_VAR_MAX + 1]);

#endif
