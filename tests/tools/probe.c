// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* probe: the client and server the integration tests send traffic with.
 * Each client subcommand tries one thing and says by its exit code what
 * happened: 0 done, 1 denied (EPERM or EACCES), 2 other failure, 3 timeout. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "core/families.h"
#include "core/leak.h"

enum {
	EXIT_OK      = 0,
	EXIT_DENIED  = 1,
	EXIT_OTHER   = 2,
	EXIT_TIMEOUT = 3,
	EXIT_SOME_FAILED = 1,   /* resolve-connect: not every try succeeded */
};

#define CONNECT_TIMEOUT_MS 3000
#define REPLY_TIMEOUT_MS   2000
#define RESOLVE_CONNECT_TIMEOUT_MS 2000
#define SERVER_READ_TIMEOUT_S 5

static const char *prog_what = "probe";

static const char *errno_name(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "unknown errno";
}

/* Reports a failed call and exits with the code its errno stands for. */
static void __attribute__((noreturn)) die_errno(const char *call, int err)
{
	if (err == EPERM || err == EACCES) {
		fprintf(stderr, "%s: %s: %s (denied)\n", prog_what, call,
			errno_name(err));
		exit(EXIT_DENIED);
	}
	if (err == ETIMEDOUT) {
		fprintf(stderr, "%s: %s: %s (timeout)\n", prog_what, call,
			errno_name(err));
		exit(EXIT_TIMEOUT);
	}
	fprintf(stderr, "%s: %s: %s (%s)\n", prog_what, call, errno_name(err),
		strerror(err));
	exit(EXIT_OTHER);
}

static void __attribute__((noreturn)) die_timeout(const char *what)
{
	fprintf(stderr, "%s: timeout %s\n", prog_what, what);
	exit(EXIT_TIMEOUT);
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
		"usage: probe tcp ADDR PORT [PAYLOAD]\n"
		"       probe tcp-fastopen ADDR PORT PAYLOAD\n"
		"       probe udp-sendto ADDR PORT PAYLOAD\n"
		"       probe udp-connect ADDR PORT PAYLOAD\n"
		"       probe sctp ADDR PORT PAYLOAD   (one-to-many: sendto, no connect)\n"
		"       probe raw ADDR\n"
		"       probe ping ADDR\n"
		"       probe socket FAMILY          (AF_VSOCK, AF_PACKET, ... or a number)\n"
		"       probe dns SERVER NAME A|AAAA\n"
		"       probe resolve-connect SERVER NAME A|AAAA udp|tcp PORT COUNT (1: some failed)\n"
		"       probe listen tcp|udp|sctp ADDR PORT LOGFILE\n"
		"       probe matrix [--port N] [--other ADDR PORT] [--no-loopback] [--dns-forward] TARGET...\n"
		"       probe pass-socket ADDR PORT PAYLOAD\n"
		"       probe stream tcp|udp-sendto|udp-connect ADDR PORT PAYLOAD GOFILE [GOFILE]\n"
		"       probe bpf\n"
		"exit: 0 ok, 1 denied (EPERM/EACCES), 2 other failure, 3 timeout\n");
	exit(EXIT_OTHER);
}

struct target {
	struct sockaddr_storage ss;
	socklen_t len;
	int family;
};

static unsigned long parse_number(const char *what, const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || s[0] == '-' || v > max) {
		fprintf(stderr, "probe: invalid %s '%s'\n", what, s);
		exit(EXIT_OTHER);
	}
	return v;
}

/* t from an address of family in network byte order (4 or 16 bytes). */
static void set_target(struct target *t, int family, const void *addr, uint16_t port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&t->ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&t->ss;

	memset(t, 0, sizeof(*t));
	t->family = family;
	if (family == AF_INET) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, addr, 4);
		t->len = sizeof(*s4);
	} else {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, addr, 16);
		t->len = sizeof(*s6);
	}
}

/* IPv4 literals go through AF_INET, everything else (v4-mapped included)
 * through AF_INET6. */
static void parse_target(const char *addr, const char *port, struct target *t)
{
	uint16_t p = port ? (uint16_t)parse_number("port", port, 65535) : 0;
	uint8_t a[16];

	if (inet_pton(AF_INET, addr, a) == 1) {
		set_target(t, AF_INET, a, p);
	} else if (inet_pton(AF_INET6, addr, a) == 1) {
		set_target(t, AF_INET6, a, p);
	} else {
		fprintf(stderr, "probe: invalid address '%s'\n", addr);
		exit(EXIT_OTHER);
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline (CLOCK_MONOTONIC ms); false on
 * timeout. */
static bool wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd pfd = { .fd = fd, .events = events };
		int n;

		if (left <= 0)
			return false;
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return true;
		if (n < 0 && errno != EINTR)
			die_errno("poll", errno);
	}
}

/* The try_ helpers return -errno (-ETIMEDOUT at the deadline) where their
 * twins without it exit: resolve-connect counts failures and goes on. */

