# TCP through cgroup/connect4 and connect6, against the main policy
# (10.231.2.10 and fd42:231:2::10 allowed on port 8080, .11 and ::11 not).

start_test "TCP over IPv4 to an allowed address and port is delivered"
try_allowed cbt_main tcp 10.231.2.10 8080 && pass

start_test "TCP over IPv4 to an address without a rule is denied"
try_denied cbt_main tcp 10.231.2.11 8080 && pass

start_test "TCP over IPv4 to an allowed address on a port without a rule is denied"
try_denied cbt_main tcp 10.231.2.10 8081 && pass

start_test "TCP over IPv6 to an allowed address and port is delivered"
try_allowed cbt_main tcp fd42:231:2::10 8080 && pass

start_test "TCP over IPv6 to an address without a rule is denied"
try_denied cbt_main tcp fd42:231:2::11 8080 && pass

start_test "TCP over IPv6 to an allowed address on a port without a rule is denied"
try_denied cbt_main tcp fd42:231:2::10 8081 && pass

start_test "TCP to a v4-mapped IPv6 address allowed by an IPv4 rule is delivered"
try_allowed cbt_main tcp ::ffff:10.231.2.10 8080 && pass

start_test "TCP to a v4-mapped IPv6 address without an IPv4 rule is denied"
try_denied cbt_main tcp ::ffff:10.231.2.11 8080 && pass

start_test "TCP to a v4-mapped IPv6 address on a port without a rule is denied"
try_denied cbt_main tcp ::ffff:10.231.2.10 8081 && pass

start_test "a /tcp rule allows TCP to its port"
try_allowed cbt_main tcp 10.231.2.10 9000 && pass
