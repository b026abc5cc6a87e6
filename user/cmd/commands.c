/* load, unload, status and check: the policy commands of claude-bpf. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include "base/json.h"
#include "base/log.h"
#include "base/names.h"
#include "base/runstate.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "core/cgroup.h"
#include "core/config.h"
#include "core/grants.h"
#include "core/resolve.h"
#include "core/rules.h"
#include "core/source.h"
#include "engine/daemon.h"
#include "engine/dnsfwd.h"
#include "engine/internet.h"
#include "engine/podman_host.h"
#include "engine/policy.h"
#include "engine/refresh.h"
#include "engine/selftest.h"
#include "engine/store.h"

static void print_errors(const struct cbpf_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		cbpf_error("%s", e->msg[i]);
}

/* How open_source treats the names of CONF. */
enum open_mode {
	OPEN_PARSE,         /* not resolved (check --no-resolve) */
	OPEN_RESOLVE,       /* each must answer (direct mode) */
	OPEN_PREFETCH,      /* answers are a prefetch: the forwarder resolves
	                     * a name that fails now when the sandbox asks */
};

/* Opens CONF and resolves its names as `mode` says. Errors are printed;
 * returns 0 or 1. grace_s < 0: the addresses never expire. */
static int open_source(const char *path, int grace_s, enum open_mode mode,
		       struct cbpf_source *src)
{
	struct cbpf_errors errs = {};
	int err = cbpf_source_open(src, path, &errs);

	src->dns_forward = mode == OPEN_PREFETCH;
	if (!err && mode != OPEN_PARSE) {
		err = cbpf_source_resolve(src, NULL, grace_s, &errs);
		if (err > 0 && mode == OPEN_PREFETCH) {
			for (size_t i = 0; i < errs.n; i++)
				cbpf_info("warning: %s; the DNS forwarder resolves it when the "
					  "sandbox asks", errs.msg[i]);
			cbpf_errors_free(&errs);
			err = 0;
		} else if (err > 0) {
			err = -EINVAL;
		}
	}
	print_errors(&errs);
	if (err && !errs.n)
		cbpf_error("cannot load '%s': %s", path, strerror(-err));
	cbpf_errors_free(&errs);
	return err ? 1 : 0;
}

static int compile_source(const struct cbpf_source *src, struct cbpf_ruleset *rs)
{
	int err = cbpf_source_compile(src, rs);
	char text[64];

	if (err)
		cbpf_error("cannot compile '%s': %s", src->path, strerror(-err));
	for (size_t i = 0; !err && i < src->nhosts; i++)
		for (size_t j = 0; j < src->res[i].n; j++)
			if (cbpf_answer_skipped(src->res[i].addrs[j])) {
				cbpf_format_prefix(src->res[i].addrs[j], 128, text, sizeof(text));
				cbpf_info("%s:%u: '%s' resolved to %s, which is not made a "
					  "rule (a DNS filter's answer for a blocked name?); "
					  "write the address itself to allow it", src->path,
					  src->lines[i], src->hosts[i], text);
			}
	return err ? 1 : 0;
}

/* --none, or --internet made of the host's state as it is now (kept in
 * *host for the watcher). */
static int builtin_ruleset(bool internet, struct cbpf_host_state *host,
			   struct cbpf_ruleset *rs)
{
	int err = internet ? cbpf_host_state_read(host) : 0;

	if (err == -E2BIG)
		cbpf_error("cannot build the built-in policy: the host has more than %d "
			   "addresses", CBPF_HOST_MAX_ADDRS);
	else if (err)
		cbpf_error("cannot read the host's addresses: %s", strerror(-err));
	else if ((err = internet ? cbpf_internet_ruleset(host, rs) : cbpf_rules_none(rs)))
		cbpf_error("cannot build the built-in policy: %s", strerror(-err));
	return err ? 1 : 0;
}

