# shellcheck shell=bash
# Harness for claude-bpf's integration tests: verdicts and counters, the test
# network (namespaces, veth, dnsmasq, listeners), probes run inside and
# outside the sandbox, and a cleanup that runs however the suite ends.
#
# Addresses. Everything the tests send goes to loopback or to the namespaces
# made here; blackhole routes for 10.231.0.0/16 and fd42:231::/32 make sure a
# packet for a test address can never leave by the default route.
#
#   host namespace   veth 10.231.1.1/24  fd42:231:1::1/64
#   srv  namespace   veth 10.231.1.2/24  fd42:231:1::2/64, dnsmasq on 10.231.1.53,
#                    and the targets below (routed by the host via the veth)
#   priv namespace   only lo: the "loopback of a private namespace" case

BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CBPF=${CBPF:-$ROOT/$BUILD/claude-bpf}
PROBE=${PROBE:-$ROOT/$BUILD/tests/probe}
EVENTS=${EVENTS:-$ROOT/$BUILD/tests/events}
CI=${CI:-false}

NS_SRV=cbt-srv-$$
NS_PRIV=cbt-priv-$$
VETH_H=cbt-h-$$
VETH_S=cbt-s-$$
HOST_V4=10.231.1.1
HOST_V6=fd42:231:1::1
SRV_V4=10.231.1.2
SRV_V6=fd42:231:1::2
DNS_V4=10.231.1.53
# Targets on srv. .2.10/::10 are allowed on some ports by the main policy,
# .2.11/::11 by nothing, .2.20/::20 are allowed.test, 10.231.3.0/24 and
# fd42:231:3::/64 are a CIDR with a deny rule inside (.130, ::85).
SRV_EXTRA_V4=(10.231.2.10 10.231.2.11 10.231.2.20 10.231.3.5 10.231.3.130)
# Two hosts at IPv6 routes into private IPv4 (NAT64 and 6to4 forms of
# 10.10.10.10), each routed to srv on its own (/128): --internet must deny
# them.
NAT64_V6=64:ff9b::a0a:a0a
SIXTOFOUR_V6=2002:a0a:a0a::1
# A public address (global unicast, in no range --internet denies, and in
# none IANA has allocated), routed to srv: --internet must allow it.
PUB_V6=2f00:231::10
SRV_EXTRA_V6=(fd42:231:2::10 fd42:231:2::11 fd42:231:2::20 fd42:231:3::5 fd42:231:3::85
	"$NAT64_V6" "$SIXTOFOUR_V6" "$PUB_V6")
SRV_ROUTES_V4=(10.231.2.0/24 10.231.3.0/24)
SRV_ROUTES_V6=(fd42:231:2::/64 fd42:231:3::/64 "$NAT64_V6/128" "$SIXTOFOUR_V6/128"
	"$PUB_V6/128")
GUARD_V4=10.231.0.0/16
GUARD_V6=fd42:231::/32
# The documentation ranges selftest and run aim at by default, and the
# public range PUB_V6 is in: blackholed too, should a test reach them by
# mistake (a route that may not exist yet).
DOC_GUARDS_V4=(192.0.2.0/24)
DOC_GUARDS_V6=(2001:db8::/32 2f00:231::/32)
DOC_GUARDS_MADE=()

# The programs a policy has attached: one per hook of the header's enum.
N_PROGRAMS=$(grep -c '^	CBPF_HOOK_[A-Z0-9_]* *= [0-9]' "$ROOT/include/claude_bpf.h")

LOCK_FILE=/run/claude-bpf-integration.lock

N_PASS=0
N_FAIL=0
N_SKIP=0
FAILED=()
CUR_TEST=""
CUR_STATE=""            # running, passed, failed, skipped
TEST_NO=0
SEQ=0

T=""                    # temporary directory of this run
NET_UP=false
LISTENER_PIDS=()
BG_PIDS=()
DNSMASQ_PID=""
PING_RANGE_SAVED=""
LOADED_POLICIES=" "
LOCK_FD=""
CGROUP2=""
CGROUP_BASE=""
DNSMASQ=""
STATUS=""
FIELD=""
declare -A LISTENER_LOG LISTENER_NS
CLEANUP_HOOKS=()        # functions cleanup() calls first (test files add them)

# ---------------------------------------------------------------- verdicts

say() { printf '%s\n' "$*"; }

# Ends the current test; one that gave no verdict counts as failed.
end_test() {
	# A stream a test left waiting (it failed before ending it) ends here,
	# not in the next test, where its process would still hold a cgroup.
	[[ -z ${STREAM_PID:-} ]] || stream_end
	if [[ -n $CUR_TEST && $CUR_STATE == running ]]; then
		fail "the test ended without a verdict"
	fi
	CUR_TEST=""
	CUR_STATE=""
}

start_test() {
	end_test
	CUR_TEST=$1
	CUR_STATE=running
	TEST_NO=$((TEST_NO + 1))
}

pass() {
	[[ $CUR_STATE == running ]] || return 0
	CUR_STATE=passed
	N_PASS=$((N_PASS + 1))
	say "ok    $CUR_TEST"
}

