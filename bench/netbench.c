// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netbench: the clients and servers bench/run times. Clients measure with
 * CLOCK_MONOTONIC and print one line of key=value pairs; receivers count
 * what arrives, which is what the packet benchmarks report.
 * Exit status: 0 done, 1 denied (EPERM or EACCES), 2 other failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_DENIED = 1, EXIT_OTHER = 2 };

#define NS_PER_S        1000000000ull
#define BULK_CHUNK      (128 * 1024)
#define UDP_BATCH       64
#define UDP_RCVBUF      (32 * 1024 * 1024)
#define SINK_START_S    30      /* a receiver waits this long for a sender */
#define UDP_IDLE_MS     300     /* then stops this long after the last packet */
#define PROBE_TIMEOUT_MS 500

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void __attribute__((noreturn)) die(const char *what, int err)
{
	fprintf(stderr, "netbench: %s: %s%s\n", what, strerror(err),
		err == EPERM || err == EACCES ? " (denied)" : "");
	exit(err == EPERM || err == EACCES ? EXIT_DENIED : EXIT_OTHER);
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
		"usage: netbench serve-connect ADDR PORT [PORTS]\n"
		"       netbench connect ADDR PORT SECONDS [MAX [WARMUP [PORTS [ADDRS]]]]\n"
		"       netbench probe ADDR PORT\n"
		"       netbench tcp-sink ADDR PORT\n"
		"       netbench tcp-source ADDR PORT SECONDS\n"
		"       netbench udp-sink ADDR PORT\n"
		"       netbench udp-source ADDR PORT SECONDS [SIZE]\n"
		"       netbench dns-relay ADDR PORT UPSTREAM DELAY_MS\n"
		"       netbench bpf-stats\n");
	exit(EXIT_OTHER);
}

/* Strict positive decimal (with an optional fraction for seconds). */
static double parse_num(const char *s, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > max) {
		fprintf(stderr, "netbench: invalid number '%s'\n", s);
		exit(EXIT_OTHER);
	}
	return v;
}

/* The same, 0 allowed (a count that may be none). */
static double parse_count(const char *s, double max)
{
	return strcmp(s, "0") ? parse_num(s, max) : 0;
}

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
	int family;
};

static void parse_addr(const char *host, const char *port, struct addr *a)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;
	uint16_t p = (uint16_t)parse_num(port, 65535);

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(p);
		a->len = sizeof(*in);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(p);
		a->len = sizeof(*in6);
	} else {
		fprintf(stderr, "netbench: invalid address '%s'\n", host);
		exit(EXIT_OTHER);
	}
	a->family = a->ss.ss_family;
}

static int new_socket(const struct addr *a, int type)
{
	int fd = socket(a->family, type | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket", errno);
	return fd;
}

static int listen_on(const struct addr *a, int type)
{
	int fd = new_socket(a, type), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len))
		die("bind", errno);
	if (type == SOCK_STREAM && listen(fd, 4096))
		die("listen", errno);
	return fd;
}

/* Tells bench/run that the server listens. */
static void ready(void)
{
	printf("ready\n");
	fflush(stdout);
}

/* Waits up to `ms` for `fd` to become readable; false on timeout. */
static bool wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		die("poll", errno);
	return r > 0;
}

/* The destination's port number. */
static void set_port(struct addr *a, uint16_t port)
{
	if (a->family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
}

static uint16_t get_port(const struct addr *a)
{
	return ntohs(a->family == AF_INET ? ((const struct sockaddr_in *)&a->ss)->sin_port
					  : ((const struct sockaddr_in6 *)&a->ss)->sin6_port);
}

/* The far end of the connect benchmark, on `ports` ports from the address's
 * own: accept and close at once, so the client's round trip is connect,
 * accept, close. */
static int serve_connect(struct addr *a, unsigned ports)
{
	uint16_t first = get_port(a);
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		die("epoll_create1", errno);
	for (unsigned i = 0; i < ports; i++) {
		struct epoll_event ev = { .events = EPOLLIN };

		set_port(a, (uint16_t)(first + i));
		ev.data.fd = listen_on(a, SOCK_STREAM);
		if (epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev))
			die("epoll_ctl", errno);
	}
	ready();
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, -1);

		if (n < 0 && errno != EINTR)
			die("epoll_wait", errno);
		for (int i = 0; i < n; i++) {
			int fd = accept4(evs[i].data.fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0)
				close(fd);
			else if (errno != EINTR && errno != ECONNABORTED && errno != EMFILE)
				die("accept", errno);
		}
	}
}

