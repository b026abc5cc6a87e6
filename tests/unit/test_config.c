/* Unit tests of the allowlist parser (user/core/config.c) and the error list:
 * every error message pinned, every parsed field checked. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "core/config.h"
#include "core/dnsmsg.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define ALLOW CBPF_ACTION_ALLOW
#define DENY CBPF_ACTION_DENY
#define L63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
/* 251 and 252 characters: "*." and one of them is 253 and 254. */
#define L251 L63 "." L63 "." L63 "." "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define L252 L251 "b"
#define WILD_ONLY "' must be the whole first label, as in '*.example.com'"

static void assert_empty(const struct cbpf_conf *c)
{
	assert_null(c->entries);
	assert_int_equal(c->n, 0);
	assert_null(c->dns);
	assert_int_equal(c->ndns, 0);
}

static void parse_addr16(const char *s, uint8_t out[16])
{
	assert_int_equal(inet_pton(AF_INET6, s, out), 1);
}

/* One bad line each, the exact message it must give. */
static const struct {
	const char *line, *msg;
} bad[] = {
	/* prefixes */
	{ "10.0.0.0/33", "invalid CIDR '10.0.0.0/33': prefix length must be 0..32" },
	{ "10.0.0.0/:443", "invalid CIDR '10.0.0.0/': prefix length must be 0..32" },
	{ "10.0.0.0/-1", "invalid CIDR '10.0.0.0/-1': prefix length must be 0..32" },
	{ "10.0.0.0/08", "invalid CIDR '10.0.0.0/08': prefix length must be 0..32" },
	{ "10.0.0.0/8x", "invalid CIDR '10.0.0.0/8x': prefix length must be 0..32" },
	{ "[2001:db8::/129]:*", "invalid CIDR '2001:db8::/129': prefix length must be 0..128" },
	{ "10.1.2.3/16", "invalid CIDR '10.1.2.3/16': host bits are set; the network is '10.1.0.0/16'" },
	{ "deny 10.1.2.3/0:*", "invalid CIDR '10.1.2.3/0': host bits are set; the network is '0.0.0.0/0'" },
	{ "[2001:db8::1/32]", "invalid CIDR '2001:db8::1/32': host bits are set; the network is '2001:db8::/32'" },
	{ "foo.com/8", "invalid CIDR 'foo.com/8': 'foo.com' is not an IPv4 address" },
	{ "[2001:zz::/32]", "invalid CIDR '2001:zz::/32': '2001:zz::' is not an IPv6 address" },
	/* addresses */
	{ "1.2.3", "invalid IPv4 address '1.2.3'" },
	{ "256.1.1.1:443", "invalid IPv4 address '256.1.1.1'" },
	{ "1.2.3.04", "invalid IPv4 address '1.2.3.04'" },
	{ "123", "invalid IPv4 address '123'" },
	{ "[2001:db8::zz]:443", "invalid IPv6 address '2001:db8::zz'" },
	{ "[1.2.3.4]:443", "invalid IPv6 address '1.2.3.4'" },
	{ "[]:443", "invalid IPv6 address ''" },
	{ "[2001:db8::1:443", "missing ']' in '[2001:db8::1:443'" },
	{ "[2001:db8::1]443", "unexpected '443' after ']' in '[2001:db8::1]443'" },
	{ "[2001:db8::1]/x", "unexpected '/x' after ']' in '[2001:db8::1]/x'" },
	{ "2001:db8::1", "IPv6 address '2001:db8::1' must be in brackets: '[2001:db8::1]'" },
	{ "deny 2001:db8::/32", "IPv6 address '2001:db8::/32' must be in brackets: '[2001:db8::/32]'" },
	/* ports and protocols */
	{ "host:70000", "invalid port '70000' in 'host:70000': must be 1..65535" },
	{ "github.com:0", "invalid port '0' in 'github.com:0': must be 1..65535" },
	{ "github.com:", "invalid port '' in 'github.com:': must be 1..65535" },
	{ "github.com:+443", "invalid port '+443' in 'github.com:+443': must be 1..65535" },
	{ "github.com:-1", "invalid port '-1' in 'github.com:-1': must be 1..65535" },
	{ "github.com:0x1bb", "invalid port '0x1bb' in 'github.com:0x1bb': must be 1..65535" },
	{ "github.com:443x", "invalid port '443x' in 'github.com:443x': must be 1..65535" },
	{ "github.com:0443", "invalid port '0443' in 'github.com:0443': must be 1..65535" },
	{ "github.com:**", "invalid port '**' in 'github.com:**': must be 1..65535" },
	{ "github.com:443:22", "invalid port '443:22' in 'github.com:443:22': must be 1..65535" },
	{ "github.com:/tcp", "invalid port '' in 'github.com:/tcp': must be 1..65535" },
	{ "github.com:443/icmp", "invalid protocol 'icmp' in 'github.com:443/icmp': must be tcp or udp" },
	{ "github.com:443/", "invalid protocol '' in 'github.com:443/': must be tcp or udp" },
	{ "github.com:*/tcp/udp", "invalid protocol 'tcp/udp' in 'github.com:*/tcp/udp': must be tcp or udp" },
	{ "github.com/tcp", "protocol 'tcp' without a port in 'github.com/tcp': write 'github.com:PORT/tcp'" },
	{ "10.0.0.0/8/UDP", "protocol 'UDP' without a port in '10.0.0.0/8/UDP': write '10.0.0.0/8:PORT/UDP'" },
	{ "[2001:db8::1]/tcp", "protocol 'tcp' without a port in '[2001:db8::1]/tcp': write '[2001:db8::1]:PORT/tcp'" },
	/* wildcards: "*." and a domain of two labels or more, nothing else */
	{ "*example.com", "invalid wildcard '*example.com': '*" WILD_ONLY },
	{ "a.*.com", "invalid wildcard 'a.*.com': '*" WILD_ONLY },
	{ "api.*.com:443", "invalid wildcard 'api.*.com': '*" WILD_ONLY },
	{ "**.example.com", "invalid wildcard '**.example.com': '*" WILD_ONLY },
	{ "*.*.example.com", "invalid wildcard '*.*.example.com': '*" WILD_ONLY },
	{ "*.example.*", "invalid wildcard '*.example.*': '*" WILD_ONLY },
	{ "example.com*", "invalid wildcard 'example.com*': '*" WILD_ONLY },
	{ "*", "invalid wildcard '*': '*" WILD_ONLY },
	{ "*:443", "invalid wildcard '*': '*" WILD_ONLY },
	{ "deny *", "invalid wildcard '*': '*" WILD_ONLY },
	{ "*.", "invalid wildcard '*.': empty label" },
	{ "*..example.com", "invalid wildcard '*..example.com': empty label" },
	{ "*.com", "invalid wildcard '*.com': too broad; write two labels or more after '*.', as in '*.example.com'" },
	{ "*.com.:443", "invalid wildcard '*.com.': too broad; write two labels or more after '*.', as in '*.example.com'" },
	{ "deny *.lan", "invalid wildcard '*.lan': too broad; write two labels or more after '*.', as in '*.example.com'" },
	{ "*.10.0.0.0", "invalid wildcard '*.10.0.0.0': '10.0.0.0' is not a domain name (digits and dots only)" },
	{ "*.ex_ample.c\xc3\xb6m", "invalid wildcard '*.ex_ample.c\xc3\xb6m': only letters, digits, '-', '_' and '.' are allowed" },
	{ "*.-example.com", "invalid wildcard '*.-example.com': a label starts or ends with '-'" },
	{ "*." L63 "a.com", "invalid wildcard '*." L63 "a.com': a label is longer than 63 characters" },
	{ "*." L252, "invalid wildcard '*." L252 "': longer than 253 characters" },
	{ "*.example.com/tcp", "protocol 'tcp' without a port in '*.example.com/tcp': write '*.example.com:PORT/tcp'" },
	{ "*.example.com/8", "invalid CIDR '*.example.com/8': '*.example.com' is not an IPv4 address" },
	{ "dns *.example.com", "dns resolver '*.example.com' must be an IP address, not a hostname" },
	/* hosts */
	{ ":443", "missing host in ':443'" },
	{ "ex+ample.com", "invalid hostname 'ex+ample.com': only letters, digits, '-', '_' and '.' are allowed" },
	{ "ex\xc3\xa4mple.com", "invalid hostname 'ex\xc3\xa4mple.com': only letters, digits, '-', '_' and '.' are allowed" },
	{ "git\x01hub.com", "invalid hostname 'git?hub.com': only letters, digits, '-', '_' and '.' are allowed" },
	{ "-example.com", "invalid hostname '-example.com': a label starts or ends with '-'" },
	{ "example-.com", "invalid hostname 'example-.com': a label starts or ends with '-'" },
	{ "a..b", "invalid hostname 'a..b': empty label" },
	{ ".example.com", "invalid hostname '.example.com': empty label" },
	{ "example.com..", "invalid hostname 'example.com..': empty label" },
	{ L63 "a.com", "invalid hostname '" L63 "a.com': a label is longer than 63 characters" },
	{ L63 "." L63 "." L63 "." L63 ".com", "invalid hostname '" L63 "." L63 "." L63 "." L63 ".com': longer than 253 characters" },
	{ L252 "bb", "invalid hostname '" L252 "bb': longer than 253 characters" },
	/* keywords and tokens */
	{ "deny github.com", "cannot deny hostname 'github.com': hosts not listed are already denied; deny takes an address or CIDR" },
	{ "deny github.com:443", "cannot deny hostname 'github.com:443': hosts not listed are already denied; deny takes an address or CIDR" },
	{ "allow", "missing host or address after 'allow'" },
	{ "deny   # nothing", "missing host or address after 'deny'" },
	{ "dns", "missing host or address after 'dns'" },
	{ "allowed github.com", "unknown keyword 'allowed': expected allow, deny or dns" },
	{ "ALLOW github.com", "unknown keyword 'ALLOW': expected allow, deny or dns" },
	{ "github.com:443 example.com", "unexpected 'example.com' after 'github.com:443': one entry per line" },
	{ "allow github.com:443 extra more", "unexpected 'extra' after 'github.com:443': one entry per line" },
	{ "github.com: 443", "unexpected '443' after 'github.com:': one entry per line" },
	/* dns */
	{ "dns dns.google", "dns resolver 'dns.google' must be an IP address, not a hostname" },
	{ "dns 192.0.2.53:53", "dns resolver '192.0.2.53:53' cannot have a port or protocol: it is queried on UDP and TCP port 53" },
	{ "dns [2001:db8::53]:53", "dns resolver '[2001:db8::53]:53' cannot have a port or protocol: it is queried on UDP and TCP port 53" },
	{ "dns 192.0.2.53/udp", "dns resolver '192.0.2.53/udp' cannot have a port or protocol: it is queried on UDP and TCP port 53" },
	{ "dns 2001:db8::53/tcp", "dns resolver '2001:db8::53/tcp' cannot have a port or protocol: it is queried on UDP and TCP port 53" },
	{ "dns 192.0.2.0/24", "dns resolver '192.0.2.0/24' must be a single address, not a CIDR" },
	{ "dns 2001:db8::zz", "invalid IPv6 address '2001:db8::zz'" },
	{ "dns 192.0.2", "invalid IPv4 address '192.0.2'" },
	{ "dns dns.google:53:53", "invalid IPv6 address 'dns.google:53:53'" },
};

