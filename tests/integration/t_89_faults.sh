# Fault injection: what breaks around claude-bpf (a full map, a refused
# attach, no bpffs, no cgroup2, no podman, two loads at once, a process
# killed in the middle of writing, a file gone at SIGHUP) leaves every policy
# as closed as before, and says what went wrong. Nothing here is simulated
# inside claude-bpf: the map is really filled, the kernel really refuses the
# attach, the file systems are really unmounted (in a private mount
# namespace), the processes are really killed.

FLT_DIR=$T/faults
mkdir -p "$FLT_DIR"

# flt_static FILE N [FIRST-LINE...]: a policy file of the given lines and
# then N static rules for addresses in 10.100.0.0/14 (nothing there is ever
# sent to: these only fill the map).
flt_static() {
	local file=$1 n=$2
	shift 2
	{
		printf '%s\n' "$@"
		awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++)
			printf "10.%d.%d.%d:443/tcp\n", 100 + int(i / 65536), int(i / 256) % 256, i % 256 }'
	} >"$file"
}

# flt_policy_id NAME: FLT_ID is the policy's rule set id ("" when it is not
# loaded).
flt_policy_id() {
	FLT_ID=""
	status_json --summary "$1" || return 1
	FLT_ID=$(jq -r --arg n "$1" '.policies[] | select(.name == $n) | .policy_id' <<<"$STATUS")
}

# flt_map_use: FLT_USED is the entries of the exact_rules map (where the
# whole-address rules of these files go), FLT_ORPHANS those whose rule set
# no policy uses (status --json, "maps").
flt_map_use() {
	status_json --summary || return 1
	FLT_USED=$(jq -r '.maps.exact_rules.entries' <<<"$STATUS")
	FLT_MAX=$(jq -r '.maps.exact_rules.max_entries' <<<"$STATUS")
	FLT_ORPHANS=$(jq -r '.maps.exact_rules.unreferenced' <<<"$STATUS")
	if ! [[ $FLT_USED =~ ^[0-9]+$ && $FLT_MAX =~ ^[0-9]+$ && $FLT_ORPHANS =~ ^[0-9]+$ ]]; then
		fail "status --json --summary has no maps.exact_rules counts: $STATUS"
		return 1
	fi
}

flt_cleanup() {
	local cg=$CGROUP_BASE/cbt_flt_attach
	[[ -n ${FLT_ATTACHED:-} ]] &&
		bpftool cgroup detach "$cg" sock_create pinned /sys/fs/bpf/claude-bpf/progs/sock_create 2>/dev/null
	FLT_ATTACHED=""
}
CLEANUP_HOOKS+=(flt_cleanup)

# ---------------------------------------------------------------- a rules map full

ensure_policy cbt_main
# 130,001 + 140,001 > 262,144 (CBPF_MAX_RULES); 130,001 twice fits.
flt_static "$FLT_DIR/big.conf" 130000 "10.231.2.10:8080"
flt_static "$FLT_DIR/over.conf" 140000 "10.231.2.11:8080"
flt_static "$FLT_DIR/big2.conf" 140000 "10.231.2.11:8080"

start_test "the exact_rules map full: a load that does not fit is refused whole, naming the limit; the loaded policies keep working"
if load_policy cbt_flt_big --no-refresh "$FLT_DIR/big.conf" && flt_map_use; then
	used0=$FLT_USED
	run "$CBPF" load --name cbt_flt_over --no-refresh "$FLT_DIR/over.conf"
	if ((RC != 1)); then
		fail "a load that overflows the exact_rules map should exit 1: $(ran)"
	elif [[ $ERR != *"exact_rules map is full"* || $ERR != *"$FLT_MAX"* ]]; then
		fail "the error should say the exact_rules map is full and name its size $FLT_MAX: $ERR"
	elif [[ -e $CGROUP_BASE/cbt_flt_over || -e /sys/fs/bpf/claude-bpf/links/cbt_flt_over ]]; then
		fail "the refused load left its cgroup or links behind"
	elif flt_map_use && ((FLT_USED != used0 || FLT_ORPHANS != 0)); then
		fail "the exact_rules map held $used0 entries before and $FLT_USED ($FLT_ORPHANS unreferenced) after the refused load"
	else
		try_allowed cbt_flt_big tcp 10.231.2.10 8080 &&
			try_denied cbt_flt_big tcp 10.231.2.11 8080 &&
			try_allowed cbt_main tcp 10.231.2.10 8080 &&
			try_denied cbt_main tcp 10.231.2.11 8080 && pass
	fi
