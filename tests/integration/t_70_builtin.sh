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
