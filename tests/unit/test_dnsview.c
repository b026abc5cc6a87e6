/* Unit tests of the DNS forwarder's view of its policy (user/core/dnsview.c):
 * which names are answered, the entries an answer teaches, the bound, host
 * indices and their reuse, and a reload carrying learned addresses over. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "core/dnsview.h"

#define NS 1000000000ull
#define GRACE 60
#define T0 (1000 * NS)

static const char *const file_hosts[] = { "cdn.test" };

static const char conf_text[] =
	"cdn.test:443/tcp\n"
	"*.wild.test:8443/tcp\n"
	"*.wild.test:53/udp\n"
	"deny *.bad.wild.test\n"
	"10.1.2.3:80\n";

static struct cbpf_dns_addr addr(const char *s, uint32_t ttl)
{
	struct cbpf_dns_addr a = { .ttl = ttl };
	uint8_t prefix;

	assert_int_equal(cbpf_parse_prefix(s, strchr(s, ':') ? AF_INET6 : AF_INET, a.addr,
					   &prefix), CBPF_PREFIX_OK);
	return a;
}

static void parse(const char *text, struct cbpf_conf *c)
{
	struct cbpf_errors errs = {};

	assert_int_equal(cbpf_conf_parse("t.conf", text, c, &errs), 0);
	assert_int_equal(errs.n, 0);
}

static void view(struct cbpf_dnsview *v, struct cbpf_conf *c, size_t max)
{
	parse(conf_text, c);
	assert_int_equal(cbpf_dnsview_init(v, max), 0);
	assert_int_equal(cbpf_dnsview_set(v, c, file_hosts, 1), 0);
}

/* learn, then learned as dnsfwd does once the maps took the entries. */
static int teach(struct cbpf_dnsview *v, const char *name, const struct cbpf_dns_addr *a,
		 size_t n, uint64_t now, struct cbpf_dnsview_lesson *l)
{
	int err = cbpf_dnsview_learn(v, name, a, n, now, GRACE, l);

	if (!err)
		cbpf_dnsview_learned(v, a, n, l);
	return err;
}

static void test_allowed(void **state)
{
	struct cbpf_dnsview v;
	struct cbpf_conf c;

	(void)state;
	view(&v, &c, 16);
	assert_true(cbpf_dnsview_allowed(&v, "cdn.test"));
	assert_true(cbpf_dnsview_allowed(&v, "CDN.test."));
	assert_true(cbpf_dnsview_allowed(&v, "a.wild.test"));
	assert_true(cbpf_dnsview_allowed(&v, "a.b.wild.test"));
	assert_false(cbpf_dnsview_allowed(&v, "wild.test"));
	assert_false(cbpf_dnsview_allowed(&v, "x.cdn.test"));
	assert_false(cbpf_dnsview_allowed(&v, "evil.test"));
	/* A deny line wins over the allow that matches too. */
	assert_false(cbpf_dnsview_allowed(&v, "x.bad.wild.test"));
	assert_true(cbpf_dnsview_allowed(&v, "bad.wild.test"));
	cbpf_dnsview_free(&v);
	cbpf_conf_free(&c);
}

static void test_learn_entries(void **state)
{
	struct cbpf_dns_addr a[] = { addr("10.9.0.1", 30), addr("fd00::1", 1),
				     addr("0.0.0.0", 30) };
	struct cbpf_dnsview_lesson l;
	struct cbpf_dnsview v;
	struct cbpf_conf c;
	size_t tcp8443 = 0, udp53 = 0;

	(void)state;
	view(&v, &c, 16);
	/* Two lines allow the name: each address gets both ports; 0.0.0.0
	 * (a DNS filter's answer) none. */
	assert_int_equal(teach(&v, "a.wild.test", a, 3, T0, &l), 0);
	assert_int_equal(l.rs.n, 4);
	assert_true(l.new_host);
	assert_int_equal(l.host, 2);            /* after the file's cdn.test */
	for (size_t i = 0; i < l.rs.n; i++) {
		const struct cbpf_rule_entry *e = &l.rs.v[i];

		assert_int_equal(e->val.action, CBPF_ACTION_ALLOW);
		assert_int_equal(e->val.host, 2);
		assert_int_equal(e->key.prefixlen, CBPF_KEY_EXACT);
		tcp8443 += e->key.proto == CBPF_PROTO_TCP && e->key.port == htons(8443);
		udp53 += e->key.proto == CBPF_PROTO_UDP && e->key.port == htons(53);
		/* max(TTL, 2 s) + grace */
		assert_int_equal(e->val.expires_ns,
				 T0 + ((memcmp(e->key.addr, a[0].addr, 16) ? 2 : 30) + GRACE) * NS);
	}
	assert_int_equal(tcp8443, 2);
	assert_int_equal(udp53, 2);
	assert_int_equal(v.nlearned, 2);
	cbpf_dnsview_lesson_free(&l);

	/* The same answer again, sooner: nothing to write. */
	assert_int_equal(teach(&v, "a.wild.test", a, 1, T0, &l), 0);
	assert_int_equal(l.rs.n, 0);
	cbpf_dnsview_lesson_free(&l);
	/* Later: the expiry moves, written again. */
	assert_int_equal(teach(&v, "a.wild.test", a, 1, T0 + NS, &l), 0);
	assert_int_equal(l.rs.n, 2);
	assert_false(l.new_host);
	cbpf_dnsview_lesson_free(&l);
	/* The file's own name keeps its index; another name with the same
	 * address gets its own ports written. */
	assert_int_equal(teach(&v, "cdn.test", a, 1, T0, &l), 0);
	assert_int_equal(l.host, 1);
	assert_false(l.new_host);
	assert_int_equal(l.rs.n, 1);
	assert_int_equal(l.rs.v[0].key.port, htons(443));
	assert_int_equal(v.nlearned, 2);        /* one address, counted once */
	cbpf_dnsview_lesson_free(&l);
	/* Not allowed: nothing. */
	assert_int_equal(cbpf_dnsview_learn(&v, "evil.test", a, 1, T0, GRACE, &l), -EACCES);
	assert_int_equal(l.rs.n, 0);
	cbpf_dnsview_free(&v);
	cbpf_conf_free(&c);
}

