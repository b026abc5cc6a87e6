/* The allowlist file: parsed whole into entries, or rejected whole with one
 * "FILE:LINE: message" per error. Pure: no I/O, no DNS. */
#ifndef CBPF_CONFIG_H
#define CBPF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "base/addr.h"   /* cbpf_v4_mapped, for the callers that have it from here */
#include "claude_bpf.h"
#include "base/errors.h"

/* Ports of an entry. */
#define CBPF_CONF_PORT_DEFAULT (-1)  /* none written: 80 and 443 (a deny: ':*') */
#define CBPF_CONF_PORT_ANY     0     /* ':*' */

enum cbpf_conf_proto {
	CBPF_CONF_BOTH = 0,     /* TCP and UDP (no '/tcp' or '/udp' written) */
	CBPF_CONF_TCP,
	CBPF_CONF_UDP,
	CBPF_CONF_ALL,          /* every IP protocol: ':*' with no protocol */
};

struct cbpf_conf_entry {
	unsigned line;
	uint8_t action;         /* enum cbpf_action */
	bool is_host;           /* a hostname (resolved later), else addr/prefix */
	bool wildcard;          /* is_host "*.host": any name strictly below
	                         * host, never resolved ahead of time (only the
	                         * DNS forwarder can honour it); allow or deny */
	bool v4;                /* the literal was IPv4 (stored v4-mapped) */
	char *host;             /* is_host: lower-case, without a trailing dot
	                         * (owned by the struct cbpf_conf) */
	uint8_t addr[16];       /* IPv6 or v4-mapped IPv4, host bits zero */
	uint8_t prefix;         /* IPv6 terms: an IPv4 /n is stored as 96 + n */
	int port;               /* CBPF_CONF_PORT_DEFAULT, _ANY or 1..65535 */
	enum cbpf_conf_proto proto;
};

struct cbpf_conf_dns {
	unsigned line;
	bool v4;
	uint8_t addr[16];       /* v4-mapped when v4 */
};

struct cbpf_conf {
	struct cbpf_conf_entry *entries;
	size_t n, cap;              /* entries used, allocated */
	struct cbpf_conf_dns *dns;   /* resolvers the sandbox may query */
	size_t ndns;
};

/* Parses `text` (the whole file, NUL-terminated); `path` is used only in
 * messages. Returns 0 and fills *out, or -EINVAL with every error appended
 * to *errs (and *out left empty), or -ENOMEM. */
int cbpf_conf_parse(const char *path, const char *text, struct cbpf_conf *out,
		    struct cbpf_errors *errs);
void cbpf_conf_free(struct cbpf_conf *c);

/* The number of wildcard entries ("*.example.com") in `c`. */
size_t cbpf_conf_wildcards(const struct cbpf_conf *c);

/* Direct mode resolves every name ahead of time, which a wildcard cannot
 * be: appends "PATH:LINE: wildcard '*.example.com' needs the DNS
 * forwarder ..." to *errs for each one. Returns 0 when there is none,
 * -EINVAL when there is, or -ENOMEM. */
int cbpf_conf_check_direct(const struct cbpf_conf *c, const char *path,
			   struct cbpf_errors *errs);

/* Formats an address (v4-mapped printed as IPv4) with "/prefix" in the
 * address family's own terms when prefix < full length. */
void cbpf_format_prefix(const uint8_t addr[16], uint8_t prefix, char *buf,
			size_t len);

/* Why cbpf_parse_prefix() refused its input. */
enum cbpf_prefix_error {
	CBPF_PREFIX_OK = 0,
	CBPF_PREFIX_BAD_ADDRESS,    /* not an address of the family */
	CBPF_PREFIX_BAD_LENGTH,     /* not strict decimal 0..32 (0..128) */
	CBPF_PREFIX_HOST_BITS,      /* bits set past the prefix; *addr and
	                             * *prefix hold the network */
};

/* The one parser of address literals: "a.b.c.d[/n]" for AF_INET,
 * "x:y::z[/n]" (no brackets) for AF_INET6, into IPv6 terms (IPv4 stored
 * v4-mapped with prefix 96 + n; no "/n" means full length). */
enum cbpf_prefix_error cbpf_parse_prefix(const char *s, int family,
					 uint8_t addr[16], uint8_t *prefix);

#endif
