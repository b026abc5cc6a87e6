/* Unit tests for user/core/dnsmsg.c: allowed-name patterns, and queries,
 * refusals and answers built here with ldns. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <ldns/ldns.h>

#include "core/dnsmsg.h"

struct msg {
	uint8_t b[4096];
	size_t n;
};

/* A message with one question; more records come from add(). */
static ldns_pkt *message(const char *qname, ldns_rr_type t, uint16_t id, bool qr)
{
	ldns_pkt *p = ldns_pkt_query_new(ldns_dname_new_frm_str(qname), t,
					 LDNS_RR_CLASS_IN, LDNS_RD);

	assert_non_null(p);
	ldns_pkt_set_id(p, id);
	ldns_pkt_set_qr(p, qr);
	return p;
}

/* Appends a record (a question) written as in a zone file. */
static void add(ldns_pkt *p, ldns_pkt_section s, const char *text)
{
	ldns_rr *rr;
	ldns_status st = s == LDNS_SECTION_QUESTION ?
		ldns_rr_new_question_frm_str(&rr, text, NULL, NULL) :
		ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL);

	if (st != LDNS_STATUS_OK)
		fail_msg("ldns cannot read '%s'", text);
	assert_true(ldns_pkt_push_rr(p, s, rr));
}

/* p in wire format; p is freed. */
static void wire(ldns_pkt *p, struct msg *m)
{
	uint8_t *w;

	assert_int_equal(ldns_pkt2wire(&w, p, &m->n), LDNS_STATUS_OK);
	assert_true(m->n <= sizeof(m->b));
	memcpy(m->b, w, m->n);
	free(w);
	ldns_pkt_free(p);
}

static ldns_pkt *reparse(const uint8_t *b, size_t n)
{
	ldns_pkt *p = NULL;

	if (ldns_wire2pkt(&p, b, n) != LDNS_STATUS_OK)
		fail_msg("ldns cannot read the message written");
	return p;
}

/* ----------------------------------------------------------- name patterns */

