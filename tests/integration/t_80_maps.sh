# The pinned maps as an operator sees them with bpftool, rules written by
# hand with expiry times, and the deny counters in status.

PIN=/sys/fs/bpf/claude-bpf

start_test "every map is pinned under /sys/fs/bpf/claude-bpf"
if ensure_policy cbt_main; then
	missing=""
	for m in policies exact_rules rules hostnames deny_counters settings events event_limit; do
		[[ -e $PIN/$m ]] || missing+=" $m"
	done
	if [[ -z $missing ]]; then pass; else fail "not pinned:$missing (found: $(ls "$PIN"))"; fi
fi

# dump_has_fields MAP: bpftool prints the map's keys and values with their
# field names, as text and as JSON.
dump_has_fields() {
	run bpftool map dump pinned "$PIN/$1"
	if ((RC != 0)); then
		fail "bpftool map dump $1 failed: $(ran)"
	elif [[ $OUT != *'"prefixlen"'* || $OUT != *'"policy"'* || $OUT != *'"addr"'* || $OUT != *'"expires_ns"'* ]]; then
		fail "the dump of $1 has no named fields (prefixlen, policy, addr, expires_ns): ${OUT:0:600}"
	else
		run bpftool -j map dump pinned "$PIN/$1"
		if ((RC != 0)); then
			fail "bpftool -j map dump $1 failed: $(ran)"
		elif ! jq -e '[.. | objects | select(has("prefixlen") and has("policy") and has("addr"))] | length > 0' \
			>/dev/null <<<"$OUT"; then
			fail "the JSON dump of $1 has no key object with prefixlen, policy and addr: ${OUT:0:600}"
		elif ! jq -e '[.. | objects | select(has("action") and has("expires_ns"))] | length > 0' \
			>/dev/null <<<"$OUT"; then
			fail "the JSON dump of $1 has no value object with action and expires_ns: ${OUT:0:600}"
		else
			return 0
		fi
	fi
	return 1
}

start_test "bpftool map dump of both rules maps prints BTF-formatted keys and values"
if ensure_policy cbt_main && dump_has_fields exact_rules && dump_has_fields rules; then
	pass
fi

# Whole addresses in exact_rules, shorter prefixes in the trie.
start_test "rules for whole addresses are in exact_rules, rules for prefixes in rules"
if ensure_policy cbt_main; then
	exact=$(bpftool -j map dump pinned "$PIN/exact_rules" | jq -c '[.[] | .formatted.key.prefixlen] | unique')
	trie=$(bpftool -j map dump pinned "$PIN/rules" | jq -c '[.[] | .formatted.key.prefixlen] | unique')
	if [[ $exact != "[192]" ]]; then
		fail "exact_rules should hold only prefixlen 192 (64 + 128): $exact"
	elif [[ $trie == "[]" || $trie == *192* ]]; then
		fail "rules should hold the prefixes (10.231.3.128/25, fd42:231:3::/64), none of 192: $trie"
	else
		pass
	fi
fi

# Little-endian bytes of a number, as bpftool's "hex" arguments.
le_hex() {
	local n=$1 bytes=$2 i out=""

	for ((i = 0; i < bytes; i++)); do
		out+=$(printf ' %02x' $(((n >> (8 * i)) & 255)))
	done
	printf '%s' "${out# }"
}

