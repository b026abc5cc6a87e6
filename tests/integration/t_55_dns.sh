# DNS: the policy's `dns 10.231.1.53` line opens port 53 of that resolver
# only, not port 53 everywhere as the old design did.

start_test "UDP to port 53 of the policy's dns resolver is allowed"
ensure_policy cbt_main && new_payload && sandboxed cbt_main udp-sendto "$DNS_V4" 53 "$PAYLOAD" &&
	if ((RC != 0)); then
		fail "udp-sendto $DNS_V4 53 should be allowed: $(ran)"
	else
		pass
	fi

start_test "a DNS query from the sandbox reaches the dns resolver and is answered"
ensure_policy cbt_main && sandboxed cbt_main dns "$DNS_V4" allowed.test A &&
	if ((RC != 0)) || [[ $OUT != 10.231.2.20 ]]; then
		fail "expected the answer 10.231.2.20: $(ran)"
	else
		pass
	fi

start_test "UDP to port 53 of another address is denied"
try_denied cbt_main udp-sendto 10.231.2.11 53 && pass
