/* Unit tests for user/core/cgroup.c: mountinfo parsing, policy names, enforcement
 * paths and podman --cgroup-parent values; file-system calls that need no root. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/cgroup.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define U "/sys/fs/cgroup"          /* unified */
#define H "/sys/fs/cgroup/unified"  /* hybrid, as on the CI machine */
#define USER1000 "/user.slice/user-1000.slice/user@1000.service"

/* Checks a return code and, on success, the string produced, naming the
 * table row on failure. */
static void check(const char *what, int rc, int want_rc, const char *out,
		  const char *want)
{
	if (rc != want_rc)
		fail_msg("%s: returned %d (%s), want %d (%s)", what, rc,
			 strerror(-rc), want_rc, strerror(-want_rc));
	if (!want_rc && strcmp(out, want))
		fail_msg("%s: got '%s', want '%s'", what, out, want);
}

/* --- mountinfo --- */

/* This machine's /proc/self/mountinfo, cgroup lines and neighbours. */
static const char mi_hybrid_ci[] =
	"22 26 0:21 / /sys rw,relatime - sysfs sysfs rw\n"
	"26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534\n"
	"30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
	"31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
	"32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
	"33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
	"34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
	"35 30 0:32 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
	"36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
	"37 30 0:34 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
	"38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
	"39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
	"40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
	"41 22 0:38 / /sys/fs/bpf rw,relatime - bpf bpf rw\n";

/* A systemd host: optional fields ("shared:N") before the separator. */
static const char mi_unified[] =
	"22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
	"25 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:8 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
	"26 22 0:23 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:9 - bpf bpf rw,mode=700\n";

static const char mi_hybrid_systemd[] =
	"24 22 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
	"25 24 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate\n"
	"26 24 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 master:1 - cgroup cgroup rw,xattr,name=systemd\n";

static const char mi_v1_only[] =
	"30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
	"31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
	"39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n";

static const char mi_two[] =
	"40 30 0:37 / /first rw - cgroup2 cgroup2 rw\n"
	"41 30 0:38 / /second rw - cgroup2 cgroup2 rw\n";

static const char mi_escaped[] =
	"40 30 0:37 / /mnt/my\\040cg\\011tab\\012nl\\134bs rw - cgroup2 none rw\n";

/* Each malformed line would name /bad if it were taken. */
static const char mi_malformed[] =
	"garbage\n"
	"\n"
	"1 2 3\n"
	"40 30 0:37 / /bad rw cgroup2 cgroup2 rw\n"          /* no separator */
	"40 30 0:37 / /bad rw -\n"                           /* nothing after it */
	"40 30 0:37 / /bad rw - cgroup2\n"                   /* no source, options */
	"40 30 0:37 / - cgroup2 cgroup2 rw\n"                /* too few fields */
	"40 30 0:37 / bad rw - cgroup2 cgroup2 rw\n"         /* relative */
	"40 30 0:37 / /bad\\000x rw - cgroup2 cgroup2 rw\n"  /* escaped NUL */
	"40 30 0:37 / /bad rw - cgroup2x cgroup2 rw\n"       /* other fstype */
	"40 30 0:37 / /bad rw - cgroup cgroup2 rw\n"
	"41 30 0:38 / /good rw - cgroup2 cgroup2 rw";        /* no final \n */

static const char mi_malformed_only[] =
	"40 30 0:37 / /bad rw cgroup2 cgroup2 rw\n"
	"40 30 0:37 / /bad rw - cgroup2\n"
	"x y z w v u - cgroup2";

static void test_mountinfo(void **state)
{
	static const struct {
		const char *what, *text;
		size_t len;             /* of the output buffer; 0: PATH_MAX */
		int rc;
		const char *mount;
	} cases[] = {
		{ "unified", mi_unified, 0, 0, U },
		{ "hybrid, this machine", mi_hybrid_ci, 0, 0, H },
		{ "hybrid, systemd", mi_hybrid_systemd, 0, 0, H },
		{ "v1 only", mi_v1_only, 0, -ENOENT, NULL },
		{ "empty", "", 0, -ENOENT, NULL },
		{ "several: the first", mi_two, 0, 0, "/first" },
		{ "escaped", mi_escaped, 0, 0, "/mnt/my cg\ttab\nnl\\bs" },
		{ "unknown escape kept", "1 2 0:1 / /a\\9b\\ rw - cgroup2 c rw\n",
		  0, 0, "/a\\9b\\" },
		{ "malformed lines skipped", mi_malformed, 0, 0, "/good" },
		{ "malformed only", mi_malformed_only, 0, -ENOENT, NULL },
		{ "fits exactly", mi_unified, sizeof(U), 0, U },
		{ "one byte short", mi_unified, sizeof(U) - 1, -ENAMETOOLONG, NULL },
		{ "escape too long", mi_escaped, 8, -ENAMETOOLONG, NULL },
	};
	char out[PATH_MAX];

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : sizeof(out);
		int rc = cbpf_cgroup2_mount_parse(cases[i].text, out, len);

		check(cases[i].what, rc, cases[i].rc, out, cases[i].mount);
	}
}

