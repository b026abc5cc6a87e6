/* What `load` tells unprivileged users about a policy: which cgroup enforces
 * it. bpf() needs root here, so `run` as an ordinary user reads this file,
 * which only root can write, and checks the cgroup is still the same one. */
#ifndef CBPF_RUNSTATE_H
#define CBPF_RUNSTATE_H

#include <stddef.h>
#include <stdint.h>

#define CBPF_RUNSTATE_DIR "/run/claude-bpf"

int cbpf_runstate_write(const char *name, uint64_t cgroup_id, const char *cgroup);
int cbpf_runstate_remove(const char *name);
/* Returns 0, -ENOENT when the policy has no state, -EBADMSG when the file
 * is not what load writes. */
int cbpf_runstate_read(const char *name, uint64_t *cgroup_id, char *cgroup,
		       size_t len);

#endif
