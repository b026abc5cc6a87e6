/* Parallel A and AAAA resolution with c-ares: every query is sent at once
 * and one poll loop drives them all; TTLs come back with the answers. */
#include <arpa/inet.h>
#include <arpa/nameser.h>
/* c-ares 1.34 (Debian 13) marks the query and parse calls used here as
 * deprecated in favour of ares_dns_*, which 1.18 (Debian 12) lacks; they
 * still work in both. */
#define CARES_NO_DEPRECATED
#include <ares.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/addr.h"
#include "core/resolve.h"

#define MAX_ANSWERS 64

size_t cbpf_parse_resolv_conf(const char *text, uint8_t (*out)[16], size_t max)
{
	size_t n = 0;

	while (*text && n < max) {
		const char *eol = strchr(text, '\n');
		size_t len = eol ? (size_t)(eol - text) : strlen(text);
		char line[256], word[64], addr[128];
		struct in_addr a4;

		if (len < sizeof(line)) {
			memcpy(line, text, len);
			line[len] = '\0';
			if (sscanf(line, " %63s %127s", word, addr) == 2 &&
			    strcmp(word, "nameserver") == 0) {
				char *pct = strchr(addr, '%');

				if (pct)
					*pct = '\0';   /* fe80::1%eth0: scope ids are dropped */
				if (inet_pton(AF_INET, addr, &a4) == 1) {
					cbpf_v4_mapped(out[n++], &a4);
				} else if (inet_pton(AF_INET6, addr, out[n]) == 1) {
					n++;
				}
			}
		}
		text += len + (eol ? 1 : 0);
	}
	return n;
}

/* Names in flight at once: all at once overruns a resolver's queue (a
 * thousand names to dnsmasq timed out), a window keeps it busy but not
 * flooded. */
#define IN_FLIGHT 64

struct batch;

struct query {
	struct cbpf_resolved *res;
	struct batch *batch;
	int status;           /* last failure, ARES_SUCCESS once anything came */
	int pending;
};

struct batch {
	ares_channel ch;
	struct query *q;
	const char *const *hosts;
	size_t n, next;       /* hosts[next..] are not asked yet */
};

static void on_a(void *arg, int status, int timeouts, unsigned char *abuf, int alen);
static void on_aaaa(void *arg, int status, int timeouts, unsigned char *abuf, int alen);

/* Sends both queries of the next name, if any is left. */
static void ask_next(struct batch *b)
{
	size_t i;

	if (b->next >= b->n)
		return;
	i = b->next++;
	ares_query(b->ch, b->hosts[i], ns_c_in, ns_t_a, on_a, &b->q[i]);
	ares_query(b->ch, b->hosts[i], ns_c_in, ns_t_aaaa, on_aaaa, &b->q[i]);
}

