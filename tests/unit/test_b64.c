/* test_b64.c: base64 (RFC 4648 section 10 vectors, both alphabets) and hex. */
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "err.h"
#include "tap.h"

static const struct {
	const char *in, *std, *url_nopad;
} vectors[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
    {"\xfb\xff\xbf", "+/+/", "-_-_"},
};

static const struct {
	const char *in;
	int flags, want;
} bad[] = {
    {"Zg=", TB_B64_STD, TB_ERR_INVALID},   /* padding that does not make a quad */
    {"Z", TB_B64_STD, TB_ERR_INVALID},     /* one character cannot encode a byte */
    {"Zm 9v", TB_B64_STD, TB_ERR_INVALID}, /* whitespace refused */
    {"-_-_", TB_B64_STD, TB_ERR_INVALID},  /* URL alphabet in standard mode */
    {"+/+/", TB_B64_URL, TB_ERR_INVALID},  /* standard alphabet in URL mode */
    {"Zh", TB_B64_STD, TB_ERR_INVALID},    /* non-zero trailing bits */
    {"Zg===", TB_B64_STD, TB_ERR_INVALID},
};

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		char *s = NULL;
		unsigned char *d = NULL;
		size_t n = strlen(vectors[i].in), dn = 0;

		ok(tb_b64_encode((const unsigned char *)vectors[i].in, n, TB_B64_STD, &s) == 0,
		    "encode '%s'", vectors[i].std);
		is_str(s, vectors[i].std, "standard form of vector %zu", i);
		free(s);
		ok(tb_b64_encode(
		       (const unsigned char *)vectors[i].in, n, TB_B64_URL | TB_B64_NOPAD, &s) == 0,
		    "encode url %zu", i);
		is_str(s, vectors[i].url_nopad, "url unpadded form of vector %zu", i);
		free(s);
		ok(tb_b64_decode(vectors[i].std, strlen(vectors[i].std), TB_B64_STD, &d, &dn) ==
		            0 &&
		        dn == n && memcmp(d, vectors[i].in, n) == 0,
		    "decode standard vector %zu", i);
		free(d);
		ok(tb_b64_decode(vectors[i].url_nopad, strlen(vectors[i].url_nopad), TB_B64_URL, &d,
		       &dn) == 0 &&
		        dn == n && memcmp(d, vectors[i].in, n) == 0,
		    "decode url vector %zu", i);
		free(d);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned char *d = (unsigned char *)"x";
		size_t dn = 1;

		is_int(tb_b64_decode(bad[i].in, strlen(bad[i].in), bad[i].flags, &d, &dn),
		    bad[i].want, "refuses '%s'", bad[i].in);
		ok(d == NULL && dn == 0, "no output for '%s'", bad[i].in);
	}
	{
		char *h = NULL;
		const unsigned char in[] = {0x00, 0xc9, 0x7f, 0xff};

		ok(tb_hex_encode(in, sizeof(in), ':', &h) == 0, "hex with separator");
		is_str(h, "00:c9:7f:ff", "lower-case colon hex");
		free(h);
		ok(tb_hex_encode(in, sizeof(in), 0, &h) == 0, "hex without separator");
		is_str(h, "00c97fff", "plain hex");
		free(h);
		/* n * 3 + 1 would wrap to 3 bytes here; nothing of in is read before the check */
		h = (char *)1;
		is_int(tb_hex_encode(in, ((size_t)-1) / 3 + 1, ':', &h), TB_ERR_LIMIT,
		    "a length whose hex would not fit in size_t is refused");
		ok(h == NULL, "with no output");
	}
	return done_testing();
}
