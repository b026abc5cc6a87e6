/* Loading and unloading a policy (load.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/log.h"
#include "base/os.h"
#include "base/runstate.h"
#include "core/grants.h"
#include "engine/daemon.h"
#include "engine/load.h"
#include "engine/refresh.h"

static void print_errors(const struct cbpf_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		cbpf_error("%s", e->msg[i]);
}

int cbpf_load_source(const char *path, int grace_s, enum cbpf_names names,
		     struct cbpf_source *src)
{
	struct cbpf_errors errs = {};
	int err = cbpf_source_open(src, path, &errs);

	src->dns_forward = names == CBPF_NAMES_PREFETCH;
	if (!err && names != CBPF_NAMES_PARSE) {
		err = cbpf_source_resolve(src, NULL, grace_s, &errs);
		if (err > 0 && names == CBPF_NAMES_PREFETCH) {
			for (size_t i = 0; i < errs.n; i++)
				cbpf_info("warning: %s; the DNS forwarder resolves it when the "
					  "sandbox asks", errs.msg[i]);
			cbpf_errors_free(&errs);
			err = 0;
		} else if (err > 0) {
			err = -EINVAL;
		}
	}
	print_errors(&errs);
	if (err && !errs.n)
		cbpf_error("cannot load '%s': %s", path, strerror(-err));
	cbpf_errors_free(&errs);
	return err ? 1 : 0;
}

int cbpf_load_compile(const struct cbpf_source *src, struct cbpf_ruleset *rs)
{
	int err = cbpf_source_compile(src, rs);
	char text[64];

	if (err)
		cbpf_error("cannot compile '%s': %s", src->path, strerror(-err));
	for (size_t i = 0; !err && i < src->nhosts; i++)
		for (size_t j = 0; j < src->res[i].n; j++)
			if (cbpf_answer_skipped(src->res[i].addrs[j])) {
				cbpf_format_prefix(src->res[i].addrs[j], 128, text, sizeof(text));
				cbpf_info("%s:%u: '%s' resolved to %s, which is not made a "
					  "rule (a DNS filter's answer for a blocked name?); "
					  "write the address itself to allow it", src->path,
					  src->lines[i], src->hosts[i], text);
			}
	return err ? 1 : 0;
}

/* --none, or --internet made of the host's state as it is now (kept in
 * *host for the watcher). */
static int builtin_ruleset(bool internet, struct cbpf_host_state *host,
			   struct cbpf_ruleset *rs)
{
	int err = internet ? cbpf_host_state_read(host) : 0;

	if (err == -E2BIG)
		cbpf_error("cannot build the built-in policy: the host has more than %d "
			   "addresses", CBPF_HOST_MAX_ADDRS);
	else if (err)
		cbpf_error("cannot read the host's addresses: %s", strerror(-err));
	else if ((err = internet ? cbpf_internet_ruleset(host, rs) : cbpf_rules_none(rs)))
		cbpf_error("cannot build the built-in policy: %s", strerror(-err));
	return err ? 1 : 0;
}

int cbpf_load_check_direct(const struct cbpf_source *src)
{
	struct cbpf_errors errs = {};
	int err = cbpf_conf_check_direct(&src->conf, src->path, &errs);

	print_errors(&errs);
	cbpf_errors_free(&errs);
	return err ? 1 : 0;
}

int cbpf_load_open_store(struct cbpf_store *s, bool create)
{
	const char *what;
	int err = cbpf_store_open(s, create, &what);

	if (err == -ENOENT && !create)
		return -ENOENT;
	if (err)
		cbpf_error("cannot %s: %s%s", what, strerror(-err),
			   err == -EPERM ? " (run as root)" : "");
	return err;
}

/* Tells unprivileged `run` which cgroup enforces the policy. */
static int write_state(const char *name, const char *path)
{
	uint64_t id;
	int err = cbpf_cgroup_id(path, &id);

	return err ? err : cbpf_runstate_write(name, id, path);
}

