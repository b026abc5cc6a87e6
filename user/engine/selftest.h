/* claude-bpf selftest: the leak matrix run for a loaded policy from a
 * process inside its enforcement cgroup. Used by the selftest command and
 * as the gate of `run` and `load --user`. */
#ifndef CBPF_SELFTEST_H
#define CBPF_SELFTEST_H

#include <limits.h>
#include "core/leak.h"

struct cbpf_selftest {
	char cgroup[PATH_MAX];          /* the enforcement cgroup */
	char probe_cgroup[PATH_MAX + 32]; /* the probe's, below it (removed) */
	struct cbpf_leak_row rows[CBPF_LEAK_MAX_ROWS];
	size_t n;
	size_t tally[3];                /* by enum cbpf_leak_outcome */
};

/* Runs the matrix for policy `name` toward `targets` (none: the
 * documentation addresses) and records the result in the policy's state
 * file when it has one. Returns 0 or -errno with *what naming the step:
 * -ENOENT when no policy `name` is loaded, -ENOLINK when a program is not
 * attached, -ESTALE when its cgroup was made again (loaded.h). */
int cbpf_selftest_run(const char *name, const struct cbpf_leak_target *targets,
		      size_t ntargets, uint16_t port, struct cbpf_selftest *out,
		      const char **what);

/* One error line per LEAKED row. */
void cbpf_selftest_report_leaks(const char *name, const struct cbpf_selftest *st);

#endif
