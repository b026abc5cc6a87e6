/* Loading, pinning and reopening the shared BPF object, and the per-policy
 * links that attach it to enforcement cgroups. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "claude_bpf.skel.h"
#include "base/log.h"
#include "engine/store.h"

#define BPFFS "/sys/fs/bpf"

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	(void)level;
	if (!cbpf_verbose)
		return 0;   /* the caller reports the failure once, in words */
	return vfprintf(stderr, fmt, ap);
}

void cbpf_store_setup_log(void)
{
	libbpf_set_print(libbpf_print);
}

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/* Each hook: its name (its pins, and in output), the program in the
 * object, and where the kernel runs it. */
static const struct {
	const char *name;
	const char *prog;
	enum bpf_attach_type type;
} hooks[CBPF_HOOK__COUNT] = {
#define HOOK(h, name, type) [CBPF_HOOK_##h] = { name, "cbpf_" name, type }
	HOOK(CONNECT4, "connect4", BPF_CGROUP_INET4_CONNECT),
	HOOK(CONNECT6, "connect6", BPF_CGROUP_INET6_CONNECT),
	HOOK(SENDMSG4, "sendmsg4", BPF_CGROUP_UDP4_SENDMSG),
	HOOK(SENDMSG6, "sendmsg6", BPF_CGROUP_UDP6_SENDMSG),
	HOOK(EGRESS, "egress", BPF_CGROUP_INET_EGRESS),
	HOOK(SOCK_CREATE, "sock_create", BPF_CGROUP_INET_SOCK_CREATE),
	HOOK(RECVMSG4, "recvmsg4", BPF_CGROUP_UDP4_RECVMSG),
	HOOK(RECVMSG6, "recvmsg6", BPF_CGROUP_UDP6_RECVMSG),
	HOOK(GETPEERNAME4, "getpeername4", BPF_CGROUP_INET4_GETPEERNAME),
	HOOK(GETPEERNAME6, "getpeername6", BPF_CGROUP_INET6_GETPEERNAME),
#undef HOOK
};

/* Each map pinned: its name, and where the store keeps its fd. */
static const struct {
	const char *name;
	size_t fd;                      /* offset in struct cbpf_store */
} maps[] = {
#define MAP(name, field) { name, offsetof(struct cbpf_store, field) }
	MAP("policies", policies_fd), MAP("rules", rules_fd), MAP("exact_rules", exact_fd),
	MAP("hostnames", hostnames_fd), MAP("deny_counters", counters_fd),
	MAP("settings", settings_fd), MAP("events", events_fd),
	MAP("event_limit", event_limit_fd), MAP("decisions", decisions_fd),
	MAP("policy_hints", policy_hints_fd), MAP("dns_redirects", dns_redirects_fd),
#undef MAP
};

/* The program that is no hook: the DNS forwarder's events. */
#define REPORT_PIN CBPF_PIN_ROOT "/progs/report"

const char *cbpf_hook_name(int hook)
{
	if (hook == CBPF_HOOK_FORWARDER)
		return "forwarder";
	return hook >= 0 && hook < CBPF_HOOK__COUNT ? hooks[hook].name : "?";
}

static int *map_fd_slot(struct cbpf_store *s, size_t i)
{
	return (int *)((char *)s + maps[i].fd);
}

#define N_MAPS (sizeof(maps) / sizeof(maps[0]))

static void store_init(struct cbpf_store *s)
{
	for (size_t i = 0; i < N_MAPS; i++)
		*map_fd_slot(s, i) = -1;
	for (int h = 0; h < CBPF_HOOK__COUNT; h++)
		s->prog_fd[h] = -1;
	s->report_fd = -1;
	s->settings = NULL;
}

void cbpf_store_close(struct cbpf_store *s)
{
	if (s->settings)
		munmap(s->settings, sizeof(*s->settings));
	for (size_t i = 0; i < N_MAPS; i++)
		if (*map_fd_slot(s, i) >= 0)
			close(*map_fd_slot(s, i));
	for (int h = 0; h < CBPF_HOOK__COUNT; h++)
		if (s->prog_fd[h] >= 0)
			close(s->prog_fd[h]);
	if (s->report_fd >= 0)
		close(s->report_fd);
	store_init(s);
}

