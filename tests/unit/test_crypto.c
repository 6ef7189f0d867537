/* test_crypto.c: digests (FIPS 180 vectors), randomness and UUIDs. */
#include <string.h>

#include "b64.h"
#include "crypto.h"
#include "tap.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * UUIDs come from a pool of random bytes: 1000 are distinct and well-formed, and a child made
 * by fork (the --workers supervisor forks) draws none of its parent's (the pool is emptied in
 * the child).
 */
static void
test_uuid_pool(void)
{
	static char seen[1000][TB_UUID_LEN + 1];
	char mine[TB_UUID_LEN + 1] = "", theirs[TB_UUID_LEN + 1] = "";
	int fds[2], status = 0, dup = 0, bad = 0, i, j;
	pid_t pid;

	for (i = 0; i < 1000; i++) {
		bad +=
		    tb_uuid4(seen[i]) != 0 || seen[i][14] != '4' || strlen(seen[i]) != TB_UUID_LEN;
		for (j = 0; j < i && !dup; j++)
			dup = strcmp(seen[i], seen[j]) == 0;
	}
	ok(!bad && !dup, "1000 UUIDs from the pool: well-formed, none twice");
	fflush(stdout); /* else the child's exit may write the TAP lines buffered so far again */
	if (pipe(fds) != 0 || (pid = fork()) < 0) {
		ok(0, "pipe and fork");
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		if (tb_uuid4(theirs) != 0 || write(fds[1], theirs, TB_UUID_LEN) != TB_UUID_LEN)
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	ok(read(fds[0], theirs, TB_UUID_LEN) == TB_UUID_LEN, "the child made a UUID");
	close(fds[0]);
	waitpid(pid, &status, 0);
	ok(tb_uuid4(mine) == 0 && strcmp(mine, theirs) != 0,
	    "after fork, the child's next UUID is not the parent's next one (%s, %s)", theirs,
	    mine);
}

int
main(void)
{
	unsigned char d[TB_SHA256_LEN], d1[TB_SHA1_LEN], r1[16], r2[16];
	char *hex = NULL, u[TB_UUID_LEN + 1], u2[TB_UUID_LEN + 1];

	ok(tb_sha256("abc", 3, d) == 0, "SHA-256");
	tb_hex_encode(d, sizeof(d), 0, &hex);
	is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	    "SHA-256('abc')");
	free(hex);
	ok(tb_sha1("abc", 3, d1) == 0, "SHA-1");
	tb_hex_encode(d1, sizeof(d1), 0, &hex);
	is_str(hex, "a9993e364706816aba3e25717850c26c9cd0d89d", "SHA-1('abc')");
	free(hex);
	ok(tb_random(r1, sizeof(r1)) == 0 && tb_random(r2, sizeof(r2)) == 0, "random bytes");
	ok(memcmp(r1, r2, sizeof(r1)) != 0, "two draws differ");
	ok(tb_uuid4(u) == 0 && tb_uuid4(u2) == 0, "UUIDs");
	is_int((long long)strlen(u), TB_UUID_LEN, "36 characters");
	ok(u[8] == '-' && u[13] == '-' && u[18] == '-' && u[23] == '-', "dashes in place");
	ok(u[14] == '4', "version 4");
	ok(strchr("89ab", u[19]) != NULL, "RFC 4122 variant");
	ok(strcmp(u, u2) != 0, "each one new");
	test_uuid_pool();
	return done_testing();
}