/* Each bad line sits on line 3, after a good line and a comment: the file
 * is rejected whole, with that one message. */
static void test_bad_lines(void **state)
{
	(void)state;
	assert_true(N(bad) >= 60);
	for (size_t i = 0; i < N(bad); i++) {
		struct cbpf_errors errs = {};
		struct cbpf_conf c;
		char text[2048], want[2048];

		snprintf(text, sizeof(text), "github.com:443\n# comment\n%s\n",
			 bad[i].line);
		snprintf(want, sizeof(want), "allowed-hosts.conf:3: %s", bad[i].msg);
		assert_int_equal(cbpf_conf_parse("allowed-hosts.conf", text, &c,
						 &errs), -EINVAL);
		assert_int_equal(errs.n, 1);
		assert_string_equal(errs.msg[0], want);
		assert_empty(&c);
		cbpf_errors_free(&errs);
	}
}

/* One good line each and every field it must give. */
static const struct {
	const char *line;
	uint8_t action;
	bool is_host, v4;
	const char *host, *addr;    /* addr in IPv6 text, "::" for hosts */
	uint8_t prefix;
	int port;
	enum cbpf_conf_proto proto;
} good[] = {
	{ "github.com:443", ALLOW, true, false, "github.com", "::", 0, 443, CBPF_CONF_BOTH },
	{ "example.com", ALLOW, true, false, "example.com", "::", 0, CBPF_CONF_PORT_DEFAULT, CBPF_CONF_BOTH },
	{ "allow github.com:443", ALLOW, true, false, "github.com", "::", 0, 443, CBPF_CONF_BOTH },
	{ "GitHub.COM.:22/tcp", ALLOW, true, false, "github.com", "::", 0, 22, CBPF_CONF_TCP },
	{ "localhost", ALLOW, true, false, "localhost", "::", 0, CBPF_CONF_PORT_DEFAULT, CBPF_CONF_BOTH },
	{ "123.example.com", ALLOW, true, false, "123.example.com", "::", 0, CBPF_CONF_PORT_DEFAULT, CBPF_CONF_BOTH },
	{ "xn--bcher-kva.example:*", ALLOW, true, false, "xn--bcher-kva.example", "::", 0, CBPF_CONF_PORT_ANY, CBPF_CONF_ALL },
	{ L63 ".com", ALLOW, true, false, L63 ".com", "::", 0, CBPF_CONF_PORT_DEFAULT, CBPF_CONF_BOTH },
	{ L252 "b.", ALLOW, true, false, L252 "b", "::", 0, CBPF_CONF_PORT_DEFAULT, CBPF_CONF_BOTH },
	{ "_acme-challenge.Ex_ample.com", ALLOW, true, false, "_acme-challenge.ex_ample.com", "::", 0, CBPF_CONF_PORT_DEFAULT, CBPF_CONF_BOTH },
	{ "a.b:65535/Tcp", ALLOW, true, false, "a.b", "::", 0, 65535, CBPF_CONF_TCP },
	{ "a.b:1/uDp", ALLOW, true, false, "a.b", "::", 0, 1, CBPF_CONF_UDP },
	{ "10.1.0.0/16:5432/tcp", ALLOW, false, true, "", "::ffff:10.1.0.0", 112, 5432, CBPF_CONF_TCP },
	{ "10.2.0.0/16:*", ALLOW, false, true, "", "::ffff:10.2.0.0", 112, CBPF_CONF_PORT_ANY, CBPF_CONF_ALL },
	{ "10.2.0.0/16:*/tcp", ALLOW, false, true, "", "::ffff:10.2.0.0", 112, CBPF_CONF_PORT_ANY, CBPF_CONF_TCP },
	{ "deny 10.1.2.0/24:*", DENY, false, true, "", "::ffff:10.1.2.0", 120, CBPF_CONF_PORT_ANY, CBPF_CONF_ALL },
	{ "1.2.3.4:22/udp", ALLOW, false, true, "", "::ffff:1.2.3.4", 128, 22, CBPF_CONF_UDP },
	{ "1.2.3.4", ALLOW, false, true, "", "::ffff:1.2.3.4", 128, CBPF_CONF_PORT_DEFAULT, CBPF_CONF_BOTH },
	{ "1.2.3.4/32", ALLOW, false, true, "", "::ffff:1.2.3.4", 128, CBPF_CONF_PORT_DEFAULT, CBPF_CONF_BOTH },
	{ "0.0.0.0/0:*", ALLOW, false, true, "", "::ffff:0.0.0.0", 96, CBPF_CONF_PORT_ANY, CBPF_CONF_ALL },
	{ "[2001:db8::1]:443", ALLOW, false, false, "", "2001:db8::1", 128, 443, CBPF_CONF_BOTH },
	{ "[2001:DB8::1]", ALLOW, false, false, "", "2001:db8::1", 128, CBPF_CONF_PORT_DEFAULT, CBPF_CONF_BOTH },
	{ "[2001:db8::/32]:*", ALLOW, false, false, "", "2001:db8::", 32, CBPF_CONF_PORT_ANY, CBPF_CONF_ALL },
	{ "deny [fe80::/10]:53/udp", DENY, false, false, "", "fe80::", 10, 53, CBPF_CONF_UDP },
	/* A deny without a port is all of it, as ':*'. */
	{ "deny 10.0.0.0/8", DENY, false, true, "", "::ffff:10.0.0.0", 104, CBPF_CONF_PORT_ANY, CBPF_CONF_ALL },
	{ "deny [fd00::/8]", DENY, false, false, "", "fd00::", 8, CBPF_CONF_PORT_ANY, CBPF_CONF_ALL },
	{ "deny 192.0.2.7", DENY, false, true, "", "::ffff:192.0.2.7", 128, CBPF_CONF_PORT_ANY, CBPF_CONF_ALL },
	{ "[::/0]", ALLOW, false, false, "", "::", 0, CBPF_CONF_PORT_DEFAULT, CBPF_CONF_BOTH },
	{ "[::ffff:1.2.3.4]:443", ALLOW, false, false, "", "::ffff:1.2.3.4", 128, 443, CBPF_CONF_BOTH },
	{ "  \tgithub.com:1\t  # trailing comment", ALLOW, true, false, "github.com", "::", 0, 1, CBPF_CONF_BOTH },
	{ "github.com#no space before the comment", ALLOW, true, false, "github.com", "::", 0, CBPF_CONF_PORT_DEFAULT, CBPF_CONF_BOTH },
	{ "allow\t1.2.3.4:80/tcp", ALLOW, false, true, "", "::ffff:1.2.3.4", 128, 80, CBPF_CONF_TCP },
};

