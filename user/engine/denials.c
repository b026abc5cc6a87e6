/* The denials in the pinned ring buffer as they happen, each resolved to
 * its policy, the container or cgroup below it, and the host the address
 * belonged to (denials.h). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "base/addr.h"
#include "base/log.h"
#include "base/os.h"
#include "base/names.h"
#include "core/cgroup.h"
#include "engine/denials.h"
#include "engine/store.h"

#define NS_PER_SEC   1000000000ull
#define TICK_MS      1000               /* new policies, a replaced object */
#define GONE_KEEP_NS (60 * NS_PER_SEC)  /* removed cgroups stay nameable */
#define RESCAN_NS    NS_PER_SEC         /* hostnames re-read at most this often */
#define STOP         (-ECANCELED)       /* from the sample callback: fn said stop */

/* An address of a policy's hostname rules, and that host. */
struct host_addr {
	uint8_t addr[16];
	char *name;
	bool fresh;                 /* from the scan being merged */
};

struct pol {
	uint64_t cg;                /* enforcement cgroup id */
	char name[CBPF_NAME_MAX];
	char *dir;                  /* enforcement cgroup, absolute */
	bool tracked;               /* matches NAME: its cgroups are followed */
	struct host_addr *hosts;    /* sorted by address */
	size_t nhosts, hosts_cap;
	uint64_t hosts_at;          /* CLOCK_MONOTONIC of the last scan, 0: none */
	uint32_t hosts_ruleset;     /* rule set id of that scan */
};

/* A cgroup below an enforcement cgroup. Removed ones are kept a while: an
 * event may arrive after `exec` has already removed its cgroup. */
struct cg_entry {
	uint64_t id;
	size_t pol;
	char *rel;                  /* relative to the enforcement cgroup, "." itself */
	uint64_t gone_at;           /* CLOCK_MONOTONIC of its removal, 0: present */
};

struct watch {
	int wd;
	size_t pol;
	char *rel;
};

struct cbpf_denials {
	const char *only;           /* NAME, or NULL for every policy */
	bool keep_spaces;           /* in names from the sandbox (JSON quotes them) */
	cbpf_denial_fn *fn;
	void *arg;
	bool stopped;               /* fn asked to stop */
	bool draining;              /* skipping what was queued before the start */
	int64_t offset_ns;          /* CLOCK_REALTIME - CLOCK_BOOTTIME */
	char mount[PATH_MAX];

	struct cbpf_store s;
	bool store_open;
	__u32 events_id;            /* map id of the ring buffer we read */
	struct ring_buffer *rb;
	int ino_fd;                 /* inotify on the tracked cgroup trees, or -1 */

