/* b64.h: base64 in both alphabets (RFC 4648 sections 4 and 5), and hex. */
#ifndef TB_B64_H
#define TB_B64_H

#include <stddef.h>

enum tb_b64_flags {
	TB_B64_STD = 0,  /* standard alphabet, '=' padding */
	TB_B64_URL = 1,  /* URL-safe alphabet */
	TB_B64_NOPAD = 2 /* no '=' padding */
};

/* Encodes n bytes into a new NUL-terminated string (*out, caller frees). */
int tb_b64_encode(const unsigned char *in, size_t n, int flags, char **out);
/*
 * Decodes base64 in the alphabet flags names, padded or not, into a new buffer (*out, caller
 * frees, NUL-terminated for convenience; *outlen excludes the NUL). Whitespace is refused.
 */
int tb_b64_decode(const char *in, size_t n, int flags, unsigned char **out, size_t *outlen);
/* Lower-case hex, with sep between bytes when sep != 0; into a new string. */
int tb_hex_encode(const unsigned char *in, size_t n, char sep, char **out);

#endif
