/* A policy's DNS forwarder. The programs send every DNS query from inside
 * the policy here, whatever address it was sent to (struct
 * cbpf_dns_target). It answers names the allowlist allows and refuses the
 * rest itself (REFUSED, never sent upstream); before an answer goes back,
 * its A and AAAA addresses are written into the policy, with the ports and
 * protocols of the lines that allow the name, so a connect that follows
 * the answer is never refused for coming first. It runs in a thread of the
 * policy's background process (refresh.c), beside the refresher. */
#ifndef CBPF_DNSFWD_H
#define CBPF_DNSFWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "claude_bpf.h"
#include "core/config.h"
#include "core/rules.h"

/* Learned addresses a policy holds at most by default (--dns-max). */
#define CBPF_DNS_LEARNED_DEFAULT 4096

/* The address of rootful podman's default network on the host ("podman",
 * 10.88.0.0/16): where containers reach the forwarder by default. */
#define CBPF_PODMAN_BRIDGE4      0x0a580001u   /* host byte order */
#define CBPF_PODMAN_BRIDGE4_TEXT "10.88.0.1"

struct cbpf_dnsfwd;

/* What the forwarder needs to know of its policy. Copied: the caller may
 * free it once a call returns. */
struct cbpf_dnsfwd_policy {
	const struct cbpf_conf *conf;   /* its host lines: which names, which ports */
	const char *const *hosts;       /* the applied rule set's hostnames */
	size_t nhosts;                  /* (struct cbpf_ruleset.hosts) */
};

/* Where rootless podman's slirp4netns takes a container to the host's
 * loopback (with allow_host_loopback, which `run` asks for a policy with a
 * forwarder): where rootless containers reach it by default. */
#define CBPF_SLIRP_HOST4      0x0a000202u   /* host byte order */
#define CBPF_SLIRP_HOST4_TEXT "10.0.2.2"   /* and fd00::2 over IPv6 */

/* Binds the forwarder's UDP and TCP sockets, all at one port the kernel
 * picks: on 127.0.0.1 and ::1. `net4` (network byte order; 0: none) is
 * where containers send DNS: with `bind_net4`, an address of the host that
 * the forwarder listens on too (podman's bridge, bound even before the
 * bridge exists); without, an alias that the container's network takes to
 * the host's 127.0.0.1 (CBPF_SLIRP_HOST4), whose every other port the
 * rule set then denies. Fills *t with where the programs are to send DNS.
 * Returns 0 or -errno. */
int cbpf_dnsfwd_open(struct cbpf_dnsfwd **out, uint32_t net4, bool bind_net4,
		     struct cbpf_dns_target *t);

/* Names the forwarder's policy and writes its state file (counts all 0),
 * so that `run` finds the forwarder's address as soon as load returns,
 * before the background process has started. */
void cbpf_dnsfwd_publish(struct cbpf_dnsfwd *f, const char *name);

/* Where it listens, for messages: "127.0.0.1:PORT [::1]:PORT ...". */
const char *cbpf_dnsfwd_listen_text(const struct cbpf_dnsfwd *f);

/* Makes `rs` send DNS to the forwarder: sets CBPF_POLICY_DNS and rs->dns,
 * and adds the exact allows its addresses need on their way out (TCP and
 * UDP to the forwarder's port), and the deny of an alias's other ports.
 * Returns 0 or -ENOMEM. */
int cbpf_dnsfwd_ruleset(const struct cbpf_dnsfwd *f, struct cbpf_ruleset *rs);

/* What a new load of policy `name` keeps of the one it replaces: the
 * addresses its forwarder learned that have not expired, for the names the
 * new file `conf` still allows, with the ports of its lines, added to `rs`
 * (so a service restart does not cut the sandbox's connections). Nothing
 * when no policy of that name forwards DNS. Returns 0 or -errno. */
struct cbpf_store;
int cbpf_dnsfwd_keep(struct cbpf_store *s, const char *name, const struct cbpf_conf *conf,
		     uint64_t now_ns, struct cbpf_ruleset *rs);

/* Serves policy `name` (enforcement cgroup `cgroup_id`) in a thread of its
 * own, asking `servers` upstream, until cbpf_dnsfwd_close. Learned
 * addresses expire at answer + max(TTL, CBPF_REFRESH_FLOOR_S) + grace_s;
 * at most `max_learned` are held at once, and an answer that would need
 * more is refused (SERVFAIL) rather than evicting live ones. Returns 0 or
 * -errno. */
int cbpf_dnsfwd_start(struct cbpf_dnsfwd *f, const char *name, uint64_t cgroup_id,
		      const struct cbpf_dnsfwd_policy *p,
		      const uint8_t (*servers)[16], size_t nservers, int grace_s,
		      size_t max_learned);

/* A new rule set for the policy (a reload), with the forwarder paused:
 * adds to `rs` the learned addresses whose names `p` still allows, makes
 * it the forwarder's (cbpf_dnsfwd_ruleset), calls apply(ctx, rs), and when
 * that returns 0 answers by `p` from then on. Returns apply's result or
 * -errno. */
int cbpf_dnsfwd_reload(struct cbpf_dnsfwd *f, const struct cbpf_dnsfwd_policy *p,
		       struct cbpf_ruleset *rs,
		       int (*apply)(void *ctx, const struct cbpf_ruleset *rs), void *ctx);

/* Stops the thread, closes the sockets, removes the state file. */
void cbpf_dnsfwd_close(struct cbpf_dnsfwd *f);

/* What `status` shows of a policy's forwarder, from its state file in
 * CBPF_RUNSTATE_DIR (rewritten every second while it runs). */
struct cbpf_dnsfwd_state {
	char listen[128];               /* "127.0.0.1:PORT [::1]:PORT ..." */
	char bridge[16];                /* its address on podman's bridge, or "" */
	uint64_t pid;                   /* the process serving; 0: not yet */
	uint64_t queries, answered, refused, failed, bound_refused;
	uint64_t learned, max_learned;
	uint64_t release_p50_ns, release_p99_ns;   /* answer to release */
};
int cbpf_dnsfwd_state_read(const char *name, struct cbpf_dnsfwd_state *st);

#endif
