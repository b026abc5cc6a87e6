/* A policy's DNS forwarder: the sockets, the thread and its loop, the
 * names it answers, and the addresses it learns. Queries go upstream with
 * c-ares (ares_send: the query as the sandbox wrote it, under an id of
 * c-ares's own, answers checked against the question, servers tried in
 * turn); messages are read and written by dnsmsg.c (ldns). */
#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <ldns/ldns.h>
#include "base/addr.h"
#include "base/log.h"
#include "base/os.h"
#include "base/runstate.h"
#include "core/dnsmsg.h"
#include "core/dnsview.h"
#include "core/resolve.h"
#include "core/source.h"
#include "engine/dnsfwd.h"
#include "engine/policy.h"
#include "engine/store.h"

#define NS 1000000000ull
#define MAX_LISTEN   3              /* 127.0.0.1, ::1, the bridge */
#define MAX_CONNS    64             /* TCP clients at once */
#define CONN_IDLE_NS (10 * NS)
#define CONN_QUERY_MAX 4096
#define UDP_BURST    64             /* datagrams read per wakeup and socket */
#define ANSWER_ADDRS CBPF_DNSVIEW_ANSWER_MAX
#define STATE_NS     NS             /* the state file, rewritten this often */
#define SAMPLES      4096           /* answer-to-release times kept */
#define LOG_REFUSED_NS (NS)         /* refused names logged at most this often */

struct conn {
	int fd;                     /* -1: free */
	uint32_t serial;            /* a query's answer finds its connection */
	uint64_t last_ns;
	size_t len;
	uint8_t buf[2 + CONN_QUERY_MAX];   /* a query longer is no query */
};

/* One query sent upstream, until c-ares calls back. */
struct pending {
	struct cbpf_dnsfwd *f;
	bool tcp;
	int ufd;                    /* UDP: the socket it came on */
	struct sockaddr_storage peer;
	socklen_t plen;
	int conn;                   /* TCP: its connection, and that one's serial */
	uint32_t serial;
	struct cbpf_dns_query q;
	size_t qlen;
	uint8_t query[];
};

struct cbpf_dnsfwd {
	/* Sockets: UDP and TCP listeners on each address. */
	int udp[MAX_LISTEN], tcp[MAX_LISTEN];
	size_t nlisten;
	struct cbpf_dns_target target;
	char listen_text[128];

	pthread_t thread;
	long pid;                   /* the process serving, once it does */
	int stop_fd;                /* eventfd: the thread ends */
	pthread_mutex_t lock;       /* the policy view and the learned table */

	char name[CBPF_NAME_MAX];
	uint64_t cgroup_id;
	int grace_s;
	struct cbpf_store store;
	ares_channel udp_ch, tcp_ch;

	struct cbpf_dnsview view;

	struct conn conns[MAX_CONNS];
	uint32_t next_serial;

	/* For status and the benchmark. */
	uint64_t queries, answered, refused, failed, bound_refused;
	uint32_t samples[SAMPLES];  /* answer to release, ns */
	size_t nsamples;
	uint64_t next_state_ns, last_refused_log_ns;

	bool net4_alias;            /* target.net4 is not ours: the host's loopback */
	bool started;
	bool bound_logged;
};

/* ------------------------------------------------------------ sockets */

