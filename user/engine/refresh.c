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
#include "base/log.h"
#include "base/names.h"
#include "base/os.h"
#include "base/runstate.h"
#include "core/grants.h"
#include "engine/daemon.h"
#include "engine/policy.h"
#include "engine/refresh.h"

#define NS 1000000000ull
#define BACKOFF_MAX_S   60           /* retry a failing name at least this often */
#define KEEP_STALE_NS   (600 * NS)   /* expired entries linger for monitor */
#define SWEEP_NS        (60 * NS)    /* and are looked for this often: that reads
                                      * the entries of every policy */
#define DENY_REPORT_NS  (10 * NS)    /* denials are logged at most this often */

#define SKIPPED_LEN 512

/* What the refresher keeps of hostname i of the file, beside its answer
 * (r->src.res[i], which also says why its last try failed). */
struct host {
	uint64_t next_at;            /* when to resolve it again; 0: as its answer says */
	int failures;                /* tries failed in a row */
	bool due;                    /* resolved this round */
	char skipped[SKIPPED_LEN];   /* its answer's addresses no rule is made of */
};

/* A refresher between rounds. */
struct loop {
	struct cbpf_refresher *r;
	struct cbpf_store s;
	struct host *hosts;          /* one for each of r->src's hostnames */
	size_t cap;
	uint64_t counts[CBPF_REASON__COUNT];   /* denials as last reported */
	uint64_t next_report, next_sweep;
};

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

#define FAILURE_LEN (CBPF_HOST_MAX + PATH_MAX + 128)

/* "FILE:LINE: cannot resolve 'NAME': REASON", of hostname i's last try. */
static const char *failure(const struct cbpf_source *src, size_t i, char buf[FAILURE_LEN])
{
	snprintf(buf, FAILURE_LEN, "%s:%u: cannot resolve '%s': %s", src->path, src->lines[i],
		 src->hosts[i], src->res[i].error ? src->res[i].error : "no address");
	return buf;
}

/* For `status`: each name's last answer and how the last try went. */
static void write_hosts(const struct loop *l)
{
	const struct cbpf_source *src = &l->r->src;
	struct cbpf_host_record *v = calloc(src->nhosts + 1, sizeof(*v));
	char (*msg)[FAILURE_LEN];
	size_t nfail = 0, k = 0;

	for (size_t i = 0; i < src->nhosts; i++)
		nfail += l->hosts[i].failures > 0;
	msg = calloc(nfail + 1, sizeof(*msg));
	if (v && msg) {   /* else status shows the one before */
		for (size_t i = 0; i < src->nhosts; i++)
			v[i] = (struct cbpf_host_record){
				.name = src->hosts[i],
				.answered_ns = src->resolved_ns[i],
				.ttl = src->res[i].ttl,
				.failures = l->hosts[i].failures,
				.skipped = l->hosts[i].skipped,
				.error = l->hosts[i].failures ? failure(src, i, msg[k++]) : NULL,
			};
		cbpf_runstate_hosts_write(l->r->name, v, src->nhosts);
	}
	free(msg);
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
	struct cbpf_step step;
};

static int apply_rules(void *ctx, const struct cbpf_ruleset *rs)
{
	struct apply_ctx *a = ctx;

	return cbpf_policy_apply(a->s, a->r->name, a->r->mount, a->r->cgroup, rs, &a->step);
}

