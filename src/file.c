/* file.c: reads the files that settings name, refusing those that others could read or change. */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "text.h"

#define FIRST_READ 4096 /* room for a file whose size fstat does not know (procfs, a pipe) */

/* What st_mode is, for a refusal: "a directory", "a FIFO"... */
static const char *
type_name(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	return "not a plain file";
}

/* The kind's rule (file.h) applied to a mode: 0, or TB_ERR_CONFIG and the reason. */
static int
check_mode(const char *path, enum tb_file_kind kind, mode_t m, char *why, size_t whylen)
{
	unsigned int mode = (unsigned int)(m & 07777);
	const char *who = "group and others";

	if (kind == TB_FILE_SECRET && (m & S_IROTH) != 0) {
		tb_whyf(why, whylen,
		    "%s: readable by others (mode %04o); a private key must not be (chmod o-rwx)",
		    path, mode);
		return TB_ERR_CONFIG;
	}
	if ((m & (S_IWGRP | S_IWOTH)) != 0) {
		if ((m & S_IWOTH) == 0)
			who = "group";
		else if ((m & S_IWGRP) == 0)
			who = "others";
		tb_whyf(why, whylen,
		    "%s: writable by %s (mode %04o); only its owner may write it (chmod go-w)",
		    path, who, mode);
		return TB_ERR_CONFIG;
	}
	return 0;
}

/*
 * Moves the n bytes read so far into a block of room bytes (and one for the NUL), wiping the
 * old block: realloc would leave a copy of a key behind in freed memory.
 */
static int
grow(char **buf, size_t n, size_t room)
{
	char *p;

	if ((p = malloc(room + 1)) == NULL)
		return TB_ERR_ALLOC;
	if (*buf != NULL) {
		memcpy(p, *buf, n);
		OPENSSL_cleanse(*buf, n);
		free(*buf);
	}
	*buf = p;
	return 0;
}

/*
 * Reads fd to its end into *buf (*len bytes so far, also on failure, for the wipe): at most max
 * bytes, TB_ERR_LIMIT past them. size is what fstat said, a first guess only: the file may grow
 * or shrink while it is read.
 */
static int
read_all(int fd, size_t size, size_t max, char **buf, size_t *len)
{
	/* a byte past the guess: reading max + 1 bytes tells a file over the cap from one at it */
	size_t room = (size > 0 ? size : max < FIRST_READ ? max : FIRST_READ) + 1, next;
	ssize_t got;
	int r;

	*buf = NULL;
	*len = 0;
	if ((r = grow(buf, 0, room)) != 0)
		return r;
	for (;;) {
		if (*len == room) {
			if (room > max)
				return TB_ERR_LIMIT;
			next = room > max / 2 ? max + 1 : 2 * room;
			if ((r = grow(buf, *len, next)) != 0)
				return r;
			room = next;
		}
		if ((got = read(fd, *buf + *len, room - *len)) < 0) {
			if (errno == EINTR)
				continue;
			return TB_ERR_IO;
		}
		if (got == 0)
			break;
		*len += (size_t)got;
	}
	if (*len > max)
		return TB_ERR_LIMIT;
	(*buf)[*len] = '\0';
	return 0;
}

int
tb_file_read(const char *path, enum tb_file_kind kind, size_t max, char **data, size_t *len,
    char *why, size_t whylen)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int fd = -1, r = TB_ERR_IO;

	*data = NULL;
	*len = 0;
	/* O_NONBLOCK: opening a FIFO would otherwise wait for a writer; fstat then refuses it */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0 ||
	    fstat(fd, &st) != 0) {
		tb_whyf(why, whylen, "%s: %s", path, strerror(errno));
		goto out;
	}
	r = TB_ERR_CONFIG;
	if (!S_ISREG(st.st_mode)) {
		tb_whyf(why, whylen, "%s: not a regular file (%s)", path, type_name(st.st_mode));
		goto out;
	}
	if ((r = check_mode(path, kind, st.st_mode, why, whylen)) != 0)
		goto out;
	if ((uintmax_t)st.st_size > max ||
	    (r = read_all(fd, (size_t)st.st_size, max, &buf, &n)) == TB_ERR_LIMIT) {
		tb_whyf(why, whylen, "%s: larger than %zu bytes", path, max);
		r = TB_ERR_CONFIG;
		goto out;
	}
	if (r != 0) {
		tb_whyf(
		    why, whylen, "%s: %s", path, r == TB_ERR_IO ? strerror(errno) : tb_err_str(r));
		goto out;
	}
	*data = buf;
	buf = NULL; /* transferred */
	*len = n;
	r = 0;
out:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, n);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	return r;
}

void
tb_file_free(char *data, size_t len)
{
	if (data == NULL)
		return;
	OPENSSL_cleanse(data, len);
	free(data);
}
