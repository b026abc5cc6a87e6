// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* decide: the decision's test vectors (tests/decision/vectors.c) through the
 * real BPF object. Each vector's rule set is applied as a policy with the
 * engine's own calls (as load does), this process joins a cgroup below the
 * policy's, and the egress program is run on a packet to the vector's
 * destination with BPF_PROG_RUN: the kernel gives the packet a socket of the
 * caller's cgroup, so the program finds the policy as it would for a
 * container's packet. One line per vector, ok or FAIL, and one for a cgroup
 * without a policy. Root only; sends nothing.
 *   decide        exit 0: every verdict as the table says; 1: a mismatch;
 *                 2: could not run; 77: this kernel cannot run the test
 *                 (or not root), said why on stderr: a skip, never a pass */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include "../decision/vectors.h"
#include "base/log.h"
#include "base/os.h"
#include "core/cgroup.h"
#include "core/source.h"
#include "engine/daemon.h"
#include "engine/load.h"
#include "engine/policy.h"
#include "engine/store.h"

enum { EXIT_MISMATCH = 1, EXIT_ERROR = 2, EXIT_SKIP = 77 };

#define POLICY "cbtdecide"
#define L4_LEN 20           /* a TCP header; UDP and ICMP use the start */
#define RUNS   2            /* the second may come from the kept decision */

/* The kernel's "not supported" (524), which bpf() can return as it is. */
#define ENOTSUPP_KERNEL 524

static const char *prog = "decide";
static bool stranded;       /* could not go back to the original cgroup */
static int test_run_err;    /* what BPF_PROG_RUN last failed with */

/* This process's cgroup (v2), absolute, from /proc/self/cgroup's "0::"
 * line. 0 or -errno. */
static int own_cgroup(const char *mount, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[PATH_MAX];
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (err == -ENOENT && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "0::", 3))
			continue;
		err = (size_t)snprintf(out, len, "%s%s", mount,
				       strcmp(line + 3, "/") ? line + 3 : "") < len ? 0 :
		      -ENAMETOOLONG;
	}
	fclose(f);
	return err;
}

/* An Ethernet frame to `addr`: test_run takes the Ethernet header off
 * (eth_type_trans sets skb->protocol from it), and a cgroup_skb program
 * sees the IP header first, as on egress. Returns its length. */
static size_t build_packet(const uint8_t addr[16], bool v4, uint8_t proto, uint16_t port,
			   uint8_t *buf, size_t cap)
{
	struct ethhdr eth = { .h_proto = htons(v4 ? ETH_P_IP : ETH_P_IPV6) };
	uint8_t l4[L4_LEN] = {};
	size_t off = sizeof(eth);

	memset(buf, 0, cap);
	memcpy(buf, &eth, sizeof(eth));
	if (v4) {
		struct iphdr ip = {
			.version = 4, .ihl = 5, .ttl = 64, .protocol = proto,
			.tot_len = htons(sizeof(ip) + L4_LEN),
			.saddr = htonl(0xc00002fe),   /* 192.0.2.254 */
		};

		memcpy(&ip.daddr, addr + 12, 4);
		memcpy(buf + off, &ip, sizeof(ip));
		off += sizeof(ip);
	} else {
		struct ip6_hdr ip6 = {
			.ip6_flow = htonl(6u << 28), .ip6_plen = htons(L4_LEN),
			.ip6_nxt = proto, .ip6_hlim = 64,
			.ip6_src.s6_addr = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0xfe },
		};

		memcpy(&ip6.ip6_dst, addr, 16);
		memcpy(buf + off, &ip6, sizeof(ip6));
		off += sizeof(ip6);
	}
	if (proto == CBPF_PROTO_TCP || proto == CBPF_PROTO_UDP) {
		uint16_t ports[2] = { htons(40000), htons(port) };

		memcpy(l4, ports, sizeof(ports));
		if (proto == CBPF_PROTO_TCP) {
			l4[12] = 5 << 4;    /* data offset: 20 bytes */
			l4[13] = 0x02;      /* SYN */
		} else {
			l4[5] = L4_LEN;     /* UDP length */
		}
	} else if (proto == CBPF_PROTO_ICMP || proto == CBPF_PROTO_ICMPV6) {
		l4[0] = proto == CBPF_PROTO_ICMP ? 8 : 128;   /* echo request */
	}
	memcpy(buf + off, l4, sizeof(l4));
	return off + sizeof(l4);
}

/* Runs program `fd` RUNS times on `pkt` from cgroup `path`, and comes back
 * to `home`. 0 or -errno; *where names the step. */