static void print_rules(const struct cbpf_ruleset *rs, bool json)
{
	for (size_t i = 0; i < rs->n; i++) {
		const struct cbpf_rule_entry *e = &rs->v[i];
		const char *host = e->val.host && e->val.host <= rs->nhosts ?
				   rs->hosts[e->val.host - 1] : NULL;
		char addr[INET6_ADDRSTRLEN + 8], pb[4];
		unsigned port = ntohs(e->key.port);

		cbpf_format_prefix(e->key.addr, cbpf_key_addr_prefix(&e->key), addr,
				   sizeof(addr));
		if (json) {
			printf("%s{\"action\":\"%s\",\"address\":\"%s\",\"proto\":\"%s\","
			       "\"port\":%u,\"host\":", i ? "," : "",
			       e->val.action == CBPF_ACTION_ALLOW ? "allow" : "deny",
			       addr, cbpf_proto_name(e->key.proto, pb), port);
			if (host)
				cbpf_json_string(stdout, host);
			else
				fputs("null", stdout);
			printf(",\"expires_ns\":%llu}", (unsigned long long)e->val.expires_ns);
			continue;
		}
		printf("    %-5s %-40s %-4s ", e->val.action == CBPF_ACTION_ALLOW ?
		       "allow" : "deny", addr, cbpf_proto_name(e->key.proto, pb));
		if (port)
			printf("%-6u", port);
		else
			printf("%-6s", "*");
		if (host)
			printf(" %s", host);
		if (e->val.expires_ns)
			printf(" (expires at boot+%llus)",
			       (unsigned long long)(e->val.expires_ns / 1000000000ull));
		putchar('\n');
	}
}

/* podman's --cgroup-parent for an enforcement cgroup: a slice for the
 * systemd manager (rootless when below user@UID.service), else a path. */
static int podman_parent(const char *mount, const char *path, char *out, size_t len)
{
	const char *user = strstr(path, "/user@");
	size_t plen = strlen(path);
	bool systemd = plen > 6 && strcmp(path + plen - 6, ".slice") == 0;
	uid_t uid = user ? (uid_t)strtoul(user + 6, NULL, 10) : 0;

	return cbpf_podman_cgroup_parent(mount, path,
					 systemd ? CBPF_CGM_SYSTEMD : CBPF_CGM_CGROUPFS,
					 systemd && user, uid, out, len);
}

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

static int open_store_or_report(struct cbpf_store *s, bool create)
{
	const char *what;
	int err = cbpf_store_open(s, create, &what);

	if (err == -ENOENT && !create)
		return -ENOENT;
	if (err)
		cbpf_error("cannot %s: %s%s", what, strerror(-err),
			   err == -EPERM ? " (run as root)" : "");
	return err;
}

/* Tells unprivileged `run` which cgroup enforces the policy. */
static int write_state(const char *name, const char *path)
{
	uint64_t id;
	int err = cbpf_cgroup_id(path, &id);

	return err ? err : cbpf_runstate_write(name, id, path);
}

/* A rootless user's podman (through their systemd) makes the container
 * cgroups below the enforcement cgroup: delegate it, as systemd does. The
 * programs stay attached above anything the user can change. The cgroups
 * load made between user@UID.service and it stay root's (so the user cannot
 * remove or rename the enforcement cgroup), so the user's systemd cannot
 * enable controllers in them: load does, else crun fails in the container's
 * scope ("the requested cgroup controller `pids` is not available"). */
static int delegate(const char *path, uid_t uid, gid_t gid)
{
	static const char *const files[] = {
		"", "/cgroup.procs", "/cgroup.threads", "/cgroup.subtree_control",
	};
	char file[PATH_MAX + 32], svc[64];
	const char *p;
	int err;

	snprintf(svc, sizeof(svc), "/user@%u.service/", (unsigned)uid);
	p = strstr(path, svc);
	/* Each ancestor below user@UID.service, from the top down. */
	for (p = p ? strchr(p + strlen(svc), '/') : NULL; p; p = strchr(p + 1, '/')) {
		snprintf(file, sizeof(file), "%.*s", (int)(p - path), path);
		if ((err = cbpf_cgroup_enable_controllers(file)))
			return err;
	}

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(file, sizeof(file), "%s%s", path, files[i]);
		if (chown(file, uid, gid) && errno != ENOENT)
			return -errno;
	}
	return 0;
}

