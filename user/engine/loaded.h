/* A loaded policy, found by name the one way `run`, `exec` and `selftest`
 * find it: in the maps, every program attached, on the very cgroup it was
 * loaded for (a cgroup removed and made again under the same path has
 * another id, and none of the programs). */
#ifndef CBPF_LOADED_H
#define CBPF_LOADED_H

#include <limits.h>
#include <stdint.h>
#include "claude_bpf.h"

struct cbpf_store;

struct cbpf_loaded {
	uint64_t cgroup_id;
	char cgroup[PATH_MAX];          /* absolute: the mount, then the policy's path */
	struct cbpf_policy policy;      /* as the maps hold it; zero when found
	                                 * through the state file */
	const char *store_what;         /* what opening the store could not do
	                                 * (CBPF_LOADED_STORE) */
};

/* Where finding it failed. */
enum cbpf_loaded_step {
	CBPF_LOADED_OK,
	CBPF_LOADED_STORE,      /* the pinned programs and maps: none, or unreadable */
	CBPF_LOADED_POLICY,     /* no policy of that name (-ENOENT) */
	CBPF_LOADED_ATTACHED,   /* a program not attached (-ENOLINK) */
	CBPF_LOADED_CGROUP,     /* its cgroup gone or made again (-ESTALE) */
};

/* Finds policy `name` below cgroup2 mount `mount`. As root through the
 * pinned maps and links, in `s` when it is open (else opened and closed
 * here); as another user through the state file load wrote (root's),
 * where the programs cannot be seen. Returns 0, or -errno with *step
 * saying where: -ENOENT (no store, no policy), -ENOLINK, -ESTALE,
 * -ENAMETOOLONG, or the store's error. */
int cbpf_loaded_find(const char *name, const char *mount, struct cbpf_store *s,
		     struct cbpf_loaded *out, enum cbpf_loaded_step *step);

/* Says why a policy is not there, for a user: " (its programs are not
 * attached)", " (its cgroup was removed)", or "". */
const char *cbpf_loaded_why(enum cbpf_loaded_step step);

#endif
