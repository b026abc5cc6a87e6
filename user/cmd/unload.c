/* claude-bpf unload: one policy, or all of them. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "base/log.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "engine/load.h"

/* The names of the loaded policies, for --all. */
struct names {
	char (*v)[CBPF_NAME_MAX];
	size_t n;
};

static int add_name(uint64_t cgroup_id, const struct cbpf_policy *p, void *arg)
{
	struct names *l = arg;

	(void)cgroup_id;
	if (l->n == CBPF_MAX_POLICIES)
		return 1;
	snprintf(l->v[l->n++], CBPF_NAME_MAX, "%s", p->name);
	return 0;
}

int cmd_unload(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool all = false, force = false;
	char mount[PATH_MAX], names[CBPF_MAX_POLICIES][CBPF_NAME_MAX];
	size_t n = 0;
	struct cbpf_store s;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "afh", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = true; break;
		case 'f': force = true; break;
		case 'h':
			printf("usage: claude-bpf unload [--force] (NAME | --all)\n");
			return 0;
		default:
			return cbpf_usage_error("unload", "invalid option");
		}
	}
	if (all && optind < argc)
		return cbpf_usage_error("unload", "give NAME or --all, not both");
	if (argc - optind > 1)
		return cbpf_usage_error("unload", "unexpected argument '%s'", argv[optind + 1]);
	if (!all)
		snprintf(names[n++], CBPF_NAME_MAX, "%s",
			 optind < argc ? argv[optind] : "default");
	if (cbpf_need_root("unload"))
		return 1;
	if (cbpf_lock_or_report())
		return 1;
	if (cbpf_cgroup2_mount(mount, sizeof(mount))) {
		cbpf_error(CBPF_MSG_NO_CGROUP2);
		return 1;
	}
	if (cbpf_load_open_store(&s, false)) {
		if (all)
			return 0;   /* nothing loaded: nothing to do */
		cbpf_error("no policy '%s' is loaded", names[0]);
		return 1;
	}
	if (all) {
		struct names list = { names, 0 };

		cbpf_store_each_policy(&s, add_name, &list);
		n = list.n;
	}
	for (size_t i = 0; i < n; i++) {
		struct cbpf_step step;
		int nprocs, err = cbpf_unload(&s, names[i], mount, force, &nprocs, &step);

		if (err == -ENOENT && step.id == CBPF_STEP_FIND)
			cbpf_error("no policy '%s' is loaded", names[i]);
		else if (err == -EBUSY && step.id == CBPF_STEP_BUSY)
			cbpf_error("policy '%s' still has %d process%s in its cgroup; stop "
				   "them, or use --force to kill them", names[i], nprocs,
				   nprocs == 1 ? "" : "es");
		else if (err)
			cbpf_error("cannot %s of policy '%s': %s", step.what, names[i],
				   strerror(-err));
		else
			printf("policy '%s' unloaded\n", names[i]);
		rc |= err ? 1 : 0;
	}
	/* With no policy left, remove_if_unused closed the store already. */
	if (s.policies_fd >= 0)
		cbpf_store_close(&s);
	return rc;
}

