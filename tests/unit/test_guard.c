/* Unit tests of what `run` holds in the working tree (user/core/guard.c) and of
 * the agent's home (user/core/agent_home.c), on real folders in a temporary
 * directory. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/agent_home.h"
#include "core/guard.h"

static char tmp[256];

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/cbpf-guard-XXXXXX");
	return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd);
}

static void path(char *out, const char *rel)
{
	snprintf(out, PATH_MAX, "%s/%s", tmp, rel);
}

static void make_dir(const char *rel)
{
	char p[PATH_MAX];

	path(p, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void make_file(const char *rel, const char *text)
{
	char p[PATH_MAX];
	FILE *f;

	path(p, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static bool exists(const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	path(p, rel);
	return lstat(p, &st) == 0;
}

static const struct cbpf_guard *find(const struct cbpf_guards *g, const char *rel)
{
	char p[PATH_MAX];

	path(p, rel);
	for (size_t i = 0; i < g->n; i++)
		if (!strcmp(g->v[i].path, p))
			return &g->v[i];
	return NULL;
}

/* A repository with hooks, a config and project Claude settings. */
static void test_repository(void **state)
{
	struct cbpf_guards g;
	const struct cbpf_guard *e;
	char what[PATH_MAX], q[PATH_MAX];

	(void)state;
	make_dir(".git");
	make_dir(".git/hooks");
	make_file(".git/config", "[core]\n");
	make_dir(".claude");
	assert_int_equal(cbpf_guard_prepare(tmp, true, &g, what, sizeof(what)), 0);
	/* .git bound onto itself read-write, first (podman sorts by depth). */
	assert_non_null(e = find(&g, ".git"));
	assert_true(e->rw && !e->placeholder && !e->sweep);
	assert_ptr_equal(e, &g.v[0]);
	assert_non_null(e = find(&g, ".git/hooks"));
	assert_true(!e->rw && !e->placeholder);
	assert_non_null(e = find(&g, ".git/config"));
	assert_false(e->rw);
	assert_non_null(e = find(&g, ".claude"));
	assert_false(e->placeholder);
	/* Missing: held by placeholders, or swept, or left. */
	assert_non_null(e = find(&g, ".mcp.json"));
	assert_true(e->placeholder);
	assert_true(exists(".mcp.json") && exists(".vscode") && exists(".idea"));
	assert_non_null(e = find(&g, ".git/commondir"));
	assert_true(e->sweep);
	assert_null(find(&g, ".gitmodules"));
	assert_null(find(&g, ".git/modules"));
	assert_null(find(&g, ".envrc"));

	/* The agent made .git/commondir: moved aside; placeholders gone. */
	make_file(".git/commondir", "../evil\n");
	path(q, "quarantine");
	assert_int_equal(cbpf_guard_finish(tmp, &g, q), 1);
	assert_false(exists(".git/commondir"));
	assert_false(exists(".mcp.json") || exists(".vscode") || exists(".idea"));
	assert_true(exists(".git/hooks") && exists(".claude"));
	assert_non_null(e = find(&g, ".git/commondir"));
	assert_true(e->appeared);
	assert_non_null(strstr(e->moved_to, "/quarantine/"));
	assert_non_null(strstr(e->moved_to, ".git_commondir"));
	assert_int_equal(access(e->moved_to, F_OK), 0);
}

/* No repository: a read-only .git placeholder, nothing inside it. */
static void test_no_repository(void **state)
{
	struct cbpf_guards g;
	const struct cbpf_guard *e;
	char what[PATH_MAX], q[PATH_MAX];

	(void)state;
	make_file(".envrc", "export A=1\n");
	assert_int_equal(cbpf_guard_prepare(tmp, true, &g, what, sizeof(what)), 0);
	assert_non_null(e = find(&g, ".git"));
	assert_true(e->placeholder && !e->rw);
	assert_true(exists(".git"));
	for (size_t i = 0; i < g.n; i++)
		assert_null(strstr(g.v[i].path, "/.git/"));
	assert_non_null(find(&g, ".envrc"));
	path(q, "quarantine");
	assert_int_equal(cbpf_guard_finish(tmp, &g, q), 0);
	assert_false(exists(".git"));
	assert_false(exists("quarantine"));
}

