/* What `load` tells unprivileged users about a policy: which cgroup enforces
 * it, and whether its last selftest found a leak. bpf() needs root here, so `run` as an ordinary user reads this file,
 * which only root can write, and checks the cgroup is still the same one. */
#ifndef CBPF_RUNSTATE_H
#define CBPF_RUNSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CBPF_RUNSTATE_DIR "/run/claude-bpf"

/* Makes the folder (one level: /run is there). 0 or -errno. */
int cbpf_runstate_dir(void);
/* Writes `text` as the whole file CBPF_RUNSTATE_DIR/name, by rename: a
 * reader sees the old file or the new one. 0 or -errno. */
int cbpf_runstate_write_file(const char *name, const char *text);

int cbpf_runstate_write(const char *name, uint64_t cgroup_id, const char *cgroup);
int cbpf_runstate_remove(const char *name);
/* Returns 0, -ENOENT when the policy has no state, -EBADMSG when the file
 * is not what load writes. */
int cbpf_runstate_read(const char *name, uint64_t *cgroup_id, char *cgroup,
		       size_t len);

/* The last selftest of the policy (written by `selftest` as root, also
 * when `load --user` or `run` runs it): a line "selftest passed|leaked
 * BLOCKED LEAKED UNTESTED" added to the state file; a new `load` writes
 * the file afresh, so a recorded result always belongs to the cgroup and
 * rule set loaded last. Returns 0, -ENOENT when the policy has no state. */
int cbpf_runstate_set_selftest(const char *name, bool passed, size_t blocked,
			       size_t leaked, size_t untested);
/* *passed from the recorded line: 0, -ENOENT (no state), -ENODATA (no
 * selftest recorded), -EBADMSG (not root's file). */
int cbpf_runstate_get_selftest(const char *name, bool *passed);

#endif
