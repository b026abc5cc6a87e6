/* Applying, replacing and removing policies in the shared maps. */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "base/os.h"
#include "core/cgroup.h"
#include "core/source.h"
#include "engine/policy.h"

/* Map writes in batches of up to BATCH entries, one bpf() call each, where
 * the kernel has batch operations for the map type; one at a time where
 * not. The batch that failed is redone one at a time from its start: an
 * update or delete done twice does no harm. */
enum { BATCH = 4096 };

static bool batch_unsupported(int err)
{
	return err == EINVAL || err == ENOTSUP || err == EOPNOTSUPP ||
	       err == 524 /* the kernel's ENOTSUPP: no batch ops for the map type */;
}

static int update_many(int fd, const unsigned char *keys, size_t ksz,
		       const unsigned char *vals, size_t vsz, size_t n)
{
	size_t i = 0;

	while (i < n) {
		__u32 count = (__u32)(n - i < BATCH ? n - i : BATCH);

		if (bpf_map_update_batch(fd, keys + i * ksz, vals + i * vsz, &count, NULL) == 0) {
			i += count;
			continue;
		}
		if (!batch_unsupported(errno))
			return -errno;
		for (; i < n; i++)
			if (bpf_map_update_elem(fd, keys + i * ksz, vals + i * vsz, BPF_ANY))
				return -errno;
	}
	return 0;
}

/* Deletes the keys; one already gone is no error. */
static int delete_many(int fd, const unsigned char *keys, size_t ksz, size_t n)
{
	size_t i = 0;
	bool batch = true;

	while (i < n) {
		__u32 count = (__u32)(n - i < BATCH ? n - i : BATCH);

		if (batch && bpf_map_delete_batch(fd, keys + i * ksz, &count, NULL) == 0) {
			i += count;
			continue;
		}
		if (batch && batch_unsupported(errno)) {
			batch = false;
			continue;
		}
		/* A batch stops at its first failure: that key alone, then on. */
		i += batch ? count : 0;
		if (i < n && bpf_map_delete_elem(fd, keys + i * ksz) && errno != ENOENT)
			return -errno;
		i++;
	}
	return 0;
}

/* The rule set ids the policies use, sorted, in ids[CBPF_MAX_POLICIES]. */
static size_t live_ids(struct cbpf_store *s, uint32_t *ids)
{
	struct cbpf_policy p;
	__u64 key, *prev = NULL;
	size_t n = 0;

	while (n < CBPF_MAX_POLICIES && bpf_map_get_next_key(s->policies_fd, prev, &key) == 0) {
		if (bpf_map_lookup_elem(s->policies_fd, &key, &p) == 0)
			ids[n++] = p.id;
		prev = &key;
	}
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
			uint32_t t = ids[j];

			ids[j] = ids[j - 1];
			ids[j - 1] = t;
		}
	return n;
}

static bool id_in(uint32_t id, const uint32_t *ids, size_t n)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (ids[mid] == id)
			return true;
		if (ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

struct id_set {
	uint32_t ids[CBPF_MAX_POLICIES];
	size_t n;
	bool in;        /* select the ids in the set, or those not in it */
};

/* Keys picked while reading a map, to delete once it has been read
 * (deleting while reading would skip some). */
struct key_list {
	unsigned char *keys;
	size_t ksz, n, cap;
};

static int key_list_add(struct key_list *l, const void *key)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		unsigned char *k = realloc(l->keys, cap * l->ksz);

		if (!k)
			return -ENOMEM;
		l->keys = k;
		l->cap = cap;
	}
	memcpy(l->keys + l->n++ * l->ksz, key, l->ksz);
	return 0;
}

/* Calls fn(ctx, key, value) for every entry of `map_fd`, reading BATCH of
 * them into one buffer at a time, so reading every policy's rules takes
 * no more memory for 100,000 of them than for 4,096: one bpf() call per
 * BATCH where the kernel has batch lookups for the map type (the hashes),
 * one or two per entry where not (the trie). Without `vals`, fn gets no
 * value where that saves calls (NULL). An entry deleted meanwhile may be
 * missed. Stops at the first error fn returns. */
