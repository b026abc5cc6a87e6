/* The podman command line of `claude-bpf run`, built as an explicit argv
 * (never through a shell) from facts the caller gathered. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/podman.h"

int cbpf_argv_add(struct cbpf_argv *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 32;
		char **v = realloc(a->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	if (!(a->v[a->n] = strdup(s)))
		return -ENOMEM;
	a->v[++a->n] = NULL;
	return 0;
}

static int addf(struct cbpf_argv *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int addf(struct cbpf_argv *a, const char *fmt, ...)
{
	char *s;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -ENOMEM;
	rc = cbpf_argv_add(a, s);
	free(s);
	return rc;
}

void cbpf_argv_free(struct cbpf_argv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

void cbpf_argv_print(const struct cbpf_argv *a, FILE *f)
{
	for (size_t i = 0; i < a->n; i++) {
		const char *s = a->v[i];

		if (i)
			fputc(' ', f);
		if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				    "0123456789_-+=/.,:@%") == strlen(s)) {
			fputs(s, f);
			continue;
		}
		fputc('\'', f);
		for (; *s; s++) {
			if (*s == '\'')
				fputs("'\\''", f);
			else
				fputc(*s, f);
		}
		fputc('\'', f);
	}
	fputc('\n', f);
}

#define MOUNT_FLAGS "nosuid,nodev"

/* podman's -v splits on ':' and needs absolute paths. */
static bool mountable(const char *path)
{
	return path && path[0] == '/' && !strchr(path, ':') && !strchr(path, '\n');
}

/* "512m", "2g", "1073741824": digits and one optional unit. */
static bool valid_memory(const char *s)
{
	size_t digits = strspn(s, "0123456789");

	return digits > 0 && (s[digits] == '\0' ||
			      (strchr("bkmgBKMG", s[digits]) && s[digits + 1] == '\0'));
}

/* "2", "0.5": a positive decimal. */
static bool valid_cpus(const char *s)
{
	size_t whole = strspn(s, "0123456789"), frac = 0;

	if (s[whole] == '.')
		frac = strspn(s + whole + 1, "0123456789");
	if (whole + (s[whole] == '.' ? 1 + frac : 0) != strlen(s) || whole + frac == 0)
		return false;
	return strtod(s, NULL) > 0;
}

/* Whether `dir` is `path` or a folder above it. */
static bool holds(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	return !strcmp(dir, "/") || (!strncmp(dir, path, n) && (path[n] == '/' || !path[n]));
}

const char *cbpf_run_refuse_cwd(const char *cwd, const char *home)
{
	char claude[4096];

	snprintf(claude, sizeof(claude), "%s/.claude", home);
	if (!strcmp(cwd, "/"))
		return "the root folder";
	if (holds(cwd, home))
		return "your home folder, or a folder that holds it";
	if (holds(claude, cwd))
		return "inside ~/.claude";
	return NULL;
}

