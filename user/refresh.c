/* The refresher of one policy: re-resolves each hostname before its TTL
 * runs out, writes only what changed, keeps the last good answer while DNS
 * fails, re-reads the file on SIGHUP, and reports denials from the
 * counters. One per policy, held by a lock on its pid file. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "commands.h"
#include "daemon.h"
#include "grants.h"
#include "log.h"
#include "policy.h"
#include "refresh.h"
#include "runstate.h"

#define NS 1000000000ull
#define BACKOFF_MAX_S   60           /* retry a failing name at least this often */
#define KEEP_STALE_NS   (600 * NS)   /* expired entries linger for monitor */
#define SWEEP_NS        (60 * NS)    /* and are looked for this often: that reads
                                      * the entries of every policy */
#define DENY_REPORT_NS  (10 * NS)    /* denials are logged at most this often */

#define SKIPPED_LEN 512

/* The answers of `res` no rule was made of (cbpf_answer_skipped), with
 * commas between; "" for none. */
static void skipped_list(const struct cbpf_resolved *res, char buf[SKIPPED_LEN])
{
	char text[64];
	size_t used = 0;

	buf[0] = '\0';
	for (size_t j = 0; j < res->n; j++) {
		if (!cbpf_answer_skipped(res->addrs[j]))
			continue;
		cbpf_format_prefix(res->addrs[j], 128, text, sizeof(text));
		used += (size_t)snprintf(buf + used, used < SKIPPED_LEN ? SKIPPED_LEN - used : 0,
					 "%s%s", used ? "," : "", text);
	}
}

/* For `status`: each name's last answer and how the last try went. */
static void write_hosts_state(const struct cbpf_refresher *r, const int *failures,
			      char *const *last_error)
{
	size_t n = r->src.nhosts;
	struct cbpf_host_record *v = calloc(n + 1, sizeof(*v));
	char (*skipped)[SKIPPED_LEN] = calloc(n + 1, sizeof(*skipped));

	for (size_t i = 0; v && skipped && i < n; i++) {
		skipped_list(&r->src.res[i], skipped[i]);
		v[i] = (struct cbpf_host_record){
			.name = r->src.hosts[i],
			.answered_ns = r->src.resolved_ns[i],
			.ttl = r->src.res[i].ttl,
			.failures = failures[i],
			.skipped = skipped[i],
			.error = last_error[i],
		};
	}
	if (v && skipped)
		cbpf_runstate_hosts_write(r->name, v, n);
	free(skipped);
	free(v);
}

/* Denials since the last report, from the counters (the ring buffer is
 * monitor's: it has one reader). */
static void report_denials(struct cbpf_store *s, const char *name,
			   uint64_t last[CBPF_REASON__COUNT])
{
	uint64_t now[CBPF_REASON__COUNT], cg, total = 0;
	struct cbpf_policy p;
	char msg[512];
	int len = 0;

	if (cbpf_store_find_policy(s, name, &cg, &p) || cbpf_policy_counters(s, cg, now))
		return;
	for (int i = 0; i < CBPF_REASON__COUNT; i++) {
		uint64_t d = now[i] - last[i];

		if (d && len < (int)sizeof(msg) - 64)
			len += snprintf(msg + len, sizeof(msg) - (size_t)len, "%s%s %llu",
					total ? ", " : "", cbpf_reason_name(i),
					(unsigned long long)d);
		total += d;
		last[i] = now[i];
	}
	if (total)
		cbpf_info("policy '%s': %llu denied (%s); 'claude-bpf monitor %s' shows each",
			  name, (unsigned long long)total, msg, name);
}

static int sync_rules(struct cbpf_store *s, const struct cbpf_refresher *r, bool sweep)
{
	struct cbpf_ruleset rs;
	int err = cbpf_source_compile(&r->src, &rs);

	if (!err)
		err = cbpf_policy_sync(s, r->name, &rs, KEEP_STALE_NS, sweep);
	cbpf_ruleset_free(&rs);
	if (err < 0)
		cbpf_error("policy '%s': cannot update the rules: %s", r->name, strerror(-err));
	return err < 0 ? err : 0;
}

struct apply_ctx {
	struct cbpf_store *s;
	const struct cbpf_refresher *r;
	const char *what;
};

static int apply_rules(void *ctx, const struct cbpf_ruleset *rs)
{
	struct apply_ctx *a = ctx;

	return cbpf_policy_apply(a->s, a->r->name, a->r->mount, a->r->cgroup, rs, &a->what);
}

