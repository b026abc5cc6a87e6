/* The internet policy's rules from the host's state, and the watcher that
 * applies them again when the host's addresses change. The watcher learns
 * of a change from rtnetlink's address groups and then reads the whole
 * state again, so a lost message (ENOBUFS) costs nothing; it also reads it
 * every minute, for resolv.conf, which has no event of its own. */
#include <errno.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include "base/addr.h"
#include "base/log.h"
#include "base/os.h"
#include "core/grants.h"
#include "engine/daemon.h"
#include "engine/internet.h"
#include "engine/policy.h"

#define NS 1000000000ull
#define SETTLE_NS  (200000000ull)   /* a change comes as a burst of messages */
#define RECHECK_NS (60 * NS)        /* resolv.conf has no event */
#define RETRY_NS   (2 * NS)         /* after a busy lock or a failed update */

static int cmp_prefix(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct cbpf_prefix));
}

static int cmp_addr(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

/* An interface address as the policy denies it: IPv4 whole, as v4-mapped;
 * a global IPv6 address as its on-link prefix, at most a /48; any other
 * IPv6 address whole. */
static void own_prefix(const struct sockaddr *addr, const struct sockaddr *mask,
		       struct cbpf_prefix *out)
{
	memset(out, 0, sizeof(*out));
	if (addr->sa_family == AF_INET) {
		cbpf_v4_mapped(out->addr, &((const struct sockaddr_in *)addr)->sin_addr);
		out->len = 128;
		return;
	}
	const uint8_t *a = ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr;
	int len = 0;

	memcpy(out->addr, a, 16);
	out->len = 128;
	if ((a[0] & 0xe0) != 0x20 || !mask)
		return;
	for (int b = 0; b < 16; b++)
		len += __builtin_popcount(((const struct sockaddr_in6 *)mask)->sin6_addr.s6_addr[b]);
	out->len = (uint8_t)(len < 48 ? 48 : len);
}

int cbpf_host_state_read(struct cbpf_host_state *h)
{
	struct ifaddrs *ifa;
	int err = 0;

	memset(h, 0, sizeof(*h));
	if (getifaddrs(&ifa))
		return -errno;
	for (struct ifaddrs *i = ifa; i && !err; i = i->ifa_next) {
		if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET &&
				     i->ifa_addr->sa_family != AF_INET6))
			continue;
		if (h->nown == CBPF_HOST_MAX_ADDRS)
			err = -E2BIG;
		else
			own_prefix(i->ifa_addr, i->ifa_netmask, &h->own[h->nown++]);
	}
	freeifaddrs(ifa);
	h->ndns = cbpf_host_resolvers(h->dns, CBPF_MAX_RESOLVERS);
	qsort(h->own, h->nown, sizeof(h->own[0]), cmp_prefix);
	qsort(h->dns, h->ndns, sizeof(h->dns[0]), cmp_addr);
	return err;
}

int cbpf_internet_ruleset(const struct cbpf_host_state *h, struct cbpf_ruleset *rs)
{
	return cbpf_rules_internet(h->own, h->nown, (const uint8_t (*)[16])h->dns,
				   h->ndns, rs);
}

/* rtnetlink's address messages, IPv4 and IPv6, on a socket that never
 * blocks. */
static int open_address_events(void)
{
	struct sockaddr_nl sa = {
		.nl_family = AF_NETLINK,
		.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
	};
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Reads what is queued: the state is read again whole, so what the
 * messages say does not matter, nor does one lost to ENOBUFS. */
static void drain(int fd)
{
	char buf[8192];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n <= 0 && !(n < 0 && errno == ENOBUFS))
			return;
	}
}

struct watch {
	const char *name, *mount, *cgroup;
	struct cbpf_host_state applied;
	bool failing;
};

/* Applies the rules again if the host changed: 0 when done or nothing
 * changed, else -errno (to try again). */
static int update(struct watch *w, struct cbpf_store *s)
{
	struct cbpf_host_state *h = malloc(sizeof(*h));
	struct cbpf_ruleset rs = {};
	struct cbpf_step step = { CBPF_STEP_OTHER, "read the host's addresses" };
	int err;

	if (!h)
		return -ENOMEM;
	err = cbpf_host_state_read(h);
	if (!err && memcmp(h, &w->applied, sizeof(*h)) == 0)
		goto out;
	if (!err && (err = cbpf_lock_global(100)) == -EBUSY) {
		free(h);
		return err;   /* a load or unload: it may well stop us */
	}
	if (!err) {
		step.what = "build the rules";
		err = cbpf_internet_ruleset(h, &rs);
		if (!err)
			err = cbpf_grants_keep(w->name, cbpf_boottime_ns(), &rs);
		if (!err)
			err = cbpf_policy_apply(s, w->name, w->mount, w->cgroup, &rs, &step);
		cbpf_unlock_global();
	}
	if (err) {
		/* The rules applied before stay: they deny what they denied. */
		if (!w->failing)
			cbpf_error("policy '%s': the host's addresses changed, but cannot %s: "
				   "%s; the rules of before stay, trying again", w->name, step.what,
				   cbpf_policy_strerror(err, &step));
		w->failing = true;
	} else {
		cbpf_info("policy '%s': the host's addresses or resolvers changed: %zu own "
			  "addresses and prefixes denied, %zu resolvers allowed (%zu rules)",
			  w->name, h->nown, h->ndns, rs.n);
		w->applied = *h;
		w->failing = false;
	}
	cbpf_ruleset_free(&rs);
out:
	free(h);
	return err;
}

static int watch_loop(void *ctx, int sfd)
{
	struct watch *w = ctx;
	struct cbpf_store s;
	const char *what;
	uint64_t due = 0;   /* at once: what changed since load read it */
	int nl, err, rc = 1;

	if ((nl = open_address_events()) < 0) {
		cbpf_error("policy '%s': cannot watch the host's addresses: %s", w->name,
			   strerror(-nl));
		return 1;
	}
	if ((err = cbpf_store_open(&s, false, &what))) {
		cbpf_error("policy '%s': cannot %s: %s", w->name, what, strerror(-err));
		close(nl);
		return 1;
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN },
				       { .fd = nl, .events = POLLIN } };
		uint64_t now = cbpf_boottime_ns();
		struct signalfd_siginfo si;

		if (poll(p, 2, due > now ? (int)((due - now) / 1000000) + 1 : 0) < 0 &&
		    errno != EINTR) {
			cbpf_error("policy '%s': poll: %s", w->name, strerror(errno));
			break;
		}
		now = cbpf_boottime_ns();
		if ((p[0].revents & POLLIN) && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo != SIGHUP) {
				rc = 0;   /* enforcement stays; only unload removes it */
				break;
			}
			due = now;
			continue;
		}
		if (p[1].revents & POLLIN) {
			drain(nl);
			if (due > now + SETTLE_NS)
				due = now + SETTLE_NS;
			continue;
		}
		if (now < due)
			continue;
		due = now + (update(w, &s) ? RETRY_NS : RECHECK_NS);
	}
	cbpf_store_close(&s);
	close(nl);
	return rc;
}

int cbpf_internet_watch(const char *name, const char *mount, const char *cgroup,
			const struct cbpf_host_state *applied, bool detach)
{
	struct watch *w = malloc(sizeof(*w));
	int rc;

	if (!w) {
		cbpf_error("policy '%s': out of memory", name);
		return 1;
	}
	*w = (struct watch){ .name = name, .mount = mount, .cgroup = cgroup,
			     .applied = *applied };
	rc = cbpf_daemon_run(name, "address watcher", detach, watch_loop, w);
	free(w);
	return rc;
}