/* The DNS forwarder takes each host line as a pattern of its own
 * (dnsmsg.h): every name the file accepts must be one it accepts, and
 * mean the same. */
static void assert_dns_agrees(const struct cbpf_conf_entry *e)
{
	struct cbpf_dns_names names = {};
	char pattern[CBPF_HOST_MAX + 2], below[CBPF_HOST_MAX + 4];

	if (!e->is_host)
		return;
	snprintf(pattern, sizeof(pattern), "%s%s", e->wildcard ? "*." : "", e->host);
	assert_int_equal(cbpf_dns_names_add(&names, pattern), 0);
	snprintf(below, sizeof(below), "a.%s", e->host);
	assert_int_equal(cbpf_dns_names_match(&names, e->host), !e->wildcard);
	if (strlen(below) <= 253)
		assert_int_equal(cbpf_dns_names_match(&names, below), e->wildcard);
	cbpf_dns_names_free(&names);
}

/* Both sides as one string that names the input, so a failure says which
 * line and which field. */
static void describe(char *buf, size_t len, const char *line, uint8_t action,
		     bool is_host, bool v4, const char *host,
		     const uint8_t addr[16], uint8_t prefix, int port, int proto)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(AF_INET6, addr, a, sizeof(a));
	snprintf(buf, len, "'%s': action %u host %d v4 %d '%s' addr %s/%u "
		 "port %d proto %d", line, action, is_host, v4, host, a, prefix,
		 port, proto);
}

