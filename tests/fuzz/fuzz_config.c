/* libFuzzer target: the allowlist parser and the rule compiler behind it,
 * with every hostname "resolved" to fixed addresses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "core/config.h"
#include "core/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t addrs[2][16] = {
		{ [10] = 0xff, [11] = 0xff, 192, 0, 2, 1 },
		{ 0x20, 0x01, 0x0d, 0xb8, [15] = 1 },
	};
	struct cbpf_errors errs = {};
	struct cbpf_conf conf = {};
	struct cbpf_ruleset rs = {};
	struct cbpf_resolved *res;
	char *text = malloc(size + 1), buf[64];

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (cbpf_conf_parse("fuzz.conf", text, &conf, &errs) == 0) {
		res = calloc(conf.n + 1, sizeof(*res));
		for (size_t i = 0; res && i < conf.n; i++) {
			res[i] = (struct cbpf_resolved){
				.host = conf.entries[i].host, .addrs = addrs, .n = 2,
				.ttl = 60, .expires_ns = 1,
			};
			cbpf_format_prefix(conf.entries[i].addr, conf.entries[i].prefix,
					   buf, sizeof(buf));
		}
		if (res && cbpf_rules_compile(&conf, res, conf.n, NULL, 0, &rs) == 0) {
			/* Sorted, unique keys with the host bits clear: what the
			 * BPF side relies on. */
			for (size_t i = 1; i < rs.n; i++)
				if (memcmp(&rs.v[i - 1].key, &rs.v[i].key, sizeof(rs.v[i].key)) >= 0)
					abort();
			cbpf_ruleset_free(&rs);
		}
		free(res);
		cbpf_conf_free(&conf);
	}
	cbpf_errors_free(&errs);
	free(text);
	return 0;
}
