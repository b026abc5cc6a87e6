// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* claude-bpf enforcement: every hook asks one decision function whether the
 * socket's policy allows the destination. Attached to a policy's enforcement
 * cgroup with BPF links; policies and rules live in maps shared by all. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "claude_bpf.h"

/* The kept decisions (a seqlock per slot) and the generation read without
 * fences rely on the CPU keeping a program's loads in order and its stores
 * in order, which x86-64 (TSO) guarantees and weakly ordered CPUs such as
 * arm64 do not: there a reader could take a slot's new sequence number with
 * its old destination. Until the slots use acquire and release (BPF's
 * load-acquire and store-release need 6.15), the object is built for
 * x86-64 only. */
#ifndef __TARGET_ARCH_x86
#error "claude-bpf's BPF object is built for x86-64 only: its lock-free decision cache relies on x86's memory ordering (see the comment above)"
#endif

#define AF_INET   2
#define AF_INET6  10
#define SOCK_RAW  3
#define ETH_P_IP   0x0800
#define ETH_P_IPV6 0x86DD

/* Verdicts as the kernel reads them for every program type used here. */
#define VERDICT_DENY  0
#define VERDICT_ALLOW 1

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader from what the running kernel offers (probed). */
const volatile bool has_task_helpers = false;   /* pid and comm in sock hooks */
const volatile bool has_skb_netns_cookie = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CBPF_MAX_POLICIES);
	__type(key, __u64);                 /* enforcement cgroup id */
	__type(value, struct cbpf_policy);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policies SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CBPF_MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cbpf_rule_key);  /* prefixlen CBPF_KEY_EXACT */
	__type(value, struct cbpf_rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} exact_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, CBPF_MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cbpf_rule_key);
	__type(value, struct cbpf_rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CBPF_DECISION_SLOTS);
	__type(key, __u32);
	__type(value, struct cbpf_decision);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} decisions SEC(".maps");

/* Read by user space only; here so it is pinned with BTF like the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CBPF_MAX_HOSTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cbpf_host_key);
	__type(value, struct cbpf_host);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hostnames SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct cbpf_counter_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} deny_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);  /* the loader bumps `gen` atomically */
	__type(key, __u32);
	__type(value, struct cbpf_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, CBPF_POLICY_HINTS);
	__type(key, __u64);                 /* the socket's cgroup id */
	__type(value, __u64);               /* CBPF_HINT() */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy_hints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, CBPF_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CBPF_DNS_REDIRECTS);
	__type(key, __u64);                 /* socket cookie */
	__type(value, struct cbpf_dns_redirect);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dns_redirects SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cbpf_rate);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} event_limit SEC(".maps");

/* What a hook knows about the traffic it judges. */
struct cbpf_dest {
	__u8  addr[16];     /* IPv6 or v4-mapped IPv4 */
	__u16 port;         /* network byte order, 0 when none */
	__u8  proto;
	__u8  hook;
	__u64 cgroup_id;    /* the socket's cgroup */
	bool  host_netns;   /* the socket is in the host's network namespace */
	bool  task_known;   /* runs in the context of the task that sends */
};

/* The policy found for a socket, and the cgroup it is attached to. */
struct cbpf_found {
	struct cbpf_policy *policy;
	__u64 policy_cgroup_id;
};

static __always_inline void set_v4_mapped(__u8 addr[16], __u32 ip4_be)
{
	__builtin_memset(addr, 0, 10);
	addr[10] = 0xff;
	addr[11] = 0xff;
	__builtin_memcpy(&addr[12], &ip4_be, 4);
}

static __always_inline bool is_v4_mapped(const __u8 addr[16])
{
	for (int i = 0; i < 10; i++)
		if (addr[i])
			return false;
	return addr[10] == 0xff && addr[11] == 0xff;
}

/* Host loopback: 127/8 and ::1, and the unspecified addresses 0.0.0.0 and
 * ::, which Linux connects to the local host as well. The rest of 0.0.0.0/8
 * is not: Linux routes it as unicast (5.3 and later), so it goes by the
 * rules like any address. */