static void test_good_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(good); i++) {
		struct cbpf_errors errs = {};
		struct cbpf_conf c;
		const struct cbpf_conf_entry *e;
		char got[1024], want[1024];
		uint8_t addr[16];

		assert_int_equal(cbpf_conf_parse("t.conf", good[i].line, &c, &errs), 0);
		assert_int_equal(errs.n, 0);
		assert_int_equal(c.n, 1);
		assert_int_equal(c.ndns, 0);
		e = &c.entries[0];
		assert_int_equal(e->line, 1);
		parse_addr16(good[i].addr, addr);
		describe(want, sizeof(want), good[i].line, good[i].action,
			 good[i].is_host, good[i].v4, good[i].host, addr,
			 good[i].prefix, good[i].port, good[i].proto);
		describe(got, sizeof(got), good[i].line, e->action, e->is_host,
			 e->v4, e->host ? e->host : "", e->addr, e->prefix, e->port,
			 e->proto);
		assert_string_equal(got, want);
		assert_int_equal(e->host != NULL, e->is_host);
		assert_false(e->wildcard);
		assert_memory_equal(e->addr, addr, 16);
		assert_dns_agrees(e);
		cbpf_conf_free(&c);
	}
}

/* Wildcards: a host entry of the suffix, with the ports of any host. */
static const struct {
	const char *line;
	uint8_t action;
	const char *host;
	int port;
	enum cbpf_conf_proto proto;
} good_wild[] = {
	{ "*.example.com", ALLOW, "example.com", CBPF_CONF_PORT_DEFAULT, CBPF_CONF_BOTH },
	{ "allow *.Example.COM.", ALLOW, "example.com", CBPF_CONF_PORT_DEFAULT, CBPF_CONF_BOTH },
	{ "*.example.com:443", ALLOW, "example.com", 443, CBPF_CONF_BOTH },
	{ "*.example.com:8080/tcp", ALLOW, "example.com", 8080, CBPF_CONF_TCP },
	{ "*.example.com:*", ALLOW, "example.com", CBPF_CONF_PORT_ANY, CBPF_CONF_ALL },
	{ "*.example.com:*/udp", ALLOW, "example.com", CBPF_CONF_PORT_ANY, CBPF_CONF_UDP },
	{ "*.co.uk", ALLOW, "co.uk", CBPF_CONF_PORT_DEFAULT, CBPF_CONF_BOTH },
	{ "*.a.b.c.example.com", ALLOW, "a.b.c.example.com", CBPF_CONF_PORT_DEFAULT, CBPF_CONF_BOTH },
	{ "*._tcp.example.com", ALLOW, "_tcp.example.com", CBPF_CONF_PORT_DEFAULT, CBPF_CONF_BOTH },
	{ "*.123.example", ALLOW, "123.example", CBPF_CONF_PORT_DEFAULT, CBPF_CONF_BOTH },
	{ "*." L251, ALLOW, L251, CBPF_CONF_PORT_DEFAULT, CBPF_CONF_BOTH },
	{ "*." L63 ".com", ALLOW, L63 ".com", CBPF_CONF_PORT_DEFAULT, CBPF_CONF_BOTH },
	/* A deny without a port is every port, as for an address. */
	{ "deny *.internal.example.com", DENY, "internal.example.com", CBPF_CONF_PORT_ANY, CBPF_CONF_ALL },
	{ "deny *.example.com:22/tcp", DENY, "example.com", 22, CBPF_CONF_TCP },
};

