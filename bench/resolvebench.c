// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* resolvebench: the old design's way of resolving an allowlist, one name
 * after the other with getaddrinfo (A and AAAA, through /etc/resolv.conf,
 * which `ip netns exec` replaces with /etc/netns/NS/resolv.conf).
 * Usage: resolvebench NAMES-FILE (one hostname a line). Prints
 * names=N addresses=M seconds=S; exit 1 when any name fails. */
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	unsigned long names = 0, addrs = 0, failed = 0;
	char line[512];
	double start;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: resolvebench NAMES-FILE\n");
		return 2;
	}
	f = fopen(argv[1], "re");
	if (!f) {
		perror(argv[1]);
		return 2;
	}
	start = now_s();
	while (fgets(line, sizeof(line), f)) {
		struct addrinfo *res, *ai;
		int rc;

		line[strcspn(line, "\r\n")] = '\0';
		if (!*line)
			continue;
		names++;
		rc = getaddrinfo(line, NULL, &hints, &res);
		if (rc) {
			if (failed++ < 5)
				fprintf(stderr, "resolvebench: %s: %s\n", line, gai_strerror(rc));
			continue;
		}
		for (ai = res; ai; ai = ai->ai_next)
			addrs++;
		freeaddrinfo(res);
	}
	fclose(f);
	printf("names=%lu addresses=%lu seconds=%.6f failed=%lu\n", names, addrs,
	       now_s() - start, failed);
	return failed ? 1 : 0;
}