static int bind_one(int family, int type, const void *addr, uint16_t *port, bool freebind)
{
	struct sockaddr_storage ss = {};
	socklen_t len;
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -errno;
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(*port);
		memcpy(&a->sin_addr, addr, 4);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(*port);
		memcpy(&a->sin6_addr, addr, 16);
		len = sizeof(*a);
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	if (freebind)
		setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) ||
	    (type == SOCK_STREAM && listen(fd, 128))) {
		int err = -errno;

		close(fd);
		return err;
	}
	if (!*port) {
		if (getsockname(fd, (struct sockaddr *)&ss, &len)) {
			int err = -errno;

			close(fd);
			return err;
		}
		*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						: ((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	return fd;
}

static void close_listeners(struct cbpf_dnsfwd *f)
{
	for (size_t i = 0; i < MAX_LISTEN; i++) {
		if (f->udp[i] >= 0)
			close(f->udp[i]);
		if (f->tcp[i] >= 0)
			close(f->tcp[i]);
		f->udp[i] = f->tcp[i] = -1;
	}
	f->nlisten = 0;
}

/* UDP and TCP on one address at `port` (0: the kernel picks, for the first). */
static int listen_on(struct cbpf_dnsfwd *f, int family, const void *addr, uint16_t *port,
		     bool freebind)
{
	size_t i = f->nlisten;
	int fd = bind_one(family, SOCK_DGRAM, addr, port, freebind);

	if (fd < 0)
		return fd;
	f->udp[i] = fd;
	fd = bind_one(family, SOCK_STREAM, addr, port, freebind);
	if (fd < 0) {
		close(f->udp[i]);
		f->udp[i] = -1;
		return fd;
	}
	f->tcp[i] = fd;
	f->nlisten++;
	return 0;
}

int cbpf_dnsfwd_open(struct cbpf_dnsfwd **out, uint32_t net4, bool bind_net4,
		     struct cbpf_dns_target *t)
{
	static const uint8_t lo6[16] = { [15] = 1 };
	uint32_t lo4 = htonl(INADDR_LOOPBACK);
	struct cbpf_dnsfwd *f = calloc(1, sizeof(*f));
	int err = -EADDRINUSE;

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < MAX_LISTEN; i++)
		f->udp[i] = f->tcp[i] = -1;
	f->stop_fd = -1;
	/* One port for every address: the kernel picks it for 127.0.0.1, and
	 * another is tried when it is taken on another address. */
	for (int attempt = 0; attempt < 20 && err == -EADDRINUSE; attempt++) {
		uint16_t port = 0;

		close_listeners(f);
		memset(&f->target, 0, sizeof(f->target));
		if ((err = listen_on(f, AF_INET, &lo4, &port, false)))
			continue;
		f->target.host4 = lo4;
		f->target.port = htons(port);
		/* No IPv6 on the host: DNS over IPv6 from exec is denied. */
		err = listen_on(f, AF_INET6, lo6, &port, false);
		if (!err)
			memcpy(f->target.host6, lo6, 16);
		else if (err == -EADDRINUSE)
			continue;
		if (net4 && bind_net4 && (err = listen_on(f, AF_INET, &net4, &port, true)))
			continue;
		f->target.net4 = net4;
		err = 0;
	}
	if (err) {
		close_listeners(f);
		free(f);
		return err;
	}
	{
		char a[INET_ADDRSTRLEN];
		int n = snprintf(f->listen_text, sizeof(f->listen_text), "127.0.0.1:%u",
				 ntohs(f->target.port));

		if (f->target.host6[15])
			n += snprintf(f->listen_text + n, sizeof(f->listen_text) - (size_t)n,
				      " [::1]:%u", ntohs(f->target.port));
		if (net4 && inet_ntop(AF_INET, &net4, a, sizeof(a)))
			snprintf(f->listen_text + n, sizeof(f->listen_text) - (size_t)n,
				 bind_net4 ? " %s:%u" : " %s:%u (to 127.0.0.1)", a,
				 ntohs(f->target.port));
	}
	f->net4_alias = net4 && !bind_net4;
	*t = f->target;
	*out = f;
	return 0;
}

static void write_state(struct cbpf_dnsfwd *f);

void cbpf_dnsfwd_publish(struct cbpf_dnsfwd *f, const char *name)
{
	snprintf(f->name, sizeof(f->name), "%s", name);
	write_state(f);
}

const char *cbpf_dnsfwd_listen_text(const struct cbpf_dnsfwd *f)
{
	return f->listen_text;
}

/* slirp4netns's alias of the host's loopback over IPv6, fd00::2. */
static const uint8_t slirp_host6[16] = { 0xfd, [15] = 2 };

static int add_exact(struct cbpf_ruleset *rs, const uint8_t addr[16], uint8_t proto,
		     uint16_t port_be, uint8_t action)
{
	struct cbpf_rule_entry e = {
		.key = { .prefixlen = CBPF_KEY_EXACT, .proto = proto, .port = port_be },
		.val = { .action = action, .addr_prefix = 128 },
	};

	memcpy(e.key.addr, addr, 16);
	return cbpf_ruleset_push(rs, &e);
}

/* TCP and UDP to the forwarder's port at `addr`. */
static int allow_dns(struct cbpf_ruleset *rs, const uint8_t addr[16], uint16_t port_be)
{
	int err = add_exact(rs, addr, CBPF_PROTO_TCP, port_be, CBPF_ACTION_ALLOW);

	return err ? err : add_exact(rs, addr, CBPF_PROTO_UDP, port_be, CBPF_ACTION_ALLOW);
}

int cbpf_dnsfwd_ruleset(const struct cbpf_dnsfwd *f, struct cbpf_ruleset *rs)
{
	const struct cbpf_dns_target *t = &f->target;
	uint8_t a[16];
	int err;

	cbpf_v4_mapped(a, &t->host4);
	err = allow_dns(rs, a, t->port);
	if (!err && t->host6[15])
		err = allow_dns(rs, t->host6, t->port);
	if (!err && t->net4) {
		cbpf_v4_mapped(a, &t->net4);
		err = allow_dns(rs, a, t->port);
	}
	/* An alias of the host's loopback (slirp4netns's 10.0.2.2, and its
	 * IPv6 twin fd00::2) leads to every service listening there: only the
	 * forwarder's port is open, whatever a wider rule of the file allows
	 * (the rule for the exact address and port is looked up first, and
	 * wins). */
	if (!err && f->net4_alias) {
		cbpf_v4_mapped(a, &t->net4);
		err = add_exact(rs, a, CBPF_PROTO_ANY, CBPF_PORT_ANY, CBPF_ACTION_DENY);
		if (!err)
			err = add_exact(rs, slirp_host6, CBPF_PROTO_ANY, CBPF_PORT_ANY,
					CBPF_ACTION_DENY);
	}
	if (err)
		return err;
	cbpf_ruleset_finish(rs);
	rs->flags |= CBPF_POLICY_DNS;
	rs->dns = *t;
	return 0;
}

/* ---------------------------------------------------------- learning */

/* Writes one entry unless the rule already at its key decides: a deny, a
 * rule that never expires, or one that lasts longer. No new generation:
 * a new or longer allow cannot make any kept decision wrong (only allows
 * are kept, each with the expiry of its own rule). */
static int write_entry(struct cbpf_dnsfwd *f, uint32_t id, struct cbpf_rule_entry *e)
{
	int fd = e->key.prefixlen == CBPF_KEY_EXACT ? f->store.exact_fd : f->store.rules_fd;
	struct cbpf_rule cur;

	e->key.policy = id;
	if (bpf_map_lookup_elem(fd, &e->key, &cur) == 0 &&
	    (cur.action != CBPF_ACTION_ALLOW || !cur.expires_ns ||
	     cur.expires_ns >= e->val.expires_ns))
		return 0;
	return bpf_map_update_elem(fd, &e->key, &e->val, BPF_ANY) ? -errno : 0;
}

/* Writes what an answer for `name` teaches into the policy's current rule
 * set. Returns 0, or -EACCES, -ENOSPC as cbpf_dnsview_learn, or -errno;
 * the view counts the addresses once the kernel holds them. */
static int learn(struct cbpf_dnsfwd *f, const char *name, const struct cbpf_dns_addr *addrs,
		 size_t n)
{
	struct cbpf_dnsview_lesson l;
	struct cbpf_policy p;
	int err = cbpf_dnsview_learn(&f->view, name, addrs, n, cbpf_boottime_ns(), f->grace_s, &l);

	if (err || !l.rs.n)
		return err;
	if (bpf_map_lookup_elem(f->store.policies_fd, &f->cgroup_id, &p))
		err = -errno;
	if (!err && l.new_host) {
		struct cbpf_host_key hk = { .policy = p.id, .host = l.host };
		struct cbpf_host h = {};

		snprintf(h.name, sizeof(h.name), "%s", name);
		if (bpf_map_update_elem(f->store.hostnames_fd, &hk, &h, BPF_ANY))
			err = -errno;
	}
	for (size_t i = 0; i < l.rs.n && !err; i++)
		err = write_entry(f, p.id, &l.rs.v[i]);
	if (!err)
		cbpf_dnsview_learned(&f->view, addrs, n, &l);
	cbpf_dnsview_lesson_free(&l);
	return err;
}

/* ----------------------------------------------------------- replies */

static void send_reply(struct cbpf_dnsfwd *f, const struct pending *q, const uint8_t *msg,
		       size_t len)
{
	if (!q->tcp) {
		sendto(q->ufd, msg, len, MSG_DONTWAIT, (const struct sockaddr *)&q->peer, q->plen);
		return;
	}
	if (q->conn < 0 || f->conns[q->conn].fd < 0 || f->conns[q->conn].serial != q->serial)
		return;     /* the client went */
	{
		uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };
		struct iovec iov[2] = { { hdr, 2 }, { (void *)msg, len } };
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

		/* DNS answers are small: one that does not go out at once
		 * (a client that does not read) costs the client its
		 * connection, not the forwarder a buffer. */
		if (sendmsg(f->conns[q->conn].fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) !=
		    (ssize_t)len + 2) {
			close(f->conns[q->conn].fd);
			f->conns[q->conn].fd = -1;
		}
	}
}

