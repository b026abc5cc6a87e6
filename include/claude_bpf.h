/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The ABI shared by the BPF programs and the claude-bpf command: map keys and
 * values, deny events, enums and limits. Both sides include this file, so
 * every type has fixed width and explicit padding. */
#ifndef CLAUDE_BPF_H
#define CLAUDE_BPF_H

#ifdef __bpf__
/* vmlinux.h provides __u8 .. __u64 and struct bpf_spin_lock */
#else
#include <linux/types.h>
#include <linux/bpf.h>
#endif

/* One place for limits. */
#define CBPF_MAX_POLICIES   1024     /* enforcement cgroups, one policy each */
#define CBPF_MAX_RULES      262144   /* rule entries of each of the two rule
                                      * maps, all policies together */
#define CBPF_CGROUP_LEVELS  32       /* cgroup depth searched for a policy */
#define CBPF_NAME_MAX       32       /* policy name, NUL included */
#define CBPF_HOST_MAX       256      /* hostname, NUL included */
#define CBPF_CGROUP_PATH_MAX 208     /* enforcement cgroup below the mount */
#define CBPF_MAX_HOSTS      65536    /* hostnames, all policies together */
#define CBPF_POLICY_HINTS   16384    /* socket cgroups whose policy is cached */
#define CBPF_EVENTS_BYTES   (256 * 1024)
#define CBPF_EVENTS_PER_SEC 100      /* per CPU; the rest are only counted */

/* Protocols as in the IP header; CBPF_PROTO_ANY matches every protocol. */
enum cbpf_proto {
	CBPF_PROTO_ANY  = 0,
	CBPF_PROTO_ICMP = 1,
	CBPF_PROTO_TCP  = 6,
	CBPF_PROTO_UDP  = 17,
	CBPF_PROTO_ICMPV6 = 58,
};

/* Port 0 in a rule key means every port. */
#define CBPF_PORT_ANY 0

enum cbpf_action {
	CBPF_ACTION_DENY  = 0,
	CBPF_ACTION_ALLOW = 1,
};

/* Why something was denied: the index of the deny counters. */
enum cbpf_reason {
	CBPF_REASON_NO_POLICY   = 0, /* no policy on the socket's cgroup path */
	CBPF_REASON_NO_RULE     = 1, /* no rule matched the destination */
	CBPF_REASON_DENY_RULE   = 2, /* a deny rule matched */
	CBPF_REASON_EXPIRED     = 3, /* the matching allow rule had expired */
	CBPF_REASON_LOOPBACK    = 4, /* host loopback from the host namespace */
	CBPF_REASON_SOCKET_TYPE = 5, /* socket type forbidden (raw IP) */
	CBPF_REASON_BAD_PACKET  = 6, /* egress packet that could not be parsed */
	CBPF_REASON_DNS_NAME    = 7, /* the DNS forwarder refused a query for a
	                              * name the policy does not allow (counted
	                              * by the forwarder, not by the programs) */
	CBPF_REASON__COUNT
};

enum cbpf_hook {
	CBPF_HOOK_CONNECT4    = 0,
	CBPF_HOOK_CONNECT6    = 1,
	CBPF_HOOK_SENDMSG4    = 2,
	CBPF_HOOK_SENDMSG6    = 3,
	CBPF_HOOK_EGRESS      = 4,
	CBPF_HOOK_SOCK_CREATE = 5,
	CBPF_HOOK_RECVMSG4    = 6,   /* the DNS redirect's way back (below) */
	CBPF_HOOK_RECVMSG6    = 7,
	CBPF_HOOK_GETPEERNAME4 = 8,
	CBPF_HOOK_GETPEERNAME6 = 9,
	CBPF_HOOK__COUNT
};
/* Not a hook: events of the DNS forwarder (struct cbpf_dns_event). */
#define CBPF_HOOK_FORWARDER 0xff

/* Policy flags. */
#define CBPF_POLICY_ALLOW_RAW (1u << 0) /* raw IP sockets may be created */
#define CBPF_POLICY_PREFIXES  (1u << 1) /* some rules are in "rules" (the
                                         * trie): look there too */
#define CBPF_POLICY_DNS       (1u << 2) /* port 53 goes to the policy's DNS
                                         * forwarder (struct cbpf_dns_target) */

/* DNS port, network byte order. */
#define CBPF_DNS_PORT_BE 0x3500

/*
 * Where a policy's DNS goes (CBPF_POLICY_DNS): every TCP connect and UDP
 * connect or sendmsg to port 53, whatever the address, is sent to the
 * policy's forwarder instead, at one of two places: on the host's loopback
 * for a socket in the host's network namespace (exec), at the address of
 * podman's bridge on the host for a socket in any other (a container). An
 * address left 0 is none: DNS from such a socket is denied. The redirected
 * destination is still judged on its way out (egress): the loader writes
 * exact allow rules for the forwarder's addresses and port.
 */
struct cbpf_dns_target {
	__u32 host4;                /* IPv4, network byte order */
	__u32 net4;
	__u8  host6[16];
	__u8  net6[16];
	__u16 port;                 /* network byte order */
	__u8  pad[6];
};
_Static_assert(sizeof(struct cbpf_dns_target) == 48, "cbpf_dns_target layout");