/* A rootless user's podman (through their systemd) makes the container
 * cgroups below the enforcement cgroup: delegate it, as systemd does. The
 * programs stay attached above anything the user can change. The cgroups
 * load made between user@UID.service and it stay root's (so the user cannot
 * remove or rename the enforcement cgroup), so the user's systemd cannot
 * enable controllers in them: load does, else crun fails in the container's
 * scope ("the requested cgroup controller `pids` is not available"). */
static int delegate(const char *path, uid_t uid, gid_t gid)
{
	static const char *const files[] = {
		"", "/cgroup.procs", "/cgroup.threads", "/cgroup.subtree_control",
	};
	char file[PATH_MAX + 32], svc[64];
	const char *p;
	int err;

	snprintf(svc, sizeof(svc), "/user@%u.service/", (unsigned)uid);
	p = strstr(path, svc);
	/* Each ancestor below user@UID.service, from the top down. */
	for (p = p ? strchr(p + strlen(svc), '/') : NULL; p; p = strchr(p + 1, '/')) {
		snprintf(file, sizeof(file), "%.*s", (int)(p - path), path);
		if ((err = cbpf_cgroup_enable_controllers(file)))
			return err;
	}

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(file, sizeof(file), "%s%s", path, files[i]);
		if (chown(file, uid, gid) && errno != ENOENT)
			return -errno;
	}
	return 0;
}

int cbpf_load_apply(const struct cbpf_load_opts *o, struct cbpf_load *l)
{
	const char *name = o->name;
	struct cbpf_dns_target dns_target;
	struct cbpf_store s;
	struct cbpf_step step;
	int err;

	memset(l, 0, sizeof(*l));
	if (o->conf ? cbpf_load_source(o->conf, o->no_refresh ? -1 : o->grace_s,
				       o->forward ? CBPF_NAMES_PREFETCH : CBPF_NAMES_RESOLVE,
				       &l->src) ||
		      (!o->forward && cbpf_load_check_direct(&l->src)) ||
		      cbpf_load_compile(&l->src, &l->rs)
		    : builtin_ruleset(o->builtin == CBPF_BUILTIN_INTERNET, &l->host, &l->rs))
		return 1;
	if (o->forward && ((err = cbpf_dnsfwd_open(&l->fwd, o->bridge4, !o->user, &dns_target)) ||
			   (err = cbpf_dnsfwd_ruleset(l->fwd, &l->rs)))) {
		cbpf_error("cannot open the DNS forwarder's sockets: %s", strerror(-err));
		return 1;
	}
	if (cbpf_cgroup2_mount(l->mount, sizeof(l->mount))) {
		cbpf_error(CBPF_MSG_NO_CGROUP2);
		return 1;
	}
	err = cbpf_enforcement_path(l->mount, o->parent, o->mgr, o->user != NULL, o->uid,
				    name, l->path, sizeof(l->path));
	if (!err)
		err = cbpf_podman_parent_of(l->mount, l->path, l->podman_parent,
					    sizeof(l->podman_parent));
	if (err) {
		cbpf_error("invalid enforcement cgroup for policy '%s' below '%s'%s%s",
			   name, l->mount, o->parent ? " with --cgroup-parent " : "",
			   o->parent ? o->parent : "");
		return 1;
	}
	/* A refresher still writing the old file's rules would race the new
	 * policy: it goes first (its rules keep enforcing meanwhile). */
	if ((err = cbpf_daemon_stop(name))) {
		cbpf_error("cannot stop the refresher of policy '%s': %s", name, strerror(-err));
		return 1;
	}
	/* What `allow` granted outlives a new load of the same policy. */
	if ((err = cbpf_grants_keep(name, cbpf_boottime_ns(), &l->rs))) {
		cbpf_error("cannot keep the grants of policy '%s': %s", name, strerror(-err));
		return 1;
	}
	if (cbpf_load_open_store(&s, true))
		return 1;
	/* What the forwarder of the policy replaced had learned outlives it
	 * too (a service restart must not cut the sandbox's connections). */
	if (o->forward &&
	    (err = cbpf_dnsfwd_keep(&s, name, &l->src.conf, cbpf_boottime_ns(), &l->rs))) {
		cbpf_error("cannot keep what the DNS forwarder of policy '%s' learned: %s", name,
			   strerror(-err));
		cbpf_store_close(&s);
		return 1;
	}
	err = cbpf_policy_apply(&s, name, l->mount, l->path, &l->rs, &step);
	if (err == -EEXIST)
		cbpf_error("policy '%s' or cgroup '%s' already belongs to another "
			   "policy; unload it first", name, l->path);
	else if (err)
		cbpf_error("cannot %s '%s': %s%s", step.what, l->path,
			   cbpf_policy_strerror(err, &step),
			   err == -EPERM && geteuid() ? " (run as root)" : "");
	else if (o->user && (err = delegate(l->path, o->uid, o->gid)))
		cbpf_error("cannot delegate '%s' to user '%s': %s", l->path, o->user,
			   strerror(-err));
	else if ((err = write_state(name, l->path)))
		cbpf_error("cannot record policy '%s' in " CBPF_RUNSTATE_DIR ": %s", name,
			   strerror(-err));
	cbpf_store_close(&s);
	if (err)
		return 1;
	if (l->fwd)
		cbpf_dnsfwd_publish(l->fwd, name);
	return 0;
}