	struct pol *pols;
	size_t npols, pols_cap;
	struct cg_entry *cgs;
	size_t ncgs, cgs_cap;
	struct watch *watches;
	size_t nwatches, watches_cap;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static uint64_t mono_ns(void)
{
	return cbpf_clock_ns(CLOCK_MONOTONIC);
}

/* Room for item n of an array with `*cap` allocated: returns the array,
 * perhaps moved, or NULL (the old one still valid) when out of memory. */
static void *reserve(void *v, size_t *cap, size_t n, size_t size)
{
	size_t want = *cap ? *cap * 2 : 8;

	if (n < *cap)
		return v;
	v = realloc(v, want * size);
	if (v)
		*cap = want;
	return v;
}

/* Names below a delegated cgroup and a task's comm are chosen by whoever
 * runs in the sandbox: nothing of them reaches a terminal unescaped. */
static void printable(char *dst, size_t len, const char *src, size_t srclen,
		      bool space)
{
	size_t i;

	for (i = 0; i + 1 < len && i < srclen && src[i]; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = c > 0x20 && c < 0x7f ? (char)c : c == ' ' && space ? ' ' : '?';
	}
	dst[i] = '\0';
}

/* ---------------------------------------------------------------- cgroups */

static struct cg_entry *find_cg(struct cbpf_denials *m, uint64_t id)
{
	for (size_t i = 0; i < m->ncgs; i++)
		if (m->cgs[i].id == id)
			return &m->cgs[i];
	return NULL;
}

static void remember_cg(struct cbpf_denials *m, uint64_t id, size_t pol, const char *rel)
{
	struct cg_entry *e = find_cg(m, id), *v;
	char *copy = strdup(rel);

	if (!copy)
		return;
	if (e) {
		free(e->rel);
	} else {
		if (!(v = reserve(m->cgs, &m->cgs_cap, m->ncgs, sizeof(*v)))) {
			free(copy);
			return;
		}
		m->cgs = v;
		e = &m->cgs[m->ncgs++];
		e->id = id;
	}
	e->pol = pol;
	e->rel = copy;
	e->gone_at = 0;
}

static void forget_gone_cgs(struct cbpf_denials *m, uint64_t now)
{
	size_t j = 0;

	for (size_t i = 0; i < m->ncgs; i++) {
		if (m->cgs[i].gone_at && now - m->cgs[i].gone_at > GONE_KEEP_NS) {
			free(m->cgs[i].rel);
			continue;
		}
		m->cgs[j++] = m->cgs[i];
	}
	m->ncgs = j;
}

static void mark_gone(struct cbpf_denials *m, size_t pol, const char *rel)
{
	for (size_t i = 0; i < m->ncgs; i++)
		if (m->cgs[i].pol == pol && !m->cgs[i].gone_at &&
		    strcmp(m->cgs[i].rel, rel) == 0)
			m->cgs[i].gone_at = mono_ns();
}

static struct watch *find_watch(struct cbpf_denials *m, int wd)
{
	for (size_t i = 0; i < m->nwatches; i++)
		if (m->watches[i].wd == wd)
			return &m->watches[i];
	return NULL;
}

static void add_watch(struct cbpf_denials *m, int wd, size_t pol, const char *rel)
{
	struct watch *w = find_watch(m, wd), *v;
	char *copy = strdup(rel);

	if (!copy)
		return;
	if (w) {
		free(w->rel);
	} else {
		if (!(v = reserve(m->watches, &m->watches_cap, m->nwatches, sizeof(*v)))) {
			free(copy);
			return;
		}
		m->watches = v;
		w = &m->watches[m->nwatches++];
		w->wd = wd;
	}
	w->pol = pol;
	w->rel = copy;
}

static void drop_watch(struct cbpf_denials *m, int wd)
{
	struct watch *w = find_watch(m, wd);

	if (!w)
		return;
	free(w->rel);
	*w = m->watches[--m->nwatches];
}

static void join_rel(char *out, size_t len, const char *rel, const char *name)
{
	if (strcmp(rel, ".") == 0)
		snprintf(out, len, "%s", name);
	else
		snprintf(out, len, "%s/%s", rel, name);
}

/* Records the cgroup `rel` of policy `pol` and every cgroup below it, and
 * watches each for new children. The watch goes in before the listing, so a
 * child made in between is seen by one or the other. */
static void walk(struct cbpf_denials *m, size_t pol, const char *rel, int depth)
{
	char path[PATH_MAX], sub[PATH_MAX];
	struct dirent *d;
	struct stat st;
	DIR *dir;

	if (strcmp(rel, ".") == 0)
		snprintf(path, sizeof(path), "%s", m->pols[pol].dir);
	else
		snprintf(path, sizeof(path), "%s/%s", m->pols[pol].dir, rel);
	if (stat(path, &st) || !S_ISDIR(st.st_mode))
		return;
	remember_cg(m, (uint64_t)st.st_ino, pol, rel);   /* cgroup2: inode == id */
	if (m->ino_fd >= 0) {
		int wd = inotify_add_watch(m->ino_fd, path, IN_CREATE | IN_DELETE |
					   IN_MOVED_TO | IN_MOVED_FROM | IN_ONLYDIR);
		if (wd >= 0)
			add_watch(m, wd, pol, rel);
	}
	if (depth >= CBPF_CGROUP_LEVELS || !(dir = opendir(path)))
		return;
	while ((d = readdir(dir))) {
		if (d->d_type != DT_DIR || strcmp(d->d_name, ".") == 0 ||
		    strcmp(d->d_name, "..") == 0)
			continue;
		join_rel(sub, sizeof(sub), rel, d->d_name);
		walk(m, pol, sub, depth + 1);
	}
	closedir(dir);
}

/* Applies what inotify has queued: new cgroups are recorded right away,
 * while they still exist (exec removes its cgroup when the command ends). */
static void read_inotify(struct cbpf_denials *m)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	char rel[PATH_MAX];
	ssize_t n;

