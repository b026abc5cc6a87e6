/* claude-bpf exec: run a command inside a policy, in a child cgroup of its
 * enforcement cgroup, without the capabilities that get around it, with
 * no_new_privs (sudo and setuid files cannot give them back) and the
 * system-call filter that refuses socket families no program sees. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "base/log.h"
#include "core/cgroup.h"
#include "core/seccomp_filter.h"
#include "engine/exec.h"
#include "engine/loaded.h"

/* Raw sockets (CAP_NET_RAW) are refused by the programs already, and
 * AF_PACKET by the filter; the others would let the command reconfigure the
 * network, the cgroups or the programs. */
static const int dropped_caps[] = {
	CAP_NET_RAW, CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF,
};

static pid_t child;

static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

/* Runs in the child: every step must succeed or the command never starts. */
static void start_child(const char *cgroup, const char *netns, uid_t uid,
			gid_t gid, const char *user, char *const *cmd)
{
	int err;

	if ((err = cbpf_cgroup_join(cgroup, 0))) {
		cbpf_error("cannot join cgroup '%s': %s", cgroup, strerror(-err));
		_exit(126);
	}
	if (netns) {
		char path[PATH_MAX];
		int fd;

		snprintf(path, sizeof(path), "/run/netns/%s", netns);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET)) {
			cbpf_error("cannot enter network namespace '%s': %s", path,
				   strerror(errno));
			_exit(126);
		}
		close(fd);
	}
	for (size_t i = 0; i < sizeof(dropped_caps) / sizeof(dropped_caps[0]); i++)
		if (prctl(PR_CAPBSET_DROP, dropped_caps[i], 0, 0, 0) && errno != EINVAL) {
			cbpf_error("cannot drop capability %d: %s", dropped_caps[i],
				   strerror(errno));
			_exit(126);
		}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL) {
		cbpf_error("cannot clear ambient capabilities: %s", strerror(errno));
		_exit(126);
	}
	if (uid != getuid() || uid != geteuid()) {
		if (initgroups(user, gid) || setgid(gid) || setuid(uid)) {
			cbpf_error("cannot switch to user '%s': %s", user, strerror(errno));
			_exit(126);
		}
	}
	/* Nothing of ours reaches the command but stdin, stdout and stderr. */
	if (syscall(SYS_close_range, 3U, ~0U, 0U)) {
		for (int fd = 3; fd < 65536; fd++)
			close(fd);
	}
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if ((err = cbpf_seccomp_load())) {
		cbpf_error("cannot load the system-call filter: %s", strerror(-err));
		_exit(126);
	}
	execvp(cmd[0], cmd);
	err = errno;
	cbpf_error("cannot run '%s': %s", cmd[0], strerror(err));
	_exit(err == ENOENT ? 127 : 126);
}

int cbpf_exec(const struct cbpf_exec_opts *o)
{
	char mount[PATH_MAX];
	struct cbpf_loaded loaded;
	enum cbpf_loaded_step step;
	char cg[sizeof(loaded.cgroup) + 32];
	int status, err;

	if (cbpf_cgroup2_mount(mount, sizeof(mount))) {
		cbpf_error(CBPF_MSG_NO_CGROUP2);
		return 1;
	}
	/* Refuse unless the policy is loaded, every program attached, on the
	 * cgroup it was loaded for. */
	if ((err = cbpf_loaded_find(o->name, mount, NULL, &loaded, &step))) {
		if (step == CBPF_LOADED_STORE && err != -ENOENT)
			cbpf_error("cannot %s: %s", loaded.store_what, strerror(-err));
		else
			cbpf_error("no policy '%s' is enforced%s; run: sudo claude-bpf load "
				   "--name %s FILE", o->name, cbpf_loaded_why(step), o->name);
		return 1;
	}
	snprintf(cg, sizeof(cg), "%s/exec-%d", loaded.cgroup, (int)getpid());
	if ((err = cbpf_cgroup_create(cg))) {
		cbpf_error("cannot create cgroup '%s': %s", cg, strerror(-err));
		return 1;
	}

	signal(SIGINT, forward);
	signal(SIGTERM, forward);
	signal(SIGQUIT, forward);
	signal(SIGHUP, forward);
	fflush(NULL);
	child = fork();
	if (child < 0) {
		cbpf_error("cannot fork: %s", strerror(errno));
		rmdir(cg);
		return 1;
	}
	if (child == 0)
		start_child(cg, o->netns, o->uid, o->gid, o->user, o->argv);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	/* Busy when the command left processes behind: they stay enforced. */
	rmdir(cg);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
