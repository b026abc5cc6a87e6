# shellcheck shell=bash
# Rootless podman (the vmtest guest's user dev, uid 1000, with a lingering
# user manager): `claude-bpf load --user dev` attaches below
# user@1000.service, `claude-bpf run` as dev starts a container there
# (slirp4netns networking) that the policy holds; dev cannot start the agent
# unenforced through claude-bpf, and what dev can do to the slice from
# outside (rmdir, rename, systemctl --user stop) opens nothing.
# Sourced by tests/integration/run, after lib.sh:
#   tests/integration/run vmtest/t_rootless.sh
# The scripts for the container are single-quoted on purpose:
# shellcheck disable=SC2016

# pm_rootfs, the test image's root file system.
# shellcheck source=../tests/integration/podman.sh
. "$ROOT/tests/integration/podman.sh"

RL_USER=dev
RL_UID=""
RL_POLICY=cbt_rl
RL_IMAGE=localhost/cbt-rl-busybox:latest
RL_STATE=""
RL_DIR=""
RL_SLICE=claudebpf-$RL_POLICY.slice
RL_PATH=""
RL_BG=""

RL_AS=()

# RL_AS is the command prefix that runs a command as dev, with the
# environment of dev's session (their user manager and its D-Bus), in dev's
# work directory (a plain command, so that run's timeout can start it).
rl_as_init() {
	RL_AS=(setpriv --reuid="$RL_UID" --regid="$RL_UID" --init-groups
		env -i -C "$RL_DIR/work" PWD="$RL_DIR/work" HOME="/home/$RL_USER" USER="$RL_USER"
		LOGNAME="$RL_USER" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
		XDG_RUNTIME_DIR="/run/user/$RL_UID"
		DBUS_SESSION_BUS_ADDRESS="unix:path=/run/user/$RL_UID/bus")
}

as_dev() {
	"${RL_AS[@]}" "$@"
}

rl_cleanup() {
	[[ -n $RL_DIR ]] || return 0
	[[ -n $RL_BG ]] && kill "$RL_BG" 2>/dev/null && wait "$RL_BG" 2>/dev/null
	timeout -k 5 60 "${RL_AS[@]}" podman rm -a -f -t 0 >/dev/null 2>&1
	timeout -k 5 60 "${RL_AS[@]}" podman rmi -f "$RL_IMAGE" >/dev/null 2>&1
	rm -rf --one-file-system "$RL_DIR"
	RL_DIR=""
}

# rl_image: the busybox image with the probe (pm_rootfs), imported by dev.
rl_image() {
	local bb

	for bb in /bin/busybox /usr/bin/busybox; do
		[[ -x $bb ]] && break
	done
	pm_rootfs "$RL_DIR/rootfs" "$bb" || return 1
	tar --numeric-owner -C "$RL_DIR/rootfs" -c . | as_dev podman import -q - "$RL_IMAGE" >/dev/null
}

# rl_run ARGS...: claude-bpf run ARGS... as dev; sets RC, OUT, ERR.
rl_run() {
	run "${RL_AS[@]}" "$CBPF" run "$@"
}

# rl_probes: a container of policy RL_POLICY started by run as dev tries the
# allowed host over IPv4 and the denied one over IPv4 and IPv6.
rl_probes() {
	new_payload
	P_OK=$PAYLOAD
	new_payload
	P_NO4=$PAYLOAD
	new_payload
	P_NO6=$PAYLOAD
	rl_run --policy "$RL_POLICY" --image "$RL_IMAGE" --shell -- -c \
		'grep "^0::" /proc/self/cgroup
		probe tcp 10.231.2.10 8080 "$1"; echo "allowed4=$?"
		probe tcp 10.231.2.11 8080 "$2"; echo "denied4=$?"
		probe tcp fd42:231:2::11 8080 "$3"; echo "denied6=$?"' sh "$P_OK" "$P_NO4" "$P_NO6"
}

rl_expect_held() {
	if ((RC != 0)); then
		fail "$1: claude-bpf run as $RL_USER failed: $(ran)"
	elif [[ $OUT != "0::/"*$'\n'"allowed4=0"$'\n'"denied4=1"$'\n'"denied6=1" ]]; then
		fail "$1: expected the allowed host reached over slirp4netns and the denied one refused (EPERM): $(ran)"
	else
		expect_received srv tcp 10.231.2.10 8080 "$P_OK" &&
			expect_nothing srv tcp 10.231.2.11 8080 "$P_NO4" &&
			expect_nothing srv tcp fd42:231:2::11 8080 "$P_NO6" && pass
	fi
}

