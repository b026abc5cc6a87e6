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