/* socket() with SOCK_CLOEXEC: the fd, or -errno. */
static int try_socket(int family, int type, int proto)
{
	int fd = socket(family, type | SOCK_CLOEXEC, proto);

	return fd < 0 ? -errno : fd;
}

static int open_socket(int family, int type, int proto)
{
	int fd = try_socket(family, type, proto);

	if (fd < 0)
		die_errno("socket", -fd);
	return fd;
}

/* A TCP client socket that is reset when it is closed or the probe exits
 * (SO_LINGER 0): a connection the policy cut off is not left behind
 * retransmitting into the egress program for minutes, each attempt a
 * denial event that a later test would take for its own. */
static int try_tcp(int family, int flags)
{
	struct linger reset = { .l_onoff = 1, .l_linger = 0 };
	int fd = try_socket(family, SOCK_STREAM | flags, 0);

	if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset))) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

static int open_tcp(int family, int flags)
{
	int fd = try_tcp(family, flags);

	if (fd < 0)
		die_errno("socket", -fd);
	return fd;
}

/* Waits for a non-blocking connect to finish: 0 or -errno. */
static int try_finish_connect(int fd, int64_t deadline)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (!wait_fd(fd, POLLOUT, deadline))
		return -ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return -err;
}

/* Connects the non-blocking socket fd to t: 0 or -errno. */
static int try_connect(int fd, const struct target *t, int64_t deadline)
{
	if (!connect(fd, (const struct sockaddr *)&t->ss, t->len))
		return 0;
	return errno == EINPROGRESS ? try_finish_connect(fd, deadline) : -errno;
}

/* Exits when a connect failed. */
static void check_connect(int rc)
{
	if (rc == -ETIMEDOUT)
		die_timeout("connecting");
	if (rc)
		die_errno("connect", -rc);
}

/* Sends all of buf: 0 or -errno. */
static int try_send_all(int fd, const void *buf, size_t len, int64_t deadline)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (!wait_fd(fd, POLLOUT, deadline))
				return -ETIMEDOUT;
			continue;
		}
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	int rc = try_send_all(fd, buf, len, deadline);

	if (rc == -ETIMEDOUT)
		die_timeout("sending");
	if (rc)
		die_errno("send", -rc);
}

/* Reads exactly len bytes: 0 or -errno, -ECONNRESET when the peer closes
 * first. */
static int try_recv_all(int fd, void *buf, size_t len, int64_t deadline)
{
	char *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (!wait_fd(fd, POLLIN, deadline))
				return -ETIMEDOUT;
			continue;
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Ends a TCP exchange: no more data from us, then wait until the server has
 * read everything and closed, so the payload is in its log when we exit. */
static void finish_tcp(int fd, int64_t deadline)
{
	char buf[256];

	if (shutdown(fd, SHUT_WR) < 0)
		die_errno("shutdown", errno);
	for (;;) {
		ssize_t n;

		if (!wait_fd(fd, POLLIN, deadline))
			die_timeout("waiting for the server to close");
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0)
			return;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			die_errno("recv", errno);
	}
}

static int cmd_tcp(const char *addr, const char *port, const char *payload)
{
	struct target t;
	int fd;
	int64_t deadline = now_ms() + CONNECT_TIMEOUT_MS;

	parse_target(addr, port, &t);
	fd = open_tcp(t.family, SOCK_NONBLOCK);
	check_connect(try_connect(fd, &t, deadline));
	deadline = now_ms() + CONNECT_TIMEOUT_MS;
	if (payload)
		send_all(fd, payload, strlen(payload), deadline);
	finish_tcp(fd, deadline);
	fprintf(stderr, "%s: connected, sent %zu bytes\n", prog_what,
		payload ? strlen(payload) : 0);
	close(fd);
	return EXIT_OK;
}

static int cmd_tcp_fastopen(const char *addr, const char *port,
			    const char *payload)
{
	struct target t;
	size_t len = strlen(payload);
	ssize_t n;
	int fd;
	int64_t deadline = now_ms() + CONNECT_TIMEOUT_MS;

	parse_target(addr, port, &t);
	fd = open_tcp(t.family, SOCK_NONBLOCK);
	/* Without a cookie the kernel sends a plain SYN and answers
	 * EINPROGRESS; with one the payload rides in the SYN. */
	n = sendto(fd, payload, len, MSG_FASTOPEN | MSG_NOSIGNAL,
		   (struct sockaddr *)&t.ss, t.len);
	if (n < 0) {
		if (errno != EINPROGRESS)
			die_errno("sendto(MSG_FASTOPEN)", errno);
		check_connect(try_finish_connect(fd, deadline));
		n = 0;
	}
	deadline = now_ms() + CONNECT_TIMEOUT_MS;
	send_all(fd, payload + n, len - (size_t)n, deadline);
	finish_tcp(fd, deadline);
	fprintf(stderr, "%s: fast open connection, sent %zu bytes (%zd in the SYN)\n",
		prog_what, len, n);
	close(fd);
	return EXIT_OK;
}

