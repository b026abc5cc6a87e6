/* claude-bpf selftest: the leak matrix (leak.c) tried from a process inside
 * a policy's enforcement cgroup, with the policy's deny counters as the
 * witness; also the gate `run` and `load --user` pass a policy through.
 *
 * The probe runs as root with root's capabilities, more than any agent has:
 * the programs look at no capability, so what they block for root they
 * block for everyone, and the raw-socket rows show that sock_create itself
 * refuses raw sockets even to a holder of CAP_NET_RAW. It runs under the
 * system-call filter `exec` gives its commands (a container gets the same
 * rule from its profile): the socket-family rows show that filter refusing
 * every family no program sees, AF_PACKET among them. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "base/json.h"
#include "base/log.h"
#include "base/names.h"
#include "base/os.h"
#include "base/runstate.h"
#include "core/cgroup.h"
#include "core/leak.h"
#include "core/seccomp_filter.h"
#include "core/source.h"
#include "engine/loaded.h"
#include "engine/policy.h"
#include "engine/selftest.h"
#include "engine/store.h"

struct counts_arg {
	struct cbpf_store *s;
	uint64_t cgroup_id;
};

static int read_counts(void *arg, uint64_t counts[CBPF_REASON__COUNT])
{
	const struct counts_arg *c = arg;

	return cbpf_policy_counters(c->s, c->cgroup_id, counts);
}

/* rmdir, retried a moment: a cgroup can read as busy just after its last
 * process was reaped. */
static void remove_cgroup(const char *path)
{
	for (int i = 0; i < 50 && rmdir(path) && errno == EBUSY; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10000000L }, NULL);
}

int cbpf_selftest_run(const char *name, const struct cbpf_leak_target *targets,
		      size_t ntargets, uint16_t port, struct cbpf_selftest *out,
		      const char **what)
{
	static const char *const defaults[] = CBPF_LEAK_DEFAULT_TARGETS;
	struct cbpf_leak_plan_in in = { .port = port, .nested_cgroup = true };
	char mount[PATH_MAX], nested[PATH_MAX + 64];
	struct cbpf_ruleset rs = {};
	struct cbpf_leak_row *shared;
	struct cbpf_loaded loaded;
	enum cbpf_loaded_step step;
	struct cbpf_store s;
	int err, n, status;
	pid_t pid;

	memset(out, 0, sizeof(*out));
	*what = "find the cgroup2 mount";
	if (cbpf_cgroup2_mount(mount, sizeof(mount)))
		return -ENODEV;
	*what = "open the pinned programs and maps";
	if ((err = cbpf_store_open(&s, false, what)))
		return err;
	err = cbpf_loaded_find(name, mount, &s, &loaded, &step);
	*what = step == CBPF_LOADED_POLICY ? "find the policy" :
		step == CBPF_LOADED_ATTACHED ? "find the policy's programs attached" :
		"find the policy's cgroup";
	if (!err && (size_t)snprintf(out->cgroup, sizeof(out->cgroup), "%s",
				     loaded.cgroup) >= sizeof(out->cgroup))
		err = -ENAMETOOLONG;
	if (!err) {
		*what = "read the policy's rules";
		err = cbpf_policy_read_rules(&s, loaded.policy.id, &rs);
	}
	if (err)
		goto out;

	if (ntargets) {
		memcpy(in.targets, targets, ntargets * sizeof(*targets));
		in.ntargets = ntargets;
	} else {
		for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
			cbpf_leak_add_target(in.targets, &in.ntargets, defaults[i]);
	}
	/* Judged as the kernel judges them now: an expired rule is no rule. */
	cbpf_leak_plan_from_rules(&rs, cbpf_boottime_ns(), &in);
	in.dns_forward = loaded.policy.flags & CBPF_POLICY_DNS;
	cbpf_ruleset_free(&rs);
	n = cbpf_leak_plan(&in, out->rows, CBPF_LEAK_MAX_ROWS);
	if (n < 0) {
		*what = "plan the routes";
		err = n;
		goto out;
	}
	out->n = (size_t)n;

	/* The probe process: in a child cgroup of the enforcement cgroup, as
	 * exec places commands, and a cgroup below it for the nested rows. */
	snprintf(out->probe_cgroup, sizeof(out->probe_cgroup), "%s/selftest-%d",
		 out->cgroup, (int)getpid());
	snprintf(nested, sizeof(nested), "%s/nested", out->probe_cgroup);
	*what = "create the probe's cgroup";
	if ((err = cbpf_cgroup_create(nested)))
		goto out;
	shared = mmap(NULL, sizeof(out->rows), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	*what = "map shared memory";
	if (shared == MAP_FAILED) {
		err = -errno;
		goto rm;
	}
	memcpy(shared, out->rows, out->n * sizeof(*shared));
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		*what = "fork";
		err = -errno;
		goto unmap;
	}
	if (pid == 0) {
		struct counts_arg ca = { .s = &s, .cgroup_id = loaded.cgroup_id };
		struct cbpf_leak_ctx ctx = {
			.counts = read_counts, .arg = &ca,
			.reason_name = cbpf_reason_name, .nested_cgroup = nested,
		};

		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_IGN);
		if (cbpf_cgroup_join(out->probe_cgroup, 0))
			_exit(3);
		if (cbpf_seccomp_load())
			_exit(4);
		cbpf_leak_run(shared, out->n, &ctx);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		*what = !WIFEXITED(status) ? "run the probe" :
			WEXITSTATUS(status) == 3 ? "move the probe into its cgroup" :
			WEXITSTATUS(status) == 4 ? "load the system-call filter" : "run the probe";
		err = -ECHILD;
		goto unmap;
	}
	memcpy(out->rows, shared, out->n * sizeof(*shared));
	cbpf_leak_tally(out->rows, out->n, out->tally);
	/* Best effort: the state file exists for policies load recorded. */
	cbpf_runstate_set_selftest(name, out->tally[CBPF_LEAK_LEAKED] == 0,
				   out->tally[CBPF_LEAK_BLOCKED], out->tally[CBPF_LEAK_LEAKED],
				   out->tally[CBPF_LEAK_UNTESTED]);
unmap:
	munmap(shared, sizeof(out->rows));
rm:
	remove_cgroup(nested);
	remove_cgroup(out->probe_cgroup);
out:
	cbpf_ruleset_free(&rs);
	cbpf_store_close(&s);
	return err;
}

void cbpf_selftest_report_leaks(const char *name, const struct cbpf_selftest *st)
{
	char dest[80];

	for (size_t i = 0; i < st->n; i++) {
		const struct cbpf_leak_row *r = &st->rows[i];

		if (r->outcome != CBPF_LEAK_LEAKED)
			continue;
		cbpf_leak_format_dest(r, dest, sizeof(dest));
		cbpf_error("selftest of policy '%s': LEAKED %s to %s: %s", name,
			   cbpf_leak_route_name(r->route), dest, r->how);
	}
}
