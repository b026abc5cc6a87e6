# TCP Fast Open: sendto(MSG_FASTOPEN) connects and sends in one call, the
# data riding in the SYN once the client holds a cookie for the server.

start_test "TCP Fast Open to an allowed address is delivered"
try_allowed cbt_main tcp-fastopen 10.231.2.10 8080 && pass

start_test "TCP Fast Open to an address without a rule is denied"
try_denied cbt_main tcp-fastopen 10.231.2.11 8080 && pass

start_test "TCP Fast Open with a cached cookie (data in the SYN) to a denied address is denied"
# Two unsandboxed Fast Opens leave a cookie for 10.231.2.11 in the host's
# TCP metrics, so the sandboxed attempt would put its payload in the SYN.
unsandboxed tcp-fastopen 10.231.2.11 8080 cookie-1
unsandboxed tcp-fastopen 10.231.2.11 8080 cookie-2
if ((RC != 0)) || [[ $ERR == *"(0 in the SYN)"* ]]; then
	fail "harness: an unsandboxed Fast Open to 10.231.2.11 did not send its data in the SYN: $(ran)"
else
	try_denied cbt_main tcp-fastopen 10.231.2.11 8080 && pass
fi

start_test "TCP Fast Open over IPv6 to an address without a rule is denied"
try_denied cbt_main tcp-fastopen fd42:231:2::11 8080 && pass
