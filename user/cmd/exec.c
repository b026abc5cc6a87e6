/* claude-bpf exec: run a command inside a policy, in a child cgroup of its
 * enforcement cgroup, without the capabilities that get around it, with
 * no_new_privs (sudo and setuid files cannot give them back) and the
 * system-call filter that refuses socket families no program sees. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <pwd.h>
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
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "core/cgroup.h"
#include "core/seccomp_filter.h"
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

/* Who the command runs as: --user, else the user who ran sudo, else us. */
static int target_user(const char *user, uid_t *uid, gid_t *gid, const char **name)
{
	const char *sudo_uid = getenv("SUDO_UID");
	struct passwd *pw;

	if (user)
		pw = getpwnam(user);
	else if (sudo_uid && getuid() == 0)
		pw = getpwuid((uid_t)strtoul(sudo_uid, NULL, 10));
	else
		pw = getpwuid(getuid());
	if (!pw)
		return -ENOENT;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	*name = pw->pw_name;
	return 0;
}

/* Runs in the child: every step must succeed or the command never starts. */
static void start_child(const char *cgroup, const char *netns, uid_t uid,
			gid_t gid, const char *user, char **cmd)
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

int cmd_exec(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "netns", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *name = "default", *user = NULL, *netns = NULL, *uname;
	char mount[PATH_MAX];
	struct cbpf_loaded loaded;
	enum cbpf_loaded_step step;
	char cg[sizeof(loaded.cgroup) + 32];
	uid_t uid;
	gid_t gid;
	int c, status, err;

	while ((c = getopt_long(argc, argv, "+p:u:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': name = optarg; break;
		case 'u': user = optarg; break;
		case 'N': netns = optarg; break;
		case 'h':
			printf("usage: claude-bpf exec [--policy NAME] [--user USER] "
			       "[--netns NS] -- CMD [ARG...]\n");
			return 0;
		default:
			return cbpf_usage_error("exec", "invalid option");
		}
	}
	if (optind >= argc)
		return cbpf_usage_error("exec", "no command given");
	if (netns && (strchr(netns, '/') || !strcmp(netns, "..") || !strcmp(netns, ".")))
		return cbpf_usage_error("exec", "invalid network namespace name '%s'", netns);
	if (cbpf_need_root("exec"))
		return 1;
	if (target_user(user, &uid, &gid, &uname)) {
		cbpf_error("unknown user '%s'", user ? user : "(invoking user)");
		return 1;
	}
	if (cbpf_cgroup2_mount(mount, sizeof(mount))) {
		cbpf_error(CBPF_MSG_NO_CGROUP2);
		return 1;
	}
	/* Refuse unless the policy is loaded, every program attached, on the
	 * cgroup it was loaded for. */
	if ((err = cbpf_loaded_find(name, mount, NULL, &loaded, &step))) {
		if (step == CBPF_LOADED_STORE && err != -ENOENT)
			cbpf_error("cannot %s: %s", loaded.store_what, strerror(-err));
		else
			cbpf_error("no policy '%s' is enforced%s; run: sudo claude-bpf load "
				   "--name %s FILE", name, cbpf_loaded_why(step), name);
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
		start_child(cg, netns, uid, gid, uname, &argv[optind]);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	/* Busy when the command left processes behind: they stay enforced. */
	rmdir(cg);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
