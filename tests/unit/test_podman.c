/* Unit tests of the podman command line of `claude-bpf run` (user/core/podman.c):
 * the exact argv for representative cases, properties for every option
 * combination, option validation, and the shell quoting of --dry-run. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/podman.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define HOME "/home/u"
#define PARENT "/claude-bpf/default"
#define PROFILE "/run/claude-bpf/seccomp.json"
#define AHOME "/var/state/agent"

static const char *const env_key[] = { "ANTHROPIC_API_KEY", NULL };
static const char *const env_two[] = { "ANTHROPIC_API_KEY", "CLAUDE_CODE_USE_BEDROCK", NULL };

/* --- helpers --- */

/* Fails with the whole argv shown, so a broken case is readable. */
static void dump_fail(const struct cbpf_argv *a, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void dump_fail(const struct cbpf_argv *a, const char *what, const char *fmt, ...)
{
	char msg[512], *line = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&line, &len);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (f) {
		cbpf_argv_print(a, f);
		fclose(f);
	}
	fail_msg("%s: %s\n  argv: %s", what, msg, line ? line : "?");
	free(line);
}

static ssize_t find(const struct cbpf_argv *a, const char *s)
{
	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->v[i], s))
			return (ssize_t)i;
	return -1;
}

static size_t count(const struct cbpf_argv *a, const char *s)
{
	size_t c = 0;

	for (size_t i = 0; i < a->n; i++)
		c += !strcmp(a->v[i], s);
	return c;
}

/* Index of the first entry starting with prefix, or -1. */
static ssize_t find_prefix(const struct cbpf_argv *a, const char *prefix)
{
	for (size_t i = 0; i < a->n; i++)
		if (!strncmp(a->v[i], prefix, strlen(prefix)))
			return (ssize_t)i;
	return -1;
}

static size_t count_prefix(const struct cbpf_argv *a, const char *prefix)
{
	size_t c = 0;

	for (size_t i = 0; i < a->n; i++)
		c += !strncmp(a->v[i], prefix, strlen(prefix));
	return c;
}

/* The exact argv, entry by entry. */
static void check_exact(const char *what, const struct cbpf_run *r,
			const char *const *want)
{
	struct cbpf_argv a;
	const char *bad = "unset";
	size_t n = 0;
	int rc = cbpf_podman_create_argv(r, &a, &bad);

	if (rc)
		fail_msg("%s: returned %d (%s), bad '%s'", what, rc, strerror(-rc),
			 bad ? bad : "(null)");
	while (want[n])
		n++;
	for (size_t i = 0; i < n && i < a.n; i++)
		if (strcmp(a.v[i], want[i]))
			dump_fail(&a, what, "entry %zu is '%s', want '%s'", i,
				  a.v[i], want[i]);
	if (a.n != n)
		dump_fail(&a, what, "%zu entries, want %zu", a.n, n);
	assert_null(a.v[a.n]);
	cbpf_argv_free(&a);
}

/* --- exact command lines --- */

/* Rootless, a terminal, inside ~/git, an API key passed by name. */
static void test_exact_rootless_in_git(void **state)
{
	char *const args[] = { "-p", "hello world" };
	const struct cbpf_run r = {
		.podman = "podman", .seccomp = PROFILE, .agent_home = AHOME, .image = CBPF_DEFAULT_IMAGE,
		.cgroup_parent = "claudebpf-default.slice", .tty = true,
		.rootless = true, .uid = 1000, .gid = 1000, .home = HOME,
		.cwd = HOME "/git/proj", .git_dir = true, .env = env_key,
		.args = args, .nargs = N(args),
	};
	static const char *const want[] = {
		"podman", "create", "--rm", "--interactive", "--tty",
		"--cgroup-parent=claudebpf-default.slice", "--network=private",
		"--cgroupns=private", "--cap-drop=all", "--cap-add=" CBPF_PODMAN_CAPS,
		"--security-opt=seccomp=" PROFILE,
		"--security-opt=label=disable", "--security-opt=no-new-privileges",
		"--userns=keep-id", "--env=HOME=/home/u", "--env=ANTHROPIC_API_KEY",
		"--volume=" AHOME ":/home/u:rw,nosuid,nodev",
		"--volume=/home/u/git:/home/u/git:ro,nosuid,nodev",
		"--volume=/home/u/git/proj:/home/u/git/proj:rw,nosuid,nodev",
		"--workdir=/home/u/git/proj", "claude-sandbox:latest", "claude",
		"--dangerously-skip-permissions", "-p", "hello world", NULL,
	};

	(void)state;
	check_exact("rootless in ~/git", &r, want);
}

/* Rootless with the policy's DNS forwarder: slirp4netns takes the
 * container to the host's loopback, where the forwarder listens, and
 * resolv.conf names it. */
static void test_exact_rootless_dns(void **state)
{
	const struct cbpf_run r = {
		.podman = "podman", .seccomp = PROFILE, .agent_home = AHOME, .image = CBPF_DEFAULT_IMAGE,
		.cgroup_parent = "claudebpf-default.slice", .dns = "10.0.2.2", .shell = true,
		.rootless = true, .uid = 1000, .gid = 1000, .home = HOME, .cwd = "/srv/x",
	};
	static const char *const want[] = {
		"podman", "create", "--rm", "--interactive",
		"--cgroup-parent=claudebpf-default.slice",
		"--network=slirp4netns:allow_host_loopback=true", "--dns=10.0.2.2",
		"--cgroupns=private", "--cap-drop=all", "--cap-add=" CBPF_PODMAN_CAPS,
		"--security-opt=seccomp=" PROFILE,
		"--security-opt=label=disable", "--security-opt=no-new-privileges",
		"--userns=keep-id", "--env=HOME=/home/u",
		"--volume=" AHOME ":/home/u:rw,nosuid,nodev",
		"--volume=/srv/x:/srv/x:rw,nosuid,nodev",
		"--workdir=/srv/x", "claude-sandbox:latest", "bash", NULL,
	};

	(void)state;
	check_exact("rootless with the forwarder", &r, want);
}

