/* claude-bpf load: argv into the engine's load options, its result
 * printed, and the selftest a --user policy gets. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "base/log.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "engine/daemon.h"
#include "engine/load.h"
#include "engine/podman_host.h"
#include "engine/selftest.h"

/* After `load --user`: the rootless `run` cannot run the selftest itself
 * (bpf() and cgroup moves need root), so load runs it now and records the
 * result where run reads it. A leak leaves the policy as loaded (it is
 * what the file says) but run refuses it; the leaks are reported here. */
static void selftest_for_user(const char *name, const struct cbpf_leak_target *targets,
			      size_t ntargets)
{
	struct cbpf_selftest *st = calloc(1, sizeof(*st));
	const char *what;
	int err;

	if (!st) {
		cbpf_error("selftest of policy '%s': out of memory", name);
		return;
	}
	err = cbpf_selftest_run(name, targets, ntargets, CBPF_LEAK_DEFAULT_PORT, st, &what);
	if (err)
		cbpf_error("selftest of policy '%s': cannot %s: %s; run refuses the policy "
			   "until 'sudo claude-bpf selftest --policy %s' passes", name, what,
			   strerror(-err), name);
	else if (st->tally[CBPF_LEAK_LEAKED]) {
		cbpf_selftest_report_leaks(name, st);
		cbpf_error("policy '%s' leaks: run will refuse to start the agent", name);
	} else {
		printf("selftest: %zu routes blocked, none leaked\n", st->tally[CBPF_LEAK_BLOCKED]);
	}
	free(st);
}

/* The selftest of a --user policy with a DNS forwarder asks it names: it
 * runs once the policy's background process serves them (its state file
 * names it), 30 s at most (a slow start under emulation). */
static void selftest_when_serving(const char *name, const struct cbpf_leak_target *targets,
				  size_t ntargets)
{
	struct cbpf_dnsfwd_state st;

	for (int i = 0; i < 300; i++) {
		if (cbpf_dnsfwd_state_read(name, &st) == 0 && st.pid &&
		    (long)st.pid == cbpf_daemon_pid(name)) {
			selftest_for_user(name, targets, ntargets);
			return;
		}
		usleep(100000);
	}
	cbpf_error("selftest of policy '%s': its DNS forwarder did not start within 30 s; "
		   "run refuses the policy until 'sudo claude-bpf selftest --policy %s' passes",
		   name, name);
}

/* The same beside a background process that stays in the foreground: in a
 * process of its own, which does not hold the global lock. */
static void selftest_beside(const char *name, const struct cbpf_leak_target *targets,
			    size_t ntargets)
{
	pid_t pid;

	fflush(NULL);
	if ((pid = fork()) < 0) {
		cbpf_error("selftest of policy '%s': cannot fork: %s", name, strerror(errno));
	} else if (pid == 0) {
		if (fork() == 0) {   /* not the foreground process's child to reap */
			cbpf_unlock_global();
			selftest_when_serving(name, targets, ntargets);
			fflush(NULL);
		}
		_exit(0);
	} else {
		waitpid(pid, NULL, 0);
	}
}

/* The engine's load, its result printed; then the selftest of a --user
 * policy, once its forwarder serves when it has one. */
static int load(const struct cbpf_load_opts *o, const struct cbpf_leak_target *targets,
		size_t ntargets)
{
	struct cbpf_load l;
	bool rootless = o->user != NULL;
	int rc = cbpf_load_apply(o, &l);

	if (rc == 0) {
		printf("policy '%s': %zu rules enforced on %s\n", o->name, l.rs.n, l.path);
		printf("podman: --cgroup-parent=%s\n", l.podman_parent);
		if (rootless && !o->forward)
			selftest_for_user(o->name, targets, ntargets);
		if (o->forward)
			printf("dns: forwarded to %s; only the file's names are answered\n",
			       cbpf_dnsfwd_listen_text(l.fwd));
	}
	if (rc == 0 && cbpf_load_serves(o, &l)) {
		if (rootless && o->forward && o->foreground)
			selftest_beside(o->name, targets, ntargets);
		rc = cbpf_load_serve(o, &l);
		if (rc == 0 && rootless && o->forward && !o->foreground)
			selftest_when_serving(o->name, targets, ntargets);
	}
	cbpf_load_free(&l);
	return rc;
}

