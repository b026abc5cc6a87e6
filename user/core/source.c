/* Reading, resolving and compiling a policy's allowlist file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/os.h"
#include "core/resolve.h"
#include "core/source.h"

#define NS 1000000000ull

size_t cbpf_host_resolvers(uint8_t (*out)[16], size_t max)
{
	static const char *const files[] = {
		"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf",
	};
	size_t n = 0;

	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		char *text = cbpf_read_file(files[f]);

		if (text)
			n += cbpf_parse_resolv_conf(text, out + n, max - n);
		free(text);
	}
	return n;
}

int cbpf_source_open(struct cbpf_source *s, const char *path,
		     struct cbpf_errors *errs)
{
	size_t max = 0;
	char *text;
	int err;

	memset(s, 0, sizeof(*s));
	if (!(s->path = strdup(path)))
		return -ENOMEM;
	if (!(text = cbpf_read_file(path))) {
		err = -errno;
		cbpf_errors_add(errs, "cannot read '%s': %s", path, strerror(errno));
		return err;
	}
	err = cbpf_conf_parse(path, text, &s->conf, errs);
	free(text);
	if (err)
		return err;
	/* The loader resolves through the resolvers the sandbox may use. */
	for (size_t i = 0; i < s->conf.ndns && s->nservers < CBPF_MAX_RESOLVERS; i++)
		memcpy(s->servers[s->nservers++], s->conf.dns[i].addr, 16);
	if (s->conf.ndns == 0)
		s->nservers = cbpf_host_resolvers(s->servers, CBPF_MAX_RESOLVERS);

	/* As many as there are hostname lines (at most), not lines. A
	 * wildcard is no name to resolve: the DNS forwarder answers the names
	 * below it as the sandbox asks. */
	for (size_t i = 0; i < s->conf.n; i++)
		max += s->conf.entries[i].is_host && !s->conf.entries[i].wildcard;
	s->hosts = calloc(max + 1, sizeof(*s->hosts));
	s->lines = calloc(max + 1, sizeof(*s->lines));
	s->res = calloc(max + 1, sizeof(*s->res));
	s->resolved_ns = calloc(max + 1, sizeof(*s->resolved_ns));
	if (!s->hosts || !s->lines || !s->res || !s->resolved_ns)
		return -ENOMEM;
	for (size_t i = 0; i < s->conf.n; i++) {
		const struct cbpf_conf_entry *e = &s->conf.entries[i];
		bool name = e->is_host && !e->wildcard, seen = false;

		for (size_t j = 0; name && j < s->nhosts && !seen; j++)
			seen = s->hosts[j] && strcmp(s->hosts[j], e->host) == 0;
		if (name && !seen) {
			s->res[s->nhosts].host = e->host;
			s->lines[s->nhosts] = e->line;
			s->hosts[s->nhosts++] = e->host;
		}
	}
	return 0;
}

static uint64_t clamp_s(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

uint64_t cbpf_source_next_refresh(const struct cbpf_source *s, size_t i)
{
	return s->resolved_ns[i] + clamp_s(s->res[i].ttl / 2, CBPF_REFRESH_FLOOR_S,
					   CBPF_REFRESH_CEILING_S) * NS;
}

int cbpf_source_resolve(struct cbpf_source *s, const bool *due, int grace_s,
			struct cbpf_errors *errs)
{
	const char **hosts = calloc(s->nhosts + 1, sizeof(*hosts));
	unsigned *lines = calloc(s->nhosts + 1, sizeof(*lines));
	size_t *which = calloc(s->nhosts + 1, sizeof(*which));
	struct cbpf_resolved *fresh = calloc(s->nhosts + 1, sizeof(*fresh));
	size_t n = 0;
	int failed = 0, err;
	uint64_t now;

	if (!hosts || !lines || !which || !fresh) {
		failed = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < s->nhosts; i++) {
		if (due && !due[i])
			continue;
		hosts[n] = s->hosts[i];
		lines[n] = s->lines[i];
		which[n++] = i;
	}
	err = cbpf_resolve_all(s->path, hosts, lines, n,
			       (const uint8_t (*)[16])s->servers, s->nservers, fresh, errs);
	if (err && err != -EINVAL) {
		failed = err;
		goto out;
	}
	now = cbpf_boottime_ns();
	for (size_t k = 0; k < n; k++) {
		struct cbpf_resolved *r = &s->res[which[k]];

		r->error = fresh[k].error;
		if (fresh[k].n == 0) {
			failed++;   /* the last good answer stays */
			continue;
		}
		free(r->addrs);
		r->addrs = fresh[k].addrs;
		r->n = fresh[k].n;
		r->ttl = fresh[k].ttl;
		r->expires_ns = grace_s < 0 ? 0 :
			now + ((uint64_t)(r->ttl > CBPF_REFRESH_FLOOR_S ? r->ttl :
					  CBPF_REFRESH_FLOOR_S) + (uint64_t)grace_s) * NS;
		s->resolved_ns[which[k]] = now;
		fresh[k].addrs = NULL;
	}
out:
	if (fresh)
		cbpf_resolved_free(fresh, n);
	free(fresh);
	free(which);
	free(lines);
	free(hosts);
	return failed;
}

int cbpf_source_compile(const struct cbpf_source *s, struct cbpf_ruleset *out)
{
	struct cbpf_conf c = s->conf;

	if (s->dns_forward)
		c.ndns = 0;
	return cbpf_rules_compile(&c, s->res, s->nhosts, (const uint8_t (*)[16])s->servers,
				  s->dns_forward ? 0 : s->nservers, out);
}

int cbpf_source_compile_literal(const struct cbpf_source *s, struct cbpf_ruleset *out)
{
	struct cbpf_conf lit = s->conf;
	int err;

	lit.n = 0;
	if (!(lit.entries = calloc(s->conf.n ? s->conf.n : 1, sizeof(*lit.entries))))
		return -ENOMEM;
	for (size_t i = 0; i < s->conf.n; i++)
		if (!s->conf.entries[i].is_host)
			lit.entries[lit.n++] = s->conf.entries[i];
	err = cbpf_rules_compile(&lit, NULL, 0, (const uint8_t (*)[16])s->servers,
				 s->nservers, out);
	free(lit.entries);
	return err;
}

void cbpf_source_free(struct cbpf_source *s)
{
	if (s->res)
		cbpf_resolved_free(s->res, s->nhosts);
	free(s->res);
	free(s->resolved_ns);
	free(s->hosts);
	free(s->lines);
	cbpf_conf_free(&s->conf);
	free(s->path);
	memset(s, 0, sizeof(*s));
}