static void reply_error(struct cbpf_dnsfwd *f, const struct pending *q, int rcode)
{
	uint8_t out[600];
	size_t len;

	if (cbpf_dns_reply_error(q->query, q->qlen, rcode, out, sizeof(out), &len) == 0)
		send_reply(f, q, out, len);
}

static void sample(struct cbpf_dnsfwd *f, uint64_t ns)
{
	f->samples[f->nsamples++ % SAMPLES] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* c-ares: the upstream's answer (or none). The addresses go into the
 * policy first, then the answer to the sandbox. */
static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct pending *q = arg;
	struct cbpf_dnsfwd *f = q->f;
	static uint8_t msg[65536], out[65536];
	struct cbpf_dns_addr addrs[ANSWER_ADDRS];
	size_t olen, n = 0;
	uint64_t t0 = cbpf_boottime_ns();
	int err;

	(void)timeouts;
	if (status != ARES_SUCCESS || !abuf || alen < 12 || (size_t)alen > sizeof(msg)) {
		if (status != ARES_EDESTRUCTION) {
			f->failed++;
			reply_error(f, q, LDNS_RCODE_SERVFAIL);
		}
		free(q);
		return;
	}
	memcpy(msg, abuf, (size_t)alen);
	err = cbpf_dns_answer_prepare(q->query, q->qlen, q->q.name, msg, (size_t)alen, out,
				      sizeof(out), &olen, addrs, ANSWER_ADDRS, &n);
	if (err && err != -E2BIG) {
		f->failed++;
		reply_error(f, q, LDNS_RCODE_SERVFAIL);
		free(q);
		return;
	}
	pthread_mutex_lock(&f->lock);
	if (!err)
		err = learn(f, q->q.name, addrs, n);
	pthread_mutex_unlock(&f->lock);
	if (err == -EACCES) {
		reply_error(f, q, LDNS_RCODE_REFUSED);
	} else if (err == -ENOSPC) {
		f->bound_refused++;
		if (!f->bound_logged)
			cbpf_error("policy '%s': %zu learned addresses, the most it may hold "
				   "(--dns-max): answers with new ones are refused until some "
				   "expire", f->name, f->view.max_learned);
		f->bound_logged = true;
		reply_error(f, q, LDNS_RCODE_SERVFAIL);
	} else if (err) {
		/* Never an answer whose addresses the policy does not hold. */
		f->failed++;
		cbpf_error("policy '%s': cannot hold the addresses of '%s': %s", f->name,
			   q->q.name, strerror(-err));
		reply_error(f, q, LDNS_RCODE_SERVFAIL);
	} else {
		f->answered++;
		f->bound_logged = false;
		sample(f, cbpf_boottime_ns() - t0);
		send_reply(f, q, out, olen);
	}
	free(q);
}