static int cmd_udp(const char *addr, const char *port, const char *payload,
		   bool connected)
{
	struct target t;
	size_t len = strlen(payload);
	ssize_t n;
	int fd;

	parse_target(addr, port, &t);
	fd = open_socket(t.family, SOCK_DGRAM, 0);
	if (connected) {
		if (connect(fd, (struct sockaddr *)&t.ss, t.len) < 0)
			die_errno("connect", errno);
		n = send(fd, payload, len, 0);
		if (n < 0)
			die_errno("send", errno);
	} else {
		n = sendto(fd, payload, len, 0, (struct sockaddr *)&t.ss, t.len);
		if (n < 0)
			die_errno("sendto", errno);
	}
	fprintf(stderr, "%s: sent %zd bytes\n", prog_what, n);
	close(fd);
	return EXIT_OK;
}

/* One-to-many SCTP: sendto() starts the association itself, so no
 * connect hook runs and only the egress program sees its packets. When
 * they are dropped the send times out (exit 3) rather than being refused:
 * the listener is the witness. */
static int cmd_sctp(const char *addr, const char *port, const char *payload)
{
	struct target t;
	ssize_t n;
	int fd;

	struct timeval tv = { .tv_sec = CONNECT_TIMEOUT_MS / 1000 };

	parse_target(addr, port, &t);
	fd = open_socket(t.family, SOCK_SEQPACKET, IPPROTO_SCTP);
	/* The send waits for the association: bounded, as connect is. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	n = sendto(fd, payload, strlen(payload), 0, (struct sockaddr *)&t.ss, t.len);
	if (n < 0)
		die_errno("sendto", errno == EAGAIN || errno == EINPROGRESS ? ETIMEDOUT : errno);
	fprintf(stderr, "%s: queued %zd bytes\n", prog_what, n);
	close(fd);   /* a graceful shutdown: what is queued still goes */
	return EXIT_OK;
}

/* Is buf (as a socket of this kind delivers it) the echo reply we wait
 * for? Raw IPv4 sockets deliver the IP header too; ping sockets rewrite the
 * identifier, so only the sequence number is compared there. */
static bool is_echo_reply(const uint8_t *buf, size_t len, int family, bool raw,
			  uint16_t id, uint16_t seq)
{
	if (family == AF_INET && raw) {
		size_t ihl;

		if (len < sizeof(struct ip))
			return false;
		ihl = (size_t)(buf[0] & 0x0f) * 4;
		if (len < ihl + 8)
			return false;
		buf += ihl;
		len -= ihl;
	}
	if (len < 8)
		return false;
	if (buf[0] != (family == AF_INET ? ICMP_ECHOREPLY : ICMP6_ECHO_REPLY))
		return false;
	if (raw && memcmp(buf + 4, &id, 2))
		return false;
	return !memcmp(buf + 6, &seq, 2);
}

/* One echo request, then wait for the reply. raw: SOCK_RAW, else a ping
 * socket (SOCK_DGRAM). */
static int cmd_echo(const char *addr, bool raw)
{
	struct target t;
	uint8_t req[64] = { 0 }, buf[1500];
	uint16_t id = htons((uint16_t)(getpid() & 0xffff)), seq = htons(1);
	int64_t deadline;
	int fd;

	parse_target(addr, NULL, &t);
	fd = open_socket(t.family, (raw ? SOCK_RAW : SOCK_DGRAM) | SOCK_NONBLOCK,
			 t.family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
	req[0] = t.family == AF_INET ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
	memcpy(req + 4, &id, 2);
	memcpy(req + 6, &seq, 2);
	memcpy(req + 8, "claude-bpf probe", 16);
	/* The kernel sums ICMPv6 and ping sockets itself; raw IPv4 is ours. */
	if (t.family == AF_INET && raw) {
		uint16_t sum = cbpf_inet_csum(req, sizeof(req));

		memcpy(req + 2, &sum, 2);
	}
	if (sendto(fd, req, sizeof(req), 0, (struct sockaddr *)&t.ss, t.len) < 0)
		die_errno("sendto", errno);
	deadline = now_ms() + REPLY_TIMEOUT_MS;
	for (;;) {
		ssize_t n;

		if (!wait_fd(fd, POLLIN, deadline))
			die_timeout("waiting for the echo reply");
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			die_errno("recv", errno);
		if (is_echo_reply(buf, (size_t)n, t.family, raw, id, seq))
			break;
	}
	fprintf(stderr, "%s: echo reply received\n", prog_what);
	close(fd);
	return EXIT_OK;
}

/* socket() of FAMILY ("AF_VSOCK" or a number), of every type: exit 0 when
 * one is made, 1 when every type is refused (the family's own error shown;
 * the system-call filter of run and exec says EAFNOSUPPORT). */
static int cmd_socket(const char *name)
{
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_RAW };
	int family = -1, err = 0;
	char *end;

	for (int f = 0; f < CBPF_FAMILY_LIMIT; f++)
		if (!strcmp(name, cbpf_family_name(f)))
			family = f;
	if (family < 0) {
		family = (int)strtol(name, &end, 10);
		if (*end || end == name || family < 0) {
			fprintf(stderr, "probe: unknown socket family '%s'\n", name);
			exit(EXIT_OTHER);
		}
	}
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		int fd = socket(family, types[i] | SOCK_CLOEXEC, 0);

		if (fd >= 0) {
			fprintf(stderr, "%s: made (type %d)\n", prog_what, types[i]);
			close(fd);
			return EXIT_OK;
		}
		if (!err || err == ESOCKTNOSUPPORT || err == EPROTONOSUPPORT ||
		    err == EPROTOTYPE || err == EINVAL)
			err = errno;
	}
	fprintf(stderr, "%s: refused: %s (%s)\n", prog_what, errno_name(err), strerror(err));
	return EXIT_DENIED;
}

