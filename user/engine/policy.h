/* Policies in the maps: applying a compiled rule set to an enforcement
 * cgroup (atomically replacing the one before), removing it, reading it. */
#ifndef CBPF_POLICY_H
#define CBPF_POLICY_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include "core/rules.h"
#include "engine/store.h"

/* Where a policy call failed: `what` for the message ("cannot %s"), `id`
 * for a caller that acts on which step it was. */
enum cbpf_step_id {
	CBPF_STEP_OTHER,           /* only `what` says */
	CBPF_STEP_FIND,            /* finding the policy by name */
	CBPF_STEP_BUSY,            /* processes still in its cgroup */
	CBPF_STEP_WRITE_HOSTS,     /* writing a map: a full one is this one */
	CBPF_STEP_WRITE_EXACT,
	CBPF_STEP_WRITE_PREFIXES,
};
struct cbpf_step {
	enum cbpf_step_id id;
	const char *what;
};

/* Creates the enforcement cgroup `path` (under cgroup2 `mount`) if needed,
 * attaches the programs and makes `rs` the rules of policy `name`. A policy
 * already there is replaced in one map update: every lookup sees the old
 * rule set or the new one, never a mix and never nothing. On failure
 * nothing that was loaded before has changed. Returns 0 or -errno with
 * *step naming the step. */
#define CBPF_STR_(x) #x
#define CBPF_STR(x) CBPF_STR_(x)

int cbpf_policy_apply(struct cbpf_store *s, const char *name, const char *mount,
		      const char *path, const struct cbpf_ruleset *rs,
		      struct cbpf_step *step);

/* The reason for an error of cbpf_policy_apply, for its message: a full map
 * is said so (with its size), anything else as strerror(). */
const char *cbpf_policy_strerror(int err, const struct cbpf_step *step);

/* Policy `name` as unload finds it: its record, cgroup id and path, and
 * how many processes its cgroup holds. -ENOENT when there is none. */
struct cbpf_policy_ref {
	struct cbpf_policy p;
	uint64_t cgroup_id;
	char path[PATH_MAX];
	int nprocs;
};
int cbpf_policy_find(struct cbpf_store *s, const char *name, const char *mount,
		     struct cbpf_policy_ref *ref);

/* Detaches and forgets the policy and removes its cgroup, which must hold
 * no process (engine/load.c refuses or kills them first: nothing is ever
 * left running unenforced). The pinned object goes with the last policy.
 * Returns 0 or -errno with *step naming the step. */
int cbpf_policy_remove(struct cbpf_store *s, const struct cbpf_policy_ref *ref,
		       struct cbpf_step *step);

/* The rules of rule set `id` as they are in the map (hosts filled in). */
int cbpf_policy_read_rules(struct cbpf_store *s, uint32_t id,
			   struct cbpf_ruleset *out);

/* Brings the rules of policy `name` to `rs` in place, without a new rule
 * set: entries that differ are written (an unchanged answer only moves the
 * expiry of the entries it has), nothing else is; entries from hostnames
 * that `rs` no longer has stay until keep_ns past their expiry (the kernel
 * ignores them from their expiry on), and go when `sweep`: finding them
 * reads every entry of every policy. Returns the number of writes, or
 * -errno. */
int cbpf_policy_sync(struct cbpf_store *s, const char *name,
		     const struct cbpf_ruleset *rs, uint64_t keep_ns, bool sweep);

/* Grants (grants.h) in policy `name`'s rule set, in place. Granting
 * writes each entry unless the rule at its key is a deny, never expires or
 * is a hostname's (the file's rule decides there); revoking deletes the
 * entries that are still as the grant wrote them. Returns how many entries
 * changed, or -errno (-ENOENT: no such policy). */
int cbpf_policy_grants(struct cbpf_store *s, const char *name,
		       const struct cbpf_rule_entry *v, size_t n, bool revoke);

/* Entries in the exact_rules, rules and hostnames maps, and how many of
 * them belong to no policy (left by a load that was killed while it wrote). */
struct cbpf_map_use {
	size_t exact, exact_unreferenced, rules, rules_unreferenced;
	size_t hostnames, hostnames_unreferenced;
};
int cbpf_policy_map_use(struct cbpf_store *s, struct cbpf_map_use *use);

/* Deny counters of an enforcement cgroup, summed over CPUs. */
int cbpf_policy_counters(struct cbpf_store *s, uint64_t cgroup_id,
			 uint64_t counts[CBPF_REASON__COUNT]);

#endif
