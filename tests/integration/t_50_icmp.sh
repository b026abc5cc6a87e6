# ICMP and link-layer sockets: raw ICMP sockets (cgroup/sock_create and the
# dropped CAP_NET_RAW), ping sockets (cgroup_skb/egress) and AF_PACKET
# (which no cgroup hook sees: only the capabilities exec drops stop it).
# A denied echo must not reach srv: its InEchos counters must not move.

start_test "a raw ICMP socket cannot be opened inside the sandbox (IPv4)"
unsandboxed raw 10.231.3.5
if ((RC != 0)); then
	fail "harness: the unsandboxed raw echo to 10.231.3.5 failed: $(ran)"
else
	try_echo_denied cbt_main raw 10.231.3.5 &&
		if ((RC != 1)) || [[ $ERR != *socket* ]]; then
			fail "expected socket() to fail with EPERM (exit 1): $(ran)"
		else
			pass
		fi
fi

start_test "a raw ICMPv6 socket cannot be opened inside the sandbox"
try_echo_denied cbt_main raw fd42:231:3::5 &&
	if ((RC != 1)) || [[ $ERR != *socket* ]]; then
		fail "expected socket() to fail with EPERM (exit 1): $(ran)"
	else
		pass
	fi

start_test "ping (ICMP socket) to an address allowed for every protocol is answered"
try_echo_allowed cbt_main ping 10.231.3.5 && pass

start_test "ping to an address without a rule sends nothing"
try_echo_denied cbt_main ping 10.231.2.11 && pass

start_test "ping to an address allowed only on TCP/UDP ports sends nothing"
try_echo_denied cbt_main ping 10.231.2.10 && pass

start_test "ping to an address under a deny rule sends nothing"
try_echo_denied cbt_main ping 10.231.3.130 && pass

start_test "ping over IPv6 to an address allowed for every protocol is answered"
try_echo_allowed cbt_main ping fd42:231:3::5 && pass

start_test "ping over IPv6 to an address without a rule sends nothing"
try_echo_denied cbt_main ping fd42:231:2::11 && pass

# Families no cgroup program sees: exec's system-call filter refuses them
# at socket(), for root too. Root outside the sandbox makes them (AF_PACKET
# everywhere, AF_VSOCK with the vsock module loaded): the control.
for fam in AF_PACKET AF_VSOCK; do
	start_test "an $fam socket cannot be created inside exec, as root or as a user (refused at socket())"
	[[ $fam == AF_VSOCK ]] && modprobe -q vsock 2>/dev/null
	unsandboxed socket "$fam"
	if ! ensure_policy cbt_main; then
		:
	elif ((RC != 0)); then
		fail "harness: root outside the sandbox cannot create an $fam socket either (modprobe vsock?): $(ran)"
	else
		sandboxed cbt_main socket "$fam"
		root_rc=$RC root_out=$(ran)
		# And as a user (the filter, not a missing capability, refuses).
		run "$CBPF" exec --policy cbt_main --user nobody -- "$PROBE" socket "$fam"
		if ((root_rc == 0)); then
			fail "socket($fam) succeeded inside exec as root: $root_out"
		elif [[ $root_out != *EAFNOSUPPORT* ]]; then
			fail "socket($fam) failed as root, but not with the filter's EAFNOSUPPORT: $root_out"
		elif ((RC == 0)) || [[ $ERR != *EAFNOSUPPORT* ]]; then
			fail "socket($fam) inside exec as nobody should be refused with EAFNOSUPPORT: $(ran)"
		else
			pass
		fi
	fi
done
