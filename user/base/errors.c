/* A list of error messages collected by pure code for its caller to print
 * once; nothing here prints. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "base/errors.h"

int cbpf_errors_add(struct cbpf_errors *e, const char *fmt, ...)
{
	char **msg, *s;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	msg = realloc(e->msg, (e->n + 1) * sizeof(*msg));
	if (!msg) {
		free(s);
		return -ENOMEM;
	}
	msg[e->n++] = s;
	e->msg = msg;
	return 0;
}

void cbpf_errors_free(struct cbpf_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->msg[i]);
	free(e->msg);
	e->msg = NULL;
	e->n = 0;
}