# CLOCK_BOOTTIME in ns (what /proc/uptime counts), good to 10 ms.
boottime_ns() {
	local up

	read -r up _ </proc/uptime
	echo $(((${up%.*} * 100 + 10#${up#*.}) * 10000000))
}

# put_rule POLICY_NAME IPV4 EXPIRES_NS: an allow rule for IPV4/32, every
# protocol and port, written straight into the pinned exact_rules map.
put_rule() {
	local id key value a b c d

	policy_field "$1" policy_id || return 1
	id=$FIELD
	IFS=. read -r a b c d <<<"$2"
	# struct cbpf_rule_key: prefixlen = 64 fixed bits + 96 + 32, policy,
	# proto 0 (any), pad, port 0 (any), ::ffff:a.b.c.d
	key="$(le_hex 192 4) $(le_hex "$id" 4) 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ff ff"
	key+=$(printf ' %02x' "$a" "$b" "$c" "$d")
	# struct cbpf_rule: allow, addr_prefix 128, pad, host 0, expires_ns
	value="01 80 00 00 00 00 00 00 $(le_hex "$3" 8)"
	# shellcheck disable=SC2086
	run bpftool map update pinned "$PIN/exact_rules" key hex $key value hex $value
	((RC == 0)) || fail "bpftool map update failed: $(ran)"
}

cat >"$T/conf/expiry.conf" <<'CONF'
10.231.2.10:8080
CONF

start_test "a rule written with bpftool whose expires_ns has passed is ignored"
load_policy cbt_expiry "$T/conf/expiry.conf" &&
	try_denied cbt_expiry tcp 10.231.2.11 8080 &&
	put_rule cbt_expiry 10.231.2.11 1 &&
	try_denied cbt_expiry tcp 10.231.2.11 8080 && pass

start_test "the same rule with expires_ns in the future allows"
put_rule cbt_expiry 10.231.2.11 $(($(boottime_ns) + 3600 * 1000000000)) &&
	try_allowed cbt_expiry tcp 10.231.2.11 8080 && pass

# Five seconds, not one: under software emulation (make vmtest) bpftool and
# claude-bpf exec alone can take over a second. Then wait until it passed.
start_test "the same rule expiring five seconds from now stops allowing when it expires"
exp_ns=$(($(boottime_ns) + 5000000000))
put_rule cbt_expiry 10.231.2.11 "$exp_ns" &&
	try_allowed cbt_expiry tcp 10.231.2.11 8080 && {
	while (($(boottime_ns) <= exp_ns)); do
		sleep 0.2
	done
	try_denied cbt_expiry tcp 10.231.2.11 8080
} && pass

start_test "status --json counts denials without a rule (no_rule)"
if ensure_policy cbt_main && denied_count cbt_main no_rule; then
	before=$COUNT
	try_denied cbt_main tcp 10.231.2.11 8080 && denied_rose cbt_main no_rule "$before" && pass
fi

start_test "status --json counts denials by a deny rule (deny_rule)"
if ensure_policy cbt_main && denied_count cbt_main deny_rule; then
	before=$COUNT
	try_denied cbt_main tcp 10.231.3.130 8080 && denied_rose cbt_main deny_rule "$before" && pass
fi

start_test "status --json describes the policy: cgroup, ids, programs, rules"
if ensure_policy cbt_main && status_json cbt_main; then
	p=$(jq -c '.policies[] | select(.name == "cbt_main")' <<<"$STATUS")
	cg=$(jq -r '.cgroup' <<<"$p")
	problems=""
	[[ $cg == "$CGROUP_BASE/cbt_main" ]] || problems+="; cgroup is '$cg', not $CGROUP_BASE/cbt_main"
	[[ -d $cg && $(jq -r '.cgroup_id' <<<"$p") == "$(stat -c %i "$cg" 2>/dev/null)" ]] ||
		problems+="; cgroup_id is not the inode of $cg"
	jq -e '.policy_id | numbers | . > 0' >/dev/null <<<"$p" || problems+="; no policy_id > 0"
	jq -e --argjson n "$N_PROGRAMS" '.programs | length == $n' >/dev/null <<<"$p" ||
		problems+="; not $N_PROGRAMS programs"
	jq -e '[.rules[] | select(.action == "allow" and (.address | sub("/32$"; "")) == "10.231.2.10"
		and .port == 8080 and (.proto == "tcp" or .proto == "any") and .host == null and .expires_ns == 0)]
		| length > 0' >/dev/null <<<"$p" || problems+="; no allow rule for 10.231.2.10 port 8080"
	jq -e '[.rules[] | select(.action == "deny" and .address == "10.231.3.128/25"
		and .port == 0 and .proto == "any")] | length > 0' >/dev/null <<<"$p" ||
		problems+="; no deny rule for 10.231.3.128/25"
	jq -e '[.rules[] | select(.action == "allow" and .address == "fd42:231:3::/64" and .port == 0)]
		| length > 0' >/dev/null <<<"$p" || problems+="; no allow rule for fd42:231:3::/64"
	if [[ -n $problems ]]; then
		fail "${problems#; } in: $p"
	else
		pass
	fi
fi

start_test "status takes its options after the name too (status NAME --json)"
if ensure_policy cbt_main; then
	run "$CBPF" status cbt_main --json
	if ((RC != 0)); then
		fail "claude-bpf status cbt_main --json: $(ran)"
	elif ! jq -e '.policies | length == 1 and .[0].name == "cbt_main"' >/dev/null 2>&1 <<<"$OUT"; then
		fail "expected JSON with the one policy cbt_main: $OUT"
	else
		pass
	fi
fi

start_test "status NAME shows that policy in words"
if ensure_policy cbt_main; then
	run "$CBPF" status cbt_main
	if ((RC != 0)); then
		fail "claude-bpf status cbt_main: $(ran)"
	elif [[ $OUT != *cbt_main* || $OUT != *10.231.2.10* ]]; then
		fail "expected the name and the rules (10.231.2.10) in: $OUT"
	else
		pass
	fi
fi
