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

# A DNS filter answers a blocked name with 0.0.0.0 (and ::): no rule is made
# of it (it was an exact allow, reaching the host's own services); load says
# so, status shows the answer as skipped, and the host's loopback listener
# gets nothing.
start_test "a name answered with 0.0.0.0 and :: makes no rule; load says so; status shows it skipped; the host's service is not reached"
printf 'dns 10.231.1.53\nblocked.test:%s\nallowed.test:8080\n' "$HOST_LO_PORT" >"$T/conf/blocked.conf"
if load_policy cbt_blocked "$T/conf/blocked.conf"; then
	load_err=$ERR
	skipped=""
	for ((i = 0; i < 50; i++)); do
		status_json cbt_blocked || break
		skipped=$(jq -r '.policies[0].refresher.hosts[] | select(.name == "blocked.test") | .skipped | join(" ")' <<<"$STATUS")
		[[ -n $skipped ]] && break
		sleep 0.1
	done
	rules=$(jq '[.policies[0].rules[] | select(.host == "blocked.test")] | length' <<<"$STATUS")
	new_payload
	payload=$PAYLOAD
	sandboxed cbt_blocked tcp 0.0.0.0 "$HOST_LO_PORT" "$payload"
	if [[ $load_err != *"'blocked.test' resolved to 0.0.0.0"* || $load_err != *"resolved to ::,"* ]]; then
		fail "load should say blocked.test's 0.0.0.0 and :: answers make no rule: $load_err"
	elif [[ $rules != 0 ]]; then
		fail "no rule should come from blocked.test: $(jq -c '.policies[0].rules' <<<"$STATUS")"
	elif [[ $skipped != "0.0.0.0 ::" && $skipped != ":: 0.0.0.0" ]]; then
		fail "status should show blocked.test's answers skipped, shows '$skipped'"
	elif ((RC != 1)); then
		fail "TCP to 0.0.0.0:$HOST_LO_PORT should be denied with EPERM: $(ran)"
	else
		expect_nothing "" tcp 127.0.0.1 "$HOST_LO_PORT" "$payload" && pass
	fi
fi