static void test_names_match(void **state)
{
	static const char *const patterns[] = {
		"api.example.com", "*.svc.example.org", "Mixed.Case.NET.", "*.example.com",
	};
	static const struct {
		const char *name;
		bool want;
	} cases[] = {
		{ "api.example.com", true },
		{ "API.Example.Com.", true },
		{ "mixed.case.net", true },
		{ "a.svc.example.org", true },
		{ "a.b.svc.example.org", true },
		{ "A.SVC.EXAMPLE.ORG.", true },
		{ "x.api.example.com", true },          /* below *.example.com */
		{ "svc.example.org", false },           /* the suffix itself */
		{ "asvc.example.org", false },
		{ "xxsvc.example.org", false },
		{ "example.com", false },
		{ "api.example.com..", false },
		{ "api.example.co", false },
		{ "x\\.example.com", false },           /* labels "x.example", "com" */
		{ "a.svc.example.org.evil", false },
		{ "", false },
		{ ".", false },
	};
	struct cbpf_dns_names n = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		assert_int_equal(cbpf_dns_names_add(&n, patterns[i]), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (cbpf_dns_names_match(&n, cases[i].name) != cases[i].want)
			fail_msg("'%s' should%s match", cases[i].name, cases[i].want ? "" : " not");
	cbpf_dns_names_free(&n);
	assert_false(cbpf_dns_names_match(&n, "api.example.com"));
}

static void test_names_patterns(void **state)
{
	char label63[64], label64[65], long253[254], long254[255];
	const struct {
		const char *pattern;
		int want;
	} cases[] = {
		{ "a", 0 }, { "a.", 0 }, { "*.b", 0 }, { "_dmarc.x-y.z", 0 }, { "A9.b", 0 },
		{ label63, 0 }, { long253, 0 },
		{ "", -EINVAL }, { ".", -EINVAL }, { "*", -EINVAL }, { "*.", -EINVAL },
		{ "a*.b", -EINVAL }, { "*a.b", -EINVAL }, { "a.*.b", -EINVAL },
		{ "**.b", -EINVAL }, { "*.*.b", -EINVAL }, { "a..b", -EINVAL }, { ".a", -EINVAL },
		{ "a.b..", -EINVAL }, { "a b", -EINVAL }, { "a/b", -EINVAL }, { "a\\.b", -EINVAL },
		{ "\xc3\xa9.b", -EINVAL }, { label64, -EINVAL }, { long254, -EINVAL },
	};
	struct cbpf_dns_names n = { 0 };

	(void)state;
	memset(label63, 'a', 63);
	label63[63] = '\0';
	memset(label64, 'a', 64);
	label64[64] = '\0';
	/* 62 "abc." then "a": 249 + 4 = 253, one more is 254. */
	for (size_t i = 0; i < 253; i++)
		long253[i] = i % 4 == 3 ? '.' : 'a';
	long253[253] = '\0';
	memcpy(long254, long253, 253);
	long254[253] = 'a';
	long254[254] = '\0';
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (cbpf_dns_names_add(&n, cases[i].pattern) != cases[i].want)
			fail_msg("case %zu '%.20s': want %d", i, cases[i].pattern, cases[i].want);
	cbpf_dns_names_free(&n);
}

/* ---------------------------------------------------------------- queries */

static void test_query_parse(void **state)
{
	struct cbpf_dns_query q;
	struct msg m;

	(void)state;
	wire(message("WWW.Example.COM.", LDNS_RR_TYPE_AAAA, 0x4242, false), &m);
	assert_int_equal(cbpf_dns_query_parse(m.b, m.n, &q), 0);
	assert_int_equal(q.id, 0x4242);
	assert_int_equal(q.qtype, LDNS_RR_TYPE_AAAA);
	assert_int_equal(q.qclass, LDNS_RR_CLASS_IN);
	assert_string_equal(q.name, "www.example.com");

	wire(message(".", LDNS_RR_TYPE_NS, 1, false), &m);
	assert_int_equal(cbpf_dns_query_parse(m.b, m.n, &q), 0);
	assert_string_equal(q.name, ".");
}

/* Labels "x.example" and "com": its name must not pass for one below
 * example.com. */
static void test_query_escaped(void **state)
{
	struct cbpf_dns_names n = { 0 };
	struct cbpf_dns_query q;
	struct msg m;

	(void)state;
	wire(message("x\\.example.com.", LDNS_RR_TYPE_A, 7, false), &m);
	assert_int_equal(cbpf_dns_query_parse(m.b, m.n, &q), 0);
	assert_string_equal(q.name, "x\\.example.com");
	assert_int_equal(cbpf_dns_names_add(&n, "*.example.com"), 0);
	assert_false(cbpf_dns_names_match(&n, q.name));
	cbpf_dns_names_free(&n);
}

static void test_query_bad(void **state)
{
	struct cbpf_dns_query q;
	struct msg m, good;
	ldns_pkt *p;

	(void)state;
	wire(message("example.com.", LDNS_RR_TYPE_A, 1, true), &m);
	assert_int_equal(cbpf_dns_query_parse(m.b, m.n, &q), -EBADMSG);

	p = message("example.com.", LDNS_RR_TYPE_A, 1, false);
	add(p, LDNS_SECTION_QUESTION, "example.org. IN A");
	wire(p, &m);
	assert_int_equal(cbpf_dns_query_parse(m.b, m.n, &q), -EBADMSG);

	p = ldns_pkt_new();
	ldns_pkt_set_id(p, 1);
	wire(p, &m);
	assert_int_equal(m.n, 12);
	assert_int_equal(cbpf_dns_query_parse(m.b, m.n, &q), -EBADMSG);

	p = message("example.com.", LDNS_RR_TYPE_SOA, 1, false);
	ldns_pkt_set_opcode(p, LDNS_PACKET_NOTIFY);
	wire(p, &m);
	assert_int_equal(cbpf_dns_query_parse(m.b, m.n, &q), -EBADMSG);

	wire(message("example.com.", LDNS_RR_TYPE_A, 1, false), &good);
	for (size_t n = 0; n < good.n; n++)
		if (cbpf_dns_query_parse(good.b, n, &q) != -EBADMSG)
			fail_msg("%zu of %zu bytes taken", n, good.n);
}

/* Labels of 63, 63, 63 and 61 bytes 0x01, each written "\001": the name
 * is valid (255 bytes), its text does not fit; it can still be refused. */
static void test_query_long_name(void **state)
{
	char text[4 * (63 * 4 + 1) + 1], *t = text;
	struct cbpf_dns_query q;
	uint8_t out[512];
	size_t outlen;
	struct msg m;

	(void)state;
	for (int l = 0; l < 4; l++) {
		for (int i = 0; i < (l < 3 ? 63 : 61); i++)
			t += sprintf(t, "\\001");
		*t++ = '.';
	}
	*t = '\0';
	wire(message(text, LDNS_RR_TYPE_A, 9, false), &m);
	assert_int_equal(cbpf_dns_query_parse(m.b, m.n, &q), -EBADMSG);
	assert_int_equal(cbpf_dns_reply_error(m.b, m.n, LDNS_RCODE_REFUSED, out, sizeof(out), &outlen), 0);
}

/* --------------------------------------------------------------- refusals */

static void test_refuse(void **state)
{
	uint8_t out[512];
	size_t outlen = 0;
	struct msg m;
	ldns_pkt *p, *r;
	ldns_rr *qn;

	(void)state;
	p = message("Api.Example.COM.", LDNS_RR_TYPE_HTTPS, 0xbeef, false);
	ldns_pkt_set_edns_udp_size(p, 1232);
	wire(p, &m);
	assert_int_equal(cbpf_dns_reply_error(m.b, m.n, LDNS_RCODE_REFUSED, out, sizeof(out), &outlen), 0);
	r = reparse(out, outlen);
	assert_int_equal(ldns_pkt_id(r), 0xbeef);
	assert_true(ldns_pkt_qr(r));
	assert_true(ldns_pkt_ra(r));
	assert_true(ldns_pkt_rd(r));
	assert_false(ldns_pkt_aa(r));
	assert_int_equal(ldns_pkt_get_opcode(r), LDNS_PACKET_QUERY);
	assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_REFUSED);
	assert_int_equal(ldns_pkt_qdcount(r), 1);
	assert_int_equal(ldns_pkt_ancount(r) + ldns_pkt_nscount(r) + ldns_pkt_arcount(r), 0);
	assert_false(ldns_pkt_edns(r));
	qn = ldns_rr_list_rr(ldns_pkt_question(r), 0);
	assert_int_equal(ldns_rr_get_type(qn), LDNS_RR_TYPE_HTTPS);
	assert_int_equal(ldns_rr_get_class(qn), LDNS_RR_CLASS_IN);
	/* The question as it came, case too (0x20 randomisation). */
	assert_memory_equal(out + 12, m.b + 12, outlen - 12);
	ldns_pkt_free(r);

	p = message("example.com.", LDNS_RR_TYPE_A, 5, false);
	ldns_pkt_set_rd(p, false);
	wire(p, &m);
	assert_int_equal(cbpf_dns_reply_error(m.b, m.n, LDNS_RCODE_REFUSED, out, sizeof(out), &outlen), 0);
	r = reparse(out, outlen);
	assert_false(ldns_pkt_rd(r));
	ldns_pkt_free(r);

	assert_int_equal(cbpf_dns_reply_error(m.b, m.n, LDNS_RCODE_REFUSED, out, outlen - 1, &outlen), -ENOSPC);
	assert_int_equal(cbpf_dns_reply_error(m.b, m.n - 1, LDNS_RCODE_REFUSED, out, sizeof(out), &outlen), -EBADMSG);
	wire(message("example.com.", LDNS_RR_TYPE_A, 5, true), &m);
	assert_int_equal(cbpf_dns_reply_error(m.b, m.n, LDNS_RCODE_REFUSED, out, sizeof(out), &outlen), -EBADMSG);
}