/* --- policy names --- */

static void test_policy_names(void **state)
{
	static const struct {
		const char *name;
		bool valid;
	} cases[] = {
		{ "default", true },
		{ "a", true },
		{ "Build_42", true },
		{ "_", true },
		{ "abcdefghijklmnopqrstuvwxyz01234", true },   /* 31 */
		{ "abcdefghijklmnopqrstuvwxyz012345", false }, /* 32 */
		{ "", false },
		{ "a-b", false },        /* systemd nesting */
		{ "a/b", false },
		{ "/a", false },
		{ "a.b", false },
		{ ".", false },
		{ "..", false },
		{ "a b", false },
		{ "caf\xc3\xa9", false }, /* "café" in UTF-8 */
		{ "\xe2\x9c\x93", false },
		{ "a\n", false },
		{ "a@1000", false },
		{ "lock", false },        /* /run/claude-bpf/lock */
		{ "Lock", true },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++)
		if (cbpf_policy_name_valid(cases[i].name) != cases[i].valid)
			fail_msg("'%s': want %s", cases[i].name,
				 cases[i].valid ? "valid" : "invalid");
	assert_false(cbpf_policy_name_valid(NULL));
}

/* --- enforcement paths --- */

static void test_enforcement_path(void **state)
{
	static const struct {
		const char *what, *mount, *parent;
		enum cbpf_cgroup_manager mgr;
		bool rootless;
		uid_t uid;
		const char *name;
		size_t len;
		int rc;
		const char *path;
	} cases[] = {
		{ "cgroupfs unified", U, NULL, CBPF_CGM_CGROUPFS, false, 0,
		  "default", 0, 0, U "/claude-bpf/default" },
		{ "cgroupfs hybrid", H, NULL, CBPF_CGM_CGROUPFS, false, 0,
		  "default", 0, 0, H "/claude-bpf/default" },
		{ "cgroupfs ignores rootless", U, NULL, CBPF_CGM_CGROUPFS, true,
		  1000, "web", 0, 0, U "/claude-bpf/web" },
		{ "mount with trailing slash", U "/", NULL, CBPF_CGM_CGROUPFS,
		  false, 0, "default", 0, 0, U "/claude-bpf/default" },
		{ "systemd rootful", U, NULL, CBPF_CGM_SYSTEMD, false, 0,
		  "default", 0, 0, U "/claudebpf.slice/claudebpf-default.slice" },
		{ "systemd rootful hybrid", H, NULL, CBPF_CGM_SYSTEMD, false, 0,
		  "ci_1", 0, 0, H "/claudebpf.slice/claudebpf-ci_1.slice" },
		{ "systemd rootless 1000", U, NULL, CBPF_CGM_SYSTEMD, true, 1000,
		  "default", 0, 0,
		  U USER1000 "/claudebpf.slice/claudebpf-default.slice" },
		{ "parent with slash", H, "/ci/jobs", CBPF_CGM_CGROUPFS, false, 0,
		  "default", 0, 0, H "/ci/jobs/default" },
		{ "parent without slash", H, "ci/jobs", CBPF_CGM_CGROUPFS, false,
		  0, "default", 0, 0, H "/ci/jobs/default" },
		{ "parent with trailing slash", H, "ci/jobs/", CBPF_CGM_SYSTEMD,
		  true, 1000, "default", 0, 0, H "/ci/jobs/default" },
		{ "parent is the mount", U, "/", CBPF_CGM_CGROUPFS, false, 0,
		  "default", 0, 0, U "/default" },
		{ "empty parent", U, "", CBPF_CGM_CGROUPFS, false, 0, "default",
		  0, -EINVAL, NULL },
		{ "parent with ..", U, "ci/../..", CBPF_CGM_CGROUPFS, false, 0,
		  "default", 0, -EINVAL, NULL },
		{ "parent with .", U, "./ci", CBPF_CGM_CGROUPFS, false, 0,
		  "default", 0, -EINVAL, NULL },
		{ "parent with //", U, "ci//jobs", CBPF_CGM_CGROUPFS, false, 0,
		  "default", 0, -EINVAL, NULL },
		{ "invalid name", U, NULL, CBPF_CGM_CGROUPFS, false, 0, "a-b", 0,
		  -EINVAL, NULL },
		{ "name ..", U, NULL, CBPF_CGM_CGROUPFS, false, 0, "..", 0,
		  -EINVAL, NULL },
		{ "relative mount", "sys/fs/cgroup", NULL, CBPF_CGM_CGROUPFS,
		  false, 0, "default", 0, -EINVAL, NULL },
		{ "no mount", NULL, NULL, CBPF_CGM_CGROUPFS, false, 0, "default",
		  0, -EINVAL, NULL },
		{ "unknown manager", U, NULL, (enum cbpf_cgroup_manager)7, false,
		  0, "default", 0, -EINVAL, NULL },
		{ "fits exactly", U, NULL, CBPF_CGM_CGROUPFS, false, 0, "default",
		  sizeof(U "/claude-bpf/default"), 0, U "/claude-bpf/default" },
		{ "one byte short", U, NULL, CBPF_CGM_CGROUPFS, false, 0,
		  "default", sizeof(U "/claude-bpf/default") - 1, -ENAMETOOLONG,
		  NULL },
	};
	char out[PATH_MAX];

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : sizeof(out);
		int rc = cbpf_enforcement_path(cases[i].mount, cases[i].parent,
					       cases[i].mgr, cases[i].rootless,
					       cases[i].uid, cases[i].name, out,
					       len);

		check(cases[i].what, rc, cases[i].rc, out, cases[i].path);
	}
}

