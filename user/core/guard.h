/* What the agent may not change in the working tree: the files the host
 * runs later, outside the sandbox, as the user (git hooks and config,
 * project Claude settings and MCP servers, editor tasks, direnv). `run`
 * mounts each one read-only over the writable tree; a missing one that
 * would act by merely appearing gets an empty read-only placeholder, taken
 * away at exit; the few git files that redirect git elsewhere and cannot
 * be held (they sit beside files git must write) are moved aside at exit.
 * The file-system calls run with the caller's file-system ids: call them
 * as the user. */
#ifndef CBPF_GUARD_H
#define CBPF_GUARD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#define CBPF_GUARD_MAX 24

struct cbpf_guard {
	char path[PATH_MAX];        /* absolute: the tree, then the relative path */
	bool rw;                    /* bound onto itself read-write (.git: a
	                             * mount point cannot be renamed away) */
	bool placeholder;           /* made by cbpf_guard_prepare */
	bool sweep;                 /* not mounted: moved aside at exit if it
	                             * appeared */
	/* Set by cbpf_guard_finish for a swept path that appeared: where it
	 * went ("" when it could not be moved, err saying why). */
	bool appeared;
	char moved_to[PATH_MAX];
	int err;
};

struct cbpf_guards {
	struct cbpf_guard v[CBPF_GUARD_MAX];
	size_t n;
};

/* The guards of the tree `cwd`, placeholders made when `make` (else only
 * listed, for --dry-run). 0, or -errno with `what` naming the path
 * (-ELOOP: a symbolic link, which cannot be held); placeholders already
 * made are removed. */
int cbpf_guard_prepare(const char *cwd, bool make, struct cbpf_guards *g, char *what,
		       size_t len);

/* After the container: removes the placeholders and moves any file that
 * must not appear (.git/commondir, .git/config.worktree) into a new folder
 * below `quarantine`, marking it `appeared`. Returns how many appeared. */
int cbpf_guard_finish(const char *cwd, struct cbpf_guards *g, const char *quarantine);

#endif