/* ---------------------------------------------------------------- answers */

#define V4(a, b, c, d) { [10] = 0xff, [11] = 0xff, a, b, c, d }
#define V6_DB8(last) { 0x20, 0x01, 0x0d, 0xb8, [15] = last }

struct addr_case {
	const char *what, *name;
	bool qr;
	const char *answer[8];          /* the answer section, in this order */
	size_t max;
	int rc;
	size_t n;
	struct cbpf_dns_addr want[2];
};

static const struct addr_case addr_cases[] = {
	{ "A and AAAA; an A of class CH, one in another section", "Example.COM", true,
	  { "example.com. 300 IN A 192.0.2.1", "example.com. 60 CH A 192.0.2.5",
	    "example.com. 600 IN AAAA 2001:db8::1" },
	  4, 0, 2, { { V4(192, 0, 2, 1), 300 }, { V6_DB8(1), 600 } } },
	/* www.example.com -> b.cdn.net -> c.cdn.net */
	{ "a chain out of order", "www.example.com", true,
	  { "b.cdn.net. 60 IN CNAME c.cdn.net.", "c.cdn.net. 20 IN A 192.0.2.7",
	    "unrelated.org. 60 IN A 203.0.113.9", "www.example.com. 60 IN CNAME b.cdn.net.",
	    "unrelated.org. 60 IN CNAME c.cdn.net.", "c.cdn.net. 30 IN AAAA 2001:db8::7" },
	  4, 0, 2, { { V4(192, 0, 2, 7), 20 }, { V6_DB8(7), 30 } } },
	{ "no way from the owner", "www.example.com", true,
	  { "unrelated.org. 60 IN CNAME c.cdn.net.", "c.cdn.net. 20 IN A 192.0.2.7",
	    "www.example.com. 60 IN TXT \"no\"" },
	  4, 0, 0, { { { 0 }, 0 } } },
	{ "a loop", "a.example", true,
	  { "a.example. 60 IN CNAME b.example.", "b.example. 60 IN CNAME a.example.",
	    "b.example. 60 IN A 192.0.2.1" },
	  4, 0, 1, { { V4(192, 0, 2, 1), 60 } } },
	{ "more than max", "example.com", true,
	  { "example.com. 60 IN A 192.0.2.1", "example.com. 60 IN A 192.0.2.2",
	    "example.com. 60 IN A 192.0.2.3" },
	  2, -E2BIG, 0, { { { 0 }, 0 } } },
	{ "a query", "example.com", false, { "example.com. 60 IN A 192.0.2.1" },
	  4, -EBADMSG, 0, { { { 0 }, 0 } } },
};

