/* Grants: a host or an address added to a running policy for a while
 * (grant.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "base/log.h"
#include "base/os.h"
#include "base/runstate.h"
#include "core/config.h"
#include "core/grants.h"
#include "core/resolve.h"
#include "core/rules.h"
#include "core/source.h"
#include "engine/grant.h"
#include "engine/policy.h"
#include "engine/store.h"

#define NS 1000000000ull

/* The target as the rules of one line of a file, each an allow for a whole
 * address that expires at `expires`. Hostnames resolve through the host's
 * resolvers now; what they answer later is not followed. */
static int compile_target(const char *target, uint64_t expires, struct cbpf_ruleset *rs)
{
	struct cbpf_errors errs = {};
	struct cbpf_conf conf = {};
	struct cbpf_resolved res = {};
	uint8_t servers[CBPF_MAX_RESOLVERS][16];
	char *text = malloc(strlen(target) + 2);
	const struct cbpf_conf_entry *e;
	unsigned line = 1;
	int err;

	if (!text)
		return -ENOMEM;
	sprintf(text, "%s\n", target);
	err = cbpf_conf_parse("allow", text, &conf, &errs);
	free(text);
	if (!err && (conf.n != 1 || conf.ndns)) {
		cbpf_errors_add(&errs, "allow: give one host or address, with a port if "
				"you like ('%s')", target);
		err = -EINVAL;
	}
	e = err ? NULL : &conf.entries[0];
	if (e && (e->action != CBPF_ACTION_ALLOW || (!e->is_host && e->prefix != 128))) {
		cbpf_errors_add(&errs, "allow: '%s': a host or a whole address, not %s", target,
				e->action != CBPF_ACTION_ALLOW ? "a deny" : "a range");
		err = -EINVAL;
	}
	if (e && e->is_host) {
		const char *host = e->host;
		size_t n = cbpf_host_resolvers(servers, CBPF_MAX_RESOLVERS);

		err = cbpf_resolve_all("allow", &host, &line, 1,
				       (const uint8_t (*)[16])servers, n, &res, &errs);
		res.expires_ns = expires;
	}
	if (!err)
		err = cbpf_rules_compile(&conf, &res, e && e->is_host ? 1 : 0, NULL, 0, rs);
	for (size_t i = 0; !err && i < rs->n; i++) {
		rs->v[i].val.host = 0;
		rs->v[i].val.expires_ns = expires;
	}
	if (!err && !rs->n) {
		cbpf_errors_add(&errs, "allow: '%s' resolved only to addresses no rule is "
				"made of (a DNS filter's answer for a blocked name?)", target);
		err = -EINVAL;
	}
	for (size_t i = 0; i < errs.n; i++)
		cbpf_error("%s", errs.msg[i]);
	if (err && !errs.n)
		cbpf_error("allow: '%s': %s", target, strerror(-err));
	if (err)
		cbpf_ruleset_free(rs);
	cbpf_errors_free(&errs);
	cbpf_resolved_free(&res, 1);
	cbpf_conf_free(&conf);
	return err;
}

/* The entries of `g` whose target is `target` move to *out. */
static int take_target(struct cbpf_grants *g, const char *target, struct cbpf_ruleset *out)
{
	size_t kept = 0;
	int err = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < g->n; i++) {
		if (strcasecmp(g->v[i].target, target))
			g->v[kept++] = g->v[i];
		else if (!err)
			err = cbpf_ruleset_push(out, &g->v[i].e);
	}
	g->n = kept;
	return err;
}

static int open_policy_store(struct cbpf_store *s)
{
	const char *what;
	int err = cbpf_store_open(s, false, &what);

	if (err == -ENOENT)
		cbpf_error("no policy is loaded");
	else if (err)
		cbpf_error("cannot %s: %s", what, strerror(-err));
	return err;
}

static int grant_error(const char *name, int err)
{
	if (err == -ENOENT)
		cbpf_error("no policy '%s' is loaded", name);
	else
		cbpf_error("policy '%s': cannot write the grant: %s", name, strerror(-err));
	return 1;
}

int cbpf_grant_allow(const char *name, const char *target, long for_s, size_t *nrules,
		     size_t *nwritten)
{
	struct cbpf_ruleset rs = {}, old = {};
	struct cbpf_grants g = {}, before = {};
	struct cbpf_store s;
	uint64_t now, expires;
	int err, rc = 1;

	now = cbpf_boottime_ns();
	expires = now + (uint64_t)for_s * NS;
	if (compile_target(target, expires, &rs))
		return 1;
	if (open_policy_store(&s))
		goto out;
	if ((err = cbpf_grants_read(name, now, &g))) {
		cbpf_error("cannot read the grants of policy '%s': %s", name, strerror(-err));
		goto close;
	}
	/* Allowed again: the new answer and expiry replace the old. The file
	 * first, so a grant in the kernel is always one status lists; what it
	 * held is kept to write back should the kernel refuse. */
	for (size_t i = 0; !err && i < g.n; i++)
		err = cbpf_grants_add(&before, g.v[i].target, &g.v[i].e);
	if (!err)
		err = take_target(&g, target, &old);
	for (size_t i = 0; !err && i < rs.n; i++)
		err = cbpf_grants_add(&g, target, &rs.v[i]);
	if (!err)
		err = cbpf_grants_write(name, &g);
	if (err) {
		cbpf_error("cannot record the grant in " CBPF_RUNSTATE_DIR ": %s", strerror(-err));
		goto close;
	}
	if ((err = cbpf_policy_grants(&s, name, old.v, old.n, true)) < 0 ||
	    (err = cbpf_policy_grants(&s, name, rs.v, rs.n, false)) < 0) {
		cbpf_grants_write(name, &before);
		grant_error(name, err);
		goto close;
	}
	*nrules = rs.n;
	*nwritten = (size_t)err;
	rc = 0;
close:
	cbpf_store_close(&s);
out:
	cbpf_ruleset_free(&rs);
	cbpf_ruleset_free(&old);
	cbpf_grants_free(&g);
	cbpf_grants_free(&before);
	return rc;
}

int cbpf_grant_revoke(const char *name, const char *target, size_t *nrules)
{
	struct cbpf_ruleset old = {};
	struct cbpf_grants g = {};
	struct cbpf_store s;
	int err, rc = 1;

	if ((err = cbpf_grants_read(name, cbpf_boottime_ns(), &g))) {
		cbpf_error("cannot read the grants of policy '%s': %s", name, strerror(-err));
		return 1;
	}
	if (take_target(&g, target, &old) || !old.n) {
		cbpf_error("policy '%s' has no grant '%s' ('claude-bpf status %s' lists them)",
			   name, target, name);
		goto out;
	}
	if (open_policy_store(&s))
		goto out;
	/* The kernel first: a grant status no longer lists is gone. */
	if ((err = cbpf_policy_grants(&s, name, old.v, old.n, true)) < 0)
		grant_error(name, err);
	else if ((err = cbpf_grants_write(name, &g)))
		cbpf_error("cannot record the revocation in " CBPF_RUNSTATE_DIR ": %s",
			   strerror(-err));
	else {
		*nrules = old.n;
		rc = 0;
	}
	cbpf_store_close(&s);
out:
	cbpf_ruleset_free(&old);
	cbpf_grants_free(&g);
	return rc;
}