static int mount_bpffs(void)
{
	struct statfs st;

	if (statfs(BPFFS, &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mkdir(BPFFS, 0700) && errno != EEXIST)
		return -errno;
	if (mount("bpf", BPFFS, "bpf", 0, "mode=0700"))
		return -errno;
	return 0;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Reopens everything pinned; -ENOENT when any piece is missing. */
static int open_pinned(struct cbpf_store *s)
{
	char path[256];

	for (size_t i = 0; i < N_MAPS; i++) {
		snprintf(path, sizeof(path), CBPF_PIN_ROOT "/%s", maps[i].name);
		*map_fd_slot(s, i) = bpf_obj_get(path);
		if (*map_fd_slot(s, i) < 0)
			return -errno;
	}
	for (int h = 0; h < CBPF_HOOK__COUNT; h++) {
		snprintf(path, sizeof(path), CBPF_PIN_ROOT "/progs/%s", hooks[h].name);
		s->prog_fd[h] = bpf_obj_get(path);
		if (s->prog_fd[h] < 0)
			return -errno;
	}
	s->report_fd = bpf_obj_get(REPORT_PIN);
	return s->report_fd < 0 ? -errno : 0;
}

static bool helper_ok(enum bpf_prog_type type, enum bpf_func_id id)
{
	/* libbpf before 1.4 (Debian 12 has 1.1) takes only "unknown func" as
	 * "not for this program type"; newer kernels say "program of this
	 * type cannot use helper", which it then reads as supported, and the
	 * object fails to load (Debian 13's 6.12: bpf_get_netns_cookie in
	 * cgroup_skb). Load the same probe again and read that wording too. */
	struct bpf_insn insns[] = {
		{ .code = BPF_JMP | BPF_CALL, .imm = id },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	char log[4096] = "";
	struct bpf_prog_load_opts o = {
		.sz = sizeof(o), .log_buf = log, .log_size = sizeof(log), .log_level = 1,
	};
	int fd;

	if (libbpf_probe_bpf_helper(type, id, NULL) != 1)
		return false;
	if (type == BPF_PROG_TYPE_CGROUP_SOCK_ADDR)
		o.expected_attach_type = BPF_CGROUP_INET4_CONNECT;
	fd = bpf_prog_load(type, NULL, "GPL", insns, 2, &o);
	if (fd >= 0) {
		close(fd);
		return true;
	}
	return !strstr(log, "cannot use helper");
}

/* Loads the object (libbpf reuses maps already pinned, pins the rest),
 * pins its programs, and keeps fds of everything. */
static int load_and_pin(struct cbpf_store *s, const char **what)
{
	struct claude_bpf *skel;
	struct bpf_program *prog;
	struct bpf_map *map;
	char path[256];
	int err;

	*what = "open the BPF object";
	skel = claude_bpf__open();
	if (!skel)
		return -errno;
	bpf_object__for_each_map(map, skel->obj) {
		if (strchr(bpf_map__name(map), '.'))
			continue;   /* .rodata: not pinned */
		snprintf(path, sizeof(path), CBPF_PIN_ROOT "/%s", bpf_map__name(map));
		bpf_map__set_pin_path(map, path);
	}
	/* Newer helpers only where the kernel has them (CO-RE across 5.15+). */
	skel->rodata->has_task_helpers =
		helper_ok(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_FUNC_get_current_pid_tgid) &&
		helper_ok(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_FUNC_get_current_comm);
	skel->rodata->has_skb_netns_cookie =
		helper_ok(BPF_PROG_TYPE_CGROUP_SKB, BPF_FUNC_get_netns_cookie);

	*what = "load the BPF programs (-v shows the verifier log)";
	err = claude_bpf__load(skel);
	if (err)
		goto out;
	*what = "pin the BPF programs";
	for (int h = 0; h < CBPF_HOOK__COUNT; h++) {
		snprintf(path, sizeof(path), CBPF_PIN_ROOT "/progs/%s", hooks[h].name);
		unlink(path);   /* a stale pin from an interrupted load */
		prog = bpf_object__find_program_by_name(skel->obj, hooks[h].prog);
		if ((err = prog ? bpf_program__pin(prog, path) : -ENOENT))
			goto out;
	}
	unlink(REPORT_PIN);
	if ((err = bpf_program__pin(skel->progs.cbpf_report, REPORT_PIN)))
		goto out;
	err = open_pinned(s);
out:
	claude_bpf__destroy(skel);
	return err;
}

static int map_settings(struct cbpf_store *s)
{
	void *m = mmap(NULL, sizeof(*s->settings), PROT_READ | PROT_WRITE,
		       MAP_SHARED, s->settings_fd, 0);

	if (m == MAP_FAILED)
		return -errno;
	s->settings = m;
	return 0;
}

void cbpf_store_changed(struct cbpf_store *s)
{
	__atomic_add_fetch(&s->settings->gen, 1, __ATOMIC_SEQ_CST);
}

static int write_settings(struct cbpf_store *s)
{
	socklen_t len = sizeof(s->settings->host_netns_cookie);
	__u64 cookie, zero = 0;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/* Without SO_NETNS_COOKIE (before 5.14) the cookie stays 0 and every
	 * namespace counts as the host's: loopback denied everywhere. */
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len))
		cookie = 0;
	close(fd);
	s->settings->host_netns_cookie = cookie;
	/* Generations only grow, also over an interrupted load's settings. */
	__atomic_compare_exchange_n(&s->settings->gen, &zero, 1, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->settings->abi_version, CBPF_ABI_VERSION, __ATOMIC_SEQ_CST);
	return 0;
}

/* The loader must run in the host's network namespace: the cookie it
 * records is what "host loopback" means to the programs. */
static int check_host_netns(void)
{
	struct stat self, init;

	if (stat("/proc/self/ns/net", &self))
		return -errno;
	if (stat("/proc/1/ns/net", &init))
		return 0;   /* not ours to see (no CAP_SYS_PTRACE): trust the caller */
	return self.st_ino == init.st_ino && self.st_dev == init.st_dev ? 0 : -EXDEV;
}

static int check_abi(struct cbpf_store *s)
{
	struct cbpf_config c;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(s->settings_fd, &zero, &c))
		return -errno;
	/* 0: an interrupted first load, which this load completes. */
	return !c.abi_version || c.abi_version == CBPF_ABI_VERSION ? 0 : -EPROTO;
}