static void test_addrs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
		const struct addr_case *c = &addr_cases[i];
		struct cbpf_dns_addr a[4], untouched[4];
		ldns_pkt *p = message("example.com.", LDNS_RR_TYPE_A, 1, c->qr);
		struct msg m;
		size_t n = 99;
		int rc;

		for (size_t j = 0; j < 8 && c->answer[j]; j++)
			add(p, LDNS_SECTION_ANSWER, c->answer[j]);
		add(p, LDNS_SECTION_ADDITIONAL, "example.com. 60 IN A 192.0.2.99");
		wire(p, &m);
		memset(a, 0xaa, sizeof(a));
		memcpy(untouched, a, sizeof(a));
		rc = cbpf_dns_answer_addrs(m.b, m.n, c->name, a, c->max, &n);
		if (rc != c->rc || n != c->n)
			fail_msg("%s: %d with %zu, want %d with %zu", c->what, rc, n, c->rc, c->n);
		if (rc && memcmp(a, untouched, sizeof(a)))
			fail_msg("%s: addresses written", c->what);
		for (size_t j = 0; j < n; j++)
			if (memcmp(&a[j], &c->want[j], sizeof(a[j])))
				fail_msg("%s: address %zu differs", c->what, j);
	}
}

/* n0 -> n1 -> ... -> n`links`, whose A is taken only within the limit. */
static size_t chain_of(size_t links)
{
	struct cbpf_dns_addr a[1];
	char rr[128];
	struct msg m;
	ldns_pkt *p;
	size_t n;

	p = message("n0.example.", LDNS_RR_TYPE_A, 1, true);
	for (size_t i = links; i-- > 0;) {
		snprintf(rr, sizeof(rr), "n%zu.example. 60 IN CNAME n%zu.example.", i, i + 1);
		add(p, LDNS_SECTION_ANSWER, rr);
	}
	snprintf(rr, sizeof(rr), "n%zu.example. 60 IN A 192.0.2.1", links);
	add(p, LDNS_SECTION_ANSWER, rr);
	wire(p, &m);
	assert_int_equal(cbpf_dns_answer_addrs(m.b, m.n, "n0.example", a, 1, &n), 0);
	return n;
}

static void test_addrs_chain_limit(void **state)
{
	(void)state;
	assert_int_equal(chain_of(CBPF_DNS_CHAIN_MAX), 1);
	assert_int_equal(chain_of(CBPF_DNS_CHAIN_MAX + 1), 0);
}