static __always_inline bool is_loopback(const __u8 addr[16])
{
	if (is_v4_mapped(addr))
		return addr[12] == 127 ||
		       (!addr[12] && !addr[13] && !addr[14] && !addr[15]);
	for (int i = 0; i < 15; i++)
		if (addr[i])
			return false;
	return addr[15] <= 1;
}

static __always_inline void count_deny(__u64 cgroup_id, __u32 reason)
{
	struct cbpf_counter_key key = { .cgroup_id = cgroup_id, .reason = reason };
	__u64 one = 1, *n;

	n = bpf_map_lookup_elem(&deny_counters, &key);
	if (n)
		*n += 1;    /* per-CPU value: no atomic needed */
	else
		bpf_map_update_elem(&deny_counters, &key, &one, BPF_NOEXIST);
}

/* At most CBPF_EVENTS_PER_SEC events per CPU per second; counters see all. */
static __always_inline bool event_allowed(__u64 now)
{
	__u32 zero = 0;
	struct cbpf_rate *r = bpf_map_lookup_elem(&event_limit, &zero);

	if (!r)
		return false;
	if (now - r->window_ns >= 1000000000ULL) {
		r->window_ns = now;
		r->sent = 0;
	}
	if (r->sent >= CBPF_EVENTS_PER_SEC) {
		r->dropped++;
		return false;
	}
	r->sent++;
	return true;
}

static __always_inline int deny(const struct cbpf_dest *d,
				const struct cbpf_found *f, __u32 reason)
{
	__u64 now = bpf_ktime_get_boot_ns();
	struct cbpf_event *e;

	count_deny(f->policy ? f->policy_cgroup_id : d->cgroup_id, reason);
	if (!event_allowed(now))
		return VERDICT_DENY;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return VERDICT_DENY;
	__builtin_memset(e, 0, sizeof(*e));
	e->time_ns = now;
	e->cgroup_id = d->cgroup_id;
	e->policy_cgroup_id = f->policy ? f->policy_cgroup_id : 0;
	e->policy = f->policy ? f->policy->id : 0;
	if (has_task_helpers && d->task_known) {
		e->pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	}
	e->hook = d->hook;
	e->proto = d->proto;
	e->port = bpf_ntohs(d->port);
	e->reason = reason;
	__builtin_memcpy(e->addr, d->addr, 16);
	bpf_ringbuf_submit(e, 0);
	return VERDICT_DENY;
}

/* One lookup in `map` ("exact_rules" or "rules"); an expired entry counts
 * as absent (reported through *expired so the denial says why). The clock
 * is read only for rules that expire: a paravirtualised clock read costs as
 * much as a lookup. */
static __always_inline struct cbpf_rule *
lookup_rule(void *map, struct cbpf_rule_key *key, __u8 proto, __u16 port,
	    __u64 *now, bool *expired)
{
	struct cbpf_rule *r;
	__u64 expires;

	key->proto = proto;
	key->port = port;
	r = bpf_map_lookup_elem(map, key);
	if (!r || !(expires = r->expires_ns))
		return r;
	if (!*now)
		*now = bpf_ktime_get_boot_ns();
	if (expires <= *now) {
		*expired = true;
		return NULL;
	}
	return r;
}

/* The one decision every hook makes: is this destination allowed by the
 * policy found for the socket? */
