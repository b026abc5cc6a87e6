/* The denials the programs report, as they happen: read from the pinned
 * ring buffer and resolved to their policy, the container or cgroup below
 * its enforcement cgroup, and the host the address belonged to. The
 * object is followed when it is replaced, and policies loaded since are
 * found. What the sandbox chose (cgroup names, comm, a name asked of the
 * forwarder) comes printable: anything but visible ASCII is '?'. */
#ifndef CBPF_DENIALS_H
#define CBPF_DENIALS_H

#include <stdbool.h>
#include <stdint.h>

/* One denial; NULL or 0 where it is not known. Valid during the call. */
struct cbpf_denial {
	int64_t time_ns;            /* CLOCK_REALTIME */
	const char *policy;
	uint64_t cgroup_id;
	const char *container;      /* podman's short id (12 hex digits) */
	const char *cgroup;         /* below the enforcement cgroup, "." itself */
	uint32_t pid;
	const char *comm;
	int hook;                   /* enum cbpf_hook */
	const char *proto;
	const char *address;        /* none for sock_create and the forwarder */
	uint16_t port;
	bool v4;
	const char *host;           /* the address's host, or the name asked */
	uint8_t reason;             /* enum cbpf_reason */
};

/* Called for each denial; a non-zero return stops the stream. */
typedef int cbpf_denial_fn(const struct cbpf_denial *d, void *arg);

struct cbpf_denials_opts {
	const char *only;           /* a policy's name, or NULL: every policy */
	bool keep_spaces;           /* spaces stay in names (for JSON) */
	cbpf_denial_fn *fn;
	void *arg;
};

struct cbpf_denials;

/* Opens the stream from now on. Returns 0, -ENODEV (no cgroup2 mount),
 * -ENOENT (nothing pinned), -ESRCH (no policy `only`) or -errno with
 * *what naming the step. */
int cbpf_denials_open(struct cbpf_denials **d, const struct cbpf_denials_opts *o,
		      const char **what);

/* Calls fn for each denial until SIGINT or SIGTERM, fn's stop, or
 * timeout_s (0: none). Returns 0, or 1 after saying why it could not go on. */
int cbpf_denials_stream(struct cbpf_denials *d, unsigned long timeout_s);

void cbpf_denials_close(struct cbpf_denials *d);

#endif