/* Rootful with the forwarder: podman's bridge, named in resolv.conf. */
static void test_exact_rootful_dns(void **state)
{
	const struct cbpf_run r = {
		.podman = "podman", .seccomp = PROFILE, .agent_home = AHOME, .image = CBPF_DEFAULT_IMAGE,
		.cgroup_parent = PARENT, .dns = "10.88.0.1", .shell = true,
		.home = "/root", .cwd = "/srv/x",
	};
	static const char *const want[] = {
		"podman", "create", "--rm", "--interactive",
		"--cgroup-parent=/claude-bpf/default", "--network=private", "--dns=10.88.0.1",
		"--cgroupns=private", "--cap-drop=all", "--cap-add=" CBPF_PODMAN_CAPS,
		"--security-opt=seccomp=" PROFILE,
		"--security-opt=label=disable", "--security-opt=no-new-privileges",
		"--env=HOME=/root", "--volume=" AHOME ":/root:rw,nosuid,nodev",
		"--volume=/srv/x:/srv/x:rw,nosuid,nodev",
		"--workdir=/srv/x", "claude-sandbox:latest", "bash", NULL,
	};

	(void)state;
	check_exact("rootful with the forwarder", &r, want);
}

/* Rootful podman through sudo by uid 1000, no terminal, outside ~/git which
 * does not exist, memory and CPU limits, a git repository. */
static void test_exact_sudo_user(void **state)
{
	char *const args[] = { "--model", "opus" };
	/* A repository: .git bound onto itself, its hooks held, a
	 * placeholder held, a file to sweep at exit not mounted. */
	static const struct cbpf_guards guards = { .n = 4, .v = {
		{ .path = "/srv/project/.git", .rw = true },
		{ .path = "/srv/project/.git/hooks" },
		{ .path = "/srv/project/.git/commondir", .sweep = true },
		{ .path = "/srv/project/.mcp.json", .placeholder = true },
	} };
	const struct cbpf_run r = {
		.podman = "/usr/bin/podman", .seccomp = PROFILE, .agent_home = AHOME,
		.image = "localhost/x:1", .guards = &guards,
		.cgroup_parent = PARENT, .uid = 1000, .gid = 1001, .home = HOME,
		.cwd = "/srv/project", .memory = "4g", .cpus = "1.5",
		.args = args, .nargs = N(args),
	};
	static const char *const want[] = {
		"/usr/bin/podman", "create", "--rm", "--interactive",
		"--cgroup-parent=/claude-bpf/default", "--network=private",
		"--cgroupns=private", "--cap-drop=all", "--cap-add=" CBPF_PODMAN_CAPS,
		"--security-opt=seccomp=" PROFILE,
		"--security-opt=label=disable", "--security-opt=no-new-privileges",
		"--user=1000:1001", "--memory=4g", "--cpus=1.5",
		"--env=HOME=/home/u",
		"--volume=" AHOME ":/home/u:rw,nosuid,nodev",
		"--volume=/srv/project:/srv/project:rw,nosuid,nodev",
		"--volume=/srv/project/.git:/srv/project/.git:rw,nosuid,nodev",
		"--volume=/srv/project/.git/hooks:/srv/project/.git/hooks:ro,nosuid,nodev",
		"--volume=/srv/project/.mcp.json:/srv/project/.mcp.json:ro,nosuid,nodev",
		"--workdir=/srv/project",
		"localhost/x:1", "claude", "--dangerously-skip-permissions",
		"--model", "opus", NULL,
	};

	(void)state;
	check_exact("sudo by uid 1000", &r, want);
}

/* Root, --no-internet (no policy, no cgroup parent), --shell, and
 * arguments a shell would mangle. */
static void test_exact_root_shell_no_internet(void **state)
{
	char *const args[] = { "-c", "echo 'a b' \"$HOME\"; ls -- -x", "", "--", "-" };
	const struct cbpf_run r = {
		.podman = "podman", .seccomp = PROFILE, .agent_home = AHOME, .image = CBPF_DEFAULT_IMAGE,
		.no_internet = true, .shell = true, .home = "/root",
		.cwd = "/srv/x", .git_dir = true,
		.args = args, .nargs = N(args),
	};
	static const char *const want[] = {
		"podman", "create", "--rm", "--interactive", "--network=none",
		"--cgroupns=private", "--cap-drop=all", "--cap-add=" CBPF_PODMAN_CAPS,
		"--security-opt=seccomp=" PROFILE,
		"--security-opt=label=disable", "--security-opt=no-new-privileges",
		"--env=HOME=/root", "--volume=" AHOME ":/root:rw,nosuid,nodev",
		"--volume=/root/git:/root/git:ro,nosuid,nodev", "--volume=/srv/x:/srv/x:rw,nosuid,nodev",
		"--workdir=/srv/x", "claude-sandbox:latest", "bash",
		"-c", "echo 'a b' \"$HOME\"; ls -- -x", "", "--", "-", NULL,
	};

	(void)state;
	check_exact("root, --shell, --no-internet", &r, want);
}

