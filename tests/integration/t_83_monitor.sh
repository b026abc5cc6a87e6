# claude-bpf monitor: each denial as a line (text or JSON) with the policy,
# cgroup, pid, command, destination, the host behind the address and why.

MON_PID=""

# start_monitor ARGS...: claude-bpf monitor ARGS in the background, output in
# $T/run/mon.out and .err, waited for until it says it is monitoring (it
# prints that after skipping what was queued, so every later denial counts).
start_monitor() {
	local i

	MON_RC=""
	: >"$T/run/mon.out"
	: >"$T/run/mon.err"
	"$CBPF" monitor "$@" >"$T/run/mon.out" 2>"$T/run/mon.err" {LOCK_FD}>&- &
	MON_PID=$!
	BG_PIDS+=("$MON_PID")
	for ((i = 0; i < 500; i++)); do
		grep -q '^monitoring denials' "$T/run/mon.err" && return 0
		if ! kill -0 "$MON_PID" 2>/dev/null; then
			wait "$MON_PID"
			fail "claude-bpf monitor $* ended before it was ready (exit $?): $(<"$T/run/mon.err") $(<"$T/run/mon.out")"
			MON_PID=""
			return 1
		fi
		sleep 0.01
	done
	fail "claude-bpf monitor $* did not say it was ready within 5 s: $(<"$T/run/mon.err")"
	return 1
}

# wait_monitor: waits for the monitor to end by itself; sets MON_RC.
wait_monitor() {
	local p keep=()

	wait "$MON_PID"
	MON_RC=$?
	for p in "${BG_PIDS[@]}"; do
		[[ $p == "$MON_PID" ]] || keep+=("$p")
	done
	BG_PIDS=("${keep[@]}")
	MON_PID=""
}

