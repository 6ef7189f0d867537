/* test_text.c: RFC 3339 times, hex digits and reasons. */
#include <string.h>

#include "err.h"
#include "tap.h"
#include "text.h"

static const struct {
	const char *s;
	long long want; /* -1: refused */
} times[] = {
    {"2023-08-30T01:13:00+00:00", 1693357980},
    {"2023-08-30T01:13:00Z", 1693357980},
    {"2023-08-30t01:13:00z", 1693357980},
    {"2023-08-30T03:13:00+02:00", 1693357980},
    {"2023-08-29T23:13:00-02:00", 1693357980},
    {"2023-08-30T01:13:00.123456789Z", 1693357980},
    {"2024-02-29T00:00:00Z", 1709164800},
    {"2023-02-29T00:00:00Z", -1}, /* not a leap year */
    {"2023-13-01T00:00:00Z", -1},
    {"2023-08-30T24:00:00Z", -1},
    {"2023-08-30T01:13Z", -1},
    {"2023-08-30T01:13:00", -1},
    {"2023-08-30T01:13:00.Z", -1},
    {"2023-08-30T01:13:00+0000", -1},
    {"2023-08-30 01:13:00Z", -1},
    {"2023-08-30T01:13:00Zjunk", -1},
    {"", -1},
};

int
main(void)
{
	char why[16];
	size_t i;

	for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		time_t t = 0;
		int r = tb_rfc3339(times[i].s, &t);

		if (times[i].want < 0)
			is_int(r, TB_ERR_INVALID, "refuses '%s'", times[i].s);
		else
			ok(r == 0 && (long long)t == times[i].want, "'%s' is %lld (got %lld)",
			    times[i].s, times[i].want, (long long)t);
	}
	is_int(tb_hexval('0'), 0, "hex 0");
	is_int(tb_hexval('f'), 15, "hex f");
	is_int(tb_hexval('F'), 15, "hex F");
	is_int(tb_hexval('g'), -1, "not hex g");
	is_int(tb_hexval('\0'), -1, "not hex NUL");
	tb_whyf(why, sizeof(why), "%s %d", "a long reason that is cut", 42);
	is_int((long long)strlen(why), (long long)sizeof(why) - 1, "a reason is cut to its buffer");
	tb_whyf(NULL, 0, "nothing %d", 1);
	ok(1, "a NULL reason buffer is fine");
	return done_testing();
}