/* --- properties of every combination --- */

struct prop_case {
	const char *what;
	const char *cwd;            /* NULL: HOME "/work" */
	const char *home;           /* NULL: HOME */
	bool git_dir, no_internet, shell, tty, rootless;
	uid_t uid;
	gid_t gid;
	const char *memory, *cpus;
	const char *const *env;
	const char *want[6];        /* entries that must be there */
	const char *absent[6];      /* prefixes that must not be */
};

static const struct prop_case props[] = {
	{ "outside ~/git, ~/git exists", .cwd = "/srv/p", .git_dir = true,
	  .want = { "--volume=/home/u/git:/home/u/git:ro,nosuid,nodev",
		    "--volume=/srv/p:/srv/p:rw,nosuid,nodev", "--workdir=/srv/p" } },
	{ "outside ~/git, no ~/git", .cwd = "/srv/p",
	  .want = { "--volume=/srv/p:/srv/p:rw,nosuid,nodev", "--workdir=/srv/p" },
	  .absent = { "--volume=/home/u/git:" } },
	{ "inside ~/git", .cwd = HOME "/git/a/b", .git_dir = true,
	  .want = { "--volume=/home/u/git:/home/u/git:ro,nosuid,nodev",
		    "--volume=/home/u/git/a/b:/home/u/git/a/b:rw,nosuid,nodev",
		    "--workdir=/home/u/git/a/b" } },
	{ "a sibling of ~/git is not inside it", .cwd = HOME "/gitx",
	  .git_dir = true,
	  .want = { "--volume=/home/u/git:/home/u/git:ro,nosuid,nodev",
		    "--volume=/home/u/gitx:/home/u/gitx:rw,nosuid,nodev" } },
	/* The caller resolves symlinks; what it gives is used verbatim. */
	{ "a resolved symlinked cwd is used verbatim",
	  .cwd = "/data/real/../real/./proj",
	  .want = { "--volume=/data/real/../real/./proj:/data/real/../real/./proj:rw,nosuid,nodev",
		    "--workdir=/data/real/../real/./proj" } },
	{ "a path with spaces", .cwd = "/srv/my project",
	  .want = { "--volume=/srv/my project:/srv/my project:rw,nosuid,nodev",
		    "--workdir=/srv/my project" } },
	{ "a home elsewhere", .home = "/var/lib/builder", .git_dir = true,
	  .cwd = "/var/lib/builder/git/x",
	  .want = { "--env=HOME=/var/lib/builder",
		    "--volume=/var/lib/builder/git:/var/lib/builder/git:ro,nosuid,nodev",
		    "--volume=" AHOME ":/var/lib/builder:rw,nosuid,nodev" } },
	{ "--shell", .shell = true, .want = { "bash" },
	  .absent = { "--dangerously-skip-permissions" } },
	{ "--no-internet", .no_internet = true,
	  .want = { "--network=none" }, .absent = { "--cgroup-parent" } },
	{ "--no-internet --shell", .no_internet = true, .shell = true,
	  .want = { "--network=none", "bash" }, .absent = { "--cgroup-parent" } },
	{ "a terminal", .tty = true, .want = { "--tty", "--interactive" } },
	{ "no terminal", .want = { "--interactive" }, .absent = { "--tty", "-t" } },
	{ "rootless", .rootless = true, .uid = 1000, .gid = 1000,
	  .want = { "--userns=keep-id" }, .absent = { "--user=" } },
	{ "rootless, uid 0 on the host", .rootless = true,
	  .want = { "--userns=keep-id" }, .absent = { "--user=" } },
	{ "rootful for uid 1000", .uid = 1000, .gid = 1000,
	  .want = { "--user=1000:1000" }, .absent = { "--userns" } },
	{ "rootful for uid 1000, another group", .uid = 1000, .gid = 100,
	  .want = { "--user=1000:100" }, .absent = { "--userns" } },
	{ "rootful for root", .absent = { "--user", "--userns" } },
	{ "memory and cpus", .memory = "512m", .cpus = "0.5",
	  .want = { "--memory=512m", "--cpus=0.5" } },
	{ "memory in bytes, whole cpus", .memory = "1073741824", .cpus = "2",
	  .want = { "--memory=1073741824", "--cpus=2" } },
	{ "memory with an upper-case unit", .memory = "2G",
	  .want = { "--memory=2G" }, .absent = { "--cpus" } },
	{ "no limits", .absent = { "--memory", "--cpus" } },
	{ "env names", .env = env_two,
	  .want = { "--env=ANTHROPIC_API_KEY", "--env=CLAUDE_CODE_USE_BEDROCK" } },
	{ "no env names", .absent = { "--env=ANTHROPIC" } },
};

static void build_prop(const struct prop_case *c, struct cbpf_run *r)
{
	memset(r, 0, sizeof(*r));
	r->podman = "podman";
	r->seccomp = PROFILE;
	r->agent_home = AHOME;
	r->image = CBPF_DEFAULT_IMAGE;
	r->cgroup_parent = c->no_internet ? NULL : PARENT;
	r->no_internet = c->no_internet;
	r->shell = c->shell;
	r->tty = c->tty;
	r->rootless = c->rootless;
	r->uid = c->uid;
	r->gid = c->gid;
	r->home = c->home ? c->home : HOME;
	r->cwd = c->cwd ? c->cwd : HOME "/work";
	r->git_dir = c->git_dir;
	r->memory = c->memory;
	r->cpus = c->cpus;
	r->env = c->env;
}