/* -EPROTO when the pinned settings are of another ABI version, else 0
 * (also when nothing is pinned). */
static int check_pinned_abi(struct cbpf_store *s)
{
	int err = 0;

	s->settings_fd = bpf_obj_get(CBPF_PIN_ROOT "/settings");
	if (s->settings_fd >= 0) {
		err = check_abi(s) == -EPROTO ? -EPROTO : 0;
		close(s->settings_fd);
		s->settings_fd = -1;
	}
	return err;
}

int cbpf_store_open(struct cbpf_store *s, bool create, const char **what)
{
	int err;

	store_init(s);
	*what = "open the pinned BPF object in " CBPF_PIN_ROOT;
	err = open_pinned(s);
	/* A pin missing may be a map another version did not have: that
	 * object must be named, not taken for no object at all (status,
	 * unload) nor completed with maps of this version (load). */
	if (err == 0 || err == -ENOENT) {
		const char *found = *what;

		*what = "use the pinned BPF object: it is from another claude-bpf "
			"version; unload it with that version first";
		if (err == 0)
			err = check_abi(s);
		else if (!check_pinned_abi(s))
			*what = found;
		else
			err = -EPROTO;
	}
	if (err == 0) {
		*what = "map the settings";
		err = map_settings(s);
		/* An interrupted first load's settings: this load completes them. */
		if (err == 0 && create && !s->settings->abi_version)
			err = write_settings(s);
	}
	if (err == 0 || !create || err == -EPROTO) {
		if (err)
			cbpf_store_close(s);
		return err;
	}
	cbpf_store_close(s);
	*what = "run in the host's network namespace";
	err = check_host_netns();
	if (err)
		return err;
	*what = "mount bpffs at " BPFFS;
	err = mount_bpffs();
	if (err)
		return err;
	*what = "create " CBPF_PIN_ROOT;
	if ((err = make_dir(CBPF_PIN_ROOT)) || (err = make_dir(CBPF_PIN_ROOT "/progs")) ||
	    (err = make_dir(CBPF_PIN_ROOT "/links")))
		return err;
	err = load_and_pin(s, what);
	if (!err) {
		*what = "write the settings map";
		if (!(err = map_settings(s)))
			err = write_settings(s);
	}
	if (err)
		cbpf_store_close(s);
	return err;
}

int cbpf_store_remove_if_unused(struct cbpf_store *s)
{
	__u64 key;
	char path[256];

	if (bpf_map_get_next_key(s->policies_fd, NULL, &key) == 0)
		return 0;   /* a policy is left */
	cbpf_store_close(s);
	for (int h = 0; h < CBPF_HOOK__COUNT; h++) {
		snprintf(path, sizeof(path), CBPF_PIN_ROOT "/progs/%s", hooks[h].name);
		unlink(path);
	}
	unlink(REPORT_PIN);
	for (size_t i = 0; i < N_MAPS; i++) {
		snprintf(path, sizeof(path), CBPF_PIN_ROOT "/%s", maps[i].name);
		unlink(path);
	}
	rmdir(CBPF_PIN_ROOT "/progs");
	rmdir(CBPF_PIN_ROOT "/links");
	if (rmdir(CBPF_PIN_ROOT) && errno != ENOENT)
		return -errno;
	return 0;
}