/* --- podman --cgroup-parent --- */

static void test_podman_cgroup_parent(void **state)
{
	static const struct {
		const char *what, *mount, *path;
		enum cbpf_cgroup_manager mgr;
		bool rootless;
		uid_t uid;
		size_t len;
		int rc;
		const char *parent;
	} cases[] = {
		{ "cgroupfs", U, U "/claude-bpf/default", CBPF_CGM_CGROUPFS,
		  false, 0, 0, 0, "/claude-bpf/default" },
		{ "cgroupfs hybrid", H, H "/claude-bpf/default",
		  CBPF_CGM_CGROUPFS, false, 0, 0, 0, "/claude-bpf/default" },
		{ "cgroupfs explicit parent", H, H "/ci/jobs/default",
		  CBPF_CGM_CGROUPFS, false, 0, 0, 0, "/ci/jobs/default" },
		{ "cgroupfs mount with trailing slash", U "/",
		  U "/claude-bpf/default", CBPF_CGM_CGROUPFS, false, 0, 0, 0,
		  "/claude-bpf/default" },
		{ "systemd rootful", U, U "/claudebpf.slice/claudebpf-default.slice",
		  CBPF_CGM_SYSTEMD, false, 0, 0, 0, "claudebpf-default.slice" },
		{ "systemd rootful hybrid", H,
		  H "/claudebpf.slice/claudebpf-default.slice", CBPF_CGM_SYSTEMD,
		  false, 0, 0, 0, "claudebpf-default.slice" },
		{ "systemd top-level slice", U, U "/claudebpf.slice",
		  CBPF_CGM_SYSTEMD, false, 0, 0, 0, "claudebpf.slice" },
		{ "systemd three levels", U, U "/a.slice/a-b.slice/a-b-c.slice",
		  CBPF_CGM_SYSTEMD, false, 0, 0, 0, "a-b-c.slice" },
		{ "systemd rootless 1000", U,
		  U USER1000 "/claudebpf.slice/claudebpf-default.slice",
		  CBPF_CGM_SYSTEMD, true, 1000, 0, 0, "claudebpf-default.slice" },
		{ "not under the mount", U, "/tmp/claude-bpf/default",
		  CBPF_CGM_CGROUPFS, false, 0, 0, -EINVAL, NULL },
		{ "mount name is only a prefix", U, U "x/claude-bpf/default",
		  CBPF_CGM_CGROUPFS, false, 0, 0, -EINVAL, NULL },
		{ "the mount itself", U, U, CBPF_CGM_CGROUPFS, false, 0, 0,
		  -EINVAL, NULL },
		{ "the mount with a slash", U, U "/", CBPF_CGM_CGROUPFS, false, 0,
		  0, -EINVAL, NULL },
		{ "climbs out", U, U "/claude-bpf/../../etc", CBPF_CGM_CGROUPFS,
		  false, 0, 0, -EINVAL, NULL },
		{ "relative path", U, "claude-bpf/default", CBPF_CGM_CGROUPFS,
		  false, 0, 0, -EINVAL, NULL },
		{ "systemd, not a slice", U, U "/claude-bpf/default",
		  CBPF_CGM_SYSTEMD, false, 0, 0, -EINVAL, NULL },
		{ "systemd, bare .slice", U, U "/.slice", CBPF_CGM_SYSTEMD, false,
		  0, 0, -EINVAL, NULL },
		{ "systemd, root slice", U, U "/-.slice", CBPF_CGM_SYSTEMD, false,
		  0, 0, -EINVAL, NULL },
		{ "systemd, double dash", U, U "/x.slice/x--y.slice",
		  CBPF_CGM_SYSTEMD, false, 0, 0, -EINVAL, NULL },
		{ "systemd, expansion mismatch", U,
		  U "/other.slice/claudebpf-x.slice", CBPF_CGM_SYSTEMD, false, 0,
		  0, -EINVAL, NULL },
		{ "systemd, dashed slice at the top", U, U "/claudebpf-x.slice",
		  CBPF_CGM_SYSTEMD, false, 0, 0, -EINVAL, NULL },
		{ "systemd, extra level", U,
		  U "/claudebpf.slice/claudebpf-x.slice/claudebpf-x.slice",
		  CBPF_CGM_SYSTEMD, false, 0, 0, -EINVAL, NULL },
		{ "rootless, not under user@1000", U,
		  U "/claudebpf.slice/claudebpf-default.slice", CBPF_CGM_SYSTEMD,
		  true, 1000, 0, -EINVAL, NULL },
		{ "rootless, another user", U,
		  U "/user.slice/user-1001.slice/user@1001.service"
		  "/claudebpf.slice/claudebpf-default.slice",
		  CBPF_CGM_SYSTEMD, true, 1000, 0, -EINVAL, NULL },
		{ "rootful given a rootless path", U,
		  U USER1000 "/claudebpf.slice/claudebpf-default.slice",
		  CBPF_CGM_SYSTEMD, false, 0, 0, -EINVAL, NULL },
		{ "systemd fits exactly", U, U "/claudebpf.slice",
		  CBPF_CGM_SYSTEMD, false, 0, sizeof("claudebpf.slice"), 0,
		  "claudebpf.slice" },
		{ "systemd one byte short", U, U "/claudebpf.slice",
		  CBPF_CGM_SYSTEMD, false, 0, sizeof("claudebpf.slice") - 1,
		  -ENAMETOOLONG, NULL },
		{ "cgroupfs one byte short", U, U "/claude-bpf/default",
		  CBPF_CGM_CGROUPFS, false, 0, sizeof("/claude-bpf/default") - 1,
		  -ENAMETOOLONG, NULL },
	};
	char out[PATH_MAX];

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : sizeof(out);
		int rc = cbpf_podman_cgroup_parent(cases[i].mount, cases[i].path,
						   cases[i].mgr,
						   cases[i].rootless,
						   cases[i].uid, out, len);

		check(cases[i].what, rc, cases[i].rc, out, cases[i].parent);
	}
}

