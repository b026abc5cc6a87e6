/* What every command shares above the engine: its usage errors, the root
 * check, the report of a global lock it cannot take, and a rule set as
 * status and check print it. */
#ifndef CBPF_CLI_H
#define CBPF_CLI_H

#include <stdbool.h>
#include "core/rules.h"

#define EXIT_USAGE 2

/* "claude-bpf: MSG\ntry 'claude-bpf CMD --help'" and EXIT_USAGE. */
int cbpf_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Root is needed for every bpf() call here; says so once. */
int cbpf_need_root(const char *cmd);

/* Takes the global lock (daemon.h) for the rest of the command; 1 after
 * saying why it could not. */
int cbpf_lock_or_report(void);

/* The rules of `rs`, one line each, or JSON objects (without brackets). */
void cbpf_print_rules(const struct cbpf_ruleset *rs, bool json);

#endif
