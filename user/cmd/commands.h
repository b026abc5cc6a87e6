/* The subcommands of claude-bpf. Each returns the exit status: 0 success,
 * 1 failure, 2 usage error. */
#ifndef CBPF_COMMANDS_H
#define CBPF_COMMANDS_H

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

#endif
