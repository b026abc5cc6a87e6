/* cgroup v2 handling: the cgroup2 mount, policy names, enforcement paths and
 * podman --cgroup-parent values (pure), plus the few file-system operations. */
#include "core/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "claude_bpf.h"

#define SLICE_SUFFIX ".slice"
#define SLICE_SUFFIX_LEN (sizeof(SLICE_SUFFIX) - 1)

/* snprintf into out, -ENAMETOOLONG instead of a silently cut path. */
__attribute__((format(printf, 3, 4)))
static int fmt(char *out, size_t len, const char *f, ...)
{
	va_list ap;
	int n;

	if (!out || !len)
		return -ENAMETOOLONG;
	va_start(ap, f);
	n = vsnprintf(out, len, f, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	return (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* Length of s without trailing slashes ("/" gives 0), so "<s>/x" never
 * doubles a slash. */
static size_t trimmed_len(const char *s)
{
	size_t n = strlen(s);

	while (n > 0 && s[n - 1] == '/')
		n--;
	return n;
}

/* A relative path whose components are all non-empty and neither "." nor
 * "..": it cannot climb out of the cgroup2 mount. */
static bool rel_path_clean(const char *s, size_t n)
{
	size_t i = 0;

	if (!n)
		return false;
	while (i <= n) {
		size_t j = i;

		while (j < n && s[j] != '/')
			j++;
		if (j == i || (j - i == 1 && s[i] == '.') ||
		    (j - i == 2 && s[i] == '.' && s[i + 1] == '.'))
			return false;
		i = j + 1;
	}
	return true;
}

/* --- mountinfo --- */

/* The next space-separated field of [*p, end). */
static bool next_field(const char **p, const char *end, const char **f,
		       size_t *n)
{
	const char *s = *p, *e;

	while (s < end && *s == ' ')
		s++;
	if (s == end)
		return false;
	for (e = s; e < end && *e != ' '; e++)
		;
	*f = s;
	*n = (size_t)(e - s);
	*p = e;
	return true;
}

static bool is_octal(char c)
{
	return c >= '0' && c <= '7';
}

/* Decodes the kernel's escapes (\040 space, \011 tab, \012 newline, \134
 * backslash); any other backslash stays as it is. -EINVAL for an escaped
 * NUL, which no real path holds. */
static int unescape(const char *s, size_t n, char *out, size_t len)
{
	size_t i = 0, j = 0;

	while (i < n) {
		char c = s[i];

		if (c == '\\' && i + 3 < n && s[i + 1] >= '0' &&
		    s[i + 1] <= '3' && is_octal(s[i + 2]) && is_octal(s[i + 3])) {
			c = (char)((s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 |
				   (s[i + 3] - '0'));
			if (!c)
				return -EINVAL;
			i += 4;
		} else {
			i++;
		}
		if (j + 1 >= len)
			return -ENAMETOOLONG;
		out[j++] = c;
	}
	if (!len)
		return -ENAMETOOLONG;
	out[j] = '\0';
	return 0;
}

/* A line is "id parent major:minor root mountpoint options [optional...] -
 * fstype source superoptions". Lines that do not fit are skipped. */
/* The mount point of the index'th mount of type `fstype`. */
static int mount_parse(const char *mountinfo, const char *fstype_want,
		       unsigned index, char *out, size_t len)
{
	const char *line = mountinfo;
	size_t want_n = strlen(fstype_want);

	while (line && *line) {
		const char *end = strchr(line, '\n');
		const char *p = line, *f, *mnt = NULL, *fstype = NULL;
		size_t n, mnt_n = 0, fstype_n = 0;
		int i = 0, after = -1;  /* fields after the "-" separator */
		int r;

		if (!end)
			end = line + strlen(line);
		while (next_field(&p, end, &f, &n)) {
			if (after >= 0) {
				if (after++ == 0)
					fstype = f, fstype_n = n;
			} else if (i == 4) {
				mnt = f, mnt_n = n;
			} else if (i >= 6 && n == 1 && *f == '-') {
				after = 0;
			}
			i++;
		}
		line = *end ? end + 1 : end;
		if (after < 3 || fstype_n != want_n || memcmp(fstype, fstype_want, want_n) ||
		    !mnt || mnt[0] != '/')
			continue;
		r = unescape(mnt, mnt_n, out, len);
		if (r != -EINVAL && index-- == 0)
			return r;
	}
	return -ENOENT;
}

int cbpf_cgroup2_mount_parse(const char *mountinfo, char *out, size_t len)
{
	return mount_parse(mountinfo, "cgroup2", 0, out, len);
}

/* --- names and paths --- */

bool cbpf_policy_name_valid(const char *name)
{
	size_t i;

	/* "lock" is the runtime folder's lock file, beside the policies'
	 * state files (/run/claude-bpf/NAME). */
	if (!name || !strcmp(name, "lock"))
		return false;
	for (i = 0; name[i]; i++) {
		char c = name[i];

		/* ASCII ranges, not isalnum(): the locale must not widen it. */
		if (i >= CBPF_NAME_MAX - 1 ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return i > 0;
}

int cbpf_enforcement_path(const char *mount, const char *parent,
			  enum cbpf_cgroup_manager mgr, bool rootless,
			  uid_t uid, const char *name, char *out, size_t len)
{
	size_t m, pn;

	if (!mount || mount[0] != '/' || !cbpf_policy_name_valid(name) ||
	    (mgr != CBPF_CGM_CGROUPFS && mgr != CBPF_CGM_SYSTEMD))
		return -EINVAL;
	m = trimmed_len(mount);
	if (m >= PATH_MAX)
		return -ENAMETOOLONG;

	if (parent) {
		/* An empty option is a mistake; "/" means the mount itself. */
		if (!*parent)
			return -EINVAL;
		while (*parent == '/')
			parent++;
		pn = trimmed_len(parent);
		if (pn >= PATH_MAX)
			return -ENAMETOOLONG;
		if (pn && !rel_path_clean(parent, pn))
			return -EINVAL;
		return fmt(out, len, "%.*s%s%.*s/%s", (int)m, mount,
			   pn ? "/" : "", (int)pn, parent, name);
	}
	if (mgr == CBPF_CGM_CGROUPFS)
		return fmt(out, len, "%.*s/claude-bpf/%s", (int)m, mount, name);
	if (rootless)
		return fmt(out, len, "%.*s/user.slice/user-%u.slice/"
			   "user@%u.service/claudebpf.slice/claudebpf-%s.slice",
			   (int)m, mount, (unsigned)uid, (unsigned)uid, name);
	return fmt(out, len, "%.*s/claudebpf.slice/claudebpf-%s.slice",
		   (int)m, mount, name);
}

/* A slice unit name systemd accepts: "<stem>.slice", stem of unit-name
 * characters, no leading, trailing or doubled dash (those have no parent
 * slice; "-.slice" is the root). */
static bool slice_name_valid(const char *s)
{
	size_t n = strlen(s), i;

	if (n <= SLICE_SUFFIX_LEN ||
	    strcmp(s + n - SLICE_SUFFIX_LEN, SLICE_SUFFIX))
		return false;
	n -= SLICE_SUFFIX_LEN;
	if (s[0] == '-' || s[n - 1] == '-')
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == ':' || c == '\\' || c == '-'))
			return false;
		if (c == '-' && s[i + 1] == '-')
			return false;
	}
	return true;
}

/* Consumes s[0..n) from the front of *cur when it is there. */
static bool eat(const char **cur, const char *s, size_t n)
{
	if (strncmp(*cur, s, n))
		return false;
	*cur += n;
	return true;
}

/* Whether systemd puts slice `s` at `rel` (below `prefix`): "a-b-c.slice"
 * lives at "a.slice/a-b.slice/a-b-c.slice". */
static bool slice_expands_to(const char *s, const char *prefix,
			     const char *rel)
{
	size_t stem = strlen(s) - SLICE_SUFFIX_LEN, i;
	const char *cur = rel;

	if (!eat(&cur, prefix, strlen(prefix)))
		return false;
	for (i = 0; i < stem; i++) {
		if (s[i] != '-')
			continue;
		if (!eat(&cur, s, i) || !eat(&cur, SLICE_SUFFIX "/",
					     SLICE_SUFFIX_LEN + 1))
			return false;
	}
	return eat(&cur, s, strlen(s)) && *cur == '\0';
}

int cbpf_podman_cgroup_parent(const char *mount, const char *path,
			      enum cbpf_cgroup_manager mgr, bool rootless,
			      uid_t uid, char *out, size_t len)
{
	char prefix[96] = "";
	const char *rel, *slice;
	size_t m;
	int r;

	if (!mount || !path || mount[0] != '/' ||
	    (mgr != CBPF_CGM_CGROUPFS && mgr != CBPF_CGM_SYSTEMD))
		return -EINVAL;
	m = trimmed_len(mount);
	if (strncmp(path, mount, m) || path[m] != '/')
		return -EINVAL;
	rel = path + m + 1;
	if (!rel_path_clean(rel, strlen(rel)))
		return -EINVAL;
	if (mgr == CBPF_CGM_CGROUPFS)
		return fmt(out, len, "/%s", rel);

	slice = strrchr(rel, '/');
	slice = slice ? slice + 1 : rel;
	if (!slice_name_valid(slice))
		return -EINVAL;
	if (rootless) {
		r = fmt(prefix, sizeof(prefix),
			"user.slice/user-%u.slice/user@%u.service/",
			(unsigned)uid, (unsigned)uid);
		if (r)
			return r;
	}
	if (!slice_expands_to(slice, prefix, rel))
		return -EINVAL;
	return fmt(out, len, "%s", slice);
}

/* --- file system --- */

/* Reads a whole (proc) file into a NUL-terminated buffer the caller frees;
 * proc files have no size, so it grows as it reads. */
static int read_all(const char *path, char **buf)
{
	size_t cap = 16384, n = 0;
	char *b = NULL;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t got;

		if (!b || n + 1 >= cap) {
			size_t ncap = b ? cap * 2 : cap;
			char *nb = realloc(b, ncap);

			if (!nb) {
				r = -ENOMEM;
				break;
			}
			b = nb;
			cap = ncap;
		}
		got = read(fd, b + n, cap - n - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = -errno;
			break;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	if (r) {
		free(b);
		return r;
	}
	b[n] = '\0';
	*buf = b;
	return 0;
}

int cbpf_cgroup2_mount(char *out, size_t len)
{
	char *mi = NULL;
	int r = read_all("/proc/self/mountinfo", &mi);

	if (r)
		return r;
	r = cbpf_cgroup2_mount_parse(mi, out, len);
	free(mi);
	return r;
}

int cbpf_cgroup_id(const char *path, uint64_t *id)
{
	struct statfs sfs;
	struct stat st;

	if (statfs(path, &sfs))
		return -errno;
	if (sfs.f_type != CGROUP2_SUPER_MAGIC)
		return -EMEDIUMTYPE;
	if (stat(path, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	*id = (uint64_t)st.st_ino;  /* cgroup2: the inode number is the id */
	return 0;
}

int cbpf_cgroup_create(const char *path)
{
	char buf[PATH_MAX];
	struct stat st;
	char *p;

	if (!path || path[0] != '/')
		return -EINVAL;
	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, strlen(path) + 1);
	for (p = buf + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (p[-1] != '/' && mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = c;
		if (!c)
			break;
	}
	if (stat(path, &st))
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int cbpf_cgroup_enable_controllers(const char *path)
{
	char file[PATH_MAX + 32], buf[1024], *tok, *save = NULL;
	ssize_t n;
	int fd, r = 0;

	if ((size_t)snprintf(file, sizeof(file), "%s/cgroup.controllers", path) >= sizeof(file))
		return -ENAMETOOLONG;
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		r = -errno;
	close(fd);
	if (r)
		return r;
	buf[n] = '\0';
	snprintf(file, sizeof(file), "%s/cgroup.subtree_control", path);
	/* One at a time: a write of several fails whole if one fails. */
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		char op[64];
		int len = snprintf(op, sizeof(op), "+%s", tok);

		if (len <= 0 || (size_t)len >= sizeof(op))
			continue;
		fd = open(file, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return r ? r : -errno;
		if (write(fd, op, (size_t)len) < 0 && !r)
			r = -errno;
		close(fd);
	}
	return r;
}

/* Whether entry e of d is a subdirectory (not "." or ".."). */
static bool is_subdir(DIR *d, const struct dirent *e)
{
	struct stat st;

	if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
		return false;
	if (e->d_type != DT_UNKNOWN)
		return e->d_type == DT_DIR;
	return !fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) &&
	       S_ISDIR(st.st_mode);
}

/* Lines of dfd/cgroup.procs: one pid each. A threaded cgroup refuses the
 * read (EOPNOTSUPP); its processes are listed at its domain, so it adds 0. */
static int count_procs_file(int dfd)
{
	char buf[4096];
	int fd, count = 0, r = 0;
	bool partial = false;

	fd = openat(dfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t got = read(fd, buf, sizeof(buf)), i;

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = errno == EOPNOTSUPP ? 0 : -errno;
			break;
		}
		if (got == 0)
			break;
		for (i = 0; i < got; i++) {
			if (buf[i] == '\n' && partial)
				count++;
			partial = buf[i] != '\n';
		}
	}
	close(fd);
	if (r)
		return r;
	return count + partial;
}

/* Calls visit(d, name, fd, arg) for each directory below the one at dfd,
 * with the child opened (visit closes it), and closes dfd. A child that
 * vanishes meanwhile is skipped. Stops at the first error, and returns it. */
static int each_subdir(int dfd, int (*visit)(DIR *d, const char *name, int fd, void *arg),
		       void *arg)
{
	DIR *d = fdopendir(dfd);
	int r = 0;

	if (!d) {
		r = -errno;
		close(dfd);
		return r;
	}
	for (;;) {
		struct dirent *e;
		int c;

		errno = 0;
		e = readdir(d);
		if (!e) {
			r = -errno;
			break;
		}
		if (!is_subdir(d, e))
			continue;
		c = openat(dirfd(d), e->d_name,
			   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (c < 0 && errno == ENOENT)
			continue;
		if ((r = c < 0 ? -errno : visit(d, e->d_name, c, arg)))
			break;
	}
	closedir(d);
	return r;
}

static int count_tree(int dfd);

static int count_child(DIR *d, const char *name, int fd, void *arg)
{
	int r = count_tree(fd);

	(void)d, (void)name;
	if (r == -ENOENT)   /* a container exiting */
		return 0;
	if (r < 0)
		return r;
	*(int *)arg += r;
	return 0;
}

/* Sums cgroup.procs over the tree at dfd, which it closes. */
static int count_tree(int dfd)
{
	int total = count_procs_file(dfd), r;

	if (total < 0) {
		close(dfd);
		return total;
	}
	r = each_subdir(dfd, count_child, &total);
	return r < 0 ? r : total;
}

int cbpf_cgroup_count_procs(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? -errno : count_tree(fd);
}

/* Removes every directory below dfd, deepest first, and closes dfd. Only
 * rmdir: the files of a cgroup go with it and cannot be unlinked. */
static int remove_children(int dfd);

static int remove_child(DIR *d, const char *name, int fd, void *arg)
{
	int r = remove_children(fd);

	(void)arg;
	if (!r && unlinkat(dirfd(d), name, AT_REMOVEDIR) && errno != ENOENT)
		r = -errno;
	return r;
}

static int remove_children(int dfd)
{
	return each_subdir(dfd, remove_child, NULL);
}

int cbpf_cgroup_remove_tree(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = remove_children(fd);
	if (r)
		return r;
	return rmdir(path) ? -errno : 0;
}

int cbpf_cgroup_join(const char *path, pid_t pid)
{
	char file[PATH_MAX], num[24];
	ssize_t w;
	int fd, n, r;

	if (!path || pid < 0)
		return -EINVAL;
	r = fmt(file, sizeof(file), "%s/cgroup.procs", path);
	if (r)
		return r;
	n = snprintf(num, sizeof(num), "%d", (int)pid);  /* "0": the caller */
	fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		w = write(fd, num, (size_t)n);
	while (w < 0 && errno == EINTR);
	r = w < 0 ? -errno : w != n ? -EIO : 0;
	close(fd);
	return r;
}

void cbpf_cgroup_v1_remove(const char *rel)
{
	char *mi = NULL, mnt[PATH_MAX], path[PATH_MAX * 2];

	if (read_all("/proc/self/mountinfo", &mi))
		return;
	for (unsigned i = 0; mount_parse(mi, "cgroup", i, mnt, sizeof(mnt)) == 0; i++) {
		char *slash;

		if (fmt(path, sizeof(path), "%s%s", mnt, rel))
			continue;
		cbpf_cgroup_remove_tree(path);
		/* The folder load shares between policies, when empty now. */
		slash = strrchr(path, '/');
		if (slash && slash > path + strlen(mnt)) {
			*slash = '\0';
			slash = strrchr(path, '/');
			if (!strcmp(slash, "/claude-bpf") || !strcmp(slash, "/claudebpf.slice"))
				rmdir(path);
		}
	}
	free(mi);
}

int cbpf_podman_parent_of(const char *mount, const char *path, char *out, size_t len)
{
	const char *user = strstr(path, "/user@");
	size_t plen = strlen(path);
	bool systemd = plen > 6 && strcmp(path + plen - 6, ".slice") == 0;
	uid_t uid = user ? (uid_t)strtoul(user + 6, NULL, 10) : 0;

	return cbpf_podman_cgroup_parent(mount, path,
					 systemd ? CBPF_CGM_SYSTEMD : CBPF_CGM_CGROUPFS,
					 systemd && user, uid, out, len);
}

int cbpf_cgroup_kill_all(const char *path)
{
	char file[PATH_MAX + 16];
	int fd;

	snprintf(file, sizeof(file), "%s/cgroup.kill", path);
	fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t w = write(fd, "1", 1);

		close(fd);
		if (w != 1)
			return -errno;
	} else {
		/* Before 5.14: freeze nothing, just kill what is listed until
		 * nothing is (new children of dying processes are caught too). */
		for (int round = 0; round < 50 && cbpf_cgroup_count_procs(path) > 0; round++) {
			FILE *f;
			int pid;

			snprintf(file, sizeof(file), "%s/cgroup.procs", path);
			f = fopen(file, "re");
			if (!f)
				break;
			while (fscanf(f, "%d", &pid) == 1)
				kill(pid, SIGKILL);
			fclose(f);
			usleep(20000);
		}
	}
	for (int i = 0; i < 250 && cbpf_cgroup_count_procs(path) > 0; i++)
		usleep(20000);
	return cbpf_cgroup_count_procs(path) > 0 ? -EBUSY : 0;
}
