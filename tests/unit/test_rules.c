/* Unit tests of rule compilation (user/core/rules.c): key layout, expansion of
 * ports and protocols, merging, order, hostnames and the built-in policies. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "core/rules.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MAXE 32

static void addr16(const char *s, uint8_t out[16])
{
	uint8_t prefix;

	assert_int_equal(cbpf_parse_prefix(s, strchr(s, ':') ? AF_INET6 : AF_INET,
					   out, &prefix), CBPF_PREFIX_OK);
	assert_int_equal(prefix, 128);
}

static void parse(const char *text, struct cbpf_conf *c)
{
	struct cbpf_errors errs = {};

	assert_int_equal(cbpf_conf_parse("t.conf", text, c, &errs), 0);
	assert_int_equal(errs.n, 0);
}

/* "allow tcp 443 10.1.0.0/16 h0 e0": one entry, readable in a table. */
static void describe(const struct cbpf_rule_entry *e, char *buf, size_t len)
{
	static const char *const names[] = { [0] = "any", [6] = "tcp", [17] = "udp" };
	char a[64], port[8] = "*";

	cbpf_format_prefix(e->key.addr, cbpf_key_addr_prefix(&e->key), a, sizeof(a));
	if (e->key.port)
		snprintf(port, sizeof(port), "%u", ntohs(e->key.port));
	snprintf(buf, len, "%s %s %s %s h%u e%llu",
		 e->val.action == CBPF_ACTION_DENY ? "deny" : "allow",
		 e->key.proto < N(names) && names[e->key.proto] ?
		 names[e->key.proto] : "?", port, a, e->val.host,
		 (unsigned long long)e->val.expires_ns);
}

/* What every rule set must satisfy for the loader and the BPF side. */
static void check_invariants(const struct cbpf_ruleset *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		const struct cbpf_rule_entry *e = &rs->v[i];
		uint8_t masked[16], prefix;
		char s[64];

		if (i)
			assert_true(memcmp(&rs->v[i - 1].key, &e->key,
					   sizeof(e->key)) < 0);
		assert_int_equal(e->key.policy, 0);
		assert_int_equal(e->key.pad, 0);
		assert_int_equal(e->val.pad, 0);
		assert_true(e->key.prefixlen >= CBPF_KEY_FIXED_BITS &&
			    e->key.prefixlen <= CBPF_KEY_FIXED_BITS + 128);
		assert_int_equal(e->val.addr_prefix, cbpf_key_addr_prefix(&e->key));
		assert_true(e->key.proto != CBPF_PROTO_ANY || e->key.port == 0);
		assert_true(e->val.host <= rs->nhosts);
		assert_true(e->val.host || !e->val.expires_ns);
		/* Host bits are zero: formatting and parsing back is exact. */
		cbpf_format_prefix(e->key.addr, e->val.addr_prefix, s, sizeof(s));
		assert_int_equal(cbpf_parse_prefix(s, strchr(s, ':') ? AF_INET6 :
						   AF_INET, masked, &prefix),
				 CBPF_PREFIX_OK);
		assert_memory_equal(masked, e->key.addr, 16);
	}
}

static void assert_entries(const struct cbpf_ruleset *rs,
			   const char *const *want, const char *name)
{
	size_t n = 0;
	char got[128], tag[160], wtag[160];

	check_invariants(rs);
	while (n < MAXE && want[n])
		n++;
	for (size_t i = 0; i < rs->n || i < n; i++) {
		/* Prefixed with the case name so a failure says which. */
		if (i < rs->n)
			describe(&rs->v[i], got, sizeof(got));
		snprintf(tag, sizeof(tag), "%s[%zu]: %s", name, i,
			 i < rs->n ? got : "(none)");
		snprintf(wtag, sizeof(wtag), "%s[%zu]: %s", name, i,
			 i < n ? want[i] : "(none)");
		assert_string_equal(tag, wtag);
	}
}

