/* test_buf.c: bounded buffers refuse to grow past their cap and keep what they had. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "tap.h"

int
main(void)
{
	struct tb_buf b;
	char big[300], *s;

	tb_buf_init(&b, 10);
	is_int(tb_buf_addstr(&b, "hello"), 0, "adds within the cap");
	is_int(tb_buf_addf(&b, "%d", 12345), 0, "formats up to the cap exactly");
	is_str(b.data, "hello12345", "content is kept");
	is_int(tb_buf_addstr(&b, "x"), TB_ERR_LIMIT, "one byte past the cap is refused");
	is_str(b.data, "hello12345", "a refused add leaves the content alone");
	is_int(tb_buf_addf(&b, "%s", "more"), TB_ERR_LIMIT, "formatting past the cap is refused");
	tb_buf_reset(&b);
	is_int((long long)b.len, 0, "reset empties");
	is_str(b.data, "", "reset leaves an empty string");
	tb_buf_free(&b);
	ok(b.data == NULL && b.len == 0, "free leaves an empty buffer");

	tb_buf_init(&b, 1000);
	memset(big, 'a', sizeof(big));
	for (int i = 0; i < 3; i++)
		tb_buf_add(&b, big, sizeof(big));
	is_int((long long)b.len, 900, "grows over several allocations");
	is_int(
	    tb_buf_add(&b, big, sizeof(big)), TB_ERR_LIMIT, "refuses the add that would pass 1000");
	s = tb_buf_detach(&b);
	ok(s != NULL && strlen(s) == 900, "detach hands over the content");
	ok(b.data == NULL && b.len == 0, "detach empties the buffer");
	free(s);
	tb_buf_init(&b, 5);
	s = tb_buf_detach(&b);
	is_str(s, "", "detaching an empty buffer gives an empty string");
	free(s);
	tb_buf_init(&b, (size_t)-1);
	is_int(tb_buf_add(&b, big, (size_t)-1), TB_ERR_LIMIT, "an absurd length cannot overflow");
	tb_buf_free(&b);

	ok(tb_streq_const("abc", "abc"), "constant-time equal");
	ok(!tb_streq_const("abc", "abd"), "constant-time different");
	ok(!tb_streq_const("abc", "abcd"), "constant-time different lengths");
	tb_free_secret(NULL);
	ok(1, "tb_free_secret(NULL) is a no-op");
	return done_testing();
}