/* SIGHUP: the file again, whole or not at all. */
static void reload(struct cbpf_store *s, struct cbpf_refresher *r)
{
	struct cbpf_errors errs = {};
	struct cbpf_ruleset rs = {};
	struct cbpf_source src;
	struct apply_ctx a = { .s = s, .r = r, .what = "compile the rules" };
	int err = cbpf_lock_global(100);

	/* Busy for 2 s: a load or unload is at work, likely replacing us. */
	if (err < 0) {
		cbpf_error("policy '%s': not reloaded: %s", r->name, err == -EBUSY ?
			   "another load or unload is running; try again" : strerror(-err));
		return;
	}
	err = cbpf_source_open(&src, r->src.path, &errs);
	src.dns_forward = r->fwd != NULL;
	/* With a forwarder, a name that does not resolve now is resolved when
	 * the sandbox asks for it. */
	if (!err && (err = cbpf_source_resolve(&src, NULL, r->grace_s, &errs)) > 0) {
		err = r->fwd ? 0 : -EINVAL;
		if (!err)
			for (size_t i = 0; i < errs.n; i++)
				cbpf_info("%s (the DNS forwarder asks again when the sandbox does)",
					  errs.msg[i]);
		if (!err)
			cbpf_errors_free(&errs);
	}
	if (!err)
		err = cbpf_source_compile(&src, &rs);
	if (!err)
		err = cbpf_grants_keep(r->name, cbpf_boottime_ns(), &rs);
	if (!err) {
		struct cbpf_dnsfwd_policy pol = { .conf = &src.conf,
						  .hosts = (const char *const *)rs.hosts,
						  .nhosts = rs.nhosts };

		err = r->fwd ? cbpf_dnsfwd_reload(r->fwd, &pol, &rs, apply_rules, &a)
			     : apply_rules(&a, &rs);
		if (err)
			cbpf_errors_add(&errs, "cannot %s: %s", a.what,
					cbpf_policy_strerror(err, a.what));
	}
	for (size_t i = 0; i < errs.n; i++)
		cbpf_error("%s", errs.msg[i]);
	if (err) {
		cbpf_error("policy '%s': '%s' rejected; the loaded policy stays", r->name,
			   src.path ? src.path : r->src.path);
		cbpf_source_free(&src);
	} else {
		cbpf_info("policy '%s': reloaded '%s' (%zu rules)", r->name, src.path, rs.n);
		cbpf_source_free(&r->src);
		r->src = src;
	}
	cbpf_ruleset_free(&rs);
	cbpf_errors_free(&errs);
	cbpf_unlock_global();
}

/* An answer with addresses no rule is made of, that the one before did
 * not have: said once, as load says it. */
static void report_skipped(const struct cbpf_refresher *r, size_t i,
			   const char was[SKIPPED_LEN])
{
	char now[SKIPPED_LEN];

	skipped_list(&r->src.res[i], now);
	if (*now && strcmp(now, was))
		cbpf_info("%s:%u: '%s' now resolves to %s, which is not made a rule (a DNS "
			  "filter's answer for a blocked name?); write the address itself "
			  "to allow it", r->src.path, r->src.lines[i], r->src.hosts[i], now);
}

/* The forwarder, its names those of the rule set the load applied (the
 * file's, and what the forwarder before it had learned). */
static int start_forwarder(struct cbpf_store *s, const struct cbpf_refresher *r)
{
	struct cbpf_dnsfwd_policy pol = { .conf = &r->src.conf };
	struct cbpf_ruleset rs = { 0 };
	struct cbpf_policy p;
	uint64_t cg;
	int err = cbpf_store_find_policy(s, r->name, &cg, &p);

	if (!err)
		err = cbpf_policy_read_rules(s, p.id, &rs);
	pol.hosts = (const char *const *)rs.hosts;
	pol.nhosts = rs.nhosts;
	/* The maps name only the hosts some entry has: a file whose last name
	 * did not resolve has more. */
	if (rs.nhosts < r->src.nhosts) {
		pol.hosts = r->src.hosts;
		pol.nhosts = r->src.nhosts;
	}
	if (!err)
		err = cbpf_dnsfwd_start(r->fwd, r->name, cg, &pol,
					(const uint8_t (*)[16])r->src.servers, r->src.nservers,
					r->grace_s, r->dns_max);
	cbpf_ruleset_free(&rs);
	return err;
}

