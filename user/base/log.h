/* The one error sink of the command: "claude-bpf: ..." on stderr, or
 * {"error": "..."} on stdout in JSON mode. Library modules never print. */
#ifndef CBPF_LOG_H
#define CBPF_LOG_H

#include <stdbool.h>
#include <stdio.h>

extern bool cbpf_verbose;   /* -v: libbpf's messages and the verifier log */
extern bool cbpf_json;      /* --json: errors as JSON objects */

void cbpf_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* What a long-running refresher reports that is not an error. */
void cbpf_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* From now on, errors and information go to syslog as `ident`. */
void cbpf_log_to_syslog(const char *ident);

#endif
