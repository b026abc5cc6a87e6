/* Compiling a parsed configuration (plus resolved addresses) or a built-in
 * policy into the entries of the rules map. Pure: no I/O. */
#ifndef CBPF_RULES_H
#define CBPF_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "claude_bpf.h"
#include "core/config.h"

struct cbpf_rule_entry {
	struct cbpf_rule_key key;   /* key.policy left 0: set by the loader */
	struct cbpf_rule val;
};

struct cbpf_ruleset {
	struct cbpf_rule_entry *v;  /* sorted by key bytes, keys unique */
	size_t n, cap;
	uint32_t flags;             /* CBPF_POLICY_* */
	char **hosts;               /* hosts[i] is host index i + 1 */
	size_t nhosts;
	struct cbpf_dns_target dns; /* with CBPF_POLICY_DNS (dnsfwd.h) */
};

/* Addresses one hostname resolved to. */
struct cbpf_resolved {
	const char *host;           /* as in struct cbpf_conf_entry.host */
	uint8_t (*addrs)[16];       /* IPv6 or v4-mapped */
	size_t n;
	uint32_t ttl;               /* seconds, smallest of the answers */
	uint64_t expires_ns;        /* CLOCK_BOOTTIME its rules expire; 0: never */
	const char *error;          /* why the last try gave no address (static
	                             * text); NULL after an answer */
};

/* Compiles `conf`. Each host entry takes the addresses from the `res` item
 * with the same host (it is an error, -ENOENT, if there is none); a
 * wildcard entry makes no rule and needs no item. Every
 * resolver in conf->dns, and every address in `dns_default` when conf->dns
 * is empty, becomes an allow rule for TCP and UDP port 53 (/32 or /128).
 * Rules from a hostname expire when its struct cbpf_resolved says; its
 * answers cbpf_answer_skipped names make none.
 * Precedence at an identical key: deny wins. Returns 0 or -errno. */
int cbpf_rules_compile(const struct cbpf_conf *conf,
		       const struct cbpf_resolved *res, size_t nres,
		       const uint8_t (*dns_default)[16], size_t ndns_default,
		       struct cbpf_ruleset *out);

/* Whether a resolved answer is never made a rule: this network
 * (0.0.0.0/8), loopback, the unspecified address, link-local, multicast or
 * the broadcast address. DNS filters answer a blocked name with 0.0.0.0,
 * and an allow for it would reach the host's own services; an address
 * written in the file is a rule as usual. */
bool cbpf_answer_skipped(const uint8_t addr[16]);

/* An address prefix: IPv4 v4-mapped, `len` counted on the 128 bits. */
struct cbpf_prefix {
	uint8_t addr[16];
	uint8_t len;
};

/* "internet, no LAN": every public IPv4 and IPv6 destination allowed; RFC
 * 1918, CGNAT, link-local, ULA, site-local, loopback, unspecified,
 * multicast, reserved and documentation ranges, cloud metadata, the IPv6
 * routes into IPv4's private space (NAT64, 6to4, Teredo, IPv4-compatible),
 * and `own` (the host's addresses and its global IPv6 prefixes, its LAN)
 * denied; the `dns` resolvers allowed on port 53 even when private. */
int cbpf_rules_internet(const struct cbpf_prefix *own, size_t nown,
			const uint8_t (*dns)[16], size_t ndns,
			struct cbpf_ruleset *out);

/* Denies everything: an empty rule set. */
int cbpf_rules_none(struct cbpf_ruleset *out);

/* The entries host line `e` makes for one address of a name it matches
 * (its ports and protocols, e->host and e->line unused): attributed to
 * host index `host`, expiring at `expires_ns`. Appended unsorted. */
int cbpf_rules_host_addr(struct cbpf_ruleset *rs, const struct cbpf_conf_entry *e,
			 const uint8_t addr[16], uint32_t host, uint64_t expires_ns);
/* The 1-based index of hostname `name` in rs->hosts, added if new.
 * Returns 0 or -ENOMEM. */
int cbpf_ruleset_host(struct cbpf_ruleset *rs, const char *name, uint32_t *idx);
/* Appends one entry. Returns 0 or -ENOMEM. */
int cbpf_ruleset_push(struct cbpf_ruleset *rs, const struct cbpf_rule_entry *e);
/* Sorts by key bytes and merges entries with the same key (deny wins). */
void cbpf_ruleset_finish(struct cbpf_ruleset *rs);
void cbpf_ruleset_free(struct cbpf_ruleset *rs);

/* Whether rule set `rs` (as cbpf_ruleset_finish leaves it: one entry per
 * key; key.policy is ignored) allows `addr` (IPv6 or v4-mapped), IP
 * protocol `proto` and `port` (host order; 0 for a protocol without ports),
 * decided as cbpf_decide in bpf/claude_bpf.bpf.c decides, lookup for lookup:
 *  1. the entries for the whole address ("exact_rules": /128, IPv4 /32),
 *     asked for (proto, port), then (proto, every port), then (every
 *     protocol): the first found decides, and the prefixes are not asked;
 *  2. only without one, the same three keys in the prefixes ("rules", an
 *     LPM trie): each gives its longest prefix holding `addr`, and the
 *     longest of the three decides; at equal prefix the earlier key.
 * Deny beats allow at one key when the set is made (cbpf_ruleset_finish).
 * A rule with expires_ns != 0 && expires_ns <= now_ns (CLOCK_BOOTTIME) is
 * not found, as the kernel's lookup_rule does: a whole-address one lets the
 * search go on, but an expired prefix hides the shorter prefixes of its key
 * (the trie gives one answer per key). now_ns 0: nothing has expired. No
 * match denies. Loopback is not judged here: the programs allow the host's
 * loopback only by a whole-address rule, which *prefix shows (the address
 * prefix of the deciding rule, 128 for a whole address; 0 when none). */
bool cbpf_rules_decide(const struct cbpf_ruleset *rs, const uint8_t addr[16],
		       uint8_t proto, uint16_t port, uint64_t now_ns, uint8_t *prefix);

/* The address prefix length (IPv6 terms) of a key: prefixlen minus the fixed
 * bits. */
static inline uint8_t cbpf_key_addr_prefix(const struct cbpf_rule_key *k)
{
	return (uint8_t)(k->prefixlen - CBPF_KEY_FIXED_BITS);
}

#endif
