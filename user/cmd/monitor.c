/* claude-bpf monitor: each denial as it happens, one line of text or one
 * JSON object, from the engine's resolved record (engine/denials.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/json.h"
#include "base/log.h"
#include "base/names.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "core/cgroup.h"
#include "engine/denials.h"
#include "engine/store.h"

#define NS_PER_SEC 1000000000ull

struct printer {
	bool json;
	unsigned long count;        /* 0: no limit */
	unsigned long seen;
};

/* Strict unsigned decimal: digits only, no sign, no trailing garbage. */
static int parse_ulong(const char *s, unsigned long min, unsigned long max,
		       unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static void format_time(int64_t ns, char *buf, size_t len)
{
	time_t sec = (time_t)(ns / (int64_t)NS_PER_SEC);
	int ms = (int)(ns % (int64_t)NS_PER_SEC / 1000000);
	struct tm tm;
	size_t n;

	if (ms < 0) {
		sec--;
		ms += 1000;
	}
	gmtime_r(&sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03dZ", ms);
}

static void json_or_null(const char *s)
{
	if (s)
		cbpf_json_string(stdout, s);
	else
		fputs("null", stdout);
}

static int print_denial(const struct cbpf_denial *d, void *arg)
{
	struct printer *pr = arg;
	bool json = pr->json;
	char when[40], dest[INET6_ADDRSTRLEN + 8];

	format_time(d->time_ns, when, sizeof(when));
	if (json) {
		printf("{\"time\":\"%s\",\"policy\":", when);
		json_or_null(d->policy);
		printf(",\"cgroup_id\":%llu,\"container\":", (unsigned long long)d->cgroup_id);
		json_or_null(d->container);
		printf(",\"cgroup\":");
		json_or_null(d->cgroup);
		if (d->pid)
			printf(",\"pid\":%u", d->pid);
		else
			printf(",\"pid\":null");
		printf(",\"comm\":");
		json_or_null(d->comm);
		printf(",\"hook\":\"%s\",\"proto\":", cbpf_hook_name(d->hook));
		json_or_null(d->proto);
		printf(",\"address\":");
		json_or_null(d->address);
		if (d->port)
			printf(",\"port\":%u", d->port);
		else
			printf(",\"port\":null");
		printf(",\"host\":");
		json_or_null(d->host);
		printf(",\"reason\":\"%s\"}\n", cbpf_reason_name(d->reason));
	} else {
		if (!d->address)
			snprintf(dest, sizeof(dest), "-");
		else if (!d->port)
			snprintf(dest, sizeof(dest), "%s", d->address);
		else
			snprintf(dest, sizeof(dest), d->v4 ? "%s:%u" : "[%s]:%u", d->address,
				 d->port);
		printf("%s %s ", when, d->policy ? d->policy : "-");
		if (d->container)
			printf("container %s", d->container);
		else if (d->cgroup)
			printf("%s", d->cgroup);
		else
			printf("cgroup %llu", (unsigned long long)d->cgroup_id);
		if (d->pid)
			printf(" pid %u", d->pid);
		else
			printf(" pid -");
		printf(" %s %s %s", d->comm ? d->comm : "-", d->proto ? d->proto : "-", dest);
		if (d->host)
			printf(" (%s)", d->host);
		printf(" %s %s\n", cbpf_hook_name(d->hook), cbpf_reason_name(d->reason));
	}
	fflush(stdout);
	pr->seen++;
	return pr->count && pr->seen >= pr->count;
}

static void help(void)
{
	printf("usage: claude-bpf monitor [NAME] [--json] [--count N] [--timeout SECONDS]\n"
	       "Shows each denial from now on (of policy NAME, or of every policy), one\n"
	       "line each, until Ctrl-C:\n"
	       "  TIME POLICY WHERE pid PID COMM PROTO DEST [(HOST)] HOOK REASON\n"
	       "TIME is UTC; WHERE is 'container ID' (podman), the cgroup below the\n"
	       "policy's enforcement cgroup, or 'cgroup ID'; HOST is the hostname the\n"
	       "address belonged to; unknown fields are '-'.\n"
	       "--json       one object per line: time, policy, cgroup_id, container,\n"
	       "             cgroup, pid, comm, hook, proto, address, port, host, reason\n"
	       "             (null where not known)\n"
	       "--count N    exit after N events\n"
	       "--timeout S  exit after S seconds\n"
	       "The kernel sends at most %d events per second per CPU ('status' counts\n"
	       "every denial). The ring buffer has one read position: two monitors (or\n"
	       "any other reader) running at once split the events between them.\n",
	       CBPF_EVENTS_PER_SEC);
}

int cmd_monitor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "count", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct printer pr = {};
	struct cbpf_denials_opts o = { .fn = print_denial, .arg = &pr };
	struct cbpf_denials *m;
	unsigned long timeout_s = 0;
	const char *what;
	int c, err, rc;

	while ((c = getopt_long(argc, argv, "jc:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': pr.json = o.keep_spaces = cbpf_json = true; break;
		case 'c':
			if (parse_ulong(optarg, 1, ULONG_MAX, &pr.count))
				return cbpf_usage_error("monitor", "invalid --count '%s': "
							"a number of events, 1 or more", optarg);
			break;
		case 't':
			if (parse_ulong(optarg, 1, 365ul * 24 * 3600, &timeout_s))
				return cbpf_usage_error("monitor", "invalid --timeout '%s': "
							"whole seconds, 1 or more", optarg);
			break;
		case 'h':
			help();
			return 0;
		default:
			return cbpf_usage_error("monitor", "invalid option");
		}
	}
	if (optind < argc)
		o.only = argv[optind++];
	if (optind < argc)
		return cbpf_usage_error("monitor", "unexpected argument '%s'", argv[optind]);
	if (cbpf_need_root("monitor"))
		return 1;
	err = cbpf_denials_open(&m, &o, &what);
	if (err == -ENODEV)
		cbpf_error(CBPF_MSG_NO_CGROUP2);
	else if (err == -ESRCH || (err == -ENOENT && o.only))
		cbpf_error("no policy '%s' is loaded", o.only);
	else if (err == -ENOENT)
		cbpf_error("no policy is loaded: there is nothing to monitor");
	else if (err)
		cbpf_error("cannot %s: %s%s", what, strerror(-err),
			   err == -EPERM ? " (run as root)" : "");
	if (err)
		return 1;
	if (o.only)
		fprintf(stderr, "monitoring denials of policy %s (Ctrl-C to stop)\n", o.only);
	else
		fprintf(stderr, "monitoring denials of every policy (Ctrl-C to stop)\n");
	rc = cbpf_denials_stream(m, timeout_s);
	cbpf_denials_close(m);
	return rc;
}
