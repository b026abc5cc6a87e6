/* claude-bpf exec: argv into the engine's exec options (engine/exec.h). */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/log.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "engine/exec.h"

/* Who the command runs as: --user, else the user who ran sudo, else us. */
static int target_user(const char *user, uid_t *uid, gid_t *gid, const char **name)
{
	const char *sudo_uid = getenv("SUDO_UID");
	struct passwd *pw;

	if (user)
		pw = getpwnam(user);
	else if (sudo_uid && getuid() == 0)
		pw = getpwuid((uid_t)strtoul(sudo_uid, NULL, 10));
	else
		pw = getpwuid(getuid());
	if (!pw)
		return -ENOENT;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	*name = pw->pw_name;
	return 0;
}

int cmd_exec(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "netns", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct cbpf_exec_opts o = { .name = "default" };
	const char *user = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "+p:u:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': o.name = optarg; break;
		case 'u': user = optarg; break;
		case 'N': o.netns = optarg; break;
		case 'h':
			printf("usage: claude-bpf exec [--policy NAME] [--user USER] "
			       "[--netns NS] -- CMD [ARG...]\n");
			return 0;
		default:
			return cbpf_usage_error("exec", "invalid option");
		}
	}
	if (optind >= argc)
		return cbpf_usage_error("exec", "no command given");
	if (o.netns && (strchr(o.netns, '/') || !strcmp(o.netns, "..") || !strcmp(o.netns, ".")))
		return cbpf_usage_error("exec", "invalid network namespace name '%s'", o.netns);
	if (cbpf_need_root("exec"))
		return 1;
	if (target_user(user, &o.uid, &o.gid, &o.user)) {
		cbpf_error("unknown user '%s'", user ? user : "(invoking user)");
		return 1;
	}
	o.argv = &argv[optind];
	return cbpf_exec(&o);
}
