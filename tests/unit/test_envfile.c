/*
 * test_envfile.c: systemd's EnvironmentFile syntax (comments, blanks, quotes, escapes,
 * continuations), the lines it refuses with their numbers, the caps, the precedence of the
 * process environment, and the environment vector built for a supervisor's workers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "envfile.h"
#include "err.h"
#include "tap.h"

#define GOT_MAX 4096

/*
 * Each case: the text, and what it gives as NAME=value pairs joined by '|' (the expected values
 * are what systemd 252's own parser gives for the same file), or the start of the error.
 */
static const struct {
	const char *text, *want, *error;
} cases[] = {
    {"", "", NULL},
    {"A=1\n", "A=1", NULL},
    {"A=1", "A=1", NULL}, /* no final newline */
    {"A=1\nB=two words\n", "A=1|B=two words", NULL},
    {"# a comment\n; another\n\n   \nA=1\n", "A=1", NULL},
    {"  # indented comment\nA=1\n", "A=1", NULL},
    {"A =  padded value  \t\n", "A=padded value", NULL}, /* blanks around the name and value */
    {"A=\n", "A=", NULL},
    {"A=   \n", "A=", NULL},
    {"A='single $X \\n \"q\"'\n", "A=single $X \\n \"q\"", NULL},
    {"A=\"double \\\"q\\\" \\\\ \\$X \\` \\n\"\n", "A=double \"q\" \\ $X ` \\n", NULL},
    {"A=\"  kept  \"\n", "A=  kept  ", NULL},
    {"A='two\nlines'\nB=2\n", "A=two\nlines|B=2", NULL},
    {"A=\"con\\\ntinued\"\n", "A=continued", NULL},
    {"A=con\\\ntinued\nB=1\n", "A=continued|B=1", NULL},
    {"A=back\\\\slash\n", "A=back\\slash", NULL},
    {"A=esc\\ aped\\ \n", "A=esc aped ", NULL}, /* an escaped blank is not trailing */
    {"A=\"x\"y\n", "A=xy", NULL},               /* text after a quote joins it, as systemd */
    {"A=it's\n", "A=it's", NULL},               /* a quote after the first character is kept */
    {"A=1\nA=2\n", "A=2", NULL},                /* the later assignment wins */
    {"A=1\r\nB=2\r\n", "A=1|B=2", NULL},        /* CRLF lines */
    {"A=a=b\n", "A=a=b", NULL},
    {"_X9=1\n", "_X9=1", NULL},
    {"A=#not a comment\n", "A=#not a comment", NULL},
    {"# comment \\\nA=1\n", "A=1", NULL}, /* a comment ends at its line (systemd 254) */
    {"A=1\nJUSTANAME\nB=2\n", NULL, "line 2: 'JUSTANAME' has no '='"},
    {"A=1\nexport B=2\n", NULL, "line 2: 'export B' is not a variable name"},
    {"\n\n9A=1\n", NULL, "line 3: '9A' is not a variable name"},
    {"A-B=1\n", NULL, "line 1: 'A-B' is not a variable name"},
    {"=1\n", NULL, "line 1: '' is not a variable name"},
    {"A=1\nB='open\n\n", NULL, "line 2: the quoted value of B is not closed"},
    {"A=\"open\n", NULL, "line 1: the quoted value of A is not closed"},
    {"A=bell\a\n", NULL, "line 1: the value of A holds a control character"},
    {"A=1\nTAIL", NULL, "line 2: 'TAIL' has no '='"},
};

/* NAME=value|... of ef, into got. */
static const char *
joined(const struct tb_envfile *ef, char got[GOT_MAX])
{
	size_t i, off = 0;

	got[0] = '\0';
	for (i = 0; i < tb_envfile_count(ef); i++)
		off += (size_t)snprintf(got + off, GOT_MAX - off, "%s%s=%s", i ? "|" : "",
		    tb_envfile_name(ef, i), tb_envfile_value(ef, i));
	return got;
}

static void
syntax(void)
{
	char got[GOT_MAX], why[TB_ENVFILE_WHY_MAX];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tb_envfile *ef = NULL;
		int r;

		why[0] = '\0';
		r = tb_envfile_parse(cases[i].text, strlen(cases[i].text), &ef, why, sizeof(why));
		if (cases[i].want != NULL) {
			ok(r == 0, "case %zu parses (%s)", i, why);
			if (r == 0)
				is_str(
				    joined(ef, got), cases[i].want, "case %zu: the variables", i);
		} else {
			ok(r == TB_ERR_INVALID && ef == NULL, "case %zu is refused", i);
			ok(strncmp(why, cases[i].error, strlen(cases[i].error)) == 0,
			    "case %zu: the reason names the line: %s", i, why);
		}
		tb_envfile_free(ef);
	}
}

