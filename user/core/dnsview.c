/* The DNS forwarder's view of its policy: patterns, names and the learned
 * addresses (dnsview.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/dnsview.h"
#include "core/source.h"

#define NS 1000000000ull

static uint64_t hash_bytes(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* ----------------------------------------------------------------- names */

/* The patterns and names alone, not the learned addresses. */
static void free_names(struct cbpf_dnsview *v)
{
	cbpf_dns_names_free(&v->names);
	free(v->pats);
	for (size_t i = 0; i < v->nhosts; i++)
		free(v->hosts[i]);
	free(v->hosts);
	free(v->host_refs);
	free(v->index);
	free(v->spare);
	v->pats = NULL;
	v->hosts = NULL;
	v->host_refs = v->index = v->spare = NULL;
	v->nhosts = v->hosts_cap = v->index_cap = v->nspare = v->spare_cap = 0;
}

static void index_put(struct cbpf_dnsview *v, uint32_t host)
{
	const char *name = v->hosts[host - 1];
	size_t i = hash_bytes(name, strlen(name)) & (v->index_cap - 1);

	while (v->index[i])
		i = (i + 1) & (v->index_cap - 1);
	v->index[i] = host;
}

/* The index made again for every name (one went, or it grows). */
static int index_rebuild(struct cbpf_dnsview *v)
{
	size_t cap = 64;
	uint32_t *ix;

	while (cap < 2 * (v->nhosts + 1))
		cap *= 2;
	if (!(ix = calloc(cap, sizeof(*ix))))
		return -ENOMEM;
	free(v->index);
	v->index = ix;
	v->index_cap = cap;
	for (size_t i = 0; i < v->nhosts; i++)
		if (v->hosts[i])
			index_put(v, (uint32_t)i + 1);
	return 0;
}

/* The host index of `name`, 0 when it has none. */
static uint32_t find_host(const struct cbpf_dnsview *v, const char *name)
{
	if (!v->index_cap)
		return 0;
	for (size_t i = hash_bytes(name, strlen(name)) & (v->index_cap - 1); v->index[i];
	     i = (i + 1) & (v->index_cap - 1))
		if (!strcmp(v->hosts[v->index[i] - 1], name))
			return v->index[i];
	return 0;
}

/* A host whose count fell to 0: its index may go to another name. */
static void spare_host(struct cbpf_dnsview *v, uint32_t host)
{
	if (v->nspare == v->spare_cap) {
		size_t cap = v->spare_cap ? 2 * v->spare_cap : 64;
		uint32_t *sp = realloc(v->spare, cap * sizeof(*sp));

		if (!sp)
			return;     /* not reused: one index more, no harm */
		v->spare = sp;
		v->spare_cap = cap;
	}
	v->spare[v->nspare++] = host;
}

static void unref_host(struct cbpf_dnsview *v, uint32_t host)
{
	if (host && host <= v->nhosts && v->host_refs[host - 1] && !--v->host_refs[host - 1])
		spare_host(v, host);
}

/* The host index `name`'s rules are attributed to: its own, else a spare
 * one, else a new one. 0 when there is no memory. */
static uint32_t host_for(struct cbpf_dnsview *v, const char *name, bool *is_new)
{
	uint32_t host = find_host(v, name);

	*is_new = false;
	if (host)
		return host;
	while (v->nspare && !host) {
		uint32_t h = v->spare[--v->nspare];

		if (h <= v->nhosts && !v->host_refs[h - 1])
			host = h;   /* else counted again since */
	}
	if (!host) {
		if (v->nhosts == v->hosts_cap) {
			size_t cap = v->hosts_cap ? v->hosts_cap * 2 : 16;
			char **h = realloc(v->hosts, cap * sizeof(*h));
			uint32_t *r;

			if (!h)
				return 0;
			v->hosts = h;
			if (!(r = realloc(v->host_refs, cap * sizeof(*r))))
				return 0;
			v->host_refs = r;
			v->hosts_cap = cap;
		}
		v->hosts[v->nhosts] = NULL;
		v->host_refs[v->nhosts] = 0;
		host = (uint32_t)++v->nhosts;
	}
	free(v->hosts[host - 1]);
	if (!(v->hosts[host - 1] = strdup(name)))
		return 0;
	*is_new = true;
	/* A reused index takes its old name out of the index: made again. */
	if (2 * (v->nhosts + 1) > v->index_cap || host < v->nhosts) {
		if (index_rebuild(v))
			return 0;
	} else {
		index_put(v, host);
	}
	return host;
}