/* SIGHUP: the file again, whole or not at all. */
static void reload(struct cbpf_store *s, struct cbpf_refresher *r)
{
	struct cbpf_errors errs = {};
	struct cbpf_ruleset rs = {};
	struct cbpf_source src;
	struct apply_ctx a = { .s = s, .r = r, .step = { CBPF_STEP_OTHER, "compile the rules" } };
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
			cbpf_errors_add(&errs, "cannot %s: %s", a.step.what,
					cbpf_policy_strerror(err, &a.step));
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

/* Host i's new answer: addresses no rule is made of that the one before
 * did not have are said once, as load says them. */
static void note_skipped(const struct cbpf_refresher *r, size_t i, char was[SKIPPED_LEN])
{
	char now[SKIPPED_LEN];

	skipped_list(&r->src.res[i], now);
	if (*now && strcmp(now, was))
		cbpf_info("%s:%u: '%s' now resolves to %s, which is not made a rule (a DNS "
			  "filter's answer for a blocked name?); write the address itself "
			  "to allow it", r->src.path, r->src.lines[i], r->src.hosts[i], now);
	memcpy(was, now, SKIPPED_LEN);
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

/* Every name afresh, as after a reload: due as its answer says. */
static void hosts_reset(struct loop *l)
{
	const struct cbpf_source *src = &l->r->src;

	for (size_t i = 0; i < l->cap; i++) {
		struct host *h = &l->hosts[i];

		*h = (struct host){ 0 };
		if (i < src->nhosts)
			skipped_list(&src->res[i], h->skipped);
	}
}

static void hosts_free(struct loop *l)
{
	free(l->hosts);
	l->hosts = NULL;
	l->cap = 0;
}

/* A host for each name of the file: the first round, or a reload with
 * more names (a reload reset them all already). 0 or -ENOMEM. */
static int hosts_fit(struct loop *l)
{
	size_t n = l->r->src.nhosts;

	if (n <= l->cap)
		return 0;
	hosts_free(l);
	if (!(l->hosts = calloc(n, sizeof(*l->hosts))))
		return -ENOMEM;
	l->cap = n;
	hosts_reset(l);
	/* What load resolved, for status, before the first round. */
	write_hosts(l);
	return 0;
}

/* Host i after this round's try: its new answer, or the failure said once,
 * its last good answer kept and the next try backed off. */
static void settle(struct loop *l, size_t i, uint64_t now)
{
	const struct cbpf_source *src = &l->r->src;
	struct host *h = &l->hosts[i];
	char msg[FAILURE_LEN];

	if (src->resolved_ns[i] >= now) {   /* answered this round */
		if (h->failures)
			cbpf_info("%s: '%s' resolves again", src->path, src->hosts[i]);
		note_skipped(l->r, i, h->skipped);
		h->failures = 0;
		h->next_at = cbpf_source_next_refresh(src, i);
		return;
	}
	if (!h->failures++)
		cbpf_error("%s; keeping its last addresses until they expire",
			   failure(src, i, msg));
	h->next_at = now + (uint64_t)(h->failures < 6 ? 1 << h->failures : BACKOFF_MAX_S) * NS;
}

/* When the loop should next wake: the next report of denials or the first
 * name due, whichever is sooner. */
static uint64_t next_wake(struct loop *l, uint64_t now)
{
	uint64_t wake = now + DENY_REPORT_NS;

	for (size_t i = 0; i < l->r->src.nhosts; i++) {
		struct host *h = &l->hosts[i];

		if (!h->next_at)
			h->next_at = cbpf_source_next_refresh(&l->r->src, i);
		if (h->next_at < wake)
			wake = h->next_at;
	}
	return wake;
}

/* One round at `now`: the denials reported when it is time, the names due
 * resolved, the rules written, and status's file. 0, or -ENOMEM. */
static int refresh_round(struct loop *l, uint64_t now)
{
	struct cbpf_refresher *r = l->r;
	struct cbpf_errors errs = {};
	size_t n = r->src.nhosts;
	bool any = false, sweep, *due;
	int err;

	if (now >= l->next_report) {
		report_denials(&l->s, r->name, l->counts);
		l->next_report = now + DENY_REPORT_NS;
	}
	for (size_t i = 0; i < n; i++)
		any |= l->hosts[i].due = l->hosts[i].next_at <= now;
	sweep = now >= l->next_sweep;
	/* The forwarder's expired addresses go with the sweep too, also
	 * when no name of the file is due. */
	if (!any && !(r->fwd && sweep))
		return 0;
	/* What cbpf_source_resolve takes: a flag for each name. */
	if (!(due = calloc(n + 1, sizeof(*due))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		due[i] = l->hosts[i].due;
	err = cbpf_source_resolve(&r->src, due, r->grace_s, &errs);
	free(due);
	if (err < 0) {
		cbpf_error("policy '%s': cannot resolve: %s", r->name, strerror(-err));
		cbpf_errors_free(&errs);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (l->hosts[i].due)
			settle(l, i, now);
	cbpf_errors_free(&errs);
	if (sync_rules(&l->s, r, sweep) == 0 && sweep)
		l->next_sweep = now + SWEEP_NS;
	write_hosts(l);
	return 0;
}

/* The signal that came before `wake`, or 0. */
static int wait_signal(int sfd, uint64_t now, uint64_t wake)
{
	struct pollfd pfd = { .fd = sfd, .events = POLLIN };
	struct signalfd_siginfo si;

	if (poll(&pfd, 1, wake > now ? (int)((wake - now) / 1000000) + 1 : 0) > 0 &&
	    read(sfd, &si, sizeof(si)) == sizeof(si))
		return (int)si.ssi_signo;
	return 0;
}

static int run_loop(void *ctx, int sfd)
{
	struct loop l = { .r = ctx };
	struct cbpf_refresher *r = l.r;
	const char *what;
	int err, rc = 1;

	if ((err = cbpf_store_open(&l.s, false, &what))) {
		cbpf_error("policy '%s': cannot %s: %s", r->name, what, strerror(-err));
		return 1;
	}
	if (r->fwd && (err = start_forwarder(&l.s, r))) {
		cbpf_error("policy '%s': cannot start the DNS forwarder: %s", r->name,
			   strerror(-err));
		goto out;
	}
	cbpf_info("policy '%s': keeping %zu hostnames of '%s' current", r->name,
		  r->src.nhosts, r->src.path);
	report_denials(&l.s, r->name, l.counts);   /* count from now on */
	for (;;) {
		uint64_t now = cbpf_boottime_ns();
		int sig;

		if (hosts_fit(&l)) {
			cbpf_error("out of memory");
			goto out;
		}
		sig = wait_signal(sfd, now, next_wake(&l, now));
		if (sig == SIGHUP) {
			reload(&l.s, r);
			hosts_reset(&l);
			if (!hosts_fit(&l))     /* status shows the new file's names */
				write_hosts(&l);
			continue;
		}
		if (sig) {
			rc = 0;   /* enforcement stays; only unload removes it */
			goto out;
		}
		if (refresh_round(&l, cbpf_boottime_ns())) {
			cbpf_error("out of memory");
			goto out;
		}
	}
out:
	cbpf_dnsfwd_close(r->fwd);
	r->fwd = NULL;
	cbpf_runstate_file_remove(r->name, CBPF_RUNFILE_HOSTS);
	hosts_free(&l);
	cbpf_store_close(&l.s);
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
