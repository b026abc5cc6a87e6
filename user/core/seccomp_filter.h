/* The system-call filter of `run` and `exec`: socket() only for the
 * families of families.h, no socketcall() (32-bit programs' way around a
 * filter on socket()), no io_uring (which makes sockets without socket()).
 * What the filter refuses, no cgroup program would ever see. */
#ifndef CBPF_SECCOMP_FILTER_H
#define CBPF_SECCOMP_FILTER_H

#include <stddef.h>

/* podman's default profile, shipped by containers-common. */
#define CBPF_PODMAN_SECCOMP "/usr/share/containers/seccomp.json"

/* exec: sets no_new_privs and loads the filter into this process, for it
 * and every process it starts. 0 or -errno. */
int cbpf_seccomp_load(void);

/* run: podman's profile `base` (JSON text of `len` bytes) with its socket()
 * and socketcall() rules replaced by the sandbox's. *out is malloc'd JSON.
 * 0; -EINVAL with msg saying what is wrong with `base`; -ENOMEM. */
int cbpf_seccomp_podman_profile(const char *base, size_t len, char **out,
				char *msg, size_t msglen);

/* Writes that profile, made from podman's CBPF_PODMAN_SECCOMP, to `path`
 * (replaced whole, mode 0644; its folder made, 0755, when missing). 0, or
 * -errno with msg saying what failed. */
int cbpf_seccomp_podman_write(const char *path, char *msg, size_t msglen);

#endif
