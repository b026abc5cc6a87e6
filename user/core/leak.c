/* The leak matrix: the plan of escape routes, one attempt per route, the
 * verdict, and the table and JSON they are shown as. See leak.h.
 *
 * How "blocked" is told apart from "failed for another reason":
 *  - The connect and sendmsg hooks run inside connect() and an unconnected
 *    sendto(), before the kernel looks for a route. EPERM there is their
 *    verdict; any other error (ENETUNREACH with no route, EINVAL from a
 *    blackhole route, ECONNREFUSED) means the programs let the attempt pass
 *    and only the network stopped it: that is a leak, wherever it is tried.
 *  - cgroup_skb/egress runs after the route lookup. A UDP or ICMPv4
 *    datagram it drops makes the send fail with EPERM, but an ICMPv6 ping
 *    socket reports success all the same: for echoes a send that succeeded
 *    is judged by the counters (untested without them). A send that fails
 *    with another error never reached egress: untested.
 *  - A TCP SYN dropped at egress leaves connect() waiting without an error:
 *    then the deny counters decide (a denial counted during the attempt).
 *  - EPERM from a kernel where the policy counted nothing came from
 *    something else (a capability, a firewall): not the programs' proof.
 *    Where the counters cannot be read (inside a container) EPERM counts.
 * Sockets of the other families (AF_PACKET, AF_VSOCK, AF_RDS...) reach no
 * cgroup program at all: their rows ask only whether socket() refuses them,
 * whatever the type, as the system-call filter of run and exec does. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/capability.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "base/addr.h"
#include "base/json.h"
#include "core/cgroup.h"
#include "core/config.h"
#include "core/families.h"
#include "core/leak.h"

#define ANSWER_WAIT_MS 300
#define DNS_WAIT_MS    2000   /* a forwarder's answer */

static const char *const route_names[CBPF_LEAK__COUNT] = {
	[CBPF_LEAK_TCP] = "tcp",
	[CBPF_LEAK_TCP_V4MAPPED] = "tcp-v4mapped",
	[CBPF_LEAK_UDP_SENDTO] = "udp-sendto",
	[CBPF_LEAK_UDP_CONNECT] = "udp-connect",
	[CBPF_LEAK_TCP_FASTOPEN] = "tcp-fastopen",
	[CBPF_LEAK_RAW] = "raw",
	[CBPF_LEAK_PING] = "ping",
	[CBPF_LEAK_FAMILY] = "socket-family",
	[CBPF_LEAK_DNS_UDP] = "dns-udp",
	[CBPF_LEAK_DNS_TCP] = "dns-tcp",
	[CBPF_LEAK_OTHER_PORT] = "allowed-addr-other-port",
	[CBPF_LEAK_NETNS_TCP] = "new-netns-tcp",
	[CBPF_LEAK_NETNS_UDP] = "new-netns-udp",
	[CBPF_LEAK_CGROUP_TCP] = "nested-cgroup-tcp",
	[CBPF_LEAK_LOOPBACK_TCP] = "host-loopback-tcp",
};

const char *cbpf_leak_route_name(enum cbpf_leak_route route)
{
	return (unsigned)route < CBPF_LEAK__COUNT ? route_names[route] : "?";
}

const char *cbpf_leak_outcome_name(enum cbpf_leak_outcome o)
{
	return o == CBPF_LEAK_BLOCKED ? "blocked" : o == CBPF_LEAK_LEAKED ? "LEAKED" :
	       "untested";
}

int cbpf_leak_parse_target(const char *s, struct cbpf_leak_target *t)
{
	memset(t, 0, sizeof(*t));
	if (inet_pton(AF_INET, s, t->addr) == 1)
		t->family = AF_INET;
	else if (inet_pton(AF_INET6, s, t->addr) == 1)
		t->family = AF_INET6;
	else
		return -EINVAL;
	inet_ntop(t->family, t->addr, t->text, sizeof(t->text));
	return 0;
}

/* ---------------------------------------------------------------- rules */

static bool is_loopback(const uint8_t a[16])
{
	static const uint8_t zero[15];

	return (cbpf_is_v4_mapped(a) &&
		(a[12] == 127 || (!a[12] && !a[13] && !a[14] && !a[15]))) ||
	       (!memcmp(a, zero, 15) && a[15] <= 1);
}

static void mapped_target(const uint8_t addr[16], struct cbpf_leak_target *t)
{
	memset(t, 0, sizeof(*t));
	if (cbpf_is_v4_mapped(addr)) {
		t->family = AF_INET;
		memcpy(t->addr, addr + 12, 4);
	} else {
		t->family = AF_INET6;
		memcpy(t->addr, addr, 16);
	}
	inet_ntop(t->family, t->addr, t->text, sizeof(t->text));
}

