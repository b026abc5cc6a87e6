# shellcheck shell=bash
# The DNS forwarder (load --dns forward, the default for a file): every DNS
# query from inside the policy goes to the policy's forwarder, whatever
# address it was sent to; it answers the file's names only, and the
# addresses of an answer are in the policy before the answer is back.
#
# The upstream, a name server that rotates its answers, is in dnsfwd.sh.

# shellcheck source=dnsfwd.sh
. "$ROOT/tests/integration/dnsfwd.sh"

# df_start NAME ARGS...: `load --foreground ARGS... CONF` in the background
# (its log in $DF_DIR/fg.err), waited for until its forwarder listens.
df_start() {
	local name=$1

	shift
	start_foreground "$name" "$DF_DIR/fg" "DNS forwarder on" --grace 1 "$@" \
		"$DF_DIR/fwd.conf" || return 1
	DF_FG_PID=$FG_PID
	LOADED_POLICIES+="$name "
}

# df_rcode POLICY SERVER NAME TYPE: DF_RC is the answer code the sandboxed
# probe's query got (0 answered; 5 refused; "none": no answer at all).
df_rcode() {
	sandboxed "$1" dns "$2" "$3" "$4"
	if ((RC == 0)); then
		DF_RC=0
	elif [[ $ERR =~ "DNS answer code "([0-9]+) ]]; then
		DF_RC=${BASH_REMATCH[1]}
	else
		DF_RC=none
	fi
}

if ! [[ -x $DNSD ]]; then
	start_test "the DNS forwarder's tests have their test server"
	fail "no $DNSD (make builds it)"
elif ! df_net; then
	start_test "the DNS forwarder's test network is set up"
	fail "set-up failed (above)"
