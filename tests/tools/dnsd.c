// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* dnsd: the authoritative DNS server the DNS forwarder's tests ask through
 * the sandbox. Its answers come from the command line; a --rotate name gets
 * a new address at each query, and every query is logged, so a test can tell
 * which queries reached it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <ldns/ldns.h>

#define LISTEN_MAX        16
#define CNAME_LINKS_MAX   8
#define ROTATE_MAX        250    /* the counters run 1..ROTATE_MAX */
#define UDP_ANSWER_MAX    512    /* no EDNS: longer answers are truncated */
#define MSG_MAX           65535
#define TCP_CONNS_MAX     128
#define TCP_IDLE_MS       10000

enum rule_kind {
	RULE_ROTATE,
	RULE_CNAME,
	RULE_FIXED,
	RULE_SERVFAIL,
};

struct rule {
	enum rule_kind kind;
	ldns_rdf *name;          /* lower case, absolute, without a leading "*." */
	bool below;              /* "*.name": the names strictly below name */
	ldns_rdf *target;        /* RULE_CNAME */
	bool has_v4, has_v6;     /* RULE_ROTATE: both, the bases; RULE_FIXED: one */
	uint8_t v4[4], v6[16];
};

struct conn {
	int fd;
	int64_t last_ms;         /* last read, for the idle timeout */
	size_t got;
	uint8_t buf[2 + MSG_MAX];   /* room for any one length-prefixed message */
};

struct listener {
	int fd;
	bool tcp;
};

struct dnsd {
	struct rule *rules;
	size_t nrules;
	uint32_t ttl;
	unsigned next_v4, next_v6;   /* the last counter values handed out */
	int logfd;
	struct listener listeners[2 * LISTEN_MAX];
	size_t nlisteners;
	struct conn *conns[TCP_CONNS_MAX];
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void __attribute__((noreturn)) usage(void)
{
	printf("usage: dnsd --listen ADDR [--listen ADDR]... [--port N] --log FILE [--ttl SECONDS]\n"
	       "            [--rotate PATTERN V4BASE V6BASE]... [--cname NAME TARGET]...\n"
	       "            [--fixed NAME ADDR]... [--servfail NAME]...\n"
	       "  --listen ADDR     an IPv4 or IPv6 address to answer on, UDP and TCP\n"
	       "  --port N          the port (53)\n"
	       "  --log FILE        appends 'udp|tcp NAME TYPE' for each query\n"
	       "  --ttl SECONDS     of every record (2)\n"
	       "  --rotate PATTERN V4BASE V6BASE\n"
	       "                    A and AAAA: the base with its last octet (A) or group\n"
	       "                    (AAAA) the next of a counter 1..250; PATTERN is a name\n"
	       "                    or *.SUFFIX (every name below SUFFIX)\n"
	       "  --cname NAME TARGET   a CNAME, then what TARGET gets (8 links at most)\n"
	       "  --fixed NAME ADDR     A or AAAA, by the address\n"
	       "  --servfail NAME       SERVFAIL\n"
	       "Other names get NXDOMAIN. The first rule that matches a name decides.\n"
	       "Prints 'ready' once it listens; SIGTERM and SIGINT end it.\n");
	exit(EXIT_SUCCESS);
}

static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("dnsd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\ntry 'dnsd --help'\n", stderr);
	exit(EXIT_FAILURE);
}

static void __attribute__((noreturn)) die(const char *what, const char *arg, int err)
{
	fprintf(stderr, "dnsd: %s '%s': %s\n", what, arg, strerror(err));
	exit(EXIT_FAILURE);
}

