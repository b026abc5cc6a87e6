# The adversarial battery: inside a real container started by claude-bpf run
# (so with exactly the capabilities run gives), every escape route of the
# leak matrix and the ways to switch the enforcer off, each attempt checked
# at the suite's listeners (nothing arrived), not only from its error.
# The scripts for the container are single-quoted on purpose:
# shellcheck disable=SC2016

# shellcheck source=podman.sh
. "$ROOT/tests/integration/podman.sh"

PM_POLICY=cbt_bat
BT_V4=10.231.2.11
BT_V6=fd42:231:2::11
BT_PORT=$HOST_LO_PORT

start_test "battery set-up: podman, image $PM_IMAGE, policy $PM_POLICY, listeners"
if pm_start; then
	ok=true
	for a in "$BT_V4" "$BT_V6"; do
		for p in "$BT_PORT" 53; do
			for proto in tcp udp; do
				[[ -n ${LISTENER_LOG["srv $proto $a $p"]:-} ]] && continue
				start_listener srv "$proto" "$a" "$p" || ok=false
			done
		done
	done
	# shellcheck disable=SC2034 # PM_STATE: read by pm_ready (podman.sh)
	if $ok; then pass; else PM_STATE="listeners did not start"; fail "see above"; fi
fi

# bt_shell SCRIPT [ARGS...]: sh -c SCRIPT in a container started by run
# (as the user run gives the agent: never root), the selftest of
# run aimed at the suite's hosts.
bt_shell() {
	local script=$1

	shift
	pm_new_home
	pm_new_dir
	pm_run "$DIR" --policy "$PM_POLICY" --image "$PM_IMAGE" --shell -- -c "$script" sh "$@"
}

BT_KEYS=("tcp $BT_V4 $BT_PORT" "udp $BT_V4 $BT_PORT" "tcp $BT_V6 $BT_PORT"
	"udp $BT_V6 $BT_PORT" "tcp $BT_V4 53" "udp $BT_V4 53" "tcp $BT_V6 53"
	"udp $BT_V6 53" "tcp 10.231.2.10 8081")
declare -A BT_SEEN

# bt_mark: remembers how far each listener's log is, so that only what an
# attempt after it sends counts (t_96 makes a listener receive on purpose).
bt_mark() {
	local key log

	for key in "${BT_KEYS[@]}"; do
		log=${LISTENER_LOG["srv $key"]:-}
		BT_SEEN[$key]=$( [[ -n $log ]] && wc -l <"$log" || echo 0)
	done
}

# bt_quiet_listeners: since bt_mark, no listener the battery aims at logged
# anything of it (a line with claude-bpf-selftest or cbt-bat), each synced
# first with a marker from outside the sandbox.
bt_quiet_listeners() {
	local key proto addr port log kind new

	for key in "${BT_KEYS[@]}"; do
		read -r proto addr port <<<"$key"
		log=${LISTENER_LOG["srv $key"]:-}
		[[ -n $log ]] || { fail "harness: no listener '$key'"; return 1; }
		new_payload
		[[ $proto == tcp ]] && kind=tcp || kind=udp-sendto
		"$PROBE" "$kind" "$addr" "$port" "sync-$PAYLOAD" 2>/dev/null
		wait_for_line "$log" "sync-$PAYLOAD" ||
			{ fail "harness: the unsandboxed marker did not reach $key"; return 1; }
		new=$(tail -n "+$((${BT_SEEN[$key]:-0} + 1))" "$log" | grep -aE 'claude-bpf-selftest|cbt-bat')
		if [[ -n $new ]]; then
			fail "the listener $key received traffic from the container: $(head -3 <<<"$new")"
			return 1
		fi
	done
}