# fail MSG: the first failure of a test is its verdict; the rest are shown.
fail() {
	local msg="$*"

	if [[ $CUR_STATE != failed ]]; then
		# A verdict given earlier in the test is taken back.
		[[ $CUR_STATE == passed ]] && N_PASS=$((N_PASS - 1))
		[[ $CUR_STATE == skipped ]] && N_SKIP=$((N_SKIP - 1))
		CUR_STATE=failed
		N_FAIL=$((N_FAIL + 1))
		FAILED+=("$CUR_TEST")
		say "FAIL  $CUR_TEST"
	fi
	say "      ${msg//$'\n'/$'\n'      }"
	return 1
}

# skip REASON: on CI (CI=true) a skip is a failure, the issue wants no skips.
skip() {
	[[ $CUR_STATE == running ]] || return 0
	if [[ $CI == true ]]; then
		fail "skipped, which counts as a failure on CI: $*"
		return 1
	fi
	CUR_STATE=skipped
	N_SKIP=$((N_SKIP + 1))
	say "skip  $CUR_TEST: $*"
	return 1
}

summary_line() {
	local line="$N_PASS passed, $N_FAIL failed"

	((N_SKIP > 0)) && line+=", $N_SKIP skipped"
	say "$line"
}

# ---------------------------------------------------------------- test files

# run_file FILE: sources FILE in a process of its own (a subshell of this
# one, after the shared set-up): what it defines, sets or loads stays
# there, and what it started is stopped and every policy but KEEP_POLICY
# unloaded when it ends, so no file leans on another's leftovers. Its
# verdicts, and the numbers that keep payloads unique, come back through
# $T/tally.
run_file() {
	local tally=$T/tally line i=0

	rm -f "$tally"
	(
		file_begin "$1"
		# shellcheck disable=SC1090
		. "$1"
	)
	if [[ ! -s $tally ]]; then
		start_test "${1##*/} ran to its end"
		fail "its process ended without a tally"
		end_test
		return
	fi
	while IFS= read -r line; do
		if ((i++ == 0)); then
			read -r N_PASS N_FAIL N_SKIP TEST_NO SEQ <<<"$line"
			FAILED=()
		else
			FAILED+=("$line")
		fi
	done <"$tally"
}

# The policy that keeps the pinned BPF object between files: the last
# unload removes the object, and the next load would load and verify it
# afresh (0.4 s here, far more in an emulated guest). It is loaded once a
# file has pinned the object, never unloaded by a file's end, and goes with
# the suite's cleanup (or with a test's own unload --all: t_90).
KEEP_POLICY=cbt_keep

# unload_but_keep: every policy but KEEP_POLICY unloaded (by force: a file
# may leave processes inside), KEEP_POLICY loaded first when the object is
# pinned and it is not. False with UNLOAD_ERR when one of them fails.
unload_but_keep() {
	local names name

	UNLOAD_ERR=""
	[[ -e /sys/fs/bpf/claude-bpf ]] || return 0
	if ! names=$(timeout -k 5 30 "$CBPF" status --json 2>"$T/unload.out") ||
		! names=$(jq -r '.policies[].name' <<<"$names" 2>>"$T/unload.out"); then
		# No list (an object of another version a test left?): all of it.
		timeout -k 5 60 "$CBPF" unload --all --force >"$T/unload.out" 2>&1 && return 0
		UNLOAD_ERR="claude-bpf unload --all --force failed: $(<"$T/unload.out")"
		return 1
	fi
	if [[ $'\n'$names$'\n' != *$'\n'$KEEP_POLICY$'\n'* ]] &&
		! timeout -k 5 30 "$CBPF" load --name "$KEEP_POLICY" --none >"$T/unload.out" 2>&1 {LOCK_FD}>&-; then
		UNLOAD_ERR="claude-bpf load --name $KEEP_POLICY --none failed: $(<"$T/unload.out")"
	fi
	for name in $names; do
		[[ $name == "$KEEP_POLICY" ]] && continue
		timeout -k 5 30 "$CBPF" unload --force "$name" >"$T/unload.out" 2>&1 && continue
		UNLOAD_ERR+="${UNLOAD_ERR:+; }claude-bpf unload --force $name failed: $(<"$T/unload.out")"
	done
	[[ -z $UNLOAD_ERR ]]
}

