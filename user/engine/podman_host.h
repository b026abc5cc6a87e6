/* What this machine's podman says about itself, asked by running it: how it
 * places containers (its cgroup manager) and whether it runs rootless. */
#ifndef CBPF_PODMAN_HOST_H
#define CBPF_PODMAN_HOST_H

#include <stdbool.h>
#include <stddef.h>

/* Runs argv, its stdout into `out` (NUL-terminated, trailing newline cut),
 * stderr passed through. Returns the exit status, or -errno. */
int cbpf_capture(char *const *argv, char *out, size_t len);

/* `podman info`: *systemd when podman's cgroup manager is systemd,
 * *rootless when it runs rootless. Returns 0, -ENOENT when podman is not
 * installed, -ECHILD when it failed, or -errno. */
int cbpf_podman_host(bool *systemd, bool *rootless);

/* The one message for a cbpf_podman_host() error. */
void cbpf_podman_host_error(int err);

#endif
