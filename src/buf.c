/* buf.c: bounded growable buffers and small string helpers. */
#include "buf.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define TB_BUF_MIN 64

void
tb_buf_init(struct tb_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
tb_buf_free(struct tb_buf *b)
{
	if (b->data != NULL) {
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
tb_buf_reset(struct tb_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/* Makes room for n more bytes plus the NUL. */
static int
grow(struct tb_buf *b, size_t n)
{
	size_t need, ncap;
	char *p;

	/* len + n + 1 must not pass max + 1, nor wrap around */
	if (n > b->max || b->len > b->max - n || b->len + n == (size_t)-1)
		return TB_ERR_LIMIT;
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap < TB_BUF_MIN ? TB_BUF_MIN : b->cap;
	while (ncap < need)
		ncap = ncap > ((size_t)-1) / 2 ? need : ncap * 2;
	if (ncap - 1 > b->max)
		ncap = b->max + 1;
	/* realloc would leave a copy of secrets behind in the old block */
	if ((p = malloc(ncap)) == NULL)
		return TB_ERR_ALLOC;
	if (b->data != NULL) {
		memcpy(p, b->data, b->len + 1);
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	b->data = p;
	b->cap = ncap;
	return 0;
}

int
tb_buf_add(struct tb_buf *b, const void *p, size_t n)
{
	int r;

	if ((r = grow(b, n)) != 0)
		return r;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
tb_buf_addstr(struct tb_buf *b, const char *s)
{
	return tb_buf_add(b, s, strlen(s));
}

int
tb_buf_vaddf(struct tb_buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n, r;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return TB_ERR_INVALID;
	if ((r = grow(b, (size_t)n)) != 0)
		return r;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
tb_buf_addf(struct tb_buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = tb_buf_vaddf(b, fmt, ap);
	va_end(ap);
	return r;
}

char *
tb_buf_detach(struct tb_buf *b)
{
	char *p = b->data;

	if (p == NULL)
		p = strdup("");
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

void
tb_free_secret(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

char *
tb_strdup(const char *s)
{
	return s == NULL ? NULL : strdup(s);
}

int
tb_streq_const(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la != lb)
		return 0;
	return CRYPTO_memcmp(a, b, la) == 0;
}