/* Direct mode resolves every name ahead of time: a wildcard cannot be. */
static int check_direct(const struct cbpf_source *src)
{
	struct cbpf_errors errs = {};
	int err = cbpf_conf_check_direct(&src->conf, src->path, &errs);

	print_errors(&errs);
	cbpf_errors_free(&errs);
	return err ? 1 : 0;
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
	const char *name = "default", *parent = NULL, *conf = NULL, *what, *user = NULL;
	const char *dns_mode = NULL;
	struct cbpf_dnsfwd *fwd = NULL;
	struct cbpf_dns_target dns_target;
	uint32_t bridge4 = 0;
	bool bridge_set = false;
	unsigned long dns_max = CBPF_DNS_LEARNED_DEFAULT;
	bool forward;
	struct cbpf_leak_target targets[CBPF_LEAK_MAX_TARGETS];
	size_t ntargets = 0;
	struct passwd *pw = NULL;
	enum cbpf_cgroup_manager mgr = CBPF_CGM_CGROUPFS;
	int builtin = 0, c, err, rc = 1, grace = CBPF_DEFAULT_GRACE_S;
	bool foreground = false, no_refresh = false, ask_podman = false;
	char mount[PATH_MAX], path[PATH_MAX], pparent[PATH_MAX], *end;
	struct cbpf_source src = {};
	struct cbpf_ruleset rs = {};
	struct cbpf_host_state host;
	struct cbpf_store s;

	while ((c = getopt_long(argc, argv, "n:p:m:u:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'u': user = optarg; break;
		case 'p': parent = optarg; break;
		case 'F': foreground = true; break;
		case 'R': no_refresh = true; break;
		case 'D':
			if (strcmp(optarg, "forward") && strcmp(optarg, "direct"))
				return cbpf_usage_error("load", "unknown --dns mode '%s' (forward "
							"or direct)", optarg);
			dns_mode = optarg;
			break;
		case 'X':
			errno = 0;
			dns_max = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || dns_max < 1 || dns_max > 1000000)
				return cbpf_usage_error("load", "invalid --dns-max '%s': a count, "
							"1..1000000", optarg);
			break;
		case 'B':
			bridge_set = true;
			if (!strcmp(optarg, "none"))
				bridge4 = 0;
			else if (inet_pton(AF_INET, optarg, &bridge4) != 1 || !bridge4)
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
			grace = (int)strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || grace < 0 || grace > 86400)
				return cbpf_usage_error("load", "invalid --grace '%s': seconds, "
							"0..86400", optarg);
			break;
		case 'm':
			if (strcmp(optarg, "cgroupfs") == 0)
				mgr = CBPF_CGM_CGROUPFS;
			else if (strcmp(optarg, "systemd") == 0)
				mgr = CBPF_CGM_SYSTEMD;
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
		conf = argv[optind++];
	if (optind < argc)
		return cbpf_usage_error("load", "unexpected argument '%s'", argv[optind]);
	if (!conf == !builtin)
		return cbpf_usage_error("load", "give exactly one of CONF, --internet, --none");
	if (foreground && no_refresh)
		return cbpf_usage_error("load", "--foreground and --no-refresh exclude each other");
	/* The forwarder lives in the policy's background process. */
	if (dns_mode && !strcmp(dns_mode, "forward") && (!conf || no_refresh))
		return cbpf_usage_error("load", "--dns forward needs CONF and the policy's "
					"background process (not --no-refresh, --internet or "
					"--none)");
	forward = conf && !no_refresh && (!dns_mode || !strcmp(dns_mode, "forward"));
	/* Rootful containers reach it on podman's bridge, where it listens;
	 * rootless ones through slirp4netns, which takes its host-loopback
	 * alias to the host's 127.0.0.1, where it listens already. */
	if (!bridge_set)
		bridge4 = htonl(user ? CBPF_SLIRP_HOST4 : CBPF_PODMAN_BRIDGE4);
	if (!cbpf_policy_name_valid(name))
		return cbpf_usage_error("load", "invalid policy name '%s': use 1 to %d of "
					"A-Z a-z 0-9 _, not 'lock'", name, CBPF_NAME_MAX - 1);
	if (user) {
		if (!(pw = getpwnam(user)))
			return cbpf_usage_error("load", "unknown user '%s'", user);
		mgr = CBPF_CGM_SYSTEMD;   /* rootless podman places containers with systemd */
	}
	if (user && ask_podman)
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
		mgr = !err && systemd ? CBPF_CGM_SYSTEMD : CBPF_CGM_CGROUPFS;
	}
	if (cbpf_lock_or_report())
		return 1;

	if (conf ? open_source(conf, no_refresh ? -1 : grace,
			       forward ? OPEN_PREFETCH : OPEN_RESOLVE, &src) ||
		   (!forward && check_direct(&src)) || compile_source(&src, &rs)
		 : builtin_ruleset(builtin == 'I', &host, &rs))
		goto out;
	if (forward && ((err = cbpf_dnsfwd_open(&fwd, bridge4, !user, &dns_target)) ||
			(err = cbpf_dnsfwd_ruleset(fwd, &rs)))) {
		cbpf_error("cannot open the DNS forwarder's sockets: %s", strerror(-err));
		goto out;
	}
	if (cbpf_cgroup2_mount(mount, sizeof(mount))) {
		cbpf_error(CBPF_MSG_NO_CGROUP2);
		goto out;
	}
	err = cbpf_enforcement_path(mount, parent, mgr, pw != NULL, pw ? pw->pw_uid : 0,
				    name, path, sizeof(path));
	if (!err)
		err = podman_parent(mount, path, pparent, sizeof(pparent));
	if (err) {
		cbpf_error("invalid enforcement cgroup for policy '%s' below '%s'%s%s",
			   name, mount, parent ? " with --cgroup-parent " : "",
			   parent ? parent : "");
		goto out;
	}
	/* A refresher still writing the old file's rules would race the new
	 * policy: it goes first (its rules keep enforcing meanwhile). */
	if ((err = cbpf_daemon_stop(name))) {
		cbpf_error("cannot stop the refresher of policy '%s': %s", name, strerror(-err));
		goto out;
	}
	/* What `allow` granted outlives a new load of the same policy. */
	if ((err = cbpf_grants_keep(name, cbpf_boottime_ns(), &rs))) {
		cbpf_error("cannot keep the grants of policy '%s': %s", name, strerror(-err));
		goto out;
	}
	if (open_store_or_report(&s, true))
		goto out;
	/* What the forwarder of the policy replaced had learned outlives it
	 * too (a service restart must not cut the sandbox's connections). */
	if (forward && (err = cbpf_dnsfwd_keep(&s, name, &src.conf, cbpf_boottime_ns(), &rs))) {
		cbpf_error("cannot keep what the DNS forwarder of policy '%s' learned: %s", name,
			   strerror(-err));
		cbpf_store_close(&s);
		goto out;
	}
	err = cbpf_policy_apply(&s, name, mount, path, &rs, &what);
	if (err == -EEXIST)
		cbpf_error("policy '%s' or cgroup '%s' already belongs to another "
			   "policy; unload it first", name, path);
	else if (err)
		cbpf_error("cannot %s '%s': %s%s", what, path, cbpf_policy_strerror(err, what),
			   err == -EPERM && geteuid() ? " (run as root)" : "");
	else if (pw && (err = delegate(path, pw->pw_uid, pw->pw_gid)))
		cbpf_error("cannot delegate '%s' to user '%s': %s", path, user,
			   strerror(-err));
	else if ((err = write_state(name, path)))
		cbpf_error("cannot record policy '%s' in " CBPF_RUNSTATE_DIR ": %s", name,
			   strerror(-err));
	else {
		printf("policy '%s': %zu rules enforced on %s\n", name, rs.n, path);
		printf("podman: --cgroup-parent=%s\n", pparent);
		rc = 0;
	}
	cbpf_store_close(&s);
	if (rc == 0 && pw && !forward)
		selftest_for_user(name, targets, ntargets);
	if (rc == 0 && forward) {
		cbpf_dnsfwd_publish(fwd, name);
		printf("dns: forwarded to %s; only the file's names are answered\n",
		       cbpf_dnsfwd_listen_text(fwd));
	}
	if (rc == 0 && conf && !no_refresh && (foreground || src.nhosts || forward)) {
		struct cbpf_refresher r = {
			.name = name, .mount = mount, .cgroup = path, .grace_s = grace,
			.src = src, .fwd = fwd, .dns_max = dns_max,
		};

		memset(&src, 0, sizeof(src));   /* the refresher owns it now */
		fwd = NULL;
		if (pw && forward && foreground)
			selftest_beside(name, targets, ntargets);
		fflush(NULL);
		rc = cbpf_refresher_start(&r, !foreground);
		if (rc == 0 && pw && forward && !foreground)
			selftest_when_serving(name, targets, ntargets);
	} else if (rc == 0 && builtin == 'I' && !no_refresh) {
		fflush(NULL);
		rc = cbpf_internet_watch(name, mount, path, &host, !foreground);
	}
out:
	cbpf_dnsfwd_close(fwd);
	cbpf_source_free(&src);
	cbpf_ruleset_free(&rs);
	return rc;
}

