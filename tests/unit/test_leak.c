/* Unit tests of the leak matrix (user/core/leak.c): targets and arguments, the
 * verdict table, the plan, the rule replica that picks the other-port row,
 * and the table and JSON output. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/families.h"
#include "core/leak.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* --- targets and arguments --- */

static void test_parse_target(void **state)
{
	static const struct { const char *in; int rc, family; const char *text; } cases[] = {
		{ "192.0.2.1", 0, AF_INET, "192.0.2.1" },
		{ "2001:db8::1", 0, AF_INET6, "2001:db8::1" },
		{ "2001:0db8:0::0001", 0, AF_INET6, "2001:db8::1" },
		{ "::ffff:10.0.0.1", 0, AF_INET6, "::ffff:10.0.0.1" },
		{ "::1", 0, AF_INET6, "::1" },
		{ "192.0.2.1:80", -EINVAL, 0, NULL },
		{ "192.0.2.256", -EINVAL, 0, NULL },
		{ "[2001:db8::1]", -EINVAL, 0, NULL },
		{ "example.com", -EINVAL, 0, NULL },
		{ "", -EINVAL, 0, NULL },
		{ "10.0.0.1 ", -EINVAL, 0, NULL },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		struct cbpf_leak_target t;
		int rc = cbpf_leak_parse_target(cases[i].in, &t);

		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d, want %d", cases[i].in, rc, cases[i].rc);
		if (!rc) {
			assert_int_equal(t.family, cases[i].family);
			assert_string_equal(t.text, cases[i].text);
		}
	}
}