# exec_probe_denied POLICY PROBE-ARGS...: the probe run by claude-bpf exec
# must be denied (exit 1); sets PROBE_PID (the probe's pid) and EXEC_PID
# (claude-bpf exec's, which names the cgroup exec-EXEC_PID).
exec_probe_denied() {
	local policy=$1 ids
	shift
	rm -f "$T/run/probe.ids"
	run "$CBPF" exec --policy "$policy" -- sh -c \
		"echo \$\$ \$PPID >$T/run/probe.ids; exec $PROBE $*"
	ids=$(<"$T/run/probe.ids")
	PROBE_PID=${ids% *}
	EXEC_PID=${ids#* }
	if ((RC != 1)); then
		fail "$* in $policy should have been denied (exit 1): $(ran)"
		return 1
	fi
}

start_test "monitor --json shows a denied connect from exec: pid, command, destination, cgroup, reason"
if ensure_policy cbt_main && start_monitor cbt_main --json --count 1 --timeout 10; then
	exec_probe_denied cbt_main tcp 10.231.2.11 8080 x
	wait_monitor
	ev=$(head -n1 "$T/run/mon.out")
	if ((MON_RC != 0)); then
		fail "monitor --count 1 should exit 0 after one event: exit $MON_RC; $(<"$T/run/mon.err") $ev"
	elif ! jq -e --argjson pid "$PROBE_PID" --arg cg "exec-$EXEC_PID" --argjson now "$(date +%s)" \
		'.pid == $pid and .comm == "probe" and .address == "10.231.2.11" and .port == 8080
		 and .proto == "tcp" and .reason == "no_rule" and .hook == "connect4"
		 and .policy == "cbt_main" and .cgroup == $cg and .container == null
		 and .host == null and .cgroup_id > 0
		 and (.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"))
		 and ((.time | sub("\\.[0-9]+Z$"; "Z") | fromdate) - $now | fabs) < 60' \
		>/dev/null <<<"$ev"; then
		fail "the event does not describe the denial (want pid $PROBE_PID, comm probe, tcp 10.231.2.11:8080, connect4, no_rule, policy cbt_main, cgroup exec-$EXEC_PID, time now): $ev"
	elif (($(wc -l <"$T/run/mon.out") != 1)); then
		fail "expected exactly one line: $(<"$T/run/mon.out")"
	else
		pass
	fi
fi

start_test "monitor --json shows the forwarder's refusal of a name: the name, reason dns_name, hook forwarder"
if ensure_policy cbt_main && start_monitor cbt_main --json --count 1 --timeout 10; then
	name=m$RANDOM.refused.test
	sandboxed cbt_main dns 10.231.2.11 "$name" A
	wait_monitor
	ev=$(head -n1 "$T/run/mon.out")
	if [[ $ERR != *"DNS answer code 5"* ]]; then
		fail "the query should be refused (REFUSED, 5): $(ran)"
	elif ((MON_RC != 0)); then
		fail "monitor --count 1 should exit 0 after one event: exit $MON_RC; $(<"$T/run/mon.err") $ev"
	elif ! jq -e --arg n "$name" '.reason == "dns_name" and .hook == "forwarder" and .host == $n
		and .proto == "udp" and .address == null and .policy == "cbt_main"' >/dev/null <<<"$ev"; then
		fail "the event does not name the refused name $name: $ev"
	else
		pass
	fi
fi

start_test "monitor shows the denied connect as one text line"
if ensure_policy cbt_main && start_monitor cbt_main --count 1 --timeout 10; then
	exec_probe_denied cbt_main tcp 10.231.2.11 8080 x
	wait_monitor
	line=$(head -n1 "$T/run/mon.out")
	re="^[0-9-]{10}T[0-9:]{8}\.[0-9]{3}Z cbt_main exec-$EXEC_PID pid $PROBE_PID probe tcp 10\.231\.2\.11:8080 connect4 no_rule$"
	if ((MON_RC != 0)); then
		fail "monitor --count 1 should exit 0 after one event: exit $MON_RC; $(<"$T/run/mon.err") $line"
	elif ! [[ $line =~ $re ]]; then
		fail "expected 'TIME cbt_main exec-$EXEC_PID pid $PROBE_PID probe tcp 10.231.2.11:8080 connect4 no_rule', got: $line"
	else
		pass
	fi
fi

start_test "monitor names the host a denied address belongs to (IPv4, JSON)"
if ensure_policy cbt_hosts && start_monitor cbt_hosts --json --count 1 --timeout 10; then
	# allowed.test is 10.231.2.20, allowed on port 8080 only.
	exec_probe_denied cbt_hosts tcp 10.231.2.20 8081 x
	wait_monitor
	ev=$(head -n1 "$T/run/mon.out")
	if ! jq -e --argjson pid "$PROBE_PID" \
		'.host == "allowed.test" and .address == "10.231.2.20" and .port == 8081
		 and .pid == $pid and .reason == "no_rule" and .policy == "cbt_hosts"' \
		>/dev/null <<<"$ev"; then
		fail "expected host allowed.test for 10.231.2.20:8081 (monitor exit $MON_RC): $ev $(<"$T/run/mon.err")"
	else
		pass
	fi
fi

start_test "monitor names the host of an IPv6 address, in brackets with the port (text)"
if ensure_policy cbt_hosts && start_monitor cbt_hosts --count 1 --timeout 10; then
	exec_probe_denied cbt_hosts tcp fd42:231:2::20 8081 x
	wait_monitor
	line=$(head -n1 "$T/run/mon.out")
	if [[ $line != *" cbt_hosts exec-$EXEC_PID pid $PROBE_PID probe tcp [fd42:231:2::20]:8081 (allowed.test) connect6 no_rule" ]]; then
		fail "expected '... cbt_hosts exec-$EXEC_PID pid $PROBE_PID probe tcp [fd42:231:2::20]:8081 (allowed.test) connect6 no_rule' (monitor exit $MON_RC): $line $(<"$T/run/mon.err")"
	else
		pass
	fi
fi

start_test "monitor NAME leaves out the denials of other policies"
if ensure_policy cbt_main && ensure_policy cbt_hosts &&
	start_monitor cbt_hosts --json --count 1 --timeout 10; then
	exec_probe_denied cbt_main tcp 10.231.2.11 8080 x
	exec_probe_denied cbt_hosts tcp 10.231.2.11 8080 x
	wait_monitor
	if ! jq -e --argjson pid "$PROBE_PID" '.policy == "cbt_hosts" and .pid == $pid' \
		>/dev/null <<<"$(head -n1 "$T/run/mon.out")"; then
		fail "expected only the cbt_hosts denial (pid $PROBE_PID): $(<"$T/run/mon.out")"
	else
		pass
	fi
fi

start_test "monitor shows only what happens after it starts"
if ensure_policy cbt_main; then
	# Queued with no reader: the monitor must skip it.
	exec_probe_denied cbt_main tcp 10.231.2.11 8080 queued &&
		start_monitor cbt_main --json --count 1 --timeout 1 && wait_monitor
	if [[ -n $MON_PID ]] || [[ -s $T/run/mon.out ]] || ((MON_RC != 0)); then
		fail "expected no event and exit 0 at the timeout: exit ${MON_RC:-}; $(<"$T/run/mon.out") $(<"$T/run/mon.err")"
	else
		pass
	fi
fi

start_test "monitor ends with exit status 0 on SIGINT and SIGTERM"
if ensure_policy cbt_main; then
	rcs=""
	for sig in INT TERM; do
		start_monitor cbt_main || break
		kill -s "$sig" "$MON_PID"
		wait_monitor
		rcs+="$sig:$MON_RC "
	done
	if [[ $rcs == "INT:0 TERM:0 " ]]; then pass; else fail "expected exit 0 on both: $rcs"; fi
fi

start_test "monitor refuses a policy that is not loaded, and bad numbers"
run "$CBPF" monitor cbt_nosuch
if ((RC != 1)) || [[ $ERR != "claude-bpf: no policy 'cbt_nosuch' is loaded" ]]; then
	fail "expected exit 1 and \"claude-bpf: no policy 'cbt_nosuch' is loaded\": $(ran)"
else
	for bad in "--count 0" "--count 1x" "--count -1" "--timeout 0" "--timeout 2s"; do
		# shellcheck disable=SC2086
		run "$CBPF" monitor cbt_main $bad
		if ((RC != 2)) || [[ $ERR != *"try 'claude-bpf monitor --help'"* ]]; then
			fail "monitor $bad should be a usage error (exit 2): $(ran)"
			break
		fi
	done
	pass
fi