/* One round trip: socket, connect, wait for the server's close, close. */
static void one_connection(const struct addr *a)
{
	int fd = new_socket(a, SOCK_STREAM);
	char c;
	ssize_t n;

	if (connect(fd, (const struct sockaddr *)&a->ss, a->len))
		die("connect", errno);
	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno != ECONNRESET)
		die("read", errno);
	close(fd);
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/* Value at quantile q of sorted v[0..n) (nearest rank). */
static uint64_t quantile(const uint64_t *v, size_t n, double q)
{
	size_t i = (size_t)(q * (double)n);

	return v[i < n ? i : n - 1];
}

/* The last 32 bits of an address (all of an IPv4 one), host order, and a
 * pointer to where they are. */
static uint32_t *low32(struct addr *a)
{
	if (a->family == AF_INET)
		return &((struct sockaddr_in *)&a->ss)->sin_addr.s_addr;
	return (uint32_t *)(void *)&((struct sockaddr_in6 *)&a->ss)->sin6_addr.s6_addr[12];
}

/* The i-th destination of the connect benchmark: port `first` + i mod
 * `ports`, and the address `i mod addrs` after the base's (its last 32
 * bits counted up). */
static void nth_dest(const struct addr *base, uint16_t first, unsigned ports,
		     unsigned addrs, size_t i, struct addr *out)
{
	uint32_t *low;

	*out = *base;
	set_port(out, (uint16_t)(first + i % ports));
	low = low32(out);
	*low = htonl(ntohl(*low) + (uint32_t)(i % addrs));
}

/* Connections one after the other to `ports` ports from the address's own
 * and to `addrs` addresses from it (each a destination of its own, so a
 * filter that keeps decisions per destination sees a new one each time
 * when there are more than it keeps), in turn. */
static int bench_connect(struct addr *a, double seconds, size_t max,
			 size_t warmup, unsigned ports, unsigned addrs)
{
	uint16_t first = get_port(a);
	uint64_t *lat = malloc(max * sizeof(*lat));
	uint64_t start, end, deadline;
	struct addr d;
	size_t n = 0;

	if (!lat)
		die("malloc", ENOMEM);
	if (ntohl(*low32(a)) > UINT32_MAX - addrs) {
		fprintf(stderr, "netbench: %u addresses from the one given overflow it\n", addrs);
		exit(EXIT_OTHER);
	}
	/* Warm-up: caches, conntrack, the listener's first accepts; at most a
	 * fifth of the time. */
	deadline = now_ns() + (uint64_t)(seconds * 0.2 * NS_PER_S);
	for (size_t i = 0; i < warmup && now_ns() < deadline; i++) {
		nth_dest(a, first, ports, addrs, i, &d);
		one_connection(&d);
	}

	start = now_ns();
	deadline = start + (uint64_t)(seconds * NS_PER_S);
	end = start;
	while (n < max && end < deadline) {
		uint64_t t0 = end;

		nth_dest(a, first, ports, addrs, n, &d);
		one_connection(&d);
		end = now_ns();
		lat[n++] = end - t0;
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("count=%zu seconds=%.6f rate=%.1f median_us=%.3f p99_us=%.3f\n", n,
	       (double)(end - start) / NS_PER_S,
	       (double)n * NS_PER_S / (double)(end - start),
	       (double)quantile(lat, n, 0.5) / 1000, (double)quantile(lat, n, 0.99) / 1000);
	free(lat);
	return 0;
}

/* One connection attempt with a time limit, for the set-up checks. Prints
 * what happened: connected, denied (EPERM: a BPF verdict), refused (nothing
 * listens) or timeout (a firewall dropped the SYN: netfilter's EPERM does
 * not reach connect(), the SYN is just sent again). */
static int probe(const struct addr *a)
{
	int fd = new_socket(a, SOCK_STREAM | SOCK_NONBLOCK), err = 0;
	socklen_t len = sizeof(err);
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	if (connect(fd, (const struct sockaddr *)&a->ss, a->len))
		err = errno;
	if (err == EINPROGRESS) {
		err = 0;
		if (poll(&p, 1, PROBE_TIMEOUT_MS) <= 0)
			err = ETIMEDOUT;
		else
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	}
	close(fd);
	printf("%s\n", !err ? "connected" : err == EPERM || err == EACCES ? "denied" :
	       err == ECONNREFUSED ? "refused" : err == ETIMEDOUT ? "timeout" :
	       strerror(err));
	return 0;
}

/* Receives one TCP stream and reports what arrived, timed from the first
 * byte to the end of the stream. */
static int tcp_sink(const struct addr *a)
{
	static char buf[4 * BULK_CHUNK];
	int lfd = listen_on(a, SOCK_STREAM), fd;
	uint64_t bytes = 0, first = 0, last = 0;
	ssize_t n;

	ready();
	if (!wait_readable(lfd, SINK_START_S * 1000)) {
		fprintf(stderr, "netbench: tcp-sink: no sender came\n");
		return EXIT_OTHER;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		die("accept", errno);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("read", errno);
		}
		last = now_ns();
		if (!first)
			first = last;
		bytes += (uint64_t)n;
	}
	close(fd);
	if (last <= first) {
		fprintf(stderr, "netbench: tcp-sink: nothing arrived\n");
		return EXIT_OTHER;
	}
	printf("bytes=%llu seconds=%.6f mbit=%.1f\n", (unsigned long long)bytes,
	       (double)(last - first) / NS_PER_S,
	       (double)bytes * 8 * 1000 / (double)(last - first));
	return 0;
}

