/* The grants file's lines: one kernel entry a line,
 *   TARGET <tab> ADDRESS (32 hex digits) <tab> PROTO <tab> PORT <tab> EXPIRES_NS
 * written whole and renamed into place (runstate.c), under the global lock. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "base/runstate.h"
#include "core/grants.h"

int cbpf_grants_add(struct cbpf_grants *g, const char *target,
		    const struct cbpf_rule_entry *e)
{
	struct cbpf_grant *v = realloc(g->v, (g->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	g->v = v;
	memset(&v[g->n], 0, sizeof(v[g->n]));
	snprintf(v[g->n].target, sizeof(v[g->n].target), "%s", target);
	v[g->n++].e = *e;
	return 0;
}

/* One line into *e and target; false when it is not a grant's line. */
static bool parse_line(char *line, char *target, struct cbpf_rule_entry *e)
{
	char *f[5], *save = NULL, *tok = strtok_r(line, "\t\n", &save);
	unsigned proto, port;
	uint64_t expires;
	int nf = 0;

	for (; tok && nf < 5; tok = strtok_r(NULL, "\t\n", &save))
		f[nf++] = tok;
	if (nf != 5 || strlen(f[0]) >= CBPF_GRANT_TARGET_MAX || strlen(f[1]) != 32 ||
	    sscanf(f[2], "%u", &proto) != 1 || sscanf(f[3], "%u", &port) != 1 ||
	    sscanf(f[4], "%" SCNu64, &expires) != 1 || proto > 255 || port > 65535 ||
	    !expires)
		return false;
	memset(e, 0, sizeof(*e));
	for (int i = 0; i < 16; i++) {
		unsigned b;

		if (sscanf(f[1] + (size_t)2 * i, "%2x", &b) != 1)
			return false;
		e->key.addr[i] = (uint8_t)b;
	}
	memcpy(target, f[0], strlen(f[0]) + 1);   /* length checked above */
	e->key.prefixlen = CBPF_KEY_EXACT;
	e->key.proto = (uint8_t)proto;
	e->key.port = htons((uint16_t)port);
	e->val.action = CBPF_ACTION_ALLOW;
	e->val.addr_prefix = 128;
	e->val.expires_ns = expires;
	return true;
}

int cbpf_grants_read(const char *name, uint64_t now_ns, struct cbpf_grants *g)
{
	char target[CBPF_GRANT_TARGET_MAX], *text, *next, *line;
	struct cbpf_rule_entry e;
	int err = 0;

	memset(g, 0, sizeof(*g));
	if (!(next = text = cbpf_runstate_file_read(name, CBPF_RUNFILE_GRANTS)))
		return errno == ENOENT ? 0 : -errno;
	while (!err && (line = strsep(&next, "\n")))
		if (parse_line(line, target, &e) && e.val.expires_ns > now_ns)
			err = cbpf_grants_add(g, target, &e);
	free(text);
	if (err)
		cbpf_grants_free(g);
	return err;
}

int cbpf_grants_write(const char *name, const struct cbpf_grants *g)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int err;

	if (!g->n)
		return cbpf_runstate_file_remove(name, CBPF_RUNFILE_GRANTS);
	if (!(f = open_memstream(&text, &len)))
		return -errno;
	for (size_t i = 0; i < g->n; i++) {
		const struct cbpf_rule_entry *e = &g->v[i].e;

		fprintf(f, "%s\t", g->v[i].target);
		for (int b = 0; b < 16; b++)
			fprintf(f, "%02x", e->key.addr[b]);
		fprintf(f, "\t%u\t%u\t%" PRIu64 "\n", e->key.proto, ntohs(e->key.port),
			(uint64_t)e->val.expires_ns);
	}
	err = fclose(f) ? -ENOMEM : cbpf_runstate_file_write(name, CBPF_RUNFILE_GRANTS, text);
	free(text);
	return err;
}

int cbpf_grants_merge(const struct cbpf_grants *g, struct cbpf_ruleset *rs)
{
	int err;

	for (size_t i = 0; i < g->n; i++)
		if ((err = cbpf_ruleset_push(rs, &g->v[i].e)))
			return err;
	cbpf_ruleset_finish(rs);
	return 0;
}

int cbpf_grants_keep(const char *name, uint64_t now_ns, struct cbpf_ruleset *rs)
{
	struct cbpf_grants g;
	int err = cbpf_grants_read(name, now_ns, &g);

	if (!err)
		err = cbpf_grants_merge(&g, rs);
	cbpf_grants_free(&g);
	return err;
}

void cbpf_grants_remove(const char *name)
{
	cbpf_runstate_file_remove(name, CBPF_RUNFILE_GRANTS);
}

void cbpf_grants_free(struct cbpf_grants *g)
{
	free(g->v);
	memset(g, 0, sizeof(*g));
}