void cbpf_leak_plan_from_rules(const struct cbpf_ruleset *rs, uint64_t now_ns,
			       struct cbpf_leak_plan_in *in)
{
	static const uint8_t lo4[16] = { [10] = 0xff, [11] = 0xff, [12] = 127, [15] = 1 };
	static const uint8_t lo6[16] = { [15] = 1 };
	uint8_t prefix;

	in->other_port_found = false;
	in->other_why = "no rule of the policy allows an address on one port only";
	/* Pass 0: exact hosts on ports other than 53; 1: any prefix; 2: DNS. */
	for (int pass = 0; pass < 3 && !in->other_port_found; pass++) {
		for (size_t i = 0; i < rs->n && !in->other_port_found; i++) {
			const struct cbpf_rule_entry *e = &rs->v[i];
			uint16_t port = ntohs(e->key.port);

			if (e->val.action != CBPF_ACTION_ALLOW || !port ||
			    (e->key.proto != CBPF_PROTO_TCP && e->key.proto != CBPF_PROTO_UDP) ||
			    (pass == 0 && cbpf_key_addr_prefix(&e->key) != 128) ||
			    (pass < 2 && port == 53))
				continue;
			if (is_loopback(e->key.addr))
				continue;   /* the loopback rows try those */
			if (!cbpf_rules_decide(rs, e->key.addr, e->key.proto, port, now_ns, &prefix))
				continue;   /* a deny inside: not an allowed address */
			for (uint32_t p = (uint32_t)port + 1; p <= 65535 && p <= (uint32_t)port + 64; p++) {
				if (cbpf_rules_decide(rs, e->key.addr, e->key.proto, (uint16_t)p,
						      now_ns, &prefix))
					continue;
				in->other_port_found = true;
				mapped_target(e->key.addr, &in->other_addr);
				in->other_port = (uint16_t)p;
				in->other_proto = e->key.proto;
				break;
			}
		}
	}
	/* The host's loopback is allowed only to a rule for the exact address. */
	in->loopback_allowed[0] = cbpf_rules_decide(rs, lo4, CBPF_PROTO_TCP, in->port, now_ns,
						    &prefix) && prefix == 128;
	in->loopback_allowed[1] = cbpf_rules_decide(rs, lo6, CBPF_PROTO_TCP, in->port, now_ns,
						    &prefix) && prefix == 128;
}

/* ---------------------------------------------------------------- arguments */

int cbpf_leak_add_target(struct cbpf_leak_target *targets, size_t *n, const char *s)
{
	if (*n >= CBPF_LEAK_MAX_TARGETS)
		return -E2BIG;
	if (cbpf_leak_parse_target(s, &targets[*n]))
		return -EINVAL;
	(*n)++;
	return 0;
}