/* What holds for every command line, whatever the options. */
/* The network a run is given: none, or a namespace of its own, which for a
 * rootless run with the policy's forwarder is slirp4netns's with the host's
 * loopback (the policy opens only the forwarder's port there). */
static const char *network_of(const struct cbpf_run *r)
{
	if (r->no_internet)
		return "--network=none";
	return r->rootless && r->dns ? "--network=slirp4netns:allow_host_loopback=true"
				     : "--network=private";
}

static void check_invariants(const char *what, const struct cbpf_run *r,
			     const struct cbpf_argv *a)
{
	ssize_t image = -1;
	char buf[4096];

	if (a->n < 3 || strcmp(a->v[0], r->podman) || strcmp(a->v[1], "create"))
		dump_fail(a, what, "does not start with '%s create'", r->podman);
	assert_null(a->v[a->n]);
	/* The image is the first entry after the options. */
	for (size_t i = 2; i < a->n; i++)
		if (a->v[i][0] != '-') {
			image = (ssize_t)i;
			break;
		}
	if (image < 0 || strcmp(a->v[image], r->image))
		dump_fail(a, what, "the first non-option is not the image '%s'", r->image);
	if (r->shell) {
		if ((size_t)image + 1 >= a->n || strcmp(a->v[image + 1], "bash"))
			dump_fail(a, what, "bash does not follow the image");
	} else if ((size_t)image + 2 >= a->n ||
		   strcmp(a->v[image + 1], "claude") ||
		   strcmp(a->v[image + 2], "--dangerously-skip-permissions")) {
		dump_fail(a, what, "claude --dangerously-skip-permissions does not follow the image");
	}
	for (const char *const *s = (const char *const[]){ "--rm", "--interactive",
			"--cgroupns=private", "--cap-drop=all", "--cap-add=" CBPF_PODMAN_CAPS,
			"--security-opt=seccomp=" PROFILE, "--security-opt=label=disable",
			"--security-opt=no-new-privileges",
			network_of(r), NULL }; *s; s++)
		if (find(a, *s) < 0 || find(a, *s) > image)
			dump_fail(a, what, "'%s' missing before the image", *s);
	for (const char *const *s = (const char *const[]){ "--cap-add", "--network",
			"--security-opt=seccomp", "--cgroupns", NULL }; *s; s++) {
		size_t before = 0;

		for (ssize_t i = 0; i < image; i++)
			before += !strncmp(a->v[i], *s, strlen(*s));
		if (before != 1)
			dump_fail(a, what, "%zu '%s' options, want one", before, *s);
	}
	/* Nothing gives back what --cap-drop took. */
	for (const char *const *s = (const char *const[]){ "--privileged",
			"--network=host", "--net=host", "--pid=host", "-v", "-e", NULL }; *s; s++)
		if (find_prefix(a, *s) >= 0 && find_prefix(a, *s) < image)
			dump_fail(a, what, "'%s' must not be there", *s);
	if (count_prefix(a, "--cgroup-parent=") != (r->no_internet ? 0u : 1u))
		dump_fail(a, what, "%zu --cgroup-parent options",
			  count_prefix(a, "--cgroup-parent="));
	if (!r->no_internet) {
		snprintf(buf, sizeof(buf), "--cgroup-parent=%s", r->cgroup_parent);
		if (find(a, buf) < 0)
			dump_fail(a, what, "'%s' missing", buf);
		/* A network namespace of its own: the policy holds it. */
		if (find(a, network_of(r)) < 0)
			dump_fail(a, what, "no %s with a policy", network_of(r));
	}
	if (count_prefix(a, "--workdir=") != 1)
		dump_fail(a, what, "not exactly one --workdir");
	snprintf(buf, sizeof(buf), "--workdir=%s", r->cwd);
	if (find(a, buf) < 0)
		dump_fail(a, what, "'%s' missing", buf);
	snprintf(buf, sizeof(buf), "--env=HOME=%s", r->home);
	if (count(a, buf) != 1 || count_prefix(a, "--env=HOME=") != 1)
		dump_fail(a, what, "not exactly one '%s'", buf);
	/* The current directory is mounted read-write. */
	snprintf(buf, sizeof(buf), "--volume=%s:%s:rw,nosuid,nodev", r->cwd, r->cwd);
	if (find(a, buf) < 0)
		dump_fail(a, what, "'%s' missing", buf);
	/* podman refuses two mounts on one destination. */
	for (size_t i = 2; i < (size_t)image; i++) {
		const char *v = a->v[i], *dst, *end;

		if (strncmp(v, "--volume=", 9))
			continue;
		dst = strchr(v + 9, ':');
		end = dst ? strchr(dst + 1, ':') : NULL;
		if (!dst || !end || (strcmp(end, ":rw,nosuid,nodev") && strcmp(end, ":ro,nosuid,nodev")))
			dump_fail(a, what, "malformed volume '%s'", v);
		for (size_t j = i + 1; j < (size_t)image; j++) {
			const char *w = a->v[j], *d2;

			if (strncmp(w, "--volume=", 9) || !(d2 = strchr(w + 9, ':')))
				continue;
			if ((size_t)(strrchr(w, ':') - d2) == (size_t)(end - dst) &&
			    !strncmp(d2, dst, (size_t)(end - dst)))
				dump_fail(a, what, "'%s' and '%s' mount on one destination",
					  v, w);
		}
	}
	/* ~/git read-only exactly when it exists, unless the current
	 * directory is ~/git itself. */
	{
		char git[4096], ro[8300];
		bool is_cwd;

		snprintf(git, sizeof(git), "%s/git", r->home);
		snprintf(ro, sizeof(ro), "--volume=%s:%s:ro,nosuid,nodev", git, git);
		is_cwd = !strcmp(r->cwd, git);
		if ((find(a, ro) >= 0) != (r->git_dir && !is_cwd))
			dump_fail(a, what, "'%s' %s", ro,
				  r->git_dir && !is_cwd ? "missing" : "unexpected");
		/* The deeper read-write mount comes after the read-only one. */
		snprintf(buf, sizeof(buf), "--volume=%s:%s:rw,nosuid,nodev", r->cwd, r->cwd);
		if (find(a, ro) >= 0 && find(a, ro) > find(a, buf))
			dump_fail(a, what, "~/git is mounted after the current directory");
	}
	/* -u/--user and --userns never both. */
	if (find_prefix(a, "--user=") >= 0 && find_prefix(a, "--userns") >= 0)
		dump_fail(a, what, "both --user and --userns");
}

