# CIDR rules with a deny rule inside: 10.231.3.0/24:* allowed but
# 10.231.3.128/25 denied; [fd42:231:3::/64]:* allowed but ::80/121 denied.

start_test "an address inside an allowed IPv4 CIDR is reachable on any port"
try_allowed cbt_main tcp 10.231.3.5 8080 && pass

start_test "a deny rule inside an allowed IPv4 CIDR wins (longer prefix)"
try_denied cbt_main tcp 10.231.3.130 8080 && pass

start_test "an address inside an allowed IPv6 CIDR is reachable on any port"
try_allowed cbt_main tcp fd42:231:3::5 8080 && pass

start_test "a deny rule inside an allowed IPv6 CIDR wins (longer prefix)"
try_denied cbt_main tcp fd42:231:3::85 8080 && pass

# `deny` without a port is all of the range: every port and protocol (it
# was 80 and 443 alone).
start_test "deny without a port denies every port and ICMP inside an allowed range"
cat >"$T/conf/denyall.conf" <<-'EOF'
	10.231.3.0/24:*
	deny 10.231.3.128/25
	EOF
if [[ $LOADED_POLICIES == *" cbt_denyall "* ]] || load_policy cbt_denyall "$T/conf/denyall.conf"; then
	try_allowed cbt_denyall tcp 10.231.3.5 8080 &&
		try_denied cbt_denyall tcp 10.231.3.130 8080 &&
		try_echo_denied cbt_denyall ping 10.231.3.130 && pass
fi
