/* text.h: small textual formats more than one module reads: hex digits, RFC 3339 times, and
 * the one-line reasons that refusals leave for the log. */
#ifndef TB_TEXT_H
#define TB_TEXT_H

#include <stddef.h>
#include <time.h>

/* The value of a hex digit (either case), or -1. */
int tb_hexval(int c);

/*
 * Parses an RFC 3339 date-time with seconds, an optional fraction and a Z or +hh:mm offset
 * ("2023-08-30T01:13:00+00:00", "2026-11-23T17:00:00.5Z") into epoch seconds; the fraction
 * is dropped. 0, or TB_ERR_INVALID for anything else (including impossible dates).
 */
int tb_rfc3339(const char *s, time_t *out);

#define TB_TIME_TEXT_LEN 32 /* "2026-12-01T21:30:00Z" and a NUL, or a number of seconds */

/* t as RFC 3339 UTC text ("2026-12-01T21:30:00Z"), for logs and reports. */
void tb_time_text(time_t t, char out[TB_TIME_TEXT_LEN]);

/* Writes a printf-style reason into why (whylen bytes, always terminated); why may be NULL. */
void tb_whyf(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
