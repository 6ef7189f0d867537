/* envfile.c: reads --env-file (systemd EnvironmentFile syntax) and merges it under environ. */
#include "envfile.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "file.h"
#include "text.h"

#define WHITESPACE " \t\n\r"
#define NEWLINE "\n\r"
#define COMMENTS "#;"
#define DQ_ESCAPED "\"\\`$" /* what a backslash unescapes in double quotes (shell's rule) */

struct tb_envfile {
	char *names[TB_ENVFILE_VARS_MAX];
	char *values[TB_ENVFILE_VARS_MAX];
	size_t n;
};

/*
 * The states of systemd's own parser (env-file.c, parse_env_file_internal), kept one for one,
 * so that a file means here what it means to systemd.
 */
enum state {
	PRE_KEY,
	KEY,
	PRE_VALUE,
	VALUE,
	VALUE_ESCAPE,
	SQ_VALUE,
	DQ_VALUE,
	DQ_VALUE_ESCAPE,
	COMMENT,
	COMMENT_ESCAPE
};

/* The assignment being read: its name and value so far, and where trailing blanks begin. */
struct pending {
	char *key, *value; /* each of the text's size: no assignment is longer than the text */
	size_t nkey, nvalue;
	size_t key_blank, value_blank; /* offset of trailing blanks, or SIZE_MAX */
	unsigned line;                 /* where the assignment starts, for messages */
};

static int
valid_name(const char *s)
{
	size_t i;

	if (s[0] == '\0' || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return i <= TB_ENVFILE_NAME_MAX;
}

/* systemd refuses control characters in values, except tab and newline. */
static int
valid_value(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
			return 0;
	}
	return 1;
}

/* Adds (or, for a name already there, replaces) the finished assignment p. */
static int
push(struct tb_envfile *ef, struct pending *p, int chomp, char *why, size_t whylen)
{
	char *name = NULL, *value = NULL;
	size_t i;
	int r = TB_ERR_INVALID;

	if (p->key_blank != SIZE_MAX)
		p->nkey = p->key_blank;
	if (chomp && p->value_blank != SIZE_MAX)
		p->nvalue = p->value_blank;
	p->key[p->nkey] = '\0';
	if (!valid_name(p->key)) {
		tb_whyf(why, whylen,
		    "line %u: '%.64s' is not a variable name (letters, digits and _, "
		    "not starting with a digit, at most %d)",
		    p->line, p->key, TB_ENVFILE_NAME_MAX);
		goto out;
	}
	if (!valid_value(p->value, p->nvalue)) {
		tb_whyf(why, whylen, "line %u: the value of %s holds a control character", p->line,
		    p->key);
		goto out;
	}
	r = TB_ERR_ALLOC;
	if ((name = strdup(p->key)) == NULL || (value = strndup(p->value, p->nvalue)) == NULL)
		goto out;
	for (i = 0; i < ef->n && strcmp(ef->names[i], name) != 0; i++)
		;
	if (i == TB_ENVFILE_VARS_MAX) {
		tb_whyf(
		    why, whylen, "line %u: more than %d variables", p->line, TB_ENVFILE_VARS_MAX);
		r = TB_ERR_LIMIT;
		goto out;
	}
	if (i == ef->n)
		ef->names[ef->n++] = name;
	else
		free(name);
	free(ef->values[i]);
	ef->values[i] = value;
	name = value = NULL; /* transferred */
	r = 0;
out:
	free(name);
	free(value);
	p->nkey = p->nvalue = 0;
	p->key_blank = p->value_blank = SIZE_MAX;
	return r;
}

/* One character in one of the states that are not about a value. */
static enum state
outside_value(enum state st, char c, struct pending *p, unsigned line)
{
	switch (st) {
	case PRE_KEY:
		if (strchr(COMMENTS, c) != NULL)
			return COMMENT;
		if (strchr(WHITESPACE, c) != NULL)
			return PRE_KEY;
		p->line = line;
		p->key_blank = SIZE_MAX;
		if (c == '=') { /* systemd reads "=x" as a name without '=': an empty name here */
			p->value_blank = SIZE_MAX;
			return PRE_VALUE;
		}
		p->key[p->nkey++] = c;
		return KEY;
	case COMMENT:
		if (c == '\\')
			return COMMENT_ESCAPE;
		return strchr(NEWLINE, c) != NULL ? PRE_KEY : COMMENT;
	case COMMENT_ESCAPE: /* a comment ends at its line, escaped or not (systemd 254) */
		return strchr(NEWLINE, c) != NULL ? PRE_KEY : COMMENT;
	default: /* KEY */
		if (c == '=') {
			p->value_blank = SIZE_MAX;
			return PRE_VALUE;
		}
		if (strchr(WHITESPACE, c) == NULL)
			p->key_blank = SIZE_MAX;
		else if (p->key_blank == SIZE_MAX)
			p->key_blank = p->nkey;
		p->key[p->nkey++] = c;
		return KEY;
	}
}

