/* The subcommands of claude-bpf. Each returns the exit status: 0 success,
 * 1 failure, 2 usage error. */
#ifndef CBPF_COMMANDS_H
#define CBPF_COMMANDS_H

#define EXIT_USAGE 2

#define CBPF_MSG_NO_CGROUP2 "no cgroup v2 hierarchy is mounted (claude-bpf " \
	"attaches to cgroup v2: boot with systemd.unified_cgroup_hierarchy=1, " \
	"or mount cgroup2)"

int cmd_load(int argc, char **argv);
int cmd_unload(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
int cmd_selftest(int argc, char **argv);
int cmd_allow(int argc, char **argv);
int cmd_revoke(int argc, char **argv);

/* Name of an enum cbpf_reason ("no_rule", ...), "?" when out of range. */
const char *cbpf_reason_name(unsigned reason);

/* "claude-bpf: MSG\ntry 'claude-bpf CMD --help'" and EXIT_USAGE. */
int cbpf_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Root is needed for every bpf() call here; says so once. */
int cbpf_need_root(const char *cmd);

/* Takes the global lock (daemon.h) for the rest of the command; 1 after
 * saying why it could not. */
int cbpf_lock_or_report(void);

#endif