# file_begin FILE: in a test file's process, before it: what is the
# shared set-up's, and the end it will have.
file_begin() {
	FILE_BG=${#BG_PIDS[@]}
	FILE_LISTENERS=${#LISTENER_PIDS[@]}
	FILE_HOOKS=${#CLEANUP_HOOKS[@]}
	FILE_NAME=${1##*/}
	trap 'file_end $?' EXIT
}

# file_end STATUS: in a test file's process, at its end (or where it
# stopped): the last verdict, its leftovers, the tally.
file_end() {
	local rc=$1 hook

	trap - EXIT
	if ((rc != 0)); then
		# Stopped on an error: inside a test, that test fails; between
		# tests, one of its own.
		if [[ -n $CUR_TEST && $CUR_STATE == running ]]; then
			fail "the file stopped inside this test (exit status $rc)"
		else
			start_test "$FILE_NAME ran to its end"
			fail "the file stopped after its last test (exit status $rc)"
		fi
	fi
	end_test
	kill_wait "${BG_PIDS[@]:FILE_BG}"
	for hook in "${CLEANUP_HOOKS[@]:FILE_HOOKS}"; do
		"$hook"
	done
	if ! unload_but_keep; then
		start_test "$FILE_NAME: its policies are unloaded when it ends"
		fail "$UNLOAD_ERR"
		end_test
	fi
	kill_wait "${LISTENER_PIDS[@]:FILE_LISTENERS}"
	{
		echo "$N_PASS $N_FAIL $N_SKIP $TEST_NO $SEQ"
		((${#FAILED[@]})) && printf '%s\n' "${FAILED[@]}"
	} >"$T/tally"
	exit "$rc"
}

# Ends the run: verdict of the last test, cleanup, the closing line.
finish() {
	end_test
	cleanup
	trap - EXIT
	if ((N_FAIL > 0)); then
		say ""
		say "failed:"
		printf '  %s\n' "${FAILED[@]}"
	fi
	summary_line
	((N_FAIL == 0))
	exit
}

# The whole suite cannot run: one skipped (on CI: failed) entry says why.
skip_all() {
	start_test "integration tests"
	skip "$1"
	finish
}

on_exit() {
	local rc=$?

	trap - EXIT
	if [[ -n $CUR_TEST && $CUR_STATE == running ]]; then
		fail "the suite stopped inside this test (exit status $rc)"
	fi
	CUR_TEST=""
	start_test "the suite ran to its end"
	fail "aborted with exit status $rc"
	CUR_TEST=""
	cleanup
	summary_line
	exit 1
}

# ---------------------------------------------------------------- preconditions

cgroup2_mount() {
	# mountinfo: ... mount-point ... - fstype source options
	awk '{ for (i = 1; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } } }' \
		/proc/self/mountinfo
}

# Checks what the suite needs and skips it whole, saying why, when one lacks.
preflight() {
	[[ $(id -u) == 0 ]] || skip_all "not root: the integration tests load BPF programs and make network namespaces"
	# A machine without systemd may boot with no bpffs: mount it, as systemd
	# does at boot and claude-bpf load does itself (the faults test needs it
	# mounted to take it away).
	if ! grep -qs ' /sys/fs/bpf bpf ' /proc/mounts; then
		mount -t bpf -o mode=0700 bpf /sys/fs/bpf ||
			skip_all "no bpffs at /sys/fs/bpf, and mounting one failed"
		echo "# mounted bpffs at /sys/fs/bpf (none was mounted)" >&2
	fi
	CGROUP2=$(cgroup2_mount)
	[[ -n $CGROUP2 ]] || skip_all "no cgroup2 file system mounted (see /proc/self/mountinfo)"
	command -v dnsmasq >/dev/null || [[ -x /usr/sbin/dnsmasq ]] ||
		skip_all "no dnsmasq (install the Debian package dnsmasq-base)"
	DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
	command -v ip >/dev/null || skip_all "no ip command (install iproute2)"
	command -v bpftool >/dev/null || skip_all "no bpftool (install the Debian package bpftool)"
	command -v jq >/dev/null || skip_all "no jq (install the Debian package jq)"
	command -v timeout >/dev/null || skip_all "no timeout command (coreutils)"
	[[ -x $PROBE ]] || skip_all "$PROBE is not built (make $BUILD/tests/probe)"
	[[ -x $EVENTS ]] || skip_all "$EVENTS is not built (make $BUILD/tests/events)"
	[[ -x $CBPF ]] || skip_all "$CBPF is not built (make)"
	[[ -e /proc/sys/net/ipv6/conf/all/disable_ipv6 &&
		$(</proc/sys/net/ipv6/conf/all/disable_ipv6) == 0 ]] ||
		skip_all "IPv6 is disabled on this host"

	exec {LOCK_FD}>"$LOCK_FILE"
	# Another run (or the benchmarks) holds the machine: wait for it rather
	# than skip, up to LOCK_WAIT seconds.
	if ! flock -n "$LOCK_FD"; then
		echo "# waiting for $LOCK_FILE (another integration run or the benchmarks), at most ${LOCK_WAIT:-1800}s" >&2
		flock -w "${LOCK_WAIT:-1800}" "$LOCK_FD" ||
			skip_all "another integration run still holds $LOCK_FILE after ${LOCK_WAIT:-1800}s"
	fi
	if [[ -e /sys/fs/bpf/claude-bpf ]]; then
		skip_all "claude-bpf is already loaded on this machine (/sys/fs/bpf/claude-bpf exists); the tests would replace its policies: run 'claude-bpf unload --all --force' first"
	fi
	if ip -o addr show | grep -q ' 10\.231\.'; then
		skip_all "an address in 10.231.0.0/16 already exists on the host (a test network left behind?)"
	fi
	CGROUP_BASE=$CGROUP2/claude-bpf
	T=$(mktemp -d /tmp/claude-bpf-it.XXXXXX)
	chmod 755 "$T"
	mkdir -p "$T/log" "$T/run" "$T/conf"
}

# ---------------------------------------------------------------- running commands

# run CMD...: runs a command with a time limit (RUN_TIMEOUT seconds, 30;
# make vmtest's software-emulated guests need more for podman); sets RC,
# OUT, ERR.
run() {
	# A refresher daemon that load leaves must not inherit the run's lock.
	timeout -k 5 "${RUN_TIMEOUT:-30}" "$@" >"$T/run/out" 2>"$T/run/err" {LOCK_FD}>&-
	RC=$?
	OUT=$(<"$T/run/out")
	ERR=$(<"$T/run/err")
	return 0
}

# What the last run printed, for a failure message.
ran() {
	local s="exit $RC"

	[[ -n $ERR ]] && s+="; stderr: $ERR"
	[[ -n $OUT ]] && s+="; stdout: $OUT"
	printf '%s' "$s"
}

# sandboxed POLICY PROBE-ARGS...: the probe inside the policy's sandbox.
sandboxed() {
	local policy=$1
	shift
	run "$CBPF" exec --policy "$policy" -- "$PROBE" "$@"
}

# unsandboxed PROBE-ARGS...: the probe from the host, outside any policy.
unsandboxed() {
	run "$PROBE" "$@"
}

# new_payload: sets PAYLOAD to a string no other attempt of this run sends.
new_payload() {
	SEQ=$((SEQ + 1))
	PAYLOAD="cbt-$$-$TEST_NO-$SEQ"
}

# ---------------------------------------------------------------- network

# net_do CMD...: a set-up step that must work.
net_do() {
	local err

	if ! err=$("$@" 2>&1); then
		say "set-up failed: $*: $err" >&2
		return 1
	fi
}

net_setup() {
	local a r

	NET_UP=true
	PING_RANGE_SAVED=$(sysctl -n net.ipv4.ping_group_range) || return 1
	net_do ip netns add "$NS_SRV" &&
	net_do ip netns add "$NS_PRIV" &&
	# First the guards, so nothing for the test ranges leaves by eth0.
	net_do ip route add blackhole "$GUARD_V4" &&
	net_do ip -6 route add blackhole "$GUARD_V6" || return 1
	for r in "${DOC_GUARDS_V4[@]}" "${DOC_GUARDS_V6[@]}"; do
		if ip route show exact "$r" 2>/dev/null | grep -q . ||
			ip -6 route show exact "$r" 2>/dev/null | grep -q .; then
			continue    # the host routes it already: left as it is
		fi
		net_do ip route add blackhole "$r" && DOC_GUARDS_MADE+=("$r") || return 1
	done
	net_do ip link add "$VETH_H" type veth peer name "$VETH_S" netns "$NS_SRV" &&
	net_do ip addr add "$HOST_V4/24" dev "$VETH_H" &&
	net_do ip addr add "$HOST_V6/64" dev "$VETH_H" nodad &&
	net_do ip link set "$VETH_H" up &&
	net_do ip -n "$NS_SRV" link set lo up &&
	net_do ip -n "$NS_SRV" addr add "$SRV_V4/24" dev "$VETH_S" &&
	net_do ip -n "$NS_SRV" addr add "$SRV_V6/64" dev "$VETH_S" nodad &&
	net_do ip -n "$NS_SRV" addr add "$DNS_V4/32" dev "$VETH_S" || return 1
	for a in "${SRV_EXTRA_V4[@]}"; do
		net_do ip -n "$NS_SRV" addr add "$a/32" dev "$VETH_S" || return 1
	done
	for a in "${SRV_EXTRA_V6[@]}"; do
		net_do ip -n "$NS_SRV" addr add "$a/128" dev "$VETH_S" nodad || return 1
	done
	net_do ip -n "$NS_SRV" link set "$VETH_S" up || return 1
	for r in "${SRV_ROUTES_V4[@]}"; do
		net_do ip route add "$r" via "$SRV_V4" dev "$VETH_H" || return 1
	done
	for r in "${SRV_ROUTES_V6[@]}"; do
		net_do ip -6 route add "$r" via "$SRV_V6" dev "$VETH_H" || return 1
	done
	net_do ip -n "$NS_PRIV" link set lo up &&
	# Fast Open server side, so data in a SYN that gets through is seen.
	net_do ip netns exec "$NS_SRV" sysctl -qw net.ipv4.tcp_fastopen=3 &&
	# Ping sockets for root in the host namespace (restored at cleanup).
	net_do sysctl -qw net.ipv4.ping_group_range="0 0" || return 1

	# Every test address must route through the veth, never elsewhere.
	for a in "$SRV_V4" "$DNS_V4" "$SRV_V6" "${SRV_EXTRA_V4[@]}" "${SRV_EXTRA_V6[@]}"; do
		if ! ip route get "$a" | grep -q " dev $VETH_H "; then
			say "set-up failed: $a does not route through $VETH_H: $(ip route get "$a" 2>&1)" >&2
			return 1
		fi
	done
}

# ns_prefix NS: sets NS_PREFIX to the command prefix that enters a test
# namespace: "" (the host's), srv or priv.
ns_prefix() {
	case $1 in
	"") NS_PREFIX=() ;;
	srv) NS_PREFIX=(ip netns exec "$NS_SRV") ;;
	priv) NS_PREFIX=(ip netns exec "$NS_PRIV") ;;
	esac
}

# ns_exec NS CMD...: runs CMD in a test namespace.
ns_exec() {
	ns_prefix "$1"
	shift
	"${NS_PREFIX[@]}" "$@"
}

# start_listener NS PROTO ADDR PORT: a probe server, waited for until ready.
start_listener() {
	local ns=$1 proto=$2 addr=$3 port=$4 key="$1 $2 $3 $4" pid i
	local base="$T/log/${ns:-host}-$proto-$addr-$port"

	: >"$base.log"
	# A simple command in the background, so $! is the server itself.
	ns_prefix "$ns"
	"${NS_PREFIX[@]}" "$PROBE" listen "$proto" "$addr" "$port" "$base.log" \
		>"$base.out" 2>&1 {LOCK_FD}>&- &
	pid=$!
	LISTENER_PIDS+=("$pid")
	for ((i = 0; i < 500; i++)); do
		if grep -qx ready "$base.out" 2>/dev/null; then
			LISTENER_LOG[$key]=$base.log
			LISTENER_NS[$key]=$ns
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			say "listener $key did not start: $(<"$base.out")" >&2
			return 1
		fi
		sleep 0.01
	done
	say "listener $key: not ready after 5 s" >&2
	return 1
}

start_dnsmasq() {
	local i

	ip netns exec "$NS_SRV" "$DNSMASQ" --keep-in-foreground --conf-file=/dev/null \
		--no-resolv --no-hosts --bind-interfaces --listen-address="$DNS_V4" \
		--port=53 --user=root --group=root \
		--host-record=allowed.test,10.231.2.20,fd42:231:2::20,300 \
		--host-record=other.test,10.231.2.11,300 \
		--address=/blocked.test/0.0.0.0 --address=/blocked.test/:: \
		--pid-file="$T/dnsmasq.pid" --log-facility="$T/dnsmasq.log" \
		--log-queries >"$T/dnsmasq.out" 2>&1 {LOCK_FD}>&- &
	DNSMASQ_PID=$!
	for ((i = 0; i < 100; i++)); do
		if "$PROBE" dns "$DNS_V4" allowed.test A >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$DNSMASQ_PID" 2>/dev/null; then
			say "dnsmasq did not start: $(cat "$T/dnsmasq.out" "$T/dnsmasq.log" 2>/dev/null)" >&2
			return 1
		fi
		sleep 0.05
	done
	say "dnsmasq does not answer on $DNS_V4 after 5 s" >&2
	return 1
}

# The listeners every test may use.
HOST_LO_PORT=""
start_listeners() {
	local l p

	for l in \
		"tcp 10.231.2.10 8080" "tcp 10.231.2.10 8081" "tcp 10.231.2.11 8080" \
		"tcp 10.231.2.10 9000" "udp 10.231.2.10 9000" \
		"udp 10.231.2.10 8080" "udp 10.231.2.11 8080" "udp 10.231.2.11 53" "tcp 10.231.2.11 53" \
		"tcp fd42:231:2::10 8080" "tcp fd42:231:2::10 8081" "tcp fd42:231:2::11 8080" \
		"udp fd42:231:2::10 8080" "udp fd42:231:2::11 8080" \
		"tcp 10.231.2.20 8080" "udp 10.231.2.20 8080" "tcp fd42:231:2::20 8080" \
		"tcp 10.231.3.5 8080" "tcp 10.231.3.130 8080" \
		"tcp fd42:231:3::5 8080" "tcp fd42:231:3::85 8080" \
		"tcp $NAT64_V6 8080" "tcp $SIXTOFOUR_V6 8080" "tcp $PUB_V6 8080"; do
		# shellcheck disable=SC2086
		start_listener srv $l || return 1
	done
	start_listener priv tcp 127.0.0.1 8080 &&
	start_listener priv tcp ::1 8080 || return 1
	# The host's loopback: a port nothing else uses.
	for p in 47231 47232 47233 47234 47235; do
		if start_listener "" tcp 127.0.0.1 "$p" 2>/dev/null &&
			start_listener "" tcp ::1 "$p" 2>/dev/null; then
			HOST_LO_PORT=$p
			return 0
		fi
	done
	say "no free port on the host's loopback for a listener" >&2
	return 1
}

# ---------------------------------------------------------------- cleanup

kill_wait() {
	local pid

	for pid in "$@"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "$@"; do
		wait "$pid" 2>/dev/null
	done
}

cleanup() {
	local ns pids hook r

	kill_wait "${BG_PIDS[@]}"
	BG_PIDS=()
	for hook in "${CLEANUP_HOOKS[@]}"; do
		"$hook"
	done
	CLEANUP_HOOKS=()
	if [[ -x $CBPF && -n $T ]] && { [[ -e /sys/fs/bpf/claude-bpf ]] || [[ -n $CGROUP_BASE && -e $CGROUP_BASE ]]; }; then
		if ! timeout -k 5 30 "$CBPF" unload --all --force >"$T/unload.out" 2>&1; then
			say "cleanup: claude-bpf unload --all --force failed: $(<"$T/unload.out")" >&2
		fi
	fi
	kill_wait "${LISTENER_PIDS[@]}" $DNSMASQ_PID
	LISTENER_PIDS=()
	DNSMASQ_PID=""
	if $NET_UP; then
		for ns in "$NS_SRV" "$NS_PRIV"; do
			# Anything still running in our namespaces was started by us.
			pids=$(ip netns pids "$ns" 2>/dev/null)
			# shellcheck disable=SC2086
			[[ -n $pids ]] && kill -9 $pids 2>/dev/null
			ip netns del "$ns" 2>/dev/null
		done
		ip link del "$VETH_H" 2>/dev/null
		ip route del blackhole "$GUARD_V4" 2>/dev/null
		ip -6 route del blackhole "$GUARD_V6" 2>/dev/null
		for r in "${DOC_GUARDS_MADE[@]}"; do
			ip route del blackhole "$r" 2>/dev/null
		done
		DOC_GUARDS_MADE=()
		[[ -n $PING_RANGE_SAVED ]] &&
			sysctl -qw net.ipv4.ping_group_range="$PING_RANGE_SAVED"
		NET_UP=false
	fi
	if [[ -n $T && -d $T ]]; then
		if [[ -n ${KEEP_TMP:-} ]]; then
			say "kept $T"
		else
			rm -rf "$T"
		fi
	fi
	T=""
}

# Set-up of the shared test network; a failure ends the suite.
setup() {
	start_test "set up the test network, dnsmasq and listeners"
	if net_setup && start_dnsmasq && start_listeners && write_policies; then
		pass
	else
		fail "see the messages above"
		finish
	fi
}

# ---------------------------------------------------------------- listeners

listener_key() {
	local ns=$1 proto=$2 addr=$3 port=$4

	# A v4-mapped destination arrives at the IPv4 listener.
	addr=${addr#::ffff:}
	printf '%s %s %s %s' "$ns" "$proto" "$addr" "$port"
}

# wait_for_line LOG LINE: true once LINE is in LOG (3 s at most).
wait_for_line() {
	local i

	for ((i = 0; i < 300; i++)); do
		grep -qxF -- "$2" "$1" && return 0
		sleep 0.01
	done
	return 1
}

# expect_received NS PROTO ADDR PORT PAYLOAD
expect_received() {
	local key log

	key=$(listener_key "$1" "$2" "$3" "$4")
	log=${LISTENER_LOG[$key]:-}
	[[ -n $log ]] || { fail "no listener '$key' in this suite"; return 1; }
	wait_for_line "$log" "$5" ||
		fail "the listener $key did not receive '$5' (its log: $(tr '\n' ' ' <"$log"))"
}

# expect_nothing NS PROTO ADDR PORT PAYLOAD: sends a marker from outside the
# sandbox and waits until it arrives, so anything the sandboxed attempt let
# through would have arrived before it; then PAYLOAD must be absent.
expect_nothing() {
	local key log marker kind

	key=$(listener_key "$1" "$2" "$3" "$4")
	log=${LISTENER_LOG[$key]:-}
	[[ -n $log ]] || { fail "no listener '$key' in this suite"; return 1; }
	new_payload
	marker="sync-$PAYLOAD"
	[[ $2 == tcp ]] && kind=tcp || kind=udp-sendto
	local addr=${3#::ffff:}
	case ${LISTENER_NS[$key]} in
	priv) ip netns exec "$NS_PRIV" "$PROBE" "$kind" "$addr" "$4" "$marker" 2>/dev/null ;;
	*) "$PROBE" "$kind" "$addr" "$4" "$marker" 2>/dev/null ;;
	esac
	if ! wait_for_line "$log" "$marker"; then
		fail "harness: the unsandboxed marker did not reach $key"
		return 1
	fi
	if grep -qxF -- "$5" "$log"; then
		fail "the listener $key received '$5' although it was denied"
		return 1
	fi
}

# stream POLICY KIND ADDR PORT [mid]: a sandboxed `probe stream KIND` in
# the background (STREAM_PID), back once its first send is out; with mid,
# stream_mid makes a second send; stream_end makes the last. On CPU 0: the
# programs keep allow decisions per CPU, and each send must find the one
# kept by the send before it.
stream() {
	local -a go=("$T/run/go")

	# Gone before the probe starts: its output is written by the child,
	# so an old file could be read before the new one replaces it.
	rm -f "$T/run/mid" "$T/run/go" "$T/run/stream.out"
	[[ ${5:-} == mid ]] && go=("$T/run/mid" "$T/run/go")
	new_payload
	"$CBPF" exec --policy "$1" -- taskset -c 0 "$PROBE" stream "$2" "$3" "$4" \
		"$PAYLOAD" "${go[@]}" >"$T/run/stream.out" 2>&1 {LOCK_FD}>&- &
	STREAM_PID=$!
	stream_wait before "probe stream $2 to $3 port $4"
}

# stream_wait PHASE WHAT: until the stream says it sent PHASE (5 s at most).
stream_wait() {
	local i

	for ((i = 0; i < 500; i++)); do
		grep -qsx "sent $1" "$T/run/stream.out" && return 0
		proc_alive "$STREAM_PID" || break
		sleep 0.01
	done
	fail "$2 did not make its $1 send: $(cat "$T/run/stream.out" 2>&1)"
	return 1
}

# stream_mid: the middle send of a stream started with mid.
stream_mid() {
	touch "$T/run/mid"
	stream_wait middle "probe stream"
}

# stream_end: the stream's last send (and its middle one, if not made yet);
# STREAM_RC is its exit.
stream_end() {
	touch "$T/run/mid" "$T/run/go"
	wait "$STREAM_PID"
	STREAM_RC=$?
	STREAM_PID=
}

# stream_tcp_logged ADDR PORT LINE: srv's TCP listener logged LINE. It logs
# a connection's data as one line when the connection ends: at once after
# the client's FIN, or at its read timeout (5 s) when that was dropped.
stream_tcp_logged() {
	local log=${LISTENER_LOG["srv tcp $1 $2"]}

	wait_for_line "$log" "$3" || { sleep 6; grep -qxF -- "$3" "$log"; } && return 0
	fail "the listener tcp $1 $2 should have logged '$3' (probe: exit $STREAM_RC, $(<"$T/run/stream.out")); its lines of this stream: $(grep -F -- "$PAYLOAD" "$log" | tr '\n' '|')"
	return 1
}

# ---------------------------------------------------------------- processes

# proc_alive PID: the process exists and is not a zombie.
proc_alive() {
	local st
	st=$(sed -n 's/.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null)
	[[ -n $st && $st != Z ]]
}

# hup_wait PID LOG TEXT N: SIGHUP to PID, then until LOG has N lines with
# TEXT (10 s at most).
hup_wait() {
	local i
	kill -HUP "$1"
	for ((i = 0; i < 200; i++)); do
		(($(grep -cF -- "$3" "$2") >= $4)) && return 0
		sleep 0.05
	done
	fail "no '$3' in $2 10 s after SIGHUP: $(<"$2")"
	return 1
}

# ---------------------------------------------------------------- policies

# start_foreground NAME LOG READY ARGS...: `claude-bpf load --name NAME
# --foreground ARGS...` in the background, its output in LOG.out and
# LOG.err; FG_PID. Waits until its stderr says READY (10 s at most).
start_foreground() {
	local name=$1 log=$2 ready=$3 i

	shift 3
	: >"$log.err"
	"$CBPF" load --name "$name" --foreground "$@" >"$log.out" 2>"$log.err" {LOCK_FD}>&- &
	FG_PID=$!
	BG_PIDS+=("$FG_PID")
	for ((i = 0; i < 200; i++)); do
		grep -qF -- "$ready" "$log.err" && return 0
		proc_alive "$FG_PID" || break
		sleep 0.05
	done
	fail "load --foreground --name $name did not say '$ready' within 10 s: stdout: $(<"$log.out"); stderr: $(<"$log.err")"
	return 1
}

# load_policy NAME ARGS...: claude-bpf load --name NAME ARGS...
load_policy() {
	local name=$1
	shift
	run "$CBPF" load --name "$name" "$@"
	if ((RC != 0)); then
		fail "claude-bpf load --name $name $*: $(ran)"
		return 1
	fi
	LOADED_POLICIES+="$name "
}

# ensure_policy NAME: loads one of the suite's standard policies once.
ensure_policy() {
	[[ $LOADED_POLICIES == *" $1 "* ]] && return 0
	case $1 in
	cbt_main) load_policy cbt_main "$T/conf/main.conf" ;;
	cbt_hosts) load_policy cbt_hosts "$T/conf/hosts.conf" ;;
	cbt_inet) load_policy cbt_inet --internet ;;
	cbt_none) load_policy cbt_none --none ;;
	*) fail "policy $1 is not loaded (its load failed above)"; return 1 ;;
	esac
}

