# shellcheck shell=bash
# The shipped unit systemd/claude-bpf.service under a real systemd (the
# vmtest guest): it loads the policy and stays as its refresher; a restart,
# a crash (SIGKILL, restarted by Restart=on-failure) and a reload (SIGHUP,
# the file read again) keep enforcement in place the whole time.
# Sourced by tests/integration/run, after lib.sh:
#   tests/integration/run vmtest/t_service.sh

SV_POLICY=cbt_svc
SV_UNIT=cbt-claude-bpf-$$.service
SV_UNIT_FILE=/run/systemd/system/$SV_UNIT
SV_STATE=""

sv_cleanup() {
	[[ -e $SV_UNIT_FILE ]] || return 0
	systemctl stop "$SV_UNIT" >/dev/null 2>&1
	rm -f "$SV_UNIT_FILE"
	systemctl daemon-reload >/dev/null 2>&1
	systemctl reset-failed "$SV_UNIT" >/dev/null 2>&1
}

# sv_main_pid: SV_PID is the unit's MainPID (0 when not running).
sv_main_pid() {
	SV_PID=$(systemctl show -P MainPID "$SV_UNIT")
}

# sv_wait_refresher [OLD-PID]: true once the unit runs (a MainPID other
# than OLD-PID) and status reports that process as the policy's refresher
# (20 s at most: after a crash systemd waits RestartSec=5 first).
sv_wait_refresher() {
	local old=${1:-0} i pid

	for ((i = 0; i < 200; i++)); do
		sv_main_pid
		if [[ $SV_PID != 0 && $SV_PID != "$old" ]]; then
			run "$CBPF" status --json "$SV_POLICY"
			pid=$(jq -r '.policies[0].refresher.pid // 0' <<<"$OUT" 2>/dev/null)
			[[ $pid == "$SV_PID" ]] && return 0
		fi
		sleep 0.1
	done
	fail "the service did not come up as the refresher of $SV_POLICY (MainPID ${SV_PID:-?}, old $old): $(systemctl status --no-pager "$SV_UNIT" 2>&1 | tail -n 5); status: $OUT"
	return 1
}

# sv_held WHAT: allowed.test (10.231.2.20) reached, other.test (10.231.2.11)
# refused, inside the policy.
sv_held() {
	try_allowed "$SV_POLICY" tcp 10.231.2.20 8080 || { fail "$1"; return 1; }
	try_denied "$SV_POLICY" tcp 10.231.2.11 8080 || { fail "$1"; return 1; }
}

# sv_probes_start: exec'd probes toward other.test in the background, one
# after another every 0.1 s, each a line "EXIT LAST-LINE" in
# $T/svc-probes.log, until sv_probes_end (at least 20 of them; 1,200 at
# most). exec exits 1 too when it finds no policy: each must be the
# probe's own denial.
sv_probes_start() {
	new_payload
	SV_PAYLOAD=$PAYLOAD
	rm -f "$T/svc-probes.stop"
	: >"$T/svc-probes.log"
	(
		for ((i = 0; i < 1200; i++)); do
			((i >= 20)) && [[ -e $T/svc-probes.stop ]] && break
			out=$("$CBPF" exec --policy "$SV_POLICY" -- "$PROBE" tcp 10.231.2.11 8080 "$SV_PAYLOAD" 2>&1)
			echo "$? ${out##*$'\n'}" >>"$T/svc-probes.log"
			sleep 0.1
		done
	) {LOCK_FD}>&- &
	SV_PROBES=$!
	BG_PIDS+=("$SV_PROBES")
}

# sv_probes_end WHAT: the probes end; true when they ran to their end and
# each was denied by the policy, nothing reaching other.test; otherwise
# the test fails.
sv_probes_end() {
	local rc n bad

	: >"$T/svc-probes.stop"
	wait "$SV_PROBES"
	rc=$?
	n=$(wc -l <"$T/svc-probes.log")
	bad=$(grep -cvE '^1 .* \(denied\)$' "$T/svc-probes.log")
	if grep -qxF -- "$SV_PAYLOAD" "${LISTENER_LOG[srv tcp 10.231.2.11 8080]}"; then
		fail "other.test received a connection $1"
	elif ((rc != 0 || n < 20)); then
		fail "the probes $1 ended with exit $rc after $n of at least 20: $(tr '\n' ' ' <"$T/svc-probes.log")"
	elif ((bad > 0)); then
		fail "every probe $1 should be denied by the policy (exit 1, the probe's '(denied)'); $bad of $n were not: $(grep -vE '^1 .* \(denied\)$' "$T/svc-probes.log" | head -n 3 | tr '\n' ' ')"
	else
		return 0
	fi
	return 1
}