static int run_from(int fd, const char *path, const char *home, const uint8_t *pkt,
		    size_t len, __u32 retval[RUNS], const char **where)
{
	int err, back;

	*where = "join the test cgroup";
	if ((err = cbpf_cgroup_join(path, 0)))
		return err;
	*where = "run the egress program (BPF_PROG_RUN)";
	for (int i = 0; i < RUNS && !err; i++) {
		struct bpf_test_run_opts o = {
			.sz = sizeof(o), .data_in = pkt, .data_size_in = (__u32)len, .repeat = 1,
		};

		if (bpf_prog_test_run_opts(fd, &o))
			err = test_run_err = -errno;
		retval[i] = o.retval;
	}
	if ((back = cbpf_cgroup_join(home, 0))) {
		stranded = true;
		*where = "go back to the original cgroup";
		return back;
	}
	return err;
}

static bool refused(int err)
{
	return err == -EINVAL || err == -EOPNOTSUPP || err == -ENOTSUPP_KERNEL;
}

static const char *verdict(bool allow)
{
	return allow ? "allow" : "deny";
}

/* Whether every run said `want`. The line: "ok    NAME: DEST -> VERDICT", or
 * "FAIL  NAME: DEST -> VERDICT (the table); the program said ..." with
 * what cbpf_rules_decide says (us, -1: not asked). */
static bool report(const char *name, const char *dest, bool want, const __u32 retval[RUNS],
		   int us)
{
	bool ok = true;

	for (int i = 0; i < RUNS; i++)
		ok &= retval[i] == (want ? 1u : 0u);
	if (ok)
		printf("ok    %s: %s -> %s\n", name, dest, verdict(want));
	else
		printf("FAIL  %s: %s -> %s (the table); the program returned %u then %u "
		       "(1 allow, 0 deny)%s%s\n", name, dest, verdict(want), retval[0], retval[1],
		       us < 0 ? "" : "; cbpf_rules_decide says ", us < 0 ? "" : verdict(us));
	return ok;
}

/* A cgroup below no policy: denied (fail closed). */
static int no_policy(int fd, const char *mount, const char *home, size_t *failed)
{
	static const struct cbpf_vector v = {
		"no policy on the cgroup's path denies", "", NULL, false, "192.0.2.10",
		CBPF_PROTO_TCP, 443, false,
	};
	char path[PATH_MAX], dest[96];
	uint8_t addr[16], pkt[128];
	const char *where;
	__u32 retval[RUNS] = {};
	bool v4;
	size_t len;
	int err;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s_none_%d", mount, POLICY,
			     (int)getpid()) >= sizeof(path))
		return -ENAMETOOLONG;
	if ((err = cbpf_cgroup_create(path))) {
		fprintf(stderr, "%s: cannot create cgroup '%s': %s\n", prog, path, strerror(-err));
		return err;
	}
	cbpf_vector_addr(&v, addr, &v4);
	len = build_packet(addr, v4, v.proto, v.port, pkt, sizeof(pkt));
	err = run_from(fd, path, home, pkt, len, retval, &where);
	rmdir(path);
	if (err) {
		if (!refused(test_run_err))   /* main says why */
			fprintf(stderr, "%s: cannot %s: %s\n", prog, where, strerror(-err));
		return err;
	}
	cbpf_vector_dest_text(&v, dest, sizeof(dest));
	*failed += !report(v.name, dest, v.allow, retval, -1);
	return 0;
}

/* One vector: its rule set applied (a new rule set and generation each
 * time, on the same cgroup), then the program run from below it. */
static int vector(struct cbpf_store *s, const struct cbpf_vector *v, const char *mount,
		  const char *path, const char *home, size_t *failed)
{
	char msg[256], dest[96], below[PATH_MAX];
	struct cbpf_ruleset rs;
	uint8_t addr[16], pkt[128], prefix;
	struct cbpf_step step;
	const char *what;
	__u32 retval[RUNS] = {};
	__u64 gen;
	bool v4, us;
	size_t len;
	int err;

	if ((err = cbpf_vector_ruleset(v, cbpf_boottime_ns(), &rs, msg, sizeof(msg)))) {
		fprintf(stderr, "%s: vector '%s': %s\n", prog, v->name, msg);
		return err;
	}
	if ((err = cbpf_vector_addr(v, addr, &v4))) {
		fprintf(stderr, "%s: vector '%s': '%s' is not an address\n", prog, v->name, v->dest);
		goto out;
	}
	gen = __atomic_load_n(&s->settings->gen, __ATOMIC_SEQ_CST);
	if ((err = cbpf_policy_apply(s, POLICY, mount, path, &rs, &step))) {
		fprintf(stderr, "%s: vector '%s': cannot %s '%s': %s\n", prog, v->name, step.what,
			path, cbpf_policy_strerror(err, &step));
		goto out;
	}
	/* A decision kept under the last rule set must not serve this one. */
	if (__atomic_load_n(&s->settings->gen, __ATOMIC_SEQ_CST) <= gen) {
		printf("FAIL  %s (the table); applying the rule set did not start a new "
		       "generation\n", v->name);
		++*failed;
		goto out;
	}
	/* Below the enforcement cgroup, as exec and podman place processes. */
	if ((size_t)snprintf(below, sizeof(below), "%s/run", path) >= sizeof(below))
		err = -ENAMETOOLONG;
	else
		err = cbpf_cgroup_create(below);
	if (err) {
		fprintf(stderr, "%s: cannot create cgroup '%s': %s\n", prog, below, strerror(-err));
		goto out;
	}
	len = build_packet(addr, v4, v->proto, v->port, pkt, sizeof(pkt));
	if ((err = run_from(s->prog_fd[CBPF_HOOK_EGRESS], below, home, pkt, len, retval,
			    &what))) {
		fprintf(stderr, "%s: vector '%s': cannot %s: %s\n", prog, v->name, what,
			strerror(-err));
		goto out;
	}
	us = cbpf_rules_decide(&rs, addr, v->proto, v->port, cbpf_boottime_ns(), &prefix);
	cbpf_vector_dest_text(v, dest, sizeof(dest));
	*failed += !report(v->name, dest, v->allow, retval, us);
out:
	cbpf_ruleset_free(&rs);
	return err;
}