static void test_good_wildcards(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(good_wild); i++) {
		struct cbpf_errors errs = {};
		struct cbpf_conf c;
		const struct cbpf_conf_entry *e;
		char got[1024], want[1024];
		static const uint8_t none[16];

		assert_int_equal(cbpf_conf_parse("t.conf", good_wild[i].line, &c, &errs), 0);
		assert_int_equal(errs.n, 0);
		assert_int_equal(c.n, 1);
		e = &c.entries[0];
		describe(want, sizeof(want), good_wild[i].line, good_wild[i].action,
			 true, false, good_wild[i].host, none, 0, good_wild[i].port,
			 good_wild[i].proto);
		describe(got, sizeof(got), good_wild[i].line, e->action, e->is_host,
			 e->v4, e->host, e->addr, e->prefix, e->port, e->proto);
		assert_string_equal(got, want);
		assert_true(e->wildcard);
		assert_int_equal(e->line, 1);
		assert_int_equal(cbpf_conf_wildcards(&c), 1);
		assert_dns_agrees(e);
		cbpf_conf_free(&c);
	}
}

/* A name and the names below it are two entries; direct mode refuses each
 * wildcard with its line, and nothing else. */
static void test_wildcards_direct(void **state)
{
	static const char text[] =
		"example.com:443\n"
		"*.example.com:443\n"
		"10.0.0.0/8:*\n"
		"deny *.internal.example.com\n"
		"github.com\n";
	static const char *const want[] = {
		"first",
		"w.conf:2: wildcard '*.example.com' needs the DNS forwarder "
		"(--dns forward); direct mode resolves each name ahead of time",
		"w.conf:4: wildcard '*.internal.example.com' needs the DNS forwarder "
		"(--dns forward); direct mode resolves each name ahead of time",
	};
	struct cbpf_errors errs = {};
	struct cbpf_conf c;

	(void)state;
	assert_int_equal(cbpf_conf_parse("w.conf", text, &c, &errs), 0);
	assert_int_equal(c.n, 5);
	assert_string_equal(c.entries[0].host, "example.com");
	assert_false(c.entries[0].wildcard);
	assert_string_equal(c.entries[1].host, "example.com");
	assert_true(c.entries[1].wildcard);
	assert_int_equal(c.entries[3].action, CBPF_ACTION_DENY);
	assert_true(c.entries[3].wildcard);
	assert_int_equal(cbpf_conf_wildcards(&c), 2);

	assert_int_equal(cbpf_errors_add(&errs, "first"), 0);
	assert_int_equal(cbpf_conf_check_direct(&c, "w.conf", &errs), -EINVAL);
	assert_int_equal(errs.n, N(want));
	for (size_t i = 0; i < N(want); i++)
		assert_string_equal(errs.msg[i], want[i]);
	cbpf_errors_free(&errs);
	cbpf_conf_free(&c);

	/* No wildcard: nothing to say. */
	assert_int_equal(cbpf_conf_parse("w.conf", "example.com\n10.0.0.0/8\n", &c,
					 &errs), 0);
	assert_int_equal(cbpf_conf_wildcards(&c), 0);
	assert_int_equal(cbpf_conf_check_direct(&c, "w.conf", &errs), 0);
	assert_int_equal(errs.n, 0);
	cbpf_conf_free(&c);
	assert_int_equal(cbpf_conf_wildcards(&c), 0);      /* an empty one */
	assert_int_equal(cbpf_conf_check_direct(&c, "w.conf", &errs), 0);
}

