/* DNS messages for the forwarder: ldns reads and writes the wire format;
 * this file decides what a query, a refusal and an answer may be. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <ldns/ldns.h>
#include "base/addr.h"
#include "core/config.h"
#include "core/dnsmsg.h"

#define NAME_MAX_LEN 253
#define LABEL_MAX_LEN 63

/* SvcParamKeys (RFC 9460) that carry addresses. */
#define SVC_IPV4HINT 4
#define SVC_IPV6HINT 6

/* ASCII only: what matches must not depend on the locale. */
static bool is_name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

static char lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static bool same_name(const char *a, const char *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

/* Reads a pattern or a name: *len is its length without one trailing dot,
 * *below whether it starts with the label "*". False for what no pattern
 * may be. */
static bool read_name(const char *s, size_t *len, bool *below)
{
	size_t n = strlen(s), label = 0;

	if (n && s[n - 1] == '.')
		n--;
	*len = n;
	*below = n > 2 && s[0] == '*' && s[1] == '.';
	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (size_t i = *below ? 2 : 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (!is_name_char(s[i]) || ++label > LABEL_MAX_LEN) {
			return false;
		}
	}
	return label > 0;
}

int cbpf_dns_names_add(struct cbpf_dns_names *n, const char *pattern)
{
	struct cbpf_dns_name *e;
	size_t len;
	bool below;

	if (!read_name(pattern, &len, &below))
		return -EINVAL;
	if (!(e = realloc(n->v, (n->n + 1) * sizeof(*e))))
		return -ENOMEM;
	n->v = e;
	e = &n->v[n->n];
	if (below) {
		pattern += 2;
		len -= 2;
	}
	if (!(e->name = strndup(pattern, len)))
		return -ENOMEM;
	for (char *p = e->name; *p; p++)
		*p = lower(*p);
	e->below = below;
	n->n++;
	return 0;
}

size_t cbpf_dns_names_find(const struct cbpf_dns_names *n, const char *name, size_t from)
{
	size_t len;
	bool below;

	if (!read_name(name, &len, &below))
		return n->n;
	for (size_t i = from; i < n->n; i++) {
		const struct cbpf_dns_name *e = &n->v[i];
		size_t elen = strlen(e->name);

		if (!e->below && len == elen && same_name(name, e->name, len))
			return i;
		/* Below: a whole label or more before ".suffix". */
		if (e->below && len > elen + 1 && name[len - elen - 1] == '.' &&
		    same_name(name + len - elen, e->name, elen))
			return i;
	}
	return n->n;
}

bool cbpf_dns_names_match(const struct cbpf_dns_names *n, const char *name)
{
	return cbpf_dns_names_find(n, name, 0) < n->n;
}

void cbpf_dns_names_free(struct cbpf_dns_names *n)
{
	for (size_t i = 0; i < n->n; i++)
		free(n->v[i].name);
	free(n->v);
	memset(n, 0, sizeof(*n));
}

static int from_ldns(ldns_status s)
{
	if (s == LDNS_STATUS_OK)
		return 0;
	return s == LDNS_STATUS_MEM_ERR ? -ENOMEM : -EBADMSG;
}

static int parse(const uint8_t *msg, size_t len, ldns_pkt **p)
{
	*p = NULL;
	return from_ldns(ldns_wire2pkt(p, msg, len));
}

/* A message with exactly one question that is (qr) or is not a response;
 * a query has opcode QUERY too. Returns the question, or NULL (*p freed
 * and NULL) with *rc set. */
static const ldns_rr *parse_one_question(const uint8_t *msg, size_t len, bool qr,
					 ldns_pkt **p, int *rc)
{
	if ((*rc = parse(msg, len, p)))
		return NULL;
	if (ldns_pkt_qr(*p) == qr &&
	    (qr || ldns_pkt_get_opcode(*p) == LDNS_PACKET_QUERY) &&
	    ldns_rr_list_rr_count(ldns_pkt_question(*p)) == 1)
		return ldns_rr_list_rr(ldns_pkt_question(*p), 0);
	ldns_pkt_free(*p);
	*p = NULL;
	*rc = -EBADMSG;
	return NULL;
}

/* Writes p in wire format to out. ldns compresses names its own way: the
 * bytes may differ from a message it read, the meaning does not. */
static int write_wire(const ldns_pkt *p, uint8_t *out, size_t cap, size_t *outlen)
{
	uint8_t *wire = NULL;
	size_t n = 0;
	int rc = from_ldns(ldns_pkt2wire(&wire, p, &n));

	if (!rc && n > cap)
		rc = -ENOSPC;
	if (!rc) {
		memcpy(out, wire, n);
		*outlen = n;
	}
	free(wire);
	return rc;
}

int cbpf_dns_query_parse(const uint8_t *msg, size_t len, struct cbpf_dns_query *q)
{
	ldns_pkt *p;
	ldns_rdf *owner = NULL;
	char *s = NULL;
	const ldns_rr *qn;
	size_t n;
	int rc;

	if (!(qn = parse_one_question(msg, len, false, &p, &rc)))
		return rc;
	rc = -ENOMEM;
	if (!(owner = ldns_rdf_clone(ldns_rr_owner(qn))))
		goto out;
	ldns_dname2canonical(owner);
	if (!(s = ldns_rdf2str(owner)))
		goto out;
	n = strlen(s);
	if (n > 1 && s[n - 1] == '.')
		s[--n] = '\0';
	rc = -EBADMSG;
	if (n >= sizeof(q->name))
		goto out;
	memcpy(q->name, s, n + 1);
	q->id = ldns_pkt_id(p);
	q->qtype = (uint16_t)ldns_rr_get_type(qn);
	q->qclass = (uint16_t)ldns_rr_get_class(qn);
	rc = 0;
out:
	free(s);
	ldns_rdf_deep_free(owner);
	ldns_pkt_free(p);
	return rc;
}

int cbpf_dns_reply_error(const uint8_t *query, size_t len, int rcode, uint8_t *out,
			 size_t cap, size_t *outlen)
{
	ldns_pkt *p, *r = NULL;
	ldns_rr *qn = NULL;
	const ldns_rr *question;
	int rc;

	if (!(question = parse_one_question(query, len, false, &p, &rc)))
		return rc;
	rc = -ENOMEM;
	if (!(r = ldns_pkt_new()) || !(qn = ldns_rr_clone(question)))
		goto out;
	ldns_pkt_set_id(r, ldns_pkt_id(p));
	ldns_pkt_set_qr(r, true);
	ldns_pkt_set_opcode(r, LDNS_PACKET_QUERY);
	ldns_pkt_set_rd(r, ldns_pkt_rd(p));
	ldns_pkt_set_ra(r, true);
	ldns_pkt_set_rcode(r, (uint8_t)rcode);
	if (!ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, qn))
		goto out;
	qn = NULL;      /* r's now */
	rc = write_wire(r, out, cap, outlen);
out:
	ldns_rr_free(qn);
	ldns_pkt_free(r);
	ldns_pkt_free(p);
	return rc;
}

