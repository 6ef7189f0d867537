/* envfile.h: settings from a file of KEY=value lines, in systemd's EnvironmentFile syntax. */
#ifndef TB_ENVFILE_H
#define TB_ENVFILE_H

#include <stddef.h>

#define TB_ENVFILE_BYTES_MAX (64 * 1024) /* an env file: settings, not data */
#define TB_ENVFILE_VARS_MAX 256          /* assignments in one file */
#define TB_ENVFILE_NAME_MAX 128          /* a variable's name */
#define TB_ENVFILE_WHY_MAX (4096 + 256)  /* a path and a reason, as file.h's */

struct tb_envfile;

/*
 * Parses the text [s, s + n) as systemd.exec(5) documents EnvironmentFile=: one KEY=value
 * assignment a line; empty lines and lines starting with '#' or ';' are comments; a value may
 * be unquoted (leading and trailing blanks dropped, a backslash keeps the next character, a
 * trailing backslash continues the line), 'single-quoted' (verbatim, may span lines) or
 * "double-quoted" (shell's escapes \" \\ \` \$, a backslash-newline continues; may span
 * lines). A later assignment of a name wins, as in systemd. Where systemd skips a line with a
 * warning (no '=', a name other than letters, digits and '_' or starting with a digit, a
 * control character in a value) this is an error: a setting that silently vanished would be
 * found only in production. 0 and *out, or TB_ERR_INVALID / TB_ERR_LIMIT with why ("line N:
 * ..."), TB_ERR_ALLOC.
 */
int tb_envfile_parse(const char *s, size_t n, struct tb_envfile **out, char *why, size_t whylen);

/*
 * Reads and parses the file at path (a trusted file to file.h: not writable by group or
 * others, at most TB_ENVFILE_BYTES_MAX bytes). why starts with the path.
 */
int tb_envfile_load(const char *path, struct tb_envfile **out, char *why, size_t whylen);

void tb_envfile_free(struct tb_envfile *ef);

/* The number of variables, and the i-th name and value (borrowed from ef), in file order. */
size_t tb_envfile_count(const struct tb_envfile *ef);
const char *tb_envfile_name(const struct tb_envfile *ef, size_t i);
const char *tb_envfile_value(const struct tb_envfile *ef, size_t i);

/*
 * Sets every variable of ef that the environment does not already hold (the process
 * environment wins, as the issue asks). 0 or TB_ERR_ALLOC.
 */
int tb_envfile_apply(const struct tb_envfile *ef);

/*
 * A new environment vector: every entry of base, then each variable of ef (may be NULL) whose
 * name base does not hold, as NAME=value. *out (NULL-terminated) is the caller's, released
 * with tb_envfile_environ_free. 0 or TB_ERR_ALLOC.
 */
int tb_envfile_environ(const struct tb_envfile *ef, char *const *base, char ***out);
void tb_envfile_environ_free(char **envp);

#endif
