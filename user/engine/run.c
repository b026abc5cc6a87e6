/* claude-bpf run: Claude Code in a podman container below the policy's
 * enforcement cgroup. The container is created and initialised, its place
 * in the cgroup tree checked, and only then started: the agent never runs
 * unenforced. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "base/log.h"
#include "base/runstate.h"
#include "core/agent_home.h"
#include "core/cgroup.h"
#include "core/guard.h"
#include "core/podman.h"
#include "core/seccomp_filter.h"
#include "engine/dnsfwd.h"
#include "engine/loaded.h"
#include "engine/podman_host.h"
#include "engine/run.h"
#include "engine/selftest.h"

/* Passed through by name when set, so secrets stay off the command line. */
static const char *const pass_env[] = {
	"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL",
	"ANTHROPIC_MODEL", "CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX",
	"TERM", "COLORTERM", "LANG", "NO_COLOR",
};

static void remove_container(const char *podman, const char *id)
{
	char *argv[] = { (char *)podman, "rm", "--force", "--ignore", (char *)id, NULL };
	char out[256];

	cbpf_capture(argv, out, sizeof(out));
}

/* Whether process `pid` sits in `cgroup` (absolute) or below it. */
static bool pid_inside(pid_t pid, const char *mount, const char *cgroup)
{
	char file[64], line[4096];
	const char *rel = cgroup + strlen(mount);
	size_t n = strlen(rel);
	bool ok = false;
	FILE *f;

	snprintf(file, sizeof(file), "/proc/%d/cgroup", (int)pid);
	f = fopen(file, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "0::", 3))
			ok = !strncmp(line + 3, rel, n) && line[3 + n] == '/';
	}
	fclose(f);
	return ok;
}

/* Where the container's seccomp profile is written: root's run folder,
 * else the user's ($XDG_RUNTIME_DIR, private to the user). */
static int profile_path(char *path, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char own[64];
	struct stat st;

	if (geteuid() == 0)
		return cbpf_runstate_path(path, len, NULL, CBPF_RUNFILE_SECCOMP);
	snprintf(own, sizeof(own), "/run/user/%u", (unsigned)geteuid());
	if (!xdg || !*xdg)
		xdg = own;
	/* Nobody else may replace the profile between writing and podman
	 * reading it. */
	if (stat(xdg, &st) || st.st_uid != geteuid() || (st.st_mode & 0077))
		return -EACCES;
	return (size_t)snprintf(path, len, "%s/claude-bpf/seccomp.json", xdg) < len ? 0 : -ENAMETOOLONG;
}

/* Whether the namespace `ns` of process `pid` differs from ours: 1, 0, or
 * -1 when this process may not look (not root, and the container's first
 * process is not yet dumpable): then podman's record has to do. */
static int own_namespace(pid_t pid, const char *ns)
{
	char a[64], b[64];
	struct stat sa, sb;

	snprintf(a, sizeof(a), "/proc/%d/ns/%s", (int)pid, ns);
	snprintf(b, sizeof(b), "/proc/self/ns/%s", ns);
	if (stat(a, &sa) || stat(b, &sb))
		return geteuid() != 0 && (errno == EACCES || errno == EPERM) ? -1 : 0;
	return sa.st_ino != sb.st_ino || sa.st_dev != sb.st_dev;
}

/* After `podman init`: the container is what the create command asked, in
 * podman's record and in the kernel (its init process has a network and a
 * cgroup namespace of its own, and sits in the enforcement cgroup `enf`
 * unless there is no policy). 0, or 1 with the error printed. */
static int check_container(const char *id, const struct cbpf_run *r, const char *mount,
			   const char *enf)
{
	char *init_argv[] = { "podman", "init", (char *)id, NULL };
	static const char format[] = "{{.State.Pid}}|" CBPF_PODMAN_INSPECT;
	char *insp_argv[] = { "podman", "inspect", "--format", (char *)format, (char *)id, NULL };
	char out[8192], *rest;
	const char *what = "podman init";
	bool outside = false;
	long pid = 0;
	int rc;

	rc = cbpf_capture(init_argv, out, sizeof(out));
	if (rc == 0) {
		what = "podman inspect";
		rc = cbpf_capture(insp_argv, out, sizeof(out));
	}
	if (rc == 0) {
		pid = strtol(out, &rest, 10);
		if (pid <= 0 || *rest != '|' ||
		    cbpf_podman_check(rest + 1, r->seccomp, r->no_internet, &what))
			rc = -1;
		else if (!own_namespace((pid_t)pid, "net"))
			what = "a network namespace of its own (the kernel's view)", rc = -1;
		else if (!own_namespace((pid_t)pid, "cgroup"))
			what = "a cgroup namespace of its own (the kernel's view)", rc = -1;
		else if (enf && !pid_inside((pid_t)pid, mount, enf))
			outside = true, rc = -1;
	}
	if (rc == 0)
		return 0;
	remove_container("podman", id);
	if (outside)
		cbpf_error("the container is not inside the enforcement cgroup '%s'; it was "
			   "removed and nothing was started", enf);
	else
		cbpf_error("the container podman made differs from what claude-bpf asked: %s "
			   "(a containers.conf setting?); it was removed and nothing was "
			   "started", what);
	return 1;
}

