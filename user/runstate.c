/* /run/claude-bpf/<policy>: "cgroup_id N" and "cgroup PATH", written by
 * load (atomically, by rename) and removed by unload. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runstate.h"

int cbpf_runstate_write(const char *name, uint64_t cgroup_id, const char *cgroup)
{
	char path[256], tmp[272];
	FILE *f;
	int fd;

	if (mkdir(CBPF_RUNSTATE_DIR, 0755) && errno != EEXIST)
		return -errno;
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
	fprintf(f, "cgroup_id %" PRIu64 "\ncgroup %s\n", cgroup_id, cgroup);
	if (fclose(f) || rename(tmp, path)) {
		int err = -errno;

		unlink(tmp);
		return err;
	}
	return 0;
}

int cbpf_runstate_remove(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), CBPF_RUNSTATE_DIR "/%s.hosts", name);
	unlink(path);   /* a refresher killed outright leaves it */
	snprintf(path, sizeof(path), CBPF_RUNSTATE_DIR "/%s", name);
	if (unlink(path) && errno != ENOENT)
		return -errno;
	return 0;
}

int cbpf_runstate_read(const char *name, uint64_t *cgroup_id, char *cgroup,
		       size_t len)
{
	char path[256], line[4096];
	int found = 0;
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), CBPF_RUNSTATE_DIR "/%s", name);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	/* Only root's word counts. */
	if (fstat(fileno(f), &st) || st.st_uid != 0 || (st.st_mode & 022)) {
		fclose(f);
		return -EBADMSG;
	}
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