write_policies() {
	cat >"$T/conf/main.conf" <<-'EOF'
	# The main test policy.
	dns 10.231.1.53
	10.231.2.10:8080
	[fd42:231:2::10]:8080
	10.231.2.10:9000/tcp
	10.231.3.0/24:*
	deny 10.231.3.128/25:*
	[fd42:231:3::/64]:*
	deny [fd42:231:3::80/121]:*
	EOF
	cat >"$T/conf/hosts.conf" <<-'EOF'
	# Names resolved through the test's dnsmasq.
	dns 10.231.1.53
	allowed.test:8080
	EOF
}

# status_json [NAME]: claude-bpf status --json [NAME] into STATUS. (The
# order NAME --json has a test of its own in t_80_maps.sh.)
status_json() {
	run "$CBPF" status --json "$@"
	if ((RC != 0)); then
		fail "claude-bpf status --json $*: $(ran)"
		return 1
	fi
	if ! jq -e . >/dev/null 2>&1 <<<"$OUT"; then
		fail "claude-bpf status --json $* printed no valid JSON: $OUT"
		return 1
	fi
	STATUS=$OUT
}

# policy_field NAME FIELD: one field of a policy in `status --json`.
policy_field() {
	status_json || return 1
	FIELD=$(jq -r --arg n "$1" --arg f "$2" \
		'.policies[] | select(.name == $n) | .[$f]' <<<"$STATUS")
	if [[ -z $FIELD || $FIELD == null ]]; then
		fail "status --json has no field $2 for policy $1: $STATUS"
		return 1
	fi
}

