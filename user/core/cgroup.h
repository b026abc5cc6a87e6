/* cgroup v2: finding the mount, the enforcement cgroup of a policy and the
 * --cgroup-parent value podman needs for it. The path logic is pure; the
 * functions that touch the file system say so. */
#ifndef CBPF_CGROUP_H
#define CBPF_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum cbpf_cgroup_manager {
	CBPF_CGM_CGROUPFS = 0,  /* podman --cgroup-manager=cgroupfs */
	CBPF_CGM_SYSTEMD,       /* podman --cgroup-manager=systemd: slices */
};

/* Finds the cgroup2 mount point in the text of /proc/self/mountinfo
 * (unified: /sys/fs/cgroup; hybrid: /sys/fs/cgroup/unified; anything else
 * that is mounted; the first when several are). Octal escapes (\040) in the
 * mount point are decoded; malformed lines are skipped.
 * Returns 0, -ENOENT when no cgroup2 is mounted, -ENAMETOOLONG. */
int cbpf_cgroup2_mount_parse(const char *mountinfo, char *out, size_t len);

/* Policy names: 1..31 of [A-Za-z0-9_] (no '-': systemd reads a dash in a
 * slice name as nesting). Returns true when valid. */
bool cbpf_policy_name_valid(const char *name);

/* The enforcement cgroup of policy `name`, as an absolute path:
 *  - `parent` given (load --cgroup-parent): "<mount>/<parent>/<name>"
 *    (parent relative to the mount, leading '/' optional, "/" the mount
 *    itself; "", "." or ".." components: -EINVAL);
 *  - cgroupfs: "<mount>/claude-bpf/<name>";
 *  - systemd, rootful: "<mount>/claudebpf.slice/claudebpf-<name>.slice";
 *  - systemd, rootless user `uid`: "<mount>/user.slice/user-<uid>.slice/
 *    user@<uid>.service/claudebpf.slice/claudebpf-<name>.slice".
 * `rootless` is ignored for cgroupfs. Returns 0, -EINVAL, -ENAMETOOLONG. */
int cbpf_enforcement_path(const char *mount, const char *parent,
			  enum cbpf_cgroup_manager mgr, bool rootless,
			  uid_t uid, const char *name, char *out, size_t len);

/* The value for podman --cgroup-parent that puts containers below the
 * enforcement cgroup `path` (absolute, under `mount`):
 *  - cgroupfs: the path relative to the mount, with a leading '/';
 *  - systemd: the last component, which must be a ".slice" (systemd
 *    expands "a-b.slice" to "a.slice/a-b.slice"); for rootless podman the
 *    path must lie under user@<uid>.service. The expansion of the returned
 *    slice name must lead back to `path`; otherwise -EINVAL.
 * Returns 0, -EINVAL, -ENAMETOOLONG. */
int cbpf_podman_cgroup_parent(const char *mount, const char *path,
			      enum cbpf_cgroup_manager mgr, bool rootless,
			      uid_t uid, char *out, size_t len);

/* The same for a path load made: the manager follows from its form (a
 * ".slice" is systemd's, rootless below user@UID.service). */
int cbpf_podman_parent_of(const char *mount, const char *path, char *out, size_t len);

#define CBPF_MSG_NO_CGROUP2 "no cgroup v2 hierarchy is mounted (claude-bpf " \
	"attaches to cgroup v2: boot with systemd.unified_cgroup_hierarchy=1, " \
	"or mount cgroup2)"
/* File system: reads /proc/self/mountinfo. */
int cbpf_cgroup2_mount(char *out, size_t len);

/* File system: the cgroup id of a cgroup2 directory (its inode number, the
 * value bpf_get_current_cgroup_id() returns). Returns 0 or -errno:
 * -EMEDIUMTYPE when `path` is not on a cgroup2 file system, -ENOTDIR when it
 * is a cgroup file rather than a cgroup. */
int cbpf_cgroup_id(const char *path, uint64_t *id);

/* File system: creates `path` and missing parents. Returns 0 or -errno. */
int cbpf_cgroup_create(const char *path);

/* File system: enables in path's cgroup.subtree_control every controller its
 * cgroup.controllers offers, so that its children have them too. 0, or the
 * first -errno (it still tries the rest). */
int cbpf_cgroup_enable_controllers(const char *path);

/* File system: number of processes in `path` and every cgroup below it
 * (from cgroup.procs). Returns the count or -errno. */
int cbpf_cgroup_count_procs(const char *path);

/* File system: kills every process of the cgroup tree `path` (cgroup.kill,
 * or before 5.14 each one listed, until none is) and waits up to 5 s for
 * them to go. 0, -EBUSY when some remain, or -errno. */
int cbpf_cgroup_kill_all(const char *path);

/* File system: removes `path` and the empty cgroups below it, deepest
 * first. Returns 0 or -errno (-EBUSY when a process remains). */
int cbpf_cgroup_remove_tree(const char *path);

/* File system: removes `rel` (a cgroup path below the roots, "/a/b") from
 * every cgroup v1 hierarchy, where podman on hybrid hosts mirrors its
 * --cgroup-parent, and the folder above it when that is empty. Best
 * effort: these hold no programs. */
void cbpf_cgroup_v1_remove(const char *rel);

/* File system: moves process `pid` (0: the caller) into `path`.
 * Returns 0 or -errno. */
int cbpf_cgroup_join(const char *path, pid_t pid);

#endif
