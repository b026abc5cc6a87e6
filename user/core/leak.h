/* The leak matrix: every escape route an agent could try, tried toward
 * destinations a policy denies, each judged blocked, LEAKED or untested.
 * Free of libbpf, so the same attempts run in `claude-bpf selftest` (inside
 * the policy's cgroup, with the deny counters at hand) and in the static
 * test probe inside a container (without them). The plan, the verdict and
 * the output are pure; cbpf_leak_run makes the system calls. */
#ifndef CBPF_LEAK_H
#define CBPF_LEAK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "claude_bpf.h"
#include "core/rules.h"

#define CBPF_LEAK_MAX_TARGETS 16
#define CBPF_LEAK_MAX_ROWS    256
#define CBPF_LEAK_DEFAULT_PORT 443
#define CBPF_LEAK_PAYLOAD "claude-bpf-selftest"

enum cbpf_leak_route {
	CBPF_LEAK_TCP = 0,          /* connect(), IPv4 or IPv6 */
	CBPF_LEAK_TCP_V4MAPPED,     /* connect() of an AF_INET6 socket to ::ffff:a.b.c.d */
	CBPF_LEAK_UDP_SENDTO,       /* unconnected UDP */
	CBPF_LEAK_UDP_CONNECT,      /* connect(), then send() */
	CBPF_LEAK_TCP_FASTOPEN,     /* sendto(MSG_FASTOPEN) */
	CBPF_LEAK_RAW,              /* SOCK_RAW ICMP/ICMPv6 echo, with CAP_NET_RAW */
	CBPF_LEAK_PING,             /* SOCK_DGRAM IPPROTO_ICMP/ICMPV6 echo */
	CBPF_LEAK_FAMILY,           /* socket() of a family no cgroup program sees */
	CBPF_LEAK_DNS_UDP,          /* a query to port 53 of the target */
	CBPF_LEAK_DNS_TCP,          /* connect() to port 53 of the target */
	CBPF_LEAK_OTHER_PORT,       /* an allowed address on a port it is not allowed */
	CBPF_LEAK_NETNS_TCP,        /* from a network namespace made now */
	CBPF_LEAK_NETNS_UDP,
	CBPF_LEAK_CGROUP_TCP,       /* from a cgroup made below the probe's */
	CBPF_LEAK_LOOPBACK_TCP,     /* the host's 127.0.0.1 and ::1, host namespace */
	CBPF_LEAK__COUNT
};

enum cbpf_leak_outcome {
	CBPF_LEAK_UNTESTED = 0,     /* could not be judged here; `how` says why */
	CBPF_LEAK_BLOCKED,
	CBPF_LEAK_LEAKED,
};

/* Where a system call stands relative to the programs' verdict. */
enum cbpf_leak_stage {
	CBPF_STAGE_SOCKET,  /* socket(): cgroup/sock_create (IPv4, IPv6 only) */
	CBPF_STAGE_HOOK,    /* connect() or an unconnected send: the connect or
	                     * sendmsg hook runs before the route lookup */
	CBPF_STAGE_EGRESS,  /* a send judged only by cgroup_skb/egress, which
	                     * runs after the route lookup */
};

struct cbpf_leak_target {
	int family;                 /* AF_INET or AF_INET6 */
	uint8_t addr[16];           /* IPv4 in the first 4 bytes */
	char text[48];              /* as given, normalised */
};

struct cbpf_leak_row {
	enum cbpf_leak_route route;
	struct cbpf_leak_target t;  /* family 0: none (a socket-family row) */
	uint16_t port;              /* host order, 0: none */
	uint8_t proto;              /* CBPF_PROTO_TCP/UDP of the other-port row */
	int sock_family;            /* the family of a socket-family row */
	bool dns_forwarded;         /* a DNS row of a policy with a forwarder */
	enum cbpf_leak_outcome outcome;
	bool planned_untested;      /* decided when planned: not attempted */
	char how[192];              /* what the kernel said, or why untested */
};

/* What the plan knows about the policy (filled by the caller). */
struct cbpf_leak_plan_in {
	struct cbpf_leak_target targets[CBPF_LEAK_MAX_TARGETS];
	size_t ntargets;
	uint16_t port;              /* TCP and UDP rows; DNS rows use 53 */
	bool other_port_found;      /* an allowed address with a denied port */
	struct cbpf_leak_target other_addr;
	uint16_t other_port;
	uint8_t other_proto;
	const char *other_why;      /* !other_port_found: why the row is skipped */
	bool loopback_allowed[2];   /* the policy names 127.0.0.1, ::1 on `port` */
	bool nested_cgroup;         /* a cgroup below the probe's is available */
	/* The policy sends DNS to its forwarder (CBPF_POLICY_DNS): a DNS row
	 * asks for a name no policy allows and is blocked when the
	 * forwarder refused it (its dns_name count, or without the counters
	 * its REFUSED answer), never the target. */
	bool dns_forward;
};

