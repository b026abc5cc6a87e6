/* What the agent may not change in the working tree; see guard.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "base/os.h"
#include "core/guard.h"

enum missing {
	LEAVE,          /* nothing acts on it unless something guarded names it */
	HOLD,           /* appearing is enough to act: a read-only placeholder */
	SWEEP,          /* cannot be held (git writes beside it): moved at exit */
};

/* Relative to the tree. Inside .git only when .git is a folder. */
static const struct {
	const char *rel;
	enum missing missing;
} guarded[] = {
	{ ".git/hooks", HOLD },             /* run by git on the host */
	{ ".git/config", LEAVE },           /* core.fsmonitor, core.sshCommand, hooksPath, aliases */
	{ ".git/modules", LEAVE },          /* submodules' own config and hooks */
	{ ".git/worktrees", LEAVE },        /* linked worktrees' gitdir files */
	{ ".git/commondir", SWEEP },        /* sends git to another config */
	{ ".git/config.worktree", SWEEP },
	{ ".gitmodules", LEAVE },
	{ ".husky", LEAVE },                /* hook folders a config names */
	{ ".githooks", LEAVE },
	{ ".claude", HOLD },                /* hooks, apiKeyHelper, statusLine, commands, agents */
	{ ".mcp.json", HOLD },              /* MCP server commands */
	{ ".vscode", HOLD },                /* tasks that run on folder open */
	{ ".idea", HOLD },
	{ ".envrc", LEAVE },                /* direnv asks before it runs a new one */
};

static int add(struct cbpf_guards *g, const char *cwd, const char *rel, char *what, size_t len)
{
	struct cbpf_guard *e;

	if (g->n >= CBPF_GUARD_MAX)
		return -E2BIG;
	e = &g->v[g->n];
	memset(e, 0, sizeof(*e));
	if ((size_t)snprintf(e->path, sizeof(e->path), "%s/%s", cwd, rel) >= sizeof(e->path)) {
		snprintf(what, len, "%s/%s", cwd, rel);
		return -ENAMETOOLONG;
	}
	g->n++;
	return 0;
}

static void unmake(struct cbpf_guards *g)
{
	for (size_t i = g->n; i-- > 0;)
		if (g->v[i].placeholder)
			rmdir(g->v[i].path);
}

/* Adds `rel` as it is: held when present, a placeholder or a sweep when
 * missing. */
static int guard(struct cbpf_guards *g, const char *cwd, const char *rel, enum missing m,
		 bool make, char *what, size_t len)
{
	struct cbpf_guard *e;
	struct stat st;
	int err;

	if ((err = add(g, cwd, rel, what, len)))
		return err;
	e = &g->v[g->n - 1];
	snprintf(what, len, "%s", e->path);
	if (lstat(e->path, &st) == 0) {
		/* A link would be held where it points, and could be
		 * replaced by a real file beside the mount. */
		return S_ISLNK(st.st_mode) ? -ELOOP : 0;
	}
	if (errno != ENOENT)
		return -errno;
	switch (m) {
	case LEAVE:
		g->n--;
		return 0;
	case SWEEP:
		e->sweep = true;
		return 0;
	case HOLD:
		if (make && mkdir(e->path, 0755))
			return -errno;
		e->placeholder = make;
		return 0;
	}
	return 0;
}

int cbpf_guard_prepare(const char *cwd, bool make, struct cbpf_guards *g, char *what,
		       size_t len)
{
	struct stat st;
	char git[PATH_MAX];
	bool git_dir;
	int err = 0;

	memset(g, 0, sizeof(*g));
	snprintf(git, sizeof(git), "%s/.git", cwd);
	if (lstat(git, &st) == 0) {
		git_dir = S_ISDIR(st.st_mode);
	} else if (errno == ENOENT) {
		git_dir = false;
	} else {
		snprintf(what, len, "%s", git);
		return -errno;
	}
	/* No repository: a read-only .git, so that none is made in which
	 * hooks could wait for the host's next commit. A .git file (a linked
	 * worktree, a submodule) names a git folder outside the tree, which
	 * is not mounted; the file itself is held. A .git folder is bound
	 * onto itself: a mount point cannot be renamed away and replaced. */
	err = guard(g, cwd, ".git", HOLD, make, what, len);
	if (!err && git_dir)
		g->v[g->n - 1].rw = true;
	for (size_t i = 0; !err && i < sizeof(guarded) / sizeof(guarded[0]); i++) {
		if (!strncmp(guarded[i].rel, ".git/", 5) && !git_dir)
			continue;
		err = guard(g, cwd, guarded[i].rel, guarded[i].missing, make, what, len);
	}
	if (err)
		unmake(g);
	return err;
}

int cbpf_guard_finish(const char *cwd, struct cbpf_guards *g, const char *quarantine)
{
	char dir[PATH_MAX / 2];
	size_t cwd_len = strlen(cwd);
	int appeared = 0;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/%lld", quarantine, (long long)time(NULL));
	for (size_t i = g->n; i-- > 0;) {
		struct cbpf_guard *e = &g->v[i];

		if (e->placeholder)
			rmdir(e->path);
		if (!e->sweep || lstat(e->path, &st))
			continue;
		e->appeared = true;
		appeared++;
		/* Kept, flattened: .git/commondir -> .git_commondir. */
		if ((size_t)snprintf(e->moved_to, sizeof(e->moved_to), "%.*s/%s", PATH_MAX / 2, dir,
				     e->path + cwd_len + 1) >= sizeof(e->moved_to)) {
			e->err = -ENAMETOOLONG;
			e->moved_to[0] = '\0';
			continue;
		}
		for (char *s = e->moved_to + strlen(dir) + 1; *s; s++)
			if (*s == '/')
				*s = '_';
		if ((e->err = cbpf_mkdir_p(dir)) || (rename(e->path, e->moved_to) && (e->err = -errno)))
			e->moved_to[0] = '\0';
	}
	return appeared;
}