int cbpf_dnsview_set(struct cbpf_dnsview *v, const struct cbpf_conf *conf,
		     const char *const *hosts, size_t nhosts)
{
	int err = 0;

	free_names(v);
	if (!(v->pats = calloc(conf->n ? conf->n : 1, sizeof(*v->pats))))
		return -ENOMEM;
	for (size_t i = 0; i < conf->n && !err; i++) {
		const struct cbpf_conf_entry *e = &conf->entries[i];
		char pattern[CBPF_HOST_MAX + 2];

		if (!e->is_host)
			continue;
		snprintf(pattern, sizeof(pattern), "%s%s", e->wildcard ? "*." : "", e->host);
		v->pats[v->names.n] = (struct cbpf_dnsview_pat){
			.action = e->action, .port = e->port, .proto = e->proto };
		err = cbpf_dns_names_add(&v->names, pattern);
	}
	v->hosts_cap = nhosts + 16;
	v->hosts = calloc(v->hosts_cap, sizeof(*v->hosts));
	v->host_refs = calloc(v->hosts_cap, sizeof(*v->host_refs));
	if (err || !v->hosts || !v->host_refs)
		return err ? err : -ENOMEM;
	for (size_t i = 0; i < nhosts; i++) {
		if (!(v->hosts[i] = strdup(hosts[i])))
			return -ENOMEM;
		v->host_refs[i] = 1;
		v->nhosts++;
	}
	return index_rebuild(v);
}

bool cbpf_dnsview_allowed(const struct cbpf_dnsview *v, const char *name)
{
	bool allow = false;

	for (size_t i = cbpf_dns_names_find(&v->names, name, 0); i < v->names.n;
	     i = cbpf_dns_names_find(&v->names, name, i + 1)) {
		if (v->pats[i].action != CBPF_ACTION_ALLOW)
			return false;
		allow = true;
	}
	return allow;
}

int cbpf_dnsview_entries(const struct cbpf_dnsview *v, const char *name,
			 const uint8_t addr[16], uint32_t host, uint64_t expires_ns,
			 struct cbpf_ruleset *rs)
{
	int err = 0;

	if (!cbpf_dnsview_allowed(v, name))
		return 0;

	for (size_t k = cbpf_dns_names_find(&v->names, name, 0); k < v->names.n && !err;
	     k = cbpf_dns_names_find(&v->names, name, k + 1)) {
		struct cbpf_conf_entry e = { .action = CBPF_ACTION_ALLOW, .port = v->pats[k].port,
					     .proto = v->pats[k].proto };

		err = cbpf_rules_host_addr(rs, &e, addr, host, expires_ns);
	}
	return err;
}

/* ----------------------------------------------------- learned addresses */

int cbpf_dnsview_init(struct cbpf_dnsview *v, size_t max_learned)
{
	memset(v, 0, sizeof(*v));
	v->max_learned = max_learned;
	/* It grows with what is learned (never more than half full), so a
	 * purge walks what is held, not what the bound allows. */
	v->tab_cap = 64;
	v->tab = calloc(v->tab_cap, sizeof(*v->tab));
	return v->tab ? 0 : -ENOMEM;
}

void cbpf_dnsview_free(struct cbpf_dnsview *v)
{
	free_names(v);
	free(v->tab);
	memset(v, 0, sizeof(*v));
}

static struct cbpf_dnsview_addr *slot(struct cbpf_dnsview_addr *tab, size_t cap,
				      const uint8_t addr[16])
{
	size_t i = hash_bytes(addr, 16) & (cap - 1);

	while (tab[i].used && memcmp(tab[i].addr, addr, 16))
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

/* The table made again at `cap` slots, without what expired by now_ns
 * (0: nothing goes). Returns 0 or -ENOMEM (the table stays). */
static int rebuild(struct cbpf_dnsview *v, size_t cap, uint64_t now_ns)
{
	struct cbpf_dnsview_addr *old = v->tab;
	struct cbpf_dnsview_addr *tab = cap ? calloc(cap, sizeof(*tab)) : NULL;
	size_t old_cap = v->tab_cap;

	if (!tab)
		return -ENOMEM;
	v->nlearned = 0;
	v->next_expiry_ns = UINT64_MAX;
	for (size_t i = 0; i < old_cap; i++) {
		if (!old[i].used)
			continue;
		if (old[i].expires_ns <= now_ns) {
			unref_host(v, old[i].host);
			continue;
		}
		*slot(tab, cap, old[i].addr) = old[i];
		v->nlearned++;
		if (old[i].expires_ns < v->next_expiry_ns)
			v->next_expiry_ns = old[i].expires_ns;
	}
	v->tab = tab;
	v->tab_cap = cap;
	free(old);
	return 0;
}

void cbpf_dnsview_purge(struct cbpf_dnsview *v, uint64_t now_ns)
{
	/* Nothing has expired yet: no walk. */
	if (now_ns < v->next_expiry_ns)
		return;
	rebuild(v, v->tab_cap, now_ns);
}

/* Room for `more` addresses, the table at most half full. */
static int make_room(struct cbpf_dnsview *v, size_t more)
{
	size_t cap = v->tab_cap;

	while (2 * (v->nlearned + more) > cap)
		cap *= 2;
	return cap == v->tab_cap ? 0 : rebuild(v, cap, 0);
}

int cbpf_dnsview_learn(struct cbpf_dnsview *v, const char *name,
		       const struct cbpf_dns_addr *a, size_t n, uint64_t now_ns, int grace_s,
		       struct cbpf_dnsview_lesson *l)
{
	uint32_t host = find_host(v, name);
	size_t fresh = 0;
	bool any = false;
	int err = 0;

	memset(l, 0, sizeof(*l));
	if (n > CBPF_DNSVIEW_ANSWER_MAX)
		return -E2BIG;
	if (!cbpf_dnsview_allowed(v, name))
		return -EACCES;
	for (size_t i = 0; i < n; i++) {
		uint32_t ttl = a[i].ttl < CBPF_REFRESH_FLOOR_S ? CBPF_REFRESH_FLOOR_S : a[i].ttl;
		const struct cbpf_dnsview_addr *s;

		if (cbpf_answer_skipped(a[i].addr))
			continue;
		l->expires_ns[i] = now_ns + ((uint64_t)ttl + (uint64_t)grace_s) * NS;
		s = slot(v->tab, v->tab_cap, a[i].addr);
		/* Written for this name already, for as long (an address
		 * another name taught may lack this name's ports). */
		if (s->used && host && s->host == host && s->expires_ns >= l->expires_ns[i])
			continue;
		fresh += !s->used;
		l->need[i] = any = true;
	}
	if (!any)
		return 0;
	if (v->nlearned + fresh > v->max_learned) {
		cbpf_dnsview_purge(v, now_ns);
		if (v->nlearned + fresh > v->max_learned)
			return -ENOSPC;
	}
	if (make_room(v, fresh))
		return -ENOMEM;
	if (!(l->host = host_for(v, name, &l->new_host)))
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++)
		if (l->need[i])
			err = cbpf_dnsview_entries(v, name, a[i].addr, l->host, l->expires_ns[i],
						   &l->rs);
	if (err)
		cbpf_dnsview_lesson_free(l);
	return err;
}

