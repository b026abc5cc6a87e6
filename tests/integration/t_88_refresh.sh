# The refresher: hostnames follow DNS as it changes, their addresses expire
# in the kernel when nobody renews them, static rules never do, and SIGHUP,
# SIGTERM, SIGKILL, a second load and unload do what they say.
#
# A second dnsmasq in srv, on 10.231.1.54, answers from a hosts file the
# tests rewrite (SIGHUP makes it read it again), with TTL 2 s. Policies are
# loaded with --grace 2, so an answer's addresses live max(TTL, 2 s) + 2 s =
# 4 s and a name is asked again every 2 s (half the TTL, at least 2 s).
# Times are CLOCK_BOOTTIME milliseconds (/proc/uptime), the clock the
# kernel checks expires_ns against.

RF_DNS=10.231.1.54
RF_DIR=$T/refresh
RF_HOSTS=$RF_DIR/hosts
RF_GRACE=2
RF_INTERVAL_MS=2000                     # max(TTL / 2, 2 s)
RF_LIFE_MS=4000                         # max(TTL, 2 s) + grace
RF_RUN=/run/claude-bpf
RF_DNS_PID=""
RF_LOOP_PID=""
RF_FG_PID=""
RF_MOVING=10.231.2.10                   # where moving.test points now

# ---------------------------------------------------------------- helpers

