/* Compiling a parsed allowlist, or a built-in policy, into rules map
 * entries: ports and protocols expanded, then one sorted entry per key. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "base/addr.h"
#include "core/rules.h"

int cbpf_ruleset_push(struct cbpf_ruleset *rs, const struct cbpf_rule_entry *e)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? 2 * rs->cap : 64;
		struct cbpf_rule_entry *v = realloc(rs->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		rs->v = v;
		rs->cap = cap;
	}
	rs->v[rs->n++] = *e;
	return 0;
}

/* One rule as written, expanded into an entry per (protocol, port): no
 * port means 80 and 443, no protocol means TCP and UDP, ':*' alone means
 * every protocol. */
static int add(struct cbpf_ruleset *rs, uint8_t action, const uint8_t addr[16],
	       uint8_t prefix, int port, enum cbpf_conf_proto proto,
	       uint32_t host, uint64_t expires_ns)
{
	uint8_t protos[2];
	uint16_t ports[2];
	size_t np = 0, nport = 0;
	int r;

	if (proto == CBPF_CONF_ALL)
		protos[np++] = CBPF_PROTO_ANY;
	if (proto == CBPF_CONF_BOTH || proto == CBPF_CONF_TCP)
		protos[np++] = CBPF_PROTO_TCP;
	if (proto == CBPF_CONF_BOTH || proto == CBPF_CONF_UDP)
		protos[np++] = CBPF_PROTO_UDP;
	if (port == CBPF_CONF_PORT_DEFAULT) {
		ports[nport++] = 80;
		ports[nport++] = 443;
	} else if (port >= 0 && port <= 65535) {
		ports[nport++] = (uint16_t)port;
	}
	/* "Every protocol" has no ports: the BPF side looks it up with 0. */
	if (!np || !nport || prefix > 128 ||
	    (proto == CBPF_CONF_ALL && port != CBPF_CONF_PORT_ANY))
		return -EINVAL;

	for (size_t i = 0; i < np; i++) {
		for (size_t j = 0; j < nport; j++) {
			struct cbpf_rule_entry e = {
				.key = {
					.prefixlen = CBPF_KEY_FIXED_BITS + prefix,
					.proto = protos[i],
					.port = htons(ports[j]),
				},
				.val = {
					.action = action,
					.addr_prefix = prefix,
					.host = host,
					.expires_ns = expires_ns,
				},
			};

			memcpy(e.key.addr, addr, 16);
			if ((r = cbpf_ruleset_push(rs, &e)))
				return r;
		}
	}
	return 0;
}

/* A resolver: TCP and UDP port 53 to exactly that address, forever. */
static int add_dns(struct cbpf_ruleset *rs, const uint8_t addr[16])
{
	return add(rs, CBPF_ACTION_ALLOW, addr, 128, 53, CBPF_CONF_BOTH, 0, 0);
}

int cbpf_rules_host_addr(struct cbpf_ruleset *rs, const struct cbpf_conf_entry *e,
			 const uint8_t addr[16], uint32_t host, uint64_t expires_ns)
{
	return add(rs, e->action, addr, 128, e->port, e->proto, host, expires_ns);
}

int cbpf_ruleset_host(struct cbpf_ruleset *rs, const char *name, uint32_t *idx)
{
	char **h;

	for (size_t i = 0; i < rs->nhosts; i++) {
		if (!strcmp(rs->hosts[i], name)) {
			*idx = (uint32_t)(i + 1);
			return 0;
		}
	}
	if (!(h = realloc(rs->hosts, (rs->nhosts + 1) * sizeof(*h))))
		return -ENOMEM;
	rs->hosts = h;
	if (!(h[rs->nhosts] = strdup(name)))
		return -ENOMEM;
	*idx = (uint32_t)++rs->nhosts;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct cbpf_rule_entry *)a)->key,
		      &((const struct cbpf_rule_entry *)b)->key,
		      sizeof(struct cbpf_rule_key));
}

/* Which of two values for one key is kept: deny wins; among allows, one
 * that never expires (a literal address) beats one that does, then the
 * later expiry, then the lower host index, so the result never depends on
 * the order of the input. */
static bool beats(const struct cbpf_rule *a, const struct cbpf_rule *b)
{
	if (a->action != b->action)
		return a->action == CBPF_ACTION_DENY;
	if (!a->expires_ns != !b->expires_ns)
		return !a->expires_ns;
	if (a->expires_ns != b->expires_ns)
		return a->expires_ns > b->expires_ns;
	return a->host < b->host;
}

void cbpf_ruleset_finish(struct cbpf_ruleset *rs)
{
	size_t n = 0;

	if (!rs->n)
		return;
	qsort(rs->v, rs->n, sizeof(*rs->v), key_cmp);
	for (size_t i = 0; i < rs->n; i++) {
		if (n && !key_cmp(&rs->v[n - 1], &rs->v[i])) {
			if (beats(&rs->v[i].val, &rs->v[n - 1].val))
				rs->v[n - 1].val = rs->v[i].val;
		} else {
			rs->v[n++] = rs->v[i];
		}
	}
	rs->n = n;
}

