/* Unit tests of a policy's file as the loader and `check` open it
 * (user/core/source.c): which names are resolved, and what compiles. No DNS is
 * asked: the names to resolve are given their answers here. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "core/source.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Writes `text` to a file of its own and opens it as the loader does. */
static void open_text(const char *text, struct cbpf_source *s)
{
	char path[] = "/tmp/cbpf-test-source-XXXXXX";
	struct cbpf_errors errs = {};
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(cbpf_source_open(s, path, &errs), 0);
	assert_int_equal(errs.n, 0);
	unlink(path);
}

/* A wildcard is never a name to resolve; the same name written exactly
 * is, once. */
static void test_wildcards_not_resolved(void **state)
{
	static const char text[] =
		"dns 192.0.2.53\n"
		"*.example.com:443\n"
		"example.com:443/tcp\n"
		"deny *.internal.example.com\n"
		"*.github.com\n"
		"github.com:22/tcp\n"
		"example.com:80/tcp\n";
	static const char *const want[] = { "example.com", "github.com" };
	static const unsigned lines[] = { 3, 6 };
	struct cbpf_source s;

	(void)state;
	open_text(text, &s);
	assert_int_equal(cbpf_conf_wildcards(&s.conf), 3);
	assert_int_equal(s.nhosts, N(want));
	for (size_t i = 0; i < N(want); i++) {
		assert_string_equal(s.hosts[i], want[i]);
		assert_string_equal(s.res[i].host, want[i]);
		assert_int_equal(s.lines[i], lines[i]);
	}
	assert_null(s.hosts[s.nhosts]);
	cbpf_source_free(&s);
}

/* What `check` does with a file of wildcards and addresses: nothing to
 * resolve (no DNS is asked), and the rules of the addresses and the
 * resolver, none of the wildcards. */
static void test_wildcards_check(void **state)
{
	static const char text[] =
		"dns 192.0.2.53\n"
		"*.example.com:443\n"
		"deny *.internal.example.com\n"
		"10.1.0.0/16:5432/tcp\n";
	struct cbpf_errors errs = {};
	struct cbpf_ruleset rs, lit;
	struct cbpf_source s;

	(void)state;
	open_text(text, &s);
	assert_int_equal(s.nhosts, 0);
	assert_int_equal(cbpf_source_resolve(&s, NULL, -1, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(cbpf_source_compile(&s, &rs), 0);
	assert_int_equal(cbpf_source_compile_literal(&s, &lit), 0);
	/* TCP 5432, TCP and UDP 53 to the resolver. */
	assert_int_equal(rs.n, 3);
	assert_int_equal(rs.nhosts, 0);
	assert_int_equal(lit.n, rs.n);
	assert_memory_equal(lit.v, rs.v, rs.n * sizeof(*rs.v));
	cbpf_ruleset_free(&lit);
	cbpf_ruleset_free(&rs);
	cbpf_source_free(&s);
}

/* The exact names compile with their answers; the wildcards beside them
 * add nothing. */
static void test_wildcards_compile(void **state)
{
	static const char text[] =
		"dns 192.0.2.53\n"
		"*.example.com:443\n"
		"example.com:443/tcp\n";
	struct cbpf_ruleset rs;
	struct cbpf_source s;
	uint8_t a[16], prefix;
	bool found = false;

	(void)state;
	open_text(text, &s);
	assert_int_equal(s.nhosts, 1);
	assert_int_equal(cbpf_parse_prefix("5.6.7.8", AF_INET, a, &prefix),
			 CBPF_PREFIX_OK);
	assert_non_null(s.res[0].addrs = malloc(sizeof(*s.res[0].addrs)));
	memcpy(s.res[0].addrs[0], a, 16);
	s.res[0].n = 1;
	assert_int_equal(cbpf_source_compile(&s, &rs), 0);
	/* TCP 443 to 5.6.7.8, TCP and UDP 53 to the resolver. */
	assert_int_equal(rs.n, 3);
	assert_int_equal(rs.nhosts, 1);
	assert_string_equal(rs.hosts[0], "example.com");
	for (size_t i = 0; i < rs.n; i++)
		found |= !memcmp(rs.v[i].key.addr, a, 16) && rs.v[i].val.host == 1;
	assert_true(found);
	cbpf_ruleset_free(&rs);
	cbpf_source_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wildcards_not_resolved),
		cmocka_unit_test(test_wildcards_check),
		cmocka_unit_test(test_wildcards_compile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