# rf_now: RF_NOW is the boottime in milliseconds.
rf_now() {
	local up
	read -r up _ </proc/uptime
	RF_NOW=$((10#${up/./} * 10))
}

rf_sleep_until() {
	rf_now
	while ((RF_NOW < $1)); do
		sleep 0.05
		rf_now
	done
}

# rf_wait_gone PID: true once PID has ended (5 s at most).
rf_wait_gone() {
	local i
	for ((i = 0; i < 100; i++)); do
		proc_alive "$1" || return 0
		sleep 0.05
	done
	return 1
}

# rf_refreshers NAME: RF_PIDS are the live refreshers of policy NAME (the
# processes `claude-bpf load --name NAME ...` left running).
rf_refreshers() {
	local d cmd
	RF_PIDS=()
	for d in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$d/cmdline") || continue
		[[ $cmd == "$CBPF load "* && $cmd == *" --name $1 "* ]] || continue
		proc_alive "${d#/proc/}" && RF_PIDS+=("${d#/proc/}")
	done
}

# rf_load NAME ARGS...: claude-bpf load --name NAME --grace 2 ARGS..., its
# daemon without the harness's lock; sets RC, OUT, ERR like run.
rf_load() {
	local name=$1
	shift
	timeout -k 5 30 "$CBPF" load --name "$name" --grace "$RF_GRACE" "$@" \
		>"$T/run/out" 2>"$T/run/err" {LOCK_FD}>&-
	RC=$?
	OUT=$(<"$T/run/out")
	ERR=$(<"$T/run/err")
	((RC == 0)) && LOADED_POLICIES+="$name "
	return 0
}

# rf_start_fg NAME CONF: `load --foreground` in the background, its stderr
# in $RF_DIR/fg.err; RF_FG_PID. Waits until it refreshes (10 s at most).
rf_start_fg() {
	start_foreground "$1" "$RF_DIR/fg" "refresher started" --grace "$RF_GRACE" "$2" || return 1
	RF_FG_PID=$FG_PID
}

# rf_stop_fg: SIGTERM to the foreground refresher; RF_FG_RC is its exit
# status (empty when it had to be killed).
rf_stop_fg() {
	RF_FG_RC=""
	[[ -n $RF_FG_PID ]] || return 0
	kill -TERM "$RF_FG_PID" 2>/dev/null
	if rf_wait_gone "$RF_FG_PID"; then
		wait "$RF_FG_PID" 2>/dev/null
		RF_FG_RC=$?
	else
		kill -KILL "$RF_FG_PID" 2>/dev/null
		wait "$RF_FG_PID" 2>/dev/null
	fi
	RF_FG_PID=""
}

# rf_refresher_pid NAME: RF_PID is the refresher pid status --json reports.
rf_refresher_pid() {
	status_json "$1" || return 1
	RF_PID=$(jq -r --arg n "$1" '.policies[] | select(.name == $n) | .refresher.pid' <<<"$STATUS")
	[[ $RF_PID =~ ^[0-9]+$ ]] || { fail "status --json has no refresher.pid for $1: $STATUS"; return 1; }
}

# rf_expiry NAME ADDR: RF_EXP is when the allow rule for ADDR port 8080
# expires, in ms (0: never; empty: no such rule); RF_EXP_NS in ns.
rf_expiry() {
	status_json "$1" || return 1
	RF_EXP_NS=$(jq -r --arg n "$1" --arg a "$2" '[.policies[] | select(.name == $n)
		| .rules[] | select((.address | sub("/(32|128)$"; "")) == $a and .port == 8080
		and .action == "allow") | .expires_ns] | max // empty' <<<"$STATUS")
	RF_EXP=""
	[[ -n $RF_EXP_NS ]] && RF_EXP=$((RF_EXP_NS / 1000000))
	return 0
}

# rf_host NAME HOST FIELD: RF_VAL is FIELD of HOST in refresher.hosts.
rf_host() {
	status_json "$1" || return 1
	RF_VAL=$(jq -r --arg n "$1" --arg h "$2" --arg f "$3" '.policies[] | select(.name == $n)
		| .refresher.hosts[] | select(.name == $h) | .[$f]' <<<"$STATUS")
}

# rf_try NAME ADDR: one sandboxed connection to ADDR port 8080; RC, and
# RF_START and RF_END around it.
rf_try() {
	new_payload
	rf_now
	RF_START=$RF_NOW
	sandboxed "$1" tcp "$2" 8080 "$PAYLOAD"
	rf_now
	RF_END=$RF_NOW
}

# rf_wait_allowed NAME ADDR DEADLINE: tries until a connection goes through
# (its payload must arrive) or the deadline passes; RF_ALLOWED_AT.
rf_wait_allowed() {
	while :; do
		rf_try "$1" "$2"
		if ((RC == 0)); then
			RF_ALLOWED_AT=$RF_END
			expect_received srv tcp "$2" 8080 "$PAYLOAD"
			return
		fi
		if ((RC != 1)); then
			fail "tcp to $2 port 8080 in $1: neither allowed nor denied: $(ran)"
			return 1
		fi
		((RF_END > $3)) && return 1
		sleep 0.1
	done
}

# rf_denied_counter NAME REASON: RF_VAL is that deny counter.
rf_denied_counter() {
	denied_count "$1" "$2" || return 1
	RF_VAL=$COUNT
}

# rf_allowed_until NAME ADDR EXP: one connection to ADDR port 8080 whose
# rule expires at EXP ms: allowed (its payload arrives) unless it started
# after EXP, denied (the probe's EPERM) only once EXP has passed; false
# with the test failed otherwise.
rf_allowed_until() {
	rf_try "$1" "$2"
	if ((RC == 0)); then
		expect_received srv tcp "$2" 8080 "$PAYLOAD" || return 1
		((RF_START > $3 + 100)) || return 0
		fail "$2 was allowed $((RF_START - $3)) ms after its expiry"
	elif ((RC != 1)) || [[ $ERR != *" (denied)"* ]]; then
		fail "tcp to $2 port 8080 in $1: neither allowed nor denied: $(ran)"
	elif ((RF_END < $3)); then
		fail "$2 was denied $(($3 - RF_END)) ms before its expiry: $(ran)"
	else
		return 0
	fi
	return 1
}

# rf_expired_denied NAME ADDR: ADDR port 8080, past its expiry, is denied
# and counted as expired.
rf_expired_denied() {
	local before

	denied_count "$1" expired || return 1
	before=$COUNT
	try_denied "$1" tcp "$2" 8080 && denied_rose "$1" expired "$before"
}

# rf_files_gone NAME: no pid or hosts file of NAME's refresher is left in
# /run/claude-bpf; otherwise the test fails.
rf_files_gone() {
	[[ -e $RF_RUN/$1.pid || -e $RF_RUN/$1.hosts ]] || return 0
	fail "left behind: $(ls "$RF_RUN/$1".* 2>/dev/null)"
}

# rf_unload NAME: claude-bpf unload NAME, which must succeed.
rf_unload() {
	run "$CBPF" unload "$1"
	if ((RC != 0)); then
		fail "unload $1: $(ran)"
		return 1
	fi
	LOADED_POLICIES=${LOADED_POLICIES/ $1 / }
}

# rf_one_refresher NAME: exactly one refresher of NAME runs, the one status
# names (RF_PID); otherwise the test fails.
rf_one_refresher() {
	rf_refreshers "$1"
	rf_refresher_pid "$1" || return 1
	[[ ${RF_PIDS[*]} == "$RF_PID" && $RF_PID != 0 ]] && return 0
	fail "refresher processes of $1: '${RF_PIDS[*]}', status says $RF_PID; expected exactly one"
}

# rf_between_refreshes NAME HOST: until HOST's next refresh (its last
# answer + 2 s) is at least 500 ms away, so that no answer is on its way
# into the map (5 s at most).
rf_between_refreshes() {
	local i

	for ((i = 0; i < 100; i++)); do
		rf_host "$1" "$2" answered_ns || return 1
		rf_now
		[[ $RF_VAL =~ ^[0-9]+$ ]] && ((RF_VAL / 1000000 + RF_INTERVAL_MS - RF_NOW >= 500)) && return 0
		sleep 0.05
	done
	fail "harness: $2 of $1 was last answered at ${RF_VAL:-?} ns, not within 1.5 s of any moment in 5 s (now $RF_NOW ms)"
}

# rf_answered_after NAME HOST MS: until status shows an answer for HOST of a
# round after the one running at MS (boottime ms): rounds are 2 s apart, and
# a round logs before it writes status's file (5 s at most).
rf_answered_after() {
	local i

	for ((i = 0; i < 100; i++)); do
		rf_host "$1" "$2" answered_ns || return 1
		[[ $RF_VAL =~ ^[0-9]+$ ]] && ((RF_VAL / 1000000 > $3 + 1000)) && return 0
		sleep 0.05
	done
	fail "$2 of $1 was not answered again within 5 s after $3 ms: answered_ns ${RF_VAL:-?}"
}

# rf_write_hosts: the hosts file dnsmasq answers from, moving.test at $RF_MOVING.
rf_write_hosts() {
	printf '%s moving.test\n10.231.2.20 steady.test\n' "$RF_MOVING" >"$RF_HOSTS.new" &&
		mv -f "$RF_HOSTS.new" "$RF_HOSTS"
}

# rf_move ADDR: moving.test points to ADDR from now on; true once dnsmasq
# answers with it (3 s at most).
rf_move() {
	local i
	RF_MOVING=$1
	rf_write_hosts
	kill -HUP "$RF_DNS_PID"
	for ((i = 0; i < 60; i++)); do
		[[ $("$PROBE" dns "$RF_DNS" moving.test A 2>/dev/null) == "$1" ]] && return 0
		sleep 0.05
	done
	fail "harness: dnsmasq on $RF_DNS does not answer moving.test with $1 after SIGHUP: $(tail -5 "$RF_DIR/dnsmasq.log" 2>/dev/null)"
	return 1
}

rf_start_dns() {
	local i
	ip netns exec "$NS_SRV" "$DNSMASQ" --keep-in-foreground --conf-file=/dev/null \
		--no-resolv --no-hosts --addn-hosts="$RF_HOSTS" --local-ttl=2 --local=/test/ \
		--bind-interfaces --listen-address="$RF_DNS" --port=53 \
		--user=root --group=root --pid-file="$RF_DIR/dnsmasq.pid" \
		--log-facility="$RF_DIR/dnsmasq.log" --log-queries \
		>"$RF_DIR/dnsmasq.out" 2>&1 {LOCK_FD}>&- &
	RF_DNS_PID=$!
	for ((i = 0; i < 100; i++)); do
		"$PROBE" dns "$RF_DNS" steady.test A >/dev/null 2>&1 && return 0
		kill -0 "$RF_DNS_PID" 2>/dev/null || break
		sleep 0.05
	done
	say "dnsmasq on $RF_DNS did not start: $(cat "$RF_DIR/dnsmasq.out" "$RF_DIR/dnsmasq.log" 2>/dev/null)" >&2
	return 1
}

rf_stop_dns() {
	[[ -n $RF_DNS_PID ]] && kill_wait "$RF_DNS_PID"
	RF_DNS_PID=""
}

rf_stop_loop() {
	[[ -n $RF_LOOP_PID ]] || return 0
	: >"$RF_DIR/stop"
	if ! rf_wait_gone "$RF_LOOP_PID"; then
		kill "$RF_LOOP_PID" 2>/dev/null
	fi
	wait "$RF_LOOP_PID" 2>/dev/null
	RF_LOOP_PID=""
}

# Everything this file started, also when the suite stops inside it.
rf_cleanup() {
	local name
	rf_stop_loop
	rf_stop_fg
	for name in cbt_rf_move cbt_rf_kill cbt_rf_hup cbt_rf_once; do
		[[ $LOADED_POLICIES == *" $name "* ]] || continue
		timeout -k 5 30 "$CBPF" unload --force "$name" >/dev/null 2>&1 {LOCK_FD}>&-
		LOADED_POLICIES=${LOADED_POLICIES/ $name / }
	done
	rf_stop_dns
	ip -n "$NS_SRV" addr del "$RF_DNS/32" dev "$VETH_S" 2>/dev/null
}
CLEANUP_HOOKS+=(rf_cleanup)

# rf_target ADDRESS: the address rf_loop connects to. Renamed into place:
# a write in place truncates first, and the loop could read it empty.
rf_target() {
	echo "$1" >"$RF_DIR/target.new" && mv -f "$RF_DIR/target.new" "$RF_DIR/target"
}

# rf_loop: connects from the sandbox of cbt_rf_move to the address in
# $RF_DIR/target, again and again, until $RF_DIR/stop exists; a line per
# attempt: START END ADDRESS EXIT-STATUS PAYLOAD.
rf_loop() {
	local n=0 target start rc
	while [[ ! -e $RF_DIR/stop ]]; do
		target=$(<"$RF_DIR/target")
		n=$((n + 1))
		rf_now
		start=$RF_NOW
		timeout -k 2 10 "$CBPF" exec --policy cbt_rf_move -- \
			"$PROBE" tcp "$target" 8080 "rf-loop-$$-$n" >/dev/null 2>>"$RF_DIR/loop.err"
		rc=$?
		rf_now
		echo "$start $RF_NOW $target $rc rf-loop-$$-$n" >>"$RF_DIR/loop.log"
		sleep 0.02
	done
}

# ---------------------------------------------------------------- set-up

start_test "refresher set-up: a second dnsmasq on $RF_DNS serving a hosts file with TTL 2"
mkdir -p "$RF_DIR"
rf_write_hosts
cat >"$RF_DIR/move.conf" <<EOF
dns $RF_DNS
moving.test:8080
EOF
cat >"$RF_DIR/kill.conf" <<EOF
dns $RF_DNS
steady.test:8080
10.231.3.5:8080
EOF
if ! net_do ip -n "$NS_SRV" addr add "$RF_DNS/32" dev "$VETH_S"; then
	fail "cannot add $RF_DNS in srv"
elif ! ip route get "$RF_DNS" | grep -q " dev $VETH_H "; then
	fail "$RF_DNS does not route through $VETH_H: $(ip route get "$RF_DNS" 2>&1)"
elif ! rf_start_dns; then
	fail "see above"
elif ! out=$("$PROBE" dns "$RF_DNS" moving.test A 2>"$RF_DIR/probe.err") || [[ $out != 10.231.2.10 ]]; then
	fail "dnsmasq should answer moving.test A with 10.231.2.10: $out $(<"$RF_DIR/probe.err")"
else
	pass
fi
rf_ready=$([[ $CUR_STATE == passed ]] && echo true || echo false)

# ---------------------------------------------------------------- a record changes

start_test "load leaves a refresher that writes resolved addresses with answer + max(TTL, 2 s) + grace"
if $rf_ready; then
	rf_now
	t0=$RF_NOW
	rf_load cbt_rf_move "$RF_DIR/move.conf"
	if ((RC != 0)); then
		fail "load --grace 2 of a file with moving.test: $(ran)"
	elif rf_refresher_pid cbt_rf_move && ((RF_PID == 0)); then
		fail "status --json reports no refresher (pid 0) after load: $STATUS"
	elif [[ $RF_PID != 0 && $(<"$RF_RUN/cbt_rf_move.pid") != "$RF_PID" ]]; then
		fail "$RF_RUN/cbt_rf_move.pid holds '$(<"$RF_RUN/cbt_rf_move.pid")', status says $RF_PID"
	elif ! proc_alive "$RF_PID"; then
		fail "the refresher $RF_PID from status is not running"
	elif rf_expiry cbt_rf_move 10.231.2.10 && [[ -z $RF_EXP ]]; then
		fail "no allow rule for 10.231.2.10 port 8080 (moving.test): $STATUS"
	elif rf_now && ((RF_EXP < t0 + RF_LIFE_MS - 100 || RF_EXP > RF_NOW + RF_LIFE_MS + 100)); then
		# An answer between load's start and this reading of status (a
		# slow machine may have refreshed it meanwhile), + 4 s.
		fail "10.231.2.10 expires at ${RF_EXP} ms; load started at $t0 ms, status was read by $RF_NOW ms: expected an answer between the two, +$RF_LIFE_MS ms"
	else
		# The rule's expiry is exactly the answer's time + 4 s; the two come
		# from the map and the hosts file, which a refresh may write between.
		ok=false
		for ((i = 0; i < 10; i++)); do
			rf_expiry cbt_rf_move 10.231.2.10 || break
			rf_host cbt_rf_move moving.test answered_ns || break
			[[ $RF_VAL =~ ^[0-9]+$ ]] && ((RF_EXP_NS - RF_VAL == RF_LIFE_MS * 1000000)) && { ok=true; break; }
			sleep 0.2
		done
		rf_host cbt_rf_move moving.test ttl
		if ! $ok; then
			fail "expires_ns ($RF_EXP_NS) should be answered_ns ($RF_VAL) + ${RF_LIFE_MS} ms: $STATUS"
		elif [[ $RF_VAL != 2 ]]; then
			fail "status should report moving.test's TTL as 2: $STATUS"
		else
			try_allowed cbt_rf_move tcp 10.231.2.10 8080 &&
				try_denied cbt_rf_move tcp 10.231.2.11 8080 && pass
		fi
	fi
else
	skip "the refresher set-up failed"
fi

start_test "a changed record: the new address is allowed within TTL + one refresh, never refused, the old one denied after grace"
if [[ $LOADED_POLICIES == *" cbt_rf_move "* ]] && $rf_ready; then
	rm -f "$RF_DIR/stop" "$RF_DIR/loop.log"
	rf_target 10.231.2.10
	rf_loop {LOCK_FD}>&- &
	RF_LOOP_PID=$!
	BG_PIDS+=("$RF_LOOP_PID")
	# Until the loop has made a few attempts (5 s at most).
	for ((i = 0; i < 100; i++)); do
		[[ -s $RF_DIR/loop.log ]] && (($(wc -l <"$RF_DIR/loop.log") >= 3)) && break
		sleep 0.05
	done
	if rf_move 10.231.2.11; then
		rf_now
		t0=$RF_NOW
		# TTL 2 s + one refresh interval 2 s, and slack for a busy machine.
		if ! rf_wait_allowed cbt_rf_move 10.231.2.11 $((t0 + 8000)); then
			fail "10.231.2.11 (moving.test's new address) was not allowed within 8 s of the change"
			rf_stop_loop
		else
			new_at=$((RF_ALLOWED_AT - t0))
			rf_target 10.231.2.11
			rf_expiry cbt_rf_move 10.231.2.10
			old_exp=${RF_EXP:-0}
			if ((old_exp == 0)); then
				fail "the old address's rule vanished instead of expiring: $STATUS"
			elif ((old_exp - t0 > RF_LIFE_MS + 1000)); then
				fail "the old address expires $((old_exp - t0)) ms after the change; at most $RF_LIFE_MS ms (TTL + grace) + slack"
			fi
			# Old: allowed until it expires, when there is time to see it.
			rf_allowed_until cbt_rf_move 10.231.2.10 "$old_exp"
			# Keep connecting to the new address past the old one's expiry.
			rf_sleep_until $((old_exp + 1500))
			rf_stop_loop
			rf_expired_denied cbt_rf_move 10.231.2.10
			# The loop's attempts: none refused while its target was allowed.
			refused=() n_old=0 n_new=0
			while read -r s e addr rc payload; do
				if [[ ! $s$e$rc =~ ^[0-9]+$ ]]; then
					refused+=("a malformed line in loop.log: '$s $e $addr $rc $payload'")
					continue
				fi
				if [[ $addr == 10.231.2.11 ]]; then
					n_new=$((n_new + 1))
					if ((rc != 0)); then
						refused+=("new $addr at +$((s - t0)) ms: exit $rc")
					fi
				else
					n_old=$((n_old + 1))
					if ((rc != 0 && e < old_exp)); then
						refused+=("old $addr at +$((s - t0)) ms, before its expiry at +$((old_exp - t0)) ms: exit $rc")
					elif ((rc == 0 && s > old_exp + 100)); then
						refused+=("old $addr ALLOWED at +$((s - t0)) ms, after its expiry at +$((old_exp - t0)) ms")
					fi
				fi
				if ((rc == 0)) && ! grep -qxF -- "$payload" "${LISTENER_LOG["srv tcp $addr 8080"]}"; then
					refused+=("$addr at +$((s - t0)) ms: allowed but '$payload' never arrived")
				fi
			done <"$RF_DIR/loop.log"
			if ((${#refused[@]} > 0)); then
				fail "the connecting loop saw ${#refused[@]} wrong verdict(s): $(printf '%s; ' "${refused[@]}") stderr: $(tail -3 "$RF_DIR/loop.err")"
			elif ((n_new < 3 || n_old < 3)); then
				fail "the connecting loop made too few attempts to prove anything (old $n_old, new $n_new)"
			elif [[ $CUR_STATE == running ]]; then
				pass
				say "      new address allowed after $new_at ms, old expired after $((old_exp - t0)) ms; loop: $n_old to the old address, $n_new to the new, 0 refused"
			fi
		fi
	else
		rf_stop_loop
	fi
else
	skip "cbt_rf_move is not loaded"
fi

start_test "an unchanged answer only extends the expiry: the entry stays, expires_ns grows every 2 s, the rule set stays"
if [[ $LOADED_POLICIES == *" cbt_rf_move "* ]] && rf_expiry cbt_rf_move 10.231.2.11 && [[ -n $RF_EXP ]]; then
	policy_field cbt_rf_move policy_id
	pid0=$FIELD
	queries0=$(grep -c 'query\[A\] moving.test from' "$RF_DIR/dnsmasq.log")
	rf_now
	t_end=$((RF_NOW + 5000))
	prev=0 changes=() problems=()
	while ((RF_NOW < t_end)); do
		rf_expiry cbt_rf_move 10.231.2.11 || break
		rf_now
		policy_field cbt_rf_move policy_id || break
		if [[ -z $RF_EXP ]]; then
			problems+=("at $RF_NOW ms the rule for 10.231.2.11 was gone")
		else
			((RF_EXP <= RF_NOW)) && problems+=("at $RF_NOW ms the rule had expired at $RF_EXP ms")
			((RF_EXP < prev)) && problems+=("expires_ns went back from $prev to $RF_EXP ms")
			((prev && RF_EXP > prev)) && changes+=("$((RF_EXP - prev))")
			prev=$RF_EXP
		fi
		[[ $FIELD != "$pid0" ]] && problems+=("policy_id changed from $pid0 to $FIELD")
		sleep 0.15
	done
	queries=$(($(grep -c 'query\[A\] moving.test from' "$RF_DIR/dnsmasq.log") - queries0))
	# Each renewal moves the expiry by the time since the last answer. A
	# slow machine (a guest without KVM) may read the entry less often
	# than it is renewed, so one change can hold more than one renewal.
	renewals=0
	for d in "${changes[@]}"; do
		((d < RF_INTERVAL_MS - 100)) && problems+=("renewed after only $d ms (the floor is 2 s)")
		renewals=$((renewals + (d + RF_INTERVAL_MS / 2) / RF_INTERVAL_MS))
	done
	if ((${#problems[@]} > 0)); then
		fail "$(printf '%s; ' "${problems[@]}")"
	elif ((renewals < 2 || renewals > 3)); then
		fail "expected 2 or 3 renewals in 5 s (every 2 s), saw $renewals in expiry changes of ${changes[*]:-none} ms"
	elif ((queries < 2 || queries > 4)); then
		fail "expected 2 to 4 A queries for moving.test in 5 s (every 2 s), dnsmasq logged $queries"
	else
		pass
	fi
else
	skip "cbt_rf_move has no rule for 10.231.2.11"
fi

# ---------------------------------------------------------------- DNS stops

start_test "the DNS server stops: the last good address stays allowed until its expiry, then is denied as expired"
dns_stopped=false
if [[ $LOADED_POLICIES == *" cbt_rf_move "* ]] && [[ -n $RF_DNS_PID ]]; then
	# Stopped between two refreshes, so that no answer is still on its
	# way into the map when the last good expiry is taken.
	rf_between_refreshes cbt_rf_move moving.test
	rf_stop_dns
	dns_stopped=true
	rf_now
	t0=$RF_NOW
	rf_expiry cbt_rf_move 10.231.2.11
	exp=${RF_EXP:-0}
	if ((exp == 0)); then
		fail "no expiring rule for 10.231.2.11 right after dnsmasq stopped: $STATUS"
	elif ((exp - t0 > RF_LIFE_MS + 500)); then
		fail "10.231.2.11 expires $((exp - t0)) ms after dnsmasq stopped; at most $RF_LIFE_MS ms"
	else
		rf_allowed_until cbt_rf_move 10.231.2.11 "$exp"
		rf_sleep_until $((exp + 300))
		rf_expiry cbt_rf_move 10.231.2.11
		if ((${RF_EXP:-0} != exp)); then
			fail "the failing refresher rewrote the expiry ($exp -> ${RF_EXP:-none} ms); the last good answer should stay as it was"
		fi
		rf_expired_denied cbt_rf_move 10.231.2.11
		# A failed try is recorded once the resolver gives up (its timeouts
		# and retries take a few seconds): at most a few seconds more.
		failures=0
		while rf_host cbt_rf_move moving.test failures && [[ $RF_VAL == 0 ]]; do
			rf_now
			((RF_NOW > exp + 8000)) && break
			sleep 0.2
		done
		failures=$RF_VAL
		rf_host cbt_rf_move moving.test error
		if ! [[ $failures =~ ^[0-9]+$ ]] || ((failures < 1)) || [[ -z $RF_VAL || $RF_VAL == null ]]; then
			fail "status should show moving.test's failed refreshes (failures >= 1, an error) within 8 s of the expiry, got failures=$failures error=$RF_VAL: $STATUS"
		fi
		try_denied cbt_rf_move tcp 10.231.2.11 8080
		[[ $CUR_STATE == running ]] && pass
	fi
else
	skip "cbt_rf_move is not loaded or dnsmasq is not running"
fi

start_test "the DNS server comes back: the address is allowed again within the retry backoff"
if $dns_stopped; then
	rf_now
	t0=$RF_NOW
	if ! rf_start_dns; then
		fail "dnsmasq did not start again"
	elif ! rf_wait_allowed cbt_rf_move 10.231.2.11 $((t0 + 20000)); then
		fail "10.231.2.11 was not allowed again within 20 s of dnsmasq's return: $(ran)"
	else
		back_at=$((RF_ALLOWED_AT - t0))
		ok=false
		for ((i = 0; i < 20; i++)); do
			rf_host cbt_rf_move moving.test failures || break
			[[ $RF_VAL == 0 ]] && { ok=true; break; }
			sleep 0.1
		done
		rf_host cbt_rf_move moving.test error
		if ! $ok || [[ $RF_VAL != null && -n $RF_VAL ]]; then
			fail "after a good answer status should show failures 0 and no error: $STATUS"
		else
			pass
			say "      allowed again $back_at ms after dnsmasq came back"
		fi
	fi
else
	skip "the DNS server was not stopped"
fi

start_test "unload stops the refresher: the process, its pid file and its hosts file are gone"
if [[ $LOADED_POLICIES == *" cbt_rf_move "* ]] && rf_refresher_pid cbt_rf_move; then
	pid=$RF_PID
	if ! rf_unload cbt_rf_move; then
		:
	elif ((pid == 0)); then
		fail "no refresher was running before unload"
	elif ! rf_wait_gone "$pid"; then
		fail "the refresher $pid still runs after unload"
	elif rf_files_gone cbt_rf_move; then
		rf_refreshers cbt_rf_move
		if ((${#RF_PIDS[@]} > 0)); then
			fail "refresher processes of cbt_rf_move still run: ${RF_PIDS[*]}"
		else
			pass
		fi
	fi
else
	skip "cbt_rf_move is not loaded"
fi

# ---------------------------------------------------------------- SIGKILL

start_test "SIGKILL to the refresher: enforcement stays, the resolved address expires on time (on an open socket too), the static rule stays"
if $rf_ready && [[ -n $RF_DNS_PID ]]; then
	rf_load cbt_rf_kill "$RF_DIR/kill.conf"
	if ((RC != 0)); then
		fail "load of kill.conf: $(ran)"
	elif try_allowed cbt_rf_kill tcp 10.231.2.20 8080 &&
		try_allowed cbt_rf_kill tcp 10.231.3.5 8080 &&
		rf_refresher_pid cbt_rf_kill; then
		pid=$RF_PID
		# A connected UDP socket to steady.test, open before the kill,
		# sends after it (its decision then outlives every refresh) and
		# again after the expiry: the programs' kept decision for it must
		# expire with the rule. Its first send is before the kill, so a
		# slow machine cannot make it late.
		sp=
		stream cbt_rf_kill udp-connect 10.231.2.20 8080 mid && sp=$PAYLOAD
		if ((pid == 0)); then
			fail "no refresher runs for cbt_rf_kill: $STATUS"
		else
			kill -KILL "$pid"
			rf_now
			t0=$RF_NOW
			rf_wait_gone "$pid"
			gone=$?
			((gone == 0)) && [[ -n $sp ]] && stream_mid &&
				expect_received srv udp 10.231.2.20 8080 "$sp-middle"
			if ((gone != 0)); then
				fail "the refresher $pid survived SIGKILL"
			elif rf_refresher_pid cbt_rf_kill && ((RF_PID != 0)); then
				fail "status still reports refresher pid $RF_PID after SIGKILL: $STATUS"
			else
				rf_expiry cbt_rf_kill 10.231.2.20
				exp=${RF_EXP:-0}
				rf_expiry cbt_rf_kill 10.231.3.5
				if ((exp == 0)); then
					fail "no expiring rule for 10.231.2.20 (steady.test): $STATUS"
				elif [[ $RF_EXP != 0 ]]; then
					fail "the static rule 10.231.3.5:8080 should never expire (expires_ns 0), has ${RF_EXP_NS:-none}"
				elif ((exp - t0 > RF_LIFE_MS + 500)); then
					fail "10.231.2.20 expires $((exp - t0)) ms after the kill; at most $RF_LIFE_MS ms"
				else
					rf_allowed_until cbt_rf_kill 10.231.2.20 "$exp"
					try_denied cbt_rf_kill tcp 10.231.2.11 8080
					rf_sleep_until $((exp + 300))
					if [[ -n $sp ]]; then
						stream_end
						((STREAM_RC == 1)) ||
							fail "the open socket's send after the expiry should fail with EPERM (exit 1): exit $STREAM_RC, $(<"$T/run/stream.out")"
						expect_nothing srv udp 10.231.2.20 8080 "$sp-after"
					fi
					try_denied cbt_rf_kill tcp 10.231.2.20 8080 &&
						try_allowed cbt_rf_kill tcp 10.231.3.5 8080 &&
						try_denied cbt_rf_kill tcp 10.231.2.11 8080 &&
						[[ $CUR_STATE == running ]] && pass
				fi
			fi
		fi
	fi
else
	skip "the refresher set-up failed"
fi

start_test "unload after a SIGKILLed refresher removes the pid file it left"
if [[ $LOADED_POLICIES == *" cbt_rf_kill "* ]]; then
	rf_unload cbt_rf_kill && rf_files_gone cbt_rf_kill && pass
else
	skip "cbt_rf_kill is not loaded"
fi

# ---------------------------------------------------------------- SIGHUP

hup_conf=$RF_DIR/hup.conf
# rf_hup_write LINE...: replaces the file in one rename, as editors do.
rf_hup_write() {
	printf '%s\n' "$@" >"$hup_conf.new" && mv -f "$hup_conf.new" "$hup_conf"
}
# rf_hup_wait TEXT N: SIGHUP to the foreground refresher, then until fg.err
# has N lines with TEXT.
rf_hup_wait() {
	hup_wait "$RF_FG_PID" "$RF_DIR/fg.err" "$1" "$2"
}
# rf_hup_apply TEXT N LINE...: the file rewritten to LINEs, then
# rf_hup_wait TEXT N; RF_ID0 is the rule set's policy_id before.
rf_hup_apply() {
	local text=$1 n=$2

	shift 2
	policy_field cbt_rf_hup policy_id || return 1
	RF_ID0=$FIELD
	rf_hup_write "$@"
	rf_hup_wait "$text" "$n"
}
# rf_rule_set same|new: the rule set is still RF_ID0 (a rejected file), or
# a new one (an applied file); otherwise the test fails.
rf_rule_set() {
	policy_field cbt_rf_hup policy_id || return 1
	if [[ $1 == same && $FIELD != "$RF_ID0" ]]; then
		fail "the rule set changed ($RF_ID0 -> $FIELD) although the file was rejected"
	elif [[ $1 == new && $FIELD == "$RF_ID0" ]]; then
		fail "the rule set did not change ($RF_ID0) although the file was applied: $STATUS"
	else
		return 0
	fi
}

start_test "load --foreground stays as the refresher, logging to stderr"
hup_ok=false
if $rf_ready && [[ -n $RF_DNS_PID ]]; then
	rf_hup_write "dns $RF_DNS" "steady.test:8080" "10.231.3.5:8080"
	if rf_start_fg cbt_rf_hup "$hup_conf" && rf_refresher_pid cbt_rf_hup; then
		LOADED_POLICIES+="cbt_rf_hup "
		if ((RF_PID != RF_FG_PID)); then
			fail "status reports refresher pid $RF_PID, the foreground load is $RF_FG_PID"
		else
			try_allowed cbt_rf_hup tcp 10.231.2.20 8080 &&
				try_allowed cbt_rf_hup tcp 10.231.3.5 8080 &&
				try_denied cbt_rf_hup tcp 10.231.2.10 8080 && pass && hup_ok=true
		fi
	fi
else
	skip "the refresher set-up failed"
fi

start_test "SIGHUP with an invalid file: rejected whole with FILE:LINE, the loaded policy keeps working"
if $hup_ok; then
	if rf_hup_apply "rejected" 1 "dns $RF_DNS" "steady.test:8080" "10.0.0.0/33"; then
		if ! grep -qF "claude-bpf: $hup_conf:3: " "$RF_DIR/fg.err"; then
			fail "stderr should say 'claude-bpf: $hup_conf:3: ...': $(<"$RF_DIR/fg.err")"
		elif ! proc_alive "$RF_FG_PID"; then
			fail "the refresher exited on a bad file: $(<"$RF_DIR/fg.err")"
		elif rf_rule_set same; then
			try_allowed cbt_rf_hup tcp 10.231.3.5 8080 &&
				try_allowed cbt_rf_hup tcp 10.231.2.20 8080 && pass
		fi
	fi
else
	skip "no foreground refresher for cbt_rf_hup"
fi

start_test "SIGHUP with a name that does not resolve (forward mode): a warning naming it, the file is applied"
if $hup_ok; then
	if rf_hup_apply "reloaded" 1 "dns $RF_DNS" "steady.test:8080" "nosuch.test:8080" "10.231.3.130:8080"; then
		if ! grep -qF "nosuch.test': " "$RF_DIR/fg.err" ||
			! grep -qF "asks again when the sandbox does" "$RF_DIR/fg.err"; then
			fail "stderr should name nosuch.test as resolved later: $(<"$RF_DIR/fg.err")"
		elif rf_rule_set new; then
			try_allowed cbt_rf_hup tcp 10.231.3.130 8080 && pass
		fi
	fi
else
	skip "no foreground refresher for cbt_rf_hup"
fi

start_test "SIGHUP with a valid changed file: applied as a new rule set"
if $hup_ok; then
	if rf_hup_apply "reloaded" 2 "dns $RF_DNS" "steady.test:8080" "10.231.2.10:8080" &&
		rf_rule_set new; then
		try_allowed cbt_rf_hup tcp 10.231.2.10 8080 &&
			try_denied cbt_rf_hup tcp 10.231.3.5 8080 &&
			try_allowed cbt_rf_hup tcp 10.231.2.20 8080 &&
			try_denied cbt_rf_hup tcp 10.231.3.130 8080 && pass
	fi
else
	skip "no foreground refresher for cbt_rf_hup"
fi

# A name that a DNS filter starts answering with 0.0.0.0: no rule, and the
# refresher says so once, as load does (t_65).
start_test "a name that comes to resolve to 0.0.0.0: the refresher logs it as making no rule, once"
if $hup_ok; then
	was=$RF_MOVING
	rf_hup_write "dns $RF_DNS" "steady.test:8080" "moving.test:8080"
	if rf_hup_wait "reloaded" 3 && rf_move 0.0.0.0; then
		line="'moving.test' now resolves to 0.0.0.0, which is not made a rule"
		for ((i = 0; i < 100; i++)); do
			grep -qF "$line" "$RF_DIR/fg.err" && break
			sleep 0.05
		done
		# One more refresh, with the same answer.
		rf_now
		rf_answered_after cbt_rf_hup moving.test "$RF_NOW"
		n=$(grep -cF "$line" "$RF_DIR/fg.err")
		rf_host cbt_rf_hup moving.test skipped
		if ((n != 1)); then
			fail "the refresher should log '$line' once, logged it $n times: $(<"$RF_DIR/fg.err")"
		elif [[ $(jq -r 'join(" ")' <<<"$RF_VAL") != 0.0.0.0 ]]; then
			fail "status should show moving.test's 0.0.0.0 skipped: $RF_VAL"
		else
			try_allowed cbt_rf_hup tcp 10.231.2.20 8080 && pass
		fi
	fi
	rf_move "$was"
	# The file as the tests below expect it.
	rf_hup_write "dns $RF_DNS" "steady.test:8080" "10.231.2.10:8080"
	rf_hup_wait "reloaded" 4 || hup_ok=false
else
	skip "no foreground refresher for cbt_rf_hup"
fi

# ---------------------------------------------------------------- SIGTERM

start_test "SIGTERM: the refresher exits 0, removes its pid file, enforcement stays"
if $hup_ok && [[ -n $RF_FG_PID ]]; then
	rf_stop_fg
	if [[ $RF_FG_RC != 0 ]]; then
		fail "the foreground refresher should exit 0 on SIGTERM, exit status '${RF_FG_RC:-killed}': $(<"$RF_DIR/fg.err")"
	elif ! rf_files_gone cbt_rf_hup; then
		:
	elif rf_refresher_pid cbt_rf_hup && ((RF_PID != 0)); then
		fail "status reports refresher pid $RF_PID after SIGTERM"
	else
		try_allowed cbt_rf_hup tcp 10.231.2.10 8080 &&
			try_denied cbt_rf_hup tcp 10.231.3.5 8080 &&
			try_denied cbt_rf_hup tcp 10.231.2.11 8080 && pass
	fi
else
	skip "no foreground refresher for cbt_rf_hup"
fi

# ---------------------------------------------------------------- one per policy

start_test "a second load of the same policy replaces its refresher: one runs"
if $hup_ok; then
	rf_load cbt_rf_hup "$hup_conf"
	rc1=$RC
	rf_refresher_pid cbt_rf_hup
	pid1=$RF_PID
	rf_load cbt_rf_hup "$hup_conf"
	rf_refresher_pid cbt_rf_hup
	pid2=$RF_PID
	rf_refreshers cbt_rf_hup
	if ((rc1 != 0 || RC != 0)); then
		fail "load of cbt_rf_hup twice: exit $rc1, then $(ran)"
	elif ((pid1 == 0 || pid2 == 0)); then
		fail "no refresher after load: pids $pid1, $pid2"
	elif ((pid1 == pid2)); then
		fail "the second load kept the first refresher ($pid1)"
	elif proc_alive "$pid1"; then
		fail "the first refresher $pid1 still runs beside $pid2"
	elif [[ ${RF_PIDS[*]} != "$pid2" ]]; then
		fail "refresher processes of cbt_rf_hup: '${RF_PIDS[*]}', expected only $pid2"
	elif [[ $(<"$RF_RUN/cbt_rf_hup.pid") != "$pid2" ]]; then
		fail "$RF_RUN/cbt_rf_hup.pid holds '$(<"$RF_RUN/cbt_rf_hup.pid")', expected $pid2"
	else
		pass
	fi
else
	skip "cbt_rf_hup was not loaded"
fi

start_test "two loads of the same policy at once leave one refresher"
if $hup_ok; then
	loads=()
	for i in 1 2; do
		timeout -k 5 30 "$CBPF" load --name cbt_rf_hup --grace "$RF_GRACE" "$hup_conf" \
			>"$RF_DIR/load$i.out" 2>&1 {LOCK_FD}>&- &
		loads+=($!)
	done
	wait "${loads[0]}"
	rc1=$?
	wait "${loads[1]}"
	rc2=$?
	if ((rc1 != 0 || rc2 != 0)); then
		fail "two loads at once: exit $rc1 ($(<"$RF_DIR/load1.out")), exit $rc2 ($(<"$RF_DIR/load2.out"))"
	else
		rf_one_refresher cbt_rf_hup && pass
	fi
else
	skip "cbt_rf_hup was not loaded"
fi

start_test "load --foreground replaces a running refresher, and a load replaces a --foreground one"
if $hup_ok && rf_refresher_pid cbt_rf_hup && ((RF_PID != 0)); then
	daemon=$RF_PID
	if rf_start_fg cbt_rf_hup "$hup_conf"; then
		rf_refreshers cbt_rf_hup
		if proc_alive "$daemon"; then
			fail "the refresher $daemon still runs beside the foreground one $RF_FG_PID"
		elif [[ ${RF_PIDS[*]} != "$RF_FG_PID" ]]; then
			fail "refresher processes of cbt_rf_hup: '${RF_PIDS[*]}', expected only $RF_FG_PID"
		else
			# A load while the foreground refresher runs: it must not wait
			# for it forever.
			fg=$RF_FG_PID
			timeout -k 2 15 "$CBPF" load --name cbt_rf_hup --grace "$RF_GRACE" "$hup_conf" \
				>"$RF_DIR/load3.out" 2>&1 {LOCK_FD}>&-
			rc=$?
			if ((rc != 0)); then
				fail "load while a --foreground refresher runs: exit $rc (124: still waiting after 15 s): $(<"$RF_DIR/load3.out")"
			elif ! rf_wait_gone "$fg"; then
				fail "the foreground refresher $fg still runs after another load"
			else
				wait "$fg"
				fg_rc=$?
				RF_FG_PID=""
				if ((fg_rc != 0)); then
					fail "the replaced foreground refresher exited $fg_rc: $(<"$RF_DIR/fg.err")"
				else
					rf_one_refresher cbt_rf_hup && pass
				fi
			fi
		fi
	fi
	rf_stop_fg
else
	skip "no refresher runs for cbt_rf_hup"
fi

start_test "load --no-refresh resolves once: no refresher, addresses that never expire"
if $rf_ready && [[ -n $RF_DNS_PID ]]; then
	rf_load cbt_rf_once --no-refresh "$RF_DIR/kill.conf"
	if ((RC != 0)); then
		fail "load --no-refresh: $(ran)"
	elif [[ -e $RF_RUN/cbt_rf_once.pid ]]; then
		fail "$RF_RUN/cbt_rf_once.pid exists after load --no-refresh"
	elif rf_refreshers cbt_rf_once && ((${#RF_PIDS[@]} > 0)); then
		fail "refresher processes run for cbt_rf_once: ${RF_PIDS[*]}"
	elif rf_expiry cbt_rf_once 10.231.2.20 && [[ $RF_EXP != 0 ]]; then
		fail "10.231.2.20 (steady.test) should never expire (expires_ns 0), has '${RF_EXP_NS:-no rule}'"
	else
		try_allowed cbt_rf_once tcp 10.231.2.20 8080 &&
			try_denied cbt_rf_once tcp 10.231.2.11 8080 && pass
	fi
else
	skip "the refresher set-up failed"
fi

start_test "refresher clean-up: policies unloaded, no refresher left"
rf_cleanup
leftover=()
for name in cbt_rf_move cbt_rf_kill cbt_rf_hup cbt_rf_once; do
	rf_refreshers "$name"
	leftover+=("${RF_PIDS[@]}")
	[[ -e $RF_RUN/$name.pid ]] && leftover+=("$RF_RUN/$name.pid")
done
if ((${#leftover[@]} > 0)); then
	fail "left behind: ${leftover[*]}"
else
	pass
fi