static int map_each(int map_fd, size_t ksz, size_t vsz, bool vals,
		    int (*fn)(void *ctx, const void *key, const void *val), void *ctx)
{
	unsigned char *k = malloc(BATCH * ksz), *v = malloc(BATCH * vsz);
	__u64 pos[8], next[8];  /* where the next batch starts: a key at most */
	bool batch = true, started = false, end = false;
	int err = k && v ? 0 : -ENOMEM;

	_Static_assert(sizeof(struct cbpf_rule_key) <= sizeof(pos), "a key fits pos");
	while (!err && !end) {
		__u32 count = BATCH;

		if (batch && bpf_map_lookup_batch(map_fd, started ? pos : NULL, next, k, v,
						  &count, NULL)) {
			if (errno == ENOENT) {         /* the end; count says what came */
				end = true;
			} else if (!started && batch_unsupported(errno)) {
				batch = false;
				continue;
			} else {
				err = -errno;
				break;
			}
		}
		if (batch) {
			memcpy(pos, next, sizeof(pos));
			started = true;
		} else {
			/* One at a time, on from the last key read. */
			for (count = 0; count < BATCH && !err; ) {
				unsigned char *key = k + count * ksz;

				if (bpf_map_get_next_key(map_fd, started ? pos : NULL, key)) {
					end = true;
					break;
				}
				if (!vals || bpf_map_lookup_elem(map_fd, key, v + count * vsz) == 0) {
					memcpy(pos, key, ksz);
					started = true;
					count++;
				} else if (errno != ENOENT) {  /* ENOENT: deleted meanwhile */
					err = -errno;
				}
			}
		}
		for (size_t i = 0; i < count && !err; i++)
			err = fn(ctx, k + i * ksz, batch || vals ? v + i * vsz : NULL);
	}
	free(k);
	free(v);
	return err;
}

/* What scan_rule_sets picks and counts. */
struct scan {
	size_t id_offset;
	const struct id_set *set;
	bool del;
	struct key_list picked;
	size_t total, npicked;
};

static int scan_one(void *ctx, const void *key, const void *val)
{
	struct scan *sc = ctx;
	uint32_t id;

	(void)val;
	sc->total++;
	memcpy(&id, (const unsigned char *)key + sc->id_offset, sizeof(id));
	if (id_in(id, sc->set->ids, sc->set->n) != sc->set->in)
		return 0;
	sc->npicked++;
	return sc->del ? key_list_add(&sc->picked, key) : 0;
}

/* Reads the keys of `map_fd`, whose u32 at `id_offset` is a rule set id:
 * counts them in *total and those whose id `set` selects in *picked, and
 * deletes the picked ones when `del`. */
static int scan_rule_sets(int map_fd, size_t key_size, size_t value_size,
			  size_t id_offset, const struct id_set *set, bool del,
			  size_t *total, size_t *picked)
{
	struct scan sc = { .id_offset = id_offset, .set = set, .del = del,
			   .picked = { .ksz = key_size } };
	int err = map_each(map_fd, key_size, value_size, false, scan_one, &sc);

	if (!err && del)
		err = delete_many(map_fd, sc.picked.keys, key_size, sc.picked.n);
	free(sc.picked.keys);
	*total = sc.total;
	*picked = sc.npicked;
	return err;
}

static int scan_all(struct cbpf_store *s, const struct id_set *set, bool del,
		     struct cbpf_map_use *use)
{
	struct cbpf_map_use u = {};
	int err = scan_rule_sets(s->exact_fd, sizeof(struct cbpf_rule_key),
				 sizeof(struct cbpf_rule), offsetof(struct cbpf_rule_key, policy),
				 set, del, &u.exact, &u.exact_unreferenced);
	int err2 = scan_rule_sets(s->rules_fd, sizeof(struct cbpf_rule_key),
				  sizeof(struct cbpf_rule), offsetof(struct cbpf_rule_key, policy),
				  set, del, &u.rules, &u.rules_unreferenced);
	int err3 = scan_rule_sets(s->hostnames_fd, sizeof(struct cbpf_host_key),
				  sizeof(struct cbpf_host), offsetof(struct cbpf_host_key, policy),
				  set, del, &u.hostnames, &u.hostnames_unreferenced);

