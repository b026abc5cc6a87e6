# claude-bpf allow and revoke: a host or an address added to a running
# policy for a while. The kernel ends a grant itself; a new load of the
# file keeps the unexpired ones; revoke ends one at once; bad input
# changes nothing.

# A hostname too, so that load leaves a refresher, which SIGHUP reloads.
GR_CONF=$T/conf/grants.conf
printf 'dns %s\n10.231.2.10:8080\nallowed.test:9000\n' "$DNS_V4" >"$GR_CONF"

# gr_hup_reload: SIGHUP to cbt_gr's refresher; true once it has made a new
# rule set (5 s at most).
gr_hup_reload() {
	local id0 pid i

	policy_field cbt_gr policy_id || return 1
	id0=$FIELD
	policy_field cbt_gr refresher || return 1
	pid=$(jq -r .pid <<<"$FIELD")
	[[ $pid =~ ^[1-9][0-9]*$ ]] || { fail "cbt_gr has no refresher: $FIELD"; return 1; }
	kill -HUP "$pid"
	for ((i = 0; i < 50; i++)); do
		policy_field cbt_gr policy_id || return 1
		[[ $FIELD != "$id0" ]] && return 0
		sleep 0.1
	done
	fail "SIGHUP to the refresher (pid $pid) made no new rule set in 5 s"
	return 1
}

# gr_grants NAME: the targets of NAME's grants in status --json, one line
# each, into FIELD.
gr_grants() {
	status_json "$1" || return 1
	FIELD=$(jq -r --arg n "$1" '.policies[] | select(.name == $n) | .grants[].target' <<<"$STATUS" | sort -u)
}

start_test "allow --for 5s: reached at once, listed by status, then denied by the kernel once it expires"
if try_denied cbt_main tcp 10.231.2.11 8080; then
	run "$CBPF" allow --policy cbt_main --for 5s 10.231.2.11:8080
	t0=$SECONDS
	if ((RC != 0)); then
		fail "allow --for 5s 10.231.2.11:8080: $(ran)"
	elif try_allowed cbt_main tcp 10.231.2.11 8080 && gr_grants cbt_main; then
		if [[ $FIELD != 10.231.2.11:8080 ]]; then
			fail "status should list the grant 10.231.2.11:8080: $STATUS"
		else
			# Denied again within 5 s + 3 s, and not before 4 s.
			while ((SECONDS - t0 < 8)); do
				new_payload
				sandboxed cbt_main tcp 10.231.2.11 8080 "$PAYLOAD"
				((RC == 1)) && break
				sleep 0.2
			done
			if ((RC != 1)); then
				fail "the grant did not expire 8 s after allow --for 5s: $(ran)"
			elif ((SECONDS - t0 < 4)); then
				fail "the grant ended after $((SECONDS - t0)) s, before its 5 s"
			elif try_denied cbt_main tcp 10.231.2.11 8080 && gr_grants cbt_main; then
				[[ -z $FIELD ]] && pass || fail "status still lists an expired grant: $FIELD"
			fi
		fi
	fi
fi

start_test "a grant outlives a new load of the file and a reload (new rule sets); revoke ends it at once"
if load_policy cbt_gr "$GR_CONF" && try_denied cbt_gr tcp fd42:231:2::11 8080; then
	policy_field cbt_gr policy_id
	id0=$FIELD
	run "$CBPF" allow --policy cbt_gr --for 1h '[fd42:231:2::11]:8080/tcp'
	if ((RC != 0)); then
		fail "allow [fd42:231:2::11]:8080/tcp: $(ran)"
	elif try_allowed cbt_gr tcp fd42:231:2::11 8080 &&
		load_policy cbt_gr "$GR_CONF" && policy_field cbt_gr policy_id; then
		if [[ $FIELD == "$id0" ]]; then
			fail "the second load made no new rule set (policy_id $id0)"
		elif try_allowed cbt_gr tcp fd42:231:2::11 8080 &&
			try_allowed cbt_gr tcp 10.231.2.10 8080 && gr_hup_reload &&
			try_allowed cbt_gr tcp fd42:231:2::11 8080; then
			run "$CBPF" revoke --policy cbt_gr '[fd42:231:2::11]:8080/tcp'
			if ((RC != 0)); then
				fail "revoke: $(ran)"
			elif try_denied cbt_gr tcp fd42:231:2::11 8080 &&
				try_allowed cbt_gr tcp 10.231.2.10 8080 && gr_grants cbt_gr; then
				[[ -z $FIELD ]] && pass || fail "status still lists a revoked grant: $FIELD"
			fi
		fi
	fi
fi

# A hostname resolves through the host's resolvers: here, in a mount
# namespace of its own, a resolv.conf naming the test's dnsmasq.
start_test "allow of a hostname resolves it now and allows its addresses"
printf 'nameserver %s\n' "$DNS_V4" >"$T/conf/grants-resolv.conf"
if ensure_policy cbt_gr && try_denied cbt_gr tcp 10.231.2.20 8080; then
	run unshare -m sh -c 'mount --bind "$1" /etc/resolv.conf &&
		{ [ ! -e /run/systemd/resolve/resolv.conf ] ||
		  mount --bind /dev/null /run/systemd/resolve/resolv.conf; } &&
		exec "$2" allow --policy cbt_gr --for 1h allowed.test:8080' sh \
		"$T/conf/grants-resolv.conf" "$CBPF"
	if ((RC != 0)); then
		fail "allow allowed.test:8080: $(ran)"
	elif try_allowed cbt_gr tcp 10.231.2.20 8080 &&
		try_allowed cbt_gr tcp fd42:231:2::20 8080 && gr_grants cbt_gr; then
		[[ $FIELD == allowed.test:8080 ]] && pass ||
			fail "status should list the grant allowed.test:8080: $FIELD"
	fi
fi

start_test "allow refuses a range, a deny, two targets, a bad duration and an unknown policy, and changes nothing"
if ensure_policy cbt_gr && policy_field cbt_gr policy_id; then
	id0=$FIELD
	gr_grants cbt_gr
	grants0=$FIELD
	bad=""
	for args in "10.231.2.0/24:8080" "deny 10.231.2.11" "10.231.2.11 10.231.2.12" \
		"--for 0 10.231.2.11" "--for 31d 10.231.2.11" "--for 5x 10.231.2.11" \
		"10.231.2.11:99999" "--policy cbt_nosuch 10.231.2.11"; do
		# shellcheck disable=SC2086
		case $args in
		"deny "*) run "$CBPF" allow --policy cbt_gr "$args" ;;
		"--policy "*) run "$CBPF" allow $args ;;
		*) run "$CBPF" allow --policy cbt_gr $args ;;
		esac
		if ((RC == 0)) || [[ -z $ERR ]]; then
			bad+=" [$args: $(ran)]"
		fi
	done
	run "$CBPF" revoke --policy cbt_gr 10.231.9.9
	((RC == 1)) && [[ $ERR == *"no grant '10.231.9.9'"* ]] || bad+=" [revoke of no grant: $(ran)]"
	if [[ -n $bad ]]; then
		fail "accepted, or refused without a message:$bad"
	elif policy_field cbt_gr policy_id && [[ $FIELD != "$id0" ]]; then
		fail "the rule set changed ($id0 -> $FIELD)"
	elif gr_grants cbt_gr && [[ $FIELD != "$grants0" ]]; then
		fail "the grants changed: '$grants0' -> '$FIELD'"
	else
		try_denied cbt_gr tcp 10.231.2.11 8080 && pass
	fi
fi
