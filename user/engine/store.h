/* The pinned state of claude-bpf in bpffs: one BPF object (programs and
 * maps) shared by every policy, and one set of links per policy.
 *
 *   /sys/fs/bpf/claude-bpf/<map>               policies, rules, hostnames, ...
 *   /sys/fs/bpf/claude-bpf/progs/<hook>        connect4, connect6, ...
 *   /sys/fs/bpf/claude-bpf/links/<name>/<hook> one link per hook and policy
 */
#ifndef CBPF_STORE_H
#define CBPF_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include "claude_bpf.h"

#define CBPF_PIN_ROOT "/sys/fs/bpf/claude-bpf"

struct cbpf_store {
	int policies_fd, rules_fd, exact_fd, hostnames_fd, counters_fd, settings_fd;
	int events_fd, event_limit_fd, decisions_fd, policy_hints_fd, dns_redirects_fd;
	int prog_fd[CBPF_HOOK__COUNT];
	int report_fd;                  /* program "report" (struct cbpf_dns_event) */
	struct cbpf_config *settings;   /* the settings map, mmapped */
};

/* Name of a hook as used in pins and output ("connect4", ...). */
const char *cbpf_hook_name(int hook);

/* Routes libbpf's messages to stderr, only with -v (log.h). */
void cbpf_store_setup_log(void);

/* Opens the pinned object. With `create`, loads and pins it first when it is
 * not there (mounting bpffs if needed). Returns 0, -ENOENT (nothing pinned
 * and !create), or -errno; *what names the step that failed. */
int cbpf_store_open(struct cbpf_store *s, bool create, const char **what);
void cbpf_store_close(struct cbpf_store *s);

/* Starts a new generation (struct cbpf_config.gen): to be called after
 * every change to the policies or rules maps, before the change is
 * reported done, so no cached policy or verdict outlives it. */
void cbpf_store_changed(struct cbpf_store *s);

/* Removes the object's pins and folders when no policy is left. */
int cbpf_store_remove_if_unused(struct cbpf_store *s);

/* Policies. */
int cbpf_store_find_policy(struct cbpf_store *s, const char *name,
			   uint64_t *cgroup_id, struct cbpf_policy *p);
/* Calls fn for each policy; stops at a non-zero return and returns it. */
int cbpf_store_each_policy(struct cbpf_store *s,
			   int (*fn)(uint64_t cgroup_id, const struct cbpf_policy *p,
				     void *arg), void *arg);

/* Links: attaches every hook of the object to `cgroup_fd` and pins the
 * links under links/<name>/ (hooks already linked are kept). On failure
 * *what names the hook; the links made so far stay (cbpf_store_detach). */
int cbpf_store_attach(struct cbpf_store *s, const char *name, int cgroup_fd,
		      const char **what);
/* Which hooks have a live link pinned for `name` attached to `cgroup_id`:
 * a bit per hook. */
unsigned cbpf_store_attached(const char *name, uint64_t cgroup_id);
/* Detaches and unpins every link of `name`. */
int cbpf_store_detach(const char *name);

#endif