static void refused(struct cbpf_dnsfwd *f, struct pending *q)
{
	uint64_t now = cbpf_boottime_ns();

	struct cbpf_dns_event ev = {
		.e = { .cgroup_id = f->cgroup_id, .policy_cgroup_id = f->cgroup_id,
		       .proto = q->tcp ? CBPF_PROTO_TCP : CBPF_PROTO_UDP, .port = 53 },
	};
	struct bpf_test_run_opts run = { .sz = sizeof(run), .ctx_in = &ev,
					 .ctx_size_in = sizeof(ev) };

	f->refused++;
	/* For monitor, and the deny counter (the program counts it): counted
	 * before the client has its answer, as a denial is. */
	snprintf(ev.name, sizeof(ev.name), "%s", q->q.name);
	bpf_prog_test_run_opts(f->store.report_fd, &run);
	reply_error(f, q, LDNS_RCODE_REFUSED);
	if (now - f->last_refused_log_ns >= LOG_REFUSED_NS) {
		cbpf_info("policy '%s': refused the DNS query for '%s' (not in the allowlist)",
			  f->name, q->q.name);
		f->last_refused_log_ns = now;
	}
}

/* One query from the sandbox: refused here, or sent upstream. */
static void on_query(struct cbpf_dnsfwd *f, const uint8_t *msg, size_t len, struct pending *from)
{
	struct pending *q = malloc(sizeof(*q) + len);
	bool allowed;

	if (!q)
		return;
	*q = *from;
	q->f = f;
	q->qlen = len;
	memcpy(q->query, msg, len);
	if (cbpf_dns_query_parse(msg, len, &q->q)) {
		free(q);    /* not a query: no answer at all */
		return;
	}
	f->queries++;
	pthread_mutex_lock(&f->lock);
	allowed = cbpf_dnsview_allowed(&f->view, q->q.name);
	pthread_mutex_unlock(&f->lock);
	if (!allowed) {
		refused(f, q);
		free(q);
		return;
	}
	ares_send(q->tcp ? f->tcp_ch : f->udp_ch, msg, (int)len, on_answer, q);
}