static void
nul_and_caps(void)
{
	static const char nul[] = "A=1\nB=x\0y\n";
	char why[TB_ENVFILE_WHY_MAX], *big;
	struct tb_envfile *ef = NULL;
	size_t i, off = 0;

	ok(tb_envfile_parse(nul, sizeof(nul) - 1, &ef, why, sizeof(why)) == TB_ERR_INVALID &&
	        strcmp(why, "line 2: a NUL byte") == 0,
	    "a NUL byte is refused with its line: %s", why);
	big = malloc(TB_ENVFILE_BYTES_MAX + 2);
	memset(big, '#', TB_ENVFILE_BYTES_MAX + 1);
	ok(tb_envfile_parse(big, TB_ENVFILE_BYTES_MAX + 1, &ef, why, sizeof(why)) == TB_ERR_LIMIT,
	    "a file over %d bytes is refused: %s", TB_ENVFILE_BYTES_MAX, why);
	ok(tb_envfile_parse(big, TB_ENVFILE_BYTES_MAX, &ef, why, sizeof(why)) == 0,
	    "one of exactly %d bytes (all comment) is read", TB_ENVFILE_BYTES_MAX);
	tb_envfile_free(ef);
	ef = NULL;
	for (i = 0; i <= TB_ENVFILE_VARS_MAX; i++)
		off += (size_t)snprintf(big + off, TB_ENVFILE_BYTES_MAX - off, "V%zu=1\n", i);
	ok(tb_envfile_parse(big, off, &ef, why, sizeof(why)) == TB_ERR_LIMIT &&
	        strstr(why, "more than 256 variables") != NULL,
	    "%d variables are refused: %s", TB_ENVFILE_VARS_MAX + 1, why);
	ok(tb_envfile_parse(big, off - strlen("V256=1\n"), &ef, why, sizeof(why)) == 0 &&
	        tb_envfile_count(ef) == TB_ENVFILE_VARS_MAX,
	    "%d are read", TB_ENVFILE_VARS_MAX);
	tb_envfile_free(ef);
	ef = NULL;
	off = 0;
	for (i = 0; i < TB_ENVFILE_NAME_MAX + 1; i++)
		big[off++] = 'N';
	big[off++] = '=';
	big[off++] = '1';
	ok(tb_envfile_parse(big, off, &ef, why, sizeof(why)) == TB_ERR_INVALID,
	    "a name of %d bytes is refused", TB_ENVFILE_NAME_MAX + 1);
	ok(tb_envfile_parse(big + 1, off - 1, &ef, why, sizeof(why)) == 0,
	    "one of %d bytes is read", TB_ENVFILE_NAME_MAX);
	tb_envfile_free(ef);
	free(big);
}

static void
precedence(void)
{
	static const char text[] = "TB_T_SET=from the file\nTB_T_NEW=new\n";
	char why[TB_ENVFILE_WHY_MAX], *base[] = {"TB_T_SET=from the process", "PATH=/bin", NULL};
	char **envp = NULL;
	struct tb_envfile *ef = NULL;

	if (tb_envfile_parse(text, sizeof(text) - 1, &ef, why, sizeof(why)) != 0) {
		ok(0, "the precedence file parses: %s", why);
		return;
	}
	setenv("TB_T_SET", "from the process", 1);
	unsetenv("TB_T_NEW");
	ok(tb_envfile_apply(ef) == 0, "apply");
	is_str(getenv("TB_T_SET"), "from the process", "apply: the process environment wins");
	is_str(getenv("TB_T_NEW"), "new", "apply: a variable only the file sets is set");

	ok(tb_envfile_environ(ef, base, &envp) == 0, "environ");
	ok(envp != NULL && envp[0] != NULL && strcmp(envp[0], base[0]) == 0 &&
	        strcmp(envp[1], "PATH=/bin") == 0 && strcmp(envp[2], "TB_T_NEW=new") == 0 &&
	        envp[3] == NULL,
	    "environ: the base's entries, then the file's that the base lacks");
	tb_envfile_environ_free(envp);
	envp = NULL;
	ok(tb_envfile_environ(NULL, base, &envp) == 0 && envp[2] == NULL &&
	        strcmp(envp[1], "PATH=/bin") == 0,
	    "environ without a file: a copy of the base");
	tb_envfile_environ_free(envp);
	tb_envfile_free(ef);
}

static void
load(void)
{
	char path[] = "/tmp/tb-envfile-XXXXXX", why[TB_ENVFILE_WHY_MAX];
	struct tb_envfile *ef = NULL;
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, "A=1\nbad line\n", 13) != 13) {
		ok(0, "a temporary file");
		return;
	}
	close(fd);
	chmod(path, 0644);
	ok(tb_envfile_load(path, &ef, why, sizeof(why)) == TB_ERR_INVALID &&
	        strncmp(why, path, strlen(path)) == 0 && strstr(why, ": line 2: ") != NULL,
	    "load: the reason names the file and the line: %s", why);
	chmod(path, 0666);
	ok(tb_envfile_load(path, &ef, why, sizeof(why)) == TB_ERR_CONFIG,
	    "load: a file that others may write is refused: %s", why);
	unlink(path);
	ok(tb_envfile_load(path, &ef, why, sizeof(why)) == TB_ERR_IO && ef == NULL,
	    "load: a missing file: %s", why);
}

int
main(void)
{
	syntax();
	nul_and_caps();
	precedence();
	load();
	return done_testing();
}
