/* text.c: hex digits, RFC 3339 times and refusal reasons, shared by the parsers. */
#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

/* Reads n digits at s as a number; -1 unless they are all digits. */
static int
digits(const char *s, int n)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int
days_in(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

int
tb_rfc3339(const char *s, time_t *out)
{
	struct tm tm;
	size_t n = strlen(s), i;
	int year, mon, day, hh, mm, ss, oh = 0, om = 0, sign = 0;

	if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return TB_ERR_INVALID;
	if ((year = digits(s, 4)) < 0 || (mon = digits(s + 5, 2)) < 1 || mon > 12 ||
	    (day = digits(s + 8, 2)) < 1 || day > days_in(year, mon) ||
	    (hh = digits(s + 11, 2)) < 0 || hh > 23 || (mm = digits(s + 14, 2)) < 0 || mm > 59 ||
	    (ss = digits(s + 17, 2)) < 0 || ss > 59)
		return TB_ERR_INVALID;
	i = 19;
	if (s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == 20)
			return TB_ERR_INVALID;
	}
	if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
		/* UTC */
	} else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
		sign = s[i] == '+' ? 1 : -1;
		if ((oh = digits(s + i + 1, 2)) < 0 || oh > 23 || (om = digits(s + i + 4, 2)) < 0 ||
		    om > 59)
			return TB_ERR_INVALID;
	} else {
		return TB_ERR_INVALID;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	*out = timegm(&tm) - (time_t)sign * (oh * 3600 + om * 60);
	return 0;
}

int
tb_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void
tb_whyf(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

void
tb_time_text(time_t t, char out[TB_TIME_TEXT_LEN])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, TB_TIME_TEXT_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, TB_TIME_TEXT_LEN, "%lld", (long long)t);
}
