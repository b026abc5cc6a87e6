/* claude-bpf status: each policy with its hooks, counters, rules, grants,
 * refresher and forwarder, and the maps' use, as text or JSON. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/json.h"
#include "base/log.h"
#include "base/names.h"
#include "base/os.h"
#include "base/runstate.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "core/grants.h"
#include "engine/daemon.h"
#include "engine/load.h"

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
	cbpf_podman_parent_of(ctx->mount, path, pparent, sizeof(pparent));
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
			cbpf_print_rules(&rs, true);
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
			cbpf_print_rules(&rs, false);
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
	err = cbpf_load_open_store(&s, false);
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