static __always_inline int cbpf_decide(const struct cbpf_dest *d,
				       const struct cbpf_found *f, __u64 *keep_until)
{
	struct cbpf_rule_key key = {};
	struct cbpf_rule *best, *r;
	bool expired = false, loopback;
	__u64 now = 0;

	if (!f->policy)
		return deny(d, f, CBPF_REASON_NO_POLICY);

	/* A namespace's own loopback is harmless; the host's is not, unless a
	 * rule names the exact address (a local DNS stub, say). */
	loopback = is_loopback(d->addr);
	if (loopback && !d->host_netns)
		return VERDICT_ALLOW;   /* not kept: cheap to decide again */

	key.prefixlen = CBPF_KEY_EXACT;
	key.policy = f->policy->id;
	__builtin_memcpy(key.addr, d->addr, 16);

	/* Most specific address prefix wins; at equal prefix the order of the
	 * lookups decides: port rule, then any-port rule, then any-protocol.
	 * So the first rule for the whole address ends the search, and the
	 * trie is walked only without one. */
	best = lookup_rule(&exact_rules, &key, d->proto, d->port, &now, &expired);
	if (!best && d->port)
		best = lookup_rule(&exact_rules, &key, d->proto, CBPF_PORT_ANY, &now,
				   &expired);
	if (!best && d->proto != CBPF_PROTO_ANY)
		best = lookup_rule(&exact_rules, &key, CBPF_PROTO_ANY, CBPF_PORT_ANY,
				   &now, &expired);
	if (loopback && !best)
		return deny(d, f, CBPF_REASON_LOOPBACK);

	if (!best && (f->policy->flags & CBPF_POLICY_PREFIXES)) {
		best = lookup_rule(&rules, &key, d->proto, d->port, &now, &expired);
		if (d->port) {
			r = lookup_rule(&rules, &key, d->proto, CBPF_PORT_ANY, &now,
					&expired);
			if (r && (!best || r->addr_prefix > best->addr_prefix))
				best = r;
		}
		if (d->proto != CBPF_PROTO_ANY) {
			r = lookup_rule(&rules, &key, CBPF_PROTO_ANY, CBPF_PORT_ANY,
					&now, &expired);
			if (r && (!best || r->addr_prefix > best->addr_prefix))
				best = r;
		}
	}

	if (!best)
		return deny(d, f, expired ? CBPF_REASON_EXPIRED : CBPF_REASON_NO_RULE);
	if (best->action != CBPF_ACTION_ALLOW)
		return deny(d, f, CBPF_REASON_DENY_RULE);
	*keep_until = best->expires_ns ? best->expires_ns : ~0ULL;
	return VERDICT_ALLOW;
}

/* The generation of the policies and rules (struct cbpf_config.gen); 0
 * (never a valid one) when settings cannot be read. */
static __always_inline __u64 current_gen(void)
{
	__u32 zero = 0;
	struct cbpf_config *c = bpf_map_lookup_elem(&settings, &zero);

	return c ? *(volatile __u64 *)&c->gen : 0;
}

/*
 * Why a kept decision or a policy hint never outlives what allowed it.
 *
 * Both are stamped with the generation read at the start of the hook run
 * that decided them, before any policy or rule was looked up. The loader
 * changes the maps first (a rule removed or rewritten, a rule set switched,
 * a policy added or removed) and increments the generation afterwards. So
 * a run that read generation G looked up state at least as new as every
 * change before G's increment; a change it may have missed is followed by
 * an increment past G, after which nothing stamped G is used. Until that
 * increment the change is not complete: the loader has not returned. A
 * rule's expiry needs no loader: the decision keeps the rule's expiry time
 * and checks it against the clock. The generation is incremented through
 * the mmapped settings map with an atomic add (loaders may run at once)
 * and read here with one 64-bit load, so it is never torn. Reads are not
 * fenced: this relies on the loads of a program run not being reordered,
 * which x86 guarantees (the object refuses to build for anything else).
 *
 * A kept decision is found by the cgroup and the destination alone. The
 * one other input to the decision, the network namespace, matters only
 * for loopback: allowed in any namespace but the host's, and in the host's
 * only by a rule for the exact address, which allows it in any namespace.
 */

/* The slot of "decisions" for this destination from this cgroup: a
 * multiplicative hash of them. */
static __always_inline struct cbpf_decision *decision_slot(const struct cbpf_dest *d)
{
	const __u64 k = 0x9e3779b97f4a7c15ULL;
	__u64 a0 = *(const __u64 *)&d->addr[0], a1 = *(const __u64 *)&d->addr[8];
	__u32 slot = ((d->cgroup_id * k ^ a0 ^ a1 ^ ((__u64)d->port << 8 | d->proto)) * k)
		     >> (64 - CBPF_DECISION_BITS);

	return bpf_map_lookup_elem(&decisions, &slot);
}