/* The probe's own small DNS client: no resolver library, so that the
 * static probe runs in an image without one. */
#define DNS_TYPE_A     1
#define DNS_TYPE_AAAA  28
#define DNS_QUERY_MAX  512
#define DNS_ANSWER_MAX 4096
#define DNS_ADDRS_MAX  64

static uint16_t dns_type(const char *type)
{
	if (!strcmp(type, "A"))
		return DNS_TYPE_A;
	if (!strcmp(type, "AAAA"))
		return DNS_TYPE_AAAA;
	usage();
}

/* Writes a query for name and qtype (class IN, recursion desired) to q:
 * its length, or 0 when name is no DNS name. */
static size_t dns_query(uint8_t *q, size_t cap, uint16_t id, const char *name,
			uint16_t qtype)
{
	size_t qlen = 12;
	const char *label = name;

	if (cap < qlen + 5)
		return 0;
	memset(q, 0, qlen);
	q[0] = (uint8_t)(id >> 8);
	q[1] = (uint8_t)id;
	q[2] = 0x01;                /* recursion desired */
	q[5] = 1;                   /* one question */
	while (*label) {
		const char *dot = strchr(label, '.');
		size_t l = dot ? (size_t)(dot - label) : strlen(label);

		if (l == 0 || l > 63 || qlen + l + 6 > cap)
			return 0;
		q[qlen++] = (uint8_t)l;
		memcpy(q + qlen, label, l);
		qlen += l;
		label += l + (dot ? 1 : 0);
	}
	q[qlen++] = 0;
	q[qlen++] = (uint8_t)(qtype >> 8);
	q[qlen++] = (uint8_t)qtype;
	q[qlen++] = 0;
	q[qlen++] = 1;              /* class IN */
	return qlen;
}

/* Is r a response with the id of query q? */
static bool dns_is_answer(const uint8_t *r, size_t n, const uint8_t *q)
{
	return n >= 12 && !memcmp(r, q, 2) && (r[2] & 0x80);
}

static int dns_rcode(const uint8_t *r)
{
	return r[3] & 0x0f;
}