bool cbpf_dns_answer_matches(const uint8_t *query, size_t qlen,
			     const uint8_t *answer, size_t alen)
{
	ldns_pkt *q, *a = NULL;
	const ldns_rr *qq, *aq = NULL;
	bool ok = false;
	int rc;

	if (!(qq = parse_one_question(query, qlen, false, &q, &rc)))
		return false;
	if ((aq = parse_one_question(answer, alen, true, &a, &rc)))
		ok = ldns_pkt_id(q) == ldns_pkt_id(a) &&
		     ldns_rr_get_type(qq) == ldns_rr_get_type(aq) &&
		     ldns_rr_get_class(qq) == ldns_rr_get_class(aq) &&
		     ldns_dname_compare(ldns_rr_owner(qq), ldns_rr_owner(aq)) == 0;
	ldns_pkt_free(a);
	ldns_pkt_free(q);
	return ok;
}

/* The CNAME chain: chain[0] the name asked, each next the target of a
 * CNAME owned by the one before. */
struct chain {
	const ldns_rdf *name[CBPF_DNS_CHAIN_MAX + 1];
	size_t n;
};

static bool on_chain(const struct chain *c, const ldns_rdf *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (ldns_dname_compare(c->name[i], name) == 0)
			return true;
	return false;
}

/* Whether rr is of class IN and type t with one rdf of type rt (ldns
 * reads what it can; an rdata it could not is not used). */
