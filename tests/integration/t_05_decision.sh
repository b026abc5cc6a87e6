# The decision's test vectors (tests/decision/vectors.c), the table the
# unit test drives cbpf_rules_decide with, judged by the real egress
# program with BPF_PROG_RUN (tests/tools/decide.c): each rule set applied
# as a policy, the tool's own process below it. No packet is sent.

DECIDE=${DECIDE:-$ROOT/$BUILD/tests/decide}

# decision_tests: one test per vector the tool printed ("ok    NAME: DEST
# -> VERDICT", or "FAIL  NAME: DEST -> VERDICT (the table); WHAT IT GOT"),
# then one for its exit status.
decision_tests() {
	local line

	while IFS= read -r line; do
		case $line in
		"ok    "*)
			start_test "decision: ${line#ok    }"
			pass
			;;
		"FAIL  "*)
			line=${line#FAIL  }
			start_test "decision: ${line%% (the table); *}"
			fail "${line#* (the table); }"
			;;
		esac
	done <<<"$OUT"
	start_test "decision: every vector judged by the BPF program (exit 0)"
	case $RC in
	0)
		# A tool that judged nothing has proved nothing.
		if grep -q '^ok    ' <<<"$OUT"; then pass; else fail "exit 0 with no vector judged: $(ran)"; fi
		;;
	1) fail "$(grep -c '^FAIL' <<<"$OUT") vectors judged otherwise: $(tail -n 1 <<<"$OUT")" ;;
	77) skip "${ERR:-the tool skipped without saying why}" ;;
	*) fail "the tool stopped: $(ran)" ;;
	esac
}

if [[ ! -x $DECIDE ]]; then
	start_test "decision: the vectors through the BPF program"
	fail "$DECIDE is not built (make $BUILD/tests/decide)"
else
	run "$DECIDE"
	decision_tests
fi
