/* file.h: reads the files that settings name, under one rule for who may read or change them. */
#ifndef TB_FILE_H
#define TB_FILE_H

#include <stddef.h>

#define TB_FILE_WHY_MAX (4096 + 256) /* room for a path of PATH_MAX bytes and a reason */

/*
 * What a file is to the broker decides who else may have it. No file the broker trusts may be
 * writable by group or others (whoever could write it could sign tokens, or name clients or
 * CAs); a private key must not be readable by others either. Group read stays allowed, for a
 * key owned by root and readable by the web server's group (mode 0640).
 */
enum tb_file_kind {
	TB_FILE_SECRET,  /* a private key (SIGNING_KEYS); its copies in memory are wiped */
	TB_FILE_TRUSTED, /* CLIENT_REGISTRY, CLIENT_CA_FILE, CRL_FILES */
};

/*
 * Reads the file at path (a symbolic link is followed) whole: it must be a regular file of at
 * most max bytes whose mode passes the rule of its kind. The checks are made on the open
 * descriptor (fstat), so the file checked is the file read. *data (NUL-terminated, *len bytes
 * before the NUL) is the caller's, to be released with tb_file_free. On failure writes
 * "PATH: REASON" into why and returns TB_ERR_IO (cannot be opened or read), TB_ERR_CONFIG (not
 * a regular file, a mode the rule refuses, over max bytes) or TB_ERR_ALLOC.
 */
int tb_file_read(const char *path, enum tb_file_kind kind, size_t max, char **data, size_t *len,
    char *why, size_t whylen);

/* Wipes and frees what tb_file_read gave (len as it gave it); NULL is a no-op. */
void tb_file_free(char *data, size_t len);

#endif