/* --------------------------------------------------------------- loop */

static void read_udp(struct cbpf_dnsfwd *f, int fd)
{
	static uint8_t buf[65536];

	for (int i = 0; i < UDP_BURST; i++) {
		struct pending from = { .ufd = fd, .conn = -1, .plen = sizeof(from.peer) };
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from.peer,
				     &from.plen);

		if (n < 0)
			return;
		on_query(f, buf, (size_t)n, &from);
	}
}

static void accept_tcp(struct cbpf_dnsfwd *f, int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	size_t i, oldest = 0;

	if (fd < 0)
		return;
	for (i = 0; i < MAX_CONNS && f->conns[i].fd >= 0; i++)
		if (f->conns[i].last_ns < f->conns[oldest].last_ns)
			oldest = i;
	if (i == MAX_CONNS) {       /* full: the idlest goes */
		close(f->conns[oldest].fd);
		i = oldest;
	}
	f->conns[i].fd = fd;
	f->conns[i].serial = ++f->next_serial;
	f->conns[i].len = 0;
	f->conns[i].last_ns = cbpf_boottime_ns();
}

static void read_tcp(struct cbpf_dnsfwd *f, int ci)
{
	struct conn *c = &f->conns[ci];
	ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);

	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			close(c->fd);
			c->fd = -1;
		}
		return;
	}
	c->len += (size_t)n;
	c->last_ns = cbpf_boottime_ns();
	for (;;) {
		struct pending from = { .tcp = true, .conn = ci, .serial = c->serial };
		size_t mlen;
		int rc = cbpf_dns_tcp_next(c->buf, c->len, CONN_QUERY_MAX, &mlen);

		if (rc < 0) {           /* a query longer is no query */
			close(c->fd);
			c->fd = -1;
			return;
		}
		if (!rc)
			break;
		on_query(f, c->buf + 2, mlen, &from);
		if (c->fd < 0)
			return;
		memmove(c->buf, c->buf + 2 + mlen, c->len - 2 - mlen);
		c->len -= 2 + mlen;
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static void write_state(struct cbpf_dnsfwd *f)
{
	uint32_t s[SAMPLES];
	size_t n = f->nsamples < SAMPLES ? f->nsamples : SAMPLES;
	char text[512], bridge[INET_ADDRSTRLEN];
	uint64_t p50 = 0, p99 = 0;

	memcpy(s, f->samples, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_u32);
	if (n) {
		p50 = s[n / 2];
		p99 = s[n * 99 / 100];
	}
	if (!f->target.net4 || !inet_ntop(AF_INET, &f->target.net4, bridge, sizeof(bridge)))
		snprintf(bridge, sizeof(bridge), "-");
	snprintf(text, sizeof(text),
		 "listen %s\nbridge %s\npid %ld\nqueries %llu\nanswered %llu\nrefused %llu\n"
		 "failed %llu\nbound_refused %llu\nlearned %zu\nmax_learned %zu\n"
		 "release_p50_ns %llu\nrelease_p99_ns %llu\n", f->listen_text, bridge, f->pid,
		 (unsigned long long)f->queries, (unsigned long long)f->answered,
		 (unsigned long long)f->refused, (unsigned long long)f->failed,
		 (unsigned long long)f->bound_refused, f->view.nlearned, f->view.max_learned,
		 (unsigned long long)p50, (unsigned long long)p99);
	cbpf_runstate_file_write(f->name, CBPF_RUNFILE_DNS, text);
}

static void *thread_main(void *arg)
{
	struct cbpf_dnsfwd *f = arg;
	struct pollfd pfd[1 + 2 * MAX_LISTEN + MAX_CONNS + 2 * ARES_GETSOCK_MAXNUM];
	int kind[sizeof(pfd) / sizeof(pfd[0])];   /* 0 stop, 1 udp, 2 listen, 3 conn, 4 ares */

	for (;;) {
		ares_socket_t socks[2][ARES_GETSOCK_MAXNUM];
		struct timeval tv;
		ares_channel ch[2] = { f->udp_ch, f->tcp_ch };
		uint64_t now = cbpf_boottime_ns();
		int n = 0, timeout = 1000;

		/* First before the first poll: the file then says it serves. */
		if (now >= f->next_state_ns) {
			pthread_mutex_lock(&f->lock);
			cbpf_dnsview_purge(&f->view, now);
			pthread_mutex_unlock(&f->lock);
			write_state(f);
			f->next_state_ns = now + STATE_NS;
		}
		pfd[n] = (struct pollfd){ .fd = f->stop_fd, .events = POLLIN };
		kind[n++] = 0;
		for (size_t i = 0; i < f->nlisten; i++) {
			pfd[n] = (struct pollfd){ .fd = f->udp[i], .events = POLLIN };
			kind[n++] = 1;
			pfd[n] = (struct pollfd){ .fd = f->tcp[i], .events = POLLIN };
			kind[n++] = 2;
		}
		for (int i = 0; i < MAX_CONNS; i++) {
			if (f->conns[i].fd < 0)
				continue;
			if (now - f->conns[i].last_ns > CONN_IDLE_NS) {
				close(f->conns[i].fd);
				f->conns[i].fd = -1;
				continue;
			}
			pfd[n] = (struct pollfd){ .fd = f->conns[i].fd, .events = POLLIN };
			kind[n++] = 3 + 16 * i;
		}
		for (int c = 0; c < 2; c++) {
			int bits = ares_getsock(ch[c], socks[c], ARES_GETSOCK_MAXNUM);

			for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
				bool rd = (unsigned)bits & (1u << i);
				bool wr = (unsigned)bits & (1u << (i + ARES_GETSOCK_MAXNUM));

				if (!rd && !wr)
					continue;
				pfd[n] = (struct pollfd){ .fd = socks[c][i],
					.events = (short)((rd ? POLLIN : 0) | (wr ? POLLOUT : 0)) };
				kind[n++] = 4 + 16 * c;
			}
			if (ares_timeout(ch[c], NULL, &tv)) {
				int ms = (int)(tv.tv_sec * 1000 + tv.tv_usec / 1000) + 1;

				if (ms < timeout)
					timeout = ms;
			}
		}
		if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			short ev = pfd[i].revents;

			if (!ev)
				continue;
			switch (kind[i] % 16) {
			case 0:
				goto out;
			case 1:
				read_udp(f, pfd[i].fd);
				break;
			case 2:
				accept_tcp(f, pfd[i].fd);
				break;
			case 3:
				read_tcp(f, kind[i] / 16);
				break;
			case 4:
				ares_process_fd(ch[kind[i] / 16],
						ev & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd
										 : ARES_SOCKET_BAD,
						ev & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD);
				break;
			}
		}
		for (int c = 0; c < 2; c++)    /* timeouts */
			ares_process_fd(ch[c], ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	}
out:
	return NULL;
}

