/* Test tool: prints the deny events that arrive in claude-bpf's pinned ring
 * buffer as JSON lines, until COUNT events or SECONDS have passed. With
 * COMM, only the events of tasks of that name: not the denials of the
 * packets no task sends, such as another test's connection retransmitting.
 *   events COUNT SECONDS [COMM] */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "claude_bpf.h"

static int wanted, seen;
static const char *only_comm;
static bool draining;   /* skipping what was queued before we started */

static int on_event(void *ctx, void *data, size_t len)
{
	const struct cbpf_event *e = data;
	char addr[INET6_ADDRSTRLEN];
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	(void)ctx;
	if (draining || len < sizeof(*e))
		return 0;
	if (only_comm && strncmp(e->comm, only_comm, sizeof(e->comm)))
		return 0;
	if (!memcmp(e->addr, mapped, 12))
		inet_ntop(AF_INET, &e->addr[12], addr, sizeof(addr));
	else
		inet_ntop(AF_INET6, e->addr, addr, sizeof(addr));
	printf("{\"pid\":%u,\"comm\":\"%.16s\",\"cgroup_id\":%llu,\"policy_cgroup_id\":%llu,"
	       "\"policy\":%u,\"hook\":%u,\"proto\":%u,\"port\":%u,\"reason\":%u,"
	       "\"addr\":\"%s\"}\n", e->pid, e->comm, (unsigned long long)e->cgroup_id,
	       (unsigned long long)e->policy_cgroup_id, e->policy, e->hook, e->proto,
	       e->port, e->reason, addr);
	fflush(stdout);
	return ++seen >= wanted ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct ring_buffer *rb;
	time_t end;
	int fd;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: events COUNT SECONDS [COMM]\n");
		return 2;
	}
	only_comm = argc == 4 ? argv[3] : NULL;
	wanted = atoi(argv[1]);
	end = time(NULL) + atoi(argv[2]);
	fd = bpf_obj_get("/sys/fs/bpf/claude-bpf/events");
	if (fd < 0) {
		fprintf(stderr, "events: cannot open the pinned ring buffer: %s\n",
			strerror(errno));
		return 1;
	}
	rb = ring_buffer__new(fd, on_event, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "events: cannot read the ring buffer: %s\n", strerror(errno));
		return 1;
	}
	/* The buffer keeps what no one has read yet: start from now. */
	draining = true;
	ring_buffer__consume(rb);
	draining = false;
	printf("ready\n");
	fflush(stdout);
	while (seen < wanted && time(NULL) < end) {
		int n = ring_buffer__poll(rb, 200);

		if (n < 0 && n != -EINTR)
			break;
	}
	ring_buffer__free(rb);
	return seen >= wanted ? 0 : 3;
}