static int parse(struct cbpf_leak_args *a, char *msg, ...)
{
	char *argv[40] = { "selftest" };
	int argc = 1;
	va_list ap;

	va_start(ap, msg);
	while (argc < 39 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	msg[0] = '\0';
	return cbpf_leak_parse_args(argc, argv, a, msg, 256);
}

static void test_args(void **state)
{
	struct cbpf_leak_args a;
	char msg[256];

	(void)state;
	assert_int_equal(parse(&a, msg, NULL), 0);
	assert_string_equal(a.policy, "default");
	assert_int_equal(a.ntargets, 0);
	assert_int_equal(a.port, CBPF_LEAK_DEFAULT_PORT);
	assert_false(a.json);

	assert_int_equal(parse(&a, msg, "--policy", "p1", "--target", "10.0.0.1",
			       "--target=fd00::1", "--port", "8080", "--json", NULL), 0);
	assert_string_equal(a.policy, "p1");
	assert_int_equal(a.ntargets, 2);
	assert_int_equal(a.targets[0].family, AF_INET);
	assert_string_equal(a.targets[1].text, "fd00::1");
	assert_int_equal(a.port, 8080);
	assert_true(a.json);

	assert_int_equal(parse(&a, msg, "--help", NULL), 0);
	assert_true(a.help);

	static const char *const bad_port[] = { "0", "65536", "-1", "+5", "80x", "", "99999999999" };

	for (size_t i = 0; i < N(bad_port); i++) {
		assert_int_equal(parse(&a, msg, "--port", bad_port[i], NULL), -EINVAL);
		assert_non_null(strstr(msg, "invalid --port"));
	}
	assert_int_equal(parse(&a, msg, "--port", "65535", NULL), 0);
	assert_int_equal(a.port, 65535);
	assert_int_equal(parse(&a, msg, "--target", "host.example", NULL), -EINVAL);
	assert_string_equal(msg, "invalid target 'host.example': an IPv4 or IPv6 address");
	assert_int_equal(parse(&a, msg, "--bogus", NULL), -EINVAL);
	assert_non_null(strstr(msg, "--bogus"));
	assert_int_equal(parse(&a, msg, "extra", NULL), -EINVAL);
	assert_string_equal(msg, "unexpected argument 'extra'");

	char *many[2 * (CBPF_LEAK_MAX_TARGETS + 1) + 2] = { "selftest" };
	int argc = 1;

	for (int i = 0; i <= CBPF_LEAK_MAX_TARGETS; i++) {
		many[argc++] = "--target";
		many[argc++] = "10.0.0.1";
	}
	assert_int_equal(cbpf_leak_parse_args(argc, many, &a, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "more than"));
	assert_int_equal(cbpf_leak_parse_args(argc - 2, many, &a, msg, sizeof(msg)), 0);
	assert_int_equal(a.ntargets, CBPF_LEAK_MAX_TARGETS);
}

/* --- verdicts --- */

static void test_classify(void **state)
{
	enum { U = CBPF_LEAK_UNTESTED, B = CBPF_LEAK_BLOCKED, L = CBPF_LEAK_LEAKED };
	static const struct {
		enum cbpf_leak_route route;
		enum cbpf_leak_stage stage;
		int err;
		bool answered;
		int counted;
		int want;
		const char *why;
	} cases[] = {
		{ CBPF_LEAK_TCP, CBPF_STAGE_HOOK, EPERM, false, 1, B, "hook EPERM, counted" },
		{ CBPF_LEAK_TCP, CBPF_STAGE_HOOK, EPERM, false, -1, B, "hook EPERM, no counters (container)" },
		{ CBPF_LEAK_TCP, CBPF_STAGE_HOOK, EPERM, false, 0, U, "EPERM nobody counted: another filter" },
		{ CBPF_LEAK_TCP, CBPF_STAGE_HOOK, ENETUNREACH, false, 0, L, "allowed, no route" },
		{ CBPF_LEAK_TCP, CBPF_STAGE_HOOK, ENETUNREACH, false, 1, L, "no route: egress never ran, a count is someone else's" },
		{ CBPF_LEAK_TCP, CBPF_STAGE_HOOK, EINVAL, false, -1, L, "blackhole route after the hook" },
		{ CBPF_LEAK_TCP, CBPF_STAGE_HOOK, ECONNREFUSED, true, 0, L, "answered with a reset" },
		{ CBPF_LEAK_TCP, CBPF_STAGE_HOOK, 0, true, 1, L, "established, whatever was counted" },
		{ CBPF_LEAK_TCP, CBPF_STAGE_HOOK, EINPROGRESS, false, 1, B, "SYN dropped at egress" },
		{ CBPF_LEAK_TCP, CBPF_STAGE_HOOK, EINPROGRESS, false, 0, L, "SYN left unanswered" },
		{ CBPF_LEAK_TCP, CBPF_STAGE_HOOK, EINPROGRESS, false, -1, L, "SYN under way, no counters" },
		{ CBPF_LEAK_TCP_FASTOPEN, CBPF_STAGE_HOOK, EOPNOTSUPP, false, 0, U, "Fast Open off" },
		{ CBPF_LEAK_TCP, CBPF_STAGE_SOCKET, EAFNOSUPPORT, false, 0, U, "no IPv6" },
		{ CBPF_LEAK_UDP_SENDTO, CBPF_STAGE_HOOK, 0, true, 1, L, "datagram handed on" },
		{ CBPF_LEAK_UDP_SENDTO, CBPF_STAGE_HOOK, EPERM, false, 1, B, "sendmsg hook" },
		{ CBPF_LEAK_UDP_CONNECT, CBPF_STAGE_EGRESS, EPERM, false, 1, B, "egress drop" },
		{ CBPF_LEAK_UDP_CONNECT, CBPF_STAGE_EGRESS, 0, false, 1, L, "sent" },
		{ CBPF_LEAK_PING, CBPF_STAGE_SOCKET, EACCES, false, 0, U, "ping_group_range" },
		{ CBPF_LEAK_PING, CBPF_STAGE_EGRESS, EPERM, false, 1, B, "egress drop" },
		{ CBPF_LEAK_PING, CBPF_STAGE_EGRESS, ENETUNREACH, false, 0, U, "routing before egress" },
		{ CBPF_LEAK_PING, CBPF_STAGE_EGRESS, 0, false, 0, L, "echo sent, nothing counted" },
		{ CBPF_LEAK_PING, CBPF_STAGE_EGRESS, 0, false, 1, B, "ICMPv6 ping: success reported, dropped at egress" },
		{ CBPF_LEAK_PING, CBPF_STAGE_EGRESS, 0, false, -1, U, "echo sent, no counters" },
		{ CBPF_LEAK_UDP_CONNECT, CBPF_STAGE_EGRESS, 0, false, -1, L, "UDP would have said EPERM" },
		{ CBPF_LEAK_RAW, CBPF_STAGE_SOCKET, EPERM, false, 1, B, "sock_create" },
		{ CBPF_LEAK_RAW, CBPF_STAGE_SOCKET, EPERM, false, 0, U, "capability, not the programs" },
		{ CBPF_LEAK_FAMILY, CBPF_STAGE_SOCKET, EAFNOSUPPORT, false, 0, B, "refused by the filter" },
		{ CBPF_LEAK_FAMILY, CBPF_STAGE_SOCKET, EPERM, false, -1, B, "no CAP_NET_RAW, no counters" },
		{ CBPF_LEAK_FAMILY, CBPF_STAGE_SOCKET, 0, false, 0, L, "vsock socket made" },
		{ CBPF_LEAK_FAMILY, CBPF_STAGE_SOCKET, 0, false, 1, L, "made, whatever was counted" },
		{ CBPF_LEAK_LOOPBACK_TCP, CBPF_STAGE_HOOK, ECONNREFUSED, false, 0, L, "loopback refused synchronously" },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		int got = cbpf_leak_classify(cases[i].route, cases[i].stage, cases[i].err,
					     cases[i].answered, cases[i].counted);

		if (got != cases[i].want)
			fail_msg("case %zu (%s): got %s, want %s", i, cases[i].why,
				 cbpf_leak_outcome_name(got), cbpf_leak_outcome_name(cases[i].want));
	}
}

/* --- plan --- */

static size_t count_route(const struct cbpf_leak_row *rows, size_t n, enum cbpf_leak_route r)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += rows[i].route == r;
	return c;
}