int cmd_unload(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool all = false, force = false;
	char mount[PATH_MAX], names[CBPF_MAX_POLICIES][CBPF_NAME_MAX];
	size_t n = 0;
	struct cbpf_store s;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "afh", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = true; break;
		case 'f': force = true; break;
		case 'h':
			printf("usage: claude-bpf unload [--force] (NAME | --all)\n");
			return 0;
		default:
			return cbpf_usage_error("unload", "invalid option");
		}
	}
	if (all && optind < argc)
		return cbpf_usage_error("unload", "give NAME or --all, not both");
	if (argc - optind > 1)
		return cbpf_usage_error("unload", "unexpected argument '%s'", argv[optind + 1]);
	if (!all)
		snprintf(names[n++], CBPF_NAME_MAX, "%s",
			 optind < argc ? argv[optind] : "default");
	if (cbpf_need_root("unload"))
		return 1;
	if (cbpf_lock_or_report())
		return 1;
	if (cbpf_cgroup2_mount(mount, sizeof(mount))) {
		cbpf_error(CBPF_MSG_NO_CGROUP2);
		return 1;
	}
	if (open_store_or_report(&s, false)) {
		if (all)
			return 0;   /* nothing loaded: nothing to do */
		cbpf_error("no policy '%s' is loaded", names[0]);
		return 1;
	}
	if (all) {
		__u64 key, *prev = NULL;
		struct cbpf_policy p;

		while (bpf_map_get_next_key(s.policies_fd, prev, &key) == 0 &&
		       n < CBPF_MAX_POLICIES) {
			if (bpf_map_lookup_elem(s.policies_fd, &key, &p) == 0)
				snprintf(names[n++], CBPF_NAME_MAX, "%s", p.name);
			prev = &key;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const char *what;
		int nprocs = 0, err = cbpf_policy_remove(&s, names[i], mount, force,
							  &nprocs, &what);

		if (err == -ENOENT && strcmp(what, "find the policy") == 0)
			cbpf_error("no policy '%s' is loaded", names[i]);
		else if (err == -EBUSY && !force)
			cbpf_error("policy '%s' still has %d process%s in its cgroup; stop "
				   "them, or use --force to kill them", names[i], nprocs,
				   nprocs == 1 ? "" : "es");
		else if (err)
			cbpf_error("cannot %s of policy '%s': %s", what, names[i],
				   strerror(-err));
		else if ((err = cbpf_runstate_remove(names[i])))
			cbpf_error("cannot remove " CBPF_RUNSTATE_DIR "/%s: %s", names[i],
				   strerror(-err));
		else {
			cbpf_grants_remove(names[i]);
			printf("policy '%s' unloaded\n", names[i]);
			continue;
		}
		rc = 1;
	}
	/* With no policy left, remove_if_unused closed the store already. */
	if (s.policies_fd >= 0)
		cbpf_store_close(&s);
	return rc;
}