/* Parses an IPv4 or IPv6 literal (v4-mapped IPv6 kept as IPv6). Returns 0
 * or -EINVAL. */
int cbpf_leak_parse_target(const char *s, struct cbpf_leak_target *t);

/* The rows for `in`, in display order. Returns the number of rows, or
 * -E2BIG when more than `max` would be needed. */
int cbpf_leak_plan(const struct cbpf_leak_plan_in *in, struct cbpf_leak_row *rows,
		   size_t max);

/* The verdict of one attempt. err: 0 or the errno of the call at `stage`
 * (EINPROGRESS for a TCP connect still under way); answered: a TCP
 * connection was established; counted: -1 when the deny counters cannot be
 * read, else whether the policy counted a denial during the attempt. */
enum cbpf_leak_outcome cbpf_leak_classify(enum cbpf_leak_route route,
					  enum cbpf_leak_stage stage, int err,
					  bool answered, int counted);

/* The verdict of a forwarded DNS row: counted as the other rows; refused:
 * the answer came back REFUSED (the forwarder's own, for the name the row
 * asks, which no policy allows). */
enum cbpf_leak_outcome cbpf_leak_classify_forwarded(int counted, bool refused);

/* Runs every row not planned untested, filling outcome and how. */
struct cbpf_leak_ctx {
	/* The policy's deny counters by reason; NULL when they cannot be read. */
	int (*counts)(void *arg, uint64_t counts[CBPF_REASON__COUNT]);
	void *arg;
	const char *(*reason_name)(unsigned reason);
	/* Absolute path of the cgroup the nested-cgroup rows join. */
	const char *nested_cgroup;
};
void cbpf_leak_run(struct cbpf_leak_row *rows, size_t n, const struct cbpf_leak_ctx *ctx);

/* Fills the other-port row and the loopback flags of `in` from the rules,
 * judged at `now_ns` (CLOCK_BOOTTIME; 0: none has expired) by
 * cbpf_rules_decide: an address a rule allows on one port (exact hosts
 * first, DNS resolvers last, loopback never), with the nearest higher port
 * the rules deny. */
void cbpf_leak_plan_from_rules(const struct cbpf_ruleset *rs, uint64_t now_ns,
			       struct cbpf_leak_plan_in *in);

/* The arguments of `claude-bpf selftest`. */
struct cbpf_leak_args {
	const char *policy;         /* "default" */
	struct cbpf_leak_target targets[CBPF_LEAK_MAX_TARGETS];
	size_t ntargets;            /* 0: the documentation addresses */
	uint16_t port;
	bool json;
	bool help;
};

/* Parses argv (argv[0] the command name). Returns 0, or -EINVAL with a
 * one-line message in msg. */
int cbpf_leak_parse_args(int argc, char **argv, struct cbpf_leak_args *a,
			 char *msg, size_t len);

/* Adds a target given as text; -EINVAL (not an address), -E2BIG. */
int cbpf_leak_add_target(struct cbpf_leak_target *targets, size_t *n, const char *s);

/* The default targets: 192.0.2.1 and 2001:db8::1 (RFC 5737, RFC 3849). */
#define CBPF_LEAK_DEFAULT_TARGETS { "192.0.2.1", "2001:db8::1" }

const char *cbpf_leak_route_name(enum cbpf_leak_route route);
const char *cbpf_leak_outcome_name(enum cbpf_leak_outcome o);

/* Counts rows by outcome (indexed by enum cbpf_leak_outcome). */
void cbpf_leak_tally(const struct cbpf_leak_row *rows, size_t n, size_t tally[3]);

/* "192.0.2.1:443", "[2001:db8::1]:443", "AF_VSOCK" for a socket-family row. */
void cbpf_leak_format_dest(const struct cbpf_leak_row *r, char *out, size_t len);

/* A table, one row per line, and a closing count. */
void cbpf_leak_print_table(FILE *f, const struct cbpf_leak_row *rows, size_t n);
/* The JSON members "results":[...],"blocked":N,"leaked":N,"untested":N
 * (no braces: the caller puts them in its object). */
void cbpf_leak_print_json(FILE *f, const struct cbpf_leak_row *rows, size_t n);

/* The Internet checksum (RFC 1071) of `len` bytes, in network order: for
 * the ICMP echo requests of raw sockets. */
uint16_t cbpf_inet_csum(const void *data, size_t len);

#endif
