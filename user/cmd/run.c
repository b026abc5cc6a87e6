/* claude-bpf run: argv into the engine's run options (engine/run.h). */
#include <getopt.h>
#include <stdio.h>
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "engine/run.h"

static void run_help(void)
{
	printf("usage: claude-bpf run [--policy NAME] [--no-internet|-n] [--shell|-s]\n"
	       "                     [--image IMAGE] [--memory SIZE] [--cpus N] [--dry-run]\n"
	       "                     [--selftest-target ADDR]... [--skip-selftest]\n"
	       "                     [--allow-config-writes] [--] [CLAUDE ARGS...]\n"
	       "Starts claude --dangerously-skip-permissions (with --shell: bash) in a\n"
	       "podman container held by policy NAME (default: default), after the\n"
	       "policy's selftest found no leak (as root: run now, toward ADDR or the\n"
	       "documentation addresses; otherwise: the result load or selftest recorded).\n"
	       "--skip-selftest starts without that check. The agent's home is its own\n"
	       "(~/.local/state/claude-bpf/home); in the current directory, git hooks and\n"
	       "config, .claude, .mcp.json and editor settings are read-only, unless\n"
	       "--allow-config-writes.\n");
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "no-internet", no_argument, NULL, 'n' },
		{ "shell", no_argument, NULL, 's' },
		{ "image", required_argument, NULL, 'i' },
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "dry-run", no_argument, NULL, 'd' },
		{ "selftest-target", required_argument, NULL, 'T' },
		{ "skip-selftest", no_argument, NULL, 'S' },
		{ "allow-config-writes", no_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct cbpf_run_opts o = { .name = "default" };
	struct cbpf_leak_target targets[CBPF_LEAK_MAX_TARGETS];
	size_t ntargets = 0;
	int c;

	while ((c = getopt_long(argc, argv, "+p:nsh", opts, NULL)) != -1) {
		switch (c) {
		case 'p': o.name = optarg; break;
		case 'n': o.no_internet = true; break;
		case 's': o.shell = true; break;
		case 'i': o.image = optarg; break;
		case 'm': o.memory = optarg; break;
		case 'c': o.cpus = optarg; break;
		case 'd': o.dry_run = stdout; break;
		case 'S': o.skip_selftest = true; break;
		case 'W': o.allow_config_writes = true; break;
		case 'T':
			if (cbpf_leak_add_target(targets, &ntargets, optarg))
				return cbpf_usage_error("run", "invalid --selftest-target '%s': at "
							"most %d IPv4 or IPv6 addresses", optarg,
							CBPF_LEAK_MAX_TARGETS);
			break;
		case 'h': run_help(); return 0;
		default: return cbpf_usage_error("run", "invalid option");
		}
	}
	o.args = &argv[optind];
	o.nargs = (size_t)(argc - optind);
	o.targets = targets;
	o.ntargets = ntargets;
	return cbpf_run(&o);
}