/* The exact bytes of two entries, as include/claude_bpf.h documents them. */
static void test_key_layout(void **state)
{
	static const uint8_t v4[16] = { [10] = 0xff, [11] = 0xff, 10, 1, 0, 0 };
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	struct cbpf_ruleset rs;
	struct cbpf_conf c;

	(void)state;
	parse("10.1.0.0/16:5432/tcp\n[2001:db8::/32]:443/udp\n", &c);
	assert_int_equal(cbpf_rules_compile(&c, NULL, 0, NULL, 0, &rs), 0);
	assert_int_equal(rs.n, 2);
	/* 64 + 32 sorts before 64 + 112 */
	assert_int_equal(rs.v[0].key.prefixlen, 64 + 32);
	assert_int_equal(rs.v[0].key.proto, CBPF_PROTO_UDP);
	assert_int_equal(rs.v[0].key.port, htons(443));
	assert_memory_equal(rs.v[0].key.addr, v6, 16);
	assert_int_equal(rs.v[0].val.addr_prefix, 32);

	assert_int_equal(rs.v[1].key.prefixlen, 64 + 112);
	assert_int_equal(rs.v[1].key.policy, 0);
	assert_int_equal(rs.v[1].key.proto, CBPF_PROTO_TCP);
	assert_int_equal(rs.v[1].key.pad, 0);
	assert_int_equal(rs.v[1].key.port, htons(5432));
	assert_memory_equal(rs.v[1].key.addr, v4, 16);
	assert_int_equal(rs.v[1].val.action, CBPF_ACTION_ALLOW);
	assert_int_equal(rs.v[1].val.addr_prefix, 112);
	assert_int_equal(rs.v[1].val.pad, 0);
	assert_int_equal(rs.v[1].val.host, 0);
	assert_int_equal(rs.v[1].val.expires_ns, 0);
	assert_int_equal(rs.flags, 0);
	assert_int_equal(rs.nhosts, 0);
	cbpf_ruleset_free(&rs);
	cbpf_conf_free(&c);
}

/* Configurations of literal addresses (no resolution) and the entries they
 * compile to, in key order: prefix length, protocol, port, address. */
static const struct {
	const char *name, *conf;
	const char *dns_default[3];
	const char *want[MAXE];
} cases[] = {
	{ "default ports, both protocols", "1.2.3.4", {}, {
		"allow tcp 80 1.2.3.4 h0 e0", "allow tcp 443 1.2.3.4 h0 e0",
		"allow udp 80 1.2.3.4 h0 e0", "allow udp 443 1.2.3.4 h0 e0" } },
	{ "one port, both protocols", "[2001:db8::/32]:443", {}, {
		"allow tcp 443 2001:db8::/32 h0 e0",
		"allow udp 443 2001:db8::/32 h0 e0" } },
	{ "tcp only", "10.1.0.0/16:5432/tcp", {}, {
		"allow tcp 5432 10.1.0.0/16 h0 e0" } },
	{ "udp only", "1.2.3.4:22/udp", {}, { "allow udp 22 1.2.3.4 h0 e0" } },
	{ "every protocol", "10.2.0.0/16:*", {}, { "allow any * 10.2.0.0/16 h0 e0" } },
	{ "every port, udp", "10.2.0.0/16:*/udp", {}, { "allow udp * 10.2.0.0/16 h0 e0" } },
	{ "every port, both", "deny [fe80::/10]:*/tcp\ndeny [fe80::/10]:*/udp", {}, {
		"deny tcp * fe80::/10 h0 e0", "deny udp * fe80::/10 h0 e0" } },
	{ "deny wins, deny last", "10.0.0.0/8:443/tcp\ndeny 10.0.0.0/8:443/tcp", {}, {
		"deny tcp 443 10.0.0.0/8 h0 e0" } },
	{ "deny wins, deny first", "deny 10.0.0.0/8:443/tcp\n10.0.0.0/8:443/tcp", {}, {
		"deny tcp 443 10.0.0.0/8 h0 e0" } },
	{ "deny wins only at its key", "1.2.3.4:443\ndeny 1.2.3.4:443/tcp", {}, {
		"deny tcp 443 1.2.3.4 h0 e0", "allow udp 443 1.2.3.4 h0 e0" } },
	{ "deny inside an allowed range", "10.0.0.0/8:*\ndeny 10.1.2.0/24:*", {}, {
		"allow any * 10.0.0.0/8 h0 e0", "deny any * 10.1.2.0/24 h0 e0" } },
	{ "duplicates merge", "1.2.3.4:443\n1.2.3.4:443/tcp\nallow 1.2.3.4:443", {}, {
		"allow tcp 443 1.2.3.4 h0 e0", "allow udp 443 1.2.3.4 h0 e0" } },
	{ "any-protocol and port rules coexist", "10.0.0.0/8:*\n10.0.0.0/8:443/tcp", {}, {
		"allow any * 10.0.0.0/8 h0 e0", "allow tcp 443 10.0.0.0/8 h0 e0" } },
	{ "sorted", "[2001:db8::1]:22/tcp\n10.0.0.0/8:22/tcp\n1.2.3.4:22/tcp\n"
		    "0.0.0.0/0:*/udp\n5.6.7.8:22/tcp\n1.2.3.4:21/tcp\n[::/0]:*", {}, {
		"allow any * ::/0 h0 e0",
		"allow udp * 0.0.0.0/0 h0 e0",
		"allow tcp 22 10.0.0.0/8 h0 e0",
		"allow tcp 21 1.2.3.4 h0 e0",
		"allow tcp 22 1.2.3.4 h0 e0",
		"allow tcp 22 5.6.7.8 h0 e0",
		"allow tcp 22 2001:db8::1 h0 e0" } },
	{ "dns from the file, not the default",
	  "dns 192.0.2.53\ndns [2001:db8::53]", { "9.9.9.9" }, {
		"allow tcp 53 192.0.2.53 h0 e0", "allow tcp 53 2001:db8::53 h0 e0",
		"allow udp 53 192.0.2.53 h0 e0", "allow udp 53 2001:db8::53 h0 e0" } },
	{ "dns default when the file has none",
	  "1.2.3.4:443/tcp", { "9.9.9.9", "2620:fe::fe" }, {
		"allow tcp 53 9.9.9.9 h0 e0", "allow tcp 53 2620:fe::fe h0 e0",
		"allow tcp 443 1.2.3.4 h0 e0",
		"allow udp 53 9.9.9.9 h0 e0", "allow udp 53 2620:fe::fe h0 e0" } },
	{ "a deny beats a resolver at its key",
	  "deny 192.0.2.53:53/udp\ndns 192.0.2.53", {}, {
		"allow tcp 53 192.0.2.53 h0 e0", "deny udp 53 192.0.2.53 h0 e0" } },
	{ "nothing", "# empty\n", {}, { NULL } },
};