/* Is the slot's decision an allow for exactly this destination from this
 * cgroup, and current? One being written (odd or changed `seq`) is not
 * used. */
static __always_inline bool kept_allow(struct cbpf_decision *c,
				       const struct cbpf_dest *d, __u64 gen)
{
	volatile struct cbpf_decision *vc = c;
	__u64 expires, seq;
	bool same;

	if (!c || !gen || !d->cgroup_id)
		return false;
	seq = vc->seq;
	if (seq & 1)
		return false;
	same = vc->gen == gen && vc->cgroup_id == d->cgroup_id &&
	       *(volatile __u64 *)&c->addr[0] == *(const __u64 *)&d->addr[0] &&
	       *(volatile __u64 *)&c->addr[8] == *(const __u64 *)&d->addr[8] &&
	       vc->port == d->port && vc->proto == d->proto;
	expires = vc->expires_ns;
	if (!same || vc->seq != seq)
		return false;
	return !expires || expires > bpf_ktime_get_boot_ns();
}

/* Keeps an allow decision in its slot, unless a program this one
 * interrupted or preempted is writing the slot (it is left to that one). */
static __always_inline void keep_allow(struct cbpf_decision *c,
				       const struct cbpf_dest *d, __u64 gen,
				       __u64 until)
{
	volatile struct cbpf_decision *vc = c;
	__u64 seq;

	if (!c || !gen || !until || !d->cgroup_id)
		return;
	seq = vc->seq;
	if ((seq & 1) || __sync_val_compare_and_swap(&c->seq, seq, seq + 1) != seq)
		return;
	vc->gen = gen;
	vc->cgroup_id = d->cgroup_id;
	vc->expires_ns = until == ~0ULL ? 0 : until;
	*(volatile __u64 *)&c->addr[0] = *(const __u64 *)&d->addr[0];
	*(volatile __u64 *)&c->addr[8] = *(const __u64 *)&d->addr[8];
	vc->port = d->port;
	vc->proto = d->proto;
	vc->seq = seq + 2;
}

/* The policy of the socket's cgroup ancestor at `level`: of the packet's
 * socket when `packet` (cgroup_skb), else of the current task (socket hooks
 * run in the context of the task that owns the socket). `packet` is a
 * constant at each call, so only one helper is in each program: kernels
 * before 6.2 refuse bpf_get_current_ancestor_cgroup_id in cgroup_skb
 * programs even on a path that never runs (a NULL test of the ctx pointer
 * is not pruned there). No cgroup above the socket's own level. */
static __always_inline bool policy_at(struct __sk_buff *skb, bool packet, int level,
				      struct cbpf_found *f)
{
	__u64 id = packet ? bpf_skb_ancestor_cgroup_id(skb, level)
			  : bpf_get_current_ancestor_cgroup_id(level);

	if (!id || !(f->policy = bpf_map_lookup_elem(&policies, &id)))
		return false;
	f->policy_cgroup_id = id;
	return true;
}

/* Nearest cgroup ancestor that has a policy. The level it was found at is
 * kept per socket cgroup (policy_hints), valid in the generation it was
 * found in; the walk of every level runs only when there is no hint. */
static __always_inline void find_policy(struct __sk_buff *skb, bool packet, __u64 cgroup_id,
					__u64 gen, struct cbpf_found *f)
{
	__u64 *hint = bpf_map_lookup_elem(&policy_hints, &cgroup_id), h;

	if (hint && gen) {
		h = *(volatile __u64 *)hint;
		if (h >> 8 == CBPF_HINT(gen, cgroup_id, 0) >> 8 &&
		    policy_at(skb, packet, h & 0xff, f))
			return;
	}
	for (int level = CBPF_CGROUP_LEVELS - 1; level >= 0; level--) {
		if (!policy_at(skb, packet, level, f))
			continue;
		if (gen) {
			h = CBPF_HINT(gen, cgroup_id, level);
			bpf_map_update_elem(&policy_hints, &cgroup_id, &h, BPF_ANY);
		}
		return;
	}
	f->policy = NULL;
}

