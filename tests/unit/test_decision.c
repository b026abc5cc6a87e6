/* Unit tests of the user-space statement of the decision
 * (cbpf_rules_decide, user/core/rules.c), driven by the vectors that
 * tests/tools/decide.c runs through the BPF programs themselves. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../decision/vectors.h"
#include "core/rules.h"

#define SECOND 1000000000ull
/* Any boot time will do: the vectors' expiries are relative to it. */
#define NOW (1000 * SECOND)

static bool decide(const struct cbpf_vector *v, uint64_t expiry_now, uint64_t judge_now,
		   uint8_t *prefix)
{
	struct cbpf_ruleset rs;
	uint8_t addr[16];
	char msg[256] = "";
	bool v4, allow;

	if (cbpf_vector_ruleset(v, expiry_now, &rs, msg, sizeof(msg)))
		fail_msg("vector '%s': %s", v->name, msg);
	assert_int_equal(cbpf_vector_addr(v, addr, &v4), 0);
	allow = cbpf_rules_decide(&rs, addr, v->proto, v->port, judge_now, prefix);
	cbpf_ruleset_free(&rs);
	return allow;
}

/* Every vector, every mismatch reported before the test fails. */
static void test_vectors(void **state)
{
	size_t failed = 0;

	(void)state;
	for (size_t i = 0; i < cbpf_nvectors; i++) {
		const struct cbpf_vector *v = &cbpf_vectors[i];
		char dest[96];
		uint8_t prefix;
		bool allow = decide(v, NOW, NOW, &prefix);

		cbpf_vector_dest_text(v, dest, sizeof(dest));
		printf("%-4s  %s: %s -> %s\n", allow == v->allow ? "ok" : "FAIL", v->name,
		       dest, allow ? "allow" : "deny");
		failed += allow != v->allow;
	}
	assert_int_equal(failed, 0);
}

/* What the table must be for both of its drivers: a rule set that
 * compiles, an address, ports only where the packet has them (the egress
 * program reads ports of TCP and UDP alone), distinct names. */
static void test_vectors_sane(void **state)
{
	(void)state;
	assert_true(cbpf_nvectors >= 25);
	for (size_t i = 0; i < cbpf_nvectors; i++) {
		const struct cbpf_vector *v = &cbpf_vectors[i];
		struct cbpf_ruleset rs;
		uint8_t addr[16];
		char msg[256] = "";
		bool v4;

		if (cbpf_vector_ruleset(v, NOW, &rs, msg, sizeof(msg)))
			fail_msg("vector '%s': %s", v->name, msg);
		cbpf_ruleset_free(&rs);
		if (cbpf_vector_addr(v, addr, &v4))
			fail_msg("vector '%s': '%s' is not an address", v->name, v->dest);
		if ((v->proto == CBPF_PROTO_TCP || v->proto == CBPF_PROTO_UDP) != (v->port != 0))
			fail_msg("vector '%s': a port for TCP and UDP only", v->name);
		if (v->expired && !v->expiring)
			fail_msg("vector '%s': expired, but nothing expires", v->name);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(cbpf_vectors[j].name, v->name))
				fail_msg("vector '%s' twice", v->name);
	}
}

/* now_ns 0 checks no expiry: an expired vector judged so is judged as if
 * its rules were still valid. */
static void test_now_zero(void **state)
{
	(void)state;
	for (size_t i = 0; i < cbpf_nvectors; i++) {
		struct cbpf_vector valid = cbpf_vectors[i];
		uint8_t p1, p2;

		if (!valid.expired)
			continue;
		valid.expired = false;
		assert_int_equal(decide(&cbpf_vectors[i], NOW, 0, &p1), decide(&valid, NOW, NOW, &p2));
		assert_int_equal(p1, p2);
	}
}

/* *prefix names the deciding rule: 128 for a whole address, the prefix
 * otherwise, 0 when nothing matched. */
