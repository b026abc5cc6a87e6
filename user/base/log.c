/* The error sink and JSON string output shared by every command. */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include "base/json.h"
#include "base/log.h"

bool cbpf_verbose;
bool cbpf_json;
static bool to_syslog;

void cbpf_log_to_syslog(const char *ident)
{
	openlog(ident, LOG_PID, LOG_DAEMON);
	to_syslog = true;
}

static void emit(int prio, const char *msg)
{
	if (to_syslog)
		syslog(prio, "%s", msg);
	else
		fprintf(stderr, "claude-bpf: %s\n", msg);
}

void cbpf_info(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	emit(LOG_INFO, buf);
}

void cbpf_error(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (cbpf_json) {
		fputs("{\"error\": ", stdout);
		cbpf_json_string(stdout, buf);
		fputs("}\n", stdout);
	}
	emit(LOG_ERR, buf);
}