/*
 * Map "policies": enforcement cgroup id -> policy.
 *
 * A socket's policy is the one of its nearest cgroup ancestor that has an
 * entry here. Replacing a policy writes its rules under a fresh id first and
 * then switches `id` in one map update, so every lookup sees either the whole
 * old rule set or the whole new one.
 */
struct cbpf_policy {
	__u32 id;                   /* rule set id used in struct cbpf_rule_key */
	__u32 flags;                /* CBPF_POLICY_* */
	__u64 loaded_ns;            /* CLOCK_BOOTTIME of the last load */
	char  name[CBPF_NAME_MAX];
	char  cgroup[CBPF_CGROUP_PATH_MAX]; /* relative to the cgroup2 mount */
	struct cbpf_dns_target dns; /* with CBPF_POLICY_DNS */
};
_Static_assert(sizeof(struct cbpf_policy) == 304, "cbpf_policy layout");

/*
 * Maps "exact_rules" and "rules": the allow and deny rules of every policy.
 * A rule for one whole address (/32, /128: every resolved hostname and most
 * written addresses) is in the hash "exact_rules"; a rule for a shorter
 * prefix is in the LPM trie "rules". Both have the same key and value. A
 * whole-address match is the most specific there is, so the hash is asked
 * first and the trie only when it has no match and the policy has
 * CBPF_POLICY_PREFIXES: a hash lookup costs a fraction of a trie walk.
 *
 * The trie matches the key's bits after `prefixlen` from the first byte on,
 * so the order of the fields is what makes one lookup exact on the policy,
 * protocol and port and longest-prefix on the address:
 *
 *   prefixlen = 32 (policy) + 8 (proto) + 8 (pad) + 16 (port)
 *               + address prefix length           (CBPF_KEY_FIXED_BITS + n)
 *
 * IPv4 addresses are stored v4-mapped (::ffff:a.b.c.d, prefix + 96), so an
 * IPv4 rule also matches a v4-mapped destination given to connect6.
 * Example: "10.1.0.0/16:5432/tcp" in rule set 3 is
 *   { .prefixlen = 64 + 96 + 16, .policy = 3, .proto = 6,
 *     .port = htons(5432), .addr = ::ffff:10.1.0.0 }
 * "Every port" is port 0; "every protocol" is proto 0 (with port 0). The
 * decision looks up (proto, port), (proto, any port) and (any, any) and
 * keeps the match with the longest address prefix.
 */
struct cbpf_rule_key {
	__u32 prefixlen;
	__u32 policy;               /* rule set id (always fully matched) */
	__u8  proto;                /* enum cbpf_proto */
	__u8  pad;                  /* always 0, inside the matched bits */
	__u16 port;                 /* network byte order; 0: every port */
	__u8  addr[16];             /* IPv6, or v4-mapped IPv4 */
};
_Static_assert(sizeof(struct cbpf_rule_key) == 28, "cbpf_rule_key layout");

/* Bits of the key in front of the address. */
#define CBPF_KEY_FIXED_BITS (32 + 8 + 8 + 16)

/* The prefixlen of every key in "exact_rules". */
#define CBPF_KEY_EXACT (CBPF_KEY_FIXED_BITS + 128)

struct cbpf_rule {
	__u8  action;               /* enum cbpf_action */
	__u8  addr_prefix;          /* address prefix length, 0..128 */
	__u16 pad;
	__u32 host;                 /* index of the hostname it came from, 0: none */
	__u64 expires_ns;           /* CLOCK_BOOTTIME; 0: never expires */
};
_Static_assert(sizeof(struct cbpf_rule) == 16, "cbpf_rule layout");

/* Map "hostnames": the names behind resolved rules (struct cbpf_rule.host),
 * so status and monitor can say which host an address belongs to. Only user
 * space reads it. */
struct cbpf_host_key {
	__u32 policy;               /* rule set id */
	__u32 host;                 /* 1.. */
};

struct cbpf_host {
	char name[CBPF_HOST_MAX];
};

/* Per-CPU array "decisions": recent allow decisions, so the connect, the
 * packets and the datagrams that follow to the same destination from the
 * same cgroup cost one slot read instead of finding the policy and its
 * rule. A destination has one slot per CPU (a hash of it and the
 * cgroup), and a newer decision for another destination takes it over. A
 * decision is used only while `gen` is the generation in "settings" (every
 * change to the policies or rules starts a new one) and the rule that
 * allowed it has not expired; deny decisions are never kept.
 *
 * Only programs on the slot's CPU touch it, but one can be interrupted or
 * preempted by another, so the slot is a sequence lock: a writer takes it
 * by turning an even `seq` odd with compare-and-swap (or leaves the slot
 * alone) and makes it even again when done; a reader uses a decision only
 * if it saw the same even `seq` before and after reading it. */