int cmd_load(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "cgroup-parent", required_argument, NULL, 'p' },
		{ "cgroup-manager", required_argument, NULL, 'm' },
		{ "user", required_argument, NULL, 'u' },
		{ "internet", no_argument, NULL, 'I' },
		{ "none", no_argument, NULL, 'N' },
		{ "foreground", no_argument, NULL, 'F' },
		{ "no-refresh", no_argument, NULL, 'R' },
		{ "grace", required_argument, NULL, 'g' },
		{ "selftest-target", required_argument, NULL, 'T' },
		{ "dns", required_argument, NULL, 'D' },
		{ "dns-max", required_argument, NULL, 'X' },
		{ "dns-bridge", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct cbpf_load_opts o = {
		.name = "default", .mgr = CBPF_CGM_CGROUPFS, .grace_s = CBPF_DEFAULT_GRACE_S,
		.dns_max = CBPF_DNS_LEARNED_DEFAULT,
	};
	const char *dns_mode = NULL;
	bool bridge_set = false, ask_podman = false;
	struct cbpf_leak_target targets[CBPF_LEAK_MAX_TARGETS];
	size_t ntargets = 0;
	struct passwd *pw = NULL;
	int builtin = 0, c, err;
	char *end;

	while ((c = getopt_long(argc, argv, "n:p:m:u:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': o.name = optarg; break;
		case 'u': o.user = optarg; break;
		case 'p': o.parent = optarg; break;
		case 'F': o.foreground = true; break;
		case 'R': o.no_refresh = true; break;
		case 'D':
			if (strcmp(optarg, "forward") && strcmp(optarg, "direct"))
				return cbpf_usage_error("load", "unknown --dns mode '%s' (forward "
							"or direct)", optarg);
			dns_mode = optarg;
			break;
		case 'X':
			errno = 0;
			o.dns_max = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || o.dns_max < 1 ||
			    o.dns_max > 1000000)
				return cbpf_usage_error("load", "invalid --dns-max '%s': a count, "
							"1..1000000", optarg);
			break;
		case 'B':
			bridge_set = true;
			if (!strcmp(optarg, "none"))
				o.bridge4 = 0;
			else if (inet_pton(AF_INET, optarg, &o.bridge4) != 1 || !o.bridge4)
				return cbpf_usage_error("load", "invalid --dns-bridge '%s': an IPv4 "
							"address, or none", optarg);
			break;
		case 'T':
			if (cbpf_leak_add_target(targets, &ntargets, optarg))
				return cbpf_usage_error("load", "invalid --selftest-target '%s': at "
							"most %d IPv4 or IPv6 addresses", optarg,
							CBPF_LEAK_MAX_TARGETS);
			break;
		case 'g':
			errno = 0;
			o.grace_s = (int)strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || o.grace_s < 0 ||
			    o.grace_s > 86400)
				return cbpf_usage_error("load", "invalid --grace '%s': seconds, "
							"0..86400", optarg);
			break;
		case 'm':
			if (strcmp(optarg, "cgroupfs") == 0)
				o.mgr = CBPF_CGM_CGROUPFS;
			else if (strcmp(optarg, "systemd") == 0)
				o.mgr = CBPF_CGM_SYSTEMD;
			else if (strcmp(optarg, "podman") == 0)
				ask_podman = true;
			else
				return cbpf_usage_error("load", "unknown cgroup manager '%s' "
							"(cgroupfs, systemd or podman)", optarg);
			break;
		case 'I': case 'N':
			if (builtin && builtin != c)
				return cbpf_usage_error("load", "--internet and --none exclude each other");
			builtin = c;
			break;
		case 'h':
			printf("usage: claude-bpf load [--name NAME] [--cgroup-parent PATH]\n"
			       "                      [--cgroup-manager cgroupfs|systemd|podman] [--user USER]\n"
			       "                      [--foreground | --no-refresh] [--grace SECONDS]\n"
			       "                      [--selftest-target ADDR]...\n"
			       "                      [--dns forward|direct] [--dns-max N]\n"
			       "                      [--dns-bridge ADDR|none]\n"
			       "                      (CONF | --internet | --none)\n"
			       "--cgroup-manager: how podman places containers (default cgroupfs;\n"
			       "  podman: ask this machine's rootful podman, as the service does)\n"
			       "--user: for USER's rootless podman (systemd cgroup manager)\n"
			       "--foreground: stay and keep the rules current (for systemd)\n"
			       "--no-refresh: resolve once, the addresses never expire; with\n"
			       "  --internet, the host's addresses stay as they are now\n"
			       "--grace: how long a resolved address outlives its TTL (default %d)\n"
			       "--selftest-target ADDR: where the selftest of --user aims\n"
			       "--dns forward: the sandbox's DNS goes to the policy's forwarder,\n"
			       "  which answers only the file's names and allows what it answers\n"
			       "  (the default for CONF; direct with --user, --internet, --none)\n"
			       "--dns direct: names resolved ahead of time; DNS goes to the\n"
			       "  file's resolvers\n"
			       "--dns-max N: learned addresses the forwarder may hold (default %d)\n"
			       "--dns-bridge ADDR: where containers reach the forwarder (default\n"
			       "  %s, podman's bridge; with --user %s, where slirp4netns\n"
			       "  reaches the host's loopback; none: DNS from containers is denied)\n",
			       CBPF_DEFAULT_GRACE_S, CBPF_DNS_LEARNED_DEFAULT,
			       CBPF_PODMAN_BRIDGE4_TEXT, CBPF_SLIRP_HOST4_TEXT);
			return 0;
		default:
			return cbpf_usage_error("load", "invalid option");
		}
	}
	if (optind < argc)
		o.conf = argv[optind++];
	if (optind < argc)
		return cbpf_usage_error("load", "unexpected argument '%s'", argv[optind]);
	if (!o.conf == !builtin)
		return cbpf_usage_error("load", "give exactly one of CONF, --internet, --none");
	if (o.foreground && o.no_refresh)
		return cbpf_usage_error("load", "--foreground and --no-refresh exclude each other");
	/* The forwarder lives in the policy's background process. */
	if (dns_mode && !strcmp(dns_mode, "forward") && (!o.conf || o.no_refresh))
		return cbpf_usage_error("load", "--dns forward needs CONF and the policy's "
					"background process (not --no-refresh, --internet or "
					"--none)");
	o.forward = o.conf && !o.no_refresh && (!dns_mode || !strcmp(dns_mode, "forward"));
	/* Rootful containers reach it on podman's bridge, where it listens;
	 * rootless ones through slirp4netns, which takes its host-loopback
	 * alias to the host's 127.0.0.1, where it listens already. */
	if (!bridge_set)
		o.bridge4 = htonl(o.user ? CBPF_SLIRP_HOST4 : CBPF_PODMAN_BRIDGE4);
	o.builtin = builtin == 'I' ? CBPF_BUILTIN_INTERNET :
		    builtin == 'N' ? CBPF_BUILTIN_NONE : CBPF_BUILTIN_NO;
	if (!cbpf_policy_name_valid(o.name))
		return cbpf_usage_error("load", "invalid policy name '%s': use 1 to %d of "
					"A-Z a-z 0-9 _, not 'lock'", o.name, CBPF_NAME_MAX - 1);
	if (o.user) {
		if (!(pw = getpwnam(o.user)))
			return cbpf_usage_error("load", "unknown user '%s'", o.user);
		o.uid = pw->pw_uid;
		o.gid = pw->pw_gid;
		o.mgr = CBPF_CGM_SYSTEMD;   /* rootless podman places containers with systemd */
	}
	if (o.user && ask_podman)
		return cbpf_usage_error("load", "--cgroup-manager podman asks root's podman; "
					"with --user, USER's podman uses systemd");
	if (cbpf_need_root("load"))
		return 1;
	if (ask_podman) {
		bool systemd, rootless;

		/* Without podman there are no containers to place: `exec`
		 * is served by either, and cgroupfs is the default. */
		err = cbpf_podman_host(&systemd, &rootless);
		if (err && err != -ENOENT) {
			cbpf_podman_host_error(err);
			return 1;
		}
		o.mgr = !err && systemd ? CBPF_CGM_SYSTEMD : CBPF_CGM_CGROUPFS;
	}
	if (cbpf_lock_or_report())
		return 1;
	return load(&o, targets, ntargets);
}