static ssize_t dns_ask_udp(int fd, const struct target *server, const uint8_t *q,
			   size_t qlen, uint8_t *r, size_t cap, int64_t deadline,
			   const char **call)
{
	*call = "sendto";
	if (sendto(fd, q, qlen, 0, (const struct sockaddr *)&server->ss, server->len) < 0)
		return -errno;
	*call = "recv";
	for (;;) {
		ssize_t n;

		if (!wait_fd(fd, POLLIN, deadline))
			return -ETIMEDOUT;
		n = recv(fd, r, cap, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		if (dns_is_answer(r, (size_t)n, q))
			return n;
	}
}

/* Over TCP each message has its length before it, in two bytes. */
static ssize_t dns_ask_tcp(int fd, const struct target *server, const uint8_t *q,
			   size_t qlen, uint8_t *r, size_t cap, int64_t deadline,
			   const char **call)
{
	uint8_t msg[2 + DNS_QUERY_MAX];
	size_t n;
	int rc;

	if (qlen > DNS_QUERY_MAX)
		return -EMSGSIZE;
	msg[0] = (uint8_t)(qlen >> 8);
	msg[1] = (uint8_t)qlen;
	memcpy(msg + 2, q, qlen);
	*call = "connect";
	if ((rc = try_connect(fd, server, deadline)))
		return rc;
	*call = "send";
	if ((rc = try_send_all(fd, msg, 2 + qlen, deadline)))
		return rc;
	*call = "recv";
	if ((rc = try_recv_all(fd, msg, 2, deadline)))
		return rc;
	n = (size_t)msg[0] << 8 | msg[1];
	if (n > cap)
		return -EMSGSIZE;
	if ((rc = try_recv_all(fd, r, n, deadline)))
		return rc;
	return (ssize_t)n;
}

/* Asks server (its port set) query q over UDP or TCP and reads the answer
 * to it into r: its length (a header at least), or -errno (-ETIMEDOUT
 * after REPLY_TIMEOUT_MS); *call names the step that failed. */
static ssize_t dns_ask(const struct target *server, bool tcp, const uint8_t *q,
		       size_t qlen, uint8_t *r, size_t cap, const char **call)
{
	int64_t deadline = now_ms() + REPLY_TIMEOUT_MS;
	int fd = tcp ? try_tcp(server->family, SOCK_NONBLOCK)
		     : try_socket(server->family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	ssize_t n;

	/* Never read unset, whatever path the static analyser imagines. */
	memset(r, 0, cap);
	*call = "socket";
	if (fd < 0)
		return fd;
	n = tcp ? dns_ask_tcp(fd, server, q, qlen, r, cap, deadline, call)
		: dns_ask_udp(fd, server, q, qlen, r, cap, deadline, call);
	close(fd);
	if (n >= 0 && !dns_is_answer(r, (size_t)n, q))
		return -EBADMSG;
	return n;
}

/* Skips a (possibly compressed) DNS name; returns the offset after it or
 * 0 when it runs past the message. */
static size_t dns_skip_name(const uint8_t *m, size_t len, size_t off)
{
	while (off < len) {
		uint8_t l = m[off];

		if (l == 0)
			return off + 1;
		if ((l & 0xc0) == 0xc0)
			return off + 2 <= len ? off + 2 : 0;
		off += 1 + (size_t)l;
	}
	return 0;
}

/* The addresses of the qtype records in the answer section of r, with
 * port, into out (max at most): how many. A CNAME chain is not followed:
 * every address record counts, whoever owns it. */
static int dns_addrs(const uint8_t *r, size_t n, uint16_t qtype, uint16_t port,
		     struct target *out, int max)
{
	int answers = r[6] << 8 | r[7], found = 0;
	size_t off = dns_skip_name(r, n, 12);

	off = off ? off + 4 : 0;    /* qtype, qclass */
	for (int i = 0; i < answers && found < max && off && off < n; i++) {
		size_t rdlen;
		uint16_t rtype;

		off = dns_skip_name(r, n, off);
		if (!off || off + 10 > n)
			break;
		rtype = (uint16_t)(r[off] << 8 | r[off + 1]);
		rdlen = (size_t)(r[off + 8] << 8 | r[off + 9]);
		off += 10;
		if (off + rdlen > n)
			break;
		if (rtype == qtype && rtype == DNS_TYPE_A && rdlen == 4)
			set_target(&out[found++], AF_INET, r + off, port);
		else if (rtype == qtype && rtype == DNS_TYPE_AAAA && rdlen == 16)
			set_target(&out[found++], AF_INET6, r + off, port);
		off += rdlen;
	}
	return found;
}

static const char *target_text(const struct target *t, char *buf, size_t cap)
{
	const void *a = t->family == AF_INET
		? (const void *)&((const struct sockaddr_in *)&t->ss)->sin_addr
		: (const void *)&((const struct sockaddr_in6 *)&t->ss)->sin6_addr;

	return inet_ntop(t->family, a, buf, (socklen_t)cap) ? buf : "?";
}

/* A minimal stub resolver, to check the test's DNS server and that DNS
 * through the sandbox reaches it. Prints each address of the answer. */
static int cmd_dns(const char *server, const char *name, const char *type)
{
	struct target t, addrs[DNS_ADDRS_MAX];
	uint8_t q[DNS_QUERY_MAX], r[DNS_ANSWER_MAX];
	uint16_t qtype = dns_type(type);
	const char *call;
	size_t qlen;
	ssize_t n;
	int found;

	parse_target(server, "53", &t);
	qlen = dns_query(q, sizeof(q), (uint16_t)getpid(), name, qtype);
	if (!qlen) {
		fprintf(stderr, "probe: invalid name '%s'\n", name);
		return EXIT_OTHER;
	}
	n = dns_ask(&t, false, q, qlen, r, sizeof(r), &call);
	if (n == -ETIMEDOUT)
		die_timeout("waiting for the DNS answer");
	if (n < 0)
		die_errno(call, (int)-n);
	if (dns_rcode(r)) {
		fprintf(stderr, "%s: DNS answer code %d\n", prog_what, dns_rcode(r));
		return EXIT_OTHER;
	}
	found = dns_addrs(r, (size_t)n, qtype, 0, addrs, DNS_ADDRS_MAX);
	for (int i = 0; i < found; i++) {
		char text[INET6_ADDRSTRLEN];

		printf("%s\n", target_text(&addrs[i], text, sizeof(text)));
	}
	if (!found) {
		fprintf(stderr, "%s: no %s record for %s\n", prog_what, type, name);
		return EXIT_OTHER;
	}
	fprintf(stderr, "%s: %d %s record(s)\n", prog_what, found, type);
	return EXIT_OK;
}

static const char *failure_name(int err)
{
	return err == ETIMEDOUT ? "timeout" : errno_name(err);
}

/* One try of resolve-connect: false, with why it failed in why. */
static bool resolve_connect_once(const struct target *server, bool tcp, const uint8_t *q,
				 size_t qlen, uint16_t qtype, uint16_t port,
				 char *why, size_t cap)
{
	uint8_t r[DNS_ANSWER_MAX];
	char text[INET6_ADDRSTRLEN];
	struct target addr;
	const char *call;
	int64_t deadline;
	ssize_t n;
	int fd, rc;

	n = dns_ask(server, tcp, q, qlen, r, sizeof(r), &call);
	if (n < 0) {
		snprintf(why, cap, "dns %s: %s", call, failure_name((int)-n));
		return false;
	}
	if (dns_rcode(r)) {
		snprintf(why, cap, "dns: rcode %d", dns_rcode(r));
		return false;
	}
	if (dns_addrs(r, (size_t)n, qtype, port, &addr, 1) < 1) {
		snprintf(why, cap, "dns: no address");
		return false;
	}
	deadline = now_ms() + RESOLVE_CONNECT_TIMEOUT_MS;
	call = "connect";
	rc = fd = try_tcp(addr.family, SOCK_NONBLOCK);
	if (fd >= 0 && !(rc = try_connect(fd, &addr, deadline))) {
		call = "send";
		rc = try_send_all(fd, "x", 1, deadline);
	}
	if (fd >= 0)
		close(fd);
	if (rc) {
		snprintf(why, cap, "%s %s: %s", call, target_text(&addr, text, sizeof(text)),
			 failure_name(-rc));
		return false;
	}
	return true;
}

/* COUNT times: NAME asked of SERVER, then a TCP connection to the first
 * address of the answer, one byte sent. A DNS forwarder that lets the
 * sandbox reach an address only once it has resolved it to it passes each
 * time; one that lags behind the answer's changing address does not. */
static int cmd_resolve_connect(const char *server, const char *name, const char *type,
			       const char *proto, const char *port, const char *count_s)
{
	uint16_t qtype = dns_type(type);
	uint16_t p = (uint16_t)parse_number("port", port, 65535);
	unsigned long count = parse_number("count", count_s, 1000000), ok = 0;
	uint8_t q[DNS_QUERY_MAX];
	struct target t;
	char *fails = NULL;
	size_t fails_len = 0, qlen;
	FILE *f;

	if (!count || (strcmp(proto, "udp") && strcmp(proto, "tcp")))
		usage();
	parse_target(server, "53", &t);
	qlen = dns_query(q, sizeof(q), 0, name, qtype);
	if (!qlen) {
		fprintf(stderr, "probe: invalid name '%s'\n", name);
		return EXIT_OTHER;
	}
	/* The failures follow the tally: kept until the end. */
	if (!(f = open_memstream(&fails, &fails_len)))
		die_errno("open_memstream", errno);
	for (unsigned long i = 1; i <= count; i++) {
		uint16_t id = (uint16_t)(getpid() + i);
		char why[160];

		q[0] = (uint8_t)(id >> 8);   /* each query its own id */
		q[1] = (uint8_t)id;
		if (resolve_connect_once(&t, !strcmp(proto, "tcp"), q, qlen, qtype, p,
					 why, sizeof(why)))
			ok++;
		else
			fprintf(f, "fail %lu: %s\n", i, why);
	}
	fclose(f);
	printf("ok %lu of %lu\n%s", ok, count, fails);
	free(fails);
	return ok == count ? EXIT_OK : EXIT_SOME_FAILED;
}

/* Appends one payload as one line, in one write so lines never mix. */
static void log_payload(int logfd, const char *buf, size_t len)
{
	char line[65536 + 1];

	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (!len)
		return;
	if (len > sizeof(line) - 1)
		len = sizeof(line) - 1;
	memcpy(line, buf, len);
	for (size_t i = 0; i < len; i++)
		if (line[i] == '\n')
			line[i] = ' ';
	line[len] = '\n';
	if (write(logfd, line, len + 1) < 0)
		die_errno("write(LOGFILE)", errno);
}

static void serve_tcp(int fd, int logfd)
{
	static char buf[65536];
	int qlen = 16;
	struct timeval tv = { .tv_sec = SERVER_READ_TIMEOUT_S };

	/* Accept data in the SYN too, so a Fast Open that got through shows. */
	setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof(qlen));
	if (listen(fd, 64) < 0)
		die_errno("listen", errno);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		size_t got = 0;
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die_errno("accept", errno);
		}
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		for (;;) {
			ssize_t n = recv(c, buf + got, sizeof(buf) - 1 - got, 0);

			if (n <= 0)
				break;
			got += (size_t)n;
			if (got == sizeof(buf) - 1)
				break;
		}
		log_payload(logfd, buf, got);
		close(c);
	}
}

