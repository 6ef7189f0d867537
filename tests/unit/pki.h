/* pki.h: the unit tests that need certificates run mkpki.py (idempotent, locked) for them. */
#ifndef TB_TEST_PKI_H
#define TB_TEST_PKI_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEST_PATH_BYTES 4096

/* Makes the test PKI in $TB_BUILDDIR/tests/pki-out and writes that directory into pki: 0 or -1. */
static inline int
test_make_pki(char *pki, size_t pkilen)
{
	const char *src = getenv("TB_SRCDIR"), *build = getenv("TB_BUILDDIR");
	const char *python = getenv("PYTHON3");
	char script[TEST_PATH_BYTES];
	pid_t pid;
	int status;

	snprintf(script, sizeof(script), "%s/tests/pki/mkpki.py", src ? src : ".");
	snprintf(pki, pkilen, "%s/tests/pki-out", build ? build : ".");
	if (python == NULL || *python == '\0')
		python = "python3";
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		execlp(python, python, script, pki, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

#endif