static void test_bound(void **state)
{
	struct cbpf_dns_addr a[] = { addr("10.9.0.1", 10), addr("10.9.0.2", 10),
				     addr("10.9.0.3", 10), addr("10.9.0.4", 10) };
	struct cbpf_dnsview_lesson l;
	struct cbpf_dnsview v;
	struct cbpf_conf c;

	(void)state;
	view(&v, &c, 3);
	assert_int_equal(teach(&v, "a.wild.test", a, 3, T0, &l), 0);
	cbpf_dnsview_lesson_free(&l);
	/* A fourth while three live: refused, nothing counted or evicted. */
	assert_int_equal(cbpf_dnsview_learn(&v, "b.wild.test", &a[3], 1, T0, GRACE, &l),
			 -ENOSPC);
	assert_int_equal(l.rs.n, 0);
	assert_int_equal(v.nlearned, 3);
	/* Renewing a live one needs no room. */
	assert_int_equal(teach(&v, "a.wild.test", a, 1, T0 + NS, &l), 0);
	assert_int_equal(l.rs.n, 2);
	cbpf_dnsview_lesson_free(&l);
	/* Once they expire there is room again. */
	assert_int_equal(teach(&v, "b.wild.test", &a[3], 1, T0 + (10 + GRACE + 2) * NS, &l), 0);
	assert_int_equal(v.nlearned, 1);
	cbpf_dnsview_lesson_free(&l);
	cbpf_dnsview_free(&v);
	cbpf_conf_free(&c);
}

static void test_host_reuse(void **state)
{
	struct cbpf_dns_addr a[] = { addr("10.9.0.1", 10), addr("10.9.0.2", 10) };
	struct cbpf_dnsview_lesson l;
	struct cbpf_dnsview v;
	struct cbpf_conf c;
	uint64_t later = T0 + (10 + GRACE + 1) * NS;

	(void)state;
	view(&v, &c, 16);
	assert_int_equal(teach(&v, "a.wild.test", a, 1, T0, &l), 0);
	assert_int_equal(l.host, 2);
	cbpf_dnsview_lesson_free(&l);
	assert_int_equal(teach(&v, "b.wild.test", &a[1], 1, T0, &l), 0);
	assert_int_equal(l.host, 3);
	cbpf_dnsview_lesson_free(&l);
	/* Both expire: their indices are given to the next names; the file's
	 * own name never loses its index. */
	cbpf_dnsview_purge(&v, later);
	assert_int_equal(v.nlearned, 0);
	assert_int_equal(teach(&v, "c.wild.test", a, 1, later, &l), 0);
	assert_true(l.new_host);
	assert_true(l.host == 2 || l.host == 3);
	assert_string_equal(v.hosts[l.host - 1], "c.wild.test");
	cbpf_dnsview_lesson_free(&l);
	assert_int_equal(teach(&v, "cdn.test", &a[1], 1, later, &l), 0);
	assert_int_equal(l.host, 1);
	cbpf_dnsview_lesson_free(&l);
	assert_int_equal(v.nhosts, 3);
	cbpf_dnsview_free(&v);
	cbpf_conf_free(&c);
}

