# Loopback: the host's loopback is off limits from the host's network
# namespace (a local service is not the agent's), while a private
# namespace's own loopback is harmless and allowed.

start_test "TCP to the host's 127.0.0.1 from the host namespace is denied"
try_denied cbt_main tcp 127.0.0.1 "$HOST_LO_PORT" "" && pass

start_test "TCP to the host's ::1 from the host namespace is denied"
try_denied cbt_main tcp ::1 "$HOST_LO_PORT" "" && pass

# Ping reaches no socket hook, only cgroup_skb/egress: on kernels whose
# egress program cannot name the packet's namespace (6.1, 6.12) it is taken
# for the host's. The control: the same ping outside the sandbox is
# answered. The denial: the policy counts it as loopback.
for lo in 127.0.0.1 ::1; do
	start_test "ping to the host's $lo from the host namespace is denied (reason loopback); outside the sandbox it is answered"
	if ensure_policy cbt_main && denied_count cbt_main loopback; then
		before=$COUNT
		unsandboxed ping "$lo"
		ctrl=$RC
		sandboxed cbt_main ping "$lo"
		rc=$RC out=$(ran)
		if ((ctrl != 0)); then
			fail "harness: ping $lo outside the sandbox is not answered (exit $ctrl)"
		elif ((rc != 1 && rc != 3)) || { ((rc == 1)) && [[ $out != *" (denied)"* ]]; }; then
			fail "ping $lo inside the sandbox should be denied (the probe's EPERM, exit 1) or unanswered (exit 3): $out"
		else
			denied_rose cbt_main loopback "$before" && pass
		fi
	fi
done

# exec --netns joins the namespace itself: `ip netns exec` inside exec would
# lack CAP_SYS_ADMIN, and outside it would hide the cgroup (fresh /sys).
loopback_in_private_ns() {
	ensure_policy cbt_main || return 1
	new_payload
	run "$CBPF" exec --policy cbt_main --netns "$NS_PRIV" -- \
		"$PROBE" tcp "$1" 8080 "$PAYLOAD"
	if ((RC != 0)); then
		fail "tcp $1 8080 inside $NS_PRIV should be allowed: $(ran)"
		return 1
	fi
	expect_received priv tcp "$1" 8080 "$PAYLOAD"
}

start_test "TCP to 127.0.0.1 inside a private network namespace is allowed"
loopback_in_private_ns 127.0.0.1 && pass

start_test "TCP to ::1 inside a private network namespace is allowed"
loopback_in_private_ns ::1 && pass

# Only 0.0.0.0 itself is the local host; the rest of 0.0.0.0/8 is routed as
# unicast, so it is judged by the rules, not let through as a namespace's
# own loopback. No rule names it: EPERM from the connect hook, counted as
# no_rule (before, the attempt passed the hook and met the missing route).
start_test "TCP to 0.1.2.3 inside a private namespace is judged by the rules (EPERM, no_rule), not taken for loopback"
if ensure_policy cbt_main; then
	before=$("$CBPF" status cbt_main --json 2>/dev/null | jq -r '.policies[0].denied.no_rule // empty')
	run "$CBPF" exec --policy cbt_main --netns "$NS_PRIV" -- "$PROBE" tcp 0.1.2.3 8080 x
	after=$("$CBPF" status cbt_main --json 2>/dev/null | jq -r '.policies[0].denied.no_rule // empty')
	if ((RC != 1)) || [[ $ERR != *EPERM* ]]; then
		fail "connect to 0.1.2.3 should be refused with EPERM by the policy: $(ran)"
	elif [[ -z $before || -z $after ]] || ((after <= before)); then
		fail "the policy should count a no_rule denial: before '$before', after '$after'"
	else
		pass
	fi
fi
