/* The allowlist file: each line parsed into an entry or a DNS resolver, or
 * the whole file rejected with every error. Pure: no I/O, never prints. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "base/addr.h"
#include "core/config.h"

#define LINE_MAX_LEN 1023

enum keyword { KW_NONE, KW_ALLOW, KW_DENY, KW_DNS };

struct ctx {
	const char *path;
	unsigned line;
	struct cbpf_errors *errs;
	int rc;                 /* 0, -EINVAL after an error, or -ENOMEM */
};

/* What one target ("host:port/proto", "[v6/n]:*", ...) says. */
struct target {
	bool is_host, wildcard, v4, has_port;
	char host[CBPF_HOST_MAX];
	uint8_t addr[16], prefix;
	int port;
	enum cbpf_conf_proto proto;
};

/* Records "PATH:LINE: message"; returns -EINVAL so callers can
 * `return err(...)`. */
__attribute__((format(printf, 2, 3)))
static int err(struct ctx *c, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The file's bytes end up on a terminal: no control characters. */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (cbpf_errors_add(c->errs, "%s:%u: %s", c->path, c->line, msg) < 0)
		c->rc = -ENOMEM;
	else if (!c->rc)
		c->rc = -EINVAL;
	return -EINVAL;
}

/* ASCII only: the meaning of the file must not depend on the locale. */
static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_xdigit(char ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* Strict decimal, as for ports and prefix lengths: digits only, no sign,
 * no leading zero, at most `max`. Returns the value or -1. */
static long parse_dec(const char *s, long max)
{
	long v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -1;
	for (; *s; s++) {
		if (!is_digit(*s))
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	return v;
}

/* Zeroes the bits past `prefix`; true when any was set. */
static bool mask(uint8_t a[16], unsigned prefix)
{
	bool set = false;

	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = prefix >= 8 * (i + 1) ? 8 :
				prefix > 8 * i ? prefix - 8 * i : 0;
		uint8_t m = (uint8_t)(0xff00 >> keep);

		set |= (a[i] & ~m) != 0;
		a[i] &= m;
	}
	return set;
}

enum cbpf_prefix_error cbpf_parse_prefix(const char *s, int family,
					 uint8_t addr[16], uint8_t *prefix)
{
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	long bits = family == AF_INET ? 32 : 128, len = bits;
	char a[INET6_ADDRSTRLEN];
	int ok;

	memset(addr, 0, 16);
	if (n >= sizeof(a))
		return CBPF_PREFIX_BAD_ADDRESS;
	memcpy(a, s, n);
	a[n] = '\0';
	if (family == AF_INET) {
		uint8_t a4[4];

		if ((ok = inet_pton(AF_INET, a, a4)) == 1)
			cbpf_v4_mapped(addr, a4);
	} else {
		ok = inet_pton(AF_INET6, a, addr);
	}
	if (ok != 1)
		return CBPF_PREFIX_BAD_ADDRESS;
	if (slash && (len = parse_dec(slash + 1, bits)) < 0)
		return CBPF_PREFIX_BAD_LENGTH;
	*prefix = (uint8_t)(128 - bits + len);
	return mask(addr, *prefix) ? CBPF_PREFIX_HOST_BITS : CBPF_PREFIX_OK;
}

void cbpf_format_prefix(const uint8_t addr[16], uint8_t prefix, char *buf,
			size_t len)
{
	/* A v4-mapped prefix shorter than 96 has no IPv4 spelling. */
	bool v4 = cbpf_is_v4_mapped(addr) && prefix >= 96;
	char a[INET6_ADDRSTRLEN] = "";
	unsigned full = v4 ? 32 : 128, n = v4 ? prefix - 96u : prefix;

	if (!len)
		return;
	inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? addr + 12 : addr, a, sizeof(a));
	if (n < full)
		snprintf(buf, len, "%s/%u", a, n);
	else
		snprintf(buf, len, "%s", a);
}

/* An address or CIDR, with the message for each way it can be wrong. */
static int parse_addr(struct ctx *c, const char *s, int family,
		      struct target *t)
{
	const char *slash = strchr(s, '/');
	int v = family == AF_INET ? 4 : 6;
	char net[INET6_ADDRSTRLEN + 4];

