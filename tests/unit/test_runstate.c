/* Unit tests of the runtime folder's layout and codecs (user/runstate.c):
 * the path of each file and the state file's text, byte for byte as run
 * and the integration tests read them. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "runstate.h"

static void test_paths(void **state)
{
	static const struct {
		enum cbpf_runfile kind;
		const char *name, *path;
	} ok[] = {
		{ CBPF_RUNFILE_STATE,   "default", "/run/claude-bpf/default" },
		{ CBPF_RUNFILE_PID,     "default", "/run/claude-bpf/default.pid" },
		{ CBPF_RUNFILE_HOSTS,   "cbt_rf",  "/run/claude-bpf/cbt_rf.hosts" },
		{ CBPF_RUNFILE_DNS,     "cbt_rf",  "/run/claude-bpf/cbt_rf.dns" },
		{ CBPF_RUNFILE_GRANTS,  "cbt_rf",  "/run/claude-bpf/cbt_rf.grants" },
		{ CBPF_RUNFILE_LOCK,    NULL,      "/run/claude-bpf/lock" },
		{ CBPF_RUNFILE_LOCK,    "ignored", "/run/claude-bpf/lock" },
		{ CBPF_RUNFILE_SECCOMP, NULL,      "/run/claude-bpf/seccomp.json" },
	};
	static const struct {
		enum cbpf_runfile kind;
		const char *name;
	} bad[] = {
		{ CBPF_RUNFILE_STATE,  NULL },
		{ CBPF_RUNFILE_STATE,  "" },
		{ CBPF_RUNFILE_HOSTS,  "../etc/passwd" },
		{ CBPF_RUNFILE_GRANTS, "a/b" },
		{ (enum cbpf_runfile)99, "default" },
	};
	char path[64];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(cbpf_runstate_path(path, sizeof(path), ok[i].name, ok[i].kind), 0);
		assert_string_equal(path, ok[i].path);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cbpf_runstate_path(path, sizeof(path), bad[i].name, bad[i].kind),
				 -EINVAL);
	/* Exactly the room it needs, and one byte less. */
	assert_int_equal(cbpf_runstate_path(path, sizeof("/run/claude-bpf/ab.pid"), "ab",
					    CBPF_RUNFILE_PID), 0);
	assert_int_equal(cbpf_runstate_path(path, sizeof("/run/claude-bpf/ab.pid") - 1, "ab",
					    CBPF_RUNFILE_PID), -ENAMETOOLONG);
}

static void test_state_format(void **state)
{
	struct cbpf_runstate st = { .cgroup_id = 4242 };
	char buf[256];

	(void)state;
	snprintf(st.cgroup, sizeof(st.cgroup), "/sys/fs/cgroup/claude-bpf/default");
	assert_int_equal(cbpf_runstate_format(&st, buf, sizeof(buf)),
			 (int)strlen("cgroup_id 4242\ncgroup /sys/fs/cgroup/claude-bpf/default\n"));
	assert_string_equal(buf, "cgroup_id 4242\ncgroup /sys/fs/cgroup/claude-bpf/default\n");

	st.selftest = true;
	st.passed = false;
	st.blocked = 12;
	st.leaked = 1;
	st.untested = 3;
	assert_true(cbpf_runstate_format(&st, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "cgroup_id 4242\ncgroup /sys/fs/cgroup/claude-bpf/default\n"
			    "selftest leaked 12 1 3\n");
	st.passed = true;
	assert_true(cbpf_runstate_format(&st, buf, sizeof(buf)) > 0);
	assert_string_equal(buf + strlen(buf) - strlen("selftest passed 12 1 3\n"),
			    "selftest passed 12 1 3\n");
	/* Too small for the selftest line, or for the text at all. */
	assert_int_equal(cbpf_runstate_format(&st, buf, 60), -ENAMETOOLONG);
	assert_int_equal(cbpf_runstate_format(&st, buf, 10), -ENAMETOOLONG);
}

static void test_state_parse(void **state)
{
	struct cbpf_runstate st, back;
	char buf[256];

	(void)state;
	assert_int_equal(cbpf_runstate_parse("cgroup_id 7\ncgroup /a/b\n", &st), 0);
	assert_int_equal(st.cgroup_id, 7);
	assert_string_equal(st.cgroup, "/a/b");
	assert_false(st.selftest);

	/* Any order, no last newline, a line of no meaning here left alone. */
	assert_int_equal(cbpf_runstate_parse("selftest passed 1 0 2\nnote x\ncgroup /c\n"
					     "cgroup_id 18446744073709551615", &st), 0);
	assert_int_equal(st.cgroup_id, UINT64_MAX);
	assert_string_equal(st.cgroup, "/c");
	assert_true(st.selftest);
	assert_true(st.passed);
	assert_int_equal(st.blocked, 1);
	assert_int_equal(st.leaked, 0);
	assert_int_equal(st.untested, 2);

	/* What format writes, parse reads back. */
	assert_true(cbpf_runstate_format(&st, buf, sizeof(buf)) > 0);
	assert_int_equal(cbpf_runstate_parse(buf, &back), 0);
	assert_memory_equal(&st, &back, sizeof(st));
}

static void test_state_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"cgroup_id 7\n",                                  /* no cgroup */
		"cgroup /a\n",                                    /* no id */
		"cgroup_id 7\ncgroup a/b\n",                      /* not absolute */
		"cgroup_id 7x\ncgroup /a\n",                      /* trailing garbage */
		"cgroup_id -7\ncgroup /a\n",
		"cgroup_id \ncgroup /a\n",
		"cgroup_id 18446744073709551616\ncgroup /a\n",    /* 2^64 */
		"cgroup_id 7\ncgroup /a\nselftest maybe 1 2 3\n",
		"cgroup_id 7\ncgroup /a\nselftest passed 1 2\n",
		"cgroup_id 7\ncgroup /a\nselftest passed 1 2 3 4\n",
		"cgroup_id 7\ncgroup /a\nselftest leaked 1 x 3\n",
	};
	struct cbpf_runstate st;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cbpf_runstate_parse(bad[i], &st), -EBADMSG);
}

static void test_state_long_cgroup(void **state)
{
	char *text = malloc(CBPF_RUNSTATE_CGROUP_MAX + 64);
	struct cbpf_runstate st;
	size_t n;

	(void)state;
	assert_non_null(text);
	/* The longest cgroup it holds, then one byte more. */
	n = (size_t)sprintf(text, "cgroup_id 1\ncgroup /");
	memset(text + n, 'x', CBPF_RUNSTATE_CGROUP_MAX - 2);
	memcpy(text + n + CBPF_RUNSTATE_CGROUP_MAX - 2, "\n", 2);
	assert_int_equal(cbpf_runstate_parse(text, &st), 0);
	assert_int_equal(strlen(st.cgroup), CBPF_RUNSTATE_CGROUP_MAX - 1);
	memcpy(text + n + CBPF_RUNSTATE_CGROUP_MAX - 2, "x\n", 3);
	assert_int_equal(cbpf_runstate_parse(text, &st), -EBADMSG);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_state_format),
		cmocka_unit_test(test_state_parse),
		cmocka_unit_test(test_state_parse_rejects),
		cmocka_unit_test(test_state_long_cgroup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