/* Sends one TCP stream for `seconds`, then waits for the receiver to have
 * read it all (its close). */
static int tcp_source(const struct addr *a, double seconds)
{
	static char buf[BULK_CHUNK];
	int fd = new_socket(a, SOCK_STREAM);
	uint64_t start, deadline, bytes = 0;
	char c;

	memset(buf, 'x', sizeof(buf));
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len))
		die("connect", errno);
	start = now_ns();
	deadline = start + (uint64_t)(seconds * NS_PER_S);
	while (now_ns() < deadline) {
		ssize_t n = write(fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("write", errno);
		}
		bytes += (uint64_t)n;
	}
	shutdown(fd, SHUT_WR);
	while (read(fd, &c, 1) > 0)
		;
	close(fd);
	printf("bytes=%llu seconds=%.6f\n", (unsigned long long)bytes,
	       (double)(now_ns() - start) / NS_PER_S);
	return 0;
}

/* Counts datagrams from the first until UDP_IDLE_MS pass without one. */
static int udp_sink(const struct addr *a)
{
	static char bufs[256][2048];
	struct mmsghdr msgs[256];
	struct iovec iov[256];
	int fd = listen_on(a, SOCK_DGRAM), size = UDP_RCVBUF;
	uint64_t count = 0, first = 0, last = 0;

	/* Room for bursts, so the receiver is not what limits the rate. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	for (int i = 0; i < 256; i++) {
		iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = sizeof(bufs[i]) };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	ready();
	while (wait_readable(fd, count ? UDP_IDLE_MS : SINK_START_S * 1000)) {
		int n = recvmmsg(fd, msgs, 256, MSG_DONTWAIT, NULL);

		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("recvmmsg", errno);
		}
		last = now_ns();
		if (!first)
			first = last;
		count += (uint64_t)n;
	}
	if (count < 2 || last <= first) {
		fprintf(stderr, "netbench: udp-sink: %llu datagrams arrived\n",
			(unsigned long long)count);
		return EXIT_OTHER;
	}
	printf("packets=%llu seconds=%.6f pps=%.1f\n", (unsigned long long)count,
	       (double)(last - first) / NS_PER_S,
	       (double)count * NS_PER_S / (double)(last - first));
	return 0;
}

/* Unconnected datagrams (each send passes the sendmsg hook), in batches. */
static int udp_source(const struct addr *a, double seconds, size_t size)
{
	static char buf[1472];
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	int fd = new_socket(a, SOCK_DGRAM);
	uint64_t start, deadline, sent = 0, dropped = 0;

	memset(buf, 'x', sizeof(buf));
	for (int i = 0; i < UDP_BATCH; i++)
		msgs[i] = (struct mmsghdr){ .msg_hdr = {
			.msg_name = (void *)&a->ss, .msg_namelen = a->len,
			.msg_iov = &iov, .msg_iovlen = 1 } };
	start = now_ns();
	deadline = start + (uint64_t)(seconds * NS_PER_S);
	while (now_ns() < deadline) {
		int n = sendmmsg(fd, msgs, UDP_BATCH, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS || errno == EAGAIN) {
				dropped++;
				continue;
			}
			die("sendmmsg", errno);
		}
		sent += (uint64_t)n;
	}
	close(fd);
	printf("packets=%llu seconds=%.6f send_errors=%llu\n", (unsigned long long)sent,
	       (double)(now_ns() - start) / NS_PER_S, (unsigned long long)dropped);
	return 0;
}

/* A DNS server DELAY_MS away: relays each query to UPSTREAM port 53 at
 * once and its answer back DELAY_MS later (a resolver's round trip, which a
 * local dnsmasq does not have). IDs are rewritten so that clients' queries
 * cannot collide upstream. */
#define RELAY_QUEUE 8192

struct relay_slot {
	struct sockaddr_storage from;
	socklen_t fromlen;
	uint16_t id;
	bool used;
};

struct relay_reply {
	uint64_t due;
	struct sockaddr_storage to;
	socklen_t tolen;
	uint16_t len;
	unsigned char buf[512];
};