static void test_compile_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		uint8_t dns[3][16];
		size_t ndns = 0;
		struct cbpf_ruleset rs;
		struct cbpf_conf c;

		parse(cases[i].conf, &c);
		for (; ndns < 3 && cases[i].dns_default[ndns]; ndns++)
			addr16(cases[i].dns_default[ndns], dns[ndns]);
		assert_int_equal(cbpf_rules_compile(&c, NULL, 0,
						    (const uint8_t (*)[16])dns,
						    ndns, &rs), 0);
		assert_entries(&rs, cases[i].want, cases[i].name);
		assert_int_equal(rs.flags, 0);
		cbpf_ruleset_free(&rs);
		cbpf_conf_free(&c);
	}
}

/* Hostnames: each resolved address as /128, with the host's index and the
 * expiry; hosts listed once in order of appearance; an address also written
 * literally keeps the literal's never-expiring rule (the refresher relies
 * on it: it rewrites only a name's rules). */
static void test_hosts(void **state)
{
	static const char *const want[] = {
		"allow tcp 22 1.2.3.4 h2 e1000",
		"allow tcp 22 5.6.7.8 h2 e1000",
		"allow tcp 80 1.2.3.4 h1 e1000",
		"allow tcp 80 2001:db8::1 h1 e1000",
		"allow tcp 443 1.2.3.4 h0 e0",
		"allow tcp 443 2001:db8::1 h1 e1000",
		"allow udp 80 1.2.3.4 h1 e1000",
		"allow udp 80 2001:db8::1 h1 e1000",
		"allow udp 443 1.2.3.4 h1 e1000",
		"allow udp 443 2001:db8::1 h1 e1000",
		NULL,
	};
	uint8_t gh[2][16], ex[2][16];
	struct cbpf_resolved res[] = {
		{ .host = "example.com", .addrs = ex, .n = 2, .ttl = 60, .expires_ns = 1000 },
		{ .host = "github.com", .addrs = gh, .n = 2, .ttl = 60, .expires_ns = 1000 },
		{ .host = "unused.example", .addrs = gh, .n = 1, .ttl = 60, .expires_ns = 1000 },
	};
	struct cbpf_ruleset rs;
	struct cbpf_conf c;

	(void)state;
	addr16("1.2.3.4", gh[0]);
	addr16("2001:db8::1", gh[1]);
	addr16("5.6.7.8", ex[0]);
	addr16("1.2.3.4", ex[1]);
	parse("GitHub.com:80\nexample.com:22/tcp\ngithub.com.:443\n"
	      "1.2.3.4:443/tcp\n", &c);
	assert_int_equal(cbpf_rules_compile(&c, res, N(res), NULL, 0, &rs), 0);
	assert_entries(&rs, want, "hosts");
	assert_int_equal(rs.nhosts, 2);
	assert_string_equal(rs.hosts[0], "github.com");
	assert_string_equal(rs.hosts[1], "example.com");
	cbpf_ruleset_free(&rs);
	cbpf_conf_free(&c);

	/* Two hosts on one address: the host listed first names it. */
	static const char *const shared[] = {
		"allow tcp 443 1.2.3.4 h1 e7",
		"allow tcp 443 5.6.7.8 h1 e7",
		"allow tcp 443 2001:db8::1 h2 e7",
		NULL,
	};
	for (size_t i = 0; i < N(res); i++)
		res[i].expires_ns = 7;   /* each host's own expiry reaches its rules */
	parse("example.com:443/tcp\ngithub.com:443/tcp\n", &c);
	assert_int_equal(cbpf_rules_compile(&c, res, N(res), NULL, 0, &rs), 0);
	assert_entries(&rs, shared, "shared");
	assert_int_equal(rs.nhosts, 2);
	assert_string_equal(rs.hosts[0], "example.com");
	assert_string_equal(rs.hosts[1], "github.com");
	cbpf_ruleset_free(&rs);
	cbpf_conf_free(&c);
}

