/* fixture.h: the unit tests read files of tests/fixtures with one helper. */
#ifndef TB_TEST_FIXTURE_H
#define TB_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#define FIXTURE_MAX (64 * 1024)

/*
 * Reads tests/fixtures/name under $TB_SRCDIR (or the current directory) into a new string
 * (at most FIXTURE_MAX bytes), its length into *len unless len is NULL; NULL when it cannot.
 */
static inline char *
fixture(const char *name, size_t *len)
{
	const char *dir = getenv("TB_SRCDIR");
	char path[4096];
	char *s;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/fixtures/%s", dir != NULL ? dir : ".", name);
	if ((f = fopen(path, "rb")) == NULL) {
		printf("# cannot open %s\n", path);
		return NULL;
	}
	s = malloc(FIXTURE_MAX + 1);
	n = s == NULL ? 0 : fread(s, 1, FIXTURE_MAX, f);
	fclose(f);
	if (s != NULL)
		s[n] = '\0';
	if (len != NULL)
		*len = n;
	return s;
}

#endif