static const struct {
	const char *line;
	bool v4;
	const char *addr;
} good_dns[] = {
	{ "dns 192.0.2.53", true, "::ffff:192.0.2.53" },
	{ "dns 192.0.2.53/32", true, "::ffff:192.0.2.53" },
	{ "dns [2001:db8::53]", false, "2001:db8::53" },
	{ "dns 2001:db8::53", false, "2001:db8::53" },
	{ "dns ::1", false, "::1" },
	{ "  dns\t10.0.0.2  # the LAN resolver", true, "::ffff:10.0.0.2" },
};

static void test_good_dns(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(good_dns); i++) {
		struct cbpf_errors errs = {};
		struct cbpf_conf c;
		char got[256], want[256];
		uint8_t addr[16];

		assert_int_equal(cbpf_conf_parse("t.conf", good_dns[i].line, &c,
						 &errs), 0);
		assert_int_equal(c.n, 0);
		assert_int_equal(c.ndns, 1);
		assert_int_equal(c.dns[0].line, 1);
		parse_addr16(good_dns[i].addr, addr);
		describe(want, sizeof(want), good_dns[i].line, 1, false,
			 good_dns[i].v4, "", addr, 128, 53, 0);
		describe(got, sizeof(got), good_dns[i].line, 1, false,
			 c.dns[0].v4, "", c.dns[0].addr, 128, 53, 0);
		assert_string_equal(got, want);
		cbpf_conf_free(&c);
	}
}

