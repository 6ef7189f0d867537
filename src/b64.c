/* b64.c: base64 and hex encoding without OpenSSL's BIO machinery (bounded, table-driven). */
#include "b64.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

static const char std_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
tb_b64_encode(const unsigned char *in, size_t n, int flags, char **out)
{
	const char *a = (flags & TB_B64_URL) ? url_alpha : std_alpha;
	size_t i, o = 0;
	char *s;

	*out = NULL;
	if (n > ((size_t)-1) / 2)
		return TB_ERR_LIMIT;
	if ((s = malloc((n + 2) / 3 * 4 + 1)) == NULL)
		return TB_ERR_ALLOC;
	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		s[o++] = a[v >> 18 & 63];
		s[o++] = a[v >> 12 & 63];
		s[o++] = a[v >> 6 & 63];
		s[o++] = a[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)in[i] << 16;
		s[o++] = a[v >> 18 & 63];
		s[o++] = a[v >> 12 & 63];
		if (!(flags & TB_B64_NOPAD)) {
			s[o++] = '=';
			s[o++] = '=';
		}
	} else if (n - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		s[o++] = a[v >> 18 & 63];
		s[o++] = a[v >> 12 & 63];
		s[o++] = a[v >> 6 & 63];
		if (!(flags & TB_B64_NOPAD))
			s[o++] = '=';
	}
	s[o] = '\0';
	*out = s;
	return 0;
}

static int
value(char c, int flags)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (flags & TB_B64_URL) {
		if (c == '-')
			return 62;
		if (c == '_')
			return 63;
	} else {
		if (c == '+')
			return 62;
		if (c == '/')
			return 63;
	}
	return -1;
}

int
tb_b64_decode(const char *in, size_t n, int flags, unsigned char **out, size_t *outlen)
{
	unsigned char *p;
	size_t i, o = 0, pad = 0;
	unsigned acc = 0;
	int bits = 0, v;

	*out = NULL;
	*outlen = 0;
	while (pad < 2 && n > 0 && in[n - 1] == '=') {
		n--;
		pad++;
	}
	/* with padding, the whole must be a multiple of four characters */
	if (pad > 0 && (n + pad) % 4 != 0)
		return TB_ERR_INVALID;
	if (n % 4 == 1)
		return TB_ERR_INVALID;
	if ((p = malloc(n / 4 * 3 + 3)) == NULL)
		return TB_ERR_ALLOC;
	for (i = 0; i < n; i++) {
		if ((v = value(in[i], flags)) < 0) {
			free(p);
			return TB_ERR_INVALID;
		}
		acc = (acc << 6 | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			p[o++] = (unsigned char)(acc >> bits);
		}
	}
	/* leftover bits must be zero (canonical encoding) */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
		free(p);
		return TB_ERR_INVALID;
	}
	p[o] = '\0';
	*out = p;
	*outlen = o;
	return 0;
}

int
tb_hex_encode(const unsigned char *in, size_t n, char sep, char **out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;
	char *s;

	*out = NULL;
	if (n > ((size_t)-1 - 1) / 3)
		return TB_ERR_LIMIT;
	if ((s = malloc(n * 3 + 1)) == NULL)
		return TB_ERR_ALLOC;
	for (i = 0; i < n; i++) {
		if (sep != 0 && i > 0)
			s[o++] = sep;
		s[o++] = hex[in[i] >> 4];
		s[o++] = hex[in[i] & 15];
	}
	s[o] = '\0';
	*out = s;
	return 0;
}