static const struct cbpf_leak_row *find_row(const struct cbpf_leak_row *rows, size_t n,
					    enum cbpf_leak_route r)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].route == r)
			return &rows[i];
	return NULL;
}

static void test_plan(void **state)
{
	struct cbpf_leak_plan_in in = { .port = 8080, .nested_cgroup = true };
	struct cbpf_leak_row rows[CBPF_LEAK_MAX_ROWS];
	const struct cbpf_leak_row *r;
	int n;

	(void)state;
	cbpf_leak_add_target(in.targets, &in.ntargets, "192.0.2.1");
	cbpf_leak_add_target(in.targets, &in.ntargets, "2001:db8::1");
	n = cbpf_leak_plan(&in, rows, N(rows));
	/* 11 per-target kinds x 2 + v4-mapped x 1 + other port + 2 loopback,
	 * and one row per refused family: 1 to 45 but the four allowed */
	assert_int_equal(n, 11 * 2 + 1 + 1 + 2 + (CBPF_FAMILY_LIMIT - 1 - 4));
	assert_int_equal(count_route(rows, (size_t)n, CBPF_LEAK_TCP_V4MAPPED), 1);
	r = find_row(rows, (size_t)n, CBPF_LEAK_TCP_V4MAPPED);
	assert_string_equal(r->t.text, "::ffff:192.0.2.1");
	assert_int_equal(r->t.family, AF_INET6);
	assert_int_equal(count_route(rows, (size_t)n, CBPF_LEAK_FAMILY), CBPF_FAMILY_LIMIT - 5);
	for (int i = 0; i < n; i++)
		if (rows[i].route == CBPF_LEAK_FAMILY)
			assert_false(cbpf_family_allowed(rows[i].sock_family) ||
				     rows[i].sock_family == AF_UNSPEC);
	r = find_row(rows, (size_t)n, CBPF_LEAK_FAMILY);
	assert_int_equal(r->t.family, 0);
	r = find_row(rows, (size_t)n, CBPF_LEAK_DNS_UDP);
	assert_int_equal(r->port, 53);
	r = find_row(rows, (size_t)n, CBPF_LEAK_PING);
	assert_int_equal(r->port, 0);
	r = find_row(rows, (size_t)n, CBPF_LEAK_TCP);
	assert_int_equal(r->port, 8080);
	assert_false(r->planned_untested);
	r = find_row(rows, (size_t)n, CBPF_LEAK_OTHER_PORT);
	assert_true(r->planned_untested);
	assert_int_equal(r->t.family, 0);
	r = find_row(rows, (size_t)n, CBPF_LEAK_LOOPBACK_TCP);
	assert_string_equal(r->t.text, "127.0.0.1");
	assert_false(r->planned_untested);
	for (int i = 0; i < n; i++)
		assert_int_equal(rows[i].outcome, CBPF_LEAK_UNTESTED);

	/* What the policy allows on purpose, and a missing nested cgroup. */
	in.loopback_allowed[1] = true;
	in.nested_cgroup = false;
	in.other_port_found = true;
	cbpf_leak_parse_target("10.1.2.3", &in.other_addr);
	in.other_port = 444;
	in.other_proto = CBPF_PROTO_UDP;
	n = cbpf_leak_plan(&in, rows, N(rows));
	assert_true(n > 0);
	r = find_row(rows, (size_t)n, CBPF_LEAK_OTHER_PORT);
	assert_false(r->planned_untested);
	assert_int_equal(r->port, 444);
	assert_int_equal(r->proto, CBPF_PROTO_UDP);
	assert_true(rows[n - 1].planned_untested);     /* ::1 */
	assert_false(rows[n - 2].planned_untested);    /* 127.0.0.1 */
	assert_true(find_row(rows, (size_t)n, CBPF_LEAK_CGROUP_TCP)->planned_untested);

	assert_int_equal(cbpf_leak_plan(&in, rows, 10), -E2BIG);
}

