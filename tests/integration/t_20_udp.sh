# UDP: unconnected sends through cgroup/sendmsg4 and sendmsg6, connected
# UDP through connect4 and connect6.

start_test "unconnected UDP over IPv4 to an allowed address is delivered"
try_allowed cbt_main udp-sendto 10.231.2.10 8080 && pass

start_test "unconnected UDP over IPv4 to an address without a rule is denied"
try_denied cbt_main udp-sendto 10.231.2.11 8080 && pass

start_test "unconnected UDP over IPv6 to an allowed address is delivered"
try_allowed cbt_main udp-sendto fd42:231:2::10 8080 && pass

start_test "unconnected UDP over IPv6 to an address without a rule is denied"
try_denied cbt_main udp-sendto fd42:231:2::11 8080 && pass

start_test "unconnected UDP to a v4-mapped IPv6 address follows the IPv4 rules"
try_allowed cbt_main udp-sendto ::ffff:10.231.2.10 8080 &&
	try_denied cbt_main udp-sendto ::ffff:10.231.2.11 8080 && pass

start_test "connected UDP over IPv4 to an allowed address is delivered"
try_allowed cbt_main udp-connect 10.231.2.10 8080 && pass

start_test "connected UDP over IPv4 to an address without a rule is denied"
try_denied cbt_main udp-connect 10.231.2.11 8080 && pass

start_test "connected UDP over IPv6: allowed address delivered, other address denied"
try_allowed cbt_main udp-connect fd42:231:2::10 8080 &&
	try_denied cbt_main udp-connect fd42:231:2::11 8080 && pass

start_test "a /tcp rule does not allow UDP to its port"
try_denied cbt_main udp-sendto 10.231.2.10 9000 &&
	try_denied cbt_main udp-connect 10.231.2.10 9000 && pass