bool cbpf_load_serves(const struct cbpf_load_opts *o, const struct cbpf_load *l)
{
	if (o->no_refresh)
		return false;
	if (o->conf)
		return o->foreground || l->src.nhosts || l->fwd;
	return o->builtin == CBPF_BUILTIN_INTERNET;
}

int cbpf_load_serve(const struct cbpf_load_opts *o, struct cbpf_load *l)
{
	fflush(NULL);
	if (o->conf) {
		struct cbpf_refresher r = {
			.name = o->name, .mount = l->mount, .cgroup = l->path,
			.grace_s = o->grace_s, .src = l->src, .fwd = l->fwd,
			.dns_max = o->dns_max,
		};

		memset(&l->src, 0, sizeof(l->src));   /* the refresher owns them now */
		l->fwd = NULL;
		return cbpf_refresher_start(&r, !o->foreground);
	}
	return cbpf_internet_watch(o->name, l->mount, l->path, &l->host, !o->foreground);
}

void cbpf_load_free(struct cbpf_load *l)
{
	cbpf_dnsfwd_close(l->fwd);
	l->fwd = NULL;
	cbpf_source_free(&l->src);
	cbpf_ruleset_free(&l->rs);
}

int cbpf_unload(struct cbpf_store *s, const char *name, const char *mount, bool force,
		int *nprocs, struct cbpf_step *step)
{
	struct cbpf_policy_ref ref;
	int err;

	*step = (struct cbpf_step){ CBPF_STEP_FIND, "find the policy" };
	*nprocs = 0;
	if ((err = cbpf_policy_find(s, name, mount, &ref)))
		return err;
	*nprocs = ref.nprocs;
	if (ref.nprocs > 0 && !force) {
		*step = (struct cbpf_step){ CBPF_STEP_BUSY,
					    "unload a policy that processes still use" };
		return -EBUSY;
	}
	/* Its refresher would write rules again: it goes first. */
	*step = (struct cbpf_step){ CBPF_STEP_OTHER, "stop the refresher" };
	if ((err = cbpf_daemon_stop(name)))
		return err;
	step->what = "stop the processes in the cgroup";
	if (ref.nprocs > 0 && (err = cbpf_cgroup_kill_all(ref.path)))
		return err;
	if ((err = cbpf_policy_remove(s, &ref, step)))
		return err;
	*step = (struct cbpf_step){ CBPF_STEP_OTHER, "remove the files in " CBPF_RUNSTATE_DIR };
	if ((err = cbpf_runstate_remove(name)))
		return err;
	cbpf_grants_remove(name);
	return 0;
}