/* A wildcard, allowed or denied, makes no rule and needs no answer: the
 * DNS forwarder writes the rules of each name below it that it answers. The
 * same name written exactly is resolved as usual. */
static void test_wildcards(void **state)
{
	static const char *const want[] = {
		"allow tcp 22 1.2.3.4 h0 e0",
		"allow tcp 443 5.6.7.8 h1 e9",
		NULL,
	};
	uint8_t ex[1][16];
	const struct cbpf_resolved res[] = {
		{ .host = "example.com", .addrs = ex, .n = 1, .ttl = 60, .expires_ns = 9 },
	};
	struct cbpf_ruleset rs;
	struct cbpf_conf c;

	(void)state;
	addr16("5.6.7.8", ex[0]);
	parse("*.example.com:443\n"
	      "example.com:443/tcp\n"
	      "deny *.internal.example.com\n"
	      "*.other.example:*\n"
	      "1.2.3.4:22/tcp\n", &c);
	assert_int_equal(cbpf_rules_compile(&c, res, N(res), NULL, 0, &rs), 0);
	assert_entries(&rs, want, "wildcards");
	assert_int_equal(rs.nhosts, 1);
	assert_string_equal(rs.hosts[0], "example.com");
	cbpf_ruleset_free(&rs);
	cbpf_conf_free(&c);

	/* Wildcards alone: no rule, no answer asked for. */
	parse("*.example.com\ndeny *.a.example.com:*\n", &c);
	assert_int_equal(cbpf_rules_compile(&c, NULL, 0, NULL, 0, &rs), 0);
	assert_int_equal(rs.n, 0);
	assert_int_equal(rs.nhosts, 0);
	cbpf_ruleset_free(&rs);
	cbpf_conf_free(&c);
}

/* A host the loader did not resolve, or that resolved to nothing, is a
 * caller bug: -ENOENT and nothing half-built. */
