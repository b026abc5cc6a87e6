/* Grants (claude-bpf allow and revoke): a host or an address added to a
 * running policy for a while, without editing its file. The grants file
 * (core/grants.h) and the kernel's entries change together; the kernel
 * checks the expiry itself, so nothing has to run for a grant to end. The
 * caller holds the global lock. Failures are said through log.h. */
#ifndef CBPF_GRANT_H
#define CBPF_GRANT_H

#include <stddef.h>

/* Allows `target` (a host, resolved now through the host's resolvers, or a
 * whole address, with a port if given) in policy `name` for for_s seconds,
 * replacing an earlier grant of it. *nrules: its rules; *nwritten: those
 * written (the others the file's own rules decide). 0 or 1. */
int cbpf_grant_allow(const char *name, const char *target, long for_s, size_t *nrules,
		     size_t *nwritten);

/* Ends the grant `target` of policy `name` now; *nrules: its rules. 0 or 1. */
int cbpf_grant_revoke(const char *name, const char *target, size_t *nrules);

#endif
