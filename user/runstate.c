/* /run/claude-bpf/<policy>: "cgroup_id N", "cgroup PATH" and the last
 * "selftest ...", written by load and selftest (atomically, by rename) and
 * removed by unload. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runstate.h"

int cbpf_runstate_dir(void)
{
	return mkdir(CBPF_RUNSTATE_DIR, 0755) && errno != EEXIST ? -errno : 0;
}

int cbpf_runstate_write_file(const char *name, const char *text)
{
	char path[256], tmp[272];
	FILE *f;
	int fd;

	if ((fd = cbpf_runstate_dir()))
		return fd;
	snprintf(path, sizeof(path), CBPF_RUNSTATE_DIR "/%s", name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -errno;
	}
	fputs(text, f);
	if (fclose(f) || rename(tmp, path)) {
		int err = -errno;

		unlink(tmp);
		return err;
	}
	return 0;
}

int cbpf_runstate_write(const char *name, uint64_t cgroup_id, const char *cgroup)
{
	char text[4200];

	if ((size_t)snprintf(text, sizeof(text), "cgroup_id %" PRIu64 "\ncgroup %s\n",
			     cgroup_id, cgroup) >= sizeof(text))
		return -ENAMETOOLONG;
	return cbpf_runstate_write_file(name, text);
}

/* Opens the state file of `name`, refusing one root did not write. */
static FILE *open_state(const char *name, int *err)
{
	char path[256];
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), CBPF_RUNSTATE_DIR "/%s", name);
	f = fopen(path, "re");
	if (!f) {
		*err = -errno;
		return NULL;
	}
	/* Only root's word counts. */
	if (fstat(fileno(f), &st) || st.st_uid != 0 || (st.st_mode & 022)) {
		fclose(f);
		*err = -EBADMSG;
		return NULL;
	}
	return f;
}

int cbpf_runstate_set_selftest(const char *name, bool passed, size_t blocked,
			       size_t leaked, size_t untested)
{
	char text[8192], line[4096];
	size_t used = 0;
	int err = 0;
	FILE *f = open_state(name, &err);

	if (!f)
		return err;
	text[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		size_t l = strlen(line);

		if (!strncmp(line, "selftest ", 9) || used + l >= sizeof(text))
			continue;
		memcpy(text + used, line, l + 1);
		used += l;
	}
	fclose(f);
	snprintf(text + used, sizeof(text) - used, "selftest %s %zu %zu %zu\n",
		 passed ? "passed" : "leaked", blocked, leaked, untested);
	return cbpf_runstate_write_file(name, text);
}

int cbpf_runstate_get_selftest(const char *name, bool *passed)
{
	char line[4096];
	int err = -ENODATA, e = 0;
	FILE *f = open_state(name, &e);

	if (!f)
		return e;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "selftest passed ", 16)) {
			*passed = true;
			err = 0;
		} else if (!strncmp(line, "selftest leaked ", 16)) {
			*passed = false;
			err = 0;
		}
	}
	fclose(f);
	return err;
}

int cbpf_runstate_remove(const char *name)
{
	char path[256];

	/* A refresher killed outright leaves them. */
	snprintf(path, sizeof(path), CBPF_RUNSTATE_DIR "/%s.hosts", name);
	unlink(path);
	snprintf(path, sizeof(path), CBPF_RUNSTATE_DIR "/%s.dns", name);
	unlink(path);
	snprintf(path, sizeof(path), CBPF_RUNSTATE_DIR "/%s", name);
	if (unlink(path) && errno != ENOENT)
		return -errno;
	return 0;
}

int cbpf_runstate_read(const char *name, uint64_t *cgroup_id, char *cgroup,
		       size_t len)
{
	char line[4096];
	int found = 0, err = 0;
	FILE *f = open_state(name, &err);

	if (!f)
		return err;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "cgroup_id %" SCNu64, cgroup_id) == 1)
			found |= 1;
		else if (!strncmp(line, "cgroup /", 8) && strlen(line + 7) < len) {
			snprintf(cgroup, len, "%s", line + 7);
			found |= 2;
		}
	}
	fclose(f);
	return found == 3 ? 0 : -EBADMSG;
}