static __always_inline bool in_host_netns(__u64 cookie)
{
	__u32 zero = 0;
	struct cbpf_config *c = bpf_map_lookup_elem(&settings, &zero);

	/* Without a configured cookie every namespace counts as the host's. */
	return !c || !c->host_netns_cookie || c->host_netns_cookie == cookie;
}

/* The address of a socket address hook (the destination of connect and
 * sendmsg, the source of recvmsg, the peer of getpeername), IPv4 read
 * v4-mapped. */
static __always_inline void user_addr_get(const struct bpf_sock_addr *ctx, bool v6,
					  __u8 addr[16])
{
	if (v6) {
		__u32 a[4] = { ctx->user_ip6[0], ctx->user_ip6[1],
			       ctx->user_ip6[2], ctx->user_ip6[3] };
		__builtin_memcpy(addr, a, 16);
	} else {
		set_v4_mapped(addr, ctx->user_ip4);
	}
}

/* Sets that address (for IPv4, the last four bytes of a v4-mapped one). */
static __always_inline void user_addr_set(struct bpf_sock_addr *ctx, bool v6,
					  const __u8 addr[16])
{
	if (v6) {
		__u32 a[4];

		__builtin_memcpy(a, addr, 16);
		ctx->user_ip6[0] = a[0];
		ctx->user_ip6[1] = a[1];
		ctx->user_ip6[2] = a[2];
		ctx->user_ip6[3] = a[3];
	} else {
		ctx->user_ip4 = *(const __u32 *)&addr[12];
	}
}

/* DNS of a policy with a forwarder (CBPF_POLICY_DNS): the destination
 * becomes the forwarder, and the socket's cookie remembers the address
 * asked for. Returns the verdict, or -1 when the policy has no forwarder
 * (the destination is judged as any other). */
static __always_inline int dns_redirect(struct bpf_sock_addr *ctx, struct cbpf_dest *d,
					 bool v6, __u64 gen)
{
	struct cbpf_dns_redirect r = { .orig_port = d->port };
	const struct cbpf_dns_target *t;
	struct cbpf_found f = {};
	__u64 cookie;
	bool host, mapped = !v6 || is_v4_mapped(d->addr);
	__u32 to4;

	find_policy(NULL, false, d->cgroup_id, gen, &f);
	if (!f.policy || !(f.policy->flags & CBPF_POLICY_DNS))
		return -1;
	t = &f.policy->dns;
	host = in_host_netns(bpf_get_netns_cookie(ctx));
	__builtin_memcpy(r.orig, d->addr, 16);
	r.to_port = t->port;
	if (mapped) {
		to4 = host ? t->host4 : t->net4;
		if (!to4)
			return deny(d, &f, CBPF_REASON_NO_RULE);
		set_v4_mapped(r.to, to4);
	} else {
		__builtin_memcpy(r.to, host ? t->host6 : t->net6, 16);
		if (!*(__u64 *)&r.to[0] && !*(__u64 *)&r.to[8])
			return deny(d, &f, CBPF_REASON_NO_RULE);
	}
	cookie = bpf_get_socket_cookie(ctx);
	if (bpf_map_update_elem(&dns_redirects, &cookie, &r, BPF_ANY))
		return deny(d, &f, CBPF_REASON_NO_RULE);
	user_addr_set(ctx, v6, r.to);
	ctx->user_port = t->port;
	return VERDICT_ALLOW;
}

