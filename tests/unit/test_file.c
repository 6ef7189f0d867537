/*
 * test_file.c: tb_file_read's rule for each kind of file (modes refused and accepted), the file
 * types it refuses, symbolic links, size caps, and files whose size fstat does not know.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "file.h"
#include "tap.h"

#define PATH_LEN 512
#define CONTENT "-----BEGIN PRIVATE KEY-----\nnot really\n-----END PRIVATE KEY-----\n"
#define FIRST_READ 4096 /* file.c: the first read when the size is not known */

static char dir[] = "/tmp/tb-file-XXXXXX";

/* dir/name, in buf. */
static const char *
path_of(const char *name, char buf[PATH_LEN])
{
	snprintf(buf, PATH_LEN, "%s/%s", dir, name);
	return buf;
}

/* Writes n bytes to dir/name and gives it mode (chmod: no umask in the way). */
static const char *
make_file(const char *name, const char *text, size_t n, mode_t mode, char buf[PATH_LEN])
{
	FILE *f = fopen(path_of(name, buf), "wb");

	fwrite(text, 1, n, f);
	fclose(f);
	chmod(buf, mode);
	return buf;
}

/* Reads path as kind; checks the result code and, on refusal, that why names path and reason. */
static void
expect(const char *path, enum tb_file_kind kind, size_t max, int want, const char *reason,
    const char *name)
{
	char why[TB_FILE_WHY_MAX] = "", *data = (char *)1, prefix[PATH_LEN + 2];
	size_t len = 1;
	int r = tb_file_read(path, kind, max, &data, &len, why, sizeof(why));

	is_int(r, want, "%s: %s", name, want == 0 ? "accepted" : tb_err_str(want));
	if (want == 0) {
		ok(data != NULL && len == strlen(CONTENT) && strcmp(data, CONTENT) == 0,
		    "%s: the whole content, NUL-terminated", name);
	} else {
		snprintf(prefix, sizeof(prefix), "%s: ", path);
		ok(data == NULL && len == 0, "%s: no data", name);
		ok(strncmp(why, prefix, strlen(prefix)) == 0 && strstr(why, reason) != NULL,
		    "%s: why names the file and says '%s' (%s)", name, reason, why);
	}
	tb_file_free(r == 0 ? data : NULL, len);
}

static void
test_modes(void)
{
	static const struct {
		enum tb_file_kind kind;
		mode_t mode;
		const char *reason; /* NULL: accepted */
	} cases[] = {
	    {TB_FILE_SECRET, 0600, NULL},
	    {TB_FILE_SECRET, 0400, NULL},
	    {TB_FILE_SECRET, 0640, NULL}, /* root:www-data 0640, the usual deployment */
	    {TB_FILE_SECRET, 0644, "readable by others (mode 0644)"},
	    {TB_FILE_SECRET, 0604, "readable by others (mode 0604)"},
	    {TB_FILE_SECRET, 0660, "writable by group (mode 0660)"},
	    {TB_FILE_SECRET, 0602, "writable by others (mode 0602)"},
	    {TB_FILE_TRUSTED, 0644, NULL},
	    {TB_FILE_TRUSTED, 0444, NULL},
	    {TB_FILE_TRUSTED, 0600, NULL},
	    {TB_FILE_TRUSTED, 0664, "writable by group (mode 0664)"},
	    {TB_FILE_TRUSTED, 0646, "writable by others (mode 0646)"},
	    {TB_FILE_TRUSTED, 0666, "writable by group and others (mode 0666)"},
	    {TB_FILE_TRUSTED, 0620, "writable by group (mode 0620)"},
	};
	char buf[PATH_LEN], name[64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "%s %04o",
		    cases[i].kind == TB_FILE_SECRET ? "key" : "registry", (unsigned)cases[i].mode);
		make_file("f", CONTENT, strlen(CONTENT), cases[i].mode, buf);
		expect(buf, cases[i].kind, 1024, cases[i].reason == NULL ? 0 : TB_ERR_CONFIG,
		    cases[i].reason, name);
		unlink(buf);
	}
}

