/* Resolving every hostname of a policy, A and AAAA, all in parallel, with
 * c-ares (which reports TTLs), through the resolvers the sandbox may use. */
#ifndef CBPF_RESOLVE_H
#define CBPF_RESOLVE_H

#include <stddef.h>
#include <stdint.h>
#include "base/errors.h"
#include "core/rules.h"

/* Name servers from the text of a resolv.conf ("nameserver" lines, IPv4 or
 * IPv6, scope ids dropped), v4-mapped. Pure. Returns the count (at most
 * `max`). */
size_t cbpf_parse_resolv_conf(const char *text, uint8_t (*out)[16], size_t max);

/* Resolves `hosts[i]` (line numbers `lines[i]` for messages about `path`)
 * through `servers` (v4-mapped or IPv6, port 53). Fills res[i] (addresses
 * unique; ttl the smallest seen). A name with no address at all is
 * an error "PATH:LINE: cannot resolve 'NAME': REASON" in *errs, REASON
 * also in res[i].error. Returns 0,
 * -EINVAL when any name failed, or -errno. */
int cbpf_resolve_all(const char *path, const char *const *hosts,
		     const unsigned *lines, size_t n,
		     const uint8_t (*servers)[16], size_t nservers,
		     struct cbpf_resolved *res, struct cbpf_errors *errs);

void cbpf_resolved_free(struct cbpf_resolved *res, size_t n);

/* Makes `servers` (v4-mapped or IPv6, port 53) the name servers of a
 * c-ares channel (an ares_channel, passed as void * so this header needs
 * no c-ares). Returns an ARES_* status. */
int cbpf_ares_set_servers(void *channel, const uint8_t (*servers)[16], size_t n);

#endif