	switch (cbpf_parse_prefix(s, family, t->addr, &t->prefix)) {
	case CBPF_PREFIX_OK:
		t->v4 = family == AF_INET;
		return 0;
	case CBPF_PREFIX_BAD_ADDRESS:
		if (!slash)
			return err(c, "invalid IPv%d address '%s'", v, s);
		return err(c, "invalid CIDR '%s': '%.*s' is not an IPv%d address",
			   s, (int)(slash - s), s, v);
	case CBPF_PREFIX_BAD_LENGTH:
		return err(c, "invalid CIDR '%s': prefix length must be 0..%d",
			   s, v == 4 ? 32 : 128);
	case CBPF_PREFIX_HOST_BITS:
		break;
	}
	cbpf_format_prefix(t->addr, t->prefix, net, sizeof(net));
	return err(c, "invalid CIDR '%s': host bits are set; the network is '%s'",
		   s, net);
}

/* A hostname: labels of letters, digits, '-' and '_' (the names the DNS
 * forwarder matches, dnsmsg.h), stored lower-case without the trailing
 * dot. "*.suffix" is a wildcard, any name strictly below suffix: then
 * t->wildcard, t->host is the suffix, and the 253 characters count "*."
 * as the forwarder's patterns do. A suffix of one label ("*.com") is too
 * broad to be meant. */
static int parse_host(struct ctx *c, const char *s, struct target *t)
{
	bool wild = s[0] == '*' && s[1] == '.';
	const char *what = wild ? "wildcard" : "hostname";
	const char *name = wild ? s + 2 : s;
	size_t n = strlen(name), start = 0, labels = 0;

	if (strchr(name, '*'))
		return err(c, "invalid wildcard '%s': '*' must be the whole first "
			   "label, as in '*.example.com'", s);
	if (n && name[n - 1] == '.')
		n--;
	if (n + (size_t)(name - s) > 253)
		return err(c, "invalid %s '%s': longer than 253 characters", what, s);
	for (size_t i = 0; i <= n; i++) {
		if (i < n && name[i] != '.') {
			if (!is_alpha(name[i]) && !is_digit(name[i]) &&
			    name[i] != '-' && name[i] != '_')
				return err(c, "invalid %s '%s': only letters, digits, "
					   "'-', '_' and '.' are allowed", what, s);
			continue;
		}
		/* The end of the label name[start, i). */
		if (i == start)
			return err(c, "invalid %s '%s': empty label", what, s);
		if (i - start > 63)
			return err(c, "invalid %s '%s': a label is longer than 63 "
				   "characters", what, s);
		if (name[start] == '-' || name[i - 1] == '-')
			return err(c, "invalid %s '%s': a label starts or ends with "
				   "'-'", what, s);
		labels++;
		start = i + 1;
	}
	if (wild && labels < 2)
		return err(c, "invalid wildcard '%s': too broad; write two labels "
			   "or more after '*.', as in '*.example.com'", s);
	/* Digits and dots alone are an address everywhere else in the file. */
	if (wild && !name[strspn(name, "0123456789.")])
		return err(c, "invalid wildcard '%s': '%.*s' is not a domain name "
			   "(digits and dots only)", s, (int)n, name);
	for (size_t i = 0; i < n; i++)
		t->host[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ?
				    name[i] - 'A' + 'a' : name[i]);
	t->host[n] = '\0';
	t->wildcard = wild;
	return 0;
}

static int parse_proto(const char *s)
{
	if (!strcasecmp(s, "tcp"))
		return CBPF_CONF_TCP;
	if (!strcasecmp(s, "udp"))
		return CBPF_CONF_UDP;
	return -1;
}

static int dns_port_err(struct ctx *c, const char *tok)
{
	return err(c, "dns resolver '%s' cannot have a port or protocol: it is "
		   "queried on UDP and TCP port 53", tok);
}

/* "host/tcp": a protocol with no port in front of it. Returns 0 when the
 * last '/' of `tok` is not followed by a protocol. */
static int check_bare_proto(struct ctx *c, const char *tok, bool dns)
{
	const char *slash = strrchr(tok, '/');

	if (!slash || parse_proto(slash + 1) < 0)
		return 0;
	if (dns)
		return dns_port_err(c, tok);
	return err(c, "protocol '%s' without a port in '%s': write '%.*s:PORT/%s'",
		   slash + 1, tok, (int)(slash - tok), tok, slash + 1);
}

/* What follows the ':': "PORT" or "*", then optionally "/tcp" or "/udp". */
static int parse_port(struct ctx *c, char *spec, const char *tok,
		      struct target *t)
{
	char *slash = strchr(spec, '/');
	long port;