/* One character of a value; *done is set when c ended the assignment (1: chomp its blanks). */
static enum state
in_value(enum state st, char c, struct pending *p, int *done)
{
	int nl = strchr(NEWLINE, c) != NULL;

	switch (st) {
	case PRE_VALUE:
		if (nl)
			*done = 1;
		else if (c == '\'')
			return SQ_VALUE;
		else if (c == '"')
			return DQ_VALUE;
		else if (c == '\\')
			return VALUE_ESCAPE;
		else if (strchr(WHITESPACE, c) == NULL) {
			p->value[p->nvalue++] = c;
			return VALUE;
		}
		return nl ? PRE_KEY : PRE_VALUE;
	case VALUE:
		if (nl) {
			*done = 2;
			return PRE_KEY;
		}
		if (c == '\\') {
			p->value_blank = SIZE_MAX;
			return VALUE_ESCAPE;
		}
		if (strchr(WHITESPACE, c) == NULL)
			p->value_blank = SIZE_MAX;
		else if (p->value_blank == SIZE_MAX)
			p->value_blank = p->nvalue;
		p->value[p->nvalue++] = c;
		return VALUE;
	case VALUE_ESCAPE: /* an escaped newline is a continuation: eaten whole */
		if (!nl)
			p->value[p->nvalue++] = c;
		return VALUE;
	case SQ_VALUE:
		if (c == '\'')
			return PRE_VALUE;
		p->value[p->nvalue++] = c;
		return SQ_VALUE;
	case DQ_VALUE:
		if (c == '"')
			return PRE_VALUE;
		if (c == '\\')
			return DQ_VALUE_ESCAPE;
		p->value[p->nvalue++] = c;
		return DQ_VALUE;
	default: /* DQ_VALUE_ESCAPE: other escapes keep their backslash, as in the shell */
		if (strchr(DQ_ESCAPED, c) != NULL)
			p->value[p->nvalue++] = c;
		else if (c != '\n') {
			p->value[p->nvalue++] = '\\';
			p->value[p->nvalue++] = c;
		}
		return DQ_VALUE;
	}
}

/* What the end of the text means in state st: 0, or an error for a half-read assignment. */
static int
at_end(struct tb_envfile *ef, enum state st, struct pending *p, char *why, size_t whylen)
{
	switch (st) {
	case KEY:
		p->key[p->nkey] = '\0';
		tb_whyf(why, whylen, "line %u: '%.64s' has no '=' (a setting needs NAME=value)",
		    p->line, p->key);
		return TB_ERR_INVALID;
	case SQ_VALUE:
	case DQ_VALUE:
	case DQ_VALUE_ESCAPE:
		tb_whyf(why, whylen, "line %u: the quoted value of %.*s is not closed", p->line,
		    (int)(p->key_blank != SIZE_MAX ? p->key_blank : p->nkey), p->key);
		return TB_ERR_INVALID;
	case PRE_VALUE:
	case VALUE:
	case VALUE_ESCAPE: return push(ef, p, st != PRE_VALUE, why, whylen);
	default: return 0;
	}
}