int cbpf_leak_parse_args(int argc, char **argv, struct cbpf_leak_args *a,
			 char *msg, size_t len)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "target", required_argument, NULL, 't' },
		{ "port", required_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	unsigned long port;
	char *end;
	int c, err;

	memset(a, 0, sizeof(*a));
	a->policy = "default";
	a->port = CBPF_LEAK_DEFAULT_PORT;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+p:t:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			a->policy = optarg;
			break;
		case 't':
			err = cbpf_leak_add_target(a->targets, &a->ntargets, optarg);
			if (err == -E2BIG) {
				snprintf(msg, len, "more than %d targets", CBPF_LEAK_MAX_TARGETS);
				return -EINVAL;
			}
			if (err) {
				snprintf(msg, len, "invalid target '%s': an IPv4 or IPv6 address",
					 optarg);
				return -EINVAL;
			}
			break;
		case 'P':
			errno = 0;
			port = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || port < 1 || port > 65535 ||
			    optarg[0] == '-' || optarg[0] == '+') {
				snprintf(msg, len, "invalid --port '%s': 1..65535", optarg);
				return -EINVAL;
			}
			a->port = (uint16_t)port;
			break;
		case 'j':
			a->json = true;
			break;
		case 'h':
			a->help = true;
			return 0;
		default:
			snprintf(msg, len, "invalid option '%s'", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		snprintf(msg, len, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* ---------------------------------------------------------------- plan */

struct planner {
	struct cbpf_leak_row *rows;
	size_t n, max;
	bool full;
};

static struct cbpf_leak_row *add_row(struct planner *p, enum cbpf_leak_route route,
				     const struct cbpf_leak_target *t, uint16_t port)
{
	struct cbpf_leak_row *r;

	if (p->n >= p->max) {
		p->full = true;
		return NULL;
	}
	r = &p->rows[p->n++];
	memset(r, 0, sizeof(*r));
	r->route = route;
	if (t)
		r->t = *t;
	r->port = port;
	r->proto = CBPF_PROTO_TCP;
	return r;
}

static void untested(struct cbpf_leak_row *r, const char *why)
{
	if (!r)
		return;
	r->planned_untested = true;
	r->outcome = CBPF_LEAK_UNTESTED;
	snprintf(r->how, sizeof(r->how), "%s", why);
}

int cbpf_leak_plan(const struct cbpf_leak_plan_in *in, struct cbpf_leak_row *rows,
		   size_t max)
{
	static const enum cbpf_leak_route per_target[] = {
		CBPF_LEAK_TCP, CBPF_LEAK_TCP_V4MAPPED, CBPF_LEAK_UDP_SENDTO,
		CBPF_LEAK_UDP_CONNECT, CBPF_LEAK_TCP_FASTOPEN, CBPF_LEAK_RAW,
		CBPF_LEAK_PING, CBPF_LEAK_DNS_UDP, CBPF_LEAK_DNS_TCP,
		CBPF_LEAK_NETNS_TCP, CBPF_LEAK_NETNS_UDP, CBPF_LEAK_CGROUP_TCP,
	};
	struct planner p = { .rows = rows, .max = max };
	struct cbpf_leak_target lo[2];
	struct cbpf_leak_row *r;

	for (size_t i = 0; i < sizeof(per_target) / sizeof(per_target[0]); i++) {
		enum cbpf_leak_route route = per_target[i];

		for (size_t t = 0; t < in->ntargets; t++) {
			const struct cbpf_leak_target *tg = &in->targets[t];
			uint16_t port = route == CBPF_LEAK_DNS_UDP || route == CBPF_LEAK_DNS_TCP ?
					53 : route == CBPF_LEAK_RAW || route == CBPF_LEAK_PING ?
					0 : in->port;

			if (route == CBPF_LEAK_TCP_V4MAPPED) {
				struct cbpf_leak_target m = { .family = AF_INET6 };

				if (tg->family != AF_INET)
					continue;
				cbpf_v4_mapped(m.addr, tg->addr);
				inet_ntop(AF_INET6, m.addr, m.text, sizeof(m.text));
				add_row(&p, route, &m, port);
				continue;
			}
			r = add_row(&p, route, tg, port);
			if (r && port == 53)
				r->dns_forwarded = in->dns_forward;
			if (r && route == CBPF_LEAK_CGROUP_TCP && !in->nested_cgroup)
				untested(r, "no cgroup below the probe's to join");
		}
		/* Once, after the per-target rows of the same kind: every
		 * family the sandbox may not open (AF_UNSPEC is no family). */
		if (route == CBPF_LEAK_PING)
			for (int f = 1; f < CBPF_FAMILY_LIMIT; f++)
				if (!cbpf_family_allowed(f) &&
				    (r = add_row(&p, CBPF_LEAK_FAMILY, NULL, 0)))
					r->sock_family = f;
		if (route == CBPF_LEAK_DNS_TCP) {
			if (in->other_port_found) {
				r = add_row(&p, CBPF_LEAK_OTHER_PORT, &in->other_addr,
					    in->other_port);
				if (r)
					r->proto = in->other_proto;
			} else {
				untested(add_row(&p, CBPF_LEAK_OTHER_PORT, NULL, 0),
					 in->other_why ? in->other_why :
					 "no rule of the policy names a port");
			}
		}
	}
	cbpf_leak_parse_target("127.0.0.1", &lo[0]);
	cbpf_leak_parse_target("::1", &lo[1]);
	for (int i = 0; i < 2; i++) {
		r = add_row(&p, CBPF_LEAK_LOOPBACK_TCP, &lo[i], in->port);
		if (r && in->loopback_allowed[i])
			untested(r, "the policy names this address and port: allowed on purpose");
	}
	return p.full ? -E2BIG : (int)p.n;
}

/* ---------------------------------------------------------------- verdict */

enum cbpf_leak_outcome cbpf_leak_classify(enum cbpf_leak_route route,
					  enum cbpf_leak_stage stage, int err,
					  bool answered, int counted)
{
	/* Refused, by the filter or by a kernel without the family: no
	 * socket, no route. */
	if (route == CBPF_LEAK_FAMILY)
		return err ? CBPF_LEAK_BLOCKED : CBPF_LEAK_LEAKED;
	/* Established, or refused by the far end: the SYN left. */
	if (stage == CBPF_STAGE_HOOK && answered)
		return CBPF_LEAK_LEAKED;
	if (err == EPERM)
		return counted ? CBPF_LEAK_BLOCKED : CBPF_LEAK_UNTESTED;
	switch (stage) {
	case CBPF_STAGE_SOCKET:
		/* No socket of that kind here (IPv6 off, ping sockets not
		 * allowed for the group): nothing to judge. */
		return CBPF_LEAK_UNTESTED;
	case CBPF_STAGE_HOOK:
		/* Refused before any hook runs. */
		if (err == EOPNOTSUPP || err == EAFNOSUPPORT || err == EPROTONOSUPPORT)
			return CBPF_LEAK_UNTESTED;
		/* A SYN under way: dropped at egress, or unanswered. */
		if (err == EINPROGRESS && counted > 0)
			return CBPF_LEAK_BLOCKED;
		return CBPF_LEAK_LEAKED;
	case CBPF_STAGE_EGRESS:
		if (err)
			return CBPF_LEAK_UNTESTED;
		/* A UDP send reports an egress drop (EPERM); an ICMPv6 ping
		 * socket reports success whatever egress did: for echoes the
		 * counters decide, and without them nothing here can. */
		if (route != CBPF_LEAK_PING && route != CBPF_LEAK_RAW)
			return CBPF_LEAK_LEAKED;
		return counted > 0 ? CBPF_LEAK_BLOCKED : counted == 0 ? CBPF_LEAK_LEAKED :
		       CBPF_LEAK_UNTESTED;
	}
	return CBPF_LEAK_UNTESTED;
}

enum cbpf_leak_outcome cbpf_leak_classify_forwarded(int counted, bool refused)
{
	/* The dns_name count of the forwarder's refusal: it went there. The
	 * target would have had to answer REFUSED for the same name to pass
	 * for it without the counters. */
	if (counted >= 0)
		return counted ? CBPF_LEAK_BLOCKED : CBPF_LEAK_LEAKED;
	return refused ? CBPF_LEAK_BLOCKED : CBPF_LEAK_LEAKED;
}

/* ---------------------------------------------------------------- attempts */

struct attempt {
	const struct cbpf_leak_ctx *ctx;
	uint64_t before[CBPF_REASON__COUNT];
	bool have_counts;
};

static void attempt_begin(struct attempt *a, const struct cbpf_leak_ctx *ctx)
{
	a->ctx = ctx;
	a->have_counts = ctx->counts && ctx->counts(ctx->arg, a->before) == 0;
}

/* -1: not known; else whether a denial was counted since attempt_begin,
 * with the reason that grew most. */
static int attempt_counted(struct attempt *a, const char **reason)
{
	uint64_t after[CBPF_REASON__COUNT], best = 0;

	*reason = NULL;
	if (!a->have_counts || a->ctx->counts(a->ctx->arg, after))
		return -1;
	for (unsigned i = 0; i < CBPF_REASON__COUNT; i++)
		if (after[i] > a->before[i] && after[i] - a->before[i] > best) {
			best = after[i] - a->before[i];
			*reason = a->ctx->reason_name ? a->ctx->reason_name(i) : NULL;
		}
	return best > 0;
}

static const char *err_name(int err)
{
	const char *n = err ? strerrorname_np(err) : "ok";

	return n ? n : "unknown errno";
}

/* Records the verdict of an attempt and a short account of it. */
static void verdict(struct cbpf_leak_row *r, struct attempt *a, const char *call,
		    enum cbpf_leak_stage stage, int err, bool answered)
{
	const char *reason, *note = "";
	int counted = attempt_counted(a, &reason);

	r->outcome = cbpf_leak_classify(r->route, stage, err, answered, counted);
	switch (r->outcome) {
	case CBPF_LEAK_BLOCKED:
		if (r->route == CBPF_LEAK_FAMILY)
			note = " (refused at socket(): no cgroup program would see it)";
		else if (err == EINPROGRESS || err == 0)
			note = " (dropped at egress)";
		break;
	case CBPF_LEAK_LEAKED:
		note = answered ? " (allowed, and answered)" : err == 0 ? " (allowed)" :
		       err == EINPROGRESS ? " (allowed; the SYN left)" :
		       " (allowed by the programs; only the network stopped it)";
		break;
	case CBPF_LEAK_UNTESTED:
		note = err == EPERM ? " (but claude-bpf counted no denial: refused by something else)" :
		       r->route == CBPF_LEAK_PING && stage == CBPF_STAGE_SOCKET && err == EACCES ?
		       " (ping sockets not allowed: net.ipv4.ping_group_range)" :
		       stage == CBPF_STAGE_EGRESS && err == 0 ?
		       " (sent; whether egress dropped it cannot be seen here)" :
		       stage == CBPF_STAGE_EGRESS ? " (refused before the egress program saw it)" :
		       " (no such socket here)";
		break;
	}
	if (r->outcome == CBPF_LEAK_BLOCKED && reason)
		snprintf(r->how, sizeof(r->how), "%s: %s (%s)%s", call, err_name(err), reason, note);
	else
		snprintf(r->how, sizeof(r->how), "%s: %s%s", call, err_name(err), note);
}

static socklen_t to_sockaddr(const struct cbpf_leak_target *t, uint16_t port,
			     struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (t->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, t->addr, 4);
		return sizeof(*s4);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(port);
	memcpy(&s6->sin6_addr, t->addr, 16);
	return sizeof(*s6);
}

/* A socket; on failure the row gets its verdict and -1 is returned. */
static int open_sock(struct cbpf_leak_row *r, struct attempt *a, int family,
		     int type, int proto)
{
	int fd = socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, proto);

	if (fd < 0)
		verdict(r, a, "socket", CBPF_STAGE_SOCKET, errno, false);
	return fd;
}

/* After a connect under way: waits a moment for an answer (established or
 * refused) and sends the marker payload when established. */
static bool wait_answer(int fd, int *err)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(*err);
	int so = 0;

	if (poll(&pfd, 1, ANSWER_WAIT_MS) <= 0)
		return false;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &len) == 0)
		*err = so;
	if (so == 0 && send(fd, CBPF_LEAK_PAYLOAD "\n", sizeof(CBPF_LEAK_PAYLOAD),
			    MSG_NOSIGNAL) < 0)
		*err = errno;
	return true;
}

