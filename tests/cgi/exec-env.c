/* exec-env.c: runs a program with exactly the environment named on its command line, repeated
 * names included, for the CGI cases that show what the broker does with a variable given twice. */

/*
 * Usage: exec-env [-e NAME=VALUE]... -- PROGRAM [ARGS...]
 *
 * The program's environment is the -e items, in the order given, and nothing else; an item may
 * repeat a name, which a web server's FastCGI parameters can do but Python's os.environ (the CGI
 * runner's) cannot. PROGRAM must be a path (it is not looked up in PATH: the runner resolves it),
 * so a wrapper such as valgrind goes after the "--" and sees the repeated names too.
 *
 * Exit status: PROGRAM's, or 125 for a bad command line, 127 when PROGRAM cannot be run (as
 * env(1) has it).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_USAGE 125 /* env(1)'s status for its own failure */
#define EXIT_EXEC 127  /* env(1)'s status for a program that cannot be run */

static int
usage(const char *why)
{
	fprintf(stderr, "exec-env: %s\n", why);
	fprintf(stderr, "usage: exec-env [-e NAME=VALUE]... -- PROGRAM [ARGS...]\n");
	return EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	char **envp = NULL;
	size_t n = 0;
	int i, r = EXIT_USAGE;

	/* every -e takes two argv slots, so argc bounds the count; +1 for the NULL */
	if ((envp = calloc((size_t)argc + 1, sizeof(*envp))) == NULL) {
		perror("exec-env");
		goto out;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-e") != 0 || i + 1 >= argc) {
			r = usage("expected -e NAME=VALUE or --");
			goto out;
		}
		i++;
		/* "=VALUE" would give the program an entry that getenv can never find */
		if (argv[i][0] == '=' || strchr(argv[i], '=') == NULL) {
			r = usage("an -e item is not NAME=VALUE");
			goto out;
		}
		envp[n++] = argv[i];
	}
	if (i + 1 >= argc) {
		r = usage("no program after --");
		goto out;
	}
	if (strchr(argv[i + 1], '/') == NULL) {
		r = usage("PROGRAM must be a path");
		goto out;
	}
	envp[n] = NULL;
	execve(argv[i + 1], argv + i + 1, envp);
	fprintf(stderr, "exec-env: %s: %s\n", argv[i + 1], strerror(errno));
	r = EXIT_EXEC;
out:
	free(envp);
	return r;
}