/* The grants of `allow` that have not expired, from the grants file. */
static void print_grants(const char *name, bool json)
{
	uint64_t now = cbpf_boottime_ns();
	struct cbpf_grants g;
	char addr[INET6_ADDRSTRLEN + 8];

	if (cbpf_grants_read(name, now, &g))
		memset(&g, 0, sizeof(g));
	if (json)
		printf(",\"grants\":[");
	else if (g.n)
		printf("  grants:\n");
	for (size_t i = 0; i < g.n; i++) {
		const struct cbpf_rule_entry *e = &g.v[i].e;
		char pb[4];

		cbpf_format_prefix(e->key.addr, 128, addr, sizeof(addr));
		if (json) {
			printf("%s{\"target\":", i ? "," : "");
			cbpf_json_string(stdout, g.v[i].target);
			printf(",\"address\":\"%s\",\"proto\":\"%s\",\"port\":%u,"
			       "\"expires_ns\":%llu}", addr, cbpf_proto_name(e->key.proto, pb),
			       ntohs(e->key.port), (unsigned long long)e->val.expires_ns);
		} else {
			printf("    %-30s %-40s %-4s %-6u expires in %llus\n", g.v[i].target, addr,
			       cbpf_proto_name(e->key.proto, pb), ntohs(e->key.port),
			       (unsigned long long)((e->val.expires_ns - now) / 1000000000ull));
		}
	}
	if (json)
		printf("]");
	cbpf_grants_free(&g);
}

