# claude-bpf run with real podman and real containers (rootful, as the suite
# runs): the network held by the policy over IPv4 and IPv6, the mounts and
# their modes, arguments, the fail-closed refusals, no raw or packet sockets.
# The podman set-up and its helpers are in podman.sh.
# The scripts for the container are single-quoted on purpose:
# shellcheck disable=SC2016

# shellcheck source=podman.sh
. "$ROOT/tests/integration/podman.sh"

PM_POLICY=cbt_pod
# What run must give podman for the policy (cgroupfs manager).
PM_PARENT=/${CGROUP_BASE#"$CGROUP2"/}/$PM_POLICY

start_test "podman set-up: the tests' containers.conf, network $PM_NET, image $PM_IMAGE, policy $PM_POLICY"
pm_start && pass

# --- the set-up itself, without claude-bpf run

start_test "podman set-up: a container outside any policy reaches the test hosts over IPv4 and IPv6"
if pm_ready; then
	new_payload
	p4=$PAYLOAD
	new_payload
	p6=$PAYLOAD
	run podman run --rm "$PM_IMAGE" sh -c 'probe tcp 10.231.2.11 8080 "$1" && probe tcp fd42:231:2::11 8080 "$2"' sh "$p4" "$p6"
	if ((RC != 0)); then
		fail "without a policy, the container should reach 10.231.2.11 and fd42:231:2::11 port 8080 (the denied tests below mean nothing otherwise): $(ran)"
	else
		expect_received srv tcp 10.231.2.11 8080 "$p4" &&
			expect_received srv tcp fd42:231:2::11 8080 "$p6" && pass
	fi
fi

start_test "podman set-up: a container with --cgroup-parent=$PM_PARENT is held by the policy"
if pm_ready; then
	new_payload
	p_ok=$PAYLOAD
	new_payload
	p_no=$PAYLOAD
	run podman run --rm --cgroupns=host --cgroup-parent="$PM_PARENT" "$PM_IMAGE" sh -c \
		'grep "^0::" /proc/self/cgroup; probe tcp 10.231.2.10 8080 "$1"; echo "allowed=$?"; probe tcp 10.231.2.11 8080 "$2"; echo "denied=$?"' \
		sh "$p_ok" "$p_no"
	if ((RC != 0)); then
		fail "podman run --cgroup-parent=$PM_PARENT failed: $(ran)"
	elif [[ $OUT != "0::$PM_PARENT/libpod-"*$'\n'"allowed=0"$'\n'"denied=1" ]]; then
		fail "expected the container below $PM_PARENT, the allowed host reached and the denied one refused (EPERM): $(ran)"
	else
		expect_received srv tcp 10.231.2.10 8080 "$p_ok" &&
			expect_nothing srv tcp 10.231.2.11 8080 "$p_no" && pass
	fi
fi

# --- the network, through claude-bpf run

# pm_try KIND ADDR PORT: the probe inside a container started by run.
pm_try() {
	new_payload
	pm_new_home
	pm_new_dir
	pm_shell "$DIR" 'exec probe "$@"' "$1" "$2" "$3" "$PAYLOAD"
}

pm_try_allowed() {
	pm_try "$@"
	if ((RC != 0)); then
		fail "$1 to $2 port $3 from the container should be allowed: $(ran)"
		return 1
	fi
	expect_received srv "$(kind_proto "$1")" "$2" "$3" "$PAYLOAD"
}

# The probe's EPERM exit status 1 is the container's, and so run's; run
# also exits 1 when it starts nothing, so the probe's own "(denied)" must
# be there too.
pm_try_denied() {
	local payload

	pm_try "$@"
	payload=$PAYLOAD
	if ((RC != 1)) || [[ $ERR != *" (denied)"* ]]; then
		fail "$1 to $2 port $3 from the container should be denied with the probe's EPERM (exit status 1): $(ran)"
		expect_nothing srv "$(kind_proto "$1")" "$2" "$3" "$payload"
		return 1
	fi
	expect_nothing srv "$(kind_proto "$1")" "$2" "$3" "$payload"
}

start_test "run: an allowed host is reachable from the container over IPv4"
pm_ready && pm_have_run && pm_try_allowed tcp 10.231.2.10 8080 && pass

start_test "run: an allowed host is reachable from the container over IPv6"
pm_ready && pm_have_run && pm_try_allowed tcp fd42:231:2::10 8080 && pass

start_test "run: TCP over IPv4 to a host without a rule is denied and the listener sees nothing"
pm_ready && pm_have_run && pm_try_denied tcp 10.231.2.11 8080 && pass

start_test "run: TCP over IPv6 to a host without a rule is denied and the listener sees nothing"
pm_ready && pm_have_run && pm_try_denied tcp fd42:231:2::11 8080 && pass

start_test "run: TCP to an allowed host on a port without a rule is denied"
pm_ready && pm_have_run && pm_try_denied tcp 10.231.2.10 8081 && pass

start_test "run: UDP over IPv4 and IPv6 to a host without a rule is denied"
pm_ready && pm_have_run && pm_try_denied udp-sendto 10.231.2.11 8080 &&
	pm_try_denied udp-sendto fd42:231:2::11 8080 && pass

# --- where the container runs

# --- the boundary does not lean on podman's defaults

start_test "run under a containers.conf with netns=host, cgroupns=host, seccomp unconfined, NET_RAW: the container still gets its own"
if pm_ready && pm_have_run; then
	pm_new_home
	pm_new_dir
	PM_ENV=(CONTAINERS_CONF="$PM_HOSTILE_CONF")
	pm_shell "$DIR" 'readlink /proc/self/ns/net; grep "^0::" /proc/self/cgroup
		grep -E "^(Seccomp|NoNewPrivs|CapBnd):" /proc/self/status; probe socket AF_VSOCK; echo "vsock=$?"'
	PM_ENV=()
	bnd=$(awk '$1 == "CapBnd:" { print $2 }' <<<"$OUT")
	# bits 12 NET_ADMIN, 13 NET_RAW, 21 SYS_ADMIN
	if ((RC != 0)); then
		fail "run failed: $(ran)"
	elif [[ $(head -n1 <<<"$OUT") == "$(readlink /proc/self/ns/net)" ]]; then
		fail "the container is in the host's network namespace: $(ran)"
	elif ! grep -qx '0::/' <<<"$OUT"; then
		fail "the container should have a cgroup namespace of its own (0::/): $(ran)"
	elif ! grep -qP '^Seccomp:\t2$' <<<"$OUT" || ! grep -qP '^NoNewPrivs:\t1$' <<<"$OUT"; then
		fail "the container should run under a seccomp filter with no new privileges: $(ran)"
	elif [[ -z $bnd ]] || (((16#$bnd & ((1 << 12) | (1 << 13) | (1 << 21))) != 0)); then
		fail "the container's bounding set should hold none of NET_ADMIN, NET_RAW, SYS_ADMIN: $(ran)"
	elif ! grep -qx 'vsock=1' <<<"$OUT"; then
		fail "socket(AF_VSOCK) should be refused: $(ran)"
	else
		pass
	fi
fi

# A podman (or a containers.conf it obeyed) that gave the container less
# than run asked: run sees it in the created container, removes it, and
# starts nothing. The real podman makes the container, under the hostile
# containers.conf, with one of run's options left out.
for flag in --network=private --cgroupns=private --security-opt=seccomp= \
	--security-opt=no-new-privileges --cap-drop=all; do
	start_test "run refuses a container made without $flag (the site's setting won), and runs nothing"
	if pm_ready && pm_have_run; then
		pm_new_home
		pm_new_dir
		mkdir -p "$PM_DIR/fakebin"
		cat >"$PM_DIR/fakebin/podman" <<-EOF
		#!/bin/bash
		# podman that leaves out $flag on create
		args=()
		for a; do
			[[ \$1 == create && \$a == "$flag"* ]] && continue
			args+=("\$a")
		done
		exec $(command -v podman) "\${args[@]}"
		EOF
		chmod 755 "$PM_DIR/fakebin/podman"
		before=$(pm_containers)
		PM_PATH=$PM_DIR/fakebin:$PATH
		PM_ENV=(CONTAINERS_CONF="$PM_HOSTILE_CONF")
		pm_run "$DIR" --policy "$PM_POLICY" --image "$PM_IMAGE" --shell -- -c 'touch ran'
		PM_ENV=()
		PM_PATH=$PATH
		after=$(pm_containers)
		if ((RC == 0)); then
			fail "run should refuse: $(ran)"
		elif [[ -e $DIR/ran ]]; then
			fail "the command ran: $(ran)"
		elif [[ $ERR != *"differs from what claude-bpf asked"* ]]; then
			fail "run should say the container differs from what it asked: $(ran)"
		elif ((after != before)); then
			fail "run left the container behind ($before containers before, $after after): $(podman ps -a)"
		else
			pass
		fi
	fi
done

start_test "run: seen from the host, the container's process is in a cgroup below the enforcement cgroup"
if pm_ready && pm_have_run; then
	pm_new_home
	pm_new_dir
	# The container holds while the test looks at it from the host.
	pm_hold "$DIR" "$PM_HOLD; echo done"
	pm_release
	if [[ ! -e $DIR/started ]]; then
		fail "the container did not start: $(ran)"
	elif [[ -z $PM_RUNNING_IDS || $PM_RUNNING_IDS == *$'\n'* || $PM_HELD != "$PM_RUNNING_IDS" ]]; then
		fail "expected one running container, podman ps shows: '${PM_RUNNING_IDS//$'\n'/ }'"
	elif [[ $PM_HELD_CGROUP != "0::$PM_PARENT/libpod-$PM_HELD" ]]; then
		fail "the container's process $PM_HELD_INIT is in '$PM_HELD_CGROUP', not in 0::$PM_PARENT/libpod-$PM_HELD"
	elif ((RC != 0)) || [[ $OUT != "done" ]]; then
		fail "run should have exited 0 after printing 'done': $(ran)"
	else
		pass
	fi
fi

# A podman that ignores --cgroup-parent on create: run must notice that the
# container is outside the enforcement cgroup, and put it down unstarted.
start_test "run refuses a container that is not inside the enforcement cgroup, and runs nothing"
if pm_ready && pm_have_run; then
	pm_new_home
	pm_new_dir
	pm_run "$DIR" --dry-run --policy "$PM_POLICY" --image "$PM_IMAGE" --shell -- -c 'touch ran'
	if [[ $OUT != "podman create "* ]]; then
		skip "run --dry-run does not call podman through PATH ('${OUT%% *}'), so a podman that ignores --cgroup-parent cannot be put in its way"
	else
		mkdir -p "$PM_DIR/fakebin"
		cat >"$PM_DIR/fakebin/podman" <<-EOF
		#!/bin/bash
		# podman that ignores --cgroup-parent on create
		args=()
		for a; do
			[[ \$1 == create && \$a == --cgroup-parent=* ]] && continue
			args+=("\$a")
		done
		exec $(command -v podman) "\${args[@]}"
		EOF
		chmod 755 "$PM_DIR/fakebin/podman"
		before=$(pm_containers)
		PM_PATH=$PM_DIR/fakebin:$PATH
		pm_run "$DIR" --policy "$PM_POLICY" --image "$PM_IMAGE" --shell -- -c 'touch ran'
		PM_PATH=$PATH
		after=$(pm_containers)
		if ((RC == 0)); then
			fail "run should fail when the container is outside $PM_PARENT: $(ran)"
		elif [[ -e $DIR/ran ]]; then
			fail "the command ran in a container outside the enforcement cgroup: $(ran)"
		elif [[ -z $ERR ]]; then
			fail "run refused without saying why on stderr: $(ran)"
		elif ((after != before)); then
			fail "run left the container behind ($before containers before, $after after): $(podman ps -a)"
		else
			pass
		fi
	fi
fi

# --- mounts

start_test "run: the current directory is mounted read-write at its own path and is the working directory"
if pm_ready && pm_have_run; then
	pm_new_home
	pm_new_dir
	echo host >"$DIR/from-host"
	pm_shell "$DIR" 'pwd; cat from-host; echo container >"$PWD/from-container"'
	if ((RC != 0)); then
		fail "run failed: $(ran)"
	elif [[ $OUT != "$DIR"$'\n'host ]]; then
		fail "expected the working directory $DIR with the host's file in it: $(ran)"
	elif [[ $(cat "$DIR/from-container" 2>/dev/null) != container ]]; then
		fail "what the container wrote in the current directory is not on the host: $(ran)"
	else
		pass
	fi
fi

start_test "run: a symlinked current directory is mounted and entered at its resolved path"
if pm_ready && pm_have_run; then
	pm_new_home
	pm_new_dir
	link=$DIR-link
	ln -s "$DIR" "$link"
	pm_run "$link" --policy "$PM_POLICY" --image "$PM_IMAGE" --shell -- -c 'pwd; touch through-link'
	if ((RC != 0)); then
		fail "run from $link failed: $(ran)"
	elif [[ $OUT != "$DIR" ]]; then
		fail "expected the working directory $DIR (the link resolved): $(ran)"
	elif [[ ! -e $DIR/through-link ]]; then
		fail "the file written in the working directory is not in $DIR"
	else
		pass
	fi
fi

# pm_mount_opts PATH: a script printing "mount PATH OPTIONS" from inside.
PM_MOUNT_OPTS='awk -v m="$1" '"'"'$2 == m { split($4, o, ","); print "mount", m, o[1] }'"'"' /proc/self/mounts'

start_test "run: ~/git is read-only and a current directory inside it read-write"
if pm_ready && pm_have_run && pm_home_used; then
	pm_new_home
	mkdir -p "$PM_HOME/git/proj"
	echo in-git >"$PM_HOME/git/marker"
	pm_own "$PM_HOME/git"
	pm_shell "$PM_HOME/git/proj" \
		'cat "$HOME/git/marker"; touch "$HOME/git/new" 2>/dev/null && echo git-writable; touch new && echo cwd-writable; set -- "$HOME/git"; '"$PM_MOUNT_OPTS"
	if ((RC != 0)); then
		fail "run failed: $(ran)"
	elif [[ $OUT != in-git$'\n'cwd-writable$'\n'"mount $PM_HOME/git ro" ]]; then
		fail "expected ~/git read-only (mounted ro) and the current directory writable: $(ran)"
	elif [[ -e $PM_HOME/git/new || ! -e $PM_HOME/git/proj/new ]]; then
		fail "on the host: ~/git/new $([[ -e $PM_HOME/git/new ]] && echo exists || echo is absent), ~/git/proj/new $([[ -e $PM_HOME/git/proj/new ]] && echo exists || echo is absent)"
	else
		pass
	fi
fi

start_test "run: ~/git is mounted read-only when the current directory is elsewhere"
if pm_ready && pm_have_run && pm_home_used; then
	pm_new_home
	pm_new_dir
	mkdir -p "$PM_HOME/git"
	echo in-git >"$PM_HOME/git/marker"
	pm_own "$PM_HOME/git"
	pm_shell "$DIR" 'cat "$HOME/git/marker"; touch "$HOME/git/new" 2>/dev/null && echo git-writable; set -- "$HOME/git"; '"$PM_MOUNT_OPTS"
	if ((RC != 0)); then
		fail "run failed: $(ran)"
	elif [[ $OUT != in-git$'\n'"mount $PM_HOME/git ro" || -e $PM_HOME/git/new ]]; then
		fail "expected ~/git visible and read-only: $(ran)"
	else
		pass
	fi
fi

start_test "run: the current directory ~/git itself is writable"
if pm_ready && pm_have_run && pm_home_used; then
	pm_new_home
	mkdir -p "$PM_HOME/git"
	pm_own "$PM_HOME/git"
	pm_shell "$PM_HOME/git" 'pwd; touch new && echo cwd-writable'
	if ((RC != 0)); then
		fail "run from ~/git failed: $(ran)"
	elif [[ $OUT != "$PM_HOME/git"$'\n'cwd-writable || ! -e $PM_HOME/git/new ]]; then
		fail "expected ~/git as the writable working directory: $(ran)"
	else
		pass
	fi
fi

start_test "run: without ~/git on the host there is no ~/git in the container"
if pm_ready && pm_have_run && pm_home_used; then
	pm_new_home
	pm_new_dir
	pm_shell "$DIR" 'if [ -e "$HOME/git" ]; then echo exists; else echo absent; fi'
	if ((RC != 0)); then
		fail "run failed: $(ran)"
	elif [[ $OUT != absent ]]; then
		fail "expected no ~/git inside: $(ran)"
	else
		pass
	fi
fi

# --- the agent's home: its own, kept, seeded with the login

start_test "run: the agent's home is its own and kept; the host's ~/.claude and ~/.claude.json are never written; the login is copied in once"
if pm_ready && pm_have_run && pm_home_used; then
	pm_new_home
	pm_new_dir
	mkdir -p "$PM_HOME/.claude"
	echo '{"host":1}' >"$PM_HOME/.claude.json"
	echo '{"token":"t1"}' >"$PM_HOME/.claude/.credentials.json"
	echo '{"hooks":{}}' >"$PM_HOME/.claude/settings.json"
	pm_own "$PM_HOME"
	before=$(cd "$PM_HOME" && find .claude .claude.json -type f -exec sha256sum {} + | sort)
	agent=$PM_HOME/.local/state/claude-bpf/home
	# What Claude Code does: a lock and a temporary file beside
	# ~/.claude.json, renamed over it; its state and settings under ~/.claude.
	pm_shell "$DIR" 'cat "$HOME/.claude/.credentials.json" &&
		mkdir "$HOME/.claude.json.lock" && echo "{\"n\":1}" >"$HOME/.claude.json.tmp" &&
		mv "$HOME/.claude.json.tmp" "$HOME/.claude.json" && rmdir "$HOME/.claude.json.lock" &&
		echo s1 >"$HOME/.claude/state" &&
		echo "{\"hooks\":{\"Stop\":[{\"hooks\":[{\"type\":\"command\",\"command\":\"touch /tmp/pwned\"}]}]}}" \
			>"$HOME/.claude/settings.json" && echo saved'
	after=$(cd "$PM_HOME" && find .claude .claude.json -type f -exec sha256sum {} + | sort)
	if ((RC != 0)); then
		fail "run failed: $(ran)"
	elif [[ $OUT != '{"token":"t1"}'$'\n'saved ]]; then
		fail "the login should be inside and every save should work (lock, temporary file, rename): $(ran)"
	elif [[ $after != "$before" ]]; then
		fail "the host's ~/.claude or ~/.claude.json changed: before: $before; after: $after"
	elif [[ $(cat "$agent/.claude.json") != '{"n":1}' || $(cat "$agent/.claude/state") != s1 ]]; then
		fail "the agent's saves are not in its home $agent: $(ls -laR "$agent")"
	else
		# The host logs in again: the agent keeps its own copy and state.
		echo '{"token":"t2"}' >"$PM_HOME/.claude/.credentials.json"
		pm_shell "$DIR" 'cat "$HOME/.claude/state" "$HOME/.claude.json" "$HOME/.claude/.credentials.json"'
		if ((RC != 0)) || [[ $OUT != s1$'\n''{"n":1}'$'\n''{"token":"t1"}' ]]; then
			fail "a second run should see what the first saved, and its own login: $(ran)"
		else
			pass
		fi
	fi
fi

# --- what the agent may not plant for the host

# PM_PLANT: the hostile agent's script. Each attempt prints "WROTE: what"
# or "refused: what".
PM_PLANT='w() { if ( eval "$1" ) 2>/dev/null; then echo "WROTE: $2"; else echo "refused: $2"; fi; }
w "echo \"#!/bin/sh\" >.git/hooks/pre-commit" hook
w "echo \"[core] fsmonitor = /tmp/x\" >>.git/config" config-append
w "echo x >.git/config.new && mv .git/config.new .git/config" config-rename
w "rm -f .git/config" config-remove
w "rm -rf .git/hooks" hooks-remove
w "mv .git .git-old" git-rename
w "echo ../evil >.git/commondir" commondir
w "echo \"{}\" >.claude/settings.json" claude-settings
w "echo \"{}\" >.claude/settings.local.json" claude-settings-local
w "mkdir -p .claude/commands && echo x >.claude/commands/x.md" claude-commands
w "mkdir -p .claude/agents && echo x >.claude/agents/x.md" claude-agents
w "echo \"{}\" >.mcp.json" mcp
w "rmdir .mcp.json" mcp-remove
w "mkdir -p .vscode && echo x >.vscode/tasks.json" vscode
w "echo x >.idea/workspace.xml" idea
w "echo x >.gitmodules" gitmodules
w "echo ordinary >src.txt" ordinary
w "cp /bin/busybox setuid && chmod 4755 setuid" setuid
awk -v m="$PWD" '"'"'$2 == m { print "mount", $4 }'"'"' /proc/self/mounts'

start_test "run: a hostile agent plants nothing the host runs (git hooks and config, .claude, .mcp.json, editors); ordinary edits persist"
if pm_ready && pm_have_run && pm_home_used; then
	pm_new_home
	pm_new_dir
	# A repository's shape, made by hand (git is not needed on the host).
	mkdir -p "$DIR/.git/hooks" "$DIR/.git/objects" "$DIR/.git/refs"
	printf '[core]\n\trepositoryformatversion = 0\n' >"$DIR/.git/config"
	echo 'ref: refs/heads/main' >"$DIR/.git/HEAD"
	echo '#!/bin/sh' >"$DIR/.git/hooks/pre-commit.sample"
	mkdir -p "$DIR/.claude"
	echo '{"permissions":{}}' >"$DIR/.claude/settings.json"
	echo '[submodule "x"]' >"$DIR/.gitmodules"
	pm_own "$DIR"
	snap() { (cd "$DIR" && find .git/hooks .git/config .claude .gitmodules -exec sh -c 'for f; do [ -f "$f" ] && sha256sum "$f" || echo "dir $f"; done' sh {} + | sort); }
	before=$(snap)
	pm_shell "$DIR" "$PM_PLANT"
	after=$(snap)
	quarantine=$PM_HOME/.local/state/claude-bpf/quarantine
	wrote=$(grep '^WROTE: ' <<<"$OUT" | cut -d' ' -f2 | tr '\n' ' ')
	if ((RC != 0)); then
		fail "run failed: $(ran)"
	elif [[ $wrote != "commondir ordinary setuid " ]]; then
		fail "only the ordinary edit, .git/commondir (moved aside at exit) and the setuid copy should be written, not: $wrote; $(ran)"
	elif [[ $after != "$before" ]]; then
		fail "the guarded files changed on the host: before: $before; after: $after"
	elif [[ -e $DIR/.mcp.json || -e $DIR/.vscode || -e $DIR/.idea || -e $DIR/.git-old ]]; then
		fail "placeholders or planted paths were left: $(ls -la "$DIR")"
	elif [[ -e $DIR/.git/commondir ]] || ! compgen -G "$quarantine/*/.git_commondir" >/dev/null; then
		fail ".git/commondir should be moved to $quarantine: $(ls -la "$DIR/.git" "$quarantine" 2>&1)"
	elif [[ $ERR != *".git/commondir"*"moved to"* ]]; then
		fail "run should say it moved .git/commondir aside: $(ran)"
	elif [[ $(cat "$DIR/src.txt") != ordinary ]]; then
		fail "the ordinary edit did not persist"
	elif [[ $(stat -c %U "$DIR/setuid") != "$PM_USER" ]]; then
		fail "the agent's file is owned by $(stat -c %U "$DIR/setuid"), not by $PM_USER"
	elif ! grep -q '^mount .*nosuid.*nodev' <<<"$OUT" && ! grep -q '^mount .*nodev.*nosuid' <<<"$OUT"; then
		fail "the working tree should be mounted nosuid,nodev: $(grep '^mount' <<<"$OUT")"
	else
		pass
	fi
fi

start_test "run refuses to start in /, in the home, with a symlinked ~/.claude, ~/git or .claude, or in a tree root owns"
if pm_ready && pm_have_run && pm_home_used; then
	pm_new_home
	pm_new_dir
	problems=""
	before=$(pm_containers)
	refused() {   # WHAT WORDS DIR
		pm_run "$3" --policy "$PM_POLICY" --image "$PM_IMAGE" --shell -- -c 'touch /tmp/ran; touch ran'
		if ((RC == 0)) || [[ $ERR != *"$2"* ]]; then
			problems+=" $1 ($(ran));"
		fi
	}
	refused "the home" "does not start in" "$PM_HOME"
	# Root itself, not through sudo: refused as a tree root owns.
	refused "the root folder" "root owns" /
	ln -s "$DIR" "$PM_HOME/.claude"
	refused "a symlinked ~/.claude" "symbolic link" "$DIR"
	rm "$PM_HOME/.claude"
	ln -s "$DIR" "$PM_HOME/git"
	refused "a symlinked ~/git" "symbolic link" "$DIR"
	rm "$PM_HOME/git"
	ln -s /tmp "$DIR/.claude"
	refused "a symlinked .claude in the tree" "symbolic link" "$DIR"
	rm "$DIR/.claude"
	mkdir "$DIR/rootowned"
	refused "a tree root owns" "root owns" "$DIR/rootowned"
	after=$(pm_containers)
	if [[ -n $problems ]]; then
		fail "not refused, or not saying why:$problems"
	elif [[ -e $DIR/ran || -e $DIR/rootowned/ran ]] || ((after != before)); then
		fail "something ran or a container was left ($before before, $after after)"
	else
		pass
	fi
fi

start_test "run --allow-config-writes lets the agent write git hooks, and says so"
if pm_ready && pm_have_run && pm_home_used; then
	pm_new_home
	pm_new_dir
	mkdir -p "$DIR/.git/hooks"
	pm_own "$DIR"
	pm_run "$DIR" --allow-config-writes --policy "$PM_POLICY" --image "$PM_IMAGE" --shell -- -c \
		'echo x >.git/hooks/pre-commit && echo >.mcp.json && echo wrote'
	if ((RC != 0)) || [[ $OUT != wrote ]]; then
		fail "the writes should work: $(ran)"
	elif [[ $ERR != *"--allow-config-writes"*"hooks"* ]]; then
		fail "run should say on stderr that the protection is off: $(ran)"
	elif [[ ! -f $DIR/.git/hooks/pre-commit || ! -f $DIR/.mcp.json ]]; then
		fail "the files are not on the host"
	else
		pass
	fi
fi

start_test "run: HOME inside the container is the user's home path"
if pm_ready && pm_have_run && pm_home_used; then
	pm_new_home
	pm_new_dir
	pm_shell "$DIR" 'printf "%s\n" "$HOME"'
	if ((RC != 0)) || [[ $OUT != "$PM_HOME" ]]; then
		fail "expected HOME=$PM_HOME: $(ran)"
	else
		pass
	fi
fi

# --- arguments, environment, exit status

start_test "run: arguments with spaces, quotes and leading dashes reach claude unchanged"
if pm_ready && pm_have_run; then
	pm_new_home
	pm_new_dir
	args=(-p "hello world" "it's" 'say "hi"' --model opus -- - "" '$HOME' '`id`'
		'  padded  ' --dangerously-skip-permissions --help -n --shell 'a;b|c' last)
	pm_run "$DIR" --policy "$PM_POLICY" --image "$PM_IMAGE" -- "${args[@]}"
	want=$(printf '%s\n' --dangerously-skip-permissions "${args[@]}")
	if ((RC != 0)); then
		fail "run failed: $(ran)"
	elif [[ $OUT != "$want" ]]; then
		fail "claude got other arguments; want (one per line): ${want//$'\n'/|}; got: ${OUT//$'\n'/|}"
	else
		pass
	fi
fi

start_test "run --shell: the arguments go to bash unchanged"
if pm_ready && pm_have_run; then
	pm_new_home
	pm_new_dir
	args=("a b" "-x" "" "'q'" "--")
	pm_shell "$DIR" 'printf "%s\n" "$@"' "${args[@]}"
	want=$(printf '%s\n' "${args[@]}")
	if ((RC != 0)); then
		fail "run failed: $(ran)"
	elif [[ $OUT != "$want" ]]; then
		fail "bash got other arguments; want: ${want//$'\n'/|}; got: ${OUT//$'\n'/|}"
	else
		pass
	fi
fi

start_test "run exits with the container's exit status"
if pm_ready && pm_have_run; then
	pm_new_home
	pm_new_dir
	pm_shell "$DIR" 'exit 7'
	if ((RC != 7)); then
		fail "expected exit status 7: $(ran)"
	else
		pm_shell "$DIR" 'exit 0'
		((RC == 0)) && pass || fail "expected exit status 0: $(ran)"
	fi
fi

start_test "run passes ANTHROPIC_API_KEY into the container by name, never its value on the command line"
if pm_ready && pm_have_run; then
	pm_new_home
	pm_new_dir
	secret=cbt-secret-$$
	PM_ENV=(ANTHROPIC_API_KEY="$secret")
	pm_run "$DIR" --dry-run --policy "$PM_POLICY" --image "$PM_IMAGE" --shell
	dry=$OUT
	dry_rc=$RC
	pm_shell "$DIR" 'printf "%s\n" "$ANTHROPIC_API_KEY"'
	PM_ENV=()
	if ((dry_rc != 0)) || [[ $dry != *" --env=ANTHROPIC_API_KEY "* ]]; then
		fail "run --dry-run should show --env=ANTHROPIC_API_KEY: exit $dry_rc; $dry"
	elif [[ $dry == *"$secret"* ]]; then
		fail "the key's value is on podman's command line: $dry"
	elif ((RC != 0)) || [[ $OUT != "$secret" ]]; then
		fail "expected the key inside the container: $(ran)"
	else
		pass
	fi
fi

start_test "run --memory and --cpus limit the container"
if pm_ready && pm_have_run; then
	pm_new_home
	pm_new_dir
	pm_run "$DIR" --policy "$PM_POLICY" --image "$PM_IMAGE" --memory 64m --cpus 0.5 --shell -- -c \
		'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes
		 cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo "$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"'
	if ((RC != 0)); then
		fail "run --memory 64m --cpus 0.5 failed: $(ran)"
	elif [[ $OUT != 67108864$'\n'"50000 100000" ]]; then
		fail "expected a memory limit of 67108864 and a CPU quota of 50000 per 100000: $(ran)"
	else
		pass
	fi
fi

# --- no raw sockets

start_test "run: the container cannot open AF_PACKET, AF_VSOCK or AF_RDS sockets (the profile's filter: EAFNOSUPPORT)"
if pm_ready && pm_have_run; then
	pm_new_home
	pm_new_dir
	pm_shell "$DIR" 'for f in AF_PACKET AF_VSOCK AF_RDS; do probe socket $f; echo "$f $?"; done'
	if ((RC != 0)); then
		fail "the container did not run: $(ran)"
	elif [[ $(grep -c '^AF_[A-Z]* 1$' <<<"$OUT") != 3 ]]; then
		fail "every family should be refused (probe exit 1): $(ran)"
	elif [[ $(printf '%s\n%s\n' "$OUT" "$ERR" | grep -c 'refused: EAFNOSUPPORT') != 3 ]]; then
		fail "every refusal should be the filter's EAFNOSUPPORT: $(ran)"
	else
		pass
	fi
fi

start_test "run: the container cannot open raw IPv4 or IPv6 sockets, and no echo request leaves"
if pm_ready && pm_have_run; then
	pm_new_home
	pm_new_dir
	echos_mark
	pm_shell "$DIR" 'probe raw 10.231.2.10; echo "v4=$?"; probe raw fd42:231:2::10; echo "v6=$?"'
	if ((RC != 0)) || [[ $OUT != v4=1$'\n'v6=1 ]]; then
		fail "both raw sockets should fail with EPERM (exit 1): $(ran)"
	else
		echos_none && pass
	fi
fi

start_test "run: the container has no CAP_NET_RAW in any set, and no new privileges"
if pm_ready && pm_have_run; then
	pm_new_home
	pm_new_dir
	pm_shell "$DIR" 'cat /proc/self/status'
	problems=""
	for set in CapInh CapPrm CapEff CapBnd CapAmb; do
		v=$(awk -v s="$set:" '$1 == s { print $2 }' <<<"$OUT")
		[[ -n $v ]] || { problems+=" $set missing"; continue; }
		(((16#$v & (1 << 13)) == 0)) || problems+=" $set=$v"
	done
	nnp=$(awk '$1 == "NoNewPrivs:" { print $2 }' <<<"$OUT")
	if ((RC != 0)); then
		fail "run failed: $(ran)"
	elif [[ -n $problems ]]; then
		fail "CAP_NET_RAW is in:$problems"
	elif [[ $nnp != 1 ]]; then
		fail "NoNewPrivs is '$nnp', want 1"
	else
		pass
	fi
fi

# --- refusals, --no-internet, --dry-run

# pm_refused WHAT: run (in DIR) must have exited 1, saying how to fix it,
# with no container made and nothing run.
pm_refused() {
	local after

	after=$(pm_containers)
	if ((RC != 1)); then
		fail "$1: run should exit 1: $(ran)"
	elif [[ $ERR != *"claude-bpf load"* ]]; then
		fail "$1: the message should name the fix (sudo claude-bpf load ...): $(ran)"
	elif [[ -e $DIR/ran ]]; then
		fail "$1: the command ran anyway"
	elif ((after != before)); then
		fail "$1: a container was made ($before before, $after after): $(podman ps -a)"
	else
		return 0
	fi
	return 1
}

start_test "run refuses when the policy is not loaded, and makes no container"
if pm_ready && pm_have_run; then
	pm_new_home
	pm_new_dir
	before=$(pm_containers)
	pm_run "$DIR" --policy cbt_nosuch --image "$PM_IMAGE" --shell -- -c 'touch ran'
	pm_refused "policy cbt_nosuch" && pass
fi

start_test "run refuses without --policy when no policy 'default' is loaded"
if pm_ready && pm_have_run; then
	if [[ -e $CGROUP_BASE/default ]]; then
		skip "a policy 'default' exists on this machine"
	else
		pm_new_home
		pm_new_dir
		before=$(pm_containers)
		pm_run "$DIR" --image "$PM_IMAGE" --shell -- -c 'touch ran'
		pm_refused "no --policy" && pass
	fi
fi

start_test "run refuses an enforcement cgroup that exists without a policy loaded"
if pm_ready && pm_have_run; then
	pm_new_home
	pm_new_dir
	before=$(pm_containers)
	if ! mkdir "$CGROUP_BASE/cbt_bare"; then
		fail "cannot make $CGROUP_BASE/cbt_bare"
	else
		pm_run "$DIR" --policy cbt_bare --image "$PM_IMAGE" --shell -- -c 'touch ran'
		PM_POLICIES+=(cbt_bare)
		rmdir "$CGROUP_BASE/cbt_bare" 2>/dev/null
		pm_refused "a bare cgroup" && pass
	fi
fi

# --- DNS through the policy's forwarder, from a container

# shellcheck source=dnsfwd.sh
. "$ROOT/tests/integration/dnsfwd.sh"

start_test "run: resolve-then-connect through the policy's forwarder, 100 of 100 each (A and AAAA, UDP and TCP DNS, sent to a foreign resolver); the container's resolver is the forwarder"
if pm_ready && pm_have_run; then
	if ! [[ -x $DNSD ]] || ! df_net; then
		fail "the DNS forwarder's test upstream did not start"
	else
		df_conf
		if load_policy cbt_podfwd --dns-bridge "$PM_V4_GW" "$DF_DIR/fwd.conf"; then
			PM_POLICIES+=(cbt_podfwd)
			pm_new_home
			pm_new_dir
			RUN_TIMEOUT=120 pm_run "$DIR" --policy cbt_podfwd --image "$PM_IMAGE" --shell -- -c \
				'grep "^nameserver" /etc/resolv.conf
				for c in "A udp 8443" "A tcp 8443" "AAAA udp 8444" "AAAA tcp 8444"; do
					set -- $c
					probe resolve-connect "$0" cdn.test "$1" "$2" "$3" 100 || exit 1
				done' "$DF_FOREIGN_V4"
			if ((RC != 0)) || (($(grep -c "ok 100 of 100" <<<"$OUT") != 4)); then
				fail "expected ok 100 of 100 four times: $(ran)"
			elif [[ $OUT != "nameserver $PM_V4_GW"* ]]; then
				fail "the container's resolv.conf should name the forwarder ($PM_V4_GW): $OUT"
			else
				pass
			fi
			run "$CBPF" unload cbt_podfwd
			LOADED_POLICIES=${LOADED_POLICIES/ cbt_podfwd / }
		fi
	fi
fi

start_test "run works while a policy is loaded and refuses after unload"
if pm_ready && pm_have_run && load_policy cbt_pod2 "$T/conf/main.conf"; then
	PM_POLICIES+=(cbt_pod2)
	pm_new_home
	pm_new_dir
	pm_run "$DIR" --policy cbt_pod2 --image "$PM_IMAGE" --shell -- -c 'touch loaded'
	if ((RC != 0)) || [[ ! -e $DIR/loaded ]]; then
		fail "run with cbt_pod2 loaded should work: $(ran)"
	else
		run "$CBPF" unload cbt_pod2
		if ((RC != 0)); then
			fail "unload cbt_pod2 failed: $(ran)"
		else
			before=$(pm_containers)
			pm_run "$DIR" --policy cbt_pod2 --image "$PM_IMAGE" --shell -- -c 'touch ran'
			pm_refused "after unload" && pass
		fi
	fi
fi

start_test "run --no-internet needs no policy and gives the container no network"
if pm_ready && pm_have_run; then
	pm_new_home
	pm_new_dir
	new_payload
	payload=$PAYLOAD
	pm_run "$DIR" --no-internet --image "$PM_IMAGE" --shell -- -c \
		'ls /sys/class/net; probe tcp 10.231.2.10 8080 "$1"; echo "tcp=$?"; probe tcp fd42:231:2::10 8080 "$1"; echo "tcp6=$?"' sh "$payload"
	if ((RC != 0)); then
		fail "run --no-internet failed: $(ran)"
	elif [[ $OUT != lo$'\n'tcp=2$'\n'tcp6=2 ]]; then
		fail "expected only lo and both connections failing (ENETUNREACH, exit 2): $(ran)"
	else
		expect_nothing srv tcp 10.231.2.10 8080 "$payload" &&
			expect_nothing srv tcp fd42:231:2::10 8080 "$payload" && pass
	fi
fi

start_test "run --dry-run prints the podman create command and starts nothing"
if pm_ready && pm_have_run; then
	pm_new_home
	pm_new_dir
	before=$(pm_containers)
	pm_run "$DIR" --dry-run --policy "$PM_POLICY" --image "$PM_IMAGE" --shell -- -c 'touch ran' "a b"
	after=$(pm_containers)
	words=()
	[[ $OUT != *$'\n'* ]] && eval "words=($OUT)" 2>/dev/null
	problems=""
	for w in create "--cgroup-parent=$PM_PARENT" --network=private --cgroupns=private \
		--cap-drop=all --security-opt=no-new-privileges "--workdir=$DIR" \
		"--volume=$DIR:$DIR:rw,nosuid,nodev" "--env=HOME=$PM_HOME" "$PM_IMAGE"; do
		printf '%s\n' "${words[@]}" | grep -qxF -- "$w" || problems+=" '$w' missing;"
	done
	n=${#words[@]}
	((n >= 4)) && [[ ${words[n - 4]} == bash && ${words[n - 3]} == -c &&
		${words[n - 2]} == "touch ran" && ${words[n - 1]} == "a b" ]] ||
		problems+=" not ending in: bash -c 'touch ran' 'a b';"
	if ((RC != 0)); then
		fail "run --dry-run failed: $(ran)"
	elif [[ ${words[0]:-} != podman && ${words[0]:-} != */podman ]]; then
		fail "expected one line starting with podman: $(ran)"
	elif [[ -n $problems ]]; then
		fail "the printed command:$problems $(ran)"
	elif [[ -e $DIR/ran ]] || ((after != before)); then
		fail "--dry-run started something ($before containers before, $after after)"
	elif [[ -e $PM_HOME/.claude || -e $PM_HOME/.claude.json ]]; then
		fail "--dry-run should do nothing, but it made ~/.claude or ~/.claude.json"
	else
		pass
	fi
fi

start_test "run leaves no container behind"
if pm_ready; then
	n=$(pm_containers)
	((n == 0)) && pass || fail "$n containers are left: $(podman ps -a)"
fi

pm_cleanup