int cbpf_podman_create_argv(const struct cbpf_run *r, struct cbpf_argv *out,
			    const char **bad)
{
	struct cbpf_argv *a = out;
	char git[4096];
	int rc = 0;

	memset(out, 0, sizeof(*out));
	*bad = NULL;
	snprintf(git, sizeof(git), "%s/git", r->home ? r->home : "");
	if (!mountable(r->home))
		*bad = "home directory";
	else if (!mountable(r->agent_home))
		*bad = "agent's home";
	else if (!mountable(r->cwd))
		*bad = "current directory";
	else if (cbpf_run_refuse_cwd(r->cwd, r->home))
		*bad = "current directory (the root, the home or a folder above it, ~/.claude)";
	else if (r->memory && !valid_memory(r->memory))
		*bad = "--memory";
	else if (r->cpus && !valid_cpus(r->cpus))
		*bad = "--cpus";
	else if (!r->no_internet && !r->cgroup_parent)
		*bad = "--cgroup-parent";
	else if (!mountable(r->seccomp))
		*bad = "seccomp profile path";
	for (size_t i = 0; !*bad && r->guards && i < r->guards->n; i++)
		if (!mountable(r->guards->v[i].path))
			*bad = "guarded path";
	if (*bad)
		return -EINVAL;

#define TRY(x) do { if ((rc = (x))) goto fail; } while (0)
	TRY(cbpf_argv_add(a, r->podman));
	TRY(cbpf_argv_add(a, "create"));
	TRY(cbpf_argv_add(a, "--rm"));
	TRY(cbpf_argv_add(a, "--interactive"));
	if (r->tty)
		TRY(cbpf_argv_add(a, "--tty"));
	if (r->cgroup_parent)
		TRY(addf(a, "--cgroup-parent=%s", r->cgroup_parent));
	/* Every part of the boundary is named here, none left to podman's
	 * defaults, which a site's containers.conf may change: a network and a
	 * cgroup namespace of its own (the host's would put the agent beside
	 * the host's loopback services, and let it see its own cgroup path),
	 * the capabilities, the system-call filter, no new privileges. */
	/* A rootless container reaches a policy's forwarder on the host's
	 * loopback, which slirp4netns opens to it only when asked; the policy
	 * denies every other port there (dnsfwd.h). */
	if (r->no_internet)
		TRY(cbpf_argv_add(a, "--network=none"));
	else if (r->rootless && r->dns)
		TRY(cbpf_argv_add(a, "--network=slirp4netns:allow_host_loopback=true"));
	else
		TRY(cbpf_argv_add(a, "--network=private"));
	/* The redirect sends any resolver's port 53 to the forwarder; naming
	 * it in resolv.conf spares clients a resolver they cannot have. */
	if (r->dns && !r->no_internet)
		TRY(addf(a, "--dns=%s", r->dns));
	TRY(cbpf_argv_add(a, "--cgroupns=private"));
	TRY(cbpf_argv_add(a, "--cap-drop=all"));
	TRY(cbpf_argv_add(a, "--cap-add=" CBPF_PODMAN_CAPS));
	TRY(addf(a, "--security-opt=seccomp=%s", r->seccomp));
	TRY(cbpf_argv_add(a, "--security-opt=label=disable"));
	TRY(cbpf_argv_add(a, "--security-opt=no-new-privileges"));
	if (r->rootless)
		TRY(cbpf_argv_add(a, "--userns=keep-id"));
	else if (r->uid != 0)
		TRY(addf(a, "--user=%u:%u", (unsigned)r->uid, (unsigned)r->gid));
	if (r->memory)
		TRY(addf(a, "--memory=%s", r->memory));
	if (r->cpus)
		TRY(addf(a, "--cpus=%s", r->cpus));
	TRY(addf(a, "--env=HOME=%s", r->home));
	for (const char *const *e = r->env; e && *e; e++)
		TRY(addf(a, "--env=%s", *e));   /* the value stays off the command line */
	/* Every mount nosuid and nodev. The agent's own home at HOME; ~/git
	 * read-only, the current directory writable even inside it (podman
	 * mounts the deeper path over the shallower); then the guarded paths
	 * of the tree over it. */
	TRY(addf(a, "--volume=%s:%s:rw," MOUNT_FLAGS, r->agent_home, r->home));
	if (r->git_dir && strcmp(r->cwd, git))
		TRY(addf(a, "--volume=%s:%s:ro," MOUNT_FLAGS, git, git));
	TRY(addf(a, "--volume=%s:%s:rw," MOUNT_FLAGS, r->cwd, r->cwd));
	for (size_t i = 0; r->guards && i < r->guards->n; i++) {
		const struct cbpf_guard *g = &r->guards->v[i];

		if (!g->sweep)
			TRY(addf(a, "--volume=%s:%s:%s," MOUNT_FLAGS, g->path, g->path,
				 g->rw ? "rw" : "ro"));
	}
	TRY(addf(a, "--workdir=%s", r->cwd));
	TRY(cbpf_argv_add(a, r->image));
	if (r->shell) {
		TRY(cbpf_argv_add(a, "bash"));
	} else {
		TRY(cbpf_argv_add(a, "claude"));
		TRY(cbpf_argv_add(a, "--dangerously-skip-permissions"));
	}
	for (size_t i = 0; i < r->nargs; i++)
		TRY(cbpf_argv_add(a, r->args[i]));
#undef TRY
	return 0;
fail:
	cbpf_argv_free(out);
	return rc;
}

/* Whether `item,` is one of the comma-ended items of list[0, len). */
static bool has_item(const char *list, size_t len, const char *item)
{
	size_t n = strlen(item);

	for (const char *p = list; p < list + len;) {
		const char *end = memchr(p, ',', (size_t)(list + len - p));

		if (!end)
			return false;
		if ((size_t)(end - p) == n && !memcmp(p, item, n))
			return true;
		p = end + 1;
	}
	return false;
}

int cbpf_podman_check(const char *inspect, const char *seccomp, bool no_internet,
		      const char **what)
{
	const char *f[4], *p = inspect;
	size_t len[4];
	char opt[4200];

	for (int i = 0; i < 4; i++) {
		const char *end = strchr(p, '|');

		f[i] = p;
		if (i < 3 && !end) {
			*what = "the output of podman inspect";
			return -EPERM;
		}
		len[i] = i < 3 ? (size_t)(end - p) : strcspn(p, "\n");
		p = end ? end + 1 : p + len[i];
	}
	*what = "its network namespace (NetworkMode)";
	if (no_internet ? (len[0] != 4 || memcmp(f[0], "none", 4)) :
	    (len[0] == 0 || (len[0] == 4 && !memcmp(f[0], "host", 4)) ||
	     (len[0] == 4 && !memcmp(f[0], "none", 4)) ||
	     !strncmp(f[0], "ns:", 3) || !strncmp(f[0], "container:", 10)))
		return -EPERM;
	*what = "its cgroup namespace (CgroupMode)";
	if (len[1] != 7 || memcmp(f[1], "private", 7))
		return -EPERM;
	*what = "no-new-privileges";
	if (!has_item(f[2], len[2], "no-new-privileges"))
		return -EPERM;
	*what = "its seccomp profile";
	snprintf(opt, sizeof(opt), "seccomp=%s", seccomp);
	if (!has_item(f[2], len[2], opt))
		return -EPERM;
	*what = "its capabilities (BoundingCaps)";
	for (p = f[3]; p < f[3] + len[3];) {
		const char *end = memchr(p, ',', (size_t)(f[3] + len[3] - p));
		char cap[64];

		if (!end || end - p < 5 || (size_t)(end - p) >= sizeof(cap) ||
		    strncmp(p, "CAP_", 4))
			return -EPERM;
		snprintf(cap, sizeof(cap), "%.*s", (int)(end - p - 4), p + 4);
		if (!has_item(CBPF_PODMAN_CAPS ",", strlen(CBPF_PODMAN_CAPS ","), cap))
			return -EPERM;
		p = end + 1;
	}
	*what = NULL;
	return 0;
}
