/* watch.c: file fingerprints (device, inode, size, modification time) for live reloads. */
#include "watch.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"

#define PATH_BYTES 4096 /* a path in a watched directory */

struct tb_watch {
	char *const *paths;
	size_t n;
	time_t last;
	uint64_t print;
};

static void
mix(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n-- > 0) {
		/* the analyzer cannot read an int64_t's bytes one at a time: "garbage" */
		*h ^= *b++;             /* NOLINT(clang-analyzer-core.uninitialized.Assign) */
		*h *= 1099511628211ULL; /* FNV-1a */
	}
}

/*
 * Adds what identifies one version of a file into *sum. A sum of per-file hashes does not
 * depend on the order readdir lists a directory in.
 */
static void
add_stat(uint64_t *sum, const char *path, const struct stat *st)
{
	int64_t v[6] = {(int64_t)st->st_dev, (int64_t)st->st_ino, (int64_t)st->st_size,
	    (int64_t)st->st_mtim.tv_sec, (int64_t)st->st_mtim.tv_nsec, (int64_t)st->st_mode};
	uint64_t h = 14695981039346656037ULL;

	mix(&h, path, strlen(path) + 1);
	mix(&h, v, sizeof(v));
	*sum += h;
}

static uint64_t
fingerprint(const struct tb_watch *w)
{
	uint64_t h = 0;
	size_t i;

	for (i = 0; i < w->n; i++) {
		struct stat st;
		DIR *d;
		struct dirent *de;

		if (stat(w->paths[i], &st) != 0) {
			memset(&st, 0, sizeof(st)); /* absent: a fingerprint of its own */
			add_stat(&h, w->paths[i], &st);
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			add_stat(&h, w->paths[i], &st);
			continue;
		}
		/*
		 * A directory counts by the files in it, not by its own times: a temporary dot file
		 * (--fetch-crls writes one before its rename) is no change.
		 */
		memset(&st, 0, sizeof(st));
		st.st_mode = S_IFDIR;
		add_stat(&h, w->paths[i], &st);
		if ((d = opendir(w->paths[i])) == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			char path[PATH_BYTES];

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", w->paths[i], de->d_name);
			if (stat(path, &st) == 0)
				add_stat(&h, path, &st);
		}
		closedir(d);
	}
	return h;
}

int
tb_watch_new(char *const *paths, size_t n, time_t now, struct tb_watch **out)
{
	struct tb_watch *w;

	if ((*out = w = calloc(1, sizeof(*w))) == NULL)
		return TB_ERR_ALLOC;
	w->paths = paths;
	w->n = n;
	w->last = now;
	w->print = fingerprint(w);
	return 0;
}

void
tb_watch_free(struct tb_watch *w)
{
	free(w);
}

int
tb_watch_changed(struct tb_watch *w, time_t now)
{
	uint64_t print;

	if (now - w->last < TB_WATCH_INTERVAL && now >= w->last)
		return 0;
	w->last = now;
	print = fingerprint(w);
	if (print == w->print)
		return 0;
	w->print = print;
	return 1;
}
