# claude-bpf selftest: the leak matrix run from inside a policy toward the
# suite's own hosts (never the documentation addresses it aims at by
# default), each route's outcome checked at the listeners too: nothing that
# selftest reports blocked may have arrived.
# shellcheck disable=SC2016

ST_V4=10.231.2.11          # no rule in cbt_main
ST_V6=fd42:231:2::11
ST_PORT=$HOST_LO_PORT      # the host's loopback listeners are on it too
ST_TARGETS=(--target "$ST_V4" --target "$ST_V6" --port "$ST_PORT")
ST_ROUTES=(tcp tcp-v4mapped udp-sendto udp-connect tcp-fastopen raw ping socket-family
	dns-udp dns-tcp allowed-addr-other-port new-netns-tcp new-netns-udp
	nested-cgroup-tcp host-loopback-tcp)

# A policy of its own with the main test rules: earlier files may have
# unloaded the suite's cbt_main (t_90 unloads everything).
st_policy() {
	[[ $LOADED_POLICIES == *" cbt_st "* ]] && return 0
	load_policy cbt_st "$T/conf/main.conf"
}

# Listeners for every destination selftest aims at: the two targets on the
# test port and on 53, TCP and UDP (some exist already).
st_listeners() {
	local a p proto

	for a in "$ST_V4" "$ST_V6"; do
		for p in "$ST_PORT" 53; do
			for proto in tcp udp; do
				[[ -n ${LISTENER_LOG["srv $proto $a $p"]:-} ]] && continue
				start_listener srv "$proto" "$a" "$p" || return 1
			done
		done
	done
}

# st_nothing_arrived: no listener selftest aimed at logged its marker (a
# line containing claude-bpf-selftest, the DNS query's name included), and
# srv received no echo request. Each listener is synced first with a marker
# sent from outside the sandbox, so anything sent before it has arrived.
st_nothing_arrived() {
	local key proto addr port log kind

	for key in "srv tcp $ST_V4 $ST_PORT" "srv udp $ST_V4 $ST_PORT" "srv tcp $ST_V6 $ST_PORT" \
		"srv udp $ST_V6 $ST_PORT" "srv tcp $ST_V4 53" "srv udp $ST_V4 53" \
		"srv tcp $ST_V6 53" "srv udp $ST_V6 53" "srv tcp 10.231.2.10 8081" \
		" tcp 127.0.0.1 $HOST_LO_PORT" " tcp ::1 $HOST_LO_PORT"; do
		read -r proto addr port <<<"${key#* }"
		log=${LISTENER_LOG["$key"]:-}
		[[ -n $log ]] || { fail "harness: no listener '$key'"; return 1; }
		new_payload
		[[ $proto == tcp ]] && kind=tcp || kind=udp-sendto
		"$PROBE" "$kind" "$addr" "$port" "sync-$PAYLOAD" 2>/dev/null
		if ! wait_for_line "$log" "sync-$PAYLOAD"; then
			fail "harness: the unsandboxed marker did not reach $key"
			return 1
		fi
		if grep -qF claude-bpf-selftest "$log"; then
			fail "the listener $key received selftest's traffic although selftest reported it blocked: $(grep -aF claude-bpf-selftest "$log" | head -3)"
			return 1
		fi
	done
}

start_test "selftest: every route from inside the main test policy toward its denied hosts is blocked, and nothing arrives"
if st_policy && st_listeners; then
	echos_mark
	run "$CBPF" selftest --policy cbt_st "${ST_TARGETS[@]}"
	missing=""
	for r in "${ST_ROUTES[@]}"; do
		grep -qE "^$r +[^ ]+ +blocked " <<<"$OUT" || missing+=" $r"
	done
	if ((RC != 0)); then
		fail "selftest should exit 0 when nothing leaks: $(ran)"
	elif [[ $OUT == *LEAKED\ \ * || $OUT == *" untested "* ]]; then
		fail "every row should be blocked here (root, ping sockets allowed, netns and cgroups available): $OUT"
	elif [[ -n $missing ]]; then
		fail "routes without a blocked row:$missing; $OUT"
	else
		echos_none && st_nothing_arrived && pass
	fi
fi

