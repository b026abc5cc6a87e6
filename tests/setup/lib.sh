# shellcheck shell=bash
# Harness for the tests of the machine as a user sets it up (the image, the
# Debian package, the README's set-up): ok/FAIL verdicts, and for the last
# two a fresh machine: a minimal Debian root made with
# debootstrap (kept as a tarball in $BUILD/fresh, made once a day), unpacked
# afresh for each test into a folder of its own, and commands run in it
# through chroot, in private mount and PID namespaces (so whatever the root
# mounts or starts ends with it). The host's /sys (cgroups, bpffs) and /dev
# are bound in: claude-bpf in the root enforces with the running kernel, as
# on a real machine. The network is the host's (apt reaches the mirror the
# host uses, with the host's apt configuration and extra CA certificates: a
# fresh machine of this kind has them too).

BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FRESH_DIR=${FRESH_DIR:-$ROOT/$BUILD/fresh}
FRESH_SUITE=${FRESH_SUITE:-bookworm}
CI=${CI:-false}

N_PASS=0
N_FAIL=0
T=""                    # this run's temporary folder
NETNS=""                # the selftest target's namespace, when made

ok() { N_PASS=$((N_PASS + 1)); printf 'ok    %s\n' "$1"; }
fail() {
	N_FAIL=$((N_FAIL + 1))
	printf 'FAIL  %s\n' "$1"
	shift
	(($# > 0)) && printf '%s\n' "$@" | sed 's/^/      /'
	return 0
}
# A test that cannot run here says why; on CI that is a failure.
skip_all() {
	if [[ $CI == true ]]; then
		fail "$1" "cannot run (CI=true): $2"
	else
		printf 'skip  %s: %s\n' "$1" "$2"
	fi
	finish
}
finish() {
	printf '%s passed, %s failed\n' "$N_PASS" "$N_FAIL"
	((N_FAIL == 0))
	exit
}

# The version this tree builds (debian/changelog's, which the Makefile
# compiles into the binary).
built_version() {
	"$ROOT/$BUILD/claude-bpf" --version | cut -d' ' -f2
}

fresh_cleanup() {
	if [[ -n $NETNS ]]; then
		ip link del "cbs-h-$$" 2>/dev/null
		ip netns del "$NETNS" 2>/dev/null
	fi
	[[ -n $T ]] && rm -rf --one-file-system "$T"
}

# fresh_preconditions NAME: root, debootstrap, unshare; skips otherwise.
fresh_preconditions() {
	[[ $(id -u) == 0 ]] || skip_all "$1" "needs root (debootstrap, chroot, bpf())"
	local c
	for c in debootstrap unshare chroot ip; do
		command -v "$c" >/dev/null || skip_all "$1" "no $c (./setup deps test installs it)"
	done
	T=$(mktemp -d "/var/tmp/cbt-fresh.XXXXXX")
	# apt in the root drops to the user _apt, which must reach it.
	chmod 755 "$T"
	trap fresh_cleanup EXIT
}

# fresh_tarball: $FRESH_DIR/SUITE.tar, a minbase root; made when missing or
# older than a day. Prints its path.
fresh_tarball() {
	local tar=$FRESH_DIR/$FRESH_SUITE.tar d mirror
	if [[ -z $(find "$tar" -mtime -1 2>/dev/null) ]]; then
		mkdir -p "$FRESH_DIR"
		d=$(mktemp -d "$FRESH_DIR/root.XXXXXX")
		mirror=$("$ROOT/image/build" --print-mirror)
		if ! debootstrap --variant=minbase "$FRESH_SUITE" "$d" "$mirror" >"$FRESH_DIR/debootstrap.log" 2>&1; then
			tail -n 20 "$FRESH_DIR/debootstrap.log" >&2
			rm -rf --one-file-system "$d"
			return 1
		fi
		rm -rf "$d"/var/cache/apt/archives/*.deb "$d"/var/lib/apt/lists/*
		tar --numeric-owner -C "$d" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
		rm -rf --one-file-system "$d"
	fi
	echo "$tar"
}

# fresh_root DIR: a new minimal root at DIR, with this machine's apt
# sources and configuration, resolver and extra CA certificates.
fresh_root() {
	local dir=$1 tar f
	tar=$(fresh_tarball) || return 1
	mkdir -p "$dir"
	tar --numeric-owner -C "$dir" -xf "$tar"
	# / of a machine, not the private folder debootstrap was given.
	chmod 755 "$dir"
	rm -f "$dir/etc/apt/sources.list"
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		# The host's mirrors, for the root's own release.
		sed "s/\b$(. /etc/os-release && echo "$VERSION_CODENAME")\b/$FRESH_SUITE/g" "$f" >"$dir$f"
	done
	# This machine's own apt settings, not those a package ships (dpkg in
	# the root would ask about a changed conffile).
	for f in /etc/apt/apt.conf.d/*; do
		dpkg -S "$f" >/dev/null 2>&1 || cp "$f" "$dir/etc/apt/apt.conf.d/"
	done
	cp -L /etc/resolv.conf "$dir/etc/resolv.conf"
	if [[ -d /usr/local/share/ca-certificates ]]; then
		mkdir -p "$dir/usr/local/share/ca-certificates"
		cp -rL /usr/local/share/ca-certificates/. "$dir/usr/local/share/ca-certificates/"
	fi
	# A real machine's /tmp and /run are its own.
	mkdir -p "$dir/run" "$dir/tmp"
}

# in_root DIR CMD...: CMD in DIR as root, through chroot, with /proc of its
# own PID namespace, the host's /sys and /dev, and a fresh /run and /tmp;
# everything it mounts or starts ends when it returns. Only a plain PATH
# and TERM pass in.
in_root() {
	local dir=$1
	shift
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare --mount --pid --fork --propagation private -- /bin/bash -c '
		set -e
		d=$1; shift
		# The root is a mount of its own, as / is on a machine (podman
		# remounts it private when it unpacks a layer).
		mount --bind "$d" "$d"
		mount -t proc proc "$d/proc"
		mount --rbind /sys "$d/sys"
		mount --rbind /dev "$d/dev"
		mount -t tmpfs -o mode=0755 tmpfs "$d/run"
		mkdir -p "$d/run/lock"
		mount -t tmpfs -o mode=1777 tmpfs "$d/tmp"
		exec chroot "$d" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
	' in_root "$dir" "$@"
}

# target_ns: a namespace host that denied traffic may be aimed at (the
# selftest of run): 10.231.9.2 and fd42:231:9::2 behind a veth; nothing is
# listening, and nothing goes past it.
target_ns() {
	NETNS=cbs-tgt-$$
	ip netns add "$NETNS" &&
		ip link add "cbs-h-$$" type veth peer name eth0 netns "$NETNS" &&
		ip addr add 10.231.9.1/24 dev "cbs-h-$$" &&
		ip -6 addr add fd42:231:9::1/64 dev "cbs-h-$$" nodad &&
		ip link set "cbs-h-$$" up &&
		ip -n "$NETNS" addr add 10.231.9.2/24 dev eth0 &&
		ip -n "$NETNS" -6 addr add fd42:231:9::2/64 dev eth0 nodad &&
		ip -n "$NETNS" link set eth0 up &&
		ip -n "$NETNS" link set lo up
}
