/* libFuzzer target: podman's seccomp profile made into the sandbox's
 * (cbpf_seccomp_podman_profile). A profile it accepts must come out as
 * JSON where socket() has only the sandbox's rules and socketcall() and
 * io_uring appear nowhere. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "core/seccomp_filter.h"

static void check(const char *out)
{
	json_object *root = json_tokener_parse(out), *list;
	size_t sockets = 0;

	if (!root || !json_object_object_get_ex(root, "syscalls", &list))
		abort();
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *names = json_object_object_get(json_object_array_get_idx(list, i),
							    "names");

		for (size_t j = 0; j < json_object_array_length(names); j++) {
			const char *n = json_object_get_string(json_object_array_get_idx(names, j));

			if (!strcmp(n, "socketcall") || !strcmp(n, "io_uring_setup") ||
			    !strcmp(n, "io_uring_enter") || !strcmp(n, "io_uring_register"))
				abort();
			sockets += !strcmp(n, "socket");
		}
	}
	/* One per family below the limit, and one for the rest. */
	if (sockets != 47)
		abort();
	json_object_put(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *out = NULL, msg[256];

	if (cbpf_seccomp_podman_profile((const char *)data, size, &out, msg, sizeof(msg)) == 0) {
		check(out);
		free(out);
	} else if (out || !msg[0]) {
		abort();
	}
	return 0;
}
