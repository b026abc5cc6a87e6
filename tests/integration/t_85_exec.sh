# claude-bpf exec: where the command runs, with what, and what it returns.

# Runs a command with every file descriptor above 2 of this shell closed.
ONLY_STDIO=(bash -c 'for f in /proc/$$/fd/*; do n=${f##*/}; ((n > 2)) && eval "exec $n>&-"; done; exec "$@"' only-stdio)

start_test "exec exits with the command's exit status"
if ensure_policy cbt_main; then
	run "$CBPF" exec --policy cbt_main -- sh -c 'exit 7'
	if ((RC == 7)); then pass; else fail "expected exit status 7: $(ran)"; fi
fi

start_test "exec refuses a policy that is not loaded and does not run the command"
run "$CBPF" exec --policy cbt_nosuch -- sh -c 'echo ran'
if ((RC == 0)) || [[ $OUT == *ran* ]]; then
	fail "exec into a policy that does not exist should fail without running the command: $(ran)"
else
	pass
fi

start_test "exec refuses a policy whose cgroup was removed and made again, and does not run the command"
if load_policy cbt_exre "$T/conf/main.conf"; then
	re_cg=$CGROUP_BASE/cbt_exre
	run "$CBPF" exec --policy cbt_exre -- sh -c 'echo control'
	ctrl=$OUT
	if [[ $ctrl != control ]]; then
		fail "the control: exec into cbt_exre before its cgroup is made again should run: $(ran)"
	elif ! rmdir "$re_cg" || ! mkdir "$re_cg"; then
		fail "cannot remove and make again $re_cg"
	else
		run "$CBPF" exec --policy cbt_exre -- sh -c 'echo ran'
		if ((RC == 0)) || [[ $OUT == *ran* ]]; then
			fail "exec into a cgroup made again (no programs on it) should refuse: $(ran)"
		elif [[ $ERR != *"no policy 'cbt_exre' is enforced ("* ]]; then
			fail "the refusal should say why the policy is not enforced: $(ran)"
		else
			pass
		fi
	fi
	run "$CBPF" unload cbt_exre
	LOADED_POLICIES=${LOADED_POLICIES/ cbt_exre / }
fi

start_test "exec runs the command in a child cgroup of the policy's enforcement cgroup"
if ensure_policy cbt_main; then
	run "$CBPF" exec --policy cbt_main -- cat /proc/self/cgroup
	line=$(grep '^0::' <<<"$OUT")
	if ((RC != 0)); then
		fail "exec -- cat /proc/self/cgroup failed: $(ran)"
	elif [[ $line != "0::/claude-bpf/cbt_main/"?* ]]; then
		fail "expected a cgroup below /claude-bpf/cbt_main/, got '$line'"
	else
		pass
	fi
fi

start_test "exec drops CAP_NET_RAW, CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_BPF"
if ensure_policy cbt_main; then
	run "$CBPF" exec --policy cbt_main -- cat /proc/self/status
	if ((RC != 0)); then
		fail "exec -- cat /proc/self/status failed: $(ran)"
	else
		# bits 12 NET_ADMIN, 13 NET_RAW, 21 SYS_ADMIN, 39 BPF
		mask=$(((1 << 12) | (1 << 13) | (1 << 21) | (1 << 39)))
		problems=""
		for set in CapInh CapPrm CapEff CapBnd CapAmb; do
			v=$(awk -v s="$set:" '$1 == s { print $2 }' <<<"$OUT")
			[[ -n $v ]] || { problems+=" $set missing"; continue; }
			(((16#$v & mask) == 0)) || problems+=" $set=$v"
		done
		if [[ -z $problems ]]; then pass; else fail "the capabilities are still in:$problems"; fi
	fi
fi

start_test "a command run by exec sees none of exec's own file descriptors"
if ensure_policy cbt_main; then
	run "${ONLY_STDIO[@]}" "$CBPF" exec --policy cbt_main -- ls /proc/self/fd
	fds=$(tr '\n' ' ' <<<"$OUT")
	if ((RC != 0)); then
		fail "exec -- ls /proc/self/fd failed: $(ran)"
	elif [[ $fds != "0 1 2 3 " ]]; then
		run "${ONLY_STDIO[@]}" "$CBPF" exec --policy cbt_main -- ls -l /proc/self/fd
		fail "expected only 0 1 2 and ls's own 3, got '$fds': $OUT"
	else
		pass
	fi
fi

start_test "a command run by exec sees no file descriptor its caller left open"
if ensure_policy cbt_main; then
	run "${ONLY_STDIO[@]}" sh -c 'exec 7</dev/null; exec "$@"' sh \
		"$CBPF" exec --policy cbt_main -- ls /proc/self/fd
	fds=$(tr '\n' ' ' <<<"$OUT")
	if ((RC != 0)); then
		fail "exec -- ls /proc/self/fd failed: $(ran)"
	elif [[ $fds != "0 1 2 3 " ]]; then
		run "${ONLY_STDIO[@]}" sh -c 'exec 7</dev/null; exec "$@"' sh \
			"$CBPF" exec --policy cbt_main -- ls -l /proc/self/fd
		fail "with fd 7 open in the caller, expected only 0 1 2 and ls's own 3, got '$fds': $OUT"
	else
		pass
	fi
fi

start_test "exec --user runs the command as that user"
if ! id -u nobody >/dev/null 2>&1; then
	skip "no user 'nobody' on this machine"
elif ensure_policy cbt_main; then
	run "$CBPF" exec --policy cbt_main --user nobody -- id -u
	if ((RC != 0)); then
		fail "exec --user nobody -- id -u failed: $(ran)"
	elif [[ $OUT != "$(id -u nobody)" ]]; then
		fail "expected uid $(id -u nobody), got '$OUT'"
	else
		pass
	fi
fi

start_test "exec sets no_new_privs: a setuid-root file does not make its command root"
# The control: the same file run as nobody outside exec is root (euid 0).
if ! id -u nobody >/dev/null 2>&1; then
	skip "no user 'nobody' on this machine"
elif ! command -v setpriv >/dev/null; then
	skip "no setpriv (util-linux) for the control"
elif ensure_policy cbt_main; then
	suid=$T/suid-id
	cp "$(command -v id)" "$suid" && chown root:root "$suid" && chmod 4755 "$suid"
	run setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups "$suid" -u
	ctrl=$OUT
	run "$CBPF" exec --policy cbt_main --user nobody -- "$suid" -u
	if [[ $ctrl != 0 ]]; then
		fail "harness: the setuid-root copy of id is not root for nobody outside exec either: '$ctrl'"
	elif ((RC != 0)); then
		fail "exec --user nobody -- $suid -u failed: $(ran)"
	elif [[ $OUT != "$(id -u nobody)" ]]; then
		fail "the setuid-root file made the command root under exec: euid '$OUT'"
	else
		run "$CBPF" exec --policy cbt_main -- cat /proc/self/status
		if ! grep -qP '^NoNewPrivs:\t1$' <<<"$OUT" || ! grep -qP '^Seccomp:\t2$' <<<"$OUT"; then
			fail "the command should show NoNewPrivs 1 and Seccomp 2 (a filter): $(grep -E 'NoNewPrivs|Seccomp' <<<"$OUT")"
		else
			pass
		fi
	fi
	rm -f "$suid"
fi
