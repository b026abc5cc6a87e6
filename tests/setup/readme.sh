#!/bin/bash
# The README's first set-up command on a fresh minimal Debian 12 root
# (debootstrap --variant=minbase: apt and nothing else), as written, as
# root. The command is stopped before it loads the shipped allowlist (its
# hostnames need DNS, which CI lacks: SETUP_STOP_BEFORE=load); a test
# allowlist is loaded instead, and `claude-bpf run` in that root must print
# Claude Code's version. The base of the agent's image is taken from this
# machine's podman when it has it (make test-image makes it), so that the
# image is built afresh on it without another debootstrap.
#   tests/setup/readme.sh        (root; make test-setup)
# Prints ok/FAIL lines and "N passed, N failed".
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

NAME="README set-up on a fresh Debian root"
BASE_LOCAL=localhost/claude-sandbox-base:trixie
POLICY=cbt_setup
fresh_preconditions "$NAME"
command -v podman >/dev/null || skip_all "$NAME" "no podman on the host (./setup deps installs it)"

# The first two commands of the README's first screen.
mapfile -t cmds < <(sed -n '/^## /q; s/^    \(\.\/setup.*\)$/\1/p' "$ROOT/README.md")
if ((${#cmds[@]} != 2)); then
	fail "the README's first screen has two set-up commands" "found ${#cmds[@]}: ${cmds[*]}"
	finish
fi
ok "the README's first screen has two set-up commands: '${cmds[0]}', '${cmds[1]}'"
want=$(sed -n 's/^ARG CLAUDE_CODE_VERSION=//p' "$ROOT/Containerfile")

t0=$SECONDS
R=$T/root
if ! fresh_root "$R"; then
	fail "a fresh $FRESH_SUITE root" "debootstrap failed (log: $FRESH_DIR/debootstrap.log)"
	finish
fi
# One look inside: the commands of those it has.
# shellcheck disable=SC2016
have=$(in_root "$R" sh -c 'for c in make cc clang git sudo podman; do command -v $c; done')
if [[ -z $have ]]; then
	ok "a fresh $FRESH_SUITE minbase root, without make, a compiler, git, sudo or podman ($((SECONDS - t0)) s)"
else
	fail "a fresh $FRESH_SUITE minbase root, without make, a compiler, git, sudo or podman" "it has: $have"
fi

mkdir -p "$R/srv/claude-bpf"
tar -C "$ROOT" --exclude=./.git --exclude='./build*' -c . | tar -C "$R/srv/claude-bpf" -x
if podman image exists "$BASE_LOCAL"; then
	# Loaded by this machine's podman into the root's storage; its own
	# state (libpod/), which names paths outside the root, is dropped.
	# defaultNetworkBackend (netavark) stays: podman 4 takes a storage that
	# already holds images for an old one, and would choose CNI, whose
	# plugins Debian's podman does not pull in.
	mkdir -p "$R/var/lib/containers/storage"
	if podman save -q -o "$T/base.tar" "$BASE_LOCAL" &&
		podman --root "$R/var/lib/containers/storage" --runroot "$T/runroot" load -q -i "$T/base.tar" >/dev/null 2>&1 &&
		rm -rf "$R/var/lib/containers/storage/libpod"; then
		ok "the image's base $BASE_LOCAL is taken from this machine"
	else
		fail "the image's base $BASE_LOCAL is taken from this machine"
	fi
	rm -f "$T/base.tar"
fi

t1=$SECONDS
out=$(in_root "$R" /bin/bash -c 'cd /srv/claude-bpf && SETUP_STOP_BEFORE=load '"${cmds[0]}" 2>&1)
rc=$?
printf "%s\n" "$out" >"$FRESH_DIR/setup.log"
if ((rc == 0)); then
	ok "'${cmds[0]}' installs, builds and makes the image, up to the load ($((SECONDS - t1)) s)"
else
	fail "'${cmds[0]}' installs, builds and makes the image, up to the load (exit $rc, $((SECONDS - t1)) s)" \
		"$(printf '%s\n' "$out" | tail -n 30)"
	finish
fi

# As a user would go on: the installed claude-bpf, a policy from a file, and
# the agent's version from the sandbox. The selftest of run aims at a
# namespace host made here (nothing listens there; the policy denies it).
target_ns || { fail "the selftest's target namespace"; finish; }
cat >"$R/root/run.sh" <<'EOF'
set -e
policy=$1
printf "# a test allowlist: no hostnames (no DNS here)\n10.231.9.3:443\n[fd42:231:9::3]:443\n" \
	>/etc/claude-bpf/test.conf
claude-bpf --version
claude-bpf load --name "$policy" --no-refresh /etc/claude-bpf/test.conf
# Root runs the agent as the owner of the folder, never as root.
useradd -m agent
mkdir -p /home/agent/work && chown agent: /home/agent/work && cd /home/agent/work
rc=0
claude-bpf run --policy "$policy" --selftest-target 10.231.9.2 --selftest-target fd42:231:9::2 \
	--shell -- -c "claude --version" || rc=$?
claude-bpf unload --force "$policy"
exit $rc
EOF
out=$(in_root "$R" /bin/bash /root/run.sh "$POLICY" 2>&1)
rc=$?
if ((rc == 0)) && [[ $out == *"claude-bpf $(built_version) "* ]] &&
	grep -q "^$want" <<<"$out"; then
	ok "claude-bpf run --shell -- -c 'claude --version' prints $want ($((SECONDS - t0)) s from a fresh root)"
else
	fail "claude-bpf run --shell -- -c 'claude --version' prints $want" "exit $rc:" "$out"
fi
# The same command from a user with sudo runs itself again through sudo
# (only its package step here: the rest is the same as root's).
out=$(in_root "$R" /bin/bash -c '
	set -e
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends sudo >/dev/null
	useradd -m dev
	echo "dev ALL=(ALL) NOPASSWD: ALL" >/etc/sudoers.d/dev
	cd /srv/claude-bpf
	SETUP_STOP_BEFORE=load runuser -u dev -- '"${cmds[0]}"' deps' 2>&1)
rc=$?
if ((rc == 0)) && grep -q '^==> apt-get install' <<<"$out"; then
	ok "'${cmds[0]} deps' as a user with sudo runs itself through sudo"
else
	fail "'${cmds[0]} deps' as a user with sudo runs itself through sudo" "exit $rc:" "$out"
fi
# Whatever failed above, nothing of the test's policy stays loaded.
if [[ -d /sys/fs/cgroup/unified/claude-bpf/$POLICY || -d /sys/fs/cgroup/claude-bpf/$POLICY ]]; then
	"$ROOT/$BUILD/claude-bpf" unload --force "$POLICY" >/dev/null 2>&1
	fail "the test's policy was unloaded in the root"
fi
finish
