/* claude-bpf selftest: the leak matrix of a loaded policy, as a table or
 * JSON; exit status 1 when any route LEAKED. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/json.h"
#include "base/log.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "core/leak.h"
#include "engine/selftest.h"

int cmd_selftest(int argc, char **argv)
{
	struct cbpf_leak_args a;
	struct cbpf_selftest *st;
	const char *what;
	char msg[256];
	int err, rc;

	if (cbpf_leak_parse_args(argc, argv, &a, msg, sizeof(msg)))
		return cbpf_usage_error("selftest", "%s", msg);
	if (a.help) {
		printf("usage: claude-bpf selftest [--policy NAME] [--target ADDR]... "
		       "[--port N] [--json]\n"
		       "Tries every escape route from inside policy NAME (default: default)\n"
		       "toward ADDR (default: 192.0.2.1 and 2001:db8::1) on port N (default\n"
		       "%d; DNS routes use 53). Exit status 1 when any route LEAKED.\n",
		       CBPF_LEAK_DEFAULT_PORT);
		return 0;
	}
	cbpf_json = a.json;
	if (cbpf_need_root("selftest"))
		return 1;
	st = calloc(1, sizeof(*st));
	if (!st) {
		cbpf_error("out of memory");
		return 1;
	}
	err = cbpf_selftest_run(a.policy, a.targets, a.ntargets, a.port, st, &what);
	if (err) {
		if (err == -ENOENT)     /* nothing pinned, or no such policy */
			cbpf_error("no policy '%s' is loaded; run: sudo claude-bpf load "
				   "--name %s FILE", a.policy, a.policy);
		else
			cbpf_error("selftest of policy '%s': cannot %s: %s", a.policy, what,
				   strerror(-err));
		free(st);
		return 1;
	}
	if (a.json) {
		printf("{\"policy\":");
		cbpf_json_string(stdout, a.policy);
		printf(",\"cgroup\":");
		cbpf_json_string(stdout, st->probe_cgroup);
		printf(",");
		cbpf_leak_print_json(stdout, st->rows, st->n);
		printf("}\n");
	} else {
		printf("selftest of policy '%s' from %s\n", a.policy, st->probe_cgroup);
		cbpf_leak_print_table(stdout, st->rows, st->n);
	}
	rc = st->tally[CBPF_LEAK_LEAKED] ? 1 : 0;
	free(st);
	return rc;
}