/* A connect under way: true once it is done, *err its result. */
static bool wait_connected(int fd, int *err)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(*err);

	if (poll(&pfd, 1, ANSWER_WAIT_MS) <= 0)
		return false;
	return getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &len) == 0;
}

static void try_tcp(struct cbpf_leak_row *r, struct attempt *a, bool fastopen)
{
	struct sockaddr_storage ss;
	socklen_t len = to_sockaddr(&r->t, r->port, &ss);
	bool answered = false;
	int fd, err = 0;

	if ((fd = open_sock(r, a, r->t.family, SOCK_STREAM, 0)) < 0)
		return;
	if (fastopen) {
		if (sendto(fd, CBPF_LEAK_PAYLOAD "\n", sizeof(CBPF_LEAK_PAYLOAD),
			   MSG_FASTOPEN | MSG_NOSIGNAL, (struct sockaddr *)&ss, len) < 0)
			err = errno;
		else
			err = EINPROGRESS;  /* data in the SYN; the handshake goes on */
	} else if (connect(fd, (struct sockaddr *)&ss, len)) {
		err = errno;
	} else {
		answered = true;        /* connected at once (loopback) */
	}
	if (err == EINPROGRESS)
		answered = wait_answer(fd, &err);
	else if (answered)
		wait_answer(fd, &err);
	verdict(r, a, fastopen ? "sendto(MSG_FASTOPEN)" : "connect", CBPF_STAGE_HOOK,
		err, answered);
	close(fd);
}