start_test "battery: the container has no CAP_NET_RAW (CapEff, CapBnd), CAP_SYS_ADMIN, CAP_NET_ADMIN or CAP_BPF"
if pm_ready && pm_have_run; then
	bt_shell 'cat /proc/self/status'
	problems=""
	for set in CapEff CapBnd CapPrm; do
		v=$(awk -v s="$set:" '$1 == s { print $2 }' <<<"$OUT")
		[[ -n $v ]] || { problems+=" $set missing"; continue; }
		for bit in 12 13 21 39; do
			(((16#$v >> bit) & 1)) && problems+=" $set=$v has bit $bit"
		done
	done
	if ((RC != 0)); then
		fail "run failed: $(ran)"
	elif [[ -n $problems ]]; then
		fail "capabilities present:$problems"
	else
		pass
	fi
fi

start_test "battery: every route of the leak matrix from inside the container is blocked, nothing arrives"
if pm_ready && pm_have_run; then
	echos_mark
	bt_mark
	bt_shell 'probe matrix --port "$1" --other 10.231.2.10 8081 --no-loopback --dns-forward "$2" "$3"' \
		"$BT_PORT" "$BT_V4" "$BT_V6"
	json=$(grep '^{' <<<"$OUT")
	printf '%s\n' "$json" >"$T/log/battery-matrix.json"   # kept with KEEP_TMP=1
	if ! jq -e . >/dev/null 2>&1 <<<"$json"; then
		fail "the matrix printed no JSON: $(ran)"
	elif ((RC != 0)) || ! jq -e '.leaked == 0' >/dev/null <<<"$json"; then
		fail "routes leaked from the container: $(jq -c '.results[] | select(.result == "leaked")' <<<"$json")"
	elif ! echos_none; then
		:
	else
		# Untested only where the agent cannot try either (no namespace
		# it may make, no cgroup path, a loopback that is its own, ping
		# sockets its group may not open) or
		# where srv's echo counters above are the witness (an ICMPv6
		# echo the socket reports sent).
		missing=$(jq -r '[.results[] | select(.result != "blocked" and .route != "host-loopback-tcp"
			and .route != "nested-cgroup-tcp"
			and (.how | startswith("cannot make a network namespace") | not)
			and (.how | contains("cannot be seen here") | not)
			and (.how | contains("ping sockets not allowed") | not))
			| "\(.route) \(.address): \(.how)"] | join("; ")' <<<"$json")
		if [[ -n $missing ]]; then
			fail "rows the container could not judge (each must be blocked or explained): $missing"
		else
			bt_quiet_listeners && pass
		fi
	fi
fi

start_test "battery: the host's services are not reachable from the container (host address on the bridge, TCP)"
if pm_ready && pm_have_run; then
	bt_shell 'probe tcp "$1" "$2" cbt-bat-host; echo "gw=$?"; probe tcp "$3" "$2" cbt-bat-host; echo "hv=$?"' \
		"$PM_V4_GW" "$BT_PORT" "$HOST_V4"
	if [[ $OUT != *gw=1*hv=1* ]]; then
		fail "TCP to the host ($PM_V4_GW, $HOST_V4) should fail with EPERM: $(ran)"
	else
		pass
	fi
fi

start_test "battery: the container cannot leave its cgroup (cgroup.procs of the parent or the root)"
if pm_ready && pm_have_run; then
	new_payload
	bt_mark
	# Writing to the root of the container's own cgroup namespace may
	# work (it is the container's cgroup: no move), and so may making a
	# cgroup there and moving into it (the nested-cgroup route, from the
	# inside); what counts is that the process stays below the
	# enforcement cgroup, seen from the host, and stays denied.
	pm_new_home
	pm_new_dir
	pm_hold "$DIR" '
	for f in /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/unified/cgroup.procs \
		/sys/fs/cgroup/../cgroup.procs /sys/fs/cgroup/unified/../cgroup.procs; do
		echo $$ 2>/dev/null >"$f" && echo "wrote $f"
	done
	if mkdir /sys/fs/cgroup/escape 2>/dev/null &&
		echo $$ >/sys/fs/cgroup/escape/cgroup.procs; then
		echo "moved into a cgroup it made"
	fi
	probe tcp "$1" "$2" "$3"; echo "tcp=$?"
	'"$PM_HOLD"'
	echo $$ >/sys/fs/cgroup/cgroup.procs 2>/dev/null; rmdir /sys/fs/cgroup/escape 2>/dev/null' \
		"$BT_V4" "$BT_PORT" "$PAYLOAD-cbt-bat"
	pm_release
	if [[ $PM_HELD_CGROUP != "0::/claude-bpf/$PM_POLICY/"* ]]; then
		fail "after the attempts the container's shell is in '$PM_HELD_CGROUP', not below /claude-bpf/$PM_POLICY: $(ran)"
	elif [[ $OUT != *tcp=1* ]]; then
		fail "after the attempts TCP to $BT_V4 should still fail with EPERM: $(ran)"
	else
		bt_quiet_listeners && pass
	fi
fi

start_test "battery: the container cannot mount cgroup2 or bpffs, call bpf(), or see /sys/fs/bpf/claude-bpf"
if pm_ready && pm_have_run; then
	bt_shell '
	mkdir -p /tmp/m1 /tmp/m2
	mount -t cgroup2 none /tmp/m1 2>/dev/null && echo "mounted cgroup2"
	mount -t bpf bpf /tmp/m2 2>/dev/null && echo "mounted bpffs"
	probe bpf 2>/dev/null; echo "bpf=$?"
	ls /sys/fs/bpf/claude-bpf >/dev/null 2>&1 && echo "sees the pins"
	cat /sys/fs/bpf/claude-bpf/policies >/dev/null 2>&1 && echo "reads a pin"
	true'
	if ((RC != 0)); then
		fail "run failed: $(ran)"
	elif [[ $OUT == *mounted* || $OUT == *"sees the pins"* || $OUT == *"reads a pin"* ]]; then
		fail "the container reached the enforcer: $(ran)"
	elif [[ $OUT != *bpf=1* ]]; then
		fail "bpf() should fail with EPERM (probe exit 1): $(ran)"
	else
		pass
	fi
fi

start_test "battery: every process of the container is in the enforcement cgroup and holds no inherited socket"
if pm_ready && pm_have_run; then
	pm_new_home
	pm_new_dir
	# The container reports its file descriptors, then holds while the
	# test looks at every process in its PID namespace from the host.
	pm_hold "$DIR" 'for p in /proc/[0-9]*; do for f in "$p"/fd/*; do l=$(readlink "$f" 2>/dev/null); case $l in socket:*) echo "socket ${p#/proc/} ${f##*/} $l";; esac; done; done >fds
	'"$PM_HOLD"
	outside=""
	nprocs=0
	if [[ -n $PM_HELD_INIT ]]; then
		pidns=$(readlink "/proc/$PM_HELD_INIT/ns/pid")
		for p in /proc/[0-9]*; do
			[[ $(readlink "$p/ns/pid" 2>/dev/null) == "$pidns" ]] || continue
			nprocs=$((nprocs + 1))
			line=$(grep '^0::' "$p/cgroup" 2>/dev/null)
			[[ $line == "0::/claude-bpf/$PM_POLICY/"* ]] || outside+=" ${p#/proc/}:$line"
		done
	fi
	pm_release
	if [[ ! -e $DIR/started ]]; then
		fail "the container did not start: $(ran)"
	elif ((nprocs == 0)); then
		fail "found no process of the container from the host (podman ps: '$PM_RUNNING_IDS')"
	elif [[ -n $outside ]]; then
		fail "processes of the container outside the enforcement cgroup:$outside"
	elif [[ -s $DIR/fds ]]; then
		fail "sockets open in the container at start (inherited): $(cat "$DIR/fds")"
	else
		pass
	fi
fi

start_test "battery: a socket passed over a Unix socket inside the container stays denied"
if pm_ready && pm_have_run; then
	# The only sockets there are to pass are made inside (the test above
	# finds none inherited): one process makes it, another connects it.
	new_payload
	bt_mark
	bt_shell 'probe pass-socket "$1" "$2" "$3"; echo "pass=$?"' "$BT_V4" "$BT_PORT" "$PAYLOAD-cbt-bat"
	if [[ $OUT != *pass=1* || $ERR != *"passed socket"* ]]; then
		fail "connect() on the passed socket should fail with EPERM: $(ran)"
	else
		bt_quiet_listeners && pass
	fi
fi

# --- the gate: run refuses a policy whose selftest finds a leak

start_test "run refuses a policy that leaks toward its selftest targets, and starts nothing"
if pm_ready && pm_have_run; then
	printf '%s\n' '# allows what the selftest aims at' "$BT_V4:*" "[$BT_V6]:*" >"$T/conf/batleak.conf"
	if load_policy cbt_batleak "$T/conf/batleak.conf"; then
		PM_POLICIES+=(cbt_batleak)
		pm_new_home
		pm_new_dir
		before=$(pm_containers)
		pm_run "$DIR" --policy cbt_batleak --image "$PM_IMAGE" --shell -- -c 'touch ran'
		after=$(pm_containers)
		if ((RC != 1)); then
			fail "run should exit 1: $(ran)"
		elif [[ $ERR != *"LEAKED tcp to $BT_V4:443"* || $ERR != *"nothing was started"* ]]; then
			fail "run should name the leaked routes and say nothing started: $(ran)"
		elif [[ -e $DIR/ran ]] || ((after != before)); then
			fail "something was started ($before containers before, $after after)"
		else
			pass
		fi
	fi
fi

start_test "run --skip-selftest starts on such a policy, and says the check was skipped"
if pm_ready && pm_have_run && [[ $LOADED_POLICIES == *" cbt_batleak "* ]]; then
	pm_new_home
	pm_new_dir
	pm_run "$DIR" --policy cbt_batleak --skip-selftest --image "$PM_IMAGE" --shell -- -c 'touch ran'
	if ((RC != 0)) || [[ ! -e $DIR/ran ]]; then
		fail "run --skip-selftest should start the container: $(ran)"
	elif [[ $ERR != *"--skip-selftest"* ]]; then
		fail "run should say on stderr that the selftest was skipped: $(ran)"
	else
		pass
	fi
	"$CBPF" unload cbt_batleak >/dev/null 2>&1
	LOADED_POLICIES=${LOADED_POLICIES/ cbt_batleak / }
fi

pm_cleanup
