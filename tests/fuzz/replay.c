/* replay.c: runs a fuzz target over its committed corpus in `make check` (TAP, one file a line). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* libFuzzer calls it once before the first input when the target has one (fuzz_app.c does) */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define INPUT_MAX (1024 * 1024)

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
main(int argc, char **argv)
{
	const char *src = getenv("TB_SRCDIR");
	char dir[4096], file[8192], *names[4096];
	static unsigned char buf[INPUT_MAX];
	struct dirent *e;
	size_t n = 0, i;
	DIR *d;

	if (argc < 2 && (src == NULL || FUZZ_CORPUS[0] == '\0')) {
		printf("1..0 # SKIP no corpus directory\n");
		return 0;
	}
	snprintf(dir, sizeof(dir), "%s", argc >= 2 ? argv[1] : "");
	if (argc < 2)
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", src, FUZZ_CORPUS);
	if ((d = opendir(dir)) == NULL) {
		printf("1..1\nnot ok 1 - corpus %s missing\n", dir);
		return 1;
	}
	while ((e = readdir(d)) != NULL && n < sizeof(names) / sizeof(names[0]))
		if (e->d_name[0] != '.')
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), by_name);
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	printf("1..%zu\n", n);
	for (i = 0; i < n; i++) {
		FILE *f;
		size_t len;

		snprintf(file, sizeof(file), "%s/%s", dir, names[i]);
		if ((f = fopen(file, "rb")) == NULL) {
			printf("not ok %zu - %s unreadable\n", i + 1, names[i]);
			continue;
		}
		len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, len);
		printf("ok %zu - %s %s\n", i + 1, FUZZ_CORPUS, names[i]);
		free(names[i]);
	}
	return 0;
}