/* A test tool: running out of memory ends it. */
static void *must(void *p)
{
	if (!p) {
		fputs("dnsd: out of memory\n", stderr);
		exit(EXIT_FAILURE);
	}
	return p;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned long parse_number(const char *opt, const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		usage_error("%s: invalid number '%s' (0..%lu)", opt, s, max);
	return v;
}

/* A name as the rules keep it: lower case and absolute, so ldns compares
 * it with a question's name however either was spelt. */
static ldns_rdf *parse_name(const char *opt, const char *s, bool pattern, bool *below)
{
	ldns_rdf *name;

	*below = pattern && !strncmp(s, "*.", 2);
	if (*below)
		s += 2;
	if (!*s || !strcmp(s, ".") || !(name = ldns_dname_new_frm_str(s)))
		usage_error("%s: invalid name '%s'", opt, s);
	ldns_dname2canonical(name);
	return name;
}

static struct rule *add_rule(struct dnsd *d, enum rule_kind kind, const char *opt,
			     const char *name)
{
	struct rule *r;

	d->rules = must(realloc(d->rules, (d->nrules + 1) * sizeof(*d->rules)));
	r = &d->rules[d->nrules++];
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->name = parse_name(opt, name, kind == RULE_ROTATE, &r->below);
	return r;
}

static void need(const char *opt, int left, int n)
{
	if (left < n)
		usage_error("%s needs %d argument%s", opt, n, n > 1 ? "s" : "");
}

static void parse_args(int argc, char **argv, struct dnsd *d, const char **listen,
		       size_t *nlisten, uint16_t *port, const char **log)
{
	*port = 53;
	d->ttl = 2;
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		int left = argc - i - 1;
		struct rule *r;

		if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) {
			usage();
		} else if (!strcmp(opt, "--listen")) {
			need(opt, left, 1);
			if (*nlisten == LISTEN_MAX)
				usage_error("more than %d --listen", LISTEN_MAX);
			listen[(*nlisten)++] = argv[++i];
		} else if (!strcmp(opt, "--port")) {
			need(opt, left, 1);
			*port = (uint16_t)parse_number(opt, argv[++i], 65535);
		} else if (!strcmp(opt, "--log")) {
			need(opt, left, 1);
			*log = argv[++i];
		} else if (!strcmp(opt, "--ttl")) {
			need(opt, left, 1);
			d->ttl = (uint32_t)parse_number(opt, argv[++i], INT32_MAX);
		} else if (!strcmp(opt, "--rotate")) {
			need(opt, left, 3);
			r = add_rule(d, RULE_ROTATE, opt, argv[i + 1]);
			if (inet_pton(AF_INET, argv[i + 2], r->v4) != 1)
				usage_error("%s: invalid IPv4 address '%s'", opt, argv[i + 2]);
			if (inet_pton(AF_INET6, argv[i + 3], r->v6) != 1)
				usage_error("%s: invalid IPv6 address '%s'", opt, argv[i + 3]);
			r->has_v4 = r->has_v6 = true;
			i += 3;
		} else if (!strcmp(opt, "--cname")) {
			bool below;

			need(opt, left, 2);
			r = add_rule(d, RULE_CNAME, opt, argv[i + 1]);
			r->target = parse_name(opt, argv[i + 2], false, &below);
			i += 2;
		} else if (!strcmp(opt, "--fixed")) {
			need(opt, left, 2);
			r = add_rule(d, RULE_FIXED, opt, argv[i + 1]);
			r->has_v4 = inet_pton(AF_INET, argv[i + 2], r->v4) == 1;
			r->has_v6 = !r->has_v4 && inet_pton(AF_INET6, argv[i + 2], r->v6) == 1;
			if (!r->has_v4 && !r->has_v6)
				usage_error("%s: invalid address '%s'", opt, argv[i + 2]);
			i += 2;
		} else if (!strcmp(opt, "--servfail")) {
			need(opt, left, 1);
			add_rule(d, RULE_SERVFAIL, opt, argv[++i]);
		} else {
			usage_error("unknown argument '%s'", opt);
		}
	}
	if (!*nlisten)
		usage_error("no --listen address");
	if (!*log)
		usage_error("no --log file");
}

/* The first rule whose name or pattern matches name (canonical). */
static const struct rule *find_rule(const struct dnsd *d, const ldns_rdf *name)
{
	for (size_t i = 0; i < d->nrules; i++) {
		const struct rule *r = &d->rules[i];

		if (r->below ? ldns_dname_is_subdomain(name, r->name)
			     : ldns_dname_compare(name, r->name) == 0)
			return r;
	}
	return NULL;
}

static uint8_t next_count(unsigned *counter)
{
	*counter = *counter % ROTATE_MAX + 1;
	return (uint8_t)*counter;
}

