/* A loaded policy, found by name (loaded.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "base/runstate.h"
#include "core/cgroup.h"
#include "engine/loaded.h"
#include "engine/store.h"

#define ALL_HOOKS ((1u << CBPF_HOOK__COUNT) - 1)

static int same_cgroup(struct cbpf_loaded *out, enum cbpf_loaded_step *step)
{
	uint64_t id;

	if (cbpf_cgroup_id(out->cgroup, &id) || id != out->cgroup_id) {
		*step = CBPF_LOADED_CGROUP;
		return -ESTALE;
	}
	*step = CBPF_LOADED_OK;
	return 0;
}

int cbpf_loaded_find(const char *name, const char *mount, struct cbpf_store *s,
		     struct cbpf_loaded *out, enum cbpf_loaded_step *step)
{
	struct cbpf_store own;
	int err;

	memset(out, 0, sizeof(*out));
	if (geteuid() != 0) {
		*step = CBPF_LOADED_POLICY;
		if ((err = cbpf_runstate_read(name, &out->cgroup_id, out->cgroup,
					      sizeof(out->cgroup))))
			return err;
		return same_cgroup(out, step);
	}
	*step = CBPF_LOADED_STORE;
	if (!s && (err = cbpf_store_open(s = &own, false, &out->store_what)))
		return err;
	*step = CBPF_LOADED_POLICY;
	err = cbpf_store_find_policy(s, name, &out->cgroup_id, &out->policy);
	if (s == &own)
		cbpf_store_close(&own);
	if (err)
		return err;
	*step = CBPF_LOADED_ATTACHED;
	if (cbpf_store_attached(name, out->cgroup_id) != ALL_HOOKS)
		return -ENOLINK;
	*step = CBPF_LOADED_CGROUP;
	if ((size_t)snprintf(out->cgroup, sizeof(out->cgroup), "%s%s", mount,
			     out->policy.cgroup) >= sizeof(out->cgroup))
		return -ENAMETOOLONG;
	return same_cgroup(out, step);
}

const char *cbpf_loaded_why(enum cbpf_loaded_step step)
{
	return step == CBPF_LOADED_ATTACHED ? " (its programs are not attached)" :
	       step == CBPF_LOADED_CGROUP ? " (its cgroup was removed)" : "";
}
