#!/usr/bin/env bash
# Builds the real agent image from scratch and checks it (root, real podman,
# Debian's package mirror and the npm registry reachable):
#
#   tests/setup/image.sh       (root; make test-image)
#
# `make image BASE=debootstrap` on a base made now with debootstrap and
# without podman's layer cache, so nothing cached can hide a broken build;
# then Claude Code runs in the image, as root and as an arbitrary uid.
# Takes a few minutes (about 3.5 on the CI machine).
#
# Environment: IMAGE (default claude-sandbox:latest), BASE_LOCAL (default
# localhost/claude-sandbox-base:trixie), CONTAINERS_CONF (default the repo's
# podman/containers.conf, which the CI machine needs: runc, no ulimits).
# Prints ok/FAIL lines and "N passed, N failed"; exits non-zero on a failure.
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

IMAGE=${IMAGE:-claude-sandbox:latest}
BASE_LOCAL=${BASE_LOCAL:-localhost/claude-sandbox-base:trixie}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/podman/containers.conf}

TMP=$(mktemp -d /tmp/cbt-image.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# The version the Containerfile pins.
want=$(sed -n 's/^ARG CLAUDE_CODE_VERSION=//p' "$ROOT/Containerfile")

if [[ $(id -u) != 0 ]]; then
	fail "image build" "not root: debootstrap and rootful podman need root"
	finish
fi
for cmd in podman debootstrap make; do
	command -v "$cmd" >/dev/null || { fail "image build" "$cmd is missing (make deps installs it)"; finish; }
done
if [[ -z $want ]]; then
	fail "Containerfile pins a Claude Code version" "no 'ARG CLAUDE_CODE_VERSION=' line"
	finish
fi

# From scratch: the image goes first, so that a failed build cannot leave an
# old one to be checked; REBUILD_BASE=1 remakes the base with debootstrap, and
# NO_CACHE=1 keeps podman from reusing any layer.
podman rmi --ignore "$IMAGE" >/dev/null 2>&1
if podman image exists "$IMAGE"; then
	fail "image build from scratch" "could not remove the old $IMAGE (a container still uses it?)"
	finish
fi

start=$SECONDS
if make -C "$ROOT" --no-print-directory image BASE=debootstrap REBUILD_BASE=1 NO_CACHE=1 \
	IMAGE="$IMAGE" BASE_LOCAL="$BASE_LOCAL"; then
	ok "make image BASE=debootstrap from scratch ($((SECONDS - start)) s)"
else
	fail "make image BASE=debootstrap from scratch ($((SECONDS - start)) s)"
	finish
fi

if podman image exists "$IMAGE"; then
	ok "image $IMAGE exists"
else
	fail "image $IMAGE exists"
	finish
fi

label=$(podman image inspect --format '{{index .Labels "io.claude-bpf.claude-code.version"}}' "$IMAGE" 2>&1)
if [[ $label == "$want" ]]; then
	ok "image label gives Claude Code $want"
else
	fail "image label gives Claude Code $want" "label: $label"
fi

out=$(podman run --rm --security-opt label=disable "$IMAGE" claude --version 2>&1)
if [[ $out == "$want"* ]]; then
	ok "claude --version in the image: $out"
else
	fail "claude --version in the image" "expected $want, got:" "$out"
fi

# As claude-bpf run starts it: some uid that has no home in the image, HOME a
# mounted directory.
home=$TMP/home
mkdir -p "$home" && chown 4242:4242 "$home"
out=$(podman run --rm --security-opt label=disable --user 4242:4242 -e HOME="$home" \
	-v "$home:$home" -w "$home" "$IMAGE" claude --version 2>&1)
if [[ $out == "$want"* ]]; then
	ok "claude --version as uid 4242 with a mounted HOME"
else
	fail "claude --version as uid 4242 with a mounted HOME" "$out"
fi

tools="bash git curl node npm rg jq python3 make less ps ssh patch diff find file xz unzip"
out=$(podman run --rm --security-opt label=disable "$IMAGE" bash -c \
	'missing=; for t in '"$tools"'; do command -v "$t" >/dev/null || missing+=" $t"; done; echo "${missing:-none}"' 2>&1)
if [[ $out == none ]]; then
	ok "the agent's tools are installed"
else
	fail "the agent's tools are installed" "missing: $out"
fi

# The host's extra CA certificates are in the image's system bundle (what
# apt, curl, git, npm and, through NODE_EXTRA_CA_CERTS, Claude Code trust).
shopt -s nullglob globstar
certs=(/usr/local/share/ca-certificates/**/*.crt)
if ((${#certs[@]} == 0)); then
	ok "extra CA certificates: the host has none"
else
	missing=()
	for c in "${certs[@]}"; do
		# The first line of the certificate's base64 body identifies it well enough.
		body=$(tr -d '\r' < "$c" | grep -m1 -v -e '^-----' -e '^[[:space:]]*$')
		if ! podman run --rm --security-opt label=disable "$IMAGE" \
			grep -qxF -- "$body" /etc/ssl/certs/ca-certificates.crt; then
			missing+=("$c")
		fi
	done
	if ((${#missing[@]} == 0)); then
		ok "the host's ${#certs[@]} extra CA certificate(s) are trusted in the image"
	else
		fail "the host's extra CA certificates are trusted in the image" "not in the bundle: ${missing[*]}"
	fi
fi
env_ca=$(podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE" |
	sed -n 's/^NODE_EXTRA_CA_CERTS=//p')
if [[ $env_ca == /etc/ssl/certs/ca-certificates.crt ]]; then
	ok "NODE_EXTRA_CA_CERTS points Claude Code at the system bundle"
else
	fail "NODE_EXTRA_CA_CERTS points Claude Code at the system bundle" "NODE_EXTRA_CA_CERTS=$env_ca"
fi

# The agent's own binary under enforcement: claude-bpf run with a policy
# that denies everything (claude --version needs no network). Root runs it
# in a tree a user owns: the agent runs as that user, never as root.
CBPF=${CBPF:-$ROOT/$BUILD/claude-bpf}
AGENT=cbt-image-agent
if [[ ! -x $CBPF ]]; then
	fail "claude --version inside claude-bpf run" "$CBPF is not built (make)"
elif ! { userdel "$AGENT" 2>/dev/null; useradd --system --no-create-home \
	--home-dir "$TMP/run-home" --shell /usr/sbin/nologin "$AGENT"; }; then
	fail "claude --version inside claude-bpf run" "useradd $AGENT failed"
else
	trap 'userdel "$AGENT" 2>/dev/null; rm -rf "$TMP"' EXIT
	mkdir -p "$TMP/run-home" "$TMP/run-work"
	chown "$AGENT:" "$TMP/run-home" "$TMP/run-work"
	chmod 755 "$TMP"
	if ! out=$("$CBPF" load --name cbt_image --none 2>&1); then
		fail "claude --version inside claude-bpf run" "load failed: $out"
	else
		out=$(cd "$TMP/run-work" && "$CBPF" run --policy cbt_image \
			--image "$IMAGE" -- --version 2>&1)
		rc=$?
		if ((rc == 0)) && [[ $out == "$want"* ]]; then
			ok "claude --version inside claude-bpf run: $out"
		else
			fail "claude --version inside claude-bpf run" "exit $rc: $out"
		fi
		# git in the guarded tree: add, commit, branch and checkout work;
		# the hooks and config stay read-only.
		repo=$TMP/run-work/repo
		git init -q "$repo" && echo one >"$repo/a" && chown -R "$AGENT:" "$repo"
		out=$(cd "$repo" && "$CBPF" run --policy cbt_image --image "$IMAGE" --shell -- -c '
			set -e
			export GIT_AUTHOR_NAME=a GIT_AUTHOR_EMAIL=a@example.invalid
			export GIT_COMMITTER_NAME=a GIT_COMMITTER_EMAIL=a@example.invalid
			git add a && git commit -q -m one
			git branch side && git checkout -q side
			echo two >b && git add b && git commit -q -m two
			git checkout -q -
			if echo x >.git/hooks/pre-commit 2>/dev/null; then echo HOOK-WRITTEN; fi
			if git config core.fsmonitor /tmp/x 2>/dev/null; then echo CONFIG-WRITTEN; fi
			echo done' 2>&1)
		rc=$?
		log=$(git -c safe.directory="*" -C "$repo" log --oneline --all 2>&1 | wc -l)
		if ((rc == 0)) && [[ $out == *done && $out != *WRITTEN* ]] && ((log == 2)) &&
			[[ ! -e $repo/.git/hooks/pre-commit ]] &&
			! git -c safe.directory="*" -C "$repo" config core.fsmonitor >/dev/null; then
			ok "git add, commit, branch and checkout inside claude-bpf run; hooks and config read-only"
		else
			fail "git add, commit, branch and checkout inside claude-bpf run; hooks and config read-only" \
				"exit $rc, $log commits: $out"
		fi
		"$CBPF" unload --force cbt_image >/dev/null 2>&1 ||
			fail "unload the image test's policy"
	fi
fi
finish
