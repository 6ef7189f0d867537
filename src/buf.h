/* buf.h: growable byte buffers with a hard cap (curl's dynbuf), always NUL-terminated. */
#ifndef TB_BUF_H
#define TB_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct tb_buf {
	char *data; /* NUL-terminated; NULL until something is added */
	size_t len; /* bytes in use, not counting the NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* the most len may ever be */
};

/* Starts an empty buffer that may hold up to max bytes. */
void tb_buf_init(struct tb_buf *b, size_t max);
/* Wipes and frees the contents; the buffer may be used again (empty, same max). */
void tb_buf_free(struct tb_buf *b);
/* Empties the buffer, keeping its memory. */
void tb_buf_reset(struct tb_buf *b);
/* Appends n bytes; TB_ERR_LIMIT past max (the buffer keeps what it had). */
int tb_buf_add(struct tb_buf *b, const void *p, size_t n);
int tb_buf_addstr(struct tb_buf *b, const char *s);
int tb_buf_addf(struct tb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* tb_buf_addf with a va_list; format(printf, 2, 0) lets -Wformat=2 accept the passed-on fmt. */
int tb_buf_vaddf(struct tb_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Hands the contents over to the caller (never NULL: "" when empty) and empties the buffer. */
char *tb_buf_detach(struct tb_buf *b);

/* Frees a secret after overwriting it; NULL is a no-op. */
void tb_free_secret(char *s);
/* strdup that returns NULL for NULL. */
char *tb_strdup(const char *s);
/* Compares two NUL-terminated strings in time that depends only on their lengths. */
int tb_streq_const(const char *a, const char *b);

#endif