	if (use)
		*use = u;
	return err ? err : err2 ? err2 : err3;
}

static int delete_rule_set(struct cbpf_store *s, uint32_t id)
{
	struct id_set set = { .ids = { id }, .n = 1, .in = true };

	return scan_all(s, &set, true, NULL);
}

int cbpf_policy_map_use(struct cbpf_store *s, struct cbpf_map_use *use)
{
	struct id_set set = { .in = false };

	set.n = live_ids(s, set.ids);
	return scan_all(s, &set, false, use);
}

/*
 * A load or unload that dies half-way leaves the rule set it was writing or
 * deleting in the maps, unreachable (no policy points at it) but taking
 * room. Before it starts, it records both rule sets it works on in
 * settings.dirty; it clears them when done. The next load or unload (under
 * the same global lock) deletes whichever of them no policy uses: one scan,
 * only after such a death. Until then, status counts them as unreferenced.
 */
static void mark_dirty(struct cbpf_store *s, uint32_t a, uint32_t b)
{
	__atomic_store_n(&s->settings->dirty[0], a, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->settings->dirty[1], b, __ATOMIC_SEQ_CST);
}

static int finish_interrupted(struct cbpf_store *s)
{
	uint32_t ids[CBPF_MAX_POLICIES];
	size_t n;
	int err;

	if (!s->settings->dirty[0] && !s->settings->dirty[1])
		return 0;
	/* It may have died between switching a policy and moving the
	 * generation on: kept decisions of the old rules go now. */
	cbpf_store_changed(s);
	n = live_ids(s, ids);
	for (int i = 0; i < 2; i++) {
		uint32_t id = s->settings->dirty[i];

		if (id && !id_in(id, ids, n) && (err = delete_rule_set(s, id)))
			return err;
	}
	mark_dirty(s, 0, 0);
	return 0;
}

static int delete_counters(struct cbpf_store *s, uint64_t cgroup_id)
{
	for (uint32_t r = 0; r < CBPF_REASON__COUNT; r++) {
		struct cbpf_counter_key k = { .cgroup_id = cgroup_id, .reason = r };

		if (bpf_map_delete_elem(s->counters_fd, &k) && errno != ENOENT)
			return -errno;
	}
	return 0;
}

/* A rule set id never given out before (0 is none). */
static uint32_t new_id(struct cbpf_store *s)
{
	uint32_t id;

	do
		id = __atomic_add_fetch(&s->settings->last_id, 1, __ATOMIC_SEQ_CST);
	while (!id);
	return id;
}

/* The map a rule key belongs in. */
static int rule_map(const struct cbpf_store *s, const struct cbpf_rule_key *k)
{
	return k->prefixlen == CBPF_KEY_EXACT ? s->exact_fd : s->rules_fd;
}

/* Writes the rules of `rs` that belong in map `fd` (the whole-address
 * ones, or the others) as rule set `id`, BATCH at a time through one
 * buffer: the loader touches no more memory for 100,000 rules than for
 * 4,096. Returns how many it wrote, or -errno. */