/* The old format, unchanged, with comments, blank lines and CRLF. */
static void test_whole_file(void **state)
{
	static const char text[] =
		"# comment\r\n"
		"github.com:443          # host and port\r\n"
		"\r\n"
		"   \t  \r\n"
		"example.com             # host alone: ports 80 and 443\r\n"
		"#github.com:22\r\n"
		"api.anthropic.com:443\r\n"
		"dns 192.0.2.53\r\n"
		"dns [2001:db8::53]\r\n"
		"deny 10.1.2.0/24:*";       /* no final newline */
	static const struct { unsigned line; const char *host; int port; } want[] = {
		{ 2, "github.com", 443 },
		{ 5, "example.com", CBPF_CONF_PORT_DEFAULT },
		{ 7, "api.anthropic.com", 443 },
		{ 10, "", CBPF_CONF_PORT_ANY },
	};
	struct cbpf_errors errs = {};
	struct cbpf_conf c;

	(void)state;
	assert_int_equal(cbpf_conf_parse("t.conf", text, &c, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(c.n, N(want));
	for (size_t i = 0; i < N(want); i++) {
		assert_int_equal(c.entries[i].line, want[i].line);
		/* Only a hostname entry has a name. */
		assert_string_equal(c.entries[i].host ? c.entries[i].host : "",
				    want[i].host);
		assert_int_equal(c.entries[i].host != NULL, c.entries[i].is_host);
		assert_int_equal(c.entries[i].port, want[i].port);
	}
	assert_int_equal(c.entries[3].action, CBPF_ACTION_DENY);
	assert_int_equal(c.ndns, 2);
	assert_int_equal(c.dns[0].line, 8);
	assert_int_equal(c.dns[1].line, 9);
	cbpf_conf_free(&c);
}

static void test_empty_files(void **state)
{
	static const char *const texts[] = { "", "\n", "# only\n\n", "\r\n  \r\n" };

	(void)state;
	for (size_t i = 0; i < N(texts); i++) {
		struct cbpf_errors errs = {};
		struct cbpf_conf c;

		assert_int_equal(cbpf_conf_parse("t.conf", texts[i], &c, &errs), 0);
		assert_int_equal(errs.n, 0);
		assert_empty(&c);
	}
}

/* Every error is reported with its own line, and nothing is kept. */
static void test_multiple_errors(void **state)
{
	static const char text[] =
		"github.com:443\n"
		"a.*.example.com\n"
		"10.0.0.0/8:*\n"
		"\n"
		"host:70000\n"
		"dns 192.0.2.53\n"
		"deny github.com\n"
		"[2001:db8::1]:443\n";
	static const char *const want[] = {
		"f.conf:2: invalid wildcard 'a.*.example.com': '*' must be the "
		"whole first label, as in '*.example.com'",
		"f.conf:5: invalid port '70000' in 'host:70000': must be 1..65535",
		"f.conf:7: cannot deny hostname 'github.com': hosts not listed are "
		"already denied; deny takes an address or CIDR",
	};
	struct cbpf_errors errs = {};
	struct cbpf_conf c;

	(void)state;
	assert_int_equal(cbpf_conf_parse("f.conf", text, &c, &errs), -EINVAL);
	assert_int_equal(errs.n, N(want));
	for (size_t i = 0; i < N(want); i++)
		assert_string_equal(errs.msg[i], want[i]);
	assert_empty(&c);
	cbpf_errors_free(&errs);
}

/* Messages are appended to those already in the list. */
static void test_errors_append(void **state)
{
	struct cbpf_errors errs = {};
	struct cbpf_conf c;

	(void)state;
	assert_int_equal(cbpf_errors_add(&errs, "first %d", 1), 0);
	assert_int_equal(cbpf_conf_parse("a.conf", "1.2.3", &c, &errs), -EINVAL);
	assert_int_equal(errs.n, 2);
	assert_string_equal(errs.msg[0], "first 1");
	assert_string_equal(errs.msg[1], "a.conf:1: invalid IPv4 address '1.2.3'");
	cbpf_errors_free(&errs);
	assert_null(errs.msg);
	assert_int_equal(errs.n, 0);
	cbpf_errors_free(&errs);    /* freeing twice is harmless */
}

/* 1023 characters is the longest line; CR of a CRLF does not count. */
static void test_line_length(void **state)
{
	char text[1100];
	struct cbpf_errors errs = {};
	struct cbpf_conf c;

	(void)state;
	memset(text, ' ', sizeof(text));
	memcpy(text, "github.com", 10);
	strcpy(text + 1023, "\r\n");
	assert_int_equal(cbpf_conf_parse("t.conf", text, &c, &errs), 0);
	assert_int_equal(c.n, 1);
	cbpf_conf_free(&c);

	text[1023] = '#';
	strcpy(text + 1024, "\nexample.com\n");
	assert_int_equal(cbpf_conf_parse("t.conf", text, &c, &errs), -EINVAL);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.msg[0], "t.conf:1: line longer than 1023 characters");
	assert_empty(&c);
	cbpf_errors_free(&errs);
}

static const struct {
	const char *addr;
	uint8_t prefix;
	const char *want;
} formats[] = {
	{ "::ffff:10.1.0.0", 112, "10.1.0.0/16" },
	{ "::ffff:1.2.3.4", 128, "1.2.3.4" },
	{ "::ffff:0.0.0.0", 96, "0.0.0.0/0" },
	{ "2001:db8::", 32, "2001:db8::/32" },
	{ "2001:db8::1", 128, "2001:db8::1" },
	{ "::", 0, "::/0" },
	{ "::ffff:0:0", 95, "::ffff:0.0.0.0/95" }, /* glibc spelling */
};

static void test_format_prefix(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(formats); i++) {
		uint8_t addr[16];
		char buf[64];

		parse_addr16(formats[i].addr, addr);
		cbpf_format_prefix(addr, formats[i].prefix, buf, sizeof(buf));
		assert_string_equal(buf, formats[i].want);
	}
}

