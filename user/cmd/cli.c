/* What every command shares above the engine (cli.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "base/json.h"
#include "base/log.h"
#include "base/names.h"
#include "base/runstate.h"
#include "cmd/cli.h"
#include "engine/daemon.h"

int cbpf_usage_error(const char *cmd, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "claude-bpf: %s\ntry 'claude-bpf %s%s--help'\n", buf,
		cmd ? cmd : "", cmd ? " " : "");
	return EXIT_USAGE;
}

int cbpf_need_root(const char *cmd)
{
	if (geteuid() == 0)
		return 0;
	cbpf_error("%s needs root for its bpf() calls (run it with sudo)", cmd);
	return 1;
}

int cbpf_lock_or_report(void)
{
	char path[PATH_MAX];
	int err = cbpf_lock_global(0);

	if (err) {
		cbpf_runstate_path(path, sizeof(path), NULL, CBPF_RUNFILE_LOCK);
		cbpf_error("cannot lock %s: %s", path, strerror(-err));
	}
	return err ? 1 : 0;
}

void cbpf_print_rules(const struct cbpf_ruleset *rs, bool json)
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
