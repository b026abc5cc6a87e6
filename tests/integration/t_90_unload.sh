# Unloading: one policy, a busy one, and everything. Runs last: it leaves
# nothing loaded.

PIN=/sys/fs/bpf/claude-bpf

# The processes in a cgroup and every cgroup below it.
cgroup_pids() {
	find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null | tr '\n' ' '
}

start_test "unload refuses while a process runs inside the policy"
busy_pids=""
busy_cg="$CGROUP_BASE/cbt_busy"
if load_policy cbt_busy --none; then
	"$CBPF" exec --policy cbt_busy -- sleep 60 >/dev/null 2>&1 {LOCK_FD}>&- &
	BG_PIDS+=($!)
	for ((i = 0; i < 300; i++)); do
		busy_pids=$(cgroup_pids "$busy_cg")
		[[ -n ${busy_pids// /} ]] && break
		sleep 0.01
	done
	if [[ -z ${busy_pids// /} ]]; then
		fail "no process showed up in $busy_cg after exec -- sleep 60"
	else
		run "$CBPF" unload cbt_busy
		if ((RC != 1)); then
			fail "unload of a policy with processes inside should exit 1: $(ran)"
		elif [[ -z $ERR ]]; then
			fail "unload refused without saying why on stderr"
		elif [[ ! -d $busy_cg ]] || ! status_json || ! jq -e '.policies[] | select(.name == "cbt_busy")' >/dev/null <<<"$STATUS"; then
			fail "the refused unload removed the policy or its cgroup anyway"
		else
			pass
		fi
	fi
fi

start_test "unload --force kills the processes inside and removes the policy"
run "$CBPF" unload --force cbt_busy
# What was inside must be gone (its parent, exec, reaps it): 3 s at most.
survivors=""
for ((i = 0; i < 60; i++)); do
	survivors=""
	for pid in $busy_pids; do
		[[ $(awk '{ print $3 }' /proc/"$pid"/stat 2>/dev/null) == [!Z]* ]] &&
			survivors+=" $pid($(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null))"
	done
	[[ -z $survivors ]] && break
	sleep 0.05
done
if ((RC != 0)); then
	fail "unload --force should succeed: $(ran)"
elif [[ -z ${busy_pids// /} ]]; then
	fail "no process was inside cbt_busy to kill (see the test above)"
elif [[ -n $survivors ]]; then
	fail "still running 3 s after unload --force:$survivors"
elif [[ -e $busy_cg ]]; then
	fail "the enforcement cgroup $busy_cg is still there"
elif [[ -e $PIN/links/cbt_busy ]]; then
	fail "$PIN/links/cbt_busy is still there: $(ls "$PIN/links/cbt_busy")"
else
	pass
fi
kill_wait "${BG_PIDS[@]}"
BG_PIDS=()

start_test "unload NAME removes that policy and leaves the others working"
if load_policy cbt_gone "$T/conf/main.conf"; then
	run "$CBPF" unload cbt_gone
	if ((RC != 0)); then
		fail "unload cbt_gone failed: $(ran)"
	elif [[ -e $CGROUP_BASE/cbt_gone ]]; then
		fail "the enforcement cgroup $CGROUP_BASE/cbt_gone is still there"
	elif [[ -e $PIN/links/cbt_gone ]]; then
		fail "$PIN/links/cbt_gone is still there"
	elif ! status_json; then
		:
	elif jq -e '.policies[] | select(.name == "cbt_gone")' >/dev/null <<<"$STATUS"; then
		fail "status still lists cbt_gone: $STATUS"
	else
		try_allowed cbt_main tcp 10.231.2.10 8080 &&
			try_denied cbt_main tcp 10.231.2.11 8080 && pass
	fi
fi

# What is left of claude-bpf in the kernel and the file systems, one line
# per leftover; empty when nothing is.
leftovers() {
	local ids=$1 cgids=$2

	[[ -e $PIN ]] && echo "pins: $(find "$PIN" | tr '\n' ' ')"
	bpftool -j prog show | jq -r '.[] | select(.name | startswith("cbpf_")) | "program \(.id) \(.name)"'
	bpftool -j link show | jq -r --argjson p "[$ids]" --argjson c "[$cgids]" \
		'.[] | select((.prog_id as $x | $p | index($x)) or (.cgroup_id as $y | $y != null and ($c | index($y))))
		| "link \(.id) prog \(.prog_id) cgroup \(.cgroup_id // "-")"'
	[[ -e $CGROUP_BASE ]] && find "$CGROUP_BASE" -mindepth 1 -maxdepth 1 -type d -name 'cbt_*' |
		sed 's/^/cgroup: /'
}

start_test "unload --all leaves nothing: no pins, programs, links or cgroups"
if ensure_policy cbt_main && ensure_policy cbt_hosts && status_json; then
	cgids=$(jq -r '[.policies[].cgroup_id] | join(",")' <<<"$STATUS")
	ids=$(bpftool -j prog show | jq -r '[.[] | select(.name | startswith("cbpf_")) | .id] | join(",")')
	if [[ -z $ids ]]; then
		fail "no program named cbpf_* is loaded before unload --all ($(bpftool prog show | grep -c name) programs in all)"
	fi
	run "$CBPF" unload --all
	if ((RC != 0)); then
		fail "unload --all failed: $(ran)"
	else
		# Links and programs are freed by the kernel a moment later.
		for ((i = 0; i < 300; i++)); do
			left=$(leftovers "$ids" "$cgids")
			[[ -z $left ]] && break
			sleep 0.01
		done
		if [[ -n $left ]]; then
			fail "left behind: $(tr '\n' ';' <<<"$left")"
		else
			pass
		fi
	fi
fi
