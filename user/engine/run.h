/* Claude Code in a podman container below a policy's enforcement cgroup
 * (claude-bpf run). The container is created and initialised, its place in
 * the cgroup tree checked, and only then started: the agent never runs
 * unenforced. */
#ifndef CBPF_RUN_H
#define CBPF_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "core/leak.h"

struct cbpf_run_opts {
	const char *name;           /* the policy */
	bool no_internet;           /* --network=none, no policy needed */
	bool shell;                 /* bash instead of claude */
	const char *image;          /* NULL: CBPF_DEFAULT_IMAGE */
	const char *memory, *cpus;  /* podman's limits, NULL: none */
	char *const *args;          /* for claude (or bash) */
	size_t nargs;
	FILE *dry_run;              /* non-NULL: podman's command line is written
	                             * there, nothing is started */
	bool skip_selftest;         /* start without the leak gate */
	bool allow_config_writes;   /* the tree's guards are not held */
	const struct cbpf_leak_target *targets;   /* the selftest's, as root */
	size_t ntargets;
};

/* Runs the agent and returns the exit status: the container's, or 1 after
 * saying why nothing was started (2: podman's arguments invalid). */
int cbpf_run(const struct cbpf_run_opts *o);

#endif