static int new_channel(ares_channel *ch, bool tcp, const uint8_t (*servers)[16], size_t n)
{
	struct ares_options o = {
		/* The sandbox's client retries too: c-ares tries each server
		 * once, quickly. A truncated answer goes back as it came (the
		 * client asks again over TCP, which goes upstream over TCP). */
		.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_IGNTC |
			 (tcp ? ARES_FLAG_USEVC | ARES_FLAG_STAYOPEN : 0),
		.timeout = 2000,
		.tries = 2,
	};

	int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;

#ifdef ARES_OPT_QUERY_CACHE
	/* c-ares 1.23 and later may answer from a cache of its own: every
	 * answer is to come from the upstream, with its TTL, through here. */
	o.qcache_max_ttl = 0;
	mask |= ARES_OPT_QUERY_CACHE;
#endif
	if (ares_init_options(ch, &o, mask) != ARES_SUCCESS)
		return -ENOMEM;
	if (cbpf_ares_set_servers(*ch, servers, n) != ARES_SUCCESS)
		return -EINVAL;
	return 0;
}

int cbpf_dnsfwd_start(struct cbpf_dnsfwd *f, const char *name, uint64_t cgroup_id,
		      const struct cbpf_dnsfwd_policy *p,
		      const uint8_t (*servers)[16], size_t nservers, int grace_s,
		      size_t max_learned)
{
	const char *what;
	int err;

	snprintf(f->name, sizeof(f->name), "%s", name);
	f->cgroup_id = cgroup_id;
	f->grace_s = grace_s;
	for (int i = 0; i < MAX_CONNS; i++)
		f->conns[i].fd = -1;
	if ((err = cbpf_dnsview_init(&f->view, max_learned)) ||
	    (err = cbpf_dnsview_set(&f->view, p->conf, p->hosts, p->nhosts)))
		return err;
	if ((err = cbpf_store_open(&f->store, false, &what)))
		return err;
	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
		return -ENOMEM;
	if ((err = new_channel(&f->udp_ch, false, servers, nservers)) ||
	    (err = new_channel(&f->tcp_ch, true, servers, nservers)))
		return err;
	if ((f->stop_fd = eventfd(0, EFD_CLOEXEC)) < 0)
		return -errno;
	if ((err = pthread_mutex_init(&f->lock, NULL)))
		return -err;
	f->pid = (long)getpid();
	if ((err = pthread_create(&f->thread, NULL, thread_main, f)))
		return -err;
	f->started = true;
	cbpf_info("policy '%s': DNS forwarder on %s, %zu upstream servers", name,
		  f->listen_text, nservers);
	return 0;
}

