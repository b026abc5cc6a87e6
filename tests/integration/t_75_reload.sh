# Loading, reloading and checking files: a reload replaces the rules as a
# whole, a bad file changes nothing, check changes nothing.

cat >"$T/conf/reload-a.conf" <<'CONF'
10.231.2.10:8080
CONF
cat >"$T/conf/reload-b.conf" <<'CONF'
# 10.231.2.10 is gone, 10.231.2.11 is new
10.231.2.11:8080
CONF
cat >"$T/conf/bad.conf" <<'CONF'
10.231.2.10:8080
# line 3 is wrong, and the valid line 1 must not be applied either
10.0.0.0/33
CONF
cat >"$T/conf/check.conf" <<'CONF'
dns 10.231.1.53
allowed.test:8080
10.231.2.11:8080/tcp
CONF

start_test "a loaded file takes effect"
load_policy cbt_reload "$T/conf/reload-a.conf" &&
	try_allowed cbt_reload tcp 10.231.2.10 8080 &&
	try_denied cbt_reload tcp 10.231.2.11 8080 && pass

start_test "reloading a changed file under the same name replaces the rules"
load_policy cbt_reload "$T/conf/reload-b.conf" &&
	try_denied cbt_reload tcp 10.231.2.10 8080 &&
	try_allowed cbt_reload tcp 10.231.2.11 8080 &&
	status_json && {
	n=$(jq '[.policies[] | select(.name == "cbt_reload")] | length' <<<"$STATUS")
	((n == 1)) || fail "status lists cbt_reload $n times: $STATUS"
} && pass

start_test "a bad file exits 1 with FILE:LINE and the loaded policy keeps working"
run "$CBPF" load --name cbt_reload "$T/conf/bad.conf"
if ((RC != 1)); then
	fail "load of a file with '10.0.0.0/33' should exit 1: $(ran)"
elif [[ $ERR != *"claude-bpf: $T/conf/bad.conf:3: "* ]]; then
	fail "stderr should say 'claude-bpf: $T/conf/bad.conf:3: ...': $ERR"
else
	try_denied cbt_reload tcp 10.231.2.10 8080 &&
		try_allowed cbt_reload tcp 10.231.2.11 8080 && pass
fi

start_test "a bad file under a new name creates nothing"
run "$CBPF" load --name cbt_never "$T/conf/bad.conf"
if ((RC != 1)); then
	fail "load of a bad file should exit 1: $(ran)"
elif [[ -e $CGROUP_BASE/cbt_never ]]; then
	fail "the enforcement cgroup $CGROUP_BASE/cbt_never was created"
elif [[ -e /sys/fs/bpf/claude-bpf/links/cbt_never ]]; then
	fail "links were pinned at /sys/fs/bpf/claude-bpf/links/cbt_never"
elif status_json; then
	if jq -e '.policies[] | select(.name == "cbt_never")' >/dev/null <<<"$STATUS"; then
		fail "status lists cbt_never: $STATUS"
	else
		pass
	fi
fi

# Everything check could change: maps, pins, cgroups.
snapshot_state() {
	{
		bpftool map dump pinned /sys/fs/bpf/claude-bpf/exact_rules
		bpftool map dump pinned /sys/fs/bpf/claude-bpf/rules
		bpftool map dump pinned /sys/fs/bpf/claude-bpf/policies
		bpftool map dump pinned /sys/fs/bpf/claude-bpf/hostnames
		find /sys/fs/bpf/claude-bpf | sort
		find "$CGROUP_BASE" -type d | sort
	} 2>&1
}

start_test "check prints the rules of a file, names resolved, and changes nothing"
before=$(snapshot_state)
run "$CBPF" check "$T/conf/check.conf"
after=$(snapshot_state)
if ((RC != 0)); then
	fail "check should succeed: $(ran)"
elif [[ $OUT != *10.231.2.20* || $OUT != *fd42:231:2::20* || $OUT != *10.231.2.11* || $OUT != *8080* ]]; then
	fail "check should print the rules with 10.231.2.20, fd42:231:2::20 (allowed.test) and 10.231.2.11, port 8080: $(ran)"
elif [[ $before != "$after" ]]; then
	fail "check changed the loaded state: $(diff <(echo "$before") <(echo "$after"))"
else
	try_denied cbt_reload tcp 10.231.2.10 8080 && pass
fi

start_test "check of a bad file exits 1 with FILE:LINE"
run "$CBPF" check "$T/conf/bad.conf"
if ((RC != 1)); then
	fail "check of a bad file should exit 1: $(ran)"
elif [[ $ERR != *"claude-bpf: $T/conf/bad.conf:3: "* ]]; then
	fail "stderr should say 'claude-bpf: $T/conf/bad.conf:3: ...': $ERR"
else
	pass
fi

# A reload reaches sockets already open. The programs keep an allow decision
# per cgroup and destination (map "decisions"), so the sends that follow
# the first are not decided again: these tests make the first send, change
# the policy (or not), then send again from the same socket and cgroup.

# open_reload KIND REVOKE: a stream in cbt_open, allowed by reload-a.conf;
# with REVOKE, reload-b.conf (without 10.231.2.10) is loaded between the
# two sends, which must then be denied; without, the second send arrives.
open_reload() {
	local kind=$1 revoke=$2 want

	load_policy cbt_open "$T/conf/reload-a.conf" &&
		stream cbt_open "$kind" 10.231.2.10 8080 || return 1
	if ((revoke)); then
		load_policy cbt_open "$T/conf/reload-b.conf" || { stream_end; return 1; }
	fi
	stream_end
	if [[ $kind == tcp ]]; then
		want="$PAYLOAD-before"
		((revoke)) || want+=" $PAYLOAD-after"
		stream_tcp_logged 10.231.2.10 8080 "$want"
		return
	fi
	expect_received srv udp 10.231.2.10 8080 "$PAYLOAD-before" || return 1
	if ((revoke)); then
		if ((STREAM_RC != 1)); then
			fail "the send after the reload should fail with EPERM (exit 1): exit $STREAM_RC, $(<"$T/run/stream.out")"
			return 1
		fi
		expect_nothing srv udp 10.231.2.10 8080 "$PAYLOAD-after"
	else
		((STREAM_RC == 0)) ||
			{ fail "probe stream $kind: exit $STREAM_RC, $(<"$T/run/stream.out")"; return 1; }
		expect_received srv udp 10.231.2.10 8080 "$PAYLOAD-after"
	fi
}

for kind in udp-sendto udp-connect tcp; do
	start_test "$kind on an open socket: without a reload the second send arrives"
	open_reload "$kind" 0 && pass
	start_test "$kind on an open socket: a reload that drops the rule denies the second send"
	open_reload "$kind" 1 && pass
done