/* --- the rule replica --- */

static void push(struct cbpf_ruleset *rs, int action, const char *addr, int prefix,
		 int proto, int port)
{
	struct cbpf_rule_entry e = { 0 };
	struct cbpf_leak_target t;

	assert_int_equal(cbpf_leak_parse_target(addr, &t), 0);
	if (t.family == AF_INET) {
		e.key.addr[10] = e.key.addr[11] = 0xff;
		memcpy(&e.key.addr[12], t.addr, 4);
		prefix += 96;
	} else {
		memcpy(e.key.addr, t.addr, 16);
	}
	e.key.prefixlen = CBPF_KEY_FIXED_BITS + (uint32_t)prefix;
	e.key.proto = (uint8_t)proto;
	e.key.port = htons((uint16_t)port);
	e.val.action = (uint8_t)action;
	e.val.addr_prefix = (uint8_t)prefix;
	assert_int_equal(cbpf_ruleset_push(rs, &e), 0);
}

static bool allowed(const struct cbpf_ruleset *rs, const char *addr, int proto, int port)
{
	struct cbpf_leak_target t;
	uint8_t a[16] = { [10] = 0xff, [11] = 0xff }, prefix;

	assert_int_equal(cbpf_leak_parse_target(addr, &t), 0);
	if (t.family == AF_INET)
		memcpy(a + 12, t.addr, 4);
	else
		memcpy(a, t.addr, 16);
	return cbpf_rules_decide(rs, a, (uint8_t)proto, (uint16_t)port, 0, &prefix);
}

static void test_rules(void **state)
{
	struct cbpf_ruleset rs = { 0 };
	struct cbpf_leak_plan_in in = { .port = 443 };

	(void)state;
	push(&rs, CBPF_ACTION_ALLOW, "10.1.1.53", 32, CBPF_PROTO_UDP, 53);   /* a resolver */
	push(&rs, CBPF_ACTION_ALLOW, "10.2.0.0", 16, CBPF_PROTO_TCP, 5432);
	push(&rs, CBPF_ACTION_ALLOW, "10.3.0.7", 32, CBPF_PROTO_TCP, 8080);
	push(&rs, CBPF_ACTION_ALLOW, "10.3.0.7", 32, CBPF_PROTO_TCP, 8081);
	push(&rs, CBPF_ACTION_ALLOW, "10.3.0.7", 32, CBPF_PROTO_TCP, 0);    /* every TCP port of it */
	push(&rs, CBPF_ACTION_DENY, "10.3.0.0", 24, CBPF_PROTO_ANY, 0);
	push(&rs, CBPF_ACTION_ALLOW, "10.4.0.0", 16, CBPF_PROTO_ANY, 0);
	push(&rs, CBPF_ACTION_DENY, "10.4.9.0", 24, CBPF_PROTO_ANY, 0);
	push(&rs, CBPF_ACTION_ALLOW, "127.0.0.1", 32, CBPF_PROTO_TCP, 443);
	cbpf_ruleset_finish(&rs);

	assert_true(allowed(&rs, "10.1.1.53", CBPF_PROTO_UDP, 53));
	assert_false(allowed(&rs, "10.1.1.53", CBPF_PROTO_TCP, 53));
	assert_true(allowed(&rs, "10.2.200.1", CBPF_PROTO_TCP, 5432));
	assert_false(allowed(&rs, "10.2.200.1", CBPF_PROTO_TCP, 5433));
	assert_true(allowed(&rs, "10.3.0.7", CBPF_PROTO_TCP, 9999));   /* /32 any-port beats /24 deny */
	assert_false(allowed(&rs, "10.3.0.7", CBPF_PROTO_UDP, 8080));
	assert_true(allowed(&rs, "10.4.1.1", CBPF_PROTO_ICMP, 0));
	assert_false(allowed(&rs, "10.4.9.1", CBPF_PROTO_TCP, 80));    /* longer deny wins */
	assert_false(allowed(&rs, "192.0.2.1", CBPF_PROTO_TCP, 443));

	/* 10.3.0.7 is allowed on every TCP port: no other port there. The
	 * exact hosts come first, DNS last: so none; then prefixes: 10.2.0.0. */
	cbpf_leak_plan_from_rules(&rs, 0, &in);
	assert_true(in.other_port_found);
	assert_string_equal(in.other_addr.text, "10.2.0.0");
	assert_int_equal(in.other_port, 5433);
	assert_int_equal(in.other_proto, CBPF_PROTO_TCP);
	assert_true(in.loopback_allowed[0]);
	assert_false(in.loopback_allowed[1]);
	in.port = 80;
	cbpf_leak_plan_from_rules(&rs, 0, &in);
	assert_false(in.loopback_allowed[0]);
	cbpf_ruleset_free(&rs);

	/* Only a resolver: its address on port 54. */
	push(&rs, CBPF_ACTION_ALLOW, "10.1.1.53", 32, CBPF_PROTO_UDP, 53);
	cbpf_ruleset_finish(&rs);
	cbpf_leak_plan_from_rules(&rs, 0, &in);
	assert_true(in.other_port_found);
	assert_string_equal(in.other_addr.text, "10.1.1.53");
	assert_int_equal(in.other_port, 54);
	assert_int_equal(in.other_proto, CBPF_PROTO_UDP);
	cbpf_ruleset_free(&rs);

	/* Every port of everything: nothing to try, and it says why. */
	push(&rs, CBPF_ACTION_ALLOW, "::", 0, CBPF_PROTO_ANY, 0);
	cbpf_ruleset_finish(&rs);
	cbpf_leak_plan_from_rules(&rs, 0, &in);
	assert_false(in.other_port_found);
	assert_non_null(in.other_why);
	cbpf_ruleset_free(&rs);
}

