/* claude-bpf check: the rules a file would load, changing nothing. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "base/log.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "engine/load.h"

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "no-resolve", no_argument, NULL, 'n' },
		{ "dns", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct cbpf_ruleset rs = {};
	struct cbpf_source src;
	bool json = false, resolve = true, direct = false;
	size_t nhosts, nwild;
	int c, rc;

	while ((c = getopt_long(argc, argv, "jnh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = cbpf_json = true; break;
		case 'n': resolve = false; break;
		case 'D':
			if (strcmp(optarg, "forward") && strcmp(optarg, "direct"))
				return cbpf_usage_error("check", "unknown --dns mode '%s' (forward "
							"or direct)", optarg);
			direct = !strcmp(optarg, "direct");
			break;
		case 'h':
			printf("usage: claude-bpf check [--json] [--no-resolve] [--dns forward|direct]\n"
			       "                       CONF\n\n"
			       "Parses CONF and resolves its hostnames, prints the rules it would\n"
			       "load and changes nothing. --no-resolve only parses: hostnames give\n"
			       "no rules and are counted instead. --dns as load's: with forward\n"
			       "(the default) a name that does not resolve is a warning and a\n"
			       "wildcard is answered by the forwarder; with direct each name must\n"
			       "resolve and a wildcard is an error.\n");
			return 0;
		default:
			return cbpf_usage_error("check", "invalid option");
		}
	}
	if (argc - optind != 1)
		return cbpf_usage_error("check", "give one CONF file");
	rc = cbpf_load_source(argv[optind], -1, !resolve ? CBPF_NAMES_PARSE :
			      direct ? CBPF_NAMES_RESOLVE : CBPF_NAMES_PREFETCH, &src);
	if (!rc && direct)
		rc = cbpf_load_check_direct(&src);
	if (!rc && !resolve && (rc = cbpf_source_compile_literal(&src, &rs)))
		cbpf_error("cannot compile '%s': %s", src.path, strerror(-rc));
	else if (!rc && resolve)
		rc = cbpf_load_compile(&src, &rs);
	nhosts = src.nhosts;
	nwild = cbpf_conf_wildcards(&src.conf);
	cbpf_source_free(&src);
	if (rc)
		return 1;
	if (json) {
		printf("{\"rules\":[");
		cbpf_print_rules(&rs, true);
		printf("]");
		if (!resolve)
			printf(",\"unresolved_hosts\":%zu", nhosts);
		printf(",\"wildcards\":%zu}\n", nwild);
	} else {
		printf("%s: %zu rules", argv[optind], rs.n);
		if (!resolve)
			printf(", %zu hostnames not resolved (--no-resolve)", nhosts);
		if (nwild)
			printf(", %zu wildcards (no rule until the forwarder answers a name)",
			       nwild);
		printf("\n");
		cbpf_print_rules(&rs, false);
	}
	cbpf_ruleset_free(&rs);
	return 0;
}
