/* The decision's test vectors (see vectors.h) and how a vector becomes a
 * rule set and a destination. Pure: no I/O. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "base/errors.h"
#include "core/config.h"
#include "vectors.h"

#define TCP    CBPF_PROTO_TCP
#define UDP    CBPF_PROTO_UDP
#define ICMP   CBPF_PROTO_ICMP
#define ICMPV6 CBPF_PROTO_ICMPV6
#define ALLOW  true
#define DENY   false
#define EXPIRED true
#define VALID   false

/* Each destination lies in a documentation or private range: BPF_PROG_RUN
 * sends nothing, but nothing here should name a real host either. An
 * allow and then a deny of the same destination (the expiry pairs) also
 * show that a new rule set leaves no kept decision of the old one. */
const struct cbpf_vector cbpf_vectors[] = {
	/* Whole addresses: their ports and protocols. */
	{ "a whole-address rule allows its port",
	  "192.0.2.10:443/tcp", NULL, VALID, "192.0.2.10", TCP, 443, ALLOW },
	{ "a port not listed is denied",
	  "192.0.2.10:443/tcp", NULL, VALID, "192.0.2.10", TCP, 444, DENY },
	{ "a protocol not listed is denied",
	  "192.0.2.10:443/tcp", NULL, VALID, "192.0.2.10", UDP, 443, DENY },
	{ "no port written is 80 and 443, TCP and UDP",
	  "192.0.2.11", NULL, VALID, "192.0.2.11", UDP, 80, ALLOW },
	{ "a resolver is allowed TCP port 53",
	  "dns 192.0.2.53", NULL, VALID, "192.0.2.53", TCP, 53, ALLOW },

	/* Prefixes. */
	{ "an address inside an allowed prefix",
	  "10.1.0.0/16:5432/tcp", NULL, VALID, "10.1.200.3", TCP, 5432, ALLOW },
	{ "an address just outside an allowed prefix",
	  "10.1.0.0/16:5432/tcp", NULL, VALID, "10.0.255.255", TCP, 5432, DENY },
	{ "every protocol of a prefix includes ICMP",
	  "10.15.0.0/16:*", NULL, VALID, "10.15.0.1", ICMP, 0, ALLOW },
	{ "every TCP port of a prefix is not ICMP",
	  "10.15.0.0/16:*/tcp", NULL, VALID, "10.15.0.1", ICMP, 0, DENY },

	/* Equal prefix: port rule, then every-port rule, then every-protocol. */
	{ "equal prefix: a port rule beats an every-port rule",
	  "10.3.0.0/16:*/tcp\ndeny 10.3.0.0/16:8080/tcp", NULL, VALID,
	  "10.3.1.1", TCP, 8080, DENY },
	{ "equal prefix: the every-port rule holds the other ports",
	  "10.3.0.0/16:*/tcp\ndeny 10.3.0.0/16:8080/tcp", NULL, VALID,
	  "10.3.1.1", TCP, 8081, ALLOW },
	{ "equal prefix: an every-port rule beats an every-protocol rule",
	  "deny 10.4.0.0/16\n10.4.0.0/16:*/udp", NULL, VALID,
	  "10.4.1.1", UDP, 5000, ALLOW },
	{ "equal prefix: the every-protocol rule holds the other protocols",
	  "deny 10.4.0.0/16\n10.4.0.0/16:*/udp", NULL, VALID,
	  "10.4.1.1", TCP, 5000, DENY },
	{ "equal prefix: a port rule beats an every-protocol deny",
	  "deny 10.17.0.0/16\n10.17.0.0/16:443/tcp", NULL, VALID,
	  "10.17.0.1", TCP, 443, ALLOW },
	{ "whole address: a port deny beats an every-protocol allow",
	  "192.0.2.12:*\ndeny 192.0.2.12:22/tcp", NULL, VALID,
	  "192.0.2.12", TCP, 22, DENY },
	{ "whole address: the every-protocol allow holds the other ports",
	  "192.0.2.12:*\ndeny 192.0.2.12:22/tcp", NULL, VALID,
	  "192.0.2.12", TCP, 23, ALLOW },

	/* Deny beats allow at one key. */
	{ "deny beats allow at the same whole-address key",
	  "192.0.2.10:443/tcp\ndeny 192.0.2.10:443/tcp", NULL, VALID,
	  "192.0.2.10", TCP, 443, DENY },
	{ "deny beats allow at the same prefix key",
	  "10.6.0.0/16:*\ndeny 10.6.0.0/16", NULL, VALID, "10.6.1.1", UDP, 53, DENY },

	/* The longest prefix wins, whatever its key. */
	{ "a longer deny inside an allowed prefix wins",
	  "10.7.0.0/16:*\ndeny 10.7.9.0/24", NULL, VALID, "10.7.9.9", TCP, 80, DENY },
	{ "the rest of that allowed prefix stays allowed",
	  "10.7.0.0/16:*\ndeny 10.7.9.0/24", NULL, VALID, "10.7.8.9", TCP, 80, ALLOW },
	{ "a longer allow inside a denied prefix wins",
	  "deny 10.8.0.0/16\n10.8.9.0/24:443/tcp", NULL, VALID,
	  "10.8.9.9", TCP, 443, ALLOW },
	{ "a longer allow inside a denied prefix holds its port only",
	  "deny 10.8.0.0/16\n10.8.9.0/24:443/tcp", NULL, VALID,
	  "10.8.9.9", TCP, 80, DENY },
	{ "a longer every-port deny beats a shorter port allow",
	  "10.16.0.0/16:443/tcp\ndeny 10.16.1.0/24:*/tcp", NULL, VALID,
	  "10.16.1.1", TCP, 443, DENY },
	{ "a whole-address rule beats a prefix's port deny",
	  "deny 10.9.0.0/24:443/tcp\n10.9.0.7:*", NULL, VALID,
	  "10.9.0.7", TCP, 443, ALLOW },

	/* Expiry: an expired rule is absent. The compiler makes no expiring
	 * deny today (a hostname cannot be denied, a grant is an allow), but
	 * the kernel treats every entry alike, and so must its statement. */
	{ "an expiring rule allows before its expiry",
	  "", "192.0.2.30:443/tcp", VALID, "192.0.2.30", TCP, 443, ALLOW },
	{ "an expired rule is absent: denied",
	  "", "192.0.2.30:443/tcp", EXPIRED, "192.0.2.30", TCP, 443, DENY },
	{ "an expired whole-address deny lets a prefix decide",
	  "10.10.0.0/16:443/tcp", "deny 10.10.0.5:443/tcp", EXPIRED,
	  "10.10.0.5", TCP, 443, ALLOW },
	{ "a whole-address deny before its expiry decides",
	  "10.10.0.0/16:443/tcp", "deny 10.10.0.5:443/tcp", VALID,
	  "10.10.0.5", TCP, 443, DENY },
	{ "an expired whole-address allow leaves the prefix's deny",
	  "deny 10.11.0.0/16", "10.11.0.5:443/tcp", EXPIRED,
	  "10.11.0.5", TCP, 443, DENY },
	{ "an expiring prefix inside a denied one allows before its expiry",
	  "deny 10.12.0.0/16", "10.12.5.0/24:443/tcp", VALID,
	  "10.12.5.5", TCP, 443, ALLOW },
	/* The trie answers a key with its longest prefix only: when that
	 * one has expired, a shorter one of the same key is not asked. */
	{ "an expired prefix hides the shorter prefixes of its key",
	  "10.12.0.0/16:443/tcp", "10.12.5.0/24:443/tcp", EXPIRED,
	  "10.12.5.5", TCP, 443, DENY },
	{ "an expired prefix hides no prefix of another key",
	  "10.12.0.0/16:*/tcp", "10.12.5.0/24:443/tcp", EXPIRED,
	  "10.12.5.5", TCP, 443, ALLOW },

	/* IPv4 as v4-mapped IPv6, and IPv6. */
	{ "a v4-mapped IPv6 destination matches an IPv4 rule",
	  "192.0.2.50:443/tcp", NULL, VALID, "::ffff:192.0.2.50", TCP, 443, ALLOW },
	{ "a v4-mapped IPv6 destination matches an IPv4 prefix",
	  "10.13.0.0/16:*", NULL, VALID, "::ffff:10.13.1.1", UDP, 53, ALLOW },
	{ "a v4-mapped IPv6 destination meets an IPv4 deny",
	  "10.13.0.0/16:*\ndeny 10.13.9.0/24", NULL, VALID,
	  "::ffff:10.13.9.1", TCP, 443, DENY },
	{ "an IPv4 rule does not match the IPv4-compatible address",
	  "192.0.2.60:443/tcp", NULL, VALID, "::192.0.2.60", TCP, 443, DENY },
	{ "an IPv6 whole-address rule",
	  "[2001:db8::1]:443/tcp", NULL, VALID, "2001:db8::1", TCP, 443, ALLOW },
	{ "an IPv6 prefix allows inside",
	  "[2001:db8:1::/48]:*\ndeny [2001:db8:1:2::/64]", NULL, VALID,
	  "2001:db8:1:1::1", UDP, 443, ALLOW },
	{ "a longer IPv6 deny inside an allowed prefix wins",
	  "[2001:db8:1::/48]:*\ndeny [2001:db8:1:2::/64]", NULL, VALID,
	  "2001:db8:1:2::1", TCP, 22, DENY },
	{ "a longer IPv6 allow inside a denied prefix wins",
	  "deny [2001:db8:2::/48]\n[2001:db8:2:3::/64]:443", NULL, VALID,
	  "2001:db8:2:3::9", UDP, 443, ALLOW },
	{ "ICMPv6 by an every-protocol IPv6 rule",
	  "[2001:db8:5::/48]:*", NULL, VALID, "2001:db8:5::1", ICMPV6, 0, ALLOW },
	{ "::/0 holds IPv4 too, v4-mapped",
	  "[::/0]:*", NULL, VALID, "10.14.0.1", ICMP, 0, ALLOW },
	{ "0.0.0.0/0 holds no IPv6 address",
	  "0.0.0.0/0:*", NULL, VALID, "2001:db8::1", TCP, 443, DENY },

	/* Nothing. */
	{ "an empty rule set denies",
	  "", NULL, VALID, "192.0.2.1", TCP, 443, DENY },
};

