// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* hooks: programs on claude-bpf's six hooks that allow everything and do
 * nothing else. bench/run runs a client under them to tell what the kernel
 * costs for running any program on these hooks from what claude-bpf's own
 * programs add. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define ALLOW 1

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("cgroup/connect4")
int allow_connect4(struct bpf_sock_addr *ctx)
{
	(void)ctx;
	return ALLOW;
}

SEC("cgroup/connect6")
int allow_connect6(struct bpf_sock_addr *ctx)
{
	(void)ctx;
	return ALLOW;
}

SEC("cgroup/sendmsg4")
int allow_sendmsg4(struct bpf_sock_addr *ctx)
{
	(void)ctx;
	return ALLOW;
}

SEC("cgroup/sendmsg6")
int allow_sendmsg6(struct bpf_sock_addr *ctx)
{
	(void)ctx;
	return ALLOW;
}

SEC("cgroup_skb/egress")
int allow_egress(struct __sk_buff *skb)
{
	(void)skb;
	return ALLOW;
}

SEC("cgroup/sock_create")
int allow_sock_create(struct bpf_sock *sk)
{
	(void)sk;
	return ALLOW;
}
