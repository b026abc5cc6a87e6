/* What a policy's DNS forwarder knows of the policy, apart from its sockets
 * and the maps: which names the file allows, with the ports and protocols
 * of the lines that allow them; the host index the rules of each answered
 * name are attributed to (the hostnames map); and the addresses learned so
 * far, each with its name and expiry, at most max_learned at once. Pure: no
 * I/O, no libbpf (dnsfwd.c writes the maps). */
#ifndef CBPF_DNSVIEW_H
#define CBPF_DNSVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/config.h"
#include "core/dnsmsg.h"
#include "core/rules.h"

#define CBPF_DNSVIEW_ANSWER_MAX 64   /* addresses one answer may teach */

/* A host line of the file, as names are matched against it. */
struct cbpf_dnsview_pat {
	uint8_t action;
	int port;
	enum cbpf_conf_proto proto;
};

/* A learned address: open addressing on the address, the table made again
 * whole when expired ones go (no tombstones) or when it grows, never more
 * than half full. */
struct cbpf_dnsview_addr {
	uint8_t addr[16];
	bool used;
	uint32_t host;              /* its name: hosts[host - 1] */
	uint64_t expires_ns;
};

struct cbpf_dnsview {
	struct cbpf_dns_names names;
	struct cbpf_dnsview_pat *pats;  /* pats[i] goes with names.v[i] */
	char **hosts;                   /* host index i + 1 */
	uint32_t *host_refs;            /* learned addresses of each; the file's
	                                 * own names one more, so never reused */
	size_t nhosts, hosts_cap;
	uint32_t *index;                /* name -> host: open addressing, 0 empty */
	size_t index_cap;
	uint32_t *spare;                /* hosts whose count fell to 0 (checked
	                                 * again when taken) */
	size_t nspare, spare_cap;
	struct cbpf_dnsview_addr *tab;
	size_t tab_cap, nlearned, max_learned;
	uint64_t next_expiry_ns;        /* the earliest a learned one expires */
};

/* Returns 0 or -ENOMEM. */
int cbpf_dnsview_init(struct cbpf_dnsview *v, size_t max_learned);
void cbpf_dnsview_free(struct cbpf_dnsview *v);

/* Makes the host lines of `conf` the patterns and `hosts` (an applied rule
 * set's hostnames, index i + 1) the names. Learned addresses stay as they
 * are (their host indices are the caller's to keep right). 0, -EINVAL (a
 * pattern dnsmsg.h refuses) or -ENOMEM. */
int cbpf_dnsview_set(struct cbpf_dnsview *v, const struct cbpf_conf *conf,
		     const char *const *hosts, size_t nhosts);

/* Whether `name` is answered: a line allows it and no deny line matches
 * it (a deny wins, as it does for addresses). */
bool cbpf_dnsview_allowed(const struct cbpf_dnsview *v, const char *name);

/* Appends the entries the lines allowing `name` make for `addr`:
 * attributed to `host`, expiring at `expires_ns`; none when `name` is not
 * allowed. Returns 0 or -ENOMEM. */
int cbpf_dnsview_entries(const struct cbpf_dnsview *v, const char *name,
			 const uint8_t addr[16], uint32_t host, uint64_t expires_ns,
			 struct cbpf_ruleset *rs);

/* What an answer for a name teaches. */
struct cbpf_dnsview_lesson {
	uint32_t host;              /* the name's host index */
	bool new_host;              /* given to the name now: its hostnames
	                             * entry is to be written */
	bool need[CBPF_DNSVIEW_ANSWER_MAX];     /* to be written, per address */
	uint64_t expires_ns[CBPF_DNSVIEW_ANSWER_MAX];
	struct cbpf_ruleset rs;     /* the entries to write (key.policy 0) */
};

/* The entries the `n` addresses of an answer for `name` need: for each
 * address not written already for this name for as long, an allow per
 * port and protocol of each line that allows the name, expiring at now +
 * max(TTL, CBPF_REFRESH_FLOOR_S) + grace_s. Addresses no rule is made of
 * (cbpf_answer_skipped) are left out. Returns 0 (l->rs.n is 0 when there
 * is nothing to write), -EACCES (the name is not allowed), -ENOSPC (more
 * than max_learned would be held), -E2BIG (n above the maximum) or
 * -ENOMEM. The addresses count once cbpf_dnsview_learned says they are
 * written. */
int cbpf_dnsview_learn(struct cbpf_dnsview *v, const char *name,
		       const struct cbpf_dns_addr *a, size_t n, uint64_t now_ns, int grace_s,
		       struct cbpf_dnsview_lesson *l);
void cbpf_dnsview_learned(struct cbpf_dnsview *v, const struct cbpf_dns_addr *a, size_t n,
			  const struct cbpf_dnsview_lesson *l);
void cbpf_dnsview_lesson_free(struct cbpf_dnsview_lesson *l);

/* Drops the learned addresses that expired by now_ns. */
void cbpf_dnsview_purge(struct cbpf_dnsview *v, uint64_t now_ns);

/* A new rule set for the policy (a reload): adds to `rs` the learned
 * addresses whose names `conf` still allows (with the ports of its lines),
 * calls apply(ctx, rs), and when it returns 0 takes `conf` and the names of
 * `rs` as the view's; else the view stays as it was. Returns apply's
 * result or -errno. */
int cbpf_dnsview_reload(struct cbpf_dnsview *v, const struct cbpf_conf *conf,
			struct cbpf_ruleset *rs, uint64_t now_ns,
			int (*apply)(void *ctx, const struct cbpf_ruleset *rs), void *ctx);

#endif