static __always_inline int sock_addr_hook(struct bpf_sock_addr *ctx, __u8 hook,
					  bool v6)
{
	struct cbpf_dest d = { .hook = hook, .task_known = true };
	struct cbpf_decision *c;
	struct cbpf_found f = {};
	__u64 until = 0, gen = current_gen();
	int verdict;

	user_addr_get(ctx, v6, d.addr);
	d.port = (__u16)ctx->user_port;
	d.proto = ctx->protocol;
	d.cgroup_id = bpf_get_current_cgroup_id();
	if (d.port == CBPF_DNS_PORT_BE &&
	    (d.proto == CBPF_PROTO_TCP || d.proto == CBPF_PROTO_UDP) &&
	    (verdict = dns_redirect(ctx, &d, v6, gen)) >= 0)
		return verdict;
	c = decision_slot(&d);
	if (kept_allow(c, &d, gen))
		return VERDICT_ALLOW;
	/* Only loopback depends on the namespace. */
	d.host_netns = is_loopback(d.addr) && in_host_netns(bpf_get_netns_cookie(ctx));
	find_policy(NULL, false, d.cgroup_id, gen, &f);
	verdict = cbpf_decide(&d, &f, &until);
	if (verdict == VERDICT_ALLOW)
		keep_allow(c, &d, gen, until);
	return verdict;
}

/* The way back of a DNS redirect: an answer read from the forwarder (UDP
 * recvmsg), or the peer of a redirected socket (getpeername), is given the
 * address the socket asked for. Every other socket has no entry: one hash
 * lookup. These hooks cannot refuse: they always return 1. */
static __always_inline int dns_restore(struct bpf_sock_addr *ctx, bool v6)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct cbpf_dns_redirect *r = bpf_map_lookup_elem(&dns_redirects, &cookie);
	__u8 from[16];

	if (!r || (__u16)ctx->user_port != r->to_port)
		return VERDICT_ALLOW;
	user_addr_get(ctx, v6, from);
	if (*(__u64 *)&from[0] != *(__u64 *)&r->to[0] ||
	    *(__u64 *)&from[8] != *(__u64 *)&r->to[8] ||
	    (!v6 && !is_v4_mapped(r->orig)))
		return VERDICT_ALLOW;
	user_addr_set(ctx, v6, r->orig);
	ctx->user_port = r->orig_port;
	return VERDICT_ALLOW;
}

SEC("cgroup/recvmsg4")
int cbpf_recvmsg4(struct bpf_sock_addr *ctx)
{
	return dns_restore(ctx, false);
}

SEC("cgroup/recvmsg6")
int cbpf_recvmsg6(struct bpf_sock_addr *ctx)
{
	return dns_restore(ctx, true);
}

SEC("cgroup/getpeername4")
int cbpf_getpeername4(struct bpf_sock_addr *ctx)
{
	return dns_restore(ctx, false);
}

SEC("cgroup/getpeername6")
int cbpf_getpeername6(struct bpf_sock_addr *ctx)
{
	return dns_restore(ctx, true);
}

SEC("cgroup/connect4")
int cbpf_connect4(struct bpf_sock_addr *ctx)
{
	return sock_addr_hook(ctx, CBPF_HOOK_CONNECT4, false);
}

SEC("cgroup/connect6")
int cbpf_connect6(struct bpf_sock_addr *ctx)
{
	return sock_addr_hook(ctx, CBPF_HOOK_CONNECT6, true);
}

SEC("cgroup/sendmsg4")
int cbpf_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock_addr_hook(ctx, CBPF_HOOK_SENDMSG4, false);
}

SEC("cgroup/sendmsg6")
int cbpf_sendmsg6(struct bpf_sock_addr *ctx)
{
	return sock_addr_hook(ctx, CBPF_HOOK_SENDMSG6, true);
}

/* Reads the destination of an outgoing IP packet. Returns false when the
 * headers cannot be read, which denies. Non-first IPv4 fragments and IPv6
 * packets with extension headers carry no ports here: only rules for every
 * port of their protocol (or every protocol) can allow them. */
static __always_inline bool parse_packet(struct __sk_buff *skb,
					 struct cbpf_dest *d)
{
	__u16 ports[2];     /* of TCP or UDP: source, destination */
	__u32 l4;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return false;
		set_v4_mapped(d->addr, ip.daddr);
		d->proto = ip.protocol;
		if (ip.frag_off & bpf_htons(0x1fff))
			return true;
		l4 = ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return false;
		__builtin_memcpy(d->addr, &ip6.daddr, 16);
		d->proto = ip6.nexthdr;
		l4 = sizeof(ip6);
	} else {
		return false;
	}
	if (d->proto != CBPF_PROTO_TCP && d->proto != CBPF_PROTO_UDP)
		return true;
	if (bpf_skb_load_bytes(skb, l4, ports, sizeof(ports)))
		return false;
	d->port = ports[1];
	return true;
}