static void serve_udp(int fd, int logfd)
{
	static char buf[65536];

	printf("ready\n");
	fflush(stdout);
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die_errno("recv", errno);
		}
		log_payload(logfd, buf, (size_t)n);
	}
}

static int cmd_listen(const char *proto, const char *addr, const char *port,
		      const char *logfile)
{
	struct target t;
	int fd, logfd, one = 1;
	bool tcp;

	bool sctp = !strcmp(proto, "sctp");

	if (!strcmp(proto, "tcp"))
		tcp = true;
	else if (!strcmp(proto, "udp") || sctp)
		tcp = false;
	else
		usage();
	parse_target(addr, port, &t);
	logfd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0)
		die_errno("open(LOGFILE)", errno);
	/* One-to-many SCTP delivers a message per recv(), as UDP does. */
	fd = sctp ? open_socket(t.family, SOCK_SEQPACKET, IPPROTO_SCTP)
		  : open_socket(t.family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (t.family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&t.ss, t.len) < 0)
		die_errno("bind", errno);
	if (sctp && listen(fd, 64) < 0)
		die_errno("listen", errno);
	if (tcp)
		serve_tcp(fd, logfd);
	else
		serve_udp(fd, logfd);
	return EXIT_OTHER;
}

/* One socket, sends in phases: "PAYLOAD-before" at once, then for each
 * GOFILE, once it exists (10 s at most), "PAYLOAD-middle" or, for the last,
 * "PAYLOAD-after". It prints "sent before" (and "sent middle") when it
 * waits. So a test can change the policy, or let time pass, between them:
 * what that does to traffic on an open socket. TCP sends each as a line of
 * one connection, which the listener logs as one line when the connection
 * ends; UDP sends three datagrams each. */