static int write_rules(int fd, uint32_t id, const struct cbpf_ruleset *rs, bool exact)
{
	struct cbpf_rule_key *keys = malloc(BATCH * sizeof(*keys));
	struct cbpf_rule *vals = malloc(BATCH * sizeof(*vals));
	size_t n = 0;
	int written = 0, err = keys && vals ? 0 : -ENOMEM;

	for (size_t i = 0; i < rs->n && !err; i++) {
		if ((rs->v[i].key.prefixlen == CBPF_KEY_EXACT) != exact)
			continue;
		keys[n] = rs->v[i].key;
		keys[n].policy = id;
		vals[n++] = rs->v[i].val;
		written++;
		if (n == BATCH) {
			err = update_many(fd, (const unsigned char *)keys, sizeof(*keys),
					  (const unsigned char *)vals, sizeof(*vals), n);
			n = 0;
		}
	}
	if (!err && n)
		err = update_many(fd, (const unsigned char *)keys, sizeof(*keys),
				  (const unsigned char *)vals, sizeof(*vals), n);
	free(keys);
	free(vals);
	return err ? err : written;
}

/* Writes rule set `id`: hostnames first, then the rules, whole-address
 * ones to "exact_rules" and the others to "rules". *prefixes says whether
 * there were any of the others. */
static int write_rule_set(struct cbpf_store *s, uint32_t id,
			  const struct cbpf_ruleset *rs, bool *prefixes, struct cbpf_step *step)
{
	size_t nh = rs->nhosts;
	struct cbpf_host_key *hkeys = calloc(nh ? nh : 1, sizeof(*hkeys));
	struct cbpf_host *hosts = calloc(nh ? nh : 1, sizeof(*hosts));
	int err = -ENOMEM;

	if (!hkeys || !hosts)
		goto out;
	for (size_t i = 0; i < nh; i++) {
		hkeys[i] = (struct cbpf_host_key){ .policy = id, .host = (uint32_t)i + 1 };
		snprintf(hosts[i].name, sizeof(hosts[i].name), "%s", rs->hosts[i]);
	}
	*step = (struct cbpf_step){ CBPF_STEP_WRITE_HOSTS, "write the hostnames" };
	err = update_many(s->hostnames_fd, (const unsigned char *)hkeys, sizeof(*hkeys),
			  (const unsigned char *)hosts, sizeof(*hosts), nh);
	if (err)
		goto out;
	*step = (struct cbpf_step){ CBPF_STEP_WRITE_EXACT,
				    "write the rules for whole addresses" };
	if ((err = write_rules(s->exact_fd, id, rs, true)) < 0)
		goto out;
	*step = (struct cbpf_step){ CBPF_STEP_WRITE_PREFIXES,
				    "write the rules for address prefixes" };
	err = write_rules(s->rules_fd, id, rs, false);
	*prefixes = err > 0;
	err = err < 0 ? err : 0;
out:
	free(hkeys);
	free(hosts);
	return err;
}

/* A step that callers only name in their message. */
static void at(struct cbpf_step *step, const char *what)
{
	*step = (struct cbpf_step){ CBPF_STEP_OTHER, what };
}

#define CBPF_FULL_END "for all policies together, and a reload needs room for its old and " \
	"its new rules at once); nothing was changed"

const char *cbpf_policy_strerror(int err, const struct cbpf_step *step)
{
	if (err != -ENOSPC && err != -E2BIG)
		return strerror(-err);
	switch (step->id) {
	case CBPF_STEP_WRITE_EXACT:
		return "the exact_rules map is full (it holds " CBPF_STR(CBPF_MAX_RULES)
		       " rules for whole addresses " CBPF_FULL_END;
	case CBPF_STEP_WRITE_PREFIXES:
		return "the rules map is full (it holds " CBPF_STR(CBPF_MAX_RULES)
		       " rules for address prefixes " CBPF_FULL_END;
	case CBPF_STEP_WRITE_HOSTS:
		return "the hostnames map is full (it holds " CBPF_STR(CBPF_MAX_HOSTS)
		       " names " CBPF_FULL_END;
	default:
		return strerror(-err);
	}
}

int cbpf_policy_apply(struct cbpf_store *s, const char *name, const char *mount,
		      const char *path, const struct cbpf_ruleset *rs,
		      struct cbpf_step *step)
{
	struct cbpf_policy old = {}, p = { .flags = rs->flags, .dns = rs->dns };
	bool replacing, created, prefixes;
	uint64_t other_cg;
	struct stat st;
	int cgfd = -1, err;
	size_t mlen = strlen(mount);