static void run_prop(const struct prop_case *c)
{
	struct cbpf_run r;
	struct cbpf_argv a;
	const char *bad = "unset";
	int rc;

	build_prop(c, &r);
	rc = cbpf_podman_create_argv(&r, &a, &bad);
	if (rc)
		fail_msg("%s: returned %d (%s), bad '%s'", c->what, rc,
			 strerror(-rc), bad ? bad : "(null)");
	check_invariants(c->what, &r, &a);
	for (size_t w = 0; w < N(c->want) && c->want[w]; w++)
		if (find(&a, c->want[w]) < 0)
			dump_fail(&a, c->what, "'%s' missing", c->want[w]);
	for (size_t w = 0; w < N(c->absent) && c->absent[w]; w++) {
		ssize_t at = find_prefix(&a, c->absent[w]);

		if (at >= 0)
			dump_fail(&a, c->what, "'%s' must not be there, found '%s'",
				  c->absent[w], a.v[at]);
	}
	cbpf_argv_free(&a);
}

static void test_properties(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(props); i++)
		run_prop(&props[i]);
}

/* The current directory is one of the fixed mounts: it must stay writable,
 * and podman refuses two mounts on one destination ("duplicate mount
 * destination"), so it is mounted once. */
static void test_cwd_is_git_dir(void **state)
{
	static const struct prop_case c = {
		"cwd is ~/git itself", .cwd = HOME "/git", .git_dir = true,
		.want = { "--volume=/home/u/git:/home/u/git:rw,nosuid,nodev",
			  "--workdir=/home/u/git" },
		.absent = { "--volume=/home/u/git:/home/u/git:ro,nosuid,nodev" },
	};

	(void)state;
	run_prop(&c);
}

/* Where the agent could replace what the host runs or mounts next time. */
static void test_cwd_refused(void **state)
{
	static const char *const cwds[] = { "/", "/home", HOME, HOME "/.claude",
					    HOME "/.claude/projects" };
	static const char *const fine[] = { HOME "/w", HOME "/.claudex", "/homex", "/srv" };

	(void)state;
	for (size_t i = 0; i < N(cwds); i++) {
		const struct cbpf_run r = {
			.podman = "podman", .seccomp = PROFILE, .agent_home = AHOME,
			.image = CBPF_DEFAULT_IMAGE, .cgroup_parent = PARENT, .home = HOME,
			.cwd = cwds[i],
		};
		struct cbpf_argv a;
		const char *bad = NULL;

		if (!cbpf_run_refuse_cwd(cwds[i], HOME))
			fail_msg("%s is not refused", cwds[i]);
		assert_int_equal(cbpf_podman_create_argv(&r, &a, &bad), -EINVAL);
		assert_non_null(strstr(bad, "current directory"));
	}
	for (size_t i = 0; i < N(fine); i++)
		if (cbpf_run_refuse_cwd(fine[i], HOME))
			fail_msg("%s is refused: %s", fine[i], cbpf_run_refuse_cwd(fine[i], HOME));
}