static int cmd_stream(const char *kind, const char *addr, const char *port,
		      const char *payload, char **gofiles, int ngo)
{
	bool tcp = !strcmp(kind, "tcp"), connected = strcmp(kind, "udp-sendto");
	char buf[512];
	struct target t;
	int fd;
	int64_t deadline = now_ms() + CONNECT_TIMEOUT_MS;

	if (!tcp && connected && strcmp(kind, "udp-connect"))
		usage();
	parse_target(addr, port, &t);
	fd = tcp ? open_tcp(t.family, SOCK_NONBLOCK)
		 : open_socket(t.family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (connected)
		check_connect(try_connect(fd, &t, deadline));
	for (int phase = 0; phase <= ngo; phase++) {
		const char *name = !phase ? "before" : phase == ngo ? "after" : "middle";
		int n = snprintf(buf, sizeof(buf), "%s-%s%s", payload, name,
				 tcp ? "\n" : "");

		for (int i = 0; phase && access(gofiles[phase - 1], F_OK); i++) {
			if (i == 1000)
				die_timeout("waiting for GOFILE");
			usleep(10000);
		}
		if (tcp) {
			send_all(fd, buf, (size_t)n, now_ms() + CONNECT_TIMEOUT_MS);
		} else {
			for (int i = 0; i < 3; i++) {
				ssize_t r = connected ? send(fd, buf, (size_t)n, 0)
						      : sendto(fd, buf, (size_t)n, 0,
							       (struct sockaddr *)&t.ss, t.len);
				if (r < 0) {
					snprintf(buf, sizeof(buf), "send %s", name);
					die_errno(buf, errno);
				}
			}
		}
		if (phase < ngo) {
			printf("sent %s\n", name);
			fflush(stdout);
		}
	}
	if (tcp)
		finish_tcp(fd, now_ms() + (int64_t)(SERVER_READ_TIMEOUT_S + 2) * 1000);
	fprintf(stderr, "%s: sent all\n", prog_what);
	close(fd);
	return EXIT_OK;
}

/* The leak matrix of `claude-bpf selftest` (user/core/leak.c), tried from
 * where the probe runs (a container): no deny counters there, so EPERM
 * counts as blocked and the test's listeners are the witness. Prints the
 * JSON object selftest --json prints; exit 1 on a leak. */
static int cmd_matrix(int argc, char **argv)
{
	struct cbpf_leak_plan_in in = { .port = CBPF_LEAK_DEFAULT_PORT };
	static struct cbpf_leak_row rows[CBPF_LEAK_MAX_ROWS];
	struct cbpf_leak_ctx ctx = { 0 };
	bool no_loopback = false;
	size_t tally[3];
	int n;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			in.port = (uint16_t)atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--other") && i + 2 < argc) {
			if (cbpf_leak_parse_target(argv[++i], &in.other_addr))
				usage();
			in.other_port = (uint16_t)atoi(argv[++i]);
			in.other_proto = CBPF_PROTO_TCP;
			in.other_port_found = true;
		} else if (!strcmp(argv[i], "--no-loopback")) {
			no_loopback = true;
		} else if (!strcmp(argv[i], "--dns-forward")) {
			in.dns_forward = true;  /* the policy has a DNS forwarder */
		} else if (cbpf_leak_add_target(in.targets, &in.ntargets, argv[i])) {
			usage();
		}
	}
	n = cbpf_leak_plan(&in, rows, CBPF_LEAK_MAX_ROWS);
	if (n < 0)
		usage();
	for (int i = 0; i < n; i++)
		if (no_loopback && rows[i].route == CBPF_LEAK_LOOPBACK_TCP) {
			rows[i].planned_untested = true;
			snprintf(rows[i].how, sizeof(rows[i].how),
				 "not the host's network namespace: its loopback is its own");
		}
	cbpf_leak_run(rows, (size_t)n, &ctx);
	printf("{");
	cbpf_leak_print_json(stdout, rows, (size_t)n);
	printf("}\n");
	cbpf_leak_tally(rows, (size_t)n, tally);
	return tally[CBPF_LEAK_LEAKED] ? EXIT_DENIED : EXIT_OK;
}

