/* Unit tests for the pure part of user/core/resolve.c: reading name servers out
 * of resolv.conf text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/resolve.h"

#define V4(a, b, c, d) { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d }

static const struct {
	const char *text;
	size_t n;
	uint8_t want[3][16];
} cases[] = {
	{ "nameserver 10.255.255.53\n", 1, { V4(10, 255, 255, 53) } },
	{ "# systemd-resolved stub\nnameserver 127.0.0.53\noptions edns0 trust-ad\n"
	  "search example.com\n", 1, { V4(127, 0, 0, 53) } },
	{ "nameserver 192.0.2.1\nnameserver 2001:db8::53\n", 2,
	  { V4(192, 0, 2, 1), { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x53 } } },
	{ "  nameserver\t192.0.2.7  \n", 1, { V4(192, 0, 2, 7) } },
	{ "nameserver fe80::1%eth0\n", 1, { { 0xfe, 0x80, [15] = 1 } } },
	{ "nameserver not-an-address\nnameserver\nnameservers 192.0.2.1\n", 0, { { 0 } } },
	{ "domain x\n;comment\n", 0, { { 0 } } },
	{ "", 0, { { 0 } } },
	{ "nameserver 192.0.2.1", 1, { V4(192, 0, 2, 1) } },   /* no final newline */
};

static void test_parse_resolv_conf(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t out[3][16];
		size_t n = cbpf_parse_resolv_conf(cases[i].text, out, 3);

		if (n != cases[i].n)
			fail_msg("case %zu: %zu servers, want %zu", i, n, cases[i].n);
		for (size_t j = 0; j < n; j++)
			if (memcmp(out[j], cases[i].want[j], 16))
				fail_msg("case %zu: server %zu differs", i, j);
	}
}

static void test_max(void **state)
{
	uint8_t out[2][16];

	(void)state;
	assert_int_equal(cbpf_parse_resolv_conf("nameserver 192.0.2.1\nnameserver 192.0.2.2\n"
						"nameserver 192.0.2.3\n", out, 2), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_resolv_conf),
		cmocka_unit_test(test_max),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