/* One hostname's record of the refresher, in status's text or JSON. */
static void print_host(const struct cbpf_host_record *h, bool first, bool json)
{
	bool skipped = *h->skipped;
	char *list;

	if (!json) {
		printf("    %-30s ttl %us, answered %llus ago, %s%s%s%s\n", h->name, h->ttl,
		       (unsigned long long)((cbpf_boottime_ns() - h->answered_ns) / 1000000000ull),
		       h->failures ? "failing: " : "ok", h->error,
		       skipped ? "; skipped (no rule made): " : "", h->skipped);
		return;
	}
	printf("%s{\"name\":", first ? "" : ",");
	cbpf_json_string(stdout, h->name);
	printf(",\"answered_ns\":%llu,\"ttl\":%u,\"failures\":%d,\"skipped\":[",
	       (unsigned long long)h->answered_ns, h->ttl, h->failures);
	/* The comma-separated addresses, each a string. */
	list = skipped ? strdup(h->skipped) : NULL;
	for (char *a = list, *end; a; a = end ? end + 1 : NULL) {
		if ((end = strchr(a, ',')))
			*end = '\0';
		if (a != list)
			putchar(',');
		cbpf_json_string(stdout, a);
	}
	free(list);
	printf("],\"error\":");
	if (*h->error)
		cbpf_json_string(stdout, h->error);
	else
		fputs("null", stdout);
	putchar('}');
}

/* The refresher of a policy as status shows it: its pid while it holds
 * the pid file's lock, and each hostname's last answer. */
static void print_refresher(const char *name, bool json)
{
	struct cbpf_host_records hosts = { 0 };
	long pid = cbpf_daemon_pid(name);

	if (json)
		printf(",\"refresher\":{\"pid\":%ld,\"hosts\":[", pid);
	else if (pid)
		printf("  refresher: pid %ld\n", pid);
	else
		printf("  refresher: not running (resolved addresses expire; load again to refresh)\n");
	/* A hosts file outlives a killed refresher: the pid file's lock says. */
	if (pid)
		cbpf_runstate_hosts_read(name, &hosts);
	for (size_t i = 0; i < hosts.n; i++)
		print_host(&hosts.v[i], i == 0, json);
	cbpf_host_records_free(&hosts);
	if (json)
		printf("]}");
}

struct status_ctx {
	struct cbpf_store *s;
	const char *only;
	const char *mount;
	bool json, summary;
	size_t shown;
	int rc;
};

