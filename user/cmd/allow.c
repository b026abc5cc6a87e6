/* claude-bpf allow and revoke: a host or an address added to a running
 * policy for a while, without editing its file (engine/grant.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "core/cgroup.h"
#include "core/grants.h"
#include "engine/grant.h"

#define DEFAULT_FOR_S 3600
#define MAX_FOR_S (30L * 86400)

/* "90", "90s", "15m", "2h", "1d": seconds, 1..30 days; -1 if not one. */
static long parse_duration(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || v <= 0)
		return -1;
	if (*end && end[1])
		return -1;
	switch (*end) {
	case '\0': case 's': break;
	case 'm': v *= 60L; break;
	case 'h': v *= 3600L; break;
	case 'd': v *= 86400L; break;
	default: return -1;
	}
	return v > MAX_FOR_S ? -1 : v;
}

int cmd_allow(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "for", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *name = "default", *target;
	long for_s = DEFAULT_FOR_S;
	size_t nrules, nwritten;
	int c;

	while ((c = getopt_long(argc, argv, "p:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': name = optarg; break;
		case 'f':
			if ((for_s = parse_duration(optarg)) < 0)
				return cbpf_usage_error("allow", "invalid --for '%s': a number of "
							"seconds, or with s, m, h or d; at most 30 days",
							optarg);
			break;
		case 'h':
			printf("usage: claude-bpf allow [--policy NAME] [--for DURATION] "
			       "HOST|ADDRESS[:PORT][/tcp|/udp]\n"
			       "Allows it in the running policy until the duration (default 1h; "
			       "90, 90s, 15m, 2h, 1d) runs out,\n"
			       "checked by the kernel. A hostname is resolved now, through the "
			       "host's resolvers.\n");
			return 0;
		default:
			return cbpf_usage_error("allow", "invalid option");
		}
	}
	if (optind + 1 != argc)
		return cbpf_usage_error("allow", "give one HOST or ADDRESS");
	target = argv[optind];
	if (strlen(target) >= CBPF_GRANT_TARGET_MAX || strpbrk(target, "\t\n#"))
		return cbpf_usage_error("allow", "invalid target '%s'", target);
	if (!cbpf_policy_name_valid(name))
		return cbpf_usage_error("allow", "invalid policy name '%s'", name);
	if (cbpf_need_root("allow"))
		return 1;
	if (cbpf_lock_or_report())
		return 1;
	if (cbpf_grant_allow(name, target, for_s, &nrules, &nwritten))
		return 1;
	printf("policy '%s': %s allowed for %lds (%zu rules", name, target, for_s, nrules);
	if (nwritten < nrules)
		printf("; %zu of them the file decides already", nrules - nwritten);
	printf(")\n");
	return 0;
}

int cmd_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *name = "default", *target;
	size_t nrules;
	int c;

	while ((c = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': name = optarg; break;
		case 'h':
			printf("usage: claude-bpf revoke [--policy NAME] TARGET\n"
			       "Ends a grant of 'claude-bpf allow' now (TARGET as status "
			       "lists it).\n");
			return 0;
		default:
			return cbpf_usage_error("revoke", "invalid option");
		}
	}
	if (optind + 1 != argc)
		return cbpf_usage_error("revoke", "give one TARGET, as status lists it");
	target = argv[optind];
	if (!cbpf_policy_name_valid(name))
		return cbpf_usage_error("revoke", "invalid policy name '%s'", name);
	if (cbpf_need_root("revoke"))
		return 1;
	if (cbpf_lock_or_report())
		return 1;
	if (cbpf_grant_revoke(name, target, &nrules))
		return 1;
	printf("policy '%s': grant '%s' revoked (%zu rules)\n", name, target, nrules);
	return 0;
}