/* The address record data a rotate or fixed rule gives for qtype, or NULL
 * when it gives none. */
static ldns_rdf *address_of(struct dnsd *d, const struct rule *r, ldns_rr_type qtype)
{
	bool rotate = r->kind == RULE_ROTATE;
	uint8_t a[16];

	if (qtype == LDNS_RR_TYPE_A && r->has_v4) {
		memcpy(a, r->v4, 4);
		if (rotate)
			a[3] = next_count(&d->next_v4);
		return must(ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, a));
	}
	if (qtype == LDNS_RR_TYPE_AAAA && r->has_v6) {
		memcpy(a, r->v6, 16);
		if (rotate) {
			a[14] = 0;
			a[15] = next_count(&d->next_v6);
		}
		return must(ldns_rdf_new_frm_data(LDNS_RDF_TYPE_AAAA, 16, a));
	}
	return NULL;
}

static void push_answer(ldns_pkt *reply, const ldns_rdf *owner, ldns_rr_type type,
			ldns_rdf *data, uint32_t ttl)
{
	ldns_rr *rr = must(ldns_rr_new());

	ldns_rr_set_owner(rr, must(ldns_rdf_clone(owner)));
	ldns_rr_set_type(rr, type);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	ldns_rr_set_ttl(rr, ttl);
	if (!ldns_rr_push_rdf(rr, data) || !ldns_pkt_push_rr(reply, LDNS_SECTION_ANSWER, rr))
		must(NULL);
}

/* The rcode and answer records for name and qtype, by the rules. */
static void answer(struct dnsd *d, ldns_pkt *reply, const ldns_rdf *name, ldns_rr_type qtype)
{
	for (int links = 0; links <= CNAME_LINKS_MAX; links++) {
		const struct rule *r = find_rule(d, name);
		ldns_rdf *data;

		if (!r) {
			ldns_pkt_set_rcode(reply, LDNS_RCODE_NXDOMAIN);
			return;
		}
		switch (r->kind) {
		case RULE_SERVFAIL:
			ldns_pkt_set_rcode(reply, LDNS_RCODE_SERVFAIL);
			return;
		case RULE_CNAME:
			if (links == CNAME_LINKS_MAX)
				return;     /* the chain so far: a resolver gives up on it */
			push_answer(reply, name, LDNS_RR_TYPE_CNAME,
				    must(ldns_rdf_clone(r->target)), d->ttl);
			name = r->target;
			break;
		case RULE_ROTATE:
		case RULE_FIXED:
			if ((data = address_of(d, r, qtype)))
				push_answer(reply, name, qtype, data, d->ttl);
			return;
		}
	}
}

/* The header and question of the reply to query. */
static ldns_pkt *reply_to(const ldns_pkt *query)
{
	ldns_pkt *reply = must(ldns_pkt_new());
	ldns_rr *question = must(ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(query), 0)));

	ldns_pkt_set_id(reply, ldns_pkt_id(query));
	ldns_pkt_set_qr(reply, true);
	ldns_pkt_set_aa(reply, true);
	ldns_pkt_set_opcode(reply, LDNS_PACKET_QUERY);
	ldns_pkt_set_rd(reply, ldns_pkt_rd(query));
	if (!ldns_pkt_push_rr(reply, LDNS_SECTION_QUESTION, question))
		must(NULL);
	return reply;
}

static void log_query(const struct dnsd *d, bool tcp, const ldns_rdf *name, ldns_rr_type qtype)
{
	char *text = must(ldns_rdf2str(name)), *type = must(ldns_rr_type2str(qtype));
	size_t n = strlen(text);
	char line[1200];    /* a name is 255 bytes at most, 4 characters each escaped */
	int len;

	if (n > 1 && text[n - 1] == '.')
		text[n - 1] = '\0';
	/* One write per line: lines never mix, and are there when a test looks. */
	len = snprintf(line, sizeof(line), "%s %s %s\n", tcp ? "tcp" : "udp", text, type);
	if (len > 0 && (size_t)len < sizeof(line) && write(d->logfd, line, (size_t)len) < 0)
		perror("dnsd: write(log)");
	free(type);
	free(text);
}