else
	df_conf

	start_test "check counts a file's wildcards (forward mode); check --dns direct and load --dns direct refuse them with FILE:LINE"
	run "$CBPF" check "$DF_DIR/fwd.conf"
	out1=$OUT rc1=$RC
	run "$CBPF" check --dns direct "$DF_DIR/fwd.conf"
	err2=$ERR rc2=$RC
	run "$CBPF" load --name cbt_fwddirect --dns direct "$DF_DIR/fwd.conf"
	if ((rc1 != 0)) || [[ $out1 != *", 1 wildcards "* ]]; then
		fail "check should count one wildcard: exit $rc1: $out1"
	elif ((rc2 != 1)) || [[ $err2 != *"fwd.conf:5: wildcard '*.wild.test' needs the DNS forwarder"* ]]; then
		fail "check --dns direct should refuse line 5: exit $rc2: $err2"
	elif ((RC != 1)) || [[ $ERR != *"fwd.conf:5: wildcard"* ]]; then
		fail "load --dns direct should refuse line 5: $(ran)"
		run "$CBPF" unload cbt_fwddirect
	else
		pass
	fi

	start_test "load --foreground starts the policy's DNS forwarder"
	df_start cbt_fwd && pass

	for combo in "A udp $DF_FOREIGN_V4 8443" "A tcp $DF_FOREIGN_V4 8443" \
		"AAAA udp $DF_FOREIGN_V6 8444" "AAAA tcp $DF_FOREIGN_V6 8444"; do
		read -r qtype transport server port <<<"$combo"
		start_test "100 of 100 resolve-then-connect to a name that rotates: $qtype over $transport DNS, sent to $server"
		sandboxed cbt_fwd resolve-connect "$server" cdn.test "$qtype" "$transport" "$port" 100
		if ((RC != 0)) || [[ $OUT != *"ok 100 of 100"* ]]; then
			fail "expected ok 100 of 100: $(ran)"
		else
			pass
		fi
	done

	start_test "the upstream saw the rotating queries (the positive control of the query log)"
	n=$(df_upstream_saw "cdn.test A")
	if ((n < 200)); then
		fail "dnsd logged $n queries for cdn.test A, expected 200 or more: $(tail -5 "$DF_DIR/dnsd.log")"
	else
		pass
	fi

	start_test "a name the file does not allow is refused by the forwarder, never sent upstream (policy's resolver, foreign resolver, TCP)"
	label=x$RANDOM$RANDOM.leak.test
	bad=""
	df_rcode cbt_fwd "$DF_UP_V4" "$label" A
	[[ $DF_RC == 5 ]] || bad+=" to the upstream's address: rcode $DF_RC;"
	df_rcode cbt_fwd "$DF_FOREIGN_V4" "$label" AAAA
	[[ $DF_RC == 5 ]] || bad+=" to a foreign resolver: rcode $DF_RC;"
	sandboxed cbt_fwd resolve-connect "$DF_UP_V4" "$label" A tcp 8443 1
	[[ $OUT == *"rcode 5"* ]] || bad+=" over TCP: $(ran);"
	n=$(df_upstream_saw "$label")
	if [[ -n $bad ]] || ((n != 0)); then
		fail "refused expected everywhere:$bad upstream logged it $n times"
	else
		pass
	fi

	start_test "a name from resolv.conf's resolver (getaddrinfo) is answered through the forwarder, a refused one never reaches upstream"
	printf 'nameserver %s\n' "$DF_FOREIGN_V4" >"$DF_DIR/resolv.conf"
	label=y$RANDOM$RANDOM.leak.test
	run unshare -m sh -c 'mount --bind "$1" /etc/resolv.conf && "$2" exec --policy cbt_fwd -- getent ahostsv4 cdn.test &&
		! "$2" exec --policy cbt_fwd -- getent ahostsv4 "$3"' sh "$DF_DIR/resolv.conf" "$CBPF" "$label"
	if ((RC != 0)) || [[ $OUT != *10.231.60.* ]]; then
		fail "getent through resolv.conf: $(ran)"
	elif [[ $(df_upstream_saw "$label") != 0 ]]; then
		fail "the upstream saw $label"
	else
		pass
	fi

	start_test "*.wild.test answers a.wild.test and a.b.wild.test, refuses wild.test"
	df_rcode cbt_fwd "$DF_FOREIGN_V4" a.wild.test A; r1=$DF_RC
	df_rcode cbt_fwd "$DF_FOREIGN_V4" a.b.wild.test A; r2=$DF_RC
	df_rcode cbt_fwd "$DF_FOREIGN_V4" wild.test A; r3=$DF_RC
	if [[ $r1/$r2/$r3 != 0/0/5 ]]; then
		fail "rcodes a.wild.test $r1, a.b.wild.test $r2, wild.test $r3 (expected 0/0/5)"
	else
		sandboxed cbt_fwd resolve-connect "$DF_FOREIGN_V4" deep.er.wild.test A udp 8443 5
		if ((RC != 0)); then
			fail "resolve-connect under the wildcard: $(ran)"
		else
			pass
		fi
	fi

	start_test "a CNAME chain to names the file does not list: the chain's addresses are allowed for the name"
	sandboxed cbt_fwd resolve-connect "$DF_FOREIGN_V4" alias.test A udp 8443 10
	if ((RC != 0)); then
		fail "resolve-connect alias.test: $(ran)"
	else
		df_rcode cbt_fwd "$DF_FOREIGN_V4" target.elsewhere.test A
		if [[ $DF_RC != 5 ]]; then
			fail "the chain's target asked by itself should be refused: rcode $DF_RC"
		else
			pass
		fi
	fi

	start_test "addresses learned are attributed to their names in status and refusals are counted as dns_name"
	status_json cbt_fwd &&
		if ! jq -e '.policies[] | select(.name == "cbt_fwd") | .rules[] | select(.host == "alias.test")' <<<"$STATUS" >/dev/null; then
			fail "no rule attributed to alias.test: $STATUS"
		elif ! jq -e '.policies[] | select(.name == "cbt_fwd") | .denied.dns_name >= 3' <<<"$STATUS" >/dev/null; then
			fail "dns_name count missing or below 3: $STATUS"
		elif ! jq -e '.policies[] | select(.name == "cbt_fwd") | .dns.mode == "forward"' <<<"$STATUS" >/dev/null; then
			fail "status does not say the policy is in forward mode: $STATUS"
		else
			pass
		fi

	start_test "DNS over TLS (853) is denied"
	start_listener srv tcp "$DF_FOREIGN_V4" 853 &&
		try_denied cbt_fwd tcp "$DF_FOREIGN_V4" 853 && pass

	start_test "a reload that removes a name refuses its next query"
	sed -i '/wild.test/d' "$DF_DIR/fwd.conf"
	hup_wait "$DF_FG_PID" "$DF_DIR/fg.err" "reloaded" 1 && {
		df_rcode cbt_fwd "$DF_FOREIGN_V4" a.wild.test A
		if [[ $DF_RC != 5 ]]; then
			fail "a.wild.test after the reload: rcode $DF_RC, expected 5"
		else
			pass
		fi
	}
	df_conf

	start_test "with the forwarder killed, DNS fails and nothing goes upstream; learned addresses expire on time"
	sandboxed cbt_fwd dns "$DF_FOREIGN_V4" cdn.test A
	addr=$OUT
	t0=$(date +%s%N)
	kill -KILL "$DF_FG_PID"
	wait "$DF_FG_PID" 2>/dev/null
	DF_FG_PID=""
	sandboxed cbt_fwd tcp "$addr" 8443 x; r0=$RC
	before=$(df_upstream_saw "cdn.test")
	df_rcode cbt_fwd "$DF_FOREIGN_V4" cdn.test A; r1=$DF_RC
	df_rcode cbt_fwd "$DF_UP_V4" cdn.test A; r2=$DF_RC
	after=$(df_upstream_saw "cdn.test")
	# TTL 2 s, grace 1 s: allowed until 3 s after the answer.
	while (($(date +%s%N) - t0 < 3500000000)); do sleep 0.1; done
	denied_count cbt_fwd expired && expired=$COUNT
	sandboxed cbt_fwd tcp "$addr" 8443 x; r3=$RC
	if [[ ! $addr =~ ^10\.231\.60\. ]] || ((r0 != 0)); then
		fail "the learned address '$addr' should be allowed right after the answer: exit $r0"
	elif [[ $r1 != none || $r2 != none ]] || ((after != before)); then
		fail "with the forwarder gone: rcodes $r1, $r2 (expected no answer), upstream queries $before -> $after"
	elif ((r3 != 1)) || [[ $ERR != *" (denied)"* ]]; then
		fail "$addr 3.5 s after its answer should be denied: $(ran)"
	elif denied_rose cbt_fwd expired "$expired"; then
		pass
	fi
	start_test "a new load of the policy keeps what its forwarder learned: a learned address stays allowed, under its name"
	load_policy cbt_fwdkeep --grace 30 "$DF_DIR/fwd.conf" &&
		sandboxed cbt_fwdkeep dns "$DF_FOREIGN_V4" a.wild.test A && {
		addr=$OUT
		if ! load_policy cbt_fwdkeep --grace 30 "$DF_DIR/fwd.conf"; then
			:
		elif ! sandboxed cbt_fwdkeep tcp "$addr" 8443 x || ((RC != 0)); then
			fail "$addr, learned before the new load, should stay allowed: $(ran)"
		elif status_json cbt_fwdkeep && ! jq -e --arg a "$addr" '.policies[] |
			select(.name == "cbt_fwdkeep") | .rules[] | select(.address == $a and .host == "a.wild.test")' \
			>/dev/null <<<"$STATUS"; then
			fail "no rule for $addr under a.wild.test after the new load: $STATUS"
		else
			pass
		fi
		run "$CBPF" unload cbt_fwdkeep
		LOADED_POLICIES=${LOADED_POLICIES/ cbt_fwdkeep / }
	}

	start_test "the learned-address bound is reached: the forwarder refuses the answer (SERVFAIL) and says so"
	load_policy cbt_fwdmax --grace 30 --dns-max 3 "$DF_DIR/fwd.conf" && {
		codes=""
		for i in 1 2 3 4; do
			df_rcode cbt_fwdmax "$DF_FOREIGN_V4" cdn.test A
			codes+="$DF_RC "
		done
		sleep 1.2   # the state file is rewritten every second
		status_json cbt_fwdmax
		if [[ $codes != "0 0 0 2 " ]]; then
			fail "rcodes $codes, expected 0 0 0 2"
		elif ! jq -e '.policies[] | select(.name == "cbt_fwdmax") | .dns.bound_refused >= 1 and .dns.learned == 3' <<<"$STATUS" >/dev/null; then
			fail "status should count the refusal and 3 learned: $STATUS"
		else
			pass
		fi
		run "$CBPF" unload cbt_fwdmax
	}

	run "$CBPF" unload cbt_fwd
	LOADED_POLICIES=${LOADED_POLICIES/ cbt_fwd / }
fi
