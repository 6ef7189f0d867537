/*
 * bench_registry.c: how long a registry takes to load and a decision takes, for
 * scripts/bench-registry (a measurement, not a test: it asserts nothing about time).
 *
 *   bench_registry REGISTRY CERT.pem [CERT.pem...] [-n LOOKUPS]
 *
 * Loads REGISTRY once (timed), then for each certificate builds its identity as the mtls flow
 * does and calls tb_registry_decide LOOKUPS times (default 100000). Prints one line of
 * key=value pairs per measurement, and the process's peak resident set (getrusage).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cert.h"
#include "config.h"
#include "err.h"
#include "file.h"
#include "registry.h"

#define PEM_FILE_MAX (64 * 1024)

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct tb_identity *
identity_of(const char *file)
{
	struct tb_identity *id = NULL;
	char *pem = NULL, why[TB_FILE_WHY_MAX];
	size_t len = 0;

	if (tb_file_read(file, TB_FILE_TRUSTED, PEM_FILE_MAX, &pem, &len, why, sizeof(why)) != 0) {
		fprintf(stderr, "bench_registry: %s\n", why);
		return NULL;
	}
	if (tb_cert_identity(pem, len, time(NULL), &id, why, sizeof(why)) != 0)
		fprintf(stderr, "bench_registry: %s: %s\n", file, why);
	tb_file_free(pem, len);
	return id;
}

/* LOOKUPS decisions for one certificate; prints the mean cost. */
static int
lookups(const struct tb_registry *reg, const char *file, long n)
{
	struct tb_identity *id = identity_of(file);
	const struct tb_client *cl = NULL;
	char why[TB_WHY_MAX] = "";
	const char *entry = "none";
	double t0, t1;
	long i;
	int r = 0;

	if (id == NULL)
		return 1;
	t0 = now_s();
	for (i = 0; i < n && r == 0; i++)
		r = tb_registry_decide(reg, NULL, TB_ID_SHA256, id, &cl, why, sizeof(why));
	t1 = now_s();
	if (r == 0)
		entry = tb_client_group(cl) != NULL ? tb_client_group(cl) : tb_client_id(cl);
	printf("lookup cert=%s entry=%s client_id=%s us_per_lookup=%.3f%s%s\n", file,
	    entry != NULL ? entry : "(unnamed)", r == 0 ? id->client_id : "-",
	    (t1 - t0) * 1e6 / (double)(i > 0 ? i : 1),
	    r == 0 ? "" : " refused=", r == 0 ? "" : why);
	tb_identity_free(id);
	return 0;
}

int
main(int argc, char **argv)
{
	struct tb_registry *reg = NULL;
	char why[TB_REGISTRY_WHY_MAX];
	struct rusage ru;
	long n = 100000;
	double t0, t1;
	int i, status = 0;

	for (i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "-n") == 0) {
			n = strtol(argv[i + 1], NULL, 10);
			argv[i] = argv[i + 1] = NULL;
			break;
		}
	if (argc < 3 || argv[1] == NULL || n <= 0) {
		fprintf(stderr, "usage: bench_registry REGISTRY CERT.pem... [-n LOOKUPS]\n");
		return 2;
	}
	t0 = now_s();
	if (tb_registry_load(argv[1], NULL, &reg, why, sizeof(why)) != 0) {
		fprintf(stderr, "bench_registry: %s\n", why);
		return 1;
	}
	t1 = now_s();
	printf("load file=%s clients=%zu groups=%zu ms=%.1f\n", argv[1], tb_registry_count(reg),
	    tb_registry_group_count(reg), (t1 - t0) * 1e3);
	for (i = 2; i < argc; i++)
		if (argv[i] != NULL)
			status |= lookups(reg, argv[i], n);
	tb_registry_free(reg);
	getrusage(RUSAGE_SELF, &ru);
	printf("peak maxrss_kb=%ld\n", ru.ru_maxrss);
	return status;
}
