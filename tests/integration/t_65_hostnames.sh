# Hostname rules: `allowed.test:8080` resolved through the file's own
# `dns 10.231.1.53` (the test's dnsmasq: A 10.231.2.20, AAAA fd42:231:2::20).

start_test "a hostname rule allows the name's IPv4 address (A record)"
try_allowed cbt_hosts tcp 10.231.2.20 8080 && pass

start_test "a hostname rule allows the name's IPv6 address (AAAA record)"
try_allowed cbt_hosts tcp fd42:231:2::20 8080 && pass

start_test "a hostname policy denies addresses the name does not resolve to"
try_denied cbt_hosts tcp 10.231.2.11 8080 &&
	try_denied cbt_hosts tcp 10.231.2.10 8080 &&
	try_denied cbt_hosts tcp fd42:231:2::10 8080 && pass

start_test "status --json names the host behind both resolved addresses"
if ensure_policy cbt_hosts && status_json cbt_hosts; then
	hosts=$(jq -r '.policies[] | select(.name == "cbt_hosts") | .rules[]
		| select(.host == "allowed.test" and .action == "allow" and .port == 8080)
		| .address | sub("/(32|128)$"; "")' <<<"$STATUS" | sort -u | tr '\n' ' ')
	if [[ $hosts != "10.231.2.20 fd42:231:2::20 " ]]; then
		fail "expected allow rules from allowed.test for 10.231.2.20 and fd42:231:2::20 on port 8080, found '$hosts' in: $STATUS"
	else
		pass
	fi
fi