/* The policy's DNS mode, and its forwarder's counts while it runs. */
static void print_dns(const struct cbpf_policy *p, bool json)
{
	bool forward = p->flags & CBPF_POLICY_DNS;
	struct cbpf_dnsfwd_state st;
	/* A state file outlives a killed process: the pid file's lock says. */
	bool running = forward && cbpf_daemon_pid(p->name) > 0 &&
		       cbpf_dnsfwd_state_read(p->name, &st) == 0;

	if (json) {
		printf(",\"dns\":{\"mode\":\"%s\"", forward ? "forward" : "direct");
		if (running) {
			printf(",\"listen\":");
			cbpf_json_string(stdout, st.listen);
			printf(",\"queries\":%llu,\"answered\":%llu,\"refused\":%llu,"
			       "\"failed\":%llu,\"bound_refused\":%llu,\"learned\":%llu,"
			       "\"max_learned\":%llu,\"release_p50_ns\":%llu,"
			       "\"release_p99_ns\":%llu",
			       (unsigned long long)st.queries, (unsigned long long)st.answered,
			       (unsigned long long)st.refused, (unsigned long long)st.failed,
			       (unsigned long long)st.bound_refused, (unsigned long long)st.learned,
			       (unsigned long long)st.max_learned,
			       (unsigned long long)st.release_p50_ns,
			       (unsigned long long)st.release_p99_ns);
		}
		printf(",\"forwarder_running\":%s}", running ? "true" : "false");
		return;
	}
	if (!forward) {
		printf("  dns:      direct (to the file's resolvers)\n");
		return;
	}
	if (!running) {
		printf("  dns:      forward, forwarder NOT RUNNING: DNS from the sandbox fails\n");
		return;
	}
	printf("  dns:      forward to %s\n            %llu queries: %llu answered, %llu refused, "
	       "%llu failed; %llu of at most %llu addresses learned\n", st.listen,
	       (unsigned long long)st.queries, (unsigned long long)st.answered,
	       (unsigned long long)st.refused, (unsigned long long)st.failed,
	       (unsigned long long)st.learned, (unsigned long long)st.max_learned);
	if (st.bound_refused)
		printf("            %llu answers REFUSED at the bound (--dns-max)\n",
		       (unsigned long long)st.bound_refused);
}

