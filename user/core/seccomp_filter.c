/* The system-call filter of `run` and `exec`; see seccomp_filter.h.
 *
 * socket()'s family is an int, but the filter sees the whole 64-bit
 * register: allowing a family means "the register is exactly this value",
 * and every other value (a refused family, any value with high bits set,
 * which the kernel would truncate) is refused. Refused families get
 * EAFNOSUPPORT, what a kernel without them says. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/families.h"
#include "core/seccomp_filter.h"

/* Syscalls refused outright: ENOSYS, as for one the kernel does not have. */
static const char *const refused[] = {
	"socketcall", "io_uring_setup", "io_uring_enter", "io_uring_register",
};

/* ---------------------------------------------------------------- exec */

static int add_rules(scmp_filter_ctx ctx)
{
	int err;

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		int nr = seccomp_syscall_resolve_name(refused[i]);

		/* Not a syscall of this architecture (socketcall on x86_64). */
		if (nr == __NR_SCMP_ERROR)
			continue;
		if ((err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0)))
			return err;
	}
	for (int f = 0; f < CBPF_FAMILY_LIMIT; f++) {
		if (cbpf_family_allowed(f))
			continue;
		err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
				       SCMP_A0_64(SCMP_CMP_EQ, (uint64_t)f));
		if (err)
			return err;
	}
	return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
				SCMP_A0_64(SCMP_CMP_GE, (uint64_t)CBPF_FAMILY_LIMIT));
}

int cbpf_seccomp_load(void)
{
	scmp_filter_ctx ctx;
	int err;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	if (!(ctx = seccomp_init(SCMP_ACT_ALLOW)))
		return -ENOMEM;
	/* The compatible ABIs too (i386 and x32 on x86_64, arm on arm64):
	 * their syscalls are other numbers, and without them they would meet
	 * the "wrong architecture" action, which kills. */
#if defined(__x86_64__)
	err = seccomp_arch_add(ctx, SCMP_ARCH_X86);
	if (!err || err == -EEXIST)
		err = seccomp_arch_add(ctx, SCMP_ARCH_X32);
#elif defined(__aarch64__)
	err = seccomp_arch_add(ctx, SCMP_ARCH_ARM);
#else
	err = 0;
#endif
	if (err == -EEXIST)
		err = 0;
	if (!err)
		err = add_rules(ctx);
	if (!err)
		err = seccomp_load(ctx);
	seccomp_release(ctx);
	return err;
}

/* ---------------------------------------------------------------- run */

/* {"index":0,"value":V,"op":OP}: socket()'s family, the whole register. */
#define FAMILY_ARG "{\"index\":0,\"value\":%d,\"valueTwo\":0,\"op\":\"%s\"}"

/* Adds one socket() entry, written out as JSON: `args` is one condition. */
static int add_entry(json_object *list, bool allow, int err, const char *args)
{
	char text[256], ret[32] = "";
	json_object *e;

	if (!allow)
		snprintf(ret, sizeof(ret), "\"errnoRet\":%d,", err);
	snprintf(text, sizeof(text), "{\"names\":[\"socket\"],\"action\":\"%s\",%s"
		 "\"args\":[%s]}", allow ? "SCMP_ACT_ALLOW" : "SCMP_ACT_ERRNO", ret, args);
	if (!(e = json_tokener_parse(text)))
		return -ENOMEM;
	if (json_object_array_add(list, e)) {
		json_object_put(e);
		return -ENOMEM;
	}
	return 0;
}

static bool replaced(const char *name)
{
	if (!strcmp(name, "socket"))
		return true;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (!strcmp(name, refused[i]))
			return true;
	return false;
}

/* Takes socket() and the refused syscalls out of every entry of `list`,
 * dropping entries left with no name. */
static int strip(json_object *list, json_object *out, char *msg, size_t msglen)
{
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *e = json_object_array_get_idx(list, i), *names, *kept;

		if (!json_object_is_type(e, json_type_object) ||
		    !json_object_object_get_ex(e, "names", &names) ||
		    !json_object_is_type(names, json_type_array)) {
			snprintf(msg, msglen, "entry %zu of \"syscalls\" has no \"names\" list", i);
			return -EINVAL;
		}
		if (!(kept = json_object_new_array()))
			return -ENOMEM;
		for (size_t j = 0; j < json_object_array_length(names); j++) {
			json_object *n = json_object_array_get_idx(names, j);

			if (!json_object_is_type(n, json_type_string)) {
				json_object_put(kept);
				snprintf(msg, msglen, "entry %zu of \"syscalls\" has a name "
					 "that is not a string", i);
				return -EINVAL;
			}
			if (!replaced(json_object_get_string(n)) &&
			    json_object_array_add(kept, json_object_get(n))) {
				json_object_put(kept);
				return -ENOMEM;
			}
		}
		if (json_object_array_length(kept) == 0) {
			json_object_put(kept);
			continue;
		}
		if (json_object_object_add(e, "names", kept) ||
		    json_object_array_add(out, json_object_get(e)))
			return -ENOMEM;
	}
	return 0;
}

/* socket() for the sandbox's families; the refused syscalls are left to the
 * profile's default, a refusal. */
static int sandbox_rules(json_object *out)
{
	char arg[128];
	int err;

	for (int f = 0; f < CBPF_FAMILY_LIMIT; f++) {
		snprintf(arg, sizeof(arg), FAMILY_ARG, f, "SCMP_CMP_EQ");
		if ((err = add_entry(out, cbpf_family_allowed(f), EAFNOSUPPORT, arg)))
			return err;
	}
	snprintf(arg, sizeof(arg), FAMILY_ARG, CBPF_FAMILY_LIMIT, "SCMP_CMP_GE");
	return add_entry(out, false, EAFNOSUPPORT, arg);
}