# ---------------------------------------------------------------- probes with verdicts

# The listener protocol a probe kind talks.
kind_proto() {
	case $1 in
	tcp | tcp-fastopen) echo tcp ;;
	udp-sendto | udp-connect) echo udp ;;
	esac
}

# try_allowed POLICY KIND ADDR PORT: the sandboxed probe must succeed and its
# payload arrive.
try_allowed() {
	local policy=$1 kind=$2 addr=$3 port=$4 payload

	ensure_policy "$policy" || return 1
	new_payload
	payload=$PAYLOAD
	sandboxed "$policy" "$kind" "$addr" "$port" "$payload"
	if ((RC != 0)); then
		fail "$kind to $addr port $port in $policy should be allowed: $(ran)"
		return 1
	fi
	expect_received srv "$(kind_proto "$kind")" "$addr" "$port" "$payload"
}

# try_denied POLICY KIND ADDR PORT [NS]: the sandboxed probe must fail with
# EPERM (exit 1, and its own "(denied)": exec exits 1 too when it cannot
# run the probe at all) and nothing arrive at the listener.
try_denied() {
	local policy=$1 kind=$2 addr=$3 port=$4 ns=${5-srv} payload

	ensure_policy "$policy" || return 1
	new_payload
	payload=$PAYLOAD
	sandboxed "$policy" "$kind" "$addr" "$port" "$payload"
	if ((RC != 1)) || [[ $ERR != *" (denied)"* ]]; then
		fail "$kind to $addr port $port in $policy should be denied with the probe's EPERM (exit 1): $(ran)"
		expect_nothing "$ns" "$(kind_proto "$kind")" "$addr" "$port" "$payload"
		return 1
	fi
	expect_nothing "$ns" "$(kind_proto "$kind")" "$addr" "$port" "$payload"
}