/* Whether the first `len` bits of `addr` are those of `net`: the trie's
 * match of a key's address. */
static bool in_prefix(const uint8_t addr[16], const uint8_t net[16], unsigned len)
{
	unsigned bytes = len / 8, bits = len % 8;

	if (memcmp(addr, net, bytes))
		return false;
	return !bits || ((addr[bytes] ^ net[bytes]) & (uint8_t)(0xff << (8 - bits))) == 0;
}

/* The kernel's lookup_rule for one key (proto, port) in one map: in
 * "exact_rules" the entry for the whole address, in "rules" the longest
 * prefix that holds it; either one expired at now_ns is none. */
static const struct cbpf_rule *lookup_rule(const struct cbpf_ruleset *rs, bool exact,
					   const uint8_t addr[16], uint8_t proto,
					   uint16_t port_be, uint64_t now_ns)
{
	const struct cbpf_rule_entry *found = NULL;

	for (size_t i = 0; i < rs->n; i++) {
		const struct cbpf_rule_entry *e = &rs->v[i];

		if (e->key.proto != proto || e->key.port != port_be ||
		    (e->key.prefixlen == CBPF_KEY_EXACT) != exact)
			continue;
		if (exact ? !memcmp(e->key.addr, addr, 16) :
		    (!found || e->key.prefixlen > found->key.prefixlen) &&
		    in_prefix(addr, e->key.addr, cbpf_key_addr_prefix(&e->key)))
			found = e;
	}
	if (!found || (found->val.expires_ns && found->val.expires_ns <= now_ns))
		return NULL;
	return &found->val;
}

bool cbpf_rules_decide(const struct cbpf_ruleset *rs, const uint8_t addr[16],
		       uint8_t proto, uint16_t port, uint64_t now_ns, uint8_t *prefix)
{
	const uint16_t port_be = htons(port);
	const struct cbpf_rule *best, *r;

	/* The whole address first, and the first rule found for it ends the
	 * search: port rule, any-port rule, any-protocol rule. */
	best = lookup_rule(rs, true, addr, proto, port_be, now_ns);
	if (!best && port)
		best = lookup_rule(rs, true, addr, proto, CBPF_PORT_ANY, now_ns);
	if (!best && proto != CBPF_PROTO_ANY)
		best = lookup_rule(rs, true, addr, CBPF_PROTO_ANY, CBPF_PORT_ANY, now_ns);
	/* Then the prefixes: the longest wins, the earlier key at equal length. */
	if (!best) {
		best = lookup_rule(rs, false, addr, proto, port_be, now_ns);
		if (port && (r = lookup_rule(rs, false, addr, proto, CBPF_PORT_ANY, now_ns)) &&
		    (!best || r->addr_prefix > best->addr_prefix))
			best = r;
		if (proto != CBPF_PROTO_ANY &&
		    (r = lookup_rule(rs, false, addr, CBPF_PROTO_ANY, CBPF_PORT_ANY, now_ns)) &&
		    (!best || r->addr_prefix > best->addr_prefix))
			best = r;
	}
	*prefix = best ? best->addr_prefix : 0;
	return best && best->action == CBPF_ACTION_ALLOW;
}

bool cbpf_answer_skipped(const uint8_t a[16])
{
	static const uint8_t zero[15];

	if (cbpf_is_v4_mapped(a))
		return a[12] == 0 || a[12] == 127 || (a[12] == 169 && a[13] == 254) ||
		       (a[12] & 0xf0) == 224 ||
		       (a[12] == 255 && a[13] == 255 && a[14] == 255 && a[15] == 255);
	return (!memcmp(a, zero, 15) && a[15] <= 1) ||         /* ::, ::1 */
	       (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||      /* fe80::/10 */
	       a[0] == 0xff;                                   /* ff00::/8 */
}

static const struct cbpf_resolved *find_resolved(const struct cbpf_resolved *res,
						 size_t nres, const char *host)
{
	for (size_t i = 0; i < nres; i++)
		if (res[i].host && !strcmp(res[i].host, host))
			return &res[i];
	return NULL;
}

int cbpf_rules_compile(const struct cbpf_conf *conf,
		       const struct cbpf_resolved *res, size_t nres,
		       const uint8_t (*dns_default)[16], size_t ndns_default,
		       struct cbpf_ruleset *out)
{
	int r = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < conf->n && !r; i++) {
		const struct cbpf_conf_entry *e = &conf->entries[i];
		const struct cbpf_resolved *rv;
		uint32_t h;

		if (!e->is_host) {
			r = add(out, e->action, e->addr, e->prefix, e->port,
				e->proto, 0, 0);
			continue;
		}
		/* "*.example.com", allow or deny, makes no rule: the DNS
		 * forwarder writes those of each name it answers. */
		if (e->wildcard)
			continue;
		/* The loader reports resolution failures; reaching here without
		 * an answer is its bug, not a reason to allow nothing silently.
		 * An answer of no addresses is a name the DNS forwarder answers
		 * later (direct mode refuses a file with one). */
		rv = find_resolved(res, nres, e->host);
		if (!rv) {
			r = -ENOENT;
			break;
		}
		r = cbpf_ruleset_host(out, e->host, &h);
		for (size_t j = 0; j < rv->n && !r; j++)
			if (!cbpf_answer_skipped(rv->addrs[j]))
				r = add(out, e->action, rv->addrs[j], 128, e->port,
					e->proto, h, rv->expires_ns);
	}
	for (size_t i = 0; i < conf->ndns && !r; i++)
		r = add_dns(out, conf->dns[i].addr);
	for (size_t i = 0; !conf->ndns && i < ndns_default && !r; i++)
		r = add_dns(out, dns_default[i]);
	if (r)
		cbpf_ruleset_free(out);
	else
		cbpf_ruleset_finish(out);
	return r;
}

