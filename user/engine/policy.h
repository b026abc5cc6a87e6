/* Policies in the maps: applying a compiled rule set to an enforcement
 * cgroup (atomically replacing the one before), removing it, reading it. */
#ifndef CBPF_POLICY_H
#define CBPF_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include "core/rules.h"
#include "engine/store.h"

/* Creates the enforcement cgroup `path` (under cgroup2 `mount`) if needed,
 * attaches the programs and makes `rs` the rules of policy `name`. A policy
 * already there is replaced in one map update: every lookup sees the old
 * rule set or the new one, never a mix and never nothing. On failure
 * nothing that was loaded before has changed. Returns 0 or -errno with
 * *what naming the step. */
#define CBPF_STR_(x) #x
#define CBPF_STR(x) CBPF_STR_(x)
#define CBPF_WHAT_WRITE_EXACT "write the rules for whole addresses"
#define CBPF_WHAT_WRITE_PREFIXES "write the rules for address prefixes"
#define CBPF_WHAT_WRITE_HOSTS "write the hostnames"

int cbpf_policy_apply(struct cbpf_store *s, const char *name, const char *mount,
		      const char *path, const struct cbpf_ruleset *rs,
		      const char **what);

/* The reason for an error of cbpf_policy_apply, for its message: a full map
 * is said so (with its size), anything else as strerror(). */
const char *cbpf_policy_strerror(int err, const char *what);

/* Detaches and forgets policy `name` and removes its cgroup. Refuses with
 * -EBUSY (*nprocs set) while processes run inside unless `force`, which
 * kills them first: nothing is ever left running unenforced. */
int cbpf_policy_remove(struct cbpf_store *s, const char *name, const char *mount,
		       bool force, int *nprocs, const char **what);

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