/* Every enforcement path the launcher can compute has a podman parent. */
static void test_round_trip(void **state)
{
	static const char *const mounts[] = { U, H };
	static const char *const names[] = { "default", "a", "Build_42" };
	char path[PATH_MAX], parent[PATH_MAX];

	(void)state;
	for (size_t m = 0; m < N(mounts); m++)
		for (size_t n = 0; n < N(names); n++)
			for (int env = 0; env < 3; env++) {
				enum cbpf_cgroup_manager mgr = env ?
					CBPF_CGM_SYSTEMD : CBPF_CGM_CGROUPFS;
				bool rootless = env == 2;

				assert_int_equal(cbpf_enforcement_path(mounts[m],
					NULL, mgr, rootless, 1000, names[n],
					path, sizeof(path)), 0);
				if (cbpf_podman_cgroup_parent(mounts[m], path,
					mgr, rootless, 1000, parent,
					sizeof(parent)))
					fail_msg("no podman parent for %s", path);
			}
}

/* --- file system, no root needed --- */

static int rm_one(const char *p, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(p);
}

static int tmp_setup(void **state)
{
	char *dir = strdup("/tmp/cbpf-test-cgroup-XXXXXX");

	if (!dir || !mkdtemp(dir)) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static int tmp_teardown(void **state)
{
	nftw(*state, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(*state);
	return 0;
}

static void path_in(char *out, const char *dir, const char *rel)
{
	assert_true((size_t)snprintf(out, PATH_MAX, "%s/%s", dir, rel) <
		    PATH_MAX);
}

static void write_file(const char *dir, const char *rel, const char *text)
{
	char p[PATH_MAX];
	int fd;

	path_in(p, dir, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_cgroup_id_not_cgroup2(void **state)
{
	uint64_t id = 0;

	(void)state;
	assert_int_equal(cbpf_cgroup_id("/tmp", &id), -EMEDIUMTYPE);
	assert_int_equal(cbpf_cgroup_id("/nonexistent/cbpf", &id), -ENOENT);
	assert_int_equal(id, 0);
}

/* The live mount of this machine, when there is one. */
static void test_live_mount(void **state)
{
	char mount[PATH_MAX], file[PATH_MAX];
	uint64_t id = 0;

	(void)state;
	if (cbpf_cgroup2_mount(mount, sizeof(mount))) {
		print_message("no cgroup2 mounted here, skipping\n");
		skip();
	}
	assert_int_equal(cbpf_cgroup_id(mount, &id), 0);
	assert_true(id > 0);
	path_in(file, mount, "cgroup.procs");
	assert_int_equal(cbpf_cgroup_id(file, &id), -ENOTDIR);
}

static void test_create_remove(void **state)
{
	const char *dir = *state;
	char p[PATH_MAX], top[PATH_MAX];
	struct stat st;

	path_in(top, dir, "x");
	path_in(p, dir, "x/a/b/c");
	assert_int_equal(cbpf_cgroup_create(p), 0);
	assert_int_equal(cbpf_cgroup_create(p), 0);      /* idempotent */
	path_in(p, dir, "x/a/d/");
	assert_int_equal(cbpf_cgroup_create(p), 0);
	path_in(p, dir, "x//e");
	assert_int_equal(cbpf_cgroup_create(p), 0);
	assert_int_equal(cbpf_cgroup_create("relative/path"), -EINVAL);

	write_file(dir, "file", "");
	path_in(p, dir, "file/sub");
	assert_int_equal(cbpf_cgroup_create(p), -ENOTDIR);

	assert_int_equal(cbpf_cgroup_remove_tree(top), 0);
	assert_int_equal(stat(top, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(cbpf_cgroup_remove_tree(top), -ENOENT);

	/* Files cannot go (a cgroup's go with it): the tree stays. */
	path_in(p, dir, "y/a");
	assert_int_equal(cbpf_cgroup_create(p), 0);
	write_file(dir, "y/a/f", "");
	path_in(top, dir, "y");
	assert_int_equal(cbpf_cgroup_remove_tree(top), -ENOTEMPTY);
}

/* A fake cgroup tree: directories with cgroup.procs files. */
static void test_count_procs(void **state)
{
	const char *dir = *state;
	char p[PATH_MAX];

	path_in(p, dir, "a/b");
	assert_int_equal(cbpf_cgroup_create(p), 0);
	path_in(p, dir, "c");
	assert_int_equal(cbpf_cgroup_create(p), 0);
	write_file(dir, "cgroup.procs", "1\n2\n");
	write_file(dir, "cgroup.controllers", "cpu io memory\n");
	write_file(dir, "a/cgroup.procs", "3\n");
	write_file(dir, "a/b/cgroup.procs", "4\n5\n6");  /* no final \n */
	write_file(dir, "c/cgroup.procs", "");
	assert_int_equal(cbpf_cgroup_count_procs(dir), 6);
	path_in(p, dir, "a");
	assert_int_equal(cbpf_cgroup_count_procs(p), 4);

	/* Not a cgroup: an error at the top; below, it reads as a cgroup that
	 * vanished during the walk (a container exiting) and adds nothing. */
	path_in(p, dir, "d");
	assert_int_equal(cbpf_cgroup_create(p), 0);
	assert_int_equal(cbpf_cgroup_count_procs(p), -ENOENT);
	assert_int_equal(cbpf_cgroup_count_procs(dir), 6);
	path_in(p, dir, "missing");
	assert_int_equal(cbpf_cgroup_count_procs(p), -ENOENT);
}

static void test_join_errors(void **state)
{
	const char *dir = *state;
	char p[PATH_MAX];

	assert_int_equal(cbpf_cgroup_join(dir, 0), -ENOENT);
	assert_int_equal(cbpf_cgroup_join(dir, -1), -EINVAL);
	/* Writes only to a cgroup.procs that is there; never creates one. */
	path_in(p, dir, "cgroup.procs");
	assert_int_equal(access(p, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mountinfo),
		cmocka_unit_test(test_policy_names),
		cmocka_unit_test(test_enforcement_path),
		cmocka_unit_test(test_podman_cgroup_parent),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_cgroup_id_not_cgroup2),
		cmocka_unit_test(test_live_mount),
		cmocka_unit_test_setup_teardown(test_create_remove, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(test_count_procs, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(test_join_errors, tmp_setup,
						tmp_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