/* The answer to one message in wire format (free() it), or NULL when the
 * message is not a query this server answers: it is dropped. */
static uint8_t *handle(struct dnsd *d, const uint8_t *msg, size_t len, bool tcp, size_t *outlen)
{
	ldns_pkt *query = NULL, *reply;
	const ldns_rr *q;
	ldns_rdf *name;
	uint8_t *wire = NULL;

	if (ldns_wire2pkt(&query, msg, len) != LDNS_STATUS_OK)
		return NULL;
	if (ldns_pkt_qr(query) || ldns_pkt_get_opcode(query) != LDNS_PACKET_QUERY ||
	    ldns_rr_list_rr_count(ldns_pkt_question(query)) != 1) {
		ldns_pkt_free(query);
		return NULL;
	}
	q = ldns_rr_list_rr(ldns_pkt_question(query), 0);
	name = must(ldns_rdf_clone(ldns_rr_owner(q)));
	ldns_dname2canonical(name);
	log_query(d, tcp, name, ldns_rr_get_type(q));

	reply = reply_to(query);
	if (ldns_rr_get_class(q) != LDNS_RR_CLASS_IN)
		ldns_pkt_set_rcode(reply, LDNS_RCODE_REFUSED);
	else
		answer(d, reply, name, ldns_rr_get_type(q));
	if (ldns_pkt2wire(&wire, reply, outlen) != LDNS_STATUS_OK)
		must(NULL);
	if (!tcp && *outlen > UDP_ANSWER_MAX) {
		/* The client asks again over TCP. */
		free(wire);
		wire = NULL;
		ldns_pkt_free(reply);
		reply = reply_to(query);
		ldns_pkt_set_tc(reply, true);
		if (ldns_pkt2wire(&wire, reply, outlen) != LDNS_STATUS_OK)
			must(NULL);
	}
	ldns_pkt_free(reply);
	ldns_rdf_deep_free(name);
	ldns_pkt_free(query);
	return wire;
}

static void open_listeners(struct dnsd *d, const char **addrs, size_t n, uint16_t port)
{
	for (size_t i = 0; i < n; i++) {
		struct sockaddr_storage ss = { 0 };
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		socklen_t len;

		if (inet_pton(AF_INET, addrs[i], &s4->sin_addr) == 1) {
			s4->sin_family = AF_INET;
			s4->sin_port = htons(port);
			len = sizeof(*s4);
		} else if (inet_pton(AF_INET6, addrs[i], &s6->sin6_addr) == 1) {
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons(port);
			len = sizeof(*s6);
		} else {
			usage_error("--listen: invalid address '%s'", addrs[i]);
		}
		for (int tcp = 0; tcp <= 1; tcp++) {
			int one = 1;
			int fd = socket(ss.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) |
					SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

			if (fd < 0)
				die("cannot make a socket for", addrs[i], errno);
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			/* "::" and "0.0.0.0" may both be listened on. */
			if (ss.ss_family == AF_INET6)
				setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
			if (bind(fd, (struct sockaddr *)&ss, len) < 0)
				die("cannot bind to", addrs[i], errno);
			if (tcp && listen(fd, 64) < 0)
				die("cannot listen on", addrs[i], errno);
			d->listeners[d->nlisteners++] = (struct listener){ .fd = fd, .tcp = tcp };
		}
	}
}

static void serve_udp(struct dnsd *d, int fd)
{
	static uint8_t buf[MSG_MAX];
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fromlen);
	uint8_t *wire;
	size_t len;

	if (n < 0 || !(wire = handle(d, buf, (size_t)n, false, &len)))
		return;
	sendto(fd, wire, len, 0, (struct sockaddr *)&from, fromlen);
	free(wire);
}

static void accept_tcp(struct dnsd *d, int fd)
{
	int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (c < 0)
		return;
	for (size_t i = 0; i < TCP_CONNS_MAX; i++)
		if (!d->conns[i]) {
			d->conns[i] = must(malloc(sizeof(struct conn)));
			*d->conns[i] = (struct conn){ .fd = c, .last_ms = now_ms() };
			return;
		}
	close(c);   /* full: the client sees the connection closed */
}

