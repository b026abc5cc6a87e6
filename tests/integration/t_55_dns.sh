# shellcheck shell=bash
# DNS in both modes. Direct (load --dns direct): the policy's `dns
# 10.231.1.53` line opens port 53 of that resolver only, not port 53
# everywhere as the old design did. Forward (the default for a file): every
# query goes to the policy's forwarder, whatever address it was sent to
# (t_56 tests the forwarder itself).

start_test "direct: UDP to port 53 of the policy's dns resolver is allowed"
load_policy cbt_direct --dns direct "$T/conf/main.conf" && new_payload &&
	sandboxed cbt_direct udp-sendto "$DNS_V4" 53 "$PAYLOAD" &&
	if ((RC != 0)); then
		fail "udp-sendto $DNS_V4 53 should be allowed: $(ran)"
	else
		pass
	fi

start_test "direct: a DNS query from the sandbox reaches the dns resolver and is answered"
ensure_policy cbt_direct && sandboxed cbt_direct dns "$DNS_V4" allowed.test A &&
	if ((RC != 0)) || [[ $OUT != 10.231.2.20 ]]; then
		fail "expected the answer 10.231.2.20: $(ran)"
	else
		pass
	fi

start_test "direct: UDP to port 53 of another address is denied"
try_denied cbt_direct udp-sendto 10.231.2.11 53 && pass

start_test "direct: status says the mode"
policy_field cbt_direct dns &&
	if [[ $(jq -r .mode <<<"$FIELD") != direct ]]; then
		fail "status --json dns.mode of cbt_direct: $FIELD"
	else
		pass
	fi

start_test "forward: a query for a name the file allows is answered through the forwarder"
ensure_policy cbt_hosts && sandboxed cbt_hosts dns "$DNS_V4" allowed.test A &&
	if ((RC != 0)) || [[ $OUT != 10.231.2.20 ]]; then
		fail "expected the answer 10.231.2.20: $(ran)"
	else
		pass
	fi

start_test "forward: UDP to port 53 of another address goes to the forwarder, never there"
ensure_policy cbt_main && new_payload && sandboxed cbt_main udp-sendto 10.231.2.11 53 "$PAYLOAD" &&
	if ((RC != 0)); then
		fail "the send is redirected, not refused: $(ran)"
	else
		expect_nothing srv udp 10.231.2.11 53 "$PAYLOAD" && pass
	fi

start_test "forward: TCP to port 53 of another address reaches the forwarder, never there"
ensure_policy cbt_main && new_payload && sandboxed cbt_main tcp 10.231.2.11 53 "$PAYLOAD" &&
	if ((RC != 0)); then
		fail "the connect is redirected, not refused: $(ran)"
	else
		expect_nothing srv tcp 10.231.2.11 53 "$PAYLOAD" && pass
	fi
