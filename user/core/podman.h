/* Building the podman command lines of `claude-bpf run`. Pure: every fact
 * about the machine (home, current directory, what exists, podman's cgroup
 * manager) comes in through struct cbpf_run, so unit tests drive it. */
#ifndef CBPF_PODMAN_H
#define CBPF_PODMAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include "core/guard.h"

#define CBPF_DEFAULT_IMAGE "claude-sandbox:latest"

struct cbpf_run {
	const char *podman;         /* "podman" */
	const char *image;          /* CBPF_DEFAULT_IMAGE unless --image */
	const char *cgroup_parent;  /* podman's --cgroup-parent; NULL: none */
	const char *seccomp;        /* the profile (seccomp_filter.h), a path */
	bool no_internet;           /* --network=none */
	const char *dns;            /* --dns: the policy's forwarder on podman's
	                             * bridge (rootless: slirp4netns's alias of
	                             * the host's loopback), or NULL (podman's
	                             * default) */
	bool shell;                 /* bash instead of claude */
	bool tty;                   /* stdin and stdout are terminals: -t */
	bool rootless;              /* podman runs rootless: --userns=keep-id */
	uid_t uid;                  /* the user the agent runs as (rootful: */
	gid_t gid;                  /*  --user uid:gid unless uid is 0) */
	const char *home;           /* that user's home, also HOME inside */
	const char *agent_home;     /* mounted at `home` (agent_home.h) */
	const char *cwd;            /* current directory, symlinks resolved */
	const struct cbpf_guards *guards; /* held in it (guard.h); NULL: none */
	bool git_dir;               /* <home>/git exists: mounted read-only */
	const char *memory;         /* --memory, NULL: none */
	const char *cpus;           /* --cpus, NULL: none */
	const char *const *env;     /* names passed through (-e NAME), NULL-ended */
	char *const *args;          /* arguments for claude (or bash) */
	size_t nargs;
};

struct cbpf_argv {
	char **v;                   /* NULL-terminated */
	size_t n, cap;
};

/* The `podman create` command line that makes the agent's container.
 * Returns 0, -EINVAL (with *bad naming the field: a path podman's -v cannot
 * carry, a current directory cbpf_run_refuse_cwd refuses, a malformed
 * --memory or --cpus), or -ENOMEM. */
int cbpf_podman_create_argv(const struct cbpf_run *r, struct cbpf_argv *out,
			    const char **bad);

/* The capabilities the agent keeps: podman's defaults without NET_RAW,
 * MKNOD and AUDIT_WRITE, given explicitly so that no containers.conf adds
 * any. */
#define CBPF_PODMAN_CAPS "CHOWN,DAC_OVERRIDE,FOWNER,FSETID,KILL,NET_BIND_SERVICE," \
	"SETFCAP,SETGID,SETPCAP,SETUID,SYS_CHROOT"

/* The template `podman inspect --format` takes for cbpf_podman_check. */
#define CBPF_PODMAN_INSPECT "{{.HostConfig.NetworkMode}}|{{.HostConfig.CgroupMode}}|" \
	"{{range .HostConfig.SecurityOpt}}{{.}},{{end}}|{{range .BoundingCaps}}{{.}},{{end}}"

/* Whether a created container, as `podman inspect --format
 * CBPF_PODMAN_INSPECT` shows it, is what the create command line asked:
 * a network namespace of its own (not "host", "ns:" or "container:"), a
 * private cgroup namespace, no-new-privileges, seccomp profile `seccomp`,
 * no capability beyond CBPF_PODMAN_CAPS. A site's containers.conf cannot
 * change a flag given on the command line, but this does not trust that.
 * 0, or -EPERM with *what naming the first difference. */
int cbpf_podman_check(const char *inspect, const char *seccomp, bool no_internet,
		      const char **what);

/* Why `run` must not start in `cwd` for a user whose home is `home`, or
 * NULL: the root, the home itself or a folder holding it (the agent could
 * replace ~/.claude or ~/git, which the host runs and mounts), or a folder
 * inside ~/.claude. */
const char *cbpf_run_refuse_cwd(const char *cwd, const char *home);

int cbpf_argv_add(struct cbpf_argv *a, const char *s);
void cbpf_argv_free(struct cbpf_argv *a);

/* Writes argv as one line a POSIX shell would split back into the same
 * words (single quotes where needed). */
void cbpf_argv_print(const struct cbpf_argv *a, FILE *f);

#endif