start_test "selftest: a blocked row is the programs' verdict (the deny counters name the reason)"
if st_policy; then
	run "$CBPF" selftest --policy cbt_st "${ST_TARGETS[@]}"
	if ((RC != 0)); then
		fail "selftest failed: $(ran)"
	elif ! grep -qE "^raw .* blocked +socket: EPERM \(socket_type\)" <<<"$OUT"; then
		fail "the raw row should be refused by cgroup/sock_create (socket_type): $OUT"
	elif ! grep -qE "^tcp +10\.231\.2\.11:$ST_PORT +blocked +connect: EPERM \(no_rule\)" <<<"$OUT"; then
		fail "the TCP row should be refused by connect4 (no_rule): $OUT"
	elif ! grep -qE "^host-loopback-tcp +127\.0\.0\.1:$ST_PORT +blocked +connect: EPERM \(loopback\)" <<<"$OUT"; then
		fail "the loopback row should be refused as the host's loopback: $OUT"
	elif ! grep -qE "^ping +10\.231\.2\.11 +blocked +socket: ok; sendto: EPERM \(no_rule\)" <<<"$OUT"; then
		fail "the ping row should be dropped at egress (sendto EPERM, no_rule): $OUT"
	elif ! grep -qE "^allowed-addr-other-port +10\.231\.2\.10:8081 +blocked " <<<"$OUT"; then
		fail "the other-port row should try 10.231.2.10 (allowed on 8080) on 8081: $OUT"
	else
		pass
	fi
fi

start_test "selftest: one row per socket family but AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK, each refused at socket()"
if st_policy; then
	run "$CBPF" selftest --policy cbt_st "${ST_TARGETS[@]}" --json
	fams=$(jq -r '[.results[] | select(.route == "socket-family") | .proto] | join(" ")' <<<"$OUT" 2>/dev/null)
	notblocked=$(jq -r '[.results[] | select(.route == "socket-family" and .result != "blocked") | .proto] | join(" ")' <<<"$OUT" 2>/dev/null)
	vsock=$(jq -r '.results[] | select(.route == "socket-family" and .proto == "AF_VSOCK") | .how' <<<"$OUT" 2>/dev/null)
	if ((RC != 0)); then
		fail "selftest failed: $(ran)"
	elif [[ $(wc -w <<<"$fams") != 41 ]]; then
		fail "expected 41 socket-family rows (families 1 to 45 but the four), got: $fams"
	elif [[ " $fams " == *" AF_INET "* || " $fams " == *" AF_UNIX "* || " $fams " == *" AF_NETLINK "* ||
		" $fams " == *" AF_INET6 "* || " $fams " != *" AF_PACKET "* || " $fams " != *" AF_RDS "* ]]; then
		fail "the wrong families have rows: $fams"
	elif [[ -n $notblocked ]]; then
		fail "families not refused: $notblocked"
	elif [[ $vsock != *EAFNOSUPPORT* ]]; then
		fail "the AF_VSOCK row should show the filter's EAFNOSUPPORT: $vsock"
	else
		pass
	fi
fi

start_test "selftest --json prints one object that jq reads, one result per route and target"
if st_policy; then
	run "$CBPF" selftest --policy cbt_st "${ST_TARGETS[@]}" --json
	if ((RC != 0)); then
		fail "selftest --json failed: $(ran)"
	elif ! jq -e '.policy == "cbt_st" and (.results | length) > 20 and .leaked == 0
		and .untested == 0 and .blocked == (.results | length)
		and all(.results[]; .result == "blocked" and (.how | length) > 0)' >/dev/null <<<"$OUT"; then
		fail "unexpected JSON: $OUT"
	else
		n4=$(jq '[.results[] | select(.route == "tcp" and .address == "10.231.2.11" and .port == '"$ST_PORT"')] | length' <<<"$OUT")
		((n4 == 1)) && pass || fail "expected one tcp row for 10.231.2.11 port $ST_PORT: $OUT"
	fi
fi

# st_port53_marks: how many selftest markers each port-53 listener of the
# targets has received, in one line.
st_port53_marks() {
	local a proto

	for a in "$ST_V4" "$ST_V6"; do
		for proto in tcp udp; do
			printf '%s ' "$(grep -c claude-bpf-selftest "${LISTENER_LOG["srv $proto $a 53"]}")"
		done
	done
}