	at(step, "use the enforcement cgroup");
	if (strncmp(path, mount, mlen) || path[mlen] != '/' ||
	    strlen(path + mlen) >= sizeof(p.cgroup))
		return -EINVAL;
	snprintf(p.name, sizeof(p.name), "%s", name);
	snprintf(p.cgroup, sizeof(p.cgroup), "%s", path + mlen);

	at(step, "create the enforcement cgroup");
	created = stat(path, &st) != 0;
	if ((err = cbpf_cgroup_create(path)))
		return err;
	cgfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0 || fstat(cgfd, &st)) {
		err = -errno;
		goto fail;
	}
	/* One name, one cgroup: moving a policy takes an unload first. */
	at(step, "match the policy to its cgroup");
	replacing = bpf_map_lookup_elem(s->policies_fd, &st.st_ino, &old) == 0;
	if ((replacing && strncmp(old.name, name, sizeof(old.name))) ||
	    (!replacing && cbpf_store_find_policy(s, name, &other_cg, &old) == 0)) {
		err = -EEXIST;
		goto fail;
	}

	at(step, "clear what an interrupted load or unload left");
	if ((err = finish_interrupted(s)))
		goto fail;
	p.id = new_id(s);
	p.loaded_ns = cbpf_boottime_ns();
	mark_dirty(s, p.id, replacing ? old.id : 0);
	if ((err = write_rule_set(s, p.id, rs, &prefixes, step)))
		goto fail_rules;
	if (prefixes)
		p.flags |= CBPF_POLICY_PREFIXES;
	at(step, NULL);   /* the store names the step */
	if ((err = cbpf_store_attach(s, name, cgfd, &step->what)))
		goto fail_rules;
	at(step, "switch the policy");
	if (bpf_map_update_elem(s->policies_fd, &st.st_ino, &p, BPF_ANY)) {
		err = -errno;
		goto fail_rules;
	}
	cbpf_store_changed(s);
	close(cgfd);
	/* The old rule set is unreachable now. */
	at(step, "delete the old rules");
	if (replacing && (err = delete_rule_set(s, old.id)))
		return err;
	mark_dirty(s, 0, 0);
	return 0;

fail_rules:
	if (delete_rule_set(s, p.id) == 0)
		mark_dirty(s, 0, 0);
	if (!replacing)
		cbpf_store_detach(name);
fail:
	if (cgfd >= 0)
		close(cgfd);
	if (created)
		rmdir(path);
	return err;
}

/* The folder load creates above every policy's cgroup goes with the last
 * policy in it (rmdir fails, harmlessly, while others remain). */
static void remove_shared_parent(char *path)
{
	char *slash = strrchr(path, '/');
	const char *base;

	if (!slash)
		return;
	*slash = '\0';
	base = strrchr(path, '/');
	if (base && (!strcmp(base, "/claude-bpf") || !strcmp(base, "/claudebpf.slice")))
		rmdir(path);
	*slash = '/';
}

int cbpf_policy_find(struct cbpf_store *s, const char *name, const char *mount,
		     struct cbpf_policy_ref *ref)
{
	int err = cbpf_store_find_policy(s, name, &ref->cgroup_id, &ref->p);

	if (err)
		return err;
	snprintf(ref->path, sizeof(ref->path), "%s%s", mount, ref->p.cgroup);
	ref->nprocs = cbpf_cgroup_count_procs(ref->path);
	return 0;
}

int cbpf_policy_remove(struct cbpf_store *s, const struct cbpf_policy_ref *ref,
		       struct cbpf_step *step)
{
	uint64_t cg = ref->cgroup_id;
	char path[PATH_MAX];
	int err;

