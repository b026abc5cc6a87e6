# shellcheck shell=bash
# The DNS forwarder's test upstream, sourced by t_56_dnsfwd.sh and
# t_95_podman.sh: tests/tools/dnsd in srv, on 10.231.1.55 and
# fd42:231:1::55, giving a different address for every query (rotating
# through 10.231.60.0/24 and fd42:231:60::/64 for cdn.test, .61 for
# *.wild.test, .62 for the end of alias.test's CNAME chain), and logging
# every query it receives. srv takes every address of those ranges as its
# own (local routes), so one listener per port serves them: 8443 (IPv4),
# 8444 (IPv6).

DF_DIR=$T/dnsfwd
DF_UP_V4=10.231.1.55
DF_UP_V6=fd42:231:1::55
DF_FOREIGN_V4=10.231.2.11         # serves no DNS: a hard-coded resolver
DF_FOREIGN_V6=fd42:231:2::11
DF_DNSD_PID=${DF_DNSD_PID:-}
DF_FG_PID=""
DNSD=${DNSD:-$ROOT/$BUILD/tests/dnsd}
mkdir -p "$DF_DIR"

df_cleanup() {
	[[ -n $DF_FG_PID ]] && kill -KILL "$DF_FG_PID" 2>/dev/null
	[[ -n $DF_DNSD_PID ]] && kill "$DF_DNSD_PID" 2>/dev/null
	return 0
}
[[ " ${CLEANUP_HOOKS[*]} " == *" df_cleanup "* ]] || CLEANUP_HOOKS+=(df_cleanup)

# df_net: the upstream's addresses, the rotating ranges routed to srv and
# local there, listeners on 8443 (IPv4) and 8444 (IPv6), and dnsd.
df_net() {
	local r i

	[[ -n $DF_DNSD_PID ]] && return 0    # up already (this file's)

	# replace, not add: another file's process may have made them (they
	# stay with the test network; what runs is stopped with each file).
	net_do ip -n "$NS_SRV" addr replace "$DF_UP_V4/32" dev "$VETH_S" &&
	net_do ip -n "$NS_SRV" addr replace "$DF_UP_V6/128" dev "$VETH_S" nodad || return 1
	for r in 60 61 62; do
		net_do ip route replace "10.231.$r.0/24" via "$SRV_V4" dev "$VETH_H" &&
		net_do ip -6 route replace "fd42:231:$r::/64" via "$SRV_V6" dev "$VETH_H" &&
		net_do ip -n "$NS_SRV" route replace local "10.231.$r.0/24" dev lo &&
		net_do ip -n "$NS_SRV" -6 route replace local "fd42:231:$r::/64" dev lo || return 1
	done
	start_listener srv tcp 0.0.0.0 8443 &&
	start_listener srv tcp :: 8444 || return 1
	: >"$DF_DIR/dnsd.log"
	ip netns exec "$NS_SRV" "$DNSD" --listen "$DF_UP_V4" --listen "$DF_UP_V6" --port 53 \
		--log "$DF_DIR/dnsd.log" --ttl 2 \
		--rotate cdn.test 10.231.60.0 fd42:231:60:: \
		--rotate '*.wild.test' 10.231.61.0 fd42:231:61:: \
		--rotate target.elsewhere.test 10.231.62.0 fd42:231:62:: \
		--cname alias.test hop.elsewhere.test \
		--cname hop.elsewhere.test target.elsewhere.test \
		>"$DF_DIR/dnsd.out" 2>&1 {LOCK_FD}>&- &
	DF_DNSD_PID=$!
	for ((i = 0; i < 200; i++)); do
		grep -qx ready "$DF_DIR/dnsd.out" 2>/dev/null && return 0
		proc_alive "$DF_DNSD_PID" || break
		sleep 0.025
	done
	say "dnsd did not start: $(<"$DF_DIR/dnsd.out")" >&2
	return 1
}

df_conf() {
	cat >"$DF_DIR/fwd.conf" <<-EOF
	# Names only: their addresses come from the forwarder's answers.
	dns $DF_UP_V4
	cdn.test:8443/tcp
	cdn.test:8444/tcp
	*.wild.test:8443/tcp
	alias.test:8443/tcp
	EOF
}

# df_upstream_saw TEXT: how many queries with TEXT the upstream logged.
df_upstream_saw() {
	grep -cF -- "$1" "$DF_DIR/dnsd.log"
}