static void test_unresolved(void **state)
{
	uint8_t a[1][16];
	const struct cbpf_resolved res[] = {
		{ .host = "github.com", .addrs = a, .n = 1 },
		{ .host = "empty.example", .addrs = NULL, .n = 0 },
	};
	struct cbpf_ruleset rs;
	struct cbpf_conf c;

	(void)state;
	addr16("1.2.3.4", a[0]);
	/* No answer at all for a name: the loader's bug, refused. */
	parse("github.com\nexample.com\n", &c);
	assert_int_equal(cbpf_rules_compile(&c, res, N(res), NULL, 0, &rs), -ENOENT);
	assert_null(rs.v);
	assert_int_equal(rs.n, 0);
	assert_null(rs.hosts);
	assert_int_equal(rs.nhosts, 0);
	cbpf_conf_free(&c);
	/* An answer of no addresses (the forwarder resolves the name when
	 * asked): the name is known, and makes no rule. */
	parse("github.com\nempty.example\n", &c);
	assert_int_equal(cbpf_rules_compile(&c, res, N(res), NULL, 0, &rs), 0);
	assert_int_equal(rs.nhosts, 2);
	assert_int_equal(rs.n, 4);          /* github.com: 80 and 443, TCP and UDP */
	for (size_t i = 0; i < rs.n; i++)
		assert_int_equal(rs.v[i].val.host, 1);
	cbpf_ruleset_free(&rs);
	cbpf_conf_free(&c);
}

/* The decision of bpf/claude_bpf.bpf.c over a rule set: lookups at (proto,
 * port), (proto, any) and (any, any), the longest address prefix wins, an
 * earlier lookup wins a tie; no match denies. */
static bool allowed(const struct cbpf_ruleset *rs, const char *addr,
		    uint8_t proto, uint16_t port)
{
	const struct { uint8_t proto; uint16_t port; } look[] = {
		{ proto, port }, { proto, 0 }, { 0, 0 },
	};
	const struct cbpf_rule *best = NULL;
	uint8_t a[16];

	addr16(addr, a);
	for (size_t l = 0; l < N(look); l++) {
		const struct cbpf_rule *m = NULL;

		for (size_t i = 0; i < rs->n; i++) {
			const struct cbpf_rule_entry *e = &rs->v[i];
			uint8_t p = e->val.addr_prefix, full = p / 8;

			if (e->key.proto != look[l].proto ||
			    e->key.port != htons(look[l].port) ||
			    memcmp(e->key.addr, a, full) ||
			    (p % 8 && (e->key.addr[full] ^ a[full]) >> (8 - p % 8)))
				continue;
			if (!m || p > m->addr_prefix)
				m = &e->val;
		}
		if (m && (!best || m->addr_prefix > best->addr_prefix))
			best = m;
	}
	return best && best->action == CBPF_ACTION_ALLOW;
}

static const char *const internet_want[] = {
	"allow any * ::/0 h0 e0",
	"deny any * 0.0.0.0/8 h0 e0",
	"deny any * 10.0.0.0/8 h0 e0",
	"deny any * 100.64.0.0/10 h0 e0",
	"deny any * 127.0.0.0/8 h0 e0",
	"deny any * 169.254.0.0/16 h0 e0",
	"deny any * 172.16.0.0/12 h0 e0",
	"deny any * 192.0.0.0/24 h0 e0",
	"deny any * 192.0.2.0/24 h0 e0",
	"deny any * 192.168.0.0/16 h0 e0",
	"deny any * 198.18.0.0/15 h0 e0",
	"deny any * 198.51.100.0/24 h0 e0",
	"deny any * 203.0.113.0/24 h0 e0",
	"deny any * 224.0.0.0/4 h0 e0",
	"deny any * 240.0.0.0/4 h0 e0",
	"deny any * :: h0 e0",
	"deny any * ::1 h0 e0",
	"deny any * fc00::/7 h0 e0",
	"deny any * fe80::/10 h0 e0",
	"deny any * ff00::/8 h0 e0",
	"deny any * 2001:db8::/32 h0 e0",
	"deny any * 3fff::/20 h0 e0",
	"deny any * 100::/64 h0 e0",
	"deny any * fd00:ec2::254 h0 e0",
	"deny any * 64:ff9b::/96 h0 e0",
	"deny any * 64:ff9b:1::/48 h0 e0",
	"deny any * 2002::/16 h0 e0",
	"deny any * 2001::/32 h0 e0",
	"deny any * ::/96 h0 e0",
	"deny any * fec0::/10 h0 e0",
	"deny any * 192.168.1.10 h0 e0",        /* own */
	"deny any * 2a01:4f8::/64 h0 e0",       /* own: its on-link prefix */
	"allow tcp 53 10.0.0.53 h0 e0",         /* resolver in 10/8 */
	"allow udp 53 10.0.0.53 h0 e0",
	"allow tcp 53 2001:4860:4860::8888 h0 e0",
	"allow udp 53 2001:4860:4860::8888 h0 e0",
};