static void
test_types(void)
{
	char buf[PATH_LEN], link[PATH_LEN];

	/* a symbolic link is followed: the mode that counts is the target's */
	make_file("target", CONTENT, strlen(CONTENT), 0600, buf);
	ok(symlink(buf, path_of("link", link)) == 0, "made a symbolic link");
	expect(link, TB_FILE_SECRET, 1024, 0, NULL, "link to a 0600 key");
	chmod(buf, 0644);
	expect(
	    link, TB_FILE_SECRET, 1024, TB_ERR_CONFIG, "readable by others", "link to a 0644 key");
	unlink(link);
	unlink(buf);

	expect(dir, TB_FILE_TRUSTED, 1024, TB_ERR_CONFIG, "not a regular file (a directory)",
	    "a directory");
	ok(mkfifo(path_of("fifo", buf), 0600) == 0, "made a FIFO");
	/* without O_NONBLOCK the open would wait for a writer and this test would never end */
	expect(buf, TB_FILE_SECRET, 1024, TB_ERR_CONFIG, "not a regular file (a FIFO)", "a FIFO");
	unlink(buf);
	expect("/dev/null", TB_FILE_TRUSTED, 1024, TB_ERR_CONFIG, "not a regular file (a device)",
	    "a device");
	expect(path_of("missing", buf), TB_FILE_TRUSTED, 1024, TB_ERR_IO,
	    "No such file or directory", "a missing file");
}

static void
test_sizes(void)
{
	char buf[PATH_LEN], why[TB_FILE_WHY_MAX], *data = NULL, bin[] = "a\0b\0c";
	size_t len = 0, n = strlen(CONTENT);

	make_file("f", CONTENT, n, 0600, buf);
	expect(buf, TB_FILE_SECRET, n, 0, NULL, "a file of exactly max bytes");
	expect(buf, TB_FILE_SECRET, n - 1, TB_ERR_CONFIG, "larger than", "a file of max + 1 bytes");
	make_file("f", "", 0, 0600, buf);
	ok(tb_file_read(buf, TB_FILE_SECRET, n, &data, &len, why, sizeof(why)) == 0 &&
	        data != NULL && len == 0 && data[0] == '\0',
	    "an empty file gives \"\"");
	tb_file_free(data, len);
	make_file("f", bin, sizeof(bin), 0644, buf);
	ok(tb_file_read(buf, TB_FILE_TRUSTED, 64, &data, &len, why, sizeof(why)) == 0 &&
	        len == sizeof(bin) && memcmp(data, bin, len) == 0,
	    "NUL bytes are content (DER): len counts them");
	tb_file_free(data, len);
	unlink(buf);
	tb_file_free(NULL, 0);
	ok(1, "tb_file_free(NULL) is a no-op");

	/* procfs files say size 0: the buffer grows as they are read, and the cap still holds */
	if (access("/proc/self/smaps", R_OK) != 0) {
		ok(1, "# SKIP no /proc/self/smaps");
		ok(1, "# SKIP no /proc/self/smaps");
		return;
	}
	ok(tb_file_read(
	       "/proc/self/smaps", TB_FILE_TRUSTED, 1 << 24, &data, &len, why, sizeof(why)) == 0 &&
	        len > FIRST_READ && strlen(data) == len && data[len - 1] == '\n',
	    "a file of unknown size is read whole past the first read (%zu bytes)", len);
	tb_file_free(data, len);
	is_int(tb_file_read(
	           "/proc/self/smaps", TB_FILE_TRUSTED, FIRST_READ, &data, &len, why, sizeof(why)),
	    TB_ERR_CONFIG, "and is refused past max (%s)", why);
}

int
main(void)
{
	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return done_testing();
	}
	test_modes();
	test_types();
	test_sizes();
	rmdir(dir);
	return done_testing();
}
