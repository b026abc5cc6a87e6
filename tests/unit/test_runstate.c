/* Unit tests of the runtime folder's layout and codecs (user/base/runstate.c):
 * the path of each file, the state file's text and the refresher's hosts
 * records, byte for byte as status and the integration tests read them. */
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
#include "base/runstate.h"

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

static const struct cbpf_host_record records[] = {
	{ .name = "api.example.com", .answered_ns = 123456789012ull, .ttl = 300,
	  .failures = 0, .skipped = "", .error = NULL },
	{ .name = "down.test", .answered_ns = 0, .ttl = 0, .failures = 3,
	  .skipped = "0.0.0.0/32,::/128",
	  .error = "t.conf:2: cannot resolve 'down.test': Timeout while contacting DNS servers" },
	{ .name = "flaky.test", .answered_ns = 5, .ttl = 2, .failures = 1,
	  .skipped = "", .error = "" },
};

/* The lines the refresher wrote before its records: what status and the
 * tests read. */
static const char records_text[] =
	"api.example.com\t123456789012\t300\t0\t-\t\n"
	"down.test\t0\t0\t3\t0.0.0.0/32,::/128\t"
	"t.conf:2: cannot resolve 'down.test': Timeout while contacting DNS servers\n"
	"flaky.test\t5\t2\t1\t-\t\n";

static void test_hosts_format(void **state)
{
	char *text;

	(void)state;
	text = cbpf_host_records_format(records, 3);
	assert_non_null(text);
	assert_string_equal(text, records_text);
	free(text);

	text = cbpf_host_records_format(records, 0);
	assert_non_null(text);
	assert_string_equal(text, "");
	free(text);
}

static void test_hosts_format_keeps_lines(void **state)
{
	const struct cbpf_host_record r = {
		.name = "a.test", .answered_ns = 1, .ttl = 2, .failures = 1,
		.skipped = "", .error = "odd\tpath\n.conf:1: cannot resolve 'a.test': x",
	};
	struct cbpf_host_records back;
	char *text = cbpf_host_records_format(&r, 1);

	(void)state;
	assert_non_null(text);
	assert_string_equal(text, "a.test\t1\t2\t1\t-\todd path .conf:1: cannot resolve "
			    "'a.test': x\n");
	assert_int_equal(cbpf_host_records_parse(text, &back), 0);
	assert_int_equal(back.n, 1);
	assert_string_equal(back.v[0].error, "odd path .conf:1: cannot resolve 'a.test': x");
	cbpf_host_records_free(&back);
}

static void test_hosts_parse(void **state)
{
	struct cbpf_host_records got;

	(void)state;
	assert_int_equal(cbpf_host_records_parse(strdup(records_text), &got), 0);
	assert_int_equal(got.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(got.v[i].name, records[i].name);
		assert_int_equal(got.v[i].answered_ns, records[i].answered_ns);
		assert_int_equal(got.v[i].ttl, records[i].ttl);
		assert_int_equal(got.v[i].failures, records[i].failures);
		assert_string_equal(got.v[i].skipped, records[i].skipped);
		assert_string_equal(got.v[i].error, records[i].error ? records[i].error : "");
	}
	cbpf_host_records_free(&got);
	assert_null(got.v);
	assert_int_equal(got.n, 0);

	assert_int_equal(cbpf_host_records_parse(strdup(""), &got), 0);
	assert_int_equal(got.n, 0);
	cbpf_host_records_free(&got);
}

static void test_hosts_parse_skips(void **state)
{
	static const struct {
		const char *line;
		bool ok;
	} lines[] = {
		{ "a.test\t1\t2\t0\t-\t", true },
		{ "a.test\t1\t2\t0\t-", true },             /* no error field at all */
		{ "a.test\t1\t2\t0\t1.2.3.4/32\tboom", true },
		{ "a.test\t1\t2\t0", false },               /* too few fields */
		{ "a.test\t1\t2", false },
		{ "", false },
		{ "\t1\t2\t0\t-\t", false },                /* no name */
		{ "a.test\tx\t2\t0\t-\t", false },          /* not numbers */
		{ "a.test\t1\t2s\t0\t-\t", false },
		{ "a.test\t1\t2\t-1\t-\t", false },
		{ "a.test\t1\t4294967296\t0\t-\t", false }, /* ttl past unsigned */
		{ "a.test\t1\t2\t2147483648\t-\t", false }, /* failures past int */
		{ "a.test\t1\t2\t0\t\t", false },           /* empty skipped field */
		{ "a.test\t\t1\t2\t0\t-\t", false },        /* a field too many in front */
	};
	char text[128];

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct cbpf_host_records got;

		/* Between two good lines, which always count. */
		snprintf(text, sizeof(text), "x.test\t1\t1\t0\t-\t\n%s\ny.test\t1\t1\t0\t-\t\n",
			 lines[i].line);
		assert_int_equal(cbpf_host_records_parse(strdup(text), &got), 0);
		assert_int_equal(got.n, lines[i].ok ? 3 : 2);
		assert_string_equal(got.v[0].name, "x.test");
		assert_string_equal(got.v[got.n - 1].name, "y.test");
		if (lines[i].ok)
			assert_string_equal(got.v[1].name, "a.test");
		cbpf_host_records_free(&got);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_state_format),
		cmocka_unit_test(test_state_parse),
		cmocka_unit_test(test_state_parse_rejects),
		cmocka_unit_test(test_state_long_cgroup),
		cmocka_unit_test(test_hosts_format),
		cmocka_unit_test(test_hosts_format_keeps_lines),
		cmocka_unit_test(test_hosts_parse),
		cmocka_unit_test(test_hosts_parse_skips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
