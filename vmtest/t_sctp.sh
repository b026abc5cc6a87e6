# SCTP to the host's loopback, run in the vmtest guests (their Debian
# kernels have SCTP; the machine CI runs on has none, so this file is not
# among tests/integration's). One-to-many SCTP (SOCK_SEQPACKET) starts its
# association from sendto(), which no socket hook sees: only the egress
# program judges its packets, and on 6.1 and 6.12 it cannot name their
# network namespace, so it must take them for the host's. The control: the
# same send from outside the sandbox arrives. The denial: nothing arrives,
# and the policy counts loopback denials.

SCTP_PORT=47241

modprobe sctp 2>/dev/null
for lo in 127.0.0.1 ::1; do
	start_test "SCTP (one-to-many, no connect) to the host's $lo from the host namespace is denied (reason loopback); outside the sandbox it arrives"
	# A policy of its own: this file runs after t_90, which unloads them all.
	if [[ $LOADED_POLICIES != *" cbt_sctp "* ]]; then
		load_policy cbt_sctp "$T/conf/main.conf" || continue
	fi
	start_listener "" sctp "$lo" "$SCTP_PORT" ||
		{ fail "cannot listen on SCTP $lo port $SCTP_PORT (no SCTP in this kernel?)"; continue; }
	log=${LISTENER_LOG[$(listener_key "" sctp "$lo" "$SCTP_PORT")]}
	new_payload
	ctrl=$PAYLOAD
	unsandboxed sctp "$lo" "$SCTP_PORT" "$ctrl"
	if ((RC != 0)) || ! wait_for_line "$log" "$ctrl"; then
		fail "harness: SCTP to $lo outside the sandbox did not arrive: $(ran); log: $(tr '\n' ' ' <"$log")"
		continue
	fi
	denied_count cbt_sctp loopback || continue
	before=$COUNT
	new_payload
	denied=$PAYLOAD
	sandboxed cbt_sctp sctp "$lo" "$SCTP_PORT" "$denied"
	out=$(ran)
	rc=$RC
	# The send waits for the association (its INITs retransmitted, 3 s at
	# most); had it returned at once, give the association a second. Then
	# a marker from outside, so whatever got through would be there.
	((rc == 0)) && sleep 1
	new_payload
	unsandboxed sctp "$lo" "$SCTP_PORT" "sync-$PAYLOAD"
	if ! wait_for_line "$log" "sync-$PAYLOAD"; then
		fail "harness: the marker sent outside the sandbox did not arrive"
	elif grep -qF "$denied" "$log"; then
		fail "SCTP from the sandbox reached the host's $lo: $(tr '\n' ' ' <"$log")"
	elif ((rc != 0 && rc != 3)) && [[ $rc != 1 || $out != *" (denied)"* ]]; then
		fail "the sandboxed SCTP send failed otherwise than denied or unanswered: $out"
	else
		denied_rose cbt_sctp loopback "$before" && pass
	fi
done
