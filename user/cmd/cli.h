/* What every command shares above the engine: its usage errors, the root
 * check, and the report of a global lock it cannot take. */
#ifndef CBPF_CLI_H
#define CBPF_CLI_H

#define EXIT_USAGE 2

#define CBPF_MSG_NO_CGROUP2 "no cgroup v2 hierarchy is mounted (claude-bpf " \
	"attaches to cgroup v2: boot with systemd.unified_cgroup_hierarchy=1, " \
	"or mount cgroup2)"

/* "claude-bpf: MSG\ntry 'claude-bpf CMD --help'" and EXIT_USAGE. */
int cbpf_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Root is needed for every bpf() call here; says so once. */
int cbpf_need_root(const char *cmd);

/* Takes the global lock (daemon.h) for the rest of the command; 1 after
 * saying why it could not. */
int cbpf_lock_or_report(void);

#endif
