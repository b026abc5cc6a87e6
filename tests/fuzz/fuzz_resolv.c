/* libFuzzer target: reading name servers out of resolv.conf text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "core/resolve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[4][16];
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (cbpf_parse_resolv_conf(text, out, 4) > 4)
		abort();
	free(text);
	return 0;
}
