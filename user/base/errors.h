/* A list of error messages collected by pure code (parsers, compilers) for
 * the caller to print; pure code never prints. */
#ifndef CBPF_ERRORS_H
#define CBPF_ERRORS_H

#include <stddef.h>

struct cbpf_errors {
	char **msg;     /* each "FILE:LINE: what is wrong", or a plain message */
	size_t n;
};

/* Appends a formatted message. Returns 0, or -ENOMEM. */
int cbpf_errors_add(struct cbpf_errors *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cbpf_errors_free(struct cbpf_errors *e);

#endif