/* A .git file (a linked worktree) is held itself. */
static void test_git_file(void **state)
{
	struct cbpf_guards g;
	const struct cbpf_guard *e;
	char what[PATH_MAX];

	(void)state;
	make_file(".git", "gitdir: /elsewhere/.git/worktrees/x\n");
	assert_int_equal(cbpf_guard_prepare(tmp, false, &g, what, sizeof(what)), 0);
	assert_non_null(e = find(&g, ".git"));
	assert_true(!e->rw && !e->placeholder);
	assert_null(find(&g, ".git/hooks"));
}

/* A symbolic link cannot be held; nothing is left made. --dry-run makes
 * nothing. */
static void test_link_and_dry_run(void **state)
{
	struct cbpf_guards g;
	char what[PATH_MAX], p[PATH_MAX];

	(void)state;
	make_dir(".git");
	path(p, ".vscode");
	assert_int_equal(symlink("/etc", p), 0);
	assert_int_equal(cbpf_guard_prepare(tmp, true, &g, what, sizeof(what)), -ELOOP);
	assert_non_null(strstr(what, ".vscode"));
	assert_false(exists(".git/hooks") || exists(".claude") || exists(".mcp.json"));
	unlink(p);
	assert_int_equal(cbpf_guard_prepare(tmp, false, &g, what, sizeof(what)), 0);
	assert_false(exists(".git/hooks") || exists(".claude") || exists(".mcp.json"));
	assert_non_null(find(&g, ".mcp.json"));
	assert_false(find(&g, ".mcp.json")->placeholder);
}

/* The agent's home: made, seeded once from the host's login, never over
 * what it holds; a symlinked ~/.claude or ~/git is refused. */
static void test_agent_home(void **state)
{
	char home[PATH_MAX], ah[PATH_MAX], q[PATH_MAX], what[PATH_MAX], p[PATH_MAX];
	char buf[64] = "";
	FILE *f;

	(void)state;
	make_dir("h");
	make_dir("h/.claude");
	make_file("h/.claude.json", "{\"host\":1}");
	make_file("h/.claude/.credentials.json", "{\"token\":\"t\"}");
	make_file("h/.claude/settings.json", "{\"hooks\":{}}");
	path(home, "h");
	assert_int_equal(cbpf_agent_home_paths(home, NULL, ah, q, sizeof(ah)), 0);
	assert_non_null(strstr(ah, "/h/.local/state/claude-bpf/home"));
	assert_non_null(strstr(q, "/h/.local/state/claude-bpf/quarantine"));
	assert_int_equal(cbpf_agent_home_paths(home, "/x/state", p, q, sizeof(p)), 0);
	assert_string_equal(p, "/x/state/claude-bpf/home");
	assert_int_equal(cbpf_agent_home_paths(home, "relative", p, q, sizeof(p)), 0);
	assert_string_equal(p, ah);

	assert_int_equal(cbpf_agent_home_prepare(home, ah, what, sizeof(what)), 0);
	assert_true(exists("h/.local/state/claude-bpf/home/.claude/.credentials.json"));
	assert_true(exists("h/.local/state/claude-bpf/home/.claude.json"));
	/* Only the login: the host's settings (hooks) stay the host's. */
	assert_false(exists("h/.local/state/claude-bpf/home/.claude/settings.json"));
	/* The agent changed its own: a second run keeps it. */
	make_file("h/.local/state/claude-bpf/home/.claude.json", "{\"agent\":2}");
	assert_int_equal(cbpf_agent_home_prepare(home, ah, what, sizeof(what)), 0);
	path(p, "h/.local/state/claude-bpf/home/.claude.json");
	f = fopen(p, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "{\"agent\":2}");

	path(p, "h/git");
	assert_int_equal(symlink("/tmp", p), 0);
	assert_int_equal(cbpf_agent_home_prepare(home, ah, what, sizeof(what)), -ELOOP);
	assert_non_null(strstr(what, "/h/git"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_repository, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_repository, setup, teardown),
		cmocka_unit_test_setup_teardown(test_git_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_and_dry_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agent_home, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