# denied_count NAME REASON: that deny counter of the policy in status
# --json, into COUNT (STATUS holds the whole); fails the test without it.
denied_count() {
	status_json "$1" || return 1
	COUNT=$(jq -r --arg n "$1" --arg r "$2" \
		'.policies[] | select(.name == $n) | .denied[$r] // empty' <<<"$STATUS")
	[[ $COUNT =~ ^[0-9]+$ ]] && return 0
	fail "status --json has no denied.$2 for policy $1: $STATUS"
}

# denied_rose NAME REASON BEFORE: true when that counter is now past BEFORE,
# else the test fails.
denied_rose() {
	denied_count "$1" "$2" || return 1
	((COUNT > $3)) && return 0
	fail "policy $1 should have counted a $2 denial: $3 before, $COUNT after"
}

# icmp_echos NS 4|6: echo requests the namespace has received so far.
icmp_echos() {
	if [[ $2 == 4 ]]; then
		ns_exec "$1" awk '/^Icmp:/ { if (!n) { for (i = 1; i <= NF; i++) if ($i == "InEchos") c = i; n = 1 } else print $c }' /proc/net/snmp
	else
		ns_exec "$1" awk '$1 == "Icmp6InEchos" { print $2 }' /proc/net/snmp6
	fi
}

# echos_mark: remembers srv's echo request counters (ECHOS4, ECHOS6).
echos_mark() {
	ECHOS4=$(icmp_echos srv 4)
	ECHOS6=$(icmp_echos srv 6)
}