	snprintf(path, sizeof(path), "%s", ref->path);
	/* Forget the policy first: until the links go, anything left is
	 * denied (no policy), never allowed. */
	at(step, "clear what an interrupted load or unload left");
	if ((err = finish_interrupted(s)))
		return err;
	mark_dirty(s, ref->p.id, 0);
	at(step, "remove the policy");
	if (bpf_map_delete_elem(s->policies_fd, &cg) && errno != ENOENT)
		return -errno;
	cbpf_store_changed(s);
	at(step, "detach the programs");
	if ((err = cbpf_store_detach(ref->p.name)))
		return err;
	at(step, "delete the rules");
	if ((err = delete_rule_set(s, ref->p.id)) || (err = delete_counters(s, cg)))
		return err;
	mark_dirty(s, 0, 0);
	at(step, "remove the enforcement cgroup");
	if ((err = cbpf_cgroup_remove_tree(path)) && err != -ENOENT)
		return err;
	remove_shared_parent(path);
	cbpf_cgroup_v1_remove(ref->p.cgroup);
	at(step, "remove the pinned object");
	return cbpf_store_remove_if_unused(s);
}

/* What cbpf_policy_read_rules collects. */
struct read_rules {
	uint32_t id, maxhost;
	struct cbpf_ruleset *out;
};

static int read_rule(void *ctx, const void *key, const void *val)
{
	struct read_rules *r = ctx;
	struct cbpf_rule_entry e;

	memcpy(&e.key, key, sizeof(e.key));
	memcpy(&e.val, val, sizeof(e.val));
	if (e.key.policy != r->id)
		return 0;
	if (e.val.host > r->maxhost)
		r->maxhost = e.val.host;
	return cbpf_ruleset_push(r->out, &e);
}

int cbpf_policy_read_rules(struct cbpf_store *s, uint32_t id,
			   struct cbpf_ruleset *out)
{
	struct read_rules r = { .id = id, .out = out };
	int err;

	memset(out, 0, sizeof(*out));
	for (int m = 0; m < 2; m++)
		if ((err = map_each(m ? s->rules_fd : s->exact_fd, sizeof(struct cbpf_rule_key),
				    sizeof(struct cbpf_rule), true, read_rule, &r)))
			return err;
	cbpf_ruleset_finish(out);
	out->hosts = calloc(r.maxhost ? r.maxhost : 1, sizeof(char *));
	if (!out->hosts)
		return -ENOMEM;
	out->nhosts = r.maxhost;
	for (uint32_t i = 0; i < r.maxhost; i++) {
		struct cbpf_host_key hk = { .policy = id, .host = i + 1 };
		struct cbpf_host h;

		out->hosts[i] = strdup(bpf_map_lookup_elem(s->hostnames_fd, &hk, &h) ?
				       "?" : h.name);
		if (!out->hosts[i])
			return -ENOMEM;
	}
	return 0;
}

int cbpf_policy_counters(struct cbpf_store *s, uint64_t cgroup_id,
			 uint64_t counts[CBPF_REASON__COUNT])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals;

	if (ncpu < 0)
		return ncpu;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (uint32_t r = 0; r < CBPF_REASON__COUNT; r++) {
		struct cbpf_counter_key k = { .cgroup_id = cgroup_id, .reason = r };

		counts[r] = 0;
		if (bpf_map_lookup_elem(s->counters_fd, &k, vals))
			continue;
		for (int c = 0; c < ncpu; c++)
			counts[r] += vals[c];
	}
	free(vals);
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	return memcmp(a, &((const struct cbpf_rule_entry *)b)->key,
		      sizeof(struct cbpf_rule_key));
}

/* What a sync's sweep picks: the stale entries of its rule set. */
struct sweep {
	uint32_t id;
	uint64_t keep_ns, now;
	const struct cbpf_ruleset *rs;
	struct key_list stale;
};

static int sweep_one(void *ctx, const void *key, const void *val)
{
	struct sweep *sw = ctx;
	struct cbpf_rule_key k;
	struct cbpf_rule v;

	memcpy(&k, key, sizeof(k));
	memcpy(&v, val, sizeof(v));
	/* A hostname's, or a grant's (host 0): the only rules that expire. */
	if (k.policy != sw->id || !v.expires_ns || v.expires_ns + sw->keep_ns > sw->now)
		return 0;
	k.policy = 0;
	if (bsearch(&k, sw->rs->v, sw->rs->n, sizeof(*sw->rs->v), cmp_key))
		return 0;
	return key_list_add(&sw->stale, key);
}