int main(int argc, char **argv)
{
	char mount[PATH_MAX], home[PATH_MAX], path[PATH_MAX];
	struct cbpf_store s;
	struct cbpf_policy p;
	struct cbpf_step step = { CBPF_STEP_OTHER, "open the pinned object" };
	size_t failed = 0, done = 0;
	uint64_t cg;
	int err, nprocs, rc = EXIT_ERROR;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: %s (no arguments)\n", prog);
		return EXIT_ERROR;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "%s: needs root (bpf(), cgroups)\n", prog);
		return EXIT_SKIP;
	}
	cbpf_store_setup_log();
	if (cbpf_cgroup2_mount(mount, sizeof(mount)) || own_cgroup(mount, home, sizeof(home))) {
		fprintf(stderr, "%s: cannot find the cgroup2 mount or this process's cgroup\n", prog);
		return EXIT_ERROR;
	}
	if ((err = cbpf_enforcement_path(mount, NULL, CBPF_CGM_CGROUPFS, false, 0, POLICY,
					 path, sizeof(path)))) {
		fprintf(stderr, "%s: no enforcement path below '%s': %s\n", prog, mount,
			strerror(-err));
		return EXIT_ERROR;
	}
	/* Policies change only under the lock load and unload take. */
	if ((err = cbpf_lock_global(0))) {
		fprintf(stderr, "%s: cannot take the global lock: %s\n", prog, strerror(-err));
		return EXIT_ERROR;
	}
	/* What a killed run left goes first (the store closes with the last
	 * policy: it is opened again). */
	if ((err = cbpf_store_open(&s, true, &step.what)) ||
	    (cbpf_store_find_policy(&s, POLICY, &cg, &p) == 0 &&
	     (err = cbpf_unload(&s, POLICY, mount, true, &nprocs, &step))) ||
	    (s.policies_fd < 0 && (err = cbpf_store_open(&s, true, &step.what)))) {
		fprintf(stderr, "%s: cannot %s: %s\n", prog, step.what, strerror(-err));
		goto close;
	}

	/* The first run also asks whether this kernel test-runs cgroup_skb. */
	err = no_policy(s.prog_fd[CBPF_HOOK_EGRESS], mount, home, &failed);
	if (err && refused(test_run_err)) {
		fprintf(stderr, "%s: the kernel refuses BPF_PROG_RUN of the cgroup_skb egress "
			"program: %s\n", prog, strerror(-err));
		rc = EXIT_SKIP;
	}
	done = !err;
	for (size_t i = 0; !err && i < cbpf_nvectors; i++)
		if (!(err = vector(&s, &cbpf_vectors[i], mount, path, home, &failed)))
			done++;
	if (!err)
		rc = failed ? EXIT_MISMATCH : 0;

	/* Never with this process inside: the removal kills what is there. */
	if (stranded) {
		fprintf(stderr, "%s: policy '%s' stays loaded: this process could not leave its "
			"cgroup\n", prog, POLICY);
		return EXIT_ERROR;
	}
	if (cbpf_store_find_policy(&s, POLICY, &cg, &p) == 0 &&
	    (err = cbpf_unload(&s, POLICY, mount, true, &nprocs, &step))) {
		fprintf(stderr, "%s: cannot %s of policy '%s': %s\n", prog, step.what, POLICY,
			strerror(-err));
		rc = EXIT_ERROR;
	}
	if (rc != EXIT_SKIP)
		printf("%zu of %zu vectors run: %zu as expected, %zu failed\n", done,
		       cbpf_nvectors + 1, done - failed, failed);
close:
	/* With no policy left, nobody's, the pins go too (policy_remove did
	 * that already when ours was the last). */
	if (s.policies_fd >= 0)
		cbpf_store_remove_if_unused(&s);
	if (s.policies_fd >= 0)
		cbpf_store_close(&s);
	return rc;
}
