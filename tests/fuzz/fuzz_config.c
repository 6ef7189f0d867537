/* fuzz_config.c: libFuzzer target for the settings: tb_config_load on a fuzzed environment. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "valid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The input is the environment, one NAME=VALUE a line (a line without '=' is skipped), as an
 * operator writes it in FcgidInitialEnv or bin-environment. Each run gets an environment of its
 * own: environ points at the input's lines (setenv would keep every value it was ever given, as
 * glibc does, and a long run would grow without end). Key and registry files are opened later
 * (tb_app_new), so a run touches no file.
 */
#define ENV_INPUT_MAX (64 * 1024)
#define ENV_VARS_MAX 1024

extern char **environ;

struct seen {
	int errors, warnings;
};

/*
 * Every problem names its setting in one line (values cannot hold a line break here: the input
 * is split on them); errors are counted against the result.
 */
static void
report(void *arg, int warning, const char *setting, const char *msg)
{
	struct seen *s = arg;

	if (setting == NULL || *setting == '\0' || msg == NULL || *msg == '\0')
		abort();
	if (strchr(msg, '\n') != NULL)
		abort();
	if (warning)
		s->warnings++;
	else
		s->errors++;
}

/* A loaded configuration holds what the rest of the program relies on without checking. */
static void
check(const struct tb_config *c)
{
	size_t n;

	if (c->nflows < 1 || c->nflows > TB_FLOWS_MAX || c->audience == NULL ||
	    c->validity < TB_VALIDITY_MIN || c->validity > TB_VALIDITY_MAX ||
	    !tb_valid_timeout(c->upstream_timeout) || c->sts_endpoint == NULL ||
	    c->iam_endpoint == NULL || c->metadata_host == NULL)
		abort();
	/* exactly one signer */
	if ((c->nsigning_keys > 0) == (c->signing_account != NULL) ||
	    c->nsigning_keys > TB_KEYS_MAX)
		abort();
	for (n = 0; n < c->nsigning_keys; n++) {
		if (c->signing_keys[n] == NULL || c->signing_keys[n][0] == '\0')
			abort();
	}
	if (c->issuer != NULL) {
		n = strlen(c->issuer);
		if (n == 0 || n > TB_ISSUER_MAX || c->issuer[n - 1] == '/' ||
		    c->issuer_path == NULL || strlen(c->issuer_path) > n ||
		    strcmp(c->issuer + n - strlen(c->issuer_path), c->issuer_path) != 0)
			abort();
	}
	for (n = 0; n < TB_XLB_HEADERS; n++) {
		if (c->xlb_headers[n] == NULL || c->xlb_headers[n][0] == '\0')
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *vars[ENV_VARS_MAX + 1], *none[1];
	struct tb_config *cfg = NULL;
	struct seen seen = {0, 0};
	char *text, *line, *next, *eq;
	size_t n = 0;
	int r;

	if (size > ENV_INPUT_MAX || (text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (line = text; line != NULL && n < ENV_VARS_MAX; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((eq = strchr(line, '=')) != NULL && eq != line)
			vars[n++] = line;
	}
	vars[n] = NULL;
	environ = vars;
	r = tb_config_load(report, &seen, &cfg);
	environ = none; /* the lines are freed below; the config holds copies */
	if (r == 0) {
		if (cfg == NULL || seen.errors != 0)
			abort();
		check(cfg);
	} else if (cfg != NULL || (r != TB_ERR_CONFIG && r != TB_ERR_ALLOC) ||
	           (r == TB_ERR_CONFIG && seen.errors == 0)) {
		abort();
	}
	tb_config_free(cfg);
	free(text);
	return 0;
}
