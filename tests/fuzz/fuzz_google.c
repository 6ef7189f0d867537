/* fuzz_google.c: libFuzzer target for the readers of every Google reply (google.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "err.h"
#include "google.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * An input is "READER STATUS\n" and the body: READER is one of the names below, STATUS a decimal
 * HTTP status. The corpus files stay readable (sts-ok.json starts "sts 200"), and the fuzzer
 * reaches every reader and every class of status from them.
 */
#define HEAD_MAX 32              /* the first line */
#define NOW ((time_t)1795392000) /* 2026-11-23T00:00:00Z; the corpus's expireTime is later */
#define STATUS_MAX 999

enum reader { STS, IAM, JWT, META_TOKEN, META_EMAIL, READERS };
static const char *const names[READERS] = {"sts", "iam", "jwt", "metatoken", "email"};

/* Every code a reader may return (google.h); anything else is a bug. */
static int
documented(int r)
{
	return r == 0 || r == TB_ERR_DENIED || r == TB_ERR_UNAVAILABLE || r == TB_ERR_UPSTREAM ||
	       r == TB_ERR_ALLOC;
}

/* What google.h documents for a status other than 2xx: 5xx, 408, 429 retry; 4xx refused. */
static int
refusal(long status)
{
	if (status == 408 || status == 429 || (status >= 500 && status <= 599))
		return TB_ERR_UNAVAILABLE;
	if (status >= 400 && status <= 499)
		return TB_ERR_DENIED;
	return TB_ERR_UPSTREAM;
}

/* The detail: NUL-terminated inside its buffer and printable (it goes into a log and a body). */
static void
check_detail(const char *detail)
{
	size_t n = strnlen(detail, TB_DETAIL_MAX);

	if (n == TB_DETAIL_MAX)
		abort();
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)detail[i] < 0x20 || detail[i] == 0x7f)
			abort();
	}
}

/* A token the broker hands on: printable ASCII without spaces (it goes into a header). */
static void
check_token(const char *s)
{
	if (s == NULL || *s == '\0')
		abort();
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s > 0x7e)
			abort();
	}
}

/* What holds for every reader: the code, the detail, and the status class against the code. */
static void
check(int r, long status, const char *detail, const char *result)
{
	int ok2xx = status >= 200 && status <= 299;

	if (!documented(r))
		abort();
	check_detail(detail);
	if ((r == 0) != (result != NULL))
		abort();
	if (r == 0 && (!ok2xx || detail[0] != '\0'))
		abort();
	/* a 2xx answer is never a refusal; any other answer always is one */
	if (ok2xx && (r == TB_ERR_DENIED || r == TB_ERR_UNAVAILABLE))
		abort();
	if (!ok2xx && (r == 0 || (r != TB_ERR_ALLOC && detail[0] == '\0')))
		abort();
	if (ok2xx && r != 0 && r != TB_ERR_ALLOC && detail[0] == '\0')
		abort();
	if (!ok2xx && r != TB_ERR_ALLOC && r != refusal(status))
		abort();
}

static void
run(enum reader which, long status, const char *body, size_t len)
{
	char detail[TB_DETAIL_MAX], *out = NULL;
	int64_t expires_in = -1;
	int r;

	memset(detail, 'x', sizeof(detail)); /* a reader must terminate it itself */
	switch (which) {
	case STS: r = tb_google_read_sts(status, body, len, &out, &expires_in, detail); break;
	case IAM:
		r = tb_google_read_access_token(status, body, len, NOW, &out, &expires_in, detail);
		break;
	case JWT:
		r = tb_google_read_signed_jwt(status, body, len, &out, detail);
		expires_in = out != NULL ? 1 : 0;
		break;
	case META_TOKEN:
		r = tb_google_read_metadata_token(status, body, len, &out, &expires_in, detail);
		break;
	default:
		r = tb_google_read_metadata_email(status, body, len, &out, detail);
		expires_in = out != NULL ? 1 : 0;
		break;
	}
	check(r, status, detail, out);
	if (r == 0) {
		check_token(out);
		if (expires_in <= 0)
			abort();
		/* a compact JWS has three parts; an email has one @ */
		if (which == JWT && strchr(strchr(out, '.') + 1, '.') == NULL)
			abort();
		if (which == META_EMAIL && strchr(out, '@') == NULL)
			abort();
	} else if (expires_in != 0 && which != JWT && which != META_EMAIL) {
		abort();
	}
	tb_free_secret(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size < HEAD_MAX ? size : HEAD_MAX);
	char head[HEAD_MAX + 1], *sp, *end, *body = NULL;
	size_t hlen, len;
	long status;
	int which;

	if (nl == NULL)
		return 0;
	hlen = (size_t)(nl - (const char *)data);
	memcpy(head, data, hlen);
	head[hlen] = '\0';
	if ((sp = strchr(head, ' ')) == NULL)
		return 0;
	*sp++ = '\0';
	status = strtol(sp, &end, 10);
	if (end == sp || *end != '\0' || status < 0 || status > STATUS_MAX)
		return 0;
	for (which = 0; which < READERS && strcmp(head, names[which]) != 0; which++)
		;
	if (which == READERS)
		return 0;
	/* the body in a buffer of its own length, so that ASan sees any read past it */
	len = size - hlen - 1;
	if (len > TB_UPSTREAM_MAX || (len > 0 && (body = malloc(len)) == NULL))
		return 0;
	if (len > 0)
		memcpy(body, nl + 1, len);
	run((enum reader)which, status, body, len);
	free(body);
	return 0;
}