static void test_prefix(void **state)
{
	static const struct {
		struct cbpf_vector v;
		uint8_t prefix;
	} cases[] = {
		{ { "whole IPv4 address", "192.0.2.10:443/tcp", NULL, false, "192.0.2.10",
		    CBPF_PROTO_TCP, 443, true }, 128 },
		{ { "IPv4 /16", "10.1.0.0/16:*", NULL, false, "10.1.2.3",
		    CBPF_PROTO_UDP, 53, true }, 96 + 16 },
		{ { "IPv4 /24 deny inside /16", "10.1.0.0/16:*\ndeny 10.1.2.0/24", NULL, false,
		    "10.1.2.3", CBPF_PROTO_TCP, 80, false }, 96 + 24 },
		{ { "IPv6 /48", "[2001:db8::/48]:443", NULL, false, "2001:db8::7",
		    CBPF_PROTO_TCP, 443, true }, 48 },
		{ { "nothing", "10.1.0.0/16:*", NULL, false, "10.2.0.1",
		    CBPF_PROTO_TCP, 80, false }, 0 },
		{ { "expired", "", "192.0.2.10:443/tcp", true, "192.0.2.10",
		    CBPF_PROTO_TCP, 443, false }, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t prefix = 0xff;

		assert_int_equal(decide(&cases[i].v, NOW, NOW, &prefix), cases[i].v.allow);
		if (prefix != cases[i].prefix)
			fail_msg("%s: prefix %u, want %u", cases[i].v.name, prefix, cases[i].prefix);
	}
}

/* The programs ask the whole-address map first and stop at its first
 * match; is that ever another answer than the longest prefix over every
 * rule at once? Not while nothing expires: a whole-address rule is the
 * longest prefix there is. Random rule sets against that plain
 * statement (an expired prefix is where they part: see the vectors). */
static uint32_t rnd_state = 12345;

static uint32_t rnd(uint32_t n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 16) % n;
}

static bool in_prefix(const uint8_t a[16], const uint8_t net[16], unsigned len)
{
	for (unsigned b = 0; b < len; b++)
		if ((a[b / 8] ^ net[b / 8]) & (0x80 >> (b % 8)))
			return false;
	return true;
}

static bool longest_prefix(const struct cbpf_ruleset *rs, const uint8_t a[16],
			   uint8_t proto, uint16_t port)
{
	const struct { uint8_t proto; uint16_t port; } keys[3] = {
		{ proto, htons(port) }, { proto, 0 }, { CBPF_PROTO_ANY, 0 },
	};
	const struct cbpf_rule_entry *best = NULL;

	for (int k = 0; k < 3; k++)
		for (size_t i = 0; i < rs->n; i++) {
			const struct cbpf_rule_entry *e = &rs->v[i];

			if (e->key.proto == keys[k].proto && e->key.port == keys[k].port &&
			    in_prefix(a, e->key.addr, e->val.addr_prefix) &&
			    (!best || e->val.addr_prefix > best->val.addr_prefix))
				best = e;
		}
	return best && best->val.action == CBPF_ACTION_ALLOW;
}

static void rnd_addr(uint8_t a[16], unsigned prefix)
{
	const uint8_t v4[4] = { 10, 0, (uint8_t)rnd(4), (uint8_t)rnd(4) };

	cbpf_v4_mapped(a, v4);
	for (unsigned b = prefix; b < 128; b++)
		a[b / 8] &= (uint8_t)~(0x80 >> (b % 8));
}

static void test_exact_first_is_longest_prefix(void **state)
{
	static const unsigned lens[] = { 96 + 8, 96 + 16, 96 + 24, 96 + 30, 128 };
	static const uint16_t ports[] = { 80, 443, 8080 };
	static const uint8_t protos[] = { CBPF_PROTO_TCP, CBPF_PROTO_UDP, CBPF_PROTO_ICMP };

	(void)state;
	for (int round = 0; round < 2000; round++) {
		struct cbpf_ruleset rs = {};
		size_t n = 1 + rnd(12);

		for (size_t i = 0; i < n; i++) {
			unsigned len = lens[rnd(5)];
			uint8_t proto = (uint8_t[]){ 0, CBPF_PROTO_TCP, CBPF_PROTO_UDP }[rnd(3)];
			struct cbpf_rule_entry e = {
				.key = {
					.prefixlen = CBPF_KEY_FIXED_BITS + len,
					.proto = proto,
					.port = proto && rnd(2) ? htons(ports[rnd(3)]) : 0,
				},
				.val = {
					.action = (uint8_t)rnd(2),
					.addr_prefix = (uint8_t)len,
				},
			};

			rnd_addr(e.key.addr, len);
			assert_int_equal(cbpf_ruleset_push(&rs, &e), 0);
		}
		cbpf_ruleset_finish(&rs);
		for (int d = 0; d < 16; d++) {
			uint8_t a[16], proto = protos[rnd(3)], prefix;
			uint16_t port = proto == CBPF_PROTO_ICMP ? 0 : ports[rnd(3)];

			rnd_addr(a, 128);
			assert_int_equal(cbpf_rules_decide(&rs, a, proto, port, NOW, &prefix),
					 longest_prefix(&rs, a, proto, port));
		}
		cbpf_ruleset_free(&rs);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_sane),
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_now_zero),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_exact_first_is_longest_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
