/* The decision's test vectors: one table, driven through the user-space
 * statement of the decision (cbpf_rules_decide, tests/unit/test_decision.c)
 * and through the real BPF object's egress program with BPF_PROG_RUN
 * (tests/tools/decide.c), so the two cannot drift apart unnoticed. */
#ifndef CBPF_TEST_VECTORS_H
#define CBPF_TEST_VECTORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/rules.h"

/* One rule set, one destination, one expected verdict. The rule set is
 * allowlist text, parsed and compiled as `load` does (no hostnames: they
 * would need resolving); the `expiring` text is compiled the same way and
 * its entries given an expiry, as a hostname's or a grant's are. */
struct cbpf_vector {
	const char *name;
	const char *rules;      /* rules that never expire ("" for none) */
	const char *expiring;   /* rules that expire, or NULL */
	bool expired;           /* ... and have expired (else: an hour to go) */
	const char *dest;       /* IPv4 literal (an IPv4 packet) or IPv6 */
	uint8_t proto;          /* IP protocol */
	uint16_t port;          /* host order; 0 unless TCP or UDP */
	bool allow;             /* the expected verdict */
};

extern const struct cbpf_vector cbpf_vectors[];
extern const size_t cbpf_nvectors;

/* The rule set of `v` judged at `now_ns` (CLOCK_BOOTTIME, at least a
 * second): the expiring rules expire a second before it when v->expired,
 * else an hour after. Returns 0, or -errno with the reason in `msg`
 * (the first parse error for -EINVAL) and *rs empty. */
int cbpf_vector_ruleset(const struct cbpf_vector *v, uint64_t now_ns,
			struct cbpf_ruleset *rs, char *msg, size_t len);

/* The destination as the maps hold it (IPv4 v4-mapped); *v4: it was written
 * as IPv4. Returns 0 or -EINVAL. */
int cbpf_vector_addr(const struct cbpf_vector *v, uint8_t addr[16], bool *v4);

/* "tcp 192.0.2.10:443", "icmp 10.15.0.1", "udp [2001:db8::1]:53". */
void cbpf_vector_dest_text(const struct cbpf_vector *v, char *buf, size_t len);

#endif
