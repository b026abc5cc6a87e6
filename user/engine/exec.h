/* Running a command inside a policy (claude-bpf exec): in a child cgroup of
 * its enforcement cgroup, without the capabilities that get around it, with
 * no_new_privs and the system-call filter that refuses socket families no
 * program sees. */
#ifndef CBPF_EXEC_H
#define CBPF_EXEC_H

#include <sys/types.h>

struct cbpf_exec_opts {
	const char *name;           /* the policy */
	const char *netns;          /* a named network namespace, or NULL */
	uid_t uid;                  /* who the command runs as */
	gid_t gid;
	const char *user;           /* that user's name (supplementary groups) */
	char *const *argv;          /* the command, NULL-ended */
};

/* Refuses (1, said why) unless the policy is loaded, every program attached,
 * on the cgroup it was loaded for; else runs the command and returns its
 * exit status (128 + signal when killed). */
int cbpf_exec(const struct cbpf_exec_opts *o);

#endif
