/* fuzz_registry.c: the client registry's JSON, as an operator could write it. */
#include <stddef.h>
#include <stdint.h>

#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tb_registry *reg = NULL;
	char why[256];

	if (tb_registry_parse((const char *)data, size, "fuzz", &reg, why, sizeof(why)) == 0)
		tb_registry_free(reg);
	return 0;
}