int cbpf_dnsfwd_keep(struct cbpf_store *s, const char *name, const struct cbpf_conf *conf,
		     uint64_t now_ns, struct cbpf_ruleset *rs)
{
	struct cbpf_ruleset old = { 0 };
	struct cbpf_dnsview v = { 0 };
	struct cbpf_policy p;
	uint64_t cg;
	int err = cbpf_store_find_policy(s, name, &cg, &p);

	if (err == -ENOENT || (!err && !(p.flags & CBPF_POLICY_DNS)))
		return 0;
	if (!err)
		err = cbpf_policy_read_rules(s, p.id, &old);
	if (!err)
		err = cbpf_dnsview_set(&v, conf, NULL, 0);
	/* A name's entries (grants have none): learned, or resolved. */
	for (size_t i = 0; i < old.n && !err; i++) {
		const struct cbpf_rule *r = &old.v[i].val;
		const char *host;
		uint32_t idx;

		if (r->action != CBPF_ACTION_ALLOW || !r->host || r->host > old.nhosts ||
		    r->expires_ns <= now_ns)
			continue;
		host = old.hosts[r->host - 1];
		if (!cbpf_dnsview_allowed(&v, host))
			continue;
		if (!(err = cbpf_ruleset_host(rs, host, &idx)))
			err = cbpf_dnsview_entries(&v, host, old.v[i].key.addr, idx, r->expires_ns,
						   rs);
	}
	if (!err)
		cbpf_ruleset_finish(rs);
	cbpf_dnsview_free(&v);
	cbpf_ruleset_free(&old);
	return err;
}