fi

start_test "the exact_rules map full on a reload: refused whole, the old rules stay in force, nothing left over"
if flt_policy_id cbt_flt_big && [[ -n $FLT_ID ]] && flt_map_use; then
	id0=$FLT_ID used0=$FLT_USED
	run "$CBPF" load --name cbt_flt_big --no-refresh "$FLT_DIR/big2.conf"
	if ((RC != 1)); then
		fail "a replacement that does not fit beside the old rules should exit 1: $(ran)"
	elif [[ $ERR != *"exact_rules map is full"* ]]; then
		fail "the error should say the exact_rules map is full: $ERR"
	elif flt_policy_id cbt_flt_big && [[ $FLT_ID != "$id0" ]]; then
		fail "the rule set changed ($id0 -> $FLT_ID) although the reload was refused"
	elif flt_map_use && ((FLT_USED != used0 || FLT_ORPHANS != 0)); then
		fail "the exact_rules map held $used0 entries before and $FLT_USED ($FLT_ORPHANS unreferenced) after the refused reload"
	else
		try_allowed cbt_flt_big tcp 10.231.2.10 8080 &&
			try_denied cbt_flt_big tcp 10.231.2.11 8080 && pass
	fi
fi

# ---------------------------------------------------------------- killed while writing

# flt_kill_during SECONDS CMD...: starts CMD, SIGKILLs it after SECONDS.
flt_kill_during() {
	local delay=$1 pid
	shift
	"$@" >"$FLT_DIR/killed.out" 2>&1 {LOCK_FD}>&- &
	pid=$!
	sleep "$delay"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

start_test "a load killed while it replaces a rule set: one whole rule set stays in force, the next load clears what it left"
if flt_policy_id cbt_flt_big && [[ -n $FLT_ID ]]; then
	id0=$FLT_ID
	# Room for the replacement beside the 130,001 of cbt_flt_big.
	flt_static "$FLT_DIR/mid.conf" 130000 "10.231.2.11:8080"
	caught=0 ok=true delay=0.05
	# Later and later kills, each 1.25 times the one before, until one
	# comes after the load finished. The update (writing the new rules,
	# switching, deleting the old) is more than the last fifth of the
	# load, so one of these kills lands in it however fast the machine
	# (software emulation, make vmtest, is 20 times slower than here).
	while awk -v d="$delay" 'BEGIN { exit !(d < 300) }'; do
		flt_kill_during "$delay" "$CBPF" load --name cbt_flt_big --no-refresh "$FLT_DIR/mid.conf"
		delay=$(awk -v d="$delay" 'BEGIN { printf "%.3f", d * 1.25 }')
		flt_map_use || { ok=false; break; }
		flt_policy_id cbt_flt_big || { ok=false; break; }
		if [[ $FLT_ID != "$id0" ]]; then
			# The switch happened: the new rule set is in force whole. A
			# kill before the old one was deleted is still mid-update.
			((FLT_ORPHANS > 0)) && caught=$((caught + 1)) && say "# killed after the switch, before the old rules were deleted"
			try_allowed cbt_flt_big tcp 10.231.2.11 8080 &&
				try_denied cbt_flt_big tcp 10.231.2.10 8080 || ok=false
			break
		fi
		((FLT_ORPHANS > 0)) && caught=$((caught + 1))
		if ! try_allowed cbt_flt_big tcp 10.231.2.10 8080 ||
			! try_denied cbt_flt_big tcp 10.231.2.11 8080; then
			ok=false
			break
		fi
	done
	if ! $ok; then
		: # failed above
	elif ((caught == 0)); then
		fail "no kill landed while the rules were being written or the old ones deleted (the last left $FLT_ORPHANS unreferenced entries, rule set $FLT_ID): the test proves nothing"
	else
		say "# $caught kill(s) landed in the middle of the update"
		load_policy cbt_flt_big --no-refresh "$FLT_DIR/big.conf" && flt_map_use &&
			if ((FLT_ORPHANS != 0)); then
				fail "$FLT_ORPHANS entries of no policy are left after the next load"
			else
				try_allowed cbt_flt_big tcp 10.231.2.10 8080 &&
					try_denied cbt_flt_big tcp 10.231.2.11 8080 && pass
			fi
	fi
fi

start_test "unload after the big policies leaves the exact_rules map as it was"
run "$CBPF" unload cbt_flt_big
if ((RC != 0)); then
	fail "unload cbt_flt_big: $(ran)"
elif flt_map_use && ((FLT_ORPHANS != 0 || FLT_USED > 1000)); then
	fail "after unload the exact_rules map holds $FLT_USED entries, $FLT_ORPHANS of no policy"
else
	LOADED_POLICIES=${LOADED_POLICIES/ cbt_flt_big / }
	pass
fi

# ---------------------------------------------------------------- the kernel refuses the attach

start_test "the kernel refuses to attach one hook: load rolls back every link, no policy is left"
cg=$CGROUP_BASE/cbt_flt_attach
printf '10.231.2.10:8080\n' >"$FLT_DIR/attach.conf"
# An exclusive (non-multi) attachment on sock_create: the kernel then
# refuses the link claude-bpf makes for that hook with EPERM, as a kernel
# without the program type would refuse it.
if ! mkdir -p "$cg" || ! bpftool cgroup attach "$cg" sock_create pinned /sys/fs/bpf/claude-bpf/progs/sock_create 2>"$FLT_DIR/attach.err"; then
	fail "could not make the exclusive attachment: $(<"$FLT_DIR/attach.err")"
	rmdir "$cg" 2>/dev/null
else
	FLT_ATTACHED=1
	run "$CBPF" load --name cbt_flt_attach --no-refresh "$FLT_DIR/attach.conf"
	progs=$(bpftool cgroup show "$cg" 2>&1)
	if ((RC == 0)); then
		fail "load should fail when an attach is refused: $(ran)"
	elif [[ $ERR != *sock_create* ]]; then
		fail "the error should name the hook that was refused (sock_create): $ERR"
	elif [[ -e /sys/fs/bpf/claude-bpf/links/cbt_flt_attach ]]; then
		fail "links were left pinned: $(ls -R /sys/fs/bpf/claude-bpf/links/cbt_flt_attach)"
	elif [[ $(grep -c . <<<"$progs") -ne 2 ]]; then
		fail "only the exclusive sock_create program should remain on $cg: $progs"
	elif status_json && jq -e '.policies[] | select(.name == "cbt_flt_attach")' >/dev/null <<<"$STATUS"; then
		fail "status lists cbt_flt_attach after the failed load"
	else
		pass
	fi
	flt_cleanup
	rmdir "$cg" 2>/dev/null
fi

# ---------------------------------------------------------------- no bpffs, no cgroup2

# flt_in_mountns SCRIPT: bash SCRIPT in a private mount namespace; the
# script sees CBPF, PROBE, CGROUP2, FLT_DIR. FLT_NS_OUT is its output.
flt_in_mountns() {
	FLT_NS_OUT=$(CBPF=$CBPF PROBE=$PROBE CGROUP2=$CGROUP2 FLT_DIR=$FLT_DIR \
		timeout -k 5 60 unshare -m --propagation private bash -c "$1" 2>&1 {LOCK_FD}>&-)
	FLT_NS_RC=$?
}

start_test "cgroup2 not mounted: load refuses, naming it, and creates nothing"
flt_in_mountns '
	umount -l "$CGROUP2" || { echo "umount $CGROUP2 failed"; exit 99; }
	"$CBPF" load --name cbt_flt_nocg --no-refresh "$FLT_DIR/attach.conf"
'
if ((FLT_NS_RC == 99 || FLT_NS_RC == 0)); then
	fail "load without cgroup2 should fail: exit $FLT_NS_RC: $FLT_NS_OUT"
elif [[ $FLT_NS_OUT != *cgroup2* ]]; then
	fail "the error should name cgroup2: $FLT_NS_OUT"
elif [[ -e $CGROUP_BASE/cbt_flt_nocg || -e /sys/fs/bpf/claude-bpf/links/cbt_flt_nocg ]]; then
	fail "a cgroup or links were left for cbt_flt_nocg"
else
	pass
fi

start_test "bpffs not mounted: load mounts it and enforces; unload removes everything again"
# In a private mount namespace with /sys/fs/bpf unmounted, load starts a
# store of its own; the probe runs in the policy's cgroup.
flt_in_mountns '
	umount -l /sys/fs/bpf || { echo "umount /sys/fs/bpf failed"; exit 99; }
	grep -q " /sys/fs/bpf bpf " /proc/self/mounts && { echo "bpffs still mounted"; exit 99; }
	"$CBPF" load --name cbt_flt_nobpf --no-refresh "$FLT_DIR/attach.conf" || exit 10
	grep -q " /sys/fs/bpf bpf " /proc/self/mounts || { echo "load did not mount bpffs"; exit 11; }
	"$CBPF" exec --policy cbt_flt_nobpf -- "$PROBE" tcp 10.231.2.10 8080 flt-allowed || exit 12
	"$CBPF" exec --policy cbt_flt_nobpf -- "$PROBE" tcp 10.231.2.11 8080 flt-denied; rc=$?
	((rc == 1)) || { echo "10.231.2.11 was not denied (probe exit $rc)"; exit 13; }
	"$CBPF" unload cbt_flt_nobpf || exit 14
	[[ ! -e /sys/fs/bpf/claude-bpf ]] || { echo "pins left in the new bpffs"; exit 15; }
'
if ((FLT_NS_RC != 0)); then
	fail "exit $FLT_NS_RC: $FLT_NS_OUT"
else
	expect_received srv tcp 10.231.2.10 8080 flt-allowed &&
		expect_nothing srv tcp 10.231.2.11 8080 flt-denied && pass
fi

# ---------------------------------------------------------------- no podman

start_test "podman missing: run refuses before anything starts, saying podman is not installed"
run env PATH=/nonexistent "$CBPF" run --policy cbt_main
if ((RC == 0)); then
	fail "run without podman should fail: $(ran)"
elif [[ $ERR != *"podman is not installed"* ]]; then
	fail "the error should say podman is not installed: $(ran)"
else
	pass
fi

# ---------------------------------------------------------------- a pinned object of another version

# An object pinned by another claude-bpf version, made from this one: its
# settings say ABI 3 and its exact_rules map is not pinned (ABI 3 had
# none). The programs hold the map, so enforcement goes on meanwhile.
# flt_abi [VERSION]: FLT_ABI is the ABI version in the pinned settings
# (struct cbpf_config.abi_version, the byte at offset 8); with VERSION,
# writes that one first.
flt_abi() {
	local b
	read -ra b <<<"$(bpftool -j map lookup pinned "$PIN_ROOT/settings" key hex 00 00 00 00 |
		jq -r '.value | join(" ")' | sed 's/0x//g')"
	if [[ -n ${1:-} ]]; then
		b[8]=$(printf '%02x' "$1")
		bpftool map update pinned "$PIN_ROOT/settings" key hex 00 00 00 00 value hex "${b[@]}" ||
			return 1
	fi
	FLT_ABI=$((16#${b[8]}))
}

# flt_raw_probe POLICY KIND ADDR PORT: the probe in a child cgroup of the
# policy's enforcement cgroup, put there without claude-bpf (which refuses
# such an object); RC is its exit status, PAYLOAD what it sent.
flt_raw_probe() {
	local cg=$CGROUP_BASE/$1/flt-raw-$$
	shift
	new_payload
	mkdir -p "$cg" || return 1
	# shellcheck disable=SC2016
	run bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' _ "$cg" "$PROBE" "$@" "$PAYLOAD"
	rmdir "$cg"
}

PIN_ROOT=/sys/fs/bpf/claude-bpf
start_test "a pinned object of another version: load, status and unload refuse, naming it; enforcement stays"
flt_exact_id=""
if ensure_policy cbt_main && try_allowed cbt_main tcp 10.231.2.10 8080; then
	flt_exact_id=$(bpftool -j map show pinned "$PIN_ROOT/exact_rules" | jq -r .id)
	flt_abi && abi0=$FLT_ABI
	if flt_abi 3 && rm "$PIN_ROOT/exact_rules"; then
		msg=""
		for cmd in "load --name cbt_flt_abi --no-refresh --none" "status" "unload cbt_main" \
			"exec --policy cbt_main -- true"; do
			# shellcheck disable=SC2086
			run "$CBPF" $cmd
			if ((RC != 1)) || [[ $ERR != *"another claude-bpf version"* ]]; then
				msg+=" '$cmd' should exit 1 naming another claude-bpf version: $(ran);"
			fi
		done
		if [[ -n $msg ]]; then
			fail "$msg"
		elif [[ -d $CGROUP_BASE/cbt_flt_abi ]]; then
			fail "the refused load left its cgroup $CGROUP_BASE/cbt_flt_abi"
		elif ! flt_raw_probe cbt_main tcp 10.231.2.10 8080 || ((RC != 0)); then
			fail "the old programs should still allow tcp to 10.231.2.10:8080: $(ran)"
		elif expect_received srv tcp 10.231.2.10 8080 "$PAYLOAD" &&
			flt_raw_probe cbt_main tcp 10.231.2.11 8080; then
			if ((RC != 1)); then
				fail "the old programs should still deny tcp to 10.231.2.11:8080 (exit 1): $(ran)"
			else
				expect_nothing srv tcp 10.231.2.11 8080 "$PAYLOAD" && pass
			fi
		fi
	else
		fail "could not make the object look like another version's"
	fi
	# This version's object again, for the tests after this one.
	[[ -e $PIN_ROOT/exact_rules ]] || bpftool map pin id "$flt_exact_id" "$PIN_ROOT/exact_rules"
	flt_abi "$abi0" || fail "could not write ABI $abi0 back into the settings"
fi

# ---------------------------------------------------------------- two loads at once

start_test "six loads of one policy at once: one policy, the rules of one file whole, nothing left over"
for i in 1 2 3 4 5 6; do
	printf '10.231.2.10:8080\n10.77.%d.0/24:443/tcp\n' "$i" >"$FLT_DIR/race$i.conf"
done
pids=()
for i in 1 2 3 4 5 6; do
	timeout -k 5 30 "$CBPF" load --name cbt_flt_race --no-refresh "$FLT_DIR/race$i.conf" \
		>"$FLT_DIR/race$i.out" 2>&1 {LOCK_FD}>&- &
	pids+=($!)
done
nok=0
for p in "${pids[@]}"; do
	wait "$p" && nok=$((nok + 1))
done
LOADED_POLICIES+="cbt_flt_race "
if ((nok != 6)); then
	fail "$((6 - nok)) of 6 concurrent loads failed: $(cat "$FLT_DIR"/race*.out)"
elif status_json cbt_flt_race; then
	n=$(jq '[.policies[] | select(.name == "cbt_flt_race")] | length' <<<"$STATUS")
	nets=$(jq -r '[.policies[] | select(.name == "cbt_flt_race") | .rules[] | .address] | map(select(startswith("10.77."))) | join(" ")' <<<"$STATUS")
	if ((n != 1)); then
		fail "status lists cbt_flt_race $n times"
	elif [[ ! $nets =~ ^10\.77\.[1-6]\.0/24$ ]]; then
		fail "the policy should hold the 10.77.x.0/24 rule of exactly one file, it holds: '$nets'"
	elif flt_map_use && ((FLT_ORPHANS != 0)); then
		fail "$FLT_ORPHANS rules of no policy are left after the concurrent loads"
	else
		try_allowed cbt_flt_race tcp 10.231.2.10 8080 &&
			try_denied cbt_flt_race tcp 10.231.2.11 8080 && pass
	fi
fi

# ---------------------------------------------------------------- the file gone at SIGHUP

flt_hup_conf=$FLT_DIR/hup.conf
# flt_hup_wait TEXT N: SIGHUP, then until hup.err has N lines with TEXT.
flt_hup_wait() {
	hup_wait "$FLT_FG_PID" "$FLT_DIR/hup.err" "$1" "$2"
}

start_test "the file deleted at SIGHUP: the refresher says so, keeps running, the policy stays"
printf '10.231.2.10:8080\n' >"$flt_hup_conf"
: >"$FLT_DIR/hup.err"
"$CBPF" load --name cbt_flt_hup --foreground "$flt_hup_conf" \
	>"$FLT_DIR/hup.out" 2>"$FLT_DIR/hup.err" {LOCK_FD}>&- &
FLT_FG_PID=$!
BG_PIDS+=("$FLT_FG_PID")
hup_ok=false
for ((i = 0; i < 200; i++)); do
	grep -q "refresher started" "$FLT_DIR/hup.err" && { hup_ok=true; break; }
	sleep 0.05
done
if ! $hup_ok; then
	fail "load --foreground did not start: $(<"$FLT_DIR/hup.err")"
else
	LOADED_POLICIES+="cbt_flt_hup "
	flt_policy_id cbt_flt_hup
	id0=$FLT_ID
	rm -f "$flt_hup_conf"
	if flt_hup_wait "rejected" 1; then
		if ! grep -qF "$flt_hup_conf" "$FLT_DIR/hup.err" || ! grep -q "No such file" "$FLT_DIR/hup.err"; then
			fail "stderr should name $flt_hup_conf and say it does not exist: $(<"$FLT_DIR/hup.err")"
		elif ! proc_alive "$FLT_FG_PID"; then
			fail "the refresher exited: $(<"$FLT_DIR/hup.err")"
		elif flt_policy_id cbt_flt_hup && [[ $FLT_ID != "$id0" ]]; then
			fail "the rule set changed ($id0 -> $FLT_ID)"
		else
			try_allowed cbt_flt_hup tcp 10.231.2.10 8080 &&
				try_denied cbt_flt_hup tcp 10.231.2.11 8080 && pass
		fi
	fi
fi

start_test "the file unreadable at SIGHUP (a directory now): the refresher says so, the policy stays; a good file is then applied"
if $hup_ok; then
	mkdir "$flt_hup_conf"
	if flt_hup_wait "rejected" 2; then
		if ! grep -q "Is a directory" "$FLT_DIR/hup.err"; then
			fail "stderr should say the file is a directory: $(<"$FLT_DIR/hup.err")"
		elif ! proc_alive "$FLT_FG_PID"; then
			fail "the refresher exited: $(<"$FLT_DIR/hup.err")"
		elif flt_policy_id cbt_flt_hup && [[ $FLT_ID != "$id0" ]]; then
			fail "the rule set changed ($id0 -> $FLT_ID)"
		elif ! try_allowed cbt_flt_hup tcp 10.231.2.10 8080; then
			:
		else
			rmdir "$flt_hup_conf"
			printf '10.231.2.11:8080\n' >"$flt_hup_conf"
			flt_hup_wait "reloaded" 1 &&
				try_allowed cbt_flt_hup tcp 10.231.2.11 8080 &&
				try_denied cbt_flt_hup tcp 10.231.2.10 8080 && pass
		fi
	fi
	kill -TERM "$FLT_FG_PID" 2>/dev/null
	wait "$FLT_FG_PID" 2>/dev/null
else
	skip "the foreground refresher did not start"
fi
