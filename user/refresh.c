/* The refresher of one policy: re-resolves each hostname before its TTL
 * runs out, writes only what changed, keeps the last good answer while DNS
 * fails, re-reads the file on SIGHUP, and reports denials from the
 * counters. One per policy, held by a lock on its pid file. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "commands.h"
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

static void pid_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, CBPF_RUNSTATE_DIR "/%s.pid", name);
}

static int global_lock = -1;

/* tries: 0 waits as long as it takes, else that many 20 ms attempts. */
static int lock_global(int tries)
{
	int fd;

	if (mkdir(CBPF_RUNSTATE_DIR, 0755) && errno != EEXIST)
		return -errno;
	fd = open(CBPF_RUNSTATE_DIR "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (int i = 0; flock(fd, tries ? LOCK_EX | LOCK_NB : LOCK_EX); i++) {
		if (errno != EWOULDBLOCK || i + 1 >= tries) {
			int err = errno == EWOULDBLOCK ? -EBUSY : -errno;

			close(fd);
			return err;
		}
		usleep(20000);
	}
	return global_lock = fd;
}

int cbpf_lock_global(void)
{
	return lock_global(0);
}

static void unlock_global(void)
{
	if (global_lock >= 0)
		close(global_lock);
	global_lock = -1;
}

int cbpf_refresher_stop(const char *name)
{
	char path[256];
	long pid = 0;
	FILE *f;
	int fd;

	pid_path(path, sizeof(path), name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		goto gone;   /* a pid file nobody holds: a refresher that died */
	f = fdopen(dup(fd), "r");
	if (f) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	if (pid > 1)
		kill((pid_t)pid, SIGTERM);
	/* A refresher waiting on a dead DNS server answers late: 10 s, then
	 * it is killed (what it holds is in the kernel already). */
	for (int i = 0; i < 750; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			goto gone;
		if (i == 500 && pid > 1)
			kill((pid_t)pid, SIGKILL);
		usleep(20000);
	}
	close(fd);
	return -ETIMEDOUT;
gone:
	unlink(path);
	close(fd);
	return 0;
}

/* Takes the policy's pid file; fails when another refresher holds it. */
static int take_pid_file(const char *name)
{
	char path[256], buf[32];
	int fd, n;

	if (mkdir(CBPF_RUNSTATE_DIR, 0755) && errno != EEXIST)
		return -errno;
	pid_path(path, sizeof(path), name);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		return -EBUSY;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, buf, (size_t)n, 0) != n) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* For `status`: each name's last answer and how the last try went. */
