/* fuzz_cert.c: libFuzzer target for cert.c: certificate values, DER, load-balancer headers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "cert.h"
#include "err.h"

#define NOW                                                                                        \
	((time_t)1795392000) /* 2026-11-23T00:00:00Z: inside the seed certificates' validity       \
	                      */
#define DER_MAX (16 * 1024)  /* raw inputs wrapped as PEM stay under TB_CERT_PEM_MAX */
#define HEADERS_MAX 4096     /* load-balancer header input */

/*
 * doc/contract.md section 4: x5_sha256 is the unpadded standard base64 of the digest, and cnf's
 * x5t#S256 the base64url of the same digest, whichever flow produced them: one certificate, one
 * spelling (a registry entry or a relying party compares the strings).
 */
static void
canonical(const struct tb_identity *id)
{
	unsigned char *h = NULL;
	char *std = NULL, *url = NULL;
	size_t n = 0;

	if (tb_b64_decode(id->sha256, strlen(id->sha256), TB_B64_STD, &h, &n) != 0 || n != 32)
		abort();
	/* cppcheck-suppress badBitmaskCheck ; TB_B64_STD is 0: named to say which alphabet */
	if (tb_b64_encode(h, n, TB_B64_STD | TB_B64_NOPAD, &std) != 0 ||
	    tb_b64_encode(h, n, TB_B64_URL | TB_B64_NOPAD, &url) != 0)
		abort();
	if (strcmp(std, id->sha256) != 0 || strcmp(url, id->x5t_s256) != 0)
		abort();
	free(h);
	free(std);
	free(url);
}

/* An accepted identity must be whole: every attribute set, the reason empty. */
static void
check(int r, const struct tb_identity *id, const char *why)
{
	if (strlen(why) >= TB_WHY_MAX)
		abort();
	if (r != 0) {
		if (id != NULL || (r == TB_ERR_CLIENT && why[0] == '\0'))
			abort();
		return;
	}
	if (id == NULL || id->sha256 == NULL || id->x5t_s256 == NULL || id->sha1 == NULL ||
	    id->serial == NULL || id->dns_san == NULL || id->uri_san == NULL ||
	    id->spiffe == NULL || id->subject == NULL)
		abort();
	if (strlen(id->sha256) != 43 || strlen(id->x5t_s256) != 43)
		abort();
	canonical(id);
}

static void
as_value(const uint8_t *data, size_t size)
{
	struct tb_identity *id = NULL;
	unsigned char *der = NULL;
	char why[TB_WHY_MAX];
	size_t len = 0;
	int r;

	if (tb_cert_pem_to_der((const char *)data, size, &der, &len) == 0 &&
	    (der == NULL || len == 0))
		abort();
	free(der);
	r = tb_cert_identity((const char *)data, size, NOW, &id, why, sizeof(why));
	check(r, id, why);
	tb_identity_free(id);
}

/* The input as DER inside a well-formed PEM block, so the fuzzer reaches X.509 parsing quickly. */
static void
as_der(const uint8_t *data, size_t size)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----\n",
	                  end[] = "\n-----END CERTIFICATE-----\n";
	struct tb_identity *id = NULL;
	char why[TB_WHY_MAX], *b64 = NULL, *pem;
	size_t n;
	int r;

	if (size > DER_MAX || tb_b64_encode(data, size, TB_B64_STD, &b64) != 0)
		return;
	n = strlen(b64);
	if ((pem = malloc(sizeof(begin) + n + sizeof(end))) != NULL) {
		memcpy(pem, begin, sizeof(begin) - 1);
		memcpy(pem + sizeof(begin) - 1, b64, n);
		memcpy(pem + sizeof(begin) - 1 + n, end, sizeof(end));
		r = tb_cert_identity(pem, strlen(pem), NOW, &id, why, sizeof(why));
		check(r, id, why);
		tb_identity_free(id);
		free(pem);
	}
	free(b64);
}

/* The input as newline-separated header values, in enum order, then the client id. */
static void
as_headers(const uint8_t *data, size_t size)
{
	const char *values[TB_XLB_HEADERS] = {NULL};
	const char *client_id = NULL;
	struct tb_identity *id = NULL;
	char why[TB_WHY_MAX], *text, *p, *nl;
	int i, r;

	if (size > HEADERS_MAX || (text = malloc(size + 1)) == NULL)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	for (p = text, i = 0; p != NULL && i <= TB_XLB_HEADERS; i++) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl = '\0';
		/* a lone "-" stands for an absent header */
		if (i < TB_XLB_HEADERS)
			values[i] = strcmp(p, "-") == 0 ? NULL : p;
		else
			client_id = p;
		p = nl != NULL ? nl + 1 : NULL;
	}
	r = tb_cert_identity_xlb(values, client_id, NOW, &id, why, sizeof(why));
	check(r, id, why);
	tb_identity_free(id);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	as_value(data, size);
	as_der(data, size);
	as_headers(data, size);
	return 0;
}
