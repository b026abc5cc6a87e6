/* The socket families a sandbox may open. Only AF_INET and AF_INET6 pass the
 * cgroup programs; AF_UNIX and AF_NETLINK stay on this machine. Every other
 * family (AF_VSOCK to the hypervisor, AF_RDS whose TCP transport connects
 * from a kernel worker in the root cgroup, AF_PACKET, ...) would be a route
 * no program sees, so `run` and `exec` refuse them at socket() (seccomp_filter.h).
 * Free of any library: the selftest's rows and the test probe use it too. */
#ifndef CBPF_FAMILIES_H
#define CBPF_FAMILIES_H

#include <stdbool.h>

/* The families are numbered below this (AF_MAX of the kernel headers we
 * know); the filter refuses every number at or above it as well. */
#define CBPF_FAMILY_LIMIT 46

bool cbpf_family_allowed(int family);

/* "AF_VSOCK"; "AF_46" for a number without a name. */
const char *cbpf_family_name(int family);

#endif