static int add_addr(struct cbpf_resolved *r, const uint8_t addr[16], int ttl)
{
	uint8_t (*v)[16];

	for (size_t i = 0; i < r->n; i++)
		if (!memcmp(r->addrs[i], addr, 16))
			goto ttl;
	v = realloc(r->addrs, (r->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->addrs = v;
	memcpy(r->addrs[r->n++], addr, 16);
ttl:
	if (ttl >= 0 && (r->ttl == 0 || (uint32_t)ttl < r->ttl))
		r->ttl = (uint32_t)ttl;
	return 0;
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf,
		      int alen, int type)
{
	struct query *q = arg;
	int n = MAX_ANSWERS;

	(void)timeouts;
	if (--q->pending == 0 && status != ARES_EDESTRUCTION)
		ask_next(q->batch);   /* this name is done: the window moves on */
	if (status == ARES_SUCCESS && type == ns_t_a) {
		struct ares_addrttl a[MAX_ANSWERS];

		status = ares_parse_a_reply(abuf, alen, NULL, a, &n);
		for (int i = 0; status == ARES_SUCCESS && i < n; i++) {
			uint8_t m[16];

			cbpf_v4_mapped(m, &a[i].ipaddr);
			if (add_addr(q->res, m, a[i].ttl))
				status = ARES_ENOMEM;
		}
	} else if (status == ARES_SUCCESS) {
		struct ares_addr6ttl a[MAX_ANSWERS];

		status = ares_parse_aaaa_reply(abuf, alen, NULL, a, &n);
		for (int i = 0; status == ARES_SUCCESS && i < n; i++)
			if (add_addr(q->res, (const uint8_t *)&a[i].ip6addr, a[i].ttl))
				status = ARES_ENOMEM;
	}
	/* ENODATA for one family is normal (no AAAA, say); remember the most
	 * telling failure for the message when neither family answers. */
	if (status != ARES_SUCCESS && (q->status == ARES_ENODATA ||
				       q->status == ARES_SUCCESS))
		q->status = status;
}

static void on_a(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	on_answer(arg, status, timeouts, abuf, alen, ns_t_a);
}

static void on_aaaa(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	on_answer(arg, status, timeouts, abuf, alen, ns_t_aaaa);
}

int cbpf_ares_set_servers(void *channel, const uint8_t (*servers)[16], size_t n)
{
	ares_channel ch = channel;
	struct ares_addr_node *nodes = calloc(n ? n : 1, sizeof(*nodes));
	int rc;

	if (!nodes)
		return ARES_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (cbpf_is_v4_mapped(servers[i])) {
			nodes[i].family = AF_INET;
			memcpy(&nodes[i].addr.addr4, &servers[i][12], 4);
		} else {
			nodes[i].family = AF_INET6;
			memcpy(&nodes[i].addr.addr6, servers[i], 16);
		}
		nodes[i].next = i + 1 < n ? &nodes[i + 1] : NULL;
	}
	rc = ares_set_servers(ch, n ? nodes : NULL);
	free(nodes);
	return rc;
}

static void run_loop(ares_channel ch)
{
	for (;;) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		struct timeval tv, *tvp;
		int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM), n = 0;

		for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			/* c-ares's own macros shift a signed 1 into the sign bit. */
			bool rd = (unsigned)bits & (1u << i);
			bool wr = (unsigned)bits & (1u << (i + ARES_GETSOCK_MAXNUM));

			if (!rd && !wr)
				continue;
			pfd[n].fd = socks[i];
			pfd[n].events = (short)((rd ? POLLIN : 0) | (wr ? POLLOUT : 0));
			pfd[n].revents = 0;
			n++;
		}
		if (n == 0)
			return;    /* nothing in flight: every query has answered */
		tvp = ares_timeout(ch, NULL, &tv);
		poll(pfd, n, tvp ? (int)(tv.tv_sec * 1000 + tv.tv_usec / 1000) : 1000);
		for (int i = 0; i < n; i++) {
			ares_socket_t r = pfd[i].revents & (POLLIN | POLLERR | POLLHUP)
					  ? pfd[i].fd : ARES_SOCKET_BAD;
			ares_socket_t w = pfd[i].revents & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD;

			if (r != ARES_SOCKET_BAD || w != ARES_SOCKET_BAD)
				ares_process_fd(ch, r, w);
		}
		ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts */
	}
}

int cbpf_resolve_all(const char *path, const char *const *hosts,
		     const unsigned *lines, size_t n,
		     const uint8_t (*servers)[16], size_t nservers,
		     struct cbpf_resolved *res, struct cbpf_errors *errs)
{
	struct ares_options opts = {
		.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES,
		.timeout = 2000,
		.tries = 3,
	};
	struct batch b = { .hosts = hosts, .n = n };
	struct query *q;
	ares_channel ch;
	int rc = 0;

	memset(res, 0, n * sizeof(*res));
	if (n == 0)
		return 0;
	if (nservers == 0) {
		for (size_t i = 0; i < n; i++) {
			res[i].host = hosts[i];
			res[i].error = "no DNS server (add a 'dns' line or a nameserver to "
				       "/etc/resolv.conf)";
			cbpf_errors_add(errs, "%s:%u: cannot resolve '%s': %s", path, lines[i],
					hosts[i], res[i].error);
		}
		return -EINVAL;
	}
	q = calloc(n, sizeof(*q));
	if (!q)
		return -ENOMEM;
	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS ||
	    ares_init_options(&ch, &opts, ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS |
			      ARES_OPT_TRIES) != ARES_SUCCESS) {
		free(q);
		return -ENOMEM;
	}
	if (cbpf_ares_set_servers(ch, servers, nservers) != ARES_SUCCESS) {
		rc = -ENOMEM;
		goto out;
	}
	b.ch = ch;
	b.q = q;
	for (size_t i = 0; i < n; i++) {
		res[i].host = hosts[i];
		q[i] = (struct query){ .res = &res[i], .batch = &b,
				       .status = ARES_SUCCESS, .pending = 2 };
	}
	for (size_t i = 0; i < IN_FLIGHT; i++)
		ask_next(&b);
	run_loop(ch);
	for (size_t i = 0; i < n; i++) {
		if (res[i].n > 0)
			continue;
		res[i].error = q[i].pending ? "no answer" :
			       q[i].status == ARES_SUCCESS ? "no address" :
			       ares_strerror(q[i].status);
		cbpf_errors_add(errs, "%s:%u: cannot resolve '%s': %s", path, lines[i],
				hosts[i], res[i].error);
		rc = -EINVAL;
	}
out:
	ares_destroy(ch);
	ares_library_cleanup();
	free(q);
	return rc;
}

void cbpf_resolved_free(struct cbpf_resolved *res, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(res[i].addrs);
		res[i].addrs = NULL;
		res[i].n = 0;
	}
}