start_test "service set-up: the shipped unit as $SV_UNIT, loading $SV_POLICY (allowed.test through the test's dnsmasq)"
if [[ $(cat /proc/1/comm) != systemd ]]; then
	skip "needs systemd as PID 1 (make vmtest boots such a guest)"
else
	CLEANUP_HOOKS+=(sv_cleanup)
	printf '%s\n' "dns $DNS_V4" "allowed.test:8080" >"$T/conf/svc.conf"
	# As `make install` does, with this build and the test's names.
	sed -e "s|/usr/local/sbin/claude-bpf|$CBPF|" \
		-e "s|--name default /etc/claude-bpf/allowed-hosts.conf|--name $SV_POLICY $T/conf/svc.conf|" \
		"$ROOT/systemd/claude-bpf.service" >"$SV_UNIT_FILE"
	if ! grep -q "^ExecStart=$CBPF load --foreground --cgroup-manager podman --name $SV_POLICY $T/conf/svc.conf\$" "$SV_UNIT_FILE"; then
		fail "systemd/claude-bpf.service has no ExecStart the test understands: $(grep ExecStart "$SV_UNIT_FILE")"
	elif ! systemctl daemon-reload || ! run systemctl start "$SV_UNIT" || ((RC != 0)); then
		fail "systemctl start $SV_UNIT failed: $(ran); $(systemctl status --no-pager "$SV_UNIT" 2>&1 | tail -n 5)"
	elif sv_wait_refresher; then
		LOADED_POLICIES+="$SV_POLICY "
		SV_STATE=up
		pass
	fi
fi

sv_ready() {
	[[ $SV_STATE == up ]] && return 0
	skip "the service set-up did not work"
	return 1
}

start_test "service: the policy it loaded holds (allowed.test reached, other.test refused)"
sv_ready && sv_held "while the service runs" && pass

start_test "service: systemctl restart, enforcement kept during and after, a new refresher"
if sv_ready; then
	sv_main_pid
	old=$SV_PID
	# Probes from before the restart until the new refresher is up.
	sv_probes_start
	run systemctl restart "$SV_UNIT"
	if ((RC != 0)); then
		fail "systemctl restart failed: $(ran)"
		sv_probes_end "while the service restarted"
	elif ! sv_wait_refresher "$old"; then
		sv_probes_end "while the service restarted"
	elif sv_probes_end "while the service restarted"; then
		sv_held "after the restart" && pass
	fi
fi

start_test "service: SIGKILL to it, systemd restarts it (Restart=on-failure); enforcement holds in the gap and after"
if sv_ready; then
	sv_main_pid
	old=$SV_PID
	# Probes from before the kill until systemd has restarted it.
	sv_probes_start
	run systemctl kill -s KILL "$SV_UNIT"
	# Until the killed process is gone (5 s at most).
	for ((i = 0; i < 100; i++)); do
		kill -0 "$old" 2>/dev/null || break
		sleep 0.05
	done
	if ((RC != 0)); then
		fail "systemctl kill -s KILL failed: $(ran)"
		sv_probes_end "while the service was down"
	elif kill -0 "$old" 2>/dev/null; then
		fail "the service's process $old still runs 5 s after SIGKILL"
		sv_probes_end "while the service was down"
	# In the RestartSec gap no refresher runs; the kernel still enforces.
	elif ! sv_held "while the service was down" || ! sv_wait_refresher "$old"; then
		sv_probes_end "while the service was down"
	elif sv_probes_end "while the service was down and restarted"; then
		sv_held "after systemd restarted it" && pass
	fi
fi

start_test "service: systemctl reload reads the edited file (other.test added), same process"
if sv_ready; then
	sv_main_pid
	old=$SV_PID
	printf '%s\n' "other.test:8080" >>"$T/conf/svc.conf"
	run systemctl reload "$SV_UNIT"
	if ((RC != 0)); then
		fail "systemctl reload failed: $(ran)"
	else
		ok=false
		for ((i = 0; i < 100; i++)); do
			run "$CBPF" exec --policy "$SV_POLICY" -- "$PROBE" tcp 10.231.2.11 8080 "reload-probe-$i"
			((RC == 0)) && { ok=true; break; }
			sleep 0.1
		done
		sv_main_pid
		if ! $ok; then
			fail "other.test still refused 10 s after the reload: $(ran)"
		elif [[ $SV_PID != "$old" ]]; then
			fail "reload replaced the process ($old -> $SV_PID); it should re-read the file in place"
		else
			try_allowed "$SV_POLICY" tcp 10.231.2.20 8080 && pass
		fi
	fi
fi

start_test "service: systemctl stop leaves the policy enforced (only unload removes it)"
if sv_ready; then
	run systemctl stop "$SV_UNIT"
	if ((RC != 0)); then
		fail "systemctl stop failed: $(ran)"
	else
		try_denied "$SV_POLICY" tcp 10.231.2.10 8081 && pass
	fi
fi