static const ldns_rdf *rdata_of(const ldns_rr *rr, ldns_rr_type t, ldns_rdf_type rt)
{
	const ldns_rdf *f;

	if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN || ldns_rr_get_type(rr) != t ||
	    ldns_rr_rd_count(rr) != 1)
		return NULL;
	f = ldns_rr_rdf(rr, 0);
	return ldns_rdf_get_type(f) == rt ? f : NULL;
}

static void follow(struct chain *c, const ldns_rr_list *an)
{
	while (c->n <= CBPF_DNS_CHAIN_MAX) {
		const ldns_rdf *next = NULL;

		for (size_t i = 0; i < ldns_rr_list_rr_count(an) && !next; i++) {
			const ldns_rr *rr = ldns_rr_list_rr(an, i);
			const ldns_rdf *t = rdata_of(rr, LDNS_RR_TYPE_CNAME, LDNS_RDF_TYPE_DNAME);

			if (t && ldns_dname_compare(ldns_rr_owner(rr), c->name[c->n - 1]) == 0)
				next = t;
		}
		if (!next || on_chain(c, next))
			return;
		c->name[c->n++] = next;
	}
}

/* The address of an A or AAAA record owned by a name on the chain. */
static bool chain_addr(const struct chain *c, const ldns_rr *rr, struct cbpf_dns_addr *a)
{
	const ldns_rdf *f;

	if (!on_chain(c, ldns_rr_owner(rr)))
		return false;
	if ((f = rdata_of(rr, LDNS_RR_TYPE_A, LDNS_RDF_TYPE_A)) && ldns_rdf_size(f) == 4) {
		cbpf_v4_mapped(a->addr, ldns_rdf_data(f));
	} else if ((f = rdata_of(rr, LDNS_RR_TYPE_AAAA, LDNS_RDF_TYPE_AAAA)) &&
		   ldns_rdf_size(f) == 16) {
		memcpy(a->addr, ldns_rdf_data(f), 16);
	} else {
		return false;
	}
	a->ttl = ldns_rr_ttl(rr);
	return true;
}

int cbpf_dns_answer_addrs(const uint8_t *msg, size_t len, const char *name,
			  struct cbpf_dns_addr *out, size_t max, size_t *n)
{
	struct chain c = { .n = 1 };
	ldns_rdf *start = NULL;
	const ldns_rr_list *an;
	ldns_pkt *p;
	size_t count = 0;
	int rc;

	*n = 0;
	if ((rc = parse(msg, len, &p)))
		return rc;
	rc = -EBADMSG;
	if (!ldns_pkt_qr(p))
		goto out;
	rc = -EINVAL;
	if (ldns_str2rdf_dname(&start, name) != LDNS_STATUS_OK)
		goto out;
	c.name[0] = start;
	an = ldns_pkt_answer(p);
	follow(&c, an);
	/* Counted first: past `max`, nothing is written. */
	for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
		struct cbpf_dns_addr a;

		count += chain_addr(&c, ldns_rr_list_rr(an, i), &a);
	}
	rc = -E2BIG;
	if (count > max)
		goto out;
	for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++)
		*n += chain_addr(&c, ldns_rr_list_rr(an, i), &out[*n]);
	rc = 0;
out:
	ldns_rdf_deep_free(start);
	ldns_pkt_free(p);
	return rc;
}