/* From here on, file-system calls act as `uid`:`gid` (setfsuid also drops
 * the capabilities that override file permissions), so that nothing the
 * user could not do is done in the user's folders; as_user(geteuid(),
 * getegid()) returns. Nothing to do when this is not root. */
static void as_user(uid_t uid, gid_t gid)
{
	if (geteuid() != 0)
		return;
	setfsgid(gid);
	setfsuid(uid);
}

static pid_t attached;

static void forward(int sig)
{
	if (attached > 0)
		kill(attached, sig);
}

/* podman start --attach, waited for: its exit status (the container's).
 * As system() does, the terminal's ^C and ^\ go to podman, which passes
 * them in; SIGTERM and SIGHUP sent to this process are passed on. */
static int attach(const char *id)
{
	char *argv[] = { "podman", "start", "--attach", "--interactive", (char *)id, NULL };
	struct sigaction ign = { .sa_handler = SIG_IGN }, fwd = { .sa_handler = forward };
	struct sigaction old[4];
	static const int sigs[4] = { SIGINT, SIGQUIT, SIGTERM, SIGHUP };
	int status = 0;

	for (int i = 0; i < 4; i++)
		sigaction(sigs[i], i < 2 ? &ign : &fwd, &old[i]);
	fflush(NULL);
	attached = fork();
	if (attached == 0) {
		for (int i = 0; i < 4; i++)
			sigaction(sigs[i], &old[i], NULL);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (attached > 0 && waitpid(attached, &status, 0) < 0 && errno == EINTR)
		;
	for (int i = 0; i < 4; i++)
		sigaction(sigs[i], &old[i], NULL);
	if (attached < 0) {
		cbpf_error("cannot fork: %s", strerror(errno));
		return 1;
	}
	attached = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		cbpf_error("cannot run podman start");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Creates the container, checks it, starts it and waits for it: its exit
 * status, or 1 when it never started. */
static int launch(const struct cbpf_run *r, char **argv, const char *mount, const char *enf)
{
	char id[256];
	int rc = cbpf_capture(argv, id, sizeof(id));

	if (rc != 0 || !*id || strchr(id, '\n')) {
		cbpf_error("podman could not create the container (exit %d)", rc);
		return 1;
	}
	/* Created, not started: check it first. */
	if (check_container(id, r, mount, enf))
		return 1;
	rc = attach(id);
	/* Normally gone already (--rm); not when start itself failed. */
	remove_container("podman", id);
	return rc;
}

/* The leak gate: as root the selftest runs now; an ordinary user (bpf()
 * and cgroup moves need root) relies on the result root recorded in the
 * policy's state file (load --user and every selftest write it). Returns 0
 * when the agent may start. */
static int selftest_gate(const char *name, const struct cbpf_leak_target *targets,
			 size_t ntargets)
{
	struct cbpf_selftest *st;
	const char *what;
	bool passed;
	int err;

	if (geteuid() != 0) {
		err = cbpf_runstate_get_selftest(name, &passed);
		if (err == -ENODATA || err == -ENOENT) {
			cbpf_error("no selftest of policy '%s' is recorded; run: sudo claude-bpf "
				   "selftest --policy %s (or start with --skip-selftest)", name, name);
			return 1;
		}
		if (err) {
			cbpf_error("cannot read the selftest of policy '%s' in " CBPF_RUNSTATE_DIR
				   ": %s", name, strerror(-err));
			return 1;
		}
		if (!passed) {
			cbpf_error("the last selftest of policy '%s' found a leak; nothing was "
				   "started (sudo claude-bpf selftest --policy %s shows every "
				   "route; --skip-selftest starts anyway)", name, name);
			return 1;
		}
		return 0;
	}
	if (!(st = calloc(1, sizeof(*st)))) {
		cbpf_error("out of memory");
		return 1;
	}
	err = cbpf_selftest_run(name, targets, ntargets, CBPF_LEAK_DEFAULT_PORT, st, &what);
	if (err)
		cbpf_error("cannot run the selftest of policy '%s': cannot %s: %s; nothing "
			   "was started (--skip-selftest starts anyway)", name, what,
			   strerror(-err));
	else if (st->tally[CBPF_LEAK_LEAKED]) {
		cbpf_selftest_report_leaks(name, st);
		cbpf_error("policy '%s' leaks: nothing was started (sudo claude-bpf selftest "
			   "--policy %s shows every route; --skip-selftest starts anyway)",
			   name, name);
		err = 1;
	}
	free(st);
	return err ? 1 : 0;
}

int cbpf_run(const struct cbpf_run_opts *o)
{
	struct cbpf_run r = {
		.podman = "podman", .image = o->image ? o->image : CBPF_DEFAULT_IMAGE,
		.no_internet = o->no_internet, .shell = o->shell, .memory = o->memory,
		.cpus = o->cpus, .args = o->args, .nargs = o->nargs,
	};
	const char *name = o->name, *bad, *why, *env[sizeof(pass_env) / sizeof(pass_env[0]) + 1];
	char here[PATH_MAX], cwd[PATH_MAX], home[PATH_MAX], git[PATH_MAX + 8], mount[PATH_MAX];
	char parent[PATH_MAX], profile[PATH_MAX], msg[512];
	bool dry = o->dry_run != NULL, systemd;
	char agent_home[PATH_MAX], quarantine[PATH_MAX], what[PATH_MAX];
	struct cbpf_guards guards = { .n = 0 };
	struct cbpf_dnsfwd_state dns;
	struct cbpf_loaded loaded;
	enum cbpf_loaded_step step;
	struct cbpf_argv a;
	struct passwd *pw;
	const char *sudo_uid = getenv("SUDO_UID");
	size_t nenv = 0;
	struct stat st;
	int err, rc;

	/* Ask podman how it places containers; do not guess. */
	rc = cbpf_podman_host(&systemd, &r.rootless);
	if (rc) {
		cbpf_podman_host_error(rc);
		return 1;
	}

	if (!getcwd(here, sizeof(here)) || !realpath(here, cwd)) {
		cbpf_error("cannot resolve the current directory: %s", strerror(errno));
		return 1;
	}
	r.cwd = cwd;
	/* The agent runs as the user, also through sudo. Root itself: as the
	 * tree's owner, never as root, whose files (a setuid bit set inside)
	 * would be root's on the host's disk. */
	if (getuid() == 0 && !sudo_uid) {
		if (stat(cwd, &st) || st.st_uid == 0) {
			cbpf_error("run as root starts the agent as the owner of the current "
				   "directory, and root owns '%s': the agent must never own "
				   "files as root; run it as a user (sudo -u USER claude-bpf "
				   "run, or sudo claude-bpf run from a user's shell)", cwd);
			return 1;
		}
		pw = getpwuid(st.st_uid);
	} else {
		pw = getpwuid(sudo_uid && getuid() == 0 ? (uid_t)strtoul(sudo_uid, NULL, 10) :
			      getuid());
	}
	if (!pw) {
		cbpf_error("cannot find the user the agent runs as in the password database");
		return 1;
	}
	r.uid = pw->pw_uid;
	r.gid = pw->pw_gid;
	/* As root, that user's home; else HOME as it is. */
	snprintf(home, sizeof(home), "%s", getuid() == 0 || !getenv("HOME") ?
		 pw->pw_dir : getenv("HOME"));
	r.home = home;
	if ((why = cbpf_run_refuse_cwd(cwd, home))) {
		cbpf_error("run does not start in %s (%s): the agent could replace what "
			   "the host runs or mounts next time; cd to a project", cwd, why);
		return 1;
	}
	snprintf(git, sizeof(git), "%s/git", home);
	r.git_dir = stat(git, &st) == 0 && S_ISDIR(st.st_mode);
	r.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	for (size_t i = 0; i < sizeof(pass_env) / sizeof(pass_env[0]); i++)
		if (getenv(pass_env[i]))
			env[nenv++] = pass_env[i];
	env[nenv] = NULL;
	r.env = env;


	if (!r.no_internet) {
		if (cbpf_cgroup2_mount(mount, sizeof(mount))) {
			cbpf_error(CBPF_MSG_NO_CGROUP2);
			return 1;
		}
		if (cbpf_loaded_find(name, mount, NULL, &loaded, &step)) {
			cbpf_error("no policy '%s' is enforced%s; run: sudo claude-bpf load "
				   "--name %s allowed-hosts.conf", name, cbpf_loaded_why(step),
				   name);
			return 1;
		}
		err = cbpf_podman_cgroup_parent(mount, loaded.cgroup, systemd ? CBPF_CGM_SYSTEMD :
						CBPF_CGM_CGROUPFS, r.rootless, r.uid,
						parent, sizeof(parent));
		if (err) {
			cbpf_error("policy '%s' enforces cgroup '%s', where %s podman with "
				   "the %s cgroup manager cannot place containers; run: sudo "
				   "claude-bpf load --name %s --cgroup-manager %s%s%s FILE",
				   name, loaded.cgroup, r.rootless ? "rootless" : "rootful",
				   systemd ? "systemd" : "cgroupfs", name,
				   systemd ? "systemd" : "cgroupfs",
				   r.rootless ? " --user " : "", r.rootless ? pw->pw_name : "");
			return 1;
		}
		r.cgroup_parent = parent;
		/* A policy with a forwarder: the container's resolver is it. */
		if (cbpf_dnsfwd_state_read(name, &dns) == 0 && dns.bridge[0])
			r.dns = dns.bridge;
		if (o->skip_selftest && !dry)
			fprintf(stderr, "claude-bpf: --skip-selftest: policy '%s' was not "
				"checked for leaks\n", name);
		else if (!dry && selftest_gate(name, o->targets, o->ntargets))
			return 1;
	}

	if (profile_path(profile, sizeof(profile))) {
		cbpf_error("no private folder for the container's seccomp profile: %s must "
			   "be a folder of yours, mode 0700 (set XDG_RUNTIME_DIR)",
			   getenv("XDG_RUNTIME_DIR") ? getenv("XDG_RUNTIME_DIR") : "/run/user/UID");
		return 1;
	}
	if (cbpf_seccomp_podman_write(profile, msg, sizeof(msg))) {
		cbpf_error("%s; nothing was started", msg);
		return 1;
	}
	r.seccomp = profile;

	/* The agent's home and the tree's guards, made as the user. */
	if (cbpf_agent_home_paths(home, getuid() ? getenv("XDG_STATE_HOME") : NULL, agent_home,
				  quarantine, sizeof(agent_home))) {
		cbpf_error("the path of the agent's home is too long");
		return 1;
	}
	r.agent_home = agent_home;
	as_user(r.uid, r.gid);
	err = dry ? 0 : cbpf_agent_home_prepare(home, agent_home, what, sizeof(what));
	if (!err && !o->allow_config_writes)
		err = cbpf_guard_prepare(cwd, !dry, &guards, what, sizeof(what));
	as_user(geteuid(), getegid());
	if (err) {
		cbpf_error(err == -ELOOP ? "%s is a symbolic link, which claude-bpf cannot "
			   "hold: the agent could replace it (make it a folder or file, or "
			   "start with --allow-config-writes)%s" : "cannot prepare %s: %s",
			   what, err == -ELOOP ? "" : strerror(-err));
		return 1;
	}
	if (o->allow_config_writes)
		fprintf(stderr, "claude-bpf: --allow-config-writes: the agent may change git "
			"hooks and config, .claude, .mcp.json and editor settings in %s, which "
			"the host runs later\n", cwd);
	else
		r.guards = &guards;

	err = cbpf_podman_create_argv(&r, &a, &bad);
	if (err) {
		cbpf_error(err == -EINVAL ? "invalid %s for podman" : "out of memory%s",
			   err == -EINVAL ? bad : "");
		rc = err == -EINVAL ? 2 /* as a usage error */ : 1;
	} else if (dry) {
		cbpf_argv_print(&a, o->dry_run);
		rc = 0;
	} else {
		rc = launch(&r, a.v, mount, r.no_internet ? NULL : loaded.cgroup);
	}
	cbpf_argv_free(&a);
	as_user(r.uid, r.gid);
	if (cbpf_guard_finish(cwd, &guards, quarantine))
		for (size_t i = 0; i < guards.n; i++) {
			const struct cbpf_guard *g = &guards.v[i];

			if (!g->appeared)
				continue;
			if (g->moved_to[0])
				cbpf_error("the agent made %s, which would send the host's git "
					   "elsewhere: moved to %s", g->path, g->moved_to);
			else
				cbpf_error("the agent made %s, which would send the host's git "
					   "elsewhere, and it could not be moved aside (%s): remove "
					   "it before you run git there", g->path, strerror(-g->err));
		}
	as_user(geteuid(), getegid());
	return rc;
}
