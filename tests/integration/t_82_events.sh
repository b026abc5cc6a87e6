# Deny events in the pinned ring buffer: who was denied, where to, and why.

# One JSON event line for a denied TCP connect to 10.231.2.11:8080, read by
# the events tool while the probe runs in the sandbox as a known pid.
start_test "a denied connect sends one event with pid, command, destination and reason"
if ensure_policy cbt_main && policy_field cbt_main cgroup_id; then
	policy_cg=$FIELD
	"$EVENTS" 1 10 probe >"$T/run/events" 2>"$T/run/events.err" &
	ev_pid=$!
	wait_for_line "$T/run/events" ready || fail "the events tool did not start: $(<"$T/run/events.err")"
	run "$CBPF" exec --policy cbt_main -- sh -c "echo \$\$ >$T/run/probe.pid; exec $PROBE tcp 10.231.2.11 8080 x"
	wait "$ev_pid"
	ev=$(grep '^{' "$T/run/events" | head -n1)
	want_pid=$(<"$T/run/probe.pid")
	if ((RC != 1)); then
		fail "the connect should have been denied: $(ran)"
	elif [[ -z $ev ]]; then
		fail "no event arrived: $(<"$T/run/events") $(<"$T/run/events.err")"
	elif ! jq -e --argjson pid "$want_pid" --argjson cg "$policy_cg" \
		'.pid == $pid and .comm == "probe" and .addr == "10.231.2.11" and .port == 8080
		 and .proto == 6 and .hook == 0 and .reason == 1 and .policy_cgroup_id == $cg
		 and .cgroup_id != $cg and .policy > 0' >/dev/null <<<"$ev"; then
		fail "the event does not describe the denial (want pid $want_pid, comm probe, 10.231.2.11:8080, tcp, connect4, no_rule, policy cgroup $policy_cg): $ev"
	else
		pass
	fi
fi

start_test "a denied IPv6 UDP send names the sendmsg6 hook and the address"
if ensure_policy cbt_main; then
	"$EVENTS" 1 10 probe >"$T/run/events" 2>"$T/run/events.err" &
	ev_pid=$!
	wait_for_line "$T/run/events" ready || fail "the events tool did not start"
	sandboxed cbt_main udp-sendto fd42:231:2::11 8080 x
	wait "$ev_pid"
	ev=$(grep '^{' "$T/run/events" | head -n1)
	if ! jq -e '.addr == "fd42:231:2::11" and .port == 8080 and .proto == 17
		    and .hook == 3 and .reason == 1 and .comm == "probe"' >/dev/null <<<"$ev"; then
		fail "expected a sendmsg6 event for fd42:231:2::11:8080: $ev ($(ran))"
	else
		pass
	fi
fi
