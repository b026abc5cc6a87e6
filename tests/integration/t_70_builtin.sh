# The built-in policies: --internet (public addresses only: every test
# address is RFC 1918 or ULA, so all of them are denied) and --none.

start_test "--internet denies TCP to RFC 1918 addresses"
try_denied cbt_inet tcp 10.231.2.10 8080 &&
	try_denied cbt_inet tcp 10.231.3.5 8080 && pass

start_test "--internet denies TCP to IPv6 unique local addresses"
try_denied cbt_inet tcp fd42:231:2::10 8080 && pass

start_test "--internet denies UDP to RFC 1918 addresses"
try_denied cbt_inet udp-sendto 10.231.2.10 8080 && pass

start_test "--internet denies the host's loopback"
try_denied cbt_inet tcp 127.0.0.1 "$HOST_LO_PORT" "" && pass

start_test "--internet denies ping to RFC 1918 addresses"
try_echo_denied cbt_inet ping 10.231.3.5 && pass

start_test "--none denies TCP over IPv4 and IPv6"
try_denied cbt_none tcp 10.231.2.10 8080 &&
	try_denied cbt_none tcp fd42:231:2::10 8080 &&
	try_denied cbt_none tcp ::ffff:10.231.2.10 8080 && pass

start_test "--none denies UDP, connected or not"
try_denied cbt_none udp-sendto 10.231.2.10 8080 &&
	try_denied cbt_none udp-connect fd42:231:2::10 8080 && pass

start_test "--none denies DNS"
if ensure_policy cbt_none; then
	name=none-$$-$TEST_NO.test
	sandboxed cbt_none dns "$DNS_V4" "$name" A
	if ((RC != 1)); then
		fail "a DNS query from --none should be denied with EPERM (exit 1): $(ran)"
	else
		# A query from outside, then the log: the denied one never came.
		"$PROBE" dns "$DNS_V4" "sync-$name" A >/dev/null 2>&1
		if ! wait_for_line_part "$T/dnsmasq.log" "sync-$name"; then
			fail "harness: dnsmasq did not log the unsandboxed query"
		elif grep -qF " $name " "$T/dnsmasq.log"; then
			fail "dnsmasq received the denied query for $name"
		else
			pass
		fi
	fi
fi

start_test "--none denies ping and the host's loopback"
try_echo_denied cbt_none ping 10.231.3.5 &&
	try_denied cbt_none tcp 127.0.0.1 "$HOST_LO_PORT" "" && pass

# IPv6 routes into private IPv4 space: NAT64 (64:ff9b::/96) and 6to4
# (2002::/16) forms of 10.10.10.10, hosts in the test namespace. A policy
# that names them reaches the listener (the control); --internet does not.
for a in "$NAT64_V6" "$SIXTOFOUR_V6"; do
	start_test "--internet denies $a (an IPv6 route into private IPv4); a policy naming it reaches it"
	if [[ $LOADED_POLICIES != *" cbt_v6map "* ]]; then
		printf '[%s]:8080\n' "$NAT64_V6" "$SIXTOFOUR_V6" >"$T/conf/v6map.conf"
		load_policy cbt_v6map "$T/conf/v6map.conf"
	fi
	if [[ $LOADED_POLICIES == *" cbt_v6map "* ]]; then
		try_allowed cbt_v6map tcp "$a" 8080 &&
			try_denied cbt_inet tcp "$a" 8080 && pass
	fi
done

# --internet allows the public internet: PUB_V6, a public address routed to
# srv, is reached.
start_test "--internet allows TCP to a public IPv6 address"
try_allowed cbt_inet tcp "$PUB_V6" 8080 && pass

# --internet keeps the host's own prefixes current. The policy is loaded
# from a network namespace of this test's (nsenter: the network alone, so
# the bpffs and cgroups stay the host's), whose addresses its watcher takes
# for the host's. PUB_V6 is allowed until that namespace has an address in
# PUB_V6's /64, denied while it has one, and allowed again once it goes.
INW_NS=cbt-inw-$$
INW_DEV=cbt-w0-$$
inw_cleanup() {
	ip netns del "$INW_NS" 2>/dev/null
}
CLEANUP_HOOKS+=(inw_cleanup)

# inw_rule_count PREFIX: how many deny rules for PREFIX cbt_inetw has, into
# FIELD.
inw_rule_count() {
	status_json cbt_inetw || return 1
	FIELD=$(jq --arg p "$1" '[.policies[] | select(.name == "cbt_inetw") | .rules[] |
		select(.action == "deny" and .address == $p)] | length' <<<"$STATUS")
}

# inw_await_rules PREFIX N: waits (5 s at most) until cbt_inetw has N deny
# rules for PREFIX.
inw_await_rules() {
	local i

	for ((i = 0; i < 50; i++)); do
		inw_rule_count "$1" || return 1
		[[ $FIELD == "$2" ]] && return 0
		sleep 0.1
	done
	fail "policy cbt_inetw has $FIELD deny rules for $1 after 5 s, not $2: $STATUS"
	return 1
}

start_test "--internet denies a prefix the host gains after load, and allows it again once it goes"
if net_do ip netns add "$INW_NS" &&
	net_do ip -n "$INW_NS" link set lo up &&
	net_do ip -n "$INW_NS" link add "$INW_DEV" type veth peer name "$INW_DEV-p" &&
	net_do ip -n "$INW_NS" link set "$INW_DEV" up; then
	run nsenter --net="/run/netns/$INW_NS" "$CBPF" load --name cbt_inetw --internet
	if ((RC != 0)); then
		fail "claude-bpf load --internet in $INW_NS: $(ran)"
	elif LOADED_POLICIES+="cbt_inetw " && ! policy_field cbt_inetw refresher; then
		:   # policy_field failed the test
	elif [[ $(jq -r .pid <<<"$FIELD") == 0 ]]; then
		fail "load --internet left no address watcher: $FIELD"
	elif try_allowed cbt_inetw tcp "$PUB_V6" 8080 &&
		net_do ip -n "$INW_NS" addr add "${PUB_V6%::*}::1/64" dev "$INW_DEV" nodad &&
		inw_await_rules "${PUB_V6%::*}::/64" 1 &&
		try_denied cbt_inetw tcp "$PUB_V6" 8080 &&
		net_do ip -n "$INW_NS" addr del "${PUB_V6%::*}::1/64" dev "$INW_DEV" &&
		inw_await_rules "${PUB_V6%::*}::/64" 0 &&
		try_allowed cbt_inetw tcp "$PUB_V6" 8080; then
		pass
	fi
fi