static void write_hosts_state(const struct cbpf_refresher *r, const int *failures,
			      char *const *last_error)
{
	char path[256], tmp[272];
	FILE *f;

	snprintf(path, sizeof(path), CBPF_RUNSTATE_DIR "/%s.hosts", r->name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return;
	for (size_t i = 0; i < r->src.nhosts; i++) {
		char skipped[512] = "-", text[64];
		size_t used = 0;

		/* The answers no rule was made of (cbpf_answer_skipped). */
		for (size_t j = 0; j < r->src.res[i].n; j++) {
			if (!cbpf_answer_skipped(r->src.res[i].addrs[j]))
				continue;
			cbpf_format_prefix(r->src.res[i].addrs[j], 128, text, sizeof(text));
			used += (size_t)snprintf(skipped + used, used < sizeof(skipped) ?
						 sizeof(skipped) - used : 0, "%s%s",
						 used ? "," : "", text);
		}
		fprintf(f, "%s\t%llu\t%u\t%d\t%s\t%s\n", r->src.hosts[i],
			(unsigned long long)r->src.resolved_ns[i], r->src.res[i].ttl,
			failures[i], skipped, last_error[i] ? last_error[i] : "");
	}
	if (fclose(f) == 0)
		rename(tmp, path);
	else
		unlink(tmp);
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

/* SIGHUP: the file again, whole or not at all. */
static void reload(struct cbpf_store *s, struct cbpf_refresher *r)
{
	struct cbpf_errors errs = {};
	struct cbpf_ruleset rs = {};
	struct cbpf_source src;
	const char *what;
	int err = lock_global(100);

	/* Busy for 2 s: a load or unload is at work, likely replacing us. */
	if (err < 0) {
		cbpf_error("policy '%s': not reloaded: %s", r->name, err == -EBUSY ?
			   "another load or unload is running; try again" : strerror(-err));
		return;
	}
	err = cbpf_source_open(&src, r->src.path, &errs);

	if (!err && (err = cbpf_source_resolve(&src, NULL, r->grace_s, &errs)) > 0)
		err = -EINVAL;
	if (!err)
		err = cbpf_source_compile(&src, &rs);
	if (!err && (err = cbpf_policy_apply(s, r->name, r->mount, r->cgroup, &rs, &what)))
		cbpf_errors_add(&errs, "cannot %s: %s", what, cbpf_policy_strerror(err, what));
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
	unlock_global();
}

static int run_loop(struct cbpf_refresher *r, int sfd)
{
	uint64_t counts[CBPF_REASON__COUNT] = { 0 }, next_report = 0, next_sweep = 0;
	struct cbpf_store s;
	const char *what;
	size_t cap = 0;
	uint64_t *next_at = NULL;
	int *failures = NULL;
	char **last_error = NULL;
	bool *due = NULL;
	int err, rc = 1;

	if ((err = cbpf_store_open(&s, false, &what))) {
		cbpf_error("policy '%s': cannot %s: %s", r->name, what, strerror(-err));
		return 1;
	}
	report_denials(&s, r->name, counts);   /* count from now on */
	for (;;) {
		uint64_t now = cbpf_boottime_ns(), wake = now + DENY_REPORT_NS;
		struct cbpf_errors errs = {};
		struct signalfd_siginfo si;
		struct pollfd pfd = { .fd = sfd, .events = POLLIN };
		size_t n = r->src.nhosts;
		bool any = false, sweep;

		if (n > cap) {   /* the first round, or a reload with more names */
			free(next_at); free(failures); free(due);
			if (last_error)
				for (size_t i = 0; i < cap; i++)
					free(last_error[i]);
			free(last_error);
			cap = n;
			next_at = calloc(cap, sizeof(*next_at));
			failures = calloc(cap, sizeof(*failures));
			due = calloc(cap, sizeof(*due));
			last_error = calloc(cap, sizeof(*last_error));
			if (!next_at || !failures || !due || !last_error) {
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
		if (!any)
			continue;
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
		sweep = now >= next_sweep;
		if (sync_rules(&s, r, sweep) == 0 && sweep)
			next_sweep = now + SWEEP_NS;
		write_hosts_state(r, failures, last_error);
	}
out:
	if (last_error)
		for (size_t i = 0; i < cap; i++)
			free(last_error[i]);
	free(last_error);
	free(next_at);
	free(failures);
	free(due);
	cbpf_store_close(&s);
	return rc;
}

int cbpf_refresher_start(struct cbpf_refresher *r, bool daemon)
{
	char path[256];
	sigset_t mask;
	int pidfd, sfd, rc;

	if (daemon) {
		pid_t pid = fork();
		int status;

		if (pid < 0)
			return -errno;
		if (pid > 0) {   /* load goes on; the refresher is the grandchild */
			waitpid(pid, &status, 0);
			cbpf_source_free(&r->src);
			return 0;
		}
		if (setsid() < 0 || (pid = fork()) < 0)
			_exit(1);
		if (pid > 0)
			_exit(0);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		if (chdir("/"))
			_exit(1);
		cbpf_log_to_syslog("claude-bpf");
	}
	/* The refresher outlives load: it must not keep load's lock. */
	unlock_global();
	pidfd = take_pid_file(r->name);
	if (pidfd < 0) {
		cbpf_error("policy '%s': %s", r->name, pidfd == -EBUSY ?
			   "another refresher runs for it" : strerror(-pidfd));
		if (daemon)
			_exit(1);
		return 1;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		cbpf_error("policy '%s': cannot watch signals: %s", r->name, strerror(errno));
		rc = 1;
	} else {
		cbpf_info("policy '%s': refresher started for %zu hostnames of '%s'",
			  r->name, r->src.nhosts, r->src.path);
		rc = run_loop(r, sfd);
		close(sfd);
	}
	pid_path(path, sizeof(path), r->name);
	unlink(path);
	snprintf(path, sizeof(path), CBPF_RUNSTATE_DIR "/%s.hosts", r->name);
	unlink(path);
	close(pidfd);
	cbpf_source_free(&r->src);
	if (daemon)
		_exit(rc);
	return rc;
}