# rl_attached: the policy still has its six programs on RL_PATH.
rl_attached() {
	run "$CBPF" status --json "$RL_POLICY"
	[[ -d $RL_PATH ]] &&
		jq -e --arg p "$RL_PATH" --argjson n "$N_PROGRAMS" \
			'.policies[0] | (.programs | length == $n) and .cgroup == $p' \
			>/dev/null 2>&1 <<<"$OUT"
}

start_test "rootless set-up: user $RL_USER's podman (rootless, systemd manager), load --user $RL_USER --name $RL_POLICY"
if [[ $(stat -fc %T /sys/fs/cgroup) != cgroup2fs || $(cat /proc/1/comm) != systemd ]]; then
	skip "needs systemd as PID 1 and cgroup v2 alone at /sys/fs/cgroup (make vmtest boots such a guest)"
elif ! RL_UID=$(id -u "$RL_USER" 2>/dev/null); then
	skip "no user $RL_USER (make vmtest's guest has one)"
elif [[ $(systemctl is-active "user@$RL_UID.service") != active ]]; then
	skip "user@$RL_UID.service is not running (lingering: loginctl enable-linger $RL_USER)"
elif ! command -v podman >/dev/null || ! command -v slirp4netns >/dev/null; then
	skip "no podman or slirp4netns"
else
	CLEANUP_HOOKS+=(rl_cleanup)
	RL_DIR=$T/rootless
	mkdir -p "$RL_DIR/work"
	chown "$RL_UID:$RL_UID" "$RL_DIR/work"
	rl_as_init
	RL_PATH=$CGROUP2/user.slice/user-$RL_UID.slice/user@$RL_UID.service/claudebpf.slice/$RL_SLICE
	info=$(as_dev podman info --format '{{.Host.CgroupManager}} {{.Host.Security.Rootless}}' 2>&1)
	if [[ $info != "systemd true" ]]; then
		fail "podman as $RL_USER should be rootless with the systemd manager: $info"
	elif ! out=$(rl_image 2>&1); then
		fail "importing $RL_IMAGE as $RL_USER failed: $out"
	elif load_policy "$RL_POLICY" --user "$RL_USER" "$T/conf/main.conf"; then
		if [[ $OUT != *"on $RL_PATH"*"--cgroup-parent=$RL_SLICE"* ]]; then
			fail "load --user $RL_USER should enforce $RL_PATH and print --cgroup-parent=$RL_SLICE: $(ran)"
		elif [[ $(stat -c %u "$RL_PATH") != "$RL_UID" ]]; then
			fail "$RL_PATH should be delegated to $RL_USER (owner uid $RL_UID), not $(stat -c %U "$RL_PATH")"
		else
			RL_STATE=up
			pass
		fi
	fi
fi

rl_ready() {
	[[ $RL_STATE == up ]] && return 0
	skip "the rootless set-up did not work"
	return 1
}

start_test "rootless: run as $RL_USER starts the container below $RL_SLICE; the allowed host is reached, the denied one refused"
if rl_ready; then
	rl_probes
	# "0::/" in a cgroup namespace of its own (podman's default on cgroup v2);
	# run itself checks the container's place from outside before it starts.
	first=${OUT%%$'\n'*}
	if [[ $first != "0::/" && $first != "0::/user.slice/user-$RL_UID.slice/user@$RL_UID.service/claudebpf.slice/$RL_SLICE/"* ]]; then
		fail "the container is not below $RL_PATH: $(ran)"
	else
		rl_expect_held "the first container"
	fi
fi

start_test "rootless: run as $RL_USER refuses a policy not loaded for rootless podman, and starts nothing"
if rl_ready && ensure_policy cbt_main; then
	n0=$(as_dev podman ps -a -q | wc -l)
	rl_run --policy cbt_main --image "$RL_IMAGE" --shell -- -c 'echo started'
	if ((RC == 0)) || [[ $OUT == *started* ]]; then
		fail "run as $RL_USER with the rootful policy cbt_main should refuse: $(ran)"
	elif [[ $ERR != *"--user"* ]]; then
		fail "the refusal should say how to load a policy for $RL_USER (--user): $(ran)"
	elif (($(as_dev podman ps -a -q | wc -l) != n0)); then
		fail "run refused but left a container behind"
	else
		pass
	fi
