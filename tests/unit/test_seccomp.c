/* Unit tests of the system-call filter (user/core/seccomp_filter.c): the
 * profile `run` gives podman, built from podman's own, and the filter
 * `exec` loads, tried in a child process. */
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/families.h"
#include "core/seccomp_filter.h"

/* A profile shaped as podman's: a refusing default, a big allow list that
 * names socketcall, conditional socket entries, and other entries. */
static const char base[] =
	"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38,"
	"\"archMap\":[{\"architecture\":\"SCMP_ARCH_X86_64\","
	"\"subArchitectures\":[\"SCMP_ARCH_X86\"]}],"
	"\"syscalls\":["
	"{\"names\":[\"read\",\"socketcall\",\"write\",\"io_uring_setup\"],"
	"\"action\":\"SCMP_ACT_ALLOW\",\"args\":[]},"
	"{\"names\":[\"socket\"],\"action\":\"SCMP_ACT_ALLOW\","
	"\"args\":[{\"index\":2,\"value\":9,\"op\":\"SCMP_CMP_NE\"}]},"
	"{\"names\":[\"socketcall\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[]},"
	"{\"names\":[\"ptrace\"],\"action\":\"SCMP_ACT_ALLOW\","
	"\"includes\":{\"caps\":[\"CAP_SYS_PTRACE\"]}}"
	"]}";

static json_object *profile_of(const char *in)
{
	char *out = NULL, msg[256];
	json_object *o;

	assert_int_equal(cbpf_seccomp_podman_profile(in, strlen(in), &out, msg, sizeof(msg)), 0);
	o = json_tokener_parse(out);
	assert_non_null(o);
	free(out);
	return o;
}

static bool names_has(json_object *e, const char *name)
{
	json_object *names;

	if (!json_object_object_get_ex(e, "names", &names))
		return false;
	for (size_t i = 0; i < json_object_array_length(names); i++)
		if (!strcmp(json_object_get_string(json_object_array_get_idx(names, i)), name))
			return true;
	return false;
}

static const char *str_of(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

/* Every socket() entry is ours: one condition on the family; exactly the
 * four families are allowed, the rest and everything above refused. */
static void check_profile(json_object *root)
{
	json_object *list, *def;
	bool allowed[CBPF_FAMILY_LIMIT] = { 0 }, refused[CBPF_FAMILY_LIMIT] = { 0 }, above = false;

	assert_true(json_object_object_get_ex(root, "syscalls", &list));
	assert_true(json_object_object_get_ex(root, "defaultAction", &def));
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *e = json_object_array_get_idx(list, i), *args, *a;
		uint64_t v;

		assert_false(names_has(e, "socketcall"));
		assert_false(names_has(e, "io_uring_setup"));
		assert_false(names_has(e, "io_uring_enter"));
		assert_false(names_has(e, "io_uring_register"));
		if (!names_has(e, "socket"))
			continue;
		assert_int_equal(json_object_array_length(json_object_object_get(e, "names")), 1);
		assert_true(json_object_object_get_ex(e, "args", &args));
		assert_int_equal(json_object_array_length(args), 1);
		assert_null(json_object_object_get(e, "includes"));
		a = json_object_array_get_idx(args, 0);
		assert_int_equal(json_object_get_int(json_object_object_get(a, "index")), 0);
		v = json_object_get_uint64(json_object_object_get(a, "value"));
		if (!strcmp(str_of(a, "op"), "SCMP_CMP_GE")) {
			assert_int_equal(v, CBPF_FAMILY_LIMIT);
			assert_string_equal(str_of(e, "action"), "SCMP_ACT_ERRNO");
			assert_int_equal(json_object_get_int(json_object_object_get(e, "errnoRet")),
					 EAFNOSUPPORT);
			above = true;
			continue;
		}
		assert_string_equal(str_of(a, "op"), "SCMP_CMP_EQ");
		assert_true(v < CBPF_FAMILY_LIMIT);
		if (!strcmp(str_of(e, "action"), "SCMP_ACT_ALLOW")) {
			allowed[v] = true;
		} else {
			assert_string_equal(str_of(e, "action"), "SCMP_ACT_ERRNO");
			refused[v] = true;
		}
	}
	assert_true(above);
	for (int f = 0; f < CBPF_FAMILY_LIMIT; f++) {
		assert_int_equal(allowed[f], cbpf_family_allowed(f));
		assert_int_equal(refused[f], !cbpf_family_allowed(f));
	}
}