	if (m->ino_fd < 0)
		return;
	while ((n = read(m->ino_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			struct watch *w = find_watch(m, ev->wd);

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				for (size_t i = 0; i < m->npols; i++)
					if (m->pols[i].tracked)
						walk(m, i, ".", 0);
				continue;
			}
			if (ev->mask & IN_IGNORED) {
				drop_watch(m, ev->wd);
				continue;
			}
			if (!w || !ev->len || !(ev->mask & IN_ISDIR))
				continue;
			join_rel(rel, sizeof(rel), w->rel, ev->name);
			if (ev->mask & (IN_CREATE | IN_MOVED_TO))
				walk(m, w->pol, rel, 1);
			else
				mark_gone(m, w->pol, rel);
		}
	}
}

/* ---------------------------------------------------------------- policies */

static struct pol *find_pol(struct cbpf_denials *m, uint64_t cg)
{
	for (size_t i = 0; i < m->npols; i++)
		if (m->pols[i].cg == cg)
			return &m->pols[i];
	return NULL;
}

static int add_pol(uint64_t cg, const struct cbpf_policy *p, void *arg)
{
	struct cbpf_denials *m = arg;
	char dir[PATH_MAX + CBPF_CGROUP_PATH_MAX];
	struct pol *n;

	if (find_pol(m, cg))
		return 0;
	if (!(n = reserve(m->pols, &m->pols_cap, m->npols, sizeof(*n))))
		return 0;
	m->pols = n;
	snprintf(dir, sizeof(dir), "%s%.*s", m->mount, (int)sizeof(p->cgroup),
		 p->cgroup);
	n = &m->pols[m->npols];
	*n = (struct pol){ .cg = cg };
	if (!(n->dir = strdup(dir)))
		return 0;
	snprintf(n->name, sizeof(n->name), "%.*s", (int)sizeof(p->name) - 1, p->name);
	n->tracked = !m->only || strcmp(m->only, n->name) == 0;
	m->npols++;
	if (n->tracked)
		walk(m, m->npols - 1, ".", 0);
	return 0;
}

/* The policy of an enforcement cgroup, read from the map the first time. */
static struct pol *policy_of(struct cbpf_denials *m, uint64_t cg)
{
	struct cbpf_policy p;
	struct pol *found = find_pol(m, cg);

	if (found || !cg)
		return found;
	if (bpf_map_lookup_elem(m->s.policies_fd, &cg, &p))
		return NULL;   /* unloaded since */
	add_pol(cg, &p, m);
	return find_pol(m, cg);
}

/* ---------------------------------------------------------------- hostnames */

static int cmp_host(const void *a, const void *b)
{
	const struct host_addr *x = a, *y = b;
	int c = memcmp(x->addr, y->addr, 16);

	return c ? c : (int)y->fresh - (int)x->fresh;   /* the fresh one first */
}

/* Reads the exact-address rules of rule set `ruleset` and merges their hosts
 * into the policy's: a scan updates an address, never forgets one, so an
 * address rotated out still names the host it last belonged to. */