int
tb_envfile_parse(const char *s, size_t n, struct tb_envfile **out, char *why, size_t whylen)
{
	struct tb_envfile *ef = NULL;
	struct pending p = {NULL, NULL, 0, 0, SIZE_MAX, SIZE_MAX, 1};
	enum state st = PRE_KEY;
	unsigned line = 1;
	size_t i;
	int r = TB_ERR_ALLOC;

	*out = NULL;
	if (n > TB_ENVFILE_BYTES_MAX) {
		tb_whyf(why, whylen, "more than %d bytes", TB_ENVFILE_BYTES_MAX);
		return TB_ERR_LIMIT;
	}
	/* a value gains at most one byte (a kept backslash) for each byte of text */
	if ((ef = calloc(1, sizeof(*ef))) == NULL || (p.key = malloc(n + 1)) == NULL ||
	    (p.value = malloc(2 * n + 1)) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		char c = s[i];
		int done = 0;

		if (c == '\0') {
			tb_whyf(why, whylen, "line %u: a NUL byte", line);
			r = TB_ERR_INVALID;
			goto out;
		}
		if (st == PRE_KEY || st == KEY || st == COMMENT || st == COMMENT_ESCAPE) {
			if (st == KEY && strchr(NEWLINE, c) != NULL) {
				r = at_end(ef, KEY, &p, why, whylen);
				goto out;
			}
			st = outside_value(st, c, &p, line);
		} else {
			st = in_value(st, c, &p, &done);
			if (done && (r = push(ef, &p, done == 2, why, whylen)) != 0)
				goto out;
			if (done)
				st = PRE_KEY;
		}
		if (c == '\n')
			line++;
	}
	if ((r = at_end(ef, st, &p, why, whylen)) != 0)
		goto out;
	*out = ef;
	ef = NULL; /* transferred */
out:
	if (r == TB_ERR_ALLOC)
		tb_whyf(why, whylen, "out of memory");
	tb_envfile_free(ef);
	free(p.key);
	free(p.value);
	return r;
}

int
tb_envfile_load(const char *path, struct tb_envfile **out, char *why, size_t whylen)
{
	char *data = NULL, reason[TB_ENVFILE_WHY_MAX];
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = tb_file_read(
	         path, TB_FILE_TRUSTED, TB_ENVFILE_BYTES_MAX, &data, &len, why, whylen)) != 0)
		return r;
	if ((r = tb_envfile_parse(data, len, out, reason, sizeof(reason))) != 0)
		tb_whyf(why, whylen, "%s: %s", path, reason);
	tb_file_free(data, len);
	return r;
}

void
tb_envfile_free(struct tb_envfile *ef)
{
	size_t i;

	if (ef == NULL)
		return;
	for (i = 0; i < ef->n; i++) {
		free(ef->names[i]);
		free(ef->values[i]);
	}
	free(ef);
}

size_t
tb_envfile_count(const struct tb_envfile *ef)
{
	return ef != NULL ? ef->n : 0;
}

const char *
tb_envfile_name(const struct tb_envfile *ef, size_t i)
{
	return ef->names[i];
}

const char *
tb_envfile_value(const struct tb_envfile *ef, size_t i)
{
	return ef->values[i];
}

int
tb_envfile_apply(const struct tb_envfile *ef)
{
	size_t i;

	for (i = 0; i < tb_envfile_count(ef); i++)
		if (setenv(ef->names[i], ef->values[i], 0) != 0)
			return TB_ERR_ALLOC;
	return 0;
}

/* 1 when the environment vector env holds name. */
static int
holds(char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (; *env != NULL; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return 1;
	return 0;
}

int
tb_envfile_environ(const struct tb_envfile *ef, char *const *base, char ***out)
{
	char **envp = NULL;
	size_t nbase, i, k = 0;
	int r = TB_ERR_ALLOC;

	*out = NULL;
	for (nbase = 0; base[nbase] != NULL; nbase++)
		;
	if ((envp = calloc(nbase + tb_envfile_count(ef) + 1, sizeof(*envp))) == NULL)
		goto out;
	for (i = 0; i < nbase; i++)
		if ((envp[k++] = strdup(base[i])) == NULL)
			goto out;
	for (i = 0; i < tb_envfile_count(ef); i++) {
		size_t nn = strlen(ef->names[i]), nv = strlen(ef->values[i]);

		if (holds(base, ef->names[i]))
			continue;
		if ((envp[k] = malloc(nn + nv + 2)) == NULL)
			goto out;
		memcpy(envp[k], ef->names[i], nn);
		envp[k][nn] = '=';
		memcpy(envp[k] + nn + 1, ef->values[i], nv + 1);
		k++;
	}
	*out = envp;
	envp = NULL; /* transferred */
	r = 0;
out:
	tb_envfile_environ_free(envp);
	return r;
}

void
tb_envfile_environ_free(char **envp)
{
	size_t i;

	if (envp == NULL)
		return;
	for (i = 0; envp[i] != NULL; i++)
		free(envp[i]);
	free(envp);
}