/* A DNS query for an A record of a name under .invalid. */
static size_t dns_query(uint8_t *q)
{
	static const uint8_t name[] = "\x13" CBPF_LEAK_PAYLOAD "\x07" "invalid";
	size_t n = 12;

	memset(q, 0, 12);
	q[0] = 0x5e;
	q[1] = 0x1f;
	q[2] = 0x01;                /* recursion desired */
	q[5] = 1;                   /* one question */
	memcpy(q + n, name, sizeof(name));  /* the final NUL ends the name */
	n += sizeof(name);
	q[n++] = 0;
	q[n++] = 1;                 /* A */
	q[n++] = 0;
	q[n++] = 1;                 /* IN */
	return n;
}

static void try_udp(struct cbpf_leak_row *r, struct attempt *a, bool connected)
{
	struct sockaddr_storage ss;
	socklen_t len = to_sockaddr(&r->t, r->port, &ss);
	uint8_t buf[64];
	size_t n = sizeof(CBPF_LEAK_PAYLOAD);
	int fd;

	memcpy(buf, CBPF_LEAK_PAYLOAD "\n", n);
	if (r->route == CBPF_LEAK_DNS_UDP)
		n = dns_query(buf);
	if ((fd = open_sock(r, a, r->t.family, SOCK_DGRAM, 0)) < 0)
		return;
	if (connected) {
		if (connect(fd, (struct sockaddr *)&ss, len)) {
			verdict(r, a, "connect", CBPF_STAGE_HOOK, errno, false);
		} else {
			int err = send(fd, buf, n, 0) < 0 ? errno : 0;

			verdict(r, a, "connect: ok; send", CBPF_STAGE_EGRESS, err, false);
		}
	} else {
		int err = sendto(fd, buf, n, 0, (struct sockaddr *)&ss, len) < 0 ? errno : 0;

		verdict(r, a, "sendto", CBPF_STAGE_HOOK, err, err == 0);
	}
	close(fd);
}

/* A DNS row of a policy with a forwarder: the query is sent (over TCP with
 * its length first), and its answer waited for. */
