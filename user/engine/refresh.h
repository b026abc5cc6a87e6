/* The refresher: one process per policy that keeps its hostnames' addresses
 * current as DNS changes, re-reads the file on SIGHUP and logs denials; in
 * forwarder mode it runs the policy's DNS forwarder too.
 * Enforcement never depends on it: it only renews what would expire. */
#ifndef CBPF_REFRESH_H
#define CBPF_REFRESH_H

#include <stdbool.h>
#include "core/source.h"
#include "engine/dnsfwd.h"

struct cbpf_refresher {
	const char *name;           /* the policy */
	const char *mount;          /* cgroup2 mount */
	const char *cgroup;         /* enforcement cgroup, absolute */
	int grace_s;
	struct cbpf_source src;     /* taken over: resolved, already applied */
	struct cbpf_dnsfwd *fwd;    /* taken over: the policy's DNS forwarder,
	                             * or NULL (direct mode) */
	size_t dns_max;             /* learned addresses it may hold */
};

/* Runs until SIGTERM or SIGINT (exit status 0) or until it cannot go on
 * (1). With `daemon`, first detaches (the caller returns 0 at once) and
 * logs to syslog; else logs to stderr (for journald). Its process is the
 * policy's background process (daemon.h). */
int cbpf_refresher_start(struct cbpf_refresher *r, bool daemon);

#endif