/* Every combination of the boolean options keeps the invariants. */
static void test_all_combinations(void **state)
{
	/* (~/git itself has a test of its own.) */
	static const char *const cwds[] = { HOME "/work", HOME "/.claude-x", HOME "/git/p",
					    "/tmp/x" };

	(void)state;
	for (unsigned bits = 0; bits < 64; bits++)
		for (size_t c = 0; c < N(cwds); c++) {
			struct prop_case pc = {
				.what = "combination", .cwd = cwds[c],
				.git_dir = bits & 1, .no_internet = bits & 2,
				.shell = bits & 4, .tty = bits & 8,
				.rootless = bits & 16,
				.uid = bits & 32 ? 1000 : 0,
				.gid = bits & 32 ? 1000 : 0,
				.env = bits & 1 ? env_key : NULL,
			};
			char what[256];
			struct cbpf_run r;
			struct cbpf_argv a;
			const char *bad;

			snprintf(what, sizeof(what),
				 "cwd %s git_dir %d no_internet %d shell %d tty %d rootless %d uid %d",
				 cwds[c], !!(bits & 1), !!(bits & 2), !!(bits & 4),
				 !!(bits & 8), !!(bits & 16), bits & 32 ? 1000 : 0);
			build_prop(&pc, &r);
			if (cbpf_podman_create_argv(&r, &a, &bad))
				fail_msg("%s: refused (%s)", what, bad ? bad : "?");
			check_invariants(what, &r, &a);
			if ((find(&a, "--tty") >= 0) != r.tty)
				dump_fail(&a, what, "--tty is wrong");
			if ((find(&a, "--userns=keep-id") >= 0) != r.rootless)
				dump_fail(&a, what, "--userns=keep-id is wrong");
			if ((find(&a, "--user=1000:1000") >= 0) != (!r.rootless && r.uid == 1000))
				dump_fail(&a, what, "--user is wrong");
			if ((find(&a, "--network=none") >= 0) != r.no_internet)
				dump_fail(&a, what, "--network=none is wrong");
			if (r.shell && (find(&a, "claude") >= 0 ||
					find(&a, "--dangerously-skip-permissions") >= 0))
				dump_fail(&a, what, "claude with --shell");
			cbpf_argv_free(&a);
		}
}

/* --- arguments pass through unchanged --- */

static void test_args_verbatim(void **state)
{
	static char *const args[] = {
		"hello world", "  leading and trailing  ", "it's", "say \"hi\"",
		"-p", "--print", "--dangerously-skip-permissions", "--", "-",
		"", "", "$HOME", "`id`", "$(id)", "a;b|c&d", "*", "~", "line\nbreak",
		"tab\there", "\\back\\slash", "--image=evil", "--network=host",
		"üñïçødé",
	};

	(void)state;
	for (int shell = 0; shell < 2; shell++) {
		struct cbpf_run r = {
			.podman = "podman", .seccomp = PROFILE, .agent_home = AHOME, .image = CBPF_DEFAULT_IMAGE,
			.cgroup_parent = PARENT, .home = HOME, .cwd = HOME "/w",
			.shell = shell, .args = args, .nargs = N(args),
		};
		struct cbpf_argv a;
		const char *bad;
		size_t first;

		assert_int_equal(cbpf_podman_create_argv(&r, &a, &bad), 0);
		check_invariants(shell ? "args, shell" : "args, claude", &r, &a);
		assert_true(a.n >= N(args));
		first = a.n - N(args);
		assert_string_equal(a.v[first - 1],
				    shell ? "bash" : "--dangerously-skip-permissions");
		for (size_t i = 0; i < N(args); i++)
			if (strcmp(a.v[first + i], args[i]))
				dump_fail(&a, "args", "argument %zu is '%s', want '%s'",
					  i, a.v[first + i], args[i]);
		/* The arguments' own "--network=host" is after the image, where
		 * it is an argument of claude, not an option of podman. */
		assert_true(find(&a, "--network=host") > find(&a, CBPF_DEFAULT_IMAGE));
		cbpf_argv_free(&a);
	}
}

static void test_no_args(void **state)
{
	struct cbpf_run r = {
		.podman = "podman", .seccomp = PROFILE, .agent_home = AHOME, .image = CBPF_DEFAULT_IMAGE,
		.cgroup_parent = PARENT, .home = HOME, .cwd = HOME "/w",
	};
	struct cbpf_argv a;
	const char *bad;

	(void)state;
	assert_int_equal(cbpf_podman_create_argv(&r, &a, &bad), 0);
	assert_string_equal(a.v[a.n - 1], "--dangerously-skip-permissions");
	cbpf_argv_free(&a);
	r.shell = true;
	assert_int_equal(cbpf_podman_create_argv(&r, &a, &bad), 0);
	assert_string_equal(a.v[a.n - 1], "bash");
	cbpf_argv_free(&a);
}

/* --- refused input --- */