/* --- output --- */

static char *render(bool json, const struct cbpf_leak_row *rows, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	if (json)
		cbpf_leak_print_json(f, rows, n);
	else
		cbpf_leak_print_table(f, rows, n);
	fclose(f);
	return buf;
}

static void test_output(void **state)
{
	struct cbpf_leak_row rows[3] = { 0 };
	char *s;

	(void)state;
	rows[0].route = CBPF_LEAK_TCP;
	cbpf_leak_parse_target("2001:db8::1", &rows[0].t);
	rows[0].port = 443;
	rows[0].outcome = CBPF_LEAK_BLOCKED;
	snprintf(rows[0].how, sizeof(rows[0].how), "connect: EPERM (no_rule)");
	rows[1].route = CBPF_LEAK_FAMILY;
	rows[1].sock_family = AF_VSOCK;
	rows[1].outcome = CBPF_LEAK_LEAKED;
	snprintf(rows[1].how, sizeof(rows[1].how), "say \"hi\"\\\n");
	rows[2].route = CBPF_LEAK_PING;
	cbpf_leak_parse_target("192.0.2.1", &rows[2].t);
	snprintf(rows[2].how, sizeof(rows[2].how), "untested here");

	s = render(true, rows, 3);
	assert_string_equal(s,
		"\"results\":["
		"{\"route\":\"tcp\",\"address\":\"2001:db8::1\",\"port\":443,\"proto\":\"tcp\","
		"\"result\":\"blocked\",\"how\":\"connect: EPERM (no_rule)\"},"
		"{\"route\":\"socket-family\",\"address\":null,\"port\":0,\"proto\":\"AF_VSOCK\","
		"\"result\":\"leaked\",\"how\":\"say \\\"hi\\\"\\\\\\u000a\"},"
		"{\"route\":\"ping\",\"address\":\"192.0.2.1\",\"port\":0,\"proto\":\"icmp\","
		"\"result\":\"untested\",\"how\":\"untested here\"}"
		"],\"blocked\":1,\"leaked\":1,\"untested\":1");
	free(s);

	s = render(false, rows, 3);
	assert_non_null(strstr(s, "ROUTE"));
	assert_non_null(strstr(s, "\ntcp "));
	assert_non_null(strstr(s, "[2001:db8::1]:443"));
	assert_non_null(strstr(s, " blocked "));
	assert_non_null(strstr(s, " LEAKED "));
	assert_non_null(strstr(s, "\n1 blocked, 1 LEAKED, 1 untested\n"));
	free(s);

	char dest[64];

	cbpf_leak_format_dest(&rows[2], dest, sizeof(dest));
	assert_string_equal(dest, "192.0.2.1");
	rows[2].port = 53;
	cbpf_leak_format_dest(&rows[2], dest, sizeof(dest));
	assert_string_equal(dest, "192.0.2.1:53");
	cbpf_leak_format_dest(&rows[1], dest, sizeof(dest));
	assert_string_equal(dest, "AF_VSOCK");
	assert_string_equal(cbpf_family_name(AF_RDS), "AF_RDS");
	assert_string_equal(cbpf_family_name(CBPF_FAMILY_LIMIT), "AF_46");
	for (int r = 0; r < CBPF_LEAK__COUNT; r++)
		assert_string_not_equal(cbpf_leak_route_name(r), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_target),
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