/* Destinations and the internet policy's verdict on them. */
static const struct {
	const char *addr;
	uint8_t proto;
	uint16_t port;
	bool allow;
} internet_verdicts[] = {
	{ "8.8.8.8", 6, 443, true },
	{ "2606:4700::1111", 17, 443, true },
	{ "10.0.0.53", 17, 53, true },
	{ "10.0.0.53", 6, 53, true },
	{ "10.0.0.53", 6, 80, false },
	{ "10.0.0.54", 17, 53, false },
	{ "169.254.169.254", 6, 80, false },
	{ "192.168.1.10", 6, 22, false },
	{ "192.168.1.11", 6, 22, false },
	{ "100.64.0.1", 1, 0, false },
	{ "127.0.0.1", 6, 80, false },
	{ "255.255.255.255", 17, 67, false },
	{ "224.0.0.251", 17, 5353, false },
	{ "172.31.255.255", 6, 443, false },
	{ "172.32.0.1", 6, 443, true },
	{ "fd00:ec2::254", 6, 80, false },
	{ "fe80::1", 58, 0, false },
	{ "::1", 6, 80, false },
	{ "2a01:4f8::10", 6, 443, false },
	{ "2a01:4f8::11", 6, 443, false },      /* the host's LAN */
	{ "2a01:4f8:0:1::11", 6, 443, true },   /* the next /64 */
	{ "64:ff9b::a00:1", 6, 443, false },    /* NAT64 of 10.0.0.1 */
	{ "64:ff9b::808:808", 6, 443, false },  /* NAT64 of 8.8.8.8 as well */
	{ "64:ff9b:1::1", 6, 443, false },
	{ "2002:a00:1::1", 6, 443, false },     /* 6to4 of 10.0.0.1 */
	{ "2001:0:1234::1", 6, 443, false },    /* Teredo */
	{ "::a00:1", 6, 443, false },           /* IPv4-compatible 10.0.0.1 */
	{ "fec0::1", 6, 443, false },
	{ "3fff:fff::1", 6, 443, false },       /* documentation */
	{ "3fff:1000::1", 6, 443, true },       /* beside it */
	{ "2001:1::1", 6, 443, true },          /* beside Teredo's /32 */
	{ "2001:4860:4860::8888", 17, 53, true },
	{ "2001:4860:4860::8888", 6, 443, true },
};

static void test_internet(void **state)
{
	static const char *const own_s[] = { "192.168.1.10", "2a01:4f8::10" };
	static const uint8_t own_len[] = { 128, 64 };
	static const char *const dns_s[] = { "10.0.0.53", "2001:4860:4860::8888" };
	struct cbpf_prefix own[2];
	uint8_t dns[2][16];
	struct cbpf_ruleset rs;
	char got[128];

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		addr16(own_s[i], own[i].addr);
		own[i].len = own_len[i];
		addr16(dns_s[i], dns[i]);
	}
	assert_int_equal(cbpf_rules_internet(own, 2,
					     (const uint8_t (*)[16])dns, 2, &rs), 0);
	check_invariants(&rs);
	assert_int_equal(rs.flags, 0);
	assert_int_equal(rs.nhosts, 0);
	/* Exactly the listed entries, in whatever order the keys sort. */
	assert_int_equal(rs.n, N(internet_want));
	for (size_t w = 0; w < N(internet_want); w++) {
		size_t i;

		for (i = 0; i < rs.n; i++) {
			describe(&rs.v[i], got, sizeof(got));
			if (!strcmp(got, internet_want[w]))
				break;
		}
		if (i == rs.n)
			fail_msg("missing: %s", internet_want[w]);
	}
	/* 10.0.0.0/8 is v4-mapped /104: prefixlen 64 + 104. */
	for (size_t i = 0; i < rs.n; i++) {
		describe(&rs.v[i], got, sizeof(got));
		if (!strcmp(got, "deny any * 10.0.0.0/8 h0 e0"))
			assert_int_equal(rs.v[i].key.prefixlen, 64 + 104);
	}
	for (size_t i = 0; i < N(internet_verdicts); i++) {
		bool v = allowed(&rs, internet_verdicts[i].addr,
				 internet_verdicts[i].proto, internet_verdicts[i].port);

		if (v != internet_verdicts[i].allow)
			fail_msg("%s proto %u port %u: %s, expected %s",
				 internet_verdicts[i].addr, internet_verdicts[i].proto,
				 internet_verdicts[i].port, v ? "allowed" : "denied",
				 internet_verdicts[i].allow ? "allowed" : "denied");
	}
	cbpf_ruleset_free(&rs);

	/* With no own addresses and no resolvers: the ranges alone. */
	assert_int_equal(cbpf_rules_internet(NULL, 0, NULL, 0, &rs), 0);
	assert_int_equal(rs.n, N(internet_want) - 6);
	cbpf_ruleset_free(&rs);
}

