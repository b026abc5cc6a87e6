/* /run/claude-bpf: the path of each file in it, the whole-file write by
 * rename and the read, and the codecs of the state file and the
 * refresher's hosts file. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/runstate.h"

/* The layout: a policy's files are its name and a suffix. */
static const struct {
	const char *file;
	bool policy;
} layout[] = {
	[CBPF_RUNFILE_STATE]   = { "",             true },
	[CBPF_RUNFILE_PID]     = { ".pid",         true },
	[CBPF_RUNFILE_HOSTS]   = { ".hosts",       true },
	[CBPF_RUNFILE_DNS]     = { ".dns",         true },
	[CBPF_RUNFILE_GRANTS]  = { ".grants",      true },
	[CBPF_RUNFILE_LOCK]    = { "lock",         false },
	[CBPF_RUNFILE_SECCOMP] = { "seccomp.json", false },
};

int cbpf_runstate_path(char *buf, size_t len, const char *name, enum cbpf_runfile kind)
{
	bool policy;
	int n;

	if ((unsigned)kind >= sizeof(layout) / sizeof(layout[0]))
		return -EINVAL;
	policy = layout[kind].policy;
	/* A name is one file in the folder, never a way out of it. */
	if (policy && (!name || !*name || strchr(name, '/')))
		return -EINVAL;
	n = snprintf(buf, len, CBPF_RUNSTATE_DIR "/%s%s", policy ? name : "",
		     layout[kind].file);
	return n >= 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

int cbpf_runstate_dir(void)
{
	return mkdir(CBPF_RUNSTATE_DIR, 0755) && errno != EEXIST ? -errno : 0;
}

int cbpf_runstate_file_write(const char *name, enum cbpf_runfile kind, const char *text)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *f;
	int fd;

	if ((fd = cbpf_runstate_path(path, sizeof(path), name, kind)) ||
	    (fd = cbpf_runstate_dir()))
		return fd;
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

/* The rest of fd, NUL-terminated; NULL with errno set. */
static char *read_all(int fd)
{
	size_t len = 0, cap = 0;
	char *text = NULL;

	for (;;) {
		ssize_t n;

		if (cap - len < 2) {
			char *more = realloc(text, cap = cap ? 2 * cap : 4096);

			if (!more) {
				free(text);
				errno = ENOMEM;
				return NULL;
			}
			text = more;
		}
		n = read(fd, text + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;

			free(text);
			errno = err;
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	text[len] = '\0';
	return text;
}

/* Opens the file for reading: an fd, or -errno. */
static int open_file(const char *name, enum cbpf_runfile kind)
{
	char path[PATH_MAX];
	int fd = cbpf_runstate_path(path, sizeof(path), name, kind);

	if (fd)
		return fd;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

char *cbpf_runstate_file_read(const char *name, enum cbpf_runfile kind)
{
	int fd = open_file(name, kind), err;
	char *text;

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	text = read_all(fd);
	err = errno;
	close(fd);
	errno = err;
	return text;
}

int cbpf_runstate_file_remove(const char *name, enum cbpf_runfile kind)
{
	char path[PATH_MAX];
	int err = cbpf_runstate_path(path, sizeof(path), name, kind);

	if (err)
		return err;
	return unlink(path) && errno != ENOENT ? -errno : 0;
}

/* ---- the state file */

/* A whole decimal number, at most max: no sign, no space, nothing after. */
static bool parse_num(const char *s, uint64_t max, uint64_t *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return !*end && !errno && *v <= max;
}

int cbpf_runstate_format(const struct cbpf_runstate *st, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "cgroup_id %" PRIu64 "\ncgroup %s\n",
				    st->cgroup_id, st->cgroup);

	if (n < len && st->selftest)
		n += (size_t)snprintf(buf + n, len - n, "selftest %s %zu %zu %zu\n",
				      st->passed ? "passed" : "leaked", st->blocked,
				      st->leaked, st->untested);
	return n < len && n <= INT_MAX ? (int)n : -ENAMETOOLONG;
}

/* "passed|leaked BLOCKED LEAKED UNTESTED" into st. */
static bool parse_selftest(char *s, struct cbpf_runstate *st)
{
	char *word[4], *save = NULL;
	uint64_t num[3];
	int n = 0;

	for (char *w = strtok_r(s, " ", &save); w; w = strtok_r(NULL, " ", &save))
		if (n++ < 4)
			word[n - 1] = w;
	if (n != 4 || (strcmp(word[0], "passed") && strcmp(word[0], "leaked")))
		return false;
	for (int i = 0; i < 3; i++)
		if (!parse_num(word[i + 1], SIZE_MAX, &num[i]))
			return false;
	st->selftest = true;
	st->passed = !strcmp(word[0], "passed");
	st->blocked = (size_t)num[0];
	st->leaked = (size_t)num[1];
	st->untested = (size_t)num[2];
	return true;
}

int cbpf_runstate_parse(const char *text, struct cbpf_runstate *st)
{
	char *copy = strdup(text), *next = copy, *line;
	unsigned found = 0;
	bool ok = true;

	memset(st, 0, sizeof(*st));
	if (!copy)
		return -ENOMEM;
	while (ok && (line = strsep(&next, "\n"))) {
		if (!strncmp(line, "cgroup_id ", 10)) {
			ok = parse_num(line + 10, UINT64_MAX, &st->cgroup_id);
			found |= 1;
		} else if (!strncmp(line, "cgroup ", 7)) {
			ok = line[7] == '/' && strlen(line + 7) < sizeof(st->cgroup);
			if (ok)
				memcpy(st->cgroup, line + 7, strlen(line + 7) + 1);
			found |= 2;
		} else if (!strncmp(line, "selftest ", 9)) {
			ok = parse_selftest(line + 9, st);
		}
		/* Any other line is not ours to judge: left alone. */
	}
	free(copy);
	return ok && found == 3 ? 0 : -EBADMSG;
}

/* The state of `name`, from a file only root may have written. */
static int state_load(const char *name, struct cbpf_runstate *st)
{
	int fd = open_file(name, CBPF_RUNFILE_STATE), err;
	struct stat sb;
	char *text;

	memset(st, 0, sizeof(*st));
	if (fd < 0)
		return fd;
	/* Only root's word counts. */
	if (fstat(fd, &sb) || sb.st_uid != 0 || (sb.st_mode & 022)) {
		close(fd);
		return -EBADMSG;
	}
	text = read_all(fd);
	err = text ? cbpf_runstate_parse(text, st) : -errno;
	close(fd);
	free(text);
	return err;
}

static int state_store(const char *name, const struct cbpf_runstate *st)
{
	char text[CBPF_RUNSTATE_CGROUP_MAX + 128];
	int n = cbpf_runstate_format(st, text, sizeof(text));

	return n < 0 ? n : cbpf_runstate_file_write(name, CBPF_RUNFILE_STATE, text);
}

int cbpf_runstate_write(const char *name, uint64_t cgroup_id, const char *cgroup)
{
	struct cbpf_runstate st = { .cgroup_id = cgroup_id };

	if (strlen(cgroup) >= sizeof(st.cgroup))
		return -ENAMETOOLONG;
	memcpy(st.cgroup, cgroup, strlen(cgroup) + 1);
	return state_store(name, &st);
}

int cbpf_runstate_read(const char *name, uint64_t *cgroup_id, char *cgroup,
		       size_t len)
{
	struct cbpf_runstate st;
	int err = state_load(name, &st);

	if (err)
		return err;
	if (strlen(st.cgroup) >= len)
		return -EBADMSG;
	*cgroup_id = st.cgroup_id;
	memcpy(cgroup, st.cgroup, strlen(st.cgroup) + 1);
	return 0;
}

int cbpf_runstate_set_selftest(const char *name, bool passed, size_t blocked,
			       size_t leaked, size_t untested)
{
	struct cbpf_runstate st;
	int err = state_load(name, &st);

	if (err)
		return err;
	st.selftest = true;
	st.passed = passed;
	st.blocked = blocked;
	st.leaked = leaked;
	st.untested = untested;
	return state_store(name, &st);
}

int cbpf_runstate_get_selftest(const char *name, bool *passed)
{
	struct cbpf_runstate st;
	int err = state_load(name, &st);

	if (err)
		return err;
	if (!st.selftest)
		return -ENODATA;
	*passed = st.passed;
	return 0;
}

int cbpf_runstate_remove(const char *name)
{
	/* A background process killed outright leaves them. */
	cbpf_runstate_file_remove(name, CBPF_RUNFILE_HOSTS);
	cbpf_runstate_file_remove(name, CBPF_RUNFILE_DNS);
	return cbpf_runstate_file_remove(name, CBPF_RUNFILE_STATE);
}

/* ---- the hosts file */

/* s into f, with a space for a tab or newline: those would end the field
 * or the record. */
static void put_field(FILE *f, const char *s)
{
	for (; s && *s; s++)
		fputc(*s == '\t' || *s == '\n' ? ' ' : *s, f);
}

char *cbpf_host_records_format(const struct cbpf_host_record *v, size_t n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		put_field(f, v[i].name);
		fprintf(f, "\t%" PRIu64 "\t%u\t%d\t", v[i].answered_ns, v[i].ttl,
			v[i].failures);
		if (v[i].skipped && *v[i].skipped)
			put_field(f, v[i].skipped);
		else
			fputc('-', f);
		fputc('\t', f);
		put_field(f, v[i].error);
		fputc('\n', f);
	}
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

/* One line, split in place; false when it is not one format writes. */
static bool parse_host_line(char *line, struct cbpf_host_record *r)
{
	char *field[5];
	uint64_t answered, ttl, failures;
	int nf = 0;

	while (nf < 5 && line)
		field[nf++] = strsep(&line, "\t");
	if (nf < 5 || !*field[0] || !*field[4] ||
	    !parse_num(field[1], UINT64_MAX, &answered) ||
	    !parse_num(field[2], UINT_MAX, &ttl) ||
	    !parse_num(field[3], INT_MAX, &failures))
		return false;
	*r = (struct cbpf_host_record){
		.name = field[0],
		.answered_ns = answered,
		.ttl = (unsigned)ttl,
		.failures = (int)failures,
		.skipped = strcmp(field[4], "-") ? field[4] : "",
		.error = line ? line : "",   /* the rest of the line */
	};
	return true;
}

int cbpf_host_records_parse(char *text, struct cbpf_host_records *out)
{
	char *next = text, *line;

	memset(out, 0, sizeof(*out));
	out->text = text;
	while ((line = strsep(&next, "\n"))) {
		struct cbpf_host_record r, *v;

		if (!parse_host_line(line, &r))
			continue;
		if (!(v = realloc(out->v, (out->n + 1) * sizeof(*v)))) {
			cbpf_host_records_free(out);
			return -ENOMEM;
		}
		out->v = v;
		v[out->n++] = r;
	}
	return 0;
}

void cbpf_host_records_free(struct cbpf_host_records *r)
{
	free(r->v);
	free(r->text);
	memset(r, 0, sizeof(*r));
}

int cbpf_runstate_hosts_write(const char *name, const struct cbpf_host_record *v,
			      size_t n)
{
	char *text = cbpf_host_records_format(v, n);
	int err;

	if (!text)
		return -ENOMEM;
	err = cbpf_runstate_file_write(name, CBPF_RUNFILE_HOSTS, text);
	free(text);
	return err;
}

int cbpf_runstate_hosts_read(const char *name, struct cbpf_host_records *out)
{
	char *text = cbpf_runstate_file_read(name, CBPF_RUNFILE_HOSTS);

	memset(out, 0, sizeof(*out));
	return text ? cbpf_host_records_parse(text, out) : -errno;
}