static int dns_relay(const struct addr *a, const char *upstream, double delay_ms)
{
	static struct relay_slot slots[65536];
	static struct relay_reply queue[RELAY_QUEUE];
	size_t head = 0, tail = 0;
	uint16_t next_id = 0;
	struct addr up;
	int cfd = listen_on(a, SOCK_DGRAM), ufd, size = UDP_RCVBUF;
	uint64_t delay = (uint64_t)(delay_ms * 1e6);

	parse_addr(upstream, "53", &up);
	ufd = new_socket(&up, SOCK_DGRAM);
	if (connect(ufd, (const struct sockaddr *)&up.ss, up.len))
		die("connect", errno);
	setsockopt(cfd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	setsockopt(ufd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	ready();
	for (;;) {
		struct pollfd p[2] = { { .fd = cfd, .events = POLLIN }, { .fd = ufd, .events = POLLIN } };
		uint64_t now = now_ns();
		int timeout = -1;
		unsigned char buf[512];
		ssize_t n;

		/* Answers whose time has come. */
		while (head != tail && queue[head % RELAY_QUEUE].due <= now) {
			struct relay_reply *r = &queue[head++ % RELAY_QUEUE];

			sendto(cfd, r->buf, r->len, 0, (struct sockaddr *)&r->to, r->tolen);
		}
		if (head != tail)
			timeout = (int)((queue[head % RELAY_QUEUE].due - now) / 1000000) + 1;
		if (poll(p, 2, timeout) < 0 && errno != EINTR)
			die("poll", errno);
		if (p[0].revents & POLLIN) {
			struct relay_slot *sl = &slots[next_id];

			sl->fromlen = sizeof(sl->from);
			n = recvfrom(cfd, buf, sizeof(buf), MSG_DONTWAIT,
				     (struct sockaddr *)&sl->from, &sl->fromlen);
			if (n >= 12) {
				memcpy(&sl->id, buf, 2);
				sl->used = true;
				memcpy(buf, &next_id, 2);
				next_id++;
				send(ufd, buf, (size_t)n, 0);
			}
		}
		if (p[1].revents & POLLIN) {
			uint16_t id;

			n = recv(ufd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n < 12)
				continue;
			memcpy(&id, buf, 2);
			if (!slots[id].used || tail - head >= RELAY_QUEUE)
				continue;
			struct relay_reply *r = &queue[tail++ % RELAY_QUEUE];

			slots[id].used = false;
			memcpy(buf, &slots[id].id, 2);
			r->due = now_ns() + delay;
			r->to = slots[id].from;
			r->tolen = slots[id].fromlen;
			r->len = (uint16_t)n;
			memcpy(r->buf, buf, (size_t)n);
		}
	}
}

/* Turns on the kernel's run time statistics of BPF programs (run_time_ns,
 * run_cnt) for as long as it runs: they go off again when the last holder
 * of such a file descriptor is gone, however this process ends. */
static int bpf_stats(void)
{
	union bpf_attr attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.enable_stats.type = BPF_STATS_RUN_TIME;
	fd = (int)syscall(SYS_bpf, BPF_ENABLE_STATS, &attr, sizeof(attr));
	if (fd < 0)
		die("bpf(BPF_ENABLE_STATS)", errno);
	ready();
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	struct addr a;
	const char *cmd;

	if (argc == 2 && !strcmp(argv[1], "bpf-stats"))
		return bpf_stats();
	if (argc < 4)
		usage();
	cmd = argv[1];
	parse_addr(argv[2], argv[3], &a);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "serve-connect") && (argc == 4 || argc == 5))
		return serve_connect(&a, argc > 4 ? (unsigned)parse_num(argv[4], 65535) : 1);
	if (!strcmp(cmd, "connect") && argc >= 5 && argc <= 9)
		return bench_connect(&a, parse_num(argv[4], 3600),
				     argc > 5 ? (size_t)parse_num(argv[5], 1e8) : 10000000,
				     argc > 6 ? (size_t)parse_count(argv[6], 1e8) : 200,
				     argc > 7 ? (unsigned)parse_num(argv[7], 65535) : 1,
				     argc > 8 ? (unsigned)parse_num(argv[8], 65535) : 1);
	if (!strcmp(cmd, "probe") && argc == 4)
		return probe(&a);
	if (!strcmp(cmd, "tcp-sink") && argc == 4)
		return tcp_sink(&a);
	if (!strcmp(cmd, "tcp-source") && argc == 5)
		return tcp_source(&a, parse_num(argv[4], 3600));
	if (!strcmp(cmd, "udp-sink") && argc == 4)
		return udp_sink(&a);
	if (!strcmp(cmd, "dns-relay") && argc == 6)
		return dns_relay(&a, argv[4], parse_num(argv[5], 10000));
	if (!strcmp(cmd, "udp-source") && (argc == 5 || argc == 6))
		return udp_source(&a, parse_num(argv[4], 3600),
				  argc > 5 ? (size_t)parse_num(argv[5], 1472) : 64);
	usage();
}
