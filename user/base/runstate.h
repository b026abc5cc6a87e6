/* The runtime folder, /run/claude-bpf: the one module that knows its
 * layout. Every path in it is made here, every file in it is written whole
 * and renamed into place here, and each kind of file has one reader and
 * one writer: the state file and the refresher's hosts file are read and
 * written here as records; the DNS forwarder's counts (dnsfwd.c) and the
 * grants (grants.c) keep their lines in their modules and go through the
 * file functions below; the pid files and the lock keep their flock(2)
 * semantics in daemon.c, on the paths made here. Libbpf-free; the codecs
 * (format and parse) are pure. */
#ifndef CBPF_RUNSTATE_H
#define CBPF_RUNSTATE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CBPF_RUNSTATE_DIR "/run/claude-bpf"

/* The files in CBPF_RUNSTATE_DIR: a policy NAME's, and two of no policy. */
enum cbpf_runfile {
	CBPF_RUNFILE_STATE,     /* NAME: its cgroup and last selftest (below) */
	CBPF_RUNFILE_PID,       /* NAME.pid: its background process, flock'ed
	                         * while it runs (daemon.c) */
	CBPF_RUNFILE_HOSTS,     /* NAME.hosts: the refresher's answers (below) */
	CBPF_RUNFILE_DNS,       /* NAME.dns: its DNS forwarder's counts (dnsfwd.c) */
	CBPF_RUNFILE_GRANTS,    /* NAME.grants: allow's grants (grants.c) */
	CBPF_RUNFILE_LOCK,      /* lock: serialises load and unload (daemon.c) */
	CBPF_RUNFILE_SECCOMP,   /* seccomp.json: the profile root's run gives its
	                         * container (run.c) */
};

/* The path of file `kind` of policy `name` (ignored for the lock and the
 * seccomp profile) into buf. Pure. 0 or -ENAMETOOLONG. */
int cbpf_runstate_path(char *buf, size_t len, const char *name, enum cbpf_runfile kind);

/* Makes the folder (one level: /run is there). 0 or -errno. */
int cbpf_runstate_dir(void);

/* Writes `text` as the whole file, making the folder first, by rename: a
 * reader sees the old file or the new one. 0 or -errno. */
int cbpf_runstate_file_write(const char *name, enum cbpf_runfile kind, const char *text);
/* The whole file, NUL-terminated, to free; NULL with errno set. */
char *cbpf_runstate_file_read(const char *name, enum cbpf_runfile kind);
/* Removes the file; 0 also when there is none, else -errno. */
int cbpf_runstate_file_remove(const char *name, enum cbpf_runfile kind);

/* ---- NAME: what `load` tells unprivileged users about a policy
 * "cgroup_id N\ncgroup PATH\n", then after a selftest (written by
 * `selftest` as root, also when `load --user` or `run` runs it)
 * "selftest passed|leaked BLOCKED LEAKED UNTESTED\n". bpf() needs root, so
 * `run` as an ordinary user reads this file, which only root may write,
 * and checks the cgroup is still the same one. A new `load` writes the
 * file afresh, so a recorded result always belongs to the cgroup and rule
 * set loaded last. */
#define CBPF_RUNSTATE_CGROUP_MAX PATH_MAX

struct cbpf_runstate {
	uint64_t cgroup_id;
	char cgroup[CBPF_RUNSTATE_CGROUP_MAX];   /* absolute */
	bool selftest;                  /* a selftest is recorded, and: */
	bool passed;                    /* it found no leak */
	size_t blocked, leaked, untested;
};

/* The file's text into buf. Pure. Its length, or -ENAMETOOLONG. */
int cbpf_runstate_format(const struct cbpf_runstate *st, char *buf, size_t len);
/* Pure. 0, or -EBADMSG when `text` lacks the cgroup lines or a line is
 * not one format writes. */
int cbpf_runstate_parse(const char *text, struct cbpf_runstate *st);

int cbpf_runstate_write(const char *name, uint64_t cgroup_id, const char *cgroup);
/* Removes the state file, and the hosts and DNS files a background process
 * killed outright leaves. 0 or -errno. */
int cbpf_runstate_remove(const char *name);
/* Returns 0, -ENOENT when the policy has no state, -EBADMSG when the file
 * is not what load writes (or not root's). */
int cbpf_runstate_read(const char *name, uint64_t *cgroup_id, char *cgroup,
		       size_t len);
/* Records the policy's last selftest. 0, -ENOENT when it has no state. */
int cbpf_runstate_set_selftest(const char *name, bool passed, size_t blocked,
			       size_t leaked, size_t untested);
/* *passed from the recorded selftest: 0, -ENOENT (no state), -ENODATA (no
 * selftest recorded), -EBADMSG (not root's file). */
int cbpf_runstate_get_selftest(const char *name, bool *passed);

/* ---- NAME.hosts: the refresher's word on each hostname of its file, for
 * `status`; one line each,
 *   NAME \t ANSWERED_NS \t TTL \t FAILURES \t SKIPPED \t ERROR
 * SKIPPED "-" for none; ERROR empty after an answer. Written while the
 * refresher runs, removed when it ends. */
struct cbpf_host_record {
	const char *name;
	uint64_t answered_ns;       /* boot time of its last good answer; 0: never */
	unsigned ttl;               /* of that answer */
	int failures;               /* tries failed in a row since */
	const char *skipped;        /* the answer's addresses no rule is made of,
	                             * with commas between; "" for none */
	const char *error;          /* the last failed try's message; "" (or, to
	                             * format, NULL) for none */
};

struct cbpf_host_records {
	struct cbpf_host_record *v;
	size_t n;
	char *text;                 /* what v's strings point into */
};

/* The lines of v[0..n), to free; NULL when out of memory. A tab or newline
 * in a string becomes a space. Pure. */
char *cbpf_host_records_format(const struct cbpf_host_record *v, size_t n);
/* Takes `text` (freed by cbpf_host_records_free, also on error) and parses
 * it in place; a line that is not one format writes is left out. Pure.
 * 0 or -ENOMEM. */
int cbpf_host_records_parse(char *text, struct cbpf_host_records *out);
void cbpf_host_records_free(struct cbpf_host_records *r);

int cbpf_runstate_hosts_write(const char *name, const struct cbpf_host_record *v,
			      size_t n);
/* 0, or -errno (-ENOENT: no file); *out is empty on error. */
int cbpf_runstate_hosts_read(const char *name, struct cbpf_host_records *out);

#endif