static void try_dns_forwarded(struct cbpf_leak_row *r, struct attempt *a, bool tcp)
{
	struct sockaddr_storage ss;
	socklen_t len = to_sockaddr(&r->t, r->port, &ss);
	uint8_t q[2 + 64], ans[512];
	size_t n = dns_query(q + 2);
	struct pollfd pfd = { .events = POLLIN };
	const char *reason, *call = tcp ? "connect, query" : "sendto";
	bool refused = false;
	ssize_t got = -1;
	int fd, err = 0, counted;

	q[0] = (uint8_t)(n >> 8);
	q[1] = (uint8_t)n;
	if ((fd = open_sock(r, a, r->t.family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0)) < 0)
		return;
	pfd.fd = fd;
	if (tcp) {
		if (connect(fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS)
			err = errno;
		else if (!wait_connected(fd, &err))
			err = ETIMEDOUT;
		if (!err && send(fd, q, n + 2, MSG_NOSIGNAL) < 0)
			err = errno;
	} else if (sendto(fd, q + 2, n, 0, (struct sockaddr *)&ss, len) < 0) {
		err = errno;
	}
	if (!err && poll(&pfd, 1, DNS_WAIT_MS) > 0)
		got = recv(fd, ans, sizeof(ans), 0);
	if (tcp && got >= 2) {              /* the length first */
		memmove(ans, ans + 2, (size_t)got - 2);
		got -= 2;
	}
	/* Its id, an answer, REFUSED. */
	refused = got >= 12 && ans[0] == q[2] && ans[1] == q[3] && (ans[2] & 0x80) &&
		  (ans[3] & 0x0f) == 5;
	close(fd);
	counted = attempt_counted(a, &reason);
	/* Refused outright (no forwarder for the socket's family there): a
	 * denial like any other. */
	r->outcome = err == EPERM ? (counted ? CBPF_LEAK_BLOCKED : CBPF_LEAK_UNTESTED) :
		     cbpf_leak_classify_forwarded(counted, refused);
	snprintf(r->how, sizeof(r->how), "%s: %s; %s%s%s%s", call, err_name(err),
		 refused ? "REFUSED by the policy's forwarder" :
		 got >= 0 ? "answered, not by the forwarder" : "no answer",
		 reason ? " (" : "", reason ? reason : "", reason ? ")" : "");
}

uint16_t cbpf_inet_csum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (len)
		sum += (uint32_t)(p[0] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* One echo request through a raw socket or a ping socket. */
static void try_echo(struct cbpf_leak_row *r, struct attempt *a, bool raw)
{
	bool v4 = r->t.family == AF_INET;
	struct sockaddr_storage ss;
	socklen_t len = to_sockaddr(&r->t, 0, &ss);
	uint8_t req[8 + sizeof(CBPF_LEAK_PAYLOAD)] = { v4 ? 8 : 128 };
	int fd, err;

	memcpy(req + 8, CBPF_LEAK_PAYLOAD, sizeof(CBPF_LEAK_PAYLOAD));
	req[5] = 1;                 /* identifier; the kernel sets it for ping sockets */
	req[7] = 1;                 /* sequence */
	if (v4 && raw) {
		uint16_t sum = cbpf_inet_csum(req, sizeof(req));

		memcpy(req + 2, &sum, 2);
	}
	fd = open_sock(r, a, r->t.family, raw ? SOCK_RAW : SOCK_DGRAM,
		       v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
	if (fd < 0)
		return;
	err = sendto(fd, req, sizeof(req), 0, (struct sockaddr *)&ss, len) < 0 ? errno : 0;
	verdict(r, a, "socket: ok; sendto", CBPF_STAGE_EGRESS, err, false);
	close(fd);
}

/* socket() of the row's family, of every type: one that is made leaks. */
static void try_family(struct cbpf_leak_row *r, struct attempt *a)
{
	static const struct { int type; const char *name; } types[] = {
		{ SOCK_STREAM, "SOCK_STREAM" }, { SOCK_DGRAM, "SOCK_DGRAM" },
		{ SOCK_SEQPACKET, "SOCK_SEQPACKET" }, { SOCK_RAW, "SOCK_RAW" },
	};
	const char *name = cbpf_family_name(r->sock_family);
	char call[64];
	int first = 0;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		int fd = socket(r->sock_family, types[i].type | SOCK_CLOEXEC, 0);

		if (fd >= 0) {
			close(fd);
			snprintf(call, sizeof(call), "socket(%s, %s)", name, types[i].name);
			verdict(r, a, call, CBPF_STAGE_SOCKET, 0, false);
			return;
		}
		/* The family's own answer before "not that type". */
		if (!first || (first == ESOCKTNOSUPPORT || first == EPROTONOSUPPORT ||
			       first == EPROTOTYPE || first == EINVAL))
			first = errno;
	}
	snprintf(call, sizeof(call), "socket(%s), every type", name);
	verdict(r, a, call, CBPF_STAGE_SOCKET, first, false);
}

static void attempt(struct cbpf_leak_row *r, const struct cbpf_leak_ctx *ctx)
{
	struct attempt a;

	attempt_begin(&a, ctx);
	switch (r->route) {
	case CBPF_LEAK_DNS_TCP:
	case CBPF_LEAK_DNS_UDP:
		if (r->dns_forwarded) {
			try_dns_forwarded(r, &a, r->route == CBPF_LEAK_DNS_TCP);
			break;
		}
		if (r->route == CBPF_LEAK_DNS_UDP)
			try_udp(r, &a, false);
		else
			try_tcp(r, &a, false);
		break;
	case CBPF_LEAK_TCP:
	case CBPF_LEAK_TCP_V4MAPPED:
	case CBPF_LEAK_NETNS_TCP:
	case CBPF_LEAK_CGROUP_TCP:
	case CBPF_LEAK_LOOPBACK_TCP:
		try_tcp(r, &a, false);
		break;
	case CBPF_LEAK_OTHER_PORT:
		if (r->proto == CBPF_PROTO_UDP)
			try_udp(r, &a, false);
		else
			try_tcp(r, &a, false);
		break;
	case CBPF_LEAK_TCP_FASTOPEN:
		try_tcp(r, &a, true);
		break;
	case CBPF_LEAK_UDP_SENDTO:
	case CBPF_LEAK_NETNS_UDP:
		try_udp(r, &a, false);
		break;
	case CBPF_LEAK_UDP_CONNECT:
		try_udp(r, &a, true);
		break;
	case CBPF_LEAK_RAW:
		try_echo(r, &a, true);
		break;
	case CBPF_LEAK_PING:
		try_echo(r, &a, false);
		break;
	case CBPF_LEAK_FAMILY:
		try_family(r, &a);
		break;
	case CBPF_LEAK__COUNT:
		break;
	}
}

/* Where a row must be tried. */
enum where { HERE, NEW_NETNS, NESTED_CGROUP, N_WHERE };

static enum where where_of(enum cbpf_leak_route route)
{
	return route == CBPF_LEAK_NETNS_TCP || route == CBPF_LEAK_NETNS_UDP ? NEW_NETNS :
	       route == CBPF_LEAK_CGROUP_TCP ? NESTED_CGROUP : HERE;
}

/* Prepares this (forked) process for rows of `w`; 0 or -errno with *what. */
static int enter(enum where w, const struct cbpf_leak_ctx *ctx, const char **what)
{
	switch (w) {
	case NEW_NETNS:
		/* A namespace made after enforcement began holds only a
		 * loopback that is down. Its sockets stay in our cgroup, and
		 * the hooks run before the (missing) route: EPERM is the
		 * programs' verdict, ENETUNREACH would be a leak. Its own
		 * loopback is allowed by design (it is not the host's) and
		 * reaches nothing outside, so it is no row. Without
		 * CAP_SYS_ADMIN (a container) a user namespace may still
		 * give one: tried second, as an agent would. */
		*what = "cannot make a network namespace";
		if (unshare(CLONE_NEWNET) == 0 || unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0)
			return 0;
		return -errno;
	case NESTED_CGROUP:
		*what = "cannot join the nested cgroup";
		return ctx->nested_cgroup ? cbpf_cgroup_join(ctx->nested_cgroup, 0) : -ENOENT;
	default:
		return 0;
	}
}

static void run_where(struct cbpf_leak_row *rows, size_t n, enum where w,
		      const struct cbpf_leak_ctx *ctx)
{
	for (size_t i = 0; i < n; i++)
		if (!rows[i].planned_untested && where_of(rows[i].route) == w)
			attempt(&rows[i], ctx);
}

static void mark_untested(struct cbpf_leak_row *rows, size_t n, enum where w,
			  const char *what, int err)
{
	for (size_t i = 0; i < n; i++)
		if (!rows[i].planned_untested && where_of(rows[i].route) == w) {
			rows[i].outcome = CBPF_LEAK_UNTESTED;
			snprintf(rows[i].how, sizeof(rows[i].how), "%s: %s", what,
				 err_name(-err));
		}
}

void cbpf_leak_run(struct cbpf_leak_row *rows, size_t n, const struct cbpf_leak_ctx *ctx)
{
	/* Rows tried in forked processes write their verdicts here. */
	struct cbpf_leak_row *shared = mmap(NULL, n * sizeof(*rows) + 1, PROT_READ | PROT_WRITE,
					    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (shared == MAP_FAILED) {
		mark_untested(rows, n, NEW_NETNS, "cannot map shared memory", -errno);
		mark_untested(rows, n, NESTED_CGROUP, "cannot map shared memory", -errno);
		run_where(rows, n, HERE, ctx);
		return;
	}
	memcpy(shared, rows, n * sizeof(*rows));
	run_where(shared, n, HERE, ctx);
	for (enum where w = NEW_NETNS; w < N_WHERE; w++) {
		bool any = false;
		int status;
		pid_t pid;

		for (size_t i = 0; i < n; i++)
			any |= !shared[i].planned_untested && where_of(shared[i].route) == w;
		if (!any)
			continue;
		fflush(NULL);
		pid = fork();
		if (pid < 0) {
			mark_untested(shared, n, w, "cannot fork", -errno);
			continue;
		}
		if (pid == 0) {
			const char *what = "";
			int err = enter(w, ctx, &what);

			if (err)
				mark_untested(shared, n, w, what, err);
			else
				run_where(shared, n, w, ctx);
			_exit(0);
		}
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	memcpy(rows, shared, n * sizeof(*rows));
	munmap(shared, n * sizeof(*rows) + 1);
}

/* ---------------------------------------------------------------- output */

void cbpf_leak_tally(const struct cbpf_leak_row *rows, size_t n, size_t tally[3])
{
	tally[0] = tally[1] = tally[2] = 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned)rows[i].outcome < 3)
			tally[rows[i].outcome]++;
}

void cbpf_leak_format_dest(const struct cbpf_leak_row *r, char *out, size_t len)
{
	if (r->route == CBPF_LEAK_FAMILY)
		snprintf(out, len, "%s", cbpf_family_name(r->sock_family));
	else if (!r->t.family)
		snprintf(out, len, "-");
	else if (!r->port)
		snprintf(out, len, "%s", r->t.text);
	else if (r->t.family == AF_INET6)
		snprintf(out, len, "[%s]:%u", r->t.text, r->port);
	else
		snprintf(out, len, "%s:%u", r->t.text, r->port);
}

void cbpf_leak_print_table(FILE *f, const struct cbpf_leak_row *rows, size_t n)
{
	size_t tally[3];
	char dest[80];

	fprintf(f, "%-24s %-30s %-8s %s\n", "ROUTE", "DESTINATION", "RESULT", "HOW");
	for (size_t i = 0; i < n; i++) {
		const struct cbpf_leak_row *r = &rows[i];

		cbpf_leak_format_dest(r, dest, sizeof(dest));
		fprintf(f, "%-24s %-30s %-8s %s\n", cbpf_leak_route_name(r->route),
			dest, cbpf_leak_outcome_name(r->outcome), r->how);
	}
	cbpf_leak_tally(rows, n, tally);
	fprintf(f, "%zu blocked, %zu LEAKED, %zu untested\n", tally[CBPF_LEAK_BLOCKED],
		tally[CBPF_LEAK_LEAKED], tally[CBPF_LEAK_UNTESTED]);
}

/* Every string here is ours (names, addresses, errno names): escaping
 * quotes, backslashes and control characters is all JSON asks. */
void cbpf_leak_print_json(FILE *f, const struct cbpf_leak_row *rows, size_t n)
{
	size_t tally[3];

	fputs("\"results\":[", f);
	for (size_t i = 0; i < n; i++) {
		const struct cbpf_leak_row *r = &rows[i];

		fprintf(f, "%s{\"route\":", i ? "," : "");
		cbpf_json_string(f, cbpf_leak_route_name(r->route));
		fputs(",\"address\":", f);
		if (r->t.family)
			cbpf_json_string(f, r->t.text);
		else
			fputs("null", f);
		fprintf(f, ",\"port\":%u,\"proto\":\"%s\",\"result\":", r->port,
			r->route == CBPF_LEAK_RAW || r->route == CBPF_LEAK_PING ?
			(r->t.family == AF_INET6 ? "icmpv6" : "icmp") :
			r->route == CBPF_LEAK_FAMILY ? cbpf_family_name(r->sock_family) :
			r->route == CBPF_LEAK_UDP_SENDTO || r->route == CBPF_LEAK_UDP_CONNECT ||
			r->route == CBPF_LEAK_DNS_UDP || r->route == CBPF_LEAK_NETNS_UDP ||
			(r->route == CBPF_LEAK_OTHER_PORT && r->proto == CBPF_PROTO_UDP) ?
			"udp" : "tcp");
		cbpf_json_string(f, r->outcome == CBPF_LEAK_LEAKED ? "leaked" :
			 cbpf_leak_outcome_name(r->outcome));
		fputs(",\"how\":", f);
		cbpf_json_string(f, r->how);
		fputc('}', f);
	}
	cbpf_leak_tally(rows, n, tally);
	fprintf(f, "],\"blocked\":%zu,\"leaked\":%zu,\"untested\":%zu", tally[CBPF_LEAK_BLOCKED],
		tally[CBPF_LEAK_LEAKED], tally[CBPF_LEAK_UNTESTED]);
}
