/* watch.h: notices that files a setting names (or the files in its directories) have changed. */
#ifndef TB_WATCH_H
#define TB_WATCH_H

#include <stddef.h>
#include <time.h>

#define TB_WATCH_INTERVAL 1 /* seconds between two looks at the files */

struct tb_watch; /* the paths, and a fingerprint of what they were at the last look */

/*
 * Watches the n paths (borrowed: they must outlive the watch): for a file its device, inode,
 * size and modification time; for a directory, the same of the directory and of every file in
 * it whose name does not start with '.'. Takes the first fingerprint at now.
 */
int tb_watch_new(char *const *paths, size_t n, time_t now, struct tb_watch **out);
void tb_watch_free(struct tb_watch *w);

/*
 * 1 when at least TB_WATCH_INTERVAL seconds have passed since the last look and the files are
 * not what they were then (a file that appeared, went, or was written or replaced), else 0.
 * The new fingerprint is kept either way, so one change is reported once.
 */
int tb_watch_changed(struct tb_watch *w, time_t now);

#endif