int cbpf_store_find_policy(struct cbpf_store *s, const char *name,
			   uint64_t *cgroup_id, struct cbpf_policy *p)
{
	__u64 key, *prev = NULL;

	while (bpf_map_get_next_key(s->policies_fd, prev, &key) == 0) {
		if (bpf_map_lookup_elem(s->policies_fd, &key, p) == 0 &&
		    strncmp(p->name, name, sizeof(p->name)) == 0) {
			*cgroup_id = key;
			return 0;
		}
		prev = &key;
	}
	return -ENOENT;
}

int cbpf_store_each_policy(struct cbpf_store *s,
			   int (*fn)(uint64_t cgroup_id, const struct cbpf_policy *p,
				     void *arg), void *arg)
{
	__u64 key, *prev = NULL;
	struct cbpf_policy p;
	int rc;

	while (bpf_map_get_next_key(s->policies_fd, prev, &key) == 0) {
		if (bpf_map_lookup_elem(s->policies_fd, &key, &p) == 0 &&
		    (rc = fn(key, &p, arg)))
			return rc;
		prev = &key;
	}
	return 0;
}

static void link_path(char *buf, size_t len, const char *name, int hook)
{
	if (hook < 0)
		snprintf(buf, len, CBPF_PIN_ROOT "/links/%s", name);
	else
		snprintf(buf, len, CBPF_PIN_ROOT "/links/%s/%s", name, hooks[hook].name);
}

/* The link pinned for hook `h` of policy `name` (its pin in `path`), and
 * the cgroup it is attached to (0: none). Returns its fd, or -1 with no
 * such pin. */
static int pinned_link(const char *name, int h, char path[256], uint64_t *cgroup_id)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd;

	link_path(path, 256, name, h);
	*cgroup_id = 0;
	if ((fd = bpf_obj_get(path)) < 0)
		return -1;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.type == BPF_LINK_TYPE_CGROUP)
		*cgroup_id = info.cgroup.cgroup_id;
	return fd;
}

unsigned cbpf_store_attached(const char *name, uint64_t cgroup_id)
{
	unsigned bits = 0;
	char path[256];
	uint64_t cg;

	for (int h = 0; h < CBPF_HOOK__COUNT; h++) {
		int fd = pinned_link(name, h, path, &cg);

		if (fd < 0)
			continue;
		if (cg == cgroup_id)
			bits |= 1u << h;
		close(fd);
	}
	return bits;
}

int cbpf_store_attach(struct cbpf_store *s, const char *name, int cgroup_fd,
		      const char **what)
{
	static char failed[128];
	char path[256];
	struct stat st;
	int err;

	*what = "attach the programs to the cgroup";
	link_path(path, sizeof(path), name, -1);
	if ((err = make_dir(path)))
		return err;
	if (fstat(cgroup_fd, &st))
		return -errno;
	for (int h = 0; h < CBPF_HOOK__COUNT; h++) {
		uint64_t cg;
		int fd = pinned_link(name, h, path, &cg);

		if (fd >= 0) {
			close(fd);
			if (cg == (uint64_t)st.st_ino)
				continue;
			unlink(path);   /* a link to a cgroup that is gone */
		}
		fd = bpf_link_create(s->prog_fd[h], cgroup_fd, hooks[h].type, NULL);
		if (fd < 0) {
			err = -errno;
			/* A kernel without the hook, or another program attached
			 * exclusively (bpftool cgroup show tells). */
			snprintf(failed, sizeof(failed), "attach the %s program to the cgroup",
				 hooks[h].name);
			*what = failed;
			return err;
		}
		err = bpf_obj_pin(fd, path) ? -errno : 0;
		close(fd);   /* the pin keeps the link, or nothing does */
		if (err)
			return err;
	}
	return 0;
}

int cbpf_store_detach(const char *name)
{
	char path[256];
	int err = 0;

	for (int h = 0; h < CBPF_HOOK__COUNT; h++) {
		uint64_t cg;
		int fd = pinned_link(name, h, path, &cg);

		if (fd < 0)
			continue;
		/* Detach now, even if some other process holds the link open. */
		if (bpf_link_detach(fd) && !err)
			err = -errno;
		close(fd);
		unlink(path);
	}
	link_path(path, sizeof(path), name, -1);
	rmdir(path);
	return err;
}
