/* claude-bpf: hold a cgroup's network to an allowlist with eBPF. The entry
 * point dispatches to one handler per subcommand. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "claude_bpf.h"
#include "base/log.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "engine/store.h"

/* Both given by the Makefile: debian/changelog's version, and where
 * `make install` put the image recipe. */
#ifndef CBPF_VERSION
#define CBPF_VERSION "unknown"
#endif
#ifndef CBPF_DATADIR
#define CBPF_DATADIR "/usr/local/share/claude-bpf"
#endif
#define CBPF_IMAGE_BUILD CBPF_DATADIR "/image/build"

/* `claude-bpf image`: the installed image recipe, run with our arguments. */
static int cmd_image(int argc, char **argv)
{
	argv[0] = (char *)CBPF_IMAGE_BUILD;
	(void)argc;
	execv(CBPF_IMAGE_BUILD, argv);
	cbpf_error("cannot run the image recipe '%s': %s%s", CBPF_IMAGE_BUILD,
		   strerror(errno), errno == ENOENT ? " (from the source tree: make image)" : "");
	return 1;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "run",    cmd_run,    "start the agent in a container held by a policy: run [--shell] [--skip-selftest] [-- ARGS]" },
	{ "load",   cmd_load,   "enforce a policy: load [--name NAME] (CONF | --internet | --none)" },
	{ "unload", cmd_unload, "remove a policy: unload [--force] (NAME | --all)" },
	{ "status", cmd_status, "show policies, rules and denials: status [NAME] [--json]" },
	{ "monitor", cmd_monitor, "show each denial as it happens: monitor [NAME] [--json]" },
	{ "check",  cmd_check,  "parse and resolve a file, change nothing: check CONF" },
	{ "allow",  cmd_allow,  "add a host or address to a running policy for a while: allow [--policy NAME] [--for 1h] HOST|ADDRESS[:PORT]" },
	{ "revoke", cmd_revoke, "end a grant of allow now: revoke [--policy NAME] TARGET" },
	{ "exec",   cmd_exec,   "run a command inside a policy: exec [--policy NAME] -- CMD" },
	{ "selftest", cmd_selftest, "try every escape route from inside a policy: selftest [--policy NAME] [--json]" },
	{ "image",  cmd_image,  "build the agent's image with podman: image [--base IMAGE|debootstrap]" },
};

static void help(void)
{
	printf("usage: claude-bpf [-v] COMMAND [ARGS...]\n\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		printf("  %-8s %s\n", commands[i].name, commands[i].summary);
	printf("\n'claude-bpf COMMAND --help' shows a command's options.\n");
}

int main(int argc, char **argv)
{
	int i = 1;

	/* A large policy's arrays (the file, its entries, its rules) come
	 * from the heap, so that memory one of them frees is used again by
	 * the next instead of going back to the kernel and new pages being
	 * faulted in: what glibc does on its own after the first such free.
	 * First touches of pages are most of what parsing and compiling
	 * cost on a machine that shadows page tables (bench/README.md,
	 * applycost). */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
			cbpf_verbose = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			help();
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			/* The ABI of the pinned maps: the Debian package
			 * reads it to refuse an upgrade that changes it
			 * while a policy is loaded. */
			printf("claude-bpf " CBPF_VERSION " (pinned map ABI %d)\n",
			       CBPF_ABI_VERSION);
			return 0;
		} else
			return cbpf_usage_error(NULL, "unknown option '%s'", argv[i]);
	}
	if (i >= argc)
		return cbpf_usage_error(NULL, "no command given");
	cbpf_store_setup_log();
	for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
		if (!strcmp(argv[i], commands[c].name))
			return commands[c].fn(argc - i, argv + i);
	return cbpf_usage_error(NULL, "unknown command '%s'", argv[i]);
}
