/* Grants: hosts and addresses `claude-bpf allow` adds to a running policy
 * for a while, apart from its file. Each is kernel entries that expire on
 * their own (struct cbpf_rule.expires_ns), and lines in
 * CBPF_RUNSTATE_DIR/NAME.grants, so that a reload of the file, which makes
 * a new rule set, keeps the unexpired ones, and status can list them.
 * Pure: files only, no libbpf. */
#ifndef CBPF_GRANTS_H
#define CBPF_GRANTS_H

#include <stddef.h>
#include <stdint.h>
#include "core/rules.h"

#define CBPF_GRANT_TARGET_MAX 256

struct cbpf_grant {
	char target[CBPF_GRANT_TARGET_MAX];   /* as given to allow */
	struct cbpf_rule_entry e;             /* an allow, host 0, expiring */
};

struct cbpf_grants {
	struct cbpf_grant *v;
	size_t n;
};

/* Policy `name`'s grants that have not expired at `now_ns` (boot time);
 * none when it has no file. Lines that do not parse are dropped. Returns 0
 * or -errno. */
int cbpf_grants_read(const char *name, uint64_t now_ns, struct cbpf_grants *g);

/* Replaces the file by `g`, atomically; no grants: no file. */
int cbpf_grants_write(const char *name, const struct cbpf_grants *g);

/* Appends one grant (copied). 0 or -ENOMEM. */
int cbpf_grants_add(struct cbpf_grants *g, const char *target,
		    const struct cbpf_rule_entry *e);

/* Adds the grants' entries to `rs`, under the usual precedence (deny
 * wins, and a rule that never expires beats an expiring one). */
int cbpf_grants_merge(const struct cbpf_grants *g, struct cbpf_ruleset *rs);

/* Reads policy `name`'s grants and merges them into `rs`: what a rule set
 * made from the file again needs before it replaces the loaded one. */
int cbpf_grants_keep(const char *name, uint64_t now_ns, struct cbpf_ruleset *rs);

void cbpf_grants_remove(const char *name);
void cbpf_grants_free(struct cbpf_grants *g);

#endif