static void test_invalid(void **state)
{
	static const struct {
		const char *what, *home, *cwd, *memory, *cpus;
		bool no_internet, no_parent;
		const char *bad;    /* a word *bad must contain */
	} cases[] = {
		{ "memory empty", .memory = "", .bad = "memory" },
		{ "memory unit only", .memory = "m", .bad = "memory" },
		{ "memory two units", .memory = "512mb", .bad = "memory" },
		{ "memory negative", .memory = "-1", .bad = "memory" },
		{ "memory fraction", .memory = "1.5g", .bad = "memory" },
		{ "memory leading space", .memory = " 512m", .bad = "memory" },
		{ "memory trailing space", .memory = "512m ", .bad = "memory" },
		{ "memory hex", .memory = "0x10", .bad = "memory" },
		{ "memory unknown unit", .memory = "5t", .bad = "memory" },
		{ "memory as an option", .memory = "--privileged", .bad = "memory" },
		{ "cpus empty", .cpus = "", .bad = "cpus" },
		{ "cpus zero", .cpus = "0", .bad = "cpus" },
		{ "cpus zero point zero", .cpus = "0.0", .bad = "cpus" },
		{ "cpus negative", .cpus = "-1", .bad = "cpus" },
		{ "cpus words", .cpus = "two", .bad = "cpus" },
		{ "cpus comma", .cpus = "1,5", .bad = "cpus" },
		{ "cpus trailing garbage", .cpus = "2x", .bad = "cpus" },
		{ "cpus exponent", .cpus = "1e3", .bad = "cpus" },
		{ "cpus dot only", .cpus = ".", .bad = "cpus" },
		{ "cpus two dots", .cpus = "1.2.3", .bad = "cpus" },
		{ "cpus as an option", .cpus = "--privileged", .bad = "cpus" },
		{ "cwd with a colon", .cwd = "/srv/a:b", .bad = "current directory" },
		{ "cwd ending in :ro", .cwd = "/srv/x:ro", .bad = "current directory" },
		{ "cwd with a newline", .cwd = "/srv/a\nb", .bad = "current directory" },
		{ "cwd relative", .cwd = "srv/a", .bad = "current directory" },
		{ "cwd empty", .cwd = "", .bad = "current directory" },
		{ "home with a colon", .home = "/home/a:b", .cwd = "/srv/x",
		  .bad = "home" },
		{ "home relative", .home = "home/u", .cwd = "/srv/x", .bad = "home" },
		{ "home empty", .home = "", .cwd = "/srv/x", .bad = "home" },
		{ "a policy run without a cgroup parent", .no_parent = true,
		  .bad = "cgroup-parent" },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		struct cbpf_run r = {
			.podman = "podman", .seccomp = PROFILE, .agent_home = AHOME, .image = CBPF_DEFAULT_IMAGE,
			.cgroup_parent = cases[i].no_parent ? NULL : PARENT,
			.home = cases[i].home ? cases[i].home : HOME,
			.cwd = cases[i].cwd ? cases[i].cwd : HOME "/w",
			.memory = cases[i].memory, .cpus = cases[i].cpus,
			.no_internet = cases[i].no_internet,
		};
		struct cbpf_argv a = { .n = 99 };
		const char *bad = NULL;
		int rc = cbpf_podman_create_argv(&r, &a, &bad);

		if (rc != -EINVAL) {
			if (!rc)
				cbpf_argv_free(&a);
			fail_msg("%s: returned %d, want -EINVAL", cases[i].what, rc);
		}
		if (!bad || !strstr(bad, cases[i].bad))
			fail_msg("%s: *bad is '%s', want it to name '%s'",
				 cases[i].what, bad ? bad : "(null)", cases[i].bad);
		/* Nothing to free after a refusal. */
		assert_null(a.v);
		assert_int_equal(a.n, 0);
	}
}

/* A NULL home or cwd is refused, not dereferenced. */
static void test_null_paths(void **state)
{
	struct cbpf_run r = {
		.podman = "podman", .seccomp = PROFILE, .agent_home = AHOME, .image = CBPF_DEFAULT_IMAGE,
		.cgroup_parent = PARENT, .home = NULL, .cwd = "/srv/x",
	};
	struct cbpf_argv a;
	const char *bad = NULL;

	(void)state;
	assert_int_equal(cbpf_podman_create_argv(&r, &a, &bad), -EINVAL);
	assert_non_null(bad);
	r.home = HOME;
	r.cwd = NULL;
	bad = NULL;
	assert_int_equal(cbpf_podman_create_argv(&r, &a, &bad), -EINVAL);
	assert_non_null(bad);
}

/* --- argv building blocks --- */

static void test_argv_add(void **state)
{
	struct cbpf_argv a = { 0 };
	char word[16];

	(void)state;
	for (int i = 0; i < 1000; i++) {
		snprintf(word, sizeof(word), "w%d", i);
		assert_int_equal(cbpf_argv_add(&a, word), 0);
		assert_null(a.v[a.n]);
	}
	assert_int_equal(a.n, 1000);
	assert_string_equal(a.v[0], "w0");
	assert_string_equal(a.v[999], "w999");
	cbpf_argv_free(&a);
	assert_null(a.v);
	assert_int_equal(a.n, 0);
	cbpf_argv_free(&a);         /* twice is harmless */
}

/* --- --dry-run quoting --- */

static char *print_line(char *const *words, size_t n)
{
	struct cbpf_argv a = { 0 };
	char *line = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&line, &len);

	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(cbpf_argv_add(&a, words[i]), 0);
	cbpf_argv_print(&a, f);
	fclose(f);
	cbpf_argv_free(&a);
	return line;
}

static void test_print_expected(void **state)
{
	static const struct {
		char *words[4];
		size_t n;
		const char *line;
	} cases[] = {
		{ { "podman", "create", "--rm" }, 3, "podman create --rm\n" },
		{ { "--volume=/a/b:/a/b:rw", "--cpus=0.5", "x@y%z,+" }, 3,
		  "--volume=/a/b:/a/b:rw --cpus=0.5 x@y%z,+\n" },
		{ { "hello world" }, 1, "'hello world'\n" },
		{ { "" }, 1, "''\n" },
		{ { "a", "", "b" }, 3, "a '' b\n" },
		{ { "it's" }, 1, "'it'\\''s'\n" },
		{ { "'" }, 1, "''\\'''\n" },
		{ { "say \"hi\"" }, 1, "'say \"hi\"'\n" },
		{ { "$HOME", "*", "~" }, 3, "'$HOME' '*' '~'\n" },
		{ { "a;b", "a|b", "a&b" }, 3, "'a;b' 'a|b' 'a&b'\n" },
		{ { "`id`", "$(id)" }, 2, "'`id`' '$(id)'\n" },
		{ { "-p", "--x=y" }, 2, "-p --x=y\n" },
		{ { "back\\slash" }, 1, "'back\\slash'\n" },
		{ { "new\nline" }, 1, "'new\nline'\n" },
		{ { 0 }, 0, "\n" },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		char *line = print_line(cases[i].words, cases[i].n);

		if (strcmp(line, cases[i].line))
			fail_msg("case %zu: printed '%s', want '%s'", i, line,
				 cases[i].line);
		free(line);
	}
}