/* A TCP socket made by a child process and passed to this one over a
 * Unix socket (SCM_RIGHTS), then connected here: the socket keeps the
 * cgroup of the process that made it. */
static int cmd_pass_socket(const char *addr, const char *port, const char *payload)
{
	char byte = 0, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	struct target t;
	int sv[2], fd;
	pid_t pid;

	parse_target(addr, port, &t);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		die_errno("socketpair", errno);
	pid = fork();
	if (pid < 0)
		die_errno("fork", errno);
	if (pid == 0) {
		fd = open_tcp(t.family, 0);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
		_exit(sendmsg(sv[1], &msg, 0) == 1 ? 0 : EXIT_OTHER);
	}
	if (recvmsg(sv[0], &msg, 0) != 1 || !(c = CMSG_FIRSTHDR(&msg)) ||
	    c->cmsg_type != SCM_RIGHTS) {
		fprintf(stderr, "%s: no socket passed\n", prog_what);
		return EXIT_OTHER;
	}
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	if (connect(fd, (struct sockaddr *)&t.ss, t.len) < 0)
		die_errno("connect (passed socket)", errno);
	send_all(fd, payload, strlen(payload), now_ms() + CONNECT_TIMEOUT_MS);
	finish_tcp(fd, now_ms() + CONNECT_TIMEOUT_MS);
	fprintf(stderr, "%s: the passed socket connected\n", prog_what);
	return EXIT_OK;
}

/* bpf(BPF_MAP_CREATE) of a one-entry array: what an agent that wanted to
 * load or change programs would need first. */
static int cmd_bpf(void)
{
	union bpf_attr attr;
	long fd;

	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
	if (fd < 0)
		die_errno("bpf(BPF_MAP_CREATE)", errno);
	fprintf(stderr, "%s: bpf() made a map\n", prog_what);
	close((int)fd);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static char what[256];
	const char *cmd;

	if (argc < 2)
		usage();
	cmd = argv[1];
	snprintf(what, sizeof(what), "probe %s%s%s%s%s", cmd,
		 argc > 2 ? " " : "", argc > 2 ? argv[2] : "",
		 argc > 3 ? " " : "", argc > 3 ? argv[3] : "");
	prog_what = what;

	if (!strcmp(cmd, "tcp") && (argc == 4 || argc == 5))
		return cmd_tcp(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
	if (!strcmp(cmd, "tcp-fastopen") && argc == 5)
		return cmd_tcp_fastopen(argv[2], argv[3], argv[4]);
	if (!strcmp(cmd, "udp-sendto") && argc == 5)
		return cmd_udp(argv[2], argv[3], argv[4], false);
	if (!strcmp(cmd, "udp-connect") && argc == 5)
		return cmd_udp(argv[2], argv[3], argv[4], true);
	if (!strcmp(cmd, "sctp") && argc == 5)
		return cmd_sctp(argv[2], argv[3], argv[4]);
	if (!strcmp(cmd, "raw") && argc == 3)
		return cmd_echo(argv[2], true);
	if (!strcmp(cmd, "ping") && argc == 3)
		return cmd_echo(argv[2], false);
	if (!strcmp(cmd, "socket") && argc == 3)
		return cmd_socket(argv[2]);
	if (!strcmp(cmd, "dns") && argc == 5)
		return cmd_dns(argv[2], argv[3], argv[4]);
	if (!strcmp(cmd, "resolve-connect") && argc == 8)
		return cmd_resolve_connect(argv[2], argv[3], argv[4], argv[5], argv[6], argv[7]);
	if (!strcmp(cmd, "matrix") && argc >= 3)
		return cmd_matrix(argc - 2, argv + 2);
	if (!strcmp(cmd, "pass-socket") && argc == 5)
		return cmd_pass_socket(argv[2], argv[3], argv[4]);
	if (!strcmp(cmd, "stream") && (argc == 7 || argc == 8))
		return cmd_stream(argv[2], argv[3], argv[4], argv[5], argv + 6, argc - 6);
	if (!strcmp(cmd, "bpf") && argc == 2)
		return cmd_bpf();
	if (!strcmp(cmd, "listen") && argc == 6)
		return cmd_listen(argv[2], argv[3], argv[4], argv[5]);
	usage();
}