/* The table grows with what is learned, and keeps every address. */
static void test_growth(void **state)
{
	struct cbpf_dnsview_lesson l;
	struct cbpf_dnsview v;
	struct cbpf_conf c;
	char text[32];

	(void)state;
	view(&v, &c, 100000);
	assert_int_equal(v.tab_cap, 64);
	for (int i = 0; i < 3000; i++) {
		struct cbpf_dns_addr a;

		snprintf(text, sizeof(text), "10.%d.%d.1", i / 256, i % 256);
		a = addr(text, 10);
		assert_int_equal(teach(&v, "a.wild.test", &a, 1, T0, &l), 0);
		assert_int_equal(l.rs.n, 2);
		cbpf_dnsview_lesson_free(&l);
	}
	assert_int_equal(v.nlearned, 3000);
	assert_true(v.tab_cap >= 6000 && v.tab_cap <= 8192);
	for (int i = 0; i < 3000; i += 7) {
		struct cbpf_dns_addr a;

		snprintf(text, sizeof(text), "10.%d.%d.1", i / 256, i % 256);
		a = addr(text, 10);
		assert_int_equal(teach(&v, "a.wild.test", &a, 1, T0, &l), 0);
		assert_int_equal(l.rs.n, 0);            /* held already */
		cbpf_dnsview_lesson_free(&l);
	}
	/* Nothing expired: a purge leaves all; past their expiry: none. */
	cbpf_dnsview_purge(&v, T0 + NS);
	assert_int_equal(v.nlearned, 3000);
	cbpf_dnsview_purge(&v, T0 + (10 + GRACE) * NS);
	assert_int_equal(v.nlearned, 0);
	cbpf_dnsview_free(&v);
	cbpf_conf_free(&c);
}

struct applied {
	int calls, result;
	size_t entries;
};

static int apply(void *ctx, const struct cbpf_ruleset *rs)
{
	struct applied *ap = ctx;

	ap->calls++;
	ap->entries = rs->n;
	return ap->result;
}

static void test_reload(void **state)
{
	struct cbpf_dns_addr a[] = { addr("10.9.0.1", 10), addr("10.9.0.2", 10) };
	struct cbpf_dnsview_lesson l;
	struct cbpf_dnsview v;
	struct cbpf_conf c, keep, drop;
	struct cbpf_ruleset rs = { 0 };
	struct applied ap = { 0 };
	uint32_t h;

	(void)state;
	view(&v, &c, 16);
	assert_int_equal(teach(&v, "a.wild.test", a, 1, T0, &l), 0);
	cbpf_dnsview_lesson_free(&l);
	assert_int_equal(teach(&v, "cdn.test", &a[1], 1, T0, &l), 0);
	cbpf_dnsview_lesson_free(&l);

	/* Apply refused: the view stays as it was. */
	parse("cdn.test:443/tcp\n", &drop);
	assert_int_equal(cbpf_ruleset_host(&rs, "cdn.test", &h), 0);
	ap.result = -ENOSPC;
	assert_int_equal(cbpf_dnsview_reload(&v, &drop, &rs, T0, apply, &ap), -ENOSPC);
	assert_true(cbpf_dnsview_allowed(&v, "a.wild.test"));
	assert_int_equal(v.nlearned, 2);
	cbpf_ruleset_free(&rs);

	/* Kept: carried into the new rule set under its name. */
	parse("*.wild.test:8443/tcp\ncdn.test:443/tcp\n", &keep);
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(cbpf_ruleset_host(&rs, "cdn.test", &h), 0);
	ap.result = 0;
	assert_int_equal(cbpf_dnsview_reload(&v, &keep, &rs, T0, apply, &ap), 0);
	assert_int_equal(ap.entries, 2);        /* each address, TCP, one port */
	assert_int_equal(rs.nhosts, 2);
	assert_string_equal(rs.hosts[1], "a.wild.test");
	assert_int_equal(v.nlearned, 2);
	/* The names are the new rule set's: learning again writes nothing. */
	assert_int_equal(teach(&v, "a.wild.test", a, 1, T0, &l), 0);
	assert_int_equal(l.rs.n, 0);
	cbpf_dnsview_lesson_free(&l);
	cbpf_ruleset_free(&rs);

	/* The wildcard gone: its address is not carried over, and goes. */
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(cbpf_ruleset_host(&rs, "cdn.test", &h), 0);
	assert_int_equal(cbpf_dnsview_reload(&v, &drop, &rs, T0, apply, &ap), 0);
	assert_int_equal(ap.entries, 1);        /* cdn.test's address, TCP 443 */
	assert_int_equal(rs.v[0].val.host, 1);
	assert_false(cbpf_dnsview_allowed(&v, "a.wild.test"));
	assert_int_equal(v.nlearned, 1);
	cbpf_ruleset_free(&rs);
	cbpf_dnsview_free(&v);
	cbpf_conf_free(&c);
	cbpf_conf_free(&keep);
	cbpf_conf_free(&drop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowed),
		cmocka_unit_test(test_learn_entries),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_host_reuse),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_reload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
