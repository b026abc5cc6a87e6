# shellcheck shell=bash
# Rootful podman with the systemd cgroup manager, on pure cgroup v2 with
# systemd as PID 1 (the vmtest guest): the policy loaded with
# --cgroup-manager systemd is the slice claudebpf-NAME.slice, claude-bpf run
# puts the container there, the policy holds it, and it keeps holding
# containers started after earlier ones have gone (systemd removes the
# cgroups of units it no longer needs).
# Sourced by tests/integration/run, after lib.sh:
#   tests/integration/run vmtest/t_podman_systemd.sh
# The scripts for the container are single-quoted on purpose:
# shellcheck disable=SC2016

PM_CGROUP_MANAGER=systemd
# shellcheck source=../tests/integration/podman.sh
. "$ROOT/tests/integration/podman.sh"

PM_POLICY=cbt_sd
SD_SLICE=claudebpf-$PM_POLICY.slice
SD_PATH=$CGROUP2/claudebpf.slice/$SD_SLICE

start_test "systemd podman set-up: pure cgroup v2, systemd PID 1, podman's systemd manager, policy $PM_POLICY as $SD_SLICE"
if [[ $(stat -fc %T /sys/fs/cgroup) != cgroup2fs || $(cat /proc/1/comm) != systemd ]]; then
	skip "needs systemd as PID 1 and cgroup v2 alone at /sys/fs/cgroup (make vmtest boots such a guest)"
elif ! pm_preconditions; then
	skip "$PM_STATE"
elif ! pm_setup; then
	PM_STATE="the podman set-up failed (see its test)"
	fail "see the messages above"
elif [[ $(podman info --format '{{.Host.CgroupManager}}' 2>&1) != systemd ]]; then
	PM_STATE="podman does not use the systemd cgroup manager"
	fail "$PM_STATE: $(podman info --format '{{.Host.CgroupManager}}' 2>&1)"
elif ! load_policy "$PM_POLICY" --cgroup-manager systemd "$T/conf/main.conf"; then
	PM_STATE="the policy $PM_POLICY did not load (see the set-up test)"
elif [[ $OUT != *"on $SD_PATH"*"--cgroup-parent=$SD_SLICE"* ]]; then
	PM_STATE="the policy is not the slice $SD_SLICE"
	fail "load --cgroup-manager systemd should enforce $SD_PATH and print --cgroup-parent=$SD_SLICE: $(ran)"
else
	PM_POLICIES+=("$PM_POLICY")
	pass
fi

# sd_probe_pair: in a container started by run, the allowed host (10.231.2.10
# and fd42:231:2::10 port 8080) and the denied one (.11 and ::11); sets
# P4_OK P6_OK P4_NO P6_NO to the payloads sent.
sd_probe_pair() {
	new_payload
	P4_OK=$PAYLOAD
	new_payload
	P6_OK=$PAYLOAD
	new_payload
	P4_NO=$PAYLOAD
	new_payload
	P6_NO=$PAYLOAD
	pm_new_home
	pm_new_dir
	# Its cgroup as the host sees it, first.
	pm_shell_seen "$DIR" 'probe tcp 10.231.2.10 8080 "$1"; echo "allowed4=$?"
		probe tcp fd42:231:2::10 8080 "$2"; echo "allowed6=$?"
		probe tcp 10.231.2.11 8080 "$3"; echo "denied4=$?"
		probe tcp fd42:231:2::11 8080 "$4"; echo "denied6=$?"' \
		"$P4_OK" "$P6_OK" "$P4_NO" "$P6_NO"
}

# sd_expect_held WHAT: the last sd_probe_pair ran below the slice, reached
# the allowed host and was refused the denied one.
sd_expect_held() {
	local want=$'allowed4=0\nallowed6=0\ndenied4=1\ndenied6=1'

	if ((RC != 0)); then
		fail "$1: claude-bpf run failed: $(ran)"
	elif [[ $OUT != "0::/claudebpf.slice/$SD_SLICE/"*$'\n'"$want" ]]; then
		fail "$1: expected the container below /claudebpf.slice/$SD_SLICE, the allowed host reached and the denied one refused (EPERM): $(ran)"
	else
		expect_received srv tcp 10.231.2.10 8080 "$P4_OK" &&
			expect_received srv tcp fd42:231:2::10 8080 "$P6_OK" &&
			expect_nothing srv tcp 10.231.2.11 8080 "$P4_NO" &&
			expect_nothing srv tcp fd42:231:2::11 8080 "$P6_NO" && pass
	fi
}

start_test "systemd: run starts the container in $SD_SLICE; the allowed host is reached, the denied one refused, IPv4 and IPv6"
if pm_ready && pm_home_used; then
	sd_probe_pair
	sd_expect_held "the first container"
fi

start_test "systemd: the slice still holds the policy after its containers are gone, and holds the next container"
if pm_ready && pm_home_used; then
	# Containers gone: systemd may stop the slice unit and remove its cgroup.
	sleep 2
	if [[ ! -d $SD_PATH ]]; then
		fail "$SD_PATH was removed once its containers were gone (systemd stopped the slice): the policy no longer enforces anything"
	else
		run "$CBPF" status --json "$PM_POLICY"
		if ! jq -e --argjson n "$N_PROGRAMS" '.policies[0].programs | length == $n' >/dev/null 2>&1 <<<"$OUT"; then
			fail "after the first container, the policy should still have its $N_PROGRAMS programs attached: $(ran)"
		else
			sd_probe_pair
			sd_expect_held "the second container"
		fi
	fi
fi

start_test "systemd: run refuses a policy loaded for the cgroupfs manager, and starts nothing"
if pm_ready && pm_home_used && load_policy cbt_sdfs "$T/conf/main.conf"; then
	PM_POLICIES+=(cbt_sdfs)
	n0=$(pm_containers)
	pm_new_home
	pm_new_dir
	pm_run "$DIR" --policy cbt_sdfs --image "$PM_IMAGE" --shell -- -c 'echo started'
	if ((RC == 0)) || [[ $OUT == *started* ]]; then
		fail "run should refuse: podman places containers with systemd, the policy is a cgroupfs path: $(ran)"
	elif [[ $ERR != *"--cgroup-manager systemd"* ]]; then
		fail "run's refusal should say how to load the policy for systemd: $(ran)"
	elif (($(pm_containers) != n0)); then
		fail "run refused but left a container behind"
	else
		pass
	fi
fi