static int show_policy(uint64_t cg, const struct cbpf_policy *p, void *arg)
{
	struct status_ctx *ctx = arg;
	uint64_t counts[CBPF_REASON__COUNT];
	char path[PATH_MAX], pparent[PATH_MAX] = "";
	struct cbpf_ruleset rs;
	unsigned attached = cbpf_store_attached(p->name, cg);
	int err;

	if (ctx->only && strncmp(ctx->only, p->name, CBPF_NAME_MAX))
		return 0;
	snprintf(path, sizeof(path), "%s%s", ctx->mount, p->cgroup);
	podman_parent(ctx->mount, path, pparent, sizeof(pparent));
	err = cbpf_policy_read_rules(ctx->s, p->id, &rs);
	if (!err)
		err = cbpf_policy_counters(ctx->s, cg, counts);
	if (err) {
		cbpf_ruleset_free(&rs);
		cbpf_error("cannot read policy '%s': %s", p->name, strerror(-err));
		ctx->rc = 1;
		return 0;
	}
	if (ctx->json) {
		printf("%s{\"name\":", ctx->shown ? "," : "");
		cbpf_json_string(stdout, p->name);
		printf(",\"cgroup\":");
		cbpf_json_string(stdout, path);
		printf(",\"cgroup_id\":%llu,\"policy_id\":%u,\"cgroup_parent\":",
		       (unsigned long long)cg, p->id);
		cbpf_json_string(stdout, pparent);
		printf(",\"programs\":[");
		for (int h = 0, first = 1; h < CBPF_HOOK__COUNT; h++)
			if (attached & (1u << h)) {
				printf("%s\"%s\"", first ? "" : ",", cbpf_hook_name(h));
				first = 0;
			}
		printf("],\"rule_count\":%zu", rs.n);
		if (!ctx->summary) {
			printf(",\"rules\":[");
			print_rules(&rs, true);
			printf("]");
		}
		printf(",\"denied\":{");
		for (int r = 0; r < CBPF_REASON__COUNT; r++)
			printf("%s\"%s\":%llu", r ? "," : "", cbpf_reason_name(r),
			       (unsigned long long)counts[r]);
		printf("}");
		print_dns(p, true);
		print_refresher(p->name, true);
		print_grants(p->name, true);
		printf("}");
	} else {
		printf("policy %s\n  cgroup:   %s (id %llu)\n  podman:   --cgroup-parent=%s\n"
		       "  programs:", p->name, path, (unsigned long long)cg, pparent);
		for (int h = 0; h < CBPF_HOOK__COUNT; h++)
			if (attached & (1u << h))
				printf(" %s", cbpf_hook_name(h));
		if (attached != (1u << CBPF_HOOK__COUNT) - 1)
			printf("  (NOT ALL ATTACHED: reload the policy)");
		printf("\n  rules:    %zu\n", rs.n);
		if (!ctx->summary)
			print_rules(&rs, false);
		printf("  denied:  ");
		for (int r = 0; r < CBPF_REASON__COUNT; r++)
			if (counts[r])
				printf(" %s %llu", cbpf_reason_name(r), (unsigned long long)counts[r]);
		printf("\n");
		print_dns(p, false);
		print_refresher(p->name, false);
		print_grants(p->name, false);
	}
	ctx->shown++;
	cbpf_ruleset_free(&rs);
	return 0;
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "summary", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char mount[PATH_MAX];
	struct cbpf_map_use use = {};
	struct cbpf_store s;
	struct status_ctx ctx = { .s = &s, .mount = mount };
	int c, err;

	while ((c = getopt_long(argc, argv, "jsh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': ctx.json = cbpf_json = true; break;
		case 's': ctx.summary = true; break;
		case 'h':
			printf("usage: claude-bpf status [NAME] [--json] [--summary]\n");
			return 0;
		default:
			return cbpf_usage_error("status", "invalid option");
		}
	}
	if (optind < argc)
		ctx.only = argv[optind++];
	if (optind < argc)
		return cbpf_usage_error("status", "unexpected argument '%s'", argv[optind]);
	if (cbpf_need_root("status"))
		return 1;
	if (cbpf_cgroup2_mount(mount, sizeof(mount))) {
		cbpf_error(CBPF_MSG_NO_CGROUP2);
		return 1;
	}
	err = open_store_or_report(&s, false);
	if (err && err != -ENOENT)
		return 1;
	if (ctx.json)
		printf("{\"policies\":[");
	if (!err) {
		cbpf_store_each_policy(&s, show_policy, &ctx);
		if (cbpf_policy_map_use(&s, &use)) {
			cbpf_error("cannot read the exact_rules, rules and hostnames maps");
			ctx.rc = 1;
		}
		cbpf_store_close(&s);
	}
	if (ctx.json)
		printf("],\"maps\":{\"exact_rules\":{\"entries\":%zu,\"max_entries\":%u,"
		       "\"unreferenced\":%zu},\"rules\":{\"entries\":%zu,\"max_entries\":%u,"
		       "\"unreferenced\":%zu},\"hostnames\":{\"entries\":%zu,"
		       "\"max_entries\":%u,\"unreferenced\":%zu}}}\n",
		       use.exact, (unsigned)CBPF_MAX_RULES, use.exact_unreferenced,
		       use.rules, (unsigned)CBPF_MAX_RULES, use.rules_unreferenced,
		       use.hostnames, (unsigned)CBPF_MAX_HOSTS, use.hostnames_unreferenced);
	else if (!ctx.shown && !ctx.only)
		printf("no policy loaded\n");
	if (!ctx.json && !err && !ctx.only)
		printf("maps: %zu of %u whole-address rule entries, %zu of %u prefix rule "
		       "entries, %zu of %u hostnames%s\n", use.exact, (unsigned)CBPF_MAX_RULES,
		       use.rules, (unsigned)CBPF_MAX_RULES, use.hostnames,
		       (unsigned)CBPF_MAX_HOSTS,
		       use.exact_unreferenced || use.rules_unreferenced ||
		       use.hostnames_unreferenced ?
		       " (some of no policy: the next load clears them)" : "");
	if (ctx.only && !ctx.shown) {
		cbpf_error("no policy '%s' is loaded", ctx.only);
		return 1;
	}
	return ctx.rc;
}

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
	rc = open_source(argv[optind], -1, !resolve ? OPEN_PARSE : direct ? OPEN_RESOLVE :
			 OPEN_PREFETCH, &src);
	if (!rc && direct)
		rc = check_direct(&src);
	if (!rc && !resolve && (rc = cbpf_source_compile_literal(&src, &rs)))
		cbpf_error("cannot compile '%s': %s", src.path, strerror(-rc));
	else if (!rc && resolve)
		rc = compile_source(&src, &rs);
	nhosts = src.nhosts;
	nwild = cbpf_conf_wildcards(&src.conf);
	cbpf_source_free(&src);
	if (rc)
		return 1;
	if (json) {
		printf("{\"rules\":[");
		print_rules(&rs, true);
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
		print_rules(&rs, false);
	}
	cbpf_ruleset_free(&rs);
	return 0;
}