/* Removes SCMP_ARCH_X86 from the string array `key` of `o`, if any. */
static int drop_x86(json_object *o, const char *key)
{
	json_object *list, *kept;

	if (!json_object_object_get_ex(o, key, &list) || !json_object_is_type(list, json_type_array))
		return 0;
	if (!(kept = json_object_new_array()))
		return -ENOMEM;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *a = json_object_array_get_idx(list, i);

		if (json_object_is_type(a, json_type_string) &&
		    !strcmp(json_object_get_string(a), "SCMP_ARCH_X86"))
			continue;
		if (json_object_array_add(kept, json_object_get(a))) {
			json_object_put(kept);
			return -ENOMEM;
		}
	}
	return json_object_object_add(o, key, kept) ? -ENOMEM : 0;
}

/* i386 programs make sockets through socketcall(), whose arguments are in
 * memory where no filter reads them: libseccomp turns a rule on socket()'s
 * family into "socketcall(SYS_SOCKET), any family" there. The profile keeps
 * no i386 ABI at all; its system calls meet the wrong-architecture action. */
static int no_i386(json_object *root)
{
	json_object *map;
	int err = drop_x86(root, "architectures");

	if (err || !json_object_object_get_ex(root, "archMap", &map) ||
	    !json_object_is_type(map, json_type_array))
		return err;
	for (size_t i = 0; i < json_object_array_length(map); i++) {
		json_object *m = json_object_array_get_idx(map, i);

		if (json_object_is_type(m, json_type_object) &&
		    (err = drop_x86(m, "subArchitectures")))
			return err;
	}
	return 0;
}

int cbpf_seccomp_podman_profile(const char *base, size_t len, char **out,
				char *msg, size_t msglen)
{
	json_tokener *tok = json_tokener_new();
	json_object *root = NULL, *list, *def, *kept = NULL;
	const char *text;
	int err = -EINVAL;

	*out = NULL;
	snprintf(msg, msglen, "not JSON");
	if (!tok)
		return -ENOMEM;
	if (len <= INT32_MAX)
		root = json_tokener_parse_ex(tok, base, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset != (int)len)
		goto out;
	snprintf(msg, msglen, "no \"syscalls\" list");
	if (!json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "syscalls", &list) ||
	    !json_object_is_type(list, json_type_array))
		goto out;
	/* A profile that allows what it does not name would allow the
	 * refused syscalls again through the default. */
	snprintf(msg, msglen, "its \"defaultAction\" is not a refusal (SCMP_ACT_ERRNO or "
		 "SCMP_ACT_KILL...)");
	if (!json_object_object_get_ex(root, "defaultAction", &def) ||
	    !json_object_is_type(def, json_type_string) ||
	    (strcmp(json_object_get_string(def), "SCMP_ACT_ERRNO") &&
	     strncmp(json_object_get_string(def), "SCMP_ACT_KILL", 13)))
		goto out;
	err = -ENOMEM;
	if (!(kept = json_object_new_array()))
		goto out;
	if ((err = strip(list, kept, msg, msglen)) || (err = sandbox_rules(kept)) ||
	    (err = no_i386(root)))
		goto out;
	if ((err = json_object_object_add(root, "syscalls", kept) ? -ENOMEM : 0))
		goto out;
	kept = NULL;
	err = -ENOMEM;
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	if (text && (*out = strdup(text)))
		err = 0;
out:
	if (err != -EINVAL)
		*msg = '\0';
	json_object_put(kept);
	json_object_put(root);
	json_tokener_free(tok);
	return err;
}

/* The whole of a file, NUL-terminated; at most 1 MiB. */
static int read_all(const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "re");
	size_t cap = 1 << 20;
	int err = 0;

	if (!f)
		return -errno;
	if (!(*text = malloc(cap + 1))) {
		fclose(f);
		return -ENOMEM;
	}
	*len = fread(*text, 1, cap + 1, f);
	if (ferror(f))
		err = -EIO;
	else if (*len > cap)
		err = -EFBIG;
	fclose(f);
	if (err) {
		free(*text);
		*text = NULL;
		return err;
	}
	(*text)[*len] = '\0';
	return 0;
}

int cbpf_seccomp_podman_write(const char *path, char *msg, size_t msglen)
{
	char tmp[4096], dir[4096], *base = NULL, *out = NULL, why[200];
	size_t len = 0, n;
	int err, fd;
	char *slash;

	if ((err = read_all(CBPF_PODMAN_SECCOMP, &base, &len))) {
		snprintf(msg, msglen, "cannot read podman's seccomp profile %s: %s",
			 CBPF_PODMAN_SECCOMP, strerror(-err));
		return err;
	}
	err = cbpf_seccomp_podman_profile(base, len, &out, why, sizeof(why));
	free(base);
	if (err) {
		snprintf(msg, msglen, "podman's seccomp profile %s: %s", CBPF_PODMAN_SECCOMP,
			 err == -EINVAL ? why : strerror(-err));
		return err;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) && errno != EEXIST) {
			err = -errno;
			snprintf(msg, msglen, "cannot make %s: %s", dir, strerror(-err));
			free(out);
			return err;
		}
	}
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	n = strlen(out);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		err = -errno;
	} else {
		err = write(fd, out, n) != (ssize_t)n || fchmod(fd, 0644) ? -EIO : 0;
		if (close(fd) && !err)
			err = -EIO;
		if (!err && rename(tmp, path))
			err = -errno;
		if (err)
			unlink(tmp);
	}
	if (err)
		snprintf(msg, msglen, "cannot write %s: %s", path, strerror(-err));
	free(out);
	return err;
}