static int run_loop(void *ctx, int sfd)
{
	struct cbpf_refresher *r = ctx;
	uint64_t counts[CBPF_REASON__COUNT] = { 0 }, next_report = 0, next_sweep = 0;
	struct cbpf_store s;
	const char *what;
	size_t cap = 0;
	uint64_t *next_at = NULL;
	int *failures = NULL;
	char **last_error = NULL;
	char (*was_skipped)[SKIPPED_LEN] = NULL;   /* before this round's answer */
	bool *due = NULL;
	int err, rc = 1;

	if ((err = cbpf_store_open(&s, false, &what))) {
		cbpf_error("policy '%s': cannot %s: %s", r->name, what, strerror(-err));
		return 1;
	}
	if (r->fwd && (err = start_forwarder(&s, r))) {
		cbpf_error("policy '%s': cannot start the DNS forwarder: %s", r->name,
			   strerror(-err));
		goto out;
	}
	cbpf_info("policy '%s': keeping %zu hostnames of '%s' current", r->name,
		  r->src.nhosts, r->src.path);
	report_denials(&s, r->name, counts);   /* count from now on */
	for (;;) {
		uint64_t now = cbpf_boottime_ns(), wake = now + DENY_REPORT_NS;
		struct cbpf_errors errs = {};
		struct signalfd_siginfo si;
		struct pollfd pfd = { .fd = sfd, .events = POLLIN };
		size_t n = r->src.nhosts;
		bool any = false, sweep;

		if (n > cap) {   /* the first round, or a reload with more names */
			free(next_at); free(failures); free(due); free(was_skipped);
			if (last_error)
				for (size_t i = 0; i < cap; i++)
					free(last_error[i]);
			free(last_error);
			cap = n;
			next_at = calloc(cap, sizeof(*next_at));
			failures = calloc(cap, sizeof(*failures));
			due = calloc(cap, sizeof(*due));
			last_error = calloc(cap, sizeof(*last_error));
			was_skipped = calloc(cap, sizeof(*was_skipped));
			if (!next_at || !failures || !due || !last_error || !was_skipped) {
				cbpf_error("out of memory");
				goto out;
			}
			/* What load resolved, for status, before the first round. */
			write_hosts_state(r, failures, last_error);
		}
		for (size_t i = 0; i < n; i++) {
			if (!next_at[i])
				next_at[i] = cbpf_source_next_refresh(&r->src, i);
			if (next_at[i] < wake)
				wake = next_at[i];
		}
		if (poll(&pfd, 1, wake > now ? (int)((wake - now) / 1000000) + 1 : 0) > 0 &&
		    read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo != SIGHUP) {
				rc = 0;   /* enforcement stays; only unload removes it */
				goto out;
			}
			reload(&s, r);
			for (size_t i = 0; i < cap; i++) {
				free(last_error[i]);
				last_error[i] = NULL;
				next_at[i] = 0;
				failures[i] = 0;
			}
			continue;
		}
		now = cbpf_boottime_ns();
		if (now >= next_report) {
			report_denials(&s, r->name, counts);
			next_report = now + DENY_REPORT_NS;
		}
		for (size_t i = 0; i < n; i++)
			any |= due[i] = next_at[i] <= now;
		sweep = now >= next_sweep;
		/* The forwarder's expired addresses go with the sweep too, also
		 * when no name of the file is due. */
		if (!any && !(r->fwd && sweep))
			continue;
		for (size_t i = 0; i < n; i++)
			if (due[i])
				skipped_list(&r->src.res[i], was_skipped[i]);
		err = cbpf_source_resolve(&r->src, due, r->grace_s, &errs);
		if (err < 0) {
			cbpf_error("policy '%s': cannot resolve: %s", r->name, strerror(-err));
			cbpf_errors_free(&errs);
			continue;
		}
		for (size_t i = 0, e = 0; i < n; i++) {
			if (!due[i])
				continue;
			if (r->src.resolved_ns[i] >= now) {   /* answered this round */
				if (failures[i])
					cbpf_info("%s: '%s' resolves again", r->src.path, r->src.hosts[i]);
				report_skipped(r, i, was_skipped[i]);
				failures[i] = 0;
				free(last_error[i]);
				last_error[i] = NULL;
				next_at[i] = cbpf_source_next_refresh(&r->src, i);
				continue;
			}
			/* Failed: log once, keep the last good answer, back off. */
			if (!failures[i]++ && e < errs.n)
				cbpf_error("%s; keeping its last addresses until they expire",
					   errs.msg[e]);
			if (e < errs.n) {
				free(last_error[i]);
				last_error[i] = strdup(errs.msg[e]);
			}
			e++;
			next_at[i] = now + (uint64_t)(failures[i] < 6 ? 1 << failures[i] :
						      BACKOFF_MAX_S) * NS;
		}
		cbpf_errors_free(&errs);
		if (sync_rules(&s, r, sweep) == 0 && sweep)
			next_sweep = now + SWEEP_NS;
		write_hosts_state(r, failures, last_error);
	}
out:
	cbpf_dnsfwd_close(r->fwd);
	r->fwd = NULL;
	cbpf_runstate_file_remove(r->name, CBPF_RUNFILE_HOSTS);
	if (last_error)
		for (size_t i = 0; i < cap; i++)
			free(last_error[i]);
	free(last_error);
	free(next_at);
	free(failures);
	free(due);
	free(was_skipped);
	cbpf_store_close(&s);
	return rc;
}

int cbpf_refresher_start(struct cbpf_refresher *r, bool daemon)
{
	int rc = cbpf_daemon_run(r->name, "refresher", daemon, run_loop, r);

	cbpf_dnsfwd_close(r->fwd);  /* the caller's copy, when a daemon took it */
	r->fwd = NULL;
	cbpf_source_free(&r->src);
	return rc;
}