static void test_profile(void **state)
{
	json_object *root, *list;
	bool read = false, write = false, ptrace = false;

	(void)state;
	root = profile_of(base);
	check_profile(root);
	/* The rest is podman's, unchanged. */
	assert_string_equal(str_of(root, "defaultAction"), "SCMP_ACT_ERRNO");
	assert_non_null(json_object_object_get(root, "archMap"));
	list = json_object_object_get(root, "syscalls");
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *e = json_object_array_get_idx(list, i);

		read |= names_has(e, "read");
		write |= names_has(e, "write");
		if (names_has(e, "ptrace")) {
			ptrace = true;
			assert_non_null(json_object_object_get(e, "includes"));
		}
	}
	assert_true(read && write && ptrace);
	json_object_put(root);
}

/* podman's real profile, where this machine has it. */
static void test_podman_profile(void **state)
{
	FILE *f = fopen(CBPF_PODMAN_SECCOMP, "r");
	char *text;
	long len;

	(void)state;
	if (!f) {
		printf("# %s: not installed here, only the sample profile is tried\n",
		       CBPF_PODMAN_SECCOMP);
		return;
	}
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	json_object *root = profile_of(text);

	check_profile(root);
	json_object_put(root);
	free(text);
}

static void refused_input(const char *in, const char *words)
{
	char *out = (char *)1, msg[256];

	assert_int_equal(cbpf_seccomp_podman_profile(in, strlen(in), &out, msg, sizeof(msg)),
			 -EINVAL);
	assert_null(out);
	if (!strstr(msg, words))
		fail_msg("for %s: '%s' does not say '%s'", in, msg, words);
}

static void test_bad_profiles(void **state)
{
	(void)state;
	refused_input("", "not JSON");
	refused_input("{\"syscalls\":[]", "not JSON");
	refused_input("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[]} x", "not JSON");
	refused_input("[]", "no \"syscalls\" list");
	refused_input("{\"defaultAction\":\"SCMP_ACT_ERRNO\"}", "no \"syscalls\" list");
	refused_input("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[]}", "defaultAction");
	refused_input("{\"defaultAction\":\"SCMP_ACT_LOG\",\"syscalls\":[]}", "defaultAction");
	refused_input("{\"syscalls\":[]}", "defaultAction");
	refused_input("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[1]}",
		      "entry 0 of \"syscalls\" has no \"names\"");
	refused_input("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":"
		      "[{\"names\":[\"read\"]},{\"name\":\"socket\"}]}",
		      "entry 1 of \"syscalls\" has no \"names\"");
	refused_input("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":"
		      "[{\"names\":[\"read\",7]}]}", "not a string");
}

/* In a child: what the filter of exec lets through. Exit status: 0, or the
 * line of the first check that failed. */
static int child_checks(void)
{
	int fd;

	if (cbpf_seccomp_load())
		return __LINE__;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return __LINE__;
	/* Allowed: the four families. */
	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0)
		return __LINE__;
	close(fd);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
		return __LINE__;
	close(fd);
	if ((fd = socket(AF_NETLINK, SOCK_RAW, 0)) < 0)
		return __LINE__;
	close(fd);
	/* Refused, whatever the kernel has. */
	if (socket(AF_VSOCK, SOCK_STREAM, 0) >= 0 || errno != EAFNOSUPPORT)
		return __LINE__;
	if (socket(AF_PACKET, SOCK_DGRAM, 0) >= 0 || errno != EAFNOSUPPORT)
		return __LINE__;
	if (socket(AF_RDS, SOCK_SEQPACKET, 0) >= 0 || errno != EAFNOSUPPORT)
		return __LINE__;
	if (socket(CBPF_FAMILY_LIMIT + 3, SOCK_DGRAM, 0) >= 0 || errno != EAFNOSUPPORT)
		return __LINE__;
	/* AF_INET with high bits set, which the kernel would truncate. */
	if (syscall(SYS_socket, (1ULL << 32) | AF_INET, SOCK_DGRAM, 0) >= 0 ||
	    errno != EAFNOSUPPORT)
		return __LINE__;
	if (syscall(SYS_io_uring_setup, 8, NULL) >= 0 || errno != ENOSYS)
		return __LINE__;
	return 0;
}

static void test_exec_filter(void **state)
{
	int status, fd;
	pid_t pid;

	(void)state;
	/* The control: without the filter the kernel truncates the family. */
	fd = (int)syscall(SYS_socket, (1ULL << 32) | AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	close(fd);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_checks());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status))
		fail_msg("the check at tests/unit/test_seccomp.c line %d (modulo 256) failed",
			 WEXITSTATUS(status));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_profile),
		cmocka_unit_test(test_podman_profile),
		cmocka_unit_test(test_bad_profiles),
		cmocka_unit_test(test_exec_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