struct cbpf_decision {
	__u64 seq;                  /* 64 bits: BPF's compare-and-swap */
	__u64 cgroup_id;            /* the socket's (or task's) cgroup */
	__u64 gen;                  /* settings generation it was decided in */
	__u64 expires_ns;           /* of the rule that allowed it; 0: never */
	__u8  addr[16];
	__u16 port;                 /* network byte order */
	__u8  proto;
	__u8  pad[5];
};
_Static_assert(sizeof(struct cbpf_decision) == 56, "cbpf_decision layout");

#define CBPF_DECISION_BITS  8
#define CBPF_DECISION_SLOTS (1U << CBPF_DECISION_BITS)   /* per CPU */

/* LRU hash "policy_hints": a socket's cgroup id -> where its policy is,
 * one 64-bit word (read whole, so never torn):
 *   bits 63..24  settings generation it was found in (low 40 bits)
 *   bits 23..8   low 16 bits of the cgroup id (a recycled LRU element
 *                read by a late reader belongs to another cgroup)
 *   bits  7..0   cgroup level of the enforcement cgroup
 * Example: generation 7, cgroup 0x1234, policy two levels down:
 *   (7 << 24) | (0x1234 << 8) | 2 */
#define CBPF_HINT(gen, cgid, level) \
	((((__u64)(gen) & 0xffffffffffULL) << 24) | \
	 (((__u64)(cgid) & 0xffff) << 8) | ((__u64)(level) & 0xff))

/* Map "deny_counters" (per-CPU hash): denials per policy and reason. */
struct cbpf_counter_key {
	__u64 cgroup_id;            /* enforcement cgroup, or the socket's own
	                             * cgroup for CBPF_REASON_NO_POLICY */
	__u32 reason;               /* enum cbpf_reason */
	__u32 pad;
};
_Static_assert(sizeof(struct cbpf_counter_key) == 16, "counter key layout");

/* Map "settings" (array, one entry, mmapable): set by the loader. */
struct cbpf_config {
	__u64 host_netns_cookie;    /* the host's network namespace */
	__u32 abi_version;          /* CBPF_ABI_VERSION of the loader that pinned */
	__u32 last_id;              /* last rule set id given out: none is reused,
	                             * so a new one has no leftover rules */
	/* Generation: 1 at creation, incremented atomically (through the
	 * mmapped map) after every change to "policies" or "rules". A policy
	 * hint or kept decision from an older generation is not used. */
	__u64 gen;
	/* The rule sets a load or unload is writing or deleting (0: none),
	 * cleared when it is done: what one that died left, for the next. */
	__u32 dirty[2];
};
_Static_assert(sizeof(struct cbpf_config) == 32, "cbpf_config layout");

/* Bumped whenever a map layout above changes: a pinned object of another
 * version is refused rather than misread. */
#define CBPF_ABI_VERSION 6

/* Ring buffer "events": one record per denial, rate-limited per CPU. */
struct cbpf_event {
	__u64 time_ns;              /* CLOCK_BOOTTIME */
	__u64 cgroup_id;            /* the socket's (or task's) cgroup */
	__u64 policy_cgroup_id;     /* enforcement cgroup, 0: none found */
	__u32 pid;                  /* thread group id, 0 when not known */
	__u32 policy;               /* rule set id, 0: none */
	char  comm[16];
	__u8  hook;                 /* enum cbpf_hook */
	__u8  proto;                /* IP protocol, 0 when not known */
	__u16 port;                 /* host byte order, 0 when none */
	__u8  reason;               /* enum cbpf_reason */
	__u8  pad[3];
	__u8  addr[16];             /* destination, IPv4 v4-mapped */
};
_Static_assert(sizeof(struct cbpf_event) == 72, "cbpf_event layout");

/* A refusal of the DNS forwarder, in the ring buffer with the programs'
 * denials: the forwarder runs program "report" (BPF_PROG_RUN) with one as
 * its context, and it is copied into "events" (rate-limited and counted
 * like the others). hook CBPF_HOOK_FORWARDER, reason CBPF_REASON_DNS_NAME,
 * no address, no pid (a datagram does not say who sent it); proto is the
 * query's transport, and `name` the name asked for. */
struct cbpf_dns_event {
	struct cbpf_event e;
	char name[CBPF_HOST_MAX];
};
_Static_assert(sizeof(struct cbpf_dns_event) == 328, "cbpf_dns_event layout");

/* LRU hash "dns_redirects": socket cookie -> where a redirected socket
 * meant to send its DNS, and where it went instead, so that what it reads
 * back (recvmsg, getpeername) names the address it asked for: clients drop
 * an answer from an address they did not ask. One per socket, its last
 * redirect (musl asks every resolver at once: any of them is accepted). */
struct cbpf_dns_redirect {
	__u8  orig[16];             /* IPv6 or v4-mapped */
	__u8  to[16];
	__u16 orig_port;            /* network byte order */
	__u16 to_port;
	__u8  pad[4];
};
_Static_assert(sizeof(struct cbpf_dns_redirect) == 40, "cbpf_dns_redirect layout");
#define CBPF_DNS_REDIRECTS 65536

/* Per-CPU array "event_limit": a one-second window of sent events. */
struct cbpf_rate {
	__u64 window_ns;
	__u32 sent;
	__u32 dropped;
};

#endif /* CLAUDE_BPF_H */