static void test_addrs_truncated(void **state)
{
	struct cbpf_dns_addr a[1];
	struct msg m;
	ldns_pkt *p;
	size_t n;

	(void)state;
	p = message("example.com.", LDNS_RR_TYPE_A, 1, true);
	add(p, LDNS_SECTION_ANSWER, "example.com. 60 IN A 192.0.2.1");
	wire(p, &m);
	assert_int_equal(cbpf_dns_answer_addrs(m.b, m.n - 1, "example.com", a, 1, &n), -EBADMSG);
	assert_int_equal(cbpf_dns_answer_addrs(m.b, m.n, "a..b", a, 1, &n), -EINVAL);
}

static void test_answer_matches(void **state)
{
	struct msg q, a;
	ldns_pkt *p;

	(void)state;
	p = message("www.example.com.", LDNS_RR_TYPE_A, 0x1111, false);
	ldns_pkt_set_edns_udp_size(p, 1232);
	wire(p, &q);
	p = message("www.example.com.", LDNS_RR_TYPE_A, 0x1111, true);
	add(p, LDNS_SECTION_ANSWER, "www.example.com. 60 IN A 192.0.2.1");
	wire(p, &a);
	assert_true(cbpf_dns_answer_matches(q.b, q.n, a.b, a.n));
	assert_false(cbpf_dns_answer_matches(q.b, q.n, a.b, a.n - 1));
	assert_false(cbpf_dns_answer_matches(a.b, a.n, a.b, a.n));   /* not a query */
	assert_false(cbpf_dns_answer_matches(q.b, q.n, q.b, q.n));   /* not an answer */

	wire(message("WWW.EXAMPLE.com", LDNS_RR_TYPE_A, 0x1111, true), &a);
	assert_true(cbpf_dns_answer_matches(q.b, q.n, a.b, a.n));
	wire(message("www.example.com.", LDNS_RR_TYPE_A, 0x1112, true), &a);
	assert_false(cbpf_dns_answer_matches(q.b, q.n, a.b, a.n));
	wire(message("www.example.org.", LDNS_RR_TYPE_A, 0x1111, true), &a);
	assert_false(cbpf_dns_answer_matches(q.b, q.n, a.b, a.n));
	wire(message("www.example.com.", LDNS_RR_TYPE_AAAA, 0x1111, true), &a);
	assert_false(cbpf_dns_answer_matches(q.b, q.n, a.b, a.n));
	p = message("www.example.com.", LDNS_RR_TYPE_A, 0x1111, true);
	ldns_rr_set_class(ldns_rr_list_rr(ldns_pkt_question(p), 0), LDNS_RR_CLASS_CH);
	wire(p, &a);
	assert_false(cbpf_dns_answer_matches(q.b, q.n, a.b, a.n));
}

/* ------------------------------------------------------------ SVCB hints */

/* The parameters of the first record of a section, as bytes (n 0: none). */
static void params_of(const ldns_rr_list *section, const uint8_t *want, size_t n)
{
	const ldns_rr *rr = ldns_rr_list_rr(section, 0);

	if (n == 0) {
		assert_int_equal(ldns_rr_rd_count(rr), 2);
		return;
	}
	assert_int_equal(ldns_rr_rd_count(rr), 3);
	assert_int_equal(ldns_rdf_size(ldns_rr_rdf(rr, 2)), n);
	assert_memory_equal(ldns_rdf_data(ldns_rr_rdf(rr, 2)), want, n);
}