# echos_none: srv has received no echo request since echos_mark, and an
# echo from outside the sandbox to each family is then counted: a counter
# that never counts fails the test. True when both hold.
echos_none() {
	local e4 e6

	e4=$(icmp_echos srv 4)
	e6=$(icmp_echos srv 6)
	if [[ $e4 != "$ECHOS4" || $e6 != "$ECHOS6" ]]; then
		fail "srv received echo requests: IPv4 $ECHOS4 -> $e4, IPv6 $ECHOS6 -> $e6"
		return 1
	fi
	"$PROBE" ping "$SRV_V4" >/dev/null 2>&1
	"$PROBE" ping "$SRV_V6" >/dev/null 2>&1
	if [[ $(icmp_echos srv 4) == "$e4" || $(icmp_echos srv 6) == "$e6" ]]; then
		fail "harness: srv did not count an echo request from outside the sandbox (IPv4 $e4 -> $(icmp_echos srv 4), IPv6 $e6 -> $(icmp_echos srv 6))"
		return 1
	fi
}

# try_echo_denied POLICY raw|ping ADDR: no echo request may reach srv.
try_echo_denied() {
	local policy=$1 kind=$2 addr=$3 fam=4 before after

	[[ $addr == *:* ]] && fam=6
	ensure_policy "$policy" || return 1
	before=$(icmp_echos srv $fam)
	sandboxed "$policy" "$kind" "$addr"
	after=$(icmp_echos srv $fam)
	if ((RC != 1 && RC != 3)) || { ((RC == 1)) && [[ $ERR != *" (denied)"* ]]; }; then
		fail "$kind to $addr in $policy should be denied (the probe's EPERM, exit 1) or unanswered (exit 3): $(ran)"
		return 1
	fi
	if [[ $before != "$after" ]]; then
		fail "$kind to $addr in $policy: srv received $((after - before)) echo request(s) although denied ($(ran))"
		return 1
	fi
	# The control: the counter sees an echo that does arrive.
	"$PROBE" ping "$addr" >/dev/null 2>&1
	if [[ $(icmp_echos srv $fam) == "$after" ]]; then
		fail "harness: srv counted no echo request from outside the sandbox either (ping $addr)"
		return 1
	fi
}

# try_echo_allowed POLICY ping ADDR: the echo is answered.
try_echo_allowed() {
	ensure_policy "$1" || return 1
	sandboxed "$1" "$2" "$3"
	((RC == 0)) || fail "$2 to $3 in $1 should be answered: $(ran)"
}

# wait_for_line_part FILE TEXT: true once TEXT is in FILE (3 s at most).
wait_for_line_part() {
	local i

	for ((i = 0; i < 300; i++)); do
		grep -qF -- "$2" "$1" && return 0
		sleep 0.01
	done
	return 1
}