static const struct {
	const char *s;
	int family;
	enum cbpf_prefix_error want;
	const char *addr;
	uint8_t prefix;
} prefixes[] = {
	{ "10.1.0.0/16", AF_INET, CBPF_PREFIX_OK, "::ffff:10.1.0.0", 112 },
	{ "10.1.2.3/16", AF_INET, CBPF_PREFIX_HOST_BITS, "::ffff:10.1.0.0", 112 },
	{ "10.1.2.3/31", AF_INET, CBPF_PREFIX_HOST_BITS, "::ffff:10.1.2.2", 127 },
	{ "1.2.3.4", AF_INET, CBPF_PREFIX_OK, "::ffff:1.2.3.4", 128 },
	{ "fe80::/10", AF_INET6, CBPF_PREFIX_OK, "fe80::", 10 },
	{ "febf::/10", AF_INET6, CBPF_PREFIX_HOST_BITS, "fe80::", 10 },
	{ "2001:db8::1/127", AF_INET6, CBPF_PREFIX_HOST_BITS, "2001:db8::", 127 },
	{ "::/0", AF_INET6, CBPF_PREFIX_OK, "::", 0 },
	{ "10.0.0.0/33", AF_INET, CBPF_PREFIX_BAD_LENGTH, NULL, 0 },
	{ "::/129", AF_INET6, CBPF_PREFIX_BAD_LENGTH, NULL, 0 },
	{ "::/", AF_INET6, CBPF_PREFIX_BAD_LENGTH, NULL, 0 },
	{ "::1", AF_INET, CBPF_PREFIX_BAD_ADDRESS, NULL, 0 },
	{ "1.2.3.4", AF_INET6, CBPF_PREFIX_BAD_ADDRESS, NULL, 0 },
	{ "1111:2222:3333:4444:5555:6666:7777:8888:9999/8", AF_INET6, CBPF_PREFIX_BAD_ADDRESS, NULL, 0 },
};

static void test_parse_prefix(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(prefixes); i++) {
		uint8_t addr[16], want[16] = { 0 }, prefix = 0;
		bool ok = prefixes[i].addr != NULL;   /* address to compare */
		char got_s[256], want_s[256];
		enum cbpf_prefix_error r;

		r = cbpf_parse_prefix(prefixes[i].s, prefixes[i].family, addr, &prefix);
		if (ok)
			parse_addr16(prefixes[i].addr, want);
		describe(want_s, sizeof(want_s), prefixes[i].s, prefixes[i].want,
			 false, false, "", want, prefixes[i].prefix, 0, 0);
		describe(got_s, sizeof(got_s), prefixes[i].s, r, false, false, "",
			 ok ? addr : want, ok ? prefix : 0, 0, 0);
		assert_string_equal(got_s, want_s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_good_lines),
		cmocka_unit_test(test_good_wildcards),
		cmocka_unit_test(test_wildcards_direct),
		cmocka_unit_test(test_good_dns),
		cmocka_unit_test(test_whole_file),
		cmocka_unit_test(test_empty_files),
		cmocka_unit_test(test_multiple_errors),
		cmocka_unit_test(test_errors_append),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_format_prefix),
		cmocka_unit_test(test_parse_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