static void test_strip_hints(void **state)
{
	static const uint8_t alpn_h2[] = { 0, 1, 0, 3, 2, 'h', '2' };
	/* alpn=h2, port=8443, ech=AEX+ (3 bytes), in their order */
	static const uint8_t kept[] = { 0, 1, 0, 3, 2, 'h', '2', 0, 3, 0, 2, 0x20, 0xfb,
					0, 5, 0, 3, 0x00, 0x45, 0xfe };
	uint8_t out[1024];
	size_t outlen;
	struct msg m;
	ldns_pkt *p, *r;

	(void)state;
	p = message("example.com.", LDNS_RR_TYPE_HTTPS, 3, true);
	add(p, LDNS_SECTION_ANSWER, "example.com. 300 IN HTTPS 1 . alpn=h2 "
	    "ipv4hint=192.0.2.1,192.0.2.2 ipv6hint=2001:db8::1");
	add(p, LDNS_SECTION_AUTHORITY, "example.com. 300 IN HTTPS 2 . alpn=h2 port=8443 "
	    "ipv4hint=192.0.2.1 ech=AEX+ ipv6hint=2001:db8::1");
	add(p, LDNS_SECTION_ADDITIONAL, "_dns.example.com. 300 IN SVCB 1 dns.example.com. "
	    "ipv6hint=2001:db8::53");
	wire(p, &m);
	assert_int_equal(cbpf_dns_strip_hints(m.b, m.n, out, sizeof(out), &outlen), 0);
	assert_true(outlen < m.n);
	r = reparse(out, outlen);
	params_of(ldns_pkt_answer(r), alpn_h2, sizeof(alpn_h2));
	params_of(ldns_pkt_authority(r), kept, sizeof(kept));
	params_of(ldns_pkt_additional(r), NULL, 0);
	ldns_pkt_free(r);
	assert_int_equal(cbpf_dns_strip_hints(m.b, m.n, out, outlen - 1, &outlen), -ENOSPC);
}

static void test_strip_unchanged(void **state)
{
	uint8_t out[1024];
	size_t outlen;
	struct msg m;
	ldns_pkt *p;

	(void)state;
	p = message("example.com.", LDNS_RR_TYPE_HTTPS, 3, true);
	add(p, LDNS_SECTION_ANSWER, "example.com. 60 IN HTTPS 1 . alpn=h2,h3");
	add(p, LDNS_SECTION_ANSWER, "example.com. 60 IN HTTPS 0 cdn.example.net.");
	add(p, LDNS_SECTION_ANSWER, "example.com. 60 IN A 192.0.2.1");
	wire(p, &m);
	m.b[3] |= 0x40;         /* Z, which ldns drops: copied, not rewritten */
	assert_int_equal(cbpf_dns_strip_hints(m.b, m.n, out, sizeof(out), &outlen), 0);
	assert_int_equal(outlen, m.n);
	assert_memory_equal(out, m.b, m.n);
	assert_int_equal(cbpf_dns_strip_hints(m.b, m.n, out, m.n - 1, &outlen), -ENOSPC);
}

/* Parameters whose lengths overrun the rdata: ldns takes them as they are. */
static void test_strip_malformed(void **state)
{
	static const uint8_t lens[] = { 4, 9, 0xff };
	uint8_t out[1024];
	size_t outlen;
	struct msg m;
	ldns_pkt *p;

	(void)state;
	for (size_t i = 0; i < sizeof(lens); i++) {
		p = message("example.com.", LDNS_RR_TYPE_HTTPS, 3, true);
		add(p, LDNS_SECTION_ANSWER, "example.com. 60 IN HTTPS 1 . alpn=h2");
		wire(p, &m);
		/* The message ends with the parameters 0001 0003 026832. */
		assert_int_equal(m.b[m.n - 4], 3);
		m.b[m.n - 4] = lens[i];
		if (cbpf_dns_strip_hints(m.b, m.n, out, sizeof(out), &outlen) != -EBADMSG)
			fail_msg("length %u taken", lens[i]);
	}
	/* A header cut short: 0001 00 */
	p = message("example.com.", LDNS_RR_TYPE_HTTPS, 3, true);
	add(p, LDNS_SECTION_ANSWER, "example.com. 60 IN HTTPS 1 . alpn=h2");
	wire(p, &m);
	m.n -= 4;
	assert_int_equal(m.b[m.n - 7], 10);
	m.b[m.n - 7] = 6;       /* RDLENGTH: 0001 00 and then 000100 */
	assert_int_equal(cbpf_dns_strip_hints(m.b, m.n, out, sizeof(out), &outlen), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_match),
		cmocka_unit_test(test_names_patterns),
		cmocka_unit_test(test_query_parse),
		cmocka_unit_test(test_query_escaped),
		cmocka_unit_test(test_query_bad),
		cmocka_unit_test(test_query_long_name),
		cmocka_unit_test(test_refuse),
		cmocka_unit_test(test_addrs),
		cmocka_unit_test(test_addrs_chain_limit),
		cmocka_unit_test(test_addrs_truncated),
		cmocka_unit_test(test_answer_matches),
		cmocka_unit_test(test_strip_hints),
		cmocka_unit_test(test_strip_unchanged),
		cmocka_unit_test(test_strip_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
