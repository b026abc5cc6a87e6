/* DNS messages for the forwarder, read and written with ldns: the sandbox's
 * query, the forwarder's refusal, the addresses of an upstream answer, and
 * the address hints of SVCB/HTTPS taken out of it. Pure: no I/O. */
#ifndef CBPF_DNSMSG_H
#define CBPF_DNSMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Allowed names: exact names ("api.example.com") and "*.suffix" (any name
 * strictly below suffix, at any depth, not suffix itself). Letters,
 * digits, '-' and '_' in labels of 1 to 63 characters, 253 at the most in
 * all. Matching ignores case and one trailing dot. */
struct cbpf_dns_name {
	char *name;         /* lower case, no trailing dot; the suffix for "*." */
	bool below;         /* "*.name": names strictly below name */
};

struct cbpf_dns_names {
	struct cbpf_dns_name *v;
	size_t n;
};

/* Returns 0, -EINVAL for a bad pattern (empty, a label of 0 or more than 63
 * characters, longer than 253, '*' anywhere but a whole leading label "*.",
 * any other character outside the set above), or -ENOMEM. */
int cbpf_dns_names_add(struct cbpf_dns_names *n, const char *pattern);
/* A name that could not be a pattern (one with the escapes of a zone
 * file, say "a\.example.com") matches nothing. */
bool cbpf_dns_names_match(const struct cbpf_dns_names *n, const char *name);
/* The index of the first pattern at or after `from` that `name` matches;
 * n->n when none does. */
size_t cbpf_dns_names_find(const struct cbpf_dns_names *n, const char *name, size_t from);
void cbpf_dns_names_free(struct cbpf_dns_names *n);

struct cbpf_dns_query {
	uint16_t id;
	uint16_t qtype;
	uint16_t qclass;
	/* As in a zone file (odd bytes escaped as \. or \DDD), lower case,
	 * no trailing dot; the root stays ".". */
	char name[256];
};

/* A query from the sandbox: QR=0, opcode QUERY, exactly one question.
 * Returns 0, or -EBADMSG for anything else, a message ldns cannot read, or
 * a name whose escaped form does not fit name[]. */
int cbpf_dns_query_parse(const uint8_t *msg, size_t len, struct cbpf_dns_query *q);

/* The forwarder's own answer of `rcode` (LDNS_RCODE_REFUSED for a name
 * the policy does not allow, SERVFAIL when it cannot answer) to `query`:
 * its id, RD copied, its question echoed; QR=1, RA=1, no records. Writes at most `cap`
 * bytes to `out` and their count to *outlen. Returns 0, -EBADMSG when the
 * query is not one cbpf_dns_query_parse would take (its name may be of any
 * length), -ENOSPC, or -ENOMEM. */
int cbpf_dns_reply_error(const uint8_t *query, size_t len, int rcode, uint8_t *out,
			 size_t cap, size_t *outlen);

/* Whether `answer` (QR=1, one question) answers `query`: the same id, and
 * the same question (name ignoring case, type, class). The forwarder drops
 * any other answer as spoofed or stale. */
bool cbpf_dns_answer_matches(const uint8_t *query, size_t qlen,
			     const uint8_t *answer, size_t alen);

#define CBPF_DNS_CHAIN_MAX 16

struct cbpf_dns_addr {
	uint8_t addr[16];   /* IPv6, or IPv4 v4-mapped (::ffff:a.b.c.d) */
	uint32_t ttl;       /* the record's */
};

/* The addresses an upstream answer gives `name` (as in struct
 * cbpf_dns_query): the CNAME chain from `name` through the answer section
 * is followed (records in any order, CBPF_DNS_CHAIN_MAX links at the most,
 * a loop ends it), and every class IN A and AAAA record whose owner is on
 * the chain is taken, in the order of the message, a repeated address as
 * often as it comes. Sets *n. Returns 0, -EBADMSG when `msg` is not a
 * response (QR=0) or ldns cannot read it, -EINVAL for a `name` ldns cannot
 * read, -E2BIG (nothing written, *n = 0) when there are more than `max`,
 * or -ENOMEM. */
int cbpf_dns_answer_addrs(const uint8_t *msg, size_t len, const char *name,
			  struct cbpf_dns_addr *out, size_t max, size_t *n);

/* SVCB (64) and HTTPS (65) records carry address hints (ipv4hint, key 4;
 * ipv6hint, key 6) that would let a client connect to addresses the policy
 * never learned. Writes `msg` to `out` with those keys taken out of every
 * SVCB and HTTPS record of every section, all else kept (the other keys in
 * their order); a message that has none is copied as it is. Returns 0,
 * -EBADMSG when ldns cannot read `msg` or an SVCB/HTTPS record's
 * parameters overrun it, -ENOSPC, or -ENOMEM. */
int cbpf_dns_strip_hints(const uint8_t *msg, size_t len, uint8_t *out, size_t cap,
			 size_t *outlen);

/* An upstream's answer to `query` as the forwarder returns it: its id set
 * back to the query's (the upstream saw another), checked to answer the
 * query (cbpf_dns_answer_matches), its address hints stripped into `out`,
 * and the addresses it gives the query's `name` in addrs (as
 * cbpf_dns_answer_addrs). `answer` is changed (its id). Returns 0,
 * -EBADMSG (not an answer to the query, or unreadable), -E2BIG, -ENOSPC
 * or -ENOMEM. */
int cbpf_dns_answer_prepare(const uint8_t *query, size_t qlen, const char *name,
			    uint8_t *answer, size_t alen, uint8_t *out, size_t cap,
			    size_t *outlen, struct cbpf_dns_addr *addrs, size_t max,
			    size_t *naddrs);

/* DNS over TCP: each message after its length (two bytes, network order).
 * With `len` bytes of a stream in `buf`: 1 and *mlen when a whole message
 * is there (at buf + 2), 0 when more is needed, -EMSGSIZE when the next
 * message is longer than `max`. */
int cbpf_dns_tcp_next(const uint8_t *buf, size_t len, size_t max, size_t *mlen);

#endif