static void test_none(void **state)
{
	struct cbpf_ruleset rs;

	(void)state;
	memset(&rs, 0xa5, sizeof(rs));
	assert_int_equal(cbpf_rules_none(&rs), 0);
	assert_int_equal(rs.n, 0);
	assert_null(rs.v);
	assert_int_equal(rs.flags, 0);
	assert_int_equal(rs.nhosts, 0);
	assert_false(allowed(&rs, "8.8.8.8", 6, 443));
	cbpf_ruleset_free(&rs);
}

/* Answers no rule is made of: a DNS filter's 0.0.0.0, loopback, link-local,
 * multicast, broadcast; the same address written in the file is a rule. */
static void test_skipped_answers(void **state)
{
	static const char *const skipped[] = {
		"0.0.0.0", "0.1.2.3", "127.0.0.1", "127.255.0.1", "169.254.169.254",
		"224.0.0.251", "239.1.1.1", "255.255.255.255", "::", "::1", "fe80::1",
		"febf::1", "ff02::1",
	};
	static const char *const kept[] = {
		"1.2.3.4", "10.0.0.1", "169.253.0.1", "223.255.255.255", "255.255.255.254",
		"::2", "fec0::1", "2001:db8::1", "fd00::1",
	};
	static const char *const want[] = {
		"allow tcp 443 0.0.0.0 h0 e0",
		"allow tcp 443 1.2.3.4 h1 e1000",
		"allow udp 443 0.0.0.0 h0 e0",
		"allow udp 443 1.2.3.4 h1 e1000",
		NULL,
	};
	uint8_t a[16], addrs[3][16];
	struct cbpf_resolved res[] = {
		{ .host = "blocked.example", .addrs = addrs, .n = 3, .ttl = 60, .expires_ns = 1000 },
	};
	struct cbpf_ruleset rs;
	struct cbpf_conf c;

	(void)state;
	for (size_t i = 0; i < N(skipped); i++) {
		addr16(skipped[i], a);
		if (!cbpf_answer_skipped(a))
			fail_msg("%s should be skipped", skipped[i]);
	}
	for (size_t i = 0; i < N(kept); i++) {
		addr16(kept[i], a);
		if (cbpf_answer_skipped(a))
			fail_msg("%s should make a rule", kept[i]);
	}
	addr16("0.0.0.0", addrs[0]);
	addr16("::", addrs[1]);
	addr16("1.2.3.4", addrs[2]);
	parse("blocked.example:443\n0.0.0.0:443\n", &c);
	assert_int_equal(cbpf_rules_compile(&c, res, N(res), NULL, 0, &rs), 0);
	assert_entries(&rs, want, "skipped answers");
	cbpf_ruleset_free(&rs);
	cbpf_conf_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_layout),
		cmocka_unit_test(test_compile_cases),
		cmocka_unit_test(test_hosts),
		cmocka_unit_test(test_unresolved),
		cmocka_unit_test(test_wildcards),
		cmocka_unit_test(test_skipped_answers),
		cmocka_unit_test(test_internet),
		cmocka_unit_test(test_none),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