fi

start_test "rootless: run as $RL_USER refuses a policy that is not loaded at all"
if rl_ready; then
	rl_run --policy cbt_nosuch --image "$RL_IMAGE" --shell -- -c 'echo started'
	if ((RC == 0)) || [[ $OUT == *started* ]]; then
		fail "run should refuse an unloaded policy: $(ran)"
	elif [[ $ERR != *"no policy 'cbt_nosuch'"* ]]; then
		fail "run should say that no policy 'cbt_nosuch' is enforced: $(ran)"
	else
		pass
	fi
fi

start_test "rootless: $RL_USER cannot remove or rename the enforcement cgroup"
if rl_ready; then
	as_dev rmdir "$RL_PATH" 2>/dev/null
	as_dev mv "$RL_PATH" "${RL_PATH%/*}/claudebpf-other.slice" 2>/dev/null
	as_dev mv "${RL_PATH%/*}" "${RL_PATH%/*/*}/claudebpf2.slice" 2>/dev/null
	if ! rl_attached; then
		fail "after $RL_USER's rmdir and mv, the policy should still be attached at $RL_PATH: $(ran); $(ls "${RL_PATH%/*/*}" 2>&1)"
	else
		pass
	fi
fi

# rl_denied_total: the policy's denials of every reason, 0 without it.
rl_denied_total() {
	local n
	n=$("$CBPF" status --json "$RL_POLICY" 2>/dev/null | jq -r '[.policies[0].denied[]] | add // 0')
	[[ $n =~ ^[0-9]+$ ]] && echo "$n" || echo 0
}

start_test "rootless: systemctl --user stop of the slice while an agent runs opens nothing; the next agent is held"
if rl_ready; then
	new_payload
	p_bg=$PAYLOAD
	denied0=$(rl_denied_total)
	# The agent: tries the denied host every 0.2 s, a line "rc=N" a try,
	# until the test touches stop in its directory (20 s at most).
	rm -f "$RL_DIR/work/stop"
	as_dev "$CBPF" run --policy "$RL_POLICY" --image "$RL_IMAGE" --shell -- -c \
		'for i in $(seq 100); do [ -e stop ] && break; probe tcp 10.231.2.11 8080 "$1" >/dev/null 2>&1; echo "rc=$?"; sleep 0.2; done' \
		sh "$p_bg" >"$RL_DIR/bg.out" 2>&1 </dev/null {LOCK_FD}>&- &
	RL_BG=$!
	# Until the agent is trying (the policy counts its denials): 60 s at
	# most, the image starts slowly under emulation.
	tried=false
	for ((i = 0; i < 600; i++)); do
		(($(rl_denied_total) > denied0)) && { tried=true; break; }
		sleep 0.1
	done
	run "${RL_AS[@]}" systemctl --user stop "$RL_SLICE"
	stop_out=$(ran)
	# Until the slice is down (10 s at most).
	for ((i = 0; i < 100; i++)); do
		[[ $("${RL_AS[@]}" systemctl --user is-active "$RL_SLICE" 2>/dev/null) == active ]] || break
		sleep 0.1
	done
	run "${RL_AS[@]}" systemctl --user reset-failed "$RL_SLICE"
	# The agent ends: with the slice, or at the stop file if it outlived
	# it (60 s at most); its exit status and tries are checked.
	: >"$RL_DIR/work/stop"
	timeout 60 tail --pid="$RL_BG" -f /dev/null
	ended=$?
	kill "$RL_BG" 2>/dev/null
	wait "$RL_BG" 2>/dev/null
	bg_rc=$?
	RL_BG=""
	if grep -qxF -- "$p_bg" "${LISTENER_LOG[srv tcp 10.231.2.11 8080]}"; then
		fail "the denied host received the agent's connection around systemctl --user stop ($stop_out)"
	elif grep -qx 'rc=0' "$RL_DIR/bg.out"; then
		fail "a try of the agent connected around systemctl --user stop ($stop_out): $(tr '\n' ' ' <"$RL_DIR/bg.out")"
	elif ! $tried; then
		fail "the agent made no attempt within 60 s, so the slice was not stopped while it ran (run exit $bg_rc): $(<"$RL_DIR/bg.out")"
	elif ((ended != 0)); then
		fail "the agent still ran 60 s after the slice was stopped and its stop file made (killed; run exit $bg_rc): $(tr '\n' ' ' <"$RL_DIR/bg.out")"
	elif ! rl_attached; then
		fail "after systemctl --user stop $RL_SLICE ($stop_out), the policy is no longer attached at $RL_PATH: $(ran)"
	else
		rl_probes
		rl_expect_held "the agent started after systemctl --user stop ($stop_out)"
	fi
fi

# --- DNS through the policy's forwarder: slirp4netns takes the container
# to the host's loopback (allow_host_loopback, which run asks for a policy
# with a forwarder), where it listens; the policy opens only its port there.

# shellcheck source=../tests/integration/dnsfwd.sh
. "$ROOT/tests/integration/dnsfwd.sh"
RL_FWD=cbt_rlfwd

start_test "rootless: run as $RL_USER resolves through the policy's forwarder over slirp4netns: resolve-then-connect 100 of 100 over UDP and over TCP DNS (sent to a foreign resolver); a name not listed is refused, never sent upstream; the host's loopback stays shut but for the forwarder"
if rl_ready; then
	if ! [[ -x $DNSD ]] || ! df_net; then
		fail "the DNS forwarder's test upstream did not start"
	else
		df_conf
		# Rules wide enough to hold slirp4netns's aliases of the host's
		# loopback: the policy must keep them shut all the same.
		{ cat "$DF_DIR/fwd.conf"; printf '%s\n' '10.0.0.0/16:*' '[fd00::/16]:*'; } >"$DF_DIR/fwd-rl.conf"
		if load_policy "$RL_FWD" --user "$RL_USER" "$DF_DIR/fwd-rl.conf"; then
			load_out=$OUT
			label=x$RANDOM$RANDOM.leak.test
			new_payload
			p_lo=$PAYLOAD
			RUN_TIMEOUT=240 rl_run --policy "$RL_FWD" --image "$RL_IMAGE" --shell -- -c \
				'grep "^nameserver" /etc/resolv.conf
				for t in udp tcp; do
					probe resolve-connect "$0" cdn.test A "$t" 8443 100 || exit 1
				done
				probe dns "$0" "$1" A 2>&1; echo "refused=$?"
				probe tcp 10.0.2.2 "$2" "$3"; echo "loopback=$?"
				probe tcp fd00::2 "$2" "$3"; echo "loopback6=$?"' \
				"$DF_FOREIGN_V4" "$label" "$HOST_LO_PORT" "$p_lo"
			if [[ $load_out != *"dns: forwarded to 127.0.0.1:"*" 10.0.2.2:"*"(to 127.0.0.1)"* ||
				$load_out != *"none leaked"* ]]; then
				fail "load --user should forward DNS through 10.0.2.2 and pass its selftest once the forwarder serves: $load_out"
			elif ((RC != 0)) || (($(grep -c "ok 100 of 100" <<<"$OUT") != 2)); then
				fail "expected ok 100 of 100 twice (UDP, TCP): $(ran)"
			elif [[ $OUT != "nameserver 10.0.2.2"* ]]; then
				fail "the container's resolv.conf should name the forwarder (10.0.2.2): $OUT"
			elif [[ $OUT != *"DNS answer code 5"$'\n'"refused=2"* ]]; then
				fail "a name the file does not list should be answered REFUSED: $OUT"
			elif [[ $(df_upstream_saw "$label") != 0 ]]; then
				fail "the upstream was asked $label, which the file does not list (or its log is unreadable): $(df_upstream_saw "$label")"
			elif [[ $OUT != *"loopback=1"$'\n'"loopback6=1" ]]; then
				fail "the host's loopback through 10.0.2.2 and fd00::2 (port $HOST_LO_PORT) should be denied (EPERM), a wider rule of the file notwithstanding: $OUT"
			else
				expect_nothing "" tcp 127.0.0.1 "$HOST_LO_PORT" "$p_lo" &&
					expect_nothing "" tcp ::1 "$HOST_LO_PORT" "$p_lo" && pass
			fi
			run "$CBPF" unload "$RL_FWD"
			LOADED_POLICIES=${LOADED_POLICIES/ $RL_FWD / }
		fi
	fi
fi