/* The printed line, split by a real POSIX shell, gives the words back. */
static void test_print_round_trip(void **state)
{
	static char *const words[] = {
		"podman", "create", "--volume=/srv/my dir:/srv/my dir:rw",
		"hello world", "it's", "'", "''", "say \"hi\"", "", "-", "--",
		"$HOME", "${HOME}", "`id`", "$(id)", "a;b|c&d>e<f", "*", "?", "[a]",
		"~", "~user", "#comment", "new\nline", "tab\there", "back\\slash",
		"\\'", "!", "{a,b}", "x=y", "üñï", "%s%n",
	};
	char *line, out[8192];
	size_t got = 0;
	int fds[2], status;
	pid_t pid;

	(void)state;
	if (access("/bin/sh", X_OK))
		skip();
	line = print_line(words, N(words));
	assert_true(strlen(line) > 0 && line[strlen(line) - 1] == '\n');
	line[strlen(line) - 1] = '\0';
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl("/bin/sh", "sh", "-c", "eval \"set -- $1\"; printf '%s\\0' \"$@\"",
		      "sh", line, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		ssize_t n = read(fds[0], out + got, sizeof(out) - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	free(line);
	{
		size_t off = 0;

		for (size_t i = 0; i < N(words); i++) {
			if (off >= got)
				fail_msg("the shell gave %zu words, want %zu", i, N(words));
			if (strcmp(out + off, words[i]))
				fail_msg("word %zu came back as '%s', want '%s'", i,
					 out + off, words[i]);
			off += strlen(out + off) + 1;
		}
		if (off != got)
			fail_msg("the shell gave more words than %zu", N(words));
	}
}

/* --- the created container, as podman inspect shows it --- */

static void check_case(const char *inspect, bool no_internet, const char *want)
{
	const char *what = "unset";
	int rc = cbpf_podman_check(inspect, PROFILE, no_internet, &what);

	if (!want && rc)
		fail_msg("'%s' refused: %s", inspect, what);
	if (want && (rc != -EPERM || !what || !strstr(what, want)))
		fail_msg("'%s': returned %d (%s), want a refusal naming '%s'", inspect, rc,
			 what ? what : "(null)", want);
}

static void test_check(void **state)
{
	const char *sec = "no-new-privileges,seccomp=" PROFILE ",";
	char line[512];

	(void)state;
	snprintf(line, sizeof(line), "bridge|private|%s|CAP_CHOWN,CAP_KILL,", sec);
	check_case(line, false, NULL);
	snprintf(line, sizeof(line), "slirp4netns|private|label=disable,%s|", sec);
	check_case(line, false, NULL);
	snprintf(line, sizeof(line), "none|private|%s|CAP_SETUID,\n", sec);
	check_case(line, true, NULL);
	/* A site's containers.conf, or a podman that ignored a flag. */
	snprintf(line, sizeof(line), "host|private|%s|", sec);
	check_case(line, false, "network");
	snprintf(line, sizeof(line), "ns:/run/netns/x|private|%s|", sec);
	check_case(line, false, "network");
	snprintf(line, sizeof(line), "container:abc|private|%s|", sec);
	check_case(line, false, "network");
	snprintf(line, sizeof(line), "none|private|%s|", sec);
	check_case(line, false, "network");
	snprintf(line, sizeof(line), "bridge|private|%s|", sec);
	check_case(line, true, "network");
	snprintf(line, sizeof(line), "bridge|host|%s|", sec);
	check_case(line, false, "cgroup");
	check_case("bridge|private|seccomp=" PROFILE ",|", false, "no-new-privileges");
	check_case("bridge|private|no-new-privileges,seccomp=unconfined,|", false, "seccomp");
	check_case("bridge|private|no-new-privileges,seccomp=" PROFILE "x,|", false, "seccomp");
	check_case("bridge|private|no-new-privileges,|", false, "seccomp");
	snprintf(line, sizeof(line), "bridge|private|%s|CAP_CHOWN,CAP_NET_RAW,", sec);
	check_case(line, false, "capabilities");
	snprintf(line, sizeof(line), "bridge|private|%s|CAP_SYS_ADMIN,", sec);
	check_case(line, false, "capabilities");
	snprintf(line, sizeof(line), "bridge|private|%s|CAP_CHOWNX,", sec);
	check_case(line, false, "capabilities");
	check_case("bridge|private", false, "inspect");
	check_case("", false, "inspect");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_rootless_in_git),
		cmocka_unit_test(test_exact_rootless_dns),
		cmocka_unit_test(test_exact_rootful_dns),
		cmocka_unit_test(test_exact_sudo_user),
		cmocka_unit_test(test_exact_root_shell_no_internet),
		cmocka_unit_test(test_properties),
		cmocka_unit_test(test_cwd_is_git_dir),
		cmocka_unit_test(test_cwd_refused),
		cmocka_unit_test(test_all_combinations),
		cmocka_unit_test(test_args_verbatim),
		cmocka_unit_test(test_no_args),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_null_paths),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_argv_add),
		cmocka_unit_test(test_print_expected),
		cmocka_unit_test(test_print_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