static void scan_hosts(struct cbpf_denials *m, struct pol *pol, uint32_t ruleset)
{
	struct host_name { uint32_t idx; char *name; } *names = NULL, *nv;
	size_t nnames = 0, names_cap = 0, j = 0;
	struct cbpf_rule_key key, *prev = NULL;
	struct cbpf_rule val;

	pol->hosts_at = mono_ns();
	pol->hosts_ruleset = ruleset;
	/* Bounded: the hash restarts from its first key when the one we hold
	 * was deleted meanwhile. */
	for (long left = CBPF_MAX_RULES * 2L; left > 0 &&
	     bpf_map_get_next_key(m->s.exact_fd, prev, &key) == 0; left--) {
		struct cbpf_host_key hk = { .policy = ruleset };
		struct cbpf_host h;
		char *name = NULL;
		struct host_addr *a;

		prev = &key;
		if (key.policy != ruleset ||
		    (key.proto != CBPF_PROTO_TCP && key.proto != CBPF_PROTO_UDP &&
		     key.proto != CBPF_PROTO_ANY) ||
		    bpf_map_lookup_elem(m->s.exact_fd, &key, &val) || !val.host)
			continue;
		for (size_t i = 0; i < nnames && !name; i++)
			if (names[i].idx == val.host)
				name = names[i].name;
		if (!name) {
			hk.host = val.host;
			if (bpf_map_lookup_elem(m->s.hostnames_fd, &hk, &h))
				continue;
			h.name[sizeof(h.name) - 1] = '\0';
			if (!(nv = reserve(names, &names_cap, nnames, sizeof(*nv))))
				continue;
			names = nv;
			if (!(name = strdup(h.name)))
				continue;
			names[nnames].idx = val.host;
			names[nnames++].name = name;
		}
		if (!(a = reserve(pol->hosts, &pol->hosts_cap, pol->nhosts, sizeof(*a))))
			continue;
		pol->hosts = a;
		a = &pol->hosts[pol->nhosts];
		if (!(a->name = strdup(name)))
			continue;
		memcpy(a->addr, key.addr, 16);
		a->fresh = true;
		pol->nhosts++;
	}
	for (size_t i = 0; i < nnames; i++)
		free(names[i].name);
	free(names);

	/* One entry per address, the fresh one where there are two. */
	if (pol->nhosts)
		qsort(pol->hosts, pol->nhosts, sizeof(*pol->hosts), cmp_host);
	for (size_t i = 0; i < pol->nhosts; i++) {
		if (j && memcmp(pol->hosts[j - 1].addr, pol->hosts[i].addr, 16) == 0) {
			free(pol->hosts[i].name);
			continue;
		}
		pol->hosts[j] = pol->hosts[i];
		pol->hosts[j++].fresh = false;
	}
	pol->nhosts = j;
}

static const char *lookup_host(struct pol *pol, const uint8_t addr[16])
{
	struct host_addr key = { 0 }, *a;

	if (!pol->nhosts)
		return NULL;   /* hosts may still be NULL */
	memcpy(key.addr, addr, 16);
	key.fresh = false;
	a = bsearch(&key, pol->hosts, pol->nhosts, sizeof(*pol->hosts), cmp_host);
	return a ? a->name : NULL;
}

/* The host `addr` belonged to in the policy's hostname rules. Rules are
 * re-read when the address is unknown, at most once per RESCAN_NS (most
 * denied addresses have no host at all). */
static const char *host_of(struct cbpf_denials *m, struct pol *pol, uint32_t ruleset,
			   const uint8_t addr[16])
{
	const char *host = lookup_host(pol, addr);

	if (host || !ruleset)
		return host;
	if (pol->hosts_at && pol->hosts_ruleset == ruleset &&
	    mono_ns() - pol->hosts_at < RESCAN_NS)
		return NULL;
	scan_hosts(m, pol, ruleset);
	return lookup_host(pol, addr);
}

/* "libpod-<64 hex>" (cgroupfs) or "libpod-<64 hex>.scope" (systemd) in the
 * path: podman's container cgroup. Sets the short id (12 hex digits). */