static void close_conn(struct dnsd *d, size_t i)
{
	close(d->conns[i]->fd);
	free(d->conns[i]);
	d->conns[i] = NULL;
}

/* Reads what came on a connection and answers each whole message in it.
 * False when the connection is to be closed. */
static bool serve_tcp(struct dnsd *d, struct conn *c)
{
	ssize_t n = recv(c->fd, c->buf + c->got, sizeof(c->buf) - c->got, 0);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0)
		return false;
	c->got += (size_t)n;
	c->last_ms = now_ms();
	while (c->got >= 2) {
		size_t len = (size_t)c->buf[0] << 8 | c->buf[1], alen;
		uint8_t *wire;

		if (c->got < 2 + len)
			break;
		wire = handle(d, c->buf + 2, len, true, &alen);
		memmove(c->buf, c->buf + 2 + len, c->got - 2 - len);
		c->got -= 2 + len;
		if (wire) {
			uint8_t *out = must(malloc(alen + 2));
			bool sent;

			out[0] = (uint8_t)(alen >> 8);
			out[1] = (uint8_t)alen;
			memcpy(out + 2, wire, alen);
			/* Answers are small: one that does not fit the socket's
			 * buffer at once is a client that does not read. */
			sent = send(c->fd, out, alen + 2, MSG_DONTWAIT | MSG_NOSIGNAL) ==
			       (ssize_t)(alen + 2);
			free(out);
			free(wire);
			if (!sent)
				return false;
		}
	}
	return true;
}

static void run(struct dnsd *d)
{
	struct pollfd pfd[2 * LISTEN_MAX + TCP_CONNS_MAX];
	size_t conn_of[TCP_CONNS_MAX];
	sigset_t unblocked;
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t stop;

	/* Blocked but while waiting: a signal cannot slip in between the
	 * check of stopping and the wait. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, &unblocked);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	printf("ready\n");
	fflush(stdout);
	while (!stopping) {
		size_t n = 0, nconns = 0;
		struct timespec idle = { .tv_sec = 1 };

		for (size_t i = 0; i < d->nlisteners; i++)
			pfd[n++] = (struct pollfd){ .fd = d->listeners[i].fd, .events = POLLIN };
		for (size_t i = 0; i < TCP_CONNS_MAX; i++)
			if (d->conns[i]) {
				conn_of[nconns++] = i;
				pfd[n++] = (struct pollfd){ .fd = d->conns[i]->fd, .events = POLLIN };
			}
		if (ppoll(pfd, n, nconns ? &idle : NULL, &unblocked) < 0) {
			if (errno == EINTR)
				continue;
			perror("dnsd: ppoll");
			exit(EXIT_FAILURE);
		}
		for (size_t i = 0; i < d->nlisteners; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			if (d->listeners[i].tcp)
				accept_tcp(d, pfd[i].fd);
			else
				serve_udp(d, pfd[i].fd);
		}
		for (size_t k = 0; k < nconns; k++) {
			size_t i = conn_of[k];
			short ev = pfd[d->nlisteners + k].revents;

			if ((ev && !serve_tcp(d, d->conns[i])) ||
			    now_ms() - d->conns[i]->last_ms > TCP_IDLE_MS)
				close_conn(d, i);
		}
	}
}

int main(int argc, char **argv)
{
	struct dnsd d = { .logfd = -1 };
	const char *listen[LISTEN_MAX], *log = NULL;
	size_t nlisten = 0;
	uint16_t port;

	parse_args(argc, argv, &d, listen, &nlisten, &port, &log);
	d.logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (d.logfd < 0)
		die("cannot open", log, errno);
	open_listeners(&d, listen, nlisten, port);
	run(&d);

	for (size_t i = 0; i < TCP_CONNS_MAX; i++)
		if (d.conns[i])
			close_conn(&d, i);
	for (size_t i = 0; i < d.nlisteners; i++)
		close(d.listeners[i].fd);
	for (size_t i = 0; i < d.nrules; i++) {
		ldns_rdf_deep_free(d.rules[i].name);
		ldns_rdf_deep_free(d.rules[i].target);
	}
	free(d.rules);
	close(d.logfd);
	return EXIT_SUCCESS;
}