int cbpf_dnsfwd_reload(struct cbpf_dnsfwd *f, const struct cbpf_dnsfwd_policy *p,
		       struct cbpf_ruleset *rs,
		       int (*apply)(void *ctx, const struct cbpf_ruleset *rs), void *ctx)
{
	int err;

	pthread_mutex_lock(&f->lock);
	err = cbpf_dnsfwd_ruleset(f, rs);
	if (!err)
		err = cbpf_dnsview_reload(&f->view, p->conf, rs, cbpf_boottime_ns(), apply, ctx);
	pthread_mutex_unlock(&f->lock);
	return err;
}

void cbpf_dnsfwd_close(struct cbpf_dnsfwd *f)
{
	if (!f)
		return;
	if (f->started) {
		uint64_t one = 1;

		if (write(f->stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(f->thread, NULL);
		pthread_mutex_destroy(&f->lock);
		cbpf_runstate_file_remove(f->name, CBPF_RUNFILE_DNS);
	}
	if (f->udp_ch)
		ares_destroy(f->udp_ch);
	if (f->tcp_ch)
		ares_destroy(f->tcp_ch);
	for (int i = 0; i < MAX_CONNS; i++)
		if (f->conns[i].fd >= 0 && f->started)
			close(f->conns[i].fd);
	if (f->stop_fd >= 0)
		close(f->stop_fd);
	close_listeners(f);
	if (f->store.settings)
		cbpf_store_close(&f->store);
	cbpf_dnsview_free(&f->view);
	free(f);
}

int cbpf_dnsfwd_state_read(const char *name, struct cbpf_dnsfwd_state *st)
{
	char *text, *line, *save = NULL;

	memset(st, 0, sizeof(*st));
	if (!(text = cbpf_runstate_file_read(name, CBPF_RUNFILE_DNS)))
		return -errno;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		static const struct { const char *key; size_t off; } nums[] = {
#define F(x) { #x, offsetof(struct cbpf_dnsfwd_state, x) }
			F(pid), F(queries), F(answered), F(refused), F(failed), F(bound_refused),
			F(learned), F(max_learned), F(release_p50_ns), F(release_p99_ns),
#undef F
		};
		char *val = strchr(line, ' ');

		if (!val)
			continue;
		*val++ = '\0';
		if (!strcmp(line, "listen"))
			snprintf(st->listen, sizeof(st->listen), "%s", val);
		if (!strcmp(line, "bridge") && strcmp(val, "-"))
			snprintf(st->bridge, sizeof(st->bridge), "%s", val);
		for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
			if (!strcmp(line, nums[i].key))
				*(uint64_t *)((char *)st + nums[i].off) = strtoull(val, NULL, 10);
	}
	free(text);
	return 0;
}