void cbpf_dnsview_learned(struct cbpf_dnsview *v, const struct cbpf_dns_addr *a, size_t n,
			  const struct cbpf_dnsview_lesson *l)
{
	for (size_t i = 0; i < n && i < CBPF_DNSVIEW_ANSWER_MAX; i++) {
		struct cbpf_dnsview_addr *s;

		if (!l->need[i])
			continue;
		s = slot(v->tab, v->tab_cap, a[i].addr);
		if (!s->used) {
			s->used = true;
			memcpy(s->addr, a[i].addr, 16);
			v->nlearned++;
			v->host_refs[l->host - 1]++;
		} else if (s->host != l->host) {
			unref_host(v, s->host);
			v->host_refs[l->host - 1]++;
		}
		s->host = l->host;
		s->expires_ns = l->expires_ns[i];
		if (s->expires_ns < v->next_expiry_ns)
			v->next_expiry_ns = s->expires_ns;
	}
}

void cbpf_dnsview_lesson_free(struct cbpf_dnsview_lesson *l)
{
	cbpf_ruleset_free(&l->rs);
}

int cbpf_dnsview_reload(struct cbpf_dnsview *v, const struct cbpf_conf *conf,
			struct cbpf_ruleset *rs, uint64_t now_ns,
			int (*apply)(void *ctx, const struct cbpf_ruleset *rs), void *ctx)
{
	struct cbpf_dnsview next = { 0 };
	uint32_t *moved = calloc(v->tab_cap, sizeof(*moved));  /* new host index, 0: goes */
	int err = moved ? 0 : -ENOMEM;

	/* The new patterns decide which learned names stay. */
	if (!err)
		err = cbpf_dnsview_set(&next, conf, (const char *const *)rs->hosts, rs->nhosts);
	for (size_t i = 0; i < v->tab_cap && !err; i++) {
		const struct cbpf_dnsview_addr *s = &v->tab[i];
		const char *name = s->used && s->host && s->host <= v->nhosts ?
				   v->hosts[s->host - 1] : NULL;

		if (!name || s->expires_ns <= now_ns || !cbpf_dnsview_allowed(&next, name))
			continue;
		if (!(err = cbpf_ruleset_host(rs, name, &moved[i])))
			err = cbpf_dnsview_entries(&next, name, s->addr, moved[i], s->expires_ns,
						   rs);
	}
	if (!err) {
		cbpf_ruleset_finish(rs);
		err = apply(ctx, rs);
	}
	/* Applied: the names of the new rule set are the view's, and each
	 * learned address has its host index there (a name no longer allowed
	 * goes with its addresses: the new rule set never had them). */
	if (!err && !(err = cbpf_dnsview_set(&next, conf, (const char *const *)rs->hosts,
					     rs->nhosts))) {
		free_names(v);
		v->names = next.names;
		v->pats = next.pats;
		v->hosts = next.hosts;
		v->host_refs = next.host_refs;
		v->nhosts = next.nhosts;
		v->hosts_cap = next.hosts_cap;
		v->index = next.index;
		v->index_cap = next.index_cap;
		memset(&next, 0, sizeof(next));
		for (size_t i = 0; i < v->tab_cap; i++) {
			struct cbpf_dnsview_addr *s = &v->tab[i];

			if (!s->used)
				continue;
			s->host = moved[i];
			if (moved[i])
				v->host_refs[moved[i] - 1]++;
			else
				s->expires_ns = 0;
		}
		rebuild(v, v->tab_cap, now_ns);
	}
	free_names(&next);
	free(moved);
	return err;
}