/* What "internet, no LAN" denies: every range that is not the public
 * internet, or that reaches the host, its network or its cloud. */
static const char *const not_internet[] = {
	"0.0.0.0/8",            /* "this network" */
	"10.0.0.0/8",           /* RFC 1918 */
	"100.64.0.0/10",        /* CGNAT */
	"127.0.0.0/8",          /* loopback */
	"169.254.0.0/16",       /* link-local, cloud metadata 169.254.169.254 */
	"172.16.0.0/12",        /* RFC 1918 */
	"192.0.0.0/24",         /* IETF protocol assignments */
	"192.0.2.0/24",         /* TEST-NET-1 */
	"192.168.0.0/16",       /* RFC 1918 */
	"198.18.0.0/15",        /* benchmarking */
	"198.51.100.0/24",      /* TEST-NET-2 */
	"203.0.113.0/24",       /* TEST-NET-3 */
	"224.0.0.0/4",          /* multicast */
	"240.0.0.0/4",          /* reserved, broadcast 255.255.255.255 */
	"::/128",               /* unspecified */
	"::1/128",              /* loopback */
	"fc00::/7",             /* ULA */
	"fe80::/10",            /* link-local */
	"ff00::/8",             /* multicast */
	"2001:db8::/32",        /* documentation */
	"3fff::/20",            /* documentation (RFC 9637) */
	"100::/64",             /* discard-only */
	"fd00:ec2::254/128",    /* AWS metadata (inside fc00::/7 anyway) */
	/* IPv6 routes into IPv4's private space, and old forms of it. */
	"64:ff9b::/96",         /* NAT64: private IPv4 through a NAT64 gateway */
	"64:ff9b:1::/48",       /* local-use NAT64 */
	"2002::/16",            /* 6to4 */
	"2001::/32",            /* Teredo */
	"::/96",                /* IPv4-compatible */
	"fec0::/10",            /* site-local */
};

int cbpf_rules_internet(const struct cbpf_prefix *own, size_t nown,
			const uint8_t (*dns)[16], size_t ndns,
			struct cbpf_ruleset *out)
{
	static const uint8_t any[16];
	size_t n = sizeof(not_internet) / sizeof(not_internet[0]);
	int r;

	memset(out, 0, sizeof(*out));
	/* ::/0 covers IPv4 too, as v4-mapped addresses. */
	r = add(out, CBPF_ACTION_ALLOW, any, 0, CBPF_CONF_PORT_ANY,
		CBPF_CONF_ALL, 0, 0);
	for (size_t i = 0; i < n && !r; i++) {
		const char *s = not_internet[i];
		uint8_t addr[16], prefix;

		if (cbpf_parse_prefix(s, strchr(s, ':') ? AF_INET6 : AF_INET,
				      addr, &prefix) != CBPF_PREFIX_OK)
			r = -EINVAL;
		else
			r = add(out, CBPF_ACTION_DENY, addr, prefix,
				CBPF_CONF_PORT_ANY, CBPF_CONF_ALL, 0, 0);
	}
	for (size_t i = 0; i < nown && !r; i++) {
		uint8_t addr[16];

		/* The network, host bits clear. */
		for (int b = 0; b < 16; b++) {
			int keep = own[i].len - 8 * b;

			addr[b] = keep >= 8 ? own[i].addr[b] : keep <= 0 ? 0 :
				  own[i].addr[b] & (uint8_t)(0xff << (8 - keep));
		}
		r = add(out, CBPF_ACTION_DENY, addr, own[i].len, CBPF_CONF_PORT_ANY,
			CBPF_CONF_ALL, 0, 0);
	}
	/* Port 53 entries are more specific than the ranges above, so a
	 * resolver on the LAN stays reachable. */
	for (size_t i = 0; i < ndns && !r; i++)
		r = add_dns(out, dns[i]);
	if (r)
		cbpf_ruleset_free(out);
	else
		cbpf_ruleset_finish(out);
	return r;
}

int cbpf_rules_none(struct cbpf_ruleset *out)
{
	memset(out, 0, sizeof(*out));
	return 0;
}

void cbpf_ruleset_free(struct cbpf_ruleset *rs)
{
	for (size_t i = 0; i < rs->nhosts; i++)
		free(rs->hosts[i]);
	free(rs->hosts);
	free(rs->v);
	memset(rs, 0, sizeof(*rs));
}
