/* Loading and unloading a policy: the engine under `load`, `unload` and
 * `check`. Failures are reported through log.h, in words, once; nothing
 * else is printed: the command prints what these return. */
#ifndef CBPF_LOAD_H
#define CBPF_LOAD_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "core/cgroup.h"
#include "core/source.h"
#include "engine/dnsfwd.h"
#include "engine/internet.h"
#include "engine/policy.h"

/* How cbpf_load_source treats the names of a file. */
enum cbpf_names {
	CBPF_NAMES_PARSE,      /* not resolved (check --no-resolve) */
	CBPF_NAMES_RESOLVE,    /* each must answer (direct mode) */
	CBPF_NAMES_PREFETCH,   /* answers are a prefetch: the forwarder resolves
	                        * a name that fails now when the sandbox asks */
};

/* Opens file `path` and resolves its names as `names` says; grace_s < 0:
 * the addresses never expire. Returns 0 or 1. */
int cbpf_load_source(const char *path, int grace_s, enum cbpf_names names,
		     struct cbpf_source *src);
/* Direct mode resolves every name ahead of time: a wildcard cannot be.
 * Returns 0 or 1. */
int cbpf_load_check_direct(const struct cbpf_source *src);
/* The rules of a resolved file; answers that make no rule are said. 0 or 1. */
int cbpf_load_compile(const struct cbpf_source *src, struct cbpf_ruleset *rs);

/* Opens the pinned object (`create`: loading it if needed). -ENOENT when
 * nothing is pinned and !create, unreported; any other error reported. */
int cbpf_load_open_store(struct cbpf_store *s, bool create);

/* What `load` is asked to enforce, and how. */
enum cbpf_builtin { CBPF_BUILTIN_NO, CBPF_BUILTIN_INTERNET, CBPF_BUILTIN_NONE };

struct cbpf_load_opts {
	const char *name;                /* the policy */
	const char *conf;                /* the file, or NULL for a builtin */
	enum cbpf_builtin builtin;
	const char *parent;              /* --cgroup-parent, or NULL */
	enum cbpf_cgroup_manager mgr;
	const char *user;                /* --user: rootless podman's owner */
	uid_t uid;
	gid_t gid;
	bool foreground, no_refresh;
	bool forward;                    /* the policy's DNS forwarder */
	int grace_s;
	unsigned long dns_max;
	uint32_t bridge4;                /* where containers reach the forwarder
	                                  * (network order), 0: nowhere */
};

/* A policy load applied, and what it keeps for the process that follows. */
struct cbpf_load {
	char mount[PATH_MAX];
	char path[PATH_MAX];             /* the enforcement cgroup */
	char podman_parent[PATH_MAX];    /* podman's --cgroup-parent for it */
	struct cbpf_source src;
	struct cbpf_ruleset rs;
	struct cbpf_host_state host;     /* --internet: the host as read */
	struct cbpf_dnsfwd *fwd;         /* listening, published */
};

/* Source → rules → cgroup → maps, with the grants of `allow` and what the
 * forwarder of the policy replaced had learned kept, the cgroup delegated
 * to `user`, and the state file written. The caller holds the global lock.
 * On failure nothing that was loaded before has changed. Returns 0 or 1;
 * free *l either way. */
int cbpf_load_apply(const struct cbpf_load_opts *o, struct cbpf_load *l);

/* Whether the policy keeps a process of its own: the refresher (names to
 * follow, a forwarder, or --foreground) or the --internet watcher. */
bool cbpf_load_serves(const struct cbpf_load_opts *o, const struct cbpf_load *l);

/* Starts that process, which takes over *l's source and forwarder: in the
 * background (returns 0 at once) or, with --foreground, until it ends. */
int cbpf_load_serve(const struct cbpf_load_opts *o, struct cbpf_load *l);

void cbpf_load_free(struct cbpf_load *l);

/* Unloads policy `name`: refuses with -EBUSY (*nprocs set) while
 * processes run in its cgroup unless `force`, which kills them; stops its
 * refresher first, then removes it from the maps and its files from
 * /run/claude-bpf. Returns 0 or -errno with *step naming the step
 * (CBPF_STEP_FIND: no such policy). */
int cbpf_unload(struct cbpf_store *s, const char *name, const char *mount, bool force,
		int *nprocs, struct cbpf_step *step);

#endif
