# Loopback: the host's loopback is off limits from the host's network
# namespace (a local service is not the agent's), while a private
# namespace's own loopback is harmless and allowed.

start_test "TCP to the host's 127.0.0.1 from the host namespace is denied"
try_denied cbt_main tcp 127.0.0.1 "$HOST_LO_PORT" "" && pass

start_test "TCP to the host's ::1 from the host namespace is denied"
try_denied cbt_main tcp ::1 "$HOST_LO_PORT" "" && pass

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