	t->has_port = true;
	if (slash) {
		int p = parse_proto(slash + 1);

		if (p < 0)
			return err(c, "invalid protocol '%s' in '%s': must be tcp "
				   "or udp", slash + 1, tok);
		*slash = '\0';
		t->proto = (enum cbpf_conf_proto)p;
	}
	if (!strcmp(spec, "*")) {
		t->port = CBPF_CONF_PORT_ANY;
		if (!slash)
			t->proto = CBPF_CONF_ALL;
		return 0;
	}
	port = parse_dec(spec, 65535);
	if (port < 1)
		return err(c, "invalid port '%s' in '%s': must be 1..65535", spec,
			   tok);
	t->port = (int)port;
	return 0;
}

/* "2001:db8::1" written without brackets: two colons or more before any
 * '/' and, unless `dns` (a resolver has no port, so two colons can only
 * mean IPv6), only hex digits, colons and dots. */
static bool is_bare_v6(const char *s, bool dns)
{
	int colons = 0;

	for (; *s && *s != '/'; s++) {
		if (*s == ':')
			colons++;
		else if (!dns && !is_xdigit(*s) && *s != '.')
			return false;
	}
	return colons >= 2;
}

/* One target, the same syntax for allow, deny and dns; `dns` accepts a bare
 * IPv6 address (there is no port to confuse it with). */
static int parse_target(struct ctx *c, const char *tok, bool dns,
			struct target *t)
{
	char buf[LINE_MAX_LEN + 1];
	char *a = buf, *spec = NULL;
	const char *rest = "";      /* what follows ']' */
	int family = AF_INET, r;

	memset(t, 0, sizeof(*t));
	t->port = CBPF_CONF_PORT_DEFAULT;
	t->proto = CBPF_CONF_BOTH;
	snprintf(buf, sizeof(buf), "%s", tok);

	if (*a == '[') {
		char *end = strchr(a, ']');

		if (!end)
			return err(c, "missing ']' in '%s'", tok);
		*end = '\0';
		a++;
		rest = end + 1;
		family = AF_INET6;
		if (*rest == ':')
			spec = end + 2;
	} else if (is_bare_v6(a, dns)) {
		if (!dns)
			return err(c, "IPv6 address '%s' must be in brackets: '[%s]'",
				   tok, tok);
		family = AF_INET6;
	} else if ((spec = strchr(a, ':'))) {
		*spec++ = '\0';
	}
	if (!spec && (r = check_bare_proto(c, tok, dns)))
		return r;
	if (!spec && *rest)
		return err(c, "unexpected '%s' after ']' in '%s'", rest, tok);

	if (family != AF_INET6 && !*a) {
		return err(c, "missing host in '%s'", tok);
	} else if (family == AF_INET6 || strchr(a, '/') || !a[strspn(a, "0123456789.")]) {
		/* Bracketed, a CIDR, or digits and dots only (an IPv4 address
		 * or a mistake): never a name to resolve. */
		r = parse_addr(c, a, family, t);
	} else {
		t->is_host = true;
		r = parse_host(c, a, t);
	}
	if (r)
		return r;
	return spec ? parse_port(c, spec, tok, t) : 0;
}

/* Entries grow geometrically (policies of 100,000 rules); resolvers one at
 * a time (a file names few). */
static int add_target(struct ctx *c, enum keyword kw, const char *tok,
		      struct target *t, struct cbpf_conf *out)
{
	struct cbpf_conf_entry *e;
	struct cbpf_conf_dns *d;

	if (kw == KW_DNS) {
		if (t->is_host)
			return err(c, "dns resolver '%s' must be an IP address, not "
				   "a hostname", tok);
		if (t->has_port)
			return dns_port_err(c, tok);
		if (t->prefix != 128)
			return err(c, "dns resolver '%s' must be a single address, "
				   "not a CIDR", tok);
		if (!(d = realloc(out->dns, (out->ndns + 1) * sizeof(*d))))
			return -ENOMEM;
		out->dns = d;
		d[out->ndns] = (struct cbpf_conf_dns){ .line = c->line, .v4 = t->v4 };
		memcpy(d[out->ndns++].addr, t->addr, 16);
		return 0;
	}
	/* A wildcard deny carves names out of a wildcard allow (the
	 * forwarder refuses them); a name not listed is denied already. */
	if (kw == KW_DENY && t->is_host && !t->wildcard)
		return err(c, "cannot deny hostname '%s': hosts not listed are "
			   "already denied; deny takes an address or CIDR", tok);
	if (out->n == out->cap) {
		size_t cap = out->cap ? 2 * out->cap : 16;

		if (!(e = realloc(out->entries, cap * sizeof(*e))))
			return -ENOMEM;
		out->entries = e;
		out->cap = cap;
	}
	e = &out->entries[out->n];
	/* `deny 10.0.0.0/8` means all of it: every port and protocol. (An
	 * allow without a port stays 80 and 443.) */
	if (kw == KW_DENY && t->port == CBPF_CONF_PORT_DEFAULT) {
		t->port = CBPF_CONF_PORT_ANY;
		t->proto = CBPF_CONF_ALL;
	}
	*e = (struct cbpf_conf_entry){
		.line = c->line,
		.action = kw == KW_DENY ? CBPF_ACTION_DENY : CBPF_ACTION_ALLOW,
		.is_host = t->is_host,
		.wildcard = t->wildcard,
		.v4 = t->v4,
		.prefix = t->prefix,
		.port = t->port,
		.proto = t->proto,
	};
	if (t->is_host && !(e->host = strdup(t->host)))
		return -ENOMEM;
	memcpy(e->addr, t->addr, 16);
	out->n++;
	return 0;
}

