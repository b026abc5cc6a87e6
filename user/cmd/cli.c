/* What every command shares above the engine (cli.h). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "base/log.h"
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