static bool container_of(const char *rel, char id[13])
{
	const char *c = rel;

	for (;;) {
		size_t n = strcspn(c, "/");
		bool scope = n == 7 + 64 + 6 && strncmp(c + 7 + 64, ".scope", 6) == 0;

		if ((n == 7 + 64 || scope) && strncmp(c, "libpod-", 7) == 0 &&
		    strspn(c + 7, "0123456789abcdef") >= 64) {
			memcpy(id, c + 7, 12);
			id[12] = '\0';
			return true;
		}
		if (!c[n])
			return false;
		c += n + 1;
	}
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct cbpf_denials *m = ctx;
	const struct cbpf_event *e = data;
	static const uint8_t zero[16];
	char addr[INET6_ADDRSTRLEN];
	char protobuf[4], comm[sizeof(e->comm) + 1], rel[PATH_MAX], short_id[13];
	char qname[CBPF_HOST_MAX + 1];
	const char *proto, *host = NULL, *policy = NULL, *where = NULL;
	bool v4, has_addr, is_container = false;
	struct cg_entry *cg = NULL;
	struct cbpf_denial d;
	struct pol *pol;

	if (m->draining || len < sizeof(*e))
		return 0;
	pol = policy_of(m, e->policy_cgroup_id);
	if (m->only && (!pol || strcmp(pol->name, m->only)))
		return 0;
	if (pol) {
		size_t pi = (size_t)(pol - m->pols);

		policy = pol->name;
		if (pol->tracked) {
			read_inotify(m);
			cg = find_cg(m, e->cgroup_id);
			if (!cg || cg->pol != pi) {
				walk(m, pi, ".", 0);
				cg = find_cg(m, e->cgroup_id);
			}
			if (cg && cg->pol != pi)
				cg = NULL;   /* below another policy's cgroup */
		}
	}
	if (cg) {
		printable(rel, sizeof(rel), cg->rel, sizeof(rel), m->keep_spaces);
		where = rel;
		is_container = container_of(cg->rel, short_id);
	}

	/* sock_create has no destination; egress none for a packet it could
	 * not parse (left zero); the socket address hooks always have one. */
	v4 = cbpf_is_v4_mapped(e->addr);
	has_addr = e->hook != CBPF_HOOK_SOCK_CREATE && e->hook != CBPF_HOOK_FORWARDER &&
		   (e->hook != CBPF_HOOK_EGRESS || memcmp(e->addr, zero, sizeof(zero)));
	/* The forwarder's refusal names the name asked for. */
	if (e->hook == CBPF_HOOK_FORWARDER && len >= sizeof(struct cbpf_dns_event)) {
		const struct cbpf_dns_event *d = data;

		printable(qname, sizeof(qname), d->name, sizeof(d->name), m->keep_spaces);
		host = qname;
	}
	if (has_addr) {
		inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? &e->addr[12] : e->addr, addr,
			  sizeof(addr));
		if (pol)
			host = host_of(m, pol, e->policy, e->addr);
	}
	proto = e->proto ? cbpf_proto_name(e->proto, protobuf) : NULL;   /* 0: not known */
	printable(comm, sizeof(comm), e->comm, sizeof(e->comm), m->keep_spaces);

	d = (struct cbpf_denial){
		.time_ns = (int64_t)e->time_ns + m->offset_ns, .policy = policy,
		.cgroup_id = e->cgroup_id, .container = is_container ? short_id : NULL,
		.cgroup = where, .pid = e->pid, .comm = comm[0] ? comm : NULL,
		.hook = e->hook, .proto = proto, .address = has_addr ? addr : NULL,
		.port = has_addr ? e->port : 0, .v4 = v4, .host = host, .reason = e->reason,
	};
	if (m->fn(&d, m->arg)) {
		m->stopped = true;
		return STOP;
	}
	return 0;
}

/* ---------------------------------------------------------------- the object */