/* Takes the address hints out of one SVCB or HTTPS record, in place.
 * ldns 1.8.3 keeps the parameters of a message as they came: one rdf of
 * (key u16, length u16, value) triples it has not checked, so each step
 * is checked here. */
static int strip_rr(ldns_rr *rr, bool *changed)
{
	ldns_rdf *f;
	uint8_t *d;
	size_t size, kept = 0;

	if (ldns_rr_rd_count(rr) < 3)
		return 0;       /* AliasMode, or no parameters at all */
	f = ldns_rr_rdf(rr, 2);
	if (ldns_rr_rd_count(rr) != 3 || ldns_rdf_get_type(f) != LDNS_RDF_TYPE_SVCPARAMS)
		return -EBADMSG;
	d = ldns_rdf_data(f);
	size = ldns_rdf_size(f);
	for (size_t i = 0; i < size;) {
		unsigned key, vlen;

		if (size - i < 4)
			return -EBADMSG;
		key = (unsigned)d[i] << 8 | d[i + 1];
		vlen = (unsigned)d[i + 2] << 8 | d[i + 3];
		if (vlen > size - i - 4)
			return -EBADMSG;
		if (key != SVC_IPV4HINT && key != SVC_IPV6HINT) {
			memmove(d + kept, d + i, 4 + vlen);
			kept += 4 + vlen;
		}
		i += 4 + vlen;
	}
	if (kept == size)
		return 0;
	*changed = true;
	if (kept > 0)
		ldns_rdf_set_size(f, kept);
	else            /* an empty SvcParams rdf has no wire form: none at all */
		ldns_rdf_deep_free(ldns_rr_pop_rdf(rr));
	return 0;
}

int cbpf_dns_strip_hints(const uint8_t *msg, size_t len, uint8_t *out, size_t cap,
			 size_t *outlen)
{
	ldns_rr_list *sections[3];
	bool changed = false;
	ldns_pkt *p;
	int rc;

	if ((rc = parse(msg, len, &p)))
		return rc;
	/* The question section has no rdata. */
	sections[0] = ldns_pkt_answer(p);
	sections[1] = ldns_pkt_authority(p);
	sections[2] = ldns_pkt_additional(p);
	for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
		for (size_t i = 0; i < ldns_rr_list_rr_count(sections[s]) && !rc; i++) {
			ldns_rr *rr = ldns_rr_list_rr(sections[s], i);
			ldns_rr_type t = ldns_rr_get_type(rr);

			if (t == LDNS_RR_TYPE_SVCB || t == LDNS_RR_TYPE_HTTPS)
				rc = strip_rr(rr, &changed);
		}
	}
	if (!rc && changed) {
		rc = write_wire(p, out, cap, outlen);
	} else if (!rc && len > cap) {
		rc = -ENOSPC;
	} else if (!rc) {
		memcpy(out, msg, len);
		*outlen = len;
	}
	ldns_pkt_free(p);
	return rc;
}

int cbpf_dns_answer_prepare(const uint8_t *query, size_t qlen, const char *name,
			    uint8_t *answer, size_t alen, uint8_t *out, size_t cap,
			    size_t *outlen, struct cbpf_dns_addr *addrs, size_t max,
			    size_t *naddrs)
{
	int rc;

	*naddrs = 0;
	if (qlen < 2 || alen < 12)
		return -EBADMSG;
	memcpy(answer, query, 2);
	if (!cbpf_dns_answer_matches(query, qlen, answer, alen))
		return -EBADMSG;
	if ((rc = cbpf_dns_strip_hints(answer, alen, out, cap, outlen)))
		return rc;
	return cbpf_dns_answer_addrs(out, *outlen, name, addrs, max, naddrs);
}

int cbpf_dns_tcp_next(const uint8_t *buf, size_t len, size_t max, size_t *mlen)
{
	if (len < 2)
		return 0;
	*mlen = (size_t)buf[0] << 8 | buf[1];
	if (*mlen > max)
		return -EMSGSIZE;
	return len - 2 >= *mlen ? 1 : 0;
}