static enum keyword keyword(const char *s)
{
	if (!strcmp(s, "allow"))
		return KW_ALLOW;
	if (!strcmp(s, "deny"))
		return KW_DENY;
	if (!strcmp(s, "dns"))
		return KW_DNS;
	return KW_NONE;
}

/* One line, NUL-terminated, without its line ending. */
static int parse_line(struct ctx *c, char *line, struct cbpf_conf *out)
{
	char *tok[3], *p = line;
	const char *target;
	size_t n = 0, kwn;
	struct target t;
	enum keyword kw;

	p[strcspn(p, "#")] = '\0';
	while (*p) {
		while (is_space(*p))
			p++;
		if (!*p)
			break;
		if (n < 3)
			tok[n] = p;
		n++;
		while (*p && !is_space(*p))
			p++;
		if (*p)
			*p++ = '\0';
	}
	if (!n)
		return 0;

	kw = keyword(tok[0]);
	kwn = kw != KW_NONE;        /* tokens before the target */
	if (!kwn && n > 1 && !tok[0][strspn(tok[0], "abcdefghijklmnopqrstuvwxyz"
					     "ABCDEFGHIJKLMNOPQRSTUVWXYZ")])
		return err(c, "unknown keyword '%s': expected allow, deny or dns",
			   tok[0]);
	if (n == kwn)
		return err(c, "missing host or address after '%s'", tok[0]);
	target = tok[kwn];
	if (n > kwn + 1)
		return err(c, "unexpected '%s' after '%s': one entry per line",
			   tok[kwn + 1], target);
	if (parse_target(c, target, kw == KW_DNS, &t))
		return -EINVAL;
	return add_target(c, kw, target, &t, out);
}

int cbpf_conf_parse(const char *path, const char *text, struct cbpf_conf *out,
		    struct cbpf_errors *errs)
{
	struct ctx c = { .path = path, .errs = errs };
	char line[LINE_MAX_LEN + 1];

	memset(out, 0, sizeof(*out));
	for (const char *p = text; *p && c.rc != -ENOMEM; ) {
		size_t len = strcspn(p, "\n"), n = len;

		c.line++;
		if (n && p[n - 1] == '\r')  /* CRLF files */
			n--;
		if (n > LINE_MAX_LEN) {
			err(&c, "line longer than %d characters", LINE_MAX_LEN);
		} else {
			memcpy(line, p, n);
			line[n] = '\0';
			if (parse_line(&c, line, out) == -ENOMEM)
				c.rc = -ENOMEM;
		}
		p += len + (p[len] == '\n');
	}
	if (c.rc)
		cbpf_conf_free(out);
	return c.rc;
}

size_t cbpf_conf_wildcards(const struct cbpf_conf *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n; i++)
		n += c->entries[i].wildcard;
	return n;
}

int cbpf_conf_check_direct(const struct cbpf_conf *c, const char *path,
			   struct cbpf_errors *errs)
{
	int rc = 0;

	for (size_t i = 0; i < c->n; i++) {
		const struct cbpf_conf_entry *e = &c->entries[i];

		if (!e->wildcard)
			continue;
		if (cbpf_errors_add(errs, "%s:%u: wildcard '*.%s' needs the DNS "
				    "forwarder (--dns forward); direct mode resolves "
				    "each name ahead of time", path, e->line, e->host) < 0)
			return -ENOMEM;
		rc = -EINVAL;
	}
	return rc;
}

void cbpf_conf_free(struct cbpf_conf *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->entries[i].host);
	free(c->entries);
	free(c->dns);
	memset(c, 0, sizeof(*c));
}