const size_t cbpf_nvectors = sizeof(cbpf_vectors) / sizeof(cbpf_vectors[0]);

/* Parses and compiles allowlist text as load does a file without names. */
static int compile(const char *text, struct cbpf_ruleset *rs, char *msg, size_t len)
{
	struct cbpf_conf conf = {};
	struct cbpf_errors errs = {};
	int err = cbpf_conf_parse("vector", text, &conf, &errs);

	if (err)
		snprintf(msg, len, "%s", errs.n ? errs.msg[0] : strerror(-err));
	else if ((err = cbpf_rules_compile(&conf, NULL, 0, NULL, 0, rs)))
		snprintf(msg, len, "cannot compile '%s': %s", text, strerror(-err));
	cbpf_errors_free(&errs);
	cbpf_conf_free(&conf);
	return err;
}

int cbpf_vector_ruleset(const struct cbpf_vector *v, uint64_t now_ns,
			struct cbpf_ruleset *rs, char *msg, size_t len)
{
	const uint64_t second = 1000000000ull;
	struct cbpf_ruleset exp = {};
	int err;

	memset(rs, 0, sizeof(*rs));
	if ((err = compile(v->rules, rs, msg, len)))
		return err;
	if (!v->expiring)
		return 0;
	if ((err = compile(v->expiring, &exp, msg, len))) {
		cbpf_ruleset_free(rs);
		return err;
	}
	for (size_t i = 0; i < exp.n && !err; i++) {
		exp.v[i].val.expires_ns = v->expired ? now_ns - second : now_ns + 3600 * second;
		if ((err = cbpf_ruleset_push(rs, &exp.v[i])))
			snprintf(msg, len, "%s", strerror(-err));
	}
	cbpf_ruleset_free(&exp);
	if (err)
		cbpf_ruleset_free(rs);
	else
		cbpf_ruleset_finish(rs);
	return err;
}

int cbpf_vector_addr(const struct cbpf_vector *v, uint8_t addr[16], bool *v4)
{
	uint8_t a4[4];

	*v4 = inet_pton(AF_INET, v->dest, a4) == 1;
	if (*v4)
		cbpf_v4_mapped(addr, a4);
	else if (inet_pton(AF_INET6, v->dest, addr) != 1)
		return -EINVAL;
	return 0;
}

void cbpf_vector_dest_text(const struct cbpf_vector *v, char *buf, size_t len)
{
	const char *proto = v->proto == TCP ? "tcp" : v->proto == UDP ? "udp" :
			    v->proto == ICMP ? "icmp" : v->proto == ICMPV6 ? "icmpv6" : "ip";
	bool v6 = strchr(v->dest, ':') != NULL;

	if (v->proto == TCP || v->proto == UDP)
		snprintf(buf, len, "%s %s%s%s:%u", proto, v6 ? "[" : "", v->dest,
			 v6 ? "]" : "", v->port);
	else
		snprintf(buf, len, "%s %s", proto, v->dest);
}