/* Every packet that leaves: raw and ICMP sockets, TCP Fast Open, and
 * established sockets whose destination is no longer allowed. */
SEC("cgroup_skb/egress")
int cbpf_egress(struct __sk_buff *skb)
{
	struct cbpf_dest d = { .hook = CBPF_HOOK_EGRESS };
	struct cbpf_decision *c = NULL;
	struct cbpf_found f = {};
	__u64 until = 0, gen = current_gen();
	int verdict;

	bool parsed = parse_packet(skb, &d);

	d.cgroup_id = bpf_skb_cgroup_id(skb);
	if (parsed) {
		c = decision_slot(&d);
		if (kept_allow(c, &d, gen))
			return VERDICT_ALLOW;
	}
	find_policy(skb, true, d.cgroup_id, gen, &f);
	if (!parsed) {
		if (!f.policy)
			return deny(&d, &f, CBPF_REASON_NO_POLICY);
		return deny(&d, &f, CBPF_REASON_BAD_PACKET);
	}
	/* Loopback is the host's when the packet's namespace is the host's.
	 * Where the kernel cannot name it here (before the helper came to
	 * cgroup_skb), TCP and UDP are left to the socket hooks, which can
	 * and which judged them already; what only this program sees (ping,
	 * SCTP, ...) is taken for the host's: a container's ping to its own
	 * loopback is refused there rather than the host's let through. */
	if (is_loopback(d.addr))
		d.host_netns = has_skb_netns_cookie ?
			       in_host_netns(bpf_get_netns_cookie(skb)) :
			       d.proto != CBPF_PROTO_TCP && d.proto != CBPF_PROTO_UDP;
	verdict = cbpf_decide(&d, &f, &until);
	if (verdict == VERDICT_ALLOW)
		keep_allow(c, &d, gen, until);
	return verdict;
}

/* Socket types: raw IP sockets only where the policy allows them (no
 * policy found: none). */
SEC("cgroup/sock_create")
int cbpf_sock_create(struct bpf_sock *sk)
{
	struct cbpf_dest d = { .hook = CBPF_HOOK_SOCK_CREATE, .task_known = true };
	struct cbpf_found f = {};

	/* Only raw IP sockets are refused here. Every other socket is judged
	 * where it sends (connect, sendmsg, egress, each denying without a
	 * policy), so creating one costs no policy lookup. */
	if (sk->type != SOCK_RAW)
		return VERDICT_ALLOW;
	d.cgroup_id = bpf_get_current_cgroup_id();
	d.proto = sk->protocol;
	find_policy(NULL, false, d.cgroup_id, current_gen(), &f);
	if (!f.policy)
		return deny(&d, &f, CBPF_REASON_NO_POLICY);
	if ((sk->family == AF_INET || sk->family == AF_INET6) &&
	    !(f.policy->flags & CBPF_POLICY_ALLOW_RAW))
		return deny(&d, &f, CBPF_REASON_SOCKET_TYPE);
	return VERDICT_ALLOW;
}

/* The forwarder's refusals, into the same ring buffer and counters as the
 * programs' denials (struct cbpf_dns_event). Run by the forwarder with
 * BPF_PROG_RUN, the event as the context; attached nowhere. */
SEC("syscall")
int cbpf_report(struct cbpf_dns_event *ctx)
{
	struct cbpf_dns_event *e;
	__u64 now = bpf_ktime_get_boot_ns();

	count_deny(ctx->e.policy_cgroup_id, CBPF_REASON_DNS_NAME);
	if (!event_allowed(now))
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	__builtin_memcpy(e, ctx, sizeof(*e));
	e->e.time_ns = now;
	e->e.hook = CBPF_HOOK_FORWARDER;
	e->e.reason = CBPF_REASON_DNS_NAME;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
