/* The built-in "internet, no LAN" policy as this host is now: the rules of
 * cbpf_rules_internet made from the host's own addresses and resolvers,
 * and the policy's background process that keeps them current as the
 * host's addresses change (a new IPv6 prefix from the router, DHCP). */
#ifndef CBPF_INTERNET_H
#define CBPF_INTERNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/rules.h"
#include "core/source.h"

#define CBPF_HOST_MAX_ADDRS 256

/* What the policy is made of, sorted (two reads compare with memcmp). */
struct cbpf_host_state {
	struct cbpf_prefix own[CBPF_HOST_MAX_ADDRS];   /* denied */
	size_t nown;
	uint8_t dns[CBPF_MAX_RESOLVERS][16];           /* allowed on port 53 */
	size_t ndns;
};

/* The host's own addresses, each one whole, and for a global IPv6 address
 * (2000::/3) its on-link prefix, the host's LAN (never shorter than a
 * site's /48); and its resolvers. -E2BIG when it has more addresses than
 * the policy holds (none is left out unseen), else 0 or -errno. */
int cbpf_host_state_read(struct cbpf_host_state *h);

int cbpf_internet_ruleset(const struct cbpf_host_state *h, struct cbpf_ruleset *rs);

/* Policy `name`'s background process (daemon.h): watches the host's
 * addresses in this network namespace and applies the rules again when
 * they, or its resolvers, are no longer those of `applied`. `detach` as
 * for cbpf_daemon_run. */
int cbpf_internet_watch(const char *name, const char *mount, const char *cgroup,
			const struct cbpf_host_state *applied, bool detach);

#endif