start_test "selftest: a policy that allows the target shows LEAKED, exits 1, and the listener got it"
cat >"$T/conf/leaky.conf" <<EOF
# Allows what selftest aims at: every route to it must show LEAKED.
$ST_V4:*
[$ST_V6]:*
EOF
if load_policy cbt_leaky --dns direct "$T/conf/leaky.conf" && st_listeners; then
	marks=$(st_port53_marks)
	run "$CBPF" selftest --policy cbt_leaky "${ST_TARGETS[@]}"
	problems=""
	for r in tcp tcp-v4mapped udp-sendto udp-connect tcp-fastopen dns-udp dns-tcp \
		new-netns-tcp new-netns-udp nested-cgroup-tcp; do
		grep -qE "^$r +[^ ]+ +LEAKED " <<<"$OUT" || problems+=" $r"
	done
	if ((RC != 1)); then
		fail "selftest should exit 1 on a leak: $(ran)"
	elif [[ -n $problems ]]; then
		fail "routes not reported LEAKED:$problems; $OUT"
	elif ! grep -qE "^raw .* blocked " <<<"$OUT"; then
		fail "raw sockets stay refused (no raw rule): $OUT"
	elif ! wait_for_line_part "${LISTENER_LOG["srv tcp $ST_V4 $ST_PORT"]}" claude-bpf-selftest; then
		fail "the TCP listener on $ST_V4 should have received selftest's marker"
	elif [[ $(st_port53_marks) == "$marks" ]]; then
		# The control of the forward-mode test below: a query that
		# arrives is counted.
		fail "port 53 of the targets counted no selftest query in direct mode: $marks"
	else
		pass
	fi
fi

start_test "selftest: with the forwarder (the default), the DNS rows of that policy are blocked, and port 53 of the target gets nothing"
if load_policy cbt_leakyfwd "$T/conf/leaky.conf" && st_listeners; then
	before=$(st_port53_marks)
	run "$CBPF" selftest --policy cbt_leakyfwd "${ST_TARGETS[@]}"
	after=$(st_port53_marks)
	if (($(grep -cE "^dns-(udp|tcp) +[^ ]+ +blocked .*REFUSED by the policy's forwarder \(dns_name\)" <<<"$OUT") != 4)); then
		fail "expected 4 DNS rows blocked by the forwarder: $OUT"
	elif [[ $before != "$after" ]]; then
		fail "port 53 of the targets received the query: $before -> $after"
	else
		pass
	fi
	run "$CBPF" unload cbt_leakyfwd
	LOADED_POLICIES=${LOADED_POLICIES/ cbt_leakyfwd / }
fi

start_test "selftest --json on a leak: result \"leaked\", exit 1"
if st_policy && [[ $LOADED_POLICIES == *" cbt_leaky "* ]]; then
	run "$CBPF" selftest --policy cbt_leaky "${ST_TARGETS[@]}" --json
	if ((RC != 1)); then
		fail "expected exit 1: $(ran)"
	elif ! jq -e '.leaked > 0 and any(.results[]; .route == "tcp" and .result == "leaked")' >/dev/null <<<"$OUT"; then
		fail "expected leaked rows in the JSON: $OUT"
	else
		pass
	fi
fi

start_test "selftest records its result in /run/claude-bpf/NAME for an unprivileged run"
if st_policy; then
	run "$CBPF" selftest --policy cbt_st "${ST_TARGETS[@]}"
	s_main=$(grep '^selftest ' /run/claude-bpf/cbt_st 2>/dev/null)
	s_leaky=$(grep '^selftest ' /run/claude-bpf/cbt_leaky 2>/dev/null)
	if [[ $s_main != "selftest passed "* ]]; then
		fail "expected 'selftest passed ...' in /run/claude-bpf/cbt_st: '$s_main'"
	elif [[ $s_leaky != "selftest leaked "* ]]; then
		fail "expected 'selftest leaked ...' in /run/claude-bpf/cbt_leaky: '$s_leaky'"
	else
		pass
	fi
fi

start_test "selftest leaves no cgroup of its own behind"
if st_policy; then
	left=$(find "$CGROUP_BASE" -type d -name 'selftest-*' 2>/dev/null)
	[[ -z $left ]] && pass || fail "left behind: $left"
fi

start_test "selftest refuses a policy that is not loaded (exit 1) and bad arguments (exit 2)"
run "$CBPF" selftest --policy cbt_nosuch "${ST_TARGETS[@]}"
rc1=$RC
err1=$ERR
run "$CBPF" selftest --target not-an-address
if ((rc1 != 1)) || [[ $err1 != *"claude-bpf load"* ]]; then
	fail "an unknown policy: expected exit 1 naming the fix: exit $rc1; $err1"
elif ((RC != 2)) || [[ $ERR != *"invalid target"* ]]; then
	fail "a bad --target: expected exit 2: $(ran)"
else
	run "$CBPF" selftest --port 0 --target "$ST_V4"
	((RC == 2)) && pass || fail "--port 0: expected exit 2: $(ran)"
fi

for p in cbt_leaky cbt_st; do
	if [[ $LOADED_POLICIES == *" $p "* ]]; then
		"$CBPF" unload "$p" >/dev/null 2>&1
		LOADED_POLICIES=${LOADED_POLICIES/ $p / }
	fi
done
