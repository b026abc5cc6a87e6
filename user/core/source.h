/* A policy's allowlist file: read, parsed, its hostnames resolved and the
 * whole compiled into rules. `load` does it once; the refresher keeps the
 * answers current, keeping the last good one for a name DNS fails on. */
#ifndef CBPF_SOURCE_H
#define CBPF_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/errors.h"
#include "core/config.h"
#include "core/rules.h"

#define CBPF_MAX_RESOLVERS 16

/* Refresh timing, in seconds: a name is resolved again after half its TTL,
 * never sooner than the floor nor later than the ceiling; its addresses
 * stay allowed until max(TTL, floor) + grace after the answer. */
#define CBPF_REFRESH_FLOOR_S   2
#define CBPF_REFRESH_CEILING_S 3600
#define CBPF_DEFAULT_GRACE_S   60

struct cbpf_source {
	char *path;
	struct cbpf_conf conf;
	uint8_t servers[CBPF_MAX_RESOLVERS][16];   /* resolvers used and allowed */
	size_t nservers;
	const char **hosts;         /* distinct hostnames (into conf), not
	                             * wildcards: those are never resolved */
	unsigned *lines;            /* the line each is first named on */
	struct cbpf_resolved *res;  /* res[i]: last good answer for hosts[i] */
	uint64_t *resolved_ns;      /* when res[i] was answered, 0: never */
	size_t nhosts;
	/* DNS goes to the policy's forwarder (dnsfwd.h), never straight to
	 * a resolver: no rule for port 53 of the resolvers is made. Set by
	 * the loader. */
	bool dns_forward;
};

/* The resolvers a sandbox gets by default: the host's resolv.conf, and
 * behind a systemd-resolved stub, its upstream servers (which podman writes
 * into containers). Returns the count. */
size_t cbpf_host_resolvers(uint8_t (*out)[16], size_t max);

/* Reads and parses `path`. Errors ("FILE:LINE: ...") go to *errs. */
int cbpf_source_open(struct cbpf_source *s, const char *path,
		     struct cbpf_errors *errs);

/* Resolves the hostnames where due[i] (all when `due` is NULL). A name that
 * answers gets its addresses, expiring at answer + max(TTL, floor) + grace
 * (never when grace_s < 0); a name that fails keeps its last good answer
 * and its message goes to *errs. Returns the number of names that failed,
 * or -errno. */
int cbpf_source_resolve(struct cbpf_source *s, const bool *due, int grace_s,
			struct cbpf_errors *errs);

/* The rules of the file with the current answers (a name with none gives
 * no rule). */
int cbpf_source_compile(const struct cbpf_source *s, struct cbpf_ruleset *out);

/* The rules of the file's addresses and CIDRs alone: its hostnames give
 * none, unresolved (check --no-resolve). */
int cbpf_source_compile_literal(const struct cbpf_source *s, struct cbpf_ruleset *out);

/* When host i should be resolved again after a good answer. */
uint64_t cbpf_source_next_refresh(const struct cbpf_source *s, size_t i);

void cbpf_source_free(struct cbpf_source *s);

#endif