int cbpf_policy_sync(struct cbpf_store *s, const char *name,
		     const struct cbpf_ruleset *rs, uint64_t keep_ns, bool sweep)
{
	struct sweep sw = { .keep_ns = keep_ns, .now = cbpf_boottime_ns(), .rs = rs,
			    .stale = { .ksz = sizeof(struct cbpf_rule_key) } };
	struct cbpf_rule_key k;
	struct cbpf_rule cur;
	struct cbpf_policy p;
	uint64_t cg;
	int writes = 0, err;

	if ((err = cbpf_store_find_policy(s, name, &cg, &p)))
		return err;
	/* New and renewed entries first: an address in the new answer is
	 * allowed before any old one goes. Only a name's rules can change:
	 * the others are as the load wrote them (at one key, a rule that
	 * never expires beats a name's, so none passes from one kind to the
	 * other). */
	for (size_t i = 0; i < rs->n; i++) {
		if (!rs->v[i].val.host)
			continue;
		k = rs->v[i].key;
		k.policy = p.id;
		if (bpf_map_lookup_elem(rule_map(s, &k), &k, &cur) == 0 &&
		    !memcmp(&cur, &rs->v[i].val, sizeof(cur)))
			continue;   /* nothing changed: nothing written */
		if (bpf_map_update_elem(rule_map(s, &k), &k, &rs->v[i].val, BPF_ANY)) {
			err = -errno;
			goto out;
		}
		writes++;
	}
	/* Addresses a name no longer has expire in the kernel on their own;
	 * their entries go some time later (monitor can name them till then).
	 * A hostname's rules are all for whole addresses. */
	if (!sweep)
		goto out;
	sw.id = p.id;
	if ((err = map_each(s->exact_fd, sizeof(k), sizeof(cur), true, sweep_one, &sw)))
		goto out;
	for (size_t i = 0; i < sw.stale.n; i++)
		if (bpf_map_delete_elem(s->exact_fd, sw.stale.keys + i * sizeof(k)) == 0)
			writes++;
out:
	free(sw.stale.keys);
	/* A rewritten entry may expire sooner than a kept decision says. */
	if (writes)
		cbpf_store_changed(s);
	return err ? err : writes;
}

int cbpf_policy_grants(struct cbpf_store *s, const char *name,
		       const struct cbpf_rule_entry *v, size_t n, bool revoke)
{
	struct cbpf_rule_key k;
	struct cbpf_rule cur;
	struct cbpf_policy p;
	uint64_t cg;
	int writes = 0, err;

	if ((err = cbpf_store_find_policy(s, name, &cg, &p)))
		return err;
	for (size_t i = 0; i < n && !err; i++) {
		bool found;

		k = v[i].key;
		k.policy = p.id;
		found = bpf_map_lookup_elem(rule_map(s, &k), &k, &cur) == 0;
		if (revoke) {
			/* Only the entry the grant wrote: the file may have
			 * put its own at this key since. */
			if (!found || memcmp(&cur, &v[i].val, sizeof(cur)))
				continue;
			if (bpf_map_delete_elem(rule_map(s, &k), &k) && errno != ENOENT)
				err = -errno;
		} else {
			/* A deny, a rule that never expires or a hostname's:
			 * the file's rule decides at this key. */
			if (found && (cur.action != CBPF_ACTION_ALLOW || !cur.expires_ns ||
				      cur.host))
				continue;
			if (bpf_map_update_elem(rule_map(s, &k), &k, &v[i].val, BPF_ANY))
				err = -errno;
		}
		writes += !err;
	}
	/* A kept decision may say otherwise now. */
	if (writes)
		cbpf_store_changed(s);
	return err ? err : writes;
}