static __u32 map_id(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

static void detach_object(struct cbpf_denials *m)
{
	ring_buffer__free(m->rb);
	m->rb = NULL;
	if (m->store_open)
		cbpf_store_close(&m->s);
	m->store_open = false;
	m->events_id = 0;
}

/* Opens the pinned object and a reader of its ring buffer. Returns 0,
 * -ENOENT when nothing is pinned, or -errno with *what set. */
static int attach_object(struct cbpf_denials *m, const char **what)
{
	int err = cbpf_store_open(&m->s, false, what);

	if (err)
		return err;
	m->store_open = true;
	m->events_id = map_id(m->s.events_fd);
	m->rb = ring_buffer__new(m->s.events_fd, on_event, m, NULL);
	if (!m->rb) {
		err = -errno;
		*what = "read the ring buffer " CBPF_PIN_ROOT "/events";
		detach_object(m);
		return err;
	}
	return 0;
}

/* Once a second: policies loaded since, and an object replaced after the
 * last policy was unloaded and another one loaded (the old ring buffer
 * would never see an event again). */
static void tick(struct cbpf_denials *m)
{
	int fd = bpf_obj_get(CBPF_PIN_ROOT "/events");
	__u32 id = fd >= 0 ? map_id(fd) : 0;
	const char *what;

	if (fd >= 0)
		close(fd);
	if (!m->store_open || (id && id != m->events_id)) {
		detach_object(m);
		if (attach_object(m, &what))
			return;   /* nothing loaded now: look again later */
	}
	cbpf_store_each_policy(&m->s, add_pol, m);
	forget_gone_cgs(m, mono_ns());
}

void cbpf_denials_close(struct cbpf_denials *m)
{
	if (!m)
		return;
	detach_object(m);
	if (m->ino_fd >= 0)
		close(m->ino_fd);
	for (size_t i = 0; i < m->npols; i++) {
		for (size_t j = 0; j < m->pols[i].nhosts; j++)
			free(m->pols[i].hosts[j].name);
		free(m->pols[i].hosts);
		free(m->pols[i].dir);
	}
	free(m->pols);
	for (size_t i = 0; i < m->ncgs; i++)
		free(m->cgs[i].rel);
	free(m->cgs);
	for (size_t i = 0; i < m->nwatches; i++)
		free(m->watches[i].rel);
	free(m->watches);
	free(m);
}

int cbpf_denials_stream(struct cbpf_denials *m, unsigned long timeout_s)
{
	uint64_t start = mono_ns(), next_tick = start + TICK_MS * 1000000ull;
	uint64_t deadline = timeout_s ? start + timeout_s * NS_PER_SEC : 0;
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block, orig;

	/* Blocked except inside ppoll: a signal can never be missed between
	 * the check of stop_signal and the wait. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &orig);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	while (!stop_signal && !m->stopped) {
		uint64_t now = mono_ns(), until = next_tick;
		struct pollfd fds[2] = {
			{ .fd = m->rb ? ring_buffer__epoll_fd(m->rb) : -1, .events = POLLIN },
			{ .fd = m->ino_fd, .events = POLLIN },
		};
		struct timespec ts;
		int n;

		if (deadline && now >= deadline)
			break;
		if (deadline && deadline < until)
			until = deadline;
		if (until < now)
			until = now;
		ts.tv_sec = (time_t)((until - now) / NS_PER_SEC);
		ts.tv_nsec = (long)((until - now) % NS_PER_SEC);
		n = ppoll(fds, 2, &ts, &orig);
		if (n < 0 && errno != EINTR) {
			cbpf_error("cannot wait for events: %s", strerror(errno));
			return 1;
		}
		/* New cgroups first: an event may come from one made just now. */
		read_inotify(m);
		if (n > 0 && fds[0].revents && m->rb) {
			m->offset_ns = (int64_t)(cbpf_clock_ns(CLOCK_REALTIME) -
						 cbpf_clock_ns(CLOCK_BOOTTIME));
			n = ring_buffer__poll(m->rb, 0);
			if (n < 0 && n != -EINTR && n != STOP) {
				cbpf_error("cannot read the ring buffer: %s", strerror(-n));
				return 1;
			}
		}
		if (mono_ns() >= next_tick) {
			tick(m);
			next_tick = mono_ns() + TICK_MS * 1000000ull;
		}
	}
	sigprocmask(SIG_SETMASK, &orig, NULL);
	return 0;
}

int cbpf_denials_open(struct cbpf_denials **out, const struct cbpf_denials_opts *o,
		      const char **what)
{
	struct cbpf_denials *m = calloc(1, sizeof(*m));
	int err;

	*out = NULL;
	*what = "allocate the monitor";
	if (!m)
		return -ENOMEM;
	*m = (struct cbpf_denials){ .only = o->only, .keep_spaces = o->keep_spaces,
				     .fn = o->fn, .arg = o->arg, .ino_fd = -1 };
	*what = "find the cgroup2 mount";
	if (cbpf_cgroup2_mount(m->mount, sizeof(m->mount))) {
		err = -ENODEV;
		goto fail;
	}
	if ((err = attach_object(m, what)))
		goto fail;
	if (m->only) {
		struct cbpf_policy p;
		uint64_t cg;

		*what = "find the policy";
		if (cbpf_store_find_policy(&m->s, m->only, &cg, &p)) {
			err = -ESRCH;
			goto fail;
		}
	}
	/* Without inotify, cgroups are found by walking when an event names
	 * one not seen yet; short-lived ones may be gone by then. */
	m->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	cbpf_store_each_policy(&m->s, add_pol, m);

	/* The buffer keeps what no one has read yet: start from now. */
	m->draining = true;
	ring_buffer__consume(m->rb);
	m->draining = false;
	*out = m;
	return 0;
fail:
	cbpf_denials_close(m);
	return err;
}
